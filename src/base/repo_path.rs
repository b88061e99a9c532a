//! Repository-relative paths as the planner compares them: `/`-separated,
//! with `.` segments, empty segments and a leading `./` removed and `..`
//! resolved lexically.

/// Normalises a repository-relative path. A path that climbs above the
/// repository root keeps its leading `..` segments.
pub fn normalize(path: &str) -> String {
    let path = path.trim();
    let absolute = path.starts_with('/');
    let mut segments: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                if matches!(segments.last(), Some(last) if *last != "..") {
                    segments.pop();
                } else if !absolute {
                    segments.push("..");
                }
            }
            other => segments.push(other),
        }
    }
    let joined = segments.join("/");
    if absolute {
        format!("/{joined}")
    } else {
        joined
    }
}

/// `dir/relative`, normalised.
pub fn join(dir: &str, relative: &str) -> String {
    if dir.is_empty() {
        normalize(relative)
    } else {
        normalize(&format!("{dir}/{relative}"))
    }
}

/// The last segment of a path.
pub fn basename(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// The path without its last segment (`""` for a top-level file).
pub fn parent(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(dir, _)| dir)
}

/// True when a normalised path stays inside the repository.
pub fn is_inside_repo(normalized: &str) -> bool {
    !normalized.is_empty() && !normalized.starts_with('/') && normalized != ".." && !normalized.starts_with("../")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes() {
        let cases = [
            ("a/b.yaml", "a/b.yaml"),
            ("./a/b.yaml", "a/b.yaml"),
            ("  ./a/b.yaml \t", "a/b.yaml"),
            ("././a//b.yaml", "a/b.yaml"),
            ("a/./b/../c.yaml", "a/c.yaml"),
            ("../x", "../x"),
            ("a/../../x", "../x"),
            ("/etc/passwd", "/etc/passwd"),
            ("/../etc", "/etc"),
            ("", ""),
            (".", ""),
        ];
        for (input, expected) in cases {
            assert_eq!(normalize(input), expected, "normalize({input:?})");
        }
    }

    #[test]
    fn joins_and_splits() {
        assert_eq!(join("config/clusters/c1", "hub.values.yaml"), "config/clusters/c1/hub.values.yaml");
        assert_eq!(join("config/clusters/c1", "../common/x.yaml"), "config/clusters/common/x.yaml");
        assert_eq!(join("", "x.yaml"), "x.yaml");
        assert_eq!(basename("a/b/c.yaml"), "c.yaml");
        assert_eq!(basename("c.yaml"), "c.yaml");
        assert_eq!(parent("a/b/c.yaml"), "a/b");
        assert_eq!(parent("c.yaml"), "");
    }

    #[test]
    fn knows_what_stays_inside_the_repo() {
        let cases = [("a/b", true), ("../a", false), ("..", false), ("/a", false), ("", false), ("..a/b", true)];
        for (path, expected) in cases {
            assert_eq!(is_inside_repo(path), expected, "{path}");
        }
    }
}
