//! The `deployer` command line: the argument model, the dispatch to one module per subcommand, and the helpers
//! several subcommands share. Part of the binary (`src/main.rs`), not of the library: it reports errors with
//! `anyhow`, which the library does not use.

mod deploy;
mod diff;
mod explain;
mod filter;
mod generate;
mod health_check;
mod rollout;
mod schema;
mod validate;

use std::path::PathBuf;
use std::process::{Command, ExitCode};

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use deployer::base::runner;

/// Plan Helm deployments across many Kubernetes clusters from one Git repository.
#[derive(Debug, Parser)]
#[command(name = "deployer", version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Commands,
}

/// Where the repository and its settings are.
#[derive(Debug, clap::Args)]
struct RepoArgs {
    /// The repository checkout.
    #[arg(long, default_value = ".", value_name = "DIR")]
    repo: PathBuf,
    /// Settings file, relative to the repository [default: deployer.yaml when present]
    #[arg(long, value_name = "PATH")]
    config: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum Commands {
    /// Plan which support charts, staging hubs and prod hubs a change upgrades.
    ///
    /// The changed paths come from --changed-files, from --base, or, as the Python deployer's
    /// `plan-upgrade "<files>" '<labels>'` took them, as positional arguments
    /// (`deployer generate a.yaml,b.yaml '["deployer:deploy-hubs"]'`; the older `helm-upgrade-jobs` word is accepted).
    Generate(generate::GenerateArgs),
    /// Show what each path would upgrade on its own, and why.
    Explain(explain::ExplainArgs),
    /// Check the settings, every cluster file and the charts they use, reporting all problems.
    Validate(validate::ValidateArgs),
    /// Drop the prod hub jobs of clusters whose support-and-staging leg did not succeed.
    Filter(filter::FilterArgs),
    /// Run `helm upgrade --install` for a cluster's support chart and/or hubs, in order; the first failure stops the rest.
    Deploy(deploy::DeployArgs),
    /// Run the health check of a cluster's hubs, and nothing else: never helm, never sops.
    ///
    /// For each hub, in order: `sh -c COMMAND` in the repository with CLUSTER_NAME and HUB_NAME set and the rest of
    /// the environment as it is, KUBECONFIG included (as setup-cluster exports it, or your own), tried 1 + --retries
    /// times. A failing hub does not stop the others; the exit status is non-zero when any hub failed.
    HealthCheck(health_check::HealthCheckArgs),
    /// Render every planned release with `helm template` at base and head and show what changes in the cluster.
    ///
    /// The base is a checkout of the base commit (--base-dir) or a Git revision (--base: its merge base with
    /// HEAD is checked out in a temporary worktree). The releases are the plan of --changed-files (or of
    /// `git diff` against --base), or the matrices of --plan. Encrypted values files are rendered as
    /// placeholders: no key is needed and no secret is shown.
    Diff(diff::DiffArgs),
    /// Print the JSON Schema of a configuration file, or of a JSON output.
    Schema(schema::SchemaArgs),
    /// Progressive rollouts: where each wave stands (`status`), moving a wave's pin (`promote`), and the
    /// next promotion's pull request for a scheduled workflow (`next`).
    Rollout(rollout::RolloutArgs),
}

/// How releases are rendered (`deployer diff`, `deployer generate --skip-unchanged`).
#[derive(Debug, clap::Args)]
struct RenderArgs {
    /// Drop from the matrices the releases whose rendered manifests, values files and pinned chart
    /// dependencies are all unchanged (for pushes; a failed render always deploys).
    #[arg(long)]
    skip_unchanged: bool,
    /// Parallel `helm template` processes [default: one per core].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=256))]
    workers: Option<u16>,
    /// The helm program.
    #[arg(long, value_name = "PROGRAM", default_value = "helm")]
    helm: String,
    /// Seconds before a render is stopped (and counted as failed).
    #[arg(long, value_name = "SECS", default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..=3600))]
    render_timeout: u64,
}

/// Parses the arguments and runs the subcommand; the exit status says how it went.
pub fn main() -> ExitCode {
    // Clap's messages quote the arguments, which a workflow may fill from
    // untrusted data: they go through the runner's sanitiser like all output.
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            let text = error.render().to_string();
            if error.use_stderr() {
                runner::print_stderr(text.trim_end());
            } else {
                runner::print(&text);
            }
            return ExitCode::from(u8::try_from(error.exit_code()).unwrap_or(2));
        }
    };
    match run(cli) {
        Ok(code) => code,
        Err(error) => match error.downcast_ref::<deployer::Error>() {
            Some(error) => {
                runner::print_stderr(&format!("error: {error}"));
                ExitCode::from(error.exit_code())
            }
            None => {
                runner::print_stderr(&format!("error: {error:#}"));
                ExitCode::FAILURE
            }
        },
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Commands::Generate(args) => generate::run(args),
        Commands::Explain(args) => explain::run(args),
        Commands::Validate(args) => validate::run(args),
        Commands::Filter(args) => filter::run(args),
        Commands::Deploy(args) => deploy::run(args),
        Commands::HealthCheck(args) => health_check::run(args),
        Commands::Diff(args) => diff::run(args),
        Commands::Schema(args) => schema::run(args),
        Commands::Rollout(args) => rollout::run(args),
    }
}

/// The paths `--base` plans: everything that differs between the merge base
/// with `base` and the working tree (commits since then, staged and unstaged
/// edits), plus untracked files that Git does not ignore. Says on stderr how
/// many of them are not committed, so that nobody is surprised either way.
fn git_changed_files(repo: &std::path::Path, base: &str) -> anyhow::Result<Vec<String>> {
    if base.starts_with('-') {
        bail!("--base `{base}` is not a Git revision");
    }
    let git = |args: &[&str]| git(repo, args);
    let split =
        |text: String| -> Vec<String> { text.split('\0').filter(|p| !p.is_empty()).map(str::to_owned).collect() };
    let merge_base = git(&["merge-base", base, "HEAD"])?.trim().to_owned();
    let committed = split(git(&["diff", "--name-only", "--no-renames", "-z", &format!("{merge_base}..HEAD"), "--"])?);
    let mut paths = split(git(&["diff", "--name-only", "--no-renames", "-z", &merge_base, "--"])?);
    paths.extend(split(git(&["ls-files", "--others", "--exclude-standard", "-z"])?));
    paths.sort();
    paths.dedup();
    let uncommitted = paths.iter().filter(|p| !committed.contains(p)).count();
    if uncommitted > 0 {
        runner::print_stderr(&format!(
            "note: planning {} changed paths since the merge base with {base}, {uncommitted} of them not committed \
             (the working tree is what is planned)",
            paths.len()
        ));
    }
    Ok(paths)
}

/// `git -C repo args...`: its stdout, or the error with git's message.
fn git(repo: &std::path::Path, args: &[&str]) -> anyhow::Result<String> {
    let output =
        Command::new("git").arg("-C").arg(repo).args(args).output().context("running git (is it installed?)")?;
    if !output.status.success() {
        return Err(deployer::Error::Git {
            args: args.join(" "),
            message: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        }
        .into());
    }
    String::from_utf8(output.stdout).context("git printed a path that is not UTF-8")
}
