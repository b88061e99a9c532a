//! Reads the settings and cluster files of a repository checkout from disk.
//! The rest of the config layer is pure; this is its I/O edge.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use super::charts::{chart_inputs, used_charts, ChartInputs};
use super::cluster::{assemble_estate, parse_cluster, ClusterSource};
use super::settings::{Settings, DEFAULT_SETTINGS_FILE};
use super::Estate;
use crate::blocked::{self, BlockedCluster};
use crate::diagnostic::Diagnostic;
use crate::error::Error;

/// Loads `deployer.yaml`: the file `config` names (relative to `repo`), or
/// `deployer.yaml` at the root when present, or the defaults.
pub fn load_settings(repo: &Path, config: Option<&Path>) -> Result<Settings, Error> {
    let (path, required) = match config {
        Some(config) => (repo.join(config), true),
        None => (repo.join(DEFAULT_SETTINGS_FILE), false),
    };
    let display = display_path(repo, &path);
    let text = match fs::read_to_string(&path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound && !required => return Ok(Settings::default()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::Config(vec![Diagnostic::new(display, "settings file not found")
                .hint("the `config` input is relative to the repository root; leave it empty for the defaults")]))
        }
        Err(error) => return Err(Error::io(path, error)),
    };
    Settings::parse(&display, &text).map_err(Error::Config)
}

/// Finds, reads and validates every cluster file. All problems in all files are reported together.
pub fn load_estate(repo: &Path, settings: &Settings) -> Result<Estate, Error> {
    let loaded = load_clusters(repo, settings)?;
    if !loaded.blocked.is_empty() {
        return Err(Error::Config(blocked::problems(&loaded.blocked)));
    }
    Ok(loaded.estate)
}

/// The clusters that loaded, and those blocked by problems in their own files.
#[derive(Debug, Clone)]
pub struct LoadedClusters {
    pub estate: Estate,
    /// Sorted by file.
    pub blocked: Vec<BlockedCluster>,
}

/// [`load_estate`], with a problem confined to one cluster's files (its `cluster.yaml`, a values
/// file it lists, a cluster name another file also uses) blocking only that cluster.
pub fn load_clusters(repo: &Path, settings: &Settings) -> Result<LoadedClusters, Error> {
    let files = find_cluster_files(repo, settings)?;
    if files.is_empty() {
        return Err(Error::Config(vec![Diagnostic::new(
            settings.cluster_search_root(),
            format!("no cluster files match `{}`", settings.cluster_glob),
        )
        .hint("run from the repository root (or pass --repo), or set `clusters.glob` in deployer.yaml")]));
    }
    let mut sources = Vec::with_capacity(files.len());
    let mut blocked = Vec::new();
    for file in files {
        let path = repo.join(&file);
        match fs::read(&path) {
            Ok(bytes) => match String::from_utf8(bytes) {
                Ok(text) => sources.push(ClusterSource { file, text }),
                Err(_) => {
                    let problem = Diagnostic::new(&file, "the file is not UTF-8 text").hint("save it as UTF-8");
                    blocked.push(BlockedCluster::from_source(&file, None, vec![problem]));
                }
            },
            Err(error) => return Err(Error::io(path, error)),
        }
    }
    // Hubs often share values files: ask the filesystem once per path.
    let known: RefCell<HashMap<String, bool>> = RefCell::new(HashMap::new());
    let exists = |relative: &str| {
        if let Some(found) = known.borrow().get(relative) {
            return *found;
        }
        let found = repo.join(relative).is_file();
        known.borrow_mut().insert(relative.to_owned(), found);
        found
    };
    let mut parsed = Vec::with_capacity(sources.len());
    for source in &sources {
        match parse_cluster(source, &exists) {
            Ok(cluster) => parsed.push((cluster, source)),
            Err(found) => blocked.push(BlockedCluster::from_source(&source.file, Some(&source.text), found)),
        }
    }
    let (parsed, mut duplicates) = blocked::split_duplicate_names(parsed);
    blocked.append(&mut duplicates);
    blocked.sort_by(|a, b| a.file.cmp(&b.file));
    let estate = assemble_estate(parsed).map_err(Error::Config)?;
    Ok(LoadedClusters { estate, blocked })
}

/// Largest `Chart.yaml` read.
pub const MAX_CHART_FILE_BYTES: u64 = 1024 * 1024;

/// Reads the `Chart.yaml` of every chart the estate uses and of every chart they reach through
/// `file://` dependencies, and computes each used chart's inputs.
pub fn load_chart_inputs(repo: &Path, estate: &Estate) -> Result<ChartInputs, Error> {
    chart_inputs(&used_charts(estate), &mut |relative: &str| read_chart_file(repo, relative))
}

/// The text of one repository-relative `Chart.yaml`, `None` when there is none. Only regular files
/// of at most [`MAX_CHART_FILE_BYTES`] are read: a symlink, FIFO or folder there is a problem in that file.
fn read_chart_file(repo: &Path, relative: &str) -> Result<Option<String>, Error> {
    use std::io::Read;

    let path = repo.join(relative);
    let problem = |message: &str, hint: &str| Error::Config(vec![Diagnostic::new(relative, message).hint(hint)]);
    let metadata = match fs::symlink_metadata(&path) {
        Ok(metadata) => metadata,
        Err(error) if matches!(error.kind(), std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory) => {
            return Ok(None)
        }
        Err(error) => return Err(Error::io(path, error)),
    };
    if !metadata.is_file() {
        return Err(problem("is not a regular file", "a chart's Chart.yaml must be a plain file in the repository"));
    }
    let too_large = || {
        problem(
            &format!("the file is larger than {} KiB", MAX_CHART_FILE_BYTES / 1024),
            "a Chart.yaml is a short manifest; check that the right file is committed",
        )
    };
    if metadata.len() > MAX_CHART_FILE_BYTES {
        return Err(too_large());
    }
    let file = fs::File::open(&path).map_err(|e| Error::io(&path, e))?;
    let mut bytes = Vec::new();
    file.take(MAX_CHART_FILE_BYTES + 1).read_to_end(&mut bytes).map_err(|e| Error::io(&path, e))?;
    if bytes.len() as u64 > MAX_CHART_FILE_BYTES {
        return Err(too_large());
    }
    String::from_utf8(bytes).map(Some).map_err(|_| problem("the file is not UTF-8 text", "save it as UTF-8"))
}

/// Repository-relative paths of the cluster files, sorted.
pub fn find_cluster_files(repo: &Path, settings: &Settings) -> Result<Vec<String>, Error> {
    let root = settings.cluster_search_root();
    let mut found = Vec::new();
    let start = if root.is_empty() { repo.to_path_buf() } else { repo.join(root) };
    if start.is_dir() {
        walk(&start, root, settings, &mut found)?;
    }
    found.sort();
    Ok(found)
}

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
        // Symlinks are not followed: a link could leave the repository or loop.
        let file_type = entry.file_type().map_err(|e| Error::io(entry.path(), e))?;
        if file_type.is_dir() {
            walk(&entry.path(), &child, settings, found)?;
        } else if file_type.is_file() && settings.is_cluster_file(&child) {
            found.push(child);
        }
    }
    Ok(())
}

/// `path` relative to `repo` with `/` separators when it is inside it, else as given.
fn display_path(repo: &Path, path: &Path) -> String {
    let relative: PathBuf = path.strip_prefix(repo).map(Path::to_path_buf).unwrap_or_else(|_| path.to_path_buf());
    relative.to_string_lossy().replace('\\', "/")
}
