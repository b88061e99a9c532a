//! AWS: EKS credentials.
//!
//! Keyless: the job's GitHub OIDC token (audience `sts.amazonaws.com`) is
//! exchanged with STS `AssumeRoleWithWebIdentity` for `role-to-assume`; or
//! static access keys are used. EKS `DescribeCluster` gives the endpoint and
//! CA; the Kubernetes token is a presigned STS `GetCallerIdentity` URL
//! (with the `x-k8s-aws-id` header signed), prefixed `k8s-aws-v1.`.

use std::time::SystemTime;

use super::oidc::OidcSource;
use super::{access_error, ClusterCredentials, Endpoints, ProviderInputs};
use crate::config::Provider;
use crate::error::Error;
use crate::http::Http;

/// Credentials for the EKS cluster `cluster_name` of `account` in `region`.
#[allow(clippy::too_many_arguments)]
pub async fn credentials(
    http: &Http,
    oidc: &OidcSource,
    endpoints: &Endpoints,
    inputs: &ProviderInputs,
    account: &str,
    cluster_name: &str,
    region: &str,
    now: SystemTime,
) -> Result<ClusterCredentials, Error> {
    let _ = (http, oidc, endpoints, inputs, account, cluster_name, region, now);
    Err(access_error(Provider::Aws, "getting credentials", "not implemented yet"))
}
