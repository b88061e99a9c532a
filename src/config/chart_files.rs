//! A chart folder's files checked before helm sees them: every values schema
//! ([`super::chart_schema`]) and every committed chart archive
//! ([`super::chart_archives`], opened in memory and checked alike). Pure: the
//! chart's files are passed in as read through `repo_fs`.

use super::chart_archives::{check_archive, is_archive, Budget, ARCHIVE_LIMITS};
use super::chart_schema::{check_schema, SCHEMA_FILE};
use crate::base::diagnostic::Diagnostic;

/// Every problem of the schemas in a chart folder's files (`files` as read: path under the folder,
/// bytes), and of its chart archives (`*.tgz`, `*.tar.gz`: [`super::chart_archives`], the folder's
/// archives sharing one [`ARCHIVE_LIMITS`] budget).
pub fn check_chart_files(folder: &str, files: &[(String, Vec<u8>)]) -> Vec<Diagnostic> {
    let mut budget = Budget::new(ARCHIVE_LIMITS);
    let mut problems = Vec::new();
    for (path, bytes) in files {
        let file = if folder.is_empty() { path.clone() } else { format!("{folder}/{path}") };
        if path.rsplit('/').next() == Some(SCHEMA_FILE) {
            problems.extend(check_schema(&file, bytes));
        } else if is_archive(path) {
            problems.extend(check_archive(&file, bytes, &mut budget));
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_schema_of_a_chart_folder_is_checked() {
        let files = vec![
            ("values.schema.json".to_owned(), b"{\"$ref\": \"#/a\"}".to_vec()),
            ("charts/sub/values.schema.json".to_owned(), b"{\"$ref\": \"/etc/x\"}".to_vec()),
            ("templates/values.schema.json.txt".to_owned(), b"not json".to_vec()),
            ("other.json".to_owned(), b"{\"$ref\": \"/etc/x\"}".to_vec()),
        ];
        let found = check_chart_files("helm-charts/c", &files);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].file, "helm-charts/c/charts/sub/values.schema.json");
    }
}
