//! The pure decision core: values in, values out. What changed, what a
//! `cluster.yaml` edit touched, which clusters are blocked, the plan's rules,
//! which rollout pins a state file edit moved, the rollout gate (may the next wave be promoted),
//! packing into legs, the three-stage shape, `explain`, and the filter that
//! drops the prod jobs of failed canaries.

pub mod blocked_verdict;
pub mod changes;
pub mod cluster_edits;
pub mod explain;
pub mod filter;
pub mod legs;
pub mod pin_edits;
pub mod plan;
pub mod rollout_gate;
pub mod three_stage;
