//! `wait: rollout` against a real API server: `deployer deploy` runs helm without `--wait` and
//! then watches the release's Deployments and DaemonSets, while a thread of the test plays the
//! controller by writing their status. Success when the status says rolled out; failure at once
//! on `ProgressDeadlineExceeded` or a pod waiting on `ImagePullBackOff`; failure at the timeout
//! when nothing happens; `--atomic` rolls a failed rollout back to the previous revision.

mod support;

use std::time::Duration;

use support::apiserver;
use support::workloads::{
    daemonset_ready, deployment_deadline_exceeded, deployment_ready, history, web_image, Controller, World,
};

#[test]
fn rollout_waits_for_deployments_and_daemonsets_with_both_helms() {
    let Some(lease) = apiserver::lease("rollout_waits_for_deployments_and_daemonsets_with_both_helms", 1) else {
        return;
    };
    let server = &lease[0];
    for (helm, web, ds) in [("helm", "ro-web4", "ro-ds4"), ("helm3", "ro-web3", "ro-ds3")] {
        let world = World::new(helm, &[(web, "webhub"), (ds, "dshub")]);
        let delay = Duration::from_secs(3);
        let controllers = [
            Controller::start(server, "deployment", web, &format!("{web}-web"), delay, deployment_ready),
            Controller::start(server, "daemonset", ds, &format!("{ds}-agent"), delay, daemonset_ready),
        ];
        let (out, said, took) = world.run(server, web, &["--hub", ds, "--timeout", "90s"]);
        let writes: Vec<usize> = controllers.into_iter().map(Controller::finish).collect();
        assert!(out.status.success(), "{helm}: {said}");
        assert!(writes.iter().all(|w| *w >= 1), "{helm}: the controller wrote each status: {writes:?}");
        // It waited for the status: the controller writes it `delay` after the object appears.
        assert!(took >= delay, "{helm}: done after {took:?}, before the status was written: {said}");
        assert!(!said.contains("--wait"), "{helm}: helm does not wait itself: {said}");
        for line in [
            format!("Rollout of {web}: watching Deployment {web}/{web}-web up to 90 s, from "),
            format!("Rollout of {ds}: watching DaemonSet {ds}/{ds}-agent up to 90 s, from "),
            format!("Rollout of {web}: rolled out after "),
            format!("Rollout of {ds}: rolled out after "),
        ] {
            assert!(said.contains(&line), "{helm}: no `{line}` in:\n{said}");
        }
        let releases = server.releases();
        for name in [web, ds] {
            let release = releases.iter().find(|r| r.name == name).expect("release");
            assert_eq!((release.status.as_str(), release.revision), ("deployed", 1), "{helm} {name}");
        }
    }
}

#[test]
fn rollout_fails_at_once_on_a_progress_deadline() {
    let Some(lease) = apiserver::lease("rollout_fails_at_once_on_a_progress_deadline", 1) else { return };
    let server = &lease[0];
    for (helm, hub) in [("helm", "ro-deadline4"), ("helm3", "ro-deadline3")] {
        let world = World::new(helm, &[(hub, "webhub")]);
        let controller = Controller::start(
            server,
            "deployment",
            hub,
            &format!("{hub}-web"),
            Duration::ZERO,
            deployment_deadline_exceeded,
        );
        let (out, said, took) = world.run(server, hub, &["--timeout", "5m"]);
        controller.finish();
        assert!(!out.status.success(), "{helm}: {said}");
        assert!(took < Duration::from_secs(60), "{helm}: failed after {took:?}, not at once: {said}");
        let expected = format!(
            "rollout failed: `helm upgrade {hub}` on cluster c1: its rollout cannot progress: Deployment {hub}/{hub}-web: \
             ProgressDeadlineExceeded: ReplicaSet has timed out progressing"
        );
        assert!(said.contains(&expected), "{helm}: no `{expected}` in:\n{said}");
        assert!(said.contains(&format!("Rollout of {hub}: failed after ")), "{helm}: {said}");
    }
}

#[test]
fn rollout_fails_at_once_on_a_pod_that_cannot_pull_its_image() {
    let Some(lease) = apiserver::lease("rollout_fails_at_once_on_a_pod_that_cannot_pull_its_image", 1) else { return };
    let server = &lease[0];
    let hub = "ro-pull";
    let world = World::new("helm", &[(hub, "webhub")]);
    // The namespace and a pod in it whose container cannot pull its image, as a kubelet would say.
    let namespace = format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {hub}\n");
    let pod = format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {hub}-web-5d9c7-abcde\n  namespace: {hub}\nspec:\n  containers:\n    \
         - name: web\n      image: registry.example/app:typo\n"
    );
    for manifest in [namespace, pod] {
        let file = world.temp.path().join("object.yaml");
        std::fs::write(&file, manifest).expect("write");
        server.kubectl_ok(&["apply", "-f", &file.to_string_lossy()]);
    }
    let status = serde_json::json!({"status": {"phase": "Pending", "containerStatuses": [{
        "name": "web", "ready": false, "restartCount": 0, "image": "registry.example/app:typo", "imageID": "",
        "state": {"waiting": {"reason": "ImagePullBackOff", "message": "Back-off pulling image \"registry.example/app:typo\""}}}]}});
    server.kubectl_ok(&[
        "patch",
        "pod",
        &format!("{hub}-web-5d9c7-abcde"),
        "-n",
        hub,
        "--subresource=status",
        "--type=merge",
        "-p",
        &status.to_string(),
    ]);
    let (out, said, took) = world.run(server, hub, &["--timeout", "5m"]);
    assert!(!out.status.success(), "{said}");
    assert!(took < Duration::from_secs(60), "failed after {took:?}, not at once: {said}");
    let expected = format!(
        "its rollout cannot progress: pod {hub}-web-5d9c7-abcde container web: ImagePullBackOff (Back-off pulling image"
    );
    assert!(said.contains(&expected), "no `{expected}` in:\n{said}");
}

#[test]
fn rollout_times_out_when_nothing_happens() {
    let Some(lease) = apiserver::lease("rollout_times_out_when_nothing_happens", 1) else { return };
    let server = &lease[0];
    let hub = "ro-idle";
    let world = World::new("helm", &[(hub, "webhub")]);
    let (out, said, took) = world.run(server, hub, &["--timeout", "5s"]);
    assert!(!out.status.success(), "{said}");
    assert!(took >= Duration::from_secs(5) && took < Duration::from_secs(60), "{took:?}: {said}");
    let expected = format!(
        "its rollout did not finish in time: not ready after 5 s: Deployment {hub}/{hub}-web \
         (the controller has not seen generation 1 yet)"
    );
    assert!(said.contains(&expected), "no `{expected}` in:\n{said}");
    assert!(said.contains(&format!("Rollout of {hub}: timed out after ")), "{said}");
}

#[test]
fn atomic_rolls_a_failed_rollout_back_with_both_helms() {
    let Some(lease) = apiserver::lease("atomic_rolls_a_failed_rollout_back_with_both_helms", 1) else { return };
    let server = &lease[0];
    for (helm, hub) in [("helm", "ro-atomic4"), ("helm3", "ro-atomic3")] {
        let world = World::new(helm, &[(hub, "webhub")]);
        let (out, said, _) = world.run(server, hub, &["--wait", "none"]);
        assert!(out.status.success(), "{helm}: {said}");
        world.set_image(hub, "registry.example/app:2");
        let (out, said, took) = world.run(server, hub, &["--atomic", "--timeout", "5s"]);
        assert!(!out.status.success(), "{helm}: {said}");
        assert!(took < Duration::from_secs(60), "{helm}: {took:?}");
        assert!(
            said.contains("its rollout did not finish in time")
                && said.contains("; atomic: the release was rolled back to revision 1"),
            "{helm}: {said}"
        );
        let revisions = history(server, helm, hub);
        let statuses: Vec<(u64, &str)> = revisions.iter().map(|(r, s, _)| (*r, s.as_str())).collect();
        assert_eq!(statuses, [(1, "superseded"), (2, "superseded"), (3, "deployed")], "{helm}: {revisions:?}");
        assert!(revisions[2].2.contains("Rollback to 1"), "{helm}: {revisions:?}");
        assert_eq!(web_image(server, hub), "registry.example/app:1", "{helm}: back at the previous revision");
    }
}
