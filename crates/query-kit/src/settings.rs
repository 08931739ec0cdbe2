//! The `[projector]` and `[reads]` sections of a query service's settings.

use std::time::Duration;

use serde::Deserialize;
use service_kit::settings::KafkaSettings;

/// The in-process projector.
#[derive(Debug, Clone, Deserialize, serde::Serialize, settings_doc::SettingsDoc)]
#[serde(default, deny_unknown_fields)]
pub struct ProjectorSettings {
    /// Run the projector in this process.
    pub enabled: bool,
    /// Consumer group shared by every instance of the service.
    pub group_id: String,
    /// Most events applied per transaction.
    pub batch_size: usize,
    /// Attempts to apply an event before it is parked.
    pub apply_attempts: u32,
    /// Milliseconds an aggregate waits for a missing sequence before it is parked.
    pub gap_timeout_ms: u64,
    /// Longest milliseconds the broker may hold an empty fetch (Kafka's fetch.wait.max.ms).
    /// Kafka answers as soon as a record arrives, so this only sets how often an idle
    /// consumer asks, not how soon it sees a new event.
    pub fetch_wait_ms: u64,
    /// Fault injection for tests (`pause-after-commit`, or `apply-twice-every-<n>`: a broken
    /// projector that applies every n-th event twice); never set in production.
    pub failpoint: Option<String>,
}

impl Default for ProjectorSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            group_id: String::new(),
            batch_size: 256,
            apply_attempts: 3,
            gap_timeout_ms: 30_000,
            fetch_wait_ms: 500,
            failpoint: None,
        }
    }
}

impl ProjectorSettings {
    /// The defaults, consuming as `group_id`.
    pub fn for_group(group_id: &str) -> Self {
        Self {
            group_id: group_id.to_owned(),
            ..Self::default()
        }
    }

    /// The projector configuration these settings describe.
    pub fn config(
        &self,
        kafka: &KafkaSettings,
        topic: &str,
    ) -> Result<projector::ProjectorConfig, String> {
        if self.group_id.trim().is_empty() {
            return Err("projector.group_id must not be empty".into());
        }
        let mut config = projector::ProjectorConfig::new(kafka.clone(), topic, &self.group_id);
        config.batch_size = self.batch_size.max(1);
        config.apply_attempts = self.apply_attempts.max(1);
        config.gap_timeout = Duration::from_millis(self.gap_timeout_ms);
        config.housekeeping_interval = Duration::from_millis(self.gap_timeout_ms.clamp(100, 1_000));
        config.fetch_wait = Duration::from_millis(self.fetch_wait_ms.clamp(1, 5_000));
        config.failpoint = self.failpoint.as_deref().map(str::parse).transpose()?;
        Ok(config)
    }
}

/// Limits of the query endpoints.
#[derive(Debug, Clone, Deserialize, serde::Serialize, settings_doc::SettingsDoc)]
#[serde(default, deny_unknown_fields)]
pub struct ReadSettings {
    /// How long `min_version` waits when `wait_ms` is not given.
    pub default_wait_ms: u64,
    /// The longest `wait_ms` accepted.
    pub max_wait_ms: u64,
    /// Page size when `limit` is not given.
    pub default_limit: i64,
    /// Larger `limit`s are capped to this.
    pub max_limit: i64,
}

impl Default for ReadSettings {
    fn default() -> Self {
        Self {
            default_wait_ms: 2_000,
            max_wait_ms: 10_000,
            default_limit: 50,
            max_limit: 200,
        }
    }
}
