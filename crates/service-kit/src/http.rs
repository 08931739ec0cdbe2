//! HTTP plumbing shared by the services: request ids, request metrics, and running the server
//! with its background tasks until shutdown.

use std::future::{Ready, ready};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpMessage, HttpRequest};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;
use uuid::Uuid;

/// How long a service keeps an idle client connection open (actix-web's default, stated).
pub const KEEP_ALIVE: Duration = Duration::from_secs(5);

/// How long a client of the services keeps an idle pooled connection: shorter than
/// [`KEEP_ALIVE`], so it never sends on one the service is closing at that moment (which
/// fails with "connection closed before message completed").
pub const CLIENT_POOL_IDLE: Duration = Duration::from_secs(4);

/// Header carrying the correlation id in and out.
pub const CORRELATION_ID: &str = "x-correlation-id";

/// Who sent a request and which trace it belongs to.
#[derive(Debug, Clone)]
pub struct RequestContext {
    /// From `X-Correlation-Id`, or new.
    pub correlation_id: String,
    /// Unique to this request; the causation id of what it commands.
    pub request_id: String,
    /// This request's span, a child of a valid `traceparent` header (or a new trace).
    pub traceparent: String,
    /// The authenticated caller as `role:subject` (`anonymous` on a public route).
    pub actor: String,
}

impl RequestContext {
    /// The context of `request`, handled in `span` (whose traceparent it carries when the
    /// span is traced).
    fn from_headers(request: &HttpRequest, span: Option<&tracing::Span>) -> Self {
        let header = |name: &str| {
            request
                .headers()
                .get(name)
                .and_then(|value| value.to_str().ok())
                .map(str::trim)
        };
        let correlation_id = header(CORRELATION_ID)
            .filter(|id| valid_correlation_id(id))
            .map_or_else(|| Uuid::now_v7().to_string(), str::to_owned);
        let traceparent = span
            .and_then(trace_context::of)
            .or_else(|| {
                header(trace_context::TRACEPARENT)
                    .filter(|value| valid_traceparent(value))
                    .map(str::to_owned)
            })
            .unwrap_or_else(new_traceparent);
        Self {
            correlation_id,
            request_id: Uuid::now_v7().to_string(),
            traceparent,
            actor: "anonymous".into(),
        }
    }
}

impl FromRequest for RequestContext {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(request: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let mut context = request
            .extensions()
            .get::<Self>()
            .cloned()
            .unwrap_or_else(|| Self::from_headers(request, None));
        if let Some(caller) = request.extensions().get::<crate::auth::Principal>() {
            context.actor = caller.actor();
        }
        ready(Ok(context))
    }
}

/// Whether `id` may be a correlation id: 1 to 128 of letters, digits and `-_.:`.
pub fn valid_correlation_id(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
}

/// `00-<32 hex trace id>-<16 hex span id>-<2 hex flags>`, ids not all zero.
pub fn valid_traceparent(value: &str) -> bool {
    let parts: Vec<&str> = value.split('-').collect();
    let hex = |s: &str, len: usize| {
        s.len() == len
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    parts.len() == 4
        && parts[0] == "00"
        && hex(parts[1], 32)
        && parts[1].bytes().any(|b| b != b'0')
        && hex(parts[2], 16)
        && parts[2].bytes().any(|b| b != b'0')
        && hex(parts[3], 2)
}

fn new_traceparent() -> String {
    let trace = Uuid::new_v4().simple().to_string();
    let span = &Uuid::new_v4().simple().to_string()[..16];
    format!("00-{trace}-{span}-01")
}

/// Middleware: runs the request in a server span (the child of its `traceparent`), attaches
/// the request context, echoes the correlation id, and counts and times every request by
/// route pattern and status.
pub async fn observe(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let method = method_label(request.method());
    let route = request
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_owned());
    // Probes and scrapes every few seconds would drown the traces.
    let quiet = route.starts_with("/health/") || route == "/metrics";
    let span = if quiet {
        tracing::Span::none()
    } else {
        tracing::info_span!(
        "http.server",
        otel.name = %format!("{method} {route}"),
        otel.kind = "server",
        http.request.method = %method,
        http.route = %route,
        http.response.status_code = tracing::field::Empty,
        )
    };
    let incoming = request
        .headers()
        .get(trace_context::TRACEPARENT)
        .and_then(|value| value.to_str().ok())
        .map(str::trim)
        .filter(|value| valid_traceparent(value));
    trace_context::set_parent(&span, incoming);
    let context = RequestContext::from_headers(request.request(), Some(&span));
    let correlation_id = context.correlation_id.clone();
    request.extensions_mut().insert(context);
    let mut response = next.call(request).instrument(span.clone()).await?;
    span.record("http.response.status_code", response.status().as_u16());
    let status = response.status().as_u16().to_string();
    metrics::counter!("http_requests_total", "method" => method, "route" => route.clone(), "status" => status)
        .increment(1);
    metrics::histogram!("http_request_duration_seconds", "method" => method, "route" => route)
        .record(started.elapsed().as_secs_f64());
    if let Ok(value) = HeaderValue::from_str(&correlation_id) {
        response
            .headers_mut()
            .insert(HeaderName::from_static(CORRELATION_ID), value);
    }
    Ok(response)
}

/// Builds a service's HTTP server on its listener: the common middleware and extractor
/// configuration, health and metrics, the OpenAPI document at `/api-docs/openapi.json` with
/// Swagger UI at `/swagger-ui/`, problem+json for unknown routes, and the service's `routes`.
/// Returns the server (not yet running) and its port.
pub fn server<F>(
    settings: &crate::settings::HttpSettings,
    auth: Option<Arc<crate::auth::Verifier>>,
    readiness: crate::health::Readiness,
    openapi: utoipa::openapi::OpenApi,
    routes: F,
) -> std::io::Result<(actix_web::dev::Server, u16)>
where
    F: Fn(&mut actix_web::web::ServiceConfig) + Clone + Send + 'static,
{
    use actix_web::{App, HttpServer, web};
    let tls = settings.tls.server_config()?;
    let listener = settings.bind()?;
    let port = listener.local_addr()?.port();
    let body_limit = settings.body_limit_bytes;
    let openapi = with_common_responses(openapi, auth.is_some());
    let openapi = if auth.is_some() {
        with_bearer_security(openapi)
    } else {
        openapi
    };
    let auth = auth.map(web::Data::new);
    let limits = web::Data::new(crate::limits::Limits::new(
        &settings.rate_limit,
        Duration::from_millis(settings.request_timeout_ms),
    ));
    let mut server = HttpServer::new(move || {
        App::new()
            .app_data(limits.clone())
            .configure(|config| {
                if let Some(auth) = &auth {
                    config.app_data(auth.clone());
                }
            })
            // Outermost last: observe, then authenticate, then limit (per subject).
            .wrap(actix_web::middleware::from_fn(crate::limits::limit))
            .wrap(actix_web::middleware::from_fn(crate::auth::authenticate))
            .wrap(actix_web::middleware::from_fn(observe))
            .app_data(crate::problem::json_config(body_limit))
            .app_data(web::PayloadConfig::new(body_limit))
            .app_data(crate::problem::path_config())
            .app_data(crate::problem::query_config())
            .configure(crate::health::configure(readiness.clone()))
            .configure(routes.clone())
            .service(
                utoipa_swagger_ui::SwaggerUi::new("/swagger-ui/{_:.*}")
                    .url("/api-docs/openapi.json", openapi.clone()),
            )
            .default_service(web::to(crate::problem::no_route))
    })
    .keep_alive(KEEP_ALIVE)
    .client_request_timeout(Duration::from_millis(settings.client_header_timeout_ms))
    .max_connections(settings.max_connections.max(1));
    server = match tls {
        Some(tls) => server.listen_rustls_0_23(listener, tls)?,
        None => server.listen(listener)?,
    };
    let mut server = server
        .disable_signals()
        .shutdown_timeout(settings.shutdown_timeout_secs);
    if settings.workers > 0 {
        server = server.workers(settings.workers);
    }
    Ok((server.run(), port))
}

/// Documents on every operation the answers the shared middleware and extractors may give
/// (malformed request, rate limit, deadline; with authentication 401 and 403; with a body 413
/// and 415; with `If-Match` 409; with `Idempotency-Key` 422), so a client, and the hostile-input tests, can hold every answer to the document.
fn with_common_responses(
    mut openapi: utoipa::openapi::OpenApi,
    authenticated: bool,
) -> utoipa::openapi::OpenApi {
    use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
    use utoipa::{PartialSchema, ToSchema};
    openapi
        .components
        .get_or_insert_with(Default::default)
        .schemas
        .entry(crate::Problem::name().into_owned())
        .or_insert_with(crate::Problem::schema);
    let problem = |description: &str| {
        ResponseBuilder::new()
            .description(description)
            .content(
                "application/problem+json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name(crate::Problem::name())))
                    .build(),
            )
            .build()
    };
    let mut common = vec![
        (
            "400",
            "Malformed request: path, query, headers or JSON body",
        ),
        ("429", "Too many requests from this client; see Retry-After"),
        ("503", "No answer within the request deadline"),
    ];
    if authenticated {
        common.push(("401", "Missing or invalid bearer token"));
        common.push(("403", "The caller's role may not do this"));
    }
    for item in openapi.paths.paths.values_mut() {
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ];
        for operation in operations.into_iter().flatten() {
            let mut answers = common.clone();
            if operation.request_body.is_some() {
                answers.push(("413", "Request body too large"));
                answers.push(("415", "Request body is not application/json"));
            }
            let header = |name: &str| {
                operation.parameters.iter().flatten().any(|parameter| {
                    parameter.name.eq_ignore_ascii_case(name)
                        && parameter.parameter_in == utoipa::openapi::path::ParameterIn::Header
                })
            };
            if header("if-match") {
                answers.push(("409", "Not at the If-Match version (see current_version)"));
            }
            if header("idempotency-key") {
                answers.push((
                    "422",
                    "The Idempotency-Key was used for a different request",
                ));
            }
            for (status, description) in answers {
                operation
                    .responses
                    .responses
                    .entry(status.to_owned())
                    .or_insert_with(|| problem(description).into());
            }
        }
    }
    openapi
}

/// Declares the bearer scheme in `openapi` and requires it everywhere (the public routes are
/// not in the document), so Swagger UI offers "Authorize" and clients see the 401.
fn with_bearer_security(mut openapi: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    use utoipa::openapi::security::{
        HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
    };
    openapi
        .components
        .get_or_insert_with(Default::default)
        .add_security_scheme(
        "bearer",
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .bearer_format("JWT (EdDSA)")
                .description(Some(
                    "A token of the configured JWKS; locally: cargo xtask token --sub … --role …",
                ))
                .build(),
        ),
    );
    openapi.security = Some(vec![SecurityRequirement::new(
        "bearer",
        Vec::<String>::new(),
    )]);
    openapi
}

/// A built service: bound to its port with its background tasks started, not yet serving.
pub struct Service {
    port: u16,
    server: actix_web::dev::Server,
    background: Vec<Background>,
    cancel: CancellationToken,
}

/// Time background tasks get to finish after the HTTP server stopped.
const DRAIN: Duration = Duration::from_secs(10);

impl Service {
    /// Binds `settings`' port with [`server`] and keeps `background` to run beside it until
    /// `cancel` fires.
    pub async fn bind<F>(
        settings: &crate::settings::HttpSettings,
        auth: &crate::auth::AuthSettings,
        readiness: crate::health::Readiness,
        openapi: utoipa::openapi::OpenApi,
        routes: F,
        background: Vec<Background>,
        cancel: CancellationToken,
    ) -> anyhow::Result<Self>
    where
        F: Fn(&mut actix_web::web::ServiceConfig) + Clone + Send + 'static,
    {
        use anyhow::Context;
        let verifier = crate::auth::Verifier::load(auth).await.context(
            "loading the keys that sign bearer tokens (auth.jwks_file or auth.jwks_url; `cargo xtask up` creates dev keys)",
        )?;
        let (server, port) = server(settings, Some(verifier), readiness, openapi, routes)
            .context("binding the HTTP port (with TLS: reading its certificate and key)")?;
        Ok(Self {
            port,
            server,
            background,
            cancel,
        })
    }

    /// The port the service listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until the token is cancelled (or the server or a task fails), then drains.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        run_until_stopped(self.server, self.background, self.cancel, DRAIN).await
    }
}

/// A named background task of a service (e.g. the outbox relay).
pub struct Background {
    /// Name for the logs.
    pub name: &'static str,
    /// The task; it must return once the service's token is cancelled.
    pub task: JoinHandle<anyhow::Result<()>>,
}

/// Runs `server` and `background` until `cancel` fires or one of them stops, then drains:
/// in-flight requests get the server's shutdown timeout, background tasks get `drain`, and
/// whatever is left is aborted.
pub async fn run_until_stopped(
    server: actix_web::dev::Server,
    background: Vec<Background>,
    cancel: CancellationToken,
    drain: Duration,
) -> anyhow::Result<()> {
    let handle = server.handle();
    let mut server = tokio::spawn(server);
    let mut tasks: futures_unordered::Tasks = background.into_iter().collect();
    let mut outcome: anyhow::Result<()> = Ok(());
    tokio::select! {
        biased;
        () = cancel.cancelled() => {}
        result = &mut server => {
            outcome = result.map_err(anyhow::Error::from).and_then(|r| r.map_err(Into::into));
            tracing::warn!("http server stopped on its own");
        }
        (name, result) = tasks.next_finished() => {
            // A task may see the cancellation before this select does; that is a normal stop.
            if !cancel.is_cancelled() {
                tracing::error!(task = name, ?result, "background task stopped on its own");
                outcome = Err(anyhow::anyhow!("background task {name} stopped"));
            }
        }
    }
    cancel.cancel();
    handle.stop(true).await;
    if let Err(error) = tokio::time::timeout(drain, tasks.join_all()).await {
        tracing::warn!(%error, "background tasks did not drain in time; aborting them");
        tasks.abort_all();
    }
    tracing::info!("stopped");
    outcome
}

mod futures_unordered {
    //! A small set of named tasks that can be awaited one at a time, all together, or aborted.

    use super::Background;

    pub(super) struct Tasks(Vec<Background>);

    impl FromIterator<Background> for Tasks {
        fn from_iter<I: IntoIterator<Item = Background>>(iter: I) -> Self {
            Self(iter.into_iter().collect())
        }
    }

    impl Tasks {
        /// The first task to finish; pending forever when there are none.
        pub(super) async fn next_finished(&mut self) -> (&'static str, String) {
            if self.0.is_empty() {
                return std::future::pending().await;
            }
            let (result, index, _) =
                futures::future::select_all(self.0.iter_mut().map(|b| &mut b.task)).await;
            let name = self.0.remove(index).name;
            (name, format!("{result:?}"))
        }

        pub(super) async fn join_all(&mut self) {
            for background in &mut self.0 {
                match (&mut background.task).await {
                    Ok(Ok(())) => {}
                    Ok(Err(error)) => {
                        tracing::error!(task = background.name, error = ?error, "background task failed")
                    }
                    Err(error) => {
                        tracing::error!(task = background.name, %error, "background task panicked")
                    }
                }
            }
            self.0.clear();
        }

        pub(super) fn abort_all(&self) {
            for background in &self.0 {
                background.task.abort();
            }
        }
    }
}

/// The request method as a metric label: the methods HTTP defines, anything else (a client may
/// send any token) is `other`, so a label's values stay few.
fn method_label(method: &actix_web::http::Method) -> &'static str {
    use actix_web::http::Method;
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::TRACE => "TRACE",
        Method::CONNECT => "CONNECT",
        _ => "other",
    }
}
