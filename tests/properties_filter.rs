//! Properties of the filter (issue 27): it fails closed. A prod job of a cluster with a canary leg is kept
//! only when that cluster's result is a success; any other result (failed, cancelled, skipped, not
//! finished, missing) drops it with a reason; every job is either kept or dropped, once, in order.

use std::collections::BTreeMap;

use deployer::config::raw::Provider;
use deployer::planning::filter::{filter, LegResult};
use deployer::planning::plan::{ProdHubJob, SupportAndStagingJob};
use proptest::prelude::*;

const CASES: u32 = 2000;
const CLUSTERS: usize = 12;

fn result() -> impl Strategy<Value = Option<LegResult>> {
    prop_oneof![
        Just(None),
        Just(Some(LegResult::Success)),
        Just(Some(LegResult::Failure)),
        Just(Some(LegResult::Cancelled)),
        Just(Some(LegResult::Skipped)),
        "[a-z_]{0,12}".prop_map(|status| Some(LegResult::NotFinished(status))),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: CASES, ..ProptestConfig::default() })]

    #[test]
    fn the_filter_keeps_a_prod_job_only_after_its_canary_succeeded(
        has_leg in proptest::collection::vec(any::<bool>(), CLUSTERS),
        results in proptest::collection::vec(result(), CLUSTERS),
        prod_of in proptest::collection::vec(0..CLUSTERS, 0..80),
    ) {
        let canaries: Vec<SupportAndStagingJob> = (0..CLUSTERS)
            .filter(|&c| has_leg[c])
            .map(|c| SupportAndStagingJob {
                cluster_name: format!("c{c}"),
                provider: Provider::Gcp,
                upgrade_support: true,
                reason_for_support_redeploy: "support".into(),
                upgrade_staging: false,
                reason_for_staging_redeploy: String::new(),
                staging_hubs: Vec::new(),
                staging_rollout: BTreeMap::new(),
            })
            .collect();
        let by_cluster: BTreeMap<String, LegResult> = results
            .iter()
            .enumerate()
            .filter_map(|(c, r)| r.clone().map(|r| (format!("c{c}"), r)))
            .collect();
        let prod: Vec<ProdHubJob> = prod_of
            .iter()
            .enumerate()
            .map(|(i, &c)| ProdHubJob {
                cluster_name: format!("c{c}"),
                provider: Provider::Gcp,
                hub_name: format!("hub{i}"),
                reason_for_redeploy: "values".into(),
                rollout: None,
            })
            .collect();
        let outcome = filter(&prod, &canaries, &by_cluster);
        prop_assert_eq!(outcome.kept.len() + outcome.dropped.len(), prod.len());
        for job in &prod {
            let c: usize = job.cluster_name[1..].parse().expect("cN");
            let kept = outcome.kept.iter().any(|k| k.hub_name == job.hub_name);
            let dropped = outcome.dropped.iter().filter(|d| d.hub_name == job.hub_name).count();
            let may_run = !has_leg[c] || results[c] == Some(LegResult::Success);
            prop_assert_eq!(kept, may_run, "{:?} of cluster {} (leg: {}, result: {:?})", job.hub_name, c, has_leg[c], results[c]);
            prop_assert_eq!(dropped, usize::from(!may_run));
        }
        // Kept jobs stay in input order.
        let order: Vec<&str> = prod.iter().map(|j| j.hub_name.as_str()).filter(|h| outcome.kept.iter().any(|k| k.hub_name == *h)).collect();
        prop_assert_eq!(outcome.kept.iter().map(|k| k.hub_name.as_str()).collect::<Vec<_>>(), order);
        // Every dropped job says why.
        prop_assert!(outcome.dropped.iter().all(|d| !d.reason.is_empty()));
    }
}
