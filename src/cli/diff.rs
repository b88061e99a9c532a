//! `deployer diff`: every planned release rendered at base and head, and what changes in the cluster.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::ValueEnum;
use deployer::base::runner;
use deployer::github::previous::{BaseDir, GitBase};
use deployer::planning::blocked_verdict::RunKind;
use deployer::planning::changes::{parse_labels, parse_path_list, ChangeSet};
use deployer::planning::plan::{ProdHubJob, SupportAndStagingJob};
use deployer::presentation as render;
use deployer::stages::filter::{inputs as filter_inputs, parse_matrix};
use deployer::stages::generate::{generate_with, GenerateRequest};

use super::{git_changed_files, RenderArgs, RepoArgs};

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("base_side").required(true).args(["base", "base_dir"])))]
pub(super) struct DiffArgs {
    #[command(flatten)]
    repo: RepoArgs,
    /// A checkout of the base commit.
    #[arg(long, value_name = "DIR")]
    base_dir: Option<PathBuf>,
    /// A Git revision of the repository: the base is its merge base with HEAD.
    #[arg(long, value_name = "REF")]
    base: Option<String>,
    /// Changed paths to plan (comma- or newline-separated, a JSON array, or `-` for stdin).
    #[arg(long, value_name = "LIST", conflicts_with = "plan")]
    changed_files: Option<String>,
    /// The plan to diff: the whole `deployer generate --output json`, or a plan folder's `plan.json`.
    #[arg(long, value_name = "FILE")]
    plan: Option<PathBuf>,
    /// Pull-request labels, as a JSON array of names (when planning).
    #[arg(long, value_name = "JSON", default_value = "[]")]
    labels: String,
    #[command(flatten)]
    render: RenderArgs,
    /// How to print the diff.
    #[arg(long, value_enum, default_value_t = DiffFormat::Text)]
    output: DiffFormat,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum DiffFormat {
    /// One line per release, then the unified diffs of the changed objects.
    Text,
    /// {"releases": [...], "skipped": [...], the two matrices after --skip-unchanged}
    Json,
    /// The pull-request comment, with the manifest diff.
    Markdown,
}

pub(super) fn run(args: DiffArgs) -> anyhow::Result<ExitCode> {
    let DiffArgs { repo, base_dir, base, changed_files, plan, labels, render: render_args, output } = args;
    // The base side: a folder, or the merge base checked out for the run.
    let git_base = base.as_deref().map(|base| GitBase::new(&repo.repo, base));
    let worktree = match &git_base {
        Some(git_base) => Some(git_base.checkout().map_err(|why| anyhow::anyhow!("--base: {why}"))?),
        None => None,
    };
    let base_path = match (&worktree, &base_dir) {
        (Some(worktree), _) => worktree.path().to_path_buf(),
        (None, Some(dir)) => dir.clone(),
        (None, None) => bail!("give --base-dir DIR or --base REF"),
    };
    let (legs, prod) = match (&plan, changed_files) {
        (Some(file), _) => {
            let text = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
            let prod: Vec<ProdHubJob> = parse_matrix("--plan", filter_inputs::PROD_HUBS, Some(&text))?;
            let legs: Vec<SupportAndStagingJob> =
                parse_matrix("--plan", filter_inputs::SUPPORT_AND_STAGING, Some(&text))?;
            (legs, prod)
        }
        (None, list) => {
            let paths = match (list, &base) {
                (Some(list), _) if list == "-" => {
                    let mut text = String::new();
                    std::io::stdin().read_to_string(&mut text).context("reading changed files from stdin")?;
                    parse_path_list("--changed-files", &text)?
                }
                (Some(list), _) => parse_path_list("--changed-files", &list)?,
                (None, Some(base)) => git_changed_files(&repo.repo, base)?,
                (None, None) => bail!("give --changed-files or --plan (or --base, whose changes are planned)"),
            };
            let request = GenerateRequest {
                repo: repo.repo.clone(),
                config: repo.config.clone(),
                changes: ChangeSet::new(paths, parse_labels("--labels", &labels)?),
            };
            let previous = BaseDir { dir: base_path.clone() };
            let generated = generate_with(&request, Some(&previous))?;
            generated.verdict(&request.changes, RunKind::Push)?;
            (generated.plan.support_and_staging, generated.plan.prod_hubs)
        }
    };
    let outcome = run_diff(&repo, &base_path, legs, prod, &render_args)?;
    match output {
        DiffFormat::Text => runner::print(&deployer::stages::diff::text_report(&outcome.full)),
        DiffFormat::Json => {
            let json = serde_json::json!({
                "releases": outcome.full.releases,
                "skipped": outcome.full.skipped,
                "support-and-staging-matrix-jobs": outcome.support_and_staging,
                "prod-hub-matrix-jobs": outcome.prod_hubs,
                "renders": outcome.renders,
            });
            runner::print_json(&format!("{}\n", serde_json::to_string_pretty(&json)?));
        }
        DiffFormat::Markdown => {
            let plan = deployer::planning::plan::Plan {
                support_and_staging: outcome.support_and_staging.clone(),
                prod_hubs: outcome.prod_hubs.clone(),
                ..deployer::planning::plan::Plan::default()
            };
            let mut file = deployer::presentation::plan_folder::PlanFile::new(&plan, None);
            file.manifest_diff = Some(outcome.bounded.clone());
            runner::print(&render::comment_within(
                &(&file).into(),
                render::COMMENT_MARKER,
                deployer::stages::comment::MAX_COMMENT_CHARS,
                None,
            ));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Renders and compares the releases of `legs` and `prod` (head: `repo`, base: `base`), with progress on stderr.
pub(super) fn run_diff(
    repo: &RepoArgs,
    base: &std::path::Path,
    legs: Vec<SupportAndStagingJob>,
    prod: Vec<ProdHubJob>,
    args: &RenderArgs,
) -> anyhow::Result<deployer::stages::diff::DiffOutcome> {
    use deployer::manifest_diff::helm_template::Progress;
    use deployer::stages::diff as stage;
    let request = stage::DiffRequest {
        head: repo.repo.clone(),
        base: base.to_path_buf(),
        config: repo.config.clone(),
        support_and_staging: legs,
        prod_hubs: prod,
        skip_unchanged: args.skip_unchanged,
        helm: args.helm.clone(),
        workers: args.workers.map_or_else(stage::default_workers, usize::from),
        timeout: std::time::Duration::from_secs(args.render_timeout),
        helm_env: deployer::manifest_diff::helm_template::helm_env(|name| std::env::var(name).ok()),
    };
    let progress = |event: Progress| {
        match event {
        Progress::Planned { releases, renders, unchanged_by_key } => runner::print_stderr(&format!(
            "diff: {releases} releases, {unchanged_by_key} unchanged by their inputs (no render), {renders} renders on {} workers",
            request.workers
        )),
        event @ Progress::DependencyBuilt { .. } => {
            runner::print_stderr(&format!("diff: {}", event.dependency_line().unwrap_or_default()))
        }
        Progress::Rendered { done, total, label, ok } => {
            if !ok || done == total || done % 10 == 0 {
                runner::print_stderr(&format!("diff: rendered {done}/{total} {label}{}", if ok { "" } else { ": failed" }));
            }
        }
    }
    };
    Ok(stage::run(&request, &progress)?)
}
