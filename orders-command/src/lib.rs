//! orders-command: the write side of the Orders bounded context.
//!
//! REST commands decide against the Order aggregate and commit its events, snapshot, outbox
//! rows and idempotency keys in one transaction; the in-process relay publishes the outbox
//! to the `orders.events` topic. Approval is the place-order saga's decision.

mod error;
pub mod routes;
pub mod settings;
pub mod startup;

pub use settings::Settings;
pub use startup::Application;
