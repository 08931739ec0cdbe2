//! A service under test: started in-process on port 0, or as its real binary; its HTTP
//! client; and the problem+json checks every endpoint test makes.

use std::future::Future;
use std::time::Duration;

use reqwest::Method;
use serde_json::Value;
use service_kit::settings::DatabaseSettings;
use tokio_util::sync::CancellationToken;

/// A service running in this test process until it is stopped or dropped.
pub struct Running {
    pub address: String,
    pub client: reqwest::Client,
    cancel: CancellationToken,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl Running {
    /// Runs `serve` (a built service's `run_until_stopped`) listening on `port`; `cancel` is
    /// the token the service was built with.
    pub fn start(
        port: u16,
        cancel: CancellationToken,
        serve: impl Future<Output = anyhow::Result<()>> + Send + 'static,
    ) -> Self {
        Self {
            address: format!("http://127.0.0.1:{port}"),
            client: crate::auth::admin_client(),
            cancel,
            task: Some(tokio::spawn(serve)),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("request sent")
    }

    pub async fn post(&self, path: &str, body: Value) -> reqwest::Response {
        self.post_with(path, &[], body).await
    }

    /// POSTs `body` as JSON with extra `headers`.
    pub async fn post_with(
        &self,
        path: &str,
        headers: &[(&str, &str)],
        body: Value,
    ) -> reqwest::Response {
        let mut request = self.client.post(self.url(path)).json(&body);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send().await.expect("request sent")
    }

    /// Stops the service and waits for it to drain cleanly.
    pub async fn stop(mut self) {
        if let Some(task) = self.task.take() {
            crate::stop_task(&self.cancel, task).await;
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

/// A service's binary with `database` (its `<PREFIX>__DATABASE` section), `topic` and `port`
/// in the environment, the test broker, a quick relay sweep and `extra` variables; its output
/// goes to the test's output. Killed when dropped.
pub fn binary_command(
    binary: &str,
    prefix: &str,
    database: &DatabaseSettings,
    topic: &str,
    port: u16,
    extra: &[(&str, &str)],
) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(binary);
    command
        .envs(crate::database_env(
            &format!("{prefix}__DATABASE"),
            database,
        ))
        .env(format!("{prefix}__HTTP__PORT"), port.to_string())
        .env(format!("{prefix}__KAFKA__BROKERS"), crate::kafka_brokers())
        .env(format!("{prefix}__TOPIC"), topic)
        .envs(crate::auth::env(prefix))
        .env("RUST_LOG", "warn")
        .kill_on_drop(true);
    if prefix.ends_with("_COMMAND") {
        command.env(format!("{prefix}__RELAY__SWEEP_INTERVAL_MS"), "500");
    }
    for (key, value) in extra {
        command.env(key, value);
    }
    command
}

/// A port that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("a free port")
        .local_addr()
        .expect("its address")
        .port()
}

/// Waits until `base`'s `/health/ready` answers 2xx.
pub async fn ready(client: &reqwest::Client, base: &str, deadline: Duration) {
    crate::eventually(deadline, &format!("{base} to be ready"), || async {
        let ready = client
            .get(format!("{base}/health/ready"))
            .send()
            .await
            .ok()?;
        ready.status().is_success().then_some(())
    })
    .await;
}

/// Checks that `response` is a problem+json of `status` and `kind` (e.g.
/// `/problems/validation`) and returns it.
pub async fn assert_problem(response: reqwest::Response, status: u16, kind: &str) -> Value {
    assert_eq!(response.status(), status, "status");
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json",
        "problem content type"
    );
    let problem: Value = response.json().await.expect("json body");
    assert_eq!(problem["type"], kind, "problem type in {problem}");
    assert_eq!(problem["status"], status);
    problem
}

/// One malformed or invalid request and the problem it must get.
pub struct BadInput {
    pub what: &'static str,
    pub method: Method,
    pub path: String,
    pub headers: Vec<(&'static str, String)>,
    pub content_type: &'static str,
    pub body: Vec<u8>,
    pub status: u16,
    pub kind: &'static str,
    /// A field error the problem must list, as (field, code).
    pub field_error: Option<(&'static str, &'static str)>,
}

/// A POST of `body` as JSON to `path` that must get `status` with problem type `kind`.
pub fn bad(
    what: &'static str,
    path: &str,
    body: Value,
    status: u16,
    kind: &'static str,
) -> BadInput {
    BadInput {
        what,
        method: Method::POST,
        path: path.to_owned(),
        headers: Vec::new(),
        content_type: "application/json",
        body: body.to_string().into_bytes(),
        status,
        kind,
        field_error: None,
    }
}

impl BadInput {
    /// Sends `body` as is, with `content_type`.
    pub fn raw(mut self, content_type: &'static str, body: &[u8]) -> Self {
        self.content_type = content_type;
        self.body = body.to_vec();
        self
    }

    pub fn method(mut self, method: Method) -> Self {
        self.method = method;
        self
    }

    /// Adds a request header.
    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// The problem must list this field error.
    pub fn field(mut self, field: &'static str, code: &'static str) -> Self {
        self.field_error = Some((field, code));
        self
    }

    /// Sends the request to `base` and checks the problem it gets.
    pub async fn check(&self, client: &reqwest::Client, base: &str) {
        let mut request = client
            .request(self.method.clone(), format!("{base}{}", self.path))
            .header("content-type", self.content_type)
            .body(self.body.clone());
        for (name, value) in &self.headers {
            request = request.header(*name, value);
        }
        let response = request.send().await.expect("request sent");
        assert_eq!(response.status(), self.status, "{}", self.what);
        let problem = assert_problem(response, self.status, self.kind).await;
        if let Some((field, code)) = self.field_error {
            let listed = problem["errors"]
                .as_array()
                .unwrap_or_else(|| panic!("{}: field errors in {problem}", self.what))
                .iter()
                .any(|e| e["field"] == field && e["code"] == code);
            assert!(listed, "{}: {field}/{code} in {problem}", self.what);
        }
    }
}

/// Every operation of the service's OpenAPI document (path parameters filled with a new
/// UUID, or 1 for numeric ids) answers 401 with `WWW-Authenticate` and the same body without
/// a token and with each of [`crate::auth::bad_tokens`]. Returns how many operations it
/// checked.
pub async fn every_operation_refuses_missing_and_bad_tokens(base: &str) -> usize {
    let anonymous = reqwest::Client::new();
    let document = openapi_document(base).await;
    let mut operations = Vec::new();
    for (template, item) in document["paths"].as_object().expect("paths") {
        let path = template
            .split('/')
            .map(|part| match part {
                "{id}" if template.starts_with("/admin/") => "1".to_owned(),
                part if part.starts_with('{') => uuid::Uuid::now_v7().to_string(),
                part => part.to_owned(),
            })
            .collect::<Vec<_>>()
            .join("/");
        for method in item.as_object().expect("operations").keys() {
            operations.push((method.to_uppercase(), path.clone()));
        }
    }
    let mut tokens: Vec<(&str, Option<String>)> = vec![("no token", None)];
    tokens.extend(
        crate::auth::bad_tokens()
            .into_iter()
            .map(|(what, token)| (what, Some(token))),
    );
    let mut bodies = std::collections::BTreeSet::new();
    for (method, path) in &operations {
        for (what, token) in &tokens {
            let mut request = anonymous
                .request(method.parse().expect("a method"), format!("{base}{path}"))
                .json(&serde_json::json!({}));
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            let response = request.send().await.expect("request sent");
            assert_eq!(response.status(), 401, "{method} {path} with {what}");
            assert!(
                response.headers().contains_key("www-authenticate"),
                "{method} {path} with {what}"
            );
            bodies.insert(response.text().await.expect("a body"));
        }
    }
    assert_eq!(bodies.len(), 1, "one uniform 401 body: {bodies:?}");
    operations.len()
}

/// The service's own OpenAPI document (public, no token).
pub async fn openapi_document(base: &str) -> Value {
    reqwest::get(format!("{base}/api-docs/openapi.json"))
        .await
        .expect("the OpenAPI document is public")
        .json()
        .await
        .expect("an OpenAPI document")
}
