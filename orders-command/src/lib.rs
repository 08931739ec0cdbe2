//! orders-command: the write side of the Orders bounded context.
//!
//! REST commands decide against the Order aggregate (`orders-domain`) and commit its events,
//! snapshot and outbox rows in one transaction; the in-process relay publishes
//! the outbox to the `orders.events` topic. Settings, start-up and `main` are command-kit's:
//! this crate names the context ([`Orders`]) and brings its routes and its problems.

mod error;
pub mod routes;

use std::sync::Arc;

use command_kit::{CommandApp, CommandContext, CommandSettings};
use event_store::{CommandError, EventContract};
use orders_domain::{Order, OrderError, OrdersContract};
use service_kit::Problem;
use utoipa::OpenApi;

/// The Orders context's command service.
#[derive(Debug, Clone, Copy)]
pub struct Orders;

impl CommandContext for Orders {
    type Aggregate = Order;

    const SERVICE: &'static str = "orders-command";
    const SUMMARY: &'static str = "the write side of the Orders bounded context (REST commands \
        -> event store -> outbox -> Kafka topic orders.events).";
    const ENDPOINTS: &'static str = "/orders...";
    const ENV_PREFIX: &'static str = "ORDERS_COMMAND";
    const PORT: u16 = 5002;
    const DATABASE: &'static str = "orders_es";
    const TOPIC: &'static str = "orders.events";

    fn contract(topic: &str) -> Arc<dyn EventContract> {
        Arc::new(OrdersContract::new(topic))
    }

    fn refused(error: CommandError<OrderError>) -> Problem {
        error::refused(error)
    }

    fn openapi() -> utoipa::openapi::OpenApi {
        routes::ApiDoc::openapi()
    }

    fn routes(config: &mut actix_web::web::ServiceConfig) {
        routes::orders::configure(config);
    }
}

/// orders-command's settings: command-kit's, with the Orders defaults.
pub type Settings = CommandSettings<Orders>;

/// orders-command itself.
pub type Application = CommandApp<Orders>;
