//! Reading a workflow artifact (a zip archive) that a stranger may have
//! written, in memory and within limits.
//!
//! Nothing is ever extracted to disk. The whole archive is refused when any
//! entry has an unsafe name (absolute, `..`, backslashes, drive letters), is
//! a symlink, or shares its name with another entry; when there are too many
//! entries; or when reading the wanted files would pass the size cap, which
//! is enforced on the bytes actually inflated, not on the sizes the archive
//! claims. Only the wanted files are inflated.

use std::collections::BTreeMap;
use std::io::{Cursor, Read};

/// Caps on an artifact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArtifactLimits {
    /// The zip itself, as downloaded.
    pub max_compressed: u64,
    /// All wanted files together, inflated.
    pub max_uncompressed: u64,
    /// Entries in the archive.
    pub max_entries: usize,
}

impl Default for ArtifactLimits {
    fn default() -> Self {
        ArtifactLimits { max_compressed: 10 << 20, max_uncompressed: 50 << 20, max_entries: 1000 }
    }
}

/// Why an artifact was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArtifactError {
    #[error("the artifact is {size} bytes, more than the {limit}-byte cap")]
    TooLarge { size: u64, limit: u64 },
    #[error("the artifact is not a readable zip archive: {0}")]
    NotZip(String),
    #[error("the artifact has {count} entries, more than the cap of {limit}")]
    TooManyEntries { count: usize, limit: usize },
    #[error("the artifact has an entry with an unsafe path {0:?} (absolute, `..` or backslashes)")]
    UnsafePath(String),
    #[error("the artifact entry {0:?} is a symlink")]
    Symlink(String),
    #[error("the artifact has more than one entry named {0:?}")]
    Duplicate(String),
    #[error("the artifact's files inflate to more than the {limit}-byte cap (a zip bomb?)")]
    InflatesTooLarge { limit: u64 },
}

/// A name is safe when it is relative, uses `/` only and never climbs.
pub fn is_safe_entry_name(name: &str) -> bool {
    let unsafe_name = name.is_empty()
        || name.starts_with('/')
        || name.contains(['\\', '\0'])
        || name.split('/').any(|part| part == "..")
        || (name.len() >= 2 && name.as_bytes()[1] == b':');
    !unsafe_name
}

/// Reads the `wanted` files (by exact name) of a zip held in memory. Files that are
/// not in the archive are simply absent from the answer.
pub fn read_files(
    zip: &[u8],
    wanted: &[&str],
    limits: ArtifactLimits,
) -> Result<BTreeMap<String, Vec<u8>>, ArtifactError> {
    if zip.len() as u64 > limits.max_compressed {
        return Err(ArtifactError::TooLarge { size: zip.len() as u64, limit: limits.max_compressed });
    }
    let mut archive = zip::ZipArchive::new(Cursor::new(zip)).map_err(|e| ArtifactError::NotZip(e.to_string()))?;
    if archive.len() > limits.max_entries {
        return Err(ArtifactError::TooManyEntries { count: archive.len(), limit: limits.max_entries });
    }
    let mut names = std::collections::BTreeSet::new();
    for index in 0..archive.len() {
        let entry = archive.by_index_raw(index).map_err(|e| ArtifactError::NotZip(e.to_string()))?;
        let name = entry.name().map_err(|e| ArtifactError::NotZip(e.to_string()))?.into_owned();
        if !is_safe_entry_name(&name) {
            return Err(ArtifactError::UnsafePath(name));
        }
        if entry.is_symlink() {
            return Err(ArtifactError::Symlink(name));
        }
        if !names.insert(name.clone()) {
            return Err(ArtifactError::Duplicate(name));
        }
    }
    if archive.has_duplicate_names() {
        // The central directory lists a name twice even if the index kept one.
        let name = names.into_iter().next().unwrap_or_default();
        return Err(ArtifactError::Duplicate(name));
    }

    let mut files = BTreeMap::new();
    let mut budget = limits.max_uncompressed;
    for name in wanted {
        let Ok(mut entry) = archive.by_name(name) else { continue };
        if entry.is_dir() {
            continue;
        }
        let mut content = Vec::new();
        let read = entry
            .by_ref()
            .take(budget + 1)
            .read_to_end(&mut content)
            .map_err(|e| ArtifactError::NotZip(format!("{name}: {e}")))?;
        if read as u64 > budget {
            return Err(ArtifactError::InflatesTooLarge { limit: limits.max_uncompressed });
        }
        budget -= read as u64;
        files.insert((*name).to_owned(), content);
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_names() {
        let cases = [
            ("plan.json", true),
            ("deployment-plan/plan.json", true),
            ("a..b/c", true),
            ("/etc/passwd", false),
            ("../x", false),
            ("a/../../x", false),
            ("a\\..\\x", false),
            ("C:/x", false),
            ("", false),
        ];
        for (name, expected) in cases {
            assert_eq!(is_safe_entry_name(name), expected, "{name:?}");
        }
    }

    #[test]
    fn refuses_what_is_not_a_zip_or_too_big() {
        assert!(matches!(read_files(b"not a zip", &["a"], ArtifactLimits::default()), Err(ArtifactError::NotZip(_))));
        let limits = ArtifactLimits { max_compressed: 4, ..ArtifactLimits::default() };
        assert_eq!(read_files(b"12345", &["a"], limits), Err(ArtifactError::TooLarge { size: 5, limit: 4 }));
    }
}
