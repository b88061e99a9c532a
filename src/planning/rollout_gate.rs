//! The rollout gate: per rolled chart and wave, the commit the wave runs, whether its releases run it
//! successfully, whether it has soaked, and the verdict on promoting the next wave to it. Pure: the
//! rollout, the pins, the estate, the time, the head commit and each release's latest deployment record
//! in; the gate out. Also the one edit `deployer rollout promote` makes to the state file's text.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::config::locate::{Index, NodeKind, Segment, Shape};
use crate::config::rollout::{is_commit, is_rfc3339, Pins, Rollout};
use crate::config::Estate;

/// The latest deployment of one release (`<cluster>/<hub>`), as a GitHub Deployment records it. Plain data:
/// the GitHub layer fills it; every field is untrusted text (anyone who can write deployments writes it).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeploymentRecord {
    pub cluster: String,
    /// The hub (the Helm release of the hub).
    pub release: String,
    pub chart: String,
    /// The commit the chart was rendered at; empty for the head, which is then `sha`.
    pub chart_commit: String,
    pub chart_digest: String,
    pub wave: String,
    /// The commit deployed.
    pub sha: String,
    /// When the deployment was created (RFC 3339).
    pub created_at: String,
    /// Its latest status: `success`, `failure`, `error`, `in_progress`, `queued`, `pending`, `inactive`;
    /// empty when it has none yet.
    pub state: String,
    /// When that status was created (RFC 3339).
    pub state_at: String,
}

impl DeploymentRecord {
    /// The commit the release's chart runs at.
    pub fn chart_commit(&self) -> &str {
        if self.chart_commit.is_empty() {
            &self.sha
        } else {
            &self.chart_commit
        }
    }
}

/// What the gate is given.
pub struct GateInput<'a> {
    pub rollout: &'a Rollout,
    pub pins: &'a Pins,
    pub estate: &'a Estate,
    /// Whether a hub name is a staging hub's.
    pub is_staging: &'a dyn Fn(&str) -> bool,
    /// Seconds since the Unix epoch.
    pub now: i64,
    /// The commit the first wave runs: the head of the checkout.
    pub head_commit: &'a str,
    /// `None`: no records could be read (no GitHub token); health is then unknown.
    pub records: Option<&'a BTreeMap<String, DeploymentRecord>>,
}

/// One rolled chart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChartGate {
    pub chart: String,
    pub waves: Vec<WaveGate>,
}

/// One wave of one chart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WaveGate {
    pub wave: String,
    /// The commit the wave runs: its pin, or the head for the first wave.
    pub commit: String,
    /// When the wave got it: the pin's `since`; for the first wave, the latest time one of its releases
    /// succeeded at the head (`None` until all of them have).
    pub since: Option<String>,
    pub soak_minutes: Option<u64>,
    pub soak: Soak,
    pub releases: Vec<ReleaseGate>,
    /// Every release runs the commit, with success. `None` without records.
    pub healthy: Option<bool>,
    /// Promoting the next wave to this wave's commit; `None` for the last wave.
    pub next: Option<Promotion>,
}

/// Whether a wave has soaked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Soak {
    Passed,
    /// `left_minutes` (rounded up) until `until`.
    Left {
        left_minutes: u64,
        until: String,
    },
    /// The first wave's releases do not all run the head with success yet (or no records).
    Unknown,
}

/// One release of a wave.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReleaseGate {
    /// `<cluster>/<hub>`.
    pub release: String,
    /// The chart commit its latest deployment ran; `None` without a record.
    pub commit: Option<String>,
    /// `commit` is the wave's.
    pub runs_commit: bool,
    pub state: ReleaseState,
}

/// The latest state of a release's latest deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReleaseState {
    Success,
    /// `failure` or `error`.
    Failure,
    /// Any other state (`in_progress`, `queued`, `pending`, `inactive`, none yet).
    InProgress,
    NoRecord,
}

impl ReleaseState {
    pub fn as_str(self) -> &'static str {
        match self {
            ReleaseState::Success => "success",
            ReleaseState::Failure => "failure",
            ReleaseState::InProgress => "in progress",
            ReleaseState::NoRecord => "no record",
        }
    }
}

/// Promoting `wave` from `from` (its pin) to `to` (the previous wave's commit).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Promotion {
    pub wave: String,
    pub from: String,
    pub to: String,
    pub verdict: Verdict,
}

/// May the next wave be promoted?
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum Verdict {
    Ready,
    Waiting {
        wait: Wait,
    },
    /// Releases of the wave failed at its commit.
    Halted {
        failing: Vec<String>,
    },
    /// Health cannot be told: releases without a record (none listed: no records at all, or a first wave
    /// with no release of the chart).
    Unknown {
        missing: Vec<String>,
        reason: String,
    },
    /// The next wave already runs this wave's commit.
    Done,
}

/// What a waiting promotion waits for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "for", rename_all = "snake_case")]
pub enum Wait {
    /// Releases still getting the commit (behind, or deploying).
    Releases {
        pending: Vec<String>,
    },
    Soak {
        left_minutes: u64,
        until: String,
    },
}

impl Verdict {
    /// One line: `ready`, `waiting: soak 1d 2h left (until …)`, `HALTED: a/b failed`, ….
    pub fn describe(&self) -> String {
        match self {
            Verdict::Ready => "ready".to_owned(),
            Verdict::Done => "done".to_owned(),
            Verdict::Waiting { wait: Wait::Soak { left_minutes, until } } => {
                format!("waiting: soak {} left (until {until})", duration(*left_minutes))
            }
            Verdict::Waiting { wait: Wait::Releases { pending } } => {
                format!("waiting: {} not yet running the commit with success", pending.join(", "))
            }
            Verdict::Halted { failing } => format!("HALTED: {} failed at the commit", failing.join(", ")),
            Verdict::Unknown { missing, reason } if missing.is_empty() => format!("unknown: {reason}"),
            Verdict::Unknown { missing, reason } => format!("unknown: {reason}: {}", missing.join(", ")),
        }
    }
}

/// The gate of every rolled chart, in `rollout.charts` order.
pub fn gate(input: &GateInput<'_>) -> Vec<ChartGate> {
    input.rollout.charts.iter().map(|chart| chart_gate(input, chart)).collect()
}

fn chart_gate(input: &GateInput<'_>, chart: &str) -> ChartGate {
    let rollout = input.rollout;
    // The releases of each wave that run the chart, `<cluster>/<hub>`, in estate order.
    let mut members: Vec<Vec<String>> = vec![Vec::new(); rollout.waves.len()];
    for cluster in &input.estate.clusters {
        for hub in cluster.hubs.iter().filter(|hub| hub.helm_chart == chart) {
            let index = rollout.wave_of(cluster, hub, (input.is_staging)(&hub.name));
            if let Some(wave) = members.get_mut(index) {
                wave.push(format!("{}/{}", cluster.name, hub.name));
            }
        }
    }
    let commits: Vec<String> = rollout
        .waves
        .iter()
        .enumerate()
        .map(|(index, wave)| match index {
            0 => input.head_commit.to_owned(),
            _ => input.pins.get(chart, &wave.name).map(|pin| pin.commit.clone()).unwrap_or_default(),
        })
        .collect();
    let mut waves = Vec::with_capacity(rollout.waves.len());
    for (index, wave) in rollout.waves.iter().enumerate() {
        let commit = &commits[index];
        let releases: Vec<ReleaseGate> = members[index]
            .iter()
            .map(|release| release_gate(release, chart, commit, input.records.and_then(|records| records.get(release))))
            .collect();
        let healthy = input
            .records
            .map(|_| releases.iter().all(|release| release.runs_commit && release.state == ReleaseState::Success));
        let since = match index {
            0 => first_wave_since(&releases, input.records, healthy),
            _ => input.pins.get(chart, &wave.name).map(|pin| pin.since.clone()),
        };
        let soak = soak(since.as_deref(), wave.soak_minutes, input.now);
        let next = rollout.waves.get(index + 1).map(|next| Promotion {
            wave: next.name.clone(),
            from: commits[index + 1].clone(),
            to: commit.clone(),
            verdict: verdict(index, commit, &commits[index + 1], &releases, input.records.is_some(), &soak),
        });
        waves.push(WaveGate {
            wave: wave.name.clone(),
            commit: commit.clone(),
            since,
            soak_minutes: wave.soak_minutes,
            soak,
            releases,
            healthy,
            next,
        });
    }
    ChartGate { chart: chart.to_owned(), waves }
}

fn release_gate(release: &str, chart: &str, commit: &str, record: Option<&DeploymentRecord>) -> ReleaseGate {
    match record {
        None => {
            ReleaseGate { release: release.to_owned(), commit: None, runs_commit: false, state: ReleaseState::NoRecord }
        }
        Some(record) => {
            let state = match record.state.as_str() {
                "success" => ReleaseState::Success,
                "failure" | "error" => ReleaseState::Failure,
                _ => ReleaseState::InProgress,
            };
            ReleaseGate {
                release: release.to_owned(),
                commit: Some(record.chart_commit().to_owned()),
                runs_commit: !commit.is_empty() && record.chart == chart && record.chart_commit() == commit,
                state,
            }
        }
    }
}

/// The first wave got the head when its last release succeeded at it: the latest time of their
/// successful records, once every release has one (a time that does not parse counts as none).
fn first_wave_since(
    releases: &[ReleaseGate],
    records: Option<&BTreeMap<String, DeploymentRecord>>,
    healthy: Option<bool>,
) -> Option<String> {
    let records = records?;
    if healthy != Some(true) || releases.is_empty() {
        return None;
    }
    let mut latest: Option<(i64, &str)> = None;
    for release in releases {
        let at = records.get(&release.release).map(|record| record.state_at.as_str())?;
        let seconds = parse_time(at)?;
        if latest.is_none_or(|(best, _)| seconds > best) {
            latest = Some((seconds, at));
        }
    }
    latest.map(|(seconds, _)| format_time(seconds))
}

fn soak(since: Option<&str>, soak_minutes: Option<u64>, now: i64) -> Soak {
    let Some(since) = since.and_then(parse_time) else { return Soak::Unknown };
    let soak_seconds = i64::try_from(soak_minutes.unwrap_or(0)).unwrap_or(i64::MAX / 60).saturating_mul(60);
    let until = since.saturating_add(soak_seconds);
    if until <= now {
        Soak::Passed
    } else {
        let left = until - now;
        Soak::Left { left_minutes: u64::try_from((left + 59) / 60).unwrap_or(0), until: format_time(until) }
    }
}

fn verdict(
    index: usize,
    commit: &str,
    next_commit: &str,
    releases: &[ReleaseGate],
    have_records: bool,
    soak: &Soak,
) -> Verdict {
    if !commit.is_empty() && commit == next_commit {
        return Verdict::Done;
    }
    if !have_records {
        return Verdict::Unknown { missing: Vec::new(), reason: "no deployment records (no GitHub token)".to_owned() };
    }
    let named = |wanted: &dyn Fn(&ReleaseGate) -> bool| -> Vec<String> {
        releases.iter().filter(|release| wanted(release)).map(|release| release.release.clone()).collect()
    };
    let failing = named(&|release| release.runs_commit && release.state == ReleaseState::Failure);
    if !failing.is_empty() {
        return Verdict::Halted { failing };
    }
    let missing = named(&|release| release.state == ReleaseState::NoRecord);
    if !missing.is_empty() {
        return Verdict::Unknown { missing, reason: "no deployment record".to_owned() };
    }
    if index == 0 && releases.is_empty() {
        return Verdict::Unknown {
            missing: Vec::new(),
            reason: "the wave has no release of the chart to prove the head on".to_owned(),
        };
    }
    let pending = named(&|release| !(release.runs_commit && release.state == ReleaseState::Success));
    if !pending.is_empty() {
        return Verdict::Waiting { wait: Wait::Releases { pending } };
    }
    match soak {
        Soak::Passed => Verdict::Ready,
        Soak::Left { left_minutes, until } => {
            Verdict::Waiting { wait: Wait::Soak { left_minutes: *left_minutes, until: until.clone() } }
        }
        Soak::Unknown => Verdict::Unknown { missing: Vec::new(), reason: "when the wave got the commit".to_owned() },
    }
}

/// `2d 3h`, `5h 20m`, `45m`.
pub fn duration(minutes: u64) -> String {
    let (days, hours, mins) = (minutes / 1440, minutes % 1440 / 60, minutes % 60);
    match (days, hours, mins) {
        (0, 0, m) => format!("{m}m"),
        (0, h, 0) => format!("{h}h"),
        (0, h, m) => format!("{h}h {m}m"),
        (d, 0, _) => format!("{d}d"),
        (d, h, _) => format!("{d}d {h}h"),
    }
}

/// An RFC 3339 time in seconds since the Unix epoch (fractions dropped); `None` when it is not one.
pub fn parse_time(text: &str) -> Option<i64> {
    if !is_rfc3339(text) {
        return None;
    }
    let number = |range: std::ops::Range<usize>| text.get(range)?.parse::<i64>().ok();
    let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
    let (hour, minute, second) = (number(11..13)?, number(14..16)?, number(17..19)?);
    let zone = text[19..].trim_start_matches(|c: char| c == '.' || c.is_ascii_digit());
    let offset = match zone.as_bytes().first() {
        Some(b'+' | b'-') => {
            let sign = if zone.starts_with('-') { -1 } else { 1 };
            sign * (zone.get(1..3)?.parse::<i64>().ok()? * 3600 + zone.get(4..6)?.parse::<i64>().ok()? * 60)
        }
        _ => 0,
    };
    Some(days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second - offset)
}

/// Seconds since the Unix epoch as RFC 3339 UTC: `2026-12-01T10:00:00Z`.
pub fn format_time(seconds: i64) -> String {
    let (days, of_day) = (seconds.div_euclid(86_400), seconds.rem_euclid(86_400));
    let (year, month, day) = civil_from_days(days);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", of_day / 3600, of_day % 3600 / 60, of_day % 60)
}

// Howard Hinnant's days_from_civil and civil_from_days.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let day_of_year = (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (year_of_era + era * 400 + i64::from(month <= 2), month, day)
}

/// The state file's text with the pin of `wave` for `chart` set to `commit` since `since`: the two values
/// replaced where they are written (comments, order and quoting kept), or the entry added under the chart
/// (the chart under `pins`) when missing. Refuses what it cannot edit in place.
pub fn set_pin(text: &str, chart: &str, wave: &str, commit: &str, since: &str) -> Result<String, String> {
    if !is_commit(commit) || !is_rfc3339(since) {
        return Err(format!("`{commit}` since `{since}` is not a pin"));
    }
    let index = Index::build(text, Shape::All).map_err(|error| format!("the state file does not parse: {error}"))?;
    let pin_path = [Segment::Key("pins"), Segment::Key(chart), Segment::Key(wave)];
    let entry = format!("{wave}: {{commit: {commit}, since: \"{since}\"}}");
    match index.node(&pin_path).map(|node| &node.kind) {
        Some(NodeKind::Mapping(_)) => {
            let mut edits = Vec::new();
            for (key, value) in [("commit", commit), ("since", since)] {
                let at = [pin_path[0], pin_path[1], pin_path[2], Segment::Key(key)];
                let position = index
                    .node(&at)
                    .filter(|node| matches!(node.kind, NodeKind::Scalar))
                    .and_then(|node| node.position)
                    .ok_or_else(|| format!("pins.{chart}.{wave}.{key} is not a value the promotion can replace"))?;
                edits.push((position, value));
            }
            // The later edit first, so the earlier position still holds.
            edits.sort_by_key(|edit| std::cmp::Reverse(edit.0));
            let mut edited = text.to_owned();
            for ((line, column), value) in edits {
                edited = replace_scalar(&edited, line, column, value)?;
            }
            Ok(edited)
        }
        Some(_) => Err(format!("pins.{chart}.{wave} is not a mapping; write `{entry}` by hand")),
        None => {
            let under = |path: &[Segment<'_>], lines: String| -> Result<String, String> {
                let mapping = index.mapping(path);
                let key = index.locate_key(path, 0).filter(|_| mapping.is_some_and(|m| !m.entries.is_empty()));
                let parent_line = match path.split_last() {
                    Some((Segment::Key(name), parent)) => index
                        .mapping(parent)
                        .and_then(|mapping| mapping.get(name))
                        .and_then(|entry| entry.key_position)
                        .map(|(line, _)| line),
                    _ => None,
                };
                let parent_line = parent_line.ok_or_else(|| "the state file has no such key".to_owned())?;
                if mapping.is_some_and(|m| m.entries.is_empty()) {
                    return Err("a flow mapping cannot be extended in place".to_owned());
                }
                let indent = match key {
                    // A block mapping: its entries' indentation, on the line after the key.
                    Some((line, column)) if line > parent_line => column - 1,
                    Some(_) => return Err("a flow mapping cannot be extended in place".to_owned()),
                    None => text.lines().nth(parent_line - 1).map_or(0, |l| l.len() - l.trim_start().len()) + 2,
                };
                let block: String = lines.lines().map(|l| format!("{}{l}\n", " ".repeat(indent))).collect();
                Ok(insert_after_line(text, parent_line, &block))
            };
            let chart_path = [Segment::Key("pins"), Segment::Key(chart)];
            if index.node(&chart_path).is_some() {
                under(&chart_path, entry.clone())
            } else if index.node(&[Segment::Key("pins")]).is_some() {
                under(&[Segment::Key("pins")], format!("{chart}:\n  {entry}"))
            } else {
                let mut edited = text.to_owned();
                if !edited.is_empty() && !edited.ends_with('\n') {
                    edited.push('\n');
                }
                edited.push_str(&format!("pins:\n  {chart}:\n    {entry}\n"));
                Ok(edited)
            }
            .map_err(|why| format!("cannot add pins.{chart}.{wave} ({why}); write `{entry}` by hand"))
        }
    }
}

/// `text` with `block` (whole lines) inserted after its line `line` (1-based).
fn insert_after_line(text: &str, line: usize, block: &str) -> String {
    let mut out = String::with_capacity(text.len() + block.len());
    let mut inserted = false;
    for (number, piece) in text.split_inclusive('\n').enumerate() {
        out.push_str(piece);
        if number + 1 == line {
            if !piece.ends_with('\n') {
                out.push('\n');
            }
            out.push_str(block);
            inserted = true;
        }
    }
    if !inserted {
        out.push_str(block);
    }
    out
}

/// `text` with the scalar starting at `line`:`column` (1-based, in characters) replaced by `value`, written
/// in the scalar's quoting style.
fn replace_scalar(text: &str, line: usize, column: usize, value: &str) -> Result<String, String> {
    let start_of_line: usize = text.split_inclusive('\n').take(line - 1).map(str::len).sum();
    let rest_of_line = text[start_of_line..].split('\n').next().unwrap_or_default();
    let start = start_of_line
        + rest_of_line.char_indices().nth(column - 1).map(|(at, _)| at).ok_or("a position past the line")?;
    let scalar = &text[start..];
    let (length, written) = match scalar.chars().next() {
        Some(quote @ ('"' | '\'')) => {
            let end = scalar[1..].find(quote).ok_or("an unterminated quoted value")?;
            if scalar[1..1 + end].contains('\\') || scalar[1..].get(end + 1..end + 2) == Some("'") {
                return Err("an escaped quoted value".to_owned());
            }
            (end + 2, format!("{quote}{value}{quote}"))
        }
        _ => {
            let end = scalar.find([',', '}', ']', ' ', '\t', '\n', '#', '\r']).unwrap_or(scalar.len());
            (end, value.to_owned())
        }
    };
    Ok(format!("{}{written}{}", &text[..start], &text[start + length..]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::raw::Provider;
    use crate::config::rollout::fixture::cluster;

    const HEAD: &str = "cccccccccccccccccccccccccccccccccccccccc";
    const EARLY: &str = "1111111111111111111111111111111111111111";
    const REST: &str = "2222222222222222222222222222222222222222";
    const STATE: &str = "# the pins\npins:\n  basehub:\n    early: {commit: 1111111111111111111111111111111111111111, since: \"2026-12-01T10:00:00Z\"}  # moved by hand\n    rest:\n      commit: '2222222222222222222222222222222222222222'\n      since: 2026-11-20T10:00:00Z\n";

    fn rollout() -> Rollout {
        let text = "rollout:\n  charts: [basehub]\n  waves:\n    - name: canary\n      hubs: ['*/staging', 'alpha/*']\n      soak: 12h\n    - name: early\n      providers: [aws]\n      staging: false\n      soak: 2d\n    - name: rest\n";
        let raw: crate::config::raw::RawSettings = crate::config::yaml::parse("deployer.yaml", text).expect("parses");
        Rollout::from_raw(raw.rollout.unwrap_or_default(), "deployer.yaml", text).expect("valid")
    }

    fn estate() -> Estate {
        Estate {
            clusters: vec![
                cluster("alpha", Provider::Gcp, &["staging", "prod1"]),
                cluster("beta", Provider::Aws, &["staging", "prod1"]),
                cluster("gamma", Provider::Gcp, &["prod1"]),
            ],
        }
    }

    fn pins() -> Pins {
        crate::config::rollout::parse_state("config/rollout.yaml", STATE, &rollout()).expect("valid state")
    }

    fn record(commit: &str, state: &str, at: &str) -> DeploymentRecord {
        DeploymentRecord {
            chart: "basehub".into(),
            chart_commit: commit.into(),
            sha: HEAD.into(),
            state: state.into(),
            state_at: at.into(),
            created_at: at.into(),
            ..DeploymentRecord::default()
        }
    }

    /// Every release healthy at its wave's commit, the canary having got the head at 2026-12-05T00:00Z.
    fn healthy_records() -> BTreeMap<String, DeploymentRecord> {
        let mut records = BTreeMap::new();
        for release in ["alpha/staging", "beta/staging"] {
            records.insert(release.to_owned(), record("", "success", "2026-12-04T20:00:00Z"));
        }
        records.insert("alpha/prod1".to_owned(), record(HEAD, "success", "2026-12-05T00:00:00Z"));
        records.insert("beta/prod1".to_owned(), record(EARLY, "success", "2026-12-01T11:00:00Z"));
        records.insert("gamma/prod1".to_owned(), record(REST, "success", "2026-11-20T11:00:00Z"));
        records
    }

    fn verdicts(now: &str, records: Option<&BTreeMap<String, DeploymentRecord>>) -> Vec<Verdict> {
        let (rollout, pins, estate) = (rollout(), pins(), estate());
        let staging = |hub: &str| hub == "staging";
        let input = GateInput {
            rollout: &rollout,
            pins: &pins,
            estate: &estate,
            is_staging: &staging,
            now: parse_time(now).expect("a time"),
            head_commit: HEAD,
            records,
        };
        let gates = gate(&input);
        assert_eq!(gates.len(), 1);
        gates[0].waves.iter().filter_map(|wave| wave.next.as_ref().map(|next| next.verdict.clone())).collect()
    }

    #[test]
    fn healthy_soaked_waves_are_ready() {
        let records = healthy_records();
        // canary got the head at 00:00 on the 5th (its last success), soak 12h; early since the 1st, soak 2d.
        assert_eq!(verdicts("2026-12-05T12:00:00Z", Some(&records)), [Verdict::Ready, Verdict::Ready]);
        let waiting = verdicts("2026-12-05T11:00:01Z", Some(&records));
        assert_eq!(
            waiting[0],
            Verdict::Waiting { wait: Wait::Soak { left_minutes: 60, until: "2026-12-05T12:00:00Z".into() } }
        );
        assert_eq!(waiting[0].describe(), "waiting: soak 1h left (until 2026-12-05T12:00:00Z)");
        // early's soak counts from its pin's `since`.
        let early = verdicts("2026-12-02T10:00:00Z", Some(&records));
        assert_eq!(
            early[1],
            Verdict::Waiting { wait: Wait::Soak { left_minutes: 1440, until: "2026-12-03T10:00:00Z".into() } }
        );
    }

    #[test]
    fn a_failure_at_the_pin_halts_and_names_the_release() {
        let mut records = healthy_records();
        records.insert("beta/prod1".to_owned(), record(EARLY, "failure", "2026-12-02T00:00:00Z"));
        records.insert("alpha/staging".to_owned(), record("", "error", "2026-12-05T00:00:00Z"));
        let verdicts = verdicts("2026-12-10T00:00:00Z", Some(&records));
        assert_eq!(verdicts[0], Verdict::Halted { failing: vec!["alpha/staging".into()] });
        assert_eq!(verdicts[1], Verdict::Halted { failing: vec!["beta/prod1".into()] });
        // A failure at another commit is a release still behind, not a halt.
        let mut records = healthy_records();
        records.insert("beta/prod1".to_owned(), record(REST, "failure", "2026-12-02T00:00:00Z"));
        assert_eq!(
            verdicts_at(&records)[1],
            Verdict::Waiting { wait: Wait::Releases { pending: vec!["beta/prod1".into()] } }
        );
    }

    fn verdicts_at(records: &BTreeMap<String, DeploymentRecord>) -> Vec<Verdict> {
        verdicts("2026-12-10T00:00:00Z", Some(records))
    }

    #[test]
    fn missing_data_never_promotes() {
        let mut records = healthy_records();
        records.remove("alpha/prod1");
        let verdicts = verdicts_at(&records);
        assert_eq!(
            verdicts[0],
            Verdict::Unknown { missing: vec!["alpha/prod1".into()], reason: "no deployment record".into() }
        );
        assert_eq!(verdicts[1], Verdict::Ready);
        for verdict in self::verdicts("2026-12-10T00:00:00Z", None) {
            assert!(matches!(verdict, Verdict::Unknown { .. }), "{verdict:?}");
        }
        // In progress, or a first-wave release still at an older commit: waiting for it.
        let mut records = healthy_records();
        records.insert("alpha/prod1".to_owned(), record(HEAD, "in_progress", "2026-12-05T00:00:00Z"));
        records.insert("alpha/staging".to_owned(), record(EARLY, "success", "2026-12-05T00:00:00Z"));
        assert_eq!(
            verdicts_at(&records)[0],
            Verdict::Waiting { wait: Wait::Releases { pending: vec!["alpha/staging".into(), "alpha/prod1".into()] } }
        );
    }

    #[test]
    fn a_wave_at_the_previous_commit_is_done() {
        let state = STATE.replace(REST, EARLY);
        let (rollout, estate) = (rollout(), estate());
        let pins = crate::config::rollout::parse_state("s", &state, &rollout).expect("valid");
        let records = healthy_records();
        let staging = |hub: &str| hub == "staging";
        let input = GateInput {
            rollout: &rollout,
            pins: &pins,
            estate: &estate,
            is_staging: &staging,
            now: parse_time("2026-12-10T00:00:00Z").expect("a time"),
            head_commit: HEAD,
            records: Some(&records),
        };
        let gates = gate(&input);
        let early = &gates[0].waves[1];
        assert_eq!(early.next.as_ref().map(|next| &next.verdict), Some(&Verdict::Done));
        assert_eq!(gates[0].waves[0].since.as_deref(), Some("2026-12-05T00:00:00Z"));
        assert_eq!(gates[0].waves[0].releases.len(), 3);
        assert_eq!(gates[0].waves[2].releases[0].release, "gamma/prod1");
        assert_eq!(gates[0].waves[2].healthy, Some(false), "gamma/prod1 runs 2222222, not the pin");
    }

    #[test]
    fn times() {
        for (text, formatted) in [
            ("2026-12-01T10:00:00Z", "2026-12-01T10:00:00Z"),
            ("2024-02-29T23:30:00.5-01:00", "2024-03-01T00:30:00Z"),
            ("1970-01-01T00:00:00Z", "1970-01-01T00:00:00Z"),
            ("2026-03-01T01:00:00+02:00", "2026-02-28T23:00:00Z"),
        ] {
            assert_eq!(parse_time(text).map(format_time).as_deref(), Some(formatted), "{text}");
        }
        assert_eq!(parse_time("1970-01-02T00:00:00Z"), Some(86_400));
        assert_eq!(parse_time("yesterday"), None);
        assert_eq!(duration(45), "45m");
        assert_eq!(duration(120), "2h");
        assert_eq!(duration(200), "3h 20m");
        assert_eq!(duration(1440 * 2 + 61), "2d 1h");
    }

    #[test]
    fn set_pin_replaces_the_values_where_they_are_written() {
        let since = "2026-12-07T01:02:03Z";
        let edited = set_pin(STATE, "basehub", "early", EARLY.replace('1', "3").as_str(), since).expect("edits");
        assert_eq!(edited, STATE.replace(EARLY, &"3".repeat(40)).replace("2026-12-01T10:00:00Z", since));
        let edited = set_pin(STATE, "basehub", "rest", EARLY, since).expect("edits");
        assert_eq!(edited, STATE.replace(REST, EARLY).replace("2026-11-20T10:00:00Z", since));
        let pins = crate::config::rollout::parse_state("s", &edited, &rollout()).expect("still valid");
        assert_eq!(pins.get("basehub", "rest").map(|pin| pin.commit.as_str()), Some(EARLY));
    }

    #[test]
    fn set_pin_adds_a_missing_entry() {
        let since = "2026-12-07T01:02:03Z";
        let text = "pins:\n  basehub:\n    rest: {commit: 2222222222222222222222222222222222222222, since: 2026-11-20T10:00:00Z}\n";
        let edited = set_pin(text, "basehub", "early", EARLY, since).expect("adds");
        assert_eq!(
            edited,
            format!("pins:\n  basehub:\n    early: {{commit: {EARLY}, since: \"{since}\"}}\n    rest: {{commit: {REST}, since: 2026-11-20T10:00:00Z}}\n")
        );
        let edited = set_pin("# nothing yet\n", "basehub", "early", EARLY, since).expect("adds");
        assert_eq!(
            edited,
            format!("# nothing yet\npins:\n  basehub:\n    early: {{commit: {EARLY}, since: \"{since}\"}}\n")
        );
        let edited = set_pin("pins:\n  other:\n    x: 1\n", "basehub", "early", EARLY, since).expect("adds");
        assert_eq!(
            edited,
            format!("pins:\n  basehub:\n    early: {{commit: {EARLY}, since: \"{since}\"}}\n  other:\n    x: 1\n")
        );
        assert!(set_pin("pins: {basehub: {}}\n", "basehub", "early", EARLY, since).is_err());
        assert!(set_pin(STATE, "basehub", "early", "abc", since).is_err());
    }
}
