//! A whole matrix leg in one step (the `leg` input of `actions/deploy`): a
//! support-and-staging, prod or health-check item in any of its shapes
//! ([`crate::planning::legs`]). For each cluster of the leg, in order: credentials
//! in-process (the code of `setup-cluster`), then its support chart, then its
//! hubs (up to `max-parallel-releases` at a time). The first failing release
//! of a cluster stops that cluster's remaining releases, not the other
//! clusters. A health-check item runs no helm: each cluster's hubs are
//! checked in order ([`run::check_hubs`]), every one of them even after a
//! failure.
//! After each cluster the leg's results file (cluster → success or failure)
//! is rewritten whole, for `filter` to read from the leg's artifact.
//!
//! A leg fails closed: before anything else a results file already in the
//! workspace (committed, or left by an earlier step) is removed
//! ([`clear_stale_results`]), so that a leg that stops early uploads no
//! report at all; an item that names a cluster twice is refused before
//! anything runs; and every kubeconfig and credential file written for a
//! cluster is removed when that cluster's work ends, whether it succeeded,
//! failed or was stopped by SIGTERM/SIGINT.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use super::run::{self, LogStyle, ReleaseResult};
use super::{inputs, BeforeMode, DeployRequest, Mode, DEFAULT_PARALLEL_RELEASES, DEFAULT_RESULTS_DIR};
use crate::base::error::Error;
use crate::base::runner::{self, Level, RunnerEnv};
use crate::base::stop;
use crate::cluster::access::stage::{self as access, SetupInputs};
use crate::config::rollout::JobRollout;
use crate::planning::legs::{HealthCheckLeg, ProdLeg, SupportAndStagingLeg};

/// Input names `actions/deploy` reads for a leg, besides setup-cluster's credential inputs.
/// The results file's name inside the results folder (and the leg's artifact).
pub const RESULTS_FILE: &str = "results.json";
/// The results file's format version.
pub const RESULTS_VERSION: u32 = 1;
/// Releases of one cluster run at the same time at most.
pub const MAX_PARALLEL_RELEASES: usize = 32;

/// The temporary name the results file is written under before it is renamed into place.
fn partial_name() -> String {
    format!(".{RESULTS_FILE}.partial")
}

/// Whether a `results-dir` value is a folder inside the workspace: relative, without `..`.
fn inside_workspace(relative: &Path) -> bool {
    relative.components().all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
}

/// One item of any of generate's matrices, in any shape. Every shape denies
/// unknown fields, so exactly one variant reads an item.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum MatrixItem {
    Canary(SupportAndStagingLeg),
    Prod(ProdLeg),
    /// An item of `health-check-staging-matrix-jobs` or `health-check-prod-matrix-jobs`.
    HealthCheck(HealthCheckLeg),
}

impl MatrixItem {
    /// What the item asks for: upgrades, or health checks only.
    pub fn mode(&self) -> Mode {
        match self {
            MatrixItem::Canary(_) | MatrixItem::Prod(_) => Mode::Upgrade,
            MatrixItem::HealthCheck(_) => Mode::HealthCheck,
        }
    }
}

/// What a leg does on one cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterWork {
    pub cluster_name: String,
    pub support: bool,
    /// In order.
    pub hubs: Vec<String>,
}

/// Parses the `leg` input: one matrix item as `toJSON(matrix.jobs)` writes it.
pub fn parse_item(input: &str, text: &str) -> Result<MatrixItem, Error> {
    serde_json::from_str(text).map_err(|e| {
        Error::input(
            input,
            format!(
                "not a matrix item of generate's `support-and-staging-matrix-jobs`, `prod-hub-matrix-jobs`, \
                 `health-check-staging-matrix-jobs` or `health-check-prod-matrix-jobs` \
                 (pass `${{{{ toJSON(matrix.jobs) }}}}`): {e}"
            ),
        )
    })
}

/// The clusters of an item and what to upgrade on each, in order.
pub fn work_of(item: &MatrixItem) -> Vec<ClusterWork> {
    match item {
        MatrixItem::Canary(leg) => leg
            .clusters()
            .iter()
            .map(|job| ClusterWork {
                cluster_name: job.cluster_name.clone(),
                support: job.upgrade_support,
                hubs: if job.upgrade_staging { job.staging_hubs.clone() } else { Vec::new() },
            })
            .collect(),
        MatrixItem::Prod(leg) => hubs_by_cluster(leg.hubs().into_iter().map(|job| (job.cluster_name, job.hub_name))),
        MatrixItem::HealthCheck(leg) => {
            hubs_by_cluster(leg.jobs().into_iter().map(|job| (job.cluster_name, job.hub_name)))
        }
    }
}

/// The wave and chart commit the item gives each hub whose chart rolls out: cluster → hub → rollout
/// (`staging_rollout` of a support-and-staging item, `rollout` of a prod hub; none in a health-check item).
pub fn rollouts_of(item: &MatrixItem) -> BTreeMap<String, BTreeMap<String, JobRollout>> {
    let mut rollouts: BTreeMap<String, BTreeMap<String, JobRollout>> = BTreeMap::new();
    match item {
        MatrixItem::Canary(leg) => {
            for job in leg.clusters() {
                rollouts.entry(job.cluster_name.clone()).or_default().extend(job.staging_rollout.clone());
            }
        }
        MatrixItem::Prod(leg) => {
            for job in leg.hubs() {
                let hubs = rollouts.entry(job.cluster_name).or_default();
                if let Some(rollout) = job.rollout {
                    hubs.insert(job.hub_name, rollout);
                }
            }
        }
        MatrixItem::HealthCheck(_) => {}
    }
    rollouts
}

/// `(cluster, hub)` pairs in order, each run of one cluster's hubs as one cluster's work.
fn hubs_by_cluster(hubs: impl Iterator<Item = (String, String)>) -> Vec<ClusterWork> {
    let mut work: Vec<ClusterWork> = Vec::new();
    for (cluster_name, hub_name) in hubs {
        match work.last_mut() {
            Some(last) if last.cluster_name == cluster_name => last.hubs.push(hub_name),
            _ => work.push(ClusterWork { cluster_name, support: false, hubs: vec![hub_name] }),
        }
    }
    work
}

/// How one cluster of a leg ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClusterResult {
    Success,
    Failure,
}

/// The results file of a leg.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LegResults {
    pub version: u32,
    /// `GITHUB_RUN_ATTEMPT` of the leg: a re-run's report replaces an earlier attempt's.
    #[serde(default)]
    pub attempt: u32,
    pub clusters: BTreeMap<String, ClusterResult>,
}

/// What to run: the item, setup-cluster's inputs (without a cluster), how to deploy.
#[derive(Debug, Clone)]
pub struct LegRequest {
    pub work: Vec<ClusterWork>,
    /// Upgrades, or health checks only: what the item is.
    pub mode: Mode,
    pub access: SetupInputs,
    /// `cluster`, `support` and `hubs` are set per cluster.
    pub how: DeployRequest,
    pub max_parallel: usize,
    /// Where the results file goes.
    pub results_dir: PathBuf,
    /// The item's wave and chart commit of each hub whose chart rolls out: cluster → hub → rollout.
    pub item_rollouts: BTreeMap<String, BTreeMap<String, JobRollout>>,
}

impl LegRequest {
    /// Reads a leg's inputs (with `leg` set); `cluster`, `support` and `hubs` must be empty.
    pub fn from_env(env: &RunnerEnv, leg_text: &str) -> Result<Self, Error> {
        for single in [super::inputs::CLUSTER, super::inputs::HUBS] {
            if env.input(single).is_some() {
                return Err(Error::input(single, "must be empty when `leg` is given: the leg names its clusters"));
            }
        }
        if env.bool_input(super::inputs::SUPPORT, false)? {
            return Err(Error::input(super::inputs::SUPPORT, "must be empty when `leg` is given: the leg says"));
        }
        let item = parse_item(inputs::LEG, leg_text)?;
        check_each_cluster_once(&item)?;
        let mode = item.mode();
        match super::Mode::from_env(env)? {
            Some(given) if given != mode => {
                return Err(Error::input(
                    super::inputs::MODE,
                    format!(
                        "is `{}` but `leg` is an item of {}: leave `mode` empty (the item decides) or set it to `{}`",
                        given.as_str(),
                        match mode {
                            Mode::Upgrade => "an upgrade matrix (support-and-staging or prod hubs)",
                            Mode::HealthCheck => "a health-check matrix",
                        },
                        mode.as_str()
                    ),
                ))
            }
            _ => {}
        }
        let max_parallel = match env.input(inputs::MAX_PARALLEL_RELEASES) {
            None => DEFAULT_PARALLEL_RELEASES,
            Some(text) => {
                text.trim().parse::<usize>().ok().filter(|n| (1..=MAX_PARALLEL_RELEASES).contains(n)).ok_or_else(
                    || {
                        Error::input(
                            inputs::MAX_PARALLEL_RELEASES,
                            format!("expected a whole number from 1 to {MAX_PARALLEL_RELEASES}, got `{}`", text.trim()),
                        )
                    },
                )?
            }
        };
        let results_dir = env.input(inputs::RESULTS_DIR).unwrap_or(DEFAULT_RESULTS_DIR);
        let relative = Path::new(results_dir);
        if !inside_workspace(relative) {
            return Err(Error::input(inputs::RESULTS_DIR, "must be a folder inside the workspace, without `..`"));
        }
        let how = DeployRequest::how_from_env(env)?;
        if mode == Mode::HealthCheck && how.health_check.is_none() {
            return Err(Error::input(
                super::inputs::HEALTH_CHECK,
                "is required for an item of a health-check matrix: the shell command that checks a hub \
                 (`sh -c`, with CLUSTER_NAME and HUB_NAME set)",
            ));
        }
        Ok(LegRequest {
            work: work_of(&item),
            item_rollouts: rollouts_of(&item),
            mode,
            access: SetupInputs::from_env_for_leg(env)?,
            results_dir: how.repo.join(relative),
            how,
            max_parallel,
        })
    }
}

/// The cluster names an item lists, in order, as written (a batch's entries, not merged).
fn clusters_named(item: &MatrixItem) -> Vec<&str> {
    match item {
        MatrixItem::Canary(leg) => leg.clusters().iter().map(|job| job.cluster_name.as_str()).collect(),
        MatrixItem::Prod(ProdLeg::Hub(job)) => vec![job.cluster_name.as_str()],
        MatrixItem::Prod(ProdLeg::Batch(batch)) => batch.clusters.iter().map(|c| c.cluster_name.as_str()).collect(),
        MatrixItem::HealthCheck(HealthCheckLeg::Hub(job)) => vec![job.cluster_name.as_str()],
        MatrixItem::HealthCheck(HealthCheckLeg::Cluster(cluster)) => vec![cluster.cluster_name.as_str()],
        MatrixItem::HealthCheck(HealthCheckLeg::Batch(batch)) => {
            batch.clusters.iter().map(|c| c.cluster_name.as_str()).collect()
        }
    }
}

/// Refuses an item that names a cluster more than once. Generate never
/// writes one; run as given, the cluster's last result would overwrite its
/// first (a failure followed by a success would report a success).
pub fn check_each_cluster_once(item: &MatrixItem) -> Result<(), Error> {
    let mut seen = BTreeSet::new();
    for cluster in clusters_named(item) {
        if !seen.insert(cluster) {
            return Err(Error::input(
                inputs::LEG,
                format!(
                    "names cluster `{cluster}` more than once: an item of generate's matrices holds each cluster \
                     once (one result per cluster); nothing was run"
                ),
            ));
        }
    }
    Ok(())
}

/// Removes, before anything else, the results file a leg would leave: one
/// committed to the checkout or left by an earlier step must never be
/// uploaded as this leg's report. Reads only the `results-dir` input (the
/// default folder when it is not a folder inside the workspace, which the
/// inputs check refuses afterwards). A symbolic link on the way to the file
/// is removed itself, never followed; a folder named like the file is removed
/// whole (an upload of it would carry the files inside).
pub fn clear_stale_results(env: &RunnerEnv) -> Result<(), Error> {
    let given = Path::new(env.input(inputs::RESULTS_DIR).unwrap_or(DEFAULT_RESULTS_DIR));
    let relative = if inside_workspace(given) { given } else { Path::new(DEFAULT_RESULTS_DIR) };
    let mut dir = env.workspace();
    for component in relative.components() {
        let Component::Normal(name) = component else { continue };
        dir.push(name);
        match std::fs::symlink_metadata(&dir) {
            Ok(found) if found.is_dir() => {}
            // A link: removed, so that nothing written or uploaded goes through it.
            Ok(found) if found.file_type().is_symlink() => return remove_entry(&dir, false),
            // A file where a folder should be: nothing can be under it.
            Ok(_) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(Error::io(&dir, e)),
        }
    }
    for name in [RESULTS_FILE.to_owned(), partial_name()] {
        let path = dir.join(name);
        match std::fs::symlink_metadata(&path) {
            Ok(found) => remove_entry(&path, found.is_dir())?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(&path, e)),
        }
    }
    Ok(())
}

/// Removes a file or link (or, with `folder`, a whole folder, links inside it not followed).
fn remove_entry(path: &Path, folder: bool) -> Result<(), Error> {
    let removed = if folder { std::fs::remove_dir_all(path) } else { std::fs::remove_file(path) };
    removed.map_err(|e| Error::io(path, e))
}

/// The kubeconfig and credential files written for one cluster, removed
/// when this is dropped: when the cluster's work ends, however it ends (a
/// signal makes the deploy return `Error::Interrupted`, so this runs then too).
#[derive(Default)]
struct CredentialFiles {
    paths: Vec<PathBuf>,
}

impl Drop for CredentialFiles {
    fn drop(&mut self) {
        for path in self.paths.drain(..) {
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => runner::annotate_message(
                    Level::Warning,
                    &format!("could not remove the credential file {}: {e}", path.display()),
                ),
            }
        }
    }
}

/// The error of a leg stopped by `signal` before or between its clusters' steps.
fn stopped(signal: i32, message: String) -> Error {
    Error::Interrupted { signal, message }
}

/// What a leg did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LegOutcome {
    pub results: LegResults,
    /// Each cluster's table of releases (Markdown), in order.
    pub releases: Vec<(String, String)>,
    /// The results file written.
    pub results_file: PathBuf,
}

impl LegOutcome {
    /// The clusters that failed, in order.
    pub fn failed(&self) -> Vec<String> {
        self.results.clusters.iter().filter(|(_, r)| **r == ClusterResult::Failure).map(|(c, _)| c.clone()).collect()
    }

    /// The step summary: a table of releases per cluster.
    pub fn summary(&self) -> String {
        let mut text = String::new();
        for (cluster, releases) in &self.releases {
            let result = match self.results.clusters.get(cluster) {
                Some(ClusterResult::Success) => "succeeded",
                _ => "failed",
            };
            text.push_str(&format!("Cluster `{cluster}` {result}.\n"));
            text.push_str(releases);
            text.push('\n');
        }
        text
    }
}

/// Runs every cluster of the leg; a cluster's failure is recorded (and
/// reported) and the next cluster goes on. Fails only when writing the
/// results file fails; [`LegOutcome::failed`] says which clusters failed.
pub fn run_leg(env: &RunnerEnv, request: &LegRequest) -> Result<LegOutcome, Error> {
    let mut outcome = LegOutcome {
        results: LegResults {
            version: RESULTS_VERSION,
            attempt: env.var("GITHUB_RUN_ATTEMPT").and_then(|a| a.parse().ok()).unwrap_or(1),
            clusters: BTreeMap::new(),
        },
        releases: Vec::new(),
        results_file: request.results_dir.join(RESULTS_FILE),
    };
    let total = request.work.len();
    // From here on SIGTERM/SIGINT are recorded, not fatal: the leg stops at
    // the next step and removes the credentials it wrote before it exits.
    stop::install()?;
    // An empty file first: a leg that dies before its first cluster reports nothing, which filter treats as failed.
    write_results(&request.results_dir, &outcome.results)?;
    for (index, work) in request.work.iter().enumerate() {
        if let Some(signal) = stop::received() {
            return Err(stopped(
                signal,
                format!(
                    "the leg stopped before cluster {} ({} of {total}); the clusters not reported count as failed",
                    work.cluster_name,
                    index + 1
                ),
            ));
        }
        runner::print(&format!(
            "==> Cluster {} ({} of {total}): {}{}\n",
            work.cluster_name,
            index + 1,
            if work.support { "support chart, " } else { "" },
            if work.hubs.is_empty() { "no hubs".to_owned() } else { format!("hubs {}", work.hubs.join(", ")) }
        ));
        let (result, releases) = match run_cluster(env, request, work).map_err(|failure| *failure) {
            Ok(releases) => (ClusterResult::Success, run::releases_table(&releases)),
            Err((error @ Error::Interrupted { .. }, _)) => {
                // A cancelled run: stop here. The clusters not reported count as failed downstream.
                write_results(&request.results_dir, &outcome.results)?;
                return Err(error);
            }
            Err((error, releases)) => {
                let releases = match &error {
                    Error::ReleaseFailed { summary, .. } if releases.is_empty() => summary.clone(),
                    _ => run::releases_table(&releases),
                };
                runner::report_error(&error);
                runner::print(&format!(
                    "Cluster {} failed; the leg goes on with its other clusters\n",
                    work.cluster_name
                ));
                (ClusterResult::Failure, releases)
            }
        };
        outcome.results.clusters.insert(work.cluster_name.clone(), result);
        outcome.releases.push((work.cluster_name.clone(), releases));
        write_results(&request.results_dir, &outcome.results)?;
    }
    Ok(outcome)
}

/// Why a cluster failed, and its releases so far.
type ClusterFailure = Box<(Error, Vec<ReleaseResult>)>;

/// One cluster: credentials, then the support chart, then the hubs.
fn run_cluster(
    env: &RunnerEnv,
    request: &LegRequest,
    work: &ClusterWork,
) -> Result<Vec<ReleaseResult>, ClusterFailure> {
    let mut how = request.how.clone();
    how.cluster = work.cluster_name.clone();
    // A matrix item decides its hubs' waves and chart commits (none given: the hub's chart does not roll out):
    // deploy renders those at their pin, and records name them.
    let item_rollouts = request.item_rollouts.get(&work.cluster_name).cloned().unwrap_or_default();
    how.options.rollouts = Some(item_rollouts.clone());
    how.records.item_rollouts = Some(item_rollouts);
    // Dropped when this function returns, whatever the outcome: the files go with it.
    let mut credentials = CredentialFiles::default();
    if !how.dry_run {
        let inputs = SetupInputs { cluster: work.cluster_name.clone(), ..request.access.clone() };
        let access =
            access::run_recording(env, &inputs, &mut credentials.paths).map_err(|e| Box::new((e, Vec::new())))?;
        if let Some(signal) = stop::received() {
            let message = format!("the leg stopped after the access step of cluster {}", work.cluster_name);
            return Err(Box::new((stopped(signal, message), Vec::new())));
        }
        runner::print(&format!(
            "Access to {} ({}) ready ({} requests)\n",
            work.cluster_name,
            access.provider.as_str(),
            access.requests
        ));
        how.env = vec![("KUBECONFIG".to_owned(), access.written.to_string_lossy().into_owned())];
        how.env.extend(access.sops.vars.iter().cloned());
    }
    if request.mode == Mode::HealthCheck {
        let check = DeployRequest { support: false, hubs: work.hubs.clone(), ..how };
        // A failure's table of hubs is in its error.
        return run::check_hubs(&check, LogStyle::Actions)
            .map(|outcome| outcome.releases)
            .map_err(|error| Box::new((error, Vec::new())));
    }
    let mut releases = Vec::new();
    if work.support {
        let support = DeployRequest { support: true, hubs: Vec::new(), ..how.clone() };
        releases.extend(deploy_one(&support)?);
    }
    if work.hubs.is_empty() {
        return Ok(releases);
    }
    if request.max_parallel <= 1 || work.hubs.len() == 1 {
        let hubs = DeployRequest { support: false, hubs: work.hubs.clone(), ..how };
        // A failed support chart stopped the cluster above; a failed hub's table is in its error.
        return deploy_one(&hubs).map(|done| releases.into_iter().chain(done).collect());
    }
    // The hub charts' `before` steps once for the cluster, then the hubs in parallel without them.
    let before = DeployRequest { support: false, hubs: work.hubs.clone(), before: BeforeMode::Only, ..how.clone() };
    deploy_one(&before).map_err(|failure| {
        let (error, _) = *failure;
        let not_run =
            work.hubs.iter().map(|hub| ReleaseResult { release: hub.clone(), result: "not run", millis: None });
        Box::new((error, releases.iter().cloned().chain(not_run).collect()))
    })?;
    let how = DeployRequest { before: BeforeMode::Skip, ..how };
    let parallel = deploy_parallel(&how, &work.hubs, request.max_parallel);
    releases.extend(parallel.releases);
    match parallel.first_error {
        None => Ok(releases),
        Some(error) => Err(Box::new((error, releases))),
    }
}

/// One deploy, in order; a failed one's table of releases is in its error.
fn deploy_one(request: &DeployRequest) -> Result<Vec<ReleaseResult>, ClusterFailure> {
    run::deploy(request, LogStyle::Actions)
        .map(|outcome| outcome.releases)
        .map_err(|error| Box::new((error, Vec::new())))
}

struct Parallel {
    releases: Vec<ReleaseResult>,
    first_error: Option<Error>,
}

/// The hubs of one cluster, up to `workers` at a time, each its own helm
/// process; after the first failure no further hub starts. Workflow commands
/// are paused once around all of them (the output of several helm processes
/// interleaves, each line sanitised), never per release.
fn deploy_parallel(how: &DeployRequest, hubs: &[String], workers: usize) -> Parallel {
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let results: Mutex<Vec<Option<Result<ReleaseResult, Error>>>> = Mutex::new((0..hubs.len()).map(|_| None).collect());
    let token = runner::pause_commands();
    std::thread::scope(|scope| {
        for _ in 0..workers.min(hubs.len()) {
            scope.spawn(|| loop {
                if failed.load(Ordering::SeqCst) {
                    break;
                }
                let index = next.fetch_add(1, Ordering::SeqCst);
                let Some(hub) = hubs.get(index) else { break };
                let request = DeployRequest { support: false, hubs: vec![hub.clone()], ..how.clone() };
                let result = match run::deploy(&request, LogStyle::Interleaved) {
                    Ok(outcome) => Ok(outcome.releases.into_iter().next().unwrap_or(ReleaseResult {
                        release: hub.clone(),
                        result: "upgraded",
                        millis: None,
                    })),
                    Err(error) => {
                        failed.store(true, Ordering::SeqCst);
                        Err(error)
                    }
                };
                if let Ok(mut slots) = results.lock() {
                    slots[index] = Some(result);
                }
            });
        }
    });
    if let Ok(token) = &token {
        runner::resume_commands(token);
    }
    let slots = results.into_inner().unwrap_or_default();
    let mut parallel = Parallel { releases: Vec::new(), first_error: None };
    for (hub, slot) in hubs.iter().zip(slots) {
        match slot {
            Some(Ok(release)) => parallel.releases.push(release),
            Some(Err(error)) => {
                parallel.releases.push(ReleaseResult { release: hub.clone(), result: "failed", millis: None });
                if parallel.first_error.is_none() {
                    parallel.first_error = Some(error);
                } else {
                    runner::report_error(&error);
                }
            }
            None => parallel.releases.push(ReleaseResult { release: hub.clone(), result: "not run", millis: None }),
        }
    }
    parallel
}

/// Writes the results file whole (a temporary file renamed over it), so a reader never sees half of one.
fn write_results(dir: &Path, results: &LegResults) -> Result<(), Error> {
    if std::fs::symlink_metadata(dir).is_ok_and(|m| m.file_type().is_symlink()) {
        return Err(Error::input(inputs::RESULTS_DIR, format!("{} is a symlink", dir.display())));
    }
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let path = dir.join(RESULTS_FILE);
    let partial = dir.join(partial_name());
    let mut text = serde_json::to_string_pretty(results).map_err(|e| Error::Runner(e.to_string()))?;
    text.push('\n');
    std::fs::write(&partial, text).map_err(|e| Error::io(&partial, e))?;
    std::fs::rename(&partial, &path).map_err(|e| Error::io(&path, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Provider;
    use crate::planning::plan::{ProdHubJob, SupportAndStagingJob};

    fn canary(name: &str, support: bool, staging: &[&str]) -> SupportAndStagingJob {
        SupportAndStagingJob {
            cluster_name: name.into(),
            provider: Provider::Gcp,
            upgrade_support: support,
            reason_for_support_redeploy: String::new(),
            upgrade_staging: !staging.is_empty(),
            reason_for_staging_redeploy: String::new(),
            staging_hubs: staging.iter().map(|s| s.to_string()).collect(),
            staging_rollout: Default::default(),
        }
    }

    fn hub(cluster: &str, hub: &str) -> ProdHubJob {
        ProdHubJob {
            cluster_name: cluster.into(),
            provider: Provider::Aws,
            hub_name: hub.into(),
            reason_for_redeploy: "r".into(),
            rollout: None,
        }
    }

    #[test]
    fn every_item_shape_is_read_into_its_clusters_work() {
        let work = |cluster: &str, support: bool, hubs: &[&str]| ClusterWork {
            cluster_name: cluster.into(),
            support,
            hubs: hubs.iter().map(|h| h.to_string()).collect(),
        };
        let one = canary("a", true, &["staging"]);
        let batch = crate::planning::legs::pack(&[one.clone(), canary("b", false, &["s1", "s2"])], &[], 1);
        let prod = crate::planning::legs::pack(&[], &[hub("a", "h1"), hub("a", "h2"), hub("b", "h3")], 1);
        let cases: Vec<(String, Vec<ClusterWork>)> = vec![
            (serde_json::to_string(&one).expect("json"), vec![work("a", true, &["staging"])]),
            (
                serde_json::to_string(&batch.support_and_staging[0]).expect("json"),
                vec![work("a", true, &["staging"]), work("b", false, &["s1", "s2"])],
            ),
            (serde_json::to_string(&hub("c", "h9")).expect("json"), vec![work("c", false, &["h9"])]),
            (
                serde_json::to_string(&prod.prod[0]).expect("json"),
                vec![work("a", false, &["h1", "h2"]), work("b", false, &["h3"])],
            ),
        ];
        for (text, want) in cases {
            assert_eq!(work_of(&parse_item("leg", &text).expect(&text)), want, "{text}");
        }
        for bad in ["[]", "{}", r#"{"cluster_name": "a"}"#, "nope"] {
            let error = parse_item("leg", bad).expect_err(bad).to_string();
            assert!(error.starts_with("invalid input `leg`: not a matrix item"), "{error}");
        }
    }

    fn check(cluster: &str, hub: &str) -> crate::planning::plan::HealthCheckJob {
        crate::planning::plan::HealthCheckJob {
            cluster_name: cluster.into(),
            provider: Provider::Gcp,
            hub_name: hub.into(),
            reason_for_health_check: "r".into(),
        }
    }

    #[test]
    fn each_item_shape_parses_to_its_own_variant() {
        use crate::planning::legs::{HealthCheckBatch, HealthCheckCluster, HealthCheckHub};
        let checked = |cluster: &str, hubs: &[&str]| HealthCheckCluster {
            cluster_name: cluster.into(),
            provider: Provider::Gcp,
            hubs: hubs
                .iter()
                .map(|h| HealthCheckHub { hub_name: (*h).into(), reason_for_health_check: "r".into() })
                .collect(),
        };
        let canary_batch = crate::planning::legs::pack(&[canary("a", true, &["s"]), canary("b", true, &[])], &[], 1);
        let prod_batch = crate::planning::legs::pack(&[], &[hub("a", "h1"), hub("b", "h2")], 1);
        let checks_batch = HealthCheckLeg::Batch(HealthCheckBatch {
            leg: "1 of 1".into(),
            checks: 3,
            clusters: vec![checked("a", &["h1", "h2"]), checked("b", &["h3"])],
        });
        let items: Vec<MatrixItem> = vec![
            MatrixItem::Canary(SupportAndStagingLeg::Cluster(canary("a", true, &["s"]))),
            MatrixItem::Canary(canary_batch.support_and_staging[0].clone()),
            MatrixItem::Prod(ProdLeg::Hub(hub("a", "h1"))),
            MatrixItem::Prod(prod_batch.prod[0].clone()),
            MatrixItem::HealthCheck(HealthCheckLeg::Hub(check("a", "h1"))),
            MatrixItem::HealthCheck(HealthCheckLeg::Cluster(checked("a", &["s1", "s2"]))),
            MatrixItem::HealthCheck(checks_batch),
        ];
        let json = |item: &MatrixItem| match item {
            MatrixItem::Canary(leg) => serde_json::to_string(leg),
            MatrixItem::Prod(leg) => serde_json::to_string(leg),
            MatrixItem::HealthCheck(leg) => serde_json::to_string(leg),
        };
        for item in &items {
            let text = json(item).expect("json");
            assert_eq!(&parse_item("leg", &text).expect(&text), item, "{text}");
        }
        // The batched legs really are batches (not the one-job shapes).
        assert!(matches!(items[1], MatrixItem::Canary(SupportAndStagingLeg::Batch(_))), "{:?}", items[1]);
        assert!(matches!(items[3], MatrixItem::Prod(ProdLeg::Batch(_))), "{:?}", items[3]);
        let modes: Vec<Mode> = items.iter().map(MatrixItem::mode).collect();
        use Mode::{HealthCheck as C, Upgrade as U};
        assert_eq!(modes, [U, U, U, U, C, C, C]);
        assert_eq!(
            work_of(&items[6]),
            [
                ClusterWork { cluster_name: "a".into(), support: false, hubs: vec!["h1".into(), "h2".into()] },
                ClusterWork { cluster_name: "b".into(), support: false, hubs: vec!["h3".into()] },
            ]
        );
        // A prod hub job with the health check's reason field, or both, is no item at all.
        let mixed = r#"{"cluster_name":"a","provider":"gcp","hub_name":"h","reason_for_redeploy":"r","reason_for_health_check":"r"}"#;
        let error = parse_item("leg", mixed).expect_err(mixed).to_string();
        assert!(error.contains("`health-check-staging-matrix-jobs` or `health-check-prod-matrix-jobs`"), "{error}");
    }

    #[test]
    fn mode_must_agree_with_the_item() {
        let upgrade = serde_json::to_string(&hub("c", "h")).expect("json");
        let checks = serde_json::to_string(&check("c", "h")).expect("json");
        let with = |vars: &[(&'static str, &'static str)], leg: &str| {
            LegRequest::from_env(&RunnerEnv::from_vars(vars.iter().copied()), leg)
        };
        let command = ("INPUT_HEALTH-CHECK", "true");
        // (inputs, the item, the mode or the error)
        type Case<'a> = (&'a [(&'static str, &'static str)], &'a str, Result<Mode, &'static str>);
        let cases: &[Case] = &[
            (&[], &upgrade, Ok(Mode::Upgrade)),
            (&[("INPUT_MODE", "upgrade")], &upgrade, Ok(Mode::Upgrade)),
            (&[command], &checks, Ok(Mode::HealthCheck)),
            (&[command, ("INPUT_MODE", "health-check")], &checks, Ok(Mode::HealthCheck)),
            (
                &[command, ("INPUT_MODE", "upgrade")],
                &checks,
                Err("invalid input `mode`: is `upgrade` but `leg` is an item of a health-check matrix: leave \
                     `mode` empty (the item decides) or set it to `health-check`"),
            ),
            (
                &[command, ("INPUT_MODE", "health-check")],
                &upgrade,
                Err("invalid input `mode`: is `health-check` but `leg` is an item of an upgrade matrix \
                     (support-and-staging or prod hubs): leave `mode` empty (the item decides) or set it to `upgrade`"),
            ),
            (
                &[("INPUT_MODE", "check")],
                &checks,
                Err("invalid input `mode`: expected `upgrade` or `health-check`, got `check`"),
            ),
            (
                &[],
                &checks,
                Err("invalid input `health-check`: is required for an item of a health-check matrix: the shell \
                     command that checks a hub (`sh -c`, with CLUSTER_NAME and HUB_NAME set)"),
            ),
        ];
        for (vars, leg, want) in cases {
            let got = with(vars, leg).map(|r| r.mode).map_err(|e| e.to_string());
            assert_eq!(got, want.map_err(str::to_owned), "{vars:?} {leg}");
        }
    }

    #[test]
    fn an_item_naming_a_cluster_twice_is_refused_in_every_shape() {
        let batch = crate::planning::legs::pack(&[canary("a", true, &["s"]), canary("b", false, &["s"])], &[], 1);
        let mut twice = serde_json::to_value(&batch.support_and_staging[0]).expect("json");
        let first = twice["clusters"][0].clone();
        twice["clusters"][1] = first;
        let prod = crate::planning::legs::pack(&[], &[hub("a", "h1"), hub("b", "h2")], 1);
        let mut split = serde_json::to_value(&prod.prod[0]).expect("json");
        let mut again = split["clusters"][0].clone();
        again["hubs"][0]["hub_name"] = "h3".into();
        split["clusters"].as_array_mut().expect("clusters").push(again);
        let checks = r#"{"leg": "1 of 1", "checks": 2, "clusters": [
            {"cluster_name": "a", "provider": "gcp", "hubs": [{"hub_name": "h1", "reason_for_health_check": "r"}]},
            {"cluster_name": "a", "provider": "gcp", "hubs": [{"hub_name": "h2", "reason_for_health_check": "r"}]}]}"#;
        let env = RunnerEnv::from_vars([("INPUT_HEALTH-CHECK", "true")]);
        for leg in [twice.to_string(), split.to_string(), checks.to_owned()] {
            let error = LegRequest::from_env(&env, &leg).expect_err(&leg).to_string();
            assert_eq!(
                error,
                "invalid input `leg`: names cluster `a` more than once: an item of generate's matrices holds each \
                 cluster once (one result per cluster); nothing was run",
                "{leg}"
            );
        }
        // Each cluster once is fine.
        let once = serde_json::to_string(&batch.support_and_staging[0]).expect("json");
        assert_eq!(LegRequest::from_env(&env, &once).expect("ok").work.len(), 2);
    }

    #[test]
    fn leg_inputs_refuse_single_cluster_inputs_and_bad_numbers() {
        let leg = serde_json::to_string(&hub("c", "h")).expect("json");
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[("INPUT_CLUSTER", "c")], "invalid input `cluster`: must be empty when `leg` is given"),
            (&[("INPUT_SUPPORT", "true")], "invalid input `support`: must be empty"),
            (&[("INPUT_MAX-PARALLEL-RELEASES", "0")], "expected a whole number from 1 to 32, got `0`"),
            (&[("INPUT_RESULTS-DIR", "../out")], "invalid input `results-dir`: must be a folder inside the workspace"),
            (&[("INPUT_RESULTS-DIR", "/tmp/out")], "invalid input `results-dir`"),
        ];
        for (vars, want) in cases {
            let env = RunnerEnv::from_vars(vars.iter().copied());
            let error = LegRequest::from_env(&env, &leg).expect_err(want).to_string();
            assert!(error.contains(want), "{error}");
        }
        let env = RunnerEnv::from_vars([("INPUT_MAX-PARALLEL-RELEASES", "4"), ("GITHUB_WORKSPACE", "/w")]);
        let request = LegRequest::from_env(&env, &leg).expect("ok");
        assert_eq!(request.max_parallel, 4);
        assert_eq!(request.results_dir, PathBuf::from("/w/deploy-results"));
    }
}
