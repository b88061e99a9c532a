//! A whole matrix leg in one step (the `leg` input of `actions/deploy`): a
//! support-and-staging or prod item in either shape ([`crate::legs`]). For
//! each cluster of the leg, in order: credentials in-process (the code of
//! `setup-cluster`), then its support chart, then its hubs (up to
//! `max-parallel-releases` at a time). The first failing release of a
//! cluster stops that cluster's remaining releases, not the other clusters.
//! After each cluster the leg's results file (cluster → success or failure)
//! is rewritten whole, for `filter` to read from the leg's artifact.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use super::run::{self, LogStyle, ReleaseResult};
use super::DeployRequest;
use crate::access::stage::{self as access, SetupInputs};
use crate::error::Error;
use crate::legs::{ProdLeg, SupportAndStagingLeg};
use crate::runner::{self, RunnerEnv};

/// Input names `actions/deploy` reads for a leg, besides setup-cluster's credential inputs.
pub mod inputs {
    pub const LEG: &str = "leg";
    pub const MAX_PARALLEL_RELEASES: &str = "max-parallel-releases";
    pub const RESULTS_DIR: &str = "results-dir";
}

/// The results folder when `results-dir` is not given, relative to the workspace.
pub const DEFAULT_RESULTS_DIR: &str = "deploy-results";
/// The results file's name inside the results folder (and the leg's artifact).
pub const RESULTS_FILE: &str = "results.json";
/// The results file's format version.
pub const RESULTS_VERSION: u32 = 1;
/// Releases of one cluster run at the same time at most.
pub const MAX_PARALLEL_RELEASES: usize = 32;

/// One item of either matrix, in either shape.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum MatrixItem {
    Canary(SupportAndStagingLeg),
    Prod(ProdLeg),
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
                "not a matrix item of generate's `support-and-staging-matrix-jobs` or `prod-hub-matrix-jobs` \
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
        MatrixItem::Prod(leg) => {
            let mut work: Vec<ClusterWork> = Vec::new();
            for job in leg.hubs() {
                match work.last_mut() {
                    Some(last) if last.cluster_name == job.cluster_name => last.hubs.push(job.hub_name),
                    _ => work.push(ClusterWork {
                        cluster_name: job.cluster_name,
                        support: false,
                        hubs: vec![job.hub_name],
                    }),
                }
            }
            work
        }
    }
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
    pub access: SetupInputs,
    /// `cluster`, `support` and `hubs` are set per cluster.
    pub how: DeployRequest,
    pub max_parallel: usize,
    /// Where the results file goes.
    pub results_dir: PathBuf,
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
        let max_parallel = match env.input(inputs::MAX_PARALLEL_RELEASES) {
            None => 1,
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
        if relative.components().any(|c| !matches!(c, Component::Normal(_) | Component::CurDir)) {
            return Err(Error::input(inputs::RESULTS_DIR, "must be a folder inside the workspace, without `..`"));
        }
        let how = DeployRequest::how_from_env(env)?;
        Ok(LegRequest {
            work: work_of(&item),
            access: SetupInputs::from_env_for_leg(env)?,
            results_dir: how.repo.join(relative),
            how,
            max_parallel,
        })
    }
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
    // An empty file first: a leg that dies before its first cluster reports nothing, which filter treats as failed.
    write_results(&request.results_dir, &outcome.results)?;
    for (index, work) in request.work.iter().enumerate() {
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
    if !how.dry_run {
        let inputs = SetupInputs { cluster: work.cluster_name.clone(), ..request.access.clone() };
        let access = access::run(env, &inputs).map_err(|e| Box::new((e, Vec::new())))?;
        runner::print(&format!(
            "Access to {} ({}) ready ({} requests)\n",
            work.cluster_name,
            access.provider.as_str(),
            access.requests
        ));
        how.env = vec![("KUBECONFIG".to_owned(), access.written.to_string_lossy().into_owned())];
        how.env.extend(access.sops.vars.iter().cloned());
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
    let partial = dir.join(format!(".{RESULTS_FILE}.partial"));
    let mut text = serde_json::to_string_pretty(results).map_err(|e| Error::Runner(e.to_string()))?;
    text.push('\n');
    std::fs::write(&partial, text).map_err(|e| Error::io(&partial, e))?;
    std::fs::rename(&partial, &path).map_err(|e| Error::io(&path, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Provider;
    use crate::plan::{ProdHubJob, SupportAndStagingJob};

    fn canary(name: &str, support: bool, staging: &[&str]) -> SupportAndStagingJob {
        SupportAndStagingJob {
            cluster_name: name.into(),
            provider: Provider::Gcp,
            upgrade_support: support,
            reason_for_support_redeploy: String::new(),
            upgrade_staging: !staging.is_empty(),
            reason_for_staging_redeploy: String::new(),
            staging_hubs: staging.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn hub(cluster: &str, hub: &str) -> ProdHubJob {
        ProdHubJob {
            cluster_name: cluster.into(),
            provider: Provider::Aws,
            hub_name: hub.into(),
            reason_for_redeploy: "r".into(),
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
        let batch = crate::legs::pack(&[one.clone(), canary("b", false, &["s1", "s2"])], &[], 1);
        let prod = crate::legs::pack(&[], &[hub("a", "h1"), hub("a", "h2"), hub("b", "h3")], 1);
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
