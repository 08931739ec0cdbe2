//! The tools the test suite needs besides Postgres and Kafka: its runner, cargo-nextest
//! (crates.io), and the validators it runs on deploy/, promtool (Debian's `prometheus`
//! package) and kubernetes-validate (PyPI, in a virtualenv kept outside the clone). Installed
//! when missing, never skipped.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::stack::{found, run, step};

/// The kubernetes-validate release the tests are written against (schemas 1.25 to 1.37).
const KUBERNETES_VALIDATE: &str = "kubernetes-validate==1.37.0";

/// The cargo-nextest release the suite's configuration (.config/nextest.toml) is written for.
const NEXTEST: &str = "0.9.132";

/// cargo-nextest, the suite's runner (test groups and time limits come from its config).
pub fn ensure_nextest() -> Result<()> {
    let installed = Command::new("cargo")
        .args(["nextest", "--version"])
        .output()
        .is_ok_and(|out| out.status.success());
    if installed {
        return Ok(());
    }
    step(&format!(
        "installing cargo-nextest {NEXTEST} (cargo install; several minutes on 2 cores, once per machine)"
    ));
    // A target folder of its own: the workspace's may be the shared CI cache.
    run(Command::new("cargo")
        .args(["install", "cargo-nextest", "--locked", "--version", NEXTEST])
        .env_remove("CARGO_TARGET_DIR"))
}

/// promtool, for `promtool check` and `promtool test rules`.
pub fn ensure_promtool() -> Result<()> {
    if found("promtool") {
        return Ok(());
    }
    step("installing promtool (apt-get install prometheus)");
    run(Command::new("apt-get").args(["update", "-q"]))?;
    run(Command::new("apt-get")
        .args([
            "install",
            "-y",
            "-q",
            "--no-install-recommends",
            "prometheus",
        ])
        .env("DEBIAN_FRONTEND", "noninteractive"))?;
    if !found("promtool") {
        bail!("apt-get installed prometheus but promtool is not on PATH");
    }
    Ok(())
}

/// The kubernetes-validate executable, in a virtualenv under ~/.cache (kept between clones).
pub fn ensure_kubernetes_validate() -> Result<PathBuf> {
    let home = std::env::var_os("HOME").context("HOME is not set")?;
    let venv = PathBuf::from(home).join(".cache/cqrs-kafka/kubernetes-validate");
    let executable = venv.join("bin/kubernetes-validate");
    if executable.exists() {
        return Ok(executable);
    }
    step("installing kubernetes-validate (pip, in a virtualenv under ~/.cache/cqrs-kafka)");
    let python = venv.join("bin/python3");
    if !python.exists() {
        let created = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .is_ok_and(|status| status.success());
        if !created {
            // Debian ships venv separately.
            run(Command::new("apt-get").args(["update", "-q"]))?;
            run(Command::new("apt-get")
                .args(["install", "-y", "-q", "python3-venv"])
                .env("DEBIAN_FRONTEND", "noninteractive"))?;
            let _ = std::fs::remove_dir_all(&venv);
            run(Command::new("python3").args(["-m", "venv"]).arg(&venv))?;
        }
    }
    run(Command::new(&python).args(["-m", "pip", "install", "-q", KUBERNETES_VALIDATE]))?;
    if !executable.exists() {
        bail!(
            "pip installed kubernetes-validate but {} is missing",
            executable.display()
        );
    }
    Ok(executable)
}
