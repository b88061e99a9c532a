//! The `filter` action's inputs and outputs, and reading the run's job
//! conclusions from the GitHub API.

use std::collections::BTreeMap;

use crate::base::error::Error;
use crate::base::runner::{Outputs, RunnerEnv};
use crate::cluster::deploy::leg::{ClusterResult, LegResults, RESULTS_FILE, RESULTS_VERSION};
use crate::github::artifact::{read_files, ArtifactLimits};
use crate::github::{ClientConfig, GitHub, RunArtifact};
use crate::planning::filter::{
    check_job_name, filter_canaries, kept_check_legs, kept_legs, parse_results, repeated_key, results_from_jobs,
    FilterOutcome, LegResult, RunJob, DEFAULT_HEALTH_CHECK_JOB_NAME, DEFAULT_JOB_NAME, HEALTH_CHECK_CANARY,
    UPGRADE_CANARY,
};
use crate::planning::legs::{
    canary_jobs, prod_jobs, HealthCheckLeg, ProdLeg, SupportAndStagingBatch, SupportAndStagingLeg,
};
use crate::planning::plan::{ProdHubJob, SupportAndStagingJob};

/// Input names of `actions/filter`.
pub mod inputs {
    pub const PROD_HUBS: &str = "prod-hub-matrix-jobs";
    pub const SUPPORT_AND_STAGING: &str = "support-and-staging-matrix-jobs";
    pub const RESULTS: &str = "results";
    pub const JOB_NAME: &str = "job-name";
    pub const GITHUB_TOKEN: &str = "github-token";
    pub const RESULTS_FROM: &str = "results-from";
    pub const RESULTS_ARTIFACTS: &str = "results-artifacts";
    /// Every input the action reads.
    pub const ALL: &[&str] =
        &[PROD_HUBS, SUPPORT_AND_STAGING, RESULTS, JOB_NAME, GITHUB_TOKEN, RESULTS_FROM, RESULTS_ARTIFACTS];
    /// The default of each input the code gives one (when the input is absent or empty), as
    /// `action.yml` must declare it (`tests/action_metadata.rs` checks it). `job-name` and
    /// `results-artifacts` have none there: their defaults depend on the matrices' kind, and a
    /// default in `action.yml` would be passed by the runner and always win.
    pub fn defaults() -> Vec<(&'static str, String)> {
        vec![(RESULTS_FROM, super::DEFAULT_RESULTS_FROM.to_owned())]
    }
}

/// Output names of `actions/filter`.
pub mod outputs {
    pub const FILTERED: &str = "filtered-prod-hub-matrix-jobs";
    pub const DROPPED: &str = "dropped";
    pub const HAS_JOBS: &str = "has-jobs";
    /// Every output the action writes.
    pub const ALL: &[&str] = &[FILTERED, DROPPED, HAS_JOBS];
}

/// The artifact-name prefix of the legs' results when `results-artifacts` is not given.
pub const DEFAULT_RESULTS_ARTIFACTS: &str = "deploy-results-";
/// Where the results come from when `results-from` is absent: the jobs' conclusions.
pub const DEFAULT_RESULTS_FROM: &str = "jobs";
/// The same for the staging health-check legs.
pub const DEFAULT_HEALTH_CHECK_RESULTS_ARTIFACTS: &str = "health-check-results-";

/// Where the legs' results come from when no `results` are given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResultsFrom {
    /// The conclusions of the run's support-and-staging jobs, by name (a batched leg's conclusion for all its clusters).
    Jobs,
    /// Each leg's `results.json` in the run's artifacts named with the `results-artifacts` prefix: per cluster.
    Artifacts,
}

/// Which pair of matrices the filter was given: generate's upgrade matrices, or its health-check ones
/// (`health-check-staging-matrix-jobs` as the canaries, `health-check-prod-matrix-jobs` as the prod jobs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatrixKind {
    Upgrades,
    HealthChecks,
}

/// A matrix input of either kind: upgrade legs, or health-check legs.
enum Either<U> {
    Upgrades(Vec<U>),
    HealthChecks(Vec<HealthCheckLeg>),
}

/// Parses a matrix input as generate's upgrade matrix, else as a health-check matrix; the upgrade
/// matrix's error when it is neither. An empty or absent matrix counts as an upgrade matrix.
fn parse_either<U: serde::de::DeserializeOwned>(input: &str, text: Option<&str>) -> Result<Either<U>, Error> {
    match parse_matrix::<U>(input, input, text) {
        Ok(upgrades) => Ok(Either::Upgrades(upgrades)),
        Err(error) => match text.map(serde_json::from_str::<Vec<HealthCheckLeg>>) {
            Some(Ok(checks)) => Ok(Either::HealthChecks(checks)),
            _ => Err(error),
        },
    }
}

/// A staging health-check leg seen as a support-and-staging leg (no support chart, its hubs as the
/// staging hubs), so that the same rules and the same results reading apply to it.
fn as_canary(leg: &HealthCheckLeg) -> SupportAndStagingLeg {
    let job = |cluster_name: &str, provider, staging_hubs: Vec<String>| SupportAndStagingJob {
        cluster_name: cluster_name.to_owned(),
        provider,
        upgrade_support: false,
        reason_for_support_redeploy: String::new(),
        upgrade_staging: true,
        reason_for_staging_redeploy: String::new(),
        staging_hubs,
        staging_rollout: Default::default(),
    };
    let of_cluster = |cluster: &crate::planning::legs::HealthCheckCluster| {
        job(&cluster.cluster_name, cluster.provider, cluster.hubs.iter().map(|h| h.hub_name.clone()).collect())
    };
    match leg {
        HealthCheckLeg::Batch(batch) => SupportAndStagingLeg::Batch(SupportAndStagingBatch {
            leg: batch.leg.clone(),
            releases: batch.checks,
            clusters: batch.clusters.iter().map(of_cluster).collect(),
        }),
        HealthCheckLeg::Cluster(cluster) => SupportAndStagingLeg::Cluster(of_cluster(cluster)),
        HealthCheckLeg::Hub(hub) => {
            SupportAndStagingLeg::Cluster(job(&hub.cluster_name, hub.provider, vec![hub.hub_name.clone()]))
        }
    }
}

/// A health check seen as a prod job, its reason as the reason.
fn as_prod_job(job: crate::planning::plan::HealthCheckJob) -> ProdHubJob {
    ProdHubJob {
        cluster_name: job.cluster_name,
        provider: job.provider,
        hub_name: job.hub_name,
        reason_for_redeploy: job.reason_for_health_check,
        rollout: None,
    }
}

/// The inputs of `actions/filter`, parsed.
#[derive(Debug, Clone)]
pub struct FilterInputs {
    /// Upgrades or health checks.
    pub kind: MatrixKind,
    /// The prod health-check matrix as given, when that is what `prod-hub-matrix-jobs` holds.
    pub prod_check_legs: Vec<HealthCheckLeg>,
    /// The prod matrix as given (either shape), and its hubs.
    pub prod_legs: Vec<ProdLeg>,
    pub prod: Vec<ProdHubJob>,
    /// The support-and-staging matrix as given, and its clusters.
    pub support_and_staging_legs: Vec<SupportAndStagingLeg>,
    pub support_and_staging: Vec<SupportAndStagingJob>,
    /// `None`: read the legs' results from `results_from`.
    pub results: Option<BTreeMap<String, LegResult>>,
    pub results_from: ResultsFrom,
    pub results_artifacts: String,
    pub job_name: String,
}

impl FilterInputs {
    /// Reads and checks the action's inputs.
    pub fn from_env(env: &RunnerEnv) -> Result<Self, Error> {
        let (canary_kind, support_and_staging_legs) = match parse_either::<SupportAndStagingLeg>(
            inputs::SUPPORT_AND_STAGING,
            env.input(inputs::SUPPORT_AND_STAGING),
        )? {
            Either::Upgrades(legs) => (None, legs),
            Either::HealthChecks(legs) => (Some(MatrixKind::HealthChecks), legs.iter().map(as_canary).collect()),
        };
        let (prod_kind, prod_legs, prod_check_legs) =
            match parse_either::<ProdLeg>(inputs::PROD_HUBS, env.input(inputs::PROD_HUBS))? {
                Either::Upgrades(legs) => (None, legs, Vec::new()),
                Either::HealthChecks(legs) => (Some(MatrixKind::HealthChecks), Vec::new(), legs),
            };
        // An empty matrix goes with either kind; two non-empty ones must be of one kind.
        let is_empty = |text: Option<&str>| text.is_none_or(|t| t.trim() == "[]");
        let kind = match (canary_kind, prod_kind) {
            (Some(_), _) | (_, Some(_)) => {
                let mixed = (canary_kind.is_none() && !is_empty(env.input(inputs::SUPPORT_AND_STAGING)))
                    || (prod_kind.is_none() && !is_empty(env.input(inputs::PROD_HUBS)));
                if mixed {
                    return Err(Error::input(
                        inputs::PROD_HUBS,
                        "one matrix is a health-check matrix and the other an upgrade matrix: pass generate's \
                         `health-check-staging-matrix-jobs` with `health-check-prod-matrix-jobs`, or \
                         `support-and-staging-matrix-jobs` with `prod-hub-matrix-jobs`",
                    ));
                }
                MatrixKind::HealthChecks
            }
            (None, None) => MatrixKind::Upgrades,
        };
        let support_and_staging = canary_jobs(&support_and_staging_legs);
        let results = env
            .input(inputs::RESULTS)
            .map(|text| parse_results(inputs::RESULTS, text, &support_and_staging))
            .transpose()?;
        let default_job_name =
            if kind == MatrixKind::HealthChecks { DEFAULT_HEALTH_CHECK_JOB_NAME } else { DEFAULT_JOB_NAME };
        let job_name = env.input(inputs::JOB_NAME).unwrap_or(default_job_name).to_owned();
        check_job_name(inputs::JOB_NAME, &job_name)?;
        let results_from = match env.input(inputs::RESULTS_FROM).map(str::trim) {
            None | Some(DEFAULT_RESULTS_FROM) => ResultsFrom::Jobs,
            Some("artifacts") => ResultsFrom::Artifacts,
            Some(other) => {
                return Err(Error::input(
                    inputs::RESULTS_FROM,
                    format!("expected `jobs` or `artifacts`, got `{other}`"),
                ))
            }
        };
        let default_artifacts = if kind == MatrixKind::HealthChecks {
            DEFAULT_HEALTH_CHECK_RESULTS_ARTIFACTS
        } else {
            DEFAULT_RESULTS_ARTIFACTS
        };
        let results_artifacts = env.input(inputs::RESULTS_ARTIFACTS).unwrap_or(default_artifacts).to_owned();
        let prod = match kind {
            MatrixKind::Upgrades => prod_jobs(&prod_legs),
            MatrixKind::HealthChecks => {
                prod_check_legs.iter().flat_map(HealthCheckLeg::jobs).map(as_prod_job).collect()
            }
        };
        Ok(FilterInputs {
            kind,
            prod_check_legs,
            prod,
            prod_legs,
            support_and_staging_legs,
            support_and_staging,
            results,
            results_from,
            results_artifacts,
            job_name,
        })
    }
}

/// Parses one matrix as generate writes it: the JSON array itself, or a JSON
/// object holding it under `key` (the whole `deployer generate --output json`,
/// or a plan folder's `plan.json`). An absent input is an empty matrix.
pub fn parse_matrix<T: serde::de::DeserializeOwned>(
    input: &str,
    key: &str,
    text: Option<&str>,
) -> Result<Vec<T>, Error> {
    let Some(text) = text else { return Ok(Vec::new()) };
    if !text.trim_start().starts_with('{') {
        return serde_json::from_str(text)
            .map_err(|e| Error::input(input, format!("not the JSON array the generate action writes: {e}")));
    }
    let mut object: serde_json::Map<String, serde_json::Value> = serde_json::from_str(text)
        .map_err(|e| Error::input(input, format!("not the JSON array or object the generate action writes: {e}")))?;
    let matrix = object.remove(key).ok_or_else(|| {
        Error::input(
            input,
            format!(
                "a JSON object without a `{key}` key: pass the `{key}` array, or the whole \
                 `deployer generate --output json` or `plan.json`, which hold it under that key"
            ),
        )
    })?;
    serde_json::from_value(matrix)
        .map_err(|e| Error::input(input, format!("`{key}` is not the array generate writes: {e}")))
}

/// Decides the filter, reading the leg conclusions from the API when no
/// `results` were given. Returns the outcome and the API requests made.
pub fn run(env: &RunnerEnv, inputs: &FilterInputs) -> Result<(FilterOutcome, usize), Error> {
    let (mut outcome, requests) = decide(env, inputs)?;
    outcome.kept_legs = kept_legs(&inputs.prod_legs, &outcome);
    outcome.kept_check_legs = kept_check_legs(&inputs.prod_check_legs, &outcome);
    outcome.health_checks = inputs.kind == MatrixKind::HealthChecks;
    Ok((outcome, requests))
}

/// [`filter_canaries`] with the reasons of the inputs' kind.
fn filter(
    prod: &[ProdHubJob],
    canaries: &[SupportAndStagingJob],
    results: &BTreeMap<String, LegResult>,
    kind: MatrixKind,
) -> FilterOutcome {
    let what = match kind {
        MatrixKind::Upgrades => UPGRADE_CANARY,
        MatrixKind::HealthChecks => HEALTH_CHECK_CANARY,
    };
    filter_canaries(prod, canaries, results, what)
}

fn decide(env: &RunnerEnv, inputs: &FilterInputs) -> Result<(FilterOutcome, usize), Error> {
    if let Some(results) = &inputs.results {
        return Ok((filter(&inputs.prod, &inputs.support_and_staging, results, inputs.kind), 0));
    }
    let needs_api =
        inputs.prod.iter().any(|p| inputs.support_and_staging.iter().any(|s| s.cluster_name == p.cluster_name));
    if !needs_api {
        // Nothing waits on a canary: no need to ask anyone.
        return Ok((filter(&inputs.prod, &inputs.support_and_staging, &BTreeMap::new(), inputs.kind), 0));
    }
    let repo = env.repository()?;
    let run_id =
        env.var("GITHUB_RUN_ID").filter(|id| !id.is_empty() && id.chars().all(|c| c.is_ascii_digit())).ok_or_else(
            || Error::Runner("GITHUB_RUN_ID is not set: pass `results` when running outside GitHub Actions".into()),
        )?;
    let config = ClientConfig::from_env(env, inputs::GITHUB_TOKEN)?;
    if inputs.results_from == ResultsFrom::Artifacts {
        let run_attempt = run_attempt(env)?;
        let listing = format!("{}/actions/runs/{run_id}/artifacts", repo.api_path());
        let (results, requests) = crate::tools::http::block_on(async {
            let gh = GitHub::new(config)?;
            let results = results_from_artifacts(&gh, &repo.api_path(), &listing, inputs, run_attempt).await;
            Ok::<_, Error>((results, gh.request_count()))
        })??;
        let (results, warnings) = results?;
        let mut outcome = filter(&inputs.prod, &inputs.support_and_staging, &results, inputs.kind);
        outcome.warnings.splice(0..0, warnings);
        return Ok((outcome, requests));
    }
    let endpoint = format!("{}/actions/runs/{run_id}/jobs?filter=latest", repo.api_path());
    let (jobs, requests) = crate::tools::http::block_on(async {
        let gh = GitHub::new(config)?;
        let jobs = gh.get_all::<RunJob>(&endpoint, Some("jobs"), None).await;
        Ok::<_, Error>((jobs, gh.request_count()))
    })??;
    let jobs = jobs?;
    let results = results_from_jobs(&jobs, &inputs.job_name, &inputs.support_and_staging_legs);
    Ok((filter(&inputs.prod, &inputs.support_and_staging, &results, inputs.kind), requests))
}

/// The step outputs for an outcome.
pub fn action_outputs(outcome: &FilterOutcome, kind: MatrixKind) -> Result<Outputs, Error> {
    let mut out = Outputs::default();
    match kind {
        MatrixKind::Upgrades => out.set_json(outputs::FILTERED, &outcome.kept_legs)?,
        MatrixKind::HealthChecks => out.set_json(outputs::FILTERED, &outcome.kept_check_legs)?,
    }
    out.set_json(outputs::DROPPED, &outcome.dropped)?;
    out.set(outputs::HAS_JOBS, if outcome.kept.is_empty() { "false" } else { "true" });
    Ok(out)
}

/// A leg's results artifact is small: one short JSON file.
const RESULTS_LIMITS: ArtifactLimits =
    ArtifactLimits { max_compressed: 1 << 20, max_uncompressed: 1 << 20, max_entries: 16 };

/// At most this many characters of an artifact's name are shown in a warning.
const SHOWN_NAME_CHARS: usize = 120;

/// A leg's report bound to its leg: the artifact it came in, the leg's index
/// in the canary matrix (`strategy.job-index`) and the run attempt, both from
/// the artifact's name and checked against the run and the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegReport {
    pub leg: usize,
    pub attempt: u32,
    pub results: LegResults,
}

/// `<prefix><job index>-<attempt>`, both plain decimal numbers (no sign, no
/// leading zero), as the example workflow names the artifacts; `None` for any
/// other name.
pub fn parse_artifact_name(prefix: &str, name: &str) -> Option<(usize, u32)> {
    let (index, attempt) = name.strip_prefix(prefix)?.split_once('-')?;
    fn number(text: &str) -> Option<&str> {
        let plain =
            !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) && (text == "0" || !text.starts_with('0'));
        plain.then_some(text)
    }
    Some((number(index)?.parse().ok()?, number(attempt)?.parse().ok()?))
}

/// Binds an artifact's name to a leg of a matrix of `legs` legs, in a run at
/// `run_attempt`: its job index and attempt, or why it cannot be that leg's.
pub fn bind_artifact_name(prefix: &str, name: &str, legs: usize, run_attempt: u32) -> Result<(usize, u32), String> {
    let (leg, attempt) = parse_artifact_name(prefix, name)
        .ok_or_else(|| format!("its name is not `{prefix}<job index>-<run attempt>`"))?;
    if leg >= legs {
        return Err(format!("its name says leg index {leg}, but the matrix has {legs} leg(s)"));
    }
    if attempt == 0 || attempt > run_attempt {
        return Err(format!("its name says run attempt {attempt}, but this is attempt {run_attempt} of the run"));
    }
    Ok((leg, attempt))
}

/// Checks an artifact's `results.json` against the leg and attempt of its
/// name: the file's attempt must be the name's, and every cluster it names
/// must be one of that leg's (a leg reports only its own clusters).
pub fn check_report(
    bytes: &[u8],
    leg: &SupportAndStagingLeg,
    index: usize,
    attempt: u32,
) -> Result<LegResults, String> {
    let results = parse_leg_results(bytes)?;
    if results.attempt != attempt {
        return Err(format!("its {RESULTS_FILE} says run attempt {}, but its name says {attempt}", results.attempt));
    }
    let foreign: Vec<&str> = results
        .clusters
        .keys()
        .filter(|cluster| !leg.clusters().iter().any(|job| &job.cluster_name == *cluster))
        .map(String::as_str)
        .collect();
    if !foreign.is_empty() {
        return Err(format!(
            "its {RESULTS_FILE} names {} not in leg {index} of the matrix: {}",
            if foreign.len() == 1 { "a cluster" } else { "clusters" },
            foreign.iter().take(5).map(|c| format!("`{}`", shown(c))).collect::<Vec<_>>().join(", ")
        ));
    }
    Ok(results)
}

/// A name from an artifact or a file, cut short for a warning (the warning itself is sanitised when printed).
fn shown(text: &str) -> String {
    let mut cut: String = text.chars().take(SHOWN_NAME_CHARS).collect();
    if cut.len() < text.len() {
        cut.push('…');
    }
    cut
}

/// `GITHUB_RUN_ATTEMPT`: no report of a later attempt than the run's own can be genuine.
fn run_attempt(env: &RunnerEnv) -> Result<u32, Error> {
    env.var("GITHUB_RUN_ATTEMPT").and_then(|text| text.parse::<u32>().ok()).filter(|attempt| *attempt >= 1).ok_or_else(
        || {
            Error::Runner(
                "GITHUB_RUN_ATTEMPT is not a run attempt: with `results-from: artifacts` the filter checks each \
                 report's attempt against it (pass `results` when running outside GitHub Actions)"
                    .into(),
            )
        },
    )
}

/// Each cluster's result from the legs' `results.json` artifacts: each
/// artifact bound to its leg by its name ([`bind_artifact_name`]) and checked
/// against it ([`check_report`]); one that fails a check is ignored with a
/// warning, so its leg's clusters count as failed unless a genuine report of
/// theirs exists. Merged by [`merge_leg_reports`]. Returns the results and
/// the warnings.
async fn results_from_artifacts(
    gh: &GitHub,
    repo: &str,
    listing: &str,
    inputs: &FilterInputs,
    run_attempt: u32,
) -> Result<(BTreeMap<String, LegResult>, Vec<String>), Error> {
    let artifacts: Vec<RunArtifact> = gh.get_all(listing, Some("artifacts"), None).await?;
    let legs = &inputs.support_and_staging_legs;
    let mut reports: Vec<LegReport> = Vec::new();
    let mut warnings = Vec::new();
    for artifact in artifacts.iter().filter(|a| a.name.starts_with(&inputs.results_artifacts) && !a.expired) {
        let mut ignored = |why: String| {
            warnings.push(format!(
                "results artifact `{}` ignored: {why}; no cluster counts as succeeded on its word (fail closed)",
                shown(&artifact.name)
            ));
        };
        let (index, attempt) =
            match bind_artifact_name(&inputs.results_artifacts, &artifact.name, legs.len(), run_attempt) {
                Ok(bound) => bound,
                Err(why) => {
                    ignored(why);
                    continue;
                }
            };
        if artifact.size_in_bytes > RESULTS_LIMITS.max_compressed {
            ignored(format!(
                "{} bytes, more than the {}-byte cap",
                artifact.size_in_bytes, RESULTS_LIMITS.max_compressed
            ));
            continue;
        }
        let zip = gh.artifact_zip(repo, artifact.id, RESULTS_LIMITS.max_compressed).await?;
        let files = match read_files(&zip, &[RESULTS_FILE], RESULTS_LIMITS) {
            Ok(files) => files,
            Err(e) => {
                ignored(e.to_string());
                continue;
            }
        };
        let Some(bytes) = files.get(RESULTS_FILE) else {
            ignored(format!("it has no {RESULTS_FILE}"));
            continue;
        };
        match check_report(bytes, &legs[index], index, attempt) {
            Ok(results) => reports.push(LegReport { leg: index, attempt, results }),
            Err(why) => ignored(why),
        }
    }
    Ok((merge_leg_reports(&reports, legs), warnings))
}

/// Cluster names are short and plain; anything else in a results file is refused.
fn parse_leg_results(bytes: &[u8]) -> Result<LegResults, String> {
    let results: LegResults =
        serde_json::from_slice(bytes).map_err(|e| format!("{RESULTS_FILE} is not a leg's results: {e}"))?;
    // A map keeps the last of two equal keys: a cluster named twice, failed then succeeded, would read as a success.
    if let Some(key) = std::str::from_utf8(bytes).ok().and_then(repeated_key) {
        return Err(format!("{RESULTS_FILE} names `{key}` twice"));
    }
    if results.version != RESULTS_VERSION {
        return Err(format!("{RESULTS_FILE} has version {}, this filter reads {RESULTS_VERSION}", results.version));
    }
    Ok(results)
}

/// The results of the legs' reports together. Per leg (by index), only the
/// reports of its latest attempt count, and say what happened to that leg's
/// clusters: a cluster that report does not name has no result (failed
/// downstream); two reports of one leg in one attempt, a failure of every
/// cluster either names. A cluster in several legs succeeds only when every
/// one of them reports its success. Reports must already be bound to their
/// legs ([`check_report`]); a leg index outside `legs` is ignored.
pub fn merge_leg_reports(reports: &[LegReport], legs: &[SupportAndStagingLeg]) -> BTreeMap<String, LegResult> {
    let mut latest: BTreeMap<usize, (u32, Vec<&LegResults>)> = BTreeMap::new();
    for report in reports {
        let entry = latest.entry(report.leg).or_insert((report.attempt, Vec::new()));
        if report.attempt > entry.0 {
            *entry = (report.attempt, Vec::new());
        }
        if report.attempt == entry.0 {
            entry.1.push(&report.results);
        }
    }
    // Per cluster, what each leg holding it says: success, failure, or nothing.
    let mut said: BTreeMap<&str, Vec<Option<bool>>> = BTreeMap::new();
    for (index, leg) in legs.iter().enumerate() {
        let found = latest.get(&index).map(|(_, found)| found.as_slice()).unwrap_or_default();
        for job in leg.clusters() {
            let cluster = job.cluster_name.as_str();
            let named: Vec<ClusterResult> = found.iter().filter_map(|r| r.clusters.get(cluster).copied()).collect();
            let result = match (found.len(), named.as_slice()) {
                (_, []) => None,
                (1, [one]) => Some(*one == ClusterResult::Success),
                _ => Some(false),
            };
            said.entry(cluster).or_default().push(result);
        }
    }
    said.into_iter()
        .filter_map(|(cluster, results)| {
            let result = if results.contains(&Some(false)) {
                LegResult::Failure
            } else if results.iter().all(|r| *r == Some(true)) {
                LegResult::Success
            } else {
                return None;
            };
            Some((cluster.to_owned(), result))
        })
        .collect()
}

#[cfg(test)]
mod matrix_tests {
    use super::*;

    fn job(name: &str) -> SupportAndStagingJob {
        SupportAndStagingJob {
            cluster_name: name.into(),
            provider: crate::config::Provider::Gcp,
            upgrade_support: true,
            reason_for_support_redeploy: String::new(),
            upgrade_staging: false,
            reason_for_staging_redeploy: String::new(),
            staging_hubs: Vec::new(),
            staging_rollout: Default::default(),
        }
    }

    fn batch(names: &[&str]) -> SupportAndStagingLeg {
        SupportAndStagingLeg::Batch(SupportAndStagingBatch {
            leg: "1 of 2".into(),
            releases: names.len(),
            clusters: names.iter().map(|n| job(n)).collect(),
        })
    }

    fn report(leg: usize, attempt: u32, pairs: &[(&str, ClusterResult)]) -> LegReport {
        let clusters = pairs.iter().map(|(c, r)| (c.to_string(), *r)).collect();
        LegReport { leg, attempt, results: LegResults { version: RESULTS_VERSION, attempt, clusters } }
    }

    #[test]
    fn artifact_names_bind_to_a_leg_and_an_attempt_no_later_than_the_run() {
        let prefix = DEFAULT_RESULTS_ARTIFACTS;
        /// An artifact's name, and its leg and attempt or the start of why not.
        type Case<'a> = (&'a str, Result<(usize, u32), &'a str>);
        let cases: &[Case] = &[
            ("deploy-results-0-1", Ok((0, 1))),
            ("deploy-results-2-3", Ok((2, 3))),
            ("deploy-results-0-4", Err("its name says run attempt 4, but this is attempt 3 of the run")),
            ("deploy-results-0-4294967295", Err("its name says run attempt 4294967295, but this is attempt 3")),
            ("deploy-results-0-4294967296", Err("its name is not `deploy-results-<job index>-<run attempt>`")),
            ("deploy-results-0-0", Err("its name says run attempt 0")),
            ("deploy-results-3-1", Err("its name says leg index 3, but the matrix has 3 leg(s)")),
            ("deploy-results-0", Err("its name is not")),
            ("deploy-results-0-1-2", Err("its name is not")),
            ("deploy-results-00-1", Err("its name is not")),
            ("deploy-results-0-01", Err("its name is not")),
            ("deploy-results-+0-1", Err("its name is not")),
            ("deploy-results--1-1", Err("its name is not")),
            ("deploy-results-0-1\n", Err("its name is not")),
            ("deploy-results-x-1", Err("its name is not")),
            ("health-check-results-0-1", Err("its name is not")),
        ];
        for (name, want) in cases {
            let got = bind_artifact_name(prefix, name, 3, 3);
            match (got, want) {
                (Ok(got), Ok(want)) => assert_eq!(got, *want, "{name}"),
                (Err(got), Err(want)) => assert!(got.starts_with(want), "{name}: {got}"),
                (got, want) => panic!("{name}: {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn a_report_must_agree_with_its_name_and_name_only_its_legs_clusters() {
        let leg = batch(&["a", "b"]);
        let ok = br#"{"version": 1, "attempt": 2, "clusters": {"a": "success", "b": "failure"}}"#;
        assert_eq!(check_report(ok, &leg, 1, 2).expect("genuine").clusters.len(), 2);
        let cases: &[(&[u8], &str)] = &[
            (
                br#"{"version": 1, "attempt": 4294967295, "clusters": {"a": "success"}}"#,
                "its results.json says run attempt 4294967295, but its name says 2",
            ),
            (br#"{"version": 1, "clusters": {"a": "success"}}"#, "says run attempt 0, but its name says 2"),
            (
                br#"{"version": 1, "attempt": 2, "clusters": {"a": "success", "c": "success"}}"#,
                "its results.json names a cluster not in leg 1 of the matrix: `c`",
            ),
            (br#"{"version": 2, "clusters": {}}"#, "has version 2"),
            (br#"{"version": 1, "clusters": {"a": "maybe"}}"#, "is not a leg's results"),
            (br#"{"version": 1, "clusters": {}, "extra": 1}"#, "unknown field"),
            (b"\xff", "is not a leg's results"),
        ];
        for (bytes, want) in cases {
            let error = check_report(bytes, &leg, 1, 2).expect_err(want);
            assert!(error.contains(want), "{error}");
        }
    }

    /// Regression (issue 27, found by `tests/properties_filter_input.rs`): a map keeps the last of two
    /// equal keys, so a cluster named failed then succeeded read as a success.
    #[test]
    fn a_report_naming_a_cluster_twice_is_refused() {
        let leg = batch(&["a", "b"]);
        for bytes in [
            br#"{"version": 1, "attempt": 2, "clusters": {"a": "failure", "a": "success"}}"#.as_slice(),
            br#"{"version": 1, "attempt": 2, "clusters": {"a": "success", "b": "success", "a": "success"}}"#,
        ] {
            let error = check_report(bytes, &leg, 1, 2).expect_err("a cluster named twice");
            assert_eq!(error, "results.json names `a` twice");
        }
    }

    #[test]
    fn reports_merge_per_leg_latest_attempt_first_and_fail_closed() {
        use ClusterResult::{Failure, Success};
        let legs = [batch(&["a", "b"]), batch(&["c"]), batch(&["d"]), batch(&["e"]), batch(&["f", "g"])];
        let reports = [
            report(0, 1, &[("a", Success), ("b", Failure)]),
            report(1, 1, &[("c", Failure)]),
            // A re-run of the leg that failed: its new report wins.
            report(1, 2, &[("c", Success)]),
            // Two reports of one leg in one attempt: a failure.
            report(2, 1, &[("d", Success)]),
            report(2, 1, &[("d", Success)]),
            // A later attempt of leg 4 that reports only f: g has no result any more.
            report(4, 1, &[("f", Success), ("g", Success)]),
            report(4, 2, &[("f", Success)]),
            // A leg the matrix does not have.
            report(9, 1, &[("a", Failure)]),
        ];
        let merged = merge_leg_reports(&reports, &legs);
        let got: Vec<(&str, &LegResult)> = merged.iter().map(|(c, r)| (c.as_str(), r)).collect();
        assert_eq!(
            got,
            [
                ("a", &LegResult::Success),
                ("b", &LegResult::Failure),
                ("c", &LegResult::Success),
                ("d", &LegResult::Failure),
                ("f", &LegResult::Success)
            ],
            "e (no report) and g (not in its leg's latest report) are absent: filter fails closed"
        );
        // A cluster in two legs succeeds only when both report its success.
        let twice = [batch(&["a"]), batch(&["a"])];
        let one = merge_leg_reports(&[report(0, 1, &[("a", Success)])], &twice);
        assert!(one.is_empty(), "{one:?}");
        let both = merge_leg_reports(&[report(0, 1, &[("a", Success)]), report(1, 1, &[("a", Success)])], &twice);
        assert_eq!(both["a"], LegResult::Success);
        let mixed = merge_leg_reports(&[report(0, 1, &[("a", Success)]), report(1, 1, &[("a", Failure)])], &twice);
        assert_eq!(mixed["a"], LegResult::Failure);
    }

    const ROW: &str = r#"{"cluster_name": "c1", "provider": "gcp", "hub_name": "h1", "reason_for_redeploy": "r"}"#;

    #[test]
    fn each_form_generate_writes_is_read_and_other_shapes_are_explained() {
        let array = format!("[{ROW}]");
        let generate = format!(r#"{{"support-and-staging-matrix-jobs": [], "prod-hub-matrix-jobs": [{ROW}]}}"#);
        let plan = format!(
            r#"{{"version": 1, "pr_number": 3, "support-and-staging-matrix-jobs": [], "prod-hub-matrix-jobs": [{ROW}]}}"#
        );
        for (name, text) in [("array", &array), ("generate JSON", &generate), ("plan.json", &plan)] {
            let rows: Vec<ProdHubJob> = parse_matrix("--prod-jobs", inputs::PROD_HUBS, Some(text)).expect(name);
            assert_eq!(rows.len(), 1, "{name}");
            assert_eq!(rows[0].hub_name, "h1", "{name}");
        }
        let cases: &[(&str, &str)] = &[
            (
                r#"{"prod": []}"#,
                "pass the `prod-hub-matrix-jobs` array, or the whole `deployer generate --output json`",
            ),
            (r#"{"prod-hub-matrix-jobs": {}}"#, "`prod-hub-matrix-jobs` is not the array generate writes"),
            ("{", "not the JSON array or object the generate action writes"),
            ("nope", "not the JSON array the generate action writes"),
        ];
        for (text, want) in cases {
            let err = parse_matrix::<ProdHubJob>("--prod-jobs", inputs::PROD_HUBS, Some(text)).expect_err(text);
            assert!(err.to_string().contains(want), "{text}: {err}");
        }
        assert!(parse_matrix::<ProdHubJob>("x", inputs::PROD_HUBS, None).expect("absent").is_empty());
    }
}
