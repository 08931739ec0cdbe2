//! RFC 9457 problem details: the one error body every service answers with.

use actix_web::http::StatusCode;
use actix_web::http::header::ContentType;
use actix_web::{HttpResponse, ResponseError, error};
use serde::Serialize;
use utoipa::ToSchema;

/// Media type of problem details.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// An RFC 9457 problem. Server-side failures carry no internal detail.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Problem {
    /// URI reference naming the problem type, e.g. `/problems/validation`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Short summary of the problem type.
    pub title: String,
    /// HTTP status code.
    pub status: u16,
    /// What went wrong with this request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// One entry per invalid field, for validation failures.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// Extra members for this problem type (e.g. the current version on a conflict).
    #[serde(flatten, skip_serializing_if = "serde_json::Map::is_empty")]
    #[schema(value_type = Object)]
    pub extensions: serde_json::Map<String, serde_json::Value>,
}

/// Why one field of the request was refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct FieldError {
    /// JSON pointer-like path of the field, e.g. `email` or `items/0/quantity`.
    pub field: String,
    /// Machine-readable reason, e.g. `invalid_email`.
    pub code: String,
    /// Human-readable reason.
    pub message: String,
}

impl FieldError {
    /// An error for `field`.
    pub fn new(field: impl Into<String>, code: &str, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            code: code.to_owned(),
            message: message.into(),
        }
    }
}

impl Problem {
    /// A problem of type `/problems/{slug}`.
    pub fn new(status: StatusCode, slug: &str, title: &str) -> Self {
        Self {
            kind: format!("/problems/{slug}"),
            title: title.to_owned(),
            status: status.as_u16(),
            detail: None,
            errors: Vec::new(),
            extensions: serde_json::Map::new(),
        }
    }

    /// Adds the human-readable detail.
    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// Adds an extension member.
    pub fn with(mut self, key: &str, value: impl Into<serde_json::Value>) -> Self {
        self.extensions.insert(key.to_owned(), value.into());
        self
    }

    /// 422 with one entry per invalid field.
    pub fn validation(errors: Vec<FieldError>) -> Self {
        let mut problem = Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation",
            "The request has invalid fields",
        );
        problem.errors = errors;
        problem
    }

    /// 400 for a request that cannot be read.
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "bad-request",
            "The request is malformed",
        )
        .with_detail(detail)
    }

    /// 404 for an unknown resource.
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not-found", "No such resource").with_detail(detail)
    }

    /// 500 with an opaque body; the whole cause chain goes to the log.
    pub fn internal(error: &(dyn std::error::Error + 'static)) -> Self {
        let mut chain = error.to_string();
        let mut source = error.source();
        while let Some(cause) = source {
            chain.push_str(": ");
            chain.push_str(&cause.to_string());
            source = cause.source();
        }
        tracing::error!(error = %chain, "request failed");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "The server failed to handle the request",
        )
    }

    /// 503 when a dependency is down; opaque like 500.
    pub fn unavailable(error: &(dyn std::error::Error + 'static)) -> Self {
        let mut problem = Self::internal(error);
        problem.kind = "/problems/unavailable".into();
        problem.title = "A dependency of the service is unavailable; retry later".into();
        problem.status = StatusCode::SERVICE_UNAVAILABLE.as_u16();
        problem
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.title, self.status)
    }
}

impl ResponseError for Problem {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        HttpResponse::build(self.status_code())
            .insert_header(ContentType(PROBLEM_JSON.parse().expect("valid media type")))
            .json(self)
    }
}

/// JSON body extraction whose every failure is a problem: 413 over `limit` bytes, 415 for
/// another content type, 400 for malformed JSON, unknown or missing fields and wrong types.
pub fn json_config(limit: usize) -> actix_web::web::JsonConfig {
    actix_web::web::JsonConfig::default()
        .limit(limit)
        .error_handler(move |error, _| {
            let problem = match &error {
                error::JsonPayloadError::OverflowKnownLength { .. }
                | error::JsonPayloadError::Overflow { .. } => Problem::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "payload-too-large",
                    "The request body is too large",
                )
                .with_detail(format!("the body must not exceed {limit} bytes")),
                error::JsonPayloadError::ContentType => Problem::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "unsupported-media-type",
                    "The request body must be JSON",
                )
                .with_detail("send Content-Type: application/json"),
                error::JsonPayloadError::Deserialize(json) => {
                    Problem::bad_request(format!("invalid JSON body: {json}"))
                }
                other => Problem::bad_request(format!("unreadable body: {other}")),
            };
            problem.into()
        })
}

/// Path extraction failures (e.g. an id that is not a UUID) as 400 problems.
pub fn path_config() -> actix_web::web::PathConfig {
    actix_web::web::PathConfig::default().error_handler(|error, _| {
        Problem::bad_request(format!("invalid path parameter: {error}")).into()
    })
}

/// Query-string extraction failures as 400 problems.
pub fn query_config() -> actix_web::web::QueryConfig {
    actix_web::web::QueryConfig::default().error_handler(|error, _| {
        Problem::bad_request(format!("invalid query parameter: {error}")).into()
    })
}

/// 404 problem for routes that do not exist (including a known path with another method).
pub async fn no_route() -> HttpResponse {
    Problem::not_found("no such route").error_response()
}
