//! The shape of the example workflow (`examples/workflows/deploy-hubs.yaml`) where a
//! mistake only shows on a real run: every job that reads generate's matrices gates on
//! generate's `has-jobs`. When generate fails before writing its outputs (a blocked
//! cluster, a bad `deployer.yaml` on a push), every matrix output is empty, not `[]`: a job
//! that compares a matrix with `'[]'` alone runs and fails in `fromJSON`.

mod support;

use std::fs;

use yaml_serde::Value;

fn jobs() -> Vec<(String, Value)> {
    let path = support::project_root().join("examples/workflows/deploy-hubs.yaml");
    let workflow: Value = yaml_serde::from_str(&fs::read_to_string(&path).expect("workflow")).expect("YAML");
    workflow["jobs"]
        .as_mapping()
        .expect("jobs")
        .iter()
        .map(|(name, job)| (name.as_str().expect("job name").to_owned(), job.clone()))
        .collect()
}

/// The `if:` of a job, on one line.
fn condition(job: &Value) -> String {
    job["if"].as_str().unwrap_or_default().split_whitespace().collect::<Vec<_>>().join(" ")
}

#[test]
fn every_job_reading_generates_matrices_gates_on_has_jobs() {
    let mut checked = Vec::new();
    for (name, job) in jobs() {
        let text = yaml_serde::to_string(&job).expect("job text");
        let reads_matrices = text.contains("needs.generate-jobs.outputs.") && text.contains("-matrix-jobs");
        if !reads_matrices || name == "generate-jobs" {
            continue;
        }
        let gate = condition(&job);
        assert!(
            gate.contains("needs.generate-jobs.outputs.has-jobs == 'true'"),
            "job {name} reads generate's matrices but its `if:` does not gate on `has-jobs`: {gate}"
        );
        checked.push(name);
    }
    for name in ["upgrade-support-and-staging", "filter-generate-jobs", "health-check-staging", "filter-health-checks"]
    {
        assert!(checked.iter().any(|c| c == name), "{name} was not checked: {checked:?}");
    }
}
