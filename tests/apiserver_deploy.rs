//! `deployer deploy` against a real API server (see `tests/support/apiserver.rs`): the
//! support chart and two hubs installed with helm 4 and helm 3, each in its namespace, with
//! the values of the repository's files, and a second deploy making revision 2.

mod support;

use std::fs;
use std::path::Path;
use std::process::Command;

use support::{apiserver, bin, tool};

/// A repository with one kubeconfig cluster, a support chart and a hub chart that put their
/// values in ConfigMaps.
fn write_repo(repo: &Path, hubs: &[&str], kubeconfig: &Path) {
    let write = |path: &str, text: &str| {
        let path = repo.join(path);
        fs::create_dir_all(path.parent().expect("parent")).expect("folder");
        fs::write(path, text).expect("write");
    };
    for chart in ["support", "basehub"] {
        write(&format!("helm-charts/{chart}/Chart.yaml"), &format!("apiVersion: v2\nname: {chart}\nversion: 0.1.0\n"));
        write(
            &format!("helm-charts/{chart}/templates/values.yaml"),
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-values\ndata:\n  greeting: {{ .Values.greeting | default \"none\" | quote }}\n",
        );
    }
    let mut cluster = String::from(
        "name: c1\nprovider: kubeconfig\nkubeconfig:\n  file: kubeconfig.yaml\nsupport:\n  helm_chart_values_files: [support.values.yaml]\nhubs:\n",
    );
    for hub in hubs {
        cluster.push_str(&format!(
            "  - name: {hub}\n    helm_chart: basehub\n    helm_chart_values_files: [{hub}.values.yaml]\n"
        ));
        write(&format!("config/clusters/c1/{hub}.values.yaml"), &format!("greeting: hello from {hub}\n"));
    }
    write("config/clusters/c1/cluster.yaml", &cluster);
    write("config/clusters/c1/support.values.yaml", "greeting: hello from support\n");
    // The cluster's `kubeconfig.file`: what `deployer deploy` hands helm and kubectl.
    write("config/clusters/c1/kubeconfig.yaml", &fs::read_to_string(kubeconfig).expect("server kubeconfig"));
}

#[test]
fn deploy_installs_support_and_hubs_with_both_helms() {
    let Some(lease) = apiserver::lease("deploy_installs_support_and_hubs_with_both_helms", 1) else { return };
    let server = &lease[0];
    for (helm, hubs) in [("helm", ["alpha", "beta"]), ("helm3", ["gamma", "delta"])] {
        let temp = tempfile::tempdir().expect("temp");
        let repo = temp.path().join("repo");
        write_repo(&repo, &hubs, &server.kubeconfig);
        let bin_dir = temp.path().join("bin");
        fs::create_dir_all(&bin_dir).expect("bin");
        std::os::unix::fs::symlink(tool(helm), bin_dir.join("helm")).expect("helm link");
        std::os::unix::fs::symlink(tool("kubectl"), bin_dir.join("kubectl")).expect("kubectl link");
        let deploy = || {
            Command::new(bin("deployer"))
                .env_clear()
                .env("PATH", format!("{}:/usr/bin:/bin", bin_dir.display()))
                .env("HOME", temp.path())
                .args(["deploy", "--cluster", "c1", "--support", "--hubs", &hubs.join(","), "--repo"])
                .arg(&repo)
                .output()
                .expect("deployer deploy")
        };
        let out = deploy();
        let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "{helm}: {said}");
        let releases = server.releases();
        for name in ["support"].iter().chain(hubs.iter()) {
            let release =
                releases.iter().find(|r| &r.name == name).unwrap_or_else(|| panic!("{helm}: no {name}: {releases:?}"));
            assert_eq!((release.namespace.as_str(), release.status.as_str(), release.revision), (*name, "deployed", 1));
            let greeting = server.kubectl_ok(&[
                "get",
                "configmap",
                &format!("{name}-values"),
                "-n",
                name,
                "-o",
                "jsonpath={.data.greeting}",
            ]);
            assert_eq!(greeting, format!("hello from {name}"), "{helm}");
        }
        assert!(deploy().status.success(), "{helm}: second deploy");
        let again = server.releases();
        assert!(again.iter().filter(|r| hubs.contains(&r.name.as_str())).all(|r| r.revision == 2), "{again:?}");
        assert_eq!(again.iter().find(|r| r.name == "support").map(|r| r.revision), Some(2));
        server.clean();
    }
}

#[test]
fn a_leg_upgrades_several_releases_of_a_cluster_at_once_without_conflicts() {
    let Some(lease) = apiserver::lease("a_leg_upgrades_several_releases_of_a_cluster_at_once", 1) else { return };
    let server = &lease[0];
    let temp = tempfile::tempdir().expect("temp");
    let repo = temp.path().join("repo");
    let hubs = ["p1", "p2", "p3", "p4", "p5", "p6"];
    write_repo(&repo, &hubs, &server.kubeconfig);
    // helm recording when each process starts and ends.
    let bin_dir = temp.path().join("bin");
    fs::create_dir_all(&bin_dir).expect("bin");
    let times = temp.path().join("times.log");
    let wrapper = bin_dir.join("helm");
    fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\ns=$(date +%s%N)\n'{}' \"$@\"\nrc=$?\necho \"$s $(date +%s%N) $1 $2\" >> '{}'\nexit $rc\n",
            tool("helm").display(),
            times.display()
        ),
    )
    .expect("wrapper");
    fs::set_permissions(&wrapper, std::os::unix::fs::PermissionsExt::from_mode(0o755)).expect("chmod");
    std::os::unix::fs::symlink(tool("kubectl"), bin_dir.join("kubectl")).expect("kubectl link");
    let action = |binary: &str| {
        support::ActionRun::new(binary, &repo)
            .env("PATH", format!("{}:/usr/bin:/bin", bin_dir.display()))
            .env("HOME", temp.path().to_string_lossy())
            .env("GITHUB_RUN_ATTEMPT", "1")
    };
    let plan = action("action-generate")
        .input("changed-files", "helm-charts/basehub/templates/values.yaml")
        .input("max-jobs", "1")
        .temp_input("plan-dir", "plan")
        .run();
    assert!(plan.success(), "{}", plan.stderr);
    let legs = plan.json_output("prod-hub-matrix-jobs");
    let leg = legs.as_array().and_then(|l| l.first()).expect("one prod leg").to_string();
    let run = action("action-deploy")
        .input("leg", leg)
        .input("max-parallel-releases", "3")
        .input("results-dir", "results")
        .run();
    assert!(run.success(), "{}\n{}", run.stdout, run.stderr);
    let releases = server.releases();
    for hub in hubs {
        let release = releases.iter().find(|r| r.name == hub).unwrap_or_else(|| panic!("no {hub}: {releases:?}"));
        assert_eq!((release.status.as_str(), release.revision), ("deployed", 1), "{hub}");
    }
    // Several upgrades ran at the same time.
    let spans: Vec<(u128, u128)> = fs::read_to_string(&times)
        .expect("times")
        .lines()
        .filter(|l| l.contains(" upgrade "))
        .map(|l| {
            let mut parts = l.split(' ');
            (parts.next().expect("s").parse().expect("start"), parts.next().expect("e").parse().expect("end"))
        })
        .collect();
    assert_eq!(spans.len(), hubs.len());
    let overlapping = spans.iter().enumerate().any(|(i, a)| spans.iter().skip(i + 1).any(|b| a.0 < b.1 && b.0 < a.1));
    assert!(overlapping, "no two upgrades overlapped: {spans:?}");
}
