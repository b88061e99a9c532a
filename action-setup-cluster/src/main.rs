//! `action-setup-cluster`: the entrypoint of `actions/setup-cluster`.
//!
//! Reads the cluster's provider from its `cluster.yaml`, gets credentials
//! (GitHub OIDC first), writes a private kubeconfig and exports `KUBECONFIG`
//! for the job's later steps.

use std::process::ExitCode;

use deployer::access::stage::{run, SetupInputs};
use deployer::runner::{self, RunnerEnv};
use deployer::Error;

fn main() -> ExitCode {
    runner::run_action(setup)
}

fn setup(env: &RunnerEnv) -> Result<(), Error> {
    let inputs = SetupInputs::from_env(env)?;
    let outcome = run(env, &inputs)?;
    runner::print(&format!(
        "Access to {} ({}) ready: KUBECONFIG={} ({} requests)\n",
        inputs.cluster,
        outcome.provider.as_str(),
        outcome.output_path,
        outcome.requests
    ));
    outcome.environment().write_env(env)?;
    outcome.outputs().write(env)
}
