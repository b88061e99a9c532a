//! The `comment` action's inputs and outputs, and its API calls: find and
//! download the artifact, check the PR it names, and write the comment.

use serde::Deserialize;

use super::{
    check_marker, decide, free_body, parse_pr_number, parse_untrusted_plan, plan_body, Body, CommentAction,
    IfNoArtifact, IssueComment, RenderMode, DEFAULT_ARTIFACT, DEFAULT_AUTHOR, DEFAULT_BODY_FILE, PR_NUMBER_FILE,
};
use crate::base::error::Error;
use crate::base::event::{RepoRef, Trigger};
use crate::base::runner::{Outputs, RunnerEnv};
use crate::github::artifact::{is_safe_entry_name, read_files, ArtifactLimits};
use crate::github::{ClientConfig, GitHub, RunArtifact};
use crate::presentation::plan_folder::PLAN_FILE;
use crate::presentation::COMMENT_MARKER;

/// Input names of `actions/comment`.
pub mod inputs {
    pub const GITHUB_TOKEN: &str = "github-token";
    pub const RUN_ID: &str = "run-id";
    pub const ARTIFACT_NAME: &str = "artifact-name";
    pub const MARKER: &str = "marker";
    pub const BODY_FILE: &str = "body-file";
    pub const RENDER: &str = "render";
    pub const PR_NUMBER: &str = "pr-number";
    pub const IF_NO_ARTIFACT: &str = "if-no-artifact";
    pub const HIDE_PREVIOUS: &str = "hide-previous";
    pub const COMMENT_AUTHOR: &str = "comment-author";
    /// Every input the action reads.
    pub const ALL: &[&str] = &[
        GITHUB_TOKEN,
        RUN_ID,
        ARTIFACT_NAME,
        MARKER,
        BODY_FILE,
        RENDER,
        PR_NUMBER,
        IF_NO_ARTIFACT,
        HIDE_PREVIOUS,
        COMMENT_AUTHOR,
    ];
    /// The default of each input the code gives one (when the input is absent or empty), as
    /// `action.yml` must declare it (`tests/action_metadata.rs` checks it).
    pub fn defaults() -> Vec<(&'static str, String)> {
        use crate::stages::comment::{IfNoArtifact, RenderMode, DEFAULT_ARTIFACT, DEFAULT_AUTHOR, DEFAULT_BODY_FILE};
        vec![
            (ARTIFACT_NAME, DEFAULT_ARTIFACT.to_owned()),
            (MARKER, crate::presentation::COMMENT_MARKER.to_owned()),
            (BODY_FILE, DEFAULT_BODY_FILE.to_owned()),
            (RENDER, RenderMode::DEFAULT.to_owned()),
            (IF_NO_ARTIFACT, IfNoArtifact::DEFAULT.to_owned()),
            (HIDE_PREVIOUS, false.to_string()),
            (COMMENT_AUTHOR, DEFAULT_AUTHOR.to_owned()),
        ]
    }
}

/// Output names of `actions/comment`.
pub mod outputs {
    pub const COMMENT_ID: &str = "comment-id";
    pub const COMMENT_URL: &str = "comment-url";
    pub const RESULT: &str = "result";
    /// Every output the action writes.
    pub const ALL: &[&str] = &[COMMENT_ID, COMMENT_URL, RESULT];
}

/// The inputs of `actions/comment`, parsed.
#[derive(Debug, Clone)]
pub struct CommentInputs {
    pub run_id: Option<u64>,
    pub artifact_name: String,
    pub marker: String,
    pub body_file: String,
    pub render: RenderMode,
    /// A PR number set by the workflow (trusted, unlike the artifact's).
    pub pr_number: Option<u64>,
    pub if_no_artifact: IfNoArtifact,
    pub hide_previous: bool,
    pub author: String,
    pub limits: ArtifactLimits,
}

impl CommentInputs {
    /// Reads and checks the action's inputs.
    pub fn from_env(env: &RunnerEnv) -> Result<Self, Error> {
        let number = |name: &str| -> Result<Option<u64>, Error> {
            env.input(name)
                .map(|text| {
                    text.parse::<u64>()
                        .ok()
                        .filter(|n| *n > 0)
                        .ok_or_else(|| Error::input(name, format!("`{text}` is not a number")))
                })
                .transpose()
        };
        let marker = env.input(inputs::MARKER).unwrap_or(COMMENT_MARKER).to_owned();
        check_marker(inputs::MARKER, &marker)?;
        let body_file = env.input(inputs::BODY_FILE).unwrap_or(DEFAULT_BODY_FILE).to_owned();
        if !is_safe_entry_name(&body_file) {
            return Err(Error::input(
                inputs::BODY_FILE,
                format!("`{body_file}` is not a relative path inside the artifact"),
            ));
        }
        Ok(CommentInputs {
            run_id: number(inputs::RUN_ID)?,
            artifact_name: env.input(inputs::ARTIFACT_NAME).unwrap_or(DEFAULT_ARTIFACT).to_owned(),
            marker,
            body_file,
            render: RenderMode::parse(inputs::RENDER, env.input(inputs::RENDER).unwrap_or(RenderMode::DEFAULT))?,
            pr_number: number(inputs::PR_NUMBER)?,
            if_no_artifact: IfNoArtifact::parse(
                inputs::IF_NO_ARTIFACT,
                env.input(inputs::IF_NO_ARTIFACT).unwrap_or(IfNoArtifact::DEFAULT),
            )?,
            hide_previous: env.bool_input(inputs::HIDE_PREVIOUS, false)?,
            author: env.input(inputs::COMMENT_AUTHOR).unwrap_or(DEFAULT_AUTHOR).to_owned(),
            limits: ArtifactLimits::default(),
        })
    }
}

/// What the action did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommentResult {
    Created,
    Updated,
    Unchanged,
    Skipped,
}

impl CommentResult {
    /// The `result` output.
    pub fn as_str(self) -> &'static str {
        match self {
            CommentResult::Created => "created",
            CommentResult::Updated => "updated",
            CommentResult::Unchanged => "unchanged",
            CommentResult::Skipped => "skipped",
        }
    }
}

/// The outcome, with what to tell the user and what it cost.
#[derive(Debug, Clone)]
pub struct CommentOutcome {
    pub result: CommentResult,
    pub comment_id: Option<u64>,
    pub comment_url: Option<String>,
    pub warnings: Vec<String>,
    pub api_requests: usize,
    pub downloads: usize,
}

impl CommentOutcome {
    fn skipped(warning: Option<String>) -> Self {
        CommentOutcome {
            result: CommentResult::Skipped,
            comment_id: None,
            comment_url: None,
            warnings: warning.into_iter().collect(),
            api_requests: 0,
            downloads: 0,
        }
    }

    /// The step outputs.
    pub fn outputs(&self) -> Outputs {
        let mut out = Outputs::default();
        out.set(outputs::COMMENT_ID, self.comment_id.map(|id| id.to_string()).unwrap_or_default());
        out.set(outputs::COMMENT_URL, self.comment_url.clone().unwrap_or_default());
        out.set(outputs::RESULT, self.result.as_str());
        out
    }
}

/// What the event says about the run that made the artifact.
struct RunFacts {
    run_id: Option<u64>,
    /// The commit that run built; the PR's head must be this commit.
    head_sha: Option<String>,
    /// The repository that commit is in; the PR's head must be in it too.
    head_repository: Option<String>,
    /// PRs GitHub associated with that run (empty for forks).
    pull_requests: Vec<u64>,
}

fn run_facts(trigger: Option<Trigger>) -> RunFacts {
    match trigger {
        Some(Trigger::WorkflowRun(run)) => RunFacts {
            run_id: Some(run.run_id),
            head_sha: Some(run.head_sha),
            head_repository: run.head_repository,
            pull_requests: run.pull_requests,
        },
        Some(Trigger::PullRequest(pr)) => RunFacts {
            run_id: None,
            head_sha: Some(pr.head_sha),
            head_repository: pr.head_repository,
            pull_requests: vec![pr.number],
        },
        _ => RunFacts { run_id: None, head_sha: None, head_repository: None, pull_requests: Vec::new() },
    }
}

/// Posts or updates the sticky comment.
pub fn run(env: &RunnerEnv, inputs: &CommentInputs) -> Result<CommentOutcome, Error> {
    let facts = run_facts(env.trigger()?);
    let run_id = inputs.run_id.or(facts.run_id).ok_or_else(|| {
        Error::input(
            inputs::RUN_ID,
            "is empty and the event is not a workflow_run: name the run that made the artifact",
        )
    })?;
    let repo = env.repository()?;
    let server = env.var("GITHUB_SERVER_URL").filter(|s| !s.is_empty()).unwrap_or("https://github.com");
    let run_url = format!("{}/{}/{}/actions/runs/{run_id}", server.trim_end_matches('/'), repo.owner, repo.name);
    let config = ClientConfig::from_env(env, inputs::GITHUB_TOKEN)?;
    let graphql_url =
        crate::tools::http::endpoint_from_env(env, "GITHUB_GRAPHQL_URL", crate::tools::http::EndpointSource::Runner)?;
    crate::tools::http::block_on(async {
        let gh = GitHub::new(config.clone())?;
        let call = Call { gh: &gh, repo: &repo, inputs, facts: &facts, run_id, run_url: &run_url };
        let outcome = call.comment(config, graphql_url).await;
        outcome.map(|mut outcome| {
            outcome.api_requests += gh.request_count();
            outcome.downloads = gh.download_count();
            outcome
        })
    })?
}

#[derive(Debug, Deserialize)]
struct PullRequest {
    head: Head,
}

#[derive(Debug, Deserialize)]
struct Head {
    sha: String,
    /// Null when the head repository (a fork) was deleted.
    #[serde(default)]
    repo: Option<HeadRepo>,
}

#[derive(Debug, Deserialize)]
struct HeadRepo {
    full_name: String,
}

#[derive(Debug, Deserialize)]
struct Written {
    id: u64,
    #[serde(default)]
    html_url: String,
}

struct Call<'a> {
    gh: &'a GitHub,
    repo: &'a RepoRef,
    inputs: &'a CommentInputs,
    facts: &'a RunFacts,
    run_id: u64,
    run_url: &'a str,
}

impl Call<'_> {
    fn no_artifact(&self, why: String) -> Result<CommentOutcome, Error> {
        match self.inputs.if_no_artifact {
            IfNoArtifact::Ignore => Ok(CommentOutcome::skipped(None)),
            IfNoArtifact::Warn => Ok(CommentOutcome::skipped(Some(why))),
            IfNoArtifact::Fail => Err(Error::Runner(why)),
        }
    }

    async fn comment(&self, config: ClientConfig, graphql_url: Option<String>) -> Result<CommentOutcome, Error> {
        let inputs = self.inputs;
        let repo = self.repo.api_path();
        let name = inputs.artifact_name.as_str();
        let listing = format!("{repo}/actions/runs/{}/artifacts", self.run_id);
        let Some(artifact) = self.gh.find_first::<RunArtifact>(&listing, Some("artifacts"), |a| a.name == name).await?
        else {
            return self.no_artifact(format!("run {} has no artifact named `{name}`", self.run_id));
        };
        if artifact.expired {
            return self.no_artifact(format!("the artifact `{name}` of run {} has expired", self.run_id));
        }
        if artifact.size_in_bytes > inputs.limits.max_compressed {
            return Err(Error::Artifact(format!(
                "`{name}` is {} bytes, more than the {}-byte cap",
                artifact.size_in_bytes, inputs.limits.max_compressed
            )));
        }
        let zip = match self.gh.artifact_zip(&repo, artifact.id, inputs.limits.max_compressed).await {
            Ok(bytes) => bytes,
            Err(Error::Api { status: 410, .. }) => {
                return self.no_artifact(format!("the artifact `{name}` of run {} has expired", self.run_id))
            }
            Err(error) => return Err(error),
        };
        let files = read_files(&zip, &[PLAN_FILE, &inputs.body_file, PR_NUMBER_FILE], inputs.limits)
            .map_err(|e| Error::Artifact(e.to_string()))?;

        let plan = files.get(PLAN_FILE).map(|bytes| parse_untrusted_plan(bytes)).transpose()?;
        let body = self.body(plan.as_ref(), files.get(&inputs.body_file))?;
        let from_artifact = match (&plan, files.get(PR_NUMBER_FILE)) {
            (Some(plan), _) if plan.pr_number.is_some() => plan.pr_number,
            (_, Some(text)) => Some(parse_pr_number(PR_NUMBER_FILE, &String::from_utf8_lossy(text))?),
            _ => None,
        };
        let pr = self.verified_pr(from_artifact).await?;

        let comments = format!("{repo}/issues/{pr}/comments");
        let existing =
            self.gh.find_first::<IssueComment>(&comments, None, |c| c.is_ours(&inputs.author, &inputs.marker)).await?;
        let mut outcome = CommentOutcome::skipped(None);
        let payload = serde_json::json!({ "body": body.text });
        match decide(existing.as_ref(), &body, inputs.hide_previous) {
            CommentAction::Skip => {}
            CommentAction::Unchanged { id } => {
                outcome.result = CommentResult::Unchanged;
                outcome.comment_id = Some(id);
                outcome.comment_url = existing.map(|c| c.html_url);
            }
            CommentAction::Update { id } => {
                let written: Written = self.gh.patch(&format!("{repo}/issues/comments/{id}"), &payload).await?;
                outcome.result = CommentResult::Updated;
                outcome.comment_id = Some(written.id);
                outcome.comment_url = Some(written.html_url);
            }
            action @ (CommentAction::Create | CommentAction::HideAndCreate { .. }) => {
                if let CommentAction::HideAndCreate { node_id, .. } = action {
                    if let Err(error) = minimize(config, graphql_url, &node_id, &mut outcome.api_requests).await {
                        outcome.warnings.push(format!("could not hide the previous comment: {error}"));
                    }
                }
                let written: Written = self.gh.post(&comments, &payload).await?;
                outcome.result = CommentResult::Created;
                outcome.comment_id = Some(written.id);
                outcome.comment_url = Some(written.html_url);
            }
        }
        Ok(outcome)
    }

    /// The body: rendered from `plan.json` in trusted code, or, with
    /// `render: body`, the body file with mentions, images and HTML neutralised.
    fn body(
        &self,
        plan: Option<&crate::presentation::plan_folder::PlanFile>,
        body_file: Option<&Vec<u8>>,
    ) -> Result<Body, Error> {
        let inputs = self.inputs;
        match (inputs.render, plan, body_file) {
            (RenderMode::Plan, Some(plan), _) => Ok(plan_body(plan, &inputs.marker, Some(self.run_url))),
            (RenderMode::Plan, None, _) => Err(Error::Artifact(format!(
                "the artifact has no {PLAN_FILE} to render (`render: body` posts `{}` instead)",
                inputs.body_file
            ))),
            (RenderMode::Body, _, Some(bytes)) => {
                let text = std::str::from_utf8(bytes)
                    .map_err(|_| Error::Artifact(format!("{} is not UTF-8 text", inputs.body_file)))?;
                Ok(free_body(text, &inputs.marker, Some(self.run_url)))
            }
            (RenderMode::Body, _, None) => {
                Err(Error::Artifact(format!("the artifact has no {} (`render: body`)", inputs.body_file)))
            }
        }
    }

    /// The PR to comment on, checked: it exists, its head is the commit the
    /// run built, and that head is in the repository the run built it from
    /// (another repository's PR can have the same head commit). A number
    /// from the artifact is a stranger's claim until then.
    async fn verified_pr(&self, from_artifact: Option<u64>) -> Result<u64, Error> {
        let (pr, trusted) = match (self.inputs.pr_number, from_artifact) {
            (Some(pr), _) => (pr, true),
            (None, Some(pr)) => (pr, false),
            (None, None) => {
                return Err(Error::Artifact(format!(
                    "no pull request number: neither {PLAN_FILE}, {PR_NUMBER_FILE} nor the `pr-number` input gives one"
                )))
            }
        };
        if !trusted && !self.facts.pull_requests.is_empty() && !self.facts.pull_requests.contains(&pr) {
            return Err(Error::Artifact(format!(
                "it names pull request #{pr}, but the run belongs to #{}",
                self.facts.pull_requests.iter().map(u64::to_string).collect::<Vec<_>>().join(", #")
            )));
        }
        let pull: PullRequest = self.gh.get(&format!("{}/pulls/{pr}", self.repo.api_path())).await?;
        let pull_repo = pull.head.repo.as_ref().map(|r| r.full_name.as_str());
        match (&self.facts.head_sha, self.facts.head_repository.as_deref()) {
            (Some(expected), _) if &pull.head.sha != expected => Err(Error::Artifact(format!(
                "it names pull request #{pr}, whose head is {} but the run built {expected}: \
                 a forged number, or the pull request has moved on (its newer run will comment)",
                pull.head.sha
            ))),
            (Some(_), None) => Err(Error::Artifact(format!(
                "it names pull request #{pr}, but the event gives no head repository to check it against \
                 (`workflow_run.head_repository`)"
            ))),
            (Some(_), Some(expected)) if !pull_repo.is_some_and(|repo| repo.eq_ignore_ascii_case(expected)) => {
                Err(Error::Artifact(format!(
                    "it names pull request #{pr}, whose head commit is the one the run built but in {}, \
                     not in {expected}, the repository the run built: another pull request at the same commit",
                    pull_repo.unwrap_or("a deleted repository")
                )))
            }
            (Some(_), Some(_)) => Ok(pr),
            (None, _) if trusted => Ok(pr),
            (None, _) => Err(Error::Artifact(format!(
                "it names pull request #{pr}, but the event gives no commit to check it against; pass `pr-number`"
            ))),
        }
    }
}

/// Minimizes a comment as outdated with GraphQL (`GITHUB_GRAPHQL_URL`, or
/// derived from the REST API URL).
async fn minimize(
    config: ClientConfig,
    graphql_url: Option<String>,
    node_id: &str,
    requests: &mut usize,
) -> Result<(), Error> {
    let url = graphql_url.unwrap_or_else(|| match config.api_url.strip_suffix("/api/v3") {
        Some(host) => format!("{host}/api/graphql"),
        None => format!("{}/graphql", config.api_url),
    });
    let (base, path) = url.rsplit_once('/').ok_or_else(|| Error::Runner(format!("GraphQL URL `{url}` has no path")))?;
    let gh = GitHub::new(ClientConfig { api_url: base.to_owned(), ..config })?;
    let query = "mutation($id: ID!) { minimizeComment(input: {subjectId: $id, classifier: OUTDATED}) { minimizedComment { isMinimized } } }";
    let answer: serde_json::Value =
        gh.post(&format!("/{path}"), &serde_json::json!({ "query": query, "variables": { "id": node_id } })).await?;
    *requests += gh.request_count();
    match answer.get("errors") {
        Some(errors) => Err(Error::Api {
            method: "POST".into(),
            endpoint: format!("/{path}"),
            status: 200,
            message: errors.to_string().chars().take(300).collect(),
        }),
        None => Ok(()),
    }
}
