//! `chart_override` and `domain_override_file` of a hub, through the built
//! binaries on `tests/fixtures/dropin-values/repo` with the real helm and a
//! real sops file: each is an input of its hub alone (action-generate), and
//! the override's Chart.yaml is what the render uses (`deployer diff`,
//! `validate --render`); a deploy refuses a hub with an override rather
//! than installing the chart's own dependencies.

mod support;

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;
use support::age::{sops_encrypt, AgeKey};
use support::{bin, copy_tree, fixture, tools_dir, ActionRun};

const CLUSTER: &str = "config/clusters/c1/cluster.yaml";
const OVERRIDE: &str = "config/clusters/c1/lis-chart.yaml";
const DOMAIN: &str = "config/clusters/c1/enc-dom.domain-override.secret.yaml";

struct Repo {
    _temp: tempfile::TempDir,
    home: PathBuf,
    head: PathBuf,
}

impl Repo {
    fn new() -> Repo {
        let temp = tempfile::tempdir().expect("temp");
        let head = temp.path().join("workspace");
        copy_tree(&fixture("dropin-values/repo"), &head);
        let key = AgeKey::generate();
        sops_encrypt("domain: private.example.org\n", &key.recipient, &head.join(DOMAIN));
        let home = temp.path().join("home");
        fs::create_dir_all(&home).expect("home");
        Repo { _temp: temp, home, head }
    }

    fn deployer(&self, args: &[&str]) -> (bool, String, String) {
        let output = std::process::Command::new(bin("deployer"))
            .env_clear()
            .env("PATH", tools_dir())
            .env("HOME", &self.home)
            .args(args)
            .output()
            .expect("run deployer");
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    }
}

/// (hub, reason) of every upgraded hub the action plans for `changed`: staging hubs first.
fn planned(repo: &Path, changed: &str) -> Vec<(String, String)> {
    let result = ActionRun::new("action-generate", repo).input("changed-files", changed).run();
    assert!(result.success(), "{}\n{}", result.stdout, result.stderr);
    let (staging, prod) =
        (result.json_output("support-and-staging-matrix-jobs"), result.json_output("prod-hub-matrix-jobs"));
    let _ = fs::remove_dir_all(repo.join("deployment-plan"));
    let mut hubs = Vec::new();
    for job in staging.as_array().expect("list") {
        for hub in job["staging_hubs"].as_array().expect("list") {
            hubs.push((hub.as_str().expect("name").to_owned(), job["reason_for_staging_redeploy"].to_string()));
        }
    }
    for job in prod.as_array().expect("list") {
        hubs.push((
            job["hub_name"].as_str().expect("name").to_owned(),
            job["reason_for_redeploy"].as_str().expect("reason").to_owned(),
        ));
    }
    hubs
}

fn names(planned: &[(String, String)]) -> Vec<&str> {
    planned.iter().map(|(hub, _)| hub.as_str()).collect()
}

#[test]
fn each_override_file_plans_its_hub_only() {
    let repo = Repo::new();
    let lis = planned(&repo.head, OVERRIDE);
    assert_eq!(names(&lis), ["staging", "lis"], "{lis:?}");
    assert_eq!(lis[1].1, "Chart override was modified: lis-chart.yaml");

    let dom = planned(&repo.head, DOMAIN);
    assert_eq!(names(&dom), ["staging", "dom"], "{dom:?}");
    assert_eq!(dom[1].1, "Domain override file was modified: enc-dom.domain-override.secret.yaml");

    // The folder only the override names is an input of that hub alone,
    let pinned = planned(&repo.head, "helm-charts/dask-gateway-2024/templates/gateway.yaml");
    assert_eq!(names(&pinned), ["staging", "lis"], "{pinned:?}");
    assert!(pinned[1].1.contains("dask-gateway-2024"), "{pinned:?}");
    // and the one the override replaces is not one of its inputs.
    let own = planned(&repo.head, "helm-charts/dask-gateway-2026/templates/gateway.yaml");
    assert_eq!(names(&own), ["staging", "dom"], "{own:?}");
    // The chart's own folder still is.
    let chart = planned(&repo.head, "helm-charts/basehub/templates/hub.yaml");
    assert_eq!(names(&chart), ["staging", "lis", "dom"], "{chart:?}");
}

#[test]
fn the_render_uses_the_override_chart_yaml() {
    let repo = Repo::new();
    // The base: the same repository before `lis` had its override.
    let base = repo.home.with_file_name("base");
    copy_tree(&repo.head, &base);
    let cluster = fs::read_to_string(base.join(CLUSTER)).expect("read");
    fs::write(base.join(CLUSTER), cluster.replace("    chart_override: lis-chart.yaml\n", "")).expect("write");

    let head = repo.head.to_str().expect("UTF-8");
    let base_dir = base.to_str().expect("UTF-8");
    let (ok, stdout, stderr) = repo.deployer(&[
        "diff",
        "--repo",
        head,
        "--base-dir",
        base_dir,
        "--changed-files",
        CLUSTER,
        "--output",
        "json",
    ]);
    assert!(ok, "{stdout}\n{stderr}");
    let json: Value = serde_json::from_str(&stdout).expect("JSON");
    let lis = json["releases"]
        .as_array()
        .expect("releases")
        .iter()
        .find(|r| r["hub_name"] == "lis")
        .unwrap_or_else(|| panic!("lis in {json:#}"));
    assert_eq!(lis["status"], "changed", "{lis:#}");
    let objects = lis["objects"].as_array().expect("objects");
    assert_eq!(objects.len(), 1, "{lis:#}");
    assert_eq!(objects[0]["object"], "v1 ConfigMap dask-gateway", "{lis:#}");
    let diff = objects[0]["diff"].as_str().expect("diff");
    assert!(diff.contains("-  version: 2026.3.0") && diff.contains("+  version: 2024.1.0"), "{diff}");

    // `validate --render` renders the hub with its override too.
    let (ok, stdout, stderr) = repo.deployer(&["validate", "--render", "--repo", head]);
    assert!(ok, "{stdout}\n{stderr}");
}

#[test]
fn a_missing_override_file_is_an_error_at_its_line() {
    let repo = Repo::new();
    fs::remove_file(repo.head.join(OVERRIDE)).expect("remove");
    let head = repo.head.to_str().expect("UTF-8");
    let (ok, _, stderr) = repo.deployer(&["validate", "--repo", head]);
    assert!(!ok);
    assert!(
        stderr.contains(&format!(
            "{CLUSTER}:14:21: hubs[1].chart_override: chart override `lis-chart.yaml` does not exist (looked for {OVERRIDE})"
        )),
        "{stderr}"
    );
}

#[test]
fn an_override_dependency_outside_the_repository_is_an_error_at_its_line() {
    let repo = Repo::new();
    let text = fs::read_to_string(repo.head.join(OVERRIDE)).expect("read");
    fs::write(repo.head.join(OVERRIDE), text.replace("file://../dask-gateway-2024", "file://../../../x"))
        .expect("write");
    let head = repo.head.to_str().expect("UTF-8");
    let (ok, stdout, stderr) = repo.deployer(&["generate", "--repo", head, "--changed-files", OVERRIDE]);
    assert!(!ok, "{stdout}");
    assert!(
        stderr.contains(&format!(
            "{OVERRIDE}:7:17: dependencies[0].repository: `file://../../../x` leaves the repository"
        )),
        "{stderr}"
    );
}

#[test]
fn a_deploy_installs_the_hub_from_a_copy_with_the_override() {
    let repo = Repo::new();
    let head = repo.head.to_str().expect("UTF-8");
    let (ok, stdout, stderr) =
        repo.deployer(&["deploy", "--repo", head, "--cluster", "c1", "--hubs", "lis,staging", "--dry-run"]);
    assert!(ok, "{stdout}\n{stderr}");
    assert!(
        stdout.contains(
            "# <chart-override-copy-1>: a private copy of helm-charts/basehub, helm-charts/dask-gateway-2024 \
             with helm-charts/basehub/Chart.yaml replaced by config/clusters/c1/lis-chart.yaml (chart_override of lis)"
        ),
        "{stdout}"
    );
    assert!(stdout.contains("helm dependency build '<chart-override-copy-1>/helm-charts/basehub'"), "{stdout}");
    assert!(stdout.contains("helm upgrade --install lis '<chart-override-copy-1>/helm-charts/basehub'"), "{stdout}");
    assert!(stdout.contains("helm upgrade --install staging helm-charts/basehub"), "{stdout}");

    // A real run, with a helm that renders (real helm) what it is asked to install.
    let bin_dir = repo.home.join("bin");
    fs::create_dir_all(&bin_dir).expect("bin");
    let log = repo.home.join("installed.yaml");
    let script = format!(
        "#!/bin/sh\ncase \"$1\" in\n  upgrade) exec '{real}' template \"$3\" \"$4\" >>'{log}' ;;\n  *) exec '{real}' \"$@\" ;;\nesac\n",
        real = support::tool("helm").display(),
        log = log.display()
    );
    fs::write(bin_dir.join("helm"), script).expect("helm wrapper");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(bin_dir.join("helm"), fs::Permissions::from_mode(0o755)).expect("mode");
    }
    let tmp = repo.home.join("tmp");
    fs::create_dir_all(&tmp).expect("tmp");
    let output = std::process::Command::new(bin("deployer"))
        .env_clear()
        .env("PATH", format!("{}:{}", bin_dir.display(), tools_dir().display()))
        .env("HOME", &repo.home)
        .env("TMPDIR", &tmp)
        .args(["deploy", "--use-current-context", "--wait", "none", "--repo", head, "--cluster", "c1", "--hubs", "lis"])
        .output()
        .expect("run deployer");
    let (stdout, stderr) =
        (String::from_utf8_lossy(&output.stdout).into_owned(), String::from_utf8_lossy(&output.stderr).into_owned());
    assert!(output.status.success(), "{stdout}\n{stderr}");
    let installed = fs::read_to_string(&log).expect("installed");
    assert!(installed.contains("version: \"2024.1.0\""), "{installed}");
    assert!(!installed.contains("2026.3.0"), "{installed}");
    assert!(!repo.head.join("helm-charts/basehub/charts").exists(), "the checkout is left alone");
    assert_eq!(fs::read_dir(&tmp).expect("tmp").count(), 0, "the copy is removed");
}
