//! A problem found in a user's file, located at a file, line and field path.
//!
//! Diagnostics are values: the config layer produces them, and they are
//! rendered in exactly two ways, both defined here: as a readable message
//! (`Display`) and, by the runner, as a workflow-command annotation.

use std::fmt;

/// One problem in one file, with where it is and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// Repository-relative path of the file, with `/` separators.
    pub file: String,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// 1-based column, when known.
    pub column: Option<usize>,
    /// Field path inside the file, such as `hubs[1].name`.
    pub field: Option<String>,
    /// What is wrong.
    pub message: String,
    /// A one-line suggestion of how to fix it.
    pub hint: Option<String>,
}

impl Diagnostic {
    /// A diagnostic for `file` with no location yet.
    pub fn new(file: impl Into<String>, message: impl Into<String>) -> Self {
        Diagnostic { file: file.into(), line: None, column: None, field: None, message: message.into(), hint: None }
    }

    /// Sets the line and column.
    pub fn at(mut self, location: Option<(usize, usize)>) -> Self {
        if let Some((line, column)) = location {
            self.line = Some(line);
            self.column = Some(column);
        }
        self
    }

    /// Sets the field path.
    pub fn field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    /// Sets the hint.
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// `file:line:column` as far as it is known.
    pub fn position(&self) -> String {
        match (self.line, self.column) {
            (Some(line), Some(column)) => format!("{}:{line}:{column}", self.file),
            (Some(line), None) => format!("{}:{line}", self.file),
            _ => self.file.clone(),
        }
    }

    /// The message with its field path, without position or hint: the text of an annotation.
    pub fn headline(&self) -> String {
        match &self.field {
            Some(field) => format!("{field}: {}", self.message),
            None => self.message.clone(),
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.position(), self.headline())?;
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

/// The longest value from a user's file that a message quotes.
pub const MAX_QUOTED_CHARS: usize = 100;

/// A value from a user's file for a message: in backticks when it is one
/// short line of plain text, else only its length, so an error never prints a
/// long or multi-line value (a key pasted into the wrong place) in full.
pub fn quote_value(value: &str) -> String {
    let chars = value.chars().count();
    if chars <= MAX_QUOTED_CHARS && !value.chars().any(|c| c.is_control() || c == '`') {
        format!("`{value}`")
    } else {
        format!("a {chars}-character value")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_only_short_plain_values() {
        let long = "a".repeat(101);
        let cases = [
            ("Hub_1", "`Hub_1`"),
            ("", "``"),
            (&long[..100], "`aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa`"),
            (&long, "a 101-character value"),
            ("-----BEGIN PRIVATE KEY-----\nMIIE", "a 32-character value"),
            ("a`b", "a 3-character value"),
            ("tab\there", "a 8-character value"),
        ];
        for (value, expected) in cases {
            assert_eq!(quote_value(value), expected, "{value:?}");
        }
    }

    #[test]
    fn display_includes_position_field_and_hint() {
        let cases = [
            (
                Diagnostic::new("a.yaml", "bad").at(Some((3, 5))).field("hubs[0].name").hint("fix it"),
                "a.yaml:3:5: hubs[0].name: bad\n  hint: fix it",
            ),
            (Diagnostic::new("a.yaml", "bad"), "a.yaml: bad"),
            (Diagnostic::new("b.yaml", "worse").at(Some((1, 1))), "b.yaml:1:1: worse"),
        ];
        for (diagnostic, expected) in cases {
            assert_eq!(diagnostic.to_string(), expected);
        }
    }
}
