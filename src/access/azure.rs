//! Azure: AKS credentials.
//!
//! Keyless: the job's GitHub OIDC token (audience `api://AzureADTokenExchange`)
//! is the client assertion of a federated credential of `client-id` in
//! `tenant-id`; with `client-secret` instead, the secret. The ARM token then
//! asks Resource Manager for the cluster's user credentials
//! (`listClusterUserCredential`), a kubeconfig.

use super::oidc::OidcSource;
use super::{access_error, ClusterCredentials, Endpoints, ProviderInputs};
use crate::config::Provider;
use crate::error::Error;
use crate::http::Http;

/// Credentials for the AKS cluster `cluster` in `resource_group`.
pub async fn credentials(
    http: &Http,
    oidc: &OidcSource,
    endpoints: &Endpoints,
    inputs: &ProviderInputs,
    resource_group: &str,
    cluster: &str,
) -> Result<ClusterCredentials, Error> {
    let _ = (http, oidc, endpoints, inputs, resource_group, cluster);
    Err(access_error(Provider::Azure, "getting credentials", "not implemented yet"))
}
