//! One command service, whichever bounded context it serves: a context names itself, its
//! aggregate, its contract and its routes ([`CommandContext`]); settings, start-up, `migrate`,
//! `--help` and `main` come from here.

use std::marker::PhantomData;
use std::sync::Arc;

use actix_web::web;
use cqrs_es::Aggregate;
use event_store::{CommandBus, CommandError, EventContract};
use serde::Deserialize;
use service_kit::Problem;
use service_kit::auth::AuthSettings;
use service_kit::http::Service;
use service_kit::retention::{self, RetentionSettings};
use service_kit::settings::{DatabaseSettings, HttpSettings, KafkaSettings};
use settings_doc::SettingsDoc;
use tokio_util::sync::CancellationToken;

use crate::{RelaySettings, WriteSide};

/// What a bounded context brings to its command service.
pub trait CommandContext: Send + Sync + 'static {
    /// The aggregate its commands run on.
    type Aggregate: Aggregate<Services = ()> + Clone + 'static;

    /// The binary's name, e.g. `users-command`.
    const SERVICE: &'static str;
    /// What it is, for `--help`: `the write side of …`.
    const SUMMARY: &'static str;
    /// Its endpoints, for `--help`.
    const ENDPOINTS: &'static str;
    /// Prefix of its environment variables, e.g. `USERS_COMMAND`.
    const ENV_PREFIX: &'static str;
    /// Default port.
    const PORT: u16;
    /// Default event store database.
    const DATABASE: &'static str;
    /// Default topic its events are published to.
    const TOPIC: &'static str;

    /// How its stored events look on the wire and what they claim, publishing to `topic`.
    fn contract(topic: &str) -> Arc<dyn EventContract>;

    /// A refused command as the problem its clients read.
    fn refused(error: CommandError<<Self::Aggregate as Aggregate>::Error>) -> Problem;

    /// The OpenAPI document of its routes.
    fn openapi() -> utoipa::openapi::OpenApi;

    /// Mounts its routes; they find a [`CommandState<Self>`] in the app data.
    fn routes(config: &mut web::ServiceConfig);
}

/// Everything a command service can be configured with; the defaults come from `C`.
#[derive(Debug, Clone, Deserialize, serde::Serialize, SettingsDoc)]
#[serde(deny_unknown_fields, bound = "")]
pub struct CommandSettings<C> {
    #[setting(section)]
    pub http: HttpSettings,
    /// Bearer tokens: the keys that sign them, issuer and audience.
    #[setting(section)]
    pub auth: AuthSettings,
    /// The event store.
    #[setting(section)]
    pub database: DatabaseSettings,
    #[setting(section)]
    pub kafka: KafkaSettings,
    /// The outbox relay running in this process.
    #[setting(section)]
    pub relay: RelaySettings,
    /// Topic the events are published to.
    pub topic: String,
    /// Purging idempotency keys (idempotency_keys_hours; the other keep times are other
    /// services').
    #[setting(section)]
    pub retention: RetentionSettings,
    /// The other context's services, read by users-command's data-subject export.
    #[setting(section)]
    pub peers: PeerSettings,
    #[serde(skip)]
    context: PhantomData<fn() -> C>,
}

impl<C: CommandContext> Default for CommandSettings<C> {
    fn default() -> Self {
        Self {
            http: HttpSettings {
                port: C::PORT,
                ..HttpSettings::default()
            },
            auth: AuthSettings::default(),
            database: DatabaseSettings {
                database_name: C::DATABASE.into(),
                ..DatabaseSettings::default()
            },
            kafka: KafkaSettings::default(),
            relay: RelaySettings::default(),
            topic: C::TOPIC.into(),
            retention: RetentionSettings::default(),
            peers: PeerSettings::default(),
            context: PhantomData,
        }
    }
}

impl<C: CommandContext> CommandSettings<C> {
    /// Defaults overridden by `<PREFIX>_CONFIG` (a TOML file) and `<PREFIX>__…` variables.
    pub fn load() -> Result<Self, config::ConfigError> {
        service_kit::settings::load(C::ENV_PREFIX)
    }

    /// `--help`: what the service is and every setting with its default.
    pub fn help() -> String {
        let endpoints = format!(
            "{}, GET /admin/correlations/{{id}} (the events one request caused)",
            C::ENDPOINTS
        );
        service_kit::help::Help {
            name: C::SERVICE,
            summary: C::SUMMARY,
            env_prefix: C::ENV_PREFIX,
            migrates: Some("the event store's tables"),
            endpoints: &endpoints,
            stops_after: "the relay's current batch",
        }
        .render(&Self::default(), &Self::setting_docs())
    }
}

/// Where the Orders context's read side is: users-command's `GET /users/{id}/export` lists the
/// subject's orders and their sagas there, with the caller's own token.
#[derive(Debug, Clone, Deserialize, serde::Serialize, SettingsDoc)]
#[serde(default, deny_unknown_fields)]
pub struct PeerSettings {
    /// orders-query's base URL.
    pub orders_query_url: String,
    /// saga-orchestrator's base URL.
    pub saga_url: String,
    /// Milliseconds one call may take.
    pub timeout_ms: u64,
}

impl Default for PeerSettings {
    fn default() -> Self {
        Self {
            orders_query_url: "http://127.0.0.1:5012".into(),
            saga_url: "http://127.0.0.1:5020".into(),
            timeout_ms: 5_000,
        }
    }
}

/// What the routes of context `C` share.
pub struct CommandState<C: CommandContext> {
    /// Runs the context's commands against the event store.
    pub bus: CommandBus<C::Aggregate>,
    /// The event store's pool, for reading streams.
    pub pool: sqlx::PgPool,
}

/// The command service of context `C`.
pub struct CommandApp<C>(PhantomData<C>);

impl<C: CommandContext> CommandApp<C> {
    /// Brings the event store's tables up to date and returns (`<service> migrate`).
    pub async fn migrate(settings: CommandSettings<C>) -> anyhow::Result<()> {
        crate::migrate(&settings.database).await
    }

    /// Connects, migrates, starts the relay and binds the port; the service stops when
    /// `cancel` is cancelled.
    pub async fn build(
        settings: CommandSettings<C>,
        cancel: CancellationToken,
    ) -> anyhow::Result<Service> {
        let mut write = WriteSide::start(
            &settings.database,
            &settings.kafka,
            &settings.relay,
            &settings.topic,
            &cancel,
        )
        .await?;
        write.background.extend(retention::spawn(
            write.pool.clone(),
            vec![crate::idempotency_keys_purge(retention::hours(
                settings.retention.idempotency_keys_hours,
            ))],
            &settings.retention,
            cancel.child_token(),
        ));
        let state = web::Data::new(CommandState::<C> {
            bus: CommandBus::new(write.pool.clone(), C::contract(&settings.topic), ()),
            pool: write.pool.clone(),
        });
        let peers = web::Data::new(settings.peers.clone());
        let correlations = crate::correlations::configure(write.pool.clone());
        let mut openapi = C::openapi();
        openapi.merge(<crate::correlations::CorrelationsApi as utoipa::OpenApi>::openapi());
        let service = Service::bind(
            &settings.http,
            &settings.auth,
            write.readiness(),
            openapi,
            move |config| {
                config.app_data(state.clone()).app_data(peers.clone());
                C::routes(config);
                correlations(config);
            },
            write.background,
            cancel,
        )
        .await?;
        tracing::info!(port = service.port(), "{} listening", C::SERVICE);
        Ok(service)
    }

    /// The binary's `main`: `--help`, `--version`, `migrate`, or serve until a signal.
    pub async fn main(version: &str) -> anyhow::Result<()> {
        service_kit::process::run(
            C::SERVICE,
            version,
            &CommandSettings::<C>::help(),
            CommandSettings::<C>::load,
            Self::migrate,
            Self::build,
        )
        .await
    }
}
