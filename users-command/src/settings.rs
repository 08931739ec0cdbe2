//! users-command's settings: defaults here, overridden by `USERS_COMMAND__…` variables.

use command_kit::RelaySettings;
use serde::Deserialize;
use service_kit::auth::AuthSettings;
use service_kit::settings::{DatabaseSettings, HttpSettings, KafkaSettings};

/// Prefix of the service's environment variables.
pub const ENV_PREFIX: &str = "USERS_COMMAND";

/// Everything users-command can be configured with.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    pub http: HttpSettings,
    /// Bearer tokens: the keys that sign them, issuer and audience.
    pub auth: AuthSettings,
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
            auth: AuthSettings::default(),
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
