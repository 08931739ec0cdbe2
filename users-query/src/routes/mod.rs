//! HTTP routes of users-query.

pub mod users;

use utoipa::OpenApi;

/// The OpenAPI document served at `/api-docs/openapi.json`.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "users-query",
        description = "The Users read model. Reads can wait for a version \
        (`min_version`) to read their own writes; errors are application/problem+json."
    ),
    paths(users::get, users::list),
    components(schemas(service_kit::Problem, service_kit::FieldError))
)]
pub struct ApiDoc;
