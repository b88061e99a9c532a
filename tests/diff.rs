//! Issue 13's "done when", through the binaries with the real helm 4 and real
//! sops-encrypted files (a fresh age key; the diff itself never decrypts):
//! on `tests/fixtures/diff/repo` a values change shows exactly its objects'
//! diff; a shared-chart change shows per hub which objects change and which
//! hubs are unchanged; a random Secret value counts as a change (without
//! showing either value), a fixed one renders the same; an `enc-`
//! change shows without content; `skip-unchanged` drops exactly the
//! unchanged releases and keeps one that failed to render; the action's log
//! carries no workflow command from rendered content.

mod support;

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;
use support::age::{sops_encrypt, AgeKey};
use support::runner_log::commands;
use support::{bin, copy_tree, fixture, tools_dir, ActionRun};

const HUB_C_VALUES: &str = "config/clusters/beta/hub-c.values.yaml";
const ENC_FILE: &str = "config/clusters/alpha/enc-hub-b.secret.values.yaml";
const SECRET_TOKEN: &str = "token-from-a-real-sops-file-31";
const NEW_SECRET_TOKEN: &str = "a-rotated-token-never-shown-77";

/// A base checkout and a head checkout of the fixture, with the same real sops file in both.
struct Checkouts {
    _temp: tempfile::TempDir,
    home: PathBuf,
    /// The head: the workspace, with the base checked out inside it at `base/`, as the example workflow does.
    head: PathBuf,
    base: PathBuf,
    key: AgeKey,
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
        sops_encrypt(&format!("secret:\n  token: {SECRET_TOKEN}\n"), &key.recipient, &head.join(ENC_FILE));
        fs::copy(head.join(ENC_FILE), base.join(ENC_FILE)).expect("same encrypted file at base");
        Checkouts { _temp: temp, home, head, base, key }
    }

    fn edit_head(&self, path: &str, edit: impl FnOnce(String) -> String) {
        let file = self.head.join(path);
        let text = fs::read_to_string(&file).expect("read");
        let edited = edit(text.clone());
        assert_ne!(edited, text, "{path}: the edit changes the file");
        fs::write(&file, edited).expect("write");
    }

    /// `deployer diff --output json`, with the real helm on PATH and nothing else from this environment.
    fn diff(&self, changed: &str, extra: &[&str]) -> (Value, String) {
        let output = std::process::Command::new(bin("deployer"))
            .env_clear()
            .env("PATH", tools_dir())
            .env("HOME", &self.home)
            .arg("diff")
            .arg("--repo")
            .arg(&self.head)
            .arg("--base-dir")
            .arg(&self.base)
            .args(["--changed-files", changed, "--output", "json"])
            .args(extra)
            .output()
            .expect("run deployer diff");
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert!(output.status.success(), "deployer diff failed\nstdout:\n{stdout}\nstderr:\n{stderr}");
        (serde_json::from_str(&stdout).expect("JSON"), format!("{stdout}{stderr}"))
    }
}

/// `cluster/hub` → (status, objects changed as `change object`), from the JSON's releases.
fn by_release(json: &Value) -> Vec<(String, String, Vec<String>)> {
    json["releases"]
        .as_array()
        .expect("releases")
        .iter()
        .map(|r| {
            let label = format!(
                "{}/{}",
                r["cluster_name"].as_str().expect("present"),
                r["hub_name"].as_str().unwrap_or("support")
            );
            let objects = r["objects"]
                .as_array()
                .map(|objects| {
                    objects
                        .iter()
                        .map(|o| {
                            format!(
                                "{} {}",
                                o["change"].as_str().expect("present"),
                                o["object"].as_str().expect("present")
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            (label, r["status"].as_str().expect("present").to_owned(), objects)
        })
        .collect()
}

fn release<'a>(json: &'a Value, cluster: &str, hub: &str) -> &'a Value {
    json["releases"]
        .as_array()
        .expect("releases")
        .iter()
        .find(|r| r["cluster_name"] == cluster && r["hub_name"].as_str().unwrap_or("support") == hub)
        .unwrap_or_else(|| panic!("no release {cluster}/{hub} in {json:#}"))
}

#[test]
fn a_values_change_shows_exactly_its_objects_diff() {
    let repos = Checkouts::new();
    // beta's hubs fix their proxy token, so only the values change shows.
    repos.edit_head(HUB_C_VALUES, |text| text.replace("hello from hub-c", "good morning"));
    let (json, _) = repos.diff(HUB_C_VALUES, &[]);
    assert_eq!(
        by_release(&json),
        [
            ("beta/staging".to_owned(), "unchanged".to_owned(), vec![]),
            ("beta/hub-c".to_owned(), "changed".to_owned(), vec!["changed v1 ConfigMap hub-c-config".to_owned()]),
        ],
        "{json:#}"
    );
    let hub_c = release(&json, "beta", "hub-c");
    let diff = hub_c["objects"][0]["diff"].as_str().expect("present");
    assert!(diff.contains("-  greeting: hello from hub-c\n+  greeting: good morning\n"), "{diff}");
    assert_eq!((hub_c["lines_added"].as_u64(), hub_c["lines_removed"].as_u64()), (Some(1), Some(1)));
    // The cache: staging's inputs are the same at base and head, so only hub-c rendered, once per side.
    assert_eq!(json["renders"], 2, "{json:#}");
}

#[test]
fn render_ignore_in_deployer_yaml_leaves_its_paths_out_of_the_diff() {
    let repos = Checkouts::new();
    let settings = "render:\n  ignore:\n    ConfigMap:\n      - /data/greeting\n";
    for side in [&repos.head, &repos.base] {
        fs::write(side.join("deployer.yaml"), settings).expect("deployer.yaml");
    }
    repos.edit_head(HUB_C_VALUES, |text| text.replace("hello from hub-c", "good morning"));
    let (json, _) = repos.diff(HUB_C_VALUES, &[]);
    let hub_c = release(&json, "beta", "hub-c");
    assert_eq!(hub_c["status"], "unchanged", "{json:#}");
    assert_eq!(hub_c["objects_changed"], 0, "{json:#}");
}

#[test]
fn a_shared_chart_change_shows_which_hubs_change_and_random_secrets_count_as_changed() {
    let repos = Checkouts::new();
    repos.edit_head("helm-charts/hubchart/templates/configmap.yaml", |text| {
        format!("{text}  {{{{- if eq .Release.Name \"hub-a\" }}}}\n  extra: \"only hub-a\"\n  {{{{- end }}}}\n")
    });
    let (json, log) = repos.diff("helm-charts/hubchart/templates/configmap.yaml", &[]);
    let mut found = by_release(&json);
    found.sort();
    let secret = |hub: &str| format!("changed v1 Secret {hub}-hub-secret");
    let expected = [
        ("alpha/hub-a", "changed", vec!["changed v1 ConfigMap hub-a-config".to_owned(), secret("hub-a")]),
        // alpha's proxy token is random at every render: deploying would change it, so the Secret counts.
        ("alpha/hub-b", "changed", vec![secret("hub-b")]),
        ("alpha/staging", "changed", vec![secret("staging")]),
        // beta's values fix the token: its renders are stable, and its checksum annotations never counted.
        ("beta/hub-c", "unchanged", vec![]),
        ("beta/staging", "unchanged", vec![]),
    ];
    let expected: Vec<(String, String, Vec<String>)> =
        expected.into_iter().map(|(l, s, o)| (l.to_owned(), s.to_owned(), o)).collect();
    assert_eq!(found, expected, "{json:#}");
    // Every hub rendered at both sides (its chart changed). alpha/staging and beta/staging differ in
    // values now, so 5 distinct releases x 2.
    assert_eq!(json["renders"], 10, "{json:#}");
    // The Secret's diff says which value changed, and shows neither value.
    let hub_b = release(&json, "alpha", "hub-b");
    let diff = hub_b["objects"][0]["diff"].as_str().expect("present");
    assert!(
        diff.ends_with(&format!("+{} data.proxy-token\n", deployer::manifest_diff::normalise::SECRET_VALUES_CHANGED)),
        "{diff}"
    );
    assert_eq!((hub_b["lines_added"].as_u64(), hub_b["lines_removed"].as_u64()), (Some(1), Some(0)), "{diff}");
    assert!(!log.contains("a-fixed-token-for-beta") && !log.contains("YS1maXhlZC10b2tlbi1mb3ItYmV0YQ"), "{log}");
}

#[test]
fn an_encrypted_change_shows_without_content_and_the_diff_never_decrypts() {
    let repos = Checkouts::new();
    sops_encrypt(&format!("secret:\n  token: {NEW_SECRET_TOKEN}\n"), &repos.key.recipient, &repos.head.join(ENC_FILE));
    let (json, log) = repos.diff(ENC_FILE, &["--skip-unchanged"]);
    let hub_b = release(&json, "alpha", "hub-b");
    assert_eq!(hub_b["status"], "changed", "{json:#}");
    assert_eq!(hub_b["encrypted_values_changed"], serde_json::json!([ENC_FILE]));
    assert_eq!(hub_b["objects_changed"], 0, "the placeholders are the same: no object diff shows");
    // It always deploys, even with skip-unchanged.
    assert!(
        json["prod-hub-matrix-jobs"].as_array().expect("present").iter().any(|j| j["hub_name"] == "hub-b"),
        "{json:#}"
    );
    for secret in [SECRET_TOKEN, NEW_SECRET_TOKEN, "ENC[AES256_GCM", repos.key.secret.as_str()] {
        assert!(!log.contains(secret), "the output holds {secret}");
    }
    // The text form says so in words.
    let text = std::process::Command::new(bin("deployer"))
        .env_clear()
        .env("PATH", tools_dir())
        .env("HOME", &repos.home)
        .args(["diff", "--changed-files", ENC_FILE, "--repo"])
        .arg(&repos.head)
        .arg("--base-dir")
        .arg(&repos.base)
        .output()
        .expect("deployer diff");
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("encrypted values changed (content not shown)"), "{text}");
}

/// `action-generate` then `action-diff` in one workspace, as the example workflow's job runs them.
fn generate_then_diff(repos: &Checkouts, changed: &str, skip_unchanged: bool) -> support::ActionResult {
    let generate = ActionRun::new("action-generate", &repos.head)
        .input("changed-files", changed)
        .input("plan-dir", "deployment-plan")
        .run();
    assert!(generate.success(), "generate\n{}\n{}", generate.stdout, generate.stderr);
    ActionRun::new("action-diff", &repos.head)
        .input("plan-dir", "deployment-plan")
        .input("base-dir", "base")
        .input("skip-unchanged", if skip_unchanged { "true" } else { "false" })
        .env("PATH", tools_dir().display().to_string())
        .env("HOME", repos.home.display().to_string())
        .run()
}

fn names(jobs: &Value, field: &str) -> Vec<String> {
    jobs.as_array()
        .expect("array")
        .iter()
        .map(|job| format!("{}/{}", job["cluster_name"].as_str().expect("present"), job[field]))
        .collect()
}

#[test]
fn skip_unchanged_drops_exactly_the_unchanged_releases_and_keeps_a_failed_render() {
    let repos = Checkouts::new();
    // A chart change that changes hub-a, breaks hub-b's render, and leaves the others as they were.
    repos.edit_head("helm-charts/hubchart/templates/configmap.yaml", |text| {
        format!(
            "{text}  {{{{- if eq .Release.Name \"hub-a\" }}}}\n  extra: \"##[error]from a rendered value\"\n  {{{{- end }}}}\n\
             {{{{- if eq .Release.Name \"hub-b\" }}}}\n{{{{- fail \"hub-b cannot render ::error::this\" }}}}\n{{{{- end }}}}\n"
        )
    });
    let run = generate_then_diff(&repos, "helm-charts/hubchart/templates/configmap.yaml", true);
    assert!(run.success(), "diff\n{}\n{}", run.stdout, run.stderr);

    let legs = run.json_output("support-and-staging-matrix-jobs");
    let prod = run.json_output("prod-hub-matrix-jobs");
    // alpha keeps its canary (hub-a changes, hub-b could not be rendered); beta changes nowhere.
    assert_eq!(names(&legs, "staging_hubs"), ["alpha/[\"staging\"]"], "{legs:#}");
    assert_eq!(names(&prod, "hub_name"), ["alpha/\"hub-a\"", "alpha/\"hub-b\""], "{prod:#}");
    assert_eq!(run.output("has-jobs"), "true");
    assert_eq!(run.output("skipped-releases"), "2");
    // hub-a, hub-b (render failed) and alpha/staging (its random proxy token).
    assert_eq!(run.output("changed-releases"), "3");

    // The plan folder: plan.json with the diff (and the skipped releases), the full diff beside it.
    let dir = run.workspace.join("deployment-plan");
    let plan: Value =
        serde_json::from_str(&fs::read_to_string(dir.join("plan.json")).expect("plan.json")).expect("JSON");
    let diff = &plan["manifest_diff"];
    let skipped: Vec<String> = diff["skipped"]
        .as_array()
        .expect("skipped")
        .iter()
        .map(|s| {
            format!(
                "{}/{} {}",
                s["cluster_name"].as_str().expect("present"),
                s["hub_name"].as_str().expect("present"),
                s["reason"].as_str().expect("present")
            )
        })
        .collect();
    assert_eq!(skipped, ["beta/staging rendered manifests unchanged", "beta/hub-c rendered manifests unchanged"]);
    assert_eq!(release(diff, "alpha", "hub-b")["status"], "render-failed");
    let message = release(diff, "alpha", "hub-b")["message"].as_str().expect("present");
    assert!(message.contains("hub-b cannot render"), "{message}");
    assert_eq!(plan["prod-hub-matrix-jobs"], prod, "plan.json holds the matrices the outputs hold");
    let full = fs::read_to_string(dir.join("manifests.diff")).expect("manifests.diff");
    assert!(full.contains("+  extra: '##[error]from a rendered value'"), "{full}");
    // The comment action accepts what diff wrote.
    deployer::stages::comment::parse_untrusted_plan(&fs::read(dir.join("plan.json")).expect("present"))
        .expect("a valid plan.json");

    // Rendered content and helm's message reach the log, but never as workflow commands.
    let found: Vec<String> = commands(&format!("{}\n{}", run.stdout, run.stderr))
        .into_iter()
        .filter(|c| !matches!(c.name.as_str(), "group" | "endgroup" | "stop-commands" | "resume-commands"))
        .map(|c| format!("{} {}", c.name, c.data))
        .collect();
    assert!(found.is_empty(), "{found:?}\n{}", run.stdout);
    assert!(run.stdout.contains("from a rendered value"), "the diff is in the log:\n{}", run.stdout);
}

#[test]
fn without_skip_unchanged_the_matrices_are_generates() {
    let repos = Checkouts::new();
    let changed = "helm-charts/hubchart/templates/configmap.yaml";
    repos.edit_head(changed, |text| text.replace("greeting:", "greeting-text:"));
    let generate =
        ActionRun::new("action-generate", &repos.head).input("changed-files", changed).input("plan-dir", "p").run();
    let run = generate_then_diff(&repos, changed, false);
    assert!(run.success(), "{}\n{}", run.stdout, run.stderr);
    assert_eq!(run.output("prod-hub-matrix-jobs"), generate.output("prod-hub-matrix-jobs"));
    assert_eq!(run.output("support-and-staging-matrix-jobs"), generate.output("support-and-staging-matrix-jobs"));
    assert_eq!(run.output("skipped-releases"), "0");
    assert_eq!(run.output("changed-releases"), "5");
    assert!(run.summary.contains(deployer::presentation::manifest_change::MANIFEST_DIFF_HEADING), "{}", run.summary);
}

#[test]
fn a_base_dir_outside_the_workspace_or_missing_is_an_input_error() {
    let repos = Checkouts::new();
    for (base, says) in [("../outside", "outside the repository"), ("nothing-here", "does not exist")] {
        let generate = ActionRun::new("action-generate", &repos.head)
            .input("changed-files", "config/clusters/alpha/hub-a.values.yaml")
            .run();
        assert!(generate.success());
        let run = ActionRun::new("action-diff", &repos.head)
            .input("base-dir", base)
            .env("PATH", tools_dir().display().to_string())
            .run();
        assert!(!run.success(), "{base}");
        assert!(run.stdout.contains(says) || run.stderr.contains(says), "{base}:\n{}\n{}", run.stdout, run.stderr);
    }
    let _ = Path::new(".");
}

#[test]
fn generate_skip_unchanged_skips_a_chart_edit_that_renders_the_same_unless_a_secret_is_random() {
    let repos = Checkouts::new();
    let changed = "helm-charts/hubchart/templates/configmap.yaml";
    repos.edit_head(changed, |text| format!("{{{{/* A comment: the render is the same. */}}}}\n{text}"));
    let run = |extra: &[&str]| {
        let output = std::process::Command::new(bin("deployer"))
            .env_clear()
            .env("PATH", tools_dir())
            .env("HOME", &repos.home)
            .arg("generate")
            .arg("--repo")
            .arg(&repos.head)
            .arg("--base-dir")
            .arg(&repos.base)
            .args(["--changed-files", changed, "--output", "json"])
            .args(extra)
            .output()
            .expect("deployer generate");
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        let json: Value = serde_json::from_slice(&output.stdout).expect("JSON");
        (json, String::from_utf8_lossy(&output.stderr).into_owned())
    };
    let (planned, _) = run(&[]);
    assert_eq!(planned["prod-hub-matrix-jobs"].as_array().map(Vec::len), Some(3), "{planned:#}");
    let (skipped, stderr) = run(&["--skip-unchanged"]);
    // beta renders the same: skipped. alpha's hubs render a fresh random Secret value each time: kept.
    assert_eq!(names(&skipped["prod-hub-matrix-jobs"], "hub_name"), ["alpha/\"hub-a\"", "alpha/\"hub-b\""]);
    assert_eq!(names(&skipped["support-and-staging-matrix-jobs"], "staging_hubs"), ["alpha/[\"staging\"]"]);
    assert!(stderr.contains("skipped: beta/hub-c: rendered manifests unchanged"), "{stderr}");
    assert!(stderr.contains("skipped: beta/staging: rendered manifests unchanged"), "{stderr}");
    assert!(!stderr.contains("skipped: alpha/"), "{stderr}");
}
