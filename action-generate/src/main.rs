//! `action-generate`: the entrypoint of `actions/generate`; it plans the change.
//! The work is [`deployer::stages::entrypoints::generate`], shared with the multi-call
//! `deployer-actions` binary of the runtime image.

use std::process::ExitCode;

fn main() -> ExitCode {
    deployer::base::runner::run_action(deployer::stages::entrypoints::generate)
}
