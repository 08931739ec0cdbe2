//! Wiring: builds the service from its settings and runs it until shutdown.

use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::web;
use anyhow::Context;
use event_store::CommandBus;
use outbox_relay::{ProducerSettings, Relay};
use service_kit::health::Readiness;
use service_kit::http::{self, Background};
use tokio_util::sync::CancellationToken;
use utoipa::OpenApi;

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
    /// Connects, migrates and binds the port; the relay makes sure the topic exists before it
    /// publishes. Stops when `cancel` is cancelled.
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
            let (admin, topic, partitions) = (
                admin.clone(),
                settings.topic.clone(),
                settings.kafka.topic_partitions,
            );
            background.push(Background {
                name: "outbox-relay",
                task: tokio::spawn(async move {
                    // Brokers that do not create topics on first use (Tansu) would refuse every
                    // record: the relay starts once the topic exists, however late the broker.
                    let ready =
                        service_kit::kafka::ensure_topic_until(&admin, &topic, partitions, &token);
                    if ready.await {
                        relay.run(token).await?;
                    }
                    Ok(())
                }),
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
        let (server, port) = http::server(
            &settings.http,
            readiness,
            ApiDoc::openapi(),
            move |config| {
                config.app_data(state.clone());
                routes::users::configure(config);
            },
        )
        .context("binding the HTTP port")?;
        tracing::info!(port, "users-command listening");
        Ok(Self {
            port,
            server,
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
