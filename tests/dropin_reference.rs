//! The reference repository's shape, whole, through the built binaries with
//! real helm (4 and 3): `tests/fixtures/reference/repo` has basehub and support
//! with remote dependencies (a chart repository and an OCI registry served on
//! loopback), daskhub on basehub through `file://` with its `values.jsonnet` a
//! symlink to basehub's (which imports a `.libsonnet` and nests its output under
//! `basehub:` when read as daskhub's), support with chart-level `enc-` values
//! files and `before:` steps, a hub with `chart_override`, a hub with
//! `domain_override_file`, and an AWS cluster whose secrets use a GCP KMS rule.
//! Every release renders through `validate --render`, `action-diff` and
//! `deploy --dry-run`; an edit to each new kind of input plans exactly the
//! releases that read it.

mod support;

use std::fs;
use std::path::PathBuf;
use std::process::{Command, Output};

use support::chart_servers::{package, ChartRepo, OciRegistry};
use support::{bin, copy_tree, fixture, tool, ActionRun};

struct World {
    temp: tempfile::TempDir,
    /// The workspace: the head checkout, with the base checkout in `base/`.
    head: PathBuf,
    home: PathBuf,
    path: String,
    _repo: ChartRepo,
    oci: OciRegistry,
}

impl World {
    fn new(helm: &str) -> World {
        let temp = tempfile::tempdir().expect("temp");
        let repo = ChartRepo::start(vec![
            package("hubcore", "1.0.0"),
            package("dask-gateway", "2026.3.0"),
            package("dask-gateway", "2024.1.0"),
        ]);
        let oci = OciRegistry::start(vec![package("homes", "2.0.0")]);
        let head = temp.path().join("workspace");
        let home = temp.path().join("home");
        fs::create_dir_all(&home).expect("home");
        let bin_dir = temp.path().join("bin");
        fs::create_dir_all(&bin_dir).expect("bin");
        std::os::unix::fs::symlink(tool(helm), bin_dir.join("helm")).expect("helm link");
        let path = format!("{}:/usr/bin:/bin", bin_dir.display());
        copy_tree(&fixture("reference/repo"), &head);
        for file in
            ["helm-charts/basehub/Chart.yaml", "helm-charts/support/Chart.yaml", "config/clusters/gcp-a/lis-chart.yaml"]
        {
            let file = head.join(file);
            let text = fs::read_to_string(&file).expect("chart file");
            fs::write(&file, text.replace("__CHART_REPO__", &repo.url).replace("__OCI_REPO__", &oci.url))
                .expect("chart file");
        }
        let world = World { temp, head, home, path, _repo: repo, oci };
        // Locks as a user commits them: `helm dependency update`, `charts/` not committed.
        for chart in ["helm-charts/basehub", "helm-charts/support"] {
            let out = Command::new(tool("helm"))
                .env_clear()
                .env("HOME", world.temp.path().join("lock-home"))
                .env("SSL_CERT_FILE", &world.oci.ca_file)
                .args(["dependency", "update"])
                .arg(world.head.join(chart))
                .output()
                .expect("helm dependency update");
            assert!(out.status.success(), "{chart}: {}", String::from_utf8_lossy(&out.stderr));
            fs::remove_dir_all(world.head.join(chart).join("charts")).expect("charts/");
        }
        let staged = world.temp.path().join("base");
        copy_tree(&world.head, &staged);
        fs::rename(&staged, world.head.join("base")).expect("base checkout");
        world
    }

    fn deployer(&self, args: &[&str]) -> Output {
        Command::new(bin("deployer"))
            .env_clear()
            .env("PATH", &self.path)
            .env("HOME", &self.home)
            .env("SSL_CERT_FILE", &self.oci.ca_file)
            .args(args)
            .arg("--repo")
            .arg(&self.head)
            .output()
            .expect("deployer")
    }

    fn action(&self, binary: &str) -> ActionRun {
        ActionRun::new(binary, &self.head)
            .input("plan-dir", "deployment-plan")
            .env("PATH", self.path.clone())
            .env("HOME", self.home.display().to_string())
            .env("SSL_CERT_FILE", self.oci.ca_file.display().to_string())
    }

    /// action-generate for `changed`: (cluster/support…, staging `cluster/hub`, prod `cluster/hub`).
    fn plan(&self, changed: &str) -> Planned {
        let run = self.action("action-generate").input("changed-files", changed).run();
        assert!(run.success(), "generate {changed}\n{}\n{}", run.stdout, run.stderr);
        let names = |output: &str, key: &str| -> Vec<String> {
            run.json_output(output)
                .as_array()
                .expect("array")
                .iter()
                .flat_map(|job| {
                    let cluster = job["cluster_name"].as_str().expect("cluster").to_owned();
                    match &job[key] {
                        serde_json::Value::Array(hubs) => {
                            hubs.iter().map(|h| format!("{cluster}/{}", h.as_str().expect("hub"))).collect()
                        }
                        serde_json::Value::String(hub) => vec![format!("{cluster}/{hub}")],
                        _ => vec![cluster],
                    }
                })
                .collect()
        };
        let support_and_staging = run.json_output("support-and-staging-matrix-jobs");
        let support: Vec<String> = support_and_staging
            .as_array()
            .expect("array")
            .iter()
            .filter(|job| job["upgrade_support"] == true)
            .map(|job| job["cluster_name"].as_str().expect("cluster").to_owned())
            .collect();
        let staging: Vec<String> = support_and_staging
            .as_array()
            .expect("array")
            .iter()
            .flat_map(|job| {
                let cluster = job["cluster_name"].as_str().expect("cluster").to_owned();
                job["staging_hubs"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                    .into_iter()
                    .map(move |hub| format!("{cluster}/{}", hub.as_str().expect("hub")))
            })
            .collect();
        let prod = names("prod-hub-matrix-jobs", "hub_name");
        let reasons = run.json_output("prod-hub-matrix-jobs").to_string();
        Planned { support, staging, prod, reasons }
    }
}

#[derive(Debug)]
struct Planned {
    support: Vec<String>,
    staging: Vec<String>,
    prod: Vec<String>,
    reasons: String,
}

fn text(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

#[test]
fn every_release_renders_with_validate_and_the_diff_with_both_helms() {
    for helm in ["helm", "helm3"] {
        let world = World::new(helm);
        let out = world.deployer(&["validate", "--render"]);
        let said = text(&out);
        assert!(out.status.success(), "{helm}: {said}");
        assert!(said.contains("ok: 2 clusters, 5 hubs") && said.contains("validate: rendered 7/7"), "{helm}: {said}");
        // The override's Chart.yaml has no lock: resolved, and said.
        assert!(said.contains("no Chart.lock matching Chart.yaml"), "{helm}: {said}");

        // A change every release reads: each renders at base and head, and what jsonnet,
        // the chart-level files and the overrides give reaches the templates.
        let lib = world.head.join("jsonnet/common.libsonnet");
        let edited = fs::read_to_string(&lib).expect("lib").replace("'reference'", "'reference-2'");
        fs::write(&lib, edited).expect("edit lib");
        let generate = world.action("action-generate").input("changed-files", "jsonnet/common.libsonnet").run();
        assert!(generate.success(), "{}\n{}", generate.stdout, generate.stderr);
        let run = world.action("action-diff").input("base-dir", "base").run();
        assert!(run.success(), "{helm}: action-diff\n{}\n{}", run.stdout, run.stderr);
        let plan_dir = world.head.join("deployment-plan");
        let releases = support::diff_releases(&plan_dir.join("plan.json"));
        let mut statuses: Vec<String> = releases.iter().map(|(l, s, _)| format!("{l} {s}")).collect();
        statuses.sort();
        assert_eq!(
            statuses,
            [
                "aws-b/dom changed",
                "aws-b/staging changed",
                "gcp-a/dask changed",
                "gcp-a/lis changed",
                "gcp-a/staging changed"
            ],
            "{helm}: {releases:?}\n{}",
            run.stdout
        );
        let diff = fs::read_to_string(plan_dir.join("manifests.diff")).expect("manifests.diff");
        assert!(diff.contains("-  tier: reference\n") && diff.contains("+  tier: reference-2\n"), "{helm}:\n{diff}");
        // daskhub's values arrive nested under basehub: (its dependency renders them).
        assert!(diff.contains("host: dask.gcp-a.example.org"), "{helm}: daskhub values not nested:\n{diff}");
        assert!(diff.contains("cluster: aws-b-eks"), "{helm}: provider cluster name:\n{diff}");
        assert!(diff.contains("roleArn: arn:aws:iam::123456789012:role/aws-b-eks-staging"), "{helm}:\n{diff}");
        assert!(diff.contains("greeting: jsonnet greets staging"), "{helm}: hub jsonnet:\n{diff}");
        // Secrets never reach the diff: the chart-level and the cluster's `enc-` files are placeholders.
        assert!(!diff.contains("c2VjcmV0") && !diff.contains("Y2lwaGVydGV4dA"), "{helm}:\n{diff}");
        eprintln!("{diff}");
    }
}

#[test]
fn the_dry_run_shows_what_helm_gets_in_the_python_deployers_order() {
    let world = World::new("helm");
    let gcp = world.deployer(&["deploy", "--cluster", "gcp-a", "--support", "--hubs", "staging,dask,lis", "--dry-run"]);
    let gcp_said = text(&gcp);
    assert!(gcp.status.success(), "{gcp_said}");
    let lines: Vec<&str> = gcp_said.lines().filter(|l| !l.starts_with('#')).collect();
    let upgrade = |release: &str| {
        lines
            .iter()
            .find(|l| l.starts_with(&format!("helm upgrade --install {release} ")))
            .unwrap_or_else(|| panic!("no upgrade of {release}:\n{gcp_said}"))
            .to_string()
    };
    // Support: the chart-level enc- files, then the chart's values.jsonnet, then the cluster's own.
    assert!(
        upgrade("support").contains(
            "-f '<decrypted>/0-enc-support.secret.values.yaml' -f '<decrypted>/1-enc-cryptnono.secret.values.yaml' \
             -f '<rendered>/jsonnet-0-values.json' -f config/clusters/gcp-a/support.values.yaml "
        ),
        "{gcp_said}"
    );
    assert!(gcp_said.contains("sops --decrypt helm-charts/support/enc-cryptnono.secret.values.yaml"), "{gcp_said}");
    // daskhub renders its symlinked values.jsonnet (the path as written).
    assert!(gcp_said.contains("# dask: helm-charts/daskhub/values.jsonnet rendered (jsonnet)"), "{gcp_said}");
    // lis: from a private copy with its override, dependencies fetched in the copy, and the
    // dask-gateway CRDs of the override's pinned version, before lis only.
    assert!(upgrade("lis").starts_with("helm upgrade --install lis '<chart-override-copy-1>/helm-charts/basehub'"));
    assert!(lines.contains(&"helm dependency build '<chart-override-copy-1>/helm-charts/basehub'"), "{gcp_said}");
    let crds = lines.iter().position(|l| l.contains("dask-gateway/2024.1.0/resources")).expect("2024.1.0 CRDs");
    let lis = lines.iter().position(|l| l.starts_with("helm upgrade --install lis ")).expect("lis");
    let staging = lines.iter().position(|l| l.starts_with("helm upgrade --install staging ")).expect("staging");
    assert!(staging < crds && crds < lis, "{gcp_said}");
    assert!(!gcp_said.contains("dask-gateway/2026.3.0"), "no hub of basehub's own Chart.yaml enables it:\n{gcp_said}");
    // cert-manager before the support chart; tigera only on AWS.
    assert!(gcp_said.contains("helm upgrade --install cert-manager cert-manager --repo https://charts.jetstack.io"));
    assert!(!gcp_said.contains("tigera-operator"), "{gcp_said}");

    let aws = world.deployer(&["deploy", "--cluster", "aws-b", "--support", "--hubs", "staging,dom", "--dry-run"]);
    let aws_said = text(&aws);
    assert!(aws.status.success(), "{aws_said}");
    assert!(aws_said.contains("tigera-operator.yaml"), "{aws_said}");
    // Two files named enc-support.secret.values.yaml (the chart's and the cluster's) stay two.
    assert!(
        aws_said.contains(
            "-f '<rendered>/jsonnet-0-values.json' -f config/clusters/aws-b/support.values.yaml \
             -f '<decrypted>/2-enc-support.secret.values.yaml'"
        ),
        "{aws_said}"
    );
    // The hub's own .jsonnet after its plain files, in list order.
    assert!(
        aws_said.contains("-f config/clusters/aws-b/staging.values.yaml -f '<rendered>/jsonnet-2-hub.json'"),
        "{aws_said}"
    );
    assert!(
        aws_said.contains(
            "# dom: {domain} would be read from config/clusters/aws-b/enc-dom.domain-override.secret.yaml \
             (domain_override_file), not decrypted in a dry run"
        ),
        "{aws_said}"
    );
}

#[test]
fn an_edit_to_each_new_kind_of_input_plans_exactly_the_releases_that_read_it() {
    let world = World::new("helm");
    let all_hubs = ["aws-b/dom", "gcp-a/dask", "gcp-a/lis"];
    // A .libsonnet basehub's values.jsonnet imports (daskhub's symlink renders it too): every hub.
    let planned = world.plan("jsonnet/common.libsonnet");
    assert!(planned.support.is_empty(), "{planned:?}");
    assert_eq!(planned.prod, all_hubs, "{planned:?}");
    assert!(planned.reasons.contains("values.jsonnet (it reads jsonnet/common.libsonnet)"), "{planned:?}");
    // A hub's own .jsonnet's import: that hub alone.
    let planned = world.plan("config/clusters/aws-b/hub-lib.libsonnet");
    assert_eq!(
        (planned.support.len(), planned.staging.clone(), planned.prod.len()),
        (0, vec!["aws-b/staging".to_owned()], 0)
    );
    // The support chart's values.jsonnet and a chart-level enc- file: every support release, no hub.
    for changed in ["helm-charts/support/values.jsonnet", "helm-charts/support/enc-cryptnono.secret.values.yaml"] {
        let planned = world.plan(changed);
        assert_eq!(planned.support, ["aws-b", "gcp-a"], "{changed}: {planned:?}");
        assert!(planned.staging.is_empty() && planned.prod.is_empty(), "{changed}: {planned:?}");
    }
    // A chart override file: its hub alone (and the cluster's staging canary).
    let planned = world.plan("config/clusters/gcp-a/lis-chart.yaml");
    assert_eq!(planned.prod, ["gcp-a/lis"], "{planned:?}");
    assert_eq!(planned.staging, ["gcp-a/staging"], "{planned:?}");
    // A domain override file: its hub alone.
    let planned = world.plan("config/clusters/aws-b/enc-dom.domain-override.secret.yaml");
    assert_eq!(planned.prod, ["aws-b/dom"], "{planned:?}");
    assert!(planned.support.is_empty(), "{planned:?}");
}

#[test]
fn the_aws_clusters_leg_needs_the_gcp_identity_its_sops_rule_names() {
    let world = World::new("helm");
    // No sops identity given: refused at the .sops.yaml rule before any request.
    let run = world.action("action-setup-cluster").input("cluster", "aws-b").run();
    assert_eq!(run.output.status.code(), Some(1), "{}\n{}", run.stdout, run.stderr);
    let annotation = run
        .stdout
        .lines()
        .find(|l| l.starts_with("::error file=.sops.yaml,line=3,"))
        .unwrap_or_else(|| panic!("no error at the rule\n{}\n{}", run.stdout, run.stderr));
    assert!(
        annotation.contains(
            "cluster aws-b decrypts config/clusters/aws-b/enc-deployer-credentials.secret.json, \
             helm-charts/support/enc-support.secret.values.yaml, helm-charts/support/enc-cryptnono.secret.values.yaml, \
             config/clusters/aws-b/enc-support.secret.values.yaml, config/clusters/aws-b/enc-dom.domain-override.secret.yaml \
             under this rule"
        )
            && annotation.contains("which encrypts with `gcp_kms` keys, but the leg has no credentials for them"),
        "{annotation}"
    );
}

#[test]
fn explain_names_the_override_and_the_jsonnet_import_that_reach_a_release() {
    let world = World::new("helm");
    let out = world.deployer(&["explain", "config/clusters/gcp-a/lis-chart.yaml", "jsonnet/common.libsonnet"]);
    let said = text(&out);
    assert!(out.status.success(), "{said}");
    assert!(said.contains("prod hub gcp-a/lis: Chart override was modified: lis-chart.yaml"), "{said}");
    assert!(
        said.contains("prod hub gcp-a/dask: Following helm chart values files were modified: values.jsonnet (it reads jsonnet/common.libsonnet)"),
        "{said}"
    );
    assert!(!said.contains("no cluster.yaml lists"), "{said}");
}

#[test]
fn a_chart_values_file_that_is_missing_or_outside_is_refused_at_its_line() {
    let world = World::new("helm");
    let settings = world.head.join("deployer.yaml");
    let original = fs::read_to_string(&settings).expect("deployer.yaml");
    for (entry, said) in [
        (
            "helm-charts/support/enc-cryptnono.secret.values.yml",
            "deployer.yaml:17:9: charts.support.values_files[1]: the chart's values file \
             helm-charts/support/enc-cryptnono.secret.values.yml does not exist",
        ),
        ("../outside.yaml", "deployer.yaml:17:9: charts.support.values_files[1]: the file is outside the repository"),
        (
            "helm-charts/support/values.jsonnet",
            "deployer.yaml:17:9: charts.support.values_files[1]: the chart's own `values.jsonnet` is always given",
        ),
    ] {
        let edited = original.replace("helm-charts/support/enc-cryptnono.secret.values.yaml", entry);
        fs::write(&settings, edited).expect("deployer.yaml");
        let out = world.deployer(&["validate"]);
        let told = text(&out);
        assert_eq!(out.status.code(), Some(1), "{told}");
        assert!(told.contains(said), "{told}");
        assert!(told.contains("hint: `charts.<chart>.values_files`"), "{told}");
    }
}
