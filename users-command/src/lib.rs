//! users-command: the write side of the Users bounded context.
//!
//! REST commands decide against the User aggregate (`users-domain`) and commit its events,
//! snapshot, outbox rows and email claims in one transaction; the in-process relay publishes
//! the outbox to the `users.events` topic. Settings, start-up and `main` are command-kit's:
//! this crate names the context ([`Users`]) and brings its routes and its problems.

mod error;
pub mod routes;

use std::sync::Arc;

use command_kit::{CommandApp, CommandContext, CommandSettings};
use event_store::{CommandError, EventContract};
use service_kit::Problem;
use users_domain::{User, UserError, UsersContract};
use utoipa::OpenApi;

/// The Users context's command service.
#[derive(Debug, Clone, Copy)]
pub struct Users;

impl CommandContext for Users {
    type Aggregate = User;

    const SERVICE: &'static str = "users-command";
    const SUMMARY: &'static str = "the write side of the Users bounded context (REST commands \
        -> event store -> outbox -> Kafka topic users.events).";
    const ENDPOINTS: &'static str = "/users...";
    const ENV_PREFIX: &'static str = "USERS_COMMAND";
    const PORT: u16 = 5001;
    const DATABASE: &'static str = "users_es";
    const TOPIC: &'static str = "users.events";

    fn contract(topic: &str) -> Arc<dyn EventContract> {
        Arc::new(UsersContract::new(topic))
    }

    fn refused(error: CommandError<UserError>) -> Problem {
        error::refused(error)
    }

    fn openapi() -> utoipa::openapi::OpenApi {
        routes::ApiDoc::openapi()
    }

    fn routes(config: &mut actix_web::web::ServiceConfig) {
        routes::users::configure(config);
    }
}

/// users-command's settings: command-kit's, with the Users defaults.
pub type Settings = CommandSettings<Users>;

/// users-command itself.
pub type Application = CommandApp<Users>;
