//! The repository's configuration: typed values the planner works on.
//!
//! Files are read by [`load`] (the only part that touches the filesystem),
//! parsed into [`raw`] types and validated by [`cluster`] and [`settings`].
//! Every problem becomes a [`crate::Diagnostic`] at its file, line and field.

pub mod before;
pub mod blocked_clusters;
pub mod chart_archives;
pub mod chart_files;
pub mod chart_schema;
pub mod charts;
pub mod cluster;
pub mod globs;
pub mod health_checks;
pub mod ignore;
pub mod jsonnet;
pub mod keys;
pub mod labels;
pub mod load;
pub mod locate;
pub mod path_pattern;
pub mod raw;
pub mod rollout;
pub mod settings;
pub mod submodules;
pub mod suggest;
pub mod tar;
pub mod unread;
pub mod yaml;
pub mod yaml_guard;

pub use raw::Provider;
pub use settings::Settings;

use crate::base::repo_path;

/// Every cluster of the repository, sorted by name; names are unique.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Estate {
    pub clusters: Vec<Cluster>,
}

/// One validated `cluster.yaml`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cluster {
    pub name: String,
    pub provider: Provider,
    /// Repository-relative path of the `cluster.yaml` file.
    pub file: String,
    /// Repository-relative folder holding it; values files are relative to it.
    pub dir: String,
    /// The support chart, when the cluster has a non-empty `support` block.
    pub support: Option<Support>,
    /// Hubs in `cluster.yaml` order.
    pub hubs: Vec<Hub>,
    /// The provider blocks as written; [`crate::cluster::access`] checks the one it needs.
    pub access: AccessBlocks,
    /// What `{provider}` stands for in health-check rules ([`health_checks::infrastructure_provider`]).
    pub infrastructure_provider: &'static str,
}

/// The provider blocks of a `cluster.yaml`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccessBlocks {
    pub gcp: Option<raw::RawGcp>,
    pub aws: Option<raw::RawAws>,
    pub azure: Option<raw::RawAzure>,
    pub kubeconfig: Option<raw::RawKubeconfig>,
}

/// A cluster's support chart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Support {
    pub values_files: Vec<ValuesFile>,
}

/// One hub: a Helm release of `helm_chart` in the namespace of the same name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hub {
    pub name: String,
    pub helm_chart: String,
    pub values_files: Vec<ValuesFile>,
    /// `chart_override`: a `Chart.yaml` replacing a chart's own for this hub.
    pub chart_override: Option<ChartOverride>,
    /// `domain_override_file`: repository-relative path of the file holding the hub's `domain`.
    pub domain_override_file: Option<String>,
    /// `domain:` as written: what `{domain}` stands for in `jsonnet.ext_vars`.
    pub domain: Option<String>,
}

impl Hub {
    /// What the hub is rendered from: its chart's name, or, with a `chart_override`,
    /// `<chart> with <override file>` (never a chart name: it holds a `/`). The key of
    /// its inputs in [`charts::ChartInputs`].
    pub fn chart_key(&self) -> String {
        match &self.chart_override {
            Some(o) => o.key(&self.helm_chart),
            None => self.helm_chart.clone(),
        }
    }
}

/// A hub's `chart_override`: the file whose text replaces the `Chart.yaml` of the
/// chart `replaces` (the hub's chart; for a `daskhub` hub, `basehub`, which
/// `daskhub` depends on, as the Python deployer does).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChartOverride {
    /// Repository-relative path of the override file.
    pub file: String,
    /// The chart (a folder name under [`CHARTS_DIR`]) whose `Chart.yaml` it replaces.
    pub replaces: String,
}

impl ChartOverride {
    /// The chart key of a hub of `chart` with this override ([`Hub::chart_key`]).
    pub fn key(&self, chart: &str) -> String {
        format!("{chart} with {}", self.file)
    }
}

/// The chart whose `Chart.yaml` a `chart_override` replaces for a hub of `helm_chart`: `basehub`
/// for the legacy `daskhub` chart (which depends on it), else the hub's own chart.
pub fn override_target(helm_chart: &str) -> &str {
    if helm_chart == LEGACY_DASKHUB {
        LEGACY_DASKHUB_BASE
    } else {
        helm_chart
    }
}

/// The legacy chart whose `chart_override` replaces the `Chart.yaml` of [`LEGACY_DASKHUB_BASE`].
pub const LEGACY_DASKHUB: &str = "daskhub";
/// The chart `daskhub` depends on.
pub const LEGACY_DASKHUB_BASE: &str = "basehub";

/// A Helm values file listed in `cluster.yaml`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValuesFile {
    /// Repository-relative, normalised path: what changed paths are compared with.
    pub path: String,
}

impl ValuesFile {
    /// The file name, as reasons show it.
    pub fn basename(&self) -> &str {
        repo_path::basename(&self.path)
    }
}

/// The release, namespace and chart name of a cluster's support chart.
pub const SUPPORT_RELEASE: &str = "support";

/// Where the charts are, relative to the repository root: a hub's
/// `helm_chart` names a folder here that has a `Chart.yaml`.
pub const CHARTS_DIR: &str = "helm-charts";
