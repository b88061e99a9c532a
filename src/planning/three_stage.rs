//! The three-stage matrix shape of the Python deployer's `plan-upgrade`:
//! `support-jobs` (one item per cluster whose support chart is upgraded),
//! `staging-jobs` (one item per staging hub) and `prod-jobs` (one item per
//! prod hub), each item `{cluster_name, provider, choice_reason}` plus
//! `hub_name` for hubs. Pure: the plan's matrices in, the three matrices out.
//!
//! Within `max-jobs` a matrix is exactly those items. Past it, items are
//! grouped by cluster and packed as the prod matrix is ([`crate::planning::legs`]):
//! batched legs `{"leg", "releases", "jobs": [<items>]}`, a leg holding items
//! of one cluster while there are no more clusters than legs.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::config::rollout::JobRollout;
use crate::config::Provider;
use crate::planning::legs::chunk_groups;
use crate::planning::plan::{ProdHubJob, SupportAndStagingJob};

/// The value of `matrix-shape` (and `--matrix-shape`) that adds these outputs.
pub const SHAPE_NAME: &str = "three-stage";
/// Output name: support chart upgrades.
pub const SUPPORT_KEY: &str = "support-jobs";
/// Output name: staging hub upgrades.
pub const STAGING_KEY: &str = "staging-jobs";
/// Output name: prod hub upgrades.
pub const PROD_KEY: &str = "prod-jobs";

/// One job, with the Python deployer's keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StageJob {
    pub cluster_name: String,
    pub provider: Provider,
    pub choice_reason: String,
    /// Absent from `support-jobs` items.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hub_name: Option<String>,
    /// With `rollout`, on hub items whose chart rolls out in waves: the wave and chart commit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout: Option<JobRollout>,
}

/// Past `max-jobs`: several jobs in one leg.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StageBatch {
    /// `"<n> of <legs>"`, for job names.
    pub leg: String,
    /// Releases the leg upgrades (its jobs).
    pub releases: usize,
    pub jobs: Vec<StageJob>,
}

/// One item of a three-stage matrix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum StageLeg {
    /// One job: the shape within `max-jobs`.
    Job(StageJob),
    /// Batched jobs, past `max-jobs`.
    Batch(StageBatch),
}

/// The three matrices.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ThreeStage {
    #[serde(rename = "support-jobs")]
    pub support: Vec<StageLeg>,
    #[serde(rename = "staging-jobs")]
    pub staging: Vec<StageLeg>,
    #[serde(rename = "prod-jobs")]
    pub prod: Vec<StageLeg>,
}

impl ThreeStage {
    /// True when a matrix holds batched legs.
    pub fn batched(&self) -> bool {
        [&self.support, &self.staging, &self.prod]
            .iter()
            .any(|legs| legs.iter().any(|leg| matches!(leg, StageLeg::Batch(_))))
    }
}

/// The plan's two upgrade matrices (unpacked) in the three-stage shape, each packed into at most
/// `max_jobs` legs (0 counts as 1).
pub fn three_stage(support_and_staging: &[SupportAndStagingJob], prod: &[ProdHubJob], max_jobs: usize) -> ThreeStage {
    let max_jobs = max_jobs.max(1);
    let support: Vec<StageJob> = support_and_staging
        .iter()
        .filter(|job| job.upgrade_support)
        .map(|job| StageJob {
            cluster_name: job.cluster_name.clone(),
            provider: job.provider,
            choice_reason: job.reason_for_support_redeploy.clone(),
            hub_name: None,
            rollout: None,
        })
        .collect();
    let staging: Vec<StageJob> = support_and_staging
        .iter()
        .filter(|job| job.upgrade_staging)
        .flat_map(|job| {
            job.staging_hubs.iter().map(|hub| StageJob {
                cluster_name: job.cluster_name.clone(),
                provider: job.provider,
                choice_reason: job.reason_for_staging_redeploy.clone(),
                hub_name: Some(hub.clone()),
                rollout: job.staging_rollout.get(hub).cloned(),
            })
        })
        .collect();
    let prod: Vec<StageJob> = prod
        .iter()
        .map(|job| StageJob {
            cluster_name: job.cluster_name.clone(),
            provider: job.provider,
            choice_reason: job.reason_for_redeploy.clone(),
            hub_name: Some(job.hub_name.clone()),
            rollout: job.rollout.clone(),
        })
        .collect();
    ThreeStage { support: pack(support, max_jobs), staging: pack(staging, max_jobs), prod: pack(prod, max_jobs) }
}

/// Jobs into at most `max_jobs` legs: unchanged within it; past it grouped by cluster (in order of first
/// appearance) and chunked as prod hubs are.
fn pack(jobs: Vec<StageJob>, max_jobs: usize) -> Vec<StageLeg> {
    if jobs.len() <= max_jobs {
        return jobs.into_iter().map(StageLeg::Job).collect();
    }
    let mut groups: Vec<Vec<StageJob>> = Vec::new();
    for job in jobs {
        match groups.iter_mut().find(|group| group.first().is_some_and(|first| first.cluster_name == job.cluster_name))
        {
            Some(group) => group.push(job),
            None => groups.push(vec![job]),
        }
    }
    let sizes: Vec<usize> = groups.iter().map(Vec::len).collect();
    let batches = chunk_groups(&sizes, max_jobs);
    let count = batches.len();
    batches
        .into_iter()
        .enumerate()
        .map(|(index, parts)| {
            let jobs: Vec<StageJob> =
                parts.into_iter().flat_map(|(group, range)| groups[group][range].iter().cloned()).collect();
            StageLeg::Batch(StageBatch { leg: format!("{} of {count}", index + 1), releases: jobs.len(), jobs })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canary(cluster: &str, support: bool, staging: &[&str]) -> SupportAndStagingJob {
        SupportAndStagingJob {
            cluster_name: cluster.to_owned(),
            provider: Provider::Gcp,
            upgrade_support: support,
            reason_for_support_redeploy: if support { "support why".to_owned() } else { String::new() },
            upgrade_staging: !staging.is_empty(),
            reason_for_staging_redeploy: if staging.is_empty() { String::new() } else { "staging why".to_owned() },
            staging_hubs: staging.iter().map(|s| (*s).to_owned()).collect(),
            staging_rollout: Default::default(),
        }
    }

    fn prod(cluster: &str, hub: &str) -> ProdHubJob {
        ProdHubJob {
            cluster_name: cluster.to_owned(),
            provider: Provider::Gcp,
            hub_name: hub.to_owned(),
            reason_for_redeploy: format!("{hub} why"),
            rollout: None,
        }
    }

    #[test]
    fn items_have_the_python_keys() {
        let stages = three_stage(
            &[
                canary("a", true, &["staging", "dask-staging"]),
                canary("b", true, &[]),
                canary("c", false, &["staging"]),
            ],
            &[prod("a", "p1")],
            256,
        );
        let json = serde_json::to_value(&stages).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "support-jobs": [
                    {"cluster_name": "a", "provider": "gcp", "choice_reason": "support why"},
                    {"cluster_name": "b", "provider": "gcp", "choice_reason": "support why"},
                ],
                "staging-jobs": [
                    {"cluster_name": "a", "provider": "gcp", "choice_reason": "staging why", "hub_name": "staging"},
                    {"cluster_name": "a", "provider": "gcp", "choice_reason": "staging why", "hub_name": "dask-staging"},
                    {"cluster_name": "c", "provider": "gcp", "choice_reason": "staging why", "hub_name": "staging"},
                ],
                "prod-jobs": [
                    {"cluster_name": "a", "provider": "gcp", "choice_reason": "p1 why", "hub_name": "p1"},
                ],
            })
        );
        assert!(!stages.batched());
    }

    #[test]
    fn past_max_jobs_items_are_packed_by_cluster() {
        let prods: Vec<ProdHubJob> =
            (0..5).map(|i| prod("a", &format!("a{i}"))).chain((0..2).map(|i| prod("b", &format!("b{i}")))).collect();
        let stages = three_stage(&[], &prods, 3);
        assert!(stages.batched());
        let legs: Vec<(String, Vec<String>)> = stages
            .prod
            .iter()
            .map(|leg| match leg {
                StageLeg::Batch(batch) => {
                    assert_eq!(batch.releases, batch.jobs.len());
                    (batch.leg.clone(), batch.jobs.iter().filter_map(|j| j.hub_name.clone()).collect())
                }
                StageLeg::Job(_) => panic!("unbatched leg past max-jobs"),
            })
            .collect();
        assert_eq!(
            legs,
            [
                ("1 of 3".to_owned(), vec!["a0".to_owned(), "a1".to_owned(), "a2".to_owned()]),
                ("2 of 3".to_owned(), vec!["a3".to_owned(), "a4".to_owned()]),
                ("3 of 3".to_owned(), vec!["b0".to_owned(), "b1".to_owned()]),
            ]
        );
        // Every job is in exactly one leg, and a matrix within the limit is untouched.
        assert!(stages.support.is_empty() && stages.staging.is_empty());
        let within = three_stage(&[], &prods, 7);
        assert_eq!(within.prod.len(), 7);
        assert!(within.prod.iter().all(|leg| matches!(leg, StageLeg::Job(_))));
    }
}
