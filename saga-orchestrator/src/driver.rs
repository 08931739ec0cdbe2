//! The driver: workers that take a due saga, run its step and persist what the state
//! machine decides, one saga at a time each.
//!
//! A worker holds the saga's row lock (`FOR UPDATE SKIP LOCKED`) in an open transaction
//! while the step's call is in flight, and commits the outcome in that transaction. So two
//! workers or instances never run one saga at once, and a worker killed mid-step releases
//! the lock with its connection: the step runs again, with the same idempotency key, and
//! the downstream service answers its first outcome instead of acting twice.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use sqlx::postgres::PgListener;
use sqlx::{PgConnection, PgPool};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::ports::{StepContext, Steps};
use crate::projection::STARTED_CHANNEL;
use crate::resilience;
use tracing::Instrument as _;

use crate::saga::{self, Decision, Kind, Reply, Snapshot, State, StepOutcome};

/// The `[saga]` section: deadlines, retries and the driver's pace.
#[derive(Debug, Clone, Deserialize, serde::Serialize, settings_doc::SettingsDoc)]
#[serde(default, deny_unknown_fields)]
pub struct SagaSettings {
    /// Milliseconds a place-order saga has from its start to approve or reject the order;
    /// past it, the order is rejected as timed out and any reservation released.
    pub deadline_ms: u64,
    /// Sagas run at once by this instance (each holds a database connection meanwhile).
    pub workers: usize,
    /// Milliseconds an idle worker waits before looking for due sagas again (a new saga
    /// wakes it at once).
    pub poll_interval_ms: u64,
    /// First delay in milliseconds before a failed step runs again; doubles per attempt.
    pub retry_min_ms: u64,
    /// Longest delay in milliseconds between attempts of a step.
    pub retry_max_ms: u64,
    /// File holding the bearer token (role `service`) the saga presents to users-command
    /// and orders-command; re-read when it changes.
    pub token_file: String,
    /// Fault injection for crash tests (`pause-after-step`); never set in production.
    pub failpoint: Option<String>,
}

impl Default for SagaSettings {
    fn default() -> Self {
        Self {
            deadline_ms: 30_000,
            workers: 8,
            poll_interval_ms: 250,
            retry_min_ms: 200,
            retry_max_ms: 5_000,
            token_file: ".stack/auth/saga.token".into(),
            failpoint: None,
        }
    }
}

impl SagaSettings {
    pub fn deadline(&self) -> Duration {
        Duration::from_millis(self.deadline_ms)
    }

    fn pause_after_step(&self) -> anyhow::Result<bool> {
        match self.failpoint.as_deref() {
            None => Ok(false),
            Some("pause-after-step") => Ok(true),
            Some(other) => anyhow::bail!("unknown saga failpoint {other:?}"),
        }
    }
}

/// A saga row as a worker takes it.
#[derive(Debug, sqlx::FromRow)]
struct Claimed {
    id: Uuid,
    kind: String,
    order_id: Uuid,
    user_id: Uuid,
    amount_cents: i64,
    state: String,
    release_needed: bool,
    reason: Option<String>,
    then_state: Option<String>,
    attempts: i32,
    deadline_at: DateTime<Utc>,
    correlation_id: String,
    traceparent: Option<String>,
    started_at: DateTime<Utc>,
    cancel_requested: bool,
    position: i32,
}

impl Claimed {
    fn snapshot(&self) -> anyhow::Result<Snapshot> {
        let unknown =
            |what: &str, value: &str| anyhow::anyhow!("saga {}: unknown {what} {value:?}", self.id);
        Ok(Snapshot {
            kind: Kind::parse(&self.kind).ok_or_else(|| unknown("kind", &self.kind))?,
            state: State::parse(&self.state).ok_or_else(|| unknown("state", &self.state))?,
            release_needed: self.release_needed,
            cancel_requested: self.cancel_requested,
            deadline_at: self.deadline_at,
            reason: self.reason.clone(),
            then: match &self.then_state {
                Some(then) => Some(State::parse(then).ok_or_else(|| unknown("state", then))?),
                None => None,
            },
        })
    }

    fn context(&self) -> StepContext {
        StepContext {
            saga_id: self.id,
            order_id: self.order_id,
            user_id: self.user_id,
            amount_cents: self.amount_cents,
            reason: self.reason.clone(),
            correlation_id: self.correlation_id.clone(),
        }
    }
}

const CLAIM: &str = "
SELECT s.id, s.kind, s.order_id, s.user_id, s.amount_cents, s.state, s.release_needed, s.reason,
       s.then_state, s.attempts, s.deadline_at, s.correlation_id, s.traceparent, s.started_at,
       EXISTS (SELECT 1 FROM sagas c WHERE c.kind = 'cancel-order' AND c.order_id = s.order_id)
           AS cancel_requested,
       (SELECT coalesce(max(position), 0) FROM saga_steps WHERE saga_id = s.id) AS position
FROM sagas s
WHERE s.finished_at IS NULL AND s.next_attempt_at <= now()
ORDER BY s.next_attempt_at
LIMIT 1
FOR UPDATE OF s SKIP LOCKED";

/// Runs sagas until cancelled.
pub struct Driver<S> {
    pool: PgPool,
    steps: Arc<S>,
    settings: SagaSettings,
    pause_after_step: bool,
}

impl<S: Steps> Driver<S> {
    pub fn new(pool: PgPool, steps: S, settings: SagaSettings) -> anyhow::Result<Self> {
        let pause_after_step = settings.pause_after_step()?;
        anyhow::ensure!(settings.workers > 0, "saga.workers must be at least 1");
        anyhow::ensure!(
            settings.retry_min_ms > 0 && settings.retry_max_ms >= settings.retry_min_ms,
            "saga.retry_min_ms must be at least 1 and saga.retry_max_ms at least retry_min_ms"
        );
        anyhow::ensure!(
            settings.poll_interval_ms > 0,
            "saga.poll_interval_ms must be at least 1"
        );
        Ok(Self {
            pool,
            steps: Arc::new(steps),
            settings,
            pause_after_step,
        })
    }

    /// Runs the workers, a listener that wakes them when a saga starts, and the in-flight
    /// gauge, until `cancel` fires.
    pub async fn run(self, cancel: CancellationToken) -> anyhow::Result<()> {
        let this = Arc::new(self);
        // Exported from the start, so a dashboard and an alert see zero, not no data.
        for kind in [Kind::PlaceOrder, Kind::CancelOrder] {
            metrics::counter!("saga_started_total", "kind" => kind.as_str()).increment(0);
        }
        let wake = Arc::new(Notify::new());
        let mut tasks = tokio::task::JoinSet::new();
        tasks.spawn(listen(this.pool.clone(), wake.clone(), cancel.clone()));
        tasks.spawn(report_in_flight(this.pool.clone(), cancel.clone()));
        for _ in 0..this.settings.workers {
            let (this, wake, cancel) = (this.clone(), wake.clone(), cancel.clone());
            tasks.spawn(async move { this.work(&wake, &cancel).await });
        }
        while let Some(done) = tasks.join_next().await {
            done.context("a saga task panicked")??;
        }
        Ok(())
    }

    async fn work(&self, wake: &Notify, cancel: &CancellationToken) -> anyhow::Result<()> {
        let poll = Duration::from_millis(self.settings.poll_interval_ms.max(10));
        while !cancel.is_cancelled() {
            let idle = match self.run_one().await {
                Ok(ran) => {
                    if ran {
                        continue;
                    }
                    poll
                }
                Err(error) => {
                    tracing::warn!(
                        error = format!("{error:#}"),
                        "saga step failed; trying again"
                    );
                    Duration::from_secs(1)
                }
            };
            tokio::select! {
                _ = cancel.cancelled() => {}
                _ = wake.notified() => {}
                _ = tokio::time::sleep(idle) => {}
            }
        }
        Ok(())
    }

    /// Takes one due saga and moves it one step; false when none was due.
    async fn run_one(&self) -> anyhow::Result<bool> {
        let mut tx = self.pool.begin().await?;
        let Some(saga) = sqlx::query_as::<_, Claimed>(CLAIM)
            .fetch_optional(&mut *tx)
            .await?
        else {
            return Ok(false);
        };
        // Each step is a span of the trace that started the saga.
        let span = tracing::info_span!(
            "saga.step",
            otel.name = %format!("saga {} {}", saga.kind, saga.state),
            saga_id = %saga.id,
            order_id = %saga.order_id,
            state = %saga.state,
        );
        trace_context::set_parent(&span, saga.traceparent.as_deref());
        match self.advance(&mut tx, &saga).instrument(span).await {
            Ok(finished) => {
                tx.commit().await?;
                if let Some((kind, state)) = finished {
                    let seconds =
                        (Utc::now() - saga.started_at).num_milliseconds().max(0) as f64 / 1e3;
                    metrics::counter!("saga_completed_total", "kind" => kind.as_str(), "outcome" => state.as_str())
                        .increment(1);
                    metrics::histogram!("saga_time_to_terminal_seconds", "kind" => kind.as_str())
                        .record(seconds);
                }
            }
            Err(error) => {
                // Put the saga back at the end of the queue, so one saga that cannot be
                // recorded does not hold up the others.
                drop(tx);
                let error = format!("{error:#}");
                tracing::warn!(saga_id = %saga.id, error, "saga step could not be recorded; postponed");
                sqlx::query(
                    "UPDATE sagas SET attempts = attempts + 1, last_error = $2, \
                     next_attempt_at = now() + make_interval(secs => $3), updated_at = now() \
                     WHERE id = $1",
                )
                .bind(saga.id)
                .bind(clean(&error))
                .bind(self.settings.retry_max_ms as f64 / 1e3)
                .execute(&self.pool)
                .await?;
            }
        }
        Ok(true)
    }

    /// Runs the saga's step (unless the deadline or a cancellation preempts it) and records
    /// the outcome in `tx`; the kind and terminal state if the saga ended.
    async fn advance(
        &self,
        tx: &mut PgConnection,
        saga: &Claimed,
    ) -> anyhow::Result<Option<(Kind, State)>> {
        let snapshot = saga.snapshot()?;
        let decision = match saga::preempt(&snapshot, Utc::now()) {
            Some(decision) => decision,
            None => {
                let Some(step) = snapshot.state.step() else {
                    anyhow::bail!("saga {} is {} but not finished", saga.id, saga.state);
                };
                let reply = self.steps.run(step, &saga.context()).await;
                if self.pause_after_step && matches!(reply, Reply::Done { .. }) {
                    tracing::warn!(saga_id = %saga.id, step = step.as_str(), "failpoint: paused after a step answered");
                    std::future::pending::<()>().await;
                }
                saga::decide(&snapshot, reply)
            }
        };
        let finished = record(tx, saga, &snapshot, &decision, &self.settings).await?;
        Ok(finished.map(|state| (snapshot.kind, state)))
    }
}

/// `text` as Postgres can store it (no NUL characters).
fn clean(text: &str) -> String {
    text.replace('\0', "")
}

/// Persists `decision`; returns the terminal state if the saga ended.
async fn record(
    tx: &mut PgConnection,
    saga: &Claimed,
    snapshot: &Snapshot,
    decision: &Decision,
    settings: &SagaSettings,
) -> Result<Option<State>, sqlx::Error> {
    let step = snapshot.state.step().map_or("none", |step| step.as_str());
    match decision {
        Decision::Retry { error } => {
            let attempt = saga.attempts as u32 + 1;
            let delay = resilience::backoff(
                attempt,
                Duration::from_millis(settings.retry_min_ms),
                Duration::from_millis(settings.retry_max_ms),
                rand::random::<f64>(),
            );
            let mut next = Utc::now() + chrono::Duration::from_std(delay).unwrap_or_default();
            if matches!(
                snapshot.state,
                State::ReservingCredit | State::ApprovingOrder
            ) && snapshot.kind == Kind::PlaceOrder
            {
                // The deadline fires on time even while a step keeps failing.
                next = next.min(saga.deadline_at);
            }
            sqlx::query(
                "UPDATE sagas SET attempts = attempts + 1, last_error = $2, next_attempt_at = $3, \
                 updated_at = now() WHERE id = $1",
            )
            .bind(saga.id)
            .bind(clean(error))
            .bind(next)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "UPDATE saga_steps SET attempts = attempts + 1, detail = $3 \
                 WHERE saga_id = $1 AND position = $2",
            )
            .bind(saga.id)
            .bind(saga.position)
            .bind(clean(error))
            .execute(&mut *tx)
            .await?;
            metrics::counter!("saga_step_retries_total", "kind" => snapshot.kind.as_str(), "step" => step)
                .increment(1);
            tracing::info!(saga_id = %saga.id, step, attempt, error, "saga step will be retried");
            Ok(None)
        }
        Decision::Move {
            outcome,
            detail,
            state,
            release_needed,
            reason,
            then,
        } => {
            let tried = i32::from(*outcome != StepOutcome::Skipped);
            sqlx::query(
                "UPDATE saga_steps SET finished_at = now(), outcome = $3, detail = $4, \
                 attempts = attempts + $5 WHERE saga_id = $1 AND position = $2",
            )
            .bind(saga.id)
            .bind(saga.position)
            .bind(outcome_text(*outcome))
            .bind(clean(detail))
            .bind(tried)
            .execute(&mut *tx)
            .await?;
            let terminal = state.is_terminal();
            sqlx::query(
                "UPDATE sagas SET state = $2, release_needed = $3, reason = $4, then_state = $5, \
                 attempts = 0, last_error = NULL, next_attempt_at = now(), updated_at = now(), \
                 finished_at = CASE WHEN $6 THEN now() END WHERE id = $1",
            )
            .bind(saga.id)
            .bind(state.as_str())
            .bind(release_needed)
            .bind(reason.as_deref().map(clean))
            .bind(then.map(State::as_str))
            .bind(terminal)
            .execute(&mut *tx)
            .await?;
            if let Some(next) = state.step() {
                sqlx::query(
                    "INSERT INTO saga_steps (saga_id, position, step, started_at) \
                     VALUES ($1, $2, $3, now())",
                )
                .bind(saga.id)
                .bind(saga.position + 1)
                .bind(next.as_str())
                .execute(&mut *tx)
                .await?;
            }
            tracing::info!(saga_id = %saga.id, order_id = %saga.order_id, step, outcome = outcome_text(*outcome), state = state.as_str(), "saga moved");
            Ok(terminal.then_some(*state))
        }
    }
}

fn outcome_text(outcome: StepOutcome) -> &'static str {
    match outcome {
        StepOutcome::Succeeded => "succeeded",
        StepOutcome::Refused => "refused",
        StepOutcome::Skipped => "skipped",
    }
}

/// Wakes the workers when a saga starts; reconnects when the connection drops.
async fn listen(pool: PgPool, wake: Arc<Notify>, cancel: CancellationToken) -> anyhow::Result<()> {
    while !cancel.is_cancelled() {
        let listener = async {
            let mut listener = PgListener::connect_with(&pool).await?;
            listener.listen(STARTED_CHANNEL).await?;
            loop {
                listener.recv().await?;
                wake.notify_waiters();
            }
            #[allow(unreachable_code)]
            Ok::<(), sqlx::Error>(())
        };
        tokio::select! {
            _ = cancel.cancelled() => {}
            result = listener => {
                if let Err(error) = result {
                    tracing::warn!(%error, "saga listener lost its connection; polling meanwhile");
                }
                tokio::select! {
                    _ = cancel.cancelled() => {}
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            }
        }
    }
    Ok(())
}

/// Keeps `saga_in_flight{kind}` equal to the sagas not yet terminal, and
/// `saga_in_flight_by_state{state}` to how many of them are at each step.
async fn report_in_flight(pool: PgPool, cancel: CancellationToken) -> anyhow::Result<()> {
    while !cancel.is_cancelled() {
        let counts: Result<Vec<(String, String, i64)>, _> = sqlx::query_as(
            "SELECT kind, state, count(*) FROM sagas WHERE finished_at IS NULL GROUP BY kind, state",
        )
        .fetch_all(&pool)
        .await;
        if let Ok(counts) = counts {
            for kind in [Kind::PlaceOrder, Kind::CancelOrder] {
                let count: i64 = counts
                    .iter()
                    .filter(|(name, _, _)| name == kind.as_str())
                    .map(|(_, _, count)| count)
                    .sum();
                metrics::gauge!("saga_in_flight", "kind" => kind.as_str()).set(count as f64);
            }
            for state in State::ALL.into_iter().filter(|state| !state.is_terminal()) {
                let count: i64 = counts
                    .iter()
                    .filter(|(_, name, _)| name == state.as_str())
                    .map(|(_, _, count)| count)
                    .sum();
                metrics::gauge!("saga_in_flight_by_state", "state" => state.as_str())
                    .set(count as f64);
            }
        }
        tokio::select! {
            _ = cancel.cancelled() => {}
            _ = tokio::time::sleep(Duration::from_secs(2)) => {}
        }
    }
    Ok(())
}
