//! Matrices at any fleet size, through the real binaries: within `max-jobs`
//! the outputs are byte for byte what generate wrote before batching
//! existed; past it, every hub and cluster lands in exactly one leg and the
//! legs fit.

mod support;

use std::collections::BTreeSet;
use std::fs;

use deployer::planning::plan::{ProdHubJob, SupportAndStagingJob};
use serde_json::Value;
use support::{deployer, fixture, ActionRun};

const FLEET_CHANGE: &str = "helm-charts/basehub/Chart.yaml,helm-charts/support/Chart.yaml";

#[test]
fn a_fleet_at_the_limit_plans_byte_for_byte_as_before_batching() {
    // 16 clusters x (support, 1 staging, 16 prod hubs): 256 prod jobs, GitHub's limit exactly.
    // The golden file is `deployer generate --output json` of the release before batched legs.
    let repo = fixture("legs/fleet-256");
    let golden = fs::read_to_string(fixture("legs/fleet-256.before-batching.json")).expect("golden");
    let output =
        deployer(&["generate", "--repo", &repo.to_string_lossy(), "--changed-files", FLEET_CHANGE, "--output", "json"]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(String::from_utf8_lossy(&output.stdout), golden, "the CLI's JSON is unchanged");

    let result = ActionRun::new("action-generate", &repo)
        .input("changed-files", FLEET_CHANGE)
        .temp_input("plan-dir", "plan")
        .run();
    assert!(result.success(), "{}", result.stderr);
    let golden: Value = serde_json::from_str(&golden).expect("golden JSON");
    // The outputs are the old item types' compact JSON: parsed as them (unknown fields refused) and written back, the same bytes.
    let prod = result.output("prod-hub-matrix-jobs");
    let parsed: Vec<ProdHubJob> = serde_json::from_str(prod).expect("one hub per item");
    assert_eq!(parsed.len(), 256);
    assert_eq!(serde_json::to_string(&parsed).expect("json"), prod);
    assert_eq!(serde_json::to_value(&parsed).expect("value"), golden["prod-hub-matrix-jobs"]);
    let canaries = result.output("support-and-staging-matrix-jobs");
    let parsed: Vec<SupportAndStagingJob> = serde_json::from_str(canaries).expect("one cluster per item");
    assert_eq!(serde_json::to_string(&parsed).expect("json"), canaries);
    assert_eq!(serde_json::to_value(&parsed).expect("value"), golden["support-and-staging-matrix-jobs"]);
    assert!(result
        .stdout
        .contains("Matrices within max-jobs 256: 16 support-and-staging legs, 256 prod legs (one hub each)"));
}

/// A repository of `clusters` x 10 hubs (2 staging, 8 prod), each hub with a values file.
fn synthetic_fleet(clusters: usize) -> tempfile::TempDir {
    let temp = tempfile::tempdir().expect("temp");
    let root = temp.path();
    for chart in ["basehub", "support"] {
        fs::create_dir_all(root.join("helm-charts").join(chart)).expect("chart");
        fs::write(
            root.join("helm-charts").join(chart).join("Chart.yaml"),
            format!("apiVersion: v2\nname: {chart}\nversion: 0.1.0\n"),
        )
        .expect("Chart.yaml");
    }
    for c in 0..clusters {
        let dir = root.join(format!("config/clusters/c{c:04}"));
        fs::create_dir_all(&dir).expect("dir");
        let mut text = format!("name: c{c:04}\nprovider: gcp\ngcp:\n  project: p\n  cluster: c{c:04}\n  zone: z\nsupport:\n  helm_chart_values_files: [support.values.yaml]\nhubs:\n");
        fs::write(dir.join("support.values.yaml"), "x: 1\n").expect("values");
        for h in 0..10 {
            let name = if h < 2 { format!("staging{h}") } else { format!("hub{h}") };
            text.push_str(&format!(
                "  - name: {name}\n    helm_chart: basehub\n    helm_chart_values_files: [{name}.values.yaml]\n"
            ));
            fs::write(dir.join(format!("{name}.values.yaml")), "x: 1\n").expect("values");
        }
        fs::write(dir.join("cluster.yaml"), text).expect("cluster.yaml");
    }
    temp
}

#[test]
fn a_thousand_clusters_of_ten_hubs_plan_into_legs_that_fit() {
    let fleet = synthetic_fleet(1000);
    for max_jobs in ["256", "60"] {
        let result = ActionRun::new("action-generate", fleet.path())
            .input("changed-files", FLEET_CHANGE)
            .input("max-jobs", max_jobs)
            .temp_input("plan-dir", "plan")
            .run();
        assert!(result.success(), "{}", result.stderr);
        let limit: usize = max_jobs.parse().expect("number");
        let canaries = result.json_output("support-and-staging-matrix-jobs");
        let prod = result.json_output("prod-hub-matrix-jobs");
        let (canaries, prod) = (canaries.as_array().expect("array"), prod.as_array().expect("array"));
        assert_eq!((canaries.len(), prod.len()), (limit, limit), "max-jobs {max_jobs}");
        // Every cluster's canary in exactly one leg; every prod hub in exactly one leg, with its cluster's other hubs.
        let mut seen = BTreeSet::new();
        for leg in canaries {
            for cluster in leg["clusters"].as_array().expect("batched") {
                assert!(seen.insert(cluster["cluster_name"].as_str().expect("name").to_owned()), "twice: {cluster}");
                assert_eq!(cluster["staging_hubs"], serde_json::json!(["staging0", "staging1"]));
            }
        }
        assert_eq!(seen.len(), 1000);
        let mut hubs = BTreeSet::new();
        let mut sizes = Vec::new();
        for leg in prod {
            let mut releases = 0;
            for cluster in leg["clusters"].as_array().expect("batched") {
                for hub in cluster["hubs"].as_array().expect("hubs") {
                    let key = format!(
                        "{}/{}",
                        cluster["cluster_name"].as_str().expect("c"),
                        hub["hub_name"].as_str().expect("h")
                    );
                    assert!(hubs.insert(key), "a hub in two legs");
                    releases += 1;
                }
            }
            assert_eq!(leg["releases"], releases);
            sizes.push(releases);
        }
        assert_eq!(hubs.len(), 8000);
        // Whole clusters of 8 hubs, balanced: legs differ by at most one cluster.
        let (min, max) = (sizes.iter().min().copied().unwrap_or(0), sizes.iter().max().copied().unwrap_or(0));
        assert!(max - min <= 8, "max-jobs {max_jobs}: legs of {min} to {max} hubs");
        assert!(
            result.stdout.contains(&format!("Matrices packed into legs to fit max-jobs {max_jobs}")),
            "{}",
            result.stdout
        );
    }
}
