//! The `kubeconfig` provider: the `kubeconfig` input (plain or base64), or the
//! file `cluster.yaml` names, decrypted with sops when it is an `enc-` file.

use base64::Engine;

use super::kubeconfig::{check, secrets_in};
use super::{access_error, ClusterCredentials};
use crate::base::error::Error;
use crate::base::repo_fs::{PathError, RepoRoot};
use crate::config::Provider;
use crate::tools::sops;

/// Credentials from a kubeconfig: the input, or the repository-relative
/// `file`, which must be a regular file inside the repository of at most
/// 1 MiB; `refused` says where cluster.yaml named a file that is not.
/// `sops_env` is added to the environment of sops (the `sops-age-key`).
pub fn credentials(
    root: &RepoRoot,
    input: Option<&str>,
    file: Option<&str>,
    refused: &dyn Fn(PathError) -> Error,
    sops_env: &[(String, String)],
) -> Result<ClusterCredentials, Error> {
    let text = match (input, file) {
        (Some(input), _) => decode_input(input)?,
        (None, Some(file)) => {
            let bytes = if sops::is_encrypted(file) {
                sops::decrypt_with(&root.config_file(file).map_err(refused)?, sops_env)?
            } else {
                root.read_config_file(file).map_err(refused)?.into_bytes()
            };
            String::from_utf8(bytes).map_err(|_| {
                access_error(Provider::Kubeconfig, "reading the kubeconfig", format!("{file} is not UTF-8"))
            })?
        }
        (None, None) => {
            return Err(access_error(
                Provider::Kubeconfig,
                "finding the kubeconfig",
                "pass the `kubeconfig` input, or name a file in the cluster's `kubeconfig.file`",
            ))
        }
    };
    let secrets = secrets_in(&text);
    for secret in &secrets {
        crate::base::runner::add_mask(secret);
    }
    check(&text).map_err(|e| access_error(Provider::Kubeconfig, "reading the kubeconfig", e.to_string()))?;
    Ok(ClusterCredentials { kubeconfig: Some(text), secrets, ..ClusterCredentials::default() })
}

/// The input as given, or base64-decoded when it is not YAML-looking text.
fn decode_input(input: &str) -> Result<String, Error> {
    let trimmed = input.trim();
    if trimmed.contains("apiVersion") || trimmed.contains("clusters:") {
        return Ok(input.to_owned());
    }
    let compact: String = trimmed.split_whitespace().collect();
    let bytes = base64::engine::general_purpose::STANDARD.decode(compact).map_err(|_| {
        access_error(
            Provider::Kubeconfig,
            "reading the `kubeconfig` input",
            "it is neither a kubeconfig nor base64 of one",
        )
    })?;
    String::from_utf8(bytes).map_err(|_| {
        access_error(Provider::Kubeconfig, "reading the `kubeconfig` input", "the decoded text is not UTF-8")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://k8s.example\nusers:\n- name: u\n  user:\n    token: abcdefghijk\n";

    fn refused(refused: PathError) -> Error {
        Error::input("kubeconfig.file", refused.to_string())
    }

    #[test]
    fn plain_and_base64_inputs() {
        let root = RepoRoot::new(std::path::Path::new(".")).unwrap();
        let credentials = |input, file| credentials(&root, input, file, &refused, &[]);
        let plain = credentials(Some(CONFIG), None).unwrap();
        assert_eq!(plain.kubeconfig.as_deref(), Some(CONFIG));
        assert_eq!(plain.secrets, ["abcdefghijk"]);
        let encoded = base64::engine::general_purpose::STANDARD.encode(CONFIG);
        let decoded = credentials(Some(&encoded), None).unwrap();
        assert_eq!(decoded.kubeconfig.as_deref(), Some(CONFIG));
        let error = credentials(Some("%%%"), None).unwrap_err().to_string();
        assert!(error.starts_with("kubeconfig: reading the `kubeconfig` input failed"), "{error}");
        let none = credentials(None, None).unwrap_err().to_string();
        let outside = credentials(None, Some("../x")).unwrap_err().to_string();
        assert!(outside.contains("`../x` is outside the repository"), "{outside}");
        assert!(none.contains("pass the `kubeconfig` input"), "{none}");
    }
}
