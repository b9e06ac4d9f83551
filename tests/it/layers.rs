//! The module graph stays as drawn: a file imports only from its own layer or below.
//!
//! Reads `src/` as text, finds every `crate::<module>` a file names (in `use` trees too)
//! and fails on an import that climbs a layer, or on modules of one layer importing each
//! other in a circle (tests aside). A module missing from [`LAYERS`] fails too, so a new
//! one is placed on purpose.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Top to bottom (lib.rs tells the same story): 1 the CLI, 2 the wiring, 3 settings (read
/// and validated, building each domain's own config), 4 the HTTP faces, 5 the consumer and
/// its metrics, 6 the pipeline, 7 the families and the decision, 8 the broker, 9 leaf types.
const LAYERS: &[(&str, u8)] = &[
    ("main", 1),
    ("cli", 1),
    ("app", 2),
    ("settings", 3),
    ("admin", 4),
    ("inbound", 4),
    ("consume", 5),
    ("metrics", 5),
    ("pipeline", 6),
    ("channel", 7),
    ("channel_pause", 7),
    ("deliver", 7),
    ("format", 7),
    ("journal", 7),
    ("limiter", 7),
    ("listener", 7),
    ("parse", 7),
    ("retry", 7),
    ("schema", 7),
    ("sign", 7),
    ("broker", 8),
    ("clock", 9),
    ("failpoint", 9),
    ("json", 9),
    ("message", 9),
    ("secret", 9),
    ("shutdown", 9),
    // Test-only: exercises modules of every layer.
    ("fuzz", 0),
];

fn layer(module: &str) -> Option<u8> {
    LAYERS.iter().find(|(m, _)| *m == module).map(|(_, l)| *l)
}

#[test]
fn no_module_imports_from_a_layer_above_its_own() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut upward = Vec::new();
    let mut unplaced = BTreeSet::new();
    for file in rust_files(&src) {
        let relative = file.strip_prefix(&src).unwrap();
        let Some(own) = top_module(relative) else {
            continue; // lib.rs declares the modules
        };
        let Some(own_layer) = layer(&own) else {
            unplaced.insert(own);
            continue;
        };
        // The binary (`main.rs`, `cli/`): its `crate::` is itself, and it may use any layer.
        if own_layer == 1 {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        for used in crate_modules(&text) {
            match layer(&used) {
                None => {
                    unplaced.insert(used);
                }
                Some(l) if l < own_layer => upward.push(format!(
                    "{} (layer {own_layer}) imports crate::{used} (layer {l})",
                    relative.display()
                )),
                Some(_) => {}
            }
        }
    }
    assert!(
        unplaced.is_empty(),
        "modules with no layer (add them to LAYERS): {unplaced:?}"
    );
    assert!(
        upward.is_empty(),
        "imports climb a layer:\n{}",
        upward.join("\n")
    );
}

#[test]
fn no_modules_import_each_other_in_a_circle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in rust_files(&src) {
        let relative = file.strip_prefix(&src).unwrap();
        let Some(own) = top_module(relative) else {
            continue;
        };
        // The binary's `crate::` is itself; test files and test modules may reach anywhere.
        if layer(&own).is_none_or(|l| l <= 1) || relative.ends_with("tests.rs") {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        let code = text.split("#[cfg(test)]").next().unwrap_or("");
        let mut used = crate_modules(code);
        used.remove(&own);
        edges.entry(own).or_default().extend(used);
    }
    let circles = circles(&edges);
    assert!(
        circles.is_empty(),
        "modules import each other in a circle:\n{}",
        circles.join("\n")
    );
}

#[test]
fn a_circle_is_found() {
    let edges: BTreeMap<String, BTreeSet<String>> = [("a", "b"), ("b", "c"), ("c", "a")]
        .into_iter()
        .map(|(from, to)| (from.to_owned(), BTreeSet::from([to.to_owned()])))
        .collect();
    assert_eq!(circles(&edges), ["a -> b -> c -> a"]);
}

/// One path for each circle: a module that can reach itself, reported once per set of
/// modules on its path.
fn circles(edges: &BTreeMap<String, BTreeSet<String>>) -> Vec<String> {
    let mut found = Vec::new();
    let mut reported = BTreeSet::new();
    for start in edges.keys() {
        let mut path = vec![start.clone()];
        if reaches(edges, start, &mut path, &mut BTreeSet::new())
            && reported.insert(path.iter().cloned().collect::<BTreeSet<_>>())
        {
            found.push(path.join(" -> "));
        }
    }
    found
}

fn reaches(
    edges: &BTreeMap<String, BTreeSet<String>>,
    target: &str,
    path: &mut Vec<String>,
    seen: &mut BTreeSet<String>,
) -> bool {
    let from = path.last().unwrap().clone();
    for next in edges.get(&from).into_iter().flatten() {
        if next == target {
            path.push(next.clone());
            return true;
        }
        if seen.insert(next.clone()) {
            path.push(next.clone());
            if reaches(edges, target, path, seen) {
                return true;
            }
            path.pop();
        }
    }
    false
}

#[test]
fn the_scan_sees_use_trees_and_paths() {
    let text = "use crate::{broker::{self, BrokerError}, retry};\n\
                // use crate::settings;\n\
                fn f() { crate::clock::now_ms(); }";
    assert_eq!(
        crate_modules(text),
        ["broker", "clock", "retry"].map(String::from).into()
    );
}

/// The first path segment after every `crate::`, including each branch of a `use crate::{…}`
/// tree. Line comments are skipped: doc links name modules without importing them.
fn crate_modules(text: &str) -> BTreeSet<String> {
    let code: String = text
        .lines()
        .map(|line| line.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n");
    let mut found = BTreeSet::new();
    let mut rest = code.as_str();
    while let Some(at) = rest.find("crate::") {
        let before = rest[..at].chars().next_back();
        rest = &rest[at + "crate::".len()..];
        // `notify_bridge::crate::` cannot occur, but `my_crate::` can: a whole word only.
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        if let Some(tree) = rest.strip_prefix('{') {
            let end = closing_brace(tree);
            for branch in top_level_branches(&tree[..end]) {
                found.insert(first_segment(branch));
            }
        } else {
            found.insert(first_segment(rest));
        }
    }
    found.retain(|m| !m.is_empty() && m != "self");
    found
}

fn first_segment(path: &str) -> String {
    path.trim_start()
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect()
}

/// Where the `{` just before `text` closes.
fn closing_brace(text: &str) -> usize {
    let mut depth = 1;
    for (i, c) in text.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return i;
                }
            }
            _ => {}
        }
    }
    text.len()
}

/// `a::{b, c}, d` → `a::{b, c}` and `d`.
fn top_level_branches(tree: &str) -> Vec<&str> {
    let (mut branches, mut depth, mut start) = (Vec::new(), 0, 0);
    for (i, c) in tree.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                branches.push(&tree[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    branches.push(&tree[start..]);
    branches
}

/// `consume/settle.rs` → `consume`, `retry.rs` → `retry`; `None` for `lib.rs`.
fn top_module(relative: &Path) -> Option<String> {
    let first = relative.components().next()?.as_os_str().to_str()?;
    match first.strip_suffix(".rs") {
        Some("lib") => None,
        Some(module) => Some(module.to_owned()),
        None => Some(first.to_owned()),
    }
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files.sort();
    files
}
