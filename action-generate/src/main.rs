//! `action-generate`: the entrypoint of `actions/generate`; it plans the change.
//! The work is [`deployer::actions::generate`], shared with the multi-call
//! `deployer-actions` binary of the runtime image.

use std::process::ExitCode;

fn main() -> ExitCode {
    deployer::runner::run_action(deployer::actions::generate)
}
