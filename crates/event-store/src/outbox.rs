//! The outbox's shape, shared by the writer (this store) and the relay.

use chrono::{DateTime, Utc};
use contracts::Message;
use contracts::events::v1::EventEnvelope;
use cqrs_es::persist::SerializedEvent;
use uuid::Uuid;

use crate::metadata::CommandMetadata;

/// Number of lease partitions of the outbox. Every row of an aggregate lands in the same
/// partition, and one relay at a time owns a partition. Changing it requires an empty outbox.
pub const PARTITIONS: i16 = 16;

/// Channel notified (with the partition as payload) when outbox rows are committed.
pub const NOTIFY_CHANNEL: &str = "outbox_rows";

/// Header carrying the W3C trace context.
pub const TRACEPARENT_HEADER: &str = "traceparent";

/// The lease partition of an aggregate: a stable FNV-1a hash of its id.
pub fn partition_for(aggregate_id: &str) -> i16 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in aggregate_id.as_bytes() {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    // The modulo keeps the value below PARTITIONS, so the cast cannot truncate.
    (hash % PARTITIONS as u64) as i16
}

/// Builds the wire envelope of a stored event.
pub fn envelope(
    event: &SerializedEvent,
    event_id: Uuid,
    recorded_at: DateTime<Utc>,
    metadata: &CommandMetadata,
    payload: contracts::events::v1::event_envelope::Payload,
) -> Result<Vec<u8>, String> {
    let schema_version = event.event_version.parse().map_err(|_| {
        format!(
            "event version {:?} of {} is not a number",
            event.event_version, event.event_type
        )
    })?;
    Ok(EventEnvelope {
        event_id: event_id.to_string(),
        aggregate_type: event.aggregate_type.clone(),
        aggregate_id: event.aggregate_id.clone(),
        sequence: event.sequence as u64,
        event_type: event.event_type.clone(),
        schema_version,
        recorded_at: Some(contracts::Timestamp {
            seconds: recorded_at.timestamp(),
            nanos: recorded_at.timestamp_subsec_nanos() as i32,
        }),
        correlation_id: metadata.correlation_id.clone(),
        causation_id: metadata.causation_id.clone(),
        actor: metadata.actor.clone(),
        payload: Some(payload),
    }
    .encode_to_vec())
}

/// The Kafka headers a stored event is published with: its id, its type and, when the
/// command carried one, its trace context.
pub fn headers(
    event_id: uuid::Uuid,
    event_type: &str,
    traceparent: Option<&str>,
) -> serde_json::Map<String, serde_json::Value> {
    let mut headers = serde_json::Map::new();
    headers.insert("event_id".into(), event_id.to_string().into());
    headers.insert("event_type".into(), event_type.into());
    if let Some(traceparent) = traceparent {
        headers.insert(TRACEPARENT_HEADER.into(), traceparent.into());
    }
    headers
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_is_stable_and_in_range() {
        let id = "0193a1f0-0000-7000-8000-000000000001";
        assert_eq!(partition_for(id), partition_for(id));
        let spread: std::collections::HashSet<i16> = (0..1000)
            .map(|i| partition_for(&Uuid::from_u128(i).to_string()))
            .collect();
        assert!(spread.iter().all(|p| (0..PARTITIONS).contains(p)));
        assert_eq!(
            spread.len(),
            PARTITIONS as usize,
            "ids spread over every partition"
        );
    }
}
