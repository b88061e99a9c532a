//! Path globs as every list of `deployer.yaml` reads them: `*` within one
//! segment, `**` across segments, and `!` excludes read in order as GitHub
//! reads a workflow's `paths:` (the last matching pattern decides). Pure.

use globset::{Glob, GlobBuilder, GlobSet, GlobSetBuilder};

/// A list of globs compiled into one matcher, keeping the source patterns for explanations.
///
/// A pattern starting with `!` excludes: the patterns are read in order as
/// GitHub reads a workflow's `paths:`, so the last pattern that matches a path
/// decides (a positive one includes it, a `!` one excludes it).
#[derive(Debug, Clone)]
pub struct Patterns {
    patterns: Vec<String>,
    /// Per pattern, true for a `!` exclude.
    negated: Vec<bool>,
    set: GlobSet,
}

/// What decides a path against a [`Patterns`] list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision<'a> {
    /// No pattern matches.
    NoMatch,
    /// Included: the positive patterns that match after the last exclude that does.
    Included(Vec<&'a str>),
    /// A positive pattern matches, and the last matching pattern, a `!` exclude, takes the path out.
    Excluded { included_by: &'a str, excluded_by: &'a str },
}

/// The glob of a pattern: without its leading `!`, and whether it had one.
pub fn split_negation(pattern: &str) -> (bool, &str) {
    match pattern.strip_prefix('!') {
        Some(rest) => (true, rest),
        None => (false, pattern),
    }
}

impl Patterns {
    /// Compiles `patterns`; on failure returns the index of the bad pattern and the reason.
    pub fn new<S: AsRef<str>>(patterns: &[S]) -> Result<Self, (usize, String)> {
        let mut builder = GlobSetBuilder::new();
        let mut negated = Vec::with_capacity(patterns.len());
        for (index, pattern) in patterns.iter().enumerate() {
            let (negative, glob) = split_negation(pattern.as_ref());
            negated.push(negative);
            builder.add(compile(glob).map_err(|e| (index, e))?);
        }
        let set = builder.build().map_err(|e| (0, e.to_string()))?;
        Ok(Patterns { patterns: patterns.iter().map(|p| p.as_ref().to_owned()).collect(), negated, set })
    }

    /// True when `path` is included: the last pattern it matches is not a `!` exclude.
    pub fn is_match(&self, path: &str) -> bool {
        // Without excludes any match includes, and the set answers without listing its matches.
        if !self.negated.contains(&true) {
            return self.set.is_match(path);
        }
        self.set.matches(path).last().is_some_and(|&index| !self.negated[index])
    }

    /// How the list decides `path`, with the patterns that decide it.
    pub fn decide(&self, path: &str) -> Decision<'_> {
        let matches = self.set.matches(path);
        let Some(&last) = matches.last() else {
            return Decision::NoMatch;
        };
        if self.negated[last] {
            return match matches.iter().rev().find(|&&index| !self.negated[index]) {
                Some(&included_by) => Decision::Excluded {
                    included_by: self.patterns[included_by].as_str(),
                    excluded_by: self.patterns[last].as_str(),
                },
                None => Decision::NoMatch,
            };
        }
        let after = matches.iter().rposition(|&index| self.negated[index]).map_or(0, |at| at + 1);
        Decision::Included(matches[after..].iter().map(|&index| self.patterns[index].as_str()).collect())
    }

    /// The patterns that include `path`, in the order they were given (none when it is excluded or unmatched).
    pub fn matching(&self, path: &str) -> Vec<&str> {
        match self.decide(path) {
            Decision::Included(patterns) => patterns,
            _ => Vec::new(),
        }
    }
}

/// Glob semantics of every pattern: `*` stays within one path segment, `**` crosses them.
pub fn compile_glob(pattern: &str) -> Result<Glob, String> {
    compile(pattern)
}

fn compile(pattern: &str) -> Result<Glob, String> {
    GlobBuilder::new(pattern).literal_separator(true).backslash_escape(true).build().map_err(|e| e.kind().to_string())
}

/// The message for a `!` exclude that no positive pattern comes before: a list's
/// first pattern (any later one has a pattern before it that either includes, or
/// was itself refused).
pub fn leading_exclude(pattern: &str) -> String {
    format!(
        "`{pattern}` excludes only what the patterns before it match, and no pattern before it includes \
         anything, so it excludes nothing"
    )
}

/// True for a message of [`leading_exclude`].
pub fn is_leading_exclude(message: &str) -> bool {
    message.ends_with("so it excludes nothing")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matching_names_the_patterns_that_include_a_path() {
        let patterns = Patterns::new(&["a/**", "!a/b/**", "a/b/c"]).expect("valid");
        assert_eq!(patterns.matching("a/x"), ["a/**"]);
        assert!(patterns.matching("a/b/y").is_empty(), "excluded");
        assert_eq!(patterns.matching("a/b/c"), ["a/b/c"], "included again after the exclude");
        assert!(patterns.matching("z").is_empty(), "unmatched");
    }

    #[test]
    fn leading_exclude_messages_are_recognised() {
        assert!(is_leading_exclude(&leading_exclude("!a/**")));
        assert!(!is_leading_exclude("`a/[` is not a valid glob"));
    }
}
