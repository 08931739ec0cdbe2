//! orders-query: the read side of the Orders bounded context.
//!
//! The projector consumes `orders.events` into the `orders_view` schema of its own database;
//! the HTTP API serves it, waits for a version on request (read your own write), and lets an
//! operator retry or skip parked events and rebuild the model from the event store. Settings,
//! start-up and `main` are query-kit's: this crate names the context ([`Orders`]) and brings
//! its projection and its query routes.

pub mod projection;
pub mod routes;

use query_kit::{QueryApp, QueryContext, QuerySettings};
use utoipa::OpenApi;

/// The Orders context's query service.
#[derive(Debug, Clone, Copy)]
pub struct Orders;

impl QueryContext for Orders {
    type Projection = projection::OrdersView;

    const SERVICE: &'static str = "orders-query";
    const SUMMARY: &'static str = "the read side of the Orders bounded context (Kafka topic \
        orders.events -> projector -> read model in its own database -> REST queries).";
    const ENDPOINTS: &'static str = "GET /orders/{id}[?min_version=N&wait_ms=M], \
        GET /orders?user_id=|status=&limit=&cursor= (newest first), \
        GET /users/{user_id}/order-summary";
    const ENV_PREFIX: &'static str = "ORDERS_QUERY";
    const PORT: u16 = 5012;
    const DATABASE: &'static str = "orders_read";
    const EVENT_STORE: &'static str = "orders_es";
    const TOPIC: &'static str = "orders.events";
    const GROUP: &'static str = "orders-query";
    const AGGREGATE_TYPE: &'static str = contracts::orders::AGGREGATE_TYPE;

    fn projection(_event_store: &sqlx::PgPool) -> Self::Projection {
        projection::OrdersView
    }

    fn openapi() -> utoipa::openapi::OpenApi {
        routes::ApiDoc::openapi()
    }

    fn routes(config: &mut actix_web::web::ServiceConfig) {
        routes::orders::configure(config);
    }
}

/// orders-query's settings: query-kit's, with the Orders defaults.
pub type Settings = QuerySettings<Orders>;

/// orders-query itself.
pub type Application = QueryApp<Orders>;
