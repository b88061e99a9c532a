//! `deployer deploy`: `helm upgrade --install` of a cluster's support chart and hubs, in order.

use std::process::ExitCode;

use super::RepoArgs;

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("targets").required(true).multiple(true).args(["support", "hub", "hubs"])))]
pub(super) struct DeployArgs {
    #[command(flatten)]
    repo: RepoArgs,
    /// The cluster name.
    #[arg(long, value_name = "NAME")]
    cluster: String,
    /// Upgrade the cluster's support chart (first).
    #[arg(long)]
    support: bool,
    /// A hub to upgrade (repeatable).
    #[arg(long, value_name = "HUB")]
    hub: Vec<String>,
    /// Hubs to upgrade: comma-separated, or a JSON array (such as a plan row's `staging_hubs`).
    #[arg(long, value_name = "LIST")]
    hubs: Option<String>,
    /// `helm upgrade --timeout`.
    #[arg(long, value_name = "DURATION", default_value = deployer::cluster::deploy::DEFAULT_TIMEOUT)]
    timeout: String,
    /// How to wait for the release to be ready: `rollout` (default: helm without `--wait`, then its Deployments
    /// and DaemonSets watched until rolled out, failing at once when one cannot progress), `helm` (helm's own
    /// `--wait`) or `none`; `true`/`false` are `helm`/`none`.
    #[arg(long, value_name = "MODE", conflicts_with = "no_wait")]
    wait: Option<String>,
    /// Do not wait for the release's resources to be ready: `--wait none`.
    #[arg(long)]
    no_wait: bool,
    /// Roll back to the last good release when an upgrade fails (with `--wait rollout`, the deploy runs
    /// `helm rollback` after a failed upgrade or rollout; else helm 3 `--atomic`, helm 4 `--rollback-on-failure`).
    #[arg(long)]
    atomic: bool,
    /// A release left pending by a stopped deploy: `rollback` (default: roll it back, then upgrade) or `fail`.
    #[arg(long, value_name = "WHAT")]
    pending_release: Option<String>,
    /// A shell command (`sh -c`) run after each hub upgrade, with CLUSTER_NAME and HUB_NAME set.
    #[arg(long, value_name = "COMMAND")]
    health_check: Option<String>,
    /// Health-check attempts after the first.
    #[arg(long, value_name = "N", default_value_t = deployer::cluster::deploy::DEFAULT_HEALTH_CHECK_RETRIES)]
    health_check_retries: u32,
    /// Seconds before a health-check attempt is stopped.
    #[arg(long, value_name = "SECS", default_value_t = deployer::cluster::deploy::DEFAULT_HEALTH_CHECK_TIMEOUT_SECS,
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    health_check_timeout: u64,
    /// Seconds between health-check attempts.
    #[arg(long, value_name = "SECS", default_value_t = deployer::cluster::deploy::DEFAULT_HEALTH_CHECK_DELAY_SECS,
          value_parser = clap::value_parser!(u64).range(0..=86_400))]
    health_check_delay: u64,
    /// Print the commands instead of running them (nothing is decrypted).
    #[arg(long)]
    dry_run: bool,
    /// Deploy to the current kubectl context without checking that it is the cluster's (and without using
    /// the cluster's `kubeconfig.file`): helm and kubectl use KUBECONFIG as it is.
    #[arg(long)]
    use_current_context: bool,
}

pub(super) fn run(args: DeployArgs) -> anyhow::Result<ExitCode> {
    let DeployArgs {
        repo,
        cluster,
        support,
        hub,
        hubs,
        timeout,
        wait,
        no_wait,
        atomic,
        pending_release,
        health_check,
        health_check_retries,
        health_check_timeout,
        health_check_delay,
        dry_run,
        use_current_context,
    } = args;
    use deployer::cluster::deploy::{self, run::LogStyle};
    let mut names = hub;
    if let Some(list) = hubs {
        names.extend(deploy::parse_hub_list("--hubs", &list)?);
    }
    deploy::check_timeout("--timeout", &timeout)?;
    let wait = match (wait, no_wait) {
        (Some(text), _) => deploy::Wait::parse("--wait", &text)?,
        (None, true) => deploy::Wait::None,
        (None, false) => deploy::Wait::default(),
    };
    let pending = match pending_release {
        Some(text) => deploy::PendingRelease::parse("--pending-release", &text)?,
        None => deploy::PendingRelease::default(),
    };
    let mut request = deploy::DeployRequest {
        repo: repo.repo,
        config: repo.config,
        cluster,
        support,
        hubs: names,
        options: deploy::DeployOptions { timeout, wait, atomic, pending, ..deploy::DeployOptions::default() },
        health_check: health_check.map(|command| deploy::HealthCheck {
            command,
            retries: health_check_retries,
            timeout: std::time::Duration::from_secs(health_check_timeout),
            delay: std::time::Duration::from_secs(health_check_delay),
        }),
        dry_run,
        env: Vec::new(),
        before: deploy::BeforeMode::Run,
        // No deployment records from the command line: they need the workflow run's token and run to link.
        records: deploy::records::ReleaseRecords::default(),
    };
    // Inside a GitHub Actions `run:` step, group and fence the output as the action does.
    let style = match std::env::var("GITHUB_ACTIONS").as_deref() {
        Ok("true") => LogStyle::Actions,
        _ => LogStyle::Plain,
    };
    // The cluster's own kubeconfig, or the current context checked, before helm, kubectl or sops run;
    // the private kubeconfig is removed when `access` is dropped (on every return path).
    let getenv = |name: &str| std::env::var(name).ok();
    let access = deploy::target_cluster::prepare(&request, use_current_context, style == LogStyle::Actions, &getenv)?;
    request.env.extend(access.env.iter().cloned());
    deploy::run::deploy(&request, style)?;
    drop(access);
    Ok(ExitCode::SUCCESS)
}
