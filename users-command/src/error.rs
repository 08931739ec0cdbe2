//! The one place where users-command's errors become problem+json responses.

use actix_web::http::StatusCode;
use event_store::CommandError;
use service_kit::{FieldError, Problem};

use crate::domain::{USER_EMAIL_SCOPE, UserError};

impl From<UserCommandError> for Problem {
    fn from(UserCommandError(error): UserCommandError) -> Self {
        match error {
            CommandError::Rejected(rejection) => rejected(rejection),
            CommandError::VersionMismatch { expected, actual } => Problem::new(
                StatusCode::CONFLICT,
                "version-mismatch",
                "The user is not at the expected version",
            )
            .with_detail(format!(
                "If-Match asked for version {expected}, the user is at {actual}"
            ))
            .with("current_version", actual),
            CommandError::Concurrent => Problem::new(
                StatusCode::CONFLICT,
                "concurrent-modification",
                "Another command changed the user at the same time",
            )
            .with_detail("reload the user and retry"),
            CommandError::ClaimTaken(taken) if taken.scope == USER_EMAIL_SCOPE => Problem::new(
                StatusCode::CONFLICT,
                "email-taken",
                "The email is already in use",
            )
            .with_detail(format!("{} belongs to another user", taken.value)),
            CommandError::ClaimTaken(taken) => Problem::new(
                StatusCode::CONFLICT,
                "value-taken",
                "A unique value is already in use",
            )
            .with_detail(taken.to_string()),
            CommandError::Store(error) => store_failure(error.as_ref()),
        }
    }
}

/// A `CommandError` of the User aggregate (a local type, so it can convert to `Problem`).
pub struct UserCommandError(pub CommandError<UserError>);

impl From<CommandError<UserError>> for UserCommandError {
    fn from(error: CommandError<UserError>) -> Self {
        Self(error)
    }
}

fn rejected(error: UserError) -> Problem {
    let detail = error.to_string();
    match error {
        UserError::NotFound => {
            Problem::new(StatusCode::NOT_FOUND, "user-not-found", "No such user")
        }
        UserError::AlreadyRegistered => Problem::new(
            StatusCode::CONFLICT,
            "user-exists",
            "The user is already registered",
        ),
        UserError::Deactivated => Problem::new(
            StatusCode::CONFLICT,
            "user-deactivated",
            "The user is deactivated",
        ),
        UserError::LimitBelowReserved { .. } => {
            let mut problem = Problem::validation(vec![FieldError::new(
                "credit_limit_cents",
                "below_reserved",
                detail.clone(),
            )]);
            problem.kind = "/problems/credit-limit-below-reserved".into();
            problem
        }
        UserError::InsufficientCredit {
            available_cents,
            requested_cents,
        } => Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "insufficient-credit",
            "The user has not enough credit available",
        )
        .with("available_cents", available_cents)
        .with("requested_cents", requested_cents),
        UserError::ReservationMismatch { .. } => Problem::new(
            StatusCode::CONFLICT,
            "reservation-mismatch",
            "The order already holds a different reservation",
        ),
        UserError::ReservationClosed { .. } => Problem::new(
            StatusCode::CONFLICT,
            "reservation-closed",
            "The order's reservation was released",
        ),
    }
    .with_detail(detail)
}

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
