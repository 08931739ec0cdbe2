//! users-command's settings: defaults here, overridden by `USERS_COMMAND__…` variables.

use std::time::Duration;

use serde::Deserialize;
use service_kit::settings::{DatabaseSettings, HttpSettings, KafkaSettings};

/// Prefix of the service's environment variables.
pub const ENV_PREFIX: &str = "USERS_COMMAND";

/// Everything users-command can be configured with.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    pub http: HttpSettings,
    pub database: DatabaseSettings,
    pub kafka: KafkaSettings,
    pub relay: RelaySettings,
    /// Topic the User events are published to.
    pub topic: String,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            http: HttpSettings {
                port: 5001,
                ..HttpSettings::default()
            },
            database: DatabaseSettings {
                database_name: "users_es".into(),
                ..DatabaseSettings::default()
            },
            kafka: KafkaSettings::default(),
            relay: RelaySettings::default(),
            topic: "users.events".into(),
        }
    }
}

impl Settings {
    /// Defaults overridden by `USERS_COMMAND_CONFIG` (a TOML file) and the environment.
    pub fn load() -> Result<Self, config::ConfigError> {
        service_kit::settings::load(ENV_PREFIX)
    }
}

/// The in-process outbox relay.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RelaySettings {
    /// Run the relay in this process.
    pub enabled: bool,
    /// Rows published per transaction.
    pub batch_size: i64,
    /// Milliseconds between sweeps of every partition (notifications wake it sooner).
    pub sweep_interval_ms: u64,
    /// Fault injection for crash tests (`pause-after-ack`); never set in production.
    pub failpoint: Option<String>,
}

impl Default for RelaySettings {
    fn default() -> Self {
        Self {
            enabled: true,
            batch_size: 500,
            sweep_interval_ms: 5_000,
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
            failpoint: self.failpoint.as_deref().map(str::parse).transpose()?,
            ..outbox_relay::RelayConfig::default()
        })
    }
}
