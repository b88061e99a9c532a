//! The plan as people read it: log tables, the step summary and the PR comment.
//! Column choices live here once and every format uses them.

pub mod markdown;
pub mod table;

use crate::filter::FilterOutcome;
use crate::plan::{Plan, PlanWarning, ProdHubJob, SupportAndStagingJob};

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

fn support_and_staging_rows(jobs: &[SupportAndStagingJob]) -> Vec<Vec<String>> {
    jobs.iter()
        .map(|job| {
            vec![
                job.provider.as_str().to_owned(),
                job.cluster_name.clone(),
                yes_no(job.upgrade_support),
                job.reason_for_support_redeploy.clone(),
                yes_no(job.upgrade_staging),
                job.staging_hubs.join(", "),
                job.reason_for_staging_redeploy.clone(),
            ]
        })
        .collect()
}

fn prod_hub_rows(jobs: &[ProdHubJob]) -> Vec<Vec<String>> {
    jobs.iter()
        .map(|job| {
            vec![
                job.provider.as_str().to_owned(),
                job.cluster_name.clone(),
                job.hub_name.clone(),
                job.reason_for_redeploy.clone(),
            ]
        })
        .collect()
}

fn text_table(title: &str, headers: &[&str], rows: Vec<Vec<String>>, empty: &str) -> String {
    if rows.is_empty() {
        return format!("{title}\n{empty}\n");
    }
    table::render(&table::Table {
        title: title.to_owned(),
        headers: headers.iter().map(|h| (*h).to_owned()).collect(),
        rows,
    })
}

/// Both tables as box-drawn text, for the job log and the terminal.
pub fn log_tables(plan: &Plan) -> String {
    let mut out = text_table(
        SUPPORT_AND_STAGING_TITLE,
        &SUPPORT_AND_STAGING_HEADERS,
        support_and_staging_rows(&plan.support_and_staging),
        NO_SUPPORT_OR_STAGING,
    );
    out.push('\n');
    out.push_str(&text_table(PROD_HUBS_TITLE, &PROD_HUBS_HEADERS, prod_hub_rows(&plan.prod_hubs), NO_PROD_HUBS));
    out
}

/// The two Markdown sections shared by the step summary and the comment.
fn markdown_sections(plan: &Plan) -> String {
    let mut out = String::from("### Support and Staging deployments\n\n");
    if plan.support_and_staging.is_empty() {
        out.push_str(NO_SUPPORT_OR_STAGING);
        out.push('\n');
    } else {
        out.push_str(&markdown::table(
            &SUPPORT_AND_STAGING_HEADERS,
            &support_and_staging_rows(&plan.support_and_staging),
        ));
    }
    out.push_str("\n### Production deployments\n\n");
    if plan.prod_hubs.is_empty() {
        out.push_str(NO_PROD_HUBS);
        out.push('\n');
    } else {
        out.push_str(&markdown::table(&PROD_HUBS_HEADERS, &prod_hub_rows(&plan.prod_hubs)));
    }
    out
}

fn markdown_warnings(warnings: &[PlanWarning]) -> String {
    let mut out = String::new();
    for warning in warnings {
        out.push_str("\n> [!WARNING]\n> ");
        out.push_str(&markdown::escape_cell(&warning.to_string()));
        out.push('\n');
    }
    out
}

/// The step summary: the plan's sections under a heading, then warnings.
pub fn step_summary(plan: &Plan) -> String {
    let mut out = String::from("## Deployment plan\n\n");
    out.push_str(&markdown_sections(plan));
    out.push_str(&markdown_warnings(&plan.warnings));
    out
}

/// The PR comment: the marker line, an introduction and the plan's sections.
pub fn comment(plan: &Plan) -> String {
    let mut out = format!("{COMMENT_MARKER}\nMerging this PR will trigger the following deployment actions.\n\n");
    out.push_str(&markdown_sections(plan));
    out.push_str(&markdown_warnings(&plan.warnings));
    out
}

/// The matrices as one JSON object with the two output keys, pretty-printed.
pub fn plan_json(plan: &Plan) -> String {
    #[derive(serde::Serialize)]
    struct Matrices<'a> {
        #[serde(rename = "support-and-staging-matrix-jobs")]
        support_and_staging: &'a [SupportAndStagingJob],
        #[serde(rename = "prod-hub-matrix-jobs")]
        prod_hubs: &'a [ProdHubJob],
    }
    let matrices = Matrices { support_and_staging: &plan.support_and_staging, prod_hubs: &plan.prod_hubs };
    // Serialising plain structs of strings and booleans cannot fail.
    let mut json = serde_json::to_string_pretty(&matrices).unwrap_or_default();
    json.push('\n');
    json
}

/// Title of the filter's table.
pub const FILTER_TITLE: &str = "Prod hub upgrades after the staging canaries";
const FILTER_HEADERS: [&str; 4] = ["Cluster Name", "Hub Name", "Decision", "Reason"];

fn filter_rows(outcome: &FilterOutcome) -> Vec<Vec<String>> {
    let kept = outcome.kept.iter().map(|job| {
        vec![job.cluster_name.clone(), job.hub_name.clone(), "Deploy".to_owned(), job.reason_for_redeploy.clone()]
    });
    let dropped = outcome
        .dropped
        .iter()
        .map(|job| vec![job.cluster_name.clone(), job.hub_name.clone(), "Skip".to_owned(), job.reason.clone()]);
    kept.chain(dropped).collect()
}

/// The filter's decisions as a box-drawn table.
pub fn filter_table(outcome: &FilterOutcome) -> String {
    text_table(FILTER_TITLE, &FILTER_HEADERS, filter_rows(outcome), NO_PROD_HUBS)
}

/// The filter's decisions for the step summary.
pub fn filter_summary(outcome: &FilterOutcome) -> String {
    let mut out = format!("## {FILTER_TITLE}\n\n");
    let rows = filter_rows(outcome);
    if rows.is_empty() {
        out.push_str(NO_PROD_HUBS);
        out.push('\n');
    } else {
        out.push_str(&markdown::table(&FILTER_HEADERS, &rows));
    }
    out
}
