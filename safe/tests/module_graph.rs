//! The crate's module graph runs one way, leaves first: `io`, `bus_lock`,
//! `errno`, `pci::address`, `pci::interrupt`, `pci::sysfs` ← `eal` ← `pci::bus`, `pci::driver`,
//! `vfio`, `eth`. Read from the `crate::` and `super::` paths of every source
//! file of `safe/src`; an import circle, or a leaf that imports a non-leaf,
//! fails here with the path that closes it.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

/// Top-level modules whose children are nodes of their own; their `mod.rs`
/// only declares the children, so nothing may import through it.
const SPLIT: &[&str] = &["pci"];

/// Nodes that import no other node, and nodes that import only those.
const LEAVES: &[&str] = &["io", "bus_lock", "errno"];
const NEAR_LEAVES: &[&str] = &["pci::address", "pci::interrupt", "pci::sysfs"];

/// Node → the nodes it names, with one file and line for each edge.
type Graph = BTreeMap<String, BTreeMap<String, String>>;

/// The module path of a source file relative to `src`: `a/b/mod.rs` is `a::b`.
fn module_path(rel: &Path) -> Vec<String> {
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_owned())
        .collect();
    if parts.last().is_some_and(|l| l == "mod" || l == "lib") {
        parts.pop();
    }
    parts
}

/// The graph node a module path belongs to; `None` for the crate root and the
/// facades of split modules.
fn node_of(path: &[String], modules: &BTreeSet<String>) -> Result<Option<String>, String> {
    let Some(top) = path.first() else {
        return Ok(None);
    };
    if SPLIT.contains(&top.as_str()) {
        return match path.get(1) {
            Some(child) if modules.contains(&format!("{top}::{child}")) => {
                Ok(Some(format!("{top}::{child}")))
            }
            Some(item) => Err(format!(
                "`{top}::{item}` goes through the facade of `{top}`: name the submodule that defines it"
            )),
            None => Ok(None),
        };
    }
    Ok(Some(top.clone()))
}

/// The module path each `crate::`/`super::` path in `line` names (identifiers
/// only, up to the first non-identifier), resolved against the file's own path.
fn named_paths(line: &str, own: &[String], is_mod_rs: bool) -> Result<Vec<Vec<String>>, String> {
    let mut out = Vec::new();
    for (start, _) in line
        .match_indices("crate::")
        .chain(line.match_indices("super::"))
    {
        let preceded_by_ident = line[..start]
            .chars()
            .last()
            .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':');
        if preceded_by_ident {
            continue;
        }
        let rest = &line[start..];
        let segments: Vec<&str> = rest
            .split("::")
            .map(|s| {
                let end = s
                    .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                    .unwrap_or(s.len());
                &s[..end]
            })
            .collect();
        // `crate::{a, b}`: one path per `use`, so that each edge is visible.
        if rest.starts_with("crate::{") || rest.starts_with("super::{") {
            return Err("write one `use crate::...` per module, not `crate::{...}`".into());
        }
        let mut path: Vec<String> = if segments[0] == "crate" {
            Vec::new()
        } else {
            // `super` of a `mod.rs` is its parent's parent module.
            let mut p = own.to_vec();
            if !is_mod_rs || p.len() > 1 {
                p.pop();
            }
            p
        };
        let mut iter = segments.iter().skip(1);
        for s in iter.by_ref() {
            if *s == "super" {
                path.pop();
            } else if !s.is_empty() {
                path.push((*s).to_owned());
            } else {
                break;
            }
        }
        out.push(path);
    }
    Ok(out)
}

/// Builds the graph from `(relative path, source)` pairs.
fn graph_of(files: &[(String, String)]) -> Result<Graph, Vec<String>> {
    let modules: BTreeSet<String> = files
        .iter()
        .map(|(rel, _)| module_path(Path::new(rel)).join("::"))
        .collect();
    let mut graph = Graph::new();
    let mut errors = Vec::new();
    for (rel, source) in files {
        let own = module_path(Path::new(rel));
        let is_mod_rs = rel.ends_with("mod.rs");
        let from = match node_of(&own, &modules) {
            Ok(Some(node)) => node,
            Ok(None) => continue,
            Err(e) => {
                errors.push(format!("{rel}: {e}"));
                continue;
            }
        };
        graph.entry(from.clone()).or_default();
        for (n, line) in source.lines().enumerate() {
            let code = line.trim_start();
            // Unit-test modules come last in a file and are not part of the
            // library's graph (their `super` is the file's module, too).
            if code.starts_with("mod ") && code.ends_with("tests {") {
                break;
            }
            if code.starts_with("//") {
                continue;
            }
            let paths = match named_paths(code, &own, is_mod_rs) {
                Ok(paths) => paths,
                Err(e) => {
                    errors.push(format!("{rel}:{}: {e}", n + 1));
                    continue;
                }
            };
            for path in paths {
                match node_of(&path, &modules) {
                    Ok(Some(to)) if to != from => {
                        graph
                            .entry(from.clone())
                            .or_default()
                            .entry(to)
                            .or_insert_with(|| format!("{rel}:{}", n + 1));
                    }
                    Ok(_) => {}
                    Err(e) => errors.push(format!("{rel}:{}: {e}", n + 1)),
                }
            }
        }
    }
    if errors.is_empty() {
        Ok(graph)
    } else {
        Err(errors)
    }
}

/// A circle of the graph, as the nodes along it with the line of each edge.
fn find_circle(graph: &Graph) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &Graph,
        stack: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = stack.iter().position(|n| n == node) {
            let mut circle = stack[at..].to_vec();
            circle.push(node.to_owned());
            return Some(circle);
        }
        if done.contains(node) {
            return None;
        }
        stack.push(node.to_owned());
        for next in graph.get(node).into_iter().flat_map(|edges| edges.keys()) {
            if let Some(circle) = visit(next, graph, stack, done) {
                return Some(circle);
            }
        }
        stack.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    for node in graph.keys() {
        if let Some(circle) = visit(node, graph, &mut Vec::new(), &mut done) {
            return Some(
                circle
                    .windows(2)
                    .map(|w| format!("{} -> {} ({})", w[0], w[1], graph[&w[0]][&w[1]]))
                    .collect(),
            );
        }
    }
    None
}

/// What breaks the layering: circles, and leaves that import what they must not.
fn problems(graph: &Graph) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(circle) = find_circle(graph) {
        out.push(format!("import circle: {}", circle.join(", ")));
    }
    for (node, edges) in graph {
        for (to, at) in edges {
            let allowed: &[&str] = if LEAVES.contains(&node.as_str()) {
                &[]
            } else if NEAR_LEAVES.contains(&node.as_str()) {
                &["io", "bus_lock", "errno", "pci::address", "pci::sysfs"]
            } else {
                continue;
            };
            if !allowed.contains(&to.as_str()) {
                out.push(format!("{node} is a leaf but imports {to} ({at})"));
            }
        }
    }
    out
}

fn sources(dir: &Path, root: &Path, out: &mut Vec<(String, String)>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, root, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let rel = path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            out.push((rel, fs::read_to_string(&path).unwrap()));
        }
    }
}

#[test]
fn the_module_graph_has_no_circles_and_leaves_stay_leaves() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&root, &root, &mut files);
    files.sort();
    let graph = graph_of(&files).unwrap_or_else(|e| panic!("{}", e.join("\n")));
    for (node, edges) in &graph {
        let to: Vec<&String> = edges.keys().collect();
        println!("{node} -> {to:?}");
    }
    for must in ["io", "bus_lock", "eal", "pci::bus", "vfio"] {
        assert!(graph.contains_key(must), "no node {must}: {graph:?}");
    }
    let found = problems(&graph);
    assert!(found.is_empty(), "{}", found.join("\n"));
}

/// The check itself: a circle, a leaf importing upwards and an import through
/// a facade are each caught.
#[test]
fn the_check_catches_circles_leaf_imports_and_facades() {
    let file = |rel: &str, src: &str| (rel.to_owned(), src.to_owned());
    let circle = [
        file("eal/mod.rs", "use crate::vfio::device::VfioDevice;\n"),
        file("vfio/mod.rs", "pub(crate) mod device;\n"),
        file("vfio/device.rs", "use crate::eal::Eal;\n"),
    ];
    let found = problems(&graph_of(&circle).unwrap());
    assert!(
        found
            .iter()
            .any(|p| p.contains("import circle") && p.contains("eal -> vfio")),
        "{found:?}"
    );
    let leaf = [
        file("io/mod.rs", "fn f() { crate::eal::started(); }\n"),
        file("eal/mod.rs", "// crate::io is named in a comment only\n"),
    ];
    let found = problems(&graph_of(&leaf).unwrap());
    assert_eq!(found, ["io is a leaf but imports eal (io/mod.rs:1)"]);
    let facade = [
        file("pci/mod.rs", "pub(crate) mod address;\n"),
        file("pci/address.rs", "pub struct PciAddress;\n"),
        file("eal/args.rs", "use crate::pci::PciAddress;\n"),
    ];
    let errors = graph_of(&facade).unwrap_err();
    assert!(
        errors[0].contains("goes through the facade of `pci`"),
        "{errors:?}"
    );
    let sup = [
        file("pci/mod.rs", ""),
        file("pci/sysfs.rs", ""),
        file("pci/bus.rs", ""),
        file("pci/driver/mod.rs", ""),
        file("pci/driver/probed.rs", "use super::super::bus::X;\n"),
        file(
            "pci/address.rs",
            "use super::driver::Y;\n#[cfg(test)]\nmod tests {\n    use super::Z;\n}\n",
        ),
    ];
    let found = problems(&graph_of(&sup).unwrap());
    assert_eq!(
        found,
        ["pci::address is a leaf but imports pci::driver (pci/address.rs:1)"],
    );
    let graph = graph_of(&sup).unwrap();
    assert!(graph["pci::driver"].contains_key("pci::bus"), "{graph:?}");
}
