//! `deployer deploy` outside a leg: the cluster `--cluster` names is the one
//! helm and kubectl reach, or nothing runs.
//!
//! The actions get access from `cluster.yaml` (`setup-cluster`, `deploy::leg`);
//! the command line runs where a person's `KUBECONFIG` may point anywhere.
//! Before any helm, kubectl or sops call for values:
//!
//! - a `kubeconfig` cluster with `kubeconfig.file`: that file (decrypted with
//!   sops when it is an `enc-` file) is written to a private temporary file,
//!   removed when the deploy ends (also on an error or SIGTERM), and is the
//!   `KUBECONFIG` of helm, kubectl and the health check; the caller's is ignored;
//! - any other cluster: the current kubectl context (of `KUBECONFIG`, or
//!   `~/.kube/config`) must be the cluster's (GKE `gke_<project>_<location>_<cluster>`,
//!   EKS `arn:aws:eks:<region>:<account>:cluster/<name>`, AKS `<cluster>`, or the
//!   context `setup-cluster` writes), else the deploy is refused with the
//!   command that gets the right credentials.
//!
//! `--use-current-context` skips both, with a warning line. A dry run runs
//! nothing and checks nothing. The `HELM_KUBE*` variables that would send helm
//! elsewhere than kubectl (`HELM_KUBECONTEXT`, `HELM_KUBEAPISERVER`, …) are
//! emptied for helm.

use serde::Deserialize;

use super::DeployRequest;
use crate::base::error::Error;
use crate::base::private_dir::PrivateDir;
use crate::base::repo_fs::RepoRoot;
use crate::base::runner;
use crate::base::stop;
use crate::cluster::access::{self, kubeconfig, ClusterLocation};
use crate::config::{Cluster, Provider};

/// The helm variables that override the kubeconfig's current context, server or user.
const HELM_OVERRIDES: &[&str] = &[
    "HELM_KUBECONTEXT",
    "HELM_KUBEAPISERVER",
    "HELM_KUBETOKEN",
    "HELM_KUBEASUSER",
    "HELM_KUBEASGROUPS",
    "HELM_KUBECAFILE",
    "HELM_KUBETLS_SERVER_NAME",
    "HELM_KUBEINSECURE_SKIP_TLS_VERIFY",
];

/// How the command line reaches the cluster: variables for helm, kubectl and
/// the health check, and the private kubeconfig, removed when this is dropped.
#[derive(Default)]
pub struct TargetAccess {
    /// Added to the request's `env`.
    pub env: Vec<(String, String)>,
    /// The private folder holding the cluster's kubeconfig, if one was written.
    private: Option<PrivateDir>,
}

impl TargetAccess {
    /// The private kubeconfig written for this deploy, if any.
    pub fn kubeconfig(&self) -> Option<std::path::PathBuf> {
        self.private.as_ref().map(|dir| dir.path().join("kubeconfig"))
    }
}

/// Makes sure helm and kubectl reach the cluster of `request` (see the module
/// documentation). `var` reads the caller's environment; `actions` is true
/// inside a GitHub Actions job (the kubeconfig's credentials are then masked).
pub fn prepare(
    request: &DeployRequest,
    use_current_context: bool,
    actions: bool,
    var: &dyn Fn(&str) -> Option<String>,
) -> Result<TargetAccess, Error> {
    if request.dry_run {
        return Ok(TargetAccess::default());
    }
    let (cluster, text) = access::stage::find_cluster(&request.repo, request.config.as_deref(), &request.cluster)?;
    // An unknown hub or a missing support chart is reported as `deploy` reports it, before access.
    if super::resolve_targets(&cluster, request.support, &request.hubs)?.is_empty() {
        return Ok(TargetAccess::default());
    }
    let place = access::location(&cluster, &text)?;
    if use_current_context {
        runner::print(&format!(
            "warning: --use-current-context: not checking that helm and kubectl reach cluster {} \
             ({} provider); they use the KUBECONFIG of the environment as it is\n",
            cluster.name,
            cluster.provider.as_str()
        ));
        return Ok(TargetAccess::default());
    }
    let mut target = TargetAccess::default();
    let overridden: Vec<&str> =
        HELM_OVERRIDES.iter().copied().filter(|name| var(name).is_some_and(|v| !v.is_empty())).collect();
    for name in HELM_OVERRIDES {
        target.env.push(((*name).to_owned(), String::new()));
    }
    if !overridden.is_empty() {
        runner::print(&format!(
            "Ignoring {} of the environment: helm uses the cluster's kubeconfig context, as kubectl does\n",
            overridden.join(", ")
        ));
    }
    match &place {
        ClusterLocation::Kubeconfig { file: Some(file) } => {
            // From here on SIGTERM/SIGINT are recorded, so that the private file is removed.
            stop::install()?;
            let contents = read_kubeconfig_file(&request.repo, &cluster, &text, file)?;
            if actions {
                for secret in kubeconfig::secrets_in(&contents) {
                    runner::add_mask(&secret);
                }
            }
            kubeconfig::check(&contents)
                .map_err(|e| access::access_error(Provider::Kubeconfig, &format!("reading {file}"), e.to_string()))?;
            let private = PrivateDir::create_named("deployer-kubeconfig")?;
            let path = private.path().join("kubeconfig");
            target.private = Some(private);
            kubeconfig::write_private(&path, &contents)?;
            target.env.push(("KUBECONFIG".to_owned(), path.to_string_lossy().into_owned()));
            let how = if crate::tools::sops::is_encrypted(file) { " (decrypted with sops)" } else { "" };
            runner::print(&format!(
                "Cluster {}: helm and kubectl use its kubeconfig.file {file}{how} from a private temporary file, \
                 removed afterwards; the KUBECONFIG of the environment is ignored\n",
                cluster.name
            ));
            if let Some(signal) = stop::received() {
                return Err(Error::Interrupted {
                    signal,
                    message: format!(
                        "the deploy on cluster {} was stopped before helm ran; its kubeconfig is removed",
                        cluster.name
                    ),
                });
            }
        }
        _ => {
            let current = current_context(var)?;
            let expected = expected(&cluster, &place);
            match expected.accepts(&current) {
                Some(name) => runner::print(&format!(
                    "Cluster {}: the current kubectl context {} (server {}, from {}) is the cluster's ({name})\n",
                    cluster.name,
                    current.name.as_deref().unwrap_or_default(),
                    current.server.as_deref().unwrap_or("unknown"),
                    current.source
                )),
                None => return Err(refusal(&cluster, &expected, &current)),
            }
        }
    }
    Ok(target)
}

/// The text of the cluster's `kubeconfig.file`, decrypted with sops when it is an `enc-` file.
fn read_kubeconfig_file(repo: &std::path::Path, cluster: &Cluster, text: &str, file: &str) -> Result<String, Error> {
    let root = RepoRoot::new(repo)?;
    let refused = |refused| access::kubeconfig_file_refused(cluster, text, &refused);
    let bytes = if crate::tools::sops::is_encrypted(file) {
        crate::tools::sops::decrypt_with(&root.config_file(file).map_err(refused)?, &[])?
    } else {
        root.read_config_file(file).map_err(refused)?.into_bytes()
    };
    String::from_utf8(bytes).map_err(|_| {
        access::access_error(Provider::Kubeconfig, "reading the kubeconfig", format!("{file} is not UTF-8"))
    })
}

/// The current context of the caller's kubeconfig, as kubectl resolves it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CurrentContext {
    /// `KUBECONFIG=...` or the `~/.kube/config` path, for messages.
    pub source: String,
    pub name: Option<String>,
    /// The context's cluster entry.
    pub cluster: Option<String>,
    pub server: Option<String>,
    pub user: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct KubeFile {
    #[serde(default)]
    clusters: Option<Vec<NamedCluster>>,
    #[serde(default)]
    contexts: Option<Vec<NamedContext>>,
    #[serde(rename = "current-context", default)]
    current_context: Option<String>,
}

#[derive(Debug, Deserialize)]
struct NamedCluster {
    name: String,
    #[serde(default)]
    cluster: Option<ClusterFields>,
}

#[derive(Debug, Deserialize)]
struct ClusterFields {
    #[serde(default)]
    server: Option<String>,
}

#[derive(Debug, Deserialize)]
struct NamedContext {
    name: String,
    #[serde(default)]
    context: Option<ContextFields>,
}

#[derive(Debug, Deserialize)]
struct ContextFields {
    #[serde(default)]
    cluster: Option<String>,
    #[serde(default)]
    user: Option<String>,
}

/// Reads the caller's kubeconfig: the files of `KUBECONFIG` (`:`-separated,
/// missing ones skipped, the first `current-context` and the first entry of
/// each name winning, as kubectl merges them), or `$HOME/.kube/config`.
pub fn current_context(var: &dyn Fn(&str) -> Option<String>) -> Result<CurrentContext, Error> {
    let (source, paths): (String, Vec<std::path::PathBuf>) = match var("KUBECONFIG").filter(|v| !v.is_empty()) {
        Some(list) => {
            (format!("KUBECONFIG={list}"), list.split(':').filter(|p| !p.is_empty()).map(Into::into).collect())
        }
        None => match var("HOME").filter(|h| !h.is_empty()) {
            Some(home) => {
                let path = std::path::Path::new(&home).join(".kube").join("config");
                (path.display().to_string(), vec![path])
            }
            None => ("the environment: neither KUBECONFIG nor HOME is set".to_owned(), Vec::new()),
        },
    };
    let mut texts = Vec::new();
    for path in &paths {
        match std::fs::read_to_string(path) {
            Ok(text) => texts.push((path.display().to_string(), text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(path, e)),
        }
    }
    resolve(source, &texts)
}

/// [`current_context`] from the files' texts (name, text), in order.
fn resolve(source: String, texts: &[(String, String)]) -> Result<CurrentContext, Error> {
    let mut files = Vec::new();
    for (name, text) in texts {
        if text.trim().is_empty() {
            continue;
        }
        let file: KubeFile = yaml_serde::from_str(text).map_err(|e| {
            let at = e.location().map(|l| format!(" (line {}, column {})", l.line(), l.column())).unwrap_or_default();
            Error::Runner(format!(
                "the kubeconfig {name} is not valid{at}: {}",
                crate::config::yaml::value_free_message(&e.to_string())
            ))
        })?;
        files.push(file);
    }
    let mut current = CurrentContext { source, ..CurrentContext::default() };
    current.name = files.iter().find_map(|f| f.current_context.clone().filter(|c| !c.is_empty()));
    let Some(name) = &current.name else { return Ok(current) };
    let context = files.iter().flat_map(|f| f.contexts.iter().flatten()).find(|c| &c.name == name);
    let fields = context.and_then(|c| c.context.as_ref());
    current.cluster = fields.and_then(|f| f.cluster.clone());
    current.user = fields.and_then(|f| f.user.clone());
    if let Some(entry) = &current.cluster {
        current.server = files
            .iter()
            .flat_map(|f| f.clusters.iter().flatten())
            .find(|c| &c.name == entry)
            .and_then(|c| c.cluster.as_ref())
            .and_then(|c| c.server.clone());
    }
    Ok(current)
}

/// What the cluster's context looks like, and how to get it.
struct Expected {
    /// Where the cluster is, for messages: `GKE cluster c (project p, location z)`.
    what: String,
    /// Context or cluster-entry names that are the cluster's.
    names: Vec<String>,
    /// An EKS cluster's ARN, matched in any AWS partition (`arn:aws-cn:...`).
    eks_arn_tail: Option<String>,
    /// The context `setup-cluster` writes: named after the deployer's cluster, user `deployer-<name>`.
    setup_cluster: (String, String),
    /// The command that gets the cluster's credentials.
    how: String,
}

impl Expected {
    /// The rule the current context meets, if any.
    fn accepts(&self, current: &CurrentContext) -> Option<String> {
        let candidates = [current.name.as_deref(), current.cluster.as_deref()];
        for candidate in candidates.into_iter().flatten() {
            if self.names.iter().any(|n| n == candidate) {
                return Some(format!("named {candidate}"));
            }
            if let Some(tail) = &self.eks_arn_tail {
                if candidate.starts_with("arn:aws") && candidate.split_once(":eks:").is_some_and(|(_, t)| t == tail) {
                    return Some(format!("EKS cluster {candidate}"));
                }
            }
        }
        let (context, user) = &self.setup_cluster;
        if current.name.as_deref() == Some(context) && current.user.as_deref() == Some(user) {
            return Some(format!("the context setup-cluster writes, user {user}"));
        }
        None
    }
}

fn expected(cluster: &Cluster, place: &ClusterLocation) -> Expected {
    let setup_cluster = (cluster.name.clone(), format!("deployer-{}", cluster.name));
    match place {
        ClusterLocation::Gcp { project, cluster: name, zone } => {
            // A zone is `<region>-<letter>`: `us-central1-a`; a region has one dash fewer.
            let flag = if zone.matches('-').count() >= 2 { "--zone" } else { "--region" };
            let context = format!("gke_{project}_{zone}_{name}");
            Expected {
                what: format!("GKE cluster {name} (project {project}, location {zone})"),
                how: format!(
                    "`gcloud container clusters get-credentials {name} {flag} {zone} --project {project}` \
                     (it adds the context {context} and makes it current)"
                ),
                names: vec![context],
                eks_arn_tail: None,
                setup_cluster,
            }
        }
        ClusterLocation::Aws { account, cluster_name, region } => Expected {
            what: format!("EKS cluster {cluster_name} (account {account}, region {region})"),
            how: format!(
                "`aws eks update-kubeconfig --name {cluster_name} --region {region}` (it adds the context \
                 arn:aws:eks:{region}:{account}:cluster/{cluster_name} and makes it current; use a profile \
                 of account {account})"
            ),
            names: vec![format!("{cluster_name}.{region}.eksctl.io")],
            eks_arn_tail: Some(format!("{region}:{account}:cluster/{cluster_name}")),
            setup_cluster,
        },
        ClusterLocation::Azure { resource_group, cluster: name } => Expected {
            what: format!("AKS cluster {name} (resource group {resource_group})"),
            how: format!(
                "`az aks get-credentials --resource-group {resource_group} --name {name}` \
                 (it adds the context {name} and makes it current)"
            ),
            names: vec![name.clone(), format!("{name}-admin")],
            eks_arn_tail: None,
            setup_cluster,
        },
        ClusterLocation::Kubeconfig { .. } => Expected {
            what: format!("a kubeconfig cluster with no kubeconfig.file in {}", cluster.file),
            how: format!(
                "`kubectl config use-context {name}` with a context of that name for the cluster, or name the \
                 cluster's kubeconfig in `kubeconfig.file` of {}",
                cluster.file,
                name = cluster.name
            ),
            names: vec![cluster.name.clone()],
            eks_arn_tail: None,
            setup_cluster,
        },
    }
}

fn refusal(cluster: &Cluster, expected: &Expected, current: &CurrentContext) -> Error {
    let now = match &current.name {
        Some(name) => format!(
            "the current kubectl context is {name} (server {}, from {})",
            current.server.as_deref().unwrap_or("unknown"),
            current.source
        ),
        None => format!("there is no current kubectl context (in {})", current.source),
    };
    let names = match &expected.eks_arn_tail {
        Some(tail) => format!("arn:aws:eks:{tail}, or {}", expected.names.join(", ")),
        None => expected.names.join(", "),
    };
    access::access_error(
        cluster.provider,
        "checking the current kubectl context",
        format!(
            "cluster {} is the {}, but {now}: helm would deploy there. A context or cluster entry named {names} \
             is the cluster's. Get its credentials with {}, or pass --use-current-context to deploy to the \
             current context anyway. Nothing was run",
            cluster.name, expected.what, expected.how
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cluster(provider: Provider) -> Cluster {
        Cluster {
            name: "c1".into(),
            provider,
            file: "config/clusters/c1/cluster.yaml".into(),
            dir: "config/clusters/c1".into(),
            support: None,
            hubs: Vec::new(),
            access: crate::config::AccessBlocks::default(),
            infrastructure_provider: "gcp",
        }
    }

    fn kubeconfig(current: &str, context: &str, entry: &str, user: &str) -> String {
        format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: {current}\nclusters:\n- name: {entry}\n  cluster:\n    \
             server: https://10.0.0.1\ncontexts:\n- name: {context}\n  context:\n    cluster: {entry}\n    user: {user}\n"
        )
    }

    fn current(texts: &[&str]) -> CurrentContext {
        let texts: Vec<(String, String)> =
            texts.iter().enumerate().map(|(i, t)| (format!("f{i}"), (*t).to_owned())).collect();
        resolve("KUBECONFIG=f0".into(), &texts).unwrap()
    }

    #[test]
    fn merges_as_kubectl_does() {
        let first = "apiVersion: v1\nkind: Config\n";
        let second = kubeconfig("ctx", "ctx", "entry", "me");
        let third = kubeconfig("later", "ctx", "other-entry", "them");
        let found = current(&[first, "", &second, &third]);
        assert_eq!(found.name.as_deref(), Some("ctx"));
        assert_eq!(found.cluster.as_deref(), Some("entry"));
        assert_eq!(found.server.as_deref(), Some("https://10.0.0.1"));
        assert_eq!(found.user.as_deref(), Some("me"));
        assert_eq!(current(&[first]).name, None);
        let broken = resolve("x".into(), &[("f".into(), "clusters: 3\n".into())]).unwrap_err().to_string();
        assert!(broken.contains("the kubeconfig f is not valid"), "{broken}");
    }

    #[test]
    fn gke_eks_aks_and_setup_cluster_contexts() {
        let gcp = ClusterLocation::Gcp { project: "p".into(), cluster: "k".into(), zone: "us-central1".into() };
        let aws = ClusterLocation::Aws { account: "123".into(), cluster_name: "k".into(), region: "us-west-2".into() };
        let azure = ClusterLocation::Azure { resource_group: "rg".into(), cluster: "k".into() };
        let none = ClusterLocation::Kubeconfig { file: None };
        let cases: [(Provider, &ClusterLocation, &str, &str, &str, bool); 11] = [
            (Provider::Gcp, &gcp, "gke_p_us-central1_k", "x", "u", true),
            (Provider::Gcp, &gcp, "mine", "gke_p_us-central1_k", "u", true),
            (Provider::Gcp, &gcp, "gke_p_us-central1-a_k", "x", "u", false),
            (Provider::Gcp, &gcp, "c1", "c1", "deployer-c1", true),
            (Provider::Gcp, &gcp, "c1", "c1", "someone", false),
            (Provider::Aws, &aws, "arn:aws:eks:us-west-2:123:cluster/k", "x", "u", true),
            (Provider::Aws, &aws, "me@k.us-west-2.eksctl.io", "k.us-west-2.eksctl.io", "u", true),
            (Provider::Aws, &aws, "arn:aws:eks:us-west-2:999:cluster/k", "x", "u", false),
            (Provider::Azure, &azure, "k", "k", "u", true),
            (Provider::Kubeconfig, &none, "c1", "x", "u", true),
            (Provider::Kubeconfig, &none, "other", "x", "u", false),
        ];
        for (provider, place, context, entry, user, accepted) in cases {
            let found = current(&[&kubeconfig(context, context, entry, user)]);
            let rule = expected(&cluster(provider), place).accepts(&found);
            assert_eq!(rule.is_some(), accepted, "{context} {entry} {user}: {rule:?}");
        }
    }

    #[test]
    fn the_refusal_names_the_context_the_server_and_the_command() {
        let gcp = ClusterLocation::Gcp { project: "p".into(), cluster: "k".into(), zone: "europe-west1-b".into() };
        let found = current(&[&kubeconfig("other", "other", "e", "u")]);
        let text = refusal(&cluster(Provider::Gcp), &expected(&cluster(Provider::Gcp), &gcp), &found).to_string();
        for part in [
            "current kubectl context is other (server https://10.0.0.1, from KUBECONFIG=f0)",
            "gcloud container clusters get-credentials k --zone europe-west1-b --project p",
            "gke_p_europe-west1-b_k",
            "--use-current-context",
        ] {
            assert!(text.contains(part), "{part}: {text}");
        }
        let aws = ClusterLocation::Aws { account: "1".into(), cluster_name: "k".into(), region: "r".into() };
        let text =
            refusal(&cluster(Provider::Aws), &expected(&cluster(Provider::Aws), &aws), &current(&[""])).to_string();
        assert!(text.contains("there is no current kubectl context"), "{text}");
        assert!(text.contains("aws eks update-kubeconfig --name k --region r"), "{text}");
    }
}
