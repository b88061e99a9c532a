//! `enc-*` values files for rendering without keys: the same YAML tree, every
//! sops-encrypted scalar replaced by a fixed placeholder of its type, the
//! `sops` metadata dropped. Pure: text in, text out.
//!
//! A string holding `ENC[` anywhere that is not one well-formed sops value is
//! refused rather than kept, so no part of a ciphertext ever reaches the output.

use yaml_serde::{Mapping, Value};

use crate::config::yaml_guard;

/// What an encrypted string (or bytes) is replaced by.
pub const PLACEHOLDER: &str = "<encrypted>";

/// The largest values file read, in bytes (sops roughly doubles a file's size).
pub const MAX_ENCRYPTED_FILE_BYTES: usize = 4 * 1024 * 1024;

/// The top-level key holding sops's metadata.
const SOPS_METADATA_KEY: &str = "sops";

/// Why a file could not be turned into placeholders. Names the file, never its content.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlaceholderError {
    #[error("{file} is larger than {limit} bytes")]
    TooLarge { file: String, limit: usize },
    #[error("{file} uses YAML anchors or aliases, or nests too deeply")]
    Unbounded { file: String },
    #[error("{file} is not YAML or JSON: {message} at line {line}")]
    Syntax { file: String, message: String, line: usize },
    #[error("{file} cannot be read as a values file (line {line})")]
    NotValues { file: String, line: usize },
    #[error("{file} is not a mapping of values")]
    NotAMapping { file: String },
    #[error("{file} holds an `ENC[` text that is not a sops-encrypted value")]
    Malformed { file: String },
}

/// The YAML text of `text` (a sops YAML or JSON file named `file`) with each
/// encrypted scalar replaced by its type's placeholder: str and bytes by
/// [`PLACEHOLDER`], int by `0`, float by `0.0`, bool by `false`. Clear
/// scalars stay; the top-level `sops` key goes.
pub fn placeholder_tree(file: &str, text: &str) -> Result<String, PlaceholderError> {
    let file = file.to_owned();
    if text.len() > MAX_ENCRYPTED_FILE_BYTES {
        return Err(PlaceholderError::TooLarge { file, limit: MAX_ENCRYPTED_FILE_BYTES });
    }
    match yaml_guard::check(text) {
        Ok(()) => {}
        Err(yaml_guard::Refusal::Syntax { message, line, .. }) => {
            return Err(PlaceholderError::Syntax { file, message, line })
        }
        Err(_) => return Err(PlaceholderError::Unbounded { file }),
    }
    let value: Value = yaml_serde::from_str(text).map_err(|e| PlaceholderError::NotValues {
        file: file.clone(),
        line: e.location().map_or(0, |location| location.line()),
    })?;
    let mut top = match value {
        Value::Mapping(top) => top,
        // An empty file (or one of comments only): no values, as helm reads it.
        Value::Null => Mapping::new(),
        _ => return Err(PlaceholderError::NotAMapping { file }),
    };
    top.remove(SOPS_METADATA_KEY);
    let tree = placeholders(Value::Mapping(top)).ok_or_else(|| PlaceholderError::Malformed { file: file.clone() })?;
    yaml_serde::to_string(&tree).map_err(|_| PlaceholderError::NotAMapping { file })
}

/// `value` with every encrypted scalar replaced; `None` when an `ENC[` text is not a sops value.
fn placeholders(value: Value) -> Option<Value> {
    Some(match value {
        Value::String(text) if text.contains("ENC[") => placeholder(&text)?,
        Value::Sequence(items) => Value::Sequence(items.into_iter().map(placeholders).collect::<Option<_>>()?),
        Value::Mapping(entries) => {
            let mut mapping = Mapping::with_capacity(entries.len());
            for (key, value) in entries {
                if key.as_str().is_some_and(|key| key.contains("ENC[")) {
                    return None; // sops never encrypts keys
                }
                mapping.insert(key, placeholders(value)?);
            }
            Value::Mapping(mapping)
        }
        Value::Tagged(mut tagged) => {
            tagged.value = placeholders(tagged.value)?;
            Value::Tagged(tagged)
        }
        clear => clear,
    })
}

/// The placeholder of one sops value `ENC[AES256_GCM,data:…,iv:…,tag:…,type:…]`.
fn placeholder(text: &str) -> Option<Value> {
    let fields = text.strip_prefix("ENC[AES256_GCM,")?.strip_suffix(']')?;
    let mut parts = fields.split(',');
    let mut next = |name: &str| parts.next()?.strip_prefix(name).map(str::to_owned);
    let (data, iv, tag, kind) = (next("data:")?, next("iv:")?, next("tag:")?, next("type:")?);
    if parts.next().is_some() {
        return None;
    }
    let base64 = |s: &str| s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='));
    if !(base64(&data) && base64(&iv) && base64(&tag)) || iv.is_empty() || tag.is_empty() {
        return None;
    }
    Some(match kind.as_str() {
        "str" | "bytes" | "comment" => Value::String(PLACEHOLDER.to_owned()),
        "int" => Value::Number(0.into()),
        "float" => Value::Number(0.0.into()),
        "bool" => Value::Bool(false),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A well-formed sops value of `kind` (the ciphertext is made up).
    fn enc(data: &str, kind: &str) -> String {
        format!("ENC[AES256_GCM,data:{data},iv:aXZpdml2aXZpdml2aXZpdg==,tag:dGFndGFndGFndGFndGFnZw==,type:{kind}]")
    }

    const SOPS_BLOCK: &str = "sops:\n    age:\n        - recipient: age1xyz\n          enc: |\n            -----BEGIN AGE ENCRYPTED FILE-----\n            c2VjcmV0\n            -----END AGE ENCRYPTED FILE-----\n    lastmodified: \"2026-01-01T00:00:00Z\"\n    mac: MACSECRET\n    unencrypted_suffix: _unencrypted\n    version: 3.9.0\n";

    #[test]
    fn encrypted_scalars_become_placeholders_of_their_type() {
        let cases: Vec<(&str, String, &str)> = vec![
            ("str", format!("token: {}\n", enc("U0VDUkVU", "str")), "token: <encrypted>\n"),
            ("empty str", format!("token: {}\n", enc("", "str")), "token: <encrypted>\n"),
            ("bytes", format!("blob: {}\n", enc("U0VDUkVU", "bytes")), "blob: <encrypted>\n"),
            ("int", format!("port: {}\n", enc("ODA4MA==", "int")), "port: 0\n"),
            ("float", format!("ratio: {}\n", enc("MC41", "float")), "ratio: 0.0\n"),
            ("bool", format!("enabled: {}\n", enc("dHJ1ZQ==", "bool")), "enabled: false\n"),
            (
                "nested",
                format!("secret:\n  db:\n    password: {}\n    port: {}\n", enc("cHc=", "str"), enc("NTQzMg==", "int")),
                "secret:\n  db:\n    password: <encrypted>\n    port: 0\n",
            ),
            (
                "list",
                format!("users:\n- name: {}\n  admin: {}\n- {}\n", enc("YQ==", "str"), enc("dHJ1ZQ==", "bool"), enc("Yg==", "str")),
                "users:\n- name: <encrypted>\n  admin: false\n- <encrypted>\n",
            ),
            (
                "unencrypted suffix kept",
                format!("host_unencrypted: db.example\nreplicas_unencrypted: 3\npassword: {}\n", enc("cHc=", "str")),
                "host_unencrypted: db.example\nreplicas_unencrypted: 3\npassword: <encrypted>\n",
            ),
            (
                "sops block dropped",
                format!("token: {}\n{SOPS_BLOCK}", enc("U0VDUkVU", "str")),
                "token: <encrypted>\n",
            ),
            (
                "JSON",
                format!("{{\n\t\"secret\": {{\"token\": \"{}\", \"n\": \"{}\"}},\n\t\"sops\": {{\"mac\": \"MACSECRET\"}}\n}}\n", enc("U0VDUkVU", "str"), enc("MQ==", "int")),
                "secret:\n  token: <encrypted>\n  n: 0\n",
            ),
            (
                "encrypted comments are comments",
                format!("#{}\ntoken: {}\n", enc("U0VDUkVU", "comment"), enc("U0VDUkVU", "str")),
                "token: <encrypted>\n",
            ),
            ("a nested sops key is data", "a:\n  sops: 1\n".into(), "a:\n  sops: 1\n"),
            ("empty: no values, as helm reads it", String::new(), "{}\n"),
            ("comments only", "# filled in later\n".into(), "{}\n"),
        ];
        for (name, text, want) in cases {
            let out = placeholder_tree("enc-x.yaml", &text).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(out, want, "{name}");
            assert!(!out.contains("ENC[") && !out.contains("U0VDUkVU") && !out.contains("MACSECRET"), "{name}: {out}");
        }
    }

    #[test]
    fn unusable_files_are_refused_without_quoting_them() {
        let big = format!("a: '{}'\n", "S".repeat(MAX_ENCRYPTED_FILE_BYTES));
        let cases: Vec<(&str, String, &str)> = vec![
            ("a list", "- SECRETVALUE\n".into(), "enc-x.yaml is not a mapping of values"),
            ("a scalar", "SECRETVALUE\n".into(), "enc-x.yaml is not a mapping of values"),
            ("anchors", "a: &x SECRETVALUE\nb: *x\n".into(), "enc-x.yaml uses YAML anchors or aliases"),
            ("alias only", "b: *SECRETVALUE\n".into(), "enc-x.yaml uses YAML anchors or aliases"),
            ("syntax", "a: 'SECRETVALUE\n".into(), "enc-x.yaml is not YAML or JSON: found unexpected end of stream"),
            ("duplicate keys", "SECRETVALUE: 1\nSECRETVALUE: 2\n".into(), "enc-x.yaml cannot be read as a values file"),
            ("too large", big, "enc-x.yaml is larger than"),
            ("unknown type", format!("a: {}\n", enc("U0VDUkVU", "SECRETVALUE")), "is not a sops-encrypted value"),
            ("extra field", format!("a: {}\n", enc("U0VDUkVU", "str,x:SECRETVALUE")), "is not a sops-encrypted value"),
            ("ENC inside a text", format!("a: 'x {}'\n", enc("U0VDUkVU", "str")), "is not a sops-encrypted value"),
            ("truncated", "a: ENC[AES256_GCM,data:U0VDUkVU\n".into(), "is not a sops-encrypted value"),
            (
                "not base64",
                "a: 'ENC[AES256_GCM,data:SECRET VALUE,iv:a,tag:b,type:str]'\n".into(),
                "is not a sops-encrypted value",
            ),
            ("in a key", "'ENC[SECRETVALUE]': 1\n".into(), "is not a sops-encrypted value"),
        ];
        for (name, text, want) in cases {
            let error = placeholder_tree("enc-x.yaml", &text).expect_err(name).to_string();
            assert!(error.contains(want), "{name}: {error}");
            assert!(!error.contains("SECRET") && !error.contains("U0VDUkVU"), "{name}: {error}");
        }
    }
}
