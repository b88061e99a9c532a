//! Validates a parsed `cluster.yaml` into a [`Cluster`], and a set of clusters into an [`Estate`].
//!
//! Pure: the only outside fact it needs, whether a values file is a regular
//! file inside the repository, is passed in as a function.

use std::collections::{BTreeMap, HashMap};

use super::locate::{display_path, locate, Segment};
use super::raw::{RawCluster, RawHub};
use super::{yaml, AccessBlocks, Cluster, Estate, Hub, Support, ValuesFile, DEFAULT_HELM_CHART};
use crate::diagnostic::{quote_value, Diagnostic};
use crate::repo_fs::{self, PathProblem};
use crate::repo_path;

/// Longest Helm release name.
pub const MAX_HUB_NAME_LEN: usize = 53;

/// A cluster file read from disk: its repository-relative path and text.
#[derive(Debug, Clone)]
pub struct ClusterSource {
    pub file: String,
    pub text: String,
}

/// Says whether a repository-relative path names a regular file inside the
/// repository, or what is wrong with it ([`repo_fs::RepoRoot::file`]).
pub type FileCheck<'a> = &'a dyn Fn(&str) -> Result<(), PathProblem>;

/// Parses and validates one cluster file. `exists` checks each values file.
pub fn parse_cluster(source: &ClusterSource, exists: FileCheck<'_>) -> Result<Cluster, Vec<Diagnostic>> {
    let raw: RawCluster = yaml::parse(&source.file, &source.text)?;
    let checker = Checker { source, problems: Vec::new() };
    checker.validate(raw, exists)
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

/// ` (looked for <path>)` after a values file's entry, when the entry itself was shown.
fn looked_for(named: &str, joined: &str) -> String {
    if named.starts_with('`') {
        format!(" (looked for {joined})")
    } else {
        String::new()
    }
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
    problems: Vec<Diagnostic>,
}

impl Checker<'_> {
    fn report(&mut self, path: &[Segment<'_>], message: String, hint: &str) {
        self.problems.push(
            Diagnostic::new(&self.source.file, message)
                .at(locate(&self.source.text, path))
                .field(display_path(path))
                .hint(hint),
        );
    }

    fn validate(mut self, raw: RawCluster, exists: FileCheck<'_>) -> Result<Cluster, Vec<Diagnostic>> {
        let dir = repo_path::parent(&self.source.file).to_owned();
        if !is_valid_cluster_name(&raw.name) {
            self.report(
                &[Segment::Key("name")],
                format!("{} is not a valid cluster name", quote_value(&raw.name)),
                "use only lowercase letters, digits, `-` and `.`",
            );
        }

        let support = match raw.support {
            Some(support) if support.helm_chart_values_files.is_some() || !support.other.is_empty() => {
                let listed = support.helm_chart_values_files.unwrap_or_default();
                let path = [Segment::Key("support"), Segment::Key("helm_chart_values_files")];
                Some(Support { values_files: self.values_files(&dir, &listed, &path, exists) })
            }
            _ => None,
        };

        let raw_hubs = raw.hubs.unwrap_or_default();
        let mut hubs = Vec::with_capacity(raw_hubs.len());
        let mut seen: BTreeMap<String, usize> = BTreeMap::new();
        for (index, raw_hub) in raw_hubs.into_iter().enumerate() {
            hubs.push(self.hub(&dir, index, raw_hub, &mut seen, exists));
        }

        if self.problems.is_empty() {
            let access = AccessBlocks { gcp: raw.gcp, aws: raw.aws, azure: raw.azure, kubeconfig: raw.kubeconfig };
            Ok(Cluster {
                name: raw.name,
                provider: raw.provider,
                file: self.source.file.clone(),
                dir,
                support,
                hubs,
                access,
            })
        } else {
            Err(self.problems)
        }
    }

    fn hub(
        &mut self,
        dir: &str,
        index: usize,
        raw: RawHub,
        seen: &mut BTreeMap<String, usize>,
        exists: FileCheck<'_>,
    ) -> Hub {
        let name_path = [Segment::Key("hubs"), Segment::Index(index), Segment::Key("name")];
        if !is_valid_hub_name(&raw.name) {
            self.report(
                &name_path,
                format!("{} is not a valid hub name", quote_value(&raw.name)),
                "a hub name is its Helm release and namespace: lowercase letters, digits and `-`, \
                 starting and ending with a letter or digit, at most 53 characters",
            );
        } else if let Some(first) = seen.get(&raw.name) {
            let message = format!("hub name `{}` is already used by hubs[{first}]", raw.name);
            self.report(&name_path, message, "every hub of a cluster needs its own name");
        } else {
            seen.insert(raw.name.clone(), index);
        }

        let helm_chart = raw.helm_chart.unwrap_or_else(|| DEFAULT_HELM_CHART.to_owned());
        if !is_valid_chart_name(&helm_chart) {
            self.report(
                &[Segment::Key("hubs"), Segment::Index(index), Segment::Key("helm_chart")],
                format!("{} is not a chart name", quote_value(&helm_chart)),
                "name one folder under helm-charts/, such as `basehub` or `daskhub`",
            );
        }

        let listed = raw.helm_chart_values_files.unwrap_or_default();
        let path = [Segment::Key("hubs"), Segment::Index(index), Segment::Key("helm_chart_values_files")];
        let values_files = self.values_files(dir, &listed, &path, exists);
        Hub { name: raw.name, helm_chart, values_files }
    }

    fn values_files(
        &mut self,
        dir: &str,
        listed: &[String],
        list_path: &[Segment<'_>],
        exists: FileCheck<'_>,
    ) -> Vec<ValuesFile> {
        let mut files = Vec::with_capacity(listed.len());
        for (index, entry) in listed.iter().enumerate() {
            let mut path = list_path.to_vec();
            path.push(Segment::Index(index));
            let inside = "values files are relative to the cluster folder and must stay inside the repository";
            let named = || quote_value(entry);
            match repo_fs::join_inside(dir, entry) {
                Err(PathProblem::Empty) => {
                    self.report(&path, "empty values file name".to_owned(), "remove the entry or name a file")
                }
                Err(PathProblem::Absolute) => {
                    self.report(&path, format!("values file {} is an absolute path", named()), inside)
                }
                Err(_) => self.report(&path, format!("values file {} is outside the repository", named()), inside),
                Ok(joined) => match exists(&joined) {
                    Ok(()) => files.push(ValuesFile { path: joined }),
                    Err(PathProblem::NotFound) => self.report(
                        &path,
                        format!("values file {} does not exist{}", named(), looked_for(&named(), &joined)),
                        "values files are relative to the cluster folder; fix the name or add the file",
                    ),
                    Err(problem) => self.report(
                        &path,
                        format!("values file {} {problem}{}", named(), looked_for(&named(), &joined)),
                        problem.hint(),
                    ),
                },
            }
        }
        files
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(text: &str) -> ClusterSource {
        ClusterSource { file: "config/clusters/c1/cluster.yaml".into(), text: text.into() }
    }

    fn all_exist(_: &str) -> Result<(), PathProblem> {
        Ok(())
    }

    #[test]
    fn valid_cluster_is_typed() {
        let text = "name: c1\nprovider: aws\nsupport:\n  helm_chart_values_files: [s.yaml]\nhubs:\n  - name: staging\n    helm_chart_values_files: [../common.yaml, s.values.yaml]\n  - name: prod\n    helm_chart: daskhub\n";
        let cluster = parse_cluster(&source(text), &all_exist).unwrap();
        assert_eq!(cluster.name, "c1");
        assert_eq!(cluster.dir, "config/clusters/c1");
        assert_eq!(cluster.support.unwrap().values_files[0].path, "config/clusters/c1/s.yaml");
        assert_eq!(cluster.hubs[0].values_files[0].path, "config/clusters/common.yaml");
        assert_eq!(cluster.hubs[0].helm_chart, "basehub");
        assert_eq!(cluster.hubs[1].helm_chart, "daskhub");
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
            let cluster = parse_cluster(&source(&text), &all_exist).unwrap();
            assert_eq!(cluster.support.is_some(), expected, "{block:?}");
        }
    }

    #[test]
    fn errors_point_at_file_line_and_field() {
        let cases: &[(&str, &str)] = &[
            ("name: c1\nprovider: gcp\nhubs:\n  - name: Hub_1\n", "config/clusters/c1/cluster.yaml:4:11: hubs[0].name: `Hub_1` is not a valid hub name"),
            ("name: c1\nprovider: gcp\nhubs:\n  - name: a\n  - name: a\n", "config/clusters/c1/cluster.yaml:5:11: hubs[1].name: hub name `a` is already used by hubs[0]"),
            ("name: C_1\nprovider: gcp\n", "config/clusters/c1/cluster.yaml:1:7: name: `C_1` is not a valid cluster name"),
            ("name: c1\nprovider: openstack\n", "config/clusters/c1/cluster.yaml:2:11: provider: unknown variant, expected one of `gcp`, `aws`, `azure`, `kubeconfig`"),
            ("provider: gcp\n", "config/clusters/c1/cluster.yaml:1:1: missing field `name`"),
            ("name: c1\n", "config/clusters/c1/cluster.yaml:1:1: missing field `provider`"),
            ("name: c1\nprovider: gcp\nhubs: staging\n", "config/clusters/c1/cluster.yaml:3:7: hubs: invalid type: string, expected a sequence"),
            ("name: c1\nprovider: gcp\nhubs:\n  - name: a\n    helm_chart_values_files: [../../../../x.yaml]\n", "config/clusters/c1/cluster.yaml:5:31: hubs[0].helm_chart_values_files[0]: values file `../../../../x.yaml` is outside the repository"),
            ("name: c1\nprovider: gcp\nhubs:\n  - name: a\n    helm_chart: ../evil\n", "config/clusters/c1/cluster.yaml:5:17: hubs[0].helm_chart: `../evil` is not a chart name"),
            ("name: c1\nprovider: gcp\nhubs:\n  - name: a\n    helm_chart_values_files: [/etc/passwd]\n", "config/clusters/c1/cluster.yaml:5:31: hubs[0].helm_chart_values_files[0]: values file `/etc/passwd` is an absolute path"),
            ("name: c1\nprovider: gcp\nhubs: \"SECRET-abc123\"\n", "config/clusters/c1/cluster.yaml:3:7: hubs: invalid type: string, expected a sequence"),
            ("name: c1\nprovider: gcp\nhubs:\n  - name: \"-----BEGIN PRIVATE KEY-----\\nMIIE\"\n", "config/clusters/c1/cluster.yaml:4:11: hubs[0].name: a 32-character value is not a valid hub name"),
            ("name: c1\nprovider: gcp\nhubs:\n  - name: &a x\n", "config/clusters/c1/cluster.yaml:4:11: YAML anchors (`&name`) are not allowed in this file"),
        ];
        for (text, expected) in cases {
            let problems = parse_cluster(&source(text), &all_exist).unwrap_err();
            let first_line = problems[0].to_string().lines().next().unwrap().to_owned();
            assert_eq!(first_line, *expected, "for {text:?}");
            assert!(problems[0].hint.is_some(), "every problem has a hint: {text:?}");
        }
    }

    #[test]
    fn values_file_problems_are_named_at_their_entry() {
        let text = "name: c1\nprovider: gcp\nsupport:\n  helm_chart_values_files:\n    - support.values.yaml\n";
        let cases = [
            (PathProblem::NotFound, "values file `support.values.yaml` does not exist (looked for config/clusters/c1/support.values.yaml)"),
            (PathProblem::LinkOutside, "values file `support.values.yaml` is a symlink to a path outside the repository (looked for config/clusters/c1/support.values.yaml)"),
            (PathProblem::NotAFile(repo_fs::FileKind::Fifo), "values file `support.values.yaml` is not a regular file (a FIFO) (looked for config/clusters/c1/support.values.yaml)"),
        ];
        for (problem, message) in cases {
            let check = |path: &str| {
                if path == "config/clusters/c1/support.values.yaml" {
                    Err(problem.clone())
                } else {
                    Ok(())
                }
            };
            let problems = parse_cluster(&source(text), &check).unwrap_err();
            assert_eq!(
                problems[0].to_string().lines().next().unwrap(),
                format!("config/clusters/c1/cluster.yaml:5:7: support.helm_chart_values_files[0]: {message}")
            );
        }
    }

    #[test]
    fn every_problem_in_a_file_is_reported() {
        let text = "name: c1\nprovider: gcp\nhubs:\n  - name: A\n  - name: B\n";
        assert_eq!(parse_cluster(&source(text), &all_exist).unwrap_err().len(), 2);
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
        let parsed = vec![(parse_cluster(&a, &all_exist).unwrap(), &a), (parse_cluster(&b, &all_exist).unwrap(), &b)];
        let problems = assemble_estate(parsed).unwrap_err();
        assert_eq!(
            problems[0].to_string().lines().next().unwrap(),
            "config/clusters/b/cluster.yaml:1:7: name: cluster name `same` is already used by config/clusters/a/cluster.yaml"
        );
    }
}
