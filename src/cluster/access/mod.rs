//! Cluster access: from a cluster name to a kubeconfig, for one matrix leg.
//!
//! The cluster's `cluster.yaml` names the provider and where the cluster is;
//! the action's inputs carry credentials, keyless (GitHub OIDC) first. Each
//! provider module turns those into [`ClusterCredentials`]; this module checks
//! the provider block, renders the kubeconfig and writes it (mode 0600,
//! outside the checkout) for later steps. Every secret is masked with
//! `::add-mask::` before anything could print it.

pub mod aws;
pub mod azure;
pub mod file;
pub mod gcp;
pub mod kubeconfig;
pub mod oidc;
pub mod sops_env;
pub mod stage;

use crate::base::diagnostic::Diagnostic;
use crate::base::error::Error;
use crate::base::repo_fs::{self, PathError};
use crate::base::runner::RunnerEnv;
use crate::config::locate::{locate, Segment};
use crate::config::{Cluster, Provider};
use crate::tools::http::{endpoint_from_env, EndpointSource};

/// What a provider found: how to reach the cluster's API server.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClusterCredentials {
    /// API server URL, `https://...`.
    pub server: String,
    /// The cluster CA bundle, base64 of PEM, as kubeconfigs carry it.
    pub certificate_authority_data: Option<String>,
    /// A bearer token for the API server.
    pub token: Option<String>,
    /// A complete kubeconfig instead of the fields above (Azure, the kubeconfig provider).
    pub kubeconfig: Option<String>,
    /// Every secret obtained on the way (tokens, keys), to mask.
    pub secrets: Vec<String>,
    /// What the login gives sops for the repository's encrypted files (see [`sops_env`]).
    pub sops: Option<sops_env::SopsCredential>,
}

/// Where a cluster is, checked for its provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClusterLocation {
    Gcp {
        project: String,
        cluster: String,
        zone: String,
    },
    Aws {
        account: String,
        cluster_name: String,
        region: String,
    },
    Azure {
        resource_group: String,
        cluster: String,
    },
    /// A kubeconfig file, repository-relative, when cluster.yaml names one.
    Kubeconfig {
        file: Option<String>,
    },
}

/// The credential inputs of `setup-cluster`. Empty ones are `None`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProviderInputs {
    pub workload_identity_provider: Option<String>,
    pub service_account: Option<String>,
    pub credentials_json: Option<String>,
    pub role_to_assume: Option<String>,
    pub aws_access_key_id: Option<String>,
    pub aws_secret_access_key: Option<String>,
    pub aws_session_token: Option<String>,
    pub client_id: Option<String>,
    pub tenant_id: Option<String>,
    pub subscription_id: Option<String>,
    pub client_secret: Option<String>,
    pub kubeconfig: Option<String>,
    /// `sops-age-key`: age identities for sops (`SOPS_AGE_KEY`).
    pub sops_age_key: Option<String>,
    /// `sops-gcp-workload-identity-provider`: keyless GCP identity for sops's `gcp_kms` keys.
    pub sops_gcp_workload_identity_provider: Option<String>,
    /// `sops-gcp-service-account`: the service account that identity impersonates (optional).
    pub sops_gcp_service_account: Option<String>,
    /// `sops-gcp-credentials-json`: a service-account key for sops's `gcp_kms` keys.
    pub sops_gcp_credentials_json: Option<String>,
    /// `sops-aws-role-arn`: a role assumed keyless for sops's `kms` keys.
    pub sops_aws_role_arn: Option<String>,
}

/// Base URLs of every service used, overridable so tests use local fakes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    /// Google STS (`https://sts.googleapis.com`).
    pub google_sts: String,
    /// Google IAM credentials (`https://iamcredentials.googleapis.com`).
    pub google_iam: String,
    /// Google OAuth token endpoint for service-account keys (`https://oauth2.googleapis.com`).
    pub google_oauth: String,
    /// GKE API (`https://container.googleapis.com`).
    pub gke: String,
    /// AWS STS; `None` means `https://sts.{region}.amazonaws.com`.
    pub aws_sts: Option<String>,
    /// EKS; `None` means `https://eks.{region}.amazonaws.com`.
    pub aws_eks: Option<String>,
    /// Microsoft identity platform (`https://login.microsoftonline.com`).
    pub azure_login: String,
    /// Azure Resource Manager (`https://management.azure.com`).
    pub azure_arm: String,
}

impl Endpoints {
    /// The public endpoints, each overridable with an environment variable
    /// (`DEPLOYER_GOOGLE_STS_URL`, `DEPLOYER_GOOGLE_IAM_URL`,
    /// `DEPLOYER_GOOGLE_OAUTH_URL`, `DEPLOYER_GKE_URL`, `DEPLOYER_AWS_STS_URL`,
    /// `DEPLOYER_AWS_EKS_URL`, `DEPLOYER_AZURE_LOGIN_URL`, `DEPLOYER_AZURE_ARM_URL`).
    /// Only the overrides of `provider` are in use: each must be `https://`
    /// (see [`crate::tools::http::endpoint_from_env`]) and is announced with a
    /// warning; the other providers' variables are ignored.
    pub fn from_env(env: &RunnerEnv, provider: Provider) -> Result<Self, Error> {
        Self::from_env_for(env, &[provider])
    }

    /// [`Endpoints::from_env`] for several providers in use (the cluster's
    /// and those of its sops identities).
    pub fn from_env_for(env: &RunnerEnv, providers: &[Provider]) -> Result<Self, Error> {
        let optional = |owner: Provider, name: &str| match providers.contains(&owner) {
            true => endpoint_from_env(env, name, EndpointSource::Override),
            false => Ok(None),
        };
        let pick = |owner: Provider, name: &str, default: &str| {
            Ok::<_, Error>(optional(owner, name)?.unwrap_or_else(|| default.to_owned()))
        };
        use Provider::{Aws, Azure, Gcp};
        Ok(Endpoints {
            google_sts: pick(Gcp, "DEPLOYER_GOOGLE_STS_URL", "https://sts.googleapis.com")?,
            google_iam: pick(Gcp, "DEPLOYER_GOOGLE_IAM_URL", "https://iamcredentials.googleapis.com")?,
            google_oauth: pick(Gcp, "DEPLOYER_GOOGLE_OAUTH_URL", "https://oauth2.googleapis.com")?,
            gke: pick(Gcp, "DEPLOYER_GKE_URL", "https://container.googleapis.com")?,
            aws_sts: optional(Aws, "DEPLOYER_AWS_STS_URL")?,
            aws_eks: optional(Aws, "DEPLOYER_AWS_EKS_URL")?,
            azure_login: pick(Azure, "DEPLOYER_AZURE_LOGIN_URL", "https://login.microsoftonline.com")?,
            azure_arm: pick(Azure, "DEPLOYER_AZURE_ARM_URL", "https://management.azure.com")?,
        })
    }
}

/// An access failure, naming the provider and what to fix.
pub fn access_error(provider: Provider, step: &str, message: impl Into<String>) -> Error {
    Error::Access { provider: provider.as_str(), step: step.to_owned(), message: message.into() }
}

/// Checks the provider block of `cluster` (whose file text is `text`).
pub fn location(cluster: &Cluster, text: &str) -> Result<ClusterLocation, Error> {
    let missing = |block: &'static str, field: &'static str| {
        let path = [Segment::Key(block), Segment::Key(field)];
        Error::Config(vec![Diagnostic::new(
            &cluster.file,
            format!("`{block}.{field}` is required for provider `{block}`"),
        )
        .at(locate(text, &path))
        .field(format!("{block}.{field}"))
        .hint(format!("add a `{block}:` block with `{field}` to {}", cluster.file))])
    };
    let need = |value: &Option<String>, block: &'static str, field: &'static str| {
        value.clone().filter(|v| !v.trim().is_empty()).ok_or_else(|| missing(block, field))
    };
    let blocks = &cluster.access;
    match cluster.provider {
        Provider::Gcp => {
            let block = blocks.gcp.clone().unwrap_or_default();
            Ok(ClusterLocation::Gcp {
                project: need(&block.project, "gcp", "project")?,
                cluster: need(&block.cluster, "gcp", "cluster")?,
                zone: need(&block.zone, "gcp", "zone")?,
            })
        }
        Provider::Aws => {
            let block = blocks.aws.clone().unwrap_or_default();
            Ok(ClusterLocation::Aws {
                account: need(&block.account, "aws", "account")?,
                cluster_name: need(&block.cluster_name, "aws", "clusterName")?,
                region: need(&block.region, "aws", "region")?,
            })
        }
        Provider::Azure => {
            let block = blocks.azure.clone().unwrap_or_default();
            Ok(ClusterLocation::Azure {
                resource_group: need(&block.resource_group, "azure", "resource_group")?,
                cluster: need(&block.cluster, "azure", "cluster")?,
            })
        }
        Provider::Kubeconfig => {
            let file = blocks.kubeconfig.as_ref().and_then(|b| b.file.clone()).filter(|f| !f.trim().is_empty());
            let file = file
                .map(|f| {
                    repo_fs::join_inside(&cluster.dir, &f)
                        .map_err(|problem| kubeconfig_file_refused(cluster, text, &PathError { path: f, problem }))
                })
                .transpose()?;
            Ok(ClusterLocation::Kubeconfig { file })
        }
    }
}

/// A `kubeconfig.file` that may not be read, at its line in `cluster.yaml` (whose text is `text`).
pub fn kubeconfig_file_refused(cluster: &Cluster, text: &str, refused: &PathError) -> Error {
    let path = [Segment::Key("kubeconfig"), Segment::Key("file")];
    Error::Config(vec![Diagnostic::new(&cluster.file, format!("kubeconfig file {refused}"))
        .at(locate(text, &path))
        .field("kubeconfig.file")
        .hint(refused.problem.hint())])
}
