//! What the deployment-file tests share: where the repository is and how to read its files.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// The repository root: the parent of `xtask/`.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

/// A file of the repository, by its path from the root.
pub fn read(relative: &str) -> String {
    let path = root().join(relative);
    std::fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("reading {}: {error}", path.display()))
}
