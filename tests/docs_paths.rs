//! Every path of this repository that the docs name exists: a backticked
//! path under one of the repository's own top-level entries (`src/…`,
//! `scripts/…`, `actions/…`, `Dockerfile.deploy`, …), any backticked
//! Dockerfile, and every relative Markdown link. Paths in a user's
//! repository (`config/clusters/…`, `helm-charts/…`) are not ours, and
//! placeholders (`<cluster>`, `*`, `{a,b}`) are not paths. A link's
//! `#anchor`, on a link to a Markdown page (or to the page itself), must
//! name a heading of that page, slugged as GitHub and mdBook do.

mod support;

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

/// The docs checked: the root README and ARCHITECTURE, and every Markdown
/// file under `docs/` (the book), `examples/` and `actions/`.
fn docs(root: &Path) -> Vec<PathBuf> {
    support::markdown_files(&[
        root.join("README.md"),
        root.join("ARCHITECTURE.md"),
        root.join("docs"),
        root.join("examples"),
        root.join("actions"),
    ])
}

/// Text between backticks, one token per span (spans over lines are skipped).
fn backticked(text: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let mut parts = line.split('`');
        parts.next();
        while let (Some(inside), Some(_)) = (parts.next(), Some(())) {
            found.push((number + 1, inside.to_owned()));
            if parts.next().is_none() {
                break;
            }
        }
    }
    found
}

/// Targets of relative Markdown links `[text](target)`: the path (empty for
/// a link within the page) and the `#anchor`, if any.
fn links(text: &str) -> Vec<(usize, String, Option<String>)> {
    let mut found = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let mut rest = line;
        while let Some(at) = rest.find("](") {
            rest = &rest[at + 2..];
            let Some(end) = rest.find(')') else { break };
            let (target, anchor) = match rest[..end].split_once('#') {
                Some((target, anchor)) => (target, Some(anchor.to_owned())),
                None => (&rest[..end], None),
            };
            let relative = !target.contains("://") && !target.starts_with("mailto:");
            if relative && (!target.is_empty() || anchor.is_some()) {
                found.push((number + 1, target.to_owned(), anchor));
            }
            rest = &rest[end..];
        }
    }
    found
}

/// A heading's anchor as GitHub and mdBook make it: lowercase, spaces to
/// `-`, every other character but letters, digits, `-` and `_` dropped.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .flat_map(char::to_lowercase)
        .collect()
}

/// The anchors of a Markdown page: one per ATX heading outside code fences;
/// a repeated slug also gets `-1`, `-2`, … as GitHub gives it.
fn anchors(text: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut fence = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fence = !fence;
            continue;
        }
        let hashes = line.len() - line.trim_start_matches('#').len();
        if fence || !(1..=6).contains(&hashes) || !line[hashes..].starts_with(' ') {
            continue;
        }
        let base = slug(&line[hashes..]);
        let mut anchor = base.clone();
        let mut n = 0;
        while !found.insert(anchor.clone()) {
            n += 1;
            anchor = format!("{base}-{n}");
        }
    }
    found
}

/// A token that can be checked as one path: no placeholder, glob, space or variable in it.
fn plain_path(token: &str) -> Option<&str> {
    let token = token.trim_end_matches([',', '.', ':']).trim_start_matches("./");
    let plain = !token.is_empty()
        && token.chars().all(|c| c.is_ascii_alphanumeric() || "/._-".contains(c))
        && !token.starts_with('/')
        && !token.contains("..");
    plain.then_some(token)
}

/// A path the docs name in this repository: under one of its top-level
/// entries, or any Dockerfile (ours are at the root).
fn names_ours(own: &BTreeSet<String>, path: &str) -> bool {
    let first = path.split('/').next().unwrap_or_default();
    (own.contains(first) && (path.contains('/') || path.contains('.')))
        || path.ends_with("Dockerfile")
        || path.ends_with(".Dockerfile")
}

/// Paths the docs name in the user's repository that happen to start like ours.
const USER_REPOSITORY_PATHS: &[&str] =
    &[".github/workflows/deploy-hubs.yaml", ".github/workflows/comment-deployment-plan.yaml"];

/// `actions/checkout` and the like: GitHub's actions, named as `uses:` does, not our `actions/` folder.
fn is_github_action(root: &Path, path: &str) -> bool {
    path.strip_prefix("actions/").is_some_and(|name| !name.contains(['/', '.']) && !root.join(path).exists())
        && !path.ends_with(".yml")
}

#[test]
fn every_repository_path_the_docs_name_exists() {
    let root = support::project_root();
    // The repository's own top-level entries, as a fresh clone has them (no build output).
    let own: BTreeSet<String> = fs::read_dir(&root)
        .expect("root")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name != "target" && name != ".git")
        .collect();
    let mut checked = 0;
    let mut missing = Vec::new();
    for doc in docs(&root) {
        let text = fs::read_to_string(&doc).expect("doc");
        let relative = doc.strip_prefix(&root).expect("inside").display().to_string();
        for (line, token) in backticked(&text) {
            let Some(path) = plain_path(&token) else { continue };
            if !names_ours(&own, path) || USER_REPOSITORY_PATHS.contains(&path) || is_github_action(&root, path) {
                continue;
            }
            checked += 1;
            if !root.join(path).exists() {
                missing.push(format!("{relative}:{line}: `{path}`"));
            }
        }
        let dir = doc.parent().expect("folder");
        for (line, target, anchor) in links(&text) {
            checked += 1;
            let linked = if target.is_empty() { doc.clone() } else { dir.join(&target) };
            if !linked.exists() {
                missing.push(format!("{relative}:{line}: link ({target})"));
                continue;
            }
            let Some(anchor) = anchor else { continue };
            if linked.extension().is_some_and(|e| e == "md") {
                let page = fs::read_to_string(&linked).expect("linked page");
                if !anchors(&page).contains(&anchor) {
                    missing.push(format!("{relative}:{line}: link ({target}#{anchor}): no such heading in {target}"));
                }
            }
        }
    }
    assert!(missing.is_empty(), "docs name paths that do not exist:\n{}", missing.join("\n"));
    assert!(checked > 20, "the docs name repository paths, so some must have been checked: {checked}");
}

#[test]
fn the_check_finds_what_it_is_for() {
    let tokens = backticked("see `docker/deploy.Dockerfile` and `src/x.rs`, not `<cluster>` or `a b`");
    let tokens: Vec<&str> = tokens.iter().map(|(_, t)| t.as_str()).collect();
    assert_eq!(tokens, ["docker/deploy.Dockerfile", "src/x.rs", "<cluster>", "a b"]);
    assert_eq!(plain_path("docker/deploy.Dockerfile"), Some("docker/deploy.Dockerfile"));
    assert_eq!(plain_path("./scripts/x.sh,"), Some("scripts/x.sh"));
    for placeholder in ["<cluster>", "config/clusters/*/cluster.yaml", "a b", "$HOME/x", "../x", "/github/home"] {
        assert_eq!(plain_path(placeholder), None, "{placeholder}");
    }
    assert_eq!(
        links("a [b](c.md#x) [d](https://e#f) [g](h.md) [i](#j)"),
        [
            (1, "c.md".to_owned(), Some("x".to_owned())),
            (1, "h.md".to_owned(), None),
            (1, String::new(), Some("j".to_owned()))
        ]
    );
    assert_eq!(slug("Batched legs (past `max-jobs`)"), "batched-legs-past-max-jobs");
    assert_eq!(
        slug("A `cluster.yaml` edit upgrades only what it touched"),
        "a-clusteryaml-edit-upgrades-only-what-it-touched"
    );
    assert_eq!(slug("`actions/setup-cluster`"), "actionssetup-cluster");
    let page = "# Title\n\n```yaml\n# not a heading\n```\n## Same\n### Same\n#hashtag\n";
    let found: Vec<String> = anchors(page).into_iter().collect();
    assert_eq!(found, ["same", "same-1", "title"]);
    let own: BTreeSet<String> = ["src", "scripts", "Makefile"].map(str::to_owned).into();
    for ours in ["docker/deploy.Dockerfile", "Dockerfile", "src/main.rs", "scripts/x.sh"] {
        assert!(names_ours(&own, ours), "{ours}");
    }
    for theirs in ["config/clusters/c1/cluster.yaml", "hub1.values.yaml", "src", "Makefile"] {
        assert!(!names_ours(&own, theirs), "{theirs}");
    }
}
