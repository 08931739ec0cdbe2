//! The `[relay]` section of a command service's settings.

use std::time::Duration;

use serde::Deserialize;

/// The in-process outbox relay.
#[derive(Debug, Clone, Deserialize, serde::Serialize, settings_doc::SettingsDoc)]
#[serde(default, deny_unknown_fields)]
pub struct RelaySettings {
    /// Run the relay in this process.
    pub enabled: bool,
    /// Rows published per transaction.
    pub batch_size: i64,
    /// Milliseconds between sweeps of every partition (notifications wake it sooner).
    pub sweep_interval_ms: u64,
    /// Outbox partitions relayed at once (a database connection each; 4 drains a backlog about
    /// a third faster than 1).
    pub concurrency: usize,
    /// Times the broker may refuse a row (too large, invalid) before it is set aside with the
    /// later rows of its aggregate, so other aggregates keep flowing; `esctl outbox` lists,
    /// retries and skips set-aside rows.
    pub max_attempts: i32,
    /// Fault injection for tests (`pause-after-ack`, or `drop-every-<n>`: a broken relay that
    /// deletes every n-th row unpublished); never set in production.
    pub failpoint: Option<String>,
}

impl Default for RelaySettings {
    fn default() -> Self {
        Self {
            enabled: true,
            batch_size: 500,
            sweep_interval_ms: 5_000,
            concurrency: 1,
            max_attempts: 5,
            failpoint: None,
        }
    }
}

impl RelaySettings {
    /// The relay configuration these settings describe.
    pub fn config(&self) -> Result<outbox_relay::RelayConfig, String> {
        Ok(outbox_relay::RelayConfig {
            batch_size: self.batch_size.max(1),
            sweep_interval: Duration::from_millis(self.sweep_interval_ms.max(10)),
            concurrency: self.concurrency.clamp(1, 16),
            max_attempts: self.max_attempts.max(1),
            failpoint: self.failpoint.as_deref().map(str::parse).transpose()?,
            ..outbox_relay::RelayConfig::default()
        })
    }
}
