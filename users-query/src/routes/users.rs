//! `GET /users/{id}` (with read-your-writes) and `GET /users` (filters, keyset pagination).

use std::time::Duration;

use actix_web::http::{StatusCode, header};
use actix_web::{HttpResponse, web};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use projector::{AppliedWatch, WaitOutcome};
use serde::{Deserialize, Serialize};
use service_kit::Problem;
use sqlx::PgPool;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::settings::ReadSettings;

/// What the query handlers share.
pub struct QueryState {
    /// The read model's pool (its search path is the live schema).
    pub pool: PgPool,
    /// Applied-version notifications, for `min_version`.
    pub watch: AppliedWatch,
    pub limits: ReadSettings,
}

/// Mounts the routes.
pub fn configure(config: &mut web::ServiceConfig) {
    config
        .route("/users", web::get().to(list))
        .route("/users/{id}", web::get().to(get));
}

/// A user as the read model holds it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, sqlx::FromRow)]
pub struct UserView {
    pub id: Uuid,
    pub email: String,
    pub name: String,
    /// `active` or `deactivated`.
    pub status: String,
    pub credit_limit_cents: i64,
    pub reserved_cents: i64,
    /// `credit_limit_cents - reserved_cents`.
    pub available_cents: i64,
    /// Sequence of the last event applied; equals the version users-command answered.
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, email, name, status, credit_limit_cents, reserved_cents, \
    credit_limit_cents - reserved_cents AS available_cents, version, created_at, updated_at";

/// Query string of `GET /users/{id}`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct GetParams {
    /// Wait until the read model has applied this version (read your own write).
    pub min_version: Option<i64>,
    /// How long to wait for `min_version`, in milliseconds: default 2000, at most 10000.
    pub wait_ms: Option<u64>,
}

async fn read(pool: &PgPool, id: Uuid) -> Result<Option<(UserView, i64)>, sqlx::Error> {
    let user: Option<UserView> =
        sqlx::query_as(&format!("SELECT {COLUMNS} FROM users WHERE id = $1"))
            .bind(id)
            .fetch_optional(pool)
            .await?;
    Ok(user.map(|user| {
        let version = user.version;
        (user, version)
    }))
}

fn found(user: UserView) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(header::ETag(header::EntityTag::new_strong(
            user.version.to_string(),
        )))
        .json(user)
}

fn not_found(id: Uuid) -> Problem {
    Problem::new(StatusCode::NOT_FOUND, "user-not-found", "No such user")
        .with_detail(format!("user {id} is not in the read model"))
}

/// One user. With `min_version`, waits (bounded by `wait_ms`) until the projection has applied
/// that version; if it has not by then, answers 504 with the version it has.
#[utoipa::path(get, path = "/users/{id}", tag = "users",
    params(("id" = Uuid, Path, description = "User id"), GetParams),
    responses(
        (status = 200, description = "The user", body = UserView),
        (status = 400, description = "Bad parameter", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown user", body = Problem, content_type = "application/problem+json"),
        (status = 504, description = "min_version not reached within wait_ms; `current_version` says where the read model is", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn get(
    state: web::Data<QueryState>,
    id: web::Path<Uuid>,
    params: web::Query<GetParams>,
) -> Result<HttpResponse, Problem> {
    let id = id.into_inner();
    let params = params.into_inner();
    let failed = |error: sqlx::Error| Problem::unavailable(&error);
    let Some(min_version) = params.min_version else {
        if params.wait_ms.is_some() {
            return Err(Problem::bad_request("wait_ms needs min_version"));
        }
        return match read(&state.pool, id).await.map_err(failed)? {
            Some((user, _)) => Ok(found(user)),
            None => Err(not_found(id)),
        };
    };
    if min_version < 1 {
        return Err(Problem::bad_request("min_version must be at least 1"));
    }
    let wait_ms = params.wait_ms.unwrap_or(state.limits.default_wait_ms);
    if wait_ms > state.limits.max_wait_ms {
        return Err(Problem::bad_request(format!(
            "wait_ms must be at most {}",
            state.limits.max_wait_ms
        )));
    }
    let outcome = state
        .watch
        .wait_for(
            &id.to_string(),
            min_version,
            Duration::from_millis(wait_ms),
            || read(&state.pool, id),
        )
        .await
        .map_err(failed)?;
    match outcome {
        WaitOutcome::Reached(user) => Ok(found(user)),
        WaitOutcome::TimedOut(current) => {
            let current_version = current.map_or(0, |user| user.version);
            Err(Problem::new(
                StatusCode::GATEWAY_TIMEOUT,
                "version-not-reached",
                "The read model has not reached the requested version yet",
            )
            .with_detail(format!(
                "waited {wait_ms} ms for version {min_version} of user {id}; the read model is at {current_version}"
            ))
            .with("current_version", current_version))
        }
    }
}

/// Query string of `GET /users`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    /// Exact email (case-insensitive).
    pub email: Option<String>,
    /// Names starting with this (case-insensitive).
    pub name_prefix: Option<String>,
    /// `active` or `deactivated`.
    pub status: Option<String>,
    /// Page size: default 50; larger values are capped at 200.
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// A page of users.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct UserPage {
    pub items: Vec<UserView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

fn encode_cursor(id: Uuid) -> String {
    URL_SAFE_NO_PAD.encode(id.as_bytes())
}

fn decode_cursor(cursor: &str) -> Option<Uuid> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor).ok()?;
    Uuid::from_slice(&bytes).ok()
}

/// Users in registration order (ids are UUID v7), filtered, a page at a time.
#[utoipa::path(get, path = "/users", tag = "users", params(ListParams),
    responses(
        (status = 200, description = "A page", body = UserPage),
        (status = 400, description = "Bad parameter", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list(
    state: web::Data<QueryState>,
    params: web::Query<ListParams>,
) -> Result<HttpResponse, Problem> {
    let params = params.into_inner();
    let limit = match params.limit {
        None => state.limits.default_limit,
        Some(limit) if limit >= 1 => limit.min(state.limits.max_limit),
        Some(_) => return Err(Problem::bad_request("limit must be at least 1")),
    };
    if let Some(status) = &params.status
        && !["active", "deactivated"].contains(&status.as_str())
    {
        return Err(Problem::bad_request("status must be active or deactivated"));
    }
    let after = match &params.cursor {
        None => None,
        Some(cursor) => Some(
            decode_cursor(cursor)
                .ok_or_else(|| Problem::bad_request("cursor is not one this service issued"))?,
        ),
    };
    let email = params.email.map(|email| email.trim().to_lowercase());
    let name_pattern = params.name_prefix.map(|prefix| {
        let escaped = prefix
            .to_lowercase()
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        format!("{escaped}%")
    });
    let mut items: Vec<UserView> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM users \
         WHERE ($1::text IS NULL OR email = $1) \
           AND ($2::text IS NULL OR lower(name) LIKE $2) \
           AND ($3::text IS NULL OR status = $3) \
           AND ($4::uuid IS NULL OR id > $4) \
         ORDER BY id LIMIT $5"
    ))
    .bind(email)
    .bind(name_pattern)
    .bind(params.status)
    .bind(after)
    .bind(limit + 1)
    .fetch_all(&state.pool)
    .await
    .map_err(|error| Problem::unavailable(&error))?;
    let next_cursor = if items.len() as i64 > limit {
        items.truncate(limit as usize);
        items.last().map(|user| encode_cursor(user.id))
    } else {
        None
    };
    Ok(HttpResponse::Ok().json(UserPage { items, next_cursor }))
}
