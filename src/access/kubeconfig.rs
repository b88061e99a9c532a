//! Rendering, checking and writing the kubeconfig a leg uses.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::ClusterCredentials;
use crate::error::Error;

#[derive(Serialize)]
struct Config<'a> {
    #[serde(rename = "apiVersion")]
    api_version: &'static str,
    kind: &'static str,
    clusters: Vec<Named<ClusterEntry<'a>>>,
    users: Vec<Named<UserEntry<'a>>>,
    contexts: Vec<Named<ContextEntry<'a>>>,
    #[serde(rename = "current-context")]
    current_context: &'a str,
}

#[derive(Serialize)]
struct Named<T> {
    name: String,
    #[serde(flatten)]
    value: T,
}

#[derive(Serialize)]
struct ClusterEntry<'a> {
    cluster: ClusterFields<'a>,
}

#[derive(Serialize)]
struct ClusterFields<'a> {
    server: &'a str,
    #[serde(rename = "certificate-authority-data", skip_serializing_if = "Option::is_none")]
    certificate_authority_data: Option<&'a str>,
}

#[derive(Serialize)]
struct UserEntry<'a> {
    user: UserFields<'a>,
}

#[derive(Serialize)]
struct UserFields<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    token: Option<&'a str>,
}

#[derive(Serialize)]
struct ContextEntry<'a> {
    context: ContextFields<'a>,
}

#[derive(Serialize)]
struct ContextFields<'a> {
    cluster: &'a str,
    user: &'a str,
}

/// The kubeconfig text for `cluster`: the provider's own kubeconfig, or one
/// built from its server, CA and token.
pub fn render(cluster: &str, credentials: &ClusterCredentials) -> Result<String, Error> {
    if let Some(text) = &credentials.kubeconfig {
        check(text)?;
        return Ok(text.clone());
    }
    let user = format!("deployer-{cluster}");
    let config = Config {
        api_version: "v1",
        kind: "Config",
        clusters: vec![Named {
            name: cluster.to_owned(),
            value: ClusterEntry {
                cluster: ClusterFields {
                    server: &credentials.server,
                    certificate_authority_data: credentials.certificate_authority_data.as_deref(),
                },
            },
        }],
        users: vec![Named {
            name: user.clone(),
            value: UserEntry { user: UserFields { token: credentials.token.as_deref() } },
        }],
        contexts: vec![Named {
            name: cluster.to_owned(),
            value: ContextEntry { context: ContextFields { cluster, user: &user } },
        }],
        current_context: cluster,
    };
    yaml_serde::to_string(&config).map_err(|e| Error::Runner(format!("cannot render the kubeconfig: {e}")))
}

/// The parts of a kubeconfig that are checked.
#[derive(Debug, Deserialize)]
pub struct ParsedKubeconfig {
    pub clusters: Vec<ParsedCluster>,
    #[serde(rename = "current-context", default)]
    pub current_context: Option<String>,
    #[serde(default)]
    pub users: Vec<serde::de::IgnoredAny>,
}

#[derive(Debug, Deserialize)]
pub struct ParsedCluster {
    pub name: String,
    pub cluster: ParsedClusterFields,
}

#[derive(Debug, Deserialize)]
pub struct ParsedClusterFields {
    pub server: String,
}

/// Checks that `text` is a kubeconfig with at least one cluster and a server URL.
pub fn check(text: &str) -> Result<ParsedKubeconfig, Error> {
    let parsed: ParsedKubeconfig = yaml_serde::from_str(text).map_err(|e| {
        Error::Runner(format!("the kubeconfig is not valid: {}", e.to_string().chars().take(200).collect::<String>()))
    })?;
    if parsed.clusters.is_empty()
        || parsed
            .clusters
            .iter()
            .any(|c| !c.cluster.server.starts_with("https://") && !c.cluster.server.starts_with("http://"))
    {
        return Err(Error::Runner("the kubeconfig has no cluster with a server URL".into()));
    }
    Ok(parsed)
}

/// Secrets inside a kubeconfig, to mask: tokens, passwords and client keys.
pub fn secrets_in(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for line in text.lines() {
        let trimmed = line.trim_start();
        for key in
            ["token:", "password:", "client-key-data:", "client-certificate-data:", "id-token:", "refresh-token:"]
        {
            if let Some(value) = trimmed.strip_prefix(key) {
                let value = value.trim().trim_matches(['"', '\'']);
                if value.len() >= 8 {
                    found.push(value.to_owned());
                }
            }
        }
    }
    found
}

/// Writes `text` to `path` with mode 0600 (created private, then renamed into place).
pub fn write_private(path: &Path, text: &str) -> Result<(), Error> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let temporary: PathBuf = path.with_extension(format!("tmp-{}", std::process::id()));
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let result = (|| {
        let mut file = options.open(&temporary).map_err(|e| Error::io(&temporary, e))?;
        file.write_all(text.as_bytes()).map_err(|e| Error::io(&temporary, e))?;
        file.sync_all().map_err(|e| Error::io(&temporary, e))?;
        fs::rename(&temporary, path).map_err(|e| Error::io(path, e))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temporary);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_a_token_kubeconfig_that_parses() {
        let credentials = ClusterCredentials {
            server: "https://1.2.3.4".into(),
            certificate_authority_data: Some("Q0E=".into()),
            token: Some("secret-token-value".into()),
            ..ClusterCredentials::default()
        };
        let text = render("c1", &credentials).unwrap();
        let parsed = check(&text).unwrap();
        assert_eq!(parsed.clusters[0].name, "c1");
        assert_eq!(parsed.clusters[0].cluster.server, "https://1.2.3.4");
        assert_eq!(parsed.current_context.as_deref(), Some("c1"));
        assert!(text.contains("certificate-authority-data: Q0E="));
        assert_eq!(secrets_in(&text), ["secret-token-value"]);
    }

    #[test]
    fn rejects_what_is_not_a_kubeconfig() {
        for bad in ["", "a: b", "clusters: []", "clusters:\n- name: x\n  cluster:\n    server: file:///etc\n"] {
            assert!(check(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn writes_privately() {
        let temp = tempfile::tempdir().unwrap();
        let path = temp.path().join("deep/kubeconfig");
        write_private(&path, "x").unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "x");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
    }
}
