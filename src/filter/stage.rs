//! The `filter` action's inputs and outputs, and reading the run's job
//! conclusions from the GitHub API.

use std::collections::BTreeMap;

use super::{
    check_job_name, filter, parse_results, results_from_jobs, FilterOutcome, LegResult, RunJob, DEFAULT_JOB_NAME,
};
use crate::error::Error;
use crate::github::{self, ClientConfig, GitHub};
use crate::plan::{ProdHubJob, SupportAndStagingJob};
use crate::runner::{Outputs, RunnerEnv};

/// Input names of `actions/filter`.
pub mod inputs {
    pub const PROD_HUBS: &str = "prod-hub-matrix-jobs";
    pub const SUPPORT_AND_STAGING: &str = "support-and-staging-matrix-jobs";
    pub const RESULTS: &str = "results";
    pub const JOB_NAME: &str = "job-name";
    pub const GITHUB_TOKEN: &str = "github-token";
    /// Every input the action reads.
    pub const ALL: &[&str] = &[PROD_HUBS, SUPPORT_AND_STAGING, RESULTS, JOB_NAME, GITHUB_TOKEN];
}

/// Output names of `actions/filter`.
pub mod outputs {
    pub const FILTERED: &str = "filtered-prod-hub-matrix-jobs";
    pub const DROPPED: &str = "dropped";
    pub const HAS_JOBS: &str = "has-jobs";
    /// Every output the action writes.
    pub const ALL: &[&str] = &[FILTERED, DROPPED, HAS_JOBS];
}

/// The inputs of `actions/filter`, parsed.
#[derive(Debug, Clone)]
pub struct FilterInputs {
    pub prod: Vec<ProdHubJob>,
    pub support_and_staging: Vec<SupportAndStagingJob>,
    /// `None`: read the leg conclusions from the jobs API.
    pub results: Option<BTreeMap<String, LegResult>>,
    pub job_name: String,
}

impl FilterInputs {
    /// Reads and checks the action's inputs.
    pub fn from_env(env: &RunnerEnv) -> Result<Self, Error> {
        let support_and_staging: Vec<SupportAndStagingJob> = parse_matrix(
            inputs::SUPPORT_AND_STAGING,
            inputs::SUPPORT_AND_STAGING,
            env.input(inputs::SUPPORT_AND_STAGING),
        )?;
        let results = env
            .input(inputs::RESULTS)
            .map(|text| parse_results(inputs::RESULTS, text, &support_and_staging))
            .transpose()?;
        let job_name = env.input(inputs::JOB_NAME).unwrap_or(DEFAULT_JOB_NAME).to_owned();
        check_job_name(inputs::JOB_NAME, &job_name)?;
        Ok(FilterInputs {
            prod: parse_matrix(inputs::PROD_HUBS, inputs::PROD_HUBS, env.input(inputs::PROD_HUBS))?,
            support_and_staging,
            results,
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
    if let Some(results) = &inputs.results {
        return Ok((filter(&inputs.prod, &inputs.support_and_staging, results), 0));
    }
    let needs_api =
        inputs.prod.iter().any(|p| inputs.support_and_staging.iter().any(|s| s.cluster_name == p.cluster_name));
    if !needs_api {
        // Nothing waits on a canary: no need to ask anyone.
        return Ok((filter(&inputs.prod, &inputs.support_and_staging, &BTreeMap::new()), 0));
    }
    let repo = env.repository()?;
    let run_id =
        env.var("GITHUB_RUN_ID").filter(|id| !id.is_empty() && id.chars().all(|c| c.is_ascii_digit())).ok_or_else(
            || Error::Runner("GITHUB_RUN_ID is not set: pass `results` when running outside GitHub Actions".into()),
        )?;
    let config = ClientConfig::from_env(env, inputs::GITHUB_TOKEN)?;
    let endpoint = format!("{}/actions/runs/{run_id}/jobs?filter=latest", repo.api_path());
    let (jobs, requests) = github::block_on(async {
        let gh = GitHub::new(config)?;
        let jobs = gh.get_all::<RunJob>(&endpoint, Some("jobs"), None).await;
        Ok::<_, Error>((jobs, gh.request_count()))
    })??;
    let jobs = jobs?;
    let results = results_from_jobs(&jobs, &inputs.job_name, &inputs.support_and_staging);
    Ok((filter(&inputs.prod, &inputs.support_and_staging, &results), requests))
}

/// The step outputs for an outcome.
pub fn action_outputs(outcome: &FilterOutcome) -> Result<Outputs, Error> {
    let mut out = Outputs::default();
    out.set_json(outputs::FILTERED, &outcome.kept)?;
    out.set_json(outputs::DROPPED, &outcome.dropped)?;
    out.set(outputs::HAS_JOBS, if outcome.kept.is_empty() { "false" } else { "true" });
    Ok(out)
}

#[cfg(test)]
mod matrix_tests {
    use super::*;

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
