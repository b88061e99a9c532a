//! `deployer.yaml`: the patterns and label names the planner uses, with their defaults.

use std::collections::BTreeMap;

use globset::GlobMatcher;

use super::before::{self, BeforeSteps};
use super::globs::{compile_glob, is_leading_exclude, leading_exclude, split_negation, Patterns};
use super::health_checks::{self, HealthCheckRules};
use super::ignore::{IgnoreProblem, RenderIgnore};
use super::labels::Labels;
use super::locate::{display_path, locate, Segment};
use super::path_pattern::{self, never_matches};
use super::raw::{Impact, RawSettings};
use super::rollout::Rollout;
use super::yaml;
use crate::base::diagnostic::Diagnostic;

/// The default settings file, at the repository root.
pub const DEFAULT_SETTINGS_FILE: &str = "deployer.yaml";

/// Default glob of cluster files.
pub const DEFAULT_CLUSTER_GLOB: &str = "config/clusters/**/cluster.yaml";
/// Default cluster-file excludes.
pub const DEFAULT_CLUSTER_EXCLUDE: &[&str] = &["config/clusters/templates/**"];
/// Default "redeploy every hub" patterns: the Python deployer's package and its excludes
/// (its README, its tests, its health-check tests and its dev commands, as its
/// `deploy-hubs.yaml` workflow lists them), the Python requirements, the setup
/// action, and the hub charts.
pub const DEFAULT_REDEPLOY_ALL_HUBS: &[&str] = &[
    "deployer/**",
    "!deployer/README.md",
    "!deployer/tests/**",
    "!deployer/src/deployer/health_check_tests/**",
    "!deployer/src/deployer/dev/commands/**",
    "!deployer/health_check_tests/**",
    "!deployer/dev_commands/**",
    "requirements.txt",
    ".github/actions/setup-deploy/**",
    "helm-charts/basehub/**",
    "helm-charts/daskhub/**",
];
/// Default "redeploy every support chart" patterns.
pub const DEFAULT_REDEPLOY_ALL_SUPPORT: &[&str] = &["helm-charts/support/**"];
/// Default staging-hub pattern: any name containing `staging`.
pub const DEFAULT_STAGING_HUB_PATTERN: &str = "*staging*";

/// The most patterns one list may hold, and the longest pattern: compiling
/// globs costs memory in proportion to their wildcards, and these caps keep
/// the worst `deployer.yaml` within a few tens of MiB.
pub const MAX_PATTERNS: usize = 100;
pub const MAX_PATTERN_LEN: usize = 256;

const TOO_LONG: &str = "the pattern is longer than";
const TOO_MANY: &str = "the list has";

fn too_long(pattern: &str) -> Option<String> {
    (pattern.len() > MAX_PATTERN_LEN).then(|| format!("{TOO_LONG} {MAX_PATTERN_LEN} characters"))
}

/// Everything configurable about planning.
#[derive(Debug, Clone)]
pub struct Settings {
    pub cluster_glob: String,
    cluster_matcher: GlobMatcher,
    pub cluster_exclude: Patterns,
    pub redeploy_all_hubs: Patterns,
    pub redeploy_all_support: Patterns,
    pub staging_hub_pattern: String,
    staging_matcher: GlobMatcher,
    pub labels: Labels,
    pub impact: Impact,
    /// What the rendered-manifest diff leaves out (`render.ignore`); empty by default.
    pub render_ignore: RenderIgnore,
    /// Which changes plan health checks (`health_checks`); none by default.
    pub health_checks: HealthCheckRules,
    /// Where each cluster name of `health_checks.clusters` is written (file, line, column, field),
    /// so that a name no cluster has is reported there once the clusters are known.
    pub health_check_cluster_keys: Vec<(String, Diagnostic)>,
    /// What runs on a cluster before a chart's releases (`charts.<chart>.before`); nothing by default.
    pub before: BeforeSteps,
    /// The ext-strs of `.jsonnet` renders (`jsonnet.ext_vars`); none by default.
    pub jsonnet_ext_vars: crate::config::jsonnet::ExtVarTemplates,
    /// Per chart, the values files every release of it gets first (`charts.<chart>.values_files`),
    /// repository-relative and normalised; none by default.
    pub chart_values_files: BTreeMap<String, Vec<String>>,
    /// Where each entry of `chart_values_files` is written, by chart and index, so that a file that
    /// does not exist is reported there once the checkout is read.
    pub chart_values_file_keys: Vec<((String, usize), Diagnostic)>,
    /// Progressive rollouts (`rollout`): the rolled charts and the waves; none by default.
    pub rollout: Option<Rollout>,
}

impl Default for Settings {
    fn default() -> Self {
        // The defaults are fixed, valid patterns; `from_raw` cannot fail on them.
        match Settings::from_raw(RawSettings::default()) {
            Ok(settings) => settings,
            Err(problem) => unreachable!("default settings are valid: {problem:?}"),
        }
    }
}

impl Settings {
    /// Parses and validates the text of a settings file.
    pub fn parse(file: &str, text: &str) -> Result<Settings, Vec<Diagnostic>> {
        let mut raw: RawSettings = yaml::parse(file, text)?;
        let raw_rollout = raw.rollout.take();
        let cluster_keys: Vec<String> = raw
            .health_checks
            .as_ref()
            .and_then(|rules| rules.clusters.as_ref())
            .map(|clusters| clusters.keys().cloned().collect())
            .unwrap_or_default();
        let settings = Settings::from_raw(raw).map_err(|(path, message)| {
            let segments: Vec<Segment<'_>> = path.iter().map(|s| s.as_segment()).collect();
            let top_key = match path.first() {
                Some(OwnedSegment::Key(key)) => Some(key.as_str()),
                _ => None,
            };
            let hint = if path_pattern::is_never_message(&message) {
                path_pattern::NORMALISED_HINT
            } else if is_leading_exclude(&message) {
                EXCLUDE_HINT
            } else if top_key == Some("health_checks") {
                health_checks::RULES_HINT
            } else if top_key == Some("charts")
                && segments.iter().any(|segment| matches!(segment, Segment::Key(key) if *key == "values_files"))
            {
                "`charts.<chart>.values_files` lists repository-relative values files (such as \
                 `helm-charts/support/enc-support.secret.values.yaml`) given to every release of the chart"
            } else if top_key == Some("charts") {
                before::HINT
            } else if top_key == Some("jsonnet") {
                "`jsonnet.ext_vars` maps an ext-var name to a template such as `{provider_cluster_name}`; the \
                 placeholders are `{cluster}`, `{provider}`, `{account}`, `{hub}`, `{domain}`, \
                 `{provider_cluster_name}`, and `{{`/`}}` are literal braces"
            } else if top_key == Some("render") {
                "`render.ignore` maps a Kubernetes kind (or `*`) to JSON pointers such as `/spec/replicas`"
            } else if message.starts_with(TOO_LONG) || message.starts_with(TOO_MANY) {
                "patterns are compiled into one matcher, so their number and length are capped; \
                 use `**` to cover many folders with one pattern"
            } else {
                "patterns are globs: `*` matches within one folder, `**` across folders"
            };
            vec![Diagnostic::new(file, message).at(locate(text, &segments)).field(display_path(&segments)).hint(hint)]
        });
        let settings = settings.map(|mut settings| {
            settings.health_check_cluster_keys = cluster_keys
                .into_iter()
                .map(|name| {
                    let segments = [Segment::Key("health_checks"), Segment::Key("clusters"), Segment::Key(&name)];
                    let at =
                        Diagnostic::new(file, String::new()).at(locate(text, &segments)).field(display_path(&segments));
                    (name, at)
                })
                .collect();
            settings.chart_values_file_keys = settings
                .chart_values_files
                .iter()
                .flat_map(|(chart, files)| (0..files.len()).map(move |index| (chart.clone(), index)))
                .map(|(chart, index)| {
                    let segments = [
                        Segment::Key("charts"),
                        Segment::Key(&chart),
                        Segment::Key("values_files"),
                        Segment::Index(index),
                    ];
                    let at =
                        Diagnostic::new(file, String::new()).at(locate(text, &segments)).field(display_path(&segments));
                    ((chart, index), at)
                })
                .collect();
            settings
        });
        let mut settings = settings?;
        if let Some(raw_rollout) = raw_rollout {
            settings.rollout = Some(Rollout::from_raw(raw_rollout, file, text)?);
        }
        Ok(settings)
    }

    fn from_raw(raw: RawSettings) -> Result<Settings, (Vec<OwnedSegment>, String)> {
        let discovery = raw.clusters.unwrap_or_default();
        let cluster_glob = discovery.glob.unwrap_or_else(|| DEFAULT_CLUSTER_GLOB.to_owned());
        if let Some(problem) = too_long(&cluster_glob) {
            return Err((path(&["clusters", "glob"], None), problem));
        }
        let cluster_matcher = compile_glob(&cluster_glob)
            .map_err(|e| (path(&["clusters", "glob"], None), format!("invalid glob `{cluster_glob}`: {e}")))?;
        if let Some(problem) = never_matches(&cluster_glob, true) {
            return Err((path(&["clusters", "glob"], None), problem));
        }
        let cluster_matcher = cluster_matcher.compile_matcher();
        let cluster_exclude = patterns(discovery.exclude, DEFAULT_CLUSTER_EXCLUDE, &["clusters", "exclude"], true)?;
        let redeploy_all_hubs =
            patterns(raw.redeploy_all_hubs, DEFAULT_REDEPLOY_ALL_HUBS, &["redeploy_all_hubs"], false)?;
        let redeploy_all_support =
            patterns(raw.redeploy_all_support, DEFAULT_REDEPLOY_ALL_SUPPORT, &["redeploy_all_support"], false)?;
        let staging_hub_pattern = raw.staging_hub_pattern.unwrap_or_else(|| DEFAULT_STAGING_HUB_PATTERN.to_owned());
        if let Some(problem) = too_long(&staging_hub_pattern) {
            return Err((path(&["staging_hub_pattern"], None), problem));
        }
        let staging_matcher = compile_glob(&staging_hub_pattern)
            .map_err(|e| (path(&["staging_hub_pattern"], None), format!("invalid glob `{staging_hub_pattern}`: {e}")))?
            .compile_matcher();
        let render_ignore = RenderIgnore::from_raw(raw.render.and_then(|render| render.ignore))
            .map_err(|problem| (ignore_path(&problem), problem.message))?;
        let health_checks =
            health_checks::from_raw(raw.health_checks, MAX_PATTERNS, MAX_PATTERN_LEN).map_err(|problem| {
                let mut at = path(&["health_checks"], None);
                at.push(OwnedSegment::Key(problem.list.to_owned()));
                at.extend(problem.key.map(OwnedSegment::Key));
                at.extend(problem.index.map(OwnedSegment::Index));
                (at, problem.message)
            })?;
        let mut charts = raw.charts;
        let chart_values_files = chart_values_files(charts.as_mut())?;
        let before = before::from_raw(charts).map_err(|problem| {
            let mut at = path(&["charts"], None);
            at.extend(problem.at.into_iter().map(|segment| match segment {
                before::At::Key(key) => OwnedSegment::Key(key),
                before::At::Index(index) => OwnedSegment::Index(index),
            }));
            (at, problem.message)
        })?;
        let ext_vars = raw.jsonnet.and_then(|jsonnet| jsonnet.ext_vars).unwrap_or_default();
        let jsonnet_ext_vars = crate::config::jsonnet::ExtVarTemplates::parse(
            ext_vars.iter().map(|(name, template)| (name.as_str(), template.as_str())),
        )
        .map_err(|problem| {
            let mut at = path(&["jsonnet", "ext_vars"], None);
            at.push(OwnedSegment::Key(problem.name));
            (at, problem.message)
        })?;
        let labels = Labels::with_names(raw.labels.unwrap_or_default().names);
        Ok(Settings {
            cluster_glob,
            cluster_matcher,
            cluster_exclude,
            redeploy_all_hubs,
            redeploy_all_support,
            staging_hub_pattern,
            staging_matcher,
            labels,
            impact: raw.impact.unwrap_or_default(),
            render_ignore,
            health_checks,
            health_check_cluster_keys: Vec::new(),
            before,
            jsonnet_ext_vars,
            chart_values_files,
            chart_values_file_keys: Vec::new(),
            rollout: None,
        })
    }

    /// The values files every release of `chart` gets first (`charts.<chart>.values_files`).
    pub fn chart_values(&self, chart: &str) -> &[String] {
        self.chart_values_files.get(chart).map_or(&[], Vec::as_slice)
    }

    /// True when the repository-relative `path` is a cluster file to read.
    pub fn is_cluster_file(&self, path: &str) -> bool {
        self.cluster_matcher.is_match(path) && !self.cluster_exclude.is_match(path)
    }

    /// The folder to search for cluster files: the glob's leading folders without wildcards.
    pub fn cluster_search_root(&self) -> &str {
        let glob = self.cluster_glob.as_str();
        let mut end = 0;
        for (index, segment) in glob.split('/').enumerate() {
            if segment.contains(['*', '?', '[', '{', '\\']) {
                break;
            }
            let start = if index == 0 { 0 } else { end + 1 };
            let candidate_end = start + segment.len();
            if candidate_end == glob.len() {
                break; // the last segment is the file name itself
            }
            end = candidate_end;
        }
        &glob[..end]
    }

    /// True when `path` is left to the chart-input rule alone, so the "all hubs" and "all support"
    /// patterns are not matched against it: under `impact: chart-dependencies`, a path in the charts folder.
    pub fn leaves_path_to_chart_inputs(&self, path: &str) -> bool {
        self.impact == Impact::ChartDependencies
            && path.strip_prefix(super::CHARTS_DIR).is_some_and(|rest| rest.starts_with('/'))
    }

    /// True when a hub of this name is a staging hub.
    pub fn is_staging_hub(&self, name: &str) -> bool {
        self.staging_matcher.is_match(name)
    }
}

/// An owned field path, for errors built before the source text is at hand.
#[derive(Debug, Clone)]
enum OwnedSegment {
    Key(String),
    Index(usize),
}

impl OwnedSegment {
    fn as_segment(&self) -> Segment<'_> {
        match self {
            OwnedSegment::Key(key) => Segment::Key(key),
            OwnedSegment::Index(index) => Segment::Index(*index),
        }
    }
}

fn path(keys: &[&'static str], index: Option<usize>) -> Vec<OwnedSegment> {
    let mut path: Vec<OwnedSegment> = keys.iter().map(|k| OwnedSegment::Key((*k).to_owned())).collect();
    if let Some(index) = index {
        path.push(OwnedSegment::Index(index));
    }
    path
}

/// Where an [`IgnoreProblem`] is: `render.ignore`, or a kind's list or one path of it.
fn ignore_path(problem: &IgnoreProblem) -> Vec<OwnedSegment> {
    let mut path = path(&["render", "ignore"], None);
    if let Some(kind) = &problem.kind {
        path.push(OwnedSegment::Key(kind.clone()));
        path.extend(problem.index.map(OwnedSegment::Index));
    }
    path
}

/// How `!` excludes work, for the hint of a misplaced one.
pub const EXCLUDE_HINT: &str = "patterns are read in order as GitHub reads a workflow's `paths:`: the last \
     pattern a path matches decides, so a `!` pattern goes after the pattern it narrows (`deployer/**`, \
     then `!deployer/README.md`)";

/// A list of path patterns, each checked in order: not too long, a glob, able to match.
fn patterns(
    given: Option<Vec<String>>,
    defaults: &[&str],
    keys: &[&'static str],
    cluster_files: bool,
) -> Result<Patterns, (Vec<OwnedSegment>, String)> {
    let list: Vec<String> = given.unwrap_or_else(|| defaults.iter().map(|s| (*s).to_owned()).collect());
    if list.len() > MAX_PATTERNS {
        return Err((
            path(keys, None),
            format!("{TOO_MANY} {} patterns; at most {MAX_PATTERNS} are accepted", list.len()),
        ));
    }
    for (index, pattern) in list.iter().enumerate() {
        let (negative, glob) = split_negation(pattern);
        let problem = too_long(pattern)
            .or_else(|| compile_glob(glob).err().map(|error| format!("invalid glob `{pattern}`: {error}")))
            .or_else(|| never_matches(glob, cluster_files))
            .or_else(|| (negative && index == 0).then(|| leading_exclude(pattern)));
        if let Some(problem) = problem {
            return Err((path(keys, Some(index)), problem));
        }
    }
    Patterns::new(&list).map_err(|(index, error)| {
        let pattern = list.get(index).map(String::as_str).unwrap_or_default();
        (path(keys, Some(index)), format!("invalid glob `{pattern}`: {error}"))
    })
}

/// At most this many chart-level values files per chart.
const MAX_CHART_VALUES_FILES: usize = 32;

/// Takes `values_files` out of each `charts.<chart>` entry (the rest is `before`'s), each path
/// checked to stay inside the repository and normalised.
fn chart_values_files(
    charts: Option<&mut BTreeMap<String, super::raw::RawChartSettings>>,
) -> Result<BTreeMap<String, Vec<String>>, (Vec<OwnedSegment>, String)> {
    let mut found = BTreeMap::new();
    for (chart, settings) in charts.into_iter().flatten() {
        let Some(list) = settings.values_files.take() else { continue };
        let at = |index: Option<usize>| {
            let mut at = path(&["charts"], None);
            at.push(OwnedSegment::Key(chart.clone()));
            at.push(OwnedSegment::Key("values_files".to_owned()));
            at.extend(index.map(OwnedSegment::Index));
            at
        };
        if list.len() > MAX_CHART_VALUES_FILES {
            return Err((
                at(None),
                format!("the list has {} files; at most {MAX_CHART_VALUES_FILES} are accepted", list.len()),
            ));
        }
        let mut files: Vec<String> = Vec::with_capacity(list.len());
        for (index, entry) in list.iter().enumerate() {
            let joined = crate::base::repo_fs::join_inside("", entry).map_err(|problem| {
                (
                    at(Some(index)),
                    format!(
                        "the file {problem}; a chart's values file is repository-relative and inside the repository"
                    ),
                )
            })?;
            if files.contains(&joined) {
                return Err((at(Some(index)), "the file is listed twice".to_owned()));
            }
            if joined == crate::config::jsonnet::chart_values_file(&super::charts::chart_folder(chart)) {
                return Err((
                    at(Some(index)),
                    "the chart's own `values.jsonnet` is always given, after these files; remove it from the list"
                        .to_owned(),
                ));
            }
            files.push(joined);
        }
        found.insert(chart.clone(), files);
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::globs::Decision;
    use crate::config::labels::{Label, LABELS};

    #[test]
    fn default_patterns_follow_the_rules() {
        let settings = Settings::default();
        let all_hubs = [
            ("deployer/commands/deployer.py", true),
            ("deployer/x", true),
            ("requirements.txt", true),
            ("docs/requirements.txt", false),
            (".github/actions/setup-deploy/action.yaml", true),
            ("helm-charts/basehub/values.yaml", true),
            ("helm-charts/daskhub/templates/a/b.yaml", true),
            ("helm-charts/support/values.yaml", false),
            ("helm-charts/images/hub/Dockerfile", false),
            ("deployer", false),
            ("mydeployer/x", false),
        ];
        for (path, expected) in all_hubs {
            assert_eq!(settings.redeploy_all_hubs.is_match(path), expected, "{path}");
        }
        assert!(settings.redeploy_all_support.is_match("helm-charts/support/templates/deep/x.yaml"));
        assert!(!settings.redeploy_all_support.is_match("helm-charts/supportx/a"));
    }

    #[test]
    fn excludes_are_read_in_order() {
        let settings = Settings::default();
        for (path, expected) in [
            ("deployer/src/deployer/commands/deployer.py", true),
            ("deployer/pyproject.toml", true),
            ("deployer/README.md", false),
            ("deployer/docs/README.md", true),
            ("deployer/tests/test-clusters/cluster1/cluster.yaml", false),
            ("deployer/src/deployer/health_check_tests/test_hub_health.py", false),
            ("deployer/src/deployer/dev/commands/cilogon.py", false),
            ("deployer/src/deployer/dev/app.py", true),
            ("deployer/dev_commands/x.py", false),
        ] {
            assert_eq!(settings.redeploy_all_hubs.is_match(path), expected, "{path}");
        }
        let text = "redeploy_all_hubs: ['a/**', '!a/b/**', 'a/b/keep/**', '!**/*.md']\n";
        let patterns = Settings::parse("deployer.yaml", text).unwrap().redeploy_all_hubs;
        let cases = [
            ("a/x", Decision::Included(vec!["a/**"])),
            ("a/b/x", Decision::Excluded { included_by: "a/**", excluded_by: "!a/b/**" }),
            ("a/b/keep/x", Decision::Included(vec!["a/b/keep/**"])),
            ("a/b/keep/x.md", Decision::Excluded { included_by: "a/b/keep/**", excluded_by: "!**/*.md" }),
            ("c/x.md", Decision::NoMatch),
            ("c/x", Decision::NoMatch),
        ];
        for (path, expected) in cases {
            assert_eq!(patterns.is_match(path), matches!(expected, Decision::Included(_)), "{path}");
            assert_eq!(patterns.decide(path), expected, "{path}");
        }
        let exclude = Settings::parse(
            "deployer.yaml",
            "clusters:\n  exclude: ['config/clusters/t*/**', '!config/clusters/two/**']\n",
        )
        .unwrap();
        assert!(!exclude.is_cluster_file("config/clusters/templates/cluster.yaml"));
        assert!(exclude.is_cluster_file("config/clusters/two/cluster.yaml"));
    }

    #[test]
    fn misplaced_and_impossible_excludes_are_refused() {
        let cases = [
            ("redeploy_all_hubs: ['!deployer/README.md', 'deployer/**']\n", "deployer.yaml:1:21: redeploy_all_hubs[0]: `!deployer/README.md` excludes only what the patterns before it match, and no pattern before it includes anything, so it excludes nothing"),
            ("redeploy_all_hubs: ['deployer/**', '!./deployer/README.md']\n", "deployer.yaml:1:36: redeploy_all_hubs[1]: the pattern has a `.` segment (such as `./`); changed paths are normalised and relative to the repository root, so it can never match"),
            ("redeploy_all_support: ['a/**', '!']\n", "deployer.yaml:1:32: redeploy_all_support[1]: the pattern is empty; changed paths are normalised and relative to the repository root, so it can never match"),
            ("redeploy_all_support: ['a/**', '!a/[x']\n", "deployer.yaml:1:32: redeploy_all_support[1]: invalid glob `!a/[x`: unclosed character class; missing ']'"),
        ];
        for (text, expected) in cases {
            let problems = Settings::parse("deployer.yaml", text).unwrap_err();
            assert_eq!(problems[0].to_string().lines().next().unwrap(), expected, "{text}");
        }
        let problems = Settings::parse("deployer.yaml", cases[0].0).unwrap_err();
        assert_eq!(problems[0].hint.as_deref(), Some(EXCLUDE_HINT));
    }

    #[test]
    fn cluster_files() {
        let settings = Settings::default();
        let cases = [
            ("config/clusters/c1/cluster.yaml", true),
            ("config/clusters/region/c1/cluster.yaml", true),
            ("config/clusters/templates/gcp/cluster.yaml", false),
            ("config/clusters/c1/cluster.yml", false),
            ("other/c1/cluster.yaml", false),
        ];
        for (path, expected) in cases {
            assert_eq!(settings.is_cluster_file(path), expected, "{path}");
        }
        assert_eq!(settings.cluster_search_root(), "config/clusters");
    }

    #[test]
    fn search_roots() {
        let cases = [
            ("config/clusters/**/cluster.yaml", "config/clusters"),
            ("clusters/*.yaml", "clusters"),
            ("cluster.yaml", ""),
            ("**/cluster.yaml", ""),
            ("a/b/c/cluster.yaml", "a/b/c"),
        ];
        for (glob, root) in cases {
            let text = format!("clusters:\n  glob: '{glob}'\n");
            let settings = Settings::parse("deployer.yaml", &text).unwrap();
            assert_eq!(settings.cluster_search_root(), root, "{glob}");
        }
    }

    #[test]
    fn staging_pattern() {
        let settings = Settings::default();
        for (name, expected) in
            [("staging", true), ("dask-staging", true), ("staging2", true), ("prod", false), ("stage", false)]
        {
            assert_eq!(settings.is_staging_hub(name), expected, "{name}");
        }
        let custom = Settings::parse("deployer.yaml", "staging_hub_pattern: 'canary-*'\n").unwrap();
        assert!(custom.is_staging_hub("canary-1"));
        assert!(!custom.is_staging_hub("staging"));
    }

    #[test]
    fn overrides_replace_defaults() {
        let text = "redeploy_all_hubs: ['charts/hub/**']\nlabels:\n  deploy_hubs: 'ci:all-hubs'\n";
        let settings = Settings::parse("deployer.yaml", text).unwrap();
        assert!(settings.redeploy_all_hubs.is_match("charts/hub/x"));
        assert!(!settings.redeploy_all_hubs.is_match("helm-charts/basehub/x"));
        assert_eq!(settings.labels.name(Label::DeployHubs), "ci:all-hubs");
        assert_eq!(settings.labels.name(Label::SkipDeploy), "deployer:skip-deploy");
    }

    /// Every row of [`LABELS`] is a key of the `labels` block that renames its label, and
    /// defaults to its name; nothing else is a key.
    #[test]
    fn labels_come_from_the_table() {
        let defaults = Labels::default();
        assert_eq!(defaults.all().count(), LABELS.len());
        let mut text = String::from("labels:\n");
        for rule in LABELS {
            assert_eq!(rule.label.rule(), rule);
            assert_eq!(defaults.name(rule.label), rule.default_name, "{}", rule.key);
            text.push_str(&format!("  {}: 'ci:{}'\n", rule.key, rule.key));
        }
        let renamed = Settings::parse("deployer.yaml", &text).unwrap().labels;
        for (rule, name) in renamed.all() {
            assert_eq!(name, format!("ci:{}", rule.key));
            assert_eq!(renamed.name(rule.label), name);
        }
        let keys = LABELS.iter().map(|rule| format!("`{}`", rule.key)).collect::<Vec<_>>().join(", ");
        let problems = Settings::parse("deployer.yaml", "labels:\n  nope: x\n").unwrap_err();
        assert_eq!(
            problems[0].to_string().lines().next().unwrap(),
            format!("deployer.yaml:2:3: labels: unknown field `nope`, expected one of {keys}")
        );
        let twice = Settings::parse("deployer.yaml", "labels:\n  deploy_hubs: a\n  deploy_hubs: b\n").unwrap_err();
        assert!(twice[0].to_string().contains("deploy_hubs"), "{}", twice[0]);
        let null = Settings::parse("deployer.yaml", "labels:\n  deploy_hubs: null\n").unwrap().labels;
        assert_eq!(null, Labels::default());
    }

    /// The README's `deployer.yaml` defaults list every label of [`LABELS`] with its default name, and no other.
    #[test]
    fn the_book_lists_the_label_table() {
        let page = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/src/configuration.md")).unwrap();
        let block = page
            .split("All optional; these are the defaults:\n\n```yaml\n")
            .nth(1)
            .and_then(|rest| rest.split("\n```").next())
            .expect("the configuration page's deployer.yaml defaults block");
        let defaults: yaml_serde::Value = yaml_serde::from_str(block).unwrap();
        let listed: Vec<(String, String)> = defaults["labels"]
            .as_mapping()
            .expect("a labels mapping")
            .iter()
            .map(|(key, name)| (key.as_str().unwrap().to_owned(), name.as_str().unwrap().to_owned()))
            .collect();
        let table: Vec<(String, String)> =
            LABELS.iter().map(|rule| (rule.key.to_owned(), rule.default_name.to_owned())).collect();
        assert_eq!(listed, table, "docs/src/configuration.md `labels:` defaults against config::labels::LABELS");
    }

    #[test]
    fn impact_modes() {
        let cases = [
            ("", Impact::Paths),
            ("impact: paths\n", Impact::Paths),
            ("impact: chart-dependencies\n", Impact::ChartDependencies),
        ];
        for (text, expected) in cases {
            let text = format!("staging_hub_pattern: '*staging*'\n{text}");
            assert_eq!(Settings::parse("deployer.yaml", &text).unwrap().impact, expected, "{text:?}");
        }
        let paths = Settings::default();
        let charts = Settings::parse("deployer.yaml", "impact: chart-dependencies\n").unwrap();
        for (path, left) in [
            ("helm-charts/daskhub/values.yaml", true),
            ("helm-charts/support/templates/x.yaml", true),
            ("helm-charts", false),
            ("helm-chartsx/a", false),
            ("deployer/x", false),
            ("docs/helm-charts/x", false),
        ] {
            assert_eq!(charts.leaves_path_to_chart_inputs(path), left, "{path}");
            assert!(!paths.leaves_path_to_chart_inputs(path), "{path}");
        }
        let problems = Settings::parse("deployer.yaml", "impact: charts\n").unwrap_err();
        assert_eq!(
            problems[0].to_string().lines().next().unwrap(),
            "deployer.yaml:1:9: impact: unknown variant, expected `paths` or `chart-dependencies`"
        );
    }

    #[test]
    fn render_ignore_is_typed_and_empty_by_default() {
        assert!(Settings::default().render_ignore.is_empty());
        let text = "render:\n  ignore:\n    Deployment: [/spec/replicas, '/spec/template/spec/containers/*/image']\n    '*': [/metadata/annotations/foo~1bar]\n";
        let ignore = Settings::parse("deployer.yaml", text).unwrap().render_ignore;
        let kinds: Vec<(&str, usize)> =
            ignore.rules.iter().map(|rule| (rule.kind.as_str(), rule.paths.len())).collect();
        assert_eq!(kinds, [("*", 1), ("Deployment", 2)]);
        assert_eq!(ignore.pointers_for("Deployment").count(), 3);
        assert!(Settings::parse("deployer.yaml", "render: {}\n").unwrap().render_ignore.is_empty());
    }

    #[test]
    fn bad_settings_point_at_the_line() {
        let cases: Vec<(String, &str)> = vec![
            ("redeploy_all_hubs:\n  - ok/**\n  - 'bad/[x'\n".into(), "deployer.yaml:3:5: redeploy_all_hubs[1]: invalid glob `bad/[x`: unclosed character class; missing ']'"),
            ("labels:\n  deploy_hub: x\n".into(), "deployer.yaml:2:3: labels: unknown field `deploy_hub`, expected one of `skip_deploy`, `skip_deploy_hubs`, `deploy_hubs`, `deploy_support`, `rollout_all`"),
            ("staging_hub_pattern: '[a'\n".into(), "deployer.yaml:1:22: staging_hub_pattern: invalid glob `[a`: unclosed character class; missing ']'"),
            ("clusters:\n  glob: /outside/*\n".into(), "deployer.yaml:2:9: clusters.glob: the pattern is an absolute path; cluster files are found inside the repository only"),
            ("clusters:\n  glob: '../../x/*'\n".into(), "deployer.yaml:2:9: clusters.glob: the pattern has a `..` segment; cluster files are found inside the repository only"),
            ("clusters:\n  glob: 'a/../b/*.yaml'\n".into(), "deployer.yaml:2:9: clusters.glob: the pattern has a `..` segment; cluster files are found inside the repository only"),
            ("clusters:\n  exclude:\n    - ok/**\n    - /etc/**\n".into(), "deployer.yaml:4:7: clusters.exclude[1]: the pattern is an absolute path; cluster files are found inside the repository only"),
            (format!("staging_hub_pattern: '{}'\n", "a".repeat(300)), "deployer.yaml:1:22: staging_hub_pattern: the pattern is longer than 256 characters"),
            (format!("redeploy_all_hubs:\n{}", "  - a/**\n".repeat(101)), "deployer.yaml:2:5: redeploy_all_hubs: the list has 101 patterns; at most 100 are accepted"),
            (format!("redeploy_all_support:\n  - a\n  - '{}'\n", "b".repeat(257)), "deployer.yaml:3:5: redeploy_all_support[1]: the pattern is longer than 256 characters"),
            ("redeploy_all_hubs:\n  - ok/**\n  - ./deployer/**\n".into(), "deployer.yaml:3:5: redeploy_all_hubs[1]: the pattern has a `.` segment (such as `./`); changed paths are normalised and relative to the repository root, so it can never match"),
            ("redeploy_all_support: ['helm-charts//support/**']\n".into(), "deployer.yaml:1:24: redeploy_all_support[0]: the pattern has an empty segment (`//`); changed paths are normalised and relative to the repository root, so it can never match"),
            ("redeploy_all_support: ['/helm-charts/support/**']\n".into(), "deployer.yaml:1:24: redeploy_all_support[0]: the pattern is an absolute path; changed paths are normalised and relative to the repository root, so it can never match"),
            ("redeploy_all_hubs: ['charts/../x']\n".into(), "deployer.yaml:1:21: redeploy_all_hubs[0]: the pattern has a `..` segment; changed paths are normalised and relative to the repository root, so it can never match"),
            ("redeploy_all_hubs: ['charts/']\n".into(), "deployer.yaml:1:21: redeploy_all_hubs[0]: the pattern ends with `/`; changed paths are normalised and relative to the repository root, so it can never match"),
            ("redeploy_all_hubs: ['{deployer,./lib}/**']\n".into(), "deployer.yaml:1:21: redeploy_all_hubs[0]: with the alternative `./lib` of `{deployer,./lib}`, the pattern has a `.` segment (such as `./`); changed paths are normalised and relative to the repository root, so it can never match"),
            ("clusters:\n  glob: './config/*/cluster.yaml'\n".into(), "deployer.yaml:2:9: clusters.glob: the pattern has a `.` segment (such as `./`); cluster files are found by their normalised paths, so it can never match"),
            ("clusters:\n  exclude: ['config//templates/**']\n".into(), "deployer.yaml:2:13: clusters.exclude[0]: the pattern has an empty segment (`//`); cluster files are found by their normalised paths, so it can never match"),
            ("health_checks:\n  cluster_paths:\n    - 'terraform/{a,/b}/{cluster}.tf'\n".into(), "deployer.yaml:3:7: health_checks.cluster_paths[0]: with the alternative `/b` of `{a,/b}`, the pattern has an empty segment (`//`); changed paths are normalised and relative to the repository root, so it can never match"),
            ("health_checks:\n  provider_paths: ['./terraform/{provider}/**']\n".into(), "deployer.yaml:2:20: health_checks.provider_paths[0]: the pattern has a `.` segment (such as `./`); changed paths are normalised and relative to the repository root, so it can never match"),
            ("hubs: \"SECRET-abc123\"\n".into(), "deployer.yaml:1:1: unknown field `hubs`, expected one of `clusters`, `redeploy_all_hubs`, `redeploy_all_support`, `staging_hub_pattern`, `labels`, `impact`, `render`, `health_checks`, `charts`, `jsonnet`, `rollout`"),
            ("health_checks:\n  cluster_paths:\n    - 'terraform/{provider}/projects/{clustr}.tfvars'\n".into(), "deployer.yaml:3:7: health_checks.cluster_paths[0]: unknown placeholder `{clustr}`; did you mean `{cluster}`?"),
            ("health_checks:\n  provider_paths: ['terraform/modules/**']\n".into(), "deployer.yaml:2:20: health_checks.provider_paths[0]: the pattern has no `{provider}`, so it names no provider"),
            ("health_checks:\n  cluster_path: []\n".into(), "deployer.yaml:2:3: health_checks: unknown field `cluster_path`, expected one of `cluster_paths`, `provider_paths`, `providers`, `clusters`"),
            ("labels: \"SECRET-abc123\"\n".into(), "deployer.yaml:1:9: labels: invalid type: string, expected struct RawLabels"),
            ("render:\n  ignore:\n    Deployment:\n      - /spec/replicas\n      - spec/x\n".into(), "deployer.yaml:5:9: render.ignore.Deployment[1]: the path does not start with `/` (a JSON pointer such as `/spec/replicas`)"),
            ("render:\n  ignore:\n    '*': ['/a~2b']\n".into(), "deployer.yaml:3:11: render.ignore.*[0]: the path has a `~` not followed by `0` or `1` (write `~0` for `~` and `~1` for `/`)"),
            ("render:\n  ignore:\n    '': [/a]\n".into(), "deployer.yaml:3:5: render.ignore: a kind is empty; write a kind such as `Deployment`, or `*`"),
            ("render:\n  ignore:\n    'SECRET x': [/a]\n".into(), "deployer.yaml:3:5: render.ignore: a kind is not a Kubernetes kind name (a letter, then letters and digits, at most 63), nor `*`"),
            (format!("render:\n  ignore:\n    Service: [{}]\n", "/a, ".repeat(101)), "deployer.yaml:3:5: render.ignore: 101 paths are listed; at most 100 are accepted"),
            ("render:\n  ignores: {}\n".into(), "deployer.yaml:2:3: render: unknown field `ignores`, expected `ignore`"),
            ("render:\n  ignore:\n    Deployment: /spec/replicas\n".into(), "deployer.yaml:3:17: render.ignore.Deployment: invalid type: string, expected a sequence"),
        ];
        for (text, expected) in cases {
            let problems = Settings::parse("deployer.yaml", &text).unwrap_err();
            assert_eq!(problems[0].to_string().lines().next().unwrap(), expected);
        }
    }

    #[test]
    fn impossible_patterns_get_the_normalised_path_hint() {
        for text in [
            "redeploy_all_hubs: ['./x']\n",
            "clusters:\n  glob: /x/*\n",
            "health_checks:\n  cluster_paths: ['/{cluster}']\n",
        ] {
            let problems = Settings::parse("deployer.yaml", text).unwrap_err();
            assert_eq!(problems[0].hint.as_deref(), Some(path_pattern::NORMALISED_HINT), "{text}");
        }
    }
}
