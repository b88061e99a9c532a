//! Progressive rollouts, second slice, through the real `deployer` binary: a hub of a later wave renders
//! and deploys its chart AT ITS WAVE'S PIN, read from the checkout's git, never the head's.
//!
//! The repository is `tests/fixtures/rollout/repo` in a temporary git repository with three commits:
//! A (basehub `version: 1.0.0`, a template writing the chart version into a ConfigMap), B (`version:
//! 2.0.0`), C (the state file pinning the waves `early` and `rest` at A). `gamma/prod1` is in the third
//! wave (`rest`), `alpha/*` and every staging hub in the first (`canary`), which runs the head.

mod support;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use support::{apiserver, bin, copy_tree, fixture, git, tool, tools_dir};

const TEMPLATE: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-basehub\ndata:\n  \
     image: {{ .Values.image | quote }}\n  chart: {{ .Chart.Version | quote }}\n  \
     jsonnet: {{ .Values.fromJsonnet | default \"none\" | quote }}\n";

fn write(repo: &Path, path: &str, text: &str) {
    let path = repo.join(path);
    fs::create_dir_all(path.parent().expect("parent")).expect("folder");
    fs::write(path, text).expect("write");
}

/// The pins of `early` and `rest`.
fn state_file(commit: &str) -> String {
    format!(
        "pins:\n  basehub:\n    early: {{commit: {commit}, since: \"2026-12-01T10:00:00Z\"}}\n    \
         rest: {{commit: {commit}, since: \"2026-11-20T10:00:00Z\"}}\n"
    )
}

/// The repository (commits A, B, C), with `edit` applied to the fixture before A (a kubeconfig cluster
/// for the API server test). Returns the repository and commit A.
fn repo_with(temp: &Path, edit: &dyn Fn(&Path)) -> (PathBuf, String) {
    let repo = temp.join("repo");
    copy_tree(&fixture("rollout/repo"), &repo);
    edit(&repo);
    git(&repo, &["init", "-q", "-b", "main"]);
    write(&repo, "helm-charts/basehub/Chart.yaml", "apiVersion: v2\nname: basehub\nversion: 1.0.0\n");
    write(&repo, "helm-charts/basehub/templates/configmap.yaml", TEMPLATE);
    // The chart's own values.jsonnet, a chart-level values file: read at the pin too.
    write(&repo, "helm-charts/basehub/values.jsonnet", "{ fromJsonnet: 'at-A' }\n");
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-q", "-m", "A: basehub 1.0.0"]);
    let first = git(&repo, &["rev-parse", "HEAD"]);
    write(&repo, "helm-charts/basehub/Chart.yaml", "apiVersion: v2\nname: basehub\nversion: 2.0.0\n");
    write(&repo, "helm-charts/basehub/values.jsonnet", "{ fromJsonnet: 'at-B' }\n");
    git(&repo, &["commit", "-q", "-am", "B: basehub 2.0.0"]);
    write(&repo, "config/rollout.yaml", &state_file(&first));
    git(&repo, &["commit", "-q", "-am", "C: early and rest pinned at A"]);
    (repo, first)
}

fn repo(temp: &Path) -> (PathBuf, String) {
    repo_with(temp, &|_| {})
}

/// `deployer` in a clean environment with git, helm and kubectl on PATH.
fn deployer(repo: &Path, args: &[&str]) -> (Output, String) {
    let out = Command::new(bin("deployer"))
        .env_clear()
        .env("PATH", format!("{}:/usr/bin:/bin", tools_dir().display()))
        .env("HOME", repo.parent().expect("temp"))
        .args(args)
        .arg("--repo")
        .arg(repo)
        .output()
        .expect("deployer");
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out, said)
}

#[test]
fn a_dry_run_of_a_third_wave_hub_names_its_pin_and_the_copy() {
    let temp = tempfile::tempdir().expect("temp");
    let (repo, first) = repo(temp.path());
    let short = &first[..7];
    let (out, said) = deployer(&repo, &["deploy", "--dry-run", "--cluster", "gamma", "--hubs", "staging,prod1"]);
    assert!(out.status.success(), "{said}");
    assert!(
        said.contains(&format!("# <copy 1>: helm-charts/basehub at {short} (the pin of wave rest) for prod1")),
        "{said}"
    );
    assert!(said.contains("helm upgrade --install prod1 '<copy 1>/helm-charts/basehub'"), "{said}");
    // The chart's values.jsonnet is rendered from the copy: the pin's.
    assert!(said.contains("# prod1: helm-charts/basehub/values.jsonnet rendered (jsonnet)"), "{said}");
    // The staging hub is a canary: the head's chart, from the checkout.
    assert!(said.contains("helm upgrade --install staging helm-charts/basehub"), "{said}");
}

#[test]
fn a_missing_pin_commit_says_to_fetch_the_history() {
    let temp = tempfile::tempdir().expect("temp");
    let (repo, _) = repo(temp.path());
    let missing = "0123456789abcdef0123456789abcdef01234567";
    write(&repo, "config/rollout.yaml", &state_file(missing));
    let (out, said) = deployer(&repo, &["deploy", "--dry-run", "--cluster", "gamma", "--hub", "prod1"]);
    assert!(!out.status.success(), "{said}");
    assert!(said.contains("helm-charts/basehub at 0123456 (the pin of wave rest)"), "{said}");
    assert!(said.contains("fetch-depth: 0"), "{said}");
}

#[test]
fn a_matrix_item_from_another_state_file_is_refused() {
    let temp = tempfile::tempdir().expect("temp");
    let (repo, _) = repo(temp.path());
    let other = "0123456789abcdef0123456789abcdef01234567";
    let item = format!(
        r#"{{"cluster_name":"gamma","provider":"gcp","hub_name":"prod1","reason_for_redeploy":"x","rollout":{{"wave":"rest","chart_commit":"{other}"}}}}"#
    );
    let result = support::ActionRun::new("action-deploy", &repo)
        .env("PATH", format!("{}:/usr/bin:/bin", tools_dir().display()))
        .input("leg", item)
        .input("dry-run", "true")
        .run();
    let log = format!("{}{}", result.stdout, result.stderr);
    assert!(!result.success(), "{log}");
    assert!(log.contains("the plan was made from another state file"), "{log}");
}

/// `deployer diff --base HEAD~1` of a values change: the text report and the log.
fn diff_of_values_change(repo: &Path, values: &str) -> String {
    write(repo, values, "image: changed\n");
    git(repo, &["commit", "-q", "-am", "D: a values change"]);
    let (out, said) = deployer(repo, &["diff", "--base", "HEAD~1", "--changed-files", values]);
    assert!(out.status.success(), "{said}");
    said
}

#[test]
fn a_third_wave_hub_renders_its_pin_on_both_sides_of_a_diff() {
    let temp = tempfile::tempdir().expect("temp");
    let (repo, first) = repo(temp.path());
    let said = diff_of_values_change(&repo, "config/clusters/gamma/prod1.values.yaml");
    assert!(said.contains("image: changed"), "{said}");
    assert!(said.contains("chart: \"1.0.0\"") || said.contains("chart: 1.0.0"), "{said}");
    assert!(!said.contains("2.0.0"), "{said}");
    assert!(said.contains("jsonnet: at-A") && !said.contains("at-B"), "{said}");
    assert!(said.contains(&format!("chart at {} (wave rest)", &first[..7])), "{said}");
}

/// Under the `deployer:rollout-all` label the plan runs every wave at the head: the head side of the
/// diff follows the plan's job (the head's chart), the base side keeps its pin.
#[test]
fn under_rollout_all_the_head_side_renders_the_head_chart() {
    let temp = tempfile::tempdir().expect("temp");
    let (repo, _) = repo(temp.path());
    let values = "config/clusters/gamma/prod1.values.yaml";
    write(&repo, values, "image: changed\n");
    git(&repo, &["commit", "-q", "-am", "D: a values change"]);
    let (out, said) = deployer(
        &repo,
        &["diff", "--base", "HEAD~1", "--changed-files", values, "--labels", r#"["deployer:rollout-all"]"#],
    );
    assert!(out.status.success(), "{said}");
    assert!(said.contains("2.0.0") && said.contains("1.0.0"), "the pin at base, the head at head: {said}");
    assert!(said.contains("jsonnet: at-B"), "{said}");
}

#[test]
fn a_first_wave_hub_renders_the_head_in_a_diff() {
    let temp = tempfile::tempdir().expect("temp");
    let (repo, _) = repo(temp.path());
    let said = diff_of_values_change(&repo, "config/clusters/alpha/prod1.values.yaml");
    assert!(said.contains("image: changed"), "{said}");
    assert!(said.contains("2.0.0"), "{said}");
    assert!(!said.contains("1.0.0"), "{said}");
    assert!(said.contains("jsonnet: at-B") && !said.contains("at-A"), "{said}");
}

#[test]
fn a_third_wave_hub_installs_its_pinned_chart_version() {
    let Some(lease) = apiserver::lease("a_third_wave_hub_installs_its_pinned_chart_version", 1) else { return };
    let server = &lease[0];
    let temp = tempfile::tempdir().expect("temp");
    let kubeconfig = server.kubeconfig_text();
    // alpha and gamma become kubeconfig clusters on the leased server (same waves: alpha/* is a canary,
    // gamma is not on aws, so its prod hub is in `rest`).
    let (repo, _) = repo_with(temp.path(), &|repo: &Path| {
        for cluster in ["alpha", "gamma"] {
            let file = format!("config/clusters/{cluster}/cluster.yaml");
            let text = fs::read_to_string(repo.join(&file)).expect("cluster file");
            let hubs = text.split_once("support:").map(|(_, rest)| rest).expect("support block");
            write(
                repo,
                &file,
                &format!("name: {cluster}\nprovider: kubeconfig\nkubeconfig:\n  file: kubeconfig.yaml\nsupport:{hubs}"),
            );
            write(repo, &format!("config/clusters/{cluster}/kubeconfig.yaml"), &kubeconfig);
        }
    });
    let bin_dir = temp.path().join("bin");
    fs::create_dir_all(&bin_dir).expect("bin");
    std::os::unix::fs::symlink(tool("helm"), bin_dir.join("helm")).expect("helm link");
    std::os::unix::fs::symlink(tool("kubectl"), bin_dir.join("kubectl")).expect("kubectl link");
    let deploy = |cluster: &str, hub: &str| {
        let out = Command::new(bin("deployer"))
            .env_clear()
            .env("PATH", format!("{}:/usr/bin:/bin", bin_dir.display()))
            .env("HOME", temp.path())
            .args(["deploy", "--wait", "none", "--cluster", cluster, "--hub", hub, "--repo"])
            .arg(&repo)
            .output()
            .expect("deployer deploy");
        let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "{cluster}/{hub}: {said}");
        said
    };
    let said = deploy("gamma", "prod1");
    assert!(said.contains("Hub prod1: chart helm-charts/basehub at "), "{said}");
    assert!(said.contains(", the pin of wave rest, from a private copy"), "{said}");
    deploy("alpha", "staging");
    let releases = server.releases();
    let chart = |name: &str| releases.iter().find(|r| r.name == name).map(|r| r.chart.clone());
    assert_eq!(chart("prod1").as_deref(), Some("basehub-1.0.0"), "{releases:?}");
    assert_eq!(chart("staging").as_deref(), Some("basehub-2.0.0"), "{releases:?}");
    let data = |name: &str, key: &str| {
        let path = format!("jsonpath={{.data.{key}}}");
        server.kubectl_ok(&["get", "configmap", &format!("{name}-basehub"), "-n", name, "-o", &path])
    };
    assert_eq!((data("prod1", "chart"), data("prod1", "jsonnet")), ("1.0.0".to_owned(), "at-A".to_owned()));
    assert_eq!((data("staging", "chart"), data("staging", "jsonnet")), ("2.0.0".to_owned(), "at-B".to_owned()));
    server.clean();
}
