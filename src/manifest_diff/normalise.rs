//! Rendered Kubernetes manifests (`helm template` output), normalised so that
//! two renders compare by what would change in the cluster: one object per
//! apiVersion/kind/namespace/name, sorted, lists (`kind: List`, `SecretList`,
//! any `…List` with `items`) flattened into their items as helm applies them;
//! `Secret` values redacted (keys kept), and a `Secret`'s
//! `kubectl.kubernetes.io/last-applied-configuration` annotation (or any
//! object's, when it holds a `Secret`) redacted whole; annotations that helm
//! computes from random or secret content (`checksum/*` by default) dropped;
//! the paths of `render.ignore` removed.
//!
//! Redacted values still count: with a [`SecretDigestKey`] (random per run),
//! each redacted value's keyed digest (HMAC-SHA256) is kept beside the text,
//! and two renders whose texts agree but whose digests do not differ in that
//! object. Only equality of digests is ever used: no digest is printed,
//! serialised or shown. Pure: text in, values out.
//!
//! The core of the rendered-manifest diff ([`crate::manifest_diff`]).

use std::collections::BTreeMap;
use std::sync::Arc;

use ring::hmac;
use serde::Deserialize;
use yaml_serde::Value;

use crate::config::ignore::{Pointer, PointerSegment, RenderIgnore};
use crate::config::yaml_guard;

/// What a redacted `Secret` value is replaced by.
pub const REDACTED: &str = "<redacted>";

/// The annotation `kubectl apply` keeps a copy of the whole object in.
pub const LAST_APPLIED_ANNOTATION: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// The first line of the note a changed object's diff gains when only its
/// redacted values tell the renders apart (see [`secret_note`]).
pub const SECRET_VALUES_CHANGED: &str = "# Secret values changed (content not shown):";

/// Places listed in one [`secret_note`] at most.
const MAX_NOTE_PLACES: usize = 20;

/// The key of the Secret values' digests: random per run, never printed or stored.
#[derive(Clone)]
pub struct SecretDigestKey(Arc<hmac::Key>);

impl SecretDigestKey {
    /// A fresh key from the operating system's randomness.
    pub fn random() -> Result<Self, getrandom::Error> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes)?;
        Ok(SecretDigestKey(Arc::new(hmac::Key::new(hmac::HMAC_SHA256, &bytes))))
    }

    /// The keyed digest of one redacted value (its kind and bytes).
    fn digest(&self, value: &Value) -> SecretDigest {
        let (kind, bytes) = match value {
            Value::String(text) => (b's', text.as_bytes().to_vec()),
            other => (b'y', yaml_serde::to_string(other).unwrap_or_default().into_bytes()),
        };
        let mut context = hmac::Context::with_key(&self.0);
        context.update(&[kind]);
        context.update(&bytes);
        SecretDigest(context.sign().as_ref().to_vec())
    }
}

impl std::fmt::Debug for SecretDigestKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretDigestKey(..)")
    }
}

impl PartialEq for SecretDigestKey {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for SecretDigestKey {}

/// A redacted value's keyed digest: compared, never shown (`Debug` prints no bytes).
#[derive(Clone, PartialEq, Eq)]
pub struct SecretDigest(Vec<u8>);

impl std::fmt::Debug for SecretDigest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretDigest(..)")
    }
}

/// An object's redacted values: each place (`data.token`) and the digests
/// of the values redacted there, in document order.
pub type SecretValues = BTreeMap<String, Vec<SecretDigest>>;

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
    /// With a key, every redacted value's keyed digest is kept
    /// ([`Manifests::secrets`]); without one (the default), none is.
    pub secret_digests: Option<SecretDigestKey>,
}

impl Default for NormaliseRules {
    fn default() -> Self {
        NormaliseRules {
            ignored_annotation_prefixes: DEFAULT_IGNORED_ANNOTATION_PREFIXES.iter().map(|p| (*p).to_owned()).collect(),
            ignore: RenderIgnore::default(),
            secret_digests: None,
        }
    }
}

/// A render, one normalised YAML text per object.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Manifests {
    pub objects: BTreeMap<ObjectKey, String>,
    /// The redacted values' digests of the objects that have some, when the
    /// rules carry a [`SecretDigestKey`].
    pub secrets: BTreeMap<ObjectKey, SecretValues>,
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
        let mut objects = Vec::new();
        flatten(value, &mut objects, 0);
        for object in objects {
            let (key, object, secrets) =
                normalise_object(object, rules).ok_or(ManifestError::NotAnObject { document: number })?;
            let text = yaml_serde::to_string(&object)
                .map_err(|e| ManifestError::NotYaml { document: number, message: without_location(&e.to_string()) })?;
            if manifests.objects.insert(key.clone(), text).is_some() {
                return Err(ManifestError::Duplicate { key: key.to_string() });
            }
            if !secrets.is_empty() {
                manifests.secrets.insert(key, secrets);
            }
        }
    }
    Ok(manifests)
}

/// True for a list kind (`List`, `SecretList`, any `…List`) holding `items`.
fn list_items(value: &Value) -> Option<&Vec<Value>> {
    let kind = value.get("kind").and_then(Value::as_str)?;
    if !kind.ends_with("List") {
        return None;
    }
    value.get("items").and_then(Value::as_sequence)
}

/// `value`'s objects: a list's items (each taking the list's `apiVersion`,
/// and for `FooList` the kind `Foo`, when it names none), lists in lists
/// too, as helm and `kubectl apply` flatten them; anything else as it is.
fn flatten(value: Value, out: &mut Vec<Value>, depth: usize) {
    // Nesting is bounded by `yaml_guard` already; this only keeps the walk finite by construction.
    if depth > 64 || list_items(&value).is_none() {
        out.push(value);
        return;
    }
    let api_version = value.get("apiVersion").cloned();
    let kind = value.get("kind").and_then(Value::as_str).unwrap_or_default();
    let item_kind = kind.strip_suffix("List").filter(|k| !k.is_empty()).map(|k| Value::String(k.to_owned()));
    let Value::Mapping(mut list) = value else { return };
    let Some(Value::Sequence(items)) = list.remove("items") else { return };
    for mut item in items {
        if let Value::Mapping(fields) = &mut item {
            if let (false, Some(version)) = (fields.contains_key("apiVersion"), &api_version) {
                fields.insert(Value::String("apiVersion".into()), version.clone());
            }
            if let (false, Some(kind)) = (fields.contains_key("kind"), &item_kind) {
                fields.insert(Value::String("kind".into()), kind.clone());
            }
        }
        flatten(item, out, depth + 1);
    }
}

/// The object's key, the object with redactions and ignored fields removed,
/// and its redacted values' digests.
fn normalise_object(mut object: Value, rules: &NormaliseRules) -> Option<(ObjectKey, Value, SecretValues)> {
    let text = |value: Option<&Value>| value.and_then(Value::as_str).map(str::to_owned);
    let key = ObjectKey {
        api_version: text(object.get("apiVersion"))?,
        kind: text(object.get("kind"))?,
        namespace: text(object.get("metadata").and_then(|m| m.get("namespace"))).unwrap_or_default(),
        name: text(object.get("metadata").and_then(|m| m.get("name")))?,
    };
    drop_ignored_annotations(&mut object, rules, 0);
    let mut secrets = SecretValues::new();
    let mut redact = |place: String, value: &mut Value| {
        if let Some(key) = &rules.secret_digests {
            secrets.entry(place).or_default().push(key.digest(value));
        }
        *value = Value::String(REDACTED.to_owned());
    };
    let is_secret = key.kind == "Secret";
    if is_secret {
        for field in ["data", "stringData"] {
            match object.get_mut(field) {
                None | Some(Value::Null) => {}
                Some(Value::Mapping(values)) => {
                    for (name, value) in values.iter_mut() {
                        redact(format!("{field}.{}", place_name(name)), value);
                    }
                }
                // Not a mapping (an invalid Secret): nothing of it is shown.
                Some(value) => redact(field.to_owned(), value),
            }
        }
    }
    let annotation = object
        .get_mut("metadata")
        .and_then(|m| m.get_mut("annotations"))
        .and_then(|a| a.get_mut(LAST_APPLIED_ANNOTATION));
    if let Some(value) = annotation {
        if is_secret || holds_secret_text(value) {
            redact(format!("metadata.annotations.{LAST_APPLIED_ANNOTATION}"), value);
        }
    }
    for pointer in rules.ignore.pointers_for(&key.kind) {
        remove_at(&mut object, pointer);
    }
    Some((key, object, secrets))
}

/// A mapping key as a place name: plain keys as they are, others quoted
/// with every control character escaped (a key cannot start a line of its own).
fn place_name(name: &Value) -> String {
    match name.as_str() {
        Some(text)
            if !text.is_empty()
                && text.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/')) =>
        {
            text.to_owned()
        }
        Some(text) => serde_json::to_string(text).unwrap_or_default(),
        None => serde_json::to_string(&yaml_serde::to_string(name).unwrap_or_default().trim_end()).unwrap_or_default(),
    }
}

/// True when a `last-applied-configuration` value holds a `Secret`: it is
/// (or, as text, parses to) an object that is a Secret, or holds one at any depth.
fn holds_secret_text(value: &Value) -> bool {
    match value {
        Value::String(text) => {
            if !yaml_guard::is_bounded(text) {
                // Not parsed, so not known to be free of a Secret: kept out of sight.
                return true;
            }
            yaml_serde::from_str::<Value>(text).is_ok_and(|parsed| holds_secret(&parsed, 0))
        }
        other => holds_secret(other, 0),
    }
}

fn holds_secret(value: &Value, depth: usize) -> bool {
    if depth > 64 {
        return true;
    }
    match value {
        Value::Mapping(mapping) => {
            let kind = mapping.get("kind").and_then(Value::as_str);
            matches!(kind, Some("Secret" | "SecretList"))
                || mapping.iter().any(|(_, inner)| holds_secret(inner, depth + 1))
        }
        Value::Sequence(items) => items.iter().any(|item| holds_secret(item, depth + 1)),
        Value::Tagged(tagged) => holds_secret(&tagged.value, depth + 1),
        _ => false,
    }
}

/// The places of `base`'s and `head`'s redacted values of one object whose digests differ.
pub fn changed_secret_places(base: Option<&SecretValues>, head: Option<&SecretValues>) -> Vec<String> {
    let empty = SecretValues::new();
    let (base, head) = (base.unwrap_or(&empty), head.unwrap_or(&empty));
    let mut places: Vec<String> =
        base.keys().chain(head.keys()).filter(|place| base.get(*place) != head.get(*place)).cloned().collect();
    places.sort();
    places.dedup();
    places
}

/// The line a changed object's head text gains when its redacted values
/// differ: which places, never what. `None` when none differ.
pub fn secret_note(places: &[String]) -> Option<String> {
    if places.is_empty() {
        return None;
    }
    let mut shown: Vec<&str> = places.iter().take(MAX_NOTE_PLACES).map(String::as_str).collect();
    let more = places.len().saturating_sub(MAX_NOTE_PLACES);
    let more_text = format!("and {more} more");
    if more > 0 {
        shown.push(&more_text);
    }
    Some(format!("{SECRET_VALUES_CHANGED} {}\n", shown.join(", ")))
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
            Some(before) if before != text || base.secrets.get(key) != head.secrets.get(key) => {
                changes.changed.push(key.clone());
            }
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
    fn without_a_digest_key_random_secrets_and_their_checksums_do_not_count_and_real_changes_do() {
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

    const SENTINEL: &str = "sentinel-value-never-shown";

    fn keyed() -> NormaliseRules {
        NormaliseRules { secret_digests: Some(SecretDigestKey::random().expect("random")), ..NormaliseRules::default() }
    }

    fn everything(manifests: &Manifests) -> String {
        format!("{:?}\n{}", manifests, manifests.objects.values().cloned().collect::<String>())
    }

    #[test]
    fn secrets_in_lists_and_last_applied_annotations_are_redacted() {
        let applied = format!(
            r#"{{"apiVersion":"v1","kind":"Secret","metadata":{{"name":"s"}},"stringData":{{"password":"{SENTINEL}"}}}}"#
        );
        let embedded = format!(r#"{{"kind":"List","items":[{{"kind":"Secret","data":{{"a":"{SENTINEL}"}}}}]}}"#);
        // (case, render, the objects it holds)
        let cases: Vec<(&str, String, Vec<&str>)> = vec![
            (
                "a v1 List",
                format!("apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Secret\n  metadata: {{name: s}}\n  stringData: {{password: {SENTINEL}}}\n- apiVersion: v1\n  kind: ConfigMap\n  metadata: {{name: c}}\n  data: {{a: b}}\n"),
                vec!["v1 ConfigMap c", "v1 Secret s"],
            ),
            (
                "a SecretList whose items name no kind",
                format!("apiVersion: v1\nkind: SecretList\nmetadata: {{name: l}}\nitems:\n- metadata: {{name: s, namespace: n}}\n  data: {{password: {SENTINEL}}}\n"),
                vec!["v1 Secret n/s"],
            ),
            (
                "a List in a List",
                format!("apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: List\n  items:\n  - {{apiVersion: v1, kind: Secret, metadata: {{name: s}}, data: {SENTINEL}}}\n"),
                vec!["v1 Secret s"],
            ),
            (
                "a Secret's last-applied-configuration",
                format!("apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\n  annotations:\n    {LAST_APPLIED_ANNOTATION}: '{applied}'\nstringData: {{password: {SENTINEL}}}\n"),
                vec!["v1 Secret s"],
            ),
            (
                "another kind's last-applied-configuration holding a Secret",
                format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  annotations:\n    {LAST_APPLIED_ANNOTATION}: '{embedded}'\n"),
                vec!["v1 ConfigMap c"],
            ),
        ];
        for (name, rendered, objects) in cases {
            let manifests = normalise(&rendered, &keyed()).unwrap_or_else(|e| panic!("{name}: {e}"));
            let keys: Vec<String> = manifests.objects.keys().map(ToString::to_string).collect();
            assert_eq!(keys, objects, "{name}");
            let text = everything(&manifests);
            assert!(!text.contains(SENTINEL) && !text.contains("c2VudGluZWw"), "{name}: {text}");
            assert!(text.contains(REDACTED), "{name}: {text}");
            assert!(!manifests.secrets.is_empty(), "{name}: the redacted values are digested");
        }
        // A ConfigMap's own last-applied-configuration (no Secret in it) stays as it is.
        let plain = format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  annotations:\n    {LAST_APPLIED_ANNOTATION}: '{{\"kind\":\"ConfigMap\"}}'\n");
        let manifests = normalise(&plain, &keyed()).expect("plain");
        assert!(everything(&manifests).contains(r#"{"kind":"ConfigMap"}"#));
        // A list item without a name is not an object.
        let nameless = "apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: Secret}\n";
        assert!(matches!(normalise(nameless, &keyed()), Err(ManifestError::NotAnObject { document: 1 })));
    }

    #[test]
    fn a_changed_secret_value_changes_its_object_without_showing_either_value() {
        let secret = |data: &str, string: &str| {
            format!("apiVersion: v1\nkind: Secret\nmetadata: {{name: s}}\ndata: {{token: {data}}}\nstringData: {{\"odd\\nkey\": {string}}}\n")
        };
        let rules = keyed();
        let changed_places = |base: &str, head: &str| {
            let (base, head) = (normalise(base, &rules).expect("base"), normalise(head, &rules).expect("head"));
            let changes = compare(&base, &head);
            let key = head.objects.keys().next().expect("one object").clone();
            (changes.changed.len(), changed_secret_places(base.secrets.get(&key), head.secrets.get(&key)))
        };
        // (case, base, head, changed objects, places)
        let cases: Vec<(&str, String, String, usize, Vec<&str>)> = vec![
            ("the same values", secret("YQ==", "x"), secret("YQ==", "x"), 0, vec![]),
            ("a rotated data value", secret("YQ==", "x"), secret("Yg==", "x"), 1, vec!["data.token"]),
            (
                "a rotated stringData value",
                secret("YQ==", "x"),
                secret("YQ==", "y"),
                1,
                vec![r#"stringData."odd\nkey""#],
            ),
            ("a string for a number", secret("YQ==", "'1'"), secret("YQ==", "1"), 1, vec![r#"stringData."odd\nkey""#]),
        ];
        for (name, base, head, changed, places) in cases {
            assert_eq!(
                changed_places(&base, &head),
                (changed, places.iter().map(|p| (*p).to_owned()).collect()),
                "{name}"
            );
        }
        // Without a key (the default rules), only the texts compare: the old blindness, kept for `validate --render`.
        assert!(changes(&secret("YQ==", "x"), &secret("Yg==", "x")).is_empty());
        // A fresh key per run: the same value's digests differ across keys, and no digest prints.
        let (a, b) = (keyed(), keyed());
        let one = normalise(&secret("YQ==", "x"), &a).expect("a");
        let two = normalise(&secret("YQ==", "x"), &b).expect("b");
        assert_ne!(one.secrets, two.secrets);
        assert!(format!("{one:?}").contains("SecretDigest(..)"), "{one:?}");
        // The note names places, one line, never values.
        let note = secret_note(&["data.token".to_owned()]).expect("a note");
        assert_eq!(note, format!("{SECRET_VALUES_CHANGED} data.token\n"));
        let many: Vec<String> = (0..25).map(|i| format!("data.k{i}")).collect();
        assert!(secret_note(&many).expect("a note").ends_with("and 5 more\n"));
        assert_eq!(secret_note(&[]), None);
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

    #[test]
    fn the_digest_key_and_digests_print_no_bytes_and_a_key_equals_only_itself() {
        let key = SecretDigestKey::random().expect("randomness");
        assert_eq!(format!("{key:?}"), "SecretDigestKey(..)");
        assert_eq!(format!("{:?}", key.digest(&Value::String("s3cr3t".into()))), "SecretDigest(..)");
        assert_eq!(key, key.clone(), "a clone shares the key");
        assert_ne!(key, SecretDigestKey::random().expect("randomness"), "another key is another key");
    }

    #[test]
    fn an_error_names_the_document_it_is_in_counting_from_one() {
        let rules = NormaliseRules::default();
        assert_eq!(normalise("- not an object\n", &rules), Err(ManifestError::NotAnObject { document: 1 }));
        let second = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n---\n- not an object\n";
        assert_eq!(normalise(second, &rules), Err(ManifestError::NotAnObject { document: 2 }));
    }

    #[test]
    fn lists_are_flattened_64_levels_deep_and_no_deeper() {
        let object: Value =
            yaml_serde::from_str("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n").expect("yaml");
        let nested = |levels: usize| {
            (0..levels).fold(object.clone(), |inner, _| {
                let mut list = yaml_serde::Mapping::new();
                list.insert(Value::String("kind".into()), Value::String("List".into()));
                list.insert(Value::String("items".into()), Value::Sequence(vec![inner]));
                Value::Mapping(list)
            })
        };
        let mut out = Vec::new();
        flatten(nested(65), &mut out, 0);
        assert_eq!(out, vec![object.clone()], "65 lists (depths 0 to 64) are all flattened");
        let mut out = Vec::new();
        flatten(nested(66), &mut out, 0);
        assert_eq!(out.len(), 1);
        assert_eq!(list_items(&out[0]).map(Vec::len), Some(1), "the list at depth 65 is kept whole");
    }

    #[test]
    fn a_typed_lists_items_take_its_kind_and_a_plain_lists_do_not() {
        let rules = NormaliseRules::default();
        let typed = "apiVersion: v1\nkind: ConfigMapList\nitems:\n- metadata:\n    name: a\n";
        let keys: Vec<String> =
            normalise(typed, &rules).expect("typed").objects.keys().map(ToString::to_string).collect();
        assert_eq!(keys, ["v1 ConfigMap a"]);
        let plain = "apiVersion: v1\nkind: List\nitems:\n- metadata:\n    name: a\n";
        assert_eq!(normalise(plain, &rules), Err(ManifestError::NotAnObject { document: 1 }));
    }

    /// `levels` sequences around `inner`.
    fn in_sequences(inner: Value, levels: usize) -> Value {
        (0..levels).fold(inner, |value, _| Value::Sequence(vec![value]))
    }

    /// `levels` mappings (`x: ...`) around `inner`.
    fn in_mappings(inner: Value, levels: usize) -> Value {
        (0..levels).fold(inner, |value, _| {
            let mut mapping = yaml_serde::Mapping::new();
            mapping.insert(Value::String("x".into()), value);
            Value::Mapping(mapping)
        })
    }

    /// `levels` tags (`!custom ...`) around `inner`.
    fn in_tags(inner: Value, levels: usize) -> Value {
        (0..levels).fold(inner, |value, _| {
            Value::Tagged(Box::new(yaml_serde::value::TaggedValue {
                tag: yaml_serde::value::Tag::new("custom"),
                value,
            }))
        })
    }

    #[test]
    fn a_last_applied_configuration_holds_a_secret_when_any_part_of_it_is_one() {
        let yaml = |text: &str| -> Value { yaml_serde::from_str(text).expect("yaml") };
        assert!(holds_secret_text(&Value::String(r#"{"kind":"Secret","data":{"a":"b"}}"#.into())));
        assert!(!holds_secret_text(&Value::String(r#"{"kind":"ConfigMap","data":{"a":"b"}}"#.into())));
        let bomb =
            "a: &a [x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a]\nc: [*b, *b, *b, *b, *b, *b]\n";
        assert!(!yaml_guard::is_bounded(bomb), "the guard refuses the bomb");
        assert!(holds_secret_text(&Value::String(bomb.into())), "text that is not parsed is kept out of sight");
        assert!(holds_secret_text(&yaml("kind: SecretList\nitems: []\n")));
        assert!(holds_secret_text(&yaml("spec:\n  items:\n  - kind: Secret\n")), "in a list in a mapping");
        assert!(holds_secret_text(&yaml("- a: 1\n- kind: Secret\n")), "in a list");
        assert!(holds_secret_text(&yaml("spec: !custom {kind: Secret}\n")), "under a tag");
        assert!(!holds_secret_text(&yaml("kind: ConfigMap\nitems:\n- kind: Pod\n- !custom {kind: Service}\n")));
        assert!(!holds_secret_text(&Value::Bool(true)));
    }

    #[test]
    fn holds_secret_walks_64_levels_and_past_them_assumes_a_secret() {
        let plain = Value::String("plain".into());
        assert!(!holds_secret(&in_sequences(plain.clone(), 64), 0));
        assert!(holds_secret(&in_sequences(plain.clone(), 65), 0), "deeper than the walk goes: kept out of sight");
        assert!(!holds_secret(&in_mappings(plain.clone(), 64), 0));
        assert!(holds_secret(&in_mappings(plain.clone(), 65), 0), "mappings count as levels");
        assert!(!holds_secret(&in_tags(plain.clone(), 64), 0));
        assert!(holds_secret(&in_tags(plain, 65), 0), "tags count as levels");
    }

    #[test]
    fn ignored_annotations_are_dropped_in_any_metadata_64_levels_deep_and_no_deeper() {
        let object: Value =
            yaml_serde::from_str("metadata:\n  annotations:\n    checksum/config: abc\n    team: data\n")
                .expect("yaml");
        let rules = NormaliseRules::default();
        // The annotations left on `object` wrapped `levels` deep by `wrap`, after the walk;
        // `inner` takes one wrapper off.
        let annotations_left = |wrap: fn(Value, usize) -> Value, inner: fn(&Value) -> &Value, levels: usize| {
            let mut value = wrap(object.clone(), levels);
            drop_ignored_annotations(&mut value, &rules, 0);
            let mut at = &value;
            for _ in 0..levels {
                at = inner(at);
            }
            at["metadata"]["annotations"].as_mapping().expect("annotations").len()
        };
        let in_list: fn(&Value) -> &Value = |value| &value.as_sequence().expect("a list")[0];
        let in_key: fn(&Value) -> &Value = |value| &value["x"];
        assert_eq!(annotations_left(in_sequences, in_list, 64), 1, "checksum/config dropped, team kept");
        assert_eq!(annotations_left(in_sequences, in_list, 65), 2, "deeper than the walk goes: left alone");
        // Mappings count as levels too.
        assert_eq!(annotations_left(in_mappings, in_key, 64), 1);
        assert_eq!(annotations_left(in_mappings, in_key, 65), 2);
    }

    #[test]
    fn an_ignored_path_removes_list_items_by_index_or_all_and_reaches_under_tags() {
        let normalised = |ignore: &str, object: &str| -> String {
            let settings = crate::config::Settings::parse(
                "deployer.yaml",
                &format!("render:\n  ignore:\n    Deployment: {ignore}\n"),
            )
            .expect("settings");
            let rules = NormaliseRules { ignore: settings.render_ignore, ..NormaliseRules::default() };
            let manifests = normalise(object, &rules).expect("normalise");
            manifests.objects.values().next().expect("one object").clone()
        };
        let deployment = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: hub\nspec:\n  args: [a, b, c]\n  containers:\n  - {name: x, image: one}\n  - {name: y, image: two}\n";
        let one = normalised("[/spec/args/1]", deployment);
        assert!(one.contains("- a\n") && !one.contains("- b\n") && one.contains("- c\n"), "{one}");
        let images = normalised("[/spec/containers/*/image]", deployment);
        assert!(!images.contains("image:") && images.contains("name: x") && images.contains("name: y"), "{images}");
        let tagged = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: hub\nspec: !custom\n  replicas: 3\n  paused: true\n";
        let untagged = normalised("[/spec/replicas]", tagged);
        assert!(!untagged.contains("replicas") && untagged.contains("paused"), "{untagged}");
        // A list the ignored path empties goes with its key; one that was empty already stays.
        let no_args = normalised("[/spec/args/*]", deployment);
        assert!(!no_args.contains("args") && no_args.contains("containers"), "{no_args}");
        let no_names = normalised("[/spec/containers/*/name, /spec/containers/*/image]", deployment);
        assert!(!no_names.contains("containers") && no_names.contains("args"), "{no_names}");
        let empty = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: hub\nspec:\n  list: []\n  keep: 1\n";
        let kept = normalised("[/spec/list/*/name]", empty);
        assert!(kept.contains("list: []") && kept.contains("keep: 1"), "{kept}");
    }

    #[test]
    fn a_yaml_error_says_what_without_quoting_where() {
        let Err(ManifestError::NotYaml { document, message }) = normalise("a: [\n", &NormaliseRules::default()) else {
            panic!("not YAML")
        };
        assert_eq!(document, 1);
        let full = yaml_serde::from_str::<Value>("a: [\n").expect_err("not YAML").to_string();
        let (what, _where) = full.split_once(" at line ").expect("serde's message has a position");
        assert_eq!(message, what);
    }

    #[test]
    fn object_changes_are_empty_only_without_any_change() {
        let key = || ObjectKey {
            api_version: "v1".into(),
            kind: "ConfigMap".into(),
            namespace: String::new(),
            name: "a".into(),
        };
        assert!(ObjectChanges::default().is_empty());
        assert!(!ObjectChanges { added: vec![key()], ..ObjectChanges::default() }.is_empty());
        assert!(!ObjectChanges { removed: vec![key()], ..ObjectChanges::default() }.is_empty());
        assert!(!ObjectChanges { changed: vec![key()], ..ObjectChanges::default() }.is_empty());
    }
}
