//! `action-filter`: the entrypoint of `actions/filter`; it drops the prod hubs of clusters whose canary failed.
//! The work is [`deployer::stages::entrypoints::filter`], shared with the multi-call
//! `deployer-actions` binary of the runtime image.

use std::process::ExitCode;

fn main() -> ExitCode {
    deployer::base::runner::run_action(deployer::stages::entrypoints::filter)
}
