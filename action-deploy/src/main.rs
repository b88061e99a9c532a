//! `action-deploy`: the entrypoint of `actions/deploy`; it upgrades the support chart and hubs with Helm.
//! The work is [`deployer::stages::entrypoints::deploy`], shared with the multi-call
//! `deployer-actions` binary of the runtime image.

use std::process::ExitCode;

fn main() -> ExitCode {
    deployer::base::runner::run_action(deployer::stages::entrypoints::deploy)
}
