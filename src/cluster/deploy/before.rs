//! The `before` steps of a deploy, as commands (pure): for each chart among
//! the targets, in the order its first release comes, the steps of
//! `charts.<chart>.before` whose conditions hold, each once per deploy.
//!
//! ```text
//! kubectl apply --server-side --force-conflicts -f <url or repository file>
//! helm upgrade --install <release> <name> --repo <https repository> --version <version> \
//!     --namespace <namespace> --create-namespace <wait, timeout and cleanup flags>
//! ```
//!
//! (an `oci://` repository is the chart reference itself: `<repository>/<name>`).
//! A provider condition compares the cluster's `provider`; a values-key
//! condition holds when the key is true (not `false`, `null`, `0` or empty) in
//! the merged values of any release of the chart being deployed.

use super::{upgrade_flags, DeployOptions, Step, StepKind, Target};
use crate::base::diagnostic::Diagnostic;
use crate::base::error::Error;
use crate::config::before::{BeforeAction, BeforeSteps};
use crate::config::{Cluster, ValuesFile};

/// The chart folder name of a target (`support`, or the hub's `helm_chart`).
pub fn chart_name<'a>(cluster: &'a Cluster, target: &'a Target) -> &'a str {
    match target {
        Target::Support => crate::config::SUPPORT_RELEASE,
        Target::Hub(name) => cluster.hubs.iter().find(|h| &h.name == name).map_or("", |h| h.helm_chart.as_str()),
    }
}

/// The `(name, version)` of each dependency in a chart's `Chart.yaml`, by chart folder name, or in
/// the `chart_override` file (repository-relative) that replaces it for a hub.
pub type DependencyReader<'a> = &'a dyn Fn(&str, Option<&str>) -> Result<Vec<(String, String)>, Error>;
/// Whether a dotted key is true in the merged values of a target.
pub type ValuesKeyReader<'a> = &'a dyn Fn(&Target, &[String]) -> Result<bool, Error>;

/// What the resolver needs from the checkout, read at the edge.
pub struct Facts<'a> {
    pub dependencies: DependencyReader<'a>,
    pub values_key: ValuesKeyReader<'a>,
    /// The settings file and its text, for messages.
    pub settings_file: &'a str,
    pub settings_text: Option<&'a str>,
}

/// The `chart_override` file of a hub target when it replaces its own chart's `Chart.yaml` (the
/// versions `{version:<name>}` reads then come from it, as the Python deployer reads them).
fn override_file<'a>(cluster: &'a Cluster, target: &Target) -> Option<&'a str> {
    let Target::Hub(name) = target else { return None };
    let hub = cluster.hubs.iter().find(|h| &h.name == name)?;
    hub.chart_override.as_ref().filter(|o| o.replaces == hub.helm_chart).map(|o| o.file.as_str())
}

/// The steps to run before `targets`, in order; each step's target is the
/// first target of its chart (a hub with a `chart_override` of that chart's
/// `Chart.yaml` is a chart of its own here: its steps run again before it,
/// with the override's versions).
pub fn before_steps(
    cluster: &Cluster,
    targets: &[Target],
    steps: &BeforeSteps,
    options: &DeployOptions,
    facts: &Facts<'_>,
) -> Result<Vec<Step>, Error> {
    let mut out = Vec::new();
    let mut seen: Vec<(&str, Option<&str>)> = Vec::new();
    for target in targets {
        let chart = chart_name(cluster, target);
        let overridden = override_file(cluster, target);
        if seen.contains(&(chart, overridden)) {
            continue;
        }
        seen.push((chart, overridden));
        let of_chart: Vec<&Target> = targets
            .iter()
            .filter(|t| chart_name(cluster, t) == chart && override_file(cluster, t) == overridden)
            .collect();
        let mut dependencies: Option<Vec<(String, String)>> = None;
        for (index, step) in steps.of(chart).iter().enumerate() {
            if let Some(providers) = &step.when.providers {
                if !providers.contains(&cluster.provider) {
                    continue;
                }
            }
            if let Some(key) = &step.when.values_key {
                let mut any = false;
                for release in &of_chart {
                    if (facts.values_key)(release, key)? {
                        any = true;
                        break;
                    }
                }
                if !any {
                    continue;
                }
            }
            let uses_versions = match &step.action {
                BeforeAction::Manifests(template) => template.dependencies().next().is_some(),
                BeforeAction::Chart(c) => c.version.dependencies().next().is_some(),
            };
            if uses_versions && dependencies.is_none() {
                dependencies = Some((facts.dependencies)(chart, overridden)?);
            }
            let known = dependencies.clone().unwrap_or_default();
            let version = |name: &str| known.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone());
            let missing = |name: String| {
                let chart_yaml = match overridden {
                    Some(file) => format!("{file} (chart_override)"),
                    None => format!("{}/{chart}/Chart.yaml", options.charts_dir.trim_end_matches('/')),
                };
                Error::Config(vec![Diagnostic::new(
                    facts.settings_file,
                    format!("`{{version:{name}}}` names a dependency that {chart_yaml} does not list with a version"),
                )
                .at(facts.settings_text.and_then(|text| {
                    use crate::config::locate::{locate, Segment};
                    let path =
                        [Segment::Key("charts"), Segment::Key(chart), Segment::Key("before"), Segment::Index(index)];
                    locate(text, &path)
                }))
                .field(format!("charts.{chart}.before[{index}]"))
                .hint(format!(
                    "add `{name}` to the dependencies of {chart_yaml}, or write the version in {}",
                    facts.settings_file
                ))])
            };
            let (argv, local_file) = match &step.action {
                BeforeAction::Manifests(template) => {
                    let source = template.fill(&version).map_err(missing)?;
                    let local = (!source.starts_with("https://")).then(|| source.clone());
                    let argv = ["kubectl", "apply", "--server-side", "--force-conflicts", "-f", &source];
                    (argv.map(str::to_owned).to_vec(), local)
                }
                BeforeAction::Chart(c) => {
                    let version = c.version.fill(&version).map_err(missing)?;
                    let mut argv: Vec<String> =
                        ["helm", "upgrade", "--install", &c.release].map(str::to_owned).to_vec();
                    if c.repository.starts_with("oci://") {
                        argv.push(format!("{}/{}", c.repository, c.name));
                    } else {
                        argv.extend([c.name.clone(), "--repo".into(), c.repository.clone()]);
                    }
                    argv.extend(["--version".into(), version, "--namespace".into(), c.namespace.clone()]);
                    argv.push("--create-namespace".into());
                    argv.extend(upgrade_flags(options));
                    (argv, None)
                }
            };
            out.push(Step {
                target: target.clone(),
                kind: StepKind::Before { chart: chart.to_owned(), index, local_file },
                argv,
            });
        }
    }
    Ok(out)
}

/// The `(name, version)` of each dependency of a `Chart.yaml` text; a file
/// that is not a plain YAML chart file lists none.
pub fn chart_dependencies(chart_yaml: &str) -> Vec<(String, String)> {
    if crate::config::yaml_guard::check(chart_yaml).is_err() {
        return Vec::new();
    }
    #[derive(serde::Deserialize)]
    struct Chart {
        #[serde(default)]
        dependencies: Option<Vec<Dependency>>,
    }
    #[derive(serde::Deserialize)]
    struct Dependency {
        name: String,
        #[serde(default)]
        version: Option<yaml_serde::Value>,
    }
    let Ok(chart) = yaml_serde::from_str::<Chart>(chart_yaml) else { return Vec::new() };
    chart
        .dependencies
        .unwrap_or_default()
        .into_iter()
        .filter_map(|d| {
            let version = match d.version? {
                yaml_serde::Value::String(text) => text,
                yaml_serde::Value::Number(number) => number.to_string(),
                _ => return None,
            };
            Some((d.name, version.trim().to_owned())).filter(|(_, v)| is_version(v))
        })
        .collect()
}

/// A version as it may go into a URL or an argument: no spaces, no leading `-`, plain characters.
fn is_version(version: &str) -> bool {
    !version.is_empty()
        && version.len() <= 128
        && !version.starts_with('-')
        && version.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '+' | '_'))
}

/// Whether a values file is read for a values-key condition: plain YAML files
/// only (`enc-*` files are encrypted, `.jsonnet` files are not YAML).
pub fn counts_for_values_key(file: &ValuesFile) -> bool {
    !crate::tools::sops::is_encrypted(&file.path) && !file.path.ends_with(".jsonnet")
}

/// Merges `over` into `base` as Helm merges values files: mappings key by key, anything else replaced.
pub fn merge_values(base: &mut yaml_serde::Value, over: yaml_serde::Value) {
    use yaml_serde::Value;
    match (base, over) {
        (Value::Mapping(base), Value::Mapping(over)) => {
            for (key, value) in over {
                match base.get_mut(&key) {
                    Some(existing) => merge_values(existing, value),
                    None => {
                        base.insert(key, value);
                    }
                }
            }
        }
        (base, over) => *base = over,
    }
}

/// Whether `key` (split at `.`) is true in `values`: present and not `false`, `null`, `0` or empty.
pub fn key_is_true(values: &yaml_serde::Value, key: &[String]) -> bool {
    use yaml_serde::Value;
    let mut at = values;
    for part in key {
        match at {
            Value::Mapping(map) => match map.get(part.as_str()) {
                Some(next) => at = next,
                None => return false,
            },
            _ => return false,
        }
    }
    match at {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Sequence(s) => !s.is_empty(),
        Value::Mapping(m) => !m.is_empty(),
        Value::Tagged(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(text: &str) -> yaml_serde::Value {
        yaml_serde::from_str(text).unwrap()
    }

    #[test]
    fn values_merge_in_order_and_keys_are_read_as_python_truth() {
        let mut merged = yaml("dask-gateway:\n  enabled: true\n  gateway: {x: 1}\njupyterhub: {}\n");
        merge_values(&mut merged, yaml("dask-gateway:\n  enabled: false\n"));
        let key = |k: &str| k.split('.').map(str::to_owned).collect::<Vec<_>>();
        assert!(!key_is_true(&merged, &key("dask-gateway.enabled")));
        assert!(key_is_true(&merged, &key("dask-gateway.gateway.x")));
        merge_values(&mut merged, yaml("dask-gateway:\n  enabled: true\n"));
        assert!(key_is_true(&merged, &key("dask-gateway.enabled")));
        assert!(!key_is_true(&merged, &key("dask-gateway.enabled.deeper")));
        assert!(!key_is_true(&merged, &key("nope.enabled")));
        for (text, want) in
            [("0", false), ("''", false), ("[]", false), ("~", false), ("1", true), ("yes-string", true)]
        {
            assert_eq!(key_is_true(&yaml(&format!("a: {text}\n")), &key("a")), want, "{text}");
        }
    }

    #[test]
    fn dependency_versions_from_chart_yaml() {
        let text = "apiVersion: v2\nname: basehub\nversion: 0.1.0\ndependencies:\n  - name: jupyterhub\n    version: 4.3.3\n    repository: https://x/\n  - name: dask-gateway\n    version: \"2026.3.0\"\n  - name: odd\n    version: '--set x'\n  - name: none\n";
        assert_eq!(
            chart_dependencies(text),
            [("jupyterhub".to_owned(), "4.3.3".to_owned()), ("dask-gateway".to_owned(), "2026.3.0".to_owned())]
        );
        assert!(chart_dependencies("dependencies: [\n").is_empty());
    }
}
