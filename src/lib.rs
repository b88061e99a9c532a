//! `deployer`: plan and run Helm deployments across many Kubernetes clusters
//! from one Git repository.
//!
//! The modules are grouped by layer, bottom up; a layer imports only the
//! layers below it that `ARCHITECTURE.md`'s table allows:
//!
//! - [`base`]: the runner contract (the only module that writes to stdout), the
//!   one log sanitiser, errors, diagnostics, repository paths and the one place
//!   that resolves them on disk.
//! - [`config`]: `deployer.yaml`, `cluster.yaml`, charts and jsonnet values,
//!   deserialised into raw types and validated into typed values.
//! - [`planning`]: the pure decision core: changes, cluster edits, the rules,
//!   legs, explain, the filter.
//! - [`tools`]: HTTPS, `sops`, a chart's remote dependencies.
//! - [`manifest_diff`]: what a change does to each planned release's objects.
//! - [`github`]: the API client and what is read through it.
//! - [`cluster`]: credentials, kubeconfigs and `helm` against a cluster.
//! - [`presentation`]: log tables, step summary, PR comment, plan folder.
//! - [`stages`]: generate, diff, filter and comment, and the actions' entrypoints.

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
