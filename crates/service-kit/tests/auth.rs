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
    serve_with(HttpSettings {
        workers: 1,
        ..HttpSettings::default()
    })
    .await
}

async fn serve_with(http: HttpSettings) -> Server {
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
        database: Some(DatabaseSettings::default().pool()),
        broker: None,
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

#[tokio::test]
async fn the_rate_is_charged_per_subject_and_refused_tokens_per_peer() {
    let mut http = HttpSettings {
        workers: 1,
        ..HttpSettings::default()
    };
    http.rate_limit.per_second = 1;
    http.rate_limit.burst = 3;
    let server = serve_with(http).await;
    let client = reqwest::Client::new();
    let me = format!("{}/me", server.base);
    let token = |sub: &str| {
        server
            .key
            .token(&server.settings, sub, Role::Customer, 300)
            .unwrap()
    };
    let statuses = |token: Option<String>| {
        let client = client.clone();
        let me = me.clone();
        async move {
            let mut statuses = Vec::new();
            for _ in 0..5 {
                let mut request = client.get(&me);
                if let Some(token) = &token {
                    request = request.bearer_auth(token);
                }
                statuses.push(request.send().await.unwrap().status().as_u16());
            }
            statuses
        }
    };
    let alice = statuses(Some(token("alice"))).await;
    assert_eq!(&alice[..3], [200, 200, 200], "{alice:?}");
    assert!(
        alice[3..].contains(&429),
        "alice is over her rate: {alice:?}"
    );
    // Same address, another subject: a budget of its own.
    let bob = statuses(Some(token("bob"))).await;
    assert_eq!(&bob[..3], [200, 200, 200], "{bob:?}");
    // Refused tokens are charged to the address, so guessing is throttled too.
    let guesses = statuses(Some("not-a-token".into())).await;
    assert_eq!(&guesses[..3], [401, 401, 401], "{guesses:?}");
    assert!(guesses[3..].contains(&429), "{guesses:?}");
}

/// Serves whatever `document` holds at `/jwks.json` (500 while it is empty), as an identity
/// provider would.
async fn jwks_endpoint(document: std::sync::Arc<std::sync::Mutex<String>>) -> String {
    let server = actix_web::HttpServer::new(move || {
        let document = document.clone();
        actix_web::App::new().route(
            "/jwks.json",
            web::get().to(move || {
                let body = document.lock().unwrap().clone();
                async move {
                    if body.is_empty() {
                        HttpResponse::InternalServerError().finish()
                    } else {
                        HttpResponse::Ok()
                            .content_type("application/json")
                            .body(body)
                    }
                }
            }),
        )
    })
    .workers(1)
    .bind(("127.0.0.1", 0))
    .unwrap();
    let port = server.addrs()[0].port();
    tokio::spawn(server.run());
    format!("http://127.0.0.1:{port}/jwks.json")
}

#[tokio::test]
async fn a_jwks_by_url_is_fetched_at_start_and_refetched_for_a_new_key() {
    let first = KeyPair::generate("url-key-1").unwrap();
    let document = std::sync::Arc::new(std::sync::Mutex::new(first.jwks()));
    let url = jwks_endpoint(document.clone()).await;
    let settings = AuthSettings {
        jwks_file: "/nonexistent/jwks.json".into(),
        jwks_url: Some(url.clone()),
        ..AuthSettings::default()
    };
    let verifier = Verifier::load(&settings).await.expect("keys fetched");
    let token = first.token(&settings, "ops", Role::Admin, 60).unwrap();
    assert_eq!(verifier.verify(&token).unwrap().subject, "ops");

    // The provider rotates: the new key is fetched when a token names it.
    let next = KeyPair::generate("url-key-2").unwrap();
    *document.lock().unwrap() = next.jwks();
    let token = next.token(&settings, "ops", Role::Admin, 60).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while verifier.verify(&token).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "the new key was never fetched"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // A failing provider leaves the keys in place.
    document.lock().unwrap().clear();
    tokio::time::sleep(Duration::from_secs(6)).await;
    let unknown = KeyPair::generate("url-key-3")
        .unwrap()
        .token(&settings, "ops", Role::Admin, 60)
        .unwrap();
    assert!(
        verifier.verify(&unknown).is_err(),
        "an unknown key is refused"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        verifier.verify(&token).is_ok(),
        "the keys survive a failed fetch"
    );

    // At start, a provider that fails or is unreachable stops the service, naming the URL.
    let error = Verifier::load(&settings)
        .await
        .err()
        .expect("no keys, no start");
    assert!(format!("{error:#}").contains(&url), "{error:#}");
    let unreachable = AuthSettings {
        jwks_url: Some("http://127.0.0.1:1/jwks.json".into()),
        ..settings
    };
    let error = Verifier::load(&unreachable)
        .await
        .err()
        .expect("no keys, no start");
    assert!(format!("{error:#}").contains("127.0.0.1:1"), "{error:#}");
}
