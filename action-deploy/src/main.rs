//! `action-deploy`: the entrypoint of `actions/deploy`.
//!
//! Runs `helm upgrade --install` for a cluster's support chart and/or the
//! hubs given (the staging hubs of a support-and-staging leg, or one prod
//! hub), in order, with `enc-*` values files decrypted by sops into a private
//! temporary folder. The first failure fails the step and stops the rest.

use std::process::ExitCode;

use deployer::deploy::run::{deploy, LogStyle};
use deployer::deploy::DeployRequest;
use deployer::runner::{self, RunnerEnv};
use deployer::Error;

fn main() -> ExitCode {
    runner::run_action(run)
}

fn run(env: &RunnerEnv) -> Result<(), Error> {
    let request = DeployRequest::from_env(env)?;
    let outcome = deploy(&request, LogStyle::Actions)?;
    runner::append_summary(env, &outcome.summary())?;
    outcome.outputs()?.write(env)
}
