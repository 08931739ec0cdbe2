//! `GET /users/{id}` (with read-your-writes) and `GET /users` (filters, keyset pagination).

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use query_kit::reads::{self, Page, Reads, VersionParams, Versioned};
use serde::{Deserialize, Serialize};
use service_kit::Problem;
use service_kit::auth::{Principal, Role};
use sqlx::PgPool;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

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
    /// `active`, `deactivated` or `erased` (email and name then read `[erased]`).
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

impl Versioned for UserView {
    fn version(&self) -> i64 {
        self.version
    }
}

async fn read(pool: &PgPool, id: Uuid) -> Result<Option<UserView>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM users WHERE id = $1"))
        .bind(id)
        .fetch_optional(pool)
        .await
}

fn not_found(id: Uuid) -> Problem {
    Problem::new(StatusCode::NOT_FOUND, "user-not-found", "No such user")
        .with_detail(format!("user {id} is not in the read model"))
}

/// One user. With `min_version`, waits (bounded by `wait_ms`) until the projection has applied
/// that version; if it has not by then, answers 504 with the version it has.
#[utoipa::path(get, path = "/users/{id}", tag = "users",
    params(("id" = Uuid, Path, description = "User id"), VersionParams),
    responses(
        (status = 200, description = "The user", body = UserView),
        (status = 400, description = "Bad parameter", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown user", body = Problem, content_type = "application/problem+json"),
        (status = 504, description = "min_version not reached within wait_ms; `current_version` says where the read model is", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn get(
    state: web::Data<Reads>,
    caller: Principal,
    id: web::Path<Uuid>,
    params: web::Query<VersionParams>,
) -> Result<HttpResponse, Problem> {
    caller.must_access(&id.to_string(), || not_found(*id))?;
    let id = id.into_inner();
    let user = state
        .at_version(
            id,
            params.into_inner(),
            "user",
            || not_found(id),
            || read(&state.pool, id),
        )
        .await?;
    Ok(reads::found(&user))
}

/// Query string of `GET /users`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    /// Exact email (case-insensitive).
    pub email: Option<String>,
    /// Names starting with this (case-insensitive).
    pub name_prefix: Option<String>,
    /// `active`, `deactivated` or `erased` (email and name then read `[erased]`).
    pub status: Option<String>,
    /// Page size: default 50; larger values are capped at 200.
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// Users in registration order (ids are UUID v7), filtered, a page at a time.
#[utoipa::path(get, path = "/users", tag = "users", params(ListParams),
    responses(
        (status = 200, description = "A page", body = Page<UserView>),
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
    if let Some(status) = &params.status
        && !["active", "deactivated"].contains(&status.as_str())
    {
        return Err(Problem::bad_request("status must be active or deactivated"));
    }
    let after = reads::decode_cursor(params.cursor.as_deref())?;
    let email = reads::text_filter("email", params.email)?.map(|email| email.trim().to_lowercase());
    let name_pattern = reads::text_filter("name_prefix", params.name_prefix)?
        .map(|prefix| reads::like_prefix(&prefix.to_lowercase()));
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
    let next_cursor = reads::next_page(&mut items, limit, |user| user.id);
    Ok(HttpResponse::Ok().json(Page { items, next_cursor }))
}
