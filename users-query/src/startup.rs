//! Wiring: builds the service from its settings and runs it until shutdown.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::web;
use anyhow::Context;
use projector::{AppliedWatch, Projector};
use service_kit::health::Readiness;
use service_kit::http::{self, Background};
use tokio_util::sync::CancellationToken;
use utoipa::OpenApi;

use crate::projection::{SCHEMA, UsersView};
use crate::routes::admin::AdminState;
use crate::routes::users::QueryState;
use crate::routes::{self, ApiDoc};
use crate::settings::Settings;

/// Time background tasks get to finish after the HTTP server stopped.
const DRAIN: Duration = Duration::from_secs(10);

/// A built users-query: bound to its port, not yet serving.
pub struct Application {
    port: u16,
    server: Server,
    background: Vec<Background>,
    cancel: CancellationToken,
    stats: Option<Arc<projector::ProjectorStats>>,
}

impl Application {
    /// Creates the read model's schema if needed, starts the projector and binds the port.
    /// Stops when `cancel` is cancelled.
    pub async fn build(settings: Settings, cancel: CancellationToken) -> anyhow::Result<Self> {
        let options = settings
            .database
            .connect_options()
            .options([("search_path", SCHEMA)]);
        let pool = settings.database.pool_with(options);
        projector::ensure_schema(&pool, &UsersView)
            .await
            .context("creating the users read model")?;
        let event_store = settings.event_store.pool();
        let admin = Arc::new(
            service_kit::kafka::admin(&settings.kafka.brokers)
                .context("creating a Kafka admin client")?,
        );

        let mut background = Vec::new();
        let mut stats = None;
        if settings.projector.enabled {
            let config = settings
                .projector
                .config(&settings.kafka, &settings.topic)
                .map_err(anyhow::Error::msg)?;
            let projector = Projector::new(pool.clone(), Arc::new(UsersView), config);
            stats = Some(projector.stats());
            let token = cancel.child_token();
            background.push(Background {
                name: "projector",
                task: tokio::spawn(async move { projector.run(token).await.map_err(Into::into) }),
            });
        }

        let queries = web::Data::new(QueryState {
            pool: pool.clone(),
            watch: AppliedWatch::start(pool.clone(), SCHEMA.to_owned(), cancel.child_token()),
            limits: settings.reads.clone(),
        });
        let admin_state = web::Data::new(AdminState {
            read_model: pool.clone(),
            event_store,
            rebuild: Arc::new(Mutex::new(Default::default())),
            cancel: cancel.child_token(),
        });
        let readiness = Readiness {
            database: pool,
            broker: Some(admin),
        };
        let (server, port) = http::server(
            &settings.http,
            readiness,
            ApiDoc::openapi(),
            move |config| {
                config
                    .app_data(queries.clone())
                    .app_data(admin_state.clone());
                routes::users::configure(config);
                routes::admin::configure(config);
            },
        )
        .context("binding the HTTP port")?;
        tracing::info!(port, "users-query listening");
        Ok(Self {
            port,
            server,
            background,
            cancel,
            stats,
        })
    }

    /// The port the service listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The projector's counters, when it runs in this instance.
    pub fn projector_stats(&self) -> Option<Arc<projector::ProjectorStats>> {
        self.stats.clone()
    }

    /// Serves until the token is cancelled (or the server fails), then drains.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        http::run_until_stopped(self.server, self.background, self.cancel, DRAIN).await
    }
}
