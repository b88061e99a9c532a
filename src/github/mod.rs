//! The one GitHub API client every action shares: octocrab over rustls with
//! compiled-in web PKI roots, plus what the actions need on top of it:
//! pagination to the end, retries with backoff for idempotent requests only,
//! rate-limit waits with a bounded total, errors naming the endpoint and
//! status, and a count of requests made.

pub mod artifact;
pub mod deployments;
pub mod detect;
pub mod link;
pub mod previous;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::{HeaderMap, Method, StatusCode};
use octocrab::Octocrab;
use serde::de::DeserializeOwned;

use crate::base::error::Error;
use crate::base::runner::{self, RunnerEnv};
use crate::tools::http::BodyError;

/// Where the API is when `GITHUB_API_URL` is not set.
pub const DEFAULT_API_URL: &str = "https://api.github.com";
/// Items per page asked for when paginating.
pub const PER_PAGE: usize = 100;
/// Pages fetched at most from one listing (a guard against a server that never ends).
const MAX_PAGES: usize = 1000;

/// How the client retries and waits.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts per request, the first included.
    pub max_attempts: u32,
    /// Backoff before the second attempt; doubled for each later one.
    pub base_delay: Duration,
    /// The most the client waits for rate limits over its whole life.
    pub max_rate_limit_wait: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 4,
            base_delay: Duration::from_millis(500),
            max_rate_limit_wait: Duration::from_secs(300),
        }
    }
}

/// Settings of a client, read from the runner environment.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    pub api_url: String,
    pub token: Option<String>,
    /// Connect and read timeout of one request.
    pub timeout: Duration,
    pub retry: RetryPolicy,
}

impl ClientConfig {
    /// `GITHUB_API_URL` (GitHub Enterprise Server, the test server; `https://`
    /// only, see [`crate::tools::http::endpoint_from_env`]) and the
    /// action's `github-token` input. `DEPLOYER_HTTP_TIMEOUT_SECS` changes the
    /// per-request timeout (default 30). The token is registered with the
    /// runner as a secret (`::add-mask::`) before anything else can print it.
    pub fn from_env(env: &RunnerEnv, token_input: &str) -> Result<Self, Error> {
        if let Some(token) = env.input(token_input) {
            runner::add_mask(token);
        }
        // The runner's own variable: https only, like every endpoint, and no warning.
        let api_url =
            crate::tools::http::endpoint_from_env(env, "GITHUB_API_URL", crate::tools::http::EndpointSource::Runner)?
                .unwrap_or_else(|| DEFAULT_API_URL.to_owned());
        let timeout = match env.var("DEPLOYER_HTTP_TIMEOUT_SECS") {
            None | Some("") => Duration::from_secs(30),
            Some(text) => {
                text.parse::<f64>().ok().filter(|s| *s > 0.0 && s.is_finite()).map(Duration::from_secs_f64).ok_or_else(
                    || Error::Runner(format!("DEPLOYER_HTTP_TIMEOUT_SECS `{text}` is not a number of seconds")),
                )?
            }
        };
        Ok(ClientConfig {
            api_url: api_url.trim_end_matches('/').to_owned(),
            token: env.input(token_input).map(str::to_owned),
            timeout,
            retry: RetryPolicy::default(),
        })
    }
}

/// The most bytes read of one API response.
const MAX_RESPONSE_BYTES: u64 = 64 << 20;

/// A response, read whole.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Response {
    /// The body as text, for messages.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON of type `T`.
    pub fn json<T: DeserializeOwned>(&self, method: &Method, endpoint: &str) -> Result<T, Error> {
        serde_json::from_slice(&self.body).map_err(|e| Error::Api {
            method: method.to_string(),
            endpoint: endpoint.to_owned(),
            status: self.status.as_u16(),
            message: format!("unexpected response body: {e}"),
        })
    }
}

/// Whether a request may be sent again after a failure that may have reached the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// Reading, or writing the same value again (GET, PATCH of a body, PUT, DELETE).
    Idempotent,
    /// Creating something (POST): never re-sent unless the server refused it unprocessed.
    Once,
}

/// The GitHub API client.
pub struct GitHub {
    octocrab: Octocrab,
    config: ClientConfig,
    requests: AtomicUsize,
    downloads: AtomicUsize,
    rate_limit_waited: std::sync::Mutex<Duration>,
}

/// A workflow run's artifact, as `/actions/runs/{id}/artifacts` lists it.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct RunArtifact {
    pub id: u64,
    pub name: String,
    #[serde(default)]
    pub expired: bool,
    #[serde(default)]
    pub size_in_bytes: u64,
}

/// What an endpoint that may redirect answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetched {
    /// Where the content is.
    Redirect(String),
    /// The content itself.
    Body(Vec<u8>),
}

impl GitHub {
    /// Builds a client. Must be called inside a tokio runtime.
    pub fn new(config: ClientConfig) -> Result<Self, Error> {
        let mut builder = Octocrab::builder()
            .base_uri(config.api_url.as_str())
            .map_err(|e| Error::Runner(format!("GITHUB_API_URL `{}` is not a URL: {e}", config.api_url)))?
            .set_connect_timeout(Some(config.timeout))
            .set_read_timeout(Some(config.timeout));
        if let Some(token) = &config.token {
            builder = builder.personal_token(token.clone());
        }
        let octocrab = builder.build().map_err(|e| Error::Runner(format!("cannot build the GitHub client: {e}")))?;
        Ok(GitHub {
            octocrab,
            config,
            requests: AtomicUsize::new(0),
            downloads: AtomicUsize::new(0),
            rate_limit_waited: std::sync::Mutex::new(Duration::ZERO),
        })
    }

    /// HTTP requests sent so far, retries included.
    pub fn request_count(&self) -> usize {
        self.requests.load(Ordering::Relaxed)
    }

    /// True when the client has a token.
    pub fn has_token(&self) -> bool {
        self.config.token.is_some()
    }

    /// GET `endpoint` (a path such as `/repos/o/r/pulls/1`) as JSON.
    pub async fn get<T: DeserializeOwned>(&self, endpoint: &str) -> Result<T, Error> {
        let (value, response) = self.get_json(endpoint).await?;
        typed(value, endpoint, &response)
    }

    /// GET with a JSON body; a body that is not complete JSON (a page cut
    /// short) is fetched again like any other transient failure.
    async fn get_json(&self, endpoint: &str) -> Result<(serde_json::Value, Response), Error> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let response = self.send(Method::GET, endpoint, None, Retry::Idempotent).await?;
            match serde_json::from_slice(&response.body) {
                Ok(value) => return Ok((value, response)),
                Err(_) if attempt < self.config.retry.max_attempts => {
                    tokio::time::sleep(self.config.retry.base_delay * 2u32.saturating_pow(attempt - 1)).await;
                }
                Err(error) => {
                    return Err(Error::Api {
                        method: "GET".into(),
                        endpoint: strip_query(endpoint),
                        status: response.status.as_u16(),
                        message: format!("the response is not complete JSON after {attempt} attempts: {error}"),
                    })
                }
            }
        }
    }

    /// GET every page of a listing. `items_key` names the array in wrapped
    /// answers (`{"total_count": n, "jobs": [...]}`); `None` for plain arrays.
    /// Stops early once `limit` items are collected.
    pub async fn get_all<T: DeserializeOwned>(
        &self,
        endpoint: &str,
        items_key: Option<&str>,
        limit: Option<usize>,
    ) -> Result<Vec<T>, Error> {
        let mut items: Vec<T> = Vec::new();
        self.walk_pages(endpoint, items_key, |mut batch: Vec<T>| {
            items.append(&mut batch);
            limit.is_none_or(|limit| items.len() < limit)
        })
        .await?;
        Ok(items)
    }

    /// The first item of a listing that `wanted` accepts, reading no more pages than needed.
    pub async fn find_first<T: DeserializeOwned>(
        &self,
        endpoint: &str,
        items_key: Option<&str>,
        wanted: impl Fn(&T) -> bool,
    ) -> Result<Option<T>, Error> {
        let mut found = None;
        self.walk_pages(endpoint, items_key, |batch: Vec<T>| {
            found = batch.into_iter().find(|item| wanted(item));
            found.is_none()
        })
        .await?;
        Ok(found)
    }

    /// Follows a listing page by page (100 per page, `Link: rel="next"`),
    /// handing each page to `visit` until it returns false or the pages end.
    async fn walk_pages<T: DeserializeOwned>(
        &self,
        endpoint: &str,
        items_key: Option<&str>,
        mut visit: impl FnMut(Vec<T>) -> bool,
    ) -> Result<(), Error> {
        let separator = if endpoint.contains('?') { '&' } else { '?' };
        let mut next = Some(format!("{endpoint}{separator}per_page={PER_PAGE}"));
        let mut pages = 0;
        while let Some(page) = next.take() {
            pages += 1;
            if pages > MAX_PAGES {
                return Err(Error::Api {
                    method: "GET".into(),
                    endpoint: strip_query(endpoint),
                    status: 200,
                    message: format!("more than {MAX_PAGES} pages; giving up"),
                });
            }
            let (mut value, response) = self.get_json(&page).await?;
            let list = match items_key {
                None => value,
                Some(key) => value[key].take(),
            };
            if !visit(typed(list, endpoint, &response)?) {
                break;
            }
            next = link::next_page(&response.headers).map(|url| self.relative(&url));
        }
        Ok(())
    }

    /// POST JSON; sent once unless the server refused it unprocessed (rate limit).
    pub async fn post<T: DeserializeOwned>(&self, endpoint: &str, body: &serde_json::Value) -> Result<T, Error> {
        let response = self.send(Method::POST, endpoint, Some(body), Retry::Once).await?;
        response.json(&Method::POST, endpoint)
    }

    /// PATCH JSON; retried, since sending the same body twice leaves the same result.
    pub async fn patch<T: DeserializeOwned>(&self, endpoint: &str, body: &serde_json::Value) -> Result<T, Error> {
        let response = self.send(Method::PATCH, endpoint, Some(body), Retry::Idempotent).await?;
        response.json(&Method::PATCH, endpoint)
    }

    /// A next-page URL on the API host, as a path the client can send.
    fn relative(&self, url: &str) -> String {
        let base = self.config.api_url.as_str();
        match url.strip_prefix(base) {
            Some(rest) => rest.to_owned(),
            None => url.to_owned(),
        }
    }

    /// Sends one request with retries; any status below 300 is success.
    pub async fn send(
        &self,
        method: Method,
        endpoint: &str,
        body: Option<&serde_json::Value>,
        retry: Retry,
    ) -> Result<Response, Error> {
        self.send_accepting(method, endpoint, body, retry, false).await
    }

    /// GET an endpoint that answers with a redirect (an artifact's `zip`
    /// URL): the `Location`, or the body when the API answers it directly.
    pub async fn get_redirect(&self, endpoint: &str) -> Result<Fetched, Error> {
        let response = self.send_accepting(Method::GET, endpoint, None, Retry::Idempotent, true).await?;
        if response.status.is_redirection() {
            let location = response.headers.get(http::header::LOCATION).and_then(|v| v.to_str().ok());
            return location.map(|l| Fetched::Redirect(l.to_owned())).ok_or_else(|| Error::Api {
                method: "GET".into(),
                endpoint: strip_query(endpoint),
                status: response.status.as_u16(),
                message: "a redirect without a Location".into(),
            });
        }
        Ok(Fetched::Body(response.body))
    }

    /// Downloads `url` (a redirect target off the API host) without the
    /// token, reading at most `cap` bytes. Retried like a GET; counted apart
    /// from API requests.
    /// An artifact's zip (`{repo}/actions/artifacts/{id}/zip`): the API's
    /// redirect followed without the token, at most `cap` bytes.
    pub async fn artifact_zip(&self, repo: &str, id: u64, cap: u64) -> Result<Vec<u8>, Error> {
        match self.get_redirect(&format!("{repo}/actions/artifacts/{id}/zip")).await? {
            Fetched::Redirect(url) => self.download(&url, cap).await,
            Fetched::Body(bytes) => Ok(bytes),
        }
    }

    pub async fn download(&self, url: &str, cap: u64) -> Result<Vec<u8>, Error> {
        let failure =
            |message: String| Error::Http { method: "GET".into(), endpoint: crate::tools::http::redact(url), message };
        let client = Octocrab::builder()
            .set_connect_timeout(Some(self.config.timeout))
            .set_read_timeout(Some(self.config.timeout))
            .build()
            .map_err(|e| failure(e.to_string()))?;
        let policy = &self.config.retry;
        let mut attempt = 0;
        loop {
            attempt += 1;
            self.downloads.fetch_add(1, Ordering::Relaxed);
            let backoff = policy.base_delay * 2u32.saturating_pow(attempt - 1);
            let result = match client._get(url).await {
                Ok(response) => {
                    let status = response.status();
                    match crate::tools::http::read_capped(response.into_body(), cap).await {
                        Ok(body) => Ok((status, body)),
                        // Too large stays too large: not worth fetching again.
                        Err(too_large @ BodyError::TooLarge(_)) => return Err(failure(too_large.to_string())),
                        Err(error) => Err(error.to_string()),
                    }
                }
                Err(error) => Err(crate::tools::http::error_chain(&error)),
            };
            match result {
                Ok((status, body)) if status.is_success() => return Ok(body),
                Ok((status, _)) if status.is_server_error() && attempt < policy.max_attempts => {}
                Ok((status, body)) => {
                    return Err(Error::Api {
                        method: "GET".into(),
                        endpoint: crate::tools::http::redact(url),
                        status: status.as_u16(),
                        message: api_message(&String::from_utf8_lossy(&body)),
                    })
                }
                Err(_) if attempt < policy.max_attempts => {}
                Err(message) => return Err(failure(message)),
            }
            tokio::time::sleep(backoff).await;
        }
    }

    /// Downloads made with [`GitHub::download`], retries included.
    pub fn download_count(&self) -> usize {
        self.downloads.load(Ordering::Relaxed)
    }

    async fn send_accepting(
        &self,
        method: Method,
        endpoint: &str,
        body: Option<&serde_json::Value>,
        retry: Retry,
        accept_redirects: bool,
    ) -> Result<Response, Error> {
        let policy = &self.config.retry;
        let mut attempt = 0;
        loop {
            attempt += 1;
            self.requests.fetch_add(1, Ordering::Relaxed);
            let may_retry = retry == Retry::Idempotent && attempt < policy.max_attempts;
            let backoff = policy.base_delay * 2u32.saturating_pow(attempt - 1);
            let response = match self.send_once(&method, endpoint, body).await {
                Ok(response) => response,
                Err(_) if may_retry => {
                    tokio::time::sleep(backoff).await;
                    continue;
                }
                Err(message) => {
                    return Err(Error::Http { method: method.to_string(), endpoint: strip_query(endpoint), message })
                }
            };
            let status = response.status;
            if status.is_success() || (accept_redirects && status.is_redirection()) {
                return Ok(response);
            }
            if let Some(wait) = rate_limit_wait(&response, SystemTime::now()) {
                if self.reserve_rate_limit_wait(wait) {
                    tokio::time::sleep(wait).await;
                    continue;
                }
                return Err(Error::Api {
                    method: method.to_string(),
                    endpoint: strip_query(endpoint),
                    status: status.as_u16(),
                    message: format!(
                        "rate limited; waiting {}s more would pass the {}s budget: {}",
                        wait.as_secs(),
                        policy.max_rate_limit_wait.as_secs(),
                        api_message(&response.text())
                    ),
                });
            }
            if status.is_server_error() && may_retry {
                tokio::time::sleep(backoff).await;
                continue;
            }
            return Err(Error::Api {
                method: method.to_string(),
                endpoint: strip_query(endpoint),
                status: status.as_u16(),
                message: api_message(&response.text()),
            });
        }
    }

    fn reserve_rate_limit_wait(&self, wait: Duration) -> bool {
        let Ok(mut waited) = self.rate_limit_waited.lock() else { return false };
        if *waited + wait > self.config.retry.max_rate_limit_wait {
            return false;
        }
        *waited += wait;
        true
    }

    /// One HTTP exchange. Transport failures (connection, timeout, a body
    /// cut short) come back as `Err` with a message.
    async fn send_once(
        &self,
        method: &Method,
        endpoint: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<Response, String> {
        let uri = endpoint.to_owned();
        let result = match *method {
            Method::GET => self.octocrab._get(uri).await,
            Method::POST => self.octocrab._post(uri, body).await,
            Method::PATCH => self.octocrab._patch(uri, body).await,
            Method::PUT => self.octocrab._put(uri, body).await,
            Method::DELETE => self.octocrab._delete(uri, body).await,
            ref other => return Err(format!("unsupported method {other}")),
        };
        let response = result.map_err(|e| crate::tools::http::error_chain(&e))?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = crate::tools::http::read_capped(response.into_body(), MAX_RESPONSE_BYTES)
            .await
            .map_err(|e| e.to_string())?;
        Ok(Response { status, headers, body })
    }
}

fn typed<T: DeserializeOwned>(value: serde_json::Value, endpoint: &str, response: &Response) -> Result<T, Error> {
    serde_json::from_value(value).map_err(|e| Error::Api {
        method: "GET".into(),
        endpoint: strip_query(endpoint),
        status: response.status.as_u16(),
        message: format!("unexpected response: {e}"),
    })
}

/// The endpoint without its query string, for messages.
fn strip_query(endpoint: &str) -> String {
    endpoint.split('?').next().unwrap_or(endpoint).to_owned()
}

/// The `message` of a GitHub error body, or the body itself, shortened.
fn api_message(body: &str) -> String {
    let message = serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v["message"].as_str().map(str::to_owned))
        .unwrap_or_else(|| body.trim().to_owned());
    let mut short: String = message.chars().take(300).collect();
    if short.len() < message.len() {
        short.push('…');
    }
    if short.is_empty() {
        "no message".to_owned()
    } else {
        short
    }
}

/// How long to wait before retrying a rate-limited answer, if it is one.
///
/// GitHub answers 403 or 429. `retry-after` (seconds) wins; else, when
/// `x-ratelimit-remaining` is 0, wait until `x-ratelimit-reset` (epoch
/// seconds); a secondary limit with neither waits a minute.
pub fn rate_limit_wait(response: &Response, now: SystemTime) -> Option<Duration> {
    let status = response.status.as_u16();
    if status != 403 && status != 429 {
        return None;
    }
    let header = |name: &str| response.headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
    if let Some(seconds) = header("retry-after").and_then(|v| v.parse::<u64>().ok()) {
        return Some(Duration::from_secs(seconds));
    }
    if header("x-ratelimit-remaining") == Some("0") {
        let reset = header("x-ratelimit-reset").and_then(|v| v.parse::<u64>().ok())?;
        let now = now.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        return Some(Duration::from_secs(reset.saturating_sub(now) + 1));
    }
    let lower = response.text().to_ascii_lowercase();
    if status == 429 || lower.contains("secondary rate limit") {
        return Some(Duration::from_secs(60));
    }
    None
}

/// A query value or path segment percent-encoded (everything but unreserved characters).
pub fn percent_encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => char::from(b).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(status: u16, headers: &[(&'static str, &str)], body: &str) -> Response {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.insert(*name, value.parse().unwrap());
        }
        Response { status: StatusCode::from_u16(status).unwrap(), headers: map, body: body.into() }
    }

    #[test]
    fn rate_limit_waits() {
        let now = UNIX_EPOCH + Duration::from_secs(1_000);
        let cases = [
            (response(403, &[("retry-after", "7")], ""), Some(7)),
            (response(429, &[("retry-after", "2")], ""), Some(2)),
            (response(403, &[("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", "1010")], ""), Some(11)),
            (response(403, &[("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", "900")], ""), Some(1)),
            (response(403, &[], r#"{"message": "You have exceeded a secondary rate limit"}"#), Some(60)),
            (response(429, &[], ""), Some(60)),
            (response(403, &[("x-ratelimit-remaining", "12")], r#"{"message": "Resource not accessible"}"#), None),
            (response(500, &[("retry-after", "1")], ""), None),
            (response(404, &[], ""), None),
        ];
        for (response, expected) in cases {
            assert_eq!(rate_limit_wait(&response, now).map(|d| d.as_secs()), expected, "{response:?}");
        }
    }

    #[test]
    fn api_messages() {
        assert_eq!(api_message(r#"{"message": "Not Found", "documentation_url": "x"}"#), "Not Found");
        assert_eq!(api_message("  plain  "), "plain");
        assert_eq!(api_message(""), "no message");
        assert_eq!(api_message(&"x".repeat(400)).chars().count(), 301);
    }

    #[test]
    fn config_from_env() {
        let env = RunnerEnv::from_vars([
            ("GITHUB_API_URL", "http://127.0.0.1:9/api/v3/"),
            ("DEPLOYER_ALLOW_INSECURE_ENDPOINTS", "1"),
            ("INPUT_GITHUB-TOKEN", "t"),
            ("DEPLOYER_HTTP_TIMEOUT_SECS", "2.5"),
        ]);
        let config = ClientConfig::from_env(&env, "github-token").unwrap();
        assert_eq!(config.api_url, "http://127.0.0.1:9/api/v3");
        assert_eq!(config.token.as_deref(), Some("t"));
        assert_eq!(config.timeout, Duration::from_millis(2500));
        let defaults = ClientConfig::from_env(&RunnerEnv::default(), "github-token").unwrap();
        assert_eq!(defaults.api_url, DEFAULT_API_URL);
        assert_eq!(defaults.token, None);
        let bad = RunnerEnv::from_vars([("DEPLOYER_HTTP_TIMEOUT_SECS", "soon")]);
        assert!(ClientConfig::from_env(&bad, "github-token").is_err());
        for url in ["http://127.0.0.1:9/api/v3", "http://ghes.example/api/v3"] {
            let plain = RunnerEnv::from_vars([("GITHUB_API_URL", url)]);
            let error = ClientConfig::from_env(&plain, "github-token").unwrap_err().to_string();
            assert!(error.starts_with("GITHUB_API_URL `"), "{error}");
        }
    }
}
