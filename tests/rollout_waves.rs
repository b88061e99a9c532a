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

/// The chart's own `values.jsonnet` and its `charts.<chart>.values_files` are values of every release of
/// the chart, but a later wave renders them at its pin: their change goes to the first wave only, like the
/// chart's.
#[test]
fn a_chart_level_values_change_plans_the_first_wave_only() {
    let dir = tempfile::tempdir().expect("temp");
    copy_tree(&repo(), dir.path());
    fs::write(dir.path().join("helm-charts/basehub/values.jsonnet"), "{ greeting: 'hi' }\n").expect("jsonnet");
    fs::write(dir.path().join("config/basehub-common.values.yaml"), "greeting: hello\n").expect("values");
    let settings = fs::read_to_string(dir.path().join("deployer.yaml")).expect("deployer.yaml");
    fs::write(
        dir.path().join("deployer.yaml"),
        format!("{settings}charts:\n  basehub:\n    values_files: [config/basehub-common.values.yaml]\n"),
    )
    .expect("deployer.yaml");
    for changed in ["helm-charts/basehub/values.jsonnet", "config/basehub-common.values.yaml"] {
        let (plan, _) = generate(dir.path(), changed, None);
        assert_eq!(
            planned_hubs(&plan),
            ["alpha/prod1", "alpha/staging", "beta/staging", "gamma/staging"],
            "{changed}: {plan}"
        );
    }
    // With the label, every wave.
    let (plan, _) = generate(dir.path(), "config/basehub-common.values.yaml", Some(r#"["deployer:rollout-all"]"#));
    assert!(planned_hubs(&plan).contains(&"gamma/prod1".to_owned()), "{plan}");
}

/// daskhub depending on a rolled basehub without rolling itself would take basehub's change to every
/// daskhub hub at once: an error at basehub's entry of `rollout.charts`, naming both.
#[test]
fn a_chart_depending_on_a_rolled_chart_must_roll_too() {
    let dir = tempfile::tempdir().expect("temp");
    copy_tree(&repo(), dir.path());
    let chart = dir.path().join("helm-charts/daskhub/Chart.yaml");
    let text = fs::read_to_string(&chart).expect("Chart.yaml");
    let text = if text.contains("dependencies:") {
        text
    } else {
        format!("{text}dependencies:\n  - name: basehub\n    version: 0.1.0\n    repository: file://../basehub\n")
    };
    fs::write(&chart, text).expect("Chart.yaml");
    let repo_arg = dir.path().to_str().expect("utf-8 path");
    for args in [
        vec!["generate", "--repo", repo_arg, "--changed-files", "helm-charts/basehub/values.yaml", "--output", "json"],
        vec!["validate", "--repo", repo_arg],
        vec!["explain", "--repo", repo_arg, "helm-charts/basehub/values.yaml"],
    ] {
        let output = deployer(&args);
        let (stdout, stderr) = texts(&output);
        assert!(!output.status.success(), "{args:?}: {stdout}\n{stderr}");
        assert!(
            stderr.contains("deployer.yaml:3")
                && stderr.contains("the chart daskhub depends on basehub (`file://`), which rolls out in waves"),
            "{args:?}: {stderr}"
        );
    }
    // Rolling both is accepted.
    let settings = fs::read_to_string(dir.path().join("deployer.yaml")).expect("deployer.yaml");
    fs::write(dir.path().join("deployer.yaml"), settings.replace("charts: [basehub]", "charts: [basehub, daskhub]"))
        .expect("deployer.yaml");
    let pins = fs::read_to_string(dir.path().join("config/rollout.yaml")).expect("pins");
    fs::write(
        dir.path().join("config/rollout.yaml"),
        format!(
            "{pins}  daskhub:\n    early: {{commit: 1111111111111111111111111111111111111111, since: \"2026-12-01T10:00:00Z\"}}\n    rest: {{commit: 2222222222222222222222222222222222222222, since: \"2026-11-20T10:00:00Z\"}}\n"
        ),
    )
    .expect("pins");
    let output = deployer(&["validate", "--repo", repo_arg]);
    let (stdout, stderr) = texts(&output);
    assert!(output.status.success(), "{stdout}\n{stderr}");
}

/// A hub pinning a rolled chart with `chart_override` is refused where the configuration is read: a wave's
/// pin cannot follow an override.
#[test]
fn a_chart_override_of_a_rolled_chart_is_refused() {
    let dir = tempfile::tempdir().expect("temp");
    copy_tree(&repo(), dir.path());
    let file = dir.path().join("config/clusters/gamma/cluster.yaml");
    let text = fs::read_to_string(&file).expect("cluster.yaml");
    let text = text.replacen("helm_chart: basehub\n", "helm_chart: basehub\n    chart_override: prod1.chart.yaml\n", 2);
    fs::write(&file, &text).expect("cluster.yaml");
    fs::write(
        dir.path().join("config/clusters/gamma/prod1.chart.yaml"),
        "apiVersion: v2\nname: basehub\nversion: 9.9.9\n",
    )
    .expect("override");
    let output = deployer(&["validate", "--repo", dir.path().to_str().expect("utf-8 path")]);
    let (stdout, stderr) = texts(&output);
    assert!(!output.status.success(), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("deployer.yaml:3") && stderr.contains("pins it with a `chart_override`"),
        "{text}\n{stderr}"
    );
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
    // With no rolled chart changed, the label skips nothing and says nothing.
    let (plan, stderr) =
        generate(&repo(), "config/clusters/gamma/prod1.values.yaml", Some(r#"["deployer:rollout-all"]"#));
    assert_eq!(planned_hubs(&plan), ["gamma/prod1", "gamma/staging"], "{plan}");
    assert!(!stderr.contains("ROLLOUT SKIPPED"), "{stderr}");
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

/// `explain` of the state file names each later wave's pin and the hubs moving it upgrades; a later-wave
/// hub's line names the pin its chart is rendered at.
#[test]
fn explain_names_each_pin_and_what_moving_it_upgrades() {
    let output = deployer(&[
        "explain",
        "--repo",
        repo().to_str().expect("as the fixture has it"),
        "config/rollout.yaml",
        "config/clusters/gamma/prod1.values.yaml",
    ]);
    let (stdout, stderr) = texts(&output);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(!stdout.contains("upgrades nothing"), "{stdout}");
    assert!(
        stdout.contains(
            "pin of basehub for the wave early (1111111): moving it upgrades beta/staging, beta/prod1, beta/prod2\n"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("pin of basehub for the wave rest (2222222): moving it upgrades gamma/staging, gamma/prod1\n"),
        "gamma/dask1 runs daskhub, which does not roll: {stdout}"
    );
    assert!(
        stdout.contains("prod hub gamma/prod1: Following helm chart values files were modified: prod1.values.yaml (chart at 2222222 for the wave rest)"),
        "{stdout}"
    );
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

/// `deployer generate` with extra arguments, the plan as JSON and stderr (it must succeed).
fn generate_with_args(repo: &Path, changed: &str, extra: &[&str]) -> (Value, String) {
    let repo_arg = repo.to_str().expect("utf-8 path");
    let mut args = vec!["generate", "--repo", repo_arg, "--changed-files", changed, "--output", "json"];
    args.extend(extra);
    let output = deployer(&args);
    let (stdout, stderr) = texts(&output);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    (serde_json::from_str(&stdout).expect("JSON plan"), stderr)
}

/// A copy of the fixture as the base commit, its state file replaced by `state` (removed when `None`).
fn base_with_state(state: Option<&str>) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp");
    copy_tree(&repo(), dir.path());
    let file = dir.path().join("config/rollout.yaml");
    match state {
        Some(state) => fs::write(file, state).expect("write state"),
        None => fs::remove_file(file).expect("as the fixture has it"),
    }
    dir
}

/// The prod job of `cluster/hub`.
fn prod_job<'a>(plan: &'a Value, cluster: &str, hub: &str) -> &'a Value {
    plan["prod-hub-matrix-jobs"]
        .as_array()
        .expect("prod")
        .iter()
        .find(|job| job["cluster_name"] == cluster && job["hub_name"] == hub)
        .unwrap_or_else(|| panic!("no prod job {cluster}/{hub}: {plan}"))
}

/// The support-and-staging job of `cluster`.
fn staging_job<'a>(plan: &'a Value, cluster: &str) -> &'a Value {
    plan["support-and-staging-matrix-jobs"]
        .as_array()
        .expect("support-and-staging")
        .iter()
        .find(|job| job["cluster_name"] == cluster)
        .unwrap_or_else(|| panic!("no support-and-staging job {cluster}: {plan}"))
}

const PIN_EARLY: &str = "1111111111111111111111111111111111111111";
const PIN_REST: &str = "2222222222222222222222222222222222222222";

#[test]
fn an_edited_pin_plans_exactly_the_hubs_of_its_wave() {
    let state = "config/rollout.yaml";
    // The base had another pin for early: beta's prod hubs (aws), with their canary.
    let base = base_with_state(Some(&PINS.replace(PIN_EARLY, &"3".repeat(40))));
    let base_dir = base.path().to_str().expect("utf-8 path");
    let (plan, _) = generate_with_args(&repo(), state, &["--base-dir", base_dir]);
    assert_eq!(planned_hubs(&plan), ["beta/prod1", "beta/prod2", "beta/staging"], "{plan}");
    for hub in ["prod1", "prod2"] {
        let job = prod_job(&plan, "beta", hub);
        assert_eq!(job["reason_for_redeploy"], "Rollout pin of basehub for wave early moved to 1111111", "{job}");
        assert_eq!(job["rollout"], serde_json::json!({"wave": "early", "chart_commit": PIN_EARLY}), "{job}");
    }
    // Another pin for rest: gamma's basehub hub only (dask1 runs daskhub, which does not roll).
    let base = base_with_state(Some(&PINS.replace(PIN_REST, &"4".repeat(40))));
    let base_dir = base.path().to_str().expect("utf-8 path");
    let (plan, _) = generate_with_args(&repo(), state, &["--base-dir", base_dir]);
    assert_eq!(planned_hubs(&plan), ["gamma/prod1", "gamma/staging"], "{plan}");
    assert_eq!(
        prod_job(&plan, "gamma", "prod1")["reason_for_redeploy"],
        "Rollout pin of basehub for wave rest moved to 2222222"
    );
    // Only `since` changed: no pin moved, nothing to upgrade.
    let base = base_with_state(Some(&PINS.replace("2026-12-01T10:00:00Z", "2026-11-30T10:00:00Z")));
    let base_dir = base.path().to_str().expect("utf-8 path");
    let (plan, _) = generate_with_args(&repo(), state, &["--base-dir", base_dir]);
    assert!(planned_hubs(&plan).is_empty(), "{plan}");
}

#[test]
fn a_state_file_edit_without_its_previous_version_plans_every_later_wave() {
    let every_later_wave = ["beta/prod1", "beta/prod2", "beta/staging", "gamma/prod1", "gamma/staging"];
    // No base to compare with.
    let (plan, _) = generate(&repo(), "config/rollout.yaml", None);
    assert_eq!(planned_hubs(&plan), every_later_wave, "{plan}");
    let reason = prod_job(&plan, "gamma", "prod1")["reason_for_redeploy"].as_str().unwrap_or_default().to_owned();
    assert!(reason.starts_with("Rollout pin of basehub for wave rest is 2222222;"), "{reason}");
    assert!(reason.contains("no base commit to read the previous version at"), "{reason}");
    // The base has no state file.
    let base = base_with_state(None);
    let base_dir = base.path().to_str().expect("utf-8 path");
    let (plan, _) = generate_with_args(&repo(), "config/rollout.yaml", &["--base-dir", base_dir]);
    assert_eq!(planned_hubs(&plan), every_later_wave, "{plan}");
    let reason = prod_job(&plan, "beta", "prod2")["reason_for_redeploy"].as_str().unwrap_or_default().to_owned();
    assert!(reason.contains("early is 1111111") && reason.contains("not in the base commit"), "{reason}");
    // The base's state file does not fit the current waves (a wave since renamed).
    let base = base_with_state(Some(&PINS.replace("rest:", "last:")));
    let base_dir = base.path().to_str().expect("utf-8 path");
    let (plan, _) = generate_with_args(&repo(), "config/rollout.yaml", &["--base-dir", base_dir]);
    assert_eq!(planned_hubs(&plan), every_later_wave, "{plan}");
    let reason = prod_job(&plan, "beta", "prod1")["reason_for_redeploy"].as_str().unwrap_or_default().to_owned();
    assert!(reason.contains("does not fit the current waves"), "{reason}");
}

#[test]
fn jobs_carry_their_wave_and_chart_commit() {
    let head = |wave: &str| serde_json::json!({"wave": wave, "chart_commit": ""});
    // A chart change: the first wave runs the head.
    let (plan, _) = generate(&repo(), "helm-charts/basehub/values.yaml", None);
    assert_eq!(prod_job(&plan, "alpha", "prod1")["rollout"], head("canary"), "{plan}");
    assert_eq!(staging_job(&plan, "beta")["staging_rollout"], serde_json::json!({"staging": head("canary")}), "{plan}");
    // A last-wave hub planned for its values runs its pin; a hub whose chart does not roll carries nothing.
    let (plan, _) =
        generate(&repo(), "config/clusters/gamma/prod1.values.yaml,config/clusters/gamma/dask1.values.yaml", None);
    assert_eq!(
        prod_job(&plan, "gamma", "prod1")["rollout"],
        serde_json::json!({"wave": "rest", "chart_commit": PIN_REST}),
        "{plan}"
    );
    assert!(prod_job(&plan, "gamma", "dask1").get("rollout").is_none(), "{plan}");
    // With the rollout-all label every wave runs the head.
    let (plan, _) = generate(&repo(), "helm-charts/basehub/values.yaml", Some(r#"["deployer:rollout-all"]"#));
    assert_eq!(prod_job(&plan, "beta", "prod2")["rollout"], head("early"), "{plan}");
    assert_eq!(prod_job(&plan, "gamma", "prod1")["rollout"], head("rest"), "{plan}");
}

#[test]
fn wave_and_pin_survive_batched_legs_and_the_three_stage_shape() {
    let changed = "config/clusters/gamma/prod1.values.yaml,config/clusters/beta/prod1.values.yaml";
    let (plan, _) = generate_with_args(&repo(), changed, &["--max-jobs", "1", "--matrix-shape", "three-stage"]);
    let pinned = |wave: &str, commit: &str| serde_json::json!({"wave": wave, "chart_commit": commit});
    // Batched prod leg: hubs grouped by cluster.
    let hubs: Vec<&Value> = plan["prod-hub-matrix-jobs"][0]["clusters"]
        .as_array()
        .unwrap_or_else(|| panic!("a batched leg: {plan}"))
        .iter()
        .flat_map(|cluster| cluster["hubs"].as_array().into_iter().flatten())
        .collect();
    assert_eq!(hubs.len(), 2, "{plan}");
    assert!(hubs.iter().all(|hub| hub["rollout"].is_object()), "{plan}");
    let text = plan["prod-hub-matrix-jobs"].to_string();
    assert!(text.contains(&pinned("early", PIN_EARLY).to_string()), "{text}");
    assert!(text.contains(&pinned("rest", PIN_REST).to_string()), "{text}");
    // Batched support-and-staging leg: each cluster keeps its staging hubs' waves.
    let text = plan["support-and-staging-matrix-jobs"].to_string();
    assert!(text.contains(r#""staging_rollout":{"staging":{"chart_commit":"","wave":"canary"}}"#), "{text}");
    // Three-stage: the prod and staging items carry theirs.
    let text = plan["prod-jobs"].to_string();
    assert!(text.contains(&pinned("early", PIN_EARLY).to_string()), "{text}");
    assert!(text.contains(&pinned("rest", PIN_REST).to_string()), "{text}");
    assert!(plan["staging-jobs"].to_string().contains(&head_json("canary")), "{plan}");
}

fn head_json(wave: &str) -> String {
    serde_json::json!({"wave": wave, "chart_commit": ""}).to_string()
}

#[test]
fn the_plan_tables_show_wave_and_pin() {
    let repo_arg = repo();
    let output = deployer(&[
        "generate",
        "--repo",
        repo_arg.to_str().expect("utf-8 path"),
        "--changed-files",
        "config/clusters/gamma/prod1.values.yaml",
    ]);
    let (stdout, stderr) = texts(&output);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("(chart at 2222222 for the wave rest)"), "{stdout}");
    assert!(stdout.contains("(staging: chart at the head for the wave canary)"), "{stdout}");
}

#[test]
fn without_rollout_jobs_have_no_rollout_fields() {
    let repo = with_config("staging_hub_pattern: '*staging*'\n", None);
    let (plan, _) =
        generate_with_args(repo.path(), "helm-charts/basehub/values.yaml", &["--matrix-shape", "three-stage"]);
    assert!(!plan.to_string().contains("rollout"), "{plan}");
}

/// The comment action on a `plan.json` whose prod job carries `rollout` (the run's result and logs).
async fn comment_on_plan(rollout: Value) -> (support::ActionResult, support::fake_github::FakeGitHub) {
    use support::fake_github::{FakeGitHub, HEAD_REPO, OWNER_REPO};
    use support::zip_builder::{build, Entry};
    let plan = serde_json::json!({"version": 1, "pr_number": 12, "head_sha": support::sha('a'),
        "support-and-staging-matrix-jobs": [],
        "prod-hub-matrix-jobs": [{"cluster_name": "beta", "provider": "aws", "hub_name": "prod1",
            "reason_for_redeploy": "Rollout pin of basehub for wave early moved to 1111111", "rollout": rollout}]});
    let fake = FakeGitHub::start().await;
    fake.pull(12, &support::sha('a'));
    fake.artifact(777, "deployment-plan", build(&[Entry::file("plan.json", plan.to_string().into_bytes())]));
    let run = serde_json::json!({"workflow_run": {"id": 777, "head_sha": support::sha('a'), "event": "pull_request",
        "pull_requests": [], "head_repository": {"full_name": HEAD_REPO}}});
    let result = support::ActionRun::new("action-comment", std::env::temp_dir())
        .env("GITHUB_API_URL", fake.api.uri())
        .env("DEPLOYER_ALLOW_INSECURE_ENDPOINTS", "1")
        .env("GITHUB_REPOSITORY", OWNER_REPO)
        .env("GITHUB_SERVER_URL", "https://github.com")
        .env("GITHUB_EVENT_NAME", "workflow_run")
        .input("github-token", "test-token")
        .event(run.to_string())
        .run_async()
        .await;
    (result, fake)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_comment_stage_shows_the_pin_and_refuses_a_malformed_one() {
    let (result, fake) = comment_on_plan(serde_json::json!({"wave": "early", "chart_commit": PIN_EARLY})).await;
    assert_eq!(result.output("result"), "created", "{}\n{}", result.stdout, result.stderr);
    let body = fake.state().comments.get(&12).and_then(|c| c.first()).map(|c| c.body.clone()).unwrap_or_default();
    assert!(body.contains("(chart at `1111111` for the wave early)"), "{body}");

    let (result, _) =
        comment_on_plan(serde_json::json!({"wave": "early", "chart_commit": "--upload-pack=touch"})).await;
    assert_eq!(result.output.status.code(), Some(1), "{}", result.stdout);
    assert!(
        result.stdout.contains(
            "::error::refusing the artifact: plan.json: \"--upload-pack=touch\" is not a 40-digit chart commit"
        ),
        "{}",
        result.stdout
    );
}
