//! The `generate` stage: from a repository checkout and a change, the plan.
//! Shared by the `action-generate` binary and `deployer generate`.

use std::path::PathBuf;

use crate::base::diagnostic::Diagnostic;
use crate::base::error::Error;
use crate::base::event::Trigger;
use crate::base::runner::{Outputs, RunnerEnv};
use crate::config::blocked_clusters::{self as config_blocked, BlockedCluster};
use crate::config::charts::ChartInputs;
use crate::config::load::{load, load_chart_inputs, load_settings, LoadOptions};
use crate::config::{Estate, Settings};
use crate::github::detect::{detect, DEPLOY_ALL_REASON};
use crate::github::previous::{self, PreviousSource};
use crate::github::{ClientConfig, GitHub};
use crate::planning::blocked_verdict::{self, RunKind, Verdict};
use crate::planning::changes::{parse_labels, parse_path_list, ChangeSet};
use crate::planning::legs::{self, Legs};
use crate::planning::pin_edits::PinEdits;
use crate::planning::plan::{
    plan_with_pins, ClusterEdits, Plan, HEALTH_CHECKS_KEY, HEALTH_CHECK_PROD_KEY, HEALTH_CHECK_STAGING_KEY,
    PROD_HUBS_KEY, SUPPORT_AND_STAGING_KEY,
};
use crate::planning::three_stage::ThreeStage;

/// What to plan.
#[derive(Debug, Clone)]
pub struct GenerateRequest {
    /// The repository checkout.
    pub repo: PathBuf,
    /// `deployer.yaml` relative to `repo`; `None` uses `deployer.yaml` when present.
    pub config: Option<PathBuf>,
    pub changes: ChangeSet,
}

/// A plan with the configuration it was made from.
#[derive(Debug, Clone)]
pub struct Generated {
    pub settings: Settings,
    pub estate: Estate,
    /// Each used chart's inputs, from the `Chart.yaml` files.
    pub charts: ChartInputs,
    pub plan: Plan,
    /// Problems in the configuration that do not stop the plan, at their file and line.
    pub config_warnings: Vec<Diagnostic>,
    /// Clusters left out of the plan because their own files have problems.
    pub blocked: Vec<BlockedCluster>,
}

impl Generated {
    /// What the run does about its blocked clusters ([`blocked_verdict::decide`]); [`Verdict::Stop`] is the
    /// error to report, with every blocked cluster's problems.
    pub fn verdict(&self, changes: &ChangeSet, kind: RunKind) -> Result<Verdict, Error> {
        match blocked_verdict::decide(&self.blocked, self.estate.clusters.len(), changes, kind) {
            Verdict::Stop => Err(Error::Config(config_blocked::problems(&self.blocked))),
            verdict => Ok(verdict),
        }
    }

    /// The error that ends a run whose other clusters were planned, if any cluster is blocked.
    pub fn blocked_error(&self) -> Option<Error> {
        (!self.blocked.is_empty()).then(|| Error::Blocked {
            clusters: config_blocked::labels(&self.blocked),
            problems: config_blocked::problems(&self.blocked),
        })
    }
}

/// Loads and validates the repository's configuration, then plans the change
/// (a changed `cluster.yaml` touching its whole cluster). Clusters whose own
/// files have problems are left out and listed in [`Generated::blocked`].
pub fn generate(request: &GenerateRequest) -> Result<Generated, Error> {
    generate_with(request, None)
}

/// [`generate`], with each changed `cluster.yaml` compared with its previous
/// version from `previous`, when given, so that it upgrades only what its edit touched.
pub fn generate_with(request: &GenerateRequest, previous: Option<&dyn PreviousSource>) -> Result<Generated, Error> {
    let settings = load_settings(&request.repo, request.config.as_deref())?;
    let loaded = load(&request.repo, &settings, LoadOptions::default())?;
    let estate = loaded.estate;
    let charts = load_chart_inputs(&request.repo, &estate)?;
    crate::config::load::check_rollout_dependents(&settings, &estate, &charts)?;
    let edits = match previous {
        Some(source) => previous::cluster_edits(&request.repo, &estate, &request.changes, source),
        None => ClusterEdits::new(),
    };
    let pins = loaded.rollout_pins.as_ref();
    let pin_edits = match &settings.rollout {
        Some(rollout) => previous::pin_edits(rollout, pins, &request.changes, previous),
        None => PinEdits::Unchanged,
    };
    let plan = plan_with_pins(&estate, &charts, &settings, &request.changes, &edits, pins, &pin_edits);
    Ok(Generated { settings, estate, charts, plan, config_warnings: loaded.warnings, blocked: loaded.blocked })
}

/// Input names of `actions/generate`.
pub mod inputs {
    pub const CHANGED_FILES: &str = "changed-files";
    pub const LABELS: &str = "labels";
    pub const DEPLOY_ALL: &str = "deploy-all";
    pub const GITHUB_TOKEN: &str = "github-token";
    pub const CONFIG: &str = "config";
    pub const PLAN_DIR: &str = "plan-dir";
    pub const MAX_JOBS: &str = "max-jobs";
    pub const MATRIX_SHAPE: &str = "matrix-shape";
    /// Every input the action reads.
    pub const ALL: &[&str] =
        &[CHANGED_FILES, LABELS, DEPLOY_ALL, GITHUB_TOKEN, CONFIG, PLAN_DIR, MAX_JOBS, MATRIX_SHAPE];
    /// The default of each input the code gives one (when the input is absent or empty), as
    /// `action.yml` must declare it (`tests/action_metadata.rs` checks it).
    pub fn defaults() -> Vec<(&'static str, String)> {
        vec![
            (DEPLOY_ALL, false.to_string()),
            (PLAN_DIR, super::DEFAULT_PLAN_DIR.to_owned()),
            (MAX_JOBS, crate::planning::legs::DEFAULT_MAX_JOBS.to_string()),
            (MATRIX_SHAPE, super::DEFAULT_MATRIX_SHAPE.to_owned()),
        ]
    }
}

/// Output names of `actions/generate`.
pub mod outputs {
    pub const SUPPORT_AND_STAGING: &str = super::SUPPORT_AND_STAGING_KEY;
    pub const PROD_HUBS: &str = super::PROD_HUBS_KEY;
    pub const HEALTH_CHECKS: &str = super::HEALTH_CHECKS_KEY;
    pub const HEALTH_CHECK_STAGING: &str = super::HEALTH_CHECK_STAGING_KEY;
    pub const HEALTH_CHECK_PROD: &str = super::HEALTH_CHECK_PROD_KEY;
    pub const HAS_JOBS: &str = "has-jobs";
    pub const PLAN_DIR: &str = "plan-dir";
    pub const BLOCKED_CLUSTERS: &str = "blocked-clusters";
    /// The matrices and `has-jobs`: written by [`super::set_matrix_outputs`], here and in
    /// `actions/diff` (which rewrites them after thinning the plan), so listed once for both.
    pub const MATRICES: &[&str] =
        &[SUPPORT_AND_STAGING, PROD_HUBS, HEALTH_CHECKS, HEALTH_CHECK_STAGING, HEALTH_CHECK_PROD, HAS_JOBS];
    /// The outputs only this action writes.
    pub const OWN: &[&str] = &[PLAN_DIR, BLOCKED_CLUSTERS, SUPPORT_JOBS, STAGING_JOBS, PROD_JOBS];
    /// With `matrix-shape: three-stage`: the Python deployer's `plan-upgrade` outputs.
    pub const SUPPORT_JOBS: &str = crate::planning::three_stage::SUPPORT_KEY;
    pub const STAGING_JOBS: &str = crate::planning::three_stage::STAGING_KEY;
    pub const PROD_JOBS: &str = crate::planning::three_stage::PROD_KEY;
    /// Every output the action writes.
    pub const ALL: &[&str] = &crate::base::runner::concat_names::<{ MATRICES.len() + OWN.len() }>(MATRICES, OWN);
}

/// Which matrix outputs generate writes (`matrix-shape`, `--matrix-shape`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum MatrixShape {
    /// `support-and-staging-matrix-jobs` and `prod-hub-matrix-jobs` (with the health-check matrices).
    #[default]
    Default,
    /// The same, plus the Python deployer's `support-jobs`, `staging-jobs` and `prod-jobs`.
    ThreeStage,
}

/// The `matrix-shape` of the default matrices.
pub const DEFAULT_MATRIX_SHAPE: &str = "default";

/// Parses a `matrix-shape` value: `default` or `three-stage` (empty is `default`).
pub fn parse_matrix_shape(input: &str, text: &str) -> Result<MatrixShape, Error> {
    match text.trim() {
        "" | DEFAULT_MATRIX_SHAPE => Ok(MatrixShape::Default),
        crate::planning::three_stage::SHAPE_NAME => Ok(MatrixShape::ThreeStage),
        other => Err(Error::input(
            input,
            format!(
                "expected `default` or `{}` (adds support-jobs, staging-jobs and prod-jobs), got `{}`",
                crate::planning::three_stage::SHAPE_NAME,
                other
            ),
        )),
    }
}

/// The plan folder when `plan-dir` is not given.
pub const DEFAULT_PLAN_DIR: &str = "deployment-plan";

/// The inputs of `actions/generate`, parsed.
#[derive(Debug, Clone)]
pub struct GenerateInputs {
    /// `None`: find them from the event.
    pub changed_files: Option<Vec<String>>,
    /// `None`: take them from the event.
    pub labels: Option<Vec<String>>,
    pub deploy_all: bool,
    pub config: Option<PathBuf>,
    /// Relative to the workspace.
    pub plan_dir: PathBuf,
    /// Jobs per matrix at most: past it, jobs are packed into legs ([`legs::pack`]).
    pub max_jobs: usize,
    /// Which matrix outputs to write.
    pub matrix_shape: MatrixShape,
}

/// Parses a `max-jobs` value: a whole number from 1 to GitHub's limit of 256.
pub fn parse_max_jobs(input: &str, text: &str) -> Result<usize, Error> {
    match text.trim().parse::<usize>() {
        Ok(n) if (1..=legs::DEFAULT_MAX_JOBS).contains(&n) => Ok(n),
        _ => Err(Error::input(
            input,
            format!(
                "expected a whole number from 1 to {} (GitHub's limit of jobs per matrix), got `{}`",
                legs::DEFAULT_MAX_JOBS,
                text.trim()
            ),
        )),
    }
}

impl GenerateInputs {
    /// Reads and checks the action's inputs.
    pub fn from_env(env: &RunnerEnv) -> Result<Self, Error> {
        let changed_files =
            env.input(inputs::CHANGED_FILES).map(|text| parse_path_list(inputs::CHANGED_FILES, text)).transpose()?;
        let labels = env.input(inputs::LABELS).map(|text| parse_labels(inputs::LABELS, text)).transpose()?;
        Ok(GenerateInputs {
            changed_files,
            labels,
            deploy_all: env.bool_input(inputs::DEPLOY_ALL, false)?,
            config: env.input(inputs::CONFIG).map(PathBuf::from),
            plan_dir: PathBuf::from(env.input(inputs::PLAN_DIR).unwrap_or(DEFAULT_PLAN_DIR)),
            max_jobs: env
                .input(inputs::MAX_JOBS)
                .map(|text| parse_max_jobs(inputs::MAX_JOBS, text))
                .transpose()?
                .unwrap_or(legs::DEFAULT_MAX_JOBS),
            matrix_shape: env
                .input(inputs::MATRIX_SHAPE)
                .map(|text| parse_matrix_shape(inputs::MATRIX_SHAPE, text))
                .transpose()?
                .unwrap_or_default(),
        })
    }
}

/// The change to plan, and what the user should be told about how it was found.
#[derive(Debug, Clone)]
pub struct ResolvedChange {
    pub changes: ChangeSet,
    pub warnings: Vec<String>,
    /// GitHub API requests made to find it.
    pub api_requests: usize,
    /// The commit to read changed cluster files' previous versions at (or why
    /// there is none), when the event has a base: pull requests and pushes.
    pub base_commit: Option<Result<String, String>>,
    /// The API client settings used to find the change, if the API was used.
    pub client_config: Option<ClientConfig>,
    /// Pull request or not: what a blocked cluster does to the run.
    pub run_kind: RunKind,
}

/// A pull request, or anything else (treated like a push).
fn run_kind(trigger: Option<&Trigger>) -> RunKind {
    match trigger {
        Some(Trigger::PullRequest(_)) => RunKind::PullRequest,
        _ => RunKind::Push,
    }
}

/// The change from the inputs, or, when `changed-files` is empty, from the
/// event and the GitHub API. Labels not given as input come from the event.
pub fn resolve_change(env: &RunnerEnv, inputs: &GenerateInputs) -> Result<ResolvedChange, Error> {
    let trigger = env.trigger()?;
    let force_all = inputs.deploy_all.then(|| DEPLOY_ALL_REASON.to_owned());
    if let Some(paths) = &inputs.changed_files {
        let labels = match (&inputs.labels, &trigger) {
            (Some(labels), _) => labels.clone(),
            (None, Some(Trigger::PullRequest(pr))) => pr.labels.clone(),
            (None, _) => Vec::new(),
        };
        return Ok(ResolvedChange {
            changes: ChangeSet::new(paths, labels).with_force_all(force_all),
            warnings: Vec::new(),
            api_requests: 0,
            base_commit: trigger.as_ref().and_then(previous::base_commit),
            client_config: None,
            run_kind: run_kind(trigger.as_ref()),
        });
    }
    let trigger = trigger.ok_or_else(|| {
        Error::input(
            inputs::CHANGED_FILES,
            "is empty and there is no event to find the changed files from (GITHUB_EVENT_PATH is not set)",
        )
    })?;
    let repo = env.repository()?;
    let config = ClientConfig::from_env(env, inputs::GITHUB_TOKEN)?;
    let (detected, api_requests) = crate::tools::http::block_on(async {
        let gh = GitHub::new(config.clone())?;
        let detected = detect(&gh, &repo, &trigger, inputs.deploy_all).await;
        Ok::<_, Error>((detected, gh.request_count()))
    })??;
    let detected = detected?;
    let labels = inputs.labels.clone().unwrap_or(detected.labels);
    Ok(ResolvedChange {
        changes: ChangeSet::new(&detected.paths, labels).with_force_all(detected.force_all),
        warnings: detected.warnings,
        api_requests,
        base_commit: previous::base_commit(&trigger),
        client_config: Some(config),
        run_kind: run_kind(Some(&trigger)),
    })
}

/// Adds the [`outputs::MATRICES`] of `plan` packed into `legs`: generate's outputs, and diff's
/// after it has thinned the plan.
pub fn set_matrix_outputs(out: &mut Outputs, plan: &Plan, legs: &Legs) -> Result<(), Error> {
    out.set_json(outputs::SUPPORT_AND_STAGING, &legs.support_and_staging)?;
    out.set_json(outputs::PROD_HUBS, &legs.prod)?;
    out.set_json(outputs::HEALTH_CHECKS, &plan.health_checks())?;
    out.set_json(outputs::HEALTH_CHECK_STAGING, &legs.health_check_staging)?;
    out.set_json(outputs::HEALTH_CHECK_PROD, &legs.health_check_prod)?;
    out.set(outputs::HAS_JOBS, if plan.is_empty() { "false" } else { "true" });
    Ok(())
}

/// The step outputs for a plan packed into `legs`; `blocked` are the labels of the clusters left out
/// ([`config_blocked::labels`]). `three_stage`, when given, adds the three-stage outputs.
pub fn action_outputs(
    plan: &Plan,
    legs: &Legs,
    three_stage: Option<&ThreeStage>,
    plan_dir: &str,
    blocked: &[String],
) -> Result<Outputs, Error> {
    let mut out = Outputs::default();
    set_matrix_outputs(&mut out, plan, legs)?;
    out.set(outputs::PLAN_DIR, plan_dir);
    out.set_json(outputs::BLOCKED_CLUSTERS, blocked)?;
    if let Some(stages) = three_stage {
        out.set_json(outputs::SUPPORT_JOBS, &stages.support)?;
        out.set_json(outputs::STAGING_JOBS, &stages.staging)?;
        out.set_json(outputs::PROD_JOBS, &stages.prod)?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The matrix outputs written are the ones listed, in order: generate's and diff's `ALL` take
    /// them from [`outputs::MATRICES`], so a matrix output is added there and in `set_matrix_outputs`.
    #[test]
    fn matrix_outputs_are_the_listed_ones() {
        let plan = Plan::default();
        let mut out = Outputs::default();
        set_matrix_outputs(&mut out, &plan, &legs::pack_plan(&plan, legs::DEFAULT_MAX_JOBS)).unwrap();
        assert_eq!(out.names().collect::<Vec<_>>(), outputs::MATRICES);
        assert!(outputs::ALL.starts_with(outputs::MATRICES));
        assert!(crate::stages::diff::outputs::ALL.starts_with(outputs::MATRICES));
    }

    #[test]
    fn inputs_from_env() {
        let env = RunnerEnv::from_vars([
            ("INPUT_CHANGED-FILES", "./a.yaml\nb.yaml"),
            ("INPUT_LABELS", "[\"x\"]"),
            ("INPUT_PLAN-DIR", "out/plan"),
            ("INPUT_DEPLOY-ALL", "true"),
        ]);
        let parsed = GenerateInputs::from_env(&env).unwrap();
        assert_eq!(parsed.changed_files.as_deref(), Some(&["./a.yaml".to_owned(), "b.yaml".to_owned()][..]));
        assert_eq!(parsed.labels.as_deref(), Some(&["x".to_owned()][..]));
        assert_eq!(parsed.plan_dir, PathBuf::from("out/plan"));
        assert!(parsed.deploy_all);
        assert_eq!(parsed.config, None);
        assert_eq!(parsed.max_jobs, 256);
        assert_eq!(parsed.matrix_shape, MatrixShape::Default);
        let three = GenerateInputs::from_env(&RunnerEnv::from_vars([("INPUT_MATRIX-SHAPE", " three-stage ")])).unwrap();
        assert_eq!(three.matrix_shape, MatrixShape::ThreeStage);

        let empty = GenerateInputs::from_env(&RunnerEnv::default()).unwrap();
        assert_eq!(empty.changed_files, None);
        assert_eq!(empty.labels, None);
        assert!(!empty.deploy_all);
    }

    #[test]
    fn bad_inputs_name_the_input() {
        let cases = [
            (vec![("INPUT_LABELS", "nope")], "invalid input `labels`:"),
            (vec![("INPUT_CHANGED-FILES", "[\"a\", 1]")], "invalid input `changed-files`:"),
            (vec![("INPUT_DEPLOY-ALL", "maybe")], "invalid input `deploy-all`:"),
            (vec![("INPUT_MAX-JOBS", "0")], "invalid input `max-jobs`: expected a whole number from 1 to 256"),
            (vec![("INPUT_MAX-JOBS", "257")], "invalid input `max-jobs`: expected a whole number from 1 to 256"),
            (vec![("INPUT_MAX-JOBS", "ten")], "invalid input `max-jobs`: expected a whole number from 1 to 256"),
            (
                vec![("INPUT_MATRIX-SHAPE", "3-stage")],
                "invalid input `matrix-shape`: expected `default` or `three-stage`",
            ),
        ];
        for (vars, expected) in cases {
            let error = GenerateInputs::from_env(&RunnerEnv::from_vars(vars)).unwrap_err().to_string();
            assert!(error.starts_with(expected), "{error}");
        }
    }

    #[test]
    fn explicit_changes_need_no_api() {
        let env = RunnerEnv::from_vars([("INPUT_CHANGED-FILES", "a.yaml"), ("INPUT_DEPLOY-ALL", "true")]);
        let inputs = GenerateInputs::from_env(&env).unwrap();
        let resolved = resolve_change(&env, &inputs).unwrap();
        assert_eq!(resolved.changes.paths, ["a.yaml"]);
        assert_eq!(resolved.changes.force_all.as_deref(), Some(DEPLOY_ALL_REASON));
        assert_eq!(resolved.api_requests, 0);
    }

    #[test]
    fn no_files_and_no_event_is_an_input_error() {
        let env = RunnerEnv::default();
        let inputs = GenerateInputs::from_env(&env).unwrap();
        let error = resolve_change(&env, &inputs).unwrap_err().to_string();
        assert!(error.starts_with("invalid input `changed-files`: is empty and there is no event"), "{error}");
    }
}
