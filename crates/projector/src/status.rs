//! How far a projection is behind its event store, for operators.

use serde::Serialize;
use sqlx::{PgPool, Row};

use crate::Projection;
use crate::schema::set_search_path;

/// Aggregates compared per query.
const PAGE: i64 = 5_000;

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
    /// Age of the oldest stored event not yet applied (0 when none is behind).
    pub lag_seconds: f64,
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
    let lag_seconds = if lag_events == 0 {
        0.0
    } else {
        oldest_behind(&mut tx, event_store, aggregate_type, stored_events).await?
    };
    tx.commit().await?;
    Ok(ProjectionStatus {
        projection: projection.schema().to_owned(),
        stored_events,
        applied_events,
        lag_events,
        lag_seconds,
        aggregates,
        parked,
        skipped,
        pending,
    })
}

/// The age in seconds of the oldest stored event the read model has not applied (0 if none).
///
/// Exact, and bounded by the number of aggregates rather than of events: an aggregate's events
/// are applied in sequence, so its oldest event behind is the one after its checkpoint. First
/// every checkpointed aggregate is compared with its stream, a page of checkpoints at a time;
/// if the events behind those do not account for every stored event the read model has not
/// counted, the aggregates it has never seen are looked for too (whole streams behind).
async fn oldest_behind(
    read_model: &mut sqlx::PgConnection,
    event_store: &PgPool,
    aggregate_type: &str,
    stored: i64,
) -> Result<f64, sqlx::Error> {
    let mut oldest: Option<f64> = None;
    let mut older = |age: Option<f64>| {
        if let Some(age) = age {
            oldest = Some(oldest.map_or(age, |oldest: f64| oldest.max(age)));
        }
    };
    let (mut after, mut covered) = (String::new(), 0_i64);
    loop {
        let page: Vec<(String, i64)> = sqlx::query_as(
            "SELECT aggregate_id, last_sequence FROM checkpoints \
              WHERE aggregate_id > $1 ORDER BY aggregate_id LIMIT $2",
        )
        .bind(&after)
        .bind(PAGE)
        .fetch_all(&mut *read_model)
        .await?;
        let Some((last, _)) = page.last() else { break };
        after = last.clone();
        let (ids, sequences): (Vec<String>, Vec<i64>) = page.into_iter().unzip();
        // Every stored event of these aggregates, and the age of the oldest past a checkpoint.
        let (events, age): (i64, Option<f64>) = sqlx::query_as(
            "SELECT count(*), \
                    max(extract(epoch FROM now() - e.recorded_at)::float8) \
                      FILTER (WHERE e.sequence > c.last_sequence) \
               FROM unnest($2::text[], $3::bigint[]) AS c(aggregate_id, last_sequence) \
               JOIN events e ON e.aggregate_type = $1 AND e.aggregate_id = c.aggregate_id",
        )
        .bind(aggregate_type)
        .bind(&ids)
        .bind(&sequences)
        .fetch_one(event_store)
        .await?;
        covered += events;
        older(age);
    }
    if covered < stored {
        // Some aggregates have events but no checkpoint: every one of their events is behind,
        // the first the oldest.
        let mut after = String::new();
        loop {
            let page: Vec<(String, f64)> = sqlx::query_as(
                "SELECT aggregate_id, extract(epoch FROM now() - recorded_at)::float8 \
                   FROM events WHERE aggregate_type = $1 AND aggregate_id > $2 AND sequence = 1 \
                  ORDER BY aggregate_id LIMIT $3",
            )
            .bind(aggregate_type)
            .bind(&after)
            .bind(PAGE)
            .fetch_all(event_store)
            .await?;
            let Some((last, _)) = page.last() else { break };
            after = last.clone();
            let ids: Vec<&String> = page.iter().map(|(id, _)| id).collect();
            let seen: std::collections::HashSet<String> = sqlx::query_scalar(
                "SELECT aggregate_id FROM checkpoints WHERE aggregate_id = ANY($1)",
            )
            .bind(&ids)
            .fetch_all(&mut *read_model)
            .await?
            .into_iter()
            .collect();
            for (id, age) in &page {
                if !seen.contains(id) {
                    older(Some(*age));
                }
            }
        }
    }
    Ok(oldest.unwrap_or(0.0))
}
