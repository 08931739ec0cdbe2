//! Manifests stay true to the code: every dependency a crate declares is named by the code
//! that can use it (`src/` and `build.rs` for `[dependencies]`; those and `tests/`, `benches/`
//! for `[dev-dependencies]`), no dev-dependency repeats a normal one, and versions live once,
//! in the root's `[workspace.dependencies]`. Modules form no import cycles.

mod common;

use std::path::Path;

use common::{read, root};

/// The workspace members, from the root manifest's `members` list.
fn members() -> Vec<String> {
    let manifest = read("Cargo.toml");
    let list = manifest
        .split_once("members = [")
        .and_then(|(_, rest)| rest.split_once(']'))
        .expect("the root manifest lists its members")
        .0;
    list.split(',')
        .map(|member| member.trim().trim_matches('"').to_owned())
        .filter(|member| !member.is_empty())
        .collect()
}

/// The dependency names of `[section]` in `manifest`.
fn section(manifest: &str, name: &str) -> Vec<String> {
    let header = format!("[{name}]");
    let Some((_, rest)) = manifest.split_once(&header) else {
        return Vec::new();
    };
    rest.lines()
        .skip(1)
        .take_while(|line| !line.starts_with('['))
        .filter_map(|line| {
            let name = line.split(['.', '=', ' ']).next()?.trim();
            (!name.is_empty() && !name.starts_with('#')).then(|| name.to_owned())
        })
        .collect()
}

/// Every `.rs` file below `dir`, concatenated.
fn sources(dir: &Path) -> String {
    let mut text = String::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return text;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            text += &sources(&path);
        } else if path.extension().is_some_and(|e| e == "rs") {
            text += &std::fs::read_to_string(&path).unwrap_or_default();
        }
    }
    text
}

/// Whether `text` names the crate `dependency` as a path (`name::`, `use name`, `name!`…).
fn names(text: &str, dependency: &str) -> bool {
    let ident = dependency.replace('-', "_");
    text.match_indices(&ident).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + ident.len()..].chars().next();
        let boundary = |c: Option<char>| c.is_none_or(|c| !(c.is_alphanumeric() || c == '_'));
        boundary(before) && boundary(after)
    })
}

#[test]
fn every_declared_dependency_is_used_and_declared_once() {
    let mut drift = Vec::new();
    for member in members() {
        let dir = root().join(&member);
        let manifest = read(&format!("{member}/Cargo.toml"));
        let code = sources(&dir.join("src"))
            + &std::fs::read_to_string(dir.join("build.rs")).unwrap_or_default();
        let all = code.clone() + &sources(&dir.join("tests")) + &sources(&dir.join("benches"));
        let mut in_dependencies = false;
        for line in manifest.lines() {
            if line.starts_with('[') {
                in_dependencies = line.contains("dependencies");
                continue;
            }
            if !in_dependencies {
                continue;
            }
            let spec = line.split_once('=').map(|(_, spec)| spec.trim());
            let versioned =
                spec.is_some_and(|spec| spec.starts_with('"') || spec.contains("version"));
            if versioned && !line.trim_start().starts_with('#') {
                drift.push(format!(
                    "{member}: {} pins its own version (use [workspace.dependencies])",
                    line.trim()
                ));
            }
        }
        let normal = section(&manifest, "dependencies");
        for dependency in &normal {
            if !names(&code, dependency) {
                drift.push(format!(
                    "{member}: [dependencies] {dependency} is not used by src/"
                ));
            }
        }
        for dependency in section(&manifest, "dev-dependencies") {
            if normal.contains(&dependency) {
                drift.push(format!(
                    "{member}: dev-dependency {dependency} repeats a dependency"
                ));
            } else if !names(&all, &dependency) {
                drift.push(format!("{member}: dev-dependency {dependency} is not used"));
            }
        }
    }
    assert!(drift.is_empty(), "manifest drift:\n{}", drift.join("\n"));
}

#[test]
fn the_check_sees_a_crate_named_and_one_only_mentioned_inside_a_word() {
    assert!(names("use service_kit::Problem;", "service-kit"));
    assert!(names("#[tokio::main]", "tokio"));
    assert!(!names("use my_tokio_thing::x;", "tokio"));
    assert_eq!(
        section(
            "[dependencies]\na.workspace = true\nb = \"1\"\n\n[dev-dependencies]\nc.workspace = true\n",
            "dependencies"
        ),
        vec!["a", "b"]
    );
}

/// The top-level modules of the crate in `src` (a file `x.rs` or a folder `x/`), each with
/// the code of its files, comments left out.
fn modules(src: &Path) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(src) else {
        return found;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = path
            .file_stem()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        if ["main", "lib"].contains(&name.as_str()) {
            continue;
        }
        let text = if path.is_dir() {
            sources(&path)
        } else if path.extension().is_some_and(|e| e == "rs") {
            std::fs::read_to_string(&path).unwrap_or_default()
        } else {
            continue;
        };
        let code: String = text
            .lines()
            .filter(|line| !line.trim_start().starts_with("//"))
            .map(|line| format!("{line}\n"))
            .collect();
        found.push((name, code));
    }
    found.sort();
    found
}

/// The modules `code` reaches through `crate::name`, including `use crate::{a, b}`.
fn references(code: &str, modules: &[String]) -> Vec<String> {
    modules
        .iter()
        .filter(|module| {
            code.contains(&format!("crate::{module}::"))
                || code.contains(&format!("crate::{module};"))
                || code.match_indices("crate::{").any(|(at, _)| {
                    let group = &code[at + 8..];
                    let group = &group[..group.find('}').unwrap_or(group.len())];
                    group.split([',', ' ', '\n']).any(|part| {
                        part == module.as_str() || part.starts_with(&format!("{module}::"))
                    })
                })
        })
        .cloned()
        .collect()
}

#[test]
fn no_crate_has_an_import_cycle_and_no_module_imports_from_main() {
    let mut problems = Vec::new();
    for member in members() {
        let src = root().join(&member).join("src");
        let modules = modules(&src);
        let names: Vec<String> = modules.iter().map(|(name, _)| name.clone()).collect();
        let edges: Vec<(String, Vec<String>)> = modules
            .iter()
            .map(|(name, code)| {
                let mut reached = references(code, &names);
                reached.retain(|other| other != name);
                (name.clone(), reached)
            })
            .collect();
        // A cycle: a module that reaches itself through others.
        for (start, _) in &edges {
            let mut stack = vec![(start.clone(), vec![start.clone()])];
            let mut seen = std::collections::BTreeSet::new();
            while let Some((at, path)) = stack.pop() {
                let next = &edges
                    .iter()
                    .find(|(name, _)| *name == at)
                    .expect("a module")
                    .1;
                for module in next {
                    if module == start {
                        problems.push(format!("{member}: {} -> {start}", path.join(" -> ")));
                    } else if seen.insert(module.clone()) {
                        let mut longer = path.clone();
                        longer.push(module.clone());
                        stack.push((module.clone(), longer));
                    }
                }
            }
        }
        // In a binary, `crate::Item` that is no module names something of main.rs.
        if src.join("main.rs").is_file() && !src.join("lib.rs").is_file() {
            for (name, code) in &modules {
                for (at, _) in code.match_indices("crate::") {
                    let rest = &code[at + 7..];
                    let item: String = rest
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == '{')
                        .collect();
                    let item = item.trim_start_matches('{');
                    let first = item.split(',').next().unwrap_or_default();
                    if !first.is_empty() && !names.iter().any(|module| module == first) {
                        problems.push(format!(
                            "{member}: {name} imports crate::{first} from main.rs"
                        ));
                    }
                }
            }
        }
    }
    problems.sort();
    problems.dedup();
    assert!(
        problems.is_empty(),
        "module problems:\n{}",
        problems.join("\n")
    );
}

#[test]
fn every_reader_of_envelopes_upcasts_them() {
    // `contracts::decode_envelope` decodes and brings the event to its current schema version
    // (ADR 0016); a bare `EventEnvelope::decode` would hand a reader an old shape.
    let needle = ["EventEnvelope", "::decode("].concat();
    let offenders: Vec<String> = members()
        .into_iter()
        .filter(|member| member != "proto")
        .filter(|member| {
            ["src", "tests", "benches"]
                .iter()
                .any(|dir| sources(&root().join(member).join(dir)).contains(&needle))
        })
        .collect();
    assert!(
        offenders.is_empty(),
        "{offenders:?} decode envelopes without upcasting them; call contracts::decode_envelope"
    );
}
