//! orders-query's settings: defaults here, overridden by `ORDERS_QUERY__…` variables.

use query_kit::{ProjectorSettings, ReadSettings};
use serde::Deserialize;
use service_kit::auth::AuthSettings;
use service_kit::settings::{DatabaseSettings, HttpSettings, KafkaSettings};

/// Prefix of the service's environment variables.
pub const ENV_PREFIX: &str = "ORDERS_QUERY";

/// Everything orders-query can be configured with.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    pub http: HttpSettings,
    /// Bearer tokens: the keys that sign them, issuer and audience.
    pub auth: AuthSettings,
    /// The read model's own database.
    pub database: DatabaseSettings,
    /// The Orders event store, read for rebuilds and to fill gaps on retry.
    pub event_store: DatabaseSettings,
    pub kafka: KafkaSettings,
    /// Topic of the Order events.
    pub topic: String,
    pub projector: ProjectorSettings,
    pub reads: ReadSettings,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            http: HttpSettings {
                port: 5012,
                ..HttpSettings::default()
            },
            auth: AuthSettings::default(),
            database: DatabaseSettings {
                database_name: "orders_read".into(),
                ..DatabaseSettings::default()
            },
            event_store: DatabaseSettings {
                database_name: "orders_es".into(),
                max_connections: 4,
                migrate: false,
                ..DatabaseSettings::default()
            },
            kafka: KafkaSettings::default(),
            topic: "orders.events".into(),
            projector: ProjectorSettings::for_group("orders-query"),
            reads: ReadSettings::default(),
        }
    }
}

impl Settings {
    /// Defaults overridden by `ORDERS_QUERY_CONFIG` (a TOML file) and the environment.
    pub fn load() -> Result<Self, config::ConfigError> {
        service_kit::settings::load(ENV_PREFIX)
    }
}
