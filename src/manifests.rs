//! Rendered Kubernetes manifests (`helm template` output), normalised so that
//! two renders compare by what would change in the cluster: one object per
//! apiVersion/kind/namespace/name, sorted; `Secret` values redacted (keys
//! kept); annotations that helm computes from random or secret content
//! (`checksum/*` by default) dropped. Pure: text in, values out.
//!
//! This is the core of the rendered-manifest diff (issue 13); the renders
//! themselves and the plan's use of them are not wired yet.

use std::collections::BTreeMap;

use serde::Deserialize;
use yaml_serde::Value;

use crate::config::yaml_guard;

/// What a redacted `Secret` value is replaced by.
pub const REDACTED: &str = "<redacted>";

/// Annotation prefixes ignored by default: helm charts compute them from
/// rendered (often random) content, so they differ between identical renders.
pub const DEFAULT_IGNORED_ANNOTATION_PREFIXES: &[&str] = &["checksum/"];

/// Which object, in the cluster.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ObjectKey {
    pub api_version: String,
    pub kind: String,
    /// Empty for cluster-scoped objects and for objects a chart leaves to the release namespace.
    pub namespace: String,
    pub name: String,
}

impl std::fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.namespace.is_empty() {
            write!(f, "{} {} {}", self.api_version, self.kind, self.name)
        } else {
            write!(f, "{} {} {}/{}", self.api_version, self.kind, self.namespace, self.name)
        }
    }
}

/// How to normalise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NormaliseRules {
    /// Annotations whose key starts with one of these are dropped.
    pub ignored_annotation_prefixes: Vec<String>,
}

impl Default for NormaliseRules {
    fn default() -> Self {
        NormaliseRules {
            ignored_annotation_prefixes: DEFAULT_IGNORED_ANNOTATION_PREFIXES.iter().map(|p| (*p).to_owned()).collect(),
        }
    }
}

impl NormaliseRules {
    /// The rules of a repository's settings (`render.ignore` in `deployer.yaml`).
    pub fn from_settings(_settings: &crate::config::Settings) -> Self {
        NormaliseRules::default()
    }
}

/// A render, one normalised YAML text per object.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Manifests {
    pub objects: BTreeMap<ObjectKey, String>,
}

/// Why a render could not be normalised.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    #[error("the rendered manifests use YAML anchors or aliases, or nest too deeply")]
    Unbounded,
    #[error("document {document} of the rendered manifests is not YAML: {message}")]
    NotYaml { document: usize, message: String },
    #[error("document {document} of the rendered manifests is not a Kubernetes object (needs apiVersion, kind and metadata.name)")]
    NotAnObject { document: usize },
    #[error("the rendered manifests hold {key} twice")]
    Duplicate { key: String },
}

/// Splits `rendered` into objects and normalises each.
pub fn normalise(rendered: &str, rules: &NormaliseRules) -> Result<Manifests, ManifestError> {
    if !yaml_guard::is_bounded(rendered) {
        return Err(ManifestError::Unbounded);
    }
    let mut manifests = Manifests::default();
    for (index, document) in yaml_serde::Deserializer::from_str(rendered).enumerate() {
        let number = index + 1;
        let value = Value::deserialize(document)
            .map_err(|e| ManifestError::NotYaml { document: number, message: without_location(&e.to_string()) })?;
        if value.is_null() {
            continue; // an empty document: a template that rendered nothing
        }
        let (key, object) = normalise_object(value, rules).ok_or(ManifestError::NotAnObject { document: number })?;
        let text = yaml_serde::to_string(&object)
            .map_err(|e| ManifestError::NotYaml { document: number, message: without_location(&e.to_string()) })?;
        if manifests.objects.insert(key.clone(), text).is_some() {
            return Err(ManifestError::Duplicate { key: key.to_string() });
        }
    }
    Ok(manifests)
}

/// The object's key, and the object with redactions and ignored fields removed.
fn normalise_object(mut object: Value, rules: &NormaliseRules) -> Option<(ObjectKey, Value)> {
    let text = |value: Option<&Value>| value.and_then(Value::as_str).map(str::to_owned);
    let key = ObjectKey {
        api_version: text(object.get("apiVersion"))?,
        kind: text(object.get("kind"))?,
        namespace: text(object.get("metadata").and_then(|m| m.get("namespace"))).unwrap_or_default(),
        name: text(object.get("metadata").and_then(|m| m.get("name")))?,
    };
    drop_ignored_annotations(&mut object, rules, 0);
    if key.kind == "Secret" && key.api_version == "v1" {
        for field in ["data", "stringData"] {
            if let Some(values) = object.get_mut(field).and_then(Value::as_mapping_mut) {
                for (_, value) in values.iter_mut() {
                    *value = Value::String(REDACTED.to_owned());
                }
            }
        }
    }
    Some((key, object))
}

/// Drops the ignored annotations of every `metadata` in `value`: the
/// object's own and those of the pod templates it holds
/// (`spec.template.metadata`, `spec.jobTemplate.spec.template.metadata`),
/// where charts put `checksum/*`. An emptied `annotations` goes too.
fn drop_ignored_annotations(value: &mut Value, rules: &NormaliseRules, depth: usize) {
    // Nesting is bounded by `yaml_guard` already; this only keeps the walk finite by construction.
    if depth > 64 {
        return;
    }
    match value {
        Value::Mapping(mapping) => {
            if let Some(metadata) = mapping.get_mut("metadata").and_then(Value::as_mapping_mut) {
                if let Some(annotations) = metadata.get_mut("annotations").and_then(Value::as_mapping_mut) {
                    annotations.retain(|name, _| {
                        let name = name.as_str().unwrap_or_default();
                        !rules.ignored_annotation_prefixes.iter().any(|prefix| name.starts_with(prefix.as_str()))
                    });
                    if annotations.is_empty() {
                        metadata.remove("annotations");
                    }
                }
            }
            for (_, inner) in mapping.iter_mut() {
                drop_ignored_annotations(inner, rules, depth + 1);
            }
        }
        Value::Sequence(items) => items.iter_mut().for_each(|item| drop_ignored_annotations(item, rules, depth + 1)),
        _ => {}
    }
}

/// A YAML error without its position text, which can quote the document.
fn without_location(message: &str) -> String {
    message.split(" at line ").next().unwrap_or(message).to_owned()
}

/// What changed between two renders of one release.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObjectChanges {
    pub added: Vec<ObjectKey>,
    pub removed: Vec<ObjectKey>,
    pub changed: Vec<ObjectKey>,
}

impl ObjectChanges {
    /// True when the cluster would see no change.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.changed.is_empty()
    }
}

/// The objects added, removed and changed from `base` to `head`, in key order.
pub fn compare(base: &Manifests, head: &Manifests) -> ObjectChanges {
    let mut changes = ObjectChanges::default();
    for (key, text) in &head.objects {
        match base.objects.get(key) {
            None => changes.added.push(key.clone()),
            Some(before) if before != text => changes.changed.push(key.clone()),
            Some(_) => {}
        }
    }
    changes.removed = base.objects.keys().filter(|key| !head.objects.contains_key(*key)).cloned().collect();
    changes
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "---\n# Source: hub/templates/secret.yaml\napiVersion: v1\nkind: Secret\nmetadata:\n  name: hub\ndata:\n  token: {token}\n";
    const DEPLOYMENT: &str = "---\n# Source: hub/templates/deployment.yaml\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: hub\n  namespace: {ns}\n  annotations:\n    checksum/secret: {sum}\n    team: data\nspec:\n  replicas: {replicas}\n";

    fn render(token: &str, sum: &str, replicas: u32, ns: &str) -> String {
        SECRET.replace("{token}", token)
            + &DEPLOYMENT.replace("{sum}", sum).replace("{replicas}", &replicas.to_string()).replace("{ns}", ns)
    }

    fn changes(base: &str, head: &str) -> ObjectChanges {
        let rules = NormaliseRules::default();
        compare(&normalise(base, &rules).expect("base"), &normalise(head, &rules).expect("head"))
    }

    #[test]
    fn random_secrets_and_their_checksums_do_not_count_and_real_changes_do() {
        let base = render("cmFuZG9tMQ==", "abc", 1, "hub");
        // (case, head render, added, removed, changed)
        type Case<'a> = (&'a str, String, &'a [&'a str], &'a [&'a str], &'a [&'a str]);
        let cases: &[Case<'_>] = &[
            ("a new random secret and checksum", render("cmFuZG9tMg==", "def", 1, "hub"), &[], &[], &[]),
            ("replicas", render("cmFuZG9tMg==", "def", 2, "hub"), &[], &[], &["apps/v1 Deployment hub/hub"]),
            (
                "moved namespace",
                render("x", "y", 1, "other"),
                &["apps/v1 Deployment other/hub"],
                &["apps/v1 Deployment hub/hub"],
                &[],
            ),
            ("the same render", base.clone(), &[], &[], &[]),
            (
                "objects in another order",
                DEPLOYMENT.replace("{sum}", "z").replace("{replicas}", "1").replace("{ns}", "hub")
                    + &SECRET.replace("{token}", "q"),
                &[],
                &[],
                &[],
            ),
        ];
        for (name, head, added, removed, changed) in cases {
            let found = changes(&base, head);
            let names = |keys: &[ObjectKey]| keys.iter().map(ToString::to_string).collect::<Vec<_>>();
            assert_eq!(names(&found.added), *added, "{name}: added");
            assert_eq!(names(&found.removed), *removed, "{name}: removed");
            assert_eq!(names(&found.changed), *changed, "{name}: changed");
        }
    }

    #[test]
    fn checksum_annotations_of_pod_templates_are_dropped_too() {
        let object = |sum: &str, team: &str| {
            format!(
                "apiVersion: batch/v1\nkind: CronJob\nmetadata:\n  name: c\nspec:\n  jobTemplate:\n    spec:\n      template:\n        metadata:\n          annotations:\n            checksum/config: {sum}\n            team: {team}\n"
            )
        };
        // (case, head, changed objects)
        let cases: &[(&str, String, usize)] =
            &[("another checksum", object("b", "data"), 0), ("another team", object("a", "infra"), 1)];
        for (name, head, changed) in cases {
            assert_eq!(changes(&object("a", "data"), head).changed.len(), *changed, "{name}");
        }
        let only_checksum = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d\nspec:\n  template:\n    metadata:\n      annotations:\n        checksum/secret: x\n";
        let text = normalise(only_checksum, &NormaliseRules::default()).expect("normalise");
        assert!(!text.objects.values().next().expect("one").contains("annotations"), "{text:?}");
    }

    #[test]
    fn secret_keys_stay_and_values_never_appear() {
        let rendered = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\ndata:\n  a: c2VjcmV0\nstringData:\n  b: plain-secret\n";
        let manifests = normalise(rendered, &NormaliseRules::default()).expect("normalise");
        let text = manifests.objects.values().next().expect("one object");
        assert!(!text.contains("c2VjcmV0") && !text.contains("plain-secret"), "{text}");
        assert!(text.contains(&format!("a: {REDACTED}")) && text.contains(&format!("b: {REDACTED}")), "{text}");
        // An added key still shows as a change.
        let more = format!("{rendered}  c: bW9yZQ==\n");
        assert_eq!(changes(rendered, &more).changed.len(), 1);
    }

    #[test]
    fn empty_documents_are_skipped_and_broken_ones_are_named() {
        assert!(normalise("---\n# Source: x\n---\n", &NormaliseRules::default()).expect("empty").objects.is_empty());
        let cases: &[(&str, &str)] = &[
            ("kind: ConfigMap\n", "document 1 of the rendered manifests is not a Kubernetes object"),
            ("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\n[unclosed\n", "document 2 of the rendered manifests is not YAML"),
            ("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n", "hold v1 ConfigMap a twice"),
            ("a: &x [1]\nb: *x\n", "anchors or aliases"),
        ];
        for (rendered, want) in cases {
            let error = normalise(rendered, &NormaliseRules::default()).expect_err(rendered).to_string();
            assert!(error.contains(want), "{rendered:?}: {error}");
        }
    }
}
