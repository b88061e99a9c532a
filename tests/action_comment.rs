//! `action-comment` through the runner's contract against a stateful fake
//! GitHub: the sticky-comment life cycle, and every way an artifact from a
//! fork could try to abuse it.

mod support;

use serde_json::{json, Value};
use support::fake_github::{FakeGitHub, BOT, HEAD_REPO, OWNER_REPO};
use support::zip_builder::{build, Entry};
use support::{sha, ActionResult, ActionRun};

const RUN: u64 = 777;

fn event(head: &str) -> String {
    json!({"workflow_run": {"id": RUN, "head_sha": head, "event": "pull_request", "conclusion": "success",
           "head_repository": {"full_name": HEAD_REPO}, "pull_requests": []}})
    .to_string()
}

fn plan_json(pr: u64, prod: &[(&str, &str, &str)]) -> Vec<u8> {
    let jobs: Vec<Value> = prod
        .iter()
        .map(|(cluster, hub, reason)| {
            json!({"cluster_name": cluster, "provider": "gcp", "hub_name": hub, "reason_for_redeploy": reason})
        })
        .collect();
    json!({"version": 1, "pr_number": pr, "head_sha": sha('a'),
           "support-and-staging-matrix-jobs": [], "prod-hub-matrix-jobs": jobs})
    .to_string()
    .into_bytes()
}

fn plan_zip(pr: u64, prod: &[(&str, &str, &str)]) -> Vec<u8> {
    build(&[Entry::file("plan.json", plan_json(pr, prod)), Entry::file("comment.md", "ignored when plan.json exists")])
}

fn comment_run(fake: &FakeGitHub) -> ActionRun {
    let workspace = std::env::temp_dir();
    ActionRun::new("action-comment", workspace)
        .env("GITHUB_API_URL", fake.api.uri())
        .env("DEPLOYER_ALLOW_INSECURE_ENDPOINTS", "1")
        .env("GITHUB_REPOSITORY", OWNER_REPO)
        .env("GITHUB_SERVER_URL", "https://github.com")
        .env("GITHUB_EVENT_NAME", "workflow_run")
        .input("github-token", "test-token")
        .event(event(&sha('a')))
}

async fn setup(zip: Vec<u8>) -> FakeGitHub {
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

fn assert_refused(result: &ActionResult, fake: &FakeGitHub, message: &str) {
    assert_eq!(result.output.status.code(), Some(1), "{}\n{}", result.stdout, result.stderr);
    assert!(result.stdout.contains(message), "want {message:?} in:\n{}", result.stdout);
    assert!(writes(fake).is_empty(), "nothing is written: {:?}", writes(fake));
    assert_eq!(result.raw_outputs, "");
}

#[tokio::test(flavor = "multi_thread")]
async fn creates_then_updates_then_leaves_unchanged() {
    let fake =
        setup(plan_zip(12, &[("c1", "prod", "Following helm chart values files were modified: prod.values.yaml")]))
            .await;
    let first = comment_run(&fake).run_async().await;
    assert!(first.success(), "{}\n{}", first.stdout, first.stderr);
    assert_eq!(first.output("result"), "created");
    let comments = bodies(&fake, 12);
    assert_eq!(comments.len(), 1);
    assert_eq!(comments[0].0, BOT);
    assert!(comments[0].1.starts_with("<!-- deployment-plan -->\nMerging this PR will trigger"), "{}", comments[0].1);
    assert!(comments[0]
        .1
        .contains("| gcp | c1 | prod | Following helm chart values files were modified: prod.values.yaml |"));
    let id = first.output("comment-id").to_owned();
    assert_eq!(first.output("comment-url"), format!("https://github.com/{OWNER_REPO}/pull/12#issuecomment-{id}"));

    // A new run of the same PR with another plan: the same comment is edited.
    {
        let mut state = fake.state();
        let artifact = state.artifacts.get_mut(&RUN).and_then(|a| a.first_mut()).expect("artifact");
        artifact.zip = plan_zip(12, &[("c1", "other", "Core infrastructure has been modified")]);
    }
    let second = comment_run(&fake).run_async().await;
    assert!(second.success(), "{}", second.stderr);
    assert_eq!(second.output("result"), "updated");
    assert_eq!(second.output("comment-id"), id);
    let comments = bodies(&fake, 12);
    assert_eq!(comments.len(), 1, "still one sticky comment");
    assert!(comments[0].1.contains("| gcp | c1 | other |"));

    let third = comment_run(&fake).run_async().await;
    assert_eq!(third.output("result"), "unchanged");
    assert_eq!(third.output("comment-id"), id);
    assert_eq!(writes(&fake).len(), 2, "the unchanged run wrote nothing: {:?}", writes(&fake));
    assert!(fake.state().storage_auth.iter().all(Option::is_none), "the token never goes to the storage host");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_comment_by_someone_else_with_the_marker_is_not_touched() {
    let fake = setup(plan_zip(12, &[("c1", "prod", "r")])).await;
    fake.comments(12, [("mallory".to_owned(), "<!-- deployment-plan --> I am the plan now".to_owned())]);
    let result = comment_run(&fake).run_async().await;
    assert_eq!(result.output("result"), "created", "{}", result.stderr);
    let comments = bodies(&fake, 12);
    assert_eq!(comments[0], ("mallory".to_owned(), "<!-- deployment-plan --> I am the plan now".to_owned()));
    assert_eq!(comments.len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn paginates_comments_within_the_request_budget() {
    let fake = setup(plan_zip(12, &[("c1", "prod", "r")])).await;
    let others: Vec<(String, String)> = (0..150).map(|i| ("someone".to_owned(), format!("comment {i}"))).collect();
    fake.comments(12, others);
    fake.comments(12, [(BOT.to_owned(), "<!-- deployment-plan -->\nold plan".to_owned())]);
    fake.comments(12, (0..60).map(|i| ("someone".to_owned(), format!("later {i}"))));
    let n: usize = 211;
    let result = comment_run(&fake).run_async().await;
    assert_eq!(result.output("result"), "updated", "{}\n{}", result.stdout, result.stderr);
    let requests = fake.requests();
    let budget = n.div_ceil(100) + 4;
    assert!(requests.len() <= budget, "{} requests > {budget}: {requests:#?}", requests.len());
    assert!(result
        .stdout
        .contains(&format!("GitHub API: {} requests (+1 artifact downloads from storage)", requests.len())));
    assert_eq!(bodies(&fake, 12).len(), n);
}

#[tokio::test(flavor = "multi_thread")]
async fn missing_and_expired_artifacts_follow_if_no_artifact() {
    let fake = FakeGitHub::start().await;
    fake.pull(12, &sha('a'));
    let ignored = comment_run(&fake).run_async().await;
    assert!(ignored.success(), "{}", ignored.stderr);
    assert_eq!(ignored.output("result"), "skipped");
    assert_eq!(ignored.output("comment-id"), "");
    let warned = comment_run(&fake).input("if-no-artifact", "warn").run_async().await;
    assert!(warned.success());
    assert!(warned.stdout.contains("::warning::run 777 has no artifact named `deployment-plan`"), "{}", warned.stdout);
    let failed = comment_run(&fake).input("if-no-artifact", "fail").run_async().await;
    assert_eq!(failed.output.status.code(), Some(1));
    assert_eq!(failed.raw_outputs, "");

    let expired = setup(plan_zip(12, &[("c1", "prod", "r")])).await;
    expired.state().artifacts.get_mut(&RUN).expect("run")[0].expired = true;
    let result = comment_run(&expired).input("if-no-artifact", "warn").run_async().await;
    assert_eq!(result.output("result"), "skipped");
    assert!(result.stdout.contains("has expired"), "{}", result.stdout);

    let gone = setup(plan_zip(12, &[("c1", "prod", "r")])).await;
    gone.state().artifacts.get_mut(&RUN).expect("run")[0].gone = true;
    let result = comment_run(&gone).input("if-no-artifact", "fail").run_async().await;
    assert_eq!(result.output.status.code(), Some(1));
    assert!(
        result.stdout.contains("::error::the artifact `deployment-plan` of run 777 has expired"),
        "{}",
        result.stdout
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_forged_pr_number_is_refused() {
    // The fork's artifact names PR 13, someone else's PR, whose head is not the commit this run built.
    let fake = setup(plan_zip(13, &[("c1", "prod", "r")])).await;
    fake.pull(13, &sha('f'));
    let result = comment_run(&fake).run_async().await;
    assert_refused(&result, &fake, "::error::refusing the artifact: it names pull request #13, whose head is");

    // pr-number.txt is checked the same way.
    let txt = setup(build(&[Entry::file("comment.md", "hi"), Entry::file("pr-number.txt", "13\n")])).await;
    txt.pull(13, &sha('f'));
    assert_refused(&comment_run(&txt).input("render", "body").run_async().await, &txt, "it names pull request #13");

    // A PR GitHub associated with the run wins over the artifact's claim.
    let listed = setup(plan_zip(13, &[("c1", "prod", "r")])).await;
    listed.pull(13, &sha('a'));
    let associated = json!({"workflow_run": {"id": RUN, "head_sha": sha('a'), "event": "pull_request",
        "head_repository": {"full_name": HEAD_REPO}, "pull_requests": [{"number": 12}]}});
    let result = comment_run(&listed).event(associated.to_string()).run_async().await;
    assert_refused(&result, &listed, "it names pull request #13, but the run belongs to #12");

    let junk = setup(build(&[Entry::file("comment.md", "hi"), Entry::file("pr-number.txt", "12; rm -rf /")])).await;
    assert_refused(
        &comment_run(&junk).input("render", "body").run_async().await,
        &junk,
        "is not a pull request number",
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn hostile_archives_are_refused() {
    let plan = plan_json(12, &[("c1", "prod", "r")]);
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (build(&[Entry::file("../plan.json", plan.clone())]), "unsafe path \"../plan.json\""),
        (build(&[Entry::file("/etc/plan.json", plan.clone())]), "unsafe path \"/etc/plan.json\""),
        (build(&[Entry::file("plan.json", plan.clone()), Entry::symlink("comment.md", "/etc/passwd")]), "is a symlink"),
        (
            build(&[Entry::file("plan.json", plan.clone()), Entry::file("plan.json", plan.clone())]),
            "more than one entry named \"plan.json\"",
        ),
        (
            build(&[Entry::file("plan.json", vec![b' '; 60 << 20])]),
            "inflate to more than the 52428800-byte cap (a zip bomb?)",
        ),
        (b"PK\x03\x04 not really a zip".to_vec(), "is not a readable zip archive"),
        (
            build(&(0..1001).map(|i| Entry::file(&format!("f{i}"), "x")).collect::<Vec<_>>()),
            "1001 entries, more than the cap of 1000",
        ),
    ];
    for (zip, message) in cases {
        let fake = setup(zip).await;
        let result = comment_run(&fake).run_async().await;
        assert_refused(&result, &fake, message);
        assert!(result.stdout.contains("::error::refusing the artifact: the artifact"), "{}", result.stdout);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn oversized_artifacts_are_refused_before_download() {
    let fake = setup(plan_zip(12, &[("c1", "prod", "r")])).await;
    fake.state().artifacts.get_mut(&RUN).expect("run")[0].listed_size = Some(11 << 20);
    let result = comment_run(&fake).run_async().await;
    assert_refused(
        &result,
        &fake,
        "::error::refusing the artifact: `deployment-plan` is 11534336 bytes, more than the 10485760-byte cap",
    );
    assert!(fake.state().storage_auth.is_empty(), "not downloaded");

    // A storage answer larger than the cap is cut off too, whatever the listing said.
    let lying =
        setup(build(&[Entry { name: "plan.json".into(), data: vec![b'x'; 11 << 20], deflate: false, symlink: false }]))
            .await;
    lying.state().artifacts.get_mut(&RUN).expect("run")[0].listed_size = Some(1000);
    let result = comment_run(&lying).run_async().await;
    assert_refused(&result, &lying, "the response is larger than 10485760 bytes");
}

#[tokio::test(flavor = "multi_thread")]
async fn malicious_cell_content_is_rendered_harmless() {
    let reason =
        "a | b `code` <script>alert(1)</script> @octocat [x](https://evil) \nghadelimiter_0123\n::error::pwned";
    let fake = setup(plan_zip(12, &[("c1", "prod", reason)])).await;
    let result = comment_run(&fake).run_async().await;
    assert_eq!(result.output("result"), "created", "{}", result.stderr);
    let body = &bodies(&fake, 12)[0].1;
    let row = body.lines().find(|l| l.starts_with("| gcp | c1 | prod |")).expect("the row");
    assert_eq!(
        row,
        "| gcp | c1 | prod | a \\| b \\`code\\` &lt;script&gt;alert(1)&lt;/script&gt; `@octocat` `[x](https://evil)`  ghadelimiter\\_0123 ::error::pwned |"
    );
    assert!(!body.contains("<script>") && !body.contains(" @octocat"));
    assert!(!result.stdout.lines().any(|l| l.starts_with("::error::pwned")));

    // Names outside the safe characters are refused outright.
    let fake = setup(plan_zip(12, &[("c1", "prod<img src=x>", "r")])).await;
    assert_refused(&comment_run(&fake).run_async().await, &fake, "plan.json: \"prod<img src=x>\" is not a hub name");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_five_thousand_hub_plan_is_truncated_under_the_limit() {
    let names: Vec<String> = (0..5000).map(|i| format!("hub{i}")).collect();
    let prod: Vec<(&str, &str, &str)> =
        names.iter().map(|n| ("cluster1", n.as_str(), "Core infrastructure has been modified")).collect();
    let fake = setup(plan_zip(12, &prod)).await;
    let result = comment_run(&fake).run_async().await;
    assert_eq!(result.output("result"), "created", "{}", result.stderr);
    let body = &bodies(&fake, 12)[0].1;
    assert!(body.chars().count() <= 65_536, "{}", body.chars().count());
    let shown = body.lines().filter(|l| l.starts_with("| gcp | cluster1 |")).count();
    assert!(shown > 500 && shown < 5000, "{shown}");
    assert!(body.contains(&format!("> {} more rows are not shown", 5000 - shown)));
    assert!(body.contains(&format!("[the workflow run](https://github.com/{OWNER_REPO}/actions/runs/{RUN})")));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_500_on_the_patch_is_retried_without_a_duplicate_comment() {
    let fake = setup(plan_zip(12, &[("c1", "prod", "r")])).await;
    fake.comments(12, [(BOT.to_owned(), "<!-- deployment-plan -->\nold".to_owned())]);
    fake.state().write_failures.push_back((500, None));
    let result = comment_run(&fake).run_async().await;
    assert_eq!(result.output("result"), "updated", "{}\n{}", result.stdout, result.stderr);
    assert_eq!(bodies(&fake, 12).len(), 1);
    let writes = writes(&fake);
    assert_eq!(writes.len(), 2, "{writes:?}");
    assert!(writes.iter().all(|w| w.starts_with("PATCH")), "{writes:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_secondary_rate_limit_on_create_is_waited_out() {
    let fake = setup(plan_zip(12, &[("c1", "prod", "r")])).await;
    fake.state().write_failures.push_back((403, Some(1)));
    let started = std::time::Instant::now();
    let result = comment_run(&fake).run_async().await;
    assert_eq!(result.output("result"), "created", "{}\n{}", result.stdout, result.stderr);
    assert!(started.elapsed() >= std::time::Duration::from_secs(1));
    assert_eq!(bodies(&fake, 12).len(), 1, "created exactly once");

    // A 500 on create is not retried: it may have been created.
    let fake = setup(plan_zip(12, &[("c1", "prod", "r")])).await;
    fake.state().write_failures.push_back((500, None));
    let result = comment_run(&fake).run_async().await;
    assert_eq!(result.output.status.code(), Some(1));
    assert_eq!(writes(&fake).len(), 1, "POST sent once");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_empty_plan_updates_but_never_creates() {
    let fake = setup(plan_zip(12, &[])).await;
    let result = comment_run(&fake).run_async().await;
    assert_eq!(result.output("result"), "skipped", "{}", result.stderr);
    assert!(bodies(&fake, 12).is_empty());

    fake.comments(12, [(BOT.to_owned(), "<!-- deployment-plan -->\nold plan with jobs".to_owned())]);
    let result = comment_run(&fake).run_async().await;
    assert_eq!(result.output("result"), "updated");
    let body = &bodies(&fake, 12)[0].1;
    assert!(body.contains("No support or staging upgrades will be triggered"));
    assert!(body.contains("No production hub upgrades will be triggered"));
}

#[tokio::test(flavor = "multi_thread")]
async fn hide_previous_minimizes_and_posts_anew() {
    let fake = setup(plan_zip(12, &[("c1", "prod", "r")])).await;
    fake.comments(12, [(BOT.to_owned(), "<!-- deployment-plan -->\nold".to_owned())]);
    let old_id = fake.state().comments[&12][0].id;
    let result = comment_run(&fake)
        .env("GITHUB_GRAPHQL_URL", format!("{}/graphql", fake.api.uri()))
        .input("hide-previous", "true")
        .run_async()
        .await;
    assert_eq!(result.output("result"), "created", "{}\n{}", result.stdout, result.stderr);
    let state = fake.state();
    assert_eq!(state.minimized, [format!("IC_{old_id}")]);
    assert_eq!(state.comments[&12].len(), 2);
    assert!(state.comments[&12][0].minimized);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_free_form_body_is_posted_with_the_marker_when_asked_for() {
    let fake =
        setup(build(&[Entry::file("notes/body.md", "## Coverage\n\n98% @team"), Entry::file("pr-number.txt", "12")]))
            .await;
    let result = comment_run(&fake)
        .input("render", "body")
        .input("body-file", "notes/body.md")
        .input("marker", "<!-- coverage -->")
        .run_async()
        .await;
    assert_eq!(result.output("result"), "created", "{}\n{}", result.stdout, result.stderr);
    assert_eq!(bodies(&fake, 12)[0].1, "<!-- coverage -->\n## Coverage\n\n98% \u{ff20}team");

    let bad = comment_run(&fake).input("body-file", "../x.md").run_async().await;
    assert!(bad.stdout.contains("::error::invalid input `body-file`"), "{}", bad.stdout);
    let bad = comment_run(&fake).input("marker", "deployment-plan").run_async().await;
    assert!(bad.stdout.contains("::error::invalid input `marker`"), "{}", bad.stdout);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_pr_number_input_serves_other_triggers() {
    let fake = setup(build(&[Entry::file("comment.md", "hello")])).await;
    let result = ActionRun::new("action-comment", std::env::temp_dir())
        .env("GITHUB_API_URL", fake.api.uri())
        .env("DEPLOYER_ALLOW_INSECURE_ENDPOINTS", "1")
        .env("GITHUB_REPOSITORY", OWNER_REPO)
        .env("GITHUB_EVENT_NAME", "workflow_dispatch")
        .event("{}")
        .input("github-token", "t")
        .input("run-id", RUN.to_string())
        .input("pr-number", "12")
        .input("render", "body")
        .run_async()
        .await;
    assert_eq!(result.output("result"), "created", "{}\n{}", result.stdout, result.stderr);
}
