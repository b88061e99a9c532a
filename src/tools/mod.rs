//! The external programs and services below both the manifest diff and the
//! cluster edge: the HTTPS client for cloud APIs, `sops`, and fetching a
//! chart's remote dependencies into a private helm home.

pub mod chart_deps;
pub mod http;
pub mod sops;
