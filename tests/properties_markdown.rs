//! Properties of the Markdown we render from untrusted text (issue 27):
//!
//! - A table row has exactly the cells it was given, whatever they hold (pipes, backslashes, line
//!   breaks, `\r`, HTML, backticks, `<!--`, very long text): split as GFM splits a row (on pipes
//!   not escaped by a backslash), it gives back as many cells, and it is one line (no line break
//!   escapes it). A whole table keeps every row, each with the header's number of cells.
//! - The manifest diff's fenced blocks are never closed early: no line inside starts a closing
//!   fence at least as long as the opening one, nothing else opens a fence, and what each block
//!   holds is exactly the text the code put there (the diff, its invisible characters shown as
//!   `\u{..}`).

use deployer::base::runner::is_invisible;
use deployer::manifest_diff::{DiffStatus, ManifestDiff, ObjectChange, ObjectDiff, ReleaseDiff};
use deployer::presentation::manifest_change::section_within;
use deployer::presentation::markdown::{escape_cell, table, table_row};
use proptest::prelude::*;

/// Cases per property: rows of up to 5 cells (a tenth of them thousands of characters long), and
/// diffs of up to 3 releases of up to 3 objects; about 3 s per property in a debug build.
const CASES: u32 = 1000;

/// Text that means something to Markdown, HTML or a line splitter.
const NASTY: &[&str] = &[
    "|",
    "\\",
    "\\|",
    "\\\\|",
    "|\\",
    "\n",
    "\r",
    "\r\n",
    "\t",
    "`",
    "``",
    "```",
    "<",
    ">",
    "<!--",
    "-->",
    "<br>",
    "<script>",
    "&",
    "&#124;",
    "&vert;",
    "*",
    "_",
    "[",
    "]",
    "(",
    ")",
    "!",
    "~",
    "#",
    "@user",
    "@org/team",
    "#12",
    "GH-3",
    "https://x.io",
    "www.x.io",
    "deadbeef1",
    " ",
    "  ",
    "\u{85}",
    "\u{2028}",
    "\u{2029}",
    "\u{202e}",
    "\u{200b}",
    "\u{feff}",
    "\0",
    "\u{7f}",
    "é",
    "漢",
    ":-:",
    "---",
];

/// A cell: nasty pieces and arbitrary characters, now and then very long.
fn cell() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        3 => (0..NASTY.len()).prop_map(|i| NASTY[i].to_owned()),
        1 => any::<char>().prop_map(String::from),
        1 => "[a-z0-9]{1,6}",
    ];
    prop_oneof![
        8 => proptest::collection::vec(piece.clone(), 0..24).prop_map(|pieces| pieces.concat()),
        1 => (proptest::collection::vec(piece, 1..4), 100usize..600).prop_map(|(pieces, times)| pieces.concat().repeat(times)),
        1 => any::<String>(),
    ]
}

/// Where a row breaks into lines: `\n`, `\r\n` and `\r` (CommonMark's line endings).
fn lines(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\n' => {
                out.push(&text[start..i]);
                start = i + 1;
            }
            b'\r' => {
                out.push(&text[start..i]);
                if bytes.get(i + 1) == Some(&b'\n') {
                    i += 1;
                }
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    if start < text.len() {
        out.push(&text[start..]);
    }
    out
}

/// A table row's cells as GFM splits them: on pipes not escaped, without the leading and trailing
/// pipe. `escaped` says when a pipe at byte `i` is escaped: the two readings of GFM below.
fn split_row(line: &str, escaped: impl Fn(&[u8], usize) -> bool) -> Vec<String> {
    let trimmed = line.trim_matches(|c| c == ' ' || c == '\t');
    let bytes = trimmed.as_bytes();
    let separators: Vec<usize> = (0..bytes.len()).filter(|&i| bytes[i] == b'|' && !escaped(bytes, i)).collect();
    let mut cells = Vec::new();
    let mut start = 0;
    for &at in &separators {
        cells.push(trimmed[start..at].to_owned());
        start = at + 1;
    }
    cells.push(trimmed[start..].to_owned());
    // A leading and a trailing pipe delimit the row; they open and close no cell.
    if separators.first() == Some(&0) {
        cells.remove(0);
    }
    if separators.last().is_some_and(|&last| last + 1 == bytes.len()) {
        cells.pop();
    }
    cells
}

/// CommonMark's reading: a backslash escapes the next character (so `\\|` is a backslash, then a
/// separator).
fn escaped_by_backslash(bytes: &[u8], at: usize) -> bool {
    let backslashes = bytes[..at].iter().rev().take_while(|b| **b == b'\\').count();
    backslashes % 2 == 1
}

/// cmark-gfm's table scanner: a cell is `(\\\||[^|\r\n])+`, so any backslash right before a pipe
/// keeps it in the cell.
fn escaped_for_gfm_tables(bytes: &[u8], at: usize) -> bool {
    at > 0 && bytes[at - 1] == b'\\'
}

/// `row` is one line and splits, both ways, into `count` cells.
fn row_holds(row: &str, count: usize) -> Result<(), TestCaseError> {
    prop_assert!(row.ends_with('\n'), "a row ends its line: {row:?}");
    let body = &row[..row.len() - 1];
    prop_assert!(!body.contains(['\n', '\r']), "a line break inside a row: {row:?}");
    prop_assert_eq!(lines(row).len(), 1);
    let by_commonmark = split_row(body, escaped_by_backslash);
    prop_assert_eq!(by_commonmark.len(), count, "cells by CommonMark escapes: {:?}", by_commonmark);
    let by_gfm = split_row(body, escaped_for_gfm_tables);
    prop_assert_eq!(by_gfm.len(), count, "cells by cmark-gfm's table scanner: {:?}", by_gfm);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Fences.

/// Lines of a diff that try to close or open a fence, hide text, or break lines.
const FENCE_NASTY: &[&str] = &[
    "```",
    "````",
    "``````````",
    "~~~",
    "~~~~",
    "   ```",
    "    ```",
    " ``` ",
    "```diff",
    "``` x",
    "`",
    "``",
    "</details>",
    "<details>",
    "<!--",
    "\r",
    "\r\n",
    "\r```",
    "\u{85}```",
    "\u{2028}",
    "\u{202e}",
    "\u{200b}",
    "\t```",
    "+```",
    "-~~~",
    "@@ -1 +1 @@",
    "\0",
    "",
];

fn diff_text() -> impl Strategy<Value = String> {
    let line = prop_oneof![
        3 => (0..FENCE_NASTY.len()).prop_map(|i| FENCE_NASTY[i].to_owned()),
        1 => (0usize..40).prop_map(|n| "`".repeat(n)),
        1 => (0usize..4, 3usize..30).prop_map(|(spaces, n)| format!("{}{}", " ".repeat(spaces), "`".repeat(n))),
        2 => "\\PC{0,20}",
        1 => any::<String>(),
    ];
    (proptest::collection::vec(line, 0..16), any::<bool>()).prop_map(|(lines, end)| {
        let text = lines.join("\n");
        if end {
            text + "\n"
        } else {
            text
        }
    })
}

fn release(index: usize, diffs: Vec<String>, message: Option<String>) -> ReleaseDiff {
    let count = u32::try_from(diffs.len()).unwrap_or(u32::MAX);
    ReleaseDiff {
        cluster_name: format!("c{index}"),
        hub_name: Some("hub".into()),
        status: if message.is_some() { DiffStatus::RenderFailed } else { DiffStatus::Changed },
        objects_added: 0,
        objects_removed: 0,
        objects_changed: count,
        lines_added: 1,
        lines_removed: 1,
        encrypted_values_changed: Vec::new(),
        message,
        objects: diffs
            .into_iter()
            .enumerate()
            .map(|(i, diff)| ObjectDiff {
                object: format!("v1 ConfigMap ns/o{i}"),
                change: ObjectChange::Changed,
                diff,
            })
            .collect(),
        objects_truncated: false,
    }
}

fn manifest_diff() -> impl Strategy<Value = ManifestDiff> {
    proptest::collection::vec((proptest::collection::vec(diff_text(), 0..4), prop::option::of(diff_text())), 1..4)
        .prop_map(|releases| ManifestDiff {
            releases: releases
                .into_iter()
                .enumerate()
                .map(|(i, (diffs, message))| release(i, diffs, message))
                .collect(),
            skipped: Vec::new(),
            head_render_ignore_differs: false,
        })
}

/// Text as the code must put it in a fence: invisible characters shown as `\u{..}`, ending a line.
fn as_fenced(text: &str) -> String {
    let mut out: String = text
        .chars()
        .map(|c| if is_invisible(c) { format!("\\u{{{:x}}}", u32::from(c)) } else { c.to_string() })
        .collect();
    if !out.ends_with('\n') {
        out.push('\n');
    }
    out
}

/// A fenced block as CommonMark reads it: its info string and content.
#[derive(Debug, PartialEq, Eq)]
struct Fenced {
    info: String,
    content: String,
}

/// The leading spaces (at most 3 count as indentation of a fence) and the rest.
fn indentation(line: &str) -> (usize, &str) {
    let spaces = line.len() - line.trim_start_matches(' ').len();
    (spaces, &line[spaces..])
}

/// The fence a line opens: its character and length (backticks or tildes, at least 3, indented at
/// most 3 spaces; a backtick fence's info string has no backtick).
fn opening(line: &str) -> Option<(char, usize, String)> {
    let (spaces, rest) = indentation(line);
    if spaces > 3 {
        return None;
    }
    let fence_char = rest.chars().next().filter(|c| *c == '`' || *c == '~')?;
    let run = rest.len() - rest.trim_start_matches(fence_char).len();
    let info = &rest[run..];
    (run >= 3 && !(fence_char == '`' && info.contains('`'))).then(|| (fence_char, run, info.trim().to_owned()))
}

/// True when `line` closes a fence of `fence_char` and length `run`.
fn closes(line: &str, fence_char: char, run: usize) -> bool {
    let (spaces, rest) = indentation(line);
    let length = rest.len() - rest.trim_start_matches(fence_char).len();
    spaces <= 3 && length >= run && rest[length..].trim_matches([' ', '\t']).is_empty()
}

/// Every fenced block of `markdown`, in order; an error for a block left open.
fn fenced_blocks(markdown: &str) -> Result<Vec<Fenced>, TestCaseError> {
    let mut blocks = Vec::new();
    let mut open: Option<(char, usize, String, String)> = None;
    for line in lines(markdown) {
        match &mut open {
            None => {
                if let Some((fence_char, run, info)) = opening(line) {
                    open = Some((fence_char, run, info, String::new()));
                }
            }
            Some((fence_char, run, info, content)) => {
                if closes(line, *fence_char, *run) {
                    blocks.push(Fenced { info: std::mem::take(info), content: std::mem::take(content) });
                    open = None;
                } else {
                    content.push_str(line);
                    content.push('\n');
                }
            }
        }
    }
    prop_assert!(open.is_none(), "a fence left open: {open:?}");
    Ok(blocks)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: CASES, ..ProptestConfig::default() })]

    #[test]
    fn a_table_row_keeps_its_cells_on_one_line(cells in proptest::collection::vec(cell(), 1..6)) {
        let row = table_row(&cells);
        row_holds(&row, cells.len())?;
        // Each cell alone, too: no unescaped pipe, no line break.
        for cell in &cells {
            let escaped = escape_cell(cell);
            prop_assert!(!escaped.contains(['\n', '\r']), "{escaped:?}");
            prop_assert_eq!(split_row(&escaped, escaped_by_backslash).len(), 1, "{:?}", escaped);
            prop_assert_eq!(split_row(&escaped, escaped_for_gfm_tables).len(), 1, "{:?}", escaped);
        }
    }

    #[test]
    fn a_table_keeps_every_row_with_the_headers_cells(
        (headers, rows) in (1usize..5).prop_flat_map(|columns| (
            proptest::collection::vec(cell(), columns),
            proptest::collection::vec(proptest::collection::vec(cell(), columns), 0..5),
        )),
    ) {
        let header_refs: Vec<&str> = headers.iter().map(String::as_str).collect();
        let rendered = table(&header_refs, &rows);
        let table_lines = lines(&rendered);
        prop_assert_eq!(table_lines.len(), 2 + rows.len(), "{:?}", rendered);
        for line in &table_lines {
            prop_assert_eq!(split_row(line, escaped_by_backslash).len(), headers.len(), "{:?}", line);
            prop_assert_eq!(split_row(line, escaped_for_gfm_tables).len(), headers.len(), "{:?}", line);
        }
    }

    #[test]
    fn a_fenced_diff_is_never_closed_early_and_holds_what_was_put(diff in manifest_diff()) {
        let section = section_within(&diff, usize::MAX / 4, 65_536, None);
        let blocks = fenced_blocks(&section)?;
        let mut expected = Vec::new();
        for release in &diff.releases {
            if let Some(message) = &release.message {
                expected.push(Fenced { info: String::new(), content: as_fenced(message) });
            }
            if !release.objects.is_empty() {
                let content: String = release.objects.iter().map(|o| as_fenced(&o.diff)).collect();
                expected.push(Fenced { info: "diff".into(), content });
            }
        }
        prop_assert_eq!(blocks, expected, "in:\n{}", section);
    }
}
