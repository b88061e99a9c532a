//! Properties of the readers of untrusted input (issue 27): on any bytes they never panic, and they
//! stay within their bounds.
//!
//! - The configuration loader (`deployer.yaml`, `cluster.yaml`, read from a repository on disk as
//!   `generate` does): arbitrary text and mutated valid files load or are refused with diagnostics.
//! - The YAML guard: never panics; a text the byte scan proves bounded is refused by the exact check
//!   for nothing but a syntax error; anchor and alias bombs and nesting past the limit are refused;
//!   whatever `check` accepts deserialises into a value no bigger than its text.
//! - The artifact reader: arbitrary bytes and mutated zips (truncated, flipped bytes, forged sizes,
//!   hostile names, many entries, deflate bombs) are read within the limits or refused; the bytes it
//!   returns never pass `max_uncompressed`; a well-formed archive is read exactly, or refused for the
//!   reason the limits give.
//! - The event parser: any JSON value (and any bytes in `GITHUB_EVENT_PATH`) gives a trigger or an
//!   error, and a trigger holds only valid SHAs.
//!
//! "Within bounds" in time is a loose wall-clock guard per call ([`BLOWUP`], far above what any case
//! takes even in a debug build): it catches exponential blowup, it is not a speed target. Memory is
//! checked through the size of what comes out.

#[allow(dead_code)]
#[path = "support/zip_builder.rs"]
mod zip_builder;

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use deployer::base::event::{is_sha, parse_trigger, Trigger};
use deployer::base::runner::RunnerEnv;
use deployer::config::load::{load, load_chart_inputs, load_settings, LoadOptions};
use deployer::config::yaml_guard::{self, Refusal, MAX_DEPTH};
use deployer::github::artifact::{read_files, ArtifactError, ArtifactLimits};
use proptest::prelude::*;
use zip_builder::Entry;

/// Cases of the cheap, pure properties (the guard, the reader on arbitrary bytes, the event parser).
const CASES: u32 = 1000;
/// Cases of deep nesting (documents of up to 140 levels).
const NESTING_CASES: u32 = 300;
/// Cases of the properties that build an archive or write an event file per case.
const ARCHIVE_CASES: u32 = 120;
/// Cases of archives of up to 100 entries.
const MANY_ENTRIES_CASES: u32 = 40;
/// Cases of the loader, which writes a repository to disk and loads it per case.
const LOADER_CASES: u32 = 60;
/// A call taking longer than this is a blowup (a guard, not a speed target).
const BLOWUP: Duration = Duration::from_secs(2);

/// Runs `f`, failing the case when it takes longer than [`BLOWUP`].
fn timed<T>(what: &str, f: impl FnOnce() -> T) -> Result<T, TestCaseError> {
    let start = Instant::now();
    let out = f();
    let took = start.elapsed();
    prop_assert!(took < BLOWUP, "{what} took {took:?}");
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Text: arbitrary, and valid files mutated.

/// Pieces with meaning to YAML (and to the loader), inserted by the mutations.
const YAML_PIECES: &[&str] = &[
    "&a ",
    "*a",
    "!!binary ",
    "!!str ",
    "!custom ",
    "<<: *a\n",
    "{",
    "}",
    "[",
    "]",
    ": ",
    "- ",
    "? ",
    "\t",
    "\n",
    "  ",
    "# c",
    "'",
    "\"",
    "|\n",
    ">-\n",
    "---\n",
    "...\n",
    "~",
    "null",
    "0x1F",
    "1e400",
    "-99999999999999999999999",
    "\u{feff}",
    "\u{85}",
    "\u{2028}",
    "\r",
    "\0",
    "%YAML 1.2\n",
    "%TAG ! tag:x,2000:\n",
    "é",
    "hubs:",
    "name: ",
    "helm_chart_values_files:",
    "../../../etc/passwd",
    "/etc/passwd",
    "enc-x.yaml",
    "support:",
    "provider: aws",
    "render:\n  ignore:\n    \"*\": [\"/a/~2\"]\n",
    "clusters:\n  glob: \"**\"\n",
    "\\",
    "\u{202e}",
];

/// One edit of a text, at a position given as a fraction of its length.
#[derive(Debug, Clone)]
enum Edit {
    Delete { at: f64, len: usize },
    Insert { at: f64, piece: usize },
    DuplicateLine { at: f64 },
    Truncate { at: f64 },
    Indent { at: f64, spaces: usize },
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (0.0..1.0, 1usize..20).prop_map(|(at, len)| Edit::Delete { at, len }),
        (0.0..1.0, 0..YAML_PIECES.len()).prop_map(|(at, piece)| Edit::Insert { at, piece }),
        (0.0..1.0).prop_map(|at| Edit::DuplicateLine { at }),
        (0.0..1.0).prop_map(|at| Edit::Truncate { at }),
        (0.0..1.0, 1usize..9).prop_map(|(at, spaces)| Edit::Indent { at, spaces }),
    ]
}

/// `text` with `edits` applied, on character boundaries.
fn mutate(text: &str, edits: &[Edit]) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    let index = |at: f64, len: usize| ((at * len as f64) as usize).min(len);
    for edit in edits {
        let len = chars.len();
        match edit {
            Edit::Delete { at, len: count } => {
                let start = index(*at, len);
                let end = (start + count).min(len);
                chars.drain(start..end);
            }
            Edit::Insert { at, piece } => {
                let start = index(*at, len);
                chars.splice(start..start, YAML_PIECES[*piece].chars());
            }
            Edit::DuplicateLine { at } => {
                let start = index(*at, len);
                let line_start = chars[..start].iter().rposition(|c| *c == '\n').map_or(0, |p| p + 1);
                let line_end = chars[start..].iter().position(|c| *c == '\n').map_or(len, |p| start + p + 1);
                let line: Vec<char> = chars[line_start..line_end].to_vec();
                chars.splice(line_end..line_end, line);
            }
            Edit::Truncate { at } => chars.truncate(index(*at, len)),
            Edit::Indent { at, spaces } => {
                let start = index(*at, len);
                let line_start = chars[..start].iter().rposition(|c| *c == '\n').map_or(0, |p| p + 1);
                chars.splice(line_start..line_start, std::iter::repeat_n(' ', *spaces));
            }
        }
    }
    chars.into_iter().collect()
}

/// Any text: arbitrary characters, or YAML pieces strung together.
fn arbitrary_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "\\PC{0,300}",
        proptest::collection::vec(0..YAML_PIECES.len(), 0..60)
            .prop_map(|pieces| pieces.into_iter().map(|p| YAML_PIECES[p]).collect::<String>()),
    ]
}

/// `text`, mutated by up to 8 edits.
fn mutated(text: &'static str) -> impl Strategy<Value = String> {
    proptest::collection::vec(edit(), 0..8).prop_map(move |edits| mutate(text, &edits))
}

// ---------------------------------------------------------------------------------------------
// The configuration loader.

/// A valid `cluster.yaml` of the example repository (the conformance fixture's cluster1).
const CLUSTER_YAML: &str = include_str!("fixtures/conformance/repo/config/clusters/cluster1/cluster.yaml");

/// A valid `deployer.yaml` using the main sections.
const DEPLOYER_YAML: &str = "\
clusters:
  glob: config/clusters/**/cluster.yaml
health_checks:
  cluster_paths:
    - terraform/{provider}/projects/{cluster}.tfvars
  provider_paths:
    - terraform/{provider}/modules/**
render:
  ignore:
    Deployment:
      - /spec/replicas
    \"*\":
      - /metadata/labels/helm.sh~1chart
";

/// The files the cluster lists, beside it.
const VALUES_FILES: &[&str] = &[
    "support.values.yaml",
    "enc-support.secret.values.yaml",
    "staging.values.yaml",
    "hub1.values.yaml",
    "hub2.values.yaml",
    "hub3.values.yaml",
];

/// A repository with charts, `cluster.yaml` and (when given) `deployer.yaml`.
fn write_repo(root: &Path, cluster: &str, settings: Option<&str>) {
    for chart in ["basehub", "daskhub", "support"] {
        let dir = root.join("helm-charts").join(chart);
        fs::create_dir_all(&dir).expect("chart folder");
        fs::write(dir.join("Chart.yaml"), format!("apiVersion: v2\nname: {chart}\nversion: 0.1.0\n")).expect("chart");
    }
    let cluster_dir = root.join("config/clusters/cluster1");
    fs::create_dir_all(&cluster_dir).expect("cluster folder");
    fs::write(cluster_dir.join("cluster.yaml"), cluster).expect("cluster.yaml");
    for file in VALUES_FILES {
        fs::write(cluster_dir.join(file), "key: value\n").expect("values file");
    }
    if let Some(settings) = settings {
        fs::write(root.join("deployer.yaml"), settings).expect("deployer.yaml");
    }
}

/// What `generate` does with a checkout: settings, then every cluster, then the charts' inputs.
/// `Ok` when all of it loads; errors are diagnostics.
fn load_like_generate(repo: &Path) -> Result<(), deployer::base::error::Error> {
    let settings = load_settings(repo, None)?;
    let loaded = load(repo, &settings, LoadOptions { notices: true })?;
    load_chart_inputs(repo, &loaded.estate)?;
    Ok(())
}

fn loads(cluster: &str, settings: Option<&str>) -> Result<bool, TestCaseError> {
    let repo = tempfile::tempdir().expect("temporary repository");
    write_repo(repo.path(), cluster, settings);
    timed("loading the repository", || load_like_generate(repo.path()).is_ok())
}

#[test]
fn the_unmutated_files_load() {
    let repo = tempfile::tempdir().expect("temporary repository");
    write_repo(repo.path(), CLUSTER_YAML, Some(DEPLOYER_YAML));
    if let Err(error) = load_like_generate(repo.path()) {
        panic!("the valid files do not load: {error}");
    }
}

// ---------------------------------------------------------------------------------------------
// The YAML guard.

/// A billion-laughs document: `levels` anchors, each aliasing the previous one `width` times.
fn alias_bomb(levels: usize, width: usize, flow: bool) -> String {
    let mut text = String::from("a0: &a0 [lol]\n");
    for level in 1..=levels {
        let aliases = vec![format!("*a{}", level - 1); width];
        if flow {
            text.push_str(&format!("a{level}: &a{level} [{}]\n", aliases.join(", ")));
        } else {
            text.push_str(&format!("a{level}: &a{level}\n"));
            for alias in aliases {
                text.push_str(&format!("  - {alias}\n"));
            }
        }
    }
    text
}

/// How a deep document nests.
#[derive(Debug, Clone, Copy)]
enum Nesting {
    FlowSequences,
    FlowMappings,
    BlockMappings,
    BlockSequences,
    Mixed,
}

/// A document nested `depth` collections deep.
fn nested(depth: usize, style: Nesting) -> String {
    match style {
        Nesting::FlowSequences => format!("{}1{}", "[".repeat(depth), "]".repeat(depth)),
        Nesting::FlowMappings => format!("{}1{}", "{a: ".repeat(depth), "}".repeat(depth)),
        Nesting::BlockMappings => {
            (0..depth).map(|level| format!("{}k{level}:\n", " ".repeat(level))).collect::<String>()
                + &" ".repeat(depth)
                + "leaf\n"
        }
        Nesting::BlockSequences => {
            (0..depth).map(|level| format!("{}- ", " ".repeat(2 * level))).collect::<Vec<_>>().join("\n") + "x\n"
        }
        Nesting::Mixed => {
            // Block mappings holding a flow sequence of flow mappings.
            let block = depth / 2;
            let flow = depth - block;
            let mut text: String = (0..block).map(|level| format!("{}k{level}:\n", " ".repeat(level))).collect();
            text.push_str(&" ".repeat(block));
            text.push_str(&format!("{}x{}\n", "[{a: ".repeat(flow / 2), "}]".repeat(flow / 2)));
            if flow % 2 == 1 {
                text = text.replacen("x", "[x]", 1);
            }
            text
        }
    }
}

fn nesting() -> impl Strategy<Value = Nesting> {
    prop_oneof![
        Just(Nesting::FlowSequences),
        Just(Nesting::FlowMappings),
        Just(Nesting::BlockMappings),
        Just(Nesting::BlockSequences),
        Just(Nesting::Mixed),
    ]
}

/// The deepest nesting of collections in a parsed value (a scalar is 0).
fn depth_of(value: &yaml_serde::Value) -> usize {
    match value {
        yaml_serde::Value::Sequence(items) => 1 + items.iter().map(depth_of).max().unwrap_or(0),
        yaml_serde::Value::Mapping(entries) => {
            1 + entries.iter().map(|(k, v)| depth_of(k).max(depth_of(v))).max().unwrap_or(0)
        }
        yaml_serde::Value::Tagged(tagged) => depth_of(&tagged.value),
        _ => 0,
    }
}

/// The nodes of a parsed value.
fn nodes_of(value: &yaml_serde::Value) -> usize {
    match value {
        yaml_serde::Value::Sequence(items) => 1 + items.iter().map(nodes_of).sum::<usize>(),
        yaml_serde::Value::Mapping(entries) => {
            1 + entries.iter().map(|(k, v)| nodes_of(k) + nodes_of(v)).sum::<usize>()
        }
        yaml_serde::Value::Tagged(tagged) => 1 + nodes_of(&tagged.value),
        _ => 1,
    }
}

/// The guard on `text`: never a panic nor a blowup; the byte scan is sound (what it proves bounded
/// the exact check refuses only for syntax); `is_bounded` is their union; and what `check` accepts
/// deserialises quickly into a value of bounded depth and of at most a few nodes per byte (no alias
/// expansion).
fn guard_holds(text: &str) -> Result<(), TestCaseError> {
    let checked = timed("check", || yaml_guard::check(text))?;
    let proven = timed("provably_within_limits", || yaml_guard::provably_within_limits(text))?;
    let bounded = timed("is_bounded", || yaml_guard::is_bounded(text))?;
    if proven {
        prop_assert!(
            matches!(checked, Ok(()) | Err(Refusal::Syntax { .. })),
            "the byte scan proved the text bounded, the check refused it: {checked:?}"
        );
    }
    prop_assert_eq!(bounded, proven || checked.is_ok());
    if checked.is_ok() {
        // One value per document, as the manifest reader deserialises them.
        let parsed = timed("deserialising what check accepted", || {
            use serde::Deserialize;
            yaml_serde::Deserializer::from_str(text).map(yaml_serde::Value::deserialize).collect::<Result<Vec<_>, _>>()
        })?;
        if let Ok(documents) = parsed {
            let nodes: usize = documents.iter().map(nodes_of).sum();
            prop_assert!(nodes <= 4 * (text.len() + 1), "{nodes} nodes from {} bytes", text.len());
            let depth = documents.iter().map(depth_of).max().unwrap_or(0);
            prop_assert!(depth <= MAX_DEPTH, "depth {depth} accepted");
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The artifact reader.

/// Small limits, so that generated archives cross them often.
fn limits() -> impl Strategy<Value = ArtifactLimits> {
    (1u64..200_000, 0u64..20_000, 0usize..40).prop_map(|(max_compressed, max_uncompressed, max_entries)| {
        ArtifactLimits { max_compressed, max_uncompressed, max_entries }
    })
}

/// Entry names: plain, nested, and every kind of unsafe one.
fn entry_name() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-z]{1,8}(\\.json)?",
        2 => "[a-z]{1,5}/[a-z]{1,5}/[a-z]{1,8}",
        1 => Just("../plan.json".to_owned()),
        1 => Just("a/../../plan.json".to_owned()),
        1 => Just("/etc/passwd".to_owned()),
        1 => Just("C:/x".to_owned()),
        1 => Just("a\\..\\x".to_owned()),
        1 => Just("a\0b".to_owned()),
        1 => Just(String::new()),
    ]
}

/// What an entry holds: random bytes, or zeros that deflate into almost nothing (a bomb).
#[derive(Debug, Clone)]
enum Content {
    Bytes(Vec<u8>),
    Zeros(usize),
}

impl Content {
    fn bytes(&self) -> Vec<u8> {
        match self {
            Content::Bytes(bytes) => bytes.clone(),
            Content::Zeros(len) => vec![0; *len],
        }
    }
}

fn content() -> impl Strategy<Value = Content> {
    prop_oneof![
        3 => proptest::collection::vec(any::<u8>(), 0..3000).prop_map(Content::Bytes),
        1 => (0usize..200_000).prop_map(Content::Zeros),
    ]
}

/// One generated entry: name, content, deflated or stored, a symlink or a file.
#[derive(Debug, Clone)]
struct GeneratedEntry {
    name: String,
    content: Content,
    deflate: bool,
    symlink: bool,
}

fn entries() -> impl Strategy<Value = Vec<GeneratedEntry>> {
    proptest::collection::vec(
        (entry_name(), content(), any::<bool>(), proptest::bool::weighted(0.03))
            .prop_map(|(name, content, deflate, symlink)| GeneratedEntry { name, content, deflate, symlink }),
        0..12,
    )
}

/// The archive of `entries`, written byte by byte (a zip writer refuses the hostile ones).
fn hand_built(entries: &[GeneratedEntry]) -> Vec<u8> {
    let built: Vec<Entry> = entries
        .iter()
        .map(|e| Entry { name: e.name.clone(), data: e.content.bytes(), deflate: e.deflate, symlink: e.symlink })
        .collect();
    zip_builder::build(&built)
}

/// A valid archive of plain files, written with the `zip` crate; names made unique.
fn written(files: &[(String, Vec<u8>, bool)]) -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (index, (name, data, deflate)) in files.iter().enumerate() {
        let method = if *deflate { zip::CompressionMethod::Deflated } else { zip::CompressionMethod::Stored };
        let options = zip::write::SimpleFileOptions::default().compression_method(method);
        writer.start_file(format!("{index}/{name}"), options).expect("zip entry");
        writer.write_all(data).expect("zip data");
    }
    writer.finish().expect("zip").into_inner()
}

fn written_files() -> impl Strategy<Value = Vec<(String, Vec<u8>, bool)>> {
    proptest::collection::vec(("[a-z]{1,8}", proptest::collection::vec(any::<u8>(), 0..2000), any::<bool>()), 1..8)
}

/// A damage done to an archive.
#[derive(Debug, Clone)]
enum Damage {
    Truncate(f64),
    Flip {
        at: f64,
        mask: u8,
    },
    /// A 32-bit field after a signature (`PK\x01\x02` or `PK\x03\x04`) overwritten: forged sizes,
    /// offsets, name lengths.
    Forge {
        header: usize,
        field: usize,
        value: u32,
    },
    Append(Vec<u8>),
}

fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        (0.0..1.0).prop_map(Damage::Truncate),
        (0.0..1.0, 1u8..=255).prop_map(|(at, mask)| Damage::Flip { at, mask }),
        (0usize..16, 4usize..40, prop_oneof![Just(u32::MAX), Just(0u32), Just(0x7fff_ffff), any::<u32>()])
            .prop_map(|(header, field, value)| Damage::Forge { header, field, value }),
        proptest::collection::vec(any::<u8>(), 1..64).prop_map(Damage::Append),
    ]
}

fn damaged(mut zip: Vec<u8>, damages: &[Damage]) -> Vec<u8> {
    for damage in damages {
        let len = zip.len();
        match damage {
            Damage::Truncate(at) => zip.truncate((at * len as f64) as usize),
            Damage::Flip { at, mask } if len > 0 => {
                let index = ((at * len as f64) as usize).min(len - 1);
                zip[index] ^= mask;
            }
            Damage::Flip { .. } => {}
            Damage::Forge { header, field, value } => {
                let starts: Vec<usize> = zip
                    .windows(4)
                    .enumerate()
                    .filter(|(_, w)| *w == b"PK\x01\x02" || *w == b"PK\x03\x04" || *w == b"PK\x05\x06")
                    .map(|(i, _)| i)
                    .collect();
                if let Some(start) = starts.get(header % starts.len().max(1)) {
                    let at = start + field;
                    if at + 4 <= len {
                        zip[at..at + 4].copy_from_slice(&value.to_le_bytes());
                    }
                }
            }
            Damage::Append(bytes) => zip.extend_from_slice(bytes),
        }
    }
    zip
}

/// The names asked for: some of the archive's, some absent.
fn wanted_of(names: &[String], pick: &[prop::sample::Index], extra: &[String]) -> Vec<String> {
    let mut wanted: Vec<String> = pick.iter().filter(|_| !names.is_empty()).map(|i| i.get(names).clone()).collect();
    wanted.extend(extra.iter().cloned());
    wanted.sort();
    wanted.dedup();
    wanted
}

/// The reader on `zip`: never a panic nor a blowup, only wanted names in the answer, and never more
/// than `max_uncompressed` bytes in all.
fn read_within_limits(
    zip: &[u8],
    wanted: &[String],
    limits: ArtifactLimits,
) -> Result<Result<BTreeMap<String, Vec<u8>>, ArtifactError>, TestCaseError> {
    let wanted_refs: Vec<&str> = wanted.iter().map(String::as_str).collect();
    let read = timed("read_files", || read_files(zip, &wanted_refs, limits))?;
    if let Ok(files) = &read {
        let total: u64 = files.values().map(|f| f.len() as u64).sum();
        prop_assert!(total <= limits.max_uncompressed, "{total} bytes returned, limit {}", limits.max_uncompressed);
        prop_assert!(files.keys().all(|name| wanted.contains(name)), "an unwanted name returned: {:?}", files.keys());
        prop_assert!(zip.len() as u64 <= limits.max_compressed, "an archive over max_compressed was read");
    }
    Ok(read)
}

/// [`read_within_limits`], whatever it read.
fn stays_within_limits(zip: &[u8], wanted: &[String], limits: ArtifactLimits) -> Result<(), TestCaseError> {
    read_within_limits(zip, wanted, limits).map(drop)
}

// ---------------------------------------------------------------------------------------------
// The event parser.

/// Any JSON value, up to a few levels deep.
fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::Bool),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<u64>().prop_map(serde_json::Value::from),
        any::<f64>().prop_map(serde_json::Value::from),
        any::<String>().prop_map(serde_json::Value::String),
        "[0-9a-f]{40}".prop_map(serde_json::Value::String),
        "0{40}".prop_map(serde_json::Value::String),
    ];
    leaf.prop_recursive(3, 32, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::Array),
            proptest::collection::btree_map(json_key(), inner, 0..6)
                .prop_map(|map| serde_json::Value::Object(map.into_iter().collect())),
        ]
    })
}

/// Keys the parser reads, and others.
fn json_key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(vec![
            "pull_request", "number", "head", "base", "sha", "labels", "name", "changed_files", "repo", "full_name",
            "before", "after", "workflow_run", "id", "head_sha", "event", "pull_requests", "head_repository",
        ])
        .prop_map(str::to_owned),
        1 => any::<String>(),
    ]
}

/// A payload shaped like an event's, with any values where the parser looks.
fn event_payload() -> impl Strategy<Value = serde_json::Value> {
    (json_value(), json_value(), json_value(), json_value(), json_value()).prop_map(|(number, sha, labels, repo, any)| {
        serde_json::json!({
            "pull_request": {"number": number, "head": {"sha": sha, "repo": repo}, "base": {"sha": any}, "labels": labels},
            "before": sha, "after": sha,
            "workflow_run": {"id": number, "head_sha": sha, "pull_requests": labels, "head_repository": repo, "event": any},
        })
    })
}

fn event_name() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(vec!["pull_request", "pull_request_target", "push", "workflow_dispatch", "workflow_run"])
            .prop_map(str::to_owned),
        1 => any::<String>(),
    ]
}

/// A trigger holds only what the parser validated.
fn trigger_is_valid(trigger: &Trigger) -> Result<(), TestCaseError> {
    match trigger {
        Trigger::PullRequest(pr) => {
            prop_assert!(is_sha(&pr.head_sha), "head sha {:?}", pr.head_sha);
            prop_assert!(pr.base_sha.as_deref().is_none_or(is_sha), "base sha {:?}", pr.base_sha);
        }
        Trigger::Push { before, after } => prop_assert!(is_sha(before) && is_sha(after), "{before:?} {after:?}"),
        Trigger::WorkflowRun(run) => prop_assert!(is_sha(&run.head_sha), "head sha {:?}", run.head_sha),
        Trigger::WorkflowDispatch | Trigger::Other(_) => {}
    }
    Ok(())
}

/// JSON text nested `depth` deep, possibly unclosed: a stack-depth attack on the event file.
fn deep_json(depth: usize, closed: bool) -> String {
    let open = "{\"pull_request\":[".repeat(depth);
    if closed {
        format!("{open}1{}", "]}".repeat(depth))
    } else {
        open
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: CASES, ..ProptestConfig::default() })]

    #[test]
    fn the_guard_holds_on_any_text(text in arbitrary_text()) {
        guard_holds(&text)?;
    }

    #[test]
    fn the_guard_holds_on_mutated_configuration(text in prop_oneof![mutated(CLUSTER_YAML), mutated(DEPLOYER_YAML)]) {
        guard_holds(&text)?;
    }

    #[test]
    fn the_guard_refuses_alias_bombs(levels in 1usize..12, width in 1usize..12, flow in any::<bool>(), prefix in mutated(DEPLOYER_YAML)) {
        let text = format!("{prefix}\n{}", alias_bomb(levels, width, flow));
        prop_assert!(!timed("is_bounded", || yaml_guard::is_bounded(&text))?);
        prop_assert!(!yaml_guard::provably_within_limits(&text));
        prop_assert!(yaml_guard::check(&text).is_err());
        // Alone, a bomb is refused for its first anchor.
        let alone = alias_bomb(levels, width, flow);
        prop_assert!(matches!(yaml_guard::check(&alone), Err(Refusal::Anchor { .. })), "{:?}", yaml_guard::check(&alone));
    }

    #[test]
    fn the_artifact_reader_stays_within_its_limits_on_any_bytes(
        bytes in proptest::collection::vec(any::<u8>(), 0..4000),
        limits in limits(),
        wanted in proptest::collection::vec("[a-z]{1,4}", 0..4),
    ) {
        stays_within_limits(&bytes, &wanted, limits)?;
        // The same bytes behind a zip signature and an end-of-central-directory record.
        let mut framed = b"PK\x03\x04".to_vec();
        framed.extend_from_slice(&bytes);
        framed.extend_from_slice(b"PK\x05\x06");
        framed.extend_from_slice(&bytes[..bytes.len().min(18)]);
        stays_within_limits(&framed, &wanted, limits)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: LOADER_CASES, ..ProptestConfig::default() })]

    #[test]
    fn the_config_loader_never_panics_on_mutated_files(
        cluster in prop_oneof![4 => mutated(CLUSTER_YAML), 1 => arbitrary_text()],
        settings in prop_oneof![2 => Just(None), 2 => mutated(DEPLOYER_YAML).prop_map(Some), 1 => arbitrary_text().prop_map(Some)],
    ) {
        loads(&cluster, settings.as_deref())?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: ARCHIVE_CASES, ..ProptestConfig::default() })]

    #[test]
    fn a_well_formed_artifact_is_read_exactly_or_refused_for_its_limits(
        entries in entries(),
        limits in limits(),
        pick in proptest::collection::vec(any::<prop::sample::Index>(), 0..6),
        absent in proptest::collection::vec("[a-z]{1,8}\\.missing", 0..2),
    ) {
        let zip = hand_built(&entries);
        let names: Vec<String> = entries.iter().map(|e| e.name.clone()).collect();
        let wanted = wanted_of(&names, &pick, &absent);
        let read = read_within_limits(&zip, &wanted, limits)?;
        // The reasons, in the order the reader checks them.
        let mut unique = names.clone();
        unique.sort();
        unique.dedup();
        let unsafe_name = names.iter().any(|n| !deployer::github::artifact::is_safe_entry_name(n));
        let symlink = entries.iter().any(|e| e.symlink);
        let wanted_bytes: u64 = wanted
            .iter()
            .filter_map(|w| entries.iter().find(|e| &e.name == w))
            .map(|e| e.content.bytes().len() as u64)
            .sum();
        if zip.len() as u64 > limits.max_compressed {
            prop_assert!(matches!(read, Err(ArtifactError::TooLarge { .. })), "{read:?}");
        } else if unsafe_name || symlink || unique.len() != names.len() {
            // Refused whole (a duplicate name may also shrink the count the entry cap sees).
            prop_assert!(
                matches!(
                    read,
                    Err(ArtifactError::UnsafePath(_)
                        | ArtifactError::Symlink(_)
                        | ArtifactError::Duplicate(_)
                        | ArtifactError::TooManyEntries { .. }
                        | ArtifactError::NotZip(_))
                ),
                "{read:?}"
            );
        } else if entries.len() > limits.max_entries {
            prop_assert!(matches!(read, Err(ArtifactError::TooManyEntries { .. })), "{read:?}");
        } else if wanted_bytes > limits.max_uncompressed {
            prop_assert!(matches!(read, Err(ArtifactError::InflatesTooLarge { .. })), "{read:?}");
        } else {
            let files = read.map_err(|e| TestCaseError::fail(format!("refused: {e}")))?;
            let expected: BTreeMap<String, Vec<u8>> = wanted
                .iter()
                .filter_map(|w| entries.iter().find(|e| &e.name == w).map(|e| (w.clone(), e.content.bytes())))
                .collect();
            prop_assert!(files == expected, "read {:?}, expected {:?}", files.keys(), expected.keys());
        }
    }

    #[test]
    fn a_damaged_artifact_is_read_within_its_limits_or_refused(
        source in prop_oneof![
            entries().prop_map(|entries| (hand_built(&entries), entries.into_iter().map(|e| e.name).collect::<Vec<_>>())),
            written_files().prop_map(|files| (written(&files), files.iter().enumerate().map(|(i, f)| format!("{i}/{}", f.0)).collect())),
        ],
        damages in proptest::collection::vec(damage(), 1..4),
        limits in limits(),
        pick in proptest::collection::vec(any::<prop::sample::Index>(), 0..6),
    ) {
        let (zip, names) = source;
        let wanted = wanted_of(&names, &pick, &[]);
        let zip = damaged(zip, &damages);
        stays_within_limits(&zip, &wanted, limits)?;
        stays_within_limits(&zip, &wanted, ArtifactLimits::default())?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: CASES, ..ProptestConfig::default() })]

    #[test]
    fn the_event_parser_accepts_only_valid_triggers(name in event_name(), payload in prop_oneof![json_value(), event_payload()]) {
        if let Ok(trigger) = timed("parse_trigger", || parse_trigger(&name, &payload))? {
            trigger_is_valid(&trigger)?;
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: ARCHIVE_CASES, ..ProptestConfig::default() })]

    #[test]
    fn the_event_file_reader_never_panics_on_any_bytes(
        bytes in prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..2000),
            (json_value(), event_payload()).prop_map(|(a, b)| serde_json::to_vec(&serde_json::json!([a, b])).expect("json")),
            event_payload().prop_map(|p| serde_json::to_vec(&p).expect("json")),
            (1usize..5000, any::<bool>()).prop_map(|(depth, closed)| deep_json(depth, closed).into_bytes()),
        ],
        name in prop::option::of(event_name()),
    ) {
        let dir = tempfile::tempdir().expect("temporary folder");
        let path = dir.path().join("event.json");
        fs::write(&path, &bytes).expect("event file");
        let mut vars = vec![("GITHUB_EVENT_PATH".to_owned(), path.to_string_lossy().into_owned())];
        if let Some(name) = name {
            vars.push(("GITHUB_EVENT_NAME".to_owned(), name));
        }
        let env = RunnerEnv::from_vars(vars);
        if let Ok(Some(trigger)) = timed("RunnerEnv::trigger", || env.trigger())? {
            trigger_is_valid(&trigger)?;
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: NESTING_CASES, ..ProptestConfig::default() })]

    #[test]
    fn the_guard_refuses_nesting_past_the_limit_and_only_that(depth in 1usize..140, style in nesting()) {
        let text = nested(depth, style);
        let checked = timed("check", || yaml_guard::check(&text))?;
        if depth <= MAX_DEPTH {
            prop_assert_eq!(checked, Ok(()), "depth {} refused", depth);
        } else {
            prop_assert!(matches!(checked, Err(Refusal::TooDeep { .. })), "depth {depth}: {checked:?}");
            prop_assert!(!yaml_guard::provably_within_limits(&text), "depth {depth} proven bounded");
            prop_assert!(!yaml_guard::is_bounded(&text));
        }
        guard_holds(&text)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: MANY_ENTRIES_CASES, ..ProptestConfig::default() })]

    #[test]
    fn many_entries_are_refused_past_the_cap(count in 0usize..100, offset in -3isize..=3) {
        // The cap close to the count, so that both sides of it are tried.
        let max_entries = count.saturating_add_signed(offset);
        let entries: Vec<Entry> = (0..count).map(|i| Entry::file(&format!("f{i}"), vec![b'x'; 3])).collect();
        let zip = zip_builder::build(&entries);
        let limits = ArtifactLimits { max_entries, ..ArtifactLimits::default() };
        let read = read_within_limits(&zip, &["f0".to_owned()], limits)?;
        prop_assert_eq!(read.is_ok(), count <= max_entries, "{} entries, cap {}: {:?}", count, max_entries, read.map(|f| f.len()));
    }
}
