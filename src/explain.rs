//! `deployer explain`: for each path, what it would upgrade on its own and why.

use crate::changes::ChangeSet;
use crate::config::charts::ChartInputs;
use crate::config::{Estate, Settings};
use crate::plan::{plan, Plan};

/// What one changed path does.
#[derive(Debug, Clone)]
pub struct Explanation {
    /// The normalised path.
    pub path: String,
    /// `redeploy_all_hubs` patterns it matches (none when chart inputs alone decide the path).
    pub all_hubs_patterns: Vec<String>,
    /// `redeploy_all_support` patterns it matches (none when chart inputs alone decide the path).
    pub all_support_patterns: Vec<String>,
    /// True under `impact: chart-dependencies` for a path in the charts folder: the patterns are not matched.
    pub left_to_chart_inputs: bool,
    /// The charts whose inputs hold the path, by name, with the chain from the chart to the folder holding it.
    pub chart_chains: Vec<(String, String)>,
    /// The plan for this path alone.
    pub plan: Plan,
}

/// Explains each path on its own (labels are not considered).
pub fn explain(estate: &Estate, charts: &ChartInputs, settings: &Settings, paths: &[String]) -> Vec<Explanation> {
    ChangeSet::new(paths, Vec::<String>::new())
        .paths
        .into_iter()
        .map(|path| {
            let alone = ChangeSet::new([path.as_str()], Vec::<String>::new());
            let left_to_chart_inputs = settings.leaves_path_to_chart_inputs(&path);
            let matching = |patterns: &crate::config::settings::Patterns| -> Vec<String> {
                if left_to_chart_inputs {
                    Vec::new()
                } else {
                    patterns.matching(&path).into_iter().map(str::to_owned).collect()
                }
            };
            Explanation {
                all_hubs_patterns: matching(&settings.redeploy_all_hubs),
                all_support_patterns: matching(&settings.redeploy_all_support),
                left_to_chart_inputs,
                chart_chains: charts
                    .dependents(&path)
                    .into_iter()
                    .map(|(chart, input)| (chart.to_owned(), input.chain_text()))
                    .collect(),
                plan: plan(estate, charts, settings, &alone),
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
        if explanation.left_to_chart_inputs {
            out.push_str("  impact: chart-dependencies: redeploy_all_hubs and redeploy_all_support do not apply in helm-charts/; \
             only the charts whose inputs hold this path are upgraded\n");
        }
        for (chart, chain) in &explanation.chart_chains {
            if chain == chart {
                out.push_str(&format!("  input of Helm chart {chart}\n"));
            } else {
                out.push_str(&format!("  input of Helm chart {chart}: {chain}\n"));
            }
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
