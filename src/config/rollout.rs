//! Progressive rollouts (`rollout` in `deployer.yaml`): which charts roll out
//! in waves, the waves in order with the hubs each selects, and the state file
//! holding each later wave's pin. Pure: checked here, read by [`super::load`],
//! used by the planner.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::globs::{leading_exclude, split_negation, Patterns};
use super::locate::{display_path, locate, Index, Segment, Shape};
use super::raw::{Provider, RawRollout, RawRolloutState, RawWave};
use super::suggest::did_you_mean;
use super::{Cluster, Estate, Hub};
use crate::base::diagnostic::Diagnostic;

/// Where the pins are when `rollout.state_file` is absent.
pub const DEFAULT_STATE_FILE: &str = "config/rollout.yaml";

/// The hint of a problem in the `rollout` block.
pub const ROLLOUT_HINT: &str = "`rollout.waves` lists the waves in order; each wave before the last selects hubs \
     with `hubs` (`<cluster>/<hub>` globs), `clusters` (globs), `providers` and `staging`, and the last wave has \
     no selector: it takes every other hub";

/// The hint of a missing or out-of-date pin.
pub const PROMOTE_HINT: &str = "every wave after the first runs each rolled chart at its pin \
     (`{commit: <40-hex sha>, since: <RFC 3339 time>}`); `deployer rollout promote` writes them";

/// The most waves `rollout.waves` may list.
pub const MAX_WAVES: usize = 20;

/// The validated `rollout` block.
#[derive(Debug, Clone)]
pub struct Rollout {
    /// The rolled charts (folder names under `helm-charts/`), as listed.
    pub charts: Vec<String>,
    /// Where each entry of `charts` is written, by index.
    pub chart_keys: Vec<Diagnostic>,
    /// The state file, repository-relative.
    pub state_file: String,
    /// Where `state_file` is written (or the `rollout` block when it is absent).
    pub state_file_key: Diagnostic,
    /// The waves in order; the last has no selector.
    pub waves: Vec<Wave>,
}

/// One wave.
#[derive(Debug, Clone)]
pub struct Wave {
    pub name: String,
    /// What the wave selects; `None` for the last wave, which takes every hub no earlier wave selects.
    pub selector: Option<Selector>,
    /// How long the wave runs a change before the next may get it, in minutes.
    pub soak_minutes: Option<u64>,
    /// Where the wave is written (its `name`), for problems found once the clusters are known.
    pub at: Diagnostic,
}

/// What a wave selects: a hub meeting every criterion given.
#[derive(Debug, Clone)]
pub struct Selector {
    /// `<cluster>/<hub>` globs.
    pub hubs: Option<Patterns>,
    /// Cluster-name globs.
    pub clusters: Option<Patterns>,
    pub providers: Option<Vec<Provider>>,
    /// `Some(true)`: staging hubs only; `Some(false)`: the others only.
    pub staging: Option<bool>,
}

impl Selector {
    /// True when the selector takes the hub `hub` of `cluster` (`staging`: whether it is a staging hub).
    pub fn selects(&self, cluster: &Cluster, hub: &Hub, staging: bool) -> bool {
        self.hubs.as_ref().is_none_or(|hubs| hubs.is_match(&format!("{}/{}", cluster.name, hub.name)))
            && self.clusters.as_ref().is_none_or(|clusters| clusters.is_match(&cluster.name))
            && self.providers.as_ref().is_none_or(|providers| providers.contains(&cluster.provider))
            && self.staging.is_none_or(|wanted| wanted == staging)
    }
}

impl Rollout {
    /// Validates the `rollout` block of the settings file `file` (whose text is `text`, for positions).
    pub fn from_raw(raw: RawRollout, file: &str, text: &str) -> Result<Rollout, Vec<Diagnostic>> {
        let at = |segments: &[Segment<'_>]| {
            Diagnostic::new(file, String::new()).at(locate(text, segments)).field(display_path(segments))
        };
        let problem = |segments: &[Segment<'_>], message: String| {
            let mut diagnostic = at(segments).hint(ROLLOUT_HINT);
            diagnostic.message = message;
            diagnostic
        };
        let mut problems = Vec::new();
        let charts = raw.charts.unwrap_or_default();
        if charts.is_empty() {
            problems.push(problem(
                &[Segment::Key("rollout"), Segment::Key("charts")],
                "`rollout.charts` lists no chart, so nothing rolls out in waves".to_owned(),
            ));
        }
        let mut chart_keys = Vec::with_capacity(charts.len());
        for (index, chart) in charts.iter().enumerate() {
            let segments = [Segment::Key("rollout"), Segment::Key("charts"), Segment::Index(index)];
            if charts[..index].contains(chart) {
                problems.push(problem(&segments, format!("the chart `{chart}` is listed twice")));
            }
            chart_keys.push(at(&segments));
        }
        let state_file = raw.state_file.unwrap_or_else(|| DEFAULT_STATE_FILE.to_owned());
        let state_file_key = at(&[Segment::Key("rollout"), Segment::Key("state_file")]);
        let raw_waves = raw.waves.unwrap_or_default();
        if raw_waves.is_empty() {
            problems.push(problem(
                &[Segment::Key("rollout"), Segment::Key("waves")],
                "`rollout.waves` lists no wave".to_owned(),
            ));
        } else if raw_waves.len() > MAX_WAVES {
            problems.push(problem(
                &[Segment::Key("rollout"), Segment::Key("waves")],
                format!("`rollout.waves` lists {} waves; at most {MAX_WAVES} are accepted", raw_waves.len()),
            ));
        }
        let last = raw_waves.len().saturating_sub(1);
        let mut waves = Vec::with_capacity(raw_waves.len());
        for (index, raw_wave) in raw_waves.into_iter().enumerate() {
            let wave_at = [Segment::Key("rollout"), Segment::Key("waves"), Segment::Index(index)];
            let field = |key: &'static str| {
                [Segment::Key("rollout"), Segment::Key("waves"), Segment::Index(index), Segment::Key(key)]
            };
            let name = raw_wave.name.clone();
            if !is_wave_name(&name) {
                problems.push(problem(
                    &field("name"),
                    "a wave name is lowercase letters, digits and `-` (at most 40 characters)".to_owned(),
                ));
            } else if waves.iter().any(|wave: &Wave| wave.name == name) {
                problems.push(problem(&field("name"), format!("the wave name `{name}` is used twice")));
            }
            let soak_minutes = match &raw_wave.soak {
                None => None,
                Some(soak) => match parse_soak(soak) {
                    Some(minutes) => Some(minutes),
                    None => {
                        problems.push(problem(
                            &field("soak"),
                            "`soak` is a number and a unit: `m` (minutes), `h`, `d` or `w`, such as `30m`, `12h`, \
                             `2d` or `1w`"
                                .to_owned(),
                        ));
                        None
                    }
                },
            };
            let has_selector = raw_wave.hubs.is_some()
                || raw_wave.clusters.is_some()
                || raw_wave.providers.is_some()
                || raw_wave.staging.is_some();
            let selector = if index == last {
                if has_selector {
                    problems.push(problem(
                        &wave_at,
                        format!(
                            "the last wave `{name}` has a selector; the last wave takes every hub no earlier wave \
                             selects, so it has none"
                        ),
                    ));
                }
                None
            } else if !has_selector {
                problems.push(problem(
                    &wave_at,
                    format!(
                        "the wave `{name}` has no selector; every wave but the last selects hubs with `hubs`, \
                         `clusters`, `providers` or `staging`"
                    ),
                ));
                None
            } else {
                match selector(&raw_wave, index) {
                    Ok(selector) => Some(selector),
                    Err((segments, message)) => {
                        let segments: Vec<Segment<'_>> = segments.iter().map(|s| s.as_segment()).collect();
                        problems.push(problem(&segments, message));
                        None
                    }
                }
            };
            waves.push(Wave { name, selector, soak_minutes, at: at(&field("name")) });
        }
        if problems.is_empty() {
            Ok(Rollout { charts, chart_keys, state_file, state_file_key, waves })
        } else {
            Err(problems)
        }
    }

    /// True when `chart` rolls out in waves.
    pub fn rolls(&self, chart: &str) -> bool {
        self.charts.iter().any(|rolled| rolled == chart)
    }

    /// The index of the wave of the hub `hub` of `cluster`: the first whose selector takes it, else the last.
    pub fn wave_of(&self, cluster: &Cluster, hub: &Hub, staging: bool) -> usize {
        self.waves
            .iter()
            .position(|wave| wave.selector.as_ref().is_some_and(|selector| selector.selects(cluster, hub, staging)))
            .unwrap_or(self.waves.len().saturating_sub(1))
    }

    /// The wave of `hub` and the commit its chart is rendered at, when its chart rolls out in waves: the
    /// first wave (and every wave with `rollout_all`) runs the head (an empty commit); a later wave its pin.
    /// A later wave without a pin in `pins` runs the head only when `pins` is `None` (no state file read);
    /// the state file's parser refuses a missing pin.
    pub fn release_rollout(
        &self,
        pins: Option<&Pins>,
        cluster: &Cluster,
        hub: &Hub,
        staging: bool,
        rollout_all: bool,
    ) -> Option<JobRollout> {
        if !self.rolls(&hub.helm_chart) {
            return None;
        }
        let index = self.wave_of(cluster, hub, staging);
        let wave = self.waves.get(index)?;
        let pinned = index > 0 && !rollout_all;
        let chart_commit = pinned
            .then(|| pins.and_then(|pins| pins.get(&hub.helm_chart, &wave.name)))
            .flatten()
            .map(|pin| pin.commit.clone())
            .unwrap_or_default();
        Some(JobRollout { wave: wave.name.clone(), chart_commit })
    }

    /// A used hub chart that does not roll out but reaches a rolled chart through `file://` dependencies
    /// (daskhub on basehub): the rolled chart's change would reach every hub of it at once, past the waves.
    /// One problem per such chart, at the rolled chart's entry of `rollout.charts`.
    pub fn check_dependents(&self, charts: &super::charts::ChartInputs, used: &BTreeSet<String>) -> Vec<Diagnostic> {
        let mut problems = Vec::new();
        for chart in used.iter().filter(|chart| !self.rolls(chart) && chart.as_str() != super::SUPPORT_RELEASE) {
            let reached = charts.inputs(chart).iter().skip(1).find_map(|input| {
                self.charts.iter().position(|rolled| super::charts::chart_folder(rolled) == input.folder)
            });
            let Some(index) = reached else { continue };
            let rolled = &self.charts[index];
            let mut diagnostic = self.chart_keys[index].clone().hint(ROLLOUT_HINT);
            diagnostic.message = format!(
                "the chart {chart} depends on {rolled} (`file://`), which rolls out in waves, but {chart} does not: \
                 a change of {rolled} would reach every hub of {chart} at once; list {chart} in `rollout.charts` too"
            );
            problems.push(diagnostic);
        }
        problems
    }

    /// The problems of the waves against the clusters: a hub two waves select (at the second wave, naming
    /// the first), a wave before the last that selects no hub, a rolled chart no hub uses.
    /// `is_staging` says whether a hub name is a staging hub's. With `some_blocked` (clusters left out of
    /// `estate`), a wave that selects no hub is not a problem: it may select the blocked clusters' hubs.
    pub fn check_estate(
        &self,
        estate: &Estate,
        is_staging: &dyn Fn(&str) -> bool,
        some_blocked: bool,
    ) -> Vec<Diagnostic> {
        let mut problems = Vec::new();
        // A pin is a commit of the chart itself: a hub's `chart_override` cannot follow it.
        for cluster in &estate.clusters {
            for hub in cluster.hubs.iter().filter(|hub| hub.chart_override.is_some()) {
                let Some(index) = self.charts.iter().position(|chart| chart == &hub.helm_chart) else { continue };
                let mut diagnostic = self.chart_keys[index].clone().hint(ROLLOUT_HINT);
                diagnostic.message = format!(
                    "the chart {} rolls out in waves, but the hub {}/{} ({}) pins it with a `chart_override`, which \
                     a wave's pin cannot follow: remove the override, or take {} out of `rollout.charts`",
                    hub.helm_chart, cluster.name, hub.name, cluster.file, hub.helm_chart
                );
                problems.push(diagnostic);
            }
        }
        let mut selected = vec![0usize; self.waves.len()];
        // Per (later wave, earlier wave): the hubs both select.
        let mut overlaps: BTreeMap<(usize, usize), Vec<String>> = BTreeMap::new();
        for cluster in &estate.clusters {
            for hub in &cluster.hubs {
                let staging = is_staging(&hub.name);
                let selecting: Vec<usize> = self
                    .waves
                    .iter()
                    .enumerate()
                    .filter(|(_, wave)| wave.selector.as_ref().is_some_and(|s| s.selects(cluster, hub, staging)))
                    .map(|(index, _)| index)
                    .collect();
                for &index in &selecting {
                    selected[index] += 1;
                }
                if let Some((&first, rest)) = selecting.split_first() {
                    for &later in rest {
                        overlaps.entry((later, first)).or_default().push(format!("{}/{}", cluster.name, hub.name));
                    }
                }
            }
        }
        let last = self.waves.len().saturating_sub(1);
        for (index, wave) in self.waves.iter().enumerate() {
            if index < last && selected[index] == 0 && !some_blocked {
                problems.push(wave_problem(wave, format!("the wave `{}` selects no hub", wave.name)));
            }
        }
        for ((later, first), hubs) in overlaps {
            let more = match hubs.len() {
                1 => String::new(),
                n => format!(" (and {} more hubs)", n - 1),
            };
            problems.push(wave_problem(
                &self.waves[later],
                format!(
                    "the wave `{}` selects the hub `{}`{more}, which the earlier wave `{}` already selects; a hub \
                     is in one wave only",
                    self.waves[later].name, hubs[0], self.waves[first].name
                ),
            ));
        }
        let used: BTreeSet<String> =
            estate.clusters.iter().flat_map(|cluster| cluster.hubs.iter().map(|hub| hub.helm_chart.clone())).collect();
        for (index, chart) in self.charts.iter().enumerate() {
            if used.contains(chart) {
                continue;
            }
            let mut diagnostic = self.chart_keys[index].clone().hint(ROLLOUT_HINT);
            diagnostic.message = match did_you_mean(chart, used.iter().map(String::as_str)) {
                Some(close) => format!("no hub uses the chart `{chart}`; did you mean `{close}`?"),
                None => format!("no hub uses the chart `{chart}` (hubs use: {})", used_list(&used)),
            };
            problems.push(diagnostic);
        }
        problems
    }
}

fn used_list(used: &BTreeSet<String>) -> String {
    used.iter().map(|chart| format!("`{chart}`")).collect::<Vec<_>>().join(", ")
}

fn wave_problem(wave: &Wave, message: String) -> Diagnostic {
    let mut diagnostic = wave.at.clone().hint(ROLLOUT_HINT);
    diagnostic.message = message;
    diagnostic
}

/// `[a-z0-9-]`, 1 to 40 characters.
pub fn is_wave_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 40
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// `30m`, `12h`, `2d`, `1w` in minutes; `None` for anything else (and for zero).
pub fn parse_soak(text: &str) -> Option<u64> {
    let unit = text.chars().last()?;
    let number = &text[..text.len() - unit.len_utf8()];
    if number.is_empty() || number.len() > 6 || !number.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let per_unit = match unit {
        'm' => 1,
        'h' => 60,
        'd' => 60 * 24,
        'w' => 60 * 24 * 7,
        _ => return None,
    };
    let minutes = number.parse::<u64>().ok()? * per_unit;
    (minutes > 0).then_some(minutes)
}

/// An owned field path below `rollout.waves[i]`.
#[derive(Debug, Clone)]
enum At {
    Key(&'static str),
    Index(usize),
}

impl At {
    fn as_segment(&self) -> Segment<'_> {
        match self {
            At::Key(key) => Segment::Key(key),
            At::Index(index) => Segment::Index(*index),
        }
    }
}

fn selector(raw: &RawWave, index: usize) -> Result<Selector, (Vec<At>, String)> {
    let lists = |key: &'static str, patterns: &Option<Vec<String>>| -> Result<Option<Patterns>, (Vec<At>, String)> {
        let Some(patterns) = patterns else { return Ok(None) };
        let base = vec![At::Key("rollout"), At::Key("waves"), At::Index(index), At::Key(key)];
        if patterns.is_empty() {
            return Err((base, format!("`{key}` lists no pattern")));
        }
        if let Some(first) = patterns.first().filter(|first| split_negation(first).0) {
            let mut at = base.clone();
            at.push(At::Index(0));
            return Err((at, leading_exclude(first)));
        }
        Patterns::new(patterns).map(Some).map_err(|(bad, reason)| {
            let mut at = base;
            at.push(At::Index(bad));
            (at, format!("invalid glob `{}`: {reason}", patterns[bad]))
        })
    };
    if let Some(written) = &raw.hubs {
        if let Some(bad) = written.iter().position(|pattern| !split_negation(pattern).1.contains('/')) {
            return Err((
                vec![At::Key("rollout"), At::Key("waves"), At::Index(index), At::Key("hubs"), At::Index(bad)],
                format!("`{}` has no `/`; a hub pattern is `<cluster>/<hub>`, such as `*/staging`", written[bad]),
            ));
        }
    }
    let hubs = lists("hubs", &raw.hubs)?;
    let clusters = lists("clusters", &raw.clusters)?;
    if raw.providers.as_ref().is_some_and(Vec::is_empty) {
        return Err((
            vec![At::Key("rollout"), At::Key("waves"), At::Index(index), At::Key("providers")],
            "`providers` lists no provider".to_owned(),
        ));
    }
    Ok(Selector { hubs, clusters, providers: raw.providers.clone(), staging: raw.staging })
}

/// The wave of a hub whose chart rolls out in waves, and the commit its chart is rendered at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JobRollout {
    pub wave: String,
    /// The wave's pin (40 lowercase hex digits); empty for the head (the first wave, or the
    /// `rollout-all` label).
    #[schemars(regex(pattern = r"^([0-9a-f]{40})?$"))]
    pub chart_commit: String,
}

impl JobRollout {
    /// `chart at 1234567 for the wave early` (or `at the head`), for the plan tables. The sha is not
    /// last, so that punctuation after it stays out of the comment's code span.
    pub fn describe(&self) -> String {
        match self.chart_commit.get(..7) {
            Some(short) => format!("chart at {short} for the wave {}", self.wave),
            None => format!("chart at the head for the wave {}", self.wave),
        }
    }
}

/// The pin of one wave for one chart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pin {
    /// The full commit sha (40 lowercase hex digits).
    pub commit: String,
    /// When the wave got it, RFC 3339 as written.
    pub since: String,
}

impl Pin {
    /// The first 7 digits of the commit, as a note shows it.
    pub fn short(&self) -> &str {
        &self.commit[..7.min(self.commit.len())]
    }
}

/// The validated state file: per rolled chart, per wave after the first, its pin.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pins {
    pub pins: BTreeMap<String, BTreeMap<String, Pin>>,
}

impl Pins {
    /// The pin of `wave` for `chart`, if any.
    pub fn get(&self, chart: &str, wave: &str) -> Option<&Pin> {
        self.pins.get(chart).and_then(|waves| waves.get(wave))
    }
}

/// Parses and validates the state file `file` against the waves and charts of `rollout`.
pub fn parse_state(file: &str, text: &str, rollout: &Rollout) -> Result<Pins, Vec<Diagnostic>> {
    let raw: RawRolloutState = super::yaml::parse(file, text)?;
    let index = Index::build(text, Shape::All).ok();
    let at = |segments: &[Segment<'_>], message: String| {
        Diagnostic::new(file, message).at(locate(text, segments)).field(display_path(segments)).hint(PROMOTE_HINT)
    };
    // A problem with a key itself (a name that is not a chart or a wave): at the key, not its value.
    let at_key = |segments: &[Segment<'_>], message: String| {
        let (key, parent) = match segments.split_last() {
            Some((Segment::Key(key), parent)) => (*key, parent),
            _ => return at(segments, message),
        };
        let position = index
            .as_ref()
            .and_then(|index| index.mapping(parent))
            .and_then(|mapping| mapping.get(key))
            .and_then(|entry| entry.key_position);
        match position {
            Some(position) => at(segments, message).at(Some(position)),
            None => at(segments, message),
        }
    };
    let mut problems = Vec::new();
    let mut pins = Pins::default();
    let wave_names: Vec<&str> = rollout.waves.iter().map(|wave| wave.name.as_str()).collect();
    for (chart, waves) in raw.pins.unwrap_or_default() {
        let chart_at = [Segment::Key("pins"), Segment::Key(&chart)];
        if !rollout.rolls(&chart) {
            let message = match did_you_mean(&chart, rollout.charts.iter().map(String::as_str)) {
                Some(close) => format!("`{chart}` is not a rolled chart; did you mean `{close}`?"),
                None => format!(
                    "`{chart}` is not a rolled chart (`rollout.charts`: {})",
                    rollout.charts.iter().map(|c| format!("`{c}`")).collect::<Vec<_>>().join(", ")
                ),
            };
            problems.push(at_key(&chart_at, message));
            continue;
        }
        let mut chart_pins = BTreeMap::new();
        for (wave, raw_pin) in waves.unwrap_or_default() {
            let wave_at = [Segment::Key("pins"), Segment::Key(&chart), Segment::Key(&wave)];
            match wave_names.iter().position(|name| *name == wave) {
                None => {
                    let message = match did_you_mean(&wave, wave_names.iter().copied()) {
                        Some(close) => format!("`{wave}` is not a wave; did you mean `{close}`?"),
                        None => format!("`{wave}` is not a wave (waves: {})", wave_names.join(", ")),
                    };
                    problems.push(at_key(&wave_at, message));
                    continue;
                }
                Some(0) => {
                    problems.push(at_key(
                        &wave_at,
                        format!("`{wave}` is the first wave, which runs the head; it has no pin"),
                    ));
                    continue;
                }
                Some(_) => {}
            }
            if !is_commit(&raw_pin.commit) {
                let segments =
                    [Segment::Key("pins"), Segment::Key(&chart), Segment::Key(&wave), Segment::Key("commit")];
                problems.push(at(&segments, "`commit` is a full commit sha: 40 lowercase hex digits".to_owned()));
            }
            if !is_rfc3339(&raw_pin.since) {
                let segments = [Segment::Key("pins"), Segment::Key(&chart), Segment::Key(&wave), Segment::Key("since")];
                problems.push(at(&segments, "`since` is an RFC 3339 time, such as `2026-12-01T10:00:00Z`".to_owned()));
            }
            chart_pins.insert(wave, Pin { commit: raw_pin.commit, since: raw_pin.since });
        }
        pins.pins.insert(chart, chart_pins);
    }
    for chart in &rollout.charts {
        let missing: Vec<&str> = rollout.waves[1.min(rollout.waves.len())..]
            .iter()
            .map(|wave| wave.name.as_str())
            .filter(|wave| pins.get(chart, wave).is_none())
            .collect();
        if !missing.is_empty() {
            let segments = [Segment::Key("pins"), Segment::Key(chart)];
            problems.push(at_key(
                &segments,
                format!("the chart `{chart}` has no pin for the wave(s) {}", missing.join(", ")),
            ));
        }
    }
    if problems.is_empty() {
        Ok(pins)
    } else {
        Err(problems)
    }
}

/// 40 lowercase hex digits.
pub fn is_commit(text: &str) -> bool {
    text.len() == 40 && text.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`, fields in range.
pub fn is_rfc3339(text: &str) -> bool {
    let bytes = text.as_bytes();
    let digits = |range: std::ops::Range<usize>| -> Option<u32> {
        let part = text.get(range)?;
        (!part.is_empty() && part.bytes().all(|b| b.is_ascii_digit())).then(|| part.parse().ok()).flatten()
    };
    let date_time = (|| {
        let (year, month, day) = (digits(0..4)?, digits(5..7)?, digits(8..10)?);
        let (hour, minute, second) = (digits(11..13)?, digits(14..16)?, digits(17..19)?);
        let separators = bytes.get(4) == Some(&b'-')
            && bytes.get(7) == Some(&b'-')
            && matches!(bytes.get(10), Some(b'T' | b't'))
            && bytes.get(13) == Some(&b':')
            && bytes.get(16) == Some(&b':');
        let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
        let days = match month {
            1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
            4 | 6 | 9 | 11 => 30,
            2 if leap => 29,
            2 => 28,
            _ => 0,
        };
        Some(separators && (1..=days).contains(&day) && hour < 24 && minute < 60 && second <= 60)
    })();
    if date_time != Some(true) {
        return false;
    }
    let mut rest = &text[19..];
    if let Some(fraction) = rest.strip_prefix('.') {
        let end = fraction.bytes().position(|b| !b.is_ascii_digit()).unwrap_or(fraction.len());
        if end == 0 {
            return false;
        }
        rest = &fraction[end..];
    }
    match rest.as_bytes() {
        [b'Z' | b'z'] => true,
        [b'+' | b'-', h1, h2, b':', m1, m2] => {
            [h1, h2, m1, m2].iter().all(|b| b.is_ascii_digit())
                && (*h1 - b'0') * 10 + (*h2 - b'0') < 24
                && (*m1 - b'0') * 10 + (*m2 - b'0') < 60
        }
        _ => false,
    }
}

/// A cluster of `basehub` hubs, for the unit tests of the modules that decide on waves.
#[cfg(test)]
pub mod fixture {
    use crate::config::raw::Provider;
    use crate::config::{Cluster, Hub};

    pub fn cluster(name: &str, provider: Provider, hubs: &[&str]) -> Cluster {
        Cluster {
            name: name.into(),
            provider,
            file: format!("c/{name}/cluster.yaml"),
            dir: format!("c/{name}"),
            support: None,
            hubs: hubs
                .iter()
                .map(|hub| Hub {
                    name: (*hub).into(),
                    helm_chart: "basehub".into(),
                    values_files: Vec::new(),
                    chart_override: None,
                    domain_override_file: None,
                    domain: None,
                })
                .collect(),
            access: Default::default(),
            infrastructure_provider: provider.as_str(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fixture::cluster;
    use super::*;

    fn rollout(text: &str) -> Result<Rollout, Vec<Diagnostic>> {
        let raw: crate::config::raw::RawSettings = crate::config::yaml::parse("deployer.yaml", text)?;
        Rollout::from_raw(raw.rollout.unwrap_or_default(), "deployer.yaml", text)
    }

    fn first_problem(text: &str) -> String {
        let problems = rollout(text).expect_err("a problem");
        problems[0].to_string().lines().next().unwrap_or_default().to_owned()
    }

    /// A wave takes a hub meeting every criterion it gives; the first wave that takes a hub is its wave, the
    /// last wave takes the rest.
    #[test]
    fn waves_take_hubs_by_every_criterion() {
        let text = "rollout:\n  charts: [basehub]\n  waves:\n    - name: canary\n      hubs: ['*/staging', 'a/*', '!a/big']\n    - name: early\n      providers: [aws]\n      staging: false\n      clusters: ['b*']\n    - name: rest\n";
        let rollout = rollout(text).expect("valid");
        let estate = Estate {
            clusters: vec![
                cluster("a", Provider::Gcp, &["staging", "one", "big"]),
                cluster("b1", Provider::Aws, &["staging", "one"]),
                cluster("c", Provider::Aws, &["one"]),
            ],
        };
        let staging = |name: &str| name == "staging";
        let waves: Vec<String> = estate
            .clusters
            .iter()
            .flat_map(|c| c.hubs.iter().map(move |h| (c, h)))
            .map(|(c, h)| {
                format!("{}/{}={}", c.name, h.name, rollout.waves[rollout.wave_of(c, h, staging(&h.name))].name)
            })
            .collect();
        assert_eq!(
            waves,
            ["a/staging=canary", "a/one=canary", "a/big=rest", "b1/staging=canary", "b1/one=early", "c/one=rest"]
        );
        assert!(rollout.check_estate(&estate, &staging, false).is_empty());
        assert_eq!(rollout.waves[1].soak_minutes, None);
    }

    #[test]
    fn rollout_blocks_are_checked_at_their_line() {
        let cases = [
            ("rollout:\n  charts: [basehub]\n  waves:\n    - name: canary\n      hubs: [staging]\n    - name: rest\n", "deployer.yaml:5:14: rollout.waves[0].hubs[0]: `staging` has no `/`"),
            ("rollout:\n  charts: [basehub]\n  waves:\n    - name: canary\n    - name: rest\n", "deployer.yaml:4:7: rollout.waves[0]: the wave `canary` has no selector"),
            ("rollout:\n  charts: [basehub]\n  waves:\n    - name: Canary\n      staging: true\n    - name: rest\n", "deployer.yaml:4:13: rollout.waves[0].name: a wave name is lowercase letters"),
            ("rollout:\n  charts: [basehub]\n  waves:\n    - name: a\n      staging: true\n    - name: a\n", "deployer.yaml:6:13: rollout.waves[1].name: the wave name `a` is used twice"),
            ("rollout:\n  charts: []\n  waves:\n    - name: rest\n", "deployer.yaml:2:3: rollout.charts: `rollout.charts` lists no chart"),
            ("rollout:\n  charts: [basehub]\n  waves:\n    - name: c\n      clusters: ['!x']\n    - name: rest\n", "deployer.yaml:5:18: rollout.waves[0].clusters[0]: `!x` excludes only"),
            ("rollout:\n  charts: [basehub]\n  waves:\n    - name: c\n      providers: [gpc]\n    - name: rest\n", "deployer.yaml:5:19: rollout.waves[0].providers[0]: unknown variant"),
        ];
        for (text, expected) in cases {
            let problem = first_problem(text);
            assert!(problem.starts_with(expected), "{problem}\nexpected {expected}");
        }
    }

    #[test]
    fn soak_durations() {
        for (text, minutes) in [("30m", Some(30)), ("12h", Some(720)), ("2d", Some(2880)), ("1w", Some(10080))] {
            assert_eq!(parse_soak(text), minutes, "{text}");
        }
        for text in ["", "m", "0h", "2", "2days", "1.5h", "-1d", "2D", "1234567m", "2 d"] {
            assert_eq!(parse_soak(text), None, "{text}");
        }
    }

    #[test]
    fn rfc3339_times() {
        for text in ["2026-12-01T10:00:00Z", "2026-02-28T23:59:59.123+01:00", "2024-02-29T00:00:00-05:30"] {
            assert!(is_rfc3339(text), "{text}");
        }
        for text in [
            "2026-12-01",
            "2026-13-01T10:00:00Z",
            "2026-02-29T10:00:00Z",
            "2026-12-01 10:00:00Z",
            "2026-12-01T24:00:00Z",
            "2026-12-01T10:00:00",
            "2026-12-01T10:00:00.Z",
            "2026-12-01T10:00:00+1:00",
        ] {
            assert!(!is_rfc3339(text), "{text}");
        }
    }

    #[test]
    fn commits_are_forty_lowercase_hex_digits() {
        assert!(is_commit(&"a1".repeat(20)));
        assert!(!is_commit(&"A1".repeat(20)));
        assert!(!is_commit("abc1234"));
    }

    #[test]
    fn wave_names() {
        assert!(is_wave_name("canary-2"));
        for name in ["", "Canary", "a_b", "a b", &"a".repeat(41)] {
            assert!(!is_wave_name(name), "{name}");
        }
    }
}
