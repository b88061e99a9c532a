//! Packing a plan's jobs into matrix legs that fit GitHub's limit (or a
//! lower `max-jobs`). Pure: the plan's matrices in, the legs out.
//!
//! Within `max-jobs` every leg is one of today's jobs, byte for byte: one
//! cluster per support-and-staging leg, one hub per prod leg. Past it, a
//! matrix switches to batched legs, `{"leg", "releases", "clusters": [...]}`:
//! prod hubs are grouped by cluster (a leg deploys hubs of one cluster) and
//! each cluster gets legs in proportion to its hubs, the next leg always
//! going to the cluster whose chunks are largest, so that chunk sizes within
//! a cluster differ by at most one and the largest leg is as small as the
//! limit allows. With more clusters than `max-jobs`, whole clusters are
//! packed into legs, largest first onto the lightest leg. The same plan
//! always gives the same legs.

use std::collections::BTreeSet;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::config::rollout::JobRollout;
use crate::config::Provider;
use crate::planning::plan::{HealthCheckJob, Plan, ProdHubJob, SupportAndStagingJob};

/// GitHub Actions' limit on jobs per matrix, and the default `max-jobs`.
pub const DEFAULT_MAX_JOBS: usize = crate::planning::plan::MAX_MATRIX_JOBS;

/// One item of the support-and-staging matrix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum SupportAndStagingLeg {
    /// One cluster: the shape within `max-jobs`.
    Cluster(SupportAndStagingJob),
    /// Several clusters, each deployed (and reported) on its own.
    Batch(SupportAndStagingBatch),
}

/// A batched support-and-staging leg.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SupportAndStagingBatch {
    /// `<n> of <legs>`, for the job's name.
    pub leg: String,
    /// Releases the leg upgrades (support charts and staging hubs).
    pub releases: usize,
    pub clusters: Vec<SupportAndStagingJob>,
}

/// One item of the prod matrix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum ProdLeg {
    /// One hub: the shape within `max-jobs`.
    Hub(ProdHubJob),
    /// Hubs of one cluster, or of several whole clusters.
    Batch(ProdBatch),
}

/// A batched prod leg.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProdBatch {
    /// `<n> of <legs>`, for the job's name.
    pub leg: String,
    /// Hubs the leg upgrades.
    pub releases: usize,
    pub clusters: Vec<ProdCluster>,
}

/// The hubs of one cluster in a batched prod leg.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProdCluster {
    pub cluster_name: String,
    pub provider: Provider,
    pub hubs: Vec<ProdHub>,
}

/// One hub of a batched prod leg.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProdHub {
    pub hub_name: String,
    pub reason_for_redeploy: String,
    /// With `rollout`, when the hub's chart rolls out in waves: its wave and chart commit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout: Option<JobRollout>,
}

impl SupportAndStagingLeg {
    /// The clusters of the leg, each as its own job.
    pub fn clusters(&self) -> &[SupportAndStagingJob] {
        match self {
            SupportAndStagingLeg::Cluster(job) => std::slice::from_ref(job),
            SupportAndStagingLeg::Batch(batch) => &batch.clusters,
        }
    }
}

impl ProdLeg {
    /// The hubs of the leg, each as its own job, in order.
    pub fn hubs(&self) -> Vec<ProdHubJob> {
        match self {
            ProdLeg::Hub(job) => vec![job.clone()],
            ProdLeg::Batch(batch) => batch
                .clusters
                .iter()
                .flat_map(|cluster| {
                    cluster.hubs.iter().map(|hub| ProdHubJob {
                        cluster_name: cluster.cluster_name.clone(),
                        provider: cluster.provider,
                        hub_name: hub.hub_name.clone(),
                        reason_for_redeploy: hub.reason_for_redeploy.clone(),
                        rollout: hub.rollout.clone(),
                    })
                })
                .collect(),
        }
    }

    /// The leg with only the hubs `keep` accepts; `None` when none is left.
    pub fn retain(&self, keep: impl Fn(&str, &str) -> bool) -> Option<ProdLeg> {
        match self {
            ProdLeg::Hub(job) => keep(&job.cluster_name, &job.hub_name).then(|| self.clone()),
            ProdLeg::Batch(batch) => {
                let clusters: Vec<ProdCluster> = batch
                    .clusters
                    .iter()
                    .filter_map(|cluster| {
                        let hubs: Vec<ProdHub> =
                            cluster.hubs.iter().filter(|h| keep(&cluster.cluster_name, &h.hub_name)).cloned().collect();
                        (!hubs.is_empty()).then(|| ProdCluster { hubs, ..cluster.clone() })
                    })
                    .collect();
                let releases = clusters.iter().map(|c| c.hubs.len()).sum();
                (releases > 0).then(|| ProdLeg::Batch(ProdBatch { leg: batch.leg.clone(), releases, clusters }))
            }
        }
    }
}

/// One item of a health-check matrix: a hub (prod, within `max-jobs`), a cluster's staging hubs
/// (staging, within `max-jobs`), or a batch of either past it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum HealthCheckLeg {
    /// One prod hub.
    Hub(HealthCheckJob),
    /// One cluster's staging hubs: a staging leg reports one cluster, as a canary.
    Cluster(HealthCheckCluster),
    /// Hubs of one cluster, or several whole clusters.
    Batch(HealthCheckBatch),
}

/// The hubs of one cluster to health-check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HealthCheckCluster {
    pub cluster_name: String,
    pub provider: Provider,
    pub hubs: Vec<HealthCheckHub>,
}

/// One hub of a [`HealthCheckCluster`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HealthCheckHub {
    pub hub_name: String,
    pub reason_for_health_check: String,
}

/// A batched health-check leg.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HealthCheckBatch {
    /// `<n> of <legs>`, for the job's name.
    pub leg: String,
    /// Hubs the leg checks.
    pub checks: usize,
    pub clusters: Vec<HealthCheckCluster>,
}

impl HealthCheckLeg {
    /// The leg's hubs, each as its own job, in order.
    pub fn jobs(&self) -> Vec<HealthCheckJob> {
        let of_cluster = |cluster: &HealthCheckCluster| {
            cluster
                .hubs
                .iter()
                .map(|hub| HealthCheckJob {
                    cluster_name: cluster.cluster_name.clone(),
                    provider: cluster.provider,
                    hub_name: hub.hub_name.clone(),
                    reason_for_health_check: hub.reason_for_health_check.clone(),
                })
                .collect::<Vec<_>>()
        };
        match self {
            HealthCheckLeg::Hub(job) => vec![job.clone()],
            HealthCheckLeg::Cluster(cluster) => of_cluster(cluster),
            HealthCheckLeg::Batch(batch) => batch.clusters.iter().flat_map(of_cluster).collect(),
        }
    }

    /// What the leg's job name holds in place of `{cluster}`: the cluster, or the batch's `leg`.
    pub fn label(&self) -> &str {
        match self {
            HealthCheckLeg::Hub(job) => &job.cluster_name,
            HealthCheckLeg::Cluster(cluster) => &cluster.cluster_name,
            HealthCheckLeg::Batch(batch) => &batch.leg,
        }
    }

    /// The leg with only the hubs `keep` accepts; `None` when none is left.
    pub fn retain(&self, keep: impl Fn(&str, &str) -> bool) -> Option<HealthCheckLeg> {
        let retain_cluster = |cluster: &HealthCheckCluster| {
            let hubs: Vec<HealthCheckHub> =
                cluster.hubs.iter().filter(|h| keep(&cluster.cluster_name, &h.hub_name)).cloned().collect();
            (!hubs.is_empty()).then(|| HealthCheckCluster { hubs, ..cluster.clone() })
        };
        match self {
            HealthCheckLeg::Hub(job) => keep(&job.cluster_name, &job.hub_name).then(|| self.clone()),
            HealthCheckLeg::Cluster(cluster) => retain_cluster(cluster).map(HealthCheckLeg::Cluster),
            HealthCheckLeg::Batch(batch) => {
                let clusters: Vec<HealthCheckCluster> = batch.clusters.iter().filter_map(retain_cluster).collect();
                let checks = clusters.iter().map(|c| c.hubs.len()).sum();
                (checks > 0)
                    .then(|| HealthCheckLeg::Batch(HealthCheckBatch { leg: batch.leg.clone(), checks, clusters }))
            }
        }
    }
}

/// Both matrix outputs of generate, for the JSON Schema (`deployer schema legs`).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[schemars(title = "deployer matrices")]
pub struct Matrices {
    /// One item per cluster, or batched legs past `max-jobs`.
    #[serde(rename = "support-and-staging-matrix-jobs")]
    pub support_and_staging: Vec<SupportAndStagingLeg>,
    /// One item per prod hub, or batched legs past `max-jobs`.
    #[serde(rename = "prod-hub-matrix-jobs")]
    pub prod: Vec<ProdLeg>,
    /// Every planned health check, one item per hub: staging hubs first, then prod hubs (not packed).
    #[serde(rename = "health-check-matrix-jobs")]
    pub health_checks: Vec<HealthCheckJob>,
    /// The staging health checks: one item per cluster, or batched legs past `max-jobs`.
    #[serde(rename = "health-check-staging-matrix-jobs")]
    pub health_check_staging: Vec<HealthCheckLeg>,
    /// The prod health checks: one item per hub, or batched legs past `max-jobs`.
    #[serde(rename = "health-check-prod-matrix-jobs")]
    pub health_check_prod: Vec<HealthCheckLeg>,
}

/// Every cluster of a support-and-staging matrix, in order.
pub fn canary_jobs(legs: &[SupportAndStagingLeg]) -> Vec<SupportAndStagingJob> {
    legs.iter().flat_map(|leg| leg.clusters().iter().cloned()).collect()
}

/// Every hub of a prod matrix, in order.
pub fn prod_jobs(legs: &[ProdLeg]) -> Vec<ProdHubJob> {
    legs.iter().flat_map(ProdLeg::hubs).collect()
}

/// The matrices as legs, and what packing did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Legs {
    pub support_and_staging: Vec<SupportAndStagingLeg>,
    pub prod: Vec<ProdLeg>,
    /// Staging health checks, one leg per cluster within `max-jobs`.
    pub health_check_staging: Vec<HealthCheckLeg>,
    /// Prod health checks, one leg per hub within `max-jobs`.
    pub health_check_prod: Vec<HealthCheckLeg>,
}

impl Legs {
    /// True when a matrix holds batched legs.
    pub fn batched(&self) -> bool {
        self.support_and_staging.iter().any(|l| matches!(l, SupportAndStagingLeg::Batch(_)))
            || self.prod.iter().any(|l| matches!(l, ProdLeg::Batch(_)))
    }

    /// Releases of the largest support-and-staging leg and of the largest prod leg.
    pub fn largest(&self) -> (usize, usize) {
        let canary = self.support_and_staging.iter().map(|l| l.clusters().iter().map(releases_of).sum()).max();
        let prod = self.prod.iter().map(|l| l.hubs().len()).max();
        (canary.unwrap_or(0), prod.unwrap_or(0))
    }

    /// One line for the log: legs per matrix, and the largest, when batched.
    pub fn describe(&self, max_jobs: usize) -> String {
        let (canary, prod) = self.largest();
        if self.batched() {
            format!(
                "Matrices packed into legs to fit max-jobs {max_jobs}: {} support-and-staging legs (largest: {canary} \
                 releases), {} prod legs (largest: {prod} hubs)",
                self.support_and_staging.len(),
                self.prod.len()
            )
        } else {
            format!(
                "Matrices within max-jobs {max_jobs}: {} support-and-staging legs, {} prod legs (one hub each)",
                self.support_and_staging.len(),
                self.prod.len()
            )
        }
    }
}

/// Releases one support-and-staging job upgrades.
pub fn releases_of(job: &SupportAndStagingJob) -> usize {
    usize::from(job.upgrade_support) + if job.upgrade_staging { job.staging_hubs.len() } else { 0 }
}

/// Packs both upgrade matrices into at most `max_jobs` legs each (`max_jobs` of 0 counts as 1).
pub fn pack(support_and_staging: &[SupportAndStagingJob], prod: &[ProdHubJob], max_jobs: usize) -> Legs {
    let max_jobs = max_jobs.max(1);
    Legs {
        support_and_staging: pack_canaries(support_and_staging, max_jobs),
        prod: pack_prod(prod, max_jobs),
        ..Legs::default()
    }
}

/// Packs every matrix of a plan, the health checks too, into at most `max_jobs` legs each.
pub fn pack_plan(plan: &Plan, max_jobs: usize) -> Legs {
    let max_jobs = max_jobs.max(1);
    Legs {
        health_check_staging: pack_staging_checks(&plan.staging_checks, max_jobs),
        health_check_prod: pack_prod_checks(&plan.prod_checks, max_jobs),
        ..pack(&plan.support_and_staging, &plan.prod_hubs, max_jobs)
    }
}

/// Health checks grouped by cluster, in plan order.
fn check_clusters(jobs: &[HealthCheckJob]) -> Vec<HealthCheckCluster> {
    let mut clusters: Vec<HealthCheckCluster> = Vec::new();
    for job in jobs {
        let hub = HealthCheckHub {
            hub_name: job.hub_name.clone(),
            reason_for_health_check: job.reason_for_health_check.clone(),
        };
        match clusters.iter_mut().rev().find(|c| c.cluster_name == job.cluster_name) {
            Some(cluster) => cluster.hubs.push(hub),
            None => clusters.push(HealthCheckCluster {
                cluster_name: job.cluster_name.clone(),
                provider: job.provider,
                hubs: vec![hub],
            }),
        }
    }
    clusters
}

fn check_batches(batches: Vec<Vec<HealthCheckCluster>>) -> Vec<HealthCheckLeg> {
    let count = batches.len();
    batches
        .into_iter()
        .enumerate()
        .map(|(index, clusters)| {
            let checks = clusters.iter().map(|c| c.hubs.len()).sum();
            HealthCheckLeg::Batch(HealthCheckBatch { leg: leg_name(index, count), checks, clusters })
        })
        .collect()
}

/// Staging checks: a leg per cluster (it reports its cluster, as a canary); past `max_jobs`, whole
/// clusters packed into legs, largest first onto the lightest.
fn pack_staging_checks(jobs: &[HealthCheckJob], max_jobs: usize) -> Vec<HealthCheckLeg> {
    let clusters = check_clusters(jobs);
    if clusters.len() <= max_jobs {
        return clusters.into_iter().map(HealthCheckLeg::Cluster).collect();
    }
    let weights: Vec<usize> = clusters.iter().map(|c| c.hubs.len()).collect();
    check_batches(
        longest_first(&weights, max_jobs)
            .into_iter()
            .map(|members| members.into_iter().map(|i| clusters[i].clone()).collect())
            .collect(),
    )
}

/// Prod checks: a leg per hub; past `max_jobs`, chunked by cluster as the prod upgrades are.
fn pack_prod_checks(jobs: &[HealthCheckJob], max_jobs: usize) -> Vec<HealthCheckLeg> {
    if jobs.len() <= max_jobs {
        return jobs.iter().cloned().map(HealthCheckLeg::Hub).collect();
    }
    let clusters = check_clusters(jobs);
    let sizes: Vec<usize> = clusters.iter().map(|c| c.hubs.len()).collect();
    check_batches(
        chunk_groups(&sizes, max_jobs)
            .into_iter()
            .map(|parts| {
                parts
                    .into_iter()
                    .map(|(group, range)| HealthCheckCluster {
                        hubs: clusters[group].hubs[range].to_vec(),
                        ..clusters[group].clone()
                    })
                    .collect()
            })
            .collect(),
    )
}

fn leg_name(index: usize, count: usize) -> String {
    format!("{} of {count}", index + 1)
}

fn pack_canaries(jobs: &[SupportAndStagingJob], max_jobs: usize) -> Vec<SupportAndStagingLeg> {
    if jobs.len() <= max_jobs {
        return jobs.iter().cloned().map(SupportAndStagingLeg::Cluster).collect();
    }
    let weights: Vec<usize> = jobs.iter().map(|job| releases_of(job).max(1)).collect();
    let bins = longest_first(&weights, max_jobs);
    let count = bins.len();
    bins.into_iter()
        .enumerate()
        .map(|(index, members)| {
            let clusters: Vec<SupportAndStagingJob> = members.iter().map(|&i| jobs[i].clone()).collect();
            let releases = clusters.iter().map(releases_of).sum();
            SupportAndStagingLeg::Batch(SupportAndStagingBatch { leg: leg_name(index, count), releases, clusters })
        })
        .collect()
}

/// The prod hubs of one cluster, in plan order.
struct ClusterHubs<'a> {
    cluster_name: &'a str,
    provider: Provider,
    hubs: Vec<&'a ProdHubJob>,
}

fn group_by_cluster(prod: &[ProdHubJob]) -> Vec<ClusterHubs<'_>> {
    let mut groups: Vec<ClusterHubs<'_>> = Vec::new();
    for job in prod {
        match groups.iter_mut().rev().find(|g| g.cluster_name == job.cluster_name) {
            Some(group) => group.hubs.push(job),
            None => {
                groups.push(ClusterHubs { cluster_name: &job.cluster_name, provider: job.provider, hubs: vec![job] })
            }
        }
    }
    groups
}

fn prod_cluster(group: &ClusterHubs<'_>, hubs: &[&ProdHubJob]) -> ProdCluster {
    ProdCluster {
        cluster_name: group.cluster_name.to_owned(),
        provider: group.provider,
        hubs: hubs
            .iter()
            .map(|job| ProdHub {
                hub_name: job.hub_name.clone(),
                reason_for_redeploy: job.reason_for_redeploy.clone(),
                rollout: job.rollout.clone(),
            })
            .collect(),
    }
}

fn pack_prod(prod: &[ProdHubJob], max_jobs: usize) -> Vec<ProdLeg> {
    if prod.len() <= max_jobs {
        return prod.iter().cloned().map(ProdLeg::Hub).collect();
    }
    let groups = group_by_cluster(prod);
    let sizes: Vec<usize> = groups.iter().map(|g| g.hubs.len()).collect();
    let batches = chunk_groups(&sizes, max_jobs);
    let count = batches.len();
    batches
        .into_iter()
        .enumerate()
        .map(|(index, parts)| {
            let clusters: Vec<ProdCluster> = parts
                .into_iter()
                .map(|(group, range)| prod_cluster(&groups[group], &groups[group].hubs[range]))
                .collect();
            let releases = clusters.iter().map(|c| c.hubs.len()).sum();
            ProdLeg::Batch(ProdBatch { leg: leg_name(index, count), releases, clusters })
        })
        .collect()
}

/// Groups of hubs (each group one cluster's, by size) into at most `max_jobs` legs, each leg a list of
/// (group, range of its hubs). With no more groups than legs: one leg per group, then each spare leg to
/// the group whose chunks are largest, chunks within a group differing by at most one. With more groups
/// than legs: whole groups, largest first onto the lightest leg.
pub(crate) fn chunk_groups(sizes: &[usize], max_jobs: usize) -> Vec<Vec<(usize, std::ops::Range<usize>)>> {
    let mut batches = Vec::new();
    if sizes.len() <= max_jobs {
        let chunk = |hubs: usize, legs: usize| hubs.div_ceil(legs);
        let mut legs = vec![1usize; sizes.len()];
        let mut heap: std::collections::BinaryHeap<(usize, std::cmp::Reverse<usize>)> =
            sizes.iter().enumerate().map(|(i, &size)| (size, std::cmp::Reverse(i))).collect();
        let mut spare = max_jobs - sizes.len();
        while spare > 0 {
            let Some((largest, std::cmp::Reverse(index))) = heap.pop() else { break };
            if largest <= 1 {
                break;
            }
            legs[index] += 1;
            spare -= 1;
            heap.push((chunk(sizes[index], legs[index]), std::cmp::Reverse(index)));
        }
        for (group, (&size, &count)) in sizes.iter().zip(&legs).enumerate() {
            let (base, extra) = (size / count, size % count);
            let mut start = 0;
            for part in 0..count {
                let len = base + usize::from(part < extra);
                batches.push(vec![(group, start..start + len)]);
                start += len;
            }
        }
    } else {
        for members in longest_first(sizes, max_jobs) {
            batches.push(members.into_iter().map(|group| (group, 0..sizes[group])).collect());
        }
    }
    batches
}

/// Items (by weight) into at most `bins` bins: the heaviest first, each onto
/// the lightest bin (ties: the lowest bin); each bin's items in input order,
/// empty bins dropped.
fn longest_first(weights: &[usize], bins: usize) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..weights.len()).collect();
    order.sort_by(|&a, &b| weights[b].cmp(&weights[a]).then(a.cmp(&b)));
    let mut heap: std::collections::BinaryHeap<std::cmp::Reverse<(usize, usize)>> =
        (0..bins.min(weights.len())).map(|bin| std::cmp::Reverse((0, bin))).collect();
    let mut members: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); bins.min(weights.len())];
    for item in order {
        let Some(std::cmp::Reverse((load, bin))) = heap.pop() else { break };
        members[bin].insert(item);
        heap.push(std::cmp::Reverse((load + weights[item], bin)));
    }
    members.into_iter().filter(|m| !m.is_empty()).map(|m| m.into_iter().collect()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prod(clusters: &[(&str, usize)]) -> Vec<ProdHubJob> {
        clusters
            .iter()
            .flat_map(|&(cluster, hubs)| {
                (0..hubs).map(move |h| ProdHubJob {
                    cluster_name: cluster.to_owned(),
                    provider: Provider::Gcp,
                    hub_name: format!("h{h:03}"),
                    reason_for_redeploy: "r".into(),
                    rollout: None,
                })
            })
            .collect()
    }

    fn canary(name: &str, staging: usize) -> SupportAndStagingJob {
        SupportAndStagingJob {
            cluster_name: name.into(),
            provider: Provider::Aws,
            upgrade_support: true,
            reason_for_support_redeploy: "r".into(),
            upgrade_staging: staging > 0,
            reason_for_staging_redeploy: "r".into(),
            staging_hubs: (0..staging).map(|s| format!("staging{s}")).collect(),
            staging_rollout: Default::default(),
        }
    }

    fn sizes(legs: &[ProdLeg]) -> Vec<usize> {
        legs.iter().map(|l| l.hubs().len()).collect()
    }

    #[test]
    fn within_the_limit_nothing_changes() {
        let jobs = prod(&[("a", 3), ("b", 250)]);
        let legs = pack(&[canary("a", 1)], &jobs, 256);
        assert!(!legs.batched());
        let plain = serde_json::to_string(&jobs).expect("json");
        assert_eq!(serde_json::to_string(&legs.prod).expect("json"), plain);
        assert_eq!(serde_json::to_string(&legs.support_and_staging).expect("json"), {
            serde_json::to_string(&[canary("a", 1)]).expect("json")
        });
    }

    #[test]
    fn prod_hubs_are_chunked_by_cluster_and_balanced() {
        // (clusters and their hubs, max-jobs, expected leg sizes in order)
        type Case<'a> = (&'a [(&'a str, usize)], usize, &'a [usize]);
        let cases: &[Case<'_>] = &[
            (&[("a", 10)], 3, &[4, 3, 3]),
            (&[("a", 10)], 9, &[2, 1, 1, 1, 1, 1, 1, 1, 1]),
            (&[("a", 6), ("b", 2)], 4, &[2, 2, 2, 2]),
            (&[("a", 7), ("b", 1)], 4, &[3, 2, 2, 1]),
            (&[("a", 1), ("b", 1), ("c", 5)], 4, &[1, 1, 3, 2]),
            // Spare legs run out before chunks reach one hub.
            (&[("a", 300)], 256, &[]),
            // More clusters than legs: whole clusters, heaviest first onto the lightest leg.
            (&[("a", 3), ("b", 3), ("c", 2), ("d", 2), ("e", 1)], 2, &[6, 5]),
        ];
        for (clusters, max_jobs, want) in cases {
            let jobs = prod(clusters);
            let legs = pack(&[], &jobs, *max_jobs);
            assert!(legs.prod.len() <= *max_jobs, "{clusters:?}");
            assert_eq!(prod_jobs(&legs.prod).len(), jobs.len(), "{clusters:?}: every hub once");
            let mut all = prod_jobs(&legs.prod);
            all.sort_by(|x, y| (&x.cluster_name, &x.hub_name).cmp(&(&y.cluster_name, &y.hub_name)));
            assert_eq!(all, jobs, "{clusters:?}: the same hubs");
            if !want.is_empty() {
                assert_eq!(sizes(&legs.prod), *want, "{clusters:?} into {max_jobs}");
            }
        }
        let big = pack(&[], &prod(&[("a", 300)]), 256);
        assert_eq!(big.prod.len(), 256);
        let sizes = sizes(&big.prod);
        assert_eq!((sizes.iter().max(), sizes.iter().min()), (Some(&2), Some(&1)));
    }

    #[test]
    fn a_prod_leg_of_one_cluster_unless_clusters_outnumber_legs() {
        let jobs = prod(&[("a", 100), ("b", 100), ("c", 100)]);
        let legs = pack(&[], &jobs, 256);
        for leg in &legs.prod {
            let ProdLeg::Batch(batch) = leg else { panic!("batched") };
            assert_eq!(batch.clusters.len(), 1);
        }
        assert_eq!(legs.largest().1, 2);
        let many: Vec<(String, usize)> = (0..1000).map(|c| (format!("c{c:04}"), 8)).collect();
        let many: Vec<(&str, usize)> = many.iter().map(|(n, h)| (n.as_str(), *h)).collect();
        let legs = pack(&[], &prod(&many), 256);
        assert_eq!(legs.prod.len(), 256);
        // 1,000 equal clusters into 256 legs: 3 or 4 whole clusters each.
        let counts: BTreeSet<usize> =
            legs.prod.iter().map(|l| if let ProdLeg::Batch(b) = l { b.clusters.len() } else { 0 }).collect();
        assert_eq!(counts, BTreeSet::from([3, 4]));
    }

    #[test]
    fn canaries_pack_whole_clusters_by_release_count() {
        let jobs: Vec<SupportAndStagingJob> = (0..5).map(|i| canary(&format!("c{i}"), i)).collect();
        let legs = pack(&jobs, &[], 2);
        assert_eq!(legs.support_and_staging.len(), 2);
        let names: Vec<Vec<&str>> = legs
            .support_and_staging
            .iter()
            .map(|l| l.clusters().iter().map(|c| c.cluster_name.as_str()).collect())
            .collect();
        // Weights 1 to 5: c4 (5) → leg 1, c3 (4) → 2, c2 (3) → 2, c1 (2) → 1, c0 (1) → 1 (a tie: the first).
        assert_eq!(names, [vec!["c0", "c1", "c4"], vec!["c2", "c3"]]);
        assert_eq!(canary_jobs(&legs.support_and_staging).len(), 5);
        let SupportAndStagingLeg::Batch(first) = &legs.support_and_staging[0] else { panic!("batched") };
        assert_eq!((first.leg.as_str(), first.releases), ("1 of 2", 8));
    }

    /// The log line names the largest legs when either matrix alone is batched.
    #[test]
    fn describe_counts_legs_and_the_largest() {
        // Canaries batched, prod not: releases are support (1) plus staging hubs.
        let legs = pack(&[canary("a", 3), canary("b", 1), canary("c", 0)], &prod(&[("a", 2)]), 2);
        assert!(legs.batched());
        assert_eq!(legs.largest(), (4, 1));
        assert_eq!(
            legs.describe(2),
            "Matrices packed into legs to fit max-jobs 2: 2 support-and-staging legs (largest: 4 releases), \
             2 prod legs (largest: 1 hubs)"
        );
        // Prod batched, canaries not.
        let legs = pack(&[canary("a", 0)], &prod(&[("a", 5)]), 2);
        assert!(legs.batched());
        assert_eq!(legs.largest(), (1, 3));
        // Neither.
        let legs = pack(&[canary("a", 2)], &prod(&[("a", 2)]), 2);
        assert!(!legs.batched());
        assert_eq!(
            legs.describe(2),
            "Matrices within max-jobs 2: 1 support-and-staging legs, 2 prod legs (one hub each)"
        );
        assert_eq!(releases_of(&canary("a", 2)), 3);
        assert_eq!(releases_of(&SupportAndStagingJob { upgrade_support: false, ..canary("a", 2) }), 2);
        assert_eq!(releases_of(&SupportAndStagingJob { upgrade_staging: false, ..canary("a", 2) }), 1);
    }

    #[test]
    fn packing_is_deterministic_and_round_trips() {
        let jobs = prod(&[("a", 9), ("b", 4), ("c", 4)]);
        let canaries = [canary("a", 1), canary("b", 0), canary("c", 2)];
        let first = pack(&canaries, &jobs, 2);
        assert_eq!(first, pack(&canaries, &jobs, 2));
        let text = serde_json::to_string(&first.prod).expect("json");
        let back: Vec<ProdLeg> = serde_json::from_str(&text).expect("parse");
        assert_eq!(back, first.prod);
        let text = serde_json::to_string(&first.support_and_staging).expect("json");
        let back: Vec<SupportAndStagingLeg> = serde_json::from_str(&text).expect("parse");
        assert_eq!(back, first.support_and_staging);
        // A batch with an unknown field is neither shape.
        let bad = r#"[{"leg": "1 of 1", "releases": 1, "clusters": [], "extra": 1}]"#;
        assert!(serde_json::from_str::<Vec<ProdLeg>>(bad).is_err());
    }

    #[test]
    fn retain_prunes_batches() {
        let legs = pack(&[], &prod(&[("a", 2), ("b", 2), ("c", 1)]), 2);
        let kept: Vec<ProdLeg> = legs.prod.iter().filter_map(|l| l.retain(|cluster, _| cluster != "a")).collect();
        let hubs = prod_jobs(&kept);
        assert!(hubs.iter().all(|h| h.cluster_name != "a"));
        assert_eq!(hubs.len(), 3);
        for leg in &kept {
            let ProdLeg::Batch(batch) = leg else { panic!("batched") };
            assert_eq!(batch.releases, batch.clusters.iter().map(|c| c.hubs.len()).sum::<usize>());
        }
    }

    fn checks(clusters: &[(&str, usize)]) -> Vec<HealthCheckJob> {
        clusters
            .iter()
            .flat_map(|(cluster, hubs)| {
                (0..*hubs).map(move |i| HealthCheckJob {
                    cluster_name: (*cluster).into(),
                    provider: Provider::Aws,
                    hub_name: format!("h{i}"),
                    reason_for_health_check: "r".into(),
                })
            })
            .collect()
    }

    #[test]
    fn health_checks_pack_per_cluster_for_staging_and_per_hub_for_prod() {
        let flat =
            |legs: &[HealthCheckLeg]| -> Vec<HealthCheckJob> { legs.iter().flat_map(HealthCheckLeg::jobs).collect() };
        // (staging, prod, max-jobs, staging leg sizes, prod leg sizes, batched)
        type Case<'a> = (&'a [(&'a str, usize)], &'a [(&'a str, usize)], usize, &'a [usize], &'a [usize], bool);
        let cases: &[Case<'_>] = &[
            (&[("a", 2), ("b", 1)], &[("a", 3)], 256, &[2, 1], &[1, 1, 1], false),
            (&[("a", 2), ("b", 1), ("c", 1)], &[("a", 3), ("b", 2)], 2, &[2, 2], &[3, 2], true),
            (&[], &[("a", 7)], 3, &[], &[3, 2, 2], true),
        ];
        for (staging, prod, max_jobs, staging_sizes, prod_sizes, batched) in cases {
            let plan = Plan { staging_checks: checks(staging), prod_checks: checks(prod), ..Plan::default() };
            let legs = pack_plan(&plan, *max_jobs);
            let sizes = |legs: &[HealthCheckLeg]| legs.iter().map(|l| l.jobs().len()).collect::<Vec<_>>();
            assert_eq!(sizes(&legs.health_check_staging), *staging_sizes, "{staging:?} {max_jobs}");
            assert_eq!(sizes(&legs.health_check_prod), *prod_sizes, "{prod:?} {max_jobs}");
            assert_eq!(flat(&legs.health_check_staging), plan.staging_checks, "every staging check once, in order");
            assert_eq!(flat(&legs.health_check_prod), plan.prod_checks, "every prod check once, in order");
            assert_eq!(legs.health_check_prod.iter().any(|l| matches!(l, HealthCheckLeg::Batch(_))), *batched);
            // Within max-jobs a staging leg is one cluster; never a bare hub.
            assert!(legs.health_check_staging.iter().all(|l| !matches!(l, HealthCheckLeg::Hub(_))));
            for leg in legs.health_check_staging.iter().chain(&legs.health_check_prod) {
                if let HealthCheckLeg::Batch(batch) = leg {
                    assert_eq!(batch.checks, leg.jobs().len());
                }
                // JSON round trip: the item reads back as itself.
                let back: HealthCheckLeg = serde_json::from_str(&serde_json::to_string(leg).unwrap()).unwrap();
                assert_eq!(&back, leg);
            }
            assert_eq!(pack_plan(&plan, *max_jobs), legs, "deterministic");
        }
        // Pruning keeps the kept hubs and drops legs left empty.
        let legs = pack_plan(&Plan { prod_checks: checks(&[("a", 2), ("b", 2)]), ..Plan::default() }, 2);
        let kept: Vec<HealthCheckLeg> =
            legs.health_check_prod.iter().filter_map(|l| l.retain(|c, h| c == "b" || h == "h0")).collect();
        assert_eq!(kept.iter().map(|l| l.jobs().len()).collect::<Vec<_>>(), [1, 2]);
        assert!(legs.health_check_prod[0].retain(|_, _| false).is_none());
    }
}
