//! The one place where orders-command's errors become problem+json responses.

use actix_web::http::StatusCode;
use event_store::CommandError;
use service_kit::Problem;

use orders_domain::OrderError;

/// A `CommandError` of the Order aggregate (a local type, so it can convert to `Problem`).
pub struct OrderCommandError(pub CommandError<OrderError>);

impl From<CommandError<OrderError>> for OrderCommandError {
    fn from(error: CommandError<OrderError>) -> Self {
        Self(error)
    }
}

impl From<OrderCommandError> for Problem {
    fn from(OrderCommandError(error): OrderCommandError) -> Self {
        command_kit::problem::command_problem(error, "order", rejected)
    }
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
