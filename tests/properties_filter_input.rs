//! Properties of the filter's inputs (issue 27): it fails closed on hostile results. Whatever
//! the legs' results say (a `results` input that is malformed, holds a cluster twice with
//! conflicting results, forges results for another leg or for a cluster not in the matrix, has
//! wrong types or is huge; run jobs of any names and conclusions; results artifacts of any
//! content), a prod job of a cluster with a canary leg is kept only when that cluster's canary
//! result is an unambiguous success; otherwise it is dropped with a reason, or the action fails
//! with an error. It is never kept. And a plain, unambiguous input is always read (no error).
//!
//! "Unambiguous success" is read here independently of the code, from the document with every
//! key as written (duplicates kept): in the `{"<cluster>": "<result>"}` form, the cluster's key
//! once, as `"success"`; in the legacy `{"failure_<cluster, dots as dashes>": ...}` form, the key
//! once, as `false`, `"false"` or `""`, and no other cluster of the matrix with the same key.

mod support;

use std::collections::BTreeMap;
use std::fmt;

use deployer::cluster::deploy::leg::{ClusterResult, LegResults, RESULTS_VERSION};
use deployer::config::raw::Provider;
use deployer::planning::filter::{filter, parse_results, results_from_jobs, LegResult, RunJob, DEFAULT_JOB_NAME};
use deployer::planning::legs::{SupportAndStagingBatch, SupportAndStagingLeg};
use deployer::planning::plan::{ProdHubJob, SupportAndStagingJob};
use deployer::stages::filter::{check_report, merge_leg_reports, LegReport};
use proptest::prelude::*;
use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{json, Value};
use support::ActionRun;

/// Cases per pure property.
const CASES: u32 = 2000;
/// Cases of the property through `action-filter` (one process each).
const BINARY_CASES: u32 = 40;

/// The clusters with a canary leg. `a.b` and `a-b` share the legacy key `failure_a-b`.
const MATRIX: &[&str] = &["a", "a.b", "a-b", "c", "d.e"];
/// A cluster with prod hubs and no canary leg: always kept.
const NO_CANARY: &str = "solo";

/// Keys a results document may hold: the matrix's clusters, near misses, foreign clusters,
/// legacy keys (for the matrix or not), odd ones.
const KEYS: &[&str] = &[
    "a",
    "a.b",
    "a-b",
    "c",
    "d.e",
    "d-e",
    "A",
    "a ",
    " a",
    "x",
    "solo",
    "",
    "a\u{0}",
    "ａ",
    "failure_a",
    "failure_a-b",
    "failure_a.b",
    "failure_c",
    "failure_d-e",
    "failure_d.e",
    "failure_x",
    "failure_",
    "FAILURE_a",
];

// ---------------------------------------------------------------------------------------------
// A reading of JSON that keeps every key as written.
// ---------------------------------------------------------------------------------------------

/// A JSON value with objects as lists of entries, duplicates kept.
#[derive(Debug, Clone, PartialEq)]
enum Raw {
    Object(Vec<(String, Raw)>),
    Array(Vec<Raw>),
    Str(String),
    Bool(bool),
    Null,
    Number,
}

impl<'de> Deserialize<'de> for Raw {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct RawVisitor;
        impl<'de> Visitor<'de> for RawVisitor {
            type Value = Raw;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("JSON")
            }
            fn visit_bool<E>(self, v: bool) -> Result<Raw, E> {
                Ok(Raw::Bool(v))
            }
            fn visit_i64<E>(self, _: i64) -> Result<Raw, E> {
                Ok(Raw::Number)
            }
            fn visit_u64<E>(self, _: u64) -> Result<Raw, E> {
                Ok(Raw::Number)
            }
            fn visit_f64<E>(self, _: f64) -> Result<Raw, E> {
                Ok(Raw::Number)
            }
            fn visit_str<E>(self, v: &str) -> Result<Raw, E> {
                Ok(Raw::Str(v.to_owned()))
            }
            fn visit_unit<E>(self) -> Result<Raw, E> {
                Ok(Raw::Null)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Raw, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                Ok(Raw::Array(items))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Raw, A::Error> {
                let mut entries = Vec::new();
                while let Some((key, value)) = map.next_entry::<String, Raw>()? {
                    entries.push((key, value));
                }
                Ok(Raw::Object(entries))
            }
        }
        deserializer.deserialize_any(RawVisitor)
    }
}

/// The entries of a JSON object, as written; `None` when the text is not one.
fn object_entries(text: &[u8]) -> Option<Vec<(String, Raw)>> {
    match serde_json::from_slice::<Raw>(text) {
        Ok(Raw::Object(entries)) => Some(entries),
        _ => None,
    }
}

fn values_of<'a>(entries: &'a [(String, Raw)], key: &str) -> Vec<&'a Raw> {
    entries.iter().filter(|(k, _)| k == key).map(|(_, v)| v).collect()
}

fn has_duplicate_keys(entries: &[(String, Raw)]) -> bool {
    entries.iter().enumerate().any(|(i, (key, _))| entries[..i].iter().any(|(k, _)| k == key))
}

/// A text cut short for a failure message.
fn shown(text: &str) -> String {
    if text.chars().count() <= 300 {
        return format!("{text:?}");
    }
    format!("{:?}… ({} characters)", text.chars().take(300).collect::<String>(), text.chars().count())
}

fn legacy_key(cluster: &str) -> String {
    format!("failure_{}", cluster.replace('.', "-"))
}

fn legacy_says_success(value: &Raw) -> bool {
    matches!(value, Raw::Bool(false)) || matches!(value, Raw::Str(s) if s == "false" || s.is_empty())
}

fn legacy_value_valid(value: &Raw) -> bool {
    matches!(value, Raw::Bool(_)) || matches!(value, Raw::Str(s) if ["true", "false", ""].contains(&s.as_str()))
}

fn is_legacy(entries: &[(String, Raw)]) -> bool {
    entries.iter().any(|(k, _)| k.starts_with("failure_"))
}

/// Whether the document says, beyond doubt, that `cluster`'s canary succeeded.
fn unambiguous_success(entries: &[(String, Raw)], cluster: &str, matrix: &[&str]) -> bool {
    if is_legacy(entries) {
        let key = legacy_key(cluster);
        let shared = matrix.iter().any(|other| *other != cluster && legacy_key(other) == key);
        matches!(values_of(entries, &key)[..], [one] if legacy_says_success(one)) && !shared
    } else {
        matches!(values_of(entries, cluster)[..], [Raw::Str(s)] if s == "success")
    }
}

/// Whether the document is one the filter must read without an error: an object with no key
/// twice, every result valid (in the legacy form, those of the matrix's keys), no legacy key
/// standing for two clusters of the matrix.
fn must_be_read(entries: &[(String, Raw)], matrix: &[&str]) -> bool {
    if has_duplicate_keys(entries) {
        return false;
    }
    if is_legacy(entries) {
        matrix.iter().all(|cluster| {
            let key = legacy_key(cluster);
            match values_of(entries, &key)[..] {
                [] => true,
                [one] => {
                    legacy_value_valid(one) && !matrix.iter().any(|other| other != cluster && legacy_key(other) == key)
                }
                _ => false,
            }
        })
    } else {
        entries.iter().all(
            |(_, v)| matches!(v, Raw::Str(s) if ["success", "failure", "cancelled", "skipped"].contains(&s.as_str())),
        )
    }
}

// ---------------------------------------------------------------------------------------------
// Strategies.
// ---------------------------------------------------------------------------------------------

/// A result value, right or wrong.
fn result_value() -> impl Strategy<Value = String> {
    let fixed = [
        json!("success"),
        json!("failure"),
        json!("cancelled"),
        json!("skipped"),
        json!("true"),
        json!("false"),
        json!(""),
        json!(true),
        json!(false),
        json!(null),
        json!(0),
        json!(1.5),
        json!([]),
        json!({}),
        json!("SUCCESS"),
        json!(" success"),
        json!("success\n"),
        json!(["success"]),
        json!({"result": "success"}),
    ]
    .map(|v| v.to_string());
    prop_oneof![
        // Mostly right: a document with every result right is read, and its cluster's result decides.
        12 => proptest::sample::select(fixed[..4].to_vec()),
        6 => proptest::sample::select(fixed[4..].to_vec()),
        1 => "[a-z ]{0,8}".prop_map(|s| json!(s).to_string()),
    ]
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => proptest::sample::select(MATRIX).prop_map(str::to_owned),
        8 => proptest::sample::select(KEYS).prop_map(str::to_owned),
        1 => "\\PC{0,6}",
    ]
}

/// A JSON object written entry by entry, so that a key can appear twice.
fn object_text() -> impl Strategy<Value = String> {
    proptest::collection::vec((key(), result_value()), 0..10).prop_map(|entries| {
        let body: Vec<String> =
            entries.iter().map(|(k, v)| format!("{}: {v}", serde_json::to_string(k).expect("key"))).collect();
        format!("{{{}}}", body.join(", "))
    })
}

/// A `results` text: mostly objects, some cut short, some of another JSON type, some of any
/// characters, some huge.
fn results_text() -> impl Strategy<Value = String> {
    prop_oneof![
        12 => object_text(),
        1 => (object_text(), any::<prop::sample::Index>()).prop_map(|(text, at)| {
            let mut cut = at.index(text.len() + 1);
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            text[..cut].to_owned()
        }),
        1 => proptest::sample::select(vec![
            "[]".to_owned(), "null".into(), "\"success\"".into(), "1".into(), "[{\"a\": \"success\"}]".into(),
            "{\"a\": \"success\"} {\"a\": \"failure\"}".into(), "{\"a\": \"success\",}".into(), String::new(),
        ]),
        1 => "\\PC{0,40}",
        1 => (proptest::sample::select(MATRIX), 1usize..3000).prop_map(|(cluster, n)| {
            // Many foreign entries, then the cluster's success, then (maybe) its failure.
            let mut body: Vec<String> = (0..n).map(|i| format!("\"x{i}\": \"success\"")).collect();
            body.push(format!("\"{cluster}\": \"success\""));
            if n % 2 == 0 {
                body.push(format!("\"{cluster}\": \"failure\""));
            }
            format!("{{{}}}", body.join(","))
        }),
    ]
}

fn canary(cluster: &str) -> SupportAndStagingJob {
    SupportAndStagingJob {
        cluster_name: cluster.into(),
        provider: Provider::Gcp,
        upgrade_support: true,
        reason_for_support_redeploy: "support".into(),
        upgrade_staging: false,
        reason_for_staging_redeploy: String::new(),
        staging_hubs: Vec::new(),
        staging_rollout: BTreeMap::new(),
    }
}

fn prod(cluster: &str, hub: &str) -> ProdHubJob {
    ProdHubJob {
        cluster_name: cluster.into(),
        provider: Provider::Gcp,
        hub_name: hub.into(),
        reason_for_redeploy: "values".into(),
        rollout: None,
    }
}

/// A prod job per cluster of the matrix, and one without a canary.
fn prod_jobs() -> Vec<ProdHubJob> {
    MATRIX.iter().chain([&NO_CANARY]).map(|cluster| prod(cluster, "hub")).collect()
}

/// Checks one decision: every job kept or dropped once (dropped with a reason); a job with a
/// canary kept exactly when its result is an unambiguous success.
fn check_decision(
    kept: &[String],
    dropped: &[(String, String)],
    success: impl Fn(&str) -> bool,
) -> Result<(), TestCaseError> {
    for cluster in MATRIX.iter().chain([&NO_CANARY]) {
        let is_kept = kept.iter().any(|k| k == cluster);
        let is_dropped = dropped.iter().filter(|(c, _)| c == cluster).count();
        let may_run = *cluster == NO_CANARY || success(cluster);
        prop_assert_eq!(is_kept, may_run, "{}", cluster);
        prop_assert_eq!(is_dropped, usize::from(!may_run), "{}", cluster);
    }
    prop_assert!(dropped.iter().all(|(_, reason)| !reason.is_empty()));
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The pure functions.
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig { cases: CASES, ..ProptestConfig::default() })]

    /// The `results` input: read, then the filter.
    #[test]
    fn a_results_input_keeps_a_job_only_after_an_unambiguous_success(text in results_text()) {
        let canaries: Vec<SupportAndStagingJob> = MATRIX.iter().map(|c| canary(c)).collect();
        let entries = object_entries(text.as_bytes());
        match parse_results("results", &text, &canaries) {
            Err(error) => {
                prop_assert!(error.to_string().starts_with("invalid input `results`"), "{}", error);
                // Only a document at fault is refused.
                let at_fault = entries.as_ref().is_none_or(|e| !must_be_read(e, MATRIX));
                prop_assert!(at_fault, "{} refused: {}", shown(&text), error);
            }
            Ok(results) => {
                let entries = entries.expect("read as a JSON object");
                prop_assert!(must_be_read(&entries, MATRIX), "{} read as {:?}", shown(&text), results);
                let outcome = filter(&prod_jobs(), &canaries, &results);
                let kept: Vec<String> = outcome.kept.iter().map(|j| j.cluster_name.clone()).collect();
                let dropped: Vec<(String, String)> =
                    outcome.dropped.iter().map(|d| (d.cluster_name.clone(), d.reason.clone())).collect();
                check_decision(&kept, &dropped, |cluster| unambiguous_success(&entries, cluster, MATRIX))
                    .map_err(|e| TestCaseError::fail(format!("{}: {e}", shown(&text))))?;
            }
        }
    }
}

/// A conclusion of a run job: `None` while it runs.
fn conclusion() -> impl Strategy<Value = Option<&'static str>> {
    proptest::sample::select(vec![
        Some("success"),
        Some("success"),
        Some("failure"),
        Some("cancelled"),
        Some("skipped"),
        Some("timed_out"),
        Some("neutral"),
        Some("action_required"),
        Some("SUCCESS"),
        None,
    ])
}

/// Canary legs over the matrix: each cluster in one or two legs (a cluster leg, or the batch
/// `1 of 2`), some in none; the labels the legs' job names use.
fn canary_legs() -> impl Strategy<Value = Vec<SupportAndStagingLeg>> {
    proptest::collection::vec(0u8..4, MATRIX.len()).prop_map(|places| {
        let mut legs = Vec::new();
        let mut batch = Vec::new();
        for (cluster, place) in MATRIX.iter().zip(places) {
            // 0: no leg; 1: its own leg; 2: the batch; 3: both.
            if place == 1 || place == 3 {
                legs.push(SupportAndStagingLeg::Cluster(canary(cluster)));
            }
            if place >= 2 {
                batch.push(canary(cluster));
            }
        }
        if !batch.is_empty() {
            legs.push(SupportAndStagingLeg::Batch(SupportAndStagingBatch {
                leg: "1 of 2".into(),
                releases: batch.len(),
                clusters: batch,
            }));
        }
        legs
    })
}

fn job_label() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => proptest::sample::select(vec!["a", "a.b", "a-b", "c", "d.e", "1 of 2", "2 of 2", "x", "A", "a "])
            .prop_map(str::to_owned),
        1 => "\\PC{0,6}",
    ]
}

fn leg_label(leg: &SupportAndStagingLeg) -> &str {
    match leg {
        SupportAndStagingLeg::Cluster(job) => &job.cluster_name,
        SupportAndStagingLeg::Batch(batch) => &batch.leg,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: CASES, ..ProptestConfig::default() })]

    /// The run's jobs: a cluster succeeds only when every leg holding it has jobs of its exact
    /// name, and every such job concluded `success`.
    #[test]
    fn run_jobs_keep_a_job_only_after_every_leg_of_its_cluster_succeeded(
        legs in canary_legs(),
        jobs in proptest::collection::vec((job_label(), conclusion(), "[a-z_]{0,10}"), 0..16),
        template in proptest::sample::select(vec![DEFAULT_JOB_NAME, "{cluster}", "Deploy {cluster} / {cluster}"]),
    ) {
        let jobs: Vec<RunJob> = jobs
            .into_iter()
            .map(|(label, conclusion, status)| RunJob {
                name: template.replace("{cluster}", &label),
                status,
                conclusion: conclusion.map(str::to_owned),
            })
            .collect();
        let results = results_from_jobs(&jobs, template, &legs);
        let leg_succeeded = |leg: &SupportAndStagingLeg| {
            let name = template.replace("{cluster}", leg_label(leg));
            let named: Vec<&RunJob> = jobs.iter().filter(|j| j.name == name).collect();
            !named.is_empty() && named.iter().all(|j| j.conclusion.as_deref() == Some("success"))
        };
        let success = |cluster: &str| {
            let holding: Vec<&SupportAndStagingLeg> =
                legs.iter().filter(|leg| leg.clusters().iter().any(|c| c.cluster_name == cluster)).collect();
            !holding.is_empty() && holding.iter().all(|leg| leg_succeeded(leg))
        };
        let canaries: Vec<SupportAndStagingJob> = deployer::planning::legs::canary_jobs(&legs);
        let outcome = filter(&prod_jobs(), &canaries, &results);
        let kept: Vec<String> = outcome.kept.iter().map(|j| j.cluster_name.clone()).collect();
        let dropped: Vec<(String, String)> =
            outcome.dropped.iter().map(|d| (d.cluster_name.clone(), d.reason.clone())).collect();
        let with_leg = |cluster: &str| canaries.iter().any(|c| c.cluster_name == cluster);
        check_decision(&kept, &dropped, |cluster| !with_leg(cluster) || success(cluster))
            .map_err(|e| TestCaseError::fail(format!("{jobs:?} over {legs:?}: {e}")))?;
    }
}

/// A leg's `results.json` as bytes: entries written one by one (so a cluster can appear twice),
/// a version and an attempt, right or wrong; or any bytes.
fn report_bytes() -> impl Strategy<Value = Vec<u8>> {
    let entry = (
        prop_oneof![4 => proptest::sample::select(vec!["a", "c", "d.e"]).prop_map(str::to_owned), 1 => key()],
        prop_oneof![
            6 => proptest::sample::select(vec!["\"success\"", "\"failure\""]),
            1 => proptest::sample::select(vec!["\"Success\"", "true", "null"]),
        ],
    );
    prop_oneof![
        8 => (
            proptest::collection::vec(entry, 0..5),
            prop_oneof![3 => Just(RESULTS_VERSION), 1 => 0u32..4],
            0u32..3,
            any::<bool>(),
        )
            .prop_map(|(entries, version, attempt, twice)| {
                let clusters: Vec<String> = entries
                    .iter()
                    .map(|(k, v)| format!("{}: {v}", serde_json::to_string(k).expect("key")))
                    .collect();
                let clusters = format!("{{{}}}", clusters.join(", "));
                let mut text = format!("{{\"version\": {version}, \"attempt\": {attempt}, \"clusters\": {clusters}");
                if twice {
                    text.push_str(", \"clusters\": {}");
                }
                text.push('}');
                text.into_bytes()
            }),
        1 => proptest::collection::vec(any::<u8>(), 0..64),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: CASES, ..ProptestConfig::default() })]

    /// A results artifact's file, checked against its leg: a cluster it reads as a success is
    /// one of the leg's, named once in the file, as `"success"`.
    #[test]
    fn a_results_file_reads_a_success_only_when_it_says_so_once(
        bytes in report_bytes(),
        legs in canary_legs(),
        attempt in 0u32..3,
    ) {
        for (index, leg) in legs.iter().enumerate() {
            let Ok(results) = check_report(&bytes, leg, index, attempt) else { continue };
            let entries = object_entries(&bytes).expect("a JSON object");
            prop_assert!(!has_duplicate_keys(&entries), "{:?} read", String::from_utf8_lossy(&bytes));
            let Some(Raw::Object(clusters)) = values_of(&entries, "clusters").first().copied() else {
                return Err(TestCaseError::fail("read without `clusters`"));
            };
            for (cluster, result) in &results.clusters {
                prop_assert!(leg.clusters().iter().any(|c| &c.cluster_name == cluster), "{} is not the leg's", cluster);
                let said = values_of(clusters, cluster);
                let once_success = matches!(said[..], [Raw::Str(s)] if s == "success");
                prop_assert_eq!(*result == ClusterResult::Success, once_success,
                    "{:?}: {} read as {:?}", String::from_utf8_lossy(&bytes), cluster, result);
            }
        }
    }

    /// The legs' reports together: a cluster succeeds only when, for every leg holding it, the
    /// reports of that leg's latest attempt are one, and it names the cluster a success.
    #[test]
    fn merged_reports_keep_a_job_only_after_every_leg_of_its_cluster_reported_success(
        legs in canary_legs(),
        reports in proptest::collection::vec(
            (0usize..4, 1u32..4, proptest::collection::btree_map(
                proptest::sample::select(MATRIX).prop_map(str::to_owned),
                prop_oneof![Just(ClusterResult::Success), Just(ClusterResult::Failure)],
                0..5,
            )),
            0..8,
        ),
    ) {
        let reports: Vec<LegReport> = reports
            .into_iter()
            .map(|(leg, attempt, clusters)| LegReport {
                leg,
                attempt,
                results: LegResults { version: RESULTS_VERSION, attempt, clusters },
            })
            .collect();
        let results = merge_leg_reports(&reports, &legs);
        let leg_says_success = |index: usize, cluster: &str| {
            let of_leg: Vec<&LegReport> = reports.iter().filter(|r| r.leg == index).collect();
            let Some(latest) = of_leg.iter().map(|r| r.attempt).max() else { return false };
            matches!(
                of_leg.iter().filter(|r| r.attempt == latest).collect::<Vec<_>>()[..],
                [one] if one.results.clusters.get(cluster) == Some(&ClusterResult::Success)
            )
        };
        for cluster in MATRIX {
            let holding: Vec<usize> = legs
                .iter()
                .enumerate()
                .filter(|(_, leg)| leg.clusters().iter().any(|c| c.cluster_name == *cluster))
                .map(|(index, _)| index)
                .collect();
            let success = !holding.is_empty() && holding.iter().all(|index| leg_says_success(*index, cluster));
            let read_success = results.get(*cluster) == Some(&LegResult::Success);
            prop_assert_eq!(read_success, success, "{} in {:?}", cluster, reports);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Through `action-filter`.
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig { cases: BINARY_CASES, ..ProptestConfig::default() })]

    #[test]
    fn the_filter_action_keeps_a_job_only_after_an_unambiguous_success(
        text in results_text().prop_filter("an environment variable holds no NUL", |t| !t.contains('\0')),
    ) {
        let workspace = tempfile::tempdir().expect("temp");
        let canaries: Vec<Value> = MATRIX.iter().map(|c| serde_json::to_value(canary(c)).expect("json")).collect();
        let result = ActionRun::new("action-filter", workspace.path())
            .input("prod-hub-matrix-jobs", serde_json::to_string(&prod_jobs()).expect("json"))
            .input("support-and-staging-matrix-jobs", Value::Array(canaries).to_string())
            .input("results", text.clone())
            .run();
        let logs = format!("{}\nstdout:\n{}\nstderr:\n{}", shown(&text), shown(&result.stdout), shown(&result.stderr));
        // The runner passes the input trimmed; blank means absent (then the jobs API, which needs a run).
        let entries = object_entries(text.trim().as_bytes());
        if !result.success() {
            prop_assert_eq!(result.output.status.code(), Some(1), "{}", logs);
            prop_assert_eq!(result.raw_outputs.as_str(), "", "{}", logs);
            prop_assert!(result.stdout.contains("::error::"), "{}", logs);
            prop_assert!(entries.as_ref().is_none_or(|e| !must_be_read(e, MATRIX)), "refused: {}", logs);
            return Ok(());
        }
        let entries = entries.expect("read as a JSON object");
        prop_assert!(must_be_read(&entries, MATRIX), "read: {}", logs);
        let kept: Vec<String> = result
            .json_output("filtered-prod-hub-matrix-jobs")
            .as_array()
            .expect("array")
            .iter()
            .map(|job| job["cluster_name"].as_str().unwrap_or_default().to_owned())
            .collect();
        let dropped: Vec<(String, String)> = result
            .json_output("dropped")
            .as_array()
            .expect("array")
            .iter()
            .map(|d| {
                let field = |name: &str| d[name].as_str().unwrap_or_default().to_owned();
                (field("cluster_name"), field("reason"))
            })
            .collect();
        check_decision(&kept, &dropped, |cluster| unambiguous_success(&entries, cluster, MATRIX))
            .map_err(|e| TestCaseError::fail(format!("{e}\n{logs}")))?;
        prop_assert_eq!(result.output("has-jobs"), if kept.is_empty() { "false" } else { "true" });
    }
}

#[test]
fn a_cluster_given_twice_with_conflicting_results_is_never_kept() {
    let canaries: Vec<SupportAndStagingJob> = MATRIX.iter().map(|c| canary(c)).collect();
    for text in [
        r#"{"a": "failure", "a": "success"}"#,
        r#"{"a": "success", "a": "failure"}"#,
        r#"{"failure_a": "true", "failure_a": "false"}"#,
        r#"{"failure_a": true, "failure_a": false}"#,
    ] {
        let error = parse_results("results", text, &canaries).expect_err(text).to_string();
        assert!(error.contains("`a`") || error.contains("`failure_a`"), "{text}: {error}");
    }
}

#[test]
fn a_legacy_key_standing_for_two_clusters_is_refused() {
    let canaries: Vec<SupportAndStagingJob> = MATRIX.iter().map(|c| canary(c)).collect();
    let error = parse_results("results", r#"{"failure_a-b": "false"}"#, &canaries).expect_err("ambiguous").to_string();
    assert!(error.contains("`a.b` and `a-b`"), "{error}");
    // Without that key the legacy form reads as before.
    let results = parse_results("results", r#"{"failure_a": "false", "failure_c": "true"}"#, &canaries).expect("read");
    assert_eq!(results.get("a"), Some(&LegResult::Success));
    assert_eq!(results.get("c"), Some(&LegResult::Failure));
}

#[test]
fn the_filter_action_refuses_a_cluster_given_twice() {
    let workspace = tempfile::tempdir().expect("temp");
    let canaries: Vec<Value> = MATRIX.iter().map(|c| serde_json::to_value(canary(c)).expect("json")).collect();
    let result = ActionRun::new("action-filter", workspace.path())
        .input("prod-hub-matrix-jobs", serde_json::to_string(&prod_jobs()).expect("json"))
        .input("support-and-staging-matrix-jobs", Value::Array(canaries).to_string())
        .input("results", r#"{"a": "failure", "c": "success", "a": "success"}"#)
        .run();
    assert_eq!(result.output.status.code(), Some(1), "{}", result.stdout);
    assert!(result.stdout.contains("::error::invalid input `results`: `a` is given twice"), "{}", result.stdout);
    assert_eq!(result.raw_outputs, "");
}
