//! One batch of events applied to a projection schema in one transaction.

use std::collections::{BTreeMap, HashMap};

use contracts::events::v1::EventEnvelope;
use sqlx::{Acquire, PgConnection, PgPool};
use tracing::Instrument as _;

use crate::schema::set_search_path;
use crate::{ApplyError, Projection};

/// Advisory-lock namespace taken shared by every batch and exclusively by a rebuild's switch.
pub(crate) const SWITCH_NAMESPACE: i32 = 0x7377_6368; // "swch"
/// Advisory-lock namespace serialising work on one aggregate (batches, gap sweeps, retries).
const AGGREGATE_NAMESPACE: i32 = 0x6167_6772; // "aggr"
/// Channel notified with `schema|aggregate_id|version` when a batch moved an aggregate.
pub(crate) const APPLIED_CHANNEL: &str = "projection_applied";

/// An event as it arrived, with where it came from.
#[derive(Debug, Clone)]
pub(crate) struct Incoming {
    pub key: String,
    pub payload: Vec<u8>,
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    /// The `traceparent` header of a Kafka record.
    pub traceparent: Option<String>,
}

impl Incoming {
    /// The span applying a record from Kafka: a consumer span continuing the producer's trace
    /// (none for events replayed from the store).
    fn span(&self) -> tracing::Span {
        if self.partition < 0 {
            return tracing::Span::none();
        }
        let span = tracing::info_span!(
            "kafka.consume",
            otel.name = %format!("{} process", self.topic),
            otel.kind = "consumer",
            messaging.system = "kafka",
            messaging.destination.name = %self.topic,
            messaging.kafka.partition = self.partition,
            messaging.kafka.offset = self.offset,
            messaging.kafka.message.key = %self.key,
        );
        trace_context::set_parent(&span, self.traceparent.as_deref());
        span
    }
}

/// What a batch did.
#[derive(Debug, Default)]
pub(crate) struct Outcome {
    pub applied: u64,
    pub duplicates: u64,
    pub pending: u64,
    pub parked: u64,
    /// Seconds from each applied event's commit in the event store to now.
    pub lag_seconds: Vec<f64>,
    /// New version of every aggregate the batch moved.
    pub moved: BTreeMap<String, i64>,
}

/// Why a batch did not commit.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BatchError {
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    /// An event failed to apply on the fast path (no savepoints); the batch is redone with a
    /// savepoint per event so the failing one can be parked alone.
    #[error("an event failed to apply on the fast path")]
    Unapplied,
}

impl From<BatchError> for sqlx::Error {
    fn from(error: BatchError) -> Self {
        match error {
            BatchError::Database(error) => error,
            // Only the fast path answers this, and only `apply_batch` uses the fast path.
            BatchError::Unapplied => sqlx::Error::Protocol(error.to_string()),
        }
    }
}

/// How carefully events are applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Care {
    /// No savepoints; any failure aborts the batch (the common case costs no extra round trips).
    Fast,
    /// A savepoint per event and `attempts` tries, so a failing event is parked alone.
    Careful { attempts: u32 },
}

/// A transaction holding the projection's switch lock shared: a rebuild cannot swap schemas
/// under it. Every writer of a live projection schema starts here.
pub(crate) async fn begin_shared(
    pool: &PgPool,
    live_schema: &str,
) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock_shared($1, hashtext($2))")
        .bind(SWITCH_NAMESPACE)
        .bind(live_schema)
        .execute(&mut *tx)
        .await?;
    Ok(tx)
}

/// Applies `batch` to `schema` in one transaction; with `notify`, tells waiting readers which
/// aggregates moved. Nothing is written when it fails.
pub(crate) async fn apply_batch(
    pool: &PgPool,
    projection: &impl Projection,
    schema: &str,
    batch: &[Incoming],
    attempts: u32,
    notify: bool,
) -> Result<Outcome, sqlx::Error> {
    for care in [Care::Fast, Care::Careful { attempts }] {
        let mut tx = begin_shared(pool, projection.schema()).await?;
        match apply_in(&mut tx, projection, schema, batch, care, notify).await {
            Ok(outcome) => {
                tx.commit().await?;
                return Ok(outcome);
            }
            Err(BatchError::Unapplied) => continue,
            Err(BatchError::Database(error)) => return Err(error),
        }
    }
    unreachable!("the careful pass parks failing events instead of failing")
}

/// `apply_batch` inside a transaction the caller owns (and has locked as it needs).
///
/// A batch costs a few statements plus the projection's own: every aggregate in it is locked
/// and read in one statement each, the runtime keeps their state in memory while it applies
/// the events, and the checkpoints are written in one statement at the end.
pub(crate) async fn apply_in(
    connection: &mut PgConnection,
    projection: &impl Projection,
    schema: &str,
    batch: &[Incoming],
    care: Care,
    notify: bool,
) -> Result<Outcome, BatchError> {
    set_search_path(connection, schema).await?;
    let mut outcome = Outcome::default();
    if batch.is_empty() {
        return Ok(outcome);
    }
    let mut aggregates: Vec<&str> = batch.iter().map(|incoming| incoming.key.as_str()).collect();
    aggregates.sort_unstable();
    aggregates.dedup();
    lock_aggregates(connection, schema, &aggregates).await?;
    let mut states = aggregate_states(connection, &aggregates).await?;
    for incoming in batch {
        let state = states
            .get_mut(incoming.key.as_str())
            .expect("every aggregate of the batch was read");
        process(connection, projection, incoming, state, care, &mut outcome)
            .instrument(incoming.span())
            .await?;
    }
    save_checkpoints(connection, &outcome.moved).await?;
    if notify {
        let moved = outcome
            .moved
            .iter()
            .map(|(aggregate, version)| (aggregate.as_str(), *version));
        notify_moved(connection, schema, moved).await?;
    }
    Ok(outcome)
}

/// Notifies `projection_applied` of each (aggregate, version), delivered on commit.
pub(crate) async fn notify_moved<'a>(
    connection: &mut PgConnection,
    schema: &str,
    moved: impl IntoIterator<Item = (&'a str, i64)>,
) -> Result<(), sqlx::Error> {
    let payloads: Vec<String> = moved
        .into_iter()
        .map(|(aggregate, version)| format!("{schema}|{aggregate}|{version}"))
        .collect();
    if !payloads.is_empty() {
        sqlx::query("SELECT pg_notify($1, payload) FROM unnest($2::text[]) AS payload")
            .bind(APPLIED_CHANNEL)
            .bind(payloads)
            .execute(connection)
            .await?;
    }
    Ok(())
}

pub(crate) async fn lock_aggregate(
    connection: &mut PgConnection,
    schema: &str,
    aggregate_id: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_advisory_xact_lock($1, hashtext($2))")
        .bind(AGGREGATE_NAMESPACE)
        .bind(format!("{schema}/{aggregate_id}"))
        .execute(connection)
        .await?;
    Ok(())
}

pub(crate) async fn checkpoint(
    connection: &mut PgConnection,
    aggregate_id: &str,
) -> Result<i64, sqlx::Error> {
    Ok(
        sqlx::query_scalar("SELECT last_sequence FROM checkpoints WHERE aggregate_id = $1")
            .bind(aggregate_id)
            .fetch_optional(connection)
            .await?
            .unwrap_or(0),
    )
}

/// Locks `aggregates` (sorted, so two writers never wait on each other in a cycle) in one
/// statement.
async fn lock_aggregates(
    connection: &mut PgConnection,
    schema: &str,
    aggregates: &[&str],
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "SELECT pg_advisory_xact_lock($1, hashtext($2 || '/' || aggregate_id)) \
           FROM unnest($3::text[]) AS locked (aggregate_id)",
    )
    .bind(AGGREGATE_NAMESPACE)
    .bind(schema)
    .bind(aggregates)
    .execute(connection)
    .await?;
    Ok(())
}

/// What the runtime knows of an aggregate while a batch applies its events; read once per
/// batch and kept current as the batch moves it.
#[derive(Debug)]
struct AggregateState {
    checkpoint: i64,
    /// The first of its events parked and not skipped: later ones are held behind it.
    first_parked: Option<i64>,
    /// Events wait behind a gap (conservatively true once any did in this batch).
    has_pending: bool,
}

async fn aggregate_states(
    connection: &mut PgConnection,
    aggregates: &[&str],
) -> Result<HashMap<String, AggregateState>, sqlx::Error> {
    let rows: Vec<(String, i64, Option<i64>, bool)> = sqlx::query_as(
        "SELECT a.aggregate_id, \
                coalesce((SELECT last_sequence FROM checkpoints c WHERE c.aggregate_id = a.aggregate_id), 0), \
                (SELECT min(id) FROM parked_events p \
                  WHERE p.aggregate_id = a.aggregate_id AND p.status = 'parked'), \
                EXISTS (SELECT 1 FROM pending_events e WHERE e.aggregate_id = a.aggregate_id) \
           FROM unnest($1::text[]) AS a (aggregate_id)",
    )
    .bind(aggregates)
    .fetch_all(connection)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(aggregate, checkpoint, first_parked, has_pending)| {
            let state = AggregateState {
                checkpoint,
                first_parked,
                has_pending,
            };
            (aggregate, state)
        })
        .collect())
}

/// Writes the new version of every aggregate a batch moved, in one statement.
pub(crate) async fn save_checkpoints(
    connection: &mut PgConnection,
    moved: &BTreeMap<String, i64>,
) -> Result<(), sqlx::Error> {
    if moved.is_empty() {
        return Ok(());
    }
    let (aggregates, versions): (Vec<&str>, Vec<i64>) = moved
        .iter()
        .map(|(aggregate, version)| (aggregate.as_str(), *version))
        .unzip();
    sqlx::query(
        "INSERT INTO checkpoints (aggregate_id, last_sequence) \
         SELECT * FROM unnest($1::text[], $2::bigint[]) \
         ON CONFLICT (aggregate_id) DO UPDATE \
            SET last_sequence = excluded.last_sequence, updated_at = now()",
    )
    .bind(aggregates)
    .bind(versions)
    .execute(connection)
    .await?;
    Ok(())
}

/// Records `incoming` as parked with `reason`; answers its id.
pub(crate) async fn park(
    connection: &mut PgConnection,
    incoming: &Incoming,
    sequence: Option<i64>,
    reason: &str,
    attempts: i32,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO parked_events (aggregate_id, sequence, reason, payload, attempts, topic, \
         kafka_partition, kafka_offset) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
    )
    .bind(&incoming.key)
    .bind(sequence)
    .bind(reason.replace('\0', "\u{FFFD}"))
    .bind(&incoming.payload)
    .bind(attempts)
    .bind(&incoming.topic)
    .bind(incoming.partition)
    .bind(incoming.offset)
    .fetch_one(connection)
    .await
}

/// Whether `error` says nothing about the statement, only about this moment: a deadlock, a
/// serialization failure or a lock timeout (SQLSTATE class 40, 55P03), the server shutting
/// down or cancelling (57), or the connection lost.
pub(crate) fn transient(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Database(error) => error.code().is_some_and(|code| {
            code.starts_with("40") || code.starts_with("57") || code == "55P03"
        }),
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        _ => false,
    }
}

/// Applies `event`: directly on the fast path (a failure aborts the batch), or in a
/// savepoint up to `attempts` times, answering the last attempt's error if none succeeded.
pub(crate) async fn apply_with_retries(
    connection: &mut PgConnection,
    projection: &impl Projection,
    event: &EventEnvelope,
    care: Care,
) -> Result<Result<(), String>, BatchError> {
    let attempts = match care {
        Care::Fast => {
            return match projection.apply(connection, event).await {
                Ok(()) => Ok(Ok(())),
                Err(_) => Err(BatchError::Unapplied),
            };
        }
        Care::Careful { attempts } => attempts,
    };
    let mut last = String::new();
    for _ in 0..attempts.max(1) {
        let mut savepoint = connection.begin().await?;
        match projection.apply(&mut savepoint, event).await {
            Ok(()) => {
                savepoint.commit().await?;
                return Ok(Ok(()));
            }
            Err(error) => {
                savepoint.rollback().await?;
                last = match error {
                    ApplyError::Rejected(reason) => reason,
                    // Not the event's fault: the whole batch is redone after a pause, where a
                    // retry inside this transaction could meet the same conflict again and
                    // parking would set a good event aside (seen in a fault campaign: two
                    // replicas' batches deadlocked on one user's order summary).
                    ApplyError::Database(error) if transient(&error) => {
                        return Err(BatchError::Database(error));
                    }
                    ApplyError::Database(error) => format!("database error: {error}"),
                };
            }
        }
    }
    Ok(Err(last))
}

/// One event, in order: held behind a parked one, parked if unreadable, a duplicate, pending
/// behind a gap, or applied (followed by whatever was pending behind it). The caller has locked
/// the aggregate and read its `state`, which this keeps current.
async fn process(
    connection: &mut PgConnection,
    projection: &impl Projection,
    incoming: &Incoming,
    state: &mut AggregateState,
    care: Care,
    outcome: &mut Outcome,
) -> Result<(), BatchError> {
    // Empty bytes decode as an all-default envelope; they are never a real event.
    let decoded = match incoming.payload.as_slice() {
        [] => Err(
            "empty record value (a tombstone, or an event stored without its envelope)".to_owned(),
        ),
        bytes => contracts::decode_envelope(bytes)
            .map_err(|error| format!("undecodable event envelope: {error}")),
    };
    let sequence = decoded.as_ref().ok().map(|e| e.sequence as i64);
    let attempts = match care {
        Care::Fast => 1,
        Care::Careful { attempts } => attempts as i32,
    };
    if let Some(blocker) = state.first_parked {
        let reason = format!("held behind parked event {blocker} of the same aggregate");
        park(connection, incoming, sequence, &reason, 0).await?;
        outcome.parked += 1;
        return Ok(());
    }
    let event = match decoded {
        Ok(event) if event.aggregate_id == incoming.key => event,
        Ok(event) => {
            let reason = format!(
                "record key {:?} is not the envelope's aggregate id {:?}",
                incoming.key, event.aggregate_id
            );
            state.first_parked = Some(park(connection, incoming, sequence, &reason, 1).await?);
            outcome.parked += 1;
            return Ok(());
        }
        Err(reason) => {
            state.first_parked = Some(park(connection, incoming, None, &reason, 1).await?);
            outcome.parked += 1;
            return Ok(());
        }
    };
    let Some(sequence) = i64::try_from(event.sequence).ok().filter(|s| *s > 0) else {
        let reason = format!("invalid sequence {} (sequences start at 1)", event.sequence);
        state.first_parked = Some(park(connection, incoming, None, &reason, 1).await?);
        outcome.parked += 1;
        return Ok(());
    };
    if sequence <= state.checkpoint {
        outcome.duplicates += 1;
        return Ok(());
    }
    if sequence > state.checkpoint + 1 {
        sqlx::query(
            "INSERT INTO pending_events (aggregate_id, sequence, envelope) VALUES ($1, $2, $3) \
             ON CONFLICT DO NOTHING",
        )
        .bind(&incoming.key)
        .bind(sequence)
        .bind(&incoming.payload)
        .execute(&mut *connection)
        .await?;
        state.has_pending = true;
        outcome.pending += 1;
        return Ok(());
    }
    if let Err(reason) = apply_with_retries(connection, projection, &event, care).await? {
        state.first_parked =
            Some(park(connection, incoming, Some(sequence), &reason, attempts).await?);
        outcome.parked += 1;
        if state.has_pending {
            park_pending(
                connection,
                &incoming.key,
                "held behind a parked event of the same aggregate",
            )
            .await?;
            state.has_pending = false;
        }
        return Ok(());
    }
    applied(outcome, &event);
    state.checkpoint = if state.has_pending {
        drain_pending(
            connection, projection, incoming, state, sequence, care, outcome,
        )
        .await?
    } else {
        sequence
    };
    outcome.moved.insert(incoming.key.clone(), state.checkpoint);
    Ok(())
}

fn applied(outcome: &mut Outcome, event: &EventEnvelope) {
    outcome.applied += 1;
    if let Some(recorded) = &event.recorded_at {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let recorded = recorded.seconds as f64 + f64::from(recorded.nanos) / 1e9;
        outcome
            .lag_seconds
            .push((now.as_secs_f64() - recorded).max(0.0));
    }
}

/// Applies the events that were waiting behind `version`; returns the new version.
async fn drain_pending(
    connection: &mut PgConnection,
    projection: &impl Projection,
    incoming: &Incoming,
    state: &mut AggregateState,
    mut version: i64,
    care: Care,
    outcome: &mut Outcome,
) -> Result<i64, BatchError> {
    loop {
        let next: Option<Vec<u8>> = sqlx::query_scalar(
            "DELETE FROM pending_events WHERE aggregate_id = $1 AND sequence = $2 RETURNING envelope",
        )
        .bind(&incoming.key)
        .bind(version + 1)
        .fetch_optional(&mut *connection)
        .await?;
        let Some(payload) = next else { break };
        let waiting = Incoming {
            payload,
            ..incoming.clone()
        };
        // Stored only after it decoded, so it decodes again.
        let event = contracts::decode_envelope(&waiting.payload)
            .map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
        if let Err(reason) = apply_with_retries(connection, projection, &event, care).await? {
            state.first_parked =
                Some(park(connection, &waiting, Some(version + 1), &reason, 0).await?);
            outcome.parked += 1;
            park_pending(
                connection,
                &incoming.key,
                "held behind a parked event of the same aggregate",
            )
            .await?;
            state.has_pending = false;
            break;
        }
        applied(outcome, &event);
        version += 1;
    }
    sqlx::query("DELETE FROM pending_events WHERE aggregate_id = $1 AND sequence <= $2")
        .bind(&incoming.key)
        .bind(version)
        .execute(&mut *connection)
        .await?;
    Ok(version)
}

/// Moves every pending event of `aggregate_id` to the parked ones, in sequence order.
pub(crate) async fn park_pending(
    connection: &mut PgConnection,
    aggregate_id: &str,
    reason: &str,
) -> Result<u64, sqlx::Error> {
    let parked = sqlx::query(
        "WITH moved AS (DELETE FROM pending_events WHERE aggregate_id = $1 \
                        RETURNING aggregate_id, sequence, envelope) \
         INSERT INTO parked_events (aggregate_id, sequence, reason, payload, attempts) \
         SELECT aggregate_id, sequence, $2, envelope, 0 FROM moved ORDER BY sequence",
    )
    .bind(aggregate_id)
    .bind(reason)
    .execute(connection)
    .await?;
    Ok(parked.rows_affected())
}

/// Parks the aggregates whose gap has been open longer than `timeout_secs`; returns how many
/// events were parked.
pub(crate) async fn park_stale_gaps(
    pool: &PgPool,
    projection: &impl Projection,
    timeout_secs: f64,
) -> Result<u64, sqlx::Error> {
    let schema = projection.schema();
    let mut tx = begin_shared(pool, schema).await?;
    set_search_path(&mut tx, schema).await?;
    let stale: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT aggregate_id FROM pending_events \
         WHERE received_at < now() - make_interval(secs => $1) ORDER BY aggregate_id",
    )
    .bind(timeout_secs)
    .fetch_all(&mut *tx)
    .await?;
    let mut parked = 0;
    for aggregate in stale {
        lock_aggregate(&mut tx, schema, &aggregate).await?;
        // Another instance may have filled the gap since the list was read.
        let still_stale: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM pending_events WHERE aggregate_id = $1 \
             AND received_at < now() - make_interval(secs => $2))",
        )
        .bind(&aggregate)
        .bind(timeout_secs)
        .fetch_one(&mut *tx)
        .await?;
        if !still_stale {
            continue;
        }
        let missing = checkpoint(&mut tx, &aggregate).await? + 1;
        let reason = format!("gap: sequence {missing} did not arrive within {timeout_secs} s");
        parked += park_pending(&mut tx, &aggregate, &reason).await?;
    }
    tx.commit().await?;
    Ok(parked)
}

#[cfg(test)]
mod tests {
    //! One batch holding every case at once, against a real Postgres database: the runtime
    //! reads each aggregate's state once per batch, so what an event does to it must carry
    //! over to the aggregate's later events of the same batch.

    use contracts::Message as _;
    use contracts::events::v1::EventEnvelope;
    use sqlx::PgPool;

    use super::*;
    use crate::schema::create;

    /// Counts each aggregate's events and refuses an event of type "Poison" or one that does
    /// not follow the last it applied (which the runtime must never hand it).
    struct Tally;

    impl Projection for Tally {
        fn schema(&self) -> &str {
            "tally_view"
        }

        fn ddl(&self) -> &str {
            "CREATE TABLE tally (aggregate_id text PRIMARY KEY, last bigint NOT NULL)"
        }

        async fn apply(
            &self,
            connection: &mut PgConnection,
            event: &EventEnvelope,
        ) -> Result<(), ApplyError> {
            if event.event_type == "Poison" {
                return Err(ApplyError::Rejected("poison".to_owned()));
            }
            let moved = sqlx::query(
                "INSERT INTO tally (aggregate_id, last) VALUES ($1, $2) \
                 ON CONFLICT (aggregate_id) DO UPDATE SET last = excluded.last \
                 WHERE tally.last = excluded.last - 1",
            )
            .bind(&event.aggregate_id)
            .bind(event.sequence as i64)
            .execute(connection)
            .await?;
            if moved.rows_affected() == 0 {
                return Err(ApplyError::Rejected(format!(
                    "out of order: {}",
                    event.sequence
                )));
            }
            Ok(())
        }
    }

    fn event(aggregate: &str, sequence: u64) -> Incoming {
        typed(aggregate, sequence, "Counted")
    }

    fn typed(aggregate: &str, sequence: u64, event_type: &str) -> Incoming {
        let envelope = EventEnvelope {
            aggregate_id: aggregate.to_owned(),
            sequence,
            event_type: event_type.to_owned(),
            ..EventEnvelope::default()
        };
        Incoming {
            key: aggregate.to_owned(),
            payload: envelope.encode_to_vec(),
            topic: "tally".to_owned(),
            partition: -1,
            offset: 0,
            traceparent: None,
        }
    }

    async fn schema() -> PgPool {
        let pool = test_support::fresh_database().await.pool();
        let mut tx = pool.begin().await.unwrap();
        create(&mut tx, &Tally, "tally_view").await.unwrap();
        tx.commit().await.unwrap();
        pool
    }

    async fn rows(pool: &PgPool, sql: &str) -> Vec<(String, i64)> {
        sqlx::query_as(sql).fetch_all(pool).await.unwrap()
    }

    #[tokio::test]
    async fn what_an_event_does_to_its_aggregate_holds_for_the_later_ones_of_the_batch() {
        let pool = schema().await;
        let batch = vec![
            // a: duplicates and a reordering: 4 waits for 3, which drains it.
            event("a", 1),
            event("a", 2),
            event("a", 2),
            event("a", 4),
            event("a", 3),
            event("a", 5),
            event("a", 1),
            // b: a poison event; the one after it is held, never applied around it.
            event("b", 1),
            typed("b", 2, "Poison"),
            event("b", 3),
            // c: 3 waits for 2, which is poison: 3 is parked behind it.
            event("c", 1),
            event("c", 3),
            typed("c", 2, "Poison"),
            // d: a gap that stays open.
            event("d", 2),
            event("d", 3),
        ];
        let outcome = apply_batch(&pool, &Tally, "tally_view", &batch, 2, false)
            .await
            .expect("the batch commits");
        assert_eq!(outcome.applied, 5 + 1 + 1);
        assert_eq!(outcome.duplicates, 2);
        assert_eq!(outcome.parked, 3);
        assert_eq!(
            outcome.moved.into_iter().collect::<Vec<_>>(),
            vec![
                ("a".to_owned(), 5),
                ("b".to_owned(), 1),
                ("c".to_owned(), 1)
            ]
        );
        let checkpoints = rows(
            &pool,
            "SELECT aggregate_id, last_sequence FROM tally_view.checkpoints ORDER BY 1",
        )
        .await;
        assert_eq!(
            checkpoints,
            vec![
                ("a".to_owned(), 5),
                ("b".to_owned(), 1),
                ("c".to_owned(), 1)
            ]
        );
        assert_eq!(
            rows(
                &pool,
                "SELECT aggregate_id, last FROM tally_view.tally ORDER BY 1"
            )
            .await,
            checkpoints,
            "the read model moved exactly as the checkpoints say"
        );
        let parked: Vec<(String, i64, String)> = sqlx::query_as(
            "SELECT aggregate_id, sequence, reason FROM tally_view.parked_events ORDER BY id",
        )
        .fetch_all(&pool)
        .await
        .unwrap();
        let first_of_b = sqlx::query_scalar::<_, i64>(
            "SELECT min(id) FROM tally_view.parked_events WHERE aggregate_id = 'b'",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        assert_eq!(
            parked,
            vec![
                ("b".to_owned(), 2, "poison".to_owned()),
                (
                    "b".to_owned(),
                    3,
                    format!("held behind parked event {first_of_b} of the same aggregate")
                ),
                ("c".to_owned(), 2, "poison".to_owned()),
                (
                    "c".to_owned(),
                    3,
                    "held behind a parked event of the same aggregate".to_owned()
                ),
            ]
        );
        assert_eq!(
            rows(
                &pool,
                "SELECT aggregate_id, sequence FROM tally_view.pending_events ORDER BY 1, 2"
            )
            .await,
            vec![("d".to_owned(), 2), ("d".to_owned(), 3)]
        );

        // The next batch reads what the first one left: b stays held, d's gap fills.
        let outcome = apply_batch(
            &pool,
            &Tally,
            "tally_view",
            &[event("b", 4), event("d", 1), event("a", 6)],
            2,
            false,
        )
        .await
        .expect("the batch commits");
        assert_eq!(
            (outcome.applied, outcome.parked),
            (1 + 2 + 1, 1),
            "d1 drains 2 and 3"
        );
        assert_eq!(
            rows(
                &pool,
                "SELECT aggregate_id, last FROM tally_view.tally ORDER BY 1"
            )
            .await,
            vec![
                ("a".to_owned(), 6),
                ("b".to_owned(), 1),
                ("c".to_owned(), 1),
                ("d".to_owned(), 3)
            ]
        );
        assert!(
            rows(
                &pool,
                "SELECT aggregate_id, sequence FROM tally_view.pending_events"
            )
            .await
            .is_empty()
        );
    }
}
