//! `charts.<chart>.before` in `deployer.yaml` (the pre-upgrade steps of the
//! reference deployer: cert-manager's CRDs and chart before the support
//! chart, the tigera operator on AWS, the dask-gateway CRDs of the version
//! basehub depends on before hubs that enable dask-gateway), through the
//! built `deployer` and `action-deploy`, on the `dropin-before` fixture with
//! stub `helm`, `kubectl` and `sops` recording every call.

mod support;

use std::fs;
use std::path::PathBuf;
use std::process::{Command, Output};

use serde_json::json;
use support::stubs::Stubs;
use support::{bin, copy_tree, fixture, ActionResult, ActionRun};

const CERT_MANAGER_CRDS: &str =
    "https://github.com/cert-manager/cert-manager/releases/download/v1.20.3/cert-manager.crds.yaml";
const TIGERA: &str = "https://raw.githubusercontent.com/projectcalico/calico/v3.29.3/manifests/tigera-operator.yaml";
const DASK_CLUSTERS: &str =
    "https://raw.githubusercontent.com/dask/dask-gateway/2026.3.0/resources/helm/dask-gateway/crds/daskclusters.yaml";
const DASK_TRAEFIK: &str =
    "https://raw.githubusercontent.com/dask/dask-gateway/2026.3.0/resources/helm/dask-gateway/crds/traefik.yaml";
const KUBECONFIG: &str = "apiVersion: v1\nkind: Config\nclusters:\n- name: kube1\n  cluster:\n    server: https://kube1.example\nusers:\n- name: u\n  user:\n    token: kube1-static-token\ncontexts:\n- name: kube1\n  context: {cluster: kube1, user: u}\ncurrent-context: kube1\n";

struct World {
    temp: tempfile::TempDir,
    repo: PathBuf,
    stubs: Stubs,
}

impl World {
    fn new() -> World {
        let temp = tempfile::tempdir().expect("temp");
        let repo = temp.path().join("repo");
        copy_tree(&fixture("dropin-before"), &repo);
        for folder in ["tmp", "home"] {
            fs::create_dir(temp.path().join(folder)).expect("folder");
        }
        let stubs = Stubs::new(&temp.path().join("stubs"));
        World { temp, repo, stubs }
    }

    fn env(&self) -> Vec<(String, String)> {
        let mut env = self.stubs.env();
        env.push(("TMPDIR".into(), self.temp.path().join("tmp").display().to_string()));
        env.push(("HOME".into(), self.temp.path().join("home").display().to_string()));
        env
    }

    fn cli(&self, args: &[&str]) -> Output {
        let mut command = Command::new(bin("deployer"));
        command.env_clear().envs(self.env()).arg("deploy").arg("--repo").arg(&self.repo).args(args);
        command.output().expect("run deployer")
    }

    fn action(&self) -> ActionRun {
        let mut run = ActionRun::new("action-deploy", &self.repo);
        for (name, value) in self.env() {
            run = run.env(&name, value);
        }
        run
    }

    /// Every recorded call as one line, `sops` left out.
    fn calls(&self) -> Vec<String> {
        self.stubs
            .calls()
            .into_iter()
            .filter(|c| c.program != "sops")
            .map(|c| format!("{} {}", c.program, c.args.join(" ")))
            .collect()
    }
}

fn words(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn logs(result: &ActionResult) -> String {
    format!("stdout:\n{}\nstderr:\n{}", result.stdout, result.stderr)
}

fn apply(source: &str) -> String {
    format!("kubectl apply --server-side --force-conflicts -f {source}")
}

fn cert_manager(helm_flags: &str) -> String {
    words(&format!(
        "helm upgrade --install cert-manager cert-manager --repo https://charts.jetstack.io --version v1.20.3 \
         --namespace cert-manager --create-namespace {helm_flags}"
    ))
}

/// The commands a dry run printed (comments and the heading left out).
fn printed(stdout: &str) -> Vec<String> {
    stdout.lines().filter(|l| !l.starts_with('#') && !l.starts_with("Dry run")).map(str::to_owned).collect()
}

#[test]
fn dry_run_shows_each_step_before_its_chart_with_versions_and_conditions() {
    let world = World::new();
    let flags = "--timeout 10m --cleanup-on-fail";
    // AWS: cert-manager and tigera before support; the staging hub enables dask-gateway, so its CRDs
    // (version from basehub's Chart.yaml) go before the first basehub release, once for both hubs.
    let output = world.cli(&["--cluster", "aws1", "--support", "--hub", "staging", "--hub", "prod", "--dry-run"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    let expected = vec![
        "sops --decrypt config/clusters/aws1/enc-prod.secret.values.yaml > '<decrypted>/0-enc-prod.secret.values.yaml'"
            .to_owned(),
        apply(CERT_MANAGER_CRDS),
        cert_manager(flags),
        apply(TIGERA),
        // The charts' remote dependencies are fetched before their first release.
        "helm dependency build helm-charts/support".to_owned(),
        words(&format!(
            "helm upgrade --install support helm-charts/support --namespace support --create-namespace \
             -f config/clusters/aws1/support.values.yaml {flags}"
        )),
        apply(DASK_CLUSTERS),
        apply(DASK_TRAEFIK),
        apply("manifests/hub-priority-class.yaml"),
        "helm dependency build helm-charts/basehub".to_owned(),
        words(&format!(
            "helm upgrade --install staging helm-charts/basehub --namespace staging --create-namespace \
             -f config/clusters/aws1/common.values.yaml -f config/clusters/aws1/staging.values.yaml {flags}"
        )),
        words(&format!(
            "helm upgrade --install prod helm-charts/basehub --namespace prod --create-namespace \
             -f config/clusters/aws1/common.values.yaml -f config/clusters/aws1/prod.values.yaml \
             -f '<decrypted>/0-enc-prod.secret.values.yaml' {flags}"
        )),
    ];
    assert_eq!(printed(&stdout), expected, "{stdout}");
    assert_eq!(world.stubs.calls(), [], "a dry run runs nothing");

    // The prod hub alone: its plain values do not enable dask-gateway (the `enc-*` file is not read),
    // so only the unconditional step runs.
    let output = world.cli(&["--cluster", "aws1", "--hub", "prod", "--dry-run"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let lines = printed(&stdout);
    assert_eq!(
        lines[1..3],
        [apply("manifests/hub-priority-class.yaml"), "helm dependency build helm-charts/basehub".to_owned()],
        "{stdout}"
    );
    assert!(lines[3].starts_with("helm upgrade --install prod "), "{stdout}");
    assert_eq!(lines.len(), 4, "{stdout}");

    // GCP: no tigera; the hub's later values file turns dask-gateway off again (merged in order).
    let output = world.cli(&["--cluster", "gcp1", "--support", "--hub", "staging", "--dry-run"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    let steps: Vec<String> =
        printed(&stdout).into_iter().filter(|l| l.starts_with("kubectl") || l.contains("cert-manager")).collect();
    assert_eq!(
        steps,
        [apply(CERT_MANAGER_CRDS), cert_manager(flags), apply("manifests/hub-priority-class.yaml")],
        "{stdout}"
    );
}

#[test]
fn action_deploy_runs_the_steps_in_order_before_each_release() {
    let world = World::new();
    let result = world.action().input("cluster", "aws1").input("support", "true").input("hubs", "staging").run();
    assert!(result.success(), "{}", logs(&result));
    let local = world.repo.join("manifests/hub-priority-class.yaml").canonicalize().expect("canonical");
    let flags = "--timeout 10m --cleanup-on-fail";
    assert_eq!(
        world.calls(),
        [
            apply(CERT_MANAGER_CRDS),
            cert_manager(flags),
            apply(TIGERA),
            // No Chart.lock in the fixture: the remote dependencies are resolved before the first release.
            "helm dependency update helm-charts/support".to_owned(),
            words(&format!(
                "helm upgrade --install support helm-charts/support --namespace support --create-namespace \
                 -f config/clusters/aws1/support.values.yaml {flags}"
            )),
            apply(DASK_CLUSTERS),
            apply(DASK_TRAEFIK),
            // A repository file reaches kubectl as the path `repo_fs` resolved inside the checkout.
            apply(&local.display().to_string()),
            "helm dependency update helm-charts/basehub".to_owned(),
            words(&format!(
                "helm upgrade --install staging helm-charts/basehub --namespace staging --create-namespace \
                 -f config/clusters/aws1/common.values.yaml -f config/clusters/aws1/staging.values.yaml {flags}"
            )),
        ]
    );
    assert_eq!(result.json_output("deployed"), json!(["support", "staging"]));
    assert!(
        result.stdout.contains("kubectl apply https://raw.githubusercontent.com/projectcalico"),
        "{}",
        logs(&result)
    );
}

#[test]
fn a_failing_step_stops_its_release_and_the_later_ones() {
    let world = World::new();
    let result = world
        .action()
        .input("cluster", "aws1")
        .input("support", "true")
        .input("hubs", "staging")
        .env("STUB_KUBECTL_FAIL_TIMES", "1")
        .run();
    assert!(!result.success(), "{}", logs(&result));
    assert_eq!(world.calls(), [apply(CERT_MANAGER_CRDS)], "nothing after the failed step runs");
    assert!(result.stderr.contains("kubectl apply https://github.com/cert-manager"), "{}", logs(&result));
    assert!(result.stderr.contains("support, staging"), "the releases not run are named: {}", logs(&result));
}

#[test]
fn a_leg_runs_the_hub_chart_steps_once_per_cluster_even_with_parallel_hubs() {
    let world = World::new();
    let leg = json!({"leg": "1 of 1", "releases": 3, "clusters": [{
        "cluster_name": "kube1", "provider": "kubeconfig", "upgrade_support": false,
        "reason_for_support_redeploy": "", "upgrade_staging": true,
        "reason_for_staging_redeploy": "Core infrastructure has been modified",
        "staging_hubs": ["staging", "prod", "dask"]}]});
    for parallel in ["1", "3"] {
        fs::write(world.stubs.log.clone(), "").expect("clear log");
        let result = world
            .action()
            .input("leg", leg.to_string())
            .input("kubeconfig", KUBECONFIG)
            .input("max-parallel-releases", parallel)
            .env("GITHUB_RUN_ATTEMPT", "1")
            .run();
        assert!(result.success(), "parallel {parallel}: {}", logs(&result));
        let calls = world.calls();
        let kubectl: Vec<&String> = calls.iter().filter(|c| c.starts_with("kubectl")).collect();
        let local = world.repo.join("manifests/hub-priority-class.yaml").canonicalize().expect("canonical");
        // Only the `dask` hub enables dask-gateway: its CRDs once, for the cluster, before any hub.
        assert_eq!(
            kubectl,
            [&apply(DASK_CLUSTERS), &apply(DASK_TRAEFIK), &apply(&local.display().to_string())],
            "parallel {parallel}"
        );
        assert!(calls[..3].iter().all(|c| c.starts_with("kubectl")), "parallel {parallel}: {calls:#?}");
        let mut upgraded: Vec<&str> =
            calls.iter().filter_map(|c| c.strip_prefix("helm upgrade --install ")?.split(' ').next()).collect();
        upgraded.sort_unstable();
        assert_eq!(upgraded, ["dask", "prod", "staging"], "parallel {parallel}");
    }
}

#[test]
fn mistakes_in_the_steps_point_at_their_line() {
    let world = World::new();
    let settings = world.repo.join("deployer.yaml");
    let original = fs::read_to_string(&settings).expect("settings");
    let cases = [
        (
            original.replace("{version:dask-gateway}/resources/helm/dask-gateway/crds/daskclusters", "{versions:dask-gateway}/x"),
            "deployer.yaml:20:20: charts.basehub.before[0].manifests: unknown placeholder `{versions:dask-gateway}`; did you mean `{version:dask-gateway}`?",
        ),
        (
            original.replace("values_key: dask-gateway.enabled\n      - manifests: https", "value_key: x\n      - manifests: https"),
            "deployer.yaml:22:11: charts.basehub.before[0].when: unknown field `value_key`, expected `providers` or `values_key`",
        ),
        (
            original.replace("providers: [aws]", "providers: [amazon]"),
            "deployer.yaml:17:23: charts.support.before[2].when.providers[0]: unknown variant, expected one of `gcp`, `aws`, `azure`, `kubeconfig`",
        ),
        (
            original.replace("repository: https://charts.jetstack.io", "repository: http://charts.jetstack.io"),
            "deployer.yaml:11:23: charts.support.before[1].chart.repository: expected an `https://` Helm repository or an `oci://` registry path",
        ),
    ];
    for (text, want) in cases {
        fs::write(&settings, text).expect("write");
        let output = world.cli(&["--cluster", "gcp1", "--support", "--dry-run"]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{want}");
        assert!(stderr.lines().any(|l| l == want), "want {want}\ngot:\n{stderr}");
    }
    // A dependency the chart does not list: refused before anything runs, naming the Chart.yaml.
    fs::write(&settings, original.replace("{version:dask-gateway}", "{version:dask}")).expect("write");
    let output = world.cli(&["--cluster", "aws1", "--hub", "staging", "--dry-run"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("charts.basehub.before[0]: `{version:dask}` names a dependency that helm-charts/basehub/Chart.yaml does not list"),
        "{stderr}"
    );
}

#[test]
fn the_plan_notes_each_cluster_whose_planned_charts_have_steps() {
    let world = World::new();
    let changed = "helm-charts/support/values.yaml\nconfig/clusters/kube1/prod.values.yaml";
    let plan_json = || -> serde_json::Value {
        serde_json::from_str(&fs::read_to_string(world.repo.join("deployment-plan/plan.json")).expect("plan.json"))
            .expect("JSON")
    };
    let result = world.action_generate(changed);
    assert!(result.success(), "{}", logs(&result));
    let plan = plan_json();
    // The support chart changed: every cluster with a support chart has its steps (cert-manager runs on any
    // provider); kube1's prod hub and its staging canary are basehub releases. Sorted by cluster.
    assert_eq!(
        plan["before_steps"],
        json!([
            {"cluster_name": "aws1", "charts": ["support"]},
            {"cluster_name": "gcp1", "charts": ["support"]},
            {"cluster_name": "kube1", "charts": ["basehub"]},
        ]),
        "{plan:#}"
    );
    assert!(result.stdout.contains("Before steps"), "{}", logs(&result));
    let comment = fs::read_to_string(world.repo.join("deployment-plan/comment.md")).expect("comment.md");
    assert!(comment.contains("### Before steps") && comment.contains("| kube1 | basehub |"), "{comment}");

    // One cluster's support values: only that cluster's support chart, so only its note.
    let result = world.action_generate("config/clusters/gcp1/support.values.yaml");
    assert!(result.success(), "{}", logs(&result));
    let plan = plan_json();
    assert_eq!(plan["before_steps"], json!([{"cluster_name": "gcp1", "charts": ["support"]}]), "{plan:#}");

    // A plan with no chart that has steps keeps plan.json as it was: no `before_steps` key.
    let settings = world.repo.join("deployer.yaml");
    fs::write(&settings, "charts:\n  daskhub:\n    before:\n      - manifests: https://example.org/crds.yaml\n")
        .expect("settings");
    let result = world.action_generate(changed);
    assert!(result.success(), "{}", logs(&result));
    let text = fs::read_to_string(world.repo.join("deployment-plan/plan.json")).expect("plan.json");
    assert!(!text.contains("before_steps"), "{text}");
}

impl World {
    fn action_generate(&self, changed: &str) -> ActionResult {
        ActionRun::new("action-generate", &self.repo).input("changed-files", changed).run()
    }
}
