//! `deployer explain`: what each path would upgrade on its own, and why.

use std::process::ExitCode;

use deployer::base::runner;
use deployer::config::load::{load_chart_inputs, load_estate, load_settings};
use deployer::planning::explain;

use super::RepoArgs;

#[derive(Debug, clap::Args)]
pub(super) struct ExplainArgs {
    #[command(flatten)]
    repo: RepoArgs,
    /// Repository-relative paths.
    #[arg(required = true, value_name = "PATH")]
    paths: Vec<String>,
}

pub(super) fn run(args: ExplainArgs) -> anyhow::Result<ExitCode> {
    let ExplainArgs { repo, paths } = args;
    let settings = load_settings(&repo.repo, repo.config.as_deref())?;
    let estate = load_estate(&repo.repo, &settings)?;
    let charts = load_chart_inputs(&repo.repo, &estate)?;
    runner::print(&explain::render(&explain::explain(&estate, &charts, &settings, &paths)));
    Ok(ExitCode::SUCCESS)
}
