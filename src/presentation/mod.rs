//! The plan as people read it: log tables, the step summary and the PR comment.
//! Column choices live here once and every format uses them.

pub mod blocked_summary;
pub mod manifest_change;
pub mod markdown;
pub mod plan_folder;
pub mod table;

use crate::manifest_diff::ManifestDiff;
use crate::planning::filter::FilterOutcome;
use crate::planning::plan::{
    BeforeStepsNote, HealthCheckJob, Plan, PlanWarning, ProdHubJob, RemovedHub, SupportAndStagingJob,
};

/// Title of the support-and-staging table.
pub const SUPPORT_AND_STAGING_TITLE: &str = "Support chart and Staging hub upgrades";
/// Title of the prod-hub table.
pub const PROD_HUBS_TITLE: &str = "Prod hub upgrades";
/// First line of every plan comment: how the comment action finds its own comment.
pub const COMMENT_MARKER: &str = "<!-- deployment-plan -->";
/// Said when the support-and-staging matrix is empty.
pub const NO_SUPPORT_OR_STAGING: &str = "No support or staging upgrades will be triggered";
/// Said when the prod-hub matrix is empty.
pub const NO_PROD_HUBS: &str = "No production hub upgrades will be triggered";
/// Title of the removed-hubs note (shown only when a `cluster.yaml` edit removed hubs).
pub const REMOVED_HUBS_TITLE: &str = "Hubs removed from cluster.yaml";
/// What the removed-hubs note says under its title.
pub const REMOVED_HUBS_NOTE: &str =
    "Nothing is uninstalled: these hubs' Helm releases stay on their clusters until removed by hand.";
const REMOVED_HUBS_HEADERS: [&str; 2] = ["Cluster Name", "Hub Name"];
/// Title of the health-check table (shown only when health checks are planned).
pub const HEALTH_CHECKS_TITLE: &str = "Health checks (no upgrade)";
const HEALTH_CHECK_HEADERS: [&str; 5] =
    ["Cloud Provider", "Cluster Name", "Hub Name", "Stage", "Reason for Health Check"];

const SUPPORT_AND_STAGING_HEADERS: [&str; 7] = [
    "Cloud Provider",
    "Cluster Name",
    "Upgrade Support?",
    "Reason for Support Redeploy",
    "Upgrade Staging?",
    "Staging Hubs",
    "Reason for Staging Redeploy",
];
const PROD_HUBS_HEADERS: [&str; 4] = ["Cloud Provider", "Cluster Name", "Hub Name", "Reason for Redeploy"];

fn yes_no(value: bool) -> String {
    if value { "Yes" } else { "No" }.to_owned()
}

/// `headers`, and the manifest-change column when there is a diff.
fn headers_with_diff<'h>(headers: &[&'h str], diff: Option<&ManifestDiff>) -> Vec<&'h str> {
    let mut all = headers.to_vec();
    if diff.is_some() {
        all.push(manifest_change::MANIFEST_CHANGE_HEADER);
    }
    all
}

fn support_and_staging_rows(jobs: &[SupportAndStagingJob], diff: Option<&ManifestDiff>) -> Vec<Vec<String>> {
    jobs.iter()
        .map(|job| {
            let mut row = vec![
                job.provider.as_str().to_owned(),
                job.cluster_name.clone(),
                yes_no(job.upgrade_support),
                job.reason_for_support_redeploy.clone(),
                yes_no(job.upgrade_staging),
                job.staging_hubs.join(", "),
                staging_reason_cell(job),
            ];
            row.extend(diff.map(|diff| manifest_change::support_and_staging_cell(diff, job)));
            row
        })
        .collect()
}

/// The staging reason, with each staging hub's wave and chart commit when its chart rolls out in waves.
fn staging_reason_cell(job: &SupportAndStagingJob) -> String {
    if job.staging_rollout.is_empty() {
        return job.reason_for_staging_redeploy.clone();
    }
    let waves: Vec<String> =
        job.staging_rollout.iter().map(|(hub, rollout)| format!("{hub}: {}", rollout.describe())).collect();
    format!("{} ({})", job.reason_for_staging_redeploy, waves.join("; "))
}

fn prod_hub_rows(jobs: &[ProdHubJob], diff: Option<&ManifestDiff>) -> Vec<Vec<String>> {
    jobs.iter()
        .map(|job| {
            let mut row = vec![
                job.provider.as_str().to_owned(),
                job.cluster_name.clone(),
                job.hub_name.clone(),
                match &job.rollout {
                    Some(rollout) => format!("{} ({})", job.reason_for_redeploy, rollout.describe()),
                    None => job.reason_for_redeploy.clone(),
                },
            ];
            row.extend(diff.map(|diff| manifest_change::prod_hub_cell(diff, job)));
            row
        })
        .collect()
}

/// Staging checks first (the canaries), then prod checks.
fn health_check_rows(staging: &[HealthCheckJob], prod: &[HealthCheckJob]) -> Vec<Vec<String>> {
    let row = |job: &HealthCheckJob, stage: &str| {
        vec![
            job.provider.as_str().to_owned(),
            job.cluster_name.clone(),
            job.hub_name.clone(),
            stage.to_owned(),
            job.reason_for_health_check.clone(),
        ]
    };
    staging.iter().map(|job| row(job, "staging")).chain(prod.iter().map(|job| row(job, "prod"))).collect()
}

/// Title, headers and note of the before-steps table.
pub const BEFORE_STEPS_TITLE: &str = "Before steps";
const BEFORE_STEPS_HEADERS: [&str; 2] = ["Cluster", "Charts"];
const BEFORE_STEPS_NOTE: &str = "The `before` steps of these charts in `deployer.yaml` run once per cluster \
     and leg, ahead of the charts' releases (`deploy --dry-run` shows them; values-key conditions are decided then).";

fn before_step_rows(notes: &[BeforeStepsNote]) -> Vec<Vec<String>> {
    notes.iter().map(|note| vec![note.cluster_name.clone(), note.charts.join(", ")]).collect()
}

fn removed_hub_rows(removed: &[RemovedHub]) -> Vec<Vec<String>> {
    removed.iter().map(|hub| vec![hub.cluster_name.clone(), hub.hub_name.clone()]).collect()
}

fn text_table(title: &str, headers: &[&str], rows: Vec<Vec<String>>, empty: &str, max_width: Option<usize>) -> String {
    if rows.is_empty() {
        return format!("{title}\n{empty}\n");
    }
    let table =
        table::Table { title: title.to_owned(), headers: headers.iter().map(|h| (*h).to_owned()).collect(), rows };
    table::render_within(&table, max_width)
}

/// Both tables as box-drawn text at their full width, for the job log.
pub fn log_tables(plan: &Plan) -> String {
    log_tables_within(plan, None)
}

/// Both tables as box-drawn text, their widest cells wrapped to fit
/// `max_width` columns when given (a terminal's width).
pub fn log_tables_within(plan: &Plan, max_width: Option<usize>) -> String {
    let mut out = text_table(
        SUPPORT_AND_STAGING_TITLE,
        &SUPPORT_AND_STAGING_HEADERS,
        support_and_staging_rows(&plan.support_and_staging, None),
        NO_SUPPORT_OR_STAGING,
        max_width,
    );
    out.push('\n');
    out.push_str(&text_table(
        PROD_HUBS_TITLE,
        &PROD_HUBS_HEADERS,
        prod_hub_rows(&plan.prod_hubs, None),
        NO_PROD_HUBS,
        max_width,
    ));
    if !(plan.staging_checks.is_empty() && plan.prod_checks.is_empty()) {
        out.push('\n');
        out.push_str(&text_table(
            HEALTH_CHECKS_TITLE,
            &HEALTH_CHECK_HEADERS,
            health_check_rows(&plan.staging_checks, &plan.prod_checks),
            "",
            max_width,
        ));
    }
    if !plan.before_steps.is_empty() {
        out.push('\n');
        out.push_str(&text_table(
            BEFORE_STEPS_TITLE,
            &BEFORE_STEPS_HEADERS,
            before_step_rows(&plan.before_steps),
            "",
            max_width,
        ));
        out.push_str(BEFORE_STEPS_NOTE);
        out.push('\n');
    }
    if !plan.removed_hubs.is_empty() {
        out.push('\n');
        out.push_str(&text_table(
            REMOVED_HUBS_TITLE,
            &REMOVED_HUBS_HEADERS,
            removed_hub_rows(&plan.removed_hubs),
            "",
            max_width,
        ));
        out.push_str(REMOVED_HUBS_NOTE);
        out.push('\n');
    }
    out
}

/// What the Markdown views of a plan show. Built from a [`Plan`], or from an
/// untrusted `plan.json` once validated: every cell is escaped either way.
#[derive(Debug, Clone)]
pub struct PlanMarkdown<'a> {
    pub support_and_staging: &'a [SupportAndStagingJob],
    pub prod_hubs: &'a [ProdHubJob],
    pub warnings: Vec<String>,
    pub removed_hubs: &'a [RemovedHub],
    /// Health checks without an upgrade: staging hubs, then prod hubs.
    pub staging_checks: &'a [HealthCheckJob],
    pub prod_checks: &'a [HealthCheckJob],
    /// Clusters where `before` steps run ahead of some charts' releases.
    pub before_steps: &'a [BeforeStepsNote],
    /// The rendered-manifest diff, when one was made: the tables gain a
    /// column and the diff follows them. A [`Plan`] has none.
    pub manifest_diff: Option<&'a ManifestDiff>,
}

impl<'a> From<&'a Plan> for PlanMarkdown<'a> {
    fn from(plan: &'a Plan) -> Self {
        PlanMarkdown {
            support_and_staging: &plan.support_and_staging,
            prod_hubs: &plan.prod_hubs,
            warnings: plan.warnings.iter().map(PlanWarning::to_string).collect(),
            removed_hubs: &plan.removed_hubs,
            staging_checks: &plan.staging_checks,
            prod_checks: &plan.prod_checks,
            before_steps: &plan.before_steps,
            manifest_diff: None,
        }
    }
}

/// A titled part of the Markdown: a head that is always shown, and rows
/// that may be left out from the end to fit a size limit.
struct Block {
    head: String,
    rows: Vec<String>,
    /// Shown instead of the rows when there never were any.
    empty: Option<&'static str>,
}

fn blocks(view: &PlanMarkdown<'_>) -> Vec<Block> {
    let section = |title: &str, headers: &[&str], rows: Vec<Vec<String>>, empty: &'static str| {
        let has_rows = !rows.is_empty();
        Block {
            head: if has_rows {
                format!("{title}\n\n{}", markdown::table_header(headers))
            } else {
                format!("{title}\n\n")
            },
            rows: rows.iter().map(|row| markdown::table_row(row)).collect(),
            empty: (!has_rows).then_some(empty),
        }
    };
    let diff = view.manifest_diff;
    vec![
        section(
            "### Support and Staging deployments",
            &headers_with_diff(&SUPPORT_AND_STAGING_HEADERS, diff),
            support_and_staging_rows(view.support_and_staging, diff),
            NO_SUPPORT_OR_STAGING,
        ),
        section(
            "\n### Production deployments",
            &headers_with_diff(&PROD_HUBS_HEADERS, diff),
            prod_hub_rows(view.prod_hubs, diff),
            NO_PROD_HUBS,
        ),
        Block {
            head: if view.staging_checks.is_empty() && view.prod_checks.is_empty() {
                String::new()
            } else {
                format!("\n### {HEALTH_CHECKS_TITLE}\n\n{}", markdown::table_header(&HEALTH_CHECK_HEADERS))
            },
            rows: health_check_rows(view.staging_checks, view.prod_checks)
                .iter()
                .map(|row| markdown::table_row(row))
                .collect(),
            empty: None,
        },
        Block {
            head: if view.before_steps.is_empty() {
                String::new()
            } else {
                format!(
                    "\n### {BEFORE_STEPS_TITLE}\n\n{BEFORE_STEPS_NOTE}\n\n{}",
                    markdown::table_header(&BEFORE_STEPS_HEADERS)
                )
            },
            rows: before_step_rows(view.before_steps).iter().map(|row| markdown::table_row(row)).collect(),
            empty: None,
        },
        Block {
            head: if view.removed_hubs.is_empty() {
                String::new()
            } else {
                format!(
                    "\n### {REMOVED_HUBS_TITLE}\n\n{REMOVED_HUBS_NOTE}\n\n{}",
                    markdown::table_header(&REMOVED_HUBS_HEADERS)
                )
            },
            rows: removed_hub_rows(view.removed_hubs).iter().map(|row| markdown::table_row(row)).collect(),
            empty: None,
        },
        Block {
            head: String::new(),
            rows: view.warnings.iter().map(|w| format!("\n> [!WARNING]\n> {}\n", markdown::escape_cell(w))).collect(),
            empty: None,
        },
    ]
}

/// The blocks with only their first `keep` rows, counted across blocks in order.
fn render_blocks(blocks: &[Block], mut keep: usize) -> String {
    let mut out = String::new();
    for block in blocks {
        out.push_str(&block.head);
        if let Some(empty) = block.empty {
            out.push_str(empty);
            out.push('\n');
        }
        for row in block.rows.iter().take(keep) {
            out.push_str(row);
        }
        keep = keep.saturating_sub(block.rows.len());
    }
    out
}

fn chars(text: &str) -> usize {
    text.chars().count()
}

/// The note that replaces rows left out.
fn omitted_note(omitted: usize, limit: usize, run_url: Option<&str>) -> String {
    let where_ = match run_url {
        Some(url) => format!("The full plan is in [the workflow run]({url})."),
        None => "The full plan is in the workflow run's summary.".to_owned(),
    };
    format!(
        "\n> [!NOTE]\n> {omitted} more rows are not shown, to keep this comment under {limit} characters. {where_}\n"
    )
}

/// `intro` and the plan's sections in at most `limit` characters: when the
/// whole does not fit, rows are left out from the end, at a row boundary, and
/// a note says how many and where to see them. The manifest diff, when the
/// view has one, follows in what the tables leave (room for its note is kept),
/// cut at object boundaries ([`manifest_change::section_within`]); when the head edits
/// `render.ignore`, a note says so above the tables ([`manifest_change::render_ignore_note`]).
pub fn markdown_within(view: &PlanMarkdown<'_>, intro: &str, limit: usize, run_url: Option<&str>) -> String {
    let Some(manifest_diff) = view.manifest_diff else {
        return tables_within(view, intro, limit, limit, run_url);
    };
    let with_note;
    let intro = if manifest_diff.head_render_ignore_differs {
        with_note = format!("{intro}{}", manifest_change::render_ignore_note());
        with_note.as_str()
    } else {
        intro
    };
    let reserve = manifest_change::section_reserve(manifest_diff, limit, run_url);
    let mut out = tables_within(view, intro, limit.saturating_sub(reserve), limit, run_url);
    let left = limit.saturating_sub(chars(&out));
    out.push_str(&manifest_change::section_within(manifest_diff, left, limit, run_url));
    out
}

/// `intro` and the tables (with removed hubs and warnings), rows cut to fit
/// `room` characters; `limit` is the whole text's, for the note.
fn tables_within(view: &PlanMarkdown<'_>, intro: &str, room: usize, limit: usize, run_url: Option<&str>) -> String {
    let blocks = blocks(view);
    let total: usize = blocks.iter().map(|b| b.rows.len()).sum();
    let full = format!("{intro}{}", render_blocks(&blocks, total));
    if chars(&full) <= room {
        return full;
    }
    let fixed = chars(intro) + chars(&render_blocks(&blocks, 0)) + chars(&omitted_note(total, limit, run_url));
    let mut budget = room.saturating_sub(fixed);
    let mut keep = 0;
    for row in blocks.iter().flat_map(|b| b.rows.iter()) {
        let size = chars(row);
        if size > budget {
            break;
        }
        budget -= size;
        keep += 1;
    }
    let cut = format!("{intro}{}{}", render_blocks(&blocks, keep), omitted_note(total - keep, limit, run_url));
    if chars(&cut) <= room {
        cut
    } else {
        // Even the headings do not fit (only with absurdly small limits): cut at a line.
        truncate_at_line(&cut, room)
    }
}

/// The longest prefix of whole lines within `limit` characters.
pub fn truncate_at_line(text: &str, limit: usize) -> String {
    let mut out = String::new();
    let mut used = 0;
    for line in text.split_inclusive('\n') {
        let size = chars(line);
        if used + size > limit {
            break;
        }
        out.push_str(line);
        used += size;
    }
    out
}

/// The heading of the step summary.
pub const STEP_SUMMARY_INTRO: &str = "## Deployment plan\n\n";

/// The step summary: the plan's sections under a heading, then warnings.
pub fn step_summary(plan: &Plan) -> String {
    step_summary_within(&plan.into(), usize::MAX, None)
}

/// The step summary of any view (one with a manifest diff too), in at most `limit` characters.
pub fn step_summary_within(view: &PlanMarkdown<'_>, limit: usize, run_url: Option<&str>) -> String {
    markdown_within(view, STEP_SUMMARY_INTRO, limit, run_url)
}

/// The start of every plan comment, after its marker line.
pub const COMMENT_INTRO: &str = "Merging this PR will trigger the following deployment actions.";

/// The PR comment: the marker line, an introduction and the plan's sections.
pub fn comment(plan: &Plan) -> String {
    comment_within(&plan.into(), COMMENT_MARKER, usize::MAX, None)
}

/// The PR comment with another marker, in at most `limit` characters.
pub fn comment_within(view: &PlanMarkdown<'_>, marker: &str, limit: usize, run_url: Option<&str>) -> String {
    markdown_within(view, &format!("{marker}\n{COMMENT_INTRO}\n\n"), limit, run_url)
}

/// `deployer generate --output json`: every key is always there (an empty array when the plan has
/// nothing for it); the three-stage matrices only with `--matrix-shape three-stage`. Its JSON Schema is
/// `deployer schema generate-output` (`schemas/generate-output.schema.json`).
#[derive(Debug, serde::Serialize, schemars::JsonSchema)]
#[schemars(title = "deployer generate --output json")]
pub struct GenerateJson<'a> {
    /// One item per cluster, or batched legs past `max-jobs`.
    #[serde(rename = "support-and-staging-matrix-jobs")]
    pub support_and_staging: &'a [crate::planning::legs::SupportAndStagingLeg],
    /// One item per prod hub, or batched legs past `max-jobs`.
    #[serde(rename = "prod-hub-matrix-jobs")]
    pub prod_hubs: &'a [crate::planning::legs::ProdLeg],
    /// Hubs that `cluster.yaml` edits removed (nothing uninstalls them: the plan notes them).
    pub removed_hubs: &'a [RemovedHub],
    /// Every planned health check, one item per hub: staging hubs first, then prod hubs (not packed).
    #[serde(rename = "health-check-matrix-jobs")]
    pub health_checks: Vec<HealthCheckJob>,
    /// The staging health checks: one item per cluster, or batched legs past `max-jobs`.
    #[serde(rename = "health-check-staging-matrix-jobs")]
    pub health_check_staging: &'a [crate::planning::legs::HealthCheckLeg],
    /// The prod health checks: one item per hub, or batched legs past `max-jobs`.
    #[serde(rename = "health-check-prod-matrix-jobs")]
    pub health_check_prod: &'a [crate::planning::legs::HealthCheckLeg],
    /// `support-jobs`, `staging-jobs` and `prod-jobs`: only with `--matrix-shape three-stage`.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub three_stage: Option<&'a crate::planning::three_stage::ThreeStage>,
}

/// The matrices, packed into `legs`, as one JSON object ([`GenerateJson`]), pretty-printed.
pub fn plan_json(plan: &Plan, legs: &crate::planning::legs::Legs) -> String {
    plan_json_with(plan, legs, None)
}

/// [`plan_json`], with the three-stage matrices (`support-jobs`, `staging-jobs`, `prod-jobs`) after the others
/// when given.
pub fn plan_json_with(
    plan: &Plan,
    legs: &crate::planning::legs::Legs,
    three_stage: Option<&crate::planning::three_stage::ThreeStage>,
) -> String {
    let matrices = GenerateJson {
        support_and_staging: &legs.support_and_staging,
        prod_hubs: &legs.prod,
        removed_hubs: &plan.removed_hubs,
        health_checks: plan.health_checks(),
        health_check_staging: &legs.health_check_staging,
        health_check_prod: &legs.health_check_prod,
        three_stage,
    };
    // Serialising plain structs of strings and booleans cannot fail.
    let mut json = serde_json::to_string_pretty(&matrices).unwrap_or_default();
    json.push('\n');
    json
}

/// Title of the filter's table.
pub const FILTER_TITLE: &str = "Prod hub upgrades after the staging canaries";
/// The same for health checks.
pub const FILTER_CHECKS_TITLE: &str = "Prod health checks after the staging checks";
const NO_PROD_CHECKS: &str = "No production health checks will be run";

/// The filter's title, the word for a kept job, and what an empty table says.
fn filter_words(outcome: &FilterOutcome) -> (&'static str, &'static str, &'static str) {
    if outcome.health_checks {
        (FILTER_CHECKS_TITLE, "Check", NO_PROD_CHECKS)
    } else {
        (FILTER_TITLE, "Deploy", NO_PROD_HUBS)
    }
}
const FILTER_HEADERS: [&str; 4] = ["Cluster Name", "Hub Name", "Decision", "Reason"];

fn filter_rows(outcome: &FilterOutcome) -> Vec<Vec<String>> {
    let (_, keep, _) = filter_words(outcome);
    let kept = outcome.kept.iter().map(|job| {
        vec![job.cluster_name.clone(), job.hub_name.clone(), keep.to_owned(), job.reason_for_redeploy.clone()]
    });
    let dropped = outcome
        .dropped
        .iter()
        .map(|job| vec![job.cluster_name.clone(), job.hub_name.clone(), "Skip".to_owned(), job.reason.clone()]);
    kept.chain(dropped).collect()
}

/// The filter's decisions as a box-drawn table.
pub fn filter_table(outcome: &FilterOutcome) -> String {
    let (title, _, empty) = filter_words(outcome);
    text_table(title, &FILTER_HEADERS, filter_rows(outcome), empty, None)
}

/// The filter's decisions for the step summary.
pub fn filter_summary(outcome: &FilterOutcome) -> String {
    let (title, _, empty) = filter_words(outcome);
    let mut out = format!("## {title}\n\n");
    let rows = filter_rows(outcome);
    if rows.is_empty() {
        out.push_str(empty);
        out.push('\n');
    } else {
        out.push_str(&markdown::table(&FILTER_HEADERS, &rows));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Provider;

    fn plan(hubs: usize) -> Plan {
        Plan {
            support_and_staging: vec![],
            prod_hubs: (0..hubs)
                .map(|i| ProdHubJob {
                    cluster_name: "c".into(),
                    provider: Provider::Aws,
                    hub_name: format!("hub{i}"),
                    reason_for_redeploy: "r".into(),
                    rollout: None,
                })
                .collect(),
            ..Plan::default()
        }
    }

    #[test]
    fn removed_hubs_are_noted_only_when_there_are_some_and_the_json_key_is_always_there() {
        let mut with = plan(1);
        with.removed_hubs = vec![RemovedHub { cluster_name: "c".into(), hub_name: "gone".into() }];
        let tables = log_tables(&with);
        assert!(tables.contains(REMOVED_HUBS_TITLE), "{tables}");
        assert!(tables.contains("gone") && tables.ends_with(&format!("{REMOVED_HUBS_NOTE}\n")), "{tables}");
        let summary = step_summary(&with);
        assert!(summary.contains(&format!("### {REMOVED_HUBS_TITLE}\n\n{REMOVED_HUBS_NOTE}\n\n")), "{summary}");
        assert!(summary.contains("| c | gone |"), "{summary}");
        let legs = |plan: &Plan| crate::planning::legs::pack(&plan.support_and_staging, &plan.prod_hubs, 256);
        assert!(plan_json(&with, &legs(&with)).contains("\"removed_hubs\": [\n    {\n      \"cluster_name\": \"c\""));
        // Without removed hubs, every view is as it always was; the JSON has the key, empty.
        for text in [log_tables(&plan(1)), step_summary(&plan(1)), comment(&plan(1))] {
            assert!(!text.contains("removed") && !text.contains("Removed"), "{text}");
        }
        let json = plan_json(&plan(1), &legs(&plan(1)));
        assert!(json.contains("\"removed_hubs\": [],\n"), "{json}");
    }

    #[test]
    fn long_comments_are_cut_at_a_row_boundary_with_a_note() {
        let full = comment(&plan(100));
        for limit in [1000, 2000, full.chars().count() - 1] {
            let cut = comment_within(&(&plan(100)).into(), COMMENT_MARKER, limit, Some("https://example.org/run/1"));
            assert!(cut.chars().count() <= limit, "{limit}: {}", cut.chars().count());
            assert!(cut.starts_with(COMMENT_MARKER));
            let shown = cut.lines().filter(|l| l.starts_with("| aws |")).count();
            assert!(cut.contains(&format!("> {} more rows are not shown", 100 - shown)), "{cut}");
            assert!(cut.contains("[the workflow run](https://example.org/run/1)"));
            // Every table line is whole.
            assert!(cut.lines().filter(|l| l.starts_with('|')).all(|l| l.ends_with('|')));
        }
        assert_eq!(comment_within(&(&plan(100)).into(), COMMENT_MARKER, full.chars().count(), None), full);
        let tiny = comment_within(&(&plan(100)).into(), COMMENT_MARKER, 40, None);
        assert_eq!(tiny, format!("{COMMENT_MARKER}\n"));
    }
}
