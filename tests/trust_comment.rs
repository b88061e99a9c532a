//! The comment action posts only what it rendered: `render` defaults to
//! `plan`; a free-form body is opt-in and neutralised; the sticky comment is
//! the bot's comment that starts with the marker; cells cannot auto-link or
//! hide text; and the PR must have the run's head commit in the run's head
//! repository. Through the real binary against the stateful fake GitHub.

mod support;

use serde_json::{json, Value};
use support::fake_github::{FakeGitHub, BOT, HEAD_REPO, OWNER_REPO};
use support::zip_builder::{build, Entry};
use support::{project_root, sha, ActionResult, ActionRun};

const RUN: u64 = 777;
const MARKER: &str = "<!-- deployment-plan -->";

fn event(head_repository: Option<&str>) -> String {
    let mut run = json!({"id": RUN, "head_sha": sha('a'), "event": "pull_request", "pull_requests": []});
    if let Some(name) = head_repository {
        run["head_repository"] = json!({"full_name": name});
    }
    json!({ "workflow_run": run }).to_string()
}

fn plan(pr: u64, reasons: &[&str]) -> Vec<u8> {
    let jobs: Vec<Value> = reasons
        .iter()
        .enumerate()
        .map(|(i, reason)| {
            json!({"cluster_name": "c1", "provider": "gcp", "hub_name": format!("hub{i}"), "reason_for_redeploy": reason})
        })
        .collect();
    json!({"version": 1, "pr_number": pr, "head_sha": sha('a'),
           "support-and-staging-matrix-jobs": [], "prod-hub-matrix-jobs": jobs})
    .to_string()
    .into_bytes()
}

fn run(fake: &FakeGitHub) -> ActionRun {
    ActionRun::new("action-comment", std::env::temp_dir())
        .env("GITHUB_API_URL", fake.api.uri())
        .env("DEPLOYER_ALLOW_INSECURE_ENDPOINTS", "1")
        .env("GITHUB_REPOSITORY", OWNER_REPO)
        .env("GITHUB_SERVER_URL", "https://github.com")
        .env("GITHUB_EVENT_NAME", "workflow_run")
        .input("github-token", "test-token")
        .event(event(Some(HEAD_REPO)))
}

async fn fake_with(zip: Vec<u8>) -> FakeGitHub {
    let fake = FakeGitHub::start().await;
    fake.pull(12, &sha('a'));
    fake.artifact(RUN, "deployment-plan", zip);
    fake
}

fn bodies(fake: &FakeGitHub, pr: u64) -> Vec<(String, String)> {
    fake.state().comments.get(&pr).into_iter().flatten().map(|c| (c.login.clone(), c.body.clone())).collect()
}

fn writes(fake: &FakeGitHub) -> Vec<String> {
    fake.requests().into_iter().filter(|r| r.starts_with("POST") || r.starts_with("PATCH")).collect()
}

fn logs(result: &ActionResult) -> String {
    format!("stdout:\n{}\nstderr:\n{}", result.stdout, result.stderr)
}

fn assert_refused(result: &ActionResult, fake: &FakeGitHub, message: &str) {
    assert_eq!(result.output.status.code(), Some(1), "{}", logs(result));
    assert!(result.stdout.contains(message), "want {message:?} in:\n{}", logs(result));
    assert!(writes(fake).is_empty(), "nothing is written: {:?}", writes(fake));
    assert_eq!(result.raw_outputs, "");
}

const HOSTILE_BODY: &str = "<!-- deployment-plan -->\nhi @octocat, cc @org/security-team &#64;admin\n\
    ![track](https://evil.example/pixel.png) <img src=x onerror=alert(1)>\n<!-- deployment-plan -->\n\
    <details><summary>\u{202e}txt.exe</summary>\u{200b}</details>";

#[tokio::test(flavor = "multi_thread")]
async fn render_defaults_to_plan_and_an_artifact_cannot_choose_its_body() {
    // No plan.json: the default `plan` refuses, instead of posting comment.md.
    let fake = fake_with(build(&[Entry::file("comment.md", HOSTILE_BODY), Entry::file("pr-number.txt", "12")])).await;
    let result = run(&fake).run_async().await;
    assert_refused(&result, &fake, "::error::refusing the artifact: the artifact has no plan.json to render");

    // With plan.json, comment.md is ignored: the body is rendered from the plan.
    let fake =
        fake_with(build(&[Entry::file("plan.json", plan(12, &["r"])), Entry::file("comment.md", HOSTILE_BODY)])).await;
    let result = run(&fake).run_async().await;
    assert_eq!(result.output("result"), "created", "{}", logs(&result));
    let body = &bodies(&fake, 12)[0].1;
    assert!(body.starts_with(&format!("{MARKER}\nMerging this PR will trigger")), "{body}");
    assert!(!body.contains("octocat") && !body.contains("evil.example"), "{body}");

    // `auto`, which let the artifact decide, is refused.
    let result = run(&fake).input("render", "auto").run_async().await;
    assert_eq!(result.output.status.code(), Some(1), "{}", logs(&result));
    assert!(
        result.stdout.contains("::error::invalid input `render`: `auto` is no longer accepted"),
        "{}",
        logs(&result)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_free_form_body_is_opt_in_and_neutralised() {
    let fake = fake_with(build(&[Entry::file("comment.md", HOSTILE_BODY), Entry::file("pr-number.txt", "12")])).await;
    let result = run(&fake).input("render", "body").run_async().await;
    assert_eq!(result.output("result"), "created", "{}", logs(&result));
    let body = &bodies(&fake, 12)[0].1;
    assert_eq!(
        body,
        "<!-- deployment-plan -->\nhi \u{ff20}octocat, cc \u{ff20}org/security-team &amp;#64;admin\n\
         &#33;[track](https://evil.example/pixel.png) &lt;img src=x onerror=alert(1)>\n&lt;!-- deployment-plan -->\n\
         &lt;details>&lt;summary>txt.exe&lt;/summary>&lt;/details>"
    );
    // Nothing in it can mention, load an image, run HTML, or be a second marker.
    assert!(!body.contains(" @") && !body.contains("![") && !body[MARKER.len()..].contains('<'), "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_comment_that_only_quotes_the_marker_is_never_edited() {
    let fake = fake_with(build(&[Entry::file("plan.json", plan(12, &["r"]))])).await;
    let quoting = [
        (BOT.to_owned(), format!("> {MARKER}\n> the old plan, quoted")),
        (BOT.to_owned(), format!("Another bot note that mentions {MARKER} in passing")),
        ("mallory".to_owned(), format!("{MARKER}\nI am the plan now")),
    ];
    fake.comments(12, quoting.clone());
    let result = run(&fake).run_async().await;
    assert_eq!(result.output("result"), "created", "{}", logs(&result));
    let after = bodies(&fake, 12);
    assert_eq!(after[..3], quoting[..], "untouched");
    assert_eq!(after.len(), 4);
    assert!(after[3].1.starts_with(MARKER));

    // The bot's comment that starts with the marker is the sticky one: edited, not duplicated.
    {
        let mut state = fake.state();
        let artifact = state.artifacts.get_mut(&RUN).and_then(|a| a.first_mut()).expect("artifact");
        artifact.zip = build(&[Entry::file("plan.json", plan(12, &["other"]))]);
    }
    let result = run(&fake).run_async().await;
    assert_eq!(result.output("result"), "updated", "{}", logs(&result));
    let again = bodies(&fake, 12);
    assert_eq!(again.len(), 4);
    assert_eq!(again[..3], quoting[..]);
    assert!(again[3].1.contains("| gcp | c1 | hub0 | other |"), "{}", again[3].1);
}

#[tokio::test(flavor = "multi_thread")]
async fn cell_text_cannot_auto_link_or_hide_characters() {
    let reasons = [
        "see https://evil.example/login and www.evil.example",
        "fixes #123 and org/repo#7, thanks @octocat and @org/team",
        "values file prod\u{202e}lmay.exe\u{200b}.values.yaml\u{2066}x\u{2069}",
        "commit 0123abcd",
    ];
    let fake = fake_with(build(&[Entry::file("plan.json", plan(12, &reasons))])).await;
    let result = run(&fake).run_async().await;
    assert_eq!(result.output("result"), "created", "{}", logs(&result));
    let body = &bodies(&fake, 12)[0].1;
    let rows: Vec<&str> = body.lines().filter(|l| l.starts_with("| gcp | c1 |")).collect();
    assert_eq!(
        rows,
        [
            "| gcp | c1 | hub0 | see `https://evil.example/login` and `www.evil.example` |",
            "| gcp | c1 | hub1 | fixes `#123` and `org/repo#7,` thanks `@octocat` and `@org/team` |",
            "| gcp | c1 | hub2 | values file prodlmay.exe.values.yamlx |",
            "| gcp | c1 | hub3 | commit `0123abcd` |",
        ]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pr_at_the_same_head_from_another_repository_is_refused() {
    // PR 13 has the very commit the run built, but from another fork: the
    // artifact's claim that the run was for PR 13 is refused.
    let fake = fake_with(build(&[Entry::file("plan.json", plan(13, &["r"]))])).await;
    fake.pull_from(13, &sha('a'), Some("mallory/infra"));
    let result = run(&fake).run_async().await;
    assert_refused(
        &result,
        &fake,
        "::error::refusing the artifact: it names pull request #13, whose head commit is the one the run built \
         but in mallory/infra, not in contributor/infra",
    );
    // Even when the workflow passes the number itself.
    let result = run(&fake).input("pr-number", "13").run_async().await;
    assert_refused(&result, &fake, "in mallory/infra, not in contributor/infra");

    // A deleted head repository cannot be checked either.
    let gone = fake_with(build(&[Entry::file("plan.json", plan(13, &["r"]))])).await;
    gone.pull_from(13, &sha('a'), None);
    assert_refused(&run(&gone).run_async().await, &gone, "but in a deleted repository, not in contributor/infra");

    // Nor can an event that does not say where the commit is.
    let silent = fake_with(build(&[Entry::file("plan.json", plan(12, &["r"]))])).await;
    let result = run(&silent).event(event(None)).run_async().await;
    assert_refused(&result, &silent, "the event gives no head repository to check it against");

    // The PR from the run's head repository is accepted (names compare as GitHub does, without case).
    let right = fake_with(build(&[Entry::file("plan.json", plan(12, &["r"]))])).await;
    right.pull_from(12, &sha('a'), Some("Contributor/Infra"));
    let result = run(&right).run_async().await;
    assert_eq!(result.output("result"), "created", "{}", logs(&result));

    // A pull_request event carries its head repository too.
    let direct = fake_with(build(&[Entry::file("plan.json", plan(12, &["r"]))])).await;
    direct.pull_from(12, &sha('a'), Some("mallory/infra"));
    let pr_event = json!({"pull_request": {"number": 12, "head": {"sha": sha('a'), "repo": {"full_name": HEAD_REPO}}}});
    let result = run(&direct)
        .env("GITHUB_EVENT_NAME", "pull_request")
        .event(pr_event.to_string())
        .input("run-id", RUN.to_string())
        .run_async()
        .await;
    assert_refused(&result, &direct, "in mallory/infra, not in contributor/infra");
}

#[test]
fn the_action_metadata_documents_the_render_default() {
    let text = std::fs::read_to_string(project_root().join("actions/comment/action.yml")).expect("action.yml");
    let metadata: yaml_serde::Value = yaml_serde::from_str(&text).expect("YAML");
    let render = &metadata["inputs"][deployer::stages::comment::stage::inputs::RENDER];
    assert_eq!(render["default"].as_str(), Some(deployer::stages::comment::RenderMode::DEFAULT));
    let description = render["description"].as_str().unwrap_or_default();
    assert!(description.contains("untrusted"), "{description}");
}

/// Content a stranger could put in a diff, to break out of the fence or the `<details>` block.
const HOSTILE_DIFF: &str = "--- base/v1 ConfigMap c1/x\n+++ head/v1 ConfigMap c1/x\n+```\n+````````````\n\
    ```````\n</details>\n</code></pre><script>alert(1)</script>\n+owner: @octocat and @org/team\n~~~\n";

/// A plan of one prod hub whose manifest diff holds `objects` (object name → diff text).
fn plan_with_diff(objects: &[(String, String)]) -> Vec<u8> {
    let listed: Vec<Value> =
        objects.iter().map(|(name, diff)| json!({"object": name, "change": "changed", "diff": diff})).collect();
    let lines = objects.iter().map(|(_, diff)| diff.lines().filter(|l| l.starts_with('+')).count()).sum::<usize>();
    json!({"version": 1, "pr_number": 12, "head_sha": sha('a'),
           "support-and-staging-matrix-jobs": [],
           "prod-hub-matrix-jobs": [{"cluster_name": "c1", "provider": "gcp", "hub_name": "hub0",
                                     "reason_for_redeploy": "r"}],
           "manifest_diff": {"releases": [{"cluster_name": "c1", "hub_name": "hub0", "status": "changed",
                                           "objects_added": 0, "objects_removed": 0,
                                           "objects_changed": objects.len(),
                                           "lines_added": lines, "lines_removed": 0, "objects": listed}],
                             "skipped": []}})
    .to_string()
    .into_bytes()
}

/// The lines of `body` outside fenced code blocks, read as GitHub's Markdown does: a fence opens at a
/// line of three or more backticks and closes at a line of at least as many backticks and nothing else.
fn outside_fences(body: &str) -> Vec<&str> {
    let mut open: Option<usize> = None;
    let mut outside = Vec::new();
    for line in body.lines() {
        let run = line.chars().take_while(|c| *c == '`').count();
        match open {
            None if run >= 3 => open = Some(run),
            None => outside.push(line),
            Some(width) if run >= width && line.trim_end().len() == run => open = None,
            Some(_) => {}
        }
    }
    assert_eq!(open, None, "every fence closes:\n{body}");
    outside
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hostile_manifest_diff_stays_inside_its_fence_and_a_huge_one_is_cut_to_fit() {
    // Hostile text: fences, HTML and mentions reach the comment only as code.
    let fake = fake_with(build(&[Entry::file(
        "plan.json",
        plan_with_diff(&[("v1 ConfigMap c1/x".to_owned(), HOSTILE_DIFF.to_owned())]),
    )]))
    .await;
    let result = run(&fake).run_async().await;
    assert_eq!(result.output("result"), "created", "{}", logs(&result));
    let body = &bodies(&fake, 12)[0].1;
    assert!(body.contains("alert(1)") && body.contains("@octocat"), "the diff is shown: {body}");
    let outside = outside_fences(body).join("\n");
    for hostile in ["<script>", "@octocat", "@org/team", "</code>", "~~~"] {
        assert!(!outside.contains(hostile), "{hostile} outside a fence:\n{body}");
    }
    assert_eq!(outside.matches("<details>").count(), outside.matches("</details>").count(), "{body}");
    assert!(outside.contains("| gcp | c1 | hub0 |"), "{body}");

    // A huge diff (600 objects of 5 KiB: 3 MiB, over GitHub's 65,536 characters) is cut at object
    // boundaries, with a note pointing at the full diff.
    let huge: Vec<(String, String)> =
        (0..600).map(|i| (format!("v1 ConfigMap c1/o{i:03}"), format!("+o{i:03}: {}\n", "y".repeat(5000)))).collect();
    let fake = fake_with(build(&[Entry::file("plan.json", plan_with_diff(&huge))])).await;
    let result = run(&fake).run_async().await;
    assert_eq!(result.output("result"), "created", "{}", logs(&result));
    let body = &bodies(&fake, 12)[0].1;
    assert!(body.chars().count() <= 65_536, "{} characters", body.chars().count());
    assert!(body.contains("manifests.diff"), "the note names the full diff: {body}");
    let shown = body.matches("+o").count();
    assert!(shown > 0 && shown < 600, "{shown} objects shown");
    // Whole objects only: every shown object's line is complete.
    for line in body.lines().filter(|l| l.starts_with("+o")) {
        assert_eq!(line.len(), "+o000: ".len() + 5000, "a cut object: {}", &line[..20]);
    }
    outside_fences(body);

    // A control character in a diff refuses the artifact: nothing is posted.
    let fake = fake_with(build(&[Entry::file(
        "plan.json",
        plan_with_diff(&[("v1 ConfigMap c1/x".to_owned(), "+a\u{1b}]8;;https://evil.example\u{7}\n".to_owned())]),
    )]))
    .await;
    let result = run(&fake).run_async().await;
    assert_refused(&result, &fake, "holds the control character U+001B");
}
