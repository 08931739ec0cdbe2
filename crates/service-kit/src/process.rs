//! The `main` every service shares: `--help`, `--version`, `migrate`, settings, logs, signals,
//! run.

use std::future::Future;

use anyhow::Context;
use tokio_util::sync::CancellationToken;

/// Runs a service binary: answers `--help` and `--version`, refuses other arguments with a
/// one-line error and exit code 2, then initialises logs and traces, loads the settings, builds
/// the service with `build` and a token that SIGTERM or SIGINT cancels, and runs it until it
/// stops; queued spans are exported before it returns.
/// A failure is printed as one line (`<name>: <error>: <cause>…`) and exits with code 1.
///
/// With the single argument `migrate` it runs `migrate` instead of `serve`: the service's
/// database schema is brought up to date and the process exits (a Kubernetes migration Job).
pub async fn run<S, L, M, MFut, B, BFut, R>(
    name: &'static str,
    version: &str,
    help: &str,
    load: L,
    migrate: M,
    build: B,
) -> anyhow::Result<()>
where
    L: FnOnce() -> Result<S, config::ConfigError>,
    M: FnOnce(S) -> MFut,
    MFut: Future<Output = anyhow::Result<()>>,
    B: FnOnce(S, CancellationToken) -> BFut,
    BFut: Future<Output = anyhow::Result<R>>,
    R: Running,
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
        Ok(settings) => match build(settings, crate::shutdown::on_signal()).await {
            Ok(service) => service.run_until_stopped().await,
            Err(error) => Err(error),
        },
    };
    telemetry.shutdown().await;
    if let Err(error) = result {
        // One line with every cause, not a multi-line report with a backtrace.
        eprintln!("{name}: {error:#}");
        std::process::exit(1);
    }
    Ok(())
}

/// A built service that serves until its cancellation token is cancelled (or it fails).
pub trait Running {
    /// Serves, then drains; `Err` when the server or a background task failed.
    fn run_until_stopped(self) -> impl Future<Output = anyhow::Result<()>>;
}

impl Running for crate::http::Service {
    fn run_until_stopped(self) -> impl Future<Output = anyhow::Result<()>> {
        crate::http::Service::run_until_stopped(self)
    }
}
