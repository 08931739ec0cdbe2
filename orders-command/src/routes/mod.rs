//! HTTP routes of orders-command.

pub mod orders;

use utoipa::OpenApi;

/// The OpenAPI document served at `/api-docs/openapi.json`.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "orders-command",
        description = "Commands of the Orders bounded context. Every \
        command answers with the order's id, new version and status; errors are \
        application/problem+json. Commands accept an `Idempotency-Key` header: a repeat of the \
        same request with the same key answers the first outcome."
    ),
    paths(
        orders::place,
        orders::approve,
        orders::reject,
        orders::cancel,
        orders::events,
    ),
    components(schemas(service_kit::Problem, service_kit::FieldError))
)]
pub struct ApiDoc;
