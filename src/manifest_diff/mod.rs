//! The rendered-manifest diff: what a change does to each planned release's
//! Kubernetes objects, as values. The types here travel in `plan.json` (so
//! the comment action validates them like everything else in the artifact)
//! and in `deployer diff --output json`.
//!
//! - [`placeholder`]: `enc-*` values files as the same tree with every
//!   encrypted scalar replaced by a fixed placeholder (pure).
//! - [`normalise`]: rendered manifests normalised, Secrets redacted (pure).
//! - [`unified`]: unified diffs of normalised objects, counted and bounded (pure).
//! - [`helm_template`]: base and head renders with `helm template`, in parallel,
//!   through a content-addressed cache (processes, files).
//! - [`skip`]: which planned releases `skip-unchanged` drops (pure).

pub mod helm_template;
pub mod normalise;
pub mod placeholder;
pub mod skip;
pub mod unified;

use serde::{Deserialize, Serialize};

/// What a change does to one release's objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum DiffStatus {
    /// The normalised objects are identical (and no encrypted values changed).
    Unchanged,
    /// Objects are added, removed or changed, or encrypted values changed.
    Changed,
    /// The release exists at head only (a new hub, a new support chart).
    Added,
    /// The release exists at base only.
    Removed,
    /// `helm template` failed on a side (the message says which); the release deploys as planned.
    RenderFailed,
}

impl DiffStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DiffStatus::Unchanged => "unchanged",
            DiffStatus::Changed => "changed",
            DiffStatus::Added => "added",
            DiffStatus::Removed => "removed",
            DiffStatus::RenderFailed => "render-failed",
        }
    }
}

/// How one object changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ObjectChange {
    Added,
    Removed,
    Changed,
}

/// One object's change: its key (`apps/v1 Deployment ns/name`) and the
/// unified diff of its normalised YAML (`---`/`+++` header, `@@` hunks).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ObjectDiff {
    pub object: String,
    pub change: ObjectChange,
    pub diff: String,
}

/// A release's diff: the support chart of a cluster (no `hub_name`) or a hub.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReleaseDiff {
    pub cluster_name: String,
    /// Absent for a cluster's support chart.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hub_name: Option<String>,
    pub status: DiffStatus,
    pub objects_added: u32,
    pub objects_removed: u32,
    pub objects_changed: u32,
    pub lines_added: u32,
    pub lines_removed: u32,
    /// `enc-*` values files of the release whose bytes changed: they always
    /// deploy, and their content is never shown.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub encrypted_values_changed: Vec<String>,
    /// Why the render failed (helm's message, sanitised and capped).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The changed objects, in key order. May hold fewer than the counts say
    /// when the diff was cut to fit (`objects_truncated`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub objects: Vec<ObjectDiff>,
    /// True when some of the objects' diffs were left out to bound the size.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub objects_truncated: bool,
}

impl ReleaseDiff {
    /// The release's name: the hub, or `support`.
    pub fn release(&self) -> &str {
        self.hub_name.as_deref().unwrap_or(crate::config::SUPPORT_RELEASE)
    }

    /// `cluster/hub` or `cluster/support`, for people.
    pub fn label(&self) -> String {
        format!("{}/{}", self.cluster_name, self.release())
    }
}

/// Said for an `enc-*` values file that changed.
pub const ENCRYPTED_CHANGED: &str = "encrypted values changed (content not shown)";
/// Reason of a release `skip-unchanged` dropped.
pub const SKIPPED_REASON: &str = "rendered manifests unchanged";

/// A planned release that `skip-unchanged` dropped from the matrices.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SkippedRelease {
    pub cluster_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hub_name: Option<String>,
    pub reason: String,
}

/// The diff of every planned release, as `plan.json` carries it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ManifestDiff {
    /// In plan order: per cluster, its support chart, staging hubs, then prod hubs.
    pub releases: Vec<ReleaseDiff>,
    /// Releases `skip-unchanged` dropped from the matrices.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<SkippedRelease>,
    /// True when the head's `render.ignore` differs from the base's: the
    /// diff applies the base's (a change cannot hide itself), and the views
    /// say so above their tables ([`RENDER_IGNORE_NOTE`]).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub head_render_ignore_differs: bool,
}

/// Said above the tables when the head changes `render.ignore`.
pub const RENDER_IGNORE_NOTE: &str = "This change edits `render.ignore` in `deployer.yaml`. The manifest changes are \
     compared with the base's `render.ignore`, not with the edited one, which applies once merged.";

impl ManifestDiff {
    /// The diff of one release, if it was rendered.
    pub fn release(&self, cluster: &str, hub: Option<&str>) -> Option<&ReleaseDiff> {
        self.releases.iter().find(|r| r.cluster_name == cluster && r.hub_name.as_deref() == hub)
    }
}
