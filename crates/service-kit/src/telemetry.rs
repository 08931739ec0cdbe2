//! Structured JSON logs with an `RUST_LOG`-style filter.

use tracing_subscriber::EnvFilter;

/// Installs the process-wide subscriber: JSON lines on stdout, filtered by `RUST_LOG`
/// (default `info`). A second call (several services in one test process) is a no-op.
pub fn init(service: &'static str) {
    // The metrics recorder first, so nothing recorded while the service is built is lost.
    crate::metrics::handle();
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let installed = tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(true)
        .with_env_filter(filter)
        .try_init()
        .is_ok();
    if installed {
        tracing::info!(
            service,
            version = env!("CARGO_PKG_VERSION"),
            "telemetry initialised"
        );
    }
}
