//! "Did you mean …?": which of a few known words a misspelt one most likely is.
//! One helper for misspelt keys, chart names and labels.

/// Words longer than this are compared by their first this-many characters
/// only, so that a hostile megabyte-long key costs no more than a long word.
const MAX_COMPARED_CHARS: usize = 128;

/// Optimal-string-alignment distance: insertions, deletions, substitutions
/// and swaps of two adjacent characters each cost one.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().take(MAX_COMPARED_CHARS).collect();
    let b: Vec<char> = b.chars().take(MAX_COMPARED_CHARS).collect();
    // Three rows of the dynamic-programming table: two back, one back, current.
    let mut before: Vec<usize> = vec![0; b.len() + 1];
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current: Vec<usize> = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        current[0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (previous[j] + 1).min(current[j - 1] + 1).min(previous[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(before[j - 2] + 1);
            }
            current[j] = best;
        }
        std::mem::swap(&mut before, &mut previous);
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()]
}

/// Lowercase without `_` and `-`: `Helm-Chart`, `helmchart` and `helm_chart` are one word.
fn normalise(word: &str) -> String {
    word.chars().take(MAX_COMPARED_CHARS).filter(|c| *c != '_' && *c != '-').flat_map(char::to_lowercase).collect()
}

/// How far a word may be from `known` and still count as a misspelling of
/// it: one edit for short words (where two would match unrelated words), two otherwise.
fn max_distance(known: &str) -> usize {
    if known.chars().count() <= 4 {
        1
    } else {
        2
    }
}

/// The known word `word` most likely misspells: one equal to it ignoring
/// case, `_` and `-`, or else the nearest within a small edit distance
/// (case ignored). `None` when no known word is that close, or when `word` is one of them.
pub fn did_you_mean<'k>(word: &str, known: impl IntoIterator<Item = &'k str>) -> Option<&'k str> {
    let normalised = normalise(word);
    let lower = word.to_lowercase();
    let mut best: Option<(usize, &'k str)> = None;
    for candidate in known {
        if candidate == word {
            return None;
        }
        let distance = if normalise(candidate) == normalised {
            0
        } else {
            let length_gap = lower.chars().count().abs_diff(candidate.chars().count());
            if length_gap > max_distance(candidate) {
                continue;
            }
            let distance = edit_distance(&lower, &candidate.to_lowercase());
            if distance > max_distance(candidate) {
                continue;
            }
            distance
        };
        if best.is_none_or(|(best_distance, _)| distance < best_distance) {
            best = Some((distance, candidate));
        }
    }
    best.map(|(_, candidate)| candidate)
}

/// The known word nearest to `word`, however far: a likely misspelling
/// first, else the first of the nearest in `known` order. `None` only when `known` is empty.
pub fn nearest<'k>(word: &str, known: impl IntoIterator<Item = &'k str>) -> Option<&'k str> {
    let known: Vec<&'k str> = known.into_iter().collect();
    if let Some(close) = did_you_mean(word, known.iter().copied()) {
        return Some(close);
    }
    let lower = word.to_lowercase();
    let mut best: Option<(usize, &'k str)> = None;
    for candidate in known {
        let distance = edit_distance(&lower, &candidate.to_lowercase());
        if best.is_none_or(|(best_distance, _)| distance < best_distance) {
            best = Some((distance, candidate));
        }
    }
    best.map(|(_, candidate)| candidate)
}

/// `word` in backticks when it is short and plain (letters, digits, `_`, `.`
/// and `-`), so that it can be shown in any message; else `this key`-style `fallback`.
pub fn shown(word: &str, fallback: &str) -> String {
    let plain = !word.is_empty()
        && word.chars().count() <= 40
        && word.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if plain {
        format!("`{word}`")
    } else {
        fallback.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances() {
        let cases = [
            ("", "", 0),
            ("abc", "", 3),
            ("", "abc", 3),
            ("name", "name", 0),
            ("nmae", "name", 1),
            ("helm_chart_value_files", "helm_chart_values_files", 1),
            ("kitten", "sitting", 3),
            ("ca", "abc", 3),
            ("dashub", "daskhub", 1),
            ("clusterType", "clusterName", 3),
        ];
        for (a, b, expected) in cases {
            assert_eq!(edit_distance(a, b), expected, "{a:?} {b:?}");
            assert_eq!(edit_distance(b, a), expected, "{b:?} {a:?}");
        }
    }

    #[test]
    fn suggestions() {
        let hub = ["name", "helm_chart", "helm_chart_values_files"];
        let top = ["name", "provider", "support", "hubs", "gcp", "aws", "azure", "kubeconfig"];
        let cases: &[(&str, &[&str], Option<&str>)] = &[
            ("helm_chart_value_files", &hub, Some("helm_chart_values_files")),
            ("helm_chart_values_file", &hub, Some("helm_chart_values_files")),
            ("helmchart", &hub, Some("helm_chart")),
            ("Helm-Chart", &hub, Some("helm_chart")),
            ("HELM_CHART_VALUES_FILES", &hub, Some("helm_chart_values_files")),
            ("helm_chrat", &hub, Some("helm_chart")),
            ("nmae", &hub, Some("name")),
            ("names", &hub, Some("name")),
            // Known words are not misspellings of themselves.
            ("name", &hub, None),
            // Unrelated words suggest nothing.
            ("display_name", &hub, None),
            ("domain", &hub, None),
            ("chart_override", &hub, None),
            ("values", &hub, None),
            ("hub", &top, Some("hubs")),
            ("gpc", &top, Some("gcp")),
            ("gke", &top, None),
            ("eks", &top, None),
            ("metadata", &top, None),
            ("provider_url", &top, None),
            ("tenancy", &top, None),
            ("account", &top, None),
            ("providers", &top, Some("provider")),
            ("", &top, None),
            ("x", &[], None),
        ];
        for (word, known, expected) in cases {
            assert_eq!(did_you_mean(word, known.iter().copied()), *expected, "{word:?}");
        }
    }

    #[test]
    fn nearest_always_names_one() {
        let labels = crate::config::labels::LABELS.iter().map(|rule| rule.default_name);
        let cases = [
            ("deployer:deploy-hub", Some("deployer:deploy-hubs")),
            ("deployer:Deploy-Support", Some("deployer:deploy-support")),
            ("deployer:skip", Some("deployer:skip-deploy")),
            ("deployer:everything", Some("deployer:deploy-hubs")),
        ];
        for (word, expected) in cases {
            assert_eq!(nearest(word, labels.clone()), expected, "{word:?}");
        }
        assert_eq!(nearest("x", []), None);
    }

    #[test]
    fn long_words_stay_cheap() {
        let long = "a".repeat(1_000_000);
        assert_eq!(did_you_mean(&long, ["name"]), None);
        assert!(nearest(&long, ["name"]).is_some());
    }

    #[test]
    fn only_plain_words_are_shown() {
        let cases = [
            ("helm_chart", "`helm_chart`"),
            ("a.b-c_1", "`a.b-c_1`"),
            ("::error::x", "this key"),
            ("a b", "this key"),
            ("", "this key"),
            (&"a".repeat(41), "this key"),
        ];
        for (word, expected) in cases {
            assert_eq!(shown(word, "this key"), expected, "{word:?}");
        }
    }
}
