//! `action-filter` through the runner's contract, from explicit `results` and
//! from the jobs API of a fake GitHub, and `deployer filter`.

mod support;

use serde_json::{json, Value};
use support::{deployer, ActionRun};
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn prod_jobs() -> Value {
    let job = |cluster: &str, hub: &str| json!({"cluster_name": cluster, "provider": "gcp", "hub_name": hub, "reason_for_redeploy": "Core infrastructure has been modified"});
    json!([
        job("2i2c", "prod"),
        job("2i2c-aws-us", "a"),
        job("2i2c-aws-us", "b"),
        job("nocanary", "x"),
        job("dotted.name", "y")
    ])
}

fn legs() -> Value {
    let leg = |cluster: &str| {
        json!({"cluster_name": cluster, "provider": "gcp", "upgrade_support": true,
               "reason_for_support_redeploy": "Support helm chart has been modified", "upgrade_staging": true,
               "reason_for_staging_redeploy": "Core infrastructure has been modified", "staging_hubs": ["staging"]})
    };
    json!([leg("2i2c"), leg("2i2c-aws-us"), leg("dotted.name")])
}

fn filter_run(workspace: &std::path::Path) -> ActionRun {
    ActionRun::new("action-filter", workspace)
        .input("prod-hub-matrix-jobs", prod_jobs().to_string())
        .input("support-and-staging-matrix-jobs", legs().to_string())
}

fn kept(result: &support::ActionResult) -> Vec<String> {
    result
        .json_output("filtered-prod-hub-matrix-jobs")
        .as_array()
        .expect("array")
        .iter()
        .map(|j| format!("{}/{}", j["cluster_name"].as_str().unwrap_or(""), j["hub_name"].as_str().unwrap_or("")))
        .collect()
}

#[test]
fn explicit_results_drop_exactly_the_failed_clusters() {
    let workspace = tempfile::tempdir().expect("temp");
    let result = filter_run(workspace.path())
        .input("results", r#"{"2i2c": "failure", "2i2c-aws-us": "success", "dotted.name": "cancelled"}"#)
        .run();
    assert!(result.success(), "{}\n{}", result.stdout, result.stderr);
    assert_eq!(kept(&result), ["2i2c-aws-us/a", "2i2c-aws-us/b", "nocanary/x"]);
    assert_eq!(
        result.json_output("dropped"),
        json!([
            {"cluster_name": "2i2c", "hub_name": "prod", "reason": "the support and staging upgrade of 2i2c failed"},
            {"cluster_name": "dotted.name", "hub_name": "y", "reason": "the support and staging upgrade of dotted.name was cancelled"}
        ])
    );
    assert_eq!(result.output("has-jobs"), "true");
    let names: Vec<&str> = result.outputs.keys().map(String::as_str).collect();
    assert_eq!(names, ["dropped", "filtered-prod-hub-matrix-jobs", "has-jobs"]);
    assert!(result.stdout.contains("Prod hub upgrades after the staging canaries"), "{}", result.stdout);
    assert!(
        result.summary.contains("| 2i2c | prod | Skip | the support and staging upgrade of 2i2c failed |"),
        "{}",
        result.summary
    );
}

#[test]
fn legacy_results_with_dashes_for_dots() {
    let workspace = tempfile::tempdir().expect("temp");
    let result = filter_run(workspace.path())
        .input("results", r#"{"failure_2i2c": "false", "failure_2i2c-aws-us": "true", "failure_dotted-name": "false"}"#)
        .run();
    assert!(result.success(), "{}", result.stderr);
    assert_eq!(kept(&result), ["2i2c/prod", "nocanary/x", "dotted.name/y"]);
}

#[test]
fn a_missing_result_fails_closed_with_a_warning() {
    let workspace = tempfile::tempdir().expect("temp");
    let result =
        filter_run(workspace.path()).input("results", r#"{"2i2c": "success", "2i2c-aws-us": "success"}"#).run();
    assert!(result.success(), "{}", result.stderr);
    assert_eq!(kept(&result), ["2i2c/prod", "2i2c-aws-us/a", "2i2c-aws-us/b", "nocanary/x"]);
    assert!(
        result.stdout.contains("::warning::no result found for the support and staging upgrade of dotted.name"),
        "{}",
        result.stdout
    );
}

#[test]
fn everything_dropped_means_no_jobs() {
    let workspace = tempfile::tempdir().expect("temp");
    let result = ActionRun::new("action-filter", workspace.path())
        .input("prod-hub-matrix-jobs", json!([prod_jobs()[0]]).to_string())
        .input("support-and-staging-matrix-jobs", legs().to_string())
        .input("results", r#"{"2i2c": "skipped"}"#)
        .run();
    assert!(result.success(), "{}", result.stderr);
    assert_eq!(result.output("filtered-prod-hub-matrix-jobs"), "[]");
    assert_eq!(result.output("has-jobs"), "false");
}

#[test]
fn bad_inputs_fail_and_write_nothing() {
    let workspace = tempfile::tempdir().expect("temp");
    let cases = [
        ("results", r#"{"2i2c": "great"}"#, "::error::invalid input `results`: the result of `2i2c` is \"great\""),
        ("prod-hub-matrix-jobs", "{", "::error::invalid input `prod-hub-matrix-jobs`: not the JSON array"),
        ("job-name", "Deploy", "::error::invalid input `job-name`: `Deploy` has no `{cluster}`"),
    ];
    for (input, value, annotation) in cases {
        let result = filter_run(workspace.path()).input("results", "{}").input(input, value).run();
        assert_eq!(result.output.status.code(), Some(1), "{input}");
        assert!(result.stdout.contains(annotation), "{input}: {}", result.stdout);
        assert_eq!(result.raw_outputs, "");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn conclusions_come_from_the_jobs_api_paginated() {
    let server = MockServer::start().await;
    let job = |name: &str, conclusion: Option<&str>| json!({"id": 1, "name": name, "status": "completed", "conclusion": conclusion});
    let endpoint = "/repos/octo-org/infra/actions/runs/4242/jobs";
    let next = format!("<{}{endpoint}?filter=latest&per_page=100&page=2>; rel=\"next\"", server.uri());
    Mock::given(method("GET"))
        .and(path(endpoint))
        .and(query_param("filter", "latest"))
        .and(wiremock::matchers::query_param_is_missing("page"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"total_count": 4, "jobs": [
                    job("generate-jobs", Some("success")),
                    job("Upgrade support and staging (2i2c)", Some("failure")),
                ]}))
                .insert_header("link", next.as_str()),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(endpoint))
        .and(query_param("page", "2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"total_count": 4, "jobs": [
            job("Upgrade support and staging (2i2c-aws-us)", Some("success")),
            job("Upgrade support and staging (dotted.name)", Some("timed_out")),
        ]})))
        .expect(1)
        .mount(&server)
        .await;
    let workspace = tempfile::tempdir().expect("temp");
    let result = filter_run(workspace.path()).github(&server.uri()).env("GITHUB_RUN_ID", "4242").run_async().await;
    assert!(result.success(), "{}\n{}", result.stdout, result.stderr);
    assert_eq!(kept(&result), ["2i2c-aws-us/a", "2i2c-aws-us/b", "nocanary/x"]);
    assert!(result.stdout.contains("GitHub API: 2 requests"), "{}", result.stdout);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_custom_job_name_template_is_matched_exactly() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/repos/octo-org/infra/actions/runs/7/jobs"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"total_count": 2, "jobs": [
            {"name": "canary / 2i2c", "status": "completed", "conclusion": "success"},
            {"name": "canary / 2i2c-aws-us", "status": "in_progress", "conclusion": null},
            {"name": "canary / dotted.name", "status": "completed", "conclusion": "success"},
        ]})))
        .mount(&server)
        .await;
    let workspace = tempfile::tempdir().expect("temp");
    let result = filter_run(workspace.path())
        .github(&server.uri())
        .env("GITHUB_RUN_ID", "7")
        .input("job-name", "canary / {cluster}")
        .run_async()
        .await;
    assert!(result.success(), "{}", result.stderr);
    assert_eq!(kept(&result), ["2i2c/prod", "nocanary/x", "dotted.name/y"]);
    assert!(result.output("dropped").contains("had not finished (in_progress)"));
}

#[test]
fn no_canary_to_wait_for_needs_no_api() {
    let workspace = tempfile::tempdir().expect("temp");
    let result = ActionRun::new("action-filter", workspace.path())
        .input("prod-hub-matrix-jobs", json!([prod_jobs()[3]]).to_string())
        .input("support-and-staging-matrix-jobs", "[]")
        .run();
    assert!(result.success(), "{}", result.stderr);
    assert_eq!(kept(&result), ["nocanary/x"]);
}

#[test]
fn the_cli_filters_files() {
    let dir = tempfile::tempdir().expect("temp");
    let prod = dir.path().join("prod.json");
    let staging = dir.path().join("staging.json");
    std::fs::write(&prod, prod_jobs().to_string()).expect("write");
    std::fs::write(&staging, legs().to_string()).expect("write");
    let output = deployer(&[
        "filter",
        "--prod-jobs",
        prod.to_str().expect("utf-8"),
        "--support-and-staging-jobs",
        staging.to_str().expect("utf-8"),
        "--results",
        r#"{"2i2c": "success", "2i2c-aws-us": "failure", "dotted.name": "success"}"#,
        "--output",
        "json",
    ]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let outcome: Value = serde_json::from_slice(&output.stdout).expect("json");
    let kept: Vec<&str> = outcome["filtered-prod-hub-matrix-jobs"]
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|j| j["hub_name"].as_str())
        .collect();
    assert_eq!(kept, ["prod", "x", "y"]);
    assert_eq!(outcome["dropped"].as_array().map(Vec::len), Some(2));
}

#[test]
fn the_cli_takes_what_generate_prints_and_plan_json_whole() {
    let dir = tempfile::tempdir().expect("temp");
    let repo = support::example_repo();
    let generated = deployer(&[
        "generate",
        "--repo",
        repo.to_str().expect("utf-8"),
        "--changed-files",
        "config/clusters/cluster1/hub1.values.yaml",
        "--output",
        "json",
    ]);
    assert!(generated.status.success(), "{}", String::from_utf8_lossy(&generated.stderr));
    let whole = dir.path().join("generate.json");
    std::fs::write(&whole, &generated.stdout).expect("write");
    let plan: Value = serde_json::from_slice(&generated.stdout).expect("json");
    let plan_file = dir.path().join("plan.json");
    let mut with_version = plan.clone();
    with_version["version"] = json!(1);
    with_version["pr_number"] = json!(7);
    std::fs::write(&plan_file, with_version.to_string()).expect("write");
    let file = |p: &std::path::Path| p.to_str().expect("utf-8").to_owned();
    let forms: [Vec<String>; 3] = [
        vec!["--plan".into(), file(&whole)],
        vec!["--plan".into(), file(&plan_file)],
        vec!["--prod-jobs".into(), file(&whole), "--support-and-staging-jobs".into(), file(&whole)],
    ];
    for form in forms {
        let mut args: Vec<&str> = vec!["filter"];
        args.extend(form.iter().map(String::as_str));
        args.extend(["--results", r#"{"cluster1": "success"}"#, "--output", "json"]);
        let output = deployer(&args);
        assert!(output.status.success(), "{form:?}: {}", String::from_utf8_lossy(&output.stderr));
        let outcome: Value = serde_json::from_slice(&output.stdout).expect("json");
        assert_eq!(outcome["filtered-prod-hub-matrix-jobs"], plan["prod-hub-matrix-jobs"], "{form:?}");
        assert_eq!(outcome["filtered-prod-hub-matrix-jobs"][0]["hub_name"], "hub1", "{form:?}");
    }
    // A failed canary still drops its prod hubs when the plan comes whole.
    let output =
        deployer(&["filter", "--plan", &file(&whole), "--results", r#"{"cluster1": "failure"}"#, "--output", "json"]);
    let outcome: Value = serde_json::from_slice(&output.stdout).expect("json");
    assert_eq!(outcome["filtered-prod-hub-matrix-jobs"], json!([]));

    // An object without the matrix says what to pass.
    let other = dir.path().join("other.json");
    std::fs::write(&other, r#"{"jobs": []}"#).expect("write");
    let output = deployer(&["filter", "--plan", &file(&other), "--results", "{}"]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("deployer generate --output json"), "{stderr}");
    // Neither form: clap names what is missing.
    let output = deployer(&["filter", "--results", "{}"]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("--plan"), "{}", String::from_utf8_lossy(&output.stderr));
}
