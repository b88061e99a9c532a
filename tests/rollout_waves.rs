//! Progressive rollouts, first slice, through the real `deployer` binary on `tests/fixtures/rollout/repo`:
//! three waves (`canary`: every staging hub and the alpha cluster; `early`: the prod hubs on aws; `rest`),
//! `basehub` rolled. A chart change plans the first wave only (with the staging canaries), the
//! `deployer:rollout-all` label every wave, a hub's own values change plans that hub whatever its wave, and
//! problems of `rollout` and of its state file are reported at their line.

mod support;

use std::fs;
use std::path::Path;
use std::process::Output;

use serde_json::Value;
use support::{copy_tree, deployer, fixture};

fn repo() -> std::path::PathBuf {
    fixture("rollout/repo")
}

fn generate(repo: &Path, changed: &str, labels: Option<&str>) -> (Value, String) {
    let repo_arg = repo.to_str().expect("utf-8 path");
    let mut args = vec!["generate", "--repo", repo_arg, "--changed-files", changed, "--output", "json"];
    if let Some(labels) = labels {
        args.extend(["--labels", labels]);
    }
    let output = deployer(&args);
    let (stdout, stderr) = texts(&output);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    (serde_json::from_str(&stdout).expect("JSON plan"), stderr)
}

fn texts(output: &Output) -> (String, String) {
    (String::from_utf8_lossy(&output.stdout).into_owned(), String::from_utf8_lossy(&output.stderr).into_owned())
}

/// Every planned hub as `cluster/hub`, staging hubs and prod hubs alike, sorted.
fn planned_hubs(plan: &Value) -> Vec<String> {
    let mut hubs = Vec::new();
    for job in plan["support-and-staging-matrix-jobs"].as_array().expect("support-and-staging") {
        for hub in job["staging_hubs"].as_array().expect("staging_hubs") {
            hubs.push(format!(
                "{}/{}",
                job["cluster_name"].as_str().expect("as the fixture has it"),
                hub.as_str().expect("as the fixture has it")
            ));
        }
    }
    for job in plan["prod-hub-matrix-jobs"].as_array().expect("prod") {
        hubs.push(format!(
            "{}/{}",
            job["cluster_name"].as_str().expect("as the fixture has it"),
            job["hub_name"].as_str().expect("as the fixture has it")
        ));
    }
    hubs.sort();
    hubs
}

#[test]
fn a_chart_change_plans_the_first_wave_only_with_the_staging_canaries() {
    let (plan, stderr) = generate(&repo(), "helm-charts/basehub/templates/configmap.yaml", None);
    // canary = */staging + alpha/*; beta's and gamma's prod hubs keep their pins.
    assert_eq!(planned_hubs(&plan), ["alpha/prod1", "alpha/staging", "beta/staging", "gamma/staging"], "{plan}");
    let prod = &plan["prod-hub-matrix-jobs"][0];
    assert_eq!(prod["reason_for_redeploy"], "Helm chart basehub was modified", "{prod}");
    assert!(
        stderr.contains(
            "notice: rollout: the change of the chart basehub goes to the wave canary only; early keeps 1111111, \
             rest keeps 2222222"
        ),
        "{stderr}"
    );
    // No support chart: the default `redeploy_all_hubs` (which lists helm-charts/basehub/**) does not take over.
    assert!(plan["support-and-staging-matrix-jobs"]
        .as_array()
        .expect("as the fixture has it")
        .iter()
        .all(|job| job["upgrade_support"] == false));
}

#[test]
fn the_rollout_all_label_plans_every_wave_and_says_so() {
    let (plan, stderr) = generate(&repo(), "helm-charts/basehub/values.yaml", Some(r#"["deployer:rollout-all"]"#));
    assert_eq!(
        planned_hubs(&plan),
        ["alpha/prod1", "alpha/staging", "beta/prod1", "beta/prod2", "beta/staging", "gamma/prod1", "gamma/staging"],
        "{plan}"
    );
    assert!(
        stderr.contains(
            "warning: ROLLOUT SKIPPED: the label deployer:rollout-all sends the change of basehub to EVERY wave at \
             once, past the pins of the waves early, rest"
        ),
        "{stderr}"
    );
}

#[test]
fn a_values_change_of_a_last_wave_hub_plans_it() {
    let (plan, stderr) = generate(&repo(), "config/clusters/gamma/prod1.values.yaml", None);
    assert_eq!(planned_hubs(&plan), ["gamma/prod1", "gamma/staging"], "{plan}");
    assert!(!stderr.contains("rollout"), "{stderr}");
    // With the chart changed too, the hub's own values still plan it, and the chart change stays in wave 1.
    let (plan, _) = generate(&repo(), "config/clusters/gamma/prod1.values.yaml,helm-charts/basehub/values.yaml", None);
    assert_eq!(
        planned_hubs(&plan),
        ["alpha/prod1", "alpha/staging", "beta/staging", "gamma/prod1", "gamma/staging"],
        "{plan}"
    );
}

#[test]
fn a_chart_that_does_not_roll_deploys_everywhere() {
    // The default `redeploy_all_hubs` lists helm-charts/daskhub/**: every hub, every wave, as without `rollout`.
    let (plan, stderr) = generate(&repo(), "helm-charts/daskhub/values.yaml", None);
    assert_eq!(planned_hubs(&plan).len(), 8, "{plan}");
    assert!(!stderr.contains("rollout"), "{stderr}");
    // Without that pattern, the chart-input rule: its one hub (and the cluster's canary).
    let text = fs::read_to_string(repo().join("deployer.yaml")).expect("as the fixture has it");
    let repo = with_config(&format!("redeploy_all_hubs: [deployer/**]\n{text}"), None);
    let (plan, _) = generate(repo.path(), "helm-charts/daskhub/values.yaml", None);
    assert_eq!(planned_hubs(&plan), ["gamma/dask1", "gamma/staging"], "{plan}");
}

#[test]
fn explain_shows_the_first_wave_only() {
    let output = deployer(&[
        "explain",
        "--repo",
        repo().to_str().expect("as the fixture has it"),
        "helm-charts/basehub/values.yaml",
    ]);
    let (stdout, stderr) = texts(&output);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("prod1"), "{stdout}");
    assert!(stdout.contains("alpha"), "{stdout}");
    assert!(!stdout.contains("prod2"), "beta/prod2 is in the wave early: {stdout}");
    assert!(!stdout.contains("every hub is upgraded"), "{stdout}");
    assert!(stdout.contains("rollout: an input of a rolled chart"), "{stdout}");
    assert!(stdout.contains("goes to the wave canary only"), "{stdout}");
}

/// A copy of the fixture with `deployer.yaml` (and the state file, when given) replaced.
fn with_config(deployer_yaml: &str, state: Option<&str>) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp");
    copy_tree(&repo(), dir.path());
    fs::write(dir.path().join("deployer.yaml"), deployer_yaml).expect("write deployer.yaml");
    if let Some(state) = state {
        fs::write(dir.path().join("config/rollout.yaml"), state).expect("write state");
    }
    dir
}

/// What `deployer generate` prints on stderr when the configuration is refused (it must fail).
fn problems(repo: &Path) -> String {
    let output = deployer(&[
        "generate",
        "--repo",
        repo.to_str().expect("as the fixture has it"),
        "--changed-files",
        "x",
        "--output",
        "json",
    ]);
    let (stdout, stderr) = texts(&output);
    assert!(!output.status.success(), "{stdout}\n{stderr}");
    stderr
}

const PINS: &str = "pins:\n  basehub:\n    early: {commit: 1111111111111111111111111111111111111111, since: \
                    2026-12-01T10:00:00Z}\n    rest: {commit: 2222222222222222222222222222222222222222, since: \
                    2026-11-20T10:00:00Z}\n";

#[test]
fn config_problems_are_reported_at_their_line() {
    let cases: &[(&str, Option<&str>, &str)] = &[
        (
            // beta/staging is in `*/staging` (canary) and in providers: [aws] (early).
            "rollout:\n  charts: [basehub]\n  waves:\n    - name: canary\n      hubs: ['*/staging']\n    - name: early\n      providers: [aws]\n    - name: rest\n",
            None,
            "deployer.yaml:6:13: rollout.waves[1].name: the wave `early` selects the hub `beta/staging`, which the \
             earlier wave `canary` already selects",
        ),
        (
            "rollout:\n  charts: [basehub]\n  waves:\n    - name: canary\n      hubs: ['*/staging']\n    - name: early\n      providers: [azure]\n    - name: rest\n",
            None,
            "deployer.yaml:6:13: rollout.waves[1].name: the wave `early` selects no hub",
        ),
        (
            "rollout:\n  charts: [basehubb]\n  waves:\n    - name: canary\n      hubs: ['*/staging']\n    - name: rest\n",
            Some("pins:\n  basehubb:\n    rest: {commit: 2222222222222222222222222222222222222222, since: 2026-11-20T10:00:00Z}\n"),
            "deployer.yaml:2:12: rollout.charts[0]: no hub uses the chart `basehubb`; did you mean `basehub`?",
        ),
        (
            "rollout:\n  charts: [basehub]\n  waves:\n    - name: canary\n      hubs: ['*/staging']\n      soak: 2days\n    - name: rest\n",
            None,
            "deployer.yaml:6:13: rollout.waves[0].soak: `soak` is a number and a unit",
        ),
        (
            "rollout:\n  charts: [basehub]\n  waves:\n    - name: canary\n      hubs: ['*/staging']\n    - name: rest\n      clusters: [gamma]\n",
            None,
            "deployer.yaml:6:7: rollout.waves[1]: the last wave `rest` has a selector",
        ),
        (
            "rollout:\n  charts: [basehub]\n  waves:\n    - name: canary\n      hub: ['*/staging']\n    - name: rest\n",
            None,
            "deployer.yaml:5:7: rollout.waves[0]: unknown field `hub`",
        ),
        (
            "rollout:\n  charts: [basehub]\n  waves:\n    - name: canary\n      hubs: ['*/staging', 'alpha/*']\n    - name: early\n      providers: [aws]\n      staging: false\n    - name: rest\n",
            Some("pins:\n  basehub:\n    early: {commit: 1111111111111111111111111111111111111111, since: 2026-12-01T10:00:00Z}\n"),
            "config/rollout.yaml:2:3: pins.basehub: the chart `basehub` has no pin for the wave(s) rest",
        ),
        (
            "rollout:\n  charts: [basehub]\n  waves:\n    - name: canary\n      hubs: ['*/staging', 'alpha/*']\n    - name: early\n      providers: [aws]\n      staging: false\n    - name: rest\n",
            Some(&PINS.replace("rest:", "resst:")),
            "config/rollout.yaml:4:5: pins.basehub.resst: `resst` is not a wave; did you mean `rest`?",
        ),
        (
            "rollout:\n  charts: [basehub]\n  waves:\n    - name: canary\n      hubs: ['*/staging', 'alpha/*']\n    - name: early\n      providers: [aws]\n      staging: false\n    - name: rest\n",
            Some(&PINS.replace("early:", "canary:")),
            "config/rollout.yaml:3:5: pins.basehub.canary: `canary` is the first wave, which runs the head; it has no pin",
        ),
        (
            "rollout:\n  charts: [basehub]\n  waves:\n    - name: canary\n      hubs: ['*/staging', 'alpha/*']\n    - name: early\n      providers: [aws]\n      staging: false\n    - name: rest\n",
            Some(&PINS.replace("basehub:", "basehu:")),
            "config/rollout.yaml:2:3: pins.basehu: `basehu` is not a rolled chart; did you mean `basehub`?",
        ),
        (
            "rollout:\n  charts: [basehub]\n  waves:\n    - name: canary\n      hubs: ['*/staging', 'alpha/*']\n    - name: early\n      providers: [aws]\n      staging: false\n    - name: rest\n",
            Some(&PINS.replace("1111111111111111111111111111111111111111", "111111")),
            "config/rollout.yaml:3:21: pins.basehub.early.commit: `commit` is a full commit sha",
        ),
    ];
    for (deployer_yaml, state, expected) in cases {
        let repo = with_config(deployer_yaml, *state);
        let stderr = problems(repo.path());
        assert!(stderr.contains(expected), "expected `{expected}` for\n{deployer_yaml}\ngot:\n{stderr}");
    }
}

#[test]
fn a_missing_state_file_is_an_error_with_the_promote_hint() {
    let repo = with_config(&fs::read_to_string(repo().join("deployer.yaml")).expect("as the fixture has it"), None);
    fs::remove_file(repo.path().join("config/rollout.yaml")).expect("as the fixture has it");
    let stderr = problems(repo.path());
    assert!(stderr.contains("the rollout state file config/rollout.yaml is missing"), "{stderr}");
    assert!(stderr.contains("deployer rollout promote"), "{stderr}");
}

#[test]
fn without_rollout_a_chart_change_plans_every_hub_as_before() {
    let repo = with_config("staging_hub_pattern: '*staging*'\n", None);
    let (plan, stderr) = generate(repo.path(), "helm-charts/basehub/values.yaml", None);
    assert_eq!(plan["prod-hub-matrix-jobs"].as_array().expect("as the fixture has it").len(), 5, "{plan}");
    assert!(!stderr.contains("rollout"), "{stderr}");
}
