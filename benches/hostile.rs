//! Hostile checkouts against the budget: each attack's worst file must cost
//! under 1 s and under 64 MiB of memory. Records numbers; asserts nothing.
//!
//! Run with `cargo bench --bench hostile`. Like `benches/generate.rs`, it spawns
//! the `deployer` binary built next to it (`target/release/deployer`), once with
//! `validate --repo DIR` and once with `generate --repo DIR --changed-files ...`
//! per attack, reaps each run with `wait4` for its wall time and peak RSS,
//! kills a run that is still going after 60 s (a hang), and prints a Markdown
//! table with the verdict per run. The attacks:
//!
//! - a cluster.yaml of about 40 KB of anchors and aliases (a billion laughs);
//! - 100,000 nested `[`, 100,000 nested `{a: `, 100,000 nested `- `, and block
//!   mappings nested as deep as 1 MiB allows;
//! - a 16 MiB cluster.yaml, a deployer.yaml that is a FIFO, one that links to
//!   `/dev/zero`;
//! - a cluster.yaml of 8,000 invalid hub names (every one a located problem);
//! - a deployer.yaml of 20,000 `redeploy_all_hubs` globs (under 1 MiB), and
//!   one at the caps: three lists of 100 wildcard-heavy 256-character globs;
//! - the `health_checks` flood: 200 clusters, 100 `cluster_paths` patterns and
//!   40 changed paths, each path passing every pattern's wildcard form and
//!   holding every cluster's name (`tests/support/health_check_flood.rs`,
//!   whose plan `tests/health_check_flood.rs` checks); `generate` gets those
//!   40 paths.
//!
//! Run without `--bench` (as `cargo test --benches` does), it runs each attack
//! once at a small size, as a smoke test.

// A benchmark reports its results on stdout.
#![allow(clippy::print_stdout, clippy::print_stderr)]

#[cfg(target_os = "linux")]
fn main() -> anyhow::Result<()> {
    bench::main()
}

#[cfg(not(target_os = "linux"))]
fn main() {
    eprintln!("the hostile-input benchmark reads child rusage with wait4, which needs Linux; skipped");
}

#[cfg(target_os = "linux")]
#[path = "../tests/support/health_check_flood.rs"]
mod flood;

#[cfg(target_os = "linux")]
mod bench {
    use std::fmt::Write as _;
    use std::fs;
    use std::path::{Path, PathBuf};
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};

    use anyhow::{bail, Context};

    const WALL_BUDGET: Duration = Duration::from_secs(1);
    const RSS_BUDGET_KIB: u64 = 64 * 1024;
    /// A run still going after this long is killed and reported as a hang.
    const KILL_AFTER: Duration = Duration::from_secs(60);

    const CLUSTER: &str = "config/clusters/c1/cluster.yaml";
    const VALID_CLUSTER: &str = "name: c1\nprovider: gcp\nhubs:\n  - name: staging\n";

    /// One attack: a name, what it writes into a checkout that is otherwise
    /// valid, and the changed paths `generate` gets (else the cluster file).
    struct Attack {
        name: &'static str,
        write: fn(&Path, Scale) -> anyhow::Result<String>,
        changed: Option<fn(Scale) -> Vec<String>>,
    }

    /// Full size under `--bench`, a small one as a smoke test.
    #[derive(Clone, Copy)]
    struct Scale {
        full: bool,
    }

    impl Scale {
        fn pick(self, full: usize, smoke: usize) -> usize {
            if self.full {
                full
            } else {
                smoke
            }
        }
    }

    const ATTACKS: &[Attack] = &[
        Attack { name: "anchors and aliases (billion laughs)", write: billion_laughs, changed: None },
        Attack {
            name: "nested `[`",
            write: |repo, scale| nested(repo, "[", scale.pick(100_000, 1_000)),
            changed: None,
        },
        Attack {
            name: "nested `{a: `",
            write: |repo, scale| nested(repo, "{a: ", scale.pick(100_000, 1_000)),
            changed: None,
        },
        Attack {
            name: "nested `- `",
            write: |repo, scale| nested(repo, "- ", scale.pick(100_000, 1_000)),
            changed: None,
        },
        Attack { name: "nested block mappings", write: block_mappings, changed: None },
        Attack { name: "huge cluster.yaml", write: huge_file, changed: None },
        Attack { name: "deployer.yaml is a FIFO", write: fifo, changed: None },
        Attack { name: "deployer.yaml links to /dev/zero", write: dev_zero, changed: None },
        Attack { name: "invalid hub names", write: bad_hub_names, changed: None },
        Attack { name: "many redeploy_all_hubs globs", write: many_globs, changed: None },
        Attack { name: "globs at the caps", write: globs_at_the_caps, changed: None },
        Attack {
            name: "health_checks flood",
            write: health_check_flood,
            changed: Some(|scale| {
                let (clusters, _, paths) = flood_size(scale);
                crate::flood::changed_paths(clusters, paths)
            }),
        },
    ];

    pub fn main() -> anyhow::Result<()> {
        let full = std::env::args().skip(1).any(|arg| arg == "--bench");
        let scale = Scale { full };
        let deployer = locate_deployer()?;
        let mut rows = Vec::new();
        for attack in ATTACKS {
            let repo = tempfile::Builder::new().prefix("deployer-hostile-").tempdir().context("temporary folder")?;
            write(repo.path(), CLUSTER, VALID_CLUSTER)?;
            write(repo.path(), "config/clusters/c1/staging.values.yaml", "x: 1\n")?;
            let input = (attack.write)(repo.path(), scale)?;
            let changed = attack.changed.map_or_else(|| CLUSTER.to_owned(), |paths| paths(scale).join("\n"));
            for command in ["validate", "generate"] {
                let run = run(&deployer, command, repo.path(), &changed)?;
                eprintln!("{}: {command}: {} {}", attack.name, ms(run.wall), mib(run.max_rss_kib));
                rows.push((attack.name, input.clone(), command, run));
            }
        }
        report(&deployer, &rows, full);
        Ok(())
    }

    fn write(repo: &Path, relative: &str, text: &str) -> anyhow::Result<()> {
        let path = repo.join(relative);
        fs::create_dir_all(path.parent().context("a parent folder")?)?;
        fs::write(&path, text).with_context(|| format!("writing {}", path.display()))
    }

    fn kib(bytes: usize) -> String {
        format!("{:.0} KiB", bytes as f64 / 1024.0)
    }

    fn billion_laughs(repo: &Path, scale: Scale) -> anyhow::Result<String> {
        let target = scale.pick(40 * 1024, 4 * 1024);
        // Ten levels, each listing the one before as often as the size allows.
        const LEVELS: usize = 10;
        let per_level = target / (LEVELS * "*lN, ".len());
        let mut text =
            String::from("name: c1\nprovider: gcp\nl0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
        for level in 1..LEVELS {
            let refs = vec![format!("*l{}", level - 1); per_level].join(", ");
            writeln!(text, "l{level}: &l{level} [{refs}]")?;
        }
        write(repo, CLUSTER, &text)?;
        Ok(format!("{LEVELS} levels x {per_level} aliases, {}", kib(text.len())))
    }

    fn nested(repo: &Path, opener: &str, depth: usize) -> anyhow::Result<String> {
        // A block sequence starts its own line; flow collections follow the key.
        let separator = if opener == "- " { "\n" } else { " " };
        let text = format!("name: c1\nprovider: gcp\nx:{separator}{}\n", opener.repeat(depth));
        write(repo, CLUSTER, &text)?;
        Ok(format!("{depth} levels, {}", kib(text.len())))
    }

    fn block_mappings(repo: &Path, scale: Scale) -> anyhow::Result<String> {
        let limit = scale.pick(1024 * 1024, 64 * 1024);
        let mut text = String::from("name: c1\nprovider: gcp\nx:\n");
        let mut depth = 1;
        while text.len() + depth + 3 < limit {
            text.push_str(&" ".repeat(depth));
            text.push_str("k:\n");
            depth += 1;
        }
        write(repo, CLUSTER, &text)?;
        Ok(format!("{depth} levels, {}", kib(text.len())))
    }

    fn huge_file(repo: &Path, scale: Scale) -> anyhow::Result<String> {
        use std::io::Write as _;
        // Written in pieces: a child's peak RSS on Linux starts from this
        // process's own at the moment it is spawned, so this one stays small.
        let size = scale.pick(16 * 1024 * 1024, 2 * 1024 * 1024);
        let mut file = std::io::BufWriter::new(fs::File::create(repo.join(CLUSTER))?);
        file.write_all(VALID_CLUSTER.as_bytes())?;
        let line = "# padding line\n";
        for _ in 0..size / line.len() {
            file.write_all(line.as_bytes())?;
        }
        file.flush()?;
        Ok(kib(VALID_CLUSTER.len() + size / line.len() * line.len()))
    }

    fn fifo(repo: &Path, _: Scale) -> anyhow::Result<String> {
        let path = std::ffi::CString::new(repo.join("deployer.yaml").to_string_lossy().as_bytes())?;
        // SAFETY: a valid NUL-terminated path.
        if unsafe { libc::mkfifo(path.as_ptr(), 0o644) } != 0 {
            bail!("mkfifo: {}", std::io::Error::last_os_error());
        }
        Ok("a FIFO no one writes to".to_owned())
    }

    fn dev_zero(repo: &Path, _: Scale) -> anyhow::Result<String> {
        std::os::unix::fs::symlink("/dev/zero", repo.join("deployer.yaml"))?;
        Ok("a symlink to /dev/zero".to_owned())
    }

    fn bad_hub_names(repo: &Path, scale: Scale) -> anyhow::Result<String> {
        let count = scale.pick(8_000, 200);
        let hubs: String = (0..count).map(|i| format!("  - name: Bad_Hub_{i}\n")).collect();
        let text = format!("name: c1\nprovider: gcp\nhubs:\n{hubs}");
        write(repo, CLUSTER, &text)?;
        Ok(format!("{count} names, {}", kib(text.len())))
    }

    fn many_globs(repo: &Path, scale: Scale) -> anyhow::Result<String> {
        let count = scale.pick(20_000, 500);
        let globs: String = (0..count).map(|i| format!("  - 'charts/{i}/**/*.{{yaml,json}}'\n")).collect();
        let text = format!("redeploy_all_hubs:\n{globs}");
        write(repo, "deployer.yaml", &text)?;
        Ok(format!("{count} globs, {}", kib(text.len())))
    }

    /// The most `deployer.yaml` accepts: three lists of 100 patterns of 256
    /// characters, wildcards all along (the costliest shape to compile).
    fn globs_at_the_caps(repo: &Path, scale: Scale) -> anyhow::Result<String> {
        let count = scale.pick(100, 10);
        let glob = |i: usize| format!("{i}/**/{}", "*a".repeat(200)).chars().take(256).collect::<String>();
        let list = |indent: &str| (0..count).map(|i| format!("{indent}- '{}'\n", glob(i))).collect::<String>();
        let text = format!(
            "redeploy_all_hubs:\n{}redeploy_all_support:\n{}clusters:\n  exclude:\n{}",
            list("  "),
            list("  "),
            list("    ")
        );
        write(repo, "deployer.yaml", &text)?;
        Ok(format!("3 lists x {count} globs of 256 characters, {}", kib(text.len())))
    }

    /// Clusters, `cluster_paths` patterns and changed paths of the flood.
    fn flood_size(scale: Scale) -> (usize, usize, usize) {
        (scale.pick(200, 20), scale.pick(100, 10), scale.pick(40, 4))
    }

    /// Before each (pattern, cluster) was put together once, this took 83 s:
    /// a compile per pattern, cluster and path.
    fn health_check_flood(repo: &Path, scale: Scale) -> anyhow::Result<String> {
        let (clusters, patterns, paths) = flood_size(scale);
        let changed = crate::flood::write(repo, clusters, patterns, paths);
        // The shared `c1` made valid, so that the run plans and exits 0 (its name is in the paths too).
        write(
            repo,
            CLUSTER,
            "name: c1\nprovider: gcp\nhubs:\n  - {name: staging, helm_chart: basehub, helm_chart_values_files: [staging.values.yaml]}\n",
        )?;
        let longest = changed.iter().map(String::len).max().unwrap_or(0);
        Ok(format!("{clusters} clusters x {patterns} patterns x {paths} paths of up to {longest} characters"))
    }

    /// `deployer` in the profile folder this benchmark was built into.
    fn locate_deployer() -> anyhow::Result<PathBuf> {
        let exe = std::env::current_exe().context("finding the benchmark executable")?;
        let profile_dir =
            exe.parent().and_then(Path::parent).with_context(|| format!("{} has no profile folder", exe.display()))?;
        let deployer = profile_dir.join(format!("deployer{}", std::env::consts::EXE_SUFFIX));
        if !deployer.is_file() {
            bail!(
                "the deployer binary is missing: expected {}.\n\
                 `cargo bench --bench hostile` builds it; so does `cargo build --release --bin deployer`.",
                deployer.display()
            );
        }
        Ok(deployer)
    }

    struct Run {
        wall: Duration,
        max_rss_kib: u64,
        /// The exit code, or `None` when killed.
        code: Option<i32>,
        /// The first line of the error, as the user sees it.
        first_error: String,
    }

    /// One run, reaped with `wait4` (polling, so a hang can be killed).
    fn run(deployer: &Path, command: &str, repo: &Path, changed: &str) -> anyhow::Result<Run> {
        let stderr_file = tempfile::NamedTempFile::new().context("a stderr file")?;
        let mut child_command = Command::new(deployer);
        child_command.arg(command).arg("--repo").arg(repo);
        if command == "generate" {
            child_command.args(["--changed-files", changed]);
        }
        child_command.stdin(Stdio::null()).stdout(Stdio::null()).stderr(stderr_file.reopen()?);
        let started = Instant::now();
        let child = child_command.spawn().context("spawning deployer")?;
        let pid = libc::pid_t::try_from(child.id()).context("child pid out of range")?;
        let mut status: libc::c_int = 0;
        // SAFETY: rusage is plain data, valid when zeroed; wait4 gets valid pointers.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        let mut killed = false;
        loop {
            // SAFETY: as above; `pid` is our own child, not yet reaped.
            let reaped = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) };
            if reaped == pid {
                break;
            }
            if reaped < 0 {
                let error = std::io::Error::last_os_error();
                if error.kind() != std::io::ErrorKind::Interrupted {
                    return Err(error).context("waiting for deployer");
                }
            }
            if !killed && started.elapsed() > KILL_AFTER {
                // SAFETY: signalling our own unreaped child.
                unsafe { libc::kill(pid, libc::SIGKILL) };
                killed = true;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        let wall = started.elapsed();
        drop(child);
        let stderr = fs::read_to_string(stderr_file.path()).unwrap_or_default();
        let first_error =
            stderr.lines().find(|l| !l.starts_with("error: invalid configuration")).unwrap_or("").to_owned();
        Ok(Run {
            wall,
            max_rss_kib: u64::try_from(usage.ru_maxrss).unwrap_or(0),
            code: (!killed && libc::WIFEXITED(status)).then(|| libc::WEXITSTATUS(status)),
            first_error,
        })
    }

    fn ms(d: Duration) -> String {
        format!("{:.1} ms", d.as_secs_f64() * 1e3)
    }

    fn mib(kib: u64) -> String {
        format!("{:.1} MiB", kib as f64 / 1024.0)
    }

    fn report(deployer: &Path, rows: &[(&str, String, &str, Run)], full: bool) {
        println!();
        println!("## Hostile inputs against the budget (under {} and {})", ms(WALL_BUDGET), mib(RSS_BUDGET_KIB));
        println!();
        println!("- binary: `{}`", deployer.display());
        if !full {
            println!("- smoke run at small sizes (pass `--bench` for the full attacks)");
        }
        println!();
        println!("| attack | input | command | exit | wall | peak RSS | budget | first error line |");
        println!("|---|---|---|---:|---:|---:|---|---|");
        for (attack, input, command, run) in rows {
            let within = run.code.is_some() && run.wall < WALL_BUDGET && run.max_rss_kib < RSS_BUDGET_KIB;
            let code = run.code.map_or_else(|| format!("killed after {}", ms(KILL_AFTER)), |c| c.to_string());
            let mut error: String = run.first_error.chars().take(100).collect();
            error = error.replace('|', "\\|");
            println!(
                "| {attack} | {input} | {command} | {code} | {} | {} | {} | {error} |",
                ms(run.wall),
                mib(run.max_rss_kib),
                if within { "within" } else { "OVER" }
            );
        }
        println!();
    }
}
