//! Each action's page in the book (`docs/src/actions/<name>.md`) documents
//! exactly what its `actions/<name>/action.yml` declares: the first column of
//! the page's `input` table names every input and nothing else, the `output`
//! table every output, and the `default` column says each input's default
//! (`(required)` for a required input; a note in parentheses is commentary).

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::PathBuf;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// One Markdown table: its header cells, then each row's cells.
#[derive(Debug)]
struct Table {
    header: Vec<String>,
    rows: Vec<(usize, Vec<String>)>,
}

/// The cells of a table row, split at every `|` not escaped as `\|`.
fn cells(line: &str) -> Vec<String> {
    let inner = line.trim().trim_start_matches('|');
    let inner = inner.strip_suffix('|').unwrap_or(inner);
    let mut cells = vec![String::new()];
    let mut escaped = false;
    for c in inner.chars() {
        match c {
            '|' if !escaped => cells.push(String::new()),
            _ => cells.last_mut().expect("a cell").push(c),
        }
        escaped = c == '\\';
    }
    cells.iter().map(|c| c.trim().to_owned()).collect()
}

/// Every table of a page, outside code fences.
fn tables(text: &str) -> Vec<Table> {
    let mut tables = Vec::new();
    let mut current: Option<Table> = None;
    let mut fence = false;
    for (number, line) in text.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            fence = !fence;
        }
        let row = !fence && line.trim_start().starts_with('|');
        match (&mut current, row) {
            (None, true) => current = Some(Table { header: cells(line), rows: Vec::new() }),
            (Some(table), true) => {
                let separator = line.chars().all(|c| "|-: ".contains(c));
                if !separator {
                    table.rows.push((number + 1, cells(line)));
                }
            }
            (Some(_), false) => tables.extend(current.take()),
            (None, false) => {}
        }
    }
    tables.extend(current);
    tables
}

/// Backticked spans of a cell, in order, leaving out what is inside parentheses.
fn spans_outside_parentheses(cell: &str) -> Vec<String> {
    let mut outside = String::new();
    let mut depth = 0usize;
    let mut code = false;
    for c in cell.chars() {
        match c {
            '`' => code = !code,
            '(' if !code => depth += 1,
            ')' if !code && depth > 0 => {
                depth -= 1;
                continue;
            }
            _ => {}
        }
        if depth == 0 {
            outside.push(c);
        }
    }
    outside.split('`').skip(1).step_by(2).map(str::to_owned).collect()
}

/// The names in a first cell: backticked, separated by commas.
fn names(cell: &str) -> Vec<String> {
    cell.split(',').filter_map(|n| n.trim().strip_prefix('`')?.strip_suffix('`').map(str::to_owned)).collect()
}

/// What a page documents for an action.
#[derive(Debug, Default)]
struct Documented {
    /// Each input's line and default: `None` without a default column, `Some(None)` for `(required)`.
    inputs: BTreeMap<String, (usize, Option<Option<String>>)>,
    outputs: BTreeMap<String, usize>,
    problems: Vec<String>,
}

/// A documented default: `None` for `(required)`, else the value (`""` is empty).
fn defaults(line: usize, names: &[String], cell: &str, problems: &mut Vec<String>) -> Vec<Option<String>> {
    if cell == "(required)" {
        return vec![None; names.len()];
    }
    let spans: Vec<Option<String>> = spans_outside_parentheses(cell)
        .into_iter()
        .map(|s| Some(if s == "\"\"" { String::new() } else { s }))
        .collect();
    match spans.len() {
        n if n == names.len() => spans,
        1 => vec![spans[0].clone(); names.len()],
        n => {
            problems.push(format!(
                "line {line}: {} names but {n} defaults in `{cell}` (one default for all, or one each)",
                names.len()
            ));
            vec![Some(String::new()); names.len()]
        }
    }
}

fn documented(page: &str) -> Documented {
    let mut doc = Documented::default();
    for table in tables(page) {
        let first = table.header.first().map(String::as_str).unwrap_or_default();
        let default_column = table.header.iter().position(|h| h == "default");
        for (line, row) in &table.rows {
            let row_names = names(row.first().map(String::as_str).unwrap_or_default());
            if row_names.is_empty() && (first == "input" || first == "output") {
                doc.problems.push(format!("line {line}: no backticked name in the first column"));
            }
            match first {
                "input" => {
                    let values: Vec<Option<Option<String>>> = match default_column.and_then(|c| row.get(c)) {
                        Some(cell) => {
                            defaults(*line, &row_names, cell, &mut doc.problems).into_iter().map(Some).collect()
                        }
                        None => vec![None; row_names.len()],
                    };
                    for (name, value) in row_names.into_iter().zip(values) {
                        if doc.inputs.insert(name.clone(), (*line, value)).is_some() {
                            doc.problems.push(format!("line {line}: input `{name}` documented twice"));
                        }
                    }
                }
                "output" => {
                    for name in row_names {
                        if doc.outputs.insert(name.clone(), *line).is_some() {
                            doc.problems.push(format!("line {line}: output `{name}` documented twice"));
                        }
                    }
                }
                _ => {}
            }
        }
    }
    doc
}

/// A YAML scalar as text (`default: 3` and `default: "3"` alike).
fn scalar(value: &yaml_serde::Value) -> Option<String> {
    match value {
        yaml_serde::Value::String(s) => Some(s.clone()),
        yaml_serde::Value::Bool(b) => Some(b.to_string()),
        yaml_serde::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Every disagreement between an action's page and its `action.yml`.
fn compare(action: &str, page: &str, metadata: &yaml_serde::Value) -> Vec<String> {
    let doc = documented(page);
    let mut problems: Vec<String> = doc.problems.iter().map(|p| format!("{action}.md {p}")).collect();
    let inputs = metadata["inputs"].as_mapping().cloned().unwrap_or_default();
    let mut declared_inputs = BTreeSet::new();
    for (name, spec) in &inputs {
        let name = name.as_str().unwrap_or_default().to_owned();
        declared_inputs.insert(name.clone());
        let Some((line, documented)) = doc.inputs.get(&name) else {
            problems.push(format!("{action}.md: input `{name}` of action.yml is missing from the input table"));
            continue;
        };
        let Some(documented) = documented else { continue };
        let required = spec["required"].as_bool().unwrap_or(false);
        let declared = if required { None } else { Some(scalar(&spec["default"]).unwrap_or_default()) };
        if documented != &declared {
            let show = |v: &Option<String>| v.as_ref().map_or("(required)".to_owned(), |v| format!("`{v}`"));
            problems.push(format!(
                "{action}.md:{line}: input `{name}` default is {} in the page, {} in action.yml",
                show(documented),
                show(&declared)
            ));
        }
    }
    for (name, (line, _)) in &doc.inputs {
        if !declared_inputs.contains(name) {
            problems.push(format!("{action}.md:{line}: input `{name}` is not in action.yml"));
        }
    }
    if doc.inputs.is_empty() && !inputs.is_empty() {
        problems.push(format!("{action}.md: no table whose first header is `input`"));
    }
    let outputs = metadata["outputs"].as_mapping().cloned().unwrap_or_default();
    let declared_outputs: BTreeSet<String> = outputs.keys().filter_map(|k| k.as_str().map(str::to_owned)).collect();
    for name in &declared_outputs {
        if !doc.outputs.contains_key(name) {
            problems.push(format!("{action}.md: output `{name}` of action.yml is missing from the output table"));
        }
    }
    for (name, line) in &doc.outputs {
        if !declared_outputs.contains(name) {
            problems.push(format!("{action}.md:{line}: output `{name}` is not in action.yml"));
        }
    }
    problems
}

#[test]
fn every_action_page_matches_its_action_yml() {
    let actions = root().join("actions");
    let mut names: Vec<String> = fs::read_dir(&actions)
        .expect("actions folder")
        .flatten()
        .filter(|e| e.path().join("action.yml").exists())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names.len(), 6, "the six actions: {names:?}");
    let mut problems = Vec::new();
    for action in &names {
        let metadata_text = fs::read_to_string(actions.join(action).join("action.yml")).expect("action.yml");
        let metadata: yaml_serde::Value = yaml_serde::from_str(&metadata_text).expect("action.yml is YAML");
        let page_path = root().join("docs/src/actions").join(format!("{action}.md"));
        let Ok(page) = fs::read_to_string(&page_path) else {
            problems.push(format!("{action}: no page {}", page_path.display()));
            continue;
        };
        problems.extend(compare(action, &page, &metadata));
    }
    assert!(problems.is_empty(), "the action pages disagree with action.yml:\n{}", problems.join("\n"));
}

#[test]
fn the_check_finds_what_it_is_for() {
    let metadata: yaml_serde::Value = yaml_serde::from_str(
        "inputs:\n  a: {required: true}\n  b: {required: false, default: \"3\"}\n  c: {default: \"\"}\n  d: {default: x}\n\
         outputs:\n  o: {description: d}\n  p: {description: d}\n",
    )
    .expect("yaml");
    let page = "# x\n\n| input | default | meaning |\n|---|---|---|\n| `a` | (required) | m |\n\
                | `b`, `c` | `3`, `\"\"` (empty) | m \\| n |\n| `d` | `x` (`y` when z) | m |\n\n\
                | output | meaning |\n|---|---|\n| `o`, `p` | m |\n";
    assert_eq!(compare("t", page, &metadata), Vec::<String>::new());

    // A row removed, a row added, a default changed, an output missing.
    let broken = page
        .replace("| `a` | (required) | m |\n", "| `z` | `1` | m |\n")
        .replace("`3`, `\"\"`", "`4`, `\"\"`")
        .replace("| `o`, `p` |", "| `o` |");
    let problems = compare("t", &broken, &metadata);
    let expected = [
        "input `a` of action.yml is missing",
        "input `b` default is `4` in the page, `3` in action.yml",
        "input `z` is not in action.yml",
        "output `p` of action.yml is missing",
    ];
    for text in expected {
        assert!(problems.iter().any(|p| p.contains(text)), "{text} in {problems:#?}");
    }
    assert_eq!(problems.len(), expected.len(), "{problems:#?}");

    assert_eq!(spans_outside_parentheses("`\"\"` (`upgrade`)"), ["\"\""]);
    assert_eq!(cells("| `a` | `x\\|y` | z |"), ["`a`", "`x\\|y`", "z"]);
}
