//! The one place where orders-command's errors become problem+json responses.

use actix_web::http::StatusCode;
use event_store::CommandError;
use service_kit::Problem;

use orders_domain::OrderError;

/// A refused Order command as the problem its client reads.
pub fn refused(error: CommandError<OrderError>) -> Problem {
    command_kit::problem::command_problem(error, "order", rejected)
}

/// 404 for an order never placed.
pub fn not_found(id: impl std::fmt::Display) -> Problem {
    Problem::new(StatusCode::NOT_FOUND, "order-not-found", "No such order")
        .with_detail(format!("order {id} has no events"))
}

fn rejected(error: OrderError) -> Problem {
    let detail = error.to_string();
    match error {
        OrderError::NotFound => {
            Problem::new(StatusCode::NOT_FOUND, "order-not-found", "No such order")
        }
        OrderError::AlreadyPlaced => Problem::new(
            StatusCode::CONFLICT,
            "order-exists",
            "The order is already placed",
        ),
        OrderError::IllegalTransition {
            transition,
            current,
        } => Problem::new(
            StatusCode::CONFLICT,
            "illegal-transition",
            "The order's state does not allow this transition",
        )
        .with("current_status", current.as_str())
        .with("transition", transition.to_string()),
    }
    .with_detail(detail)
}
