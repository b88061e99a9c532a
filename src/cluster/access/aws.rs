//! AWS: EKS credentials.
//!
//! Keyless: the job's GitHub OIDC token (audience `sts.amazonaws.com`) is
//! exchanged with STS `AssumeRoleWithWebIdentity` for `role-to-assume`; or
//! static access keys are used. EKS `DescribeCluster` gives the endpoint and
//! CA; the Kubernetes token is a presigned STS `GetCallerIdentity` URL
//! (with the `x-k8s-aws-id` header signed), prefixed `k8s-aws-v1.`, as
//! `aws-iam-authenticator` and `aws eks get-token` make it.
//!
//! Signing is AWS's own SigV4 implementation (`aws-sigv4`); this module only
//! builds the requests, reads the answers and explains the failures.

use std::fmt;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    sign, PercentEncodingMode, SignableBody, SignableRequest, SignatureLocation, SigningInstructions, SigningSettings,
    UriPathNormalizationMode,
};
use aws_sigv4::sign::v4;
use base64::Engine;
use serde::Deserialize;

use super::oidc::{url_encode, OidcSource};
use super::sops_env::SopsCredential;
use super::{access_error, ClusterCredentials, Endpoints, ProviderInputs};
use crate::base::error::Error;
use crate::base::runner::add_mask;
use crate::config::yaml::value_free_json_message;
use crate::config::Provider;
use crate::tools::http::{Http, HttpRequest, HttpResponse};

/// The audience AWS expects in a GitHub OIDC token.
pub const STS_AUDIENCE: &str = "sts.amazonaws.com";
/// The prefix of an EKS bearer token.
pub const TOKEN_PREFIX: &str = "k8s-aws-v1.";
/// The header naming the cluster inside the presigned token.
pub const CLUSTER_ID_HEADER: &str = "x-k8s-aws-id";
/// How long the presigned token URL says it is valid; STS honours 15 minutes
/// whatever it says, and aws-iam-authenticator sends 60.
pub const TOKEN_EXPIRES: Duration = Duration::from_secs(60);
/// How long the assumed role's credentials last.
const SESSION_SECONDS: u32 = 3600;
const STS_VERSION: &str = "2011-06-15";

/// AWS credentials. `Debug` shows the access key id only.
#[derive(Clone, PartialEq, Eq)]
pub struct AwsKeys {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
    /// When temporary credentials stop working (`Expiration` from STS).
    pub expiration: Option<SystemTime>,
}

impl fmt::Debug for AwsKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AwsKeys")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"** redacted **")
            .field("session_token", &self.session_token.as_ref().map(|_| "** redacted **"))
            .field("expiration", &self.expiration)
            .finish()
    }
}

impl AwsKeys {
    pub fn new(access_key_id: &str, secret_access_key: &str, session_token: Option<&str>) -> Self {
        AwsKeys {
            access_key_id: access_key_id.to_owned(),
            secret_access_key: secret_access_key.to_owned(),
            session_token: session_token.map(str::to_owned),
            expiration: None,
        }
    }

    /// The secret parts, to mask and to hand back.
    pub fn secrets(&self) -> Vec<String> {
        let mut secrets = vec![self.secret_access_key.clone()];
        secrets.extend(self.session_token.clone());
        secrets
    }
}

/// A request to presign: a URL to be fetched later by someone else, with
/// the headers they must send.
#[derive(Debug, Clone)]
pub struct Presign<'a> {
    /// The signing name of the service (`sts`, `s3`, ...).
    pub service: &'a str,
    pub region: &'a str,
    /// The URL, already percent-encoded, with its own query if any.
    pub url: &'a str,
    /// Headers (lowercase names) signed into the URL; the fetcher must send them.
    pub headers: &'a [(&'a str, &'a str)],
    /// `X-Amz-Expires`.
    pub expires: Duration,
    /// The signing time.
    pub time: SystemTime,
}

/// Presigns a GET: `request.url` with the `X-Amz-*` query parameters added.
/// S3 gets its own rules (unsigned payload, no path normalisation); every
/// other service signs the empty body, as the AWS SDKs do.
pub fn presign_url(keys: &AwsKeys, request: &Presign<'_>) -> Result<String, String> {
    let mut settings = SigningSettings::default();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(request.expires);
    let body = if request.service == "s3" {
        settings.percent_encoding_mode = PercentEncodingMode::Single;
        settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
        SignableBody::UnsignedPayload
    } else {
        SignableBody::empty()
    };
    let instructions = sign_request(
        keys,
        request.service,
        request.region,
        request.time,
        settings,
        "GET",
        request.url,
        request.headers,
        body,
    )?;
    Ok(with_query(request.url, instructions.params().iter().map(|(name, value)| (*name, value.as_ref()))))
}

/// The headers (`authorization`, `x-amz-date`, `x-amz-security-token`) that
/// sign a request to `url` for `service`.
#[allow(clippy::too_many_arguments)]
pub fn signed_headers(
    keys: &AwsKeys,
    service: &str,
    region: &str,
    time: SystemTime,
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<Vec<(String, String)>, String> {
    let instructions = sign_request(
        keys,
        service,
        region,
        time,
        SigningSettings::default(),
        method,
        url,
        headers,
        SignableBody::Bytes(body),
    )?;
    Ok(instructions.headers().map(|(name, value)| (name.to_owned(), value.to_owned())).collect())
}

#[allow(clippy::too_many_arguments)]
fn sign_request(
    keys: &AwsKeys,
    service: &str,
    region: &str,
    time: SystemTime,
    settings: SigningSettings,
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: SignableBody<'_>,
) -> Result<SigningInstructions, String> {
    // The identity type is aws-smithy-runtime-api's; inferred, so that crate stays out of our manifest.
    let identity = Credentials::new(
        &keys.access_key_id,
        &keys.secret_access_key,
        keys.session_token.clone(),
        keys.expiration,
        "deployer",
    )
    .into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(service)
        .time(time)
        .settings(settings)
        .build()
        .map_err(|e| format!("cannot sign: {e}"))?
        .into();
    let request = SignableRequest::new(method, url, headers.iter().copied(), body)
        .map_err(|e| format!("cannot sign {}: {e}", crate::tools::http::redact(url)))?;
    let (instructions, _signature) = sign(request, &params)
        .map_err(|e| format!("cannot sign {}: {e}", crate::tools::http::redact(url)))?
        .into_parts();
    Ok(instructions)
}

/// `url` with `params` appended to its query, each name and value percent-encoded.
fn with_query<'a>(url: &str, params: impl Iterator<Item = (&'a str, &'a str)>) -> String {
    let mut out = url.to_owned();
    let mut separator = if url.contains('?') { '&' } else { '?' };
    for (name, value) in params {
        out.push(separator);
        out.push_str(&url_encode(name));
        out.push('=');
        out.push_str(&url_encode(value));
        separator = '&';
    }
    out
}

/// The Kubernetes bearer token for EKS cluster `cluster_name`: a presigned STS
/// `GetCallerIdentity` URL at `sts` (a base URL) with `x-k8s-aws-id` signed.
pub fn eks_token(
    keys: &AwsKeys,
    sts: &str,
    region: &str,
    cluster_name: &str,
    time: SystemTime,
) -> Result<String, String> {
    let url = format!("{sts}/?Action=GetCallerIdentity&Version={STS_VERSION}");
    let headers = [(CLUSTER_ID_HEADER, cluster_name)];
    let presigned = presign_url(
        keys,
        &Presign { service: "sts", region, url: &url, headers: &headers, expires: TOKEN_EXPIRES, time },
    )?;
    Ok(token_from_presigned_url(&presigned))
}

/// `k8s-aws-v1.` and the URL in base64url without padding.
pub fn token_from_presigned_url(url: &str) -> String {
    format!("{TOKEN_PREFIX}{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(url))
}

/// Credentials for the EKS cluster `cluster_name` of `account` in `region`.
#[allow(clippy::too_many_arguments)]
pub async fn credentials(
    http: &Http,
    oidc: &OidcSource,
    endpoints: &Endpoints,
    inputs: &ProviderInputs,
    account: &str,
    cluster_name: &str,
    region: &str,
    now: SystemTime,
) -> Result<ClusterCredentials, Error> {
    if !is_region(region) {
        return Err(access_error(
            Provider::Aws,
            "reading the cluster's location",
            format!("`{region}` is not an AWS region name: fix `aws.region` in cluster.yaml (e.g. `us-west-2`)"),
        ));
    }
    let sts = endpoints.aws_sts.clone().unwrap_or_else(|| format!("https://sts.{region}.{}", aws_domain(region)));
    let eks = endpoints.aws_eks.clone().unwrap_or_else(|| format!("https://eks.{region}.{}", aws_domain(region)));
    let mut secrets = Vec::new();
    let keys = match credential_source(inputs)? {
        Source::Role(role) => {
            let web_identity = oidc.token(http, Provider::Aws, STS_AUDIENCE).await?;
            secrets.push(web_identity.clone());
            assume_role(http, &sts, role, &web_identity, cluster_name, now).await?
        }
        Source::Keys(keys) => {
            keys.secrets().iter().for_each(|secret| add_mask(secret));
            keys
        }
    };
    secrets.extend(keys.secrets());
    let cluster = describe_cluster(http, &eks, &keys, account, cluster_name, region, now).await?;
    let token = eks_token(&keys, &sts, region, cluster_name, now)
        .map_err(|e| access_error(Provider::Aws, "signing the Kubernetes token", e))?;
    add_mask(&token);
    secrets.push(token.clone());
    let sops = Some(SopsCredential::Aws {
        access_key_id: keys.access_key_id.clone(),
        secret_access_key: keys.secret_access_key.clone(),
        session_token: keys.session_token.clone(),
    });
    Ok(ClusterCredentials {
        server: cluster.endpoint,
        certificate_authority_data: cluster.certificate_authority_data,
        token: Some(token),
        kubeconfig: None,
        secrets,
        sops,
    })
}

/// The separate AWS identity sops uses for `kms` keys when the cluster's own
/// credentials are not AWS ones: `sops-aws-role-arn` assumed with the job's
/// OIDC token at STS (`DEPLOYER_AWS_STS_URL`, else the global endpoint; the
/// keys work in every region, and sops takes the region from each key's ARN).
pub async fn sops_identity(
    http: &Http,
    oidc: &OidcSource,
    sts: Option<&str>,
    role: &str,
    cluster_name: &str,
    now: SystemTime,
    secrets: &mut Vec<String>,
) -> Result<SopsCredential, Error> {
    let sts = sts.unwrap_or("https://sts.amazonaws.com");
    let web_identity = oidc.token(http, Provider::Aws, STS_AUDIENCE).await?;
    secrets.push(web_identity.clone());
    let keys = assume_role(http, sts, role, &web_identity, &format!("sops-{cluster_name}"), now).await?;
    secrets.extend(keys.secrets());
    Ok(SopsCredential::Aws {
        access_key_id: keys.access_key_id.clone(),
        secret_access_key: keys.secret_access_key.clone(),
        session_token: keys.session_token.clone(),
    })
}

/// Where the credentials come from.
#[derive(Debug, PartialEq, Eq)]
enum Source<'a> {
    /// Keyless: the job's OIDC token for this role ARN.
    Role(&'a str),
    Keys(AwsKeys),
}

fn credential_source(inputs: &ProviderInputs) -> Result<Source<'_>, Error> {
    let step = "choosing the credentials";
    if let Some(role) = inputs.role_to_assume.as_deref() {
        return Ok(Source::Role(role));
    }
    match (inputs.aws_access_key_id.as_deref(), inputs.aws_secret_access_key.as_deref()) {
        (Some(id), Some(secret)) => Ok(Source::Keys(AwsKeys::new(id, secret, inputs.aws_session_token.as_deref()))),
        (Some(_), None) => Err(access_error(
            Provider::Aws,
            step,
            "`aws-access-key-id` is set but `aws-secret-access-key` is empty: pass both",
        )),
        (None, Some(_)) => Err(access_error(
            Provider::Aws,
            step,
            "`aws-secret-access-key` is set but `aws-access-key-id` is empty: pass both",
        )),
        (None, None) => Err(access_error(
            Provider::Aws,
            step,
            "no AWS credentials: set `role-to-assume` (keyless, through GitHub OIDC: the job needs \
             `permissions: id-token: write`), or `aws-access-key-id` and `aws-secret-access-key` \
             (and `aws-session-token` for temporary keys)",
        )),
    }
}

/// STS `AssumeRoleWithWebIdentity`: the job's OIDC token for the role's keys.
async fn assume_role(
    http: &Http,
    sts: &str,
    role: &str,
    web_identity: &str,
    cluster_name: &str,
    now: SystemTime,
) -> Result<AwsKeys, Error> {
    let step = format!("assuming role {role}");
    let fail = |message: String| access_error(Provider::Aws, &step, message);
    let form = [
        ("Action", "AssumeRoleWithWebIdentity"),
        ("Version", STS_VERSION),
        ("RoleArn", role),
        ("RoleSessionName", &session_name(cluster_name)),
        ("WebIdentityToken", web_identity),
        ("DurationSeconds", &SESSION_SECONDS.to_string()),
    ]
    .iter()
    .map(|(name, value)| format!("{name}={}", url_encode(value)))
    .collect::<Vec<_>>()
    .join("&");
    let request = HttpRequest::post(format!("{sts}/"), form)
        .header("content-type", "application/x-www-form-urlencoded; charset=utf-8")
        .header("accept", "application/xml");
    let response = http.send(&request, true).await.map_err(|e| fail(e.to_string()))?;
    if !response.is_success() {
        return Err(fail(sts_failure(&response, true)));
    }
    let keys = parse_assumed_credentials(&response.text()).map_err(fail)?;
    keys.secrets().iter().for_each(|secret| add_mask(secret));
    if let Some(expiration) = keys.expiration.filter(|expiration| *expiration <= now) {
        return Err(fail(format!(
            "STS gave credentials that expired at {} s after 1970: check the runner's clock",
            expiration.duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
        )));
    }
    Ok(keys)
}

/// The keys in an `AssumeRoleWithWebIdentityResponse`.
fn parse_assumed_credentials(xml: &str) -> Result<AwsKeys, String> {
    let block = xml_element(xml, "Credentials").ok_or("the answer has no <Credentials>")?;
    let field = |tag: &str| xml_text(block, tag).ok_or(format!("the answer has no <{tag}> in <Credentials>"));
    let expiration = match xml_text(block, "Expiration") {
        Some(text) => Some(parse_utc(&text).ok_or(format!("the answer's <Expiration> `{text}` is not a UTC time"))?),
        None => None,
    };
    Ok(AwsKeys {
        access_key_id: field("AccessKeyId")?,
        secret_access_key: field("SecretAccessKey")?,
        session_token: Some(field("SessionToken")?),
        expiration,
    })
}

/// What went wrong, from an STS error answer (`<Error><Code>..</Code><Message>..</Message>`).
fn sts_failure(response: &HttpResponse, web_identity: bool) -> String {
    let text = response.text();
    let error = xml_element(&text, "Error");
    let code = error.and_then(|e| xml_text(e, "Code"));
    let message = error.and_then(|e| xml_text(e, "Message"));
    match code {
        Some(code) => {
            let mut out = format!("{code}: {}", message.unwrap_or_default());
            if let Some(hint) = sts_hint(&code, web_identity) {
                out.push_str(" (");
                out.push_str(hint);
                out.push(')');
            }
            out
        }
        None => format!("HTTP {}: {}", response.status, response.excerpt()),
    }
}

fn sts_hint(code: &str, web_identity: bool) -> Option<&'static str> {
    match code {
        "ExpiredToken" | "ExpiredTokenException" if web_identity => {
            Some("the job's OIDC token expired before it was used: re-run the job")
        }
        "ExpiredToken"
        | "ExpiredTokenException"
        | "InvalidClientTokenId"
        | "UnrecognizedClientException"
        | "SignatureDoesNotMatch" => Some(
            "the AWS credentials are expired or not valid: refresh `aws-access-key-id`, \
             `aws-secret-access-key` and `aws-session-token`, or use `role-to-assume`",
        ),
        "AccessDenied" if web_identity => Some(
            "the role's trust policy must allow `sts:AssumeRoleWithWebIdentity` for the IAM OIDC provider \
             token.actions.githubusercontent.com, audience `sts.amazonaws.com`, and this repository's `sub`",
        ),
        "InvalidIdentityToken" => {
            Some("register token.actions.githubusercontent.com as an IAM OIDC identity provider in the role's account")
        }
        _ => None,
    }
}

#[derive(Deserialize)]
struct DescribeClusterAnswer {
    cluster: EksCluster,
}

#[derive(Deserialize)]
struct EksCluster {
    #[serde(default)]
    endpoint: Option<String>,
    #[serde(rename = "certificateAuthority", default)]
    certificate_authority: Option<EksCertificateAuthority>,
    #[serde(default)]
    status: Option<String>,
}

#[derive(Deserialize)]
struct EksCertificateAuthority {
    #[serde(default)]
    data: Option<String>,
}

#[derive(Debug, PartialEq, Eq)]
struct ClusterAddress {
    endpoint: String,
    certificate_authority_data: Option<String>,
}

/// EKS `DescribeCluster`: the API server's URL and CA.
async fn describe_cluster(
    http: &Http,
    eks: &str,
    keys: &AwsKeys,
    account: &str,
    cluster_name: &str,
    region: &str,
    now: SystemTime,
) -> Result<ClusterAddress, Error> {
    let step = format!("describing EKS cluster {cluster_name}");
    let fail = |message: String| access_error(Provider::Aws, &step, message);
    let url = format!("{eks}/clusters/{}", url_encode(cluster_name));
    let signed = signed_headers(keys, "eks", region, now, "GET", &url, &[], &[]).map_err(&fail)?;
    let mut request = HttpRequest::get(&url).header("accept", "application/json");
    for (name, value) in signed {
        request = request.header(&name, value);
    }
    let response = http.send(&request, true).await.map_err(|e| fail(e.to_string()))?;
    if !response.is_success() {
        return Err(fail(eks_failure(&response, account, cluster_name, region)));
    }
    parse_cluster(&response.body).map_err(fail)
}

fn parse_cluster(body: &[u8]) -> Result<ClusterAddress, String> {
    let answer: DescribeClusterAnswer = serde_json::from_slice(body)
        .map_err(|e| format!("unexpected answer from EKS: {}", value_free_json_message(&e)))?;
    let cluster = answer.cluster;
    let endpoint = cluster.endpoint.filter(|e| !e.trim().is_empty()).ok_or_else(|| {
        format!(
            "the cluster has no API endpoint yet (status {}): wait until it is ACTIVE",
            cluster.status.as_deref().unwrap_or("unknown")
        )
    })?;
    if !endpoint.starts_with("https://") {
        return Err(format!("the cluster's endpoint `{endpoint}` is not an https:// URL"));
    }
    let certificate_authority_data =
        cluster.certificate_authority.and_then(|ca| ca.data).filter(|data| !data.trim().is_empty());
    Ok(ClusterAddress { endpoint, certificate_authority_data })
}

#[derive(Deserialize, Default)]
struct EksError {
    #[serde(default, alias = "Message")]
    message: Option<String>,
    #[serde(default, rename = "__type")]
    kind: Option<String>,
}

/// What went wrong, from an EKS error answer (`{"message": ...}` and the `x-amzn-errortype` header).
fn eks_failure(response: &HttpResponse, account: &str, cluster_name: &str, region: &str) -> String {
    let parsed: EksError = serde_json::from_slice(&response.body).unwrap_or_default();
    let kind = response
        .headers
        .get("x-amzn-errortype")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or(parsed.kind)
        .map(|kind| {
            kind.split([':', '#']).find(|part| !part.is_empty() && !part.contains('.')).unwrap_or("").to_owned()
        })
        .filter(|kind| !kind.is_empty());
    let message = parsed.message.unwrap_or_else(|| response.excerpt());
    let what = match &kind {
        Some(kind) => format!("HTTP {} {kind}: {message}", response.status),
        None => format!("HTTP {}: {message}", response.status),
    };
    let lower = message.to_ascii_lowercase();
    let kind = kind.as_deref().unwrap_or("");
    let hint = if lower.contains("expired") || kind.starts_with("ExpiredToken") {
        "the AWS credentials have expired: refresh `aws-access-key-id`, `aws-secret-access-key` and \
         `aws-session-token`, or use `role-to-assume` (keyless)"
            .to_owned()
    } else if response.status == 401
        || matches!(kind, "UnrecognizedClientException" | "InvalidSignatureException" | "InvalidClientTokenId")
    {
        "the AWS credentials are not valid: check `aws-access-key-id` and `aws-secret-access-key`".to_owned()
    } else if response.status == 404 || kind == "ResourceNotFoundException" {
        format!(
            "no EKS cluster `{cluster_name}` in {region} for these credentials: check `aws.clusterName` and \
             `aws.region` in cluster.yaml, and that the credentials are for account {account}"
        )
    } else if response.status == 403 {
        format!("the credentials need `eks:DescribeCluster` on cluster `{cluster_name}` in account {account}")
    } else {
        return what;
    };
    format!("{what} ({hint})")
}

/// The text of the first `<tag>` element in `xml`, entities decoded; `None` when missing or empty.
pub fn xml_text(xml: &str, tag: &str) -> Option<String> {
    let text = decode_entities(xml_element(xml, tag)?.trim());
    (!text.is_empty()).then_some(text)
}

/// The raw inside of the first `<tag>` element (no attributes) in `xml`.
fn xml_element<'a>(xml: &'a str, tag: &str) -> Option<&'a str> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let start = xml.find(&open)? + open.len();
    let end = xml[start..].find(&close)? + start;
    Some(&xml[start..end])
}

fn decode_entities(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let decoded = rest.find(';').filter(|end| *end <= 10).and_then(|end| {
            let entity = &rest[1..end];
            let c = match entity {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                _ => entity
                    .strip_prefix("#x")
                    .map(|hex| u32::from_str_radix(hex, 16))
                    .or_else(|| entity.strip_prefix('#').map(str::parse::<u32>))
                    .and_then(Result::ok)
                    .and_then(char::from_u32),
            };
            c.map(|c| (c, end + 1))
        });
        match decoded {
            Some((c, used)) => {
                out.push(c);
                rest = &rest[used..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// `deployer-<cluster>` as an STS session name: `[\w+=,.@-]`, at most 64 characters.
pub fn session_name(cluster: &str) -> String {
    format!("deployer-{cluster}")
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || "_+=,.@-".contains(c) { c } else { '-' })
        .take(64)
        .collect()
}

fn is_region(region: &str) -> bool {
    !region.is_empty()
        && region.len() <= 32
        && region.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !region.starts_with('-')
}

/// The DNS suffix of the region's partition.
fn aws_domain(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "amazonaws.com.cn"
    } else {
        "amazonaws.com"
    }
}

/// `YYYY-MM-DDTHH:MM:SS[.fff]Z` as a time.
fn parse_utc(text: &str) -> Option<SystemTime> {
    let text = text.strip_suffix('Z')?;
    let (date, time) = text.split_once('T')?;
    let time = time.split_once('.').map_or(
        time,
        |(whole, fraction)| {
            if fraction.bytes().all(|b| b.is_ascii_digit()) {
                whole
            } else {
                ""
            }
        },
    );
    let number = |part: &str, len: usize| {
        (part.len() == len && part.bytes().all(|b| b.is_ascii_digit())).then(|| part.parse::<i64>().ok()).flatten()
    };
    let mut date_parts = date.split('-');
    let (year, month, day) =
        (number(date_parts.next()?, 4)?, number(date_parts.next()?, 2)?, number(date_parts.next()?, 2)?);
    let mut time_parts = time.split(':');
    let (hour, minute, second) =
        (number(time_parts.next()?, 2)?, number(time_parts.next()?, 2)?, number(time_parts.next()?, 2)?);
    if date_parts.next().is_some()
        || time_parts.next().is_some()
        || !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    // Days from 1970-01-01 to the date (Howard Hinnant's days_from_civil).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let day_of_year = (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    let days = era * 146_097 + day_of_era - 719_468;
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second;
    Some(SystemTime::UNIX_EPOCH + Duration::from_secs(u64::try_from(seconds).ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extracts_xml_fields() {
        let answer = "<AssumeRoleWithWebIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\
            <AssumeRoleWithWebIdentityResult><Credentials>\
            <AccessKeyId>ASIAEXAMPLE</AccessKeyId>\n  <SecretAccessKey> s3cr/t+k=y </SecretAccessKey>\
            <SessionToken>tok&amp;en&#x2F;&#47;</SessionToken><Expiration>2030-01-02T03:04:05Z</Expiration>\
            </Credentials></AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>";
        let cases: &[(&str, &str, Option<&str>)] = &[
            (answer, "AccessKeyId", Some("ASIAEXAMPLE")),
            (answer, "SecretAccessKey", Some("s3cr/t+k=y")),
            (answer, "SessionToken", Some("tok&en//")),
            (answer, "Access", None),
            ("<a></a>", "a", None),
            ("<a>x", "a", None),
            ("<a>1 &lt; 2 &gt; 0 &quot;&apos; &bogus; & &#xZZ;</a>", "a", Some("1 < 2 > 0 \"' &bogus; & &#xZZ;")),
            ("<Error><Code>AccessDenied</Code></Error>", "Code", Some("AccessDenied")),
        ];
        for (xml, tag, expected) in cases {
            assert_eq!(xml_text(xml, tag).as_deref(), *expected, "{tag} in {xml}");
        }
        let keys = parse_assumed_credentials(answer).unwrap();
        assert_eq!(keys.access_key_id, "ASIAEXAMPLE");
        assert_eq!(keys.session_token.as_deref(), Some("tok&en//"));
        assert_eq!(keys.expiration, parse_utc("2030-01-02T03:04:05Z"));
        assert!(!format!("{keys:?}").contains("s3cr"));
        for broken in ["<x/>", "<Credentials><AccessKeyId>a</AccessKeyId></Credentials>"] {
            assert!(parse_assumed_credentials(broken).is_err(), "{broken}");
        }
    }

    #[test]
    fn parses_utc_times() {
        let cases: &[(&str, Option<u64>)] = &[
            ("1970-01-01T00:00:00Z", Some(0)),
            ("2013-05-24T00:00:00Z", Some(1_369_353_600)),
            ("2000-02-29T12:30:15Z", Some(951_827_415)),
            ("2030-01-02T03:04:05.123Z", Some(1_893_553_445)),
            ("2030-01-02T03:04:05", None),
            ("2030-13-02T03:04:05Z", None),
            ("2030-01-02 03:04:05Z", None),
            ("30-01-02T03:04:05Z", None),
            ("2030-01-02T03:04:05.abcZ", None),
            ("1969-12-31T23:59:59Z", None),
        ];
        for (text, expected) in cases {
            let got = parse_utc(text).map(|t| t.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs());
            assert_eq!(got, *expected, "{text}");
        }
    }

    #[test]
    fn cleans_session_names() {
        let long = "x".repeat(100);
        let cases: &[(&str, String)] = &[
            ("cluster2", "deployer-cluster2".into()),
            ("my cluster/é", "deployer-my-cluster--".into()),
            ("a+b=c,d.e@f_g", "deployer-a+b=c,d.e@f_g".into()),
            (&long, format!("deployer-{}", "x".repeat(55))),
        ];
        for (cluster, expected) in cases {
            assert_eq!(&session_name(cluster), expected);
            assert!(session_name(cluster).len() <= 64);
        }
    }

    #[test]
    fn assembles_tokens_from_presigned_urls() {
        let cases = [
            (
                "https://sts.us-west-2.amazonaws.com/?Action=GetCallerIdentity",
                "k8s-aws-v1.aHR0cHM6Ly9zdHMudXMtd2VzdC0yLmFtYXpvbmF3cy5jb20vP0FjdGlvbj1HZXRDYWxsZXJJZGVudGl0eQ",
            ),
            ("a?", "k8s-aws-v1.YT8"),
            ("??>", "k8s-aws-v1.Pz8-"),
        ];
        for (url, token) in cases {
            assert_eq!(token_from_presigned_url(url), token);
        }
    }

    #[test]
    fn appends_encoded_query_parameters() {
        let params = [("X-Amz-Credential", "AKID/20130524/us-east-1/s3/aws4_request"), ("b", "x;y z")];
        assert_eq!(
            with_query("https://h/p", params.into_iter()),
            "https://h/p?X-Amz-Credential=AKID%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&b=x%3By%20z"
        );
        assert_eq!(with_query("https://h/?a=1", [("c", "2")].into_iter()), "https://h/?a=1&c=2");
    }

    #[test]
    fn chooses_the_credential_source() {
        let role = ProviderInputs { role_to_assume: Some("arn:aws:iam::1:role/r".into()), ..Default::default() };
        assert_eq!(credential_source(&role).unwrap(), Source::Role("arn:aws:iam::1:role/r"));
        let keys = ProviderInputs {
            aws_access_key_id: Some("AKID".into()),
            aws_secret_access_key: Some("secret".into()),
            aws_session_token: Some("session".into()),
            ..Default::default()
        };
        assert_eq!(credential_source(&keys).unwrap(), Source::Keys(AwsKeys::new("AKID", "secret", Some("session"))));
        let cases: &[(ProviderInputs, &str)] = &[
            (ProviderInputs::default(), "permissions: id-token: write"),
            (
                ProviderInputs { aws_access_key_id: Some("AKID".into()), ..Default::default() },
                "`aws-secret-access-key` is empty",
            ),
            (
                ProviderInputs { aws_secret_access_key: Some("s".into()), ..Default::default() },
                "`aws-access-key-id` is empty",
            ),
        ];
        for (inputs, expected) in cases {
            let error = credential_source(inputs).unwrap_err().to_string();
            assert!(error.starts_with("aws: choosing the credentials failed: "), "{error}");
            assert!(error.contains(expected), "{error}");
        }
    }

    #[test]
    fn explains_sts_errors() {
        let response = |status: u16, body: &str| HttpResponse {
            status,
            headers: http::HeaderMap::new(),
            body: body.as_bytes().to_vec(),
        };
        let xml = |code: &str| {
            format!("<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>m &amp; n</Message></Error></ErrorResponse>")
        };
        let cases: &[(u16, String, bool, &str)] = &[
            (403, xml("AccessDenied"), true, "AccessDenied: m & n (the role's trust policy must allow"),
            (400, xml("ExpiredTokenException"), true, "ExpiredTokenException: m & n (the job's OIDC token expired"),
            (403, xml("InvalidClientTokenId"), false, "InvalidClientTokenId: m & n (the AWS credentials are expired"),
            (400, xml("InvalidIdentityToken"), true, "InvalidIdentityToken: m & n (register token.actions"),
            (400, xml("Throttling"), true, "Throttling: m & n"),
            (502, "<html>bad gateway</html>".into(), true, "HTTP 502: <html>bad gateway</html>"),
        ];
        for (status, body, web_identity, expected) in cases {
            let got = sts_failure(&response(*status, body), *web_identity);
            assert!(got.starts_with(expected), "{got}");
        }
    }

    #[test]
    fn explains_eks_errors() {
        let response = |status: u16, kind: Option<&str>, body: &str| {
            let mut headers = http::HeaderMap::new();
            if let Some(kind) = kind {
                headers.insert("x-amzn-errortype", http::HeaderValue::from_str(kind).unwrap());
            }
            HttpResponse { status, headers, body: body.as_bytes().to_vec() }
        };
        let cases = [
            (
                response(403, None, r#"{"message":"The security token included in the request is expired"}"#),
                "HTTP 403: The security token included in the request is expired (the AWS credentials have expired",
            ),
            (
                response(404, Some("ResourceNotFoundException:http://internal.amazon.com/coral/com.amazonaws.eks/"), r#"{"message":"No cluster found for name: c2."}"#),
                "HTTP 404 ResourceNotFoundException: No cluster found for name: c2. (no EKS cluster `c2` in us-west-2 for these credentials",
            ),
            (
                response(403, None, r#"{"Message":"User: x is not authorized","__type":"AccessDeniedException"}"#),
                "HTTP 403 AccessDeniedException: User: x is not authorized (the credentials need `eks:DescribeCluster` on cluster `c2` in account 1",
            ),
            (
                response(403, Some("UnrecognizedClientException"), r#"{"message":"The security token included in the request is invalid."}"#),
                "HTTP 403 UnrecognizedClientException: The security token included in the request is invalid. (the AWS credentials are not valid",
            ),
            (response(500, None, "oops"), "HTTP 500: oops"),
        ];
        for (response, expected) in cases {
            let got = eks_failure(&response, "1", "c2", "us-west-2");
            assert!(got.starts_with(expected), "{got}");
        }
    }

    #[test]
    fn reads_the_cluster_address() {
        let ok = br#"{"cluster":{"name":"c","endpoint":"https://ABC.gr7.us-west-2.eks.amazonaws.com","certificateAuthority":{"data":"LS0t"},"status":"ACTIVE"}}"#;
        assert_eq!(
            parse_cluster(ok).unwrap(),
            ClusterAddress {
                endpoint: "https://ABC.gr7.us-west-2.eks.amazonaws.com".into(),
                certificate_authority_data: Some("LS0t".into())
            }
        );
        let cases: &[(&[u8], &str)] = &[
            (br#"{"cluster":{"status":"CREATING"}}"#, "no API endpoint yet (status CREATING)"),
            (br#"{"cluster":{"endpoint":"http://x"}}"#, "is not an https:// URL"),
            (b"[]", "unexpected answer from EKS"),
        ];
        for (body, expected) in cases {
            let error = parse_cluster(body).unwrap_err();
            assert!(error.contains(expected), "{error}");
        }
    }

    #[test]
    fn recognises_region_names() {
        for (region, ok) in [
            ("us-west-2", true),
            ("cn-north-1", true),
            ("", false),
            ("us-west-2/x", false),
            ("US", false),
            ("-a", false),
        ] {
            assert_eq!(is_region(region), ok, "{region}");
        }
        assert_eq!(aws_domain("cn-north-1"), "amazonaws.com.cn");
        assert_eq!(aws_domain("eu-west-1"), "amazonaws.com");
    }
}
