//! `deploy` against a real Kubernetes API server (issue 18's measurements): one
//! `helm upgrade` of a fixture release, a leg of 20 releases on one cluster at
//! `max-parallel-releases` 1 and 4, and the overhead `deploy` adds around helm
//! (the leg's wall time minus the time some helm process was running), which
//! should stay under 5 % of a leg's wall time.
//!
//! Run with `make bench-deploy` (it starts the servers: `scripts/with-apiservers.sh`
//! sets `DEPLOYER_TEST_APISERVERS`). Without servers it says so and exits 0. helm
//! is the project's helm 4 (`target/tools/bin/helm`), wrapped to record when each
//! helm process starts and ends.

// A benchmark reports its results on stdout.
#![allow(clippy::print_stdout)]

use std::fs;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, ensure, Context, Result};

const HUBS: usize = 20;
const REPEAT: usize = 3;

fn main() -> Result<()> {
    if std::env::args().any(|a| a == "--list") {
        return Ok(());
    }
    let Some(state) = std::env::var_os("DEPLOYER_TEST_APISERVERS").map(PathBuf::from) else {
        println!("deploy_apiserver: skipped: no API servers (run `make bench-deploy`)");
        return Ok(());
    };
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let cluster = state.join("cluster1");
    let lock = fs::OpenOptions::new().create(true).truncate(false).write(true).open(cluster.join("lease.lock"))?;
    // SAFETY: flock on a descriptor this process owns; released at exit.
    ensure!(unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) } == 0, "lock the API server");

    let temp = tempfile::tempdir()?;
    let repo = temp.path().join("repo");
    write_repo(&repo, &fs::read_to_string(cluster.join("kubeconfig"))?)?;
    let bin = temp.path().join("bin");
    fs::create_dir_all(&bin)?;
    let times = temp.path().join("helm-times.log");
    let helm = root.join("target/tools/bin/helm");
    ensure!(helm.is_file(), "no helm at {} (run `bash scripts/install-tools.sh`)", helm.display());
    fs::write(
        bin.join("helm"),
        format!(
            "#!/bin/sh\ns=$(date +%s%N)\n'{}' \"$@\"\nrc=$?\necho \"$s $(date +%s%N) $1\" >> '{}'\nexit $rc\n",
            helm.display(),
            times.display()
        ),
    )?;
    fs::set_permissions(bin.join("helm"), std::os::unix::fs::PermissionsExt::from_mode(0o755))?;
    std::os::unix::fs::symlink(root.join("target/tools/bin/kubectl"), bin.join("kubectl"))?;
    let actions = PathBuf::from(env!("CARGO_BIN_EXE_deployer-actions"));
    for name in ["action-generate", "action-deploy"] {
        std::os::unix::fs::symlink(&actions, bin.join(name))?;
    }
    let env_path = format!("{}:/usr/bin:/bin", bin.display());
    clean(&cluster, &helm)?;

    // One upgrade of one release (install first, then measured upgrades).
    let deployer = PathBuf::from(env!("CARGO_BIN_EXE_deployer"));
    let one = || -> Result<(f64, f64)> {
        let _ = fs::remove_file(&times);
        let started = Instant::now();
        let out = Command::new(&deployer)
            .env_clear()
            .env("PATH", &env_path)
            .env("HOME", temp.path())
            .env("KUBECONFIG", cluster.join("kubeconfig"))
            .args(["deploy", "--cluster", "c1", "--hub", "prod00", "--repo"])
            .arg(&repo)
            .output()?;
        let wall = started.elapsed().as_secs_f64();
        ensure!(out.status.success(), "deploy: {}", String::from_utf8_lossy(&out.stderr));
        Ok((wall, helm_busy(&times, "upgrade")?))
    };
    one()?;
    let mut single: Vec<(f64, f64)> = (0..REPEAT).map(|_| one()).collect::<Result<_>>()?;
    single.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (wall, upgrade) = single[REPEAT / 2];

    // The prod leg of the 20 hubs, as generate plans it for a chart change.
    let plan = run_action(
        &bin,
        &env_path,
        &repo,
        "action-generate",
        &[("changed-files", "helm-charts/basehub/values.yaml"), ("max-jobs", "1")],
    )?;
    let legs: serde_json::Value = serde_json::from_str(plan.get("prod-hub-matrix-jobs").context("prod legs")?)?;
    let leg = legs.as_array().and_then(|l| l.first()).context("one prod leg")?.to_string();
    println!("deploy against kube-apiserver v1.20.2 on 127.0.0.1 (helm 4, median of {REPEAT})\n");
    println!("| what | wall | helm running | deploy's overhead |");
    println!("|---|---:|---:|---:|");
    println!("| one `deployer deploy` (1 release, `helm upgrade` {upgrade:.2} s) | {wall:.2} s | {:.2} s | {:.2} s ({:.1} %) |",
        helm_busy(&times, "")?, wall - helm_busy(&times, "")?, 100.0 * (wall - helm_busy(&times, "")?) / wall);
    for parallel in ["1", "4"] {
        let mut runs = Vec::new();
        for _ in 0..REPEAT {
            let _ = fs::remove_file(&times);
            let started = Instant::now();
            run_action(
                &bin,
                &env_path,
                &repo,
                "action-deploy",
                &[("leg", &leg), ("max-parallel-releases", parallel), ("results-dir", "results")],
            )?;
            let wall = started.elapsed().as_secs_f64();
            runs.push((wall, helm_busy(&times, "")?));
        }
        runs.sort_by(|a, b| a.0.total_cmp(&b.0));
        let (wall, busy) = runs[REPEAT / 2];
        let overhead = wall - busy;
        println!(
            "| a leg of {HUBS} releases, `max-parallel-releases` {parallel} | {wall:.2} s | {busy:.2} s | {overhead:.2} s ({:.1} %{}) |",
            100.0 * overhead / wall,
            if overhead / wall < 0.05 { "" } else { ", over the 5 % target" }
        );
    }
    clean(&cluster, &helm)?;
    Ok(())
}

/// Seconds during which at least one helm process (of `verb`, or any when empty) ran.
fn helm_busy(times: &Path, verb: &str) -> Result<f64> {
    let text = fs::read_to_string(times).unwrap_or_default();
    let mut spans: Vec<(u128, u128)> = text
        .lines()
        .filter_map(|line| {
            let mut parts = line.split(' ');
            let start = parts.next()?.parse().ok()?;
            let end = parts.next()?.parse().ok()?;
            let what = parts.next().unwrap_or("");
            (verb.is_empty() || what == verb).then_some((start, end))
        })
        .collect();
    spans.sort();
    let mut busy = 0u128;
    let mut current: Option<(u128, u128)> = None;
    for (start, end) in spans {
        current = match current {
            Some((s, e)) if start <= e => Some((s, e.max(end))),
            Some((s, e)) => {
                busy += e - s;
                Some((start, end))
            }
            None => Some((start, end)),
        };
    }
    if let Some((s, e)) = current {
        busy += e - s;
    }
    Ok(busy as f64 / 1e9)
}

fn run_action(
    bin: &Path,
    path: &str,
    repo: &Path,
    action: &str,
    inputs: &[(&str, &str)],
) -> Result<std::collections::BTreeMap<String, String>> {
    let temp = tempfile::tempdir()?;
    let output = temp.path().join("output");
    fs::write(&output, "")?;
    let mut command = Command::new(bin.join(action));
    command
        .env_clear()
        .current_dir(repo)
        .env("PATH", path)
        .env("HOME", temp.path())
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_WORKSPACE", repo)
        .env("GITHUB_OUTPUT", &output)
        .env("GITHUB_STEP_SUMMARY", temp.path().join("summary"))
        .env("GITHUB_RUN_ATTEMPT", "1");
    for (name, value) in inputs {
        command.env(format!("INPUT_{}", name.to_ascii_uppercase()), value);
    }
    let out = command.output()?;
    if !out.status.success() {
        bail!("{action}: {}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    }
    Ok(parse_output(&fs::read_to_string(&output)?))
}

/// `$GITHUB_OUTPUT`: `name=value` lines and `name<<DELIMITER` blocks.
fn parse_output(text: &str) -> std::collections::BTreeMap<String, String> {
    let mut found = std::collections::BTreeMap::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if let Some((name, delimiter)) = line.split_once("<<") {
            let mut value = Vec::new();
            for inner in lines.by_ref() {
                if inner == delimiter {
                    break;
                }
                value.push(inner);
            }
            found.insert(name.to_owned(), value.join("\n"));
        } else if let Some((name, value)) = line.split_once('=') {
            found.insert(name.to_owned(), value.to_owned());
        }
    }
    found
}

fn write_repo(repo: &Path, kubeconfig: &str) -> Result<()> {
    let write = |path: &str, text: &str| -> Result<()> {
        let path = repo.join(path);
        fs::create_dir_all(path.parent().context("parent")?)?;
        fs::write(path, text)?;
        Ok(())
    };
    write("helm-charts/basehub/Chart.yaml", "apiVersion: v2\nname: basehub\nversion: 0.1.0\n")?;
    write("helm-charts/basehub/values.yaml", "greeting: none\n")?;
    write(
        "helm-charts/basehub/templates/values.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-values\ndata:\n  greeting: {{ .Values.greeting | quote }}\n",
    )?;
    let mut cluster = String::from("name: c1\nprovider: kubeconfig\nkubeconfig:\n  file: kubeconfig.yaml\nhubs:\n");
    for index in 0..HUBS {
        cluster.push_str(&format!(
            "  - name: prod{index:02}\n    helm_chart: basehub\n    helm_chart_values_files: [hub.values.yaml]\n"
        ));
    }
    write("config/clusters/c1/cluster.yaml", &cluster)?;
    write("config/clusters/c1/hub.values.yaml", "greeting: hello\n")?;
    write("config/clusters/c1/kubeconfig.yaml", kubeconfig)?;
    Ok(())
}

/// Uninstalls every release on the server.
fn clean(cluster: &Path, helm: &Path) -> Result<()> {
    let list = Command::new(helm)
        .env("KUBECONFIG", cluster.join("kubeconfig"))
        .args(["list", "--all-namespaces", "--output", "json"])
        .output()?;
    let releases: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap_or_default();
    for release in releases.as_array().into_iter().flatten() {
        let (Some(name), Some(namespace)) = (release["name"].as_str(), release["namespace"].as_str()) else { continue };
        Command::new(helm)
            .env("KUBECONFIG", cluster.join("kubeconfig"))
            .args(["uninstall", name, "--namespace", namespace, "--no-hooks"])
            .output()?;
    }
    Ok(())
}
