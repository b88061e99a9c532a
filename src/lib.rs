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

pub mod base;
pub mod cluster;
pub mod config;
pub mod github;
pub mod manifest_diff;
pub mod planning;
pub mod presentation;
pub mod stages;
pub mod tools;

pub use base::diagnostic::Diagnostic;
pub use base::error::Error;
