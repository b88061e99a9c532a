//! The sticky PR comment, decided from an artifact written by a stranger.
//!
//! This module is the pure part: checking the untrusted `plan.json`, the PR
//! number files and the marker, building the body, and deciding whether to
//! create, update or leave the comment. [`stage`] does the API calls.

pub mod stage;
mod untrusted_diff;

use crate::base::error::Error;
use crate::base::event::is_sha;
use crate::config::cluster::{is_valid_cluster_name, is_valid_hub_name};
use crate::config::rollout::JobRollout;
use crate::config::rollout::{is_commit, is_wave_name};
use crate::presentation::plan_folder::{PlanFile, PLAN_FILE_VERSION};
use crate::presentation::{self, truncate_at_line};

/// GitHub's limit on a comment body, in characters.
pub const MAX_COMMENT_CHARS: usize = 65_536;
/// The artifact looked for when `artifact-name` is not given.
pub const DEFAULT_ARTIFACT: &str = "deployment-plan";
/// The Markdown file used when there is no `plan.json` to render.
pub const DEFAULT_BODY_FILE: &str = "comment.md";
/// The author of the default token's comments.
pub const DEFAULT_AUTHOR: &str = "github-actions[bot]";
/// A file that may carry the PR number in an artifact without `plan.json`.
pub const PR_NUMBER_FILE: &str = "pr-number.txt";
/// Longest reason accepted in an untrusted plan.
const MAX_REASON_CHARS: usize = 4096;
/// Most jobs accepted in an untrusted plan.
const MAX_PLAN_JOBS: usize = 100_000;
/// Most removed hubs accepted in an untrusted plan.
const MAX_REMOVED_HUBS: usize = 10_000;
/// The most charts one before-steps note of `plan.json` may list.
const MAX_BEFORE_CHARTS: usize = 64;

/// How the body is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RenderMode {
    /// From the validated `plan.json`, in trusted code (the default). An
    /// artifact without one is refused: it cannot choose another body.
    Plan,
    /// The body file, opted into by the workflow: untrusted Markdown, posted
    /// with mentions, images and raw HTML neutralised ([`free_body`]).
    Body,
}

impl RenderMode {
    /// The `render` input's default.
    pub const DEFAULT: &'static str = "plan";

    /// Parses the `render` input.
    pub fn parse(input: &str, text: &str) -> Result<Self, Error> {
        match text {
            "plan" => Ok(RenderMode::Plan),
            "body" => Ok(RenderMode::Body),
            "auto" => Err(Error::input(
                input,
                "`auto` is no longer accepted: it let the artifact choose a free-form body by leaving out \
                 plan.json; use `plan` (the default) or, to post the body file, `body`",
            )),
            other => Err(Error::input(input, format!("`{other}`: use `plan` or `body`"))),
        }
    }
}

/// What to do when the run has no such artifact (or it expired).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IfNoArtifact {
    Ignore,
    Warn,
    Fail,
}

impl IfNoArtifact {
    /// The `if-no-artifact` value when the input is absent.
    pub const DEFAULT: &'static str = "ignore";

    /// Parses the `if-no-artifact` input.
    pub fn parse(input: &str, text: &str) -> Result<Self, Error> {
        match text {
            "ignore" => Ok(IfNoArtifact::Ignore),
            "warn" => Ok(IfNoArtifact::Warn),
            "fail" => Ok(IfNoArtifact::Fail),
            other => Err(Error::input(input, format!("`{other}`: use `ignore`, `warn` or `fail`"))),
        }
    }
}

/// A marker is one HTML comment on one line: invisible, and unlikely to be typed by accident.
pub fn check_marker(input: &str, marker: &str) -> Result<(), Error> {
    let inner = marker.strip_prefix("<!--").and_then(|m| m.strip_suffix("-->"));
    match inner {
        Some(inner)
            if !inner.trim().is_empty()
                && !inner.contains("--")
                && !marker.contains(['\n', '\r'])
                && marker.len() <= 256 =>
        {
            Ok(())
        }
        _ => Err(Error::input(
            input,
            format!("`{marker}` is not a one-line HTML comment such as `<!-- deployment-plan -->`"),
        )),
    }
}

fn untrusted(file: &str, message: impl Into<String>) -> Error {
    Error::Artifact(format!("{file}: {}", message.into()))
}

/// Parses and checks an untrusted `plan.json`: the exact schema (no unknown
/// fields, strict types), our schema version, names in the characters
/// cluster and hub names may have, and bounded sizes.
pub fn parse_untrusted_plan(bytes: &[u8]) -> Result<PlanFile, Error> {
    const FILE: &str = "plan.json";
    let plan: PlanFile = serde_json::from_slice(bytes).map_err(|e| untrusted(FILE, e.to_string()))?;
    if plan.version != PLAN_FILE_VERSION {
        return Err(untrusted(
            FILE,
            format!("version {} is not the supported version {PLAN_FILE_VERSION}", plan.version),
        ));
    }
    let jobs =
        plan.support_and_staging.len() + plan.prod_hubs.len() + plan.staging_checks.len() + plan.prod_checks.len();
    if jobs > MAX_PLAN_JOBS {
        return Err(untrusted(FILE, format!("more than {MAX_PLAN_JOBS} jobs")));
    }
    if plan.removed_hubs.len() > MAX_REMOVED_HUBS {
        return Err(untrusted(FILE, format!("more than {MAX_REMOVED_HUBS} removed hubs")));
    }
    if let Some(sha) = &plan.head_sha {
        if !is_sha(sha) {
            return Err(untrusted(FILE, "head_sha is not a commit SHA"));
        }
    }
    let cluster = |name: &str| check_cluster_name(FILE, name);
    let hub = |name: &str| check_hub_name(FILE, name);
    let reason = |text: &str| {
        if text.chars().count() <= MAX_REASON_CHARS {
            Ok(())
        } else {
            Err(untrusted(FILE, format!("a reason is longer than {MAX_REASON_CHARS} characters")))
        }
    };
    // A wave name as `rollout.waves` allows, and a chart commit that is empty (the head) or a full sha.
    let rollout = |rollout: &JobRollout| {
        if !is_wave_name(&rollout.wave) {
            return Err(untrusted(FILE, format!("{:?} is not a wave name", rollout.wave)));
        }
        if !(rollout.chart_commit.is_empty() || is_commit(&rollout.chart_commit)) {
            return Err(untrusted(FILE, format!("{:?} is not a 40-digit chart commit", rollout.chart_commit)));
        }
        Ok(())
    };
    for job in &plan.support_and_staging {
        cluster(&job.cluster_name)?;
        job.staging_hubs.iter().try_for_each(|h| hub(h))?;
        reason(&job.reason_for_support_redeploy)?;
        reason(&job.reason_for_staging_redeploy)?;
        for (staging_hub, staging_rollout) in &job.staging_rollout {
            if !job.staging_hubs.contains(staging_hub) {
                return Err(untrusted(
                    FILE,
                    format!("{staging_hub:?} has a rollout but is not a staging hub of its job"),
                ));
            }
            rollout(staging_rollout)?;
        }
    }
    for job in &plan.prod_hubs {
        cluster(&job.cluster_name)?;
        hub(&job.hub_name)?;
        reason(&job.reason_for_redeploy)?;
        job.rollout.as_ref().map_or(Ok(()), rollout)?;
    }
    for job in plan.staging_checks.iter().chain(&plan.prod_checks) {
        cluster(&job.cluster_name)?;
        hub(&job.hub_name)?;
        reason(&job.reason_for_health_check)?;
    }
    for removed in &plan.removed_hubs {
        cluster(&removed.cluster_name)?;
        hub(&removed.hub_name)?;
    }
    if plan.before_steps.len() > MAX_PLAN_JOBS {
        return Err(untrusted(FILE, format!("more than {MAX_PLAN_JOBS} before-steps notes")));
    }
    for note in &plan.before_steps {
        cluster(&note.cluster_name)?;
        if note.charts.is_empty() || note.charts.len() > MAX_BEFORE_CHARTS {
            return Err(untrusted(
                FILE,
                format!("a before-steps note lists no chart, or more than {MAX_BEFORE_CHARTS}"),
            ));
        }
        for chart in &note.charts {
            let plain = !chart.is_empty()
                && chart.len() <= 64
                && chart.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
            if !plain {
                return Err(untrusted(FILE, "a before-steps note names something that is not a chart folder"));
            }
        }
    }
    plan.warnings.iter().try_for_each(|w| reason(w))?;
    if let Some(diff) = &plan.manifest_diff {
        untrusted_diff::check(FILE, diff)?;
    }
    Ok(plan)
}

/// A cluster name from an untrusted file: the characters `cluster.yaml` allows, and DNS-bounded.
fn check_cluster_name(file: &str, name: &str) -> Result<(), Error> {
    if is_valid_cluster_name(name) && name.len() <= 253 {
        Ok(())
    } else {
        Err(untrusted(file, format!("{name:?} is not a cluster name")))
    }
}

/// A hub name from an untrusted file: a Helm release and namespace name.
fn check_hub_name(file: &str, name: &str) -> Result<(), Error> {
    if is_valid_hub_name(name) {
        Ok(())
    } else {
        Err(untrusted(file, format!("{name:?} is not a hub name")))
    }
}

/// Parses a PR number from untrusted text: digits only, positive, not absurd.
pub fn parse_pr_number(source: &str, text: &str) -> Result<u64, Error> {
    let trimmed = text.trim();
    let valid = !trimmed.is_empty() && trimmed.len() <= 10 && trimmed.bytes().all(|b| b.is_ascii_digit());
    match trimmed.parse::<u64>() {
        Ok(number) if valid && number > 0 => Ok(number),
        _ => Err(untrusted(
            source,
            format!("{:?} is not a pull request number", trimmed.chars().take(40).collect::<String>()),
        )),
    }
}

/// A comment body, and whether it announces any deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Body {
    pub text: String,
    /// False for a plan with no jobs and no removed hubs: such a body updates a
    /// comment but creates none. (A removed hub is worth a comment: nothing uninstalls it.)
    pub has_jobs: bool,
}

/// The body rendered from a checked plan, in trusted code.
pub fn plan_body(plan: &PlanFile, marker: &str, run_url: Option<&str>) -> Body {
    Body {
        text: presentation::comment_within(&plan.into(), marker, MAX_COMMENT_CHARS, run_url),
        has_jobs: !(plan.support_and_staging.is_empty()
            && plan.prod_hubs.is_empty()
            && plan.staging_checks.is_empty()
            && plan.prod_checks.is_empty()
            && plan.removed_hubs.is_empty()),
    }
}

/// A free-form body (untrusted): neutralised with
/// [`presentation::markdown::neutralise_body`] (no mentions, images or raw HTML),
/// after our marker line (a marker the text starts with is taken off first),
/// and cut at a line with a note when over-long.
pub fn free_body(text: &str, marker: &str, run_url: Option<&str>) -> Body {
    let text = text.strip_prefix(marker).map_or(text, |rest| rest.strip_prefix('\n').unwrap_or(rest));
    let mut body = format!("{marker}\n{}", presentation::markdown::neutralise_body(text));
    if body.chars().count() > MAX_COMMENT_CHARS {
        let note = match run_url {
            Some(url) => format!("\n> [!NOTE]\n> The rest is not shown, to stay under {MAX_COMMENT_CHARS} characters. See [the workflow run]({url}).\n"),
            None => format!("\n> [!NOTE]\n> The rest is not shown, to stay under {MAX_COMMENT_CHARS} characters.\n"),
        };
        body = truncate_at_line(&body, MAX_COMMENT_CHARS - note.chars().count());
        body.push_str(&note);
    }
    Body { text: body, has_jobs: true }
}

/// A comment already on the PR.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct IssueComment {
    pub id: u64,
    #[serde(default)]
    pub node_id: String,
    #[serde(default)]
    pub body: Option<String>,
    #[serde(default)]
    pub html_url: String,
    pub user: Option<CommentUser>,
}

/// The author of a comment.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct CommentUser {
    pub login: String,
}

impl IssueComment {
    /// True when this is our sticky comment: by `author`, and its body starts
    /// with `marker` (a comment that merely quotes the marker is not ours).
    pub fn is_ours(&self, author: &str, marker: &str) -> bool {
        self.user.as_ref().is_some_and(|u| u.login == author)
            && self.body.as_deref().is_some_and(|b| b.starts_with(marker))
    }
}

/// What to do with the comment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommentAction {
    Create,
    Update {
        id: u64,
    },
    /// Minimize the old comment as outdated, then create a new one.
    HideAndCreate {
        id: u64,
        node_id: String,
    },
    Unchanged {
        id: u64,
    },
    /// Nothing to say and nothing to correct.
    Skip,
}

/// Decides the action from the existing comment, if any, and the new body.
pub fn decide(existing: Option<&IssueComment>, body: &Body, hide_previous: bool) -> CommentAction {
    let normalize = |text: &str| text.replace("\r\n", "\n").trim_end().to_owned();
    match existing {
        None if body.has_jobs => CommentAction::Create,
        None => CommentAction::Skip,
        Some(old) if old.body.as_deref().map(normalize) == Some(normalize(&body.text)) => {
            CommentAction::Unchanged { id: old.id }
        }
        Some(old) if hide_previous && body.has_jobs => {
            CommentAction::HideAndCreate { id: old.id, node_id: old.node_id.clone() }
        }
        Some(old) => CommentAction::Update { id: old.id },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn comment(body: &str, login: &str) -> IssueComment {
        IssueComment {
            id: 5,
            node_id: "IC_5".into(),
            body: Some(body.into()),
            html_url: String::new(),
            user: Some(CommentUser { login: login.into() }),
        }
    }

    #[test]
    fn decisions() {
        let jobs = Body { text: "<!-- m -->\nnew".into(), has_jobs: true };
        let nothing = Body { text: "<!-- m -->\nnothing".into(), has_jobs: false };
        let old = comment("<!-- m -->\nold", "github-actions[bot]");
        let same = comment("<!-- m -->\r\nnew\n", "github-actions[bot]");
        let cases = [
            (None, &jobs, false, CommentAction::Create),
            (None, &nothing, false, CommentAction::Skip),
            (Some(&old), &jobs, false, CommentAction::Update { id: 5 }),
            (Some(&old), &nothing, false, CommentAction::Update { id: 5 }),
            (Some(&old), &nothing, true, CommentAction::Update { id: 5 }),
            (Some(&same), &jobs, false, CommentAction::Unchanged { id: 5 }),
            (Some(&same), &jobs, true, CommentAction::Unchanged { id: 5 }),
            (Some(&old), &jobs, true, CommentAction::HideAndCreate { id: 5, node_id: "IC_5".into() }),
        ];
        for (existing, body, hide, expected) in cases {
            assert_eq!(decide(existing, body, hide), expected, "{existing:?} {body:?} {hide}");
        }
    }

    #[test]
    fn ownership_needs_author_and_the_marker_first() {
        let bot = "github-actions[bot]";
        let cases = [
            ("<!-- m -->\nplan", bot, true),
            ("<!-- m -->", bot, true),
            ("<!-- m -->", "mallory", false),
            ("no marker", bot, false),
            ("x <!-- m --> y", bot, false),
            ("> <!-- m -->\nquoted", bot, false),
            ("\n<!-- m -->", bot, false),
        ];
        for (body, login, ours) in cases {
            assert_eq!(comment(body, login).is_ours(bot, "<!-- m -->"), ours, "{body:?} by {login}");
        }
    }

    #[test]
    fn render_modes() {
        assert_eq!(RenderMode::parse("render", RenderMode::DEFAULT).unwrap(), RenderMode::Plan);
        assert_eq!(RenderMode::parse("render", "body").unwrap(), RenderMode::Body);
        assert!(RenderMode::parse("render", "auto").unwrap_err().to_string().contains("no longer accepted"));
        assert!(RenderMode::parse("render", "Plan").is_err());
    }

    #[test]
    fn markers() {
        for good in ["<!-- deployment-plan -->", "<!--x-->"] {
            assert!(check_marker("marker", good).is_ok(), "{good}");
        }
        for bad in ["deployment-plan", "<!-- -->", "<!-- a -- b -->", "<!-- a\n-->", "<!-- a"] {
            assert!(check_marker("marker", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn pr_numbers() {
        assert_eq!(parse_pr_number("pr-number.txt", " 42\n").unwrap(), 42);
        for bad in ["", "0", "-1", "4 2", "12345678901", "42; rm -rf", "0x2a"] {
            assert!(parse_pr_number("pr-number.txt", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn free_bodies_get_the_marker_and_a_size_limit() {
        assert_eq!(free_body("hello", "<!-- m -->", None).text, "<!-- m -->\nhello");
        assert_eq!(free_body("<!-- m -->\nhello", "<!-- m -->", None).text, "<!-- m -->\nhello");
        assert_eq!(
            free_body("hi @team <!-- m --> ![x](y)", "<!-- m -->", None).text,
            "<!-- m -->\nhi \u{ff20}team &lt;!-- m --> &#33;[x](y)"
        );
        let long = "line\n".repeat(20_000);
        let body = free_body(&long, "<!-- m -->", Some("https://x/run"));
        assert!(body.text.chars().count() <= MAX_COMMENT_CHARS);
        assert!(body.text.ends_with("See [the workflow run](https://x/run).\n"));
    }

    #[test]
    fn untrusted_plans_are_checked() {
        let job = |cluster: &str, hub: &str, reason: &str| {
            serde_json::json!({"version": 1, "pr_number": 1, "head_sha": null, "support-and-staging-matrix-jobs": [],
                "prod-hub-matrix-jobs": [{"cluster_name": cluster, "provider": "gcp", "hub_name": hub, "reason_for_redeploy": reason}]})
        };
        assert!(parse_untrusted_plan(job("c1", "hub", "ok | <b>").to_string().as_bytes()).is_ok());
        let bad = [
            job("C1", "hub", "r"),
            job("c1", "hub<script>", "r"),
            job("c1", "hub", &"r".repeat(5000)),
            serde_json::json!({"version": 2, "support-and-staging-matrix-jobs": [], "prod-hub-matrix-jobs": []}),
            serde_json::json!({"version": 1, "extra": 1, "support-and-staging-matrix-jobs": [], "prod-hub-matrix-jobs": []}),
            serde_json::json!({"version": "1", "support-and-staging-matrix-jobs": [], "prod-hub-matrix-jobs": []}),
            serde_json::json!({"version": 1, "head_sha": "../x", "support-and-staging-matrix-jobs": [], "prod-hub-matrix-jobs": []}),
        ];
        for plan in bad {
            let error = parse_untrusted_plan(plan.to_string().as_bytes()).unwrap_err().to_string();
            assert!(error.starts_with("refusing the artifact: plan.json: "), "{plan}: {error}");
        }
    }

    #[test]
    fn rollouts_in_untrusted_plans_are_checked() {
        let pin = "0123456789abcdef0123456789abcdef01234567";
        let plan = |prod_rollout: serde_json::Value, staging_rollout: serde_json::Value| {
            serde_json::json!({"version": 1, "pr_number": 1, "head_sha": null,
                "support-and-staging-matrix-jobs": [{"cluster_name": "c1", "provider": "gcp", "upgrade_support": false,
                    "reason_for_support_redeploy": "", "upgrade_staging": true, "reason_for_staging_redeploy": "r",
                    "staging_hubs": ["staging"], "staging_rollout": staging_rollout}],
                "prod-hub-matrix-jobs": [{"cluster_name": "c1", "provider": "gcp", "hub_name": "prod",
                    "reason_for_redeploy": "r", "rollout": prod_rollout}]})
            .to_string()
        };
        let head = serde_json::json!({"staging": {"wave": "canary", "chart_commit": ""}});
        let good = plan(serde_json::json!({"wave": "early", "chart_commit": pin}), head.clone());
        let parsed = parse_untrusted_plan(good.as_bytes()).unwrap_or_else(|e| panic!("{good}: {e}"));
        assert_eq!(parsed.prod_hubs[0].rollout.as_ref().map(|r| r.chart_commit.as_str()), Some(pin));
        assert_eq!(parsed.support_and_staging[0].staging_rollout["staging"].wave, "canary");
        let bad = [
            (plan(serde_json::json!({"wave": "early", "chart_commit": "0123456"}), head.clone()), "is not a 40-digit"),
            (
                plan(serde_json::json!({"wave": "early", "chart_commit": pin.to_uppercase()}), head.clone()),
                "is not a 40-digit",
            ),
            (
                plan(serde_json::json!({"wave": "early", "chart_commit": "--upload-pack=x"}), head.clone()),
                "is not a 40-digit",
            ),
            (plan(serde_json::json!({"wave": "Early<b>", "chart_commit": pin}), head.clone()), "is not a wave name"),
            (plan(serde_json::json!({"wave": "early"}), head.clone()), "missing field `chart_commit`"),
            (plan(serde_json::json!({"wave": "early", "chart_commit": pin, "x": 1}), head.clone()), "unknown field"),
            (
                plan(
                    serde_json::json!({"wave": "early", "chart_commit": pin}),
                    serde_json::json!({"prod": {"wave": "canary", "chart_commit": ""}}),
                ),
                "is not a staging hub of its job",
            ),
            (
                plan(
                    serde_json::json!({"wave": "early", "chart_commit": pin}),
                    serde_json::json!({"staging": {"wave": "canary", "chart_commit": "x"}}),
                ),
                "is not a 40-digit",
            ),
        ];
        for (plan, expected) in bad {
            let error = parse_untrusted_plan(plan.as_bytes()).unwrap_err().to_string();
            assert!(
                error.starts_with("refusing the artifact: plan.json: ") && error.contains(expected),
                "{plan}: {error}"
            );
        }
    }

    #[test]
    fn before_steps_notes_in_untrusted_plans_are_checked() {
        let plan = |notes: serde_json::Value| {
            serde_json::json!({"version": 1, "support-and-staging-matrix-jobs": [], "prod-hub-matrix-jobs": [],
                               "before_steps": notes})
            .to_string()
        };
        let ok = parse_untrusted_plan(
            plan(serde_json::json!([{"cluster_name": "c1", "charts": ["support", "basehub"]}])).as_bytes(),
        )
        .unwrap();
        assert_eq!(ok.before_steps.len(), 1);
        let body = plan_body(&ok, "<!-- m -->", None);
        assert!(body.text.contains("### Before steps"), "{}", body.text);
        assert!(body.text.contains("| c1 | support, basehub |"), "{}", body.text);
        let old = r#"{"version": 1, "support-and-staging-matrix-jobs": [], "prod-hub-matrix-jobs": []}"#;
        assert!(parse_untrusted_plan(old.as_bytes()).unwrap().before_steps.is_empty());
        let bad = [
            (serde_json::json!([{"cluster_name": "C 1", "charts": ["support"]}]), "is not a cluster name"),
            (serde_json::json!([{"cluster_name": "c1", "charts": []}]), "lists no chart"),
            (serde_json::json!([{"cluster_name": "c1", "charts": ["a|b"]}]), "not a chart folder"),
            (serde_json::json!([{"cluster_name": "c1", "charts": ["x"], "steps": []}]), "unknown field"),
        ];
        for (notes, want) in bad {
            let error = parse_untrusted_plan(plan(notes.clone()).as_bytes()).unwrap_err().to_string();
            assert!(error.contains(want), "{notes}: {error}");
        }
    }

    #[test]
    fn health_checks_in_untrusted_plans_are_checked() {
        let check = |cluster: &str, hub: &str, reason: &str| serde_json::json!({"cluster_name": cluster, "provider": "gcp", "hub_name": hub, "reason_for_health_check": reason});
        let plan = |key: &str, jobs: serde_json::Value| {
            let mut plan =
                serde_json::json!({"version": 1, "support-and-staging-matrix-jobs": [], "prod-hub-matrix-jobs": []});
            plan[key] = jobs;
            plan.to_string()
        };
        let ok = parse_untrusted_plan(
            plan(
                "prod_checks",
                serde_json::json!([check("c1", "prod", "Infrastructure of this cluster was modified: t")]),
            )
            .as_bytes(),
        )
        .unwrap();
        assert_eq!(ok.prod_checks.len(), 1);
        let body = plan_body(&ok, "<!-- m -->", None);
        assert!(body.has_jobs, "a health check is worth a comment");
        assert!(
            body.text.contains("| gcp | c1 | prod | prod | Infrastructure of this cluster was modified: t |"),
            "{}",
            body.text
        );
        let bad = [
            (plan("staging_checks", serde_json::json!([check("C1", "staging", "r")])), "is not a cluster name"),
            (plan("prod_checks", serde_json::json!([check("c1", "a|b", "r")])), "is not a hub name"),
            (
                plan("prod_checks", serde_json::json!([check("c1", "p", &"x".repeat(MAX_REASON_CHARS + 1))])),
                "a reason is longer",
            ),
            (
                plan(
                    "prod_checks",
                    serde_json::json!([{"cluster_name": "c1", "provider": "gcp", "hub_name": "p", "reason_for_redeploy": "r"}]),
                ),
                "unknown field",
            ),
        ];
        for (text, want) in bad {
            let error = parse_untrusted_plan(text.as_bytes()).unwrap_err().to_string();
            assert!(error.contains(want), "{text}: {error}");
        }
    }

    #[test]
    fn removed_hubs_in_untrusted_plans_are_checked() {
        let plan = |removed: serde_json::Value| {
            serde_json::json!({"version": 1, "support-and-staging-matrix-jobs": [], "prod-hub-matrix-jobs": [],
                "removed_hubs": removed})
            .to_string()
        };
        let entry = |cluster: &str, hub: &str| serde_json::json!({"cluster_name": cluster, "hub_name": hub});
        // Files without the field (older versions) stay valid.
        let old = r#"{"version": 1, "support-and-staging-matrix-jobs": [], "prod-hub-matrix-jobs": []}"#;
        assert!(parse_untrusted_plan(old.as_bytes()).unwrap().removed_hubs.is_empty());
        let ok = parse_untrusted_plan(plan(serde_json::json!([entry("c1", "gone")])).as_bytes()).unwrap();
        assert_eq!(ok.removed_hubs.len(), 1);
        assert!(plan_body(&ok, "<!-- m -->", None).has_jobs, "a removed hub is worth a new comment");
        assert!(plan_body(&ok, "<!-- m -->", None).text.contains("| c1 | gone |"));
        let many: Vec<serde_json::Value> = (0..=MAX_REMOVED_HUBS).map(|i| entry("c1", &format!("h{i}"))).collect();
        let bad = [
            (plan(serde_json::json!([entry("C1", "gone")])), "is not a cluster name"),
            (plan(serde_json::json!([entry("c1", "gone<img src=x>")])), "is not a hub name"),
            (plan(serde_json::json!([entry("c1", "")])), "is not a hub name"),
            (plan(serde_json::json!([{"cluster_name": "c1", "hub_name": "h", "extra": 1}])), "unknown field"),
            (plan(serde_json::json!([{"cluster_name": "c1"}])), "missing field"),
            (plan(serde_json::json!({"c1": "h"})), "invalid type"),
            (plan(serde_json::Value::Array(many)), "more than 10000 removed hubs"),
        ];
        for (text, expected) in bad {
            let error = parse_untrusted_plan(text.as_bytes()).unwrap_err().to_string();
            assert!(error.starts_with("refusing the artifact: plan.json: "), "{error}");
            assert!(error.contains(expected), "{expected}: {error}");
        }
    }
}
