//! The saga log: the projector runtime consumes orders.events and, in the same transaction
//! as its checkpoint, starts a place-order saga for every `OrderPlaced` and a cancel-order
//! saga for every `OrderCancelled`. The driver takes it from there.

use chrono::{DateTime, Utc};
use contracts::events::v1::EventEnvelope;
use contracts::orders::v1::order_event::Event;
use projector::{ApplyError, Projection};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::saga::{self, Kind, Step};

/// Schema of the saga log.
pub const SCHEMA: &str = "saga";
/// Channel notified when a saga starts, so an idle driver wakes at once.
pub const STARTED_CHANNEL: &str = "saga_started";

const DDL: &str = "
CREATE TABLE sagas (
    id              uuid        PRIMARY KEY,
    kind            text        NOT NULL,
    order_id        uuid        NOT NULL,
    user_id         uuid        NOT NULL,
    amount_cents    bigint      NOT NULL,
    state           text        NOT NULL,
    -- credit may be held for the order (a reservation succeeded or its answer was lost)
    release_needed  boolean     NOT NULL DEFAULT false,
    reason          text,
    -- the terminal state after the compensation running now
    then_state      text,
    attempts        integer     NOT NULL DEFAULT 0,
    last_error      text,
    next_attempt_at timestamptz NOT NULL,
    deadline_at     timestamptz NOT NULL,
    correlation_id  text        NOT NULL,
    -- the span that started the saga; its steps continue that trace
    traceparent     text,
    started_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    finished_at     timestamptz,
    CONSTRAINT sagas_kind_order_key UNIQUE (kind, order_id)
);
CREATE INDEX sagas_due_idx ON sagas (next_attempt_at) WHERE finished_at IS NULL;
CREATE INDEX sagas_state_idx ON sagas (state, id DESC);
CREATE INDEX sagas_order_idx ON sagas (order_id);
CREATE TABLE saga_steps (
    saga_id     uuid        NOT NULL REFERENCES sagas (id),
    position    integer     NOT NULL,
    step        text        NOT NULL,
    started_at  timestamptz NOT NULL,
    finished_at timestamptz,
    attempts    integer     NOT NULL DEFAULT 0,
    outcome     text,
    detail      text,
    PRIMARY KEY (saga_id, position)
);
";

/// Brings a saga log up to date; it runs after `DDL` on a new one too, so what it adds is
/// written once.
const UPGRADES: &str = "
ALTER TABLE sagas ADD COLUMN IF NOT EXISTS traceparent text;
-- An operator's retry or resolution of a FAILED saga (crate::repair).
CREATE TABLE IF NOT EXISTS saga_interventions (
    saga_id    uuid        NOT NULL REFERENCES sagas (id),
    at         timestamptz NOT NULL,
    actor      text        NOT NULL,
    action     text        NOT NULL,
    reason     text        NOT NULL,
    from_state text        NOT NULL,
    to_state   text        NOT NULL
);
CREATE INDEX IF NOT EXISTS saga_interventions_saga_idx ON saga_interventions (saga_id, at);
-- Retention finds finished place-order sagas by age (crate::projection::retention).
CREATE INDEX IF NOT EXISTS sagas_finished_idx ON sagas (finished_at) WHERE finished_at IS NOT NULL;
";

/// Purges the sagas of orders whose story is over, all of an order's sagas together with their
/// steps and interventions, once each finished more than `keep` ago. An order's story is over
/// when none of its sagas runs or is FAILED (those wait for an operator) and the order can no
/// longer be cancelled: it was rejected, timed out or cancelled (a cancel-order saga exists).
/// An approved order's place-order saga stays, since its cancellation needs the reserved
/// amount. A batch deletes the sagas of at most `$2` orders.
pub fn retention(keep: std::time::Duration) -> service_kit::retention::Purge {
    let statement = "WITH orders AS ( \
            SELECT p.order_id FROM sagas p \
            WHERE p.kind = 'place-order' AND p.finished_at < now() - make_interval(secs => $1) \
              AND (p.state IN ('REJECTED', 'TIMED_OUT', 'CANCELLED') OR EXISTS ( \
                  SELECT 1 FROM sagas c WHERE c.order_id = p.order_id AND c.kind = 'cancel-order')) \
              AND NOT EXISTS (SELECT 1 FROM sagas o WHERE o.order_id = p.order_id \
                  AND (o.finished_at IS NULL OR o.state = 'FAILED' \
                       OR o.finished_at >= now() - make_interval(secs => $1))) \
            ORDER BY p.finished_at LIMIT $2 FOR UPDATE SKIP LOCKED), \
        doomed AS (SELECT id FROM sagas WHERE order_id IN (SELECT order_id FROM orders)), \
        steps AS (DELETE FROM saga_steps WHERE saga_id IN (SELECT id FROM doomed)), \
        interventions AS ( \
            DELETE FROM saga_interventions WHERE saga_id IN (SELECT id FROM doomed)) \
        DELETE FROM sagas WHERE id IN (SELECT id FROM doomed)";
    service_kit::retention::Purge::statement("sagas", statement.into(), keep)
}

/// The saga log, with the deadline new place-order sagas get.
pub struct SagaLog {
    pub deadline: std::time::Duration,
}

fn rejected(message: String) -> ApplyError {
    ApplyError::Rejected(message)
}

/// A new saga: its row, its first step and a wake-up for the driver.
struct Start {
    id: Uuid,
    kind: Kind,
    order_id: Uuid,
    user_id: Uuid,
    amount_cents: i64,
    deadline_at: DateTime<Utc>,
    correlation_id: String,
}

async fn start(connection: &mut PgConnection, saga: Start) -> Result<(), sqlx::Error> {
    let state = saga::initial(saga.kind, saga.amount_cents);
    let inserted = sqlx::query(
        "INSERT INTO sagas (id, kind, order_id, user_id, amount_cents, state, next_attempt_at, \
                            deadline_at, correlation_id, traceparent, started_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, now(), $7, $8, $9, now(), now()) \
         ON CONFLICT DO NOTHING",
    )
    .bind(saga.id)
    .bind(saga.kind.as_str())
    .bind(saga.order_id)
    .bind(saga.user_id)
    .bind(saga.amount_cents)
    .bind(state.as_str())
    .bind(saga.deadline_at)
    .bind(&saga.correlation_id)
    // The span consuming the event that starts the saga.
    .bind(trace_context::current())
    .execute(&mut *connection)
    .await?
    .rows_affected();
    if inserted == 0 {
        return Ok(());
    }
    let step = state.step().map_or("none", Step::as_str);
    sqlx::query(
        "INSERT INTO saga_steps (saga_id, position, step, started_at) VALUES ($1, 1, $2, now())",
    )
    .bind(saga.id)
    .bind(step)
    .execute(&mut *connection)
    .await?;
    sqlx::query("SELECT pg_notify($1, '')")
        .bind(STARTED_CHANNEL)
        .execute(&mut *connection)
        .await?;
    metrics::counter!("saga_started_total", "kind" => saga.kind.as_str()).increment(1);
    Ok(())
}

impl Projection for SagaLog {
    fn schema(&self) -> &str {
        SCHEMA
    }

    fn ddl(&self) -> &str {
        DDL
    }

    fn upgrades(&self) -> &str {
        UPGRADES
    }

    async fn apply(
        &self,
        connection: &mut PgConnection,
        event: &EventEnvelope,
    ) -> Result<(), ApplyError> {
        let change = event.order_event().map_err(rejected)?;
        let order_id = projector::parse_id(&event.aggregate_id, "aggregate id")?;
        // The triggering event's id names the saga: a redelivery finds it already there.
        let id = projector::parse_id(&event.event_id, "event id")?;
        // The deadline counts from the order's placement, not from when this instance read it.
        let deadline_at = chrono::Duration::from_std(self.deadline)
            .ok()
            .and_then(|deadline| projector::recorded_at(event).checked_add_signed(deadline))
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        let saga = match change {
            Event::Placed(placed) => Start {
                id,
                kind: Kind::PlaceOrder,
                order_id,
                user_id: projector::parse_id(&placed.user_id, "user id")?,
                amount_cents: placed.total_cents,
                deadline_at,
                correlation_id: event.correlation_id.clone(),
            },
            Event::Cancelled(_) => {
                let placed: Option<(Uuid, i64)> = sqlx::query_as(
                    "SELECT user_id, amount_cents FROM sagas WHERE kind = $1 AND order_id = $2",
                )
                .bind(Kind::PlaceOrder.as_str())
                .bind(order_id)
                .fetch_optional(&mut *connection)
                .await?;
                let Some((user_id, amount_cents)) = placed else {
                    return Err(rejected(format!(
                        "order {order_id} was cancelled but its OrderPlaced was never seen"
                    )));
                };
                Start {
                    id,
                    kind: Kind::CancelOrder,
                    order_id,
                    user_id,
                    amount_cents,
                    deadline_at,
                    correlation_id: event.correlation_id.clone(),
                }
            }
            // The saga's own doing (or an operator's): the saga learns it from the answer.
            Event::Approved(_) | Event::Rejected(_) => return Ok(()),
        };
        start(connection, saga).await?;
        Ok(())
    }
}
