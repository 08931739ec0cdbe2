//! HTTP routes of users-command.

pub mod export;
pub mod users;

use utoipa::OpenApi;

/// The OpenAPI document served at `/api-docs/openapi.json`.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "users-command",
        description = "Commands of the Users bounded context. Every \
        command answers with the user's id and new version; errors are application/problem+json."
    ),
    paths(
        users::register,
        users::change_email,
        users::rename,
        users::change_credit_limit,
        users::deactivate,
        users::erase,
        users::reserve_credit,
        users::release_credit,
        users::events,
        export::export,
    ),
    components(schemas(service_kit::Problem, service_kit::FieldError))
)]
pub struct ApiDoc;
