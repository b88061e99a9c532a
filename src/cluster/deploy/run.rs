//! Running a deploy: finding the cluster, decrypting its `enc-*` values files
//! into a private temporary folder (removed when the run ends, whether it
//! succeeded or not), running the planned `helm` commands with their output
//! streamed into the job log, and the optional health check.
//!
//! The first failure stops the run: later targets are not upgraded, so a
//! failed staging hub fails its leg before anything else changes, and the
//! filter stage then holds back that cluster's prod hubs.
//!
//! Every value of a decrypted file is masked (`::add-mask::`) before any
//! command runs. SIGTERM or SIGINT stops the run the same way as a failure,
//! after stopping the running command ([`crate::base::stop`]).

use std::collections::{HashMap, VecDeque};
use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

use super::before::{before_steps, chart_dependencies, counts_for_values_key, key_is_true, merge_values, Facts};
use super::records::{Ended as RecordEnded, ReleaseRecord};
use super::{
    command_line, encrypted_files, inputs, outputs, plan_commands, resolve_targets, shell_quote, BeforeMode,
    DeployRequest, HealthCheck, Step, StepKind, Target,
};
use crate::base::diagnostic::Diagnostic;
use crate::base::error::Error;
use crate::base::private_dir::PrivateDir;
use crate::base::repo_fs::{PathError, PathProblem, RepoRoot, CHART_TREE_LIMITS};
use crate::base::runner::{self, Outputs};
use crate::base::stop;
use crate::config::chart_files::check_chart_files;
use crate::config::charts::{chart_folder, chart_inputs_at, chart_inputs_overridden};
use crate::config::load::{load_estate, load_settings};
use crate::config::rollout::JobRollout;
use crate::config::Settings;
use crate::config::{Cluster, ValuesFile, CHARTS_DIR};
use crate::tools::git_tree::{read_chart_at, PinnedAt};

/// Lines of a command's output kept for the error message.
const TAIL_LINES: usize = 40;
/// How long to keep reading a command's output after it exited (a process it
/// started may still hold the pipe open).
const DRAIN_GRACE: Duration = Duration::from_secs(2);

/// How the log is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogStyle {
    /// In a GitHub Actions job: `::group::` per command, and command output
    /// (untrusted) between `::stop-commands::` markers.
    Actions,
    /// In a terminal: plain headings.
    Plain,
    /// Several releases at once in a GitHub Actions job: plain headings, and
    /// the caller pauses workflow commands once around all of them (a pause
    /// per release would let one release's end resume commands amid another's output).
    Interleaved,
}

/// What a deploy did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeployOutcome {
    pub cluster: String,
    /// The releases upgraded, in order (none on a dry run).
    pub deployed: Vec<String>,
    /// The releases asked for, in order.
    pub targets: Vec<String>,
    pub dry_run: bool,
    /// How each release's upgrade went, in order (empty on a dry run).
    pub releases: Vec<ReleaseResult>,
}

/// One release's `helm upgrade`, for the log and the step summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseResult {
    pub release: String,
    /// `upgraded`, `failed`, `health check failed`, `not run`.
    pub result: &'static str,
    /// How long the upgrade (and its health check) took, in milliseconds; `None` when it did not run.
    pub millis: Option<u128>,
}

impl DeployOutcome {
    /// The step outputs.
    pub fn outputs(&self) -> Result<Outputs, Error> {
        let mut out = Outputs::default();
        out.set_json(outputs::DEPLOYED, &self.deployed)?;
        Ok(out)
    }

    /// A few lines of Markdown for the step summary.
    pub fn summary(&self) -> String {
        let list = |names: &[String]| names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ");
        if self.targets.is_empty() {
            format!("Nothing to deploy on `{}`.\n", self.cluster)
        } else if self.dry_run {
            format!("Dry run on `{}`: would upgrade {}.\n", self.cluster, list(&self.targets))
        } else {
            let mut text = format!("Upgraded on `{}`: {}.\n", self.cluster, list(&self.deployed));
            text.push_str(&releases_table(&self.releases));
            text
        }
    }
}

/// The step summary's table of releases: result and time of each.
pub fn releases_table(releases: &[ReleaseResult]) -> String {
    if releases.is_empty() {
        return String::new();
    }
    let mut text = String::from("\n| release | result | time |\n|---|---|---|\n");
    for release in releases {
        let time = release.millis.map_or_else(|| "–".to_owned(), |ms| format!("{}.{} s", ms / 1000, ms % 1000 / 100));
        text.push_str(&format!("| `{}` | {} | {time} |\n", release.release, release.result));
    }
    text
}

/// Finds the cluster named `name` in the repository.
pub fn find_cluster(repo: &Path, config: Option<&Path>, name: &str) -> Result<Cluster, Error> {
    find_cluster_and_settings(repo, config, name).map(|(cluster, _)| cluster)
}

/// Finds the cluster named `name` in the repository, with the settings it was found with.
pub fn find_cluster_and_settings(repo: &Path, config: Option<&Path>, name: &str) -> Result<(Cluster, Settings), Error> {
    let settings = load_settings(repo, config)?;
    let estate = load_estate(repo, &settings)?;
    let cluster = estate.clusters.into_iter().find(|c| c.name == name).ok_or_else(|| {
        Error::input(inputs::CLUSTER, format!("no cluster named `{name}` in {}", settings.cluster_glob))
    })?;
    Ok((cluster, settings))
}

/// The settings file's repository-relative name, for messages.
fn settings_file_name(config: Option<&Path>) -> String {
    config.map_or_else(|| crate::config::settings::DEFAULT_SETTINGS_FILE.to_owned(), |p| p.display().to_string())
}

/// The `before` steps of `targets` (none with [`BeforeMode::Skip`]): each chart's
/// `Chart.yaml` and each release's plain values files read through `root`.
fn resolve_before(
    root: &RepoRoot,
    request: &DeployRequest,
    settings: &Settings,
    cluster: &Cluster,
    targets: &[Target],
    options: &super::DeployOptions,
) -> Result<Vec<Step>, Error> {
    if request.before == BeforeMode::Skip {
        return Ok(Vec::new());
    }
    let refused = |refused: PathError| {
        Error::Config(vec![Diagnostic::new(
            &refused.path,
            format!("refusing to read this file: it {}", refused.problem),
        )
        .hint(refused.problem.hint())])
    };
    let dependencies = |chart: &str, chart_override: Option<&str>| -> Result<Vec<(String, String)>, Error> {
        let file = match chart_override {
            Some(file) => file.to_owned(),
            None => format!("{}/{chart}/Chart.yaml", options.charts_dir.trim_end_matches('/')),
        };
        let text = root.read_config_file(&file).map_err(refused)?;
        Ok(chart_dependencies(&text))
    };
    let values_key = |target: &Target, key: &[String]| -> Result<bool, Error> {
        let mut merged = yaml_serde::Value::Mapping(yaml_serde::Mapping::new());
        for file in super::values_files(cluster, target).iter().filter(|f| counts_for_values_key(f)) {
            let text = root.read_config_file(&file.path).map_err(refused)?;
            let not_yaml = |why: String| {
                Error::Config(vec![Diagnostic::new(&file.path, format!("not read as YAML values: {why}")).hint(
                    "a `when.values_key` condition of `deployer.yaml` reads the plain values files of the release",
                )])
            };
            match crate::config::yaml_guard::check(&text) {
                Ok(()) => {}
                Err(crate::config::yaml_guard::Refusal::Syntax { message, line, column }) => {
                    return Err(not_yaml(format!("{message} at line {line}, column {column}")));
                }
                // Anchors, aliases and deep nesting are not expanded here: the step runs (never less).
                Err(_) => return Ok(true),
            }
            let value: yaml_serde::Value = yaml_serde::from_str(&text).map_err(|e| not_yaml(e.to_string()))?;
            if !value.is_null() {
                merge_values(&mut merged, value);
            }
        }
        Ok(key_is_true(&merged, key))
    };
    let settings_file = settings_file_name(request.config.as_deref());
    let settings_text = root.read_config_file(&settings_file).ok();
    let facts = Facts {
        dependencies: &dependencies,
        values_key: &values_key,
        settings_file: &settings_file,
        settings_text: settings_text.as_deref(),
    };
    before_steps(cluster, targets, &settings.before, options, &facts)
}

/// Every `.jsonnet` file the targets render, rendered: (release, file, JSON), in helm's order.
/// `domain_of` gives what `{domain}` stands for for a hub (its `domain_override_file`'s `domain`
/// when it has one).
/// `root_of` gives another root to read a target's file from (a pinned chart's copy), if any.
fn render_jsonnet(
    root: &RepoRoot,
    cluster: &Cluster,
    targets: &[Target],
    settings: &Settings,
    domain_of: &mut dyn FnMut(&crate::config::Hub) -> Result<Option<String>, Error>,
    root_of: &dyn Fn(&Target, &str) -> Option<RepoRoot>,
) -> Result<Vec<(String, String, String)>, Error> {
    let mut rendered = Vec::new();
    for target in targets {
        let hub = match target {
            Target::Hub(name) => cluster.hubs.iter().find(|h| &h.name == name),
            Target::Support => None,
        };
        let files: Vec<&ValuesFile> = super::values_files(cluster, target)
            .iter()
            .filter(|f| crate::config::jsonnet::is_jsonnet(&f.path))
            .collect();
        if files.is_empty() {
            continue;
        }
        let mut placeholders = crate::config::jsonnet::Placeholders::of(cluster, hub);
        if let Some(hub) = hub {
            placeholders.domain = domain_of(hub)?;
        }
        let ext_vars = settings.jsonnet_ext_vars.values(&placeholders);
        for file in files {
            let out = match root_of(target, &file.path) {
                Some(pinned) => crate::config::jsonnet::render(&pinned, &file.path, &ext_vars)?,
                None => crate::config::jsonnet::render(root, &file.path, &ext_vars)?,
            };
            rendered.push((target.release().to_owned(), file.path.clone(), out.json));
        }
    }
    Ok(rendered)
}

/// Upgrades the request's targets, in order, stopping at the first failure: the chart override copies
/// and jsonnet values prepared, the commands planned, then either printed ([`dry_run_text`]) or run
/// (copies written, values rendered and decrypted into a private folder, then each step).
pub fn deploy(request: &DeployRequest, style: LogStyle) -> Result<DeployOutcome, Error> {
    let repo = &request.repo;
    let (mut cluster, settings) = find_cluster_and_settings(repo, request.config.as_deref(), &request.cluster)?;
    let targets = resolve_targets(&cluster, request.support, &request.hubs)?;
    let mut outcome = DeployOutcome {
        cluster: cluster.name.clone(),
        deployed: Vec::new(),
        targets: targets.iter().map(|t| t.release().to_owned()).collect(),
        dry_run: request.dry_run,
        releases: Vec::new(),
    };
    if targets.is_empty() {
        runner::print(&format!(
            "Nothing to deploy on cluster {}: no support chart and no hubs asked for.\n",
            cluster.name
        ));
        return Ok(outcome);
    }
    let root = RepoRoot::new(repo)?;
    let pinned =
        super::pinned::pinned_targets(&root, &settings, &cluster, &targets, request.options.rollouts.as_ref())?;
    let mut chart_deps = check_charts(&root, &cluster, &targets, &request.options)?;
    let mut copies = override_copies(&root, &cluster, &targets, &request.options)?;
    copies.extend(pin_copies(&root, &settings, &mut cluster, &pinned, &request.options)?);
    // Each copy (a chart override's, a pin's) goes to a private folder, removed when this function returns.
    let (copy_dirs, copy_paths) = place_chart_copies(&copies, request.dry_run, &mut chart_deps)?;
    let copy_of = |target: &Target| copies.iter().position(|c| &c.target == target).map(|i| copy_paths[i].clone());
    // A pinned chart's chart-level values files are read at the pin: helm gets the copy's.
    let copy_values = |target: &Target, file: &ValuesFile| {
        let index = copies.iter().position(|c| &c.target == target && c.values.iter().any(|(p, _)| p == &file.path))?;
        Some(match copy_dirs.get(index) {
            Some(dir) => dir.path().join(&file.path),
            None => Path::new(&copy_label(index, &copies)).join(&file.path),
        })
    };
    let dependency_folders = |chart: &str| chart_deps.folders.get(chart).cloned().unwrap_or_default();
    let only_before = request.before == BeforeMode::Only;
    let encrypted = if only_before { Vec::new() } else { encrypted_files(&cluster, &targets) };
    // Rendered before anything runs: a jsonnet error stops the deploy at its file and line.
    let (jsonnet, domain_notes) = if only_before {
        (Vec::new(), Vec::new())
    } else {
        render_jsonnet_values(&root, &cluster, &targets, &settings, request, &copies)?
    };

    let records = release_records(&root, request, &settings, &cluster, &targets, &chart_deps, &copy_of, &pinned);

    let mut options = request.options.clone();
    let helm_found = detect_helm();
    // Flags of the helm found (or of helm 4 when none answers, on a dry run).
    let mut before_options = options.clone();
    if let Ok(major) = &helm_found {
        before_options.helm = *major;
    }
    let before = resolve_before(&root, request, &settings, &cluster, &targets, &before_options)?;
    let commands = |options: &super::DeployOptions, given: &dyn Fn(&Target, &ValuesFile) -> PathBuf| {
        if only_before {
            before.clone()
        } else {
            plan_commands(&cluster, &targets, options, &dependency_folders, given, &before, &copy_of)
        }
    };
    if only_before {
        outcome.targets = Vec::new();
        if before.is_empty() {
            return Ok(outcome);
        }
    }
    if request.dry_run {
        let helm_note = match &helm_found {
            Ok(major) => {
                options.helm = *major;
                format!("# flags for helm {}, the helm on PATH\n", helm_number(*major))
            }
            Err(_) => format!(
                "# no helm on PATH answered `helm version`: flags shown for helm {}\n",
                helm_number(options.helm)
            ),
        };
        // Named as the real run names them (`<index>-<file name>`): two files of one name stay two.
        let placeholder = |file: &ValuesFile| {
            let index = encrypted.iter().position(|e| *e == file).unwrap_or(0);
            Path::new("<decrypted>").join(format!("{index}-{}", file.basename()))
        };
        let rendered_placeholder = |target: &Target, file: &str| {
            jsonnet
                .iter()
                .position(|(release, path, _)| release == target.release() && path == file)
                .map(|index| Path::new("<rendered>").join(jsonnet_name(index, file)))
        };
        let given = |target: &Target, file: &ValuesFile| match copy_values(target, file) {
            Some(copied) if !crate::config::jsonnet::is_jsonnet(&file.path) => copied,
            _ => super::given_path(file, || placeholder(file), || rendered_placeholder(target, &file.path)),
        };
        let steps = commands(&options, &given);
        let text = dry_run_text(&DryRun {
            cluster: &cluster.name,
            repo,
            helm_note,
            only_before,
            options: &options,
            encrypted: &encrypted,
            placeholder: &placeholder,
            copies: &copies,
            jsonnet: &jsonnet,
            domain_notes: &domain_notes,
            steps: &steps,
            health_check: request.health_check.as_ref(),
            records: &records,
        });
        runner::print_untrusted(&text)?;
        return Ok(outcome);
    }

    options.helm = helm_found?;
    write_chart_copies(&copies, &copy_dirs)?;
    // From here on, SIGTERM and SIGINT are recorded: the run stops helm,
    // removes the decrypted values and returns `Error::Interrupted`.
    stop::install()?;
    if only_before {
        runner::print(&format!("Before steps on cluster {}: {}\n", cluster.name, before.len()));
    } else {
        runner::print(&format!("Deploying to cluster {}: {}\n", cluster.name, outcome.targets.join(", ")));
    }
    // Removed when this function returns, on success and on every error path.
    let private = if encrypted.is_empty() && jsonnet.is_empty() { None } else { Some(PrivateDir::create()?) };
    let rendered_paths = match &private {
        Some(private) => write_rendered_jsonnet(private, &jsonnet)?,
        None => Vec::new(),
    };
    let rendered_path = |target: &Target, file: &str| {
        rendered_paths
            .iter()
            .find(|(release, path, _)| release == target.release() && path == file)
            .map(|(_, _, path)| path.clone())
    };
    let decrypted = match &private {
        Some(private) => decrypt_values(private, &encrypted, &root, request, &cluster.name, &outcome.targets)?,
        None => HashMap::new(),
    };
    // Every encrypted file of the targets was decrypted above; never fall
    // back to handing helm the encrypted file.
    let decrypted_path = |file: &ValuesFile| decrypted.get(file.path.as_str()).cloned().unwrap_or_default();
    let given = |target: &Target, file: &ValuesFile| match copy_values(target, file) {
        Some(copied) if !crate::config::jsonnet::is_jsonnet(&file.path) => copied,
        _ => super::given_path(file, || decrypted_path(file), || rendered_path(target, &file.path)),
    };
    let steps = commands(&options, &given);
    let release_line = ReleaseLines::new(&root, &cluster);
    let run = StepRun {
        request,
        root: &root,
        cluster: &cluster,
        targets: &targets,
        options: &options,
        style,
        decrypted: private.is_some(),
        only_before,
        release_line: &release_line,
        records: &records,
    };

    run.upgrade_in_order(&steps, &chart_deps, &mut outcome)?;
    drop(private);
    runner::print(&format!("Upgraded on cluster {}: {}\n", cluster.name, outcome.deployed.join(", ")));
    Ok(outcome)
}

/// With deployment records (and upgrades, not `before` steps alone): each target's record, its chart's digest
/// that of the folder (or copy) helm deploys; its wave and chart commit the pin it is deployed at
/// (`pinned`), else the item's or the state file's (the head of its wave).
#[allow(clippy::too_many_arguments)]
fn release_records(
    root: &RepoRoot,
    request: &DeployRequest,
    settings: &Settings,
    cluster: &Cluster,
    targets: &[Target],
    chart_deps: &ChartDeps,
    copy_of: &dyn Fn(&Target) -> Option<String>,
    pinned: &[(String, crate::tools::git_tree::PinnedAt)],
) -> Vec<(Target, ReleaseRecord)> {
    if !request.records.enabled() || request.before == BeforeMode::Only {
        return Vec::new();
    }
    let mut pins = None;
    let mut read_pins = || pins.get_or_insert_with(|| super::records::read_pins(root, settings)).clone();
    targets
        .iter()
        .map(|target| {
            let chart = copy_of(target).unwrap_or_else(|| super::chart_path(cluster, target, &request.options));
            let digest = chart_deps
                .digests
                .get(&chart)
                .cloned()
                .unwrap_or_else(|| ring::digest::digest(&ring::digest::SHA256, b"").as_ref().to_vec());
            let release = target.release();
            let rollout = match pinned.iter().find(|(hub, _)| hub == release) {
                Some((_, at)) => Some(JobRollout { wave: at.wave.clone(), chart_commit: at.commit.clone() }),
                None => super::records::release_rollout(&request.records, settings, cluster, release, &mut read_pins),
            };
            (target.clone(), super::records::record_of(settings, cluster, release, &digest, rollout))
        })
        .collect()
}

/// How a dry run names the `index`th private copy of a chart: `<chart-override-copy-1>` for a
/// chart override's, `<copy 1>` for a pin's.
fn copy_label(index: usize, copies: &[ChartCopy]) -> String {
    match copies.get(index).map(|copy| &copy.source) {
        Some(CopySource::Pin(_)) => format!("<copy {}>", index + 1),
        _ => format!("<chart-override-copy-{}>", index + 1),
    }
}

/// The file a rendered jsonnet values file is written to in the private folder.
fn jsonnet_name(index: usize, file: &str) -> String {
    format!("jsonnet-{index}-{}.json", file.rsplit('/').next().unwrap_or(file).trim_end_matches(".jsonnet"))
}

/// The private folder of each chart override's copy (none on a dry run) and the copy's chart path (its label on
/// a dry run). A copy fetches its dependencies in place (the copy holds the folders it needs), with a private
/// helm home as the repository's charts do: its dependency folders are added to `chart_deps`.
fn place_chart_copies(
    copies: &[ChartCopy],
    dry_run: bool,
    chart_deps: &mut ChartDeps,
) -> Result<(Vec<PrivateDir>, Vec<String>), Error> {
    let copy_dirs: Vec<PrivateDir> = if dry_run {
        Vec::new()
    } else {
        copies.iter().map(|_| PrivateDir::create_named("deployer-chart")).collect::<Result<_, _>>()?
    };
    let copy_paths: Vec<String> = copies
        .iter()
        .enumerate()
        .map(|(index, copy)| match copy_dirs.get(index) {
            Some(dir) => dir.path().join(&copy.chart).to_string_lossy().into_owned(),
            None => format!("{}/{}", copy_label(index, copies), copy.chart),
        })
        .collect();
    let copy_root = |index: usize| match copy_dirs.get(index) {
        Some(dir) => dir.path().to_string_lossy().into_owned(),
        None => copy_label(index, copies),
    };
    for (index, copy) in copies.iter().enumerate() {
        let root_path = copy_root(index);
        let mut listed = Vec::new();
        for (folder, remotes, has_lock) in &copy.dependency_folders {
            let path = format!("{root_path}/{folder}");
            chart_deps.fetch.entry(path.clone()).or_insert(FolderFetch {
                remotes: remotes.clone(),
                has_lock: *has_lock,
                key: (PathBuf::from(&path), copy.digest.clone()),
            });
            listed.push(path);
        }
        chart_deps.folders.insert(copy_paths[index].clone(), listed);
        chart_deps.digests.insert(copy_paths[index].clone(), copy.digest.clone());
    }
    Ok((copy_dirs, copy_paths))
}

/// A jsonnet values file rendered for a release: (release, repository path of the file, JSON).
type RenderedJsonnet = (String, String, String);

/// The targets' jsonnet values files rendered ([`render_jsonnet`]), and what a dry run notes about `{domain}`:
/// a hub's `domain_override_file` is decrypted for `{domain}` on a real run only.
fn render_jsonnet_values(
    root: &RepoRoot,
    cluster: &Cluster,
    targets: &[Target],
    settings: &Settings,
    request: &DeployRequest,
    copies: &[ChartCopy],
) -> Result<(Vec<RenderedJsonnet>, Vec<String>), Error> {
    // A pinned chart's `values.jsonnet` is rendered in a private folder holding the copy (the chart's
    // folders and values files at the pin, at their repository paths): it imports from there.
    let mut pinned_roots: Vec<(Target, RepoRoot, PrivateDir)> = Vec::new();
    for copy in copies {
        if !matches!(copy.source, CopySource::Pin(_))
            || !copy.values.iter().any(|(path, _)| crate::config::jsonnet::is_jsonnet(path))
        {
            continue;
        }
        let dir = PrivateDir::create_named("deployer-pin")?;
        write_copy(copy, dir.path())?;
        pinned_roots.push((copy.target.clone(), RepoRoot::new(dir.path())?, dir));
    }
    let root_of = |target: &Target, file: &str| {
        let copy = copies.iter().find(|c| &c.target == target && c.values.iter().any(|(p, _)| p == file))?;
        pinned_roots.iter().find(|(t, _, _)| *t == copy.target).map(|(_, root, _)| root.clone())
    };
    let mut domain_notes: Vec<String> = Vec::new();
    let uses_domain = settings.jsonnet_ext_vars.uses("domain");
    let mut domain_of = |hub: &crate::config::Hub| -> Result<Option<String>, Error> {
        match &hub.domain_override_file {
            Some(file) if uses_domain => {
                if request.dry_run {
                    domain_notes.push(format!(
                        "# {}: {{domain}} would be read from {file} (domain_override_file), not decrypted in a dry run; \
                         shown with the domain of cluster.yaml\n",
                        hub.name
                    ));
                    Ok(hub.domain.clone())
                } else {
                    override_domain(root, file, &request.env).map(Some)
                }
            }
            _ => Ok(hub.domain.clone()),
        }
    };
    let jsonnet = render_jsonnet(root, cluster, targets, settings, &mut domain_of, &root_of)?;
    Ok((jsonnet, domain_notes))
}

/// What a dry run prints besides its commands, and the commands.
struct DryRun<'a> {
    cluster: &'a str,
    repo: &'a Path,
    helm_note: String,
    only_before: bool,
    options: &'a super::DeployOptions,
    encrypted: &'a [&'a ValuesFile],
    /// Where the real run would decrypt an encrypted file to.
    placeholder: &'a dyn Fn(&ValuesFile) -> PathBuf,
    copies: &'a [ChartCopy],
    jsonnet: &'a [RenderedJsonnet],
    domain_notes: &'a [String],
    steps: &'a [Step],
    health_check: Option<&'a HealthCheck>,
    /// With deployment records: each release's record.
    records: &'a [(Target, ReleaseRecord)],
}

/// The dry run's text: what would be prepared (copies, rendered and decrypted files), then every command.
fn dry_run_text(dry: &DryRun<'_>) -> String {
    let options = dry.options;
    let mut text = format!(
        "Dry run on cluster {}: these commands would run in {} (nothing is decrypted, nothing is run).\n",
        dry.cluster,
        dry.repo.display()
    );
    text.push_str(&dry.helm_note);
    if !dry.only_before {
        text.push_str(&format!(
            "# before each upgrade: `helm history` finds a release left pending-*; pending-release: {}\n",
            match options.pending {
                super::PendingRelease::Rollback => "rollback rolls it back first (uninstalls a lone pending-install)",
                super::PendingRelease::Fail => "fail stops the deploy there",
            }
        ));
    }
    if !dry.encrypted.is_empty() {
        text.push_str("# <decrypted>: a private temporary folder, removed afterwards\n");
    }
    for (index, copy) in dry.copies.iter().enumerate() {
        let folders = copy.folders.iter().map(|(folder, _)| folder.as_str()).collect::<Vec<_>>().join(", ");
        match &copy.source {
            CopySource::Override { replaces, file } => text.push_str(&format!(
                "# {}: a private copy of {folders} with {}/Chart.yaml replaced by {file} (chart_override of {})\n",
                copy_label(index, dry.copies),
                chart_folder(replaces),
                copy.target.release()
            )),
            CopySource::Pin(at) => text.push_str(&format!(
                "# {}: {} at {} (the pin of wave {}) for {}: a private copy of {folders}{} read from git at {}\n",
                copy_label(index, dry.copies),
                copy.chart,
                at.short(),
                at.wave,
                copy.target.release(),
                if copy.values.is_empty() {
                    String::new()
                } else {
                    format!(
                        " and of the chart's values files {}",
                        copy.values.iter().map(|(path, _)| path.as_str()).collect::<Vec<_>>().join(", ")
                    )
                },
                at.commit
            )),
        }
    }
    if !dry.jsonnet.is_empty() {
        text.push_str("# <rendered>: JSON rendered from jsonnet in-process, in the same private folder\n");
    }
    for (release, file, json) in dry.jsonnet {
        text.push_str(&format!("# {release}: {file} rendered (jsonnet) to {} bytes of JSON\n", json.len()));
    }
    for note in dry.domain_notes {
        text.push_str(note);
    }
    for file in dry.encrypted {
        let to = (dry.placeholder)(file);
        text.push_str(&format!(
            "sops --decrypt {} > {}\n",
            shell_quote(&file.path),
            shell_quote(&to.to_string_lossy())
        ));
    }
    for step in dry.steps {
        text.push_str(&step.command_line());
        text.push('\n');
        if step.kind == StepKind::Upgrade && options.wait == super::Wait::Rollout {
            text.push_str(&format!(
                "# rollout: watch the Deployments and DaemonSets of {} (kubectl get -o json) until rolled out, \
                 up to {}; fail at once when one cannot progress{}\n",
                step.target.release(),
                options.timeout,
                if options.atomic { "; atomic: then helm rollback to the previous revision" } else { "" }
            ));
        }
        if let Some((_, record)) =
            dry.records.iter().find(|(target, _)| step.kind == StepKind::Upgrade && *target == step.target)
        {
            text.push_str(&super::records::dry_run_line(record));
        }
        if let (StepKind::Upgrade, Target::Hub(_), Some(check)) = (&step.kind, &step.target, dry.health_check) {
            text.push_str(&format!(
                "sh -c {}  # health check: up to {} attempts, {} s each, {} s apart\n",
                shell_quote(&check.command),
                u64::from(check.retries) + 1,
                check.timeout.as_secs(),
                check.delay.as_secs()
            ));
        }
    }
    text
}

/// Writes each chart override's copy into its private folder, and says so.
fn write_chart_copies(copies: &[ChartCopy], copy_dirs: &[PrivateDir]) -> Result<(), Error> {
    for (copy, dir) in copies.iter().zip(copy_dirs) {
        write_copy(copy, dir.path())?;
        match &copy.source {
            CopySource::Override { replaces, file } => runner::print(&format!(
                "Hub {}: chart {} with {}/Chart.yaml replaced by {file} (chart_override), from a private copy\n",
                copy.target.release(),
                copy.chart,
                chart_folder(replaces),
            )),
            CopySource::Pin(at) => runner::print(&format!(
                "Hub {}: chart {} at {}, the pin of wave {}, from a private copy\n",
                copy.target.release(),
                copy.chart,
                at.short(),
                at.wave
            )),
        }
    }
    Ok(())
}

/// Writes a copy's folders and values files under `to`, at their repository paths.
fn write_copy(copy: &ChartCopy, to: &Path) -> Result<(), Error> {
    let files = copy
        .folders
        .iter()
        .flat_map(|(folder, files)| files.iter().map(move |(path, bytes)| (format!("{folder}/{path}"), bytes)))
        .chain(copy.values.iter().map(|(path, bytes)| (path.clone(), bytes)));
    for (path, bytes) in files {
        let to = to.join(path);
        if let Some(parent) = to.parent() {
            fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
        }
        fs::write(&to, bytes).map_err(|e| Error::io(&to, e))?;
    }
    Ok(())
}

/// Writes the rendered jsonnet values into the private folder: (release, file, path written).
fn write_rendered_jsonnet(
    private: &PrivateDir,
    jsonnet: &[RenderedJsonnet],
) -> Result<Vec<(String, String, PathBuf)>, Error> {
    let mut rendered_paths = Vec::new();
    for (index, (release, file, json)) in jsonnet.iter().enumerate() {
        let path = private.write(&jsonnet_name(index, file), json.as_bytes())?;
        runner::print(&format!("Rendered {file} (jsonnet) for {release}\n"));
        rendered_paths.push((release.clone(), file.clone(), path));
    }
    Ok(rendered_paths)
}

/// Decrypts each encrypted values file with sops into the private folder, its values masked before anything
/// else sees them: the file's repository path → the decrypted file. A stop signal ends it before helm ran.
fn decrypt_values<'f>(
    private: &PrivateDir,
    encrypted: &[&'f ValuesFile],
    root: &RepoRoot,
    request: &DeployRequest,
    cluster: &str,
    targets: &[String],
) -> Result<HashMap<&'f str, PathBuf>, Error> {
    let mut decrypted: HashMap<&str, PathBuf> = HashMap::new();
    for (index, file) in encrypted.iter().copied().enumerate() {
        let path = root.file(&file.path).map_err(|refused| Error::Config(vec![refused.file_diagnostic()]))?;
        let plaintext = crate::tools::sops::decrypt_with(&path, &request.env)?;
        // Masked before any program sees the file or prints anything from it.
        for secret in crate::tools::sops::values_to_mask(&plaintext) {
            runner::add_mask(&secret);
        }
        let path = private.write(&format!("{index}-{}", file.basename()), &plaintext)?;
        runner::print(&format!("Decrypted {} with sops into a private temporary folder\n", file.path));
        decrypted.insert(file.path.as_str(), path);
        if let Some(signal) = stop::received() {
            return Err(interrupted(signal, cluster, true, "before helm ran", targets));
        }
    }
    Ok(decrypted)
}

/// What every step of a real run needs to run, and to say how it ended.
struct StepRun<'a> {
    request: &'a DeployRequest,
    root: &'a RepoRoot,
    cluster: &'a Cluster,
    targets: &'a [Target],
    options: &'a super::DeployOptions,
    style: LogStyle,
    /// Values were decrypted (or rendered) into the private folder.
    decrypted: bool,
    only_before: bool,
    release_line: &'a ReleaseLines,
    /// With deployment records: each release's record.
    records: &'a [(Target, ReleaseRecord)],
}

impl StepRun<'_> {
    /// Runs `steps` in order (dependency builds, `before` steps, upgrades with their rollout watch and health
    /// check), noting each release in `outcome`; the first failure or stop signal ends the run.
    fn upgrade_in_order(
        &self,
        steps: &[Step],
        chart_deps: &ChartDeps,
        outcome: &mut DeployOutcome,
    ) -> Result<(), Error> {
        for step in steps {
            if let Some(signal) = stop::received() {
                return Err(self.interrupted(signal, &format!("before `{}`", step.title()), step, false));
            }
            let recorded = self.record_started(step);
            let result = self.run_step(step, chart_deps, outcome);
            self.record_finished(recorded, &result);
            result?;
        }
        Ok(())
    }

    /// The release's record started (deployment and `in_progress`) before an upgrade step, when recorded.
    fn record_started(&self, step: &Step) -> Option<(u64, &ReleaseRecord)> {
        if step.kind != StepKind::Upgrade {
            return None;
        }
        let recorder = self.request.records.recorder.as_ref()?;
        let (_, record) = self.records.iter().find(|(target, _)| *target == step.target)?;
        recorder.started(record).map(|handle| (handle, record))
    }

    /// The release's record finished: success, or failure with a short reason.
    fn record_finished(&self, recorded: Option<(u64, &ReleaseRecord)>, result: &Result<(), Error>) {
        let (Some((handle, record)), Some(recorder)) = (recorded, self.request.records.recorder.as_ref()) else {
            return;
        };
        let ended = match result {
            Ok(()) => RecordEnded::Success,
            Err(Error::Interrupted { .. }) => RecordEnded::Failure("stopped by a signal"),
            Err(Error::ReleaseFailed { program, .. }) if program == "rollout" => RecordEnded::Failure("rollout failed"),
            Err(Error::ReleaseFailed { .. }) => RecordEnded::Failure("helm upgrade failed"),
            Err(Error::Command { program, .. }) if program == "health check" => {
                RecordEnded::Failure("health check failed")
            }
            Err(_) => RecordEnded::Failure("deploy failed"),
        };
        recorder.finished(handle, record, ended);
    }

    /// One step (a dependency build, a `before` step, or an upgrade with its rollout watch and health check).
    fn run_step(&self, step: &Step, chart_deps: &ChartDeps, outcome: &mut DeployOutcome) -> Result<(), Error> {
        let started = Instant::now();
        // The revision a failed upgrade goes back to with `atomic` and `wait: rollout`.
        let mut good_revision = None;
        if step.kind == StepKind::Upgrade {
            good_revision = self.prepare_upgrade(step)?;
        }
        let fetch = match &step.kind {
            StepKind::DependencyBuild { chart } => chart_deps.fetch.get(chart),
            _ => None,
        };
        let ran = match fetch {
            Some(fetch) => match fetch_dependencies(step, fetch, self.request, self.style)? {
                Some(ran) => ran,
                None => return Ok(()),
            },
            None => self.run_command(step)?,
        };
        let seconds = started.elapsed().as_secs_f64();
        if step.kind == StepKind::Upgrade {
            let how = if ran.succeeded() { "done, helm exited 0".to_owned() } else { ran.ended_text() };
            runner::print(&format!("helm upgrade {}: {how}, after {seconds:.1} s\n", step.target.release()));
        }
        if let Ended::Stopped(signal) = ran.ended {
            return Err(self.interrupted(signal, &format!("`{}` was stopped", step.title()), step, false));
        }
        if !ran.succeeded() {
            return Err(self.failed(step, &ran, fetch, good_revision, started, outcome));
        }
        if step.kind != StepKind::Upgrade {
            return Ok(());
        }
        if self.options.wait == super::Wait::Rollout {
            self.watch_rollout(step, good_revision, started, outcome)?;
        }
        self.check_health(step)?;
        outcome.deployed.push(step.target.release().to_owned());
        outcome.releases.push(ReleaseResult {
            release: step.target.release().to_owned(),
            result: "upgraded",
            millis: Some(started.elapsed().as_millis()),
        });
        Ok(())
    }

    /// The run stopped by `signal` at `step` (`when`), with the releases not run.
    fn interrupted(&self, signal: i32, when: &str, step: &Step, upgraded: bool) -> Error {
        let not_run = remaining(self.targets, step, upgraded);
        interrupted(signal, &self.cluster.name, self.decrypted, when, &not_run)
    }

    /// Before an upgrade: the release's history read ([`prepare_release`]) and the upgrade announced.
    /// Returns the revision a failed upgrade goes back to.
    fn prepare_upgrade(&self, step: &Step) -> Result<Option<u64>, Error> {
        let good_revision =
            match prepare_release(step.target.release(), &self.cluster.name, self.request, self.options, self.style)? {
                Prepared::Ready(good) => good,
                Prepared::Stopped(signal) => {
                    let when = format!("while reading the history of {}", step.target.release());
                    return Err(self.interrupted(signal, &when, step, false));
                }
            };
        let files = super::values_files(self.cluster, &step.target);
        let decrypted = files.iter().filter(|f| crate::tools::sops::is_encrypted(&f.path)).count();
        runner::print(&format!(
            "helm upgrade {} {} ({} values file{}, {decrypted} decrypted)\n",
            step.target.release(),
            super::chart_path(self.cluster, &step.target, self.options),
            files.len(),
            if files.len() == 1 { "" } else { "s" },
        ));
        Ok(good_revision)
    }

    /// Runs a step's command in the repository, its output streamed into the log.
    fn run_command(&self, step: &Step) -> Result<Ran, Error> {
        let mut argv = step.argv.clone();
        if let StepKind::Before { local_file: Some(file), .. } = &step.kind {
            // A repository file goes to kubectl only once `repo_fs` has resolved it inside the checkout.
            let path = self.root.file(file).map_err(|refused| Error::Config(vec![refused.file_diagnostic()]))?;
            if let Some(last) = argv.last_mut() {
                *last = path.to_string_lossy().into_owned();
            }
        }
        runner_group(self.style, &step.title());
        runner::print_untrusted(&format!("$ {}\n", step.command_line()))?;
        let mut command = Command::new(&argv[0]);
        command.args(&argv[1..]).current_dir(&self.request.repo).envs(self.request.env.iter().map(|(k, v)| (k, v)));
        let result = stream(command, None, self.style);
        runner_end_group(self.style);
        result
    }

    /// The error of a step that failed, its release and the later ones noted in `outcome` (rolled back first
    /// with `atomic` and `wait: rollout`).
    fn failed(
        &self,
        step: &Step,
        ran: &Ran,
        fetch: Option<&FolderFetch>,
        good_revision: Option<u64>,
        started: Instant,
        outcome: &mut DeployOutcome,
    ) -> Error {
        // A failed `before` step upgraded nothing: its release is among those not run.
        let before_step = matches!(step.kind, StepKind::Before { .. });
        outcome.releases.extend((!before_step).then(|| ReleaseResult {
            release: step.target.release().to_owned(),
            result: "failed",
            millis: Some(started.elapsed().as_millis()),
        }));
        let not_run = if self.only_before { Vec::new() } else { remaining(self.targets, step, true) };
        outcome.releases.extend(not_run.iter().map(|release| ReleaseResult {
            release: release.clone(),
            result: "not run",
            millis: None,
        }));
        let mut message = format!("`{}` on cluster {} {}", step.title(), self.cluster.name, ran.ended_text());
        if step.kind == StepKind::Upgrade && self.options.atomic && self.options.wait == super::Wait::Rollout {
            message.push_str(&roll_back(step.target.release(), good_revision, self.request, self.style));
        }
        if let (StepKind::DependencyBuild { chart }, Some(fetch)) =
            (&step.kind, fetch.filter(|f| !f.remotes.is_empty()))
        {
            let named = crate::tools::chart_deps::failure_message(chart, &fetch.remotes, &ran.tail.join("\n"));
            let why = named.split(" failed: ").next().unwrap_or_default().to_owned();
            message = format!("{why} failed: {message}");
        }
        let (file, line) = self.release_line.of(&step.target);
        Error::ReleaseFailed {
            program: step.argv.first().cloned().unwrap_or_default(),
            message: with_remaining(message, &not_run) + &ran.tail_text(),
            file,
            line,
            summary: releases_table(&outcome.releases),
        }
    }

    /// With `wait: rollout`, after an upgrade: its Deployments and DaemonSets watched until rolled out; a failed
    /// rollout is noted in `outcome` with the releases not run (and rolled back with `atomic`).
    fn watch_rollout(
        &self,
        step: &Step,
        good_revision: Option<u64>,
        started: Instant,
        outcome: &mut DeployOutcome,
    ) -> Result<(), Error> {
        let release = step.target.release();
        let timeout = super::rollout::parse_duration(&self.options.timeout).unwrap_or(Duration::from_secs(600));
        let Err(failure) = super::rollout::watch(release, release, timeout, &self.request.repo, &self.request.env)
        else {
            return Ok(());
        };
        if let super::rollout::Failure::Stopped(signal) = failure {
            let what = format!(
                "while watching the rollout of {release}; helm had finished, so the release is not left pending"
            );
            return Err(self.interrupted(signal, &what, step, true));
        }
        outcome.releases.push(ReleaseResult {
            release: release.to_owned(),
            result: "rollout failed",
            millis: Some(started.elapsed().as_millis()),
        });
        let not_run = remaining(self.targets, step, true);
        outcome.releases.extend(not_run.iter().map(|release| ReleaseResult {
            release: release.clone(),
            result: "not run",
            millis: None,
        }));
        let mut message = format!("`{}` on cluster {}: {}", step.title(), self.cluster.name, failure.text());
        if self.options.atomic {
            message.push_str(&roll_back(release, good_revision, self.request, self.style));
        }
        let (file, line) = self.release_line.of(&step.target);
        Err(Error::ReleaseFailed {
            program: "rollout".into(),
            message: with_remaining(message, &not_run),
            file,
            line,
            summary: releases_table(&outcome.releases),
        })
    }

    /// After a hub's upgrade, with a health check: the check run ([`health_check`]).
    fn check_health(&self, step: &Step) -> Result<(), Error> {
        let (Target::Hub(hub), Some(check)) = (&step.target, &self.request.health_check) else {
            return Ok(());
        };
        let repo = &self.request.repo;
        if let Err(failure) = health_check(check, repo, &self.request.env, &self.cluster.name, hub, self.style) {
            if let Some(signal) = stop::received() {
                let what = format!("the health check of {hub} was stopped");
                return Err(self.interrupted(signal, &what, step, true));
            }
            let message = format!("`{}` for hub {hub} on cluster {} {}", check.command, self.cluster.name, failure.0);
            return Err(Error::Command {
                program: "health check".into(),
                message: with_remaining(message, &remaining(self.targets, step, true)) + &failure.1,
            });
        }
        Ok(())
    }
}

/// What a health-check run ([`check_hubs`]) did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckOutcome {
    pub cluster: String,
    /// The hubs asked for, in order.
    pub hubs: Vec<String>,
    pub dry_run: bool,
    /// How each hub's check went, in order (empty on a dry run): `healthy`, `health check failed`.
    pub releases: Vec<ReleaseResult>,
}

impl CheckOutcome {
    /// A few lines of Markdown for the step summary.
    pub fn summary(&self) -> String {
        let list = self.hubs.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ");
        if self.hubs.is_empty() {
            format!("No hub to health-check on `{}`.\n", self.cluster)
        } else if self.dry_run {
            format!("Dry run on `{}`: would health-check {list}.\n", self.cluster)
        } else {
            format!("Health checks on `{}`: {list} healthy.\n{}", self.cluster, releases_table(&self.releases))
        }
    }
}

/// Runs the health check of each hub of the request, in order, and nothing
/// else: no helm, no sops, nothing decrypted (the `mode: health-check` of
/// `actions/deploy`, `deployer health-check`). The check gets the
/// request's `env` (a leg's `KUBECONFIG`) as after an upgrade. A failing hub
/// does not stop the others: checks change nothing, so every hub is
/// reported. Any failure is an error naming the failed hubs, with the end of
/// each one's output, annotated on the first one's entry in `cluster.yaml`.
pub fn check_hubs(request: &DeployRequest, style: LogStyle) -> Result<CheckOutcome, Error> {
    if request.support {
        return Err(Error::input(
            inputs::SUPPORT,
            "must be `false` with `mode: health-check`: a health check runs no helm, it checks hubs",
        ));
    }
    let repo = &request.repo;
    let cluster = find_cluster(repo, request.config.as_deref(), &request.cluster)?;
    let targets = resolve_targets(&cluster, false, &request.hubs)?;
    let check = request.health_check.as_ref().ok_or_else(|| {
        Error::input(
            inputs::HEALTH_CHECK,
            "is required with `mode: health-check`: the shell command that checks a hub (`sh -c`, with \
             CLUSTER_NAME and HUB_NAME set)",
        )
    })?;
    let hubs: Vec<String> = targets.iter().map(|t| t.release().to_owned()).collect();
    let mut outcome = CheckOutcome {
        cluster: cluster.name.clone(),
        hubs: hubs.clone(),
        dry_run: request.dry_run,
        releases: Vec::new(),
    };
    if hubs.is_empty() {
        runner::print(&format!("Nothing to health-check on cluster {}: no hubs asked for.\n", cluster.name));
        return Ok(outcome);
    }
    let attempts = u64::from(check.retries) + 1;
    if request.dry_run {
        let mut text = format!(
            "Dry run on cluster {}: these health checks would run in {} (helm is not run, nothing is decrypted).\n",
            cluster.name,
            repo.display()
        );
        for hub in &hubs {
            text.push_str(&format!(
                "CLUSTER_NAME={} HUB_NAME={} sh -c {}  # health check: up to {attempts} attempts, {} s each, {} s apart\n",
                shell_quote(&cluster.name),
                shell_quote(hub),
                shell_quote(&check.command),
                check.timeout.as_secs(),
                check.delay.as_secs()
            ));
        }
        runner::print_untrusted(&text)?;
        return Ok(outcome);
    }

    // SIGTERM and SIGINT stop the running check and the run.
    stop::install()?;
    runner::print(&format!("Health-checking on cluster {} (helm is not run): {}\n", cluster.name, hubs.join(", ")));
    let mut failures: Vec<(&str, HealthCheckFailure)> = Vec::new();
    for (index, hub) in hubs.iter().enumerate() {
        let started = Instant::now();
        let result = match stop::received() {
            Some(_) => Err(HealthCheckFailure("was stopped".into(), String::new())),
            None => health_check(check, repo, &request.env, &cluster.name, hub, style),
        };
        if let Some(signal) = stop::received() {
            let mut message = format!("the health checks on cluster {} were stopped (at {hub})", cluster.name);
            message.push_str(&format!("; not checked: {}", hubs[index..].join(", ")));
            return Err(Error::Interrupted { signal, message });
        }
        let millis = Some(started.elapsed().as_millis());
        match result {
            Ok(()) => outcome.releases.push(ReleaseResult { release: hub.clone(), result: "healthy", millis }),
            Err(failure) => {
                outcome.releases.push(ReleaseResult { release: hub.clone(), result: "health check failed", millis });
                failures.push((hub, failure));
            }
        }
    }
    if failures.is_empty() {
        runner::print(&format!("Healthy on cluster {}: {}\n", cluster.name, hubs.join(", ")));
        return Ok(outcome);
    }
    let failed: Vec<&str> = failures.iter().map(|(hub, _)| *hub).collect();
    let message = match failures.as_slice() {
        [(hub, failure)] => {
            format!("`{}` for hub {hub} on cluster {} {}{}", check.command, cluster.name, failure.0, failure.1)
        }
        _ => {
            let mut text = format!(
                "`{}` failed for {} of {} hubs on cluster {}: {}",
                check.command,
                failures.len(),
                hubs.len(),
                cluster.name,
                failed.join(", ")
            );
            for (hub, failure) in &failures {
                text.push_str(&format!("\nhub {hub}: {}{}", failure.0, failure.1));
            }
            text
        }
    };
    let root = RepoRoot::new(repo)?;
    let (file, line) = ReleaseLines::new(&root, &cluster).of(&Target::Hub(failed[0].to_owned()));
    Err(Error::ReleaseFailed {
        program: "health check".into(),
        message,
        file,
        line,
        summary: releases_table(&outcome.releases),
    })
}

/// The `domain` held by a hub's `domain_override_file` (sops-decrypted when `enc-*`), as the Python
/// deployer reads it for `{domain}`. Its values are masked before anything prints.
fn override_domain(root: &RepoRoot, file: &str, env: &[(String, String)]) -> Result<String, Error> {
    let path = root.file(file).map_err(|refused| Error::Config(vec![refused.file_diagnostic()]))?;
    let text = if crate::tools::sops::is_encrypted(file) {
        let plaintext = crate::tools::sops::decrypt_with(&path, env)?;
        for secret in crate::tools::sops::values_to_mask(&plaintext) {
            runner::add_mask(&secret);
        }
        String::from_utf8(plaintext).map_err(|_| {
            Error::Config(vec![Diagnostic::new(file, "the decrypted file is not UTF-8 text".to_owned())])
        })?
    } else {
        root.read_config_file(file).map_err(|refused| Error::Config(vec![refused.file_diagnostic()]))?
    };
    let problem = |message: &str| {
        Error::Config(vec![Diagnostic::new(file, message.to_owned())
            .hint("a domain_override_file holds a mapping with a string `domain`, such as `domain: hub.example.org`")])
    };
    if crate::config::yaml_guard::check(&text).is_err() {
        return Err(problem("not read as YAML (syntax, anchors or deep nesting)"));
    }
    let value: yaml_serde::Value = yaml_serde::from_str(&text).map_err(|_| problem("not read as YAML"))?;
    match value.get("domain") {
        Some(yaml_serde::Value::String(domain)) if !domain.trim().is_empty() => Ok(domain.clone()),
        Some(_) => Err(problem("`domain` is not a non-empty string")),
        None => Err(problem("no `domain` key")),
    }
}

/// The major version of the helm on PATH, from `helm version`.
fn detect_helm() -> Result<super::HelmMajor, Error> {
    let output =
        Command::new("helm").args(["version", "--template", "{{.Version}}"]).output().map_err(|e| Error::Command {
            program: "helm".into(),
            message: format!("cannot run `helm version` ({e}); is helm installed and on PATH?"),
        })?;
    if !output.status.success() {
        return Err(Error::Command { program: "helm".into(), message: format!("`helm version` {}", output.status) });
    }
    super::HelmMajor::parse(&String::from_utf8_lossy(&output.stdout))
}

fn helm_number(major: super::HelmMajor) -> u8 {
    match major {
        super::HelmMajor::V3 => 3,
        super::HelmMajor::V4 => 4,
    }
}

/// Where `cluster.yaml` lists each release, for the annotation of a failure:
/// a hub's entry under `hubs:`, the support chart's `support:` key.
struct ReleaseLines {
    file: String,
    text: Option<String>,
    hubs: Vec<String>,
}

impl ReleaseLines {
    fn new(root: &RepoRoot, cluster: &Cluster) -> Self {
        ReleaseLines {
            file: cluster.file.clone(),
            text: root.read_config_file(&cluster.file).ok(),
            hubs: cluster.hubs.iter().map(|h| h.name.clone()).collect(),
        }
    }

    fn of(&self, target: &Target) -> (String, Option<usize>) {
        use crate::config::locate::{locate, Segment};
        let line = self.text.as_deref().and_then(|text| match target {
            Target::Support => locate(text, &[Segment::Key("support")]),
            Target::Hub(name) => {
                let index = self.hubs.iter().position(|h| h == name)?;
                locate(text, &[Segment::Key("hubs"), Segment::Index(index)])
            }
        });
        (self.file.clone(), line.map(|(line, _)| line))
    }
}

/// A hub's chart deployed from a private copy, written to a private folder before helm runs: with
/// its `chart_override` (the folders it is built from, read whole, with the override's text as the
/// `Chart.yaml` it replaces), or at its rollout wave's pin (the folders read at that commit).
struct ChartCopy {
    target: Target,
    /// Repository-relative chart folder of the hub (`helm-charts/basehub`), also its path in the copy.
    chart: String,
    source: CopySource,
    folders: Vec<(String, crate::base::repo_fs::Tree)>,
    /// Chart-level values files read at a pin (repository path, bytes), written into the copy at
    /// their paths: helm gets these, not the head's.
    values: Vec<(String, Vec<u8>)>,
    /// Folders of the copy to fetch dependencies of, deepest first: (folder, remotes, has a lock).
    dependency_folders: Vec<(String, Vec<crate::tools::chart_deps::Remote>, bool)>,
    /// Of everything helm reads in the copy: fetched once per job.
    digest: Vec<u8>,
}

/// Where a private copy of a chart comes from.
enum CopySource {
    /// A hub's `chart_override`: the override file replaces the `Chart.yaml` of `replaces`'s folder.
    Override { replaces: String, file: String },
    /// A rollout wave's pin: the chart as it was at that commit, read from git.
    Pin(PinnedAt),
}

/// The copies the hubs that run a rollout pin (`pinned`: hub, commit) deploy from: the chart read
/// at the pin from the checkout's git ([`read_chart_at`]), its folders checked as the checkout's
/// are. The hub's chart-level values files (`charts.<chart>.values_files`, the chart's
/// `values.jsonnet`) become the pin's in `cluster`: helm gets the copy's files.
fn pin_copies(
    root: &RepoRoot,
    settings: &Settings,
    cluster: &mut Cluster,
    pinned: &[(String, PinnedAt)],
    options: &super::DeployOptions,
) -> Result<Vec<ChartCopy>, Error> {
    let mut copies = Vec::new();
    for (name, at) in pinned {
        let Some(hub) = cluster.hubs.iter_mut().find(|h| &h.name == name) else { continue };
        if options.charts_dir.trim_end_matches('/') != CHARTS_DIR {
            return Err(Error::input(
                super::inputs::HUBS,
                format!(
                    "hub `{name}` runs its chart at the pin of wave {}, read from {CHARTS_DIR}/ at that commit, \
                     but the charts are taken from `{}`",
                    at.wave, options.charts_dir
                ),
            ));
        }
        let chart_values = settings.chart_values(&hub.helm_chart);
        if let Some(secret) = chart_values.iter().find(|path| crate::tools::sops::is_encrypted(path)) {
            return Err(Error::input(
                super::inputs::HUBS,
                format!(
                    "hub `{name}` runs its chart at the pin of wave {}, and the chart's values file {secret} is \
                     encrypted: a pinned chart's encrypted chart-level values are not supported",
                    at.wave
                ),
            ));
        }
        let pin = read_chart_at(root.path(), at.clone(), &hub.helm_chart, chart_values)?;
        // The head's chart-level files lead the hub's list: the named ones, then the chart's values.jsonnet.
        let own_jsonnet = crate::config::jsonnet::chart_values_file(&chart_folder(&hub.helm_chart));
        let mut head_level = chart_values.len().min(hub.values_files.len());
        if hub.values_files.get(head_level).is_some_and(|file| file.path == own_jsonnet) {
            head_level += 1;
        }
        let own: Vec<ValuesFile> = hub.values_files.drain(head_level..).collect();
        hub.values_files = pin.values.iter().map(|(path, _)| ValuesFile { path: path.clone() }).chain(own).collect();
        let chart = chart_folder(&hub.helm_chart);
        let (dependency_folders, digest) = copy_fetches(&pin.folders, &|folder| pin.dependencies(folder));
        copies.push(ChartCopy {
            target: Target::Hub(name.clone()),
            chart,
            source: CopySource::Pin(pin.at),
            folders: pin.folders,
            values: pin.values,
            dependency_folders,
            digest,
        });
    }
    Ok(copies)
}

/// The copies the targets with a `chart_override` deploy from. The override's entries are checked
/// by the rules of a `Chart.yaml` (a `file://` folder inside the repository, a chart), and every
/// folder's schemas as for a diff. A chart override needs the charts in `helm-charts/`.
fn override_copies(
    root: &RepoRoot,
    cluster: &Cluster,
    targets: &[Target],
    options: &super::DeployOptions,
) -> Result<Vec<ChartCopy>, Error> {
    let mut copies = Vec::new();
    for target in targets {
        let Target::Hub(name) = target else { continue };
        let Some(hub) = cluster.hubs.iter().find(|h| &h.name == name) else { continue };
        let Some(chart_override) = &hub.chart_override else { continue };
        if options.charts_dir.trim_end_matches('/') != CHARTS_DIR {
            return Err(Error::input(
                super::inputs::HUBS,
                format!(
                    "hub `{name}` has a `chart_override`, which replaces a chart's Chart.yaml in {CHARTS_DIR}/, \
                     but the charts are taken from `{}`",
                    options.charts_dir
                ),
            ));
        }
        let key = hub.chart_key();
        let mut read = |relative: &str| match root.read_config_file(relative) {
            Ok(text) => Ok(Some(text)),
            Err(refused) if refused.problem == PathProblem::NotFound => Ok(None),
            Err(refused) => Err(Error::Config(vec![refused.file_diagnostic()])),
        };
        let inputs =
            chart_inputs_overridden(&key, &hub.helm_chart, &chart_override.replaces, &chart_override.file, &mut read)?;
        let override_text = root
            .read_config_file(&chart_override.file)
            .map_err(|refused| Error::Config(vec![refused.file_diagnostic()]))?;
        let replaced = chart_folder(&chart_override.replaces);
        let mut folders = Vec::new();
        let mut problems = Vec::new();
        for input in inputs.inputs(&key) {
            let mut tree = root
                .read_tree(&input.folder, CHART_TREE_LIMITS)
                .map_err(|refused| Error::Config(vec![refused.file_diagnostic()]))?;
            if input.folder == replaced {
                tree.retain(|(path, _)| path != "Chart.yaml");
                tree.push(("Chart.yaml".to_owned(), override_text.clone().into_bytes()));
            }
            problems.extend(check_chart_files(&input.folder, &tree));
            folders.push((input.folder.clone(), tree));
        }
        if !problems.is_empty() {
            return Err(Error::Config(problems));
        }
        let chart = chart_folder(&hub.helm_chart);
        let (dependency_folders, digest) = copy_fetches(&folders, &|folder| inputs.dependencies_of(&key, folder));
        copies.push(ChartCopy {
            target: target.clone(),
            chart,
            source: CopySource::Override {
                replaces: chart_override.replaces.clone(),
                file: chart_override.file.clone(),
            },
            folders,
            values: Vec::new(),
            dependency_folders,
            digest,
        });
    }
    Ok(copies)
}

/// Checks the chart folder of every target (a folder inside the repository,
/// when it exists; helm reports a missing one) and reads its `Chart.yaml`
/// (a regular file of at most 1 MiB, when it exists). Every folder the chart
/// reaches through the `file://` entries of its dependency files
/// (`Chart.yaml`, `requirements.yaml`, `Chart.lock`, `requirements.lock`)
/// must be a chart inside the repository, and every schema in them may refer
/// only inside itself, as for a diff: helm reads this checkout's charts
/// directly. Returns, for each chart, the folders whose dependencies helm
/// fetches first, and how.
fn check_charts(
    root: &RepoRoot,
    cluster: &Cluster,
    targets: &[Target],
    options: &super::DeployOptions,
) -> Result<ChartDeps, Error> {
    let refused_as = |refused: &PathError, what: &str| {
        Diagnostic::new(&refused.path, format!("refusing to use this {what}: it {}", refused.problem))
            .hint(refused.problem.hint())
    };
    let refuse = |refused: PathError, what: &str| Error::Config(vec![refused_as(&refused, what)]);
    let mut charts: Vec<(String, String)> = Vec::new();
    for target in targets {
        let chart = super::chart_path(cluster, target, options);
        match root.dir(&chart) {
            Ok(_) => {}
            Err(refused) if refused.problem == PathProblem::NotFound => continue,
            Err(refused) => return Err(refuse(refused, "chart folder")),
        }
        match root.read_config_file(&format!("{chart}/Chart.yaml")) {
            Ok(_) => {}
            Err(refused) if refused.problem == PathProblem::NotFound => {}
            Err(refused) => return Err(refuse(refused, "chart file")),
        }
        if !charts.iter().any(|(name, _)| name == &chart) {
            charts.push((chart.clone(), chart));
        }
    }
    let inputs = chart_inputs_at(charts.clone(), &mut |relative: &str| match root.read_config_file(relative) {
        Ok(text) => Ok(Some(text)),
        Err(refused) if refused.problem == PathProblem::NotFound => Ok(None),
        Err(refused) => Err(Error::Config(vec![refused_as(&refused, "chart file")])),
    })?;
    let mut problems = Vec::new();
    let mut trees: HashMap<String, crate::base::repo_fs::Tree> = HashMap::new();
    for (chart, _) in &charts {
        for input in inputs.inputs(chart) {
            if trees.contains_key(&input.folder) {
                continue;
            }
            match root.read_tree(&input.folder, CHART_TREE_LIMITS) {
                Ok(tree) => {
                    problems.extend(check_chart_files(&input.folder, &tree));
                    trees.insert(input.folder.clone(), tree);
                }
                Err(refused) => problems.push(refused_as(&refused, "chart folder")),
            }
        }
    }
    if !problems.is_empty() {
        return Err(Error::Config(problems));
    }
    let mut deps = ChartDeps::default();
    for (chart, _) in &charts {
        // The digest of everything helm reads for this chart: its folder and its file:// dependencies'.
        let mut digest = ring::digest::Context::new(&ring::digest::SHA256);
        let mut folders = Vec::new();
        for input in inputs.inputs(chart) {
            digest_folder(&mut digest, &input.folder, trees.get(&input.folder).map_or(&[][..], Vec::as_slice));
            let listed = inputs.dependencies(&input.folder);
            if listed.iter().any(|d| {
                matches!(
                    d.source,
                    crate::config::charts::DependencySource::File(_)
                        | crate::config::charts::DependencySource::Remote(_)
                )
            }) {
                folders.push((input.folder.clone(), crate::tools::chart_deps::Remote::of(listed)));
            }
        }
        let digest = digest.finish().as_ref().to_vec();
        deps.digests.insert(chart.clone(), digest.clone());
        folders.reverse();
        let mut order = Vec::new();
        for (folder, remotes) in folders {
            let has_lock = crate::tools::chart_deps::has_lock(
                trees.get(&folder).map_or(&[][..], Vec::as_slice).iter().map(|(p, _)| p.as_str()),
            );
            deps.fetch.entry(folder.clone()).or_insert(FolderFetch {
                remotes,
                has_lock,
                key: (root.path().join(&folder), digest.clone()),
            });
            order.push(folder);
        }
        deps.folders.insert(chart.clone(), order);
    }
    Ok(deps)
}

/// The dependency fetches of a deploy's charts.
#[derive(Default)]
struct ChartDeps {
    /// Chart folder → the folders to fetch dependencies of first, deepest first.
    folders: HashMap<String, Vec<String>>,
    fetch: HashMap<String, FolderFetch>,
    /// Chart folder (or override copy) → the digest of everything helm reads for it.
    digests: HashMap<String, Vec<u8>>,
}

/// Of a copy's folders: those whose dependencies (`file://` or remote) helm fetches, deepest first, each
/// with its remote repositories and whether it has a lock file; and the digest of the files alone (the
/// same chart copied from a pin and read from the checkout has one digest).
#[allow(clippy::type_complexity)]
fn copy_fetches<'a>(
    folders: &[(String, crate::base::repo_fs::Tree)],
    dependencies: &dyn Fn(&str) -> &'a [crate::config::charts::FoundDependency],
) -> (Vec<(String, Vec<crate::tools::chart_deps::Remote>, bool)>, Vec<u8>) {
    let mut dependency_folders = Vec::new();
    let mut digest = ring::digest::Context::new(&ring::digest::SHA256);
    for (folder, tree) in folders {
        digest_folder(&mut digest, folder, tree);
        let listed = dependencies(folder);
        let fetches = listed.iter().any(|d| {
            matches!(
                d.source,
                crate::config::charts::DependencySource::File(_) | crate::config::charts::DependencySource::Remote(_)
            )
        });
        if fetches {
            let has_lock = crate::tools::chart_deps::has_lock(tree.iter().map(|(path, _)| path.as_str()));
            dependency_folders.push((folder.clone(), crate::tools::chart_deps::Remote::of(listed), has_lock));
        }
    }
    dependency_folders.reverse();
    (dependency_folders, digest.finish().as_ref().to_vec())
}

/// Adds a chart folder's files to `digest`, each part length-prefixed (what helm reads of it:
/// the same digest means the same chart tree, fetched once per job).
fn digest_folder(digest: &mut ring::digest::Context, folder: &str, files: &[(String, Vec<u8>)]) {
    for (path, bytes) in files {
        for part in [folder.as_bytes(), path.as_bytes(), bytes] {
            digest.update(&(part.len() as u64).to_le_bytes());
            digest.update(part);
        }
    }
}

/// How one chart folder's dependencies are fetched.
struct FolderFetch {
    remotes: Vec<crate::tools::chart_deps::Remote>,
    has_lock: bool,
    /// The folder on disk and the digest of the chart tree it was reached from: fetched once per job.
    key: (PathBuf, Vec<u8>),
}

/// The fetches done in this process (one job): a second deploy of the same
/// chart tree (another cluster of the leg, a hub deployed in parallel) waits
/// for the first and reuses its `charts/`.
static FETCHED: std::sync::Mutex<Vec<(PathBuf, Vec<u8>)>> = std::sync::Mutex::new(Vec::new());

/// Runs a dependency step: `helm dependency build` (or `update`, said in the
/// log, where there is no lock file matching `Chart.yaml`) with a private helm
/// home, unless this job already fetched the same chart tree (`None`).
fn fetch_dependencies(
    step: &Step,
    fetch: &FolderFetch,
    request: &DeployRequest,
    style: LogStyle,
) -> Result<Option<Ran>, Error> {
    let StepKind::DependencyBuild { chart } = &step.kind else { return Ok(None) };
    let mut fetched = FETCHED.lock().map_err(|_| Error::Runner("a dependency fetch panicked".into()))?;
    if fetched.contains(&fetch.key) {
        runner::print(&format!("Dependencies of {chart}: already fetched in this job, for the same chart tree\n"));
        return Ok(None);
    }
    let home = crate::tools::chart_deps::HelmHome::create()?;
    let list = home.repositories("deploy", &fetch.remotes)?;
    let helm_env = home.env(&[], &list);
    let remote = !fetch.remotes.is_empty();
    let run = |verb: &str| -> Result<Ran, Error> {
        let argv = [step.argv[0].as_str(), "dependency", verb, chart];
        runner_group(style, &format!("helm dependency {verb} {chart}"));
        runner::print_untrusted(&format!("$ {}\n", super::command_line(&argv.map(str::to_owned))))?;
        let mut command = Command::new(argv[0]);
        command
            .args(&argv[1..])
            .current_dir(&request.repo)
            .envs(request.env.iter().map(|(k, v)| (k, v)))
            .envs(helm_env.iter().map(|(k, v)| (k, v)));
        let result = stream(command, None, style);
        runner_end_group(style);
        result
    };
    let resolve_line = || {
        runner::print(&format!(
            "helm dependency update {chart}: no Chart.lock matching Chart.yaml, so the dependency versions \
             are resolved now (not reproducible: commit the Chart.lock)\n"
        ))
    };
    let ran = if remote && !fetch.has_lock {
        resolve_line();
        run("update")?
    } else {
        let ran = run("build")?;
        if !ran.succeeded() && remote && crate::tools::chart_deps::is_lock_out_of_sync(&ran.tail.join("\n")) {
            resolve_line();
            run("update")?
        } else {
            ran
        }
    };
    if ran.succeeded() {
        fetched.push(fetch.key.clone());
    }
    Ok(Some(ran))
}

/// Whether a release is ready for `helm upgrade`, and its last good revision.
enum Prepared {
    Ready(Option<u64>),
    Stopped(i32),
}

/// Reads `helm history` of `release` before its upgrade: a latest revision left `pending-*` is
/// rolled back (or a lone `pending-install` uninstalled) with `pending-release: rollback`, or
/// refused with `fail`. Returns the last good revision for `atomic` (none for a new release,
/// or when the history cannot be read: then helm's own answer to the upgrade is what counts).
fn prepare_release(
    release: &str,
    cluster: &str,
    request: &DeployRequest,
    options: &super::DeployOptions,
    style: LogStyle,
) -> Result<Prepared, Error> {
    use super::pending::{decide, is_not_found, parse_history, Decision, Recover};
    use super::rollout::{capture, Captured};
    let history = || -> Result<Result<Option<Decision>, String>, i32> {
        let argv = ["helm", "history", release, "--namespace", release, "--max", "20", "--output", "json"];
        match capture(&argv, &request.repo, &request.env) {
            Ok(Captured::Stopped(signal)) => Err(signal),
            Ok(Captured::Done { success: true, stdout, .. }) => Ok(parse_history(&stdout).map(|h| Some(decide(&h)))),
            Ok(Captured::Done { stderr, .. }) if is_not_found(&stderr) => Ok(Ok(None)),
            Ok(Captured::Done { stderr, .. }) => {
                Ok(Err(stderr.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("no output").to_owned()))
            }
            Err(error) => Ok(Err(error.to_string())),
        }
    };
    let decision = match history() {
        Err(signal) => return Ok(Prepared::Stopped(signal)),
        Ok(Ok(None)) => return Ok(Prepared::Ready(None)),
        Ok(Ok(Some(decision))) => decision,
        Ok(Err(why)) => {
            runner::print(&format!(
                "Release {release}: `helm history` could not be read ({why}); upgrading anyway
"
            ));
            return Ok(Prepared::Ready(None));
        }
    };
    let (revision, status, recover) = match decision {
        Decision::Clear { good } => return Ok(Prepared::Ready(good)),
        Decision::Pending { revision, status, recover } => (revision, status, recover),
    };
    let fix = match recover {
        Recover::RollbackTo(good) => format!("helm rollback {release} {good} --namespace {release}"),
        Recover::Uninstall => format!("helm uninstall {release} --namespace {release}"),
    };
    if options.pending == super::PendingRelease::Fail {
        return Err(Error::Command {
            program: "helm".into(),
            message: format!(
                "release {release} on cluster {cluster} is {status} at revision {revision}: an earlier deploy was \
                 stopped while helm ran, and helm refuses to upgrade it (another operation is in progress). \
                 Nothing was changed (pending-release: fail). To recover, run `{fix}`, or deploy again with \
                 pending-release: rollback, which does that first"
            ),
        });
    }
    runner::print(&format!(
        "Release {release}: revision {revision} is {status} (a deploy stopped while helm ran); running `{fix}` \
         first (pending-release: rollback)
"
    ));
    let argv: Vec<String> = fix.split(' ').map(str::to_owned).collect();
    runner_group(style, &format!("recover {release}"));
    runner::print_untrusted(&format!(
        "$ {}
",
        command_line(&argv)
    ))?;
    let mut command = Command::new(&argv[0]);
    command.args(&argv[1..]).current_dir(&request.repo).envs(request.env.iter().map(|(k, v)| (k, v)));
    let result = stream(command, None, style);
    runner_end_group(style);
    let ran = result?;
    if let Ended::Stopped(signal) = ran.ended {
        return Ok(Prepared::Stopped(signal));
    }
    if !ran.succeeded() {
        return Err(Error::Command {
            program: "helm".into(),
            message: format!(
                "release {release} on cluster {cluster} is {status} at revision {revision}, and `{fix}` {}{}",
                ran.ended_text(),
                ran.tail_text()
            ),
        });
    }
    match history() {
        Err(signal) => Ok(Prepared::Stopped(signal)),
        Ok(Ok(Some(Decision::Clear { good }))) => {
            runner::print(&format!(
                "Release {release}: recovered, upgrading
"
            ));
            Ok(Prepared::Ready(good))
        }
        Ok(Ok(None)) => {
            runner::print(&format!(
                "Release {release}: uninstalled, installing it again
"
            ));
            Ok(Prepared::Ready(None))
        }
        Ok(Ok(Some(Decision::Pending { status, .. }))) => Err(Error::Command {
            program: "helm".into(),
            message: format!("release {release} on cluster {cluster} is still {status} after `{fix}`"),
        }),
        Ok(Err(why)) => {
            runner::print(&format!(
                "Release {release}: `helm history` could not be read ({why}); upgrading anyway
"
            ));
            Ok(Prepared::Ready(None))
        }
    }
}

/// `atomic` with `wait: rollout`: a failed upgrade or rollout goes back to `good` (`helm
/// rollback`), or, for a release that had none, is uninstalled, as helm's own `--atomic` does.
/// Returns what happened, for the error message.
fn roll_back(release: &str, good: Option<u64>, request: &DeployRequest, style: LogStyle) -> String {
    let argv: Vec<String> = match good {
        Some(revision) => {
            ["helm", "rollback", release, &revision.to_string(), "--namespace", release].map(str::to_owned).to_vec()
        }
        None => ["helm", "uninstall", release, "--namespace", release].map(str::to_owned).to_vec(),
    };
    let what = match good {
        Some(revision) => format!("rolled back to revision {revision}"),
        None => "uninstalled (it had no earlier good revision)".to_owned(),
    };
    runner::print(&format!(
        "Release {release}: failed with atomic: true, so it is {what}
"
    ));
    runner_group(style, &format!("atomic: {} {release}", argv[1]));
    let printed = runner::print_untrusted(&format!(
        "$ {}
",
        command_line(&argv)
    ));
    let mut command = Command::new(&argv[0]);
    command.args(&argv[1..]).current_dir(&request.repo).envs(request.env.iter().map(|(k, v)| (k, v)));
    let result = printed.and_then(|()| stream(command, None, style));
    runner_end_group(style);
    match result {
        Ok(ran) if ran.succeeded() => format!("; atomic: the release was {what}"),
        Ok(ran) => format!("; atomic: `{}` {} as well", command_line(&argv), ran.ended_text()),
        Err(error) => format!("; atomic: `{}` could not run: {error}", command_line(&argv)),
    }
}

/// The releases a failure at `step` leaves not upgraded: its own, unless it
/// was the upgrade that ran (`upgraded`) and failed the health check after
/// it, and the later ones.
fn remaining(targets: &[Target], step: &Step, upgraded: bool) -> Vec<String> {
    let at = targets.iter().position(|t| *t == step.target).unwrap_or(0);
    let from = if upgraded && step.kind == StepKind::Upgrade { at + 1 } else { at };
    targets.iter().skip(from).map(|t| t.release().to_owned()).collect()
}

/// The error of a run stopped by `signal`: by then the command it was
/// running has ended, and the decrypted values are removed as it returns.
fn interrupted(signal: i32, cluster: &str, decrypted: bool, when: &str, remaining: &[String]) -> Error {
    let mut message = format!("the deploy on cluster {cluster} was stopped ({when})");
    if decrypted {
        message.push_str("; the decrypted values are removed");
    }
    Error::Interrupted { signal, message: with_remaining(message, remaining) }
}

fn with_remaining(mut message: String, remaining: &[String]) -> String {
    if !remaining.is_empty() {
        message.push_str(&format!("; not upgraded: {}", remaining.join(", ")));
    }
    message
}

/// Runs the health check for a hub: `sh -c COMMAND` in the repository, with
/// `CLUSTER_NAME` and `HUB_NAME` set, until it succeeds or the attempts run
/// out. A failure is how the last attempt ended, and the end of its output.
fn health_check(
    check: &HealthCheck,
    repo: &Path,
    env: &[(String, String)],
    cluster: &str,
    hub: &str,
    style: LogStyle,
) -> Result<(), HealthCheckFailure> {
    let attempts = u64::from(check.retries) + 1;
    let mut last = HealthCheckFailure(String::new(), String::new());
    for attempt in 1..=attempts {
        if stop::received().is_some() {
            return Err(HealthCheckFailure("was stopped".into(), String::new()));
        }
        runner_group(style, &format!("health check {hub} (attempt {attempt} of {attempts})"));
        let argv = ["sh".to_owned(), "-c".to_owned(), check.command.clone()];
        let printed = runner::print_untrusted(&format!("$ {}\n", command_line(&argv)));
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(&check.command)
            .current_dir(repo)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .env("CLUSTER_NAME", cluster)
            .env("HUB_NAME", hub);
        let result = printed.and_then(|()| stream(command, Some(check.timeout), style));
        runner_end_group(style);
        let ran = match result {
            Ok(ran) => ran,
            Err(error) => return Err(HealthCheckFailure(format!("could not run: {error}"), String::new())),
        };
        if matches!(ran.ended, Ended::Stopped(_)) {
            return Err(HealthCheckFailure("was stopped".into(), ran.tail_text()));
        }
        if ran.succeeded() {
            runner::print(&format!("Health check of {hub} passed (attempt {attempt} of {attempts})\n"));
            return Ok(());
        }
        runner::print(&format!("Health check of {hub} {} (attempt {attempt} of {attempts})\n", ran.ended_text()));
        last = HealthCheckFailure(format!("{} (attempt {attempt} of {attempts})", ran.ended_text()), ran.tail_text());
        if attempt < attempts && !check.delay.is_zero() {
            // Short naps, so that a signal is acted on at once.
            let until = Instant::now() + check.delay;
            while Instant::now() < until && stop::received().is_none() {
                std::thread::sleep(Duration::from_millis(50).min(until.saturating_duration_since(Instant::now())));
            }
        }
    }
    Err(last)
}

/// How the last health-check attempt ended, and the end of its output.
#[derive(Debug)]
struct HealthCheckFailure(String, String);

fn runner_group(style: LogStyle, title: &str) {
    match style {
        LogStyle::Actions => runner::group(title),
        LogStyle::Plain | LogStyle::Interleaved => runner::print(&format!("==> {title}\n")),
    }
}

fn runner_end_group(style: LogStyle) {
    if style == LogStyle::Actions {
        runner::end_group();
    }
}

/// How a command ended.
#[derive(Debug)]
enum Ended {
    Exited(ExitStatus),
    /// Killed after this long.
    TimedOut(Duration),
    /// Stopped because this process received this signal.
    Stopped(i32),
}

/// A command that ran, and the end of its output.
#[derive(Debug)]
struct Ran {
    ended: Ended,
    tail: Vec<String>,
}

impl Ran {
    fn succeeded(&self) -> bool {
        matches!(&self.ended, Ended::Exited(status) if status.success())
    }

    fn ended_text(&self) -> String {
        match &self.ended {
            Ended::Exited(status) => match status.code() {
                Some(code) => format!("failed with exit code {code}"),
                None => format!("failed ({status})"),
            },
            Ended::TimedOut(limit) => format!("timed out after {} s and was stopped", limit.as_secs()),
            Ended::Stopped(signal) => format!("was stopped on {}", crate::base::error::signal_name(*signal)),
        }
    }

    /// The last lines of output, or a note that there was none, each quoted
    /// with `> `. The error is printed by `runner::report_error`, which
    /// sanitises it: the runner reads workflow commands from stderr too.
    fn tail_text(&self) -> String {
        if self.tail.is_empty() {
            " (no output)".into()
        } else {
            let quoted: Vec<String> = self.tail.iter().map(|line| format!("> {line}")).collect();
            format!("; the last lines of its output:\n{}", quoted.join("\n"))
        }
    }
}

/// Runs `command` with stdout and stderr merged into one pipe, relaying each
/// line to the job log (sanitised by [`runner::print`], and between
/// `::stop-commands::` markers in Actions, as the output is untrusted) and
/// keeping the last lines. With a `timeout`,
/// the command is killed when it runs longer.
///
/// The command leads a process group of its own, so that stopping it stops
/// what it started too, and a terminal's Ctrl-C reaches this process only.
/// When this process receives SIGTERM or SIGINT ([`stop`]), the group gets
/// SIGTERM, then SIGKILL after [`stop::STOP_GRACE`] or at a second signal.
fn stream(mut command: Command, timeout: Option<Duration>, style: LogStyle) -> Result<Ran, Error> {
    let program = command.get_program().to_string_lossy().into_owned();
    let pipe_error = |e: std::io::Error| Error::Command {
        program: program.clone(),
        message: format!("cannot create a pipe for its output: {e}"),
    };
    let (reader, writer) = std::io::pipe().map_err(pipe_error)?;
    let writer_for_stdout = writer.try_clone().map_err(pipe_error)?;
    command.stdin(Stdio::null()).stdout(writer_for_stdout).stderr(writer);
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        command.process_group(0);
    }
    let mut child = command.spawn().map_err(|e| Error::Command {
        program: program.clone(),
        message: format!("cannot run {program} ({e}); is it installed and on PATH?"),
    })?;
    // The command holds our copies of the pipe's write end: close them, so
    // the reader sees the end of the output when the child exits.
    drop(command);

    let (lines, received) = mpsc::channel::<String>();
    // Not joined: a process the command started may keep the pipe open; the
    // thread ends with the pipe, or when nobody listens any more.
    std::thread::spawn(move || {
        let mut reader = BufReader::new(reader);
        let mut buffer = Vec::new();
        loop {
            buffer.clear();
            match reader.read_until(b'\n', &mut buffer) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    if lines.send(String::from_utf8_lossy(&buffer).into_owned()).is_err() {
                        break;
                    }
                }
            }
        }
    });

    // Each line is sanitised as it is printed; in Actions, command
    // processing is paused around the output as well.
    let token = match style {
        LogStyle::Actions => Some(runner::pause_commands()?),
        LogStyle::Plain | LogStyle::Interleaved => None,
    };
    let wait_error =
        |e: std::io::Error| Error::Command { program: program.clone(), message: format!("waiting for {program}: {e}") };
    let started = Instant::now();
    let mut tail: VecDeque<String> = VecDeque::new();
    let mut ended: Option<(Ended, Instant)> = None;
    let mut failure = None;
    // The signal that stopped the command, when it was sent SIGTERM, and the signal count then.
    let mut stopping: Option<(i32, Instant, usize)> = None;
    let mut killed = false;
    let mut output_open = true;
    loop {
        let next = if output_open {
            received.recv_timeout(Duration::from_millis(50))
        } else if ended.is_some() {
            // The command has ended and its output is all printed: nothing to wait for.
            break;
        } else {
            // The output has ended but the command may still run: keep watching it (and the
            // signals), briefly, as it usually exits right after closing its output.
            std::thread::sleep(Duration::from_millis(5));
            Err(RecvTimeoutError::Timeout)
        };
        match next {
            Ok(mut line) => {
                if !line.ends_with('\n') {
                    line.push('\n');
                }
                runner::print(&line);
                let kept: String = line.trim_end().chars().take(500).collect();
                tail.push_back(kept);
                if tail.len() > TAIL_LINES {
                    tail.pop_front();
                }
            }
            Err(RecvTimeoutError::Disconnected) => output_open = false,
            Err(RecvTimeoutError::Timeout) => {}
        }
        if ended.is_none() {
            match (stopping, stop::received()) {
                (None, Some(signal)) => {
                    runner::print(&format!(
                        "Received {}: stopping {program} (SIGTERM, then SIGKILL after {} s)\n",
                        crate::base::error::signal_name(signal),
                        stop::STOP_GRACE.as_secs()
                    ));
                    signal_child(&child, StopWith::Term);
                    stopping = Some((signal, Instant::now(), stop::count()));
                }
                (Some((_, since, count)), _)
                    if !killed && (since.elapsed() >= stop::STOP_GRACE || stop::count() > count) =>
                {
                    signal_child(&child, StopWith::Kill);
                    killed = true;
                }
                _ => {}
            }
        }
        match &ended {
            Some(_) if !output_open => break,
            Some((_, at)) if at.elapsed() > DRAIN_GRACE => break,
            Some(_) => {}
            None => match child.try_wait() {
                Ok(Some(status)) => {
                    let how = match stopping {
                        Some((signal, _, _)) => Ended::Stopped(signal),
                        None => Ended::Exited(status),
                    };
                    ended = Some((how, Instant::now()));
                }
                Ok(None) => {
                    if let Some(limit) = timeout.filter(|limit| started.elapsed() >= *limit) {
                        signal_child(&child, StopWith::Kill);
                        if let Err(e) = child.wait() {
                            failure = Some(wait_error(e));
                            break;
                        }
                        ended = Some((Ended::TimedOut(limit), Instant::now()));
                    }
                }
                Err(e) => {
                    failure = Some(wait_error(e));
                    break;
                }
            },
        }
    }
    if let Some(token) = &token {
        runner::resume_commands(token);
    }
    if let Some(error) = failure {
        signal_child(&child, StopWith::Kill);
        return Err(error);
    }
    let ended = match ended {
        Some((ended, _)) => ended,
        // Not reached: the loop ends only once the command has ended, or with a failure.
        None => Ended::Exited(child.wait().map_err(wait_error)?),
    };
    Ok(Ran { ended, tail: tail.into() })
}

/// How to stop a command's process group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StopWith {
    Term,
    Kill,
}

/// Signals the process group `child` leads (it and whatever it started).
fn signal_child(child: &std::process::Child, how: StopWith) {
    #[cfg(unix)]
    stop::signal_group(
        child.id(),
        match how {
            StopWith::Term => libc::SIGTERM,
            StopWith::Kill => libc::SIGKILL,
        },
    );
    #[cfg(not(unix))]
    let _ = (child, how);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_merge_output_and_time_out() {
        let mut command = Command::new("sh");
        command.arg("-c").arg("echo out; echo err >&2; exit 3");
        let ran = stream(command, None, LogStyle::Plain).unwrap();
        assert_eq!(ran.tail, ["out", "err"]);
        assert_eq!(ran.ended_text(), "failed with exit code 3");
        assert_eq!(ran.tail_text(), "; the last lines of its output:\n> out\n> err");

        let mut command = Command::new("sh");
        command.arg("-c").arg("echo started; exec sleep 30");
        let begun = Instant::now();
        let ran = stream(command, Some(Duration::from_millis(300)), LogStyle::Plain).unwrap();
        assert!(begun.elapsed() < Duration::from_secs(10));
        assert!(!ran.succeeded());
        assert!(matches!(ran.ended, Ended::TimedOut(_)));
        assert_eq!(ran.tail, ["started"]);

        let missing = stream(Command::new("deployer-no-such-program"), None, LogStyle::Plain).unwrap_err();
        assert!(missing.to_string().contains("is it installed and on PATH?"), "{missing}");
    }
}
