//! Properties of packing (issue 27, first property): for any generated plan and any `max-jobs`,
//! every job lands in exactly one leg, no matrix has more legs than `max-jobs`, packing is
//! deterministic, and unpacking gives back the original jobs as a multiset:
//! batched legs balance clusters across legs, so plan order is not kept).

use std::collections::BTreeMap;

use deployer::config::raw::Provider;
use deployer::planning::legs::{canary_jobs, pack, prod_jobs};
use deployer::planning::plan::{ProdHubJob, SupportAndStagingJob};
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
