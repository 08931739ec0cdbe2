//! Wiring: builds the service from its settings.

use query_kit::{QueryService, ReadSide, ReadSideSettings};
use service_kit::retention;
use tokio_util::sync::CancellationToken;
use utoipa::OpenApi;

use crate::driver::Driver;
use crate::ports::HttpSteps;
use crate::projection::SagaLog;
use crate::resilience::{Downstream, TokenFile};
use crate::routes::{self, ApiDoc};
use crate::settings::Settings;

/// Connections needed beside the workers: two listeners (new sagas, applied versions), the
/// projector's batches, the in-flight gauge, readiness and `GET /sagas`. A retention round
/// (every five minutes, milliseconds long) borrows one of them and waits for it if need be.
const SPARE_CONNECTIONS: u32 = 6;

/// saga-orchestrator's wiring.
pub struct Application;

impl Application {
    /// Creates or upgrades the read model's schema and returns (`saga-orchestrator migrate`).
    pub async fn migrate(settings: Settings) -> anyhow::Result<()> {
        query_kit::migrate(
            &settings.database,
            &SagaLog {
                deadline: settings.saga.deadline(),
            },
        )
        .await
    }

    /// Creates the saga log's schema if needed, starts the projector and the driver, and
    /// binds the port; the service stops when `cancel` is cancelled.
    pub async fn build(
        settings: Settings,
        cancel: CancellationToken,
    ) -> anyhow::Result<QueryService> {
        let workers = settings.saga.workers as u32;
        anyhow::ensure!(
            settings.database.max_connections >= workers + SPARE_CONNECTIONS,
            "database.max_connections ({}) must be at least saga.workers ({workers}) + {SPARE_CONNECTIONS}: \
             each worker holds a connection while its step runs",
            settings.database.max_connections
        );
        let token = TokenFile::open(&settings.saga.token_file)?;
        let steps = HttpSteps {
            users: Downstream::new("users-command", &settings.users, token.clone())?,
            orders: Downstream::new("orders-command", &settings.orders, token)?,
        };
        let mut saga_log = ReadSide::start(
            ReadSideSettings {
                database: &settings.database,
                event_store: settings.event_store.pool(),
                kafka: &settings.kafka,
                topic: &settings.topic,
                projector: &settings.projector,
                reads: &settings.reads,
                aggregate_type: contracts::orders::AGGREGATE_TYPE,
            },
            SagaLog {
                deadline: settings.saga.deadline(),
            },
            &cancel,
        )
        .await?
        .without_rebuild();
        saga_log.retain(
            &settings.retention,
            vec![crate::projection::retention(retention::hours(
                settings.retention.sagas_hours,
            ))],
            &cancel,
        );
        let driver = Driver::new(saga_log.pool().clone(), steps, settings.saga.clone())?;
        saga_log.spawn("saga driver", driver.run(cancel.child_token()));
        let service = saga_log
            .serve(
                &settings.http,
                &settings.auth,
                ApiDoc::openapi(),
                routes::configure,
                cancel,
            )
            .await?;
        tracing::info!(port = service.port(), "saga-orchestrator listening");
        Ok(service)
    }
}
