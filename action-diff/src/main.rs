//! `action-diff`: the entrypoint of `actions/diff`; it renders the planned releases at base and head and compares them.
//! The work is [`deployer::stages::entrypoints::diff`], shared with the multi-call
//! `deployer-actions` binary.

use std::process::ExitCode;

fn main() -> ExitCode {
    deployer::base::runner::run_action(deployer::stages::entrypoints::diff)
}
