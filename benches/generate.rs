//! End-to-end benchmark of `deployer generate` on synthetic repositories.
//!
//! Run with `cargo bench --bench generate` (or `make bench`). `cargo bench` builds the
//! `deployer` binary with the bench profile (which inherits `release`) next to this
//! benchmark, at `target/release/deployer`, and this benchmark spawns it:
//!
//! ```text
//! deployer generate --repo DIR --output json \
//!     --changed-files helm-charts/basehub/values.yaml,helm-charts/support/values.yaml
//! ```
//!
//! which plans every support chart and every hub, with stdout to `/dev/null`.
//! For each size N it writes a repository of N clusters x 10 hubs (see
//! `synthetic/mod.rs`) into a temporary folder, checks it with `deployer validate`
//! and one checked `generate` run, does one warm-up run, then times 10 runs. Each
//! child is pinned to one CPU and reaped with `wait4`, which gives its own peak RSS
//! and CPU time. Results go to stdout as a Markdown table; the targets are reported,
//! never asserted.
//!
//! Environment knobs: `DEPLOYER_BENCH_SIZES` (comma-separated cluster counts, default
//! `100,250,500,1000`) and `DEPLOYER_BENCH_RUNS` (default 10).
//!
//! Run without `--bench` (as `cargo test --benches` does), it only smoke-tests a small
//! repository once.

// A benchmark reports its results on stdout, and its progress on stderr.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod synthetic;

#[cfg(target_os = "linux")]
fn main() -> anyhow::Result<()> {
    bench::main()
}

#[cfg(not(target_os = "linux"))]
fn main() {
    eprintln!("the generate benchmark pins CPUs and reads child rusage, which needs Linux; skipped");
}

#[cfg(target_os = "linux")]
mod bench {
    use std::fs::File;
    use std::path::{Path, PathBuf};
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};

    use anyhow::{bail, ensure, Context};

    use crate::synthetic::{self, CHANGE_EVERYTHING, HUBS_PER_CLUSTER, STAGING_HUBS_PER_CLUSTER};

    const DEFAULT_SIZES: &[usize] = &[100, 250, 500, 1000];
    const DEFAULT_RUNS: usize = 10;
    /// Sizes and runs when the binary runs as a test (no `--bench` argument).
    const SMOKE_SIZES: &[usize] = &[5];
    const SMOKE_RUNS: usize = 1;

    /// The size the targets apply to, and the one the growth ratio is taken against.
    const TARGET_CLUSTERS: usize = 1000;
    const BASE_CLUSTERS: usize = 100;
    const TARGET_WALL: Duration = Duration::from_millis(200);
    const TARGET_RSS_KIB: u64 = 64 * 1024;

    pub fn main() -> anyhow::Result<()> {
        let bench_mode = std::env::args().skip(1).any(|arg| arg == "--bench");
        let sizes = match std::env::var("DEPLOYER_BENCH_SIZES") {
            Ok(list) => parse_sizes(&list)?,
            Err(_) if bench_mode => DEFAULT_SIZES.to_vec(),
            Err(_) => SMOKE_SIZES.to_vec(),
        };
        let runs = match std::env::var("DEPLOYER_BENCH_RUNS") {
            Ok(runs) => runs
                .trim()
                .parse::<usize>()
                .ok()
                .filter(|&runs| runs > 0)
                .with_context(|| format!("DEPLOYER_BENCH_RUNS `{runs}` is not a positive number"))?,
            Err(_) if bench_mode => DEFAULT_RUNS,
            Err(_) => SMOKE_RUNS,
        };

        let deployer = locate_deployer()?;
        // Counted before pinning, which leaves one CPU available.
        let nproc = std::thread::available_parallelism().map_or(0, usize::from);
        // Children inherit the affinity of the thread that spawns them.
        let pinned = pin_to_one_cpu();

        let mut results = Vec::with_capacity(sizes.len());
        for &clusters in &sizes {
            let repo =
                tempfile::Builder::new().prefix("deployer-bench-").tempdir().context("creating a temporary folder")?;
            let started = Instant::now();
            let layout = synthetic::write_repo(repo.path(), clusters)?;
            eprintln!(
                "N={clusters}: wrote {} files ({} KiB) in {:.2?}",
                layout.files,
                layout.bytes / 1024,
                started.elapsed()
            );
            check_validate(&deployer, repo.path(), clusters)?;
            check_generate(&deployer, repo.path(), clusters)?;
            // The child's stderr (warnings), shown if a run fails; removed on drop.
            let stderr_file = tempfile::NamedTempFile::new().context("creating a stderr file")?;
            let stderr_path = stderr_file.path();
            // Warm-up: page cache, dynamic loader, binary pages.
            time_generate(&deployer, repo.path(), stderr_path)?;
            let mut samples = Vec::with_capacity(runs);
            for _ in 0..runs {
                samples.push(time_generate(&deployer, repo.path(), stderr_path)?);
            }
            let result = Summary::new(clusters, layout.hubs, samples);
            eprintln!(
                "N={clusters}: min {} median {} peak RSS {}",
                ms(result.min),
                ms(result.median),
                mib(result.peak_rss_kib)
            );
            results.push(result);
        }

        report(&deployer, &results, runs, nproc, pinned);
        Ok(())
    }

    fn parse_sizes(list: &str) -> anyhow::Result<Vec<usize>> {
        list.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<usize>()
                    .ok()
                    .filter(|&n| (1..=9999).contains(&n))
                    .with_context(|| format!("DEPLOYER_BENCH_SIZES: `{s}` is not a cluster count in 1..=9999"))
            })
            .collect()
    }

    /// `deployer` in the profile folder this benchmark was built into:
    /// `target/release/deps/generate-<hash>` -> `target/release/deployer`.
    fn locate_deployer() -> anyhow::Result<PathBuf> {
        let exe = std::env::current_exe().context("finding the benchmark executable")?;
        let profile_dir =
            exe.parent().and_then(Path::parent).with_context(|| format!("{} has no profile folder", exe.display()))?;
        let deployer = profile_dir.join(format!("deployer{}", std::env::consts::EXE_SUFFIX));
        if !deployer.is_file() {
            bail!(
                "the deployer binary is missing: expected {}.\n\
                 `cargo bench --bench generate` builds it; so does `cargo build --release --bin deployer`.",
                deployer.display()
            );
        }
        Ok(deployer)
    }

    /// Pins the calling thread (and so every child spawned from it) to CPU 0, or to the
    /// first CPU it may run on. Returns the CPU, or `None` when pinning failed.
    fn pin_to_one_cpu() -> Option<usize> {
        // SAFETY: cpu_set_t is a plain bit array, valid when zeroed; the libc calls get
        // pointers to it with its exact size.
        unsafe {
            let mut allowed: libc::cpu_set_t = std::mem::zeroed();
            let size = std::mem::size_of::<libc::cpu_set_t>();
            if libc::sched_getaffinity(0, size, &mut allowed) != 0 {
                eprintln!(
                    "warning: sched_getaffinity failed ({}); runs are not pinned",
                    std::io::Error::last_os_error()
                );
                return None;
            }
            let max = usize::try_from(libc::CPU_SETSIZE).unwrap_or(1024);
            let cpu = (0..max).find(|&cpu| libc::CPU_ISSET(cpu, &allowed))?;
            let mut one: libc::cpu_set_t = std::mem::zeroed();
            libc::CPU_SET(cpu, &mut one);
            if libc::sched_setaffinity(0, size, &one) != 0 {
                eprintln!(
                    "warning: sched_setaffinity failed ({}); runs are not pinned",
                    std::io::Error::last_os_error()
                );
                return None;
            }
            Some(cpu)
        }
    }

    fn generate_command(deployer: &Path, repo: &Path) -> Command {
        let mut command = Command::new(deployer);
        command
            .arg("generate")
            .arg("--repo")
            .arg(repo)
            .args(["--changed-files", CHANGE_EVERYTHING, "--output", "json"])
            .stdin(Stdio::null());
        command
    }

    /// `deployer validate` must accept the synthetic repository and count it right.
    fn check_validate(deployer: &Path, repo: &Path, clusters: usize) -> anyhow::Result<()> {
        let output = Command::new(deployer)
            .arg("validate")
            .arg("--repo")
            .arg(repo)
            .output()
            .context("running deployer validate")?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        ensure!(
            output.status.success(),
            "deployer validate rejected the synthetic repository ({}):\n{}{}",
            output.status,
            stdout,
            String::from_utf8_lossy(&output.stderr)
        );
        let expected = format!("ok: {clusters} clusters, {} hubs", clusters * HUBS_PER_CLUSTER);
        ensure!(stdout.trim() == expected, "deployer validate printed `{}`, expected `{expected}`", stdout.trim());
        Ok(())
    }

    /// One untimed run whose plan is read back: every cluster's support chart and
    /// staging hubs, and every prod hub, must be planned.
    fn check_generate(deployer: &Path, repo: &Path, clusters: usize) -> anyhow::Result<()> {
        let output = generate_command(deployer, repo).output().context("running deployer generate")?;
        ensure!(
            output.status.success(),
            "deployer generate failed ({}):\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        let plan: serde_json::Value = serde_json::from_slice(&output.stdout).context("reading the plan JSON")?;
        let count = |key: &str| plan.get(key).and_then(serde_json::Value::as_array).map(Vec::len);
        let support = count("support-and-staging-matrix-jobs");
        let prod = count("prod-hub-matrix-jobs");
        let expected_prod = clusters * (HUBS_PER_CLUSTER - STAGING_HUBS_PER_CLUSTER);
        ensure!(
            support == Some(clusters) && prod == Some(expected_prod),
            "the plan has {support:?} support-and-staging jobs and {prod:?} prod hub jobs; \
             expected {clusters} and {expected_prod}"
        );
        Ok(())
    }

    struct Sample {
        wall: Duration,
        cpu: Duration,
        max_rss_kib: u64,
    }

    /// Spawns one `generate`, waits for it with `wait4` and returns its wall time,
    /// CPU time (user + system) and peak RSS.
    fn time_generate(deployer: &Path, repo: &Path, stderr_path: &Path) -> anyhow::Result<Sample> {
        let stderr = File::create(stderr_path).with_context(|| format!("creating {}", stderr_path.display()))?;
        let mut command = generate_command(deployer, repo);
        command.stdout(Stdio::null()).stderr(stderr);

        let started = Instant::now();
        let child = command.spawn().context("spawning deployer generate")?;
        let pid = libc::pid_t::try_from(child.id()).context("child pid out of range")?;
        let mut status: libc::c_int = 0;
        // SAFETY: rusage is plain data, valid when zeroed; wait4 gets valid pointers.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        loop {
            // SAFETY: as above; `pid` is our own child, not yet reaped.
            let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
            if reaped == pid {
                break;
            }
            let error = std::io::Error::last_os_error();
            if error.kind() != std::io::ErrorKind::Interrupted {
                return Err(error).context("waiting for deployer generate");
            }
        }
        let wall = started.elapsed();
        // The child is reaped; dropping the handle neither waits nor kills.
        drop(child);

        if !(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0) {
            let stderr = std::fs::read_to_string(stderr_path).unwrap_or_default();
            bail!("deployer generate failed (wait status {status:#x}):\n{stderr}");
        }
        let time = |t: libc::timeval| {
            Duration::from_secs(u64::try_from(t.tv_sec).unwrap_or(0))
                + Duration::from_micros(u64::try_from(t.tv_usec).unwrap_or(0))
        };
        Ok(Sample {
            wall,
            cpu: time(usage.ru_utime) + time(usage.ru_stime),
            // Linux reports ru_maxrss in KiB.
            max_rss_kib: u64::try_from(usage.ru_maxrss).unwrap_or(0),
        })
    }

    struct Summary {
        clusters: usize,
        hubs: usize,
        runs: usize,
        min: Duration,
        median: Duration,
        median_cpu: Duration,
        peak_rss_kib: u64,
    }

    impl Summary {
        fn new(clusters: usize, hubs: usize, samples: Vec<Sample>) -> Summary {
            let mut walls: Vec<Duration> = samples.iter().map(|s| s.wall).collect();
            let mut cpus: Vec<Duration> = samples.iter().map(|s| s.cpu).collect();
            Summary {
                clusters,
                hubs,
                runs: samples.len(),
                min: walls.iter().copied().min().unwrap_or_default(),
                median: median(&mut walls),
                median_cpu: median(&mut cpus),
                peak_rss_kib: samples.iter().map(|s| s.max_rss_kib).max().unwrap_or(0),
            }
        }
    }

    fn median(values: &mut [Duration]) -> Duration {
        values.sort();
        match values.len() {
            0 => Duration::ZERO,
            n if n % 2 == 1 => values[n / 2],
            n => (values[n / 2 - 1] + values[n / 2]) / 2,
        }
    }

    fn ms(d: Duration) -> String {
        format!("{:.1} ms", d.as_secs_f64() * 1e3)
    }

    fn mib(kib: u64) -> String {
        format!("{:.1} MiB", kib as f64 / 1024.0)
    }

    fn report(deployer: &Path, results: &[Summary], runs: usize, nproc: usize, pinned: Option<usize>) {
        println!();
        println!("## `deployer generate` end to end (every support chart and hub planned)");
        println!();
        println!("- binary: `{}`", deployer.display());
        println!(
            "- machine: {nproc} CPUs available; runs pinned to {}",
            pinned.map_or_else(|| "no CPU (pinning failed)".to_owned(), |c| format!("CPU {c}"))
        );
        println!("- {runs} timed runs per size after one warm-up run; stdout to /dev/null");
        println!();
        println!("| clusters | hubs | runs | min wall | median wall | median per cluster | median CPU (user+sys) | peak RSS |");
        println!("|---:|---:|---:|---:|---:|---:|---:|---:|");
        for r in results {
            let per_cluster_us = r.median.as_secs_f64() * 1e6 / r.clusters as f64;
            println!(
                "| {} | {} | {} | {} | {} | {:.1} µs | {} | {} |",
                r.clusters,
                r.hubs,
                r.runs,
                ms(r.min),
                ms(r.median),
                per_cluster_us,
                ms(r.median_cpu),
                mib(r.peak_rss_kib)
            );
        }
        println!();
        let find = |clusters: usize| results.iter().find(|r| r.clusters == clusters);
        if let (Some(base), Some(big)) = (find(BASE_CLUSTERS), find(TARGET_CLUSTERS)) {
            let ratio = |big: Duration, base: Duration| big.as_secs_f64() / base.as_secs_f64();
            println!(
                "- growth N={TARGET_CLUSTERS} / N={BASE_CLUSTERS}: {:.2}x by median wall, \
                 {:.2}x by min wall, {:.2}x by median CPU (linear would be {:.0}x)",
                ratio(big.median, base.median),
                ratio(big.min, base.min),
                ratio(big.median_cpu, base.median_cpu),
                TARGET_CLUSTERS as f64 / BASE_CLUSTERS as f64
            );
        }
        if let Some(big) = find(TARGET_CLUSTERS) {
            let verdict = |met: bool| if met { "met" } else { "NOT met" };
            println!(
                "- target N={TARGET_CLUSTERS} median wall < {}: {} ({})",
                ms(TARGET_WALL),
                verdict(big.median < TARGET_WALL),
                ms(big.median)
            );
            println!(
                "- target N={TARGET_CLUSTERS} peak RSS < {}: {} ({})",
                mib(TARGET_RSS_KIB),
                verdict(big.peak_rss_kib < TARGET_RSS_KIB),
                mib(big.peak_rss_kib)
            );
        }
    }
}
