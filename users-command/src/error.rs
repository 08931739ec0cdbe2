//! The one place where users-command's errors become problem+json responses.

use actix_web::http::StatusCode;
use event_store::CommandError;
use service_kit::{FieldError, Problem};

use users_domain::{USER_EMAIL_SCOPE, UserError};

/// A refused User command as the problem its client reads.
pub fn refused(error: CommandError<UserError>) -> Problem {
    match error {
        CommandError::ClaimTaken(taken) if taken.scope == USER_EMAIL_SCOPE => Problem::new(
            StatusCode::CONFLICT,
            "email-taken",
            "The email is already in use",
        )
        .with_detail("the email belongs to another user"),
        other => command_kit::problem::command_problem(other, "user", rejected),
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
        UserError::Erased => Problem::new(
            StatusCode::GONE,
            "user-erased",
            "The user's personal data was erased",
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
