//! The rendered-manifest diff in Markdown: a short status per release for
//! the plan's tables, one `<details>` block per release that changes (its
//! objects' unified diffs in a fenced block no line can close), and the
//! releases `skip-unchanged` dropped. Cut at object boundaries to fit a size
//! limit, every fence and `<details>` closed.

use super::markdown;
use crate::base::runner::is_invisible;
use crate::manifest_diff::{
    DiffStatus, ManifestDiff, ReleaseDiff, SkippedRelease, ENCRYPTED_CHANGED, RENDER_IGNORE_NOTE,
};
use crate::planning::plan::{ProdHubJob, SupportAndStagingJob};

/// Header of the column the plan's tables gain when there is a diff.
pub const MANIFEST_CHANGE_HEADER: &str = "Manifest change";
/// Heading of the diff section.
pub const MANIFEST_DIFF_HEADING: &str = "\n### Manifest changes\n\n";
/// Title of the skipped releases' table.
pub const SKIPPED_TITLE: &str = "Skipped (rendered manifests unchanged)";
/// The plan artifact's file with the whole diff, named in the note of a cut diff.
pub const FULL_DIFF_FILE: &str = "manifests.diff";
/// Said of a planned release the diff does not hold.
pub const NOT_RENDERED: &str = "not rendered";
const SKIPPED_HEADERS: [&str; 3] = ["Cluster Name", "Hub Name", "Reason"];

/// The note above the tables of a diff made while the head edits
/// `render.ignore` (fixed text: nothing of the edit is quoted).
pub fn render_ignore_note() -> String {
    format!("> [!WARNING]\n> {RENDER_IGNORE_NOTE}\n\n")
}

/// `1 object`, `5 objects`.
fn plural(count: usize, what: &str) -> String {
    if count == 1 {
        format!("1 {what}")
    } else {
        format!("{count} {what}s")
    }
}

fn objects(count: u32) -> String {
    plural(usize::try_from(count).unwrap_or(usize::MAX), "object")
}

/// `3 changed, 1 added (+12 −4)`; empty when nothing is counted.
fn changed_counts(release: &ReleaseDiff) -> String {
    let kinds =
        [(release.objects_changed, "changed"), (release.objects_added, "added"), (release.objects_removed, "removed")];
    let parts: Vec<String> =
        kinds.iter().filter(|(count, _)| *count > 0).map(|(count, kind)| format!("{count} {kind}")).collect();
    let lines = release.lines_added > 0 || release.lines_removed > 0;
    match (parts.is_empty(), lines) {
        (true, false) => String::new(),
        (true, true) => format!("+{} \u{2212}{}", release.lines_added, release.lines_removed),
        (false, _) => format!("{} (+{} \u{2212}{})", parts.join(", "), release.lines_added, release.lines_removed),
    }
}

/// A release's change in a few words, for a table cell and a summary line.
pub fn release_status(release: Option<&ReleaseDiff>) -> String {
    let Some(release) = release else {
        return NOT_RENDERED.to_owned();
    };
    let base = match release.status {
        DiffStatus::Unchanged => "no change".to_owned(),
        DiffStatus::Changed => changed_counts(release),
        DiffStatus::Added => format!("new release ({})", objects(release.objects_added)),
        DiffStatus::Removed => format!("removed ({})", objects(release.objects_removed)),
        DiffStatus::RenderFailed => "render failed".to_owned(),
    };
    match (base.is_empty(), release.encrypted_values_changed.is_empty()) {
        (true, true) => "changed".to_owned(),
        (true, false) => ENCRYPTED_CHANGED.to_owned(),
        (false, true) => base,
        (false, false) => format!("{base}; {ENCRYPTED_CHANGED}"),
    }
}

/// The support-and-staging row's cell: the support chart's status (when it
/// upgrades) and each staging hub's, `support: 2 changed (+5 −1); staging: no change`.
pub fn support_and_staging_cell(diff: &ManifestDiff, job: &SupportAndStagingJob) -> String {
    let cluster = job.cluster_name.as_str();
    let support = job
        .upgrade_support
        .then(|| format!("{}: {}", crate::config::SUPPORT_RELEASE, release_status(diff.release(cluster, None))));
    let staging = job
        .staging_hubs
        .iter()
        .filter(|_| job.upgrade_staging)
        .map(|hub| format!("{hub}: {}", release_status(diff.release(cluster, Some(hub)))));
    support.into_iter().chain(staging).collect::<Vec<_>>().join("; ")
}

/// The prod row's cell: that hub's status.
pub fn prod_hub_cell(diff: &ManifestDiff, job: &ProdHubJob) -> String {
    release_status(diff.release(&job.cluster_name, Some(&job.hub_name)))
}

/// `text` with every invisible character (controls, bidi overrides,
/// zero-width characters) shown as `\u{..}`, so nothing in a fence hides.
pub fn shown_in_fence(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if is_invisible(c) {
            out.push_str(&format!("\\u{{{:x}}}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    out
}

/// The longest run of backticks in `text`.
pub fn longest_backtick_run(text: &str) -> usize {
    text.split(|c| c != '`').map(str::len).max().unwrap_or(0)
}

/// A fence of backticks longer than any run of them in content whose longest
/// run is `run`: no line of the content can close it. At least three.
pub fn fence(run: usize) -> String {
    "`".repeat(run.saturating_add(1).max(3))
}

/// Text shown in a fence: made visible, ending with a newline.
struct FencedText {
    text: String,
    chars: usize,
    backtick_run: usize,
}

impl FencedText {
    fn new(raw: &str) -> Self {
        let mut text = shown_in_fence(raw);
        if !text.ends_with('\n') {
            text.push('\n');
        }
        FencedText { chars: chars(&text), backtick_run: longest_backtick_run(&text), text }
    }
}

fn chars(text: &str) -> usize {
    text.chars().count()
}

/// `content` in a fenced block with `info` (`diff`, or nothing).
fn fenced(info: &str, content: &[&FencedText]) -> String {
    let fence = fence(content.iter().map(|t| t.backtick_run).max().unwrap_or(0));
    let mut out = format!("{fence}{info}\n");
    content.iter().for_each(|t| out.push_str(&t.text));
    out.push_str(&fence);
    out.push_str("\n\n");
    out
}

/// The size of [`fenced`]'s output, without building it.
fn fenced_chars(info: &str, content_chars: usize, backtick_run: usize) -> usize {
    let fence = fence(backtick_run).len();
    fence + chars(info) + 1 + content_chars + fence + 2
}

/// One release's `<details>` block, in parts: the head (summary, encrypted
/// files, render message) always shown, and objects that may be cut.
struct ReleaseBlock {
    head: String,
    objects: Vec<FencedText>,
}

const DETAILS_END: &str = "</details>\n\n";
const DIFF_INFO: &str = "diff";

impl ReleaseBlock {
    fn new(release: &ReleaseDiff) -> Self {
        let summary = markdown::escape_cell(&format!("{}: {}", release.label(), release_status(Some(release))));
        let mut head = format!("<details><summary>{summary}</summary>\n\n");
        if !release.encrypted_values_changed.is_empty() {
            let files = markdown::escape_cell(&release.encrypted_values_changed.join(", "));
            head.push_str(&format!("Encrypted values changed (content not shown): {files}\n\n"));
        }
        if let Some(message) = &release.message {
            head.push_str(&fenced("", &[&FencedText::new(message)]));
        }
        if release.objects_truncated {
            head.push_str(&format!("{PLAN_CUT_LINE}\n\n"));
        }
        let objects = release.objects.iter().map(|o| FencedText::new(&o.diff)).collect();
        ReleaseBlock { head, objects }
    }

    /// The block with its first `shown` objects, and a line for the rest.
    fn render(&self, shown: usize) -> String {
        let mut out = self.head.clone();
        if shown > 0 {
            out.push_str(&fenced(DIFF_INFO, &self.objects.iter().take(shown).collect::<Vec<_>>()));
        }
        if shown < self.objects.len() {
            out.push_str(&cut_line(self.objects.len() - shown));
        }
        out.push_str(DETAILS_END);
        out
    }

    /// The size of [`ReleaseBlock::render`] with the first `shown` objects.
    fn chars_with(&self, shown: usize) -> usize {
        let head = chars(&self.head) + chars(DETAILS_END);
        let cut = if shown < self.objects.len() { chars(&cut_line(self.objects.len() - shown)) } else { 0 };
        if shown == 0 {
            return head + cut;
        }
        let content = self.objects.iter().take(shown).map(|o| o.chars).sum();
        let run = self.objects.iter().take(shown).map(|o| o.backtick_run).max().unwrap_or(0);
        head + cut + fenced_chars(DIFF_INFO, content, run)
    }

    /// The most objects that fit in `budget` characters, or `None` when not
    /// even the head does.
    fn objects_within(&self, budget: usize) -> Option<usize> {
        let all = self.objects.len();
        if self.chars_with(all) <= budget {
            return Some(all);
        }
        let head = chars(&self.head) + chars(DETAILS_END);
        let (mut content, mut run, mut shown) = (0, 0, None);
        for (count, object) in self.objects.iter().enumerate() {
            let diff = if count == 0 { 0 } else { fenced_chars(DIFF_INFO, content, run) };
            if head + chars(&cut_line(all - count)) + diff > budget {
                break;
            }
            shown = Some(count);
            content += object.chars;
            run = run.max(object.backtick_run);
        }
        shown
    }
}

/// Said in the block of a release whose diff the plan itself holds only in part.
pub const PLAN_CUT_LINE: &str = "Some objects' diffs are left out of the plan, to bound its size.";

/// Said inside a cut block.
fn cut_line(omitted: usize) -> String {
    format!("{} more of this release are not shown.\n\n", plural(omitted, "object"))
}

/// What a cut diff section left out.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Omitted {
    objects: usize,
    releases: usize,
    skipped: usize,
}

/// The note that ends a cut diff section.
fn omitted_note(omitted: Omitted, limit: usize, run_url: Option<&str>) -> String {
    let counts = [(omitted.objects, "object"), (omitted.releases, "release"), (omitted.skipped, "skipped release")];
    let parts: Vec<String> = counts.iter().filter(|(n, _)| *n > 0).map(|(n, what)| plural(*n, what)).collect();
    let run = match run_url {
        Some(url) => format!("[the workflow run]({url})'s summary"),
        None => "the workflow run's summary".to_owned(),
    };
    format!(
        "\n> [!NOTE]\n> Not shown, to keep this comment under {limit} characters: {} of the manifest diff. \
         The full diff is in {run} and the plan artifact (`{FULL_DIFF_FILE}`).\n",
        parts.join(", ")
    )
}

fn detailed(diff: &ManifestDiff) -> impl Iterator<Item = &ReleaseDiff> {
    diff.releases.iter().filter(|r| r.status != DiffStatus::Unchanged)
}

/// The longest note the section may end with: room kept for it from the start.
fn worst_note(diff: &ManifestDiff, limit: usize, run_url: Option<&str>) -> usize {
    let worst = Omitted {
        objects: detailed(diff).map(|r| r.objects.len()).sum::<usize>().max(1),
        releases: detailed(diff).count().max(1),
        skipped: diff.skipped.len().max(1),
    };
    chars(&omitted_note(worst, limit, run_url))
}

/// True when the diff has something to show below the tables.
fn has_section(diff: &ManifestDiff) -> bool {
    detailed(diff).next().is_some() || !diff.skipped.is_empty()
}

/// The characters to keep free below the tables so that the section can at
/// least say what it left out.
pub fn section_reserve(diff: &ManifestDiff, limit: usize, run_url: Option<&str>) -> usize {
    if has_section(diff) {
        chars(MANIFEST_DIFF_HEADING) + worst_note(diff, limit, run_url)
    } else {
        0
    }
}

fn skipped_row(skipped: &SkippedRelease) -> String {
    markdown::table_row(&[
        skipped.cluster_name.clone(),
        skipped.hub_name.clone().unwrap_or_default(),
        skipped.reason.clone(),
    ])
}

fn skipped_head() -> String {
    format!("#### {SKIPPED_TITLE}\n\n{}", markdown::table_header(&SKIPPED_HEADERS))
}

/// Adds what fits of the skipped releases' table to `out`; returns how many rows were left out.
fn push_skipped(out: &mut String, skipped: &[SkippedRelease], budget: &mut usize) -> usize {
    let head = skipped_head();
    if skipped.is_empty() || chars(&head) > *budget {
        return skipped.len();
    }
    out.push_str(&head);
    *budget -= chars(&head);
    for (index, release) in skipped.iter().enumerate() {
        let row = skipped_row(release);
        if chars(&row) > *budget {
            return skipped.len() - index;
        }
        out.push_str(&row);
        *budget -= chars(&row);
    }
    0
}

/// Adds what fits of the release blocks to `out`, whole blocks first, a
/// block cut at an object boundary when its objects do not fit.
fn push_releases(out: &mut String, diff: &ManifestDiff, budget: &mut usize) -> Omitted {
    let mut omitted = Omitted::default();
    let mut stopped = false;
    for release in detailed(diff) {
        if stopped {
            omitted.releases += 1;
            continue;
        }
        let block = ReleaseBlock::new(release);
        match block.objects_within(*budget) {
            Some(shown) => {
                let text = block.render(shown);
                *budget = budget.saturating_sub(chars(&text));
                out.push_str(&text);
                omitted.objects += block.objects.len() - shown;
            }
            None => {
                stopped = true;
                omitted.releases += 1;
            }
        }
    }
    omitted
}

/// The diff section below the tables in at most `budget` characters: the
/// release blocks, then the skipped releases, then (when something was left
/// out) a note naming where the whole diff is. `limit` is the whole text's
/// limit, for the note. Empty when there is nothing to show or no room.
pub fn section_within(diff: &ManifestDiff, budget: usize, limit: usize, run_url: Option<&str>) -> String {
    let reserve = section_reserve(diff, limit, run_url);
    if !has_section(diff) || reserve > budget {
        return String::new();
    }
    let mut out = MANIFEST_DIFF_HEADING.to_owned();
    let mut left = budget - reserve;
    let mut omitted = push_releases(&mut out, diff, &mut left);
    omitted.skipped = push_skipped(&mut out, &diff.skipped, &mut left);
    if omitted != Omitted::default() {
        out.push_str(&omitted_note(omitted, limit, run_url));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Provider;
    use crate::manifest_diff::{ObjectChange, ObjectDiff, SKIPPED_REASON};
    use crate::presentation::plan_folder::PlanFile;
    use crate::presentation::{comment_within, COMMENT_MARKER};

    const RUN: &str = "https://github.com/o/r/actions/runs/1";
    const LIMIT: usize = 65_536;

    fn release(hub: Option<&str>, status: DiffStatus, objects: Vec<ObjectDiff>) -> ReleaseDiff {
        let count = |change| u32::try_from(objects.iter().filter(|o| o.change == change).count()).unwrap();
        ReleaseDiff {
            cluster_name: "c1".into(),
            hub_name: hub.map(str::to_owned),
            status,
            objects_added: count(ObjectChange::Added),
            objects_removed: count(ObjectChange::Removed),
            objects_changed: count(ObjectChange::Changed),
            lines_added: 0,
            lines_removed: 0,
            encrypted_values_changed: vec![],
            message: None,
            objects,
            objects_truncated: false,
        }
    }

    fn object(name: &str, change: ObjectChange, diff: &str) -> ObjectDiff {
        ObjectDiff { object: format!("v1 ConfigMap ns/{name}"), change, diff: diff.into() }
    }

    fn configmap_diff(name: &str, old: &str, new: &str) -> String {
        format!(
            "--- v1 ConfigMap ns/{name}\n+++ v1 ConfigMap ns/{name}\n@@ -3,2 +3,2 @@\n data:\n-  key: {old}\n+  key: {new}\n"
        )
    }

    /// A plan of one cluster: support and `staging`, prod hubs of every kind of change.
    fn plan_file(diff: ManifestDiff) -> PlanFile {
        let prod = |hub: &str| ProdHubJob {
            cluster_name: "c1".into(),
            provider: Provider::Gcp,
            hub_name: hub.into(),
            reason_for_redeploy: "values changed".into(),
            rollout: None,
        };
        PlanFile {
            version: 1,
            pr_number: Some(7),
            head_sha: None,
            support_and_staging: vec![SupportAndStagingJob {
                cluster_name: "c1".into(),
                provider: Provider::Gcp,
                upgrade_support: true,
                reason_for_support_redeploy: "support values changed".into(),
                upgrade_staging: true,
                reason_for_staging_redeploy: "staging values changed".into(),
                staging_hubs: vec!["staging".into()],
                staging_rollout: Default::default(),
            }],
            prod_hubs: ["prod", "newhub", "gone", "broken", "secret", "absent"].into_iter().map(prod).collect(),
            warnings: vec![],
            removed_hubs: vec![],
            staging_checks: vec![],
            prod_checks: vec![],
            before_steps: vec![],
            manifest_diff: Some(diff),
        }
    }

    fn small_diff() -> ManifestDiff {
        let mut support = release(
            None,
            DiffStatus::Changed,
            vec![
                object("a", ObjectChange::Changed, &configmap_diff("a", "1", "2")),
                object("b", ObjectChange::Changed, &configmap_diff("b", "x", "y")),
            ],
        );
        (support.lines_added, support.lines_removed) = (2, 2);
        let mut prod = release(
            Some("prod"),
            DiffStatus::Changed,
            vec![object(
                "c",
                ObjectChange::Added,
                "--- /dev/null\n+++ v1 ConfigMap ns/c\n@@ -0,0 +1,2 @@\n+kind: ConfigMap\n+data: {}\n",
            )],
        );
        (prod.lines_added, prod.objects_added) = (2, 1);
        let mut added =
            release(Some("newhub"), DiffStatus::Added, vec![object("d", ObjectChange::Added, "+kind: ConfigMap\n")]);
        added.objects_added = 5;
        added.objects_truncated = true;
        let removed =
            release(Some("gone"), DiffStatus::Removed, vec![object("e", ObjectChange::Removed, "-kind: ConfigMap\n")]);
        let mut broken = release(Some("broken"), DiffStatus::RenderFailed, vec![]);
        broken.message = Some("head: Error: template: basehub/templates/x.yaml:3: unexpected `}}`".into());
        let mut secret = release(Some("secret"), DiffStatus::Changed, vec![]);
        secret.encrypted_values_changed = vec!["enc-secret.secret.values.yaml".into()];
        ManifestDiff {
            releases: vec![
                release(Some("staging"), DiffStatus::Unchanged, vec![]),
                support,
                prod,
                added,
                removed,
                broken,
                secret,
            ],
            skipped: vec![SkippedRelease {
                cluster_name: "c2".into(),
                hub_name: Some("hub9".into()),
                reason: SKIPPED_REASON.into(),
            }],
            head_render_ignore_differs: false,
        }
    }

    fn comment(file: &PlanFile, limit: usize) -> String {
        comment_within(&file.into(), COMMENT_MARKER, limit, Some(RUN))
    }

    /// The structure of a rendered text: fences closed, `<details>` balanced
    /// outside fences. Returns how many `<details>` blocks there are.
    fn assert_balanced(text: &str) -> usize {
        let mut open_fence: Option<usize> = None;
        let (mut opened, mut closed) = (0, 0);
        for line in text.lines() {
            let run = line.len() - line.trim_start_matches('`').len();
            match open_fence {
                Some(fence) => {
                    if run >= fence && line.trim_start_matches('`').trim().is_empty() {
                        open_fence = None;
                    }
                }
                None if run >= 3 => open_fence = Some(run),
                None => {
                    assert!(!line.contains("<script"), "HTML outside a fence: {line}");
                    assert!(!line.contains("@org/team"), "a mention outside a fence: {line}");
                    opened += line.matches("<details>").count();
                    closed += line.matches("</details>").count();
                    assert!(opened >= closed, "closed before opened: {line}");
                }
            }
        }
        assert_eq!(open_fence, None, "a fence is left open");
        assert_eq!(opened, closed, "<details> left open");
        opened
    }

    #[test]
    fn short_statuses() {
        let mut changed = release(None, DiffStatus::Changed, vec![]);
        (changed.objects_changed, changed.objects_added, changed.lines_added, changed.lines_removed) = (3, 1, 12, 4);
        let mut encrypted = changed.clone();
        encrypted.encrypted_values_changed = vec!["enc-x.yaml".into()];
        let mut only_encrypted = release(None, DiffStatus::Changed, vec![]);
        only_encrypted.encrypted_values_changed = vec!["enc-x.yaml".into()];
        let mut added = release(None, DiffStatus::Added, vec![]);
        added.objects_added = 5;
        let mut one = release(None, DiffStatus::Removed, vec![]);
        one.objects_removed = 1;
        let cases = [
            (Some(release(None, DiffStatus::Unchanged, vec![])), "no change"),
            (Some(changed), "3 changed, 1 added (+12 \u{2212}4)"),
            (Some(encrypted), "3 changed, 1 added (+12 \u{2212}4); encrypted values changed (content not shown)"),
            (Some(only_encrypted), "encrypted values changed (content not shown)"),
            (Some(release(None, DiffStatus::Changed, vec![])), "changed"),
            (Some(added), "new release (5 objects)"),
            (Some(one), "removed (1 object)"),
            (Some(release(None, DiffStatus::RenderFailed, vec![])), "render failed"),
            (None, "not rendered"),
        ];
        for (release, expected) in cases {
            assert_eq!(release_status(release.as_ref()), expected, "{release:?}");
        }
    }

    #[test]
    fn fences_are_longer_than_any_backtick_run() {
        let cases = [("", 3), ("no ticks", 3), ("`a` ``b``", 3), ("```", 4), ("x ```````` y ``", 9)];
        for (text, expected) in cases {
            assert_eq!(fence(longest_backtick_run(text)).len(), expected, "{text:?}");
        }
        assert_eq!(shown_in_fence("a\u{202e}b\u{200b}\r\n\tc\u{1b}"), "a\\u{202e}b\\u{200b}\\u{d}\n\tc\\u{1b}");
    }

    #[test]
    fn comment_with_a_manifest_diff() {
        let file = plan_file(small_diff());
        let text = comment(&file, LIMIT);
        assert_eq!(assert_balanced(&text), 6, "one block per release that changes");
        insta::assert_snapshot!("comment_with_manifest_diff", text);
        // The step summary shows the same, whole, under its heading.
        let summary = crate::presentation::step_summary_within(&(&file).into(), usize::MAX, None);
        assert_eq!(
            summary.strip_prefix(crate::presentation::STEP_SUMMARY_INTRO),
            text.split_once("\n\n").map(|(_, rest)| rest)
        );
        // Cut: whole objects and blocks, and a note.
        let cut = comment(&file, chars(&text) - 200);
        assert!(chars(&cut) <= chars(&text) - 200);
        assert_balanced(&cut);
        insta::assert_snapshot!("comment_with_manifest_diff_cut", cut);
    }

    #[test]
    fn without_changes_the_tables_only_gain_the_column() {
        let unchanged =
            ManifestDiff { releases: vec![release(None, DiffStatus::Unchanged, vec![])], ..ManifestDiff::default() };
        let text = comment(&plan_file(unchanged), LIMIT);
        assert!(
            text.contains("| Manifest change |") && text.contains("| support: no change; staging: not rendered |"),
            "{text}"
        );
        assert!(!text.contains("### Manifest changes"), "{text}");
        let mut none = plan_file(ManifestDiff::default());
        none.manifest_diff = None;
        assert!(!comment(&none, LIMIT).contains("Manifest change"));
    }

    #[test]
    fn a_head_that_edits_render_ignore_gets_a_note_above_the_tables() {
        let mut diff = small_diff();
        let without = comment(&plan_file(diff.clone()), LIMIT);
        assert!(!without.contains(RENDER_IGNORE_NOTE), "{without}");
        diff.head_render_ignore_differs = true;
        let file = plan_file(diff);
        let text = comment(&file, LIMIT);
        let note = text.find(RENDER_IGNORE_NOTE).expect("the note");
        let table = text.find("### Support and Staging deployments").expect("the table");
        assert!(note < table, "the note comes first:\n{text}");
        insta::assert_snapshot!(
            "comment_with_render_ignore_note",
            text.split("\n### Manifest changes").next().unwrap_or("")
        );
        // The step summary and a comment cut to fit keep it too.
        let summary = crate::presentation::step_summary_within(&(&file).into(), usize::MAX, None);
        assert!(summary.contains(RENDER_IGNORE_NOTE), "{summary}");
        let cut = comment(&file, chars(&text) / 2);
        assert!(cut.contains(RENDER_IGNORE_NOTE), "{cut}");
    }

    /// Content a stranger could put in a diff, to break out of the fence or the block.
    fn hostile_diff() -> String {
        [
            "+```\n",
            "+````````\n",
            "```````\n",
            "</details>\n",
            "</code></pre><script>alert(1)</script>\n",
            "+owner: @org/team and @octocat\n",
            "+name: evil\u{202e}gnp.exe\u{200b}\n",
            "~~~\n",
        ]
        .concat()
    }

    fn hostile_file(object_diffs: Vec<String>, releases: usize) -> PlanFile {
        let objects: Vec<ObjectDiff> =
            object_diffs.iter().enumerate().map(|(i, d)| object(&format!("o{i}"), ObjectChange::Changed, d)).collect();
        let releases =
            (0..releases).map(|i| release(Some(&format!("h{i}")), DiffStatus::Changed, objects.clone())).collect();
        plan_file(ManifestDiff { releases, ..ManifestDiff::default() })
    }

    #[test]
    fn hostile_content_stays_inside_its_fence() {
        let file = hostile_file(vec![hostile_diff(), format!("{}\n+x\n", "`".repeat(40))], 2);
        let text = comment(&file, LIMIT);
        assert_eq!(assert_balanced(&text), 2);
        assert!(text.contains(&format!("{}diff\n", "`".repeat(41))), "{text}");
        assert!(!text.contains('\u{202e}') && text.contains("evil\\u{202e}gnp.exe\\u{200b}"), "{text}");
        assert!(!text.contains("[!NOTE]"), "nothing is cut: {text}");
    }

    #[test]
    fn a_huge_diff_is_cut_at_object_boundaries() {
        // One 10 MB object, then many small ones, in several releases.
        let huge = "+`` line\n".repeat(1_100_000);
        let mut diffs = vec![hostile_diff(); 2000];
        diffs.insert(3, huge);
        let file = hostile_file(diffs, 3);
        let text = comment(&file, LIMIT);
        assert!(chars(&text) <= LIMIT, "{}", chars(&text));
        assert!(assert_balanced(&text) >= 1);
        assert!(text.contains("more of this release are not shown."));
        assert!(text.contains(&format!("the workflow run]({RUN})'s summary and the plan artifact (`manifests.diff`)")));
        assert!(text.starts_with(COMMENT_MARKER) && text.contains("| absent |"), "the tables come first");
    }

    #[test]
    fn every_limit_is_kept_and_every_block_closed() {
        let mut diffs: Vec<String> = (0..60).map(|i| configmap_diff(&format!("x{i}"), "a", "b")).collect();
        diffs[7] = hostile_diff();
        diffs[30] = format!("{}\n", "`".repeat(500));
        let mut file = hostile_file(diffs, 8);
        if let Some(diff) = file.manifest_diff.as_mut() {
            diff.skipped = (0..50)
                .map(|i| SkippedRelease {
                    cluster_name: "c2".into(),
                    hub_name: Some(format!("s{i}")),
                    reason: SKIPPED_REASON.into(),
                })
                .collect();
        }
        let full = comment(&file, usize::MAX);
        assert!(!full.contains("[!NOTE]"));
        for limit in (500..70_000).step_by(373) {
            let text = comment(&file, limit);
            assert!(chars(&text) <= limit, "{limit}: {}", chars(&text));
            assert_balanced(&text);
            if limit >= chars(&full) {
                assert_eq!(text, full, "{limit}");
            } else if text.contains("### Manifest changes") {
                assert!(text.contains("of the manifest diff. The full diff is in"), "{limit}: a cut diff says so");
            }
        }
    }
}
