//! sops credentials follow the repository's keys, not the cluster's provider:
//! `action-setup-cluster` on an AWS cluster of a repository whose `.sops.yaml`
//! encrypts everything with GCP KMS (the shape of `tests/fixtures/dropin-sops`)
//! gets a separate GCP identity for sops beside its AWS access, uses it for
//! the cluster's own `key:` file, and refuses a leg with no way to open the
//! rule before any request is made; `action-deploy` with `leg` likewise, its
//! releases' `enc-` values decrypted with that identity. Fakes of the GitHub
//! OIDC endpoint, Google STS, AWS STS and EKS on 127.0.0.1; stub helm and sops.

mod support;

use std::fs;
use std::path::{Path, PathBuf};

use base64::Engine;
use serde_json::json;
use support::stubs::Stubs;
use support::{copy_tree, fixture, parse_github_output, ActionResult, ActionRun};
use wiremock::matchers::{body_string_contains, header, method, path, query_param};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const GCP_PROVIDER: &str = "projects/123456/locations/global/workloadIdentityPools/github/providers/infra";
const ROLE: &str = "arn:aws:iam::123456789012:role/deployer";
const OIDC_REQUEST_TOKEN: &str = "oidc-request-bearer-0123456789";
const AWS_JWT: &str = "eyJhbGciOiJSUzI1NiJ9.jwt-for-aws.signature0123456789";
const GCP_JWT: &str = "eyJhbGciOiJSUzI1NiJ9.jwt-for-gcp.signature0123456789";
const FEDERATED_TOKEN: &str = "ya29.federated-token-0123456789";
const ASSUMED_KEY_ID: &str = "ASIAASSUMEDKEY000001";
const ASSUMED_SECRET: &str = "assumed/Secret+Key0123456789abcdefghijkl";
const ASSUMED_SESSION: &str = "IQoJb3JpZ2luX2VjEassumed/session+token0123456789==";
const FILE_KEY_ID: &str = "AKIAKEYFILE000000001";
const FILE_SECRET: &str = "keyfile/Secret+Key0123456789abcdefghij";
const EKS_ENDPOINT: &str = "https://ABCDEF0123456789ABCDEF.gr7.us-west-2.eks.amazonaws.com";

fn gcp_audience() -> String {
    format!("https://iam.googleapis.com/{GCP_PROVIDER}")
}

fn logs(result: &ActionResult) -> String {
    format!("stdout:\n{}\nstderr:\n{}", result.stdout, result.stderr)
}

/// A request signed with SigV4 for EKS in us-west-2 by `key_id`.
fn signed_for_eks(key_id: &'static str) -> impl Fn(&Request) -> bool + Send + Sync + 'static {
    move |request: &Request| {
        let authorization = request.headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("");
        authorization.starts_with(&format!("AWS4-HMAC-SHA256 Credential={key_id}/"))
            && authorization.contains("/us-west-2/eks/aws4_request")
    }
}

fn assumed_role_xml() -> String {
    format!(
        "<AssumeRoleWithWebIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\
         <AssumeRoleWithWebIdentityResult><Credentials>\
         <SessionToken>{ASSUMED_SESSION}</SessionToken>\
         <SecretAccessKey>{ASSUMED_SECRET}</SecretAccessKey>\
         <Expiration>2099-01-01T00:00:00Z</Expiration>\
         <AccessKeyId>{ASSUMED_KEY_ID}</AccessKeyId>\
         </Credentials></AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>"
    )
}

fn describe_cluster_json() -> serde_json::Value {
    let ca = base64::engine::general_purpose::STANDARD
        .encode("-----BEGIN CERTIFICATE-----\nMIIfake\n-----END CERTIFICATE-----\n");
    json!({"cluster": {"name": "aws-leg", "endpoint": EKS_ENDPOINT, "certificateAuthority": {"data": ca}, "status": "ACTIVE"}})
}

/// The fakes: GitHub's OIDC endpoint, Google STS, AWS STS and EKS.
struct Fakes {
    oidc: MockServer,
    google: MockServer,
    aws_sts: MockServer,
    eks: MockServer,
}

impl Fakes {
    async fn start() -> Self {
        Fakes {
            oidc: MockServer::start().await,
            google: MockServer::start().await,
            aws_sts: MockServer::start().await,
            eks: MockServer::start().await,
        }
    }

    /// A token for `audience`, asked `times` times.
    async fn oidc_answers(&self, audience: &str, jwt: &str, times: u64) {
        Mock::given(method("GET"))
            .and(path("/oidc/token"))
            .and(query_param("audience", audience))
            .and(header("authorization", format!("Bearer {OIDC_REQUEST_TOKEN}").as_str()))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"value": jwt})))
            .expect(times)
            .mount(&self.oidc)
            .await;
    }

    /// Google STS exchanges the GCP-audience token for the workload identity provider, `times` times.
    async fn google_sts_answers(&self, times: u64) {
        Mock::given(method("POST"))
            .and(path("/sts/v1/token"))
            .and(body_string_contains(format!("subject_token={GCP_JWT}")))
            .and(body_string_contains("audience=%2F%2Fiam.googleapis.com%2Fprojects%2F123456%2F"))
            .respond_with(
                ResponseTemplate::new(200).set_body_json(
                    json!({"access_token": FEDERATED_TOKEN, "token_type": "Bearer", "expires_in": 3600}),
                ),
            )
            .expect(times)
            .mount(&self.google)
            .await;
    }

    /// AWS STS assumes the cluster's role, `times` times.
    async fn aws_sts_answers(&self, times: u64) {
        Mock::given(method("POST"))
            .and(path("/"))
            .and(body_string_contains("Action=AssumeRoleWithWebIdentity"))
            .and(body_string_contains(format!("WebIdentityToken={AWS_JWT}")))
            .respond_with(ResponseTemplate::new(200).set_body_raw(assumed_role_xml(), "text/xml"))
            .expect(times)
            .mount(&self.aws_sts)
            .await;
    }

    async fn eks_answers(&self, key_id: &'static str, times: u64) {
        Mock::given(method("GET"))
            .and(path("/clusters/aws-leg"))
            .and(signed_for_eks(key_id))
            .respond_with(ResponseTemplate::new(200).set_body_json(describe_cluster_json()))
            .expect(times)
            .mount(&self.eks)
            .await;
    }

    /// Every request any fake received.
    async fn request_count(&self) -> usize {
        let mut count = 0;
        for server in [&self.oidc, &self.google, &self.aws_sts, &self.eks] {
            count += server.received_requests().await.map(|r| r.len()).unwrap_or(0);
        }
        count
    }
}

/// A copy of the fixture repository, a `$HOME`, an empty `$GITHUB_ENV` and a `bin/` for stubs.
struct Scene {
    _temp: tempfile::TempDir,
    workspace: PathBuf,
    home: PathBuf,
    github_env: PathBuf,
    stubs: Stubs,
    sops_log: PathBuf,
}

impl Scene {
    fn new() -> Self {
        let temp = tempfile::tempdir().expect("temp");
        let workspace = temp.path().join("workspace");
        copy_tree(&fixture("dropin-sops/repo"), &workspace);
        let home = temp.path().join("home");
        fs::create_dir_all(&home).expect("home");
        let github_env = temp.path().join("github_env");
        fs::write(&github_env, "").expect("GITHUB_ENV");
        // Stub helm (recording its calls), and a sops of this test's own.
        let stubs = Stubs::new(&temp.path().join("stubs"));
        write_sops_stub(&stubs.bin);
        let sops_log = temp.path().join("sops.log");
        Scene { _temp: temp, workspace, home, github_env, stubs, sops_log }
    }

    fn run(&self, fakes: &Fakes) -> ActionRun {
        self.action("action-setup-cluster", fakes).input("cluster", "aws-leg")
    }

    /// `action-deploy` with `leg`: the canary item of the fixture's cluster (support and staging).
    fn leg(&self, fakes: &Fakes) -> ActionRun {
        let item = json!({
            "cluster_name": "aws-leg",
            "provider": "aws",
            "upgrade_support": true,
            "reason_for_support_redeploy": "test",
            "upgrade_staging": true,
            "reason_for_staging_redeploy": "test",
            "staging_hubs": ["staging"],
        });
        self.action("action-deploy", fakes)
            .input("leg", item.to_string())
            .input("results-dir", "deploy-results")
            .env("GITHUB_RUN_ATTEMPT", "1")
            .env("TMPDIR", self.home.to_string_lossy())
    }

    fn action(&self, binary: &str, fakes: &Fakes) -> ActionRun {
        let mut run = ActionRun::new(binary, &self.workspace);
        for (name, value) in self.stubs.env() {
            run = run.env(&name, value);
        }
        run.env("HOME", self.home.to_string_lossy())
            .env("GITHUB_ENV", self.github_env.to_string_lossy())
            .env("STUB_SOPS_LOG", self.sops_log.to_string_lossy())
            .env("ACTIONS_ID_TOKEN_REQUEST_URL", format!("{}/oidc/token?api-version=2.0", fakes.oidc.uri()))
            .env("ACTIONS_ID_TOKEN_REQUEST_TOKEN", OIDC_REQUEST_TOKEN)
            .env("DEPLOYER_GOOGLE_STS_URL", format!("{}/sts", fakes.google.uri()))
            .env("DEPLOYER_GOOGLE_IAM_URL", format!("{}/iam", fakes.google.uri()))
            .env("DEPLOYER_AWS_STS_URL", fakes.aws_sts.uri())
            .env("DEPLOYER_AWS_EKS_URL", fakes.eks.uri())
            .env("DEPLOYER_ALLOW_INSECURE_ENDPOINTS", "1")
    }

    fn exported(&self) -> std::collections::BTreeMap<String, String> {
        parse_github_output(&fs::read_to_string(&self.github_env).expect("GITHUB_ENV"))
    }
}

/// A `sops` that decrypts only with a GCP `external_account` credentials file
/// (as real sops would for the fixture's `gcp_kms` key), records each file it
/// decrypted, and prints the access key JSON the cluster's `key:` file holds.
fn write_sops_stub(bin: &Path) {
    let script = format!(
        r#"#!/bin/sh
[ "$1" = --decrypt ] || {{ echo "stub sops: unexpected $*" >&2; exit 2; }}
if [ -z "$GOOGLE_APPLICATION_CREDENTIALS" ] || ! grep -q '"type":"external_account"' "$GOOGLE_APPLICATION_CREDENTIALS"; then
    echo "stub sops: no GCP credentials for the gcp_kms key" >&2
    exit 1
fi
printf '%s %s\n' "$2" "$GOOGLE_APPLICATION_CREDENTIALS" >>"$STUB_SOPS_LOG"
printf '{{"AccessKey": {{"AccessKeyId": "{FILE_KEY_ID}", "SecretAccessKey": "{FILE_SECRET}"}}}}'
"#
    );
    let file = bin.join("sops");
    fs::write(&file, script).expect("sops stub");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&file, fs::Permissions::from_mode(0o755)).expect("chmod");
    }
}

/// The GCP credentials file exported for sops: private, `external_account`,
/// for the sops identity's provider at the fake STS, asking GitHub for fresh
/// tokens; direct federation (no impersonation) when no service account is given.
fn assert_gcp_file(scene: &Scene, fakes: &Fakes, exported: &std::collections::BTreeMap<String, String>) {
    let gcp_file = exported.get("GOOGLE_APPLICATION_CREDENTIALS").expect("GOOGLE_APPLICATION_CREDENTIALS exported");
    assert_eq!(Path::new(gcp_file), scene.home.join(".kube/deployer-aws-leg-gcp-credentials.json"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(fs::metadata(gcp_file).expect("written").permissions().mode() & 0o777, 0o600);
    }
    let file: serde_json::Value = serde_json::from_str(&fs::read_to_string(gcp_file).expect("read")).expect("JSON");
    assert_eq!(file["type"], "external_account");
    assert_eq!(file["audience"], format!("//iam.googleapis.com/{GCP_PROVIDER}"));
    assert_eq!(file["token_url"], format!("{}/sts/v1/token", fakes.google.uri()));
    assert!(file.get("service_account_impersonation_url").is_none(), "{file}");
    let source = file["credential_source"]["url"].as_str().expect("url");
    assert!(source.starts_with(&format!("{}/oidc/token?api-version=2.0&audience=https%3A%2F%2Fiam", fakes.oidc.uri())));
    assert_eq!(file["credential_source"]["headers"]["Authorization"], format!("Bearer {OIDC_REQUEST_TOKEN}"));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_aws_cluster_gets_gcp_credentials_for_its_gcp_kms_rules() {
    let fakes = Fakes::start().await;
    fakes.oidc_answers("sts.amazonaws.com", AWS_JWT, 1).await;
    fakes.oidc_answers(&gcp_audience(), GCP_JWT, 1).await;
    fakes.google_sts_answers(1).await;
    fakes.aws_sts_answers(1).await;
    fakes.eks_answers(ASSUMED_KEY_ID, 1).await;
    let scene = Scene::new();
    let result = scene
        .run(&fakes)
        .input("role-to-assume", ROLE)
        .input("sops-gcp-workload-identity-provider", GCP_PROVIDER)
        .run_async()
        .await;
    assert!(result.success(), "{}", logs(&result));
    assert_eq!(result.output("provider"), "aws");
    assert!(
        result.stdout.contains(
            "For sops: a separate GCP identity for the repository's `gcp_kms` keys (cluster aws-leg is aws)\n"
        ),
        "{}",
        logs(&result)
    );

    // AWS kube access and, beside it, GCP for sops: both in the variables sops reads.
    let exported = scene.exported();
    assert_eq!(
        exported.keys().map(String::as_str).collect::<Vec<_>>(),
        [
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_SESSION_TOKEN",
            "GOOGLE_APPLICATION_CREDENTIALS",
            "KUBECONFIG"
        ]
    );
    assert_eq!(exported["AWS_ACCESS_KEY_ID"], ASSUMED_KEY_ID);
    assert_gcp_file(&scene, &fakes, &exported);
    // The job's OIDC bearer (in the file) and the federated token are masked, never printed.
    for secret in [OIDC_REQUEST_TOKEN, FEDERATED_TOKEN] {
        let mask = format!("::add-mask::{secret}");
        assert!(result.stdout.lines().any(|l| l == mask), "{secret} not masked\n{}", logs(&result));
        assert!(result.stdout.lines().filter(|l| l.contains(secret)).all(|l| l == mask), "{}", logs(&result));
        assert!(!result.stderr.contains(secret));
    }
    // The cluster's role was used for kube access, not the key file: sops never ran.
    assert!(!scene.sops_log.exists());
    // No warning about `.sops.yaml`: every rule's keys are covered.
    assert!(!result.stdout.contains("::warning file=.sops.yaml"), "{}", logs(&result));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_clusters_key_file_is_decrypted_with_the_gcp_identity() {
    let fakes = Fakes::start().await;
    fakes.oidc_answers(&gcp_audience(), GCP_JWT, 1).await;
    fakes.oidc_answers("sts.amazonaws.com", AWS_JWT, 0).await;
    fakes.google_sts_answers(1).await;
    fakes.aws_sts_answers(0).await;
    // The keys from the decrypted key file reach EKS.
    fakes.eks_answers(FILE_KEY_ID, 1).await;
    let scene = Scene::new();
    let result = scene.run(&fakes).input("sops-gcp-workload-identity-provider", GCP_PROVIDER).run_async().await;
    assert!(result.success(), "{}", logs(&result));

    // sops decrypted the `key:` file with the GCP identity's credentials file.
    let exported = scene.exported();
    let gcp_file = &exported["GOOGLE_APPLICATION_CREDENTIALS"];
    let log = fs::read_to_string(&scene.sops_log).expect("sops ran");
    let key_file = scene.workspace.join("config/clusters/aws-leg/enc-deployer-credentials.secret.json");
    assert_eq!(log, format!("{} {gcp_file}\n", key_file.display()));
    assert_gcp_file(&scene, &fakes, &exported);
    assert_eq!(exported["AWS_ACCESS_KEY_ID"], FILE_KEY_ID);
    assert!(!exported.contains_key("AWS_SESSION_TOKEN"));
    let mask = format!("::add-mask::{FILE_SECRET}");
    assert!(result.stdout.lines().any(|l| l == mask), "{}", logs(&result));
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_sops_identity_the_leg_is_refused_before_any_request() {
    let fakes = Fakes::start().await;
    let scene = Scene::new();
    for keyless_cluster in [true, false] {
        let mut run = scene.run(&fakes);
        if keyless_cluster {
            run = run.input("role-to-assume", ROLE);
        }
        let result = run.run_async().await;
        assert_eq!(result.output.status.code(), Some(1), "{}", logs(&result));
        let annotation = result
            .stdout
            .lines()
            .find(|l| l.starts_with("::error file=.sops.yaml,line=4,"))
            .unwrap_or_else(|| panic!("no error at the rule\n{}", logs(&result)));
        let values = "config/clusters/aws-leg/enc-support.secret.values.yaml, \
                      config/clusters/aws-leg/enc-staging.secret.values.yaml";
        let files = match keyless_cluster {
            true => values.to_owned(),
            // The key file is read first, before the cluster's own credentials exist.
            false => format!("config/clusters/aws-leg/enc-deployer-credentials.secret.json, {values}"),
        };
        assert!(
            annotation.contains(&format!(
                "cluster aws-leg decrypts {files} under this rule, which encrypts with `gcp_kms` keys, but the leg \
                 has no credentials for them"
            )),
            "{annotation}"
        );
        assert!(result.stderr.contains(".sops.yaml:4:3: creation_rules[0]:"), "{}", logs(&result));
        assert!(result.stderr.contains("set `sops-gcp-workload-identity-provider`"), "{}", logs(&result));
        // Refused before anything: no request, no sops, nothing exported or written.
        assert_eq!(fakes.request_count().await, 0);
        assert!(!scene.sops_log.exists());
        assert_eq!(fs::read_to_string(&scene.github_env).expect("GITHUB_ENV"), "");
        assert!(!scene.home.join(".kube").exists() || fs::read_dir(scene.home.join(".kube")).unwrap().next().is_none());
    }
}

/// The leg's `results.json`: cluster → result.
fn leg_results(scene: &Scene) -> serde_json::Value {
    let text = fs::read_to_string(scene.workspace.join("deploy-results/results.json")).expect("results.json");
    serde_json::from_str::<serde_json::Value>(&text).expect("JSON")["clusters"].clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_leg_decrypts_its_values_with_the_gcp_identity_on_an_aws_cluster() {
    let fakes = Fakes::start().await;
    fakes.oidc_answers("sts.amazonaws.com", AWS_JWT, 1).await;
    fakes.oidc_answers(&gcp_audience(), GCP_JWT, 1).await;
    fakes.google_sts_answers(1).await;
    fakes.aws_sts_answers(1).await;
    fakes.eks_answers(ASSUMED_KEY_ID, 1).await;
    let scene = Scene::new();
    let result = scene
        .leg(&fakes)
        .input("role-to-assume", ROLE)
        .input("sops-gcp-workload-identity-provider", GCP_PROVIDER)
        .run_async()
        .await;
    assert!(result.success(), "{}", logs(&result));
    assert_eq!(leg_results(&scene), json!({"aws-leg": "success"}));

    // Each `enc-` values file went through sops with the GCP credentials file, in the leg's private folder.
    let gcp_file = scene.home.join(".kube/deployer-aws-leg-gcp-credentials.json");
    let log = fs::read_to_string(&scene.sops_log).expect("sops ran");
    let decrypted: Vec<&str> = log.lines().collect();
    let clusters = scene.workspace.join("config/clusters/aws-leg");
    assert_eq!(
        decrypted,
        [
            format!("{} {}", clusters.join("enc-support.secret.values.yaml").display(), gcp_file.display()),
            format!("{} {}", clusters.join("enc-staging.secret.values.yaml").display(), gcp_file.display()),
        ]
    );
    // helm upgraded both releases; the leg removed its credential files when the cluster was done.
    let upgrades: Vec<String> =
        scene.stubs.calls_of("helm").into_iter().filter(|a| a[0] == "upgrade").map(|a| a[2].clone()).collect();
    assert_eq!(upgrades, ["support", "staging"]);
    assert!(!gcp_file.exists(), "credentials file left behind");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_leg_without_a_sops_identity_fails_the_cluster_before_helm() {
    let fakes = Fakes::start().await;
    let scene = Scene::new();
    let result = scene.leg(&fakes).input("role-to-assume", ROLE).run_async().await;
    assert!(!result.success(), "{}", logs(&result));
    assert_eq!(leg_results(&scene), json!({"aws-leg": "failure"}));
    assert!(
        result.stdout.contains("::error file=.sops.yaml,line=4,col=3::creation_rules[0]: cluster aws-leg decrypts"),
        "{}",
        logs(&result)
    );
    assert_eq!(fakes.request_count().await, 0);
    assert!(scene.stubs.calls_of("helm").iter().all(|a| a[0] != "upgrade"), "helm upgraded");
    assert!(!scene.sops_log.exists());
}
