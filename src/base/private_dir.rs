//! A private temporary folder for secrets and chart copies: mode 0700, files
//! 0600 created exclusively, removed with everything in it when dropped.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::base::error::Error;

/// A private temporary folder (mode 0700, files 0600) under the system's
/// temporary folder, removed with everything in it when dropped.
#[derive(Debug)]
pub struct PrivateDir {
    path: PathBuf,
}

impl PrivateDir {
    pub fn create() -> Result<Self, Error> {
        Self::create_named("deployer-secrets")
    }

    /// A new private folder named `<prefix>-<random>`.
    pub fn create_named(prefix: &str) -> Result<Self, Error> {
        let mut bytes = [0u8; 12];
        getrandom::fill(&mut bytes)
            .map_err(|e| Error::Runner(format!("no randomness for a temporary folder name: {e}")))?;
        let name: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let path = std::env::temp_dir().join(format!("{prefix}-{name}"));
        let mut builder = fs::DirBuilder::new();
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            builder.mode(0o700);
        }
        // `create`, not `create_all`: a folder that is already there is refused.
        builder.create(&path).map_err(|e| Error::io(&path, e))?;
        Ok(PrivateDir { path })
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes a new file readable by this user only.
    pub fn write(&self, name: &str, bytes: &[u8]) -> Result<PathBuf, Error> {
        let path = self.path.join(name);
        let mut options = fs::OpenOptions::new();
        // `create_new` (O_EXCL) refuses anything already there, a symbolic link included.
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600).custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC);
        }
        let mut file = options.open(&path).map_err(|e| Error::io(&path, e))?;
        file.write_all(bytes).map_err(|e| Error::io(&path, e))?;
        Ok(path)
    }
}

impl Drop for PrivateDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_dir_is_private_and_removed() {
        let dir = PrivateDir::create().unwrap();
        let path = dir.path.clone();
        let file = dir.write("0-enc-x.yaml", b"secret: 1\n").unwrap();
        assert_eq!(fs::read_to_string(&file).unwrap(), "secret: 1\n");
        assert!(dir.write("0-enc-x.yaml", b"again").is_err(), "never overwrites");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o700);
            assert_eq!(fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
        }
        drop(dir);
        assert!(!path.exists());
    }
}
