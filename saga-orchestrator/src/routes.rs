//! `GET /sagas/{id}` (state, steps, deadline, interventions), `GET /sagas` (filters, keyset
//! pagination, newest first), and an operator's `POST /sagas/{id}/retry` and
//! `POST /sagas/{id}/resolve` of a FAILED saga.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use query_kit::reads::{self, Page, Reads};
use serde::{Deserialize, Serialize};
use service_kit::auth::{Principal, Role};
use service_kit::{FieldError, Problem};
use utoipa::{IntoParams, OpenApi, ToSchema};
use uuid::Uuid;

use crate::repair::{self, Action, Intervention, RepairError};
use crate::saga::{Kind, State};

/// Mounts the routes.
pub fn configure(config: &mut web::ServiceConfig) {
    config
        .route("/sagas", web::get().to(list))
        .route("/sagas/{id}", web::get().to(get))
        .route("/sagas/{id}/retry", web::post().to(retry))
        .route("/sagas/{id}/resolve", web::post().to(resolve));
}

/// One step a saga ran (or is running).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, sqlx::FromRow)]
pub struct StepView {
    /// `reserve-credit`, `approve-order`, `reject-order` or `release-credit`.
    pub step: String,
    pub started_at: DateTime<Utc>,
    /// Absent while the step runs.
    pub finished_at: Option<DateTime<Utc>>,
    /// Calls made for it (each call may itself have retried within its timeout).
    pub attempts: i32,
    /// `succeeded`, `refused` or `skipped`; absent while the step runs.
    pub outcome: Option<String>,
    /// What the service answered, or the last error while retrying.
    pub detail: Option<String>,
}

/// A saga as the orchestrator holds it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, sqlx::FromRow)]
pub struct SagaView {
    /// The id of the event that started it.
    pub id: Uuid,
    /// `place-order` or `cancel-order`.
    pub kind: String,
    pub order_id: Uuid,
    pub user_id: Uuid,
    /// The order's total.
    pub amount_cents: i64,
    /// The step it is at (`RESERVING_CREDIT`, `APPROVING_ORDER`, `REJECTING_ORDER`,
    /// `RELEASING_CREDIT`) or where it ended (`APPROVED`, `REJECTED`, `TIMED_OUT`,
    /// `CANCELLED`, `RELEASED`, `FAILED`, `RESOLVED`).
    pub state: String,
    pub terminal: bool,
    /// Why the order was rejected, once decided.
    pub reason: Option<String>,
    /// Failed calls of the current step so far.
    pub attempts: i32,
    pub last_error: Option<String>,
    /// When a place-order saga gives up: the order is rejected as timed out.
    pub deadline_at: DateTime<Utc>,
    /// When the current step runs next; absent once terminal.
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub started_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    /// Oldest first; only in `GET /sagas/{id}`.
    #[sqlx(skip)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub steps: Option<Vec<StepView>>,
    /// Operators' retries and resolutions, oldest first; only in `GET /sagas/{id}`.
    #[sqlx(skip)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interventions: Option<Vec<Intervention>>,
}

const COLUMNS: &str = "id, kind, order_id, user_id, amount_cents, state, \
    finished_at IS NOT NULL AS terminal, reason, attempts, last_error, deadline_at, \
    CASE WHEN finished_at IS NULL THEN next_attempt_at END AS next_attempt_at, \
    started_at, updated_at, finished_at";

/// One saga with its steps.
#[utoipa::path(get, path = "/sagas/{id}", tag = "sagas",
    params(("id" = Uuid, Path, description = "Saga id")),
    responses(
        (status = 200, description = "The saga", body = SagaView),
        (status = 400, description = "Bad id", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such saga", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn get(
    state: web::Data<Reads>,
    caller: Principal,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, Problem> {
    caller.require(&[Role::Admin, Role::Service])?;
    Ok(HttpResponse::Ok().json(load(&state.pool, id.into_inner()).await?))
}

fn not_found(id: Uuid) -> Problem {
    Problem::new(StatusCode::NOT_FOUND, "saga-not-found", "No such saga")
        .with_detail(format!("saga {id} is not known"))
}

/// A saga with its steps and interventions.
async fn load(pool: &sqlx::PgPool, id: Uuid) -> Result<SagaView, Problem> {
    let unavailable = |error: sqlx::Error| Problem::unavailable(&error);
    let saga: Option<SagaView> =
        sqlx::query_as(&format!("SELECT {COLUMNS} FROM sagas WHERE id = $1"))
            .bind(id)
            .fetch_optional(pool)
            .await
            .map_err(unavailable)?;
    let Some(mut saga) = saga else {
        return Err(not_found(id));
    };
    let steps: Vec<StepView> = sqlx::query_as(
        "SELECT step, started_at, finished_at, attempts, outcome, detail \
         FROM saga_steps WHERE saga_id = $1 ORDER BY position",
    )
    .bind(id)
    .fetch_all(pool)
    .await
    .map_err(unavailable)?;
    saga.steps = Some(steps);
    saga.interventions = Some(repair::interventions(pool, id).await.map_err(unavailable)?);
    Ok(saga)
}

/// Body of `POST /sagas/{id}/retry` and `POST /sagas/{id}/resolve`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Intervene {
    /// Why, for the saga's record: 1 to 500 characters.
    #[schema(example = "the saga's token was rotated; fixed in the secret store")]
    pub reason: String,
}

async fn intervene(
    pool: &sqlx::PgPool,
    caller: &Principal,
    id: Uuid,
    action: Action,
    body: &Intervene,
) -> Result<HttpResponse, Problem> {
    caller.require(&[Role::Admin])?;
    let reason = domain_kit::Reason::parse(&body.reason).map_err(|error| {
        Problem::validation(vec![FieldError::new("reason", error.code, error.message)])
    })?;
    match repair::intervene(pool, id, action, &caller.actor(), reason.as_str()).await {
        Ok(_) => Ok(HttpResponse::Ok().json(load(pool, id).await?)),
        Err(RepairError::NotFound(id)) => Err(not_found(id)),
        Err(error @ (RepairError::NotFailed { .. } | RepairError::NothingToRetry { .. })) => {
            Err(Problem::new(
                StatusCode::CONFLICT,
                "saga-not-repairable",
                "The saga cannot be repaired so",
            )
            .with_detail(error.to_string()))
        }
        Err(RepairError::Database(error)) => Err(Problem::unavailable(&error)),
    }
}

/// Runs the refused step of a FAILED saga again (admin): once its cause is fixed, the driver
/// takes the saga from that step with the same idempotency key. The retry is recorded with
/// who asked and why.
#[utoipa::path(post, path = "/sagas/{id}/retry", tag = "sagas", request_body = Intervene,
    params(("id" = Uuid, Path, description = "Saga id")),
    responses(
        (status = 200, description = "The saga, running its step again", body = SagaView),
        (status = 404, description = "No such saga", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not FAILED, or its last step was not refused", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Bad reason", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn retry(
    state: web::Data<Reads>,
    caller: Principal,
    id: web::Path<Uuid>,
    body: web::Json<Intervene>,
) -> Result<HttpResponse, Problem> {
    intervene(&state.pool, &caller, id.into_inner(), Action::Retry, &body).await
}

/// Ends a FAILED saga as RESOLVED (admin), after an operator settled its order and credit
/// another way. Recorded with who and why.
#[utoipa::path(post, path = "/sagas/{id}/resolve", tag = "sagas", request_body = Intervene,
    params(("id" = Uuid, Path, description = "Saga id")),
    responses(
        (status = 200, description = "The saga, RESOLVED", body = SagaView),
        (status = 404, description = "No such saga", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not FAILED", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Bad reason", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn resolve(
    state: web::Data<Reads>,
    caller: Principal,
    id: web::Path<Uuid>,
    body: web::Json<Intervene>,
) -> Result<HttpResponse, Problem> {
    intervene(
        &state.pool,
        &caller,
        id.into_inner(),
        Action::Resolve,
        &body,
    )
    .await
}

/// Query string of `GET /sagas`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    /// Only sagas in this state (e.g. `APPROVED`, `RESERVING_CREDIT`).
    pub state: Option<String>,
    /// Only `place-order` or `cancel-order` sagas.
    pub kind: Option<String>,
    /// Only the sagas of this order.
    pub order_id: Option<Uuid>,
    /// Page size (default 50, at most 200).
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// Sagas, newest first.
#[utoipa::path(get, path = "/sagas", tag = "sagas", params(ListParams),
    responses(
        (status = 200, description = "A page of sagas (without their steps)", body = inline(Page<SagaView>)),
        (status = 400, description = "Bad parameter", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list(
    state: web::Data<Reads>,
    caller: Principal,
    params: web::Query<ListParams>,
) -> Result<HttpResponse, Problem> {
    caller.require(&[Role::Admin, Role::Service])?;
    let params = params.into_inner();
    let limit = state.page_limit(params.limit)?;
    let saga_state = params
        .state
        .as_deref()
        .map(|text| {
            State::parse(text).ok_or_else(|| {
                let known: Vec<_> = State::ALL.iter().map(|s| s.as_str()).collect();
                Problem::bad_request(format!("state must be one of {}", known.join(", ")))
            })
        })
        .transpose()?;
    let kind = params
        .kind
        .as_deref()
        .map(|text| {
            Kind::parse(text)
                .ok_or_else(|| Problem::bad_request("kind must be place-order or cancel-order"))
        })
        .transpose()?;
    let before = reads::decode_cursor(params.cursor.as_deref())?;
    let mut items: Vec<SagaView> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM sagas \
         WHERE ($1::text IS NULL OR state = $1) \
           AND ($2::text IS NULL OR kind = $2) \
           AND ($3::uuid IS NULL OR order_id = $3) \
           AND ($4::uuid IS NULL OR id < $4) \
         ORDER BY id DESC LIMIT $5"
    ))
    .bind(saga_state.map(State::as_str))
    .bind(kind.map(Kind::as_str))
    .bind(params.order_id)
    .bind(before)
    .bind(limit + 1)
    .fetch_all(&state.pool)
    .await
    .map_err(|error| Problem::unavailable(&error))?;
    let next_cursor = reads::next_page(&mut items, limit, |saga| saga.id);
    Ok(HttpResponse::Ok().json(Page { items, next_cursor }))
}

/// The OpenAPI document served at `/api-docs/openapi.json`.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "saga-orchestrator",
        description = "Place-order and cancel-order sagas: their state, steps and deadlines, \
        and an operator's retry or resolution of a FAILED one. Errors are application/problem+json."
    ),
    paths(get, list, retry, resolve),
    components(schemas(
        service_kit::Problem,
        service_kit::FieldError,
        SagaView,
        StepView,
        Intervention,
        Intervene
    ))
)]
pub struct ApiDoc;
