//! One broken cluster blocks only itself.
//!
//! [`decide`] says what a run does about the [`BlockedCluster`]s the load
//! found: on a push (and any run that is not a pull request) the other
//! clusters are planned and the run fails at the end; on a pull request that
//! does not touch a blocked cluster's files the problems are warnings; on one
//! that does, everything stops as before. Problems in shared files
//! (`deployer.yaml`, a chart's `Chart.yaml`) never reach this module: they
//! stop everything. Pure.

use crate::config::blocked_clusters::BlockedCluster;
use crate::planning::changes::ChangeSet;

/// What kind of run plans: only pull requests are treated differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunKind {
    /// `pull_request` / `pull_request_target`.
    PullRequest,
    /// `push`, and everything that is not a pull request (`workflow_dispatch`, no event, the CLI).
    Push,
}

/// What a run does about its blocked clusters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing is blocked: plan as usual.
    Plan,
    /// Plan the other clusters and write everything, then report the blocked ones as errors and fail.
    PlanThenFail,
    /// Plan the other clusters, report the blocked ones as warnings, succeed.
    PlanWithWarnings,
    /// Stop before anything is written, with every problem as an error.
    Stop,
}

/// The decision. `healthy` is the number of clusters that loaded: when none did, there is nothing
/// to plan and the run stops as it always has. A pull request touches a blocked cluster when a
/// changed path is one of its files or under its folder, or when the change is a forced full plan
/// (its file list may be incomplete, so it may touch anything).
pub fn decide(blocked: &[BlockedCluster], healthy: usize, changes: &ChangeSet, kind: RunKind) -> Verdict {
    if blocked.is_empty() {
        return Verdict::Plan;
    }
    if healthy == 0 {
        return Verdict::Stop;
    }
    match kind {
        RunKind::Push => Verdict::PlanThenFail,
        RunKind::PullRequest if changes.force_all.is_some() || !touched(blocked, changes).is_empty() => Verdict::Stop,
        RunKind::PullRequest => Verdict::PlanWithWarnings,
    }
}

/// The blocked clusters the change touches.
pub fn touched<'b>(blocked: &'b [BlockedCluster], changes: &ChangeSet) -> Vec<&'b BlockedCluster> {
    blocked.iter().filter(|b| changes.paths.iter().any(|path| b.touched_by(path))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::config::blocked_clusters::fixture::blocked_a;

    fn changes(paths: &[&str]) -> ChangeSet {
        ChangeSet::new(paths, Vec::<String>::new())
    }

    #[test]
    fn decisions() {
        let blocked = [blocked_a()];
        let b_values = changes(&["config/clusters/b/hub.values.yaml"]);
        let a_values = changes(&["config/clusters/b/x.yaml", "config/clusters/a/hub.values.yaml"]);
        let shared = changes(&["config/clusters/common.values.yaml"]);
        let forced = changes(&["config/clusters/b/hub.values.yaml"]).with_force_all(Some("deploy-all".into()));
        use RunKind::{PullRequest, Push};
        use Verdict::*;
        let cases: &[(&[BlockedCluster], usize, &ChangeSet, RunKind, Verdict)] = &[
            (&[], 3, &a_values, Push, Plan),
            (&[], 3, &a_values, PullRequest, Plan),
            (&[], 0, &a_values, PullRequest, Plan),
            (&blocked, 2, &b_values, Push, PlanThenFail),
            (&blocked, 2, &a_values, Push, PlanThenFail),
            (&blocked, 2, &forced, Push, PlanThenFail),
            (&blocked, 2, &b_values, PullRequest, PlanWithWarnings),
            (&blocked, 2, &a_values, PullRequest, Stop),
            (&blocked, 2, &shared, PullRequest, Stop),
            (&blocked, 2, &forced, PullRequest, Stop),
            (&blocked, 0, &b_values, Push, Stop),
            (&blocked, 0, &b_values, PullRequest, Stop),
        ];
        for (index, (blocked, healthy, changes, kind, expected)) in cases.iter().enumerate() {
            assert_eq!(decide(blocked, *healthy, changes, *kind), *expected, "case {index}");
        }
    }
}
