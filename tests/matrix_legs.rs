//! The deploy pipeline end to end through the real binaries: generate plans,
//! each support-and-staging leg gets credentials from its provider (gcp, aws,
//! azure and kubeconfig, against local fakes) and runs Helm (a stub) for the
//! support chart and the staging hubs; one staging hub fails; filter drops
//! exactly that cluster's prod hubs; the prod hubs deploy after the canaries.

mod support;

use std::collections::BTreeMap;
use std::fs;

use base64::Engine;
use serde_json::{json, Value};
use support::fake_github::FakeGitHub;
use support::stubs::Stubs;
use support::{copy_tree, example_repo, parse_github_output, ActionRun};
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

const CA: &str = "Q0EgY2VydGlmaWNhdGU=";
const CLUSTER4_KUBECONFIG: &str = "apiVersion: v1\nkind: Config\nclusters:\n- name: cluster4\n  cluster:\n    server: https://cluster4.example\nusers:\n- name: u\n  user:\n    token: cluster4-static-token\ncontexts:\n- name: cluster4\n  context: {cluster: cluster4, user: u}\ncurrent-context: cluster4\n";

/// Every cloud a leg may talk to, on one fake server under its own prefix.
async fn clouds() -> MockServer {
    let server = MockServer::start().await;
    let ok = |body: Value| ResponseTemplate::new(200).set_body_json(body);
    let mounts: Vec<(&str, &str, ResponseTemplate)> = vec![
        ("GET", r"^/oidc/token$", ok(json!({"value": "github-oidc-jwt"}))),
        (
            "POST",
            r"^/gsts/v1/token$",
            ok(json!({"access_token": "gcp-federated", "token_type": "Bearer", "expires_in": 3600})),
        ),
        (
            "POST",
            r"^/giam/v1/projects/-/serviceAccounts/[^/]+:generateAccessToken$",
            ok(json!({"accessToken": "gcp-sa-token", "expireTime": "2099-01-01T00:00:00Z"})),
        ),
        (
            "GET",
            r"^/gke/v1/projects/[^/]+/locations/[^/]+/clusters/[^/]+$",
            ok(json!({"endpoint": "34.1.2.3", "masterAuth": {"clusterCaCertificate": CA}})),
        ),
        (
            "GET",
            r"^/eks/clusters/cluster2$",
            ok(json!({"cluster": {"endpoint": "https://eks.cluster2.example", "certificateAuthority": {"data": CA}}})),
        ),
        (
            "POST",
            r"^/login/[^/]+/oauth2/v2.0/token$",
            ok(json!({"access_token": "arm-token", "token_type": "Bearer", "expires_in": 3600})),
        ),
    ];
    for (verb, pattern, response) in mounts {
        Mock::given(method(verb)).and(path_regex(pattern)).respond_with(response).mount(&server).await;
    }
    let assumed = "<AssumeRoleWithWebIdentityResponse><AssumeRoleWithWebIdentityResult><Credentials>\
        <SessionToken>aws-session-token-value</SessionToken><SecretAccessKey>aws-secret-key-value</SecretAccessKey>\
        <Expiration>2099-01-01T00:00:00Z</Expiration><AccessKeyId>ASIAEXAMPLEKEY</AccessKeyId>\
        </Credentials></AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>";
    Mock::given(method("POST"))
        .and(path_regex(r"^/awssts/?$"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(assumed, "text/xml"))
        .mount(&server)
        .await;
    let aks = "apiVersion: v1\nkind: Config\nclusters:\n- name: aks5\n  cluster:\n    server: https://aks5.example\nusers:\n- name: clusterUser\n  user:\n    token: aks-user-token\ncontexts:\n- name: aks5\n  context: {cluster: aks5, user: clusterUser}\ncurrent-context: aks5\n";
    let value = base64::engine::general_purpose::STANDARD.encode(aks);
    Mock::given(method("POST"))
        .and(path("/arm/subscriptions/sub-5/resourceGroups/rg5/providers/Microsoft.ContainerService/managedClusters/aks5/listClusterUserCredential"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"kubeconfigs": [{"name": "clusterUser", "value": value}]})))
        .mount(&server)
        .await;
    server
}

struct Pipeline {
    workspace: tempfile::TempDir,
    scratch: tempfile::TempDir,
    stubs: Stubs,
    clouds: String,
}

impl Pipeline {
    fn new(clouds: &MockServer) -> Self {
        let workspace = tempfile::tempdir().expect("temp");
        copy_tree(&example_repo(), workspace.path());
        // An Azure cluster with a staging canary and a prod hub.
        let dir = workspace.path().join("config/clusters/cluster5");
        fs::create_dir_all(&dir).expect("dir");
        fs::write(
            dir.join("cluster.yaml"),
            "name: cluster5\nprovider: azure\nazure:\n  resource_group: rg5\n  cluster: aks5\nsupport:\n  helm_chart_values_files: [support.values.yaml]\nhubs:\n  - name: staging\n    helm_chart: basehub\n    helm_chart_values_files: [staging.values.yaml]\n  - name: prod\n    helm_chart: basehub\n    helm_chart_values_files: [prod.values.yaml]\n",
        )
        .expect("cluster5");
        for file in ["support.values.yaml", "staging.values.yaml", "prod.values.yaml"] {
            fs::write(dir.join(file), "x: 1\n").expect("values");
        }
        let scratch = tempfile::tempdir().expect("temp");
        let stubs = Stubs::new(scratch.path());
        Pipeline { workspace, scratch, stubs, clouds: clouds.uri() }
    }

    fn action(&self, binary: &str) -> ActionRun {
        let mut run = ActionRun::new(binary, self.workspace.path());
        for (name, value) in self.stubs.env() {
            run = run.env(&name, value);
        }
        run
    }

    /// setup-cluster for one cluster, as in a leg: returns the KUBECONFIG it exported.
    fn access(&self, cluster: &str) -> String {
        let home = self.scratch.path().join(format!("home-{cluster}"));
        fs::create_dir_all(&home).expect("home");
        let github_env = home.join("github_env");
        fs::write(&github_env, "").expect("GITHUB_ENV");
        let run = self.action("action-setup-cluster").env("GITHUB_ENV", github_env.to_string_lossy());
        let result = with_access(run, &self.clouds, &home)
            .input("cluster", cluster)
            .input("kubeconfig", if cluster == "cluster4" { CLUSTER4_KUBECONFIG } else { "" })
            .run();
        assert!(result.success(), "access to {cluster}: {}\n{}", result.stdout, result.stderr);
        let exported = parse_github_output(&fs::read_to_string(&github_env).expect("GITHUB_ENV"));
        let kubeconfig = exported["KUBECONFIG"].clone();
        let text = fs::read_to_string(&kubeconfig).expect("kubeconfig written");
        deployer::cluster::access::kubeconfig::check(&text).expect("valid kubeconfig");
        kubeconfig
    }

    /// The deploy action for one cluster, with the leg's KUBECONFIG.
    fn deploy(&self, cluster: &str, kubeconfig: &str, support: bool, hubs: &[String], fail: bool) -> bool {
        let mut run = self
            .action("action-deploy")
            .env("KUBECONFIG", kubeconfig)
            .input("cluster", cluster)
            .input("support", if support { "true" } else { "false" })
            .input("hubs", serde_json::to_string(hubs).expect("json"));
        if fail {
            run = run.env("STUB_HELM_FAIL_ON", "upgrade");
        }
        run.run().success()
    }
}

fn jobs(value: &str) -> Vec<Value> {
    serde_json::from_str::<Value>(value).expect("json").as_array().cloned().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn four_providers_canaries_first_and_a_failed_canary_holds_back_its_prod_hubs() {
    let server = clouds().await;
    let pipeline = Pipeline::new(&server);
    tokio::task::spawn_blocking(move || run_pipeline(&pipeline)).await.expect("pipeline");
}

fn run_pipeline(pipeline: &Pipeline) {
    // 1. Plan: the base hub chart and the support chart change.
    let plan = pipeline
        .action("action-generate")
        .input("changed-files", "helm-charts/basehub/values.yaml,helm-charts/support/values.yaml")
        .temp_input("plan-dir", "plan")
        .run();
    assert!(plan.success(), "{}", plan.stderr);
    let legs = jobs(plan.output("support-and-staging-matrix-jobs"));
    let prod = plan.output("prod-hub-matrix-jobs").to_owned();

    // 2. One leg per cluster; cluster3's first staging hub fails.
    let mut results: BTreeMap<String, &str> = BTreeMap::new();
    let mut providers = Vec::new();
    for leg in &legs {
        let cluster = leg["cluster_name"].as_str().expect("name");
        providers.push(leg["provider"].as_str().expect("provider").to_owned());
        let kubeconfig = pipeline.access(cluster);
        let mut ok = true;
        if leg["upgrade_support"] == true {
            ok &= pipeline.deploy(cluster, &kubeconfig, true, &[], false);
        }
        if ok && leg["upgrade_staging"] == true {
            let hubs: Vec<String> = serde_json::from_value(leg["staging_hubs"].clone()).expect("hubs");
            ok &= pipeline.deploy(cluster, &kubeconfig, false, &hubs, cluster == "cluster3");
        }
        results.insert(cluster.to_owned(), if ok { "success" } else { "failure" });
    }
    providers.sort();
    providers.dedup();
    assert_eq!(providers, ["aws", "azure", "gcp", "kubeconfig"], "every provider got credentials");
    assert_eq!(results.get("cluster3"), Some(&"failure"));
    assert!(results.iter().filter(|(c, _)| *c != "cluster3").all(|(_, r)| *r == "success"), "{results:?}");

    // 3. Filter with the legs' results.
    let legs_json = plan.output("support-and-staging-matrix-jobs").to_owned();
    let filter = pipeline
        .action("action-filter")
        .input("prod-hub-matrix-jobs", prod.clone())
        .input("support-and-staging-matrix-jobs", legs_json)
        .input("results", serde_json::to_string(&results).expect("json"))
        .run();
    assert!(filter.success(), "{}", filter.stderr);
    let kept = jobs(filter.output("filtered-prod-hub-matrix-jobs"));
    let dropped = jobs(filter.output("dropped"));
    assert_eq!(dropped.len(), 1);
    assert_eq!(dropped[0]["cluster_name"], "cluster3");
    assert_eq!(kept.len(), jobs(&prod).len() - 1);

    // 4. Prod hubs, each with its own access step.
    for job in &kept {
        let cluster = job["cluster_name"].as_str().expect("cluster");
        let kubeconfig = pipeline.access(cluster);
        let hub = job["hub_name"].as_str().expect("hub").to_owned();
        assert!(pipeline.deploy(cluster, &kubeconfig, false, &[hub], false), "prod {cluster}");
    }

    // Helm saw: support and staging before any prod hub of the same cluster,
    // cluster3's second staging hub and its prod hub never.
    let upgrades: Vec<(String, String)> = pipeline
        .stubs
        .calls_of("helm")
        .into_iter()
        .filter(|args| args.first().map(String::as_str) == Some("upgrade"))
        .map(|args| {
            let namespace = args.iter().skip_while(|a| *a != "--namespace").nth(1).cloned().unwrap_or_default();
            (args[2].clone(), namespace)
        })
        .collect();
    let releases: Vec<&str> = upgrades.iter().map(|(release, _)| release.as_str()).collect();
    assert!(releases.contains(&"staging1"), "the failing canary was attempted: {releases:?}");
    assert!(!releases.contains(&"staging2"), "a failed staging hub stops the rest of its leg: {releases:?}");
    let position = |release: &str| releases.iter().rposition(|r| *r == release);
    let first_prod =
        releases.iter().position(|r| r.starts_with("hub") || *r == "prod" || *r == "nofiles").expect("prod ran");
    let last_canary = releases.iter().rposition(|r| r.contains("staging") || *r == "support").expect("canaries ran");
    assert!(last_canary < first_prod, "every canary before any prod hub: {releases:?}");
    assert_eq!(
        releases.iter().filter(|r| **r == "prod").count(),
        2,
        "cluster4 and cluster5 prod, not cluster3: {releases:?}"
    );
    assert!(position("dask-staging").is_some());
}

/// The credential inputs and fake endpoints of a leg (all but `kubeconfig`), for setup-cluster and the deploy action's `leg` mode.
fn with_access(run: ActionRun, uri: &str, home: &std::path::Path) -> ActionRun {
    run.env("HOME", home.to_string_lossy())
        .env("ACTIONS_ID_TOKEN_REQUEST_URL", format!("{uri}/oidc/token?api-version=2.0"))
        .env("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "runner-request-token")
        .env("DEPLOYER_GOOGLE_STS_URL", format!("{uri}/gsts"))
        .env("DEPLOYER_GOOGLE_IAM_URL", format!("{uri}/giam"))
        .env("DEPLOYER_GKE_URL", format!("{uri}/gke"))
        .env("DEPLOYER_AWS_STS_URL", format!("{uri}/awssts"))
        .env("DEPLOYER_AWS_EKS_URL", format!("{uri}/eks"))
        .env("DEPLOYER_AZURE_LOGIN_URL", format!("{uri}/login"))
        .env("DEPLOYER_AZURE_ARM_URL", format!("{uri}/arm"))
        .env("DEPLOYER_ALLOW_INSECURE_ENDPOINTS", "1")
        .input("workload-identity-provider", "projects/1/locations/global/workloadIdentityPools/p/providers/github")
        .input("service-account", "deployer@project.iam.gserviceaccount.com")
        .input("role-to-assume", "arn:aws:iam::123456789012:role/deployer")
        .input("client-id", "client-5")
        .input("tenant-id", "tenant-5")
        .input("subscription-id", "sub-5")
}

/// A leg's `results.json`, parsed.
fn leg_results(workspace: &std::path::Path, file: &str) -> BTreeMap<String, String> {
    let text = fs::read_to_string(workspace.join(file)).expect("results file");
    let results: Value = serde_json::from_str(&text).expect("results JSON");
    assert_eq!(results["version"], 1, "{text}");
    serde_json::from_value(results["clusters"].clone()).expect("clusters")
}

#[tokio::test(flavor = "multi_thread")]
async fn batched_legs_keep_per_cluster_isolation_through_results_artifacts() {
    let clouds = clouds().await;
    let github = FakeGitHub::start().await;
    let pipeline = Pipeline::new(&clouds);
    let kubeconfig_log = pipeline.scratch.path().join("kubeconfigs.log");

    // 1. Plan with max-jobs 2: five clusters into two batched canary legs, their prod hubs into two legs.
    let plan = pipeline
        .action("action-generate")
        .input("changed-files", "helm-charts/basehub/values.yaml,helm-charts/support/values.yaml")
        .input("max-jobs", "2")
        .temp_input("plan-dir", "plan")
        .run_async()
        .await;
    assert!(plan.success(), "{}", plan.stderr);
    let canary_legs = jobs(plan.output("support-and-staging-matrix-jobs"));
    let prod_legs = jobs(plan.output("prod-hub-matrix-jobs"));
    assert_eq!((canary_legs.len(), prod_legs.len()), (2, 2), "{canary_legs:?}");
    let clusters_of = |leg: &Value| -> Vec<String> {
        leg["clusters"]
            .as_array()
            .expect("batched")
            .iter()
            .map(|c| c["cluster_name"].as_str().expect("name").to_owned())
            .collect()
    };
    let with_cluster3 =
        canary_legs.iter().position(|l| clusters_of(l).contains(&"cluster3".to_owned())).expect("cluster3");
    assert!(clusters_of(&canary_legs[with_cluster3]).len() > 1, "cluster3 shares its leg: {canary_legs:?}");

    // 2. Each canary leg in one deploy step; cluster3's first staging hub fails.
    let mut artifacts = Vec::new();
    for (index, leg) in canary_legs.iter().enumerate() {
        let home = pipeline.scratch.path().join(format!("leg-{index}"));
        fs::create_dir_all(&home).expect("home");
        let run = pipeline
            .action("action-deploy")
            .env("STUB_HELM_FAIL_RELEASE", "staging1")
            .env("STUB_KUBECONFIG_LOG", kubeconfig_log.to_string_lossy())
            .env("GITHUB_RUN_ATTEMPT", "1")
            .input("leg", leg.to_string())
            .input("results-dir", format!("deploy-results/{index}"))
            .input("kubeconfig", CLUSTER4_KUBECONFIG);
        let result = with_access(run, &pipeline.clouds, &home).run_async().await;
        let results = leg_results(pipeline.workspace.path(), &format!("deploy-results/{index}/results.json"));
        let expected: BTreeMap<String, String> = clusters_of(leg)
            .into_iter()
            .map(|c| {
                let result = if c == "cluster3" { "failure" } else { "success" };
                (c, result.to_owned())
            })
            .collect();
        assert_eq!(results, expected, "leg {index}: {}\n{}", result.stdout, result.stderr);
        if index == with_cluster3 {
            assert!(!result.success(), "a failed cluster fails its leg's step");
            assert_eq!(result.json_output("failed-clusters"), json!(["cluster3"]));
            assert!(result.stdout.contains("::error::the leg failed on 1 cluster: cluster3"), "{}", result.stdout);
        } else {
            assert!(result.success(), "leg {index}: {}\n{}", result.stdout, result.stderr);
            assert_eq!(result.json_output("failed-clusters"), json!([]));
        }
        let text =
            fs::read(pipeline.workspace.path().join(format!("deploy-results/{index}/results.json"))).expect("file");
        artifacts.push((
            format!("deploy-results-{index}-1"),
            support::zip_builder::build(&[support::zip_builder::Entry::file("results.json", text)]),
        ));
    }

    // 3. The run's artifacts on a fake API: the two legs' results, and an unrelated plan artifact.
    github.artifact(7, "deployment-plan", b"plan".to_vec());
    for (name, zip) in artifacts {
        github.artifact(7, &name, zip);
    }

    // 4. Filter reads them: exactly cluster3's prod hubs are dropped.
    let filter = pipeline
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
    let dropped = jobs(filter.output("dropped"));
    let dropped: Vec<(&str, &str)> =
        dropped.iter().map(|d| (d["cluster_name"].as_str().expect("c"), d["hub_name"].as_str().expect("h"))).collect();
    assert_eq!(dropped, [("cluster3", "prod")]);
    let kept = jobs(filter.output("filtered-prod-hub-matrix-jobs"));
    let kept_hubs: usize = kept.iter().map(|l| l["releases"].as_u64().expect("releases") as usize).sum();
    let planned: usize = prod_legs.iter().map(|l| l["releases"].as_u64().expect("releases") as usize).sum();
    assert_eq!(kept_hubs, planned - 1);
    assert!(kept.iter().all(|l| !clusters_of(l).contains(&"cluster3".to_owned())), "{kept:?}");

    // 5. The kept prod legs, two releases of a cluster at a time.
    for (index, leg) in kept.iter().enumerate() {
        let home = pipeline.scratch.path().join(format!("prod-{index}"));
        fs::create_dir_all(&home).expect("home");
        let run = pipeline
            .action("action-deploy")
            .env("STUB_KUBECONFIG_LOG", kubeconfig_log.to_string_lossy())
            .input("leg", leg.to_string())
            .input("max-parallel-releases", "2")
            .input("results-dir", format!("prod-results/{index}"))
            .input("kubeconfig", CLUSTER4_KUBECONFIG);
        let result = with_access(run, &pipeline.clouds, &home).run_async().await;
        assert!(result.success(), "prod leg {index}: {}\n{}", result.stdout, result.stderr);
    }

    // Every upgrade ran with its own cluster's kubeconfig; cluster3 saw only its failed canary.
    let log = fs::read_to_string(&kubeconfig_log).expect("kubeconfig log");
    let mut by_cluster: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for line in log.lines() {
        let (release, kubeconfig) = line.split_once(' ').expect("release and KUBECONFIG");
        let cluster =
            kubeconfig.rsplit("deployer-").next().and_then(|f| f.strip_suffix(".yaml")).expect("a cluster's file");
        by_cluster.entry(cluster.to_owned()).or_default().push(release.to_owned());
    }
    assert_eq!(by_cluster["cluster3"], ["support", "staging1"], "{log}");
    assert_eq!(by_cluster["cluster1"][..2], ["support", "staging"], "canaries first: {log}");
    let mut cluster1 = by_cluster["cluster1"].clone();
    cluster1.sort();
    assert_eq!(cluster1, ["hub1", "hub2", "hub3", "staging", "support"], "{log}");
    let mut cluster4 = by_cluster["cluster4"].clone();
    cluster4.sort();
    assert_eq!(cluster4, ["dask-staging", "nofiles", "prod", "staging"], "no support chart: {log}");
    assert_eq!(by_cluster["cluster2"].len(), 4, "support and three prod hubs: {log}");
    assert_eq!(by_cluster["cluster5"], ["support", "staging", "prod"], "{log}");
}

/// A check that records `<cluster> <hub> <KUBECONFIG>` in `$CHECK_LOG` and fails for the hub named `$FAIL_HUB`.
const RECORDING_CHECK: &str =
    r#"echo "$CLUSTER_NAME $HUB_NAME $KUBECONFIG" >>"$CHECK_LOG"; test "$HUB_NAME" != "$FAIL_HUB""#;

#[tokio::test(flavor = "multi_thread")]
async fn health_check_legs_get_credentials_check_every_hub_and_write_results() {
    let clouds = clouds().await;
    let pipeline = Pipeline::new(&clouds);
    let check_log = pipeline.scratch.path().join("checks.log");
    let checks_run = || -> Vec<(String, String, String)> {
        fs::read_to_string(&check_log)
            .unwrap_or_default()
            .lines()
            .map(|l| {
                let parts: Vec<&str> = l.splitn(3, ' ').collect();
                (parts[0].to_owned(), parts[1].to_owned(), parts.get(2).copied().unwrap_or_default().to_owned())
            })
            .collect()
    };
    let hubs = |names: &[&str]| -> Value {
        names
            .iter()
            .map(|n| json!({"hub_name": n, "reason_for_health_check": "the cluster's node pool changed"}))
            .collect()
    };
    let run_leg = |index: usize, leg: &Value, fail_hub: &str, mode: Option<&str>| {
        let home = pipeline.scratch.path().join(format!("check-{index}"));
        fs::create_dir_all(&home).expect("home");
        let mut run = pipeline
            .action("action-deploy")
            .env("CHECK_LOG", check_log.to_string_lossy())
            .env("FAIL_HUB", fail_hub)
            .input("leg", leg.to_string())
            .input("health-check", RECORDING_CHECK)
            .input("health-check-retries", "0")
            .input("results-dir", format!("check-results/{index}"))
            .input("kubeconfig", CLUSTER4_KUBECONFIG);
        if let Some(mode) = mode {
            run = run.input("mode", mode);
        }
        with_access(run, &pipeline.clouds, &home).run_async()
    };

    // 1. One cluster's staging hubs (the staging matrix's shape), every check passing.
    let cluster =
        json!({"cluster_name": "cluster4", "provider": "kubeconfig", "hubs": hubs(&["staging", "dask-staging"])});
    let result = run_leg(0, &cluster, "none", None).await;
    assert!(result.success(), "{}\n{}", result.stdout, result.stderr);
    assert_eq!(
        leg_results(pipeline.workspace.path(), "check-results/0/results.json"),
        [("cluster4".to_owned(), "success".to_owned())].into()
    );
    assert_eq!(result.json_output("failed-clusters"), json!([]));
    assert_eq!(result.output("results-file"), "check-results/0/results.json");
    let checks = checks_run();
    let checked: Vec<(&str, &str)> = checks.iter().map(|(c, h, _)| (c.as_str(), h.as_str())).collect();
    assert_eq!(checked, [("cluster4", "staging"), ("cluster4", "dask-staging")]);
    assert!(
        checks.iter().all(|(_, _, k)| k.ends_with("deployer-cluster4.yaml")),
        "the leg's own kubeconfig: {checks:?}"
    );
    assert!(result.stdout.contains("Every cluster of the leg passed its health checks: cluster4"), "{}", result.stdout);

    // 2. A batch of two clusters (gcp and kubeconfig): hub1 fails, hub2 is checked all the same, cluster4 goes on.
    let batch = json!({"leg": "1 of 1", "checks": 3, "clusters": [
        {"cluster_name": "cluster1", "provider": "gcp", "hubs": hubs(&["hub1", "hub2"])},
        {"cluster_name": "cluster4", "provider": "kubeconfig", "hubs": hubs(&["prod"])},
    ]});
    let result = run_leg(1, &batch, "hub1", None).await;
    assert!(!result.success(), "a failed cluster fails the step");
    assert_eq!(
        leg_results(pipeline.workspace.path(), "check-results/1/results.json"),
        [("cluster1".to_owned(), "failure".to_owned()), ("cluster4".to_owned(), "success".to_owned())].into(),
        "{}\n{}",
        result.stdout,
        result.stderr
    );
    assert_eq!(result.json_output("failed-clusters"), json!(["cluster1"]));
    assert_eq!(result.json_output("deployed"), json!(["cluster4"]));
    assert!(result.stdout.contains("::error::the leg failed on 1 cluster: cluster1"), "{}", result.stdout);
    assert!(result.summary.contains("| `hub1` | health check failed | "), "{}", result.summary);
    assert!(result.summary.contains("| `hub2` | healthy | "), "{}", result.summary);
    let checks = checks_run();
    let checked: Vec<(&str, &str)> = checks[2..].iter().map(|(c, h, _)| (c.as_str(), h.as_str())).collect();
    assert_eq!(checked, [("cluster1", "hub1"), ("cluster1", "hub2"), ("cluster4", "prod")]);
    assert!(
        checks[2].2.ends_with("deployer-cluster1.yaml") && checks[4].2.ends_with("deployer-cluster4.yaml"),
        "{checks:?}"
    );

    // 3. A mode that disagrees with the item is refused before anything runs.
    let before = checks_run().len();
    let result = run_leg(2, &cluster, "none", Some("upgrade")).await;
    assert!(!result.success());
    assert!(
        result
            .stdout
            .contains("::error::invalid input `mode`: is `upgrade` but `leg` is an item of a health-check matrix"),
        "{}",
        result.stdout
    );
    let prod_hub =
        json!({"cluster_name": "cluster4", "provider": "kubeconfig", "hub_name": "prod", "reason_for_redeploy": "r"});
    let result = run_leg(3, &prod_hub, "none", Some("health-check")).await;
    assert!(!result.success());
    assert!(
        result
            .stdout
            .contains("::error::invalid input `mode`: is `health-check` but `leg` is an item of an upgrade matrix"),
        "{}",
        result.stdout
    );
    assert_eq!(checks_run().len(), before, "nothing checked");
    assert!(!pipeline.workspace.path().join("check-results/2").exists(), "no results file for a refused leg");

    // Never helm, in any of them.
    assert_eq!(pipeline.stubs.calls_of("helm"), Vec::<Vec<String>>::new());
}
