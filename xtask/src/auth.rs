//! The local stack's token issuer: an Ed25519 key made on first start in `.stack/auth/`, its
//! JWKS (which every service verifies tokens against), the saga's service token, and
//! `cargo xtask token`.

use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

use anyhow::{Context, Result};
use service_kit::auth::issue::KeyPair;
use service_kit::auth::{AuthSettings, Role};

use crate::stack;

const KID: &str = "dev-1";
/// The saga's token lives this long; every `cargo xtask up` writes a fresh one.
const SAGA_TOKEN_SECS: u64 = 30 * 24 * 3_600;

pub fn dir() -> Result<PathBuf> {
    let dir = stack::state_dir()?.join("auth");
    std::fs::create_dir_all(&dir).context("creating .stack/auth/")?;
    Ok(dir)
}

/// The JWKS every service of the stack reads.
pub fn jwks_file() -> Result<PathBuf> {
    Ok(dir()?.join("jwks.json"))
}

/// The token file saga-orchestrator presents.
pub fn saga_token_file() -> Result<PathBuf> {
    Ok(dir()?.join("saga.token"))
}

fn write_private(path: &PathBuf, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    file.write_all(bytes)?;
    Ok(())
}

/// The stack's signing key: loaded, or made (with its JWKS) on first use.
pub fn ensure_keys() -> Result<KeyPair> {
    let private = dir()?.join("signing-key.pk8");
    let key = if private.exists() {
        let der = std::fs::read(&private).context("reading .stack/auth/signing-key.pk8")?;
        KeyPair::from_pkcs8(KID, &der)?
    } else {
        stack::step("making the stack's token-signing key (.stack/auth/)");
        let key = KeyPair::generate(KID)?;
        write_private(&private, key.pkcs8())?;
        key
    };
    std::fs::write(jwks_file()?, key.jwks()).context("writing .stack/auth/jwks.json")?;
    Ok(key)
}

/// Writes a fresh service token for the saga.
pub fn write_saga_token(key: &KeyPair) -> Result<()> {
    let token = key.token(
        &AuthSettings::default(),
        "saga-orchestrator",
        Role::Service,
        SAGA_TOKEN_SECS,
    )?;
    write_private(&saga_token_file()?, token.as_bytes())
}

/// `cargo xtask token`: prints a token of the stack's key.
pub fn print_token(subject: &str, role: &str, ttl_secs: u64) -> Result<()> {
    println!("{}", token(subject, role, ttl_secs)?);
    Ok(())
}

/// A token of the stack's key (made on first use).
pub fn token(subject: &str, role: &str, ttl_secs: u64) -> Result<String> {
    let role = match role {
        "admin" => Role::Admin,
        "customer" => Role::Customer,
        "service" => Role::Service,
        other => anyhow::bail!("unknown role {other:?}: admin, customer or service"),
    };
    anyhow::ensure!(!subject.trim().is_empty(), "--sub must not be empty");
    anyhow::ensure!(ttl_secs > 0, "--ttl-secs must be at least 1");
    let key = ensure_keys()?;
    key.token(&AuthSettings::default(), subject, role, ttl_secs)
}
