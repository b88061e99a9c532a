//! Deployment records: what deploy tells a [`Recorder`] about each release it
//! upgrades (support chart and hubs; never a health-check run or a dry run):
//! [`Recorder::started`] right before the release's `helm upgrade`, then
//! [`Recorder::finished`] with success, or failure when helm, the rollout
//! watch or the health check failed or a stop signal ended it. The recorder
//! (GitHub Deployments, wired in by the stages) never changes a release's
//! result: it warns on its own.
//!
//! A release's wave and chart commit come from the leg item (`rollout`,
//! `staging_rollout`) when deploy runs one, else from
//! [`crate::config::rollout::Rollout::release_rollout`] with the checkout's
//! state file.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::base::repo_fs::RepoRoot;
use crate::config::rollout::{JobRollout, Pins};
use crate::config::{Cluster, Settings, SUPPORT_RELEASE};

/// One release as a record describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseRecord {
    pub cluster: String,
    pub release: String,
    /// The chart folder name (`basehub`; `support` for the support chart).
    pub chart: String,
    /// The wave's pin the chart is taken from; `None` for the head (the commit deployed).
    pub chart_commit: Option<String>,
    /// `sha256:<hex>` of the chart files deployed.
    pub chart_digest: String,
    /// The release's wave, when its chart rolls out in waves.
    pub wave: Option<String>,
    /// Neither a staging hub nor the support chart.
    pub production: bool,
    /// The hub's `domain` from its cluster file, if any.
    pub domain: Option<String>,
}

/// How a recorded release ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    Success,
    /// With a short reason (`helm upgrade failed`, `health check failed`, `stopped by a signal`).
    Failure(&'static str),
}

/// Receives the records of a deploy's releases. Called from the threads that upgrade hubs in parallel.
pub trait Recorder: Send + Sync {
    /// Before the release's upgrade; the handle given back goes to [`Recorder::finished`] (`None`: not recorded).
    fn started(&self, record: &ReleaseRecord) -> Option<u64>;
    /// After the release's upgrade (and its rollout watch and health check).
    fn finished(&self, handle: u64, record: &ReleaseRecord, ended: Ended);
}

/// A deploy's recorder (none by default) and the leg item's rollout of each hub (hub → wave and commit).
#[derive(Clone, Default)]
pub struct ReleaseRecords {
    pub recorder: Option<Arc<dyn Recorder>>,
    /// With a leg item: each hub's `rollout` or `staging_rollout`; `None` without an item (the state file decides).
    pub item_rollouts: Option<BTreeMap<String, JobRollout>>,
}

impl ReleaseRecords {
    /// True when releases are recorded.
    pub fn enabled(&self) -> bool {
        self.recorder.is_some()
    }
}

impl std::fmt::Debug for ReleaseRecords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReleaseRecords")
            .field("recorder", &self.recorder.as_ref().map(|_| "recorder"))
            .field("item_rollouts", &self.item_rollouts)
            .finish()
    }
}

impl PartialEq for ReleaseRecords {
    fn eq(&self, other: &Self) -> bool {
        let same_recorder = match (&self.recorder, &other.recorder) {
            (None, None) => true,
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            _ => false,
        };
        same_recorder && self.item_rollouts == other.item_rollouts
    }
}

impl Eq for ReleaseRecords {}

/// The wave and chart commit of `release` on `cluster`: the item's when deploy runs one, else
/// `rollout.release_rollout` with the pins of the checkout's state file (read once, by `pins`).
pub fn release_rollout(
    records: &ReleaseRecords,
    settings: &Settings,
    cluster: &Cluster,
    release: &str,
    pins: &mut dyn FnMut() -> Option<Pins>,
) -> Option<JobRollout> {
    if release == SUPPORT_RELEASE {
        return None;
    }
    if let Some(items) = &records.item_rollouts {
        return items.get(release).cloned();
    }
    let rollout = settings.rollout.as_ref()?;
    let hub = cluster.hubs.iter().find(|hub| hub.name == release)?;
    let pins = pins();
    rollout.release_rollout(pins.as_ref(), cluster, hub, settings.is_staging_hub(release), false)
}

/// The pins of the checkout's state file, when `rollout` is configured and the file reads and parses.
pub fn read_pins(root: &RepoRoot, settings: &Settings) -> Option<Pins> {
    let rollout = settings.rollout.as_ref()?;
    let file = crate::base::repo_path::normalize(&rollout.state_file);
    let text = root.read_config_file(&file).ok()?;
    crate::config::rollout::parse_state(&file, &text, rollout).ok()
}

/// The record of `release` on `cluster`, with its chart's digest.
pub fn record_of(
    settings: &Settings,
    cluster: &Cluster,
    release: &str,
    chart_digest: &[u8],
    rollout: Option<JobRollout>,
) -> ReleaseRecord {
    let hub = cluster.hubs.iter().find(|hub| hub.name == release);
    let chart = match hub {
        Some(hub) => hub.helm_chart.clone(),
        None => crate::config::charts::SUPPORT_CHART.to_owned(),
    };
    let (wave, chart_commit) = match rollout {
        Some(rollout) => (Some(rollout.wave), Some(rollout.chart_commit).filter(|commit| !commit.is_empty())),
        None => (None, None),
    };
    ReleaseRecord {
        cluster: cluster.name.clone(),
        release: release.to_owned(),
        chart,
        chart_commit,
        chart_digest: format!("sha256:{}", hex(chart_digest)),
        wave,
        production: hub.is_some() && !settings.is_staging_hub(release),
        domain: hub.and_then(|hub| hub.domain.clone()),
    }
}

/// What a dry run says it would record for a release.
pub fn dry_run_line(record: &ReleaseRecord) -> String {
    format!(
        "# deployment record: environment {}/{} ({}), chart {} at {}{}, {}; statuses in_progress, then success or failure\n",
        record.cluster,
        record.release,
        if record.production { "production" } else { "not production" },
        record.chart,
        record.chart_commit.as_deref().unwrap_or("the commit deployed"),
        record.wave.as_deref().map(|wave| format!(" (wave {wave})")).unwrap_or_default(),
        record.chart_digest,
    )
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
