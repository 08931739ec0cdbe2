//! Reading an aggregate's stream as it is stored, for the `/…/{id}/events` endpoints.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;
use uuid::Uuid;

use crate::error::StoreError;

/// One stored event with its metadata.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct RecordedEvent {
    /// Position of the event in its aggregate's stream, from 1.
    pub sequence: i64,
    /// Stable id of the event (also in its Kafka envelope).
    pub event_id: Uuid,
    /// Name of the event, e.g. `UserRegistered`.
    pub event_type: String,
    /// Version of the payload's schema.
    pub event_version: String,
    /// The event's data.
    pub payload: serde_json::Value,
    /// Correlation, causation, actor and trace context.
    pub metadata: serde_json::Value,
    /// When the event was committed.
    pub recorded_at: DateTime<Utc>,
}

/// The events of one aggregate in sequence order; empty when it has none.
#[tracing::instrument(skip(pool))]
pub async fn read_stream(
    pool: &PgPool,
    aggregate_type: &str,
    aggregate_id: &str,
) -> Result<Vec<RecordedEvent>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT sequence, event_id, event_type, event_version, payload, metadata, recorded_at \
         FROM events WHERE aggregate_type = $1 AND aggregate_id = $2 ORDER BY sequence",
    )
    .bind(aggregate_type)
    .bind(aggregate_id)
    .fetch_all(pool)
    .await?)
}
