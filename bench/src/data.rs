//! Scratch databases for the in-process benchmarks, and stored events made in bulk: valid User
//! events (the JSON payload the aggregate folds and the protobuf envelope consumers decode,
//! personal fields sealed with each user's key as the repository seals them),
//! written with multi-row inserts instead of one command each, so millions take minutes.

use anyhow::Context;
use chrono::Utc;
use cqrs_es::persist::SerializedEvent;
use event_store::{CommandMetadata, EventContract};
use privacy::SubjectKey;
use service_kit::settings::DatabaseSettings;
use sqlx::PgPool;
use users_domain::UserEvent;
use users_domain::UsersContract;
use uuid::Uuid;

/// A database made for one benchmark and dropped after it.
pub struct Scratch {
    pub settings: DatabaseSettings,
    pub pool: PgPool,
    server: DatabaseSettings,
}

impl Scratch {
    /// Creates `bench_<what>_<pid>_<n>` on the server of `server`.
    pub async fn create(server: &DatabaseSettings, what: &str) -> anyhow::Result<Self> {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let name = format!("bench_{what}_{}_{n}", std::process::id());
        let admin = maintenance(server).await?;
        sqlx::query(&format!("DROP DATABASE IF EXISTS {name}"))
            .execute(&admin)
            .await?;
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&admin)
            .await
            .with_context(|| format!("creating the scratch database {name}"))?;
        admin.close().await;
        let settings = DatabaseSettings {
            database_name: name,
            max_connections: 40,
            ..server.clone()
        };
        let pool = settings.pool();
        Ok(Self {
            settings,
            pool,
            server: server.clone(),
        })
    }

    /// A scratch event store: the migrated schema of every command service.
    pub async fn event_store(server: &DatabaseSettings, what: &str) -> anyhow::Result<Self> {
        let scratch = Self::create(server, what).await?;
        event_store::MIGRATOR.run(&scratch.pool).await?;
        Ok(scratch)
    }

    /// Drops the database. sqlx's `Pool::close` can return while a connection it closed is
    /// still open on the server (seen once in a few runs), so our own role's sessions left on
    /// the database are terminated; autovacuum workers, which Postgres stops itself for a DROP
    /// DATABASE but which only a superuser may terminate (hence no FORCE), are waited for.
    pub async fn drop(self) -> anyhow::Result<()> {
        self.pool.close().await;
        let admin = maintenance(&self.server).await?;
        let name = &self.settings.database_name;
        let statement = format!("DROP DATABASE IF EXISTS {name}");
        let mut attempts = 0;
        loop {
            match sqlx::query(&statement).execute(&admin).await {
                Ok(_) => break,
                Err(_) if attempts < 20 => {
                    attempts += 1;
                    sqlx::query(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                          WHERE datname = $1 AND usename = current_user AND pid <> pg_backend_pid()",
                    )
                    .bind(name)
                    .execute(&admin)
                    .await?;
                    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                }
                Err(error) => {
                    return Err(anyhow::Error::new(error)
                        .context(format!("dropping the scratch database {name}")));
                }
            }
        }
        admin.close().await;
        Ok(())
    }
}

async fn maintenance(server: &DatabaseSettings) -> anyhow::Result<PgPool> {
    let settings = DatabaseSettings {
        database_name: "postgres".to_owned(),
        max_connections: 1,
        ..server.clone()
    };
    Ok(settings.pool())
}

/// The event of `aggregate`'s `sequence`-th position in a generated stream: a registration
/// first, renames after.
fn user_event(aggregate: Uuid, sequence: u64) -> UserEvent {
    if sequence == 1 {
        UserEvent::Registered {
            user_id: aggregate,
            email: format!("{aggregate}@bench.example"),
            name: "Bench User".to_owned(),
            credit_limit_cents: 100_000,
        }
    } else {
        UserEvent::Renamed {
            name: format!("Bench User {sequence}"),
        }
    }
}

/// Stores `events` User events: `per_aggregate` per user (one registration, renames), in
/// store order user after user, in inserts of 5 000 rows. `progress` is told the count so far.
pub async fn store_user_events(
    pool: &PgPool,
    events: u64,
    per_aggregate: u64,
    progress: impl Fn(u64),
) -> anyhow::Result<()> {
    const BATCH: u64 = 5_000;
    let contract = UsersContract::new("users.events");
    let metadata = CommandMetadata {
        correlation_id: "bench".to_owned(),
        causation_id: "bench".to_owned(),
        actor: "bench".to_owned(),
        traceparent: None,
        idempotency: None,
    };
    // As the store writes it (CommandMetadata's map).
    let metadata_json = serde_json::json!({
        "correlation_id": "bench", "causation_id": "bench", "actor": "bench"
    });
    let mut written = 0;
    let mut aggregate = Uuid::now_v7();
    let mut key = SubjectKey::generate()?;
    let mut sealing = SubjectKey::from_bytes(&aggregate.to_string(), &key)?;
    let mut sequence = 0;
    while written < events {
        let size = BATCH.min(events - written);
        let mut columns = Columns::default();
        let mut keys = Keys::default();
        for _ in 0..size {
            if sequence == per_aggregate {
                aggregate = Uuid::now_v7();
                key = SubjectKey::generate()?;
                sealing = SubjectKey::from_bytes(&aggregate.to_string(), &key)?;
                sequence = 0;
            }
            sequence += 1;
            if sequence == 1 {
                keys.subjects.push(aggregate.to_string());
                keys.keys.push(key.to_vec());
            }
            let event = user_event(aggregate, sequence);
            let event_type = cqrs_es::DomainEvent::event_type(&event);
            // Personal fields sealed with the user's key, as the repository stores them.
            let mut payload = serde_json::to_value(&event)?;
            let fields = users_domain::PERSONAL_DATA.fields(&event_type);
            privacy::seal_fields(&mut payload, fields, Some(&sealing))?;
            let serialized = SerializedEvent {
                aggregate_id: aggregate.to_string(),
                sequence: sequence as usize,
                aggregate_type: "user".to_owned(),
                event_type,
                event_version: "1".to_owned(),
                payload,
                metadata: metadata_json.clone(),
            };
            let event_id = Uuid::now_v7();
            let payload = contract.payload(&serialized).map_err(anyhow::Error::msg)?;
            let envelope = event_store::outbox::envelope(
                &serialized,
                event_id,
                Utc::now(),
                &metadata,
                payload,
            )
            .map_err(anyhow::Error::msg)?;
            columns.push(serialized, event_id, envelope);
        }
        sqlx::query(
            "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_id, event_type, \
                                 event_version, payload, metadata, recorded_at, envelope) \
             SELECT 'user', a, s, i, t, '1', p, m, now(), e \
               FROM unnest($1::text[], $2::bigint[], $3::uuid[], $4::text[], $5::jsonb[], \
                           $6::jsonb[], $7::bytea[]) AS u(a, s, i, t, p, m, e)",
        )
        .bind(&columns.aggregates)
        .bind(&columns.sequences)
        .bind(&columns.ids)
        .bind(&columns.types)
        .bind(&columns.payloads)
        .bind(&columns.metadata)
        .bind(&columns.envelopes)
        .execute(pool)
        .await
        .context("storing generated events")?;
        sqlx::query(
            "INSERT INTO subject_keys (subject, key) SELECT * FROM unnest($1::text[], $2::bytea[])",
        )
        .bind(&keys.subjects)
        .bind(&keys.keys)
        .execute(pool)
        .await
        .context("storing the generated users' keys")?;
        written += size;
        progress(written);
    }
    Ok(())
}

/// The keys of the users a batch begins.
#[derive(Default)]
struct Keys {
    subjects: Vec<String>,
    keys: Vec<Vec<u8>>,
}

#[derive(Default)]
struct Columns {
    aggregates: Vec<String>,
    sequences: Vec<i64>,
    ids: Vec<Uuid>,
    types: Vec<String>,
    payloads: Vec<serde_json::Value>,
    metadata: Vec<serde_json::Value>,
    envelopes: Vec<Vec<u8>>,
}

impl Columns {
    fn push(&mut self, event: SerializedEvent, id: Uuid, envelope: Vec<u8>) {
        self.aggregates.push(event.aggregate_id);
        self.sequences.push(event.sequence as i64);
        self.ids.push(id);
        self.types.push(event.event_type);
        self.payloads.push(event.payload);
        self.metadata.push(event.metadata);
        self.envelopes.push(envelope);
    }
}
