//! `render.ignore` of `deployer.yaml`: parts of rendered objects the manifest
//! diff leaves out, per Kubernetes kind, as JSON pointers (RFC 6901, with `*`
//! as a segment matching any key or list index). Validated here; applied by
//! [`crate::manifest_diff::normalise`].

use std::collections::BTreeMap;

/// The kind that stands for every kind.
pub const ANY_KIND: &str = "*";
/// The most paths `render.ignore` may hold, over all kinds.
pub const MAX_IGNORE_PATHS: usize = 100;
/// The longest path, and the longest kind.
pub const MAX_POINTER_LEN: usize = 256;
pub const MAX_KIND_LEN: usize = 63;

/// What the manifest diff ignores: paths per kind, in kind order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RenderIgnore {
    pub rules: Vec<IgnoreRule>,
}

/// The paths ignored in objects of one kind (or of every kind, [`ANY_KIND`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IgnoreRule {
    pub kind: String,
    pub paths: Vec<Pointer>,
}

/// A parsed JSON pointer; never the document root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pointer {
    pub segments: Vec<PointerSegment>,
}

/// One step of a [`Pointer`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PointerSegment {
    /// `*`: every key of a mapping, every item of a list.
    Any,
    /// A mapping key (unescaped), or a list index when all digits.
    Key(String),
}

impl PointerSegment {
    /// The list index this segment names: RFC 6901's `0` or digits without a leading zero.
    pub fn index(&self) -> Option<usize> {
        match self {
            PointerSegment::Key(key)
                if !key.is_empty()
                    && key.bytes().all(|b| b.is_ascii_digit())
                    && (key == "0" || !key.starts_with('0')) =>
            {
                key.parse().ok()
            }
            _ => None,
        }
    }
}

impl Pointer {
    /// Parses `/a/b~1c/*`. The message never quotes the text.
    pub fn parse(text: &str) -> Result<Pointer, String> {
        if text.len() > MAX_POINTER_LEN {
            return Err(format!("the path is longer than {MAX_POINTER_LEN} characters"));
        }
        let Some(rest) = text.strip_prefix('/') else {
            return Err("the path does not start with `/` (a JSON pointer such as `/spec/replicas`)".to_owned());
        };
        let segments = rest.split('/').map(unescape).collect::<Option<Vec<_>>>().ok_or_else(|| {
            "the path has a `~` not followed by `0` or `1` (write `~0` for `~` and `~1` for `/`)".to_owned()
        })?;
        Ok(Pointer { segments })
    }
}

/// One segment, `~1` → `/` and `~0` → `~`; `None` on any other `~`.
fn unescape(segment: &str) -> Option<PointerSegment> {
    if segment == "*" {
        return Some(PointerSegment::Any);
    }
    let mut key = String::with_capacity(segment.len());
    let mut chars = segment.chars();
    while let Some(c) = chars.next() {
        if c == '~' {
            match chars.next() {
                Some('0') => key.push('~'),
                Some('1') => key.push('/'),
                _ => return None,
            }
        } else {
            key.push(c);
        }
    }
    Some(PointerSegment::Key(key))
}

/// Why `render.ignore` is invalid: where (`kind` absent for the mapping
/// itself; `index` absent for the kind's whole list) and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IgnoreProblem {
    pub kind: Option<String>,
    pub index: Option<usize>,
    pub message: String,
}

/// True for `*` or a Kubernetes kind name: a letter, then letters and digits.
fn is_kind(kind: &str) -> bool {
    kind == ANY_KIND
        || (kind.len() <= MAX_KIND_LEN
            && kind.starts_with(|c: char| c.is_ascii_alphabetic())
            && kind.chars().all(|c| c.is_ascii_alphanumeric()))
}

impl RenderIgnore {
    /// Validates the `render.ignore` mapping as written.
    pub fn from_raw(raw: Option<BTreeMap<String, Vec<String>>>) -> Result<RenderIgnore, IgnoreProblem> {
        let raw = raw.unwrap_or_default();
        let problem = |kind: Option<&str>, index, message: String| IgnoreProblem {
            kind: kind.map(str::to_owned),
            index,
            message,
        };
        let total: usize = raw.values().map(Vec::len).sum();
        if total > MAX_IGNORE_PATHS {
            return Err(problem(
                None,
                None,
                format!("{total} paths are listed; at most {MAX_IGNORE_PATHS} are accepted"),
            ));
        }
        let mut rules = Vec::with_capacity(raw.len());
        for (kind, paths) in raw {
            if kind.is_empty() {
                return Err(problem(None, None, "a kind is empty; write a kind such as `Deployment`, or `*`".into()));
            }
            if !is_kind(&kind) {
                return Err(problem(
                    None,
                    None,
                    format!("a kind is not a Kubernetes kind name (a letter, then letters and digits, at most {MAX_KIND_LEN}), nor `*`"),
                ));
            }
            let paths = paths
                .iter()
                .enumerate()
                .map(|(index, path)| Pointer::parse(path).map_err(|message| problem(Some(&kind), Some(index), message)))
                .collect::<Result<Vec<_>, _>>()?;
            rules.push(IgnoreRule { kind, paths });
        }
        Ok(RenderIgnore { rules })
    }

    /// True when nothing is ignored.
    pub fn is_empty(&self) -> bool {
        self.rules.iter().all(|rule| rule.paths.is_empty())
    }

    /// The paths ignored in an object of `kind`: those of `*` and of the kind itself.
    pub fn pointers_for<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a Pointer> + 'a {
        self.rules.iter().filter(move |rule| rule.kind == ANY_KIND || rule.kind == kind).flat_map(|rule| &rule.paths)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use PointerSegment::{Any, Key};

    fn key(text: &str) -> PointerSegment {
        Key(text.to_owned())
    }

    #[test]
    fn pointers_parse_with_escapes_and_wildcards() {
        let cases: Vec<(&str, Result<Vec<PointerSegment>, &str>)> = vec![
            ("/spec/replicas", Ok(vec![key("spec"), key("replicas")])),
            ("/metadata/annotations/foo~1bar", Ok(vec![key("metadata"), key("annotations"), key("foo/bar")])),
            ("/a~0b/~01", Ok(vec![key("a~b"), key("~1")])),
            ("/spec/containers/*/image", Ok(vec![key("spec"), key("containers"), Any, key("image")])),
            ("/a*/b", Ok(vec![key("a*"), key("b")])),
            ("/", Ok(vec![key("")])),
            ("//x", Ok(vec![key(""), key("x")])),
            ("spec/replicas", Err("does not start with `/`")),
            ("", Err("does not start with `/`")),
            ("/a~2", Err("a `~` not followed by `0` or `1`")),
            ("/a~", Err("a `~` not followed by `0` or `1`")),
        ];
        for (text, want) in cases {
            let got = Pointer::parse(text).map(|pointer| pointer.segments);
            match (got, want) {
                (Ok(got), Ok(want)) => assert_eq!(got, want, "{text:?}"),
                (Err(got), Err(want)) => assert!(got.contains(want), "{text:?}: {got}"),
                (got, want) => panic!("{text:?}: got {got:?}, want {want:?}"),
            }
        }
        assert!(Pointer::parse(&format!("/{}", "a".repeat(MAX_POINTER_LEN))).unwrap_err().contains("longer than"));
    }

    #[test]
    fn list_indexes_follow_rfc_6901() {
        for (text, want) in [("0", Some(0)), ("12", Some(12)), ("01", None), ("+1", None), ("", None), ("a", None)] {
            assert_eq!(key(text).index(), want, "{text:?}");
        }
        assert_eq!(Any.index(), None);
    }

    #[test]
    fn rules_by_kind() {
        let raw: BTreeMap<String, Vec<String>> = [
            ("*".to_owned(), vec!["/metadata/labels/helm.sh~1chart".to_owned()]),
            ("Deployment".to_owned(), vec!["/spec/replicas".to_owned()]),
        ]
        .into();
        let ignore = RenderIgnore::from_raw(Some(raw)).expect("valid");
        let count = |kind| ignore.pointers_for(kind).count();
        assert_eq!((count("Deployment"), count("Service"), count("deployment")), (2, 1, 1));
        assert!(RenderIgnore::from_raw(None).expect("none").is_empty());
    }
}
