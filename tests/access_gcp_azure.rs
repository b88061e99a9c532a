//! `action-setup-cluster` for GKE and AKS, through the real binary with the
//! runner's contract, against local fakes of GitHub's OIDC endpoint, Google
//! STS / IAM credentials / OAuth / GKE, and Microsoft Entra ID / ARM.

mod support;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine;
use serde_json::{json, Value};
use support::{copy_tree, example_repo, ActionResult, ActionRun};
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

const PROVIDER: &str = "projects/123456/locations/global/workloadIdentityPools/github/providers/deployer";
const SERVICE_ACCOUNT: &str = "deployer@cluster1-project.iam.gserviceaccount.com";
const REQUEST_TOKEN: &str = "runner-request-token-0001";
const ID_TOKEN: &str = "eyJhbGciOiJSUzI1NiJ9.github-oidc-id-token.0002";
const FEDERATED_TOKEN: &str = "ya29.federated-access-token-0003";
const SA_TOKEN: &str = "ya29.service-account-token-0004";
const KEY_TOKEN: &str = "ya29.key-access-token-0005";
const GKE_PATH: &str = "/gke/v1/projects/cluster1-project/locations/us-central1/clusters/cluster1-cluster";

const CLIENT_ID: &str = "11111111-2222-3333-4444-555555555555";
const TENANT_ID: &str = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee";
const SUBSCRIPTION_ID: &str = "99999999-8888-7777-6666-555555555555";
const CLIENT_SECRET: &str = "client~secret~value~0006";
const ARM_TOKEN: &str = "eyJ0eXAiOiJKV1Qi.arm-access-token.0007";
const AKS_USER_TOKEN: &str = "aks-user-token-0123456789abcdef";
const ARM_PATH: &str = "/arm/subscriptions/99999999-8888-7777-6666-555555555555/resourceGroups/rg5/providers/\
                        Microsoft.ContainerService/managedClusters/aks5/listClusterUserCredential";

const CLUSTER5: &str = "name: cluster5\nprovider: azure\nazure:\n  resource_group: rg5\n  cluster: aks5\nhubs: []\n";

fn ca_data() -> String {
    base64::engine::general_purpose::STANDARD
        .encode("-----BEGIN CERTIFICATE-----\nMIIBfakeCA\n-----END CERTIFICATE-----\n")
}

fn aks_kubeconfig() -> String {
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n    certificate-authority-data: {}\n    \
         server: https://aks5-dns-12345.hcp.westeurope.azmk8s.io:443\n  name: aks5\ncontexts:\n- context:\n    \
         cluster: aks5\n    user: clusterUser_rg5_aks5\n  name: aks5\ncurrent-context: aks5\npreferences: {{}}\n\
         users:\n- name: clusterUser_rg5_aks5\n  user:\n    token: {AKS_USER_TOKEN}\n",
        ca_data()
    )
}

/// One matrix leg: a copy of the example repository (with an AKS cluster
/// added), a `$HOME` and an empty `$GITHUB_ENV`.
struct Leg {
    workspace: tempfile::TempDir,
    home: tempfile::TempDir,
    env_file: PathBuf,
}

fn leg() -> Leg {
    let workspace = tempfile::tempdir().expect("temp");
    copy_tree(&example_repo(), workspace.path());
    let cluster5 = workspace.path().join("config/clusters/cluster5");
    fs::create_dir_all(&cluster5).expect("cluster5 folder");
    fs::write(cluster5.join("cluster.yaml"), CLUSTER5).expect("cluster5");
    let home = tempfile::tempdir().expect("temp");
    let env_file = home.path().join("github_env");
    fs::write(&env_file, "").expect("env file");
    Leg { workspace, home, env_file }
}

impl Leg {
    /// The action for `cluster`, every cloud endpoint pointing at `server`; no OIDC.
    fn run(&self, server: &MockServer, cluster: &str) -> ActionRun {
        let uri = server.uri();
        ActionRun::new("action-setup-cluster", self.workspace.path())
            .env("HOME", self.home.path().to_string_lossy())
            .env("GITHUB_ENV", self.env_file.to_string_lossy())
            .env("DEPLOYER_GOOGLE_STS_URL", format!("{uri}/sts"))
            .env("DEPLOYER_GOOGLE_IAM_URL", format!("{uri}/iam"))
            .env("DEPLOYER_GOOGLE_OAUTH_URL", format!("{uri}/oauth"))
            .env("DEPLOYER_GKE_URL", format!("{uri}/gke"))
            .env("DEPLOYER_AZURE_LOGIN_URL", format!("{uri}/login"))
            .env("DEPLOYER_AZURE_ARM_URL", format!("{uri}/arm/"))
            .env("DEPLOYER_ALLOW_INSECURE_ENDPOINTS", "1")
            .input("cluster", cluster)
    }

    /// As [`Leg::run`], in a job with `permissions: id-token: write`.
    fn run_with_oidc(&self, server: &MockServer, cluster: &str) -> ActionRun {
        self.run(server, cluster)
            .env("ACTIONS_ID_TOKEN_REQUEST_URL", format!("{}/oidc/token?api-version=2.0", server.uri()))
            .env("ACTIONS_ID_TOKEN_REQUEST_TOKEN", REQUEST_TOKEN)
    }

    fn kubeconfig_path(&self, cluster: &str) -> PathBuf {
        self.home.path().join(format!(".kube/deployer-{cluster}.yaml"))
    }
}

/// GitHub's OIDC endpoint: one token for `audience`, asked with the runner's bearer.
async fn mount_oidc(server: &MockServer, audience: &str, times: u64) {
    Mock::given(method("GET"))
        .and(path("/oidc/token"))
        .and(query_param("api-version", "2.0"))
        .and(query_param("audience", audience))
        .and(header("authorization", format!("Bearer {REQUEST_TOKEN}").as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"value": ID_TOKEN})))
        .expect(times)
        .mount(server)
        .await;
}

async fn mount_sts(server: &MockServer, response: ResponseTemplate) {
    Mock::given(method("POST"))
        .and(path("/sts/v1/token"))
        .and(header("content-type", "application/x-www-form-urlencoded"))
        .respond_with(response)
        .expect(1)
        .mount(server)
        .await;
}

async fn mount_iam(server: &MockServer, times: u64) {
    Mock::given(method("POST"))
        .and(path(format!("/iam/v1/projects/-/serviceAccounts/{SERVICE_ACCOUNT}:generateAccessToken")))
        .and(header("authorization", format!("Bearer {FEDERATED_TOKEN}").as_str()))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"accessToken": SA_TOKEN, "expireTime": "2030-01-01T00:00:00Z"})),
        )
        .expect(times)
        .mount(server)
        .await;
}

async fn mount_gke(server: &MockServer, bearer: &str, response: ResponseTemplate) {
    Mock::given(method("GET"))
        .and(path(GKE_PATH))
        .and(header("authorization", format!("Bearer {bearer}").as_str()))
        .respond_with(response)
        .expect(1)
        .mount(server)
        .await;
}

fn gke_cluster() -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "name": "cluster1-cluster",
        "endpoint": "34.118.1.2",
        "status": "RUNNING",
        "masterAuth": {"clusterCaCertificate": ca_data()},
    }))
}

/// Every request `server` received on `path`.
async fn received(server: &MockServer, request_path: &str) -> Vec<wiremock::Request> {
    let all = server.received_requests().await.expect("recording is on");
    all.into_iter().filter(|r| r.url.path() == request_path).collect()
}

/// A form body, decoded.
fn form(body: &[u8]) -> Vec<(String, String)> {
    let decode = |text: &str| {
        let bytes = text.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'%' if i + 2 < bytes.len() => {
                    let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).expect("hex");
                    out.push(u8::from_str_radix(hex, 16).expect("percent escape"));
                    i += 3;
                }
                b'+' => {
                    out.push(b' ');
                    i += 1;
                }
                byte => {
                    out.push(byte);
                    i += 1;
                }
            }
        }
        String::from_utf8(out).expect("UTF-8 form value")
    };
    std::str::from_utf8(body)
        .expect("UTF-8 form")
        .split('&')
        .map(|pair| {
            let (name, value) = pair.split_once('=').expect("name=value");
            (decode(name), decode(value))
        })
        .collect()
}

fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
}

/// The run succeeded: the kubeconfig is written privately, exported and output.
fn assert_ready(leg: &Leg, result: &ActionResult, cluster: &str, provider: &str) -> String {
    assert!(result.success(), "{}\n{}", result.stdout, result.stderr);
    let written = leg.kubeconfig_path(cluster);
    assert_eq!(result.output("kubeconfig"), written.to_string_lossy());
    assert_eq!(result.output("provider"), provider);
    let env_text = fs::read_to_string(&leg.env_file).expect("GITHUB_ENV");
    assert!(env_text.starts_with("KUBECONFIG<<ghadelimiter_"), "{env_text}");
    let env = support::parse_github_output(&env_text);
    assert_eq!(env["KUBECONFIG"], written.to_string_lossy());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(fs::metadata(&written).expect("kubeconfig").permissions().mode() & 0o777, 0o600);
    }
    assert!(!written.starts_with(leg.workspace.path()), "outside the checkout");
    let text = fs::read_to_string(&written).expect("kubeconfig");
    deployer::cluster::access::kubeconfig::check(&text).expect("a valid kubeconfig");
    text
}

/// Each secret is registered with `::add-mask::` and appears on no other line of the logs.
fn assert_masked(result: &ActionResult, secrets: &[&str]) {
    for secret in secrets {
        assert!(
            result.stdout.lines().any(|line| line == format!("::add-mask::{secret}")),
            "{secret} is not masked:\n{}",
            result.stdout
        );
        for line in result.stdout.lines().filter(|line| line.contains(secret)) {
            assert!(line.starts_with("::add-mask::"), "{secret} leaks in {line:?}");
        }
        assert!(!result.stderr.contains(secret), "{secret} leaks in stderr:\n{}", result.stderr);
    }
}

/// The run failed with exit code 1 and this error annotation, and wrote nothing.
fn assert_failed(leg: &Leg, result: &ActionResult, cluster: &str, fragments: &[&str]) -> String {
    assert_eq!(result.output.status.code(), Some(1), "{}\n{}", result.stdout, result.stderr);
    let annotation = result
        .stdout
        .lines()
        .find(|line| line.starts_with("::error::"))
        .unwrap_or_else(|| panic!("no error annotation:\n{}", result.stdout))
        .to_owned();
    for fragment in fragments {
        assert!(annotation.contains(fragment), "{fragment:?} not in {annotation}");
    }
    assert!(result.stderr.starts_with("error: "), "{}", result.stderr);
    assert_eq!(result.raw_outputs, "", "GITHUB_OUTPUT must stay empty");
    assert_eq!(fs::read_to_string(&leg.env_file).expect("GITHUB_ENV"), "", "GITHUB_ENV must stay empty");
    assert!(!leg.kubeconfig_path(cluster).exists());
    annotation
}

#[tokio::test(flavor = "multi_thread")]
async fn gcp_keyless_exchanges_the_oidc_token_and_impersonates_the_service_account() {
    let server = MockServer::start().await;
    mount_oidc(&server, &format!("https://iam.googleapis.com/{PROVIDER}"), 1).await;
    let federated = json!({"access_token": FEDERATED_TOKEN, "issued_token_type":
        "urn:ietf:params:oauth:token-type:access_token", "token_type": "Bearer", "expires_in": 3600});
    mount_sts(&server, ResponseTemplate::new(200).set_body_json(federated)).await;
    mount_iam(&server, 1).await;
    mount_gke(&server, SA_TOKEN, gke_cluster()).await;

    let leg = leg();
    let result = leg
        .run_with_oidc(&server, "cluster1")
        .input("workload-identity-provider", PROVIDER)
        .input("service-account", SERVICE_ACCOUNT)
        .run_async()
        .await;
    let text = assert_ready(&leg, &result, "cluster1", "gcp");
    let parsed = deployer::cluster::access::kubeconfig::check(&text).expect("kubeconfig");
    assert_eq!(parsed.clusters[0].cluster.server, "https://34.118.1.2");
    assert!(text.contains(&format!("certificate-authority-data: {}", ca_data())), "{text}");
    assert!(text.contains(&format!("token: {SA_TOKEN}")), "{text}");
    assert_masked(&result, &[ID_TOKEN, FEDERATED_TOKEN, SA_TOKEN]);

    let sts = received(&server, "/sts/v1/token").await;
    let fields = form(&sts[0].body);
    let expected = [
        ("grant_type", "urn:ietf:params:oauth:grant-type:token-exchange"),
        ("audience", &format!("//iam.googleapis.com/{PROVIDER}")),
        ("scope", "https://www.googleapis.com/auth/cloud-platform"),
        ("requested_token_type", "urn:ietf:params:oauth:token-type:access_token"),
        ("subject_token_type", "urn:ietf:params:oauth:token-type:jwt"),
        ("subject_token", ID_TOKEN),
    ];
    for (name, value) in expected {
        assert_eq!(field(&fields, name), Some(value), "{name} in {fields:?}");
    }
    let iam =
        received(&server, &format!("/iam/v1/projects/-/serviceAccounts/{SERVICE_ACCOUNT}:generateAccessToken")).await;
    let body: Value = serde_json::from_slice(&iam[0].body).expect("JSON body");
    assert_eq!(body, json!({"scope": ["https://www.googleapis.com/auth/cloud-platform"], "lifetime": "3600s"}));

    // For sops: an external_account file (0600, beside the kubeconfig) that asks the job's OIDC endpoint
    // for fresh tokens and impersonates the service account; the request token in it is masked.
    let exported = exported(&leg);
    let credentials = &exported["GOOGLE_APPLICATION_CREDENTIALS"];
    assert_eq!(Path::new(credentials), leg.home.path().join(".kube/deployer-cluster1-gcp-credentials.json"));
    let file: Value = serde_json::from_str(&private_file(credentials)).expect("JSON");
    assert_eq!(file["type"], "external_account");
    assert_eq!(file["audience"], format!("//iam.googleapis.com/{PROVIDER}"));
    assert_eq!(file["token_url"], format!("{}/sts/v1/token", server.uri()));
    assert_eq!(
        file["service_account_impersonation_url"],
        format!("{}/iam/v1/projects/-/serviceAccounts/{SERVICE_ACCOUNT}:generateAccessToken", server.uri())
    );
    let url = file["credential_source"]["url"].as_str().expect("url");
    assert!(
        url.starts_with(&format!(
            "{}/oidc/token?api-version=2.0&audience=https%3A%2F%2Fiam.googleapis.com%2F",
            server.uri()
        )),
        "{url}"
    );
    assert_eq!(file["credential_source"]["headers"]["Authorization"], format!("Bearer {REQUEST_TOKEN}"));
    assert_eq!(file["credential_source"]["format"]["subject_token_field_name"], "value");
    assert_masked(&result, &[REQUEST_TOKEN]);
}

/// What setup-cluster exported to `$GITHUB_ENV`.
fn exported(leg: &Leg) -> std::collections::BTreeMap<String, String> {
    support::parse_github_output(&fs::read_to_string(&leg.env_file).expect("GITHUB_ENV"))
}

/// A file setup-cluster wrote for sops: mode 0600; its text.
fn private_file(path: &str) -> String {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(fs::metadata(path).expect("written").permissions().mode() & 0o777, 0o600, "{path}");
    }
    fs::read_to_string(path).expect("file")
}

#[tokio::test(flavor = "multi_thread")]
async fn gcp_key_file_named_in_cluster_yaml_is_decrypted_and_used() {
    let keys = tempfile::tempdir().expect("temp");
    let (pem, _public) = test_key(keys.path());
    let credentials = serde_json::to_string_pretty(&json!({
        "type": "service_account",
        "project_id": "cluster1-project",
        "private_key_id": "file-key-id-0123456789",
        "private_key": pem,
        "client_email": SERVICE_ACCOUNT,
        "token_uri": "https://oauth2.googleapis.com/token",
    }))
    .expect("JSON");
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"access_token": KEY_TOKEN, "expires_in": 3599, "token_type": "Bearer"})),
        )
        .expect(1)
        .mount(&server)
        .await;
    mount_gke(&server, KEY_TOKEN, gke_cluster()).await;

    let leg = leg();
    let folder = leg.workspace.path().join("config/clusters/cluster1");
    let cluster = fs::read_to_string(folder.join("cluster.yaml")).expect("cluster.yaml");
    let cluster = cluster
        .replace("gcp:\n", "gcp:\n  key: enc-deployer-credentials.secret.json\n  billing:\n    paid_by_us: true\n");
    fs::write(folder.join("cluster.yaml"), cluster).expect("cluster.yaml");
    let age = support::age::AgeKey::generate();
    support::age::sops_encrypt(&credentials, &age.recipient, &folder.join("enc-deployer-credentials.secret.json"));

    let result = leg
        .run(&server, "cluster1")
        .input("sops-age-key", age.secret.clone())
        .env("PATH", support::tools_dir().display().to_string())
        .run_async()
        .await;
    let text = assert_ready(&leg, &result, "cluster1", "gcp");
    assert!(text.contains(&format!("token: {KEY_TOKEN}")), "{text}");
    assert!(!result.stdout.contains("::add-mask::service_account"), "only the key's secret parts are masked");
    let key_line = pem.lines().nth(1).expect("a key line");
    assert_masked(&result, &[KEY_TOKEN, "file-key-id-0123456789", key_line, &age.secret]);
    // The key file in clear only where GOOGLE_APPLICATION_CREDENTIALS points, 0600, outside the checkout.
    let exported = exported(&leg);
    // (sops re-indents JSON it decrypts: compare the documents.)
    let written: Value =
        serde_json::from_str(&private_file(&exported["GOOGLE_APPLICATION_CREDENTIALS"])).expect("JSON");
    assert_eq!(written, serde_json::from_str::<Value>(&credentials).expect("JSON"));
    assert!(!exported["GOOGLE_APPLICATION_CREDENTIALS"].starts_with(&leg.workspace.path().display().to_string()));
    assert_eq!(exported["SOPS_AGE_KEY"], age.secret);
}

/// A throwaway RSA key made for this test (PKCS#8 PEM) and its public half.
fn test_key(dir: &Path) -> (String, PathBuf) {
    let private = dir.join("key.pem");
    let public = dir.join("pub.pem");
    let status = Command::new("openssl")
        .args(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out"])
        .arg(&private)
        .output()
        .expect("openssl is needed to make a test key");
    assert!(status.status.success(), "{}", String::from_utf8_lossy(&status.stderr));
    let status = Command::new("openssl")
        .arg("pkey")
        .arg("-in")
        .arg(&private)
        .arg("-pubout")
        .arg("-out")
        .arg(&public)
        .output()
        .expect("openssl");
    assert!(status.status.success(), "{}", String::from_utf8_lossy(&status.stderr));
    (fs::read_to_string(&private).expect("key"), public)
}

/// Whether `signature` is `input`'s RS256 signature by the key of `public_pem` (checked by openssl).
fn rs256_verifies(dir: &Path, public_pem: &Path, input: &str, signature: &[u8]) -> bool {
    let input_file = dir.join("jwt-input");
    let signature_file = dir.join("jwt-signature");
    fs::write(&input_file, input).expect("input");
    fs::write(&signature_file, signature).expect("signature");
    Command::new("openssl")
        .args(["dgst", "-sha256", "-verify"])
        .arg(public_pem)
        .arg("-signature")
        .arg(&signature_file)
        .arg(&input_file)
        .output()
        .expect("openssl")
        .status
        .success()
}

#[tokio::test(flavor = "multi_thread")]
async fn gcp_credentials_json_signs_a_jwt_with_the_key() {
    let keys = tempfile::tempdir().expect("temp");
    let (pem, public) = test_key(keys.path());
    let credentials = serde_json::to_string_pretty(&json!({
        "type": "service_account",
        "project_id": "cluster1-project",
        "private_key_id": "test-key-id-1",
        "private_key": pem,
        "client_email": SERVICE_ACCOUNT,
        "client_id": "100000000000000000001",
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": "https://oauth2.googleapis.com/token",
    }))
    .expect("JSON");

    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .and(header("content-type", "application/x-www-form-urlencoded"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"access_token": KEY_TOKEN, "expires_in": 3599, "token_type": "Bearer"})),
        )
        .expect(1)
        .mount(&server)
        .await;
    mount_gke(&server, KEY_TOKEN, gke_cluster()).await;

    let leg = leg();
    let before = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("time").as_secs();
    let result = leg.run(&server, "cluster1").input("credentials-json", credentials).run_async().await;
    let text = assert_ready(&leg, &result, "cluster1", "gcp");
    assert!(text.contains(&format!("token: {KEY_TOKEN}")), "{text}");

    // The JWT: RS256 by the key, with the service account's claims.
    let requests = received(&server, "/oauth/token").await;
    let fields = form(&requests[0].body);
    assert_eq!(field(&fields, "grant_type"), Some("urn:ietf:params:oauth:grant-type:jwt-bearer"));
    let assertion = field(&fields, "assertion").expect("assertion");
    let parts: Vec<&str> = assertion.split('.').collect();
    assert_eq!(parts.len(), 3, "{assertion}");
    let decode = |part: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(part).expect("base64url");
    let header: Value = serde_json::from_slice(&decode(parts[0])).expect("header");
    assert_eq!(header, json!({"alg": "RS256", "typ": "JWT", "kid": "test-key-id-1"}));
    let claims: Value = serde_json::from_slice(&decode(parts[1])).expect("claims");
    assert_eq!(claims["iss"], SERVICE_ACCOUNT);
    assert_eq!(claims["sub"], SERVICE_ACCOUNT);
    assert_eq!(claims["aud"], format!("{}/oauth/token", server.uri()));
    assert_eq!(claims["scope"], "https://www.googleapis.com/auth/cloud-platform");
    let iat = claims["iat"].as_u64().expect("iat");
    assert!(iat >= before && iat <= before + 120, "iat {iat}, started {before}");
    assert_eq!(claims["exp"].as_u64(), Some(iat + 3600));
    let input = format!("{}.{}", parts[0], parts[1]);
    let signature = decode(parts[2]);
    assert!(rs256_verifies(keys.path(), &public, &input, &signature), "the JWT signature does not verify");
    assert!(!rs256_verifies(keys.path(), &public, &format!("{input}x"), &signature), "the check is real");

    assert_masked(&result, &[KEY_TOKEN, assertion]);
    // The key itself is in no log line, except the input's own masks.
    for line in pem.lines().filter(|l| !l.starts_with("-----")) {
        assert!(!result.stderr.contains(line), "the key leaks in stderr");
        for out in result.stdout.lines().filter(|out| out.contains(line)) {
            assert!(out.starts_with("::add-mask::"), "the key leaks in {out:?}");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn gcp_keyless_without_the_id_token_permission_says_what_to_add() {
    let server = MockServer::start().await;
    let leg = leg();
    let result = leg
        .run(&server, "cluster1")
        .input("workload-identity-provider", PROVIDER)
        .input("service-account", SERVICE_ACCOUNT)
        .run_async()
        .await;
    assert_failed(
        &leg,
        &result,
        "cluster1",
        &["::error::gcp: getting the GitHub OIDC token failed: ", "add `permissions: id-token: write` to the job"],
    );
    assert!(server.received_requests().await.expect("recording").is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn gcp_sts_refusing_the_token_names_the_step_and_what_to_check() {
    let server = MockServer::start().await;
    mount_oidc(&server, &format!("https://iam.googleapis.com/{PROVIDER}"), 1).await;
    let refusal = json!({"error": "invalid_grant", "error_description":
        "The audience in ID Token [https://iam.googleapis.com/x] does not match the expected audience."});
    mount_sts(&server, ResponseTemplate::new(400).set_body_json(refusal)).await;
    mount_iam(&server, 0).await;

    let leg = leg();
    let result = leg
        .run_with_oidc(&server, "cluster1")
        .input("workload-identity-provider", PROVIDER)
        .input("service-account", SERVICE_ACCOUNT)
        .run_async()
        .await;
    assert_failed(
        &leg,
        &result,
        "cluster1",
        &[
            "::error::gcp: exchanging the GitHub OIDC token at Google STS failed: HTTP 400: invalid_grant: \
             The audience in ID Token",
            "does not match the expected audience; check that `workload-identity-provider`",
            "attribute condition",
        ],
    );
    assert_masked(&result, &[ID_TOKEN]);
}

#[tokio::test(flavor = "multi_thread")]
async fn gcp_gke_refusing_the_cluster_names_the_step_and_what_to_check() {
    let server = MockServer::start().await;
    mount_oidc(&server, &format!("https://iam.googleapis.com/{PROVIDER}"), 1).await;
    mount_sts(&server, ResponseTemplate::new(200).set_body_json(json!({"access_token": FEDERATED_TOKEN}))).await;
    mount_iam(&server, 1).await;
    let denied = json!({"error": {"code": 403, "status": "PERMISSION_DENIED", "message":
        "Required \"container.clusters.get\" permission(s) for \"projects/cluster1-project/locations/us-central1/clusters/cluster1-cluster\"."}});
    mount_gke(&server, SA_TOKEN, ResponseTemplate::new(403).set_body_json(denied)).await;

    let leg = leg();
    let result = leg
        .run_with_oidc(&server, "cluster1")
        .input("workload-identity-provider", PROVIDER)
        .input("service-account", SERVICE_ACCOUNT)
        .run_async()
        .await;
    assert_failed(
        &leg,
        &result,
        "cluster1",
        &[
            "::error::gcp: reading the GKE cluster failed: HTTP 403: PERMISSION_DENIED: Required \
             \"container.clusters.get\" permission(s)",
            "check gcp.project, gcp.zone and gcp.cluster in cluster.yaml",
            "container.clusters.get on the project",
        ],
    );
    assert_masked(&result, &[ID_TOKEN, FEDERATED_TOKEN, SA_TOKEN]);
}

/// Microsoft Entra ID's token endpoint of the tenant.
async fn mount_login(server: &MockServer, response: ResponseTemplate) {
    Mock::given(method("POST"))
        .and(path(format!("/login/{TENANT_ID}/oauth2/v2.0/token")))
        .and(header("content-type", "application/x-www-form-urlencoded"))
        .respond_with(response)
        .expect(1)
        .mount(server)
        .await;
}

async fn mount_arm(server: &MockServer, response: ResponseTemplate, times: u64) {
    Mock::given(method("POST"))
        .and(path(ARM_PATH))
        .and(query_param("api-version", "2024-05-01"))
        .and(header("authorization", format!("Bearer {ARM_TOKEN}").as_str()))
        .and(header("content-length", "0"))
        .respond_with(response)
        .expect(times)
        .mount(server)
        .await;
}

fn arm_token() -> ResponseTemplate {
    ResponseTemplate::new(200)
        .set_body_json(json!({"token_type": "Bearer", "expires_in": 3599, "access_token": ARM_TOKEN}))
}

fn user_credentials() -> ResponseTemplate {
    let value = base64::engine::general_purpose::STANDARD.encode(aks_kubeconfig());
    ResponseTemplate::new(200).set_body_json(json!({"kubeconfigs": [{"name": "clusterUser", "value": value}]}))
}

fn azure_inputs(run: ActionRun) -> ActionRun {
    run.input("client-id", CLIENT_ID).input("tenant-id", TENANT_ID).input("subscription-id", SUBSCRIPTION_ID)
}

async fn login_fields(server: &MockServer) -> Vec<(String, String)> {
    let requests = received(server, &format!("/login/{TENANT_ID}/oauth2/v2.0/token")).await;
    form(&requests[0].body)
}

#[tokio::test(flavor = "multi_thread")]
async fn azure_keyless_uses_the_oidc_token_as_client_assertion() {
    let server = MockServer::start().await;
    mount_oidc(&server, "api://AzureADTokenExchange", 1).await;
    mount_login(&server, arm_token()).await;
    mount_arm(&server, user_credentials(), 1).await;

    let leg = leg();
    let result = azure_inputs(leg.run_with_oidc(&server, "cluster5")).run_async().await;
    let text = assert_ready(&leg, &result, "cluster5", "azure");
    assert_eq!(text, aks_kubeconfig());
    assert_masked(&result, &[ID_TOKEN, ARM_TOKEN, AKS_USER_TOKEN]);

    let fields = login_fields(&server).await;
    assert_eq!(field(&fields, "client_id"), Some(CLIENT_ID));
    assert_eq!(field(&fields, "scope"), Some("https://management.azure.com/.default"));
    assert_eq!(field(&fields, "grant_type"), Some("client_credentials"));
    assert_eq!(field(&fields, "client_assertion_type"), Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer"));
    assert_eq!(field(&fields, "client_assertion"), Some(ID_TOKEN));
    assert_eq!(field(&fields, "client_secret"), None);

    // For sops (azidentity's workload identity credential): the ids and the token in a private file.
    let exported = exported(&leg);
    assert_eq!(exported["AZURE_CLIENT_ID"], CLIENT_ID);
    assert_eq!(exported["AZURE_TENANT_ID"], TENANT_ID);
    assert_eq!(private_file(&exported["AZURE_FEDERATED_TOKEN_FILE"]), ID_TOKEN);
    assert_eq!(exported["AZURE_AUTHORITY_HOST"], format!("{}/login/", server.uri()));
    assert!(!exported.contains_key("AZURE_CLIENT_SECRET"));
}

#[tokio::test(flavor = "multi_thread")]
async fn azure_client_secret_needs_no_oidc() {
    let server = MockServer::start().await;
    mount_oidc(&server, "api://AzureADTokenExchange", 0).await;
    mount_login(&server, arm_token()).await;
    mount_arm(&server, user_credentials(), 1).await;

    let leg = leg();
    let result =
        azure_inputs(leg.run_with_oidc(&server, "cluster5")).input("client-secret", CLIENT_SECRET).run_async().await;
    let text = assert_ready(&leg, &result, "cluster5", "azure");
    assert_eq!(text, aks_kubeconfig());
    assert_masked(&result, &[CLIENT_SECRET, ARM_TOKEN, AKS_USER_TOKEN]);

    let fields = login_fields(&server).await;
    assert_eq!(field(&fields, "client_id"), Some(CLIENT_ID));
    assert_eq!(field(&fields, "grant_type"), Some("client_credentials"));
    assert_eq!(field(&fields, "client_secret"), Some(CLIENT_SECRET));
    assert_eq!(field(&fields, "client_assertion"), None);
}

#[tokio::test(flavor = "multi_thread")]
async fn azure_expired_client_secret_says_to_renew_it() {
    let server = MockServer::start().await;
    let expired = json!({
        "error": "invalid_client",
        "error_description": "AADSTS7000222: The provided client secret keys for app '11111111-2222-3333-4444-555555555555' are expired. Visit the Azure portal to create new keys for your app: https://aka.ms/NewClientSecret, or consider using certificate credentials for added security: https://aka.ms/certCreds.\r\nTrace ID: 0a1b\r\nCorrelation ID: 2c3d\r\nTimestamp: 2024-06-01 12:00:00Z",
        "error_codes": [7000222],
    });
    mount_login(&server, ResponseTemplate::new(401).set_body_json(expired)).await;
    mount_arm(&server, user_credentials(), 0).await;

    let leg = leg();
    let result = azure_inputs(leg.run(&server, "cluster5")).input("client-secret", CLIENT_SECRET).run_async().await;
    let annotation = assert_failed(
        &leg,
        &result,
        "cluster5",
        &[
            "::error::azure: getting a Microsoft Entra ID token failed: HTTP 401: invalid_client: AADSTS7000222: \
             The provided client secret keys",
            "the client secret has expired: create a new one",
        ],
    );
    assert!(!annotation.contains("Trace ID"), "{annotation}");
    assert_masked(&result, &[CLIENT_SECRET]);
}

#[tokio::test(flavor = "multi_thread")]
async fn azure_arm_refusing_the_credentials_names_the_role() {
    let server = MockServer::start().await;
    mount_oidc(&server, "api://AzureADTokenExchange", 1).await;
    mount_login(&server, arm_token()).await;
    let denied = json!({"error": {"code": "AuthorizationFailed", "message": "The client '11111111' with object id \
        '11111111' does not have authorization to perform action \
        'Microsoft.ContainerService/managedClusters/listClusterUserCredential/action'."}});
    mount_arm(&server, ResponseTemplate::new(403).set_body_json(denied), 1).await;

    let leg = leg();
    let result = azure_inputs(leg.run_with_oidc(&server, "cluster5")).run_async().await;
    assert_failed(
        &leg,
        &result,
        "cluster5",
        &[
            "::error::azure: reading the AKS cluster user credentials failed: HTTP 403: AuthorizationFailed: ",
            "Azure Kubernetes Service Cluster User Role",
        ],
    );
    assert_masked(&result, &[ID_TOKEN, ARM_TOKEN]);
}

#[tokio::test(flavor = "multi_thread")]
async fn azure_without_its_ids_says_which_input_is_missing() {
    let server = MockServer::start().await;
    let leg = leg();
    let result = leg
        .run_with_oidc(&server, "cluster5")
        .input("client-id", CLIENT_ID)
        .input("subscription-id", SUBSCRIPTION_ID)
        .run_async()
        .await;
    assert_failed(&leg, &result, "cluster5", &["::error::azure: reading the inputs failed: `tenant-id` is required"]);
    assert!(server.received_requests().await.expect("recording").is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn azure_entra_id_clusters_warn_that_kubelogin_is_needed() {
    let exec_kubeconfig = "apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n    server: https://aks5.example:443\n  \
                           name: aks5\ncontexts:\n- context:\n    cluster: aks5\n    user: clusterUser_rg5_aks5\n  \
                           name: aks5\ncurrent-context: aks5\nusers:\n- name: clusterUser_rg5_aks5\n  user:\n    \
                           exec:\n      apiVersion: client.authentication.k8s.io/v1beta1\n      command: kubelogin\n      \
                           args: [get-token, --login, devicecode]\n";
    let server = MockServer::start().await;
    mount_oidc(&server, "api://AzureADTokenExchange", 1).await;
    mount_login(&server, arm_token()).await;
    let value = base64::engine::general_purpose::STANDARD.encode(exec_kubeconfig);
    let credentials = json!({"kubeconfigs": [{"name": "clusterUser", "value": value}]});
    mount_arm(&server, ResponseTemplate::new(200).set_body_json(credentials), 1).await;

    let leg = leg();
    let result = azure_inputs(leg.run_with_oidc(&server, "cluster5")).run_async().await;
    let text = assert_ready(&leg, &result, "cluster5", "azure");
    assert_eq!(text, exec_kubeconfig);
    // (The endpoint overrides in use are announced with warnings of their own.)
    let warning = result.stdout.lines().find(|l| l.starts_with("::warning::azure: ")).expect("a warning");
    assert!(warning.contains("azure: the kubeconfig of AKS cluster aks5 logs in with an exec plugin"), "{warning}");
    assert!(warning.contains("install kubelogin on the runner"), "{warning}");
    assert!(warning.contains("enable local accounts"), "{warning}");
    assert_masked(&result, &[ID_TOKEN, ARM_TOKEN]);
}
