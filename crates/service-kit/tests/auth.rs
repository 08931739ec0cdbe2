//! Authentication as every service applies it: a valid EdDSA token of the JWKS passes with
//! its caller; every kind of bad token gets the same 401 and `WWW-Authenticate`; probes,
//! metrics and API documents need no token; a rotated key is picked up.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use actix_web::{HttpResponse, web};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use service_kit::auth::issue::KeyPair;
use service_kit::auth::{AuthSettings, Principal, Role, Verifier};
use service_kit::health::Readiness;
use service_kit::settings::{DatabaseSettings, HttpSettings};

struct Server {
    base: String,
    settings: AuthSettings,
    jwks: std::path::PathBuf,
    key: KeyPair,
}

async fn serve() -> Server {
    let dir = std::env::temp_dir().join(format!("auth-test-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let key = KeyPair::generate("key-1").unwrap();
    let jwks = dir.join("jwks.json");
    std::fs::write(&jwks, key.jwks()).unwrap();
    let settings = AuthSettings {
        jwks_file: jwks.to_string_lossy().into_owned(),
        ..AuthSettings::default()
    };
    let verifier = Verifier::new(&settings).unwrap();
    let readiness = Readiness {
        database: DatabaseSettings::default().pool(),
        broker: None,
    };
    let http = HttpSettings {
        workers: 1,
        ..HttpSettings::default()
    };
    let (server, port) = service_kit::http::server(
        &http,
        Some(verifier),
        readiness,
        utoipa::openapi::OpenApiBuilder::new().build(),
        |config: &mut web::ServiceConfig| {
            config.route(
                "/me",
                web::get().to(|caller: Principal| async move {
                    HttpResponse::Ok().json(json!({ "actor": caller.actor() }))
                }),
            );
        },
    )
    .unwrap();
    tokio::spawn(server);
    Server {
        base: format!("http://127.0.0.1:{port}"),
        settings,
        jwks,
        key,
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn claims(server: &Server) -> Value {
    json!({
        "iss": server.settings.issuer, "aud": server.settings.audience,
        "sub": "01a2-user", "role": "customer",
        "nbf": now(), "exp": now() + 300,
    })
}

fn with(mut claims: Value, key: &str, value: Value) -> Value {
    if value.is_null() {
        claims.as_object_mut().unwrap().remove(key);
    } else {
        claims[key] = value;
    }
    claims
}

async fn me(server: &Server, authorization: Option<String>) -> reqwest::Response {
    let mut request = reqwest::Client::new().get(format!("{}/me", server.base));
    if let Some(value) = authorization {
        request = request.header("Authorization", value);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn a_valid_token_passes_and_names_its_caller() {
    let server = serve().await;
    let token = server
        .key
        .token(&server.settings, "01a2-user", Role::Customer, 60)
        .unwrap();
    let response = me(&server, Some(format!("Bearer {token}"))).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["actor"], "customer:01a2-user");
}

#[tokio::test]
async fn every_kind_of_bad_token_gets_the_same_401() {
    let server = serve().await;
    let base = claims(&server);
    let sign = |claims: Value| server.key.sign(&claims).unwrap();
    let header_b64 = |header: Value| URL_SAFE_NO_PAD.encode(header.to_string());
    let body_b64 = URL_SAFE_NO_PAD.encode(base.to_string());
    let other = KeyPair::generate("key-1").unwrap();
    let unknown_kid = KeyPair::generate("key-unknown").unwrap();
    // HS256 "signed" with the public key, a classic confusion attack.
    let public_jwk: Value = serde_json::from_str(&server.key.jwks()).unwrap();
    let hs256 = {
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
        header.kid = Some("key-1".into());
        let secret = public_jwk["keys"][0]["x"]
            .as_str()
            .unwrap()
            .as_bytes()
            .to_vec();
        jsonwebtoken::encode(
            &header,
            &base,
            &jsonwebtoken::EncodingKey::from_secret(&secret),
        )
        .unwrap()
    };
    let cases: Vec<(&str, Option<String>)> = vec![
        ("no header", None),
        ("basic auth", Some("Basic dXNlcjpwYXNz".into())),
        ("empty bearer", Some("Bearer ".into())),
        ("garbage", Some("Bearer not.a.jwt".into())),
        (
            "alg none",
            Some(format!(
                "Bearer {}.{body_b64}.",
                header_b64(json!({"alg": "none", "kid": "key-1"}))
            )),
        ),
        ("hs256 with the public key", Some(format!("Bearer {hs256}"))),
        (
            "signed by another key with the same kid",
            Some(format!("Bearer {}", other.sign(&base).unwrap())),
        ),
        (
            "unknown kid",
            Some(format!("Bearer {}", unknown_kid.sign(&base).unwrap())),
        ),
        (
            "expired",
            Some(format!(
                "Bearer {}",
                sign(with(base.clone(), "exp", json!(now() - 120)))
            )),
        ),
        (
            "not yet valid",
            Some(format!(
                "Bearer {}",
                sign(with(base.clone(), "nbf", json!(now() + 120)))
            )),
        ),
        (
            "wrong audience",
            Some(format!(
                "Bearer {}",
                sign(with(base.clone(), "aud", json!("someone-else")))
            )),
        ),
        (
            "wrong issuer",
            Some(format!(
                "Bearer {}",
                sign(with(base.clone(), "iss", json!("evil")))
            )),
        ),
        (
            "no exp",
            Some(format!(
                "Bearer {}",
                sign(with(base.clone(), "exp", Value::Null))
            )),
        ),
        (
            "no nbf",
            Some(format!(
                "Bearer {}",
                sign(with(base.clone(), "nbf", Value::Null))
            )),
        ),
        (
            "no sub",
            Some(format!(
                "Bearer {}",
                sign(with(base.clone(), "sub", Value::Null))
            )),
        ),
        (
            "unknown role",
            Some(format!(
                "Bearer {}",
                sign(with(base.clone(), "role", json!("superuser")))
            )),
        ),
        (
            "tampered claims",
            Some({
                let token = sign(base.clone());
                let parts: Vec<&str> = token.split('.').collect();
                let admin =
                    URL_SAFE_NO_PAD.encode(with(base.clone(), "role", json!("admin")).to_string());
                format!("Bearer {}.{admin}.{}", parts[0], parts[2])
            }),
        ),
    ];
    let mut bodies = Vec::new();
    for (case, authorization) in cases {
        let response = me(&server, authorization).await;
        assert_eq!(response.status(), 401, "{case}");
        assert!(
            response.headers()["www-authenticate"]
                .to_str()
                .unwrap()
                .starts_with("Bearer "),
            "{case}"
        );
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json",
            "{case}"
        );
        bodies.push(response.text().await.unwrap());
    }
    bodies.dedup();
    assert_eq!(bodies.len(), 1, "one uniform body: {bodies:?}");
}

#[tokio::test]
async fn probes_metrics_and_api_documents_need_no_token() {
    let server = serve().await;
    let client = reqwest::Client::new();
    let document: Value = client
        .get(format!("{}/api-docs/openapi.json", server.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        document["components"]["securitySchemes"]["bearer"]["scheme"], "bearer",
        "the document declares the bearer scheme"
    );
    assert_eq!(document["security"][0]["bearer"], json!([]));
    for path in ["/health/live", "/metrics", "/api-docs/openapi.json"] {
        let response = client
            .get(format!("{}{path}", server.base))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path}");
    }
}

#[tokio::test]
async fn a_rotated_key_is_picked_up_from_the_jwks_file() {
    let server = serve().await;
    let next = KeyPair::generate("key-2").unwrap();
    let token = next
        .token(&server.settings, "ops", Role::Admin, 60)
        .unwrap();
    assert_eq!(
        me(&server, Some(format!("Bearer {token}"))).await.status(),
        401
    );
    std::fs::write(&server.jwks, next.jwks()).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let status = me(&server, Some(format!("Bearer {token}"))).await.status();
        if status == 200 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the new key was never used"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
