//! The actions inside a container, started the way the GitHub runner starts a
//! Docker container action: `--workdir /github/workspace`; the workspace,
//! `/github/workflow` (event.json), `/github/file_commands` and `/github/home`
//! mounted; `INPUT_*` with hyphens kept; `GITHUB_*` pointing at the container
//! paths; and `--entrypoint` from the action's `action.yml`.
//!
//! These tests need Docker and the image built by `scripts/container-test.sh`,
//! which runs them (`--ignored`); `make test` lists them as ignored.

mod support;

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::json;
use support::fake_github::{FakeGitHub, HEAD_REPO, OWNER_REPO};
use support::{copy_tree, example_repo, parse_github_output, project_root, sha, zip_builder};

fn image() -> String {
    std::env::var("DEPLOYER_CONTAINER_IMAGE")
        .expect("DEPLOYER_CONTAINER_IMAGE is not set: run these tests with scripts/container-test.sh")
}

/// The test image standing in for `Dockerfile.deploy`, where setup-cluster
/// runs: FROM scratch with the static `action-setup-cluster` and the real sops.
fn deploy_image() -> String {
    std::env::var("DEPLOYER_DEPLOY_IMAGE")
        .expect("DEPLOYER_DEPLOY_IMAGE is not set: run these tests with scripts/container-test.sh")
}

/// The image an action runs in, as its `action.yml` says (`runs.image`).
fn image_for(action: &str) -> String {
    let text = fs::read_to_string(project_root().join("actions").join(action).join("action.yml")).expect("action.yml");
    let metadata: yaml_serde::Value = yaml_serde::from_str(&text).expect("YAML");
    match metadata["runs"]["image"].as_str() {
        Some("../../Dockerfile.deploy") => deploy_image(),
        _ => image(),
    }
}

/// The `runs.entrypoint` of `actions/<action>/action.yml`.
fn entrypoint(action: &str) -> String {
    let text = fs::read_to_string(project_root().join("actions").join(action).join("action.yml")).expect("action.yml");
    let metadata: yaml_serde::Value = yaml_serde::from_str(&text).expect("YAML");
    metadata["runs"]["entrypoint"].as_str().expect("entrypoint").to_owned()
}

struct ContainerRun {
    action: &'static str,
    network: &'static str,
    inputs: Vec<(String, String)>,
    env: Vec<(String, String)>,
    event: Option<(String, String)>,
}

struct ContainerResult {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    outputs: BTreeMap<String, String>,
    summary: String,
    elapsed: Duration,
}

impl ContainerRun {
    fn new(action: &'static str) -> Self {
        ContainerRun { action, network: "none", inputs: Vec::new(), env: Vec::new(), event: None }
    }

    fn input(mut self, name: &str, value: impl Into<String>) -> Self {
        self.inputs.push((name.to_owned(), value.into()));
        self
    }

    fn env(mut self, name: &str, value: impl Into<String>) -> Self {
        self.env.push((name.to_owned(), value.into()));
        self
    }

    fn event(mut self, name: &str, payload: serde_json::Value) -> Self {
        self.event = Some((name.to_owned(), payload.to_string()));
        self
    }

    /// Host networking, to reach a fake GitHub on 127.0.0.1.
    fn host_network(mut self) -> Self {
        self.network = "host";
        self
    }

    fn run(self, workspace: &Path) -> ContainerResult {
        let temp = tempfile::tempdir().expect("temp");
        let (workflow, commands, home) =
            (temp.path().join("workflow"), temp.path().join("file_commands"), temp.path().join("home"));
        for dir in [&workflow, &commands, &home] {
            fs::create_dir_all(dir).expect("dir");
        }
        // The runner creates the command files before the step starts.
        fs::write(commands.join("set_output_1"), "").expect("output file");
        fs::write(commands.join("step_summary_1"), "").expect("summary file");
        let (event_name, payload) = self.event.clone().unwrap_or(("workflow_dispatch".into(), "{}".into()));
        fs::write(workflow.join("event.json"), payload).expect("event");

        let mount = |host: &Path, container: &str| format!("{}:{container}", host.display());
        let mut command = Command::new("docker");
        command
            .args(["run", "--rm", "--network", self.network, "--workdir", "/github/workspace"])
            .args(["-v", &mount(workspace, "/github/workspace")])
            .args(["-v", &mount(&workflow, "/github/workflow")])
            .args(["-v", &mount(&commands, "/github/file_commands")])
            .args(["-v", &mount(&home, "/github/home")])
            .args(["-e", "HOME=/github/home", "-e", "GITHUB_ACTIONS=true", "-e", "CI=true"])
            .args(["-e", "GITHUB_WORKSPACE=/github/workspace"])
            .args(["-e", "GITHUB_EVENT_PATH=/github/workflow/event.json"])
            .args(["-e", &format!("GITHUB_EVENT_NAME={event_name}")])
            .args(["-e", "GITHUB_OUTPUT=/github/file_commands/set_output_1"])
            .args(["-e", "GITHUB_STEP_SUMMARY=/github/file_commands/step_summary_1"])
            .args(["-e", &format!("GITHUB_REPOSITORY={OWNER_REPO}")]);
        for (name, value) in &self.inputs {
            // The runner keeps hyphens: INPUT_CHANGED-FILES.
            command.args(["-e", &format!("INPUT_{}={value}", name.to_ascii_uppercase())]);
        }
        for (name, value) in &self.env {
            command.args(["-e", &format!("{name}={value}")]);
        }
        command.args(["--entrypoint", &entrypoint(self.action), &image_for(self.action)]);
        let started = Instant::now();
        let output = command.output().expect("docker run");
        let elapsed = started.elapsed();
        let raw = fs::read_to_string(commands.join("set_output_1")).expect("output file");
        ContainerResult {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            outputs: parse_github_output(&raw),
            summary: fs::read_to_string(commands.join("step_summary_1")).expect("summary file"),
            elapsed,
        }
    }
}

/// A measurement, on the test's stderr (not a step's log).
#[allow(clippy::print_stderr)]
fn report(action: &str, result: &ContainerResult) {
    eprintln!("timing: docker run {action}: {} ms", result.elapsed.as_millis());
}

fn writable_workspace() -> tempfile::TempDir {
    let temp = tempfile::tempdir().expect("temp");
    copy_tree(&example_repo(), temp.path());
    temp
}

#[test]
#[ignore = "needs Docker: run scripts/container-test.sh"]
fn generate_in_a_container() {
    let workspace = writable_workspace();
    let event = json!({"pull_request": {"number": 5, "head": {"sha": sha('a')}, "labels": [{"name": "deployer:deploy-support"}]}});
    let result = ContainerRun::new("generate")
        .event("pull_request", event)
        .input("changed-files", "config/clusters/cluster1/hub1.values.yaml")
        .run(workspace.path());
    report("generate", &result);
    assert_eq!(result.code, Some(0), "{}\n{}", result.stdout, result.stderr);
    assert_eq!(result.outputs["has-jobs"], "true");
    let prod: serde_json::Value = serde_json::from_str(&result.outputs["prod-hub-matrix-jobs"]).expect("json");
    assert_eq!(prod[0]["hub_name"], "hub1");
    let staging: serde_json::Value =
        serde_json::from_str(&result.outputs["support-and-staging-matrix-jobs"]).expect("json");
    assert_eq!(
        staging[0]["reason_for_support_redeploy"], "deployer:deploy-support label detected",
        "labels from the event"
    );
    assert!(result.summary.contains("### Production deployments"));
    assert!(result.stdout.contains("::group::Deployment plan"));

    // The plan folder was written by root inside the container; the runner's
    // user must still be able to clean it up.
    let plan = workspace.path().join("deployment-plan");
    let plan_file: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(plan.join("plan.json")).expect("plan.json")).expect("json");
    assert_eq!(plan_file["pr_number"], 5);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(fs::metadata(&plan).expect("dir").permissions().mode() & 0o777, 0o777);
        assert_eq!(fs::metadata(plan.join("comment.md")).expect("file").permissions().mode() & 0o777, 0o666);
    }
}

#[test]
#[ignore = "needs Docker: run scripts/container-test.sh"]
fn generate_reports_bad_config_in_a_container() {
    let workspace = writable_workspace();
    fs::write(workspace.path().join("config/clusters/cluster2/cluster.yaml"), "name: cluster2\nprovider: ibm\n")
        .expect("write");
    let result = ContainerRun::new("generate").input("changed-files", "x").run(workspace.path());
    assert_eq!(result.code, Some(1));
    assert!(
        result.stdout.contains(
            "::error file=config/clusters/cluster2/cluster.yaml,line=2,col=11::provider: unknown variant, expected one of"
        ),
        "{}",
        result.stdout
    );
    // One broken cluster blocks only itself: the others are planned, the
    // blocked one is listed, and the step still fails.
    assert_eq!(result.outputs["has-jobs"], "false", "{}", result.stdout);
    let blocked: serde_json::Value = serde_json::from_str(&result.outputs["blocked-clusters"]).expect("json");
    assert_eq!(blocked, json!(["cluster2"]));
    assert!(workspace.path().join("deployment-plan/plan.json").is_file(), "the others' plan is written");

    // A broken settings file stops everything: no output at all.
    fs::write(workspace.path().join("deployer.yaml"), "clusterz: {}\n").expect("write");
    let result = ContainerRun::new("generate").input("changed-files", "x").run(workspace.path());
    assert_eq!(result.code, Some(1), "{}\n{}", result.stdout, result.stderr);
    assert!(result.stdout.contains("::error file=deployer.yaml,line=1"), "{}", result.stdout);
    assert!(result.outputs.is_empty(), "{:?}", result.outputs);
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs Docker: run scripts/container-test.sh"]
async fn generate_finds_changes_through_the_api_in_a_container() {
    let server = wiremock::MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::path(format!("/repos/{OWNER_REPO}/pulls/6/files")))
        .respond_with(
            wiremock::ResponseTemplate::new(200).set_body_json(
                json!([{"filename": "config/clusters/cluster3/prod.values.yaml", "status": "modified"}]),
            ),
        )
        .expect(1)
        .mount(&server)
        .await;
    let workspace = writable_workspace();
    let event = json!({"pull_request": {"number": 6, "head": {"sha": sha('b')}, "labels": []}});
    let run = ContainerRun::new("generate")
        .host_network()
        .event("pull_request", event)
        .env("GITHUB_API_URL", server.uri())
        .env("DEPLOYER_ALLOW_INSECURE_ENDPOINTS", "1")
        .input("github-token", "test-token");
    let path = workspace.path().to_path_buf();
    let result = tokio::task::spawn_blocking(move || run.run(&path)).await.expect("run");
    report("generate (API)", &result);
    assert_eq!(result.code, Some(0), "{}\n{}", result.stdout, result.stderr);
    assert!(result.outputs["prod-hub-matrix-jobs"].contains("\"hub_name\":\"prod\""));
}

#[test]
#[ignore = "needs Docker: run scripts/container-test.sh"]
fn filter_in_a_container() {
    let workspace = tempfile::tempdir().expect("temp");
    let prod = json!([
        {"cluster_name": "a", "provider": "gcp", "hub_name": "prod", "reason_for_redeploy": "r"},
        {"cluster_name": "b", "provider": "aws", "hub_name": "prod", "reason_for_redeploy": "r"}
    ]);
    let legs = json!([
        {"cluster_name": "a", "provider": "gcp", "upgrade_support": true, "reason_for_support_redeploy": "r",
         "upgrade_staging": false, "reason_for_staging_redeploy": "", "staging_hubs": []},
        {"cluster_name": "b", "provider": "aws", "upgrade_support": true, "reason_for_support_redeploy": "r",
         "upgrade_staging": false, "reason_for_staging_redeploy": "", "staging_hubs": []}
    ]);
    let result = ContainerRun::new("filter")
        .input("prod-hub-matrix-jobs", prod.to_string())
        .input("support-and-staging-matrix-jobs", legs.to_string())
        .input("results", r#"{"a": "success", "b": "failure"}"#)
        .run(workspace.path());
    report("filter", &result);
    assert_eq!(result.code, Some(0), "{}\n{}", result.stdout, result.stderr);
    let kept: serde_json::Value = serde_json::from_str(&result.outputs["filtered-prod-hub-matrix-jobs"]).expect("json");
    assert_eq!(kept.as_array().map(Vec::len), Some(1));
    assert_eq!(kept[0]["cluster_name"], "a");
    assert!(result.summary.contains("| b | prod | Skip |"));
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs Docker: run scripts/container-test.sh"]
async fn comment_in_a_container() {
    let fake = FakeGitHub::start().await;
    fake.pull(9, &sha('c'));
    let plan = json!({"version": 1, "pr_number": 9, "head_sha": sha('c'), "support-and-staging-matrix-jobs": [],
        "prod-hub-matrix-jobs": [{"cluster_name": "c1", "provider": "gcp", "hub_name": "prod", "reason_for_redeploy": "r"}]});
    fake.artifact(
        55,
        "deployment-plan",
        zip_builder::build(&[zip_builder::Entry::file("plan.json", plan.to_string())]),
    );
    let workspace = tempfile::tempdir().expect("temp");
    let event = json!({"workflow_run": {"id": 55, "head_sha": sha('c'), "event": "pull_request",
        "head_repository": {"full_name": HEAD_REPO}, "pull_requests": []}});
    let run = ContainerRun::new("comment")
        .host_network()
        .event("workflow_run", event)
        .env("GITHUB_API_URL", fake.api.uri())
        .env("DEPLOYER_ALLOW_INSECURE_ENDPOINTS", "1")
        .input("github-token", "test-token");
    let path = workspace.path().to_path_buf();
    let result = tokio::task::spawn_blocking(move || run.run(&path)).await.expect("run");
    report("comment", &result);
    assert_eq!(result.code, Some(0), "{}\n{}", result.stdout, result.stderr);
    assert_eq!(result.outputs["result"], "created");
    assert_eq!(fake.state().comments[&9].len(), 1);
    assert!(fake.state().storage_auth.iter().all(Option::is_none));
}

#[test]
#[ignore = "needs Docker: run scripts/container-test.sh"]
fn setup_cluster_in_a_container() {
    let workspace = writable_workspace();
    // cluster4's `enc-` kubeconfig, age-encrypted by the real sops here and
    // decrypted by the sops inside the image (setup-cluster runs in the deploy image).
    let kubeconfig = "apiVersion: v1\nkind: Config\nclusters:\n- name: cluster4\n  cluster:\n    server: https://k8s.example\nusers:\n- name: u\n  user:\n    token: container-token-123\ncontexts:\n- name: c\n  context: {cluster: cluster4, user: u}\ncurrent-context: c\n";
    let key = support::age::AgeKey::generate();
    support::age::sops_encrypt(
        kubeconfig,
        &key.recipient,
        &workspace.path().join("config/clusters/cluster4/enc-deployer-credentials.secret.yaml"),
    );
    let result = ContainerRun::new("setup-cluster")
        .input("cluster", "cluster4")
        .input("sops-age-key", key.file_text.clone())
        .env("RUNNER_TEMP", "/home/runner/work/_temp")
        .env("GITHUB_ENV", "/github/file_commands/set_env_1")
        .run(workspace.path());
    report("setup-cluster", &result);
    assert_eq!(result.code, Some(0), "{}\n{}", result.stdout, result.stderr);
    // The host's view of /github/home, for the output; both views for KUBECONFIG.
    assert_eq!(result.outputs["kubeconfig"], "/home/runner/work/_temp/_github_home/.kube/deployer-cluster4.yaml");
    assert!(result.stdout.contains("::add-mask::container-token-123"));
    assert!(result.stdout.contains(&format!("::add-mask::{}", key.secret)));
    assert!(result.stdout.contains("For sops: SOPS_AGE_KEY"), "{}", result.stdout);
}

#[test]
#[ignore = "needs Docker: run scripts/container-test.sh"]
fn generate_then_diff_in_containers() {
    let temp = tempfile::tempdir().expect("temp");
    let workspace = temp.path();
    copy_tree(&support::fixture("diff/repo"), workspace);
    copy_tree(&support::fixture("diff/repo"), &workspace.join("base"));
    fs::write(workspace.join("config/clusters/beta/hub-c.values.yaml"), "greeting: hello from a container\n")
        .expect("edit");
    let changed = "config/clusters/beta/hub-c.values.yaml";
    let generate = ContainerRun::new("generate").input("changed-files", changed).run(workspace);
    assert_eq!(generate.code, Some(0), "{}\n{}", generate.stdout, generate.stderr);
    // The stand-in image is FROM scratch, without /tmp (the real one is Alpine).
    let diff = ContainerRun::new("diff").input("base-dir", "base").env("TMPDIR", "/github/home").run(workspace);
    report("diff", &diff);
    assert_eq!(diff.code, Some(0), "{}\n{}", diff.stdout, diff.stderr);
    assert_eq!(diff.outputs["changed-releases"], "1", "{}", diff.stdout);
    assert!(diff.stdout.contains("+  greeting: hello from a container"), "{}", diff.stdout);
    let plan = fs::read_to_string(workspace.join("deployment-plan/plan.json")).expect("plan.json");
    deployer::stages::comment::parse_untrusted_plan(plan.as_bytes()).expect("a plan.json the comment action accepts");
    assert!(plan.contains("\"manifest_diff\""), "{plan}");
}

#[test]
#[ignore = "needs Docker: run scripts/container-test.sh"]
fn the_image_holds_every_entrypoint_and_nothing_else() {
    let created = Command::new("docker").args(["create", &image()]).output().expect("docker create");
    assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stderr));
    let id = String::from_utf8_lossy(&created.stdout).trim().to_owned();
    let exported =
        Command::new("sh").arg("-c").arg(format!("docker export {id} | tar -tvf -")).output().expect("docker export");
    let _ = Command::new("docker").args(["rm", &id]).output();
    let listing = String::from_utf8_lossy(&exported.stdout).into_owned();
    let files: Vec<&str> = listing.lines().filter(|l| !l.starts_with('d')).collect();
    // setup-cluster runs in the deploy image (it runs sops), not here.
    for action in ["generate", "filter", "comment"] {
        let path = entrypoint(action);
        let relative = path.trim_start_matches('/');
        assert!(files.iter().any(|l| l.contains(relative)), "{action}: {path} is in the image:\n{listing}");
    }
    // Nothing but the binary and its links (a container also gets empty
    // /etc/hosts, /dev/console and the like from Docker; those are not the image's).
    let regular: Vec<&&str> = files.iter().filter(|l| l.starts_with('-') && l.contains(" usr/")).collect();
    assert_eq!(regular.len(), 1, "one regular file, the multi-call binary:\n{listing}");
    assert!(regular[0].ends_with("usr/local/bin/deployer-actions"), "{listing}");

    let inspect =
        Command::new("docker").args(["image", "inspect", "--format", "{{.Size}}", &image()]).output().expect("docker");
    let size: u64 = String::from_utf8_lossy(&inspect.stdout).trim().parse().expect("size");
    eprintln!("image size: {size} bytes");
    assert!(size < 10_000_000, "the runtime image is {size} bytes, over the 10 MB target");
}
