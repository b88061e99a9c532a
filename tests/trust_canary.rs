//! The canary gate fails closed against stale and forged results, through
//! the real binaries: `action-deploy` with `leg` removes a results file left
//! in the workspace before anything else, refuses an item naming a cluster
//! twice, and removes every kubeconfig and credential file it wrote (on
//! success, failure and SIGTERM); `action-filter` with `results-from:
//! artifacts` counts a report only for the clusters of the leg whose job
//! index its artifact's name carries, and only from an attempt of this run.

mod support;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::fake_github::FakeGitHub;
use support::runner_log::commands;
use support::stubs::Stubs;
use support::zip_builder::{build, Entry};
use support::{bin, copy_tree, example_repo, ActionResult, ActionRun};
use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

const CLUSTER4_KUBECONFIG: &str = "apiVersion: v1\nkind: Config\nclusters:\n- name: cluster4\n  cluster:\n    server: https://cluster4.example\nusers:\n- name: u\n  user:\n    token: cluster4-static-token\ncontexts:\n- name: cluster4\n  context: {cluster: cluster4, user: u}\ncurrent-context: cluster4\n";

fn logs(result: &ActionResult) -> String {
    format!("stdout:\n{}\nstderr:\n{}", result.stdout, result.stderr)
}

/// The workflow commands of a run are exactly: the token's mask, the table's group, and
/// `warnings` warnings and `errors` errors; nothing on stderr.
fn only_commands(result: &ActionResult, warnings: usize, errors: usize) {
    let mut counted = (0, 0);
    for command in commands(&result.stdout) {
        match command.name.as_str() {
            "add-mask" => assert_eq!(command.data, "test-token", "{}", logs(result)),
            "group" | "endgroup" => {}
            "warning" => counted.0 += 1,
            "error" => counted.1 += 1,
            other => panic!("unexpected command {other}: {}", logs(result)),
        }
    }
    assert_eq!(counted, (warnings, errors), "(warnings, errors): {}", logs(result));
    assert_eq!(commands(&result.stderr), [], "{}", logs(result));
}

// ---------------------------------------------------------------------------
// Deploy legs: a repository copy, stubs, and a $HOME and $TMPDIR of their own.

/// Inserted into the helm stub before its failures: each upgrade records what `$HOME/.kube` holds at that moment, and
/// with `STUB_HELM_SLEEP` waits (its pid in `$STUB_STATE/helm.pid`) until it is stopped.
const HELM_PATCH: &str = r#"if [ "$1" = upgrade ]; then
    ls -A "$HOME/.kube" | tr '\n' ' ' >>"$STUB_STATE/kube.log"; echo >>"$STUB_STATE/kube.log"
fi
if [ "$1" = upgrade ] && [ -n "$STUB_HELM_SLEEP" ]; then
    sleep "$STUB_HELM_SLEEP" &
    echo $$ >"$STUB_STATE/helm.pid.tmp" && mv "$STUB_STATE/helm.pid.tmp" "$STUB_STATE/helm.pid"
    wait
fi
"#;

struct Leg {
    temp: tempfile::TempDir,
    repo: PathBuf,
    home: PathBuf,
    tmpdir: PathBuf,
    stubs: Stubs,
}

impl Leg {
    fn new() -> Leg {
        let temp = tempfile::tempdir().expect("temp");
        let repo = temp.path().join("repo");
        copy_tree(&example_repo(), &repo);
        let home = temp.path().join("home");
        let tmpdir = temp.path().join("tmp");
        fs::create_dir(&home).expect("home");
        fs::create_dir(&tmpdir).expect("tmp");
        let stubs = Stubs::new(&temp.path().join("stubs"));
        let helm = stubs.bin.join("helm");
        let script = fs::read_to_string(&helm).expect("helm stub");
        let before = "if [ -n \"$STUB_HELM_FAIL_RELEASE\" ]";
        assert!(script.contains(before), "{script}");
        fs::write(&helm, script.replacen(before, &format!("{HELM_PATCH}{before}"), 1)).expect("patch");
        Leg { temp, repo, home, tmpdir, stubs }
    }

    /// The environment of the deploy step (stubs, `$HOME`, `$TMPDIR`, fake clouds), without inputs.
    fn env(&self, clouds: Option<&str>) -> Vec<(String, String)> {
        let mut env = self.stubs.env();
        env.extend([
            ("HOME".to_owned(), self.home.display().to_string()),
            ("TMPDIR".to_owned(), self.tmpdir.display().to_string()),
            ("GITHUB_RUN_ATTEMPT".to_owned(), "1".to_owned()),
        ]);
        if let Some(uri) = clouds {
            env.extend(
                [
                    ("ACTIONS_ID_TOKEN_REQUEST_URL", format!("{uri}/oidc/token?api-version=2.0")),
                    ("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "runner-request-token".to_owned()),
                    ("DEPLOYER_GOOGLE_STS_URL", format!("{uri}/gsts")),
                    ("DEPLOYER_GOOGLE_IAM_URL", format!("{uri}/giam")),
                    ("DEPLOYER_GKE_URL", format!("{uri}/gke")),
                    ("DEPLOYER_ALLOW_INSECURE_ENDPOINTS", "1".to_owned()),
                    (
                        "INPUT_WORKLOAD-IDENTITY-PROVIDER",
                        "projects/1/locations/global/workloadIdentityPools/p/providers/github".to_owned(),
                    ),
                    ("INPUT_SERVICE-ACCOUNT", "deployer@project.iam.gserviceaccount.com".to_owned()),
                ]
                .map(|(k, v)| (k.to_owned(), v)),
            );
        }
        env
    }

    fn deploy(&self, leg: &str, clouds: Option<&str>) -> ActionRun {
        let mut run =
            ActionRun::new("action-deploy", &self.repo).input("leg", leg).input("kubeconfig", CLUSTER4_KUBECONFIG);
        for (name, value) in self.env(clouds) {
            run = run.env(&name, value);
        }
        run
    }

    /// Every file (not folder) under `dir`, relative to it.
    fn files_under(dir: &Path) -> Vec<String> {
        let mut found = Vec::new();
        let mut stack = vec![dir.to_path_buf()];
        while let Some(folder) = stack.pop() {
            for entry in fs::read_dir(&folder).expect("read folder") {
                let entry = entry.expect("entry");
                if entry.file_type().expect("type").is_dir() {
                    stack.push(entry.path());
                } else {
                    found.push(entry.path().strip_prefix(dir).expect("inside").display().to_string());
                }
            }
        }
        found.sort();
        found
    }

    /// What `$HOME/.kube` held at each helm upgrade.
    fn kube_listings(&self) -> Vec<String> {
        fs::read_to_string(self.stubs.state.join("kube.log")).unwrap_or_default().lines().map(str::to_owned).collect()
    }

    fn no_credentials_left(&self, context: &str) {
        assert_eq!(Self::files_under(&self.home), Vec::<String>::new(), "$HOME after the leg: {context}");
        assert_eq!(Self::files_under(&self.tmpdir), Vec::<String>::new(), "$TMPDIR after the leg: {context}");
    }
}

fn canary(cluster: &str, provider: &str, support: bool, staging: &[&str]) -> Value {
    json!({"cluster_name": cluster, "provider": provider, "upgrade_support": support,
           "reason_for_support_redeploy": if support { "Support helm chart has been modified" } else { "" },
           "upgrade_staging": !staging.is_empty(),
           "reason_for_staging_redeploy": "Core infrastructure has been modified", "staging_hubs": staging})
}

/// GitHub OIDC and the GCP endpoints of keyless access, on one fake server.
async fn gcp_clouds() -> MockServer {
    let server = MockServer::start().await;
    let ok = |body: Value| ResponseTemplate::new(200).set_body_json(body);
    let mounts: Vec<(&str, &str, ResponseTemplate)> = vec![
        ("GET", r"^/oidc/token$", ok(json!({"value": "github-oidc-jwt"}))),
        (
            "POST",
            r"^/gsts/v1/token$",
            ok(json!({"access_token": "gcp-federated", "token_type": "Bearer", "expires_in": 3600})),
        ),
        (
            "POST",
            r"^/giam/v1/projects/-/serviceAccounts/[^/]+:generateAccessToken$",
            ok(json!({"accessToken": "gcp-sa-token", "expireTime": "2099-01-01T00:00:00Z"})),
        ),
        (
            "GET",
            r"^/gke/v1/projects/[^/]+/locations/[^/]+/clusters/[^/]+$",
            ok(json!({"endpoint": "34.1.2.3", "masterAuth": {"clusterCaCertificate": "Q0EgY2VydGlmaWNhdGU="}})),
        ),
    ];
    for (verb, pattern, response) in mounts {
        Mock::given(method(verb)).and(path_regex(pattern)).respond_with(response).mount(&server).await;
    }
    server
}

#[test]
fn a_stale_results_file_is_removed_before_a_leg_that_fails_on_its_inputs() {
    let duplicate = json!({"leg": "1 of 1", "releases": 2, "clusters": [
        canary("cluster1", "gcp", true, &[]), canary("cluster1", "gcp", false, &["staging"])]})
    .to_string();
    // (what the checkout holds, the leg's inputs, the error, what must be gone)
    type Plant = fn(&Path);
    let plant_file: Plant = |repo| {
        fs::create_dir_all(repo.join("deploy-results")).expect("dir");
        fs::write(
            repo.join("deploy-results/results.json"),
            r#"{"version": 1, "attempt": 1, "clusters": {"cluster1": "success"}}"#,
        )
        .expect("file");
        fs::write(repo.join("deploy-results/.results.json.partial"), "{}").expect("partial");
    };
    let plant_folder: Plant = |repo| {
        // A folder named like the file: an upload of it would carry the report inside.
        fs::create_dir_all(repo.join("deploy-results/results.json")).expect("dir");
        fs::write(repo.join("deploy-results/results.json/results.json"), "{}").expect("file");
    };
    let plant_link: Plant = |repo| {
        // The results folder a link to a folder outside the checkout holding a report.
        let outside = repo.parent().expect("parent").join("outside");
        fs::create_dir_all(&outside).expect("outside");
        fs::write(outside.join("results.json"), "{}").expect("file");
        std::os::unix::fs::symlink(&outside, repo.join("deploy-results")).expect("link");
    };
    let plant_custom: Plant = |repo| {
        fs::create_dir_all(repo.join("out/legs")).expect("dir");
        fs::write(repo.join("out/legs/results.json"), "{}").expect("file");
    };
    type Case<'a> = (Plant, Vec<(&'a str, String)>, &'a str, &'a str);
    let cases: Vec<Case> = vec![
        (
            plant_file,
            vec![("leg", duplicate.clone())],
            "::error::invalid input `leg`: names cluster `cluster1` more than once",
            "deploy-results/results.json",
        ),
        (
            plant_file,
            vec![("leg", "{not json".to_owned())],
            "::error::invalid input `leg`: not a matrix item",
            "deploy-results/results.json",
        ),
        (
            plant_file,
            vec![("leg", canary("cluster1", "gcp", true, &[]).to_string()), ("cluster", "cluster1".to_owned())],
            "::error::invalid input `cluster`: must be empty when `leg` is given",
            "deploy-results/results.json",
        ),
        (
            plant_folder,
            vec![("leg", duplicate.clone())],
            "::error::invalid input `leg`: names cluster `cluster1` more than once",
            "deploy-results/results.json",
        ),
        (
            plant_link,
            vec![("leg", duplicate.clone())],
            "::error::invalid input `leg`: names cluster `cluster1` more than once",
            "deploy-results",
        ),
        (
            plant_custom,
            vec![("leg", duplicate.clone()), ("results-dir", "out/legs".to_owned())],
            "::error::invalid input `leg`: names cluster `cluster1` more than once",
            "out/legs/results.json",
        ),
        (
            plant_file,
            vec![("leg", canary("cluster1", "gcp", true, &[]).to_string()), ("results-dir", "../elsewhere".to_owned())],
            "::error::invalid input `results-dir`: must be a folder inside the workspace",
            "deploy-results/results.json",
        ),
    ];
    for (plant, inputs, error, gone) in cases {
        let leg = Leg::new();
        plant(&leg.repo);
        assert!(fs::symlink_metadata(leg.repo.join(gone)).is_ok(), "planted {gone}");
        let mut run = ActionRun::new("action-deploy", &leg.repo);
        for (name, value) in leg.env(None) {
            run = run.env(&name, value);
        }
        for (name, value) in &inputs {
            run = run.input(name, value.clone());
        }
        let result = run.run();
        assert_eq!(result.output.status.code(), Some(1), "{inputs:?}\n{}", logs(&result));
        assert!(result.stdout.contains(error), "{inputs:?}\n{}", logs(&result));
        assert!(fs::symlink_metadata(leg.repo.join(gone)).is_err(), "{gone} is gone: {inputs:?}");
        assert!(!leg.repo.join("deploy-results/results.json").exists(), "nothing to upload: {inputs:?}");
        assert!(!leg.repo.join("deploy-results/.results.json.partial").exists(), "{inputs:?}");
        assert_eq!(leg.stubs.calls(), [], "nothing ran: {inputs:?}");
        // A link's target outside the checkout is left alone.
        let outside = leg.temp.path().join("outside/results.json");
        if outside.exists() {
            assert_eq!(fs::read_to_string(&outside).expect("outside"), "{}");
        }
        only_commands(&result, 0, 1);
    }
}

#[test]
fn a_leg_naming_a_cluster_twice_is_refused_before_anything_runs() {
    // The first entry fails (its staging hub), the second would succeed: run as given, the
    // cluster's success would overwrite its failure.
    let leg = Leg::new();
    let item = json!({"leg": "1 of 1", "releases": 2, "clusters": [
        canary("cluster4", "kubeconfig", false, &["staging"]), canary("cluster4", "kubeconfig", false, &["prod"])]});
    let result = leg.deploy(&item.to_string(), None).env("STUB_HELM_FAIL_RELEASE", "staging").run();
    assert_eq!(result.output.status.code(), Some(1), "{}", logs(&result));
    assert!(
        result.stdout.contains(
            "::error::invalid input `leg`: names cluster `cluster4` more than once: an item of generate's matrices \
             holds each cluster once (one result per cluster); nothing was run"
        ),
        "{}",
        logs(&result)
    );
    assert_eq!(leg.stubs.calls(), [], "no helm, no sops");
    assert!(!leg.repo.join("deploy-results/results.json").exists());
    assert_eq!(result.raw_outputs, "");
    leg.no_credentials_left("refused leg");

    // The same clusters once each run, and report the failure.
    let once = json!({"leg": "1 of 1", "releases": 2, "clusters": [canary("cluster4", "kubeconfig", false, &["staging", "prod"])]});
    let result = leg.deploy(&once.to_string(), None).env("STUB_HELM_FAIL_RELEASE", "staging").run();
    assert_eq!(result.output.status.code(), Some(1), "{}", logs(&result));
    let report: Value =
        serde_json::from_str(&fs::read_to_string(leg.repo.join("deploy-results/results.json")).expect("report"))
            .expect("json");
    assert_eq!(report["clusters"], json!({"cluster4": "failure"}));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_leg_removes_every_kubeconfig_and_credential_file_it_wrote_on_success_and_failure() {
    let clouds = gcp_clouds().await;
    let uri = clouds.uri();
    tokio::task::spawn_blocking(move || {
        let item = json!({"leg": "1 of 1", "releases": 4, "clusters": [
            canary("cluster1", "gcp", true, &["staging"]), canary("cluster4", "kubeconfig", false, &["staging", "prod"])]})
        .to_string();
        for fail in [None, Some("staging")] {
            let leg = Leg::new();
            let mut run = leg.deploy(&item, Some(&uri));
            if let Some(release) = fail {
                run = run.env("STUB_HELM_FAIL_RELEASE", release);
            }
            let result = run.run();
            assert_eq!(result.success(), fail.is_none(), "{}", logs(&result));
            // While helm ran, each cluster's own files were there: cluster1's kubeconfig and its
            // keyless GCP credentials file for sops, then cluster4's kubeconfig alone.
            let listings = leg.kube_listings();
            assert!(!listings.is_empty(), "helm ran: {}", logs(&result));
            assert_eq!(
                listings[0].trim(),
                "deployer-cluster1-gcp-credentials.json deployer-cluster1.yaml",
                "{listings:?}"
            );
            assert_eq!(listings.last().map(|l| l.trim()), Some("deployer-cluster4.yaml"), "{listings:?}");
            let report: Value = serde_json::from_str(
                &fs::read_to_string(leg.repo.join("deploy-results/results.json")).expect("report"),
            )
            .expect("json");
            let want = if fail.is_some() { "failure" } else { "success" };
            assert_eq!(report["clusters"], json!({"cluster1": want, "cluster4": want}), "{}", logs(&result));
            leg.no_credentials_left(&format!("fail {fail:?}\n{}", logs(&result)));
        }
    })
    .await
    .expect("legs");
}

#[test]
fn sigterm_during_a_leg_removes_its_credentials_before_it_exits() {
    let leg = Leg::new();
    let item = json!({"leg": "1 of 1", "releases": 2, "clusters": [canary("cluster4", "kubeconfig", false, &["staging", "prod"])]});
    let output = leg.temp.path().join("github_output");
    fs::write(&output, "").expect("output file");
    let stdout = leg.temp.path().join("stdout");
    let mut child = Command::new(bin("action-deploy"))
        .env_clear()
        .current_dir(&leg.repo)
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_WORKSPACE", &leg.repo)
        .env("GITHUB_OUTPUT", &output)
        .env("INPUT_LEG", item.to_string())
        .env("INPUT_KUBECONFIG", CLUSTER4_KUBECONFIG)
        .env("STUB_HELM_SLEEP", "60")
        .envs(leg.env(None))
        .stdin(Stdio::null())
        .stdout(fs::File::create(&stdout).expect("stdout"))
        .stderr(Stdio::null())
        .spawn()
        .expect("start action-deploy");
    let started = Instant::now();
    while !leg.stubs.state.join("helm.pid").exists() {
        assert!(
            child.try_wait().expect("try_wait").is_none(),
            "ended early: {}",
            fs::read_to_string(&stdout).unwrap_or_default()
        );
        assert!(started.elapsed() < Duration::from_secs(30), "helm never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(leg.home.join(".kube/deployer-cluster4.yaml").exists(), "the kubeconfig is there while helm runs");
    // SAFETY: kill only sends a signal to our own child.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGTERM) }, 0, "kill");
    let status = child.wait().expect("wait");
    let log = fs::read_to_string(&stdout).unwrap_or_default();
    assert_eq!(status.code(), Some(143), "128 + SIGTERM\n{log}");
    assert!(log.contains("::error::stopped by SIGTERM"), "{log}");
    leg.no_credentials_left(&log);
    assert_eq!(leg.kube_listings().len(), 1, "the second hub never started");
}

// ---------------------------------------------------------------------------
// Filter: the legs' artifacts on a fake GitHub.

const RUN: u64 = 31;

fn prod_hub(cluster: &str, hub: &str) -> Value {
    json!({"cluster_name": cluster, "provider": "gcp", "hub_name": hub, "reason_for_redeploy": "r"})
}

fn report(attempt: u64, clusters: Value) -> Vec<u8> {
    let text = json!({"version": 1, "attempt": attempt, "clusters": clusters}).to_string();
    build(&[Entry::file("results.json", text)])
}

/// Runs the filter on `legs` (the canary matrix) and the prod hubs of cluster1 and cluster2, with
/// the run at `attempt`; returns the result and the kept `cluster/hub` pairs.
async fn filter(
    fake: &FakeGitHub,
    legs: &Value,
    prod: &Value,
    attempt: &str,
    extra: &[(&str, &str)],
) -> (ActionResult, Vec<String>) {
    let workspace = tempfile::tempdir().expect("temp");
    let mut run = ActionRun::new("action-filter", workspace.path())
        .github(&fake.api.uri())
        .env("GITHUB_RUN_ID", RUN.to_string())
        .env("GITHUB_RUN_ATTEMPT", attempt)
        .input("results-from", "artifacts")
        .input("prod-hub-matrix-jobs", prod.to_string())
        .input("support-and-staging-matrix-jobs", legs.to_string());
    for (name, value) in extra {
        run = run.input(name, *value);
    }
    let result = run.run_async().await;
    assert!(result.success(), "{}", logs(&result));
    let kept = result
        .json_output("dropped")
        .as_array()
        .expect("array")
        .iter()
        .map(|d| format!("{}/{}", d["cluster_name"].as_str().unwrap_or(""), d["hub_name"].as_str().unwrap_or("")))
        .collect::<Vec<_>>();
    let planned: Vec<String> = prod
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|leg| match leg["clusters"].as_array() {
            Some(clusters) => clusters
                .iter()
                .flat_map(|c| {
                    c["hubs"].as_array().into_iter().flatten().map(move |h| {
                        format!("{}/{}", c["cluster_name"].as_str().unwrap_or(""), h["hub_name"].as_str().unwrap_or(""))
                    })
                })
                .collect::<Vec<_>>(),
            None => vec![format!(
                "{}/{}",
                leg["cluster_name"].as_str().unwrap_or(""),
                leg["hub_name"].as_str().unwrap_or("")
            )],
        })
        .collect();
    let kept = planned.into_iter().filter(|p| !kept.contains(p)).collect();
    (result, kept)
}

/// One canary leg per cluster (the shape within max-jobs): cluster1 is leg 0, cluster2 leg 1.
fn single_legs() -> Value {
    json!([canary("cluster1", "gcp", true, &["staging"]), canary("cluster2", "aws", true, &["staging"])])
}

fn prod() -> Value {
    json!([prod_hub("cluster1", "hub1"), prod_hub("cluster1", "hub2"), prod_hub("cluster2", "prod")])
}

#[tokio::test(flavor = "multi_thread")]
async fn a_genuine_report_counts_for_its_own_legs_clusters() {
    let fake = FakeGitHub::start().await;
    fake.artifact(RUN, "deploy-results-0-1", report(1, json!({"cluster1": "success"})));
    fake.artifact(RUN, "deploy-results-1-1", report(1, json!({"cluster2": "success"})));
    fake.artifact(RUN, "deployment-plan", b"not a results artifact".to_vec());
    let (result, kept) = filter(&fake, &single_legs(), &prod(), "1", &[]).await;
    assert_eq!(kept, ["cluster1/hub1", "cluster1/hub2", "cluster2/prod"], "{}", logs(&result));
    only_commands(&result, 0, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_forged_attempt_never_overrides_a_genuine_failure() {
    // Reproduced: a file claiming attempt 4294967295 overrode cluster1's genuine failure.
    let cases: &[(&str, &str, u64)] = &[
        // Named for an attempt later than the run's own.
        ("1", "deploy-results-0-4294967295", 4294967295),
        ("1", "deploy-results-0-2", 2),
        // Named for this attempt, but the file says another.
        ("2", "deploy-results-0-2", 4294967295),
        ("2", "deploy-results-0-2", 1),
    ];
    for (run_attempt, name, file_attempt) in cases {
        let fake = FakeGitHub::start().await;
        fake.artifact(RUN, "deploy-results-0-1", report(1, json!({"cluster1": "failure"})));
        fake.artifact(RUN, "deploy-results-1-1", report(1, json!({"cluster2": "success"})));
        fake.artifact(RUN, name, report(*file_attempt, json!({"cluster1": "success"})));
        let (result, kept) = filter(&fake, &single_legs(), &prod(), run_attempt, &[]).await;
        assert_eq!(kept, ["cluster2/prod"], "{name} (file {file_attempt}, run {run_attempt}): {}", logs(&result));
        assert!(
            result.stdout.contains(&format!("::warning::results artifact `{name}` ignored: its ")),
            "{}",
            logs(&result)
        );
        only_commands(&result, 1, 0);
    }
    // A genuine re-run of the failed leg (attempt 2, in a run at attempt 2) does count.
    let fake = FakeGitHub::start().await;
    fake.artifact(RUN, "deploy-results-0-1", report(1, json!({"cluster1": "failure"})));
    fake.artifact(RUN, "deploy-results-1-1", report(1, json!({"cluster2": "success"})));
    fake.artifact(RUN, "deploy-results-0-2", report(2, json!({"cluster1": "success"})));
    let (result, kept) = filter(&fake, &single_legs(), &prod(), "2", &[]).await;
    assert_eq!(kept, ["cluster1/hub1", "cluster1/hub2", "cluster2/prod"], "{}", logs(&result));
    only_commands(&result, 0, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_artifact_of_one_leg_claiming_another_legs_cluster_is_ignored() {
    let legs = single_legs();
    let fake = FakeGitHub::start().await;
    fake.artifact(RUN, "deploy-results-0-1", report(1, json!({"cluster1": "failure"})));
    fake.artifact(RUN, "deploy-results-1-1", report(1, json!({"cluster1": "success", "cluster2": "success"})));
    let (result, kept) = filter(&fake, &legs, &prod(), "1", &[]).await;
    // cluster2's only report is not genuine either: fail closed.
    assert_eq!(kept, Vec::<String>::new(), "{}", logs(&result));
    assert!(
        result.stdout.contains(
            "::warning::results artifact `deploy-results-1-1` ignored: its results.json names a cluster not in leg 1 \
             of the matrix: `cluster1`"
        ),
        "{}",
        logs(&result)
    );
    assert!(result.stdout.contains("::warning::no result found for the support and staging upgrade of cluster2"));
    only_commands(&result, 2, 0);

    // Without leg 0's report, leg 1's claim does not make one for cluster1.
    let fake = FakeGitHub::start().await;
    fake.artifact(RUN, "deploy-results-1-1", report(1, json!({"cluster1": "success"})));
    fake.artifact(RUN, "deploy-results-0-1", report(1, json!({})));
    let (result, kept) = filter(&fake, &legs, &prod(), "1", &[]).await;
    assert_eq!(kept, Vec::<String>::new(), "{}", logs(&result));

    // Batched legs (past max-jobs): leg 1 of the batch matrix holds cluster2 and cluster3; its
    // report claiming cluster1 (in leg 0) is ignored, leg 0's own report counts.
    let batched = json!([
        {"leg": "1 of 2", "releases": 2, "clusters": [canary("cluster1", "gcp", true, &["staging"])]},
        {"leg": "2 of 2", "releases": 4, "clusters": [canary("cluster2", "aws", true, &["staging"]), canary("cluster3", "gcp", true, &["staging1"])]},
    ]);
    let batched_prod = json!([
        {"leg": "1 of 2", "releases": 2, "clusters": [{"cluster_name": "cluster1", "provider": "gcp", "hubs": [
            {"hub_name": "hub1", "reason_for_redeploy": "r"}, {"hub_name": "hub2", "reason_for_redeploy": "r"}]}]},
        {"leg": "2 of 2", "releases": 1, "clusters": [{"cluster_name": "cluster2", "provider": "aws", "hubs": [
            {"hub_name": "prod", "reason_for_redeploy": "r"}]}]},
    ]);
    let fake = FakeGitHub::start().await;
    fake.artifact(RUN, "deploy-results-0-1", report(1, json!({"cluster1": "failure"})));
    fake.artifact(RUN, "deploy-results-1-1", report(1, json!({"cluster2": "success", "cluster3": "success"})));
    fake.artifact(RUN, "deploy-results-1-2", report(2, json!({"cluster1": "success", "cluster2": "success"})));
    let (result, kept) = filter(&fake, &batched, &batched_prod, "2", &[]).await;
    assert_eq!(kept, ["cluster2/prod"], "{}", logs(&result));
    only_commands(&result, 1, 0);
    let filtered = result.json_output("filtered-prod-hub-matrix-jobs");
    assert_eq!(filtered.as_array().map(Vec::len), Some(1), "leg 1 of the prod matrix pruned away: {filtered}");
}

#[tokio::test(flavor = "multi_thread")]
async fn health_check_legs_are_bound_the_same_way() {
    let hubs = |names: &[&str]| -> Value {
        names.iter().map(|n| json!({"hub_name": n, "reason_for_health_check": "node pool"})).collect()
    };
    let staging = json!([
        {"cluster_name": "cluster1", "provider": "gcp", "hubs": hubs(&["staging"])},
        {"cluster_name": "cluster2", "provider": "aws", "hubs": hubs(&["staging"])},
    ]);
    let check = |cluster: &str, hub: &str| json!({"cluster_name": cluster, "provider": "gcp", "hub_name": hub, "reason_for_health_check": "node pool"});
    let prod = json!([check("cluster1", "hub1"), check("cluster2", "prod")]);
    let fake = FakeGitHub::start().await;
    fake.artifact(RUN, "health-check-results-0-1", report(1, json!({"cluster1": "failure"})));
    fake.artifact(RUN, "health-check-results-1-1", report(1, json!({"cluster1": "success", "cluster2": "success"})));
    fake.artifact(RUN, "health-check-results-0-9", report(9, json!({"cluster1": "success"})));
    let (result, kept) = filter(&fake, &staging, &prod, "1", &[]).await;
    assert_eq!(kept, Vec::<String>::new(), "{}", logs(&result));
    only_commands(&result, 3, 0);
    assert!(result
        .stdout
        .contains("::warning::results artifact `health-check-results-0-9` ignored: its name says run attempt 9"));
}

#[tokio::test(flavor = "multi_thread")]
async fn names_that_do_not_bind_to_a_leg_are_ignored_and_cannot_issue_commands() {
    let names = [
        "deploy-results-0",
        "deploy-results-x-1",
        "deploy-results-01-1",
        "deploy-results-7-1",
        "deploy-results-0-1\n::error::injected",
        "deploy-results-0-1\r::add-mask::x",
        "deploy-results-##[error]injected",
    ];
    let fake = FakeGitHub::start().await;
    fake.artifact(RUN, "deploy-results-1-1", report(1, json!({"cluster2": "success"})));
    for name in names {
        fake.artifact(RUN, name, report(1, json!({"cluster1": "success"})));
    }
    let (result, kept) = filter(&fake, &single_legs(), &prod(), "1", &[]).await;
    assert_eq!(kept, ["cluster2/prod"], "{}", logs(&result));
    // One warning per ignored artifact, one for cluster1's missing result, and nothing else.
    only_commands(&result, names.len() + 1, 0);
    for data in commands(&result.stdout).iter().map(|c| &c.data) {
        assert!(!data.contains("##["), "{data}");
    }
    assert!(result.stdout.contains("its name says leg index 7, but the matrix has 2 leg(s)"), "{}", logs(&result));
    // Ignored names are not downloaded.
    let downloads = fake.requests().iter().filter(|r| r.ends_with("/zip")).count();
    assert_eq!(downloads, 1, "{:?}", fake.requests());
}

#[test]
fn the_filter_needs_the_run_attempt_to_read_artifacts() {
    let workspace = tempfile::tempdir().expect("temp");
    let result = ActionRun::new("action-filter", workspace.path())
        .github("http://127.0.0.1:9")
        .env("GITHUB_RUN_ID", "5")
        .input("results-from", "artifacts")
        .input("prod-hub-matrix-jobs", prod().to_string())
        .input("support-and-staging-matrix-jobs", single_legs().to_string())
        .run();
    assert_eq!(result.output.status.code(), Some(1), "{}", logs(&result));
    assert!(result.stdout.contains("::error::GITHUB_RUN_ATTEMPT is not a run attempt"), "{}", logs(&result));
    assert_eq!(result.raw_outputs, "");
}
