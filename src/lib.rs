//! `deployer`: plan and run Helm deployments across many Kubernetes clusters
//! from one Git repository.
//!
//! The crate is split into a pure core and I/O edges (see `ARCHITECTURE.md`):
//!
//! - [`config`]: the repository's `cluster.yaml` files and `deployer.yaml`,
//!   deserialised into raw types and validated into typed values.
//! - [`changes`]: the changed paths and PR labels a plan is made from.
//! - [`plan`]: the decision rules; values in, values out.
//! - [`render`]: the plan as log tables, Markdown and JSON.
//! - [`plan_folder`]: the `plan.json` + `comment.md` hand-off to the comment workflow.
//! - [`generate`]: the `generate` stage, shared by the action and the CLI.
//! - [`deploy`]: the `helm upgrade` commands of a cluster's support chart and hubs, and running them.
//! - [`repo_fs`]: the one place that resolves repository paths on disk (inside the root, regular files, size cap).
//! - [`runner`]: the GitHub Actions runner contract; the only module that writes to stdout.

pub mod access;
pub mod actions;
pub mod artifact;
pub mod blocked;
pub mod changes;
pub mod chart_deps;
pub mod cluster_diff;
pub mod comment;
pub mod config;
pub mod deploy;
pub mod detect;
pub mod diagnostic;
pub mod diff;
pub mod error;
pub mod event;
pub mod explain;
pub mod filter;
pub mod generate;
pub mod github;
pub mod http;
pub mod jsonnet;
pub mod legs;
pub mod manifests;
pub mod plan;
pub mod plan_folder;
pub mod previous;
pub mod render;
pub mod repo_fs;
pub mod repo_path;
pub mod runner;
pub mod sops;
pub mod three_stage;

pub use diagnostic::Diagnostic;
pub use error::Error;
