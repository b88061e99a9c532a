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
//! The work is bounded by the rules and the estate, never by their product
//! with the changed paths: [`HealthCheckRules::cluster_matches`] puts each
//! cluster's name into a pattern at most once per run, and matches every
//! changed path against all of one pattern's clusters in one pass (a
//! `GlobSet`); [`HealthCheckRules::provider_matches`] does the same per
//! provider.

use globset::{Glob, GlobMatcher, GlobSetBuilder};

use super::raw::{Provider, RawHealthChecks};
use super::suggest::nearest;

/// The placeholder for a cluster's name.
pub const CLUSTER_PLACEHOLDER: &str = "{cluster}";
/// The placeholder for a cluster's provider ([`infrastructure_provider`]).
pub const PROVIDER_PLACEHOLDER: &str = "{provider}";

/// One pattern of a health-check rule.
#[derive(Debug, Clone)]
pub struct PathTemplate {
    /// As written.
    pub source: String,
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

    /// The pattern with `cluster` and `provider` put in as literals, parsed (not compiled).
    /// `None` when it does not parse (it did with `*` in their place, so with plain names it does too).
    fn with_names(&self, cluster: &str, provider: &str) -> Option<Glob> {
        let pattern =
            self.source.replace(CLUSTER_PLACEHOLDER, &escape(cluster)).replace(PROVIDER_PLACEHOLDER, &escape(provider));
        super::settings::compile_glob(&pattern).ok()
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
}

impl HealthCheckRules {
    /// True when there are no rules.
    pub fn is_empty(&self) -> bool {
        self.cluster_paths.is_empty() && self.provider_paths.is_empty()
    }

    /// For each of `clusters` (name and provider), the indices into `paths`
    /// that one of the `cluster_paths` patterns matches with that cluster's
    /// name and provider put in, ascending.
    ///
    /// Each pattern is matched in its wildcard form against every path once;
    /// a pattern that some path passes is put together with the name of each
    /// cluster that appears in one of those paths (a path without the name
    /// cannot match: the name is a literal in it), once, and those patterns
    /// are matched together, as one set, against each such path.
    pub fn cluster_matches(&self, paths: &[String], clusters: &[(&str, &str)]) -> Vec<Vec<usize>> {
        let mut matched: Vec<Vec<usize>> = vec![Vec::new(); clusters.len()];
        for template in &self.cluster_paths {
            let candidates: Vec<usize> = (0..paths.len()).filter(|&i| template.may_match(&paths[i])).collect();
            if candidates.is_empty() {
                continue;
            }
            let named: Vec<(usize, Glob)> = clusters
                .iter()
                .enumerate()
                .filter(|(_, (name, _))| candidates.iter().any(|&i| paths[i].contains(name)))
                .filter_map(|(index, (name, provider))| Some((index, template.with_names(name, provider)?)))
                .collect();
            for_each_match(&named, &candidates, paths, |cluster, path| matched[cluster].push(path));
        }
        for paths in &mut matched {
            paths.sort_unstable();
            paths.dedup();
        }
        matched
    }

    /// The indices into `paths` that one of the `provider_paths` patterns
    /// matches with `provider` put in, ascending. Each pattern is put together
    /// with the provider's name once, and only when some path passes its wildcard form.
    pub fn provider_matches(&self, paths: &[String], provider: &str) -> Vec<usize> {
        let mut matched = Vec::new();
        for template in &self.provider_paths {
            let candidates: Vec<usize> = (0..paths.len()).filter(|&i| template.may_match(&paths[i])).collect();
            if candidates.is_empty() {
                continue;
            }
            let named: Vec<(usize, Glob)> =
                template.with_names("", provider).map(|glob| (0, glob)).into_iter().collect();
            for_each_match(&named, &candidates, paths, |_, path| matched.push(path));
        }
        matched.sort_unstable();
        matched.dedup();
        matched
    }
}

/// The most globs compiled into one set: a set is one regular expression, whose size is capped.
const SET_CHUNK: usize = 64;

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
    pub index: Option<usize>,
    pub message: String,
}

/// The hint shown with every [`RuleProblem`].
pub const RULES_HINT: &str = "`cluster_paths` entries name one cluster's file with `{cluster}` (and may use \
     `{provider}`), such as `terraform/{provider}/projects/{cluster}.tfvars`; `provider_paths` entries use \
     `{provider}` only, such as `terraform/{provider}/modules/**`";

/// Checks and compiles the block.
pub fn from_raw(
    raw: Option<RawHealthChecks>,
    max_patterns: usize,
    max_len: usize,
) -> Result<HealthCheckRules, RuleProblem> {
    let raw = raw.unwrap_or_default();
    Ok(HealthCheckRules {
        cluster_paths: list("cluster_paths", raw.cluster_paths.unwrap_or_default(), true, max_patterns, max_len)?,
        provider_paths: list("provider_paths", raw.provider_paths.unwrap_or_default(), false, max_patterns, max_len)?,
    })
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
            index: None,
            message: format!("the list has {} patterns; at most {max_patterns} are accepted", patterns.len()),
        });
    }
    patterns
        .into_iter()
        .enumerate()
        .map(|(index, source)| {
            let problem = |message: String| RuleProblem { list: name, index: Some(index), message };
            if source.len() > max_len {
                return Err(problem(format!("the pattern is longer than {max_len} characters")));
            }
            check_placeholders(&source, per_cluster).map_err(problem)?;
            let any = source.replace(CLUSTER_PLACEHOLDER, "*").replace(PROVIDER_PLACEHOLDER, "*");
            let glob =
                super::settings::compile_glob(&any).map_err(|e| problem(format!("invalid glob `{source}`: {e}")))?;
            // A placeholder reads as a name here (`{cluster}` is a one-branch group of one).
            if let Some(message) = super::path_pattern::never_matches(&source, false) {
                return Err(problem(message));
            }
            Ok(PathTemplate { source, any: glob.compile_matcher() })
        })
        .collect()
}

/// The placeholders a pattern must and must not hold, and no unknown `{word}`.
fn check_placeholders(pattern: &str, per_cluster: bool) -> Result<(), String> {
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
    let has_cluster = pattern.contains(CLUSTER_PLACEHOLDER);
    let has_provider = pattern.contains(PROVIDER_PLACEHOLDER);
    match (per_cluster, has_cluster, has_provider) {
        (true, false, _) => Err(format!(
            "the pattern has no `{CLUSTER_PLACEHOLDER}`, so it names no cluster; a change that concerns every \
             cluster of a provider belongs in `provider_paths`"
        )),
        (false, true, _) => Err(format!(
            "the pattern has `{CLUSTER_PLACEHOLDER}`; a pattern naming one cluster belongs in `cluster_paths`"
        )),
        (false, false, false) => Err(format!("the pattern has no `{PROVIDER_PLACEHOLDER}`, so it names no provider")),
        _ => Ok(()),
    }
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
        from_raw(Some(RawHealthChecks { cluster_paths: owned(cluster), provider_paths: owned(provider) }), 100, 256)
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
