//! A path pattern of `deployer.yaml` that can never match a normalised path
//! (`./x`, a leading `/`, `//`, a `.` or `..` segment, a trailing `/`, or one
//! `{...}` alternative that only ever spells such a path) is an error at its
//! line, in every path list: `clusters.glob`, `clusters.exclude`,
//! `redeploy_all_hubs`, `redeploy_all_support` and both `health_checks`
//! lists. Through `action-generate`, `deployer validate` and `deployer
//! generate`; an alternative quoted in the message cannot inject a workflow
//! command (runner-style parser).

mod support;

use std::fs;
use std::path::Path;

use support::runner_log::commands;
use support::{deployer, ActionRun};

const HINT: &str = "hint: changed paths are compared normalised";

fn repo(settings: &str) -> tempfile::TempDir {
    let temp = tempfile::tempdir().expect("temp");
    for (path, text) in [
        ("deployer.yaml", settings),
        ("helm-charts/basehub/Chart.yaml", "apiVersion: v2\nname: basehub\nversion: 0.1.0\n"),
        (
            "config/clusters/c1/cluster.yaml",
            "name: c1\nprovider: gcp\nhubs:\n  - {name: staging, helm_chart: basehub, helm_chart_values_files: [staging.values.yaml]}\n",
        ),
        ("config/clusters/c1/staging.values.yaml", "x: 1\n"),
    ] {
        let path = temp.path().join(path);
        fs::create_dir_all(path.parent().expect("parent")).expect("dir");
        fs::write(path, text).expect("write");
    }
    temp
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The action, `validate` and `generate` all refuse the repository with `headline` at `position`.
fn assert_refused_everywhere(repo: &Path, changed: &str, (line, col): (usize, usize), headline: &str) {
    let result = ActionRun::new("action-generate", repo).input("changed-files", changed).run();
    let logs = format!("stdout:\n{}\nstderr:\n{}", result.stdout, result.stderr);
    assert_eq!(result.output.status.code(), Some(1), "{logs}");
    let annotation = format!("::error file=deployer.yaml,line={line},col={col}::{headline}");
    assert!(result.stdout.lines().any(|l| l.starts_with(&annotation)), "want {annotation:?} in:\n{logs}");
    assert_eq!(result.raw_outputs, "", "no outputs on failure");
    // One command in the whole log: the error annotation.
    let names: Vec<String> = commands(&result.stdout).into_iter().map(|c| c.name).collect();
    assert_eq!(names, ["error"], "{logs}");
    assert!(commands(&result.stderr).is_empty(), "{logs}");

    let readable = format!("deployer.yaml:{line}:{col}: {headline}");
    let repo_arg = repo.to_str().expect("utf-8");
    for output in [
        deployer(&["validate", "--repo", repo_arg]),
        deployer(&["generate", "--repo", repo_arg, "--changed-files", changed, "--output", "json"]),
    ] {
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains(&readable), "want {readable:?} in:\n{stderr}");
        assert!(stderr.contains(HINT), "{stderr}");
        assert_eq!(text(&output.stdout), "", "nothing on stdout on failure");
        assert!(commands(&stderr).is_empty(), "{stderr}");
    }
}

#[test]
fn every_path_list_refuses_a_pattern_that_can_never_match() {
    let cases: &[(&str, &str, (usize, usize), &str)] = &[
        (
            "redeploy_all_hubs:\n  - deployer/**\n  - ./helm-charts/basehub/**\n",
            "helm-charts/basehub/values.yaml",
            (3, 5),
            "redeploy_all_hubs[1]: the pattern has a `.` segment (such as `./`); changed paths are normalised",
        ),
        (
            "redeploy_all_support: ['/helm-charts/support/**']\n",
            "helm-charts/support/values.yaml",
            (1, 24),
            "redeploy_all_support[0]: the pattern is an absolute path; changed paths are normalised",
        ),
        (
            "clusters:\n  exclude:\n    - 'config//templates/**'\n",
            "config/clusters/c1/staging.values.yaml",
            (3, 7),
            "clusters.exclude[0]: the pattern has an empty segment (`//`); cluster files are found by their normalised paths",
        ),
        (
            "clusters:\n  glob: 'config/clusters/*/../*/cluster.yaml'\n",
            "config/clusters/c1/staging.values.yaml",
            (2, 9),
            "clusters.glob: the pattern has a `..` segment; cluster files are found inside the repository only",
        ),
        (
            "health_checks:\n  cluster_paths:\n    - 'terraform/{provider}/{cluster}/'\n",
            "terraform/gcp/c1/main.tf",
            (3, 7),
            "health_checks.cluster_paths[0]: the pattern ends with `/`; changed paths are normalised",
        ),
        (
            "health_checks:\n  provider_paths:\n    - '{terraform,./tf}/{provider}/**'\n",
            "tf/gcp/main.tf",
            (3, 7),
            "health_checks.provider_paths[0]: with the alternative `./tf` of `{terraform,./tf}`, the pattern has a `.` segment",
        ),
    ];
    for (settings, changed, position, headline) in cases {
        let repo = repo(settings);
        assert_refused_everywhere(repo.path(), changed, *position, headline);
    }
}

#[test]
fn an_alternative_quoted_in_the_error_injects_no_command() {
    let settings = "redeploy_all_hubs:\n  - \"{deployer,./b\\r::warning::injected ##[warning]injected}/**\"\n";
    let repo = repo(settings);
    assert_refused_everywhere(
        repo.path(),
        "deployer/x",
        (2, 5),
        "redeploy_all_hubs[0]: with the alternative `./b\\u{d}::warning::injected ##\\[warning]injected` of",
    );
}
