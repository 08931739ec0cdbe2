//! The limits every service's HTTP server applies: a rate per client with 429 and
//! `Retry-After`, a deadline per request, and probes that are never throttled.

use std::time::Duration;

use actix_web::{HttpResponse, web};
use service_kit::health::Readiness;
use service_kit::settings::{DatabaseSettings, HttpSettings};

/// A server with one quick route and one slow route, and `settings`.
async fn serve(settings: HttpSettings) -> String {
    let readiness = Readiness {
        // Never connected to: only /health/ready would use it.
        database: Some(DatabaseSettings::default().pool()),
        broker: None,
    };
    let (server, port) = service_kit::http::server(
        &settings,
        None,
        readiness,
        utoipa::openapi::OpenApiBuilder::new().build(),
        |config: &mut web::ServiceConfig| {
            config
                .route(
                    "/quick",
                    web::get().to(|| async { HttpResponse::Ok().finish() }),
                )
                .route(
                    "/slow",
                    web::get().to(|| async {
                        tokio::time::sleep(Duration::from_secs(5)).await;
                        HttpResponse::Ok().finish()
                    }),
                );
        },
    )
    .expect("server binds");
    tokio::spawn(server);
    format!("http://127.0.0.1:{port}")
}

fn settings() -> HttpSettings {
    HttpSettings {
        workers: 1,
        ..HttpSettings::default()
    }
}

#[tokio::test]
async fn a_client_over_its_rate_gets_429_with_retry_after_and_probes_still_answer() {
    let mut settings = settings();
    settings.rate_limit.per_second = 1;
    settings.rate_limit.burst = 3;
    let base = serve(settings).await;
    let client = reqwest::Client::new();
    let mut statuses = Vec::new();
    for _ in 0..6 {
        let response = client.get(format!("{base}/quick")).send().await.unwrap();
        statuses.push(response.status().as_u16());
        if response.status() == 429 {
            let retry_after: u64 = response.headers()["retry-after"]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            assert!((1..=2).contains(&retry_after), "{retry_after}");
            assert_eq!(
                response.headers()["content-type"],
                "application/problem+json"
            );
            let body: serde_json::Value = response.json().await.unwrap();
            assert_eq!(body["type"], "/problems/rate-limited");
        }
    }
    assert_eq!(&statuses[..3], [200, 200, 200], "the burst passes");
    assert!(statuses[3..].contains(&429), "{statuses:?}");
    for _ in 0..10 {
        let live = client
            .get(format!("{base}/health/live"))
            .send()
            .await
            .unwrap();
        assert_eq!(live.status(), 200, "probes are never throttled");
    }
    let metrics = client.get(format!("{base}/metrics")).send().await.unwrap();
    assert_eq!(metrics.status(), 200);
}

#[tokio::test]
async fn a_request_past_its_deadline_is_answered_503_and_others_go_on() {
    let mut settings = settings();
    settings.request_timeout_ms = 200;
    let base = serve(settings).await;
    let client = reqwest::Client::new();
    let slow = client.get(format!("{base}/slow")).send().await.unwrap();
    assert_eq!(slow.status(), 503);
    assert_eq!(slow.headers()["content-type"], "application/problem+json");
    let body: serde_json::Value = slow.json().await.unwrap();
    assert_eq!(body["type"], "/problems/request-timeout");
    let quick = client.get(format!("{base}/quick")).send().await.unwrap();
    assert_eq!(quick.status(), 200);
}
