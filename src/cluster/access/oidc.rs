//! GitHub's OIDC token for the job, the start of every keyless login.
//!
//! The runner sets `ACTIONS_ID_TOKEN_REQUEST_URL` and
//! `ACTIONS_ID_TOKEN_REQUEST_TOKEN` only when the job has
//! `permissions: id-token: write`.

use serde::Deserialize;

use super::access_error;
use crate::base::error::Error;
use crate::base::runner::RunnerEnv;
use crate::config::yaml::value_free_json_message;
use crate::config::Provider;
use crate::tools::http::{endpoint_from_env, EndpointSource, Http, HttpRequest};

/// Where to ask for the job's OIDC token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcSource {
    request_url: Option<String>,
    request_token: Option<String>,
}

#[derive(Deserialize)]
struct TokenAnswer {
    value: String,
}

impl OidcSource {
    /// From the runner's variables. The request URL gets the job's bearer
    /// token, so it must be `https://` like every endpoint.
    pub fn from_env(env: &RunnerEnv) -> Result<Self, Error> {
        let var = |name: &str| env.var(name).filter(|v| !v.is_empty()).map(str::to_owned);
        Ok(OidcSource {
            request_url: endpoint_from_env(env, "ACTIONS_ID_TOKEN_REQUEST_URL", EndpointSource::Runner)?,
            request_token: var("ACTIONS_ID_TOKEN_REQUEST_TOKEN"),
        })
    }

    /// The request URL and its bearer token, for a credentials file that
    /// asks for fresh tokens itself (GCP `external_account`); `None` without
    /// `id-token: write`.
    pub fn request(&self) -> Option<(&str, &str)> {
        Some((self.request_url.as_deref()?, self.request_token.as_deref()?))
    }

    /// A token for `audience`. Fails with the permission to add when the job has none.
    pub async fn token(&self, http: &Http, provider: Provider, audience: &str) -> Result<String, Error> {
        let step = "getting the GitHub OIDC token";
        let (Some(url), Some(bearer)) = (&self.request_url, &self.request_token) else {
            return Err(access_error(
                provider,
                step,
                "ACTIONS_ID_TOKEN_REQUEST_URL is not set: add `permissions: id-token: write` to the job \
                 (or pass static credentials)",
            ));
        };
        let separator = if url.contains('?') { '&' } else { '?' };
        let audience_param: String = url_encode(audience);
        let request = HttpRequest::get(format!("{url}{separator}audience={audience_param}"))
            .header("authorization", format!("Bearer {bearer}"))
            .header("accept", "application/json");
        let response = http.send(&request, true).await.map_err(|e| access_error(provider, step, e.to_string()))?;
        if !response.is_success() {
            return Err(access_error(provider, step, format!("HTTP {}: {}", response.status, response.excerpt())));
        }
        let answer: TokenAnswer = serde_json::from_slice(&response.body)
            .map_err(|e| access_error(provider, step, format!("unexpected answer: {}", value_free_json_message(&e))))?;
        crate::base::runner::add_mask(&answer.value);
        Ok(answer.value)
    }
}

/// Percent-encodes a query value (RFC 3986 unreserved characters kept).
pub fn url_encode(text: &str) -> String {
    let mut out = String::new();
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_query_values() {
        assert_eq!(url_encode("api://AzureADTokenExchange"), "api%3A%2F%2FAzureADTokenExchange");
        assert_eq!(url_encode("sts.amazonaws.com"), "sts.amazonaws.com");
    }
}
