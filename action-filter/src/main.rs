//! `action-filter`: the entrypoint of `actions/filter`.
//!
//! Reads the two matrices generate wrote, finds how each cluster's
//! support-and-staging leg ended (the `results` input, or this run's jobs via
//! the API), drops the prod hubs of clusters whose leg did not succeed, and
//! writes the filtered matrix to `$GITHUB_OUTPUT`.

use std::process::ExitCode;

use deployer::filter::stage::{action_outputs, run, FilterInputs};
use deployer::runner::{self, Level, RunnerEnv};
use deployer::{render, Error};

fn main() -> ExitCode {
    runner::run_action(filter)
}

fn filter(env: &RunnerEnv) -> Result<(), Error> {
    let inputs = FilterInputs::from_env(env)?;
    let (outcome, api_requests) = run(env, &inputs)?;
    for warning in &outcome.warnings {
        runner::annotate_message(Level::Warning, warning);
    }
    runner::group("Prod hub jobs after the canaries");
    runner::print_untrusted(&render::filter_table(&outcome))?;
    runner::end_group();
    if api_requests > 0 {
        runner::print(&format!("GitHub API: {api_requests} requests\n"));
    }
    runner::append_summary(env, &render::filter_summary(&outcome))?;
    action_outputs(&outcome)?.write(env)
}
