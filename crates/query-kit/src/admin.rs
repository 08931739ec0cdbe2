//! `/admin`: the projection's status, parked events (list, show, retry, skip) and rebuilding
//! the read model, the same on every query service. The handlers see the projection only
//! through [`Operations`].

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use projector::{
    ParkedEvent, ParkedStatus, Projection, ProjectionStatus, RebuildProgress, RetryOutcome, Skip,
    Skipped,
};
use serde::{Deserialize, Serialize};
use service_kit::Problem;
use service_kit::auth::{Principal, Role};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use utoipa::{IntoParams, ToSchema};

const RETRY_ATTEMPTS: u32 = 3;

type Boxed<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;
type Progress<'a> = Box<dyn Fn(&RebuildProgress) + Send + Sync + 'a>;
/// A parked event with the bytes it arrived as.
type WithPayload = Option<(ParkedEvent, Vec<u8>)>;

/// The projector's admin functions bound to one projection and its event store.
trait Operations: Send + Sync {
    fn status(&self) -> Boxed<'_, Result<ProjectionStatus, sqlx::Error>>;
    fn list(
        &self,
        status: Option<ParkedStatus>,
        after: i64,
        limit: i64,
    ) -> Boxed<'_, Result<Vec<ParkedEvent>, sqlx::Error>>;
    fn get(&self, id: i64) -> Boxed<'_, Result<WithPayload, sqlx::Error>>;
    fn retry(&self, id: i64) -> Boxed<'_, Result<Option<RetryOutcome>, sqlx::Error>>;
    fn skip<'a>(
        &'a self,
        id: i64,
        skip: Skip<'a>,
    ) -> Boxed<'a, Result<Option<Skipped>, sqlx::Error>>;
    fn rebuild<'a>(&'a self, progress: Progress<'a>) -> Boxed<'a, Result<(), String>>;
}

struct Bound<P> {
    read_model: PgPool,
    event_store: PgPool,
    projection: Arc<P>,
    aggregate_type: &'static str,
}

impl<P: Projection> Operations for Bound<P> {
    fn status(&self) -> Boxed<'_, Result<ProjectionStatus, sqlx::Error>> {
        Box::pin(projector::status(
            &self.read_model,
            &self.event_store,
            self.projection.as_ref(),
            self.aggregate_type,
        ))
    }

    fn list(
        &self,
        status: Option<ParkedStatus>,
        after: i64,
        limit: i64,
    ) -> Boxed<'_, Result<Vec<ParkedEvent>, sqlx::Error>> {
        Box::pin(projector::list_parked(
            &self.read_model,
            self.projection.as_ref(),
            status,
            after,
            limit,
        ))
    }

    fn get(&self, id: i64) -> Boxed<'_, Result<WithPayload, sqlx::Error>> {
        Box::pin(projector::get_parked(
            &self.read_model,
            self.projection.as_ref(),
            id,
        ))
    }

    fn retry(&self, id: i64) -> Boxed<'_, Result<Option<RetryOutcome>, sqlx::Error>> {
        let store = Some((&self.event_store, self.aggregate_type));
        let projection = self.projection.as_ref();
        Box::pin(projector::retry_parked(
            &self.read_model,
            projection,
            id,
            store,
            RETRY_ATTEMPTS,
        ))
    }

    fn skip<'a>(
        &'a self,
        id: i64,
        skip: Skip<'a>,
    ) -> Boxed<'a, Result<Option<Skipped>, sqlx::Error>> {
        let store = Some((&self.event_store, self.aggregate_type));
        let projection = self.projection.as_ref();
        Box::pin(projector::skip_parked(
            &self.read_model,
            projection,
            id,
            skip,
            store,
            RETRY_ATTEMPTS,
        ))
    }

    fn rebuild<'a>(&'a self, progress: Progress<'a>) -> Boxed<'a, Result<(), String>> {
        Box::pin(async move {
            projector::rebuild(
                &self.read_model,
                &self.event_store,
                self.projection.as_ref(),
                self.aggregate_type,
                progress,
            )
            .await
            .map(drop)
            .map_err(|error| error.to_string())
        })
    }
}

/// What the admin handlers share (mounted as `web::Data<AdminState>`).
pub struct AdminState {
    operations: Arc<dyn Operations>,
    rebuild: Arc<Mutex<RebuildStatus>>,
    /// The projector of this instance, when it runs one: what its consumer holds.
    stats: Option<Arc<projector::ProjectorStats>>,
    /// Stops a running rebuild at shutdown.
    cancel: CancellationToken,
}

impl AdminState {
    /// Operations on `projection`'s read model, filling gaps and rebuilding from the events of
    /// `aggregate_type` in `event_store`.
    pub fn new<P: Projection>(
        read_model: PgPool,
        event_store: PgPool,
        projection: Arc<P>,
        aggregate_type: &'static str,
        stats: Option<Arc<projector::ProjectorStats>>,
        cancel: CancellationToken,
    ) -> Self {
        Self {
            operations: Arc::new(Bound {
                read_model,
                event_store,
                projection,
                aggregate_type,
            }),
            rebuild: Arc::default(),
            stats,
            cancel,
        }
    }
}

/// The latest rebuild of this instance.
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct RebuildStatus {
    /// `idle`, `running`, `succeeded` or `failed`.
    pub state: String,
    /// `copying`, `catching-up` or `switched`.
    pub phase: Option<String>,
    /// Events replayed so far.
    pub applied: u64,
    /// Events in the store when the rebuild started.
    pub total: u64,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub error: Option<String>,
}

/// Mounts `/admin/projection` (status) and `/admin/parked` (list, show, retry, skip).
pub fn configure_parked(config: &mut web::ServiceConfig) {
    config
        .route("/admin/projection", web::get().to(projection_status))
        .route("/admin/parked", web::get().to(parked))
        .route("/admin/parked/{id}", web::get().to(parked_event))
        .route("/admin/parked/{id}/retry", web::post().to(retry))
        .route("/admin/parked/{id}/skip", web::post().to(skip));
}

/// The OpenAPI paths of `/admin/projection` and `/admin/parked…`, which every query service
/// serves; [`crate::ReadSide::serve`] merges them into the service's own document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(projection_status, parked, parked_event, retry, skip))]
pub struct ParkedApi;

/// The OpenAPI paths of `/admin/rebuild`, merged where rebuilds are served.
#[derive(utoipa::OpenApi)]
#[openapi(paths(start_rebuild, rebuild_status))]
pub struct RebuildApi;

/// Mounts `/admin/rebuild` (start and follow a rebuild).
pub fn configure_rebuild(config: &mut web::ServiceConfig) {
    config
        .route("/admin/rebuild", web::post().to(start_rebuild))
        .route("/admin/rebuild", web::get().to(rebuild_status));
}

/// The projection against its event store: applied vs. stored events, the lag in events and
/// seconds, parked, skipped and pending events, and the latest rebuild on this instance.
#[utoipa::path(get, path = "/admin/projection", tag = "admin",
    responses((status = 200, description = "The projection's status")))]
pub async fn projection_status(
    state: web::Data<AdminState>,
    caller: Principal,
) -> Result<HttpResponse, Problem> {
    caller.require(&[Role::Admin])?;
    let status = state
        .operations
        .status()
        .await
        .map_err(|error| Problem::unavailable(&error))?;
    let mut body = serde_json::to_value(status).unwrap_or_default();
    body["rebuild"] = serde_json::to_value(current_rebuild(&state)).unwrap_or_default();
    if let Some(stats) = &state.stats {
        body["consumer"] = consumer_status(stats);
    }
    Ok(HttpResponse::Ok().json(body))
}

/// What this instance's consumer holds: its partitions, and a warning when it holds none
/// while its group lags (measured every few seconds by the projector).
fn consumer_status(stats: &projector::ProjectorStats) -> serde_json::Value {
    use std::sync::atomic::Ordering;
    let assigned = stats.assigned_partitions.load(Ordering::Relaxed);
    let idle_lag = stats.group_lag_while_unassigned.load(Ordering::Relaxed);
    let warning = (assigned == 0 && idle_lag > 0).then(|| {
        format!(
            "this instance holds no partition while its consumer group lags {idle_lag} \
             event(s) and makes no progress: another member may be stuck holding the \
             partitions"
        )
    });
    serde_json::json!({
        "assigned_partitions": assigned,
        "group_lag_while_unassigned": idle_lag,
        "warning": warning,
    })
}

/// Query string of `GET /admin/parked`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ParkedParams {
    /// Only events `parked` (waiting for an operator) or `skipped` (given up); default both.
    #[param(value_type = Option<String>)]
    pub status: Option<ParkedStatus>,
    /// Only ids after this one.
    pub after: Option<i64>,
    /// At most this many (default 100, at most 1000).
    pub limit: Option<i64>,
}

/// Parked events, oldest first: why each could not be applied, and where it came from.
#[utoipa::path(get, path = "/admin/parked", tag = "admin", params(ParkedParams),
    responses((status = 200, description = "Parked and skipped events"), (status = 400, body = Problem)))]
pub async fn parked(
    state: web::Data<AdminState>,
    caller: Principal,
    params: web::Query<ParkedParams>,
) -> Result<HttpResponse, Problem> {
    caller.require(&[Role::Admin])?;
    let limit = params.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(Problem::bad_request("limit must be between 1 and 1000"));
    }
    let events: Vec<ParkedEvent> = state
        .operations
        .list(params.status, params.after.unwrap_or(0), limit)
        .await
        .map_err(|error| Problem::unavailable(&error))?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "items": events })))
}

/// One parked event with the message it arrived as: the decoded envelope, or the raw bytes
/// and why they did not decode.
#[utoipa::path(get, path = "/admin/parked/{id}", tag = "admin",
    params(("id" = i64, Path, description = "Parked event id")),
    responses((status = 200, description = "The parked event and its message"), (status = 404, body = Problem)))]
pub async fn parked_event(
    state: web::Data<AdminState>,
    caller: Principal,
    id: web::Path<i64>,
) -> Result<HttpResponse, Problem> {
    caller.require(&[Role::Admin])?;
    let id = id.into_inner();
    let (event, payload) = state
        .operations
        .get(id)
        .await
        .map_err(|error| Problem::unavailable(&error))?
        .ok_or_else(|| not_found(id))?;
    let mut body = serde_json::to_value(event).unwrap_or_default();
    body["message"] = contracts::json::envelope_or_raw(&payload).into();
    Ok(HttpResponse::Ok().json(body))
}

fn not_found(id: i64) -> Problem {
    Problem::new(
        StatusCode::NOT_FOUND,
        "parked-event-not-found",
        "No such parked event",
    )
    .with_detail(format!("there is no parked event {id}"))
}

fn outcome(
    result: Result<Option<RetryOutcome>, sqlx::Error>,
    id: i64,
) -> Result<HttpResponse, Problem> {
    match result.map_err(|error| Problem::unavailable(&error))? {
        Some(outcome) => Ok(HttpResponse::Ok().json(outcome)),
        None => Err(not_found(id)),
    }
}

/// Retries the parked events of the aggregate that event `id` belongs to, in sequence order,
/// filling gaps from the event store.
#[utoipa::path(post, path = "/admin/parked/{id}/retry", tag = "admin",
    params(("id" = i64, Path, description = "Parked event id")),
    responses((status = 200, description = "What the retry applied and what is still parked"), (status = 404, body = Problem)))]
pub async fn retry(
    state: web::Data<AdminState>,
    caller: Principal,
    id: web::Path<i64>,
) -> Result<HttpResponse, Problem> {
    caller.require(&[Role::Admin])?;
    let id = id.into_inner();
    outcome(state.operations.retry(id).await, id)
}

/// Body of `POST /admin/parked/{id}/skip`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SkipRequest {
    /// Why the event is given up (1 to 500 characters), recorded with who skipped it.
    pub reason: String,
}

/// Skips parked event `id` for good (its effect is never applied), recording who skipped it
/// and why, then retries the rest of its aggregate.
#[utoipa::path(post, path = "/admin/parked/{id}/skip", tag = "admin",
    params(("id" = i64, Path, description = "Parked event id")),
    request_body = SkipRequest,
    responses((status = 200, description = "What the retry after the skip applied"), (status = 404, body = Problem),
        (status = 409, description = "Not the next sequence of its aggregate", body = Problem),
        (status = 422, description = "No usable reason", body = Problem)))]
pub async fn skip(
    state: web::Data<AdminState>,
    caller: Principal,
    id: web::Path<i64>,
    body: web::Json<SkipRequest>,
) -> Result<HttpResponse, Problem> {
    caller.require(&[Role::Admin])?;
    let id = id.into_inner();
    let reason = domain_kit::Reason::parse(&body.reason).map_err(|error| {
        Problem::validation(vec![service_kit::FieldError::new(
            "reason",
            error.code,
            error.message,
        )])
    })?;
    let by = caller.actor();
    let skip = Skip {
        by: &by,
        reason: reason.as_str(),
    };
    let skipped = state
        .operations
        .skip(id, skip)
        .await
        .map_err(|error| Problem::unavailable(&error))?;
    match skipped {
        Some(Skipped::Done(outcome)) => Ok(HttpResponse::Ok().json(outcome)),
        Some(Skipped::NotNext { sequence, next }) => Err(Problem::new(
            StatusCode::CONFLICT,
            "skip-out-of-order",
            "Only the next sequence of an aggregate can be skipped",
        )
        .with_detail(format!(
            "parked event {id} is sequence {sequence}, but the read model waits for {next}; retry or skip that one first"
        ))),
        None => Err(not_found(id)),
    }
}

/// Starts rebuilding the read model from the event store; follow it at `GET /admin/rebuild`.
#[utoipa::path(post, path = "/admin/rebuild", tag = "admin",
    responses((status = 202, description = "Started", body = RebuildStatus), (status = 409, description = "A rebuild is running", body = Problem)))]
pub async fn start_rebuild(
    state: web::Data<AdminState>,
    caller: Principal,
) -> Result<HttpResponse, Problem> {
    caller.require(&[Role::Admin])?;
    {
        let mut status = state
            .rebuild
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if status.state == "running" {
            return Err(Problem::new(
                StatusCode::CONFLICT,
                "rebuild-running",
                "A rebuild is already running",
            ));
        }
        *status = RebuildStatus {
            state: "running".into(),
            started_at: Some(Utc::now()),
            ..RebuildStatus::default()
        };
    }
    let operations = state.operations.clone();
    let (status, cancel) = (state.rebuild.clone(), state.cancel.clone());
    tokio::spawn(async move {
        let report = status.clone();
        let progress = move |progress: &RebuildProgress| {
            let mut status = report
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            status.phase = Some(progress.phase.to_owned());
            status.applied = progress.applied;
            status.total = progress.total;
        };
        // Dropping the rebuild at shutdown rolls its transaction back; the live model stays.
        let result = tokio::select! {
            () = cancel.cancelled() => Err("stopped by shutdown".to_owned()),
            result = operations.rebuild(Box::new(progress)) => result,
        };
        let mut status = status
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        status.finished_at = Some(Utc::now());
        match result {
            Ok(_) => status.state = "succeeded".into(),
            Err(error) => {
                tracing::error!(%error, "rebuild failed");
                status.state = "failed".into();
                status.error = Some(error);
            }
        }
    });
    let status = state
        .rebuild
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    Ok(HttpResponse::Accepted()
        .insert_header(("Location", "/admin/rebuild"))
        .json(status))
}

/// The latest rebuild started on this instance, with its progress.
#[utoipa::path(get, path = "/admin/rebuild", tag = "admin",
    responses((status = 200, description = "Progress", body = RebuildStatus)))]
pub async fn rebuild_status(
    state: web::Data<AdminState>,
    caller: Principal,
) -> Result<HttpResponse, Problem> {
    caller.require(&[Role::Admin])?;
    Ok(HttpResponse::Ok().json(current_rebuild(&state)))
}

fn current_rebuild(state: &AdminState) -> RebuildStatus {
    let mut status = state
        .rebuild
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    if status.state.is_empty() {
        status.state = "idle".into();
    }
    status
}
