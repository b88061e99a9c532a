//! The one place that resolves repository paths on disk.
//!
//! Every file of the checkout the tool reads or hands to another program
//! (`deployer.yaml`, cluster files, values files, `kubeconfig.file`, chart
//! folders) is found through a [`RepoRoot`]. A path must be relative and stay
//! inside the root lexically (no absolute path, no `..` above the root), and
//! again after its symlinks are resolved, so a link to a file inside the
//! checkout works and a link out of it is refused. A file must be a regular
//! file: a FIFO, device, socket or folder is refused from its metadata, and
//! files are opened non-blocking and without following a last-moment symlink,
//! so nothing can make a read hang. Configuration files are read with a cap of
//! [`MAX_CONFIG_FILE_BYTES`].
//!
//! A refused path is a [`PathError`]: which path, and why, in words that never
//! include the file's content or where a link points.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::fs::{self, File, Metadata};
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use crate::base::diagnostic::Diagnostic;
use crate::base::error::Error;
use crate::base::repo_path;

/// The largest configuration file read (1 MiB).
pub const MAX_CONFIG_FILE_BYTES: u64 = 1024 * 1024;

/// What a refused path is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Directory,
    Fifo,
    Socket,
    CharDevice,
    BlockDevice,
    Symlink,
    Other,
}

impl FileKind {
    fn of(metadata: &Metadata) -> FileKind {
        let file_type = metadata.file_type();
        if file_type.is_dir() {
            return FileKind::Directory;
        }
        if file_type.is_symlink() {
            return FileKind::Symlink;
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::FileTypeExt;
            if file_type.is_fifo() {
                return FileKind::Fifo;
            }
            if file_type.is_socket() {
                return FileKind::Socket;
            }
            if file_type.is_char_device() {
                return FileKind::CharDevice;
            }
            if file_type.is_block_device() {
                return FileKind::BlockDevice;
            }
        }
        FileKind::Other
    }
}

impl fmt::Display for FileKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FileKind::Directory => "a folder",
            FileKind::Fifo => "a FIFO",
            FileKind::Socket => "a socket",
            FileKind::CharDevice => "a character device",
            FileKind::BlockDevice => "a block device",
            FileKind::Symlink => "a symlink",
            FileKind::Other => "not a file",
        })
    }
}

/// Why a repository path was refused. Displayed after the path: "`x` is …".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathProblem {
    /// An absolute path, where paths are relative.
    Absolute,
    /// A path whose `..` segments climb above the repository root.
    Climbs,
    /// The empty path, where a file is named.
    Empty,
    /// Nothing at the path.
    NotFound,
    /// A symlink whose target does not exist.
    BrokenLink,
    /// A symlink (or a folder on the way) that leads outside the repository.
    LinkOutside,
    /// A path in git's own folder (`.git/`), named or reached through a symlink: it can hold
    /// credentials (`persist-credentials` writes an authorization header into `.git/config`).
    GitFolder,
    /// Something other than a regular file where a file is needed.
    NotAFile(FileKind),
    /// Something other than a folder where a folder is needed.
    NotAFolder,
    /// A configuration file larger than [`MAX_CONFIG_FILE_BYTES`].
    TooLarge,
    /// A configuration file that is not UTF-8 text.
    NotUtf8,
    /// A folder read whole that is over a cap of [`TreeLimits`]: which, in words.
    TreeTooLarge(String),
    /// The operating system refused (permissions and the like); the error kind, in words.
    Unreadable(String),
}

impl fmt::Display for PathProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PathProblem::Absolute => f.write_str("is an absolute path"),
            PathProblem::Climbs => f.write_str("is outside the repository (its `..` climb above the root)"),
            PathProblem::Empty => f.write_str("is empty"),
            PathProblem::NotFound => f.write_str("does not exist"),
            PathProblem::BrokenLink => f.write_str("is a symlink whose target does not exist"),
            PathProblem::LinkOutside => f.write_str("is a symlink to a path outside the repository"),
            PathProblem::GitFolder => f.write_str("is in (or leads into) the repository's `.git` folder"),
            PathProblem::NotAFile(kind) => write!(f, "is not a regular file ({kind})"),
            PathProblem::NotAFolder => f.write_str("is not a folder"),
            PathProblem::TooLarge => write!(f, "is larger than {} MiB", MAX_CONFIG_FILE_BYTES / (1024 * 1024)),
            PathProblem::NotUtf8 => f.write_str("is not UTF-8 text"),
            PathProblem::TreeTooLarge(what) => write!(f, "is too large to read whole ({what})"),
            PathProblem::Unreadable(reason) => write!(f, "cannot be read ({reason})"),
        }
    }
}

impl PathProblem {
    /// A one-line suggestion of how to fix it.
    pub fn hint(&self) -> &'static str {
        match self {
            PathProblem::Absolute | PathProblem::Climbs => {
                "paths are relative (to the repository root, or to the folder of the file naming them) \
                 and must stay inside the repository"
            }
            PathProblem::Empty => "name a file",
            PathProblem::NotFound | PathProblem::BrokenLink => "fix the name or add the file",
            PathProblem::LinkOutside => {
                "a symlink must point inside the repository; copy the file into the repository instead"
            }
            PathProblem::GitFolder => {
                "git's own files (which can hold credentials) are never read; name a file of the checkout"
            }
            PathProblem::NotAFile(_) => "name a regular file",
            PathProblem::NotAFolder => "name a folder",
            PathProblem::TooLarge => "configuration files are limited to 1 MiB; remove what is not needed",
            PathProblem::NotUtf8 => "save it as UTF-8",
            PathProblem::TreeTooLarge(_) => "a chart folder holds at most 10,000 files, 256 MiB, 32 folders deep",
            PathProblem::Unreadable(_) => "check the file's permissions",
        }
    }

    fn from_io(error: &io::Error) -> PathProblem {
        match error.kind() {
            // `a/b` where `a` is a file: nothing is there either.
            io::ErrorKind::NotFound | io::ErrorKind::NotADirectory => PathProblem::NotFound,
            kind => PathProblem::Unreadable(kind.to_string()),
        }
    }
}

/// A refused repository path: the path as the configuration named it, normalised, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{path}` {problem}")]
pub struct PathError {
    pub path: String,
    pub problem: PathProblem,
}

impl PathError {
    /// The refusal as a problem of the file itself (`deployer.yaml`, a cluster
    /// file), for when no other file named it.
    pub fn file_diagnostic(&self) -> Diagnostic {
        Diagnostic::new(&self.path, format!("refusing to read this file: it {}", self.problem))
            .hint(self.problem.hint())
    }
}

/// `entry` (as a configuration file writes it) relative to the repository
/// folder `dir`, normalised; refused when it is absolute or climbs out of the
/// repository. Pure: nothing is looked up on disk.
pub fn join_inside(dir: &str, entry: &str) -> Result<String, PathProblem> {
    let trimmed = entry.trim();
    if trimmed.is_empty() {
        return Err(PathProblem::Empty);
    }
    if trimmed.starts_with('/') {
        return Err(PathProblem::Absolute);
    }
    let joined = repo_path::join(dir, trimmed);
    if joined.is_empty() {
        // `.` or `dir/..`: the root itself, which only a folder lookup accepts.
        return Ok(joined);
    }
    if !repo_path::is_inside_repo(&joined) {
        return Err(PathProblem::Climbs);
    }
    Ok(joined)
}

/// A repository checkout: its canonical root folder.
#[derive(Debug, Clone)]
pub struct RepoRoot {
    root: PathBuf,
    /// Folders already resolved, by normalised path: files share folders
    /// (a cluster's values files), so each folder is resolved once.
    folders: RefCell<HashMap<String, Result<PathBuf, PathProblem>>>,
}

/// A checked root, to make a [`RepoRoot`] with empty caches from on another thread.
#[derive(Debug, Clone)]
pub struct RepoRootSeed {
    root: PathBuf,
}

impl RepoRootSeed {
    /// A [`RepoRoot`] at the same canonical folder, without touching the disk.
    pub fn root(&self) -> RepoRoot {
        RepoRoot { root: self.root.clone(), folders: RefCell::default() }
    }
}

impl RepoRoot {
    /// The checkout at `repo` (the `--repo` flag or `GITHUB_WORKSPACE`, trusted).
    pub fn new(repo: &Path) -> Result<RepoRoot, Error> {
        let root = fs::canonicalize(repo).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => {
                Error::io(repo, io::Error::new(e.kind(), "the repository folder does not exist"))
            }
            _ => Error::io(repo, e),
        })?;
        if !root.is_dir() {
            return Err(Error::io(repo, io::Error::other("the repository path is not a folder")));
        }
        Ok(RepoRoot { root, folders: RefCell::default() })
    }

    /// The same root with caches of its own, for another thread (the caches are not shared).
    pub fn for_thread(&self) -> RepoRootSeed {
        RepoRootSeed { root: self.root.clone() }
    }

    /// The canonical root folder.
    pub fn path(&self) -> &Path {
        &self.root
    }

    /// The on-disk path of the repository-relative `relative`, every symlink
    /// resolved, checked to be inside the root. It need not be a file.
    pub fn resolve(&self, relative: &str) -> Result<PathBuf, PathError> {
        let normalized = normalize_inside(relative)?;
        self.locate(&normalized).map(|(path, _)| path)
    }

    /// The canonical path of a normalised path and its metadata (never a
    /// symlink's). The folder is resolved fully (once); the last segment is
    /// looked at without following it, and resolved only when it is a symlink.
    fn locate(&self, normalized: &str) -> Result<(PathBuf, Metadata), PathError> {
        let fail = |problem| error(normalized, problem);
        if normalized.split('/').any(is_git_folder) {
            return Err(fail(PathProblem::GitFolder));
        }
        let (found, metadata) = self.locate_anywhere(normalized)?;
        if self.in_git_folder(&found) {
            return Err(fail(PathProblem::GitFolder));
        }
        Ok((found, metadata))
    }

    /// Whether a canonical path inside the root is in a `.git` folder.
    fn in_git_folder(&self, canonical: &Path) -> bool {
        canonical
            .strip_prefix(&self.root)
            .is_ok_and(|inside| inside.components().any(|c| c.as_os_str().to_str().is_some_and(is_git_folder)))
    }

    /// [`Self::locate`] before the `.git` checks.
    fn locate_anywhere(&self, normalized: &str) -> Result<(PathBuf, Metadata), PathError> {
        let fail = |problem| error(normalized, problem);
        let (folder, name) = match normalized.rsplit_once('/') {
            Some((folder, name)) => (folder, name),
            None if normalized.is_empty() => {
                let metadata = fs::metadata(&self.root).map_err(|e| fail(PathProblem::from_io(&e)))?;
                return Ok((self.root.clone(), metadata));
            }
            None => ("", normalized),
        };
        let folder = self.folder(folder).map_err(fail)?;
        let candidate = folder.join(name);
        let metadata = fs::symlink_metadata(&candidate).map_err(|e| fail(PathProblem::from_io(&e)))?;
        if !metadata.file_type().is_symlink() {
            // A canonical folder and a plain entry in it: canonical, inside.
            return Ok((candidate, metadata));
        }
        let resolved = match fs::canonicalize(&candidate) {
            Ok(resolved) => resolved,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(fail(PathProblem::BrokenLink)),
            Err(e) => return Err(fail(PathProblem::from_io(&e))),
        };
        if !resolved.starts_with(&self.root) {
            // The lexical check passed, so only a symlink can have led out.
            return Err(fail(PathProblem::LinkOutside));
        }
        let metadata = fs::symlink_metadata(&resolved).map_err(|e| fail(PathProblem::from_io(&e)))?;
        Ok((resolved, metadata))
    }

    /// The canonical path of a normalised folder path, checked to be inside the root; cached.
    fn folder(&self, normalized: &str) -> Result<PathBuf, PathProblem> {
        if normalized.is_empty() {
            return Ok(self.root.clone());
        }
        if let Some(known) = self.folders.borrow().get(normalized) {
            return known.clone();
        }
        // The parent already resolved (sibling folders): one look at the last segment.
        let (parent, name) = normalized.rsplit_once('/').unwrap_or(("", normalized));
        let known_parent =
            if parent.is_empty() { Some(Ok(self.root.clone())) } else { self.folders.borrow().get(parent).cloned() };
        let found = match known_parent {
            Some(Err(problem)) => Err(problem),
            Some(Ok(parent)) => match fs::symlink_metadata(parent.join(name)) {
                Ok(metadata) if metadata.is_dir() => Ok(parent.join(name)),
                Ok(metadata) if metadata.file_type().is_symlink() => self.canonical_folder(normalized),
                Ok(_) => Err(PathProblem::NotFound),
                Err(e) => Err(PathProblem::from_io(&e)),
            },
            None => self.canonical_folder(normalized),
        };
        self.folders.borrow_mut().insert(normalized.to_owned(), found.clone());
        found
    }

    fn canonical_folder(&self, normalized: &str) -> Result<PathBuf, PathProblem> {
        match fs::canonicalize(self.root.join(normalized)) {
            Ok(resolved) if !resolved.starts_with(&self.root) => Err(PathProblem::LinkOutside),
            Ok(resolved) if resolved.is_dir() => Ok(resolved),
            Ok(_) => Err(PathProblem::NotFound),
            Err(e) => Err(PathProblem::from_io(&e)),
        }
    }

    /// The on-disk path of a regular file inside the repository (a values file, a
    /// kubeconfig handed to sops). The file is not opened.
    pub fn file(&self, relative: &str) -> Result<PathBuf, PathError> {
        self.regular_file(relative).map(|(path, _, _)| path)
    }

    fn regular_file(&self, relative: &str) -> Result<(PathBuf, Metadata, String), PathError> {
        let normalized = normalize_inside(relative)?;
        if normalized.is_empty() {
            return Err(error(relative, PathProblem::NotAFile(FileKind::Directory)));
        }
        let (resolved, metadata) = self.locate(&normalized)?;
        if !metadata.is_file() {
            return Err(error(&normalized, PathProblem::NotAFile(FileKind::of(&metadata))));
        }
        Ok((resolved, metadata, normalized))
    }

    /// The on-disk path of a folder inside the repository (a chart folder, where cluster files are searched).
    pub fn dir(&self, relative: &str) -> Result<PathBuf, PathError> {
        let normalized = if relative.trim().is_empty() { String::new() } else { normalize_inside(relative)? };
        let (resolved, metadata) = self.locate(&normalized)?;
        if !metadata.is_dir() {
            return Err(error(&normalized, PathProblem::NotAFolder));
        }
        self.folders.borrow_mut().insert(normalized, Ok(resolved.clone()));
        Ok(resolved)
    }

    /// A regular file inside the repository of at most [`MAX_CONFIG_FILE_BYTES`], not opened.
    pub fn config_file(&self, relative: &str) -> Result<PathBuf, PathError> {
        let (resolved, metadata, normalized) = self.regular_file(relative)?;
        if metadata.len() > MAX_CONFIG_FILE_BYTES {
            return Err(error(&normalized, PathProblem::TooLarge));
        }
        Ok(resolved)
    }

    /// The text of a configuration file inside the repository: a regular UTF-8
    /// file of at most [`MAX_CONFIG_FILE_BYTES`].
    pub fn read_config_file(&self, relative: &str) -> Result<String, PathError> {
        let (resolved, metadata, normalized) = self.regular_file(relative)?;
        if metadata.len() > MAX_CONFIG_FILE_BYTES {
            return Err(error(&normalized, PathProblem::TooLarge));
        }
        let bytes = read_capped(&resolved).map_err(|problem| error(&normalized, problem))?;
        String::from_utf8(bytes).map_err(|_| error(&normalized, PathProblem::NotUtf8))
    }
}

/// Caps on a folder read whole ([`RepoRoot::read_tree`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TreeLimits {
    pub max_files: usize,
    pub max_bytes: u64,
    pub max_depth: usize,
}

/// A chart folder is read whole for rendering: these caps bound what a
/// checkout can make the tool hold (a chart is rarely over a few MiB).
pub const CHART_TREE_LIMITS: TreeLimits = TreeLimits { max_files: 10_000, max_bytes: 256 * 1024 * 1024, max_depth: 32 };

/// A folder's regular files, by path relative to the folder (`templates/a.yaml`), sorted.
pub type Tree = Vec<(String, Vec<u8>)>;

impl RepoRoot {
    /// Every regular file under the repository folder `relative`, with its
    /// bytes: symlinks are followed only when they stay inside the
    /// repository, anything but files and folders is refused, and the whole is
    /// capped by `limits` (refused as [`PathProblem::TooLarge`]). For handing a
    /// chart to helm as a copy that holds nothing from outside the checkout.
    pub fn read_tree(&self, relative: &str, limits: TreeLimits) -> Result<Tree, PathError> {
        let top = self.dir(relative)?;
        let base = if relative.trim().is_empty() { String::new() } else { normalize_inside(relative)? };
        let mut files: Tree = Vec::new();
        let mut bytes: u64 = 0;
        // (folder on disk, path under `relative`, depth)
        let mut folders: Vec<(PathBuf, String, usize)> = vec![(top, String::new(), 0)];
        while let Some((folder, under, depth)) = folders.pop() {
            let shown = |name: &str| match (base.is_empty(), name.is_empty()) {
                (true, _) => name.to_owned(),
                (false, true) => base.clone(),
                (false, false) => format!("{base}/{name}"),
            };
            let entries = fs::read_dir(&folder).map_err(|e| error(&shown(&under), PathProblem::from_io(&e)))?;
            for entry in entries {
                let entry = entry.map_err(|e| error(&shown(&under), PathProblem::from_io(&e)))?;
                let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                    return Err(error(&shown(&under), PathProblem::NotUtf8));
                };
                let inner = if under.is_empty() { name } else { format!("{under}/{name}") };
                let path_in_repo = shown(&inner);
                let (resolved, metadata) = self.locate(&path_in_repo)?;
                if metadata.is_dir() {
                    if depth + 1 > limits.max_depth {
                        let why = format!("folders nest more than {} deep", limits.max_depth);
                        return Err(error(&shown(""), PathProblem::TreeTooLarge(why)));
                    }
                    folders.push((resolved, inner, depth + 1));
                } else if metadata.is_file() {
                    if files.len() >= limits.max_files {
                        let why = format!("more than {} files", limits.max_files);
                        return Err(error(&shown(""), PathProblem::TreeTooLarge(why)));
                    }
                    let remaining = limits.max_bytes.saturating_sub(bytes);
                    let content = read_capped_at(&resolved, remaining).map_err(|p| match p {
                        PathProblem::TooLarge => error(
                            &shown(""),
                            PathProblem::TreeTooLarge(format!("more than {} MiB", limits.max_bytes >> 20)),
                        ),
                        other => error(&path_in_repo, other),
                    })?;
                    bytes += content.len() as u64;
                    files.push((inner, content));
                } else {
                    return Err(error(&path_in_repo, PathProblem::NotAFile(FileKind::of(&metadata))));
                }
            }
        }
        files.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(files)
    }

    /// The bytes of a regular file inside the repository, of at most `cap` bytes.
    pub fn read_file_capped(&self, relative: &str, cap: u64) -> Result<Vec<u8>, PathError> {
        let (resolved, _, normalized) = self.regular_file(relative)?;
        read_capped_at(&resolved, cap).map_err(|problem| match problem {
            PathProblem::TooLarge => {
                error(&normalized, PathProblem::TreeTooLarge(format!("more than {} MiB", cap >> 20)))
            }
            other => error(&normalized, other),
        })
    }
}

/// `.git` in any case (a case-insensitive file system has one folder for all of them).
fn is_git_folder(segment: &str) -> bool {
    segment.eq_ignore_ascii_case(".git")
}

/// `relative` normalised and checked to stay inside ([`join_inside`]); paths
/// that are normal already (as the config layer hands them over) are taken as they are.
fn normalize_inside(relative: &str) -> Result<String, PathError> {
    let normal = !relative.is_empty()
        && !relative.starts_with(char::is_whitespace)
        && !relative.ends_with(char::is_whitespace)
        && relative.split('/').all(|segment| !matches!(segment, "" | "." | ".."));
    if normal {
        Ok(relative.to_owned())
    } else {
        join_inside("", relative).map_err(|problem| error(relative, problem))
    }
}

fn error(path: &str, problem: PathProblem) -> PathError {
    PathError { path: path.trim().to_owned(), problem }
}

/// Reads a file that was a regular file a moment ago. It is opened without
/// blocking and without following a symlink, and checked again through the
/// handle, so a swap for a FIFO or a link between the check and the open
/// cannot make it hang or leave the repository; at most one byte more than the
/// cap is read.
fn read_capped(path: &Path) -> Result<Vec<u8>, PathProblem> {
    read_capped_at(path, MAX_CONFIG_FILE_BYTES)
}

/// [`read_capped`] with another cap.
fn read_capped_at(path: &Path, cap: u64) -> Result<Vec<u8>, PathProblem> {
    let file = open_no_block(path).map_err(|e| match e.raw_os_error() {
        #[cfg(unix)]
        Some(libc::ELOOP) => PathProblem::NotAFile(FileKind::Symlink),
        _ => PathProblem::from_io(&e),
    })?;
    let metadata = file.metadata().map_err(|e| PathProblem::from_io(&e))?;
    if !metadata.is_file() {
        return Err(PathProblem::NotAFile(FileKind::of(&metadata)));
    }
    if metadata.len() > cap {
        return Err(PathProblem::TooLarge);
    }
    let mut bytes = Vec::with_capacity(usize::try_from(metadata.len()).unwrap_or(0).saturating_add(1));
    file.take(cap + 1).read_to_end(&mut bytes).map_err(|e| PathProblem::from_io(&e))?;
    if bytes.len() as u64 > cap {
        return Err(PathProblem::TooLarge);
    }
    Ok(bytes)
}

#[cfg(unix)]
fn open_no_block(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    fs::OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW).open(path)
}

#[cfg(not(unix))]
fn open_no_block(path: &Path) -> io::Result<File> {
    File::open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_inside_the_repository_only() {
        let cases: &[(&str, &str, Result<&str, PathProblem>)] = &[
            ("config/c1", "a.yaml", Ok("config/c1/a.yaml")),
            ("config/c1", "../common/a.yaml", Ok("config/common/a.yaml")),
            ("config/c1", "../../a.yaml", Ok("a.yaml")),
            ("config/c1", "../../../a.yaml", Err(PathProblem::Climbs)),
            ("", "../a.yaml", Err(PathProblem::Climbs)),
            ("", "a/../../a.yaml", Err(PathProblem::Climbs)),
            ("config/c1", "/etc/passwd", Err(PathProblem::Absolute)),
            ("", "  /etc/passwd", Err(PathProblem::Absolute)),
            ("config/c1", "", Err(PathProblem::Empty)),
            ("config/c1", "  ", Err(PathProblem::Empty)),
            ("", "./deployer.yaml", Ok("deployer.yaml")),
            ("", ".", Ok("")),
        ];
        for (dir, entry, expected) in cases {
            assert_eq!(join_inside(dir, entry), expected.clone().map(str::to_owned), "{dir:?} + {entry:?}");
        }
    }

    #[test]
    fn problems_say_what_is_wrong_without_content() {
        let cases = [
            (PathProblem::Absolute, "`x` is an absolute path"),
            (PathProblem::Climbs, "`x` is outside the repository (its `..` climb above the root)"),
            (PathProblem::LinkOutside, "`x` is a symlink to a path outside the repository"),
            (PathProblem::NotAFile(FileKind::Fifo), "`x` is not a regular file (a FIFO)"),
            (PathProblem::NotAFile(FileKind::Directory), "`x` is not a regular file (a folder)"),
            (PathProblem::TooLarge, "`x` is larger than 1 MiB"),
            (PathProblem::BrokenLink, "`x` is a symlink whose target does not exist"),
        ];
        for (problem, expected) in cases {
            assert_eq!(PathError { path: "x".into(), problem }.to_string(), expected);
        }
    }

    /// A checkout with a file, a folder, links in and out, and a file outside it.
    struct Fixture {
        _temp: tempfile::TempDir,
        root: RepoRoot,
    }

    fn fixture() -> Fixture {
        let temp = tempfile::tempdir().unwrap();
        let repo = temp.path().join("repo");
        fs::create_dir_all(repo.join("config/c1")).unwrap();
        fs::write(repo.join("config/c1/cluster.yaml"), "name: c1\n").unwrap();
        fs::write(temp.path().join("secret.txt"), "SECRET\n").unwrap();
        fs::create_dir_all(temp.path().join("outside-dir")).unwrap();
        fs::write(temp.path().join("outside-dir/cluster.yaml"), "name: out\n").unwrap();
        fs::write(repo.join("big.yaml"), vec![b'a'; MAX_CONFIG_FILE_BYTES as usize + 1]).unwrap();
        fs::write(repo.join("exact.yaml"), vec![b'a'; MAX_CONFIG_FILE_BYTES as usize]).unwrap();
        fs::write(repo.join("latin1.yaml"), [0xe9u8, b'\n']).unwrap();
        fs::create_dir_all(repo.join(".git")).unwrap();
        fs::write(repo.join(".git/config"), "extraheader = AUTHORIZATION: basic c2VjcmV0\n").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::symlink;
            symlink("config/c1/cluster.yaml", repo.join("inside-link.yaml")).unwrap();
            symlink(temp.path().join("secret.txt"), repo.join("outside-link.yaml")).unwrap();
            symlink("../secret.txt", repo.join("relative-outside-link.yaml")).unwrap();
            symlink(temp.path().join("outside-dir"), repo.join("outside-dir-link")).unwrap();
            symlink("config", repo.join("config-link")).unwrap();
            symlink("missing.yaml", repo.join("dangling.yaml")).unwrap();
            symlink("/dev/zero", repo.join("zero.yaml")).unwrap();
            symlink(".git/config", repo.join("git-link.yaml")).unwrap();
            symlink("../.git", repo.join("config/gitdir-link")).unwrap();
            let fifo = std::ffi::CString::new(repo.join("fifo.yaml").to_string_lossy().as_bytes()).unwrap();
            // SAFETY: a valid NUL-terminated path.
            assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) }, 0);
        }
        let root = RepoRoot::new(&repo).unwrap();
        Fixture { _temp: temp, root }
    }

    #[test]
    fn reads_regular_files_inside_and_refuses_the_rest() {
        let f = fixture();
        let cases: &[(&str, Result<&str, PathProblem>)] = &[
            ("config/c1/cluster.yaml", Ok("name: c1\n")),
            ("./config/c1/../c1/cluster.yaml", Ok("name: c1\n")),
            ("missing.yaml", Err(PathProblem::NotFound)),
            ("config/c1/cluster.yaml/x.yaml", Err(PathProblem::NotFound)),
            ("missing/x.yaml", Err(PathProblem::NotFound)),
            ("/etc/passwd", Err(PathProblem::Absolute)),
            ("../secret.txt", Err(PathProblem::Climbs)),
            ("config", Err(PathProblem::NotAFile(FileKind::Directory))),
            ("", Err(PathProblem::Empty)),
            ("big.yaml", Err(PathProblem::TooLarge)),
            ("latin1.yaml", Err(PathProblem::NotUtf8)),
            #[cfg(unix)]
            ("inside-link.yaml", Ok("name: c1\n")),
            #[cfg(unix)]
            ("config-link/c1/cluster.yaml", Ok("name: c1\n")),
            #[cfg(unix)]
            ("outside-link.yaml", Err(PathProblem::LinkOutside)),
            #[cfg(unix)]
            ("relative-outside-link.yaml", Err(PathProblem::LinkOutside)),
            #[cfg(unix)]
            ("outside-dir-link/cluster.yaml", Err(PathProblem::LinkOutside)),
            #[cfg(unix)]
            ("dangling.yaml", Err(PathProblem::BrokenLink)),
            #[cfg(unix)]
            ("zero.yaml", Err(PathProblem::LinkOutside)),
            #[cfg(unix)]
            ("fifo.yaml", Err(PathProblem::NotAFile(FileKind::Fifo))),
            (".git/config", Err(PathProblem::GitFolder)),
            ("./config/../.GIT/config", Err(PathProblem::GitFolder)),
            #[cfg(unix)]
            ("git-link.yaml", Err(PathProblem::GitFolder)),
            #[cfg(unix)]
            ("config/gitdir-link/config", Err(PathProblem::GitFolder)),
        ];
        for (path, expected) in cases {
            let got = f.root.read_config_file(path).map_err(|e| e.problem);
            assert_eq!(got.as_deref(), expected.as_ref().map(|s| *s), "{path:?}");
        }
        assert_eq!(f.root.read_config_file("exact.yaml").unwrap().len(), MAX_CONFIG_FILE_BYTES as usize);
    }

    #[test]
    fn errors_name_the_normalised_path() {
        let f = fixture();
        let error = f.root.read_config_file("./config/../big.yaml").unwrap_err();
        assert_eq!(error.to_string(), "`big.yaml` is larger than 1 MiB");
        let error = f.root.read_config_file("../secret.txt").unwrap_err();
        assert_eq!(error.to_string(), "`../secret.txt` is outside the repository (its `..` climb above the root)");
    }

    #[test]
    fn files_and_folders() {
        let f = fixture();
        assert!(f.root.file("config/c1/cluster.yaml").unwrap().starts_with(f.root.path()));
        // Values files are not read, so no size cap applies to them.
        assert!(f.root.file("big.yaml").is_ok());
        assert_eq!(f.root.config_file("big.yaml").unwrap_err().problem, PathProblem::TooLarge);
        assert_eq!(f.root.file("config").unwrap_err().problem, PathProblem::NotAFile(FileKind::Directory));
        assert_eq!(f.root.dir("config/c1").unwrap(), f.root.path().join("config/c1"));
        assert_eq!(f.root.dir("").unwrap(), f.root.path());
        assert_eq!(f.root.dir("config/c1/cluster.yaml").unwrap_err().problem, PathProblem::NotAFolder);
        assert_eq!(f.root.dir("../outside-dir").unwrap_err().problem, PathProblem::Climbs);
        #[cfg(unix)]
        {
            assert_eq!(f.root.file("fifo.yaml").unwrap_err().problem, PathProblem::NotAFile(FileKind::Fifo));
            assert_eq!(f.root.file("outside-link.yaml").unwrap_err().problem, PathProblem::LinkOutside);
            assert_eq!(f.root.dir("outside-dir-link").unwrap_err().problem, PathProblem::LinkOutside);
            assert_eq!(f.root.dir("config-link").unwrap(), f.root.path().join("config"));
        }
    }

    #[cfg(unix)]
    #[test]
    fn git_files_are_never_read_nor_copied() {
        let f = fixture();
        assert_eq!(f.root.dir(".git").unwrap_err().problem, PathProblem::GitFolder);
        assert_eq!(f.root.dir("config/gitdir-link").unwrap_err().problem, PathProblem::GitFolder);
        assert_eq!(f.root.file("git-link.yaml").unwrap_err().problem, PathProblem::GitFolder);
        // A folder read whole refuses a link into .git rather than copying it.
        let refused = f.root.read_tree("config", CHART_TREE_LIMITS).unwrap_err();
        assert_eq!(refused.path, "config/gitdir-link");
        assert_eq!(refused.problem, PathProblem::GitFolder);
        assert_eq!(refused.to_string(), "`config/gitdir-link` is in (or leads into) the repository's `.git` folder");
    }

    #[cfg(unix)]
    #[test]
    fn a_fifo_behind_the_check_does_not_block() {
        // The race the metadata check cannot see: the open itself must not wait for a writer.
        let f = fixture();
        let started = std::time::Instant::now();
        let problem = read_capped(&f.root.path().join("fifo.yaml")).unwrap_err();
        assert_eq!(problem, PathProblem::NotAFile(FileKind::Fifo));
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
        let link = read_capped(&f.root.path().join("inside-link.yaml")).unwrap_err();
        assert_eq!(link, PathProblem::NotAFile(FileKind::Symlink));
    }
}
