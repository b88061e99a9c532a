//! Path patterns that can never match. Every path a pattern of
//! `deployer.yaml` is matched against is normalised (`repo_path`): relative,
//! `/`-separated, with no empty, `.` or `..` segment and no trailing `/`. A
//! pattern that only ever spells a path otherwise (`./x`, `/x`, `a//b`,
//! `a/../b`, `a/`) silently matches nothing, so it is refused, and so is one
//! alternative of a `{...}` group that only ever does (`{a,./b}/c`). Pure.
//!
//! The check runs over the pattern's own tokens with a five-state automaton
//! for "a normalised path so far": a wildcard (`*`, `?`, `**`, a class) is
//! taken as an ordinary character, the choice that never breaks a path, so
//! only what a pattern's literal `/` and `.` force is refused.

/// Why a pattern can never match a normalised path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Never {
    /// Nothing at all: it matches the empty path only.
    Empty,
    /// It starts with `/`.
    Absolute,
    /// It has `//`.
    EmptySegment,
    /// It has a `.` segment (`./x`, `a/./b`, `a/.`).
    DotSegment,
    /// It has a `..` segment.
    DotDotSegment,
    /// It ends with `/`.
    TrailingSlash,
}

impl Never {
    /// What the pattern is or has, after "the pattern ".
    pub fn what(self) -> &'static str {
        match self {
            Never::Empty => "is empty",
            Never::Absolute => "is an absolute path",
            Never::EmptySegment => "has an empty segment (`//`)",
            Never::DotSegment => "has a `.` segment (such as `./`)",
            Never::DotDotSegment => "has a `..` segment",
            Never::TrailingSlash => "ends with `/`",
        }
    }
}

/// A pattern that can never match, or one of its alternatives that can never.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NeverMatches {
    pub why: Never,
    /// The alternative and its `{...}` group, as written, when only that alternative can never match.
    pub alternative: Option<(String, String)>,
}

impl NeverMatches {
    /// `the pattern is an absolute path`, or `with the alternative `/a` of `{/a,b}`, the pattern is …`.
    pub fn describe(&self) -> String {
        match &self.alternative {
            None => format!("the pattern {}", self.why.what()),
            Some((branch, group)) => {
                format!("with the alternative `{branch}` of `{group}`, the pattern {}", self.why.what())
            }
        }
    }
}

/// How to write a pattern that can match.
pub const NORMALISED_HINT: &str = "changed paths are compared normalised: relative to the repository root, \
     with no leading `/` or `./`, no `//`, `.` or `..` segment and no trailing `/`; write the pattern the \
     same way, such as `config/clusters/**/cluster.yaml`";

const NEVER: &str = "so it can never match";
const OUTSIDE: &str = "cluster files are found inside the repository only";

/// The message for a pattern of a path list of `deployer.yaml` that can
/// never match, if it can never: what it is or has, and why that matters.
/// `cluster_files` for the cluster-file patterns (`clusters.glob` and
/// `clusters.exclude`), where an absolute or climbing pattern is said to
/// reach outside the repository.
pub fn never_matches(pattern: &str, cluster_files: bool) -> Option<String> {
    let never = check(pattern)?;
    let why = match never.why {
        Never::Absolute | Never::DotDotSegment if cluster_files => OUTSIDE.to_owned(),
        _ if cluster_files => format!("cluster files are found by their normalised paths, {NEVER}"),
        _ => format!("changed paths are normalised and relative to the repository root, {NEVER}"),
    };
    Some(format!("{}; {why}", never.describe()))
}

/// True for a message of [`never_matches`].
pub fn is_never_message(message: &str) -> bool {
    message.ends_with(NEVER) || message.ends_with(OUTSIDE)
}

/// Why `pattern` can never match a normalised path, or which of its
/// alternatives can never; `None` when every alternative can match (or the
/// pattern is not a valid glob: compiling it says why).
pub fn check(pattern: &str) -> Option<NeverMatches> {
    let mut parser = Parser { chars: pattern.char_indices().collect(), at: 0, groups: Vec::new(), text: pattern };
    let tokens = parser.sequence(false)?;
    if parser.at != parser.chars.len() {
        return None;
    }
    let groups = parser.groups;
    let whole = run(&tokens, START, &[]);
    if let Some(why) = whole.never() {
        return Some(NeverMatches { why, alternative: None });
    }
    for (id, group) in groups.iter().enumerate() {
        for (branch, span) in group.branches.iter().enumerate() {
            if span.0 == span.1 {
                continue; // an empty alternative is dropped
            }
            // This branch, and in each enclosing group the branch holding it.
            let mut forced = vec![(id, branch)];
            forced.extend(group.within.iter().copied());
            if let Some(why) = run(&tokens, START, &forced).never() {
                let alternative = (pattern[span.0..span.1].to_owned(), pattern[group.span.0..group.span.1].to_owned());
                return Some(NeverMatches { why, alternative: Some(alternative) });
            }
        }
    }
    None
}

/// The states of "a normalised path so far", as bits.
const START: u8 = 1; // nothing yet
const SEGMENT_START: u8 = 2; // just after a `/`
const DOT: u8 = 4; // the segment so far is `.`
const DOT_DOT: u8 = 8; // the segment so far is `..`
const SEGMENT: u8 = 16; // the segment so far is a name

#[derive(Debug)]
enum Token {
    Slash,
    Dot,
    /// A literal character other than `/` and `.`, or a wildcard taken as one.
    Name,
    /// A `{...}` group: its id and its branches.
    Group(usize, Vec<Vec<Token>>),
}

/// Where a group is, its branches' spans, and the (group, branch) pairs it is nested in.
struct GroupInfo {
    span: (usize, usize),
    branches: Vec<(usize, usize)>,
    within: Vec<(usize, usize)>,
}

/// The states reachable, and why the last ones died when none are.
#[derive(Clone, Copy)]
struct Reach {
    states: u8,
    died: Option<Never>,
}

impl Reach {
    /// Why no normalised path is reached, if none is.
    fn never(self) -> Option<Never> {
        if self.states & SEGMENT != 0 {
            return None;
        }
        if self.states & DOT_DOT != 0 {
            Some(Never::DotDotSegment)
        } else if self.states & DOT != 0 {
            Some(Never::DotSegment)
        } else if self.states & SEGMENT_START != 0 {
            Some(Never::TrailingSlash)
        } else if self.states & START != 0 {
            Some(Never::Empty)
        } else {
            self.died
        }
    }
}

fn run(tokens: &[Token], states: u8, forced: &[(usize, usize)]) -> Reach {
    let mut reach = Reach { states, died: None };
    for token in tokens {
        if reach.states == 0 {
            break;
        }
        reach = match token {
            Token::Slash => {
                let died = if reach.states & SEGMENT != 0 {
                    None
                } else if reach.states & DOT_DOT != 0 {
                    Some(Never::DotDotSegment)
                } else if reach.states & DOT != 0 {
                    Some(Never::DotSegment)
                } else if reach.states & SEGMENT_START != 0 {
                    Some(Never::EmptySegment)
                } else {
                    Some(Never::Absolute)
                };
                Reach { states: if reach.states & SEGMENT != 0 { SEGMENT_START } else { 0 }, died }
            }
            Token::Dot => {
                let mut next = 0;
                if reach.states & (START | SEGMENT_START) != 0 {
                    next |= DOT;
                }
                if reach.states & DOT != 0 {
                    next |= DOT_DOT;
                }
                if reach.states & (DOT_DOT | SEGMENT) != 0 {
                    next |= SEGMENT;
                }
                Reach { states: next, died: None }
            }
            Token::Name => Reach { states: SEGMENT, died: None },
            // An empty alternative is dropped (globset's default); a group of none is nothing.
            Token::Group(_, branches) if branches.iter().all(Vec::is_empty) => reach,
            Token::Group(id, branches) => {
                let mut states = 0;
                let mut died = None;
                for (index, branch) in branches.iter().enumerate() {
                    if branch.is_empty() || forced.iter().any(|(group, chosen)| group == id && *chosen != index) {
                        continue;
                    }
                    let after = run(branch, reach.states, forced);
                    states |= after.states;
                    died = died.or(after.died);
                }
                Reach { states, died: if states == 0 { died } else { None } }
            }
        };
    }
    reach
}

struct Parser<'a> {
    chars: Vec<(usize, char)>,
    at: usize,
    groups: Vec<GroupInfo>,
    text: &'a str,
}

impl Parser<'_> {
    fn offset(&self) -> usize {
        self.chars.get(self.at).map_or(self.text.len(), |(offset, _)| *offset)
    }

    /// Tokens up to the end, or inside a group up to its `,` or `}` (not consumed).
    /// `None` on what is not a valid glob.
    fn sequence(&mut self, in_group: bool) -> Option<Vec<Token>> {
        let mut tokens = Vec::new();
        while let Some(&(_, c)) = self.chars.get(self.at) {
            match c {
                ',' | '}' if in_group => return Some(tokens),
                '\\' => {
                    let &(_, escaped) = self.chars.get(self.at + 1)?;
                    self.at += 2;
                    tokens.push(literal(escaped));
                }
                '[' => {
                    self.class()?;
                    tokens.push(Token::Name);
                }
                '{' => tokens.push(self.group()?),
                _ => {
                    self.at += 1;
                    tokens.push(literal(c));
                }
            }
        }
        (!in_group).then_some(tokens)
    }

    /// Skips a `[...]` class (`]` first, or after `!`/`^`, is a member).
    fn class(&mut self) -> Option<()> {
        self.at += 1;
        if matches!(self.chars.get(self.at), Some((_, '!' | '^'))) {
            self.at += 1;
        }
        if matches!(self.chars.get(self.at), Some((_, ']'))) {
            self.at += 1;
        }
        while let Some(&(_, c)) = self.chars.get(self.at) {
            self.at += 1;
            if c == ']' {
                return Some(());
            }
        }
        None
    }

    fn group(&mut self) -> Option<Token> {
        let id = self.groups.len();
        let start = self.offset();
        self.groups.push(GroupInfo { span: (start, start), branches: Vec::new(), within: Vec::new() });
        self.at += 1;
        let mut branches = Vec::new();
        loop {
            let branch_start = self.offset();
            let first_nested = self.groups.len();
            let branch = self.sequence(true)?;
            let branch_end = self.offset();
            // Groups nested in this branch are within it.
            for nested in &mut self.groups[first_nested..] {
                nested.within.push((id, branches.len()));
            }
            self.groups[id].branches.push((branch_start, branch_end));
            branches.push(branch);
            let &(_, c) = self.chars.get(self.at)?;
            self.at += 1;
            if c == '}' {
                break;
            }
        }
        self.groups[id].span = (start, self.offset());
        Some(Token::Group(id, branches))
    }
}

fn literal(c: char) -> Token {
    match c {
        '/' => Token::Slash,
        '.' => Token::Dot,
        _ => Token::Name,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_a_normalised_path_can_match() {
        for pattern in [
            "a",
            "a/b.yaml",
            "**",
            "**/x",
            "a/**",
            "a/**/b",
            ".github/**",
            "a/.x/..y/...",
            "*/.*",
            "{a,b}/c",
            "{a,b/c}",
            "x{,/y}",
            "{a/,b}c",
            "a/{b,{c,d}}/e",
            "[.]/x",
            // A `]` first in a class (after `!` or `^` too) is a member: each is one segment.
            "[]//]",
            "[!]//]",
            "[^]//]",
            // An empty alternative is dropped, as globset does: these are `x/y` and `a/x`.
            "x/{y,}",
            "{,a}/x",
            "a\\,b",
            "terraform/*/projects/*.tfvars",
        ] {
            assert_eq!(check(pattern), None, "{pattern}");
        }
    }

    #[test]
    fn patterns_that_can_never_match_say_why() {
        let cases = [
            ("./x", Never::DotSegment),
            ("a/./b", Never::DotSegment),
            ("a/.", Never::DotSegment),
            (".", Never::DotSegment),
            ("/x", Never::Absolute),
            ("/**/x", Never::Absolute),
            ("a//b", Never::EmptySegment),
            ("../x", Never::DotDotSegment),
            ("a/../b", Never::DotDotSegment),
            ("a/..", Never::DotDotSegment),
            ("a/", Never::TrailingSlash),
            // A segment with dots inside still ends before the `/`.
            ("a.b/", Never::TrailingSlash),
            ("[ab]/", Never::TrailingSlash),
            // Outside a group, `,` is a literal.
            ("a,b/", Never::TrailingSlash),
            ("x/....y/", Never::TrailingSlash),
            ("", Never::Empty),
            ("{/a,/b}", Never::Absolute),
            ("{a,b}//c", Never::EmptySegment),
            ("a{}/", Never::TrailingSlash),
            ("x/{.,..}/y", Never::DotDotSegment),
            ("\\./x", Never::DotSegment),
        ];
        for (pattern, why) in cases {
            assert_eq!(check(pattern), Some(NeverMatches { why, alternative: None }), "{pattern}");
        }
    }

    #[test]
    fn an_alternative_that_can_never_match_is_named() {
        let cases = [
            ("{a,./b}/c", Never::DotSegment, "./b", "{a,./b}"),
            ("{a,/b}", Never::Absolute, "/b", "{a,/b}"),
            ("x/{a,/b}", Never::EmptySegment, "/b", "{a,/b}"),
            ("x/{a,..}/y", Never::DotDotSegment, "..", "{a,..}"),
            ("a/{b,{c,/d}}", Never::EmptySegment, "/d", "{c,/d}"),
        ];
        for (pattern, why, branch, group) in cases {
            let expected = NeverMatches { why, alternative: Some((branch.to_owned(), group.to_owned())) };
            assert_eq!(check(pattern), Some(expected), "{pattern}");
        }
        // An alternative is refused only when every combination with the other groups fails:
        // `/d` makes `a//d` but also `b/d`.
        assert_eq!(check("{a/,b}{c,/d}"), None);
        let expected = NeverMatches { why: Never::EmptySegment, alternative: Some(("/d".into(), "{c,/d}".into())) };
        assert_eq!(check("{a/,b/}{c,/d}"), Some(expected));
    }

    #[test]
    fn invalid_globs_are_left_to_the_compiler() {
        for pattern in ["a/[x", "{a,b", "a\\", "/[x"] {
            assert_eq!(check(pattern), None, "{pattern}");
        }
    }

    #[test]
    fn descriptions() {
        let whole = check("/x").expect("never");
        assert_eq!(whole.describe(), "the pattern is an absolute path");
        let branch = check("{a,./b}/c").expect("never");
        assert_eq!(
            branch.describe(),
            "with the alternative `./b` of `{a,./b}`, the pattern has a `.` segment (such as `./`)"
        );
    }
}
