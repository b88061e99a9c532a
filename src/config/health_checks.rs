//! The `health_checks` rules of `deployer.yaml`: path patterns with a
//! `{cluster}` or `{provider}` placeholder, whose changes plan health checks
//! of the hubs they can break. Pure: checked and compiled here, matched by
//! the planner.
//!
//! A placeholder stands for one cluster's name, or one provider's name, and
//! the rest of a pattern is a glob like any other path list. A pattern is
//! first matched with its placeholders as `*` (cheap, for every changed
//! path); only a path that passes is matched again with a cluster's or a
//! provider's name put in.
//!
//! No pattern is compiled once per (pattern, cluster, path):
//! [`HealthCheckRules::cluster_matches`] cuts a pattern with one top-level
//! `{cluster}` into the globs before and after the name, runs each once over
//! a path, and looks for every cluster's name where the two meet (no compile
//! per cluster at all); any other pattern is put together with each cluster's
//! name at most once per run and matched in small sets.
//! [`HealthCheckRules::provider_matches`] puts each provider in once.

use std::collections::BTreeMap;

use globset::{Glob, GlobMatcher, GlobSetBuilder};
use regex_automata::hybrid::dfa::{Cache, DFA};
use regex_automata::nfa::thompson;
use regex_automata::util::syntax;
use regex_automata::{Anchored, Input, MatchKind};

use super::globs::{compile_glob, leading_exclude, split_negation, Patterns};
use super::raw::{Provider, RawHealthChecks};
use super::suggest::nearest;

/// The placeholder for a cluster's name.
pub const CLUSTER_PLACEHOLDER: &str = "{cluster}";
/// The placeholder for a cluster's provider ([`infrastructure_provider`]).
pub const PROVIDER_PLACEHOLDER: &str = "{provider}";

/// One pattern of a health-check rule.
#[derive(Debug, Clone)]
pub struct PathTemplate {
    /// As written, without a leading `!`.
    pub source: String,
    /// A `!` exclude: it takes out what the patterns before it in its list matched.
    pub negated: bool,
    /// The pattern with every placeholder as `*`: a path it does not match cannot match any cluster.
    any: GlobMatcher,
}

impl PathTemplate {
    /// True when `path` matches with `cluster` and `provider` put in. Compiles
    /// the pattern: for one check only (the planner uses
    /// [`HealthCheckRules::cluster_matches`] and [`HealthCheckRules::provider_matches`]).
    pub fn matches(&self, path: &str, cluster: &str, provider: &str) -> bool {
        self.any.is_match(path)
            && self.with_names(cluster, provider).is_some_and(|glob| glob.compile_matcher().is_match(path))
    }

    /// The pattern with `provider` put in, cut at its one top-level
    /// `{cluster}` into two automata; `None` when it has no such `{cluster}`
    /// (or the cut does not give two valid pieces).
    fn halves(&self, provider: &str) -> Option<Halves> {
        if self.source.contains(MARKER) || !one_top_level_cluster(&self.source) {
            return None;
        }
        let pattern = self
            .source
            .replace(PROVIDER_PLACEHOLDER, &escape(provider))
            .replace(CLUSTER_PLACEHOLDER, &MARKER.to_string());
        let regex = compile_glob(&pattern).ok()?.regex().to_owned();
        // How globset writes the marker: its UTF-8 bytes, escaped, between `(?-u)^` and `$`.
        let alone = compile_glob(&MARKER.to_string()).ok()?.regex().to_owned();
        let marker = alone.strip_prefix("(?-u)^")?.strip_suffix('$')?;
        let (before, after) = regex.split_once(marker)?;
        let flags = "(?-u)";
        regex.starts_with(flags).then_some(())?;
        let before = automaton(before, false)?;
        let after = automaton(&format!("{flags}{after}"), true)?;
        Some(Halves { before_cache: before.create_cache(), before, after_cache: after.create_cache(), after })
    }

    /// The pattern with `cluster` and `provider` put in as literals, parsed (not compiled).
    /// `None` when it does not parse (it did with `*` in their place, so with plain names it does too).
    fn with_names(&self, cluster: &str, provider: &str) -> Option<Glob> {
        let pattern =
            self.source.replace(CLUSTER_PLACEHOLDER, &escape(cluster)).replace(PROVIDER_PLACEHOLDER, &escape(provider));
        compile_glob(&pattern).ok()
    }

    /// True when `path` could match for some cluster or provider.
    pub fn may_match(&self, path: &str) -> bool {
        self.any.is_match(path)
    }
}

/// A name as a literal in a glob.
fn escape(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '{' | '}' | '\\' | ',') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The `health_checks` block, checked and compiled. Empty by default: no health checks are planned.
#[derive(Debug, Clone, Default)]
pub struct HealthCheckRules {
    /// A change here checks every hub of the cluster named in it.
    pub cluster_paths: Vec<PathTemplate>,
    /// A change here checks every hub of every cluster of the provider named in it.
    pub provider_paths: Vec<PathTemplate>,
    /// Per provider (as `{provider}` names it), paths that check every hub of its clusters.
    pub providers: BTreeMap<String, Patterns>,
    /// Per cluster name, paths that check every hub of that cluster.
    pub clusters: BTreeMap<String, Patterns>,
}

impl HealthCheckRules {
    /// True when there are no rules.
    pub fn is_empty(&self) -> bool {
        self.cluster_paths.is_empty()
            && self.provider_paths.is_empty()
            && self.providers.is_empty()
            && self.clusters.is_empty()
    }

    /// The indices into `paths` that `clusters.<cluster>` includes, ascending.
    pub fn named_cluster_matches(&self, paths: &[String], cluster: &str) -> Vec<usize> {
        self.clusters
            .get(cluster)
            .map_or_else(Vec::new, |patterns| (0..paths.len()).filter(|&i| patterns.is_match(&paths[i])).collect())
    }

    /// The indices into `paths` that `provider_paths` or `providers.<provider>` includes, ascending.
    pub fn all_provider_matches(&self, paths: &[String], provider: &str) -> Vec<usize> {
        let mut matched = self.provider_matches(paths, provider);
        if let Some(patterns) = self.providers.get(provider) {
            matched.extend((0..paths.len()).filter(|&i| patterns.is_match(&paths[i])));
            matched.sort_unstable();
            matched.dedup();
        }
        matched
    }

    /// For each of `clusters` (name and provider), the indices into `paths`
    /// that one of the `cluster_paths` patterns matches with that cluster's
    /// name and provider put in, ascending: what [`PathTemplate::matches`]
    /// says for each, without a compile per cluster.
    ///
    /// Each pattern is matched in its wildcard form against every path once.
    /// A pattern with one `{cluster}`, outside any `{...}` group and `[...]`
    /// class, is the glob before it, the name, and the glob after it: with a
    /// provider put in, its regular expression (globset's own) is cut there
    /// into two lazy DFAs, run once over each path (forwards and backwards),
    /// which say where the name may start and end; each cluster's name is then
    /// looked for in the path at those places. Work: the patterns times the
    /// providers, plus the paths' length times the patterns and providers,
    /// plus the names' occurrences in the paths. Any other pattern is put
    /// together with the name of each cluster that appears in one of its
    /// paths, once, and matched in small sets (`GlobSet`).
    pub fn cluster_matches(&self, paths: &[String], clusters: &[(&str, &str)]) -> Vec<Vec<usize>> {
        let mut by_provider: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for (index, (_, provider)) in clusters.iter().enumerate() {
            by_provider.entry(provider).or_default().push(index);
        }
        // Where each cluster's name occurs in each path, found once (names of plain characters only).
        let plain = clusters.iter().all(|(name, _)| is_plain_name(name));
        let mut occurrences: Vec<Option<Vec<(usize, usize)>>> = vec![None; paths.len()];
        // Per cluster, the paths included so far: the patterns are read in order, the last that matches decides.
        let mut included: Vec<std::collections::BTreeSet<usize>> = vec![Default::default(); clusters.len()];
        for template in &self.cluster_paths {
            let candidates: Vec<usize> = (0..paths.len()).filter(|&i| template.may_match(&paths[i])).collect();
            if candidates.is_empty() {
                continue;
            }
            let mut matched: Vec<Vec<usize>> = vec![Vec::new(); clusters.len()];
            for (provider, members) in &by_provider {
                let halves = if plain { template.halves(provider) } else { None };
                if let Some(mut halves) = halves {
                    for &path in &candidates {
                        let found = occurrences[path].get_or_insert_with(|| occurrences_in(&paths[path], clusters));
                        let Some((starts, ends)) = halves.name_places(paths[path].as_bytes()) else {
                            // The automaton gave up (it does not): match this path glob by glob.
                            self::slow(template, &[path], paths, clusters, members, &mut matched);
                            continue;
                        };
                        for &(at, cluster) in found.iter() {
                            if clusters[cluster].1 == *provider && starts[at] && ends[at + clusters[cluster].0.len()] {
                                matched[cluster].push(path);
                            }
                        }
                    }
                } else {
                    self::slow(template, &candidates, paths, clusters, members, &mut matched);
                }
            }
            for (cluster, found) in matched.into_iter().enumerate() {
                for path in found {
                    if template.negated {
                        included[cluster].remove(&path);
                    } else {
                        included[cluster].insert(path);
                    }
                }
            }
        }
        included.into_iter().map(|paths| paths.into_iter().collect()).collect()
    }

    /// The indices into `paths` that one of the `provider_paths` patterns
    /// matches with `provider` put in, ascending. Each pattern is put together
    /// with the provider's name once, and only when some path passes its wildcard form.
    pub fn provider_matches(&self, paths: &[String], provider: &str) -> Vec<usize> {
        // The patterns are read in order: the last that matches a path decides.
        let mut included = std::collections::BTreeSet::new();
        for template in &self.provider_paths {
            let candidates: Vec<usize> = (0..paths.len()).filter(|&i| template.may_match(&paths[i])).collect();
            if candidates.is_empty() {
                continue;
            }
            let named: Vec<(usize, Glob)> =
                template.with_names("", provider).map(|glob| (0, glob)).into_iter().collect();
            for_each_match(&named, &candidates, paths, |_, path| {
                if template.negated {
                    included.remove(&path);
                } else {
                    included.insert(path);
                }
            });
        }
        included.into_iter().collect()
    }
}

/// `template` matched against the `candidates` paths for each of `members`
/// (indices into `clusters`, one provider) whose name one of them holds, with
/// the name and provider put in: each put together once, matched in small sets.
fn slow(
    template: &PathTemplate,
    candidates: &[usize],
    paths: &[String],
    clusters: &[(&str, &str)],
    members: &[usize],
    matched: &mut [Vec<usize>],
) {
    let named: Vec<(usize, Glob)> = members
        .iter()
        .filter(|&&index| candidates.iter().any(|&i| paths[i].contains(clusters[index].0)))
        .filter_map(|&index| Some((index, template.with_names(clusters[index].0, clusters[index].1)?)))
        .collect();
    for_each_match(&named, candidates, paths, |cluster, path| {
        // As the filter above: a path without the name is not the cluster's.
        if paths[path].contains(clusters[cluster].0) {
            matched[cluster].push(path);
        }
    });
}

/// A name of letters, digits, `.`, `_` and `-` (cluster names are): put into
/// a glob, it is the same literal characters, so the glob around it parses the same.
fn is_plain_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// Every (byte offset, cluster) where a cluster's name occurs in `path`, overlapping ones too.
fn occurrences_in(path: &str, clusters: &[(&str, &str)]) -> Vec<(usize, usize)> {
    let mut found = Vec::new();
    for (cluster, (name, _)) in clusters.iter().enumerate() {
        let mut from = 0;
        while let Some(offset) = path.get(from..).and_then(|rest| rest.find(name)) {
            let at = from + offset;
            found.push((at, cluster));
            from = at + path[at..].chars().next().map_or(1, char::len_utf8);
        }
    }
    found
}

/// A `cluster_paths` pattern with a provider put in, cut at its one
/// `{cluster}`: the automaton of the glob before the name (forwards) and of
/// the glob after it (backwards, from the end of the path).
struct Halves {
    before: DFA,
    before_cache: Cache,
    after: DFA,
    after_cache: Cache,
}

impl Halves {
    /// For a path, `(starts, ends)`: `starts[i]` when the glob before the name
    /// matches `path[..i]`, `ends[j]` when the glob after it matches `path[j..]`.
    /// The glob matches with a name put in exactly when the name occurs at some
    /// `i` with `starts[i]` and `ends[i + name length]`.
    fn name_places(&mut self, path: &[u8]) -> Option<(Vec<bool>, Vec<bool>)> {
        let input = Input::new(path).anchored(Anchored::Yes);
        let mut starts = vec![false; path.len() + 1];
        let mut state = self.before.start_state_forward(&mut self.before_cache, &input).ok()?;
        for (at, &byte) in path.iter().enumerate() {
            state = self.before.next_state(&mut self.before_cache, state, byte).ok()?;
            // A DFA enters a match state one byte after the match ends.
            starts[at] |= state.is_match();
            if state.is_dead() || state.is_quit() {
                break;
            }
        }
        if !state.is_dead() && !state.is_quit() {
            state = self.before.next_eoi_state(&mut self.before_cache, state).ok()?;
            starts[path.len()] |= state.is_match();
        }
        let mut ends = vec![false; path.len() + 1];
        let mut state = self.after.start_state_reverse(&mut self.after_cache, &input).ok()?;
        for at in (0..path.len()).rev() {
            state = self.after.next_state(&mut self.after_cache, state, path[at]).ok()?;
            ends[at + 1] |= state.is_match();
            if state.is_dead() || state.is_quit() {
                break;
            }
        }
        if !state.is_dead() && !state.is_quit() {
            state = self.after.next_eoi_state(&mut self.after_cache, state).ok()?;
            ends[0] |= state.is_match();
        }
        Some((starts, ends))
    }
}

/// Stands for `{cluster}` while a pattern is cut: a noncharacter, in no pattern (checked).
const MARKER: char = '\u{10FFFF}';

/// A lazy DFA of `pattern` (a piece of globset's regular expression) built as globset builds its own.
fn automaton(pattern: &str, reverse: bool) -> Option<DFA> {
    DFA::builder()
        .syntax(syntax::Config::new().utf8(false).dot_matches_new_line(true))
        .thompson(thompson::Config::new().utf8(false).reverse(reverse).nfa_size_limit(Some(10 * (1 << 20))))
        .configure(DFA::config().match_kind(MatchKind::All))
        .build(pattern)
        .ok()
}

/// True when `pattern` holds `{cluster}` once, outside any `{...}` group and `[...]` class.
fn one_top_level_cluster(pattern: &str) -> bool {
    if pattern.matches(CLUSTER_PLACEHOLDER).count() != 1 {
        return false;
    }
    let (mut depth, mut in_class, mut escaped) = (0usize, false, false);
    for (at, c) in pattern.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' => escaped = true,
            '[' if !in_class => in_class = true,
            ']' if in_class => in_class = false,
            '{' if !in_class && depth == 0 && pattern[at..].starts_with(CLUSTER_PLACEHOLDER) => return true,
            '{' if !in_class => depth += 1,
            '}' if !in_class => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

/// The most globs compiled into one set. Small: a set is one automaton, whose
/// states multiply with its patterns on paths that hold many names.
const SET_CHUNK: usize = 4;

/// Calls `found(key, path)` for every glob (with its key) that matches one of the `candidates` paths.
/// The globs are compiled into sets of at most [`SET_CHUNK`]; a set that does not build (too large)
/// is matched glob by glob.
fn for_each_match(
    globs: &[(usize, Glob)],
    candidates: &[usize],
    paths: &[String],
    mut found: impl FnMut(usize, usize),
) {
    for chunk in globs.chunks(SET_CHUNK) {
        let mut builder = GlobSetBuilder::new();
        for (_, glob) in chunk {
            builder.add(glob.clone());
        }
        match builder.build() {
            Ok(set) => {
                let mut hits = Vec::new();
                for &path in candidates {
                    set.matches_into(paths[path].as_str(), &mut hits);
                    for &hit in &hits {
                        found(chunk[hit].0, path);
                    }
                }
            }
            Err(_) => {
                for (key, glob) in chunk {
                    let matcher = glob.compile_matcher();
                    for &path in candidates {
                        if matcher.is_match(paths[path].as_str()) {
                            found(*key, path);
                        }
                    }
                }
            }
        }
    }
}

/// A problem with one pattern: which list, which entry, what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleProblem {
    pub list: &'static str,
    /// The provider or cluster of a `providers` or `clusters` entry.
    pub key: Option<String>,
    pub index: Option<usize>,
    pub message: String,
}

/// The hint shown with every [`RuleProblem`].
pub const RULES_HINT: &str = "`cluster_paths` entries name one cluster's file with `{cluster}` (and may use \
     `{provider}`), such as `terraform/{provider}/projects/{cluster}.tfvars`; `provider_paths` entries use \
     `{provider}` only, such as `terraform/{provider}/modules/**`; a placeholder stands outside any `{a,b}` \
     group; paths that do not name their cluster or provider go under `clusters: {<cluster>: [...]}` or \
     `providers: {<provider>: [...]}`; a `!` pattern excludes what the patterns before it matched";

/// The providers `{provider}` stands for, which `providers` may name.
pub const PROVIDERS: [&str; 5] = ["gcp", "aws", "azure", "kubeconfig", "openstack"];

/// Checks and compiles the block.
pub fn from_raw(
    raw: Option<RawHealthChecks>,
    max_patterns: usize,
    max_len: usize,
) -> Result<HealthCheckRules, RuleProblem> {
    let raw = raw.unwrap_or_default();
    let mut providers = BTreeMap::new();
    for (provider, patterns) in raw.providers.unwrap_or_default() {
        if !PROVIDERS.contains(&provider.as_str()) {
            let near = nearest(&provider, PROVIDERS.iter().copied())
                .map(|near| format!("; did you mean `{near}`?"))
                .unwrap_or_else(|| format!("; the providers are {}", PROVIDERS.join(", ")));
            return Err(RuleProblem {
                list: "providers",
                key: Some(provider.clone()),
                index: None,
                message: format!("unknown provider {}{near}", super::suggest::shown(&provider, "(a name not shown)")),
            });
        }
        let compiled = named_list("providers", &provider, patterns, max_patterns, max_len)?;
        providers.insert(provider, compiled);
    }
    let mut clusters = BTreeMap::new();
    for (cluster, patterns) in raw.clusters.unwrap_or_default() {
        let compiled = named_list("clusters", &cluster, patterns, max_patterns, max_len)?;
        clusters.insert(cluster, compiled);
    }
    Ok(HealthCheckRules {
        cluster_paths: list("cluster_paths", raw.cluster_paths.unwrap_or_default(), true, max_patterns, max_len)?,
        provider_paths: list("provider_paths", raw.provider_paths.unwrap_or_default(), false, max_patterns, max_len)?,
        providers,
        clusters,
    })
}

/// A `providers` or `clusters` entry: plain path patterns (no placeholder), `!` excludes read in order.
fn named_list(
    name: &'static str,
    key: &str,
    patterns: Vec<String>,
    max_patterns: usize,
    max_len: usize,
) -> Result<Patterns, RuleProblem> {
    let problem =
        |index: Option<usize>, message: String| RuleProblem { list: name, key: Some(key.to_owned()), index, message };
    if patterns.len() > max_patterns {
        return Err(problem(
            None,
            format!("the list has {} patterns; at most {max_patterns} are accepted", patterns.len()),
        ));
    }
    for (index, source) in patterns.iter().enumerate() {
        if source.len() > max_len {
            return Err(problem(Some(index), format!("the pattern is longer than {max_len} characters")));
        }
        let (negated, glob) = split_negation(source);
        if let Some(word) = placeholders(glob).map_err(|m| problem(Some(index), m))?.first() {
            return Err(problem(
                Some(index),
                format!(
                    "`{{{word}}}` has nothing to stand for here: the paths of {name} entry {} are that {}'s own; \
                     write them in full",
                    super::suggest::shown(key, "(a name not shown)"),
                    if name == "clusters" { "cluster" } else { "provider" }
                ),
            ));
        }
        if let Err(e) = compile_glob(glob) {
            return Err(problem(Some(index), format!("invalid glob `{source}`: {e}")));
        }
        if let Some(message) = super::path_pattern::never_matches(glob, false) {
            return Err(problem(Some(index), message));
        }
        if negated && index == 0 {
            return Err(problem(Some(index), leading_exclude(source)));
        }
    }
    Patterns::new(&patterns).map_err(|(index, e)| problem(Some(index), format!("invalid glob: {e}")))
}

fn list(
    name: &'static str,
    patterns: Vec<String>,
    per_cluster: bool,
    max_patterns: usize,
    max_len: usize,
) -> Result<Vec<PathTemplate>, RuleProblem> {
    if patterns.len() > max_patterns {
        return Err(RuleProblem {
            list: name,
            key: None,
            index: None,
            message: format!("the list has {} patterns; at most {max_patterns} are accepted", patterns.len()),
        });
    }
    patterns
        .into_iter()
        .enumerate()
        .map(|(index, written)| {
            let problem = |message: String| RuleProblem { list: name, key: None, index: Some(index), message };
            if written.len() > max_len {
                return Err(problem(format!("the pattern is longer than {max_len} characters")));
            }
            let (negated, source) = split_negation(&written);
            let source = source.to_owned();
            check_placeholders(&source, per_cluster, negated).map_err(problem)?;
            let any = source.replace(CLUSTER_PLACEHOLDER, "*").replace(PROVIDER_PLACEHOLDER, "*");
            let glob = compile_glob(&any).map_err(|e| problem(format!("invalid glob `{written}`: {e}")))?;
            // A placeholder reads as a name here (`{cluster}` is a one-branch group of one).
            if let Some(message) = super::path_pattern::never_matches(&source, false) {
                return Err(problem(message));
            }
            if negated && index == 0 {
                return Err(problem(leading_exclude(&written)));
            }
            Ok(PathTemplate { source, negated, any: glob.compile_matcher() })
        })
        .collect()
}

/// The placeholders a pattern must and must not hold, and no unknown `{word}`.
/// An exclude (`!`) need not name a cluster or provider: it takes out paths for all of them.
fn check_placeholders(pattern: &str, per_cluster: bool, negated: bool) -> Result<(), String> {
    for word in brace_words(pattern) {
        if word != "cluster" && word != "provider" {
            let known = ["cluster", "provider"];
            return Err(match nearest(word, known.iter().copied()) {
                Some(near) => format!("unknown placeholder `{{{word}}}`; did you mean `{{{near}}}`?"),
                None => format!(
                    "unknown placeholder `{{{word}}}`: the placeholders are `{CLUSTER_PLACEHOLDER}` and \
                     `{PROVIDER_PLACEHOLDER}` (a glob alternative needs a comma, such as `{{a,b}}`)"
                ),
            });
        }
    }
    let found = placeholders(pattern)?;
    let has_cluster = found.contains(&"cluster");
    let has_provider = found.contains(&"provider");
    match (per_cluster, has_cluster, has_provider) {
        (false, true, _) => Err(format!(
            "the pattern has `{CLUSTER_PLACEHOLDER}`; a pattern naming one cluster belongs in `cluster_paths`"
        )),
        _ if negated => Ok(()),
        (true, false, _) => Err(format!(
            "the pattern has no `{CLUSTER_PLACEHOLDER}`, so it names no cluster; a change that concerns every \
             cluster of a provider belongs in `provider_paths`"
        )),
        (false, false, false) => Err(format!("the pattern has no `{PROVIDER_PLACEHOLDER}`, so it names no provider")),
        _ => Ok(()),
    }
}

/// The placeholders of a pattern, in order, read by parsing it as a glob: each must stand at
/// the top level (not inside a `{a,b}` group, where a path could match through another
/// alternative without naming its cluster or provider, nor inside a `[...]` class), and must
/// not be escaped.
pub fn placeholders(pattern: &str) -> Result<Vec<&'static str>, String> {
    let bytes = pattern.as_bytes();
    let mut found = Vec::new();
    let mut groups: Vec<usize> = Vec::new(); // where each open `{` group starts
    let mut at = 0;
    while at < bytes.len() {
        let rest = &pattern[at..];
        let placeholder = [("cluster", CLUSTER_PLACEHOLDER), ("provider", PROVIDER_PLACEHOLDER)]
            .into_iter()
            .find(|(_, text)| rest.starts_with(text));
        match (bytes[at], placeholder) {
            (b'\\', _) => {
                let escaped = &pattern[at + 1..];
                if let Some(text) =
                    [CLUSTER_PLACEHOLDER, PROVIDER_PLACEHOLDER].into_iter().find(|t| escaped.starts_with(t))
                {
                    return Err(format!(
                        "the placeholder `{text}` is escaped (`\\{text}`): a placeholder cannot be escaped; \
                         write it plainly, or write another name"
                    ));
                }
                at += 2;
                continue;
            }
            (b'[', _) => {
                // A class: up to its `]` (a `]` first, or after `!`/`^`, is a member).
                let mut end = at + 1;
                if matches!(bytes.get(end), Some(b'!' | b'^')) {
                    end += 1;
                }
                if bytes.get(end) == Some(&b']') {
                    end += 1;
                }
                while end < bytes.len() && bytes[end] != b']' {
                    end += 1;
                }
                let class = &pattern[at..(end + 1).min(pattern.len())];
                if let Some(text) = [CLUSTER_PLACEHOLDER, PROVIDER_PLACEHOLDER].into_iter().find(|t| class.contains(t))
                {
                    return Err(format!(
                        "the placeholder `{text}` is inside the class `{class}`, where it stands for single \
                         characters, not a name"
                    ));
                }
                at = end + 1;
                continue;
            }
            (b'{', Some((word, text))) => {
                if let Some(&start) = groups.first() {
                    let group = group_text(pattern, start);
                    return Err(format!(
                        "the placeholder `{text}` is inside the alternative group `{group}`: a path can match another \
                         alternative without naming a {word}, so the rule cannot tell whose path it is; put the \
                         placeholder outside the group (such as `{{eksctl,terraform}}/{text}/**`), or list such paths \
                         under `{}`",
                        if word == "cluster" {
                            "clusters: {<cluster>: [...]}"
                        } else {
                            "providers: {<provider>: [...]}"
                        }
                    ));
                }
                found.push(word);
                at += text.len();
                continue;
            }
            (b'{', None) => groups.push(at),
            (b'}', _) => {
                groups.pop();
            }
            _ => {}
        }
        at += rest.chars().next().map_or(1, char::len_utf8);
    }
    Ok(found)
}

/// The `{...}` group starting at `start`, as written (to its matching `}`, or the end).
fn group_text(pattern: &str, start: usize) -> &str {
    let mut depth = 0usize;
    for (offset, c) in pattern[start..].char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return &pattern[start..start + offset + 1];
                }
            }
            _ => {}
        }
    }
    &pattern[start..]
}

/// The words in `{...}` groups without a comma (a comma makes a glob alternative).
fn brace_words(pattern: &str) -> impl Iterator<Item = &str> {
    pattern.split('{').skip(1).filter_map(|rest| {
        let word = rest.split('}').next()?;
        (rest.contains('}') && !word.contains(',') && !word.is_empty()).then_some(word)
    })
}

/// The provider a cluster's `{provider}` stands for: its `provider`, except
/// that a `kubeconfig` cluster takes one from the host of its `provider_url`
/// (a host with `azure` in it: `azure`; with `jetstream`: `openstack`), as
/// such clusters run on a cloud the deployer does not log in to.
pub fn infrastructure_provider(provider: Provider, provider_url: Option<&str>) -> &'static str {
    if provider != Provider::Kubeconfig {
        return provider.as_str();
    }
    let Some(url) = provider_url else { return provider.as_str() };
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    let host = after_scheme.split(['/', '?', '#']).next().unwrap_or_default();
    let host = host.rsplit('@').next().unwrap_or_default().split(':').next().unwrap_or_default().to_ascii_lowercase();
    if host.contains("azure") {
        "azure"
    } else if host.contains("jetstream") {
        "openstack"
    } else {
        provider.as_str()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(cluster: &[&str], provider: &[&str]) -> Result<HealthCheckRules, RuleProblem> {
        let owned = |list: &[&str]| Some(list.iter().map(|p| (*p).to_owned()).collect());
        from_raw(
            Some(RawHealthChecks {
                cluster_paths: owned(cluster),
                provider_paths: owned(provider),
                providers: None,
                clusters: None,
            }),
            100,
            256,
        )
    }

    #[test]
    fn placeholders_are_read_by_parsing() {
        let ok = [
            ("terraform/{provider}/projects/{cluster}.tfvars", vec!["provider", "cluster"]),
            ("{eksctl,terraform}/{provider}/**", vec!["provider"]),
            ("a/{x,y}{cluster}", vec!["cluster"]),
            ("[{]x/{cluster}", vec!["cluster"]),
        ];
        for (pattern, expected) in ok {
            assert_eq!(placeholders(pattern).as_deref(), Ok(&expected[..]), "{pattern}");
        }
        let refused = [
            (
                "{eksctl/libsonnet/**,x{provider}}",
                "the placeholder `{provider}` is inside the alternative group `{eksctl/libsonnet/**,x{provider}}`",
            ),
            ("{a,{cluster}}/x", "the placeholder `{cluster}` is inside the alternative group `{a,{cluster}}`"),
            ("x/[{cluster}]", "the placeholder `{cluster}` is inside the class `[{cluster}]`"),
            ("x/\\{cluster}", "the placeholder `{cluster}` is escaped"),
        ];
        for (pattern, expected) in refused {
            let message = placeholders(pattern).unwrap_err();
            assert!(message.starts_with(expected), "{pattern}: {message}");
        }
        // Through the rules: the brief's example no longer names a provider for libsonnet changes.
        let problem = rules(&[], &["{eksctl/libsonnet/**,x{provider}}"]).unwrap_err();
        assert_eq!((problem.list, problem.index), ("provider_paths", Some(0)));
        assert!(problem.message.contains("inside the alternative group"), "{}", problem.message);
    }

    #[test]
    fn excludes_and_named_lists_decide_in_order() {
        let raw = |text: &str| -> Result<HealthCheckRules, RuleProblem> {
            let raw: RawHealthChecks = yaml_serde::from_str(text).unwrap();
            from_raw(Some(raw), 100, 256)
        };
        let rules = raw("cluster_paths: ['x/{cluster}/**', '!x/{cluster}/docs/**', 'x/{cluster}/docs/keep']\n\
                         provider_paths: ['terraform/{provider}/**', '!terraform/{provider}/projects/**', '!**/*.md']\n\
                         providers: {aws: [eksctl/libsonnet/**, eksctl/template.jsonnet, '!eksctl/libsonnet/README.md']}\n\
                         clusters: {2i2c: [terraform/gcp/projects/pilot-hubs.tfvars]}\n")
        .unwrap();
        let paths: Vec<String> = [
            "x/c1/a",
            "x/c1/docs/b",
            "x/c1/docs/keep",
            "terraform/gcp/main.tf",
            "terraform/gcp/projects/c1.tfvars",
            "terraform/gcp/README.md",
            "eksctl/libsonnet/nodegroup.jsonnet",
            "eksctl/libsonnet/README.md",
            "eksctl/template.jsonnet",
            "terraform/gcp/projects/pilot-hubs.tfvars",
        ]
        .iter()
        .map(|p| (*p).to_owned())
        .collect();
        let names = |found: Vec<usize>| -> Vec<&str> { found.into_iter().map(|i| paths[i].as_str()).collect() };
        let by_cluster = rules.cluster_matches(&paths, &[("c1", "gcp"), ("2i2c", "gcp")]);
        assert_eq!(names(by_cluster[0].clone()), ["x/c1/a", "x/c1/docs/keep"]);
        assert!(by_cluster[1].is_empty());
        assert_eq!(names(rules.named_cluster_matches(&paths, "2i2c")), ["terraform/gcp/projects/pilot-hubs.tfvars"]);
        assert!(rules.named_cluster_matches(&paths, "c1").is_empty());
        assert_eq!(names(rules.all_provider_matches(&paths, "gcp")), ["terraform/gcp/main.tf"]);
        assert_eq!(
            names(rules.all_provider_matches(&paths, "aws")),
            ["eksctl/libsonnet/nodegroup.jsonnet", "eksctl/template.jsonnet"]
        );
        let refused = [
            (
                "providers: {awz: [a/**]}\n",
                ("providers", Some("awz"), None),
                "unknown provider `awz`; did you mean `aws`?",
            ),
            (
                "providers: {aws: ['!a/**', b]}\n",
                ("providers", Some("aws"), Some(0)),
                "`!a/**` excludes only what the patterns before it match",
            ),
            (
                "clusters: {c1: ['x/{cluster}.tf']}\n",
                ("clusters", Some("c1"), Some(0)),
                "`{cluster}` has nothing to stand for here",
            ),
            ("clusters: {c1: ['./x']}\n", ("clusters", Some("c1"), Some(0)), "the pattern has a `.` segment"),
            (
                "provider_paths: ['!terraform/{provider}/x', 'terraform/{provider}/**']\n",
                ("provider_paths", None, Some(0)),
                "`!terraform/{provider}/x` excludes only",
            ),
            ("cluster_paths: ['x/{cluster}', '!x/{provider}/old']\n", ("cluster_paths", None, Some(1)), ""),
        ];
        for (text, (list, key, index), expected) in refused {
            match raw(text) {
                Err(problem) => {
                    assert_eq!((problem.list, problem.key.as_deref(), problem.index), (list, key, index), "{text}");
                    assert!(problem.message.starts_with(expected), "{text}: {}", problem.message);
                    assert!(!expected.is_empty(), "{text}: refused: {}", problem.message);
                }
                Ok(_) => assert!(expected.is_empty(), "{text}: accepted"),
            }
        }
    }

    #[test]
    fn templates_match_with_names_put_in() {
        let rules = rules(
            &["terraform/{provider}/projects/{cluster}.tfvars", "eksctl/{cluster}.jsonnet", "x/{cluster}/**"],
            &["terraform/{provider}/modules/**", "{provider}-{a,b}/*"],
        )
        .expect("valid");
        let tf = &rules.cluster_paths[0];
        let cases = [
            ("terraform/gcp/projects/c1.tfvars", "c1", "gcp", true),
            ("terraform/gcp/projects/c1.tfvars", "c2", "gcp", false),
            ("terraform/gcp/projects/c1.tfvars", "c1", "aws", false),
            ("terraform/gcp/projects/c1.tfvars.bak", "c1", "gcp", false),
            ("terraform/gcp/projects/sub/c1.tfvars", "c1", "gcp", false),
            ("terraform/gcp/projects/c1.tfvars", "c", "gcp", false),
        ];
        for (path, cluster, provider, expected) in cases {
            assert_eq!(tf.matches(path, cluster, provider), expected, "{path} {cluster} {provider}");
        }
        assert!(rules.cluster_paths[1].matches("eksctl/a.b-c.jsonnet", "a.b-c", "aws"));
        assert!(!rules.cluster_paths[1].matches("eksctl/axb-c.jsonnet", "a.b-c", "aws"));
        assert!(rules.cluster_paths[2].matches("x/c1/deep/file", "c1", "gcp"));
        let modules = &rules.provider_paths[0];
        assert!(modules.matches("terraform/aws/modules/eks/main.tf", "", "aws"));
        assert!(!modules.matches("terraform/aws/modules/eks/main.tf", "", "gcp"));
        assert!(!modules.may_match("terraform/aws/projects/c1.tfvars"));
        assert!(rules.provider_paths[1].matches("gcp-b/x", "", "gcp"));
        // A name with glob characters is a literal.
        assert!(!rules.cluster_paths[1].matches("eksctl/ab.jsonnet", "a*", "aws"));
        assert!(rules.cluster_paths[1].matches("eksctl/a*.jsonnet", "a*", "aws"));
    }

    /// The planner's matching, one set per pattern, is the one-compile-per-check matching exactly.
    #[test]
    fn set_matching_is_the_single_matching() {
        let rules = rules(
            &[
                "terraform/{provider}/projects/{cluster}.tfvars",
                "eksctl/{cluster}.jsonnet",
                "x/{cluster}/**",
                "{a,b}/{cluster}-*/*",
                "**/{cluster}",
                "y/*{cluster}*/{cluster}.yaml",
                "z/{cluster}{,.d}/**/k",
            ],
            &["terraform/{provider}/modules/**", "{provider}-{a,b}/*", "**/{provider}.tf"],
        )
        .expect("valid");
        let clusters = [("gcp1", "gcp"), ("gcp1-eu", "gcp"), ("aws1", "aws"), ("a.b", "azure"), ("eu", "gcp")];
        let paths: Vec<String> = [
            "terraform/gcp/projects/gcp1.tfvars",
            "terraform/gcp/projects/gcp1-eu.tfvars",
            "terraform/aws/projects/gcp1.tfvars",
            "eksctl/aws1.jsonnet",
            "eksctl/a.b.jsonnet",
            "eksctl/axb.jsonnet",
            "x/gcp1/deep/file",
            "x/gcp1-eu",
            "a/gcp1-eu/f",
            "b/gcp1-x/f",
            "c/gcp1-x/f",
            "q/r/eu",
            "y/pregcp1post/gcp1.yaml",
            "y/pregcp1post/aws1.yaml",
            "z/a.b.d/m/k",
            "z/a.b/k",
            "terraform/gcp/modules/vpc/main.tf",
            "gcp-b/x",
            "azure-c/x",
            "m/n/aws.tf",
            "eksctl/aws1.jsonnet",
        ]
        .iter()
        .map(|p| (*p).to_owned())
        .collect();
        let by_set = rules.cluster_matches(&paths, &clusters);
        for (index, (name, provider)) in clusters.iter().enumerate() {
            let single: Vec<usize> = (0..paths.len())
                .filter(|&i| {
                    paths[i].contains(name) && rules.cluster_paths.iter().any(|t| t.matches(&paths[i], name, provider))
                })
                .collect();
            assert_eq!(by_set[index], single, "{name}");
        }
        let named = |indices: &[usize]| indices.iter().map(|&i| paths[i].as_str()).collect::<Vec<_>>();
        assert_eq!(
            named(&by_set[0]),
            [
                "terraform/gcp/projects/gcp1.tfvars",
                "x/gcp1/deep/file",
                "a/gcp1-eu/f",
                "b/gcp1-x/f",
                "y/pregcp1post/gcp1.yaml"
            ]
        );
        assert_eq!(named(&by_set[1]), ["terraform/gcp/projects/gcp1-eu.tfvars", "x/gcp1-eu"]);
        assert_eq!(named(&by_set[2]), ["eksctl/aws1.jsonnet", "eksctl/aws1.jsonnet"]);
        assert_eq!(named(&by_set[3]), ["eksctl/a.b.jsonnet", "z/a.b.d/m/k"]);
        assert_eq!(named(&by_set[4]), ["q/r/eu"]);
        for provider in ["gcp", "aws", "azure", "openstack"] {
            let single: Vec<usize> = (0..paths.len())
                .filter(|&i| rules.provider_paths.iter().any(|t| t.matches(&paths[i], "", provider)))
                .collect();
            assert_eq!(rules.provider_matches(&paths, provider), single, "{provider}");
        }
        assert_eq!(named(&rules.provider_matches(&paths, "gcp")), ["terraform/gcp/modules/vpc/main.tf", "gcp-b/x"]);
        assert_eq!(named(&rules.provider_matches(&paths, "aws")), ["m/n/aws.tf"]);
    }

    /// Pattern by pattern, over shapes of both kinds (cut at `{cluster}`, or put together per
    /// cluster), names that overlap and contain each other, and paths with any bytes.
    #[test]
    fn every_shape_matches_as_put_together() {
        let templates = [
            "{cluster}",
            "*{cluster}",
            "{cluster}*",
            "**/{cluster}",
            "{cluster}/**",
            "**/{cluster}/**",
            "**/*{cluster}*/**",
            "a/**/{cluster}.d/**",
            "{provider}/{cluster}",
            "{a,b/c}/{cluster}{,.x}",
            "[ab]{cluster}",
            "{cluster}/{cluster}",
            "?{cluster}?",
            "x/{cluster}-[0-9]/*.{tf,tfvars}",
            "**/{cluster}**",
            "\\{{cluster}\\}",
        ];
        let clusters = [("aa", "gcp"), ("aaa", "gcp"), ("a", "aws"), ("a.a", "gcp"), ("b", "gcp"), ("x", "aws")];
        let paths: Vec<String> = [
            "aa",
            "aaa",
            "aaaa",
            "a",
            "b",
            "ba",
            "x/aa",
            "a/aa",
            "aa/x",
            "aa/aa",
            "aaa/aa",
            "q/r/aa",
            "q/aa/r",
            "a/q/aa.d/r",
            "a/aa.d",
            "gcp/aa",
            "aws/a",
            "gcp/a",
            "a/aa",
            "b/c/aa",
            "b/c/aa.x",
            "a/aaa.x",
            "aa/x",
            "baa",
            "aab",
            "x/aa-1/m.tf",
            "x/aa-1/m.tfvars",
            "x/aa-12/m.tf",
            "q/aaq",
            "q/aa/",
            "é/aa",
            "a\naa",
            "{aa}",
            "a.a",
            "a/a.a",
            "xaax",
            "x/x",
            "aa/aa/aa",
        ]
        .iter()
        .map(|p| (*p).to_owned())
        .collect();
        for template in templates {
            let rules = rules(&[template], &[]).unwrap_or_else(|e| panic!("{template}: {e:?}"));
            let by_set = rules.cluster_matches(&paths, &clusters);
            let mut any = false;
            for (index, (name, provider)) in clusters.iter().enumerate() {
                let single: Vec<usize> = (0..paths.len())
                    .filter(|&i| paths[i].contains(name) && rules.cluster_paths[0].matches(&paths[i], name, provider))
                    .collect();
                assert_eq!(by_set[index], single, "{template} {name}");
                any |= !single.is_empty();
            }
            assert!(any, "{template} matches some path");
        }
    }

    #[test]
    fn bad_rules_say_what_and_where() {
        /// Cluster paths, provider paths, and the list, entry and message of the problem.
        type Case<'a> = (&'a [&'a str], &'a [&'a str], &'a str, Option<usize>, &'a str);
        let cases: &[Case<'_>] = &[
            (&["terraform/projects/x.tfvars"], &[], "cluster_paths", Some(0), "the pattern has no `{cluster}`"),
            (
                &["a/{clustr}.tf"],
                &[],
                "cluster_paths",
                Some(0),
                "unknown placeholder `{clustr}`; did you mean `{cluster}`?",
            ),
            (&[], &["a/{cluster}/**"], "provider_paths", Some(0), "the pattern has `{cluster}`"),
            (&[], &["terraform/modules/**"], "provider_paths", Some(0), "the pattern has no `{provider}`"),
            (
                &[],
                &["ok/{provider}/**", "t/{Provider}/**"],
                "provider_paths",
                Some(1),
                "unknown placeholder `{Provider}`; did you mean `{provider}`?",
            ),
            (&["a/{cluster}/[x"], &[], "cluster_paths", Some(0), "invalid glob `a/{cluster}/[x`"),
            (&["{zzzzzz}/{cluster}"], &[], "cluster_paths", Some(0), "unknown placeholder `{zzzzzz}`"),
        ];
        for (cluster, provider, list, index, message) in cases {
            let problem = rules(cluster, provider).expect_err("refused");
            assert_eq!((problem.list, problem.index), (*list, *index), "{cluster:?} {provider:?}");
            assert!(problem.message.starts_with(message), "{}", problem.message);
        }
        let many: Vec<String> = (0..101).map(|i| format!("a{i}/{{cluster}}")).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        assert_eq!(rules(&many, &[]).expect_err("too many").index, None);
        let long = format!("{}/{{cluster}}", "a".repeat(300));
        assert!(rules(&[&long], &[]).expect_err("too long").message.contains("longer than 256"));
        assert!(rules(&[], &[]).expect("empty").is_empty());
    }

    #[test]
    fn kubeconfig_clusters_take_their_provider_from_the_url() {
        let cases = [
            (Provider::Gcp, Some("https://portal.azure.com/x"), "gcp"),
            (Provider::Kubeconfig, Some("https://portal.azure.com/?l=en#@x.onmicrosoft.com/resource"), "azure"),
            (Provider::Kubeconfig, Some("https://js2.jetstream-cloud.org/project/"), "openstack"),
            (Provider::Kubeconfig, Some("https://example.org/azure/jetstream"), "kubeconfig"),
            (Provider::Kubeconfig, Some("https://user@AZURE.example:443/"), "azure"),
            (Provider::Kubeconfig, Some("not a url"), "kubeconfig"),
            (Provider::Kubeconfig, None, "kubeconfig"),
        ];
        for (provider, url, expected) in cases {
            assert_eq!(infrastructure_provider(provider, url), expected, "{url:?}");
        }
    }
}
