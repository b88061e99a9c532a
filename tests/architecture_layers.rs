//! The layers of `src/` as `ARCHITECTURE.md` states them: every `crate::` and
//! `super::` path in the library's code (comments and string literals aside)
//! goes only to a layer its own layer may import, and no two files import
//! each other, directly or around a loop.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// One row of the layer table: the layer, its folder under `src/`, the layers it may import.
#[derive(Debug)]
struct Layer {
    name: String,
    folder: String,
    may_import: BTreeSet<String>,
}

/// The table under `## Layers` in `ARCHITECTURE.md`: `| layer | folder | may import | … |`.
fn layer_table(architecture: &str) -> Vec<Layer> {
    let section = architecture.split("\n## Layers").nth(1).expect("ARCHITECTURE.md has a `## Layers` section");
    let mut layers = Vec::new();
    for line in section.lines().skip_while(|line| !line.starts_with('|')).take_while(|line| line.starts_with('|')) {
        let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
        let name = cells[0].trim_matches('`');
        if name == "layer" || name.starts_with("---") {
            continue;
        }
        let folder = cells[1].trim_matches('`').trim_start_matches("src/").trim_end_matches('/').to_owned();
        let may_import = cells[2]
            .split(',')
            .map(|layer| layer.trim().trim_matches('`').to_owned())
            .filter(|layer| !layer.is_empty() && layer != "nothing")
            .collect();
        layers.push(Layer { name: name.to_owned(), folder, may_import });
    }
    layers
}

/// The code of a Rust file with comments, string literals and char literals blanked.
fn code_only(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    let next = |i: usize| chars.get(i).copied().unwrap_or('\0');
    while at < chars.len() {
        let c = chars[at];
        if c == '/' && next(at + 1) == '/' {
            while at < chars.len() && chars[at] != '\n' {
                at += 1;
            }
        } else if c == '/' && next(at + 1) == '*' {
            let mut depth = 0;
            while at < chars.len() {
                if chars[at] == '/' && next(at + 1) == '*' {
                    depth += 1;
                    at += 2;
                } else if chars[at] == '*' && next(at + 1) == '/' {
                    depth -= 1;
                    at += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    at += 1;
                }
            }
            out.push(' ');
        } else if c == 'r'
            && (next(at + 1) == '"' || (next(at + 1) == '#' && matches!(next(at + 2), '"' | '#')))
            && !chars.get(at.wrapping_sub(1)).is_some_and(|p| p.is_alphanumeric() || *p == '_')
        {
            let mut hashes = 0;
            at += 1;
            while next(at) == '#' {
                hashes += 1;
                at += 1;
            }
            at += 1; // the opening quote
            loop {
                if at >= chars.len() {
                    break;
                }
                if chars[at] == '"' && (1..=hashes).all(|k| next(at + k) == '#') {
                    at += 1 + hashes;
                    break;
                }
                at += 1;
            }
            out.push_str("\"\"");
        } else if c == '"' {
            at += 1;
            while at < chars.len() && chars[at] != '"' {
                at += if chars[at] == '\\' { 2 } else { 1 };
            }
            at += 1;
            out.push_str("\"\"");
        } else if c == '\'' && (next(at + 2) == '\'' || (next(at + 1) == '\\')) {
            // A char literal ('a', '\n', '\u{..}'), not a lifetime.
            at += 1;
            while at < chars.len() && chars[at] != '\'' {
                at += if chars[at] == '\\' { 2 } else { 1 };
            }
            at += 1;
            out.push_str("' '");
        } else {
            out.push(c);
            at += 1;
        }
    }
    out
}

/// Every module path a piece of code names from `crate::`, `super::` or `self::`, with
/// `use` trees (`use crate::{a, b::{c, d}}`) expanded; each path as its segments, with the
/// number of inline modules (`mod name { … }`) around it. Unit-test modules
/// (`#[cfg(test)] mod … { … }`) are left out: tests are not part of the layering.
fn named_paths(code: &str) -> Vec<(usize, Vec<String>)> {
    let chars: Vec<char> = code.chars().collect();
    let mut paths = Vec::new();
    // One entry per open brace: is it an inline module's, and is that module a test module?
    let mut braces: Vec<(bool, bool)> = Vec::new();
    let mut next_brace = (false, false);
    let mut at = 0;
    while at < chars.len() {
        let starts_word = at == 0 || !(chars[at - 1].is_alphanumeric() || chars[at - 1] == '_' || chars[at - 1] == ':');
        let rest: String = chars[at..chars.len().min(at + 12)].iter().collect();
        let in_test = braces.iter().any(|&(_, test)| test);
        if rest.starts_with("#[cfg(test)]") {
            next_brace.1 = true;
            at += 12;
        } else if starts_word && rest.starts_with("mod ") {
            // `mod name {` opens an inline module; `mod name;` does not.
            let mut end = at + 4;
            while end < chars.len() && (chars[end].is_alphanumeric() || chars[end] == '_' || chars[end].is_whitespace())
            {
                end += 1;
            }
            if chars.get(end) == Some(&'{') {
                next_brace.0 = true;
            } else {
                next_brace = (false, false);
            }
            at += 4;
        } else if chars[at] == '{' {
            braces.push(next_brace);
            next_brace = (false, false);
            at += 1;
        } else if chars[at] == '}' {
            braces.pop();
            at += 1;
        } else if chars[at] == ';' {
            next_brace = (false, false);
            at += 1;
        } else if starts_word
            && (rest.starts_with("crate::") || rest.starts_with("super::") || rest.starts_with("self::"))
        {
            let (tree, end) = use_tree(&chars, at);
            if !in_test {
                let depth = braces.iter().filter(|&&(module, _)| module).count();
                paths.extend(tree.into_iter().map(|path| (depth, path)));
            }
            at = end;
        } else {
            at += 1;
        }
    }
    paths
}

/// The paths of one use tree (or plain path) starting at `at`; returns them and where it ended.
fn use_tree(chars: &[char], mut at: usize) -> (Vec<Vec<String>>, usize) {
    let mut prefix = Vec::new();
    loop {
        let start = at;
        while at < chars.len() && (chars[at].is_alphanumeric() || chars[at] == '_') {
            at += 1;
        }
        if at > start {
            prefix.push(chars[start..at].iter().collect::<String>());
        }
        if chars.get(at) == Some(&':') && chars.get(at + 1) == Some(&':') {
            at += 2;
            if chars.get(at) == Some(&'{') {
                at += 1;
                let mut all = Vec::new();
                loop {
                    while chars.get(at).is_some_and(|c| c.is_whitespace() || *c == ',') {
                        at += 1;
                    }
                    match chars.get(at) {
                        None => return (all, at),
                        Some('}') => return (all, at + 1),
                        _ => {}
                    }
                    let (inner, end) = use_tree(chars, at);
                    for path in inner {
                        let mut whole = prefix.clone();
                        whole.extend(path);
                        all.push(whole);
                    }
                    // `a as b`: skip to the next `,` or `}` of this group.
                    at = end;
                    while chars.get(at).is_some_and(|c| *c != ',' && *c != '}') {
                        at += 1;
                    }
                }
            }
            continue;
        }
        return (vec![prefix], at.max(start + 1));
    }
}

/// The module path of a file under `src/` (`src/a/b.rs` and `src/a/b/mod.rs` → `[a, b]`).
fn module_of(relative: &Path) -> Vec<String> {
    let mut parts: Vec<String> = relative.iter().map(|p| p.to_string_lossy().into_owned()).collect();
    let last = parts.pop().unwrap_or_default();
    let stem = last.trim_end_matches(".rs");
    if stem != "mod" && stem != "lib" {
        parts.push(stem.to_owned());
    }
    parts
}

/// The longest prefix of `path` that is a module file of `modules`.
fn resolve<'m>(modules: &'m BTreeMap<Vec<String>, PathBuf>, path: &[String]) -> Option<&'m PathBuf> {
    (1..=path.len()).rev().find_map(|len| modules.get(&path[..len]))
}

fn library_files(src: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut dirs = vec![src.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in fs::read_dir(&dir).expect("src folder").flatten() {
            let path = entry.path();
            let relative = path.strip_prefix(src).expect("under src").to_path_buf();
            if path.is_dir() {
                if relative != Path::new("bin") {
                    dirs.push(path);
                }
            } else if path.extension().is_some_and(|e| e == "rs") && relative != Path::new("main.rs") {
                files.push(relative);
            }
        }
    }
    files.sort();
    files
}

struct House {
    layers: Vec<Layer>,
    /// file → the files it imports (library files only, the file itself left out).
    imports: BTreeMap<PathBuf, BTreeSet<PathBuf>>,
}

fn house(root: &Path) -> House {
    let architecture = fs::read_to_string(root.join("ARCHITECTURE.md")).expect("ARCHITECTURE.md");
    let layers = layer_table(&architecture);
    let src = root.join("src");
    let files = library_files(&src);
    let modules: BTreeMap<Vec<String>, PathBuf> = files.iter().map(|file| (module_of(file), file.clone())).collect();
    let mut imports = BTreeMap::new();
    for file in &files {
        let code = code_only(&fs::read_to_string(src.join(file)).expect("source file"));
        let here = module_of(file);
        // `super` of `a/b.rs` is `a`; of `a/mod.rs` (module `a`) it is the crate root.
        let mut found = BTreeSet::new();
        for (inline_depth, path) in named_paths(&code) {
            let mut absolute: Vec<String> = match path.first().map(String::as_str) {
                Some("crate") => path[1..].to_vec(),
                // Inside an inline module `self` is still this file.
                Some("self") if inline_depth > 0 => continue,
                Some("self") => here.iter().cloned().chain(path[1..].iter().cloned()).collect(),
                Some("super") => {
                    let mut base = here.clone();
                    let mut rest = &path[..];
                    let mut inline = inline_depth;
                    while rest.first().map(String::as_str) == Some("super") {
                        // The first `super`s leave inline modules, still in this file.
                        if inline > 0 {
                            inline -= 1;
                        } else {
                            base.pop();
                        }
                        rest = &rest[1..];
                    }
                    if inline > 0 {
                        continue;
                    }
                    base.into_iter().chain(rest.iter().cloned()).collect()
                }
                _ => continue,
            };
            // The crate root re-exports `Diagnostic` and `Error` from `base`.
            if absolute.first().is_some_and(|first| first == "Diagnostic" || first == "Error") {
                absolute.insert(0, "base".to_owned());
            }
            if let Some(target) = resolve(&modules, &absolute) {
                if target != file && target != Path::new("lib.rs") {
                    found.insert(target.clone());
                }
            }
        }
        imports.insert(file.clone(), found);
    }
    House { layers, imports }
}

fn layer_of<'l>(layers: &'l [Layer], file: &Path) -> Option<&'l Layer> {
    let first = file.iter().next()?.to_string_lossy();
    layers.iter().find(|layer| layer.folder == first)
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn every_library_file_is_in_a_layer_of_the_table() {
    let house = house(&root());
    assert!(house.layers.len() >= 5, "the layer table is read: {:?}", house.layers);
    let homeless: Vec<_> = house
        .imports
        .keys()
        .filter(|file| *file != Path::new("lib.rs") && layer_of(&house.layers, file).is_none())
        .collect();
    assert!(homeless.is_empty(), "files in no layer folder of ARCHITECTURE.md: {homeless:?}");
    for layer in &house.layers {
        assert!(
            root().join("src").join(&layer.folder).is_dir(),
            "layer {} names src/{}/, which is no folder",
            layer.name,
            layer.folder
        );
        for allowed in &layer.may_import {
            assert!(
                house.layers.iter().any(|other| &other.name == allowed),
                "layer {} may import `{allowed}`, which is no layer",
                layer.name
            );
        }
    }
}

#[test]
fn imports_only_go_to_layers_the_table_allows() {
    let house = house(&root());
    let mut upward = Vec::new();
    for (file, targets) in &house.imports {
        let Some(from) = layer_of(&house.layers, file) else { continue };
        for target in targets {
            let Some(to) = layer_of(&house.layers, target) else { continue };
            if to.name != from.name && !from.may_import.contains(&to.name) {
                upward.push(format!(
                    "src/{} ({}) imports src/{} ({})",
                    file.display(),
                    from.name,
                    target.display(),
                    to.name
                ));
            }
        }
    }
    assert!(upward.is_empty(), "imports the layer table does not allow:\n{}", upward.join("\n"));
}

#[test]
fn no_two_files_import_each_other() {
    let house = house(&root());
    // Tarjan's strongly connected components over the file graph.
    let files: Vec<&PathBuf> = house.imports.keys().collect();
    let index_of: BTreeMap<&PathBuf, usize> = files.iter().enumerate().map(|(i, f)| (*f, i)).collect();
    let edges: Vec<Vec<usize>> = files
        .iter()
        .map(|file| house.imports[*file].iter().filter_map(|target| index_of.get(target).copied()).collect())
        .collect();
    let mut circles = Vec::new();
    for component in strongly_connected(&edges) {
        if component.len() > 1 {
            let mut names: Vec<String> = component.iter().map(|&i| format!("src/{}", files[i].display())).collect();
            names.sort();
            circles.push(names.join(" <-> "));
        }
    }
    assert!(circles.is_empty(), "files that import each other:\n{}", circles.join("\n"));
}

fn strongly_connected(edges: &[Vec<usize>]) -> Vec<Vec<usize>> {
    struct State<'e> {
        edges: &'e [Vec<usize>],
        index: Vec<Option<usize>>,
        low: Vec<usize>,
        on_stack: Vec<bool>,
        stack: Vec<usize>,
        next: usize,
        found: Vec<Vec<usize>>,
    }
    fn visit(state: &mut State<'_>, node: usize) {
        state.index[node] = Some(state.next);
        state.low[node] = state.next;
        state.next += 1;
        state.stack.push(node);
        state.on_stack[node] = true;
        for &target in &state.edges[node] {
            match state.index[target] {
                None => {
                    visit(state, target);
                    state.low[node] = state.low[node].min(state.low[target]);
                }
                Some(index) if state.on_stack[target] => state.low[node] = state.low[node].min(index),
                Some(_) => {}
            }
        }
        if Some(state.low[node]) == state.index[node] {
            let mut component = Vec::new();
            while let Some(top) = state.stack.pop() {
                state.on_stack[top] = false;
                component.push(top);
                if top == node {
                    break;
                }
            }
            state.found.push(component);
        }
    }
    let count = edges.len();
    let mut state = State {
        edges,
        index: vec![None; count],
        low: vec![0; count],
        on_stack: vec![false; count],
        stack: Vec::new(),
        next: 0,
        found: Vec::new(),
    };
    for node in 0..count {
        if state.index[node].is_none() {
            visit(&mut state, node);
        }
    }
    state.found
}

#[test]
fn the_reader_sees_code_not_comments_or_strings() {
    let code = code_only(
        "use crate::a::b; // crate::c\n/* crate::d */ let s = \"crate::e\"; let r = r#\"crate::f\"#; let c = '\"'; fn x<'a>() { crate::g::h(); super::i::J }",
    );
    let paths = named_paths(&code);
    let path = |parts: &[&str]| parts.iter().map(|part| (*part).to_owned()).collect::<Vec<_>>();
    assert_eq!(
        paths,
        vec![(0, path(&["crate", "a", "b"])), (0, path(&["crate", "g", "h"])), (0, path(&["super", "i", "J"]))]
    );
    let trees = named_paths("use crate::{a::{b, c as d}, e};");
    assert_eq!(
        trees,
        vec![(0, path(&["crate", "a", "b"])), (0, path(&["crate", "a", "c"])), (0, path(&["crate", "e"]))]
    );
    let modules = named_paths(
        "pub mod inputs { use super::X; }\nmod outer;\nuse crate::z;\n#[cfg(test)]\nmod tests { use super::*; use crate::hidden; }",
    );
    assert_eq!(modules, vec![(1, path(&["super", "X"])), (0, path(&["crate", "z"]))]);
}

#[test]
fn an_upward_import_and_a_circle_are_caught() {
    // A tree of three files: `low` imports `high` (not allowed), and `high` imports `low` back.
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path();
    fs::create_dir_all(root.join("src/low")).expect("dir");
    fs::create_dir_all(root.join("src/high")).expect("dir");
    fs::write(root.join("src/lib.rs"), "pub mod low;\npub mod high;\n").expect("write");
    fs::write(root.join("src/low/mod.rs"), "pub mod a;\n").expect("write");
    fs::write(root.join("src/low/a.rs"), "use crate::high::b::Thing;\n").expect("write");
    fs::write(root.join("src/high/mod.rs"), "pub mod b;\n").expect("write");
    fs::write(root.join("src/high/b.rs"), "pub struct Thing;\nuse crate::low::a;\n").expect("write");
    fs::write(
        root.join("ARCHITECTURE.md"),
        "# A\n\n## Layers\n\n| layer | folder | may import |\n|---|---|---|\n| low | `src/low/` | nothing |\n| high | `src/high/` | low |\n",
    )
    .expect("write");
    let house = house(root);
    assert_eq!(house.imports[Path::new("low/a.rs")], BTreeSet::from([PathBuf::from("high/b.rs")]));
    let from = layer_of(&house.layers, Path::new("low/a.rs")).expect("layer");
    assert!(!from.may_import.contains("high"));
    let files: Vec<&PathBuf> = house.imports.keys().collect();
    let index_of: BTreeMap<&PathBuf, usize> = files.iter().enumerate().map(|(i, f)| (*f, i)).collect();
    let edges: Vec<Vec<usize>> =
        files.iter().map(|file| house.imports[*file].iter().map(|target| index_of[target]).collect()).collect();
    assert!(strongly_connected(&edges).iter().any(|component| component.len() == 2));
}

#[test]
fn architecture_names_every_module_in_its_layer() {
    let root = root();
    let architecture = fs::read_to_string(root.join("ARCHITECTURE.md")).expect("ARCHITECTURE.md");
    let modules = architecture.split("\n## Modules").nth(1).expect("a `## Modules` section");
    let house = house(&root);
    let mut unnamed = BTreeSet::new();
    for file in house.imports.keys() {
        let parts: Vec<String> = file.iter().map(|p| p.to_string_lossy().into_owned()).collect();
        let [layer, first, ..] = parts.as_slice() else { continue };
        if first == "mod.rs" {
            continue;
        }
        let module = first.trim_end_matches(".rs");
        // The layer's bullet: `- `layer/`` or `- **`layer/`**`, up to the next bullet.
        let bullet = modules
            .split("\n- ")
            .find(|bullet| bullet.trim_start_matches("**").starts_with(&format!("`{layer}/`")))
            .unwrap_or_default();
        if !bullet.contains(&format!("`{module}`")) {
            unnamed.insert(format!("src/{layer}/: `{module}`"));
        }
    }
    assert!(unnamed.is_empty(), "modules ARCHITECTURE.md does not name in their layer's line: {unnamed:?}");
}
