//! The web console (console/, React and TypeScript): its npm packages from the lockfile, its
//! build into console/dist (which the gateway serves), its unit tests, and Debian's Chromium
//! for its browser tests.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Result, bail};

use crate::stack::{found, root, run, step};

/// The console's folder.
pub fn dir() -> PathBuf {
    root().join("console")
}

/// Node.js and npm, from Debian's packages when missing.
fn ensure_node() -> Result<()> {
    if found("node") && found("npm") {
        return Ok(());
    }
    step("installing Node.js and npm (apt-get install nodejs npm)");
    apt_install(&["nodejs", "npm"])?;
    if !found("npm") {
        bail!("apt-get installed npm but it is not on PATH");
    }
    Ok(())
}

fn apt_install(packages: &[&str]) -> Result<()> {
    run(Command::new("apt-get").args(["update", "-q"]))?;
    run(Command::new("apt-get")
        .args(["install", "-y", "-q", "--no-install-recommends"])
        .args(packages)
        .env("DEBIAN_FRONTEND", "noninteractive"))
}

/// `npm ci` when node_modules is missing or older than the lockfile; then the build
/// (generated API types, type check, Vite) into console/dist.
pub fn build() -> Result<()> {
    ensure_node()?;
    let dir = dir();
    let modules = dir.join("node_modules/.package-lock.json");
    let stale = match (modules.metadata(), dir.join("package-lock.json").metadata()) {
        (Ok(installed), Ok(lock)) => installed.modified()? < lock.modified()?,
        _ => true,
    };
    if stale {
        step("installing the console's npm packages (npm ci, from package-lock.json)");
        run(Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(&dir))?;
    }
    step("building the console (npm run build: API types, type check, Vite)");
    run(Command::new("npm")
        .args(["run", "build", "--silent"])
        .current_dir(&dir))
}

/// The console's unit tests (Vitest).
pub fn unit_tests() -> Result<()> {
    step("running the console's unit tests (npm test)");
    run(Command::new("npm")
        .args(["test", "--silent"])
        .current_dir(dir()))
}

/// Debian's Chromium, which the browser tests drive (playwright-core downloads nothing).
pub fn ensure_chromium() -> Result<PathBuf> {
    let chromium = PathBuf::from("/usr/bin/chromium");
    if chromium.exists() {
        return Ok(chromium);
    }
    step("installing Chromium for the browser tests (apt-get install chromium)");
    apt_install(&["chromium"])?;
    if !chromium.exists() {
        bail!("apt-get installed chromium but /usr/bin/chromium is missing");
    }
    Ok(chromium)
}
