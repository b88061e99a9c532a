//! The step summary's section on blocked clusters.

use crate::base::diagnostic::Diagnostic;
use crate::config::blocked_clusters::BlockedCluster;
use crate::presentation::markdown::escape_cell;

/// A Markdown section for the step summary naming the blocked clusters and their first problem.
pub fn summary_markdown(blocked: &[BlockedCluster]) -> String {
    if blocked.is_empty() {
        return String::new();
    }
    let mut text = String::from(
        "### Blocked clusters\n\nThese clusters could not be planned: their own files have problems.\n\n\
         | Cluster | File | Problem |\n|:-|:-|:-|\n",
    );
    for cluster in blocked {
        let problem = cluster.problems.first().map(Diagnostic::headline).unwrap_or_default();
        let position = cluster.problems.first().map(Diagnostic::position).unwrap_or_else(|| cluster.file.clone());
        text.push_str(&format!(
            "| {} | {} | {} |\n",
            escape_cell(cluster.label()),
            escape_cell(&position),
            escape_cell(&problem)
        ));
    }
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::config::blocked_clusters::fixture::{blocked_a, A};

    #[test]
    fn summary_escapes_what_it_quotes() {
        let mut blocked = blocked_a();
        blocked.problems = vec![Diagnostic::new(A, "bad | <b>x</b>").at(Some((2, 1)))];
        let summary = summary_markdown(&[blocked]);
        assert!(
            summary.contains("| a | config/clusters/a/cluster.yaml:2:1 | bad \\| &lt;b&gt;x&lt;/b&gt; |"),
            "{summary}"
        );
        assert_eq!(summary_markdown(&[]), "");
    }
}
