//! `wait: rollout`: after `helm upgrade` (without `--wait`), the release's Deployments and
//! DaemonSets (from `helm get manifest`) are watched with `kubectl get -o json` until they are
//! rolled out, as `kubectl rollout status` decides, up to the timeout. The watch fails at once
//! when a rollout cannot progress: a Deployment's `Progressing` condition with reason
//! `ProgressDeadlineExceeded`, or a pod in the namespace whose container waits with a reason
//! that does not go away by itself (`ImagePullBackOff`, `CrashLoopBackOff`, …).
//!
//! The judging is pure ([`workloads`], [`deployment_state`], [`daemonset_state`],
//! [`stuck_pods`]); [`watch`] runs the commands. SIGTERM/SIGINT stop the watch within a
//! fraction of a second: helm has finished by then, so the release is not left pending.

use std::collections::BTreeSet;
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::base::error::Error;
use crate::base::runner;
use crate::base::stop;

/// Container waiting reasons that mean the rollout cannot progress without a change.
pub const STUCK_REASONS: &[&str] =
    &["ImagePullBackOff", "ErrImagePull", "CrashLoopBackOff", "CreateContainerConfigError", "InvalidImageName"];

/// How often the workloads are read.
const POLL: Duration = Duration::from_secs(1);
/// `kubectl --request-timeout` of each read.
const REQUEST_TIMEOUT: &str = "20s";

/// A workload kind the watch follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Deployment,
    DaemonSet,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Deployment => "Deployment",
            Kind::DaemonSet => "DaemonSet",
        }
    }
}

/// One Deployment or DaemonSet of a release.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Workload {
    pub kind: Kind,
    pub namespace: String,
    pub name: String,
}

impl std::fmt::Display for Workload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}/{}", self.kind.as_str(), self.namespace, self.name)
    }
}

/// The `apps/v1` Deployments and DaemonSets of a release's manifest (`helm get manifest`),
/// each once, in the release namespace unless the object names another. Documents that do
/// not parse are skipped (helm applied them; they are not workloads this watch knows).
pub fn workloads(manifest: &str, release_namespace: &str) -> Vec<Workload> {
    let mut found = BTreeSet::new();
    // Each document parsed on its own: one that does not parse cannot stop the others (the
    // multi-document reader does not get past a syntax error), and anchors are refused first.
    let mut documents: Vec<String> = vec![String::new()];
    for line in manifest.lines() {
        if line.trim_end() == "---" {
            documents.push(String::new());
        } else if let Some(document) = documents.last_mut() {
            document.push_str(line);
            document.push('\n');
        }
    }
    for document in &documents {
        if crate::config::yaml_guard::check(document).is_err() {
            continue;
        }
        let Ok(value) = yaml_serde::from_str::<yaml_serde::Value>(document) else { continue };
        let text = |key: &str| value.get(key).and_then(yaml_serde::Value::as_str);
        let kind = match text("kind") {
            Some("Deployment") => Kind::Deployment,
            Some("DaemonSet") => Kind::DaemonSet,
            _ => continue,
        };
        if text("apiVersion") != Some("apps/v1") {
            continue;
        }
        let metadata = value.get("metadata");
        let field = |key: &str| metadata.and_then(|m| m.get(key)).and_then(yaml_serde::Value::as_str);
        let Some(name) = field("name").filter(|n| !n.is_empty()) else { continue };
        let namespace = field("namespace").filter(|n| !n.is_empty()).unwrap_or(release_namespace);
        found.insert(Workload { kind, namespace: namespace.to_owned(), name: name.to_owned() });
    }
    found.into_iter().collect()
}

/// Where a workload's rollout is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    Ready,
    /// Not yet, and why.
    Waiting(String),
    /// Cannot progress, and why.
    Stuck(String),
}

fn int(value: &Value, path: &[&str]) -> Option<i64> {
    path.iter().try_fold(value, |v, key| v.get(key)).and_then(Value::as_i64)
}

/// A Deployment's rollout, as `kubectl rollout status` judges it.
pub fn deployment_state(object: &Value) -> State {
    let generation = int(object, &["metadata", "generation"]).unwrap_or(0);
    let observed = int(object, &["status", "observedGeneration"]).unwrap_or(0);
    if observed < generation {
        return State::Waiting(format!("the controller has not seen generation {generation} yet"));
    }
    let conditions = object.pointer("/status/conditions").and_then(Value::as_array).map_or(&[][..], Vec::as_slice);
    for condition in conditions {
        let is = |key: &str, want: &str| condition.get(key).and_then(Value::as_str) == Some(want);
        if is("type", "Progressing") && is("reason", "ProgressDeadlineExceeded") {
            let message = condition.get("message").and_then(Value::as_str).unwrap_or_default();
            return State::Stuck(format!("ProgressDeadlineExceeded: {message}").trim_end_matches(": ").to_owned());
        }
    }
    let wanted = int(object, &["spec", "replicas"]).unwrap_or(1);
    let replicas = int(object, &["status", "replicas"]).unwrap_or(0);
    let updated = int(object, &["status", "updatedReplicas"]).unwrap_or(0);
    let available = int(object, &["status", "availableReplicas"]).unwrap_or(0);
    if updated < wanted {
        State::Waiting(format!("{updated} of {wanted} new replicas have been updated"))
    } else if replicas > updated {
        State::Waiting(format!("{} old replicas are pending termination", replicas - updated))
    } else if available < updated {
        State::Waiting(format!("{available} of {updated} updated replicas are available"))
    } else {
        State::Ready
    }
}

/// A DaemonSet's rollout, as `kubectl rollout status` judges it (an `OnDelete` one is not followed).
pub fn daemonset_state(object: &Value) -> State {
    if object.pointer("/spec/updateStrategy/type").and_then(Value::as_str) == Some("OnDelete") {
        return State::Ready;
    }
    let generation = int(object, &["metadata", "generation"]).unwrap_or(0);
    let observed = int(object, &["status", "observedGeneration"]).unwrap_or(0);
    if observed < generation {
        return State::Waiting(format!("the controller has not seen generation {generation} yet"));
    }
    let desired = int(object, &["status", "desiredNumberScheduled"]).unwrap_or(0);
    let updated = int(object, &["status", "updatedNumberScheduled"]).unwrap_or(0);
    let available = int(object, &["status", "numberAvailable"]).unwrap_or(0);
    if updated < desired {
        State::Waiting(format!("{updated} of {desired} updated pods are scheduled"))
    } else if available < desired {
        State::Waiting(format!("{available} of {desired} updated pods are available"))
    } else {
        State::Ready
    }
}

/// A pod container waiting with one of [`STUCK_REASONS`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StuckPod {
    pub pod: String,
    /// The workload of `workloads` that owns the pod, when one does.
    pub owner: Option<Workload>,
    pub container: String,
    pub reason: String,
    pub message: String,
}

impl std::fmt::Display for StuckPod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(owner) = &self.owner {
            write!(f, "{owner}: ")?;
        }
        write!(f, "pod {} container {}: {}", self.pod, self.container, self.reason)?;
        if !self.message.is_empty() {
            write!(f, " ({})", self.message)?;
        }
        Ok(())
    }
}

/// The stuck containers of the pods of `namespace` in a `kubectl get -o json` list, each with
/// the workload that owns its pod (a Deployment through its ReplicaSet `<name>-<hash>`).
pub fn stuck_pods(list: &Value, namespace: &str, workloads: &[Workload]) -> Vec<StuckPod> {
    let items = list.get("items").and_then(Value::as_array).map_or(&[][..], Vec::as_slice);
    let mut stuck = Vec::new();
    for pod in items.iter().filter(|i| i.get("kind").and_then(Value::as_str) == Some("Pod")) {
        let name = pod.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default();
        let owners = pod.pointer("/metadata/ownerReferences").and_then(Value::as_array).map_or(&[][..], Vec::as_slice);
        let owner = owners.iter().find_map(|reference| {
            let kind = reference.get("kind").and_then(Value::as_str)?;
            let owner_name = reference.get("name").and_then(Value::as_str)?;
            workloads
                .iter()
                .filter(|w| w.namespace == namespace)
                .find(|w| match (kind, w.kind) {
                    ("DaemonSet", Kind::DaemonSet) => w.name == owner_name,
                    ("ReplicaSet", Kind::Deployment) => owner_name
                        .strip_prefix(w.name.as_str())
                        .and_then(|rest| rest.strip_prefix('-'))
                        .is_some_and(|hash| !hash.is_empty() && !hash.contains('-')),
                    _ => false,
                })
                .cloned()
        });
        for statuses in ["initContainerStatuses", "containerStatuses"] {
            let containers = pod
                .get("status")
                .and_then(|s| s.get(statuses))
                .and_then(Value::as_array)
                .map_or(&[][..], Vec::as_slice);
            for container in containers {
                let Some(waiting) = container.pointer("/state/waiting") else { continue };
                let reason = waiting.get("reason").and_then(Value::as_str).unwrap_or_default();
                if STUCK_REASONS.contains(&reason) {
                    let message: String =
                        waiting.get("message").and_then(Value::as_str).unwrap_or_default().chars().take(300).collect();
                    stuck.push(StuckPod {
                        pod: name.to_owned(),
                        owner: owner.clone(),
                        container: container.get("name").and_then(Value::as_str).unwrap_or_default().to_owned(),
                        reason: reason.to_owned(),
                        message,
                    });
                }
            }
        }
    }
    stuck
}

/// How a watch ended other than with every workload rolled out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// A rollout cannot progress: what and why.
    Stuck(String),
    /// Not rolled out within the timeout: what was not ready.
    TimedOut(String),
    /// The release's manifest could not be read.
    Manifest(String),
    /// Stopped by this signal.
    Stopped(i32),
}

impl Failure {
    /// The failure, for an error message (untrusted text: printed through the runner).
    pub fn text(&self) -> String {
        match self {
            Failure::Stuck(why) => format!("its rollout cannot progress: {why}"),
            Failure::TimedOut(what) => format!("its rollout did not finish in time: {what}"),
            Failure::Manifest(why) => format!("its manifest could not be read for the rollout watch: {why}"),
            Failure::Stopped(signal) => {
                format!("its rollout watch was stopped on {}", crate::base::error::signal_name(*signal))
            }
        }
    }
}

/// What a command printed, or the signal that stopped it.
pub(crate) enum Captured {
    Done { success: bool, stdout: String, stderr: String },
    Stopped(i32),
}

/// Runs `argv` in `dir` with `env` added, capturing its output; killed (its process group) when
/// this process receives SIGTERM or SIGINT ([`stop`]), so that the caller can act on it at once.
pub(crate) fn capture(argv: &[&str], dir: &Path, env: &[(String, String)]) -> Result<Captured, Error> {
    let program = argv.first().copied().unwrap_or_default();
    let mut command = Command::new(program);
    command
        .args(&argv[1..])
        .current_dir(dir)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        command.process_group(0);
    }
    let mut child = command.spawn().map_err(|e| Error::Command {
        program: program.to_owned(),
        message: format!("cannot run {program} ({e}); is it installed and on PATH?"),
    })?;
    let reader = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut pipe) = pipe {
                // At most 64 MiB: a manifest or a namespace's objects, never more.
                let _ = pipe.by_ref().take(64 << 20).read_to_end(&mut bytes);
            }
            String::from_utf8_lossy(&bytes).into_owned()
        })
    };
    let stdout = reader(child.stdout.take().map(|p| Box::new(p) as Box<dyn Read + Send>));
    let stderr = reader(child.stderr.take().map(|p| Box::new(p) as Box<dyn Read + Send>));
    let wait_error =
        |e: std::io::Error| Error::Command { program: program.to_owned(), message: format!("waiting: {e}") };
    let status = loop {
        if let Some(status) = child.try_wait().map_err(wait_error)? {
            break status;
        }
        if let Some(signal) = stop::received() {
            #[cfg(unix)]
            stop::signal_group(child.id(), libc::SIGKILL);
            let _ = child.wait();
            return Ok(Captured::Stopped(signal));
        }
        std::thread::sleep(Duration::from_millis(25));
    };
    let stdout = stdout.join().unwrap_or_default();
    let stderr = stderr.join().unwrap_or_default();
    Ok(Captured::Done { success: status.success(), stdout, stderr })
}

/// A Go duration (`10m`, `1h30m`, `90s`, `1.5h`, `250ms`) as a `Duration`; checked before by
/// [`super::check_timeout`].
pub fn parse_duration(text: &str) -> Option<Duration> {
    let mut rest = text.trim();
    let mut total = 0f64;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        let number: f64 = rest[..end].parse().ok()?;
        rest = &rest[end..];
        let (unit, seconds) =
            [("ns", 1e-9), ("us", 1e-6), ("µs", 1e-6), ("ms", 1e-3), ("h", 3600.0), ("m", 60.0), ("s", 1.0)]
                .into_iter()
                .find(|(u, _)| rest.starts_with(u))?;
        rest = &rest[unit.len()..];
        total += number * seconds;
    }
    Duration::try_from_secs_f64(total).ok()
}

/// The time of day, UTC, for the log: `14:03:27 UTC`.
pub fn clock() -> String {
    let seconds = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let day = seconds % 86_400;
    format!("{:02}:{:02}:{:02} UTC", day / 3600, day % 3600 / 60, day % 60)
}

/// Watches the Deployments and DaemonSets of `release` (in `namespace`) until they are rolled
/// out, one cannot progress, `timeout` passes, or a signal arrives. Logs a line as it starts
/// and as it ends, each with the time.
pub fn watch(
    release: &str,
    namespace: &str,
    timeout: Duration,
    dir: &Path,
    env: &[(String, String)],
) -> Result<(), Failure> {
    let run = |argv: &[&str]| -> Result<(bool, String, String), Failure> {
        match capture(argv, dir, env) {
            Ok(Captured::Done { success, stdout, stderr }) => Ok((success, stdout, stderr)),
            Ok(Captured::Stopped(signal)) => Err(Failure::Stopped(signal)),
            Err(error) => Ok((false, String::new(), error.to_string())),
        }
    };
    let (ok, manifest, stderr) = run(&["helm", "get", "manifest", release, "--namespace", namespace])?;
    if !ok {
        return Err(Failure::Manifest(format!("`helm get manifest {release}` failed: {}", last_line(&stderr))));
    }
    let workloads = workloads(&manifest, namespace);
    if workloads.is_empty() {
        runner::print(&format!("Rollout of {release}: no Deployment or DaemonSet in the release, nothing to watch\n"));
        return Ok(());
    }
    let started = Instant::now();
    let named: Vec<String> = workloads.iter().map(ToString::to_string).collect();
    runner::print(&format!(
        "Rollout of {release}: watching {} up to {} s, from {}\n",
        named.join(", "),
        timeout.as_secs(),
        clock()
    ));
    let namespaces: BTreeSet<&str> = workloads.iter().map(|w| w.namespace.as_str()).collect();
    let end = |what: &str| {
        runner::print(&format!(
            "Rollout of {release}: {what} after {:.1} s, at {}\n",
            started.elapsed().as_secs_f64(),
            clock()
        ));
    };
    loop {
        let mut waiting: Vec<String> = Vec::new();
        for namespace in &namespaces {
            let argv = [
                "kubectl",
                "get",
                "deployments.apps,daemonsets.apps,pods",
                "--namespace",
                namespace,
                "--output",
                "json",
                "--request-timeout",
                REQUEST_TIMEOUT,
            ];
            let (ok, stdout, stderr) = match run(&argv) {
                Ok(got) => got,
                Err(Failure::Stopped(signal)) => {
                    end(&format!("watch stopped on {}", crate::base::error::signal_name(signal)));
                    return Err(Failure::Stopped(signal));
                }
                Err(other) => return Err(other),
            };
            let list: Option<Value> = if ok { serde_json::from_str(&stdout).ok() } else { None };
            let Some(list) = list else {
                let why = if ok { "its output is not JSON".to_owned() } else { last_line(&stderr) };
                waiting.push(format!("namespace {namespace} not read (`kubectl get` failed: {why})"));
                continue;
            };
            if let Some(pod) = stuck_pods(&list, namespace, &workloads).into_iter().next() {
                end("failed");
                return Err(Failure::Stuck(pod.to_string()));
            }
            let items = list.get("items").and_then(Value::as_array).map_or(&[][..], Vec::as_slice);
            for workload in workloads.iter().filter(|w| w.namespace == *namespace) {
                let object = items.iter().find(|item| {
                    item.get("kind").and_then(Value::as_str) == Some(workload.kind.as_str())
                        && item.pointer("/metadata/name").and_then(Value::as_str) == Some(workload.name.as_str())
                });
                let state = match (object, workload.kind) {
                    (None, _) => State::Waiting("not found".into()),
                    (Some(object), Kind::Deployment) => deployment_state(object),
                    (Some(object), Kind::DaemonSet) => daemonset_state(object),
                };
                match state {
                    State::Ready => {}
                    State::Waiting(why) => waiting.push(format!("{workload} ({why})")),
                    State::Stuck(why) => {
                        end("failed");
                        return Err(Failure::Stuck(format!("{workload}: {why}")));
                    }
                }
            }
        }
        if waiting.is_empty() {
            end("rolled out");
            return Ok(());
        }
        if started.elapsed() >= timeout {
            end("timed out");
            return Err(Failure::TimedOut(format!("not ready after {} s: {}", timeout.as_secs(), waiting.join("; "))));
        }
        // Short naps, so that a signal is acted on at once.
        let until = (Instant::now() + POLL).min(started + timeout);
        while Instant::now() < until {
            if let Some(signal) = stop::received() {
                end(&format!("watch stopped on {}", crate::base::error::signal_name(signal)));
                return Err(Failure::Stopped(signal));
            }
            std::thread::sleep(Duration::from_millis(50).min(until.saturating_duration_since(Instant::now())));
        }
    }
}

/// The last non-blank line of a command's error output.
fn last_line(text: &str) -> String {
    let line = text.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("(no output)");
    line.trim().chars().take(300).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn workloads_of_a_manifest() {
        let manifest =
            "---\n# Source: c/templates/a.yaml\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n\
                        ---\napiVersion: apps/v1\nkind: DaemonSet\nmetadata:\n  name: agent\n  namespace: other\n\
                        ---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web\n\
                        ---\napiVersion: extensions/v1beta1\nkind: Deployment\nmetadata:\n  name: old\n\
                        ---\n: [not yaml\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n";
        let found: Vec<String> = workloads(manifest, "hub").iter().map(ToString::to_string).collect();
        assert_eq!(found, ["Deployment hub/web", "DaemonSet other/agent"]);
        assert!(workloads("", "hub").is_empty());
    }

    #[test]
    fn deployment_states() {
        let deployment =
            |status: Value| json!({"metadata": {"generation": 2}, "spec": {"replicas": 2}, "status": status});
        assert!(matches!(deployment_state(&deployment(json!({"observedGeneration": 1}))), State::Waiting(_)));
        let done = json!({"observedGeneration": 2, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 2});
        assert_eq!(deployment_state(&deployment(done)), State::Ready);
        let half = json!({"observedGeneration": 2, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 1});
        assert_eq!(deployment_state(&deployment(half)), State::Waiting("1 of 2 updated replicas are available".into()));
        let old = json!({"observedGeneration": 2, "replicas": 3, "updatedReplicas": 2, "availableReplicas": 2});
        assert!(matches!(deployment_state(&deployment(old)), State::Waiting(w) if w.contains("pending termination")));
        let stuck = json!({"observedGeneration": 2, "conditions": [{"type": "Progressing", "status": "False",
            "reason": "ProgressDeadlineExceeded", "message": "ReplicaSet \"web-1\" has timed out progressing."}]});
        assert_eq!(
            deployment_state(&deployment(stuck)),
            State::Stuck("ProgressDeadlineExceeded: ReplicaSet \"web-1\" has timed out progressing.".into())
        );
        // No `spec.replicas`: one.
        let one = json!({"metadata": {"generation": 1}, "spec": {},
            "status": {"observedGeneration": 1, "replicas": 1, "updatedReplicas": 1, "availableReplicas": 1}});
        assert_eq!(deployment_state(&one), State::Ready);
        assert!(matches!(deployment_state(&json!({"metadata": {"generation": 1}})), State::Waiting(_)));
    }

    #[test]
    fn daemonset_states() {
        let ds = |status: Value| json!({"metadata": {"generation": 1}, "spec": {}, "status": status});
        let done = json!({"observedGeneration": 1, "desiredNumberScheduled": 3, "updatedNumberScheduled": 3, "numberAvailable": 3});
        assert_eq!(daemonset_state(&ds(done)), State::Ready);
        let partial = json!({"observedGeneration": 1, "desiredNumberScheduled": 3, "updatedNumberScheduled": 3, "numberAvailable": 2});
        assert!(matches!(daemonset_state(&ds(partial)), State::Waiting(_)));
        assert!(matches!(daemonset_state(&ds(json!({}))), State::Waiting(_)));
        let on_delete = json!({"metadata": {"generation": 4}, "spec": {"updateStrategy": {"type": "OnDelete"}}});
        assert_eq!(daemonset_state(&on_delete), State::Ready);
    }

    #[test]
    fn stuck_pods_name_their_workload() {
        let workloads = vec![
            Workload { kind: Kind::Deployment, namespace: "hub".into(), name: "web".into() },
            Workload { kind: Kind::DaemonSet, namespace: "hub".into(), name: "agent".into() },
        ];
        let pod = |name: &str, owner: Value, reason: &str| {
            json!({"kind": "Pod", "metadata": {"name": name, "ownerReferences": owner},
                   "status": {"containerStatuses": [{"name": "main", "state": {"waiting": {"reason": reason, "message": "m"}}}]}})
        };
        let list = json!({"items": [
            pod("web-5d9c7-x1", json!([{"kind": "ReplicaSet", "name": "web-5d9c7"}]), "ImagePullBackOff"),
            pod("agent-q", json!([{"kind": "DaemonSet", "name": "agent"}]), "CrashLoopBackOff"),
            pod("lone", json!([]), "ErrImagePull"),
            pod("starting", json!([]), "ContainerCreating"),
            pod("webby-1-2", json!([{"kind": "ReplicaSet", "name": "webby-1"}]), "InvalidImageName"),
        ]});
        let found: Vec<String> = stuck_pods(&list, "hub", &workloads).iter().map(ToString::to_string).collect();
        assert_eq!(
            found,
            [
                "Deployment hub/web: pod web-5d9c7-x1 container main: ImagePullBackOff (m)",
                "DaemonSet hub/agent: pod agent-q container main: CrashLoopBackOff (m)",
                "pod lone container main: ErrImagePull (m)",
                "pod webby-1-2 container main: InvalidImageName (m)",
            ]
        );
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10m"), Some(Duration::from_secs(600)));
        assert_eq!(parse_duration("1h30m"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_duration("1.5h"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("5s"), Some(Duration::from_secs(5)));
        assert_eq!(parse_duration("10"), None);
        assert_eq!(parse_duration(""), None);
    }
}
