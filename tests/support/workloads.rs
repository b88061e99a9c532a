//! A repository whose hubs deploy a Deployment (`webhub`) or a DaemonSet (`dshub`), and a
//! stand-in for the controller (no controller-manager runs on the test API servers): a thread
//! that writes a workload's status through the status subresource.

#![allow(dead_code)]

use std::fs;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::apiserver::ApiServer;
use super::{bin, tool};

/// A repository with cluster `c1` (kubeconfig provider) and the given hubs: (name, chart), chart
/// `webhub` (a Deployment `<hub>-web`) or `dshub` (a DaemonSet `<hub>-agent`); each hub's image
/// comes from `<hub>.values.yaml` (see [`World::set_image`]).
pub struct World {
    pub temp: tempfile::TempDir,
    pub repo: PathBuf,
    pub bin_dir: PathBuf,
}

impl World {
    pub fn new(helm: &str, hubs: &[(&str, &str)]) -> World {
        let temp = tempfile::tempdir().expect("temp");
        let repo = temp.path().join("repo");
        let world = World { repo: repo.clone(), bin_dir: temp.path().join("bin"), temp };
        fs::create_dir_all(&world.bin_dir).expect("bin");
        std::os::unix::fs::symlink(tool(helm), world.bin_dir.join("helm")).expect("helm link");
        std::os::unix::fs::symlink(tool("kubectl"), world.bin_dir.join("kubectl")).expect("kubectl link");
        world.write(
            "helm-charts/webhub/templates/web.yaml",
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ .Release.Name }}-web\nspec:\n  replicas: 1\n  \
             selector:\n    matchLabels: {app: {{ .Release.Name }}-web}\n  template:\n    metadata:\n      labels: {app: {{ .Release.Name }}-web}\n    \
             spec:\n      containers:\n        - name: web\n          image: {{ .Values.image | quote }}\n",
        );
        world.write(
            "helm-charts/dshub/templates/agent.yaml",
            "apiVersion: apps/v1\nkind: DaemonSet\nmetadata:\n  name: {{ .Release.Name }}-agent\nspec:\n  \
             selector:\n    matchLabels: {app: {{ .Release.Name }}-agent}\n  template:\n    metadata:\n      labels: {app: {{ .Release.Name }}-agent}\n    \
             spec:\n      containers:\n        - name: agent\n          image: {{ .Values.image | quote }}\n",
        );
        for chart in ["webhub", "dshub"] {
            world.write(
                &format!("helm-charts/{chart}/Chart.yaml"),
                &format!("apiVersion: v2\nname: {chart}\nversion: 0.1.0\n"),
            );
        }
        let mut cluster = String::from("name: c1\nprovider: kubeconfig\nkubeconfig:\n  file: kubeconfig.yaml\nhubs:\n");
        for (hub, chart) in hubs {
            cluster.push_str(&format!(
                "  - name: {hub}\n    helm_chart: {chart}\n    helm_chart_values_files: [{hub}.values.yaml]\n"
            ));
            world.set_image(hub, "registry.example/app:1");
        }
        world.write("config/clusters/c1/cluster.yaml", &cluster);
        world.write("config/clusters/c1/kubeconfig.yaml", "# written by the test\n");
        world
    }

    fn write(&self, path: &str, text: &str) {
        let path = self.repo.join(path);
        fs::create_dir_all(path.parent().expect("parent")).expect("folder");
        fs::write(path, text).expect("write");
    }

    /// The image of a hub's workload: a new one makes a new generation.
    pub fn set_image(&self, hub: &str, image: &str) {
        self.write(&format!("config/clusters/c1/{hub}.values.yaml"), &format!("image: {image}\n"));
    }

    /// `deployer deploy --cluster c1 --hub HUB ARGS` against `server`, not yet started.
    pub fn deploy(&self, server: &ApiServer, hub: &str, args: &[&str]) -> Command {
        // The cluster's own kubeconfig file is what `deployer deploy` uses (never `KUBECONFIG`).
        self.write("config/clusters/c1/kubeconfig.yaml", &server.kubeconfig_text());
        let mut command = Command::new(bin("deployer"));
        command
            .env_clear()
            .env("PATH", format!("{}:/usr/bin:/bin", self.bin_dir.display()))
            .env("HOME", self.temp.path())
            .env("KUBECONFIG", &server.kubeconfig)
            .args(["deploy", "--cluster", "c1", "--hub", hub, "--repo"])
            .arg(&self.repo)
            .args(args);
        command
    }

    /// Runs [`World::deploy`]: its output, all of it as text, and how long it took.
    pub fn run(&self, server: &ApiServer, hub: &str, args: &[&str]) -> (Output, String, Duration) {
        let started = Instant::now();
        let out = self.deploy(server, hub, args).output().expect("deployer deploy");
        let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        (out, said, started.elapsed())
    }
}

/// Plays the controller for one workload until dropped: whenever the object's generation is
/// newer than its `status.observedGeneration`, writes `status(generation)` through the status
/// subresource, after `delay` from the moment the new generation is seen.
pub struct Controller {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<usize>>,
}

impl Controller {
    pub fn start(
        server: &ApiServer,
        kind: &str,
        namespace: &str,
        name: &str,
        delay: Duration,
        status: impl Fn(i64) -> serde_json::Value + Send + 'static,
    ) -> Controller {
        let stop = Arc::new(AtomicBool::new(false));
        let (kubeconfig, kind, namespace, name) =
            (server.kubeconfig.clone(), kind.to_owned(), namespace.to_owned(), name.to_owned());
        let stopping = stop.clone();
        let thread = std::thread::spawn(move || {
            let kubectl = |args: &[&str]| {
                Command::new(tool("kubectl"))
                    .env_clear()
                    .env("KUBECONFIG", &kubeconfig)
                    .env("HOME", std::env::temp_dir())
                    .args(args)
                    .output()
                    .expect("kubectl")
            };
            let mut written = 0;
            let mut seen: Option<(i64, Instant)> = None;
            while !stopping.load(Ordering::SeqCst) {
                let out = kubectl(&["get", &kind, &name, "-n", &namespace, "-o", "json"]);
                if out.status.success() {
                    let object: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
                    let generation = object["metadata"]["generation"].as_i64().unwrap_or(0);
                    let observed = object["status"]["observedGeneration"].as_i64().unwrap_or(0);
                    if observed < generation {
                        let since = match seen {
                            Some((g, at)) if g == generation => at,
                            _ => {
                                seen = Some((generation, Instant::now()));
                                Instant::now()
                            }
                        };
                        if since.elapsed() >= delay {
                            let patch = serde_json::json!({ "status": status(generation) }).to_string();
                            let out = kubectl(&[
                                "patch",
                                &kind,
                                &name,
                                "-n",
                                &namespace,
                                "--subresource=status",
                                "--type=merge",
                                "-p",
                                &patch,
                            ]);
                            assert!(out.status.success(), "status patch: {}", String::from_utf8_lossy(&out.stderr));
                            written += 1;
                        }
                    }
                }
                std::thread::sleep(Duration::from_millis(200));
            }
            written
        });
        Controller { stop, thread: Some(thread) }
    }

    /// Stops the thread: how many status writes it made.
    pub fn finish(mut self) -> usize {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.take().map(|t| t.join().expect("controller thread")).unwrap_or(0)
    }
}

impl Drop for Controller {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A Deployment status that is rolled out (one replica).
pub fn deployment_ready(generation: i64) -> serde_json::Value {
    serde_json::json!({"observedGeneration": generation, "replicas": 1, "updatedReplicas": 1,
                       "readyReplicas": 1, "availableReplicas": 1})
}

/// A DaemonSet status that is rolled out (two nodes).
pub fn daemonset_ready(generation: i64) -> serde_json::Value {
    serde_json::json!({"observedGeneration": generation, "currentNumberScheduled": 2, "numberMisscheduled": 0,
                       "desiredNumberScheduled": 2, "numberReady": 2, "updatedNumberScheduled": 2, "numberAvailable": 2})
}

/// A Deployment status whose rollout has hit its progress deadline.
pub fn deployment_deadline_exceeded(generation: i64) -> serde_json::Value {
    serde_json::json!({"observedGeneration": generation, "replicas": 1, "updatedReplicas": 1, "unavailableReplicas": 1,
        "conditions": [{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
                        "message": format!("ReplicaSet has timed out progressing (generation {generation})."),
                        "lastUpdateTime": "2025-01-01T00:00:00Z", "lastTransitionTime": "2025-01-01T00:00:00Z"}]})
}

/// The helm history of a release: (revision, status, description), oldest first.
pub fn history(server: &ApiServer, helm: &str, release: &str) -> Vec<(u64, String, String)> {
    let out = server.helm(helm, &["history", release, "-n", release, "-o", "json"]);
    assert!(out.status.success(), "helm history: {}", String::from_utf8_lossy(&out.stderr));
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).expect("history json");
    list.as_array()
        .expect("array")
        .iter()
        .map(|r| {
            (
                r["revision"].as_u64().unwrap_or(0),
                r["status"].as_str().unwrap_or_default().to_owned(),
                r["description"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// The image of a hub's Deployment `<hub>-web` on the server.
pub fn web_image(server: &ApiServer, hub: &str) -> String {
    server.kubectl_ok(&[
        "get",
        "deployment",
        &format!("{hub}-web"),
        "-n",
        hub,
        "-o",
        "jsonpath={.spec.template.spec.containers[0].image}",
    ])
}
