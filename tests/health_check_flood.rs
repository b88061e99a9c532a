//! The `health_checks` flood through `action-generate`: 200 clusters, 100
//! `cluster_paths` patterns and 40 changed paths (see
//! `support/health_check_flood.rs`), each path passing every pattern's
//! wildcard form and holding every cluster's name. The plan must be exact:
//! each cluster checked for the one path that names it in the right place and
//! for the right provider. How long it takes is `benches/hostile.rs`'s business.

mod support;

#[path = "support/health_check_flood.rs"]
mod flood;

use std::collections::BTreeMap;

use serde_json::Value;
use support::ActionRun;

const CLUSTERS: usize = 200;
const PATTERNS: usize = 100;
const PATHS: usize = 40;

#[test]
fn the_flood_plans_each_cluster_for_its_own_path() {
    let repo = tempfile::tempdir().expect("temporary folder");
    let paths = flood::write(repo.path(), CLUSTERS, PATTERNS, PATHS);
    let result = ActionRun::new("action-generate", repo.path())
        .input("changed-files", serde_json::to_string(&paths).expect("json"))
        .temp_input("plan-dir", "plan")
        .run();
    assert!(result.success(), "{}\n{}", result.stdout, result.stderr);

    // Every planned check, by (cluster, hub): its reason.
    let checks = result.json_output("health-check-matrix-jobs");
    let checks = checks.as_array().expect("a list");
    let mut planned: BTreeMap<(String, String), String> = BTreeMap::new();
    for job in checks {
        let text = |key: &str| job[key].as_str().unwrap_or_else(|| panic!("{key} in {job}")).to_owned();
        let previous = planned.insert((text("cluster_name"), text("hub_name")), text("reason_for_health_check"));
        assert!(previous.is_none(), "one check per hub: {job}");
    }
    let mut expected: BTreeMap<(String, String), String> = BTreeMap::new();
    for i in 0..CLUSTERS {
        let reason = format!("Infrastructure of this cluster was modified: {}", paths[i % PATHS]);
        for hub in ["staging", "prod"] {
            expected.insert((flood::cluster_name(i), hub.to_owned()), reason.clone());
        }
    }
    assert_eq!(planned.len(), expected.len());
    for (key, reason) in &expected {
        assert_eq!(planned.get(key), Some(reason), "{key:?}");
    }
    // Staging hubs first (the canaries), then the prod hubs; the provider as in cluster.yaml.
    let hubs: Vec<&str> = checks.iter().map(|job| job["hub_name"].as_str().unwrap_or_default()).collect();
    assert!(hubs[..CLUSTERS].iter().all(|hub| *hub == "staging") && hubs[CLUSTERS..].iter().all(|hub| *hub == "prod"));
    for job in checks {
        let name = job["cluster_name"].as_str().unwrap_or_default();
        let i: usize = name[1..].parse().expect("a cluster number");
        assert_eq!(job["provider"], Value::from(flood::provider(i)), "{name}");
    }
    // Nothing is upgraded: no values file, chart or cluster file changed.
    assert_eq!(result.json_output("support-and-staging-matrix-jobs"), Value::Array(Vec::new()));
    assert_eq!(result.json_output("prod-hub-matrix-jobs"), Value::Array(Vec::new()));
}
