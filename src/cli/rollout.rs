//! `deployer rollout status | promote | next`: where each rolled chart's waves stand (pins, soak, the
//! health of their releases from GitHub Deployments) and the promotion of the next wave: the state file
//! edited in the checkout (`promote`), or a pull request opened through the GitHub API (`next`, for a
//! scheduled workflow). The decisions are `planning::rollout_gate`'s; this file reads and writes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};
use base64::Engine as _;
use clap::{Subcommand, ValueEnum};
use deployer::base::event::RepoRef;
use deployer::base::repo_fs::RepoRoot;
use deployer::base::runner::{self, RunnerEnv};
use deployer::config::load::{load, load_settings, LoadOptions};
use deployer::config::rollout::{is_commit, parse_state, Pins, Rollout};
use deployer::github::{ClientConfig, GitHub};
use deployer::planning::rollout_gate::{
    self, ChartGate, DeploymentRecord, GateInput, ReleaseState, Soak, Verdict, WaveGate,
};
use deployer::presentation::table::{render, Table};
use serde_json::{json, Value};

use super::RepoArgs;

#[derive(Debug, clap::Args)]
pub(super) struct RolloutArgs {
    #[command(subcommand)]
    command: RolloutCommand,
}

#[derive(Debug, Subcommand)]
enum RolloutCommand {
    /// Per rolled chart and wave: the pin, the soak, the releases and their health, and whether the next
    /// wave may be promoted.
    Status(StatusArgs),
    /// Move a wave's pin to the previous wave's commit in the state file (refused unless the previous
    /// wave is healthy and soaked).
    Promote(PromoteArgs),
    /// For a scheduled workflow: when the next promotion is ready, open its pull request.
    Next(NextArgs),
}

/// What every `rollout` subcommand reads.
#[derive(Debug, clap::Args)]
struct GateArgs {
    #[command(flatten)]
    repo: RepoArgs,
    /// The rolled chart [default: every rolled chart; `promote` needs it when there are several].
    #[arg(long, value_name = "CHART")]
    chart: Option<String>,
    /// The commit the first wave runs [default: `git rev-parse HEAD` in the repository].
    #[arg(long, value_name = "SHA")]
    head_commit: Option<String>,
    /// The GitHub token that reads the deployment records [default: GITHUB_TOKEN].
    #[arg(long, value_name = "TOKEN")]
    github_token: Option<String>,
    /// The repository on GitHub, `owner/name` [default: GITHUB_REPOSITORY]. The API is at GITHUB_API_URL.
    #[arg(long, value_name = "OWNER/NAME")]
    repository: Option<String>,
    /// The time to judge the soak at, RFC 3339 [default: now].
    #[arg(long, value_name = "TIME", hide = true)]
    now: Option<String>,
}

#[derive(Debug, clap::Args)]
pub(super) struct StatusArgs {
    #[command(flatten)]
    gate: GateArgs,
    /// How to print the status.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    output: Format,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Format {
    /// Tables, as in the job log.
    Text,
    /// One JSON object.
    Json,
}

#[derive(Debug, clap::Args)]
pub(super) struct PromoteArgs {
    /// The wave to promote [default: the first wave behind its previous wave].
    #[arg(value_name = "WAVE")]
    wave: Option<String>,
    #[command(flatten)]
    gate: GateArgs,
    /// Promote although the previous wave is not ready (failing, soaking or unknown). Said loudly.
    #[arg(long)]
    force: bool,
}

#[derive(Debug, clap::Args)]
pub(super) struct NextArgs {
    #[command(flatten)]
    gate: GateArgs,
}

pub(super) fn run(args: RolloutArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        RolloutCommand::Status(args) => status(args),
        RolloutCommand::Promote(args) => promote(args),
        RolloutCommand::Next(args) => next(args),
    }
}

/// The checkout read and the gate worked out.
struct Gated {
    rollout: Rollout,
    pins: Pins,
    state_file: String,
    head_commit: String,
    now: i64,
    gates: Vec<ChartGate>,
    /// The API client and repository, when a token was given.
    github: Option<(GitHub, RepoRef)>,
    /// Clusters left out because their own files are broken: their releases are not in the gate.
    blocked: Vec<String>,
}

fn read_context(args: &GateArgs, runtime: &tokio::runtime::Runtime) -> anyhow::Result<Gated> {
    let env = RunnerEnv::from_process();
    let settings = load_settings(&args.repo.repo, args.repo.config.as_deref())?;
    let Some(rollout) = settings.rollout.clone() else {
        bail!("the settings have no `rollout` block: no chart rolls out in waves");
    };
    if let Some(chart) = &args.chart {
        if !rollout.rolls(chart) {
            bail!("--chart `{chart}` is not a rolled chart (`rollout.charts`: {})", rollout.charts.join(", "));
        }
    }
    let loaded = load(&args.repo.repo, &settings, LoadOptions { notices: false })?;
    let pins = loaded.rollout_pins.clone().unwrap_or_default();
    let blocked: Vec<String> =
        loaded.blocked.iter().map(|cluster| cluster.name.clone().unwrap_or_else(|| cluster.file.clone())).collect();
    let head_commit = match &args.head_commit {
        Some(commit) if is_commit(commit) => commit.clone(),
        Some(commit) => bail!("--head-commit `{commit}` is not a full commit sha (40 lowercase hex digits)"),
        None => super::git(&args.repo.repo, &["rev-parse", "HEAD"])?.trim().to_owned(),
    };
    if !is_commit(&head_commit) {
        bail!("`git rev-parse HEAD` printed `{head_commit}`, not a commit sha");
    }
    let now = match &args.now {
        Some(text) => {
            rollout_gate::parse_time(text).with_context(|| format!("--now `{text}` is not an RFC 3339 time"))?
        }
        None => i64::try_from(
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |elapsed| elapsed.as_secs()),
        )
        .unwrap_or(0),
    };
    let github = github_client(args, &env, runtime)?;
    let records = match &github {
        Some((client, repo)) => Some(runtime.block_on(read_records(client, repo, &rollout, &loaded.estate))?),
        None => None,
    };
    let is_staging = |hub: &str| settings.is_staging_hub(hub);
    let input = GateInput {
        rollout: &rollout,
        pins: &pins,
        estate: &loaded.estate,
        is_staging: &is_staging,
        now,
        head_commit: &head_commit,
        records: records.as_ref(),
    };
    let gates = rollout_gate::gate(&input)
        .into_iter()
        .filter(|gate| args.chart.as_ref().is_none_or(|chart| &gate.chart == chart))
        .collect();
    let state_file = deployer::base::repo_path::normalize(&rollout.state_file);
    Ok(Gated { rollout, pins, state_file, head_commit, now, gates, github, blocked })
}

/// The client, when a token is given (`--github-token` or GITHUB_TOKEN).
fn github_client(
    args: &GateArgs,
    env: &RunnerEnv,
    runtime: &tokio::runtime::Runtime,
) -> anyhow::Result<Option<(GitHub, RepoRef)>> {
    let token = args.github_token.clone().or_else(|| env.var("GITHUB_TOKEN").map(str::to_owned));
    let Some(token) = token.filter(|token| !token.trim().is_empty()) else { return Ok(None) };
    if env.var("GITHUB_ACTIONS") == Some("true") {
        runner::add_mask(&token);
    }
    let repository = args.repository.clone().or_else(|| env.var("GITHUB_REPOSITORY").map(str::to_owned));
    let Some(repository) = repository else {
        bail!("a GitHub token is given but not the repository: give --repository OWNER/NAME or GITHUB_REPOSITORY");
    };
    let repo = RepoRef::parse(&repository)?;
    let mut config = ClientConfig::from_env(env, "github-token")?;
    config.token = Some(token);
    // The client needs the runtime it runs in.
    let client = runtime.block_on(async { GitHub::new(config) })?;
    Ok(Some((client, repo)))
}

/// The latest deployer record of each rolled release, with its latest status, read by
/// [`deployer::github::deployments::latest`] (which trusts only records of the expected shape).
async fn read_records(
    client: &GitHub,
    repo: &RepoRef,
    rollout: &Rollout,
    estate: &deployer::config::Estate,
) -> anyhow::Result<BTreeMap<String, DeploymentRecord>> {
    use deployer::github::deployments;
    let mut records = BTreeMap::new();
    for cluster in &estate.clusters {
        for hub in cluster.hubs.iter().filter(|hub| rollout.rolls(&hub.helm_chart)) {
            let environment = deployments::environment(&cluster.name, &hub.name);
            let Some(found) = deployments::latest(client, &repo.api_path(), &environment).await? else { continue };
            let (state, state_at) = match &found.status {
                Some(status) => (status.state.as_str().to_owned(), status.created_at.clone()),
                None => (String::new(), String::new()),
            };
            let record = DeploymentRecord {
                cluster: found.cluster,
                release: found.release,
                chart: found.chart,
                chart_commit: found.chart_commit,
                chart_digest: found.chart_digest,
                wave: found.wave.unwrap_or_default(),
                sha: found.sha,
                created_at: found.created_at,
                state,
                state_at,
            };
            records.insert(environment, record);
        }
    }
    Ok(records)
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread().enable_all().build().context("starting the async runtime")
}

fn short(commit: &str) -> &str {
    commit.get(..7).unwrap_or(commit)
}

fn status(args: StatusArgs) -> anyhow::Result<ExitCode> {
    let runtime = runtime()?;
    let context = read_context(&args.gate, &runtime)?;
    match args.output {
        Format::Json => {
            let value = json!({
                "head_commit": context.head_commit,
                "now": rollout_gate::format_time(context.now),
                "records": context.github.is_some(),
                "blocked_clusters": context.blocked,
                "charts": context.gates,
            });
            runner::print_json(&serde_json::to_string_pretty(&value).context("the status as JSON")?);
            runner::print("\n");
        }
        Format::Text => {
            for gate in &context.gates {
                runner::print(&status_text(gate, &context));
            }
            if context.github.is_none() {
                runner::print("health: unknown (no GitHub token): give GITHUB_TOKEN (and GITHUB_REPOSITORY) to read the deployment records\n");
            }
            if !context.blocked.is_empty() {
                runner::print(&format!(
                    "warning: clusters left out (their own files are broken): {}\n",
                    context.blocked.join(", ")
                ));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The tables of one chart: its waves, then its releases.
fn status_text(gate: &ChartGate, context: &Gated) -> String {
    let records = context.github.is_some();
    let mut waves = Table {
        title: format!("Rollout of {} (state file {})", gate.chart, context.state_file),
        headers: ["Wave", "Runs", "Since", "Soak", "Releases", "Health", "Next promotion"].map(String::from).to_vec(),
        rows: Vec::new(),
    };
    let mut releases = Table {
        title: format!("Releases of {}", gate.chart),
        headers: ["Release", "Wave", "Runs", "Last state"].map(String::from).to_vec(),
        rows: Vec::new(),
    };
    for (index, wave) in gate.waves.iter().enumerate() {
        let runs = match index {
            0 => format!("{} (head)", short(&wave.commit)),
            _ => short(&wave.commit).to_owned(),
        };
        let next = match &wave.next {
            Some(next) => format!("{}: {}", next.wave, next.verdict.describe()),
            None => "-".to_owned(),
        };
        waves.rows.push(vec![
            wave.wave.clone(),
            runs,
            wave.since.clone().unwrap_or_else(|| "-".to_owned()),
            soak_text(wave),
            release_counts(wave, records),
            health_text(wave),
            next,
        ]);
        for release in &wave.releases {
            let runs = match (&release.commit, release.runs_commit) {
                (None, _) => "-".to_owned(),
                (Some(commit), true) => format!("{} (the wave's)", short(commit)),
                (Some(commit), false) if commit.is_empty() => "? (behind)".to_owned(),
                (Some(commit), false) => format!("{} (behind)", short(commit)),
            };
            let state = if records { release.state.as_str() } else { "unknown" };
            releases.rows.push(vec![release.release.clone(), wave.wave.clone(), runs, state.to_owned()]);
        }
    }
    let mut text = render(&waves);
    text.push('\n');
    text.push_str(&render(&releases));
    text.push('\n');
    text
}

fn soak_text(wave: &WaveGate) -> String {
    let soak = wave.soak_minutes.map_or_else(|| "none".to_owned(), rollout_gate::duration);
    match &wave.soak {
        Soak::Passed => format!("passed ({soak})"),
        Soak::Left { left_minutes, .. } => format!("{} left of {soak}", rollout_gate::duration(*left_minutes)),
        Soak::Unknown => format!("not started ({soak})"),
    }
}

fn release_counts(wave: &WaveGate, records: bool) -> String {
    if !records {
        return match wave.releases.len() {
            1 => "1 release".to_owned(),
            n => format!("{n} releases"),
        };
    }
    let running = wave.releases.iter().filter(|release| release.runs_commit).count();
    let missing = wave.releases.iter().filter(|release| release.state == ReleaseState::NoRecord).count();
    format!("{running} running it, {} behind, {missing} no record", wave.releases.len() - running - missing)
}

fn health_text(wave: &WaveGate) -> String {
    match wave.healthy {
        None => "unknown (no GitHub token)".to_owned(),
        Some(true) => "healthy".to_owned(),
        Some(false) => {
            let failing = wave.releases.iter().filter(|release| release.state == ReleaseState::Failure).count();
            match failing {
                0 => "not yet".to_owned(),
                n => format!("{n} failing"),
            }
        }
    }
}

/// The chart a promotion is about: `--chart`, or the only rolled chart.
fn one_chart(context: &Gated, chart: Option<&str>) -> anyhow::Result<usize> {
    match (chart, context.gates.len()) {
        (Some(_), _) | (None, 1) => Ok(0),
        (None, _) => {
            bail!("several charts roll out in waves ({}): say which with --chart", context.rollout.charts.join(", "))
        }
    }
}

/// The index of the wave to promote in `gate`: `wave`, or the first wave behind its previous wave.
fn wave_to_promote(gate: &ChartGate, wave: Option<&str>) -> anyhow::Result<Option<usize>> {
    match wave {
        Some(name) => match gate.waves.iter().position(|wave| wave.wave == name) {
            Some(0) => bail!("`{name}` is the first wave: it runs the head and has no pin to promote"),
            Some(index) => Ok(Some(index)),
            None => bail!(
                "`{name}` is not a wave (waves: {})",
                gate.waves.iter().map(|wave| wave.wave.as_str()).collect::<Vec<_>>().join(", ")
            ),
        },
        None => Ok((1..gate.waves.len())
            .find(|&index| gate.waves[index - 1].next.as_ref().is_some_and(|next| next.verdict != Verdict::Done))),
    }
}

fn promote(args: PromoteArgs) -> anyhow::Result<ExitCode> {
    let runtime = runtime()?;
    let context = read_context(&args.gate, &runtime)?;
    let gate = &context.gates[one_chart(&context, args.gate.chart.as_deref())?];
    let Some(index) = wave_to_promote(gate, args.wave.as_deref())? else {
        runner::print(&format!("{}: every wave runs its previous wave's commit; nothing to promote\n", gate.chart));
        return Ok(ExitCode::SUCCESS);
    };
    let previous = &gate.waves[index - 1];
    let Some(promotion) = &previous.next else { bail!("the wave has no previous wave") };
    let mut verdict = promotion.verdict.clone();
    if !context.blocked.is_empty() && matches!(verdict, Verdict::Ready) {
        verdict = Verdict::Unknown {
            missing: Vec::new(),
            reason: format!("clusters left out (their own files are broken): {}", context.blocked.join(", ")),
        };
    }
    let what = format!(
        "{} to the wave {} ({} -> {}, the commit of the wave {})",
        gate.chart,
        promotion.wave,
        short(&promotion.from),
        short(&promotion.to),
        previous.wave
    );
    match &verdict {
        Verdict::Done => {
            runner::print(&format!(
                "{}: the wave {} already runs {}; nothing to promote\n",
                gate.chart,
                promotion.wave,
                short(&promotion.to)
            ));
            return Ok(ExitCode::SUCCESS);
        }
        Verdict::Ready => {}
        refused if !args.force => {
            runner::print_stderr(&format!("error: refusing to promote {what}: {}", refused.describe()));
            if context.github.is_none() {
                runner::print_stderr(
                    "hint: the health of the releases comes from GitHub Deployments: give GITHUB_TOKEN and \
                     GITHUB_REPOSITORY (or --force, at your own risk)",
                );
            }
            return Ok(ExitCode::FAILURE);
        }
        forced => {
            runner::print_stderr(&format!(
                "warning: FORCED PROMOTION of {what} although the wave {} is not ready: {}",
                previous.wave,
                forced.describe()
            ));
        }
    }
    let since = rollout_gate::format_time(context.now);
    let root = RepoRoot::new(&args.gate.repo.repo)?;
    let old_text = root
        .read_config_file(&context.state_file)
        .map_err(|refused| anyhow::anyhow!("reading the state file: {refused}"))?;
    let new_text = new_state_text(&context, &old_text, &gate.chart, &promotion.wave, &promotion.to, &since)?;
    write_whole(&args.gate.repo.repo.join(&context.state_file), &new_text)?;
    runner::print(&format!(
        "promoted {what} since {since} in {}; commit it: its pull request deploys the wave {}\n",
        context.state_file, promotion.wave
    ));
    Ok(ExitCode::SUCCESS)
}

/// The state file's text with the one pin moved, proven: it parses against the waves, and its pins are the
/// old ones but that pin.
fn new_state_text(
    context: &Gated,
    old_text: &str,
    chart: &str,
    wave: &str,
    commit: &str,
    since: &str,
) -> anyhow::Result<String> {
    let new_text = rollout_gate::set_pin(old_text, chart, wave, commit, since)
        .map_err(|why| anyhow::anyhow!("cannot edit {}: {why}", context.state_file))?;
    let new_pins = parse_state(&context.state_file, &new_text, &context.rollout).map_err(|problems| {
        anyhow::anyhow!("the edited state file would not be valid: {}", deployer::Error::Config(problems))
    })?;
    let mut expected = context.pins.clone();
    expected
        .pins
        .entry(chart.to_owned())
        .or_default()
        .insert(wave.to_owned(), deployer::config::rollout::Pin { commit: commit.to_owned(), since: since.to_owned() });
    if new_pins != expected {
        bail!("the edit of {} changed more than the pin of {wave} for {chart}; nothing written", context.state_file);
    }
    Ok(new_text)
}

/// Writes `text` to `path` whole: a temporary file beside it, then renamed over it.
fn write_whole(path: &Path, text: &str) -> anyhow::Result<()> {
    let name = path.file_name().map(|name| name.to_string_lossy().into_owned()).unwrap_or_default();
    let temporary: PathBuf = path.with_file_name(format!(".{name}.deployer-{}.tmp", std::process::id()));
    let written = (|| -> std::io::Result<()> {
        use std::io::Write;
        let mut file = std::fs::File::create(&temporary)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        if let Ok(metadata) = std::fs::metadata(path) {
            std::fs::set_permissions(&temporary, metadata.permissions())?;
        }
        std::fs::rename(&temporary, path)
    })();
    if let Err(error) = written {
        let _ = std::fs::remove_file(&temporary);
        return Err(error).with_context(|| format!("writing {}", path.display()));
    }
    Ok(())
}

fn next(args: NextArgs) -> anyhow::Result<ExitCode> {
    let runtime = runtime()?;
    let context = read_context(&args.gate, &runtime)?;
    let Some((client, repo)) = &context.github else {
        bail!("`rollout next` opens pull requests through the GitHub API: give GITHUB_TOKEN and GITHUB_REPOSITORY");
    };
    let mut failed = false;
    for gate in &context.gates {
        let Some(index) = wave_to_promote(gate, None)? else {
            runner::print(&format!("{}: every wave runs its previous wave's commit; nothing to promote\n", gate.chart));
            continue;
        };
        let previous = &gate.waves[index - 1];
        let Some(promotion) = &previous.next else { continue };
        let mut verdict = promotion.verdict.clone();
        if !context.blocked.is_empty() && matches!(verdict, Verdict::Ready) {
            verdict = Verdict::Unknown {
                missing: Vec::new(),
                reason: format!("clusters left out (their own files are broken): {}", context.blocked.join(", ")),
            };
        }
        let what = format!("{} to the wave {}", gate.chart, promotion.wave);
        match &verdict {
            Verdict::Ready => {
                let opened = runtime.block_on(open_promotion(client, repo, &context, gate, index))?;
                runner::print(&format!("{what}: {opened}\n"));
            }
            Verdict::Done => runner::print(&format!("{what}: done\n")),
            Verdict::Waiting { .. } => runner::print(&format!("{what}: {}\n", verdict.describe())),
            Verdict::Halted { .. } | Verdict::Unknown { .. } => {
                failed = true;
                runner::print_stderr(&format!("error: not promoting {what}: {}", verdict.describe()));
            }
        }
    }
    Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

/// The branch of a promotion's pull request.
fn branch_name(chart: &str, wave: &str) -> String {
    format!("deployer/rollout/{chart}/{wave}")
}

/// Opens the pull request promoting the wave `index` of `gate` (unless one is open): a branch from the
/// default branch's head, the state file edited there, the pull request. Says what it did.
async fn open_promotion(
    client: &GitHub,
    repo: &RepoRef,
    context: &Gated,
    gate: &ChartGate,
    index: usize,
) -> anyhow::Result<String> {
    let previous = &gate.waves[index - 1];
    let wave = &gate.waves[index];
    let Some(promotion) = &previous.next else { bail!("the wave has no previous wave") };
    let api = repo.api_path();
    let branch = branch_name(&gate.chart, &wave.wave);
    let open: Vec<Value> = client
        .get_all(
            &format!(
                "{api}/pulls?state=open&head={}",
                deployer::github::percent_encode(&format!("{}:{branch}", repo.owner))
            ),
            None,
            Some(1),
        )
        .await?;
    if let Some(pull) = open.first() {
        return Ok(format!(
            "the pull request #{} from {branch} is already open; nothing done",
            pull["number"].as_u64().unwrap_or_default()
        ));
    }
    let repository: Value = client.get(&api).await?;
    let default_branch =
        repository["default_branch"].as_str().context("the repository has no default branch")?.to_owned();
    let head: Value = client.get(&format!("{api}/git/ref/heads/{}", percent_path(&default_branch))).await?;
    let head_sha =
        head["object"]["sha"].as_str().filter(|sha| is_commit(sha)).context("the default branch's head")?.to_owned();
    let contents_endpoint = format!("{api}/contents/{}", percent_path(&context.state_file));
    let file: Value =
        client.get(&format!("{contents_endpoint}?ref={}", deployer::github::percent_encode(&default_branch))).await?;
    let blob_sha = file["sha"].as_str().context("the state file's blob sha")?.to_owned();
    let encoded: String = file["content"].as_str().unwrap_or_default().chars().filter(|c| !c.is_whitespace()).collect();
    let old_text = String::from_utf8(
        base64::engine::general_purpose::STANDARD.decode(encoded).context("the state file's content is not base64")?,
    )
    .context("the state file is not UTF-8")?;
    let since = rollout_gate::format_time(context.now);
    let new_text = new_state_text(context, &old_text, &gate.chart, &promotion.wave, &promotion.to, &since)?;
    let reference = json!({"ref": format!("refs/heads/{branch}"), "sha": head_sha});
    match client.post::<Value>(&format!("{api}/git/refs"), &reference).await {
        Ok(_) => {}
        // Left from a closed pull request: reset to the default branch's head.
        Err(deployer::Error::Api { status: 422, .. }) => {
            let _: Value = client
                .patch(
                    &format!("{api}/git/refs/heads/{}", percent_path(&branch)),
                    &json!({"sha": head_sha, "force": true}),
                )
                .await?;
        }
        Err(error) => return Err(error.into()),
    }
    let message = format!(
        "Roll out {} to wave {}: pin {} -> {}",
        gate.chart,
        promotion.wave,
        short(&promotion.from),
        short(&promotion.to)
    );
    let content = json!({
        "message": message,
        "content": base64::engine::general_purpose::STANDARD.encode(new_text.as_bytes()),
        "sha": blob_sha,
        "branch": branch,
    });
    client.send(http::Method::PUT, &contents_endpoint, Some(&content), deployer::github::Retry::Idempotent).await?;
    let pull = json!({
        "title": format!("Roll out {} to wave {}", gate.chart, promotion.wave),
        "head": branch,
        "base": default_branch,
        "body": pull_body(context, gate, index, &since),
    });
    let created: Value = client.post(&format!("{api}/pulls"), &pull).await?;
    Ok(format!("opened the pull request #{} from {branch}", created["number"].as_u64().unwrap_or_default()))
}

/// A path for a URL: each segment percent-encoded, `/` kept.
fn percent_path(path: &str) -> String {
    path.split('/').map(deployer::github::percent_encode).collect::<Vec<_>>().join("/")
}

/// The pull request's body: the pin move, the evidence (soak, health), the releases it upgrades. Built from
/// the estate and validated record fields only.
fn pull_body(context: &Gated, gate: &ChartGate, index: usize, since: &str) -> String {
    let previous = &gate.waves[index - 1];
    let wave = &gate.waves[index];
    let mut body = format!(
        "Promotes the chart **{}** to the wave **{}**: its pin in `{}` moves from `{}` to `{}` (since {since}), \
         the commit the wave **{}** runs.\n\n",
        gate.chart,
        wave.wave,
        context.state_file,
        short(&wave.commit),
        short(&previous.commit),
        previous.wave
    );
    body.push_str(&format!("### Evidence from the wave {}\n\n", previous.wave));
    body.push_str(&format!("- Soak: {} (since {}).\n", soak_text(previous), previous.since.as_deref().unwrap_or("-")));
    body.push_str(&format!(
        "- Health: every release runs `{}` with success, from its latest GitHub Deployment.\n\n",
        short(&previous.commit)
    ));
    body.push_str("| Release | Runs | Last state |\n| --- | --- | --- |\n");
    for release in &previous.releases {
        body.push_str(&format!(
            "| {} | `{}` | {} |\n",
            release.release,
            short(release.commit.as_deref().unwrap_or("-")),
            release.state.as_str()
        ));
    }
    body.push_str(&format!("\n### Upgraded by this pull request: the wave {}\n\n", wave.wave));
    for release in &wave.releases {
        body.push_str(&format!("- {}\n", release.release));
    }
    body.push_str("\nOpened by `deployer rollout next`.\n");
    body
}
