//! Authentication: every request but health, metrics and the API documents carries a JWT
//! bearer token signed with EdDSA (Ed25519) by a key of the configured JWKS, with `exp`, `nbf`,
//! `iss`, `aud` and `sub`; its `role` claim says what the caller may do. Anything else is a
//! 401 with one uniform body and `WWW-Authenticate`, whatever was wrong with the token (the
//! reason goes to the logs, never to the client).

use std::collections::HashMap;
use std::future::{Ready, ready};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime};

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::{AUTHORIZATION, HeaderValue, WWW_AUTHENTICATE};
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpMessage, HttpRequest, ResponseError, web};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Serialize};

use crate::Problem;
use crate::limits::Client;

/// The `[auth]` section.
#[derive(Debug, Clone, Deserialize, serde::Serialize, settings_doc::SettingsDoc)]
#[serde(default, deny_unknown_fields)]
pub struct AuthSettings {
    /// The JSON Web Key Set whose keys sign valid tokens (re-read when it changes).
    pub jwks_file: String,
    /// Where to fetch the JWKS instead (an identity provider's `jwks_uri`, https or http);
    /// refetched every 30 s and, at most every 5 s, when a token names an unknown key.
    pub jwks_url: Option<String>,
    /// Required `iss`.
    pub issuer: String,
    /// Required `aud`.
    pub audience: String,
    /// Seconds of clock skew tolerated on `exp` and `nbf`.
    pub leeway_secs: u64,
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            jwks_file: ".stack/auth/jwks.json".into(),
            jwks_url: None,
            issuer: "cqrs-kafka".into(),
            audience: "cqrs-kafka".into(),
            leeway_secs: 30,
        }
    }
}

/// What a caller may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Operators: everything.
    Admin,
    /// A user acting on their own account and orders; `sub` is their user id.
    Customer,
    /// Another service of the system (the saga orchestrator).
    Service,
}

/// The authenticated caller of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub subject: String,
    pub role: Role,
}

impl Principal {
    /// For the event metadata's `actor`: `role:subject`.
    pub fn actor(&self) -> String {
        let role = match self.role {
            Role::Admin => "admin",
            Role::Customer => "customer",
            Role::Service => "service",
        };
        format!("{role}:{}", self.subject)
    }

    /// 403 unless the caller has one of `roles`.
    pub fn require(&self, roles: &[Role]) -> Result<(), Problem> {
        if roles.contains(&self.role) {
            Ok(())
        } else {
            Err(Problem::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "The caller's role may not do this",
            ))
        }
    }

    /// `hidden()` (a 404, so nothing leaks about what exists) unless the caller may access
    /// what belongs to user `owner`.
    pub fn must_access(
        &self,
        owner: &str,
        hidden: impl FnOnce() -> Problem,
    ) -> Result<(), Problem> {
        if self.may_access(owner) {
            Ok(())
        } else {
            Err(hidden())
        }
    }

    /// Whether the caller may see and act on what belongs to user `owner`: admins and
    /// services on anyone's, a customer on their own only.
    pub fn may_access(&self, owner: &str) -> bool {
        match self.role {
            Role::Admin | Role::Service => true,
            Role::Customer => self.subject == owner,
        }
    }
}

impl FromRequest for Principal {
    type Error = Problem;
    type Future = Ready<Result<Self, Problem>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(
            request
                .extensions()
                .get::<Principal>()
                .cloned()
                .ok_or_else(unauthorized),
        )
    }
}

#[derive(Debug, Deserialize)]
struct Claims {
    sub: String,
    role: Role,
}

/// The one answer to a request without a valid token.
fn unauthorized() -> Problem {
    Problem::new(
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        "A valid bearer token is required",
    )
}

/// How often the JWKS is checked for changes, and how often an unknown `kid` may force a read.
const RELOAD_EVERY: Duration = Duration::from_secs(30);
const UNKNOWN_KID_RELOAD: Duration = Duration::from_secs(5);
/// Limits on fetching a JWKS by URL.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
const MAX_JWKS_BYTES: usize = 1024 * 1024;

type KeysByKid = HashMap<String, DecodingKey>;

struct Keys {
    by_kid: KeysByKid,
    /// The file's modification time (a file source only).
    modified: Option<SystemTime>,
    checked: Instant,
}

/// Where the keys come from.
enum Source {
    File(PathBuf),
    Url {
        url: String,
        client: reqwest::Client,
        fetching: Arc<AtomicBool>,
    },
}

/// Verifies bearer tokens against a JWKS file or URL.
pub struct Verifier {
    source: Source,
    validation: Validation,
    keys: Arc<RwLock<Keys>>,
}

impl Verifier {
    /// Reads the key set from the file; fails when it cannot be read or holds no usable key.
    /// (A JWKS by URL needs [`Verifier::load`].)
    pub fn new(settings: &AuthSettings) -> anyhow::Result<Arc<Self>> {
        anyhow::ensure!(
            settings.jwks_url.is_none(),
            "a JWKS by URL is fetched by Verifier::load"
        );
        let path = PathBuf::from(&settings.jwks_file);
        let (by_kid, modified) = read_keys(&path)?;
        Ok(Self::with(settings, Source::File(path), by_kid, modified))
    }

    /// Reads the key set from `auth.jwks_url` when set, else from `auth.jwks_file`; fails
    /// when it cannot be had or holds no usable key.
    pub async fn load(settings: &AuthSettings) -> anyhow::Result<Arc<Self>> {
        let Some(url) = settings.jwks_url.clone() else {
            return Self::new(settings);
        };
        let client = reqwest::Client::builder()
            .timeout(FETCH_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        let by_kid = fetch_keys(&client, &url).await?;
        let source = Source::Url {
            url,
            client,
            fetching: Arc::default(),
        };
        Ok(Self::with(settings, source, by_kid, None))
    }

    fn with(
        settings: &AuthSettings,
        source: Source,
        by_kid: KeysByKid,
        modified: Option<SystemTime>,
    ) -> Arc<Self> {
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.leeway = settings.leeway_secs;
        validation.validate_nbf = true;
        validation.set_issuer(&[&settings.issuer]);
        validation.set_audience(&[&settings.audience]);
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        Arc::new(Self {
            source,
            validation,
            keys: Arc::new(RwLock::new(Keys {
                by_kid,
                modified,
                checked: Instant::now(),
            })),
        })
    }

    /// The caller `token` proves, or why not (for the logs).
    pub fn verify(&self, token: &str) -> Result<Principal, String> {
        let header = jsonwebtoken::decode_header(token).map_err(|e| e.to_string())?;
        let kid = header.kid.ok_or("the token names no key (kid)")?;
        self.reload_if_due(&kid);
        let keys = self.keys.read().expect("keys lock");
        let key = keys
            .by_kid
            .get(&kid)
            .ok_or_else(|| format!("unknown key {kid:?}"))?;
        let data = jsonwebtoken::decode::<Claims>(token, key, &self.validation)
            .map_err(|e| e.to_string())?;
        if data.claims.sub.is_empty() {
            return Err("empty sub".into());
        }
        Ok(Principal {
            subject: data.claims.sub,
            role: data.claims.role,
        })
    }

    /// Re-reads the keys when due (every 30 s, or at most every 5 s when a token names a key
    /// we do not have: a rotation). A file is re-read in place when it changed; a URL is
    /// fetched in the background, so the request that noticed goes on with the keys it has.
    fn reload_if_due(&self, kid: &str) {
        let due = {
            let keys = self.keys.read().expect("keys lock");
            let since = keys.checked.elapsed();
            since >= RELOAD_EVERY || (!keys.by_kid.contains_key(kid) && since >= UNKNOWN_KID_RELOAD)
        };
        if !due {
            return;
        }
        self.keys.write().expect("keys lock").checked = Instant::now();
        match &self.source {
            Source::File(path) => self.reload_file(path),
            Source::Url {
                url,
                client,
                fetching,
            } => {
                if fetching.swap(true, Ordering::AcqRel) {
                    return;
                }
                let (url, client, fetching) = (url.clone(), client.clone(), fetching.clone());
                let keys = self.keys.clone();
                tokio::spawn(async move {
                    match fetch_keys(&client, &url).await {
                        Ok(by_kid) => {
                            tracing::info!(keys = by_kid.len(), "JWKS refetched");
                            keys.write().expect("keys lock").by_kid = by_kid;
                        }
                        Err(error) => tracing::warn!(error = %error, "JWKS not refetched"),
                    }
                    fetching.store(false, Ordering::Release);
                });
            }
        }
    }

    fn reload_file(&self, path: &PathBuf) {
        let modified = std::fs::metadata(path).and_then(|m| m.modified()).ok();
        let mut keys = self.keys.write().expect("keys lock");
        if modified.is_some() && modified == keys.modified {
            return;
        }
        match read_keys(path) {
            Ok((by_kid, modified)) => {
                tracing::info!(keys = by_kid.len(), "JWKS reloaded");
                keys.by_kid = by_kid;
                keys.modified = modified;
            }
            // Keep the keys we have: a half-written file must not lock everyone out.
            Err(error) => tracing::warn!(error = %error, "JWKS not reloaded"),
        }
    }
}

fn read_keys(path: &PathBuf) -> anyhow::Result<(KeysByKid, Option<SystemTime>)> {
    use anyhow::Context;
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the JWKS {}", path.display()))?;
    let modified = std::fs::metadata(path).and_then(|m| m.modified()).ok();
    let by_kid = parse_keys(&text).with_context(|| format!("the JWKS {}", path.display()))?;
    Ok((by_kid, modified))
}

async fn fetch_keys(client: &reqwest::Client, url: &str) -> anyhow::Result<KeysByKid> {
    use anyhow::Context;
    let fetch = async {
        let mut response = client.get(url).send().await?.error_for_status()?;
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await? {
            body.extend_from_slice(&chunk);
            anyhow::ensure!(
                body.len() <= MAX_JWKS_BYTES,
                "larger than {MAX_JWKS_BYTES} bytes"
            );
        }
        parse_keys(&String::from_utf8(body)?)
    };
    fetch
        .await
        .with_context(|| format!("fetching the JWKS {url}"))
}

/// The usable keys of a JWKS document (those with a `kid`); an error if there are none.
fn parse_keys(text: &str) -> anyhow::Result<KeysByKid> {
    let set: JwkSet = serde_json::from_str(text)?;
    let by_kid: KeysByKid = set
        .keys
        .iter()
        .filter_map(|jwk| {
            let kid = jwk.common.key_id.clone()?;
            DecodingKey::from_jwk(jwk).ok().map(|key| (kid, key))
        })
        .collect();
    anyhow::ensure!(!by_kid.is_empty(), "holds no key with a kid");
    Ok(by_kid)
}

/// Paths anyone may read: probes, scrapes and the API documents.
fn public(path: &str) -> bool {
    path.starts_with("/health/")
        || path == "/metrics"
        || path.starts_with("/api-docs/")
        || path.starts_with("/swagger-ui")
}

/// More paths a service serves without a token (app data): the gateway's console files and
/// its WebSocket endpoint, which authenticates in its first message instead.
#[derive(Clone, Copy)]
pub struct PublicPaths(pub fn(&str) -> bool);

/// The token of an `Authorization: Bearer …` header.
pub fn bearer(headers: &actix_web::http::header::HeaderMap) -> Option<&str> {
    headers
        .get(AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(bearer_value)
}

/// The token of an `Authorization` value `Bearer …` (the scheme in any case), wherever it
/// came from (a header, a WebSocket's first message).
pub fn bearer_value(value: &str) -> Option<&str> {
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Middleware: authenticates every non-public request, attaching its [`Principal`].
pub async fn authenticate(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let Some(verifier) = request.app_data::<web::Data<Arc<Verifier>>>().cloned() else {
        return Ok(next.call(request).await?.map_into_boxed_body());
    };
    let also_public = request
        .app_data::<web::Data<PublicPaths>>()
        .is_some_and(|paths| (paths.0)(request.path()));
    if public(request.path()) || also_public {
        return Ok(next.call(request).await?.map_into_boxed_body());
    }
    let token = bearer(request.headers());
    let verified = match token {
        None => Err("no bearer token".to_owned()),
        Some(token) => verifier.verify(token),
    };
    match verified {
        Ok(principal) => {
            Client::charge(&request, principal.actor());
            request.extensions_mut().insert(principal);
            Ok(next.call(request).await?.map_into_boxed_body())
        }
        Err(reason) => {
            if let Some(response) = crate::limits::over_rate(&request, &Client::peer(&request)) {
                return Ok(request.into_response(response));
            }
            tracing::info!(
                reason,
                path = request.path(),
                "request refused: not authenticated"
            );
            metrics::counter!("http_unauthenticated_total").increment(1);
            let mut response = unauthorized().error_response();
            response.headers_mut().insert(
                WWW_AUTHENTICATE,
                HeaderValue::from_static(r#"Bearer realm="cqrs-kafka", error="invalid_token""#),
            );
            Ok(request.into_response(response))
        }
    }
}

/// Issuing tokens: an Ed25519 key pair, its JWKS, and tokens signed with it. For the local
/// stack (`cargo xtask up` / `cargo xtask token`) and tests; in production an identity
/// provider issues tokens and publishes its JWKS.
pub mod issue {
    use std::time::{SystemTime, UNIX_EPOCH};

    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use jsonwebtoken::{Algorithm, EncodingKey, Header};
    use ring::signature::{Ed25519KeyPair, KeyPair as _};
    use serde_json::json;

    use super::{AuthSettings, Role};

    /// A signing key pair with its key id.
    pub struct KeyPair {
        pub kid: String,
        pkcs8: Vec<u8>,
        public: Vec<u8>,
    }

    impl KeyPair {
        /// A new random key pair.
        pub fn generate(kid: &str) -> anyhow::Result<Self> {
            let rng = ring::rand::SystemRandom::new();
            let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng)
                .map_err(|_| anyhow::anyhow!("generating an Ed25519 key failed"))?;
            Self::from_pkcs8(kid, pkcs8.as_ref())
        }

        /// The key pair stored as PKCS#8 DER.
        pub fn from_pkcs8(kid: &str, pkcs8: &[u8]) -> anyhow::Result<Self> {
            let pair = Ed25519KeyPair::from_pkcs8(pkcs8)
                .map_err(|e| anyhow::anyhow!("not an Ed25519 PKCS#8 key: {e}"))?;
            Ok(Self {
                kid: kid.to_owned(),
                pkcs8: pkcs8.to_vec(),
                public: pair.public_key().as_ref().to_vec(),
            })
        }

        /// The private key as PKCS#8 DER, to store.
        pub fn pkcs8(&self) -> &[u8] {
            &self.pkcs8
        }

        /// The public key as a JWKS document.
        pub fn jwks(&self) -> String {
            json!({ "keys": [{
                "kty": "OKP",
                "crv": "Ed25519",
                "use": "sig",
                "alg": "EdDSA",
                "kid": self.kid,
                "x": URL_SAFE_NO_PAD.encode(&self.public),
            }]})
            .to_string()
        }

        /// A token for `subject` in `role`, valid for `ttl_secs` from now, for `settings`'
        /// issuer and audience.
        pub fn token(
            &self,
            settings: &AuthSettings,
            subject: &str,
            role: Role,
            ttl_secs: u64,
        ) -> anyhow::Result<String> {
            let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
            self.sign(&json!({
                "iss": settings.issuer,
                "aud": settings.audience,
                "sub": subject,
                "role": role,
                "iat": now,
                "nbf": now,
                "exp": now + ttl_secs,
            }))
        }

        /// Signs any claims (tests use it for tokens that must be refused).
        pub fn sign(&self, claims: &serde_json::Value) -> anyhow::Result<String> {
            let mut header = Header::new(Algorithm::EdDSA);
            header.kid = Some(self.kid.clone());
            Ok(jsonwebtoken::encode(
                &header,
                claims,
                &EncodingKey::from_ed_der(&self.pkcs8),
            )?)
        }
    }
}
