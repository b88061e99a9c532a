//! Migrating from the Python deployer: its call shape
//! `deployer generate "<files>" '<labels>'` through the real `deployer`
//! binary, and the three-stage outputs (`support-jobs`, `staging-jobs`,
//! `prod-jobs`) through `action-generate` and `deployer generate`.

mod support;

use std::collections::BTreeSet;
use std::fs;
use std::process::Output;

use serde_json::Value;
use support::{deployer, example_repo, fixture, ActionRun};

const THREE_STAGE: [&str; 3] = ["support-jobs", "staging-jobs", "prod-jobs"];

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn repo_arg() -> String {
    example_repo().to_str().expect("utf-8 path").to_owned()
}

fn cases(folder: &str) -> Vec<Value> {
    let mut paths: Vec<_> = fs::read_dir(fixture(folder)).expect("cases").map(|e| e.expect("entry").path()).collect();
    paths.sort();
    paths.iter().map(|p| serde_json::from_str(&fs::read_to_string(p).expect("case")).expect("JSON")).collect()
}

fn strings(value: &Value) -> Vec<String> {
    serde_json::from_value(value.clone()).expect("array of strings")
}

/// `deployer generate --output json` with `args` after the common ones.
fn generate_json(args: &[&str]) -> Output {
    let repo = repo_arg();
    let mut all = vec!["generate", "--repo", &repo, "--output", "json"];
    all.extend_from_slice(args);
    deployer(&all)
}

#[test]
fn the_python_call_shape_plans_what_the_flags_plan_for_every_conformance_case() {
    for case in cases("conformance/cases") {
        let files = strings(&case["changed_files"]);
        let labels = serde_json::to_string(&case["labels"]).expect("json");
        let by_flag =
            generate_json(&["--changed-files", &serde_json::to_string(&files).expect("json"), "--labels", &labels]);
        assert!(by_flag.status.success(), "{}", stderr(&by_flag));
        // As the Python workflow passes them: paths-filter's comma-separated list, then the labels' JSON.
        let csv = files.join(",");
        let positional = generate_json(&[&csv, &labels]);
        assert!(positional.status.success(), "{csv} {labels}: {}", stderr(&positional));
        assert_eq!(positional.stdout, by_flag.stdout, "{csv} {labels}");
        let plan: Value = serde_json::from_slice(&positional.stdout).expect("JSON");
        // The shared cases name the two matrices; the CLI always prints its other keys too, empty here.
        let mut expected = case["expected"].clone();
        for key in [
            "removed_hubs",
            "health-check-matrix-jobs",
            "health-check-staging-matrix-jobs",
            "health-check-prod-matrix-jobs",
        ] {
            expected.as_object_mut().expect("expected object").entry(key).or_insert_with(|| Value::Array(Vec::new()));
        }
        assert_eq!(plan, expected, "{csv} {labels}");
    }
}

#[test]
fn labels_given_positionally_are_honoured() {
    // The example: a label that plans every hub, given the Python way.
    let plan = |args: &[&str]| -> Value {
        let output = generate_json(args);
        assert!(output.status.success(), "{args:?}: {}", stderr(&output));
        serde_json::from_slice(&output.stdout).expect("JSON")
    };
    let count = |plan: &Value, key: &str| plan[key].as_array().map_or(0, Vec::len);
    for labels in ["[\"deployer:deploy-hubs\"]", "[{\"name\": \"deployer:deploy-hubs\"}]", "deployer:deploy-hubs"] {
        let all = plan(&["docs/index.md", labels]);
        assert_eq!(count(&all, "prod-hub-matrix-jobs"), 9, "{labels}: {all}");
        assert_eq!(count(&all, "support-and-staging-matrix-jobs"), 3, "{labels}: {all}");
    }
    // With the older subcommand word too, and `[]` / empty labels plan only the files.
    let skipped =
        plan(&["helm-upgrade-jobs", "config/clusters/cluster1/hub1.values.yaml", "[\"deployer:skip-deploy\"]"]);
    assert_eq!(count(&skipped, "prod-hub-matrix-jobs"), 0, "{skipped}");
    for empty in ["[]", ""] {
        let one = plan(&["config/clusters/cluster1/hub1.values.yaml", empty]);
        assert_eq!(count(&one, "prod-hub-matrix-jobs"), 1, "{empty:?}: {one}");
    }
    // Space-separated files (paths-filter's `shell` list) are split too.
    let two = plan(&["config/clusters/cluster1/hub1.values.yaml config/clusters/cluster1/hub2.values.yaml"]);
    assert_eq!(count(&two, "prod-hub-matrix-jobs"), 2, "{two}");
}

#[test]
fn an_ambiguous_positional_form_is_refused_with_the_right_form() {
    for args in [
        &["config/clusters/cluster1/hub1.values.yaml", "deploy-hubs"][..],
        &["config/clusters/cluster1/hub1.values.yaml", "[\"deployer:deploy-hubs\""],
    ] {
        let output = generate_json(args);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {}", stderr(&output));
        assert!(output.stdout.is_empty(), "{args:?}: nothing planned");
        assert!(
            stderr(&output).contains("deployer generate 'a.yaml,b.yaml' '[\"deployer:deploy-hubs\"]'"),
            "{args:?}: {}",
            stderr(&output)
        );
    }
    let twice = generate_json(&["config/clusters/cluster1/hub1.values.yaml", "[]", "--labels", "[]"]);
    assert_eq!(twice.status.code(), Some(2), "{}", stderr(&twice));
    assert!(stderr(&twice).contains("labels given twice"), "{}", stderr(&twice));
}

fn three_stage_cases() -> Vec<Value> {
    let text = fs::read_to_string(fixture("dropin-i/three-stage-cases.json")).expect("cases");
    serde_json::from_str::<Vec<Value>>(&text).expect("JSON")
}

#[test]
fn the_action_writes_the_three_stage_outputs_with_the_python_keys() {
    for case in three_stage_cases() {
        let name = case["name"].as_str().expect("name");
        let run = |shape: Option<&str>| {
            let mut run = ActionRun::new("action-generate", example_repo())
                .input("changed-files", serde_json::to_string(&case["changed_files"]).expect("json"))
                .input("labels", serde_json::to_string(&case["labels"]).expect("json"))
                .temp_input("plan-dir", "plan");
            if let Some(shape) = shape {
                run = run.input("matrix-shape", shape);
            }
            run.run()
        };
        let result = run(Some("three-stage"));
        assert!(result.success(), "{name}: {}\n{}", result.stdout, result.stderr);
        for key in THREE_STAGE {
            assert_eq!(result.json_output(key), case["expected"][key], "{name}: {key}");
        }
        // Our own matrices are still written, unchanged by the shape.
        let default = run(None);
        assert!(default.success(), "{name}: {}", default.stderr);
        for key in ["support-and-staging-matrix-jobs", "prod-hub-matrix-jobs", "has-jobs"] {
            assert_eq!(result.output(key), default.output(key), "{name}: {key}");
        }
        for key in THREE_STAGE {
            assert!(!default.outputs.contains_key(key), "{name}: {key} only with matrix-shape: three-stage");
        }
    }
    let bad = ActionRun::new("action-generate", example_repo())
        .input("changed-files", "docs/index.md")
        .input("matrix-shape", "python")
        .temp_input("plan-dir", "plan")
        .run();
    assert!(!bad.success());
    assert!(bad.stdout.contains("invalid input `matrix-shape`"), "{}", bad.stdout);
    assert!(bad.raw_outputs.is_empty(), "nothing written: {}", bad.raw_outputs);
}

#[test]
fn the_cli_prints_the_same_three_stage_matrices() {
    for case in three_stage_cases() {
        let name = case["name"].as_str().expect("name");
        let files = strings(&case["changed_files"]).join(",");
        let labels = serde_json::to_string(&case["labels"]).expect("json");
        let output = generate_json(&["--matrix-shape", "three-stage", &files, &labels]);
        assert!(output.status.success(), "{name}: {}", stderr(&output));
        let plan: Value = serde_json::from_slice(&output.stdout).expect("JSON");
        for key in THREE_STAGE {
            assert_eq!(plan[key], case["expected"][key], "{name}: {key}");
        }
        let default = generate_json(&[&files, &labels]);
        let plain: Value = serde_json::from_slice(&default.stdout).expect("JSON");
        assert!(THREE_STAGE.iter().all(|key| plain.get(key).is_none()), "{name}: {plain}");
    }
}

/// Every hub of a three-stage matrix, legs unpacked: (cluster, hub).
fn hubs_of(matrix: &Value) -> Vec<(String, String)> {
    let item = |job: &Value| {
        (job["cluster_name"].as_str().expect("cluster").to_owned(), job["hub_name"].as_str().expect("hub").to_owned())
    };
    matrix
        .as_array()
        .expect("array")
        .iter()
        .flat_map(|leg| match leg.get("jobs") {
            Some(jobs) => jobs.as_array().expect("jobs").iter().map(item).collect::<Vec<_>>(),
            None => vec![item(leg)],
        })
        .collect()
}

#[test]
fn past_max_jobs_the_three_stage_matrices_are_packed_by_cluster() {
    // `deployer:deploy-hubs`: 9 prod hubs on 3 clusters.
    let within = ActionRun::new("action-generate", example_repo())
        .input("changed-files", "docs/index.md")
        .input("labels", "[\"deployer:deploy-hubs\"]")
        .input("matrix-shape", "three-stage")
        .temp_input("plan-dir", "plan")
        .run();
    assert!(within.success(), "{}", within.stderr);
    let all_prod = hubs_of(&within.json_output("prod-jobs"));
    assert_eq!(all_prod.len(), 9);
    let clusters: BTreeSet<&String> = all_prod.iter().map(|(c, _)| c).collect();

    let packed = ActionRun::new("action-generate", example_repo())
        .input("changed-files", "docs/index.md")
        .input("labels", "[\"deployer:deploy-hubs\"]")
        .input("matrix-shape", "three-stage")
        .input("max-jobs", clusters.len().to_string())
        .temp_input("plan-dir", "plan")
        .run();
    assert!(packed.success(), "{}", packed.stderr);
    assert!(packed.stdout.contains("Three-stage matrices past max-jobs"), "{}", packed.stdout);
    let prod = packed.json_output("prod-jobs");
    let legs = prod.as_array().expect("array");
    assert_eq!(legs.len(), clusters.len(), "{prod}");
    for (index, leg) in legs.iter().enumerate() {
        assert_eq!(leg["leg"], format!("{} of {}", index + 1, legs.len()));
        let jobs = leg["jobs"].as_array().expect("batched");
        assert_eq!(leg["releases"], jobs.len());
        let own: BTreeSet<&str> = jobs.iter().filter_map(|j| j["cluster_name"].as_str()).collect();
        assert_eq!(own.len(), 1, "a leg holds one cluster's hubs: {leg}");
        assert!(jobs.iter().all(|j| j["choice_reason"].is_string() && j["provider"].is_string()), "{leg}");
    }
    // Every hub exactly once, in plan order.
    assert_eq!(hubs_of(&prod), all_prod);
    // The CLI packs the same way.
    let max_jobs = clusters.len().to_string();
    let cli = generate_json(&[
        "--matrix-shape",
        "three-stage",
        "--max-jobs",
        &max_jobs,
        "docs/index.md",
        "[\"deployer:deploy-hubs\"]",
    ]);
    assert!(cli.status.success(), "{}", stderr(&cli));
    let plan: Value = serde_json::from_slice(&cli.stdout).expect("JSON");
    assert_eq!(plan["prod-jobs"], prod);
}

#[test]
fn the_reference_workflow_reads_only_keys_the_items_have() {
    let workflow = fs::read_to_string(fixture("dropin-i/deploy-hubs-excerpt.yaml")).expect("workflow");
    let result = ActionRun::new("action-generate", example_repo())
        .input("changed-files", "config/clusters/cluster1/cluster.yaml")
        .input("matrix-shape", "three-stage")
        .temp_input("plan-dir", "plan")
        .run();
    assert!(result.success(), "{}", result.stderr);
    let mut checked = 0;
    for (job, output) in
        [("upgrade-support", "support-jobs"), ("upgrade-staging", "staging-jobs"), ("upgrade-prod", "prod-jobs")]
    {
        let section =
            workflow.split(&format!("\n  {job}:\n")).nth(1).expect("job").split("\n  upgrade-").next().expect("job");
        assert!(section.contains(&format!("outputs.{output})")), "{job} fans out over {output}");
        let items = result.json_output(output);
        let items = items.as_array().expect("array");
        assert!(!items.is_empty(), "{output}: a cluster.yaml change plans every stage");
        for used in section.split("matrix.jobs.").skip(1) {
            let key: String = used.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
            for item in items {
                assert!(item.get(&key).is_some(), "{job} reads matrix.jobs.{key}, missing from {item}");
            }
            checked += 1;
        }
    }
    assert!(checked >= 8, "the excerpt's keys were read: {checked}");
}
