//! Azure: AKS credentials.
//!
//! Keyless: the job's GitHub OIDC token (audience `api://AzureADTokenExchange`)
//! is the client assertion of a federated credential of `client-id` in
//! `tenant-id`; with `client-secret` instead, the secret. The ARM token then
//! asks Resource Manager for the cluster's user credentials
//! (`listClusterUserCredential`), a kubeconfig.
//!
//! **Entra ID clusters need kubelogin.** When the AKS cluster uses Microsoft
//! Entra ID authentication, its user kubeconfig carries no token: the user
//! runs the `kubelogin` exec plugin, which must then be installed on the
//! runner and switched to a non-interactive login (for example
//! `kubelogin convert-kubeconfig -l azurecli` after `azure/login`, or
//! `-l workloadidentity`). Clusters with local accounts get a kubeconfig with
//! a token, which works as it is. A warning says so when the kubeconfig uses
//! an exec plugin.

use base64::Engine;
use serde::Deserialize;
use serde_json::Value;

use super::kubeconfig::{check, secrets_in};
use super::oidc::{url_encode, OidcSource};
use super::sops_env::SopsCredential;
use super::{access_error, ClusterCredentials, Endpoints, ProviderInputs};
use crate::base::error::Error;
use crate::base::runner;
use crate::config::yaml::value_free_json_message;
use crate::config::Provider;
use crate::tools::http::{Http, HttpRequest, HttpResponse};

/// The OIDC audience Entra ID expects of federated credentials.
pub const FEDERATED_AUDIENCE: &str = "api://AzureADTokenExchange";
/// Microsoft identity platform's public authority (the default of [`Endpoints::azure_login`]).
const DEFAULT_LOGIN: &str = "https://login.microsoftonline.com";
/// The scope of an Azure Resource Manager token.
pub const ARM_SCOPE: &str = "https://management.azure.com/.default";
/// The AKS API version used for `listClusterUserCredential`.
pub const AKS_API_VERSION: &str = "2024-05-01";

const INPUT_STEP: &str = "reading the inputs";
const LOGIN_STEP: &str = "getting a Microsoft Entra ID token";
const ARM_STEP: &str = "reading the AKS cluster user credentials";

/// The identity inputs, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Ids<'a> {
    client_id: &'a str,
    tenant_id: &'a str,
    subscription_id: &'a str,
}

/// What proves the app's identity to Entra ID. No `Debug`: it holds a secret.
enum ClientCredential<'a> {
    /// The GitHub OIDC token, for a federated credential.
    Assertion(String),
    /// The `client-secret` input.
    Secret(&'a str),
}

/// Credentials for the AKS cluster `cluster` in `resource_group`.
///
/// Clusters with Entra ID authentication return a kubeconfig that runs
/// `kubelogin`: see the module documentation.
pub async fn credentials(
    http: &Http,
    oidc: &OidcSource,
    endpoints: &Endpoints,
    inputs: &ProviderInputs,
    resource_group: &str,
    cluster: &str,
) -> Result<ClusterCredentials, Error> {
    let ids = ids(inputs).map_err(|message| access_error(Provider::Azure, INPUT_STEP, message))?;
    let mut secrets = Vec::new();
    let credential = match inputs.client_secret.as_deref() {
        Some(secret) => ClientCredential::Secret(secret),
        None => {
            let token = oidc.token(http, Provider::Azure, FEDERATED_AUDIENCE).await?;
            secrets.push(token.clone());
            ClientCredential::Assertion(token)
        }
    };

    // azidentity's default authority is login.microsoftonline.com; an override is handed on.
    let authority_host = (endpoints.azure_login != DEFAULT_LOGIN).then(|| format!("{}/", endpoints.azure_login));
    let (client_id, tenant_id) = (ids.client_id.to_owned(), ids.tenant_id.to_owned());
    let sops = Some(match &credential {
        ClientCredential::Assertion(assertion) => {
            SopsCredential::AzureFederated { client_id, tenant_id, assertion: assertion.clone(), authority_host }
        }
        ClientCredential::Secret(secret) => {
            SopsCredential::AzureSecret { client_id, tenant_id, secret: (*secret).to_owned(), authority_host }
        }
    });
    let request =
        HttpRequest::post(token_url(&endpoints.azure_login, ids.tenant_id), token_form(ids.client_id, &credential))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("accept", "application/json");
    let response = send(http, &request, LOGIN_STEP, |code| login_hint(code, &credential)).await?;
    let arm_token = access_token(&response.body)?;
    secrets.push(arm_token.clone());

    let url = credentials_url(&endpoints.azure_arm, ids.subscription_id, resource_group, cluster);
    let request = HttpRequest::post(url, Vec::new())
        .header("authorization", format!("Bearer {arm_token}"))
        .header("content-length", "0")
        .header("accept", "application/json");
    let response = send(http, &request, ARM_STEP, arm_hint).await?;
    let text = user_kubeconfig(&response.body).map_err(|message| access_error(Provider::Azure, ARM_STEP, message))?;
    let found = secrets_in(&text);
    for secret in &found {
        runner::add_mask(secret);
    }
    secrets.extend(found);
    check(&text).map_err(|e| access_error(Provider::Azure, ARM_STEP, e.to_string()))?;
    if uses_exec_plugin(&text) {
        runner::annotate_message(
            runner::Level::Warning,
            &format!(
                "azure: the kubeconfig of AKS cluster {cluster} logs in with an exec plugin (kubelogin, Microsoft \
                 Entra ID): install kubelogin on the runner and make it non-interactive (e.g. `kubelogin \
                 convert-kubeconfig -l azurecli` after azure/login), or enable local accounts on the cluster"
            ),
        );
    }
    Ok(ClusterCredentials { kubeconfig: Some(text), secrets, sops, ..ClusterCredentials::default() })
}

/// Sends `request`; a refusal becomes an access error for `step` with the hint for its error code.
async fn send(
    http: &Http,
    request: &HttpRequest,
    step: &str,
    hint: impl Fn(&str) -> String,
) -> Result<HttpResponse, Error> {
    // Token requests and listing credentials change nothing: retrying them is safe.
    let response = http.send(request, true).await.map_err(|e| access_error(Provider::Azure, step, e.to_string()))?;
    if response.is_success() {
        return Ok(response);
    }
    let (said, code) = describe_error(response.status, &response.body);
    Err(access_error(Provider::Azure, step, format!("{}; {}", said.trim_end_matches('.'), hint(&code))))
}

/// The access token of an Entra ID answer, masked at once.
fn access_token(body: &[u8]) -> Result<String, Error> {
    #[derive(Deserialize)]
    struct Answer {
        access_token: Option<String>,
    }
    let answer: Answer = serde_json::from_slice(body).map_err(|e| {
        access_error(Provider::Azure, LOGIN_STEP, format!("the answer is not JSON: {}", value_free_json_message(&e)))
    })?;
    let token = answer
        .access_token
        .filter(|t| !t.is_empty())
        .ok_or_else(|| access_error(Provider::Azure, LOGIN_STEP, "the answer has no `access_token`"))?;
    runner::add_mask(&token);
    Ok(token)
}

/// `client-id`, `tenant-id` and `subscription-id`, each required and safe in a URL.
fn ids(inputs: &ProviderInputs) -> Result<Ids<'_>, String> {
    fn get<'a>(value: &'a Option<String>, name: &str, what: &str) -> Result<&'a str, String> {
        match value.as_deref() {
            None => Err(format!("`{name}` is required: {what}")),
            Some(v) if !v.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.') => {
                Err(format!("`{name}` must be {what}, not `{}`", v.chars().take(100).collect::<String>()))
            }
            Some(v) => Ok(v),
        }
    }
    Ok(Ids {
        client_id: get(
            &inputs.client_id,
            "client-id",
            "the application (client) ID of the app registration with a federated credential for this \
             repository (or with `client-secret`)",
        )?,
        tenant_id: get(&inputs.tenant_id, "tenant-id", "the directory (tenant) ID")?,
        subscription_id: get(
            &inputs.subscription_id,
            "subscription-id",
            "the ID of the subscription that holds the cluster",
        )?,
    })
}

/// The tenant's OAuth 2.0 v2 token endpoint.
fn token_url(login_base: &str, tenant_id: &str) -> String {
    format!("{login_base}/{}/oauth2/v2.0/token", url_encode(tenant_id))
}

/// The client-credentials request for an ARM token (form).
fn token_form(client_id: &str, credential: &ClientCredential<'_>) -> String {
    let mut pairs = vec![("client_id", client_id), ("scope", ARM_SCOPE), ("grant_type", "client_credentials")];
    match credential {
        ClientCredential::Assertion(token) => {
            pairs.push(("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"));
            pairs.push(("client_assertion", token));
        }
        ClientCredential::Secret(secret) => pairs.push(("client_secret", secret)),
    }
    pairs.iter().map(|(name, value)| format!("{name}={}", url_encode(value))).collect::<Vec<_>>().join("&")
}

/// `listClusterUserCredential` of the cluster.
fn credentials_url(arm_base: &str, subscription_id: &str, resource_group: &str, cluster: &str) -> String {
    format!(
        "{arm_base}/subscriptions/{}/resourceGroups/{}/providers/Microsoft.ContainerService/managedClusters/{}\
         /listClusterUserCredential?api-version={AKS_API_VERSION}",
        url_encode(subscription_id),
        url_encode(resource_group),
        url_encode(cluster)
    )
}

/// The first kubeconfig of a `CredentialResults` answer, decoded.
fn user_kubeconfig(body: &[u8]) -> Result<String, String> {
    #[derive(Deserialize)]
    struct Results {
        #[serde(default)]
        kubeconfigs: Vec<Entry>,
    }
    #[derive(Deserialize)]
    struct Entry {
        value: Option<String>,
    }
    let results: Results = serde_json::from_slice(body)
        .map_err(|e| format!("the answer is not a list of credentials: {}", value_free_json_message(&e)))?;
    let value = results
        .kubeconfigs
        .into_iter()
        .next()
        .and_then(|entry| entry.value)
        .filter(|v| !v.trim().is_empty())
        .ok_or("the answer has no kubeconfig")?;
    let compact: String = value.split_whitespace().collect();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(compact)
        .map_err(|_| "the answer's kubeconfig is not base64".to_owned())?;
    String::from_utf8(bytes).map_err(|_| "the answer's kubeconfig is not UTF-8".to_owned())
}

/// Whether a kubeconfig's user runs an exec plugin (kubelogin on Entra ID clusters).
fn uses_exec_plugin(text: &str) -> bool {
    text.lines().any(|line| line.trim_start().trim_start_matches("- ").starts_with("exec:"))
}

/// `HTTP <status>: <what Azure said>` and the error code (an `AADSTS` number, an ARM code, or an OAuth error).
fn describe_error(status: u16, body: &[u8]) -> (String, String) {
    let value: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    // Entra ID descriptions end with trace and correlation IDs on their own lines.
    let clean = |text: &str| -> String {
        let first = text.lines().next().unwrap_or_default();
        let line: String = first.split_whitespace().collect::<Vec<_>>().join(" ");
        let mut short: String = line.chars().take(400).collect();
        if short.len() < line.len() {
            short.push('…');
        }
        short
    };
    let (said, code) = match value.get("error") {
        // Entra ID: {"error": "invalid_client", "error_description": "AADSTS7000222: ..."}
        Some(Value::String(error)) => {
            let description = value.get("error_description").and_then(Value::as_str).map(clean);
            let code = description.as_deref().and_then(aadsts_code).unwrap_or_else(|| error.clone());
            match description {
                Some(description) => (format!("{}: {description}", clean(error)), code),
                None => (clean(error), code),
            }
        }
        // ARM: {"error": {"code": "AuthorizationFailed", "message": "..."}}
        Some(Value::Object(error)) => {
            let code = error.get("code").and_then(Value::as_str).map(clean).unwrap_or_default();
            match error.get("message").and_then(Value::as_str).map(clean) {
                Some(message) if !code.is_empty() => (format!("{code}: {message}"), code),
                Some(message) => (message, code),
                None => (code.clone(), code),
            }
        }
        _ => (clean(&String::from_utf8_lossy(body)), String::new()),
    };
    let said = if said.is_empty() { format!("HTTP {status}") } else { format!("HTTP {status}: {said}") };
    (said, code)
}

/// `AADSTS700016` from `AADSTS700016: Application ... was not found`.
fn aadsts_code(description: &str) -> Option<String> {
    let rest = description.trim_start().strip_prefix("AADSTS")?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    (!digits.is_empty()).then(|| format!("AADSTS{digits}"))
}

fn login_hint(code: &str, credential: &ClientCredential<'_>) -> String {
    match code {
        "AADSTS700016" => "no application with this `client-id` in the tenant `tenant-id`: check both inputs \
                           (the app registration's Application (client) ID and Directory (tenant) ID)"
            .into(),
        "AADSTS90002" | "AADSTS900023" => "no such tenant: check `tenant-id`".into(),
        "AADSTS7000222" => "the client secret has expired: create a new one and update the secret, or switch to \
                            a federated credential (keyless, no `client-secret`)"
            .into(),
        "AADSTS7000215" => "the client secret is wrong: pass the secret's value, not its ID".into(),
        "AADSTS70021" | "AADSTS700211" | "AADSTS700212" | "AADSTS700213" => {
            "no federated credential of the app matches this job: add one with issuer \
             https://token.actions.githubusercontent.com, audience api://AzureADTokenExchange and the subject of \
             this job (e.g. repo:OWNER/REPO:ref:refs/heads/main or repo:OWNER/REPO:environment:NAME)"
                .into()
        }
        "AADSTS700024" => {
            "the GitHub OIDC token is not valid now (expired, or the clock is off): re-run the job".into()
        }
        "AADSTS7000112" => "the application is disabled: enable it in Microsoft Entra ID".into(),
        _ => match credential {
            ClientCredential::Assertion(_) => "check `client-id`, `tenant-id` and the app's federated credential \
                                               for this repository"
                .into(),
            ClientCredential::Secret(_) => "check `client-id`, `tenant-id` and `client-secret`".into(),
        },
    }
}

fn arm_hint(code: &str) -> String {
    match code {
        "AuthorizationFailed" => "grant the app the Azure Kubernetes Service Cluster User Role \
                                  (Microsoft.ContainerService/managedClusters/listClusterUserCredential/action) \
                                  on the cluster"
            .into(),
        "ResourceNotFound" | "ResourceGroupNotFound" | "NotFound" => {
            "check azure.resource_group and azure.cluster in cluster.yaml, and `subscription-id`".into()
        }
        "SubscriptionNotFound" | "InvalidSubscriptionId" => "check `subscription-id`".into(),
        "InvalidAuthenticationToken" | "InvalidAuthenticationTokenTenant" | "ExpiredAuthenticationToken" => {
            "the token was refused: check that `tenant-id` is the tenant of `subscription-id`".into()
        }
        _ => "check `subscription-id`, azure.resource_group and azure.cluster in cluster.yaml, and that the app \
              may list the cluster's user credentials"
            .into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn given(client: Option<&str>, tenant: Option<&str>, subscription: Option<&str>) -> ProviderInputs {
        ProviderInputs {
            client_id: client.map(str::to_owned),
            tenant_id: tenant.map(str::to_owned),
            subscription_id: subscription.map(str::to_owned),
            ..ProviderInputs::default()
        }
    }

    #[test]
    fn identity_inputs() {
        let (c, t, s) = (Some("c-1"), Some("contoso.onmicrosoft.com"), Some("s-1"));
        let cases: &[(ProviderInputs, Result<(), &str>)] = &[
            (given(c, t, s), Ok(())),
            (given(None, t, s), Err("`client-id` is required")),
            (given(c, None, s), Err("`tenant-id` is required")),
            (given(c, t, None), Err("`subscription-id` is required")),
            (given(c, Some("x/../y"), s), Err("`tenant-id` must be the directory (tenant) ID, not `x/../y`")),
        ];
        for (inputs, expected) in cases {
            match (ids(inputs), expected) {
                (Ok(ids), Ok(())) => {
                    assert_eq!(
                        ids,
                        Ids { client_id: "c-1", tenant_id: "contoso.onmicrosoft.com", subscription_id: "s-1" }
                    )
                }
                (Err(message), Err(fragment)) => assert!(message.starts_with(fragment), "{message}"),
                (other, _) => panic!("{inputs:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn requests() {
        assert_eq!(token_url("https://login", "t-1"), "https://login/t-1/oauth2/v2.0/token");
        assert_eq!(
            token_form("c-1", &ClientCredential::Assertion("a.b.c".into())),
            "client_id=c-1&scope=https%3A%2F%2Fmanagement.azure.com%2F.default&grant_type=client_credentials\
             &client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer\
             &client_assertion=a.b.c"
        );
        assert_eq!(
            token_form("c-1", &ClientCredential::Secret("s3c=r&t")),
            "client_id=c-1&scope=https%3A%2F%2Fmanagement.azure.com%2F.default&grant_type=client_credentials\
             &client_secret=s3c%3Dr%26t"
        );
        assert_eq!(
            credentials_url("https://arm", "s-1", "rg (1)", "aks"),
            "https://arm/subscriptions/s-1/resourceGroups/rg%20%281%29/providers/Microsoft.ContainerService\
             /managedClusters/aks/listClusterUserCredential?api-version=2024-05-01"
        );
    }

    #[test]
    fn kubeconfigs_from_arm() {
        let text = "apiVersion: v1\nclusters: []\n";
        let encoded = base64::engine::general_purpose::STANDARD.encode(text);
        let body = format!(r#"{{"kubeconfigs": [{{"name": "clusterUser", "value": "{encoded}"}}]}}"#);
        assert_eq!(user_kubeconfig(body.as_bytes()).unwrap(), text);
        for (body, fragment) in [
            (r#"{"kubeconfigs": []}"#, "no kubeconfig"),
            (r#"{}"#, "no kubeconfig"),
            (r#"{"kubeconfigs": [{"value": "%%%"}]}"#, "not base64"),
            (r#"{"kubeconfigs": [{"value": "//8="}]}"#, "not UTF-8"),
            ("[", "not a list of credentials"),
        ] {
            let error = user_kubeconfig(body.as_bytes()).unwrap_err();
            assert!(error.contains(fragment), "{body}: {error}");
        }
        assert!(uses_exec_plugin("users:\n- name: u\n  user:\n    exec:\n      command: kubelogin\n"));
        assert!(!uses_exec_plugin("users:\n- name: u\n  user:\n    token: abc\n"));
    }

    #[test]
    fn azure_errors() {
        let cases: &[(u16, &str, &str, &str)] = &[
            (
                400,
                r#"{"error": "unauthorized_client", "error_description": "AADSTS700016: Application with identifier 'c-1' was not found in the directory 'Contoso'.\r\nTrace ID: 1\r\nCorrelation ID: 2\r\nTimestamp: 2024-01-01 00:00:00Z"}"#,
                "HTTP 400: unauthorized_client: AADSTS700016: Application with identifier 'c-1' was not found in the directory 'Contoso'.",
                "AADSTS700016",
            ),
            (401, r#"{"error": "invalid_client"}"#, "HTTP 401: invalid_client", "invalid_client"),
            (
                403,
                r#"{"error": {"code": "AuthorizationFailed", "message": "The client 'x' does not have authorization."}}"#,
                "HTTP 403: AuthorizationFailed: The client 'x' does not have authorization.",
                "AuthorizationFailed",
            ),
            (502, "bad gateway", "HTTP 502: bad gateway", ""),
            (500, "", "HTTP 500", ""),
        ];
        for (status, body, said, code) in cases {
            assert_eq!(describe_error(*status, body.as_bytes()), ((*said).to_owned(), (*code).to_owned()));
        }
        let secret = ClientCredential::Secret("s");
        assert!(login_hint("AADSTS7000222", &secret).contains("expired"));
        assert!(login_hint("AADSTS700213", &secret).contains("federated credential"));
        assert!(login_hint("invalid_client", &secret).contains("`client-secret`"));
        assert!(login_hint("x", &ClientCredential::Assertion("t".into())).contains("federated credential"));
        assert!(arm_hint("AuthorizationFailed").contains("Cluster User Role"));
        assert!(arm_hint("ResourceGroupNotFound").contains("azure.resource_group"));
    }
}
