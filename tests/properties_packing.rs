//! Properties of packing (issue 27, first property): for any generated plan and any `max-jobs`,
//! every job lands in exactly one leg, no matrix has more legs than `max-jobs`, packing is
//! deterministic, and unpacking gives back the original jobs as a multiset:
//! batched legs balance clusters across legs, so plan order is not kept).
//! Narrowing a leg (the filter's `retain`, for deploy and health-check legs) keeps exactly the hubs
//! it is told to keep, in order, counts them, leaves no empty cluster, and gives no leg when none is
//! left.

use std::collections::BTreeMap;

use deployer::config::raw::Provider;
use std::collections::BTreeSet;

use deployer::planning::legs::{
    canary_jobs, pack, prod_jobs, HealthCheckBatch, HealthCheckCluster, HealthCheckHub, HealthCheckLeg, ProdLeg,
};
use deployer::planning::plan::{HealthCheckJob, ProdHubJob, SupportAndStagingJob};
use proptest::prelude::*;

/// Cases per property: enough to vary cluster counts, hub counts and max-jobs widely, small enough for CI.
const CASES: u32 = 2000;

/// Up to 40 clusters, each with a support flag and up to 6 staging hubs, and up to 300 prod hubs spread
/// over them; names unique as a plan has them.
fn plan() -> impl Strategy<Value = (Vec<SupportAndStagingJob>, Vec<ProdHubJob>)> {
    (1usize..40).prop_flat_map(|clusters| {
        (
            proptest::collection::vec((any::<bool>(), 0usize..6), clusters),
            proptest::collection::vec(0..clusters, 0..300),
        )
            .prop_map(move |(canaries, prod_of)| {
                let canaries: Vec<SupportAndStagingJob> = canaries
                    .into_iter()
                    .enumerate()
                    .filter(|(_, (support, staging))| *support || *staging > 0)
                    .map(|(index, (support, staging))| SupportAndStagingJob {
                        cluster_name: format!("c{index}"),
                        provider: Provider::Gcp,
                        upgrade_support: support,
                        reason_for_support_redeploy: if support { "support".into() } else { String::new() },
                        upgrade_staging: staging > 0,
                        reason_for_staging_redeploy: if staging > 0 { "staging".into() } else { String::new() },
                        staging_hubs: (0..staging).map(|hub| format!("staging{hub}")).collect(),
                        staging_rollout: BTreeMap::new(),
                    })
                    .collect();
                let mut counts = vec![0usize; clusters];
                let prod: Vec<ProdHubJob> = prod_of
                    .into_iter()
                    .map(|cluster| {
                        counts[cluster] += 1;
                        ProdHubJob {
                            cluster_name: format!("c{cluster}"),
                            provider: Provider::Aws,
                            hub_name: format!("hub{}", counts[cluster]),
                            reason_for_redeploy: "values".into(),
                            rollout: None,
                        }
                    })
                    .collect();
                (canaries, prod)
            })
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: CASES, ..ProptestConfig::default() })]

    #[test]
    fn packing_keeps_every_job_once_within_max_jobs((canaries, prod) in plan(), max_jobs in 1usize..64) {
        let legs = pack(&canaries, &prod, max_jobs);
        prop_assert!(legs.support_and_staging.len() <= max_jobs, "{} canary legs", legs.support_and_staging.len());
        prop_assert!(legs.prod.len() <= max_jobs, "{} prod legs", legs.prod.len());
        // Unpacking gives back the jobs, each once, in plan order.
        let mut unpacked_canaries = canary_jobs(&legs.support_and_staging);
        unpacked_canaries.sort_by(|a, b| a.cluster_name.cmp(&b.cluster_name));
        let mut sorted_canaries = canaries.clone();
        sorted_canaries.sort_by(|a, b| a.cluster_name.cmp(&b.cluster_name));
        prop_assert_eq!(unpacked_canaries, sorted_canaries);
        // The same jobs, each once (a batched leg holds one cluster's hubs, so an interleaved plan comes
        // back grouped by cluster).
        let mut unpacked = prod_jobs(&legs.prod);
        unpacked.sort_by(|a, b| (&a.cluster_name, &a.hub_name).cmp(&(&b.cluster_name, &b.hub_name)));
        let mut sorted = prod.clone();
        sorted.sort_by(|a, b| (&a.cluster_name, &a.hub_name).cmp(&(&b.cluster_name, &b.hub_name)));
        prop_assert_eq!(unpacked, sorted);
        // No leg is empty.
        prop_assert!(legs.support_and_staging.iter().all(|leg| !leg.clusters().is_empty()));
        prop_assert!(legs.prod.iter().all(|leg| !leg.hubs().is_empty()));
        // Deterministic.
        prop_assert_eq!(pack(&canaries, &prod, max_jobs), legs);
    }
}

/// A health-check leg of each shape: one hub, one cluster's hubs, or a batch of clusters (names unique).
fn health_check_leg() -> impl Strategy<Value = HealthCheckLeg> {
    let cluster = |index: usize, hubs: usize| HealthCheckCluster {
        cluster_name: format!("c{index}"),
        provider: Provider::Gcp,
        hubs: (0..hubs)
            .map(|hub| HealthCheckHub { hub_name: format!("hub{hub}"), reason_for_health_check: format!("r{hub}") })
            .collect(),
    };
    prop_oneof![
        (0usize..5).prop_map(|hub| HealthCheckLeg::Hub(HealthCheckJob {
            cluster_name: "c0".into(),
            provider: Provider::Aws,
            hub_name: format!("hub{hub}"),
            reason_for_health_check: "r".into(),
        })),
        (1usize..6).prop_map(move |hubs| HealthCheckLeg::Cluster(cluster(0, hubs))),
        proptest::collection::vec(1usize..6, 1..6).prop_map(move |sizes| {
            let clusters: Vec<HealthCheckCluster> =
                sizes.iter().enumerate().map(|(index, &hubs)| cluster(index, hubs)).collect();
            HealthCheckLeg::Batch(HealthCheckBatch {
                leg: "2 of 3".into(),
                checks: clusters.iter().map(|c| c.hubs.len()).sum(),
                clusters,
            })
        }),
    ]
}

/// The (cluster, hub) pairs to keep: a random subset of a 6 x 6 grid that covers every generated name.
fn keep_set() -> impl Strategy<Value = BTreeSet<(String, String)>> {
    proptest::collection::btree_set((0usize..6, 0usize..6), 0..36)
        .prop_map(|set| set.into_iter().map(|(c, h)| (format!("c{c}"), format!("hub{h}"))).collect())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: CASES, ..ProptestConfig::default() })]

    #[test]
    fn narrowing_a_deploy_leg_keeps_exactly_the_hubs_it_is_told_to(
        (canaries, prod) in plan(),
        max_jobs in 1usize..8,
        keep in keep_set(),
    ) {
        let keeps = |cluster: &str, hub: &str| keep.contains(&(cluster.to_owned(), hub.to_owned()));
        for leg in pack(&canaries, &prod, max_jobs).prod {
            let expected: Vec<ProdHubJob> = leg.hubs().into_iter().filter(|j| keeps(&j.cluster_name, &j.hub_name)).collect();
            let narrowed = leg.retain(keeps);
            prop_assert_eq!(narrowed.is_some(), !expected.is_empty(), "a leg is dropped exactly when it keeps no hub");
            if let Some(narrowed) = narrowed {
                {
                    prop_assert_eq!(narrowed.hubs(), expected);
                    if let ProdLeg::Batch(batch) = &narrowed {
                        prop_assert_eq!(batch.releases, narrowed.hubs().len(), "the batch counts its hubs");
                        prop_assert!(batch.clusters.iter().all(|c| !c.hubs.is_empty()), "no empty cluster");
                        prop_assert_eq!(&batch.leg, &match &leg { ProdLeg::Batch(b) => b.leg.clone(), ProdLeg::Hub(_) => String::new() });
                    } else {
                        prop_assert_eq!(&narrowed, &leg, "a one-hub leg is kept whole");
                    }
                }
            }
        }
    }

    #[test]
    fn narrowing_a_health_check_leg_keeps_exactly_the_hubs_it_is_told_to(
        leg in health_check_leg(),
        keep in keep_set(),
    ) {
        let keeps = |cluster: &str, hub: &str| keep.contains(&(cluster.to_owned(), hub.to_owned()));
        let label = match &leg {
            HealthCheckLeg::Hub(job) => job.cluster_name.clone(),
            HealthCheckLeg::Cluster(cluster) => cluster.cluster_name.clone(),
            HealthCheckLeg::Batch(batch) => batch.leg.clone(),
        };
        prop_assert_eq!(leg.label(), label.as_str());
        let all = leg.jobs();
        prop_assert!(!all.is_empty(), "every generated leg has a hub");
        let expected: Vec<HealthCheckJob> = all.into_iter().filter(|j| keeps(&j.cluster_name, &j.hub_name)).collect();
        let narrowed = leg.retain(keeps);
        prop_assert_eq!(narrowed.is_some(), !expected.is_empty(), "a leg is dropped exactly when it keeps no hub");
        if let Some(narrowed) = narrowed {
            {
                prop_assert_eq!(narrowed.jobs(), expected);
                prop_assert_eq!(narrowed.label(), label.as_str(), "narrowing keeps the leg's name");
                match &narrowed {
                    HealthCheckLeg::Batch(batch) => {
                        prop_assert_eq!(batch.checks, narrowed.jobs().len(), "the batch counts its hubs");
                        prop_assert!(batch.clusters.iter().all(|c| !c.hubs.is_empty()), "no empty cluster");
                    }
                    HealthCheckLeg::Cluster(cluster) => prop_assert!(!cluster.hubs.is_empty()),
                    HealthCheckLeg::Hub(_) => prop_assert_eq!(&narrowed, &leg, "a one-hub leg is kept whole"),
                }
            }
        }
    }
}
