//! Checks of an untrusted `plan.json`'s `manifest_diff`: bounded counts and
//! sizes, names as `cluster.yaml` allows them, no control characters that
//! could hide or rewrite text, and counts that agree with the objects listed.

use std::collections::HashSet;

use super::{check_cluster_name, check_hub_name, untrusted, MAX_REASON_CHARS};
use crate::base::error::Error;
use crate::manifest_diff::{DiffStatus, ManifestDiff, ObjectChange, ReleaseDiff, SkippedRelease};

/// Most releases a diff may hold.
pub(crate) const MAX_DIFF_RELEASES: usize = 10_000;
/// Most skipped releases a diff may hold.
pub(crate) const MAX_SKIPPED_RELEASES: usize = 10_000;
/// Most objects listed for one release.
pub(crate) const MAX_RELEASE_OBJECTS: usize = 5_000;
/// Most `enc-*` file names listed for one release.
pub(crate) const MAX_ENCRYPTED_FILES: usize = 1_000;
/// Longest object key (`apps/v1 Deployment ns/name`) and `enc-*` file name.
pub(crate) const MAX_KEY_CHARS: usize = 1_024;
/// Longest render-failure message.
pub(crate) const MAX_MESSAGE_CHARS: usize = 4_096;
/// Most bytes of text across the whole diff (object diffs, messages, keys, file names).
pub(crate) const MAX_DIFF_TEXT_BYTES: usize = 8 * 1024 * 1024;

/// Whether a text may span lines.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Lines {
    One,
    Many,
}

/// Checks the whole `manifest_diff` of `file`.
pub(super) fn check(file: &str, diff: &ManifestDiff) -> Result<(), Error> {
    if diff.releases.len() > MAX_DIFF_RELEASES {
        return Err(untrusted(file, format!("manifest_diff has more than {MAX_DIFF_RELEASES} releases")));
    }
    if diff.skipped.len() > MAX_SKIPPED_RELEASES {
        return Err(untrusted(file, format!("manifest_diff has more than {MAX_SKIPPED_RELEASES} skipped releases")));
    }
    let text_bytes: usize = diff.releases.iter().map(release_text_bytes).sum();
    if text_bytes > MAX_DIFF_TEXT_BYTES {
        return Err(untrusted(file, format!("manifest_diff holds more than {MAX_DIFF_TEXT_BYTES} bytes of text")));
    }
    let mut seen = HashSet::new();
    for (index, release) in diff.releases.iter().enumerate() {
        let at = format!("manifest_diff.releases[{index}]");
        check_release(file, &at, release)?;
        if !seen.insert((release.cluster_name.as_str(), release.hub_name.as_deref())) {
            return Err(untrusted(file, format!("{at}: {} is listed twice", release.label())));
        }
    }
    let mut seen = HashSet::new();
    for (index, skipped) in diff.skipped.iter().enumerate() {
        let at = format!("manifest_diff.skipped[{index}]");
        check_skipped(file, &at, skipped)?;
        if !seen.insert((skipped.cluster_name.as_str(), skipped.hub_name.as_deref())) {
            return Err(untrusted(file, format!("{at}: the release is listed twice")));
        }
    }
    Ok(())
}

/// The bytes of every text a release holds.
fn release_text_bytes(release: &ReleaseDiff) -> usize {
    let objects: usize = release.objects.iter().map(|o| o.object.len() + o.diff.len()).sum();
    let files: usize = release.encrypted_values_changed.iter().map(String::len).sum();
    objects + files + release.message.as_deref().map_or(0, str::len)
}

fn check_names(file: &str, cluster: &str, hub: Option<&str>) -> Result<(), Error> {
    check_cluster_name(file, cluster)?;
    hub.map_or(Ok(()), |hub| check_hub_name(file, hub))
}

fn check_release(file: &str, at: &str, release: &ReleaseDiff) -> Result<(), Error> {
    check_names(file, &release.cluster_name, release.hub_name.as_deref())?;
    if release.objects.len() > MAX_RELEASE_OBJECTS {
        return Err(untrusted(file, format!("{at} lists more than {MAX_RELEASE_OBJECTS} objects")));
    }
    if release.encrypted_values_changed.len() > MAX_ENCRYPTED_FILES {
        return Err(untrusted(file, format!("{at} lists more than {MAX_ENCRYPTED_FILES} encrypted values files")));
    }
    for (index, name) in release.encrypted_values_changed.iter().enumerate() {
        check_text(file, &format!("{at}.encrypted_values_changed[{index}]"), name, Lines::One, MAX_KEY_CHARS)?;
    }
    if let Some(message) = &release.message {
        check_text(file, &format!("{at}.message"), message, Lines::Many, MAX_MESSAGE_CHARS)?;
    }
    for (index, object) in release.objects.iter().enumerate() {
        check_text(file, &format!("{at}.objects[{index}].object"), &object.object, Lines::One, MAX_KEY_CHARS)?;
        check_text(file, &format!("{at}.objects[{index}].diff"), &object.diff, Lines::Many, usize::MAX)?;
    }
    check_counts(file, at, release)
}

/// The objects listed are at most the objects counted, kind by kind, and an
/// unchanged release lists and counts nothing.
fn check_counts(file: &str, at: &str, release: &ReleaseDiff) -> Result<(), Error> {
    let listed = |change: ObjectChange| release.objects.iter().filter(|o| o.change == change).count();
    let kinds = [
        (ObjectChange::Added, release.objects_added, "added"),
        (ObjectChange::Removed, release.objects_removed, "removed"),
        (ObjectChange::Changed, release.objects_changed, "changed"),
    ];
    for (change, counted, name) in kinds {
        let listed = listed(change);
        if u64::try_from(listed).unwrap_or(u64::MAX) > u64::from(counted) {
            return Err(untrusted(file, format!("{at} lists {listed} {name} objects but counts {counted}")));
        }
    }
    let counts_something = release.objects_added > 0
        || release.objects_removed > 0
        || release.objects_changed > 0
        || release.lines_added > 0
        || release.lines_removed > 0
        || !release.encrypted_values_changed.is_empty();
    if release.status == DiffStatus::Unchanged && counts_something {
        return Err(untrusted(file, format!("{at} is unchanged but counts changes")));
    }
    Ok(())
}

fn check_skipped(file: &str, at: &str, skipped: &SkippedRelease) -> Result<(), Error> {
    check_names(file, &skipped.cluster_name, skipped.hub_name.as_deref())?;
    check_text(file, &format!("{at}.reason"), &skipped.reason, Lines::One, MAX_REASON_CHARS)
}

/// At most `max_chars` characters, and no control character but `\t` (and
/// `\n` in a text of many lines): no NUL, no `\r`, no escape sequences.
fn check_text(file: &str, at: &str, text: &str, lines: Lines, max_chars: usize) -> Result<(), Error> {
    let allowed = |c: char| c == '\t' || (c == '\n' && lines == Lines::Many);
    if let Some(c) = text.chars().find(|c| c.is_control() && !allowed(*c)) {
        return Err(untrusted(file, format!("{at} holds the control character U+{:04X}", u32::from(c))));
    }
    if max_chars != usize::MAX && text.chars().count() > max_chars {
        return Err(untrusted(file, format!("{at} is longer than {max_chars} characters")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::parse_untrusted_plan;
    use super::*;
    use serde_json::{json, Value};

    fn plan_with(diff: Value) -> String {
        json!({"version": 1, "support-and-staging-matrix-jobs": [], "prod-hub-matrix-jobs": [], "manifest_diff": diff})
            .to_string()
    }

    fn release() -> Value {
        json!({"cluster_name": "c1", "hub_name": "hub", "status": "changed", "objects_added": 0,
            "objects_removed": 0, "objects_changed": 1, "lines_added": 1, "lines_removed": 1,
            "objects": [{"object": "v1 ConfigMap ns/x", "change": "changed", "diff": "--- a\n+++ b\n@@ -1 +1 @@\n-a\n+b\n"}]})
    }

    /// `release()` with `key` set to `value`.
    fn release_with(key: &str, value: Value) -> Value {
        let mut release = release();
        release[key] = value;
        release
    }

    /// `release()` whose one object has `key` set to `value`.
    fn object_with(key: &str, value: Value) -> Value {
        let mut release = release();
        release["objects"][0][key] = value;
        release
    }

    fn diff_of(releases: Vec<Value>) -> String {
        plan_with(json!({"releases": releases}))
    }

    #[test]
    fn good_diffs_are_accepted() {
        let skipped = json!([{"cluster_name": "c1", "reason": "rendered manifests unchanged"}]);
        let support = json!({"cluster_name": "c1", "status": "unchanged", "objects_added": 0, "objects_removed": 0,
            "objects_changed": 0, "lines_added": 0, "lines_removed": 0});
        let mut failed = release_with("status", json!("render-failed"));
        failed["hub_name"] = json!("prod");
        failed["message"] = json!("helm: error\n\tat line 3 \u{202e} é");
        failed["objects"] = json!([]);
        let text = plan_with(json!({"releases": [support, release(), failed], "skipped": skipped}));
        let plan = parse_untrusted_plan(text.as_bytes()).unwrap();
        let diff = plan.manifest_diff.unwrap();
        assert_eq!((diff.releases.len(), diff.skipped.len()), (3, 1));
        assert!(!diff.head_render_ignore_differs, "absent: false");
        // The render.ignore note's flag: a boolean, nothing else.
        let noted = plan_with(json!({"releases": [], "head_render_ignore_differs": true}));
        assert!(parse_untrusted_plan(noted.as_bytes()).unwrap().manifest_diff.unwrap().head_render_ignore_differs);
        // Files without the field stay valid.
        let old = r#"{"version": 1, "support-and-staging-matrix-jobs": [], "prod-hub-matrix-jobs": []}"#;
        assert!(parse_untrusted_plan(old.as_bytes()).unwrap().manifest_diff.is_none());
    }

    #[test]
    fn hostile_diffs_are_refused() {
        let many_objects: Vec<Value> = (0..=MAX_RELEASE_OBJECTS)
            .map(|i| json!({"object": format!("v1 ConfigMap ns/x{i}"), "change": "changed", "diff": ""}))
            .collect();
        let many_releases: Vec<Value> =
            (0..=MAX_DIFF_RELEASES).map(|i| release_with("hub_name", json!(format!("h{i}")))).collect();
        let skipped = |entry: Value| plan_with(json!({"releases": [], "skipped": [entry]}));
        let many_skipped: Vec<Value> = (0..=MAX_SKIPPED_RELEASES)
            .map(|i| json!({"cluster_name": "c1", "hub_name": format!("h{i}"), "reason": "r"}))
            .collect();
        // Two releases of 4.5 MiB each: each under the total, together over it.
        let big = "+x\n".repeat(1_600_000);
        let big_release = |hub: &str| {
            let mut r = object_with("diff", json!(big));
            r["hub_name"] = json!(hub);
            r
        };
        let cases: Vec<(String, &str)> = vec![
            (diff_of(vec![release_with("cluster_name", json!("C1"))]), "\"C1\" is not a cluster name"),
            (diff_of(vec![release_with("hub_name", json!("hub<script>"))]), "is not a hub name"),
            (diff_of(vec![release_with("hub_name", json!(""))]), "is not a hub name"),
            (diff_of(vec![release_with("status", json!("exploded"))]), "unknown variant"),
            (diff_of(vec![release_with("extra", json!(1))]), "unknown field"),
            (diff_of(vec![release_with("objects_added", json!(-1))]), "invalid value"),
            (diff_of(vec![release_with("objects_added", json!(4_294_967_296_u64))]), "invalid value"),
            (diff_of(vec![release_with("objects", json!({"a": 1}))]), "invalid type"),
            (diff_of(vec![object_with("change", json!("moved"))]), "unknown variant"),
            (diff_of(vec![object_with("extra", json!(1))]), "unknown field"),
            (diff_of(vec![release(), release()]), "c1/hub is listed twice"),
            (diff_of(vec![release_with("objects", Value::Array(many_objects))]), "more than 5000 objects"),
            (diff_of(many_releases), "more than 10000 releases"),
            (plan_with(json!({"releases": [], "skipped": many_skipped})), "more than 10000 skipped releases"),
            (diff_of(vec![big_release("a"), big_release("b")]), "more than 8388608 bytes of text"),
            // Characters.
            (diff_of(vec![object_with("object", json!("a".repeat(1025)))]), "objects[0].object is longer than 1024"),
            (diff_of(vec![object_with("object", json!("v1 ConfigMap ns/x\ny"))]), "holds the control character U+000A"),
            (
                diff_of(vec![object_with("object", json!("a\u{1b}[31m"))]),
                "objects[0].object holds the control character U+001B",
            ),
            (diff_of(vec![object_with("diff", json!("+a\0"))]), "objects[0].diff holds the control character U+0000"),
            (diff_of(vec![object_with("diff", json!("+a\r\n"))]), "objects[0].diff holds the control character U+000D"),
            (diff_of(vec![object_with("diff", json!("+a\u{85}"))]), "holds the control character U+0085"),
            (diff_of(vec![object_with("diff", json!("+a\u{7f}"))]), "holds the control character U+007F"),
            (diff_of(vec![release_with("message", json!("x".repeat(4097)))]), "message is longer than 4096"),
            (diff_of(vec![release_with("message", json!("fail\r"))]), "message holds the control character U+000D"),
            (
                diff_of(vec![release_with("encrypted_values_changed", json!(["enc-a.yaml\n"]))]),
                "encrypted_values_changed[0] holds",
            ),
            (diff_of(vec![release_with("encrypted_values_changed", json!(["e".repeat(1025)]))]), "is longer than 1024"),
            (
                diff_of(vec![release_with("encrypted_values_changed", json!(vec!["enc-a.yaml"; 1001]))]),
                "more than 1000 encrypted",
            ),
            // Counts.
            (diff_of(vec![release_with("objects_changed", json!(0))]), "lists 1 changed objects but counts 0"),
            (diff_of(vec![object_with("change", json!("added"))]), "lists 1 added objects but counts 0"),
            (diff_of(vec![release_with("status", json!("unchanged"))]), "is unchanged but counts changes"),
            // Skipped releases.
            (
                skipped(json!({"cluster_name": "c1", "hub_name": "h", "reason": "a\nb"})),
                "skipped[0].reason holds the control character",
            ),
            (
                skipped(json!({"cluster_name": "c1", "reason": "r".repeat(4097)})),
                "skipped[0].reason is longer than 4096",
            ),
            (skipped(json!({"cluster_name": "c1/..", "reason": "r"})), "is not a cluster name"),
            (skipped(json!({"cluster_name": "c1", "hub_name": "-h", "reason": "r"})), "is not a hub name"),
            (skipped(json!({"cluster_name": "c1", "reason": "r", "extra": 1})), "unknown field"),
            (skipped(json!({"cluster_name": "c1"})), "missing field"),
            (
                plan_with(
                    json!({"releases": [], "skipped": [{"cluster_name": "c1", "reason": "r"}, {"cluster_name": "c1", "reason": "s"}]}),
                ),
                "skipped[1]: the release is listed twice",
            ),
            (plan_with(json!({"releases": [], "extra": []})), "unknown field"),
            (plan_with(json!({"releases": [], "head_render_ignore_differs": "yes"})), "invalid type"),
            (plan_with(json!({"releases": [], "head_render_ignore_differs": 1})), "invalid type"),
            (plan_with(json!("releases")), "invalid type"),
        ];
        for (text, expected) in cases {
            let error = parse_untrusted_plan(text.as_bytes()).unwrap_err().to_string();
            assert!(error.starts_with("refusing the artifact: plan.json: "), "{error}");
            assert!(error.contains(expected), "{expected}: {}", error.chars().take(300).collect::<String>());
        }
    }
}
