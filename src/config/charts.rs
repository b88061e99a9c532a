//! Chart inputs: the chart folders a hub or support chart is built from.
//!
//! A chart's inputs are its own folder and, transitively, every folder its
//! `Chart.yaml` names through a `file://` dependency. Only the charts the
//! estate uses (each hub's `helm_chart`, and `support` when a cluster has a
//! support chart) and what they reach are read. Pure: reading a `Chart.yaml`
//! is a function passed in ([`super::load::load_chart_inputs`] is the I/O edge).

use std::collections::{BTreeMap, BTreeSet, HashSet, VecDeque};

use serde::Deserialize;

use super::locate::{display_path, locate, Segment};
use super::{yaml, Estate, CHARTS_DIR};
use crate::base::diagnostic::Diagnostic;
use crate::base::error::Error;
use crate::base::repo_path;

/// The chart folder of the support chart, under [`CHARTS_DIR`].
pub const SUPPORT_CHART: &str = "support";
/// A chart's manifest file name.
pub const CHART_FILE: &str = "Chart.yaml";
/// The repository prefix of a dependency inside the repository.
pub const FILE_SCHEME: &str = "file://";

/// One entry of a `Chart.yaml`'s `dependencies` list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChartDependency {
    pub name: Option<String>,
    pub version: Option<String>,
    pub source: DependencySource,
}

/// Where a dependency comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DependencySource {
    /// `file://<path>`: a chart folder of this repository; the path as written after `file://`.
    File(String),
    /// Any other repository (`https://`, `oci://`, `@alias`, a repository name): fetched by Helm, not an input.
    Remote(String),
    /// No `repository` given.
    Unspecified,
}

/// The parts of a `Chart.yaml` the planner reads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChartManifest {
    pub dependencies: Vec<ChartDependency>,
}

#[derive(Deserialize)]
struct RawChart {
    #[serde(default)]
    dependencies: Option<Vec<RawDependency>>,
}

#[derive(Deserialize)]
struct RawDependency {
    #[serde(default, deserialize_with = "scalar_text")]
    name: Option<String>,
    #[serde(default, deserialize_with = "scalar_text")]
    version: Option<String>,
    #[serde(default)]
    repository: Option<String>,
}

/// Accepts any scalar (`version: 1.2` is common) as text.
fn scalar_text<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Scalar {
        Text(String),
        Integer(i64),
        Float(f64),
        Bool(bool),
    }
    Ok(Option::<Scalar>::deserialize(deserializer)?.map(|value| match value {
        Scalar::Text(text) => text,
        Scalar::Integer(number) => number.to_string(),
        Scalar::Float(number) => number.to_string(),
        Scalar::Bool(flag) => flag.to_string(),
    }))
}

/// Parses the text of a `Chart.yaml` (`file` is its repository-relative path, for diagnostics).
pub fn parse_manifest(file: &str, text: &str) -> Result<ChartManifest, Vec<Diagnostic>> {
    let raw: RawChart = yaml::parse(file, text)?;
    let dependencies = raw
        .dependencies
        .unwrap_or_default()
        .into_iter()
        .map(|dependency| ChartDependency {
            name: dependency.name,
            version: dependency.version,
            source: match dependency.repository {
                None => DependencySource::Unspecified,
                Some(repository) => match repository.strip_prefix(FILE_SCHEME) {
                    Some(path) => DependencySource::File(path.to_owned()),
                    None if repository.trim().is_empty() => DependencySource::Unspecified,
                    None => DependencySource::Remote(repository),
                },
            },
        })
        .collect();
    Ok(ChartManifest { dependencies })
}

/// Resolves the path of a `file://` dependency against the folder of the chart naming it, lexically.
/// `Err` carries the resolved path when it leaves the repository.
pub fn resolve_file_dependency(chart_folder: &str, path: &str) -> Result<String, String> {
    if path.starts_with('/') {
        return Err(repo_path::normalize(path));
    }
    let resolved = repo_path::join(chart_folder, path);
    if repo_path::is_inside_repo(&resolved) {
        Ok(resolved)
    } else {
        Err(resolved)
    }
}

/// `helm-charts/<name>`: the folder of a chart named in `cluster.yaml`.
pub fn chart_folder(name: &str) -> String {
    format!("{CHARTS_DIR}/{name}")
}

/// How a chart folder is named in reasons and chains: its name under `helm-charts/`, else its path.
pub fn chart_label(folder: &str) -> &str {
    folder
        .strip_prefix(CHARTS_DIR)
        .and_then(|rest| rest.strip_prefix('/'))
        .filter(|rest| !rest.is_empty())
        .unwrap_or(folder)
}

/// The charts the estate deploys, by name: every hub's `helm_chart`, and `support` when a cluster has a support chart.
pub fn used_charts(estate: &Estate) -> BTreeSet<String> {
    let mut used: BTreeSet<String> =
        estate.clusters.iter().flat_map(|c| c.hubs.iter().map(|h| h.helm_chart.clone())).collect();
    if estate.clusters.iter().any(|c| c.support.is_some()) {
        used.insert(SUPPORT_CHART.to_owned());
    }
    used
}

/// One folder among a chart's inputs, and how the chart reaches it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChartInput {
    /// Repository-relative chart folder.
    pub folder: String,
    /// Chart labels from the chart itself to this folder: `[daskhub, basehub]`; just `[daskhub]` for its own folder.
    pub chain: Vec<String>,
}

impl ChartInput {
    /// The chain as `daskhub -> basehub`.
    pub fn chain_text(&self) -> String {
        self.chain.join(" -> ")
    }

    /// Why the chart is upgraded when this folder changed: `Helm chart binderhub was modified`, or
    /// `Helm chart support depends on aws-ce-grafana-backend, which was modified`; a longer chain names
    /// every step after the chart: `Helm chart daskhub depends on basehub -> common-lib, which was modified`.
    pub fn reason(&self) -> String {
        match self.chain.split_first() {
            Some((chart, [])) => format!("Helm chart {chart} was modified"),
            Some((chart, rest)) => format!("Helm chart {chart} depends on {}, which was modified", rest.join(" -> ")),
            None => format!("Helm chart {} was modified", chart_label(&self.folder)),
        }
    }
}

/// Every used chart's inputs: its own folder first, then its `file://` dependencies, nearest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChartInputs {
    closures: BTreeMap<String, Vec<ChartInput>>,
    /// Every entry of every dependency file of every folder read, by folder.
    dependencies: BTreeMap<String, Vec<FoundDependency>>,
    /// The inputs of each hub chart with a `chart_override`, by its key ([`super::Hub::chart_key`]):
    /// read as the chart is, with the override's text in place of the `Chart.yaml` it replaces.
    overrides: BTreeMap<String, ChartInputs>,
    /// Every `.jsonnet` values file rendered → the files its render may read
    /// ([`crate::config::jsonnet::input_files`]).
    jsonnet: BTreeMap<String, Vec<String>>,
}

impl ChartInputs {
    /// The inputs of the chart `name` (as `helm_chart` names it); empty for a chart that was not loaded.
    pub fn inputs(&self, name: &str) -> &[ChartInput] {
        match self.overrides.get(name) {
            Some(overridden) => overridden.inputs(name),
            None => self.closures.get(name).map_or(&[], Vec::as_slice),
        }
    }

    /// The entries of the dependency files of `folder` as the chart `name` (a chart key) sees them:
    /// with a `chart_override`, the override's in place of the `Chart.yaml` it replaces.
    pub fn dependencies_of(&self, name: &str, folder: &str) -> &[FoundDependency] {
        match self.overrides.get(name) {
            Some(overridden) => overridden.dependencies(folder),
            None => self.dependencies(folder),
        }
    }

    /// Adds the inputs of a chart key computed with a `chart_override` ([`chart_inputs_overridden`]).
    pub fn add_override(&mut self, key: String, inputs: ChartInputs) {
        self.overrides.insert(key, inputs);
    }

    /// The entries of the dependency files ([`DEPENDENCY_FILES`]) of the chart folder `folder`.
    pub fn dependencies(&self, folder: &str) -> &[FoundDependency] {
        self.dependencies.get(folder).map_or(&[], Vec::as_slice)
    }

    /// The entries naming a chart repository (`https://`, `oci://`, `@alias`, a name) anywhere
    /// among the inputs of the chart `name`.
    pub fn remote_dependencies(&self, name: &str) -> Vec<&FoundDependency> {
        self.inputs(name)
            .iter()
            .flat_map(|input| self.dependencies_of(name, &input.folder))
            .filter(|d| matches!(d.source, DependencySource::Remote(_)))
            .collect()
    }

    /// The charts, by name, whose inputs include a changed folder, each with its reason: the first
    /// changed input in input order (its own folder first, then the nearest dependency).
    pub fn modified_charts(&self, changed_paths: &[String]) -> BTreeMap<&str, String> {
        let touched = touched_folders(changed_paths.iter().map(String::as_str));
        self.closures
            .iter()
            .chain(self.overrides.values().flat_map(|overridden| overridden.closures.iter()))
            .filter_map(|(name, inputs)| {
                inputs
                    .iter()
                    .find(|input| touched.contains(input.folder.as_str()))
                    .map(|input| (name.as_str(), input.reason()))
            })
            .collect()
    }

    /// Records a `.jsonnet` values file and the files its render reads.
    pub fn add_jsonnet(&mut self, file: &str, inputs: Vec<String>) {
        self.jsonnet.insert(file.to_owned(), inputs);
    }

    /// The files the render of the `.jsonnet` file `file` reads (itself first); empty when not recorded.
    pub fn jsonnet_inputs(&self, file: &str) -> &[String] {
        self.jsonnet.get(file).map_or(&[], Vec::as_slice)
    }

    /// The charts whose inputs hold `path`, with the input that holds it: for `deployer explain`.
    pub fn dependents(&self, path: &str) -> Vec<(&str, &ChartInput)> {
        let touched = touched_folders([path]);
        self.closures
            .iter()
            .chain(self.overrides.values().flat_map(|overridden| overridden.closures.iter()))
            .filter_map(|(name, inputs)| {
                inputs.iter().find(|input| touched.contains(input.folder.as_str())).map(|input| (name.as_str(), input))
            })
            .collect()
    }
}

/// Every changed path and every folder above it.
fn touched_folders<'a>(changed_paths: impl IntoIterator<Item = &'a str>) -> HashSet<&'a str> {
    let mut touched = HashSet::new();
    for path in changed_paths {
        let mut current = path;
        while !current.is_empty() && touched.insert(current) {
            current = repo_path::parent(current);
        }
    }
    touched
}

/// The files of a chart folder whose `dependencies:` helm reads: `Chart.yaml`, the legacy
/// `requirements.yaml` (whose list replaces the one in `Chart.yaml` when present), and the lock
/// files `helm dependency build` fetches from. Every entry of every one of them is checked alike.
pub const DEPENDENCY_FILES: [&str; 4] = [CHART_FILE, "requirements.yaml", "Chart.lock", "requirements.lock"];

/// One `dependencies` entry of one of a folder's [`DEPENDENCY_FILES`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundDependency {
    /// Repository-relative path of the file listing it.
    pub file: String,
    /// Its index in that file's `dependencies` list.
    pub index: usize,
    /// Its `name`, as written.
    pub name: Option<String>,
    pub version: Option<String>,
    pub source: DependencySource,
}

/// A chart folder read while building the graph.
struct Node {
    /// Its dependency files that exist and were read: (repository-relative path, text).
    files: Vec<(String, String)>,
    /// False when the folder has no `Chart.yaml`.
    exists: bool,
    /// Resolved `file://` dependencies, from any of its dependency files.
    edges: Vec<Edge>,
    /// Every entry of its dependency files.
    dependencies: Vec<FoundDependency>,
}

/// A `file://` dependency: which file (index in [`Node::files`]), which entry, which folder.
struct Edge {
    file: usize,
    index: usize,
    target: String,
}

impl Node {
    fn file(&self, edge: &Edge) -> (&str, &str) {
        self.files.get(edge.file).map_or(("", ""), |(file, text)| (file.as_str(), text.as_str()))
    }
}

/// Reads the `Chart.yaml` files the used charts reach and computes each one's inputs.
///
/// `read` gets a repository-relative `Chart.yaml` path and returns its text, `None` when there is no
/// such file, or an error (a [`Error::Config`] is collected with the other problems). A used chart with
/// no `Chart.yaml` has only its own folder as input. A `file://` dependency that leaves the repository,
/// names a folder with no `Chart.yaml`, or closes a cycle is an error at its `Chart.yaml` line. The
/// same holds for the entries of a folder's `requirements.yaml`, `Chart.lock` and `requirements.lock`
/// ([`DEPENDENCY_FILES`]): helm reads them too, so their `file://` folders are inputs as well.
pub fn chart_inputs(
    used: &BTreeSet<String>,
    read: &mut dyn FnMut(&str) -> Result<Option<String>, Error>,
) -> Result<ChartInputs, Error> {
    chart_inputs_at(used.iter().map(|name| (name.clone(), chart_folder(name))).collect(), read)
}

/// [`chart_inputs`] of charts given as (name, repository-relative folder), such as the deploy's chart paths.
pub fn chart_inputs_at(
    roots: Vec<(String, String)>,
    read: &mut dyn FnMut(&str) -> Result<Option<String>, Error>,
) -> Result<ChartInputs, Error> {
    graph(roots, None, read)
}

/// The inputs of the chart `chart` for a hub with `chart_override`, under the key `key`: the
/// override file (repository-relative) read in place of the `Chart.yaml` of `replaces`'s folder,
/// its entries checked by the same rules (a `file://` path is relative to that folder).
pub fn chart_inputs_overridden(
    key: &str,
    chart: &str,
    replaces: &str,
    override_file: &str,
    read: &mut dyn FnMut(&str) -> Result<Option<String>, Error>,
) -> Result<ChartInputs, Error> {
    let folder = chart_folder(replaces);
    graph(vec![(key.to_owned(), chart_folder(chart))], Some((&folder, override_file)), read)
}

/// The graph from `roots`; `substitute` (folder, file): that file is read as the folder's `Chart.yaml`.
fn graph(
    roots: Vec<(String, String)>,
    substitute: Option<(&str, &str)>,
    read: &mut dyn FnMut(&str) -> Result<Option<String>, Error>,
) -> Result<ChartInputs, Error> {
    let mut problems: Vec<Diagnostic> = Vec::new();
    let mut nodes: BTreeMap<String, Node> = BTreeMap::new();

    // Read every reachable chart, breadth first from the used charts in name order.
    let mut queue: VecDeque<String> = roots.iter().map(|(_, folder)| folder.clone()).collect();
    while let Some(folder) = queue.pop_front() {
        if nodes.contains_key(&folder) {
            continue;
        }
        let mut node = Node { files: Vec::new(), exists: false, edges: Vec::new(), dependencies: Vec::new() };
        for name in DEPENDENCY_FILES {
            let file = match substitute {
                Some((replaced, file)) if name == CHART_FILE && replaced == folder => file.to_owned(),
                _ => format!("{folder}/{name}"),
            };
            let text = match read(&file) {
                Ok(text) => {
                    if name == CHART_FILE {
                        node.exists = text.is_some();
                    }
                    text
                }
                Err(Error::Config(mut found)) => {
                    if name == CHART_FILE {
                        node.exists = true;
                    }
                    problems.append(&mut found);
                    None
                }
                Err(error) => return Err(error),
            };
            let Some(text) = text else { continue };
            match parse_manifest(&file, &text) {
                Ok(manifest) => {
                    for (index, dependency) in manifest.dependencies.into_iter().enumerate() {
                        if let DependencySource::File(path) = &dependency.source {
                            match resolve_file_dependency(&folder, path) {
                                Ok(target) => {
                                    queue.push_back(target.clone());
                                    node.edges.push(Edge { file: node.files.len(), index, target });
                                }
                                Err(resolved) => problems.push(entry_problem(
                                    &file,
                                    &text,
                                    index,
                                    format!("`{FILE_SCHEME}{path}` leaves the repository (resolves to `{resolved}`)"),
                                    "a file:// dependency is relative to the chart's folder and must stay inside the repository",
                                )),
                            }
                        }
                        node.dependencies.push(FoundDependency {
                            file: file.clone(),
                            index,
                            name: dependency.name,
                            version: dependency.version,
                            source: dependency.source,
                        });
                    }
                }
                Err(mut found) => problems.append(&mut found),
            }
            node.files.push((file, text));
        }
        nodes.insert(folder, node);
    }

    // A dependency must be a chart: its folder needs a Chart.yaml.
    for node in nodes.values() {
        for edge in &node.edges {
            if nodes.get(&edge.target).is_some_and(|t| !t.exists) {
                let (file, text) = node.file(edge);
                problems.push(entry_problem(
                    file,
                    text,
                    edge.index,
                    format!("dependency folder `{}` has no {CHART_FILE}", edge.target),
                    "a file:// dependency is relative to the chart's folder; fix the path or add the chart",
                ));
            }
        }
    }

    find_cycles(&roots, &nodes, &mut problems);
    if !problems.is_empty() {
        return Err(Error::Config(problems));
    }

    let closures: BTreeMap<String, Vec<ChartInput>> = roots
        .into_iter()
        .map(|(name, folder)| {
            let inputs = closure(&folder, &nodes);
            (name, inputs)
        })
        .collect();
    let dependencies = nodes.into_iter().map(|(folder, node)| (folder, node.dependencies)).collect();
    Ok(ChartInputs { closures, dependencies, ..ChartInputs::default() })
}

fn entry_problem(file: &str, text: &str, index: usize, message: String, hint: &str) -> Diagnostic {
    let path = [Segment::Key("dependencies"), Segment::Index(index), Segment::Key("repository")];
    Diagnostic::new(file, message).at(locate(text, &path)).field(display_path(&path)).hint(hint)
}

/// Depth-first from each used chart in name order, dependencies in listed order: every edge back to a
/// chart on the current path closes a cycle, reported at that edge's `Chart.yaml` entry.
fn find_cycles(roots: &[(String, String)], nodes: &BTreeMap<String, Node>, problems: &mut Vec<Diagnostic>) {
    let mut done: HashSet<&str> = HashSet::new();
    for (_, root) in roots {
        if done.contains(root.as_str()) {
            continue;
        }
        // The current path: (folder, next edge to follow).
        let mut path: Vec<(&str, usize)> = vec![(root.as_str(), 0)];
        while let Some((folder, next)) = path.last().copied() {
            let node = nodes.get(folder);
            let edge = node.and_then(|node| node.edges.get(next));
            let Some(Edge { index, target, .. }) = edge else {
                done.insert(folder);
                path.pop();
                continue;
            };
            if let Some(last) = path.last_mut() {
                last.1 += 1;
            }
            if let Some(start) = path.iter().position(|(on_path, _)| *on_path == target.as_str()) {
                let mut cycle: Vec<&str> = path[start..].iter().map(|(f, _)| chart_label(f)).collect();
                cycle.push(chart_label(target));
                let (file, text) = match (node, edge) {
                    (Some(node), Some(edge)) => node.file(edge),
                    _ => ("", ""),
                };
                problems.push(entry_problem(
                    file,
                    text,
                    *index,
                    format!("dependency cycle: {}", cycle.join(" -> ")),
                    "charts cannot depend on themselves, directly or through other charts; remove one file:// dependency",
                ));
            } else if !done.contains(target.as_str()) {
                path.push((target.as_str(), 0));
            }
        }
    }
}

/// Breadth-first from `root`: each reachable folder once, with the first (shortest) chain to it.
fn closure(root: &str, nodes: &BTreeMap<String, Node>) -> Vec<ChartInput> {
    let mut inputs = vec![ChartInput { folder: root.to_owned(), chain: vec![chart_label(root).to_owned()] }];
    let mut seen: HashSet<&str> = HashSet::from([root]);
    let mut next = 0;
    while let Some(current) = inputs.get(next).cloned() {
        next += 1;
        let Some(node) = nodes.get(&current.folder) else { continue };
        for Edge { target, .. } in &node.edges {
            if seen.insert(target.as_str()) {
                let mut chain = current.chain.clone();
                chain.push(chart_label(target).to_owned());
                inputs.push(ChartInput { folder: target.clone(), chain });
            }
        }
    }
    inputs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_dependencies() {
        let text = "apiVersion: v2\nname: basehub\nversion: 1.0.0\ndependencies:\n  - name: jupyterhub\n    version: 4.1.0\n    repository: https://hub.jupyter.org/helm-chart/\n  - name: common\n    version: 0.1\n    repository: file://../common-lib\n  - name: bitnami\n    repository: '@bitnami'\n  - name: x\n    repository: oci://registry/x\n  - name: y\n";
        let manifest = parse_manifest("helm-charts/basehub/Chart.yaml", text).unwrap();
        let sources: Vec<&DependencySource> = manifest.dependencies.iter().map(|d| &d.source).collect();
        assert_eq!(
            sources,
            [
                &DependencySource::Remote("https://hub.jupyter.org/helm-chart/".into()),
                &DependencySource::File("../common-lib".into()),
                &DependencySource::Remote("@bitnami".into()),
                &DependencySource::Remote("oci://registry/x".into()),
                &DependencySource::Unspecified,
            ]
        );
        assert_eq!(manifest.dependencies[1].version.as_deref(), Some("0.1"));
        assert_eq!(manifest.dependencies[1].name.as_deref(), Some("common"));

        let cases = [
            ("name: a\n", 0),
            ("name: a\ndependencies:\n", 0),
            ("name: a\ndependencies: []\n", 0),
            ("name: a\nunknown: {x: 1}\ndependencies:\n  - {name: b, repository: 'file://../b', alias: bb, condition: b.enabled}\n", 1),
        ];
        for (text, count) in cases {
            assert_eq!(parse_manifest("c/Chart.yaml", text).unwrap().dependencies.len(), count, "{text:?}");
        }
    }

    #[test]
    fn bad_manifests_are_located() {
        let cases = [
            (
                "name: a\ndependencies: nope\n",
                "c/Chart.yaml:2:15: dependencies: invalid type: string, expected a sequence",
            ),
            (
                "name: a\ndependencies:\n  - repository: [x]\n",
                "c/Chart.yaml:3:17: dependencies[0].repository: invalid type: sequence, expected a string",
            ),
            ("", "c/Chart.yaml:1:1: the file is empty"),
        ];
        for (text, expected) in cases {
            let problems = parse_manifest("c/Chart.yaml", text).unwrap_err();
            assert_eq!(problems[0].to_string().lines().next().unwrap(), expected, "{text:?}");
        }
    }

    #[test]
    fn resolves_file_dependencies() {
        let cases: &[(&str, &str, Result<&str, &str>)] = &[
            ("helm-charts/support", "../aws-ce-grafana-backend", Ok("helm-charts/aws-ce-grafana-backend")),
            ("helm-charts/support", "./sub/chart", Ok("helm-charts/support/sub/chart")),
            ("helm-charts/support", "../../shared/lib/", Ok("shared/lib")),
            ("helm-charts/support", ".", Ok("helm-charts/support")),
            ("helm-charts/support", "../../..", Err("..")),
            ("helm-charts/support", "../..", Err("")),
            ("helm-charts/support", "../../../etc", Err("../etc")),
            ("helm-charts/support", "/etc/charts", Err("/etc/charts")),
        ];
        for (folder, path, expected) in cases {
            let got = resolve_file_dependency(folder, path);
            assert_eq!(got.as_deref().map_err(String::as_str), *expected, "{folder} + {path}");
        }
    }

    #[test]
    fn labels_and_reasons() {
        assert_eq!(chart_label("helm-charts/basehub"), "basehub");
        assert_eq!(chart_label("shared/lib"), "shared/lib");
        assert_eq!(chart_label("helm-charts"), "helm-charts");
        let input =
            |chain: &[&str]| ChartInput { folder: "f".into(), chain: chain.iter().map(|s| (*s).to_owned()).collect() };
        let cases = [
            (input(&["binderhub"]), "Helm chart binderhub was modified"),
            (
                input(&["support", "aws-ce-grafana-backend"]),
                "Helm chart support depends on aws-ce-grafana-backend, which was modified",
            ),
            (
                input(&["daskhub", "basehub", "common-lib"]),
                "Helm chart daskhub depends on basehub -> common-lib, which was modified",
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(input.reason(), expected);
        }
        assert_eq!(input(&["daskhub", "basehub"]).chain_text(), "daskhub -> basehub");
    }

    /// A fake repository of `Chart.yaml` texts by chart folder; records what was read.
    struct Repo {
        charts: BTreeMap<String, String>,
        read: Vec<String>,
    }

    impl Repo {
        fn new(charts: &[(&str, &str)]) -> Self {
            Repo {
                charts: charts
                    .iter()
                    .map(|(folder, text)| (format!("{folder}/Chart.yaml"), (*text).to_owned()))
                    .collect(),
                read: Vec::new(),
            }
        }

        fn inputs(&mut self, used: &[&str]) -> Result<ChartInputs, Error> {
            let used: BTreeSet<String> = used.iter().map(|s| (*s).to_owned()).collect();
            chart_inputs(&used, &mut |file: &str| {
                self.read.push(file.to_owned());
                Ok(self.charts.get(file).cloned())
            })
        }
    }

    /// (chart, text) or (chart folder, reason) pairs.
    type Pairs<'a> = &'a [(&'a str, &'a str)];

    fn deps(paths: &[&str]) -> String {
        let mut text = String::from("apiVersion: v2\nname: x\ndependencies:\n");
        for (index, path) in paths.iter().enumerate() {
            text.push_str(&format!("  - name: d{index}\n    version: 1.0.0\n    repository: {path}\n"));
        }
        text
    }

    fn chains(inputs: &ChartInputs, chart: &str) -> Vec<String> {
        inputs.inputs(chart).iter().map(ChartInput::chain_text).collect()
    }

    #[test]
    fn closures_are_transitive_breadth_first_and_deterministic() {
        let mut repo = Repo::new(&[
            (
                "helm-charts/basehub",
                &deps(&["https://example.org/charts", "file://../common-lib", "file://../../shared/lib"]),
            ),
            ("helm-charts/daskhub", &deps(&["file://../basehub", "file://../common-lib"])),
            ("helm-charts/common-lib", &deps(&[])),
            ("shared/lib", &deps(&["file://../../helm-charts/common-lib"])),
            ("helm-charts/support", &deps(&["file://../aws-ce-grafana-backend"])),
            ("helm-charts/aws-ce-grafana-backend", "name: aws-ce-grafana-backend\n"),
            ("helm-charts/unused", &deps(&["file://../nowhere"])),
        ]);
        let inputs = repo.inputs(&["daskhub", "basehub", "support", "binderhub"]).unwrap();
        assert_eq!(chains(&inputs, "basehub"), ["basehub", "basehub -> common-lib", "basehub -> shared/lib"]);
        // common-lib is reached directly, before basehub's own dependencies; shared/lib through basehub.
        assert_eq!(
            chains(&inputs, "daskhub"),
            ["daskhub", "daskhub -> basehub", "daskhub -> common-lib", "daskhub -> basehub -> shared/lib"]
        );
        assert_eq!(chains(&inputs, "support"), ["support", "support -> aws-ce-grafana-backend"]);
        // A used chart without Chart.yaml (the cluster check reports it) is its own folder only.
        assert_eq!(chains(&inputs, "binderhub"), ["binderhub"]);
        assert_eq!(inputs.inputs("binderhub")[0].folder, "helm-charts/binderhub");
        assert!(inputs.inputs("unused").is_empty());
        // Only reachable charts are read, each once (with their other dependency files).
        let mut read = repo.read.clone();
        assert_eq!(read.len(), 7 * DEPENDENCY_FILES.len());
        read.retain(|file| file.ends_with("/Chart.yaml"));
        read.sort();
        let expected = [
            "helm-charts/aws-ce-grafana-backend/Chart.yaml",
            "helm-charts/basehub/Chart.yaml",
            "helm-charts/binderhub/Chart.yaml",
            "helm-charts/common-lib/Chart.yaml",
            "helm-charts/daskhub/Chart.yaml",
            "helm-charts/support/Chart.yaml",
            "shared/lib/Chart.yaml",
        ];
        assert_eq!(read, expected);
    }

    #[test]
    fn modified_charts_name_the_first_changed_input() {
        let mut repo = Repo::new(&[
            ("helm-charts/basehub", &deps(&["file://../common-lib"])),
            ("helm-charts/daskhub", &deps(&["file://../basehub"])),
            ("helm-charts/common-lib", &deps(&[])),
            ("helm-charts/support", &deps(&["file://../aws-ce-grafana-backend"])),
            ("helm-charts/aws-ce-grafana-backend", &deps(&[])),
        ]);
        let inputs = repo.inputs(&["basehub", "daskhub", "support"]).unwrap();
        let cases: &[(&[&str], Pairs<'_>)] = &[
            (
                &["helm-charts/common-lib/templates/_x.tpl"],
                &[
                    ("basehub", "Helm chart basehub depends on common-lib, which was modified"),
                    ("daskhub", "Helm chart daskhub depends on basehub -> common-lib, which was modified"),
                ],
            ),
            (
                &["helm-charts/basehub/values.yaml", "helm-charts/common-lib/x"],
                &[
                    ("basehub", "Helm chart basehub was modified"),
                    ("daskhub", "Helm chart daskhub depends on basehub, which was modified"),
                ],
            ),
            (
                &["helm-charts/aws-ce-grafana-backend/Chart.yaml"],
                &[("support", "Helm chart support depends on aws-ce-grafana-backend, which was modified")],
            ),
            (&["helm-charts/daskhub"], &[("daskhub", "Helm chart daskhub was modified")]),
            // Prefixes of a folder name, the charts root and other folders are not inputs.
            (
                &[
                    "helm-charts/basehubx/a",
                    "helm-charts/README.md",
                    "helm-charts/images/x",
                    "docs/helm-charts/basehub/x",
                ],
                &[],
            ),
        ];
        for (paths, expected) in cases {
            let paths: Vec<String> = paths.iter().map(|p| (*p).to_owned()).collect();
            let got: Vec<(&str, String)> = inputs.modified_charts(&paths).into_iter().collect();
            let expected: Vec<(&str, String)> = expected.iter().map(|(c, r)| (*c, (*r).to_owned())).collect();
            assert_eq!(got, expected, "{paths:?}");
        }
        let dependents: Vec<(&str, String)> = inputs
            .dependents("helm-charts/basehub/values.yaml")
            .into_iter()
            .map(|(c, i)| (c, i.chain_text()))
            .collect();
        assert_eq!(dependents, [("basehub", "basehub".to_owned()), ("daskhub", "daskhub -> basehub".to_owned())]);
    }

    fn problems(repo: &mut Repo, used: &[&str]) -> Vec<String> {
        match repo.inputs(used) {
            Err(Error::Config(problems)) => {
                problems.iter().map(|p| p.to_string().lines().next().unwrap_or_default().to_owned()).collect()
            }
            other => panic!("expected config problems, got {other:?}"),
        }
    }

    #[test]
    fn cycles_are_errors_at_the_closing_entry() {
        let cases: &[(Pairs<'_>, &[&str], &[&str])] = &[
            (
                &[("helm-charts/basehub", &deps(&["https://x", "file://../common-lib"])), ("helm-charts/common-lib", &deps(&["file://../basehub"]))],
                &["basehub"],
                &["helm-charts/common-lib/Chart.yaml:6:17: dependencies[0].repository: dependency cycle: basehub -> common-lib -> basehub"],
            ),
            (
                &[("helm-charts/a", &deps(&["file://."]))],
                &["a"],
                &["helm-charts/a/Chart.yaml:6:17: dependencies[0].repository: dependency cycle: a -> a"],
            ),
            (
                // Reached from two used charts, the cycle is still reported once.
                &[("helm-charts/a", &deps(&["file://../b"])), ("helm-charts/b", &deps(&["file://../c"])), ("helm-charts/c", &deps(&["file://../b"])), ("helm-charts/d", &deps(&["file://../c"]))],
                &["a", "d"],
                &["helm-charts/c/Chart.yaml:6:17: dependencies[0].repository: dependency cycle: b -> c -> b"],
            ),
        ];
        for (charts, used, expected) in cases {
            assert_eq!(problems(&mut Repo::new(charts), used), *expected);
        }
        // A shared dependency (a diamond) is not a cycle.
        let mut diamond = Repo::new(&[
            ("helm-charts/a", &deps(&["file://../b", "file://../c"])),
            ("helm-charts/b", &deps(&["file://../d"])),
            ("helm-charts/c", &deps(&["file://../d"])),
            ("helm-charts/d", &deps(&[])),
        ]);
        assert_eq!(chains(&diamond.inputs(&["a"]).unwrap(), "a"), ["a", "a -> b", "a -> c", "a -> b -> d"]);
    }

    #[test]
    fn missing_and_outside_dependencies_are_errors_at_their_entry() {
        let mut repo = Repo::new(&[
            (
                "helm-charts/basehub",
                &deps(&["file://../nope", "file://../../../outside", "file:///abs", "file://../ok"]),
            ),
            ("helm-charts/ok", "name: ok\n"),
            ("helm-charts/daskhub", "name: daskhub\ndependencies: 3\n"),
        ]);
        assert_eq!(
            problems(&mut repo, &["basehub", "daskhub"]),
            [
                "helm-charts/basehub/Chart.yaml:9:17: dependencies[1].repository: `file://../../../outside` leaves the repository (resolves to `../outside`)",
                "helm-charts/basehub/Chart.yaml:12:17: dependencies[2].repository: `file:///abs` leaves the repository (resolves to `/abs`)",
                "helm-charts/daskhub/Chart.yaml:2:15: dependencies: invalid type: integer, expected a sequence",
                "helm-charts/basehub/Chart.yaml:6:17: dependencies[0].repository: dependency folder `helm-charts/nope` has no Chart.yaml",
            ]
        );
        // A used chart that is also a dependency must have a Chart.yaml as a dependency.
        let mut repo = Repo::new(&[("helm-charts/daskhub", &deps(&["file://../binderhub"]))]);
        assert_eq!(
            problems(&mut repo, &["binderhub", "daskhub"]),
            ["helm-charts/daskhub/Chart.yaml:6:17: dependencies[0].repository: dependency folder `helm-charts/binderhub` has no Chart.yaml"]
        );
    }

    #[test]
    fn requirements_and_lock_files_are_dependencies_too() {
        // helm reads `requirements.yaml` (its list replaces Chart.yaml's) and builds from the lock files.
        let files: BTreeMap<String, String> = [
            ("helm-charts/basehub/Chart.yaml", deps(&["file://../common"])),
            ("helm-charts/basehub/requirements.yaml", deps(&["https://charts.example.org", "file://../evil"])),
            ("helm-charts/basehub/Chart.lock", deps(&["oci://registry.example.org/x", "file:///abs/chart"])),
            ("helm-charts/common/Chart.yaml", deps(&[])),
            ("helm-charts/evil/Chart.yaml", deps(&[])),
            ("helm-charts/evil/requirements.lock", deps(&["file://../../../../outside"])),
            ("helm-charts/daskhub/Chart.yaml", deps(&[])),
            ("helm-charts/daskhub/requirements.yaml", deps(&["file://../nochart", "file://../daskhub"])),
        ]
        .into_iter()
        .map(|(file, text)| (file.to_owned(), text))
        .collect();
        let used: BTreeSet<String> = ["basehub".to_owned(), "daskhub".to_owned()].into();
        let result = chart_inputs(&used, &mut |file: &str| Ok(files.get(file).cloned()));
        let Err(Error::Config(found)) = result else { panic!("{result:?}") };
        let lines: Vec<String> = found.iter().map(|d| d.to_string().lines().next().unwrap().to_owned()).collect();
        assert_eq!(
            lines,
            [
                "helm-charts/basehub/Chart.lock:9:17: dependencies[1].repository: `file:///abs/chart` leaves the repository (resolves to `/abs/chart`)",
                "helm-charts/evil/requirements.lock:6:17: dependencies[0].repository: `file://../../../../outside` leaves the repository (resolves to `../../outside`)",
                "helm-charts/daskhub/requirements.yaml:6:17: dependencies[0].repository: dependency folder `helm-charts/nochart` has no Chart.yaml",
                "helm-charts/daskhub/requirements.yaml:9:17: dependencies[1].repository: dependency cycle: daskhub -> daskhub",
            ]
        );

        // Inside the repository, they are inputs like Chart.yaml's, and their remote entries are known.
        let mut files = files;
        files.remove("helm-charts/basehub/Chart.lock");
        files.remove("helm-charts/evil/requirements.lock");
        files.remove("helm-charts/daskhub/requirements.yaml");
        let inputs = chart_inputs(&used, &mut |file: &str| Ok(files.get(file).cloned())).unwrap();
        assert_eq!(chains(&inputs, "basehub"), ["basehub", "basehub -> common", "basehub -> evil"]);
        let remote: Vec<(&str, &DependencySource)> =
            inputs.remote_dependencies("basehub").iter().map(|d| (d.file.as_str(), &d.source)).collect();
        assert_eq!(
            remote,
            [("helm-charts/basehub/requirements.yaml", &DependencySource::Remote("https://charts.example.org".into()))]
        );
        assert_eq!(inputs.dependencies("helm-charts/basehub").len(), 3);
        assert!(inputs.remote_dependencies("daskhub").is_empty());
    }

    #[test]
    fn reader_problems_are_collected_and_io_errors_stop() {
        let used: BTreeSet<String> = ["a".to_owned(), "b".to_owned()].into();
        let result =
            chart_inputs(&used, &mut |file: &str| Err(Error::Config(vec![Diagnostic::new(file, "too large")])));
        match result {
            Err(Error::Config(problems)) => assert_eq!(problems.len(), 2 * DEPENDENCY_FILES.len()),
            other => panic!("{other:?}"),
        }
        let result = chart_inputs(&used, &mut |file: &str| Err(Error::io(file, std::io::Error::other("boom"))));
        assert!(matches!(result, Err(Error::Io { .. })));
    }
}
