//! What `sops` needs to decrypt the repository's `enc-*` files in later
//! steps: the credentials a provider obtained, in the forms sops itself reads,
//! as environment variables (and, where sops wants a file, a private file
//! outside the checkout).
//!
//! Checked against the sops source at v3.10.2 (the version `Dockerfile.deploy`
//! pins; the tests run 3.11.0, which reads the same variables):
//!
//! - age, `age/keysource.go`: `SOPS_AGE_KEY` (the identities themselves),
//!   `SOPS_AGE_KEY_FILE`, `SOPS_AGE_KEY_CMD`, then `$XDG_CONFIG_HOME/sops/age/keys.txt`.
//! - GCP KMS, `gcpkms/keysource.go` (`newKMSClient`, `getGoogleCredentials`):
//!   sops's own `GOOGLE_CREDENTIALS` (a path or the JSON itself), then
//!   `GOOGLE_OAUTH_ACCESS_TOKEN`, then the Google client library's
//!   application default credentials, which read `GOOGLE_APPLICATION_CREDENTIALS`
//!   (any credentials file, `external_account` included).
//! - AWS KMS, `kms/keysource.go` (`createKMSConfig`): `config.LoadDefaultConfig`
//!   of aws-sdk-go-v2, whose first source is the environment
//!   (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`); the
//!   region comes from the key's ARN, so no `AWS_REGION` is needed.
//! - Azure Key Vault, `azkv/keysource.go`: `azidentity.NewDefaultAzureCredential`
//!   (azidentity v1.9.0 in `go.mod`): its environment credential reads
//!   `AZURE_TENANT_ID`, `AZURE_CLIENT_ID` and `AZURE_CLIENT_SECRET`; its
//!   workload identity credential reads `AZURE_TENANT_ID`, `AZURE_CLIENT_ID`,
//!   `AZURE_FEDERATED_TOKEN_FILE` (re-read for each new assertion) and
//!   `AZURE_AUTHORITY_HOST`.
//! - Key types in `.sops.yaml`, `config/config.go`: `creation_rules[]` with
//!   `kms`, `pgp`, `age`, `gcp_kms`, `azure_keyvault`, `hc_vault_transit_uri`,
//!   and `key_groups[]` with `kms`, `pgp`, `age`, `gcp_kms`, `azure_keyvault`, `hc_vault`.
//!
//! Everything here is pure: the stage masks the secrets, writes the files and
//! exports the variables.

use std::fmt;
use std::path::{Path, PathBuf};

use serde_json::json;

use super::oidc::url_encode;
use crate::config::locate::{locate, Segment};
use crate::config::yaml_guard;
use crate::diagnostic::Diagnostic;
use crate::error::Error;
use crate::runner::RunnerEnv;

pub const SOPS_AGE_KEY: &str = "SOPS_AGE_KEY";
pub const GOOGLE_APPLICATION_CREDENTIALS: &str = "GOOGLE_APPLICATION_CREDENTIALS";
pub const AWS_ACCESS_KEY_ID: &str = "AWS_ACCESS_KEY_ID";
pub const AWS_SECRET_ACCESS_KEY: &str = "AWS_SECRET_ACCESS_KEY";
pub const AWS_SESSION_TOKEN: &str = "AWS_SESSION_TOKEN";
pub const AZURE_CLIENT_ID: &str = "AZURE_CLIENT_ID";
pub const AZURE_TENANT_ID: &str = "AZURE_TENANT_ID";
pub const AZURE_CLIENT_SECRET: &str = "AZURE_CLIENT_SECRET";
pub const AZURE_FEDERATED_TOKEN_FILE: &str = "AZURE_FEDERATED_TOKEN_FILE";
pub const AZURE_AUTHORITY_HOST: &str = "AZURE_AUTHORITY_HOST";

/// The `sops-credentials` input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SopsMode {
    /// Export what the leg's credentials allow (the default).
    Auto,
    /// Export nothing for sops.
    None,
}

impl SopsMode {
    /// From the input; empty means `auto`.
    pub fn parse(input: Option<&str>) -> Result<SopsMode, Error> {
        match input.map(str::trim).unwrap_or("auto") {
            "" | "auto" => Ok(SopsMode::Auto),
            "none" => Ok(SopsMode::None),
            other => Err(Error::input(
                "sops-credentials",
                format!(
                    "`{}` is not `auto` (export the leg's credentials for sops) or `none` (export nothing)",
                    other.chars().take(40).collect::<String>()
                ),
            )),
        }
    }
}

/// A sops key type, as `.sops.yaml` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum KeyType {
    GcpKms,
    AwsKms,
    AzureKeyVault,
    Age,
    Pgp,
    HcVault,
}

impl KeyType {
    /// The key of a creation rule (or key group) naming this type.
    fn from_field(field: &str) -> Option<KeyType> {
        Some(match field {
            "gcp_kms" => KeyType::GcpKms,
            "kms" => KeyType::AwsKms,
            "azure_keyvault" => KeyType::AzureKeyVault,
            "age" => KeyType::Age,
            "pgp" => KeyType::Pgp,
            "hc_vault_transit_uri" | "hc_vault" => KeyType::HcVault,
            _ => return None,
        })
    }

    /// What would give sops this key, for the warning.
    fn remedy(self) -> &'static str {
        match self {
            KeyType::GcpKms => {
                "a `gcp` cluster's credentials (keyless or `credentials-json`), or GOOGLE_APPLICATION_CREDENTIALS \
                 from an earlier step"
            }
            KeyType::AwsKms => {
                "an `aws` cluster's credentials (`role-to-assume` or keys), or AWS_ACCESS_KEY_ID from an earlier step"
            }
            KeyType::AzureKeyVault => {
                "an `azure` cluster's credentials (`client-id`, `tenant-id`), or AZURE_CLIENT_ID from an earlier step"
            }
            KeyType::Age => "the `sops-age-key` input",
            KeyType::Pgp => "a GnuPG key imported by an earlier step (setup-cluster does not provide pgp keys)",
            KeyType::HcVault => "VAULT_ADDR and VAULT_TOKEN from an earlier step (setup-cluster does not provide them)",
        }
    }
}

/// A credential a provider obtained, to hand on to sops. `Debug` hides every secret.
#[derive(Clone, PartialEq, Eq)]
pub enum SopsCredential {
    /// GCP keyless: an `external_account` credentials file that asks GitHub for
    /// a fresh OIDC token (`oidc_url`, with the job's `oidc_bearer`) whenever
    /// Google's library needs one, and impersonates `service_account`.
    GcpExternalAccount {
        /// The workload identity provider's full name (`projects/N/locations/global/...`).
        provider: String,
        service_account: String,
        /// Google STS and IAM credentials base URLs.
        sts: String,
        iam: String,
        oidc_url: String,
        oidc_bearer: String,
    },
    /// A GCP service-account key (JSON text).
    GcpKey(String),
    /// AWS keys, temporary (with a session token) or not.
    Aws { access_key_id: String, secret_access_key: String, session_token: Option<String> },
    /// Azure with a federated credential: the GitHub OIDC token for `api://AzureADTokenExchange`.
    AzureFederated { client_id: String, tenant_id: String, assertion: String, authority_host: Option<String> },
    /// Azure with a client secret.
    AzureSecret { client_id: String, tenant_id: String, secret: String, authority_host: Option<String> },
}

impl fmt::Debug for SopsCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            SopsCredential::GcpExternalAccount { .. } => "GcpExternalAccount",
            SopsCredential::GcpKey(_) => "GcpKey",
            SopsCredential::Aws { .. } => "Aws",
            SopsCredential::AzureFederated { .. } => "AzureFederated",
            SopsCredential::AzureSecret { .. } => "AzureSecret",
        };
        write!(f, "{name}(<redacted>)")
    }
}

impl SopsCredential {
    /// The key type these credentials open.
    pub fn key_type(&self) -> KeyType {
        match self {
            SopsCredential::GcpExternalAccount { .. } | SopsCredential::GcpKey(_) => KeyType::GcpKms,
            SopsCredential::Aws { .. } => KeyType::AwsKms,
            SopsCredential::AzureFederated { .. } | SopsCredential::AzureSecret { .. } => KeyType::AzureKeyVault,
        }
    }
}

/// A file to write privately (0600, outside the checkout) before the variables are exported.
#[derive(Clone, PartialEq, Eq)]
pub struct PrivateFile {
    pub path: PathBuf,
    pub contents: String,
}

impl fmt::Debug for PrivateFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrivateFile").field("path", &self.path).finish_non_exhaustive()
    }
}

/// What to export for sops: variables, the secrets among them (and in the
/// files) to mask first, the files to write, and the key types covered.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SopsExports {
    pub vars: Vec<(String, String)>,
    pub secrets: Vec<String>,
    pub files: Vec<PrivateFile>,
    pub covers: Vec<KeyType>,
}

impl SopsExports {
    /// The variables to hand to a sops run now (for the repository's own
    /// `key:` file or `enc-` kubeconfig) without exporting them yet.
    pub fn env(&self) -> Vec<(String, String)> {
        self.vars.clone()
    }
}

/// The lines of an age identity text to mask: every line but comments
/// (`age-keygen` writes `# created:` and `# public key:` lines, which are not secret).
pub fn age_key_secrets(key: &str) -> Vec<String> {
    key.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).map(str::to_owned).collect()
}

/// What sops gets from `credential` and the `sops-age-key` input; files go in
/// `folder` (the private folder of the kubeconfig), named after `cluster`.
pub fn exports(
    credential: Option<&SopsCredential>,
    age_key: Option<&str>,
    folder: &Path,
    cluster: &str,
) -> SopsExports {
    let mut out = SopsExports::default();
    let var = |out: &mut SopsExports, name: &str, value: &str, secret: bool| {
        out.vars.push((name.to_owned(), value.to_owned()));
        if secret {
            out.secrets.push(value.to_owned());
        }
    };
    if let Some(key) = age_key.map(str::trim).filter(|k| !k.is_empty()) {
        out.vars.push((SOPS_AGE_KEY.to_owned(), key.to_owned()));
        out.secrets.extend(age_key_secrets(key));
        out.covers.push(KeyType::Age);
    }
    let Some(credential) = credential else { return out };
    out.covers.push(credential.key_type());
    match credential {
        SopsCredential::GcpExternalAccount { provider, service_account, sts, iam, oidc_url, oidc_bearer } => {
            let path = folder.join(format!("deployer-{cluster}-gcp-credentials.json"));
            let contents = external_account(provider, service_account, sts, iam, oidc_url, oidc_bearer);
            out.secrets.push(oidc_bearer.clone());
            var(&mut out, GOOGLE_APPLICATION_CREDENTIALS, &path.to_string_lossy(), false);
            out.files.push(PrivateFile { path, contents });
        }
        SopsCredential::GcpKey(text) => {
            let path = folder.join(format!("deployer-{cluster}-gcp-credentials.json"));
            var(&mut out, GOOGLE_APPLICATION_CREDENTIALS, &path.to_string_lossy(), false);
            out.files.push(PrivateFile { path, contents: text.clone() });
        }
        SopsCredential::Aws { access_key_id, secret_access_key, session_token } => {
            var(&mut out, AWS_ACCESS_KEY_ID, access_key_id, true);
            var(&mut out, AWS_SECRET_ACCESS_KEY, secret_access_key, true);
            if let Some(token) = session_token {
                var(&mut out, AWS_SESSION_TOKEN, token, true);
            }
        }
        SopsCredential::AzureFederated { client_id, tenant_id, assertion, authority_host } => {
            let path = folder.join(format!("deployer-{cluster}-azure-token"));
            var(&mut out, AZURE_CLIENT_ID, client_id, false);
            var(&mut out, AZURE_TENANT_ID, tenant_id, false);
            var(&mut out, AZURE_FEDERATED_TOKEN_FILE, &path.to_string_lossy(), false);
            if let Some(host) = authority_host {
                var(&mut out, AZURE_AUTHORITY_HOST, host, false);
            }
            out.secrets.push(assertion.clone());
            out.files.push(PrivateFile { path, contents: assertion.clone() });
        }
        SopsCredential::AzureSecret { client_id, tenant_id, secret, authority_host } => {
            var(&mut out, AZURE_CLIENT_ID, client_id, false);
            var(&mut out, AZURE_TENANT_ID, tenant_id, false);
            var(&mut out, AZURE_CLIENT_SECRET, secret, true);
            if let Some(host) = authority_host {
                var(&mut out, AZURE_AUTHORITY_HOST, host, false);
            }
        }
    }
    out
}

/// The `external_account` credentials file of GCP keyless access, in the
/// URL-sourced form google-github-actions/auth writes: Google's library
/// fetches a fresh GitHub OIDC token from `oidc_url` (JSON answer, field
/// `value`) for every exchange. A file holding one token instead would stop
/// working when that token expires (GitHub's tokens live minutes), in the
/// middle of a long deploy.
pub fn external_account(
    provider: &str,
    service_account: &str,
    sts: &str,
    iam: &str,
    oidc_url: &str,
    oidc_bearer: &str,
) -> String {
    let separator = if oidc_url.contains('?') { '&' } else { '?' };
    let audience = format!("https://iam.googleapis.com/{provider}");
    json!({
        "type": "external_account",
        "audience": format!("//iam.googleapis.com/{provider}"),
        "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
        "token_url": format!("{}/v1/token", sts.trim_end_matches('/')),
        "service_account_impersonation_url": format!(
            "{}/v1/projects/-/serviceAccounts/{}:generateAccessToken",
            iam.trim_end_matches('/'),
            url_encode(service_account).replace("%40", "@")
        ),
        "credential_source": {
            "url": format!("{oidc_url}{separator}audience={}", url_encode(&audience)),
            "headers": {"Authorization": format!("Bearer {oidc_bearer}")},
            "format": {"type": "json", "subject_token_field_name": "value"},
        },
    })
    .to_string()
}

/// Key types that credentials set by earlier steps of the job already give sops.
pub fn covered_by_env(env: &RunnerEnv) -> Vec<KeyType> {
    let set = |name: &str| env.var(name).is_some_and(|v| !v.is_empty());
    let mut covered = Vec::new();
    if set("GOOGLE_APPLICATION_CREDENTIALS") || set("GOOGLE_CREDENTIALS") || set("GOOGLE_OAUTH_ACCESS_TOKEN") {
        covered.push(KeyType::GcpKms);
    }
    if set(AWS_ACCESS_KEY_ID) || set("AWS_PROFILE") || set("AWS_WEB_IDENTITY_TOKEN_FILE") {
        covered.push(KeyType::AwsKms);
    }
    if set(AZURE_CLIENT_ID) {
        covered.push(KeyType::AzureKeyVault);
    }
    if set(SOPS_AGE_KEY) || set("SOPS_AGE_KEY_FILE") || set("SOPS_AGE_KEY_CMD") {
        covered.push(KeyType::Age);
    }
    if set("VAULT_TOKEN") {
        covered.push(KeyType::HcVault);
    }
    covered
}

/// One key named by a creation rule: its type and where it is
/// (`creation_rules[rule]`, or its `key_groups[group]`, field `field`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleKey {
    pub key_type: KeyType,
    pub rule: usize,
    pub group: Option<usize>,
    pub field: String,
}

impl RuleKey {
    /// The field path, for messages and for locating it.
    pub fn field_path(&self) -> String {
        match self.group {
            Some(group) => format!("creation_rules[{}].key_groups[{group}].{}", self.rule, self.field),
            None => format!("creation_rules[{}].{}", self.rule, self.field),
        }
    }
}

/// Every key type the creation rules of a `.sops.yaml` text name, in file
/// order. Bounded like every configuration file (no anchors or aliases, no
/// deep nesting); `Err` is the line and column of what was refused.
pub fn rule_keys(text: &str) -> Result<Vec<RuleKey>, (usize, usize)> {
    yaml_guard::check(text).map_err(|refusal| refusal.location())?;
    let document: yaml_serde::Value = yaml_serde::from_str(text).map_err(|e| {
        let at = e.location();
        (at.as_ref().map_or(1, |l| l.line()), at.as_ref().map_or(1, |l| l.column()))
    })?;
    let mut found = Vec::new();
    let Some(rules) = document.get("creation_rules").and_then(yaml_serde::Value::as_sequence) else {
        return Ok(found);
    };
    let named = |value: &yaml_serde::Value| match value {
        yaml_serde::Value::Null => false,
        yaml_serde::Value::String(text) => !text.trim().is_empty(),
        yaml_serde::Value::Sequence(items) => !items.is_empty(),
        _ => true,
    };
    for (rule, entry) in rules.iter().enumerate() {
        let Some(mapping) = entry.as_mapping() else { continue };
        for (key, value) in mapping {
            let Some(field) = key.as_str() else { continue };
            if let Some(key_type) = KeyType::from_field(field).filter(|_| named(value)) {
                found.push(RuleKey { key_type, rule, group: None, field: field.to_owned() });
            }
        }
        let groups = mapping.get("key_groups").and_then(yaml_serde::Value::as_sequence);
        for (group, entry) in groups.into_iter().flatten().enumerate() {
            let Some(mapping) = entry.as_mapping() else { continue };
            for (key, value) in mapping {
                let Some(field) = key.as_str() else { continue };
                if let Some(key_type) = KeyType::from_field(field).filter(|_| named(value)) {
                    found.push(RuleKey { key_type, rule, group: Some(group), field: field.to_owned() });
                }
            }
        }
    }
    Ok(found)
}

/// The first key of each type not in `covered`, in file order.
pub fn uncovered<'a>(keys: &'a [RuleKey], covered: &[KeyType]) -> Vec<&'a RuleKey> {
    let mut seen: Vec<KeyType> = Vec::new();
    keys.iter()
        .filter(|key| !covered.contains(&key.key_type))
        .filter(|key| {
            let first = !seen.contains(&key.key_type);
            seen.push(key.key_type);
            first
        })
        .collect()
}

/// The warnings for `.sops.yaml` (file `file`, text `text`): one per key type
/// the leg has no credentials for, at its first use.
pub fn warnings(file: &str, text: &str, covered: &[KeyType], cluster: &str) -> Vec<Diagnostic> {
    let keys = match rule_keys(text) {
        Ok(keys) => keys,
        Err(at) => {
            return vec![Diagnostic::new(file, "cannot read the creation rules; no check of the keys sops needs")
                .at(Some(at))
                .hint("sops reads this file too: fix its YAML (no anchors or aliases)")]
        }
    };
    uncovered(&keys, covered)
        .into_iter()
        .map(|key| {
            let mut path = vec![Segment::Key("creation_rules"), Segment::Index(key.rule)];
            if let Some(group) = key.group {
                path.extend([Segment::Key("key_groups"), Segment::Index(group)]);
            }
            path.push(Segment::Key(&key.field));
            Diagnostic::new(
                file,
                format!(
                    "the repository encrypts with `{}` keys, but this leg (cluster {cluster}) gives sops no \
                     credentials for them: files encrypted only with them will not decrypt",
                    key.field
                ),
            )
            .at(locate(text, &path))
            .field(key.field_path())
            .hint(format!("provide {}", key.key_type.remedy()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes() {
        let cases: &[(Option<&str>, Option<SopsMode>)] = &[
            (None, Some(SopsMode::Auto)),
            (Some(""), Some(SopsMode::Auto)),
            (Some("auto"), Some(SopsMode::Auto)),
            (Some(" none "), Some(SopsMode::None)),
            (Some("off"), None),
            (Some("AUTO"), None),
        ];
        for (input, expected) in cases {
            assert_eq!(SopsMode::parse(*input).ok(), *expected, "{input:?}");
        }
        let error = SopsMode::parse(Some("yes")).unwrap_err().to_string();
        assert!(error.contains("sops-credentials") && error.contains("`yes` is not `auto`"), "{error}");
    }

    fn aws(token: Option<&str>) -> SopsCredential {
        SopsCredential::Aws {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: "aws-secret-1".into(),
            session_token: token.map(str::to_owned),
        }
    }

    #[test]
    fn variables_per_provider() {
        let folder = Path::new("/github/home/.kube");
        let gcp_file = "/github/home/.kube/deployer-c1-gcp-credentials.json";
        let azure_file = "/github/home/.kube/deployer-c1-azure-token";
        let keyless = SopsCredential::GcpExternalAccount {
            provider: "projects/1/locations/global/workloadIdentityPools/p/providers/r".into(),
            service_account: "sa@p.iam.gserviceaccount.com".into(),
            sts: "https://sts.googleapis.com".into(),
            iam: "https://iamcredentials.googleapis.com".into(),
            oidc_url: "https://token.actions.example/x?api-version=2.0".into(),
            oidc_bearer: "job-bearer-1".into(),
        };
        let azure_federated = SopsCredential::AzureFederated {
            client_id: "client-1".into(),
            tenant_id: "tenant-1".into(),
            assertion: "oidc-assertion-1".into(),
            authority_host: None,
        };
        let azure_secret = SopsCredential::AzureSecret {
            client_id: "client-1".into(),
            tenant_id: "tenant-1".into(),
            secret: "azure-secret-1".into(),
            authority_host: Some("https://login.example/".into()),
        };
        type Case<'a> =
            (Option<&'a SopsCredential>, Option<&'a str>, &'a [(&'a str, &'a str)], &'a [&'a str], &'a [&'a str]);
        let gcp_key = SopsCredential::GcpKey("{\"type\": \"service_account\"}".into());
        let (aws_temporary, aws_static) = (aws(Some("aws-token-1")), aws(None));
        let cases: &[Case<'_>] = &[
            // credential, age key, variables, secrets, files
            (None, None, &[], &[], &[]),
            (
                None,
                Some("  AGE-SECRET-KEY-1ABC\n"),
                &[("SOPS_AGE_KEY", "AGE-SECRET-KEY-1ABC")],
                &["AGE-SECRET-KEY-1ABC"],
                &[],
            ),
            (
                None,
                Some("# created: now\n# public key: age1xyz\nAGE-SECRET-KEY-1ABC\n"),
                &[("SOPS_AGE_KEY", "# created: now\n# public key: age1xyz\nAGE-SECRET-KEY-1ABC")],
                &["AGE-SECRET-KEY-1ABC"],
                &[],
            ),
            (Some(&keyless), None, &[("GOOGLE_APPLICATION_CREDENTIALS", gcp_file)], &["job-bearer-1"], &[gcp_file]),
            (Some(&gcp_key), None, &[("GOOGLE_APPLICATION_CREDENTIALS", gcp_file)], &[], &[gcp_file]),
            (
                Some(&aws_temporary),
                None,
                &[
                    ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
                    ("AWS_SECRET_ACCESS_KEY", "aws-secret-1"),
                    ("AWS_SESSION_TOKEN", "aws-token-1"),
                ],
                &["AKIDEXAMPLE", "aws-secret-1", "aws-token-1"],
                &[],
            ),
            (
                Some(&aws_static),
                None,
                &[("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"), ("AWS_SECRET_ACCESS_KEY", "aws-secret-1")],
                &["AKIDEXAMPLE", "aws-secret-1"],
                &[],
            ),
            (
                Some(&azure_federated),
                None,
                &[
                    ("AZURE_CLIENT_ID", "client-1"),
                    ("AZURE_TENANT_ID", "tenant-1"),
                    ("AZURE_FEDERATED_TOKEN_FILE", azure_file),
                ],
                &["oidc-assertion-1"],
                &[azure_file],
            ),
            (
                Some(&azure_secret),
                Some("AGE-SECRET-KEY-1ABC"),
                &[
                    ("SOPS_AGE_KEY", "AGE-SECRET-KEY-1ABC"),
                    ("AZURE_CLIENT_ID", "client-1"),
                    ("AZURE_TENANT_ID", "tenant-1"),
                    ("AZURE_CLIENT_SECRET", "azure-secret-1"),
                    ("AZURE_AUTHORITY_HOST", "https://login.example/"),
                ],
                &["AGE-SECRET-KEY-1ABC", "azure-secret-1"],
                &[],
            ),
        ];
        for (credential, age, vars, secrets, files) in cases {
            let out = exports(*credential, *age, folder, "c1");
            let got: Vec<(&str, &str)> = out.vars.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
            assert_eq!(got, *vars, "{credential:?}");
            assert_eq!(out.secrets, *secrets, "{credential:?}");
            let paths: Vec<String> = out.files.iter().map(|f| f.path.display().to_string()).collect();
            assert_eq!(paths, *files, "{credential:?}");
        }
        let out = exports(Some(&azure_federated), None, folder, "c1");
        assert_eq!(out.files[0].contents, "oidc-assertion-1");
        assert_eq!(out.covers, [KeyType::AzureKeyVault]);
        assert_eq!(format!("{:?}", azure_secret), "AzureSecret(<redacted>)");
    }

    #[test]
    fn the_external_account_file_fetches_a_fresh_token() {
        let text = external_account(
            "projects/1/locations/global/workloadIdentityPools/p/providers/r",
            "sa@p.iam.gserviceaccount.com",
            "https://sts.googleapis.com",
            "https://iamcredentials.googleapis.com/",
            "https://token.actions.example/x?api-version=2.0",
            "job-bearer-1",
        );
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(value["type"], "external_account");
        assert_eq!(
            value["audience"],
            "//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/providers/r"
        );
        assert_eq!(value["subject_token_type"], "urn:ietf:params:oauth:token-type:jwt");
        assert_eq!(value["token_url"], "https://sts.googleapis.com/v1/token");
        assert_eq!(
            value["service_account_impersonation_url"],
            "https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/sa@p.iam.gserviceaccount.com:generateAccessToken"
        );
        let source = &value["credential_source"];
        assert_eq!(
            source["url"],
            "https://token.actions.example/x?api-version=2.0&audience=https%3A%2F%2Fiam.googleapis.com%2Fprojects%2F1%2Flocations%2Fglobal%2FworkloadIdentityPools%2Fp%2Fproviders%2Fr"
        );
        assert_eq!(source["headers"]["Authorization"], "Bearer job-bearer-1");
        assert_eq!(source["format"], json!({"type": "json", "subject_token_field_name": "value"}));
    }

    #[test]
    fn creation_rules_name_key_types() {
        let cases: &[(&str, &[&str])] = &[
            ("", &[]),
            ("stores: {yaml: {indent: 2}}\n", &[]),
            (
                "creation_rules:\n- path_regex: .*secret.*\n  gcp_kms: projects/p/locations/global/keyRings/r/cryptoKeys/k\n",
                &["creation_rules[0].gcp_kms"],
            ),
            (
                "creation_rules:\n- path_regex: a\n  kms: arn:aws:kms:us-east-1:1:key/x\n  age: age1abc,age1def\n- path_regex: b\n  azure_keyvault: https://v.vault.azure.net/keys/k/1\n  pgp: ''\n  hc_vault_transit_uri: https://vault/v1/transit/keys/k\n",
                &["creation_rules[0].kms", "creation_rules[0].age", "creation_rules[1].azure_keyvault", "creation_rules[1].hc_vault_transit_uri"],
            ),
            (
                "creation_rules:\n- key_groups:\n  - age: [age1abc]\n    pgp: [FP]\n  - gcp_kms:\n    - resource_id: projects/p/locations/l/keyRings/r/cryptoKeys/k\n    hc_vault: []\n",
                &["creation_rules[0].key_groups[0].age", "creation_rules[0].key_groups[0].pgp", "creation_rules[0].key_groups[1].gcp_kms"],
            ),
        ];
        for (text, expected) in cases {
            let found: Vec<String> = rule_keys(text).unwrap().iter().map(RuleKey::field_path).collect();
            assert_eq!(found, *expected, "{text:?}");
        }
        assert_eq!(rule_keys("creation_rules: &a []\n"), Err((1, 17)));
    }

    #[test]
    fn warns_once_per_key_type_without_credentials() {
        let text = "creation_rules:\n- path_regex: a\n  gcp_kms: projects/p/locations/global/keyRings/r/cryptoKeys/k\n- path_regex: b\n  age: age1abc\n- path_regex: c\n  gcp_kms: projects/p/locations/global/keyRings/r/cryptoKeys/k2\n  pgp: FP\n";
        type Case<'a> = (&'a [KeyType], &'a [(&'a str, usize)]);
        let cases: &[Case<'_>] = &[
            (&[], &[("creation_rules[0].gcp_kms", 3), ("creation_rules[1].age", 5), ("creation_rules[2].pgp", 8)]),
            (&[KeyType::GcpKms], &[("creation_rules[1].age", 5), ("creation_rules[2].pgp", 8)]),
            (&[KeyType::GcpKms, KeyType::Age, KeyType::Pgp], &[]),
        ];
        for (covered, expected) in cases {
            let found: Vec<(String, usize)> = warnings(".sops.yaml", text, covered, "c1")
                .into_iter()
                .map(|d| (d.field.clone().unwrap_or_default(), d.line.unwrap_or_default()))
                .collect();
            let expected: Vec<(String, usize)> = expected.iter().map(|(f, l)| ((*f).to_owned(), *l)).collect();
            assert_eq!(found, expected, "{covered:?}");
        }
        let broken = warnings(".sops.yaml", "creation_rules: [\n", &[], "c1");
        assert_eq!(broken.len(), 1);
        assert!(broken[0].message.contains("cannot read the creation rules"));
    }

    #[test]
    fn earlier_steps_credentials_count() {
        let env = RunnerEnv::from_vars([
            ("GOOGLE_APPLICATION_CREDENTIALS", "/x"),
            ("SOPS_AGE_KEY_FILE", "/k"),
            ("AZURE_CLIENT_ID", ""),
        ]);
        assert_eq!(covered_by_env(&env), [KeyType::GcpKms, KeyType::Age]);
    }
}
