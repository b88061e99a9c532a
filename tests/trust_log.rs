//! No text from a stranger can act as a workflow command: hostile names,
//! keys, API answers and program output are fed to every action through the
//! real binaries, and their stdout and stderr are read the way the runner
//! reads them (`support::runner_log`). Only the commands the action meant to
//! issue may be recognised.

mod support;

use std::fs;
use std::path::Path;

use serde_json::json;
use support::fake_github::{FakeGitHub, HEAD_REPO, OWNER_REPO};
use support::runner_log::{command_names, commands, runner_lines};
use support::stubs::Stubs;
use support::zip_builder::{build, Entry};
use support::{copy_tree, example_repo, sha, yaml_quoted, ActionResult, ActionRun};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// Text that would issue a command if printed as it is.
const VECTORS: &[&str] = &[
    "\r::set-output name=x::y",
    "\r\n::error::x",
    "x##[error]y",
    "##[set-output name=a]b",
    "\n::add-mask::oops",
    "\n  ::stop-commands::x",
    "\u{202e}bidi\u{200b}\r::warning::z",
    "nul\0\r::error::nul",
    "\u{1b}[31m\r::error::red\u{1b}[0m",
    "a\u{2028}::notice::ls\u{85}::notice::nel\r::notice::cr",
];

/// The vectors that can be part of a file name (no `/`, no NUL).
fn file_name_vectors() -> impl Iterator<Item = &'static str> {
    VECTORS.iter().copied().filter(|v| !v.contains(['/', '\0']))
}

/// The vectors an environment variable can carry (no NUL).
fn env_vectors() -> impl Iterator<Item = &'static str> {
    VECTORS.iter().copied().filter(|v| !v.contains('\0'))
}

fn logs(result: &ActionResult) -> String {
    format!("stdout:\n{:?}\nstderr:\n{:?}", result.stdout, result.stderr)
}

/// The commands recognised in the run's stdout are exactly `expected` (by
/// name, with `add-mask` only for `secrets`), and stderr issues none.
fn assert_commands(result: &ActionResult, vector: &str, expected: &[&str], secrets: &[&str]) {
    let stdout = commands(&result.stdout);
    for mask in stdout.iter().filter(|c| c.name == "add-mask") {
        assert!(secrets.contains(&mask.data.as_str()), "{vector:?}: unexpected mask {mask:?}\n{}", logs(result));
    }
    let names: Vec<&str> = stdout.iter().map(|c| c.name.as_str()).filter(|n| *n != "add-mask").collect();
    assert_eq!(names, expected, "{vector:?}: stdout commands\n{}", logs(result));
    assert_eq!(command_names(&result.stderr), Vec::<String>::new(), "{vector:?}: stderr commands\n{}", logs(result));
}

#[test]
fn the_log_reader_follows_the_runner_rules() {
    assert_eq!(runner_lines("a\rb\r\nc\nd"), ["a", "b", "c", "d"]);
    assert_eq!(command_names("x\r::set-output name=x::y"), ["set-output"]);
    assert_eq!(command_names("ok\r\n  ::error::x"), ["error"]);
    assert_eq!(command_names("x##[error]y and ##[Warning title]z"), ["error", "warning"]);
    assert_eq!(command_names("::nope\n##[nope\n: :x::y"), Vec::<String>::new());
    let paused = "::stop-commands::T1\n::error::ignored\n##[error]ignored\n::t1::\n::error::seen\n";
    assert_eq!(command_names(paused), ["stop-commands", "resume-commands", "error"]);
    assert_eq!(
        command_names("::stop-commands::T\nx ##[T] y\n::error::z"),
        ["stop-commands", "resume-commands", "error"]
    );
    // Every vector is a command when printed raw: the tests below can fail.
    for vector in VECTORS {
        assert_ne!(command_names(vector), Vec::<String>::new(), "{vector:?}");
    }
}

fn repo() -> tempfile::TempDir {
    let temp = tempfile::tempdir().expect("temp");
    copy_tree(&example_repo(), temp.path());
    temp
}

fn generate(repo: &Path, changed: &[String]) -> ActionRun {
    ActionRun::new("action-generate", repo)
        .input("changed-files", serde_json::to_string(changed).expect("json"))
        .temp_input("plan-dir", "plan")
}

/// `cluster1/cluster.yaml` with its first hub renamed and its values file replaced.
fn rewrite_cluster1(repo: &Path, hub_name: &str, values_file: &str) {
    let file = repo.join("config/clusters/cluster1/cluster.yaml");
    let text = fs::read_to_string(&file).expect("cluster.yaml");
    let text = text.replacen("  - name: staging\n", &format!("  - name: {}\n", yaml_quoted(hub_name)), 1).replacen(
        "      - staging.values.yaml\n",
        &format!("      - {}\n", yaml_quoted(values_file)),
        1,
    );
    fs::write(file, text).expect("write cluster.yaml");
}

#[test]
fn generate_refuses_hostile_hub_names_without_running_them() {
    for vector in VECTORS {
        let repo = repo();
        rewrite_cluster1(repo.path(), &format!("hub{vector}"), "staging.values.yaml");
        let result = generate(repo.path(), &["config/clusters/cluster1/hub1.values.yaml".into()]).run();
        assert_eq!(result.output.status.code(), Some(1), "{}", logs(&result));
        assert!(result.stderr.contains("is not a valid hub name"), "{}", logs(&result));
        // cluster1 is blocked; the other clusters are planned (the plan group), then the run fails.
        assert_commands(&result, vector, &["warning", "group", "endgroup", "error"], &[]);
    }
}

#[test]
fn generate_errors_about_hostile_file_names_issue_no_commands() {
    for vector in file_name_vectors() {
        let repo = repo();
        let dir = repo.path().join(format!("config/clusters/c{vector}"));
        fs::create_dir_all(&dir).expect("hostile folder");
        fs::write(dir.join("cluster.yaml"), "name: [\n").expect("broken cluster.yaml");
        let result = generate(repo.path(), &["config/clusters/cluster1/hub1.values.yaml".into()]).run();
        assert_eq!(result.output.status.code(), Some(1), "{}", logs(&result));
        // The hostile cluster is blocked; the others are planned (the plan group), then the run fails.
        // (The bundled repository's `nofiles` hub adds one warning first.)
        assert_commands(&result, vector, &["warning", "group", "endgroup", "error"], &[]);
        let blocked: Vec<String> = serde_json::from_str(result.output("blocked-clusters")).expect("JSON");
        assert_eq!(blocked, [format!("c{vector}")], "{}", logs(&result));
    }
}

#[test]
fn generate_prints_hostile_file_names_and_labels_as_text() {
    for vector in file_name_vectors() {
        let repo = repo();
        let values = format!("staging{vector}.values.yaml");
        fs::write(repo.path().join("config/clusters/cluster1").join(&values), "# hostile\n").expect("values file");
        rewrite_cluster1(repo.path(), "staging", &values);
        fs::write(repo.path().join("deployer.yaml"), format!("labels:\n  deploy_support: {}\n", yaml_quoted(vector)))
            .expect("deployer.yaml");
        let changed = format!("config/clusters/cluster1/{values}");
        let result = generate(repo.path(), &[changed]).input("labels", json!([vector]).to_string()).run();
        assert!(result.success(), "{}", logs(&result));
        // The plan itself is intact: the hostile name is in the outputs, as data.
        let jobs = result.json_output("support-and-staging-matrix-jobs");
        let reason = jobs[0]["reason_for_staging_redeploy"].as_str().unwrap_or_default();
        assert!(reason.contains(&values), "{jobs}");
        assert_eq!(jobs[0]["reason_for_support_redeploy"], format!("{vector} label detected"), "{jobs}");
        // The bundled repository's `nofiles` hub lists no values files: one warning, then the plan.
        assert_commands(&result, vector, &["warning", "group", "endgroup"], &[]);
    }
}

#[test]
fn generate_errors_quoting_hostile_settings_issue_no_commands() {
    for vector in VECTORS {
        let repo = repo();
        // An unknown key: the parser's message quotes it.
        fs::write(repo.path().join("deployer.yaml"), format!("labels:\n  {}: x\n", yaml_quoted(vector)))
            .expect("settings");
        let result = generate(repo.path(), &["config/clusters/cluster1/hub1.values.yaml".into()]).run();
        assert_eq!(result.output.status.code(), Some(1), "{}", logs(&result));
        assert_commands(&result, vector, &["error"], &[]);
    }
}

#[test]
fn the_cli_prints_hostile_names_as_text_and_as_the_same_json() {
    for vector in file_name_vectors() {
        let repo = repo();
        let values = format!("staging{vector}.values.yaml");
        fs::write(repo.path().join("config/clusters/cluster1").join(&values), "# hostile\n").expect("values file");
        rewrite_cluster1(repo.path(), "staging", &values);
        let changed = json!([format!("config/clusters/cluster1/{values}")]).to_string();
        let root = repo.path().to_string_lossy().into_owned();
        for format in ["table", "json", "markdown"] {
            let output =
                support::deployer(&["generate", "--repo", &root, "--changed-files", &changed, "--output", format]);
            let stdout = String::from_utf8_lossy(&output.stdout);
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert!(output.status.success(), "{format} {vector:?}: {stdout}\n{stderr}");
            assert_eq!(command_names(&stdout), Vec::<String>::new(), "{format} {vector:?}: {stdout:?}");
            assert_eq!(command_names(&stderr), Vec::<String>::new(), "{format} {vector:?}: {stderr:?}");
            if format == "json" {
                let plan: serde_json::Value = serde_json::from_str(&stdout).expect("still JSON");
                let reason = plan["support-and-staging-matrix-jobs"][0]["reason_for_staging_redeploy"].as_str();
                assert!(reason.unwrap_or_default().ends_with(&format!(": {values}")), "{plan}");
            }
        }
        // An error about the same file, on stderr.
        fs::remove_file(repo.path().join("config/clusters/cluster1").join(&values)).expect("remove");
        let output = support::deployer(&["validate", "--repo", &root]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains("does not exist"), "{stderr}");
        assert_eq!(command_names(&stderr), Vec::<String>::new(), "{vector:?}: {stderr:?}");
    }
}

fn filter() -> ActionRun {
    ActionRun::new("action-filter", std::env::temp_dir())
}

#[test]
fn filter_prints_hostile_matrix_content_and_results_as_text() {
    for vector in VECTORS {
        let prod =
            json!([{"cluster_name": "c1", "provider": "gcp", "hub_name": "prod", "reason_for_redeploy": vector}]);
        let legs = json!([{"cluster_name": "c1", "provider": "gcp", "upgrade_support": false,
            "reason_for_support_redeploy": vector, "upgrade_staging": true, "staging_hubs": ["staging"],
            "reason_for_staging_redeploy": vector}]);
        let kept = filter()
            .input("prod-hub-matrix-jobs", prod.to_string())
            .input("support-and-staging-matrix-jobs", legs.to_string())
            .input("results", json!({"c1": "success"}).to_string())
            .run();
        assert!(kept.success(), "{}", logs(&kept));
        assert_commands(&kept, vector, &["group", "endgroup"], &[]);

        let refused = filter()
            .input("prod-hub-matrix-jobs", prod.to_string())
            .input("support-and-staging-matrix-jobs", legs.to_string())
            .input("results", json!({ (*vector): vector }).to_string())
            .run();
        assert_eq!(refused.output.status.code(), Some(1), "{}", logs(&refused));
        assert_commands(&refused, vector, &["error"], &[]);
    }
}

const RUN: u64 = 777;

fn comment(fake: &FakeGitHub) -> ActionRun {
    let event = json!({"workflow_run": {"id": RUN, "head_sha": sha('a'), "event": "pull_request",
        "head_repository": {"full_name": HEAD_REPO}, "pull_requests": []}});
    ActionRun::new("action-comment", std::env::temp_dir())
        .env("GITHUB_API_URL", fake.api.uri())
        .env("DEPLOYER_ALLOW_INSECURE_ENDPOINTS", "1")
        .env("GITHUB_REPOSITORY", OWNER_REPO)
        .env("GITHUB_EVENT_NAME", "workflow_run")
        .input("github-token", "test-token")
        .event(event.to_string())
}

#[tokio::test(flavor = "multi_thread")]
async fn comment_errors_quoting_hostile_plan_keys_and_values_issue_no_commands() {
    for vector in VECTORS {
        let job =
            |hub: &str| json!({"cluster_name": "c1", "provider": "gcp", "hub_name": hub, "reason_for_redeploy": "r"});
        let plans = [
            // An unknown key, quoted by the parser.
            json!({"version": 1, "pr_number": 12, (*vector): 1, "support-and-staging-matrix-jobs": [], "prod-hub-matrix-jobs": []}),
            // A hub name that is not one, quoted by the check.
            json!({"version": 1, "pr_number": 12, "support-and-staging-matrix-jobs": [], "prod-hub-matrix-jobs": [job(&format!("hub{vector}"))]}),
        ];
        for plan in plans {
            let fake = FakeGitHub::start().await;
            fake.pull(12, &sha('a'));
            fake.artifact(RUN, "deployment-plan", build(&[Entry::file("plan.json", plan.to_string())]));
            let result = comment(&fake).run_async().await;
            assert_eq!(result.output.status.code(), Some(1), "{}", logs(&result));
            assert!(result.stdout.contains("::error::refusing the artifact: plan.json: "), "{}", logs(&result));
            assert_commands(&result, vector, &["error"], &["test-token"]);
        }
    }
}

const REQUEST_TOKEN: &str = "runner-request-token-0001";
const ID_TOKEN: &str = "eyJhbGciOiJSUzI1NiJ9.github-oidc-id-token.0002";

#[tokio::test(flavor = "multi_thread")]
async fn setup_cluster_errors_quoting_hostile_api_answers_issue_no_commands() {
    for vector in VECTORS {
        for body in [
            ResponseTemplate::new(400).set_body_json(json!({"error": vector, "error_description": vector})),
            ResponseTemplate::new(403).set_body_string(format!("<html>{vector}</html>")),
        ] {
            let server = MockServer::start().await;
            Mock::given(method("GET"))
                .and(path("/oidc/token"))
                .respond_with(ResponseTemplate::new(200).set_body_json(json!({"value": ID_TOKEN})))
                .mount(&server)
                .await;
            Mock::given(method("POST")).and(path("/sts/v1/token")).respond_with(body).mount(&server).await;
            let workspace = repo();
            let home = tempfile::tempdir().expect("home");
            let env_file = home.path().join("github_env");
            fs::write(&env_file, "").expect("env file");
            let uri = server.uri();
            let result = ActionRun::new("action-setup-cluster", workspace.path())
                .env("HOME", home.path().to_string_lossy())
                .env("GITHUB_ENV", env_file.to_string_lossy())
                .env("DEPLOYER_ALLOW_INSECURE_ENDPOINTS", "1")
                .env("DEPLOYER_GOOGLE_STS_URL", format!("{uri}/sts"))
                .env("DEPLOYER_GOOGLE_IAM_URL", format!("{uri}/iam"))
                .env("ACTIONS_ID_TOKEN_REQUEST_URL", format!("{uri}/oidc/token?api-version=2.0"))
                .env("ACTIONS_ID_TOKEN_REQUEST_TOKEN", REQUEST_TOKEN)
                .input("cluster", "cluster1")
                .input("workload-identity-provider", "projects/1/locations/global/workloadIdentityPools/p/providers/d")
                .input("service-account", "deployer@cluster1-project.iam.gserviceaccount.com")
                .run_async()
                .await;
            assert_eq!(result.output.status.code(), Some(1), "{}", logs(&result));
            assert!(result.stdout.contains("::error::gcp: exchanging the GitHub OIDC token"), "{}", logs(&result));
            // The two endpoint overrides are announced; then the one error.
            assert_commands(&result, vector, &["warning", "warning", "error"], &[ID_TOKEN, REQUEST_TOKEN]);
        }
    }
}

#[test]
fn deploy_relays_and_reprints_hostile_helm_output_as_text() {
    for vector in env_vectors() {
        let temp = tempfile::tempdir().expect("temp");
        let repo = temp.path().join("repo");
        copy_tree(&example_repo(), &repo);
        let stubs = Stubs::new(&temp.path().join("stubs"));
        let mut run = ActionRun::new("action-deploy", &repo)
            .input("cluster", "cluster1")
            .input("hubs", "hub1")
            .env("STUB_HELM_FAIL_ON", "upgrade")
            .env("STUB_HELM_FAIL_OUTPUT", format!("Error: {vector}\n##[error]last line{vector}"));
        for (name, value) in stubs.env() {
            run = run.env(&name, value);
        }
        let result = run.run();
        assert_eq!(result.output.status.code(), Some(1), "{}", logs(&result));
        // The last lines are reprinted in the error, as text.
        assert!(result.stderr.contains("the last lines of its output:"), "{}", logs(&result));
        assert!(result.stderr.contains("last line"), "{}", logs(&result));
        assert_commands(&result, vector, &["group", "stop-commands", "resume-commands", "endgroup", "error"], &[]);
        // Each relayed line is sanitised on its own too, inside the pause.
        let inner = result.stdout.split("::stop-commands::").nth(1).expect("a paused block");
        let token = inner.lines().next().expect("token");
        let paused = &inner[token.len()..inner.find(&format!("::{token}::")).expect("resumed")];
        assert_eq!(command_names(paused), Vec::<String>::new(), "{vector:?}: {paused:?}");
    }
}
