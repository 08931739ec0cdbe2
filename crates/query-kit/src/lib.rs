//! What every query service shares, so a bounded context only brings its projection and its
//! query routes:
//!
//! - [`QueryContext`]: what a context names about itself; [`QueryApp`] is then its whole
//!   service (settings with their `--help`, `migrate`, start-up, `main`);
//! - [`ReadSide::start`]: create the read model's schema, start the projector, listen for
//!   applied versions, and prepare the admin operations;
//! - [`reads`]: `min_version` reads (read your own write), page limits and keyset cursors;
//! - [`admin`]: `/admin/parked` (list, retry, skip) and `/admin/rebuild` (unless
//!   [`ReadSide::without_rebuild`]);
//! - [`ProjectorSettings`] and [`ReadSettings`]: the configuration sections.

pub mod admin;
mod app;
pub mod reads;
mod settings;

use std::sync::Arc;

use actix_web::web;
use anyhow::Context;
use projector::{AppliedWatch, Projection, Projector, ProjectorStats};
use service_kit::health::Readiness;
use service_kit::http::{Background, Service};
use service_kit::retention::{self, Purge, RetentionSettings};
use service_kit::settings::{DatabaseSettings, KafkaSettings};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

pub use app::{QueryApp, QueryContext, QuerySettings};
pub use settings::{ProjectorSettings, ReadSettings};

/// Where a read side reads from and writes to.
pub struct ReadSideSettings<'a> {
    /// The read model's own database.
    pub database: &'a DatabaseSettings,
    /// The bounded context's event store (rebuilds, filling gaps on retry), a pool the
    /// projection may share (e.g. to read keys): one pool, so one connection budget.
    pub event_store: PgPool,
    pub kafka: &'a KafkaSettings,
    /// Topic the projector consumes.
    pub topic: &'a str,
    pub projector: &'a ProjectorSettings,
    pub reads: &'a ReadSettings,
    /// `aggregate_type` of the events in the store that the projection is built from.
    pub aggregate_type: &'static str,
}

/// Creates the read model's schema, or upgrades it, and returns: `<service> migrate`.
pub async fn migrate<P: Projection>(
    database: &DatabaseSettings,
    projection: &P,
) -> anyhow::Result<()> {
    read_model(database, projection).await?.close().await;
    Ok(())
}

/// A pool whose search path is the projection's live schema, once that schema is up to date.
async fn read_model<P: Projection>(
    database: &DatabaseSettings,
    projection: &P,
) -> anyhow::Result<PgPool> {
    let schema = projection.schema();
    let pool = database.pool_with(
        database
            .connect_options()
            .options([("search_path", schema)]),
    );
    projector::ensure_schema(&pool, projection)
        .await
        .with_context(|| format!("creating the read model {schema}"))?;
    Ok(pool)
}

/// Purges the parked events of the pool's projection that were skipped more than `keep` ago;
/// parked ones wait for an operator and stay.
pub fn parked_events_purge(keep: std::time::Duration) -> Purge {
    Purge::rows(
        "parked_events",
        "status = 'skipped' AND resolved_at < now() - make_interval(secs => $1)",
        keep,
    )
}

/// A query service's read model with its projector running beside it.
pub struct ReadSide {
    /// The read model's pool; its search path is the live schema.
    pub reads: web::Data<reads::Reads>,
    admin: web::Data<admin::AdminState>,
    background: Vec<Background>,
    stats: Option<Arc<ProjectorStats>>,
    readiness: Readiness,
    rebuildable: bool,
}

impl ReadSide {
    /// Creates the projection's schema if needed and starts its projector (unless disabled).
    pub async fn start<P: Projection>(
        settings: ReadSideSettings<'_>,
        projection: P,
        cancel: &CancellationToken,
    ) -> anyhow::Result<Self> {
        let projection = Arc::new(projection);
        let schema = projection.schema().to_owned();
        let pool = read_model(settings.database, projection.as_ref()).await?;
        service_kit::kafka::check_access(settings.kafka).await?;
        let broker = service_kit::kafka::shared_admin(settings.kafka)
            .context("creating a Kafka admin client")?;

        let mut background = Vec::new();
        let mut stats = None;
        if settings.projector.enabled {
            let config = settings
                .projector
                .config(settings.kafka, settings.topic)
                .map_err(anyhow::Error::msg)?;
            let projector = Projector::new(pool.clone(), projection.clone(), config);
            stats = Some(projector.stats());
            let token = cancel.child_token();
            background.push(Background {
                name: "projector",
                task: tokio::spawn(async move { projector.run(token).await.map_err(Into::into) }),
            });
        }
        let reads = web::Data::new(reads::Reads {
            pool: pool.clone(),
            watch: AppliedWatch::start(pool.clone(), schema, cancel.child_token()),
            limits: settings.reads.clone(),
        });
        let admin = web::Data::new(admin::AdminState::new(
            pool.clone(),
            settings.event_store,
            projection,
            settings.aggregate_type,
            stats.clone(),
            cancel.child_token(),
        ));
        Ok(Self {
            reads,
            admin,
            background,
            stats,
            readiness: Readiness {
                database: Some(pool),
                broker: Some(broker),
            },
            rebuildable: true,
        })
    }

    /// Serves no `/admin/rebuild`: for a projection whose rows are not a pure function of the
    /// events (a saga's progress is written by its driver too), a rebuild would lose state.
    pub fn without_rebuild(mut self) -> Self {
        self.rebuildable = false;
        self
    }

    /// Runs `task` beside the projector until the service stops; it must return once the
    /// service's token is cancelled.
    pub fn spawn(
        &mut self,
        name: &'static str,
        task: impl std::future::Future<Output = anyhow::Result<()>> + Send + 'static,
    ) {
        self.background.push(Background {
            name,
            task: tokio::spawn(task),
        });
    }

    /// Purges the read model's skipped parked events, and `more`, once past their keep times
    /// (`service_kit::retention`), until the service stops.
    pub fn retain(
        &mut self,
        settings: &RetentionSettings,
        more: Vec<Purge>,
        cancel: &CancellationToken,
    ) {
        let mut purges = vec![parked_events_purge(retention::hours(
            settings.parked_events_hours,
        ))];
        purges.extend(more);
        let pool = self.reads.pool.clone();
        self.background.extend(retention::spawn(
            pool,
            purges,
            settings,
            cancel.child_token(),
        ));
    }

    /// The read model's pool.
    pub fn pool(&self) -> &PgPool {
        &self.reads.pool
    }

    /// Binds the HTTP port with the service's query `routes`, the admin routes and the
    /// shared read state (`web::Data<Reads>`) mounted; the admin routes' OpenAPI paths are
    /// merged into `openapi`.
    pub async fn serve<F>(
        self,
        http: &service_kit::settings::HttpSettings,
        auth: &service_kit::auth::AuthSettings,
        openapi: utoipa::openapi::OpenApi,
        routes: F,
        cancel: CancellationToken,
    ) -> anyhow::Result<QueryService>
    where
        F: Fn(&mut web::ServiceConfig) + Clone + Send + 'static,
    {
        use utoipa::OpenApi as _;
        let (reads, admin, rebuildable) = (self.reads, self.admin, self.rebuildable);
        let mut openapi = openapi.merge_from(admin::ParkedApi::openapi());
        if rebuildable {
            openapi = openapi.merge_from(admin::RebuildApi::openapi());
        }
        let service = Service::bind(
            http,
            auth,
            self.readiness,
            openapi,
            move |config| {
                config.app_data(reads.clone()).app_data(admin.clone());
                routes(config);
                admin::configure_parked(config);
                if rebuildable {
                    admin::configure_rebuild(config);
                }
            },
            self.background,
            cancel,
        )
        .await?;
        Ok(QueryService {
            service,
            stats: self.stats,
        })
    }
}

/// A built query service: bound to its port, projector started, not yet serving.
pub struct QueryService {
    service: Service,
    stats: Option<Arc<ProjectorStats>>,
}

impl QueryService {
    /// The port the service listens on.
    pub fn port(&self) -> u16 {
        self.service.port()
    }

    /// The projector's counters, when it runs in this instance.
    pub fn projector_stats(&self) -> Option<Arc<ProjectorStats>> {
        self.stats.clone()
    }

    /// Serves until the token is cancelled (or the server or projector fails), then drains.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        self.service.run_until_stopped().await
    }
}

impl service_kit::process::Running for QueryService {
    fn run_until_stopped(self) -> impl std::future::Future<Output = anyhow::Result<()>> {
        QueryService::run_until_stopped(self)
    }
}
