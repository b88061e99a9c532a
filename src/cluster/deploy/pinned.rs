//! Which hub targets of a deploy run their chart at a rollout pin, and at which commit: a hub whose
//! chart rolls out in waves (`rollout.charts`) and whose wave is not the first deploys the chart as
//! it was at its wave's pin, never the head.
//!
//! With a matrix item (a leg), the item's `rollout.chart_commit` says which: empty is the head (the
//! first wave, or the `deployer:rollout-all` label); a commit must be the checkout state file's pin
//! for that hub (else the plan was made from another state file). Without an item (`--cluster`,
//! `--hubs`, the `cluster`/`hubs` inputs), the checkout's state file decides
//! ([`Rollout::release_rollout`]).

use std::collections::BTreeMap;

use super::Target;
use crate::base::error::Error;
use crate::base::repo_fs::RepoRoot;
use crate::config::charts::chart_folder;
use crate::config::rollout::{parse_state, JobRollout, Pins, Rollout, PROMOTE_HINT};
use crate::config::{Cluster, Settings};
use crate::tools::git_tree::PinnedAt;

/// The hubs of `targets` that run a pin, each with its commit, in order. `item` is the matrix item's
/// `rollout` of each hub (`None` without an item).
pub fn pinned_targets(
    root: &RepoRoot,
    settings: &Settings,
    cluster: &Cluster,
    targets: &[Target],
    item: Option<&BTreeMap<String, JobRollout>>,
) -> Result<Vec<(String, PinnedAt)>, Error> {
    let refuse = |hub: &str, why: String| {
        Error::input(super::inputs::HUBS, format!("hub `{hub}` of cluster {}: {why}", cluster.name))
    };
    let Some(rollout) = &settings.rollout else {
        if let Some((hub, _)) = item.into_iter().flatten().find(|(_, r)| !r.chart_commit.is_empty()) {
            return Err(refuse(
                hub,
                "the plan pins its chart, but `deployer.yaml` has no `rollout`: the plan was \
                made from another configuration; plan again"
                    .to_owned(),
            ));
        }
        return Ok(Vec::new());
    };
    let mut pins: Option<Pins> = None;
    let mut pinned = Vec::new();
    for target in targets {
        let Target::Hub(name) = target else { continue };
        let Some(hub) = cluster.hubs.iter().find(|h| &h.name == name) else { continue };
        let given = item.and_then(|item| item.get(name));
        if !rollout.rolls(&hub.helm_chart) {
            if given.is_some_and(|r| !r.chart_commit.is_empty()) {
                return Err(refuse(
                    name,
                    format!(
                        "the plan pins its chart, but {} does not roll out in waves (`rollout.charts`): the plan was \
                         made from another configuration; plan again",
                        hub.helm_chart
                    ),
                ));
            }
            continue;
        }
        if hub.chart_override.is_some() {
            return Err(refuse(
                name,
                format!(
                    "it has a `chart_override`, and its chart {} rolls out in waves (`rollout.charts`): a wave's pin \
                     is a commit of the chart itself, so an override cannot follow it. Remove the `chart_override`, \
                     or take {} out of `rollout.charts`",
                    hub.helm_chart, hub.helm_chart
                ),
            ));
        }
        if pins.is_none() {
            pins = Some(state_pins(root, rollout)?);
        }
        let staging = settings.is_staging_hub(&hub.name);
        let Some(expected) = rollout.release_rollout(pins.as_ref(), cluster, hub, staging, false) else { continue };
        let first_wave = rollout.waves.first().is_some_and(|wave| wave.name == expected.wave);
        let commit = match given {
            // The head: the first wave, or every wave with the `rollout-all` label.
            Some(given) if given.chart_commit.is_empty() => continue,
            Some(given) if given.chart_commit != expected.chart_commit || given.wave != expected.wave => {
                return Err(refuse(
                    name,
                    format!(
                        "the plan runs its chart {} at {} (wave {}), but the checkout's state file {} pins wave {} \
                         at {}: the plan was made from another state file; plan again from this commit",
                        hub.helm_chart,
                        short(&given.chart_commit),
                        given.wave,
                        rollout.state_file,
                        expected.wave,
                        if expected.chart_commit.is_empty() { "the head" } else { short(&expected.chart_commit) },
                    ),
                ));
            }
            Some(given) => given.chart_commit.clone(),
            None if first_wave => continue,
            None if item.is_some() || expected.chart_commit.is_empty() => {
                return Err(refuse(
                    name,
                    format!(
                        "its chart {} rolls out in waves and its wave {} runs a pin, but {}: refusing to deploy \
                         the head to a later wave",
                        hub.helm_chart,
                        expected.wave,
                        if item.is_some() {
                            "the matrix item carries no `rollout` for it (plan again)".to_owned()
                        } else {
                            format!("the state file {} has no pin for it", rollout.state_file)
                        }
                    ),
                ));
            }
            None => expected.chart_commit.clone(),
        };
        pinned.push((
            name.clone(),
            PinnedAt { commit, chart: chart_folder(&hub.helm_chart), wave: expected.wave.clone() },
        ));
    }
    Ok(pinned)
}

/// The checkout's state file, read and checked.
fn state_pins(root: &RepoRoot, rollout: &Rollout) -> Result<Pins, Error> {
    let file = crate::base::repo_path::normalize(&rollout.state_file);
    let text = root.read_config_file(&file).map_err(|refused| {
        let mut diagnostic = refused.file_diagnostic().hint(PROMOTE_HINT);
        diagnostic.message = format!("the rollout state file {file} cannot be read: it {}", refused.problem);
        Error::Config(vec![diagnostic])
    })?;
    parse_state(&file, &text, rollout).map_err(Error::Config)
}

fn short(commit: &str) -> &str {
    commit.get(..7).unwrap_or(commit)
}
