//! Clusters blocked by problems in their own files: a problem confined to one
//! cluster's files (its `cluster.yaml`, or a file it lists) makes that cluster
//! a [`BlockedCluster`] instead of failing the whole load; two clusters of one
//! name block each other. What a run then does about them is
//! [`crate::planning::blocked_verdict`]'s. Pure.

use std::collections::BTreeMap;

use crate::base::diagnostic::Diagnostic;
use crate::base::repo_path;
use crate::config::cluster::{is_valid_cluster_name, ClusterSource};
use crate::config::locate::{locate, Segment};
use crate::config::Cluster;

/// A cluster that cannot be planned because of problems in its own files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockedCluster {
    /// The repository-relative `cluster.yaml`.
    pub file: String,
    /// Its folder.
    pub dir: String,
    /// The cluster's name, when the file gives a valid one.
    pub name: Option<String>,
    /// Every problem found in its files.
    pub problems: Vec<Diagnostic>,
    /// The cluster file and every values file it lists (as far as it can be read), repository-relative.
    pub files: Vec<String>,
}

impl BlockedCluster {
    /// A blocked cluster from its file's text (`None` when it could not be read as text), by a lenient
    /// reading of its `name` and the values files it lists.
    pub fn from_source(file: &str, text: Option<&str>, problems: Vec<Diagnostic>) -> Self {
        let dir = repo_path::parent(file).to_owned();
        // A text with anchors or deep nesting is not parsed (aliases would expand): named by its folder.
        let document: Option<yaml_serde::Value> = text
            .filter(|text| crate::config::yaml_guard::is_bounded(text))
            .and_then(|text| yaml_serde::from_str(text).ok());
        let name = document
            .as_ref()
            .and_then(|doc| doc.get("name"))
            .and_then(yaml_serde::Value::as_str)
            .filter(|name| is_valid_cluster_name(name))
            .map(str::to_owned);
        let mut files = vec![file.to_owned()];
        if let Some(doc) = &document {
            let mut lists: Vec<&yaml_serde::Value> = Vec::new();
            if let Some(list) = doc.get("support").and_then(|s| s.get("helm_chart_values_files")) {
                lists.push(list);
            }
            if let Some(hubs) = doc.get("hubs").and_then(yaml_serde::Value::as_sequence) {
                lists.extend(hubs.iter().filter_map(|hub| hub.get("helm_chart_values_files")));
            }
            let entries = lists.into_iter().filter_map(yaml_serde::Value::as_sequence).flatten();
            for entry in entries.filter_map(yaml_serde::Value::as_str) {
                let joined = repo_path::join(&dir, entry);
                if !entry.trim().is_empty() && repo_path::is_inside_repo(&joined) && !files.contains(&joined) {
                    files.push(joined);
                }
            }
        }
        BlockedCluster { file: file.to_owned(), dir, name, problems, files }
    }

    /// How the cluster is named in outputs and messages: its name, else its folder's name, else its file.
    pub fn label(&self) -> &str {
        match &self.name {
            Some(name) => name,
            None if !self.dir.is_empty() => repo_path::basename(&self.dir),
            None => &self.file,
        }
    }

    /// True when a changed (normalised) path is one of the cluster's files or anything under its folder.
    pub fn touched_by(&self, path: &str) -> bool {
        let under_dir =
            !self.dir.is_empty() && path.strip_prefix(self.dir.as_str()).is_some_and(|rest| rest.starts_with('/'));
        under_dir || self.files.iter().any(|file| file == path)
    }
}

/// Takes out every cluster whose name another cluster file also uses: each of them is blocked (with
/// a problem at its `name`), as neither can be told apart from the other by name.
pub fn split_duplicate_names(
    parsed: Vec<(Cluster, &ClusterSource)>,
) -> (Vec<(Cluster, &ClusterSource)>, Vec<BlockedCluster>) {
    let mut files_by_name: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (cluster, _) in &parsed {
        files_by_name.entry(cluster.name.clone()).or_default().push(cluster.file.clone());
    }
    let mut kept = Vec::with_capacity(parsed.len());
    let mut blocked = Vec::new();
    for (cluster, source) in parsed {
        let files = &files_by_name[&cluster.name];
        if files.len() < 2 {
            kept.push((cluster, source));
            continue;
        }
        let message = if files[0] == cluster.file {
            format!("cluster name `{}` is also used by {}", cluster.name, files[1..].join(", "))
        } else {
            format!("cluster name `{}` is already used by {}", cluster.name, files[0])
        };
        let problem = Diagnostic::new(&cluster.file, message)
            .at(locate(&source.text, &[Segment::Key("name")]))
            .field("name")
            .hint("every cluster needs its own name; rename one of the two");
        blocked.push(BlockedCluster {
            file: cluster.file.clone(),
            dir: cluster.dir.clone(),
            name: Some(cluster.name.clone()),
            problems: vec![problem],
            files: cluster_files(&cluster),
        });
    }
    (kept, blocked)
}

/// A valid cluster's file and every values file it lists, without repeats.
fn cluster_files(cluster: &Cluster) -> Vec<String> {
    let mut files = vec![cluster.file.clone()];
    let support = cluster.support.iter().flat_map(|s| s.values_files.iter());
    for values in support.chain(cluster.hubs.iter().flat_map(|h| h.values_files.iter())) {
        if !files.contains(&values.path) {
            files.push(values.path.clone());
        }
    }
    files
}

/// The `blocked-clusters` output: each blocked cluster's [`BlockedCluster::label`], sorted, without repeats.
pub fn labels(blocked: &[BlockedCluster]) -> Vec<String> {
    let mut labels: Vec<String> = blocked.iter().map(|b| b.label().to_owned()).collect();
    labels.sort();
    labels.dedup();
    labels
}

/// Every blocked cluster's problems, in order.
pub fn problems(blocked: &[BlockedCluster]) -> Vec<Diagnostic> {
    blocked.iter().flat_map(|b| b.problems.iter().cloned()).collect()
}

/// A blocked cluster for the unit tests of this module and of the ones that decide and show
/// what a run does about it.
#[cfg(test)]
pub(crate) mod fixture {
    use super::BlockedCluster;
    use crate::base::diagnostic::Diagnostic;

    pub(crate) const A: &str = "config/clusters/a/cluster.yaml";

    pub(crate) fn blocked_a() -> BlockedCluster {
        let text = "name: a\nprovider: gcp\nsupport:\n  helm_chart_values_files: [support.values.yaml]\nhubs:\n  - name: staging\n    helm_chart_values_files: [../common.values.yaml, missing.values.yaml, ../../../../out.yaml]\n";
        BlockedCluster::from_source(A, Some(text), vec![Diagnostic::new(A, "values file missing").at(Some((7, 5)))])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::cluster::{parse_cluster, RepoFacts};

    use super::fixture::{blocked_a, A};

    #[test]
    fn reads_name_and_listed_files_leniently() {
        let blocked = blocked_a();
        assert_eq!(blocked.name.as_deref(), Some("a"));
        assert_eq!(blocked.dir, "config/clusters/a");
        assert_eq!(
            blocked.files,
            [
                A,
                "config/clusters/a/support.values.yaml",
                "config/clusters/common.values.yaml",
                "config/clusters/a/missing.values.yaml"
            ]
        );
        let cases: &[(Option<&str>, Option<&str>, &str)] = &[
            (None, None, "a"),
            (Some("provider: gcp\n"), None, "a"),
            (Some("name: Not_Valid\n"), None, "a"),
            (Some("name: [unclosed\n"), None, "a"),
            (Some("name: b.c-1\nhubs: 3\n"), Some("b.c-1"), "b.c-1"),
        ];
        for (text, name, label) in cases {
            let blocked = BlockedCluster::from_source(A, *text, Vec::new());
            assert_eq!(blocked.name.as_deref(), *name, "{text:?}");
            assert_eq!(blocked.label(), *label, "{text:?}");
            assert_eq!(blocked.files, [A], "{text:?}");
        }
        assert_eq!(BlockedCluster::from_source("cluster.yaml", None, Vec::new()).label(), "cluster.yaml");
    }

    #[test]
    fn touched_by_its_files_and_folder() {
        let blocked = blocked_a();
        let cases = [
            (A, true),
            ("config/clusters/a/hub.values.yaml", true),
            ("config/clusters/a/deep/x", true),
            ("config/clusters/common.values.yaml", true),
            ("config/clusters/a", false),
            ("config/clusters/ab/cluster.yaml", false),
            ("config/clusters/b/hub.values.yaml", false),
            ("helm-charts/basehub/values.yaml", false),
        ];
        for (path, expected) in cases {
            assert_eq!(blocked.touched_by(path), expected, "{path}");
        }
    }

    #[test]
    fn duplicate_names_block_every_file_using_them() {
        let source = |file: &str, text: &str| ClusterSource { file: file.into(), text: text.into() };
        let sources = [
            source(
                "config/clusters/a/cluster.yaml",
                "name: same\nprovider: gcp\nsupport:\n  helm_chart_values_files: [support.values.yaml, ../common.values.yaml]\n\
                 hubs:\n  - name: staging\n    domain: s.example.org\n    helm_chart: basehub\n\
                 \x20   helm_chart_values_files: [../common.values.yaml, staging.values.yaml]\n",
            ),
            source("config/clusters/b/cluster.yaml", "# second\nname: same\nprovider: aws\n"),
            source("config/clusters/c/cluster.yaml", "name: c\nprovider: aws\n"),
            source("config/clusters/d/cluster.yaml", "name: same\nprovider: aws\n"),
        ];
        let facts = RepoFacts { file_check: &|_| Ok(()), chart_exists: &|_| true, charts: &[], submodules: &[] };
        let parsed = sources.iter().map(|s| (parse_cluster(s, &facts, false).unwrap().cluster, s)).collect();
        let (kept, blocked) = split_duplicate_names(parsed);
        assert_eq!(kept.iter().map(|(c, _)| c.name.as_str()).collect::<Vec<_>>(), ["c"]);
        let lines: Vec<String> =
            problems(&blocked).iter().map(|p| p.to_string().lines().next().unwrap().to_owned()).collect();
        assert_eq!(
            lines,
            [
                "config/clusters/a/cluster.yaml:1:7: name: cluster name `same` is also used by config/clusters/b/cluster.yaml, config/clusters/d/cluster.yaml",
                "config/clusters/b/cluster.yaml:2:7: name: cluster name `same` is already used by config/clusters/a/cluster.yaml",
                "config/clusters/d/cluster.yaml:1:7: name: cluster name `same` is already used by config/clusters/a/cluster.yaml",
            ]
        );
        assert_eq!(labels(&blocked), ["same"]);
        // Each keeps its file and every values file it lists, once: a change to any of them is its.
        assert_eq!(
            blocked[0].files,
            [
                "config/clusters/a/cluster.yaml",
                "config/clusters/a/support.values.yaml",
                "config/clusters/common.values.yaml",
                "config/clusters/a/staging.values.yaml",
            ]
        );
        assert_eq!(blocked[1].files, ["config/clusters/b/cluster.yaml"]);
    }
}
