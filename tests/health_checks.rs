//! Health checks planned from infrastructure changes (`health_checks` in
//! `deployer.yaml`), through the real binaries: every case of
//! `tests/fixtures/health-checks/cases` through `action-generate` and
//! `deployer generate --output json`; then `action-filter` given the
//! health-check matrices, from explicit results and from the jobs API.

mod support;

use std::fs;

use serde_json::{json, Value};
use support::{deployer, fixture, ActionRun};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const KEYS: [&str; 5] = [
    "support-and-staging-matrix-jobs",
    "prod-hub-matrix-jobs",
    "health-check-matrix-jobs",
    "health-check-staging-matrix-jobs",
    "health-check-prod-matrix-jobs",
];

struct Case {
    name: String,
    changed_files: Vec<String>,
    labels: Vec<String>,
    expected: Value,
}

fn cases() -> Vec<Case> {
    let mut cases: Vec<Case> = fs::read_dir(fixture("health-checks/cases"))
        .expect("cases folder")
        .map(|entry| {
            let path = entry.expect("entry").path();
            let case: Value = serde_json::from_str(&fs::read_to_string(&path).expect("case file")).expect("case JSON");
            let strings = |key: &str| -> Vec<String> { serde_json::from_value(case[key].clone()).expect(key) };
            Case {
                name: path.file_stem().expect("name").to_string_lossy().into_owned(),
                changed_files: strings("changed_files"),
                labels: strings("labels"),
                expected: case["expected"].clone(),
            }
        })
        .collect();
    cases.sort_by(|a, b| a.name.cmp(&b.name));
    assert_eq!(cases.len(), 8, "every case file is read");
    cases
}

fn repo() -> std::path::PathBuf {
    fixture("health-checks/repo")
}

fn generate(changed_files: &[&str]) -> support::ActionResult {
    let result = ActionRun::new("action-generate", repo())
        .input("changed-files", changed_files.join("\n"))
        .temp_input("plan-dir", "plan")
        .run();
    assert!(result.success(), "{}\n{}", result.stdout, result.stderr);
    result
}

#[test]
fn every_case_through_the_action_and_the_cli() {
    for case in cases() {
        let result = ActionRun::new("action-generate", repo())
            .input("changed-files", serde_json::to_string(&case.changed_files).expect("json"))
            .input("labels", serde_json::to_string(&case.labels).expect("json"))
            .temp_input("plan-dir", "plan")
            .run();
        assert!(result.success(), "{}: failed\n{}\n{}", case.name, result.stdout, result.stderr);
        let mut any = false;
        for key in KEYS {
            assert_eq!(result.json_output(key), case.expected[key], "{}: {key}", case.name);
            any |= case.expected[key].as_array().is_some_and(|a| !a.is_empty());
        }
        assert_eq!(result.output("has-jobs"), if any { "true" } else { "false" }, "{}: has-jobs", case.name);
        let checks = case.expected["health-check-matrix-jobs"].as_array().map_or(0, Vec::len);
        // The log and the summary show the checks in their own table, and only when there are some.
        assert_eq!(
            result.stdout.contains("Health checks (no upgrade)"),
            checks > 0,
            "{}: {}",
            case.name,
            result.stdout
        );
        assert_eq!(result.summary.contains("### Health checks (no upgrade)"), checks > 0, "{}", case.name);
        // plan.json carries them for the comment.
        let plan: Value =
            serde_json::from_str(&fs::read_to_string(result.workspace.join("plan/plan.json")).expect("plan.json"))
                .expect("plan.json");
        let in_plan =
            plan["staging_checks"].as_array().map_or(0, Vec::len) + plan["prod_checks"].as_array().map_or(0, Vec::len);
        assert_eq!(in_plan, checks, "{}", case.name);

        let mut args = vec!["generate", "--repo"];
        let repo = repo();
        let repo = repo.to_str().expect("utf-8");
        args.push(repo);
        let changed = case.changed_files.join(",");
        args.extend(["--changed-files", &changed, "--output", "json"]);
        let labels = serde_json::to_string(&case.labels).expect("json");
        if !case.labels.is_empty() {
            args.extend(["--labels", &labels]);
        }
        let out = deployer(&args);
        assert!(out.status.success(), "{}: {}", case.name, String::from_utf8_lossy(&out.stderr));
        let printed: Value = serde_json::from_slice(&out.stdout).expect("json");
        for key in KEYS {
            let got = printed.get(key).cloned().unwrap_or_else(|| json!([]));
            assert_eq!(got, case.expected[key], "{}: CLI {key}", case.name);
        }
    }
}

#[test]
fn every_check_is_in_exactly_one_leg_and_staging_legs_are_per_cluster() {
    let result =
        generate(&["terraform/gcp/modules/gke/main.tf", "terraform/azure/modules/x.tf", "eksctl/aws1.jsonnet"]);
    let all = result.json_output("health-check-matrix-jobs");
    let staging = result.json_output("health-check-staging-matrix-jobs");
    let prod = result.json_output("health-check-prod-matrix-jobs");
    let mut from_legs: Vec<(String, String)> = Vec::new();
    for leg in staging.as_array().expect("array") {
        for hub in leg["hubs"].as_array().expect("a staging leg lists its cluster's hubs") {
            from_legs.push((
                leg["cluster_name"].as_str().expect("name").into(),
                hub["hub_name"].as_str().expect("hub").into(),
            ));
        }
    }
    for leg in prod.as_array().expect("array") {
        from_legs
            .push((leg["cluster_name"].as_str().expect("name").into(), leg["hub_name"].as_str().expect("hub").into()));
    }
    let listed: Vec<(String, String)> = all
        .as_array()
        .expect("array")
        .iter()
        .map(|j| (j["cluster_name"].as_str().expect("c").into(), j["hub_name"].as_str().expect("h").into()))
        .collect();
    assert_eq!(from_legs, listed, "staging legs then prod legs, in the order of the whole list");
    assert_eq!(listed.len(), 8, "every hub of gcp1, gcp1-eu, aws1 and utoronto");

    // Past max-jobs, batched legs: still every check exactly once.
    let packed = ActionRun::new("action-generate", repo())
        .input("changed-files", "terraform/gcp/modules/gke/main.tf\nterraform/azure/modules/x.tf\neksctl/aws1.jsonnet")
        .input("max-jobs", "2")
        .temp_input("plan-dir", "plan")
        .run();
    assert!(packed.success(), "{}", packed.stderr);
    let mut batched: Vec<(String, String)> = Vec::new();
    for key in ["health-check-staging-matrix-jobs", "health-check-prod-matrix-jobs"] {
        let legs = packed.json_output(key);
        assert!(legs.as_array().expect("array").len() <= 2, "{key}: {legs}");
        for leg in legs.as_array().expect("array") {
            let mut checks = 0;
            for cluster in leg["clusters"].as_array().expect("batched") {
                for hub in cluster["hubs"].as_array().expect("hubs") {
                    checks += 1;
                    batched.push((
                        cluster["cluster_name"].as_str().expect("c").into(),
                        hub["hub_name"].as_str().expect("h").into(),
                    ));
                }
            }
            assert_eq!(leg["checks"], checks, "{leg}");
        }
    }
    let mut sorted_listed = listed.clone();
    sorted_listed.sort();
    batched.sort();
    assert_eq!(batched, sorted_listed);
}

fn filter_checks(result: &support::ActionResult, workspace: &std::path::Path) -> ActionRun {
    ActionRun::new("action-filter", workspace)
        .input("support-and-staging-matrix-jobs", result.output("health-check-staging-matrix-jobs"))
        .input("prod-hub-matrix-jobs", result.output("health-check-prod-matrix-jobs"))
}

fn kept(result: &support::ActionResult) -> Vec<String> {
    result
        .json_output("filtered-prod-hub-matrix-jobs")
        .as_array()
        .expect("array")
        .iter()
        .map(|job| {
            // The prod health-check shape, unchanged: a check item, never an upgrade item.
            assert!(job.get("reason_for_health_check").is_some() && job.get("reason_for_redeploy").is_none(), "{job}");
            format!("{}/{}", job["cluster_name"].as_str().expect("c"), job["hub_name"].as_str().expect("h"))
        })
        .collect()
}

#[test]
fn filter_drops_the_prod_checks_of_a_cluster_whose_staging_check_failed() {
    let generated = generate(&["terraform/gcp/modules/gke/main.tf", "terraform/azure/modules/x.tf"]);
    let workspace = tempfile::tempdir().expect("temp");
    let result = filter_checks(&generated, workspace.path())
        .input("results", r#"{"gcp1": "failure", "gcp1-eu": "success"}"#)
        .run();
    assert!(result.success(), "{}\n{}", result.stdout, result.stderr);
    // utoronto has no staging hub: nothing to wait for, its check stays.
    assert_eq!(kept(&result), ["gcp1-eu/prod", "utoronto/prod"]);
    let dropped = result.json_output("dropped");
    assert_eq!(
        dropped,
        json!([
            {"cluster_name": "gcp1", "hub_name": "prod", "reason": "the staging health check of gcp1 failed"},
            {"cluster_name": "gcp1", "hub_name": "prod2", "reason": "the staging health check of gcp1 failed"},
        ])
    );
    assert_eq!(result.output("has-jobs"), "true");
    assert!(result.summary.starts_with("## Prod health checks after the staging checks"), "{}", result.summary);
    assert!(result.summary.contains("| gcp1-eu | prod | Check |"), "{}", result.summary);

    // A staging check with no result fails closed.
    let missing = filter_checks(&generated, workspace.path()).input("results", r#"{"gcp1": "success"}"#).run();
    assert!(missing.success(), "{}", missing.stderr);
    assert_eq!(kept(&missing), ["gcp1/prod", "gcp1/prod2", "utoronto/prod"]);
    assert!(missing.stdout.contains("no result found for the staging health check of gcp1-eu"), "{}", missing.stdout);
}

#[tokio::test(flavor = "multi_thread")]
async fn filter_reads_the_staging_check_jobs_by_their_default_name() {
    let generated = generate(&["terraform/gcp/modules/gke/main.tf"]);
    let server = MockServer::start().await;
    let job = |name: &str, conclusion: &str| json!({"name": name, "status": "completed", "conclusion": conclusion});
    Mock::given(method("GET"))
        .and(path("/repos/octo-org/infra/actions/runs/99/jobs"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"total_count": 3, "jobs": [
            job("Health check staging (gcp1)", "success"),
            job("Health check staging (gcp1-eu)", "failure"),
            // An upgrade leg of the same cluster is not its health check.
            job("Upgrade support and staging (gcp1-eu)", "success"),
        ]})))
        .mount(&server)
        .await;
    let workspace = tempfile::tempdir().expect("temp");
    // The runner passes action.yml's defaults (`support::action_defaults`): `job-name` is empty there,
    // so the health-check default applies.
    let result =
        filter_checks(&generated, workspace.path()).github(&server.uri()).env("GITHUB_RUN_ID", "99").run_async().await;
    assert!(result.success(), "{}\n{}", result.stdout, result.stderr);
    assert_eq!(kept(&result), ["gcp1/prod", "gcp1/prod2"]);
}

#[test]
fn filter_refuses_a_health_check_matrix_with_an_upgrade_matrix() {
    let checks = generate(&["terraform/gcp/modules/gke/main.tf"]);
    let upgrades = generate(&["config/clusters/gcp1/prod.values.yaml"]);
    let workspace = tempfile::tempdir().expect("temp");
    let result = ActionRun::new("action-filter", workspace.path())
        .input("support-and-staging-matrix-jobs", upgrades.output("support-and-staging-matrix-jobs"))
        .input("prod-hub-matrix-jobs", checks.output("health-check-prod-matrix-jobs"))
        .input("results", "{}")
        .run();
    assert!(!result.success());
    assert!(
        result.stdout.contains("one matrix is a health-check matrix and the other an upgrade matrix"),
        "{}",
        result.stdout
    );
    assert_eq!(result.raw_outputs, "");
}

#[test]
fn bad_rules_stop_generate_at_their_line() {
    let workspace = tempfile::tempdir().expect("temp");
    support::copy_tree(&repo(), workspace.path());
    fs::write(
        workspace.path().join("deployer.yaml"),
        "health_checks:\n  cluster_paths:\n    - terraform/{provider}/projects/{clustr}.tfvars\n",
    )
    .expect("write");
    let result = ActionRun::new("action-generate", workspace.path()).input("changed-files", "x").run();
    assert!(!result.success());
    assert!(result.stdout.contains("::error file=deployer.yaml,line=3,col=7::"), "{}", result.stdout);
    assert!(result.stderr.contains("did you mean `{cluster}`?"), "{}", result.stderr);
    assert_eq!(result.raw_outputs, "");
}

#[test]
fn the_plan_shows_the_checks_in_their_own_table() {
    let repo = repo();
    let repo = repo.to_str().expect("utf-8");
    let changed =
        "terraform/gcp/projects/gcp1-eu.tfvars,terraform/azure/modules/x.tf,config/clusters/aws1/prod.values.yaml";
    let run = |format: &str| {
        let out = deployer(&["generate", "--repo", repo, "--changed-files", changed, "--output", format]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).expect("utf-8")
    };
    insta::assert_snapshot!("health_checks_log_tables", run("table"));
    insta::assert_snapshot!("health_checks_comment", run("markdown"));
}

#[test]
fn a_hostile_changed_path_in_a_health_check_reason_commands_nothing() {
    // A file name is the attacker's: it reaches the reason, the log tables and the summary.
    let hostile = "terraform/gcp/modules/x\r::error::owned\r##[warning]w.tf";
    let result = ActionRun::new("action-generate", repo())
        .input("changed-files", serde_json::to_string(&[hostile]).expect("json"))
        .temp_input("plan-dir", "plan")
        .run();
    assert!(result.success(), "{}\n{}", result.stdout, result.stderr);
    let checks = result.json_output("health-check-matrix-jobs");
    assert_eq!(checks.as_array().map(Vec::len), Some(5), "every hub of both gcp clusters: {checks}");
    let names = support::runner_log::command_names(&result.stdout);
    assert!(names.iter().all(|n| n == "group" || n == "endgroup"), "stdout commands: {names:?}\n{}", result.stdout);
    assert_eq!(support::runner_log::command_names(&result.stderr), Vec::<String>::new());
    assert!(!result.summary.contains('\r'), "{:?}", result.summary);
}
