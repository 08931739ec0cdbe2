//! Tokens for tests: one signing key per test process, its JWKS in a file the services under
//! test read, and clients that carry a token.

use std::sync::OnceLock;

use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue};
use service_kit::auth::issue::KeyPair;
use service_kit::auth::{AuthSettings, Role};

struct TestKeys {
    key: KeyPair,
    settings: AuthSettings,
}

fn keys() -> &'static TestKeys {
    static KEYS: OnceLock<TestKeys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("cqrs-test-keys-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a directory for the test keys");
        let key = KeyPair::generate("test-key").expect("a test key");
        let jwks = dir.join("jwks.json");
        std::fs::write(&jwks, key.jwks()).expect("the test JWKS written");
        TestKeys {
            key,
            settings: AuthSettings {
                jwks_file: jwks.to_string_lossy().into_owned(),
                ..AuthSettings::default()
            },
        }
    })
}

/// The `[auth]` settings of a service under test.
pub fn settings() -> AuthSettings {
    keys().settings.clone()
}

/// The environment variables giving a service binary (`prefix`, e.g. `USERS_COMMAND`) the
/// test keys.
pub fn env(prefix: &str) -> Vec<(String, String)> {
    vec![(
        format!("{prefix}__AUTH__JWKS_FILE"),
        keys().settings.jwks_file.clone(),
    )]
}

/// A token valid for an hour.
pub fn token(subject: &str, role: Role) -> String {
    keys()
        .key
        .token(&keys().settings, subject, role, 3_600)
        .expect("a test token")
}

/// A token the services accept for about `seconds` more: its `exp` is in the past, by less
/// than the leeway they allow for clock skew (for what must stop when a token expires).
pub fn token_expiring_in(subject: &str, role: Role, seconds: u64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs();
    let settings = settings();
    sign(&serde_json::json!({
        "iss": settings.issuer, "aud": settings.audience, "sub": subject, "role": role,
        "nbf": now - 60, "exp": now + seconds - settings.leeway_secs,
    }))
}

/// Signs `claims` with the test key as they are (for tokens that must be refused).
pub fn sign(claims: &serde_json::Value) -> String {
    keys().key.sign(claims).expect("a signed test token")
}

/// A client whose every request carries a token for `subject` in `role`.
pub fn client_as(subject: &str, role: Role) -> reqwest::Client {
    let mut headers = HeaderMap::new();
    let mut value = HeaderValue::from_str(&format!("Bearer {}", token(subject, role)))
        .expect("a token is a header value");
    value.set_sensitive(true);
    headers.insert(AUTHORIZATION, value);
    reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .expect("a client")
}

/// A client acting as an operator: what most tests use.
pub fn admin_client() -> reqwest::Client {
    client_as("test-admin", Role::Admin)
}

/// Tokens every endpoint must refuse: expired, not yet valid, for another audience or
/// issuer, unsigned (`alg: none`), signed by a stranger, with an unknown role.
pub fn bad_tokens() -> Vec<(&'static str, String)> {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use serde_json::json;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs();
    let settings = settings();
    let claims = |changes: serde_json::Value| {
        let mut claims = json!({
            "iss": settings.issuer, "aud": settings.audience, "sub": "test-admin",
            "role": "admin", "nbf": now, "exp": now + 300,
        });
        for (key, value) in changes.as_object().expect("an object") {
            claims[key] = value.clone();
        }
        claims
    };
    let stranger = KeyPair::generate("test-key").expect("a stranger's key");
    let unsigned = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"none","kid":"test-key"}"#),
        URL_SAFE_NO_PAD.encode(claims(json!({})).to_string())
    );
    vec![
        ("expired", sign(&claims(json!({ "exp": now - 300 })))),
        ("not yet valid", sign(&claims(json!({ "nbf": now + 300 })))),
        (
            "another audience",
            sign(&claims(json!({ "aud": "elsewhere" }))),
        ),
        (
            "another issuer",
            sign(&claims(json!({ "iss": "elsewhere" }))),
        ),
        ("unknown role", sign(&claims(json!({ "role": "root" })))),
        ("alg none", unsigned),
        (
            "a stranger's key",
            stranger.sign(&claims(json!({}))).expect("signed"),
        ),
    ]
}
