//! `.gitmodules`: the paths of the repository's git submodules, so that a
//! chart folder a checkout left empty (submodules not fetched) is reported as
//! such rather than as a missing chart. Pure: the file's text in, paths out.

use crate::base::repo_path;

/// The `.gitmodules` file at the repository root.
pub const GITMODULES: &str = ".gitmodules";

/// How to fetch the submodules, for a hint.
pub const SUBMODULE_HINT: &str = "check out the submodules: `actions/checkout` with `submodules: true` \
     (or `submodules: recursive`), or `git submodule update --init` in a local clone";

/// The normalised `path = ...` values of a `.gitmodules` text (git-config
/// syntax: `[submodule "name"]` sections, `key = value` lines, `#`/`;`
/// comments, optional double quotes). Paths that do not normalise are left out.
pub fn paths(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut in_submodule = false;
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_submodule = line.trim_start_matches('[').trim_start().starts_with("submodule");
            continue;
        }
        if !in_submodule || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else { continue };
        if !key.trim().eq_ignore_ascii_case("path") {
            continue;
        }
        let value = value.trim();
        let value = value.strip_prefix('"').and_then(|v| v.strip_suffix('"')).unwrap_or(value);
        let path = repo_path::normalize(value);
        if repo_path::is_inside_repo(&path) && !found.contains(&path) {
            found.push(path);
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn submodule_paths_are_read_from_their_sections() {
        let text = "# comment\n[submodule \"ingress\"]\n\tpath = helm-charts/ingress-nginx\n\turl = https://example.org/x.git\n\
                    [submodule \"quoted\"]\n  path = \"helm-charts/quoted\"\n  ; path = helm-charts/commented\n\
                    [core]\n  path = not/a/submodule\n[submodule \"dot\"]\n  PATH = ./helm-charts/dotted/\n";
        assert_eq!(paths(text), ["helm-charts/ingress-nginx", "helm-charts/quoted", "helm-charts/dotted"]);
        assert!(paths("").is_empty());
    }
}
