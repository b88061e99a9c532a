//! `deployer explain`: for each path, what it would upgrade on its own and why.

use crate::changes::ChangeSet;
use crate::config::{Estate, Settings};
use crate::plan::{plan, Plan};

/// What one changed path does.
#[derive(Debug, Clone)]
pub struct Explanation {
    /// The normalised path.
    pub path: String,
    /// `redeploy_all_hubs` patterns it matches.
    pub all_hubs_patterns: Vec<String>,
    /// `redeploy_all_support` patterns it matches.
    pub all_support_patterns: Vec<String>,
    /// The plan for this path alone.
    pub plan: Plan,
}

/// Explains each path on its own (labels are not considered).
pub fn explain(estate: &Estate, settings: &Settings, paths: &[String]) -> Vec<Explanation> {
    ChangeSet::new(paths, Vec::<String>::new())
        .paths
        .into_iter()
        .map(|path| {
            let alone = ChangeSet::new([path.as_str()], Vec::<String>::new());
            Explanation {
                all_hubs_patterns: settings.redeploy_all_hubs.matching(&path).into_iter().map(str::to_owned).collect(),
                all_support_patterns: settings
                    .redeploy_all_support
                    .matching(&path)
                    .into_iter()
                    .map(str::to_owned)
                    .collect(),
                plan: plan(estate, settings, &alone),
                path,
            }
        })
        .collect()
}

/// Readable text of the explanations.
pub fn render(explanations: &[Explanation]) -> String {
    let mut out = String::new();
    for explanation in explanations {
        out.push_str(&explanation.path);
        out.push('\n');
        for pattern in &explanation.all_hubs_patterns {
            out.push_str(&format!("  matches redeploy_all_hubs pattern `{pattern}`: every hub is upgraded\n"));
        }
        for pattern in &explanation.all_support_patterns {
            out.push_str(&format!(
                "  matches redeploy_all_support pattern `{pattern}`: every support chart is upgraded\n"
            ));
        }
        let plan = &explanation.plan;
        if plan.is_empty() {
            out.push_str("  upgrades nothing\n");
        }
        for job in &plan.support_and_staging {
            if job.upgrade_support {
                out.push_str(&format!(
                    "  support chart of {}: {}\n",
                    job.cluster_name, job.reason_for_support_redeploy
                ));
            }
            if job.upgrade_staging {
                out.push_str(&format!(
                    "  staging hubs {}/{{{}}}: {}\n",
                    job.cluster_name,
                    job.staging_hubs.join(","),
                    job.reason_for_staging_redeploy
                ));
            }
        }
        for job in &plan.prod_hubs {
            out.push_str(&format!("  prod hub {}/{}: {}\n", job.cluster_name, job.hub_name, job.reason_for_redeploy));
        }
        for warning in &plan.warnings {
            out.push_str(&format!("  warning: {warning}\n"));
        }
    }
    out
}
