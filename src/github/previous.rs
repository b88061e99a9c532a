//! The previous version of each changed cluster file, so that an edit
//! upgrades only what it touched ([`crate::planning::cluster_edits`]). Three sources:
//! git (`deployer generate --base`), a checkout of the base commit
//! (`--base-dir`), and the GitHub contents API at the pull request's base or
//! the push's `before` commit (the action). Every failure is a
//! [`PreviousVersion::Unavailable`] with the reason: a previous version that
//! cannot be had makes its whole cluster planned, never a failed plan.
//!
//! I/O edge: files, `git` processes and the network.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine;

use crate::base::error::Error;
use crate::base::event::{is_null_sha, is_sha, RepoRef, Trigger};
use crate::base::repo_fs::{PathProblem, RepoRoot};
use crate::base::runner::RunnerEnv;
use crate::config::rollout::{self, Pins, Rollout};
use crate::config::Estate;
use crate::github::{ClientConfig, GitHub};
use crate::planning::changes::ChangeSet;
use crate::planning::cluster_edits::{self, ClusterEdit, PreviousVersion};
use crate::planning::pin_edits::{self, PinEdits};
use crate::planning::plan::ClusterEdits;

/// The largest cluster file read, either version.
pub const MAX_CLUSTER_FILE_BYTES: u64 = 1 << 20;
/// The most previous versions looked up for one plan (one API request each in the action).
pub const MAX_LOOKUPS: usize = 100;
/// Why a file that is new has no previous version.
pub const NOT_IN_BASE: &str = "not in the base commit";

/// Previous versions by repository-relative path.
pub type PreviousVersions = BTreeMap<String, PreviousVersion>;

/// Where previous versions come from.
pub trait PreviousSource {
    /// The previous version of each of `files` (changed cluster files,
    /// repository-relative). A file left out counts as unavailable.
    fn previous_versions(&self, files: &[String]) -> PreviousVersions;
}

/// What the edit of each changed cluster file of `estate` touched: its
/// previous version from `source` compared with the current one in `repo`.
pub fn cluster_edits(repo: &Path, estate: &Estate, changes: &ChangeSet, source: &dyn PreviousSource) -> ClusterEdits {
    let changed: HashSet<&str> = changes.paths.iter().map(String::as_str).collect();
    let files: Vec<String> =
        estate.clusters.iter().filter(|c| changed.contains(c.file.as_str())).map(|c| c.file.clone()).collect();
    if files.is_empty() {
        return ClusterEdits::new();
    }
    let (asked, too_many) = files.split_at(files.len().min(MAX_LOOKUPS));
    let mut previous = source.previous_versions(asked);
    for file in too_many {
        let why = format!("more than {MAX_LOOKUPS} cluster files changed");
        previous.insert(file.clone(), PreviousVersion::Unavailable(why));
    }
    files
        .into_iter()
        .map(|file| {
            let before = previous
                .remove(&file)
                .unwrap_or_else(|| PreviousVersion::Unavailable("it could not be looked up".into()));
            let edit = match read_text_in(repo, &file) {
                Ok(Some(current)) => cluster_edits::edit(&before, &current),
                Ok(None) => ClusterEdit::Unknown("the current version could not be read: it is not there".into()),
                Err(why) => ClusterEdit::Unknown(format!("the current version could not be read: {why}")),
            };
            (file, edit)
        })
        .collect()
}

/// What the change did to the rollout state file (`rollout.state_file`): unchanged when it is not among the
/// changed paths; else its previous version from `source`, parsed against the current waves, compared with
/// the current `pins`. A previous version that cannot be had or read is [`PinEdits::Unknown`] with why
/// (every later wave is then upgraded), never a failed plan.
pub fn pin_edits(
    rollout: &Rollout,
    pins: Option<&Pins>,
    changes: &ChangeSet,
    source: Option<&dyn PreviousSource>,
) -> PinEdits {
    let file = crate::base::repo_path::normalize(&rollout.state_file);
    let Some(pins) = pins.filter(|_| changes.paths.contains(&file)) else {
        return PinEdits::Unchanged;
    };
    let Some(source) = source else {
        return PinEdits::Unknown("no base commit to read the previous version at".into());
    };
    match source.previous_versions(std::slice::from_ref(&file)).remove(&file) {
        Some(PreviousVersion::Text(text)) => match rollout::parse_state(&file, &text, rollout) {
            Ok(previous) => PinEdits::Moved(pin_edits::moved_pins(&previous, pins)),
            Err(problems) => PinEdits::Unknown(format!(
                "the previous version does not fit the current waves: {}",
                problems.first().map_or_else(|| "it does not parse".to_owned(), |problem| problem.message.clone())
            )),
        },
        Some(PreviousVersion::Unavailable(why)) => PinEdits::Unknown(why),
        None => PinEdits::Unknown("it could not be looked up".into()),
    }
}

fn too_large() -> String {
    format!("it is larger than {} MiB", MAX_CLUSTER_FILE_BYTES >> 20)
}

/// Reads the repository-relative file `relative` under `root` (the checkout, or a
/// checkout of the base commit) through [`RepoRoot`], the one place that resolves
/// repository paths: inside `root` after symlinks, a regular file of at most
/// 1 MiB, UTF-8. `Ok(None)` when nothing is there; `Err` says why it cannot be read.
pub fn read_text_in(root: &Path, relative: &str) -> Result<Option<String>, String> {
    let root = RepoRoot::new(root).map_err(|e| e.to_string())?;
    match root.read_config_file(relative) {
        Ok(text) => Ok(Some(text)),
        Err(refused) if matches!(refused.problem, PathProblem::NotFound | PathProblem::NotAFolder) => Ok(None),
        Err(refused) => Err(format!("it {}", refused.problem)),
    }
}

/// `--base-dir`: a checkout of the base commit.
#[derive(Debug, Clone)]
pub struct BaseDir {
    pub dir: PathBuf,
}

impl PreviousSource for BaseDir {
    fn previous_versions(&self, files: &[String]) -> PreviousVersions {
        files
            .iter()
            .map(|file| {
                let version = match read_text_in(&self.dir, file) {
                    Ok(Some(text)) => PreviousVersion::Text(text),
                    Ok(None) => PreviousVersion::Unavailable(NOT_IN_BASE.into()),
                    Err(why) => PreviousVersion::Unavailable(format!("in the base folder, {why}")),
                };
                (file.clone(), version)
            })
            .collect()
    }
}

/// `--base <ref>`: the files at the merge base of `ref` and `HEAD` in a git repository.
#[derive(Debug, Clone)]
pub struct GitBase {
    repo: PathBuf,
    /// The merge base commit, or why there is none.
    merge_base: Result<String, String>,
}

impl GitBase {
    /// Finds the merge base of `base` and `HEAD` in `repo`.
    pub fn new(repo: &Path, base: &str) -> Self {
        let merge_base = if base.starts_with('-') {
            Err(format!("`{base}` is not a Git revision"))
        } else {
            git(repo, &["merge-base", base, "HEAD"]).and_then(|out| {
                let sha = String::from_utf8_lossy(&out).trim().to_owned();
                if is_sha(&sha) {
                    Ok(sha)
                } else {
                    Err(format!("git merge-base printed `{sha}`, not a commit"))
                }
            })
        };
        GitBase { repo: repo.to_path_buf(), merge_base }
    }

    /// The merge base commit, or why there is none.
    pub fn merge_base(&self) -> Result<&str, &str> {
        self.merge_base.as_deref().map_err(String::as_str)
    }

    fn read(&self, commit: &str, file: &str) -> Result<String, String> {
        // `--literal-pathspecs`: a path is a path, never a pattern.
        let listing = git(&self.repo, &["--literal-pathspecs", "ls-tree", "-l", "-z", commit, "--", file])?;
        let listing = String::from_utf8_lossy(&listing);
        let entry = listing.split('\0').find(|e| e.split_once('\t').is_some_and(|(_, path)| path == file));
        let Some(entry) = entry else { return Err(NOT_IN_BASE.into()) };
        let fields: Vec<&str> = entry.split('\t').next().unwrap_or_default().split_whitespace().collect();
        let [mode, kind, object, size] = fields[..] else {
            return Err(format!("git ls-tree printed `{entry}`"));
        };
        match (mode, kind) {
            ("100644" | "100755", "blob") => {}
            ("120000", _) => return Err("a symbolic link in the base commit".into()),
            (_, "tree") => return Err("a folder in the base commit".into()),
            _ => return Err("not a regular file in the base commit".into()),
        }
        if size.parse::<u64>().map_or(true, |size| size > MAX_CLUSTER_FILE_BYTES) {
            return Err(too_large());
        }
        if !is_sha(object) {
            return Err(format!("git ls-tree printed `{entry}`"));
        }
        let bytes = git(&self.repo, &["cat-file", "blob", object])?;
        String::from_utf8(bytes).map_err(|_| "it is not UTF-8 text".into())
    }
}

/// A checkout of the merge base in a temporary `git worktree`, removed (with
/// its worktree entry) when dropped: the base side of `deployer diff --base`.
#[derive(Debug)]
pub struct BaseWorktree {
    repo: PathBuf,
    path: PathBuf,
}

impl BaseWorktree {
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for BaseWorktree {
    fn drop(&mut self) {
        let path = self.path.to_string_lossy().into_owned();
        let _ = git(&self.repo, &["worktree", "remove", "--force", &path]);
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

impl GitBase {
    /// Checks the merge base out into a new temporary folder.
    pub fn checkout(&self) -> Result<BaseWorktree, String> {
        let commit = self.merge_base().map_err(|why| format!("no merge base: {why}"))?;
        let mut random = [0u8; 8];
        getrandom::fill(&mut random).map_err(|e| format!("no randomness for a temporary folder: {e}"))?;
        let name: String = random.iter().map(|b| format!("{b:02x}")).collect();
        let path = std::env::temp_dir().join(format!("deployer-base-{name}"));
        let shown = path.to_string_lossy().into_owned();
        git(&self.repo, &["worktree", "add", "--detach", "--quiet", &shown, commit])?;
        Ok(BaseWorktree { repo: self.repo.clone(), path })
    }
}

impl PreviousSource for GitBase {
    fn previous_versions(&self, files: &[String]) -> PreviousVersions {
        files
            .iter()
            .map(|file| {
                let version = match &self.merge_base {
                    Err(why) => PreviousVersion::Unavailable(format!("no merge base: {why}")),
                    Ok(commit) => match self.read(commit, file) {
                        Ok(text) => PreviousVersion::Text(text),
                        Err(why) => PreviousVersion::Unavailable(why),
                    },
                };
                (file.clone(), version)
            })
            .collect()
    }
}

/// Runs `git -C repo args`; its stdout, or why it failed.
fn git(repo: &Path, args: &[&str]) -> Result<Vec<u8>, String> {
    let output = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(args)
        .output()
        .map_err(|e| format!("cannot run git (is it installed?): {e}"))?;
    if output.status.success() {
        Ok(output.stdout)
    } else {
        let message = String::from_utf8_lossy(&output.stderr);
        let first = message.lines().next().unwrap_or("").trim();
        Err(format!("git {} failed: {}", args.iter().find(|a| !a.starts_with('-')).unwrap_or(&""), first))
    }
}

/// The commit the action reads previous versions at: a pull request's
/// `base.sha`, a push's `before`; or why there is none. `None` for other
/// events: their changed files, given as input, are compared with nothing.
pub fn base_commit(trigger: &Trigger) -> Option<Result<String, String>> {
    match trigger {
        Trigger::PullRequest(pr) => {
            Some(pr.base_sha.clone().ok_or_else(|| "the pull_request event payload has no base commit SHA".to_owned()))
        }
        Trigger::Push { before, .. } if is_null_sha(before) => {
            Some(Err("a new branch has no earlier commit to compare with".into()))
        }
        Trigger::Push { before, .. } => Some(Ok(before.clone())),
        _ => None,
    }
}

/// The action: `GET /repos/{owner}/{repo}/contents/{path}?ref={base}`, one
/// request per changed cluster file, through the shared client.
pub struct ContentsApi<'a> {
    env: &'a RunnerEnv,
    token_input: &'a str,
    /// A client configuration already made (its token already masked), if any.
    config: Option<ClientConfig>,
    base: Result<String, String>,
    requests: Cell<usize>,
    warnings: RefCell<Vec<String>>,
}

impl<'a> ContentsApi<'a> {
    /// Reads at `base` (or says why not) with the runner's API settings and
    /// the `token_input` token; `config` reuses a configuration already made.
    pub fn new(
        env: &'a RunnerEnv,
        token_input: &'a str,
        config: Option<ClientConfig>,
        base: Result<String, String>,
    ) -> Self {
        ContentsApi { env, token_input, config, base, requests: Cell::new(0), warnings: RefCell::new(Vec::new()) }
    }

    /// API requests made, retries included.
    pub fn requests(&self) -> usize {
        self.requests.get()
    }

    /// What the user should be told: lookups that failed other than for a new file.
    pub fn warnings(&self) -> Vec<String> {
        self.warnings.borrow().clone()
    }

    fn fetch_all(&self, files: &[String]) -> Result<PreviousVersions, String> {
        let base = self.base.clone()?;
        if !is_sha(&base) {
            return Err("the base commit is not a commit SHA".into());
        }
        let config = match &self.config {
            Some(config) => config.clone(),
            None => ClientConfig::from_env(self.env, self.token_input).map_err(|e| e.to_string())?,
        };
        if config.token.is_none() {
            return Err(format!("no `{}` to read it with", self.token_input));
        }
        let repo = self.env.repository().map_err(|e| e.to_string())?;
        let outcome = crate::tools::http::block_on(async {
            let gh = GitHub::new(config)?;
            let mut found = PreviousVersions::new();
            for file in files {
                found.insert(file.clone(), self.fetch(&gh, &repo, &base, file).await);
            }
            Ok::<_, Error>((found, gh.request_count()))
        })
        .map_err(|e| e.to_string())?;
        let (found, requests) = outcome.map_err(|e| e.to_string())?;
        self.requests.set(self.requests.get() + requests);
        Ok(found)
    }

    async fn fetch(&self, gh: &GitHub, repo: &RepoRef, base: &str, file: &str) -> PreviousVersion {
        let endpoint = format!("{}/contents/{}?ref={base}", repo.api_path(), encode_path(file));
        let version = match gh.get::<serde_json::Value>(&endpoint).await {
            Ok(answer) => decode_contents(&answer),
            Err(Error::Api { status: 404, .. }) => return PreviousVersion::Unavailable(NOT_IN_BASE.into()),
            Err(error) => {
                let why = match &error {
                    Error::Api { status, .. } => format!("the contents API answered HTTP {status}"),
                    _ => "the contents API did not answer".to_owned(),
                };
                self.warnings.borrow_mut().push(format!(
                    "cannot read the previous version of {file}, so its whole cluster is planned: {error}"
                ));
                return PreviousVersion::Unavailable(why);
            }
        };
        match version {
            Ok(text) => PreviousVersion::Text(text),
            Err(why) => {
                self.warnings.borrow_mut().push(format!(
                    "cannot read the previous version of {file}, so its whole cluster is planned: {why}"
                ));
                PreviousVersion::Unavailable(why)
            }
        }
    }
}

impl PreviousSource for ContentsApi<'_> {
    fn previous_versions(&self, files: &[String]) -> PreviousVersions {
        if files.is_empty() {
            return PreviousVersions::new();
        }
        match self.fetch_all(files) {
            Ok(found) => found,
            Err(why) => files.iter().map(|file| (file.clone(), PreviousVersion::Unavailable(why.clone()))).collect(),
        }
    }
}

/// A repository path for a URL: every byte but unreserved ones and `/` percent-encoded.
fn encode_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for byte in path.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~' | b'/') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// The text of a contents API answer (untrusted): a file object with base64
/// `content`, within the size cap; or why not.
fn decode_contents(answer: &serde_json::Value) -> Result<String, String> {
    if answer.is_array() {
        return Err("a folder in the base commit".into());
    }
    match answer["type"].as_str() {
        Some("file") => {}
        Some("dir") => return Err("a folder in the base commit".into()),
        Some("symlink") => return Err("a symbolic link in the base commit".into()),
        Some("submodule") => return Err("a submodule in the base commit".into()),
        _ => return Err("the contents API did not describe a file".into()),
    }
    if answer["size"].as_u64().is_some_and(|size| size > MAX_CLUSTER_FILE_BYTES) {
        return Err(too_large());
    }
    let (Some("base64"), Some(content)) = (answer["encoding"].as_str(), answer["content"].as_str()) else {
        return Err("the contents API did not return the file's text".into());
    };
    // Base64 of the cap, and line breaks every 60 characters.
    if content.len() as u64 > MAX_CLUSTER_FILE_BYTES / 3 * 4 * 62 / 60 + 64 {
        return Err(too_large());
    }
    let compact: String = content.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(compact.as_bytes())
        .map_err(|_| "the contents API returned content that is not base64".to_owned())?;
    if bytes.len() as u64 > MAX_CLUSTER_FILE_BYTES {
        return Err(too_large());
    }
    String::from_utf8(bytes).map_err(|_| "it is not UTF-8 text".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::event::PullRequestEvent;
    use serde_json::json;
    use std::fs;

    #[test]
    fn paths_are_encoded() {
        assert_eq!(encode_path("config/clusters/a-b_c.1~/cluster.yaml"), "config/clusters/a-b_c.1~/cluster.yaml");
        assert_eq!(encode_path("a b/#?&%/é"), "a%20b/%23%3F%26%25/%C3%A9");
    }

    #[test]
    fn contents_answers() {
        let b64 = |text: &str| base64::engine::general_purpose::STANDARD.encode(text);
        let wrapped = {
            let encoded = b64(&"name: c\n".repeat(20));
            let lines: Vec<String> =
                encoded.as_bytes().chunks(60).map(|c| String::from_utf8_lossy(c).into_owned()).collect();
            lines.join("\n") + "\n"
        };
        let ok = json!({"type": "file", "encoding": "base64", "size": 160, "content": wrapped});
        assert_eq!(decode_contents(&ok), Ok("name: c\n".repeat(20)));
        let cases = [
            (json!([{"type": "file"}]), "a folder in the base commit"),
            (json!({"type": "dir"}), "a folder in the base commit"),
            (json!({"type": "symlink", "target": "x"}), "a symbolic link in the base commit"),
            (json!({"type": "submodule"}), "a submodule in the base commit"),
            (json!({"type": "<b>"}), "the contents API did not describe a file"),
            (
                json!({"type": "file", "encoding": "none", "size": 5, "content": ""}),
                "the contents API did not return the file's text",
            ),
            (
                json!({"type": "file", "encoding": "base64", "size": 2_000_000, "content": ""}),
                "it is larger than 1 MiB",
            ),
            (
                json!({"type": "file", "encoding": "base64", "content": "*not base64*"}),
                "the contents API returned content that is not base64",
            ),
            (
                json!({"type": "file", "encoding": "base64", "content": base64::engine::general_purpose::STANDARD.encode([0xff, 0xfe])}),
                "it is not UTF-8 text",
            ),
            (
                json!({"type": "file", "encoding": "base64", "content": b64(&"x".repeat(1_100_000))}),
                "it is larger than 1 MiB",
            ),
        ];
        for (answer, why) in cases {
            assert_eq!(decode_contents(&answer), Err(why.to_owned()), "{answer}");
        }
    }

    #[test]
    fn base_commits() {
        let sha = "0123456789abcdef0123456789abcdef01234567".to_owned();
        let pr = |base: Option<String>| {
            Trigger::PullRequest(PullRequestEvent {
                number: 1,
                head_sha: sha.clone(),
                base_sha: base,
                labels: vec![],
                changed_files: None,
                head_repository: None,
            })
        };
        assert_eq!(base_commit(&pr(Some(sha.clone()))), Some(Ok(sha.clone())));
        assert_eq!(
            base_commit(&pr(None)),
            Some(Err("the pull_request event payload has no base commit SHA".to_owned()))
        );
        assert_eq!(base_commit(&Trigger::Push { before: sha.clone(), after: sha.clone() }), Some(Ok(sha.clone())));
        assert_eq!(
            base_commit(&Trigger::Push { before: "0".repeat(40), after: sha.clone() }),
            Some(Err("a new branch has no earlier commit to compare with".to_owned()))
        );
        assert_eq!(base_commit(&Trigger::WorkflowDispatch), None);
        assert_eq!(base_commit(&Trigger::Other("schedule".into())), None);
    }

    #[test]
    fn reading_stays_inside_the_folder() {
        let temp = tempfile::tempdir().unwrap();
        let root = temp.path().join("base");
        fs::create_dir_all(root.join("config/c1")).unwrap();
        fs::write(root.join("config/c1/cluster.yaml"), "name: c1\n").unwrap();
        fs::write(root.join("config/c1/big.yaml"), "x".repeat(MAX_CLUSTER_FILE_BYTES as usize + 1)).unwrap();
        fs::write(root.join("config/c1/latin1.yaml"), [0xe9]).unwrap();
        fs::write(temp.path().join("outside.yaml"), "secret").unwrap();
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(temp.path().join("outside.yaml"), root.join("config/c1/link.yaml")).unwrap();
            std::os::unix::fs::symlink(temp.path(), root.join("config/up")).unwrap();
        }
        assert_eq!(read_text_in(&root, "config/c1/cluster.yaml"), Ok(Some("name: c1\n".into())));
        assert_eq!(read_text_in(&root, "config/c2/cluster.yaml"), Ok(None));
        assert_eq!(read_text_in(&root, "config/c1/cluster.yaml/x"), Ok(None));
        assert_eq!(read_text_in(&root, "config/c1/big.yaml"), Err("it is larger than 1 MiB".into()));
        assert_eq!(read_text_in(&root, "config/c1/latin1.yaml"), Err("it is not UTF-8 text".into()));
        assert_eq!(read_text_in(&root, "config/c1"), Err("it is not a regular file (a folder)".into()));
        for escape in ["../outside.yaml", "config/../../outside.yaml", "/etc/passwd", ""] {
            assert!(read_text_in(&root, escape).is_err(), "{escape}");
        }
        #[cfg(unix)]
        {
            let outside = Err("it is a symlink to a path outside the repository".to_owned());
            assert_eq!(read_text_in(&root, "config/c1/link.yaml"), outside);
            assert!(read_text_in(&root, "config/up/outside.yaml").is_err());
        }
    }
}
