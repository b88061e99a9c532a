//! Which planned releases `skip-unchanged` drops, and the matrices without
//! them. Pure: the plan's jobs and the diff in, smaller jobs out.
//!
//! A release is dropped only when all of these hold: its normalised render
//! is identical at base and head, none of its values files changed bytes
//! (an `enc-*` change always deploys), and its chart has no remote
//! dependency without an exact version (what helm fetches could differ).
//! A render that failed keeps the release. A staging hub stays while any
//! prod hub of its cluster deploys: it is the canary.

use super::helm_template::{Release, ReleaseOutcome};
use super::{DiffStatus, SkippedRelease, SKIPPED_REASON};
use crate::planning::plan::{ProdHubJob, SupportAndStagingJob};

/// The releases of the two matrices, in plan order: each leg's support chart
/// and staging hubs, then the prod hubs.
pub fn releases_of(legs: &[SupportAndStagingJob], prod: &[ProdHubJob]) -> Vec<Release> {
    let mut releases = Vec::new();
    for leg in legs {
        if leg.upgrade_support {
            releases.push(Release {
                cluster_name: leg.cluster_name.clone(),
                hub_name: None,
                planned_chart_commit: None,
            });
        }
        if leg.upgrade_staging {
            releases.extend(leg.staging_hubs.iter().map(|hub| Release {
                cluster_name: leg.cluster_name.clone(),
                hub_name: Some(hub.clone()),
                planned_chart_commit: leg.staging_rollout.get(hub).map(|rollout| rollout.chart_commit.clone()),
            }));
        }
    }
    releases.extend(prod.iter().map(|job| Release {
        cluster_name: job.cluster_name.clone(),
        hub_name: Some(job.hub_name.clone()),
        planned_chart_commit: job.rollout.as_ref().map(|rollout| rollout.chart_commit.clone()),
    }));
    releases
}

/// True when deploying the release would change nothing in the cluster.
pub fn is_skippable(outcome: &ReleaseOutcome) -> bool {
    outcome.diff.status == DiffStatus::Unchanged
        && !outcome.values_changed
        && !outcome.unpinned_remote_dependency
        && outcome.diff.encrypted_values_changed.is_empty()
}

/// The matrices after `skip-unchanged`, and what it dropped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Skipped {
    pub support_and_staging: Vec<SupportAndStagingJob>,
    pub prod_hubs: Vec<ProdHubJob>,
    pub skipped: Vec<SkippedRelease>,
}

/// Drops the skippable releases of `legs` and `prod`. A release with no outcome is kept.
pub fn skip_unchanged(legs: &[SupportAndStagingJob], prod: &[ProdHubJob], outcomes: &[ReleaseOutcome]) -> Skipped {
    let skippable = |cluster: &str, hub: Option<&str>| {
        outcomes
            .iter()
            .find(|o| o.diff.cluster_name == cluster && o.diff.hub_name.as_deref() == hub)
            .is_some_and(is_skippable)
    };
    let skip = |cluster: &str, hub: Option<&str>| SkippedRelease {
        cluster_name: cluster.to_owned(),
        hub_name: hub.map(str::to_owned),
        reason: SKIPPED_REASON.to_owned(),
    };
    let mut out = Skipped::default();
    let mut skipped_prod = Vec::new();
    for job in prod {
        if skippable(&job.cluster_name, Some(&job.hub_name)) {
            skipped_prod.push(skip(&job.cluster_name, Some(&job.hub_name)));
        } else {
            out.prod_hubs.push(job.clone());
        }
    }
    for leg in legs {
        let mut leg = leg.clone();
        let canary_needed = out.prod_hubs.iter().any(|job| job.cluster_name == leg.cluster_name);
        if leg.upgrade_support && skippable(&leg.cluster_name, None) {
            out.skipped.push(skip(&leg.cluster_name, None));
            leg.upgrade_support = false;
            leg.reason_for_support_redeploy.clear();
        }
        if leg.upgrade_staging && !canary_needed {
            let (dropped, kept): (Vec<String>, Vec<String>) =
                leg.staging_hubs.iter().cloned().partition(|hub| skippable(&leg.cluster_name, Some(hub)));
            out.skipped.extend(dropped.iter().map(|hub| skip(&leg.cluster_name, Some(hub))));
            leg.staging_hubs = kept;
            if leg.staging_hubs.is_empty() {
                leg.upgrade_staging = false;
                leg.reason_for_staging_redeploy.clear();
            }
        }
        if leg.upgrade_support || leg.upgrade_staging {
            out.support_and_staging.push(leg);
        }
    }
    out.skipped.extend(skipped_prod);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Provider;
    use crate::manifest_diff::ReleaseDiff;

    fn leg(cluster: &str, support: bool, staging: &[&str]) -> SupportAndStagingJob {
        SupportAndStagingJob {
            cluster_name: cluster.into(),
            provider: Provider::Gcp,
            upgrade_support: support,
            reason_for_support_redeploy: if support { "r".into() } else { String::new() },
            upgrade_staging: !staging.is_empty(),
            reason_for_staging_redeploy: if staging.is_empty() { String::new() } else { "r".into() },
            staging_hubs: staging.iter().map(|h| (*h).to_owned()).collect(),
            staging_rollout: Default::default(),
        }
    }

    fn prod(cluster: &str, hub: &str) -> ProdHubJob {
        ProdHubJob {
            cluster_name: cluster.into(),
            provider: Provider::Gcp,
            hub_name: hub.into(),
            reason_for_redeploy: "r".into(),
            rollout: None,
        }
    }

    /// An outcome: `u` unchanged, `c` changed, `f` render failed, `v` unchanged render but values bytes changed,
    /// `e` encrypted values changed, `r` unpinned remote dependency.
    fn outcome(cluster: &str, hub: Option<&str>, kind: char) -> ReleaseOutcome {
        let status = match kind {
            'c' | 'e' => DiffStatus::Changed,
            'f' => DiffStatus::RenderFailed,
            _ => DiffStatus::Unchanged,
        };
        ReleaseOutcome {
            diff: ReleaseDiff {
                cluster_name: cluster.into(),
                hub_name: hub.map(str::to_owned),
                status,
                objects_added: 0,
                objects_removed: 0,
                objects_changed: 0,
                lines_added: 0,
                lines_removed: 0,
                encrypted_values_changed: if kind == 'e' { vec!["enc-x.yaml".into()] } else { vec![] },
                message: None,
                objects: vec![],
                objects_truncated: false,
            },
            values_changed: kind == 'v',
            unpinned_remote_dependency: kind == 'r',
        }
    }

    fn names(skipped: &Skipped) -> (Vec<String>, Vec<String>) {
        let legs = skipped
            .support_and_staging
            .iter()
            .map(|l| format!("{}:{}:{}", l.cluster_name, l.upgrade_support, l.staging_hubs.join("+")))
            .collect();
        let prod = skipped.prod_hubs.iter().map(|p| format!("{}/{}", p.cluster_name, p.hub_name)).collect();
        (legs, prod)
    }

    #[test]
    fn drops_exactly_the_unchanged_releases() {
        // (case, kinds of support/staging/prod1/prod2 on cluster a, kept legs, kept prod, skipped count)
        type Case<'a> = (&'a str, [char; 4], &'a [&'a str], &'a [&'a str], usize);
        let cases: &[Case<'_>] = &[
            ("all unchanged", ['u', 'u', 'u', 'u'], &[], &[], 4),
            ("one prod changed keeps the canary", ['u', 'u', 'c', 'u'], &["a:false:staging"], &["a/p1"], 2),
            ("staging changed alone", ['u', 'c', 'u', 'u'], &["a:false:staging"], &[], 3),
            ("support changed", ['c', 'u', 'u', 'u'], &["a:true:"], &[], 3),
            ("a failed render is kept", ['u', 'u', 'f', 'u'], &["a:false:staging"], &["a/p1"], 2),
            ("values bytes changed", ['u', 'u', 'u', 'v'], &["a:false:staging"], &["a/p2"], 2),
            ("encrypted values changed", ['e', 'u', 'u', 'u'], &["a:true:"], &[], 3),
            ("unpinned remote dependency", ['u', 'r', 'u', 'u'], &["a:false:staging"], &[], 3),
            ("everything changed", ['c', 'c', 'c', 'c'], &["a:true:staging"], &["a/p1", "a/p2"], 0),
        ];
        let legs = [leg("a", true, &["staging"])];
        let prods = [prod("a", "p1"), prod("a", "p2")];
        for (name, kinds, kept_legs, kept_prod, skipped) in cases {
            let outcomes = [
                outcome("a", None, kinds[0]),
                outcome("a", Some("staging"), kinds[1]),
                outcome("a", Some("p1"), kinds[2]),
                outcome("a", Some("p2"), kinds[3]),
            ];
            let result = skip_unchanged(&legs, &prods, &outcomes);
            let (found_legs, found_prod) = names(&result);
            assert_eq!(found_legs, *kept_legs, "{name}: legs");
            assert_eq!(found_prod, *kept_prod, "{name}: prod");
            assert_eq!(result.skipped.len(), *skipped, "{name}: {:?}", result.skipped);
            assert!(result.skipped.iter().all(|s| s.reason == SKIPPED_REASON), "{name}");
        }
    }

    #[test]
    fn releases_without_an_outcome_are_kept_and_other_clusters_are_left_alone() {
        let legs = [leg("a", true, &["s"]), leg("b", false, &["s"])];
        let prods = [prod("b", "p")];
        let outcomes = [outcome("a", None, 'u'), outcome("a", Some("s"), 'u'), outcome("b", Some("s"), 'u')];
        let result = skip_unchanged(&legs, &prods, &outcomes);
        assert_eq!(names(&result), (vec!["b:false:s".to_owned()], vec!["b/p".to_owned()]));
        assert_eq!(
            releases_of(&legs, &prods).iter().map(Release::label).collect::<Vec<_>>(),
            ["a/support", "a/s", "b/s", "b/p"]
        );
    }
}
