//! Limits every service applies to its HTTP clients: a rate limit per client (the
//! authenticated subject, or the peer's address where there is none) and a deadline per
//! request. (Body sizes and page sizes are limited where they are read; connections by
//! the server, see [`crate::settings::HttpSettings`].)

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::{HeaderValue, RETRY_AFTER};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, ResponseError, web};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use serde::Deserialize;

use crate::Problem;

/// The `[http.rate_limit]` section: requests per client.
///
/// A client is the token's subject on authenticated routes (so users behind one NAT or proxy
/// do not share a budget, and one subject cannot spread over many addresses), and the peer's
/// address on public routes and for requests refused as unauthenticated (so guessing tokens
/// is throttled too).
#[derive(Debug, Clone, Deserialize, serde::Serialize, settings_doc::SettingsDoc)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimitSettings {
    /// Sustained requests per second a client may send; 0 turns the limit off.
    pub per_second: u32,
    /// Requests a client may send at once above the sustained rate.
    pub burst: u32,
}

impl Default for RateLimitSettings {
    fn default() -> Self {
        Self {
            per_second: 1_000,
            burst: 2_000,
        }
    }
}

/// Whom a request's rate is charged to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Client {
    /// An authenticated caller, by role and subject.
    Subject(String),
    /// An unauthenticated peer, by address (behind a proxy: the proxy's).
    Peer(IpAddr),
}

impl Client {
    /// The client a request is charged to: the subject the authentication middleware
    /// recorded (see [`Client::charge`]), else its peer.
    pub fn of(request: &ServiceRequest) -> Self {
        match request.extensions().get::<Client>() {
            Some(client) => client.clone(),
            None => Self::peer(request),
        }
    }

    /// Charges the request's rate to `actor` (an authenticated caller's `role:subject`)
    /// rather than to its peer's address.
    pub fn charge(request: &ServiceRequest, actor: String) {
        request.extensions_mut().insert(Self::Subject(actor));
    }

    /// The peer's address, whoever it claims to be.
    pub fn peer(request: &ServiceRequest) -> Self {
        Self::Peer(
            request
                .peer_addr()
                .map_or(IpAddr::from([0, 0, 0, 0]), |peer| peer.ip()),
        )
    }
}

/// The limits of one service, shared by its workers.
pub struct Limits {
    limiter: Option<DefaultKeyedRateLimiter<Client>>,
    timeout: Duration,
    requests: AtomicU64,
}

/// Paths no limit applies to: probes and scrapes must answer while clients are throttled.
fn exempt(path: &str) -> bool {
    path.starts_with("/health/") || path == "/metrics"
}

/// How often (in requests) the limiter forgets clients it has not seen for a while.
const FORGET_EVERY: u64 = 4_096;

impl Limits {
    pub fn new(rate: &RateLimitSettings, timeout: Duration) -> Arc<Self> {
        let limiter = NonZeroU32::new(rate.per_second).map(|per_second| {
            let burst = NonZeroU32::new(rate.burst)
                .unwrap_or(per_second)
                .max(per_second);
            governor::RateLimiter::keyed(Quota::per_second(per_second).allow_burst(burst))
        });
        Arc::new(Self {
            limiter,
            timeout,
            requests: AtomicU64::new(0),
        })
    }

    /// `Err(seconds to wait)` when `client` is over its rate.
    fn admit(&self, client: &Client) -> Result<(), u64> {
        let Some(limiter) = &self.limiter else {
            return Ok(());
        };
        if self
            .requests
            .fetch_add(1, Ordering::Relaxed)
            .is_multiple_of(FORGET_EVERY)
        {
            limiter.retain_recent();
        }
        limiter.check_key(client).map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
        })
    }
}

/// The 429 answer when `client` is over its rate, else `None`. Also used by authentication
/// to charge refused tokens to the peer.
pub fn over_rate(request: &ServiceRequest, client: &Client) -> Option<actix_web::HttpResponse> {
    let limits = request.app_data::<web::Data<Arc<Limits>>>()?;
    let wait = limits.admit(client).err()?;
    metrics::counter!("http_rate_limited_total").increment(1);
    let mut response = Problem::new(
        StatusCode::TOO_MANY_REQUESTS,
        "rate-limited",
        "Too many requests",
    )
    .with_detail(format!("slow down: try again in {wait} s"))
    .error_response();
    response.headers_mut().insert(
        RETRY_AFTER,
        HeaderValue::from_str(&wait.max(1).to_string()).expect("digits are a header value"),
    );
    Some(response)
}

/// Middleware (inside authentication): refuses a client over its rate with 429 and
/// `Retry-After`, and a request that runs past the deadline with 503. Forwarded headers can be
/// forged, so they are not trusted for the peer's address: behind a proxy, limit
/// unauthenticated traffic at the proxy.
pub async fn limit(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let Some(limits) = request.app_data::<web::Data<Arc<Limits>>>().cloned() else {
        return Ok(next.call(request).await?.map_into_boxed_body());
    };
    if exempt(request.path()) {
        return Ok(next.call(request).await?.map_into_boxed_body());
    }
    if let Some(response) = over_rate(&request, &Client::of(&request)) {
        return Ok(request.into_response(response));
    }
    match tokio::time::timeout(limits.timeout, next.call(request)).await {
        Ok(response) => Ok(response?.map_into_boxed_body()),
        // The request went to the handler, so the answer is an error that actix turns into
        // the problem's response.
        Err(_) => {
            metrics::counter!("http_request_timeouts_total").increment(1);
            Err(Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "request-timeout",
                "The request took too long",
            )
            .with_detail(format!(
                "no answer within {} ms; the request may or may not have taken effect",
                limits.timeout.as_millis()
            ))
            .into())
        }
    }
}
