//! Wiring: builds the service from its settings.

use query_kit::{QueryService, ReadSide, ReadSideSettings};
use tokio_util::sync::CancellationToken;
use utoipa::OpenApi;

use crate::projection::OrdersView;
use crate::routes::{self, ApiDoc};
use crate::settings::Settings;

/// orders-query's wiring.
pub struct Application;

impl Application {
    /// Creates or upgrades the read model's schema and returns (`orders-query migrate`).
    pub async fn migrate(settings: Settings) -> anyhow::Result<()> {
        query_kit::migrate(&settings.database, &OrdersView).await
    }

    /// Creates the read model's schema if needed, starts the projector and binds the port;
    /// the service stops when `cancel` is cancelled.
    pub async fn build(
        settings: Settings,
        cancel: CancellationToken,
    ) -> anyhow::Result<QueryService> {
        let read_side = ReadSide::start(
            ReadSideSettings {
                database: &settings.database,
                event_store: &settings.event_store,
                kafka: &settings.kafka,
                topic: &settings.topic,
                projector: &settings.projector,
                reads: &settings.reads,
                aggregate_type: contracts::orders::AGGREGATE_TYPE,
            },
            OrdersView,
            &cancel,
        )
        .await?;
        let service = read_side
            .serve(
                &settings.http,
                &settings.auth,
                ApiDoc::openapi(),
                routes::orders::configure,
                cancel,
            )
            .await?;
        tracing::info!(port = service.port(), "orders-query listening");
        Ok(service)
    }
}
