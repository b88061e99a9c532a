//! Every conformance case through both real binaries: `action-generate` with
//! the runner's contract, and `deployer generate --output json`.

mod support;

use std::fs;

use serde_json::Value;
use support::{deployer, example_repo, fixture, ActionRun};

struct Case {
    name: String,
    changed_files: Vec<String>,
    labels: Vec<String>,
    expected: Value,
}

fn cases() -> Vec<Case> {
    let mut cases: Vec<Case> = fs::read_dir(fixture("conformance/cases"))
        .expect("cases folder")
        .map(|entry| {
            let path = entry.expect("entry").path();
            let case: Value = serde_json::from_str(&fs::read_to_string(&path).expect("case file")).expect("case JSON");
            let strings = |key: &str| -> Vec<String> {
                serde_json::from_value(case[key].clone()).unwrap_or_else(|_| panic!("{key} in {}", path.display()))
            };
            Case {
                name: path.file_stem().expect("name").to_string_lossy().into_owned(),
                changed_files: strings("changed_files"),
                labels: strings("labels"),
                expected: case["expected"].clone(),
            }
        })
        .collect();
    cases.sort_by(|a, b| a.name.cmp(&b.name));
    assert!(cases.len() >= 14, "the 14 shared cases are present");
    cases
}

#[test]
fn every_case_through_the_action() {
    for (index, case) in cases().iter().enumerate() {
        // Alternate the two input forms users write: a JSON array, and one path per line.
        let changed = if index % 2 == 0 {
            serde_json::to_string(&case.changed_files).expect("json")
        } else {
            case.changed_files.join("\n")
        };
        let result = ActionRun::new("action-generate", example_repo())
            .input("changed-files", changed)
            .input("labels", serde_json::to_string(&case.labels).expect("json"))
            .temp_input("plan-dir", "plan")
            .run();
        assert!(result.success(), "{}: failed\n{}\n{}", case.name, result.stdout, result.stderr);
        for key in ["support-and-staging-matrix-jobs", "prod-hub-matrix-jobs"] {
            assert_eq!(result.json_output(key), case.expected[key], "{}: {key}", case.name);
        }
        let empty = case.expected["support-and-staging-matrix-jobs"].as_array().is_none_or(Vec::is_empty)
            && case.expected["prod-hub-matrix-jobs"].as_array().is_none_or(Vec::is_empty);
        assert_eq!(result.output("has-jobs"), if empty { "false" } else { "true" }, "{}: has-jobs", case.name);

        // The plan folder holds the same matrices.
        let plan: Value =
            serde_json::from_str(&fs::read_to_string(result.workspace.join("plan/plan.json")).expect("plan.json"))
                .expect("JSON");
        for key in ["support-and-staging-matrix-jobs", "prod-hub-matrix-jobs"] {
            assert_eq!(plan[key], case.expected[key], "{}: plan.json {key}", case.name);
        }
    }
}

#[test]
fn every_case_through_the_cli() {
    let repo = example_repo();
    for case in cases() {
        let changed = serde_json::to_string(&case.changed_files).expect("json");
        let labels = serde_json::to_string(&case.labels).expect("json");
        let output = deployer(&[
            "generate",
            "--repo",
            repo.to_str().expect("utf-8 path"),
            "--changed-files",
            &changed,
            "--labels",
            &labels,
            "--output",
            "json",
        ]);
        assert!(output.status.success(), "{}: {}", case.name, String::from_utf8_lossy(&output.stderr));
        let plan: Value = serde_json::from_slice(&output.stdout).expect("JSON on stdout");
        // The shared cases name the two matrices; the CLI always prints its other keys too, empty here.
        let mut expected = case.expected.clone();
        for key in [
            "removed_hubs",
            "health-check-matrix-jobs",
            "health-check-staging-matrix-jobs",
            "health-check-prod-matrix-jobs",
        ] {
            expected.as_object_mut().expect("expected object").entry(key).or_insert_with(|| Value::Array(Vec::new()));
        }
        assert_eq!(plan, expected, "{}", case.name);
    }
}
