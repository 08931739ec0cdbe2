//! `cargo xtask chaos`: one fault campaign (crate `chaos`, binary `cqrs-chaos`) on Postgres
//! and a Kafka cluster of its own, with whatever is missing installed first.

use std::process::Command;

use anyhow::{Result, ensure};
use test_support::kafka;

use crate::stack::{drop_test_databases, ensure_postgres, root, run, step, stop_postgres};

/// Builds the services and the campaign, runs it with `args`, stops what it started.
pub fn chaos(args: &[String]) -> Result<()> {
    let postgres = ensure_postgres()?;
    // The campaign's databases are test databases: the next campaign or suite drops them.
    drop_test_databases(postgres.port)?;
    let installation = kafka::Installation::ensure(step)?;
    step("building the services and the campaign");
    run(Command::new("cargo")
        .args(["build", "--quiet", "--workspace", "--bins"])
        .current_dir(root()))?;
    let binary = crate::services::target_dir()
        .join("debug")
        .join("cqrs-chaos");
    step("running the campaign (cqrs-chaos)");
    let status = postgres
        .test_env(
            Command::new(binary).args(args).current_dir(root()),
            &installation,
        )
        .status()?;
    if let Some(cluster) = postgres.started {
        stop_postgres(&cluster)?;
    }
    ensure!(
        status.success(),
        "the campaign failed or found violations ({status})"
    );
    Ok(())
}
