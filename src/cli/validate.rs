//! `deployer validate`: the settings, every cluster file and their charts checked (optionally rendered).

use std::process::ExitCode;

use deployer::base::runner;
use deployer::config::load::{load, load_chart_inputs, load_settings, LoadOptions};

use super::RepoArgs;

#[derive(Debug, clap::Args)]
pub(super) struct ValidateArgs {
    #[command(flatten)]
    repo: RepoArgs,
    /// Also list, as notices, every key of the cluster files that the deployer does not read.
    #[arg(long)]
    strict: bool,
    /// Also render every support chart and hub with `helm template` (encrypted values as placeholders, no
    /// key needed): a release that does not render is an error at its entry in its cluster.yaml.
    #[arg(long)]
    render: bool,
    /// The helm program (with --render).
    #[arg(long, value_name = "PROGRAM", default_value = "helm")]
    helm: String,
    /// Parallel `helm template` processes (with --render) [default: one per core].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=256))]
    workers: Option<u16>,
}

pub(super) fn run(args: ValidateArgs) -> anyhow::Result<ExitCode> {
    let ValidateArgs { repo, strict, render: render_charts, helm, workers } = args;
    let settings = load_settings(&repo.repo, repo.config.as_deref())?;
    let loaded = load(&repo.repo, &settings, LoadOptions { notices: strict })?;
    // Validation is strict: a cluster blocked by its own files is a problem to report.
    if !loaded.blocked.is_empty() {
        return Err(deployer::Error::Config(deployer::config::blocked_clusters::problems(&loaded.blocked)).into());
    }
    let charts = load_chart_inputs(&repo.repo, &loaded.estate)?;
    deployer::config::load::check_rollout_dependents(&settings, &loaded.estate, &charts)?;
    runner::report_diagnostics(runner::Level::Warning, &loaded.warnings, runner::Audience::Terminal);
    runner::report_diagnostics(runner::Level::Notice, &loaded.notices, runner::Audience::Terminal);
    let estate = loaded.estate;
    if render_charts {
        use deployer::manifest_diff::helm_template::{helm_env, HelmRuns, Progress};
        let how = HelmRuns {
            helm,
            workers: workers.map_or_else(deployer::stages::diff::default_workers, usize::from),
            timeout: deployer::manifest_diff::helm_template::DEFAULT_RENDER_TIMEOUT,
            env: helm_env(|name| std::env::var(name).ok()),
        };
        let progress = |event: Progress| match event {
            Progress::Rendered { done, total, .. } => {
                if done == total || done % 20 == 0 {
                    runner::print_stderr(&format!("validate: rendered {done}/{total}"));
                }
            }
            event @ Progress::DependencyBuilt { .. } => {
                runner::print_stderr(&format!("validate: {}", event.dependency_line().unwrap_or_default()))
            }
            Progress::Planned { .. } => {}
        };
        let problems =
            deployer::stages::diff::render_problems(&repo.repo, repo.config.as_deref(), &estate, &how, &progress)?;
        if !problems.is_empty() {
            return Err(deployer::Error::Config(problems).into());
        }
    }
    let hubs: usize = estate.clusters.iter().map(|c| c.hubs.len()).sum();
    runner::print(&format!("ok: {} clusters, {hubs} hubs\n", estate.clusters.len()));
    Ok(ExitCode::SUCCESS)
}
