//! What the diff shows is decided by the base, and `skip-unchanged` never
//! skips a real change. Through the built binaries (`action-generate`,
//! `action-diff`, `action-comment` against the fake GitHub) with the real
//! helm 4 on `tests/fixtures/diff/repo` (a base checkout at `base/` inside
//! the workspace, as the example workflow lays it out):
//!
//! - a head that sets `render.ignore: {"*": [/spec, /data]}` and swaps in a
//!   backdoor image: the diff applies the base's rules, shows the image, and
//!   every view (comment.md, the step summary, the log, `manifests.diff`, and
//!   the comment action's re-render of `plan.json`) carries a note above the
//!   tables; the same rules at both sides hide it (the maintainers' choice),
//!   with no note;
//! - a Secret inside a `v1 List` and a Secret's
//!   `last-applied-configuration` annotation: their values appear in no
//!   output (log, `$GITHUB_OUTPUT`, step summary, plan folder), and their
//!   rotation still shows as a change;
//! - a chart change that only rotates a Secret value, with
//!   `skip-unchanged: true` on push: the releases are not skipped (a chart
//!   change that renders the same still is).
//!
//! In each, the runner-style parser finds no workflow command in the logs.

mod support;

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use support::age::{sops_encrypt, AgeKey};
use support::fake_github::FakeGitHub;
use support::runner_log::commands;
use support::zip_builder;
use support::{copy_tree, fixture, sha, tools_dir, ActionResult, ActionRun};

const ENC_FILE: &str = "config/clusters/alpha/enc-hub-b.secret.values.yaml";
const CHART_VALUES: &str = "helm-charts/hubchart/values.yaml";
const BACKDOOR: &str = "evil.example/backdoor:latest";

/// A head workspace with the base checked out inside it at `base/`.
struct Checkouts {
    _temp: tempfile::TempDir,
    home: PathBuf,
    head: PathBuf,
    base: PathBuf,
}

impl Checkouts {
    fn new() -> Checkouts {
        let temp = tempfile::tempdir().expect("temp");
        let head = temp.path().join("workspace");
        let base = head.join("base");
        copy_tree(&fixture("diff/repo"), &head);
        copy_tree(&fixture("diff/repo"), &base);
        let home = temp.path().join("home");
        fs::create_dir_all(&home).expect("home");
        let key = AgeKey::generate();
        sops_encrypt("secret:\n  token: t\n", &key.recipient, &head.join(ENC_FILE));
        fs::copy(head.join(ENC_FILE), base.join(ENC_FILE)).expect("same encrypted file at base");
        Checkouts { _temp: temp, home, head, base }
    }

    /// Writes `text` at `path` on both sides.
    fn write_both(&self, path: &str, text: &str) {
        for side in [&self.head, &self.base] {
            let file = side.join(path);
            fs::create_dir_all(file.parent().expect("parent")).expect("folder");
            fs::write(file, text).expect("write");
        }
    }

    fn write(&self, side: &Path, path: &str, text: &str) {
        fs::write(side.join(path), text).expect("write");
    }

    fn edit(&self, side: &Path, path: &str, edit: impl FnOnce(String) -> String) {
        let file = side.join(path);
        let text = fs::read_to_string(&file).expect("read");
        let edited = edit(text.clone());
        assert_ne!(edited, text, "{path}: the edit changes the file");
        fs::write(&file, edited).expect("write");
    }

    /// `action-generate` then `action-diff`, as one job of the example workflow runs them on `event`.
    fn generate_then_diff(&self, event: &str, changed: &str, skip_unchanged: bool) -> (ActionResult, ActionResult) {
        let generate = ActionRun::new("action-generate", &self.head)
            .env("GITHUB_EVENT_NAME", event)
            .input("changed-files", changed)
            .input("plan-dir", "deployment-plan")
            .run();
        assert!(generate.success(), "generate\n{}\n{}", generate.stdout, generate.stderr);
        let diff = ActionRun::new("action-diff", &self.head)
            .env("GITHUB_EVENT_NAME", event)
            .env("PATH", tools_dir().display().to_string())
            .env("HOME", self.home.display().to_string())
            .input("plan-dir", "deployment-plan")
            .input("base-dir", "base")
            .input("skip-unchanged", if skip_unchanged { "true" } else { "false" })
            .run();
        assert!(diff.success(), "diff\n{}\n{}", diff.stdout, diff.stderr);
        (generate, diff)
    }

    fn plan_file(&self, name: &str) -> String {
        fs::read_to_string(self.head.join("deployment-plan").join(name)).expect(name)
    }

    fn plan(&self) -> Value {
        serde_json::from_str(&self.plan_file("plan.json")).expect("plan.json is JSON")
    }
}

/// Every workflow command the runner would see in a run's stdout and stderr, but the action's own pauses and groups.
fn injected(run: &ActionResult) -> Vec<String> {
    commands(&format!("{}\n{}", run.stdout, run.stderr))
        .into_iter()
        .filter(|c| !matches!(c.name.as_str(), "group" | "endgroup" | "stop-commands" | "resume-commands"))
        .map(|c| format!("{} {}", c.name, c.data))
        .collect()
}

fn release<'a>(plan: &'a Value, cluster: &str, hub: &str) -> &'a Value {
    plan["manifest_diff"]["releases"]
        .as_array()
        .expect("releases")
        .iter()
        .find(|r| r["cluster_name"] == cluster && r["hub_name"].as_str().unwrap_or("support") == hub)
        .unwrap_or_else(|| panic!("no release {cluster}/{hub} in {plan:#}"))
}

/// The objects of a release's diff, as `change object`.
fn objects(release: &Value) -> Vec<String> {
    release["objects"]
        .as_array()
        .map(|objects| {
            objects
                .iter()
                .map(|o| format!("{} {}", o["change"].as_str().unwrap_or(""), o["object"].as_str().unwrap_or("")))
                .collect()
        })
        .unwrap_or_default()
}

fn diff_text(release: &Value) -> String {
    release["objects"]
        .as_array()
        .map(|objects| objects.iter().map(|o| o["diff"].as_str().unwrap_or("")).collect())
        .unwrap_or_default()
}

/// The comment action's body for the plan folder of `repos`, uploaded as the artifact of a PR run.
async fn comment_body(repos: &Checkouts) -> String {
    const RUN: u64 = 4242;
    let mut plan = repos.plan();
    plan["pr_number"] = json!(12);
    plan["head_sha"] = json!(sha('a'));
    let dir = repos.head.join("deployment-plan");
    fs::write(dir.join("plan.json"), plan.to_string()).expect("plan.json for a PR");
    let fake = FakeGitHub::start().await;
    fake.pull(12, &sha('a'));
    fake.artifact(RUN, "deployment-plan", zip_builder::folder(&dir));
    let event = json!({"workflow_run": {"id": RUN, "head_sha": sha('a'), "event": "pull_request",
                                         "pull_requests": [], "head_repository": {"full_name": support::fake_github::HEAD_REPO}}});
    let result = ActionRun::new("action-comment", std::env::temp_dir())
        .env("GITHUB_API_URL", fake.api.uri())
        .env("DEPLOYER_ALLOW_INSECURE_ENDPOINTS", "1")
        .env("GITHUB_REPOSITORY", support::fake_github::OWNER_REPO)
        .env("GITHUB_SERVER_URL", "https://github.com")
        .env("GITHUB_EVENT_NAME", "workflow_run")
        .input("github-token", "test-token")
        .event(event.to_string())
        .run_async()
        .await;
    assert_eq!(result.output("result"), "created", "{}\n{}", result.stdout, result.stderr);
    // The action masks its own token; nothing else is a command.
    let found: Vec<String> = injected(&result).into_iter().filter(|c| c != "add-mask test-token").collect();
    assert!(found.is_empty(), "{found:?}");
    let state = fake.state();
    state.comments.get(&12).and_then(|c| c.first()).map(|c| c.body.clone()).expect("the comment")
}

/// The note comes before the first table of `text`.
fn note_above_tables(text: &str) -> bool {
    let note = text.find(deployer::manifest_diff::RENDER_IGNORE_NOTE);
    let table = text.find("### Support and Staging deployments");
    matches!((note, table), (Some(note), Some(table)) if note < table)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_head_render_ignore_cannot_hide_a_backdoor_image_and_the_comment_says_it_was_not_applied() {
    let repos = Checkouts::new();
    // The attack: the PR ignores every object's spec and data, and swaps the image.
    repos.write(&repos.head, "deployer.yaml", "render:\n  ignore:\n    \"*\": [/spec, /data]\n");
    repos.edit(&repos.head, CHART_VALUES, |text| text.replace("quay.io/jupyterhub/k8s-hub:4.0.0", BACKDOOR));
    let (_, run) = repos.generate_then_diff("pull_request", CHART_VALUES, false);

    let plan = repos.plan();
    assert_eq!(plan["manifest_diff"]["head_render_ignore_differs"], true, "{plan:#}");
    // beta's hubs have stable renders: the image is their only change, and it shows.
    for hub in ["staging", "hub-c"] {
        let hub_diff = release(&plan, "beta", hub);
        assert_eq!(hub_diff["status"], "changed", "{hub}: {plan:#}");
        assert_eq!(objects(hub_diff), [format!("changed apps/v1 Deployment {hub}-hub")], "{hub}");
        let text = diff_text(hub_diff);
        assert!(
            text.contains("-        image: quay.io/jupyterhub/k8s-hub:4.0.0\n")
                && text.contains(&format!("+        image: {BACKDOOR}\n")),
            "{hub}: {text}"
        );
    }
    assert_eq!(run.output("changed-releases"), "5");
    // Every view says so, above its tables, and shows the image.
    let comment = repos.plan_file("comment.md");
    for (view, text) in [("comment.md", &comment), ("step summary", &run.summary)] {
        assert!(note_above_tables(text), "{view}:\n{text}");
        assert!(text.contains(BACKDOOR), "{view}:\n{text}");
    }
    let full = repos.plan_file("manifests.diff");
    assert!(full.starts_with("# Note: This change edits `render.ignore`"), "{full}");
    assert!(run.stdout.contains(&format!("Note: {}", deployer::manifest_diff::RENDER_IGNORE_NOTE)), "{}", run.stdout);
    assert!(injected(&run).is_empty(), "{:?}", injected(&run));
    // The comment action re-renders plan.json, untrusted, and keeps the note and the change.
    let body = comment_body(&repos).await;
    assert!(note_above_tables(&body), "{body}");
    assert!(body.contains(BACKDOOR), "{body}");

    // The control: the same rules at base too are the maintainers' choice. They apply, and no note shows.
    let repos = Checkouts::new();
    repos.write_both("deployer.yaml", "render:\n  ignore:\n    \"*\": [/spec, /data]\n");
    repos.edit(&repos.head, CHART_VALUES, |text| text.replace("quay.io/jupyterhub/k8s-hub:4.0.0", BACKDOOR));
    let (_, run) = repos.generate_then_diff("pull_request", CHART_VALUES, false);
    let plan = repos.plan();
    assert_eq!(plan["manifest_diff"].get("head_render_ignore_differs"), None, "{plan:#}");
    assert_eq!(release(&plan, "beta", "hub-c")["status"], "unchanged", "{plan:#}");
    let comment = repos.plan_file("comment.md");
    assert!(!comment.contains(deployer::manifest_diff::RENDER_IGNORE_NOTE) && !comment.contains(BACKDOOR), "{comment}");
    assert!(!run.summary.contains(deployer::manifest_diff::RENDER_IGNORE_NOTE), "{}", run.summary);
}

/// A template of hub-c: a `v1 List` holding a Secret and a ConfigMap, and a
/// Secret whose `last-applied-configuration` annotation copies it, each
/// holding `value` in every form a chart can (stringData, data as base64,
/// the annotation's JSON); one Secret key tries a workflow command.
fn hidden_secrets_template(value: &str) -> String {
    let applied = format!(
        r#"{{"apiVersion":"v1","kind":"Secret","metadata":{{"name":"applied"}},"stringData":{{"password":"{value}"}}}}"#
    );
    format!(
        r###"{{{{- if eq .Release.Name "hub-c" }}}}
apiVersion: v1
kind: List
items:
  - apiVersion: v1
    kind: Secret
    metadata:
      name: listed
    stringData:
      password: {value}
      "##[error]key\r::warning::injected": {value}
    data:
      token: {{{{ "{value}" | b64enc }}}}
  - apiVersion: v1
    kind: ConfigMap
    metadata:
      name: listed-config
    data:
      plain: shown
---
apiVersion: v1
kind: Secret
metadata:
  name: applied
  annotations:
    kubectl.kubernetes.io/last-applied-configuration: {{{{ `{applied}` | quote }}}}
stringData:
  password: {value}
{{{{- end }}}}
"###
    )
}

#[test]
fn secrets_in_a_list_and_in_last_applied_annotations_reach_no_output_and_their_rotation_shows() {
    const BEFORE: &str = "sentinel-before-3f9a1c";
    const AFTER: &str = "sentinel-after-77d0e2";
    const TEMPLATE: &str = "helm-charts/hubchart/templates/hidden-secrets.yaml";
    let repos = Checkouts::new();
    repos.write_both(TEMPLATE, &hidden_secrets_template(BEFORE));
    repos.write(&repos.head, TEMPLATE, &hidden_secrets_template(AFTER));
    let (generate, run) = repos.generate_then_diff("pull_request", TEMPLATE, true);

    let plan = repos.plan();
    let hub_c = release(&plan, "beta", "hub-c");
    // The List is flattened into its items, as helm applies them; only the Secrets change.
    assert_eq!(objects(hub_c), ["changed v1 Secret applied", "changed v1 Secret listed"], "{plan:#}");
    let text = diff_text(hub_c);
    let note = deployer::manifest_diff::normalise::SECRET_VALUES_CHANGED;
    assert!(
        text.contains(&format!(
            "+{note} metadata.annotations.kubectl.kubernetes.io/last-applied-configuration, stringData.password\n"
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "+{note} data.token, stringData.\"##[error]key\\r::warning::injected\", stringData.password\n"
        )),
        "{text}"
    );
    // Not skipped: its Secrets change (and beta/staging stays as its canary).
    assert_eq!(release(&plan, "beta", "staging")["status"], "unchanged", "{plan:#}");
    assert_eq!(run.output("skipped-releases"), "0", "{:#}", plan["manifest_diff"]["skipped"]);
    assert!(run.output("prod-hub-matrix-jobs").contains("\"hub-c\""), "{}", run.output("prod-hub-matrix-jobs"));

    // Neither value, in any form, anywhere.
    let plan_dir = repos.head.join("deployment-plan");
    let mut outputs = vec![
        ("generate stdout", generate.stdout.clone()),
        ("generate stderr", generate.stderr.clone()),
        ("stdout", run.stdout.clone()),
        ("stderr", run.stderr.clone()),
        ("$GITHUB_OUTPUT", run.raw_outputs.clone()),
        ("step summary", run.summary.clone()),
    ];
    for entry in fs::read_dir(&plan_dir).expect("plan folder") {
        let path = entry.expect("entry").path();
        outputs.push(("plan folder", fs::read_to_string(&path).expect("text")));
    }
    assert!(outputs.iter().any(|(_, text)| text.contains("v1 Secret listed")), "the objects are in the outputs");
    for value in [BEFORE, AFTER] {
        let encoded = base64(value);
        for (name, text) in &outputs {
            assert!(!text.contains(value) && !text.contains(&encoded[..16]), "{name} holds {value}:\n{text}");
        }
    }
    // A Secret key reaches the log only as text: no injected command.
    assert!(injected(&run).is_empty(), "{:?}\n{}", injected(&run), run.stdout);
    assert!(run.stdout.contains("key\\r::warning::injected"), "{}", run.stdout);
}

/// Standard base64, as helm's `b64enc` makes it.
fn base64(text: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let bytes = text.as_bytes();
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[test]
fn a_chart_change_that_only_rotates_a_secret_value_is_not_skipped_on_push() {
    const SECRET_TEMPLATE: &str = "helm-charts/hubchart/templates/secret.yaml";
    let with_api_key = |text: String| {
        text.replace("type: Opaque\ndata:\n", "type: Opaque\ndata:\n  api-key: {{ .Values.apiKey | b64enc | quote }}\n")
    };
    let setup = || {
        let repos = Checkouts::new();
        for side in [repos.head.clone(), repos.base.clone()] {
            repos.edit(&side, SECRET_TEMPLATE, with_api_key);
            repos.edit(&side, CHART_VALUES, |text| format!("{text}apiKey: api-key-one-0b1c\n"));
        }
        repos
    };
    // The rotation: the chart's default key changes, nothing else does.
    let repos = setup();
    repos.edit(&repos.head, CHART_VALUES, |text| text.replace("api-key-one-0b1c", "api-key-two-9e8d"));
    let (_, run) = repos.generate_then_diff("push", CHART_VALUES, true);
    let legs = run.json_output("support-and-staging-matrix-jobs");
    let prod = run.json_output("prod-hub-matrix-jobs");
    assert_eq!(run.output("skipped-releases"), "0", "{legs:#}\n{prod:#}");
    let prod_hubs: Vec<&str> = prod.as_array().expect("prod").iter().filter_map(|j| j["hub_name"].as_str()).collect();
    assert_eq!(prod_hubs, ["hub-a", "hub-b", "hub-c"], "{prod:#}");
    assert!(legs.to_string().contains("\"beta\""), "beta's staging hub deploys: {legs:#}");
    let plan = repos.plan();
    let hub_c = release(&plan, "beta", "hub-c");
    assert_eq!(objects(hub_c), ["changed v1 Secret hub-c-hub-secret"], "{plan:#}");
    assert!(diff_text(hub_c)
        .contains(&format!("+{} data.api-key\n", deployer::manifest_diff::normalise::SECRET_VALUES_CHANGED)));
    for (name, text) in [
        ("stdout", &run.stdout),
        ("plan.json", &repos.plan_file("plan.json")),
        ("manifests.diff", &repos.plan_file("manifests.diff")),
    ] {
        for value in [
            "api-key-one-0b1c",
            "api-key-two-9e8d",
            &base64("api-key-one-0b1c")[..12],
            &base64("api-key-two-9e8d")[..12],
        ] {
            assert!(!text.contains(value), "{name} holds {value}");
        }
    }
    assert!(injected(&run).is_empty(), "{:?}", injected(&run));

    // The control: a chart change that renders the same is still skipped where the renders are stable (beta).
    let repos = setup();
    repos.edit(&repos.head, CHART_VALUES, |text| format!("# A comment: the render is the same.\n{text}"));
    let (_, run) = repos.generate_then_diff("push", CHART_VALUES, true);
    assert_eq!(run.output("skipped-releases"), "2", "{}", run.stdout);
    let prod = run.json_output("prod-hub-matrix-jobs");
    let prod_hubs: Vec<&str> = prod.as_array().expect("prod").iter().filter_map(|j| j["hub_name"].as_str()).collect();
    assert_eq!(prod_hubs, ["hub-a", "hub-b"], "alpha's random proxy tokens keep its hubs: {prod:#}");
}
