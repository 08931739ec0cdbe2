//! saga-orchestrator's settings: defaults here, overridden by `SAGA_ORCHESTRATOR__…` variables.

use query_kit::{ProjectorSettings, ReadSettings};
use serde::Deserialize;
use service_kit::auth::AuthSettings;
use service_kit::settings::{DatabaseSettings, HttpSettings, KafkaSettings};

use crate::driver::SagaSettings;
use crate::resilience::DownstreamSettings;

/// Prefix of the service's environment variables.
pub const ENV_PREFIX: &str = "SAGA_ORCHESTRATOR";

/// Everything saga-orchestrator can be configured with.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    pub http: HttpSettings,
    /// Bearer tokens: the keys that sign them, issuer and audience.
    pub auth: AuthSettings,
    /// The saga log's own database.
    pub database: DatabaseSettings,
    /// The Orders event store, read to fill a gap when a parked event is retried.
    pub event_store: DatabaseSettings,
    pub kafka: KafkaSettings,
    /// Topic of the Order events.
    pub topic: String,
    pub projector: ProjectorSettings,
    /// Page sizes of `GET /sagas`.
    pub reads: ReadSettings,
    pub saga: SagaSettings,
    /// users-command: credit reservations and releases.
    pub users: DownstreamSettings,
    /// orders-command: approvals and rejections.
    pub orders: DownstreamSettings,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            http: HttpSettings {
                port: 5020,
                ..HttpSettings::default()
            },
            auth: AuthSettings::default(),
            database: DatabaseSettings {
                database_name: "saga".into(),
                ..DatabaseSettings::default()
            },
            event_store: DatabaseSettings {
                database_name: "orders_es".into(),
                max_connections: 2,
                migrate: false,
                ..DatabaseSettings::default()
            },
            kafka: KafkaSettings::default(),
            topic: "orders.events".into(),
            projector: ProjectorSettings::for_group("saga-orchestrator"),
            reads: ReadSettings::default(),
            saga: SagaSettings::default(),
            users: DownstreamSettings::new("http://127.0.0.1:5001"),
            orders: DownstreamSettings::new("http://127.0.0.1:5002"),
        }
    }
}

impl Settings {
    /// Defaults overridden by `SAGA_ORCHESTRATOR_CONFIG` (a TOML file) and the environment.
    pub fn load() -> Result<Self, config::ConfigError> {
        service_kit::settings::load(ENV_PREFIX)
    }
}
