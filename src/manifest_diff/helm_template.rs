//! Base and head renders of planned releases with `helm template`, compared.
//!
//! Each side (the base checkout, the head checkout) is loaded as `generate`
//! loads it. A release's render input is its chart (the chart folder and its
//! `file://` dependency folders, read whole through [`RepoRoot::read_tree`]
//! and copied into a private folder, so helm sees nothing from outside the
//! checkout), its release name and namespace, and its values files in
//! `cluster.yaml` order, each `enc-*` file replaced by its
//! [`placeholder`](super::placeholder) tree (no key is needed, no secret is
//! read). The input is hashed with the helm version into a cache key:
//!
//! - a release whose key is the same at base and head is unchanged by
//!   construction and is not rendered at all;
//! - identical inputs render once, whatever side or release needs them;
//! - `helm dependency build` runs once per chart per side, and only for a
//!   chart that something renders.
//!
//! Renders run in parallel, a worker per core, each a `helm` process with a
//! timeout and capped output. Any failure makes the release `render-failed`,
//! which deploys as planned.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ring::digest::{Context as Digest, SHA256};

use super::unified::compare_objects;
use super::{placeholder, DiffStatus, ReleaseDiff};
use crate::base::error::Error;
use crate::base::private_dir::PrivateDir;
use crate::base::repo_fs::{RepoRoot, CHART_TREE_LIMITS};
use crate::config::chart_files::check_chart_files;
use crate::config::charts::{chart_folder, DependencySource, CHART_FILE};
use crate::config::load::MAX_CHART_FILE_BYTES;
use crate::config::load::{load, load_chart_inputs, load_settings, LoadOptions};
use crate::config::ChartOverride;
use crate::config::SUPPORT_RELEASE;
use crate::config::{Estate, Settings, ValuesFile};
use crate::manifest_diff::normalise::{normalise, Manifests, NormaliseRules};
use crate::tools::chart_deps;
use crate::tools::git_tree::{read_chart_at, PinnedAt};

/// The largest values file read (sops-encrypted files are about twice their plaintext).
pub const MAX_VALUES_FILE_BYTES: u64 = 8 * 1024 * 1024;
/// The most a render may print before it is stopped and counted as failed.
pub const MAX_RENDER_BYTES: usize = 64 * 1024 * 1024;
/// Characters of helm's error output kept in a `render-failed` message.
pub const MAX_MESSAGE_CHARS: usize = 2_000;
/// A render (or dependency build) running longer than this is stopped.
pub const DEFAULT_RENDER_TIMEOUT: Duration = Duration::from_secs(300);

/// A planned release: a cluster's support chart (no hub) or a hub.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Release {
    pub cluster_name: String,
    pub hub_name: Option<String>,
    /// The chart commit the plan's job gives a hub of a rolled chart (empty: the head, as for the first
    /// wave or under the `rollout-all` label); the head side renders it. `None`: the head side's state file
    /// decides.
    pub planned_chart_commit: Option<String>,
}

impl Release {
    fn name(&self) -> &str {
        self.hub_name.as_deref().unwrap_or(SUPPORT_RELEASE)
    }

    /// `cluster/hub`, for progress lines.
    pub fn label(&self) -> String {
        format!("{}/{}", self.cluster_name, self.name())
    }
}

/// What to render and compare.
#[derive(Debug, Clone)]
pub struct RenderRequest {
    pub head: PathBuf,
    pub base: PathBuf,
    /// Settings file, relative to each checkout.
    pub config: Option<PathBuf>,
    pub releases: Vec<Release>,
    /// The helm program.
    pub helm: String,
    /// Parallel helm processes.
    pub workers: usize,
    pub timeout: Duration,
    /// The whole environment of every helm process ([`helm_env`]).
    pub helm_env: Vec<(String, String)>,
}

/// The address space a helm render (or dependency build) may reserve: the
/// kernel refuses more (`RLIMIT_AS`), and helm stops with "out of memory".
/// Go reserves about 1.2 GiB of address space before it allocates anything,
/// so this leaves helm about 800 MiB of heap (measured with helm 3.18 and
/// 4.0: a plain chart needs 45 MiB resident, a template allocating 300,000
/// strings 240 MiB; a 2,000,000-iteration `range` stops after about 5 s).
pub const MAX_RENDER_ADDRESS_SPACE: u64 = 2 * 1024 * 1024 * 1024;

/// The variables a helm render keeps from the environment: where helm's own
/// configuration, cache and repositories are, proxies and certificates (to
/// fetch a base chart's dependencies), locale and temporary folder. Nothing
/// else reaches helm: not the runner's `ACTIONS_*` tokens, the `INPUT_*`
/// values, `GITHUB_TOKEN`, cloud credentials, `KUBECONFIG` or `HELM_KUBE*`.
pub const HELM_ENV_KEPT: &[&str] = &[
    "PATH",
    "HOME",
    "TMPDIR",
    "LANG",
    "LC_ALL",
    "LC_CTYPE",
    "XDG_CACHE_HOME",
    "XDG_CONFIG_HOME",
    "XDG_DATA_HOME",
    "HELM_CACHE_HOME",
    "HELM_CONFIG_HOME",
    "HELM_DATA_HOME",
    "HELM_REPOSITORY_CONFIG",
    "HELM_REPOSITORY_CACHE",
    "HELM_REGISTRY_CONFIG",
    "HELM_CONTENT_CACHE",
    "HELM_PLUGINS",
    "HELM_DEBUG",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
];

/// Go runtime settings for helm processes that run one per core, each short:
/// one scheduler thread each (the workers are the parallelism) and no
/// garbage collection below a memory limit, which sits well inside
/// [`MAX_RENDER_ADDRESS_SPACE`]. They cut helm's CPU time per render by
/// about a fifth (measured: `scripts/bench-diff.sh`). A variable the user has
/// set (`is_set`) is left as it is.
pub fn helm_runtime_env(is_set: impl Fn(&str) -> bool) -> Vec<(String, String)> {
    [("GOMAXPROCS", "1"), ("GOGC", "off"), ("GOMEMLIMIT", "512MiB")]
        .into_iter()
        .filter(|(name, _)| !is_set(name))
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect()
}

/// The whole environment of a helm render, from the action's (`get`): the
/// [`HELM_ENV_KEPT`] variables that are set, the Go runtime settings the user
/// set, and [`helm_runtime_env`] for the rest. helm processes start with
/// this and nothing else.
pub fn helm_env(get: impl Fn(&str) -> Option<String>) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = HELM_ENV_KEPT
        .iter()
        .chain(&["GOMAXPROCS", "GOGC", "GOMEMLIMIT"])
        .filter_map(|name| get(name).map(|value| ((*name).to_owned(), value)))
        .collect();
    env.extend(helm_runtime_env(|name| get(name).is_some()));
    env
}

/// Progress of a long diff, for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// Inputs hashed: how many releases, how many renders they need, and how many are unchanged without one.
    Planned { releases: usize, renders: usize, unchanged_by_key: usize },
    /// The dependencies of one chart folder were fetched (`helm dependency build`), or
    /// resolved without a matching lock file (`resolved`: `helm dependency update`, not
    /// reproducible), or copied from the other side's identical chart (`shared`).
    DependencyBuilt { side: &'static str, chart: String, ok: bool, resolved: bool, shared: bool },
    /// One render finished (`done` of `total`).
    Rendered { done: usize, total: usize, label: String, ok: bool },
}

impl Progress {
    /// The log line of a [`Progress::DependencyBuilt`] (None for the other events).
    pub fn dependency_line(&self) -> Option<String> {
        let Progress::DependencyBuilt { side, chart, ok, resolved, shared } = self else { return None };
        let failed = if *ok { "" } else { ": failed" };
        Some(if *shared {
            format!("dependencies of {chart} ({side}): the same chart tree as the other side, fetched once{failed}")
        } else if *resolved {
            format!(
                "helm dependency update {chart} ({side}): no Chart.lock matching Chart.yaml, so the dependency \
                 versions were resolved now (not reproducible: commit the Chart.lock)"
            )
        } else {
            format!("helm dependency build {chart} ({side}){failed}")
        })
    }
}

/// One release's outcome, with what `skip-unchanged` needs to know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseOutcome {
    /// Complete: no object's diff is cut here.
    pub diff: ReleaseDiff,
    /// Some values file differs in bytes between base and head (or the list differs).
    pub values_changed: bool,
    /// The chart (or a `file://` dependency) has a remote dependency whose version is not one exact version.
    pub unpinned_remote_dependency: bool,
}

/// Every release's outcome, in request order, and what it took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub releases: Vec<ReleaseOutcome>,
    /// `helm template` processes run.
    pub renders: usize,
    /// `helm dependency build` processes run.
    pub dependency_builds: usize,
    pub helm_version: String,
}

/// Which checkout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum SideName {
    Base,
    Head,
}

impl SideName {
    fn as_str(self) -> &'static str {
        match self {
            SideName::Base => "base",
            SideName::Head => "head",
        }
    }
}

/// A checkout, loaded.
struct Side {
    name: SideName,
    root: RepoRoot,
    /// The configuration, or why it does not load.
    config: Result<SideConfig, String>,
    /// Where this side's charts and values files are copied for helm.
    workdir: PathBuf,
    /// Chart trees read so far, by chart name.
    charts: HashMap<String, Result<ChartTree, String>>,
    /// The chart repositories a render may name (the base's, for a pull request's head); `None`: any.
    allowed_repositories: Option<BTreeSet<String>>,
}

struct SideConfig {
    estate: Estate,
    inputs: crate::config::charts::ChartInputs,
    /// Clusters whose own files do not load on this side, by name.
    blocked: Vec<String>,
    /// `jsonnet.ext_vars` of this side's `deployer.yaml`.
    jsonnet_ext_vars: crate::config::jsonnet::ExtVarTemplates,
    /// This side's settings: `rollout`, chart-level values files, staging hubs.
    settings: Settings,
    /// With `rollout`: this side's state file's pins.
    pins: Option<crate::config::rollout::Pins>,
}

/// A chart's folders as read: its own and its `file://` dependencies'.
struct ChartTree {
    folders: Vec<(String, crate::base::repo_fs::Tree)>,
    digest: Vec<u8>,
    /// The folders whose dependencies helm fetches before a render, deepest first
    /// (a `file://` dependency's own dependencies before the chart that packages it).
    builds: Vec<FolderBuild>,
    unpinned_remote_dependency: bool,
    written: bool,
    /// Where its folders are written, under the side's folder: `` (the chart's own),
    /// `overrides/<digest>` for a hub's `chart_override` copy, `pins/<commit>` for a rollout pin's.
    prefix: String,
    /// A rollout pin's chart-level values files (repository path, bytes at the pin), written with the
    /// folders; empty for the others.
    pinned_values: Vec<(String, Vec<u8>)>,
    /// The chart repositories a pin's chart names (empty for the others: the side's inputs say).
    remote_repositories: BTreeSet<String>,
}

impl ChartTree {
    /// The chart folder helm is given, relative to the side's folder.
    fn dir(&self, chart: &str) -> String {
        if self.prefix.is_empty() {
            chart_folder(chart)
        } else {
            format!("{}/{}", self.prefix, chart_folder(chart))
        }
    }
}

/// A chart folder whose dependencies (`file://` or remote) helm fetches.
#[derive(Clone)]
struct FolderBuild {
    folder: String,
    remotes: Vec<chart_deps::Remote>,
    has_lock: bool,
}

/// A release's render input on one side.
enum Input {
    /// The release is not on this side (a new hub, a removed one).
    Absent,
    /// It cannot be rendered; why.
    Failed(String),
    Ready(RenderInput),
}

struct RenderInput {
    /// The chart key ([`crate::config::Hub::chart_key`]).
    chart: String,
    /// The folder helm is given, relative to the side's folder.
    chart_dir: String,
    key: String,
    /// (repository path, digest of the file's bytes as committed, bytes helm gets)
    values: Vec<(String, Vec<u8>, Vec<u8>)>,
    /// `chart at 1234567 (wave rest)` for a chart rendered at a rollout pin.
    note: Option<String>,
}

impl Side {
    fn open(name: SideName, checkout: &Path, config: Option<&Path>, workdir: PathBuf) -> Result<Side, Error> {
        let root = RepoRoot::new(checkout)?;
        let config = load_side(checkout, config);
        fs::create_dir_all(&workdir).map_err(|e| Error::io(&workdir, e))?;
        Ok(Side { name, root, config, workdir, charts: HashMap::new(), allowed_repositories: None })
    }

    /// Every chart repository (`https://`, `oci://`, `@alias`, a name) this side's charts name.
    fn repositories(&self) -> BTreeSet<String> {
        let Ok(config) = &self.config else { return BTreeSet::new() };
        crate::config::charts::used_charts(&config.estate)
            .iter()
            .flat_map(|chart| config.inputs.remote_dependencies(chart))
            .filter_map(|dependency| match &dependency.source {
                DependencySource::Remote(repository) => Some(repository_key(repository)),
                _ => None,
            })
            .collect()
    }

    /// The chart tree of the chart key `key` (`chart`, with `chart_override` when there is one),
    /// read (and hashed) the first time.
    fn chart(
        &mut self,
        key: &str,
        chart: &str,
        chart_override: Option<&ChartOverride>,
    ) -> Result<&mut ChartTree, String> {
        if !self.charts.contains_key(key) {
            let tree = match &self.config {
                Ok(config) => read_chart(&self.root, config, key, chart, chart_override),
                Err(why) => Err(why.clone()),
            };
            self.charts.insert(key.to_owned(), tree);
        }
        match self.charts.get_mut(key) {
            Some(Ok(tree)) => Ok(tree),
            Some(Err(why)) => Err(why.clone()),
            None => Err(format!("chart {chart} was not read")),
        }
    }

    fn input(&mut self, release: &Release, helm_version: &str) -> Input {
        let config = match &self.config {
            Ok(config) => config,
            Err(why) => return Input::Failed(why.clone()),
        };
        if config.blocked.contains(&release.cluster_name) {
            return Input::Failed(format!(
                "the {} checkout's files of cluster {} do not load",
                self.name.as_str(),
                release.cluster_name
            ));
        }
        let Some(cluster) = config.estate.clusters.iter().find(|c| c.name == release.cluster_name) else {
            return Input::Absent;
        };
        type Picked<'a> = (String, String, Option<ChartOverride>, Vec<ValuesFile>, Option<&'a crate::config::Hub>);
        let (chart, helm_chart, chart_override, mut files, hub): Picked<'_> = match &release.hub_name {
            None => match &cluster.support {
                Some(support) => {
                    (SUPPORT_RELEASE.to_owned(), SUPPORT_RELEASE.to_owned(), None, support.values_files.clone(), None)
                }
                None => return Input::Absent,
            },
            Some(hub) => match cluster.hubs.iter().find(|h| &h.name == hub) {
                Some(hub) => (
                    hub.chart_key(),
                    hub.helm_chart.clone(),
                    hub.chart_override.clone(),
                    hub.values_files.clone(),
                    Some(hub),
                ),
                None => return Input::Absent,
            },
        };
        // A later rollout wave's hub: its chart (and chart-level values files) at this side's pin.
        let planned = match self.name {
            SideName::Head => release.planned_chart_commit.as_deref(),
            SideName::Base => None,
        };
        let pin = match hub.map(|hub| pinned_at(config, cluster, hub, planned)).transpose() {
            Ok(pin) => pin.flatten(),
            Err(why) => return Input::Failed(format!("{}: {why}", self.name.as_str())),
        };
        let chart = match &pin {
            Some(at) => format!("{chart}@{}", at.commit),
            None => chart,
        };
        let mut pinned_values: Vec<(String, Vec<u8>)> = Vec::new();
        let mut pinned_root = None;
        if let Some(at) = &pin {
            if !self.charts.contains_key(&chart) {
                let tree = read_pinned_chart(&self.root, &config.settings, &self.workdir, at, &helm_chart);
                self.charts.insert(chart.clone(), tree);
            }
            match self.charts.get(&chart) {
                Some(Ok(tree)) => {
                    if let Some(allowed) = &self.allowed_repositories {
                        if let Some(new) = tree.remote_repositories.iter().find(|r| !allowed.contains(*r)) {
                            return Input::Failed(format!(
                                "{}: the chart {} at {} (wave {}) names the chart repository `{}`, which no chart \
                                 of the base branch names: it is not contacted",
                                self.name.as_str(),
                                at.chart,
                                at.short(),
                                at.wave,
                                crate::config::chart_schema::shown(new, 200)
                            ));
                        }
                    }
                    pinned_values = tree.pinned_values.clone();
                    pinned_root = RepoRoot::new(&self.workdir.join(&tree.prefix)).ok();
                }
                Some(Err(why)) => return Input::Failed(format!("{}: {why}", self.name.as_str())),
                None => return Input::Failed(format!("{}: chart {helm_chart} was not read", self.name.as_str())),
            }
            // The head's chart-level files lead the list (the named ones, then the chart's values.jsonnet):
            // the pin's take their place.
            let named = config.settings.chart_values(&helm_chart).len().min(files.len());
            let own_jsonnet = crate::config::jsonnet::chart_values_file(&chart_folder(&helm_chart));
            let head_level = named + usize::from(files.get(named).is_some_and(|f| f.path == own_jsonnet));
            let own: Vec<ValuesFile> = files.drain(head_level..).collect();
            files = pinned_values.iter().map(|(path, _)| ValuesFile { path: path.clone() }).chain(own).collect();
        }
        let note = pin.as_ref().map(|at| format!("chart at {} (wave {})", at.short(), at.wave));
        let mut values = Vec::with_capacity(files.len() + 1);
        // `.jsonnet` values are rendered (the chart's own `values.jsonnet` is in the list); the JSON is
        // what helm gets, what the cache key holds and what "values changed" compares.
        let ext_vars = config.jsonnet_ext_vars.values(&crate::config::jsonnet::Placeholders::of(cluster, hub));
        let pinned_file = |file: &str| pinned_values.iter().find(|(path, _)| path == file).map(|(_, bytes)| bytes);
        let render = |file: &str| match crate::config::jsonnet::render(
            match (&pinned_root, pinned_file(file)) {
                (Some(pinned), Some(_)) => pinned,
                _ => &self.root,
            },
            file,
            &ext_vars,
        ) {
            Ok(rendered) => {
                let json = rendered.json.into_bytes();
                Ok((file.to_owned(), sha256(&[&json]), json))
            }
            Err(error) => Err(Input::Failed(format!("{}: {}", self.name.as_str(), first_problem_text(&error)))),
        };
        for file in &files {
            if crate::config::jsonnet::is_jsonnet(&file.path) {
                match render(&file.path) {
                    Ok(value) => values.push(value),
                    Err(failed) => return failed,
                }
                continue;
            }
            let read = match pinned_file(&file.path) {
                Some(bytes) => Ok(bytes.clone()),
                None => self.root.read_file_capped(&file.path, MAX_VALUES_FILE_BYTES),
            };
            let bytes = match read {
                Ok(bytes) => bytes,
                Err(refused) => return Input::Failed(format!("{}: {refused}", self.name.as_str())),
            };
            let committed = sha256(&[&bytes]);
            let given = if crate::tools::sops::is_encrypted(&file.path) {
                let text = match String::from_utf8(bytes) {
                    Ok(text) => text,
                    Err(_) => {
                        return Input::Failed(format!("{}: `{}` is not UTF-8 text", self.name.as_str(), file.path))
                    }
                };
                match placeholder::placeholder_tree(&file.path, &text) {
                    Ok(tree) => tree.into_bytes(),
                    Err(problem) => return Input::Failed(format!("{}: {problem}", self.name.as_str())),
                }
            } else {
                bytes
            };
            values.push((file.path.clone(), committed, given));
        }
        if let Some(allowed) = &self.allowed_repositories {
            for dependency in config.inputs.remote_dependencies(&chart) {
                let DependencySource::Remote(repository) = &dependency.source else { continue };
                if !allowed.contains(&repository_key(repository)) {
                    return Input::Failed(format!(
                        "{}: {} dependencies[{}].repository names the chart repository `{}`, which no chart of \
                         the base branch names: a pull request may not introduce a chart repository (it is not contacted)",
                        self.name.as_str(),
                        dependency.file,
                        dependency.index,
                        crate::config::chart_schema::shown(repository, 200)
                    ));
                }
            }
        }
        let tree = match self.chart(&chart, &helm_chart, chart_override.as_ref()) {
            Ok(tree) => tree,
            Err(why) => return Input::Failed(format!("{}: {why}", self.name.as_str())),
        };
        let chart_dir = tree.dir(&helm_chart);
        let name = release.name();
        let mut parts: Vec<&[u8]> =
            vec![helm_version.as_bytes(), helm_chart.as_bytes(), &tree.digest, name.as_bytes(), name.as_bytes()];
        for (_, _, given) in &values {
            parts.push(given);
        }
        let key = hex(&sha256(&parts));
        Input::Ready(RenderInput { chart, chart_dir, key, values, note })
    }
}

fn load_side(checkout: &Path, config: Option<&Path>) -> Result<SideConfig, String> {
    let settings: Settings = load_settings(checkout, config).map_err(|e| first_problem(&e))?;
    let loaded = load(checkout, &settings, LoadOptions::default()).map_err(|e| first_problem(&e))?;
    let inputs = load_chart_inputs(checkout, &loaded.estate).map_err(|e| first_problem(&e))?;
    let blocked = loaded.blocked.iter().filter_map(|b| b.name.clone()).collect();
    Ok(SideConfig {
        estate: loaded.estate,
        inputs,
        blocked,
        jsonnet_ext_vars: settings.jsonnet_ext_vars.clone(),
        settings,
        pins: loaded.rollout_pins,
    })
}

/// Why a side's configuration does not load: its first problem, at its file and line.
fn first_problem(error: &Error) -> String {
    match error {
        Error::Config(found) if !found.is_empty() => {
            let first = &found[0];
            format!("the configuration does not load: {}: {}", first.position(), first.headline())
        }
        other => first_line(&other.to_string()),
    }
}

/// An error's first problem, at its file and line.
fn first_problem_text(error: &Error) -> String {
    match error {
        Error::Config(found) if !found.is_empty() => format!("{}: {}", found[0].position(), found[0].headline()),
        other => other.to_string().lines().next().unwrap_or_default().to_owned(),
    }
}

fn first_line(text: &str) -> String {
    let line = text.lines().next().unwrap_or_default();
    format!("the configuration does not load: {line}")
}

/// Reads a chart's folders and hashes them (paths and bytes, in order). A
/// schema that refers outside itself refuses the chart, at its line. With a
/// `chart_override`, the override's bytes replace the `Chart.yaml` they replace,
/// and the copy is written apart from the chart's own.
fn read_chart(
    root: &RepoRoot,
    config: &SideConfig,
    key: &str,
    chart: &str,
    chart_override: Option<&ChartOverride>,
) -> Result<ChartTree, String> {
    let own = chart_folder(chart);
    // Where the folders are written under the side's folder: the chart's own place, or apart for an override's copy.
    let prefix = match chart_override {
        Some(_) => format!("overrides/{}", &hex(&sha256(&[key.as_bytes()]))[..16]),
        None => String::new(),
    };
    let replacement = match chart_override {
        Some(o) => Some((
            chart_folder(&o.replaces),
            root.read_file_capped(&o.file, MAX_CHART_FILE_BYTES).map_err(|e| e.to_string())?,
        )),
        None => None,
    };
    let mut folders: Vec<String> = config.inputs.inputs(key).iter().map(|i| i.folder.clone()).collect();
    if folders.is_empty() {
        folders.push(own);
    }
    let mut digest = Digest::new(&SHA256);
    let mut read = Vec::with_capacity(folders.len());
    let mut unpinned = false;
    let mut builds = Vec::new();
    for folder in folders {
        let mut tree = root.read_tree(&folder, CHART_TREE_LIMITS).map_err(|e| e.to_string())?;
        if let Some((replaced, bytes)) = &replacement {
            if *replaced == folder {
                tree.retain(|(path, _)| path != CHART_FILE);
                tree.push((CHART_FILE.to_owned(), bytes.clone()));
                tree.sort();
            }
        }
        if let Some(problem) = check_chart_files(&folder, &tree).first() {
            let mut why = format!("{}: {}", problem.position(), problem.headline());
            if let Some(hint) = &problem.hint {
                why.push_str(&format!(" ({hint})"));
            }
            return Err(why);
        }
        for (path, bytes) in &tree {
            for part in [folder.as_bytes(), path.as_bytes(), bytes] {
                digest.update(&(part.len() as u64).to_le_bytes());
                digest.update(part);
            }
        }
        let dependencies = config.inputs.dependencies_of(key, &folder);
        if dependencies.iter().any(|d| matches!(d.source, DependencySource::File(_) | DependencySource::Remote(_))) {
            builds.push(FolderBuild {
                folder: if prefix.is_empty() { folder.clone() } else { format!("{prefix}/{folder}") },
                remotes: chart_deps::Remote::of(dependencies),
                has_lock: chart_deps::has_lock(tree.iter().map(|(path, _)| path.as_str())),
            });
        }
        for dependency in dependencies {
            match &dependency.source {
                DependencySource::Remote(_) | DependencySource::Unspecified
                    if !is_exact_version(dependency.version.as_deref()) =>
                {
                    unpinned = true;
                }
                _ => {}
            }
        }
        read.push((folder, tree));
    }
    // The chart's own folder first, then its dependencies: helm fetches the deepest first.
    builds.reverse();
    Ok(ChartTree {
        folders: read,
        digest: digest.finish().as_ref().to_vec(),
        builds,
        unpinned_remote_dependency: unpinned,
        written: false,
        prefix,
        pinned_values: Vec::new(),
        remote_repositories: BTreeSet::new(),
    })
}

/// The wave and commit a hub's chart renders at on a side whose chart rolls out in waves and whose
/// wave runs a pin (by that side's state file); `None` for the head. A hub with a `chart_override` and
/// a rolled chart is refused, as deploy refuses it.
fn pinned_at(
    config: &SideConfig,
    cluster: &crate::config::Cluster,
    hub: &crate::config::Hub,
    planned: Option<&str>,
) -> Result<Option<PinnedAt>, String> {
    let Some(rollout) = &config.settings.rollout else { return Ok(None) };
    let staging = config.settings.is_staging_hub(&hub.name);
    let Some(job) = rollout.release_rollout(config.pins.as_ref(), cluster, hub, staging, false) else {
        return Ok(None);
    };
    if hub.chart_override.is_some() {
        return Err(format!(
            "hub {} has a `chart_override`, and its chart {} rolls out in waves (`rollout.charts`): a wave's pin \
             cannot follow an override",
            hub.name, hub.helm_chart
        ));
    }
    // The plan's job decides on the head side: an empty commit is the head (the `rollout-all` label);
    // a pin must be this side's.
    let commit = match planned {
        Some("") => return Ok(None),
        Some(planned) if planned != job.chart_commit => {
            return Err(format!(
                "the plan runs hub {} at {planned}, but this checkout's state file pins its wave {} at {}: the \
                 plan was made from another state file",
                hub.name,
                job.wave,
                if job.chart_commit.is_empty() { "the head" } else { job.chart_commit.as_str() }
            ))
        }
        _ => job.chart_commit,
    };
    if commit.is_empty() {
        return Ok(None);
    }
    Ok(Some(PinnedAt { commit, chart: chart_folder(&hub.helm_chart), wave: job.wave }))
}

/// A chart read at a rollout pin from the side's git ([`read_chart_at`]), as a [`ChartTree`] written
/// under `pins/<commit>` of the side's folder with its chart-level values files (written at once, so a
/// pinned `values.jsonnet` renders there).
fn read_pinned_chart(
    root: &RepoRoot,
    settings: &Settings,
    workdir: &Path,
    at: &PinnedAt,
    chart: &str,
) -> Result<ChartTree, String> {
    let shown = |error: Error| first_problem_text(&error);
    let pin = read_chart_at(root.path(), at.clone(), chart, settings.chart_values(chart)).map_err(shown)?;
    let prefix = format!("pins/{}", at.commit);
    let mut digest = Digest::new(&SHA256);
    digest.update(at.commit.as_bytes());
    let mut builds = Vec::new();
    let mut unpinned = false;
    for (folder, tree) in &pin.folders {
        for (path, bytes) in tree {
            for part in [folder.as_bytes(), path.as_bytes(), bytes] {
                digest.update(&(part.len() as u64).to_le_bytes());
                digest.update(part);
            }
            write_new(&workdir.join(&prefix).join(folder).join(path), bytes).map_err(shown)?;
        }
        let dependencies = pin.dependencies(folder);
        if dependencies.iter().any(|d| matches!(d.source, DependencySource::File(_) | DependencySource::Remote(_))) {
            builds.push(FolderBuild {
                folder: format!("{prefix}/{folder}"),
                remotes: chart_deps::Remote::of(dependencies),
                has_lock: chart_deps::has_lock(tree.iter().map(|(path, _)| path.as_str())),
            });
        }
        unpinned |= dependencies.iter().any(|dependency| {
            matches!(dependency.source, DependencySource::Remote(_) | DependencySource::Unspecified)
                && !is_exact_version(dependency.version.as_deref())
        });
    }
    for (path, bytes) in &pin.values {
        write_new(&workdir.join(&prefix).join(path), bytes).map_err(shown)?;
    }
    let remote_repositories = pin
        .folders
        .iter()
        .flat_map(|(folder, _)| pin.dependencies(folder))
        .filter_map(|dependency| match &dependency.source {
            DependencySource::Remote(repository) => Some(repository_key(repository)),
            _ => None,
        })
        .collect();
    builds.reverse();
    Ok(ChartTree {
        folders: pin.folders,
        digest: digest.finish().as_ref().to_vec(),
        builds,
        unpinned_remote_dependency: unpinned,
        written: true,
        prefix,
        pinned_values: pin.values,
        remote_repositories,
    })
}

/// A chart repository as compared between base and head: trimmed, without a trailing `/`.
fn repository_key(repository: &str) -> String {
    repository.trim().trim_end_matches('/').to_owned()
}

/// `1.2.3` (optionally `v`, a pre-release or build suffix): one version, not a range.
pub fn is_exact_version(version: Option<&str>) -> bool {
    let Some(version) = version.map(str::trim) else { return false };
    let core = version.strip_prefix('v').unwrap_or(version);
    let core = core.split(['-', '+']).next().unwrap_or_default();
    let parts: Vec<&str> = core.split('.').collect();
    parts.len() == 3 && parts.iter().all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
}

fn sha256(parts: &[&[u8]]) -> Vec<u8> {
    let mut digest = Digest::new(&SHA256);
    for part in parts {
        digest.update(&(part.len() as u64).to_le_bytes());
        digest.update(part);
    }
    digest.finish().as_ref().to_vec()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What `helm version` says, as the cache key's first part; helm gets only `env`.
pub fn helm_version(helm: &str, env: &[(String, String)]) -> Result<String, Error> {
    let output = Command::new(helm)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .args(["version", "--template", "{{.Version}}"])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| Error::Command {
            program: helm.to_owned(),
            message: format!("cannot run {helm} ({e}); is it installed and on PATH?"),
        })?;
    if !output.status.success() {
        return Err(Error::Command { program: helm.to_owned(), message: "`helm version` failed".into() });
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().chars().take(100).collect())
}

/// One render to run: a key, the side whose copy it renders in, and its argv (after the program).
struct Job {
    key: String,
    side: SideName,
    chart: String,
    args: Vec<String>,
    label: String,
}

/// Renders and compares every release of `request`; `progress` hears about each step.
pub fn render_and_compare(
    request: &RenderRequest,
    rules: &NormaliseRules,
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<Rendered, Error> {
    let helm_version = helm_version(&request.helm, &request.helm_env)?;
    let work = PrivateDir::create_named("deployer-diff")?;
    let mut base = Side::open(SideName::Base, &request.base, request.config.as_deref(), work.path().join("base"))?;
    let mut head = Side::open(SideName::Head, &request.head, request.config.as_deref(), work.path().join("head"))?;
    // The head (a pull request) may reach only the chart repositories the base already names.
    head.allowed_repositories = Some(base.repositories());

    let inputs: Vec<(Input, Input)> = request
        .releases
        .iter()
        .map(|release| (base.input(release, &helm_version), head.input(release, &helm_version)))
        .collect();

    // The renders needed, each key once.
    let mut jobs: Vec<Job> = Vec::new();
    let mut queued: HashMap<String, usize> = HashMap::new();
    let mut unchanged_by_key = 0;
    for (release, (b, h)) in request.releases.iter().zip(&inputs) {
        if let (Input::Ready(b), Input::Ready(h)) = (b, h) {
            if b.key == h.key {
                unchanged_by_key += 1;
                continue;
            }
        }
        for (side, input) in [(SideName::Base, b), (SideName::Head, h)] {
            let Input::Ready(input) = input else { continue };
            if queued.contains_key(&input.key) {
                continue;
            }
            let side_ref = if side == SideName::Base { &mut base } else { &mut head };
            let args = prepare(side_ref, release, input)?;
            queued.insert(input.key.clone(), jobs.len());
            jobs.push(Job {
                key: input.key.clone(),
                side,
                chart: input.chart.clone(),
                args,
                label: match &input.note {
                    Some(note) => format!("{} ({}, {note})", release.label(), side.as_str()),
                    None => format!("{} ({})", release.label(), side.as_str()),
                },
            });
        }
    }
    progress(Progress::Planned { releases: request.releases.len(), renders: jobs.len(), unchanged_by_key });

    // The dependencies of each chart that renders, once per chart folder per side, and once
    // for both sides where the chart's tree is the same.
    let mut units: Vec<FetchUnit> = Vec::new();
    let mut charts_of: Vec<((SideName, String), Vec<usize>)> = Vec::new();
    for job in &jobs {
        if charts_of.iter().any(|(key, _)| key.0 == job.side && key.1 == job.chart) {
            continue;
        }
        let side = if job.side == SideName::Base { &base } else { &head };
        let Some(Ok(tree)) = side.charts.get(&job.chart) else { continue };
        let indices = add_units(&mut units, job.side, &side.workdir, tree);
        charts_of.push(((job.side, job.chart.clone()), indices));
    }
    let unit_results = fetch_units(&units, &request.helm, &request.helm_env, request.timeout, progress)?;
    let dependency_builds = unit_results.iter().filter(|r| !r.1).count();
    let mut builds: BTreeMap<(SideName, String), Option<String>> = BTreeMap::new();
    for (key, indices) in charts_of {
        let failed = indices.iter().find_map(|i| unit_results[*i].0.clone().err());
        builds.insert(key.clone(), failed.map(|why| format!("{}: {why}", key.0.as_str())));
    }

    // The renders, in parallel.
    let done = AtomicUsize::new(0);
    let total = jobs.len();
    let results: Vec<Result<Manifests, String>> = run_pool(total, request.workers, |index| {
        let job = &jobs[index];
        let result = match builds.get(&(job.side, job.chart.clone())) {
            Some(Some(failed)) => Err(failed.clone()),
            _ => {
                let dir = if job.side == SideName::Base { &base.workdir } else { &head.workdir };
                run_helm(&request.helm, dir, &job.args, &request.helm_env, request.timeout)
                    .map_err(|why| format!("{}: helm template failed: {why}", job.side.as_str()))
                    .and_then(|out| normalise(&out, rules).map_err(|e| format!("{}: {e}", job.side.as_str())))
            }
        };
        let finished = done.fetch_add(1, Ordering::Relaxed) + 1;
        progress(Progress::Rendered { done: finished, total, label: job.label.clone(), ok: result.is_ok() });
        result
    });
    let by_key: HashMap<&str, &Result<Manifests, String>> =
        jobs.iter().map(|j| j.key.as_str()).zip(results.iter()).collect();

    let mut outcomes = Vec::with_capacity(request.releases.len());
    for (release, (b, h)) in request.releases.iter().zip(&inputs) {
        let unpinned = [(&base, b), (&head, h)].iter().any(|(side, input)| match input {
            Input::Ready(input) => side
                .charts
                .get(&input.chart)
                .and_then(|t| t.as_ref().ok())
                .is_some_and(|t| t.unpinned_remote_dependency),
            _ => false,
        });
        outcomes.push(outcome(release, b, h, &by_key, unpinned));
    }
    Ok(Rendered { releases: outcomes, renders: total, dependency_builds, helm_version })
}

/// One chart folder's dependency fetch on one side.
struct FetchUnit {
    side: SideName,
    /// The side's copy, where helm runs.
    dir: PathBuf,
    build: FolderBuild,
    /// The same for both sides when the chart's whole tree is (its digest and this folder).
    share: Vec<u8>,
}

/// Adds the fetches `tree` needs on `side` that are not there yet; the indices of all of them.
fn add_units(units: &mut Vec<FetchUnit>, side: SideName, dir: &Path, tree: &ChartTree) -> Vec<usize> {
    let mut indices = Vec::new();
    for build in &tree.builds {
        let at = units.iter().position(|u| u.side == side && u.build.folder == build.folder).unwrap_or_else(|| {
            units.push(FetchUnit {
                side,
                dir: dir.to_path_buf(),
                build: build.clone(),
                share: sha256(&[&tree.digest, build.folder.as_bytes()]),
            });
            units.len() - 1
        });
        indices.push(at);
    }
    indices
}

/// A fetch's result, and whether it was copied from the other side.
type UnitResult = (Result<(), String>, bool);

/// Runs the fetches in order (a folder's dependencies before the charts that
/// package it) in a private helm home; a fetch the other side already made for
/// the same chart tree is copied from it. Each result, and whether it was copied.
fn fetch_units(
    units: &[FetchUnit],
    helm: &str,
    env: &[(String, String)],
    timeout: Duration,
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<Vec<UnitResult>, Error> {
    let mut results: Vec<UnitResult> = Vec::with_capacity(units.len());
    if units.is_empty() {
        return Ok(results);
    }
    let home = chart_deps::HelmHome::create()?;
    for (index, unit) in units.iter().enumerate() {
        let folder = &unit.build.folder;
        let done_before = units[..index]
            .iter()
            .zip(&results)
            .find(|(u, r)| u.share == unit.share && u.side != unit.side && r.0.is_ok());
        if let Some((from, _)) = done_before {
            let result = copy_charts(&from.dir.join(folder).join("charts"), &unit.dir.join(folder).join("charts"));
            progress(Progress::DependencyBuilt {
                side: unit.side.as_str(),
                chart: folder.clone(),
                ok: result.is_ok(),
                resolved: false,
                shared: true,
            });
            results.push((result, true));
            continue;
        }
        let list = home.repositories(&index.to_string(), &unit.build.remotes)?;
        let env = home.env(env, &list);
        let run = |args: &[String]| run_helm(helm, &unit.dir, args, &env, timeout);
        let remote = !unit.build.remotes.is_empty();
        let fetched = chart_deps::fetch(folder, unit.build.has_lock, remote, &run);
        progress(Progress::DependencyBuilt {
            side: unit.side.as_str(),
            chart: folder.clone(),
            ok: fetched.is_ok(),
            resolved: fetched.as_ref().is_ok_and(|f| f.resolved),
            shared: false,
        });
        let result = fetched.map(|_| ()).map_err(|why| {
            if remote {
                chart_deps::failure_message(folder, &unit.build.remotes, &why)
            } else {
                format!("helm dependency build failed: {why}")
            }
        });
        results.push((result, false));
    }
    Ok(results)
}

/// Replaces the `charts/` folder `to` with a copy of `from` (regular files and folders).
fn copy_charts(from: &Path, to: &Path) -> Result<(), String> {
    fn copy(from: &Path, to: &Path) -> std::io::Result<()> {
        fs::create_dir_all(to)?;
        for entry in fs::read_dir(from)? {
            let entry = entry?;
            let kind = entry.file_type()?;
            if kind.is_dir() {
                copy(&entry.path(), &to.join(entry.file_name()))?;
            } else if kind.is_file() {
                fs::copy(entry.path(), to.join(entry.file_name()))?;
            }
        }
        Ok(())
    }
    if to.exists() {
        fs::remove_dir_all(to).map_err(|e| format!("cannot replace {}: {e}", to.display()))?;
    }
    if !from.exists() {
        return Ok(());
    }
    copy(from, to).map_err(|e| format!("cannot copy the fetched dependencies: {e}"))
}

/// How helm processes run: the program, how many at once, for how long at most, with what variables.
#[derive(Debug, Clone)]
pub struct HelmRuns {
    pub helm: String,
    pub workers: usize,
    pub timeout: Duration,
    pub env: Vec<(String, String)>,
}

/// Renders every release of one checkout (`deployer validate --render`):
/// the number of objects each renders to, or why it does not render. Encrypted
/// values are placeholders, as in a diff; identical inputs render once.
pub fn render_each(
    checkout: &Path,
    config: Option<&Path>,
    releases: &[Release],
    how: &HelmRuns,
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<Vec<Result<usize, String>>, Error> {
    let HelmRuns { helm, workers, timeout, env: helm_env } = how;
    let (helm, workers, timeout) = (helm.as_str(), *workers, *timeout);
    let helm_version = helm_version(helm, helm_env)?;
    let work = PrivateDir::create_named("deployer-render")?;
    let mut side = Side::open(SideName::Head, checkout, config, work.path().join("head"))?;
    let inputs: Vec<Input> = releases.iter().map(|release| side.input(release, &helm_version)).collect();
    let mut jobs: Vec<(String, Vec<String>, String, String)> = Vec::new();
    let mut queued: HashMap<String, usize> = HashMap::new();
    for (release, input) in releases.iter().zip(&inputs) {
        if let Input::Ready(input) = input {
            if !queued.contains_key(&input.key) {
                let args = prepare(&mut side, release, input)?;
                queued.insert(input.key.clone(), jobs.len());
                jobs.push((input.key.clone(), args, input.chart.clone(), release.label()));
            }
        }
    }
    progress(Progress::Planned { releases: releases.len(), renders: jobs.len(), unchanged_by_key: 0 });
    let mut units: Vec<FetchUnit> = Vec::new();
    let mut charts_of: Vec<(String, Vec<usize>)> = Vec::new();
    for (_, _, chart, _) in &jobs {
        if charts_of.iter().any(|(c, _)| c == chart) {
            continue;
        }
        let Some(Ok(tree)) = side.charts.get(chart) else { continue };
        let indices = add_units(&mut units, SideName::Head, &side.workdir, tree);
        charts_of.push((chart.clone(), indices));
    }
    let unit_results = fetch_units(&units, helm, helm_env, timeout, progress)?;
    let failed_builds: HashMap<&str, String> = charts_of
        .iter()
        .filter_map(|(chart, indices)| {
            indices.iter().find_map(|i| unit_results[*i].0.clone().err()).map(|why| (chart.as_str(), why))
        })
        .collect();
    let done = AtomicUsize::new(0);
    let results = run_pool(jobs.len(), workers, |index| {
        let (_, args, chart, label) = &jobs[index];
        let result = match failed_builds.get(chart.as_str()) {
            Some(why) => Err(why.clone()),
            None => run_helm(helm, &side.workdir, args, helm_env, timeout)
                .map_err(|why| format!("helm template failed: {why}"))
                .and_then(|out| normalise(&out, &NormaliseRules::default()).map_err(|e| e.to_string()))
                .map(|manifests| manifests.objects.len()),
        };
        let finished = done.fetch_add(1, Ordering::Relaxed) + 1;
        progress(Progress::Rendered { done: finished, total: jobs.len(), label: label.clone(), ok: result.is_ok() });
        result
    });
    Ok(inputs
        .iter()
        .map(|input| match input {
            Input::Absent => Err("not in the checkout".to_owned()),
            Input::Failed(why) => Err(why.clone()),
            Input::Ready(input) => queued
                .get(&input.key)
                .and_then(|index| results.get(*index))
                .cloned()
                .unwrap_or_else(|| Err("not rendered".into())),
        })
        .collect())
}

/// Writes what a render of `input` needs into its side's folder, once, and returns helm's arguments.
fn prepare(side: &mut Side, release: &Release, input: &RenderInput) -> Result<Vec<String>, Error> {
    let workdir = side.workdir.clone();
    if let Some(Ok(tree)) = side.charts.get_mut(&input.chart) {
        if !tree.written {
            let base = if tree.prefix.is_empty() { workdir.clone() } else { workdir.join(&tree.prefix) };
            for (folder, files) in &tree.folders {
                for (path, bytes) in files {
                    write_new(&base.join(folder).join(path), bytes)?;
                }
            }
            tree.written = true;
        }
    }
    let values_dir = workdir.join("values").join(&input.key);
    let name = release.name();
    let mut args: Vec<String> =
        vec!["template".into(), name.into(), input.chart_dir.clone(), "--namespace".into(), name.into()];
    for (index, (_, _, given)) in input.values.iter().enumerate() {
        let path = values_dir.join(format!("{index}.yaml"));
        write_new(&path, given)?;
        args.push("-f".into());
        args.push(format!("values/{}/{index}.yaml", input.key));
    }
    Ok(args)
}

fn write_new(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
    }
    fs::write(path, bytes).map_err(|e| Error::io(path, e))
}

/// Runs `count` tasks on `workers` threads; the results in task order.
fn run_pool<T: Send>(count: usize, workers: usize, task: impl Fn(usize) -> T + Sync) -> Vec<T> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<T>>> = Mutex::new((0..count).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..workers.clamp(1, count.max(1)) {
            scope.spawn(|| loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                if index >= count {
                    break;
                }
                let result = task(index);
                if let Ok(mut slots) = results.lock() {
                    slots[index] = Some(result);
                }
            });
        }
    });
    results.into_inner().map(|slots| slots.into_iter().flatten().collect()).unwrap_or_default()
}

/// Runs helm in `dir` with `env` and nothing else from this process's
/// environment, its address space bounded by [`MAX_RENDER_ADDRESS_SPACE`]:
/// its stdout, or why it failed (the end of its stderr, sanitised).
fn run_helm(
    helm: &str,
    dir: &Path,
    args: &[String],
    env: &[(String, String)],
    timeout: Duration,
) -> Result<String, String> {
    let mut command = Command::new(helm);
    command
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        command.process_group(0);
        // SAFETY: the closure runs in the forked child before `exec`; it makes
        // one system call (`setrlimit`, async-signal-safe), touches no lock
        // and allocates nothing (the limit is a constant on the stack).
        unsafe {
            command.pre_exec(|| {
                let limit = libc::rlimit {
                    rlim_cur: MAX_RENDER_ADDRESS_SPACE as libc::rlim_t,
                    rlim_max: MAX_RENDER_ADDRESS_SPACE as libc::rlim_t,
                };
                if libc::setrlimit(libc::RLIMIT_AS, &limit) == 0 {
                    Ok(())
                } else {
                    Err(std::io::Error::last_os_error())
                }
            });
        }
    }
    let mut child = command.spawn().map_err(|e| format!("cannot run {helm}: {e}"))?;
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let out = std::thread::spawn(move || read_capped(stdout, MAX_RENDER_BYTES));
    let err = std::thread::spawn(move || read_capped(stderr, 256 * 1024));
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if started.elapsed() >= timeout => {
                #[cfg(unix)]
                crate::base::stop::signal_group(child.id(), libc::SIGKILL);
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => return Err(format!("waiting for {helm}: {e}")),
        }
    };
    let (stdout, too_long) = out.join().unwrap_or_default();
    let (stderr, _) = err.join().unwrap_or_default();
    let Some(status) = status else {
        return Err(format!("stopped after {} s", timeout.as_secs()));
    };
    if too_long {
        return Err(format!("it printed more than {} MiB", MAX_RENDER_BYTES >> 20));
    }
    if !status.success() {
        let stderr = String::from_utf8_lossy(&stderr);
        if is_out_of_memory(&stderr) {
            return Err(format!(
                "it ran out of memory (a render may reserve at most {} GiB of address space)",
                MAX_RENDER_ADDRESS_SPACE >> 30
            ));
        }
        return Err(failure_message(&stderr));
    }
    String::from_utf8(stdout).map_err(|_| "it printed something that is not UTF-8".to_owned())
}

/// Reads a pipe to its end, keeping at most `cap` bytes; true when there was more.
fn read_capped<R: Read>(pipe: Option<R>, cap: usize) -> (Vec<u8>, bool) {
    let Some(pipe) = pipe else { return (Vec::new(), false) };
    let mut kept = Vec::new();
    let mut limited = pipe.take(cap as u64 + 1);
    let _ = limited.read_to_end(&mut kept);
    let more = kept.len() > cap;
    if more {
        kept.truncate(cap);
        // Drain the rest so the process can finish.
        let _ = std::io::copy(&mut limited.into_inner(), &mut std::io::sink());
    }
    (kept, more)
}

/// Whether helm's error output is the Go runtime's report of a refused allocation.
fn is_out_of_memory(stderr: &str) -> bool {
    stderr.lines().any(|line| {
        let line = line.trim();
        (line.starts_with("fatal error:") || line.starts_with("runtime:"))
            && (line.contains("out of memory") || line.contains("cannot allocate memory"))
    })
}

/// helm's error output as a message: its last lines, control characters shown as `\u{..}`, capped.
pub fn failure_message(stderr: &str) -> String {
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    let tail = &lines[lines.len().saturating_sub(12)..];
    let mut text = String::new();
    for c in tail.join("\n").chars() {
        if c == '\n' || c == '\t' || !(c.is_control() || crate::base::runner::is_invisible(c)) {
            text.push(c);
        } else {
            text.push_str(&format!("\\u{{{:x}}}", c as u32));
        }
    }
    if text.chars().count() > MAX_MESSAGE_CHARS {
        let start = text.chars().count() - MAX_MESSAGE_CHARS;
        text = format!("…{}", text.chars().skip(start).collect::<String>());
    }
    if text.is_empty() {
        "helm failed and printed nothing".to_owned()
    } else {
        text
    }
}

/// The release's diff from its two inputs and the renders.
fn outcome(
    release: &Release,
    base: &Input,
    head: &Input,
    renders: &HashMap<&str, &Result<Manifests, String>>,
    unpinned_remote_dependency: bool,
) -> ReleaseOutcome {
    let mut diff = ReleaseDiff {
        cluster_name: release.cluster_name.clone(),
        hub_name: release.hub_name.clone(),
        status: DiffStatus::Unchanged,
        objects_added: 0,
        objects_removed: 0,
        objects_changed: 0,
        lines_added: 0,
        lines_removed: 0,
        encrypted_values_changed: Vec::new(),
        message: None,
        objects: Vec::new(),
        objects_truncated: false,
    };
    let failed = |mut diff: ReleaseDiff, message: String| {
        diff.status = DiffStatus::RenderFailed;
        diff.message = Some(message);
        diff
    };
    let rendered = |input: &RenderInput| -> Result<&Manifests, String> {
        match renders.get(input.key.as_str()) {
            Some(Ok(manifests)) => Ok(manifests),
            Some(Err(why)) => Err(why.clone()),
            None => Err("not rendered".into()),
        }
    };
    let values_changed = match (base, head) {
        (Input::Ready(b), Input::Ready(h)) => {
            b.values.len() != h.values.len() || b.values.iter().zip(&h.values).any(|(x, y)| x.0 != y.0 || x.1 != y.1)
        }
        _ => true,
    };
    if let (Input::Ready(b), Input::Ready(h)) = (base, head) {
        diff.encrypted_values_changed = h
            .values
            .iter()
            .filter(|(path, committed, _)| {
                crate::tools::sops::is_encrypted(path) && !b.values.iter().any(|(p, c, _)| p == path && c == committed)
            })
            .map(|(path, _, _)| path.clone())
            .collect();
    }
    let diff = match (base, head) {
        (Input::Failed(why), _) | (_, Input::Failed(why)) => failed(diff, why.clone()),
        (Input::Absent, Input::Absent) => failed(diff, "the release is in neither checkout".into()),
        (Input::Absent, Input::Ready(h)) => match rendered(h) {
            Ok(head) => {
                let compared = compare_objects(&Manifests::default(), head);
                fill(&mut diff, compared);
                diff.status = DiffStatus::Added;
                diff
            }
            Err(why) => failed(diff, why),
        },
        (Input::Ready(b), Input::Absent) => match rendered(b) {
            Ok(base) => {
                let compared = compare_objects(base, &Manifests::default());
                fill(&mut diff, compared);
                diff.status = DiffStatus::Removed;
                diff
            }
            Err(why) => failed(diff, why),
        },
        (Input::Ready(b), Input::Ready(h)) if b.key == h.key => {
            if !diff.encrypted_values_changed.is_empty() {
                diff.status = DiffStatus::Changed;
            }
            diff
        }
        (Input::Ready(b), Input::Ready(h)) => match (rendered(b), rendered(h)) {
            (Ok(before), Ok(after)) => {
                let compared = compare_objects(before, after);
                let changed = !compared.is_empty() || !diff.encrypted_values_changed.is_empty();
                fill(&mut diff, compared);
                diff.status = if changed { DiffStatus::Changed } else { DiffStatus::Unchanged };
                diff
            }
            (Err(why), _) | (_, Err(why)) => failed(diff, why),
        },
    };
    ReleaseOutcome { diff, values_changed, unpinned_remote_dependency }
}

fn fill(diff: &mut ReleaseDiff, compared: super::unified::Compared) {
    diff.objects_added = compared.objects_added;
    diff.objects_removed = compared.objects_removed;
    diff.objects_changed = compared.objects_changed;
    diff.lines_added = compared.lines_added;
    diff.lines_removed = compared.lines_removed;
    diff.objects = compared.objects;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_versions_only_are_pinned() {
        let cases: &[(Option<&str>, bool)] = &[
            (Some("1.2.3"), true),
            (Some("v1.2.3"), true),
            (Some("4.0.0-beta.1"), true),
            (Some("1.2.3+build"), true),
            (Some("^1.2.3"), false),
            (Some("~1.2"), false),
            (Some(">=1.0.0"), false),
            (Some("1.2.x"), false),
            (Some("1.2"), false),
            (Some("*"), false),
            (Some(""), false),
            (None, false),
        ];
        for (version, pinned) in cases {
            assert_eq!(is_exact_version(*version), *pinned, "{version:?}");
        }
    }

    #[test]
    fn failure_messages_are_tails_without_control_characters() {
        let long: String = (0..30).map(|i| format!("line {i}\n")).collect();
        let cases: &[(&str, &str, &str)] = &[
            ("Error: bad\r::warning::x\u{1b}[31m", "\\u{d}::warning::x\\u{1b}", "\r"),
            ("", "helm failed and printed nothing", "\u{0}"),
            (&long, "line 29", "line 17\n"),
            ("a\u{202e}b", "a\\u{202e}b", "\u{202e}"),
        ];
        for (stderr, has, lacks) in cases {
            let message = failure_message(stderr);
            assert!(message.contains(has), "{stderr:?}: {message}");
            assert!(!message.contains(lacks), "{stderr:?}: {message}");
        }
        assert!(failure_message(&"x".repeat(10_000)).chars().count() <= MAX_MESSAGE_CHARS + 1);
    }

    #[test]
    fn helm_gets_runtime_settings_the_user_did_not_set() {
        let names = |env: Vec<(String, String)>| env.into_iter().map(|(k, _)| k).collect::<Vec<_>>();
        assert_eq!(names(helm_runtime_env(|_| false)), ["GOMAXPROCS", "GOGC", "GOMEMLIMIT"]);
        assert_eq!(names(helm_runtime_env(|name| name == "GOGC")), ["GOMAXPROCS", "GOMEMLIMIT"]);
    }

    #[test]
    fn helm_gets_only_what_it_needs_from_the_environment() {
        let given: BTreeMap<&str, &str> = [
            ("PATH", "/bin"),
            ("HOME", "/home/runner"),
            ("HELM_CACHE_HOME", "/cache"),
            ("GOGC", "50"),
            ("ACTIONS_RUNTIME_TOKEN", "t"),
            ("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "t"),
            ("INPUT_BASE-DIR", "base"),
            ("GITHUB_TOKEN", "t"),
            ("AWS_SECRET_ACCESS_KEY", "k"),
            ("GOOGLE_APPLICATION_CREDENTIALS", "/k.json"),
            ("KUBECONFIG", "/kube"),
            ("HELM_KUBETOKEN", "t"),
            ("SOPS_AGE_KEY", "k"),
        ]
        .into();
        let env = helm_env(|name| given.get(name).map(|v| (*v).to_owned()));
        let got: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(
            got,
            [
                ("PATH", "/bin"),
                ("HOME", "/home/runner"),
                ("HELM_CACHE_HOME", "/cache"),
                ("GOGC", "50"),
                ("GOMAXPROCS", "1"),
                ("GOMEMLIMIT", "512MiB")
            ]
        );
    }

    #[test]
    fn out_of_memory_is_told_apart() {
        assert!(is_out_of_memory("runtime: out of memory: cannot allocate 134217728-byte block (800751616 in use)\nfatal error: out of memory\n"));
        assert!(is_out_of_memory("fatal error: runtime: out of memory\n\ngoroutine 1"));
        assert!(is_out_of_memory("fatal error: runtime: cannot allocate memory\n\ngoroutine 1"));
        assert!(!is_out_of_memory("Error: template: c/templates/a.yaml:1: out of memory here\n"));
    }

    #[test]
    fn the_pool_keeps_task_order() {
        for workers in [1, 2, 5, 64] {
            let results = run_pool(50, workers, |i| i * 2);
            assert_eq!(results, (0..50).map(|i| i * 2).collect::<Vec<_>>(), "{workers}");
        }
        assert!(run_pool(0, 4, |i| i).is_empty());
    }
}
