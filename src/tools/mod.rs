//! The external programs and services below both the manifest diff and the
//! cluster edge: the HTTPS client for cloud APIs, `sops`, fetching a
//! chart's remote dependencies into a private helm home, and reading a
//! folder of the checkout at a commit from git.

pub mod chart_deps;
pub mod git_tree;
pub mod http;
pub mod sops;
