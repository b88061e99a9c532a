//! AWS access: SigV4 presigning against AWS's published example, the EKS
//! token, and `action-setup-cluster` end to end against fakes of the GitHub
//! OIDC endpoint, STS and EKS on 127.0.0.1.

mod support;

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use base64::Engine;
use deployer::cluster::access::aws::{eks_token, presign_url, AwsKeys, Presign};
use deployer::cluster::access::kubeconfig;
use serde_json::json;
use support::{copy_tree, example_repo, ActionResult, ActionRun};
use wiremock::matchers::{body_string_contains, header, method, path, query_param};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const EXAMPLE_KEY_ID: &str = "AKIAIOSFODNN7EXAMPLE";
const EXAMPLE_SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

/// 2013-05-24T00:00:00Z.
fn may_24_2013() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_369_353_600)
}

/// The example of "Authenticating Requests: Using Query Parameters (AWS
/// Signature Version 4)" in the Amazon S3 API reference: a GET of
/// examplebucket/test.txt presigned for 24 hours.
#[test]
fn presigning_reproduces_the_aws_s3_example() {
    let keys = AwsKeys::new(EXAMPLE_KEY_ID, EXAMPLE_SECRET, None);
    let url = presign_url(
        &keys,
        &Presign {
            service: "s3",
            region: "us-east-1",
            url: "https://examplebucket.s3.amazonaws.com/test.txt",
            headers: &[],
            expires: Duration::from_secs(86400),
            time: may_24_2013(),
        },
    )
    .unwrap();
    assert_eq!(
        url,
        "https://examplebucket.s3.amazonaws.com/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256\
         &X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request\
         &X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host\
         &X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
    );
}

fn decode_token(token: &str) -> String {
    let encoded = token.strip_prefix("k8s-aws-v1.").expect("token prefix");
    assert!(!encoded.contains(['=', '+', '/']), "base64url without padding: {encoded}");
    String::from_utf8(base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(encoded).expect("base64url"))
        .expect("UTF-8")
}

/// The same presigning, for STS `GetCallerIdentity` with the cluster name signed in.
#[test]
fn eks_token_is_a_presigned_get_caller_identity() {
    let keys = AwsKeys::new(EXAMPLE_KEY_ID, EXAMPLE_SECRET, None);
    let sts = "https://sts.us-west-2.amazonaws.com";
    let token = eks_token(&keys, sts, "us-west-2", "cluster2", may_24_2013()).unwrap();
    let url = decode_token(&token);
    assert_eq!(
        url,
        "https://sts.us-west-2.amazonaws.com/?Action=GetCallerIdentity&Version=2011-06-15\
         &X-Amz-Algorithm=AWS4-HMAC-SHA256\
         &X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-west-2%2Fsts%2Faws4_request\
         &X-Amz-Date=20130524T000000Z&X-Amz-Expires=60&X-Amz-SignedHeaders=host%3Bx-k8s-aws-id\
         &X-Amz-Signature=cd1d052670bb626cc980b193bc90938376911aefbe377ab646842482c50ade74"
    );
    // Checked against an independent implementation of the SigV4 steps (canonical
    // request over the empty body, string to sign, HMAC chain), as for the S3 example.
    assert_eq!(
        token,
        concat!(
            "k8s-aws-v1.aHR0cHM6Ly9zdHMudXMtd2VzdC0yLmFtYXpvbmF3cy5jb20vP0FjdGlvbj1HZXRDYWxsZXJJZGVudGl0eSZWZXJza",
            "W9uPTIwMTEtMDYtMTUmWC1BbXotQWxnb3JpdGhtPUFXUzQtSE1BQy1TSEEyNTYmWC1BbXotQ3JlZGVudGlhbD1BS0lBSU9TRk9ET",
            "k43RVhBTVBMRSUyRjIwMTMwNTI0JTJGdXMtd2VzdC0yJTJGc3RzJTJGYXdzNF9yZXF1ZXN0JlgtQW16LURhdGU9MjAxMzA1MjRUM",
            "DAwMDAwWiZYLUFtei1FeHBpcmVzPTYwJlgtQW16LVNpZ25lZEhlYWRlcnM9aG9zdCUzQngtazhzLWF3cy1pZCZYLUFtei1TaWduY",
            "XR1cmU9Y2QxZDA1MjY3MGJiNjI2Y2M5ODBiMTkzYmM5MDkzODM3NjkxMWFlZmJlMzc3YWI2NDY4NDI0ODJjNTBhZGU3NA"
        )
    );
    // The signature depends on the cluster name and the time.
    assert_ne!(eks_token(&keys, sts, "us-west-2", "cluster3", may_24_2013()).unwrap(), token);
    let later = may_24_2013() + Duration::from_secs(1);
    assert_ne!(eks_token(&keys, sts, "us-west-2", "cluster2", later).unwrap(), token);
}

#[test]
fn eks_token_with_temporary_keys_signs_the_session_token() {
    let keys = AwsKeys::new("ASIAEXAMPLE", EXAMPLE_SECRET, Some("session/token+="));
    let url = decode_token(
        &eks_token(&keys, "https://sts.eu-west-1.amazonaws.com", "eu-west-1", "c", may_24_2013()).unwrap(),
    );
    assert!(url.starts_with("https://sts.eu-west-1.amazonaws.com/?Action=GetCallerIdentity&Version=2011-06-15&"));
    assert!(url.contains("&X-Amz-Credential=ASIAEXAMPLE%2F20130524%2Feu-west-1%2Fsts%2Faws4_request&"), "{url}");
    assert!(url.ends_with("&X-Amz-Security-Token=session%2Ftoken%2B%3D"), "{url}");
    assert!(url.contains("&X-Amz-SignedHeaders=host%3Bx-k8s-aws-id&"), "{url}");
}

// ---------------------------------------------------------------------------
// action-setup-cluster against local fakes.

const ROLE: &str = "arn:aws:iam::123456789012:role/deployer";
const OIDC_REQUEST_TOKEN: &str = "oidc-request-bearer-0123456789";
const OIDC_JWT: &str = "eyJhbGciOiJSUzI1NiJ9.github-oidc-jwt.signature0123456789";
const ASSUMED_KEY_ID: &str = "ASIAASSUMEDKEY000001";
const ASSUMED_SECRET: &str = "assumed/Secret+Key0123456789abcdefghijkl";
const ASSUMED_SESSION: &str = "IQoJb3JpZ2luX2VjEassumed/session+token0123456789==";
const EKS_ENDPOINT: &str = "https://ABCDEF0123456789ABCDEF.gr7.us-west-2.eks.amazonaws.com";

fn ca_data() -> String {
    base64::engine::general_purpose::STANDARD
        .encode("-----BEGIN CERTIFICATE-----\nMIIfakecertificate\n-----END CERTIFICATE-----\n")
}

fn assumed_role_xml() -> String {
    format!(
        "<AssumeRoleWithWebIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\n\
         <AssumeRoleWithWebIdentityResult>\n\
         <SubjectFromWebIdentityToken>repo:octo-org/infra:ref:refs/heads/main</SubjectFromWebIdentityToken>\n\
         <AssumedRoleUser><Arn>arn:aws:sts::123456789012:assumed-role/deployer/deployer-cluster2</Arn>\
         <AssumedRoleId>AROAEXAMPLE:deployer-cluster2</AssumedRoleId></AssumedRoleUser>\n\
         <Credentials>\n\
         <SessionToken>{ASSUMED_SESSION}</SessionToken>\n\
         <SecretAccessKey>{ASSUMED_SECRET}</SecretAccessKey>\n\
         <Expiration>2099-01-01T00:00:00Z</Expiration>\n\
         <AccessKeyId>{ASSUMED_KEY_ID}</AccessKeyId>\n\
         </Credentials>\n\
         <Audience>sts.amazonaws.com</Audience>\n\
         </AssumeRoleWithWebIdentityResult>\n\
         <ResponseMetadata><RequestId>11111111-2222-3333-4444-555555555555</RequestId></ResponseMetadata>\n\
         </AssumeRoleWithWebIdentityResponse>\n"
    )
}

fn describe_cluster_json() -> serde_json::Value {
    json!({"cluster": {
        "name": "cluster2",
        "arn": "arn:aws:eks:us-west-2:123456789012:cluster/cluster2",
        "endpoint": EKS_ENDPOINT,
        "certificateAuthority": {"data": ca_data()},
        "status": "ACTIVE"
    }})
}

/// A request signed with SigV4 for EKS in us-west-2 by `key_id`.
fn signed_for_eks(key_id: &'static str) -> impl Fn(&Request) -> bool + Send + Sync + 'static {
    move |request: &Request| {
        let authorization = request.headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("");
        authorization.starts_with(&format!("AWS4-HMAC-SHA256 Credential={key_id}/"))
            && authorization.contains("/us-west-2/eks/aws4_request, SignedHeaders=host;x-amz-date")
            && request.headers.contains_key("x-amz-date")
    }
}

/// The fakes, with the environment that points the action at them.
struct Fakes {
    oidc: MockServer,
    sts: MockServer,
    eks: MockServer,
}

impl Fakes {
    async fn start() -> Self {
        Fakes { oidc: MockServer::start().await, sts: MockServer::start().await, eks: MockServer::start().await }
    }

    async fn oidc_answers(&self, times: u64) {
        Mock::given(method("GET"))
            .and(path("/oidc/token"))
            .and(query_param("api-version", "2.0"))
            .and(query_param("audience", "sts.amazonaws.com"))
            .and(header("authorization", format!("Bearer {OIDC_REQUEST_TOKEN}").as_str()))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"value": OIDC_JWT, "count": 1})))
            .expect(times)
            .mount(&self.oidc)
            .await;
    }

    async fn sts_answers(&self, response: ResponseTemplate, times: u64) {
        Mock::given(method("POST"))
            .and(path("/"))
            .and(header("content-type", "application/x-www-form-urlencoded; charset=utf-8"))
            .and(body_string_contains("Action=AssumeRoleWithWebIdentity"))
            .and(body_string_contains("Version=2011-06-15"))
            .and(body_string_contains("RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fdeployer"))
            .and(body_string_contains(format!("WebIdentityToken={OIDC_JWT}")))
            .and(body_string_contains("RoleSessionName=deployer-cluster2"))
            .and(body_string_contains("DurationSeconds=3600"))
            .respond_with(response)
            .expect(times)
            .mount(&self.sts)
            .await;
    }

    /// Mounts EKS's answer for `key_id` (and, with temporary keys, `session_token`).
    async fn eks_answers(&self, key_id: &'static str, session_token: Option<&str>, response: ResponseTemplate) {
        let mut mock = Mock::given(method("GET")).and(path("/clusters/cluster2")).and(signed_for_eks(key_id));
        if let Some(token) = session_token {
            mock = mock.and(header("x-amz-security-token", token));
        }
        mock.respond_with(response).expect(1).mount(&self.eks).await;
    }

    fn run(&self, workspace: &Path, home: &Path, github_env: &Path) -> ActionRun {
        ActionRun::new("action-setup-cluster", workspace)
            .input("cluster", "cluster2")
            .env("HOME", home.to_string_lossy())
            .env("GITHUB_ENV", github_env.to_string_lossy())
            .env("DEPLOYER_AWS_STS_URL", self.sts.uri())
            .env("DEPLOYER_AWS_EKS_URL", self.eks.uri())
            .env("DEPLOYER_ALLOW_INSECURE_ENDPOINTS", "1")
    }

    fn with_oidc(&self, run: ActionRun) -> ActionRun {
        run.env("ACTIONS_ID_TOKEN_REQUEST_URL", format!("{}/oidc/token?api-version=2.0", self.oidc.uri()))
            .env("ACTIONS_ID_TOKEN_REQUEST_TOKEN", OIDC_REQUEST_TOKEN)
    }
}

/// A workspace (copy of the example repository), a `$HOME` and an empty `$GITHUB_ENV`.
struct Scene {
    _temp: tempfile::TempDir,
    workspace: PathBuf,
    home: PathBuf,
    github_env: PathBuf,
}

impl Scene {
    fn new() -> Self {
        let temp = tempfile::tempdir().expect("temp");
        let workspace = temp.path().join("workspace");
        copy_tree(&example_repo(), &workspace);
        let home = temp.path().join("home");
        fs::create_dir_all(&home).expect("home");
        let github_env = temp.path().join("github_env");
        fs::write(&github_env, "").expect("GITHUB_ENV file");
        Scene { _temp: temp, workspace, home, github_env }
    }

    fn kubeconfig_path(&self) -> PathBuf {
        self.home.join(".kube/deployer-cluster2.yaml")
    }
}

fn logs(result: &ActionResult) -> String {
    format!("stdout:\n{}\nstderr:\n{}", result.stdout, result.stderr)
}

/// `secret` is registered with `::add-mask::` and printed nowhere else.
fn assert_masked(result: &ActionResult, secret: &str) {
    let mask_line = format!("::add-mask::{secret}");
    assert!(result.stdout.lines().any(|line| line == mask_line), "{secret} is not masked\n{}", logs(result));
    for line in result.stdout.lines().filter(|line| line.contains(secret)) {
        assert_eq!(line, mask_line, "{secret} printed\n{}", logs(result));
    }
    assert!(!result.stderr.contains(secret), "{secret} printed on stderr\n{}", logs(result));
}

/// A failed run: exit code 1, one `::error::` annotation starting `expected`, nothing written.
fn assert_failed(result: &ActionResult, scene: &Scene, expected: &str) {
    assert_eq!(result.output.status.code(), Some(1), "{}", logs(result));
    let annotation = format!("::error::{expected}");
    assert!(result.stdout.lines().any(|line| line.starts_with(&annotation)), "no {annotation}\n{}", logs(result));
    assert!(result.stderr.contains(&format!("error: {expected}")), "{}", logs(result));
    assert_eq!(result.raw_outputs, "", "GITHUB_OUTPUT written on failure");
    assert_eq!(fs::read_to_string(&scene.github_env).expect("GITHUB_ENV"), "", "GITHUB_ENV written on failure");
    assert!(!scene.kubeconfig_path().exists(), "kubeconfig written on failure");
}

/// The kubeconfig written for cluster2: checks it and returns its token.
fn assert_kubeconfig(result: &ActionResult, scene: &Scene) -> String {
    let written = scene.kubeconfig_path();
    let text = fs::read_to_string(&written).unwrap_or_else(|_| panic!("no kubeconfig\n{}", logs(result)));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(fs::metadata(&written).expect("metadata").permissions().mode() & 0o777, 0o600);
    }
    let parsed = kubeconfig::check(&text).expect("a valid kubeconfig");
    assert_eq!(parsed.clusters[0].name, "cluster2");
    assert_eq!(parsed.clusters[0].cluster.server, EKS_ENDPOINT);
    assert_eq!(parsed.current_context.as_deref(), Some("cluster2"));
    let value: yaml_serde::Value = yaml_serde::from_str(&text).expect("YAML");
    assert_eq!(value["clusters"][0]["cluster"]["certificate-authority-data"].as_str(), Some(ca_data().as_str()));
    let token = value["users"][0]["user"]["token"].as_str().expect("a token").to_owned();
    assert!(token.starts_with("k8s-aws-v1."), "{token}");

    let path = written.to_string_lossy().into_owned();
    assert_eq!(result.output("kubeconfig"), path);
    assert_eq!(result.output("provider"), "aws");
    let github_env = fs::read_to_string(&scene.github_env).expect("GITHUB_ENV");
    assert!(github_env.starts_with("KUBECONFIG<<ghadelimiter_"), "{github_env}");
    assert_eq!(support::parse_github_output(&github_env).get("KUBECONFIG"), Some(&path));
    token
}

#[tokio::test(flavor = "multi_thread")]
async fn keyless_role_gets_a_kubeconfig_with_an_eks_token() {
    let fakes = Fakes::start().await;
    fakes.oidc_answers(1).await;
    fakes
        .sts_answers(
            ResponseTemplate::new(200)
                .set_body_raw(assumed_role_xml(), "text/xml")
                .insert_header("x-amzn-requestid", "1"),
            1,
        )
        .await;
    fakes
        .eks_answers(
            ASSUMED_KEY_ID,
            Some(ASSUMED_SESSION),
            ResponseTemplate::new(200).set_body_json(describe_cluster_json()),
        )
        .await;
    let scene = Scene::new();
    let result = fakes
        .with_oidc(fakes.run(&scene.workspace, &scene.home, &scene.github_env))
        .input("role-to-assume", ROLE)
        .run_async()
        .await;
    assert!(result.success(), "{}", logs(&result));
    let token = assert_kubeconfig(&result, &scene);

    // The token presigns GetCallerIdentity at the (fake) STS with the assumed keys.
    let url = decode_token(&token);
    let sts = fakes.sts.uri();
    assert!(url.starts_with(&format!("{sts}/?Action=GetCallerIdentity&Version=2011-06-15&")), "{url}");
    assert!(url.contains(&format!("&X-Amz-Credential={ASSUMED_KEY_ID}%2F")), "{url}");
    assert!(url.contains("%2Fus-west-2%2Fsts%2Faws4_request&"), "{url}");
    assert!(url.contains("&X-Amz-Expires=60&"), "{url}");
    assert!(url.contains("&X-Amz-SignedHeaders=host%3Bx-k8s-aws-id&"), "{url}");
    assert!(url.contains("&X-Amz-Security-Token="), "{url}");

    for secret in [ASSUMED_SECRET, ASSUMED_SESSION, token.as_str(), OIDC_JWT] {
        assert_masked(&result, secret);
    }
    assert!(result.stdout.contains("Access to cluster2 (aws) ready"), "{}", logs(&result));
}

#[tokio::test(flavor = "multi_thread")]
async fn static_keys_skip_oidc_and_sts() {
    let fakes = Fakes::start().await;
    fakes.oidc_answers(0).await;
    fakes.sts_answers(ResponseTemplate::new(500), 0).await;
    fakes
        .eks_answers(
            "AKIASTATICKEY0000001",
            Some("static-session-token-0123456789"),
            ResponseTemplate::new(200).set_body_json(describe_cluster_json()),
        )
        .await;
    let scene = Scene::new();
    let result = fakes
        .with_oidc(fakes.run(&scene.workspace, &scene.home, &scene.github_env))
        .input("aws-access-key-id", "AKIASTATICKEY0000001")
        .input("aws-secret-access-key", "static/secret+key0123456789")
        .input("aws-session-token", "static-session-token-0123456789")
        .run_async()
        .await;
    assert!(result.success(), "{}", logs(&result));
    let token = assert_kubeconfig(&result, &scene);
    assert!(decode_token(&token).contains("&X-Amz-Credential=AKIASTATICKEY0000001%2F"));
    for secret in ["static/secret+key0123456789", "static-session-token-0123456789", token.as_str()] {
        assert_masked(&result, secret);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_role_without_the_id_token_permission_says_what_to_add() {
    let fakes = Fakes::start().await;
    fakes.sts_answers(ResponseTemplate::new(500), 0).await;
    let scene = Scene::new();
    let result =
        fakes.run(&scene.workspace, &scene.home, &scene.github_env).input("role-to-assume", ROLE).run_async().await;
    assert_failed(&result, &scene, "aws: getting the GitHub OIDC token failed: ");
    assert!(result.stdout.contains("add `permissions: id-token: write` to the job"), "{}", logs(&result));
}

#[tokio::test(flavor = "multi_thread")]
async fn no_credentials_say_which_inputs_to_set() {
    let fakes = Fakes::start().await;
    let scene = Scene::new();
    let result = fakes.run(&scene.workspace, &scene.home, &scene.github_env).run_async().await;
    assert_failed(&result, &scene, "aws: choosing the credentials failed: no AWS credentials: set `role-to-assume`");
    assert!(result.stdout.contains("`aws-access-key-id` and `aws-secret-access-key`"), "{}", logs(&result));
}

#[tokio::test(flavor = "multi_thread")]
async fn sts_refusing_the_role_names_the_step_and_the_trust_policy() {
    let fakes = Fakes::start().await;
    fakes.oidc_answers(1).await;
    let refusal = "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error><Type>Sender</Type>\
        <Code>AccessDenied</Code><Message>Not authorized to perform sts:AssumeRoleWithWebIdentity</Message></Error>\
        <RequestId>1</RequestId></ErrorResponse>";
    fakes.sts_answers(ResponseTemplate::new(403).set_body_raw(refusal, "text/xml"), 1).await;
    let scene = Scene::new();
    let result = fakes
        .with_oidc(fakes.run(&scene.workspace, &scene.home, &scene.github_env))
        .input("role-to-assume", ROLE)
        .run_async()
        .await;
    assert_failed(
        &result,
        &scene,
        &format!(
            "aws: assuming role {ROLE} failed: AccessDenied: Not authorized to perform sts:AssumeRoleWithWebIdentity \
             (the role's trust policy must allow"
        ),
    );
    assert_masked(&result, OIDC_JWT);
    assert!(fakes.eks.received_requests().await.unwrap_or_default().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn expired_static_keys_name_the_describe_cluster_step() {
    let fakes = Fakes::start().await;
    fakes
        .eks_answers(
            "AKIAEXPIREDKEY000001",
            None,
            ResponseTemplate::new(403)
                .set_body_json(json!({"message": "The security token included in the request is expired"})),
        )
        .await;
    let scene = Scene::new();
    let result = fakes
        .run(&scene.workspace, &scene.home, &scene.github_env)
        .input("aws-access-key-id", "AKIAEXPIREDKEY000001")
        .input("aws-secret-access-key", "expired/secret+key0123456789")
        .run_async()
        .await;
    assert_failed(
        &result,
        &scene,
        "aws: describing EKS cluster cluster2 failed: HTTP 403: The security token included in the request is \
         expired (the AWS credentials have expired: refresh",
    );
    assert_masked(&result, "expired/secret+key0123456789");
}

/// Issue 11 §1b: the `aws.key` file real repositories already have (a
/// sops-encrypted copy of what `aws iam create-access-key` prints), decrypted
/// in memory with real sops and the `sops-age-key`, when no credential input is given.
#[tokio::test(flavor = "multi_thread")]
async fn the_key_file_named_in_cluster_yaml_is_decrypted_and_used() {
    let fakes = Fakes::start().await;
    fakes.oidc_answers(0).await;
    fakes.sts_answers(ResponseTemplate::new(500), 0).await;
    fakes
        .eks_answers("AKIAFROMKEYFILE00001", None, ResponseTemplate::new(200).set_body_json(describe_cluster_json()))
        .await;
    let scene = Scene::new();
    let key = support::age::AgeKey::generate();
    let folder = scene.workspace.join("config/clusters/cluster2");
    let cluster = fs::read_to_string(folder.join("cluster.yaml")).expect("cluster.yaml");
    let cluster = cluster.replace(
        "aws:\n  account: 123456789012\n",
        "aws:\n  account: 123456789012\n  key: enc-deployer-credentials.secret.json\n  clusterType: eks\n  billing:\n    paid_by_us: true\n",
    );
    fs::write(folder.join("cluster.yaml"), cluster).expect("cluster.yaml");
    support::age::sops_encrypt(
        r#"{"AccessKey": {"UserName": "deployer", "AccessKeyId": "AKIAFROMKEYFILE00001", "Status": "Active", "SecretAccessKey": "from/key+file0123456789secret", "CreateDate": "2024-01-01T00:00:00+00:00"}}"#,
        &key.recipient,
        &folder.join("enc-deployer-credentials.secret.json"),
    );
    let result = fakes
        .run(&scene.workspace, &scene.home, &scene.github_env)
        .input("sops-age-key", key.secret.clone())
        .env("PATH", support::tools_dir().display().to_string())
        .run_async()
        .await;
    assert!(result.success(), "{}", logs(&result));
    assert_kubeconfig(&result, &scene);
    for secret in ["AKIAFROMKEYFILE00001", "from/key+file0123456789secret", key.secret.as_str()] {
        assert_masked(&result, secret);
    }
    assert!(
        result.stdout.contains("Credentials: config/clusters/cluster2/enc-deployer-credentials.secret.json"),
        "{}",
        logs(&result)
    );
    // Exported for sops: the key file's keys (no session token), and the age key.
    let exported = support::parse_github_output(&fs::read_to_string(&scene.github_env).expect("GITHUB_ENV"));
    assert_eq!(
        exported.keys().collect::<Vec<_>>(),
        ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "KUBECONFIG", "SOPS_AGE_KEY"]
    );
    assert_eq!(exported["AWS_ACCESS_KEY_ID"], "AKIAFROMKEYFILE00001");
    assert_eq!(exported["AWS_SECRET_ACCESS_KEY"], "from/key+file0123456789secret");
    // Nothing decrypted was written: the workspace holds the encrypted file only.
    let stored = fs::read_to_string(folder.join("enc-deployer-credentials.secret.json")).expect("key file");
    assert!(!stored.contains("from/key+file"));

    // A key file outside the cluster folder is refused at its line.
    let cluster = fs::read_to_string(folder.join("cluster.yaml")).expect("cluster.yaml");
    fs::write(folder.join("cluster.yaml"), cluster.replace("key: enc-", "key: ../cluster1/enc-")).expect("write");
    let refused = fakes
        .run(&scene.workspace, &scene.home, &scene.github_env)
        .input("sops-age-key", key.secret.clone())
        .env("PATH", support::tools_dir().display().to_string())
        .run_async()
        .await;
    assert_eq!(refused.output.status.code(), Some(1), "{}", logs(&refused));
    assert!(refused.stdout.contains("::error file=config/clusters/cluster2/cluster.yaml,line=5"), "{}", logs(&refused));
    assert!(refused.stderr.contains("in the cluster's own folder"), "{}", logs(&refused));
}
