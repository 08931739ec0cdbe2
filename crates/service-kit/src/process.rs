//! The `main` every service shares: `--help`, `--version`, settings, logs, signals, run.

use std::future::Future;

use anyhow::Context;
use tokio_util::sync::CancellationToken;

/// Runs a service binary: answers `--help` and `--version`, refuses other arguments with a
/// one-line error and exit code 2, then initialises logs and traces, loads the settings and runs
/// `serve` with a token that SIGTERM or SIGINT cancels; queued spans are exported before it returns.
pub async fn run<S, L, F, Fut>(
    name: &'static str,
    version: &str,
    help: &str,
    load: L,
    serve: F,
) -> anyhow::Result<()>
where
    L: FnOnce() -> Result<S, config::ConfigError>,
    F: FnOnce(S, CancellationToken) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    match std::env::args().nth(1).as_deref() {
        Some("-h" | "--help") => {
            println!("{help}");
            return Ok(());
        }
        Some("-V" | "--version") => {
            println!("{name} {version}");
            return Ok(());
        }
        Some(other) => {
            eprintln!("{name}: unexpected argument {other:?}; see --help");
            std::process::exit(2);
        }
        None => {}
    }
    let telemetry = crate::telemetry::init(name);
    let settings = load().context("loading settings")?;
    let result = serve(settings, crate::shutdown::on_signal()).await;
    telemetry.shutdown().await;
    result
}
