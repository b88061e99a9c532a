//! The `charts.<chart>.before` steps of `deployer.yaml`: what runs on a
//! cluster before the first release of a chart (CRDs, operators, a pinned
//! chart such as cert-manager). Pure: checked and typed here; resolved
//! against a cluster, its `Chart.yaml` and its values by [`crate::cluster::deploy`].
//!
//! A template (`manifests`, `chart.version`) may hold `{version:<name>}`:
//! the `version` of the dependency `<name>` in the chart's `Chart.yaml`.
//! No other placeholder exists; `{{` and `}}` are no escape either.

use std::collections::BTreeMap;

use super::raw::{Provider, RawBeforeChart, RawBeforeStep, RawChartSettings};
use super::suggest::did_you_mean;

/// The one placeholder's prefix: `{version:<dependency name>}`.
pub const VERSION_PLACEHOLDER: &str = "version";
/// The most steps one chart may list.
pub const MAX_STEPS: usize = 20;
/// The longest template or name accepted.
pub const MAX_LEN: usize = 512;

/// Where a problem is, below `charts`: keys and list indexes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum At {
    Key(String),
    Index(usize),
}

/// A problem in the `charts` block: where, and what (never a value from the file but names).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BeforeProblem {
    pub at: Vec<At>,
    pub message: String,
}

/// Text with `{version:<name>}` placeholders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    /// As written.
    pub source: String,
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Version(String),
}

impl Template {
    /// Parses `source`; an unknown, empty or unclosed placeholder is refused.
    pub fn parse(source: &str) -> Result<Template, String> {
        let mut parts = Vec::new();
        let mut rest = source;
        while let Some(open) = rest.find(['{', '}']) {
            if rest[open..].starts_with('}') {
                return Err("a `}` closes no placeholder; placeholders are written `{version:<dependency>}`".into());
            }
            if open > 0 {
                parts.push(Part::Text(rest[..open].to_owned()));
            }
            let after = &rest[open + 1..];
            let close = after
                .find('}')
                .ok_or_else(|| "a `{` is not closed; placeholders are written `{version:<dependency>}`".to_owned())?;
            let inner = &after[..close];
            let (kind, name) = inner.split_once(':').unwrap_or((inner, ""));
            if kind != VERSION_PLACEHOLDER {
                let plain = inner.len() <= 64
                    && inner.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'));
                let shown = if plain { format!("`{{{inner}}}`") } else { "this placeholder".to_owned() };
                return Err(match did_you_mean(kind, [VERSION_PLACEHOLDER]) {
                    Some(known) => format!("unknown placeholder {shown}; did you mean `{{{known}:{name}}}`?"),
                    None => format!("unknown placeholder {shown}; the one placeholder is `{{version:<dependency>}}`"),
                });
            }
            if !is_name(name) {
                return Err(
                    "`{version:...}` needs a dependency name (letters, digits, `-`, `_`, `.`) from the chart's `Chart.yaml`"
                        .into(),
                );
            }
            parts.push(Part::Version(name.to_owned()));
            rest = &after[close + 1..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_owned()));
        }
        Ok(Template { source: source.to_owned(), parts })
    }

    /// The dependency names the template reads, in order.
    pub fn dependencies(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|part| match part {
            Part::Version(name) => Some(name.as_str()),
            Part::Text(_) => None,
        })
    }

    /// The text with each placeholder filled by `version`; the first name it has no version for is the error.
    pub fn fill(&self, version: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(text) => out.push_str(text),
                Part::Version(name) => out.push_str(&version(name).ok_or_else(|| name.clone())?),
            }
        }
        Ok(out)
    }
}

fn is_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// A Kubernetes name: a lowercase DNS-1123 label of at most `max` characters.
fn is_label(name: &str, max: usize) -> bool {
    !name.is_empty()
        && name.len() <= max
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.starts_with('-')
        && !name.ends_with('-')
}

/// What a step does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BeforeAction {
    /// `kubectl apply --server-side --force-conflicts -f <url or repository file>`.
    Manifests(Template),
    /// `helm upgrade --install --create-namespace` of a chart from a repository.
    Chart(BeforeChart),
}

/// The chart of a step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BeforeChart {
    pub name: String,
    /// `https://...` (passed as `--repo`) or `oci://...` (the name is appended).
    pub repository: String,
    pub version: Template,
    pub release: String,
    pub namespace: String,
}

/// When a step runs; no condition: always.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Condition {
    /// Only on clusters of these providers.
    pub providers: Option<Vec<Provider>>,
    /// Only when this key (split at `.`) is true in a deployed release's merged values.
    pub values_key: Option<Vec<String>>,
}

/// One step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BeforeStep {
    pub action: BeforeAction,
    pub when: Condition,
}

/// Every chart's steps, by chart folder name; empty by default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BeforeSteps {
    pub charts: BTreeMap<String, Vec<BeforeStep>>,
}

impl BeforeSteps {
    /// The steps of `chart` (none when it has no entry).
    pub fn of(&self, chart: &str) -> &[BeforeStep] {
        self.charts.get(chart).map_or(&[], Vec::as_slice)
    }
}

/// The hint of every problem in the `charts` block.
pub const HINT: &str = "`charts.<chart>.before` lists steps, each `manifests: <https URL or repository file>` or \
     `chart: {name, repository, version, release, namespace}`, with an optional \
     `when: {providers: [aws], values_key: dask-gateway.enabled}`; `{version:<dependency>}` reads a version \
     from the chart's Chart.yaml";

/// Checks the `charts` block.
pub fn from_raw(raw: Option<BTreeMap<String, RawChartSettings>>) -> Result<BeforeSteps, BeforeProblem> {
    let mut steps = BeforeSteps::default();
    for (chart, settings) in raw.unwrap_or_default() {
        let at = |more: &[At]| {
            let mut at = vec![At::Key(chart.clone())];
            at.extend_from_slice(more);
            at
        };
        let fail = |more: &[At], message: String| Err(BeforeProblem { at: at(more), message });
        if !is_name(&chart) {
            return fail(
                &[],
                "a chart is named by its folder under `helm-charts/` (letters, digits, `-`, `_`, `.`)".into(),
            );
        }
        let list = settings.before.unwrap_or_default();
        if list.len() > MAX_STEPS {
            return fail(
                &[At::Key("before".into())],
                format!("the list has {} steps; at most {MAX_STEPS} are accepted", list.len()),
            );
        }
        let mut typed = Vec::new();
        for (index, step) in list.into_iter().enumerate() {
            let here = [At::Key("before".into()), At::Index(index)];
            typed.push(step_from_raw(step).map_err(|(more, message)| {
                let mut more_at: Vec<At> = here.to_vec();
                more_at.extend(more.into_iter().map(|k| At::Key(k.to_owned())));
                BeforeProblem { at: at(&more_at), message }
            })?);
        }
        steps.charts.insert(chart, typed);
    }
    Ok(steps)
}

fn step_from_raw(raw: RawBeforeStep) -> Result<BeforeStep, (Vec<&'static str>, String)> {
    let action = match (raw.manifests, raw.chart) {
        (Some(_), Some(_)) => {
            return Err((vec![], "a step has both `manifests` and `chart`; write one step for each".into()));
        }
        (None, None) => return Err((vec![], "a step needs `manifests` or `chart`".into())),
        (Some(source), None) => BeforeAction::Manifests(manifests(&source).map_err(|m| (vec!["manifests"], m))?),
        (None, Some(chart)) => BeforeAction::Chart(chart_from_raw(chart)?),
    };
    let when = match raw.when {
        None => Condition::default(),
        Some(when) => {
            if when.providers.as_ref().is_some_and(Vec::is_empty) {
                return Err((vec!["when", "providers"], "the list is empty, so the step would never run".into()));
            }
            let values_key = match when.values_key {
                None => None,
                Some(key) => {
                    let parts: Vec<String> = key.split('.').map(str::to_owned).collect();
                    if key.len() > MAX_LEN || parts.iter().any(String::is_empty) {
                        return Err((
                            vec!["when", "values_key"],
                            "expected a dotted key such as `dask-gateway.enabled`, with no empty part".into(),
                        ));
                    }
                    Some(parts)
                }
            };
            Condition { providers: when.providers, values_key }
        }
    };
    Ok(BeforeStep { action, when })
}

fn manifests(source: &str) -> Result<Template, String> {
    if source.len() > MAX_LEN {
        return Err(format!("longer than {MAX_LEN} characters"));
    }
    let template = Template::parse(source)?;
    if source.starts_with("https://") {
        return Ok(template);
    }
    if source.contains("://") {
        return Err("a URL must be `https://`".into());
    }
    if source.starts_with('/') || source.contains('\\') || source.split('/').any(|s| s == ".." || s.is_empty()) {
        return Err("expected an `https://` URL or a repository-relative file (no leading `/`, no `..`)".into());
    }
    Ok(template)
}

fn chart_from_raw(raw: RawBeforeChart) -> Result<BeforeChart, (Vec<&'static str>, String)> {
    if !is_name(&raw.name) || raw.name.starts_with('.') {
        return Err((vec!["chart", "name"], "expected a chart name (letters, digits, `-`, `_`, `.`)".into()));
    }
    let repository = raw.repository.trim_end_matches('/').to_owned();
    let valid_repository = (repository.starts_with("https://") || repository.starts_with("oci://"))
        && repository.len() <= MAX_LEN
        && !repository.contains(char::is_whitespace)
        && repository.split_once("://").is_some_and(|(_, rest)| !rest.is_empty());
    if !valid_repository {
        return Err((
            vec!["chart", "repository"],
            "expected an `https://` Helm repository or an `oci://` registry path".into(),
        ));
    }
    if raw.version.trim().is_empty() || raw.version.len() > MAX_LEN {
        return Err((
            vec!["chart", "version"],
            "expected a version, such as `v1.20.3` or `{version:<dependency>}`".into(),
        ));
    }
    let version = Template::parse(&raw.version).map_err(|m| (vec!["chart", "version"], m))?;
    if version.source.starts_with('-') || version.source.contains(char::is_whitespace) {
        return Err((vec!["chart", "version"], "a version has no spaces and does not start with `-`".into()));
    }
    if !is_label(&raw.release, 53) {
        return Err((
            vec!["chart", "release"],
            "expected a release name: lowercase letters, digits and `-`, at most 53".into(),
        ));
    }
    if !is_label(&raw.namespace, 63) {
        return Err((
            vec!["chart", "namespace"],
            "expected a namespace: lowercase letters, digits and `-`, at most 63".into(),
        ));
    }
    Ok(BeforeChart { name: raw.name, repository, version, release: raw.release, namespace: raw.namespace })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_fill_versions_and_refuse_other_placeholders() {
        let template = Template::parse("https://x/{version:dask-gateway}/crds/{version:dask-gateway}.yaml").unwrap();
        assert_eq!(template.dependencies().collect::<Vec<_>>(), ["dask-gateway", "dask-gateway"]);
        let filled = template.fill(&|name| (name == "dask-gateway").then(|| "2026.3.0".to_owned())).unwrap();
        assert_eq!(filled, "https://x/2026.3.0/crds/2026.3.0.yaml");
        assert_eq!(template.fill(&|_| None).unwrap_err(), "dask-gateway");
        assert_eq!(Template::parse("v1.20.3").unwrap().fill(&|_| None).unwrap(), "v1.20.3");
        let cases = [
            ("x/{versoin:a}", "unknown placeholder `{versoin:a}`; did you mean `{version:a}`?"),
            ("x/{cluster}", "unknown placeholder `{cluster}`; the one placeholder is `{version:<dependency>}`"),
            ("x/{version:}", "`{version:...}` needs a dependency name"),
            ("x/{version", "a `{` is not closed"),
            ("x}", "a `}` closes no placeholder"),
        ];
        for (source, want) in cases {
            let error = Template::parse(source).unwrap_err();
            assert!(error.starts_with(want), "{source}: {error}");
        }
    }
}
