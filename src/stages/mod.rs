//! The stages a workflow runs, each from its inputs to its outputs: generate,
//! the manifest diff, the filter and the comment; and the entrypoints of the
//! container actions (setup-cluster and deploy are stages of the cluster edge).

pub mod comment;
pub mod deployment_records;
pub mod diff;
pub mod entrypoints;
pub mod filter;
pub mod generate;
