//! A stateful fake of the GitHub API parts the comment action uses, on
//! 127.0.0.1: run artifacts (with the zip behind a redirect to a second,
//! "storage" server), pull requests, issue comments (paginated, created and
//! edited for real), GraphQL `minimizeComment`, and deployments with their
//! statuses (created, listed newest first with filters and pages). Tests
//! inspect its state and can script failures.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::{json, Value};
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

pub const OWNER_REPO: &str = "octo-org/infra";
/// The head repository of the fake's pull requests unless said otherwise: a fork.
pub const HEAD_REPO: &str = "contributor/infra";
const REPO: &str = "/repos/octo-org/infra";
pub const BOT: &str = "github-actions[bot]";

#[derive(Debug, Clone)]
pub struct Comment {
    pub id: u64,
    pub body: String,
    pub login: String,
    pub minimized: bool,
}

/// One artifact of one run.
#[derive(Debug, Clone)]
pub struct Artifact {
    pub id: u64,
    pub name: String,
    pub zip: Vec<u8>,
    pub expired: bool,
    /// Answer 410 Gone on download.
    pub gone: bool,
    /// Overrides the listed size.
    pub listed_size: Option<u64>,
}

#[derive(Debug, Default)]
pub struct State {
    /// Run id to its artifacts.
    pub artifacts: BTreeMap<u64, Vec<Artifact>>,
    /// PR number to head SHA.
    pub pulls: BTreeMap<u64, String>,
    /// PR number to its head repository's `full_name`, when not [`HEAD_REPO`]
    /// (`None`: the head repository was deleted).
    pub pull_repos: BTreeMap<u64, Option<String>>,
    /// PR number to its comments, oldest first.
    pub comments: BTreeMap<u64, Vec<Comment>>,
    pub next_id: u64,
    /// Every request: method and path with query.
    pub log: Vec<String>,
    /// Authorization headers the storage server saw.
    pub storage_auth: Vec<Option<String>>,
    /// Statuses (and a retry-after) to answer, in order, before handling writes normally.
    pub write_failures: VecDeque<(u16, Option<u64>)>,
    pub minimized: Vec<String>,
    /// Deployments, in the order they were made (listings answer newest first).
    pub deployments: Vec<FakeDeployment>,
}

/// A deployment (`POST /repos/{repo}/deployments`; `sha` is the `ref` it was made for).
#[derive(Debug, Clone)]
pub struct FakeDeployment {
    pub id: u64,
    pub environment: String,
    pub sha: String,
    pub payload: Value,
    pub created_at: String,
    /// Oldest first (listings answer newest first).
    pub statuses: Vec<FakeStatus>,
}

/// One status of a deployment.
#[derive(Debug, Clone)]
pub struct FakeStatus {
    pub state: String,
    pub environment_url: Option<String>,
    pub log_url: Option<String>,
    pub description: Option<String>,
    pub created_at: String,
}

pub struct FakeGitHub {
    pub api: MockServer,
    pub storage: MockServer,
    pub state: Arc<Mutex<State>>,
}

fn comment_json(pr: u64, comment: &Comment) -> Value {
    json!({
        "id": comment.id,
        "node_id": format!("IC_{}", comment.id),
        "body": comment.body,
        "html_url": format!("https://github.com/{OWNER_REPO}/pull/{pr}#issuecomment-{}", comment.id),
        "user": {"login": comment.login, "type": "Bot"},
    })
}

fn deployment_json(deployment: &FakeDeployment) -> Value {
    json!({
        "id": deployment.id,
        "sha": deployment.sha,
        "ref": deployment.sha,
        "task": "deploy",
        "environment": deployment.environment,
        "payload": deployment.payload,
        "created_at": deployment.created_at,
        "updated_at": deployment.created_at,
        "statuses_url": format!("https://api.example{REPO}/deployments/{}/statuses", deployment.id),
    })
}

fn status_json(deployment: &FakeDeployment, index: usize, status: &FakeStatus) -> Value {
    json!({
        "id": deployment.id * 1000 + index as u64,
        "state": status.state,
        "environment": deployment.environment,
        "environment_url": status.environment_url.clone().unwrap_or_default(),
        "log_url": status.log_url.clone().unwrap_or_default(),
        "description": status.description.clone().unwrap_or_default(),
        "created_at": status.created_at,
    })
}

/// Now as `YYYY-MM-DDTHH:MM:SSZ` (what GitHub writes in `created_at`).
pub fn now_rfc3339() -> String {
    let seconds = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let (days, rest) = ((seconds / 86_400) as i64, seconds % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 { month_index + 3 } else { month_index - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", rest / 3600, rest / 60 % 60, rest % 60)
}

/// One page of `items` (`per_page`, default 30, at most 100; `page` from 1) and
/// the `Link` header to the next page, if any.
fn paged(request: &Request, items: Vec<Value>) -> ResponseTemplate {
    let per_page: usize = query(request, "per_page").and_then(|p| p.parse().ok()).unwrap_or(30).clamp(1, 100);
    let page: usize = query(request, "page").and_then(|p| p.parse().ok()).unwrap_or(1).max(1);
    let total = items.len();
    let page_items: Vec<Value> = items.into_iter().skip((page - 1) * per_page).take(per_page).collect();
    let mut response = ResponseTemplate::new(200).set_body_json(Value::Array(page_items));
    if page * per_page < total {
        let mut next = request.url.clone();
        let pairs: Vec<(String, String)> = request
            .url
            .query_pairs()
            .filter(|(k, _)| k != "page")
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        next.query_pairs_mut().clear().extend_pairs(pairs).append_pair("page", &(page + 1).to_string());
        let link = format!("<{next}>; rel=\"next\"");
        response = response.insert_header("link", link.as_str());
    }
    response
}

fn query(request: &Request, name: &str) -> Option<String> {
    request.url.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

impl FakeGitHub {
    pub async fn start() -> Self {
        let api = MockServer::start().await;
        let storage = MockServer::start().await;
        let state = Arc::new(Mutex::new(State { next_id: 1000, ..State::default() }));
        let fake = FakeGitHub { api, storage, state };
        fake.mount().await;
        fake
    }

    pub fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().expect("fake state")
    }

    /// Adds a pull request with its head commit, from [`HEAD_REPO`].
    pub fn pull(&self, number: u64, head_sha: &str) {
        self.state().pulls.insert(number, head_sha.to_owned());
    }

    /// Adds a pull request with its head commit in `head_repo` (`None`: deleted).
    pub fn pull_from(&self, number: u64, head_sha: &str, head_repo: Option<&str>) {
        let mut state = self.state();
        state.pulls.insert(number, head_sha.to_owned());
        state.pull_repos.insert(number, head_repo.map(str::to_owned));
    }

    /// Adds an artifact to a run.
    pub fn artifact(&self, run: u64, name: &str, zip: Vec<u8>) -> u64 {
        let mut state = self.state();
        state.next_id += 1;
        let id = state.next_id;
        let artifact = Artifact { id, name: name.into(), zip, expired: false, gone: false, listed_size: None };
        state.artifacts.entry(run).or_default().push(artifact);
        id
    }

    /// Adds comments to a PR.
    pub fn comments(&self, pr: u64, comments: impl IntoIterator<Item = (String, String)>) {
        let mut state = self.state();
        for (login, body) in comments {
            state.next_id += 1;
            let id = state.next_id;
            state.comments.entry(pr).or_default().push(Comment { id, body, login, minimized: false });
        }
    }

    /// Adds a deployment with its statuses (oldest first); returns its id.
    pub fn deployment(
        &self,
        environment: &str,
        sha: &str,
        payload: Value,
        created_at: &str,
        statuses: Vec<FakeStatus>,
    ) -> u64 {
        let mut state = self.state();
        state.next_id += 1;
        let id = state.next_id;
        state.deployments.push(FakeDeployment {
            id,
            environment: environment.to_owned(),
            sha: sha.to_owned(),
            payload,
            created_at: created_at.to_owned(),
            statuses,
        });
        id
    }

    /// The deployments made or seeded, oldest first.
    pub fn deployments(&self) -> Vec<FakeDeployment> {
        self.state().deployments.clone()
    }

    /// API requests made (storage downloads not included).
    pub fn requests(&self) -> Vec<String> {
        self.state().log.clone()
    }

    fn log(state: &Arc<Mutex<State>>, request: &Request) {
        let mut line = format!("{} {}", request.method, request.url.path());
        if let Some(query) = request.url.query() {
            line.push('?');
            line.push_str(query);
        }
        state.lock().expect("state").log.push(line);
    }

    async fn mount(&self) {
        let storage_uri = self.storage.uri();

        let state = self.state.clone();
        Mock::given(method("GET"))
            .and(path_regex(r"^/repos/octo-org/infra/actions/runs/\d+/artifacts$"))
            .respond_with(move |request: &Request| {
                Self::log(&state, request);
                let run: u64 = request.url.path().split('/').nth(6).and_then(|s| s.parse().ok()).unwrap_or(0);
                let state = state.lock().expect("state");
                let artifacts: Vec<Value> = state
                    .artifacts
                    .get(&run)
                    .into_iter()
                    .flatten()
                    .map(|a| {
                        json!({"id": a.id, "name": a.name, "expired": a.expired,
                                    "size_in_bytes": a.listed_size.unwrap_or(a.zip.len() as u64),
                                    "archive_download_url": format!("https://api.example/{}", a.id)})
                    })
                    .collect();
                ResponseTemplate::new(200)
                    .set_body_json(json!({"total_count": artifacts.len(), "artifacts": artifacts}))
            })
            .mount(&self.api)
            .await;

        let state = self.state.clone();
        Mock::given(method("GET"))
            .and(path_regex(r"^/repos/octo-org/infra/actions/artifacts/\d+/zip$"))
            .respond_with(move |request: &Request| {
                Self::log(&state, request);
                let id: u64 = request.url.path().split('/').nth(6).and_then(|s| s.parse().ok()).unwrap_or(0);
                let state = state.lock().expect("state");
                match state.artifacts.values().flatten().find(|a| a.id == id) {
                    Some(a) if a.gone => {
                        ResponseTemplate::new(410).set_body_json(json!({"message": "Artifact has expired"}))
                    }
                    Some(_) => ResponseTemplate::new(302)
                        .insert_header("location", format!("{storage_uri}/blob/{id}.zip?sig=secret").as_str()),
                    None => ResponseTemplate::new(404).set_body_json(json!({"message": "Not Found"})),
                }
            })
            .mount(&self.api)
            .await;

        let state = self.state.clone();
        Mock::given(method("GET"))
            .and(path_regex(r"^/blob/\d+\.zip$"))
            .respond_with(move |request: &Request| {
                let id: u64 =
                    request.url.path().trim_start_matches("/blob/").trim_end_matches(".zip").parse().unwrap_or(0);
                let mut state = state.lock().expect("state");
                let auth = request.headers.get("authorization").map(|v| v.to_str().unwrap_or("?").to_owned());
                state.storage_auth.push(auth);
                match state.artifacts.values().flatten().find(|a| a.id == id) {
                    Some(a) => ResponseTemplate::new(200).set_body_raw(a.zip.clone(), "application/zip"),
                    None => ResponseTemplate::new(404),
                }
            })
            .mount(&self.storage)
            .await;

        let state = self.state.clone();
        Mock::given(method("GET"))
            .and(path_regex(r"^/repos/octo-org/infra/pulls/\d+$"))
            .respond_with(move |request: &Request| {
                Self::log(&state, request);
                let number: u64 = request.url.path().rsplit('/').next().and_then(|s| s.parse().ok()).unwrap_or(0);
                let state = state.lock().expect("state");
                let repo = state.pull_repos.get(&number).cloned().unwrap_or_else(|| Some(HEAD_REPO.to_owned()));
                let repo = repo.map(|name| json!({"full_name": name}));
                match state.pulls.get(&number) {
                    Some(sha) => ResponseTemplate::new(200)
                        .set_body_json(json!({"number": number, "state": "open", "head": {"sha": sha, "repo": repo}})),
                    None => ResponseTemplate::new(404).set_body_json(json!({"message": "Not Found"})),
                }
            })
            .mount(&self.api)
            .await;

        let state = self.state.clone();
        let api_uri = self.api.uri();
        Mock::given(method("GET"))
            .and(path_regex(r"^/repos/octo-org/infra/issues/\d+/comments$"))
            .respond_with(move |request: &Request| {
                Self::log(&state, request);
                let pr: u64 = request.url.path().split('/').nth(5).and_then(|s| s.parse().ok()).unwrap_or(0);
                let per_page: usize = query(request, "per_page").and_then(|p| p.parse().ok()).unwrap_or(30);
                let page: usize = query(request, "page").and_then(|p| p.parse().ok()).unwrap_or(1);
                let state = state.lock().expect("state");
                let all = state.comments.get(&pr).cloned().unwrap_or_default();
                let items: Vec<Value> =
                    all.iter().skip((page - 1) * per_page).take(per_page).map(|c| comment_json(pr, c)).collect();
                let mut response = ResponseTemplate::new(200).set_body_json(Value::Array(items));
                if page * per_page < all.len() {
                    let next = format!(
                        "<{api_uri}{REPO}/issues/{pr}/comments?per_page={per_page}&page={}>; rel=\"next\"",
                        page + 1
                    );
                    response = response.insert_header("link", next.as_str());
                }
                response
            })
            .mount(&self.api)
            .await;

        let state = self.state.clone();
        Mock::given(method("POST"))
            .and(path_regex(r"^/repos/octo-org/infra/issues/\d+/comments$"))
            .respond_with(move |request: &Request| {
                Self::log(&state, request);
                let mut state = state.lock().expect("state");
                if let Some((status, retry_after)) = state.write_failures.pop_front() {
                    return failure(status, retry_after);
                }
                let pr: u64 = request.url.path().split('/').nth(5).and_then(|s| s.parse().ok()).unwrap_or(0);
                let body: Value = serde_json::from_slice(&request.body).unwrap_or_default();
                state.next_id += 1;
                let comment = Comment {
                    id: state.next_id,
                    body: body["body"].as_str().unwrap_or_default().to_owned(),
                    login: BOT.into(),
                    minimized: false,
                };
                let answer = comment_json(pr, &comment);
                state.comments.entry(pr).or_default().push(comment);
                ResponseTemplate::new(201).set_body_json(answer)
            })
            .mount(&self.api)
            .await;

        let state = self.state.clone();
        Mock::given(method("PATCH"))
            .and(path_regex(r"^/repos/octo-org/infra/issues/comments/\d+$"))
            .respond_with(move |request: &Request| {
                Self::log(&state, request);
                let mut state = state.lock().expect("state");
                if let Some((status, retry_after)) = state.write_failures.pop_front() {
                    return failure(status, retry_after);
                }
                let id: u64 = request.url.path().rsplit('/').next().and_then(|s| s.parse().ok()).unwrap_or(0);
                let body: Value = serde_json::from_slice(&request.body).unwrap_or_default();
                for (pr, comments) in state.comments.iter_mut() {
                    if let Some(comment) = comments.iter_mut().find(|c| c.id == id) {
                        comment.body = body["body"].as_str().unwrap_or_default().to_owned();
                        return ResponseTemplate::new(200).set_body_json(comment_json(*pr, comment));
                    }
                }
                ResponseTemplate::new(404).set_body_json(json!({"message": "Not Found"}))
            })
            .mount(&self.api)
            .await;

        self.mount_deployments().await;

        let state = self.state.clone();
        Mock::given(method("POST"))
            .and(path("/graphql"))
            .respond_with(move |request: &Request| {
                Self::log(&state, request);
                let body: Value = serde_json::from_slice(&request.body).unwrap_or_default();
                let node = body["variables"]["id"].as_str().unwrap_or_default().to_owned();
                let mut state = state.lock().expect("state");
                let id: u64 = node.trim_start_matches("IC_").parse().unwrap_or(0);
                for comment in state.comments.values_mut().flatten() {
                    if comment.id == id {
                        comment.minimized = true;
                    }
                }
                state.minimized.push(node);
                ResponseTemplate::new(200)
                    .set_body_json(json!({"data": {"minimizeComment": {"minimizedComment": {"isMinimized": true}}}}))
            })
            .mount(&self.api)
            .await;
    }
}

fn failure(status: u16, retry_after: Option<u64>) -> ResponseTemplate {
    let mut response = ResponseTemplate::new(status).set_body_json(json!({"message": "scripted failure"}));
    if let Some(seconds) = retry_after {
        response = response.insert_header("retry-after", seconds.to_string().as_str());
    }
    response
}

impl FakeGitHub {
    /// Deployments: create, list (filters `environment` and `sha`, newest
    /// first, paginated), and their statuses (create, list newest first).
    /// Writes answer `write_failures` first.
    async fn mount_deployments(&self) {
        let state = self.state.clone();
        Mock::given(method("POST"))
            .and(path(format!("{REPO}/deployments")))
            .respond_with(move |request: &Request| {
                Self::log(&state, request);
                let mut state = state.lock().expect("state");
                if let Some((status, retry_after)) = state.write_failures.pop_front() {
                    return failure(status, retry_after);
                }
                let body: Value = serde_json::from_slice(&request.body).unwrap_or_default();
                let (Some(reference), Some(environment)) = (body["ref"].as_str(), body["environment"].as_str()) else {
                    return ResponseTemplate::new(422).set_body_json(json!({"message": "Invalid request"}));
                };
                state.next_id += 1;
                let deployment = FakeDeployment {
                    id: state.next_id,
                    environment: environment.to_owned(),
                    sha: reference.to_owned(),
                    payload: body.get("payload").cloned().unwrap_or_else(|| json!({})),
                    created_at: now_rfc3339(),
                    statuses: Vec::new(),
                };
                let answer = deployment_json(&deployment);
                state.deployments.push(deployment);
                ResponseTemplate::new(201).set_body_json(answer)
            })
            .mount(&self.api)
            .await;

        let state = self.state.clone();
        Mock::given(method("GET"))
            .and(path(format!("{REPO}/deployments")))
            .respond_with(move |request: &Request| {
                Self::log(&state, request);
                let environment = query(request, "environment");
                let sha = query(request, "sha");
                let state = state.lock().expect("state");
                let mut matching: Vec<&FakeDeployment> = state
                    .deployments
                    .iter()
                    .filter(|d| environment.as_ref().is_none_or(|e| &d.environment == e))
                    .filter(|d| sha.as_ref().is_none_or(|s| &d.sha == s))
                    .collect();
                matching.sort_by(|a, b| (&b.created_at, b.id).cmp(&(&a.created_at, a.id)));
                paged(request, matching.into_iter().map(deployment_json).collect())
            })
            .mount(&self.api)
            .await;

        let state = self.state.clone();
        Mock::given(method("POST"))
            .and(path_regex(r"^/repos/octo-org/infra/deployments/\d+/statuses$"))
            .respond_with(move |request: &Request| {
                Self::log(&state, request);
                let mut state = state.lock().expect("state");
                if let Some((status, retry_after)) = state.write_failures.pop_front() {
                    return failure(status, retry_after);
                }
                let id: u64 = request.url.path().split('/').nth(5).and_then(|s| s.parse().ok()).unwrap_or(0);
                let body: Value = serde_json::from_slice(&request.body).unwrap_or_default();
                let text = |key: &str| body[key].as_str().map(str::to_owned);
                let Some(state_name) = text("state") else {
                    return ResponseTemplate::new(422).set_body_json(json!({"message": "Invalid request"}));
                };
                let Some(deployment) = state.deployments.iter_mut().find(|d| d.id == id) else {
                    return ResponseTemplate::new(404).set_body_json(json!({"message": "Not Found"}));
                };
                let status = FakeStatus {
                    state: state_name,
                    environment_url: text("environment_url"),
                    log_url: text("log_url"),
                    description: text("description"),
                    created_at: now_rfc3339(),
                };
                deployment.statuses.push(status);
                let index = deployment.statuses.len() - 1;
                ResponseTemplate::new(201).set_body_json(status_json(deployment, index, &deployment.statuses[index]))
            })
            .mount(&self.api)
            .await;

        let state = self.state.clone();
        Mock::given(method("GET"))
            .and(path_regex(r"^/repos/octo-org/infra/deployments/\d+/statuses$"))
            .respond_with(move |request: &Request| {
                Self::log(&state, request);
                let id: u64 = request.url.path().split('/').nth(5).and_then(|s| s.parse().ok()).unwrap_or(0);
                let state = state.lock().expect("state");
                let Some(deployment) = state.deployments.iter().find(|d| d.id == id) else {
                    return ResponseTemplate::new(404).set_body_json(json!({"message": "Not Found"}));
                };
                let newest_first: Vec<Value> = deployment
                    .statuses
                    .iter()
                    .enumerate()
                    .rev()
                    .map(|(index, status)| status_json(deployment, index, status))
                    .collect();
                paged(request, newest_first)
            })
            .mount(&self.api)
            .await;
    }
}
