//! The cluster edge: credentials and kubeconfigs (`access`, the setup-cluster
//! stage) and running `helm` against a cluster (`deploy`, the deploy stage).

pub mod access;
pub mod deploy;
