//! The `main` every service shares: `--help`, `--version`, `migrate`, settings, logs, signals,
//! run.

use std::future::Future;

use anyhow::Context;
use tokio_util::sync::CancellationToken;

/// Runs a service binary: answers `--help` and `--version`, refuses other arguments with a
/// one-line error and exit code 2, then initialises logs and traces, loads the settings and runs
/// `serve` with a token that SIGTERM or SIGINT cancels; queued spans are exported before it returns.
/// A failure is printed as one line (`<name>: <error>: <cause>…`) and exits with code 1.
///
/// With the single argument `migrate` it runs `migrate` instead of `serve`: the service's
/// database schema is brought up to date and the process exits (a Kubernetes migration Job).
pub async fn run<S, L, M, MFut, F, Fut>(
    name: &'static str,
    version: &str,
    help: &str,
    load: L,
    migrate: M,
    serve: F,
) -> anyhow::Result<()>
where
    L: FnOnce() -> Result<S, config::ConfigError>,
    M: FnOnce(S) -> MFut,
    MFut: Future<Output = anyhow::Result<()>>,
    F: FnOnce(S, CancellationToken) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let mut args = std::env::args().skip(1);
    let first = args.next();
    if let (Some(_), Some(extra)) = (&first, args.next()) {
        eprintln!("{name}: unexpected argument {extra:?}; see --help");
        std::process::exit(2);
    }
    let migrating = match first.as_deref() {
        Some("-h" | "--help") => {
            println!("{help}");
            return Ok(());
        }
        Some("-V" | "--version") => {
            println!("{name} {version}");
            return Ok(());
        }
        Some("migrate") => true,
        Some(other) => {
            eprintln!("{name}: unexpected argument {other:?}; see --help");
            std::process::exit(2);
        }
        None => false,
    };
    let telemetry = crate::telemetry::init(name);
    let result = match load().context("loading settings") {
        Err(error) => Err(error),
        Ok(settings) if migrating => {
            let result = migrate(settings).await.context("migrating the database");
            if result.is_ok() {
                tracing::info!("{name}: the database schema is up to date");
            }
            result
        }
        Ok(settings) => serve(settings, crate::shutdown::on_signal()).await,
    };
    telemetry.shutdown().await;
    if let Err(error) = result {
        // One line with every cause, not a multi-line report with a backtrace.
        eprintln!("{name}: {error:#}");
        std::process::exit(1);
    }
    Ok(())
}
