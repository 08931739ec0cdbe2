//! Request and response conventions of every command endpoint.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderMap};
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder};
use event_store::{CommandMetadata, IdempotencyKey};
use serde::Serialize;
use service_kit::http::RequestContext;
use service_kit::{FieldError, Problem};
use sha2::{Digest, Sha256};
use sqlx::PgPool;

/// Header with the client's idempotency key.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";
/// Response header set to `true` when the answer is a recorded outcome, not a new one.
pub const IDEMPOTENT_REPLAYED: &str = "idempotent-replayed";
/// Longest idempotency key accepted.
pub const MAX_KEY_LEN: usize = 255;

/// The parsed value, or `None` with the failure added to `errors` as field `name`, so a
/// handler reports every invalid field at once.
pub fn field<T>(
    errors: &mut Vec<FieldError>,
    name: &str,
    parsed: Result<T, domain_kit::ValueError>,
) -> Option<T> {
    parsed
        .map_err(|e| errors.push(FieldError::new(name, e.code, e.message)))
        .ok()
}

/// Parses `If-Match`: a version number, quoted or not (`3`, `"3"`, `W/"3"`), or `*`.
pub fn expected_version(headers: &HeaderMap) -> Result<Option<u64>, Problem> {
    let Some(value) = headers.get(header::IF_MATCH) else {
        return Ok(None);
    };
    let text = value
        .to_str()
        .map_err(|_| Problem::bad_request("If-Match must be a version number"))?
        .trim();
    if text == "*" {
        return Ok(None);
    }
    let bare = text.trim_start_matches("W/").trim_matches('"');
    bare.parse::<u64>().map(Some).map_err(|_| {
        Problem::bad_request(format!("If-Match must be a version number, not {text:?}"))
    })
}

/// Parses `Idempotency-Key` (bare or quoted, 1 to 255 visible ASCII characters) and binds it
/// to this request: its method, path and `body`, so the key cannot be reused for another.
pub fn idempotency_key(
    request: &HttpRequest,
    body: &impl Serialize,
) -> Result<Option<IdempotencyKey>, Problem> {
    let Some(value) = request.headers().get(IDEMPOTENCY_KEY) else {
        return Ok(None);
    };
    let refuse = || {
        Problem::bad_request(format!(
            "Idempotency-Key must be 1 to {MAX_KEY_LEN} visible ASCII characters"
        ))
    };
    let text = value.to_str().map_err(|_| refuse())?.trim();
    let key = text
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .unwrap_or(text);
    if key.is_empty() || key.len() > MAX_KEY_LEN || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(refuse());
    }
    let body = serde_json::to_vec(body).map_err(|error| Problem::internal(&error))?;
    let mut digest = Sha256::new();
    for part in [
        request.method().as_str().as_bytes(),
        request.path().as_bytes(),
        &body,
    ] {
        digest.update((part.len() as u64).to_be_bytes());
        digest.update(part);
    }
    let fingerprint = digest
        .finalize()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    Ok(Some(IdempotencyKey {
        key: key.to_owned(),
        fingerprint,
    }))
}

/// The metadata stored with the command's events: who, which trace, which key.
pub fn metadata(context: RequestContext, idempotency: Option<IdempotencyKey>) -> CommandMetadata {
    CommandMetadata {
        correlation_id: context.correlation_id,
        causation_id: context.request_id,
        actor: context.actor,
        // The span running the command (its events' cause), else the request's.
        traceparent: trace_context::current().or(Some(context.traceparent)),
        idempotency,
    }
}

/// Runs `command` on aggregate `id` as this request asks: only at the `If-Match` version if
/// there is one, answering a repeated `Idempotency-Key` (bound to `body`) with the first
/// outcome, with the request's context as the events' metadata. `refused` turns the bus's
/// error into the context's problem.
#[tracing::instrument(name = "command", skip_all, fields(otel.name = %format!("{} command", A::TYPE), aggregate_type = A::TYPE, aggregate_id = %id, correlation_id = %context.correlation_id))]
pub async fn execute<A>(
    bus: &event_store::CommandBus<A>,
    id: uuid::Uuid,
    command: A::Command,
    request: &HttpRequest,
    context: RequestContext,
    body: &impl Serialize,
    refused: impl FnOnce(event_store::CommandError<A::Error>) -> Problem,
) -> Result<event_store::Executed<A>, Problem>
where
    A: cqrs_es::Aggregate + Clone + 'static,
{
    let expected = expected_version(request.headers())?;
    let idempotency = idempotency_key(request, body)?;
    bus.execute(
        &id.to_string(),
        command,
        expected,
        metadata(context, idempotency),
    )
    .await
    .map_err(refused)
}

/// The usual answer of a command: `status` with the aggregate's version as a strong ETag,
/// `Idempotent-Replayed: true` when it repeats a recorded outcome, and `body` as JSON.
pub fn answer(
    status: StatusCode,
    version: u64,
    replayed: bool,
    body: &impl Serialize,
) -> HttpResponse {
    let mut response = HttpResponseBuilder::new(status);
    response.insert_header(header::ETag(header::EntityTag::new_strong(
        version.to_string(),
    )));
    if replayed {
        response.insert_header((IDEMPOTENT_REPLAYED, "true"));
    }
    response.json(body)
}

/// `GET /…/{id}/events`: the aggregate's stored events in sequence order with their metadata,
/// each at the current schema version of its type, or `not_found` when it has none.
pub async fn stream(
    pool: &PgPool,
    reading: event_store::Reading,
    aggregate_type: &str,
    id: uuid::Uuid,
    not_found: Problem,
) -> Result<HttpResponse, Problem> {
    let events = event_store::read_stream(pool, reading, aggregate_type, &id.to_string())
        .await
        .map_err(|error| Problem::unavailable(&error))?;
    if events.is_empty() {
        return Err(not_found);
    }
    Ok(HttpResponse::Ok().json(serde_json::json!({ "id": id, "events": events })))
}

/// The parts of a command request every handler passes on: the request itself (its
/// `If-Match` and `Idempotency-Key`, method and path) and its context (who, which trace).
pub struct Call {
    request: HttpRequest,
    context: RequestContext,
}

impl actix_web::FromRequest for Call {
    type Error = actix_web::Error;
    type Future = std::future::Ready<Result<Self, Self::Error>>;

    fn from_request(request: &HttpRequest, payload: &mut actix_web::dev::Payload) -> Self::Future {
        let context = RequestContext::from_request(request, payload).into_inner();
        std::future::ready(context.map(|context| Self {
            request: request.clone(),
            context,
        }))
    }
}

/// The headers every command takes, for its OpenAPI `params(…)`.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Header)]
pub struct CommandHeaders {
    /// Expected version (`3`, `"3"` or `W/"3"`); the command is refused with 409 at any other.
    #[param(rename = "If-Match")]
    pub if_match: Option<String>,
    /// A retry with the same key and request answers the first outcome; the same key with
    /// another request is refused with 422.
    #[param(rename = "Idempotency-Key")]
    pub idempotency_key: Option<String>,
}

/// The headers of a command that creates its aggregate: no version to expect yet.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Header)]
pub struct CreateHeaders {
    /// A retry with the same key and request answers the first outcome (the same new id);
    /// the same key with another request is refused with 422.
    #[param(rename = "Idempotency-Key")]
    pub idempotency_key: Option<String>,
}

/// `parsed`, or a 422 naming field `name`: for a body with one field to check.
pub fn parse_field<T>(name: &str, parsed: Result<T, domain_kit::ValueError>) -> Result<T, Problem> {
    parsed.map_err(|e| Problem::validation(vec![FieldError::new(name, e.code, e.message)]))
}

impl<C: crate::CommandContext> crate::CommandState<C> {
    /// Runs `command` on aggregate `id` as `call` asks (see [`execute`]), turning a refusal
    /// into the context's problem.
    pub async fn execute(
        &self,
        id: uuid::Uuid,
        command: <C::Aggregate as cqrs_es::Aggregate>::Command,
        call: Call,
        body: &impl Serialize,
    ) -> Result<event_store::Executed<C::Aggregate>, Problem> {
        execute(
            &self.bus,
            id,
            command,
            &call.request,
            call.context,
            body,
            C::refused,
        )
        .await
    }

    /// `GET /…/{id}/events` of the context's aggregate (see [`stream`]).
    pub async fn stream(
        &self,
        id: uuid::Uuid,
        not_found: Problem,
    ) -> Result<HttpResponse, Problem> {
        use cqrs_es::Aggregate as _;
        let reading = self.bus.repository().reading();
        stream(&self.pool, reading, C::Aggregate::TYPE, id, not_found).await
    }
}

#[cfg(test)]
mod tests {
    use utoipa::IntoParams;
    use utoipa::openapi::path::ParameterIn;

    use super::*;

    fn headers<P: IntoParams>() -> Vec<(String, bool)> {
        P::into_params(|| None)
            .into_iter()
            .map(|p| (p.name, p.parameter_in == ParameterIn::Header))
            .collect()
    }

    #[test]
    fn command_headers_are_documented_as_the_headers_the_handlers_read() {
        assert_eq!(
            headers::<CommandHeaders>(),
            vec![("If-Match".into(), true), ("Idempotency-Key".into(), true)]
        );
        assert_eq!(
            headers::<CreateHeaders>(),
            vec![("Idempotency-Key".into(), true)]
        );
        assert!(IDEMPOTENCY_KEY.eq_ignore_ascii_case("Idempotency-Key"));
    }
}
