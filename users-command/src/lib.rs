//! users-command: the write side of the Users bounded context.
//!
//! REST commands decide against the User aggregate and commit its events, snapshot, outbox
//! rows and email claims in one transaction; the in-process relay publishes the outbox to
//! the `users.events` topic.

mod error;
pub mod routes;
pub mod settings;
pub mod startup;

pub use settings::Settings;
pub use startup::Application;
