//! `GET /users/{id}/export`: everything the system holds about a data subject, across both
//! bounded contexts (GDPR Art. 15 and 20): the user as folded now, every stored event of theirs
//! with its metadata (personal fields opened, or `[erased]`), their orders from orders-query
//! and each order's sagas from saga-orchestrator, read with the caller's own token.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use command_kit::{CommandState, PeerSettings};
use serde_json::{Value, json};
use service_kit::Problem;
use service_kit::auth::{Principal, Role};
use uuid::Uuid;

use crate::Users;

/// Orders read at most, so one export stays bounded.
const MAX_ORDERS: usize = 10_000;

fn peer_unavailable(what: &str, detail: impl std::fmt::Display) -> Problem {
    Problem::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "export-incomplete",
        "A service holding the subject's data did not answer; nothing partial is given",
    )
    .with_detail(format!("{what}: {detail}"))
}

/// GETs `url` with the caller's `authorization`, as JSON.
async fn fetch(
    client: &reqwest::Client,
    url: String,
    authorization: &str,
    what: &str,
) -> Result<Value, Problem> {
    let response = client
        .get(&url)
        .header(header::AUTHORIZATION.as_str(), authorization)
        .send()
        .await
        .map_err(|error| peer_unavailable(what, error))?;
    if !response.status().is_success() {
        return Err(peer_unavailable(what, response.status()));
    }
    response
        .json()
        .await
        .map_err(|error| peer_unavailable(what, error))
}

/// Exports everything held about a user (admin, e.g. the data-protection officer answering a
/// request): `{subject, exported_at, user, events, orders: [{…order, sagas: […]}]}`. A service
/// that does not answer makes it a 503, never a partial export. Works for an erased user too
/// (their personal fields read `[erased]`).
#[utoipa::path(get, path = "/users/{id}/export", tag = "users",
    params(("id" = Uuid, Path, description = "User id")),
    responses((status = 200, description = "Everything held about the user", body = Object),
        (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 503, description = "orders-query or saga-orchestrator did not answer", body = Problem)))]
pub async fn export(
    state: web::Data<CommandState<Users>>,
    peers: web::Data<PeerSettings>,
    caller: Principal,
    request: HttpRequest,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, Problem> {
    caller.require(&[Role::Admin])?;
    let id = *id;
    let events = event_store::read_stream(
        &state.pool,
        state.bus.repository().reading(),
        contracts::users::AGGREGATE_TYPE,
        &id.to_string(),
    )
    .await
    .map_err(|error| Problem::unavailable(&error))?;
    if events.is_empty() {
        return Err(super::users::user_not_found(id));
    }
    let (user, version) = state
        .bus
        .load(&id.to_string())
        .await
        .map_err(crate::error::refused)?;
    let authorization = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_millis(peers.timeout_ms))
        .build()
        .map_err(|error| Problem::unavailable(&error))?;
    let mut orders = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut url = format!(
            "{}/orders?user_id={id}&limit=200",
            peers.orders_query_url.trim_end_matches('/')
        );
        if let Some(cursor) = &cursor {
            url.push_str(&format!("&cursor={cursor}"));
        }
        let page = fetch(&client, url, &authorization, "orders-query").await?;
        orders.extend(page["items"].as_array().cloned().unwrap_or_default());
        cursor = page["next_cursor"].as_str().map(str::to_owned);
        if cursor.is_none() || orders.len() >= MAX_ORDERS {
            break;
        }
    }
    for order in &mut orders {
        let order_id = order["id"].as_str().unwrap_or_default().to_owned();
        let url = format!(
            "{}/sagas?order_id={order_id}",
            peers.saga_url.trim_end_matches('/')
        );
        let sagas = fetch(&client, url, &authorization, "saga-orchestrator").await?;
        order["sagas"] = sagas["items"].clone();
    }
    Ok(HttpResponse::Ok().json(json!({
        "subject": id,
        "exported_at": chrono::Utc::now(),
        "user": { "version": version, "state": user },
        "events": events,
        "orders": orders,
    })))
}
