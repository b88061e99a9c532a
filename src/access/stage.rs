//! The `setup-cluster` action: inputs, provider dispatch, and the kubeconfig
//! handed to later steps.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::oidc::OidcSource;
use super::{
    aws, azure, file, gcp, kubeconfig, kubeconfig_file_refused, location, ClusterLocation, Endpoints, ProviderInputs,
};
use crate::config::load::{load_estate, load_settings};
use crate::config::{Cluster, Provider};
use crate::error::Error;
use crate::http::Http;
use crate::repo_fs::{PathError, RepoRoot};
use crate::runner::{self, Outputs, RunnerEnv};

/// Input names of `actions/setup-cluster`.
pub mod inputs {
    pub const CLUSTER: &str = "cluster";
    pub const CONFIG: &str = "config";
    pub const WORKLOAD_IDENTITY_PROVIDER: &str = "workload-identity-provider";
    pub const SERVICE_ACCOUNT: &str = "service-account";
    pub const CREDENTIALS_JSON: &str = "credentials-json";
    pub const ROLE_TO_ASSUME: &str = "role-to-assume";
    pub const AWS_ACCESS_KEY_ID: &str = "aws-access-key-id";
    pub const AWS_SECRET_ACCESS_KEY: &str = "aws-secret-access-key";
    pub const AWS_SESSION_TOKEN: &str = "aws-session-token";
    pub const CLIENT_ID: &str = "client-id";
    pub const TENANT_ID: &str = "tenant-id";
    pub const SUBSCRIPTION_ID: &str = "subscription-id";
    pub const CLIENT_SECRET: &str = "client-secret";
    pub const KUBECONFIG: &str = "kubeconfig";
    /// Inputs that hold secrets: masked before anything else happens.
    pub const SECRET: &[&str] =
        &[CREDENTIALS_JSON, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, CLIENT_SECRET, KUBECONFIG];
    /// Every input the action reads.
    pub const ALL: &[&str] = &[
        CLUSTER,
        CONFIG,
        WORKLOAD_IDENTITY_PROVIDER,
        SERVICE_ACCOUNT,
        CREDENTIALS_JSON,
        ROLE_TO_ASSUME,
        AWS_ACCESS_KEY_ID,
        AWS_SECRET_ACCESS_KEY,
        AWS_SESSION_TOKEN,
        CLIENT_ID,
        TENANT_ID,
        SUBSCRIPTION_ID,
        CLIENT_SECRET,
        KUBECONFIG,
    ];
}

/// Output names of `actions/setup-cluster`.
pub mod outputs {
    pub const KUBECONFIG: &str = "kubeconfig";
    pub const PROVIDER: &str = "provider";
    /// Every output the action writes.
    pub const ALL: &[&str] = &[KUBECONFIG, PROVIDER];
}

/// The inputs of `actions/setup-cluster`, parsed.
#[derive(Debug, Clone)]
pub struct SetupInputs {
    pub cluster: String,
    pub config: Option<PathBuf>,
    pub credentials: ProviderInputs,
}

impl SetupInputs {
    /// Reads the inputs, masking every one-line secret first. Multi-line
    /// secrets (a kubeconfig, a key file) are masked field by field by their
    /// provider: masking them line by line would hide every `{` in the log.
    pub fn from_env(env: &RunnerEnv) -> Result<Self, Error> {
        for name in inputs::SECRET {
            if let Some(secret) = env.input(name).filter(|s| !s.contains('\n')) {
                runner::add_mask(secret);
            }
        }
        let text = |name: &str| env.input(name).map(str::to_owned);
        let cluster =
            text(inputs::CLUSTER).ok_or_else(|| Error::input(inputs::CLUSTER, "is required: the cluster name"))?;
        Ok(SetupInputs {
            cluster,
            config: text(inputs::CONFIG).map(PathBuf::from),
            credentials: ProviderInputs {
                workload_identity_provider: text(inputs::WORKLOAD_IDENTITY_PROVIDER),
                service_account: text(inputs::SERVICE_ACCOUNT),
                credentials_json: text(inputs::CREDENTIALS_JSON),
                role_to_assume: text(inputs::ROLE_TO_ASSUME),
                aws_access_key_id: text(inputs::AWS_ACCESS_KEY_ID),
                aws_secret_access_key: text(inputs::AWS_SECRET_ACCESS_KEY),
                aws_session_token: text(inputs::AWS_SESSION_TOKEN),
                client_id: text(inputs::CLIENT_ID),
                tenant_id: text(inputs::TENANT_ID),
                subscription_id: text(inputs::SUBSCRIPTION_ID),
                client_secret: text(inputs::CLIENT_SECRET),
                kubeconfig: text(inputs::KUBECONFIG),
            },
        })
    }
}

/// What setup-cluster produced.
#[derive(Debug, Clone)]
pub struct SetupOutcome {
    pub provider: Provider,
    /// Where the kubeconfig was written, as this process sees it.
    pub written: PathBuf,
    /// The path for the `kubeconfig` output: the host's view when in a container.
    pub output_path: String,
    /// The `KUBECONFIG` value for later steps.
    pub export: String,
    pub requests: usize,
}

/// Finds `name` among the repository's clusters.
pub fn find_cluster(repo: &Path, config: Option<&Path>, name: &str) -> Result<(Cluster, String), Error> {
    let settings = load_settings(repo, config)?;
    let estate = load_estate(repo, &settings)?;
    let cluster = estate.clusters.into_iter().find(|c| c.name == name).ok_or_else(|| {
        Error::input(inputs::CLUSTER, format!("no cluster named `{name}` in {}", settings.cluster_glob))
    })?;
    let text =
        RepoRoot::new(repo)?.read_config_file(&cluster.file).map_err(|e| Error::Config(vec![e.file_diagnostic()]))?;
    Ok((cluster, text))
}

/// Where the kubeconfig goes and what `KUBECONFIG` says, seen from here and
/// from the host. In a container action `$HOME` is `/github/home`, mounted
/// from `$RUNNER_TEMP/_github_home` on the host; `KUBECONFIG` lists both
/// paths so that `run:` steps on the host and later container steps each find
/// the file (kubectl and helm skip the one that does not exist).
pub fn kubeconfig_paths(env: &RunnerEnv, cluster: &str) -> (PathBuf, String, String) {
    let home = env.var("HOME").filter(|h| !h.is_empty()).unwrap_or("/github/home");
    let file_name = format!("deployer-{cluster}.yaml");
    let written = Path::new(home).join(".kube").join(&file_name);
    let here = written.to_string_lossy().into_owned();
    match env.var("RUNNER_TEMP").filter(|t| !t.is_empty() && home == "/github/home") {
        Some(temp) => {
            let host = format!("{}/_github_home/.kube/{file_name}", temp.trim_end_matches('/'));
            (written, host.clone(), format!("{here}:{host}"))
        }
        None => (written, here.clone(), here),
    }
}

/// Gets access to the cluster and writes the kubeconfig.
pub fn run(env: &RunnerEnv, inputs: &SetupInputs) -> Result<SetupOutcome, Error> {
    let workspace = env.workspace();
    let (cluster, text) = find_cluster(&workspace, inputs.config.as_deref(), &inputs.cluster)?;
    let place = location(&cluster, &text)?;
    let credentials_inputs = &inputs.credentials;
    let (credentials, requests) = match &place {
        ClusterLocation::Kubeconfig { file: path } => {
            let root = RepoRoot::new(&workspace)?;
            let refused = |refused: PathError| kubeconfig_file_refused(&cluster, &text, &refused);
            (file::credentials(&root, credentials_inputs.kubeconfig.as_deref(), path.as_deref(), &refused)?, 0)
        }
        remote => {
            // Only the remote providers talk to endpoints: only they check and announce overrides.
            let endpoints = Endpoints::from_env(env, cluster.provider)?;
            let oidc = OidcSource::from_env(env)?;
            crate::github::block_on(async {
                let http = Http::new(Duration::from_secs(30));
                let result = match remote {
                    ClusterLocation::Gcp { project, cluster, zone } => {
                        gcp::credentials(&http, &oidc, &endpoints, credentials_inputs, project, cluster, zone).await
                    }
                    ClusterLocation::Aws { account, cluster_name, region } => {
                        let now = SystemTime::now();
                        aws::credentials(
                            &http,
                            &oidc,
                            &endpoints,
                            credentials_inputs,
                            account,
                            cluster_name,
                            region,
                            now,
                        )
                        .await
                    }
                    ClusterLocation::Azure { resource_group, cluster } => {
                        azure::credentials(&http, &oidc, &endpoints, credentials_inputs, resource_group, cluster).await
                    }
                    ClusterLocation::Kubeconfig { .. } => unreachable!("handled above"),
                };
                result.map(|credentials| (credentials, http.request_count()))
            })??
        }
    };
    for secret in credentials.secrets.iter().chain(credentials.token.iter()) {
        runner::add_mask(secret);
    }
    let text = kubeconfig::render(&cluster.name, &credentials)?;
    // Every credential field of the kubeconfig about to be written, whatever
    // provider made it (the user's own kubeconfig included), is masked too.
    for secret in kubeconfig::secrets_in(&text) {
        runner::add_mask(&secret);
    }
    let (written, output_path, export) = kubeconfig_paths(env, &cluster.name);
    kubeconfig::write_private(&written, &text)?;
    Ok(SetupOutcome { provider: cluster.provider, written, output_path, export, requests })
}

impl SetupOutcome {
    /// The step outputs.
    pub fn outputs(&self) -> Outputs {
        let mut out = Outputs::default();
        out.set(outputs::KUBECONFIG, self.output_path.clone());
        out.set(outputs::PROVIDER, self.provider.as_str());
        out
    }

    /// `KUBECONFIG` for later steps.
    pub fn environment(&self) -> Outputs {
        let mut out = Outputs::default();
        out.set("KUBECONFIG", self.export.clone());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubeconfig_paths_serve_host_and_container() {
        let container = RunnerEnv::from_vars([("HOME", "/github/home"), ("RUNNER_TEMP", "/home/runner/work/_temp")]);
        let (written, output, export) = kubeconfig_paths(&container, "c1");
        assert_eq!(written, PathBuf::from("/github/home/.kube/deployer-c1.yaml"));
        assert_eq!(output, "/home/runner/work/_temp/_github_home/.kube/deployer-c1.yaml");
        assert_eq!(
            export,
            "/github/home/.kube/deployer-c1.yaml:/home/runner/work/_temp/_github_home/.kube/deployer-c1.yaml"
        );
        let host = RunnerEnv::from_vars([("HOME", "/home/me"), ("RUNNER_TEMP", "/tmp/r")]);
        let (written, output, export) = kubeconfig_paths(&host, "c1");
        assert_eq!(written, PathBuf::from("/home/me/.kube/deployer-c1.yaml"));
        assert_eq!(output, export);
    }
}
