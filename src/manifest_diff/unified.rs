//! Unified diffs of normalised objects, counted, and bounded for `plan.json`.
//! Pure: manifests in, [`ReleaseDiff`](super::ReleaseDiff) parts out.

use similar::{ChangeTag, TextDiff};

use super::{ObjectChange, ObjectDiff};
use crate::manifest_diff::normalise::{changed_secret_places, compare, secret_note, Manifests, ObjectKey};

/// Lines of context around each change, as `diff -u`.
pub const CONTEXT_LINES: usize = 3;

/// Objects added, removed and changed, lines added and removed, and each object's diff.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Compared {
    pub objects_added: u32,
    pub objects_removed: u32,
    pub objects_changed: u32,
    pub lines_added: u32,
    pub lines_removed: u32,
    /// In key order: changed, added and removed objects together.
    pub objects: Vec<ObjectDiff>,
}

impl Compared {
    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Every object that differs between `base` and `head`, with its unified diff.
/// A changed object whose redacted values differ gains a last line at head
/// naming where ([`secret_note`]): an object whose only change is a Secret
/// value shows that line as its whole diff.
pub fn compare_objects(base: &Manifests, head: &Manifests) -> Compared {
    let changes = compare(base, head);
    let mut compared = Compared {
        objects_added: count(changes.added.len()),
        objects_removed: count(changes.removed.len()),
        objects_changed: count(changes.changed.len()),
        ..Compared::default()
    };
    let mut all: Vec<(&ObjectKey, ObjectChange)> = Vec::new();
    all.extend(changes.added.iter().map(|k| (k, ObjectChange::Added)));
    all.extend(changes.removed.iter().map(|k| (k, ObjectChange::Removed)));
    all.extend(changes.changed.iter().map(|k| (k, ObjectChange::Changed)));
    all.sort_by(|a, b| a.0.cmp(b.0));
    for (key, change) in all {
        let before = base.objects.get(key).map_or("", String::as_str);
        let mut after = head.objects.get(key).map_or("", String::as_str).to_owned();
        if change == ObjectChange::Changed {
            let places = changed_secret_places(base.secrets.get(key), head.secrets.get(key));
            if let Some(note) = secret_note(&places) {
                after.push_str(&note);
            }
        }
        let (diff, added, removed) = unified(&key.to_string(), before, &after);
        compared.lines_added = compared.lines_added.saturating_add(added);
        compared.lines_removed = compared.lines_removed.saturating_add(removed);
        compared.objects.push(ObjectDiff { object: key.to_string(), change, diff });
    }
    compared
}

/// The unified diff of one object's text, and the lines it adds and removes.
/// The header names the object on both sides (`--- base/<key>`, `+++ head/<key>`);
/// an added object diffs from `/dev/null`, a removed one to it.
pub fn unified(key: &str, before: &str, after: &str) -> (String, u32, u32) {
    let diff = TextDiff::from_lines(before, after);
    let (mut added, mut removed) = (0u32, 0u32);
    for change in diff.iter_all_changes() {
        match change.tag() {
            ChangeTag::Insert => added = added.saturating_add(1),
            ChangeTag::Delete => removed = removed.saturating_add(1),
            ChangeTag::Equal => {}
        }
    }
    let old = if before.is_empty() { "/dev/null".to_owned() } else { format!("base/{key}") };
    let new = if after.is_empty() { "/dev/null".to_owned() } else { format!("head/{key}") };
    let mut text =
        diff.unified_diff().context_radius(CONTEXT_LINES).missing_newline_hint(false).header(&old, &new).to_string();
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    (text, added, removed)
}

/// Keeps whole objects' diffs, in order, while they fit in `budget` bytes in
/// all; the rest are dropped. Returns the bytes used and whether any was dropped.
pub fn keep_within(objects: &mut Vec<ObjectDiff>, budget: usize) -> (usize, bool) {
    let mut used = 0usize;
    let mut kept = 0usize;
    for object in objects.iter() {
        let size = object.diff.len() + object.object.len();
        if used + size > budget {
            break;
        }
        used += size;
        kept += 1;
    }
    let dropped = kept < objects.len();
    objects.truncate(kept);
    (used, dropped)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest_diff::normalise::{normalise, NormaliseRules};

    fn manifests(text: &str) -> Manifests {
        normalise(text, &NormaliseRules::default()).expect("normalise")
    }

    const CM: &str =
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  a: \"{a}\"\n  b: \"2\"\n  c: \"3\"\n";

    fn cm(name: &str, a: &str) -> String {
        CM.replace("{name}", name).replace("{a}", a)
    }

    #[test]
    fn counts_and_diffs_every_kind_of_change() {
        // (case, base, head, added, removed, changed, +lines, -lines, first diff starts with)
        type Case<'a> = (&'a str, String, String, u32, u32, u32, u32, u32, &'a str);
        let cases: Vec<Case<'_>> = vec![
            ("no change", cm("x", "1"), cm("x", "1"), 0, 0, 0, 0, 0, ""),
            (
                "one value",
                cm("x", "1"),
                cm("x", "9"),
                0,
                0,
                1,
                1,
                1,
                "--- base/v1 ConfigMap x\n+++ head/v1 ConfigMap x\n@@",
            ),
            (
                "added",
                cm("x", "1"),
                format!("{}---\n{}", cm("x", "1"), cm("y", "1")),
                1,
                0,
                0,
                8,
                0,
                "--- /dev/null\n+++ head/v1 ConfigMap y\n",
            ),
            (
                "removed",
                format!("{}---\n{}", cm("x", "1"), cm("y", "1")),
                cm("x", "1"),
                0,
                1,
                0,
                0,
                8,
                "--- base/v1 ConfigMap y\n+++ /dev/null\n",
            ),
        ];
        for (name, base, head, added, removed, changed, plus, minus, starts) in cases {
            let found = compare_objects(&manifests(&base), &manifests(&head));
            assert_eq!(
                (
                    found.objects_added,
                    found.objects_removed,
                    found.objects_changed,
                    found.lines_added,
                    found.lines_removed
                ),
                (added, removed, changed, plus, minus),
                "{name}: {found:?}"
            );
            assert_eq!(found.objects.len() as u32, added + removed + changed, "{name}");
            let first = found.objects.first().map_or("", |o| o.diff.as_str());
            assert!(first.starts_with(starts), "{name}: {first}");
            assert!(found.objects.iter().all(|o| o.diff.ends_with('\n')), "{name}");
        }
    }

    #[test]
    fn a_diff_has_only_its_context_lines() {
        let base: String = (0..40).map(|i| format!("  k{i}: \"v\"\n")).collect();
        let head = base.replace("k20: \"v\"", "k20: \"w\"");
        let wrap = |data: &str| format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n{data}");
        let found = compare_objects(&manifests(&wrap(&base)), &manifests(&wrap(&head)));
        let diff = &found.objects[0].diff;
        let body: Vec<&str> = diff.lines().skip(3).collect();
        assert_eq!(body.len(), 2 * CONTEXT_LINES + 2, "{diff}");
        assert!(diff.contains("-  k20: v\n+  k20: w\n"), "{diff}");
    }

    #[test]
    fn keeps_whole_objects_within_the_budget() {
        let object = |n: usize| ObjectDiff { object: "o".into(), change: ObjectChange::Changed, diff: "x".repeat(n) };
        // (budget, sizes, kept, dropped)
        let cases: &[(usize, &[usize], usize, bool)] =
            &[(100, &[10, 20], 2, false), (20, &[10, 20], 1, true), (5, &[10], 0, true), (0, &[], 0, false)];
        for (budget, sizes, kept, dropped) in cases {
            let mut objects: Vec<ObjectDiff> = sizes.iter().map(|n| object(*n)).collect();
            let (_, was_dropped) = keep_within(&mut objects, *budget);
            assert_eq!((objects.len(), was_dropped), (*kept, *dropped), "{budget} {sizes:?}");
        }
    }
}
