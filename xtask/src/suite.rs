//! `cargo xtask test`: the whole suite on a machine that may have nothing yet: formatting and
//! lints, the tools the tests call, Postgres, a Kafka node of the suite's own, then nextest.

use std::process::Command;

use anyhow::Result;
use test_support::kafka;

use crate::stack::{
    drop_test_databases, ensure_postgres, root, run, start_test_kafka, state_dir, step,
    stop_postgres,
};
use crate::tools;

/// `cargo xtask test`: prepares Postgres and Kafka, runs every test, stops what it started.
pub fn test(lints: bool, args: &[String]) -> Result<()> {
    if lints {
        check_lints()?;
    }
    // The validators of deploy/ first: nothing is running yet if installing them fails.
    tools::ensure_promtool()?;
    let kubernetes_validate = tools::ensure_kubernetes_validate()?;
    let postgres = ensure_postgres()?;
    drop_test_databases(postgres.port)?;
    tools::ensure_nextest()?;
    // The browser tests (gateway/tests/console.rs) serve console/dist and drive Chromium.
    crate::console::build()?;
    crate::console::unit_tests()?;
    let chromium = crate::console::ensure_chromium()?;
    let installation = kafka::Installation::ensure(step)?;
    let kafka = start_test_kafka(&installation)?;
    let mut command = Command::new("cargo");
    command.args(["nextest", "run", "--no-fail-fast"]);
    // `--workspace` beside `-p` would select every member again.
    if !args
        .iter()
        .any(|arg| arg == "-p" || arg.starts_with("--package") || arg.starts_with("-p"))
    {
        command.arg("--workspace");
    }
    postgres
        .test_env(command.args(args).current_dir(root()), &installation)
        .env("TEST_KAFKA_BROKERS", kafka.bootstrap())
        // Where the suite's broker keeps its log segments, for tests that search them.
        .env("TEST_KAFKA_DATA", state_dir()?.join("test-kafka"))
        .env("KUBERNETES_VALIDATE", kubernetes_validate)
        .env("TEST_CHROMIUM", chromium);
    step("running the test suite");
    let result = run(&mut command);
    drop(kafka);
    let _ = std::fs::remove_dir_all(state_dir()?.join("test-kafka"));
    if let Some(cluster) = postgres.started {
        stop_postgres(&cluster)?;
    }
    result
}

/// `cargo fmt --check` and clippy with warnings denied, over the whole workspace.
fn check_lints() -> Result<()> {
    step("checking formatting and lints");
    run(Command::new("cargo")
        .args(["fmt", "--all", "--", "--check"])
        .current_dir(root()))?;
    run(Command::new("cargo")
        .args([
            "clippy",
            "--workspace",
            "--all-targets",
            "--quiet",
            "--",
            "-D",
            "warnings",
        ])
        .current_dir(root()))?;
    Ok(())
}
