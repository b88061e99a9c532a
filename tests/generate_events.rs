//! `action-generate` without `changed-files`: the changed files and labels
//! come from the event and a fake GitHub API on 127.0.0.1.

mod support;

use serde_json::{json, Value};
use support::{example_repo, sha, ActionRun};
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

const REPO: &str = "/repos/octo-org/infra";

fn pr_event(number: u64, labels: &[&str], changed_files: u64) -> String {
    let labels: Vec<Value> = labels.iter().map(|l| json!({"name": l})).collect();
    json!({"pull_request": {"number": number, "head": {"sha": sha('a')}, "labels": labels, "changed_files": changed_files}})
        .to_string()
}

fn files(names: &[&str]) -> Value {
    Value::Array(names.iter().map(|n| json!({"filename": n, "status": "modified"})).collect())
}

fn generate(server: &MockServer, event_name: &str, event: String) -> ActionRun {
    ActionRun::new("action-generate", example_repo())
        .github(&server.uri())
        .env("GITHUB_EVENT_NAME", event_name)
        .event(event)
        .temp_input("plan-dir", "plan")
}

fn hubs(result: &support::ActionResult) -> Vec<String> {
    result
        .json_output("prod-hub-matrix-jobs")
        .as_array()
        .expect("array")
        .iter()
        .map(|j| {
            format!(
                "{}/{}: {}",
                j["cluster_name"].as_str().unwrap_or(""),
                j["hub_name"].as_str().unwrap_or(""),
                j["reason_for_redeploy"].as_str().unwrap_or("")
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn pull_request_files_are_paginated_with_renames_and_labels_from_the_payload() {
    let server = MockServer::start().await;
    let next = format!("<{}{REPO}/pulls/7/files?per_page=100&page=2>; rel=\"next\"", server.uri());
    Mock::given(method("GET"))
        .and(path(format!("{REPO}/pulls/7/files")))
        .and(query_param("per_page", "100"))
        .and(header("authorization", "Bearer test-token"))
        .and(wiremock::matchers::query_param_is_missing("page"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(files(&["docs/index.md"])).insert_header("link", next.as_str()),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{REPO}/pulls/7/files")))
        .and(query_param("page", "2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            {"filename": "config/clusters/cluster2/renamed.values.yaml", "status": "renamed",
             "previous_filename": "config/clusters/cluster2/hub2.values.yaml"},
            {"filename": "config/clusters/cluster3/prod.values.yaml", "status": "removed"}
        ])))
        .expect(1)
        .mount(&server)
        .await;

    let result = generate(&server, "pull_request", pr_event(7, &["deployer:deploy-support"], 3)).run_async().await;
    assert!(result.success(), "{}\n{}", result.stdout, result.stderr);
    assert_eq!(
        hubs(&result),
        [
            "cluster2/hub2: Following helm chart values files were modified: hub2.values.yaml",
            "cluster3/prod: Following helm chart values files were modified: prod.values.yaml",
        ]
    );
    // The label came from the payload: every support chart upgrades.
    let staging = result.json_output("support-and-staging-matrix-jobs");
    assert!(
        staging.as_array().expect("array").iter().filter(|j| j["upgrade_support"] == true).count() == 3,
        "{staging}"
    );
    assert!(result.stdout.contains("GitHub API: 2 requests"), "{}", result.stdout);
    // The token is registered as a secret first, and appears nowhere else.
    assert!(result.stdout.starts_with("::add-mask::test-token\n"), "{}", result.stdout);
    assert_eq!(result.stdout.matches("test-token").count(), 1, "{}", result.stdout);
    assert!(!result.stderr.contains("test-token"));
}

#[tokio::test(flavor = "multi_thread")]
async fn pull_request_target_works_the_same_and_labels_input_wins() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(format!("{REPO}/pulls/8/files")))
        .respond_with(ResponseTemplate::new(200).set_body_json(files(&["config/clusters/cluster1/hub1.values.yaml"])))
        .mount(&server)
        .await;
    let result = generate(&server, "pull_request_target", pr_event(8, &["deployer:skip-deploy"], 1))
        .input("labels", "[]")
        .run_async()
        .await;
    assert!(result.success(), "{}", result.stderr);
    assert_eq!(hubs(&result), ["cluster1/hub1: Following helm chart values files were modified: hub1.values.yaml"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pull_request_with_more_files_than_listed_plans_everything() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(format!("{REPO}/pulls/9/files")))
        .respond_with(ResponseTemplate::new(200).set_body_json(files(&["docs/index.md"])))
        .mount(&server)
        .await;
    let result = generate(&server, "pull_request", pr_event(9, &[], 3500)).run_async().await;
    assert!(result.success(), "{}", result.stderr);
    let all = hubs(&result);
    assert_eq!(all.len(), 9, "{all:?}");
    assert!(all.iter().all(|h| h.ends_with("Changed files could not all be listed, so everything is planned")));
    assert!(result.stdout.contains("::warning::pull request #9 lists 1 files, which may not be every changed file"));
}

#[tokio::test(flavor = "multi_thread")]
async fn three_thousand_files_is_treated_as_incomplete() {
    let server = MockServer::start().await;
    let page: Vec<Value> = (0..100).map(|i| json!({"filename": format!("docs/{i}.md"), "status": "added"})).collect();
    for number in 1..=30 {
        let mut response = ResponseTemplate::new(200).set_body_json(Value::Array(page.clone()));
        if number < 30 {
            let link =
                format!("<{}{REPO}/pulls/10/files?per_page=100&page={}>; rel=\"next\"", server.uri(), number + 1);
            response = response.insert_header("link", link.as_str());
        }
        let mut mock = Mock::given(method("GET")).and(path(format!("{REPO}/pulls/10/files")));
        mock = if number == 1 {
            mock.and(wiremock::matchers::query_param_is_missing("page"))
        } else {
            mock.and(query_param("page", number.to_string()))
        };
        mock.respond_with(response).expect(1).mount(&server).await;
    }
    let result = generate(&server, "pull_request", pr_event(10, &[], 3000)).run_async().await;
    assert!(result.success(), "{}", result.stderr);
    assert_eq!(hubs(&result).len(), 9);
    assert!(result.stdout.contains("GitHub API: 30 requests"), "{}", result.stdout);
}

#[tokio::test(flavor = "multi_thread")]
async fn push_uses_the_merged_pull_request_and_ignores_open_ones() {
    let server = MockServer::start().await;
    let after = sha('b');
    Mock::given(method("GET"))
        .and(path(format!("{REPO}/commits/{after}/pulls")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            {"number": 11, "merged_at": "2026-11-27T00:00:00Z", "merge_commit_sha": after,
             "labels": [{"name": "deployer:deploy-support"}]},
            {"number": 12, "merged_at": null, "merge_commit_sha": sha('c'), "labels": [{"name": "deployer:skip-deploy"}]}
        ])))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{REPO}/pulls/11/files")))
        .respond_with(ResponseTemplate::new(200).set_body_json(files(&["config/clusters/cluster3/prod.values.yaml"])))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{REPO}/pulls/12/files")))
        .respond_with(ResponseTemplate::new(500))
        .expect(0)
        .mount(&server)
        .await;

    let event = json!({"before": sha('d'), "after": after}).to_string();
    let result = generate(&server, "push", event).run_async().await;
    assert!(result.success(), "{}", result.stderr);
    assert_eq!(hubs(&result), ["cluster3/prod: Following helm chart values files were modified: prod.values.yaml"]);
    let support = result.json_output("support-and-staging-matrix-jobs");
    assert_eq!(support[0]["reason_for_support_redeploy"], "deployer:deploy-support label detected", "{support}");
}

#[tokio::test(flavor = "multi_thread")]
async fn push_without_a_pull_request_compares_before_and_after() {
    let server = MockServer::start().await;
    let (before, after) = (sha('d'), sha('e'));
    Mock::given(method("GET"))
        .and(path(format!("{REPO}/commits/{after}/pulls")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{REPO}/compare/{before}...{after}")))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"files": files(&["config/clusters/cluster2/hub3.values.yaml"])})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let event = json!({"before": before, "after": after}).to_string();
    let result = generate(&server, "push", event).run_async().await;
    assert!(result.success(), "{}", result.stderr);
    assert_eq!(hubs(&result), ["cluster2/hub3: Following helm chart values files were modified: hub3.values.yaml"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_comparison_of_300_files_plans_everything() {
    let server = MockServer::start().await;
    let (before, after) = (sha('d'), sha('f'));
    Mock::given(method("GET"))
        .and(path(format!("{REPO}/commits/{after}/pulls")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .mount(&server)
        .await;
    let many: Vec<String> = (0..300).map(|i| format!("docs/{i}.md")).collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    Mock::given(method("GET"))
        .and(path(format!("{REPO}/compare/{before}...{after}")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"files": files(&many)})))
        .mount(&server)
        .await;
    let result = generate(&server, "push", json!({"before": before, "after": after}).to_string()).run_async().await;
    assert!(result.success(), "{}", result.stderr);
    assert_eq!(hubs(&result).len(), 9);
    assert!(result.stdout.contains("::warning::the comparison"), "{}", result.stdout);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_branch_plans_everything_without_asking_the_api() {
    let server = MockServer::start().await;
    let event = json!({"before": "0".repeat(40), "after": sha('1')}).to_string();
    let result = generate(&server, "push", event).run_async().await;
    assert!(result.success(), "{}", result.stderr);
    let all = hubs(&result);
    assert_eq!(all.len(), 9);
    assert!(all[0].ends_with("New branch with no earlier commit to compare with, so everything is planned"), "{all:?}");
    assert!(result.stdout.contains("::warning::New branch"), "{}", result.stdout);
    assert!(server.received_requests().await.unwrap_or_default().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn workflow_dispatch_with_deploy_all() {
    let server = MockServer::start().await;
    let result = generate(&server, "workflow_dispatch", json!({"inputs": {}}).to_string())
        .input("deploy-all", "true")
        .run_async()
        .await;
    assert!(result.success(), "{}", result.stderr);
    assert!(hubs(&result).iter().all(|h| h.ends_with(": deploy-all requested")));
    assert_eq!(hubs(&result).len(), 9);

    let nothing = generate(&server, "workflow_dispatch", json!({"inputs": {}}).to_string()).run_async().await;
    assert!(nothing.success(), "{}", nothing.stderr);
    assert_eq!(nothing.output("has-jobs"), "false");
    assert!(nothing.stdout.contains("::warning::workflow_dispatch run without `deploy-all: true`"));
}

#[tokio::test(flavor = "multi_thread")]
async fn other_events_need_changed_files() {
    let server = MockServer::start().await;
    let result = generate(&server, "schedule", "{}".into()).run_async().await;
    assert_eq!(result.output.status.code(), Some(1));
    assert!(result
        .stdout
        .contains("::error::invalid input `changed-files`: cannot find the changed files of a `schedule` event"));
    assert_eq!(result.raw_outputs, "");
}
