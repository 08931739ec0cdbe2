//! saga-orchestrator's settings: defaults here, overridden by `SAGA_ORCHESTRATOR__…` variables.

use query_kit::{ProjectorSettings, ReadSettings};
use serde::Deserialize;
use service_kit::auth::AuthSettings;
use service_kit::retention::RetentionSettings;
use service_kit::settings::{DatabaseSettings, HttpSettings, KafkaSettings};

use crate::driver::SagaSettings;
use crate::resilience::DownstreamSettings;

/// Prefix of the service's environment variables.
pub const ENV_PREFIX: &str = "SAGA_ORCHESTRATOR";

/// Everything saga-orchestrator can be configured with.
#[derive(Debug, Clone, Deserialize, serde::Serialize, settings_doc::SettingsDoc)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    #[setting(section)]
    pub http: HttpSettings,
    /// Bearer tokens: the keys that sign them, issuer and audience.
    #[setting(section)]
    pub auth: AuthSettings,
    /// The saga log's own database.
    #[setting(section)]
    pub database: DatabaseSettings,
    /// The Orders event store, read to fill a gap when a parked event is retried.
    #[setting(section)]
    pub event_store: DatabaseSettings,
    #[setting(section)]
    pub kafka: KafkaSettings,
    /// Topic of the Order events.
    pub topic: String,
    #[setting(section)]
    pub projector: ProjectorSettings,
    /// Page sizes of `GET /sagas`.
    #[setting(section)]
    pub reads: ReadSettings,
    #[setting(section)]
    pub saga: SagaSettings,
    /// users-command: credit reservations and releases.
    #[setting(section)]
    pub users: DownstreamSettings,
    /// orders-command: approvals and rejections.
    #[setting(section)]
    pub orders: DownstreamSettings,
    /// Purging finished sagas and skipped parked events (sagas_hours, parked_events_hours;
    /// idempotency_keys_hours is the command services').
    #[setting(section)]
    pub retention: RetentionSettings,
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
            retention: RetentionSettings::default(),
        }
    }
}

impl Settings {
    /// Defaults overridden by `SAGA_ORCHESTRATOR_CONFIG` (a TOML file) and the environment.
    pub fn load() -> Result<Self, config::ConfigError> {
        service_kit::settings::load(ENV_PREFIX)
    }

    /// `--help`: what the service is and every setting with its default.
    pub fn help() -> String {
        service_kit::help::Help {
            name: "saga-orchestrator",
            summary: "drives each order to a decision. On OrderPlaced it reserves the order's \
                total on the user (users-command), then approves the order, or rejects it with \
                the refusal's reason (orders-command); past the deadline it rejects the order as \
                timed out and releases any reservation. On OrderCancelled it releases the \
                order's credit. Saga state lives in its own database and survives restarts; \
                every call carries an idempotency key, and a step cut short by a stop runs again \
                on restart.",
            env_prefix: ENV_PREFIX,
            migrates: Some("the saga log's schema"),
            endpoints: "GET /sagas/{id}, GET /sagas?state=&kind=&order_id=&limit=&cursor= \
                (newest first), /admin/projection, /admin/parked",
            stops_after: "the steps under way",
        }
        .render(&Self::default(), &Self::setting_docs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_setting_has_a_text_in_help() {
        let undocumented =
            service_kit::help::undocumented(&Settings::default(), &Settings::setting_docs());
        assert!(
            undocumented.is_empty(),
            "settings without a doc comment: {undocumented:?}"
        );
        let help = Settings::help();
        assert!(help.contains("  SAGA_ORCHESTRATOR__USERS__URL=http://127.0.0.1:5001"));
        assert!(help.contains("  SAGA_ORCHESTRATOR__SAGA__DEADLINE_MS=30000"));
    }
}
