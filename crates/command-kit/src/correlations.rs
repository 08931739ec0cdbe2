//! `GET /admin/correlations/{id}`: the events one request caused in this context's store, each
//! with its outbox row's state. The first hops of following a request through the pipeline
//! (the gateway adds the topic, the consumers and the saga).

use actix_web::{HttpResponse, web};
use service_kit::Problem;
use service_kit::auth::{Principal, Role};
use utoipa::OpenApi;

/// The route's OpenAPI document, merged into every command service's.
#[derive(OpenApi)]
#[openapi(paths(correlated))]
pub struct CorrelationsApi;

/// Mounts the route; it reads the event store pool from `pool`.
pub fn configure(pool: sqlx::PgPool) -> impl Fn(&mut web::ServiceConfig) + Clone {
    let pool = web::Data::new(Store(pool));
    move |config| {
        config
            .app_data(pool.clone())
            .route("/admin/correlations/{id}", web::get().to(correlated));
    }
}

struct Store(sqlx::PgPool);

/// The events stored with correlation id `id` (oldest first, at most 200), each with whether
/// its outbox row was published, is pending or was set aside. Operators only.
#[utoipa::path(get, path = "/admin/correlations/{id}", tag = "admin",
    params(("id" = String, Path, description = "A correlation id (X-Correlation-Id of a request, or an event's)")),
    responses((status = 200, description = "The correlated events, possibly none")))]
async fn correlated(
    store: web::Data<Store>,
    caller: Principal,
    id: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    caller.require(&[Role::Admin])?;
    if !service_kit::http::valid_correlation_id(&id) {
        return Err(Problem::bad_request(
            "a correlation id is 1 to 128 letters, digits and -_.:",
        ));
    }
    let events = event_store::correlated(&store.0, &id)
        .await
        .map_err(|error| Problem::unavailable(&error))?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "correlation_id": *id, "events": events })))
}
