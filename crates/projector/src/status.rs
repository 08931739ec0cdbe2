//! How far a projection is behind its event store, for operators.

use std::collections::HashMap;

use serde::Serialize;
use sqlx::{PgPool, Row};

use crate::Projection;
use crate::schema::set_search_path;

/// Store events examined, newest first, to date the oldest one not yet applied.
const SCAN_LIMIT: usize = 100_000;
/// Store events examined per query.
const PAGE: i64 = 1_000;

/// A projection compared with its event store.
#[derive(Debug, Clone, Serialize)]
pub struct ProjectionStatus {
    /// The live schema.
    pub projection: String,
    /// Events of the projection's aggregate type in the store (the head).
    pub stored_events: i64,
    /// Events the read model has applied or an operator skipped (the sum of its checkpoints).
    pub applied_events: i64,
    /// `stored_events - applied_events`: committed but not yet visible in the read model.
    pub lag_events: i64,
    /// Age of the oldest event not yet applied (0 when none is behind).
    pub lag_seconds: f64,
    /// True when the oldest event behind was not found among the newest `SCAN_LIMIT` events
    /// examined: the lag is at least `lag_seconds`.
    pub lag_seconds_is_lower_bound: bool,
    /// Aggregates the read model has seen.
    pub aggregates: i64,
    /// Events waiting for an operator.
    pub parked: i64,
    /// Events an operator gave up.
    pub skipped: i64,
    /// Events that arrived ahead of a gap and wait for it.
    pub pending: i64,
}

/// Compares `projection`'s read model with the events of `aggregate_type` in `event_store`.
pub async fn status(
    read_model: &PgPool,
    event_store: &PgPool,
    projection: &impl Projection,
    aggregate_type: &str,
) -> Result<ProjectionStatus, sqlx::Error> {
    let mut tx = read_model.begin().await?;
    set_search_path(&mut tx, projection.schema()).await?;
    let row = sqlx::query(
        "SELECT (SELECT coalesce(sum(last_sequence), 0)::bigint FROM checkpoints), \
                (SELECT count(*) FROM checkpoints), \
                (SELECT count(*) FILTER (WHERE status = 'parked') FROM parked_events), \
                (SELECT count(*) FILTER (WHERE status = 'skipped') FROM parked_events), \
                (SELECT count(*) FROM pending_events)",
    )
    .fetch_one(&mut *tx)
    .await?;
    let (applied_events, aggregates, parked, skipped, pending): (i64, i64, i64, i64, i64) =
        (row.get(0), row.get(1), row.get(2), row.get(3), row.get(4));
    let stored_events: i64 =
        sqlx::query_scalar("SELECT count(*) FROM events WHERE aggregate_type = $1")
            .bind(aggregate_type)
            .fetch_one(event_store)
            .await?;
    let lag_events = (stored_events - applied_events).max(0);
    let (lag_seconds, lag_seconds_is_lower_bound) = if lag_events == 0 {
        (0.0, false)
    } else {
        oldest_behind(&mut tx, event_store, aggregate_type, lag_events).await?
    };
    tx.commit().await?;
    Ok(ProjectionStatus {
        projection: projection.schema().to_owned(),
        stored_events,
        applied_events,
        lag_events,
        lag_seconds,
        lag_seconds_is_lower_bound,
        aggregates,
        parked,
        skipped,
        pending,
    })
}

/// The age in seconds of the oldest stored event the read model has not applied, found by
/// walking the store newest first until `behind` such events are seen (or `SCAN_LIMIT`, then
/// the age is a lower bound).
async fn oldest_behind(
    read_model: &mut sqlx::PgConnection,
    event_store: &PgPool,
    aggregate_type: &str,
    behind: i64,
) -> Result<(f64, bool), sqlx::Error> {
    let mut before = i64::MAX;
    let (mut found, mut scanned) = (0_i64, 0_usize);
    let mut oldest: Option<f64> = None;
    let mut oldest_scanned = 0.0;
    while scanned < SCAN_LIMIT {
        let rows = sqlx::query(
            "SELECT position, aggregate_id, sequence, \
                    extract(epoch FROM now() - recorded_at)::float8 AS age \
               FROM events WHERE aggregate_type = $1 AND position < $2 \
              ORDER BY position DESC LIMIT $3",
        )
        .bind(aggregate_type)
        .bind(before)
        .bind(PAGE)
        .fetch_all(event_store)
        .await?;
        let Some(last) = rows.last() else {
            return Ok((oldest.unwrap_or(0.0), false));
        };
        before = last.get("position");
        scanned += rows.len();
        let ids: Vec<String> = rows.iter().map(|row| row.get("aggregate_id")).collect();
        let checkpoints: HashMap<String, i64> = sqlx::query_as(
            "SELECT aggregate_id, last_sequence FROM checkpoints WHERE aggregate_id = ANY($1)",
        )
        .bind(&ids)
        .fetch_all(&mut *read_model)
        .await?
        .into_iter()
        .collect();
        for row in &rows {
            let id: String = row.get("aggregate_id");
            let age: f64 = row.get("age");
            oldest_scanned = age;
            if row.get::<i64, _>("sequence") > checkpoints.get(&id).copied().unwrap_or(0) {
                found += 1;
                oldest = Some(oldest.map_or(age, |oldest: f64| oldest.max(age)));
            }
        }
        if found >= behind {
            return Ok((oldest.unwrap_or(0.0), false));
        }
    }
    Ok((oldest_scanned.max(oldest.unwrap_or(0.0)), true))
}
