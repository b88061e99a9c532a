//! The diff stage, shared by `deployer diff` and `actions/diff`: the plan's
//! releases rendered at base and head ([`render`](crate::manifest_diff::helm_template)), compared,
//! optionally thinned by `skip-unchanged` ([`skip`](crate::manifest_diff::skip)), and bounded
//! for `plan.json` (the full diff goes to `manifests.diff`).

use std::path::PathBuf;
use std::time::Duration;

use crate::base::error::Error;
use crate::base::runner::RunnerEnv;
use crate::config::SUPPORT_RELEASE;
use crate::manifest_diff::helm_template::{render_and_compare, Progress, RenderRequest, Rendered};
use crate::manifest_diff::normalise::{NormaliseRules, SecretDigestKey};
use crate::manifest_diff::skip::{releases_of, skip_unchanged};
use crate::manifest_diff::unified::keep_within;
use crate::manifest_diff::{DiffStatus, ManifestDiff, ReleaseDiff, RENDER_IGNORE_NOTE};
use crate::planning::plan::{ProdHubJob, SupportAndStagingJob};

/// Input names of `actions/diff`.
pub mod inputs {
    pub const PLAN_DIR: &str = "plan-dir";
    pub const BASE_DIR: &str = "base-dir";
    pub const SKIP_UNCHANGED: &str = "skip-unchanged";
    pub const CONFIG: &str = "config";
    pub const WORKERS: &str = "workers";
    pub const TIMEOUT: &str = "timeout";
    pub const MAX_JOBS: &str = crate::stages::generate::inputs::MAX_JOBS;
    /// Every input the action reads.
    pub const ALL: &[&str] = &[PLAN_DIR, BASE_DIR, SKIP_UNCHANGED, CONFIG, WORKERS, TIMEOUT, MAX_JOBS];
    /// The default of each input the code gives one (when the input is absent or empty), as
    /// `action.yml` must declare it (`tests/action_metadata.rs` checks it).
    pub fn defaults() -> Vec<(&'static str, String)> {
        vec![
            (PLAN_DIR, crate::stages::generate::DEFAULT_PLAN_DIR.to_owned()),
            (SKIP_UNCHANGED, false.to_string()),
            (TIMEOUT, crate::manifest_diff::helm_template::DEFAULT_RENDER_TIMEOUT.as_secs().to_string()),
            (MAX_JOBS, crate::planning::legs::DEFAULT_MAX_JOBS.to_string()),
        ]
    }
}

/// Output names of `actions/diff`.
pub mod outputs {
    /// generate's matrices and `has-jobs`, rewritten for the thinned plan (the health checks are
    /// passed on from the plan: nothing of them is rendered).
    pub use crate::stages::generate::outputs::{
        HAS_JOBS, HEALTH_CHECKS, HEALTH_CHECK_PROD, HEALTH_CHECK_STAGING, MATRICES, PROD_HUBS, SUPPORT_AND_STAGING,
    };
    pub const CHANGED_RELEASES: &str = "changed-releases";
    pub const SKIPPED_RELEASES: &str = "skipped-releases";
    /// The outputs only this action writes.
    pub const OWN: &[&str] = &[CHANGED_RELEASES, SKIPPED_RELEASES];
    /// Every output the action writes.
    pub const ALL: &[&str] = &crate::base::runner::concat_names::<{ MATRICES.len() + OWN.len() }>(MATRICES, OWN);
}

/// Bytes of object diffs `plan.json` carries at most, in all and per release;
/// the rest is in `manifests.diff` and the step summary.
pub const MAX_PLAN_DIFF_BYTES: usize = 4 * 1024 * 1024;
pub const MAX_RELEASE_DIFF_BYTES: usize = 256 * 1024;
/// Bytes of `manifests.diff` at most.
pub const MAX_FULL_DIFF_BYTES: usize = 64 * 1024 * 1024;

/// What to diff.
#[derive(Debug, Clone)]
pub struct DiffRequest {
    pub head: PathBuf,
    pub base: PathBuf,
    pub config: Option<PathBuf>,
    pub support_and_staging: Vec<SupportAndStagingJob>,
    pub prod_hubs: Vec<ProdHubJob>,
    pub skip_unchanged: bool,
    pub helm: String,
    pub workers: usize,
    pub timeout: Duration,
    /// The whole environment of every helm process (see [`crate::manifest_diff::helm_template::helm_env`]).
    pub helm_env: Vec<(String, String)>,
}

/// The diff and the matrices after it.
#[derive(Debug, Clone)]
pub struct DiffOutcome {
    /// Every release with every object's diff (for `manifests.diff`, the CLI).
    pub full: ManifestDiff,
    /// The same, bounded for `plan.json` and the comment.
    pub bounded: ManifestDiff,
    pub support_and_staging: Vec<SupportAndStagingJob>,
    pub prod_hubs: Vec<ProdHubJob>,
    pub renders: usize,
    pub dependency_builds: usize,
    pub helm_version: String,
}

impl DiffOutcome {
    /// Releases whose objects (or encrypted values) change, or that could not be rendered.
    pub fn changed_releases(&self) -> usize {
        self.full.releases.iter().filter(|r| r.status != DiffStatus::Unchanged).count()
    }
}

/// The number of workers when none is asked for: one per core.
pub fn default_workers() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

/// How a diff normalises: the base checkout's `render.ignore` (a change
/// cannot hide itself from its own diff), with a fresh random key for the
/// Secret values' digests; and whether the head's `render.ignore` differs.
/// The head's settings must load (as before a diff); when the base's do not,
/// nothing is ignored.
pub fn rules(request: &DiffRequest) -> Result<(NormaliseRules, bool), Error> {
    use crate::config::load::load_settings;
    let head = load_settings(&request.head, request.config.as_deref())?;
    let base = load_settings(&request.base, request.config.as_deref()).map(|s| s.render_ignore).unwrap_or_default();
    let differs = head.render_ignore != base;
    let key = SecretDigestKey::random()
        .map_err(|e| Error::Runner(format!("no randomness for the Secret values' digests: {e}")))?;
    let rules = NormaliseRules { ignore: base, secret_digests: Some(key), ..NormaliseRules::default() };
    Ok((rules, differs))
}

/// Renders, compares and (when asked) skips, with [`rules`].
pub fn run(request: &DiffRequest, progress: &(dyn Fn(Progress) + Sync)) -> Result<DiffOutcome, Error> {
    let (rules, head_render_ignore_differs) = rules(request)?;
    let rules = &rules;
    let releases = releases_of(&request.support_and_staging, &request.prod_hubs);
    let render = RenderRequest {
        head: request.head.clone(),
        base: request.base.clone(),
        config: request.config.clone(),
        releases,
        helm: request.helm.clone(),
        workers: request.workers.max(1),
        timeout: request.timeout,
        helm_env: request.helm_env.clone(),
    };
    let Rendered { releases: outcomes, renders, dependency_builds, helm_version } =
        render_and_compare(&render, rules, progress)?;
    let (support_and_staging, prod_hubs, skipped) = if request.skip_unchanged {
        let skipped = skip_unchanged(&request.support_and_staging, &request.prod_hubs, &outcomes);
        (skipped.support_and_staging, skipped.prod_hubs, skipped.skipped)
    } else {
        (request.support_and_staging.clone(), request.prod_hubs.clone(), Vec::new())
    };
    let full =
        ManifestDiff { releases: outcomes.into_iter().map(|o| o.diff).collect(), skipped, head_render_ignore_differs };
    let bounded = bound(&full, MAX_PLAN_DIFF_BYTES, MAX_RELEASE_DIFF_BYTES);
    Ok(DiffOutcome { full, bounded, support_and_staging, prod_hubs, renders, dependency_builds, helm_version })
}

/// `diff` with whole objects' diffs only, at most `per_release` bytes each
/// and `total` in all, in order; a release that lost some says so.
pub fn bound(diff: &ManifestDiff, total: usize, per_release: usize) -> ManifestDiff {
    let mut left = total;
    let releases = diff
        .releases
        .iter()
        .map(|release| {
            let mut release = release.clone();
            let (used, dropped) = keep_within(&mut release.objects, per_release.min(left));
            left -= used;
            release.objects_truncated |= dropped;
            release
        })
        .collect();
    ManifestDiff {
        releases,
        skipped: diff.skipped.clone(),
        head_render_ignore_differs: diff.head_render_ignore_differs,
    }
}

/// Every release's diff as one text (`manifests.diff`): a `#` line per
/// release, then its objects' unified diffs; at most [`MAX_FULL_DIFF_BYTES`].
pub fn full_text(diff: &ManifestDiff) -> String {
    let mut text = String::new();
    if diff.head_render_ignore_differs {
        text.push_str(&format!("# Note: {RENDER_IGNORE_NOTE}\n"));
    }
    for release in &diff.releases {
        let head = format!("# {}: {}\n", release.label(), status_line(release));
        let body: String = release.objects.iter().map(|o| o.diff.as_str()).collect();
        if text.len() + head.len() + body.len() > MAX_FULL_DIFF_BYTES {
            text.push_str(&format!(
                "# … the rest is left out: this file holds at most {} MiB\n",
                MAX_FULL_DIFF_BYTES >> 20
            ));
            break;
        }
        text.push_str(&head);
        if let Some(message) = &release.message {
            for line in message.lines() {
                text.push_str(&format!("#   {line}\n"));
            }
        }
        text.push_str(&body);
    }
    text
}

/// One line about a release's change: `changed: 2 objects changed, 1 added (+10 -3)`.
pub fn status_line(release: &ReleaseDiff) -> String {
    let mut parts = Vec::new();
    for (count, word) in
        [(release.objects_changed, "changed"), (release.objects_added, "added"), (release.objects_removed, "removed")]
    {
        if count > 0 {
            parts.push(format!("{count} {word}"));
        }
    }
    let mut line = release.status.as_str().to_owned();
    if !parts.is_empty() {
        line = format!("{line}: {}, +{} -{} lines", parts.join(", "), release.lines_added, release.lines_removed);
    }
    if !release.encrypted_values_changed.is_empty() {
        line.push_str(&format!(
            "; {}: {}",
            crate::manifest_diff::ENCRYPTED_CHANGED,
            release.encrypted_values_changed.join(", ")
        ));
    }
    line
}

/// The text form of a diff, for the log and the terminal: a line per
/// release (and per skipped release), then the changed objects' unified diffs.
pub fn text_report(diff: &ManifestDiff) -> String {
    let width = diff.releases.iter().map(|r| r.label().chars().count()).max().unwrap_or(0);
    let mut text = String::new();
    if diff.head_render_ignore_differs {
        text.push_str(&format!("Note: {RENDER_IGNORE_NOTE}\n"));
    }
    for release in &diff.releases {
        text.push_str(&format!("{:width$}  {}\n", release.label(), status_line(release)));
    }
    for skipped in &diff.skipped {
        let label = format!("{}/{}", skipped.cluster_name, skipped.hub_name.as_deref().unwrap_or(SUPPORT_RELEASE));
        text.push_str(&format!("{label:width$}  skipped: {}\n", skipped.reason));
    }
    for release in &diff.releases {
        if release.objects.is_empty() && release.message.is_none() {
            continue;
        }
        text.push_str(&format!("\n# {}\n", release.label()));
        if let Some(message) = &release.message {
            text.push_str(message);
            text.push('\n');
        }
        for object in &release.objects {
            text.push_str(&object.diff);
        }
        if release.objects_truncated {
            text.push_str("# … more objects changed: their diffs are left out here\n");
        }
    }
    text
}

/// `deployer validate --render`: every support chart and hub of `estate`
/// rendered at `repo`; a release that does not render is a problem at its
/// entry in its `cluster.yaml` (the hub's `- name:` item, or `support:`).
pub fn render_problems(
    repo: &std::path::Path,
    config: Option<&std::path::Path>,
    estate: &crate::config::Estate,
    how: &crate::manifest_diff::helm_template::HelmRuns,
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<Vec<crate::Diagnostic>, Error> {
    use crate::config::locate::{locate, Segment};
    use crate::manifest_diff::helm_template::{render_each, Release};
    let mut releases = Vec::new();
    let mut entries: Vec<(String, Vec<Segment<'static>>, Option<usize>)> = Vec::new();
    for cluster in &estate.clusters {
        if cluster.support.is_some() {
            releases.push(Release { cluster_name: cluster.name.clone(), hub_name: None, planned_chart_commit: None });
            entries.push((cluster.file.clone(), vec![Segment::Key("support")], None));
        }
        for (index, hub) in cluster.hubs.iter().enumerate() {
            releases.push(Release {
                cluster_name: cluster.name.clone(),
                hub_name: Some(hub.name.clone()),
                planned_chart_commit: None,
            });
            entries.push((cluster.file.clone(), vec![Segment::Key("hubs")], Some(index)));
        }
    }
    let results = render_each(repo, config, &releases, how, progress)?;
    let root = crate::base::repo_fs::RepoRoot::new(repo)?;
    let mut problems = Vec::new();
    for ((release, (file, path, index)), result) in releases.iter().zip(&entries).zip(&results) {
        let Err(why) = result else { continue };
        let mut segments = path.clone();
        if let Some(index) = index {
            segments.push(Segment::Index(*index));
        }
        let at = root.read_config_file(file).ok().and_then(|text| locate(&text, &segments));
        let field = match index {
            Some(index) => format!("hubs[{index}]"),
            None => "support".to_owned(),
        };
        problems.push(
            crate::Diagnostic::new(file, format!("{} does not render: {why}", release.label()))
                .at(at)
                .field(field)
                .hint("fix the chart or this release's values files; `deployer diff` shows what they render to"),
        );
    }
    Ok(problems)
}

/// The inputs of `actions/diff`, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiffInputs {
    pub plan_dir: String,
    pub base_dir: String,
    pub skip_unchanged: bool,
    pub config: Option<PathBuf>,
    pub workers: usize,
    pub timeout: Duration,
    /// As generate's `max-jobs`: the matrices written are packed into legs past it.
    pub max_jobs: usize,
}

impl DiffInputs {
    pub fn from_env(env: &RunnerEnv) -> Result<Self, Error> {
        let base_dir = env.input(inputs::BASE_DIR).map(str::to_owned).ok_or_else(|| {
            Error::input(
                inputs::BASE_DIR,
                "is required: check out the base commit into a folder (a second actions/checkout with `path:`) and name it here",
            )
        })?;
        let workers = match env.input(inputs::WORKERS) {
            None => default_workers(),
            Some(text) => text
                .trim()
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=256).contains(n))
                .ok_or_else(|| Error::input(inputs::WORKERS, format!("`{text}` is not a number from 1 to 256")))?,
        };
        let timeout = match env.input(inputs::TIMEOUT) {
            None => crate::manifest_diff::helm_template::DEFAULT_RENDER_TIMEOUT,
            Some(text) => {
                text.trim().parse::<u64>().ok().filter(|n| (1..=3600).contains(n)).map(Duration::from_secs).ok_or_else(
                    || Error::input(inputs::TIMEOUT, format!("`{text}` is not a number of seconds from 1 to 3600")),
                )?
            }
        };
        Ok(DiffInputs {
            plan_dir: env.input(inputs::PLAN_DIR).unwrap_or(crate::stages::generate::DEFAULT_PLAN_DIR).to_owned(),
            base_dir,
            skip_unchanged: env.bool_input(inputs::SKIP_UNCHANGED, false)?,
            config: env.input(inputs::CONFIG).map(PathBuf::from),
            workers,
            timeout,
            max_jobs: env
                .input(inputs::MAX_JOBS)
                .map(|text| crate::stages::generate::parse_max_jobs(inputs::MAX_JOBS, text))
                .transpose()?
                .unwrap_or(crate::planning::legs::DEFAULT_MAX_JOBS),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest_diff::{ObjectChange, ObjectDiff};

    fn release(name: &str, sizes: &[usize]) -> ReleaseDiff {
        ReleaseDiff {
            cluster_name: "c".into(),
            hub_name: Some(name.into()),
            status: DiffStatus::Changed,
            objects_added: 0,
            objects_removed: 0,
            objects_changed: sizes.len() as u32,
            lines_added: 1,
            lines_removed: 1,
            encrypted_values_changed: vec![],
            message: None,
            objects: sizes
                .iter()
                .map(|n| ObjectDiff { object: "o".into(), change: ObjectChange::Changed, diff: "x".repeat(*n) })
                .collect(),
            objects_truncated: false,
        }
    }

    #[test]
    fn bounds_per_release_and_in_all_at_object_boundaries() {
        let diff = ManifestDiff {
            releases: vec![release("a", &[10, 10, 10]), release("b", &[10, 10])],
            ..ManifestDiff::default()
        };
        // (total, per release, objects kept per release, truncated per release)
        let cases: &[(usize, usize, [usize; 2], [bool; 2])] = &[
            (1000, 1000, [3, 2], [false, false]),
            (1000, 25, [2, 2], [true, false]),
            (30, 1000, [2, 0], [true, true]),
            (0, 1000, [0, 0], [true, true]),
        ];
        for (total, per, kept, truncated) in cases {
            let bounded = bound(&diff, *total, *per);
            let found: Vec<usize> = bounded.releases.iter().map(|r| r.objects.len()).collect();
            let cut: Vec<bool> = bounded.releases.iter().map(|r| r.objects_truncated).collect();
            assert_eq!((found.as_slice(), cut.as_slice()), (&kept[..], &truncated[..]), "{total} {per}");
        }
    }

    #[test]
    fn inputs_from_env() {
        let env = RunnerEnv::from_vars([
            ("INPUT_BASE-DIR", "base"),
            ("INPUT_WORKERS", "3"),
            ("INPUT_SKIP-UNCHANGED", "true"),
        ]);
        let parsed = DiffInputs::from_env(&env).expect("inputs");
        assert_eq!((parsed.base_dir.as_str(), parsed.workers, parsed.skip_unchanged), ("base", 3, true));
        for (name, value, says) in [
            ("INPUT_WORKERS", "0", "not a number from 1 to 256"),
            ("INPUT_TIMEOUT", "1h", "not a number of seconds"),
            ("INPUT_SKIP-UNCHANGED", "yes please", "skip-unchanged"),
        ] {
            let env = RunnerEnv::from_vars([("INPUT_BASE-DIR", "base"), (name, value)]);
            let error = DiffInputs::from_env(&env).expect_err(name).to_string();
            assert!(error.contains(says), "{name}: {error}");
        }
        let missing = DiffInputs::from_env(&RunnerEnv::default()).expect_err("no base").to_string();
        assert!(missing.contains("base-dir"), "{missing}");
    }
}
