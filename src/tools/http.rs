//! A small HTTPS client for the cloud APIs cluster access talks to (Google,
//! AWS, Azure, the runner's OIDC endpoint): hyper over rustls with
//! compiled-in web PKI roots, timeouts, retries with backoff for idempotent
//! requests, and a request count. The GitHub API has its own client
//! ([`crate::github`]); this one knows nothing about any service.
//!
//! Every endpoint taken from the environment goes through [`endpoint_from_env`]:
//! `https://` only (plain `http://` to a loopback address when
//! `DEPLOYER_ALLOW_INSECURE_ENDPOINTS=1`, for tests against local fakes), and
//! a warning for each `DEPLOYER_*_URL` override in use.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, Request};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use crate::base::error::Error;
use crate::base::runner::{self, Level, RunnerEnv};

/// The most bytes read of one response.
const MAX_RESPONSE_BYTES: u64 = 16 << 20;

/// A request to send.
#[derive(Debug, Clone)]
pub struct HttpRequest {
    pub method: Method,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpRequest {
    pub fn get(url: impl Into<String>) -> Self {
        HttpRequest { method: Method::GET, url: url.into(), headers: Vec::new(), body: Vec::new() }
    }

    pub fn post(url: impl Into<String>, body: impl Into<Vec<u8>>) -> Self {
        HttpRequest { method: Method::POST, url: url.into(), headers: Vec::new(), body: body.into() }
    }

    pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_owned(), value.into()));
        self
    }
}

/// A response, read whole.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl HttpResponse {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// A short, printable excerpt of the body for error messages.
    pub fn excerpt(&self) -> String {
        let text = self.text();
        let trimmed = text.trim();
        let mut short: String = trimmed.chars().take(300).collect();
        if short.len() < trimmed.len() {
            short.push('…');
        }
        short
    }
}

/// Why a request got no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{method} {url}: {message}")]
pub struct HttpError {
    pub method: String,
    /// Without its query string, which may carry credentials.
    pub url: String,
    pub message: String,
}

/// The client.
pub struct Http {
    client: Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>,
    timeout: Duration,
    max_attempts: u32,
    base_delay: Duration,
    requests: AtomicUsize,
}

impl Http {
    /// A client whose every request must finish within `timeout`.
    pub fn new(timeout: Duration) -> Self {
        let connector =
            hyper_rustls::HttpsConnectorBuilder::new().with_webpki_roots().https_or_http().enable_http1().build();
        let client = Client::builder(TokioExecutor::new()).build(connector);
        Http { client, timeout, max_attempts: 4, base_delay: Duration::from_millis(500), requests: AtomicUsize::new(0) }
    }

    /// Requests sent so far, retries included.
    pub fn request_count(&self) -> usize {
        self.requests.load(Ordering::Relaxed)
    }

    /// Sends `request`. Any answer is returned as it is; transport failures,
    /// timeouts and 5xx answers are retried when `idempotent`.
    pub async fn send(&self, request: &HttpRequest, idempotent: bool) -> Result<HttpResponse, HttpError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            self.requests.fetch_add(1, Ordering::Relaxed);
            let may_retry = idempotent && attempt < self.max_attempts;
            match self.send_once(request).await {
                Ok(response) if response.status >= 500 && may_retry => {}
                Ok(response) => return Ok(response),
                Err(_) if may_retry => {}
                Err(message) => {
                    return Err(HttpError { method: request.method.to_string(), url: redact(&request.url), message })
                }
            }
            tokio::time::sleep(self.base_delay * 2u32.saturating_pow(attempt - 1)).await;
        }
    }

    async fn send_once(&self, request: &HttpRequest) -> Result<HttpResponse, String> {
        let mut builder = Request::builder().method(request.method.clone()).uri(request.url.as_str());
        for (name, value) in &request.headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        let built = builder.body(Full::new(Bytes::from(request.body.clone()))).map_err(|e| e.to_string())?;
        let exchange = async {
            let response = self.client.request(built).await.map_err(|e| error_chain(&e))?;
            let status = response.status().as_u16();
            let headers = response.headers().clone();
            let body = read_capped(response.into_body(), MAX_RESPONSE_BYTES).await.map_err(|e| e.to_string())?;
            Ok(HttpResponse { status, headers, body })
        };
        match tokio::time::timeout(self.timeout, exchange).await {
            Ok(result) => result,
            Err(_) => Err(format!("no answer within {} s", self.timeout.as_secs_f64())),
        }
    }
}

/// Why a response body was not read whole.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    #[error("the response is larger than {0} bytes")]
    TooLarge(u64),
    #[error("reading the response: {0}")]
    Read(String),
}

/// Reads a response body, refusing more than `cap` bytes as they arrive.
pub async fn read_capped<B>(mut body: B, cap: u64) -> Result<Vec<u8>, BodyError>
where
    B: http_body::Body<Data = Bytes> + Unpin,
    B::Error: std::fmt::Display,
{
    let mut bytes = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| BodyError::Read(e.to_string()))?;
        if let Ok(data) = frame.into_data() {
            if bytes.len() as u64 + data.len() as u64 > cap {
                return Err(BodyError::TooLarge(cap));
            }
            bytes.extend_from_slice(&data);
        }
    }
    Ok(bytes)
}

/// An error and its sources, joined: the message worth showing.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(inner) = source {
        message.push_str(": ");
        message.push_str(&inner.to_string());
        source = inner.source();
    }
    message
}

/// A URL without its query string: signed storage URLs carry credentials there.
pub fn redact(url: &str) -> String {
    match url.split_once('?') {
        Some((base, _)) => format!("{base}?…"),
        None => url.to_owned(),
    }
}

/// Set to `1` to accept `http://` endpoints on a loopback address (tests with local fakes only).
pub const ALLOW_INSECURE_ENDPOINTS: &str = "DEPLOYER_ALLOW_INSECURE_ENDPOINTS";

/// Who sets an endpoint variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndpointSource {
    /// A `DEPLOYER_*_URL` override: a warning names it whenever it is set.
    Override,
    /// One of the runner's own variables (`GITHUB_API_URL`, `ACTIONS_ID_TOKEN_REQUEST_URL`, ...): no warning.
    Runner,
}

/// The endpoint in the variable `name`, checked, without a trailing `/`;
/// `None` when it is unset or empty. An override in use is announced with a
/// `::warning::` naming the variable (its URL shown without credentials).
pub fn endpoint_from_env(env: &RunnerEnv, name: &str, source: EndpointSource) -> Result<Option<String>, Error> {
    let Some(value) = env.var(name).map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    let allow_insecure = env.var(ALLOW_INSECURE_ENDPOINTS) == Some("1");
    let url = check_endpoint(name, value, allow_insecure)?;
    if source == EndpointSource::Override {
        runner::annotate_message(
            Level::Warning,
            &format!("{name} is set: requests meant for the public endpoint go to {}", redact_credentials(&url)),
        );
    }
    Ok(Some(url))
}

/// Checks an endpoint URL: `https://` with a host, or `http://` to a loopback
/// host (`localhost`, 127.0.0.0/8, `::1`) when `allow_insecure`. The error
/// names the variable and shows the URL without credentials.
pub fn check_endpoint(name: &str, value: &str, allow_insecure: bool) -> Result<String, Error> {
    let shown = redact_credentials(value);
    let refuse = |why: &str| Error::Runner(format!("{name} `{shown}` is refused: {why}"));
    let uri: http::Uri = value.parse().map_err(|_| refuse("it is not a URL"))?;
    let host = uri.host().filter(|h| !h.is_empty()).ok_or_else(|| refuse("it has no host"))?;
    match uri.scheme_str() {
        Some("https") => {}
        Some("http") if allow_insecure && is_loopback(host) => {}
        Some("http") if is_loopback(host) => {
            return Err(refuse(&format!(
                "plain http is accepted only with {ALLOW_INSECURE_ENDPOINTS}=1 (for tests); use https://"
            )))
        }
        _ => return Err(refuse("only https:// endpoints are accepted")),
    }
    Ok(value.trim_end_matches('/').to_owned())
}

/// True for `localhost`, 127.0.0.0/8 and `::1`.
fn is_loopback(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    bare.eq_ignore_ascii_case("localhost") || bare.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// A URL without user credentials (`user:password@`) or query string, for messages.
pub fn redact_credentials(url: &str) -> String {
    let url = redact(url);
    let (scheme, rest) = match url.split_once("://") {
        Some((scheme, rest)) => (format!("{scheme}://"), rest.to_owned()),
        None => (String::new(), url),
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}…@{}", &rest[at + 1..]),
        None => format!("{scheme}{rest}"),
    }
}

/// Runs a future on a fresh single-threaded runtime: the actions are short
/// command-line programs with a handful of sequential requests.
pub fn block_on<F: std::future::Future>(future: F) -> Result<F::Output, Error> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Runner(format!("cannot start the async runtime: {e}")))?;
    Ok(runtime.block_on(future))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_https_or_loopback_http_when_allowed() {
        let cases: &[(&str, bool, Result<&str, &str>)] = &[
            ("https://sts.example.com/", false, Ok("https://sts.example.com")),
            ("https://10.0.0.1:8443/v1", false, Ok("https://10.0.0.1:8443/v1")),
            ("http://127.0.0.1:8080/", true, Ok("http://127.0.0.1:8080")),
            ("http://127.3.4.5", true, Ok("http://127.3.4.5")),
            ("http://localhost:9", true, Ok("http://localhost:9")),
            ("http://[::1]:9/x", true, Ok("http://[::1]:9/x")),
            ("http://127.0.0.1:8080", false, Err("only with DEPLOYER_ALLOW_INSECURE_ENDPOINTS=1")),
            ("http://example.com", true, Err("only https:// endpoints are accepted")),
            ("http://10.0.0.1", true, Err("only https:// endpoints are accepted")),
            ("http://127.0.0.1.evil.example", true, Err("only https:// endpoints are accepted")),
            ("http://localhost.evil.example", true, Err("only https:// endpoints are accepted")),
            ("ftp://127.0.0.1", true, Err("only https:// endpoints are accepted")),
            ("file:///etc/passwd", true, Err("")),
            ("sts.example.com", false, Err("")),
            ("", false, Err("")),
        ];
        for (value, allow, expected) in cases {
            let got = check_endpoint("DEPLOYER_X_URL", value, *allow);
            match (expected, got) {
                (Ok(want), Ok(got)) => assert_eq!(&got, want, "{value}"),
                (Err(want), Err(error)) => {
                    let text = error.to_string();
                    assert!(text.starts_with("DEPLOYER_X_URL `"), "{value}: {text}");
                    assert!(text.contains(want), "{value}: {text}");
                }
                (expected, got) => panic!("{value} (allow {allow}): expected {expected:?}, got {got:?}"),
            }
        }
    }

    #[test]
    fn messages_never_show_credentials() {
        let cases = [
            ("https://user:pw@host.example/p?sig=abc", "https://…@host.example/p?…"),
            ("https://host.example/a@b", "https://host.example/a@b"),
            ("http://tok@127.0.0.1:1", "http://…@127.0.0.1:1"),
            ("https://host.example", "https://host.example"),
        ];
        for (url, shown) in cases {
            assert_eq!(redact_credentials(url), shown, "{url}");
        }
        let error = check_endpoint("DEPLOYER_GKE_URL", "http://user:pw@example.com", true).unwrap_err().to_string();
        assert!(!error.contains("pw"), "{error}");
    }
}
