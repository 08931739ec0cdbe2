//! users-query: the read side of the Users bounded context.
//!
//! The projector consumes `users.events` into the `users_view` schema of its own database;
//! the HTTP API serves it, waits for a version on request (read your own write), and lets an
//! operator retry or skip parked events and rebuild the model from the event store. Settings,
//! start-up and `main` are query-kit's: this crate names the context ([`Users`]) and brings
//! its projection and its query routes.

pub mod projection;
pub mod routes;

use query_kit::{QueryApp, QueryContext, QuerySettings};
use utoipa::OpenApi;

/// The Users context's query service.
#[derive(Debug, Clone, Copy)]
pub struct Users;

impl QueryContext for Users {
    type Projection = projection::UsersView;

    const SERVICE: &'static str = "users-query";
    const SUMMARY: &'static str = "the read side of the Users bounded context (Kafka topic \
        users.events -> projector -> read model in its own database -> REST queries).";
    const ENDPOINTS: &'static str = "GET /users/{id}[?min_version=N&wait_ms=M], \
        GET /users?email=|name_prefix=|status=&limit=&cursor=";
    const ENV_PREFIX: &'static str = "USERS_QUERY";
    const PORT: u16 = 5011;
    const DATABASE: &'static str = "users_read";
    const EVENT_STORE: &'static str = "users_es";
    const TOPIC: &'static str = "users.events";
    const GROUP: &'static str = "users-query";
    const AGGREGATE_TYPE: &'static str = contracts::users::AGGREGATE_TYPE;

    fn projection(event_store: &sqlx::PgPool) -> Self::Projection {
        projection::UsersView {
            keys: event_store.clone(),
        }
    }

    fn openapi() -> utoipa::openapi::OpenApi {
        routes::ApiDoc::openapi()
    }

    fn routes(config: &mut actix_web::web::ServiceConfig) {
        routes::users::configure(config);
    }
}

/// users-query's settings: query-kit's, with the Users defaults.
pub type Settings = QuerySettings<Users>;

/// users-query itself.
pub type Application = QueryApp<Users>;
