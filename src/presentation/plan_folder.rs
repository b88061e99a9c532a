//! The plan folder: `plan.json` and `comment.md`, uploaded as an artifact on
//! pull requests and read by the comment workflow.
//!
//! The folder is written whole or not at all: files go to a fresh sibling
//! folder (random name, created exclusively) that is renamed into place.
//! Files are left writable by everyone, because a container action writes
//! them as root and the runner user must be able to clean the workspace
//! afterwards.
//!
//! The `plan-dir` input is checked first ([`resolve_dir`]): the folder must
//! be inside the workspace, and is replaced only when it holds nothing but
//! plan files, so that a mistaken `.`, `config` or `..` deletes nothing.

use std::fs;
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::base::error::Error;
use crate::manifest_diff::ManifestDiff;
use crate::planning::plan::{BeforeStepsNote, HealthCheckJob, Plan, ProdHubJob, RemovedHub, SupportAndStagingJob};
use crate::presentation;

/// The schema version of `plan.json`.
pub const PLAN_FILE_VERSION: u32 = 1;
/// Name of the machine-readable plan in the folder.
pub const PLAN_FILE: &str = "plan.json";
/// Name of the rendered comment in the folder.
pub const COMMENT_FILE: &str = "comment.md";
/// Name of the full rendered-manifest diff in the folder (written by `diff`).
pub const MANIFESTS_DIFF_FILE: &str = "manifests.diff";
/// Every file a plan folder holds: a folder holding anything else is never replaced.
pub const PLAN_FILES: &[&str] = &[PLAN_FILE, COMMENT_FILE, MANIFESTS_DIFF_FILE];
/// The input that names the folder, for errors.
const PLAN_DIR_INPUT: &str = "plan-dir";

/// `plan.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanFile {
    pub version: u32,
    /// The pull request the plan was made for, when the event was one.
    pub pr_number: Option<u64>,
    /// The head commit of that pull request.
    pub head_sha: Option<String>,
    #[serde(rename = "support-and-staging-matrix-jobs")]
    pub support_and_staging: Vec<SupportAndStagingJob>,
    #[serde(rename = "prod-hub-matrix-jobs")]
    pub prod_hubs: Vec<ProdHubJob>,
    /// The plan's warnings, as text.
    #[serde(default)]
    pub warnings: Vec<String>,
    /// Hubs that `cluster.yaml` edits removed (nothing uninstalls them). Left
    /// out when there are none, so files of older versions stay valid and alike.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub removed_hubs: Vec<RemovedHub>,
    /// Staging hubs to health-check without an upgrade; left out when there are none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub staging_checks: Vec<HealthCheckJob>,
    /// Prod hubs to health-check without an upgrade; left out when there are none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub prod_checks: Vec<HealthCheckJob>,
    /// Clusters where `deployer.yaml` `before` steps run ahead of the releases of some charts;
    /// left out when there are none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub before_steps: Vec<BeforeStepsNote>,
    /// The rendered-manifest diff of the planned releases, when `diff` ran.
    /// Left out otherwise, so files without one stay valid and alike.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest_diff: Option<ManifestDiff>,
}

impl<'a> From<&'a PlanFile> for presentation::PlanMarkdown<'a> {
    fn from(file: &'a PlanFile) -> Self {
        presentation::PlanMarkdown {
            support_and_staging: &file.support_and_staging,
            prod_hubs: &file.prod_hubs,
            warnings: file.warnings.clone(),
            removed_hubs: &file.removed_hubs,
            staging_checks: &file.staging_checks,
            prod_checks: &file.prod_checks,
            before_steps: &file.before_steps,
            manifest_diff: file.manifest_diff.as_ref(),
        }
    }
}

impl PlanFile {
    /// The file for `plan`, made for the pull request `pr` (number and head SHA), if any.
    pub fn new(plan: &Plan, pr: Option<(u64, String)>) -> Self {
        let (pr_number, head_sha) = match pr {
            Some((number, sha)) => (Some(number), Some(sha)),
            None => (None, None),
        };
        PlanFile {
            version: PLAN_FILE_VERSION,
            pr_number,
            head_sha,
            support_and_staging: plan.support_and_staging.clone(),
            prod_hubs: plan.prod_hubs.clone(),
            warnings: plan.warnings.iter().map(ToString::to_string).collect(),
            removed_hubs: plan.removed_hubs.clone(),
            staging_checks: plan.staging_checks.clone(),
            prod_checks: plan.prod_checks.clone(),
            before_steps: plan.before_steps.clone(),
            manifest_diff: None,
        }
    }
}

/// Where the `plan-dir` input `given` (relative to `workspace`, or absolute)
/// puts the plan folder. Refused: a path outside the workspace (lexically, or
/// through a symbolic link of an existing part), the workspace itself, a path
/// through `.git`, something that is not a folder, and a folder holding
/// anything but plan files.
pub fn resolve_dir(workspace: &Path, given: &str) -> Result<PathBuf, Error> {
    let refuse = |why: String| Error::input(PLAN_DIR_INPUT, format!("`{given}` {why}"));
    let workspace = absolute(workspace)?;
    let target = normalise(&workspace.join(given)).ok_or_else(|| refuse("goes above the file system root".into()))?;
    let inside = target.strip_prefix(&workspace).map_err(|_| {
        refuse(format!("is outside the workspace ({}): the plan folder must be inside it", workspace.display()))
    })?;
    if inside.as_os_str().is_empty() {
        return Err(refuse("is the workspace itself: name a folder of its own, such as `deployment-plan`".into()));
    }
    if inside.components().any(|c| c.as_os_str() == ".git") {
        return Err(refuse("is inside `.git`".into()));
    }
    // The deepest part that exists must still be inside the workspace once
    // symbolic links are followed.
    let real_workspace = fs::canonicalize(&workspace).map_err(|e| Error::io(&workspace, e))?;
    let mut existing = target.as_path();
    while fs::symlink_metadata(existing).is_err() {
        existing = existing.parent().unwrap_or(&workspace);
    }
    let real = fs::canonicalize(existing).map_err(|e| Error::io(existing, e))?;
    if !real.starts_with(&real_workspace) || (existing == target && real == real_workspace) {
        return Err(refuse(format!(
            "leads outside the workspace through a symbolic link ({} is {})",
            existing.display(),
            real.display()
        )));
    }
    check_replaceable(&target)?;
    Ok(target)
}

/// `path` made absolute against the current folder.
fn absolute(path: &Path) -> Result<PathBuf, Error> {
    let joined = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir().map_err(|e| Error::io(".", e))?.join(path)
    };
    normalise(&joined).ok_or_else(|| Error::Runner(format!("{} goes above the file system root", path.display())))
}

/// `path` with `.` and `..` resolved lexically; `None` when `..` climbs above the root.
fn normalise(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() || out.as_os_str().is_empty() {
                    return None;
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    Some(out)
}

/// Whether `dir` may be replaced by a plan folder: it does not exist, or it
/// is a real folder (not a symbolic link) holding only plan files.
fn check_replaceable(dir: &Path) -> Result<(), Error> {
    let refuse = |why: String| Error::input(PLAN_DIR_INPUT, format!("{} {why}", dir.display()));
    let metadata = match fs::symlink_metadata(dir) {
        Ok(metadata) => metadata,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io(dir, e)),
    };
    if metadata.file_type().is_symlink() {
        return Err(refuse("is a symbolic link; name a folder".into()));
    }
    if !metadata.is_dir() {
        return Err(refuse("exists and is not a folder".into()));
    }
    for entry in fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let name = entry.file_name();
        let is_file = entry.file_type().map_err(|e| Error::io(entry.path(), e))?.is_file();
        if !is_file || !PLAN_FILES.iter().any(|plan_file| name == *plan_file) {
            return Err(refuse(format!(
                "holds `{}`, which is not a plan file: only a folder holding nothing but {} is replaced; \
                 name a new folder, such as `deployment-plan`",
                name.to_string_lossy(),
                PLAN_FILES.join(" and ")
            )));
        }
    }
    Ok(())
}

/// Writes `plan.json` and `comment.md` into `dir`, replacing what was there:
/// nothing, or an earlier plan folder (anything else is refused, see [`resolve_dir`]).
pub fn write(dir: &Path, plan: &Plan, pr: Option<(u64, String)>) -> Result<(), Error> {
    write_file_set(dir, &PlanFile::new(plan, pr), None)
}

/// Writes `plan_file` as `plan.json`, its comment as `comment.md` and, when
/// given, the full manifest diff as `manifests.diff`, replacing the folder whole.
pub fn write_file_set(dir: &Path, plan_file: &PlanFile, manifests_diff: Option<&str>) -> Result<(), Error> {
    check_replaceable(dir)?;
    let mut json = serde_json::to_string_pretty(plan_file)
        .map_err(|e| Error::Runner(format!("cannot serialise the plan: {e}")))?;
    json.push('\n');
    let comment = presentation::comment_within(&plan_file.into(), presentation::COMMENT_MARKER, usize::MAX, None);

    let parent = dir.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
    let staging = staging_dir(dir)?;
    // `create_dir` refuses a path that exists, a symbolic link included.
    fs::create_dir(&staging).map_err(|e| Error::io(&staging, e))?;
    let result = (|| {
        write_file(&staging.join(PLAN_FILE), &json)?;
        write_file(&staging.join(COMMENT_FILE), &comment)?;
        if let Some(diff) = manifests_diff {
            write_file(&staging.join(MANIFESTS_DIFF_FILE), diff)?;
        }
        make_shared(&staging, 0o777)?;
        check_replaceable(dir)?;
        if fs::symlink_metadata(dir).is_ok() {
            fs::remove_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        fs::rename(&staging, dir).map_err(|e| Error::io(dir, e))
    })();
    if result.is_err() {
        // Best effort: the error being returned matters more than a leftover temporary folder.
        let _ = fs::remove_dir_all(&staging);
    }
    result
}

fn staging_dir(dir: &Path) -> Result<PathBuf, Error> {
    let name = dir
        .file_name()
        .ok_or_else(|| Error::input("plan-dir", format!("`{}` does not name a folder", dir.display())))?;
    let mut random = [0u8; 8];
    getrandom::fill(&mut random).map_err(|e| Error::Runner(format!("no randomness for a temporary folder: {e}")))?;
    let mut staging = std::ffi::OsString::from(".");
    staging.push(name);
    staging.push(format!(".tmp-{}", random.iter().map(|b| format!("{b:02x}")).collect::<String>()));
    Ok(dir.with_file_name(staging))
}

fn write_file(path: &Path, text: &str) -> Result<(), Error> {
    fs::write(path, text).map_err(|e| Error::io(path, e))?;
    make_shared(path, 0o666)
}

#[cfg(unix)]
fn make_shared(path: &Path, mode: u32) -> Result<(), Error> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).map_err(|e| Error::io(path, e))
}

#[cfg(not(unix))]
fn make_shared(_path: &Path, _mode: u32) -> Result<(), Error> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_replaces_and_leaves_files_writable() {
        let temp = tempfile::tempdir().unwrap();
        let dir = temp.path().join("out/deployment-plan");
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join(PLAN_FILE), "old").unwrap();
        write(&dir, &Plan::default(), Some((7, "abc".into()))).unwrap();
        let parsed: PlanFile = serde_json::from_str(&fs::read_to_string(dir.join(PLAN_FILE)).unwrap()).unwrap();
        assert_eq!(parsed.pr_number, Some(7));
        assert_eq!(parsed.version, PLAN_FILE_VERSION);
        assert!(fs::read_to_string(dir.join(COMMENT_FILE)).unwrap().starts_with("<!-- deployment-plan -->\n"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(fs::metadata(&dir).unwrap().permissions().mode() & 0o777, 0o777);
            assert_eq!(fs::metadata(dir.join(PLAN_FILE)).unwrap().permissions().mode() & 0o777, 0o666);
        }
        let leftovers: Vec<_> = fs::read_dir(dir.parent().unwrap()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no temporary folder is left behind");
    }

    #[test]
    fn refuses_to_replace_a_folder_with_other_files() {
        let temp = tempfile::tempdir().unwrap();
        let dir = temp.path().join("config");
        fs::create_dir(&dir).unwrap();
        fs::write(dir.join("cluster.yaml"), "x").unwrap();
        let error = write(&dir, &Plan::default(), None).unwrap_err().to_string();
        assert!(error.starts_with("invalid input `plan-dir`: "), "{error}");
        assert!(error.contains("holds `cluster.yaml`, which is not a plan file"), "{error}");
        assert_eq!(fs::read_to_string(dir.join("cluster.yaml")).unwrap(), "x");
        assert_eq!(fs::read_dir(temp.path()).unwrap().count(), 1, "nothing else written");
    }

    #[test]
    fn plan_dir_stays_inside_the_workspace() {
        let temp = tempfile::tempdir().unwrap();
        let workspace = temp.path().join("ws");
        fs::create_dir_all(workspace.join("config/clusters")).unwrap();
        fs::write(workspace.join("config/clusters/cluster.yaml"), "x").unwrap();
        fs::create_dir_all(workspace.join("old-plan")).unwrap();
        fs::write(workspace.join("old-plan").join(COMMENT_FILE), "x").unwrap();
        fs::create_dir_all(workspace.join("empty")).unwrap();
        fs::create_dir_all(workspace.join(".git")).unwrap();
        fs::write(workspace.join("a-file"), "x").unwrap();
        fs::create_dir_all(temp.path().join("outside")).unwrap();
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(temp.path().join("outside"), workspace.join("escape")).unwrap();
            std::os::unix::fs::symlink(workspace.join("empty"), workspace.join("link-to-empty")).unwrap();
        }
        let outside = temp.path().join("outside/plan").to_string_lossy().into_owned();
        let ok: &[(&str, &str)] = &[
            ("deployment-plan", "deployment-plan"),
            ("./out/plan", "out/plan"),
            ("out/../plan", "plan"),
            ("old-plan", "old-plan"),
            ("empty", "empty"),
        ];
        for (given, expected) in ok {
            assert_eq!(resolve_dir(&workspace, given).unwrap(), workspace.join(expected), "{given}");
        }
        let absolute_inside = workspace.join("abs-plan").to_string_lossy().into_owned();
        assert_eq!(resolve_dir(&workspace, &absolute_inside).unwrap(), workspace.join("abs-plan"));
        let refused: &[(&str, &str)] = &[
            (".", "is the workspace itself"),
            ("", "is the workspace itself"),
            ("out/..", "is the workspace itself"),
            ("..", "is outside the workspace"),
            ("../ws-sibling", "is outside the workspace"),
            ("/tmp/x", "is outside the workspace"),
            (&outside, "is outside the workspace"),
            ("config", "holds `clusters`, which is not a plan file"),
            ("config/clusters", "holds `cluster.yaml`, which is not a plan file"),
            ("a-file", "exists and is not a folder"),
            (".git", "is inside `.git`"),
            (".git/plan", "is inside `.git`"),
            ("escape/plan", "leads outside the workspace through a symbolic link"),
            ("escape", "leads outside the workspace through a symbolic link"),
            ("link-to-empty", "is a symbolic link"),
        ];
        for (given, expected) in refused {
            let error = resolve_dir(&workspace, given).unwrap_err().to_string();
            assert!(error.starts_with("invalid input `plan-dir`: "), "{given}: {error}");
            assert!(error.contains(expected), "{given}: {error}");
        }
    }

    #[test]
    fn refuses_to_replace_a_file() {
        let temp = tempfile::tempdir().unwrap();
        let path = temp.path().join("plan");
        fs::write(&path, "x").unwrap();
        assert!(write(&path, &Plan::default(), None).is_err());
        assert_eq!(fs::read_to_string(&path).unwrap(), "x");
        assert_eq!(fs::read_dir(temp.path()).unwrap().count(), 1);
    }
}
