//! A release left pending for real on a real API server (a deploy whose helm was killed while it
//! waited), then recovered by the next deploy: `pending-release: fail` refuses with the way out,
//! the default rolls back to the last good revision (or uninstalls a lone `pending-install`) and
//! upgrades.

mod support;

use std::process::Stdio;
use std::time::{Duration, Instant};

use support::apiserver::{self, ApiServer};
use support::workloads::{history, web_image, World};

/// The pids of the children of `pid`, from `/proc`.
fn children(pid: u32) -> Vec<u32> {
    let mut found = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).into_iter().flatten().flatten() {
        let text = std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
        found.extend(text.split_whitespace().filter_map(|p| p.parse::<u32>().ok()));
    }
    found
}

/// Starts a deploy of `hub` that waits with helm for a Deployment that never becomes ready, and
/// once helm has written the pending revision (`pending`), kills helm (SIGKILL: helm marks the
/// release `failed` on SIGTERM, which is not what a killed runner leaves).
fn leave_pending(world: &World, server: &ApiServer, helm: &str, hub: &str, pending: &str) {
    let deployer = world
        .deploy(server, hub, &["--wait", "helm", "--timeout", "10m"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("deployer");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let latest = server.helm(helm, &["status", hub, "-n", hub, "-o", "json"]);
        let status: serde_json::Value = serde_json::from_slice(&latest.stdout).unwrap_or_default();
        if status["info"]["status"] == pending {
            break;
        }
        assert!(Instant::now() < deadline, "{helm}: the release never became {pending}");
        std::thread::sleep(Duration::from_millis(200));
    }
    let helms: Vec<u32> = children(deployer.id())
        .into_iter()
        .filter(|pid| std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim().starts_with("helm")))
        .collect();
    assert_eq!(helms.len(), 1, "{helm}: one helm under the deployer: {helms:?}");
    // SAFETY: kill of a child process of this test's child; no memory is touched.
    unsafe {
        libc::kill(helms[0] as libc::pid_t, libc::SIGKILL);
    }
    let out = deployer.wait_with_output().expect("deployer");
    assert!(!out.status.success(), "{helm}: the deploy whose helm was killed failed");
    let status = server.helm(helm, &["status", hub, "-n", hub, "-o", "json"]);
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).expect("status");
    assert_eq!(status["info"]["status"], pending, "{helm}: left {pending}");
}

#[test]
fn a_pending_upgrade_is_refused_or_rolled_back_with_both_helms() {
    let Some(lease) = apiserver::lease("a_pending_upgrade_is_refused_or_rolled_back_with_both_helms", 1) else {
        return;
    };
    let server = &lease[0];
    for (helm, hub) in [("helm", "pend-up4"), ("helm3", "pend-up3")] {
        let world = World::new(helm, &[(hub, "webhub")]);
        let (out, said, _) = world.run(server, hub, &["--wait", "none"]);
        assert!(out.status.success(), "{helm}: {said}");
        world.set_image(hub, "registry.example/app:2");
        leave_pending(&world, server, helm, hub, "pending-upgrade");

        // Without recovery, helm itself refuses the upgrade.
        let plain = server.helm(
            helm,
            &["upgrade", hub, &world.repo.join("helm-charts/webhub").to_string_lossy(), "-n", hub, "--set", "image=x"],
        );
        assert!(
            String::from_utf8_lossy(&plain.stderr)
                .contains("another operation (install/upgrade/rollback) is in progress"),
            "{helm}: {}",
            String::from_utf8_lossy(&plain.stderr)
        );

        let (out, said, _) = world.run(server, hub, &["--wait", "none", "--pending-release", "fail"]);
        assert!(!out.status.success(), "{helm}: {said}");
        let expected = format!(
            "helm failed: release {hub} on cluster c1 is pending-upgrade at revision 2: an earlier deploy was stopped \
             while helm ran, and helm refuses to upgrade it (another operation is in progress). Nothing was changed \
             (pending-release: fail). To recover, run `helm rollback {hub} 1 --namespace {hub}`, or deploy again with \
             pending-release: rollback, which does that first"
        );
        assert!(said.contains(&expected), "{helm}: no `{expected}` in:\n{said}");
        assert_eq!(history(server, helm, hub).len(), 2, "{helm}: nothing changed");

        let (out, said, _) = world.run(server, hub, &["--wait", "none"]);
        assert!(out.status.success(), "{helm}: {said}");
        let line = format!(
            "Release {hub}: revision 2 is pending-upgrade (a deploy stopped while helm ran); running \
             `helm rollback {hub} 1 --namespace {hub}` first (pending-release: rollback)"
        );
        assert!(said.contains(&line), "{helm}: no `{line}` in:\n{said}");
        let revisions = history(server, helm, hub);
        let statuses: Vec<(u64, &str)> = revisions.iter().map(|(r, s, _)| (*r, s.as_str())).collect();
        assert_eq!(statuses.last(), Some(&(4, "deployed")), "{helm}: {revisions:?}");
        assert!(revisions[2].2.contains("Rollback to 1"), "{helm}: {revisions:?}");
        assert_eq!(web_image(server, hub), "registry.example/app:2", "{helm}: upgraded after the rollback");
    }
}

#[test]
fn a_pending_install_is_uninstalled_then_installed() {
    let Some(lease) = apiserver::lease("a_pending_install_is_uninstalled_then_installed", 1) else { return };
    let server = &lease[0];
    let (helm, hub) = ("helm", "pend-inst");
    let world = World::new(helm, &[(hub, "webhub")]);
    leave_pending(&world, server, helm, hub, "pending-install");
    let (out, said, _) = world.run(server, hub, &["--wait", "none"]);
    assert!(out.status.success(), "{said}");
    assert!(
        said.contains(&format!("running `helm uninstall {hub} --namespace {hub}` first (pending-release: rollback)")),
        "{said}"
    );
    let revisions = history(server, helm, hub);
    let statuses: Vec<(u64, &str)> = revisions.iter().map(|(r, s, _)| (*r, s.as_str())).collect();
    assert_eq!(statuses, [(1, "deployed")], "{revisions:?}");
}
