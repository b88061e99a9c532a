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
