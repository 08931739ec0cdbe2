//! HTTP routes of orders-query.

pub mod orders;

use utoipa::OpenApi;

/// The OpenAPI document served at `/api-docs/openapi.json`.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "orders-query",
        description = "The Orders read model. Reads can wait for a version \
        (`min_version`) to read their own writes; errors are application/problem+json."
    ),
    paths(orders::get, orders::list, orders::summary),
    components(schemas(service_kit::Problem, service_kit::FieldError))
)]
pub struct ApiDoc;
