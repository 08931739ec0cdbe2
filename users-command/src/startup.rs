//! Wiring: builds the service from its settings and runs it until shutdown.

use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::{App, HttpServer, web};
use anyhow::Context;
use event_store::CommandBus;
use outbox_relay::{ProducerSettings, Relay};
use service_kit::health::{self, Readiness};
use service_kit::http::{self, Background};
use service_kit::problem;
use tokio_util::sync::CancellationToken;
use utoipa::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

use crate::contract::UsersContract;
use crate::routes::{self, ApiDoc, users::UsersState};
use crate::settings::Settings;

/// Time background tasks get to finish after the HTTP server stopped.
const DRAIN: Duration = Duration::from_secs(10);

/// A built users-command: bound to its port, not yet serving.
pub struct Application {
    port: u16,
    server: Server,
    background: Vec<Background>,
    cancel: CancellationToken,
}

impl Application {
    /// Connects, migrates, makes sure the topic exists, and binds the port. Stops when
    /// `cancel` is cancelled.
    pub async fn build(settings: Settings, cancel: CancellationToken) -> anyhow::Result<Self> {
        let pool = settings.database.pool();
        if settings.database.migrate {
            event_store::MIGRATOR
                .run(&pool)
                .await
                .context("migrating the users event store")?;
        }
        let admin = Arc::new(
            service_kit::kafka::admin(&settings.kafka.brokers)
                .context("creating a Kafka admin client")?,
        );
        if let Err(error) = service_kit::kafka::ensure_topic(
            &admin,
            &settings.topic,
            settings.kafka.topic_partitions,
        )
        .await
        {
            // The relay retries until the broker is back; readiness reports it meanwhile.
            tracing::warn!(%error, topic = settings.topic, "could not ensure the topic exists");
        }

        let mut background = Vec::new();
        if settings.relay.enabled {
            let producer = ProducerSettings {
                brokers: settings.kafka.brokers.clone(),
                delivery_timeout: Duration::from_millis(settings.kafka.delivery_timeout_ms),
            };
            let config = settings.relay.config().map_err(anyhow::Error::msg)?;
            let relay = Relay::new(pool.clone(), producer, config)
                .context("creating the relay's Kafka producer")?;
            let token = cancel.child_token();
            background.push(Background {
                name: "outbox-relay",
                task: tokio::spawn(async move { relay.run(token).await.map_err(Into::into) }),
            });
        }

        let contract = Arc::new(UsersContract::new(settings.topic.clone()));
        let state = web::Data::new(UsersState {
            bus: CommandBus::new(pool.clone(), contract, ()),
            pool: pool.clone(),
        });
        let readiness = Readiness {
            database: pool,
            broker: Some(admin),
        };
        let listener = settings.http.bind().context("binding the HTTP port")?;
        let port = listener.local_addr()?.port();
        let body_limit = settings.http.body_limit_bytes;
        let openapi = ApiDoc::openapi();
        let mut server = HttpServer::new(move || {
            App::new()
                .wrap(actix_web::middleware::from_fn(http::observe))
                .app_data(problem::json_config(body_limit))
                .app_data(web::PayloadConfig::new(body_limit))
                .app_data(problem::path_config())
                .app_data(problem::query_config())
                .app_data(state.clone())
                .configure(health::configure(readiness.clone()))
                .configure(routes::users::configure)
                .service(
                    SwaggerUi::new("/swagger-ui/{_:.*}")
                        .url("/api-docs/openapi.json", openapi.clone()),
                )
                .default_service(web::to(problem::no_route))
        })
        .listen(listener)?
        .disable_signals()
        .shutdown_timeout(settings.http.shutdown_timeout_secs);
        if settings.http.workers > 0 {
            server = server.workers(settings.http.workers);
        }
        tracing::info!(port, "users-command listening");
        Ok(Self {
            port,
            server: server.run(),
            background,
            cancel,
        })
    }

    /// The port the service listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until the token is cancelled (or the server fails), then drains.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        http::run_until_stopped(self.server, self.background, self.cancel, DRAIN).await
    }
}
