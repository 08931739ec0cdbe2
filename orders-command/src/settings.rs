//! orders-command's settings: defaults here, overridden by `ORDERS_COMMAND__…` variables.

use command_kit::RelaySettings;
use serde::Deserialize;
use service_kit::auth::AuthSettings;
use service_kit::settings::{DatabaseSettings, HttpSettings, KafkaSettings};

/// Prefix of the service's environment variables.
pub const ENV_PREFIX: &str = "ORDERS_COMMAND";

/// Everything orders-command can be configured with.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    pub http: HttpSettings,
    /// Bearer tokens: the keys that sign them, issuer and audience.
    pub auth: AuthSettings,
    pub database: DatabaseSettings,
    pub kafka: KafkaSettings,
    pub relay: RelaySettings,
    /// Topic the Order events are published to.
    pub topic: String,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            http: HttpSettings {
                port: 5002,
                ..HttpSettings::default()
            },
            auth: AuthSettings::default(),
            database: DatabaseSettings {
                database_name: "orders_es".into(),
                ..DatabaseSettings::default()
            },
            kafka: KafkaSettings::default(),
            relay: RelaySettings::default(),
            topic: "orders.events".into(),
        }
    }
}

impl Settings {
    /// Defaults overridden by `ORDERS_COMMAND_CONFIG` (a TOML file) and the environment.
    pub fn load() -> Result<Self, config::ConfigError> {
        service_kit::settings::load(ENV_PREFIX)
    }
}
