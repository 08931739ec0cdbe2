//! Rebuilding a projection from the event store into a shadow schema, then swapping it in.

use futures::TryStreamExt;
use sqlx::{Connection, PgPool, Row};

use std::collections::BTreeMap;

use crate::internal_events;
use crate::process::{
    Care, Incoming, Outcome, SWITCH_NAMESPACE, apply_batch, apply_in, begin_shared,
    save_checkpoints,
};
use crate::schema::{create, quoted, set_search_path};
use crate::{History, Projection};

/// Advisory-lock namespace making sure one rebuild of a projection runs at a time.
const REBUILD_NAMESPACE: i32 = 0x7262_6c64; // "rbld"
/// Events applied per transaction while rebuilding event by event.
const CHUNK: usize = 1_000;
/// Events per transaction on the bulk path (whole aggregates, so a chunk may hold a few more).
const BULK_CHUNK: usize = 5_000;

/// Where a rebuild is.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RebuildProgress {
    /// `copying` (replaying the store), `catching-up` or `switched`.
    pub phase: &'static str,
    /// Events replayed so far.
    pub applied: u64,
    /// Events in the store when the rebuild started (more may arrive).
    pub total: u64,
    /// Of `applied`, the events the projection wrote whole aggregates at a time
    /// ([`Projection::apply_histories`]); the rest went event by event.
    pub bulk: u64,
}

/// Why a rebuild stopped. The live read model is untouched in every case.
#[derive(Debug, thiserror::Error)]
pub enum RebuildError {
    /// Another rebuild of the same projection is running.
    #[error("a rebuild of {0} is already running")]
    AlreadyRunning(String),
    /// Some events could not be applied; the shadow schema is kept for inspection.
    #[error(
        "{parked} events could not be applied (see {schema}.parked_events); nothing was switched"
    )]
    Unapplied { parked: i64, schema: String },
    /// The store holds no events of the type while the live model holds some: most likely the
    /// wrong store or aggregate type, and switching would empty the read model.
    #[error("the event store holds no {0} events but the live model does; nothing was switched")]
    EmptyStore(String),
    /// A database failed.
    #[error("rebuild failed: {0}")]
    Database(#[from] sqlx::Error),
}

impl From<crate::process::BatchError> for RebuildError {
    fn from(error: crate::process::BatchError) -> Self {
        Self::Database(error.into())
    }
}

/// Replays every event of `aggregate_type` stored in `event_store` (the `events.envelope`
/// column) into a fresh shadow schema, catches up with what was written meanwhile, and swaps
/// the shadow in for the live schema in one transaction. Queries and the live projector go on
/// throughout; the projector pauses only for the final catch-up. `progress` is called after
/// every chunk.
pub async fn rebuild<P: Projection>(
    read_model: &PgPool,
    event_store: &PgPool,
    projection: &P,
    aggregate_type: &str,
    progress: impl Fn(&RebuildProgress),
) -> Result<RebuildProgress, RebuildError> {
    let live = projection.schema().to_owned();
    let mut guard = read_model.acquire().await?.detach();
    let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1, hashtext($2))")
        .bind(REBUILD_NAMESPACE)
        .bind(&live)
        .fetch_one(&mut guard)
        .await?;
    if !locked {
        return Err(RebuildError::AlreadyRunning(live));
    }
    let result = run(
        read_model,
        event_store,
        projection,
        aggregate_type,
        &progress,
    )
    .await;
    // Unlocked explicitly: a closed session releases its locks only once the server has
    // noticed, so a rebuild started right after this one returns would find it still held.
    // Closing the session still releases the lock if the unlock fails.
    let _ = sqlx::query("SELECT pg_advisory_unlock($1, hashtext($2))")
        .bind(REBUILD_NAMESPACE)
        .bind(&live)
        .execute(&mut guard)
        .await;
    let _ = guard.close().await;
    result
}

async fn run<P: Projection>(
    read_model: &PgPool,
    event_store: &PgPool,
    projection: &P,
    aggregate_type: &str,
    progress: &impl Fn(&RebuildProgress),
) -> Result<RebuildProgress, RebuildError> {
    let live = projection.schema().to_owned();
    let shadow = format!("{live}__rebuild");
    let retired = format!("{live}__retired");
    {
        let mut tx = read_model.begin().await?;
        for stale in [&shadow, &retired] {
            sqlx::query(&format!("DROP SCHEMA IF EXISTS {} CASCADE", quoted(stale)))
                .execute(&mut *tx)
                .await?;
        }
        create(&mut tx, projection, &shadow).await?;
        tx.commit().await?;
    }
    let total: i64 = sqlx::query_scalar("SELECT count(*) FROM events WHERE aggregate_type = $1")
        .bind(aggregate_type)
        .fetch_one(event_store)
        .await?;
    let mut state = RebuildProgress {
        phase: "copying",
        applied: 0,
        total: total.unsigned_abs(),
        bulk: 0,
    };
    let mut last_position = 0;
    if let Some(upto) = bulk_copy(
        read_model,
        event_store,
        projection,
        &shadow,
        aggregate_type,
        &mut state,
        progress,
    )
    .await?
    {
        last_position = upto;
    }
    // Copy until the tail is short, so the pause at the switch stays short too.
    loop {
        let copied = copy_after(
            read_model,
            event_store,
            projection,
            &shadow,
            aggregate_type,
            &mut last_position,
            &mut state,
            progress,
        )
        .await?;
        if copied < CHUNK as u64 {
            break;
        }
    }

    state.phase = "catching-up";
    progress(&state);
    // Under the exclusive switch lock the live projector is paused (its batch in flight
    // finishes first), so nothing can be applied to the live schema that the shadow misses.
    let mut tx = read_model.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1, hashtext($2))")
        .bind(SWITCH_NAMESPACE)
        .bind(&live)
        .execute(&mut *tx)
        .await?;
    // The tail written since the copy.
    let tail = sqlx::query(
        "SELECT aggregate_id, sequence, envelope, position FROM events \
         WHERE aggregate_type = $1 AND position > $2 ORDER BY position",
    )
    .bind(aggregate_type)
    .bind(last_position);
    state.applied += replay(&mut tx, event_store, projection, &shadow, tail).await?;
    // What the live projector applied that the copy passed over: events whose position was
    // read past before they committed. An aggregate the copy parked stays behind on purpose
    // (the rebuild is refused below); replaying it would park its event a second time.
    let behind: Vec<(String, i64, i64)> = sqlx::query_as(&format!(
        "SELECT l.aggregate_id, COALESCE(s.last_sequence, 0), l.last_sequence \
         FROM {live}.checkpoints l LEFT JOIN {shadow}.checkpoints s USING (aggregate_id) \
         WHERE l.last_sequence > COALESCE(s.last_sequence, 0) \
           AND NOT EXISTS (SELECT 1 FROM {shadow}.parked_events p \
                           WHERE p.aggregate_id = l.aggregate_id AND p.status = 'parked')",
        live = quoted(&live),
        shadow = quoted(&shadow)
    ))
    .fetch_all(&mut *tx)
    .await?;
    for (aggregate, from, to) in behind {
        let missed = sqlx::query(
            "SELECT aggregate_id, sequence, envelope, position FROM events \
             WHERE aggregate_type = $1 AND aggregate_id = $2 AND sequence > $3 AND sequence <= $4 \
             ORDER BY sequence",
        )
        .bind(aggregate_type)
        .bind(aggregate)
        .bind(from)
        .bind(to);
        state.applied += replay(&mut tx, event_store, projection, &shadow, missed).await?;
    }
    let parked: i64 = sqlx::query_scalar(&format!(
        "SELECT count(*) FROM {}.parked_events",
        quoted(&shadow)
    ))
    .fetch_one(&mut *tx)
    .await?;
    if parked > 0 {
        let error = RebuildError::Unapplied {
            parked,
            schema: shadow.clone(),
        };
        internal_events::rebuild_refused(&live, &error.to_string());
        return Err(error);
    }
    let live_aggregates: i64 = sqlx::query_scalar(&format!(
        "SELECT count(*) FROM {}.checkpoints",
        quoted(&live)
    ))
    .fetch_one(&mut *tx)
    .await?;
    if state.total == 0 && state.applied == 0 && live_aggregates > 0 {
        let error = RebuildError::EmptyStore(aggregate_type.to_owned());
        internal_events::rebuild_refused(&live, &error.to_string());
        return Err(error);
    }
    sqlx::query(&format!(
        "ALTER SCHEMA {} RENAME TO {}",
        quoted(&live),
        quoted(&retired)
    ))
    .execute(&mut *tx)
    .await?;
    sqlx::query(&format!(
        "ALTER SCHEMA {} RENAME TO {}",
        quoted(&shadow),
        quoted(&live)
    ))
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    // Queries resolve names through the search path, so new ones already read the new
    // schema; the drop waits only for statements still running on the old tables.
    sqlx::query(&format!("DROP SCHEMA {} CASCADE", quoted(&retired)))
        .execute(read_model)
        .await?;
    state.phase = "switched";
    progress(&state);
    Ok(state)
}

/// Applies the events `query` selects from the event store to `shadow`, inside `tx`.
async fn replay<'q>(
    tx: &mut sqlx::PgConnection,
    event_store: &PgPool,
    projection: &impl Projection,
    shadow: &str,
    query: sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>,
) -> Result<u64, RebuildError> {
    let rows = query.fetch_all(event_store).await?;
    let batch: Vec<Incoming> = rows.iter().map(to_incoming).collect::<Result<_, _>>()?;
    let care = Care::Careful { attempts: 3 };
    Ok(apply_in(tx, projection, shadow, &batch, care, false)
        .await?
        .applied)
}

fn to_incoming(row: &sqlx::postgres::PgRow) -> Result<Incoming, sqlx::Error> {
    let envelope: Option<Vec<u8>> = row.try_get("envelope")?;
    Ok(Incoming {
        key: row.try_get("aggregate_id")?,
        // An event stored before envelopes were kept is parked by the decoder, visibly.
        payload: envelope.unwrap_or_default(),
        topic: "event-store".to_owned(),
        partition: -1,
        offset: row.try_get("position")?,
        traceparent: None,
    })
}

/// Copies the events after `last_position` in chunks; returns how many it copied.
#[allow(clippy::too_many_arguments)]
async fn copy_after(
    read_model: &PgPool,
    event_store: &PgPool,
    projection: &impl Projection,
    shadow: &str,
    aggregate_type: &str,
    last_position: &mut i64,
    state: &mut RebuildProgress,
    progress: &impl Fn(&RebuildProgress),
) -> Result<u64, sqlx::Error> {
    let mut copied = 0;
    let mut source = event_store.acquire().await?;
    let mut rows = sqlx::query(
        "SELECT aggregate_id, sequence, envelope, position FROM events \
         WHERE aggregate_type = $1 AND position > $2 ORDER BY position",
    )
    .bind(aggregate_type)
    .bind(*last_position)
    .fetch(&mut *source);
    let mut chunk = Vec::with_capacity(CHUNK);
    loop {
        let row = rows.try_next().await?;
        if let Some(row) = &row {
            chunk.push(to_incoming(row)?);
            *last_position = row.try_get("position")?;
        }
        if chunk.len() == CHUNK || (row.is_none() && !chunk.is_empty()) {
            let outcome: Outcome =
                apply_batch(read_model, projection, shadow, &chunk, 3, false).await?;
            copied += chunk.len() as u64;
            state.applied += outcome.applied;
            chunk.clear();
            report(projection, state, progress);
        }
        if row.is_none() {
            break;
        }
    }
    Ok(copied)
}

/// The bulk path: replays the events stored when it starts aggregate by aggregate, handing
/// whole histories to [`Projection::apply_histories`]. Answers the position up to which it
/// replayed (later events are copied event by event), or `None`, having written nothing, when
/// the projection has no bulk path.
///
/// What the read sees of an aggregate is a prefix 1..m of its events (event `n + 1` is appended
/// only after `n` committed). An event up to that position still uncommitted when the read
/// begins is missed here as the position copy can miss one, and found the same way: by the
/// switch's comparison with the live checkpoints, or from Kafka after the switch.
async fn bulk_copy(
    read_model: &PgPool,
    event_store: &PgPool,
    projection: &impl Projection,
    shadow: &str,
    aggregate_type: &str,
    state: &mut RebuildProgress,
    progress: &impl Fn(&RebuildProgress),
) -> Result<Option<i64>, RebuildError> {
    if !has_bulk_path(read_model, projection, shadow).await? {
        return Ok(None);
    }
    let upto: i64 = sqlx::query_scalar("SELECT coalesce(max(position), 0) FROM events")
        .fetch_one(event_store)
        .await?;
    let mut source = event_store.acquire().await?;
    let mut rows = sqlx::query(
        "SELECT aggregate_id, sequence, envelope, position FROM events \
         WHERE aggregate_type = $1 AND position <= $2 ORDER BY aggregate_id, sequence",
    )
    .bind(aggregate_type)
    .bind(upto)
    .fetch(&mut *source);
    let mut chunk: Vec<Incoming> = Vec::with_capacity(BULK_CHUNK + 64);
    loop {
        let next = rows
            .try_next()
            .await?
            .as_ref()
            .map(to_incoming)
            .transpose()?;
        let at_boundary = match (&next, chunk.last()) {
            (Some(next), Some(last)) => next.key != last.key,
            _ => true,
        };
        if !chunk.is_empty() && at_boundary && (chunk.len() >= BULK_CHUNK || next.is_none()) {
            let Some(Written { applied, bulk }) =
                write_histories(read_model, projection, shadow, &chunk).await?
            else {
                return Ok(None);
            };
            state.applied += applied;
            state.bulk += bulk;
            chunk.clear();
            report(projection, state, progress);
        }
        match next {
            Some(next) => chunk.push(next),
            None => return Ok(Some(upto)),
        }
    }
}

/// Whether `projection` has a bulk path: asked with no histories, in a transaction rolled
/// back, so a projection without one costs the rebuild nothing.
async fn has_bulk_path(
    read_model: &PgPool,
    projection: &impl Projection,
    shadow: &str,
) -> Result<bool, RebuildError> {
    let mut tx = begin_shared(read_model, projection.schema()).await?;
    set_search_path(&mut tx, shadow).await?;
    let answer = projection.apply_histories(&mut tx, &[]).await;
    tx.rollback().await?;
    match answer {
        Ok(answer) => Ok(answer.is_some()),
        Err(error) => Err(RebuildError::Database(sqlx::Error::Protocol(format!(
            "{} refused an empty bulk write: {error}",
            projection.schema()
        )))),
    }
}

/// What one chunk of the bulk path applied.
struct Written {
    /// Events applied, either way.
    applied: u64,
    /// Of those, events written in whole histories.
    bulk: u64,
}

/// Writes `chunk` (whole aggregates, each in sequence order) to `shadow` in one transaction:
/// the histories the projection takes in bulk, the rest event by event, carefully. Answers what
/// it applied, or `None`, having written nothing, if the projection has no bulk path.
async fn write_histories(
    read_model: &PgPool,
    projection: &impl Projection,
    shadow: &str,
    chunk: &[Incoming],
) -> Result<Option<Written>, RebuildError> {
    let mut histories = Vec::new();
    let mut bulk_groups = Vec::new();
    let mut by_event: Vec<&[Incoming]> = Vec::new();
    for group in chunk.chunk_by(|a, b| a.key == b.key) {
        match history(group) {
            Some(history) => {
                histories.push(history);
                bulk_groups.push(group);
            }
            None => by_event.push(group),
        }
    }
    let mut tx = begin_shared(read_model, projection.schema()).await?;
    set_search_path(&mut tx, shadow).await?;
    let written = match projection.apply_histories(&mut tx, &histories).await {
        Ok(Some(written)) if written.len() == histories.len() => written,
        Ok(Some(written)) => {
            return Err(RebuildError::Database(sqlx::Error::Protocol(format!(
                "{} answered for {} of {} histories",
                projection.schema(),
                written.len(),
                histories.len()
            ))));
        }
        Ok(None) => return Ok(None),
        // The transaction is spoilt: the whole chunk goes event by event.
        Err(error) => {
            drop(tx);
            internal_events::bulk_refused(projection.schema(), &error);
            let outcome = apply_batch(read_model, projection, shadow, chunk, 3, false).await?;
            return Ok(Some(Written {
                applied: outcome.applied,
                bulk: 0,
            }));
        }
    };
    let mut bulk = 0;
    let mut moved = BTreeMap::new();
    for ((history, group), written) in histories.iter().zip(&bulk_groups).zip(written) {
        if written {
            bulk += history.events.len() as u64;
            moved.insert(history.aggregate_id.clone(), history.events.len() as i64);
        } else {
            by_event.push(group);
        }
    }
    save_checkpoints(&mut tx, &moved).await?;
    let rest: Vec<Incoming> = by_event.concat();
    let care = Care::Careful { attempts: 3 };
    let by_event = apply_in(&mut tx, projection, shadow, &rest, care, false)
        .await?
        .applied;
    tx.commit().await?;
    Ok(Some(Written {
        applied: bulk + by_event,
        bulk,
    }))
}

/// `group`'s events as a history, if they decode, belong to it and run 1, 2, 3…
fn history(group: &[Incoming]) -> Option<History> {
    let events = group
        .iter()
        .enumerate()
        .map(|(index, incoming)| {
            if incoming.payload.is_empty() {
                return None;
            }
            let event = contracts::decode_envelope(&incoming.payload).ok()?;
            (event.aggregate_id == incoming.key && event.sequence == index as u64 + 1)
                .then_some(event)
        })
        .collect::<Option<Vec<_>>>()?;
    Some(History {
        aggregate_id: group[0].key.clone(),
        events,
    })
}

/// Tells the log, the gauge and the caller where the rebuild is.
fn report(
    projection: &impl Projection,
    state: &RebuildProgress,
    progress: &impl Fn(&RebuildProgress),
) {
    internal_events::rebuild_progress(projection.schema(), state.phase, state.applied, state.total);
    progress(state);
}
