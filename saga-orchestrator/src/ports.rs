//! The saga's two ports, users-command (credit) and orders-command (approve, reject), and
//! their HTTP adapters over the resilience stack. Every call carries an idempotency key made
//! of the saga id and the step, so a repeated step answers its first outcome.

use std::future::Future;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tower::BoxError;
use tracing::Instrument as _;
use uuid::Uuid;

use crate::resilience::{self, Answer, Call, Downstream};
use crate::saga::{Reply, Step};

/// Who a step is for and how it is traced.
#[derive(Debug, Clone)]
pub struct StepContext {
    pub saga_id: Uuid,
    pub order_id: Uuid,
    pub user_id: Uuid,
    pub amount_cents: i64,
    /// The rejection reason, for `reject-order`.
    pub reason: Option<String>,
    pub correlation_id: String,
}

impl StepContext {
    /// The key that makes a repeat of `step` answer its first outcome.
    pub fn idempotency_key(&self, step: Step) -> String {
        format!("saga:{}:{}", self.saga_id, step.as_str())
    }
}

/// Runs a saga step against the service that owns it.
pub trait Steps: Send + Sync + 'static {
    fn run(&self, step: Step, context: &StepContext) -> impl Future<Output = Reply> + Send;
}

/// The real services over HTTP.
#[derive(Clone)]
pub struct HttpSteps {
    pub users: Downstream,
    pub orders: Downstream,
}

impl Steps for HttpSteps {
    async fn run(&self, step: Step, context: &StepContext) -> Reply {
        let (downstream, method, path, body) = match step {
            Step::ReserveCredit => (
                &self.users,
                Method::POST,
                format!("/users/{}/credit-reservations", context.user_id),
                Some(json!({ "order_id": context.order_id, "amount_cents": context.amount_cents })),
            ),
            Step::ReleaseCredit => (
                &self.users,
                Method::DELETE,
                format!(
                    "/users/{}/credit-reservations/{}",
                    context.user_id, context.order_id
                ),
                None,
            ),
            Step::ApproveOrder => (
                &self.orders,
                Method::POST,
                format!("/orders/{}/approve", context.order_id),
                Some(json!({})),
            ),
            Step::RejectOrder => (
                &self.orders,
                Method::POST,
                format!("/orders/{}/reject", context.order_id),
                Some(json!({ "reason": context.reason.as_deref().unwrap_or("rejected") })),
            ),
        };
        // A client span per call (retries within it included); the service continues it.
        let span = tracing::info_span!(
            "http.client",
            otel.name = %format!("{method} {}", downstream.name()),
            otel.kind = "client",
            http.request.method = %method,
            server.address = downstream.name(),
            step = step.as_str(),
        );
        let call = Call {
            traceparent: trace_context::of(&span),
            method,
            path,
            body,
            idempotency_key: context.idempotency_key(step),
            correlation_id: context.correlation_id.clone(),
        };
        reply(
            downstream.name(),
            downstream.call(call).instrument(span).await,
        )
    }
}

/// What a downstream answer means for the saga.
pub fn reply(downstream: &str, result: Result<Answer, BoxError>) -> Reply {
    let answer = match result {
        Ok(answer) => answer,
        Err(error) => {
            return Reply::Unavailable {
                error: format!("{downstream}: {error}"),
            };
        }
    };
    let status = answer.status;
    if status.is_success() {
        let detail = answer.body["outcome"]
            .as_str()
            .or(answer.body["status"].as_str())
            .map_or_else(|| status.to_string(), |text| text.to_lowercase());
        return Reply::Done { detail };
    }
    if status == StatusCode::TOO_MANY_REQUESTS
        || !status.is_client_error()
        || resilience::lost_race(&answer)
    {
        return Reply::Unavailable {
            error: format!("{downstream} answered {status}"),
        };
    }
    // Only the service's own problem+json is a refusal; a bare 4xx (from a proxy, say)
    // says nothing about the step, so the step runs again.
    let Some(problem) = answer.body["type"]
        .as_str()
        .filter(|kind| kind.starts_with("/problems/"))
        .map(str::to_owned)
    else {
        return Reply::Unavailable {
            error: format!("{downstream} answered {status} without a problem document"),
        };
    };
    Reply::Refused {
        reason: bounded(readable(&problem, &answer.body)),
        current_status: answer.body["current_status"].as_str().map(str::to_owned),
        problem,
    }
}

/// `reason` cut to what an order's rejection reason may hold (never empty).
fn bounded(reason: String) -> String {
    let reason = reason.trim();
    if reason.is_empty() {
        return "refused".into();
    }
    reason.chars().take(domain_kit::Reason::MAX_LEN).collect()
}

/// A refusal in words a user can read.
fn readable(problem: &str, body: &Value) -> String {
    let slug = problem.rsplit('/').next().unwrap_or(problem);
    match slug {
        "user-not-found" => "unknown user".into(),
        "user-deactivated" => "the user is deactivated".into(),
        "insufficient-credit" => match (
            body["available_cents"].as_i64(),
            body["requested_cents"].as_i64(),
        ) {
            (Some(available), Some(requested)) => format!(
                "insufficient credit: {available} cents available, {requested} cents requested"
            ),
            _ => "insufficient credit".into(),
        },
        "reservation-closed" => "the order's credit was already released".into(),
        _ => body["detail"]
            .as_str()
            .or(body["title"].as_str())
            .unwrap_or(slug)
            .to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, body: Value) -> Result<Answer, BoxError> {
        Ok(Answer {
            status: StatusCode::from_u16(status).unwrap(),
            body,
        })
    }

    #[test]
    fn refusals_become_reasons_a_user_can_read() {
        let cases = [
            (
                404,
                json!({"type": "/problems/user-not-found"}),
                "unknown user",
            ),
            (
                409,
                json!({"type": "/problems/user-deactivated"}),
                "the user is deactivated",
            ),
            (
                422,
                json!({"type": "/problems/insufficient-credit", "available_cents": 100, "requested_cents": 250}),
                "insufficient credit: 100 cents available, 250 cents requested",
            ),
        ];
        for (status, body, expected) in cases {
            match reply("users", answer(status, body)) {
                Reply::Refused { reason, .. } => assert_eq!(reason, expected),
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn reasons_fit_an_orders_rejection_reason() {
        let long = "x".repeat(2_000);
        match reply(
            "orders",
            answer(409, json!({"type": "/problems/odd", "detail": long})),
        ) {
            Reply::Refused { reason, .. } => assert_eq!(reason.chars().count(), 500),
            other => panic!("{other:?}"),
        }
        match reply(
            "orders",
            answer(409, json!({"type": "/problems/odd", "detail": " "})),
        ) {
            Reply::Refused { reason, .. } => assert_eq!(reason, "refused"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn an_illegal_transition_names_the_orders_status() {
        let refused = reply(
            "orders",
            answer(
                409,
                json!({"type": "/problems/illegal-transition", "current_status": "CANCELLED", "detail": "no"}),
            ),
        );
        assert_eq!(
            refused,
            Reply::Refused {
                problem: "/problems/illegal-transition".into(),
                reason: "no".into(),
                current_status: Some("CANCELLED".into()),
            }
        );
    }

    #[test]
    fn server_errors_throttling_and_transport_errors_are_unavailable_and_2xx_is_done() {
        assert!(matches!(
            reply(
                "users",
                answer(409, json!({"type": "/problems/concurrent-modification"}))
            ),
            Reply::Unavailable { .. }
        ));
        for status in [429, 500, 503] {
            assert!(matches!(
                reply("users", answer(status, Value::Null)),
                Reply::Unavailable { .. }
            ));
        }
        assert!(matches!(
            reply("users", Err("connection refused".into())),
            Reply::Unavailable { .. }
        ));
        // A 4xx that is not the service's problem document is not a refusal.
        for body in [Value::Null, json!({"type": "about:blank"})] {
            assert!(matches!(
                reply("users", answer(404, body)),
                Reply::Unavailable { .. }
            ));
        }
        assert_eq!(
            reply("users", answer(200, json!({"outcome": "reserved"}))),
            Reply::Done {
                detail: "reserved".into()
            }
        );
    }
}
