//! `action-comment`: the entrypoint of `actions/comment`; it posts or updates the sticky PR comment.
//! The work is [`deployer::actions::comment`], shared with the multi-call
//! `deployer-actions` binary of the runtime image.

use std::process::ExitCode;

fn main() -> ExitCode {
    deployer::runner::run_action(deployer::actions::comment)
}
