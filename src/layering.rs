//! The layering of the library's top-level modules, checked (docs/architecture.md §1).
//!
//! Each module may import only modules of lower layers: the use cases (`app`) never import
//! the HTTP layer, the executor and the sandbox never import the use cases, the ports and the
//! domain import nothing of autodb's. A module's own tests (`#[cfg(test)] mod tests`, last in
//! its file) are not part of the graph. The check reads the sources, as a reader would:
//! every `crate::<module>` path in code (comments left out) is an import.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The layers, lowest first. A module not listed here fails the check: a new module takes
/// a place in this table (and in the architecture document) when it is added.
const LAYERS: &[&[&str]] = &[
    // Values and leaves: no autodb import at all.
    &["domain", "context", "pgconn", "pgcluster"],
    // What the parts agree on: the ports, the schema model, settings, the token, metric lines.
    &["ports", "schema", "settings", "token", "metrics"],
    // Reaching target databases; announcing ends of requests.
    &["target", "events"],
    // The two engines: applying a migration, trying one in the sandbox.
    &["executor", "sandbox"],
    // The use cases.
    &["app"],
    // How the use cases are reached: HTTP, the demo.
    &["api", "demo"],
    // The adapters and the composition of an AWS process.
    &["adapters"],
    // The Lambda entry points.
    &["lambda"],
];

/// Crates whose types stay in `adapters::aws` (the AWS SDK and its runtime).
const AWS_SDK_CRATES: &[&str] = &["aws_sdk_", "aws_config", "aws_smithy", "aws_types"];

/// `(module, file text without comments and without its tests)` for every file of the
/// library, by top-level module.
fn sources() -> Vec<(String, String, String)> {
    fn walk(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("readable src") {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = vec![];
    walk(&src, &mut files);
    files.sort();
    let mut out = vec![];
    for path in files {
        let rel = path.strip_prefix(&src).expect("under src");
        let first = rel
            .components()
            .next()
            .expect("a component")
            .as_os_str()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_string();
        if first == "bin" || first == "lib" || first == "layering" {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("readable source");
        out.push((first, rel.display().to_string(), code_of(&text)));
    }
    out
}

/// `text` without its test module and without comments.
fn code_of(text: &str) -> String {
    let text = match text.find("#[cfg(test)]\nmod tests") {
        Some(at) => &text[..at],
        None => text,
    };
    text.lines()
        .map(|line| match line.find("//") {
            // A `//` inside a string (a URL) is rare in code and only hides the line's rest.
            Some(at) => &line[..at],
            None => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The top-level modules that `code` names through `crate::`.
fn imports(code: &str, modules: &BTreeSet<String>) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // `use crate::{a, b::c, d::{e, f}}`: the first segment of each top-level item.
            let mut depth = 0;
            let mut item_start = true;
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => {
                        rest = &group[i..];
                        break;
                    }
                    '}' => depth -= 1,
                    ',' if depth == 0 => item_start = true,
                    c if item_start && (c.is_alphanumeric() || c == '_') => {
                        let name: String = group[i..]
                            .chars()
                            .take_while(|c| c.is_alphanumeric() || *c == '_')
                            .collect();
                        found.insert(name);
                        item_start = false;
                    }
                    _ => {}
                }
            }
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            found.insert(name);
        }
    }
    found.retain(|m| modules.contains(m));
    found
}

/// What imports what, between distinct top-level modules.
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let sources = sources();
    let modules: BTreeSet<String> = sources.iter().map(|(m, _, _)| m.clone()).collect();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (module, _, code) in &sources {
        let entry = graph.entry(module.clone()).or_default();
        for imported in imports(code, &modules) {
            if &imported != module {
                entry.insert(imported);
            }
        }
    }
    graph
}

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|layer| layer.contains(&module))
}

/// A cycle through `graph`, if it has one (as the path of modules around it).
fn cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut found = path[at..].to_vec();
            found.push(node.to_string());
            return Some(found);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(found) = visit(next, graph, path, done) {
                return Some(found);
            }
        }
        path.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|node| visit(node, graph, &mut vec![], &mut done))
}

#[test]
fn the_top_level_modules_import_each_other_without_a_cycle() {
    let graph = graph();
    assert!(graph.len() >= 10, "the sources were read: {graph:?}");
    if let Some(found) = cycle(&graph) {
        panic!("import cycle: {}", found.join(" → "));
    }
}

#[test]
fn every_module_imports_only_lower_layers() {
    let mut wrong = vec![];
    for (module, imported) in graph() {
        let Some(own) = layer_of(&module) else {
            wrong.push(format!("`{module}` has no layer in LAYERS"));
            continue;
        };
        for other in imported {
            match layer_of(&other) {
                Some(layer) if layer < own => {}
                _ => wrong.push(format!("`{module}` imports `{other}`")),
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn aws_sdk_types_stay_in_the_aws_adapters() {
    let outside: Vec<String> = sources()
        .into_iter()
        .filter(|(_, path, code)| {
            !path.starts_with("adapters/aws/")
                && AWS_SDK_CRATES.iter().any(|krate| code.contains(krate))
        })
        .map(|(_, path, _)| path)
        .collect();
    assert!(outside.is_empty(), "AWS SDK types in {outside:?}");
}

#[test]
fn the_check_sees_imports_and_cycles() {
    let modules: BTreeSet<String> = ["app", "api", "domain", "ports"].map(String::from).into();
    let code = code_of(
        "use crate::{app::App, domain::{A, B}, ports};\n\
         // crate::api in a comment is not an import\n\
         fn f() { crate::ports::x(); }\n\
         #[cfg(test)]\nmod tests { use crate::api; }",
    );
    assert_eq!(
        imports(&code, &modules),
        ["app", "domain", "ports"].map(String::from).into()
    );
    let looped: BTreeMap<String, BTreeSet<String>> = [
        ("a".to_string(), ["b".to_string()].into()),
        ("b".to_string(), ["c".to_string()].into()),
        ("c".to_string(), ["a".to_string()].into()),
    ]
    .into();
    assert_eq!(cycle(&looped).map(|c| c.len()), Some(4));
    let straight: BTreeMap<String, BTreeSet<String>> =
        [("a".to_string(), ["b".to_string()].into())].into();
    assert_eq!(cycle(&straight), None);
}
