//! `deployer explain`: what each path would upgrade on its own, and why.

use std::process::ExitCode;

use deployer::base::runner;
use deployer::config::blocked_clusters;
use deployer::config::load::{load, load_chart_inputs, load_settings, LoadOptions};
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
    let loaded = load(&repo.repo, &settings, LoadOptions::default())?;
    if !loaded.blocked.is_empty() {
        return Err(deployer::base::error::Error::Config(blocked_clusters::problems(&loaded.blocked)).into());
    }
    let charts = load_chart_inputs(&repo.repo, &loaded.estate)?;
    deployer::config::load::check_rollout_dependents(&settings, &loaded.estate, &charts)?;
    let pins = loaded.rollout_pins.as_ref();
    runner::print(&explain::render(&explain::explain(&loaded.estate, &charts, &settings, pins, &paths)));
    Ok(ExitCode::SUCCESS)
}
