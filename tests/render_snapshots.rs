//! Snapshots of everything people read: log tables, the step summary, the
//! PR comment and `deployer explain`, on the example repository.

mod support;

use support::{deployer, example_repo, ActionRun};

fn cli(args: &[&str]) -> String {
    let repo = example_repo();
    let mut full = vec![args[0], "--repo", repo.to_str().expect("utf-8 path")];
    full.extend_from_slice(&args[1..]);
    let output = deployer(&full);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).expect("utf-8")
}

const MIXED: &str = "config/clusters/cluster3/staging1.values.yaml,config/clusters/cluster3/prod.values.yaml,\
config/clusters/cluster2/support.values.yaml,config/clusters/cluster2/hub3.values.yaml";

#[test]
fn log_tables() {
    insta::assert_snapshot!("log_tables_mixed", cli(&["generate", "--changed-files", MIXED]));
    insta::assert_snapshot!("log_tables_empty", cli(&["generate", "--changed-files", "docs/index.md"]));
}

#[test]
fn comment_markdown() {
    insta::assert_snapshot!("comment_mixed", cli(&["generate", "--changed-files", MIXED, "--output", "markdown"]));
    insta::assert_snapshot!(
        "comment_empty",
        cli(&["generate", "--changed-files", "docs/index.md", "--output", "markdown"])
    );
}

#[test]
fn step_summary() {
    let result = ActionRun::new("action-generate", example_repo())
        .input("changed-files", MIXED)
        .temp_input("plan-dir", "p")
        .run();
    assert!(result.success(), "{}", result.stderr);
    insta::assert_snapshot!("step_summary_mixed", result.summary);
}

#[test]
fn explain() {
    insta::assert_snapshot!(
        "explain",
        cli(&[
            "explain",
            "helm-charts/basehub/values.yaml",
            "./config/clusters/cluster4/common.values.yaml",
            "config/clusters/cluster1/enc-support.secret.values.yaml",
            "docs/index.md",
        ])
    );
}
