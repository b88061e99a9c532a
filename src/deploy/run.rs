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
//! after stopping the running command ([`super::stop`]).

use std::collections::{HashMap, VecDeque};
use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

use super::{
    command_line, encrypted_files, inputs, outputs, plan_commands, resolve_targets, shell_quote, stop, DeployRequest,
    HealthCheck, Step, StepKind, Target,
};
use crate::config::chart_files::check_chart_files;
use crate::config::charts::chart_inputs_at;
use crate::config::load::{load_estate, load_settings};
use crate::config::{Cluster, ValuesFile};
use crate::diagnostic::Diagnostic;
use crate::error::Error;
use crate::repo_fs::{PathError, PathProblem, RepoRoot, CHART_TREE_LIMITS};
use crate::runner::{self, Outputs};

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

/// [`find_cluster`], with the settings it was found with.
fn find_cluster_and_settings(
    repo: &Path,
    config: Option<&Path>,
    name: &str,
) -> Result<(Cluster, crate::config::Settings), Error> {
    let settings = load_settings(repo, config)?;
    let estate = load_estate(repo, &settings)?;
    let cluster = estate.clusters.into_iter().find(|c| c.name == name).ok_or_else(|| {
        Error::input(inputs::CLUSTER, format!("no cluster named `{name}` in {}", settings.cluster_glob))
    })?;
    Ok((cluster, settings))
}

/// Every `.jsonnet` file the targets render, rendered: (release, file, JSON), in helm's order.
fn render_jsonnet(
    root: &RepoRoot,
    cluster: &Cluster,
    targets: &[Target],
    options: &super::DeployOptions,
    settings: &crate::config::Settings,
) -> Result<Vec<(String, String, String)>, Error> {
    let mut rendered = Vec::new();
    for target in targets {
        let chart = super::chart_path(cluster, target, options);
        let chart_jsonnet = crate::jsonnet::chart_values_file(&chart);
        let has_chart_jsonnet = match root.file(&chart_jsonnet) {
            Ok(_) => true,
            Err(refused) if refused.problem == PathProblem::NotFound => false,
            Err(refused) => return Err(Error::Config(vec![refused.file_diagnostic()])),
        };
        let hub = match target {
            Target::Hub(name) => cluster.hubs.iter().find(|h| &h.name == name),
            Target::Support => None,
        };
        let ext_vars = settings.jsonnet_ext_vars.values(&crate::jsonnet::Placeholders::of(cluster, hub));
        for file in crate::jsonnet::release_files(&chart, has_chart_jsonnet, super::values_files(cluster, target)) {
            let out = crate::jsonnet::render(root, &file, &ext_vars)?;
            rendered.push((target.release().to_owned(), file, out.json));
        }
    }
    Ok(rendered)
}

/// Upgrades the request's targets, in order, stopping at the first failure.
pub fn deploy(request: &DeployRequest, style: LogStyle) -> Result<DeployOutcome, Error> {
    let repo = &request.repo;
    let (cluster, settings) = find_cluster_and_settings(repo, request.config.as_deref(), &request.cluster)?;
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
    let charts_with_file_dependencies = check_charts(&root, &cluster, &targets, &request.options)?;
    let chart_has_file_dependencies = |chart: &str| charts_with_file_dependencies.iter().any(|c| c == chart);
    let encrypted = encrypted_files(&cluster, &targets);
    // Rendered before anything runs: a jsonnet error stops the deploy at its file and line.
    let jsonnet = render_jsonnet(&root, &cluster, &targets, &request.options, &settings)?;
    let jsonnet_name = |index: usize, file: &str| {
        format!("jsonnet-{index}-{}.json", file.rsplit('/').next().unwrap_or(file).trim_end_matches(".jsonnet"))
    };

    let mut options = request.options.clone();
    let helm_found = detect_helm();
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
        let placeholder = |file: &ValuesFile| Path::new("<decrypted>").join(file.basename());
        let rendered_placeholder = |target: &Target, file: &str| {
            jsonnet
                .iter()
                .position(|(release, path, _)| release == target.release() && path == file)
                .map(|index| Path::new("<rendered>").join(jsonnet_name(index, file)))
        };
        let steps = plan_commands(
            &cluster,
            &targets,
            &options,
            &chart_has_file_dependencies,
            &placeholder,
            &rendered_placeholder,
        );
        let mut text = format!(
            "Dry run on cluster {}: these commands would run in {} (nothing is decrypted, nothing is run).\n",
            cluster.name,
            repo.display()
        );
        text.push_str(&helm_note);
        if !encrypted.is_empty() {
            text.push_str("# <decrypted>: a private temporary folder, removed afterwards\n");
        }
        for (release, file, json) in &jsonnet {
            text.push_str(&format!("# {release}: {file} rendered (jsonnet) to {} bytes of JSON\n", json.len()));
        }
        for file in &encrypted {
            let to = placeholder(file);
            text.push_str(&format!(
                "sops --decrypt {} > {}\n",
                shell_quote(&file.path),
                shell_quote(&to.to_string_lossy())
            ));
        }
        for step in &steps {
            text.push_str(&step.command_line());
            text.push('\n');
            if let (StepKind::Upgrade, Target::Hub(_), Some(check)) = (&step.kind, &step.target, &request.health_check)
            {
                text.push_str(&format!(
                    "sh -c {}  # health check: up to {} attempts, {} s each, {} s apart\n",
                    shell_quote(&check.command),
                    u64::from(check.retries) + 1,
                    check.timeout.as_secs(),
                    check.delay.as_secs()
                ));
            }
        }
        runner::print_untrusted(&text)?;
        return Ok(outcome);
    }

    options.helm = helm_found?;
    // From here on, SIGTERM and SIGINT are recorded: the run stops helm,
    // removes the decrypted values and returns `Error::Interrupted`.
    stop::install()?;
    runner::print(&format!("Deploying to cluster {}: {}\n", cluster.name, outcome.targets.join(", ")));
    // Removed when this function returns, on success and on every error path.
    let private = if encrypted.is_empty() && jsonnet.is_empty() { None } else { Some(PrivateDir::create()?) };
    let mut rendered_paths: Vec<(String, String, PathBuf)> = Vec::new();
    if let Some(private) = &private {
        for (index, (release, file, json)) in jsonnet.iter().enumerate() {
            let path = private.write(&jsonnet_name(index, file), json.as_bytes())?;
            runner::print(&format!("Rendered {file} (jsonnet) for {release}\n"));
            rendered_paths.push((release.clone(), file.clone(), path));
        }
    }
    let rendered_path = |target: &Target, file: &str| {
        rendered_paths
            .iter()
            .find(|(release, path, _)| release == target.release() && path == file)
            .map(|(_, _, path)| path.clone())
    };
    let mut decrypted: HashMap<&str, PathBuf> = HashMap::new();
    if let Some(private) = &private {
        for (index, file) in encrypted.iter().enumerate() {
            let path = root.file(&file.path).map_err(|refused| Error::Config(vec![refused.file_diagnostic()]))?;
            let plaintext = crate::sops::decrypt_with(&path, &request.env)?;
            // Masked before any program sees the file or prints anything from it.
            for secret in crate::sops::values_to_mask(&plaintext) {
                runner::add_mask(&secret);
            }
            let path = private.write(&format!("{index}-{}", file.basename()), &plaintext)?;
            runner::print(&format!("Decrypted {} with sops into a private temporary folder\n", file.path));
            decrypted.insert(file.path.as_str(), path);
            if let Some(signal) = stop::received() {
                return Err(interrupted(signal, &cluster.name, true, "before helm ran", &outcome.targets));
            }
        }
    }
    // Every encrypted file of the targets was decrypted above; never fall
    // back to handing helm the encrypted file.
    let decrypted_path = |file: &ValuesFile| decrypted.get(file.path.as_str()).cloned().unwrap_or_default();
    let steps =
        plan_commands(&cluster, &targets, &options, &chart_has_file_dependencies, &decrypted_path, &rendered_path);
    let release_line = ReleaseLines::new(&root, &cluster);

    for step in &steps {
        if let Some(signal) = stop::received() {
            let not_run = remaining(&targets, step, false);
            return Err(interrupted(
                signal,
                &cluster.name,
                private.is_some(),
                &format!("before `{}`", step.title()),
                &not_run,
            ));
        }
        let started = Instant::now();
        if step.kind == StepKind::Upgrade {
            let files = super::values_files(&cluster, &step.target);
            let decrypted = files.iter().filter(|f| crate::sops::is_encrypted(&f.path)).count();
            runner::print(&format!(
                "helm upgrade {} {} ({} values file{}, {decrypted} decrypted)\n",
                step.target.release(),
                super::chart_path(&cluster, &step.target, &options),
                files.len(),
                if files.len() == 1 { "" } else { "s" },
            ));
        }
        runner_group(style, &step.title());
        runner::print_untrusted(&format!("$ {}\n", step.command_line()))?;
        let mut command = Command::new(&step.argv[0]);
        command.args(&step.argv[1..]).current_dir(repo).envs(request.env.iter().map(|(k, v)| (k, v)));
        let result = stream(command, None, style);
        runner_end_group(style);
        let ran = result?;
        let seconds = started.elapsed().as_secs_f64();
        if step.kind == StepKind::Upgrade {
            let how = if ran.succeeded() { "done, helm exited 0".to_owned() } else { ran.ended_text() };
            runner::print(&format!("helm upgrade {}: {how}, after {seconds:.1} s\n", step.target.release()));
        }
        if let Ended::Stopped(signal) = ran.ended {
            let not_run = remaining(&targets, step, false);
            return Err(interrupted(
                signal,
                &cluster.name,
                private.is_some(),
                &format!("`{}` was stopped", step.title()),
                &not_run,
            ));
        }
        if !ran.succeeded() {
            outcome.releases.push(ReleaseResult {
                release: step.target.release().to_owned(),
                result: "failed",
                millis: Some(started.elapsed().as_millis()),
            });
            let not_run = remaining(&targets, step, true);
            outcome.releases.extend(not_run.iter().map(|release| ReleaseResult {
                release: release.clone(),
                result: "not run",
                millis: None,
            }));
            let message = format!("`{}` on cluster {} {}", step.title(), cluster.name, ran.ended_text());
            let (file, line) = release_line.of(&step.target);
            return Err(Error::ReleaseFailed {
                program: "helm".into(),
                message: with_remaining(message, &not_run) + &ran.tail_text(),
                file,
                line,
                summary: releases_table(&outcome.releases),
            });
        }
        if step.kind != StepKind::Upgrade {
            continue;
        }
        if let (Target::Hub(hub), Some(check)) = (&step.target, &request.health_check) {
            if let Err(failure) = health_check(check, repo, &request.env, &cluster.name, hub, style) {
                if let Some(signal) = stop::received() {
                    let not_run = remaining(&targets, step, true);
                    let what = format!("the health check of {hub} was stopped");
                    return Err(interrupted(signal, &cluster.name, private.is_some(), &what, &not_run));
                }
                let message = format!("`{}` for hub {hub} on cluster {} {}", check.command, cluster.name, failure.0);
                return Err(Error::Command {
                    program: "health check".into(),
                    message: with_remaining(message, &remaining(&targets, step, true)) + &failure.1,
                });
            }
        }
        outcome.deployed.push(step.target.release().to_owned());
        outcome.releases.push(ReleaseResult {
            release: step.target.release().to_owned(),
            result: "upgraded",
            millis: Some(started.elapsed().as_millis()),
        });
    }
    drop(private);
    runner::print(&format!("Upgraded on cluster {}: {}\n", cluster.name, outcome.deployed.join(", ")));
    Ok(outcome)
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

/// Checks the chart folder of every target (a folder inside the repository,
/// when it exists; helm reports a missing one) and reads its `Chart.yaml`
/// (a regular file of at most 1 MiB, when it exists). Every folder the chart
/// reaches through the `file://` entries of its dependency files
/// (`Chart.yaml`, `requirements.yaml`, `Chart.lock`, `requirements.lock`)
/// must be a chart inside the repository, and every schema in them may refer
/// only inside itself, as for a diff: helm reads this checkout's charts
/// directly. Returns the chart folders that list `file://` dependencies.
fn check_charts(
    root: &RepoRoot,
    cluster: &Cluster,
    targets: &[Target],
    options: &super::DeployOptions,
) -> Result<Vec<String>, Error> {
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
    let mut checked: Vec<&str> = Vec::new();
    for (chart, _) in &charts {
        for input in inputs.inputs(chart) {
            if checked.contains(&input.folder.as_str()) {
                continue;
            }
            checked.push(&input.folder);
            match root.read_tree(&input.folder, CHART_TREE_LIMITS) {
                Ok(tree) => problems.extend(check_chart_files(&input.folder, &tree)),
                Err(refused) => problems.push(refused_as(&refused, "chart folder")),
            }
        }
    }
    if !problems.is_empty() {
        return Err(Error::Config(problems));
    }
    Ok(charts
        .into_iter()
        .map(|(chart, _)| chart)
        .filter(|chart| {
            inputs
                .dependencies(chart)
                .iter()
                .any(|d| matches!(d.source, crate::config::charts::DependencySource::File(_)))
        })
        .collect())
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
            Ended::Stopped(signal) => format!("was stopped on {}", stop::signal_name(*signal)),
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
        } else {
            // The output has ended but the command may still run: keep watching it (and the signals).
            std::thread::sleep(Duration::from_millis(50));
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
                        stop::signal_name(signal),
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

/// A private temporary folder (mode 0700, files 0600) under the system's
/// temporary folder, removed with everything in it when dropped.
#[derive(Debug)]
pub(crate) struct PrivateDir {
    path: PathBuf,
}

impl PrivateDir {
    fn create() -> Result<Self, Error> {
        Self::create_named("deployer-secrets")
    }

    /// A new private folder named `<prefix>-<random>`.
    pub(crate) fn create_named(prefix: &str) -> Result<Self, Error> {
        let mut bytes = [0u8; 12];
        getrandom::fill(&mut bytes)
            .map_err(|e| Error::Runner(format!("no randomness for a temporary folder name: {e}")))?;
        let name: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let path = std::env::temp_dir().join(format!("{prefix}-{name}"));
        let mut builder = fs::DirBuilder::new();
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            builder.mode(0o700);
        }
        // `create`, not `create_all`: a folder that is already there is refused.
        builder.create(&path).map_err(|e| Error::io(&path, e))?;
        Ok(PrivateDir { path })
    }

    /// The folder.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Writes a new file readable by this user only.
    fn write(&self, name: &str, bytes: &[u8]) -> Result<PathBuf, Error> {
        let path = self.path.join(name);
        let mut options = fs::OpenOptions::new();
        // `create_new` (O_EXCL) refuses anything already there, a symbolic link included.
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600).custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC);
        }
        let mut file = options.open(&path).map_err(|e| Error::io(&path, e))?;
        file.write_all(bytes).map_err(|e| Error::io(&path, e))?;
        Ok(path)
    }
}

impl Drop for PrivateDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_dir_is_private_and_removed() {
        let dir = PrivateDir::create().unwrap();
        let path = dir.path.clone();
        let file = dir.write("0-enc-x.yaml", b"secret: 1\n").unwrap();
        assert_eq!(fs::read_to_string(&file).unwrap(), "secret: 1\n");
        assert!(dir.write("0-enc-x.yaml", b"again").is_err(), "never overwrites");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o700);
            assert_eq!(fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
        }
        drop(dir);
        assert!(!path.exists());
    }

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
