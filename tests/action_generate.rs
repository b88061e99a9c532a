//! `action-generate` through the runner's contract: what it prints, the files
//! it writes, and that bad input fails with an annotation and writes nothing.

mod support;

use std::fs;
use std::path::Path;

use support::{copy_tree, example_repo, ActionRun};

/// A copy of the example repository the test may write into.
fn example_workspace() -> tempfile::TempDir {
    let temp = tempfile::tempdir().expect("temp");
    copy_tree(&example_repo(), temp.path());
    temp
}

#[test]
fn successful_run_writes_outputs_summary_log_and_plan_folder() {
    let workspace = example_workspace();
    let event = r#"{"pull_request": {"number": 42, "head": {"sha": "0123456789abcdef0123456789abcdef01234567"}}}"#;
    let result = ActionRun::new("action-generate", workspace.path())
        .input("changed-files", "config/clusters/cluster1/hub1.values.yaml\nconfig/clusters/cluster2/hub2.values.yaml")
        .event(event)
        .run();
    assert!(result.success(), "{}\n{}", result.stdout, result.stderr);

    // Outputs: exactly the documented names, compact JSON matrices.
    let names: Vec<&str> = result.outputs.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "blocked-clusters",
            "has-jobs",
            "health-check-matrix-jobs",
            "health-check-prod-matrix-jobs",
            "health-check-staging-matrix-jobs",
            "plan-dir",
            "prod-hub-matrix-jobs",
            "support-and-staging-matrix-jobs"
        ]
    );
    // No health_checks rules in the example: the health-check matrices are empty.
    for name in ["health-check-matrix-jobs", "health-check-prod-matrix-jobs", "health-check-staging-matrix-jobs"] {
        assert_eq!(result.output(name), "[]", "{name}");
    }
    assert_eq!(result.output("has-jobs"), "true");
    assert_eq!(result.output("plan-dir"), "deployment-plan");
    assert!(!result.output("prod-hub-matrix-jobs").contains('\n'), "matrix JSON is one line");
    assert_eq!(result.json_output("prod-hub-matrix-jobs").as_array().map(Vec::len), Some(2));

    // Log: a group with both titled tables, and a warning at cluster2's file (no canary).
    assert!(result.stdout.contains("::group::Deployment plan\n"), "{}", result.stdout);
    assert!(result.stdout.contains("Support chart and Staging hub upgrades"));
    assert!(result.stdout.contains("Prod hub upgrades"));
    assert!(result.stdout.contains("::endgroup::\n"));
    assert!(
        result
            .stdout
            .contains("::warning file=config/clusters/cluster2/cluster.yaml::cluster cluster2 has no staging hub"),
        "{}",
        result.stdout
    );

    // Step summary: Markdown tables.
    assert!(result.summary.contains("### Support and Staging deployments"), "{}", result.summary);
    assert!(result.summary.contains("| gcp | cluster1 | No |  | Yes | staging |"), "{}", result.summary);

    // Plan folder: plan.json with the PR, comment.md with the marker first.
    let plan_dir = workspace.path().join("deployment-plan");
    let plan: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(plan_dir.join("plan.json")).expect("plan.json")).expect("JSON");
    assert_eq!(plan["version"], 1);
    assert_eq!(plan["pr_number"], 42);
    assert_eq!(plan["head_sha"], "0123456789abcdef0123456789abcdef01234567");
    assert_eq!(plan["prod-hub-matrix-jobs"], result.json_output("prod-hub-matrix-jobs"));
    let comment = fs::read_to_string(plan_dir.join("comment.md")).expect("comment.md");
    assert!(comment
        .starts_with("<!-- deployment-plan -->\nMerging this PR will trigger the following deployment actions.\n"));
    assert!(comment.contains("### Production deployments"));
}

#[test]
fn empty_plan_says_so_everywhere() {
    let workspace = example_workspace();
    let result = ActionRun::new("action-generate", workspace.path()).input("changed-files", "docs/index.md").run();
    assert!(result.success(), "{}", result.stderr);
    assert_eq!(result.output("has-jobs"), "false");
    assert_eq!(result.output("support-and-staging-matrix-jobs"), "[]");
    assert_eq!(result.output("prod-hub-matrix-jobs"), "[]");
    let comment = fs::read_to_string(workspace.path().join("deployment-plan/comment.md")).expect("comment.md");
    assert!(comment.contains("No support or staging upgrades will be triggered"));
    assert!(comment.contains("No production hub upgrades will be triggered"));
    let plan: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(workspace.path().join("deployment-plan/plan.json")).expect("plan"))
            .expect("JSON");
    assert_eq!(plan["pr_number"], serde_json::Value::Null, "no event, no PR");
}

#[test]
fn labels_accept_label_objects_and_settings_rename_them() {
    let workspace = example_workspace();
    fs::write(workspace.path().join("deployer.yaml"), "labels:\n  skip_deploy: 'ci: skip'\n").expect("settings");
    let result = ActionRun::new("action-generate", workspace.path())
        .input("changed-files", "helm-charts/basehub/values.yaml")
        .input("labels", r#"[{"name": "ci: skip", "color": "ededed"}]"#)
        .run();
    assert!(result.success(), "{}", result.stderr);
    assert_eq!(result.output("has-jobs"), "false");
}

#[test]
fn config_input_names_another_settings_file() {
    let workspace = example_workspace();
    fs::create_dir_all(workspace.path().join("ci")).expect("dir");
    fs::write(workspace.path().join("ci/deploy.yaml"), "redeploy_all_hubs: ['docs/**']\n").expect("settings");
    let result = ActionRun::new("action-generate", workspace.path())
        .input("changed-files", "docs/index.md")
        .input("config", "ci/deploy.yaml")
        .run();
    assert!(result.success(), "{}", result.stderr);
    assert_eq!(result.json_output("prod-hub-matrix-jobs").as_array().map(Vec::len), Some(9));
}

/// A repository with one cluster file (and any extra files), for error cases.
fn repo_with(files: &[(&str, &str)]) -> tempfile::TempDir {
    let temp = tempfile::tempdir().expect("temp");
    for (path, text) in files {
        let path = temp.path().join(path);
        fs::create_dir_all(path.parent().expect("parent")).expect("dir");
        fs::write(path, text).expect("write");
    }
    temp
}

const C1: &str = "config/clusters/c1/cluster.yaml";

/// Asserts a failed run: exit 1, the annotation, the readable message, and nothing written.
fn assert_fails(workspace: &Path, inputs: &[(&str, &str)], annotation: &str, readable: &str) {
    let mut run = ActionRun::new("action-generate", workspace).input("changed-files", "x");
    for (name, value) in inputs {
        run = run.input(name, *value);
    }
    let result = run.run();
    assert_eq!(result.output.status.code(), Some(1), "{annotation}: {}\n{}", result.stdout, result.stderr);
    assert!(
        result.stdout.lines().any(|l| l.starts_with(annotation)),
        "want {annotation:?} in stdout:\n{}",
        result.stdout
    );
    assert!(result.stderr.contains(readable), "want {readable:?} in stderr:\n{}", result.stderr);
    assert_eq!(result.raw_outputs, "", "no output is written on failure");
    assert_eq!(result.summary, "", "no summary is written on failure");
    assert!(!workspace.join("deployment-plan").exists(), "no plan folder on failure");
}

#[test]
fn bad_cluster_files_fail_at_file_and_line() {
    let long = "a".repeat(54);
    let long_hub = format!("name: c1\nprovider: gcp\nhubs:\n  - name: {long}\n");
    let cases: Vec<(String, &str, &str)> = vec![
        (
            "name: c1\nprovider: gcp\nhubs:\n  - name: a\n   helm_chart: x\n".into(),
            "::error file=config/clusters/c1/cluster.yaml,line=5,col=4::",
            "config/clusters/c1/cluster.yaml:5:4:",
        ),
        ("provider: gcp\n".into(), "::error file=config/clusters/c1/cluster.yaml,line=1,col=1::missing field `name`", "missing field `name`"),
        ("name: c1\nhubs: []\n".into(), "::error file=config/clusters/c1/cluster.yaml,line=1,col=1::missing field `provider`", "hint: add the missing field"),
        (
            "name: c1\nprovider: digitalocean\n".into(),
            "::error file=config/clusters/c1/cluster.yaml,line=2,col=11::provider: unknown variant, expected one of",
            "expected one of `gcp`, `aws`, `azure`, `kubeconfig`",
        ),
        (
            "name: c1\nprovider: gcp\nhubs:\n  name: a\n".into(),
            "::error file=config/clusters/c1/cluster.yaml,line=4,col=3::hubs: invalid type: map, expected a sequence",
            "config/clusters/c1/cluster.yaml:4:3: hubs: invalid type",
        ),
        (
            "name: c1\nprovider: gcp\nhubs:\n  - name: a\n  - name: b\n  - name: a\n".into(),
            "::error file=config/clusters/c1/cluster.yaml,line=6,col=11::hubs[2].name: hub name `a` is already used by hubs[0]",
            "hint: every hub of a cluster needs its own name",
        ),
        (
            "name: c1\nprovider: gcp\nhubs:\n  - name: a\n    helm_chart_values_files:\n      - a.values.yaml\n".into(),
            "::error file=config/clusters/c1/cluster.yaml,line=6,col=9::hubs[0].helm_chart_values_files[0]: values file `a.values.yaml` does not exist",
            "looked for config/clusters/c1/a.values.yaml",
        ),
        (
            "name: c1\nprovider: gcp\nhubs:\n  - name: My_Hub\n".into(),
            "::error file=config/clusters/c1/cluster.yaml,line=4,col=11::hubs[0].name: `My_Hub` is not a valid hub name",
            "at most 53 characters",
        ),
        (long_hub, "::error file=config/clusters/c1/cluster.yaml,line=4,col=11::hubs[0].name:", "is not a valid hub name"),
        (
            "name: Cluster_1\nprovider: gcp\n".into(),
            "::error file=config/clusters/c1/cluster.yaml,line=1,col=7::name: `Cluster_1` is not a valid cluster name",
            "use only lowercase letters, digits, `-` and `.`",
        ),
        ("".into(), "::error file=config/clusters/c1/cluster.yaml,line=1,col=1::the file is empty", "the file is empty"),
    ];
    for (text, annotation, readable) in cases {
        let repo = repo_with(&[(C1, &text)]);
        assert_fails(repo.path(), &[], annotation, readable);
    }
}

#[test]
fn duplicate_cluster_names_across_files() {
    let repo = repo_with(&[
        ("config/clusters/a/cluster.yaml", "name: same\nprovider: gcp\n"),
        ("config/clusters/b/cluster.yaml", "# the second one\nname: same\nprovider: aws\n"),
    ]);
    assert_fails(
        repo.path(),
        &[],
        "::error file=config/clusters/b/cluster.yaml,line=2,col=7::name: cluster name `same` is already used by config/clusters/a/cluster.yaml",
        "hint: every cluster needs its own name",
    );
}

#[test]
fn every_problem_of_every_file_is_annotated() {
    let repo = repo_with(&[
        ("config/clusters/a/cluster.yaml", "name: A\nprovider: gcp\n"),
        ("config/clusters/b/cluster.yaml", "name: b\nprovider: gcp\nhubs:\n  - name: X\n    helm_chart: basehub\n"),
        ("helm-charts/basehub/Chart.yaml", "name: basehub\n"),
    ]);
    let result = ActionRun::new("action-generate", repo.path()).input("changed-files", "x").run();
    assert!(!result.success());
    let errors: Vec<&str> = result.stdout.lines().filter(|l| l.starts_with("::error ")).collect();
    assert_eq!(errors.len(), 2, "{}", result.stdout);
    assert!(result.stderr.contains("invalid configuration (2 problems):"), "{}", result.stderr);
}

#[test]
fn bad_inputs_name_the_input() {
    let repo = repo_with(&[(C1, "name: c1\nprovider: gcp\n")]);
    assert_fails(
        repo.path(),
        &[("labels", "deployer:skip-deploy")],
        "::error::invalid input `labels`",
        "invalid input `labels`",
    );
    assert_fails(
        repo.path(),
        &[("changed-files", "[\"a\", 2]")],
        "::error::invalid input `changed-files`",
        "not a JSON array",
    );
    assert_fails(
        repo.path(),
        &[("changed-files", " ")],
        "::error::invalid input `changed-files`: is empty and there is no event",
        "GITHUB_EVENT_PATH is not set",
    );
    assert_fails(
        repo.path(),
        &[("config", "nope.yaml")],
        "::error file=nope.yaml::settings file not found",
        "nope.yaml",
    );
}

#[test]
fn bad_settings_fail_at_their_line() {
    let repo =
        repo_with(&[(C1, "name: c1\nprovider: gcp\n"), ("deployer.yaml", "redeploy_all_hubs:\n  - 'charts/{a'\n")]);
    assert_fails(
        repo.path(),
        &[],
        "::error file=deployer.yaml,line=2,col=5::redeploy_all_hubs[0]: invalid glob `charts/{a`",
        "hint: patterns are globs",
    );
    let typo = repo_with(&[(C1, "name: c1\nprovider: gcp\n"), ("deployer.yaml", "staging_pattern: x\n")]);
    assert_fails(
        typo.path(),
        &[],
        "::error file=deployer.yaml,line=1,col=1::unknown field `staging_pattern`",
        "unknown field",
    );
}

#[test]
fn no_cluster_files_is_an_error_not_an_empty_plan() {
    let repo = repo_with(&[("README.md", "x")]);
    assert_fails(repo.path(), &[], "::error file=config/clusters::no cluster files match", "no cluster files match");
}

#[test]
fn a_matrix_over_256_jobs_is_packed_into_legs_of_one_cluster() {
    let hubs: String = (0..300).map(|i| format!("  - name: hub{i}\n    helm_chart: basehub\n")).collect();
    let repo = repo_with(&[
        (C1, &format!("name: c1\nprovider: gcp\nhubs:\n{hubs}")),
        ("helm-charts/basehub/Chart.yaml", "name: basehub\n"),
    ]);
    let result = ActionRun::new("action-generate", repo.path()).input("changed-files", C1).run();
    assert!(result.success(), "{}\n{}", result.stdout, result.stderr);
    let legs = result.json_output("prod-hub-matrix-jobs");
    let legs = legs.as_array().expect("array");
    assert_eq!(legs.len(), 256);
    let sizes: Vec<usize> = legs.iter().map(|l| l["clusters"][0]["hubs"].as_array().map_or(0, Vec::len)).collect();
    assert_eq!(sizes.iter().sum::<usize>(), 300);
    assert_eq!((sizes.iter().min(), sizes.iter().max()), (Some(&1), Some(&2)));
    assert_eq!(legs[0]["leg"], "1 of 256");
    assert_eq!(legs[0]["clusters"][0]["cluster_name"], "c1");
    assert!(
        result.stdout.contains("Matrices packed into legs to fit max-jobs 256: 0 support-and-staging legs (largest: 0 releases), 256 prod legs (largest: 2 hubs)"),
        "{}",
        result.stdout
    );
}

#[test]
fn user_text_cannot_issue_workflow_commands() {
    // A values file name is user-controlled text that ends up in reasons.
    let name = "::error::pwned.yaml";
    let repo = repo_with(&[
        (
            C1,
            &format!(
                "name: c1\nprovider: gcp\nhubs:\n  - name: prod\n    helm_chart: basehub\n    helm_chart_values_files: ['{name}']\n"
            ),
        ),
        ("helm-charts/basehub/Chart.yaml", "name: basehub\n"),
        (&format!("config/clusters/c1/{name}"), "x: 1\n"),
    ]);
    let result = ActionRun::new("action-generate", repo.path())
        .input("changed-files", format!("config/clusters/c1/{name}"))
        .run();
    assert!(result.success(), "{}", result.stderr);
    assert!(!result.stdout.lines().any(|l| l.trim_start().starts_with("::error::pwned")), "{}", result.stdout);
    assert!(result.output("prod-hub-matrix-jobs").contains("::error::pwned.yaml"));
    let comment = fs::read_to_string(repo.path().join("deployment-plan/comment.md")).expect("comment");
    assert!(
        comment.contains("| gcp | c1 | prod | Following helm chart values files were modified: ::error::pwned.yaml |")
    );
}
