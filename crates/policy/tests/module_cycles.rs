//! The crate's modules use one another without a cycle, so that it reads
//! top-down: each module builds only on modules below it.
//!
//! The check reads the source as text: the top-level modules are the files
//! and directories of `src/` (the crate root and `src/bin/` are not among
//! them), and module A uses module B when A writes a path to B that starts
//! at the crate root, `crate::b…` (also inside `crate::{…}` groups) or a
//! `super::` chain that climbs to it. Comment lines are skipped. Inline
//! modules are not followed: `super::x` in a file's `mod tests` is read as
//! the crate root's `x`, which errs towards finding a use, never towards
//! missing one.
//!
//! It uses only `std` and reads the crate it is compiled in
//! (`CARGO_MANIFEST_DIR`), so another crate of the workspace gets the same
//! check from a test file holding
//! `#[path = "../../policy/tests/module_cycles.rs"] mod module_cycles;`.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

/// Each top-level module and the others it uses.
type Graph = BTreeMap<String, BTreeSet<String>>;

/// A source file: its module path (`["a", "b"]` for `src/a/b.rs`, empty
/// for the crate root) and its text.
type Source = (Vec<String>, String);

#[test]
fn modules_use_each_other_without_a_cycle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let graph = graph(&sources(&src, &src));
    assert!(
        graph.values().any(|uses| !uses.is_empty()),
        "no module of {} uses another: is the reader broken?",
        src.display()
    );
    if let Some(cycle) = cycle(&graph) {
        panic!(
            "modules use each other in a cycle: {}\n\nall uses:\n{}",
            cycle.join(" → "),
            render(&graph)
        );
    }
}

#[test]
fn finds_a_cycle_through_groups_inline_paths_and_super() {
    let graph = graph(&[
        source("lib.rs", "mod a;\nmod b;\nmod c;\npub use a::Thing;\n"),
        source("a.rs", "use crate::{\n    b::X,\n    std_like,\n};\n"),
        source("b.rs", "fn f() -> u8 {\n    crate::c::g()\n}\n"),
        source("c/mod.rs", "mod d;\n"),
        source("c/d.rs", "use super::super::a::Thing;\n"),
    ]);
    assert_eq!(uses(&graph, "a"), ["b"]);
    assert_eq!(uses(&graph, "b"), ["c"]);
    assert_eq!(uses(&graph, "c"), ["a"]);
    assert_eq!(cycle(&graph).unwrap(), ["a", "b", "c", "a"]);
}

#[test]
fn ignores_comments_the_crate_root_binaries_and_a_module_naming_itself() {
    let graph = graph(&[
        source("lib.rs", "mod a;\nmod b;\npub use b::f;\nfn root() {}\n"),
        source(
            "a.rs",
            "//! Unlike [`crate::b`], …\n\
             use crate::root;\n\
             use crate::a::Own;\n\
             // crate::b::f() would be a use\n\
             #[cfg(test)]\n\
             mod tests {\n    use super::*;\n}\n",
        ),
        source("b.rs", "use crate::a::Own;\n"),
        source("bin/tool.rs", "use crate::b::f;\n"),
    ]);
    assert_eq!(graph.keys().collect::<Vec<_>>(), ["a", "b"]);
    assert_eq!(uses(&graph, "a"), [] as [&str; 0]);
    assert_eq!(uses(&graph, "b"), ["a"]);
    assert_eq!(cycle(&graph), None);
}

/// Every `.rs` file under `dir`, with its module path relative to `src`.
fn sources(src: &Path, dir: &Path) -> Vec<Source> {
    let mut found = Vec::new();
    let entries = fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("a directory entry").path();
        let relative = path.strip_prefix(src).expect("under src");
        if path.is_dir() {
            found.extend(sources(src, &path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = fs::read_to_string(&path).expect("a readable source file");
            found.push((module_path(relative), text));
        }
    }
    found
}

/// `a/b.rs` → `["a", "b"]`, `a/mod.rs` → `["a"]`, `lib.rs` → `[]`.
fn module_path(relative: &Path) -> Vec<String> {
    let mut path: Vec<String> = relative
        .with_extension("")
        .iter()
        .map(|part| part.to_string_lossy().into_owned())
        .collect();
    let root = path.len() == 1 && (path[0] == "lib" || path[0] == "main");
    if root || path.last().is_some_and(|last| last == "mod") {
        path.pop();
    }
    path
}

fn source(relative: &str, text: &str) -> Source {
    (module_path(Path::new(relative)), text.to_owned())
}

fn graph(sources: &[Source]) -> Graph {
    let mut graph = Graph::new();
    for (path, _) in sources {
        match path.first() {
            Some(top) if top != "bin" => graph.entry(top.clone()).or_default(),
            _ => continue,
        };
    }
    let modules: BTreeSet<String> = graph.keys().cloned().collect();
    for (path, text) in sources {
        let Some(uses) = path.first().and_then(|top| graph.get_mut(top)) else {
            continue;
        };
        for name in roots_named(path, text) {
            if modules.contains(&name) && name != path[0] {
                uses.insert(name);
            }
        }
    }
    graph
}

/// The first segment of every path in `text` that starts at the crate root.
fn roots_named(path: &[String], text: &str) -> Vec<String> {
    let code: String = text
        .lines()
        .filter(|line| !line.trim_start().starts_with("//"))
        .flat_map(|line| [line, "\n"])
        .collect();
    let mut names = Vec::new();
    let mut rest = code.as_str();
    while let Some(at) = rest
        .find("crate::")
        .into_iter()
        .chain(rest.find("super::"))
        .min()
    {
        let before = rest[..at].chars().next_back();
        let word_start = !before.is_some_and(|c| c.is_alphanumeric() || c == '_');
        let mut after = &rest[at..];
        let mut climbs = 0;
        while let Some(next) = after.strip_prefix("super::") {
            climbs += 1;
            after = next;
        }
        let from_root = match after.strip_prefix("crate::") {
            Some(next) if climbs == 0 => {
                after = next;
                true
            }
            _ => climbs >= path.len(),
        };
        if word_start && from_root {
            names.extend(first_segments(after));
        }
        rest = &rest[at + 1..];
    }
    names
}

/// `b::X` → `b`; `{b::X, c}` → `b`, `c` (nested groups are one item each).
fn first_segments(path: &str) -> Vec<String> {
    let ident = |s: &str| -> String {
        s.trim_start()
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect()
    };
    let Some(group) = path.strip_prefix('{') else {
        return vec![ident(path)];
    };
    let (mut items, mut depth, mut start) = (Vec::new(), 0, 0);
    for (i, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => {
                items.push(ident(&group[start..i]));
                break;
            }
            '}' => depth -= 1,
            ',' if depth == 0 => {
                items.push(ident(&group[start..i]));
                start = i + 1;
            }
            _ => {}
        }
    }
    items
}

/// A path around one cycle (first module repeated at its end), if any.
fn cycle(graph: &Graph) -> Option<Vec<String>> {
    fn visit<'g>(
        module: &'g str,
        graph: &'g Graph,
        path: &mut Vec<&'g str>,
        seen: &mut BTreeSet<&'g str>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|m| *m == module) {
            let around = path[at..].iter().chain([&module]);
            return Some(around.map(|m| m.to_string()).collect());
        }
        if !seen.insert(module) {
            return None;
        }
        path.push(module);
        for next in graph.get(module).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, path, seen) {
                return Some(cycle);
            }
        }
        path.pop();
        None
    }
    let mut seen = BTreeSet::new();
    graph
        .keys()
        .find_map(|module| visit(module, graph, &mut Vec::new(), &mut seen))
}

fn uses<'g>(graph: &'g Graph, module: &str) -> Vec<&'g str> {
    graph[module].iter().map(String::as_str).collect()
}

fn render(graph: &Graph) -> String {
    let lines: Vec<String> = graph
        .iter()
        .map(|(module, uses)| {
            let uses: Vec<&str> = uses.iter().map(String::as_str).collect();
            format!("  {module} → {}", uses.join(", "))
        })
        .collect();
    lines.join("\n")
}
