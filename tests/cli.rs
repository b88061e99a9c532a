//! The `deployer` command-line tool: help, validate, explain, generate --base, schema.

mod support;

use std::fs;
use std::process::Command;

use support::{bin, copy_tree, deployer, example_repo, project_root};

fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn help_on_every_command() {
    for args in [
        vec!["--help"],
        vec!["generate", "--help"],
        vec!["explain", "--help"],
        vec!["validate", "--help"],
        vec!["schema", "--help"],
    ] {
        let output = deployer(&args);
        assert!(output.status.success(), "{args:?}");
        assert!(stdout(&output).contains("Usage: deployer"), "{args:?}: {}", stdout(&output));
    }
}

#[test]
fn generate_needs_changed_files_or_base() {
    let output = deployer(&["generate", "--repo", "."]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("--changed-files"), "{}", stderr(&output));
}

#[test]
fn validate_reports_ok_and_every_problem() {
    let repo = example_repo();
    let output = deployer(&["validate", "--repo", repo.to_str().expect("utf-8")]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output), "ok: 4 clusters, 14 hubs\n");

    let broken = tempfile::tempdir().expect("temp");
    copy_tree(&repo, broken.path());
    fs::write(broken.path().join("config/clusters/cluster2/cluster.yaml"), "name: cluster2\nprovider: ibm\n")
        .expect("write");
    fs::remove_file(broken.path().join("config/clusters/cluster3/prod.values.yaml")).expect("remove");
    let output = deployer(&["validate", "--repo", broken.path().to_str().expect("utf-8")]);
    assert_eq!(output.status.code(), Some(1));
    let text = stderr(&output);
    assert!(text.starts_with("error: invalid configuration (2 problems):\n"), "{text}");
    assert!(
        text.contains("config/clusters/cluster2/cluster.yaml:2:11: provider: unknown variant, expected one"),
        "{text}"
    );
    assert!(text.contains("config/clusters/cluster3/cluster.yaml:22:9: hubs[2].helm_chart_values_files[0]: values file `prod.values.yaml` does not exist"), "{text}");
    assert!(stdout(&output).is_empty(), "errors never go to stdout");
}

#[test]
fn generate_from_git_base() {
    let temp = tempfile::tempdir().expect("temp");
    let repo = temp.path();
    copy_tree(&example_repo(), repo);
    let git = |args: &[&str]| {
        let status = Command::new("git")
            .current_dir(repo)
            .args(["-c", "user.name=t", "-c", "user.email=t@example.org", "-c", "commit.gpgsign=false"])
            .args(args)
            .status()
            .expect("git");
        assert!(status.success(), "git {args:?}");
    };
    git(&["init", "-q", "-b", "main"]);
    git(&["add", "-A"]);
    git(&["commit", "-qm", "base"]);
    git(&["checkout", "-qb", "change"]);
    fs::write(repo.join("config/clusters/cluster3/prod.values.yaml"), "changed: true\n").expect("write");
    git(&["commit", "-qam", "change prod"]);
    let output = Command::new(bin("deployer"))
        .args(["generate", "--base", "main", "--output", "json", "--repo"])
        .arg(repo)
        .output()
        .expect("deployer");
    assert!(output.status.success(), "{}", stderr(&output));
    let plan: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    assert_eq!(plan["prod-hub-matrix-jobs"][0]["hub_name"], "prod");
    assert_eq!(plan["support-and-staging-matrix-jobs"][0]["staging_hubs"], serde_json::json!(["staging1", "staging2"]));

    let bad = Command::new(bin("deployer"))
        .args(["generate", "--base", "no-such-ref", "--repo"])
        .arg(repo)
        .output()
        .expect("run");
    assert_eq!(bad.status.code(), Some(1));
    assert!(stderr(&bad).contains("git merge-base no-such-ref HEAD"), "{}", stderr(&bad));

    // Uncommitted edits are planned too (the working tree is what is planned), and the output says so.
    fs::write(repo.join("config/clusters/cluster1/hub1.values.yaml"), "edited: true\n").expect("write");
    let output = Command::new(bin("deployer"))
        .args(["generate", "--base", "main", "--output", "json", "--repo"])
        .arg(repo)
        .output()
        .expect("deployer");
    assert!(output.status.success(), "{}", stderr(&output));
    let plan: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    let hubs: Vec<&str> =
        plan["prod-hub-matrix-jobs"].as_array().expect("array").iter().filter_map(|j| j["hub_name"].as_str()).collect();
    assert_eq!(hubs, ["hub1", "prod"], "{plan}");
    assert!(
        stderr(&output).contains("planning 2 changed paths since the merge base with main, 1 of them not committed"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn generate_takes_the_python_deployers_positional_form() {
    let repo = example_repo();
    let by_flag = Command::new(bin("deployer"))
        .args([
            "generate",
            "--output",
            "json",
            "--changed-files",
            "config/clusters/cluster1/hub1.values.yaml,helm-charts/support/values.yaml",
            "--repo",
        ])
        .arg(&repo)
        .output()
        .expect("deployer");
    assert!(by_flag.status.success(), "{}", stderr(&by_flag));
    for form in [
        &["config/clusters/cluster1/hub1.values.yaml,helm-charts/support/values.yaml"][..],
        &["helm-upgrade-jobs", "config/clusters/cluster1/hub1.values.yaml,helm-charts/support/values.yaml"],
        &["config/clusters/cluster1/hub1.values.yaml", "helm-charts/support/values.yaml"],
    ] {
        let output = Command::new(bin("deployer"))
            .args(["generate", "--output", "json", "--repo"])
            .arg(&repo)
            .args(form)
            .output()
            .expect("deployer");
        assert!(output.status.success(), "{form:?}: {}", stderr(&output));
        assert_eq!(stdout(&output), stdout(&by_flag), "{form:?}");
    }
    // Both forms at once is a mistake.
    let both = Command::new(bin("deployer"))
        .args(["generate", "--changed-files", "a", "b", "--repo"])
        .arg(&repo)
        .output()
        .expect("deployer");
    assert_eq!(both.status.code(), Some(2), "{}", stderr(&both));
}

#[test]
fn generate_usage_names_every_way_to_give_the_change_and_a_missing_repo_says_so() {
    let output = Command::new(bin("deployer")).arg("generate").output().expect("deployer");
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("Usage: deployer generate <--changed-files <LIST>|--base <REF>|FILES>"),
        "{}",
        stderr(&output)
    );

    let missing = Command::new(bin("deployer"))
        .args(["generate", "--repo", "/nonexistent/deployer-repo", "--changed-files", "x"])
        .output()
        .expect("deployer");
    assert_eq!(missing.status.code(), Some(1));
    assert!(
        stderr(&missing).contains("/nonexistent/deployer-repo: the repository folder does not exist"),
        "{}",
        stderr(&missing)
    );
    assert!(!stderr(&missing).contains("no cluster files match"), "{}", stderr(&missing));
}

#[test]
fn changed_files_from_stdin() {
    use std::io::Write;
    let mut child = Command::new(bin("deployer"))
        .args(["generate", "--changed-files", "-", "--output", "json", "--repo"])
        .arg(example_repo())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    child.stdin.take().expect("stdin").write_all(b"config/clusters/cluster2/hub2.values.yaml\n").expect("write");
    let output = child.wait_with_output().expect("wait");
    assert!(output.status.success());
    let plan: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    assert_eq!(plan["prod-hub-matrix-jobs"][0]["hub_name"], "hub2");
}

#[test]
fn published_schemas_match_the_types() {
    for (kind, file) in [
        ("cluster", "schemas/cluster.schema.json"),
        ("settings", "schemas/deployer.schema.json"),
        ("legs", "schemas/legs.schema.json"),
        ("generate-output", "schemas/generate-output.schema.json"),
    ] {
        let output = deployer(&["schema", kind]);
        assert!(output.status.success());
        let committed = fs::read_to_string(project_root().join(file)).expect("committed schema");
        assert_eq!(stdout(&output), committed, "{file} is stale: run `deployer schema {kind} > {file}`");
    }
}

/// The errors of `value` against `schema` (`root` resolves `$ref`), for the keywords the deployer's generated
/// schemas use: `$ref`, `anyOf`/`oneOf`/`allOf`, `type`, `enum`, `const`, `properties`, `required`,
/// `additionalProperties: false` and `items`. Anything else is not checked.
fn schema_errors(
    value: &serde_json::Value,
    schema: &serde_json::Value,
    root: &serde_json::Value,
    at: &str,
) -> Vec<String> {
    use serde_json::Value;
    let mut errors = Vec::new();
    if let Some(reference) = schema["$ref"].as_str() {
        let path = reference.strip_prefix("#/").expect("local $ref");
        let target = path.split('/').fold(root, |node, part| &node[part]);
        assert!(!target.is_null(), "{reference} resolves");
        errors.extend(schema_errors(value, target, root, at));
    }
    for (keyword, need) in [("anyOf", 1..=usize::MAX), ("oneOf", 1..=1)] {
        if let Some(choices) = schema[keyword].as_array() {
            let fits = choices.iter().filter(|choice| schema_errors(value, choice, root, at).is_empty()).count();
            if !need.contains(&fits) {
                errors.push(format!("{at}: {fits} of the {keyword} choices fit {value}"));
            }
        }
    }
    for part in schema["allOf"].as_array().into_iter().flatten() {
        errors.extend(schema_errors(value, part, root, at));
    }
    let type_fits = |name: &str| match name {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "boolean" => value.is_boolean(),
        "integer" => value.is_u64() || value.is_i64(),
        "number" => value.is_number(),
        "null" => value.is_null(),
        other => panic!("type {other}"),
    };
    let types: Vec<&str> = match &schema["type"] {
        Value::String(name) => vec![name.as_str()],
        Value::Array(names) => names.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    if !types.is_empty() && !types.iter().any(|name| type_fits(name)) {
        errors.push(format!("{at}: {value} is not of type {types:?}"));
    }
    if let Some(allowed) = schema["enum"].as_array() {
        if !allowed.contains(value) {
            errors.push(format!("{at}: {value} is not one of {allowed:?}"));
        }
    }
    if !schema["const"].is_null() && schema["const"] != *value {
        errors.push(format!("{at}: {value} is not {}", schema["const"]));
    }
    if let Some(object) = value.as_object() {
        for key in schema["required"].as_array().into_iter().flatten().filter_map(Value::as_str) {
            if !object.contains_key(key) {
                errors.push(format!("{at}: `{key}` is missing"));
            }
        }
        for (key, item) in object {
            match schema["properties"].get(key) {
                Some(property) => errors.extend(schema_errors(item, property, root, &format!("{at}.{key}"))),
                None if schema["additionalProperties"] == Value::Bool(false) => {
                    errors.push(format!("{at}: `{key}` is not in the schema"))
                }
                None => {}
            }
        }
    }
    if let (Some(items), Some(schema_items)) = (value.as_array(), schema.get("items")) {
        for (index, item) in items.iter().enumerate() {
            errors.extend(schema_errors(item, schema_items, root, &format!("{at}[{index}]")));
        }
    }
    errors
}

#[test]
fn generate_json_has_every_key_whatever_the_plan_and_fits_its_schema() {
    let schema: serde_json::Value =
        serde_json::from_slice(&deployer(&["schema", "generate-output"]).stdout).expect("schema JSON");
    let required: Vec<&str> =
        schema["required"].as_array().expect("required").iter().filter_map(|key| key.as_str()).collect();
    let repo = project_root().join("tests/fixtures/health-checks/repo");
    let repo = repo.to_str().expect("utf-8");
    let generate = |changed: &str, extra: &[&str]| -> serde_json::Value {
        let mut args = vec!["generate", "--repo", repo, "--changed-files", changed, "--output", "json"];
        args.extend(extra);
        let output = deployer(&args);
        assert!(output.status.success(), "{changed}: {}", stderr(&output));
        serde_json::from_slice(&output.stdout).expect("JSON")
    };
    let keys =
        |plan: &serde_json::Value| -> Vec<String> { plan.as_object().expect("an object").keys().cloned().collect() };
    // Health checks and no upgrade; upgrades and no health check; nothing at all.
    let checks = generate("terraform/gcp/projects/gcp1.tfvars", &[]);
    let upgrades = generate("config/clusters/gcp1/prod.values.yaml", &[]);
    let nothing = generate("README.md", &[]);
    assert!(!checks["health-check-matrix-jobs"].as_array().expect("checks").is_empty(), "{checks}");
    assert!(!upgrades["prod-hub-matrix-jobs"].as_array().expect("prod").is_empty(), "{upgrades}");
    assert_eq!(upgrades["health-check-matrix-jobs"], serde_json::json!([]), "{upgrades}");
    assert_eq!(keys(&checks), keys(&upgrades));
    assert_eq!(keys(&checks), keys(&nothing));
    let mut sorted_required: Vec<String> = required.iter().map(|key| (*key).to_owned()).collect();
    sorted_required.sort();
    assert_eq!(keys(&checks), sorted_required, "every key is a required key of the schema");
    let three_stage = generate("config/clusters/gcp1/prod.values.yaml", &["--matrix-shape", "three-stage"]);
    for key in ["support-jobs", "staging-jobs", "prod-jobs"] {
        assert!(three_stage[key].is_array(), "{key}: {three_stage}");
    }
    for (name, plan) in
        [("checks", &checks), ("upgrades", &upgrades), ("nothing", &nothing), ("three-stage", &three_stage)]
    {
        assert_eq!(schema_errors(plan, &schema, &schema, "$"), Vec::<String>::new(), "{name}: {plan}");
    }
    // The validator can fail: a plan without a required key, or with an item of the wrong shape.
    let mut without = checks.clone();
    without.as_object_mut().expect("object").remove("health-check-prod-matrix-jobs");
    assert!(!schema_errors(&without, &schema, &schema, "$").is_empty());
    let mut wrong = upgrades.clone();
    wrong["prod-hub-matrix-jobs"][0]["hub_name"] = serde_json::json!(7);
    assert!(!schema_errors(&wrong, &schema, &schema, "$").is_empty());
}

#[test]
fn cluster_schema_accepts_the_example_files() {
    let output = deployer(&["schema", "cluster"]);
    let schema: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    assert_eq!(schema["required"], serde_json::json!(["name", "provider"]));
    assert_eq!(schema["properties"]["provider"]["$ref"], "#/$defs/Provider");
    let providers = &schema["$defs"]["Provider"];
    assert!(providers.to_string().contains("kubeconfig"), "{providers}");
}

#[test]
fn explain_names_a_file_no_cluster_lists_and_the_likely_typo() {
    let repo = example_repo();
    let output = Command::new(bin("deployer"))
        .args(["explain", "--repo"])
        .arg(&repo)
        .args([
            "config/clusters/cluster1/hub1.value.yaml",
            "config/clusters/cluster1/README.md",
            "config/clusters/cluster1/hub1.values.yaml",
            "docs/index.md",
        ])
        .output()
        .expect("deployer");
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    // The indented lines under a path's own line.
    let section = |path: &str| -> String {
        let mut lines = text.lines().skip_while(|l| *l != path);
        assert!(lines.next().is_some(), "{path} in {text}");
        lines.take_while(|l| l.starts_with("  ")).collect::<Vec<_>>().join("\n")
    };
    let typo = section("config/clusters/cluster1/hub1.value.yaml");
    assert!(typo.contains("upgrades nothing"), "{typo}");
    assert!(typo.contains("no cluster.yaml lists this file, though it is in the folder of cluster cluster1"), "{typo}");
    assert!(typo.contains("did you mean hub1.values.yaml?"), "{typo}");
    assert!(typo.contains("files of that folder that cluster1 lists: support.values.yaml,"), "{typo}");
    let readme = section("config/clusters/cluster1/README.md");
    assert!(readme.contains("no cluster.yaml lists this file"), "{readme}");
    assert!(!readme.contains("did you mean"), "{readme}");
    let listed = section("config/clusters/cluster1/hub1.values.yaml");
    assert!(!listed.contains("no cluster.yaml lists"), "{listed}");
    let outside = section("docs/index.md");
    assert!(outside.contains("upgrades nothing") && !outside.contains("no cluster.yaml lists"), "{outside}");
}

/// Runs the CLI on a terminal (a pseudo-terminal from util-linux `script`,
/// which reports no size, so `COLUMNS` gives the width) and returns what it printed.
fn on_a_terminal(columns: usize, args: &str) -> String {
    let command = format!("{} {args} 2>/dev/null", bin("deployer").display());
    let output = Command::new("script")
        .args(["-q", "-e", "-c", &command, "/dev/null"])
        .env("COLUMNS", columns.to_string())
        .stdin(std::process::Stdio::null())
        .output()
        .expect("script (util-linux)");
    assert!(output.status.success(), "{}", stderr(&output));
    stdout(&output).replace('\r', "")
}

#[test]
fn tables_fit_a_terminal_and_keep_full_width_in_logs() {
    let repo = example_repo();
    let args = format!(
        "generate --repo {} --changed-files config/clusters/cluster1/hub1.values.yaml,helm-charts/support/values.yaml",
        repo.display()
    );
    let widest = |text: &str| text.lines().map(|l| l.chars().count()).max().unwrap_or(0);
    let words = |text: &str| -> Vec<String> {
        let mut words: Vec<String> = text
            .lines()
            .filter(|l| l.starts_with('│') || l.starts_with('┃'))
            .flat_map(|l| l.split(['│', '┃']).flat_map(str::split_whitespace).map(str::to_owned).collect::<Vec<_>>())
            .collect();
        words.sort();
        words
    };
    let piped = Command::new(bin("deployer")).args(args.split(' ')).output().expect("deployer");
    assert!(piped.status.success(), "{}", stderr(&piped));
    let full = stdout(&piped);
    assert!(widest(&full) > 140, "a CI log gets the full width\n{full}");
    for columns in [100, 120] {
        let fitted = on_a_terminal(columns, &args);
        assert!(widest(&fitted) <= columns, "{columns}\n{fitted}");
        assert_eq!(words(&fitted), words(&full), "nothing is lost when cells wrap ({columns})\n{fitted}");
    }
}
