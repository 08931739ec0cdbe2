//! The validators the test suite runs on deploy/: promtool (Debian's `prometheus` package) and
//! kubernetes-validate (PyPI, in a virtualenv kept outside the clone). Installed when missing.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::stack::{found, run, step};

/// The kubernetes-validate release the tests are written against (schemas 1.25 to 1.37).
const KUBERNETES_VALIDATE: &str = "kubernetes-validate==1.37.0";

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
