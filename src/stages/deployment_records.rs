//! `deployment-records` of `actions/deploy`: the recorder deploy tells of each
//! release it upgrades ([`crate::cluster::deploy::records`]), writing a GitHub
//! Deployment (environment `<cluster>/<release>`, `ref` the commit deployed)
//! with the statuses `in_progress`, then `success` or `failure`, through
//! [`crate::github::deployments`]. What the recorder needs from the runner
//! (repository, commit, run, API settings and token) is read once, before
//! anything runs. A record that cannot be written is a warning: it never
//! changes a release's result.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crate::base::error::Error;
use crate::base::event::RepoRef;
use crate::base::runner::{self, Level, RunnerEnv};
use crate::cluster::deploy::inputs;
use crate::cluster::deploy::records::{Ended, Recorder, ReleaseRecord};
use crate::github::deployments::{self, NewDeployment, NewStatus, RecordPayload, State};
use crate::github::{ClientConfig, GitHub};

/// Where the web UI is when `GITHUB_SERVER_URL` is not set.
const DEFAULT_SERVER_URL: &str = "https://github.com";

/// What every record of the run shares, read from the runner environment.
#[derive(Debug, Clone)]
pub struct RecordSettings {
    pub repo: RepoRef,
    /// The commit deployed (`GITHUB_SHA`).
    pub sha: String,
    /// The run attempt's page, when the run is known.
    pub log_url: Option<String>,
    pub client: ClientConfig,
}

impl RecordSettings {
    /// With `deployment-records: true`: the token (`github-token`), `GITHUB_REPOSITORY`, `GITHUB_SHA`
    /// (a full commit), `GITHUB_SERVER_URL`/`GITHUB_RUN_ID`/`GITHUB_RUN_ATTEMPT` for the log link, and the
    /// API settings. `None` when records are off (the default).
    pub fn from_env(env: &RunnerEnv) -> Result<Option<Self>, Error> {
        if !env.bool_input(inputs::DEPLOYMENT_RECORDS, false)? {
            return Ok(None);
        }
        if env.input(inputs::GITHUB_TOKEN).is_none() {
            return Err(Error::input(
                inputs::DEPLOYMENT_RECORDS,
                "is `true` but `github-token` is empty: a deployment record needs a token that may write \
                 deployments (the default `${{ github.token }}` with `permissions: deployments: write`)",
            ));
        }
        let client = ClientConfig::from_env(env, inputs::GITHUB_TOKEN)?;
        let repo = env.repository()?;
        let sha = env.var("GITHUB_SHA").unwrap_or_default().trim().to_ascii_lowercase();
        if !crate::config::rollout::is_commit(&sha) {
            return Err(Error::Runner(
                "GITHUB_SHA is not a full commit sha: `deployment-records` records the commit the runner checked out"
                    .into(),
            ));
        }
        let number = |name: &str| {
            env.var(name).map(str::trim).filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
        };
        let server = env
            .var("GITHUB_SERVER_URL")
            .map(str::trim)
            .filter(|v| v.starts_with("https://") || v.starts_with("http://"));
        let log_url = number("GITHUB_RUN_ID").map(|run_id| {
            let repository = format!("{}/{}", repo.owner, repo.name);
            let attempt = number("GITHUB_RUN_ATTEMPT").unwrap_or("1");
            deployments::log_url(server.unwrap_or(DEFAULT_SERVER_URL), &repository, run_id, attempt)
        });
        Ok(Some(RecordSettings { repo, sha, log_url, client }))
    }
}

/// Writes each release's record; collects what could not be written as warnings.
pub struct DeploymentRecorder {
    settings: RecordSettings,
    warnings: Mutex<Vec<String>>,
    requests: AtomicUsize,
}

impl DeploymentRecorder {
    pub fn new(settings: RecordSettings) -> Arc<Self> {
        Arc::new(DeploymentRecorder { settings, warnings: Mutex::new(Vec::new()), requests: AtomicUsize::new(0) })
    }

    /// After the deploy: each record not written as a warning annotation, and the requests made.
    /// (Warnings are annotated here, not as they happen: hubs upgraded in parallel run with workflow
    /// commands paused.)
    pub fn report(&self) {
        let warnings = self.warnings.lock().map(|w| w.clone()).unwrap_or_default();
        for warning in &warnings {
            runner::annotate_message(Level::Warning, warning);
        }
        runner::print(&format!(
            "Deployment records: {} API requests{}\n",
            self.requests.load(Ordering::Relaxed),
            if warnings.is_empty() { String::new() } else { format!(", {} not written", warnings.len()) }
        ));
    }

    /// A record not written: said now in the log, annotated by [`DeploymentRecorder::report`].
    fn warn(&self, record: &ReleaseRecord, what: &str, error: &Error) {
        let message = format!(
            "deployment record of {}: {what} failed, the release's result is unchanged: {error}",
            deployments::environment(&record.cluster, &record.release)
        );
        runner::print(&format!("warning: {message}\n"));
        if let Ok(mut warnings) = self.warnings.lock() {
            warnings.push(message);
        }
    }

    /// Runs `calls` against a fresh client; counts its requests.
    fn with_client<T>(
        &self,
        calls: impl for<'a> FnOnce(
            &'a GitHub,
            &'a str,
        ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<T, Error>> + 'a>>,
    ) -> Result<T, Error> {
        let repo = self.settings.repo.api_path();
        let (result, requests) = crate::tools::http::block_on(async {
            let gh = GitHub::new(self.settings.client.clone())?;
            let result = calls(&gh, &repo).await;
            Ok::<_, Error>((result, gh.request_count()))
        })??;
        self.requests.fetch_add(requests, Ordering::Relaxed);
        result
    }

    fn status(&self, record: &ReleaseRecord, state: State, description: &str) -> NewStatus {
        NewStatus {
            state,
            environment_url: record.domain.as_deref().filter(|d| is_host(d)).map(|domain| format!("https://{domain}")),
            log_url: self.settings.log_url.clone(),
            description: description.to_owned(),
        }
    }

    fn deployment(&self, record: &ReleaseRecord) -> NewDeployment {
        let chart_commit = record.chart_commit.clone().unwrap_or_else(|| self.settings.sha.clone());
        let at = match &record.chart_commit {
            Some(pin) => format!("at {}", &pin[..7.min(pin.len())]),
            None => "at the head".to_owned(),
        };
        let wave = record.wave.as_deref().map(|wave| format!(", wave {wave}")).unwrap_or_default();
        NewDeployment {
            sha: self.settings.sha.clone(),
            environment: deployments::environment(&record.cluster, &record.release),
            production: record.production,
            description: format!("deployer: {} {at}{wave}", record.chart),
            payload: RecordPayload {
                cluster: record.cluster.clone(),
                release: record.release.clone(),
                chart: record.chart.clone(),
                chart_commit,
                chart_digest: record.chart_digest.clone(),
                wave: record.wave.clone(),
            },
        }
    }
}

impl Recorder for DeploymentRecorder {
    fn started(&self, record: &ReleaseRecord) -> Option<u64> {
        let deployment = self.deployment(record);
        let created =
            self.with_client(|gh, repo| Box::pin(async move { deployments::create(gh, repo, &deployment).await }));
        let id = match created {
            Ok(id) => id,
            Err(error) => {
                self.warn(record, "creating the deployment", &error);
                return None;
            }
        };
        let status = self.status(record, State::InProgress, "helm upgrade started");
        if let Err(error) =
            self.with_client(|gh, repo| Box::pin(async move { deployments::add_status(gh, repo, id, &status).await }))
        {
            self.warn(record, "the in_progress status", &error);
        }
        Some(id)
    }

    fn finished(&self, id: u64, record: &ReleaseRecord, ended: Ended) {
        let status = match ended {
            Ended::Success => self.status(record, State::Success, "upgraded"),
            Ended::Failure(reason) => self.status(record, State::Failure, reason),
        };
        let state = status.state.as_str();
        if let Err(error) =
            self.with_client(|gh, repo| Box::pin(async move { deployments::add_status(gh, repo, id, &status).await }))
        {
            self.warn(record, &format!("the {state} status"), &error);
        }
    }
}

/// A host name as `https://<domain>` may carry it: letters, digits, `-`, `.` (and a port).
fn is_host(domain: &str) -> bool {
    !domain.is_empty()
        && domain.len() <= 253
        && domain.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | ':'))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

    #[test]
    fn settings_from_env() {
        let off = RunnerEnv::from_vars([("INPUT_GITHUB-TOKEN", "t")]);
        assert!(RecordSettings::from_env(&off).unwrap().is_none());
        let no_token = RunnerEnv::from_vars([("INPUT_DEPLOYMENT-RECORDS", "true")]);
        let error = RecordSettings::from_env(&no_token).unwrap_err().to_string();
        assert!(error.contains("invalid input `deployment-records`") && error.contains("github-token"), "{error}");
        let env = RunnerEnv::from_vars([
            ("INPUT_DEPLOYMENT-RECORDS", "true"),
            ("INPUT_GITHUB-TOKEN", "t"),
            ("GITHUB_REPOSITORY", "o/r"),
            ("GITHUB_SHA", SHA),
            ("GITHUB_SERVER_URL", "https://ghe.example"),
            ("GITHUB_RUN_ID", "42"),
            ("GITHUB_RUN_ATTEMPT", "3"),
        ]);
        let settings = RecordSettings::from_env(&env).unwrap().unwrap();
        assert_eq!(settings.log_url.as_deref(), Some("https://ghe.example/o/r/actions/runs/42/attempts/3"));
        assert_eq!(settings.sha, SHA);
        let bad_sha = RunnerEnv::from_vars([
            ("INPUT_DEPLOYMENT-RECORDS", "true"),
            ("INPUT_GITHUB-TOKEN", "t"),
            ("GITHUB_REPOSITORY", "o/r"),
            ("GITHUB_SHA", "main"),
        ]);
        assert!(RecordSettings::from_env(&bad_sha).is_err());
    }

    #[test]
    fn hosts() {
        assert!(is_host("hub.example.org"));
        assert!(!is_host("evil.example/path"));
        assert!(!is_host("a b"));
    }
}
