//! orders-query: the read side of the Orders bounded context.
//!
//! The projector consumes `orders.events` into the `orders_view` schema of its own database;
//! the HTTP API serves it, waits for a version on request (read your own write), and lets an
//! operator retry or skip parked events and rebuild the model from the event store.

pub mod projection;
pub mod routes;
pub mod settings;
pub mod startup;

pub use settings::Settings;
pub use startup::Application;
