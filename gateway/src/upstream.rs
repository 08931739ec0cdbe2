//! Calls to the five services on the caller's behalf: their bearer token, correlation id and
//! trace context go along, and a service's problem+json comes back as a GraphQL error that
//! keeps its status, type, title, detail and per-field errors (`extensions`).

use std::time::Duration;

use async_graphql::{Error, ErrorExtensions};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::Value;
use service_kit::auth::Principal;
use service_kit::http::CORRELATION_ID;

use crate::settings::ServiceUrls;

/// Who asks, as the services must see them: the token is passed on unchanged.
#[derive(Clone)]
pub struct Caller {
    pub principal: Principal,
    pub token: String,
    /// Shared by every call this request makes, and by the events they cause.
    pub correlation_id: String,
    pub traceparent: Option<String>,
}

/// What a command asks beyond its body: the version the caller last saw (`If-Match`; a
/// service answers 409 with the current version if the aggregate moved on) and the key that
/// makes a retry safe (`Idempotency-Key`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Conditions<'a> {
    pub expected_version: Option<i64>,
    pub idempotency_key: Option<&'a str>,
}

impl Conditions<'_> {
    /// No condition: the command runs at whatever version the aggregate is.
    pub const NONE: Self = Self {
        expected_version: None,
        idempotency_key: None,
    };
}

/// One of the five services.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    UsersCommand,
    OrdersCommand,
    UsersQuery,
    OrdersQuery,
    SagaOrchestrator,
}

impl Service {
    /// Every service, in the order health reports list them.
    pub const ALL: [Self; 5] = [
        Self::UsersCommand,
        Self::UsersQuery,
        Self::OrdersCommand,
        Self::OrdersQuery,
        Self::SagaOrchestrator,
    ];

    /// Its name, as its binary is called.
    pub fn name(self) -> &'static str {
        match self {
            Self::UsersCommand => "users-command",
            Self::OrdersCommand => "orders-command",
            Self::UsersQuery => "users-query",
            Self::OrdersQuery => "orders-query",
            Self::SagaOrchestrator => "saga-orchestrator",
        }
    }

    /// The database it owns, by its default name.
    pub fn database(self) -> &'static str {
        match self {
            Self::UsersCommand => "users_es",
            Self::OrdersCommand => "orders_es",
            Self::UsersQuery => "users_read",
            Self::OrdersQuery => "orders_read",
            Self::SagaOrchestrator => "saga",
        }
    }
}

/// The services' addresses and one HTTP client for all of them.
#[derive(Clone)]
pub struct Upstreams {
    client: reqwest::Client,
    urls: ServiceUrls,
}

/// What a call answered: a body, or "not there" (404), told apart so reads can return null.
pub enum Found<T> {
    Yes(T),
    NotFound,
}

impl Upstreams {
    /// A client for `urls`, each call bounded by their `timeout_ms`.
    pub fn new(urls: &ServiceUrls) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_millis(urls.timeout_ms))
            .connect_timeout(Duration::from_secs(2))
            .pool_idle_timeout(service_kit::http::CLIENT_POOL_IDLE)
            .build()?;
        Ok(Self {
            client,
            urls: urls.clone(),
        })
    }

    /// Base URL of `service`.
    pub fn url(&self, service: Service) -> &str {
        match service {
            Service::UsersCommand => &self.urls.users_command,
            Service::OrdersCommand => &self.urls.orders_command,
            Service::UsersQuery => &self.urls.users_query,
            Service::OrdersQuery => &self.urls.orders_query,
            Service::SagaOrchestrator => &self.urls.saga_orchestrator,
        }
    }

    /// The shared client, for calls made on nobody's behalf (health).
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// `GET path` on `service` as `caller`, `NotFound` on a 404.
    pub async fn get<T: DeserializeOwned>(
        &self,
        caller: &Caller,
        service: Service,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<Found<T>, Error> {
        self.call(caller, service, Method::GET, path, query).await
    }

    /// `method path` with a JSON `body` and the command's `conditions` on `service` as
    /// `caller`; a 404 is an error here.
    pub async fn send<T: DeserializeOwned>(
        &self,
        caller: &Caller,
        service: Service,
        method: Method,
        path: &str,
        body: Option<Value>,
        conditions: Conditions<'_>,
    ) -> Result<(T, Option<String>), Error> {
        let response = self
            .request(caller, service, method, path, &[], body, conditions)
            .await?;
        let correlation_id = response
            .headers()
            .get(CORRELATION_ID)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        Ok((read(service, response).await?, correlation_id))
    }

    async fn call<T: DeserializeOwned>(
        &self,
        caller: &Caller,
        service: Service,
        method: Method,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<Found<T>, Error> {
        let response = self
            .request(caller, service, method, path, query, None, Conditions::NONE)
            .await?;
        if response.status() == StatusCode::NOT_FOUND {
            return Ok(Found::NotFound);
        }
        read(service, response).await.map(Found::Yes)
    }

    #[allow(clippy::too_many_arguments)]
    async fn request(
        &self,
        caller: &Caller,
        service: Service,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<Value>,
        conditions: Conditions<'_>,
    ) -> Result<reqwest::Response, Error> {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.url(service)))
            .bearer_auth(&caller.token)
            .header(CORRELATION_ID, &caller.correlation_id)
            .query(query);
        if let Some(traceparent) = &caller.traceparent {
            request = request.header("traceparent", traceparent);
        }
        if let Some(version) = conditions.expected_version {
            request = request.header("if-match", format!("\"{version}\""));
        }
        if let Some(key) = conditions.idempotency_key {
            request = request.header("idempotency-key", key);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send().await.map_err(|error| {
            tracing::warn!(service = service.name(), %error, "service call failed");
            unavailable(
                service,
                if error.is_timeout() {
                    "did not answer in time"
                } else {
                    "is not reachable"
                },
            )
        })
    }
}

/// The body of a 2xx answer, or the service's problem as an error.
async fn read<T: DeserializeOwned>(
    service: Service,
    response: reqwest::Response,
) -> Result<T, Error> {
    let status = response.status();
    let bytes = response
        .bytes()
        .await
        .map_err(|_| unavailable(service, "broke off its answer"))?;
    if status.is_success() {
        return serde_json::from_slice(&bytes).map_err(|error| {
            tracing::error!(service = service.name(), %error, "unexpected answer");
            Error::new(format!(
                "{} answered something the gateway does not understand",
                service.name()
            ))
            .extend_with(|_, e| e.set("status", 502))
        });
    }
    Err(problem(service, status, &bytes))
}

/// A service's problem+json (or any error answer) as a GraphQL error.
fn problem(service: Service, status: StatusCode, body: &[u8]) -> Error {
    let problem: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let text = |key: &str| problem.get(key).and_then(Value::as_str).map(str::to_owned);
    let title = text("title").unwrap_or_else(|| {
        status
            .canonical_reason()
            .unwrap_or("the service refused the request")
            .to_owned()
    });
    let message = match text("detail") {
        Some(detail) => format!("{title}: {detail}"),
        None => title.clone(),
    };
    Error::new(message).extend_with(|_, extensions| {
        extensions.set("status", status.as_u16());
        extensions.set("service", service.name());
        extensions.set("title", title.as_str());
        if let Some(kind) = text("type") {
            extensions.set("type", kind);
        }
        if let Some(detail) = text("detail") {
            extensions.set("detail", detail);
        }
        if let Some(Value::Array(fields)) = problem.get("errors") {
            let fields: Vec<async_graphql::Value> = fields
                .iter()
                .filter_map(|field| async_graphql::Value::from_json(field.clone()).ok())
                .collect();
            extensions.set("fields", async_graphql::Value::List(fields));
        }
        if let Some(version) = problem.get("current_version").and_then(Value::as_i64) {
            extensions.set("currentVersion", version);
        }
    })
}

/// A service that did not answer, as a GraphQL error with status 503.
pub fn unavailable(service: Service, what: &str) -> Error {
    Error::new(format!("{} {what}", service.name())).extend_with(|_, extensions| {
        extensions.set("status", 503);
        extensions.set("service", service.name());
    })
}

/// A refusal by the gateway itself (its own checks: role, limits, input), as a GraphQL error.
pub fn refused(status: u16, message: impl Into<String>) -> Error {
    Error::new(message).extend_with(|_, extensions| extensions.set("status", status))
}
