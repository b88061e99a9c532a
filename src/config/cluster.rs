//! Validates a parsed `cluster.yaml` into a [`Cluster`], and a set of clusters into an [`Estate`].
//!
//! Pure: the outside facts it needs (which files and charts exist) are
//! passed in. One parse gives the typed file and the keys it does not read
//! ([`super::unread`]); the checks run on those, and what they find is
//! located afterwards with one position [`Index`], built in one more parse
//! however many findings there are, and only when there is something to locate.

use std::collections::{BTreeMap, HashMap};

use super::keys::{self, CLUSTER_SHAPE};
use super::locate::{display_path, locate, Index, OwnedSegment, Segment};
use super::raw::{RawCluster, RawHub};
use super::suggest::{did_you_mean, shown};
use super::unread::{self, UnreadKey};
use super::{
    override_target, yaml, AccessBlocks, ChartOverride, Cluster, Estate, Hub, Support, ValuesFile, CHARTS_DIR,
};
use crate::base::diagnostic::{quote_value, Diagnostic};
use crate::base::repo_fs::{self, PathProblem};
use crate::base::repo_path;

/// Longest Helm release name.
pub const MAX_HUB_NAME_LEN: usize = 53;

/// Chart folders named in a hint at most.
const MAX_CHARTS_SHOWN: usize = 12;

/// A cluster file read from disk: its repository-relative path and text.
#[derive(Debug, Clone)]
pub struct ClusterSource {
    pub file: String,
    pub text: String,
}

/// What validation needs to know about the repository around a cluster file.
pub struct RepoFacts<'a> {
    /// Whether a repository-relative path names a regular file inside the
    /// repository, or what is wrong with it ([`repo_fs::RepoRoot::file`]).
    pub file_check: &'a dyn Fn(&str) -> Result<(), PathProblem>,
    /// Whether `helm-charts/<chart>/Chart.yaml` exists, for a chart name.
    pub chart_exists: &'a dyn Fn(&str) -> bool,
    /// The chart folders there are (with a `Chart.yaml`), sorted: for hints and suggestions.
    pub charts: &'a [String],
    /// The paths `.gitmodules` names (a chart folder among them may be an unfetched submodule).
    pub submodules: &'a [String],
}

/// A valid cluster file, and what the user should know about it.
#[derive(Debug, Clone)]
pub struct ParsedCluster {
    pub cluster: Cluster,
    /// Problems that do not stop a plan (a hub with no values files, a file listed twice).
    pub warnings: Vec<Diagnostic>,
    /// Keys the deployer does not read, for `deployer validate --strict`.
    pub notices: Vec<Diagnostic>,
}

/// Parses and validates one cluster file. `notices`: whether to list the
/// keys the deployer does not read (they are located only when asked for).
pub fn parse_cluster(
    source: &ClusterSource,
    facts: &RepoFacts<'_>,
    notices: bool,
) -> Result<ParsedCluster, Vec<Diagnostic>> {
    let (raw, unread): (RawCluster, Vec<UnreadKey>) =
        yaml::parse_with(&source.file, &source.text, unread::deserialize)?;
    let checker = Checker { source, findings: Vec::new(), notices };
    checker.validate(raw, unread, facts)
}

/// Checks that cluster names are unique and sorts the clusters by name.
pub fn assemble_estate(parsed: Vec<(Cluster, &ClusterSource)>) -> Result<Estate, Vec<Diagnostic>> {
    let mut first_seen: HashMap<&str, &str> = HashMap::new();
    let mut problems = Vec::new();
    for (cluster, source) in &parsed {
        if let Some(first_file) = first_seen.insert(&cluster.name, &cluster.file) {
            problems.push(
                Diagnostic::new(
                    &source.file,
                    format!("cluster name {} is already used by {first_file}", quote_value(&cluster.name)),
                )
                .at(locate(&source.text, &[Segment::Key("name")]))
                .field("name")
                .hint("every cluster needs its own name; rename one of the two"),
            );
            first_seen.insert(&cluster.name, first_file);
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let mut clusters: Vec<Cluster> = parsed.into_iter().map(|(cluster, _)| cluster).collect();
    clusters.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(Estate { clusters })
}

/// True for a valid cluster name: lowercase letters, digits, `-` and `.`.
pub fn is_valid_cluster_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
}

/// True for a valid hub name: a lowercase RFC 1123 label of at most 53 characters,
/// usable as both a Helm release and a namespace name.
pub fn is_valid_hub_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    let alnum = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    match (bytes.first(), bytes.last()) {
        (Some(first), Some(last)) => {
            bytes.len() <= MAX_HUB_NAME_LEN
                && alnum(first)
                && alnum(last)
                && bytes.iter().all(|b| alnum(b) || *b == b'-')
        }
        _ => false,
    }
}

/// True for a chart name that names one folder under the charts directory.
fn is_valid_chart_name(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains('/') && !name.contains('\\')
}

struct Checker<'s> {
    source: &'s ClusterSource,
    findings: Vec<Finding>,
    /// Whether unread keys are wanted.
    notices: bool,
}

/// Something found in the file, to be located once every check has run.
struct Finding {
    severity: Severity,
    at: Locator,
    /// Everything but the position.
    diagnostic: Diagnostic,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Severity {
    Problem,
    Warning,
    Notice,
}

/// Where a finding is: a node, or a key of a mapping.
enum Locator {
    Node(Vec<OwnedSegment>),
    Key { mapping: Vec<OwnedSegment>, entry: usize },
}

impl Checker<'_> {
    fn find(&mut self, severity: Severity, path: &[Segment<'_>], message: String, hint: &str) {
        let diagnostic = Diagnostic::new(&self.source.file, message).field(display_path(path)).hint(hint);
        self.findings.push(Finding { severity, at: Locator::Node(OwnedSegment::path(path)), diagnostic });
    }

    fn report(&mut self, path: &[Segment<'_>], message: String, hint: &str) {
        self.find(Severity::Problem, path, message, hint);
    }

    fn warn(&mut self, path: &[Segment<'_>], message: String, hint: &str) {
        self.find(Severity::Warning, path, message, hint);
    }

    /// Locates every finding from one position index (built only when
    /// there is a finding), sorted by line: problems, warnings and notices.
    fn locate_findings(self) -> [Vec<Diagnostic>; 3] {
        let mut sorted: [Vec<Diagnostic>; 3] = Default::default();
        let findings: Vec<Finding> =
            self.findings.into_iter().filter(|finding| self.notices || finding.severity != Severity::Notice).collect();
        if findings.is_empty() {
            return sorted;
        }
        // The outline's walk succeeded, and this one reads the same nodes.
        let index = Index::build(&self.source.text, CLUSTER_SHAPE).unwrap_or_default();
        for Finding { severity, at, diagnostic } in findings {
            let position = match &at {
                Locator::Node(path) => index.locate(&OwnedSegment::borrow(path)),
                Locator::Key { mapping, entry } => index.locate_key(&OwnedSegment::borrow(mapping), *entry),
            };
            let list = match severity {
                Severity::Problem => 0,
                Severity::Warning => 1,
                Severity::Notice => 2,
            };
            sorted[list].push(diagnostic.at(position));
        }
        sorted.map(by_position)
    }

    fn validate(
        mut self,
        raw: RawCluster,
        unread: Vec<UnreadKey>,
        facts: &RepoFacts<'_>,
    ) -> Result<ParsedCluster, Vec<Diagnostic>> {
        let dir = repo_path::parent(&self.source.file).to_owned();
        // `support:` with no keys (or `support: {}`) means no support chart.
        let support_path = [Segment::Key("support")];
        let support_other_keys = unread.iter().any(|key| key.mapping == OwnedSegment::path(&support_path));
        self.check_keys(unread);
        if !is_valid_cluster_name(&raw.name) {
            self.report(
                &[Segment::Key("name")],
                format!("{} is not a valid cluster name", quote_value(&raw.name)),
                "use only lowercase letters, digits, `-` and `.`",
            );
        } else {
            let folder = repo_path::basename(&dir);
            if !folder.is_empty() && folder != raw.name {
                self.warn(
                    &[Segment::Key("name")],
                    format!(
                        "cluster `{}` is in folder `{folder}`: jobs, labels and `--cluster` use the name",
                        raw.name
                    ),
                    "name the folder after the cluster (or the cluster after its folder) so that both say the same",
                );
            }
        }

        let support = match raw.support {
            Some(support) if support.helm_chart_values_files.is_some() || support_other_keys => {
                let listed = support.helm_chart_values_files.unwrap_or_default();
                if listed.is_empty() {
                    self.warn(
                        &support_path,
                        "the support chart lists no values files: it would deploy with the chart's defaults only"
                            .to_owned(),
                        "list them under `helm_chart_values_files:` (check that key's spelling)",
                    );
                }
                let path = [Segment::Key("support"), Segment::Key("helm_chart_values_files")];
                Some(Support { values_files: self.values_files(&dir, &listed, &path, "the support chart", facts) })
            }
            _ => None,
        };

        let raw_hubs = raw.hubs.unwrap_or_default();
        let mut hubs = Vec::with_capacity(raw_hubs.len());
        let mut seen: BTreeMap<String, usize> = BTreeMap::new();
        for (index, raw_hub) in raw_hubs.into_iter().enumerate() {
            hubs.push(self.hub(&dir, index, raw_hub, &mut seen, facts));
        }

        let file = self.source.file.clone();
        let [problems, warnings, notices] = self.locate_findings();
        if problems.is_empty() {
            let access = AccessBlocks { gcp: raw.gcp, aws: raw.aws, azure: raw.azure, kubeconfig: raw.kubeconfig };
            let infrastructure_provider =
                super::health_checks::infrastructure_provider(raw.provider, raw.provider_url.as_deref());
            let cluster = Cluster {
                name: raw.name,
                provider: raw.provider,
                file,
                dir,
                support,
                hubs,
                access,
                infrastructure_provider,
            };
            Ok(ParsedCluster { cluster, warnings, notices })
        } else {
            Err(problems)
        }
    }

    /// A key close to one the deployer reads is a misspelling; any other unread key is a notice.
    fn check_keys(&mut self, unread: Vec<UnreadKey>) {
        for key in keys::classify(unread) {
            let at = Locator::Key { mapping: key.mapping, entry: key.entry };
            let diagnostic = Diagnostic::new(&self.source.file, String::new()).field(&key.field);
            let finding = match key.suggestion {
                Some(suggestion) => Finding {
                    severity: Severity::Problem,
                    at,
                    diagnostic: Diagnostic {
                        message: format!("unknown key {}; did you mean '{suggestion}'?", key.shown),
                        hint: Some(format!(
                            "the deployer ignores keys it does not know, so a misspelt key would be ignored \
                             without a word; it reads {} here",
                            key.known.iter().map(|known| format!("`{known}`")).collect::<Vec<_>>().join(", ")
                        )),
                        ..diagnostic
                    },
                },
                None => Finding {
                    severity: Severity::Notice,
                    at,
                    diagnostic: Diagnostic { message: "key not read by the deployer".to_owned(), ..diagnostic },
                },
            };
            self.findings.push(finding);
        }
    }

    fn hub(
        &mut self,
        dir: &str,
        index: usize,
        raw: RawHub,
        seen: &mut BTreeMap<String, usize>,
        facts: &RepoFacts<'_>,
    ) -> Hub {
        let hub_path = [Segment::Key("hubs"), Segment::Index(index)];
        let name_path = [Segment::Key("hubs"), Segment::Index(index), Segment::Key("name")];
        let valid_name = is_valid_hub_name(&raw.name);
        if !valid_name {
            self.report(
                &name_path,
                format!("{} is not a valid hub name", quote_value(&raw.name)),
                "a hub name is its Helm release and namespace: lowercase letters, digits and `-`, \
                 starting and ending with a letter or digit, at most 53 characters",
            );
        } else if let Some(first) = seen.get(&raw.name) {
            let message = format!("hub name {} is already used by hubs[{first}]", quote_value(&raw.name));
            self.report(&name_path, message, "every hub of a cluster needs its own name");
        } else {
            seen.insert(raw.name.clone(), index);
        }
        let hub = if valid_name { format!("hub `{}`", raw.name) } else { format!("hubs[{index}]") };

        let chart_path = [Segment::Key("hubs"), Segment::Index(index), Segment::Key("helm_chart")];
        let helm_chart = raw.helm_chart.unwrap_or_default();
        if helm_chart.trim().is_empty() {
            let hint = format!("{hub} must name its chart: add `helm_chart:` with {}", chart_choices(facts.charts));
            self.report(&hub_path, "missing field `helm_chart`".to_owned(), &hint);
        } else if !is_valid_chart_name(&helm_chart) {
            self.report(
                &chart_path,
                format!("{} is not a chart name", quote_value(&helm_chart)),
                &format!("name one folder under {CHARTS_DIR}/: {}", chart_choices(facts.charts)),
            );
        } else if !(facts.chart_exists)(&helm_chart)
            && facts.submodules.iter().any(|path| *path == format!("{CHARTS_DIR}/{helm_chart}"))
        {
            self.report(
                &chart_path,
                format!(
                    "{hub} uses chart `{helm_chart}`, whose folder {CHARTS_DIR}/{helm_chart} is a git submodule \
                     (named in {}) that this checkout did not fetch: it has no Chart.yaml",
                    super::submodules::GITMODULES
                ),
                super::submodules::SUBMODULE_HINT,
            );
        } else if !(facts.chart_exists)(&helm_chart) {
            let suggestion = did_you_mean(&helm_chart, facts.charts.iter().map(String::as_str))
                .map(|chart| format!("did you mean `{chart}`? "))
                .unwrap_or_default();
            self.report(
                &chart_path,
                format!("{hub} uses chart `{helm_chart}`, but {CHARTS_DIR}/{helm_chart}/Chart.yaml does not exist"),
                &format!("{suggestion}name {}", chart_choices(facts.charts)),
            );
        }

        let listed = raw.helm_chart_values_files.unwrap_or_default();
        if listed.is_empty() {
            self.warn(
                &hub_path,
                format!("{hub} lists no values files: it would deploy with the chart's defaults only"),
                "list them under `helm_chart_values_files:` (check that key's spelling)",
            );
        }
        let path = [Segment::Key("hubs"), Segment::Index(index), Segment::Key("helm_chart_values_files")];
        let values_files = self.values_files(dir, &listed, &path, &hub, facts);

        let override_path = [Segment::Key("hubs"), Segment::Index(index), Segment::Key("chart_override")];
        let chart_override = raw.chart_override.as_deref().and_then(|entry| {
            // As the Python deployer: with a `/`, relative to the repository root.
            let base = if entry.contains('/') { "" } else { dir };
            let file = self.hub_file(base, entry, &override_path, "chart override", facts)?;
            let replaces = override_target(&helm_chart).to_owned();
            if !helm_chart.trim().is_empty() && !(facts.chart_exists)(&replaces) {
                self.report(
                    &override_path,
                    format!("{hub}'s chart override replaces {CHARTS_DIR}/{replaces}/Chart.yaml, which does not exist"),
                    "a chart override replaces the Chart.yaml of the hub's chart (of `basehub` for a `daskhub` hub)",
                );
            }
            Some(ChartOverride { file, replaces })
        });
        let domain_path = [Segment::Key("hubs"), Segment::Index(index), Segment::Key("domain_override_file")];
        let domain_override_file = raw
            .domain_override_file
            .as_deref()
            .and_then(|entry| self.hub_file(dir, entry, &domain_path, "domain override file", facts));
        Hub { name: raw.name, helm_chart, values_files, chart_override, domain_override_file, domain: raw.domain }
    }

    /// The repository path of a file a hub names (`chart_override`, `domain_override_file`),
    /// relative to `base`, when it is a file inside the repository; else reported.
    fn hub_file(
        &mut self,
        base: &str,
        entry: &str,
        path: &[Segment<'_>],
        what: &str,
        facts: &RepoFacts<'_>,
    ) -> Option<String> {
        let relative = if base.is_empty() { "the repository root" } else { "the cluster folder" };
        let inside = format!("the {what} is relative to {relative} and must stay inside the repository");
        let named = quote_value(entry);
        let joined = match repo_fs::join_inside(base, entry) {
            Err(PathProblem::Empty) => {
                self.report(path, format!("empty {what} name"), "remove the key or name a file");
                return None;
            }
            Err(PathProblem::Absolute) => {
                self.report(path, format!("{what} {named} is an absolute path"), &inside);
                return None;
            }
            Err(_) => {
                self.report(path, format!("{what} {named} is outside the repository"), &inside);
                return None;
            }
            Ok(joined) => joined,
        };
        match (facts.file_check)(&joined) {
            Ok(()) => Some(joined),
            Err(PathProblem::NotFound) => {
                self.report(
                    path,
                    format!("{what} {named} does not exist{}", looked_for(&named, &joined)),
                    &format!("the {what} is relative to {relative} (to the repository root when it holds a `/`); fix the name or add the file"),
                );
                None
            }
            Err(problem) => {
                self.report(path, format!("{what} {named} {problem}{}", looked_for(&named, &joined)), problem.hint());
                None
            }
        }
    }

    /// The listed values files, in order (a file listed twice stays twice:
    /// Helm applies the list in order); `owner` names the hub or support chart in messages.
    fn values_files(
        &mut self,
        dir: &str,
        listed: &[String],
        list_path: &[Segment<'_>],
        owner: &str,
        facts: &RepoFacts<'_>,
    ) -> Vec<ValuesFile> {
        let mut files = Vec::with_capacity(listed.len());
        let mut first_at: HashMap<String, usize> = HashMap::with_capacity(listed.len());
        for (index, entry) in listed.iter().enumerate() {
            let mut path = list_path.to_vec();
            path.push(Segment::Index(index));
            let inside = "values files are relative to the cluster folder and must stay inside the repository";
            let named = || quote_value(entry);
            let joined = match repo_fs::join_inside(dir, entry) {
                Err(PathProblem::Empty) => {
                    self.report(&path, "empty values file name".to_owned(), "remove the entry or name a file");
                    continue;
                }
                Err(PathProblem::Absolute) => {
                    self.report(&path, format!("values file {} is an absolute path", named()), inside);
                    continue;
                }
                Err(_) => {
                    self.report(&path, format!("values file {} is outside the repository", named()), inside);
                    continue;
                }
                Ok(joined) => joined,
            };
            if let Err(problem) = (facts.file_check)(&joined) {
                if problem == PathProblem::NotFound {
                    self.report(
                        &path,
                        format!("values file {} does not exist{}", named(), looked_for(&named(), &joined)),
                        "values files are relative to the cluster folder; fix the name or add the file",
                    );
                } else {
                    self.report(
                        &path,
                        format!("values file {} {problem}{}", named(), looked_for(&named(), &joined)),
                        problem.hint(),
                    );
                }
            } else {
                if let Some(first) = first_at.get(&joined) {
                    let mut first_path = list_path.to_vec();
                    first_path.push(Segment::Index(*first));
                    self.warn(
                        &path,
                        format!("{owner} lists values file {joined} twice (also at {})", display_path(&first_path)),
                        "Helm applies it twice, and the later copy overrides what comes between; remove one entry",
                    );
                } else {
                    first_at.insert(joined.clone(), index);
                }
                files.push(ValuesFile { path: joined });
            }
        }
        files
    }
}

/// ` (looked for <path>)` after a values file's entry, when the entry itself was shown.
fn looked_for(named: &str, joined: &str) -> String {
    if named.starts_with('`') {
        format!(" (looked for {joined})")
    } else {
        String::new()
    }
}

/// The chart folders there are, for a hint.
fn chart_choices(charts: &[String]) -> String {
    let plain: Vec<String> =
        charts.iter().filter(|chart| shown(chart, "").starts_with('`')).map(|chart| format!("`{chart}`")).collect();
    match plain.len() {
        0 => format!("a folder of {CHARTS_DIR}/ that has a Chart.yaml (there is none)"),
        n if n > MAX_CHARTS_SHOWN => {
            format!("one of the folders of {CHARTS_DIR}/: {}, …", plain[..MAX_CHARTS_SHOWN].join(", "))
        }
        _ => format!("one of the folders of {CHARTS_DIR}/: {}", plain.join(", ")),
    }
}

/// Sorted by line and column; diagnostics with no position last, in the order found.
fn by_position(mut diagnostics: Vec<Diagnostic>) -> Vec<Diagnostic> {
    diagnostics.sort_by_key(|diagnostic| (diagnostic.line.is_none(), diagnostic.line, diagnostic.column));
    diagnostics
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(text: &str) -> ClusterSource {
        ClusterSource { file: "config/clusters/c1/cluster.yaml".into(), text: text.into() }
    }

    const CHARTS: &[&str] = &["basehub", "daskhub"];

    fn parse_with(text: &str, exists: &dyn Fn(&str) -> bool) -> Result<ParsedCluster, Vec<Diagnostic>> {
        let charts: Vec<String> = CHARTS.iter().map(|c| (*c).to_owned()).collect();
        let chart_exists = |chart: &str| CHARTS.contains(&chart);
        parse_cluster(
            &source(text),
            &RepoFacts {
                file_check: &|path| if exists(path) { Ok(()) } else { Err(PathProblem::NotFound) },
                chart_exists: &chart_exists,
                charts: &charts,
                submodules: &[],
            },
            true,
        )
    }

    fn parse(text: &str) -> Result<ParsedCluster, Vec<Diagnostic>> {
        parse_with(text, &|_| true)
    }

    fn first_lines(diagnostics: &[Diagnostic]) -> Vec<String> {
        diagnostics.iter().map(|d| d.to_string().lines().next().unwrap_or_default().to_owned()).collect()
    }

    #[test]
    fn valid_cluster_is_typed() {
        let text = "name: c1\nprovider: aws\nsupport:\n  helm_chart_values_files: [s.yaml]\nhubs:\n  - name: staging\n    helm_chart: basehub\n    helm_chart_values_files: [../common.yaml, s.values.yaml]\n  - name: prod\n    helm_chart: daskhub\n    helm_chart_values_files: [p.yaml]\n";
        let parsed = parse(text).unwrap();
        let cluster = parsed.cluster;
        assert_eq!(cluster.name, "c1");
        assert_eq!(cluster.dir, "config/clusters/c1");
        assert_eq!(cluster.support.unwrap().values_files[0].path, "config/clusters/c1/s.yaml");
        assert_eq!(cluster.hubs[0].values_files[0].path, "config/clusters/common.yaml");
        assert_eq!(cluster.hubs[0].helm_chart, "basehub");
        assert_eq!(cluster.hubs[1].helm_chart, "daskhub");
        assert_eq!(parsed.warnings, []);
        assert_eq!(parsed.notices, []);
    }

    #[test]
    fn support_block_presence() {
        let cases = [
            ("", false),
            ("support:\n", false),
            ("support: {}\n", false),
            ("support:\n  helm_chart_values_files: []\n", true),
            ("support:\n  config: {x: 1}\n", true),
        ];
        for (block, expected) in cases {
            let text = format!("name: c1\nprovider: gcp\n{block}");
            let cluster = parse(&text).unwrap().cluster;
            assert_eq!(cluster.support.is_some(), expected, "{block:?}");
        }
    }

    #[test]
    fn errors_point_at_file_line_and_field() {
        let cases: &[(&str, &str)] = &[
            ("name: c1\nprovider: gcp\nhubs:\n  - name: Hub_1\n    helm_chart: basehub\n", "config/clusters/c1/cluster.yaml:4:11: hubs[0].name: `Hub_1` is not a valid hub name"),
            ("name: c1\nprovider: gcp\nhubs:\n  - name: a\n    helm_chart: basehub\n  - name: a\n    helm_chart: basehub\n", "config/clusters/c1/cluster.yaml:6:11: hubs[1].name: hub name `a` is already used by hubs[0]"),
            ("name: C_1\nprovider: gcp\n", "config/clusters/c1/cluster.yaml:1:7: name: `C_1` is not a valid cluster name"),
            ("name: c1\nprovider: openstack\n", "config/clusters/c1/cluster.yaml:2:11: provider: unknown variant, expected one of `gcp`, `aws`, `azure`, `kubeconfig`"),
            ("provider: gcp\n", "config/clusters/c1/cluster.yaml:1:1: missing field `name`"),
            ("name: c1\n", "config/clusters/c1/cluster.yaml:1:1: missing field `provider`"),
            ("name: c1\nprovider: gcp\nhubs: staging\n", "config/clusters/c1/cluster.yaml:3:7: hubs: invalid type: string, expected a sequence"),
            ("name: c1\nprovider: gcp\nhubs:\n  - name: a\n    helm_chart: basehub\n    helm_chart_values_files: [../../../../x.yaml]\n", "config/clusters/c1/cluster.yaml:6:31: hubs[0].helm_chart_values_files[0]: values file `../../../../x.yaml` is outside the repository"),
            ("name: c1\nprovider: gcp\nhubs:\n  - name: a\n    helm_chart: ../evil\n", "config/clusters/c1/cluster.yaml:5:17: hubs[0].helm_chart: `../evil` is not a chart name"),
            // Inside `support`, errors keep their position (no buffering of the block).
            ("name: c1\nprovider: gcp\nsupport:\n  helm_chart_values_files: x.yaml\n", "config/clusters/c1/cluster.yaml:4:28: support.helm_chart_values_files: invalid type: string, expected a sequence"),
            // A hub must name its chart, and the chart must be there.
            ("name: c1\nprovider: gcp\nhubs:\n  - name: a\n    helm_chart_values_files: [a.yaml]\n", "config/clusters/c1/cluster.yaml:4:5: hubs[0]: missing field `helm_chart`"),
            ("name: c1\nprovider: gcp\nhubs:\n  - name: a\n    helm_chart: ''\n", "config/clusters/c1/cluster.yaml:4:5: hubs[0]: missing field `helm_chart`"),
            ("name: c1\nprovider: gcp\nhubs:\n  - name: a\n    helm_chart: dashub\n", "config/clusters/c1/cluster.yaml:5:17: hubs[0].helm_chart: hub `a` uses chart `dashub`, but helm-charts/dashub/Chart.yaml does not exist"),
            // Misspelt keys are errors at the key.
            ("name: c1\nprovider: gcp\nhubs:\n  - name: a\n    helm_chart: basehub\n    helm_chart_value_files: [a.yaml]\n", "config/clusters/c1/cluster.yaml:6:5: hubs[0].helm_chart_value_files: unknown key `helm_chart_value_files`; did you mean 'helm_chart_values_files'?"),
            ("name: c1\nprovider: gcp\nhubs:\n  - name: a\n    helmchart: daskhub\n", "config/clusters/c1/cluster.yaml:4:5: hubs[0]: missing field `helm_chart`"),
            ("name: c1\nprovider: gcp\ngcp:\n  projcet: p\n", "config/clusters/c1/cluster.yaml:4:3: gcp.projcet: unknown key `projcet`; did you mean 'project'?"),
        ];
        for (text, expected) in cases {
            let problems = parse(text).unwrap_err();
            assert_eq!(first_lines(&problems)[0], *expected, "for {text:?}");
            assert!(problems.iter().all(|p| p.hint.is_some()), "every problem has a hint: {text:?}");
        }
    }

    #[test]
    fn chart_problems_name_the_hub_and_the_charts_there_are() {
        let missing = parse("name: c1\nprovider: gcp\nhubs:\n  - name: prod\n").unwrap_err();
        assert_eq!(
            missing[0].hint.as_deref(),
            Some("hub `prod` must name its chart: add `helm_chart:` with one of the folders of helm-charts/: `basehub`, `daskhub`")
        );
        let typo = parse("name: c1\nprovider: gcp\nhubs:\n  - name: prod\n    helm_chart: dashub\n").unwrap_err();
        assert_eq!(
            typo[0].hint.as_deref(),
            Some("did you mean `daskhub`? name one of the folders of helm-charts/: `basehub`, `daskhub`")
        );
        let helmchart = parse("name: c1\nprovider: gcp\nhubs:\n  - name: prod\n    helmchart: daskhub\n").unwrap_err();
        assert_eq!(
            first_lines(&helmchart),
            [
                "config/clusters/c1/cluster.yaml:4:5: hubs[0]: missing field `helm_chart`",
                "config/clusters/c1/cluster.yaml:5:5: hubs[0].helmchart: unknown key `helmchart`; did you mean 'helm_chart'?",
            ]
        );
    }

    #[test]
    fn warnings_and_notices() {
        let text = "name: c1\nprovider: gcp\nmetadata: {x: 1}\nsupport:\n  helm_chart_values_files: []\nhubs:\n  - name: a\n    helm_chart: basehub\n    display_name: A\n  - name: b\n    helm_chart: basehub\n    helm_chart_values_files: [x.yaml, ./x.yaml, y.yaml, x.yaml]\n";
        let parsed = parse(text).unwrap();
        assert_eq!(
            first_lines(&parsed.warnings),
            [
                "config/clusters/c1/cluster.yaml:5:3: support: the support chart lists no values files: it would deploy with the chart's defaults only",
                "config/clusters/c1/cluster.yaml:7:5: hubs[0]: hub `a` lists no values files: it would deploy with the chart's defaults only",
                "config/clusters/c1/cluster.yaml:12:39: hubs[1].helm_chart_values_files[1]: hub `b` lists values file config/clusters/c1/x.yaml twice (also at hubs[1].helm_chart_values_files[0])",
                "config/clusters/c1/cluster.yaml:12:57: hubs[1].helm_chart_values_files[3]: hub `b` lists values file config/clusters/c1/x.yaml twice (also at hubs[1].helm_chart_values_files[0])",
            ]
        );
        assert_eq!(
            first_lines(&parsed.notices),
            [
                "config/clusters/c1/cluster.yaml:3:1: metadata: key not read by the deployer",
                "config/clusters/c1/cluster.yaml:9:5: hubs[0].display_name: key not read by the deployer",
            ]
        );
        // Helm still gets the list as written.
        assert_eq!(parsed.cluster.hubs[1].values_files.len(), 4);
    }

    #[test]
    fn a_name_that_differs_from_its_folder_is_warned_about() {
        let cases: &[(&str, Option<&str>)] = &[
            ("name: c1\nprovider: gcp\n", None),
            (
                "name: c2\nprovider: gcp\n",
                Some("config/clusters/c1/cluster.yaml:1:7: name: cluster `c2` is in folder `c1`: jobs, labels and `--cluster` use the name"),
            ),
            ("name: C_2\nprovider: gcp\n", None),
        ];
        for (text, want) in cases {
            let warnings = match parse(text) {
                Ok(parsed) => first_lines(&parsed.warnings),
                Err(_) => Vec::new(),
            };
            assert_eq!(warnings.first().map(String::as_str), *want, "{text}");
        }
    }

    #[test]
    fn missing_values_file_is_named() {
        let text = "name: c1\nprovider: gcp\nsupport:\n  helm_chart_values_files:\n    - support.values.yaml\n";
        let problems = parse_with(text, &|path| path != "config/clusters/c1/support.values.yaml").unwrap_err();
        assert_eq!(
            first_lines(&problems)[0],
            "config/clusters/c1/cluster.yaml:5:7: support.helm_chart_values_files[0]: values file `support.values.yaml` does not exist (looked for config/clusters/c1/support.values.yaml)"
        );
    }

    #[test]
    fn every_problem_in_a_file_is_reported_in_line_order() {
        let text = "name: c1\nprovider: gcp\nhubs:\n  - name: A\n    helm_chart: basehub\n  - name: B\n    helm_chart: basehub\n    helm_chart_value_files: []\n";
        let problems = parse(text).unwrap_err();
        let lines: Vec<Option<usize>> = problems.iter().map(|p| p.line).collect();
        assert_eq!(lines, [Some(4), Some(6), Some(8)]);
    }

    #[test]
    fn many_problems_are_located_from_one_index() {
        let hubs: String = (0..2000).map(|i| format!("  - name: Bad_{i}\n    helm_chart: basehub\n")).collect();
        let problems = parse(&format!("name: c1\nprovider: gcp\nhubs:\n{hubs}")).unwrap_err();
        assert_eq!(problems.len(), 2000);
        assert_eq!((problems[1999].line, problems[1999].column), (Some(4 + 2 * 1999), Some(11)));
    }

    #[test]
    fn hub_names() {
        let cases = [
            ("staging", true),
            ("a", true),
            ("hub-1", true),
            ("1hub", true),
            ("-hub", false),
            ("hub-", false),
            ("Hub", false),
            ("hub_1", false),
            ("hub.1", false),
            ("", false),
            (&"a".repeat(53), true),
            (&"a".repeat(54), false),
        ];
        for (name, expected) in cases {
            assert_eq!(is_valid_hub_name(name), expected, "{name:?}");
        }
    }

    #[test]
    fn cluster_names() {
        let cases = [("2i2c-aws-us", true), ("a.b", true), ("", false), ("A", false), ("a_b", false), ("a b", false)];
        for (name, expected) in cases {
            assert_eq!(is_valid_cluster_name(name), expected, "{name:?}");
        }
    }

    #[test]
    fn duplicate_cluster_names_name_both_files() {
        let a =
            ClusterSource { file: "config/clusters/a/cluster.yaml".into(), text: "name: same\nprovider: gcp\n".into() };
        let b =
            ClusterSource { file: "config/clusters/b/cluster.yaml".into(), text: "name: same\nprovider: gcp\n".into() };
        let facts = RepoFacts { file_check: &|_| Ok(()), chart_exists: &|_| true, charts: &[], submodules: &[] };
        let parsed = vec![
            (parse_cluster(&a, &facts, false).unwrap().cluster, &a),
            (parse_cluster(&b, &facts, false).unwrap().cluster, &b),
        ];
        let problems = assemble_estate(parsed).unwrap_err();
        assert_eq!(
            problems[0].to_string().lines().next().unwrap(),
            "config/clusters/b/cluster.yaml:1:7: name: cluster name `same` is already used by config/clusters/a/cluster.yaml"
        );
    }
}
