//! The configuration files as written: serde types with no validation beyond
//! their shape. [`super::cluster`] and [`super::settings`] turn them into typed config.
//!
//! The JSON Schemas in `schemas/` are generated from these types
//! (`deployer schema cluster` / `deployer schema settings`).

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;

use super::labels::{LABELS, LABEL_COUNT, LABEL_KEYS};

/// How a job gets credentials for a cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, serde::Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    Gcp,
    Aws,
    Azure,
    Kubeconfig,
}

impl Provider {
    /// The name used in `cluster.yaml` and in the matrices.
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Gcp => "gcp",
            Provider::Aws => "aws",
            Provider::Azure => "azure",
            Provider::Kubeconfig => "kubeconfig",
        }
    }
}

/// `config/clusters/<cluster>/cluster.yaml`. Other keys are ignored, but a key
/// close to one listed here is an error: it is taken for a misspelling.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(title = "deployer cluster.yaml")]
pub struct RawCluster {
    /// Cluster name, unique across the repository: lowercase letters, digits, `-` and `.`.
    pub name: String,
    /// Cloud provider, which decides how a job gets cluster credentials.
    pub provider: Provider,
    /// The support chart of this cluster; absent or empty means the cluster has none.
    #[serde(default)]
    pub support: Option<RawSupport>,
    /// The hubs (Helm releases) on this cluster.
    #[serde(default)]
    pub hubs: Option<Vec<RawHub>>,
    /// Where the GKE cluster is (provider `gcp`). Checked by setup-cluster, not by the planner.
    #[serde(default)]
    pub gcp: Option<RawGcp>,
    /// Where the EKS cluster is (provider `aws`).
    #[serde(default)]
    pub aws: Option<RawAws>,
    /// Where the AKS cluster is (provider `azure`).
    #[serde(default)]
    pub azure: Option<RawAzure>,
    /// The kubeconfig file (provider `kubeconfig`).
    #[serde(default)]
    pub kubeconfig: Option<RawKubeconfig>,
    /// A link to the cluster in its provider's console. For a `kubeconfig` cluster, its host says which
    /// provider `{provider}` stands for in `deployer.yaml`'s `health_checks` (`azure`, `openstack`).
    #[serde(default)]
    pub provider_url: Option<String>,
}

/// The `gcp` block of a cluster.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, JsonSchema)]
pub struct RawGcp {
    /// GCP project ID.
    pub project: Option<String>,
    /// GKE cluster name.
    pub cluster: Option<String>,
    /// Zone or region of the cluster.
    pub zone: Option<String>,
    /// A sops-encrypted service-account key (JSON) in the cluster folder, used
    /// by setup-cluster when no credential input is given.
    pub key: Option<String>,
}

/// The `aws` block of a cluster.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, JsonSchema)]
pub struct RawAws {
    /// AWS account ID (12 digits).
    #[serde(default, deserialize_with = "string_or_number")]
    #[schemars(with = "Option<serde_json::Value>")]
    pub account: Option<String>,
    /// EKS cluster name.
    #[serde(rename = "clusterName")]
    pub cluster_name: Option<String>,
    /// AWS region.
    pub region: Option<String>,
    /// A sops-encrypted copy of the JSON `aws iam create-access-key` prints, in
    /// the cluster folder, used by setup-cluster when no credential input is given.
    pub key: Option<String>,
}

/// The `azure` block of a cluster.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, JsonSchema)]
pub struct RawAzure {
    /// Resource group of the AKS cluster.
    pub resource_group: Option<String>,
    /// AKS cluster name.
    pub cluster: Option<String>,
}

/// The `kubeconfig` block of a cluster.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, JsonSchema)]
pub struct RawKubeconfig {
    /// Kubeconfig file relative to the cluster folder; `enc-*` files are decrypted with sops.
    pub file: Option<String>,
}

/// Accepts `123456789012` as well as `"123456789012"`: account IDs are often written unquoted.
fn string_or_number<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Text {
        Text(String),
        Number(u64),
    }
    Ok(Option::<Text>::deserialize(deserializer)?.map(|value| match value {
        Text::Text(text) => text,
        Text::Number(number) => format!("{number:012}"),
    }))
}

/// The `support` block of a cluster.
// Whether the block has any key is read from the document's position index,
// not collected here, so that errors inside it keep their positions.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct RawSupport {
    /// Values files for the support chart, relative to the cluster folder, in the order Helm applies them.
    #[serde(default)]
    pub helm_chart_values_files: Option<Vec<String>>,
}

/// One hub in a cluster's `hubs` list.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct RawHub {
    /// Hub name: the Helm release and namespace name (lowercase DNS-1123 label, at most 53 characters).
    pub name: String,
    /// Chart to deploy: a folder under `helm-charts/` with a `Chart.yaml`.
    // Required, but checked after parsing, so that every hub missing it is
    // reported (serde reads a missing `Option` field as `None`).
    #[schemars(required, with = "String")]
    pub helm_chart: Option<String>,
    /// Values files relative to the cluster folder, in the order Helm applies them.
    #[serde(default)]
    pub helm_chart_values_files: Option<Vec<String>>,
    /// A `Chart.yaml` that replaces the one of `basehub` for this hub only (for a `daskhub` hub, the one of the
    /// `basehub` it depends on), to pin other dependency versions: relative to the cluster folder, or to the
    /// repository root when it holds a `/`. Render, diff and deploy use a copy of the chart with it.
    #[serde(default)]
    pub chart_override: Option<String>,
    /// A file in the cluster folder (usually sops-encrypted, `enc-*`) holding this hub's `domain`, which
    /// replaces the one in `cluster.yaml`. An input of the hub: editing it upgrades the hub.
    #[serde(default)]
    pub domain_override_file: Option<String>,
    /// The hub's domain: what `{domain}` stands for in `jsonnet.ext_vars`.
    #[serde(default)]
    pub domain: Option<String>,
}

/// `deployer.yaml` at the repository root: every pattern the planner uses. All fields are optional.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "deployer.yaml")]
pub struct RawSettings {
    /// Where the `cluster.yaml` files are.
    #[serde(default)]
    pub clusters: Option<RawClusterDiscovery>,
    /// Changed paths matching these globs redeploy every hub. A glob starting with `!` excludes what
    /// the globs before it match; as in a workflow's `paths:`, the last glob a path matches decides.
    #[serde(default)]
    pub redeploy_all_hubs: Option<Vec<String>>,
    /// Changed paths matching these globs redeploy every support chart (`!` excludes as in `redeploy_all_hubs`).
    #[serde(default)]
    pub redeploy_all_support: Option<Vec<String>>,
    /// A hub whose name matches this glob is a staging hub (a canary for its cluster's prod hubs).
    #[serde(default)]
    pub staging_hub_pattern: Option<String>,
    /// The pull-request label names the planner reacts to.
    #[serde(default)]
    pub labels: Option<RawLabels>,
    /// How changed chart folders (`helm-charts/**`) are planned; `paths` when absent.
    #[serde(default)]
    pub impact: Option<Impact>,
    /// How rendered manifests are compared (the rendered-manifest diff).
    #[serde(default)]
    pub render: Option<RawRender>,
    /// Changes outside the Helm values (Terraform, eksctl, ...) that plan health checks of the hubs
    /// they can break. With no rules, no health checks are planned.
    #[serde(default)]
    pub health_checks: Option<RawHealthChecks>,
    /// Per chart (a folder name under `helm-charts/`): what to do on a cluster before its releases of that chart.
    #[serde(default)]
    pub charts: Option<BTreeMap<String, RawChartSettings>>,
    /// How `.jsonnet` values files are rendered.
    #[serde(default)]
    pub jsonnet: Option<RawJsonnet>,
    /// Progressive rollouts: changes of these charts reach the hubs in waves, the first wave running
    /// the head and each later wave the commit pinned for it in the state file.
    #[serde(default)]
    pub rollout: Option<RawRollout>,
}

/// The `rollout` block of `deployer.yaml`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawRollout {
    /// Chart folders under `helm-charts/` that roll out in waves (others deploy everywhere at once);
    /// each must be the chart of some hub.
    #[serde(default)]
    pub charts: Option<Vec<String>>,
    /// The committed pins of the later waves, repository-relative; `config/rollout.yaml` when absent.
    #[serde(default)]
    pub state_file: Option<String>,
    /// The waves, in order. Every hub is in exactly one: the first wave whose selector selects it, or
    /// the last wave, which has no selector and catches every other hub.
    #[serde(default)]
    pub waves: Option<Vec<RawWave>>,
}

/// One wave of `rollout.waves`. A wave before the last selects hubs by every criterion it gives
/// (a hub must meet them all); the last wave gives none.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawWave {
    /// The wave's name: lowercase letters, digits and `-`, unique.
    pub name: String,
    /// `<cluster>/<hub>` globs (`*/staging`, `2i2c/*`); a glob starting with `!` excludes what the globs
    /// before it match.
    #[serde(default)]
    pub hubs: Option<Vec<String>>,
    /// Cluster-name globs (`!` excludes as in `hubs`).
    #[serde(default)]
    pub clusters: Option<Vec<String>>,
    /// Cluster providers.
    #[serde(default)]
    pub providers: Option<Vec<Provider>>,
    /// `true`: only staging hubs (`staging_hub_pattern`); `false`: only the others.
    #[serde(default)]
    pub staging: Option<bool>,
    /// How long the wave runs a change before the next wave may get it: a number and a unit,
    /// `m` (minutes), `h`, `d` or `w` (`30m`, `12h`, `2d`, `1w`).
    #[serde(default)]
    pub soak: Option<String>,
}

/// The rollout state file (`rollout.state_file`): per rolled chart, per later wave, its pin.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRolloutState {
    #[serde(default)]
    pub pins: Option<BTreeMap<String, Option<BTreeMap<String, RawPin>>>>,
}

/// One pin: the commit a wave runs a chart at, and since when.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPin {
    pub commit: String,
    pub since: String,
}

/// One chart's entry under `charts` in `deployer.yaml`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawChartSettings {
    /// Steps run on a cluster before the first release of this chart, once per cluster per deploy
    /// (a leg deploying several hubs of the chart runs them once), in order. Each step is either
    /// `manifests` (applied with `kubectl apply --server-side --force-conflicts -f`) or `chart`
    /// (installed with `helm upgrade --install --create-namespace`).
    #[serde(default)]
    pub before: Option<Vec<RawBeforeStep>>,
    /// Values files (repository-relative) given to every release of this chart, in order, before the
    /// chart's own `values.jsonnet` and the release's own files; `enc-*` files are decrypted with
    /// sops, `.jsonnet` files rendered. Inputs of every release of the chart.
    #[serde(default)]
    pub values_files: Option<Vec<String>>,
}

/// One `before` step: exactly one of `manifests` and `chart`, and an optional `when`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawBeforeStep {
    /// An `https://` URL or a repository-relative file of Kubernetes manifests. `{version:<name>}`
    /// stands for the version of the dependency `<name>` in the chart's `Chart.yaml`.
    #[serde(default)]
    pub manifests: Option<String>,
    /// A chart from a Helm repository (`https://`) or an OCI registry (`oci://`).
    #[serde(default)]
    pub chart: Option<RawBeforeChart>,
    /// Run the step only when every condition given holds.
    #[serde(default)]
    pub when: Option<RawBeforeWhen>,
}

/// The `chart` of a `before` step.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawBeforeChart {
    /// Chart name in its repository, such as `cert-manager`.
    pub name: String,
    /// `https://` Helm repository (`--repo`), or `oci://` registry path the name is appended to.
    pub repository: String,
    /// Chart version (`--version`); `{version:<name>}` reads it from the chart's `Chart.yaml` dependencies.
    pub version: String,
    /// Helm release name.
    pub release: String,
    /// Namespace of the release (created when missing).
    pub namespace: String,
}

/// The conditions of a `before` step; a step without them always runs.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawBeforeWhen {
    /// Run only on clusters whose `provider` is one of these.
    #[serde(default)]
    pub providers: Option<Vec<Provider>>,
    /// Run only when this dotted key (such as `dask-gateway.enabled`) is true in the merged values of
    /// a release of the chart being deployed (its plain values files in order; `enc-*` and `.jsonnet` files not read).
    #[serde(default)]
    pub values_key: Option<String>,
}

/// The `jsonnet` block of `deployer.yaml`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawJsonnet {
    /// Ext-strs passed to every `.jsonnet` render: name to a template with the placeholders `{cluster}`,
    /// `{provider}`, `{account}` (AWS account or GCP project), `{hub}`, `{domain}` and
    /// `{provider_cluster_name}` (the AWS `clusterName` on AWS, else the cluster name); `{{`/`}}` are
    /// literal braces. A variable using `{hub}` or `{domain}` is not set for the support chart.
    #[serde(default)]
    pub ext_vars: Option<BTreeMap<String, String>>,
}

/// The `health_checks` block of `deployer.yaml`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawHealthChecks {
    /// Globs with a `{cluster}` placeholder (and optionally `{provider}`): a changed path matching one
    /// for a cluster checks every hub of that cluster, such as `terraform/{provider}/projects/{cluster}.tfvars`.
    #[serde(default)]
    pub cluster_paths: Option<Vec<String>>,
    /// Globs with a `{provider}` placeholder: a changed path matching one for a provider checks every hub
    /// of every cluster of that provider, such as `terraform/{provider}/modules/**`. A `kubeconfig`
    /// cluster's provider comes from its `provider_url` (a host with `azure`: `azure`; `jetstream`: `openstack`).
    /// A glob starting with `!` excludes what the globs before it in its list matched (the last glob
    /// that matches a path decides, as in a workflow's `paths:`). A placeholder stands outside any
    /// `{a,b}` group.
    #[serde(default)]
    pub provider_paths: Option<Vec<String>>,
    /// Per provider (`gcp`, `aws`, `azure`, `kubeconfig`, `openstack`: what `{provider}` stands for),
    /// globs of paths that do not name the provider and check every hub of every cluster of it,
    /// such as `aws: [eksctl/libsonnet/**, eksctl/template.jsonnet]`. `!` excludes as above.
    #[serde(default)]
    pub providers: Option<BTreeMap<String, Vec<String>>>,
    /// Per cluster name, globs of that cluster's paths that are not named after it and check
    /// every hub of that cluster, such as `2i2c: [terraform/gcp/projects/pilot-hubs.tfvars]`.
    /// `!` excludes as above.
    #[serde(default)]
    pub clusters: Option<BTreeMap<String, Vec<String>>>,
}

/// The `render` block of `deployer.yaml`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawRender {
    /// Parts of rendered objects the diff leaves out: a Kubernetes kind (`Deployment`, or `*` for
    /// every kind) to JSON pointers (`/spec/replicas`, `/metadata/annotations/foo~1bar`; `~1` is `/`,
    /// `~0` is `~`, and a `*` segment matches any key or list index).
    #[serde(default)]
    pub ignore: Option<BTreeMap<String, Vec<String>>>,
}

/// How a change under the charts folder is planned.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Impact {
    /// Every path is matched against `redeploy_all_hubs` and `redeploy_all_support`, and a chart
    /// folder also upgrades the hubs and support charts whose chart inputs hold it.
    #[default]
    Paths,
    /// Paths under `helm-charts/` are not matched against `redeploy_all_hubs` and
    /// `redeploy_all_support`: only the hubs and support charts whose chart (or one of its
    /// `file://` dependencies, transitively) holds the path are upgraded.
    ChartDependencies,
}

/// The `clusters` block of `deployer.yaml`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawClusterDiscovery {
    /// Glob of the cluster files, relative to the repository root.
    #[serde(default)]
    pub glob: Option<String>,
    /// Globs of cluster files to skip (templates and the like); a glob starting with `!` takes back
    /// what the globs before it skip.
    #[serde(default)]
    pub exclude: Option<Vec<String>>,
}

/// The `labels` block of `deployer.yaml`: per row of [`LABELS`], the name given
/// under its key, if any. Its keys and schema are read from [`LABELS`], so that a
/// label is added in one place; it reads as a struct derived with
/// `deny_unknown_fields` and `Option` fields would.
#[derive(Debug, Default)]
pub struct RawLabels {
    pub names: [Option<String>; LABEL_COUNT],
}

const RAW_LABELS_DESCRIPTION: &str = "The `labels` block of `deployer.yaml`.";

/// A key of the `labels` block, read as serde reads a derived struct's field name.
struct LabelKey(usize);

impl<'de> Deserialize<'de> for LabelKey {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl serde::de::Visitor<'_> for KeyVisitor {
            type Value = LabelKey;
            fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
                formatter.write_str("field identifier")
            }
            fn visit_str<E: serde::de::Error>(self, key: &str) -> Result<LabelKey, E> {
                LABEL_KEYS
                    .iter()
                    .position(|known| *known == key)
                    .map(LabelKey)
                    .ok_or_else(|| E::unknown_field(key, &LABEL_KEYS))
            }
        }
        deserializer.deserialize_identifier(KeyVisitor)
    }
}

impl<'de> Deserialize<'de> for RawLabels {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct LabelsVisitor;
        impl<'de> serde::de::Visitor<'de> for LabelsVisitor {
            type Value = RawLabels;
            fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
                formatter.write_str("struct RawLabels")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<RawLabels, A::Error> {
                let mut raw = RawLabels::default();
                let mut seen = [false; LABEL_COUNT];
                while let Some(LabelKey(index)) = map.next_key()? {
                    if std::mem::replace(&mut seen[index], true) {
                        return Err(serde::de::Error::duplicate_field(LABEL_KEYS[index]));
                    }
                    raw.names[index] = map.next_value()?;
                }
                Ok(raw)
            }
        }
        deserializer.deserialize_struct("RawLabels", &LABEL_KEYS, LabelsVisitor)
    }
}

impl JsonSchema for RawLabels {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "RawLabels".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let properties: serde_json::Map<String, serde_json::Value> = LABELS
            .iter()
            .map(|rule| {
                let property = serde_json::json!({
                    "description": rule.effect,
                    "type": ["string", "null"],
                    "default": null,
                });
                (rule.key.to_owned(), property)
            })
            .collect();
        schemars::json_schema!({
            "description": RAW_LABELS_DESCRIPTION,
            "type": "object",
            "properties": properties,
            "additionalProperties": false,
        })
    }
}
