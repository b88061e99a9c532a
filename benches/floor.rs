//! `deployer generate` against the parse floor, side by side in one run.
//!
//! Run with `cargo bench --bench floor`. For each size N (default 1,000 and
//! 10,000 clusters x 10 hubs, `synthetic/mod.rs`), it writes a repository
//! and times, unpinned (every core), 10 runs each after a warm-up:
//!
//! - `deployer generate --output json` planning everything (stdout to /dev/null);
//! - the baseline: a minimal serde program that only reads every
//!   `cluster.yaml`, parses it into the smallest struct that holds the values
//!   file lists (same YAML crate), and checks that each listed values file
//!   exists: once on one thread, once on a thread per core. It is this
//!   benchmark's own executable started again with `DEPLOYER_FLOOR_BASELINE`,
//!   so both sides pay a process start.
//!
//! It prints a Markdown table with the medians, peak RSS (from `wait4`) and
//! the ratio of generate to the baseline on every core (the goal: at most
//! 1.25x). Nothing is asserted. Run without `--bench` (as `cargo test
//! --benches` does), it checks one small repository once.

#![allow(clippy::print_stdout, clippy::print_stderr)]

// Shared with the generate benchmark, which uses more of it.
#[allow(dead_code)]
#[path = "synthetic/mod.rs"]
mod synthetic;

#[cfg(target_os = "linux")]
fn main() -> anyhow::Result<()> {
    bench::main()
}

#[cfg(not(target_os = "linux"))]
fn main() {
    eprintln!("the floor benchmark reads child rusage with wait4, which needs Linux; skipped");
}

#[cfg(target_os = "linux")]
mod bench {
    use std::path::{Path, PathBuf};
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};

    use anyhow::{bail, ensure, Context};
    use serde::Deserialize;

    use crate::synthetic::{self, CHANGE_EVERYTHING};

    const BASELINE_VAR: &str = "DEPLOYER_FLOOR_BASELINE";
    const GOAL: f64 = 1.25;

    pub fn main() -> anyhow::Result<()> {
        if let Ok(threads) = std::env::var(BASELINE_VAR) {
            let repo = std::env::args().nth(1).context("the baseline takes the repository")?;
            let threads = threads.parse::<usize>().context("baseline threads")?;
            let (files, exists) = baseline(Path::new(&repo), threads)?;
            println!("{files} {exists}");
            return Ok(());
        }
        let bench_mode = std::env::args().skip(1).any(|arg| arg == "--bench");
        let sizes: Vec<usize> = match std::env::var("DEPLOYER_BENCH_SIZES") {
            Ok(list) => list
                .split(',')
                .map(|s| s.trim().parse::<usize>().context("DEPLOYER_BENCH_SIZES"))
                .collect::<Result<_, _>>()?,
            Err(_) if bench_mode => vec![1000, 10_000],
            Err(_) => vec![5],
        };
        let runs = if bench_mode { 10 } else { 1 };
        let exe = std::env::current_exe().context("this benchmark's executable")?;
        let deployer = exe
            .parent()
            .and_then(Path::parent)
            .map(|dir| dir.join("deployer"))
            .filter(|path| path.is_file())
            .context("target/release/deployer is missing: `cargo bench --bench floor` builds it")?;
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let mut rows = Vec::new();
        for &clusters in &sizes {
            let repo = tempfile::Builder::new().prefix("deployer-floor-").tempdir()?;
            let layout = synthetic::write_repo(repo.path(), clusters)?;
            let (files, exists) = baseline(repo.path(), cores)?;
            ensure!(files == clusters, "the baseline read {files} cluster files, expected {clusters}");
            eprintln!("N={clusters}: {} files written; the baseline checks {exists} listed values files", layout.files);
            let generate = {
                let mut command = Command::new(&deployer);
                command.arg("generate").arg("--repo").arg(repo.path()).args([
                    "--changed-files",
                    CHANGE_EVERYTHING,
                    "--output",
                    "json",
                ]);
                command
            };
            let base = |threads: usize| {
                let mut command = Command::new(&exe);
                command.arg(repo.path()).env(BASELINE_VAR, threads.to_string());
                command
            };
            let generate = time(generate, runs)?;
            let one = time(base(1), runs)?;
            let all = time(base(cores), runs)?;
            rows.push((clusters, exists, generate, one, all));
        }
        println!();
        println!("## `deployer generate` against the parse floor ({cores} cores, unpinned, median of {runs} runs, side by side)");
        println!();
        println!("| clusters | values files | generate | baseline, 1 thread | baseline, {cores} threads | generate / baseline ({cores} threads) | peak RSS generate / baseline |");
        println!("|---:|---:|---:|---:|---:|---:|---:|");
        for (clusters, exists, generate, one, all) in &rows {
            let ratio = generate.median.as_secs_f64() / all.median.as_secs_f64();
            println!(
                "| {clusters} | {exists} | {} | {} | {} | {ratio:.2}x ({}) | {:.1} / {:.1} MiB |",
                ms(generate.median),
                ms(one.median),
                ms(all.median),
                if ratio <= GOAL { "within 1.25x" } else { "over 1.25x" },
                generate.rss_kib as f64 / 1024.0,
                all.rss_kib as f64 / 1024.0
            );
        }
        if let (Some(small), Some(big)) = (rows.first(), rows.last()) {
            if big.0 > small.0 {
                println!();
                println!(
                    "- growth N={} / N={}: {:.2}x by median wall (linear: {:.0}x)",
                    big.0,
                    small.0,
                    big.2.median.as_secs_f64() / small.2.median.as_secs_f64(),
                    big.0 as f64 / small.0 as f64
                );
            }
        }
        Ok(())
    }

    #[derive(Deserialize)]
    struct MinimalCluster {
        #[serde(default)]
        support: Option<MinimalValues>,
        #[serde(default)]
        hubs: Vec<MinimalValues>,
    }

    #[derive(Deserialize)]
    struct MinimalValues {
        #[serde(default)]
        helm_chart_values_files: Vec<String>,
    }

    /// Parses every cluster file and checks its values files exist, on `threads` threads: (files, values files).
    fn baseline(repo: &Path, threads: usize) -> anyhow::Result<(usize, usize)> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(repo.join("config/clusters"))?
            .filter_map(|entry| entry.ok().map(|e| e.path().join("cluster.yaml")))
            .collect();
        files.sort();
        let check = |chunk: &[PathBuf]| -> anyhow::Result<usize> {
            let mut checked = 0;
            for file in chunk {
                let text = std::fs::read_to_string(file)?;
                let cluster: MinimalCluster = yaml_serde::from_str(&text)?;
                let dir = file.parent().context("a folder")?;
                for values in cluster.support.iter().chain(&cluster.hubs) {
                    for name in &values.helm_chart_values_files {
                        ensure!(dir.join(name).exists(), "{name} is missing");
                        checked += 1;
                    }
                }
            }
            Ok(checked)
        };
        let size = files.len().div_ceil(threads.max(1)).max(1);
        let checked = std::thread::scope(|scope| {
            let handles: Vec<_> = files.chunks(size).map(|chunk| scope.spawn(move || check(chunk))).collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|_| Err(anyhow::anyhow!("a thread panicked"))))
                .sum::<anyhow::Result<usize>>()
        })?;
        Ok((files.len(), checked))
    }

    struct Timed {
        median: Duration,
        rss_kib: u64,
    }

    /// One warm-up run, then `runs` timed runs of `command`, each reaped with `wait4`.
    fn time(mut command: Command, runs: usize) -> anyhow::Result<Timed> {
        command.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
        let mut walls = Vec::new();
        let mut rss_kib = 0;
        for run in 0..=runs {
            let started = Instant::now();
            let child = command.spawn().context("spawning")?;
            let pid = libc::pid_t::try_from(child.id())?;
            let mut status: libc::c_int = 0;
            // SAFETY: rusage is plain data, valid when zeroed; wait4 gets valid pointers to our own child.
            let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
            loop {
                // SAFETY: as above.
                if unsafe { libc::wait4(pid, &mut status, 0, &mut usage) } == pid {
                    break;
                }
                if std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
                    bail!("wait4 failed");
                }
            }
            let wall = started.elapsed();
            drop(child);
            ensure!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0, "{command:?} failed ({status:#x})");
            if run > 0 {
                walls.push(wall);
                rss_kib = rss_kib.max(u64::try_from(usage.ru_maxrss).unwrap_or(0));
            }
        }
        walls.sort();
        Ok(Timed { median: walls[walls.len() / 2], rss_kib })
    }

    fn ms(d: Duration) -> String {
        format!("{:.1} ms", d.as_secs_f64() * 1e3)
    }
}
