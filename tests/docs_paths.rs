//! Every path of this repository that the docs name exists: a backticked
//! path under one of the repository's own top-level entries (`src/…`,
//! `scripts/…`, `actions/…`, `Dockerfile.deploy`, …), any backticked
//! Dockerfile, and every relative Markdown link. Paths in a user's
//! repository (`config/clusters/…`, `helm-charts/…`) are not ours, and
//! placeholders (`<cluster>`, `*`, `{a,b}`) are not paths.

mod support;

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

/// The docs checked: the root README and ARCHITECTURE, and every Markdown file under `examples/` and `actions/`.
fn docs(root: &Path) -> Vec<PathBuf> {
    let mut docs = vec![root.join("README.md"), root.join("ARCHITECTURE.md")];
    let mut dirs = vec![root.join("examples"), root.join("actions")];
    while let Some(dir) = dirs.pop() {
        for entry in fs::read_dir(&dir).expect("docs folder").flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "md") {
                docs.push(path);
            }
        }
    }
    docs.sort();
    docs
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

/// Targets of relative Markdown links `[text](target)`.
fn links(text: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let mut rest = line;
        while let Some(at) = rest.find("](") {
            rest = &rest[at + 2..];
            let Some(end) = rest.find(')') else { break };
            let target = rest[..end].split('#').next().unwrap_or_default();
            if !target.is_empty() && !target.contains("://") && !target.starts_with("mailto:") {
                found.push((number + 1, target.to_owned()));
            }
            rest = &rest[end..];
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
        for (line, target) in links(&text) {
            checked += 1;
            if !dir.join(&target).exists() {
                missing.push(format!("{relative}:{line}: link ({target})"));
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
    assert_eq!(links("a [b](c.md#x) [d](https://e)"), [(1, "c.md".to_owned())]);
    let own: BTreeSet<String> = ["src", "scripts", "Makefile"].map(str::to_owned).into();
    for ours in ["docker/deploy.Dockerfile", "Dockerfile", "src/main.rs", "scripts/x.sh"] {
        assert!(names_ours(&own, ours), "{ours}");
    }
    for theirs in ["config/clusters/c1/cluster.yaml", "hub1.values.yaml", "src", "Makefile"] {
        assert!(!names_ours(&own, theirs), "{theirs}");
    }
}
