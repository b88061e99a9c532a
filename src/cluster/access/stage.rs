//! The `setup-cluster` action: inputs, provider dispatch, and the kubeconfig
//! handed to later steps.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::Deserialize;

use super::oidc::OidcSource;
use super::sops_env::{self, SopsExports, SopsMode};
use super::{
    access_error, aws, azure, file, gcp, kubeconfig, kubeconfig_file_refused, location, ClusterLocation, Endpoints,
    ProviderInputs,
};
use crate::base::diagnostic::Diagnostic;
use crate::base::error::Error;
use crate::base::repo_fs::{self, PathError, PathProblem, RepoRoot};
use crate::base::runner::{self, Level, Outputs, RunnerEnv};
use crate::config::load::{load_estate, load_settings};
use crate::config::locate::{locate, Segment};
use crate::config::{Cluster, Provider};
use crate::tools::http::Http;
use crate::tools::sops;

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
    pub const SOPS_CREDENTIALS: &str = "sops-credentials";
    pub const SOPS_AGE_KEY: &str = "sops-age-key";
    pub const SOPS_GCP_WORKLOAD_IDENTITY_PROVIDER: &str = "sops-gcp-workload-identity-provider";
    pub const SOPS_GCP_SERVICE_ACCOUNT: &str = "sops-gcp-service-account";
    pub const SOPS_GCP_CREDENTIALS_JSON: &str = "sops-gcp-credentials-json";
    pub const SOPS_AWS_ROLE_ARN: &str = "sops-aws-role-arn";
    /// Inputs that hold secrets: masked before anything else happens.
    pub const SECRET: &[&str] = &[
        CREDENTIALS_JSON,
        AWS_SECRET_ACCESS_KEY,
        AWS_SESSION_TOKEN,
        CLIENT_SECRET,
        KUBECONFIG,
        SOPS_AGE_KEY,
        SOPS_GCP_CREDENTIALS_JSON,
    ];
    /// The credential inputs: how the action reaches a cluster and its secrets. `actions/deploy`
    /// takes them too (it sets up each cluster itself).
    pub const CREDENTIALS: &[&str] = &[
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
        SOPS_CREDENTIALS,
        SOPS_AGE_KEY,
        SOPS_GCP_WORKLOAD_IDENTITY_PROVIDER,
        SOPS_GCP_SERVICE_ACCOUNT,
        SOPS_GCP_CREDENTIALS_JSON,
        SOPS_AWS_ROLE_ARN,
    ];
    /// Every input the action reads.
    pub const ALL: &[&str] =
        &crate::base::runner::concat_names::<{ 2 + CREDENTIALS.len() }>(&[CLUSTER, CONFIG], CREDENTIALS);
    /// The default of each input the code gives one (when the input is absent or empty), as
    /// `action.yml` must declare it (`tests/action_metadata.rs` checks it).
    pub fn defaults() -> Vec<(&'static str, String)> {
        vec![(SOPS_CREDENTIALS, crate::cluster::access::sops_env::DEFAULT_SOPS_CREDENTIALS.to_owned())]
    }
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
    pub sops_mode: SopsMode,
}

impl SetupInputs {
    /// Reads the inputs, masking every one-line secret first. Multi-line
    /// secrets (a kubeconfig, a key file) are masked field by field by their
    /// provider: masking them line by line would hide every `{` in the log.
    pub fn from_env(env: &RunnerEnv) -> Result<Self, Error> {
        let cluster = env
            .input(inputs::CLUSTER)
            .ok_or_else(|| Error::input(inputs::CLUSTER, "is required: the cluster name"))?
            .to_owned();
        Ok(SetupInputs { cluster, ..Self::from_env_for_leg(env)? })
    }

    /// The same, without a cluster: the credential inputs a leg of several clusters shares.
    pub fn from_env_for_leg(env: &RunnerEnv) -> Result<Self, Error> {
        for name in inputs::SECRET {
            if let Some(secret) = env.input(name).filter(|s| !s.contains('\n')) {
                runner::add_mask(secret);
            }
        }
        // An age key file's identities, line by line (its comments are not secret).
        for line in env.input(inputs::SOPS_AGE_KEY).map(sops_env::age_key_secrets).unwrap_or_default() {
            runner::add_mask(&line);
        }
        let sops_mode = SopsMode::parse(env.input(inputs::SOPS_CREDENTIALS))?;
        let text = |name: &str| env.input(name).map(str::to_owned);
        Ok(SetupInputs {
            cluster: String::new(),
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
                sops_age_key: text(inputs::SOPS_AGE_KEY),
                sops_gcp_workload_identity_provider: text(inputs::SOPS_GCP_WORKLOAD_IDENTITY_PROVIDER),
                sops_gcp_service_account: text(inputs::SOPS_GCP_SERVICE_ACCOUNT),
                sops_gcp_credentials_json: text(inputs::SOPS_GCP_CREDENTIALS_JSON),
                sops_aws_role_arn: text(inputs::SOPS_AWS_ROLE_ARN),
            },
            sops_mode,
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
    /// What later steps get for sops (nothing with `sops-credentials: none`).
    pub sops: SopsExports,
    /// The cluster.yaml `key:` file the credentials came from, when they did.
    pub key_file: Option<String>,
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

/// Gets access to the cluster and writes the kubeconfig. On failure, the
/// files written on the way (a sops identity's credentials) are removed.
pub fn run(env: &RunnerEnv, inputs: &SetupInputs) -> Result<SetupOutcome, Error> {
    let mut files = Vec::new();
    let result = run_recording(env, inputs, &mut files);
    if result.is_err() {
        for file in &files {
            // Best effort: the error being reported matters more than a file already gone.
            let _ = std::fs::remove_file(file);
        }
    }
    result
}

/// [`run`], each file it writes (the kubeconfig, the sops credential files)
/// added to `files` before it is written, so that a caller that owns them (a
/// leg of several clusters) can remove every one, even after a failure.
pub fn run_recording(env: &RunnerEnv, inputs: &SetupInputs, files: &mut Vec<PathBuf>) -> Result<SetupOutcome, Error> {
    let workspace = env.workspace();
    let (cluster, text) = find_cluster(&workspace, inputs.config.as_deref(), &inputs.cluster)?;
    let place = location(&cluster, &text)?;
    let root = RepoRoot::new(&workspace)?;
    let (written, output_path, export) = kubeconfig_paths(env, &cluster.name);
    let folder = written.parent().unwrap_or(Path::new(".")).to_path_buf();
    // The separate sops identities the repository's rules need for the files
    // this leg decrypts, checked and obtained before anything else runs.
    let (identities, identity_requests) = match inputs.sops_mode {
        SopsMode::None => (Vec::new(), 0),
        SopsMode::Auto => sops_identities(env, &root, &cluster, &place, &inputs.credentials)?,
    };
    // sops runs here too (an `enc-` kubeconfig, a `key:` file) with the age key and those identities already.
    let age_key = inputs.credentials.sops_age_key.as_deref();
    let early = sops_env::exports(&identities.iter().collect::<Vec<_>>(), age_key, &folder, &cluster.name);
    for secret in &early.secrets {
        runner::add_mask(secret);
    }
    for file in &early.files {
        files.push(file.path.clone());
        kubeconfig::write_private(&file.path, &file.contents)?;
    }
    let age_env = early.env();
    let mut credentials_inputs = inputs.credentials.clone();
    let key_file = credentials_from_key_file(&root, &cluster, &text, &mut credentials_inputs, &age_env)?;
    let credentials_inputs = &credentials_inputs;
    let (credentials, requests) = match &place {
        ClusterLocation::Kubeconfig { file: path } => {
            let refused = |refused: PathError| kubeconfig_file_refused(&cluster, &text, &refused);
            let kubeconfig = credentials_inputs.kubeconfig.as_deref();
            (file::credentials(&root, kubeconfig, path.as_deref(), &refused, &age_env)?, 0)
        }
        remote => {
            // Only the remote providers talk to endpoints: only they check and announce overrides.
            let endpoints = Endpoints::from_env(env, cluster.provider)?;
            let oidc = OidcSource::from_env(env)?;
            crate::tools::http::block_on(async {
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
    files.push(written.clone());
    kubeconfig::write_private(&written, &text)?;
    let sops = match inputs.sops_mode {
        SopsMode::None => SopsExports::default(),
        SopsMode::Auto => {
            // The cluster's own credentials first; the identities cover only what they do not.
            let all: Vec<&sops_env::SopsCredential> = credentials.sops.iter().chain(identities.iter()).collect();
            let exports = sops_env::exports(&all, age_key, &folder, &cluster.name);
            for secret in &exports.secrets {
                runner::add_mask(secret);
            }
            for file in &exports.files {
                if !files.contains(&file.path) {
                    files.push(file.path.clone());
                }
                kubeconfig::write_private(&file.path, &file.contents)?;
            }
            let mut covered = exports.covers.clone();
            covered.extend(sops_env::covered_by_env(env));
            for warning in sops_rule_warnings(&root, &covered, &cluster.name) {
                runner::annotate(Level::Warning, &warning);
            }
            exports
        }
    };
    let requests = requests + identity_requests;
    Ok(SetupOutcome { provider: cluster.provider, written, output_path, export, requests, sops, key_file })
}

/// The repository files this leg has sops decrypt, in two sets: those read
/// before the cluster's credentials exist (the provider block's `key:` file
/// when it is used, an `enc-` kubeconfig file) and the cluster's `enc-`
/// values files (support and every hub, the charts' own among them, and the
/// hubs' `domain_override_file`s: a setup step does not know which releases
/// follow, so all of them).
pub fn leg_sops_files(
    cluster: &Cluster,
    place: &ClusterLocation,
    inputs: &ProviderInputs,
) -> (Vec<String>, Vec<String>) {
    let mut early = Vec::new();
    let key = match cluster.provider {
        Provider::Gcp
            if inputs.workload_identity_provider.is_none()
                && inputs.service_account.is_none()
                && inputs.credentials_json.is_none() =>
        {
            cluster.access.gcp.as_ref().and_then(|b| b.key.clone())
        }
        Provider::Aws
            if inputs.role_to_assume.is_none()
                && inputs.aws_access_key_id.is_none()
                && inputs.aws_secret_access_key.is_none() =>
        {
            cluster.access.aws.as_ref().and_then(|b| b.key.clone())
        }
        _ => None,
    };
    if let Some(path) = key.filter(|k| !k.trim().is_empty()).and_then(|k| repo_fs::join_inside(&cluster.dir, &k).ok()) {
        early.push(path);
    }
    if let ClusterLocation::Kubeconfig { file: Some(file) } = place {
        if inputs.kubeconfig.is_none() && sops::is_encrypted(file) {
            early.push(file.clone());
        }
    }
    let mut later: Vec<String> = Vec::new();
    let support = cluster.support.iter().flat_map(|s| s.values_files.iter());
    for file in support.chain(cluster.hubs.iter().flat_map(|h| h.values_files.iter())) {
        if sops::is_encrypted(&file.path) && !later.contains(&file.path) {
            later.push(file.path.clone());
        }
    }
    // A hub's `domain_override_file` is decrypted for `{domain}` of its jsonnet values.
    for file in cluster.hubs.iter().filter_map(|h| h.domain_override_file.as_ref()) {
        if sops::is_encrypted(file) && !later.contains(file) {
            later.push(file.clone());
        }
    }
    (early, later)
}

/// The key type a cluster's own credentials give sops.
fn provider_key_type(provider: Provider) -> Option<sops_env::KeyType> {
    match provider {
        Provider::Gcp => Some(sops_env::KeyType::GcpKms),
        Provider::Aws => Some(sops_env::KeyType::AwsKms),
        Provider::Azure => Some(sops_env::KeyType::AzureKeyVault),
        Provider::Kubeconfig => None,
    }
}

/// The key types the sops identity inputs can give.
fn identity_types(inputs: &ProviderInputs) -> Vec<sops_env::KeyType> {
    let mut types = Vec::new();
    if inputs.sops_gcp_workload_identity_provider.is_some()
        || inputs.sops_gcp_service_account.is_some()
        || inputs.sops_gcp_credentials_json.is_some()
    {
        types.push(sops_env::KeyType::GcpKms);
    }
    if inputs.sops_aws_role_arn.is_some() {
        types.push(sops_env::KeyType::AwsKms);
    }
    types
}

/// Which key types `.sops.yaml`'s creation rules need for the files this leg
/// decrypts; refuses (before any credentials are asked for) a rule no
/// credentials of the leg open; obtains the separate sops identities needed
/// beyond the cluster's own credentials, the age key and earlier steps'
/// variables. Returns them and the requests made.
fn sops_identities(
    env: &RunnerEnv,
    root: &RepoRoot,
    cluster: &Cluster,
    place: &ClusterLocation,
    inputs: &ProviderInputs,
) -> Result<(Vec<sops_env::SopsCredential>, usize), Error> {
    use sops_env::{KeyType, NeededRule, RulesProblem};
    let text = match root.read_config_file(SOPS_CONFIG) {
        Ok(text) => text,
        // Missing: nothing to check. Refused: `sops_rule_warnings` says so.
        Err(_) => return Ok((Vec::new(), 0)),
    };
    let (early_files, later_files) = leg_sops_files(cluster, place, inputs);
    let rules = |files: &[String]| {
        sops_env::rules_for_files(&text, files).map(|(rules, _)| rules).map_err(|problem| {
            Error::Config(vec![match problem {
                RulesProblem::Unreadable(line, column) => Diagnostic::new(
                    SOPS_CONFIG,
                    "cannot read the creation rules: no check of the keys sops needs for this leg's files",
                )
                .at(Some((line, column)))
                .hint("sops reads this file too: fix its YAML (no anchors or aliases)"),
                RulesProblem::BadRegex { rule, message } => {
                    let path = [Segment::Key("creation_rules"), Segment::Index(rule), Segment::Key("path_regex")];
                    Diagnostic::new(SOPS_CONFIG, format!("`path_regex` is not a regular expression: {message}"))
                        .at(locate(&text, &path))
                        .field(format!("creation_rules[{rule}].path_regex"))
                        .hint("sops matches it (Go RE2 syntax) against each file's path from the repository root")
                }
            }])
        })
    };
    let early_rules = rules(&early_files)?;
    let later_rules = rules(&later_files)?;
    let mut early_covered = sops_env::covered_by_env(env);
    if inputs.sops_age_key.as_deref().is_some_and(|k| !k.trim().is_empty()) {
        early_covered.push(KeyType::Age);
    }
    let mut later_covered = early_covered.clone();
    later_covered.extend(provider_key_type(cluster.provider));
    let available = identity_types(inputs);
    let mut obtain = sops_env::identities_to_obtain(&early_rules, &early_covered, &available);
    let with = |covered: &[KeyType], obtain: &[KeyType]| covered.iter().chain(obtain).copied().collect::<Vec<_>>();
    for key_type in sops_env::identities_to_obtain(&later_rules, &with(&later_covered, &obtain), &available) {
        obtain.push(key_type);
    }
    // Rules still closed, each once with all its files (the early ones first)
    // and what the leg has for them.
    let mut closed: Vec<(NeededRule, Vec<KeyType>)> = Vec::new();
    let candidates = early_rules
        .iter()
        .map(|r| (r, with(&early_covered, &obtain)))
        .chain(later_rules.iter().map(|r| (r, with(&later_covered, &obtain))));
    for (rule, covered) in candidates {
        if rule.opened_by(&covered) {
            continue;
        }
        match closed.iter_mut().find(|(c, _)| c.rule == rule.rule) {
            Some((entry, _)) => {
                let more: Vec<String> = rule.files.iter().filter(|f| !entry.files.contains(f)).cloned().collect();
                entry.files.extend(more);
            }
            None => closed.push((rule.clone(), covered)),
        }
    }
    if !closed.is_empty() {
        return Err(Error::Config(sops_env::unopened_rules(SOPS_CONFIG, &text, &closed, &cluster.name)));
    }
    if obtain.is_empty() {
        return Ok((Vec::new(), 0));
    }
    let mut providers = vec![cluster.provider];
    for key_type in &obtain {
        providers.push(match key_type {
            KeyType::AwsKms => Provider::Aws,
            _ => Provider::Gcp,
        });
    }
    let endpoints = Endpoints::from_env_for(env, &providers)?;
    let oidc = OidcSource::from_env(env)?;
    let mut secrets = Vec::new();
    let result = crate::tools::http::block_on(async {
        let http = Http::new(Duration::from_secs(30));
        let mut found = Vec::new();
        for key_type in &obtain {
            let credential = match key_type {
                KeyType::AwsKms => {
                    let role = inputs.sops_aws_role_arn.as_deref().unwrap_or_default();
                    let sts = endpoints.aws_sts.as_deref();
                    aws::sops_identity(&http, &oidc, sts, role, &cluster.name, SystemTime::now(), &mut secrets).await?
                }
                _ => gcp::sops_identity(&http, &oidc, &endpoints, inputs, &mut secrets).await?,
            };
            found.push(credential);
        }
        Ok::<_, Error>((found, http.request_count()))
    })?;
    for secret in &secrets {
        runner::add_mask(secret);
    }
    let (found, requests) = result?;
    for credential in &found {
        let field = match credential.key_type() {
            KeyType::AwsKms => "kms",
            _ => "gcp_kms",
        };
        runner::print(&format!(
            "For sops: a separate {} identity for the repository's `{field}` keys (cluster {} is {})\n",
            match credential.key_type() {
                KeyType::AwsKms => "AWS",
                _ => "GCP",
            },
            cluster.name,
            cluster.provider.as_str()
        ));
    }
    Ok((found, requests))
}

/// The repository's sops configuration, at its root as sops finds it from the checkout.
pub const SOPS_CONFIG: &str = ".sops.yaml";

/// Warnings for the `.sops.yaml` key types this leg has no credentials for (none without the file).
fn sops_rule_warnings(root: &RepoRoot, covered: &[sops_env::KeyType], cluster: &str) -> Vec<Diagnostic> {
    match root.read_config_file(SOPS_CONFIG) {
        Ok(text) => sops_env::warnings(SOPS_CONFIG, &text, covered, cluster),
        Err(refused) if refused.problem == PathProblem::NotFound => Vec::new(),
        Err(refused) => {
            vec![Diagnostic::new(SOPS_CONFIG, format!("not checked for the keys sops needs: it {}", refused.problem))
                .hint(refused.problem.hint())]
        }
    }
}

/// The `AccessKey` of `aws iam create-access-key`'s JSON, as a `key:` file holds it. No `Debug`.
#[derive(Deserialize)]
struct CreatedAccessKey {
    #[serde(rename = "AccessKey")]
    access_key: AccessKeyFields,
}

#[derive(Deserialize)]
struct AccessKeyFields {
    #[serde(rename = "AccessKeyId")]
    access_key_id: String,
    #[serde(rename = "SecretAccessKey")]
    secret_access_key: String,
}

/// Credentials from the sops-encrypted `key:` file the cluster's `gcp` or
/// `aws` block names (as repositories in this layout already have), when
/// no keyless or key input is given: decrypted in memory with `sops_env`,
/// every value masked, and put in `credentials` as if given as inputs.
/// Returns the file's repository path when one was used.
pub fn credentials_from_key_file(
    root: &RepoRoot,
    cluster: &Cluster,
    text: &str,
    credentials: &mut ProviderInputs,
    sops_env: &[(String, String)],
) -> Result<Option<String>, Error> {
    let (block, key) = match cluster.provider {
        Provider::Gcp
            if credentials.workload_identity_provider.is_none()
                && credentials.service_account.is_none()
                && credentials.credentials_json.is_none() =>
        {
            ("gcp", cluster.access.gcp.as_ref().and_then(|b| b.key.clone()))
        }
        Provider::Aws
            if credentials.role_to_assume.is_none()
                && credentials.aws_access_key_id.is_none()
                && credentials.aws_secret_access_key.is_none() =>
        {
            ("aws", cluster.access.aws.as_ref().and_then(|b| b.key.clone()))
        }
        _ => return Ok(None),
    };
    let Some(key) = key.filter(|k| !k.trim().is_empty()) else { return Ok(None) };
    let refused = |problem: PathProblem| {
        let field = format!("{block}.key");
        Error::Config(vec![Diagnostic::new(
            &cluster.file,
            format!("key file {}", PathError { path: key.clone(), problem: problem.clone() }),
        )
        .at(locate(text, &[Segment::Key(block), Segment::Key("key")]))
        .field(field)
        .hint(match problem {
            PathProblem::Climbs => "the key file sits in the cluster's own folder, beside cluster.yaml",
            other => other.hint(),
        })])
    };
    let joined = repo_fs::join_inside(&cluster.dir, &key).map_err(&refused)?;
    let folder = cluster.dir.trim_end_matches('/');
    let inside = folder.is_empty() || joined.strip_prefix(folder).is_some_and(|rest| rest.starts_with('/'));
    if !inside {
        return Err(refused(PathProblem::Climbs));
    }
    let path = root.config_file(&joined).map_err(|e| refused(e.problem))?;
    let plaintext = sops::decrypt_with(&path, sops_env)?;
    let step = format!("reading the `{block}.key` file {joined}");
    let provider = cluster.provider;
    let text = String::from_utf8(plaintext).map_err(|_| access_error(provider, &step, "it is not UTF-8"))?;
    match provider {
        Provider::Aws => {
            let created: CreatedAccessKey = serde_json::from_str(&text).map_err(|e| {
                access_error(
                    provider,
                    &step,
                    format!(
                        "it is not the JSON `aws iam create-access-key` prints (`AccessKey.AccessKeyId`,                          `AccessKey.SecretAccessKey`): line {} column {}",
                        e.line(),
                        e.column()
                    ),
                )
            })?;
            runner::add_mask(&created.access_key.access_key_id);
            runner::add_mask(&created.access_key.secret_access_key);
            credentials.aws_access_key_id = Some(created.access_key.access_key_id);
            credentials.aws_secret_access_key = Some(created.access_key.secret_access_key);
        }
        _ => {
            // The key's secret parts (the provider masks the private key's lines
            // too); masking every value would hide words such as `service_account`.
            if let Ok(serde_json::Value::Object(key)) = serde_json::from_str::<serde_json::Value>(&text) {
                for field in ["private_key_id", "private_key"] {
                    let value = key.get(field).and_then(serde_json::Value::as_str).unwrap_or_default();
                    for line in value.lines().map(str::trim).filter(|l| l.len() >= 8 && !l.starts_with("-----")) {
                        runner::add_mask(line);
                    }
                }
            }
            credentials.credentials_json = Some(text);
        }
    }
    Ok(Some(joined))
}

impl SetupOutcome {
    /// The step outputs.
    pub fn outputs(&self) -> Outputs {
        let mut out = Outputs::default();
        out.set(outputs::KUBECONFIG, self.output_path.clone());
        out.set(outputs::PROVIDER, self.provider.as_str());
        out
    }

    /// `KUBECONFIG` and the sops variables for later steps (each secret among them already masked).
    pub fn environment(&self) -> Outputs {
        let mut out = Outputs::default();
        out.set("KUBECONFIG", self.export.clone());
        for (name, value) in &self.sops.vars {
            out.set(name, value.clone());
        }
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
