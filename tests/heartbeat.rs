//! `scripts/heartbeat.sh`, which `make example` and `make test` run their long
//! steps under: when stdout is not a terminal it prints `… still running
//! <what> (<N>s)` while the command is silent, never while it talks, keeps
//! the command's stdout and stderr apart, exits with the command's status,
//! and leaves no ticker behind. The interval is 1 s here
//! (`DEPLOYER_HEARTBEAT_SECS`), so each case takes a few seconds.

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

fn heartbeat(what: &str, script: &str, interval: &str) -> (Output, Duration) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/heartbeat.sh");
    let started = Instant::now();
    // stdout is a pipe here: not a terminal, so the heartbeat is on.
    let output = Command::new("bash")
        .arg(path)
        .arg(what)
        .args(["bash", "-c", script])
        .env("DEPLOYER_HEARTBEAT_SECS", interval)
        .output()
        .expect("run scripts/heartbeat.sh");
    (output, started.elapsed())
}

fn ticks(output: &Output) -> Vec<String> {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter(|l| l.starts_with("… still running"))
        .map(str::to_owned)
        .collect()
}

#[test]
fn a_silent_command_gets_a_heartbeat_and_its_status_is_kept() {
    let (output, elapsed) = heartbeat("the silent step", "echo first; sleep 3.5; echo last >&2; exit 3", "1");
    assert_eq!(output.status.code(), Some(3), "the command's status");
    let ticks = ticks(&output);
    assert!(ticks.len() >= 2, "a tick per silent second: {ticks:?}");
    assert!(ticks[0].starts_with("… still running the silent step ("), "{ticks:?}");
    assert!(ticks.iter().all(|t| t.ends_with("s)")), "{ticks:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.starts_with("first\n"), "{stdout}");
    assert!(!stdout.contains("last"), "stderr stays on stderr: {stdout}");
    assert_eq!(String::from_utf8_lossy(&output.stderr), "last\n");
    // The ticker held stdout open as long as it lived: output() returning
    // at once means it stopped with the command.
    assert!(elapsed < Duration::from_secs(10), "no ticker left behind: {elapsed:?}");
}

#[test]
fn a_talking_command_gets_none() {
    let script = "for i in 1 2 3 4 5 6 7 8 9 10; do echo line $i; sleep 0.3; done";
    let (output, _) = heartbeat("the chatty step", script, "1");
    assert!(output.status.success());
    assert_eq!(ticks(&output), Vec::<String>::new());
    assert_eq!(String::from_utf8_lossy(&output.stdout).lines().count(), 10);
}

#[test]
fn a_bad_interval_is_refused() {
    let (output, _) = heartbeat("x", "true", "0.5");
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("DEPLOYER_HEARTBEAT_SECS"));
}
