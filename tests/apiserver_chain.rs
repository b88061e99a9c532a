//! The example workflow's chain against two real Kubernetes API servers (two
//! `kubeconfig` clusters, each its own kube-apiserver; see
//! `tests/support/apiserver.rs`), through the built binaries: `action-generate`
//! plans, `action-deploy` runs each support-and-staging leg (credentials from the
//! cluster's age-encrypted kubeconfig, `enc-` values decrypted with real sops, the
//! support chart's `before` step applied server-side), `action-filter` reads the
//! legs' `results.json` artifacts through a fake artifacts API and drops the prod
//! hubs of the cluster whose canary failed (a staging Deployment that can never
//! become ready: no kubelet here), and the kept prod legs deploy with a health
//! check that reaches the real server. Then `helm list` and `kubectl` on each
//! server show exactly the planned releases. With helm 4 and with helm 3.

mod support;

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;
use support::age::{sops_encrypt, AgeKey};
use support::apiserver::{self, ApiServer};
use support::chart_servers::{package, OciRegistry};
use support::fake_github::FakeGitHub;
use support::{tool, ActionResult, ActionRun};

fn write(path: &Path, text: &str) {
    fs::create_dir_all(path.parent().expect("parent")).expect("folder");
    fs::write(path, text).expect("write");
}

/// Two clusters: c1 (support, staging, prod1, prod2) and c2 (support, a staging hub whose
/// Deployment never becomes ready, prod). Each cluster's kubeconfig is its server's,
/// age-encrypted; the hubs' secrets are `enc-` files.
fn write_repo(repo: &Path, servers: &[ApiServer], key: &AgeKey, oci: &str) {
    write(&repo.join(".sops.yaml"), &format!("creation_rules:\n- path_regex: .*secret.*\n  age: {}\n", key.recipient));
    // Before the support chart: a manifest applied server-side, and a chart installed from an
    // OCI registry (on loopback, TLS).
    write(
        &repo.join("deployer.yaml"),
        &format!(
            "charts:\n  support:\n    before:\n      - manifests: manifests/priority.yaml\n      - chart:\n          \
             name: homes\n          repository: {oci}\n          version: 2.0.0\n          release: homes\n          \
             namespace: homes\n"
        ),
    );
    write(
        &repo.join("manifests/priority.yaml"),
        "apiVersion: scheduling.k8s.io/v1\nkind: PriorityClass\nmetadata:\n  name: deployer-test-core\nvalue: 1000\n\
         ---\napiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: gateways.example.org\n\
         spec:\n  group: example.org\n  scope: Namespaced\n  names: {plural: gateways, singular: gateway, kind: Gateway}\n\
         \x20 versions:\n    - name: v1\n      served: true\n      storage: true\n      schema:\n        openAPIV3Schema:\n\
         \x20         type: object\n          x-kubernetes-preserve-unknown-fields: true\n",
    );
    for chart in ["support", "basehub"] {
        write(
            &repo.join(format!("helm-charts/{chart}/Chart.yaml")),
            &format!("apiVersion: v2\nname: {chart}\nversion: 0.1.0\n"),
        );
        write(
            &repo.join(format!("helm-charts/{chart}/values.yaml")),
            "greeting: none\nsecret: none\nworkload: false\n",
        );
        write(
            &repo.join(format!("helm-charts/{chart}/templates/values.yaml")),
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-values\ndata:\n  \
             greeting: {{ .Values.greeting | quote }}\n  secret: {{ .Values.secret | quote }}\n",
        );
    }
    write(
        &repo.join("helm-charts/basehub/templates/workload.yaml"),
        "{{- if .Values.workload }}\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ .Release.Name }}-hub\n\
         spec:\n  replicas: 1\n  selector:\n    matchLabels: {app: hub}\n  template:\n    metadata:\n      labels: {app: hub}\n\
         \x20   spec:\n      containers:\n        - name: hub\n          image: registry.invalid/hub:1\n{{- end }}\n",
    );
    let clusters: [(&str, &[&str]); 2] = [("c1", &["staging", "prod1", "prod2"]), ("c2", &["staging", "prod"])];
    for ((name, hubs), server) in clusters.iter().zip(servers) {
        let dir = repo.join(format!("config/clusters/{name}"));
        let mut cluster = format!(
            "name: {name}\nprovider: kubeconfig\nkubeconfig:\n  file: enc-deployer-credentials.secret.yaml\n\
             support:\n  helm_chart_values_files: [support.values.yaml, enc-support.secret.values.yaml]\nhubs:\n"
        );
        for hub in *hubs {
            cluster.push_str(&format!(
                "  - name: {hub}\n    helm_chart: basehub\n    helm_chart_values_files: [{hub}.values.yaml, enc-{hub}.secret.values.yaml]\n"
            ));
            let workload = *name == "c2" && *hub == "staging";
            write(
                &dir.join(format!("{hub}.values.yaml")),
                &format!("greeting: {hub} on {name}\nworkload: {workload}\n"),
            );
            sops_encrypt(
                &format!("secret: {hub}-secret-{name}\n"),
                &key.recipient,
                &dir.join(format!("enc-{hub}.secret.values.yaml")),
            );
        }
        write(&dir.join("cluster.yaml"), &cluster);
        write(&dir.join("support.values.yaml"), &format!("greeting: support on {name}\n"));
        sops_encrypt(
            &format!("secret: support-secret-{name}\n"),
            &key.recipient,
            &dir.join("enc-support.secret.values.yaml"),
        );
        sops_encrypt(&server.kubeconfig_text(), &key.recipient, &dir.join("enc-deployer-credentials.secret.yaml"));
    }
}

struct Chain {
    _temp: tempfile::TempDir,
    oci: OciRegistry,
    workspace: PathBuf,
    bin_dir: PathBuf,
    home: PathBuf,
    key: AgeKey,
}

impl Chain {
    fn new(helm: &str, servers: &[ApiServer]) -> Chain {
        let temp = tempfile::tempdir().expect("temp");
        let workspace = temp.path().join("workspace");
        let key = AgeKey::generate();
        let oci = OciRegistry::start(vec![package("homes", "2.0.0")]);
        write_repo(&workspace, servers, &key, &oci.url);
        let bin_dir = temp.path().join("bin");
        fs::create_dir_all(&bin_dir).expect("bin");
        for (name, real) in [("helm", helm), ("kubectl", "kubectl"), ("sops", "sops")] {
            std::os::unix::fs::symlink(tool(real), bin_dir.join(name)).expect("tool link");
        }
        let home = temp.path().join("home");
        fs::create_dir_all(&home).expect("home");
        Chain { _temp: temp, oci, workspace, bin_dir, home, key }
    }

    fn action(&self, binary: &str) -> ActionRun {
        ActionRun::new(binary, &self.workspace)
            .env("PATH", format!("{}:/usr/bin:/bin", self.bin_dir.display()))
            .env("HOME", self.home.to_string_lossy())
            .env("TMPDIR", self.home.to_string_lossy())
            .env("SSL_CERT_FILE", self.oci.ca_file.to_string_lossy())
    }

    fn leg(&self, leg: &Value, results_dir: &str) -> ActionResult {
        self.action("action-deploy")
            .env("GITHUB_RUN_ATTEMPT", "1")
            .input("leg", leg.to_string())
            .input("results-dir", results_dir)
            .input("sops-age-key", self.key.secret.clone())
            .input("wait", "true")
            .input("timeout", "20s")
            .input("max-parallel-releases", "2")
            .input("health-check", r#"kubectl get configmap "$HUB_NAME-values" --namespace "$HUB_NAME" -o name"#)
            .input("health-check-retries", "0")
            .run()
    }
}

fn jobs(value: &str) -> Vec<Value> {
    serde_json::from_str::<Value>(value).expect("json").as_array().cloned().unwrap_or_default()
}

fn deployed(server: &ApiServer) -> Vec<(String, String, u32, String)> {
    server.releases().into_iter().map(|r| (r.name, r.namespace, r.revision, r.status)).collect()
}

fn data(server: &ApiServer, release: &str, key: &str) -> String {
    server.kubectl_ok(&[
        "get",
        "configmap",
        &format!("{release}-values"),
        "-n",
        release,
        "-o",
        &format!("jsonpath={{.data.{key}}}"),
    ])
}

async fn run_chain(helm: &str, servers: &[ApiServer]) {
    let chain = Chain::new(helm, servers);
    let github = FakeGitHub::start().await;

    // 1. Plan: both charts changed, so every release of both clusters.
    let plan = chain
        .action("action-generate")
        .input("changed-files", "helm-charts/basehub/values.yaml,helm-charts/support/values.yaml")
        .temp_input("plan-dir", "plan")
        .run_async()
        .await;
    assert!(plan.success(), "{}\n{}", plan.stdout, plan.stderr);
    let canary_legs = jobs(plan.output("support-and-staging-matrix-jobs"));
    assert_eq!(canary_legs.len(), 2, "{canary_legs:?}");

    // 2. The canary legs: c1 succeeds, c2's staging never becomes ready.
    let mut artifacts = Vec::new();
    for (index, leg) in canary_legs.iter().enumerate() {
        let cluster = leg["cluster_name"].as_str().expect("cluster").to_owned();
        let dir = format!("deploy-results/{index}");
        let run = tokio::task::block_in_place(|| chain.leg(leg, &dir));
        let log = format!("{}\n{}", run.stdout, run.stderr);
        if cluster == "c2" {
            assert!(!run.success(), "{helm}: c2's canary must fail:\n{log}");
            // Annotated at the hub's line in cluster.yaml, with helm's reason.
            let annotation = run
                .stdout
                .lines()
                .find(|l| l.starts_with("::error file=config/clusters/c2/cluster.yaml,line="))
                .unwrap_or_else(|| panic!("{helm}: no annotation at c2's cluster.yaml:\n{log}"));
            assert!(annotation.contains("staging"), "{annotation}");
            assert!(
                log.contains("context deadline exceeded")
                    || log.contains("timed out waiting")
                    || log.contains("not ready"),
                "{helm}: helm's reason:\n{log}"
            );
        } else {
            assert!(run.success(), "{helm}: {cluster}:\n{log}");
            // The support chart (after its before step) before the staging hub.
            let support = log.find("helm upgrade --install support").expect("support upgraded");
            let staging = log.find("helm upgrade --install staging").expect("staging upgraded");
            let before = log.find("kubectl apply --server-side").expect("before step");
            let chart = log.find("helm upgrade --install homes oci://").expect("before chart");
            assert!(before < chart && chart < support && support < staging, "{helm}: order:\n{log}");
            assert_eq!(log.matches("helm upgrade --install homes").count(), 1, "once per cluster per leg:\n{log}");
        }
        let text = fs::read(chain.workspace.join(format!("{dir}/results.json"))).expect("results.json");
        artifacts.push((
            format!("deploy-results-{index}-1"),
            support::zip_builder::build(&[support::zip_builder::Entry::file("results.json", text)]),
        ));
    }

    // 3. Filter reads the legs' artifacts through the (fake) artifacts API.
    for (name, zip) in artifacts {
        github.artifact(7, &name, zip);
    }
    let filter = chain
        .action("action-filter")
        .github(&github.api.uri())
        .env("GITHUB_RUN_ID", "7")
        .env("GITHUB_RUN_ATTEMPT", "1")
        .input("results-from", "artifacts")
        .input("prod-hub-matrix-jobs", plan.output("prod-hub-matrix-jobs"))
        .input("support-and-staging-matrix-jobs", plan.output("support-and-staging-matrix-jobs"))
        .run_async()
        .await;
    assert!(filter.success(), "{}\n{}", filter.stdout, filter.stderr);
    let dropped: Vec<(String, String)> = jobs(filter.output("dropped"))
        .iter()
        .map(|d| (d["cluster_name"].as_str().expect("c").to_owned(), d["hub_name"].as_str().expect("h").to_owned()))
        .collect();
    assert_eq!(dropped, [("c2".to_owned(), "prod".to_owned())], "{helm}");

    // 4. The kept prod legs, with the health check against the real server.
    for (index, leg) in jobs(filter.output("filtered-prod-hub-matrix-jobs")).iter().enumerate() {
        let run = tokio::task::block_in_place(|| chain.leg(leg, &format!("prod-results/{index}")));
        assert!(run.success(), "{helm}: prod leg {index}:\n{}\n{}", run.stdout, run.stderr);
        // The check ran kubectl with the leg's kubeconfig and found the release's ConfigMap.
        assert!(
            run.stdout.contains("-values\n") && run.stdout.contains("configmap/prod"),
            "{helm}: the check reached the server:\n{}",
            run.stdout
        );
    }

    // What each server holds: exactly the planned releases, in their namespaces.
    let s = |name: &str, revision: u32, status: &str| (name.to_owned(), name.to_owned(), revision, status.to_owned());
    assert_eq!(
        deployed(&servers[0]),
        [
            s("homes", 1, "deployed"),
            s("prod1", 1, "deployed"),
            s("prod2", 1, "deployed"),
            s("staging", 1, "deployed"),
            s("support", 1, "deployed")
        ],
        "{helm}"
    );
    assert_eq!(
        deployed(&servers[1]),
        [s("homes", 1, "deployed"), s("staging", 1, "failed"), s("support", 1, "deployed")],
        "{helm}"
    );
    // Values from the repository's files and from the sops-decrypted enc- files.
    assert_eq!(data(&servers[0], "prod2", "greeting"), "prod2 on c1");
    assert_eq!(data(&servers[0], "prod2", "secret"), "prod2-secret-c1");
    assert_eq!(data(&servers[1], "support", "secret"), "support-secret-c2");
    // The before step, server-side, on each cluster.
    for server in servers {
        let owner = server.kubectl_ok(&[
            "get",
            "priorityclass",
            "deployer-test-core",
            "-o",
            "jsonpath={.metadata.managedFields[0].manager}",
        ]);
        assert_eq!(owner, "kubectl", "{helm}: applied server-side by kubectl");
        let crd = server.kubectl_ok(&["get", "crd", "gateways.example.org", "-o", "jsonpath={.spec.names.kind}"]);
        assert_eq!(crd, "Gateway", "{helm}: the CRD of the before step");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_example_chain_deploys_two_real_clusters_and_holds_back_a_failed_canary() {
    let Some(lease) = apiserver::lease("the_example_chain", 2) else { return };
    for helm in ["helm", "helm3"] {
        run_chain(helm, &lease).await;
        for server in lease.iter() {
            server.clean();
        }
    }
}
