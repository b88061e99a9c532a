//! Finds a change's files and labels from the triggering event with the
//! GitHub API, so no paths-filter action is needed. Where the API cannot list
//! every file, the change plans everything rather than under-deploy.

use serde::Deserialize;

use crate::base::error::Error;
use crate::base::event::{is_null_sha, PullRequestEvent, RepoRef, Trigger};
use crate::github::GitHub;

/// The most files the pull-request files API lists.
pub const PR_FILES_LIMIT: usize = 3000;
/// The most files the compare API lists.
pub const COMPARE_FILES_LIMIT: usize = 300;

/// Reason given to everything when the file list may be incomplete.
pub const INCOMPLETE_REASON: &str = "Changed files could not all be listed, so everything is planned";
/// Reason given to everything when a new branch is pushed.
pub const NEW_BRANCH_REASON: &str = "New branch with no earlier commit to compare with, so everything is planned";
/// Reason given to everything on request.
pub const DEPLOY_ALL_REASON: &str = "deploy-all requested";

/// What the event says changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Detected {
    pub paths: Vec<String>,
    pub labels: Vec<String>,
    /// Set when every hub and support chart must be planned, with the reason.
    pub force_all: Option<String>,
    /// Things to tell the user (as warning annotations).
    pub warnings: Vec<String>,
}

/// One entry of the pull-request files or compare `files` lists.
#[derive(Debug, Clone, Deserialize)]
pub struct ChangedFile {
    pub filename: String,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub previous_filename: Option<String>,
}

/// The paths a file list touches: every file, and a renamed file under its old name too.
pub fn touched_paths(files: &[ChangedFile]) -> Vec<String> {
    let mut paths = Vec::with_capacity(files.len());
    for file in files {
        paths.push(file.filename.clone());
        if let Some(previous) = file.previous_filename.as_ref().filter(|p| *p != &file.filename) {
            paths.push(previous.clone());
        }
    }
    paths
}

#[derive(Debug, Deserialize)]
struct AssociatedPull {
    number: u64,
    #[serde(default)]
    merged_at: Option<String>,
    #[serde(default)]
    merge_commit_sha: Option<String>,
    #[serde(default)]
    labels: Vec<Label>,
    #[serde(default)]
    changed_files: Option<u64>,
}

#[derive(Debug, Deserialize)]
struct Label {
    name: String,
}

#[derive(Debug, Deserialize)]
struct Comparison {
    #[serde(default)]
    files: Option<Vec<ChangedFile>>,
}

/// Finds what changed for `trigger`. `deploy_all` plans everything.
pub async fn detect(gh: &GitHub, repo: &RepoRef, trigger: &Trigger, deploy_all: bool) -> Result<Detected, Error> {
    let mut detected = Detected::default();
    if let Trigger::PullRequest(pr) = trigger {
        detected.labels = pr.labels.clone();
    }
    if deploy_all {
        detected.force_all = Some(DEPLOY_ALL_REASON.to_owned());
        return Ok(detected);
    }
    match trigger {
        Trigger::PullRequest(pr) => pull_request_files(gh, repo, pr, &mut detected).await?,
        Trigger::Push { before, after } => push_files(gh, repo, before, after, &mut detected).await?,
        Trigger::WorkflowDispatch => detected.warnings.push(
            "workflow_dispatch run without `deploy-all: true` and without `changed-files`: nothing to plan".into(),
        ),
        Trigger::WorkflowRun(_) => {
            return Err(Error::input(
                "changed-files",
                "cannot find the changed files of a `workflow_run` event; pass them in `changed-files`, or set `deploy-all`",
            ))
        }
        Trigger::Other(name) => {
            return Err(Error::input(
                "changed-files",
                format!(
                "cannot find the changed files of a `{name}` event; pass them in `changed-files`, or set `deploy-all`"
            ),
            ))
        }
    }
    Ok(detected)
}

async fn pull_request_files(
    gh: &GitHub,
    repo: &RepoRef,
    pr: &PullRequestEvent,
    detected: &mut Detected,
) -> Result<(), Error> {
    let files: Vec<ChangedFile> =
        gh.get_all(&format!("{}/pulls/{}/files", repo.api_path(), pr.number), None, Some(PR_FILES_LIMIT)).await?;
    let incomplete = files.len() >= PR_FILES_LIMIT || pr.changed_files.is_some_and(|n| n > files.len() as u64);
    if incomplete {
        mark_incomplete(detected, &format!("pull request #{} lists {} files", pr.number, files.len()));
    }
    detected.paths.extend(touched_paths(&files));
    Ok(())
}

async fn push_files(
    gh: &GitHub,
    repo: &RepoRef,
    before: &str,
    after: &str,
    detected: &mut Detected,
) -> Result<(), Error> {
    if is_null_sha(before) {
        detected.force_all = Some(NEW_BRANCH_REASON.to_owned());
        detected.warnings.push(format!("{NEW_BRANCH_REASON} (push of {after})"));
        return Ok(());
    }
    let pulls: Vec<AssociatedPull> =
        gh.get_all(&format!("{}/commits/{after}/pulls", repo.api_path()), None, None).await?;
    // Only pull requests merged as this very commit: an open PR that merely
    // contains the commit is not what was deployed.
    let merged: Vec<&AssociatedPull> =
        pulls.iter().filter(|p| p.merged_at.is_some() && p.merge_commit_sha.as_deref() == Some(after)).collect();
    if merged.is_empty() {
        let comparison: Comparison = gh.get(&format!("{}/compare/{before}...{after}", repo.api_path())).await?;
        let files = comparison.files.unwrap_or_default();
        if files.len() >= COMPARE_FILES_LIMIT {
            mark_incomplete(detected, &format!("the comparison {before}...{after} lists {} files", files.len()));
        }
        detected.paths.extend(touched_paths(&files));
        return Ok(());
    }
    for pull in merged {
        let event = PullRequestEvent {
            number: pull.number,
            head_sha: String::new(),
            base_sha: None,
            labels: Vec::new(),
            changed_files: pull.changed_files,
            head_repository: None,
        };
        pull_request_files(gh, repo, &event, detected).await?;
        for label in &pull.labels {
            if !detected.labels.contains(&label.name) {
                detected.labels.push(label.name.clone());
            }
        }
    }
    Ok(())
}

fn mark_incomplete(detected: &mut Detected, what: &str) {
    detected.force_all = Some(INCOMPLETE_REASON.to_owned());
    detected.warnings.push(format!(
        "{what}, which may not be every changed file (the API stops at {PR_FILES_LIMIT} files for a pull request \
         and {COMPARE_FILES_LIMIT} for a comparison); planning every hub and support chart so nothing is missed"
    ));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renamed_files_count_under_both_names() {
        let files: Vec<ChangedFile> = serde_json::from_value(serde_json::json!([
            {"filename": "a.yaml", "status": "modified"},
            {"filename": "new.yaml", "status": "renamed", "previous_filename": "old.yaml"},
            {"filename": "gone.yaml", "status": "removed"},
        ]))
        .unwrap();
        assert_eq!(touched_paths(&files), ["a.yaml", "new.yaml", "old.yaml", "gone.yaml"]);
    }
}
