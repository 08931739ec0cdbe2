//! Manifests stay true to the code: every dependency a crate declares is named by the code
//! that can use it (`src/` and `build.rs` for `[dependencies]`; those and `tests/`, `benches/`
//! for `[dev-dependencies]`), and no dev-dependency repeats a normal one.

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
