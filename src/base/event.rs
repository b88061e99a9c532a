//! The triggering event, from `GITHUB_EVENT_NAME` and the `GITHUB_EVENT_PATH`
//! payload, reduced to what the stages use. Parsing is pure; reading the file
//! is the runner's.

use serde_json::Value;

use crate::base::error::Error;

/// The owner and name of the repository (`GITHUB_REPOSITORY`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoRef {
    pub owner: String,
    pub name: String,
}

impl RepoRef {
    /// Parses `owner/name`.
    pub fn parse(text: &str) -> Result<Self, Error> {
        let valid = |part: &str| {
            !part.is_empty() && part.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        };
        match text.split_once('/') {
            Some((owner, name)) if valid(owner) && valid(name) => {
                Ok(RepoRef { owner: owner.to_owned(), name: name.to_owned() })
            }
            _ => Err(Error::Runner(format!("GITHUB_REPOSITORY `{text}` is not `owner/name`"))),
        }
    }

    /// `/repos/{owner}/{name}`.
    pub fn api_path(&self) -> String {
        format!("/repos/{}/{}", self.owner, self.name)
    }
}

/// A pull request as the event payload describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullRequestEvent {
    pub number: u64,
    pub head_sha: String,
    /// `pull_request.base.sha`: the base branch's commit the pull request is
    /// compared with, when the payload has a valid one.
    pub base_sha: Option<String>,
    pub labels: Vec<String>,
    /// The payload's `changed_files` count, when present.
    pub changed_files: Option<u64>,
    /// `owner/name` of the repository the head commit is in (a fork's, for a
    /// fork); `None` when the payload has none (a deleted fork).
    pub head_repository: Option<String>,
}

/// The run a `workflow_run` event reports on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkflowRunEvent {
    pub run_id: u64,
    /// The commit the run built: for a pull request, its head.
    pub head_sha: String,
    /// The event that triggered that run (`pull_request`, `push`...).
    pub event: String,
    /// Pull requests GitHub associated with the run (empty for forks).
    pub pull_requests: Vec<u64>,
    /// `workflow_run.head_repository.full_name`: where the built commit is.
    pub head_repository: Option<String>,
}

/// What triggered the run, as far as planning cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trigger {
    /// `pull_request` or `pull_request_target`.
    PullRequest(PullRequestEvent),
    /// `push`: the commits before and after.
    Push { before: String, after: String },
    /// `workflow_dispatch`.
    WorkflowDispatch,
    /// `workflow_run`: another run finished; the comment workflow's trigger.
    WorkflowRun(WorkflowRunEvent),
    /// Anything else, by name.
    Other(String),
}

/// A commit SHA of all zeros: no commit (a new branch's `before`).
pub fn is_null_sha(sha: &str) -> bool {
    !sha.is_empty() && sha.chars().all(|c| c == '0')
}

/// A full commit SHA (SHA-1 or SHA-256 hex).
pub fn is_sha(sha: &str) -> bool {
    (sha.len() == 40 || sha.len() == 64) && sha.chars().all(|c| c.is_ascii_hexdigit())
}

/// Interprets an event payload.
pub fn parse_trigger(event_name: &str, payload: &Value) -> Result<Trigger, Error> {
    let bad = |what: &str| Error::Runner(format!("the {event_name} event payload has no valid {what}"));
    match event_name {
        "pull_request" | "pull_request_target" => {
            let pr = &payload["pull_request"];
            let number = pr["number"].as_u64().ok_or_else(|| bad("pull_request.number"))?;
            let head_sha =
                pr["head"]["sha"].as_str().filter(|s| is_sha(s)).ok_or_else(|| bad("pull_request.head.sha"))?;
            Ok(Trigger::PullRequest(PullRequestEvent {
                number,
                head_sha: head_sha.to_owned(),
                base_sha: pr["base"]["sha"].as_str().filter(|s| is_sha(s)).map(str::to_owned),
                labels: label_names(&pr["labels"]),
                changed_files: pr["changed_files"].as_u64(),
                head_repository: full_name(&pr["head"]["repo"]),
            }))
        }
        "push" => {
            let sha =
                |key: &str| payload[key].as_str().filter(|s| is_sha(s)).map(str::to_owned).ok_or_else(|| bad(key));
            Ok(Trigger::Push { before: sha("before")?, after: sha("after")? })
        }
        "workflow_dispatch" => Ok(Trigger::WorkflowDispatch),
        "workflow_run" => {
            let run = &payload["workflow_run"];
            let run_id = run["id"].as_u64().ok_or_else(|| bad("workflow_run.id"))?;
            let head_sha =
                run["head_sha"].as_str().filter(|s| is_sha(s)).ok_or_else(|| bad("workflow_run.head_sha"))?;
            let pull_requests =
                run["pull_requests"].as_array().into_iter().flatten().filter_map(|p| p["number"].as_u64());
            Ok(Trigger::WorkflowRun(WorkflowRunEvent {
                run_id,
                head_sha: head_sha.to_owned(),
                event: run["event"].as_str().unwrap_or_default().to_owned(),
                pull_requests: pull_requests.collect(),
                head_repository: full_name(&run["head_repository"]),
            }))
        }
        other => Ok(Trigger::Other(other.to_owned())),
    }
}

/// The `full_name` (`owner/name`) of a repository object, if it has one.
pub fn full_name(repository: &Value) -> Option<String> {
    repository["full_name"].as_str().filter(|name| RepoRef::parse(name).is_ok()).map(str::to_owned)
}

/// The names of a JSON array of label objects.
pub fn label_names(labels: &Value) -> Vec<String> {
    labels.as_array().into_iter().flatten().filter_map(|l| l["name"].as_str().map(str::to_owned)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

    #[test]
    fn triggers() {
        let base = "fedcba9876543210fedcba9876543210fedcba98";
        let pr = json!({"pull_request": {"number": 5, "head": {"sha": SHA, "repo": {"full_name": "fork/infra"}}, "base": {"sha": base}, "labels": [{"name": "a"}, {"name": "b"}], "changed_files": 3}});
        assert_eq!(
            parse_trigger("pull_request", &pr).unwrap(),
            Trigger::PullRequest(PullRequestEvent {
                number: 5,
                head_sha: SHA.into(),
                base_sha: Some(base.into()),
                labels: vec!["a".into(), "b".into()],
                changed_files: Some(3),
                head_repository: Some("fork/infra".into()),
            })
        );
        assert!(matches!(parse_trigger("pull_request_target", &pr).unwrap(), Trigger::PullRequest(_)));
        // A base SHA that is not one is left out, not trusted.
        for bad in [json!("main"), json!(null), json!("../x")] {
            let pr = json!({"pull_request": {"number": 5, "head": {"sha": SHA}, "base": {"sha": bad}}});
            assert!(matches!(
                parse_trigger("pull_request", &pr).unwrap(),
                Trigger::PullRequest(PullRequestEvent { base_sha: None, .. })
            ));
        }
        let push = json!({"before": "0".repeat(40), "after": SHA});
        assert_eq!(parse_trigger("push", &push).unwrap(), Trigger::Push { before: "0".repeat(40), after: SHA.into() });
        assert_eq!(parse_trigger("workflow_dispatch", &json!({})).unwrap(), Trigger::WorkflowDispatch);
        assert_eq!(parse_trigger("schedule", &json!({})).unwrap(), Trigger::Other("schedule".into()));
        let run = json!({"workflow_run": {"id": 99, "head_sha": SHA, "event": "pull_request", "pull_requests": [{"number": 4}],
            "head_repository": {"full_name": "fork/infra"}}});
        assert_eq!(
            parse_trigger("workflow_run", &run).unwrap(),
            Trigger::WorkflowRun(WorkflowRunEvent {
                run_id: 99,
                head_sha: SHA.into(),
                event: "pull_request".into(),
                pull_requests: vec![4],
                head_repository: Some("fork/infra".into()),
            })
        );
        let junk = json!({"workflow_run": {"id": 99, "head_sha": SHA, "head_repository": {"full_name": "a/b/c"}}});
        assert!(matches!(
            parse_trigger("workflow_run", &junk).unwrap(),
            Trigger::WorkflowRun(WorkflowRunEvent { head_repository: None, .. })
        ));
    }

    #[test]
    fn malformed_payloads_are_errors() {
        let cases = [
            ("pull_request", json!({})),
            ("pull_request", json!({"pull_request": {"number": 1, "head": {"sha": "../../evil"}}})),
            ("push", json!({"before": SHA, "after": "main"})),
            ("workflow_run", json!({"workflow_run": {"id": 1, "head_sha": "x"}})),
        ];
        for (name, payload) in cases {
            assert!(parse_trigger(name, &payload).is_err(), "{name} {payload}");
        }
    }

    #[test]
    fn repositories() {
        assert_eq!(RepoRef::parse("org/repo.name").unwrap().api_path(), "/repos/org/repo.name");
        for bad in ["", "org", "org/", "/repo", "org/re/po", "org/re po"] {
            assert!(RepoRef::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn null_shas() {
        assert!(is_null_sha(&"0".repeat(40)));
        assert!(!is_null_sha(SHA));
        assert!(!is_null_sha(""));
    }
}
