//! Operating parked events: list them, retry an aggregate's, skip one.

use serde::Serialize;
use sqlx::{PgConnection, PgPool};

use crate::Projection;
use crate::process::{Care, apply_with_retries, checkpoint, lock_aggregate, park_pending};
use crate::schema::set_search_path;

/// A parked event, as an operator sees it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct ParkedEvent {
    pub id: i64,
    pub aggregate_id: String,
    /// Unknown when the envelope could not be decoded.
    pub sequence: Option<i64>,
    pub reason: String,
    pub attempts: i32,
    /// `parked` or `skipped`.
    pub status: String,
    pub topic: Option<String>,
    pub kafka_partition: Option<i32>,
    pub kafka_offset: Option<i64>,
    /// When it was parked: RFC 3339 in UTC with microseconds, formatted by Postgres (see
    /// `PARKED_COLUMNS`) so every client reads the same text.
    pub parked_at: String,
    /// When it was skipped, in the same form.
    pub resolved_at: Option<String>,
    /// Who skipped it (`role:subject`).
    pub resolved_by: Option<String>,
    /// Why it was skipped.
    pub resolution: Option<String>,
}

/// Columns of [`ParkedEvent`], times as RFC 3339 text.
const PARKED_COLUMNS: &str = "id, aggregate_id, sequence, reason, attempts, status, topic, \
    kafka_partition, kafka_offset, \
    to_char(parked_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') AS parked_at, \
    to_char(resolved_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') AS resolved_at, \
    resolved_by, resolution";

/// Which parked events to list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ParkedStatus {
    /// Waiting for an operator.
    Parked,
    /// Given up by an operator.
    Skipped,
}

/// What a retry achieved.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RetryOutcome {
    /// Events now applied.
    pub applied: u64,
    /// Events that turned out to be already applied.
    pub duplicates: u64,
    /// Events filled in from the event store to close a gap.
    pub filled_from_store: u64,
    /// Events still parked; the aggregate stays blocked while any remain.
    pub still_parked: u64,
    /// Why the first remaining event could not be applied.
    pub reason: Option<String>,
}

/// Parked events of `projection` (of `status`, or all), oldest first, at most `limit`, with
/// ids after `after`.
pub async fn list_parked(
    pool: &PgPool,
    projection: &impl Projection,
    status: Option<ParkedStatus>,
    after: i64,
    limit: i64,
) -> Result<Vec<ParkedEvent>, sqlx::Error> {
    let status = status.map(|status| match status {
        ParkedStatus::Parked => "parked",
        ParkedStatus::Skipped => "skipped",
    });
    let mut tx = pool.begin().await?;
    set_search_path(&mut tx, projection.schema()).await?;
    let parked = sqlx::query_as(&format!(
        "SELECT {PARKED_COLUMNS} FROM parked_events \
         WHERE id > $1 AND ($3::text IS NULL OR status = $3) ORDER BY id LIMIT $2"
    ))
    .bind(after)
    .bind(limit)
    .bind(status)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(parked)
}

/// Events of `projection` waiting for an operator.
pub(crate) async fn count_parked(
    pool: &PgPool,
    projection: &impl Projection,
) -> Result<i64, sqlx::Error> {
    let mut tx = pool.begin().await?;
    set_search_path(&mut tx, projection.schema()).await?;
    let parked = sqlx::query_scalar("SELECT count(*) FROM parked_events WHERE status = 'parked'")
        .fetch_one(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(parked)
}

/// Parked event `id` of `projection` with the bytes it arrived with; `None` if there is none.
pub async fn get_parked(
    pool: &PgPool,
    projection: &impl Projection,
    id: i64,
) -> Result<Option<(ParkedEvent, Vec<u8>)>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    set_search_path(&mut tx, projection.schema()).await?;
    let event: Option<ParkedEvent> = sqlx::query_as(&format!(
        "SELECT {PARKED_COLUMNS} FROM parked_events WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    let found = match event {
        Some(event) => {
            let payload: Vec<u8> =
                sqlx::query_scalar("SELECT payload FROM parked_events WHERE id = $1")
                    .bind(id)
                    .fetch_one(&mut *tx)
                    .await?;
            Some((event, payload))
        }
        None => None,
    };
    tx.commit().await?;
    Ok(found)
}

/// A transaction on `schema`, locked for the aggregate of parked event `parked_id`, with that
/// aggregate and the event's status; `None` if there is no such parked event.
async fn open_parked(
    pool: &PgPool,
    schema: &str,
    parked_id: i64,
) -> Result<Option<(sqlx::Transaction<'static, sqlx::Postgres>, String, String)>, sqlx::Error> {
    let mut tx = crate::process::begin_shared(pool, schema).await?;
    set_search_path(&mut tx, schema).await?;
    let Some((aggregate, status)) = aggregate_of(&mut tx, parked_id).await? else {
        return Ok(None);
    };
    lock_aggregate(&mut tx, schema, &aggregate).await?;
    Ok(Some((tx, aggregate, status)))
}

async fn aggregate_of(
    connection: &mut PgConnection,
    parked_id: i64,
) -> Result<Option<(String, String)>, sqlx::Error> {
    sqlx::query_as("SELECT aggregate_id, status FROM parked_events WHERE id = $1")
        .bind(parked_id)
        .fetch_optional(connection)
        .await
}

/// Retries every parked event of the aggregate that `parked_id` belongs to, in sequence
/// order. A missing sequence is read from `event_store` (the context's event store, events of
/// `aggregate_type`) when given. `None` when there is no such parked event.
pub async fn retry_parked(
    pool: &PgPool,
    projection: &impl Projection,
    parked_id: i64,
    event_store: Option<(&PgPool, &str)>,
    attempts: u32,
) -> Result<Option<RetryOutcome>, sqlx::Error> {
    let schema = projection.schema();
    let Some((mut tx, aggregate, _)) = open_parked(pool, schema, parked_id).await? else {
        return Ok(None);
    };
    let outcome = retry_aggregate(&mut tx, projection, &aggregate, event_store, attempts).await?;
    notify(&mut tx, schema, &aggregate).await?;
    tx.commit().await?;
    Ok(Some(outcome))
}

/// What a skip did.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Skipped {
    /// The event is given up; the aggregate's other parked events were retried.
    Done(RetryOutcome),
    /// Only the next sequence (or an event whose sequence is unknown) can be skipped: a later
    /// one would be read back from the event store when the gap before it is filled.
    NotNext { sequence: i64, next: i64 },
}

/// Who gives a parked event up, and why.
#[derive(Debug, Clone, Copy)]
pub struct Skip<'a> {
    /// `role:subject` of the operator.
    pub by: &'a str,
    pub reason: &'a str,
}

/// Gives up one parked event: it is marked skipped (recording who and why) and never
/// applied, and the aggregate's checkpoint moves past it; the aggregate's other parked events
/// are then retried. `None` when there is no such parked event.
pub async fn skip_parked(
    pool: &PgPool,
    projection: &impl Projection,
    parked_id: i64,
    skip: Skip<'_>,
    event_store: Option<(&PgPool, &str)>,
    attempts: u32,
) -> Result<Option<Skipped>, sqlx::Error> {
    let schema = projection.schema();
    let Some((mut tx, aggregate, status)) = open_parked(pool, schema, parked_id).await? else {
        return Ok(None);
    };
    if status == "parked" {
        let sequence: Option<i64> =
            sqlx::query_scalar("SELECT sequence FROM parked_events WHERE id = $1")
                .bind(parked_id)
                .fetch_one(&mut *tx)
                .await?;
        let next = checkpoint(&mut tx, &aggregate).await? + 1;
        if let Some(sequence) = sequence {
            if sequence != next {
                return Ok(Some(Skipped::NotNext { sequence, next }));
            }
            sqlx::query(
                "INSERT INTO checkpoints (aggregate_id, last_sequence) VALUES ($1, $2) \
                 ON CONFLICT (aggregate_id) DO UPDATE SET last_sequence = excluded.last_sequence, updated_at = now()",
            )
            .bind(&aggregate)
            .bind(sequence)
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query(
            "UPDATE parked_events SET status = 'skipped', resolved_at = now(), \
             resolved_by = $2, resolution = $3 WHERE id = $1",
        )
        .bind(parked_id)
        .bind(skip.by)
        .bind(skip.reason)
        .execute(&mut *tx)
        .await?;
        tracing::warn!(
            projection = schema,
            aggregate,
            parked_id,
            ?sequence,
            by = skip.by,
            reason = skip.reason,
            "parked event skipped by an operator"
        );
    }
    let outcome = retry_aggregate(&mut tx, projection, &aggregate, event_store, attempts).await?;
    notify(&mut tx, schema, &aggregate).await?;
    tx.commit().await?;
    Ok(Some(Skipped::Done(outcome)))
}

/// Tells readers waiting on `min_version` where the aggregate now is.
async fn notify(
    connection: &mut PgConnection,
    schema: &str,
    aggregate: &str,
) -> Result<(), sqlx::Error> {
    let version = checkpoint(connection, aggregate).await?;
    crate::process::notify_moved(connection, schema, [(aggregate, version)]).await
}

async fn retry_aggregate(
    connection: &mut PgConnection,
    projection: &impl Projection,
    aggregate: &str,
    event_store: Option<(&PgPool, &str)>,
    attempts: u32,
) -> Result<RetryOutcome, sqlx::Error> {
    // Events waiting behind a gap are retried with the parked ones.
    park_pending(connection, aggregate, "pending behind a gap").await?;
    // Each with its parked id, which it keeps if it stays parked.
    let waiting: Vec<(i64, Vec<u8>)> = sqlx::query_as(
        "SELECT id, payload FROM parked_events \
         WHERE aggregate_id = $1 AND status = 'parked' ORDER BY id",
    )
    .bind(aggregate)
    .fetch_all(&mut *connection)
    .await?;
    let mut decoded = Vec::new();
    let mut outcome = RetryOutcome::default();
    let mut unreadable = Vec::new();
    for (id, payload) in waiting {
        match contracts::decode_envelope(&payload) {
            Ok(event) if event.aggregate_id == aggregate => decoded.push((event, id)),
            Ok(_) => unreadable.push((
                id,
                "record key is not the envelope's aggregate id".to_owned(),
            )),
            Err(error) => unreadable.push((id, format!("undecodable event envelope: {error}"))),
        }
    }
    decoded.sort_by_key(|(event, _)| event.sequence);
    let mut version = checkpoint(connection, aggregate).await?;
    let mut blocked: Option<String> = unreadable.first().map(|(_, reason)| reason.clone());
    // Still parked: id, sequence, why.
    let mut leftovers: Vec<(i64, Option<i64>, String)> = unreadable
        .into_iter()
        .map(|(id, reason)| (id, None, reason))
        .collect();
    for (event, id) in decoded {
        let sequence = event.sequence as i64;
        if blocked.is_some() {
            leftovers.push((
                id,
                Some(sequence),
                "held behind parked event of the same aggregate".into(),
            ));
            continue;
        }
        if sequence <= version {
            outcome.duplicates += 1;
            continue;
        }
        if sequence > version + 1 {
            let filled = fill_gap(
                connection,
                projection,
                aggregate,
                version,
                sequence,
                event_store,
                attempts,
            )
            .await?;
            outcome.filled_from_store += filled.0;
            version += filled.0 as i64;
            if let Some(reason) = filled.1 {
                blocked = Some(reason.clone());
                leftovers.push((id, Some(sequence), reason));
                continue;
            }
        }
        match apply_with_retries(connection, projection, &event, Care::Careful { attempts }).await?
        {
            Ok(()) => {
                version = sequence;
                outcome.applied += 1;
            }
            Err(reason) => {
                blocked = Some(reason.clone());
                leftovers.push((id, Some(sequence), reason));
            }
        }
    }
    let kept: Vec<i64> = leftovers.iter().map(|(id, _, _)| *id).collect();
    sqlx::query(
        "DELETE FROM parked_events WHERE aggregate_id = $1 AND status = 'parked' AND id <> ALL($2)",
    )
    .bind(aggregate)
    .bind(&kept)
    .execute(&mut *connection)
    .await?;
    for (id, sequence, reason) in &leftovers {
        sqlx::query(
            "UPDATE parked_events SET sequence = $2, reason = $3, attempts = attempts + $4 WHERE id = $1",
        )
        .bind(id)
        .bind(sequence)
        .bind(reason.replace('\0', "\u{FFFD}"))
        .bind(attempts as i32)
        .execute(&mut *connection)
        .await?;
    }
    sqlx::query(
        "INSERT INTO checkpoints (aggregate_id, last_sequence) VALUES ($1, $2) \
         ON CONFLICT (aggregate_id) DO UPDATE SET last_sequence = excluded.last_sequence, updated_at = now()",
    )
    .bind(aggregate)
    .bind(version)
    .execute(&mut *connection)
    .await?;
    outcome.still_parked = leftovers.len() as u64;
    outcome.reason = blocked;
    Ok(outcome)
}

/// Applies sequences `after + 1 .. before` of `aggregate` from the event store. Returns how many
/// were applied, and why it stopped early if it did.
async fn fill_gap(
    connection: &mut PgConnection,
    projection: &impl Projection,
    aggregate: &str,
    after: i64,
    before: i64,
    event_store: Option<(&PgPool, &str)>,
    attempts: u32,
) -> Result<(u64, Option<String>), sqlx::Error> {
    let Some((store, aggregate_type)) = event_store else {
        return Ok((0, Some(format!("gap: sequence {} is missing", after + 1))));
    };
    let envelopes: Vec<Option<Vec<u8>>> = sqlx::query_scalar(
        "SELECT envelope FROM events WHERE aggregate_type = $1 AND aggregate_id = $2 \
         AND sequence > $3 AND sequence < $4 ORDER BY sequence",
    )
    .bind(aggregate_type)
    .bind(aggregate)
    .bind(after)
    .bind(before)
    .fetch_all(store)
    .await?;
    if envelopes.len() as i64 != before - after - 1 {
        return Ok((
            0,
            Some(format!(
                "gap: sequence {} is not in the event store",
                after + 1
            )),
        ));
    }
    let mut applied = 0;
    for envelope in envelopes {
        let Some(envelope) = envelope else {
            return Ok((
                applied,
                Some("the event store has no envelope for a missing sequence".into()),
            ));
        };
        let event = match contracts::decode_envelope(&envelope) {
            Ok(event) => event,
            Err(error) => {
                return Ok((
                    applied,
                    Some(format!("stored envelope undecodable: {error}")),
                ));
            }
        };
        if let Err(reason) =
            apply_with_retries(connection, projection, &event, Care::Careful { attempts }).await?
        {
            return Ok((applied, Some(reason)));
        }
        applied += 1;
    }
    Ok((applied, None))
}
