//! Synthetic repositories for the `generate` benchmark.
//!
//! [`write_repo`] lays out `clusters` clusters of [`HUBS_PER_CLUSTER`] hubs each, in the
//! format `deployer validate` accepts:
//!
//! ```text
//! helm-charts/basehub/{Chart,values}.yaml
//! helm-charts/support/{Chart,values}.yaml
//! config/clusters/cluster-0001/cluster.yaml
//! config/clusters/cluster-0001/support.values.yaml
//! config/clusters/cluster-0001/common.values.yaml
//! config/clusters/cluster-0001/{staging,dask-staging,hub1..hub8}.values.yaml
//! ...
//! ```
//!
//! There is no `deployer.yaml`, so the default settings apply: `*staging*` hubs are
//! staging hubs, a change under `helm-charts/basehub/` redeploys every hub and one
//! under `helm-charts/support/` every support chart.

use std::fs;
use std::path::Path;

use anyhow::Context;

/// Hubs of every cluster, in `cluster.yaml` order: two staging hubs, then eight prod hubs.
pub const HUBS: [&str; 10] =
    ["staging", "dask-staging", "hub1", "hub2", "hub3", "hub4", "hub5", "hub6", "hub7", "hub8"];

/// Hubs per cluster.
pub const HUBS_PER_CLUSTER: usize = HUBS.len();

/// Staging hubs per cluster (names matching the default `*staging*` pattern).
pub const STAGING_HUBS_PER_CLUSTER: usize = 2;

/// Providers, assigned to clusters in turn.
pub const PROVIDERS: [&str; 4] = ["gcp", "aws", "azure", "kubeconfig"];

/// The changed paths that trigger every hub and every support chart under the default settings.
pub const CHANGE_EVERYTHING: &str = "helm-charts/basehub/values.yaml,helm-charts/support/values.yaml";

/// What [`write_repo`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    pub clusters: usize,
    pub hubs: usize,
    pub files: usize,
    pub bytes: u64,
}

/// The name of cluster `index` (1-based): `cluster-0001`.
pub fn cluster_name(index: usize) -> String {
    format!("cluster-{index:04}")
}

/// Writes a repository of `clusters` clusters under `root` (which should be empty).
pub fn write_repo(root: &Path, clusters: usize) -> anyhow::Result<Layout> {
    let mut layout = Layout { clusters, hubs: clusters * HUBS_PER_CLUSTER, files: 0, bytes: 0 };
    for chart in ["basehub", "support"] {
        write(
            &mut layout,
            &root.join("helm-charts").join(chart).join("values.yaml"),
            &format!("# Default values of the synthetic {chart} chart.\nreplicas: 1\n"),
        )?;
        // A hub's chart must be a folder with a Chart.yaml.
        write(
            &mut layout,
            &root.join("helm-charts").join(chart).join("Chart.yaml"),
            &format!("apiVersion: v2\nname: {chart}\nversion: 0.1.0\n"),
        )?;
    }
    let clusters_dir = root.join("config").join("clusters");
    for index in 1..=clusters {
        let name = cluster_name(index);
        let dir = clusters_dir.join(&name);
        let provider = PROVIDERS[(index - 1) % PROVIDERS.len()];
        write(&mut layout, &dir.join("cluster.yaml"), &cluster_yaml(&name, provider))?;
        write(
            &mut layout,
            &dir.join("support.values.yaml"),
            &format!("# Support chart values of {name}.\nprometheus:\n  enabled: true\n"),
        )?;
        write(
            &mut layout,
            &dir.join("common.values.yaml"),
            &format!("# Values shared by every hub of {name}.\nsingleuser:\n  cpu: 1\n"),
        )?;
        for hub in HUBS {
            write(
                &mut layout,
                &dir.join(format!("{hub}.values.yaml")),
                &format!("# Values of hub {hub} on {name}.\nhub:\n  name: {hub}\n"),
            )?;
        }
    }
    Ok(layout)
}

/// The text of one `cluster.yaml`.
pub fn cluster_yaml(name: &str, provider: &str) -> String {
    let mut text = format!(
        "name: {name}\n\
         provider: {provider}\n\
         # Credentials block, ignored by the planner (as in real cluster files).\n\
         {provider}:\n  \
           account: synthetic-{name}\n\
         support:\n  \
           helm_chart_values_files:\n    \
             - support.values.yaml\n\
         hubs:\n"
    );
    for hub in HUBS {
        text.push_str(&format!(
            "  - name: {hub}\n    \
               helm_chart: basehub\n    \
               helm_chart_values_files:\n      \
                 - common.values.yaml\n      \
                 - {hub}.values.yaml\n"
        ));
    }
    text
}

fn write(layout: &mut Layout, path: &Path, text: &str) -> anyhow::Result<()> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    }
    fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
    layout.files += 1;
    layout.bytes += text.len() as u64;
    Ok(())
}
