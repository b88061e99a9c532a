//! One broken cluster blocks only itself, through `action-generate` (push and
//! pull-request events) and `deployer generate`: a values file missing from
//! cluster1 with a change to cluster2 plans cluster2, names cluster1 in
//! `blocked-clusters` with an annotation at its line, and fails at the end on
//! a push; a pull request warns unless it touches cluster1's files; problems
//! in shared files still stop everything.

mod support;

use std::fs;
use std::path::Path;
use std::process::Command;

use serde_json::{json, Value};
use support::{bin, copy_tree, example_repo, sha, ActionResult, ActionRun};

const A_FILE: &str = "config/clusters/cluster1/cluster.yaml";
const A_MISSING: &str = "config/clusters/cluster1/hub2.values.yaml";
const B_VALUES: &str = "config/clusters/cluster2/hub1.values.yaml";

/// A copy of the example repository with cluster1's `hub2.values.yaml` missing.
fn broken_a() -> tempfile::TempDir {
    let temp = tempfile::tempdir().expect("temp");
    copy_tree(&example_repo(), temp.path());
    fs::remove_file(temp.path().join(A_MISSING)).expect("remove a values file");
    temp
}

/// The 1-based line of the first line of `file` containing `needle`.
fn line_of(repo: &Path, file: &str, needle: &str) -> usize {
    let text = fs::read_to_string(repo.join(file)).expect("read");
    text.lines().position(|l| l.contains(needle)).map(|i| i + 1).expect("needle in file")
}

/// The error (or warning) annotation for the missing values file.
fn missing_annotation(repo: &Path, level: &str) -> String {
    let line = line_of(repo, A_FILE, "- hub2.values.yaml");
    format!(
        "::{level} file={A_FILE},line={line},col=9::hubs[2].helm_chart_values_files[0]: values file `hub2.values.yaml` does not exist"
    )
}

fn push(repo: &Path, changed: &str) -> ActionResult {
    ActionRun::new("action-generate", repo)
        .env("GITHUB_EVENT_NAME", "push")
        .event(json!({"before": sha('b'), "after": sha('a')}).to_string())
        .input("changed-files", changed)
        .run()
}

fn pull_request(repo: &Path, changed: &str) -> ActionResult {
    ActionRun::new("action-generate", repo)
        .env("GITHUB_EVENT_NAME", "pull_request")
        .event(json!({"pull_request": {"number": 7, "head": {"sha": sha('a')}, "labels": []}}).to_string())
        .input("changed-files", changed)
        .run()
}

fn planned_prod_hubs(result: &ActionResult) -> Vec<(String, String)> {
    let jobs = result.json_output("prod-hub-matrix-jobs");
    let mut hubs: Vec<(String, String)> = jobs
        .as_array()
        .expect("array")
        .iter()
        .map(|job| {
            (
                job["cluster_name"].as_str().expect("cluster_name").to_owned(),
                job["hub_name"].as_str().expect("hub_name").to_owned(),
            )
        })
        .collect();
    hubs.sort();
    hubs
}

fn logs(result: &ActionResult) -> String {
    format!("stdout:\n{}\nstderr:\n{}", result.stdout, result.stderr)
}

/// Everything stopped: an error annotation, and nothing written.
fn assert_stopped(result: &ActionResult, annotation: &str) {
    assert!(!result.success(), "{}", logs(result));
    assert!(result.stdout.lines().any(|l| l.starts_with(annotation)), "want {annotation:?}\n{}", logs(result));
    assert_eq!(result.raw_outputs, "", "no output is written");
    assert_eq!(result.summary, "", "no summary is written");
    assert!(!result.workspace.join("deployment-plan").exists(), "no plan folder");
}

#[test]
fn push_plans_the_others_lists_the_blocked_cluster_and_fails_at_the_end() {
    let repo = broken_a();
    let result = push(repo.path(), B_VALUES);
    assert!(!result.success(), "the run ends failed so that the broken cluster is seen\n{}", logs(&result));
    assert_eq!(result.output.status.code(), Some(1));

    // The other cluster's job is planned and every output is written.
    assert_eq!(planned_prod_hubs(&result), [("cluster2".to_owned(), "hub1".to_owned())], "{}", logs(&result));
    assert_eq!(result.output("has-jobs"), "true");
    assert_eq!(result.json_output("blocked-clusters"), json!(["cluster1"]));
    assert_eq!(result.output("plan-dir"), "deployment-plan");
    assert!(repo.path().join("deployment-plan/plan.json").is_file(), "plan folder written");

    // The broken cluster: an error annotation at its file and line, named in the log, the summary and stderr.
    let annotation = missing_annotation(repo.path(), "error");
    assert!(result.stdout.lines().any(|l| l.starts_with(&annotation)), "want {annotation:?}\n{}", logs(&result));
    assert!(!result.stdout.contains("::warning file=config/clusters/cluster1"), "{}", logs(&result));
    assert!(
        result.stdout.contains("Blocked clusters, not planned (problems in their own files): cluster1"),
        "{}",
        logs(&result)
    );
    assert!(result.summary.contains("### Blocked clusters"), "{}", result.summary);
    assert!(result.summary.contains("| cluster1 | config/clusters/cluster1/cluster.yaml:"), "{}", result.summary);
    assert!(
        result.stderr.contains("1 cluster is blocked by problems in its own files (cluster1)"),
        "{}",
        logs(&result)
    );
    // Annotations come after the outputs: the step fails last.
    let output_at = result.stdout.find("Deployment plan").expect("plan group");
    let error_at = result.stdout.find(&annotation).expect("annotation");
    assert!(error_at > output_at, "{}", logs(&result));
}

#[test]
fn push_touching_the_blocked_cluster_still_plans_the_others() {
    let repo = broken_a();
    let result = push(repo.path(), &format!("{B_VALUES}\nconfig/clusters/cluster1/hub1.values.yaml"));
    assert!(!result.success(), "{}", logs(&result));
    assert_eq!(planned_prod_hubs(&result), [("cluster2".to_owned(), "hub1".to_owned())]);
    assert_eq!(result.json_output("blocked-clusters"), json!(["cluster1"]));
}

#[test]
fn a_healthy_push_writes_an_empty_blocked_list() {
    let repo = tempfile::tempdir().expect("temp");
    copy_tree(&example_repo(), repo.path());
    let result = push(repo.path(), B_VALUES);
    assert!(result.success(), "{}", logs(&result));
    assert_eq!(result.output("blocked-clusters"), "[]");
    assert!(!result.summary.contains("Blocked clusters"), "{}", result.summary);
}

#[test]
fn pull_request_not_touching_the_blocked_cluster_warns_and_plans_the_rest() {
    let repo = broken_a();
    let result = pull_request(repo.path(), B_VALUES);
    assert!(result.success(), "{}", logs(&result));
    assert_eq!(planned_prod_hubs(&result), [("cluster2".to_owned(), "hub1".to_owned())]);
    assert_eq!(result.json_output("blocked-clusters"), json!(["cluster1"]));
    let annotation = missing_annotation(repo.path(), "warning");
    assert!(result.stdout.lines().any(|l| l.starts_with(&annotation)), "want {annotation:?}\n{}", logs(&result));
    assert!(!result.stdout.contains("::error"), "{}", logs(&result));
    let plan: Value =
        serde_json::from_str(&fs::read_to_string(repo.path().join("deployment-plan/plan.json")).expect("plan.json"))
            .expect("JSON");
    assert_eq!(plan["pr_number"], 7);
}

#[test]
fn pull_request_touching_the_blocked_clusters_files_stops_everything() {
    let repo = broken_a();
    let touching = [
        // Its cluster file, a file it lists, the missing file itself, anything under its folder.
        A_FILE,
        "config/clusters/cluster1/hub1.values.yaml",
        A_MISSING,
        "config/clusters/cluster1/notes/readme.md",
    ];
    let annotation = missing_annotation(repo.path(), "error");
    for path in touching {
        let result = pull_request(repo.path(), &format!("{B_VALUES}\n{path}"));
        assert_stopped(&result, &annotation);
        assert!(result.stderr.contains("does not exist (looked for config/clusters/cluster1/hub2.values.yaml)"));
    }
}

#[test]
fn a_broken_settings_file_still_stops_everything() {
    let repo = broken_a();
    fs::write(repo.path().join("deployer.yaml"), "clusters: [unclosed\n").expect("write");
    assert_stopped(&push(repo.path(), B_VALUES), "::error file=deployer.yaml,line=");
    assert_stopped(&pull_request(repo.path(), B_VALUES), "::error file=deployer.yaml,line=");
}

#[test]
fn a_broken_chart_file_still_stops_everything() {
    let repo = tempfile::tempdir().expect("temp");
    copy_tree(&example_repo(), repo.path());
    fs::write(repo.path().join("helm-charts/basehub/Chart.yaml"), "dependencies: [unclosed\n").expect("write");
    assert_stopped(&push(repo.path(), B_VALUES), "::error file=helm-charts/basehub/Chart.yaml,line=");
}

#[test]
fn duplicate_names_block_both_files_and_unreadable_files_are_named_by_folder() {
    let repo = tempfile::tempdir().expect("temp");
    copy_tree(&example_repo(), repo.path());
    let c3 = repo.path().join("config/clusters/cluster3/cluster.yaml");
    let text = fs::read_to_string(&c3).expect("read").replacen("name: cluster3", "name: cluster1", 1);
    fs::write(&c3, text).expect("write");
    fs::write(repo.path().join("config/clusters/cluster4/cluster.yaml"), b"name: cluster4\n\xff\xfe\n").expect("write");
    let result = push(repo.path(), B_VALUES);
    assert!(!result.success(), "{}", logs(&result));
    assert_eq!(result.json_output("blocked-clusters"), json!(["cluster1", "cluster4"]));
    assert_eq!(planned_prod_hubs(&result), [("cluster2".to_owned(), "hub1".to_owned())]);
    for annotation in [
        "::error file=config/clusters/cluster1/cluster.yaml,line=1,col=7::name: cluster name `cluster1` is also used by config/clusters/cluster3/cluster.yaml",
        "::error file=config/clusters/cluster3/cluster.yaml,line=1,col=7::name: cluster name `cluster1` is already used by config/clusters/cluster1/cluster.yaml",
        "::error file=config/clusters/cluster4/cluster.yaml::refusing to read this file: it is not UTF-8 text",
    ] {
        assert!(result.stdout.lines().any(|l| l.starts_with(annotation)), "want {annotation:?}\n{}", logs(&result));
    }
}

#[test]
fn cli_generate_plans_the_others_prints_the_problem_and_fails() {
    let repo = broken_a();
    let output = Command::new(bin("deployer"))
        .args(["generate", "--output", "json", "--changed-files", B_VALUES, "--repo"])
        .arg(repo.path())
        .output()
        .expect("run deployer");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stdout}\n{stderr}");
    let plan: Value = serde_json::from_str(&stdout).expect("the plan is printed as JSON");
    let prod = plan["prod-hub-matrix-jobs"].as_array().expect("array");
    assert_eq!(prod.len(), 1, "{stdout}");
    assert_eq!(prod[0]["cluster_name"], "cluster2");
    let line = line_of(repo.path(), A_FILE, "- hub2.values.yaml");
    assert!(stderr.contains("1 cluster is blocked by problems in its own files (cluster1)"), "{stderr}");
    assert!(
        stderr.contains(&format!("{A_FILE}:{line}:9: hubs[2].helm_chart_values_files[0]: values file")),
        "{stderr}"
    );

    // `validate` still reports every problem and fails.
    let validate =
        Command::new(bin("deployer")).args(["validate", "--repo"]).arg(repo.path()).output().expect("run deployer");
    assert!(!validate.status.success());
    assert!(String::from_utf8_lossy(&validate.stderr).contains("values file `hub2.values.yaml` does not exist"));
}
