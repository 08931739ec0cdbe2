//! One query service, whichever bounded context it reads: a context names itself, its
//! projection and its query routes ([`QueryContext`]); settings, start-up, `migrate`, `--help`
//! and `main` come from here.

use std::marker::PhantomData;

use actix_web::web;
use projector::Projection;
use serde::Deserialize;
use service_kit::auth::AuthSettings;
use service_kit::retention::RetentionSettings;
use service_kit::settings::{DatabaseSettings, HttpSettings, KafkaSettings};
use settings_doc::SettingsDoc;
use tokio_util::sync::CancellationToken;

use crate::{ProjectorSettings, QueryService, ReadSettings, ReadSide, ReadSideSettings};

/// What a bounded context brings to its query service.
pub trait QueryContext: Send + Sync + 'static {
    /// The read model its projector keeps.
    type Projection: Projection;

    /// The binary's name, e.g. `users-query`.
    const SERVICE: &'static str;
    /// What it is, for `--help`: `the read side of …`.
    const SUMMARY: &'static str;
    /// Its query endpoints, for `--help` (the `/admin` ones are added).
    const ENDPOINTS: &'static str;
    /// Prefix of its environment variables, e.g. `USERS_QUERY`.
    const ENV_PREFIX: &'static str;
    /// Default port.
    const PORT: u16;
    /// Default database of the read model.
    const DATABASE: &'static str;
    /// Default database of the context's event store (rebuilds, filling gaps on retry).
    const EVENT_STORE: &'static str;
    /// Default topic consumed.
    const TOPIC: &'static str;
    /// Default consumer group, shared by every instance.
    const GROUP: &'static str;
    /// `aggregate_type` of the stored events the projection is built from.
    const AGGREGATE_TYPE: &'static str;

    /// The read model; `event_store` is the pool of the context's event store (shared with
    /// rebuilds and retries), for a projection that opens sealed personal data with its
    /// subjects' keys (ADR 0018).
    fn projection(event_store: &sqlx::PgPool) -> Self::Projection;

    /// The OpenAPI document of its query routes (the admin routes are merged in).
    fn openapi() -> utoipa::openapi::OpenApi;

    /// Mounts its query routes; they find `web::Data<Reads>` in the app data.
    fn routes(config: &mut web::ServiceConfig);
}

/// Everything a query service can be configured with; the defaults come from `C`.
#[derive(Debug, Clone, Deserialize, serde::Serialize, SettingsDoc)]
#[serde(deny_unknown_fields, bound = "")]
pub struct QuerySettings<C> {
    #[setting(section)]
    pub http: HttpSettings,
    /// Bearer tokens: the keys that sign them, issuer and audience.
    #[setting(section)]
    pub auth: AuthSettings,
    /// The read model's own database.
    #[setting(section)]
    pub database: DatabaseSettings,
    /// The context's event store, read by rebuilds and to fill gaps on retry.
    #[setting(section)]
    pub event_store: DatabaseSettings,
    #[setting(section)]
    pub kafka: KafkaSettings,
    /// Topic the projector consumes.
    pub topic: String,
    /// The projector running in this process.
    #[setting(section)]
    pub projector: ProjectorSettings,
    /// Limits of the query endpoints.
    #[setting(section)]
    pub reads: ReadSettings,
    /// Purging skipped parked events (parked_events_hours; the other keep times are other
    /// services').
    #[setting(section)]
    pub retention: RetentionSettings,
    #[serde(skip)]
    context: PhantomData<fn() -> C>,
}

impl<C: QueryContext> Default for QuerySettings<C> {
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
            event_store: DatabaseSettings {
                database_name: C::EVENT_STORE.into(),
                max_connections: 4,
                migrate: false,
                ..DatabaseSettings::default()
            },
            kafka: KafkaSettings::default(),
            topic: C::TOPIC.into(),
            projector: ProjectorSettings::for_group(C::GROUP),
            reads: ReadSettings::default(),
            retention: RetentionSettings::default(),
            context: PhantomData,
        }
    }
}

impl<C: QueryContext> QuerySettings<C> {
    /// Defaults overridden by `<PREFIX>_CONFIG` (a TOML file) and `<PREFIX>__…` variables.
    pub fn load() -> Result<Self, config::ConfigError> {
        service_kit::settings::load(C::ENV_PREFIX)
    }

    /// `--help`: what the service is and every setting with its default.
    pub fn help() -> String {
        service_kit::help::Help {
            name: C::SERVICE,
            summary: C::SUMMARY,
            env_prefix: C::ENV_PREFIX,
            migrates: Some("the read model's schema"),
            endpoints: &format!(
                "{}, /admin/projection, /admin/parked, /admin/rebuild",
                C::ENDPOINTS
            ),
            stops_after: "the projector's current batch",
        }
        .render(&Self::default(), &Self::setting_docs())
    }
}

/// The query service of context `C`.
pub struct QueryApp<C>(PhantomData<C>);

impl<C: QueryContext> QueryApp<C> {
    /// Creates or upgrades the read model's schema and returns (`<service> migrate`).
    pub async fn migrate(settings: QuerySettings<C>) -> anyhow::Result<()> {
        let event_store = settings.event_store.pool();
        crate::migrate(&settings.database, &C::projection(&event_store)).await
    }

    /// Creates the read model's schema if needed, starts the projector and binds the port;
    /// the service stops when `cancel` is cancelled.
    pub async fn build(
        settings: QuerySettings<C>,
        cancel: CancellationToken,
    ) -> anyhow::Result<QueryService> {
        let event_store = settings.event_store.pool();
        let mut read_side = ReadSide::start(
            ReadSideSettings {
                database: &settings.database,
                event_store: event_store.clone(),
                kafka: &settings.kafka,
                topic: &settings.topic,
                projector: &settings.projector,
                reads: &settings.reads,
                aggregate_type: C::AGGREGATE_TYPE,
            },
            C::projection(&event_store),
            &cancel,
        )
        .await?;
        read_side.retain(&settings.retention, Vec::new(), &cancel);
        let service = read_side
            .serve(
                &settings.http,
                &settings.auth,
                C::openapi(),
                C::routes,
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
            &QuerySettings::<C>::help(),
            QuerySettings::<C>::load,
            Self::migrate,
            Self::build,
        )
        .await
    }
}
