//! `deploy` passes flags that the real helm 3 and helm 4 both take: the
//! version is read with `helm version`, and every `helm upgrade` command a
//! dry run prints is run by that real helm against a closed local port, so
//! that it gets past parsing its flags and stops only at the cluster.

mod support;

use std::fs;
use std::path::Path;
use std::process::Command;

use support::{bin, copy_tree, example_repo, tool};

/// The long flags `helm upgrade --help` lists.
fn help_flags(helm: &Path) -> Vec<String> {
    let output = Command::new(helm).args(["upgrade", "--help"]).output().expect("helm upgrade --help");
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| line.split_whitespace().find(|w| w.starts_with("--")))
        .map(|flag| flag.trim_end_matches(',').split(['=', '[']).next().unwrap_or_default().to_owned())
        .collect()
}

#[test]
fn every_flag_deploy_passes_exists_in_the_real_helm_3_and_helm_4() {
    let temp = tempfile::tempdir().expect("temp");
    let repo = temp.path().join("repo");
    copy_tree(&example_repo(), &repo);
    let empty_values = temp.path().join("empty.yaml");
    fs::write(&empty_values, "{}\n").expect("write");
    // A cluster nobody listens at: helm must fail there, after its flags are parsed.
    let kubeconfig = temp.path().join("kubeconfig");
    fs::write(
        &kubeconfig,
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {server: 'https://127.0.0.1:9'}\n\
         contexts:\n- name: c\n  context: {cluster: c, user: u}\ncurrent-context: c\nusers:\n- name: u\n  user: {token: t}\n",
    )
    .expect("write");
    let mut checked = 0;
    for (name, major) in [("helm", "4"), ("helm3", "3")] {
        let real = tool(name);
        let path_dir = temp.path().join(format!("bin-{name}"));
        fs::create_dir_all(&path_dir).expect("dir");
        std::os::unix::fs::symlink(&real, path_dir.join("helm")).expect("symlink");
        let known = help_flags(&real);
        assert!(known.contains(&"--timeout".to_owned()), "{name}: {known:?}");
        for options in [
            &[][..],
            &["--wait", "helm"],
            &["--atomic", "--wait", "helm"],
            &["--atomic"],
            &["--no-wait"],
            &["--atomic", "--no-wait"],
        ] {
            let output = Command::new(bin("deployer"))
                .args(["deploy", "--cluster", "cluster1", "--support", "--hub", "hub1", "--dry-run", "--repo"])
                .arg(&repo)
                .args(options)
                .env_clear()
                .env("PATH", &path_dir)
                .output()
                .expect("deployer");
            let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
            assert!(
                output.status.success(),
                "{name} {options:?}: {stdout}\n{}",
                String::from_utf8_lossy(&output.stderr)
            );
            assert!(stdout.contains(&format!("# flags for helm {major}, the helm on PATH")), "{stdout}");
            let upgrades: Vec<&str> = stdout.lines().filter(|l| l.starts_with("helm upgrade --install")).collect();
            assert_eq!(upgrades.len(), 2, "{stdout}");
            for line in upgrades {
                let argv: Vec<String> =
                    line.split_whitespace()
                        .skip(1)
                        .map(|a| {
                            if a.starts_with("'<decrypted>") {
                                empty_values.display().to_string()
                            } else {
                                a.to_owned()
                            }
                        })
                        .collect();
                for flag in argv.iter().filter(|a| a.starts_with("--")) {
                    let flag = flag.split('=').next().unwrap_or_default();
                    assert!(known.iter().any(|k| k == flag), "{name} has no {flag}: {line}");
                }
                // With `--wait rollout` (the default) the deploy rolls back itself: helm gets neither flag.
                let rollout = !options.contains(&"helm") && !options.contains(&"--no-wait");
                if options.contains(&"--atomic") && !rollout {
                    let rollback = if major == "3" { "--atomic" } else { "--rollback-on-failure" };
                    assert!(argv.iter().any(|a| a == rollback), "{name}: {line}");
                }
                assert_eq!(argv.iter().any(|a| a.starts_with("--wait")), options.contains(&"helm"), "{line}");
                if rollout {
                    assert!(!argv.iter().any(|a| a == "--atomic" || a == "--rollback-on-failure"), "{line}");
                }
                // The real helm parses the whole command and fails only on reaching the cluster.
                let ran = Command::new(&real)
                    .args(&argv)
                    .current_dir(&repo)
                    .env("KUBECONFIG", &kubeconfig)
                    .env("HOME", temp.path())
                    .output()
                    .expect("helm");
                let stderr = String::from_utf8_lossy(&ran.stderr);
                assert!(!ran.status.success(), "{name}: {line}");
                for parse_error in ["unknown flag", "unknown shorthand", "invalid argument", "flag needs an argument"] {
                    assert!(!stderr.contains(parse_error), "{name} refused its flags: {line}\n{stderr}");
                }
                assert!(
                    stderr.contains("127.0.0.1:9") || stderr.contains("unreachable"),
                    "{name} got as far as the cluster: {line}\n{stderr}"
                );
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 24);
}

#[test]
fn a_helm_that_is_neither_3_nor_4_is_refused_before_anything_runs() {
    let temp = tempfile::tempdir().expect("temp");
    let repo = temp.path().join("repo");
    copy_tree(&example_repo(), &repo);
    let path_dir = temp.path().join("bin");
    fs::create_dir_all(&path_dir).expect("dir");
    let fake = path_dir.join("helm");
    fs::write(&fake, "#!/bin/sh\nif [ \"$1\" = version ]; then printf v2.17.0; exit 0; fi\necho ran >>\"$0.log\"\n")
        .expect("write");
    fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755)).expect("chmod");
    let output = Command::new(bin("deployer"))
        .args(["deploy", "--use-current-context", "--cluster", "cluster1", "--hub", "hub1", "--repo"])
        .arg(&repo)
        .env_clear()
        .env("PATH", format!("{}:/usr/bin:/bin", path_dir.display()))
        .output()
        .expect("deployer");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("`helm version` printed `v2.17.0`: deploy knows the flags of helm 3 and helm 4 only"),
        "{stderr}"
    );
    assert!(!path_dir.join("helm.log").exists(), "no helm upgrade ran");
}
