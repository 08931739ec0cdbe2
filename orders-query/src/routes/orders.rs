//! `GET /orders/{id}` (with read-your-writes), `GET /orders` (filters, keyset pagination,
//! newest first) and `GET /users/{user_id}/order-summary`.

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use query_kit::reads::{self, Page, Reads, VersionParams, Versioned};
use serde::{Deserialize, Serialize};
use service_kit::Problem;
use service_kit::auth::{Principal, Role};
use sqlx::PgPool;
use sqlx::types::Json;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::projection::STATUSES;

/// Mounts the routes.
pub fn configure(config: &mut web::ServiceConfig) {
    config
        .route("/orders", web::get().to(list))
        .route("/orders/{id}", web::get().to(get))
        .route("/users/{user_id}/order-summary", web::get().to(summary));
}

/// One line of an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ItemView {
    pub sku: String,
    pub quantity: u32,
    pub unit_price_cents: i64,
}

/// An order as the read model holds it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, sqlx::FromRow)]
pub struct OrderView {
    pub id: Uuid,
    pub user_id: Uuid,
    /// `PENDING`, `APPROVED`, `REJECTED` or `CANCELLED`.
    pub status: String,
    #[schema(value_type = Vec<ItemView>)]
    pub items: Json<Vec<ItemView>>,
    /// Sum of quantity × unit price, computed by orders-command.
    pub total_cents: i64,
    /// ISO 4217 code of the currency of the prices and the total.
    pub currency: String,
    /// Why the order was rejected, once it is.
    pub rejection_reason: Option<String>,
    /// Why the order was cancelled, once it is.
    pub cancellation_reason: Option<String>,
    /// Sequence of the last event applied; equals the version orders-command answered.
    pub version: i64,
    pub placed_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub approved_at: Option<DateTime<Utc>>,
    pub rejected_at: Option<DateTime<Utc>>,
    pub cancelled_at: Option<DateTime<Utc>>,
}

impl Versioned for OrderView {
    fn version(&self) -> i64 {
        self.version
    }
}

const COLUMNS: &str = "id, user_id, status, items, total_cents, currency, rejection_reason, \
    cancellation_reason, version, placed_at, updated_at, approved_at, rejected_at, cancelled_at";

async fn read(pool: &PgPool, id: Uuid) -> Result<Option<OrderView>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM orders WHERE id = $1"))
        .bind(id)
        .fetch_optional(pool)
        .await
}

fn not_found(id: Uuid) -> Problem {
    Problem::new(StatusCode::NOT_FOUND, "order-not-found", "No such order")
        .with_detail(format!("order {id} is not in the read model"))
}

/// One order. With `min_version`, waits (bounded by `wait_ms`) until the projection has
/// applied that version; if it has not by then, answers 504 with the version it has.
#[utoipa::path(get, path = "/orders/{id}", tag = "orders",
    params(("id" = Uuid, Path, description = "Order id"), VersionParams),
    responses(
        (status = 200, description = "The order", body = OrderView),
        (status = 400, description = "Bad parameter", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown order", body = Problem, content_type = "application/problem+json"),
        (status = 504, description = "min_version not reached within wait_ms; `current_version` says where the read model is", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn get(
    state: web::Data<Reads>,
    caller: Principal,
    id: web::Path<Uuid>,
    params: web::Query<VersionParams>,
) -> Result<HttpResponse, Problem> {
    let id = id.into_inner();
    let order = state
        .at_version(
            id,
            params.into_inner(),
            "order",
            || not_found(id),
            // Another customer's order is as absent as one that does not exist.
            || async {
                let order = read(&state.pool, id).await?;
                Ok(order.filter(|order| caller.may_access(&order.user_id.to_string())))
            },
        )
        .await?;
    Ok(reads::found(&order))
}

/// Query string of `GET /orders`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    /// Only this user's orders.
    pub user_id: Option<Uuid>,
    /// `PENDING`, `APPROVED`, `REJECTED` or `CANCELLED` (any case).
    pub status: Option<String>,
    /// Page size: default 50; larger values are capped at 200.
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

fn status(text: &str) -> Result<&'static str, Problem> {
    let upper = text.trim().to_uppercase();
    STATUSES
        .into_iter()
        .find(|status| *status == upper)
        .ok_or_else(|| {
            Problem::bad_request(format!("status must be one of {}", STATUSES.join(", ")))
        })
}

/// Orders newest first (ids are UUID v7), filtered, a page at a time.
#[utoipa::path(get, path = "/orders", tag = "orders", params(ListParams),
    responses(
        (status = 200, description = "A page", body = Page<OrderView>),
        (status = 400, description = "Bad parameter", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list(
    state: web::Data<Reads>,
    caller: Principal,
    params: web::Query<ListParams>,
) -> Result<HttpResponse, Problem> {
    let mut params = params.into_inner();
    if caller.role == Role::Customer {
        // A customer lists their own orders only.
        let own: Uuid = caller.subject.parse().map_err(|_| {
            Problem::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "The caller's role may not do this",
            )
        })?;
        if params.user_id.is_some_and(|user| user != own) {
            return Ok(HttpResponse::Ok().json(Page::<OrderView> {
                items: Vec::new(),
                next_cursor: None,
            }));
        }
        params.user_id = Some(own);
    }
    let limit = state.page_limit(params.limit)?;
    let status = params.status.as_deref().map(status).transpose()?;
    let before = reads::decode_cursor(params.cursor.as_deref())?;
    let mut items: Vec<OrderView> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM orders \
         WHERE ($1::uuid IS NULL OR user_id = $1) \
           AND ($2::text IS NULL OR status = $2) \
           AND ($3::uuid IS NULL OR id < $3) \
         ORDER BY id DESC LIMIT $4"
    ))
    .bind(params.user_id)
    .bind(status)
    .bind(before)
    .bind(limit + 1)
    .fetch_all(&state.pool)
    .await
    .map_err(|error| Problem::unavailable(&error))?;
    let next_cursor = reads::next_page(&mut items, limit, |order| order.id);
    Ok(HttpResponse::Ok().json(Page { items, next_cursor }))
}

/// Orders of one status (or of all) for a user.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Bucket {
    pub count: i64,
    /// Sum of the orders' totals. A 128-bit integer: the sum of many 64-bit totals.
    #[schema(value_type = i64)]
    pub total_cents: i128,
}

/// A user's orders counted and summed by status.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct OrderSummary {
    pub user_id: Uuid,
    /// One bucket per status: `PENDING`, `APPROVED`, `REJECTED`, `CANCELLED`.
    pub by_status: BTreeMap<String, Bucket>,
    /// Every order of the user, whatever its status.
    pub all: Bucket,
}

/// A user's orders by status: count and total, kept by the projection on every transition
/// (a user without orders has zeros everywhere).
#[utoipa::path(get, path = "/users/{user_id}/order-summary", tag = "orders",
    params(("user_id" = Uuid, Path, description = "User id")),
    responses(
        (status = 200, description = "The summary", body = OrderSummary),
        (status = 400, description = "Bad user id", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn summary(
    state: web::Data<Reads>,
    caller: Principal,
    user_id: web::Path<Uuid>,
) -> Result<HttpResponse, Problem> {
    caller.must_access(&user_id.to_string(), || {
        Problem::new(StatusCode::NOT_FOUND, "user-not-found", "No such user")
            .with_detail(format!("user {user_id} is not known"))
    })?;
    let user_id = user_id.into_inner();
    let rows: Vec<(String, i64, String)> = sqlx::query_as(
        "SELECT status, order_count, total_cents::text FROM order_summaries WHERE user_id = $1",
    )
    .bind(user_id)
    .fetch_all(&state.pool)
    .await
    .map_err(|error| Problem::unavailable(&error))?;
    let mut by_status: BTreeMap<String, Bucket> = STATUSES
        .iter()
        .map(|status| (status.to_string(), Bucket::default()))
        .collect();
    let mut all = Bucket::default();
    for (status, count, total) in rows {
        let total_cents: i128 = total.parse().map_err(|_| {
            Problem::internal(&std::io::Error::other(format!(
                "summary total {total:?} is not an integer"
            )))
        })?;
        all.count += count;
        all.total_cents += total_cents;
        by_status.insert(status, Bucket { count, total_cents });
    }
    Ok(HttpResponse::Ok().json(OrderSummary {
        user_id,
        by_status,
        all,
    }))
}
