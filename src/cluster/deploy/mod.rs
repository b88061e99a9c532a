//! The `deploy` stage: which `helm` commands upgrade a cluster's support chart
//! and hubs, as values. Running them (sops, helm, the health check) is
//! [`run`]'s job.
//!
//! For each target, in the order given: `helm dependency build <chart>` when
//! the chart has `file://` dependencies (once per chart), then
//!
//! ```text
//! helm upgrade --install <release> helm-charts/<chart> --namespace <release> --create-namespace \
//!     -f <values file>... --timeout <timeout> --cleanup-on-fail
//! ```
//!
//! with the values files in the order `cluster.yaml` lists them, each `enc-*`
//! file replaced by its decrypted copy. With `wait: rollout` (the default) the
//! release's Deployments and DaemonSets are then watched until rolled out
//! ([`rollout`]); with `wait: helm`, helm waits (`--wait`, helm 4 `--wait=watcher`).
//! Before each upgrade, a release left pending is found and handled ([`pending`]). The support chart is the release
//! `support` of `helm-charts/support` in the namespace `support`.

pub mod before;
pub mod leg;
pub mod pending;
pub mod pinned;
pub mod records;
pub mod rollout;
pub mod run;
pub mod target_cluster;

use std::path::PathBuf;
use std::time::Duration;

use crate::base::error::Error;
use crate::base::runner::RunnerEnv;
use crate::config::{Cluster, ValuesFile};

/// Input names of `actions/deploy`.
pub mod inputs {
    pub const CLUSTER: &str = "cluster";
    pub const SUPPORT: &str = "support";
    pub const HUBS: &str = "hubs";
    pub const TIMEOUT: &str = "timeout";
    pub const HEALTH_CHECK: &str = "health-check";
    pub const HEALTH_CHECK_RETRIES: &str = "health-check-retries";
    pub const HEALTH_CHECK_TIMEOUT: &str = "health-check-timeout";
    pub const HEALTH_CHECK_DELAY: &str = "health-check-delay";
    pub const DRY_RUN: &str = "dry-run";
    pub const CONFIG: &str = "config";
    pub const WAIT: &str = "wait";
    pub const ATOMIC: &str = "atomic";
    pub const MODE: &str = "mode";
    pub const PENDING_RELEASE: &str = "pending-release";
    pub const LEG: &str = "leg";
    pub const MAX_PARALLEL_RELEASES: &str = "max-parallel-releases";
    pub const RESULTS_DIR: &str = "results-dir";
    pub const DEPLOYMENT_RECORDS: &str = "deployment-records";
    pub const GITHUB_TOKEN: &str = "github-token";
    /// The inputs of one cluster's deployment.
    pub const OWN: &[&str] = &[
        MODE,
        CLUSTER,
        SUPPORT,
        HUBS,
        TIMEOUT,
        WAIT,
        ATOMIC,
        PENDING_RELEASE,
        HEALTH_CHECK,
        HEALTH_CHECK_RETRIES,
        HEALTH_CHECK_TIMEOUT,
        HEALTH_CHECK_DELAY,
        DRY_RUN,
        CONFIG,
        DEPLOYMENT_RECORDS,
        GITHUB_TOKEN,
    ];
    /// The inputs only a leg reads.
    pub const LEG_ONLY: &[&str] = &[LEG, MAX_PARALLEL_RELEASES, RESULTS_DIR];
    const WITH_LEG: [&str; OWN.len() + LEG_ONLY.len()] = concat_names(OWN, LEG_ONLY);
    /// Every input the action reads: its own, a leg's, and `actions/setup-cluster`'s credentials.
    pub const ALL: &[&str] =
        &concat_names::<{ WITH_LEG.len() + setup::CREDENTIALS.len() }>(&WITH_LEG, setup::CREDENTIALS);
    /// The default of each input the code gives one (when the input is absent or empty), as
    /// `action.yml` must declare it (`tests/action_metadata.rs` checks it).
    pub fn defaults() -> Vec<(&'static str, String)> {
        use super::{PendingRelease, Wait};
        let mut defaults = vec![
            (SUPPORT, false.to_string()),
            (TIMEOUT, super::DEFAULT_TIMEOUT.to_owned()),
            (WAIT, Wait::default().as_str().to_owned()),
            (ATOMIC, false.to_string()),
            (PENDING_RELEASE, PendingRelease::default().as_str().to_owned()),
            (HEALTH_CHECK_RETRIES, super::DEFAULT_HEALTH_CHECK_RETRIES.to_string()),
            (HEALTH_CHECK_TIMEOUT, super::DEFAULT_HEALTH_CHECK_TIMEOUT_SECS.to_string()),
            (HEALTH_CHECK_DELAY, super::DEFAULT_HEALTH_CHECK_DELAY_SECS.to_string()),
            (DRY_RUN, false.to_string()),
            (DEPLOYMENT_RECORDS, false.to_string()),
            (MAX_PARALLEL_RELEASES, super::DEFAULT_PARALLEL_RELEASES.to_string()),
            (RESULTS_DIR, super::DEFAULT_RESULTS_DIR.to_owned()),
        ];
        defaults.extend(setup::defaults());
        defaults
    }
    use crate::base::runner::concat_names;
    use crate::cluster::access::stage::inputs as setup;
}

/// Output names of `actions/deploy`.
pub mod outputs {
    pub const DEPLOYED: &str = "deployed";
    /// With `leg`: the results file, relative to the workspace.
    pub const RESULTS_FILE: &str = "results-file";
    /// With `leg`: JSON array of the clusters that failed.
    pub const FAILED_CLUSTERS: &str = "failed-clusters";
    /// Every output the action writes.
    pub const ALL: &[&str] = &[DEPLOYED, RESULTS_FILE, FAILED_CLUSTERS];
}

use crate::config::SUPPORT_RELEASE;
/// A leg's results folder when `results-dir` is not given, relative to the workspace.
pub const DEFAULT_RESULTS_DIR: &str = "deploy-results";
/// A leg's `max-parallel-releases` when the input is absent: one release at a time.
pub const DEFAULT_PARALLEL_RELEASES: usize = 1;
/// `helm upgrade --timeout` when none is given.
pub const DEFAULT_TIMEOUT: &str = "10m";
/// Where the charts are, relative to the repository root.
pub const DEFAULT_CHARTS_DIR: &str = crate::config::CHARTS_DIR;
/// Health-check defaults: retries after the first attempt, seconds per attempt, seconds between attempts.
pub const DEFAULT_HEALTH_CHECK_RETRIES: u32 = 3;
pub const DEFAULT_HEALTH_CHECK_TIMEOUT_SECS: u64 = 60;
pub const DEFAULT_HEALTH_CHECK_DELAY_SECS: u64 = 10;

/// One thing to upgrade on a cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// The support chart.
    Support,
    /// A hub, by name.
    Hub(String),
}

impl Target {
    /// The Helm release (and namespace) name.
    pub fn release(&self) -> &str {
        match self {
            Target::Support => SUPPORT_RELEASE,
            Target::Hub(name) => name,
        }
    }
}

/// The major version of the helm that runs the commands: helm 4 renamed
/// flags (`--atomic` is `--rollback-on-failure`, `--wait` takes a strategy).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HelmMajor {
    V3,
    V4,
}

impl HelmMajor {
    /// From what `helm version --template '{{.Version}}'` prints (`v3.18.0`, `v4.1.4+g05fa379`).
    pub fn parse(version: &str) -> Result<HelmMajor, Error> {
        let version = version.trim();
        let major = version.strip_prefix('v').unwrap_or(version).split(['.', '+', '-']).next().unwrap_or_default();
        match major {
            "3" => Ok(HelmMajor::V3),
            "4" => Ok(HelmMajor::V4),
            _ => Err(Error::Command {
                program: "helm".into(),
                message: format!(
                    "`helm version` printed {}: deploy knows the flags of helm 3 and helm 4 only",
                    crate::base::diagnostic::quote_value(version)
                ),
            }),
        }
    }
}

/// How a deploy waits for a release to be ready after `helm upgrade` (the `wait` input).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Wait {
    /// `helm upgrade` without `--wait`, then the release's Deployments and DaemonSets watched
    /// until rolled out, failing at once when one cannot progress ([`rollout`]). The default.
    #[default]
    Rollout,
    /// Helm's own wait (`--wait`; helm 4: `--wait=watcher`), as the Python deployer did.
    Helm,
    /// No wait: done when helm has applied the objects.
    None,
}

impl Wait {
    /// The input's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Wait::Rollout => "rollout",
            Wait::Helm => "helm",
            Wait::None => "none",
        }
    }

    /// `rollout`, `helm` or `none`; `true` and `false` (the old boolean input) are `helm` and `none`.
    pub fn parse(input: &str, text: &str) -> Result<Wait, Error> {
        match text.trim().to_ascii_lowercase().as_str() {
            "rollout" => Ok(Wait::Rollout),
            "helm" | "true" => Ok(Wait::Helm),
            "none" | "false" => Ok(Wait::None),
            other => Err(Error::input(
                input,
                format!(
                    "expected `rollout`, `helm` or `none` (`true` is `helm`, `false` is `none`), got {}",
                    crate::base::diagnostic::quote_value(other)
                ),
            )),
        }
    }
}

/// What a deploy does about a release whose latest revision is left `pending-*` (a deploy
/// stopped mid-upgrade), which helm refuses to upgrade (the `pending-release` input).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum PendingRelease {
    /// Roll back to the last `deployed`/`superseded` revision (uninstall a `pending-install`
    /// with none), then upgrade. The default.
    #[default]
    Rollback,
    /// Stop with an error saying how to recover.
    Fail,
}

impl PendingRelease {
    /// The input's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            PendingRelease::Rollback => "rollback",
            PendingRelease::Fail => "fail",
        }
    }

    /// `rollback` or `fail`.
    pub fn parse(input: &str, text: &str) -> Result<PendingRelease, Error> {
        match text.trim() {
            "rollback" => Ok(PendingRelease::Rollback),
            "fail" => Ok(PendingRelease::Fail),
            other => Err(Error::input(
                input,
                format!("expected `rollback` or `fail`, got {}", crate::base::diagnostic::quote_value(other)),
            )),
        }
    }
}

/// Settings of the `helm upgrade` commands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeployOptions {
    /// `helm upgrade --timeout`, a Go duration such as `10m`; with [`Wait::Rollout`], also how
    /// long the rollout is watched.
    pub timeout: String,
    /// The charts folder, relative to the repository root.
    pub charts_dir: String,
    /// How to wait until the release's resources are ready. Default: [`Wait::Rollout`].
    pub wait: Wait,
    /// Roll back to the last good release on failure. Default off, as the Python deployer.
    /// With [`Wait::Rollout`] the deploy rolls back itself (`helm rollback`) when the upgrade
    /// or the rollout fails; otherwise helm does (`--atomic`; helm 4: `--rollback-on-failure`).
    pub atomic: bool,
    /// What to do about a release left pending.
    pub pending: PendingRelease,
    /// Which helm's flags to pass; found with `helm version` before a deploy.
    pub helm: HelmMajor,
    /// When deploying a matrix item: the item's `rollout` of each hub of the cluster (its wave and
    /// chart commit), which says which hubs run their chart at a pin ([`pinned`]). `None` without an
    /// item: the checkout's state file says.
    pub rollouts: Option<std::collections::BTreeMap<String, crate::config::rollout::JobRollout>>,
}

impl Default for DeployOptions {
    fn default() -> Self {
        DeployOptions {
            timeout: DEFAULT_TIMEOUT.into(),
            charts_dir: DEFAULT_CHARTS_DIR.into(),
            wait: Wait::default(),
            atomic: false,
            pending: PendingRelease::default(),
            helm: HelmMajor::V4,
            rollouts: None,
        }
    }
}

/// The flags after the values files: wait, timeout, cleanup and rollback, in
/// the spelling of `options.helm`. With [`Wait::Rollout`] helm neither waits nor rolls back
/// (both imply waiting): the deploy watches the rollout and rolls back itself.
pub fn upgrade_flags(options: &DeployOptions) -> Vec<String> {
    let mut flags: Vec<String> = Vec::new();
    if options.wait == Wait::Helm {
        flags.push(match options.helm {
            HelmMajor::V3 => "--wait".into(),
            HelmMajor::V4 => "--wait=watcher".into(),
        });
    }
    flags.extend(["--timeout".to_owned(), options.timeout.clone(), "--cleanup-on-fail".to_owned()]);
    if options.atomic && options.wait != Wait::Rollout {
        flags.push(match options.helm {
            HelmMajor::V3 => "--atomic".into(),
            HelmMajor::V4 => "--rollback-on-failure".into(),
        });
    }
    flags
}

/// What a [`Step`] does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepKind {
    /// `helm dependency build` of a chart (a path such as `helm-charts/basehub`),
    /// before the first upgrade that uses it.
    DependencyBuild { chart: String },
    /// `helm upgrade --install` of the step's target.
    Upgrade,
    /// Step `index` of `charts.<chart>.before` in `deployer.yaml` (`kubectl apply` or
    /// `helm upgrade --install`), before the first release of the chart; `local_file` is
    /// the repository file it applies, when it is not a URL.
    Before { chart: String, index: usize, local_file: Option<String> },
}

/// One command to run for a target: `argv[0]` is the program.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub target: Target,
    pub kind: StepKind,
    pub argv: Vec<String>,
}

impl Step {
    /// The command line, shell-quoted, for the log.
    pub fn command_line(&self) -> String {
        command_line(&self.argv)
    }

    /// The log group title: `helm upgrade staging`, `helm dependency build helm-charts/basehub`.
    pub fn title(&self) -> String {
        match &self.kind {
            StepKind::DependencyBuild { chart } => format!("helm dependency build {chart}"),
            StepKind::Upgrade => format!("helm upgrade {}", self.target.release()),
            StepKind::Before { chart, index, .. } => {
                let what = match self.argv.first().map(String::as_str) {
                    Some("kubectl") => format!("kubectl apply {}", self.argv.last().map_or("", String::as_str)),
                    _ => format!("helm upgrade {}", self.argv.get(3).map_or("", String::as_str)),
                };
                format!("{what} (before {chart} step {})", index + 1)
            }
        }
    }
}

/// What `actions/deploy` does: upgrade releases (the default), or only run
/// the health check of hubs, with no helm at all (the `mode` input).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Upgrade,
    HealthCheck,
}

impl Mode {
    /// The input's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Upgrade => "upgrade",
            Mode::HealthCheck => "health-check",
        }
    }

    /// The `mode` input: `None` when it is not given (a `leg` item then decides; the single form upgrades).
    pub fn from_env(env: &RunnerEnv) -> Result<Option<Mode>, Error> {
        match env.input(inputs::MODE).map(str::trim) {
            None => Ok(None),
            Some("upgrade") => Ok(Some(Mode::Upgrade)),
            Some("health-check") => Ok(Some(Mode::HealthCheck)),
            Some(other) => Err(Error::input(
                inputs::MODE,
                format!("expected `upgrade` or `health-check`, got {}", crate::base::diagnostic::quote_value(other)),
            )),
        }
    }
}

/// The health check run after each hub upgrade: a shell command (`sh -c`),
/// tried `1 + retries` times, each attempt killed after `timeout`, with
/// `delay` between attempts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthCheck {
    pub command: String,
    pub retries: u32,
    pub timeout: Duration,
    pub delay: Duration,
}

/// The chart folder of a target, relative to the repository: `helm-charts/<chart>`.
pub fn chart_path(cluster: &Cluster, target: &Target, options: &DeployOptions) -> String {
    let chart = match target {
        Target::Support => SUPPORT_RELEASE,
        // Targets come from `resolve_targets`, which knows every hub; there is no default chart.
        Target::Hub(name) => cluster.hubs.iter().find(|h| &h.name == name).map_or("", |h| h.helm_chart.as_str()),
    };
    let dir = options.charts_dir.trim_end_matches('/');
    if dir.is_empty() {
        chart.to_owned()
    } else {
        format!("{dir}/{chart}")
    }
}

/// The values files of a target, in `cluster.yaml` order.
pub fn values_files<'a>(cluster: &'a Cluster, target: &Target) -> &'a [ValuesFile] {
    match target {
        Target::Support => cluster.support.as_ref().map_or(&[], |s| s.values_files.as_slice()),
        Target::Hub(name) => cluster.hubs.iter().find(|h| &h.name == name).map_or(&[], |h| h.values_files.as_slice()),
    }
}

/// The targets of a request: the support chart first when asked for, then
/// the hubs in the order given (each once). An unknown hub, or the support
/// chart of a cluster that has none, is an error naming what there is.
pub fn resolve_targets(cluster: &Cluster, support: bool, hubs: &[String]) -> Result<Vec<Target>, Error> {
    let mut targets = Vec::new();
    if support {
        if cluster.support.is_none() {
            return Err(Error::input(
                inputs::SUPPORT,
                format!("cluster `{}` has no support chart (no `support` block in {})", cluster.name, cluster.file),
            ));
        }
        targets.push(Target::Support);
    }
    let unknown: Vec<&str> =
        hubs.iter().map(String::as_str).filter(|name| !cluster.hubs.iter().any(|h| h.name == *name)).collect();
    if !unknown.is_empty() {
        let known: Vec<&str> = cluster.hubs.iter().map(|h| h.name.as_str()).collect();
        let listed = if known.is_empty() { "none".to_owned() } else { known.join(", ") };
        return Err(Error::input(
            inputs::HUBS,
            format!(
                "no hub named {} on cluster `{}` ({}); its hubs: {listed}",
                unknown.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", "),
                cluster.name,
                cluster.file
            ),
        ));
    }
    for name in hubs {
        let target = Target::Hub(name.clone());
        if !targets.contains(&target) {
            targets.push(target);
        }
    }
    Ok(targets)
}

/// The commands that upgrade `targets`, in order. `dependency_folders`
/// gives the folders whose dependencies (`file://` or remote) helm fetches
/// before a chart folder (as [`chart_path`] gives it) is installed, deepest
/// first (a `file://` dependency's own before the chart that packages it);
/// `given` gives the path helm gets for each values file of a target (the
/// decrypted copy of an `enc-*` file, the rendered JSON of a `.jsonnet` one);
/// `before` ([`before::before_steps`]) go in first, each before the
/// commands of its target;
/// `chart_copy` gives the chart folder of a target deployed from a private
/// copy (a hub's `chart_override`).
pub fn plan_commands(
    cluster: &Cluster,
    targets: &[Target],
    options: &DeployOptions,
    dependency_folders: &dyn Fn(&str) -> Vec<String>,
    given: &dyn Fn(&Target, &ValuesFile) -> PathBuf,
    before: &[Step],
    chart_copy: &dyn Fn(&Target) -> Option<String>,
) -> Vec<Step> {
    let mut steps = Vec::new();
    let mut built: Vec<String> = Vec::new();
    for target in targets {
        steps.extend(before.iter().filter(|step| &step.target == target).cloned());
        let chart = chart_copy(target).unwrap_or_else(|| chart_path(cluster, target, options));
        for folder in dependency_folders(&chart) {
            if built.contains(&folder) {
                continue;
            }
            steps.push(Step {
                target: target.clone(),
                kind: StepKind::DependencyBuild { chart: folder.clone() },
                argv: ["helm", "dependency", "build", &folder].map(str::to_owned).to_vec(),
            });
            built.push(folder);
        }
        let release = target.release();
        let mut argv: Vec<String> =
            ["helm", "upgrade", "--install", release, &chart, "--namespace", release].map(str::to_owned).to_vec();
        argv.push("--create-namespace".into());
        for file in values_files(cluster, target) {
            argv.push("-f".into());
            argv.push(given(target, file).to_string_lossy().into_owned());
        }
        argv.extend(upgrade_flags(options));
        steps.push(Step { target: target.clone(), kind: StepKind::Upgrade, argv });
    }
    steps
}

/// The path helm gets for a values file: `decrypted` for an `enc-*` file, `rendered` for a
/// `.jsonnet` one (never handed to helm as jsonnet: empty when it was not rendered), else the
/// file itself.
pub fn given_path(
    file: &ValuesFile,
    decrypted: impl FnOnce() -> PathBuf,
    rendered: impl FnOnce() -> Option<PathBuf>,
) -> PathBuf {
    if crate::config::jsonnet::is_jsonnet(&file.path) {
        rendered().unwrap_or_default()
    } else if crate::tools::sops::is_encrypted(&file.path) {
        decrypted()
    } else {
        PathBuf::from(&file.path)
    }
}

/// The `enc-*` values files of `targets`, each once, in the order they are used.
pub fn encrypted_files<'a>(cluster: &'a Cluster, targets: &[Target]) -> Vec<&'a ValuesFile> {
    let mut found: Vec<&ValuesFile> = Vec::new();
    for target in targets {
        for file in values_files(cluster, target) {
            if crate::tools::sops::is_encrypted(&file.path) && !found.contains(&file) {
                found.push(file);
            }
        }
    }
    found
}

/// Whether a `Chart.yaml` lists a dependency whose `repository` is a
/// `file://` path (these need `helm dependency build` before an upgrade).
/// A file that does not parse, or that has anchors, aliases or deep nesting,
/// says no: helm reports it better.
pub fn has_file_dependencies(chart_yaml: &str) -> bool {
    if crate::config::yaml_guard::check(chart_yaml).is_err() {
        return false;
    }
    #[derive(serde::Deserialize)]
    struct Chart {
        #[serde(default)]
        dependencies: Option<Vec<Dependency>>,
    }
    #[derive(serde::Deserialize)]
    struct Dependency {
        #[serde(default)]
        repository: Option<String>,
    }
    yaml_serde::from_str::<Chart>(chart_yaml).ok().and_then(|c| c.dependencies).is_some_and(|deps| {
        deps.iter().any(|d| d.repository.as_deref().is_some_and(|r| r.trim_start().starts_with("file://")))
    })
}

/// Parses a hub list: comma- or newline-separated names, or a JSON array of
/// names (as `toJSON(matrix.jobs.staging_hubs)` gives). Blank entries are dropped.
pub fn parse_hub_list(input: &str, text: &str) -> Result<Vec<String>, Error> {
    let trimmed = text.trim();
    let names: Vec<String> = if trimmed.starts_with('[') {
        serde_json::from_str::<Vec<String>>(trimmed)
            .map_err(|e| Error::input(input, format!("not a JSON array of hub names: {e}")))?
    } else {
        trimmed.split([',', '\n']).map(str::to_owned).collect()
    };
    Ok(names.into_iter().map(|n| n.trim().to_owned()).filter(|n| !n.is_empty()).collect())
}

/// Checks a `helm --timeout` value: a Go duration such as `10m`, `90s` or `1h30m`.
pub fn check_timeout(input: &str, text: &str) -> Result<(), Error> {
    let bad = || Error::input(input, format!("`{text}` is not a duration such as `10m`, `600s` or `1h30m`"));
    let mut rest = text;
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let number = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).ok_or_else(bad)?;
        if number == 0 || rest[..number].matches('.').count() > 1 || rest[..number].ends_with('.') {
            return Err(bad());
        }
        rest = &rest[number..];
        let unit = ["ns", "us", "µs", "ms", "h", "m", "s"].into_iter().find(|u| rest.starts_with(u)).ok_or_else(bad)?;
        rest = &rest[unit.len()..];
    }
    Ok(())
}

/// One argument, quoted for a POSIX shell when it needs to be.
pub fn shell_quote(arg: &str) -> String {
    let plain = !arg.is_empty()
        && arg
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/' | ':' | '=' | ',' | '+' | '@'));
    if plain {
        arg.to_owned()
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
    }
}

/// A command line, shell-quoted.
pub fn command_line(argv: &[String]) -> String {
    argv.iter().map(|a| shell_quote(a)).collect::<Vec<_>>().join(" ")
}

/// What to deploy, and how: the parsed inputs of the action or flags of the CLI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeployRequest {
    /// The repository checkout; helm runs here, with repository-relative paths.
    pub repo: PathBuf,
    /// Settings file, relative to the repository.
    pub config: Option<PathBuf>,
    pub cluster: String,
    pub support: bool,
    pub hubs: Vec<String>,
    pub options: DeployOptions,
    pub health_check: Option<HealthCheck>,
    /// Print the commands instead of running them; nothing is decrypted.
    pub dry_run: bool,
    /// Variables added to the environment of helm, sops and the health check (a leg's
    /// per-cluster `KUBECONFIG` and sops credentials); empty: the step's own environment.
    pub env: Vec<(String, String)>,
    /// Whether the `before` steps of `deployer.yaml` run with the releases, alone, or not at all.
    pub before: BeforeMode,
    /// Who is told of each release upgraded (GitHub Deployments with `deployment-records`); none by default.
    pub records: records::ReleaseRecords,
}

/// What a deploy does about the `charts.<chart>.before` steps of its targets' charts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum BeforeMode {
    /// Each chart's steps before its first release (the default).
    #[default]
    Run,
    /// The steps alone, no release: a leg runs them once before upgrading hubs in parallel.
    Only,
    /// No steps: they ran already in this leg.
    Skip,
}

impl DeployRequest {
    /// Reads the inputs of `actions/deploy`; the repository is `GITHUB_WORKSPACE`.
    pub fn from_env(env: &RunnerEnv) -> Result<Self, Error> {
        let cluster = env
            .input(inputs::CLUSTER)
            .ok_or_else(|| {
                Error::input(inputs::CLUSTER, "is required: the cluster name (or give `leg`, a whole matrix item)")
            })?
            .to_owned();
        let hubs = match env.input(inputs::HUBS) {
            Some(text) => parse_hub_list(inputs::HUBS, text)?,
            None => Vec::new(),
        };
        let support = env.bool_input(inputs::SUPPORT, false)?;
        Ok(DeployRequest { cluster, support, hubs, ..Self::how_from_env(env)? })
    }

    /// The inputs that say how to deploy (not what): every field but `cluster`, `support` and `hubs`.
    pub fn how_from_env(env: &RunnerEnv) -> Result<Self, Error> {
        let timeout = env.input(inputs::TIMEOUT).unwrap_or(DEFAULT_TIMEOUT).to_owned();
        check_timeout(inputs::TIMEOUT, &timeout)?;
        let health_check = match env.input(inputs::HEALTH_CHECK) {
            None => None,
            Some(command) => Some(HealthCheck {
                command: command.to_owned(),
                retries: number_input(env, inputs::HEALTH_CHECK_RETRIES, DEFAULT_HEALTH_CHECK_RETRIES.into(), 0)?
                    .try_into()
                    .map_err(|_| Error::input(inputs::HEALTH_CHECK_RETRIES, "is too large"))?,
                timeout: Duration::from_secs(number_input(
                    env,
                    inputs::HEALTH_CHECK_TIMEOUT,
                    DEFAULT_HEALTH_CHECK_TIMEOUT_SECS,
                    1,
                )?),
                delay: Duration::from_secs(number_input(
                    env,
                    inputs::HEALTH_CHECK_DELAY,
                    DEFAULT_HEALTH_CHECK_DELAY_SECS,
                    0,
                )?),
            }),
        };
        Ok(DeployRequest {
            repo: env.workspace(),
            config: env.input(inputs::CONFIG).map(PathBuf::from),
            cluster: String::new(),
            support: false,
            hubs: Vec::new(),
            options: DeployOptions {
                timeout,
                wait: match env.input(inputs::WAIT) {
                    Some(text) => Wait::parse(inputs::WAIT, text)?,
                    None => Wait::default(),
                },
                atomic: env.bool_input(inputs::ATOMIC, false)?,
                pending: match env.input(inputs::PENDING_RELEASE) {
                    Some(text) => PendingRelease::parse(inputs::PENDING_RELEASE, text)?,
                    None => PendingRelease::default(),
                },
                ..DeployOptions::default()
            },
            health_check,
            dry_run: env.bool_input(inputs::DRY_RUN, false)?,
            env: Vec::new(),
            before: BeforeMode::Run,
            records: records::ReleaseRecords::default(),
        })
    }
}

/// A whole-number input of at least `min`; absent means `default`.
fn number_input(env: &RunnerEnv, name: &str, default: u64, min: u64) -> Result<u64, Error> {
    match env.input(name) {
        None => Ok(default),
        Some(text) => match text.parse::<u64>() {
            Ok(n) if n >= min && n <= 86_400 => Ok(n),
            _ => Err(Error::input(name, format!("expected a whole number from {min} to 86400, got `{text}`"))),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{AccessBlocks, Hub, Provider, Support};

    fn file(path: &str) -> ValuesFile {
        ValuesFile { path: path.into() }
    }

    fn cluster() -> Cluster {
        let dir = "config/clusters/c1";
        let hub = |name: &str, chart: &str, files: &[&str]| Hub {
            name: name.into(),
            helm_chart: chart.into(),
            values_files: files.iter().map(|f| file(&format!("{dir}/{f}"))).collect(),
            chart_override: None,
            domain_override_file: None,
            domain: None,
        };
        Cluster {
            name: "c1".into(),
            provider: Provider::Gcp,
            file: format!("{dir}/cluster.yaml"),
            dir: dir.into(),
            support: Some(Support {
                values_files: vec![
                    file(&format!("{dir}/support.values.yaml")),
                    file(&format!("{dir}/enc-support.secret.values.yaml")),
                ],
            }),
            hubs: vec![
                hub("staging", "basehub", &["common.values.yaml", "staging.values.yaml"]),
                hub("dask-staging", "daskhub", &["common.values.yaml", "dask-staging.values.yaml"]),
                hub("prod", "basehub", &["common.values.yaml", "prod.values.yaml", "enc-prod.secret.values.yaml"]),
                hub("bare", "basehub", &[]),
            ],
            access: AccessBlocks::default(),
            infrastructure_provider: "gcp",
        }
    }

    fn decrypted(file: &ValuesFile) -> PathBuf {
        PathBuf::from("/tmp/private").join(file.basename())
    }

    fn argv_lines(targets: &[Target], with_deps: &[&str], options: &DeployOptions) -> Vec<String> {
        let deps = |chart: &str| if with_deps.contains(&chart) { vec![chart.to_owned()] } else { Vec::new() };
        plan_commands(
            &cluster(),
            targets,
            options,
            &deps,
            &|_, file| given_path(file, || decrypted(file), || None),
            &[],
            &|_| None,
        )
        .iter()
        .map(Step::command_line)
        .collect()
    }

    #[test]
    fn the_exact_helm_commands() {
        let hub = |n: &str| Target::Hub(n.into());
        let default = DeployOptions::default();
        // (targets, charts with `file://` dependencies, options, expected command lines)
        type Case<'a> = (Vec<Target>, Vec<&'a str>, DeployOptions, Vec<&'a str>);
        let cases: Vec<Case> = vec![
            (
                vec![Target::Support],
                vec![],
                default.clone(),
                vec!["helm upgrade --install support helm-charts/support --namespace support --create-namespace \
                      -f config/clusters/c1/support.values.yaml -f /tmp/private/enc-support.secret.values.yaml \
                      --timeout 10m --cleanup-on-fail"],
            ),
            (
                vec![hub("staging")],
                vec![],
                DeployOptions { timeout: "1h30m".into(), ..default.clone() },
                vec!["helm upgrade --install staging helm-charts/basehub --namespace staging --create-namespace \
                      -f config/clusters/c1/common.values.yaml -f config/clusters/c1/staging.values.yaml \
                      --timeout 1h30m --cleanup-on-fail"],
            ),
            (
                vec![hub("staging"), hub("dask-staging"), hub("prod")],
                vec!["helm-charts/basehub"],
                default.clone(),
                vec![
                    "helm dependency build helm-charts/basehub",
                    "helm upgrade --install staging helm-charts/basehub --namespace staging --create-namespace \
                     -f config/clusters/c1/common.values.yaml -f config/clusters/c1/staging.values.yaml \
                     --timeout 10m --cleanup-on-fail",
                    "helm upgrade --install dask-staging helm-charts/daskhub --namespace dask-staging --create-namespace \
                     -f config/clusters/c1/common.values.yaml -f config/clusters/c1/dask-staging.values.yaml \
                     --timeout 10m --cleanup-on-fail",
                    "helm upgrade --install prod helm-charts/basehub --namespace prod --create-namespace \
                     -f config/clusters/c1/common.values.yaml -f config/clusters/c1/prod.values.yaml \
                     -f /tmp/private/enc-prod.secret.values.yaml --timeout 10m --cleanup-on-fail",
                ],
            ),
            (
                vec![hub("bare")],
                vec![],
                DeployOptions { charts_dir: "charts/".into(), ..default.clone() },
                vec!["helm upgrade --install bare charts/basehub --namespace bare --create-namespace \
                      --timeout 10m --cleanup-on-fail"],
            ),
        ];
        for (targets, deps, options, expected) in cases {
            let expected: Vec<String> =
                expected.iter().map(|l| l.split_whitespace().collect::<Vec<_>>().join(" ")).collect();
            assert_eq!(argv_lines(&targets, &deps, &options), expected, "{targets:?}");
        }
    }

    #[test]
    fn upgrade_argv_is_one_argument_each() {
        let steps = plan_commands(
            &cluster(),
            &[Target::Support],
            &DeployOptions::default(),
            &|_| Vec::new(),
            &|_, file| given_path(file, || decrypted(file), || None),
            &[],
            &|_| None,
        );
        assert_eq!(steps.len(), 1);
        assert_eq!((&steps[0].target, &steps[0].kind), (&Target::Support, &StepKind::Upgrade));
        assert_eq!(steps[0].title(), "helm upgrade support");
        assert_eq!(
            steps[0].argv,
            [
                "helm",
                "upgrade",
                "--install",
                "support",
                "helm-charts/support",
                "--namespace",
                "support",
                "--create-namespace",
                "-f",
                "config/clusters/c1/support.values.yaml",
                "-f",
                "/tmp/private/enc-support.secret.values.yaml",
                "--timeout",
                "10m",
                "--cleanup-on-fail"
            ]
        );
    }

    #[test]
    fn targets_are_checked_against_the_cluster() {
        let c = cluster();
        let names = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(
            resolve_targets(&c, true, &names(&["staging", "prod", "staging"])).unwrap(),
            [Target::Support, Target::Hub("staging".into()), Target::Hub("prod".into())]
        );
        assert_eq!(resolve_targets(&c, false, &[]).unwrap(), []);
        let error = resolve_targets(&c, true, &names(&["staging", "nope", "neither"])).unwrap_err().to_string();
        assert_eq!(
            error,
            "invalid input `hubs`: no hub named `nope`, `neither` on cluster `c1` (config/clusters/c1/cluster.yaml); \
             its hubs: staging, dask-staging, prod, bare"
        );
        let mut bare = c.clone();
        bare.support = None;
        assert_eq!(
            resolve_targets(&bare, true, &[]).unwrap_err().to_string(),
            "invalid input `support`: cluster `c1` has no support chart (no `support` block in config/clusters/c1/cluster.yaml)"
        );
    }

    #[test]
    fn encrypted_files_once_in_order() {
        let c = cluster();
        let targets = [Target::Hub("prod".into()), Target::Support, Target::Hub("staging".into())];
        let found: Vec<&str> = encrypted_files(&c, &targets).iter().map(|f| f.path.as_str()).collect();
        assert_eq!(
            found,
            ["config/clusters/c1/enc-prod.secret.values.yaml", "config/clusters/c1/enc-support.secret.values.yaml"]
        );
        assert!(encrypted_files(&c, &[Target::Hub("staging".into())]).is_empty());
    }

    #[test]
    fn file_dependencies_in_chart_yaml() {
        assert!(has_file_dependencies(
            "apiVersion: v2\nname: x\nversion: 0.1.0\ndependencies:\n  - name: basehub\n    version: 0.1.0\n    repository: file://../basehub\n"
        ));
        assert!(!has_file_dependencies(
            "apiVersion: v2\nname: x\ndependencies:\n  - name: jupyterhub\n    repository: https://hub.jupyter.org/helm-chart/\n"
        ));
        assert!(!has_file_dependencies("apiVersion: v2\nname: x\nversion: 0.1.0\n"));
        assert!(!has_file_dependencies("dependencies: [\n"));
        assert!(!has_file_dependencies("dependencies:\n  - name: local\n"));
    }

    #[test]
    fn hub_lists() {
        assert_eq!(parse_hub_list("hubs", r#"["staging", "dask-staging"]"#).unwrap(), ["staging", "dask-staging"]);
        assert_eq!(parse_hub_list("hubs", " a, b\nc,,\n").unwrap(), ["a", "b", "c"]);
        assert_eq!(parse_hub_list("hubs", "[]").unwrap(), Vec::<String>::new());
        assert_eq!(parse_hub_list("hubs", "").unwrap(), Vec::<String>::new());
        assert!(parse_hub_list("hubs", "[1]")
            .unwrap_err()
            .to_string()
            .starts_with("invalid input `hubs`: not a JSON array"));
    }

    #[test]
    fn helm_versions_and_the_flags_of_each() {
        let versions: &[(&str, Option<HelmMajor>)] = &[
            ("v3.18.0", Some(HelmMajor::V3)),
            ("v3.19.0+g3d8990f", Some(HelmMajor::V3)),
            ("v4.1.4+g05fa379", Some(HelmMajor::V4)),
            ("4.0.0\n", Some(HelmMajor::V4)),
            ("v2.17.0", None),
            ("v5.0.0", None),
            ("", None),
        ];
        for (text, want) in versions {
            assert_eq!(HelmMajor::parse(text).ok(), *want, "{text:?}");
        }
        assert!(HelmMajor::parse("v2.17.0").unwrap_err().to_string().contains("helm 3 and helm 4 only"));

        let flags = |helm, wait, atomic| {
            upgrade_flags(&DeployOptions { helm, wait, atomic, ..DeployOptions::default() }).join(" ")
        };
        let cases: &[(HelmMajor, Wait, bool, &str)] = &[
            (HelmMajor::V3, Wait::Helm, false, "--wait --timeout 10m --cleanup-on-fail"),
            (HelmMajor::V3, Wait::None, false, "--timeout 10m --cleanup-on-fail"),
            (HelmMajor::V3, Wait::Helm, true, "--wait --timeout 10m --cleanup-on-fail --atomic"),
            (HelmMajor::V3, Wait::None, true, "--timeout 10m --cleanup-on-fail --atomic"),
            (HelmMajor::V3, Wait::Rollout, false, "--timeout 10m --cleanup-on-fail"),
            // The deploy rolls back itself: helm's flag would make helm wait.
            (HelmMajor::V3, Wait::Rollout, true, "--timeout 10m --cleanup-on-fail"),
            (HelmMajor::V4, Wait::Helm, false, "--wait=watcher --timeout 10m --cleanup-on-fail"),
            (HelmMajor::V4, Wait::None, false, "--timeout 10m --cleanup-on-fail"),
            (HelmMajor::V4, Wait::Helm, true, "--wait=watcher --timeout 10m --cleanup-on-fail --rollback-on-failure"),
            (HelmMajor::V4, Wait::Rollout, true, "--timeout 10m --cleanup-on-fail"),
        ];
        for (helm, wait, atomic, want) in cases {
            assert_eq!(flags(*helm, *wait, *atomic), *want, "{helm:?} wait={wait:?} atomic={atomic}");
        }
    }

    #[test]
    fn wait_and_pending_inputs() {
        for (text, want) in [
            ("rollout", Wait::Rollout),
            ("helm", Wait::Helm),
            ("true", Wait::Helm),
            ("True", Wait::Helm),
            ("none", Wait::None),
            ("false", Wait::None),
        ] {
            assert_eq!(Wait::parse("wait", text).unwrap(), want, "{text}");
        }
        assert_eq!(
            Wait::parse("wait", "yes").unwrap_err().to_string(),
            "invalid input `wait`: expected `rollout`, `helm` or `none` (`true` is `helm`, `false` is `none`), got `yes`"
        );
        assert_eq!(PendingRelease::parse("pending-release", "fail").unwrap(), PendingRelease::Fail);
        assert!(PendingRelease::parse("pending-release", "ignore").is_err());
        let env = RunnerEnv::from_vars([("INPUT_WAIT", "true"), ("INPUT_PENDING-RELEASE", "fail")]);
        let how = DeployRequest::how_from_env(&env).unwrap();
        assert_eq!((how.options.wait, how.options.pending), (Wait::Helm, PendingRelease::Fail));
        let how = DeployRequest::how_from_env(&RunnerEnv::from_vars([("INPUT_WAIT", "")])).unwrap();
        assert_eq!((how.options.wait, how.options.pending), (Wait::Rollout, PendingRelease::Rollback));
    }

    #[test]
    fn timeouts() {
        for good in ["10m", "600s", "1h30m", "1.5h", "250ms"] {
            assert!(check_timeout("timeout", good).is_ok(), "{good}");
        }
        for bad in ["", "10", "m", "--wait", "10 m", "1..5h", "5.h", "10d"] {
            assert_eq!(
                check_timeout("timeout", bad).unwrap_err().to_string(),
                format!("invalid input `timeout`: `{bad}` is not a duration such as `10m`, `600s` or `1h30m`"),
                "{bad}"
            );
        }
    }

    #[test]
    fn shell_quoting() {
        assert_eq!(shell_quote("helm-charts/basehub"), "helm-charts/basehub");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote("$HOME"), "'$HOME'");
        assert_eq!(command_line(&["sh".into(), "-c".into(), "curl -f x".into()]), "sh -c 'curl -f x'");
    }

    #[test]
    fn action_inputs() {
        let env = RunnerEnv::from_vars([
            ("GITHUB_WORKSPACE", "/github/workspace"),
            ("INPUT_CLUSTER", "c1"),
            ("INPUT_SUPPORT", "true"),
            ("INPUT_HUBS", r#"["staging","dask-staging"]"#),
            ("INPUT_TIMEOUT", "20m"),
            ("INPUT_HEALTH-CHECK", "curl -f https://x"),
            ("INPUT_HEALTH-CHECK-RETRIES", "2"),
            ("INPUT_HEALTH-CHECK-TIMEOUT", "30"),
            ("INPUT_HEALTH-CHECK-DELAY", "0"),
            ("INPUT_DRY-RUN", "false"),
        ]);
        let request = DeployRequest::from_env(&env).unwrap();
        assert_eq!(
            request,
            DeployRequest {
                repo: PathBuf::from("/github/workspace"),
                config: None,
                cluster: "c1".into(),
                support: true,
                hubs: vec!["staging".into(), "dask-staging".into()],
                options: DeployOptions {
                    timeout: "20m".into(),
                    charts_dir: "helm-charts".into(),
                    ..DeployOptions::default()
                },
                health_check: Some(HealthCheck {
                    command: "curl -f https://x".into(),
                    retries: 2,
                    timeout: Duration::from_secs(30),
                    delay: Duration::ZERO,
                }),
                dry_run: false,
                env: Vec::new(),
                before: BeforeMode::Run,
                records: records::ReleaseRecords::default(),
            }
        );
        let minimal = DeployRequest::from_env(&RunnerEnv::from_vars([("INPUT_CLUSTER", "c1")])).unwrap();
        assert!(!minimal.support && minimal.hubs.is_empty() && minimal.health_check.is_none() && !minimal.dry_run);
        assert_eq!(minimal.options, DeployOptions::default());

        let error = |vars: &[(&str, &str)]| {
            DeployRequest::from_env(&RunnerEnv::from_vars(vars.to_vec())).unwrap_err().to_string()
        };
        assert_eq!(
            error(&[]),
            "invalid input `cluster`: is required: the cluster name (or give `leg`, a whole matrix item)"
        );
        assert_eq!(
            error(&[("INPUT_CLUSTER", "c1"), ("INPUT_HEALTH-CHECK", "true"), ("INPUT_HEALTH-CHECK-TIMEOUT", "0")]),
            "invalid input `health-check-timeout`: expected a whole number from 1 to 86400, got `0`"
        );
        assert_eq!(
            error(&[("INPUT_CLUSTER", "c1"), ("INPUT_TIMEOUT", "--debug")]),
            "invalid input `timeout`: `--debug` is not a duration such as `10m`, `600s` or `1h30m`"
        );
    }
}
