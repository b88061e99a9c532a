//! Rendered Kubernetes manifests (`helm template` output), normalised so that
//! two renders compare by what would change in the cluster: one object per
//! apiVersion/kind/namespace/name, sorted; `Secret` values redacted (keys
//! kept); annotations that helm computes from random or secret content
//! (`checksum/*` by default) dropped; the paths of `render.ignore` removed.
//! Pure: text in, values out.
//!
//! The core of the rendered-manifest diff ([`crate::diff`]).

use std::collections::BTreeMap;

use serde::Deserialize;
use yaml_serde::Value;

use crate::config::ignore::{Pointer, PointerSegment, RenderIgnore};
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
    /// Paths removed from objects by kind (`render.ignore`); none by default.
    pub ignore: RenderIgnore,
}

impl Default for NormaliseRules {
    fn default() -> Self {
        NormaliseRules {
            ignored_annotation_prefixes: DEFAULT_IGNORED_ANNOTATION_PREFIXES.iter().map(|p| (*p).to_owned()).collect(),
            ignore: RenderIgnore::default(),
        }
    }
}

impl NormaliseRules {
    /// The rules of a repository's settings (`render.ignore` in `deployer.yaml`).
    pub fn from_settings(settings: &crate::config::Settings) -> Self {
        NormaliseRules { ignore: settings.render_ignore.clone(), ..NormaliseRules::default() }
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
    for pointer in rules.ignore.pointers_for(&key.kind) {
        remove_at(&mut object, pointer);
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

/// Removes what `pointer` addresses in `object`, if anything; a mapping or
/// list the removal leaves empty goes too (so an object whose only ignored
/// annotation is gone compares equal to one that never had annotations).
fn remove_at(object: &mut Value, pointer: &Pointer) {
    remove_segments(object, &pointer.segments);
}

/// True when something was removed under `value`.
fn remove_segments(value: &mut Value, segments: &[PointerSegment]) -> bool {
    let Some((first, rest)) = segments.split_first() else {
        return false;
    };
    let matches_key = |key: &Value| match first {
        PointerSegment::Any => true,
        PointerSegment::Key(name) => key.as_str() == Some(name.as_str()),
    };
    let matches_index = |index: usize| match first {
        PointerSegment::Any => true,
        PointerSegment::Key(_) => first.index() == Some(index),
    };
    match value {
        Value::Mapping(mapping) => {
            let before = mapping.len();
            if rest.is_empty() {
                mapping.retain(|key, _| !matches_key(key));
                return mapping.len() != before;
            }
            let mut removed = false;
            let mut emptied = Vec::new();
            for (key, child) in mapping.iter_mut().filter(|(key, _)| matches_key(key)) {
                if remove_segments(child, rest) {
                    removed = true;
                    if is_empty_collection(child) {
                        emptied.push(key.clone());
                    }
                }
            }
            for key in emptied {
                mapping.remove(&key);
            }
            removed
        }
        Value::Sequence(items) => {
            let before = items.len();
            if rest.is_empty() {
                let mut index = 0;
                items.retain(|_| {
                    let keep = !matches_index(index);
                    index += 1;
                    keep
                });
                return items.len() != before;
            }
            let mut emptied = Vec::new();
            for (index, child) in items.iter_mut().enumerate().filter(|(index, _)| matches_index(*index)) {
                if remove_segments(child, rest) {
                    emptied.push((index, is_empty_collection(child)));
                }
            }
            for (index, _) in emptied.iter().rev().filter(|(_, empty)| *empty) {
                items.remove(*index);
            }
            !emptied.is_empty()
        }
        Value::Tagged(tagged) => remove_segments(&mut tagged.value, segments),
        _ => false,
    }
}

fn is_empty_collection(value: &Value) -> bool {
    match value {
        Value::Mapping(mapping) => mapping.is_empty(),
        Value::Sequence(items) => items.is_empty(),
        _ => false,
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

    #[test]
    fn render_ignore_removes_the_addressed_values() {
        const OBJECT: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: hub\n  annotations:\n    foo/bar: x\n    a~b: y\n  labels:\n    app: hub\n    helm.sh/chart: hub-1.2.3\nspec:\n  replicas: 3\n  template:\n    spec:\n      containers:\n      - name: a\n        image: a:1\n      - name: b\n        image: b:1\n";
        // (case, render.ignore as YAML, the normalised object)
        let cases: &[(&str, &str, &str)] = &[
            ("nothing ignored", "{}", "metadata:\n  name: hub\n  annotations:\n    foo/bar: x\n    a~b: y\n  labels:\n    app: hub\n    helm.sh/chart: hub-1.2.3\nspec:\n  replicas: 3\n"),
            ("a field", "{Deployment: [/spec/replicas]}", "metadata:\n  name: hub\n  annotations:\n    foo/bar: x\n    a~b: y\n  labels:\n    app: hub\n    helm.sh/chart: hub-1.2.3\nspec:\n  template:\n"),
            ("another kind's rule", "{Service: [/spec/replicas]}", "spec:\n  replicas: 3\n"),
            ("every kind, escaped keys", "{'*': [/metadata/labels/helm.sh~1chart, /metadata/annotations/a~0b]}", "metadata:\n  name: hub\n  annotations:\n    foo/bar: x\n  labels:\n    app: hub\nspec:\n"),
            ("an emptied mapping goes", "{'*': [/metadata/annotations/foo~1bar, /metadata/annotations/a~0b]}", "metadata:\n  name: hub\n  labels:\n"),
            ("every item of a list", "{Deployment: [/spec/template/spec/containers/*/image]}", "      containers:\n      - name: a\n      - name: b\n"),
            ("one item by index", "{Deployment: [/spec/template/spec/containers/1]}", "      containers:\n      - name: a\n        image: a:1\n"),
            ("a wildcard key", "{Deployment: ['/metadata/*/app']}", "  labels:\n    helm.sh/chart: hub-1.2.3\n"),
            ("a missing path", "{Deployment: [/spec/nothing/here, /spec/template/spec/containers/9, /spec/replicas/x]}", "spec:\n  replicas: 3\n"),
        ];
        for (name, ignore, want) in cases {
            let settings = crate::config::Settings::parse("deployer.yaml", &format!("render:\n  ignore: {ignore}\n"))
                .unwrap_or_else(|e| panic!("{name}: {e:?}"));
            let rules = NormaliseRules { ignore: settings.render_ignore, ..NormaliseRules::default() };
            let manifests = normalise(OBJECT, &rules).expect(name);
            let text = manifests.objects.values().next().expect("one object");
            assert!(text.contains(want), "{name}: {text}");
            let removed = ["nothing", "another", "a missing"].iter().any(|prefix| name.starts_with(prefix));
            assert_eq!(text.len() < OBJECT.len(), !removed, "{name}: {text}");
        }
        // `kind` and `metadata.name` still key the object when ignored.
        let settings =
            crate::config::Settings::parse("deployer.yaml", "render:\n  ignore: {'*': [/kind, /metadata]}\n")
                .expect("settings");
        let rules = NormaliseRules { ignore: settings.render_ignore, ..NormaliseRules::default() };
        let manifests = normalise(OBJECT, &rules).expect("normalise");
        let (key, text) = manifests.objects.iter().next().expect("one object");
        assert_eq!(key.to_string(), "apps/v1 Deployment hub");
        assert!(!text.contains("kind:") && !text.contains("metadata:"), "{text}");
    }

    #[test]
    fn ignored_paths_make_renders_compare_equal() {
        let settings =
            crate::config::Settings::parse("deployer.yaml", "render:\n  ignore:\n    Deployment: [/spec/replicas]\n")
                .expect("settings");
        let rules = NormaliseRules { ignore: settings.render_ignore, ..NormaliseRules::default() };
        let (base, head) = (render("a", "b", 1, "hub"), render("a", "b", 5, "hub"));
        assert!(compare(&normalise(&base, &rules).expect("base"), &normalise(&head, &rules).expect("head")).is_empty());
        assert_eq!(changes(&base, &head).changed.len(), 1, "without the rule the replicas differ");
    }
}
