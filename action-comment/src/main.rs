//! `action-comment`: the entrypoint of `actions/comment`; it posts or updates the sticky PR comment.
//! The work is [`deployer::stages::entrypoints::comment`], shared with the multi-call
//! `deployer-actions` binary of the runtime image.

use std::process::ExitCode;

fn main() -> ExitCode {
    deployer::base::runner::run_action(deployer::stages::entrypoints::comment)
}
