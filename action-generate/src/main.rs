//! `action-generate`: the entrypoint of `actions/generate`.
//!
//! Reads the `INPUT_*` variables, plans the change in `$GITHUB_WORKSPACE`,
//! prints the tables, writes the plan folder and the step summary, and only
//! then, once everything is known, writes `$GITHUB_OUTPUT`.

use std::process::ExitCode;

use deployer::generate::{action_outputs, generate, resolve_change, GenerateInputs, GenerateRequest};
use deployer::runner::{self, Level, RunnerEnv};
use deployer::{plan::PlanWarning, plan_folder, render, Diagnostic, Error};

fn main() -> ExitCode {
    runner::run_action(run)
}

fn run(env: &RunnerEnv) -> Result<(), Error> {
    let inputs = GenerateInputs::from_env(env)?;
    let resolved = resolve_change(env, &inputs)?;
    for warning in &resolved.warnings {
        runner::annotate_message(Level::Warning, warning);
    }
    if resolved.api_requests > 0 {
        runner::print(&format!("GitHub API: {} requests\n", resolved.api_requests));
    }
    let workspace = env.workspace();
    let request = GenerateRequest { repo: workspace.clone(), config: inputs.config.clone(), changes: resolved.changes };
    let plan = generate(&request)?.plan;
    plan.check_matrix_limits()?;

    for warning in &plan.warnings {
        match warning {
            PlanWarning::NoCanary { cluster_file, .. } => {
                runner::annotate(Level::Warning, &Diagnostic::new(cluster_file, warning.to_string()));
            }
        }
    }
    runner::group("Deployment plan");
    runner::print_untrusted(&render::log_tables(&plan))?;
    runner::end_group();

    plan_folder::write(&workspace.join(&inputs.plan_dir), &plan, env.pull_request()?)?;
    runner::append_summary(env, &render::step_summary(&plan))?;
    action_outputs(&plan, &inputs.plan_dir.to_string_lossy())?.write(env)
}
