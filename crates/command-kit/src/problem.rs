//! Every way a command can fail, as application/problem+json. The bounded context only says
//! how its aggregate's own refusals read.

use actix_web::http::StatusCode;
use event_store::CommandError;
use service_kit::Problem;

/// The problem for `error` on an aggregate called `noun` (`user`, `order`); `rejected`
/// describes the aggregate's own refusals.
pub fn command_problem<E: std::error::Error>(
    error: CommandError<E>,
    noun: &str,
    rejected: impl FnOnce(E) -> Problem,
) -> Problem {
    match error {
        CommandError::Rejected(rejection) => rejected(rejection),
        CommandError::VersionMismatch { expected, actual } => Problem::new(
            StatusCode::CONFLICT,
            "version-mismatch",
            &format!("The {noun} is not at the expected version"),
        )
        .with_detail(format!(
            "If-Match asked for version {expected}, the {noun} is at {actual}"
        ))
        .with("current_version", actual),
        CommandError::Concurrent => Problem::new(
            StatusCode::CONFLICT,
            "concurrent-modification",
            &format!("Another command changed the {noun} at the same time"),
        )
        .with_detail(format!("reload the {noun} and retry")),
        CommandError::IdempotencyKeyReused { key } => Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency-key-reused",
            "The idempotency key was used for a different request",
        )
        .with_detail(format!(
            "Idempotency-Key {key:?} was first used with another method, path or body; \
             use a new key for a new request"
        )),
        CommandError::ClaimTaken(taken) => Problem::new(
            StatusCode::CONFLICT,
            "value-taken",
            "A unique value is already in use",
        )
        .with_detail(taken.to_string()),
        CommandError::Store(error) => store_failure(error.as_ref()),
    }
}

/// 503 when the database is unreachable or saturated, 500 otherwise; both opaque.
fn store_failure(error: &(dyn std::error::Error + Send + Sync + 'static)) -> Problem {
    let unavailable = matches!(
        error.downcast_ref::<sqlx::Error>(),
        Some(sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed)
    );
    if unavailable {
        Problem::unavailable(error)
    } else {
        Problem::internal(error)
    }
}
