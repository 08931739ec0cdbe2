//! The saga calls a service that serves HTTPS with a private CA's certificate when the CA is
//! configured (`<service>.ca_file`), and refuses the certificate otherwise.

use std::sync::Arc;

use actix_web::{HttpResponse, web};
use reqwest::Method;
use saga_orchestrator::resilience::{Call, Downstream, DownstreamSettings, TokenFile};
use service_kit::health::Readiness;
use service_kit::settings::{DatabaseSettings, HttpSettings};
use service_kit::tls::TlsSettings;

#[tokio::test]
async fn a_service_behind_tls_is_called_when_its_ca_is_configured() {
    let dir = std::env::temp_dir().join(format!("saga-tls-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let issued = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let (cert, key, token) = (dir.join("cert.pem"), dir.join("key.pem"), dir.join("token"));
    std::fs::write(&cert, issued.cert.pem()).unwrap();
    std::fs::write(&key, issued.key_pair.serialize_pem()).unwrap();
    std::fs::write(&token, "a-token").unwrap();
    let http = HttpSettings {
        workers: 1,
        tls: TlsSettings {
            cert_file: Some(cert.clone()),
            key_file: Some(key),
        },
        ..HttpSettings::default()
    };
    let readiness = Readiness {
        database: Some(DatabaseSettings::default().pool()),
        broker: None,
    };
    let (server, port) = service_kit::http::server(
        &http,
        None,
        readiness,
        utoipa::openapi::OpenApiBuilder::new().build(),
        |config: &mut web::ServiceConfig| {
            config.route(
                "/ping",
                web::post()
                    .to(|| async { HttpResponse::Ok().json(serde_json::json!({"pong": true})) }),
            );
        },
    )
    .unwrap();
    tokio::spawn(server);
    let token = TokenFile::open(token.to_str().unwrap()).unwrap();
    let call = Call {
        method: Method::POST,
        path: "/ping".into(),
        body: None,
        idempotency_key: "saga:test:ping".into(),
        correlation_id: "test".into(),
        traceparent: None,
    };
    let url = format!("https://localhost:{port}");

    let trusting = Downstream::new(
        "users",
        &DownstreamSettings {
            ca_file: Some(cert.clone()),
            ..DownstreamSettings::new(&url)
        },
        Arc::clone(&token),
    )
    .unwrap();
    let answer = trusting.call(call.clone()).await.expect("called over TLS");
    assert_eq!(answer.status, 200);
    assert_eq!(answer.body["pong"], true);

    let untrusting = Downstream::new(
        "users",
        &DownstreamSettings {
            retries: 0,
            ..DownstreamSettings::new(&url)
        },
        token.clone(),
    )
    .unwrap();
    assert!(
        untrusting.call(call).await.is_err(),
        "a certificate of an unknown CA is refused"
    );

    let error = Downstream::new(
        "users",
        &DownstreamSettings {
            ca_file: Some(dir.join("missing.pem")),
            ..DownstreamSettings::new(&url)
        },
        token,
    )
    .err()
    .expect("a missing CA file stops the saga");
    assert!(format!("{error:#}").contains("missing.pem"), "{error:#}");
}
