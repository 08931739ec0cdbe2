//! The gateway's settings: defaults here, overridden by `GATEWAY__…` variables.

use std::path::PathBuf;

use serde::Deserialize;
use service_kit::auth::AuthSettings;
use service_kit::settings::{HttpSettings, KafkaSettings};

/// Prefix of the gateway's environment variables.
pub const ENV_PREFIX: &str = "GATEWAY";

/// Everything the gateway can be configured with.
#[derive(Debug, Clone, Deserialize, serde::Serialize, settings_doc::SettingsDoc)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    #[setting(section)]
    pub http: HttpSettings,
    /// Bearer tokens: the keys that sign them, issuer and audience. The gateway checks each
    /// token and passes it on unchanged; the services decide what it may do.
    #[setting(section)]
    pub auth: AuthSettings,
    /// The brokers whose topics, groups and records the console inspects.
    #[setting(section)]
    pub kafka: KafkaSettings,
    /// Where the five services answer.
    #[setting(section)]
    pub services: ServiceUrls,
    /// The topics and consumer groups of the two pipelines, as the services are set up.
    #[setting(section)]
    pub pipelines: PipelineSettings,
    #[setting(section)]
    pub graphql: GraphqlSettings,
    #[setting(section)]
    pub console: ConsoleSettings,
}

/// Names the health page follows each pipeline by.
#[derive(Debug, Clone, Deserialize, serde::Serialize, settings_doc::SettingsDoc)]
#[serde(default, deny_unknown_fields)]
pub struct PipelineSettings {
    /// The topic users-command's relay publishes to.
    pub users_topic: String,
    /// The topic orders-command's relay publishes to.
    pub orders_topic: String,
    /// users-query's consumer group.
    pub users_query_group: String,
    /// orders-query's consumer group.
    pub orders_query_group: String,
    /// saga-orchestrator's consumer group.
    pub saga_group: String,
}

impl Default for PipelineSettings {
    fn default() -> Self {
        Self {
            users_topic: "users.events".into(),
            orders_topic: "orders.events".into(),
            users_query_group: "users-query".into(),
            orders_query_group: "orders-query".into(),
            saga_group: "saga-orchestrator".into(),
        }
    }
}

/// Base URLs of the services, and how long the gateway waits for one.
#[derive(Debug, Clone, Deserialize, serde::Serialize, settings_doc::SettingsDoc)]
#[serde(default, deny_unknown_fields)]
pub struct ServiceUrls {
    /// users-command: user commands and event streams.
    pub users_command: String,
    /// orders-command: order commands and event streams.
    pub orders_command: String,
    /// users-query: the users read model.
    pub users_query: String,
    /// orders-query: the orders read model and order summaries.
    pub orders_query: String,
    /// saga-orchestrator: sagas and the saga log's projection.
    pub saga_orchestrator: String,
    /// Milliseconds a call to a service may take before the field fails as unavailable
    /// (reads with `min_version` wait up to this long too).
    pub timeout_ms: u64,
}

impl Default for ServiceUrls {
    fn default() -> Self {
        Self {
            users_command: "http://127.0.0.1:5001".into(),
            orders_command: "http://127.0.0.1:5002".into(),
            users_query: "http://127.0.0.1:5011".into(),
            orders_query: "http://127.0.0.1:5012".into(),
            saga_orchestrator: "http://127.0.0.1:5020".into(),
            timeout_ms: 10_000,
        }
    }
}

/// Limits on what one GraphQL request may ask, and the live health report's pace.
#[derive(Debug, Clone, Deserialize, serde::Serialize, settings_doc::SettingsDoc)]
#[serde(default, deny_unknown_fields)]
pub struct GraphqlSettings {
    /// Deepest selection a query may nest; deeper ones are refused before they run.
    pub max_depth: usize,
    /// Largest complexity (fields, with lists counted by their `first`) a query may have.
    pub max_complexity: usize,
    /// Milliseconds between two health reports (services, databases, brokers, pipelines).
    pub health_interval_ms: u64,
    /// Live tails (subscriptions to a topic's records) open at once; more are refused.
    pub max_tails: usize,
}

impl Default for GraphqlSettings {
    fn default() -> Self {
        Self {
            max_depth: 10,
            max_complexity: 1_000,
            health_interval_ms: 2_000,
            max_tails: 32,
        }
    }
}

/// The console's built files.
#[derive(Debug, Clone, Deserialize, serde::Serialize, settings_doc::SettingsDoc)]
#[serde(default, deny_unknown_fields)]
pub struct ConsoleSettings {
    /// Folder of the built console (`npm run build` in console/ writes console/dist); when it
    /// holds no index.html the gateway serves the API and says at / how to build it.
    pub dir: PathBuf,
}

impl Default for ConsoleSettings {
    fn default() -> Self {
        Self {
            dir: PathBuf::from("console/dist"),
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            http: HttpSettings {
                port: 5173,
                ..HttpSettings::default()
            },
            auth: AuthSettings::default(),
            kafka: KafkaSettings::default(),
            services: ServiceUrls::default(),
            pipelines: PipelineSettings::default(),
            graphql: GraphqlSettings::default(),
            console: ConsoleSettings::default(),
        }
    }
}

impl Settings {
    /// Defaults overridden by `GATEWAY_CONFIG` (a TOML file) and the environment.
    pub fn load() -> Result<Self, config::ConfigError> {
        service_kit::settings::load(ENV_PREFIX)
    }

    /// `--help`: what the gateway is and every setting with its default.
    pub fn help() -> String {
        service_kit::help::Help {
            name: "gateway",
            summary: "the web console's backend: a GraphQL API over the five services (reads \
                composed across them, commands passed on with the caller's own bearer token), \
                Kafka inspection through its own client (topics, watermarks, group lag, a live \
                tail decoded from the protobuf envelope) and live health of every service, \
                database, broker and pipeline. It holds no data and no privilege of its own; \
                it serves the built console at /.",
            env_prefix: ENV_PREFIX,
            migrates: None,
            endpoints: "POST /graphql (queries, mutations), GET /graphql/ws (subscriptions, \
                graphql-transport-ws; the token goes in connection_init's payload as \
                Authorization), GET /graphql/schema (the SDL), / (the console)",
            stops_after: "the requests under way; subscriptions end",
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
    }
}
