//! Properties of the manifest normaliser and of the `skip-unchanged` decision (issue 27), over
//! generated renders of Deployments, ConfigMaps and Secrets (`data` and `stringData`):
//!
//! - Normalising is idempotent: the normalised objects, written back as a render, normalise to
//!   themselves.
//! - It ignores how a render is written: document order, YAML or JSON form, helm's `# Source:`
//!   comments, empty documents, objects grouped in a `kind: List`.
//! - A release is skipped only when base and head differ in nothing but what the normaliser is
//!   documented to ignore (the above, `checksum/*` annotations, the paths of `render.ignore`); any
//!   single change of a real field, of an object's presence or of a Secret value keeps it, and a
//!   changed Secret value is reported at its place.
//! - No Secret value (of `data`, `stringData` or a `last-applied-configuration` copy) ever appears
//!   in the normalised objects nor in their diffs.
//! - The `enc-*` placeholder tree holds no part of a ciphertext: well-formed sops values become their
//!   type's placeholder, clear values stay, and any other `ENC[` text refuses the file.

use std::collections::BTreeMap;

use deployer::config::ignore::RenderIgnore;
use deployer::config::raw::Provider;
use deployer::manifest_diff::helm_template::ReleaseOutcome;
use deployer::manifest_diff::normalise::{
    changed_secret_places, normalise, Manifests, NormaliseRules, ObjectKey, SecretDigestKey, SECRET_VALUES_CHANGED,
};
use deployer::manifest_diff::placeholder::{placeholder_tree, PlaceholderError, PLACEHOLDER};
use deployer::manifest_diff::skip::{is_skippable, skip_unchanged};
use deployer::manifest_diff::unified::{compare_objects, Compared};
use deployer::manifest_diff::{DiffStatus, ReleaseDiff};
use deployer::planning::plan::ProdHubJob;
use proptest::prelude::*;
use serde_json::{json, Value};

/// Cases per property: renders of up to 7 objects, each normalised twice per case (about 10 ms a
/// case in a debug build, so fewer cases than the cheaper properties).
const CASES: u32 = 300;
/// Cases of the placeholder tree, which is cheap.
const PLACEHOLDER_CASES: u32 = 1000;

/// Every Secret value generated starts with this; it appears nowhere else, so any occurrence in an
/// output is a leak.
const SECRET_MARK: &str = "S3cr3t";

/// The label `render.ignore` removes from every kind in these properties.
const IGNORED_LABEL: &str = "helm.sh/chart";
/// The annotation `render.ignore` removes from ConfigMaps in these properties.
const IGNORED_CONFIGMAP_ANNOTATION: &str = "generated-at";

// ---------------------------------------------------------------------------------------------
// The model: objects as values, written out as helm would.

#[derive(Debug, Clone, PartialEq)]
struct Deployment {
    name: String,
    namespace: Option<String>,
    replicas: u32,
    image: String,
    app_label: String,
    chart_label: String,
    team: String,
    checksum: String,
    pod_checksum: String,
}

#[derive(Debug, Clone, PartialEq)]
struct ConfigMap {
    name: String,
    data: BTreeMap<String, String>,
    generated_at: String,
    chart_label: String,
}

#[derive(Debug, Clone, PartialEq)]
struct Secret {
    name: String,
    data: BTreeMap<String, String>,
    string_data: BTreeMap<String, String>,
    /// Keeps a copy of itself in `kubectl.kubernetes.io/last-applied-configuration`, as `kubectl apply` does.
    last_applied: bool,
    chart_label: String,
}

#[derive(Debug, Clone, PartialEq)]
enum Object {
    Deployment(Deployment),
    ConfigMap(ConfigMap),
    Secret(Secret),
}

impl Object {
    fn name(&self) -> &str {
        match self {
            Object::Deployment(d) => &d.name,
            Object::ConfigMap(c) => &c.name,
            Object::Secret(s) => &s.name,
        }
    }

    fn value(&self) -> Value {
        match self {
            Object::Deployment(d) => {
                let mut metadata = json!({
                    "name": d.name,
                    "labels": {"app": d.app_label, IGNORED_LABEL: d.chart_label},
                    "annotations": {"team": d.team, "checksum/config": d.checksum},
                });
                if let Some(namespace) = &d.namespace {
                    metadata["namespace"] = json!(namespace);
                }
                json!({
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "metadata": metadata,
                    "spec": {
                        "replicas": d.replicas,
                        "template": {
                            "metadata": {"annotations": {"checksum/secret": d.pod_checksum}},
                            "spec": {"containers": [{"name": "main", "image": d.image}]},
                        },
                    },
                })
            }
            Object::ConfigMap(c) => json!({
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {
                    "name": c.name,
                    "labels": {IGNORED_LABEL: c.chart_label},
                    "annotations": {IGNORED_CONFIGMAP_ANNOTATION: c.generated_at},
                },
                "data": c.data,
            }),
            Object::Secret(s) => {
                let mut secret = json!({
                    "apiVersion": "v1",
                    "kind": "Secret",
                    "metadata": {"name": s.name, "labels": {IGNORED_LABEL: s.chart_label}},
                    "type": "Opaque",
                    "data": s.data,
                    "stringData": s.string_data,
                });
                if s.last_applied {
                    // The copy leaves out the label `render.ignore` removes: an ignored path inside
                    // the annotation's text is not ignored (the whole annotation is compared, redacted).
                    let mut copy = secret.clone();
                    copy["metadata"] = json!({"name": s.name});
                    let copy = serde_json::to_string(&copy).expect("json");
                    secret["metadata"]["annotations"] =
                        json!({"kubectl.kubernetes.io/last-applied-configuration": copy});
                }
                secret
            }
        }
    }

    /// Every Secret value the object holds.
    fn secret_values(&self) -> Vec<String> {
        match self {
            Object::Secret(s) => s.data.values().chain(s.string_data.values()).cloned().collect(),
            _ => Vec::new(),
        }
    }
}

/// How one document is written.
#[derive(Debug, Clone)]
struct Writing {
    json: bool,
    source_comment: Option<String>,
    empty_document_before: bool,
}

/// A render: objects in the order written, each written its own way, some grouped in a `List`.
#[derive(Debug, Clone)]
struct Render {
    objects: Vec<Object>,
    writings: Vec<Writing>,
    /// The first this many objects are written as one `kind: List`.
    listed: usize,
}

impl Render {
    fn text(&self) -> String {
        let mut out = String::new();
        let mut documents: Vec<(Value, &Writing)> = Vec::new();
        if self.listed > 0 {
            let items: Vec<Value> = self.objects[..self.listed].iter().map(Object::value).collect();
            documents.push((json!({"apiVersion": "v1", "kind": "List", "items": items}), &self.writings[0]));
        }
        for (object, writing) in self.objects.iter().zip(&self.writings).skip(self.listed) {
            documents.push((object.value(), writing));
        }
        for (value, writing) in documents {
            if writing.empty_document_before {
                out.push_str("---\n");
            }
            out.push_str("---\n");
            if let Some(source) = &writing.source_comment {
                out.push_str(&format!("# Source: {source}\n"));
            }
            if writing.json {
                out.push_str(&serde_json::to_string_pretty(&value).expect("json"));
                out.push('\n');
            } else {
                out.push_str(&yaml_serde::to_string(&value).expect("yaml"));
            }
        }
        out
    }
}

// ---------------------------------------------------------------------------------------------
// Strategies.

fn word() -> impl Strategy<Value = String> {
    "v[a-z0-9-]{0,8}"
}

fn hex() -> impl Strategy<Value = String> {
    "[0-9a-f]{8,16}"
}

/// A Secret value: the mark, then anything (quotes, newlines, `#`, YAML indicators).
fn secret_value() -> impl Strategy<Value = String> {
    prop_oneof![
        "[A-Za-z0-9+/]{0,16}={0,2}".prop_map(|v| format!("{SECRET_MARK}{v}")),
        "\\PC{0,16}".prop_map(|v| format!("{SECRET_MARK}{v}")),
        "[ -~\n\t]{0,16}".prop_map(|v| format!("{SECRET_MARK}{v}")),
    ]
}

fn secret_map() -> impl Strategy<Value = BTreeMap<String, String>> {
    proptest::collection::btree_map("[a-z][a-z0-9_.-]{0,8}", secret_value(), 0..4)
}

fn object(index: usize) -> impl Strategy<Value = Object> {
    let deployment = (
        prop::option::of(prop::sample::select(vec!["hub", "support", "other"])),
        1u32..10,
        word(),
        word(),
        word(),
        word(),
        hex(),
        hex(),
    )
        .prop_map(move |(namespace, replicas, image, app_label, chart_label, team, checksum, pod_checksum)| {
            Object::Deployment(Deployment {
                name: format!("deploy{index}"),
                namespace: namespace.map(str::to_owned),
                replicas,
                image,
                app_label,
                chart_label,
                team,
                checksum,
                pod_checksum,
            })
        });
    let config_map = (proptest::collection::btree_map("[a-z][a-z0-9_.-]{0,8}", "\\PC{0,20}", 0..4), hex(), word())
        .prop_map(move |(data, generated_at, chart_label)| {
            Object::ConfigMap(ConfigMap { name: format!("config{index}"), data, generated_at, chart_label })
        });
    let secret = (secret_map(), secret_map(), any::<bool>(), word()).prop_map(
        move |(data, string_data, last_applied, chart_label)| {
            Object::Secret(Secret { name: format!("secret{index}"), data, string_data, last_applied, chart_label })
        },
    );
    prop_oneof![deployment, config_map, secret]
}

fn objects() -> impl Strategy<Value = Vec<Object>> {
    (1usize..8).prop_flat_map(|count| (0..count).map(object).collect::<Vec<_>>())
}

fn writing() -> impl Strategy<Value = Writing> {
    (any::<bool>(), prop::option::of("[a-z]{1,8}/templates/[a-z]{1,8}\\.yaml"), proptest::bool::weighted(0.1)).prop_map(
        |(json, source_comment, empty_document_before)| Writing { json, source_comment, empty_document_before },
    )
}

/// A render of `objects`, in a random order and writing.
fn render_of(objects: Vec<Object>) -> impl Strategy<Value = Render> {
    let count = objects.len();
    (Just(objects).prop_shuffle(), proptest::collection::vec(writing(), count), 0..=count.min(3))
        .prop_map(|(objects, writings, listed)| Render { objects, writings, listed })
}

/// One change to a render's objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Change {
    // Real changes: the release must deploy.
    Replicas,
    Image,
    Namespace,
    AppLabel,
    TeamAnnotation,
    ConfigMapValue,
    ConfigMapKeyAdded,
    ConfigMapKeyRemoved,
    SecretDataValue,
    SecretStringDataValue,
    SecretKeyAdded,
    SecretKeyRemoved,
    ObjectRemoved,
    ObjectAdded,
    // What the normaliser ignores: the release may be skipped.
    Checksums,
    IgnoredLabel,
    IgnoredConfigMapAnnotation,
    Nothing,
}

impl Change {
    fn is_real(self) -> bool {
        !matches!(self, Change::Checksums | Change::IgnoredLabel | Change::IgnoredConfigMapAnnotation | Change::Nothing)
    }

    fn is_secret_value(self) -> bool {
        matches!(self, Change::SecretDataValue | Change::SecretStringDataValue)
    }
}

fn change() -> impl Strategy<Value = Change> {
    prop::sample::select(vec![
        Change::Replicas,
        Change::Image,
        Change::Namespace,
        Change::AppLabel,
        Change::TeamAnnotation,
        Change::ConfigMapValue,
        Change::ConfigMapKeyAdded,
        Change::ConfigMapKeyRemoved,
        Change::SecretDataValue,
        Change::SecretStringDataValue,
        Change::SecretKeyAdded,
        Change::SecretKeyRemoved,
        Change::ObjectRemoved,
        Change::ObjectAdded,
        Change::Checksums,
        Change::IgnoredLabel,
        Change::IgnoredConfigMapAnnotation,
        Change::Nothing,
    ])
}

/// `objects` with `change` applied to the `target`-th object it applies to; the change actually made
/// (`Nothing` when no object takes it) and, for a Secret value, the place changed.
fn apply(objects: &[Object], change: Change, target: prop::sample::Index) -> (Vec<Object>, Change, Option<String>) {
    let mut changed = objects.to_vec();
    let fits = |object: &Object| match (change, object) {
        (
            Change::Replicas | Change::Image | Change::Namespace | Change::AppLabel | Change::TeamAnnotation,
            Object::Deployment(_),
        ) => true,
        (Change::Checksums, Object::Deployment(_)) => true,
        (Change::ConfigMapValue | Change::ConfigMapKeyRemoved, Object::ConfigMap(c)) => !c.data.is_empty(),
        (Change::ConfigMapKeyAdded | Change::IgnoredConfigMapAnnotation, Object::ConfigMap(_)) => true,
        (Change::SecretDataValue, Object::Secret(s)) => !s.data.is_empty(),
        (Change::SecretStringDataValue, Object::Secret(s)) => !s.string_data.is_empty(),
        (Change::SecretKeyRemoved, Object::Secret(s)) => !s.data.is_empty(),
        (Change::SecretKeyAdded, Object::Secret(_)) => true,
        (Change::ObjectRemoved | Change::IgnoredLabel, _) => true,
        _ => false,
    };
    if change == Change::ObjectAdded {
        changed.push(Object::ConfigMap(ConfigMap {
            name: "added".into(),
            data: BTreeMap::new(),
            generated_at: "x".into(),
            chart_label: "x".into(),
        }));
        return (changed, change, None);
    }
    let candidates: Vec<usize> = (0..changed.len()).filter(|i| fits(&changed[*i])).collect();
    if candidates.is_empty() {
        return (changed, Change::Nothing, None);
    }
    let at = *target.get(&candidates);
    if change == Change::ObjectRemoved {
        changed.remove(at);
        return (changed, change, None);
    }
    let mut place = None;
    let different = |text: &str| format!("{text}x");
    match (change, &mut changed[at]) {
        (Change::Replicas, Object::Deployment(d)) => d.replicas += 1,
        (Change::Image, Object::Deployment(d)) => d.image = different(&d.image),
        (Change::Namespace, Object::Deployment(d)) => {
            d.namespace = match d.namespace.as_deref() {
                None => Some("moved".into()),
                Some(_) => None,
            }
        }
        (Change::AppLabel, Object::Deployment(d)) => d.app_label = different(&d.app_label),
        (Change::TeamAnnotation, Object::Deployment(d)) => d.team = different(&d.team),
        (Change::Checksums, Object::Deployment(d)) => {
            d.checksum = different(&d.checksum);
            d.pod_checksum = different(&d.pod_checksum);
        }
        (Change::ConfigMapValue, Object::ConfigMap(c)) => {
            let value = c.data.values_mut().next().expect("a value");
            *value = different(value);
        }
        (Change::ConfigMapKeyAdded, Object::ConfigMap(c)) => {
            c.data.insert("zz-added".into(), String::new());
        }
        (Change::ConfigMapKeyRemoved, Object::ConfigMap(c)) => {
            c.data.pop_first();
        }
        (Change::IgnoredConfigMapAnnotation, Object::ConfigMap(c)) => c.generated_at = different(&c.generated_at),
        (Change::SecretDataValue, Object::Secret(s)) => {
            let (key, value) = s.data.iter_mut().next().expect("a value");
            *value = different(value);
            place = Some(format!("data.{key}"));
        }
        (Change::SecretStringDataValue, Object::Secret(s)) => {
            let (key, value) = s.string_data.iter_mut().next().expect("a value");
            *value = different(value);
            place = Some(format!("stringData.{key}"));
        }
        (Change::SecretKeyAdded, Object::Secret(s)) => {
            s.data.insert("zz-added".into(), format!("{SECRET_MARK}new"));
        }
        (Change::SecretKeyRemoved, Object::Secret(s)) => {
            s.data.pop_first();
        }
        (Change::IgnoredLabel, Object::Deployment(d)) => d.chart_label = different(&d.chart_label),
        (Change::IgnoredLabel, Object::ConfigMap(c)) => c.chart_label = different(&c.chart_label),
        (Change::IgnoredLabel, Object::Secret(s)) => s.chart_label = different(&s.chart_label),
        _ => unreachable!("a change applied to an object it does not fit"),
    }
    (changed, change, place)
}

// ---------------------------------------------------------------------------------------------
// The pipeline, as the diff stage runs it.

/// The rules of these properties: the default ignored annotations, a `render.ignore`, and a digest key.
fn rules(key: &SecretDigestKey) -> NormaliseRules {
    let ignore = BTreeMap::from([
        ("*".to_owned(), vec!["/metadata/labels/helm.sh~1chart".to_owned()]),
        ("ConfigMap".to_owned(), vec![format!("/metadata/annotations/{IGNORED_CONFIGMAP_ANNOTATION}")]),
    ]);
    NormaliseRules {
        ignore: RenderIgnore::from_raw(Some(ignore)).expect("render.ignore"),
        secret_digests: Some(key.clone()),
        ..NormaliseRules::default()
    }
}

fn normalised(text: &str, rules: &NormaliseRules) -> Result<Manifests, TestCaseError> {
    normalise(text, rules).map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))
}

/// Both renders normalised and compared; the release's outcome as the diff stage builds it (status
/// `Changed` when any object differs; no values file changed; no unpinned dependency); and whether
/// `skip-unchanged` drops it, asked both of `is_skippable` and of `skip_unchanged` on a plan of that
/// one release.
fn decide(base: &Manifests, head: &Manifests) -> Result<(Compared, bool), TestCaseError> {
    let compared = compare_objects(base, head);
    let status = if compared.is_empty() { DiffStatus::Unchanged } else { DiffStatus::Changed };
    let outcome = ReleaseOutcome {
        diff: ReleaseDiff {
            cluster_name: "c1".into(),
            hub_name: Some("hub".into()),
            status,
            objects_added: compared.objects_added,
            objects_removed: compared.objects_removed,
            objects_changed: compared.objects_changed,
            lines_added: compared.lines_added,
            lines_removed: compared.lines_removed,
            encrypted_values_changed: Vec::new(),
            message: None,
            objects: compared.objects.clone(),
            objects_truncated: false,
        },
        values_changed: false,
        unpinned_remote_dependency: false,
    };
    let skippable = is_skippable(&outcome);
    let job = ProdHubJob {
        cluster_name: "c1".into(),
        provider: Provider::Gcp,
        hub_name: "hub".into(),
        reason_for_redeploy: "values".into(),
        rollout: None,
    };
    let skipped = skip_unchanged(&[], &[job], &[outcome]);
    prop_assert_eq!(skipped.prod_hubs.is_empty(), skippable, "skip_unchanged and is_skippable disagree");
    prop_assert_eq!(skipped.skipped.len(), usize::from(skippable));
    Ok((compared, skippable))
}

/// No Secret value in any normalised object nor in any diff.
fn no_secret_shown(manifests: &Manifests, compared: Option<&Compared>, values: &[String]) -> Result<(), TestCaseError> {
    let debug = format!("{manifests:?}");
    prop_assert!(!debug.contains(SECRET_MARK), "a Secret value in the normalised objects:\n{debug}");
    if let Some(compared) = compared {
        for object in &compared.objects {
            prop_assert!(!object.diff.contains(SECRET_MARK), "a Secret value in a diff:\n{}", object.diff);
        }
    }
    // Each value whole, in every form a writer could give it (escaped in JSON, base64 is plain).
    for value in values.iter().filter(|v| v.len() > SECRET_MARK.len() + 3) {
        prop_assert!(!debug.contains(value.as_str()), "the Secret value {value:?} shown");
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The placeholder tree.

/// A leaf of an `enc-*` values file, and what its placeholder tree holds for it.
#[derive(Debug, Clone)]
enum Leaf {
    Clear(Value),
    /// A well-formed sops value of a type; its ciphertext.
    Encrypted {
        kind: &'static str,
        data: String,
    },
    /// An `ENC[` text that is not one sops value.
    Malformed(String),
}

const CIPHER_MARK: &str = "C1pher";

fn sops_value(kind: &str, data: &str) -> String {
    format!("ENC[AES256_GCM,data:{data},iv:aXZpdml2aXZpdml2aXZpdg==,tag:dGFndGFndGFndGFndGFnZw==,type:{kind}]")
}

fn leaf() -> impl Strategy<Value = Leaf> {
    let kind = prop::sample::select(vec!["str", "bytes", "int", "float", "bool", "comment"]);
    let data = "[A-Za-z0-9+/]{0,16}={0,2}".prop_map(|d| format!("{CIPHER_MARK}{d}"));
    prop_oneof![
        4 => prop_oneof![
            "[a-z ]{0,10}".prop_map(Value::from),
            any::<i32>().prop_map(Value::from),
            any::<bool>().prop_map(Value::from),
        ]
        .prop_map(Leaf::Clear),
        4 => (kind.clone(), data.clone()).prop_map(|(kind, data)| Leaf::Encrypted { kind, data }),
        1 => (kind, data, 0usize..6).prop_map(|(kind, data, how)| {
            let good = sops_value(kind, &data);
            Leaf::Malformed(match how {
                0 => format!("x{good}"),
                1 => good[..good.len() - 1].to_owned(),
                2 => good.replace("type:", "kind:"),
                3 => good.replace("AES256_GCM", "AES128"),
                4 => good.replace(",iv:", ",iv:!"),
                _ => format!("{good},extra:1]"),
            })
        }),
    ]
}

/// A values tree of leaves, and its expected placeholder tree (`None` when some leaf is malformed).
fn values_tree() -> impl Strategy<Value = (Value, Option<Value>, Vec<String>)> {
    let leaves = leaf().prop_map(|leaf| {
        let (written, expected, ciphers) = match leaf {
            Leaf::Clear(value) => (value.clone(), Some(value), vec![]),
            Leaf::Encrypted { kind, data } => {
                let placeholder = match kind {
                    "int" => json!(0),
                    "float" => json!(0.0),
                    "bool" => json!(false),
                    _ => json!(PLACEHOLDER),
                };
                (json!(sops_value(kind, &data)), Some(placeholder), vec![data])
            }
            Leaf::Malformed(text) => (json!(text), None, vec![]),
        };
        (written, expected, ciphers)
    });
    leaves.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(|items| {
                let written = Value::Array(items.iter().map(|i| i.0.clone()).collect());
                let expected = items.iter().map(|i| i.1.clone()).collect::<Option<Vec<_>>>().map(Value::Array);
                (written, expected, items.into_iter().flat_map(|i| i.2).collect())
            }),
            proptest::collection::btree_map("k[a-z]{0,6}", inner, 0..4).prop_map(|entries| {
                let written = Value::Object(entries.iter().map(|(k, v)| (k.clone(), v.0.clone())).collect());
                let expected = entries
                    .iter()
                    .map(|(k, v)| v.1.clone().map(|e| (k.clone(), e)))
                    .collect::<Option<serde_json::Map<_, _>>>()
                    .map(Value::Object);
                (written, expected, entries.into_values().flat_map(|v| v.2).collect())
            }),
        ]
    })
}

const SOPS_BLOCK: &str = "sops:\n  mac: ENC[AES256_GCM,data:MACC1pher,iv:aXY=,tag:dGFn,type:str]\n  lastmodified: \"2026-01-01T00:00:00Z\"\n  version: 3.9.0\n";

proptest! {
    #![proptest_config(ProptestConfig { cases: CASES, ..ProptestConfig::default() })]

    #[test]
    fn normalising_is_idempotent(render in objects().prop_flat_map(render_of)) {
        let key = SecretDigestKey::random().expect("randomness");
        let rules = rules(&key);
        let once = normalised(&render.text(), &rules)?;
        let written_back: String = once.objects.values().map(|text| format!("---\n{text}")).collect();
        let twice = normalised(&written_back, &rules)?;
        prop_assert_eq!(&twice.objects, &once.objects);
        prop_assert_eq!(twice.secrets.keys().collect::<Vec<_>>(), once.secrets.keys().collect::<Vec<_>>());
    }

    #[test]
    fn normalising_ignores_how_a_render_is_written(
        (first, second) in objects().prop_flat_map(|objects| (render_of(objects.clone()), render_of(objects))),
    ) {
        let key = SecretDigestKey::random().expect("randomness");
        let rules = rules(&key);
        let first_manifests = normalised(&first.text(), &rules)?;
        let second_manifests = normalised(&second.text(), &rules)?;
        prop_assert_eq!(&first_manifests, &second_manifests);
        // One object per object written, keyed by its name.
        let mut names: Vec<&str> = first_manifests.objects.keys().map(|k: &ObjectKey| k.name.as_str()).collect();
        let mut expected: Vec<&str> = first.objects.iter().map(Object::name).collect();
        names.sort_unstable();
        expected.sort_unstable();
        prop_assert_eq!(names, expected);
    }

    #[test]
    fn a_release_is_skipped_only_when_nothing_but_ignored_parts_change(
        (objects, base, head_writing) in objects().prop_flat_map(|objects| (Just(objects.clone()), render_of(objects.clone()), render_of(objects))),
        change in change(),
        target in any::<prop::sample::Index>(),
    ) {
        let (changed, change, place) = apply(&objects, change, target);
        // The head: the changed objects, written as the second render writes the originals.
        let order: Vec<&str> = head_writing.objects.iter().map(Object::name).collect();
        let mut head_objects = changed.clone();
        head_objects.sort_by_key(|o| order.iter().position(|n| *n == o.name()).unwrap_or(usize::MAX));
        let mut writings = head_writing.writings.clone();
        writings.resize(head_objects.len(), Writing { json: false, source_comment: None, empty_document_before: false });
        let listed = head_writing.listed.min(head_objects.len());
        let head = Render { objects: head_objects, writings, listed };
        let key = SecretDigestKey::random().expect("randomness");
        let rules = rules(&key);
        let base_manifests = normalised(&base.text(), &rules)?;
        let head_manifests = normalised(&head.text(), &rules)?;
        let (compared, skippable) = decide(&base_manifests, &head_manifests)?;
        prop_assert_eq!(skippable, !change.is_real(), "{:?}: skippable {}", change, skippable);
        if let Some(place) = place {
            prop_assert!(change.is_secret_value());
            let changed_places: Vec<String> = base_manifests
                .secrets
                .keys()
                .flat_map(|key| changed_secret_places(base_manifests.secrets.get(key), head_manifests.secrets.get(key)))
                .collect();
            prop_assert!(changed_places.contains(&place), "{place} not in {changed_places:?}");
            prop_assert!(compared.objects.iter().any(|o| o.diff.contains(SECRET_VALUES_CHANGED)), "no Secret note in the diff");
        }
        let values: Vec<String> = objects.iter().chain(&changed).flat_map(Object::secret_values).collect();
        no_secret_shown(&base_manifests, Some(&compared), &values)?;
        no_secret_shown(&head_manifests, Some(&compared), &values)?;
    }

    #[test]
    fn no_secret_value_is_ever_shown(render in objects().prop_flat_map(render_of), digests in any::<bool>()) {
        let key = SecretDigestKey::random().expect("randomness");
        let mut rules = rules(&key);
        if !digests {
            rules.secret_digests = None;
        }
        let manifests = normalised(&render.text(), &rules)?;
        let values: Vec<String> = render.objects.iter().flat_map(Object::secret_values).collect();
        no_secret_shown(&manifests, None, &values)?;
        // An added release shows every object whole: still no value.
        let compared = compare_objects(&Manifests::default(), &manifests);
        no_secret_shown(&manifests, Some(&compared), &values)?;
    }

}

proptest! {
    #![proptest_config(ProptestConfig { cases: PLACEHOLDER_CASES, ..ProptestConfig::default() })]

    #[test]
    fn the_placeholder_tree_holds_no_ciphertext((tree, expected, ciphers) in values_tree(), json_form in any::<bool>()) {
        let tree = if tree.is_object() { tree } else { json!({"kvalue": tree}) };
        let expected = expected.map(|e| if e.is_object() { e } else { json!({"kvalue": e}) });
        let text = if json_form {
            let mut with_sops = tree.clone();
            with_sops["sops"] = json!({"mac": "ENC[AES256_GCM,data:MACC1pher,iv:aXY=,tag:dGFn,type:str]"});
            serde_json::to_string_pretty(&with_sops).expect("json")
        } else {
            let body = if tree.as_object().is_some_and(serde_json::Map::is_empty) {
                String::new()
            } else {
                yaml_serde::to_string(&tree).expect("yaml")
            };
            format!("{body}{SOPS_BLOCK}")
        };
        let out = placeholder_tree("enc-values.yaml", &text);
        match (&out, &expected) {
            (Ok(out), Some(expected)) => {
                prop_assert!(!out.contains("ENC["), "an ENC[ text kept:\n{out}");
                prop_assert!(!out.contains(CIPHER_MARK), "a ciphertext kept:\n{out}");
                for cipher in &ciphers {
                    prop_assert!(!out.contains(cipher.as_str()));
                }
                let parsed: yaml_serde::Value = yaml_serde::from_str(out).expect("placeholder tree is YAML");
                let expected: yaml_serde::Value = yaml_serde::to_value(expected).expect("expected tree");
                prop_assert_eq!(parsed, expected);
            }
            (Err(PlaceholderError::Malformed { .. }), None) => {}
            _ => prop_assert!(false, "{out:?} for a tree whose expected placeholders are {expected:?}"),
        }
        if let Err(error) = &out {
            prop_assert!(!error.to_string().contains(CIPHER_MARK), "{error}");
        }
    }
}
