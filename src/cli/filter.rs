//! `deployer filter`: the prod hub jobs left once the support-and-staging legs have run.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::ValueEnum;
use deployer::base::runner;
use deployer::planning::filter::{self, parse_results};
use deployer::presentation as render;
use deployer::stages::filter::{inputs as filter_inputs, parse_matrix};

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("jobs").required(true).multiple(true).args(["plan", "prod_jobs"])))]
pub(super) struct FilterArgs {
    /// Both matrices at once: the whole `deployer generate --output json`, or a plan folder's `plan.json` (a file).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["prod_jobs", "support_and_staging_jobs"])]
    plan: Option<PathBuf>,
    /// The prod-hub-matrix-jobs JSON generate wrote (a file: the array, or the whole generate JSON).
    #[arg(long, value_name = "FILE", requires = "support_and_staging_jobs")]
    prod_jobs: Option<PathBuf>,
    /// The support-and-staging-matrix-jobs JSON generate wrote (a file: the array, or the whole generate JSON).
    #[arg(long, value_name = "FILE", requires = "prod_jobs")]
    support_and_staging_jobs: Option<PathBuf>,
    /// Each cluster's leg result: {"cluster": "success"|"failure"|"cancelled"|"skipped"}.
    #[arg(long, value_name = "JSON")]
    results: String,
    /// How to print the outcome.
    #[arg(long, value_enum, default_value_t = FilterFormat::Table)]
    output: FilterFormat,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum FilterFormat {
    /// A box-drawn table of kept and dropped hubs.
    Table,
    /// {"filtered-prod-hub-matrix-jobs": [...], "dropped": [...]}
    Json,
}

pub(super) fn run(args: FilterArgs) -> anyhow::Result<ExitCode> {
    let FilterArgs { plan, prod_jobs, support_and_staging_jobs, results, output } = args;
    let read = |path: &PathBuf| std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()));
    // clap guarantees either `--plan` or both matrix files.
    let (prod_text, prod_flag, legs_text, legs_flag) = match (&plan, &prod_jobs, &support_and_staging_jobs) {
        (Some(plan), _, _) => {
            let text = read(plan)?;
            (text.clone(), "--plan", text, "--plan")
        }
        (None, Some(prod), Some(legs)) => (read(prod)?, "--prod-jobs", read(legs)?, "--support-and-staging-jobs"),
        _ => anyhow::bail!("pass --plan FILE, or both --prod-jobs FILE and --support-and-staging-jobs FILE"),
    };
    let prod_legs: Vec<deployer::planning::legs::ProdLeg> =
        parse_matrix(prod_flag, filter_inputs::PROD_HUBS, Some(&prod_text))?;
    let canary_legs: Vec<deployer::planning::legs::SupportAndStagingLeg> =
        parse_matrix(legs_flag, filter_inputs::SUPPORT_AND_STAGING, Some(&legs_text))?;
    let (prod, legs) =
        (deployer::planning::legs::prod_jobs(&prod_legs), deployer::planning::legs::canary_jobs(&canary_legs));
    let results = parse_results("--results", &results, &legs)?;
    let mut outcome = filter::filter(&prod, &legs, &results);
    outcome.kept_legs = filter::kept_legs(&prod_legs, &outcome);
    for warning in &outcome.warnings {
        runner::print_stderr(&format!("warning: {warning}"));
    }
    match output {
        FilterFormat::Table => runner::print(&render::filter_table(&outcome)),
        FilterFormat::Json => {
            let json = serde_json::json!({
                "filtered-prod-hub-matrix-jobs": outcome.kept_legs,
                "dropped": outcome.dropped,
            });
            runner::print_json(&format!("{}\n", serde_json::to_string_pretty(&json)?));
        }
    }
    Ok(ExitCode::SUCCESS)
}
