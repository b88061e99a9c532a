//! Chart inputs through the real binaries: a hub's own chart folder and its `file://`
//! dependencies (transitively) upgrade it; `impact: chart-dependencies` leaves chart
//! folders to that rule alone; cycles and missing dependency folders are errors at the
//! `Chart.yaml` line; `deployer explain` shows the chain.

mod support;

use std::fs;
use std::path::Path;

use serde_json::{json, Value};
use support::{copy_tree, deployer, example_repo, ActionRun};

/// The example repository plus charts with `file://` dependencies:
/// basehub -> common-lib, daskhub -> basehub, support -> aws-ce-grafana-backend,
/// and a cluster5 whose only hub, `binder-staging`, is on binderhub (on no path list).
fn chart_repo() -> tempfile::TempDir {
    let temp = tempfile::tempdir().expect("temp");
    copy_tree(&example_repo(), temp.path());
    let files = [
        ("helm-charts/basehub/Chart.yaml", &*chart("basehub", &["https://hub.jupyter.org/helm-chart/", "file://../common-lib"])),
        ("helm-charts/daskhub/Chart.yaml", &chart("daskhub", &["file://../basehub", "oci://ghcr.io/dask/charts"])),
        ("helm-charts/support/Chart.yaml", &chart("support", &["file://../aws-ce-grafana-backend"])),
        ("helm-charts/aws-ce-grafana-backend/Chart.yaml", &chart("aws-ce-grafana-backend", &[])),
        ("helm-charts/aws-ce-grafana-backend/values.yaml", "# fixture\n"),
        ("helm-charts/common-lib/Chart.yaml", &chart("common-lib", &[])),
        ("helm-charts/common-lib/templates/_helpers.tpl", "{{/* fixture */}}\n"),
        ("helm-charts/binderhub/Chart.yaml", &chart("binderhub", &["https://hub.jupyter.org/helm-chart/"])),
        (
            "config/clusters/cluster5/cluster.yaml",
            "name: cluster5\nprovider: gcp\ngcp:\n  project: p5\n  cluster: c5\n  zone: us-east1\nhubs:\n  - name: binder-staging\n    helm_chart: binderhub\n    helm_chart_values_files:\n      - binder-staging.values.yaml\n",
        ),
        ("config/clusters/cluster5/binder-staging.values.yaml", "# fixture\n"),
    ];
    for (path, text) in files {
        write(temp.path(), path, text);
    }
    temp
}

/// A `Chart.yaml` with one dependency per repository, each entry on three lines, `repository` of entry i on line 7 + 3i.
fn chart(name: &str, repositories: &[&str]) -> String {
    let mut text = format!("apiVersion: v2\nname: {name}\nversion: 0.1.0\ndependencies:\n");
    if repositories.is_empty() {
        text = format!("apiVersion: v2\nname: {name}\nversion: 0.1.0\n");
    }
    for (index, repository) in repositories.iter().enumerate() {
        text.push_str(&format!("  - name: dep{index}\n    version: 1.0.0\n    repository: \"{repository}\"\n"));
    }
    text
}

fn write(root: &Path, path: &str, text: &str) {
    let path = root.join(path);
    fs::create_dir_all(path.parent().expect("parent")).expect("folder");
    fs::write(path, text).expect("write");
}

/// Both matrices from `action-generate` (checked against `deployer generate --output json`).
fn plan(repo: &Path, changed: &[&str]) -> (Value, Value) {
    let result = ActionRun::new("action-generate", repo)
        .input("changed-files", changed.join("\n"))
        .temp_input("plan-dir", "plan")
        .run();
    assert!(result.success(), "{}\n{}", result.stdout, result.stderr);
    let staging = result.json_output("support-and-staging-matrix-jobs");
    let prod = result.json_output("prod-hub-matrix-jobs");

    let repo_arg = repo.to_str().expect("utf-8 path");
    let changed_arg = serde_json::to_string(changed).expect("json");
    let output = deployer(&["generate", "--repo", repo_arg, "--changed-files", &changed_arg, "--output", "json"]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let cli: Value = serde_json::from_slice(&output.stdout).expect("json");
    assert_eq!(cli["support-and-staging-matrix-jobs"], staging, "CLI and action agree");
    assert_eq!(cli["prod-hub-matrix-jobs"], prod, "CLI and action agree");
    (staging, prod)
}

fn staging_job(cluster: &str, provider: &str, support: &str, hubs: &[&str], staging: &str) -> Value {
    json!({
        "cluster_name": cluster,
        "provider": provider,
        "upgrade_support": !support.is_empty(),
        "reason_for_support_redeploy": support,
        "upgrade_staging": !hubs.is_empty(),
        "reason_for_staging_redeploy": staging,
        "staging_hubs": hubs,
    })
}

fn prod_job(cluster: &str, provider: &str, hub: &str, reason: &str) -> Value {
    json!({"cluster_name": cluster, "provider": provider, "hub_name": hub, "reason_for_redeploy": reason})
}

const CHART_DEPENDENCIES: &str = "impact: chart-dependencies\n";

#[test]
fn a_hubs_own_chart_outside_the_path_lists_plans_it() {
    let repo = chart_repo();
    let (staging, prod) = plan(repo.path(), &["helm-charts/binderhub/Chart.yaml"]);
    assert_eq!(
        staging,
        json!([staging_job("cluster5", "gcp", "", &["binder-staging"], "Helm chart binderhub was modified")])
    );
    assert_eq!(prod, json!([]));
}

#[test]
fn a_support_dependency_plans_every_support_chart() {
    const REASON: &str = "Helm chart support depends on aws-ce-grafana-backend, which was modified";
    let repo = chart_repo();
    for settings in [None, Some(CHART_DEPENDENCIES)] {
        if let Some(text) = settings {
            write(repo.path(), "deployer.yaml", text);
        }
        let (staging, prod) = plan(repo.path(), &["helm-charts/aws-ce-grafana-backend/values.yaml"]);
        assert_eq!(
            staging,
            json!([
                staging_job("cluster1", "gcp", REASON, &[], ""),
                staging_job("cluster2", "aws", REASON, &[], ""),
                staging_job("cluster3", "gcp", REASON, &[], ""),
            ]),
            "{settings:?}"
        );
        assert_eq!(prod, json!([]), "{settings:?}");
    }
}

#[test]
fn a_transitive_dependency_plans_its_dependents_with_the_chain() {
    const BASE: &str = "Helm chart basehub depends on common-lib, which was modified";
    const DASK: &str = "Helm chart daskhub depends on basehub -> common-lib, which was modified";
    let repo = chart_repo();
    let (staging, prod) = plan(repo.path(), &["helm-charts/common-lib/templates/_helpers.tpl"]);
    assert_eq!(
        staging,
        json!([
            staging_job("cluster1", "gcp", "", &["staging"], BASE),
            staging_job("cluster3", "gcp", "", &["staging1", "staging2"], BASE),
            staging_job(
                "cluster4",
                "kubeconfig",
                "",
                &["staging", "dask-staging"],
                &format!("staging: {BASE}; dask-staging: {DASK}")
            ),
        ])
    );
    assert_eq!(
        prod,
        json!([
            prod_job("cluster1", "gcp", "hub1", BASE),
            prod_job("cluster1", "gcp", "hub2", BASE),
            prod_job("cluster1", "gcp", "hub3", DASK),
            prod_job("cluster2", "aws", "hub1", BASE),
            prod_job("cluster2", "aws", "hub2", BASE),
            prod_job("cluster2", "aws", "hub3", BASE),
            prod_job("cluster3", "gcp", "prod", BASE),
            prod_job("cluster4", "kubeconfig", "prod", BASE),
            prod_job("cluster4", "kubeconfig", "nofiles", BASE),
        ])
    );
}

#[test]
fn chart_dependencies_mode_plans_only_the_dependents_of_a_changed_chart() {
    let repo = chart_repo();
    write(repo.path(), "deployer.yaml", CHART_DEPENDENCIES);
    let (staging, prod) = plan(repo.path(), &["helm-charts/daskhub/values.yaml"]);
    assert_eq!(
        staging,
        json!([
            staging_job("cluster1", "gcp", "", &["staging"], "Following prod hubs require redeploy: hub3"),
            staging_job("cluster4", "kubeconfig", "", &["dask-staging"], "Helm chart daskhub was modified"),
        ])
    );
    assert_eq!(prod, json!([prod_job("cluster1", "gcp", "hub3", "Helm chart daskhub was modified")]));

    // basehub's dependents include daskhub, not binderhub.
    let (staging, prod) = plan(repo.path(), &["helm-charts/basehub/values.yaml"]);
    let hubs: Vec<(&str, &str)> = prod
        .as_array()
        .expect("array")
        .iter()
        .map(|j| (j["hub_name"].as_str().expect("hub"), j["reason_for_redeploy"].as_str().expect("reason")))
        .collect();
    assert_eq!(hubs.len(), 9, "{hubs:?}");
    assert!(hubs.contains(&("hub3", "Helm chart daskhub depends on basehub, which was modified")), "{hubs:?}");
    assert!(hubs.contains(&("hub1", "Helm chart basehub was modified")), "{hubs:?}");
    let clusters: Vec<&str> =
        staging.as_array().expect("array").iter().map(|j| j["cluster_name"].as_str().expect("name")).collect();
    assert_eq!(clusters, ["cluster1", "cluster3", "cluster4"], "binderhub's cluster5 is not planned");

    // The support chart's own folder: its reason names the chart, not the path list.
    let (staging, _) = plan(repo.path(), &["helm-charts/support/templates/x.yaml"]);
    let reasons: Vec<&str> = staging
        .as_array()
        .expect("array")
        .iter()
        .map(|j| j["reason_for_support_redeploy"].as_str().expect("reason"))
        .collect();
    assert_eq!(reasons, ["Helm chart support was modified"; 3]);

    // Paths outside the charts folder still match the lists.
    let (_, prod) = plan(repo.path(), &["deployer/commands/deployer.py"]);
    assert!(prod
        .as_array()
        .expect("array")
        .iter()
        .all(|j| j["reason_for_redeploy"] == "Core infrastructure has been modified"));
    assert_eq!(prod.as_array().expect("array").len(), 9);
}

#[test]
fn the_default_mode_still_plans_everything_for_a_chart_on_the_lists() {
    let repo = chart_repo();
    let (staging, prod) = plan(repo.path(), &["helm-charts/daskhub/values.yaml"]);
    const CORE: &str = "Core infrastructure has been modified";
    assert_eq!(
        staging,
        json!([
            staging_job("cluster1", "gcp", "", &["staging"], CORE),
            staging_job("cluster3", "gcp", "", &["staging1", "staging2"], CORE),
            staging_job("cluster4", "kubeconfig", "", &["staging", "dask-staging"], CORE),
            staging_job("cluster5", "gcp", "", &["binder-staging"], CORE),
        ])
    );
    assert_eq!(prod.as_array().expect("array").len(), 9);
    assert!(prod.as_array().expect("array").iter().all(|j| j["reason_for_redeploy"] == CORE));
}

/// A failed `action-generate` run: the annotation, the readable message, and nothing written.
fn assert_fails(repo: &Path, annotation: &str, readable: &str) {
    let result = ActionRun::new("action-generate", repo)
        .input("changed-files", "helm-charts/basehub/values.yaml")
        .input("plan-dir", "deployment-plan")
        .run();
    assert_eq!(result.output.status.code(), Some(1), "{}\n{}", result.stdout, result.stderr);
    assert!(
        result.stdout.lines().any(|l| l.starts_with(annotation)),
        "want {annotation:?} in stdout:\n{}",
        result.stdout
    );
    assert!(result.stderr.contains(readable), "want {readable:?} in stderr:\n{}", result.stderr);
    assert_eq!(result.raw_outputs, "", "no output is written on failure");
    assert_eq!(result.summary, "", "no summary is written on failure");
    assert!(!repo.join("deployment-plan").exists(), "no plan folder on failure");

    let repo_arg = repo.to_str().expect("utf-8 path");
    for args in [
        vec!["generate", "--repo", repo_arg, "--changed-files", "docs/index.md"],
        vec!["validate", "--repo", repo_arg],
        vec!["explain", "--repo", repo_arg, "docs/index.md"],
    ] {
        let output = deployer(&args);
        assert!(!output.status.success(), "{args:?}");
        assert!(String::from_utf8_lossy(&output.stderr).contains(readable), "{args:?}");
    }
}

#[test]
fn a_dependency_cycle_is_an_error_at_the_closing_entry() {
    let repo = chart_repo();
    write(repo.path(), "helm-charts/common-lib/Chart.yaml", &chart("common-lib", &["file://../basehub"]));
    assert_fails(
        repo.path(),
        "::error file=helm-charts/common-lib/Chart.yaml,line=7,col=17::dependencies[0].repository: dependency cycle: basehub -> common-lib -> basehub",
        "helm-charts/common-lib/Chart.yaml:7:17: dependencies[0].repository: dependency cycle: basehub -> common-lib -> basehub\n  hint: charts cannot depend on themselves",
    );
}

#[test]
fn a_missing_dependency_folder_is_an_error_at_its_entry() {
    let repo = chart_repo();
    write(
        repo.path(),
        "helm-charts/basehub/Chart.yaml",
        &chart("basehub", &["https://hub.jupyter.org/helm-chart/", "file://../common-lib", "file://../no-such-lib"]),
    );
    assert_fails(
        repo.path(),
        "::error file=helm-charts/basehub/Chart.yaml,line=13,col=17::dependencies[2].repository: dependency folder `helm-charts/no-such-lib` has no Chart.yaml",
        "helm-charts/basehub/Chart.yaml:13:17: dependencies[2].repository: dependency folder `helm-charts/no-such-lib` has no Chart.yaml",
    );
}

#[test]
fn a_dependency_outside_the_repository_is_an_error_at_its_entry() {
    let repo = chart_repo();
    write(repo.path(), "helm-charts/support/Chart.yaml", &chart("support", &["file://../../../outside"]));
    assert_fails(
        repo.path(),
        "::error file=helm-charts/support/Chart.yaml,line=7,col=17::dependencies[0].repository: `file://../../../outside` leaves the repository (resolves to `../outside`)",
        "leaves the repository",
    );
}

#[test]
fn only_reachable_charts_are_read() {
    let repo = chart_repo();
    // A broken chart no hub uses and no used chart depends on is not read.
    write(repo.path(), "helm-charts/unused/Chart.yaml", "dependencies: [\n");
    write(repo.path(), "helm-charts/images/Chart.yaml", &chart("images", &["file://../images"]));
    let (staging, _) = plan(repo.path(), &["helm-charts/unused/values.yaml", "helm-charts/images/hub/Dockerfile"]);
    assert_eq!(staging, json!([]));
}

fn explain(repo: &Path, paths: &[&str]) -> String {
    let mut args = vec!["explain", "--repo", repo.to_str().expect("utf-8 path")];
    args.extend_from_slice(paths);
    let output = deployer(&args);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).expect("utf-8")
}

const EXPLAINED: &[&str] = &[
    "helm-charts/common-lib/templates/_helpers.tpl",
    "helm-charts/basehub/values.yaml",
    "helm-charts/aws-ce-grafana-backend/values.yaml",
    "helm-charts/binderhub/Chart.yaml",
];

#[test]
fn explain_shows_the_chain_in_both_modes() {
    let repo = chart_repo();
    let default_mode = explain(repo.path(), EXPLAINED);
    for line in [
        "  input of Helm chart basehub: basehub -> common-lib\n",
        "  input of Helm chart daskhub: daskhub -> basehub -> common-lib\n",
        "  input of Helm chart daskhub: daskhub -> basehub\n",
        "  input of Helm chart support: support -> aws-ce-grafana-backend\n",
        "  input of Helm chart binderhub\n",
    ] {
        assert!(default_mode.contains(line), "want {line:?} in:\n{default_mode}");
    }
    insta::assert_snapshot!("explain_chains_default_mode", default_mode);

    write(repo.path(), "deployer.yaml", CHART_DEPENDENCIES);
    insta::assert_snapshot!("explain_chains_chart_dependencies", explain(repo.path(), EXPLAINED));
}
