//! What a plan is made from: the changed paths and the pull request's labels,
//! parsed from the forms users pass them in.

use crate::base::error::Error;
use crate::base::repo_path;

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

/// The changed paths and labels of the Python deployer's call shape,
/// `deployer plan-upgrade "<files>" '<labels>'` (or its older
/// `generate helm-upgrade-jobs "<files>"`), given to `deployer generate` as
/// positional arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Positional {
    pub paths: Vec<String>,
    /// `None`: no labels argument.
    pub labels: Option<Vec<String>>,
}

/// How the positional form is written, for errors.
pub const POSITIONAL_FORM: &str =
    "deployer generate 'a.yaml,b.yaml' '[\"deployer:deploy-hubs\"]' (or --changed-files LIST --labels JSON)";

/// Parses the positional form: an optional leading `helm-upgrade-jobs`, then
/// the changed paths (each argument comma-, space- or newline-separated, or a
/// JSON array), then optionally the labels as the last argument: a JSON array
/// (of names or label objects) or empty, as the Python deployer takes them,
/// or a comma list of names that each have a `:` and no `/`
/// (`deployer:deploy-hubs,deployer:deploy-support`). A later argument that is
/// neither labels nor path-like (no `/` and no `.`) is refused: read as a path
/// or as a label it would plan less than meant. `Ok(None)` when there are no
/// arguments.
pub fn parse_positional(args: &[String]) -> Result<Option<Positional>, Error> {
    const NAME: &str = "FILES";
    let args = match args {
        [first, rest @ ..] if first == "helm-upgrade-jobs" => rest,
        all => all,
    };
    let Some((last, before)) = args.split_last() else {
        return Ok(None);
    };
    let split = |text: &str| -> Result<Vec<String>, Error> {
        if text.trim_start().starts_with('[') {
            return parse_path_list(NAME, text);
        }
        Ok(text.split([',', '\n', ' ', '\t', '\r']).filter(|p| !p.is_empty()).map(str::to_owned).collect())
    };
    let (file_args, labels) = if before.is_empty() {
        (args, None)
    } else if last.trim().is_empty() || last.trim_start().starts_with('[') {
        let labels = parse_labels(NAME, last).map_err(|_| {
            Error::input(NAME, format!("the last argument is not a JSON array of labels; write {POSITIONAL_FORM}"))
        })?;
        (before, Some(labels))
    } else {
        let names: Vec<&str> = last.split(',').map(str::trim).filter(|n| !n.is_empty()).collect();
        if !names.is_empty() && names.iter().all(|n| n.contains(':') && !n.contains('/')) {
            (before, Some(names.into_iter().map(str::to_owned).collect()))
        } else {
            (args, None)
        }
    };
    let mut paths = Vec::new();
    for (index, arg) in file_args.iter().enumerate() {
        let entries = split(arg)?;
        if index > 0 {
            if let Some(odd) = entries.iter().find(|e| !e.contains('/') && !e.contains('.')) {
                return Err(Error::input(
                    NAME,
                    format!(
                        "`{odd}` is neither a changed path nor labels (a JSON array, or names with a `:`); \
                         give the changed files as one argument and the labels after them: {POSITIONAL_FORM}"
                    ),
                ));
            }
        }
        paths.extend(entries);
    }
    Ok(Some(Positional { paths, labels }))
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

    #[test]
    fn positional_forms() {
        let strings = |items: &[&str]| items.iter().map(|s| (*s).to_owned()).collect::<Vec<String>>();
        let parse = |args: &[&str]| parse_positional(&strings(args)).unwrap().unwrap();
        type Case<'a> = (&'a [&'a str], &'a [&'a str], Option<&'a [&'a str]>);
        let cases: &[Case<'_>] = &[
            (&["a/x.yaml,b/y.yaml"], &["a/x.yaml", "b/y.yaml"], None),
            (&["helm-upgrade-jobs", "a/x.yaml,b/y.yaml"], &["a/x.yaml", "b/y.yaml"], None),
            (&["a/x.yaml b/y.yaml"], &["a/x.yaml", "b/y.yaml"], None),
            (&["a/x.yaml", "b/y.yaml"], &["a/x.yaml", "b/y.yaml"], None),
            // The first argument is paths whatever they look like; a later one needs a `/` or a `.` in each.
            (&["Makefile,a/x.yaml"], &["Makefile", "a/x.yaml"], None),
            (&["a/x.yaml", "b/Makefile,pyproject.toml"], &["a/x.yaml", "b/Makefile", "pyproject.toml"], None),
            (
                &["a/x.yaml,pyproject.toml", "[\"deployer:deploy-hubs\"]"],
                &["a/x.yaml", "pyproject.toml"],
                Some(&["deployer:deploy-hubs"]),
            ),
            (&["a/x.yaml", "[]"], &["a/x.yaml"], Some(&[])),
            (&["a/x.yaml", ""], &["a/x.yaml"], Some(&[])),
            (&["a/x.yaml", "[{\"name\": \"deployer:skip-deploy\"}]"], &["a/x.yaml"], Some(&["deployer:skip-deploy"])),
            (
                &["a/x.yaml", "deployer:deploy-hubs, deployer:deploy-support"],
                &["a/x.yaml"],
                Some(&["deployer:deploy-hubs", "deployer:deploy-support"]),
            ),
            (&["[\"a/x.yaml\"]", "[\"l:1\"]"], &["a/x.yaml"], Some(&["l:1"])),
            (&["", "[]"], &[], Some(&[])),
        ];
        for (args, paths, labels) in cases {
            let parsed = parse(args);
            assert_eq!(parsed.paths, *paths, "{args:?}");
            assert_eq!(parsed.labels.as_deref(), labels.map(strings).as_deref(), "{args:?}");
        }
        assert_eq!(parse_positional(&[]).unwrap(), None);
        assert_eq!(parse_positional(&strings(&["helm-upgrade-jobs"])).unwrap(), None);
        for bad in
            [&["a/x.yaml", "deploy-hubs"][..], &["a/x.yaml", "[\"unclosed\""], &["a/x.yaml", "b/y.yaml", "Makefile"]]
        {
            let error = parse_positional(&strings(bad)).unwrap_err().to_string();
            assert!(
                error.starts_with("invalid input `FILES`:") && error.contains("deployer generate 'a.yaml,b.yaml'"),
                "{bad:?}: {error}"
            );
        }
    }
}
