//! What the deployment-file tests share: where the repository is and how to read its files.

#![allow(dead_code)]

use std::path::PathBuf;

/// The repository root: the parent of `xtask/`.
pub fn root() -> PathBuf {
    // At run time (cargo run, cargo test and nextest set it): a build reused from another
    // checkout of the workspace would carry that checkout's path in env!.
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from)
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
