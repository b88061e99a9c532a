//! `action-setup-cluster`: the entrypoint of `actions/setup-cluster`; it gives the job access to one cluster.
//! The work is [`deployer::actions::setup_cluster`], shared with the multi-call
//! `deployer-actions` binary of the runtime image.

use std::process::ExitCode;

fn main() -> ExitCode {
    deployer::runner::run_action(deployer::actions::setup_cluster)
}
