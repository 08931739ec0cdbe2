//! saga-orchestrator: drives every order from PENDING to a decision. It consumes
//! orders.events through the shared projector runtime into its saga log (in the same
//! transaction as the consumer's checkpoint), and its driver runs each saga's steps against
//! users-command and orders-command through a tower stack (timeout, retry with backoff,
//! circuit breaker, concurrency limit), with an idempotency key per saga and step.

pub mod driver;
pub mod ports;
pub mod projection;
pub mod repair;
pub mod resilience;
pub mod routes;
pub mod saga;
pub mod settings;
mod startup;

pub use settings::Settings;
pub use startup::Application;
