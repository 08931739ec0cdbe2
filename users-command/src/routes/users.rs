//! `/users`: the User commands and the user's event stream.

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpResponse, web};
use command_kit::CommandState;
use command_kit::http::{Call, CommandHeaders, CreateHeaders, field, parse_field};
use event_store::Executed;
use serde::{Deserialize, Serialize};
use service_kit::Problem;
use service_kit::auth::{Principal, Role};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::Users;
use users_domain::{CreditCents, Email, Reason, Reservation, User, UserCommand, UserName};

/// What the handlers share.
type State = web::Data<CommandState<Users>>;

/// Mounts the routes.
pub fn configure(config: &mut web::ServiceConfig) {
    config
        .route("/users", web::post().to(register))
        .route("/users/{id}/email", web::post().to(change_email))
        .route("/users/{id}/name", web::post().to(rename))
        .route(
            "/users/{id}/credit-limit",
            web::post().to(change_credit_limit),
        )
        .route("/users/{id}/deactivate", web::post().to(deactivate))
        .route("/users/{id}/erasure", web::post().to(erase))
        .route(
            "/users/{id}/credit-reservations",
            web::post().to(reserve_credit),
        )
        .route(
            "/users/{id}/credit-reservations/{order_id}",
            web::delete().to(release_credit),
        )
        .route("/users/{id}/events", web::get().to(events))
        .route("/users/{id}/export", web::get().to(super::export::export));
}

/// Body of `POST /users`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterUser {
    /// Unique across users, compared case-insensitively.
    #[schema(example = "ada@example.com")]
    pub email: String,
    /// 1 to 200 characters.
    #[schema(example = "Ada Lovelace")]
    pub name: String,
    /// 0 to 100000000000.
    #[schema(example = 50000)]
    pub credit_limit_cents: i64,
}

/// Body of `POST /users/{id}/email`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeEmail {
    pub email: String,
}

/// Body of `POST /users/{id}/name`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Rename {
    pub name: String,
}

/// Body of `POST /users/{id}/credit-limit`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeCreditLimit {
    pub credit_limit_cents: i64,
}

/// Body of `POST /users/{id}/deactivate`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Deactivate {
    /// 1 to 500 characters.
    pub reason: String,
}

/// Body of `POST /users/{id}/erasure`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Erase {
    /// Why (e.g. the data subject's request and its reference); 1 to 500 characters, kept in
    /// the `UserErased` event, so it must hold no personal data itself.
    #[schema(example = "erasure request 2026-118")]
    pub reason: String,
}

/// Body of `POST /users/{id}/credit-reservations`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReserveCredit {
    /// The order the credit is held for; the reservation's idempotency key.
    pub order_id: Uuid,
    /// 1 to 100000000000.
    pub amount_cents: i64,
}

/// A command's result.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Accepted {
    /// The user's id.
    pub id: Uuid,
    /// The user's version after the command (unchanged when it was a repeat).
    pub version: u64,
}

/// The result of a reservation or release.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ReservationOutcome {
    pub id: Uuid,
    pub version: u64,
    pub order_id: Uuid,
    /// `reserved`, `already_reserved`, `released`, `already_released` or `nothing_reserved`.
    pub outcome: String,
    /// The amount the order holds (or held).
    pub amount_cents: i64,
    /// Credit the user holds for all orders.
    pub reserved_cents: i64,
    /// Credit the user can still reserve.
    pub available_cents: i64,
}

/// The 404 of an unknown user, and of another customer's user.
pub(crate) fn user_not_found(id: Uuid) -> Problem {
    Problem::new(StatusCode::NOT_FOUND, "user-not-found", "No such user")
        .with_detail(format!("user {id} is not known"))
}

impl TryFrom<RegisterUser> for UserCommand {
    type Error = Problem;
    fn try_from(body: RegisterUser) -> Result<Self, Problem> {
        let mut errors = Vec::new();
        let email = field(&mut errors, "email", Email::parse(&body.email));
        let name = field(&mut errors, "name", UserName::parse(&body.name));
        let limit = field(
            &mut errors,
            "credit_limit_cents",
            CreditCents::parse(body.credit_limit_cents),
        );
        match (email, name, limit) {
            (Some(email), Some(name), Some(credit_limit)) => Ok(Self::Register {
                user_id: Uuid::now_v7(),
                email,
                name,
                credit_limit,
            }),
            _ => Err(Problem::validation(errors)),
        }
    }
}

/// Runs `command` on user `id` and answers `{id, version}`.
async fn accept(
    state: &State,
    id: Uuid,
    command: UserCommand,
    call: Call,
    body: &impl Serialize,
) -> Result<HttpResponse, Problem> {
    let executed = state.execute(id, command, call, body).await?;
    let version = executed.version;
    Ok(command_kit::http::answer(
        StatusCode::OK,
        version,
        executed.replayed,
        &Accepted { id, version },
    ))
}

/// Registers a user.
#[utoipa::path(post, path = "/users", request_body = RegisterUser, tag = "users",
    params(CreateHeaders),
    responses(
        (status = 201, description = "Registered; Location names the user", body = Accepted),
        (status = 400, description = "Malformed JSON, unknown or missing fields", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Email already in use", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over 64 KiB", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields, or an idempotency key used for another request", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn register(
    state: State,
    caller: Principal,
    call: Call,
    body: web::Json<RegisterUser>,
) -> Result<HttpResponse, Problem> {
    caller.require(&[Role::Admin])?;
    let body = body.into_inner();
    let command = UserCommand::try_from(body.clone())?;
    let UserCommand::Register { user_id, .. } = &command else {
        unreachable!("RegisterUser converts to Register");
    };
    let asked = *user_id;
    let executed = state.execute(asked, command, call, &body).await?;
    // A replayed key answers the user the first request registered.
    let id = executed.aggregate_id.parse().unwrap_or(asked);
    let version = executed.version;
    let mut response = command_kit::http::answer(
        StatusCode::CREATED,
        version,
        executed.replayed,
        &Accepted { id, version },
    );
    response.headers_mut().insert(
        header::LOCATION,
        header::HeaderValue::from_str(&format!("/users/{id}"))
            .expect("a UUID path is a valid header"),
    );
    Ok(response)
}

/// Changes a user's email.
#[utoipa::path(post, path = "/users/{id}/email", request_body = ChangeEmail, tag = "users",
    params(("id" = Uuid, Path, description = "User id"), CommandHeaders),
    responses((status = 200, body = Accepted), (status = 404, body = Problem), (status = 409, description = "Email taken, user deactivated or version mismatch", body = Problem), (status = 422, body = Problem)))]
pub async fn change_email(
    state: State,
    caller: Principal,
    call: Call,
    id: web::Path<Uuid>,
    body: web::Json<ChangeEmail>,
) -> Result<HttpResponse, Problem> {
    caller.must_access(&id.to_string(), || user_not_found(*id))?;
    let email = parse_field("email", Email::parse(&body.email))?;
    let command = UserCommand::ChangeEmail { email };
    accept(&state, *id, command, call, &*body).await
}

/// Renames a user.
#[utoipa::path(post, path = "/users/{id}/name", request_body = Rename, tag = "users",
    params(("id" = Uuid, Path, description = "User id"), CommandHeaders),
    responses((status = 200, body = Accepted), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn rename(
    state: State,
    caller: Principal,
    call: Call,
    id: web::Path<Uuid>,
    body: web::Json<Rename>,
) -> Result<HttpResponse, Problem> {
    caller.must_access(&id.to_string(), || user_not_found(*id))?;
    let name = parse_field("name", UserName::parse(&body.name))?;
    accept(&state, *id, UserCommand::Rename { name }, call, &*body).await
}

/// Changes a user's credit limit; it cannot drop below the credit already reserved.
#[utoipa::path(post, path = "/users/{id}/credit-limit", request_body = ChangeCreditLimit, tag = "users",
    params(("id" = Uuid, Path, description = "User id"), CommandHeaders),
    responses((status = 200, body = Accepted), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn change_credit_limit(
    state: State,
    caller: Principal,
    call: Call,
    id: web::Path<Uuid>,
    body: web::Json<ChangeCreditLimit>,
) -> Result<HttpResponse, Problem> {
    caller.require(&[Role::Admin])?;
    let credit_limit = parse_field(
        "credit_limit_cents",
        CreditCents::parse(body.credit_limit_cents),
    )?;
    let command = UserCommand::ChangeCreditLimit { credit_limit };
    accept(&state, *id, command, call, &*body).await
}

/// Deactivates a user; a deactivated user cannot reserve credit.
#[utoipa::path(post, path = "/users/{id}/deactivate", request_body = Deactivate, tag = "users",
    params(("id" = Uuid, Path, description = "User id"), CommandHeaders),
    responses((status = 200, body = Accepted), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn deactivate(
    state: State,
    caller: Principal,
    call: Call,
    id: web::Path<Uuid>,
    body: web::Json<Deactivate>,
) -> Result<HttpResponse, Problem> {
    caller.require(&[Role::Admin])?;
    let reason = parse_field("reason", Reason::parse(&body.reason))?;
    let command = UserCommand::Deactivate { reason };
    accept(&state, *id, command, call, &*body).await
}

/// Erases a user's personal data by crypto-shredding: their key is destroyed in the same
/// transaction as the `UserErased` event, so their email and name read as `[erased]`
/// everywhere they were copied (event store, snapshots, outbox, Kafka, read models, rebuilds);
/// the email may be registered again. Orders and credit already held are untouched; the user
/// can no longer act or reserve credit. Repeating it has no second effect.
#[utoipa::path(post, path = "/users/{id}/erasure", request_body = Erase, tag = "users",
    params(("id" = Uuid, Path, description = "User id"), CommandHeaders),
    responses((status = 200, body = Accepted), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn erase(
    state: State,
    caller: Principal,
    call: Call,
    id: web::Path<Uuid>,
    body: web::Json<Erase>,
) -> Result<HttpResponse, Problem> {
    caller.require(&[Role::Admin])?;
    let reason = parse_field("reason", Reason::parse(&body.reason))?;
    let command = UserCommand::Erase { reason };
    accept(&state, *id, command, call, &*body).await
}

/// Reserves credit for an order; repeating it for the same order has no second effect.
#[utoipa::path(post, path = "/users/{id}/credit-reservations", request_body = ReserveCredit, tag = "users",
    params(("id" = Uuid, Path, description = "User id"), CommandHeaders),
    responses(
        (status = 200, description = "`reserved` or `already_reserved`", body = ReservationOutcome),
        (status = 404, body = Problem),
        (status = 409, description = "User deactivated, order holds another amount, or its reservation was released", body = Problem),
        (status = 422, description = "Invalid amount or insufficient credit", body = Problem)))]
pub async fn reserve_credit(
    state: State,
    caller: Principal,
    call: Call,
    id: web::Path<Uuid>,
    body: web::Json<ReserveCredit>,
) -> Result<HttpResponse, Problem> {
    caller.require(&[Role::Service])?;
    let amount = parse_field(
        "amount_cents",
        CreditCents::parse_positive(body.amount_cents),
    )?;
    let (id, order_id) = (id.into_inner(), body.order_id);
    let command = UserCommand::ReserveCredit { order_id, amount };
    let executed = state.execute(id, command, call, &*body).await?;
    // A replayed key recorded events the first time: that request reserved.
    let outcome = if executed.replayed || !executed.events.is_empty() {
        "reserved"
    } else {
        "already_reserved"
    };
    Ok(reservation_response(id, order_id, outcome, &executed))
}

/// Releases an order's credit; repeating it has no second effect. Releasing an order that
/// reserved nothing closes it, so a late reservation for it is refused.
#[utoipa::path(delete, path = "/users/{id}/credit-reservations/{order_id}", tag = "users",
    params(("id" = Uuid, Path, description = "User id"), ("order_id" = Uuid, Path, description = "Order id"), CommandHeaders),
    responses(
        (status = 200, description = "`released`, `already_released` or `nothing_reserved`", body = ReservationOutcome),
        (status = 404, body = Problem)))]
pub async fn release_credit(
    state: State,
    caller: Principal,
    call: Call,
    path: web::Path<(Uuid, Uuid)>,
) -> Result<HttpResponse, Problem> {
    caller.require(&[Role::Service])?;
    let (id, order_id) = path.into_inner();
    let command = UserCommand::ReleaseCredit { order_id };
    let executed = state.execute(id, command, call, &()).await?;
    let outcome = match (
        executed.events.is_empty() && !executed.replayed,
        executed.state.reservation(order_id),
    ) {
        (true, _) => "already_released",
        (false, Some(Reservation::Released { amount_cents: 0 })) => "nothing_reserved",
        (false, _) => "released",
    };
    Ok(reservation_response(id, order_id, outcome, &executed))
}

fn reservation_response(
    id: Uuid,
    order_id: Uuid,
    outcome: &str,
    executed: &Executed<User>,
) -> HttpResponse {
    let amount_cents = match executed.state.reservation(order_id) {
        Some(Reservation::Held { amount_cents } | Reservation::Released { amount_cents }) => {
            amount_cents
        }
        None => 0,
    };
    let body = ReservationOutcome {
        id,
        version: executed.version,
        order_id,
        outcome: outcome.to_owned(),
        amount_cents,
        reserved_cents: executed.state.reserved_cents(),
        available_cents: executed.state.available_cents(),
    };
    command_kit::http::answer(StatusCode::OK, executed.version, executed.replayed, &body)
}

/// The user's events in sequence order, with their metadata.
#[utoipa::path(get, path = "/users/{id}/events", tag = "users",
    params(("id" = Uuid, Path, description = "User id")),
    responses((status = 200, description = "The stream, oldest first"), (status = 404, body = Problem)))]
pub async fn events(
    state: State,
    caller: Principal,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, Problem> {
    caller.must_access(&id.to_string(), || user_not_found(*id))?;
    state.stream(*id, user_not_found(*id)).await
}
