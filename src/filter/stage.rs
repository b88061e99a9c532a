//! The `filter` action's inputs and outputs, and reading the run's job
//! conclusions from the GitHub API.

use std::collections::BTreeMap;

use super::{
    check_job_name, filter_canaries, kept_check_legs, kept_legs, parse_results, results_from_jobs, FilterOutcome,
    LegResult, RunJob, DEFAULT_HEALTH_CHECK_JOB_NAME, DEFAULT_JOB_NAME, HEALTH_CHECK_CANARY, UPGRADE_CANARY,
};
use crate::artifact::{read_files, ArtifactLimits};
use crate::deploy::leg::{ClusterResult, LegResults, RESULTS_FILE, RESULTS_VERSION};
use crate::error::Error;
use crate::github::{self, ClientConfig, GitHub, RunArtifact};
use crate::legs::{canary_jobs, prod_jobs, HealthCheckLeg, ProdLeg, SupportAndStagingBatch, SupportAndStagingLeg};
use crate::plan::{ProdHubJob, SupportAndStagingJob};
use crate::runner::{Outputs, RunnerEnv};

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
    };
    let of_cluster = |cluster: &crate::legs::HealthCheckCluster| {
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
fn as_prod_job(job: crate::plan::HealthCheckJob) -> ProdHubJob {
    ProdHubJob {
        cluster_name: job.cluster_name,
        provider: job.provider,
        hub_name: job.hub_name,
        reason_for_redeploy: job.reason_for_health_check,
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
            None | Some("jobs") => ResultsFrom::Jobs,
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
        let listing = format!("{}/actions/runs/{run_id}/artifacts", repo.api_path());
        let (results, requests) = github::block_on(async {
            let gh = GitHub::new(config)?;
            let results = results_from_artifacts(&gh, &repo.api_path(), &listing, inputs).await;
            Ok::<_, Error>((results, gh.request_count()))
        })??;
        return Ok((filter(&inputs.prod, &inputs.support_and_staging, &results?, inputs.kind), requests));
    }
    let endpoint = format!("{}/actions/runs/{run_id}/jobs?filter=latest", repo.api_path());
    let (jobs, requests) = github::block_on(async {
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

/// Each cluster's result from the legs' `results.json` artifacts, merged by
/// [`merge_leg_results`]; an unreadable artifact is an error.
async fn results_from_artifacts(
    gh: &GitHub,
    repo: &str,
    listing: &str,
    inputs: &FilterInputs,
) -> Result<BTreeMap<String, LegResult>, Error> {
    let artifacts: Vec<RunArtifact> = gh.get_all(listing, Some("artifacts"), None).await?;
    let mut reports: Vec<LegResults> = Vec::new();
    for artifact in artifacts.iter().filter(|a| a.name.starts_with(&inputs.results_artifacts) && !a.expired) {
        let refused = |why: String| Error::Artifact(format!("results artifact `{}`: {why}", artifact.name));
        if artifact.size_in_bytes > RESULTS_LIMITS.max_compressed {
            return Err(refused(format!(
                "{} bytes, more than the {}-byte cap",
                artifact.size_in_bytes, RESULTS_LIMITS.max_compressed
            )));
        }
        let zip = gh.artifact_zip(repo, artifact.id, RESULTS_LIMITS.max_compressed).await?;
        let files = read_files(&zip, &[RESULTS_FILE], RESULTS_LIMITS).map_err(|e| refused(e.to_string()))?;
        let Some(bytes) = files.get(RESULTS_FILE) else {
            return Err(refused(format!("it has no {RESULTS_FILE}")));
        };
        reports.push(parse_leg_results(bytes).map_err(refused)?);
    }
    Ok(merge_leg_results(&reports, &inputs.support_and_staging))
}

/// Cluster names are short and plain; anything else in a results file is refused.
fn parse_leg_results(bytes: &[u8]) -> Result<LegResults, String> {
    let results: LegResults =
        serde_json::from_slice(bytes).map_err(|e| format!("{RESULTS_FILE} is not a leg's results: {e}"))?;
    if results.version != RESULTS_VERSION {
        return Err(format!("{RESULTS_FILE} has version {}, this filter reads {RESULTS_VERSION}", results.version));
    }
    Ok(results)
}

/// The results of every report together: per cluster of the matrix, its
/// report of the latest run attempt; two reports of one cluster in that
/// attempt, a failure. Clusters the matrix does not hold are ignored.
pub fn merge_leg_results(
    reports: &[LegResults],
    support_and_staging: &[SupportAndStagingJob],
) -> BTreeMap<String, LegResult> {
    // Per cluster: (latest attempt, reports in it, a success in every one of them).
    let mut latest: BTreeMap<&str, (u32, usize, bool)> = BTreeMap::new();
    for report in reports {
        for (cluster, result) in &report.clusters {
            if !support_and_staging.iter().any(|job| &job.cluster_name == cluster) {
                continue;
            }
            let success = *result == ClusterResult::Success;
            let entry = latest.entry(cluster.as_str()).or_insert((report.attempt, 0, true));
            if report.attempt > entry.0 {
                *entry = (report.attempt, 0, true);
            }
            if report.attempt == entry.0 {
                entry.1 += 1;
                entry.2 &= success;
            }
        }
    }
    latest
        .into_iter()
        .map(|(cluster, (_, count, success))| {
            let result = if success && count == 1 { LegResult::Success } else { LegResult::Failure };
            (cluster.to_owned(), result)
        })
        .collect()
}

#[cfg(test)]
mod matrix_tests {
    use super::*;

    #[test]
    fn leg_reports_merge_per_cluster_latest_attempt_first_and_fail_closed() {
        let report = |attempt: u32, pairs: &[(&str, ClusterResult)]| {
            let clusters = pairs.iter().map(|(c, r)| (c.to_string(), *r)).collect();
            LegResults { version: RESULTS_VERSION, attempt, clusters }
        };
        let job = |name: &str| SupportAndStagingJob {
            cluster_name: name.into(),
            provider: crate::config::Provider::Gcp,
            upgrade_support: true,
            reason_for_support_redeploy: String::new(),
            upgrade_staging: false,
            reason_for_staging_redeploy: String::new(),
            staging_hubs: Vec::new(),
        };
        let matrix = [job("a"), job("b"), job("c"), job("d"), job("e")];
        use ClusterResult::{Failure, Success};
        let reports = [
            report(1, &[("a", Success), ("b", Failure), ("stranger", Success)]),
            report(1, &[("c", Failure), ("d", Success)]),
            // A re-run of the leg that failed: its new report wins.
            report(2, &[("c", Success)]),
            // Two reports of one cluster in one attempt: a failure.
            report(1, &[("d", Success)]),
        ];
        let merged = merge_leg_results(&reports, &matrix);
        let got: Vec<(&str, &LegResult)> = merged.iter().map(|(c, r)| (c.as_str(), r)).collect();
        assert_eq!(
            got,
            [
                ("a", &LegResult::Success),
                ("b", &LegResult::Failure),
                ("c", &LegResult::Success),
                ("d", &LegResult::Failure)
            ],
            "e is absent (no report: filter fails closed), the stranger ignored"
        );
        for (bytes, want) in [
            (&br#"{"version": 2, "clusters": {}}"#[..], "has version 2"),
            (br#"{"version": 1, "clusters": {"a": "maybe"}}"#, "is not a leg's results"),
            (br#"{"version": 1, "clusters": {}, "extra": 1}"#, "unknown field"),
            (b"\xff", "is not a leg's results"),
        ] {
            let error = parse_leg_results(bytes).expect_err(want);
            assert!(error.contains(want), "{error}");
        }
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
