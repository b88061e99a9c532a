//! `deployer health-check`: the health check of a cluster's hubs, and nothing else.

use std::process::ExitCode;

use super::RepoArgs;

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("checked").required(true).multiple(true).args(["hub", "hubs"])))]
pub(super) struct HealthCheckArgs {
    #[command(flatten)]
    repo: RepoArgs,
    /// The cluster name.
    #[arg(long, value_name = "NAME")]
    cluster: String,
    /// A hub to check (repeatable).
    #[arg(long, value_name = "HUB")]
    hub: Vec<String>,
    /// Hubs to check: comma-separated, or a JSON array.
    #[arg(long, value_name = "LIST")]
    hubs: Option<String>,
    /// The check: a shell command (`sh -c`), with CLUSTER_NAME and HUB_NAME set; exit 0 is healthy.
    #[arg(long, value_name = "COMMAND")]
    command: String,
    /// Attempts after the first.
    #[arg(long, value_name = "N", default_value_t = deployer::cluster::deploy::DEFAULT_HEALTH_CHECK_RETRIES)]
    retries: u32,
    /// Seconds before an attempt is stopped.
    #[arg(long, value_name = "SECS", default_value_t = deployer::cluster::deploy::DEFAULT_HEALTH_CHECK_TIMEOUT_SECS,
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    timeout: u64,
    /// Seconds between attempts.
    #[arg(long, value_name = "SECS", default_value_t = deployer::cluster::deploy::DEFAULT_HEALTH_CHECK_DELAY_SECS,
          value_parser = clap::value_parser!(u64).range(0..=86_400))]
    delay: u64,
    /// Print the commands instead of running them.
    #[arg(long)]
    dry_run: bool,
}

pub(super) fn run(args: HealthCheckArgs) -> anyhow::Result<ExitCode> {
    let HealthCheckArgs { repo, cluster, hub, hubs, command, retries, timeout, delay, dry_run } = args;
    use deployer::cluster::deploy::{self, run::LogStyle};
    let mut names = hub;
    if let Some(list) = hubs {
        names.extend(deploy::parse_hub_list("--hubs", &list)?);
    }
    let request = deploy::DeployRequest {
        repo: repo.repo,
        config: repo.config,
        cluster,
        support: false,
        hubs: names,
        options: deploy::DeployOptions::default(),
        health_check: Some(deploy::HealthCheck {
            command,
            retries,
            timeout: std::time::Duration::from_secs(timeout),
            delay: std::time::Duration::from_secs(delay),
        }),
        dry_run,
        env: Vec::new(),
        before: deploy::BeforeMode::Run,
        records: deploy::records::ReleaseRecords::default(),
    };
    let style = match std::env::var("GITHUB_ACTIONS").as_deref() {
        Ok("true") => LogStyle::Actions,
        _ => LogStyle::Plain,
    };
    deploy::run::check_hubs(&request, style)?;
    Ok(ExitCode::SUCCESS)
}
