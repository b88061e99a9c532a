//! Decrypting `enc-*` files with `sops`, in memory.
//!
//! The plaintext is returned to the caller and never written to the
//! checkout; callers that must hand a file to another program write it into
//! a private temporary folder that is removed even on failure.
//!
//! Before any program sees a decrypted file, each of its values is
//! registered with the runner as a secret ([`values_to_mask`]), so that
//! output echoing one (helm's errors, a chart's `NOTES.txt`) is masked.

use std::path::Path;
use std::process::Command;

use crate::base::error::Error;

/// True for a file that sops encrypted, by the repository's naming rule.
pub fn is_encrypted(path: &str) -> bool {
    crate::base::repo_path::basename(path).starts_with("enc-")
}

/// `sops --decrypt FILE`. The error says what sops said, never the plaintext.
pub fn decrypt(path: &Path) -> Result<Vec<u8>, Error> {
    decrypt_with(path, &[])
}

/// `sops --decrypt FILE` with `env` added to sops's environment (the
/// credentials `setup-cluster` found, such as `SOPS_AGE_KEY`, before they are
/// exported for later steps). The error says what sops said, never the
/// plaintext, nor any value of `env`.
pub fn decrypt_with(path: &Path, env: &[(String, String)]) -> Result<Vec<u8>, Error> {
    let mut command = Command::new("sops");
    command.arg("--decrypt").arg(path).envs(env.iter().map(|(name, value)| (name, value)));
    let output = command.output().map_err(|e| Error::Command {
        program: "sops".into(),
        message: format!("cannot run sops to decrypt {} ({e}); is it installed and on PATH?", path.display()),
    })?;
    if !output.status.success() {
        return Err(Error::Command {
            program: "sops".into(),
            message: format!("decrypting {}: {}", path.display(), without_values(&output.stderr, env)),
        });
    }
    Ok(output.stdout)
}

/// sops's error text, at most 500 characters, with any value of `env` removed.
fn without_values(stderr: &[u8], env: &[(String, String)]) -> String {
    let mut text = String::from_utf8_lossy(stderr).trim().chars().take(500).collect::<String>();
    for line in env.iter().flat_map(|(_, value)| value.lines()).map(str::trim).filter(|l| l.len() >= MIN_MASKED_CHARS) {
        text = text.replace(line, "***");
    }
    text
}

/// Lines shorter than this (in characters) are not masked: masking `1`,
/// `on` or `}` would hide every such string in the whole log. A value of
/// three characters or more is always masked, except [`NOT_SECRET_WORDS`].
pub const MIN_MASKED_CHARS: usize = 3;

/// Words that are not masked even when written as strings: masking `true`
/// would hide it everywhere in the log. (YAML booleans and nulls are never masked.)
pub const NOT_SECRET_WORDS: &[&str] = &["true", "false", "yes", "off", "null"];

/// The lines of `value` to register as secrets: each line trimmed, without
/// the ones too short to mask (the runner masks line by line too).
pub fn mask_lines(value: &str) -> Vec<String> {
    value
        .lines()
        .map(str::trim)
        .filter(|line| line.chars().count() >= MIN_MASKED_CHARS)
        .filter(|line| !NOT_SECRET_WORDS.iter().any(|word| line.eq_ignore_ascii_case(word)))
        .map(str::to_owned)
        .collect()
}

/// Every scalar value (string or number, not booleans or nulls) in `value`,
/// at any depth, line by line through [`mask_lines`]. Mapping keys are names,
/// not secrets, and are left out.
pub fn collect_scalars(value: &yaml_serde::Value, found: &mut Vec<String>) {
    use yaml_serde::Value;
    match value {
        Value::Null | Value::Bool(_) => {}
        Value::Number(number) => found.extend(mask_lines(&number.to_string())),
        Value::String(text) => found.extend(mask_lines(text)),
        Value::Sequence(items) => items.iter().for_each(|item| collect_scalars(item, found)),
        Value::Mapping(mapping) => mapping.values().for_each(|item| collect_scalars(item, found)),
        Value::Tagged(tagged) => collect_scalars(&tagged.value, found),
    }
}

/// What to mask in a decrypted file, once each: every scalar value of every
/// YAML document in it. Plaintext that is not YAML is masked line by line:
/// each line whole, and what follows `key:` on it.
pub fn values_to_mask(plaintext: &[u8]) -> Vec<String> {
    use serde::Deserialize;
    let text = String::from_utf8_lossy(plaintext);
    let mut found = Vec::new();
    let documents: Result<Vec<yaml_serde::Value>, _> =
        yaml_serde::Deserializer::from_str(&text).map(yaml_serde::Value::deserialize).collect();
    match documents {
        Ok(documents) => documents.iter().for_each(|document| collect_scalars(document, &mut found)),
        Err(_) => {
            for line in text.lines() {
                found.extend(mask_lines(line));
                if let Some((_, value)) = line.split_once(':') {
                    found.extend(mask_lines(value.trim().trim_matches(['"', '\''])));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encrypted_names() {
        assert!(is_encrypted("config/clusters/c/enc-deployer-credentials.secret.yaml"));
        assert!(is_encrypted("enc-x.yaml"));
        assert!(!is_encrypted("config/clusters/c/prod.values.yaml"));
        assert!(!is_encrypted("config/enc-dir/x.yaml"));
    }

    #[test]
    fn every_scalar_value_is_masked_line_by_line() {
        let cases: &[(&str, &[&str])] = &[
            ("db:\n  password: hunter22\n  port: 5432\n  enabled: true\n  user: abc\n", &["hunter22", "5432", "abc"]),
            // Short values, booleans, nulls and boolean-like words are not masked; keys never are.
            ("a: 1\nb: on\nc: ~\nd: \"true\"\ne: 'yes'\nf: xy\nlong-key-name: 12\n", &[]),
            (
                "key: |\n  -----BEGIN KEY-----\n  QUJD\n  }\n  -----END KEY-----\n",
                &["-----BEGIN KEY-----", "QUJD", "-----END KEY-----"],
            ),
            ("list:\n- first-secret\n- {nested: second-secret}\n", &["first-secret", "second-secret"]),
            ("tagged: !secret tagged-value\n", &["tagged-value"]),
            ("one: same-value\ntwo: same-value\n", &["same-value"]),
            ("a: doc-one\n---\nb: doc-two\n", &["doc-one", "doc-two"]),
            ("pi: 3.14159\n", &["3.14159"]),
            // Not YAML: every line, and what follows `key:`.
            ("a: [unclosed\nTOKEN=abcdef\n", &["a: [unclosed", "[unclosed", "TOKEN=abcdef"]),
        ];
        for (text, expected) in cases {
            assert_eq!(values_to_mask(text.as_bytes()), *expected, "{text:?}");
        }
    }

    #[test]
    fn short_lines_are_not_masked() {
        assert_eq!(mask_lines("  abc \n\nab\n{\nFalse\nlonger line"), ["abc", "longer line"]);
    }
}
