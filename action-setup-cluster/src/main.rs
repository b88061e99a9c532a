//! `action-setup-cluster`: the entrypoint of `actions/setup-cluster`; it gives the job access to one cluster.
//! The work is [`deployer::stages::entrypoints::setup_cluster`], shared with the multi-call
//! `deployer-actions` binary of the runtime image.

use std::process::ExitCode;

fn main() -> ExitCode {
    deployer::base::runner::run_action(deployer::stages::entrypoints::setup_cluster)
}
