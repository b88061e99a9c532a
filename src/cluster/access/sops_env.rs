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
use crate::base::diagnostic::Diagnostic;
use crate::base::error::Error;
use crate::base::runner::RunnerEnv;
use crate::config::locate::{locate, Segment};
use crate::config::yaml_guard;

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

/// The `sops-credentials` value when the input is absent.
pub const DEFAULT_SOPS_CREDENTIALS: &str = "auto";

impl SopsMode {
    /// From the input; empty means `auto`.
    pub fn parse(input: Option<&str>) -> Result<SopsMode, Error> {
        match input.map(str::trim).unwrap_or(DEFAULT_SOPS_CREDENTIALS) {
            "" | DEFAULT_SOPS_CREDENTIALS => Ok(SopsMode::Auto),
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
        /// The service account to impersonate; `None` is direct workload
        /// identity federation (the pool's principal itself holds the KMS role).
        service_account: Option<String>,
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

/// What sops gets from `credentials` (the cluster's own, and the leg's separate
/// sops identities: at most one of each key type) and the `sops-age-key`
/// input; files go in `folder` (the private folder of the kubeconfig), named
/// after `cluster`.
pub fn exports(credentials: &[&SopsCredential], age_key: Option<&str>, folder: &Path, cluster: &str) -> SopsExports {
    let mut out = SopsExports::default();
    if let Some(key) = age_key.map(str::trim).filter(|k| !k.is_empty()) {
        out.vars.push((SOPS_AGE_KEY.to_owned(), key.to_owned()));
        out.secrets.extend(age_key_secrets(key));
        out.covers.push(KeyType::Age);
    }
    for credential in credentials {
        if !out.covers.contains(&credential.key_type()) {
            export_one(&mut out, credential, folder, cluster);
        }
    }
    out
}

/// One credential's variables, secrets and files.
fn export_one(out: &mut SopsExports, credential: &SopsCredential, folder: &Path, cluster: &str) {
    let var = |out: &mut SopsExports, name: &str, value: &str, secret: bool| {
        out.vars.push((name.to_owned(), value.to_owned()));
        if secret {
            out.secrets.push(value.to_owned());
        }
    };
    out.covers.push(credential.key_type());
    match credential {
        SopsCredential::GcpExternalAccount { provider, service_account, sts, iam, oidc_url, oidc_bearer } => {
            let path = folder.join(format!("deployer-{cluster}-gcp-credentials.json"));
            let contents = external_account(provider, service_account.as_deref(), sts, iam, oidc_url, oidc_bearer);
            out.secrets.push(oidc_bearer.clone());
            var(out, GOOGLE_APPLICATION_CREDENTIALS, &path.to_string_lossy(), false);
            out.files.push(PrivateFile { path, contents });
        }
        SopsCredential::GcpKey(text) => {
            let path = folder.join(format!("deployer-{cluster}-gcp-credentials.json"));
            var(out, GOOGLE_APPLICATION_CREDENTIALS, &path.to_string_lossy(), false);
            out.files.push(PrivateFile { path, contents: text.clone() });
        }
        SopsCredential::Aws { access_key_id, secret_access_key, session_token } => {
            var(out, AWS_ACCESS_KEY_ID, access_key_id, true);
            var(out, AWS_SECRET_ACCESS_KEY, secret_access_key, true);
            if let Some(token) = session_token {
                var(out, AWS_SESSION_TOKEN, token, true);
            }
        }
        SopsCredential::AzureFederated { client_id, tenant_id, assertion, authority_host } => {
            let path = folder.join(format!("deployer-{cluster}-azure-token"));
            var(out, AZURE_CLIENT_ID, client_id, false);
            var(out, AZURE_TENANT_ID, tenant_id, false);
            var(out, AZURE_FEDERATED_TOKEN_FILE, &path.to_string_lossy(), false);
            if let Some(host) = authority_host {
                var(out, AZURE_AUTHORITY_HOST, host, false);
            }
            out.secrets.push(assertion.clone());
            out.files.push(PrivateFile { path, contents: assertion.clone() });
        }
        SopsCredential::AzureSecret { client_id, tenant_id, secret, authority_host } => {
            var(out, AZURE_CLIENT_ID, client_id, false);
            var(out, AZURE_TENANT_ID, tenant_id, false);
            var(out, AZURE_CLIENT_SECRET, secret, true);
            if let Some(host) = authority_host {
                var(out, AZURE_AUTHORITY_HOST, host, false);
            }
        }
    }
}

/// The `external_account` credentials file of GCP keyless access, in the
/// URL-sourced form google-github-actions/auth writes: Google's library
/// fetches a fresh GitHub OIDC token from `oidc_url` (JSON answer, field
/// `value`) for every exchange. A file holding one token instead would stop
/// working when that token expires (GitHub's tokens live minutes), in the
/// middle of a long deploy.
pub fn external_account(
    provider: &str,
    service_account: Option<&str>,
    sts: &str,
    iam: &str,
    oidc_url: &str,
    oidc_bearer: &str,
) -> String {
    let separator = if oidc_url.contains('?') { '&' } else { '?' };
    let audience = format!("https://iam.googleapis.com/{provider}");
    let mut file = json!({
        "type": "external_account",
        "audience": format!("//iam.googleapis.com/{provider}"),
        "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
        "token_url": format!("{}/v1/token", sts.trim_end_matches('/')),
        "credential_source": {
            "url": format!("{oidc_url}{separator}audience={}", url_encode(&audience)),
            "headers": {"Authorization": format!("Bearer {oidc_bearer}")},
            "format": {"type": "json", "subject_token_field_name": "value"},
        },
    });
    if let (Some(service_account), Some(fields)) = (service_account, file.as_object_mut()) {
        fields.insert(
            "service_account_impersonation_url".to_owned(),
            json!(format!(
                "{}/v1/projects/-/serviceAccounts/{}:generateAccessToken",
                iam.trim_end_matches('/'),
                url_encode(service_account).replace("%40", "@")
            )),
        );
    }
    file.to_string()
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
            .hint(format!("provide {}", identity_remedy(key.key_type)))
        })
        .collect()
}

/// A creation rule that covers files this leg decrypts: which files, and
/// the key types that open them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NeededRule {
    /// Index in `creation_rules`.
    pub rule: usize,
    /// The leg's files the rule covers (repository paths), in the order given.
    pub files: Vec<String>,
    /// The rule's key groups, each as its key types with the field naming
    /// each (one group of the rule's own keys when it has no `key_groups`).
    pub groups: Vec<Vec<(KeyType, String)>>,
    /// How many groups must open: `shamir_threshold`, or every group.
    pub threshold: usize,
}

impl NeededRule {
    /// Whether `covered` opens files under this rule: a key of a covered type
    /// in at least `threshold` groups.
    pub fn opened_by(&self, covered: &[KeyType]) -> bool {
        let open = self.groups.iter().filter(|group| group.iter().any(|(t, _)| covered.contains(t))).count();
        open >= self.threshold
    }

    /// The groups `covered` does not open.
    pub fn closed_groups<'a>(&'a self, covered: &'a [KeyType]) -> impl Iterator<Item = &'a Vec<(KeyType, String)>> {
        self.groups.iter().filter(move |group| !group.iter().any(|(t, _)| covered.contains(t)))
    }

    /// The field names of the groups `covered` does not open, each once (`gcp_kms`, `kms`, …).
    pub fn missing_fields(&self, covered: &[KeyType]) -> Vec<String> {
        let mut fields: Vec<String> = Vec::new();
        for (_, field) in self.closed_groups(covered).flatten() {
            if !fields.contains(field) {
                fields.push(field.clone());
            }
        }
        fields
    }
}

/// Why `.sops.yaml` could not say which keys the leg needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RulesProblem {
    /// Unreadable YAML, or refused (anchors, aliases, deep nesting): line and column.
    Unreadable(usize, usize),
    /// A `path_regex` that does not compile: the rule and the regex error.
    BadRegex { rule: usize, message: String },
}

/// The creation rules that cover `files` (repository paths; `.sops.yaml` is
/// at the repository root, and sops matches `path_regex` against the path
/// relative to the folder of its configuration file). As sops does, each
/// file takes the first rule whose `path_regex` matches anywhere in its path
/// (a rule without one matches every file). Returns the rules in file order
/// and the files no rule covers.
pub fn rules_for_files(text: &str, files: &[String]) -> Result<(Vec<NeededRule>, Vec<String>), RulesProblem> {
    // `rule_keys` checks the text (guard, then parse) before anything else reads it.
    let keys = rule_keys(text).map_err(|(line, column)| RulesProblem::Unreadable(line, column))?;
    let document: yaml_serde::Value = yaml_serde::from_str(text).map_err(|_| RulesProblem::Unreadable(1, 1))?;
    let rules = document.get("creation_rules").and_then(yaml_serde::Value::as_sequence).cloned().unwrap_or_default();
    let mut patterns = Vec::new();
    for (index, rule) in rules.iter().enumerate() {
        let pattern = rule.get("path_regex").and_then(yaml_serde::Value::as_str).filter(|p| !p.is_empty());
        let compiled = pattern
            .map(|p| {
                regex::Regex::new(p).map_err(|e| RulesProblem::BadRegex {
                    rule: index,
                    message: e.to_string().lines().last().unwrap_or_default().trim().to_owned(),
                })
            })
            .transpose()?;
        patterns.push(compiled);
    }
    let mut needed: Vec<NeededRule> = Vec::new();
    let mut unmatched = Vec::new();
    for file in files {
        let Some(rule) = patterns.iter().position(|p| p.as_ref().is_none_or(|p| p.is_match(file))) else {
            unmatched.push(file.clone());
            continue;
        };
        if let Some(entry) = needed.iter_mut().find(|n| n.rule == rule) {
            if !entry.files.contains(file) {
                entry.files.push(file.clone());
            }
            continue;
        }
        let in_rule = keys.iter().filter(|k| k.rule == rule);
        let grouped = in_rule.clone().any(|k| k.group.is_some());
        let mut groups: Vec<Vec<(KeyType, String)>> = Vec::new();
        if grouped {
            // With `key_groups`, sops uses the groups and ignores the rule's own keys.
            let count = in_rule.clone().filter_map(|k| k.group).max().map_or(0, |g| g + 1);
            groups = vec![Vec::new(); count];
            for key in in_rule.filter(|k| k.group.is_some()) {
                groups[key.group.unwrap_or_default()].push((key.key_type, key.field.clone()));
            }
            groups.retain(|g| !g.is_empty());
        } else {
            let own: Vec<(KeyType, String)> = in_rule.map(|k| (k.key_type, k.field.clone())).collect();
            if !own.is_empty() {
                groups.push(own);
            }
        }
        let threshold = rules[rule]
            .get("shamir_threshold")
            .and_then(yaml_serde::Value::as_u64)
            .filter(|t| *t > 0 && grouped)
            .map_or(groups.len(), |t| usize::try_from(t).unwrap_or(usize::MAX).min(groups.len()));
        needed.push(NeededRule { rule, files: vec![file.clone()], groups, threshold });
    }
    needed.sort_by_key(|n| n.rule);
    Ok((needed, unmatched))
}

/// The separate sops identities to obtain so that `covered` plus them opens
/// every rule: for each group a rule still needs, the first of its key types
/// in `available` (the types the leg's sops identity inputs can give).
/// Returns the types to obtain, in rule order, each once.
pub fn identities_to_obtain(needed: &[NeededRule], covered: &[KeyType], available: &[KeyType]) -> Vec<KeyType> {
    let mut obtain: Vec<KeyType> = Vec::new();
    for rule in needed {
        let have: Vec<KeyType> = covered.iter().chain(obtain.iter()).copied().collect();
        if rule.opened_by(&have) {
            continue;
        }
        let picks: Vec<KeyType> = rule
            .closed_groups(&have)
            .filter_map(|group| group.iter().map(|(t, _)| *t).find(|t| available.contains(t)))
            .collect();
        for pick in picks {
            if !obtain.contains(&pick) {
                obtain.push(pick);
            }
        }
    }
    obtain
}

/// What would give sops a key type on this leg: the inputs to set.
pub fn identity_remedy(key_type: KeyType) -> &'static str {
    match key_type {
        KeyType::GcpKms => {
            "`sops-gcp-workload-identity-provider` (keyless; with `sops-gcp-service-account` to impersonate \
             one; the job needs `permissions: id-token: write`) or `sops-gcp-credentials-json`, or a `gcp` \
             cluster's own credentials, or GOOGLE_APPLICATION_CREDENTIALS from an earlier step"
        }
        KeyType::AwsKms => {
            "`sops-aws-role-arn` (keyless; the job needs `permissions: id-token: write`), or an `aws` cluster's \
             own credentials, or AWS_ACCESS_KEY_ID from an earlier step"
        }
        other => other.remedy(),
    }
}

/// The error for rules that no credentials of this leg open, one diagnostic
/// per rule at its place in `.sops.yaml` (file `file`, text `text`), naming
/// the leg's files under it and the inputs to set.
pub fn unopened_rules(file: &str, text: &str, rules: &[(NeededRule, Vec<KeyType>)], cluster: &str) -> Vec<Diagnostic> {
    rules
        .iter()
        .map(|(rule, covered)| {
            let fields = rule.missing_fields(covered);
            let listed: Vec<String> = fields.iter().map(|f| format!("`{f}`")).collect();
            let shown: Vec<&str> = rule.files.iter().take(5).map(String::as_str).collect();
            let more = rule.files.len().saturating_sub(shown.len());
            let files = match more {
                0 => shown.join(", "),
                n => format!("{} and {n} more", shown.join(", ")),
            };
            let mut types: Vec<KeyType> = Vec::new();
            for (key_type, _) in rule.closed_groups(covered).flatten() {
                if !types.contains(key_type) {
                    types.push(*key_type);
                }
            }
            let remedies: Vec<&str> = types.iter().map(|t| identity_remedy(*t)).collect();
            Diagnostic::new(
                file,
                format!(
                    "cluster {cluster} decrypts {files} under this rule, which encrypts with {} keys, but the leg \
                     has no credentials for them",
                    listed.join(" or ")
                ),
            )
            .at(locate(text, &[Segment::Key("creation_rules"), Segment::Index(rule.rule)]))
            .field(format!("creation_rules[{}]", rule.rule))
            .hint(format!("set {}", remedies.join("; or ")))
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
            service_account: Some("sa@p.iam.gserviceaccount.com".into()),
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
            let out = exports(credential.as_slice(), *age, folder, "c1");
            let got: Vec<(&str, &str)> = out.vars.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
            assert_eq!(got, *vars, "{credential:?}");
            assert_eq!(out.secrets, *secrets, "{credential:?}");
            let paths: Vec<String> = out.files.iter().map(|f| f.path.display().to_string()).collect();
            assert_eq!(paths, *files, "{credential:?}");
        }
        let out = exports(&[&azure_federated], None, folder, "c1");
        assert_eq!(out.files[0].contents, "oidc-assertion-1");
        assert_eq!(out.covers, [KeyType::AzureKeyVault]);
        assert_eq!(format!("{:?}", azure_secret), "AzureSecret(<redacted>)");
    }

    #[test]
    fn the_external_account_file_fetches_a_fresh_token() {
        let text = external_account(
            "projects/1/locations/global/workloadIdentityPools/p/providers/r",
            Some("sa@p.iam.gserviceaccount.com"),
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

    fn files(list: &[&str]) -> Vec<String> {
        list.iter().map(|f| (*f).to_owned()).collect()
    }

    #[test]
    fn each_file_takes_the_first_rule_that_matches() {
        let text = "creation_rules:\n- path_regex: .*/eksctl/.*\n  kms: arn:aws:kms:us-east-1:1:key/x\n\
                    - path_regex: .*secret.*\n  gcp_kms: projects/p/locations/global/keyRings/r/cryptoKeys/k\n  \
                    age: age1abc\n- path_regex: ^other/\n  pgp: FP\n";
        let leg = files(&[
            "config/clusters/a/enc-support.secret.values.yaml",
            "config/clusters/a/eksctl/enc-key.secret.json",
            "config/clusters/a/enc-hub.secret.values.yaml",
            "config/clusters/a/enc-plain.yaml",
        ]);
        let (rules, unmatched) = rules_for_files(text, &leg).unwrap();
        let summary: Vec<(usize, Vec<String>, Vec<Vec<KeyType>>)> = rules
            .iter()
            .map(|r| (r.rule, r.files.clone(), r.groups.iter().map(|g| g.iter().map(|(t, _)| *t).collect()).collect()))
            .collect();
        assert_eq!(
            summary,
            [
                (0, files(&["config/clusters/a/eksctl/enc-key.secret.json"]), vec![vec![KeyType::AwsKms]]),
                (
                    1,
                    files(&[
                        "config/clusters/a/enc-support.secret.values.yaml",
                        "config/clusters/a/enc-hub.secret.values.yaml"
                    ]),
                    vec![vec![KeyType::GcpKms, KeyType::Age]]
                ),
            ]
        );
        assert_eq!(unmatched, files(&["config/clusters/a/enc-plain.yaml"]));
        // One key of the group is enough; without any, the rule stays closed.
        assert!(rules[1].opened_by(&[KeyType::Age]));
        assert!(!rules[1].opened_by(&[KeyType::AwsKms]));
        assert_eq!(rules[1].missing_fields(&[KeyType::AwsKms]), ["gcp_kms", "age"]);
        // A rule without `path_regex` takes every file not taken before it.
        let (rules, unmatched) = rules_for_files("creation_rules:\n- age: age1abc\n", &leg).unwrap();
        assert_eq!((rules.len(), rules[0].files.len(), unmatched.len()), (1, 4, 0));
        // No `.sops.yaml` rules at all: nothing needed.
        assert_eq!(rules_for_files("stores: {}\n", &leg).unwrap(), (Vec::new(), leg.clone()));
    }

    #[test]
    fn key_groups_need_every_group_or_the_threshold() {
        let text = "creation_rules:\n- path_regex: secret\n  gcp_kms: ignored-with-groups\n  key_groups:\n  \
                    - gcp_kms: [{resource_id: k}]\n    age: [age1abc]\n  - kms: [{arn: a}]\n";
        let leg = files(&["enc-x.secret.yaml"]);
        let (rules, _) = rules_for_files(text, &leg).unwrap();
        assert_eq!(rules[0].groups.len(), 2);
        assert_eq!(rules[0].threshold, 2);
        assert!(!rules[0].opened_by(&[KeyType::GcpKms]));
        assert!(rules[0].opened_by(&[KeyType::Age, KeyType::AwsKms]));
        let threshold = format!("{text}  shamir_threshold: 1\n");
        let (rules, _) = rules_for_files(&threshold, &leg).unwrap();
        assert_eq!(rules[0].threshold, 1);
        assert!(rules[0].opened_by(&[KeyType::AwsKms]));
    }

    #[test]
    fn broken_rules_are_reported() {
        let leg = files(&["enc-x.yaml"]);
        assert_eq!(
            rules_for_files("creation_rules:\n- path_regex: '(unclosed'\n  age: a\n", &leg).unwrap_err(),
            RulesProblem::BadRegex { rule: 0, message: "error: unclosed group".into() }
        );
        assert_eq!(rules_for_files("creation_rules: &a []\n", &leg).unwrap_err(), RulesProblem::Unreadable(1, 17));
    }

    #[test]
    fn identities_cover_what_the_cluster_does_not() {
        let text = "creation_rules:\n- path_regex: a\n  gcp_kms: k\n- path_regex: b\n  kms: arn\n  age: age1\n\
                    - path_regex: c\n  azure_keyvault: https://v/keys/k/1\n";
        let (rules, _) = rules_for_files(text, &files(&["a", "b"])).unwrap();
        type Case<'a> = (&'a [KeyType], &'a [KeyType], &'a [KeyType]);
        let cases: &[Case<'_>] = &[
            // covered, available, obtained
            (&[KeyType::AwsKms], &[KeyType::GcpKms, KeyType::AwsKms], &[KeyType::GcpKms]),
            (&[KeyType::GcpKms], &[KeyType::GcpKms, KeyType::AwsKms], &[KeyType::AwsKms]),
            (&[KeyType::GcpKms, KeyType::Age], &[KeyType::AwsKms], &[]),
            (&[], &[KeyType::AwsKms], &[KeyType::AwsKms]),
            (&[], &[], &[]),
        ];
        for (covered, available, expected) in cases {
            assert_eq!(identities_to_obtain(&rules, covered, available), *expected, "{covered:?} {available:?}");
        }
        let closed: Vec<(NeededRule, Vec<KeyType>)> = vec![(rules[0].clone(), vec![KeyType::AwsKms])];
        let errors = unopened_rules(".sops.yaml", text, &closed, "c1");
        assert_eq!(errors.len(), 1);
        assert_eq!((errors[0].line, errors[0].field.as_deref()), (Some(2), Some("creation_rules[0]")));
        assert_eq!(
            errors[0].message,
            "cluster c1 decrypts a under this rule, which encrypts with `gcp_kms` keys, but the leg has no credentials for them"
        );
        assert!(errors[0].hint.as_deref().unwrap_or_default().starts_with("set `sops-gcp-workload-identity-provider`"));
    }

    #[test]
    fn direct_federation_has_no_impersonation() {
        let text = external_account(
            "projects/1/locations/global/workloadIdentityPools/p/providers/r",
            None,
            "https://sts",
            "https://iam",
            "https://oidc/x",
            "b",
        );
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert!(value.get("service_account_impersonation_url").is_none(), "{value}");
        assert_eq!(value["token_url"], "https://sts/v1/token");
    }
}
