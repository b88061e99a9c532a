//! Planning precision on a repository in the reference shape
//! (`tests/fixtures/dropin-precision/repo`), through the built binaries:
//! `!` excludes in path lists (the default "all hubs" list carries the Python
//! deployer's own excludes), `cluster.yaml` edits of keys no release reads,
//! health-check rules for provider-wide and cluster paths not named after
//! them (with excludes, placeholders checked by parsing), an unfetched git
//! submodule chart folder, and `explain` of health checks.

mod support;

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;
use support::{bin, copy_tree, fixture, ActionResult, ActionRun};

fn repo() -> std::path::PathBuf {
    fixture("dropin-precision/repo")
}

fn generate(repo: &Path, changed: &[&str]) -> ActionResult {
    let result = ActionRun::new("action-generate", repo)
        .input("changed-files", changed.join("\n"))
        .temp_input("plan-dir", "plan")
        .run();
    assert!(result.success(), "{changed:?}\n{}\n{}", result.stdout, result.stderr);
    result
}

/// `cluster/hub: reason` of every upgrade (staging hubs and prod hubs) of a run.
fn upgrades(result: &ActionResult) -> Vec<String> {
    let text = |value: &Value| value.as_str().unwrap_or_default().to_owned();
    let mut lines = Vec::new();
    for job in result.json_output("support-and-staging-matrix-jobs").as_array().expect("array") {
        if job["upgrade_support"] == true {
            lines.push(format!(
                "{}/support: {}",
                text(&job["cluster_name"]),
                text(&job["reason_for_support_redeploy"])
            ));
        }
        if job["upgrade_staging"] == true {
            for hub in job["staging_hubs"].as_array().expect("hubs") {
                lines.push(format!(
                    "{}/{}: {}",
                    text(&job["cluster_name"]),
                    text(hub),
                    text(&job["reason_for_staging_redeploy"])
                ));
            }
        }
    }
    for job in result.json_output("prod-hub-matrix-jobs").as_array().expect("array") {
        lines.push(format!(
            "{}/{}: {}",
            text(&job["cluster_name"]),
            text(&job["hub_name"]),
            text(&job["reason_for_redeploy"])
        ));
    }
    lines
}

/// `cluster/hub` of every health check of a run.
fn checks(result: &ActionResult) -> BTreeSet<String> {
    result
        .json_output("health-check-matrix-jobs")
        .as_array()
        .expect("array")
        .iter()
        .map(|job| {
            format!(
                "{}/{}",
                job["cluster_name"].as_str().unwrap_or_default(),
                job["hub_name"].as_str().unwrap_or_default()
            )
        })
        .collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|item| (*item).to_owned()).collect()
}

fn run_deployer(args: &[&str], repo: &Path) -> Output {
    Command::new(bin("deployer")).env_clear().args(args).arg("--repo").arg(repo).output().expect("deployer")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn the_python_deployers_own_excludes_upgrade_nothing_and_its_code_every_hub() {
    // Each on its own: the dev commands, the README, the tests and the health-check tests.
    for path in [
        "deployer/src/deployer/dev/commands/generate/hub_asset/hub_files.py",
        "deployer/README.md",
        "deployer/tests/test-clusters/cluster1/cluster.yaml",
        "deployer/src/deployer/health_check_tests/test_hub_health.py",
        "deployer/dev_commands/cilogon.py",
    ] {
        let result = generate(&repo(), &[path]);
        assert_eq!(result.output("has-jobs"), "false", "{path}: {:?}", upgrades(&result));
    }
    // The deployer's own code upgrades every hub, with the excluded paths alongside.
    let result = generate(&repo(), &["deployer/README.md", "deployer/src/deployer/utils/helm.py"]);
    let lines = upgrades(&result);
    assert_eq!(lines.len(), 6, "{lines:?}");
    assert!(lines.iter().all(|line| line.ends_with(": Core infrastructure has been modified")), "{lines:?}");

    let output = run_deployer(&["explain", "deployer/README.md", "deployer/src/deployer/utils/helm.py"], &repo());
    assert!(output.status.success(), "{}", text(&output.stderr));
    let out = text(&output.stdout);
    assert!(
        out.contains("deployer/README.md\n  matches redeploy_all_hubs pattern `deployer/**`, then its exclude `!deployer/README.md`: not matched\n  upgrades nothing\n"),
        "{out}"
    );
    assert!(
        out.contains("deployer/src/deployer/utils/helm.py\n  matches redeploy_all_hubs pattern `deployer/**`: every hub is upgraded\n"),
        "{out}"
    );
}

#[test]
fn an_exclude_in_deployer_yaml_is_read_in_order_and_a_leading_one_refused() {
    let temp = tempfile::tempdir().expect("temp");
    copy_tree(&repo(), temp.path());
    let settings = temp.path().join("deployer.yaml");
    let base = fs::read_to_string(&settings).expect("deployer.yaml");
    fs::write(
        &settings,
        format!("redeploy_all_hubs:\n  - shared/**\n  - '!shared/**/*.md'\n  - shared/KEEP.md\n{base}"),
    )
    .expect("write");
    assert_eq!(generate(temp.path(), &["shared/docs/README.md"]).output("has-jobs"), "false");
    assert_eq!(upgrades(&generate(temp.path(), &["shared/KEEP.md"])).len(), 6);
    assert_eq!(upgrades(&generate(temp.path(), &["shared/values.yaml"])).len(), 6);

    fs::write(&settings, format!("redeploy_all_hubs:\n  - '!deployer/README.md'\n  - deployer/**\n{base}"))
        .expect("write");
    let output = run_deployer(&["validate"], temp.path());
    assert_eq!(output.status.code(), Some(1));
    let err = text(&output.stderr);
    assert!(err.contains("deployer.yaml:2:5: redeploy_all_hubs[0]: `!deployer/README.md` excludes only what the patterns before it match, and no pattern before it includes anything, so it excludes nothing"), "{err}");
    assert!(err.contains("goes after the pattern it narrows"), "{err}");
    let result = ActionRun::new("action-generate", temp.path())
        .input("changed-files", "deployer/x.py")
        .temp_input("plan-dir", "plan")
        .run();
    assert!(!result.success());
    assert!(result.stdout.contains("::error file=deployer.yaml,line=2,col=5::"), "{}", result.stdout);
}

/// Two copies of the fixture, the head's `2i2c` cluster file edited by `edit`; `deployer generate --base-dir`.
fn edited(edit: impl Fn(&str) -> String) -> Output {
    let temp = tempfile::tempdir().expect("temp");
    let (base, head) = (temp.path().join("base"), temp.path().join("head"));
    copy_tree(&repo(), &base);
    copy_tree(&repo(), &head);
    let file = "config/clusters/2i2c/cluster.yaml";
    let current = fs::read_to_string(head.join(file)).expect("cluster.yaml");
    fs::write(head.join(file), edit(&current)).expect("write");
    let base_dir = base.to_str().expect("utf-8").to_owned();
    run_deployer(&["generate", "--base-dir", &base_dir, "--changed-files", file, "--output", "json"], &head)
}

fn plan_jobs(output: &Output) -> (usize, usize) {
    assert!(output.status.success(), "{}", text(&output.stderr));
    let plan: Value = serde_json::from_slice(&output.stdout).expect("json");
    let count = |key: &str| plan[key].as_array().map_or(0, Vec::len);
    (count("support-and-staging-matrix-jobs"), count("prod-hub-matrix-jobs"))
}

#[test]
fn a_cluster_yaml_edit_of_keys_no_release_reads_plans_nothing_with_a_notice() {
    let billing =
        edited(|text| text.replace("zone: us-central1-b}", "zone: us-central1-b, billing: {paid_by: partner}}"));
    assert_eq!(plan_jobs(&billing), (0, 0));
    let err = text(&billing.stderr);
    assert!(
        err.contains("notice: the cluster.yaml of 2i2c changed only keys no release reads (gcp.billing), so its edit plans nothing"),
        "{err}"
    );
    let display = edited(|text| {
        format!(
            "metadata: {{partner: x}}\n{}",
            text.replace("  - name: prod\n", "  - name: prod\n    display_name: Prod\n")
        )
    });
    assert_eq!(plan_jobs(&display), (0, 0));
    assert!(text(&display.stderr).contains("(metadata, hubs[prod].display_name)"), "{}", text(&display.stderr));

    // Keys that reach a release keep planning: a hub's domain (jsonnet and values), and the
    // provider block's names (jsonnet's variables).
    let domain = edited(|text| text.replace("domain: prod.2i2c.cloud", "domain: hub.2i2c.cloud"));
    assert_eq!(plan_jobs(&domain), (1, 1));
    assert!(!text(&domain.stderr).contains("notice"), "{}", text(&domain.stderr));
    let project = edited(|text| text.replace("project: two-eye-two-see", "project: other"));
    assert_eq!(plan_jobs(&project), (1, 1));
    let both = edited(|text| {
        text.replace("zone: us-central1-b}", "zone: us-central1-b, billing: 1}")
            .replace("domain: prod.2i2c.cloud", "domain: x.2i2c.cloud")
    });
    assert_eq!(plan_jobs(&both), (1, 1));
    assert!(!text(&both.stderr).contains("notice"), "{}", text(&both.stderr));
}

#[test]
fn health_check_rules_name_provider_paths_cluster_files_and_excludes() {
    let all_gcp = set(&["2i2c/staging", "2i2c/prod", "gcp2/staging", "gcp2/prod"]);
    let cases: Vec<(&str, BTreeSet<String>)> = vec![
        // A cluster's file not named after it (`clusters:`).
        ("terraform/gcp/projects/pilot-hubs.tfvars", set(&["2i2c/staging", "2i2c/prod"])),
        // A cluster's file named after it; the provider rule excludes `projects/`.
        ("terraform/gcp/projects/gcp2.tfvars", set(&["gcp2/staging", "gcp2/prod"])),
        ("terraform/gcp/projects/unknown.tfvars", set(&[])),
        // Provider-wide, naming the provider.
        ("terraform/gcp/modules/vpc.tf", all_gcp),
        // Provider-wide paths that do not name the provider (`providers:`).
        ("eksctl/libsonnet/nodegroup.jsonnet", set(&["aws1/staging", "aws1/prod"])),
        ("eksctl/template.jsonnet", set(&["aws1/staging", "aws1/prod"])),
        ("eksctl/other.jsonnet", set(&[])),
    ];
    for (path, expected) in cases {
        let result = generate(&repo(), &[path]);
        assert_eq!(checks(&result), expected, "{path}");
        assert!(upgrades(&result).is_empty(), "{path}");
    }

    let output = run_deployer(
        &["explain", "eksctl/libsonnet/nodegroup.jsonnet", "terraform/gcp/projects/pilot-hubs.tfvars"],
        &repo(),
    );
    assert!(output.status.success(), "{}", text(&output.stderr));
    let out = text(&output.stdout);
    assert!(out.contains("eksctl/libsonnet/nodegroup.jsonnet\n  upgrades nothing\n  health check of aws1/{staging,prod}: Infrastructure of provider aws was modified: eksctl/libsonnet/nodegroup.jsonnet\n"), "{out}");
    assert!(out.contains("terraform/gcp/projects/pilot-hubs.tfvars\n  upgrades nothing\n  health check of 2i2c/{staging,prod}: Infrastructure of this cluster was modified: terraform/gcp/projects/pilot-hubs.tfvars\n"), "{out}");
    assert!(!out.contains("no cluster.yaml lists"), "{out}");
}

#[test]
fn health_check_rules_are_checked_by_parsing() {
    let temp = tempfile::tempdir().expect("temp");
    copy_tree(&repo(), temp.path());
    let cases = [
        (
            "health_checks:\n  provider_paths:\n    - '{eksctl/libsonnet/**,x{provider}}'\n",
            "deployer.yaml:3:7: health_checks.provider_paths[0]: the placeholder `{provider}` is inside the alternative group `{eksctl/libsonnet/**,x{provider}}`",
        ),
        (
            "health_checks:\n  providers:\n    aws: [eksctl/**]\n    gpc: [terraform/x/**]\n",
            "deployer.yaml:4:11: health_checks.providers.gpc: unknown provider `gpc`; did you mean `gcp`?",
        ),
        (
            "health_checks:\n  clusters:\n    2i2c:\n      - terraform/gcp/projects/pilot-hubs.tfvars\n      - 'terraform/{provider}/x.tfvars'\n",
            "deployer.yaml:5:9: health_checks.clusters.2i2c[1]: `{provider}` has nothing to stand for here",
        ),
    ];
    for (settings, expected) in cases {
        fs::write(temp.path().join("deployer.yaml"), settings).expect("write");
        let output = run_deployer(&["validate"], temp.path());
        assert_eq!(output.status.code(), Some(1), "{settings}");
        let err = text(&output.stderr);
        assert!(err.contains(expected), "{settings}\n{err}");
    }
}

#[test]
fn a_health_check_cluster_name_no_cluster_has_is_a_warning_at_its_line() {
    let temp = tempfile::tempdir().expect("temp");
    copy_tree(&repo(), temp.path());
    let settings = temp.path().join("deployer.yaml");
    let contents = fs::read_to_string(&settings).expect("read").replace("    2i2c:\n", "    2i2k:\n");
    fs::write(&settings, contents).expect("write");
    let output = run_deployer(&["validate"], temp.path());
    let err = text(&output.stderr);
    assert!(output.status.success(), "{err}");
    assert!(
        err.contains("warning: deployer.yaml:16:9: health_checks.clusters.2i2k: no cluster is named `2i2k`, so these paths check nothing"),
        "{err}"
    );
    assert!(err.contains("did you mean `2i2c`?"), "{err}");
    let result = generate(temp.path(), &["terraform/gcp/projects/pilot-hubs.tfvars"]);
    assert!(result.stdout.contains("::warning file=deployer.yaml,line=16,col=9"), "{}", result.stdout);
    assert!(checks(&result).is_empty());
}

#[test]
fn a_chart_folder_left_empty_by_an_unfetched_submodule_says_so() {
    let temp = tempfile::tempdir().expect("temp");
    copy_tree(&repo(), temp.path());
    fs::write(
        temp.path().join(".gitmodules"),
        "[submodule \"ingress\"]\n\tpath = helm-charts/ingress\n\turl = https://example.org/ingress.git\n",
    )
    .expect("write");
    fs::create_dir_all(temp.path().join("helm-charts/ingress")).expect("empty folder");
    let file = temp.path().join("config/clusters/gcp2/cluster.yaml");
    let cluster = fs::read_to_string(&file).expect("read");
    fs::write(
        &file,
        cluster.replace(
            "{name: prod, domain: prod.gcp2.example.org, helm_chart: basehub",
            "{name: prod, domain: prod.gcp2.example.org, helm_chart: ingress",
        ),
    )
    .expect("write");
    let output = run_deployer(&["validate"], temp.path());
    assert_eq!(output.status.code(), Some(1));
    let err = text(&output.stderr);
    assert!(
        err.contains("config/clusters/gcp2/cluster.yaml:6:61: hubs[1].helm_chart: hub `prod` uses chart `ingress`, whose folder helm-charts/ingress is a git submodule (named in .gitmodules) that this checkout did not fetch"),
        "{err}"
    );
    assert!(err.contains("`submodules: true`") && err.contains("git submodule update --init"), "{err}");
    assert!(!err.contains("does not exist"), "{err}");

    // Without `.gitmodules` naming it, the error is the missing chart's.
    fs::remove_file(temp.path().join(".gitmodules")).expect("remove");
    let err = text(&run_deployer(&["validate"], temp.path()).stderr);
    assert!(err.contains("helm-charts/ingress/Chart.yaml does not exist"), "{err}");
}
