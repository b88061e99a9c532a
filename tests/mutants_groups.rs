//! `scripts/mutants.sh` names the decision core's files and the tests run on each mutant: every
//! file and test it names exists, every group is run by `make mutants`, and no decision-core file
//! sits in two groups (a renamed file or test would otherwise silently leave the score).

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

/// `KIND[group]="a b c"` lines of the script, by kind, then group.
fn tables(script: &str) -> BTreeMap<String, BTreeMap<String, Vec<String>>> {
    let mut tables: BTreeMap<String, BTreeMap<String, Vec<String>>> = BTreeMap::new();
    for line in script.lines() {
        let Some((key, value)) = line.split_once("]=\"") else { continue };
        let Some((kind, group)) = key.split_once('[') else { continue };
        if kind.contains(char::is_whitespace) {
            continue;
        }
        let names = value.trim_end_matches('"').split_whitespace().map(str::to_owned).collect();
        tables.entry(kind.to_owned()).or_default().insert(group.to_owned(), names);
    }
    tables
}

fn groups_in_order(script: &str) -> Vec<String> {
    let line = script.lines().find(|l| l.starts_with("GROUPS_IN_ORDER=(")).expect("GROUPS_IN_ORDER in the script");
    line.trim_start_matches("GROUPS_IN_ORDER=(").trim_end_matches(')').split_whitespace().map(str::to_owned).collect()
}

#[test]
fn every_file_and_test_the_mutation_groups_name_exists() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let script = fs::read_to_string(root.join("scripts/mutants.sh")).expect("scripts/mutants.sh");
    let tables = tables(&script);
    let files = &tables["FILES"];
    assert!(files.len() >= 4, "the groups: {files:?}");
    let mut seen = BTreeSet::new();
    for (group, paths) in files {
        assert!(!paths.is_empty(), "group {group} mutates no file");
        for path in paths {
            assert!(root.join(path).is_file(), "group {group}: {path} does not exist");
            assert!(path.starts_with("src/") && path.ends_with(".rs"), "group {group}: {path} is not library source");
            assert!(seen.insert(path.clone()), "{path} is in two groups");
        }
    }
    for kind in ["FIRST_TESTS", "MORE_TESTS"] {
        let tests = &tables[kind];
        assert_eq!(
            tests.keys().collect::<Vec<_>>(),
            files.keys().collect::<Vec<_>>(),
            "{kind} has the groups of FILES"
        );
        for (group, names) in tests {
            for name in names.iter().filter(|name| *name != "lib") {
                assert!(
                    root.join("tests").join(format!("{name}.rs")).is_file(),
                    "{kind}[{group}]: tests/{name}.rs does not exist"
                );
            }
        }
    }
    for (group, names) in &tables["FIRST_TESTS"] {
        assert!(!names.is_empty(), "group {group} runs no test on its mutants first");
    }
    let order: BTreeSet<String> = groups_in_order(&script).into_iter().collect();
    assert_eq!(order, files.keys().cloned().collect(), "make mutants runs every group");
}

#[test]
fn the_table_reader_reads_the_script_shape() {
    let tables = tables("FILES[a]=\"src/x.rs src/y.rs\"\n  echo \"$FILES[a]\"\nFIRST_TESTS[a]=\"t\"\n");
    assert_eq!(tables["FILES"]["a"], ["src/x.rs", "src/y.rs"]);
    assert_eq!(tables["FIRST_TESTS"]["a"], ["t"]);
    assert_eq!(groups_in_order("x\nGROUPS_IN_ORDER=(b a)\n"), ["b", "a"]);
}
