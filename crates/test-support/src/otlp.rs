//! An OTLP/HTTP (JSON) trace receiver in the test process: services export their spans to
//! it (`OTEL_EXPORTER_OTLP_ENDPOINT`), and a test looks at who is whose parent.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{App, HttpResponse, HttpServer, web};
use serde_json::Value;

/// A received span.
#[derive(Debug, Clone)]
pub struct Span {
    /// `service.name` of the process that exported it.
    pub service: String,
    pub name: String,
    /// 1 internal, 2 server, 3 client, 4 producer, 5 consumer.
    pub kind: i64,
    pub trace_id: String,
    pub span_id: String,
    /// Empty for a root.
    pub parent_span_id: String,
}

/// The receiver, listening on a free loopback port until dropped.
pub struct Receiver {
    /// What to set `OTEL_EXPORTER_OTLP_ENDPOINT` to.
    pub endpoint: String,
    spans: Arc<Mutex<Vec<Span>>>,
    server: actix_web::dev::ServerHandle,
}

impl Receiver {
    pub async fn start() -> Self {
        let spans: Arc<Mutex<Vec<Span>>> = Arc::default();
        let received = spans.clone();
        let server = HttpServer::new(move || {
            let received = received.clone();
            App::new()
                .app_data(web::PayloadConfig::new(64 * 1024 * 1024))
                .route(
                    "/v1/traces",
                    web::post().to(move |body: web::Bytes| {
                        let received = received.clone();
                        async move {
                            match serde_json::from_slice::<Value>(&body) {
                                Ok(request) => {
                                    received.lock().unwrap().extend(spans_of(&request));
                                    HttpResponse::Ok().json(serde_json::json!({}))
                                }
                                Err(error) => HttpResponse::BadRequest().body(error.to_string()),
                            }
                        }
                    }),
                )
        })
        .workers(1)
        .disable_signals()
        .bind(("127.0.0.1", 0))
        .expect("the receiver binds");
        let port = server.addrs()[0].port();
        let server = server.run();
        let handle = server.handle();
        tokio::spawn(server);
        Self {
            endpoint: format!("http://127.0.0.1:{port}"),
            spans,
            server: handle,
        }
    }

    /// Every span received so far.
    pub fn spans(&self) -> Vec<Span> {
        self.spans.lock().unwrap().clone()
    }

    /// Spans of `trace_id` once `done` holds for them, or those received by `deadline`.
    pub async fn trace_until(
        &self,
        trace_id: &str,
        deadline: Duration,
        done: impl Fn(&[Span]) -> bool,
    ) -> Vec<Span> {
        let until = tokio::time::Instant::now() + deadline;
        loop {
            let trace: Vec<Span> = self
                .spans()
                .into_iter()
                .filter(|span| span.trace_id == trace_id)
                .collect();
            if done(&trace) || tokio::time::Instant::now() >= until {
                return trace;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        drop(self.server.stop(false));
    }
}

/// The spans of an `ExportTraceServiceRequest` in OTLP/JSON.
fn spans_of(request: &Value) -> Vec<Span> {
    let mut spans = Vec::new();
    let empty = Vec::new();
    for resource in request["resourceSpans"].as_array().unwrap_or(&empty) {
        let service = resource["resource"]["attributes"]
            .as_array()
            .unwrap_or(&empty)
            .iter()
            .find(|attribute| attribute["key"] == "service.name")
            .and_then(|attribute| attribute["value"]["stringValue"].as_str())
            .unwrap_or_default()
            .to_owned();
        for scope in resource["scopeSpans"].as_array().unwrap_or(&empty) {
            for span in scope["spans"].as_array().unwrap_or(&empty) {
                let text = |field: &str| span[field].as_str().unwrap_or_default().to_owned();
                spans.push(Span {
                    service: service.clone(),
                    name: text("name"),
                    kind: span["kind"].as_i64().unwrap_or_default(),
                    trace_id: text("traceId"),
                    span_id: text("spanId"),
                    parent_span_id: text("parentSpanId"),
                });
            }
        }
    }
    spans
}
