//! `deployer generate`: the plan of a change, as log tables, JSON matrices or the pull-request comment.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::ValueEnum;
use deployer::base::runner;
use deployer::github::previous::{BaseDir, GitBase, PreviousSource};
use deployer::planning::blocked_verdict::RunKind;
use deployer::planning::changes::{parse_labels, parse_path_list, ChangeSet};
use deployer::presentation as render;
use deployer::stages::generate::{generate_with, GenerateRequest};

use super::diff::run_diff;
use super::{git_changed_files, RenderArgs, RepoArgs};

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("change").required(true).args(["changed_files", "base", "files"])))]
pub(super) struct GenerateArgs {
    #[command(flatten)]
    repo: RepoArgs,
    /// Changed paths: comma- or newline-separated, a JSON array, or `-` to read them from stdin.
    #[arg(long, value_name = "LIST")]
    changed_files: Option<String>,
    /// The Python deployer's form: changed paths (comma-, space- or newline-separated, or a JSON array), then
    /// optionally the labels as the last argument: a JSON array (as `plan-upgrade` takes them), or names with a
    /// `:` separated by commas.
    #[arg(value_name = "FILES", conflicts_with_all = ["changed_files", "base"])]
    files: Vec<String>,
    /// Take the changed paths from `git diff --name-only REF...HEAD` in the repository, and compare each
    /// changed cluster file with its version at the merge base, so that it upgrades only what its edit touched.
    #[arg(long, value_name = "REF")]
    base: Option<String>,
    /// A checkout of the base commit: each changed cluster file is compared with its version there, so that it
    /// upgrades only what its edit touched. Needs --changed-files.
    #[arg(long, value_name = "DIR", conflicts_with = "base")]
    base_dir: Option<PathBuf>,
    /// Pull-request labels, as a JSON array of names [default: none].
    #[arg(long, value_name = "JSON")]
    labels: Option<String>,
    #[command(flatten)]
    render: RenderArgs,
    /// With --output json, `three-stage` adds the Python deployer's `support-jobs`, `staging-jobs` and
    /// `prod-jobs` matrices (as the action's `matrix-shape`).
    #[arg(long, value_enum, default_value_t = Shape::Default)]
    matrix_shape: Shape,
    /// Jobs per matrix at most, as the action's `max-jobs` (1 to 256, GitHub's limit): past it, the JSON
    /// matrices hold batched legs (prod hubs grouped by cluster, clusters packed when they outnumber the legs).
    #[arg(long, value_name = "N", default_value_t = deployer::planning::legs::DEFAULT_MAX_JOBS, value_parser = parse_max_jobs_flag)]
    max_jobs: usize,
    /// How to print the plan.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    output: Format,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Shape {
    /// support-and-staging-matrix-jobs and prod-hub-matrix-jobs.
    Default,
    /// The same, plus support-jobs, staging-jobs and prod-jobs.
    ThreeStage,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Format {
    /// Box-drawn tables, as in the job log.
    Table,
    /// One JSON object with the two matrices.
    Json,
    /// The pull-request comment.
    Markdown,
}

pub(super) fn run(args: GenerateArgs) -> anyhow::Result<ExitCode> {
    let GenerateArgs {
        repo,
        changed_files,
        files,
        base,
        base_dir,
        labels,
        render: render_args,
        matrix_shape,
        max_jobs,
        output,
    } = args;
    if render_args.skip_unchanged && base.is_none() && base_dir.is_none() {
        bail!("--skip-unchanged renders the base too: give --base REF or --base-dir DIR");
    }
    let skip_base = render_args.skip_unchanged.then(|| base_dir.clone()).flatten();
    if base_dir.is_some() && base.is_none() && changed_files.is_none() && files.is_empty() {
        bail!("--base-dir needs the changed paths: give --changed-files too");
    }
    let positional = match deployer::planning::changes::parse_positional(&files) {
        Ok(positional) => positional,
        Err(error) => {
            runner::print_stderr(&format!("error: {error}"));
            return Ok(ExitCode::from(2));
        }
    };
    let (positional_paths, positional_labels) = match positional {
        Some(p) => (Some(p.paths), p.labels),
        None => (None, None),
    };
    let labels = match (labels, positional_labels) {
        (Some(_), Some(_)) => {
            runner::print_stderr(
                "error: labels given twice: as the last positional argument and with --labels; keep one",
            );
            return Ok(ExitCode::from(2));
        }
        (Some(text), None) => parse_labels("--labels", &text)?,
        (None, Some(labels)) => labels,
        (None, None) => Vec::new(),
    };
    // Where changed cluster files' previous versions come from, if anywhere.
    let previous: Option<Box<dyn PreviousSource>> = match (&base, base_dir) {
        (Some(base), _) => Some(Box::new(GitBase::new(&repo.repo, base))),
        (None, Some(dir)) => Some(Box::new(BaseDir { dir })),
        (None, None) => None,
    };
    let paths = match (changed_files, positional_paths, base.clone()) {
        (Some(list), _, _) if list == "-" => {
            let mut text = String::new();
            std::io::stdin().read_to_string(&mut text).context("reading changed files from stdin")?;
            parse_path_list("--changed-files", &text)?
        }
        (Some(list), _, _) => parse_path_list("--changed-files", &list)?,
        (None, Some(paths), _) => paths,
        (None, None, Some(base)) => git_changed_files(&repo.repo, &base)?,
        (None, None, None) => bail!("give --changed-files or --base"),
    };
    let request = GenerateRequest { repo: repo.repo, config: repo.config, changes: ChangeSet::new(paths, labels) };
    let mut generated = generate_with(&request, previous.as_deref())?;
    runner::report_diagnostics(runner::Level::Warning, &generated.config_warnings, runner::Audience::Terminal);
    // The CLI is treated like a push: the other clusters are planned and printed, then it fails.
    generated.verdict(&request.changes, RunKind::Push)?;
    if render_args.skip_unchanged {
        drop_unchanged_releases(&mut generated.plan, &request, base.as_deref(), skip_base, &render_args)?;
    }
    let plan = &generated.plan;
    for warning in &plan.warnings {
        let kind = match warning {
            deployer::planning::plan::PlanWarning::UnreadKeysOnly { .. }
            | deployer::planning::plan::PlanWarning::RolloutPinned { .. } => "notice",
            _ => "warning",
        };
        runner::print_stderr(&format!("{kind}: {warning}"));
    }
    let legs = deployer::planning::legs::pack_plan(plan, max_jobs);
    if legs.batched() {
        runner::print_stderr(&legs.describe(max_jobs));
    }
    match output {
        Format::Table => runner::print(&render::log_tables_within(plan, runner::stdout_terminal_width())),
        Format::Json => {
            let stages = (matrix_shape == Shape::ThreeStage).then(|| {
                deployer::planning::three_stage::three_stage(&plan.support_and_staging, &plan.prod_hubs, max_jobs)
            });
            runner::print_json(&render::plan_json_with(plan, &legs, stages.as_ref()));
        }
        Format::Markdown => runner::print(&render::comment(plan)),
    }
    if let Some(error) = generated.blocked_error() {
        return Err(error.into());
    }
    Ok(ExitCode::SUCCESS)
}

/// `--skip-unchanged`: drops from `plan` the releases whose rendered manifests, values files and pinned chart
/// dependencies are the same at the base (`--base` checked out, or `--base-dir`) as in the repository.
fn drop_unchanged_releases(
    plan: &mut deployer::planning::plan::Plan,
    request: &GenerateRequest,
    base: Option<&str>,
    skip_base: Option<PathBuf>,
    render_args: &RenderArgs,
) -> anyhow::Result<()> {
    // The base side: the folder given, or the merge base checked out for the run.
    let git_base = base.map(|base| GitBase::new(&request.repo, base));
    let worktree = match &git_base {
        Some(git_base) => Some(git_base.checkout().map_err(|why| anyhow::anyhow!("--base: {why}"))?),
        None => None,
    };
    let base_path = match (&worktree, skip_base) {
        (Some(worktree), _) => worktree.path().to_path_buf(),
        (None, Some(dir)) => dir,
        (None, None) => bail!("--skip-unchanged needs --base or --base-dir"),
    };
    let repo_args = RepoArgs { repo: request.repo.clone(), config: request.config.clone() };
    let outcome =
        run_diff(&repo_args, &base_path, plan.support_and_staging.clone(), plan.prod_hubs.clone(), render_args)?;
    for skipped in &outcome.full.skipped {
        let hub = skipped.hub_name.as_deref().unwrap_or("support");
        runner::print_stderr(&format!("skipped: {}/{hub}: {}", skipped.cluster_name, skipped.reason));
    }
    plan.support_and_staging = outcome.support_and_staging;
    plan.prod_hubs = outcome.prod_hubs;
    Ok(())
}

/// `--max-jobs`: checked as the action's `max-jobs` input is.
fn parse_max_jobs_flag(text: &str) -> Result<usize, String> {
    deployer::stages::generate::parse_max_jobs("--max-jobs", text).map_err(|e| e.to_string())
}
