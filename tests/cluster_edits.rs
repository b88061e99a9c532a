//! A `cluster.yaml` edit upgrades only what it touched, when the file's
//! previous version is known: through `deployer generate --base` (a real git
//! repository), `--base-dir` (two folders) and `action-generate` (the contents
//! API of a fake GitHub on 127.0.0.1), with every fallback to the whole
//! cluster saying why.

mod support;

use std::fs;
use std::path::Path;
use std::process::Command;

use base64::Engine;
use serde_json::{json, Value};
use support::fake_github::{FakeGitHub, HEAD_REPO, OWNER_REPO};
use support::{bin, sha, zip_builder, ActionResult, ActionRun};
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

const C1: &str = "config/clusters/c1/cluster.yaml";
const C2: &str = "config/clusters/c2/cluster.yaml";
const API_REPO: &str = "/repos/octo-org/infra";

const BASE_C1: &str = "\
name: c1
provider: gcp
gcp:
  project: p1
  cluster: c1
  zone: us-central1
support:
  helm_chart_values_files:
    - support.values.yaml
hubs:
  - name: staging
    helm_chart: basehub
    helm_chart_values_files:
      - staging.values.yaml
  - name: prod1
    helm_chart: basehub
    helm_chart_values_files:
      - prod1.values.yaml
  - name: prod2
    helm_chart: basehub
    helm_chart_values_files:
      - prod2.values.yaml
";

const C2_TEXT: &str = "\
name: c2
provider: aws
aws:
  account: \"123456789012\"
  clusterName: c2
  region: us-west-2
support:
  helm_chart_values_files:
    - support.values.yaml
hubs:
  - name: staging
    helm_chart: basehub
    helm_chart_values_files:
      - staging.values.yaml
";

/// `BASE_C1` with `from` replaced by `to` (once; `from` must be there).
fn edit(from: &str, to: &str) -> String {
    assert!(BASE_C1.contains(from), "{from:?}");
    BASE_C1.replacen(from, to, 1)
}

const PROD2_ENTRY: &str =
    "  - name: prod2\n    helm_chart: basehub\n    helm_chart_values_files:\n      - prod2.values.yaml\n";

fn add_prod_hub() -> String {
    format!(
        "{BASE_C1}  - name: prod3\n    helm_chart: basehub\n    helm_chart_values_files:\n      - prod3.values.yaml\n"
    )
}

fn add_staging_hub() -> String {
    format!("{BASE_C1}  - name: staging2\n    helm_chart: basehub\n    helm_chart_values_files:\n      - staging.values.yaml\n")
}

fn edit_support() -> String {
    edit("    - support.values.yaml\n", "    - support.values.yaml\n    - extra-support.values.yaml\n")
}

fn edit_provider() -> String {
    edit(
        "provider: gcp\n",
        "provider: aws\naws:\n  account: \"123456789012\"\n  clusterName: c1\n  region: us-east-1\n",
    )
}

fn edit_access_block() -> String {
    edit("zone: us-central1", "zone: europe-west1")
}

fn remove_hub() -> String {
    edit(PROD2_ENTRY, "")
}

fn edit_prod_entry() -> String {
    edit("      - prod1.values.yaml\n", "      - prod1.values.yaml\n      - extra-prod.values.yaml\n")
}

fn reorder_and_comment() -> String {
    format!("# hubs are listed newest first now\n{}{PROD2_ENTRY}", BASE_C1.replace(PROD2_ENTRY, ""))
        .replace("hubs:\n", "hubs:\n  # the canary\n")
}

const WHOLE: &str = "cluster.yaml file was modified";

/// Each edit, and what it plans: one line per support chart, staging leg, prod hub and removed hub.
fn scenarios() -> Vec<(&'static str, String, Vec<String>)> {
    let lines = |items: &[&str]| items.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    let whole = |provider: &str| {
        vec![
            format!("support {provider}/c1: {WHOLE}"),
            format!("staging {provider}/c1 [staging]: {WHOLE}"),
            format!("prod {provider}/c1/prod1: {WHOLE}"),
            format!("prod {provider}/c1/prod2: {WHOLE}"),
        ]
    };
    vec![
        (
            "a prod hub added: that hub and the staging canary",
            add_prod_hub(),
            lines(&[
                "staging gcp/c1 [staging]: Following prod hubs require redeploy: prod3",
                "prod gcp/c1/prod3: cluster.yaml: hub entry prod3 was added",
            ]),
        ),
        (
            "a staging hub added: only that hub",
            add_staging_hub(),
            lines(&["staging gcp/c1 [staging2]: cluster.yaml: hub entry staging2 was added"]),
        ),
        (
            "a prod hub's entry changed: that hub and the canary",
            edit_prod_entry(),
            lines(&[
                "staging gcp/c1 [staging]: Following prod hubs require redeploy: prod1",
                "prod gcp/c1/prod1: cluster.yaml: hub entry prod1 was modified",
            ]),
        ),
        (
            "the support block: only support",
            edit_support(),
            lines(&["support gcp/c1: cluster.yaml: support block was modified"]),
        ),
        ("the provider: the whole cluster", edit_provider(), whole("aws")),
        ("an access block: the whole cluster", edit_access_block(), whole("gcp")),
        ("a hub removed: nothing, and a note", remove_hub(), lines(&["removed c1/prod2"])),
        ("hubs reordered, comments added: nothing", reorder_and_comment(), vec![]),
    ]
}

/// Writes a repository whose `c1/cluster.yaml` is `c1`.
fn write_tree(root: &Path, c1: &str) {
    let files: &[(&str, &str)] = &[
        ("helm-charts/basehub/Chart.yaml", "apiVersion: v2\nname: basehub\nversion: 1.0.0\n"),
        ("helm-charts/support/Chart.yaml", "apiVersion: v2\nname: support\nversion: 1.0.0\n"),
        (C1, c1),
        (C2, C2_TEXT),
    ];
    for (file, text) in files {
        write(root, file, text);
    }
    for values in [
        "support.values.yaml",
        "extra-support.values.yaml",
        "staging.values.yaml",
        "prod1.values.yaml",
        "prod2.values.yaml",
        "prod3.values.yaml",
        "extra-prod.values.yaml",
    ] {
        write(root, &format!("config/clusters/c1/{values}"), "{}\n");
    }
    for values in ["support.values.yaml", "staging.values.yaml"] {
        write(root, &format!("config/clusters/c2/{values}"), "{}\n");
    }
}

fn write(root: &Path, file: &str, text: &str) {
    let path = root.join(file);
    fs::create_dir_all(path.parent().expect("parent")).expect("folder");
    fs::write(path, text).expect("write");
}

/// The plan as lines: from `deployer generate --output json`, or from `plan.json`.
fn plan_lines(plan: &Value) -> Vec<String> {
    let text = |value: &Value| value.as_str().unwrap_or_default().to_owned();
    let mut lines = Vec::new();
    for job in plan["support-and-staging-matrix-jobs"].as_array().expect("support-and-staging array") {
        let cluster = format!("{}/{}", text(&job["provider"]), text(&job["cluster_name"]));
        if job["upgrade_support"] == true {
            lines.push(format!("support {cluster}: {}", text(&job["reason_for_support_redeploy"])));
        }
        if job["upgrade_staging"] == true {
            let hubs: Vec<String> = job["staging_hubs"].as_array().expect("hubs").iter().map(text).collect();
            lines.push(format!(
                "staging {cluster} [{}]: {}",
                hubs.join(", "),
                text(&job["reason_for_staging_redeploy"])
            ));
        }
    }
    for job in plan["prod-hub-matrix-jobs"].as_array().expect("prod array") {
        lines.push(format!(
            "prod {}/{}/{}: {}",
            text(&job["provider"]),
            text(&job["cluster_name"]),
            text(&job["hub_name"]),
            text(&job["reason_for_redeploy"])
        ));
    }
    for removed in plan["removed_hubs"].as_array().into_iter().flatten() {
        lines.push(format!("removed {}/{}", text(&removed["cluster_name"]), text(&removed["hub_name"])));
    }
    lines
}

fn deployer(args: &[&str], repo: &Path) -> Value {
    let output = Command::new(bin("deployer")).args(args).arg("--repo").arg(repo).output().expect("deployer");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{args:?}: {stderr}");
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&output.stdout)))
}

fn git(repo: &Path, args: &[&str]) {
    let status = Command::new("git")
        .current_dir(repo)
        .args(["-c", "user.name=t", "-c", "user.email=t@example.org", "-c", "commit.gpgsign=false"])
        .args(args)
        .status()
        .expect("git");
    assert!(status.success(), "git {args:?}");
}

/// A git repository: `main` with the base tree, and `HEAD` on a branch with `c1` as the cluster file.
fn git_repo(c1: &str) -> tempfile::TempDir {
    let temp = tempfile::tempdir().expect("temp");
    let repo = temp.path();
    write_tree(repo, BASE_C1);
    git(repo, &["init", "-q", "-b", "main"]);
    git(repo, &["add", "-A"]);
    git(repo, &["commit", "-qm", "base"]);
    git(repo, &["checkout", "-qb", "change"]);
    write(repo, C1, c1);
    git(repo, &["commit", "-qam", "edit c1"]);
    temp
}

#[test]
fn with_base_each_edit_plans_only_what_it_touched() {
    for (name, c1, expected) in scenarios() {
        let repo = git_repo(&c1);
        let plan = deployer(&["generate", "--base", "main", "--output", "json"], repo.path());
        assert_eq!(plan_lines(&plan), expected, "{name}");
    }
}

#[test]
fn with_base_dir_each_edit_plans_only_what_it_touched() {
    for (name, c1, expected) in scenarios() {
        let temp = tempfile::tempdir().expect("temp");
        let (base, head) = (temp.path().join("base"), temp.path().join("head"));
        write_tree(&base, BASE_C1);
        write_tree(&head, &c1);
        let base_dir = base.to_str().expect("utf-8");
        let plan = deployer(&["generate", "--base-dir", base_dir, "--changed-files", C1, "--output", "json"], &head);
        assert_eq!(plan_lines(&plan), expected, "{name}");
    }
}

#[test]
fn without_a_previous_version_a_cluster_file_edit_plans_the_whole_cluster_as_before() {
    let temp = tempfile::tempdir().expect("temp");
    write_tree(temp.path(), &add_prod_hub());
    let plan = deployer(&["generate", "--changed-files", C1, "--output", "json"], temp.path());
    let lines = plan_lines(&plan);
    assert_eq!(lines.len(), 5, "{lines:?}");
    assert!(lines.iter().all(|line| line.ends_with(&format!(": {WHOLE}"))), "{lines:?}");
    assert_eq!(plan["removed_hubs"], serde_json::json!([]), "every key is always there: {plan}");
}

#[test]
fn a_new_cluster_file_plans_its_whole_cluster_saying_why() {
    let new = "cluster.yaml file was modified (previous version unavailable: not in the base commit)";
    let expected = vec![format!("support aws/c2: {new}"), format!("staging aws/c2 [staging]: {new}")];

    // git: c2 did not exist at the merge base.
    let temp = tempfile::tempdir().expect("temp");
    let repo = temp.path();
    write_tree(repo, BASE_C1);
    fs::remove_file(repo.join(C2)).expect("remove c2");
    git(repo, &["init", "-q", "-b", "main"]);
    git(repo, &["add", "-A"]);
    git(repo, &["commit", "-qm", "base"]);
    git(repo, &["checkout", "-qb", "change"]);
    write(repo, C2, C2_TEXT);
    git(repo, &["add", "-A"]);
    git(repo, &["commit", "-qm", "add c2"]);
    assert_eq!(plan_lines(&deployer(&["generate", "--base", "main", "--output", "json"], repo)), expected);

    // A base folder without it.
    let base = tempfile::tempdir().expect("temp");
    write_tree(base.path(), BASE_C1);
    fs::remove_file(base.path().join(C2)).expect("remove c2");
    let base_dir = base.path().to_str().expect("utf-8");
    let plan = deployer(&["generate", "--base-dir", base_dir, "--changed-files", C2, "--output", "json"], repo);
    assert_eq!(plan_lines(&plan), expected);
}

#[test]
fn a_base_folder_file_that_is_a_link_is_not_followed() {
    let temp = tempfile::tempdir().expect("temp");
    let (base, head) = (temp.path().join("base"), temp.path().join("head"));
    write_tree(&base, BASE_C1);
    write_tree(&head, &add_prod_hub());
    // The base's cluster file points out of the base folder, at the head's: followed, the edit would look like nothing.
    fs::remove_file(base.join(C1)).expect("remove");
    #[cfg(unix)]
    std::os::unix::fs::symlink(head.join(C1), base.join(C1)).expect("symlink");
    let base_dir = base.to_str().expect("utf-8");
    let plan = deployer(&["generate", "--base-dir", base_dir, "--changed-files", C1, "--output", "json"], &head);
    let lines = plan_lines(&plan);
    let why = "cluster.yaml file was modified (previous version unavailable: in the base folder, it is a symlink to a path outside the repository)";
    assert_eq!(lines.len(), 5, "{lines:?}");
    assert!(lines.iter().all(|line| line.ends_with(why)), "{lines:?}");
}

#[test]
fn base_dir_needs_changed_files_and_excludes_base() {
    let temp = tempfile::tempdir().expect("temp");
    write_tree(temp.path(), BASE_C1);
    let dir = temp.path().to_str().expect("utf-8");
    let cases = [
        (vec!["generate", "--base-dir", dir], "the following required arguments were not provided"),
        (vec!["generate", "--base-dir", dir, "--base", "main"], "cannot be used with"),
    ];
    for (args, expected) in cases {
        let output = Command::new(bin("deployer")).args(&args).arg("--repo").arg(dir).output().expect("deployer");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(expected) && stderr.contains("--base-dir"), "{args:?}: {stderr}");
    }
}

#[test]
fn the_log_table_notes_removed_hubs() {
    let repo = git_repo(&remove_hub());
    let output = Command::new(bin("deployer"))
        .args(["generate", "--base", "main", "--repo"])
        .arg(repo.path())
        .output()
        .expect("run");
    let table = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{table}");
    assert!(table.contains("No production hub upgrades will be triggered"), "{table}");
    assert!(table.contains("Hubs removed from cluster.yaml"), "{table}");
    assert!(table.lines().any(|line| line.contains(" c1 ") && line.contains(" prod2 ")), "{table}");
    assert!(table.contains("Nothing is uninstalled"), "{table}");
}

// ---- the action: the contents API at the base commit ----

fn b64(text: &str) -> String {
    let encoded = base64::engine::general_purpose::STANDARD.encode(text);
    // As GitHub sends it: lines of 60 characters.
    encoded.as_bytes().chunks(60).map(|c| String::from_utf8_lossy(c).into_owned()).collect::<Vec<_>>().join("\n") + "\n"
}

/// Answers the contents API for `file` at `base` with `text` (once).
async fn serve_contents(server: &MockServer, file: &str, base: &str, answer: ResponseTemplate, times: u64) {
    Mock::given(method("GET"))
        .and(path(format!("{API_REPO}/contents/{file}")))
        .and(query_param("ref", base))
        .and(header("authorization", "Bearer test-token"))
        .respond_with(answer)
        .expect(times)
        .mount(server)
        .await;
}

fn file_answer(text: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(
        json!({"type": "file", "encoding": "base64", "size": text.len(), "name": "cluster.yaml", "path": C1, "content": b64(text)}),
    )
}

fn workspace(c1: &str) -> tempfile::TempDir {
    let temp = tempfile::tempdir().expect("temp");
    write_tree(temp.path(), c1);
    temp
}

fn pr_event(number: u64, base: Option<&str>) -> String {
    let mut pr = json!({"number": number, "head": {"sha": sha('a'), "repo": {"full_name": HEAD_REPO}}, "labels": []});
    if let Some(base) = base {
        pr["base"] = json!({"sha": base});
    }
    json!({"pull_request": pr}).to_string()
}

fn action(server: &MockServer, workspace: &Path, event_name: &str, event: String) -> ActionRun {
    ActionRun::new("action-generate", workspace)
        .github(&server.uri())
        .env("GITHUB_EVENT_NAME", event_name)
        .event(event)
        .temp_input("plan-dir", "plan")
}

/// The plan as lines, from the step's outputs and its `plan.json` (which must agree).
fn action_lines(result: &ActionResult) -> Vec<String> {
    assert!(result.success(), "{}\n{}", result.stdout, result.stderr);
    let plan: Value =
        serde_json::from_str(&fs::read_to_string(result.workspace.join("plan/plan.json")).expect("plan.json"))
            .expect("json");
    for key in ["support-and-staging-matrix-jobs", "prod-hub-matrix-jobs"] {
        assert_eq!(result.json_output(key), plan[key], "{key}");
    }
    plan_lines(&plan)
}

#[tokio::test(flavor = "multi_thread")]
async fn action_pull_request_adding_a_hub_plans_that_hub_and_the_canary() {
    let server = MockServer::start().await;
    let base = sha('b');
    Mock::given(method("GET"))
        .and(path(format!("{API_REPO}/pulls/7/files")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            {"filename": C1, "status": "modified"},
            {"filename": "config/clusters/c1/prod3.values.yaml", "status": "added"}
        ])))
        .expect(1)
        .mount(&server)
        .await;
    serve_contents(&server, C1, &base, file_answer(BASE_C1), 1).await;
    let ws = workspace(&add_prod_hub());
    let result = action(&server, ws.path(), "pull_request", pr_event(7, Some(&base))).run_async().await;
    assert_eq!(
        action_lines(&result),
        [
            "staging gcp/c1 [staging]: Following prod hubs require redeploy: prod3",
            "prod gcp/c1/prod3: cluster.yaml: hub entry prod3 was added",
        ]
    );
    assert!(result.stdout.contains("GitHub API: 1 requests\n"), "{}", result.stdout);
    assert!(
        result.stdout.contains("GitHub API: 1 requests (previous versions of changed cluster files)\n"),
        "{}",
        result.stdout
    );
    // The token is masked once, and appears nowhere else.
    assert_eq!(result.stdout.matches("test-token").count(), 1, "{}", result.stdout);
}

#[tokio::test(flavor = "multi_thread")]
async fn action_push_editing_the_support_block_plans_only_support() {
    let server = MockServer::start().await;
    let (before, after) = (sha('c'), sha('d'));
    Mock::given(method("GET"))
        .and(path(format!("{API_REPO}/commits/{after}/pulls")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{API_REPO}/compare/{before}...{after}")))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"files": [{"filename": C1, "status": "modified"}]})),
        )
        .mount(&server)
        .await;
    serve_contents(&server, C1, &before, file_answer(BASE_C1), 1).await;
    let ws = workspace(&edit_support());
    let event = json!({"before": before, "after": after}).to_string();
    let result = action(&server, ws.path(), "push", event).run_async().await;
    assert_eq!(action_lines(&result), ["support gcp/c1: cluster.yaml: support block was modified"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn action_changed_files_input_with_a_pull_request_compares_too() {
    for (name, c1, expected) in scenarios() {
        let server = MockServer::start().await;
        let base = sha('e');
        serve_contents(&server, C1, &base, file_answer(BASE_C1), 1).await;
        let ws = workspace(&c1);
        let result = action(&server, ws.path(), "pull_request", pr_event(8, Some(&base)))
            .input("changed-files", C1)
            .run_async()
            .await;
        assert_eq!(action_lines(&result), expected, "{name}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn action_a_removed_hub_plans_nothing_and_every_view_notes_it() {
    let server = MockServer::start().await;
    let base = sha('f');
    let head = sha('a');
    serve_contents(&server, C1, &base, file_answer(BASE_C1), 1).await;
    let ws = workspace(&remove_hub());
    let result = action(&server, ws.path(), "pull_request", pr_event(12, Some(&base)))
        .input("changed-files", C1)
        .run_async()
        .await;
    assert_eq!(action_lines(&result), ["removed c1/prod2"]);
    assert_eq!(result.output("has-jobs"), "false");
    assert_eq!(result.json_output("prod-hub-matrix-jobs"), json!([]));
    // The log table and the step summary.
    assert!(result.stdout.contains("Hubs removed from cluster.yaml"), "{}", result.stdout);
    assert!(result.stdout.lines().any(|l| l.contains(" c1 ") && l.contains(" prod2 ")), "{}", result.stdout);
    assert!(result.summary.contains("### Hubs removed from cluster.yaml\n"), "{}", result.summary);
    assert!(result.summary.contains("| c1 | prod2 |"), "{}", result.summary);

    // The comment workflow posts it, from the validated plan.json.
    let zip = zip_builder::folder(&result.workspace.join("plan"));
    let fake = FakeGitHub::start().await;
    fake.pull(12, &head);
    fake.artifact(300, "deployment-plan", zip);
    let event = json!({"workflow_run": {"id": 300, "head_sha": head, "event": "pull_request",
        "head_repository": {"full_name": HEAD_REPO}, "pull_requests": []}});
    let comment = ActionRun::new("action-comment", std::env::temp_dir())
        .env("GITHUB_API_URL", fake.api.uri())
        .env("DEPLOYER_ALLOW_INSECURE_ENDPOINTS", "1")
        .env("GITHUB_REPOSITORY", OWNER_REPO)
        .env("GITHUB_EVENT_NAME", "workflow_run")
        .event(event.to_string())
        .input("github-token", "test-token")
        .run_async()
        .await;
    assert!(comment.success(), "{}\n{}", comment.stdout, comment.stderr);
    assert_eq!(comment.output("result"), "created");
    let body = fake.state().comments[&12][0].body.clone();
    assert!(body.contains("No production hub upgrades will be triggered"), "{body}");
    assert!(body.contains("### Hubs removed from cluster.yaml\n\nNothing is uninstalled"), "{body}");
    assert!(body.contains("| c1 | prod2 |"), "{body}");
}

/// The whole of c1, every reason `why`.
fn whole_c1(why: &str) -> Vec<String> {
    ["support gcp/c1", "staging gcp/c1 [staging]", "prod gcp/c1/prod1", "prod gcp/c1/prod2", "prod gcp/c1/prod3"]
        .iter()
        .map(|part| format!("{part}: {why}"))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn action_contents_404_plans_the_whole_cluster_as_a_new_file() {
    let server = MockServer::start().await;
    let base = sha('1');
    serve_contents(&server, C1, &base, ResponseTemplate::new(404).set_body_json(json!({"message": "Not Found"})), 1)
        .await;
    let ws = workspace(&add_prod_hub());
    let result = action(&server, ws.path(), "pull_request", pr_event(9, Some(&base)))
        .input("changed-files", C1)
        .run_async()
        .await;
    assert_eq!(
        action_lines(&result),
        whole_c1("cluster.yaml file was modified (previous version unavailable: not in the base commit)")
    );
    assert!(!result.stdout.contains("::warning"), "a new file is no surprise: {}", result.stdout);
}

#[tokio::test(flavor = "multi_thread")]
async fn action_contents_500_plans_the_whole_cluster_with_the_reason() {
    let server = MockServer::start().await;
    let base = sha('2');
    // The client tries a GET four times (0.5 s + 1 s + 2 s of backoff) before giving up.
    serve_contents(&server, C1, &base, ResponseTemplate::new(500).set_body_json(json!({"message": "boom"})), 4).await;
    let ws = workspace(&add_prod_hub());
    let result = action(&server, ws.path(), "pull_request", pr_event(10, Some(&base)))
        .input("changed-files", C1)
        .run_async()
        .await;
    assert_eq!(
        action_lines(&result),
        whole_c1("cluster.yaml file was modified (previous version unavailable: the contents API answered HTTP 500)")
    );
    assert!(
        result.stdout.contains(&format!(
            "::warning::cannot read the previous version of {C1}, so its whole cluster is planned: GitHub API GET {API_REPO}/contents/{C1}: HTTP 500: boom"
        )),
        "{}",
        result.stdout
    );
    assert!(result.stdout.contains("GitHub API: 4 requests (previous versions"), "{}", result.stdout);
}

#[tokio::test(flavor = "multi_thread")]
async fn action_without_a_base_plans_the_whole_cluster_saying_why() {
    let server = MockServer::start().await;
    let cases = [
        ("pull_request", pr_event(11, None), "the pull_request event payload has no base commit SHA"),
        (
            "push",
            json!({"before": "0".repeat(40), "after": sha('3')}).to_string(),
            "a new branch has no earlier commit to compare with",
        ),
    ];
    for (event_name, event, why) in cases {
        let ws = workspace(&add_prod_hub());
        let result = action(&server, ws.path(), event_name, event).input("changed-files", C1).run_async().await;
        let reason = format!("cluster.yaml file was modified (previous version unavailable: {why})");
        assert_eq!(action_lines(&result), whole_c1(&reason), "{event_name}");
    }
    // No token: nothing is asked.
    let ws = workspace(&add_prod_hub());
    let result = ActionRun::new("action-generate", ws.path())
        .env("GITHUB_API_URL", server.uri())
        .env("DEPLOYER_ALLOW_INSECURE_ENDPOINTS", "1")
        .env("GITHUB_REPOSITORY", OWNER_REPO)
        .env("GITHUB_EVENT_NAME", "pull_request")
        .event(pr_event(12, Some(&sha('4'))))
        .input("changed-files", C1)
        .temp_input("plan-dir", "plan")
        .run_async()
        .await;
    assert_eq!(
        action_lines(&result),
        whole_c1("cluster.yaml file was modified (previous version unavailable: no `github-token` to read it with)")
    );
    assert!(server.received_requests().await.unwrap_or_default().is_empty());
    // Without an event, as the conformance cases run: exactly as before.
    let ws = workspace(&add_prod_hub());
    let result =
        ActionRun::new("action-generate", ws.path()).input("changed-files", C1).temp_input("plan-dir", "plan").run();
    assert_eq!(action_lines(&result), whole_c1(WHOLE));
}
