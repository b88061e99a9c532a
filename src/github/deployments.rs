//! GitHub Deployments as records of what deploy upgraded: one deployment per
//! release (environment `<cluster>/<release>`, `ref` the commit deployed,
//! a `payload` saying which chart at which commit and wave), with statuses
//! `in_progress` then `success` or `failure`; and the read side, the latest
//! such record of an environment. Everything read back is treated as written
//! by anyone with `deployments: write`: shapes are checked, sizes capped, and
//! a deployment that does not parse is skipped, never trusted.

use serde::Serialize;
use serde_json::{json, Value};

use super::GitHub;
use crate::base::error::Error;

/// The `payload.deployer` of the records this module writes and reads.
pub const PAYLOAD_VERSION: u64 = 1;
/// The deployment's `task`.
pub const TASK: &str = "deploy";
/// GitHub's limit on a deployment or status description, in characters.
pub const MAX_DESCRIPTION: usize = 140;
/// The longest name (cluster, release, chart, wave) a record may hold.
const MAX_NAME: usize = 100;
/// The longest URL a status may hold.
const MAX_URL: usize = 2048;

/// What the payload of a record says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecordPayload {
    pub cluster: String,
    pub release: String,
    /// The chart folder name (`basehub`, `support`).
    pub chart: String,
    /// The commit the chart was taken from: the wave's pin, or the deployed commit for the head.
    pub chart_commit: String,
    /// `sha256:<hex>` of the chart files deployed.
    pub chart_digest: String,
    /// The release's wave, when its chart rolls out in waves.
    pub wave: Option<String>,
}

impl RecordPayload {
    /// The payload as sent: `{"deployer": 1, ...}`.
    pub fn to_json(&self) -> Value {
        json!({
            "deployer": PAYLOAD_VERSION,
            "cluster": self.cluster,
            "release": self.release,
            "chart": self.chart,
            "chart_commit": self.chart_commit,
            "chart_digest": self.chart_digest,
            "wave": self.wave,
        })
    }
}

/// A deployment to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDeployment {
    /// The commit deployed (`GITHUB_SHA`), the deployment's `ref`.
    pub sha: String,
    pub environment: String,
    /// Neither a staging hub nor the support chart.
    pub production: bool,
    pub description: String,
    pub payload: RecordPayload,
}

/// A deployment status's `state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    InProgress,
    Success,
    Failure,
    Error,
    Inactive,
    Pending,
    Queued,
}

impl State {
    /// As the API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            State::InProgress => "in_progress",
            State::Success => "success",
            State::Failure => "failure",
            State::Error => "error",
            State::Inactive => "inactive",
            State::Pending => "pending",
            State::Queued => "queued",
        }
    }

    /// From the API's spelling; `None` for anything else.
    pub fn parse(text: &str) -> Option<State> {
        [
            State::InProgress,
            State::Success,
            State::Failure,
            State::Error,
            State::Inactive,
            State::Pending,
            State::Queued,
        ]
        .into_iter()
        .find(|state| state.as_str() == text)
    }
}

/// A status to add to a deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewStatus {
    pub state: State,
    /// `https://<domain>` of a hub with a domain.
    pub environment_url: Option<String>,
    /// The workflow run attempt that deployed.
    pub log_url: Option<String>,
    pub description: String,
}

/// The environment of a release: `<cluster>/<release>` (`<cluster>/support` for the support chart).
pub fn environment(cluster: &str, release: &str) -> String {
    format!("{cluster}/{release}")
}

/// The run attempt's page: `<server>/<owner>/<repo>/actions/runs/<id>/attempts/<attempt>`.
pub fn log_url(server_url: &str, repository: &str, run_id: &str, attempt: &str) -> String {
    format!("{}/{repository}/actions/runs/{run_id}/attempts/{attempt}", server_url.trim_end_matches('/'))
}

/// `text` cut to `max` characters (an ellipsis marks the cut).
pub fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut short: String = text.chars().take(max.saturating_sub(1)).collect();
    short.push('…');
    short
}

/// Creates the deployment; returns its id. `repo` is `/repos/{owner}/{name}`.
pub async fn create(gh: &GitHub, repo: &str, deployment: &NewDeployment) -> Result<u64, Error> {
    let body = json!({
        "ref": deployment.sha,
        "task": TASK,
        "auto_merge": false,
        "required_contexts": [],
        "environment": deployment.environment,
        "production_environment": deployment.production,
        "transient_environment": false,
        "description": shorten(&deployment.description, MAX_DESCRIPTION),
        "payload": deployment.payload.to_json(),
    });
    let endpoint = format!("{repo}/deployments");
    let created: Value = gh.post(&endpoint, &body).await?;
    created["id"].as_u64().ok_or_else(|| Error::Api {
        method: "POST".into(),
        endpoint,
        status: 201,
        message: "the answer has no deployment id".into(),
    })
}

/// Adds a status to deployment `id` (`auto_inactive`: a success makes the environment's earlier ones inactive).
pub async fn add_status(gh: &GitHub, repo: &str, id: u64, status: &NewStatus) -> Result<(), Error> {
    let mut body = json!({
        "state": status.state.as_str(),
        "auto_inactive": true,
        "description": shorten(&status.description, MAX_DESCRIPTION),
    });
    if let Some(url) = &status.environment_url {
        body["environment_url"] = json!(url);
    }
    if let Some(url) = &status.log_url {
        body["log_url"] = json!(url);
    }
    let _: Value = gh.post(&format!("{repo}/deployments/{id}/statuses"), &body).await?;
    Ok(())
}

/// A record read back: what deploy wrote, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeploymentRecord {
    pub id: u64,
    pub environment: String,
    pub cluster: String,
    pub release: String,
    pub chart: String,
    pub chart_commit: String,
    pub chart_digest: String,
    pub wave: Option<String>,
    /// The commit deployed (the deployment's `sha`).
    pub sha: String,
    pub created_at: String,
    /// Its latest status, if it has one that parses.
    pub status: Option<RecordStatus>,
}

/// A deployment status read back, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordStatus {
    pub state: State,
    pub description: Option<String>,
    pub environment_url: Option<String>,
    pub log_url: Option<String>,
    pub created_at: String,
}

/// The latest deployment of `environment` (newest first, as the API lists them) whose payload is a
/// deployer record (`"deployer": 1`) that parses ([`parse_record`]), with its latest status. Others are skipped.
pub async fn latest(gh: &GitHub, repo: &str, environment: &str) -> Result<Option<DeploymentRecord>, Error> {
    // The client asks for pages of 100 and follows them until a record is found.
    let endpoint = format!("{repo}/deployments?environment={}", super::percent_encode(environment));
    let found: Option<Value> =
        gh.find_first(&endpoint, None, |item: &Value| parse_record(item, environment).is_some()).await?;
    let Some(mut record) = found.as_ref().and_then(|item| parse_record(item, environment)) else {
        return Ok(None);
    };
    let statuses: Vec<Value> = gh.get(&format!("{repo}/deployments/{}/statuses?per_page=1", record.id)).await?;
    record.status = statuses.first().and_then(parse_status);
    Ok(Some(record))
}

/// A listed deployment as a record of `environment`, or `None` when it is not one deployer wrote or
/// any field has the wrong shape.
pub fn parse_record(item: &Value, environment: &str) -> Option<DeploymentRecord> {
    let payload = &item["payload"];
    if payload["deployer"].as_u64() != Some(PAYLOAD_VERSION) || item["environment"].as_str() != Some(environment) {
        return None;
    }
    let name = |value: &Value| value.as_str().filter(|text| is_name(text)).map(str::to_owned);
    let commit = |value: &Value| value.as_str().filter(|text| is_commit(text)).map(str::to_owned);
    let wave = match &payload["wave"] {
        Value::Null => None,
        Value::String(wave) if crate::config::rollout::is_wave_name(wave) && wave.len() <= MAX_NAME => {
            Some(wave.clone())
        }
        _ => return None,
    };
    let digest = payload["chart_digest"].as_str().filter(|text| is_digest(text))?.to_owned();
    let record = DeploymentRecord {
        id: item["id"].as_u64()?,
        environment: environment.to_owned(),
        cluster: name(&payload["cluster"])?,
        release: name(&payload["release"])?,
        chart: name(&payload["chart"])?,
        chart_commit: commit(&payload["chart_commit"])?,
        chart_digest: digest,
        wave,
        sha: commit(&item["sha"])?,
        created_at: item["created_at"].as_str().filter(|t| crate::config::rollout::is_rfc3339(t))?.to_owned(),
        status: None,
    };
    // The payload must describe the environment it was listed under.
    (self::environment(&record.cluster, &record.release) == environment).then_some(record)
}

/// A listed status, checked: a known state and a timestamp; texts capped, URLs `https://` only.
pub fn parse_status(item: &Value) -> Option<RecordStatus> {
    let text = |key: &str, max: usize| item[key].as_str().filter(|t| !t.is_empty()).map(|t| shorten(t, max));
    let url = |key: &str| {
        item[key]
            .as_str()
            .filter(|t| {
                t.starts_with("https://")
                    && t.len() <= MAX_URL
                    && !t.chars().any(|c| c.is_whitespace() || c.is_control())
            })
            .map(str::to_owned)
    };
    Some(RecordStatus {
        state: State::parse(item["state"].as_str()?)?,
        description: text("description", MAX_DESCRIPTION),
        environment_url: url("environment_url"),
        log_url: url("log_url"),
        created_at: item["created_at"].as_str().filter(|t| crate::config::rollout::is_rfc3339(t))?.to_owned(),
    })
}

/// A cluster, release or chart name as a record may hold it: ASCII letters, digits, `-`, `_`, `.`; not `.`/`..`.
fn is_name(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= MAX_NAME
        && text != "."
        && text != ".."
        && text.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// 40 lowercase hex digits.
fn is_commit(text: &str) -> bool {
    crate::config::rollout::is_commit(text)
}

/// `sha256:` and 64 lowercase hex digits.
fn is_digest(text: &str) -> bool {
    text.strip_prefix("sha256:")
        .is_some_and(|hex| hex.len() == 64 && hex.chars().all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

    fn item() -> Value {
        json!({
            "id": 7,
            "sha": SHA,
            "environment": "c1/hub1",
            "created_at": "2026-12-01T10:00:00Z",
            "payload": {
                "deployer": 1, "cluster": "c1", "release": "hub1", "chart": "basehub",
                "chart_commit": SHA, "chart_digest": format!("sha256:{}", "a".repeat(64)), "wave": "early"
            }
        })
    }

    #[test]
    fn a_record_parses() {
        let record = parse_record(&item(), "c1/hub1").unwrap();
        assert_eq!(record.wave.as_deref(), Some("early"));
        assert_eq!(
            (record.cluster.as_str(), record.release.as_str(), record.chart.as_str()),
            ("c1", "hub1", "basehub")
        );
        assert_eq!(record.sha, SHA);
    }

    #[test]
    fn malformed_records_are_skipped() {
        let cases: Vec<(&str, Value)> = vec![
            ("/payload/deployer", json!(2)),
            ("/payload/deployer", json!("1")),
            ("/payload/cluster", json!("c2")),
            ("/payload/cluster", json!("../x")),
            ("/payload/release", json!("a".repeat(200))),
            ("/payload/chart", json!("basehub\n::error::x")),
            ("/payload/chart_commit", json!("main")),
            ("/payload/chart_commit", json!(SHA.to_uppercase())),
            ("/payload/chart_digest", json!("md5:abc")),
            ("/payload/wave", json!("Early!")),
            ("/payload/wave", json!(3)),
            ("/sha", json!("abc")),
            ("/id", json!(-1)),
            ("/created_at", json!("yesterday")),
            ("/environment", json!("c1/hub2")),
            ("/payload", json!("text")),
        ];
        for (pointer, value) in cases {
            let mut bad = item();
            *bad.pointer_mut(pointer).unwrap() = value;
            assert_eq!(parse_record(&bad, "c1/hub1"), None, "{pointer}");
        }
        let mut head = item();
        head["payload"]["wave"] = Value::Null;
        assert_eq!(parse_record(&head, "c1/hub1").unwrap().wave, None);
    }

    #[test]
    fn statuses_are_checked_and_capped() {
        let status = json!({
            "state": "success", "created_at": "2026-12-01T10:00:00Z",
            "description": "x".repeat(1000), "environment_url": "javascript:alert(1)",
            "log_url": "https://github.com/o/r/actions/runs/1/attempts/1"
        });
        let parsed = parse_status(&status).unwrap();
        assert_eq!(parsed.state, State::Success);
        assert_eq!(parsed.description.unwrap().chars().count(), MAX_DESCRIPTION);
        assert_eq!(parsed.environment_url, None);
        assert!(parsed.log_url.is_some());
        assert_eq!(parse_status(&json!({"state": "done", "created_at": "2026-12-01T10:00:00Z"})), None);
        assert_eq!(parse_status(&json!({"state": "success"})), None);
    }

    #[test]
    fn names_and_urls() {
        assert_eq!(environment("c1", "support"), "c1/support");
        assert_eq!(
            log_url("https://github.com/", "o/r", "12", "2"),
            "https://github.com/o/r/actions/runs/12/attempts/2"
        );
        assert_eq!(crate::github::percent_encode("c1/hub 1"), "c1%2Fhub%201");
        assert_eq!(shorten("abcdef", 4), "abc…");
    }
}
