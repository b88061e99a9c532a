//! A folder (or one file) of the checkout as it was at a commit, read from the checkout's git: the
//! chart a later rollout wave runs at its pin. `git ls-tree -r -z` lists the folder and
//! `git cat-file --batch` reads its blobs; no shell, no archive. The result is a
//! [`Tree`] under the same caps as the checkout's reader ([`CHART_TREE_LIMITS`] for a chart).
//!
//! Only regular files (modes 100644 and 100755) are read. A symlink is followed inside the commit's
//! tree when its target is relative, stays inside the repository and is not under `.git` (at most
//! [`MAX_LINK_HOPS`] links in a row); else it is refused as the checkout's reader refuses it. A
//! submodule is refused. The commit must be 40 hex digits and present in the checkout: when it is
//! not, it is fetched once (`git fetch --no-tags --depth=1 origin <sha>`), and then a clear error
//! says to check out with `fetch-depth: 0`.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::base::error::Error;
use crate::base::repo_fs::{
    join_inside, FileKind, PathError, PathProblem, Tree, TreeLimits, CHART_TREE_LIMITS, MAX_CONFIG_FILE_BYTES,
};
use crate::config::chart_files::check_chart_files;
use crate::config::charts::{chart_folder, chart_inputs_at, ChartInputs, FoundDependency};

/// Symlinks followed in a row before one is refused (a loop, or a chain too long).
pub const MAX_LINK_HOPS: usize = 8;

/// What a commit is read for, for error messages: `helm-charts/basehub, the pin of wave rest`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PinnedAt {
    /// The full commit sha.
    pub commit: String,
    /// The chart folder read (`helm-charts/basehub`).
    pub chart: String,
    /// The rollout wave whose pin the commit is.
    pub wave: String,
}

impl PinnedAt {
    /// The commit's first 7 digits.
    pub fn short(&self) -> &str {
        self.commit.get(..7).unwrap_or(&self.commit)
    }
}

/// The checkout's git, reading one commit.
#[derive(Debug, Clone)]
pub struct GitTree {
    repo: PathBuf,
    at: PinnedAt,
}

/// One entry of `git ls-tree`: mode, object id, path (repository-relative).
#[derive(Debug, Clone)]
struct Entry {
    mode: String,
    object: String,
    path: String,
}

/// An entry's path joined under the folder it was reached as.
type Listed = (String, Entry);

impl GitTree {
    /// The commit `at.commit` of the checkout at `repo`, checked to be a full sha and present (fetched
    /// once when it is not).
    pub fn open(repo: &Path, at: PinnedAt) -> Result<GitTree, Error> {
        if !is_full_sha(&at.commit) {
            return Err(Error::Command {
                program: "git".into(),
                message: format!(
                    "the pin of wave {} for {} is not a commit sha (40 hex digits): refusing to read it",
                    at.wave, at.chart
                ),
            });
        }
        let tree = GitTree { repo: repo.to_path_buf(), at };
        if !tree.has_commit()? {
            // A shallow checkout (`actions/checkout`'s default depth 1) lacks older commits: one try.
            let _ = tree.git(&["fetch", "--no-tags", "--depth=1", "origin", &tree.at.commit], None);
            if !tree.has_commit()? {
                return Err(tree.missing());
            }
        }
        Ok(tree)
    }

    /// The commit read.
    pub fn at(&self) -> &PinnedAt {
        &self.at
    }

    fn missing(&self) -> Error {
        Error::Command {
            program: "git".into(),
            message: format!(
                "the chart {} at {} (the pin of wave {}) cannot be read: the commit {} is not in the checkout, \
                 and fetching it from origin failed. Check out with `fetch-depth: 0` (actions/checkout) so that \
                 the pinned commits are there",
                self.at.chart,
                self.at.short(),
                self.at.wave,
                self.at.commit
            ),
        }
    }

    fn has_commit(&self) -> Result<bool, Error> {
        let object = format!("{}^{{commit}}", self.at.commit);
        Ok(self.git(&["cat-file", "-e", &object], None)?.0)
    }

    /// Runs git in the checkout: (succeeded, stdout, stderr). Git's own environment variables that
    /// would point it elsewhere are removed, and it never prompts.
    fn git(&self, args: &[&str], input: Option<Vec<u8>>) -> Result<(bool, Vec<u8>, String), Error> {
        let mut command = Command::new("git");
        command.args(["-c", "safe.directory=*", "-C"]).arg(&self.repo).args(args);
        for name in ["GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY", "GIT_NAMESPACE"] {
            command.env_remove(name);
        }
        command.env("GIT_TERMINAL_PROMPT", "0");
        command.stdin(if input.is_some() { Stdio::piped() } else { Stdio::null() });
        command.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = command.spawn().map_err(|e| Error::Command {
            program: "git".into(),
            message: format!(
                "cannot run git ({e}): reading the chart {} at its pin {} (wave {}) needs git on PATH",
                self.at.chart,
                self.at.short(),
                self.at.wave
            ),
        })?;
        let writer = match (input, child.stdin.take()) {
            (Some(bytes), Some(mut stdin)) => Some(std::thread::spawn(move || {
                let _ = stdin.write_all(&bytes);
            })),
            _ => None,
        };
        let mut stderr = child.stderr.take();
        let reader = std::thread::spawn(move || {
            let mut text = String::new();
            if let Some(stderr) = stderr.as_mut() {
                let _ = stderr.take(64 * 1024).read_to_string(&mut text);
            }
            text
        });
        let mut stdout = Vec::new();
        if let Some(out) = child.stdout.as_mut() {
            out.read_to_end(&mut stdout).map_err(|e| Error::io(&self.repo, e))?;
        }
        let status = child.wait().map_err(|e| Error::io(&self.repo, e))?;
        if let Some(writer) = writer {
            let _ = writer.join();
        }
        let stderr = reader.join().unwrap_or_default();
        Ok((status.success(), stdout, stderr))
    }

    fn failed(&self, what: &str, stderr: &str) -> Error {
        Error::Command {
            program: "git".into(),
            message: format!(
                "{what} of {} at {} (the pin of wave {}) failed: {}",
                self.at.chart,
                self.at.short(),
                self.at.wave,
                stderr.lines().find(|l| !l.trim().is_empty()).unwrap_or("no output")
            ),
        }
    }

    fn refused(&self, path: &str, problem: PathProblem) -> Error {
        let refused = PathError { path: path.to_owned(), problem };
        let mut diagnostic = refused.file_diagnostic();
        diagnostic.message = format!(
            "{} (at {}, the pin of wave {} for {})",
            diagnostic.message,
            self.at.short(),
            self.at.wave,
            self.at.chart
        );
        Error::Config(vec![diagnostic])
    }

    /// `git ls-tree -z [-r] <commit> -- <path>`.
    fn ls_tree(&self, path: &str, recursive: bool) -> Result<Vec<Entry>, Error> {
        let mut args = vec!["ls-tree", "-z", "--full-tree"];
        if recursive {
            args.push("-r");
        }
        args.extend([self.at.commit.as_str(), "--", path]);
        let (ok, stdout, stderr) = self.git(&args, None)?;
        if !ok {
            return Err(self.failed("listing", &stderr));
        }
        let mut entries = Vec::new();
        for record in stdout.split(|b| *b == 0).filter(|r| !r.is_empty()) {
            let text = String::from_utf8(record.to_vec()).map_err(|_| self.refused(path, PathProblem::NotUtf8))?;
            let Some((meta, path)) = text.split_once('\t') else { continue };
            let mut parts = meta.split(' ');
            let (Some(mode), Some(_kind), Some(object)) = (parts.next(), parts.next(), parts.next()) else { continue };
            entries.push(Entry { mode: mode.to_owned(), object: object.to_owned(), path: path.to_owned() });
        }
        Ok(entries)
    }

    /// The entry at exactly `path` (a file, a folder, a link), if any.
    fn entry(&self, path: &str) -> Result<Option<Entry>, Error> {
        Ok(self.ls_tree(path, false)?.into_iter().find(|entry| entry.path == path))
    }

    /// Where a symlink entry points, checked: relative, inside the repository, not in `.git`.
    fn link_target(&self, entry: &Entry) -> Result<String, Error> {
        let bytes = self.blobs(std::slice::from_ref(&entry.object), u64::from(u16::MAX))?.pop().unwrap_or_default();
        let target = String::from_utf8(bytes).map_err(|_| self.refused(&entry.path, PathProblem::LinkOutside))?;
        let folder = entry.path.rsplit_once('/').map_or("", |(folder, _)| folder);
        let joined = match join_inside(folder, &target) {
            Ok(joined) if !joined.is_empty() => joined,
            _ => return Err(self.refused(&entry.path, PathProblem::LinkOutside)),
        };
        if joined.split('/').any(|segment| segment.eq_ignore_ascii_case(".git")) {
            return Err(self.refused(&entry.path, PathProblem::GitFolder));
        }
        Ok(joined)
    }

    /// The entry `path` leads to, its symlinks followed; `None` when nothing is there.
    fn resolve(&self, path: &str) -> Result<Option<Entry>, Error> {
        let Some(mut entry) = self.entry(path)? else { return Ok(None) };
        for _ in 0..=MAX_LINK_HOPS {
            if entry.mode != "120000" {
                return Ok(Some(entry));
            }
            let target = self.link_target(&entry)?;
            entry = match self.entry(&target)? {
                Some(found) => found,
                None => return Err(self.refused(path, PathProblem::BrokenLink)),
            };
        }
        Err(self.refused(path, PathProblem::NotAFile(FileKind::Symlink)))
    }

    /// Every regular file under the folder `folder` at the commit, with its bytes, by path relative to
    /// the folder, sorted; capped by `limits`. `None` when the folder is not in the commit.
    pub fn read_tree(&self, folder: &str, limits: TreeLimits) -> Result<Option<Tree>, Error> {
        let folder = join_inside("", folder).map_err(|problem| self.refused(folder, problem))?;
        let Some(top) = self.resolve(&folder)? else { return Ok(None) };
        if top.mode != "040000" {
            return Err(self.refused(&folder, PathProblem::NotAFolder));
        }
        let mut files: Vec<Listed> = Vec::new();
        // (folder at the commit, its path under `folder`, links followed to reach it)
        let mut pending: Vec<(String, String, usize)> = vec![(top.path, String::new(), 0)];
        while let Some((at, under, hops)) = pending.pop() {
            for entry in self.ls_tree(&at, true)? {
                let Some(inner) = entry.path.strip_prefix(&format!("{at}/")).map(str::to_owned) else { continue };
                let shown = if under.is_empty() { inner } else { format!("{under}/{inner}") };
                let depth = shown.matches('/').count();
                if depth > limits.max_depth {
                    let why = format!("folders nest more than {} deep", limits.max_depth);
                    return Err(self.refused(&folder, PathProblem::TreeTooLarge(why)));
                }
                match entry.mode.as_str() {
                    "100644" | "100755" => files.push((shown, entry)),
                    "120000" => {
                        let mut link = entry;
                        let mut hop = hops;
                        loop {
                            hop += 1;
                            if hop > MAX_LINK_HOPS {
                                let path = format!("{folder}/{shown}");
                                return Err(self.refused(&path, PathProblem::NotAFile(FileKind::Symlink)));
                            }
                            let target = self.link_target(&link)?;
                            let Some(found) = self.entry(&target)? else {
                                return Err(self.refused(&format!("{folder}/{shown}"), PathProblem::BrokenLink));
                            };
                            match found.mode.as_str() {
                                "100644" | "100755" => {
                                    files.push((shown, found));
                                    break;
                                }
                                "040000" => {
                                    pending.push((found.path, shown, hop));
                                    break;
                                }
                                "120000" => link = found,
                                _ => {
                                    let path = format!("{folder}/{shown}");
                                    return Err(self.refused(&path, PathProblem::NotAFile(FileKind::Other)));
                                }
                            }
                        }
                    }
                    // A submodule (160000) or anything else.
                    _ => return Err(self.refused(&format!("{folder}/{shown}"), PathProblem::NotAFile(FileKind::Other))),
                }
                if files.len() > limits.max_files {
                    let why = format!("more than {} files", limits.max_files);
                    return Err(self.refused(&folder, PathProblem::TreeTooLarge(why)));
                }
            }
        }
        let objects: Vec<String> = files.iter().map(|(_, entry)| entry.object.clone()).collect();
        let contents = self.blobs(&objects, limits.max_bytes).map_err(|e| match e {
            Error::Input { .. } => {
                self.refused(&folder, PathProblem::TreeTooLarge(format!("more than {} MiB", limits.max_bytes >> 20)))
            }
            other => other,
        })?;
        let mut tree: Tree = files.into_iter().map(|(path, _)| path).zip(contents).collect();
        tree.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(Some(tree))
    }

    /// The bytes of the regular file `path` at the commit, of at most `cap` bytes; `None` when the
    /// commit has no file there.
    pub fn read_file(&self, path: &str, cap: u64) -> Result<Option<Vec<u8>>, Error> {
        let path = join_inside("", path).map_err(|problem| self.refused(path, problem))?;
        let Some(entry) = self.resolve(&path)? else { return Ok(None) };
        match entry.mode.as_str() {
            "100644" | "100755" => {}
            "040000" => return Err(self.refused(&path, PathProblem::NotAFile(FileKind::Directory))),
            _ => return Err(self.refused(&path, PathProblem::NotAFile(FileKind::Other))),
        }
        let bytes = self.blobs(&[entry.object], cap).map_err(|e| match e {
            Error::Input { .. } => {
                self.refused(&path, PathProblem::TreeTooLarge(format!("more than {} MiB", cap >> 20)))
            }
            other => other,
        })?;
        Ok(bytes.into_iter().next())
    }

    /// The blobs `objects`, in order, through one `git cat-file --batch`; over `cap` bytes in all is an
    /// `Error::Input` (turned into a size refusal by the callers).
    fn blobs(&self, objects: &[String], cap: u64) -> Result<Vec<Vec<u8>>, Error> {
        if objects.is_empty() {
            return Ok(Vec::new());
        }
        let input: Vec<u8> = objects.iter().flat_map(|o| format!("{o}\n").into_bytes()).collect();
        let (ok, stdout, stderr) = self.git(&["cat-file", "--batch"], Some(input))?;
        if !ok {
            return Err(self.failed("reading", &stderr));
        }
        let mut contents = Vec::with_capacity(objects.len());
        let mut rest: &[u8] = &stdout;
        let mut total: u64 = 0;
        for object in objects {
            let Some(newline) = rest.iter().position(|b| *b == b'\n') else {
                return Err(self.failed("reading", "git cat-file ended early"));
            };
            let header = String::from_utf8_lossy(&rest[..newline]).into_owned();
            let mut parts = header.split(' ');
            let (Some(id), Some("blob"), Some(size)) = (parts.next(), parts.next(), parts.next()) else {
                return Err(self.failed("reading", &format!("git cat-file: {header}")));
            };
            let size: usize = size.parse().map_err(|_| self.failed("reading", &header))?;
            if id != object || rest.len() < newline + 1 + size + 1 {
                return Err(self.failed("reading", "git cat-file answered out of order"));
            }
            total += size as u64;
            if total > cap {
                return Err(Error::input("git", "too large"));
            }
            contents.push(rest[newline + 1..newline + 1 + size].to_vec());
            rest = &rest[newline + 1 + size + 1..];
        }
        Ok(contents)
    }
}

/// A chart as it was at a pin: the folders helm reads (the chart and every `file://` folder it
/// reaches, each read whole at the commit, `Chart.lock` included), their dependency entries, and the
/// chart-level values files read at the commit.
pub struct PinnedChart {
    pub at: PinnedAt,
    /// (repository folder, its files), the chart's own first.
    pub folders: Vec<(String, Tree)>,
    /// The dependency entries of the chart's folders, as at the commit.
    pub inputs: ChartInputs,
    /// The chart-level values files, in order, with their bytes at the commit: the
    /// `charts.<chart>.values_files` named in `deployer.yaml`, then the chart's `values.jsonnet` when
    /// the commit has one.
    pub values: Vec<(String, Vec<u8>)>,
}

impl PinnedChart {
    /// The dependency entries of `folder` at the commit.
    pub fn dependencies(&self, folder: &str) -> &[FoundDependency] {
        self.inputs.dependencies(folder)
    }
}

/// Reads the chart `chart` (its name under `helm-charts/`) at the pin `at` from the checkout's git:
/// its folders (checked as the checkout's charts are) and its chart-level values files
/// (`chart_values`: `charts.<chart>.values_files`, each required at the commit; the chart's
/// `values.jsonnet` when there).
pub fn read_chart_at(repo: &Path, at: PinnedAt, chart: &str, chart_values: &[String]) -> Result<PinnedChart, Error> {
    let git = GitTree::open(repo, at)?;
    let folder = chart_folder(chart);
    let mut read = |relative: &str| -> Result<Option<String>, Error> {
        match git.read_file(relative, MAX_CONFIG_FILE_BYTES)? {
            None => Ok(None),
            Some(bytes) => String::from_utf8(bytes).map(Some).map_err(|_| git.refused(relative, PathProblem::NotUtf8)),
        }
    };
    let inputs = chart_inputs_at(vec![(folder.clone(), folder.clone())], &mut read)?;
    let mut folders = Vec::new();
    let mut problems = Vec::new();
    for input in inputs.inputs(&folder) {
        let Some(tree) = git.read_tree(&input.folder, CHART_TREE_LIMITS)? else {
            return Err(git.refused(&input.folder, PathProblem::NotFound));
        };
        problems.extend(check_chart_files(&input.folder, &tree));
        folders.push((input.folder.clone(), tree));
    }
    if folders.is_empty() {
        return Err(git.refused(&folder, PathProblem::NotFound));
    }
    if !problems.is_empty() {
        return Err(Error::Config(problems));
    }
    let mut values = Vec::new();
    for path in chart_values {
        match git.read_file(path, MAX_CHART_VALUES_BYTES)? {
            Some(bytes) => values.push((path.clone(), bytes)),
            None => return Err(git.refused(path, PathProblem::NotFound)),
        }
    }
    let own = crate::config::jsonnet::chart_values_file(&folder);
    if let Some(bytes) = git.read_file(&own, MAX_CONFIG_FILE_BYTES)? {
        values.push((own, bytes));
    }
    Ok(PinnedChart { at: git.at, folders, inputs, values })
}

/// The largest chart-level values file read at a pin (as a diff reads values files).
pub const MAX_CHART_VALUES_BYTES: u64 = 8 * 1024 * 1024;

/// 40 hex digits (either case), checked before any sha reaches git.
pub fn is_full_sha(text: &str) -> bool {
    text.len() == 40 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn git(repo: &Path, args: &[&str]) -> String {
        let out = Command::new("git")
            .args(["-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "commit.gpgsign=false"])
            .arg("-C")
            .arg(repo)
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    }

    /// A repository with a first commit whose chart has a template, an executable script, a link to a
    /// shared file inside the repository, and a second commit that changes the chart.
    fn repo() -> (tempfile::TempDir, String, String) {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        git(root, &["init", "-q"]);
        let chart = root.join("helm-charts/basehub");
        std::fs::create_dir_all(chart.join("templates")).unwrap();
        std::fs::create_dir_all(root.join("shared")).unwrap();
        std::fs::write(chart.join("Chart.yaml"), "name: basehub\nversion: 1.0.0\n").unwrap();
        std::fs::write(chart.join("templates/cm.yaml"), "kind: ConfigMap\n").unwrap();
        std::fs::write(chart.join("run.sh"), "#!/bin/sh\n").unwrap();
        let mut permissions = std::fs::metadata(chart.join("run.sh")).unwrap().permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut permissions, 0o755);
        std::fs::set_permissions(chart.join("run.sh"), permissions).unwrap();
        std::fs::write(root.join("shared/common.yaml"), "shared: true\n").unwrap();
        std::os::unix::fs::symlink("../../shared/common.yaml", chart.join("common.yaml")).unwrap();
        git(root, &["add", "-A"]);
        git(root, &["commit", "-q", "-m", "A"]);
        let first = git(root, &["rev-parse", "HEAD"]);
        std::fs::write(chart.join("Chart.yaml"), "name: basehub\nversion: 2.0.0\n").unwrap();
        std::fs::remove_file(chart.join("run.sh")).unwrap();
        git(root, &["add", "-A"]);
        git(root, &["commit", "-q", "-m", "B"]);
        let second = git(root, &["rev-parse", "HEAD"]);
        (dir, first, second)
    }

    fn at(commit: &str) -> PinnedAt {
        PinnedAt { commit: commit.to_owned(), chart: "helm-charts/basehub".into(), wave: "rest".into() }
    }

    #[test]
    fn reads_a_folder_as_it_was_at_a_commit() {
        let (dir, first, second) = repo();
        let old = GitTree::open(dir.path(), at(&first)).unwrap();
        let tree = old.read_tree("helm-charts/basehub", CHART_TREE_LIMITS).unwrap().unwrap();
        let paths: Vec<&str> = tree.iter().map(|(p, _)| p.as_str()).collect();
        // The executable script is a regular file (100755) and the link is read as its target's bytes.
        assert_eq!(paths, ["Chart.yaml", "common.yaml", "run.sh", "templates/cm.yaml"]);
        assert_eq!(tree[0].1, b"name: basehub\nversion: 1.0.0\n");
        assert_eq!(tree[1].1, b"shared: true\n");
        assert_eq!(tree[2].1, b"#!/bin/sh\n");
        let new = GitTree::open(dir.path(), at(&second)).unwrap();
        let tree = new.read_tree("helm-charts/basehub/", CHART_TREE_LIMITS).unwrap().unwrap();
        assert_eq!(tree[0].1, b"name: basehub\nversion: 2.0.0\n");
        assert!(!tree.iter().any(|(p, _)| p == "run.sh"));
        // One file, and what is not there.
        assert_eq!(old.read_file("shared/common.yaml", 1024).unwrap().unwrap(), b"shared: true\n");
        assert_eq!(old.read_file("helm-charts/basehub/values.jsonnet", 1024).unwrap(), None);
        assert_eq!(old.read_tree("helm-charts/nothing", CHART_TREE_LIMITS).unwrap(), None);
        // The caps of the checkout's reader apply.
        let small = TreeLimits { max_files: 10, max_bytes: 10, max_depth: 32 };
        let refused = old.read_tree("helm-charts/basehub", small).unwrap_err().to_string();
        assert!(refused.contains("too large to read whole"), "{refused}");
    }

    #[test]
    fn a_link_out_of_the_repository_or_into_git_is_refused() {
        let (dir, _, _) = repo();
        let chart = dir.path().join("helm-charts/basehub");
        std::os::unix::fs::symlink("../../../outside.yaml", chart.join("outside.yaml")).unwrap();
        git(dir.path(), &["add", "-A"]);
        git(dir.path(), &["commit", "-q", "-m", "out"]);
        let out = git(dir.path(), &["rev-parse", "HEAD"]);
        let tree = GitTree::open(dir.path(), at(&out)).unwrap();
        let refused = tree.read_tree("helm-charts/basehub", CHART_TREE_LIMITS).unwrap_err().to_string();
        assert!(refused.contains("symlink to a path outside the repository"), "{refused}");
        assert!(refused.contains("the pin of wave rest"), "{refused}");
        std::fs::remove_file(chart.join("outside.yaml")).unwrap();
        std::os::unix::fs::symlink("../../.git/config", chart.join("config")).unwrap();
        git(dir.path(), &["add", "-A"]);
        git(dir.path(), &["commit", "-q", "-m", "git"]);
        let into_git = git(dir.path(), &["rev-parse", "HEAD"]);
        let tree = GitTree::open(dir.path(), at(&into_git)).unwrap();
        let refused = tree.read_tree("helm-charts/basehub", CHART_TREE_LIMITS).unwrap_err().to_string();
        assert!(refused.contains("`.git` folder"), "{refused}");
    }

    #[test]
    fn a_missing_commit_says_to_fetch_the_history() {
        let (dir, _, _) = repo();
        let missing = "0123456789abcdef0123456789abcdef01234567";
        let refused = GitTree::open(dir.path(), at(missing)).unwrap_err().to_string();
        assert!(refused.contains("fetch-depth: 0"), "{refused}");
        assert!(refused.contains("0123456 (the pin of wave rest)"), "{refused}");
        assert!(refused.contains("helm-charts/basehub"), "{refused}");
        let refused = GitTree::open(dir.path(), at("HEAD --upload-pack=x")).unwrap_err().to_string();
        assert!(refused.contains("not a commit sha"), "{refused}");
    }
}
