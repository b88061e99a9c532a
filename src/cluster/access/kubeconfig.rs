//! Rendering, checking and writing the kubeconfig a leg uses.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::ClusterCredentials;
use crate::base::error::Error;
use crate::config::yaml::value_free_message;

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
    // The message names the field, what it expected and the kind of value found, never the value:
    // a kubeconfig holds credentials.
    let parsed: ParsedKubeconfig = yaml_serde::from_str(text).map_err(|e| {
        let at = e.location().map(|l| format!(" (line {}, column {})", l.line(), l.column())).unwrap_or_default();
        Error::Runner(format!("the kubeconfig is not valid{at}: {}", value_free_message(&e.to_string())))
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

/// Keys whose values are credentials, wherever they are in a kubeconfig:
/// `users[].user.token`, `password`, the client key (and certificate), and
/// the `auth-provider.config` tokens and secret.
const CREDENTIAL_KEYS: &[&str] = &[
    "token",
    "password",
    "client-key-data",
    "client-certificate-data",
    "access-token",
    "refresh-token",
    "id-token",
    "client-secret",
];

/// Every credential inside a kubeconfig, to mask, each multi-line value line
/// by line: the values of [`CREDENTIAL_KEYS`] and of `exec.env[].value`.
/// Values too short to mask (see [`crate::tools::sops::mask_lines`]) are left out.
/// Text that is not YAML is scanned line by line for `key: value`.
pub fn secrets_in(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    match yaml_serde::from_str::<yaml_serde::Value>(text) {
        Ok(document) => collect_credentials(&document, &mut found),
        Err(_) => {
            for line in text.lines() {
                let trimmed = line.trim_start().trim_start_matches("- ");
                if let Some((key, value)) = trimmed.split_once(':') {
                    if CREDENTIAL_KEYS.contains(&key.trim()) || key.trim() == "value" {
                        found.extend(crate::tools::sops::mask_lines(value.trim().trim_matches(['"', '\''])));
                    }
                }
            }
        }
    }
    let mut unique = Vec::new();
    for secret in found {
        if !unique.contains(&secret) {
            unique.push(secret);
        }
    }
    unique
}

fn collect_credentials(value: &yaml_serde::Value, found: &mut Vec<String>) {
    use yaml_serde::Value;
    match value {
        Value::Mapping(mapping) => {
            for (key, item) in mapping {
                match key.as_str() {
                    Some(key) if CREDENTIAL_KEYS.contains(&key) => crate::tools::sops::collect_scalars(item, found),
                    // `exec.env`: a list of `{name, value}`; every value may be a credential.
                    Some("env") => match item {
                        Value::Sequence(entries) => {
                            for entry in entries {
                                if let Some(value) = entry.get("value") {
                                    crate::tools::sops::collect_scalars(value, found);
                                }
                            }
                        }
                        Value::Mapping(_) => crate::tools::sops::collect_scalars(item, found),
                        _ => {}
                    },
                    _ => collect_credentials(item, found),
                }
            }
        }
        Value::Sequence(items) => items.iter().for_each(|item| collect_credentials(item, found)),
        Value::Tagged(tagged) => collect_credentials(&tagged.value, found),
        _ => {}
    }
}

/// Writes `text` to `path`, readable by this user only (mode 0600).
///
/// The text goes into a new file with a random name in the same folder,
/// created exclusively with mode 0600 and never through a symbolic link, and
/// is then renamed over `path`: whatever was there (a file of any mode, a
/// symbolic link planted to redirect the write) is replaced, never written
/// through. A missing folder is created 0700; a folder that is a symbolic
/// link, belongs to another user (for root: to someone other than the owner
/// of its parent folder) or that everyone may write to is refused.
pub fn write_private(path: &Path, text: &str) -> Result<(), Error> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    private_folder(dir)?;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let mut random = [0u8; 8];
    getrandom::fill(&mut random).map_err(|e| Error::Runner(format!("no randomness for a temporary file name: {e}")))?;
    let suffix: String = random.iter().map(|b| format!("{b:02x}")).collect();
    let temporary: PathBuf = dir.join(format!(".{name}.tmp-{suffix}"));
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600).custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC);
    }
    let mut file = options.open(&temporary).map_err(|e| Error::io(&temporary, e))?;
    let result = (|| {
        file.write_all(text.as_bytes()).map_err(|e| Error::io(&temporary, e))?;
        file.sync_all().map_err(|e| Error::io(&temporary, e))?;
        fs::rename(&temporary, path).map_err(|e| Error::io(path, e))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temporary);
    }
    result
}

/// Makes sure `dir` is a folder only this user controls, creating it 0700 when missing.
fn private_folder(dir: &Path) -> Result<(), Error> {
    let refuse = |why: &str| Error::Runner(format!("refusing to write the kubeconfig into {}: {why}", dir.display()));
    let metadata = match fs::symlink_metadata(dir) {
        Ok(metadata) => metadata,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
                fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
            }
            let mut builder = fs::DirBuilder::new();
            #[cfg(unix)]
            {
                use std::os::unix::fs::DirBuilderExt;
                builder.mode(0o700);
            }
            match builder.create(dir) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(Error::io(dir, e)),
            }
            fs::symlink_metadata(dir).map_err(|e| Error::io(dir, e))?
        }
        Err(e) => return Err(Error::io(dir, e)),
    };
    if metadata.file_type().is_symlink() {
        return Err(refuse("it is a symbolic link"));
    }
    if !metadata.is_dir() {
        return Err(refuse("it is not a folder"));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        // SAFETY: geteuid has no preconditions and cannot fail.
        let me = unsafe { libc::geteuid() };
        // Root in a container action finds `/github/home` owned by the
        // runner's user, who controls the folder in it anyway.
        let parent_owner = dir.parent().and_then(|p| fs::metadata(p).ok()).map(|m| m.uid());
        let trusted = metadata.uid() == me || (me == 0 && parent_owner == Some(metadata.uid()));
        if !trusted {
            return Err(refuse(&format!("it belongs to user {}, not to this user ({me})", metadata.uid())));
        }
        if metadata.mode() & 0o002 != 0 {
            return Err(refuse("everyone may write to it"));
        }
    }
    Ok(())
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
    fn type_errors_name_the_kind_never_the_value() {
        let cases = [
            (
                "clusters: \"KUBE-SERVER-SENTINEL\"\n",
                "the kubeconfig is not valid (line 1, column 11): clusters: invalid type: string, expected a sequence",
            ),
            (
                "clusters:\n- name: x\n  cluster:\n    server: {KUBE-SERVER-SENTINEL: 1}\n",
                "the kubeconfig is not valid (line 4, column 13): clusters[0].cluster.server: invalid type: map, expected a string",
            ),
            (
                "clusters:\n- name: x\n  cluster:\n    server: [KUBE-SERVER-SENTINEL]\n",
                "the kubeconfig is not valid (line 4, column 13): clusters[0].cluster.server: invalid type: sequence, expected a string",
            ),
            (
                "clusters: []\ncurrent-context: [KUBE-SERVER-SENTINEL]\n",
                "the kubeconfig is not valid (line 2, column 18): current-context: invalid type: sequence, expected a string",
            ),
            (
                "clusters: 1234567890987\n",
                "the kubeconfig is not valid (line 1, column 11): clusters: invalid type: integer, expected a sequence",
            ),
            ("KUBE-SERVER-SENTINEL", "the kubeconfig is not valid (line 1, column 1): invalid type: string, expected struct ParsedKubeconfig"),
        ];
        for (text, expected) in cases {
            let message = check(text).expect_err("refused").to_string();
            assert!(message.ends_with(expected), "{text:?}: {message}");
            assert!(!message.contains("SENTINEL") && !message.contains("1234567890987"), "{message}");
        }
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

    #[test]
    fn every_credential_field_is_found() {
        let text = r#"
apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: {server: "https://k8s.example", certificate-authority-data: Q0EtZGF0YS1ub3Qtc2VjcmV0}
users:
- name: token-user
  user: {token: bearer-token-1}
- name: basic
  user: {username: admin, password: basic-password-2}
- name: cert
  user:
    client-certificate-data: Y2VydC1kYXRh
    client-key-data: a2V5LWRhdGEtMw==
- name: oidc
  user:
    auth-provider:
      name: oidc
      config:
        client-id: public-client-id
        client-secret: oidc-client-secret-4
        id-token: oidc-id-token-5
        refresh-token: oidc-refresh-token-6
        access-token: oidc-access-token-7
- name: exec
  user:
    exec:
      command: get-token
      args: [--region, eu]
      env:
      - {name: API_KEY, value: exec-env-secret-8}
      - {name: SHORT, value: "1"}
      - name: MULTI
        value: |
          first-line-9
          second-line-10
"#;
        assert_eq!(
            secrets_in(text),
            [
                "bearer-token-1",
                "basic-password-2",
                "Y2VydC1kYXRh",
                "a2V5LWRhdGEtMw==",
                "oidc-client-secret-4",
                "oidc-id-token-5",
                "oidc-refresh-token-6",
                "oidc-access-token-7",
                "exec-env-secret-8",
                "first-line-9",
                "second-line-10",
            ]
        );
        // Not YAML: still found line by line.
        assert_eq!(secrets_in("users: [\n  token: broken-yaml-token\n"), ["broken-yaml-token"]);
    }

    #[cfg(unix)]
    #[test]
    fn replaces_a_planted_symlink_or_open_file_and_never_writes_through() {
        use std::os::unix::fs::PermissionsExt;
        let temp = tempfile::tempdir().unwrap();
        let kube = temp.path().join(".kube");
        fs::create_dir(&kube).unwrap();
        let elsewhere = temp.path().join("elsewhere");
        fs::write(&elsewhere, "precious").unwrap();
        let path = kube.join("deployer-c.yaml");
        std::os::unix::fs::symlink(&elsewhere, &path).unwrap();
        write_private(&path, "new").unwrap();
        assert_eq!(fs::read_to_string(&elsewhere).unwrap(), "precious", "not written through the link");
        let metadata = fs::symlink_metadata(&path).unwrap();
        assert!(metadata.is_file(), "a regular file now");
        assert_eq!(metadata.permissions().mode() & 0o777, 0o600);
        assert_eq!(fs::read_to_string(&path).unwrap(), "new");

        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        write_private(&path, "again").unwrap();
        assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(fs::read_to_string(&path).unwrap(), "again");
        assert_eq!(fs::read_dir(&kube).unwrap().count(), 1, "no temporary file left");
    }

    #[cfg(unix)]
    #[test]
    fn refuses_a_folder_that_is_not_private() {
        use std::os::unix::fs::PermissionsExt;
        let temp = tempfile::tempdir().unwrap();
        let real = temp.path().join("real");
        fs::create_dir(&real).unwrap();
        let linked = temp.path().join("linked");
        std::os::unix::fs::symlink(&real, &linked).unwrap();
        let error = write_private(&linked.join("k.yaml"), "x").unwrap_err().to_string();
        assert!(error.ends_with("linked: it is a symbolic link"), "{error}");
        fs::set_permissions(&real, fs::Permissions::from_mode(0o777)).unwrap();
        let error = write_private(&real.join("k.yaml"), "x").unwrap_err().to_string();
        assert!(error.ends_with("real: everyone may write to it"), "{error}");
        assert_eq!(fs::read_dir(&real).unwrap().count(), 0, "nothing written");
        let file = temp.path().join("file");
        fs::write(&file, "").unwrap();
        assert!(write_private(&file.join("k.yaml"), "x").unwrap_err().to_string().ends_with("it is not a folder"));
        // A missing folder is made private.
        write_private(&temp.path().join("new/.kube/k.yaml"), "x").unwrap();
        assert_eq!(fs::metadata(temp.path().join("new/.kube")).unwrap().permissions().mode() & 0o777, 0o700);
    }

    #[cfg(unix)]
    #[test]
    fn a_folder_of_another_user_is_refused() {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return; // Only root can give a folder away; as another user, the folder is not ours anyway.
        }
        let temp = tempfile::tempdir().unwrap();
        let home = temp.path().join("home");
        let kube = home.join(".kube");
        fs::create_dir_all(&kube).unwrap();
        std::os::unix::fs::chown(&kube, Some(4242), None).unwrap();
        let error = write_private(&kube.join("k.yaml"), "x").unwrap_err().to_string();
        assert!(error.ends_with("it belongs to user 4242, not to this user (0)"), "{error}");
        // Root in a container: the folder belongs to whoever owns its parent (the runner's user).
        std::os::unix::fs::chown(&home, Some(4242), None).unwrap();
        write_private(&kube.join("k.yaml"), "x").unwrap();
    }
}
