//! Looking into an event store from a test: row counts, stored events, and whether every
//! stored event reached its topic in per-aggregate order.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use sqlx::PgPool;
use uuid::Uuid;

/// Row counts of an event store's tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub events: i64,
    pub outbox: i64,
    pub claims: i64,
    pub idempotency_keys: i64,
    pub snapshots: i64,
    /// Data subjects' key rows (made with a subject's first sealed event).
    pub subject_keys: i64,
}

/// The row counts of the event store in `pool`.
pub async fn counts(pool: &PgPool) -> Counts {
    let count = |table: &'static str| async move {
        sqlx::query_scalar::<_, i64>(&format!("SELECT count(*) FROM {table}"))
            .fetch_one(pool)
            .await
            .expect("count")
    };
    Counts {
        events: count("events").await,
        outbox: count("outbox").await,
        claims: count("unique_claims").await,
        idempotency_keys: count("idempotency_keys").await,
        snapshots: count("snapshots").await,
        subject_keys: count("subject_keys").await,
    }
}

/// Every stored event as (event id, aggregate id, sequence), in commit order.
pub async fn stored_events(pool: &PgPool) -> Vec<(Uuid, String, i64)> {
    sqlx::query_as("SELECT event_id, aggregate_id, sequence FROM events ORDER BY position")
        .fetch_all(pool)
        .await
        .expect("events")
}

/// Rows waiting in the outbox.
pub async fn outbox_len(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM outbox")
        .fetch_one(pool)
        .await
        .expect("outbox count")
}

/// Waits until the outbox is empty.
pub async fn drained(pool: &PgPool, deadline: Duration) {
    crate::eventually(deadline, "the outbox to drain", || async {
        (outbox_len(pool).await == 0).then_some(())
    })
    .await;
}

/// Reads `topic` on `brokers` until every stored event is on it; checks per-aggregate order
/// and that each record carries the stored event's id, aggregate and sequence. Returns how
/// often each event id was seen.
pub async fn assert_all_on(
    brokers: &str,
    pool: &PgPool,
    topic: &str,
    deadline: Duration,
) -> HashMap<Uuid, usize> {
    let stored = stored_events(pool).await;
    let wanted: HashSet<String> = stored.iter().map(|(id, _, _)| id.to_string()).collect();
    let records = crate::read_topic_from(brokers, topic, deadline, |records| {
        let seen: HashSet<&str> = records
            .iter()
            .map(|r| r.envelope.event_id.as_str())
            .collect();
        wanted.iter().all(|id| seen.contains(id.as_str()))
    })
    .await;
    crate::assert_per_aggregate_order(&records);
    let by_id: HashMap<String, (String, i64)> = stored
        .iter()
        .map(|(id, aggregate, sequence)| (id.to_string(), (aggregate.clone(), *sequence)))
        .collect();
    let mut seen = HashMap::new();
    for record in &records {
        let (aggregate, sequence) = &by_id[&record.envelope.event_id];
        assert_eq!(
            &record.envelope.aggregate_id, aggregate,
            "event id and aggregate agree"
        );
        assert_eq!(
            record.envelope.sequence as i64, *sequence,
            "event id and sequence agree"
        );
        *seen
            .entry(
                record
                    .envelope
                    .event_id
                    .parse::<Uuid>()
                    .expect("a UUID event id"),
            )
            .or_insert(0) += 1;
    }
    seen
}

/// `assert_all_on` against the test broker.
pub async fn assert_all_on_topic(
    pool: &PgPool,
    topic: &str,
    deadline: Duration,
) -> HashMap<Uuid, usize> {
    assert_all_on(&crate::kafka_brokers(), pool, topic, deadline).await
}

/// Restarts `broker`, waits until the outbox in `pool` is drained and checks that every stored
/// event is on `topic` there, as `assert_all_on` does; how often each event was seen.
pub async fn restart_and_drain(
    broker: &crate::PrivateBroker,
    pool: &PgPool,
    topic: &str,
) -> HashMap<Uuid, usize> {
    broker.restart().await;
    drained(pool, Duration::from_secs(90)).await;
    assert_all_on(&broker.brokers(), pool, topic, Duration::from_secs(60)).await
}

/// Rows written by an earlier version of the code, committed as a fixture (see
/// `orders-domain/fixtures/`): `{"events": [...], "snapshots": [...]}`, each event with its
/// stored columns and `envelope_hex`, each snapshot with its columns and `shape_version`.
pub struct Recorded(pub serde_json::Value);

impl Recorded {
    /// Reads the fixture at `path`.
    pub fn read(path: &str) -> Self {
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
        Self(serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}")))
    }

    fn rows(&self, table: &str) -> &[serde_json::Value] {
        self.0[table].as_array().map_or(&[], Vec::as_slice)
    }

    /// The ids of the fixture's aggregates, in the order their first events were stored.
    pub fn aggregate_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = Vec::new();
        for event in self.rows("events") {
            let id = event["aggregate_id"]
                .as_str()
                .expect("aggregate_id")
                .to_owned();
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        ids
    }

    /// Inserts the fixture's events and snapshots into the migrated event store in `pool`,
    /// exactly as they were stored. With `topic`, each event's envelope is also queued in
    /// the outbox, so the relay publishes the old records to Kafka.
    pub async fn insert(&self, pool: &PgPool, topic: Option<&str>) {
        for event in self.rows("events") {
            let text = |field: &str| event[field].as_str().expect(field).to_owned();
            let envelope = hex(&text("envelope_hex"));
            let event_id: Uuid = text("event_id").parse().expect("event_id");
            sqlx::query(
                "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_id, event_type, \
                 event_version, payload, metadata, recorded_at, envelope) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::timestamptz, $10)",
            )
            .bind(text("aggregate_type"))
            .bind(text("aggregate_id"))
            .bind(event["sequence"].as_i64().expect("sequence"))
            .bind(event_id)
            .bind(text("event_type"))
            .bind(text("event_version"))
            .bind(&event["payload"])
            .bind(&event["metadata"])
            .bind(text("recorded_at"))
            .bind(&envelope)
            .execute(pool)
            .await
            .expect("a fixture event inserted");
            if let Some(topic) = topic {
                let key = text("aggregate_id");
                let headers = event_store::outbox::headers(event_id, &text("event_type"), None);
                sqlx::query(
                    "INSERT INTO outbox (partition_key, topic, message_key, payload, headers, event_id) \
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(event_store::outbox::partition_for(&key))
                .bind(topic)
                .bind(&key)
                .bind(&envelope)
                .bind(serde_json::Value::Object(headers))
                .bind(event_id)
                .execute(pool)
                .await
                .expect("a fixture outbox row inserted");
            }
        }
        for snapshot in self.rows("snapshots") {
            sqlx::query(
                "INSERT INTO snapshots (aggregate_type, aggregate_id, last_sequence, \
                 snapshot_version, payload, shape_version) VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(snapshot["aggregate_type"].as_str())
            .bind(snapshot["aggregate_id"].as_str())
            .bind(snapshot["last_sequence"].as_i64())
            .bind(snapshot["snapshot_version"].as_i64())
            .bind(&snapshot["payload"])
            .bind(snapshot["shape_version"].as_i64().map(|v| v as i32))
            .execute(pool)
            .await
            .expect("a fixture snapshot inserted");
        }
    }
}

fn hex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex"))
        .collect()
}
