//! Reading what is stored: an aggregate's stream, for the `/…/{id}/events` endpoints, and the
//! census of event types and versions, for the operator deciding when an upcaster can retire.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;
use uuid::Uuid;

use contracts::upcast::climb;

use crate::error::StoreError;
use crate::repository::{Reading, SubjectKeys};

/// One stored event with its metadata.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct RecordedEvent {
    /// Position of the event in its aggregate's stream, from 1.
    pub sequence: i64,
    /// Stable id of the event (also in its Kafka envelope).
    pub event_id: Uuid,
    /// Name of the event, e.g. `UserRegistered`.
    pub event_type: String,
    /// Version of the payload's schema: the current one of its type, for the payload is shown
    /// upcast (`esctl census` counts the versions as stored).
    pub event_version: String,
    /// The event's data.
    pub payload: serde_json::Value,
    /// Correlation, causation, actor and trace context.
    pub metadata: serde_json::Value,
    /// When the event was committed.
    pub recorded_at: DateTime<Utc>,
}

/// The events of one aggregate in sequence order as `reading` says (the context's: personal
/// fields opened or read as erased, each event brought to the current schema version of its
/// type); empty when it has none.
#[tracing::instrument(skip(pool, reading))]
pub async fn read_stream(
    pool: &PgPool,
    reading: Reading,
    aggregate_type: &str,
    aggregate_id: &str,
) -> Result<Vec<RecordedEvent>, StoreError> {
    let mut events: Vec<RecordedEvent> = sqlx::query_as(
        "SELECT sequence, event_id, event_type, event_version, payload, metadata, recorded_at \
         FROM events WHERE aggregate_type = $1 AND aggregate_id = $2 ORDER BY sequence",
    )
    .bind(aggregate_type)
    .bind(aggregate_id)
    .fetch_all(pool)
    .await?;
    let mut keys = SubjectKeys::default();
    for event in &mut events {
        let fields = reading.personal.fields(&event.event_type);
        reading
            .open(pool, &mut keys, aggregate_id, fields, &mut event.payload)
            .await
            .map_err(StoreError::Contract)?;
        let version = event.event_version.parse().map_err(|_| {
            StoreError::Contract(format!(
                "event {} has version {:?}, which is not a number",
                event.event_id, event.event_version
            ))
        })?;
        let reached = climb(
            reading.upcasters,
            &event.event_type,
            version,
            &mut event.payload,
        )
        .map_err(StoreError::Contract)?;
        event.event_version = reached.to_string();
    }
    Ok(events)
}

/// An event one request caused, with where its outbox row stands: what following a
/// correlation id through the pipeline starts from. Carries no payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct CorrelatedEvent {
    pub aggregate_type: String,
    pub aggregate_id: String,
    pub sequence: i64,
    pub event_id: Uuid,
    pub event_type: String,
    pub recorded_at: DateTime<Utc>,
    /// Who issued the command (`role:subject`).
    pub actor: Option<String>,
    /// The request or event that directly caused it.
    pub causation_id: Option<String>,
    /// `published` (its outbox row is gone: the broker acknowledged it), `pending` or
    /// `set_aside` (the broker kept refusing it).
    pub outbox: String,
    /// Failed publishing attempts of a row still in the outbox.
    pub outbox_attempts: Option<i32>,
    pub outbox_last_error: Option<String>,
}

/// The most events one correlation id is followed through.
pub const CORRELATED_LIMIT: i64 = 200;

/// The events stored with `correlation_id`, in the order they were recorded (at most
/// [`CORRELATED_LIMIT`]), each with its outbox row's state.
#[tracing::instrument(skip(pool))]
pub async fn correlated(
    pool: &PgPool,
    correlation_id: &str,
) -> Result<Vec<CorrelatedEvent>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT e.aggregate_type, e.aggregate_id, e.sequence, e.event_id, e.event_type,                 e.recorded_at, e.metadata ->> 'actor' AS actor,                 e.metadata ->> 'causation_id' AS causation_id,                 CASE WHEN o.event_id IS NULL THEN 'published'                      WHEN o.set_aside_at IS NOT NULL THEN 'set_aside'                      ELSE 'pending' END AS outbox,                 o.attempts AS outbox_attempts, o.last_error AS outbox_last_error          FROM events e LEFT JOIN outbox o ON o.event_id = e.event_id          WHERE e.metadata ->> 'correlation_id' = $1          ORDER BY e.recorded_at, e.position LIMIT $2",
    )
    .bind(correlation_id)
    .bind(CORRELATED_LIMIT)
    .fetch_all(pool)
    .await?)
}

/// The newest event of a store: where the store's total order ends, and when it was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct Head {
    /// The event's `position`: commit-independent, increasing, with gaps where an append
    /// rolled back (so it is no count of events).
    pub position: i64,
    pub recorded_at: DateTime<Utc>,
}

/// The store's newest event, `None` while it is empty: one probe of the position index.
pub async fn head(pool: &PgPool) -> Result<Option<Head>, StoreError> {
    Ok(
        sqlx::query_as("SELECT position, recorded_at FROM events ORDER BY position DESC LIMIT 1")
            .fetch_optional(pool)
            .await?,
    )
}

/// How many stored events one event type has at one version, and when they were recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct VersionCount {
    /// e.g. `UserRegistered`.
    pub event_type: String,
    /// The payload's schema version, e.g. `1`.
    pub event_version: String,
    /// Stored events of this type and version.
    pub events: i64,
    /// The oldest of them.
    pub first_recorded_at: DateTime<Utc>,
    /// The newest of them.
    pub last_recorded_at: DateTime<Utc>,
}

/// Every event type and version stored for `aggregate_type`, by type then version. A version
/// whose count is zero is gone from the store: the upcaster reading it can retire.
#[tracing::instrument(skip(pool))]
pub async fn version_census(
    pool: &PgPool,
    aggregate_type: &str,
) -> Result<Vec<VersionCount>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT event_type, event_version, count(*) AS events, \
                min(recorded_at) AS first_recorded_at, max(recorded_at) AS last_recorded_at \
         FROM events WHERE aggregate_type = $1 \
         GROUP BY event_type, event_version ORDER BY event_type, event_version",
    )
    .bind(aggregate_type)
    .fetch_all(pool)
    .await?)
}
