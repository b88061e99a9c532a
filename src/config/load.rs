//! Reads the settings and cluster files of a repository checkout from disk.
//! The rest of the config layer is pure; this is its I/O edge, and every path
//! it touches goes through [`RepoRoot`] (inside the checkout, regular files,
//! size cap). Large fleets are read, parsed and checked on a thread per
//! core, in contiguous chunks of the sorted files, so the result (and every
//! diagnostic) comes out in the same order as on one thread.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::path::Path;

use super::charts::{chart_inputs, chart_inputs_overridden, used_charts, ChartInputs};
use super::cluster::{assemble_estate, parse_cluster, ClusterSource, RepoFacts};
use super::rollout::{Pins, Rollout};
use super::settings::{Settings, DEFAULT_SETTINGS_FILE};
use super::{Estate, ValuesFile, CHARTS_DIR};
use crate::base::diagnostic::Diagnostic;
use crate::base::error::Error;
use crate::base::repo_fs::{PathProblem, RepoRoot};
use crate::config::blocked_clusters::{self, BlockedCluster};

/// Loads `deployer.yaml`: the file `config` names (relative to `repo`), or
/// `deployer.yaml` at the root when present, or the defaults.
pub fn load_settings(repo: &Path, config: Option<&Path>) -> Result<Settings, Error> {
    let root = RepoRoot::new(repo)?;
    let (relative, required) = match config {
        Some(config) => (config.to_string_lossy().into_owned(), true),
        None => (DEFAULT_SETTINGS_FILE.to_owned(), false),
    };
    match root.read_config_file(&relative) {
        Ok(text) => Settings::parse(&crate::base::repo_path::normalize(&relative), &text).map_err(Error::Config),
        Err(refused) if refused.problem == PathProblem::NotFound && !required => Ok(Settings::default()),
        Err(refused) if refused.problem == PathProblem::NotFound => {
            Err(Error::Config(vec![Diagnostic::new(refused.path, "settings file not found")
                .hint("the `config` input is relative to the repository root; leave it empty for the defaults")]))
        }
        Err(refused) => Err(Error::Config(vec![refused.file_diagnostic()])),
    }
}

/// A valid estate, and what the user should know about it.
#[derive(Debug, Clone, Default)]
pub struct Loaded {
    pub estate: Estate,
    /// Problems that do not stop a plan, each at its file and line.
    pub warnings: Vec<Diagnostic>,
    /// Keys the deployer does not read, when [`LoadOptions::notices`] asks for them.
    pub notices: Vec<Diagnostic>,
    /// Clusters left out because of problems confined to their own files (its
    /// `cluster.yaml`, a values file it lists, a cluster name another file also uses); sorted by file.
    pub blocked: Vec<BlockedCluster>,
    /// With `rollout` configured, the pins of its state file.
    pub rollout_pins: Option<Pins>,
}

/// What to report besides errors.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LoadOptions {
    /// List the keys of the cluster files that the deployer does not read.
    pub notices: bool,
}

/// Finds, reads and validates every cluster file, dropping the warnings; any
/// blocked cluster is an error with every problem (the strict form of [`load`]).
pub fn load_estate(repo: &Path, settings: &Settings) -> Result<Estate, Error> {
    let loaded = load(repo, settings, LoadOptions::default())?;
    if !loaded.blocked.is_empty() {
        return Err(Error::Config(blocked_clusters::problems(&loaded.blocked)));
    }
    Ok(loaded.estate)
}

/// Finds, reads and validates every cluster file. A problem confined to one
/// cluster's files blocks only that cluster ([`Loaded::blocked`]); any other
/// problem (the search folder, `Chart.yaml`) is an error.
pub fn load(repo: &Path, settings: &Settings, options: LoadOptions) -> Result<Loaded, Error> {
    let root = RepoRoot::new(repo)?;
    let files = cluster_files(&root, settings)?;
    if files.is_empty() {
        return Err(Error::Config(vec![Diagnostic::new(
            settings.cluster_search_root(),
            format!("no cluster files match `{}`", settings.cluster_glob),
        )
        .hint("run from the repository root (or pass --repo), or set `clusters.glob` in deployer.yaml")]));
    }
    let workers = workers_for(files.len());
    // Read every file (in parallel for large fleets), keeping the sorted order.
    let seed = root.for_thread();
    let read: Vec<Result<ClusterSource, BlockedCluster>> = in_chunks(&files, workers, |chunk| {
        let root = seed.root();
        chunk
            .iter()
            .map(|file| {
                root.read_config_file(file)
                    .map(|text| ClusterSource { file: file.clone(), text })
                    .map_err(|refused| BlockedCluster::from_source(file, None, vec![refused.file_diagnostic()]))
            })
            .collect()
    });
    let mut sources = Vec::with_capacity(read.len());
    let mut blocked = Vec::new();
    for result in read {
        match result {
            Ok(source) => sources.push(source),
            Err(unreadable) => blocked.push(unreadable),
        }
    }
    let charts = {
        let check_file = cached_file_check(&root);
        list_charts(&root, &|chart| has_chart_file(&check_file, chart))?
    };
    // A chart folder that a submodule fills is empty when the checkout did not fetch submodules.
    let submodules = match root.read_config_file(super::submodules::GITMODULES) {
        Ok(text) => super::submodules::paths(&text),
        Err(_) => Vec::new(),
    };
    // Parse and validate, each thread with its own cache of file checks
    // (hubs often share values files: the filesystem is asked once per path and thread).
    let outcomes = in_chunks(&sources, workers, |chunk| {
        let root = seed.root();
        let check_file = cached_file_check(&root);
        let chart_exists = |chart: &str| has_chart_file(&check_file, chart);
        let facts = RepoFacts {
            file_check: &check_file,
            chart_exists: &chart_exists,
            charts: &charts,
            submodules: &submodules,
        };
        chunk.iter().map(|source| parse_cluster(source, &facts, options.notices)).collect()
    });
    let mut parsed = Vec::with_capacity(sources.len());
    let (mut warnings, mut notices) = (Vec::new(), Vec::new());
    for (source, outcome) in sources.iter().zip(outcomes) {
        match outcome {
            Ok(found) => {
                warnings.extend(found.warnings);
                notices.extend(found.notices);
                parsed.push((found.cluster, source));
            }
            Err(found) => blocked.push(BlockedCluster::from_source(&source.file, Some(&source.text), found)),
        }
    }
    let (parsed, mut duplicates) = blocked_clusters::split_duplicate_names(parsed);
    blocked.append(&mut duplicates);
    blocked.sort_by(|a, b| a.file.cmp(&b.file));
    let mut estate = assemble_estate(parsed).map_err(Error::Config)?;
    add_chart_values(&root, settings, &mut estate)?;
    warnings.extend(unknown_health_check_clusters(settings, &estate, &blocked));
    let rollout_pins = match &settings.rollout {
        Some(rollout) => Some(load_rollout(&root, settings, rollout, &estate, !blocked.is_empty())?),
        None => None,
    };
    Ok(Loaded { estate, warnings, notices, blocked, rollout_pins })
}

/// Puts in front of each release's values files what its chart gives every release: the chart's
/// `charts.<chart>.values_files` from `deployer.yaml`, then the chart folder's own `values.jsonnet`
/// when there is one (the Python deployer's order). From here on, a release's list is exactly what
/// helm gets, in order, and each of these files is an input of every release of the chart.
fn add_chart_values(root: &RepoRoot, settings: &Settings, estate: &mut Estate) -> Result<(), Error> {
    let mut problems = Vec::new();
    let mut given: BTreeMap<String, Vec<ValuesFile>> = BTreeMap::new();
    let used = super::charts::used_charts(estate);
    for chart in &used {
        let mut files = Vec::new();
        for (index, path) in settings.chart_values(chart).iter().enumerate() {
            match root.file(path) {
                Ok(_) => files.push(ValuesFile { path: path.clone() }),
                Err(refused) => {
                    let at = settings
                        .chart_values_file_keys
                        .iter()
                        .find(|((name, at_index), _)| name == chart && *at_index == index)
                        .map(|(_, at)| at.clone())
                        .unwrap_or_else(|| Diagnostic::new(super::settings::DEFAULT_SETTINGS_FILE, String::new()));
                    let mut diagnostic = at.hint(
                        "`charts.<chart>.values_files` are repository-relative files given to every release of the chart",
                    );
                    diagnostic.message = format!("the chart's values file {path} {}", refused.problem);
                    problems.push(diagnostic);
                }
            }
        }
        let own = crate::config::jsonnet::chart_values_file(&super::charts::chart_folder(chart));
        match root.file(&own) {
            Ok(_) => files.push(ValuesFile { path: own }),
            Err(refused) if refused.problem == PathProblem::NotFound => {}
            Err(refused) => problems.push(refused.file_diagnostic()),
        }
        given.insert(chart.clone(), files);
    }
    if !problems.is_empty() {
        return Err(Error::Config(problems));
    }
    let with = |chart: &str, own: &mut Vec<ValuesFile>| {
        if let Some(first) = given.get(chart).filter(|first| !first.is_empty()) {
            let mut files = first.clone();
            files.append(own);
            *own = files;
        }
    };
    for cluster in &mut estate.clusters {
        if let Some(support) = &mut cluster.support {
            with(super::charts::SUPPORT_CHART, &mut support.values_files);
        }
        for hub in &mut cluster.hubs {
            with(&hub.helm_chart, &mut hub.values_files);
        }
    }
    Ok(())
}

/// Checks the waves against the clusters and reads the state file (`rollout.state_file`) into its pins.
fn load_rollout(
    root: &RepoRoot,
    settings: &Settings,
    rollout: &Rollout,
    estate: &Estate,
    some_blocked: bool,
) -> Result<Pins, Error> {
    let mut problems = rollout.check_estate(estate, &|hub| settings.is_staging_hub(hub), some_blocked);
    let state_file = crate::base::repo_path::normalize(&rollout.state_file);
    let pins = match root.read_config_file(&state_file) {
        Ok(text) => super::rollout::parse_state(&state_file, &text, rollout),
        Err(refused) if refused.problem == PathProblem::NotFound => {
            let mut diagnostic = rollout.state_file_key.clone().hint(super::rollout::PROMOTE_HINT);
            diagnostic.message = format!("the rollout state file {state_file} is missing");
            Err(vec![diagnostic])
        }
        Err(refused) => Err(vec![refused.file_diagnostic()]),
    };
    match pins {
        Ok(pins) if problems.is_empty() => Ok(pins),
        Ok(_) => Err(Error::Config(problems)),
        Err(mut more) => {
            problems.append(&mut more);
            Err(Error::Config(problems))
        }
    }
}

/// A name under `health_checks.clusters` that no cluster has (nor a blocked one): its
/// paths would check nothing, so it is reported at its line, with the nearest name.
fn unknown_health_check_clusters(settings: &Settings, estate: &Estate, blocked: &[BlockedCluster]) -> Vec<Diagnostic> {
    let names = || {
        estate
            .clusters
            .iter()
            .map(|cluster| cluster.name.as_str())
            .chain(blocked.iter().filter_map(|cluster| cluster.name.as_deref()))
    };
    settings
        .health_check_cluster_keys
        .iter()
        .filter(|(name, _)| !names().any(|known| known == name))
        .map(|(name, at)| {
            let hint = match super::suggest::did_you_mean(name, names()) {
                Some(near) => format!("did you mean `{near}`? the names are the clusters' `name:`"),
                None => "the names are the clusters' `name:`".to_owned(),
            };
            let mut diagnostic = at.clone().hint(hint);
            diagnostic.message =
                format!("no cluster is named {}, so these paths check nothing", super::suggest::shown(name, "this"));
            diagnostic
        })
        .collect()
}

/// Below this many cluster files, one thread does it all: threads cost more than they save.
const FILES_PER_THREAD: usize = 32;

/// Threads for `files` cluster files: one per core, at most one per [`FILES_PER_THREAD`] files.
fn workers_for(files: usize) -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    cores.min(files / FILES_PER_THREAD).max(1)
}

/// `work` over `workers` contiguous chunks of `items`, each on its own thread
/// (the calling thread when there is one); the results concatenated in item order.
fn in_chunks<T: Sync, R: Send>(items: &[T], workers: usize, work: impl Fn(&[T]) -> Vec<R> + Sync) -> Vec<R> {
    if workers <= 1 || items.len() < 2 {
        return work(items);
    }
    let size = items.len().div_ceil(workers);
    std::thread::scope(|scope| {
        let handles: Vec<_> = items.chunks(size).map(|chunk| scope.spawn(|| work(chunk))).collect();
        // A worker panics only on a bug; the panic goes on here, as it would on one thread.
        handles
            .into_iter()
            .flat_map(|handle| handle.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
            .collect()
    })
}

/// Whether `helm-charts/<chart>/Chart.yaml` is a file, by `check_file`.
fn has_chart_file(check_file: &dyn Fn(&str) -> Result<(), PathProblem>, chart: &str) -> bool {
    check_file(&format!("{CHARTS_DIR}/{chart}/Chart.yaml")).is_ok()
}

/// Whether a repository-relative path is a regular file inside the checkout, asking the filesystem once per path.
fn cached_file_check(root: &RepoRoot) -> impl Fn(&str) -> Result<(), PathProblem> + '_ {
    let known: RefCell<HashMap<String, Result<(), PathProblem>>> = RefCell::new(HashMap::new());
    move |relative: &str| {
        if let Some(found) = known.borrow().get(relative) {
            return found.clone();
        }
        let found = root.file(relative).map(drop).map_err(|refused| refused.problem);
        known.borrow_mut().insert(relative.to_owned(), found.clone());
        found
    }
}

/// The folders of the charts directory that hold a `Chart.yaml`, sorted. The
/// charts directory is resolved through [`RepoRoot`]; folder links inside it
/// are not followed; names that are not UTF-8 are left out.
fn list_charts(root: &RepoRoot, chart_exists: &dyn Fn(&str) -> bool) -> Result<Vec<String>, Error> {
    let dir = match root.dir(CHARTS_DIR) {
        Ok(dir) => dir,
        Err(refused) if matches!(refused.problem, PathProblem::NotFound | PathProblem::NotAFolder) => {
            return Ok(Vec::new())
        }
        Err(refused) => return Err(Error::Config(vec![refused.file_diagnostic()])),
    };
    let entries = fs::read_dir(&dir).map_err(|e| Error::io(&dir, e))?;
    let mut charts = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(&dir, e))?;
        let is_dir = entry.file_type().map_err(|e| Error::io(entry.path(), e))?.is_dir();
        if let (true, Some(name)) = (is_dir, entry.file_name().to_str()) {
            if chart_exists(name) {
                charts.push(name.to_owned());
            }
        }
    }
    charts.sort();
    Ok(charts)
}

/// Largest `Chart.yaml` read.
pub const MAX_CHART_FILE_BYTES: u64 = 1024 * 1024;

/// Reads the `Chart.yaml` of every chart the estate uses and of every chart they reach through
/// `file://` dependencies, and computes each used chart's inputs.
pub fn load_chart_inputs(repo: &Path, estate: &Estate) -> Result<ChartInputs, Error> {
    let root = RepoRoot::new(repo)?;
    let mut read = |relative: &str| read_chart_file(&root, relative);
    let used = used_charts(estate);
    let mut inputs = chart_inputs(&used, &mut read)?;
    let mut problems = Vec::new();
    let mut done = std::collections::BTreeSet::new();
    for hub in estate.clusters.iter().flat_map(|cluster| &cluster.hubs) {
        let Some(chart_override) = &hub.chart_override else { continue };
        let key = hub.chart_key();
        if !done.insert(key.clone()) {
            continue;
        }
        let found =
            chart_inputs_overridden(&key, &hub.helm_chart, &chart_override.replaces, &chart_override.file, &mut read);
        match found {
            Ok(found) => inputs.add_override(key, found),
            Err(Error::Config(mut found)) => problems.append(&mut found),
            Err(error) => return Err(error),
        }
    }
    if !problems.is_empty() {
        problems.sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
        problems.dedup();
        return Err(Error::Config(problems));
    }
    // `.jsonnet` values (the charts' own `values.jsonnet` among them): what each render reads is an
    // input of the releases that render it.
    for cluster in &estate.clusters {
        let support = cluster.support.iter().flat_map(|s| s.values_files.iter());
        for file in support.chain(cluster.hubs.iter().flat_map(|h| h.values_files.iter())) {
            if crate::config::jsonnet::is_jsonnet(&file.path) && inputs.jsonnet_inputs(&file.path).is_empty() {
                inputs.add_jsonnet(&file.path, crate::config::jsonnet::input_files(&root, &file.path));
            }
        }
    }
    Ok(inputs)
}

/// With `rollout`: no used chart may reach a rolled chart through `file://` dependencies without
/// rolling itself ([`super::rollout::Rollout::check_dependents`]).
pub fn check_rollout_dependents(settings: &Settings, estate: &Estate, charts: &ChartInputs) -> Result<(), Error> {
    let Some(rollout) = &settings.rollout else { return Ok(()) };
    let problems = rollout.check_dependents(charts, &used_charts(estate));
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Error::Config(problems))
    }
}

/// The text of one repository-relative `Chart.yaml`, `None` when there is none. Read through
/// [`RepoRoot`]: inside the checkout after symlinks, a regular file of at most 1 MiB, UTF-8.
fn read_chart_file(root: &RepoRoot, relative: &str) -> Result<Option<String>, Error> {
    match root.read_config_file(relative) {
        Ok(text) => Ok(Some(text)),
        Err(refused) if refused.problem == PathProblem::NotFound => Ok(None),
        Err(refused) => Err(Error::Config(vec![refused.file_diagnostic()])),
    }
}

/// Repository-relative paths of the cluster files, sorted.
pub fn find_cluster_files(repo: &Path, settings: &Settings) -> Result<Vec<String>, Error> {
    cluster_files(&RepoRoot::new(repo)?, settings)
}

fn cluster_files(root: &RepoRoot, settings: &Settings) -> Result<Vec<String>, Error> {
    let search_root = settings.cluster_search_root();
    let mut found = Vec::new();
    match root.dir(search_root) {
        Ok(start) => walk(&start, search_root, settings, &mut found)?,
        // No such folder: no cluster files, which the caller reports.
        Err(refused) if matches!(refused.problem, PathProblem::NotFound | PathProblem::NotAFolder) => {}
        Err(refused) => {
            return Err(Error::Config(vec![Diagnostic::new(
                &refused.path,
                format!("refusing to search this folder for cluster files: it {}", refused.problem),
            )
            .hint(refused.problem.hint())]))
        }
    }
    found.sort();
    Ok(found)
}

/// Collects the paths under `dir` that match the cluster glob. Folders that
/// are symlinks are not entered (a link could leave the repository or loop);
/// any other entry that matches is collected, and reading it then refuses
/// what is not a regular file inside the repository.
fn walk(dir: &Path, relative: &str, settings: &Settings, found: &mut Vec<String>) -> Result<(), Error> {
    let entries = fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name == ".git" {
            continue;
        }
        let child = if relative.is_empty() { name.to_owned() } else { format!("{relative}/{name}") };
        let file_type = entry.file_type().map_err(|e| Error::io(entry.path(), e))?;
        if file_type.is_dir() {
            walk(&entry.path(), &child, settings, found)?;
        } else if settings.is_cluster_file(&child) {
            found.push(child);
        }
    }
    Ok(())
}
