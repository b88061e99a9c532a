//! `action-comment`: the entrypoint of `actions/comment`.
//!
//! Runs in the base repository's context (a `workflow_run` workflow), so it
//! treats the artifact it reads as a stranger's: the library checks every
//! byte of it before anything is posted.

use std::process::ExitCode;

use deployer::comment::stage::{run, CommentInputs};
use deployer::runner::{self, Level, RunnerEnv};
use deployer::Error;

fn main() -> ExitCode {
    runner::run_action(comment)
}

fn comment(env: &RunnerEnv) -> Result<(), Error> {
    let inputs = CommentInputs::from_env(env)?;
    let outcome = run(env, &inputs)?;
    for warning in &outcome.warnings {
        runner::annotate_message(Level::Warning, warning);
    }
    let url = outcome.comment_url.as_deref().unwrap_or("");
    runner::print(&format!(
        "Comment {}{}\n",
        outcome.result.as_str(),
        if url.is_empty() { String::new() } else { format!(": {url}") }
    ));
    runner::print(&format!(
        "GitHub API: {} requests (+{} artifact downloads from storage)\n",
        outcome.api_requests, outcome.downloads
    ));
    outcome.outputs().write(env)
}
