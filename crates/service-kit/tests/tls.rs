//! Optional TLS on the listener: with a certificate and key configured, the server speaks
//! HTTPS only; a half-configured or unreadable pair is refused at start with the file named.

use std::path::{Path, PathBuf};

use actix_web::web;
use service_kit::health::Readiness;
use service_kit::settings::{DatabaseSettings, HttpSettings};
use service_kit::tls::TlsSettings;

/// A self-signed certificate for `localhost` and 127.0.0.1 in a fresh directory.
fn certificate() -> (PathBuf, PathBuf, reqwest::Certificate) {
    let dir = std::env::temp_dir().join(format!("tls-test-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let issued =
        rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    std::fs::write(&cert, issued.cert.pem()).unwrap();
    std::fs::write(&key, issued.key_pair.serialize_pem()).unwrap();
    let trusted = reqwest::Certificate::from_pem(issued.cert.pem().as_bytes()).unwrap();
    (cert, key, trusted)
}

fn serve(tls: TlsSettings) -> std::io::Result<u16> {
    let settings = HttpSettings {
        workers: 1,
        tls,
        ..HttpSettings::default()
    };
    let readiness = Readiness {
        database: Some(DatabaseSettings::default().pool()),
        broker: None,
    };
    let (server, port) = service_kit::http::server(
        &settings,
        None,
        readiness,
        utoipa::openapi::OpenApiBuilder::new().build(),
        |_: &mut web::ServiceConfig| {},
    )?;
    tokio::spawn(server);
    Ok(port)
}

fn tls(cert: &Path, key: &Path) -> TlsSettings {
    TlsSettings {
        cert_file: Some(cert.to_owned()),
        key_file: Some(key.to_owned()),
    }
}

#[tokio::test]
async fn with_a_certificate_the_listener_speaks_https_only() {
    let (cert, key, trusted) = certificate();
    let port = serve(tls(&cert, &key)).expect("serves with TLS");
    let client = reqwest::Client::builder()
        .add_root_certificate(trusted)
        .build()
        .unwrap();
    let live = client
        .get(format!("https://localhost:{port}/health/live"))
        .send()
        .await
        .expect("a TLS handshake with the configured certificate");
    assert_eq!(live.status(), 200);
    assert_eq!(live.version(), reqwest::Version::HTTP_11);
    let plain = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{port}/health/live"))
        .send()
        .await;
    assert!(
        plain.is_err() || !plain.unwrap().status().is_success(),
        "plain HTTP is not served on a TLS listener"
    );
    let untrusting = reqwest::Client::new()
        .get(format!("https://localhost:{port}/health/live"))
        .send()
        .await;
    assert!(
        untrusting.is_err(),
        "a client that does not trust it refuses the certificate"
    );
}

#[tokio::test]
async fn a_half_configured_or_unreadable_pair_is_refused_naming_the_file() {
    let (cert, key, _) = certificate();
    let only_cert = TlsSettings {
        cert_file: Some(cert.clone()),
        key_file: None,
    };
    let error = serve(only_cert).unwrap_err().to_string();
    assert!(error.contains("key_file"), "{error}");

    let missing = cert.with_file_name("missing.pem");
    let error = serve(tls(&missing, &key)).unwrap_err().to_string();
    assert!(error.contains("missing.pem"), "{error}");

    // The key of another certificate does not match this one.
    let (_, other_key, _) = certificate();
    let error = serve(tls(&cert, &other_key)).unwrap_err().to_string();
    assert!(error.contains("usable certificate"), "{error}");

    // A key file given as the certificate holds no certificate.
    let error = serve(tls(&key, &key)).unwrap_err().to_string();
    assert!(error.contains("no PEM certificate"), "{error}");
}
