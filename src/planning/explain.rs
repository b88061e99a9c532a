//! `deployer explain`: for each path, what it would upgrade on its own and why.

use crate::config::charts::ChartInputs;
use crate::config::globs::Decision;
use crate::config::rollout::Pins;
use crate::config::{Estate, Settings};
use crate::planning::changes::ChangeSet;
use crate::planning::cluster_edits::ClusterEdit;
use crate::planning::pin_edits::PinEdits;
use crate::planning::plan::{plan_with_pins, rolled_chart_input, Plan};

/// What one changed path does.
#[derive(Debug, Clone)]
pub struct Explanation {
    /// The normalised path.
    pub path: String,
    /// `redeploy_all_hubs` patterns it matches (none when chart inputs alone decide the path).
    pub all_hubs_patterns: Vec<String>,
    /// `redeploy_all_support` patterns it matches (none when chart inputs alone decide the path).
    pub all_support_patterns: Vec<String>,
    /// `(list, included by, excluded by)` for each of `redeploy_all_hubs` and `redeploy_all_support`
    /// whose `!` exclude takes the path out after a pattern matched it.
    pub excluded: Vec<(&'static str, String, String)>,
    /// True under `impact: chart-dependencies` for a path in the charts folder: the patterns are not matched.
    pub left_to_chart_inputs: bool,
    /// True with `rollout` for an input of a rolled chart: the patterns are not matched, the waves decide.
    pub left_to_waves: bool,
    /// The charts whose inputs hold the path, by name, with the chain from the chart to the folder holding it.
    pub chart_chains: Vec<(String, String)>,
    /// The plan for this path alone.
    pub plan: Plan,
    /// Set for a file in a cluster's folder that no `cluster.yaml` lists and that upgrades nothing.
    pub unlisted: Option<Unlisted>,
    /// For the rollout state file: each later wave's pin per rolled chart, and the hubs (`cluster/hub`) an
    /// edit moving that pin upgrades.
    pub state_file_pins: Vec<PinScope>,
}

/// What moving one pin of the rollout state file upgrades.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PinScope {
    pub chart: String,
    pub wave: String,
    /// The pin's short sha, when the state file was read.
    pub short_commit: Option<String>,
    /// `cluster/hub`, in plan order (staging hubs of the wave included).
    pub hubs: Vec<String>,
}

/// For the rollout state file: per rolled chart and later wave, the hubs an edit moving its pin upgrades
/// (the plan of that one pin moved).
fn pin_scopes(estate: &Estate, charts: &ChartInputs, settings: &Settings, pins: Option<&Pins>) -> Vec<PinScope> {
    let Some(rollout) = &settings.rollout else { return Vec::new() };
    let nothing = ChangeSet::new(Vec::<String>::new(), Vec::<String>::new());
    let edits: std::collections::BTreeMap<String, ClusterEdit> = std::collections::BTreeMap::new();
    let mut scopes = Vec::new();
    for chart in &rollout.charts {
        for wave in rollout.waves.iter().skip(1) {
            let Some(pin) = pins.and_then(|pins| pins.get(chart, &wave.name)) else {
                scopes.push(PinScope {
                    chart: chart.clone(),
                    wave: wave.name.clone(),
                    short_commit: None,
                    hubs: Vec::new(),
                });
                continue;
            };
            let moved = PinEdits::Moved([(chart.clone(), wave.name.clone())].into_iter().collect());
            let plan = plan_with_pins(estate, charts, settings, &nothing, &edits, pins, &moved);
            let mut hubs: Vec<String> = Vec::new();
            for job in plan.support_and_staging.iter().filter(|job| job.upgrade_staging) {
                hubs.extend(job.staging_hubs.iter().map(|hub| format!("{}/{hub}", job.cluster_name)));
            }
            hubs.extend(plan.prod_hubs.iter().map(|job| format!("{}/{}", job.cluster_name, job.hub_name)));
            scopes.push(PinScope {
                chart: chart.clone(),
                wave: wave.name.clone(),
                short_commit: Some(pin.short().to_owned()),
                hubs,
            });
        }
    }
    scopes
}

/// A file in a cluster's folder that no cluster lists: likely a typo on one side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unlisted {
    /// The cluster whose folder holds the file.
    pub cluster: String,
    /// The listed file name this one most likely misspells.
    pub did_you_mean: Option<String>,
    /// The file names in that folder that the cluster lists, in listed order.
    pub listed: Vec<String>,
}

/// When `path` lies in a cluster's folder, is not its `cluster.yaml`, and no
/// cluster lists it as a values file: which cluster, and what it lists there.
fn unlisted(estate: &Estate, path: &str) -> Option<Unlisted> {
    let cluster =
        estate.clusters.iter().find(|c| path.strip_prefix(c.dir.as_str()).is_some_and(|rest| rest.starts_with('/')))?;
    if path == cluster.file {
        return None;
    }
    let listed_anywhere = estate.clusters.iter().flat_map(listed_files).any(|file| file == path);
    if listed_anywhere {
        return None;
    }
    let mut listed: Vec<String> = Vec::new();
    for file in listed_files(cluster) {
        let in_folder = file.strip_prefix(cluster.dir.as_str()).and_then(|rest| rest.strip_prefix('/'));
        if let Some(name) = in_folder.filter(|name| !listed.iter().any(|l| l == name)) {
            listed.push(name.to_owned());
        }
    }
    let name = path.strip_prefix(cluster.dir.as_str()).and_then(|rest| rest.strip_prefix('/')).unwrap_or(path);
    let did_you_mean = crate::config::suggest::did_you_mean(name, listed.iter().map(String::as_str)).map(str::to_owned);
    Some(Unlisted { cluster: cluster.name.clone(), did_you_mean, listed })
}

/// Every values file a cluster lists (support first, then hubs in order).
fn listed_files(cluster: &crate::config::Cluster) -> impl Iterator<Item = &str> {
    let support = cluster.support.iter().flat_map(|s| s.values_files.iter());
    let hubs = cluster.hubs.iter().flat_map(|h| h.values_files.iter());
    support.chain(hubs).map(|v| v.path.as_str())
}

/// Explains each path on its own (labels are not considered), with the rollout state file's pins when
/// `rollout` is configured.
pub fn explain(
    estate: &Estate,
    charts: &ChartInputs,
    settings: &Settings,
    pins: Option<&Pins>,
    paths: &[String],
) -> Vec<Explanation> {
    let edits: std::collections::BTreeMap<String, ClusterEdit> = std::collections::BTreeMap::new();
    let state_file = settings.rollout.as_ref().map(|rollout| crate::base::repo_path::normalize(&rollout.state_file));
    ChangeSet::new(paths, Vec::<String>::new())
        .paths
        .into_iter()
        .map(|path| {
            let alone = ChangeSet::new([path.as_str()], Vec::<String>::new());
            let left_to_chart_inputs = settings.leaves_path_to_chart_inputs(&path);
            let left_to_waves = !left_to_chart_inputs && rolled_chart_input(settings, charts, &path);
            let matching = |patterns: &crate::config::globs::Patterns| -> Vec<String> {
                if left_to_chart_inputs || left_to_waves {
                    Vec::new()
                } else {
                    patterns.matching(&path).into_iter().map(str::to_owned).collect()
                }
            };
            let mut excluded = Vec::new();
            if !left_to_chart_inputs && !left_to_waves {
                for (list, patterns) in [
                    ("redeploy_all_hubs", &settings.redeploy_all_hubs),
                    ("redeploy_all_support", &settings.redeploy_all_support),
                ] {
                    if let Decision::Excluded { included_by, excluded_by } = patterns.decide(&path) {
                        excluded.push((list, included_by.to_owned(), excluded_by.to_owned()));
                    }
                }
            }
            Explanation {
                excluded,
                all_hubs_patterns: matching(&settings.redeploy_all_hubs),
                all_support_patterns: matching(&settings.redeploy_all_support),
                left_to_chart_inputs,
                left_to_waves,
                chart_chains: charts
                    .dependents(&path)
                    .into_iter()
                    .map(|(chart, input)| (chart.to_owned(), input.chain_text()))
                    .collect(),
                plan: plan_with_pins(estate, charts, settings, &alone, &edits, pins, &PinEdits::Unchanged),
                unlisted: None,
                state_file_pins: if state_file.as_deref() == Some(path.as_str()) {
                    pin_scopes(estate, charts, settings, pins)
                } else {
                    Vec::new()
                },
                path,
            }
        })
        .map(|mut explanation: Explanation| {
            if explanation.plan.is_empty() {
                explanation.unlisted = unlisted(estate, &explanation.path);
            }
            explanation
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
        for (list, included_by, excluded_by) in &explanation.excluded {
            out.push_str(&format!(
                "  matches {list} pattern `{included_by}`, then its exclude `{excluded_by}`: not matched\n"
            ));
        }
        if explanation.left_to_chart_inputs {
            out.push_str("  impact: chart-dependencies: redeploy_all_hubs and redeploy_all_support do not apply in helm-charts/; \
             only the charts whose inputs hold this path are upgraded\n");
        }
        if explanation.left_to_waves {
            out.push_str(
                "  rollout: an input of a rolled chart: redeploy_all_hubs and redeploy_all_support do not apply; \
                 the first wave's hubs of the chart are upgraded, the later waves keep their pins\n",
            );
        }
        for (chart, chain) in &explanation.chart_chains {
            if chain == chart {
                out.push_str(&format!("  input of Helm chart {chart}\n"));
            } else {
                out.push_str(&format!("  input of Helm chart {chart}: {chain}\n"));
            }
        }
        let plan = &explanation.plan;
        if !explanation.state_file_pins.is_empty() {
            out.push_str(
                "  rollout state file: an edit upgrades the hubs of each wave whose pin it moves (generate compares \
                 it with the previous version; without one, every later wave)\n",
            );
            for scope in &explanation.state_file_pins {
                let pin = scope.short_commit.as_deref().unwrap_or("no pin");
                let hubs = if scope.hubs.is_empty() { "no hub".to_owned() } else { scope.hubs.join(", ") };
                out.push_str(&format!(
                    "  pin of {} for the wave {} ({pin}): moving it upgrades {hubs}\n",
                    scope.chart, scope.wave
                ));
            }
        } else if plan.support_and_staging.is_empty() && plan.prod_hubs.is_empty() {
            out.push_str("  upgrades nothing\n");
        }
        if let Some(unlisted) = &explanation.unlisted {
            out.push_str(&format!(
                "  no cluster.yaml lists this file, though it is in the folder of cluster {}\n",
                unlisted.cluster
            ));
            if let Some(name) = &unlisted.did_you_mean {
                out.push_str(&format!("  did you mean {name}? (a listed file of that folder)\n"));
            }
            if unlisted.listed.is_empty() {
                out.push_str("  that cluster lists no file of its folder\n");
            } else {
                out.push_str(&format!(
                    "  files of that folder that {} lists: {}\n",
                    unlisted.cluster,
                    unlisted.listed.join(", ")
                ));
            }
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
                for (hub, rollout) in &job.staging_rollout {
                    out.push_str(&format!("    {}/{hub}: {}\n", job.cluster_name, rollout.describe()));
                }
            }
        }
        for job in &plan.prod_hubs {
            out.push_str(&format!("  prod hub {}/{}: {}", job.cluster_name, job.hub_name, job.reason_for_redeploy));
            if let Some(rollout) = &job.rollout {
                out.push_str(&format!(" ({})", rollout.describe()));
            }
            out.push('\n');
        }
        // Health checks (the `health_checks` rules), one line per cluster: its hubs, staging first.
        let mut checks: Vec<(&str, Vec<&str>, &str)> = Vec::new();
        for job in plan.staging_checks.iter().chain(&plan.prod_checks) {
            match checks.iter_mut().find(|(cluster, _, _)| *cluster == job.cluster_name) {
                Some((_, hubs, _)) => hubs.push(&job.hub_name),
                None => checks.push((&job.cluster_name, vec![&job.hub_name], &job.reason_for_health_check)),
            }
        }
        checks.sort_by(|a, b| a.0.cmp(b.0));
        for (cluster, hubs, reason) in checks {
            out.push_str(&format!("  health check of {cluster}/{{{}}}: {reason}\n", hubs.join(",")));
        }
        for warning in &plan.warnings {
            out.push_str(&format!("  warning: {warning}\n"));
        }
    }
    out
}
