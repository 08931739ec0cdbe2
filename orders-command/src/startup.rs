//! Wiring: builds the service from its settings.

use std::sync::Arc;

use actix_web::web;
use command_kit::WriteSide;
use event_store::CommandBus;
use service_kit::http::Service;
use tokio_util::sync::CancellationToken;
use utoipa::OpenApi;

use crate::routes::{self, ApiDoc, orders::OrdersState};
use crate::settings::Settings;
use orders_domain::OrdersContract;

/// orders-command's wiring.
pub struct Application;

impl Application {
    /// Brings the event store's tables up to date and returns (`orders-command migrate`).
    pub async fn migrate(settings: Settings) -> anyhow::Result<()> {
        command_kit::migrate(&settings.database).await
    }

    /// Connects, migrates, starts the relay and binds the port; the service stops when
    /// `cancel` is cancelled.
    pub async fn build(settings: Settings, cancel: CancellationToken) -> anyhow::Result<Service> {
        let write = WriteSide::start(
            &settings.database,
            &settings.kafka,
            &settings.relay,
            &settings.topic,
            &cancel,
        )
        .await?;
        let contract = Arc::new(OrdersContract::new(settings.topic.clone()));
        let state = web::Data::new(OrdersState {
            bus: CommandBus::new(write.pool.clone(), contract, ()),
            pool: write.pool.clone(),
        });
        let service = Service::bind(
            &settings.http,
            &settings.auth,
            write.readiness(),
            ApiDoc::openapi(),
            move |config| {
                config.app_data(state.clone());
                routes::orders::configure(config);
            },
            write.background,
            cancel,
        )
        .await?;
        tracing::info!(port = service.port(), "orders-command listening");
        Ok(service)
    }
}
