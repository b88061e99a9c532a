//! Real age keys and real sops encryption (`target/tools/bin`), for fixtures
//! whose `enc-` files a test makes itself.

use std::fs;
use std::path::Path;
use std::process::Command;

use super::{tool, tools_dir};

/// A fresh age identity from the real `age-keygen`.
pub struct AgeKey {
    /// The key file as `age-keygen` writes it (comments and `AGE-SECRET-KEY-1...`).
    pub file_text: String,
    /// The `AGE-SECRET-KEY-1...` line alone.
    pub secret: String,
    /// The public recipient, `age1...`.
    pub recipient: String,
}

impl AgeKey {
    pub fn generate() -> AgeKey {
        let output = Command::new(tool("age-keygen")).env_clear().output().expect("run age-keygen");
        assert!(output.status.success(), "age-keygen: {}", String::from_utf8_lossy(&output.stderr));
        let file_text = String::from_utf8(output.stdout).expect("UTF-8");
        let secret = file_text.lines().find(|l| l.starts_with("AGE-SECRET-KEY-1")).expect("secret key line").to_owned();
        let recipient = file_text
            .lines()
            .find_map(|l| l.strip_prefix("# public key: "))
            .expect("public key comment")
            .trim()
            .to_owned();
        AgeKey { file_text, secret, recipient }
    }
}

/// Encrypts `plaintext` for `recipient` with the real sops into `out` (its
/// name's extension picks the format, as sops does). sops runs from a
/// temporary folder of its own, so no `.sops.yaml` interferes.
pub fn sops_encrypt(plaintext: &str, recipient: &str, out: &Path) {
    let temp = tempfile::tempdir().expect("temp");
    let name = out.file_name().expect("file name").to_string_lossy().replace("enc-", "plain-");
    let plain = temp.path().join(name);
    fs::write(&plain, plaintext).expect("plaintext");
    let output = Command::new(tool("sops"))
        .env_clear()
        .env("PATH", tools_dir())
        .env("HOME", temp.path())
        .current_dir(temp.path())
        .args(["--encrypt", "--age", recipient])
        .arg(&plain)
        .output()
        .expect("run sops");
    assert!(output.status.success(), "sops --encrypt: {}", String::from_utf8_lossy(&output.stderr));
    let text = String::from_utf8(output.stdout).expect("UTF-8");
    assert!(text.contains("ENC[AES256_GCM,") && text.contains(recipient), "sops wrote an age-encrypted file");
    if let Some(parent) = out.parent() {
        fs::create_dir_all(parent).expect("folder");
    }
    fs::write(out, text).expect("encrypted file");
}
