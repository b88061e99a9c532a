//! The two-workflow hand-off end to end: `action-generate` in the pull
//! request's run writes the plan folder, the test stands in for
//! upload-artifact (zipping the folder), and `action-comment` in the
//! workflow_run run posts, then updates, one sticky comment.

mod support;

use serde_json::json;
use support::fake_github::{FakeGitHub, BOT, HEAD_REPO, OWNER_REPO};
use support::{copy_tree, example_repo, sha, zip_builder, ActionRun};

const PR: u64 = 31;

/// The pull request's run: plan the change, return the zipped plan folder.
fn pull_request_run(workspace: &std::path::Path, changed: &str, head: &str) -> Vec<u8> {
    let event = json!({"pull_request": {"number": PR, "head": {"sha": head}, "labels": []}});
    let result = ActionRun::new("action-generate", workspace)
        .env("GITHUB_EVENT_NAME", "pull_request")
        .event(event.to_string())
        .input("changed-files", changed)
        .run();
    assert!(result.success(), "{}\n{}", result.stdout, result.stderr);
    zip_builder::folder(&workspace.join(result.output("plan-dir")))
}

/// The workflow_run run: comment from the run's artifact.
async fn comment_run(fake: &FakeGitHub, run_id: u64, head: &str) -> support::ActionResult {
    let event = json!({"workflow_run": {"id": run_id, "head_sha": head, "event": "pull_request",
        "head_repository": {"full_name": HEAD_REPO}, "pull_requests": []}});
    ActionRun::new("action-comment", std::env::temp_dir())
        .env("GITHUB_API_URL", fake.api.uri())
        .env("DEPLOYER_ALLOW_INSECURE_ENDPOINTS", "1")
        .env("GITHUB_REPOSITORY", OWNER_REPO)
        .env("GITHUB_EVENT_NAME", "workflow_run")
        .event(event.to_string())
        .input("github-token", "test-token")
        .run_async()
        .await
}

#[tokio::test(flavor = "multi_thread")]
async fn plan_then_comment_then_update() {
    let workspace = tempfile::tempdir().expect("temp");
    copy_tree(&example_repo(), workspace.path());
    let fake = FakeGitHub::start().await;

    // First push to the PR: a prod hub changes.
    let first_head = sha('1');
    fake.pull(PR, &first_head);
    let zip = pull_request_run(workspace.path(), "config/clusters/cluster3/prod.values.yaml", &first_head);
    fake.artifact(100, "deployment-plan", zip);
    let first = comment_run(&fake, 100, &first_head).await;
    assert!(first.success(), "{}\n{}", first.stdout, first.stderr);
    assert_eq!(first.output("result"), "created");

    // Second push: the PR now also touches the support chart.
    let second_head = sha('2');
    fake.pull(PR, &second_head);
    let zip = pull_request_run(
        workspace.path(),
        "config/clusters/cluster3/prod.values.yaml,helm-charts/support/Chart.yaml",
        &second_head,
    );
    fake.artifact(101, "deployment-plan", zip);
    let second = comment_run(&fake, 101, &second_head).await;
    assert_eq!(second.output("result"), "updated", "{}\n{}", second.stdout, second.stderr);
    assert_eq!(second.output("comment-id"), first.output("comment-id"));

    let comments = fake.state().comments[&PR].clone();
    assert_eq!(comments.len(), 1, "one sticky comment");
    assert_eq!(comments[0].login, BOT);
    let body = &comments[0].body;
    assert!(
        body.starts_with("<!-- deployment-plan -->\nMerging this PR will trigger the following deployment actions.")
    );
    assert!(
        body.contains("| gcp | cluster3 | Yes | Support helm chart has been modified | Yes | staging1, staging2 |"),
        "{body}"
    );
    assert!(
        body.contains("| gcp | cluster3 | prod | Following helm chart values files were modified: prod.values.yaml |")
    );

    // The first run's artifact, replayed after the PR moved on, is refused: its head is stale.
    let stale = comment_run(&fake, 100, &first_head).await;
    assert_eq!(stale.output.status.code(), Some(1));
    assert!(stale.stdout.contains("the pull request has moved on"), "{}", stale.stdout);
}
