//! `deployer rollout status | promote | next` through the real binary, on a Git copy of
//! `tests/fixtures/rollout/repo` (waves canary → early → rest, `basehub` rolled; canary soaks 12h, early 2d)
//! and the fake GitHub API holding each release's deployment records. `promote` moves exactly one pin and
//! `generate` then plans exactly that wave; a soaking wave waits, a failure halts (named), a release without
//! a record is refused, `--force` says so loudly; `next` opens the promotion pull request once.

mod support;

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

use serde_json::{json, Value};
use support::fake_github::{FakeGitHub, FakeStatus};
use support::{bin, copy_tree, fixture};

const PIN_EARLY: &str = "1111111111111111111111111111111111111111";
const PIN_REST: &str = "2222222222222222222222222222222222222222";
const STATE_FILE: &str = "config/rollout.yaml";
/// The canary's last success at the head; with its 12h soak, the canary has soaked from NOW on.
const CANARY_AT: &str = "2026-12-05T00:00:00Z";
const NOW: &str = "2026-12-05T12:00:00Z";

/// The fixture as a Git checkout (one commit), and its head commit.
fn checkout() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().expect("temp");
    copy_tree(&fixture("rollout/repo"), dir.path());
    let git = |args: &[&str]| support::git(dir.path(), args);
    git(&["init", "-q"]);
    git(&["add", "-A"]);
    git(&["commit", "-q", "-m", "fixture"]);
    let head = git(&["rev-parse", "HEAD"]);
    (dir, head)
}

/// Every release of `basehub` with its wave: (environment, wave).
const RELEASES: [(&str, &str); 7] = [
    ("alpha/staging", "canary"),
    ("alpha/prod1", "canary"),
    ("beta/staging", "canary"),
    ("gamma/staging", "canary"),
    ("beta/prod1", "early"),
    ("beta/prod2", "early"),
    ("gamma/prod1", "rest"),
];

/// Seeds one deployer record of `environment` running `chart_commit`, its statuses in_progress then `state`.
fn record(fake: &FakeGitHub, environment: &str, wave: &str, chart_commit: &str, state: &str, at: &str) {
    let (cluster, release) = environment.split_once('/').expect("cluster/hub");
    let payload = json!({"deployer": 1, "cluster": cluster, "release": release, "chart": "basehub",
        "chart_commit": chart_commit, "chart_digest": format!("sha256:{}", "0".repeat(64)), "wave": wave});
    let status = |state: &str| FakeStatus {
        state: state.to_owned(),
        environment_url: None,
        log_url: None,
        description: None,
        created_at: at.to_owned(),
    };
    fake.deployment(environment, chart_commit, payload, at, vec![status("in_progress"), status(state)]);
}

/// Every release running its wave's commit with success: canary the head (its last at CANARY_AT).
fn healthy(fake: &FakeGitHub, head: &str) {
    for (environment, wave) in RELEASES {
        match wave {
            "canary" => record(fake, environment, wave, head, "success", CANARY_AT),
            "early" => record(fake, environment, wave, PIN_EARLY, "success", "2026-12-01T11:00:00Z"),
            _ => record(fake, environment, wave, PIN_REST, "success", "2026-11-20T11:00:00Z"),
        }
    }
}

/// `deployer rollout <args> --repo <repo> --now <now>` against the fake API (with a token when `token`), in a
/// clean environment (PATH kept, for git).
async fn rollout(fake: &FakeGitHub, repo: &Path, now: &str, token: bool, args: &[&str]) -> (Output, String, String) {
    let mut command = Command::new(bin("deployer"));
    command
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("GITHUB_API_URL", fake.api.uri())
        .env("DEPLOYER_ALLOW_INSECURE_ENDPOINTS", "1")
        .env("GITHUB_REPOSITORY", "octo-org/infra")
        .arg("rollout")
        .args(args)
        .args(["--repo", repo.to_str().expect("utf-8 path"), "--now", now]);
    if token {
        command.env("GITHUB_TOKEN", "test-token");
    }
    let output = tokio::task::spawn_blocking(move || command.output().expect("run deployer")).await.expect("join");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    (output, stdout, stderr)
}

fn state_text(repo: &Path) -> String {
    fs::read_to_string(repo.join(STATE_FILE)).expect("state file")
}

/// The fixture's state file with the early pin moved to `commit` since NOW.
fn promoted_state(original: &str, commit: &str) -> String {
    let early_line = format!("early: {{commit: {PIN_EARLY}, since: \"2026-12-01T10:00:00Z\"}}");
    assert!(original.contains(&early_line), "{original}");
    original.replace(&early_line, &format!("early: {{commit: {commit}, since: \"{NOW}\"}}"))
}

/// Every planned hub as `cluster/hub`, sorted.
fn planned_hubs(plan: &Value) -> Vec<String> {
    let mut hubs = Vec::new();
    for job in plan["support-and-staging-matrix-jobs"].as_array().expect("support-and-staging") {
        for hub in job["staging_hubs"].as_array().expect("staging_hubs") {
            hubs.push(format!("{}/{}", job["cluster_name"].as_str().unwrap_or("?"), hub.as_str().unwrap_or("?")));
        }
    }
    for job in plan["prod-hub-matrix-jobs"].as_array().expect("prod") {
        hubs.push(format!(
            "{}/{}",
            job["cluster_name"].as_str().unwrap_or("?"),
            job["hub_name"].as_str().unwrap_or("?")
        ));
    }
    hubs.sort();
    hubs
}

#[tokio::test(flavor = "multi_thread")]
async fn promote_moves_exactly_the_pin_and_generate_plans_exactly_that_wave() {
    let fake = FakeGitHub::start().await;
    let (repo, head) = checkout();
    healthy(&fake, &head);
    let original = state_text(repo.path());
    let (output, stdout, stderr) = rollout(&fake, repo.path(), NOW, true, &["promote"]).await;
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains(&format!("promoted basehub to the wave early (1111111 -> {}", &head[..7])), "{stdout}");
    assert!(!stderr.contains("FORCED"), "{stderr}");
    // Exactly the early pin's line changed; comments and the rest kept.
    assert_eq!(state_text(repo.path()), promoted_state(&original, &head));
    // The deployment records were read from the API (one listing and one status listing per release).
    assert!(fake
        .requests()
        .iter()
        .any(|r| r.starts_with("GET /repos/octo-org/infra/deployments?environment=beta%2Fprod1")));

    // That change plans exactly the wave early (beta's prod hubs, with their cluster's canary), at the head.
    let base = tempfile::tempdir().expect("temp");
    copy_tree(&fixture("rollout/repo"), base.path());
    let output = support::deployer(&[
        "generate",
        "--repo",
        repo.path().to_str().expect("utf-8"),
        "--changed-files",
        STATE_FILE,
        "--base-dir",
        base.path().to_str().expect("utf-8"),
        "--output",
        "json",
    ]);
    let plan: Value = serde_json::from_slice(&output.stdout).expect("JSON plan");
    assert_eq!(planned_hubs(&plan), ["beta/prod1", "beta/prod2", "beta/staging"], "{plan}");
    for job in plan["prod-hub-matrix-jobs"].as_array().expect("prod") {
        assert_eq!(job["rollout"], json!({"wave": "early", "chart_commit": head}), "{job}");
    }

    // Promoting again: early already runs the canary's commit; the next behind is rest.
    let (output, stdout, stderr) = rollout(&fake, repo.path(), NOW, true, &["promote", "early"]).await;
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("the wave early already runs"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_soaking_wave_waits_and_opens_no_pull_request() {
    let fake = FakeGitHub::start().await;
    let (repo, head) = checkout();
    healthy(&fake, &head);
    fake.repository_files(&head, &[(STATE_FILE, &state_text(repo.path()))]);
    let early_morning = "2026-12-05T06:00:00Z";
    let (output, stdout, stderr) = rollout(&fake, repo.path(), early_morning, true, &["next"]).await;
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("basehub to the wave early: waiting: soak 6h left (until 2026-12-05T12:00:00Z)"),
        "{stdout}"
    );
    assert!(fake.opened_pulls().is_empty());
    assert!(!fake.requests().iter().any(|r| r.starts_with("POST") || r.starts_with("PUT")), "{:?}", fake.requests());
    // promote refuses it too, and writes nothing.
    let original = state_text(repo.path());
    let (output, _, stderr) = rollout(&fake, repo.path(), early_morning, true, &["promote"]).await;
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("refusing to promote basehub to the wave early"), "{stderr}");
    assert!(stderr.contains("waiting: soak 6h left"), "{stderr}");
    assert_eq!(state_text(repo.path()), original);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_release_halts_the_promotion_and_force_says_so_loudly() {
    let fake = FakeGitHub::start().await;
    let (repo, head) = checkout();
    healthy(&fake, &head);
    // beta/staging's newer deploy of the head failed.
    record(&fake, "beta/staging", "canary", &head, "failure", "2026-12-05T01:00:00Z");
    fake.repository_files(&head, &[(STATE_FILE, &state_text(repo.path()))]);
    let (output, _, stderr) = rollout(&fake, repo.path(), NOW, true, &["next"]).await;
    assert_eq!(output.status.code(), Some(1), "a halted rollout makes the scheduled run red: {stderr}");
    assert!(stderr.contains("not promoting basehub to the wave early: HALTED: beta/staging failed"), "{stderr}");
    assert!(fake.opened_pulls().is_empty());

    let original = state_text(repo.path());
    let (output, _, stderr) = rollout(&fake, repo.path(), NOW, true, &["promote"]).await;
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("refusing to promote basehub to the wave early"), "{stderr}");
    assert!(stderr.contains("HALTED: beta/staging failed at the commit"), "{stderr}");
    assert_eq!(state_text(repo.path()), original, "a refused promotion writes nothing");

    let (output, stdout, stderr) = rollout(&fake, repo.path(), NOW, true, &["promote", "--force"]).await;
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("warning: FORCED PROMOTION of basehub to the wave early")
            && stderr.contains("HALTED: beta/staging failed"),
        "{stderr}"
    );
    assert_eq!(state_text(repo.path()), promoted_state(&original, &head));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_release_without_a_record_is_refused() {
    let fake = FakeGitHub::start().await;
    let (repo, head) = checkout();
    for (environment, wave) in RELEASES.iter().filter(|(environment, _)| *environment != "gamma/staging") {
        let commit = match *wave {
            "canary" => head.as_str(),
            "early" => PIN_EARLY,
            _ => PIN_REST,
        };
        record(&fake, environment, wave, commit, "success", CANARY_AT);
    }
    // A deployment that is not the deployer's (no `"deployer": 1`) does not count either.
    fake.deployment("gamma/staging", &head, json!({"cluster": "gamma", "release": "staging"}), CANARY_AT, vec![]);
    let (output, _, stderr) = rollout(&fake, repo.path(), NOW, true, &["promote"]).await;
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("unknown: no deployment record: gamma/staging"), "{stderr}");
    // Without a token there are no records at all: refused too, with the hint.
    let (output, _, stderr) = rollout(&fake, repo.path(), NOW, false, &["promote"]).await;
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("unknown: no deployment records (no GitHub token)"), "{stderr}");
    assert!(stderr.contains("give GITHUB_TOKEN"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn next_opens_the_promotion_pull_request_once() {
    let fake = FakeGitHub::start().await;
    let (repo, head) = checkout();
    healthy(&fake, &head);
    let original = state_text(repo.path());
    fake.repository_files(&head, &[(STATE_FILE, &original)]);
    let (output, stdout, stderr) = rollout(&fake, repo.path(), NOW, true, &["next"]).await;
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("basehub to the wave early: opened the pull request #"), "{stdout}");
    let pulls = fake.opened_pulls();
    assert_eq!(pulls.len(), 1);
    let pull = &pulls[0];
    assert_eq!(pull.head, "deployer/rollout/basehub/early");
    assert_eq!(pull.base, "main");
    assert_eq!(pull.title, "Roll out basehub to wave early");
    // The branch holds exactly the pin move; main is untouched.
    assert_eq!(fake.file("deployer/rollout/basehub/early", STATE_FILE), Some(promoted_state(&original, &head)));
    assert_eq!(fake.file("main", STATE_FILE), Some(original.clone()));
    let short = &head[..7];
    for expected in [
        format!("Promotes the chart **basehub** to the wave **early**: its pin in `config/rollout.yaml` moves from `1111111` to `{short}`"),
        "- Soak: passed (12h) (since 2026-12-05T00:00:00Z).".to_owned(),
        format!("- Health: every release runs `{short}` with success"),
        format!("| beta/staging | `{short}` | success |"),
        "### Upgraded by this pull request: the wave early\n\n- beta/prod1\n- beta/prod2\n".to_owned(),
    ] {
        assert!(pull.body.contains(&expected), "{expected}\n---\n{}", pull.body);
    }
    let commits = fake.state().git.commits.clone();
    assert_eq!(
        commits,
        [(
            "deployer/rollout/basehub/early".to_owned(),
            format!("Roll out basehub to wave early: pin 1111111 -> {short}")
        )]
    );

    // A second run finds the open pull request and does nothing.
    let (output, stdout, stderr) = rollout(&fake, repo.path(), NOW, true, &["next"]).await;
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("is already open; nothing done"), "{stdout}");
    assert_eq!(fake.opened_pulls().len(), 1);
    assert_eq!(fake.state().git.commits.len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn status_as_text_and_json() {
    let fake = FakeGitHub::start().await;
    let (repo, _) = checkout();
    let head = "cccccccccccccccccccccccccccccccccccccccc";
    healthy(&fake, head);
    // gamma/prod1 still deploying the rest pin; beta/prod2 failed at the early pin.
    record(&fake, "gamma/prod1", "rest", PIN_REST, "in_progress", "2026-12-04T00:00:00Z");
    record(&fake, "beta/prod2", "early", PIN_EARLY, "failure", "2026-12-04T00:00:00Z");
    let now = "2026-12-05T09:30:00Z";
    let (output, stdout, stderr) = rollout(&fake, repo.path(), now, true, &["status", "--head-commit", head]).await;
    assert!(output.status.success(), "{stdout}\n{stderr}");
    insta::assert_snapshot!("rollout_status_text", stdout);

    let (output, stdout, stderr) =
        rollout(&fake, repo.path(), now, true, &["status", "--head-commit", head, "--output", "json"]).await;
    assert!(output.status.success(), "{stdout}\n{stderr}");
    let status: Value = serde_json::from_str(&stdout).expect("JSON");
    assert_eq!(status["head_commit"], head);
    assert_eq!(status["records"], true);
    let waves = &status["charts"][0]["waves"];
    assert_eq!(status["charts"][0]["chart"], "basehub");
    assert_eq!(
        waves[0]["next"]["verdict"],
        json!({"verdict": "waiting", "wait": {"for": "soak", "left_minutes": 150, "until": "2026-12-05T12:00:00Z"}})
    );
    assert_eq!(waves[1]["next"]["verdict"], json!({"verdict": "halted", "failing": ["beta/prod2"]}));
    assert_eq!(waves[1]["healthy"], false);
    assert_eq!(
        waves[2]["releases"],
        json!([{"release": "gamma/prod1", "commit": PIN_REST, "runs_commit": true, "state": "in_progress"}])
    );

    // Without a token: the pins and soak from the state file, health unknown.
    let (output, stdout, _) = rollout(&fake, repo.path(), now, false, &["status", "--head-commit", head]).await;
    assert!(output.status.success());
    assert!(stdout.contains("unknown (no GitHub token)"), "{stdout}");
    assert!(stdout.contains("2026-12-01T10:00:00Z"), "{stdout}");
}
