//! Decrypting `enc-*` files with `sops`, in memory.
//!
//! The plaintext is returned to the caller and never written to the
//! checkout; callers that must hand a file to another program write it into
//! a private temporary folder that is removed even on failure.

use std::path::Path;
use std::process::Command;

use crate::error::Error;

/// True for a file that sops encrypted, by the repository's naming rule.
pub fn is_encrypted(path: &str) -> bool {
    crate::repo_path::basename(path).starts_with("enc-")
}

/// `sops --decrypt FILE`. The error says what sops said, never the plaintext.
pub fn decrypt(path: &Path) -> Result<Vec<u8>, Error> {
    let output = Command::new("sops").arg("--decrypt").arg(path).output().map_err(|e| Error::Command {
        program: "sops".into(),
        message: format!("cannot run sops to decrypt {} ({e}); is it installed and on PATH?", path.display()),
    })?;
    if !output.status.success() {
        return Err(Error::Command {
            program: "sops".into(),
            message: format!(
                "decrypting {}: {}",
                path.display(),
                String::from_utf8_lossy(&output.stderr).trim().chars().take(500).collect::<String>()
            ),
        });
    }
    Ok(output.stdout)
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
}
