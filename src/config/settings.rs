//! `deployer.yaml`: the patterns and label names the planner uses, with their defaults.

use globset::{Glob, GlobBuilder, GlobMatcher, GlobSet, GlobSetBuilder};

use super::health_checks::{self, HealthCheckRules};
use super::ignore::{IgnoreProblem, RenderIgnore};
use super::locate::{display_path, locate, Segment};
use super::raw::{Impact, RawSettings};
use super::yaml;
use crate::diagnostic::Diagnostic;

/// The default settings file, at the repository root.
pub const DEFAULT_SETTINGS_FILE: &str = "deployer.yaml";

/// Default glob of cluster files.
pub const DEFAULT_CLUSTER_GLOB: &str = "config/clusters/**/cluster.yaml";
/// Default cluster-file excludes.
pub const DEFAULT_CLUSTER_EXCLUDE: &[&str] = &["config/clusters/templates/**"];
/// Default "redeploy every hub" patterns.
pub const DEFAULT_REDEPLOY_ALL_HUBS: &[&str] = &[
    "deployer/**",
    "requirements.txt",
    ".github/actions/setup-deploy/**",
    "helm-charts/basehub/**",
    "helm-charts/daskhub/**",
];
/// Default "redeploy every support chart" patterns.
pub const DEFAULT_REDEPLOY_ALL_SUPPORT: &[&str] = &["helm-charts/support/**"];
/// Default staging-hub pattern: any name containing `staging`.
pub const DEFAULT_STAGING_HUB_PATTERN: &str = "*staging*";

/// The label names the planner reacts to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Labels {
    pub skip_deploy: String,
    pub skip_deploy_hubs: String,
    pub deploy_hubs: String,
    pub deploy_support: String,
}

impl Default for Labels {
    fn default() -> Self {
        Labels {
            skip_deploy: "deployer:skip-deploy".into(),
            skip_deploy_hubs: "deployer:skip-deploy-hubs".into(),
            deploy_hubs: "deployer:deploy-hubs".into(),
            deploy_support: "deployer:deploy-support".into(),
        }
    }
}

/// A list of globs compiled into one matcher, keeping the source patterns for explanations.
#[derive(Debug, Clone)]
pub struct Patterns {
    patterns: Vec<String>,
    set: GlobSet,
}

impl Patterns {
    /// Compiles `patterns`; on failure returns the index of the bad pattern and the reason.
    pub fn new<S: AsRef<str>>(patterns: &[S]) -> Result<Self, (usize, String)> {
        let mut builder = GlobSetBuilder::new();
        for (index, pattern) in patterns.iter().enumerate() {
            builder.add(compile(pattern.as_ref()).map_err(|e| (index, e))?);
        }
        let set = builder.build().map_err(|e| (0, e.to_string()))?;
        Ok(Patterns { patterns: patterns.iter().map(|p| p.as_ref().to_owned()).collect(), set })
    }

    /// True when `path` matches any pattern.
    pub fn is_match(&self, path: &str) -> bool {
        self.set.is_match(path)
    }

    /// The patterns `path` matches, in the order they were given.
    pub fn matching(&self, path: &str) -> Vec<&str> {
        self.set.matches(path).into_iter().map(|i| self.patterns[i].as_str()).collect()
    }

    /// The source patterns.
    pub fn patterns(&self) -> &[String] {
        &self.patterns
    }
}

/// Why a cluster-file pattern would reach outside the repository, if it would:
/// cluster files are searched for inside the checkout only.
fn leaves_repository(pattern: &str) -> Option<String> {
    if pattern.trim_start().starts_with('/') {
        Some(ABSOLUTE_PATTERN.to_owned())
    } else if pattern.split('/').any(|segment| segment == "..") {
        Some(CLIMBING_PATTERN.to_owned())
    } else {
        None
    }
}

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

const ABSOLUTE_PATTERN: &str = "the pattern is an absolute path; cluster files are found inside the repository only";
const CLIMBING_PATTERN: &str = "the pattern has a `..` segment; cluster files are found inside the repository only";

/// Glob semantics of every pattern: `*` stays within one path segment, `**` crosses them.
pub(crate) fn compile_glob(pattern: &str) -> Result<Glob, String> {
    compile(pattern)
}

fn compile(pattern: &str) -> Result<Glob, String> {
    GlobBuilder::new(pattern).literal_separator(true).backslash_escape(true).build().map_err(|e| e.kind().to_string())
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
    /// The ext-strs of `.jsonnet` renders (`jsonnet.ext_vars`); none by default.
    pub jsonnet_ext_vars: crate::jsonnet::ExtVarTemplates,
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
        let raw: RawSettings = yaml::parse(file, text)?;
        Settings::from_raw(raw).map_err(|(path, message)| {
            let segments: Vec<Segment<'_>> = path.iter().map(|s| s.as_segment()).collect();
            let hint = if path
                .first()
                .is_some_and(|segment| matches!(segment, OwnedSegment::Key(key) if key == "health_checks"))
            {
                health_checks::RULES_HINT
            } else if path.first().is_some_and(|segment| matches!(segment, OwnedSegment::Key(key) if key == "jsonnet"))
            {
                "`jsonnet.ext_vars` maps an ext-var name to a template such as `{provider_cluster_name}`; the \
                 placeholders are `{cluster}`, `{provider}`, `{account}`, `{hub}`, `{domain}`, \
                 `{provider_cluster_name}`, and `{{`/`}}` are literal braces"
            } else if path.first().is_some_and(|segment| matches!(segment, OwnedSegment::Key(key) if key == "render")) {
                "`render.ignore` maps a Kubernetes kind (or `*`) to JSON pointers such as `/spec/replicas`"
            } else if message == ABSOLUTE_PATTERN || message == CLIMBING_PATTERN {
                "write the pattern relative to the repository root, such as `config/clusters/**/cluster.yaml`"
            } else if message.starts_with(TOO_LONG) || message.starts_with(TOO_MANY) {
                "patterns are compiled into one matcher, so their number and length are capped; \
                 use `**` to cover many folders with one pattern"
            } else {
                "patterns are globs: `*` matches within one folder, `**` across folders"
            };
            vec![Diagnostic::new(file, message).at(locate(text, &segments)).field(display_path(&segments)).hint(hint)]
        })
    }

    fn from_raw(raw: RawSettings) -> Result<Settings, (Vec<OwnedSegment>, String)> {
        let discovery = raw.clusters.unwrap_or_default();
        let cluster_glob = discovery.glob.unwrap_or_else(|| DEFAULT_CLUSTER_GLOB.to_owned());
        if let Some(problem) = leaves_repository(&cluster_glob).or_else(|| too_long(&cluster_glob)) {
            return Err((path(&["clusters", "glob"], None), problem));
        }
        if let Some((index, problem)) = discovery
            .exclude
            .iter()
            .flatten()
            .enumerate()
            .find_map(|(index, pattern)| leaves_repository(pattern).map(|problem| (index, problem)))
        {
            return Err((path(&["clusters", "exclude"], Some(index)), problem));
        }
        let cluster_matcher = compile(&cluster_glob)
            .map_err(|e| (path(&["clusters", "glob"], None), format!("invalid glob `{cluster_glob}`: {e}")))?
            .compile_matcher();
        let cluster_exclude = patterns(discovery.exclude, DEFAULT_CLUSTER_EXCLUDE, &["clusters", "exclude"])?;
        let redeploy_all_hubs = patterns(raw.redeploy_all_hubs, DEFAULT_REDEPLOY_ALL_HUBS, &["redeploy_all_hubs"])?;
        let redeploy_all_support =
            patterns(raw.redeploy_all_support, DEFAULT_REDEPLOY_ALL_SUPPORT, &["redeploy_all_support"])?;
        let staging_hub_pattern = raw.staging_hub_pattern.unwrap_or_else(|| DEFAULT_STAGING_HUB_PATTERN.to_owned());
        if let Some(problem) = too_long(&staging_hub_pattern) {
            return Err((path(&["staging_hub_pattern"], None), problem));
        }
        let staging_matcher = compile(&staging_hub_pattern)
            .map_err(|e| (path(&["staging_hub_pattern"], None), format!("invalid glob `{staging_hub_pattern}`: {e}")))?
            .compile_matcher();
        let render_ignore = RenderIgnore::from_raw(raw.render.and_then(|render| render.ignore))
            .map_err(|problem| (ignore_path(&problem), problem.message))?;
        let health_checks =
            health_checks::from_raw(raw.health_checks, MAX_PATTERNS, MAX_PATTERN_LEN).map_err(|problem| {
                let mut at = path(&["health_checks"], None);
                at.push(OwnedSegment::Key(problem.list.to_owned()));
                at.extend(problem.index.map(OwnedSegment::Index));
                (at, problem.message)
            })?;
        let ext_vars = raw.jsonnet.and_then(|jsonnet| jsonnet.ext_vars).unwrap_or_default();
        let jsonnet_ext_vars = crate::jsonnet::ExtVarTemplates::parse(
            ext_vars.iter().map(|(name, template)| (name.as_str(), template.as_str())),
        )
        .map_err(|problem| {
            let mut at = path(&["jsonnet", "ext_vars"], None);
            at.push(OwnedSegment::Key(problem.name));
            (at, problem.message)
        })?;
        let defaults = Labels::default();
        let raw_labels = raw.labels.unwrap_or_default();
        let labels = Labels {
            skip_deploy: raw_labels.skip_deploy.unwrap_or(defaults.skip_deploy),
            skip_deploy_hubs: raw_labels.skip_deploy_hubs.unwrap_or(defaults.skip_deploy_hubs),
            deploy_hubs: raw_labels.deploy_hubs.unwrap_or(defaults.deploy_hubs),
            deploy_support: raw_labels.deploy_support.unwrap_or(defaults.deploy_support),
        };
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
            jsonnet_ext_vars,
        })
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

fn patterns(
    given: Option<Vec<String>>,
    defaults: &[&str],
    keys: &[&'static str],
) -> Result<Patterns, (Vec<OwnedSegment>, String)> {
    let list: Vec<String> = given.unwrap_or_else(|| defaults.iter().map(|s| (*s).to_owned()).collect());
    if list.len() > MAX_PATTERNS {
        return Err((
            path(keys, None),
            format!("{TOO_MANY} {} patterns; at most {MAX_PATTERNS} are accepted", list.len()),
        ));
    }
    if let Some((index, problem)) = list.iter().enumerate().find_map(|(i, p)| too_long(p).map(|problem| (i, problem))) {
        return Err((path(keys, Some(index)), problem));
    }
    Patterns::new(&list).map_err(|(index, error)| {
        let pattern = list.get(index).map(String::as_str).unwrap_or_default();
        (path(keys, Some(index)), format!("invalid glob `{pattern}`: {error}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(settings.labels.deploy_hubs, "ci:all-hubs");
        assert_eq!(settings.labels.skip_deploy, "deployer:skip-deploy");
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
            ("labels:\n  deploy_hub: x\n".into(), "deployer.yaml:2:3: labels: unknown field `deploy_hub`, expected one of `skip_deploy`, `skip_deploy_hubs`, `deploy_hubs`, `deploy_support`"),
            ("staging_hub_pattern: '[a'\n".into(), "deployer.yaml:1:22: staging_hub_pattern: invalid glob `[a`: unclosed character class; missing ']'"),
            ("clusters:\n  glob: /outside/*\n".into(), "deployer.yaml:2:9: clusters.glob: the pattern is an absolute path; cluster files are found inside the repository only"),
            ("clusters:\n  glob: '../../x/*'\n".into(), "deployer.yaml:2:9: clusters.glob: the pattern has a `..` segment; cluster files are found inside the repository only"),
            ("clusters:\n  glob: 'a/../b/*.yaml'\n".into(), "deployer.yaml:2:9: clusters.glob: the pattern has a `..` segment; cluster files are found inside the repository only"),
            ("clusters:\n  exclude:\n    - ok/**\n    - /etc/**\n".into(), "deployer.yaml:4:7: clusters.exclude[1]: the pattern is an absolute path; cluster files are found inside the repository only"),
            (format!("staging_hub_pattern: '{}'\n", "a".repeat(300)), "deployer.yaml:1:22: staging_hub_pattern: the pattern is longer than 256 characters"),
            (format!("redeploy_all_hubs:\n{}", "  - a/**\n".repeat(101)), "deployer.yaml:2:5: redeploy_all_hubs: the list has 101 patterns; at most 100 are accepted"),
            (format!("redeploy_all_support:\n  - a\n  - '{}'\n", "b".repeat(257)), "deployer.yaml:3:5: redeploy_all_support[1]: the pattern is longer than 256 characters"),
            ("hubs: \"SECRET-abc123\"\n".into(), "deployer.yaml:1:1: unknown field `hubs`, expected one of `clusters`, `redeploy_all_hubs`, `redeploy_all_support`, `staging_hub_pattern`, `labels`, `impact`, `render`, `health_checks`, `jsonnet`"),
            ("health_checks:\n  cluster_paths:\n    - 'terraform/{provider}/projects/{clustr}.tfvars'\n".into(), "deployer.yaml:3:7: health_checks.cluster_paths[0]: unknown placeholder `{clustr}`; did you mean `{cluster}`?"),
            ("health_checks:\n  provider_paths: ['terraform/modules/**']\n".into(), "deployer.yaml:2:20: health_checks.provider_paths[0]: the pattern has no `{provider}`, so it names no provider"),
            ("health_checks:\n  cluster_path: []\n".into(), "deployer.yaml:2:3: health_checks: unknown field `cluster_path`, expected `cluster_paths` or `provider_paths`"),
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
}
