//! No heading or sentence of the README or the book cites an issue: "issue
//! 18", "(issues #13)", "#16", "owner/repo#16". An issue number says nothing
//! to a reader who has not read the issue; the docs say what the thing is.
//! Not citations: anchors (`#L12`, `page.md#12` in a link), URLs, hex
//! colours (`color: #333`, `#1a2b3c`), a `#` followed by a space (a comment).

mod support;

use std::fs;
use std::path::{Path, PathBuf};

use regex::Regex;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The docs checked: the README, every Markdown file of the book, and the
/// example workflows' README.
fn docs(root: &Path) -> Vec<PathBuf> {
    support::markdown_files(&[root.join("README.md"), root.join("examples/workflows/README.md"), root.join("docs")])
}

struct Citations {
    /// Link targets and URLs: their `#…` are anchors.
    links: Regex,
    /// "issue 18", "Issues #13", "issue  7".
    word: Regex,
    /// "#16" at the start of a word, not glued to a name or path.
    bare: Regex,
    /// "owner/repo#16".
    cross_repository: Regex,
    /// A CSS colour property just before the match: `color: #333`.
    colour_context: Regex,
}

impl Citations {
    fn new() -> Self {
        Citations {
            links: Regex::new(r"\]\([^)]*\)|[a-zA-Z][a-zA-Z0-9+.-]*://\S+").expect("regex"),
            word: Regex::new(r"(?i)\bissues?\s*#?\d+\b").expect("regex"),
            bare: Regex::new(r"(?:^|[\s(\[{,;:/])#(\d+)\b").expect("regex"),
            cross_repository: Regex::new(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+#\d+\b").expect("regex"),
            colour_context: Regex::new(r#"(?i)(colou?r|background|fill|stroke|border)[\w-]*\s*[:=]\s*["']?$"#)
                .expect("regex"),
        }
    }

    /// The citations in one line.
    fn find(&self, line: &str) -> Vec<String> {
        let text = self.links.replace_all(line, " ");
        let mut found: Vec<String> = self.word.find_iter(&text).map(|m| m.as_str().to_owned()).collect();
        for m in self.bare.captures_iter(&text) {
            let whole = m.get(0).expect("match");
            let hash = whole.start() + whole.as_str().find('#').expect("a #");
            if !self.colour_context.is_match(&text[..hash]) {
                found.push(text[hash..whole.end()].to_owned());
            }
        }
        found.extend(self.cross_repository.find_iter(&text).map(|m| m.as_str().to_owned()));
        found
    }
}

#[test]
fn no_doc_cites_an_issue() {
    let root = root();
    let citations = Citations::new();
    let mut found = Vec::new();
    let docs = docs(&root);
    assert!(docs.len() > 10, "the README and the book's pages: {docs:?}");
    for doc in docs {
        let text = fs::read_to_string(&doc).expect("doc");
        let relative = doc.strip_prefix(&root).expect("inside").display().to_string();
        for (number, line) in text.lines().enumerate() {
            for citation in citations.find(line) {
                found.push(format!("{relative}:{}: {citation:?} in: {line}", number + 1));
            }
        }
    }
    assert!(found.is_empty(), "the docs cite issues; say what the thing is instead:\n{}", found.join("\n"));
}

#[test]
fn the_check_finds_what_it_is_for() {
    let citations = Citations::new();
    for cited in [
        "### Deploying against a real API server (issue 18)",
        "| 4.18 MB (issue 11) |",
        "fixed in Issues #13 and more",
        "see #16 for why",
        "(#16)",
        "as in deployer-dev/deployer#16.",
        "#7 at the start",
    ] {
        assert!(!citations.find(cited).is_empty(), "{cited}");
    }
    for fine in [
        "[the line](src/plan.rs#L12) and [x](page.md#12)",
        "https://github.com/o/r/issues/16 and https://github.com/o/r/pull/3#issuecomment-1",
        "style=\"color: #333\" and background-color:#123456 and #1a2b3c",
        "# 1 a shell comment, `#N` issue references, C#10, issue-tracker",
        "tissue 3 is not a word match? and reissue 4",
        "a `#` then `12`",
    ] {
        assert_eq!(citations.find(fine), Vec::<String>::new(), "{fine}");
    }
}
