//! The decision rules: which support charts, staging hubs and prod hubs a
//! change upgrades, and why. Pure: values in, values out.

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::config::charts::{ChartInputs, SUPPORT_CHART};
use crate::config::labels::Label;
use crate::config::rollout::{JobRollout, Pins, Rollout};
use crate::config::suggest::nearest;
use crate::config::{Cluster, Estate, Hub, Provider, Settings, ValuesFile};
use crate::planning::changes::ChangeSet;
use crate::planning::cluster_edits::{ClusterEdit, Part, CLUSTER_FILE_REASON};
use crate::planning::pin_edits::PinEdits;

/// GitHub Actions' limit on jobs per matrix.
pub const MAX_MATRIX_JOBS: usize = 256;

/// Output and file key of the support-and-staging matrix.
pub const SUPPORT_AND_STAGING_KEY: &str = "support-and-staging-matrix-jobs";
/// Output and file key of the prod-hub matrix.
pub const PROD_HUBS_KEY: &str = "prod-hub-matrix-jobs";
/// Output and file key of every planned health check: staging hubs first, then prod hubs.
pub const HEALTH_CHECKS_KEY: &str = "health-check-matrix-jobs";
/// Output key of the staging health checks, one leg per cluster (the canaries).
pub const HEALTH_CHECK_STAGING_KEY: &str = "health-check-staging-matrix-jobs";
/// Output key of the prod health checks, one leg per hub.
pub const HEALTH_CHECK_PROD_KEY: &str = "health-check-prod-matrix-jobs";

/// One leg of the support-and-staging matrix: one cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SupportAndStagingJob {
    pub cluster_name: String,
    pub provider: Provider,
    pub upgrade_support: bool,
    pub reason_for_support_redeploy: String,
    pub upgrade_staging: bool,
    pub reason_for_staging_redeploy: String,
    pub staging_hubs: Vec<String>,
    /// With `rollout`: the wave and chart commit of each staging hub whose chart rolls out in waves.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub staging_rollout: BTreeMap<String, JobRollout>,
}

/// One leg of the prod-hub matrix: one hub.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProdHubJob {
    pub cluster_name: String,
    pub provider: Provider,
    pub hub_name: String,
    pub reason_for_redeploy: String,
    /// With `rollout`, when the hub's chart rolls out in waves: its wave and chart commit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout: Option<JobRollout>,
}

/// One hub to health-check without an upgrade, because infrastructure it runs on changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HealthCheckJob {
    pub cluster_name: String,
    pub provider: Provider,
    pub hub_name: String,
    pub reason_for_health_check: String,
}

/// A hub that a `cluster.yaml` edit removed. Nothing uninstalls it: the plan only notes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RemovedHub {
    pub cluster_name: String,
    pub hub_name: String,
}

/// A cluster where `charts.<chart>.before` steps of `deployer.yaml` run before the planned
/// releases of these charts (once per cluster per leg). Steps with a provider condition the
/// cluster fails are left out; values-key conditions are decided at deploy time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BeforeStepsNote {
    pub cluster_name: String,
    pub charts: Vec<String>,
}

/// What each changed cluster file's edit touched, by repository-relative
/// file path. A changed file missing here was not compared (no previous
/// version was looked up): it touches the whole cluster, as it always did.
pub type ClusterEdits = BTreeMap<String, ClusterEdit>;

/// Something the plan's reader should know that does not stop it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanWarning {
    /// A cluster's prod hubs deploy with no staging hub to try the change first.
    NoCanary { cluster_name: String, cluster_file: String, prod_hubs: Vec<String> },
    /// A label that looks like one of the deployer's but is none of them, so it does nothing.
    UnknownLabel { label: String, nearest: String },
    /// A changed `cluster.yaml` whose edit changed only keys no release reads: it plans nothing (a notice).
    UnreadKeysOnly { cluster_name: String, cluster_file: String, keys: Vec<String> },
    /// With `rollout`: a rolled chart's change goes to the first wave only; the later waves keep their pins
    /// (a notice). Each later wave with the short sha of its pin, when the pins are known.
    RolloutPinned { chart: String, first_wave: String, kept: Vec<(String, Option<String>)> },
    /// With `rollout`: the `rollout-all` label sends rolled charts' changes to every wave at once.
    RolloutAll { label: String, charts: Vec<String>, skipped_waves: Vec<String> },
}

impl std::fmt::Display for PlanWarning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PlanWarning::NoCanary { cluster_name, prod_hubs, .. } => write!(
                f,
                "cluster {cluster_name} has no staging hub, so its prod hubs ({}) deploy without a canary",
                prod_hubs.join(", ")
            ),
            PlanWarning::UnknownLabel { label, nearest } => {
                write!(f, "unknown label `{}`; did you mean `{nearest}`?", capped(label, MAX_LABEL_SHOWN))
            }
            PlanWarning::UnreadKeysOnly { cluster_name, keys, .. } => write!(
                f,
                "the cluster.yaml of {cluster_name} changed only keys no release reads ({}), so its edit plans nothing",
                keys.join(", ")
            ),
            PlanWarning::RolloutPinned { chart, first_wave, kept } => {
                let kept: Vec<String> = kept
                    .iter()
                    .map(|(wave, short)| match short {
                        Some(short) => format!("{wave} keeps {short}"),
                        None => format!("{wave} keeps its pin"),
                    })
                    .collect();
                write!(
                    f,
                    "rollout: the change of the chart {chart} goes to the wave {first_wave} only; {}",
                    kept.join(", ")
                )
            }
            PlanWarning::RolloutAll { label, charts, skipped_waves } => write!(
                f,
                "ROLLOUT SKIPPED: the label {label} sends the change of {} to EVERY wave at once, past the pins of \
                 the waves {}",
                charts.join(", "),
                skipped_waves.join(", ")
            ),
        }
    }
}

/// Labels starting with this (in any case) are meant for the deployer.
pub const LABEL_PREFIX: &str = "deployer:";

/// Characters of an unknown label a warning shows at most.
const MAX_LABEL_SHOWN: usize = 60;

fn capped(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_owned()
    } else {
        format!("{}…", text.chars().take(max).collect::<String>())
    }
}

/// The labels that start with [`LABEL_PREFIX`] but are none of the
/// deployer's: each once, with the nearest label the deployer knows.
fn unknown_labels(changes: &ChangeSet, labels: &crate::config::labels::Labels) -> Vec<PlanWarning> {
    let known: Vec<&str> = labels.all().map(|(_, name)| name).collect();
    let mut warned: HashSet<&str> = HashSet::new();
    let mut warnings = Vec::new();
    for label in &changes.labels {
        let looks_like_ours =
            label.get(..LABEL_PREFIX.len()).is_some_and(|head| head.eq_ignore_ascii_case(LABEL_PREFIX));
        if !looks_like_ours || known.contains(&label.as_str()) || !warned.insert(label) {
            continue;
        }
        if let Some(nearest) = nearest(label, known.iter().copied()) {
            warnings.push(PlanWarning::UnknownLabel { label: label.clone(), nearest: nearest.to_owned() });
        }
    }
    warnings
}

/// The two matrices, and warnings about them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Sorted by cluster name.
    pub support_and_staging: Vec<SupportAndStagingJob>,
    /// Sorted by cluster name, then `cluster.yaml` order.
    pub prod_hubs: Vec<ProdHubJob>,
    pub warnings: Vec<PlanWarning>,
    /// Hubs that `cluster.yaml` edits removed, sorted by cluster name, then previous order.
    pub removed_hubs: Vec<RemovedHub>,
    /// Staging hubs to health-check (the canaries), sorted by cluster name, then `cluster.yaml` order.
    pub staging_checks: Vec<HealthCheckJob>,
    /// Prod hubs to health-check, in the same order.
    pub prod_checks: Vec<HealthCheckJob>,
    /// Clusters where `before` steps run ahead of planned releases, sorted by cluster name.
    pub before_steps: Vec<BeforeStepsNote>,
}

impl Plan {
    /// True when nothing is to be upgraded or health-checked.
    pub fn is_empty(&self) -> bool {
        self.support_and_staging.is_empty()
            && self.prod_hubs.is_empty()
            && self.staging_checks.is_empty()
            && self.prod_checks.is_empty()
    }

    /// Every health check, staging hubs first: the `health-check-matrix-jobs` output.
    pub fn health_checks(&self) -> Vec<HealthCheckJob> {
        self.staging_checks.iter().chain(&self.prod_checks).cloned().collect()
    }
}

/// Reason prefix for hubs upgraded because of their own values files.
pub const VALUES_FILES_REASON: &str = "Following helm chart values files were modified: ";
/// What a hub's reason calls its `chart_override` file (followed by ` was modified: <file>`).
pub const CHART_OVERRIDE_REASON: &str = "Chart override";
/// What a hub's reason calls its `domain_override_file` (followed by ` was modified: <file>`).
pub const DOMAIN_OVERRIDE_REASON: &str = "Domain override file";
/// Reason prefix for staging hubs upgraded because prod hubs of their cluster are.
pub const PROD_HUBS_REASON: &str = "Following prod hubs require redeploy: ";
/// Reason for hubs when a "redeploy all hubs" pattern matched.
pub const CORE_REASON: &str = "Core infrastructure has been modified";
/// Reason for support charts when a "redeploy all support" pattern matched.
pub const SUPPORT_CHART_REASON: &str = "Support helm chart has been modified";

/// Why everything of one kind is upgraded, if it is: the label, then a forced
/// plan, then a matching pattern.
fn global_reason(changes: &ChangeSet, label: &str, patterns_match: bool, pattern_reason: &str) -> Option<String> {
    if changes.has_label(label) {
        Some(format!("{label} label detected"))
    } else if let Some(reason) = &changes.force_all {
        Some(reason.clone())
    } else if patterns_match {
        Some(pattern_reason.to_owned())
    } else {
        None
    }
}

/// Plans the upgrades a change needs, every changed `cluster.yaml` touching its whole cluster. `charts` holds
/// each used chart's inputs (its folder and its `file://` dependencies); a change in them upgrades the chart's
/// hubs and support charts.
pub fn plan(estate: &Estate, charts: &ChartInputs, settings: &Settings, changes: &ChangeSet) -> Plan {
    plan_with_edits(estate, charts, settings, changes, &ClusterEdits::new())
}

/// [`plan`], a changed `cluster.yaml` with an entry in `edits` touching only what its edit touched.
pub fn plan_with_edits(
    estate: &Estate,
    charts: &ChartInputs,
    settings: &Settings,
    changes: &ChangeSet,
    edits: &ClusterEdits,
) -> Plan {
    plan_with_pins(estate, charts, settings, changes, edits, None, &PinEdits::Unchanged)
}

/// [`plan_with_edits`], with the rollout state file's pins (named in the plan's notes) when `rollout` is
/// configured, and what an edit of the state file moved (`pin_edits`: the hubs of those waves are upgraded).
/// Jobs of hubs whose chart rolls out carry their wave and chart commit. Without `rollout`, the same plan as
/// [`plan_with_edits`].
pub fn plan_with_pins(
    estate: &Estate,
    charts: &ChartInputs,
    settings: &Settings,
    changes: &ChangeSet,
    edits: &ClusterEdits,
    pins: Option<&Pins>,
    pin_edits: &PinEdits,
) -> Plan {
    let removed_hubs = removed_hubs(estate, changes, edits);
    let labels = &settings.labels;
    let label_warnings = unknown_labels(changes, labels);
    if changes.has_label(labels.name(Label::SkipDeploy)) {
        return Plan { removed_hubs, warnings: label_warnings, ..Plan::default() };
    }
    // Under `impact: chart-dependencies`, chart folders are left to the chart-input rule; with `rollout`,
    // so are the inputs of rolled charts (their waves decide).
    let pattern_paths = || {
        changes
            .paths
            .iter()
            .filter(|p| !settings.leaves_path_to_chart_inputs(p) && !rolled_chart_input(settings, charts, p))
    };
    let all_hubs = global_reason(
        changes,
        labels.name(Label::DeployHubs),
        pattern_paths().any(|p| settings.redeploy_all_hubs.is_match(p)),
        CORE_REASON,
    );
    let all_support = global_reason(
        changes,
        labels.name(Label::DeploySupport),
        pattern_paths().any(|p| settings.redeploy_all_support.is_match(p)),
        SUPPORT_CHART_REASON,
    );
    let skip_hubs = changes.has_label(labels.name(Label::SkipDeployHubs));
    let changed: HashSet<&str> = changes.paths.iter().map(String::as_str).collect();
    let modified_charts = charts.modified_charts(&changes.paths);
    let rollout_all = changes.has_label(labels.name(Label::RolloutAll));

    let mut plan = Plan { removed_hubs, warnings: label_warnings, ..Plan::default() };
    if let Some(rollout) = &settings.rollout {
        if !skip_hubs {
            plan.warnings.extend(rollout_notes(rollout, &modified_charts, rollout_all, labels, pins));
        }
    }
    for cluster in estate.clusters.iter().filter(|cluster| changed.contains(cluster.file.as_str())) {
        if let Some(keys) = edits.get(&cluster.file).and_then(ClusterEdit::only_unread_keys) {
            plan.warnings.push(PlanWarning::UnreadKeysOnly {
                cluster_name: cluster.name.clone(),
                cluster_file: cluster.file.clone(),
                keys: keys.to_vec(),
            });
        }
    }
    plan_health_checks(estate, settings, changes, &mut plan);
    for cluster in &estate.clusters {
        let decide = ClusterDecision {
            cluster,
            changed: &changed,
            modified_charts: &modified_charts,
            charts,
            edit: edits.get(&cluster.file),
            rollout: settings.rollout.as_ref().filter(|_| !rollout_all),
            waves: settings.rollout.as_ref().map(|rollout| Waves { rollout, pins, pin_edits, rollout_all }),
        };
        plan_cluster(&decide, settings, all_hubs.as_deref(), all_support.as_deref(), skip_hubs, &mut plan);
    }
    plan.before_steps = before_step_notes(estate, settings, &plan);
    plan
}

/// The charts of each cluster's planned releases that have `before` steps which may run there.
fn before_step_notes(estate: &Estate, settings: &Settings, plan: &Plan) -> Vec<BeforeStepsNote> {
    let mut notes = Vec::new();
    for cluster in &estate.clusters {
        let chart_of = |hub: &str| cluster.hubs.iter().find(|h| h.name == hub).map(|h| h.helm_chart.as_str());
        let mut charts: Vec<&str> = Vec::new();
        for job in plan.support_and_staging.iter().filter(|job| job.cluster_name == cluster.name) {
            if job.upgrade_support {
                charts.push(SUPPORT_CHART);
            }
            charts.extend(job.staging_hubs.iter().filter_map(|hub| chart_of(hub)));
        }
        for job in plan.prod_hubs.iter().filter(|job| job.cluster_name == cluster.name) {
            charts.extend(chart_of(&job.hub_name));
        }
        let mut with_steps: Vec<String> = Vec::new();
        for chart in charts {
            let may_run =
                settings.before.of(chart).iter().any(|step| {
                    step.when.providers.as_ref().is_none_or(|providers| providers.contains(&cluster.provider))
                });
            if may_run && !with_steps.iter().any(|c| c == chart) {
                with_steps.push(chart.to_owned());
            }
        }
        if !with_steps.is_empty() {
            notes.push(BeforeStepsNote { cluster_name: cluster.name.clone(), charts: with_steps });
        }
    }
    notes
}

/// The hubs removed by the edits of changed cluster files, in cluster order.
fn removed_hubs(estate: &Estate, changes: &ChangeSet, edits: &ClusterEdits) -> Vec<RemovedHub> {
    let changed = |file: &str| changes.paths.iter().any(|path| path == file);
    let mut removed = Vec::new();
    for cluster in estate.clusters.iter().filter(|cluster| changed(&cluster.file)) {
        let Some(edit) = edits.get(&cluster.file) else { continue };
        removed.extend(
            edit.removed_hubs()
                .iter()
                .map(|hub| RemovedHub { cluster_name: cluster.name.clone(), hub_name: hub.clone() }),
        );
    }
    removed
}

/// Per-cluster view of the change.
struct ClusterDecision<'a> {
    cluster: &'a Cluster,
    changed: &'a HashSet<&'a str>,
    /// Charts whose inputs changed, by name, with the reason.
    modified_charts: &'a BTreeMap<&'a str, String>,
    /// What each `.jsonnet` values file's render reads.
    charts: &'a ChartInputs,
    /// What the edit of the cluster's file touched, when it was compared with its previous version.
    edit: Option<&'a ClusterEdit>,
    /// The waves, when a rolled chart's change goes to the first wave only (`rollout`, no `rollout-all` label).
    rollout: Option<&'a Rollout>,
    /// With `rollout` (whatever the labels): the waves, their pins and what the state file's edit moved.
    waves: Option<Waves<'a>>,
}

/// With `rollout`: the waves, the state file's pins, what its edit moved, and the `rollout-all` label.
#[derive(Clone, Copy)]
struct Waves<'a> {
    rollout: &'a Rollout,
    pins: Option<&'a Pins>,
    pin_edits: &'a PinEdits,
    rollout_all: bool,
}

impl Waves<'_> {
    /// The wave of `hub` and the chart commit it runs (empty: the head), when its chart rolls out.
    fn job_rollout(&self, cluster: &Cluster, hub: &Hub, staging: bool) -> Option<JobRollout> {
        self.rollout.release_rollout(self.pins, cluster, hub, staging, self.rollout_all)
    }

    /// The reason to upgrade `hub` because the state file's edit moved its wave's pin.
    fn pin_reason(&self, cluster: &Cluster, hub: &Hub, staging: bool) -> Option<String> {
        if !self.rollout.rolls(&hub.helm_chart) {
            return None;
        }
        let index = self.rollout.wave_of(cluster, hub, staging);
        let wave = self.rollout.waves.get(index).filter(|_| index > 0)?;
        let pin = self.pins.and_then(|pins| pins.get(&hub.helm_chart, &wave.name));
        self.pin_edits.reason(&hub.helm_chart, &wave.name, pin)
    }
}

impl ClusterDecision<'_> {
    /// The reason to upgrade `part` (with these values files, from this chart), first rule that applies.
    fn reason(
        &self,
        global: Option<&str>,
        part: Part<'_>,
        values_files: &[ValuesFile],
        own_files: &[(&str, &str)],
        chart: Option<&str>,
    ) -> Option<String> {
        if let Some(global) = global {
            return Some(global.to_owned());
        }
        if self.changed.contains(self.cluster.file.as_str()) {
            match self.edit {
                None => return Some(CLUSTER_FILE_REASON.to_owned()),
                Some(edit) => {
                    // An edit that did not touch this part leaves it to its values files.
                    if let Some(reason) = edit.reason(part) {
                        return Some(reason);
                    }
                }
            }
        }
        // Each file once, in the listed order, however often it is listed (`a.yaml`, `./a.yaml`).
        let mut named: Vec<&str> = Vec::new();
        let mut modified: Vec<String> = Vec::new();
        // A `.jsonnet` values file counts as modified when a file its render reads changed; the
        // reason names that file.
        let read_and_changed = |file: &ValuesFile| {
            if !crate::config::jsonnet::is_jsonnet(&file.path) {
                return None;
            }
            self.charts.jsonnet_inputs(&file.path).iter().find(|input| self.changed.contains(input.as_str()))
        };
        for file in values_files {
            let shown = if self.changed.contains(file.path.as_str()) {
                file.basename().to_owned()
            } else if let Some(read) = read_and_changed(file) {
                format!("{} (it reads {read})", file.basename())
            } else {
                continue;
            };
            if !named.contains(&file.path.as_str()) {
                named.push(&file.path);
                modified.push(shown);
            }
        }
        if !modified.is_empty() {
            return Some(format!("{VALUES_FILES_REASON}{}", modified.join(", ")));
        }
        if let Some((what, path)) = own_files.iter().find(|(_, path)| self.changed.contains(path)) {
            return Some(format!("{what} was modified: {}", crate::base::repo_path::basename(path)));
        }
        chart.and_then(|chart| self.modified_charts.get(chart).cloned())
    }

    /// True when a change of the hub's chart does not reach it: its chart rolls out in waves and the
    /// hub is not in the first.
    fn holds_chart_change(&self, hub: &Hub, staging: bool) -> bool {
        self.rollout
            .is_some_and(|rollout| rollout.rolls(&hub.helm_chart) && rollout.wave_of(self.cluster, hub, staging) > 0)
    }
}

/// True when `path` is an input of a chart that rolls out in waves (`rollout.charts`): the "all hubs" and
/// "all support" patterns are not matched against it, its chart's waves decide.
pub fn rolled_chart_input(settings: &Settings, charts: &ChartInputs, path: &str) -> bool {
    settings.rollout.as_ref().is_some_and(|rollout| {
        charts.dependents(path).iter().any(|(chart, _)| rollout.rolls(chart.split(' ').next().unwrap_or(chart)))
    })
}

/// The values files every release of `chart` gets first: `charts.<chart>.values_files`, then the chart's
/// own `values.jsonnet` (see `config::load`).
fn chart_level_values(settings: &Settings, chart: &str) -> Vec<String> {
    let mut files = settings.chart_values(chart).to_vec();
    files.push(crate::config::jsonnet::chart_values_file(&crate::config::charts::chart_folder(chart)));
    files
}

/// The notes of a plan with `rollout`: per rolled chart whose inputs changed, the waves that keep their pin;
/// or, with the `rollout-all` label, one loud warning naming every wave it skips past.
fn rollout_notes(
    rollout: &Rollout,
    modified_charts: &BTreeMap<&str, String>,
    rollout_all: bool,
    labels: &crate::config::labels::Labels,
    pins: Option<&Pins>,
) -> Vec<PlanWarning> {
    let changed: Vec<&String> = rollout
        .charts
        .iter()
        .filter(|chart| {
            modified_charts.keys().any(|key| key.split(' ').next().is_some_and(|name| name == chart.as_str()))
        })
        .collect();
    let (Some(first), later) = (rollout.waves.first(), rollout.waves.get(1..).unwrap_or_default()) else {
        return Vec::new();
    };
    if changed.is_empty() || later.is_empty() {
        return Vec::new();
    }
    if rollout_all {
        return vec![PlanWarning::RolloutAll {
            label: labels.name(Label::RolloutAll).to_owned(),
            charts: changed.iter().map(|chart| (*chart).clone()).collect(),
            skipped_waves: later.iter().map(|wave| wave.name.clone()).collect(),
        }];
    }
    changed
        .into_iter()
        .map(|chart| PlanWarning::RolloutPinned {
            chart: chart.clone(),
            first_wave: first.name.clone(),
            kept: later
                .iter()
                .map(|wave| {
                    let short = pins.and_then(|pins| pins.get(chart, &wave.name)).map(|pin| pin.short().to_owned());
                    (wave.name.clone(), short)
                })
                .collect(),
        })
        .collect()
}

fn plan_cluster(
    decide: &ClusterDecision<'_>,
    settings: &Settings,
    all_hubs: Option<&str>,
    all_support: Option<&str>,
    skip_hubs: bool,
    plan: &mut Plan,
) {
    let cluster = decide.cluster;
    let support_reason = cluster
        .support
        .as_ref()
        .and_then(|support| decide.reason(all_support, Part::Support, &support.values_files, &[], Some(SUPPORT_CHART)));

    let mut staging: Vec<(&str, Option<String>)> = Vec::new();
    let mut prod: Vec<(&str, String)> = Vec::new();
    if !skip_hubs {
        for hub in &cluster.hubs {
            let mut own_files: Vec<(&str, &str)> = Vec::new();
            if let Some(chart_override) = &hub.chart_override {
                own_files.push((CHART_OVERRIDE_REASON, &chart_override.file));
            }
            if let Some(file) = &hub.domain_override_file {
                own_files.push((DOMAIN_OVERRIDE_REASON, file));
            }
            let is_staging = settings.is_staging_hub(&hub.name);
            let chart_key = hub.chart_key();
            let holds_chart_change = decide.holds_chart_change(hub, is_staging);
            let chart = (!holds_chart_change).then_some(chart_key.as_str());
            // A later wave renders its chart-level values files (`charts.<chart>.values_files`, the chart's
            // `values.jsonnet`) at its pin, like the chart: their change at the head is not its change.
            let values_files: Vec<ValuesFile> = if holds_chart_change {
                let chart_level = chart_level_values(settings, &hub.helm_chart);
                hub.values_files.iter().filter(|file| !chart_level.contains(&file.path)).cloned().collect()
            } else {
                hub.values_files.clone()
            };
            let reason = decide
                .reason(all_hubs, Part::Hub(&hub.name), &values_files, &own_files, chart)
                .or_else(|| decide.waves.and_then(|waves| waves.pin_reason(cluster, hub, is_staging)));
            if is_staging {
                staging.push((&hub.name, reason));
            } else if let Some(reason) = reason {
                prod.push((&hub.name, reason));
            }
        }
    }

    // Staging is the canary: any prod upgrade on a cluster upgrades all of its staging hubs.
    if !prod.is_empty() {
        let forced = format!("{PROD_HUBS_REASON}{}", prod.iter().map(|(name, _)| *name).collect::<Vec<_>>().join(", "));
        for (_, reason) in &mut staging {
            reason.get_or_insert_with(|| forced.clone());
        }
        if staging.is_empty() {
            plan.warnings.push(PlanWarning::NoCanary {
                cluster_name: cluster.name.clone(),
                cluster_file: cluster.file.clone(),
                prod_hubs: prod.iter().map(|(name, _)| (*name).to_owned()).collect(),
            });
        }
    }
    let staging: Vec<(&str, String)> =
        staging.into_iter().filter_map(|(name, reason)| reason.map(|reason| (name, reason))).collect();

    let job_rollout = |name: &str| {
        let hub = cluster.hubs.iter().find(|hub| hub.name == name)?;
        decide.waves?.job_rollout(cluster, hub, settings.is_staging_hub(name))
    };
    if support_reason.is_some() || !staging.is_empty() {
        plan.support_and_staging.push(SupportAndStagingJob {
            cluster_name: cluster.name.clone(),
            provider: cluster.provider,
            upgrade_support: support_reason.is_some(),
            reason_for_support_redeploy: support_reason.unwrap_or_default(),
            upgrade_staging: !staging.is_empty(),
            reason_for_staging_redeploy: staging_reason(&staging),
            staging_hubs: staging.iter().map(|(name, _)| (*name).to_owned()).collect(),
            staging_rollout: staging
                .iter()
                .filter_map(|(name, _)| job_rollout(name).map(|r| ((*name).to_owned(), r)))
                .collect(),
        });
    }
    plan.prod_hubs.extend(prod.into_iter().map(|(name, reason)| ProdHubJob {
        cluster_name: cluster.name.clone(),
        provider: cluster.provider,
        hub_name: name.to_owned(),
        reason_for_redeploy: reason,
        rollout: job_rollout(name),
    }));
}

/// Reason prefix for hubs checked because a path of their cluster's `health_checks.cluster_paths` changed.
pub const CLUSTER_INFRASTRUCTURE_REASON: &str = "Infrastructure of this cluster was modified: ";
/// Changed paths a health-check reason names at most; the rest are counted.
const MAX_PATHS_NAMED: usize = 3;

/// The changed paths, named (at most [`MAX_PATHS_NAMED`], the rest counted).
fn named_paths(paths: &[&str]) -> String {
    let mut text = paths.iter().take(MAX_PATHS_NAMED).copied().collect::<Vec<_>>().join(", ");
    if paths.len() > MAX_PATHS_NAMED {
        text.push_str(&format!(" and {} more", paths.len() - MAX_PATHS_NAMED));
    }
    text
}

/// The health checks a change plans, from `deployer.yaml`'s `health_checks`
/// rules: every hub of a cluster one of whose `cluster_paths` changed, and
/// every hub of every cluster of a provider one of whose `provider_paths`
/// changed; with a forced plan (the change list may be incomplete, or
/// `deploy-all`), every hub. Nothing without rules. Staging hubs go to
/// `staging_checks` (the canaries), the others to `prod_checks`.
fn plan_health_checks(estate: &Estate, settings: &Settings, changes: &ChangeSet, plan: &mut Plan) {
    let rules = &settings.health_checks;
    if rules.is_empty() {
        return;
    }
    let paths = &changes.paths;
    let clusters: Vec<(&str, &str)> =
        estate.clusters.iter().map(|cluster| (cluster.name.as_str(), cluster.infrastructure_provider)).collect();
    // Every pattern put together with each name at most once, whatever the number of paths.
    let own_paths = if changes.force_all.is_some() { Vec::new() } else { rules.cluster_matches(paths, &clusters) };
    let mut by_provider: BTreeMap<&str, Option<String>> = BTreeMap::new();
    for (index, cluster) in estate.clusters.iter().enumerate() {
        let provider = cluster.infrastructure_provider;
        let reason = if let Some(forced) = &changes.force_all {
            Some(forced.clone())
        } else {
            let named = rules.named_cluster_matches(paths, &cluster.name);
            let own = distinct(
                own_paths.get(index).into_iter().flatten().chain(named.iter()).map(|&path| paths[path].as_str()),
            );
            if own.is_empty() {
                by_provider
                    .entry(provider)
                    .or_insert_with(|| {
                        let matched = distinct(
                            rules.all_provider_matches(paths, provider).into_iter().map(|path| paths[path].as_str()),
                        );
                        (!matched.is_empty()).then(|| {
                            format!("Infrastructure of provider {provider} was modified: {}", named_paths(&matched))
                        })
                    })
                    .clone()
            } else {
                Some(format!("{CLUSTER_INFRASTRUCTURE_REASON}{}", named_paths(&own)))
            }
        };
        let Some(reason) = reason else { continue };
        for hub in &cluster.hubs {
            let job = HealthCheckJob {
                cluster_name: cluster.name.clone(),
                provider: cluster.provider,
                hub_name: hub.name.clone(),
                reason_for_health_check: reason.clone(),
            };
            if settings.is_staging_hub(&hub.name) {
                plan.staging_checks.push(job);
            } else {
                plan.prod_checks.push(job);
            }
        }
    }
}

/// The paths in order, each once (the same path may be listed twice).
fn distinct<'a>(paths: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    let mut seen = std::collections::BTreeSet::new();
    paths.filter(|path| seen.insert(*path)).collect()
}

/// One reason when every staging hub shares it, else `hub: reason` pairs.
fn staging_reason(staging: &[(&str, String)]) -> String {
    match staging.split_first() {
        None => String::new(),
        Some(((_, first), rest)) if rest.iter().all(|(_, reason)| reason == first) => first.clone(),
        Some(_) => staging.iter().map(|(name, reason)| format!("{name}: {reason}")).collect::<Vec<_>>().join("; "),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Hub, Support};

    fn values(dir: &str, names: &[&str]) -> Vec<ValuesFile> {
        names.iter().map(|n| ValuesFile { path: format!("{dir}/{n}") }).collect()
    }

    fn cluster(name: &str, support: bool, hubs: &[(&str, &[&str])]) -> Cluster {
        let dir = format!("c/{name}");
        Cluster {
            name: name.into(),
            provider: Provider::Gcp,
            file: format!("{dir}/cluster.yaml"),
            support: support.then(|| Support { values_files: values(&dir, &["support.yaml"]) }),
            hubs: hubs
                .iter()
                .map(|(hub, files)| Hub {
                    name: (*hub).into(),
                    helm_chart: "basehub".into(),
                    values_files: values(&dir, files),
                    chart_override: None,
                    domain_override_file: None,
                    domain: None,
                })
                .collect(),
            dir,
            access: Default::default(),
            infrastructure_provider: "gcp",
        }
    }

    fn estate() -> Estate {
        Estate {
            clusters: vec![
                cluster(
                    "a",
                    true,
                    &[
                        ("staging", &["common.yaml", "staging.yaml"]),
                        ("prod1", &["common.yaml", "prod1.yaml"]),
                        ("prod2", &["prod2.yaml"]),
                    ],
                ),
                cluster("a-b", false, &[("prod", &["prod.yaml"])]),
                cluster("b", true, &[("staging1", &["s1.yaml"]), ("staging2", &["s2.yaml"]), ("prod", &["p.yaml"])]),
            ],
        }
    }

    /// (cluster, support reason, staging hubs, staging reason) and (cluster, hub, reason).
    type Expected<'a> = (&'a [(&'a str, &'a str, &'a [&'a str], &'a str)], &'a [(&'a str, &'a str, &'a str)]);

    fn check(paths: &[&str], labels: &[&str], expected: Expected<'_>) {
        check_with(&estate(), &ChartInputs::default(), &Settings::default(), paths, labels, expected);
    }

    fn check_with(
        estate: &Estate,
        charts: &ChartInputs,
        settings: &Settings,
        paths: &[&str],
        labels: &[&str],
        expected: Expected<'_>,
    ) {
        let result = plan(estate, charts, settings, &ChangeSet::new(paths.iter().copied(), labels.iter().copied()));
        let staging: Vec<(String, String, Vec<String>, String)> = result
            .support_and_staging
            .iter()
            .map(|j| {
                (
                    j.cluster_name.clone(),
                    j.reason_for_support_redeploy.clone(),
                    j.staging_hubs.clone(),
                    j.reason_for_staging_redeploy.clone(),
                )
            })
            .collect();
        let expected_staging: Vec<(String, String, Vec<String>, String)> = expected
            .0
            .iter()
            .map(|(c, s, hubs, r)| ((*c).into(), (*s).into(), hubs.iter().map(|h| (*h).into()).collect(), (*r).into()))
            .collect();
        assert_eq!(staging, expected_staging, "support/staging for {paths:?} {labels:?}");
        let prod: Vec<(&str, &str, &str)> = result
            .prod_hubs
            .iter()
            .map(|j| (j.cluster_name.as_str(), j.hub_name.as_str(), j.reason_for_redeploy.as_str()))
            .collect();
        assert_eq!(prod, expected.1, "prod for {paths:?} {labels:?}");
        for job in &result.support_and_staging {
            assert_eq!(job.upgrade_support, !job.reason_for_support_redeploy.is_empty());
            assert_eq!(job.upgrade_staging, !job.staging_hubs.is_empty());
        }
    }

    #[test]
    fn a_health_check_reason_names_three_paths_and_counts_the_rest() {
        assert_eq!(named_paths(&["a", "b"]), "a, b");
        assert_eq!(named_paths(&["a", "b", "c"]), "a, b, c");
        assert_eq!(named_paths(&["a", "b", "c", "d", "e"]), "a, b, c and 2 more");
    }

    /// A planned hub's note names its own chart's steps, not another hub's of the cluster.
    #[test]
    fn before_step_notes_name_the_charts_of_the_planned_hubs() {
        let mut estate = estate();
        estate.clusters[0].hubs[2].helm_chart = "daskhub".into();
        let settings = Settings::parse(
            "deployer.yaml",
            "charts:\n  daskhub:\n    before:\n      - manifests: https://example.org/crds.yaml\n",
        )
        .expect("settings");
        let notes = |path: &str| -> Vec<(String, Vec<String>)> {
            let changes = ChangeSet::new([path], std::iter::empty::<&str>());
            let result = plan(&estate, &ChartInputs::default(), &settings, &changes);
            result.before_steps.into_iter().map(|note| (note.cluster_name, note.charts)).collect()
        };
        assert_eq!(notes("c/a/prod2.yaml"), [("a".to_owned(), vec!["daskhub".to_owned()])]);
        assert_eq!(notes("c/a/prod1.yaml"), []);
    }

    #[test]
    fn each_values_file_is_named_once_in_listed_order() {
        let estate = Estate {
            clusters: vec![cluster(
                "d",
                false,
                &[("prod", &["p.yaml", "common.yaml", "p.yaml"]), ("other", &["o.yaml"])],
            )],
        };
        let cases: &[(&[&str], &str)] = &[
            (&["c/d/common.yaml", "c/d/p.yaml"], "p.yaml, common.yaml"),
            (&["c/d/p.yaml", "c/d/p.yaml"], "p.yaml"),
            (&["c/d/common.yaml"], "common.yaml"),
        ];
        for (paths, named) in cases {
            let reason = format!("{VALUES_FILES_REASON}{named}");
            check_with(
                &estate,
                &ChartInputs::default(),
                &Settings::default(),
                paths,
                &[],
                (&[], &[("d", "prod", &reason)]),
            );
        }
    }

    #[test]
    fn decision_table() {
        // A staging hub changed itself keeps its own reason; the other gets the prod reason.
        check(
            &["c/b/s1.yaml", "c/b/p.yaml"],
            &[],
            (
                &[("b", "", &["staging1", "staging2"], "staging1: Following helm chart values files were modified: s1.yaml; staging2: Following prod hubs require redeploy: prod")],
                &[("b", "prod", "Following helm chart values files were modified: p.yaml")],
            ),
        );
        // A shared file upgrades every hub listing it; basenames in listed order.
        check(
            &["c/a/prod1.yaml", "c/a/common.yaml"],
            &[],
            (
                &[("a", "", &["staging"], "Following helm chart values files were modified: common.yaml")],
                &[("a", "prod1", "Following helm chart values files were modified: common.yaml, prod1.yaml")],
            ),
        );
        // Cluster names match exactly: `a-b` is not `a`.
        check(
            &["c/a-b/prod.yaml"],
            &[],
            (&[], &[("a-b", "prod", "Following helm chart values files were modified: prod.yaml")]),
        );
        // skip-deploy-hubs keeps support, drops every hub.
        check(
            &["c/a/cluster.yaml"],
            &["deployer:skip-deploy-hubs"],
            (&[("a", "cluster.yaml file was modified", &[], "")], &[]),
        );
        // skip-deploy wins over everything.
        check(&["helm-charts/basehub/x"], &["deployer:skip-deploy", "deployer:deploy-hubs"], (&[], &[]));
        // The label reason comes before the pattern reason.
        check(
            &["helm-charts/support/x"],
            &["deployer:deploy-support"],
            (
                &[
                    ("a", "deployer:deploy-support label detected", &[], ""),
                    ("b", "deployer:deploy-support label detected", &[], ""),
                ],
                &[],
            ),
        );
        // deploy-hubs forces every hub, with the label reason.
        check(
            &[],
            &["deployer:deploy-hubs"],
            (
                &[
                    ("a", "", &["staging"], "deployer:deploy-hubs label detected"),
                    ("b", "", &["staging1", "staging2"], "deployer:deploy-hubs label detected"),
                ],
                &[
                    ("a", "prod1", "deployer:deploy-hubs label detected"),
                    ("a", "prod2", "deployer:deploy-hubs label detected"),
                    ("a-b", "prod", "deployer:deploy-hubs label detected"),
                    ("b", "prod", "deployer:deploy-hubs label detected"),
                ],
            ),
        );
        // A file not listed by any hub does nothing, even in a cluster folder.
        check(&["c/a/unlisted.yaml", "c/a"], &[], (&[], &[]));
        // Nothing but unrelated paths.
        check(&["README.md", "helm-charts/images/x"], &[], (&[], &[]));
        // skip-deploy still wins over a forced plan.
        let forced = ChangeSet::new(["x"], ["deployer:skip-deploy"]).with_force_all(Some("why".into()));
        assert!(plan(&estate(), &ChartInputs::default(), &Settings::default(), &forced).is_empty());
    }

    /// basehub -> common-lib, daskhub -> basehub, support -> grafana; cluster a's prod2 is on daskhub.
    fn chart_estate() -> (Estate, ChartInputs) {
        let mut estate = estate();
        estate.clusters[0].hubs[2].helm_chart = "daskhub".into();
        let manifests = [
            (
                "helm-charts/basehub/Chart.yaml",
                "name: basehub\ndependencies:\n  - {name: c, repository: 'file://../common-lib'}\n",
            ),
            (
                "helm-charts/daskhub/Chart.yaml",
                "name: daskhub\ndependencies:\n  - {name: b, repository: 'file://../basehub'}\n",
            ),
            (
                "helm-charts/support/Chart.yaml",
                "name: support\ndependencies:\n  - {name: g, repository: 'file://../grafana'}\n",
            ),
            ("helm-charts/common-lib/Chart.yaml", "name: common-lib\n"),
            ("helm-charts/grafana/Chart.yaml", "name: grafana\n"),
        ];
        let used = crate::config::charts::used_charts(&estate);
        let charts = crate::config::charts::chart_inputs(&used, &mut |file: &str| {
            Ok(manifests.iter().find(|(path, _)| *path == file).map(|(_, text)| (*text).to_owned()))
        })
        .unwrap();
        (estate, charts)
    }

    #[test]
    fn chart_inputs_add_upgrades_after_every_other_rule() {
        let (estate, charts) = chart_estate();
        let paths = Settings::default();
        let only_charts = Settings::parse("deployer.yaml", "impact: chart-dependencies\n").unwrap();
        const BASE_LIB: &str = "Helm chart basehub depends on common-lib, which was modified";
        const DASK_LIB: &str = "Helm chart daskhub depends on basehub -> common-lib, which was modified";
        const CORE: &str = "Core infrastructure has been modified";
        // A dependency of basehub (on no path list) upgrades every hub, each with its chain.
        for settings in [&paths, &only_charts] {
            check_with(
                &estate,
                &charts,
                settings,
                &["helm-charts/common-lib/templates/_x.tpl"],
                &[],
                (
                    &[("a", "", &["staging"], BASE_LIB), ("b", "", &["staging1", "staging2"], BASE_LIB)],
                    &[
                        ("a", "prod1", BASE_LIB),
                        ("a", "prod2", DASK_LIB),
                        ("a-b", "prod", BASE_LIB),
                        ("b", "prod", BASE_LIB),
                    ],
                ),
            );
        }
        // `impact: chart-dependencies`: a daskhub change upgrades only daskhub hubs (and the cluster's canary).
        check_with(
            &estate,
            &charts,
            &only_charts,
            &["helm-charts/daskhub/values.yaml"],
            &[],
            (
                &[("a", "", &["staging"], "Following prod hubs require redeploy: prod2")],
                &[("a", "prod2", "Helm chart daskhub was modified")],
            ),
        );
        // The default mode still upgrades everything for it, with today's reason.
        let every_hub: Expected<'_> = (
            &[("a", "", &["staging"], CORE), ("b", "", &["staging1", "staging2"], CORE)],
            &[("a", "prod1", CORE), ("a", "prod2", CORE), ("a-b", "prod", CORE), ("b", "prod", CORE)],
        );
        check_with(&estate, &charts, &paths, &["helm-charts/daskhub/values.yaml"], &[], every_hub);
        // Paths outside the charts folder still match the lists in both modes.
        check_with(&estate, &charts, &only_charts, &["deployer/commands/x.py"], &[], every_hub);
        // The support chart and its dependency.
        let grafana = "Helm chart support depends on grafana, which was modified";
        for settings in [&paths, &only_charts] {
            check_with(
                &estate,
                &charts,
                settings,
                &["helm-charts/grafana/values.yaml"],
                &[],
                (&[("a", grafana, &[], ""), ("b", grafana, &[], "")], &[]),
            );
        }
        let own = "Helm chart support was modified";
        check_with(
            &estate,
            &charts,
            &only_charts,
            &["helm-charts/support/values.yaml"],
            &[],
            (&[("a", own, &[], ""), ("b", own, &[], "")], &[]),
        );
        // Values files (and cluster.yaml, labels, patterns) come first: the chart rule only adds.
        check_with(
            &estate,
            &charts,
            &only_charts,
            &["helm-charts/daskhub/x", "c/a/prod1.yaml", "c/b/support.yaml"],
            &[],
            (
                &[
                    ("a", "", &["staging"], "Following prod hubs require redeploy: prod1, prod2"),
                    ("b", "Following helm chart values files were modified: support.yaml", &[], ""),
                ],
                &[
                    ("a", "prod1", "Following helm chart values files were modified: prod1.yaml"),
                    ("a", "prod2", "Helm chart daskhub was modified"),
                ],
            ),
        );
        // skip-deploy-hubs keeps only the support charts the chart rule upgrades.
        check_with(
            &estate,
            &charts,
            &only_charts,
            &["helm-charts/common-lib/x", "helm-charts/grafana/x"],
            &["deployer:skip-deploy-hubs"],
            (&[("a", grafana, &[], ""), ("b", grafana, &[], "")], &[]),
        );
    }

    #[test]
    fn forced_plans_upgrade_everything_with_their_reason() {
        let changes =
            ChangeSet::new(Vec::<String>::new(), ["deployer:deploy-support"]).with_force_all(Some("why".into()));
        let result = plan(&estate(), &ChartInputs::default(), &Settings::default(), &changes);
        assert_eq!(result.prod_hubs.len(), 4);
        assert!(result.prod_hubs.iter().all(|j| j.reason_for_redeploy == "why"));
        // The label reason still comes first for support.
        assert!(result
            .support_and_staging
            .iter()
            .filter(|j| j.upgrade_support)
            .all(|j| j.reason_for_support_redeploy == "deployer:deploy-support label detected"));
        assert_eq!(result.support_and_staging.iter().filter(|j| j.upgrade_support).count(), 2);
    }

    #[test]
    fn no_canary_is_a_warning_not_a_staging_entry() {
        let result = plan(
            &estate(),
            &ChartInputs::default(),
            &Settings::default(),
            &ChangeSet::new(["c/a-b/prod.yaml"], Vec::<String>::new()),
        );
        assert!(result.support_and_staging.is_empty());
        assert_eq!(
            result.warnings,
            [PlanWarning::NoCanary {
                cluster_name: "a-b".into(),
                cluster_file: "c/a-b/cluster.yaml".into(),
                prod_hubs: vec!["prod".into()]
            }]
        );
        assert_eq!(
            result.warnings[0].to_string(),
            "cluster a-b has no staging hub, so its prod hubs (prod) deploy without a canary"
        );
    }

    #[test]
    fn cluster_edits_touch_only_their_parts() {
        use crate::planning::cluster_edits::{FileDiff, HubChange};
        let edit = |whole: bool, support: bool, hubs: &[(&str, HubChange)], removed: &[&str]| {
            ClusterEdit::Known(FileDiff {
                whole_cluster: whole,
                support,
                hubs: hubs.iter().map(|(name, change)| ((*name).to_owned(), *change)).collect(),
                removed_hubs: removed.iter().map(|name| (*name).to_owned()).collect(),
                unread: Vec::new(),
            })
        };
        let run = |paths: &[&str], labels: &[&str], edit: ClusterEdit| {
            let edits = ClusterEdits::from([("c/a/cluster.yaml".to_owned(), edit)]);
            let changes = ChangeSet::new(paths.iter().copied(), labels.iter().copied());
            let plan = plan_with_edits(&estate(), &ChartInputs::default(), &Settings::default(), &changes, &edits);
            let staging: Vec<(String, String, Vec<String>, String)> = plan
                .support_and_staging
                .iter()
                .map(|j| {
                    let hubs = j.staging_hubs.clone();
                    (
                        j.cluster_name.clone(),
                        j.reason_for_support_redeploy.clone(),
                        hubs,
                        j.reason_for_staging_redeploy.clone(),
                    )
                })
                .collect();
            let prod: Vec<(String, String)> =
                plan.prod_hubs.iter().map(|j| (j.hub_name.clone(), j.reason_for_redeploy.clone())).collect();
            let removed: Vec<String> =
                plan.removed_hubs.iter().map(|r| format!("{}/{}", r.cluster_name, r.hub_name)).collect();
            (staging, prod, removed)
        };
        let s = |text: &str| text.to_owned();
        let file = "c/a/cluster.yaml";

        // A prod hub's entry: that hub, and the cluster's staging hubs as its canary.
        let (staging, prod, removed) = run(&[file], &[], edit(false, false, &[("prod2", HubChange::Modified)], &[]));
        assert_eq!(staging, [(s("a"), s(""), vec![s("staging")], s("Following prod hubs require redeploy: prod2"))]);
        assert_eq!(prod, [(s("prod2"), s("cluster.yaml: hub entry prod2 was modified"))]);
        assert!(removed.is_empty());

        // A staging hub added: only that hub.
        let (staging, prod, _) = run(&[file], &[], edit(false, false, &[("staging", HubChange::Added)], &[]));
        assert_eq!(staging, [(s("a"), s(""), vec![s("staging")], s("cluster.yaml: hub entry staging was added"))]);
        assert!(prod.is_empty());

        // The support block: only the support chart.
        let (staging, prod, _) = run(&[file], &[], edit(false, true, &[], &[]));
        assert_eq!(staging, [(s("a"), s("cluster.yaml: support block was modified"), vec![], s(""))]);
        assert!(prod.is_empty());

        // Anything else: the whole cluster, as without a previous version.
        let (staging, prod, _) = run(&[file], &[], edit(true, false, &[], &[]));
        let without = plan(
            &estate(),
            &ChartInputs::default(),
            &Settings::default(),
            &ChangeSet::new([file], Vec::<String>::new()),
        );
        assert_eq!(prod.len(), 2);
        assert!(prod.iter().all(|(_, reason)| reason == CLUSTER_FILE_REASON));
        assert_eq!(staging[0].1, CLUSTER_FILE_REASON);
        assert_eq!(prod.len(), without.prod_hubs.len());
        assert_eq!(staging.len(), without.support_and_staging.len());

        // An unknown previous version: the whole cluster, saying why.
        let (staging, prod, _) = run(&[file], &[], ClusterEdit::Unknown("not in the base commit".into()));
        let why = "cluster.yaml file was modified (previous version unavailable: not in the base commit)";
        assert_eq!(staging, [(s("a"), s(why), vec![s("staging")], s(why))]);
        assert!(prod.iter().all(|(_, reason)| reason == why) && prod.len() == 2);

        // An edit touching nothing leaves hubs to their values files.
        let (staging, prod, _) = run(&[file, "c/a/prod1.yaml"], &[], edit(false, false, &[], &[]));
        assert_eq!(prod, [(s("prod1"), s("Following helm chart values files were modified: prod1.yaml"))]);
        assert_eq!(staging[0].3, "Following prod hubs require redeploy: prod1");
        // ...and a hub both edited and with a changed values file keeps the edit's reason.
        let (_, prod, _) =
            run(&[file, "c/a/prod1.yaml"], &[], edit(false, false, &[("prod1", HubChange::Modified)], &[]));
        assert_eq!(prod, [(s("prod1"), s("cluster.yaml: hub entry prod1 was modified"))]);

        // A removed hub: nothing to upgrade, and a note; kept under skip-deploy too.
        let (staging, prod, removed) = run(&[file], &[], edit(false, false, &[], &["gone"]));
        assert!(staging.is_empty() && prod.is_empty());
        assert_eq!(removed, ["a/gone"]);
        let (staging, prod, removed) = run(&[file], &["deployer:skip-deploy"], edit(false, false, &[], &["gone"]));
        assert!(staging.is_empty() && prod.is_empty());
        assert_eq!(removed, ["a/gone"]);
        // An edit of a file that is not among the changed paths counts for nothing.
        let (staging, prod, removed) = run(&["c/a/prod2.yaml"], &[], edit(true, true, &[], &["gone"]));
        assert!(removed.is_empty());
        assert_eq!(prod, [(s("prod2"), s("Following helm chart values files were modified: prod2.yaml"))]);
        assert_eq!(staging[0].1, "");
        // Global reasons still come first.
        let (_, prod, _) = run(&[file], &["deployer:deploy-hubs"], edit(false, false, &[], &[]));
        assert_eq!(prod.len(), 4);
        assert!(prod.iter().all(|(_, reason)| reason == "deployer:deploy-hubs label detected"));
    }

    #[test]
    fn infrastructure_changes_plan_health_checks() {
        let mut estate = estate();
        estate.clusters[1].provider = Provider::Aws;
        estate.clusters[1].infrastructure_provider = "aws";
        estate.clusters[2].provider = Provider::Kubeconfig;
        estate.clusters[2].infrastructure_provider = "azure";
        let rules = "health_checks:\n  cluster_paths:\n    - terraform/{provider}/projects/{cluster}.tfvars\n    - eksctl/{cluster}.jsonnet\n  provider_paths:\n    - terraform/{provider}/modules/**\n    - 'eksctl/{provider}-lib/**'\n";
        let settings = Settings::parse("deployer.yaml", rules).unwrap();
        type Checks<'a> = (&'a [(&'a str, &'a str)], &'a [(&'a str, &'a str)], &'a str);
        let cluster_a = "Infrastructure of this cluster was modified: terraform/gcp/projects/a.tfvars";
        let cases: &[(&[&str], &[&str], Checks<'_>)] = &[
            // One cluster's file: every hub of that cluster, staging first; `a` is not `a-b`.
            (&["terraform/gcp/projects/a.tfvars"], &[], (&[("a", "staging")], &[("a", "prod1"), ("a", "prod2")], cluster_a)),
            (&["eksctl/a-b.jsonnet"], &[], (&[], &[("a-b", "prod")], "Infrastructure of this cluster was modified: eksctl/a-b.jsonnet")),
            // The provider must match too.
            (&["terraform/aws/projects/a.tfvars"], &[], (&[], &[], "")),
            // Provider-wide: every cluster of it; a kubeconfig cluster by its provider_url's provider.
            (&["terraform/azure/modules/aks/main.tf"], &[], (&[("b", "staging1"), ("b", "staging2")], &[("b", "prod")], "Infrastructure of provider azure was modified: terraform/azure/modules/aks/main.tf")),
            (&["terraform/kubeconfig/modules/x.tf"], &[], (&[], &[], "")),
            // Unrelated and values changes: no checks.
            (&["README.md", "terraform/gcp/projects/README.md", "c/a/prod1.yaml"], &[], (&[], &[], "")),
            // skip-deploy-hubs keeps checks (they upgrade nothing); skip-deploy drops everything.
            (&["eksctl/a-b.jsonnet"], &["deployer:skip-deploy-hubs"], (&[], &[("a-b", "prod")], "Infrastructure of this cluster was modified: eksctl/a-b.jsonnet")),
            (&["eksctl/a-b.jsonnet"], &["deployer:skip-deploy"], (&[], &[], "")),
            // A cluster's own file wins over its provider's; paths named once, at most three.
            (
                &["terraform/gcp/projects/a.tfvars", "terraform/gcp/modules/1", "terraform/gcp/projects/a.tfvars"],
                &[],
                (&[("a", "staging")], &[("a", "prod1"), ("a", "prod2")], cluster_a),
            ),
            (
                &["eksctl/aws-lib/1", "eksctl/aws-lib/2", "eksctl/aws-lib/3", "eksctl/aws-lib/4", "eksctl/aws-lib/5"],
                &[],
                (&[], &[("a-b", "prod")], "Infrastructure of provider aws was modified: eksctl/aws-lib/1, eksctl/aws-lib/2, eksctl/aws-lib/3 and 2 more"),
            ),
        ];
        for (paths, labels, (staging, prod, reason)) in cases {
            let result = plan(
                &estate,
                &ChartInputs::default(),
                &settings,
                &ChangeSet::new(paths.iter().copied(), labels.iter().copied()),
            );
            let names = |jobs: &[HealthCheckJob]| -> Vec<(String, String)> {
                jobs.iter().map(|j| (j.cluster_name.clone(), j.hub_name.clone())).collect()
            };
            let expected = |list: &[(&str, &str)]| -> Vec<(String, String)> {
                list.iter().map(|(c, h)| ((*c).to_owned(), (*h).to_owned())).collect()
            };
            assert_eq!(names(&result.staging_checks), expected(staging), "{paths:?}");
            assert_eq!(names(&result.prod_checks), expected(prod), "{paths:?}");
            for job in result.health_checks() {
                assert_eq!(job.reason_for_health_check, *reason, "{paths:?}");
            }
            assert_eq!(
                result.is_empty(),
                staging.is_empty()
                    && prod.is_empty()
                    && result.support_and_staging.is_empty()
                    && result.prod_hubs.is_empty()
            );
        }
        // A values change still plans its upgrade, and no checks.
        let values = plan(
            &estate,
            &ChartInputs::default(),
            &settings,
            &ChangeSet::new(["c/a/prod1.yaml"], Vec::<String>::new()),
        );
        assert_eq!(values.prod_hubs.len(), 1);
        assert!(values.health_checks().is_empty());
        // A forced plan checks every hub, with its reason; without rules, nothing is checked.
        let forced = ChangeSet::new(Vec::<String>::new(), Vec::<String>::new()).with_force_all(Some("why".into()));
        let all = plan(&estate, &ChartInputs::default(), &settings, &forced);
        assert_eq!(all.health_checks().len(), 7);
        assert!(all.health_checks().iter().all(|j| j.reason_for_health_check == "why"));
        assert!(plan(&estate, &ChartInputs::default(), &Settings::default(), &forced).health_checks().is_empty());
        let no_rules = plan(
            &estate,
            &ChartInputs::default(),
            &Settings::default(),
            &ChangeSet::new(["terraform/gcp/projects/a.tfvars"], Vec::<String>::new()),
        );
        assert!(no_rules.is_empty());
    }

    #[test]
    fn a_values_file_listed_twice_is_named_once() {
        let estate = Estate { clusters: vec![cluster("d", false, &[("prod", &["a.yaml", "b.yaml", "a.yaml"])])] };
        let changes = ChangeSet::new(["c/d/a.yaml", "c/d/b.yaml"], Vec::<String>::new());
        let result = plan(&estate, &ChartInputs::default(), &Settings::default(), &changes);
        assert_eq!(
            result.prod_hubs[0].reason_for_redeploy,
            "Following helm chart values files were modified: a.yaml, b.yaml"
        );
    }

    /// Every label of the table is known, under its default name or a renamed one: none is
    /// warned about as unknown, and each still does what it does (a label the planner reacts
    /// to but does not know, or knows but does not have in the table, fails here).
    #[test]
    fn every_label_of_the_table_is_known() {
        use crate::config::labels::LABELS;
        let mut renamed_text = String::from("labels:\n");
        for rule in LABELS {
            renamed_text.push_str(&format!("  {}: 'deployer:renamed-{}'\n", rule.key, rule.key));
        }
        let renamed = Settings::parse("deployer.yaml", &renamed_text).unwrap();
        for settings in [Settings::default(), renamed] {
            let names: Vec<String> = settings.labels.all().map(|(_, name)| name.to_owned()).collect();
            assert_eq!(names.len(), LABELS.len());
            let changes = ChangeSet::new(Vec::<String>::new(), names.iter().map(String::as_str));
            assert_eq!(unknown_labels(&changes, &settings.labels), [], "{names:?}");
            let unknown = ChangeSet::new(Vec::<String>::new(), ["deployer:not-a-label"]);
            assert_eq!(unknown_labels(&unknown, &settings.labels).len(), 1);
        }
    }

    #[test]
    fn unknown_deployer_labels_are_warnings() {
        let cases: &[(&[&str], &[&str])] = &[
            (&["deployer:deploy-hubs", "bug", "deploy-hub"], &[]),
            (&["deployer:deploy-hub"], &["unknown label `deployer:deploy-hub`; did you mean `deployer:deploy-hubs`?"]),
            (
                &["Deployer:Skip-Deploy", "deployer:skip-deploy", "Deployer:Skip-Deploy"],
                &["unknown label `Deployer:Skip-Deploy`; did you mean `deployer:skip-deploy`?"],
            ),
            (&["deployer:support"], &["unknown label `deployer:support`; did you mean `deployer:deploy-support`?"]),
        ];
        for (labels, expected) in cases {
            let result = plan(
                &estate(),
                &ChartInputs::default(),
                &Settings::default(),
                &ChangeSet::new(Vec::<String>::new(), labels.iter().copied()),
            );
            let warnings: Vec<String> = result
                .warnings
                .iter()
                .filter(|w| matches!(w, PlanWarning::UnknownLabel { .. }))
                .map(ToString::to_string)
                .collect();
            assert_eq!(warnings, *expected, "{labels:?}");
        }
        let long = format!("deployer:{}", "x".repeat(200));
        let result = plan(
            &estate(),
            &ChartInputs::default(),
            &Settings::default(),
            &ChangeSet::new(Vec::<String>::new(), [long]),
        );
        assert!(result.warnings[0].to_string().chars().count() < 120, "{}", result.warnings[0]);
    }
}
