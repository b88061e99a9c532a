//! Google Cloud: GKE credentials.
//!
//! Keyless: the job's GitHub OIDC token is exchanged at Google STS for a
//! federated token (`workload-identity-provider`), which impersonates
//! `service-account` through IAM credentials (`generateAccessToken`). With a
//! `credentials-json` key instead, a JWT signed with the key is exchanged at
//! Google's OAuth endpoint. The access token then reads the cluster's
//! endpoint and CA from the GKE API, and is the kubeconfig's bearer token.
//!
//! Every token is masked as soon as it is obtained. The key itself never
//! reaches an error message: parse errors name only the line and column.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use serde::Deserialize;
use serde_json::{json, Value};

use super::oidc::{url_encode, OidcSource};
use super::sops_env::SopsCredential;
use super::{access_error, ClusterCredentials, Endpoints, ProviderInputs};
use crate::base::error::Error;
use crate::base::runner;
use crate::config::yaml::value_free_json_message;
use crate::config::Provider;
use crate::tools::http::{Http, HttpRequest, HttpResponse};

/// The one scope asked for: GKE and IAM both accept it.
pub const CLOUD_PLATFORM_SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";
/// Google's public OAuth endpoint (the default of [`Endpoints::google_oauth`]).
const DEFAULT_OAUTH: &str = "https://oauth2.googleapis.com";
/// Lifetime of the impersonated token and of the key's JWT.
const LIFETIME_SECONDS: u64 = 3600;

const STS_STEP: &str = "exchanging the GitHub OIDC token at Google STS";
const KEY_STEP: &str = "reading the `credentials-json` key";
const KEY_TOKEN_STEP: &str = "exchanging the `credentials-json` key for an access token";
const GKE_STEP: &str = "reading the GKE cluster";

/// How to log in, from the inputs. Its `Debug` never shows the key.
#[derive(Clone, PartialEq, Eq)]
enum Login<'a> {
    /// GitHub OIDC → STS → `generateAccessToken` for the service account.
    Keyless { provider: String, service_account: &'a str },
    /// A service-account key (the `credentials-json` text).
    Key(&'a str),
}

impl std::fmt::Debug for Login<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Login::Keyless { provider, service_account } => {
                f.debug_struct("Keyless").field("provider", provider).field("service_account", service_account).finish()
            }
            Login::Key(_) => f.write_str("Key(<redacted>)"),
        }
    }
}

/// Credentials for the GKE cluster `cluster` of `project` in `zone`.
pub async fn credentials(
    http: &Http,
    oidc: &OidcSource,
    endpoints: &Endpoints,
    inputs: &ProviderInputs,
    project: &str,
    cluster: &str,
    zone: &str,
) -> Result<ClusterCredentials, Error> {
    let mut secrets = Vec::new();
    let mut sops = None;
    let access_token = match choose_login(inputs)? {
        Login::Keyless { provider, service_account } => {
            if inputs.credentials_json.is_some() {
                runner::annotate_message(
                    runner::Level::Warning,
                    "gcp: both keyless inputs (`workload-identity-provider`, `service-account`) and \
                     `credentials-json` are set; using keyless access",
                );
            }
            let token = keyless(http, oidc, endpoints, &provider, Some(service_account), &mut secrets).await?;
            if let Some((oidc_url, oidc_bearer)) = oidc.request() {
                runner::add_mask(oidc_bearer);
                sops = Some(SopsCredential::GcpExternalAccount {
                    provider: provider.clone(),
                    service_account: Some(service_account.to_owned()),
                    sts: endpoints.google_sts.clone(),
                    iam: endpoints.google_iam.clone(),
                    oidc_url: oidc_url.to_owned(),
                    oidc_bearer: oidc_bearer.to_owned(),
                });
            }
            token
        }
        Login::Key(text) => {
            let token = with_key(http, endpoints, text, &mut secrets).await?;
            sops = Some(SopsCredential::GcpKey(text.to_owned()));
            token
        }
    };
    let url = cluster_url(&endpoints.gke, project, zone, cluster);
    let request = HttpRequest::get(url)
        .header("authorization", format!("Bearer {access_token}"))
        .header("accept", "application/json");
    let resource = format!("projects/{project}/locations/{zone}/clusters/{cluster}");
    let response = send(http, &request, GKE_STEP, |status| gke_hint(status, &resource)).await?;
    let (server, certificate_authority_data) =
        cluster_access(&response.body).map_err(|message| access_error(Provider::Gcp, GKE_STEP, message))?;
    Ok(ClusterCredentials {
        server,
        certificate_authority_data,
        token: Some(access_token),
        kubeconfig: None,
        secrets,
        sops,
    })
}

/// The separate GCP identity sops uses for `gcp_kms` keys when the cluster's
/// own credentials are not GCP ones: keyless (`sops-gcp-workload-identity-provider`,
/// impersonating `sops-gcp-service-account` when given, else direct workload
/// identity federation) or a key (`sops-gcp-credentials-json`). Keyless is
/// tried once here (GitHub OIDC → STS, and the impersonation), so that a
/// wrong provider or a missing permission stops the leg before any helm runs;
/// sops then gets an `external_account` file that fetches fresh tokens itself.
pub async fn sops_identity(
    http: &Http,
    oidc: &OidcSource,
    endpoints: &Endpoints,
    inputs: &ProviderInputs,
    secrets: &mut Vec<String>,
) -> Result<SopsCredential, Error> {
    let step = "choosing the sops identity";
    if let Some(provider) = inputs.sops_gcp_workload_identity_provider.as_deref() {
        let provider = provider_name(provider).map_err(|m| {
            access_error(
                Provider::Gcp,
                step,
                m.replace("`workload-identity-provider`", "`sops-gcp-workload-identity-provider`"),
            )
        })?;
        let service_account = inputs.sops_gcp_service_account.as_deref();
        if let Some(account) = service_account {
            check_service_account(account).map_err(|m| {
                access_error(Provider::Gcp, step, m.replace("`service-account`", "`sops-gcp-service-account`"))
            })?;
        }
        let Some((oidc_url, oidc_bearer)) = oidc.request() else {
            return Err(access_error(
                Provider::Gcp,
                step,
                "`sops-gcp-workload-identity-provider` is keyless, but ACTIONS_ID_TOKEN_REQUEST_URL is not set: \
                 add `permissions: id-token: write` to the job (or pass `sops-gcp-credentials-json`)",
            ));
        };
        runner::add_mask(oidc_bearer);
        keyless(http, oidc, endpoints, &provider, service_account, secrets).await?;
        return Ok(SopsCredential::GcpExternalAccount {
            provider,
            service_account: service_account.map(str::to_owned),
            sts: endpoints.google_sts.clone(),
            iam: endpoints.google_iam.clone(),
            oidc_url: oidc_url.to_owned(),
            oidc_bearer: oidc_bearer.to_owned(),
        });
    }
    if inputs.sops_gcp_service_account.is_some() {
        return Err(access_error(
            Provider::Gcp,
            step,
            "`sops-gcp-service-account` is set but `sops-gcp-workload-identity-provider` is not: keyless access \
             needs the provider (projects/NUMBER/locations/global/workloadIdentityPools/POOL/providers/PROVIDER)",
        ));
    }
    match inputs.sops_gcp_credentials_json.as_deref() {
        Some(text) => {
            let key = parse_key(text).map_err(|m| {
                access_error(
                    Provider::Gcp,
                    "reading the `sops-gcp-credentials-json` key",
                    m.replace("credentials-json", "sops-gcp-credentials-json"),
                )
            })?;
            for line in key.private_key.lines().map(str::trim).filter(|l| l.len() >= 8 && !l.starts_with("-----")) {
                runner::add_mask(line);
            }
            Ok(SopsCredential::GcpKey(text.to_owned()))
        }
        None => Err(access_error(
            Provider::Gcp,
            step,
            "no sops identity: set `sops-gcp-workload-identity-provider` or `sops-gcp-credentials-json`",
        )),
    }
}

/// Keyless login: the OIDC token, the federated token, and with a service
/// account its token (else the federated token itself).
async fn keyless(
    http: &Http,
    oidc: &OidcSource,
    endpoints: &Endpoints,
    provider: &str,
    service_account: Option<&str>,
    secrets: &mut Vec<String>,
) -> Result<String, Error> {
    let id_token = oidc.token(http, Provider::Gcp, &format!("https://iam.googleapis.com/{provider}")).await?;
    secrets.push(id_token.clone());

    let request = HttpRequest::post(format!("{}/v1/token", endpoints.google_sts), sts_body(provider, &id_token))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("accept", "application/json");
    let response = send(http, &request, STS_STEP, |_| sts_hint(provider)).await?;
    let federated = token_field(&response.body, "access_token", STS_STEP)?;
    secrets.push(federated.clone());
    let Some(service_account) = service_account else {
        runner::add_mask(&federated);
        return Ok(federated);
    };

    let step = format!("impersonating {service_account}");
    let request = HttpRequest::post(impersonation_url(&endpoints.google_iam, service_account), impersonation_body())
        .header("authorization", format!("Bearer {federated}"))
        .header("content-type", "application/json")
        .header("accept", "application/json");
    let response = send(http, &request, &step, |status| impersonation_hint(status, service_account)).await?;
    let access_token = token_field(&response.body, "accessToken", &step)?;
    secrets.push(access_token.clone());
    Ok(access_token)
}

/// Key login: a JWT signed with the key, exchanged at the OAuth token endpoint.
async fn with_key(http: &Http, endpoints: &Endpoints, text: &str, secrets: &mut Vec<String>) -> Result<String, Error> {
    let key = parse_key(text).map_err(|message| access_error(Provider::Gcp, KEY_STEP, message))?;
    // The key file usually arrives multi-line; mask the key's own lines (the
    // rest of the file, braces included, is not secret).
    for line in key.private_key.lines().map(str::trim).filter(|l| l.len() >= 16 && !l.starts_with("-----")) {
        runner::add_mask(line);
    }
    let token_url = token_url(&endpoints.google_oauth, key.token_uri.as_deref())
        .map_err(|message| access_error(Provider::Gcp, KEY_STEP, message))?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default();
    let header = jwt_header(key.private_key_id.as_deref());
    let claims = jwt_claims(&key.client_email, &token_url, now);
    let assertion = sign_jwt(&key.private_key, &header, &claims)
        .map_err(|message| access_error(Provider::Gcp, KEY_STEP, message))?;
    runner::add_mask(&assertion);
    secrets.push(assertion.clone());

    let request = HttpRequest::post(token_url, jwt_bearer_form(&assertion))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("accept", "application/json");
    let email = key.client_email.clone();
    let response = send(http, &request, KEY_TOKEN_STEP, |_| key_hint(&email)).await?;
    let access_token = token_field(&response.body, "access_token", KEY_TOKEN_STEP)?;
    secrets.push(access_token.clone());
    Ok(access_token)
}

/// Sends `request`; a refusal becomes an access error for `step` with the hint for its status.
async fn send(
    http: &Http,
    request: &HttpRequest,
    step: &str,
    hint: impl Fn(u16) -> String,
) -> Result<HttpResponse, Error> {
    // Token exchanges and reads change nothing: retrying them is safe.
    let response = http.send(request, true).await.map_err(|e| access_error(Provider::Gcp, step, e.to_string()))?;
    if response.is_success() {
        return Ok(response);
    }
    Err(access_error(
        Provider::Gcp,
        step,
        format!("{}; {}", describe_error(response.status, &response.body).trim_end_matches('.'), hint(response.status)),
    ))
}

/// A token from a JSON answer, masked at once.
fn token_field(body: &[u8], field: &str, step: &str) -> Result<String, Error> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| access_error(Provider::Gcp, step, format!("the answer is not JSON: {e}")))?;
    let token = value
        .get(field)
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| access_error(Provider::Gcp, step, format!("the answer has no `{field}`")))?
        .to_owned();
    runner::add_mask(&token);
    Ok(token)
}

/// Keyless when either keyless input is set (both are then required), else the key.
fn choose_login(inputs: &ProviderInputs) -> Result<Login<'_>, Error> {
    let step = "choosing the credentials";
    match (inputs.workload_identity_provider.as_deref(), inputs.service_account.as_deref()) {
        (Some(provider), Some(service_account)) => {
            let provider = provider_name(provider).map_err(|m| access_error(Provider::Gcp, step, m))?;
            check_service_account(service_account).map_err(|m| access_error(Provider::Gcp, step, m))?;
            Ok(Login::Keyless { provider, service_account })
        }
        (Some(_), None) => Err(access_error(
            Provider::Gcp,
            step,
            "`workload-identity-provider` is set but `service-account` is not: keyless access needs both \
             (the service account the workload identity pool may impersonate)",
        )),
        (None, Some(_)) => Err(access_error(
            Provider::Gcp,
            step,
            "`service-account` is set but `workload-identity-provider` is not: keyless access needs both \
             (projects/NUMBER/locations/global/workloadIdentityPools/POOL/providers/PROVIDER)",
        )),
        (None, None) => match inputs.credentials_json.as_deref() {
            Some(text) => Ok(Login::Key(text)),
            None => Err(access_error(
                Provider::Gcp,
                step,
                "no credentials: pass `workload-identity-provider` and `service-account` (keyless; the job \
                 needs `permissions: id-token: write`), or a service-account key as `credentials-json`",
            )),
        },
    }
}

/// The provider's full resource name, from the input with or without its `//iam.googleapis.com/` prefix.
fn provider_name(input: &str) -> Result<String, String> {
    let trimmed = input.trim();
    let name = ["https://iam.googleapis.com/", "//iam.googleapis.com/"]
        .iter()
        .find_map(|prefix| trimmed.strip_prefix(prefix))
        .unwrap_or(trimmed)
        .trim_matches('/');
    let parts: Vec<&str> = name.split('/').collect();
    let shaped = parts.len() == 8
        && parts[0] == "projects"
        && parts[2] == "locations"
        && parts[4] == "workloadIdentityPools"
        && parts[6] == "providers"
        && parts.iter().all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
    if shaped {
        Ok(name.to_owned())
    } else {
        Err(format!(
            "`workload-identity-provider` must be the provider's full name, \
             projects/NUMBER/locations/global/workloadIdentityPools/POOL/providers/PROVIDER, not `{}`",
            trimmed.chars().take(200).collect::<String>()
        ))
    }
}

/// A service account email (or unique ID) that is safe in a URL path.
fn check_service_account(input: &str) -> Result<(), String> {
    if input.is_empty() || input.chars().any(|c| c.is_whitespace() || matches!(c, '/' | '?' | '#' | ':' | '%')) {
        return Err(format!(
            "`service-account` must be a service account email (NAME@PROJECT.iam.gserviceaccount.com), not `{}`",
            input.chars().take(200).collect::<String>()
        ));
    }
    Ok(())
}

/// The STS token-exchange request (RFC 8693 form, as Google's own libraries send it).
fn sts_body(provider: &str, subject_token: &str) -> String {
    form(&[
        ("grant_type", "urn:ietf:params:oauth:grant-type:token-exchange"),
        ("audience", &format!("//iam.googleapis.com/{provider}")),
        ("scope", CLOUD_PLATFORM_SCOPE),
        ("requested_token_type", "urn:ietf:params:oauth:token-type:access_token"),
        ("subject_token_type", "urn:ietf:params:oauth:token-type:jwt"),
        ("subject_token", subject_token),
    ])
}

/// An `application/x-www-form-urlencoded` body.
fn form(pairs: &[(&str, &str)]) -> String {
    pairs.iter().map(|(name, value)| format!("{name}={}", url_encode(value))).collect::<Vec<_>>().join("&")
}

/// `generateAccessToken` for `service_account`.
fn impersonation_url(base: &str, service_account: &str) -> String {
    format!("{base}/v1/projects/-/serviceAccounts/{}:generateAccessToken", path_segment(service_account))
}

/// The `generateAccessToken` request (JSON).
fn impersonation_body() -> String {
    json!({"scope": [CLOUD_PLATFORM_SCOPE], "lifetime": format!("{LIFETIME_SECONDS}s")}).to_string()
}

/// The GKE API URL of a cluster.
fn cluster_url(base: &str, project: &str, zone: &str, cluster: &str) -> String {
    format!(
        "{base}/v1/projects/{}/locations/{}/clusters/{}",
        path_segment(project),
        path_segment(zone),
        path_segment(cluster)
    )
}

/// One percent-encoded path segment (`@` kept, as Google's own clients do).
fn path_segment(text: &str) -> String {
    url_encode(text).replace("%40", "@")
}

/// The parts of a service-account key file that are used. No `Debug`: it holds the key.
struct ServiceAccountKey {
    client_email: String,
    private_key: String,
    private_key_id: Option<String>,
    token_uri: Option<String>,
}

/// Parses `credentials-json`. Errors never quote the text.
fn parse_key(text: &str) -> Result<ServiceAccountKey, String> {
    #[derive(Deserialize)]
    struct Raw {
        #[serde(rename = "type")]
        kind: Option<Value>,
        client_email: Option<Value>,
        private_key: Option<Value>,
        private_key_id: Option<Value>,
        token_uri: Option<Value>,
    }
    let raw: Raw = serde_json::from_str(text.trim()).map_err(|e| {
        format!(
            "`credentials-json` is not a JSON object (error at line {} column {}): pass the service-account \
             key file's content",
            e.line(),
            e.column()
        )
    })?;
    let string = |value: Option<Value>| match value {
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s),
        _ => None,
    };
    match string(raw.kind).as_deref() {
        Some("service_account") => {}
        Some(other) => {
            return Err(format!(
                "`credentials-json` is a `{}` credential, not a service-account key: create a key for the \
                 service account, or use keyless access (`workload-identity-provider`, `service-account`)",
                other.chars().take(40).collect::<String>()
            ))
        }
        None => {
            return Err(
                "`credentials-json` has no `\"type\": \"service_account\"`: pass a service-account key file".into()
            )
        }
    }
    let client_email = string(raw.client_email).ok_or("`credentials-json` has no `client_email`")?;
    let private_key = string(raw.private_key).ok_or("`credentials-json` has no `private_key`")?;
    Ok(ServiceAccountKey {
        client_email,
        private_key,
        private_key_id: string(raw.private_key_id),
        token_uri: string(raw.token_uri),
    })
}

/// Where the key's JWT is exchanged: the overridden endpoint, else the key's `token_uri`, else Google's.
fn token_url(oauth_base: &str, token_uri: Option<&str>) -> Result<String, String> {
    if oauth_base != DEFAULT_OAUTH {
        return Ok(format!("{oauth_base}/token"));
    }
    match token_uri.map(str::trim) {
        Some(uri) if uri.starts_with("https://") => Ok(uri.to_owned()),
        Some(_) => Err("the key's `token_uri` is not an https:// URL".into()),
        None => Ok(format!("{DEFAULT_OAUTH}/token")),
    }
}

/// The JWT header: RS256, with the key's id when known.
fn jwt_header(key_id: Option<&str>) -> Value {
    match key_id {
        Some(kid) => json!({"alg": "RS256", "typ": "JWT", "kid": kid}),
        None => json!({"alg": "RS256", "typ": "JWT"}),
    }
}

/// The JWT claims of a service-account token request.
fn jwt_claims(client_email: &str, audience: &str, now: u64) -> Value {
    json!({
        "iss": client_email,
        "sub": client_email,
        "aud": audience,
        "scope": CLOUD_PLATFORM_SCOPE,
        "iat": now,
        "exp": now + LIFETIME_SECONDS,
    })
}

fn base64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// `base64url(header).base64url(claims)`, the text that is signed.
fn signing_input(header: &Value, claims: &Value) -> String {
    format!("{}.{}", base64url(header.to_string().as_bytes()), base64url(claims.to_string().as_bytes()))
}

/// The DER of a PEM `PRIVATE KEY` (PKCS#8). Errors never quote the key.
fn pkcs8_der(pem: &str) -> Result<Vec<u8>, String> {
    const BEGIN: &str = "-----BEGIN PRIVATE KEY-----";
    const END: &str = "-----END PRIVATE KEY-----";
    let body =
        pem.split_once(BEGIN).and_then(|(_, rest)| rest.split_once(END)).map(|(body, _)| body).ok_or_else(|| {
            if pem.contains("BEGIN RSA PRIVATE KEY") {
                "the key's `private_key` is PKCS#1 (`BEGIN RSA PRIVATE KEY`); Google keys are PKCS#8 \
                 (`BEGIN PRIVATE KEY`): pass the key file Google created"
                    .to_owned()
            } else {
                "the key's `private_key` is not a PEM `PRIVATE KEY`".to_owned()
            }
        })?;
    let compact: String = body.chars().filter(|c| !c.is_whitespace()).collect();
    base64::engine::general_purpose::STANDARD
        .decode(compact)
        .map_err(|_| "the key's `private_key` is not valid PEM (bad base64)".to_owned())
}

/// A compact RS256 JWT signed with the PEM PKCS#8 RSA key.
fn sign_jwt(private_key_pem: &str, header: &Value, claims: &Value) -> Result<String, String> {
    use ring::signature::{RsaKeyPair, RSA_PKCS1_SHA256};
    let der = pkcs8_der(private_key_pem)?;
    let key_pair =
        RsaKeyPair::from_pkcs8(&der).map_err(|e| format!("the key's `private_key` is not an RSA PKCS#8 key ({e})"))?;
    let input = signing_input(header, claims);
    let mut signature = vec![0; key_pair.public().modulus_len()];
    key_pair
        .sign(&RSA_PKCS1_SHA256, &ring::rand::SystemRandom::new(), input.as_bytes(), &mut signature)
        .map_err(|_| "signing the JWT with the key failed".to_owned())?;
    Ok(format!("{input}.{}", base64url(&signature)))
}

/// The OAuth JWT-bearer grant (form).
fn jwt_bearer_form(assertion: &str) -> String {
    form(&[("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"), ("assertion", assertion)])
}

/// Server URL and CA bundle from a GKE `Cluster`.
fn cluster_access(body: &[u8]) -> Result<(String, Option<String>), String> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct GkeCluster {
        #[serde(default)]
        endpoint: String,
        status: Option<String>,
        master_auth: Option<MasterAuth>,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct MasterAuth {
        cluster_ca_certificate: Option<String>,
    }
    let cluster: GkeCluster = serde_json::from_slice(body)
        .map_err(|e| format!("the GKE API's answer is not a cluster: {}", value_free_json_message(&e)))?;
    let endpoint = cluster.endpoint.trim();
    if endpoint.is_empty() {
        return Err(format!(
            "the cluster has no endpoint (status {}): wait until it is RUNNING",
            cluster.status.as_deref().unwrap_or("unknown")
        ));
    }
    let server = if endpoint.starts_with("https://") { endpoint.to_owned() } else { format!("https://{endpoint}") };
    let host = &server["https://".len()..];
    if host.is_empty() || host.chars().any(|c| c.is_whitespace() || matches!(c, '/' | '?' | '#' | '@')) {
        return Err("the GKE API returned an endpoint that is not a host".into());
    }
    let ca = cluster
        .master_auth
        .and_then(|m| m.cluster_ca_certificate)
        .map(|ca| ca.split_whitespace().collect::<String>())
        .filter(|ca| !ca.is_empty());
    if let Some(ca) = &ca {
        base64::engine::general_purpose::STANDARD
            .decode(ca)
            .map_err(|_| "the cluster's masterAuth.clusterCaCertificate is not base64".to_owned())?;
    }
    Ok((server, ca))
}

/// `HTTP <status>: <what Google said>` from either of Google's error shapes.
fn describe_error(status: u16, body: &[u8]) -> String {
    let value: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let clean = |text: &str| -> String {
        let line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
        let mut short: String = line.chars().take(300).collect();
        if short.len() < line.len() {
            short.push('…');
        }
        short
    };
    let said = match value.get("error") {
        // OAuth and STS: {"error": "invalid_grant", "error_description": "..."}
        Some(Value::String(code)) => match value.get("error_description").and_then(Value::as_str) {
            Some(description) => format!("{}: {}", clean(code), clean(description)),
            None => clean(code),
        },
        // Google APIs: {"error": {"code": 403, "message": "...", "status": "PERMISSION_DENIED"}}
        Some(Value::Object(error)) => {
            let message = error.get("message").and_then(Value::as_str).map(clean);
            match (error.get("status").and_then(Value::as_str), message) {
                (Some(status), Some(message)) => format!("{}: {message}", clean(status)),
                (Some(status), None) => clean(status),
                (None, Some(message)) => message,
                (None, None) => clean(&Value::Object(error.clone()).to_string()),
            }
        }
        _ => clean(&String::from_utf8_lossy(body)),
    };
    if said.is_empty() {
        format!("HTTP {status}")
    } else {
        format!("HTTP {status}: {said}")
    }
}

fn sts_hint(provider: &str) -> String {
    format!(
        "check that `workload-identity-provider` ({provider}) exists and is enabled, that it trusts \
         https://token.actions.githubusercontent.com, and that its attribute condition admits this repository \
         and ref"
    )
}

fn impersonation_hint(status: u16, service_account: &str) -> String {
    match status {
        404 => format!("check that the service account {service_account} exists"),
        _ => format!(
            "grant the workload identity pool's principal for this repository roles/iam.workloadIdentityUser \
             on {service_account}, and enable the IAM Service Account Credentials API in its project"
        ),
    }
}

fn key_hint(client_email: &str) -> String {
    format!(
        "the key of {client_email} may be deleted, disabled or expired, or the clock skewed: create a new key \
         and update the secret, or switch to keyless access (`workload-identity-provider`, `service-account`)"
    )
}

fn gke_hint(status: u16, cluster: &str) -> String {
    match status {
        404 => format!("no cluster {cluster}: check gcp.project, gcp.zone and gcp.cluster in cluster.yaml"),
        401 => "the access token was refused: check that the service account is enabled".into(),
        _ => format!(
            "check gcp.project, gcp.zone and gcp.cluster in cluster.yaml ({cluster}), and that the service \
             account has container.clusters.get on the project (e.g. roles/container.clusterViewer)"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROVIDER: &str = "projects/123/locations/global/workloadIdentityPools/github/providers/deployer";

    fn inputs(provider: Option<&str>, account: Option<&str>, json: Option<&str>) -> ProviderInputs {
        ProviderInputs {
            workload_identity_provider: provider.map(str::to_owned),
            service_account: account.map(str::to_owned),
            credentials_json: json.map(str::to_owned),
            ..ProviderInputs::default()
        }
    }

    #[test]
    fn chooses_the_login() {
        let sa = "deployer@p.iam.gserviceaccount.com";
        type Case<'a> = (Option<&'a str>, Option<&'a str>, Option<&'a str>, Result<&'a str, &'a str>);
        let cases: &[Case] = &[
            (Some(PROVIDER), Some(sa), None, Ok("keyless")),
            (
                Some("//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/providers/r"),
                Some(sa),
                None,
                Ok("keyless"),
            ),
            (Some(PROVIDER), Some(sa), Some("{}"), Ok("keyless")),
            (None, None, Some("{}"), Ok("key")),
            (Some(PROVIDER), None, None, Err("`service-account` is not")),
            (None, Some(sa), Some("{}"), Err("`workload-identity-provider` is not")),
            (None, None, None, Err("permissions: id-token: write")),
            (Some("projects/1/pools/p"), Some(sa), None, Err("must be the provider's full name")),
            (Some(PROVIDER), Some("a/b"), None, Err("must be a service account email")),
        ];
        for (provider, account, json, expected) in cases {
            let given = inputs(*provider, *account, *json);
            match (choose_login(&given), expected) {
                (Ok(Login::Keyless { provider, .. }), Ok("keyless")) => {
                    assert!(provider.starts_with("projects/") && !provider.starts_with("//"), "{provider}")
                }
                (Ok(Login::Key(_)), Ok("key")) => {}
                (Err(error), Err(fragment)) => {
                    let text = error.to_string();
                    assert!(text.starts_with("gcp: choosing the credentials failed: "), "{text}");
                    assert!(text.contains(fragment), "{text}");
                }
                (other, _) => panic!("{provider:?} {account:?} {json:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn request_bodies() {
        assert_eq!(
            sts_body(PROVIDER, "id.token"),
            "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange\
             &audience=%2F%2Fiam.googleapis.com%2Fprojects%2F123%2Flocations%2Fglobal%2FworkloadIdentityPools%2Fgithub%2Fproviders%2Fdeployer\
             &scope=https%3A%2F%2Fwww.googleapis.com%2Fauth%2Fcloud-platform\
             &requested_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Aaccess_token\
             &subject_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Ajwt\
             &subject_token=id.token"
        );
        let iam: Value = serde_json::from_str(&impersonation_body()).unwrap();
        assert_eq!(iam, json!({"scope": ["https://www.googleapis.com/auth/cloud-platform"], "lifetime": "3600s"}));
        assert_eq!(
            impersonation_url("https://iam", "sa@p.iam.gserviceaccount.com"),
            "https://iam/v1/projects/-/serviceAccounts/sa@p.iam.gserviceaccount.com:generateAccessToken"
        );
        assert_eq!(
            cluster_url("https://gke", "p", "us-central1", "c 1"),
            "https://gke/v1/projects/p/locations/us-central1/clusters/c%201"
        );
        assert_eq!(
            jwt_bearer_form("a.b-_.c"),
            "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion=a.b-_.c"
        );
    }

    #[test]
    fn jwt_parts() {
        assert_eq!(jwt_header(Some("k1")), json!({"alg": "RS256", "typ": "JWT", "kid": "k1"}));
        assert_eq!(jwt_header(None), json!({"alg": "RS256", "typ": "JWT"}));
        let claims = jwt_claims("sa@p.iam.gserviceaccount.com", "https://oauth2.googleapis.com/token", 1000);
        assert_eq!(
            claims,
            json!({
                "iss": "sa@p.iam.gserviceaccount.com",
                "sub": "sa@p.iam.gserviceaccount.com",
                "aud": "https://oauth2.googleapis.com/token",
                "scope": "https://www.googleapis.com/auth/cloud-platform",
                "iat": 1000,
                "exp": 4600,
            })
        );
        let input = signing_input(&json!({"alg": "RS256"}), &json!({"a": 1}));
        assert_eq!(input, "eyJhbGciOiJSUzI1NiJ9.eyJhIjoxfQ");
    }

    #[test]
    fn token_urls() {
        let cases = [
            (DEFAULT_OAUTH, None, Ok("https://oauth2.googleapis.com/token")),
            (DEFAULT_OAUTH, Some("https://oauth2.example/token"), Ok("https://oauth2.example/token")),
            (
                "http://127.0.0.1:9/oauth",
                Some("https://oauth2.googleapis.com/token"),
                Ok("http://127.0.0.1:9/oauth/token"),
            ),
            (DEFAULT_OAUTH, Some("http://evil/token"), Err(())),
        ];
        for (base, uri, expected) in cases {
            assert_eq!(token_url(base, uri).map_err(|_| ()), expected.map(str::to_owned), "{base} {uri:?}");
        }
    }

    #[test]
    fn key_errors_never_quote_the_key() {
        let secret = "MIIsecretkeymaterial";
        let cases = [
            (format!("{{\"type\": \"service_account\", \"private_key\": \"{secret}"), "not a JSON object"),
            (
                format!("{{\"type\": \"authorized_user\", \"private_key\": \"{secret}\"}}"),
                "`authorized_user` credential",
            ),
            (format!("{{\"private_key\": \"{secret}\"}}"), "no `\"type\": \"service_account\"`"),
            (format!("{{\"type\": \"service_account\", \"private_key\": \"{secret}\"}}"), "no `client_email`"),
            (
                "{\"type\": \"service_account\", \"client_email\": 5, \"private_key\": 7}".to_owned(),
                "no `client_email`",
            ),
            ("{\"type\": \"service_account\", \"client_email\": \"a@b\"}".to_owned(), "no `private_key`"),
        ];
        for (text, fragment) in cases {
            let error = parse_key(&text).err().unwrap_or_else(|| panic!("{text}"));
            assert!(error.contains(fragment), "{error}");
            assert!(!error.contains(secret), "{error}");
        }
        let pems = [
            (secret.to_owned(), "not a PEM `PRIVATE KEY`"),
            (format!("-----BEGIN RSA PRIVATE KEY-----\n{secret}\n-----END RSA PRIVATE KEY-----\n"), "PKCS#1"),
            (format!("-----BEGIN PRIVATE KEY-----\n{secret}!\n-----END PRIVATE KEY-----\n"), "bad base64"),
            ("-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n".to_owned(), "not an RSA PKCS#8 key"),
        ];
        for (pem, fragment) in pems {
            let error = sign_jwt(&pem, &json!({}), &json!({})).unwrap_err();
            assert!(error.contains(fragment), "{error}");
            assert!(!error.contains(secret), "{error}");
        }
    }

    #[test]
    fn parses_a_key() {
        let key = parse_key(
            r#"{"type": "service_account", "client_email": "sa@p.iam.gserviceaccount.com", "private_key": "PEM",
                "private_key_id": "k1", "token_uri": "https://oauth2.googleapis.com/token", "project_id": "p"}"#,
        )
        .unwrap();
        assert_eq!(key.client_email, "sa@p.iam.gserviceaccount.com");
        assert_eq!(key.private_key, "PEM");
        assert_eq!(key.private_key_id.as_deref(), Some("k1"));
        assert_eq!(key.token_uri.as_deref(), Some("https://oauth2.googleapis.com/token"));
    }

    #[test]
    fn google_errors() {
        let cases: &[(u16, &str, &str)] = &[
            (
                400,
                r#"{"error": "invalid_grant", "error_description": "The audience in ID Token does not match."}"#,
                "HTTP 400: invalid_grant: The audience in ID Token does not match.",
            ),
            (400, r#"{"error": "invalid_grant"}"#, "HTTP 400: invalid_grant"),
            (
                403,
                r#"{"error": {"code": 403, "message": "Permission 'iam.serviceAccounts.getAccessToken' denied", "status": "PERMISSION_DENIED"}}"#,
                "HTTP 403: PERMISSION_DENIED: Permission 'iam.serviceAccounts.getAccessToken' denied",
            ),
            (
                404,
                r#"{"error": {"code": 404, "message": "Not found: projects/p/locations/z/clusters/c."}}"#,
                "HTTP 404: Not found: projects/p/locations/z/clusters/c.",
            ),
            (502, "<html>Bad\n gateway</html>", "HTTP 502: <html>Bad gateway</html>"),
            (500, "", "HTTP 500"),
        ];
        for (status, body, expected) in cases {
            assert_eq!(describe_error(*status, body.as_bytes()), *expected);
        }
    }

    #[test]
    fn gke_clusters() {
        let ok = br#"{"endpoint": "34.1.2.3", "status": "RUNNING", "masterAuth": {"clusterCaCertificate": "LS0tLS1CRUdJTg=="}}"#;
        assert_eq!(cluster_access(ok).unwrap(), ("https://34.1.2.3".to_owned(), Some("LS0tLS1CRUdJTg==".to_owned())));
        let no_ca = br#"{"endpoint": "gke-1.example.goog"}"#;
        assert_eq!(cluster_access(no_ca).unwrap(), ("https://gke-1.example.goog".to_owned(), None));
        for (body, fragment) in [
            (&br#"{"status": "PROVISIONING"}"#[..], "no endpoint (status PROVISIONING)"),
            (br#"{"endpoint": "a/b"}"#, "not a host"),
            (br#"{"endpoint": "1.2.3.4", "masterAuth": {"clusterCaCertificate": "%%"}}"#, "not base64"),
            (b"[]", "not a cluster"),
        ] {
            let error = cluster_access(body).unwrap_err();
            assert!(error.contains(fragment), "{error}");
        }
    }
}
