//! The filter: drop the prod hub jobs of every cluster whose
//! support-and-staging leg (its canary) did not succeed. The rules here are
//! pure: the leg results come in as values, from the `results` input or the
//! jobs API ([`crate::stages::filter`] fetches them).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::base::error::Error;
use crate::planning::legs::{ProdLeg, SupportAndStagingLeg};
use crate::planning::plan::{ProdHubJob, SupportAndStagingJob};

/// The default display name of the support-and-staging legs; `{cluster}` is the cluster name.
pub const DEFAULT_JOB_NAME: &str = "Upgrade support and staging ({cluster})";
/// The default display name of the staging health-check legs.
pub const DEFAULT_HEALTH_CHECK_JOB_NAME: &str = "Health check staging ({cluster})";
/// The placeholder in a job-name template.
pub const CLUSTER_PLACEHOLDER: &str = "{cluster}";

/// How a cluster's support-and-staging leg ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LegResult {
    Success,
    Failure,
    Cancelled,
    Skipped,
    /// The leg was still queued or running (its status).
    NotFinished(String),
}

impl LegResult {
    /// From a job's `conclusion` (and `status` when there is none yet).
    pub fn from_conclusion(conclusion: Option<&str>, status: &str) -> Self {
        match conclusion {
            Some("success") => LegResult::Success,
            Some("cancelled") => LegResult::Cancelled,
            Some("skipped") => LegResult::Skipped,
            // failure, timed_out, action_required, neutral, stale, startup_failure...: not a success.
            Some(_) => LegResult::Failure,
            None => LegResult::NotFinished(status.to_owned()),
        }
    }
}

/// A prod hub job that will not run, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DroppedJob {
    pub cluster_name: String,
    pub hub_name: String,
    pub reason: String,
}

/// What the filter decided.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FilterOutcome {
    /// The prod jobs to run, in input order.
    pub kept: Vec<ProdHubJob>,
    /// The same in the prod matrix's shape (batched legs pruned), when the stage computed it.
    pub kept_legs: Vec<ProdLeg>,
    /// The same for a prod health-check matrix, when that is what the filter was given.
    pub kept_check_legs: Vec<crate::planning::legs::HealthCheckLeg>,
    /// True when the jobs are health checks, not upgrades (for the tables' words).
    pub health_checks: bool,
    pub dropped: Vec<DroppedJob>,
    /// One per cluster whose leg could not be found.
    pub warnings: Vec<String>,
}

/// What the canary legs did, as the filter's reasons name it.
pub const UPGRADE_CANARY: &str = "support and staging upgrade";
/// The same for the health-check matrices.
pub const HEALTH_CHECK_CANARY: &str = "staging health check";

/// Keeps a prod job when its cluster had no support-and-staging leg, or the
/// leg succeeded; drops it otherwise, failing closed when the leg is unknown.
pub fn filter(
    prod: &[ProdHubJob],
    support_and_staging: &[SupportAndStagingJob],
    results: &BTreeMap<String, LegResult>,
) -> FilterOutcome {
    filter_canaries(prod, support_and_staging, results, UPGRADE_CANARY)
}

/// [`filter`], the canary legs' work named `what` in the reasons.
pub fn filter_canaries(
    prod: &[ProdHubJob],
    support_and_staging: &[SupportAndStagingJob],
    results: &BTreeMap<String, LegResult>,
    what: &str,
) -> FilterOutcome {
    let with_leg: BTreeSet<&str> = support_and_staging.iter().map(|j| j.cluster_name.as_str()).collect();
    let mut outcome = FilterOutcome::default();
    let mut warned: BTreeSet<&str> = BTreeSet::new();
    for job in prod {
        let cluster = job.cluster_name.as_str();
        if !with_leg.contains(cluster) {
            outcome.kept.push(job.clone());
            continue;
        }
        let reason = match results.get(cluster) {
            Some(LegResult::Success) => {
                outcome.kept.push(job.clone());
                continue;
            }
            Some(LegResult::Failure) => format!("the {what} of {cluster} failed"),
            Some(LegResult::Cancelled) => format!("the {what} of {cluster} was cancelled"),
            Some(LegResult::Skipped) => format!("the {what} of {cluster} was skipped"),
            Some(LegResult::NotFinished(status)) => {
                format!("the {what} of {cluster} had not finished ({status})")
            }
            None => {
                if warned.insert(cluster) {
                    outcome.warnings.push(format!(
                        "no result found for the {what} of {cluster}; \
                         its prod hubs are not deployed (fail closed)"
                    ));
                }
                format!("no result found for the {what} of {cluster}")
            }
        };
        outcome.dropped.push(DroppedJob {
            cluster_name: job.cluster_name.clone(),
            hub_name: job.hub_name.clone(),
            reason,
        });
    }
    outcome
}

/// Parses the `results` input: `{"<cluster>": "success"|"failure"|"cancelled"|"skipped"}`,
/// or the legacy `{"failure_<cluster>": "true"|"false"}` where dots in names became dashes.
pub fn parse_results(
    input: &str,
    text: &str,
    support_and_staging: &[SupportAndStagingJob],
) -> Result<BTreeMap<String, LegResult>, Error> {
    let object: BTreeMap<String, serde_json::Value> = serde_json::from_str(text)
        .map_err(|e| Error::input(input, format!("expected a JSON object of cluster name to result: {e}")))?;
    // A map keeps the last of two equal keys: `{"c": "failure", "c": "success"}` would read as a success.
    if let Some(key) = repeated_key(text) {
        return Err(Error::input(input, format!("`{key}` is given twice: give each cluster's result once")));
    }
    // Cluster names never contain `_`, so a `failure_` key can only be the legacy form.
    if object.keys().any(|k| k.starts_with("failure_")) {
        return parse_legacy_results(input, &object, support_and_staging);
    }
    let mut results = BTreeMap::new();
    for (cluster, value) in object {
        let result = match value.as_str() {
            Some("success") => LegResult::Success,
            Some("failure") => LegResult::Failure,
            Some("cancelled") => LegResult::Cancelled,
            Some("skipped") => LegResult::Skipped,
            _ => {
                return Err(Error::input(
                    input,
                    format!(
                    "the result of `{cluster}` is {value}; use \"success\", \"failure\", \"cancelled\" or \"skipped\""
                ),
                ))
            }
        };
        results.insert(cluster, result);
    }
    Ok(results)
}

fn parse_legacy_results(
    input: &str,
    object: &BTreeMap<String, serde_json::Value>,
    support_and_staging: &[SupportAndStagingJob],
) -> Result<BTreeMap<String, LegResult>, Error> {
    let legacy_key = |cluster: &str| format!("failure_{}", cluster.replace('.', "-"));
    let mut results = BTreeMap::new();
    for job in support_and_staging {
        let key = legacy_key(&job.cluster_name);
        // `a.b` and `a-b` share `failure_a-b`: whichever leg wrote it last, it says nothing sure of either.
        if let Some(other) = support_and_staging
            .iter()
            .find(|other| other.cluster_name != job.cluster_name && legacy_key(&other.cluster_name) == key)
            .filter(|_| object.contains_key(&key))
        {
            return Err(Error::input(
                input,
                format!(
                    "`{key}` stands for both `{}` and `{}`: give the results as \
                     {{\"<cluster>\": \"success\"|\"failure\"|\"cancelled\"|\"skipped\"}}",
                    job.cluster_name, other.cluster_name
                ),
            ));
        }
        let failed = match object.get(&key) {
            None => continue,
            Some(serde_json::Value::Bool(b)) => *b,
            Some(serde_json::Value::String(s)) if s == "true" => true,
            Some(serde_json::Value::String(s)) if s == "false" || s.is_empty() => false,
            Some(other) => return Err(Error::input(input, format!("`{key}` is {other}; use \"true\" or \"false\""))),
        };
        results.insert(job.cluster_name.clone(), if failed { LegResult::Failure } else { LegResult::Success });
    }
    Ok(results)
}

/// The first key that a JSON object in `text`, at any depth, holds twice (shown cut short), if any.
/// Text that is not JSON has none.
pub fn repeated_key(text: &str) -> Option<String> {
    use serde::de::{Deserializer, Error as _, MapAccess, SeqAccess, Visitor};

    /// Any JSON value, refused when one of its objects repeats a key.
    struct UniqueKeys;
    impl<'de> Deserialize<'de> for UniqueKeys {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            deserializer.deserialize_any(UniqueKeys)
        }
    }
    impl<'de> Visitor<'de> for UniqueKeys {
        type Value = UniqueKeys;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("JSON")
        }
        fn visit_bool<E>(self, _: bool) -> Result<Self, E> {
            Ok(self)
        }
        fn visit_i64<E>(self, _: i64) -> Result<Self, E> {
            Ok(self)
        }
        fn visit_u64<E>(self, _: u64) -> Result<Self, E> {
            Ok(self)
        }
        fn visit_f64<E>(self, _: f64) -> Result<Self, E> {
            Ok(self)
        }
        fn visit_str<E>(self, _: &str) -> Result<Self, E> {
            Ok(self)
        }
        fn visit_unit<E>(self) -> Result<Self, E> {
            Ok(self)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self, A::Error> {
            while seq.next_element::<UniqueKeys>()?.is_some() {}
            Ok(self)
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self, A::Error> {
            let mut seen = BTreeSet::new();
            while let Some(key) = map.next_key::<String>()? {
                if !seen.insert(key.clone()) {
                    return Err(A::Error::custom(REPEATED.to_owned() + &key));
                }
                map.next_value::<UniqueKeys>()?;
            }
            Ok(self)
        }
    }
    const REPEATED: &str = "repeated key: ";
    let error = serde_json::from_str::<UniqueKeys>(text).err()?;
    let message = error.to_string();
    let key = message.strip_prefix(REPEATED)?;
    // serde_json adds ` at line L column C` to the message.
    let key = key.rsplit_once(" at line ").map_or(key, |(key, _)| key);
    let mut shown: String = key.chars().take(120).collect();
    if shown.len() < key.len() {
        shown.push('…');
    }
    Some(shown)
}

/// A job of a workflow run, as the jobs API lists it.
#[derive(Debug, Clone, Deserialize)]
pub struct RunJob {
    pub name: String,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub conclusion: Option<String>,
}

/// Checks a job-name template.
pub fn check_job_name(input: &str, template: &str) -> Result<(), Error> {
    if template.contains(CLUSTER_PLACEHOLDER) {
        Ok(())
    } else {
        Err(Error::input(input, format!("`{template}` has no `{CLUSTER_PLACEHOLDER}` to put the cluster name in")))
    }
}

/// The result of each cluster's leg among a run's jobs, matched by the exact
/// expanded job name (a batched leg's name has its `leg` label for the
/// cluster, and its job's conclusion stands for every cluster in it). When a
/// name appears more than once, any non-success wins. A cluster in several
/// legs succeeds only when each of them did: any non-success wins, and a leg
/// without a job leaves the cluster without a result.
pub fn results_from_jobs(
    jobs: &[RunJob],
    template: &str,
    support_and_staging: &[SupportAndStagingLeg],
) -> BTreeMap<String, LegResult> {
    let mut results: BTreeMap<String, Option<LegResult>> = BTreeMap::new();
    for leg in support_and_staging {
        let label = match leg {
            SupportAndStagingLeg::Cluster(job) => job.cluster_name.as_str(),
            SupportAndStagingLeg::Batch(batch) => batch.leg.as_str(),
        };
        let name = template.replace(CLUSTER_PLACEHOLDER, label);
        let mut found: Option<LegResult> = None;
        for job in jobs.iter().filter(|j| j.name == name) {
            let result = LegResult::from_conclusion(job.conclusion.as_deref(), &job.status);
            found = match found {
                Some(LegResult::Success) | None => Some(result),
                worse => worse,
            };
        }
        for cluster in leg.clusters() {
            let failed = |result: &Option<LegResult>| result.as_ref().is_some_and(|r| *r != LegResult::Success);
            let merged = match results.get(&cluster.cluster_name) {
                // The first leg of this cluster.
                None => found.clone(),
                Some(earlier) if failed(earlier) => earlier.clone(),
                Some(_) if failed(&found) => found.clone(),
                Some(None) => None,
                Some(Some(_)) => found.clone(),
            };
            results.insert(cluster.cluster_name.clone(), merged);
        }
    }
    results.into_iter().filter_map(|(cluster, result)| Some((cluster, result?))).collect()
}

/// The (cluster, hub) pairs `outcome` kept.
fn kept_hubs(outcome: &FilterOutcome) -> BTreeSet<(&str, &str)> {
    outcome.kept.iter().map(|job| (job.cluster_name.as_str(), job.hub_name.as_str())).collect()
}

/// The prod legs with only the hubs `outcome` kept, in order; a batched leg left empty is dropped.
pub fn kept_legs(prod: &[ProdLeg], outcome: &FilterOutcome) -> Vec<ProdLeg> {
    let kept = kept_hubs(outcome);
    prod.iter().filter_map(|leg| leg.retain(|cluster, hub| kept.contains(&(cluster, hub)))).collect()
}

/// [`kept_legs`] for a prod health-check matrix.
pub fn kept_check_legs(
    prod: &[crate::planning::legs::HealthCheckLeg],
    outcome: &FilterOutcome,
) -> Vec<crate::planning::legs::HealthCheckLeg> {
    let kept = kept_hubs(outcome);
    prod.iter().filter_map(|leg| leg.retain(|cluster, hub| kept.contains(&(cluster, hub)))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Provider;

    fn prod(cluster: &str, hub: &str) -> ProdHubJob {
        ProdHubJob {
            cluster_name: cluster.into(),
            provider: Provider::Gcp,
            hub_name: hub.into(),
            reason_for_redeploy: "r".into(),
            rollout: None,
        }
    }

    fn leg(cluster: &str) -> SupportAndStagingJob {
        SupportAndStagingJob {
            cluster_name: cluster.into(),
            provider: Provider::Gcp,
            upgrade_support: true,
            reason_for_support_redeploy: "r".into(),
            upgrade_staging: false,
            reason_for_staging_redeploy: String::new(),
            staging_hubs: vec![],
            staging_rollout: Default::default(),
        }
    }

    fn decide(results: &[(&str, LegResult)]) -> (Vec<String>, Vec<String>) {
        let prod = [
            prod("2i2c", "a"),
            prod("2i2c-aws-us", "b"),
            prod("2i2c-aws-us", "c"),
            prod("solo", "d"),
            prod("x.y", "e"),
        ];
        let legs = [leg("2i2c"), leg("2i2c-aws-us"), leg("x.y")];
        let results: BTreeMap<String, LegResult> = results.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect();
        let outcome = filter(&prod, &legs, &results);
        (
            outcome.kept.iter().map(|j| format!("{}/{}", j.cluster_name, j.hub_name)).collect(),
            outcome.dropped.iter().map(|j| format!("{}/{}", j.cluster_name, j.hub_name)).collect(),
        )
    }

    /// Leg results, then the kept and the dropped jobs.
    type Case<'a> = (Vec<(&'a str, LegResult)>, &'a [&'a str], &'a [&'a str]);

    #[test]
    fn decision_table() {
        use LegResult::*;
        let cases: Vec<Case> = vec![
            (
                vec![("2i2c", Success), ("2i2c-aws-us", Success), ("x.y", Success)],
                &["2i2c/a", "2i2c-aws-us/b", "2i2c-aws-us/c", "solo/d", "x.y/e"],
                &[],
            ),
            // Exact names: 2i2c failing does not touch 2i2c-aws-us.
            (
                vec![("2i2c", Failure), ("2i2c-aws-us", Success), ("x.y", Success)],
                &["2i2c-aws-us/b", "2i2c-aws-us/c", "solo/d", "x.y/e"],
                &["2i2c/a"],
            ),
            (
                vec![("2i2c", Success), ("2i2c-aws-us", Cancelled), ("x.y", Skipped)],
                &["2i2c/a", "solo/d"],
                &["2i2c-aws-us/b", "2i2c-aws-us/c", "x.y/e"],
            ),
            // Missing and unfinished legs fail closed; a cluster without a leg always deploys.
            (
                vec![("2i2c", NotFinished("in_progress".into()))],
                &["solo/d"],
                &["2i2c/a", "2i2c-aws-us/b", "2i2c-aws-us/c", "x.y/e"],
            ),
        ];
        for (results, kept, dropped) in cases {
            let (k, d) = decide(&results);
            assert_eq!(k, kept, "{results:?}");
            assert_eq!(d, dropped, "{results:?}");
        }
    }

    #[test]
    fn missing_legs_warn_once_per_cluster() {
        let outcome = filter(&[prod("c", "a"), prod("c", "b")], &[leg("c")], &BTreeMap::new());
        assert_eq!(outcome.warnings.len(), 1);
        assert_eq!(outcome.dropped[0].reason, "no result found for the support and staging upgrade of c");
    }

    #[test]
    fn results_input_forms() {
        let legs = [leg("a"), leg("b.c"), leg("d")];
        let parsed = parse_results("results", r#"{"a": "success", "b.c": "failure", "d": "skipped"}"#, &legs).unwrap();
        assert_eq!(parsed["a"], LegResult::Success);
        assert_eq!(parsed["b.c"], LegResult::Failure);
        assert_eq!(parsed["d"], LegResult::Skipped);
        let legacy =
            parse_results("results", r#"{"failure_a": "false", "failure_b-c": "true", "failure_d": false}"#, &legs)
                .unwrap();
        assert_eq!(legacy["a"], LegResult::Success);
        assert_eq!(legacy["b.c"], LegResult::Failure);
        assert_eq!(legacy["d"], LegResult::Success);
        for bad in ["[]", r#"{"a": "ok"}"#, r#"{"failure_a": "maybe"}"#, "nope"] {
            let error = parse_results("results", bad, &legs).unwrap_err().to_string();
            assert!(error.starts_with("invalid input `results`"), "{bad}: {error}");
        }
    }

    #[test]
    fn jobs_match_by_exact_expanded_name() {
        let job = |name: &str, conclusion: Option<&str>, status: &str| RunJob {
            name: name.into(),
            status: status.into(),
            conclusion: conclusion.map(str::to_owned),
        };
        let jobs = [
            job("Upgrade support and staging (2i2c-aws-us)", Some("failure"), "completed"),
            job("Upgrade support and staging (2i2c)", Some("success"), "completed"),
            job("Upgrade support and staging (b)", Some("timed_out"), "completed"),
            job("Upgrade support and staging (c)", None, "in_progress"),
            job("Upgrade support and staging (d)", Some("success"), "completed"),
            job("Upgrade support and staging (d)", Some("cancelled"), "completed"),
            job("generate-jobs", Some("success"), "completed"),
        ];
        let legs = [leg("2i2c"), leg("2i2c-aws-us"), leg("b"), leg("c"), leg("d"), leg("missing")];
        let legs: Vec<SupportAndStagingLeg> = legs.into_iter().map(SupportAndStagingLeg::Cluster).collect();
        let results = results_from_jobs(&jobs, DEFAULT_JOB_NAME, &legs);
        assert_eq!(results["2i2c"], LegResult::Success);
        assert_eq!(results["2i2c-aws-us"], LegResult::Failure);
        assert_eq!(results["b"], LegResult::Failure);
        assert_eq!(results["c"], LegResult::NotFinished("in_progress".into()));
        assert_eq!(results["d"], LegResult::Cancelled);
        assert!(!results.contains_key("missing"));
        assert!(check_job_name("job-name", "Deploy").is_err());
        assert!(check_job_name("job-name", DEFAULT_JOB_NAME).is_ok());
    }

    /// Regression (issue 27, found by `tests/properties_filter_input.rs`): a cluster in two legs took
    /// the result of the last leg holding it, so a failed or missing leg was hidden by a later success.
    #[test]
    fn a_cluster_in_several_legs_succeeds_only_when_each_leg_did() {
        let job = |name: &str, conclusion: &str| RunJob {
            name: DEFAULT_JOB_NAME.replace(CLUSTER_PLACEHOLDER, name),
            status: "completed".into(),
            conclusion: Some(conclusion.into()),
        };
        let batch = |label: &str, clusters: &[&str]| {
            SupportAndStagingLeg::Batch(crate::planning::legs::SupportAndStagingBatch {
                leg: label.into(),
                releases: clusters.len(),
                clusters: clusters.iter().map(|c| leg(c)).collect(),
            })
        };
        let legs =
            [batch("1 of 3", &["a", "b"]), batch("2 of 3", &["a", "c"]), SupportAndStagingLeg::Cluster(leg("b"))];
        let results = results_from_jobs(
            &[job("1 of 3", "failure"), job("2 of 3", "success"), job("b", "success")],
            DEFAULT_JOB_NAME,
            &legs,
        );
        assert_eq!(results["a"], LegResult::Failure);
        assert_eq!(results["b"], LegResult::Failure);
        assert_eq!(results["c"], LegResult::Success);
        // A leg without a job leaves its clusters without a result, whatever the other legs say.
        let results = results_from_jobs(&[job("2 of 3", "success"), job("b", "success")], DEFAULT_JOB_NAME, &legs);
        assert_eq!(results.get("a"), None);
        assert_eq!(results.get("b"), None);
        assert_eq!(results["c"], LegResult::Success);
        // A failed leg after one without a job: the failure is the cluster's result, not a missing one.
        let results = results_from_jobs(&[job("2 of 3", "failure")], DEFAULT_JOB_NAME, &legs);
        assert_eq!(results["a"], LegResult::Failure);
        assert_eq!(results["c"], LegResult::Failure);
        assert_eq!(results.get("b"), None);
    }

    /// Regression (issue 27, found by `tests/properties_filter_input.rs`): a map keeps the last of two
    /// equal keys, so `{"a": "failure", "a": "success"}` read as a success; and `failure_a-b` stood for
    /// both `a.b` and `a-b`.
    #[test]
    fn ambiguous_results_are_refused() {
        let legs = [leg("a"), leg("a.b"), leg("a-b")];
        let cases = [
            (r#"{"a": "failure", "a": "success"}"#, "invalid input `results`: `a` is given twice"),
            (r#"{"failure_a": "true", "failure_a": "false"}"#, "invalid input `results`: `failure_a` is given twice"),
            (r#"{"failure_a-b": "false"}"#, "invalid input `results`: `failure_a-b` stands for both `a.b` and `a-b`"),
        ];
        for (text, want) in cases {
            let error = parse_results("results", text, &legs).unwrap_err().to_string();
            assert!(error.starts_with(want), "{text}: {error}");
        }
        assert_eq!(repeated_key(r#"{"x": [{"k": 1, "k": 2}]}"#).as_deref(), Some("k"));
        assert_eq!(repeated_key(r#"{"a": 1, "b": {"a": 1}}"#), None);
        assert_eq!(repeated_key("not json"), None);
        let long = "k".repeat(500);
        assert_eq!(repeated_key(&format!(r#"{{"{long}": 1, "{long}": 2}}"#)).map(|k| k.chars().count()), Some(121));
    }
}
