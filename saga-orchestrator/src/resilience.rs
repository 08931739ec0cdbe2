//! Calls to a downstream service through a tower stack:
//! concurrency limit → retry (exponential backoff with jitter, retryable failures only) →
//! circuit breaker → per-attempt timeout → HTTP.
//!
//! A 4xx is an answer, not a failure: it never trips the breaker and is not retried, except
//! a 409 `concurrent-modification` (another write to the same aggregate won the race). A
//! connection error, a timeout, a 429 or a 5xx is retried a few times within the call; the
//! saga runs the step again later if the call still fails.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde_json::Value;
use tower::{BoxError, Layer, Service, ServiceBuilder, ServiceExt};

/// One HTTP request to a downstream service; cloned for every retry.
#[derive(Debug, Clone)]
pub struct Call {
    pub method: Method,
    /// Path and query, e.g. `/orders/{id}/approve`.
    pub path: String,
    pub body: Option<Value>,
    /// Same for every attempt of the call: the service answers a repeat with its first
    /// outcome.
    pub idempotency_key: String,
    pub correlation_id: String,
    /// The calling span's trace context, sent as `traceparent`.
    pub traceparent: Option<String>,
}

/// A downstream service's answer.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: StatusCode,
    /// The JSON body (problem+json for errors); `Null` when there is none.
    pub body: Value,
}

/// The call was not made: the service's breaker is open.
#[derive(Debug, thiserror::Error)]
#[error("circuit breaker of {0} is open")]
pub struct BreakerOpen(pub &'static str);

/// How to call one downstream service.
#[derive(Debug, Clone, Deserialize, serde::Serialize, settings_doc::SettingsDoc)]
#[serde(default, deny_unknown_fields)]
pub struct DownstreamSettings {
    /// Base URL, e.g. `http://127.0.0.1:5001`.
    pub url: String,
    /// Milliseconds one attempt may take.
    pub timeout_ms: u64,
    /// Retries within one call (so `retries + 1` attempts at most).
    pub retries: u32,
    /// First retry's backoff in milliseconds; it doubles per retry, plus jitter.
    pub backoff_min_ms: u64,
    /// Longest backoff in milliseconds.
    pub backoff_max_ms: u64,
    /// Consecutive failures that open the breaker.
    pub breaker_failures: u32,
    /// Milliseconds the breaker stays open before a probe may go through (half-open).
    pub breaker_open_ms: u64,
    /// Most calls in flight to this service from this instance.
    pub concurrency: usize,
    /// PEM file of CA certificates to trust for an `https` URL besides the public roots
    /// (a private CA that signed the service's certificate).
    pub ca_file: Option<std::path::PathBuf>,
}

impl DownstreamSettings {
    pub fn new(url: &str) -> Self {
        Self {
            url: url.into(),
            ..Self::default()
        }
    }
}

impl Default for DownstreamSettings {
    fn default() -> Self {
        Self {
            url: String::new(),
            timeout_ms: 2_000,
            retries: 2,
            backoff_min_ms: 50,
            backoff_max_ms: 1_000,
            breaker_failures: 5,
            breaker_open_ms: 2_000,
            concurrency: 32,
            ca_file: None,
        }
    }
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;
type Stack = tower::util::BoxCloneSyncService<Call, Answer, BoxError>;

/// A downstream service behind the resilience stack; cheap to clone.
#[derive(Clone)]
pub struct Downstream {
    name: &'static str,
    stack: Stack,
    breaker: Arc<BreakerState>,
}

impl Downstream {
    /// The stack for the service called `name` (in metrics and logs).
    pub fn new(
        name: &'static str,
        settings: &DownstreamSettings,
        token: Arc<TokenFile>,
    ) -> anyhow::Result<Self> {
        use anyhow::Context;
        let mut client =
            reqwest::Client::builder().pool_idle_timeout(service_kit::http::CLIENT_POOL_IDLE);
        if let Some(path) = &settings.ca_file {
            let pem = std::fs::read(path)
                .with_context(|| format!("reading the CA file {} of {name}", path.display()))?;
            let roots = reqwest::Certificate::from_pem_bundle(&pem)
                .with_context(|| format!("the CA file {} of {name}", path.display()))?;
            anyhow::ensure!(
                !roots.is_empty(),
                "the CA file {} of {name} holds no certificate",
                path.display()
            );
            for root in roots {
                client = client.add_root_certificate(root);
            }
        }
        let client = client.build()?;
        let http = Http {
            client,
            base: settings.url.trim_end_matches('/').to_owned(),
            token,
        };
        Ok(Self::over(name, settings, http))
    }

    /// The stack over any transport (tests use fakes).
    pub fn over<S>(name: &'static str, settings: &DownstreamSettings, transport: S) -> Self
    where
        S: Service<Call, Response = Answer, Error = BoxError> + Clone + Send + Sync + 'static,
        S::Future: Send + 'static,
    {
        let breaker = Arc::new(BreakerState::new(
            name,
            settings.breaker_failures.max(1),
            Duration::from_millis(settings.breaker_open_ms),
        ));
        let stack = ServiceBuilder::new()
            .concurrency_limit(settings.concurrency.max(1))
            .retry(RetryPolicy {
                name,
                remaining: settings.retries,
                attempt: 0,
                min: Duration::from_millis(settings.backoff_min_ms.max(1)),
                max: Duration::from_millis(
                    settings.backoff_max_ms.max(settings.backoff_min_ms.max(1)),
                ),
            })
            .layer(BreakerLayer(breaker.clone()))
            .timeout(Duration::from_millis(settings.timeout_ms))
            .service(transport);
        // Exported from the start, so a dashboard and an alert see zero, not no data.
        metrics::counter!("saga_call_retries_total", "downstream" => name).increment(0);
        Self {
            name,
            stack: Stack::new(stack),
            breaker,
        }
    }

    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Sends `call` through the stack.
    pub async fn call(&self, call: Call) -> Result<Answer, BoxError> {
        self.stack.clone().oneshot(call).await
    }

    /// The breaker's state now.
    pub fn breaker(&self) -> BreakerPhase {
        self.breaker.phase()
    }
}

/// Whether the service failed to answer: no answer, a 429 or a 5xx. Trips the breaker.
pub fn failed(result: &Result<Answer, BoxError>) -> bool {
    match result {
        Ok(answer) => {
            answer.status == StatusCode::TOO_MANY_REQUESTS || answer.status.is_server_error()
        }
        Err(_) => true,
    }
}

/// A 409 that says another write to the same aggregate won a race: the service is healthy
/// and the same request may well succeed at once.
pub fn lost_race(answer: &Answer) -> bool {
    answer.status == StatusCode::CONFLICT
        && answer.body["type"].as_str() == Some("/problems/concurrent-modification")
}

/// Whether an outcome is worth another attempt: a failure (but not an open breaker, which
/// would only fail again) or a lost race.
pub fn retryable(result: &Result<Answer, BoxError>) -> bool {
    match result {
        Ok(answer) => failed(result) || lost_race(answer),
        Err(error) => !error.is::<BreakerOpen>(),
    }
}

/// The bearer token the saga presents, read from a file and re-read when the file's
/// modification time changes (looked up before every call: one `stat`, next to an HTTP round
/// trip), so a rotated or corrected token is used from the next call on, without a restart.
pub struct TokenFile {
    path: std::path::PathBuf,
    current: Mutex<(String, Option<std::time::SystemTime>)>,
}

impl TokenFile {
    /// Reads the token; fails when the file is missing or empty.
    pub fn open(path: &str) -> anyhow::Result<Arc<Self>> {
        use anyhow::Context;
        let path = std::path::PathBuf::from(path);
        let current = Self::read(&path)
            .with_context(|| format!("reading the saga's bearer token from {}", path.display()))?;
        Ok(Arc::new(Self {
            path,
            current: Mutex::new(current),
        }))
    }

    fn read(path: &std::path::Path) -> anyhow::Result<(String, Option<std::time::SystemTime>)> {
        let token = std::fs::read_to_string(path)?.trim().to_owned();
        anyhow::ensure!(!token.is_empty(), "the token file is empty");
        let modified = std::fs::metadata(path).and_then(|m| m.modified()).ok();
        Ok((token, modified))
    }

    /// The token to send now.
    pub fn token(&self) -> String {
        let mut current = self.current.lock().expect("token lock");
        let modified = std::fs::metadata(&self.path)
            .and_then(|m| m.modified())
            .ok();
        if modified != current.1 {
            match Self::read(&self.path) {
                Ok(fresh) => *current = fresh,
                Err(error) => {
                    tracing::warn!(%error, "the saga's token file could not be re-read; keeping the last token")
                }
            }
        }
        current.0.clone()
    }
}

/// The HTTP transport: reqwest.
#[derive(Clone)]
struct Http {
    client: reqwest::Client,
    base: String,
    token: Arc<TokenFile>,
}

impl Service<Call> for Http {
    type Response = Answer;
    type Error = BoxError;
    type Future = BoxFuture<Result<Answer, BoxError>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, call: Call) -> Self::Future {
        let mut request = self
            .client
            .request(call.method, format!("{}{}", self.base, call.path))
            .bearer_auth(self.token.token())
            .header("Idempotency-Key", call.idempotency_key)
            .header(service_kit::http::CORRELATION_ID, call.correlation_id);
        if let Some(traceparent) = call.traceparent {
            request = request.header(trace_context::TRACEPARENT, traceparent);
        }
        if let Some(body) = call.body {
            request = request.json(&body);
        }
        Box::pin(async move {
            let response = request.send().await?;
            let status = response.status();
            let bytes = response.bytes().await?;
            let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            Ok(Answer { status, body })
        })
    }
}

/// Delay before the `attempt`-th retry (1-based): exponential from `min`, capped at `max`,
/// with "equal jitter" (half fixed, half `random` in 0..1) so that retries of many callers
/// that failed together spread out.
pub fn backoff(attempt: u32, min: Duration, max: Duration, random: f64) -> Duration {
    let exponential = min
        .checked_mul(2u32.saturating_pow(attempt.saturating_sub(1)))
        .unwrap_or(max)
        .min(max);
    exponential / 2 + exponential.mul_f64(random.clamp(0.0, 1.0) / 2.0)
}

/// Retries retryable failures with exponential backoff and jitter.
#[derive(Clone)]
struct RetryPolicy {
    name: &'static str,
    /// Retries left for this call (tower clones the policy per call).
    remaining: u32,
    /// Retries made so far in this call.
    attempt: u32,
    min: Duration,
    max: Duration,
}

impl tower::retry::Policy<Call, Answer, BoxError> for RetryPolicy {
    type Future = tokio::time::Sleep;

    fn retry(
        &mut self,
        _: &mut Call,
        result: &mut Result<Answer, BoxError>,
    ) -> Option<Self::Future> {
        if self.remaining == 0 || !retryable(result) {
            return None;
        }
        self.remaining -= 1;
        self.attempt += 1;
        metrics::counter!("saga_call_retries_total", "downstream" => self.name).increment(1);
        let delay = backoff(self.attempt, self.min, self.max, rand::random::<f64>());
        Some(tokio::time::sleep(delay))
    }

    fn clone_request(&mut self, call: &Call) -> Option<Call> {
        Some(call.clone())
    }
}

/// The breaker's phase, as the `saga_circuit_breaker_state` gauge reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerPhase {
    Closed = 0,
    HalfOpen = 1,
    Open = 2,
}

#[derive(Debug)]
enum Phase {
    Closed {
        failures: u32,
    },
    Open {
        until: Instant,
    },
    /// One probe is in flight; everything else fails fast until it answers.
    HalfOpen,
}

/// A circuit breaker shared by every clone of one downstream's stack.
#[derive(Debug)]
struct BreakerState {
    name: &'static str,
    threshold: u32,
    open_for: Duration,
    /// The phase, and its generation: bumped whenever the breaker opens or lets a probe
    /// through, so an answer to a call admitted in an earlier generation counts for nothing.
    phase: Mutex<(Phase, u64)>,
}

impl BreakerState {
    fn new(name: &'static str, threshold: u32, open_for: Duration) -> Self {
        let state = Self {
            name,
            threshold,
            open_for,
            phase: Mutex::new((Phase::Closed { failures: 0 }, 0)),
        };
        state.gauge(BreakerPhase::Closed);
        state
    }

    fn phase(&self) -> BreakerPhase {
        match self.phase.lock().expect("breaker lock").0 {
            Phase::Closed { .. } => BreakerPhase::Closed,
            Phase::HalfOpen => BreakerPhase::HalfOpen,
            Phase::Open { .. } => BreakerPhase::Open,
        }
    }

    /// May a call go through now, and in which generation? An open breaker past its time
    /// lets one probe through.
    fn admit(&self) -> Option<u64> {
        let mut guard = self.phase.lock().expect("breaker lock");
        let (phase, generation) = &mut *guard;
        match *phase {
            Phase::Closed { .. } => Some(*generation),
            Phase::HalfOpen => None,
            Phase::Open { until } if Instant::now() >= until => {
                *phase = Phase::HalfOpen;
                *generation += 1;
                self.report(BreakerPhase::HalfOpen);
                Some(*generation)
            }
            Phase::Open { .. } => None,
        }
    }

    fn record(&self, admitted_in: u64, failed: bool) {
        let mut guard = self.phase.lock().expect("breaker lock");
        let (phase, generation) = &mut *guard;
        if admitted_in != *generation {
            return;
        }
        let next = match (&*phase, failed) {
            (Phase::Closed { .. }, false) => Phase::Closed { failures: 0 },
            (Phase::Closed { failures }, true) if failures + 1 < self.threshold => Phase::Closed {
                failures: failures + 1,
            },
            // The threshold reached, or the half-open probe failed: open (again).
            (Phase::Closed { .. } | Phase::HalfOpen, true) => Phase::Open {
                until: Instant::now() + self.open_for,
            },
            (Phase::HalfOpen, false) => Phase::Closed { failures: 0 },
            // Only a call of this generation gets here, and none is admitted while open.
            (Phase::Open { until }, _) => Phase::Open { until: *until },
        };
        let reported = match (&*phase, &next) {
            (Phase::Open { .. }, Phase::Open { .. }) => None,
            (_, Phase::Open { .. }) => Some(BreakerPhase::Open),
            (Phase::HalfOpen, Phase::Closed { .. }) => Some(BreakerPhase::Closed),
            _ => None,
        };
        if matches!(next, Phase::Open { .. }) && !matches!(phase, Phase::Open { .. }) {
            *generation += 1;
        }
        *phase = next;
        if let Some(reported) = reported {
            if reported == BreakerPhase::Open {
                tracing::warn!(downstream = self.name, "circuit breaker opened");
            } else {
                tracing::info!(downstream = self.name, "circuit breaker closed");
            }
            self.report(reported);
        }
    }

    fn gauge(&self, phase: BreakerPhase) {
        metrics::gauge!("saga_circuit_breaker_state", "downstream" => self.name)
            .set(phase as u8 as f64);
    }

    /// A transition: the gauge and `saga_circuit_breaker_transitions_total{to}`.
    fn report(&self, phase: BreakerPhase) {
        self.gauge(phase);
        let to = match phase {
            BreakerPhase::Closed => "closed",
            BreakerPhase::HalfOpen => "half_open",
            BreakerPhase::Open => "open",
        };
        metrics::counter!("saga_circuit_breaker_transitions_total", "downstream" => self.name, "to" => to)
            .increment(1);
    }
}

#[derive(Clone)]
struct BreakerLayer(Arc<BreakerState>);

impl<S> Layer<S> for BreakerLayer {
    type Service = Breaker<S>;
    fn layer(&self, inner: S) -> Self::Service {
        Breaker {
            inner,
            state: self.0.clone(),
        }
    }
}

#[derive(Clone)]
struct Breaker<S> {
    inner: S,
    state: Arc<BreakerState>,
}

/// Records a failure if the admitted call is dropped before it answers (so a half-open
/// breaker is never left waiting for a probe that will not come back).
struct Admitted {
    state: Arc<BreakerState>,
    generation: u64,
    recorded: bool,
}

impl Admitted {
    fn record(mut self, failed: bool) {
        self.recorded = true;
        self.state.record(self.generation, failed);
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        if !self.recorded {
            self.state.record(self.generation, true);
        }
    }
}

impl<S> Service<Call> for Breaker<S>
where
    S: Service<Call, Response = Answer>,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
{
    type Response = Answer;
    type Error = BoxError;
    type Future = BoxFuture<Result<Answer, BoxError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, call: Call) -> Self::Future {
        let Some(generation) = self.state.admit() else {
            let name = self.state.name;
            return Box::pin(async move { Err(BreakerOpen(name).into()) });
        };
        let admitted = Admitted {
            state: self.state.clone(),
            generation,
            recorded: false,
        };
        let answer = self.inner.call(call);
        Box::pin(async move {
            let result = answer.await.map_err(Into::into);
            admitted.record(failed(&result));
            result
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    fn call() -> Call {
        Call {
            method: Method::POST,
            path: "/x".into(),
            body: None,
            idempotency_key: "k".into(),
            correlation_id: "c".into(),
            traceparent: None,
        }
    }

    fn settings() -> DownstreamSettings {
        DownstreamSettings {
            url: "http://fake".into(),
            timeout_ms: 50,
            retries: 2,
            backoff_min_ms: 1,
            backoff_max_ms: 2,
            breaker_failures: 3,
            breaker_open_ms: 40,
            concurrency: 4,
            ca_file: None,
        }
    }

    /// A fake downstream answering `statuses` in turn (then the last one), counting calls.
    fn fake(
        statuses: &'static [u16],
        calls: Arc<AtomicUsize>,
    ) -> impl Service<
        Call,
        Response = Answer,
        Error = BoxError,
        Future = BoxFuture<Result<Answer, BoxError>>,
    > + Clone
    + Send
    + Sync
    + 'static {
        tower::service_fn(move |_: Call| {
            let n = calls.fetch_add(1, Ordering::SeqCst);
            let status = statuses[n.min(statuses.len() - 1)];
            let answer: BoxFuture<Result<Answer, BoxError>> = Box::pin(async move {
                if status == 0 {
                    return Err::<Answer, BoxError>("connection refused".into());
                }
                if status == 1 {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                }
                Ok(Answer {
                    status: StatusCode::from_u16(status).unwrap(),
                    body: Value::Null,
                })
            });
            answer
        })
    }

    #[test]
    fn retry_delays_grow_exponentially_with_jitter_and_stay_capped() {
        let (base, max) = (Duration::from_millis(100), Duration::from_secs(2));
        assert_eq!(backoff(1, base, max, 0.0), Duration::from_millis(50));
        assert_eq!(backoff(1, base, max, 1.0), Duration::from_millis(100));
        assert_eq!(backoff(3, base, max, 1.0), Duration::from_millis(400));
        for attempt in [10, 40, u32::MAX] {
            assert!(backoff(attempt, base, max, 1.0) <= max);
            assert!(backoff(attempt, base, max, 0.0) >= max / 2);
        }
    }

    #[tokio::test]
    async fn a_late_answer_from_before_the_breaker_opened_does_not_close_it() {
        let state = BreakerState::new("t", 1, Duration::from_secs(60));
        let early = state.admit().expect("closed admits");
        let failing = state.admit().expect("closed admits");
        state.record(failing, true);
        assert_eq!(state.phase(), BreakerPhase::Open);
        state.record(early, false);
        assert_eq!(
            state.phase(),
            BreakerPhase::Open,
            "a stale success is ignored"
        );
    }

    #[tokio::test]
    async fn retryable_failures_are_retried_and_a_later_success_is_the_answer() {
        let calls = Arc::new(AtomicUsize::new(0));
        let downstream = Downstream::over("t", &settings(), fake(&[503, 0, 200], calls.clone()));
        let answer = downstream.call(call()).await.unwrap();
        assert_eq!(answer.status, StatusCode::OK);
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn a_4xx_is_an_answer_never_retried_and_never_trips_the_breaker() {
        let calls = Arc::new(AtomicUsize::new(0));
        let downstream = Downstream::over("t", &settings(), fake(&[422], calls.clone()));
        for _ in 0..10 {
            let answer = downstream.call(call()).await.unwrap();
            assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY);
        }
        assert_eq!(calls.load(Ordering::SeqCst), 10);
        assert_eq!(downstream.breaker(), BreakerPhase::Closed);
    }

    #[tokio::test]
    async fn a_lost_race_is_retried_but_is_no_failure_for_the_breaker() {
        let calls = Arc::new(AtomicUsize::new(0));
        let counter = calls.clone();
        let transport = tower::service_fn(move |_: Call| {
            let first = counter.fetch_add(1, Ordering::SeqCst) == 0;
            async move {
                Ok::<_, BoxError>(if first {
                    Answer {
                        status: StatusCode::CONFLICT,
                        body: serde_json::json!({"type": "/problems/concurrent-modification"}),
                    }
                } else {
                    Answer {
                        status: StatusCode::OK,
                        body: Value::Null,
                    }
                })
            }
        });
        let mut settings = settings();
        settings.breaker_failures = 1;
        let downstream = Downstream::over("t", &settings, transport);
        assert_eq!(
            downstream.call(call()).await.unwrap().status,
            StatusCode::OK
        );
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        assert_eq!(downstream.breaker(), BreakerPhase::Closed);
    }

    #[tokio::test]
    async fn retries_stop_at_the_limit_and_timeouts_count_as_failures() {
        let calls = Arc::new(AtomicUsize::new(0));
        let downstream = Downstream::over("t", &settings(), fake(&[1], calls.clone()));
        let error = downstream.call(call()).await.unwrap_err();
        assert!(error.is::<tower::timeout::error::Elapsed>(), "{error}");
        assert_eq!(
            calls.load(Ordering::SeqCst),
            3,
            "one attempt and two retries"
        );
    }

    #[tokio::test]
    async fn the_breaker_opens_after_consecutive_failures_fails_fast_and_closes_after_a_good_probe()
    {
        let calls = Arc::new(AtomicUsize::new(0));
        let mut settings = settings();
        settings.retries = 0;
        // Three failures open it; the probe after the open time succeeds.
        let downstream =
            Downstream::over("t", &settings, fake(&[500, 500, 500, 200], calls.clone()));
        for _ in 0..3 {
            assert_eq!(
                downstream.call(call()).await.unwrap().status,
                StatusCode::INTERNAL_SERVER_ERROR
            );
        }
        assert_eq!(downstream.breaker(), BreakerPhase::Open);
        let refused = downstream.call(call()).await.unwrap_err();
        assert!(refused.is::<BreakerOpen>());
        assert_eq!(
            calls.load(Ordering::SeqCst),
            3,
            "an open breaker calls nothing"
        );

        tokio::time::sleep(Duration::from_millis(60)).await;
        assert_eq!(
            downstream.call(call()).await.unwrap().status,
            StatusCode::OK
        );
        assert_eq!(downstream.breaker(), BreakerPhase::Closed);
        assert_eq!(calls.load(Ordering::SeqCst), 4);
    }

    #[tokio::test]
    async fn a_failed_probe_opens_the_breaker_again() {
        let calls = Arc::new(AtomicUsize::new(0));
        let mut settings = settings();
        settings.retries = 0;
        settings.breaker_failures = 1;
        let downstream = Downstream::over("t", &settings, fake(&[0], calls.clone()));
        downstream.call(call()).await.unwrap_err();
        assert_eq!(downstream.breaker(), BreakerPhase::Open);
        tokio::time::sleep(Duration::from_millis(60)).await;
        let probe = downstream.call(call()).await.unwrap_err();
        assert!(!probe.is::<BreakerOpen>(), "the probe went through");
        assert_eq!(downstream.breaker(), BreakerPhase::Open);
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }
}
