//! What a plan is made from: the changed paths and the pull request's labels,
//! parsed from the forms users pass them in.

use crate::error::Error;
use crate::repo_path;

/// The normalised changed paths and the label names of one change.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChangeSet {
    /// Repository-relative paths: trimmed, leading `./` removed, no empty entries.
    pub paths: Vec<String>,
    /// Pull-request label names.
    pub labels: Vec<String>,
    /// Set when every hub and support chart must be planned whatever changed,
    /// with the reason (the file list may be incomplete, or it was asked for).
    pub force_all: Option<String>,
}

impl ChangeSet {
    /// Builds a change set, normalising the paths.
    pub fn new<P: AsRef<str>, L: Into<String>>(
        paths: impl IntoIterator<Item = P>,
        labels: impl IntoIterator<Item = L>,
    ) -> Self {
        let paths = paths.into_iter().map(|p| repo_path::normalize(p.as_ref())).filter(|p| !p.is_empty()).collect();
        ChangeSet { paths, labels: labels.into_iter().map(Into::into).collect(), force_all: None }
    }

    /// The same change, planning everything for `reason`.
    pub fn with_force_all(mut self, reason: Option<String>) -> Self {
        self.force_all = reason;
        self
    }

    /// True when the change carries `label`.
    pub fn has_label(&self, label: &str) -> bool {
        self.labels.iter().any(|l| l == label)
    }
}

/// Parses a list of changed files: a JSON array of strings, or entries
/// separated by commas and/or newlines. `input` names the input in errors.
pub fn parse_path_list(input: &str, text: &str) -> Result<Vec<String>, Error> {
    let trimmed = text.trim();
    if trimmed.starts_with('[') {
        return serde_json::from_str::<Vec<String>>(trimmed)
            .map_err(|e| Error::input(input, format!("not a JSON array of strings: {e}")));
    }
    Ok(trimmed.split([',', '\n']).map(|p| p.trim().to_owned()).filter(|p| !p.is_empty()).collect())
}

/// Parses the labels input: a JSON array of label names, or of label objects
/// with a `name` (as in `toJSON(github.event.pull_request.labels)`).
pub fn parse_labels(input: &str, text: &str) -> Result<Vec<String>, Error> {
    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    enum Label {
        Name(String),
        Object { name: String },
    }
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Ok(Vec::new());
    }
    let labels: Vec<Label> = serde_json::from_str(trimmed).map_err(|e| {
        Error::input(input, format!("expected a JSON array of label names such as [\"deployer:deploy-hubs\"]: {e}"))
    })?;
    Ok(labels
        .into_iter()
        .map(|label| match label {
            Label::Name(name) | Label::Object { name } => name,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_lists() {
        let cases: &[(&str, &[&str])] = &[
            ("a.yaml,b.yaml", &["a.yaml", "b.yaml"]),
            ("a.yaml\nb.yaml\n", &["a.yaml", "b.yaml"]),
            ("a.yaml, b.yaml\r\n c.yaml", &["a.yaml", "b.yaml", "c.yaml"]),
            ("[\"a.yaml\", \"b,c.yaml\"]", &["a.yaml", "b,c.yaml"]),
            ("  ", &[]),
            ("", &[]),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_path_list("changed-files", text).unwrap(), *expected, "{text:?}");
        }
    }

    #[test]
    fn bad_json_path_list_names_the_input() {
        let error = parse_path_list("changed-files", "[1, 2]").unwrap_err();
        assert!(error.to_string().starts_with("invalid input `changed-files`: not a JSON array of strings"), "{error}");
    }

    #[test]
    fn labels() {
        let cases: &[(&str, &[&str])] = &[
            ("[]", &[]),
            ("", &[]),
            ("[\"a\", \"deployer:skip-deploy\"]", &["a", "deployer:skip-deploy"]),
            ("[{\"name\": \"a\", \"color\": \"fff\"}]", &["a"]),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_labels("labels", text).unwrap(), *expected, "{text:?}");
        }
        for bad in ["deployer:skip-deploy", "{\"a\": 1}", "[1]", "[\"a\""] {
            let error = parse_labels("labels", bad).unwrap_err().to_string();
            assert!(error.starts_with("invalid input `labels`:"), "{bad}: {error}");
        }
    }

    #[test]
    fn change_sets_normalise_paths() {
        let changes = ChangeSet::new([" ./a.yaml ", "", "b/../c.yaml"], ["x"]);
        assert_eq!(changes.paths, ["a.yaml", "c.yaml"]);
        assert!(changes.has_label("x"));
        assert!(!changes.has_label("y"));
    }
}
