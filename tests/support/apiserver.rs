//! Real Kubernetes API servers (kube-apiserver v1.20.2 with etcd, on 127.0.0.1, TLS, a
//! bearer token, RBAC) that `scripts/with-apiservers.sh` starts for the whole suite and
//! names in `DEPLOYER_TEST_APISERVERS`. A test leases the servers it needs for itself
//! (an exclusive lock per server, every helm release of the previous tenant uninstalled),
//! so tests that deploy `support` to "their" clusters never meet. Without the servers a
//! test returns early and says it was skipped; with `DEPLOYER_REQUIRE_APISERVERS=1` (CI)
//! that is a failure instead.
//!
//! No controller-manager and no kubelet run: Deployments never get pods on their own
//! (tests play the controller by writing status), and a deleted namespace stays
//! `Terminating` (tests use fresh release names rather than deleting namespaces).

#![allow(dead_code)]

use std::fs;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// One cluster: its own API server and etcd.
pub struct ApiServer {
    /// `cluster<i>`, as the state folder names it.
    pub name: String,
    /// A kubeconfig with the server, its CA and the bearer token (current context set).
    pub kubeconfig: PathBuf,
    /// `https://127.0.0.1:<port>`.
    pub server: String,
    pub token: String,
    pub ca: PathBuf,
}

/// Servers held by one test until it drops the lease.
pub struct Lease {
    pub servers: Vec<ApiServer>,
    _locks: Vec<fs::File>,
}

impl std::ops::Deref for Lease {
    type Target = [ApiServer];
    fn deref(&self) -> &[ApiServer] {
        &self.servers
    }
}

fn required() -> bool {
    std::env::var("DEPLOYER_REQUIRE_APISERVERS").is_ok_and(|v| v == "1")
}

/// `count` servers for `test` alone, or `None` (said on stderr) when the suite runs without them.
#[allow(clippy::print_stderr)]
pub fn lease(test: &str, count: usize) -> Option<Lease> {
    let Some(state) = std::env::var_os("DEPLOYER_TEST_APISERVERS").map(PathBuf::from) else {
        assert!(!required(), "{test}: DEPLOYER_REQUIRE_APISERVERS=1 but no API servers were started");
        eprintln!("{test}: skipped: no real API server (run the suite with `make test` to start them)");
        return None;
    };
    let mut dirs: Vec<PathBuf> = fs::read_dir(&state)
        .expect("API server state folder")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("kubeconfig").is_file())
        .collect();
    dirs.sort();
    assert!(dirs.len() >= count, "{test}: needs {count} API servers, the suite started {}", dirs.len());
    let deadline = Instant::now() + Duration::from_secs(900);
    loop {
        let mut locks = Vec::new();
        let mut chosen = Vec::new();
        for dir in &dirs {
            if chosen.len() == count {
                break;
            }
            let file = fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(dir.join("lease.lock"))
                .expect("lease lock");
            // SAFETY: flock on a file descriptor this process owns; released when `file` is dropped.
            let got = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0;
            if got {
                locks.push(file);
                chosen.push(dir.clone());
            }
        }
        if chosen.len() == count {
            let servers: Vec<ApiServer> = chosen.iter().map(|dir| server(dir)).collect();
            for server in &servers {
                server.clean();
            }
            return Some(Lease { servers, _locks: locks });
        }
        drop(locks);
        assert!(Instant::now() < deadline, "{test}: no {count} free API servers in 15 minutes");
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn server(dir: &Path) -> ApiServer {
    let name = dir.file_name().expect("name").to_string_lossy().into_owned();
    ApiServer {
        name,
        kubeconfig: dir.join("kubeconfig"),
        server: fs::read_to_string(dir.join("server")).expect("server").trim().to_owned(),
        token: fs::read_to_string(dir.join("pki/admin.token")).expect("token").trim().to_owned(),
        ca: dir.join("pki/ca.crt"),
    }
}

impl ApiServer {
    /// `kubectl` (from the tools) against this server.
    pub fn kubectl(&self, args: &[&str]) -> Output {
        Command::new(super::tool("kubectl"))
            .env_clear()
            .env("KUBECONFIG", &self.kubeconfig)
            .env("HOME", std::env::temp_dir())
            .args(args)
            .output()
            .expect("kubectl")
    }

    /// `kubectl` that must succeed; its stdout.
    pub fn kubectl_ok(&self, args: &[&str]) -> String {
        let out = self.kubectl(args);
        assert!(out.status.success(), "kubectl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// A helm (`helm` or `helm3`) against this server, with a throwaway home.
    pub fn helm(&self, helm: &str, args: &[&str]) -> Output {
        let home = tempfile::tempdir().expect("helm home");
        Command::new(super::tool(helm))
            .env_clear()
            .env("KUBECONFIG", &self.kubeconfig)
            .env("HOME", home.path())
            .args(args)
            .output()
            .expect("helm")
    }

    /// Every release on the server, any state: (name, namespace, revision, status, chart).
    pub fn releases(&self) -> Vec<Release> {
        let out = self.helm(
            "helm",
            &[
                "list",
                "--all-namespaces",
                "--deployed",
                "--failed",
                "--pending",
                "--superseded",
                "--uninstalling",
                "--output",
                "json",
            ],
        );
        assert!(out.status.success(), "helm list: {}", String::from_utf8_lossy(&out.stderr));
        let list: serde_json::Value = serde_json::from_slice(&out.stdout).expect("helm list json");
        let mut releases: Vec<Release> = list
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .map(|r| Release {
                        name: r["name"].as_str().unwrap_or_default().to_owned(),
                        namespace: r["namespace"].as_str().unwrap_or_default().to_owned(),
                        revision: r["revision"].as_str().and_then(|v| v.parse().ok()).unwrap_or(0),
                        status: r["status"].as_str().unwrap_or_default().to_owned(),
                        chart: r["chart"].as_str().unwrap_or_default().to_owned(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        releases.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
        releases
    }

    /// Uninstalls every release the previous tenant left.
    pub fn clean(&self) {
        for release in self.releases() {
            let out = self.helm("helm", &["uninstall", &release.name, "--namespace", &release.namespace, "--no-hooks"]);
            assert!(out.status.success(), "helm uninstall {}: {}", release.name, String::from_utf8_lossy(&out.stderr));
        }
    }

    /// The kubeconfig's text, for a repository's `kubeconfig.file` (plain, or to encrypt with sops).
    pub fn kubeconfig_text(&self) -> String {
        fs::read_to_string(&self.kubeconfig).expect("kubeconfig")
    }
}

/// One helm release as `helm list` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Release {
    pub name: String,
    pub namespace: String,
    pub revision: u32,
    pub status: String,
    pub chart: String,
}
