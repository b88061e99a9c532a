//! `action-setup-cluster` for the kubeconfig provider, and the errors every
//! provider shares, through the real binary with the runner's contract.

mod support;

use std::fs;
use std::path::Path;

use base64::Engine;
use support::{copy_tree, example_repo, ActionResult, ActionRun};

const KUBECONFIG: &str = "apiVersion: v1\nkind: Config\nclusters:\n- name: cluster4\n  cluster:\n    server: https://k8s.cluster4.example\ncontexts:\n- name: cluster4\n  context: {cluster: cluster4, user: admin}\ncurrent-context: cluster4\nusers:\n- name: admin\n  user:\n    token: s3cr3t-cluster4-token\n";

struct Leg {
    workspace: tempfile::TempDir,
    home: tempfile::TempDir,
    env_file: std::path::PathBuf,
}

fn leg() -> Leg {
    let workspace = tempfile::tempdir().expect("temp");
    copy_tree(&example_repo(), workspace.path());
    let home = tempfile::tempdir().expect("temp");
    let env_file = home.path().join("github_env");
    fs::write(&env_file, "").expect("env file");
    Leg { workspace, home, env_file }
}

impl Leg {
    fn run(&self, cluster: &str) -> ActionRun {
        ActionRun::new("action-setup-cluster", self.workspace.path())
            .env("HOME", self.home.path().to_string_lossy())
            .env("GITHUB_ENV", self.env_file.to_string_lossy())
            .input("cluster", cluster)
    }

    fn kubeconfig_path(&self, cluster: &str) -> std::path::PathBuf {
        self.home.path().join(format!(".kube/deployer-{cluster}.yaml"))
    }
}

fn assert_ready(leg: &Leg, result: &ActionResult, cluster: &str) -> String {
    assert!(result.success(), "{}\n{}", result.stdout, result.stderr);
    let path = leg.kubeconfig_path(cluster);
    assert_eq!(result.output("kubeconfig"), path.to_string_lossy());
    let env = support::parse_github_output(&fs::read_to_string(&leg.env_file).expect("GITHUB_ENV"));
    assert_eq!(env["KUBECONFIG"], path.to_string_lossy());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(fs::metadata(&path).expect("kubeconfig").permissions().mode() & 0o777, 0o600);
    }
    assert!(!path.starts_with(leg.workspace.path()), "outside the checkout");
    let text = fs::read_to_string(&path).expect("kubeconfig");
    deployer::cluster::access::kubeconfig::check(&text).expect("a valid kubeconfig");
    text
}

#[test]
fn kubeconfig_input_plain_and_base64() {
    for value in [KUBECONFIG.to_owned(), base64::engine::general_purpose::STANDARD.encode(KUBECONFIG)] {
        let leg = leg();
        let result = leg.run("cluster4").input("kubeconfig", value.clone()).run();
        let text = assert_ready(&leg, &result, "cluster4");
        assert_eq!(text.trim_end(), KUBECONFIG.trim_end());
        assert_eq!(result.output("provider"), "kubeconfig");
        // The input and the token inside are masked first, and appear nowhere else.
        assert!(result.stdout.contains("::add-mask::s3cr3t-cluster4-token"), "{}", result.stdout);
        assert!(
            result.stdout.lines().filter(|l| l.contains("s3cr3t")).all(|l| l.starts_with("::add-mask::")),
            "{}",
            result.stdout
        );
        assert!(!result.stderr.contains("s3cr3t"));
    }
}

/// A `sops` on PATH that "decrypts" by printing the kubeconfig, and records its call.
fn sops_stub(dir: &Path) -> String {
    let bin = dir.join("bin");
    fs::create_dir_all(&bin).expect("bin");
    let script =
        format!("#!/bin/sh\necho \"$@\" >> '{}'\ncat <<'EOF'\n{KUBECONFIG}EOF\n", dir.join("sops.log").display());
    let path = bin.join("sops");
    fs::write(&path, script).expect("stub");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    format!("{}:/usr/bin:/bin", bin.display())
}

#[test]
fn kubeconfig_file_named_in_cluster_yaml_is_decrypted_with_sops() {
    let leg = leg();
    let path = sops_stub(leg.home.path());
    let result = leg.run("cluster4").env("PATH", path).run();
    assert_eq!(assert_ready(&leg, &result, "cluster4"), KUBECONFIG);
    let calls = fs::read_to_string(leg.home.path().join("sops.log")).expect("sops was called");
    assert!(calls.trim().ends_with("config/clusters/cluster4/enc-deployer-credentials.secret.yaml"), "{calls}");
    assert!(calls.starts_with("--decrypt "), "{calls}");
    // The plaintext is never written into the checkout.
    let leftovers: Vec<_> = fs::read_dir(leg.workspace.path().join("config/clusters/cluster4"))
        .expect("dir")
        .filter_map(|e| e.ok())
        .filter(|e| fs::read_to_string(e.path()).is_ok_and(|t| t.contains("s3cr3t")))
        .collect();
    assert!(leftovers.is_empty());
}

#[test]
fn a_sops_failure_is_a_clear_error() {
    let leg = leg();
    let result = leg.run("cluster4").env("PATH", "/nonexistent").run();
    assert_eq!(result.output.status.code(), Some(1));
    assert!(result.stdout.contains("::error::sops failed: cannot run sops to decrypt"), "{}", result.stdout);
    assert_eq!(result.raw_outputs, "");
    assert!(!leg.kubeconfig_path("cluster4").exists());
}

#[test]
fn unknown_clusters_and_missing_blocks_are_clear_errors() {
    let leg = leg();
    let unknown = leg.run("cluster9").run();
    assert!(
        unknown.stdout.contains("::error::invalid input `cluster`: no cluster named `cluster9`"),
        "{}",
        unknown.stdout
    );

    fs::write(
        leg.workspace.path().join("config/clusters/cluster3/cluster.yaml"),
        "name: cluster3\nprovider: gcp\ngcp:\n  project: p\n",
    )
    .expect("write");
    let missing = leg.run("cluster3").run();
    assert_eq!(missing.output.status.code(), Some(1));
    assert!(
        missing.stdout.contains(
            "::error file=config/clusters/cluster3/cluster.yaml,line=4,col=3::gcp.cluster: `gcp.cluster` is required"
        ),
        "{}",
        missing.stdout
    );
    assert_eq!(missing.raw_outputs, "");

    let no_input = ActionRun::new("action-setup-cluster", leg.workspace.path()).run();
    assert!(no_input.stdout.contains("::error::invalid input `cluster`: is required"), "{}", no_input.stdout);
}

#[test]
fn an_invalid_kubeconfig_is_refused() {
    let leg = leg();
    let result = leg.run("cluster4").input("kubeconfig", "apiVersion: v1\nclusters: []\n").run();
    assert_eq!(result.output.status.code(), Some(1));
    assert!(result.stdout.contains("::error::kubeconfig: reading the kubeconfig failed"), "{}", result.stdout);
}
