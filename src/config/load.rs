//! Reads the settings and cluster files of a repository checkout from disk.
//! The rest of the config layer is pure; this is its I/O edge.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use super::cluster::{assemble_estate, parse_cluster, ClusterSource, RepoFacts};
use super::settings::{Settings, DEFAULT_SETTINGS_FILE};
use super::{Estate, CHARTS_DIR};
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

/// A valid estate, and what the user should know about it.
#[derive(Debug, Clone, Default)]
pub struct Loaded {
    pub estate: Estate,
    /// Problems that do not stop a plan, each at its file and line.
    pub warnings: Vec<Diagnostic>,
    /// Keys the deployer does not read, when [`LoadOptions::notices`] asks for them.
    pub notices: Vec<Diagnostic>,
}

/// What to report besides errors.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LoadOptions {
    /// List the keys of the cluster files that the deployer does not read.
    pub notices: bool,
}

/// Finds, reads and validates every cluster file, dropping the warnings; see [`load`].
pub fn load_estate(repo: &Path, settings: &Settings) -> Result<Estate, Error> {
    load(repo, settings, LoadOptions::default()).map(|loaded| loaded.estate)
}

/// Finds, reads and validates every cluster file. All problems in all files are reported together.
pub fn load(repo: &Path, settings: &Settings, options: LoadOptions) -> Result<Loaded, Error> {
    let files = find_cluster_files(repo, settings)?;
    if files.is_empty() {
        return Err(Error::Config(vec![Diagnostic::new(
            settings.cluster_search_root(),
            format!("no cluster files match `{}`", settings.cluster_glob),
        )
        .hint("run from the repository root (or pass --repo), or set `clusters.glob` in deployer.yaml")]));
    }
    let mut sources = Vec::with_capacity(files.len());
    let mut problems = Vec::new();
    for file in files {
        let path = repo.join(&file);
        match fs::read(&path) {
            Ok(bytes) => match String::from_utf8(bytes) {
                Ok(text) => sources.push(ClusterSource { file, text }),
                Err(_) => problems.push(Diagnostic::new(file, "the file is not UTF-8 text").hint("save it as UTF-8")),
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
    let chart_exists = |chart: &str| exists(&format!("{CHARTS_DIR}/{chart}/Chart.yaml"));
    let charts = list_charts(repo, &chart_exists)?;
    let facts = RepoFacts { file_exists: &exists, chart_exists: &chart_exists, charts: &charts };
    let mut parsed = Vec::with_capacity(sources.len());
    let (mut warnings, mut notices) = (Vec::new(), Vec::new());
    for source in &sources {
        match parse_cluster(source, &facts, options.notices) {
            Ok(found) => {
                warnings.extend(found.warnings);
                notices.extend(found.notices);
                parsed.push((found.cluster, source));
            }
            Err(mut found) => problems.append(&mut found),
        }
    }
    if !problems.is_empty() {
        return Err(Error::Config(problems));
    }
    let estate = assemble_estate(parsed).map_err(Error::Config)?;
    Ok(Loaded { estate, warnings, notices })
}

/// The folders of the charts directory that hold a `Chart.yaml`, sorted.
/// Folder links are not followed; names that are not UTF-8 are left out.
fn list_charts(repo: &Path, chart_exists: &dyn Fn(&str) -> bool) -> Result<Vec<String>, Error> {
    let dir = repo.join(CHARTS_DIR);
    let entries = match fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => return Err(Error::io(dir, error)),
    };
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
