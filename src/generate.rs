//! The `generate` stage: from a repository checkout and a change, the plan.
//! Shared by the `action-generate` binary and `deployer generate`.

use std::path::PathBuf;

use crate::changes::{parse_labels, parse_path_list, ChangeSet};
use crate::config::load::{load_estate, load_settings};
use crate::config::{Estate, Settings};
use crate::error::Error;
use crate::plan::{plan, Plan, PROD_HUBS_KEY, SUPPORT_AND_STAGING_KEY};
use crate::runner::{Outputs, RunnerEnv};

/// What to plan.
#[derive(Debug, Clone)]
pub struct GenerateRequest {
    /// The repository checkout.
    pub repo: PathBuf,
    /// `deployer.yaml` relative to `repo`; `None` uses `deployer.yaml` when present.
    pub config: Option<PathBuf>,
    pub changes: ChangeSet,
}

/// A plan with the configuration it was made from.
#[derive(Debug, Clone)]
pub struct Generated {
    pub settings: Settings,
    pub estate: Estate,
    pub plan: Plan,
}

/// Loads and validates the repository's configuration, then plans the change.
pub fn generate(request: &GenerateRequest) -> Result<Generated, Error> {
    let settings = load_settings(&request.repo, request.config.as_deref())?;
    let estate = load_estate(&request.repo, &settings)?;
    let plan = plan(&estate, &settings, &request.changes);
    Ok(Generated { settings, estate, plan })
}

/// Input names of `actions/generate`.
pub mod inputs {
    pub const CHANGED_FILES: &str = "changed-files";
    pub const LABELS: &str = "labels";
    pub const CONFIG: &str = "config";
    pub const PLAN_DIR: &str = "plan-dir";
    /// Every input the action reads.
    pub const ALL: &[&str] = &[CHANGED_FILES, LABELS, CONFIG, PLAN_DIR];
}

/// Output names of `actions/generate`.
pub mod outputs {
    pub const SUPPORT_AND_STAGING: &str = super::SUPPORT_AND_STAGING_KEY;
    pub const PROD_HUBS: &str = super::PROD_HUBS_KEY;
    pub const HAS_JOBS: &str = "has-jobs";
    pub const PLAN_DIR: &str = "plan-dir";
    /// Every output the action writes.
    pub const ALL: &[&str] = &[SUPPORT_AND_STAGING, PROD_HUBS, HAS_JOBS, PLAN_DIR];
}

/// The plan folder when `plan-dir` is not given.
pub const DEFAULT_PLAN_DIR: &str = "deployment-plan";

/// The inputs of `actions/generate`, parsed.
#[derive(Debug, Clone)]
pub struct GenerateInputs {
    pub changes: ChangeSet,
    pub config: Option<PathBuf>,
    /// Relative to the workspace.
    pub plan_dir: PathBuf,
}

impl GenerateInputs {
    /// Reads and checks the action's inputs.
    pub fn from_env(env: &RunnerEnv) -> Result<Self, Error> {
        let changed = env.input(inputs::CHANGED_FILES).ok_or_else(|| {
            Error::input(
                inputs::CHANGED_FILES,
                "is required: pass the changed paths, comma- or newline-separated or as a JSON array",
            )
        })?;
        let paths = parse_path_list(inputs::CHANGED_FILES, changed)?;
        let labels = parse_labels(inputs::LABELS, env.input(inputs::LABELS).unwrap_or("[]"))?;
        let plan_dir = PathBuf::from(env.input(inputs::PLAN_DIR).unwrap_or(DEFAULT_PLAN_DIR));
        Ok(GenerateInputs {
            changes: ChangeSet::new(paths, labels),
            config: env.input(inputs::CONFIG).map(PathBuf::from),
            plan_dir,
        })
    }
}

/// The step outputs for a plan.
pub fn action_outputs(plan: &Plan, plan_dir: &str) -> Result<Outputs, Error> {
    let mut out = Outputs::default();
    out.set(outputs::SUPPORT_AND_STAGING, compact_json(&plan.support_and_staging)?);
    out.set(outputs::PROD_HUBS, compact_json(&plan.prod_hubs)?);
    out.set(outputs::HAS_JOBS, if plan.is_empty() { "false" } else { "true" });
    out.set(outputs::PLAN_DIR, plan_dir);
    Ok(out)
}

fn compact_json<T: serde::Serialize>(value: &T) -> Result<String, Error> {
    serde_json::to_string(value).map_err(|e| Error::Runner(format!("cannot serialise a matrix: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_from_env() {
        let env = RunnerEnv::from_vars([
            ("INPUT_CHANGED-FILES", "./a.yaml\nb.yaml"),
            ("INPUT_LABELS", "[\"x\"]"),
            ("INPUT_PLAN-DIR", "out/plan"),
        ]);
        let parsed = GenerateInputs::from_env(&env).unwrap();
        assert_eq!(parsed.changes.paths, ["a.yaml", "b.yaml"]);
        assert_eq!(parsed.changes.labels, ["x"]);
        assert_eq!(parsed.plan_dir, PathBuf::from("out/plan"));
        assert_eq!(parsed.config, None);
    }

    #[test]
    fn missing_or_bad_inputs_name_the_input() {
        let cases = [
            (vec![], "invalid input `changed-files`: is required"),
            (vec![("INPUT_CHANGED-FILES", "a"), ("INPUT_LABELS", "nope")], "invalid input `labels`:"),
            (vec![("INPUT_CHANGED-FILES", "[\"a\", 1]")], "invalid input `changed-files`:"),
        ];
        for (vars, expected) in cases {
            let error = GenerateInputs::from_env(&RunnerEnv::from_vars(vars)).unwrap_err().to_string();
            assert!(error.starts_with(expected), "{error}");
        }
    }
}
