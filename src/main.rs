//! `deployer`: the command-line tool for local use (plan, explain, validate, filter, deploy).

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, ExitCode};

use anyhow::{bail, Context};
use clap::{Parser, Subcommand, ValueEnum};
use deployer::base::runner;
use deployer::config::load::{load, load_chart_inputs, load_estate, load_settings, LoadOptions};
use deployer::github::previous::{BaseDir, GitBase, PreviousSource};
use deployer::planning::blocked::RunKind;
use deployer::planning::changes::{parse_labels, parse_path_list, ChangeSet};
use deployer::planning::explain;
use deployer::planning::filter::{self, parse_results};
use deployer::planning::plan::{ProdHubJob, SupportAndStagingJob};
use deployer::presentation as render;
use deployer::stages::filter::{inputs as filter_inputs, parse_matrix};
use deployer::stages::generate::{generate_with, GenerateRequest};

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
    #[command(group(clap::ArgGroup::new("change").required(true).args(["changed_files", "base", "files"])))]
    Generate {
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
    },
    /// Show what each path would upgrade on its own, and why.
    Explain {
        #[command(flatten)]
        repo: RepoArgs,
        /// Repository-relative paths.
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<String>,
    },
    /// Check the settings, every cluster file and the charts they use, reporting all problems.
    Validate {
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
    },
    /// Drop the prod hub jobs of clusters whose support-and-staging leg did not succeed.
    #[command(group(clap::ArgGroup::new("jobs").required(true).multiple(true).args(["plan", "prod_jobs"])))]
    Filter {
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
    },
    /// Run `helm upgrade --install` for a cluster's support chart and/or hubs, in order; the first failure stops the rest.
    #[command(group(clap::ArgGroup::new("targets").required(true).multiple(true).args(["support", "hub", "hubs"])))]
    Deploy {
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
    },
    /// Run the health check of a cluster's hubs, and nothing else: never helm, never sops.
    ///
    /// For each hub, in order: `sh -c COMMAND` in the repository with CLUSTER_NAME and HUB_NAME set and the rest of
    /// the environment as it is, KUBECONFIG included (as setup-cluster exports it, or your own), tried 1 + --retries
    /// times. A failing hub does not stop the others; the exit status is non-zero when any hub failed.
    #[command(group(clap::ArgGroup::new("checked").required(true).multiple(true).args(["hub", "hubs"])))]
    HealthCheck {
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
    },
    /// Render every planned release with `helm template` at base and head and show what changes in the cluster.
    ///
    /// The base is a checkout of the base commit (--base-dir) or a Git revision (--base: its merge base with
    /// HEAD is checked out in a temporary worktree). The releases are the plan of --changed-files (or of
    /// `git diff` against --base), or the matrices of --plan. Encrypted values files are rendered as
    /// placeholders: no key is needed and no secret is shown.
    #[command(group(clap::ArgGroup::new("base_side").required(true).args(["base", "base_dir"])))]
    Diff {
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
    },
    /// Print the JSON Schema of a configuration file.
    Schema {
        #[arg(value_enum)]
        file: SchemaFile,
    },
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

#[derive(Debug, Clone, Copy, ValueEnum)]
enum DiffFormat {
    /// One line per release, then the unified diffs of the changed objects.
    Text,
    /// {"releases": [...], "skipped": [...], the two matrices after --skip-unchanged}
    Json,
    /// The pull-request comment, with the manifest diff.
    Markdown,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum FilterFormat {
    /// A box-drawn table of kept and dropped hubs.
    Table,
    /// {"filtered-prod-hub-matrix-jobs": [...], "dropped": [...]}
    Json,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum SchemaFile {
    /// config/clusters/<cluster>/cluster.yaml
    Cluster,
    /// deployer.yaml
    Settings,
    /// generate's two matrix outputs (and `deployer generate --output json`): one item per job, or batched legs
    Legs,
}

fn main() -> ExitCode {
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
        Commands::Generate {
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
        } => {
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
            let request =
                GenerateRequest { repo: repo.repo, config: repo.config, changes: ChangeSet::new(paths, labels) };
            let mut generated = generate_with(&request, previous.as_deref())?;
            runner::report_diagnostics(runner::Level::Warning, &generated.config_warnings, runner::Audience::Terminal);
            // The CLI is treated like a push: the other clusters are planned and printed, then it fails.
            generated.verdict(&request.changes, RunKind::Push)?;
            if render_args.skip_unchanged {
                // The base side: the folder given, or the merge base checked out for the run.
                let git_base = base.as_deref().map(|base| GitBase::new(&request.repo, base));
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
                let plan = &mut generated.plan;
                let outcome = run_diff(
                    &repo_args,
                    &base_path,
                    plan.support_and_staging.clone(),
                    plan.prod_hubs.clone(),
                    &render_args,
                )?;
                for skipped in &outcome.full.skipped {
                    let hub = skipped.hub_name.as_deref().unwrap_or("support");
                    runner::print_stderr(&format!("skipped: {}/{hub}: {}", skipped.cluster_name, skipped.reason));
                }
                plan.support_and_staging = outcome.support_and_staging;
                plan.prod_hubs = outcome.prod_hubs;
            }
            let plan = &generated.plan;
            for warning in &plan.warnings {
                let kind = match warning {
                    deployer::planning::plan::PlanWarning::UnreadKeysOnly { .. } => "notice",
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
                        deployer::planning::three_stage::three_stage(
                            &plan.support_and_staging,
                            &plan.prod_hubs,
                            max_jobs,
                        )
                    });
                    runner::print_json(&render::plan_json_with(plan, &legs, stages.as_ref()));
                }
                Format::Markdown => runner::print(&render::comment(plan)),
            }
            if let Some(error) = generated.blocked_error() {
                return Err(error.into());
            }
        }
        Commands::Explain { repo, paths } => {
            let settings = load_settings(&repo.repo, repo.config.as_deref())?;
            let estate = load_estate(&repo.repo, &settings)?;
            let charts = load_chart_inputs(&repo.repo, &estate)?;
            runner::print(&explain::render(&explain::explain(&estate, &charts, &settings, &paths)));
        }
        Commands::Validate { repo, strict, render: render_charts, helm, workers } => {
            let settings = load_settings(&repo.repo, repo.config.as_deref())?;
            let loaded = load(&repo.repo, &settings, LoadOptions { notices: strict })?;
            // Validation is strict: a cluster blocked by its own files is a problem to report.
            if !loaded.blocked.is_empty() {
                return Err(deployer::Error::Config(deployer::config::blocked::problems(&loaded.blocked)).into());
            }
            load_chart_inputs(&repo.repo, &loaded.estate)?;
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
                let problems = deployer::stages::diff::render_problems(
                    &repo.repo,
                    repo.config.as_deref(),
                    &estate,
                    &how,
                    &progress,
                )?;
                if !problems.is_empty() {
                    return Err(deployer::Error::Config(problems).into());
                }
            }
            let hubs: usize = estate.clusters.iter().map(|c| c.hubs.len()).sum();
            runner::print(&format!("ok: {} clusters, {hubs} hubs\n", estate.clusters.len()));
        }
        Commands::Filter { plan, prod_jobs, support_and_staging_jobs, results, output } => {
            let read =
                |path: &PathBuf| std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()));
            // clap guarantees either `--plan` or both matrix files.
            let (prod_text, prod_flag, legs_text, legs_flag) = match (&plan, &prod_jobs, &support_and_staging_jobs) {
                (Some(plan), _, _) => {
                    let text = read(plan)?;
                    (text.clone(), "--plan", text, "--plan")
                }
                (None, Some(prod), Some(legs)) => {
                    (read(prod)?, "--prod-jobs", read(legs)?, "--support-and-staging-jobs")
                }
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
        }
        Commands::Deploy {
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
        } => {
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
            };
            // Inside a GitHub Actions `run:` step, group and fence the output as the action does.
            let style = match std::env::var("GITHUB_ACTIONS").as_deref() {
                Ok("true") => LogStyle::Actions,
                _ => LogStyle::Plain,
            };
            // The cluster's own kubeconfig, or the current context checked, before helm, kubectl or sops run;
            // the private kubeconfig is removed when `access` is dropped (on every return path).
            let getenv = |name: &str| std::env::var(name).ok();
            let access =
                deploy::target_cluster::prepare(&request, use_current_context, style == LogStyle::Actions, &getenv)?;
            request.env.extend(access.env.iter().cloned());
            deploy::run::deploy(&request, style)?;
            drop(access);
        }
        Commands::HealthCheck { repo, cluster, hub, hubs, command, retries, timeout, delay, dry_run } => {
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
            };
            let style = match std::env::var("GITHUB_ACTIONS").as_deref() {
                Ok("true") => LogStyle::Actions,
                _ => LogStyle::Plain,
            };
            deploy::run::check_hubs(&request, style)?;
        }
        Commands::Diff { repo, base_dir, base, changed_files, plan, labels, render: render_args, output } => {
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
        }
        Commands::Schema { file } => {
            let schema = match file {
                SchemaFile::Cluster => schemars::schema_for!(deployer::config::raw::RawCluster),
                SchemaFile::Settings => schemars::schema_for!(deployer::config::raw::RawSettings),
                SchemaFile::Legs => schemars::schema_for!(deployer::planning::legs::Matrices),
            };
            let mut json = serde_json::to_string_pretty(&schema)?;
            json.push('\n');
            runner::print_json(&json);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The paths `--base` plans: everything that differs between the merge base
/// with `base` and the working tree (commits since then, staged and unstaged
/// edits), plus untracked files that Git does not ignore. Says on stderr how
/// many of them are not committed, so that nobody is surprised either way.
fn git_changed_files(repo: &std::path::Path, base: &str) -> anyhow::Result<Vec<String>> {
    if base.starts_with('-') {
        bail!("--base `{base}` is not a Git revision");
    }
    let git = |args: &[&str]| -> anyhow::Result<String> {
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
    };
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

/// Renders and compares the releases of `legs` and `prod` (head: `repo`, base: `base`), with progress on stderr.
fn run_diff(
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

/// `--max-jobs`: checked as the action's `max-jobs` input is.
fn parse_max_jobs_flag(text: &str) -> Result<usize, String> {
    deployer::stages::generate::parse_max_jobs("--max-jobs", text).map_err(|e| e.to_string())
}
