//! The plan folder: `plan.json` and `comment.md`, uploaded as an artifact on
//! pull requests and read by the comment workflow.
//!
//! The folder is written whole or not at all: files go to a fresh sibling
//! folder that is renamed into place. Files are left writable by everyone,
//! because a container action writes them as root and the runner user must
//! be able to clean the workspace afterwards.

use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::plan::{Plan, ProdHubJob, SupportAndStagingJob};
use crate::render;

/// The schema version of `plan.json`.
pub const PLAN_FILE_VERSION: u32 = 1;
/// Name of the machine-readable plan in the folder.
pub const PLAN_FILE: &str = "plan.json";
/// Name of the rendered comment in the folder.
pub const COMMENT_FILE: &str = "comment.md";

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
}

impl<'a> From<&'a PlanFile> for render::PlanMarkdown<'a> {
    fn from(file: &'a PlanFile) -> Self {
        render::PlanMarkdown {
            support_and_staging: &file.support_and_staging,
            prod_hubs: &file.prod_hubs,
            warnings: file.warnings.clone(),
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
        }
    }
}

/// Writes `plan.json` and `comment.md` into `dir`, replacing what was there.
pub fn write(dir: &Path, plan: &Plan, pr: Option<(u64, String)>) -> Result<(), Error> {
    let plan_file = PlanFile::new(plan, pr);
    let mut json = serde_json::to_string_pretty(&plan_file)
        .map_err(|e| Error::Runner(format!("cannot serialise the plan: {e}")))?;
    json.push('\n');
    let comment = render::comment(plan);

    let parent = dir.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
    let staging = staging_dir(dir)?;
    let result = (|| {
        fs::create_dir(&staging).map_err(|e| Error::io(&staging, e))?;
        write_file(&staging.join(PLAN_FILE), &json)?;
        write_file(&staging.join(COMMENT_FILE), &comment)?;
        make_shared(&staging, 0o777)?;
        if dir.is_dir() {
            fs::remove_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        } else if dir.exists() {
            return Err(Error::Runner(format!("{} exists and is not a folder", dir.display())));
        }
        fs::rename(&staging, dir).map_err(|e| Error::io(dir, e))
    })();
    if result.is_err() && staging.exists() {
        // Best effort: the error being returned matters more than a leftover temporary folder.
        let _ = fs::remove_dir_all(&staging);
    }
    result
}

fn staging_dir(dir: &Path) -> Result<PathBuf, Error> {
    let name = dir
        .file_name()
        .ok_or_else(|| Error::input("plan-dir", format!("`{}` does not name a folder", dir.display())))?;
    let mut staging = name.to_os_string();
    staging.push(format!(".tmp-{}", std::process::id()));
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
        fs::write(dir.join("stale.txt"), "old").unwrap();
        write(&dir, &Plan::default(), Some((7, "abc".into()))).unwrap();
        assert!(!dir.join("stale.txt").exists());
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
    fn refuses_to_replace_a_file() {
        let temp = tempfile::tempdir().unwrap();
        let path = temp.path().join("plan");
        fs::write(&path, "x").unwrap();
        assert!(write(&path, &Plan::default(), None).is_err());
        assert_eq!(fs::read_to_string(&path).unwrap(), "x");
        assert_eq!(fs::read_dir(temp.path()).unwrap().count(), 1);
    }
}
