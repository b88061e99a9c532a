//! `enc-*` values files for rendering without keys: the same YAML tree, every
//! sops-encrypted scalar replaced by a fixed placeholder, the `sops` metadata
//! dropped. Pure: text in, text out.

/// What an encrypted string is replaced by.
pub const PLACEHOLDER: &str = "<encrypted>";
