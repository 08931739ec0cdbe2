//! Invariant 5 end to end on users-query: `POST /admin/rebuild` rebuilds the Users read model
//! from the Users event store equal, row for row, to the live one, which applied the same
//! events one by one (the rebuild folds whole users in memory). The rebuild itself (50 000
//! events during writes and reads, a refused switch) is tested with a projection of its own in
//! crates/projector/tests/rebuild.rs.

mod common;

use std::time::Duration;

use common::{QueryApp, Row, Store, converged, rename, reserve};
use contracts::events::v1::EventEnvelope;
use cqrs_es::persist::SerializedEvent;
use event_store::EventContract;
use projector::{ApplyError, Projection, RebuildError};
use serde_json::Value;
use sqlx::PgPool;
use users_domain::{CreditCents, Email, Reason, UserCommand, UserEvent, UsersContract};
use users_query::projection::UsersView;
use uuid::Uuid;

#[tokio::test]
async fn a_rebuild_over_http_equals_the_live_users_model_row_for_row() {
    let store = Store::new().await;
    let mut users = Vec::new();
    for n in 0..12 {
        let commands = vec![reserve(10), rename(&format!("Rebuilt {n}")), reserve(20)];
        users.push(store.user(1_000, commands).await);
    }
    // Every kind of event, so the rebuild's bulk fold of whole users meets each one.
    let reason = || Reason::parse("rebuild test").unwrap();
    let others = vec![
        UserCommand::ChangeEmail {
            email: Email::parse("changed@example.com").unwrap(),
        },
        UserCommand::ChangeCreditLimit {
            credit_limit: CreditCents::parse(5_000).unwrap(),
        },
        UserCommand::Deactivate { reason: reason() },
    ];
    users.push(store.user(1_000, others).await);
    let order_id = Uuid::now_v7();
    let erased = vec![
        UserCommand::ReserveCredit {
            order_id,
            amount: CreditCents::parse_positive(30).unwrap(),
        },
        UserCommand::Erase { reason: reason() },
        UserCommand::ReleaseCredit { order_id },
    ];
    users.push(store.user(1_000, erased).await);
    for user in &users {
        store.publish(*user, &[1, 2, 3, 4]).await;
    }
    let live = QueryApp::spawn(&store).await;
    let rebuilt = QueryApp::spawn(&store).await;
    converged(&live, &store, Duration::from_secs(60)).await;
    converged(&rebuilt, &store, Duration::from_secs(60)).await;
    // Damage that only a rebuild from the event store repairs.
    sqlx::query("UPDATE users SET reserved_cents = 0, name = 'damaged'")
        .execute(&rebuilt.pool)
        .await
        .unwrap();
    let started = rebuilt
        .client
        .post(rebuilt.url("/admin/rebuild"))
        .send()
        .await
        .unwrap();
    assert_eq!(started.status(), 202);
    let status = test_support::eventually(Duration::from_secs(60), "the rebuild", || async {
        let status: Value = rebuilt.get("/admin/rebuild").await.json().await.unwrap();
        (status["state"] != "running").then_some(status)
    })
    .await;
    assert_eq!(status["state"], "succeeded", "{status}");
    assert_eq!(status["total"], 14 * 4);
    assert_eq!(
        rebuilt.rows().await,
        live.rows().await,
        "rebuilt and live models are equal row for row"
    );
    rebuilt.stop().await;
    live.stop().await;
}

/// users_view without its bulk path, under a schema of its own: what a rebuild event by event
/// leaves, to hold the bulk path against.
struct EventByEvent(UsersView);

impl Projection for EventByEvent {
    fn schema(&self) -> &str {
        "users_by_event"
    }

    fn ddl(&self) -> &str {
        self.0.ddl()
    }

    async fn apply(
        &self,
        connection: &mut sqlx::PgConnection,
        event: &EventEnvelope,
    ) -> Result<(), ApplyError> {
        self.0.apply(connection, event).await
    }
}

/// Stores `events` as `user`'s sequences 1, 2, 3… with their envelopes as the repository
/// writes them, with no check of the domain's. The JSON payload column gets a placeholder: a
/// rebuild reads envelopes only, and jsonb cannot hold a NUL character, which an envelope
/// (bytes) can.
async fn store_raw(store: &Store, user: Uuid, events: Vec<UserEvent>) {
    let contract = UsersContract::new(&store.topic);
    for (index, event) in events.into_iter().enumerate() {
        let serialized = SerializedEvent {
            aggregate_id: user.to_string(),
            sequence: index + 1,
            aggregate_type: "user".to_owned(),
            event_type: cqrs_es::DomainEvent::event_type(&event),
            event_version: "1".to_owned(),
            payload: serde_json::to_value(&event).unwrap(),
            metadata: serde_json::json!({}),
        };
        let event_id = Uuid::now_v7();
        let payload = contract.payload(&serialized).unwrap();
        let envelope = event_store::outbox::envelope(
            &serialized,
            event_id,
            chrono::Utc::now(),
            &Default::default(),
            payload,
        )
        .unwrap();
        sqlx::query(
            "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_id, event_type, \
                                 event_version, payload, metadata, recorded_at, envelope) \
             VALUES ('user', $1, $2, $3, $4, '1', '{}', '{}', now(), $5)",
        )
        .bind(&serialized.aggregate_id)
        .bind(serialized.sequence as i64)
        .bind(event_id)
        .bind(&serialized.event_type)
        .bind(envelope)
        .execute(&store.pool)
        .await
        .unwrap();
    }
}

fn registered(user: Uuid) -> UserEvent {
    UserEvent::Registered {
        user_id: user,
        email: format!("{user}@example.com"),
        name: "Raw".to_owned(),
        credit_limit_cents: 1_000,
    }
}

fn renamed(name: &str) -> UserEvent {
    UserEvent::Renamed {
        name: name.to_owned(),
    }
}

/// What a rebuild left in `schema`'s shadow: the users, the checkpoints and the parked events.
/// Rebuilds `projection`'s model: the outcome, and how many events went through the bulk path.
async fn rebuild_counting_bulk(
    read: &PgPool,
    store: &PgPool,
    projection: &impl Projection,
) -> (Result<projector::RebuildProgress, RebuildError>, u64) {
    let bulk = std::sync::atomic::AtomicU64::new(0);
    let outcome = projector::rebuild(read, store, projection, "user", |progress| {
        bulk.store(progress.bulk, std::sync::atomic::Ordering::Relaxed);
    })
    .await;
    (outcome, bulk.into_inner())
}

async fn shadow(read: &PgPool, schema: &str) -> (Vec<Row>, Vec<(String, i64)>, Vec<Parked>) {
    let schema = format!("{schema}__rebuild");
    let rows = sqlx::query_as(&format!(
        "SELECT id, email, name, status, credit_limit_cents, reserved_cents, version, created_at, \
         updated_at FROM {schema}.users ORDER BY id"
    ))
    .fetch_all(read)
    .await
    .unwrap();
    let checkpoints = sqlx::query_as(&format!(
        "SELECT aggregate_id, last_sequence FROM {schema}.checkpoints ORDER BY aggregate_id"
    ))
    .fetch_all(read)
    .await
    .unwrap();
    let parked = sqlx::query_as(&format!(
        "SELECT aggregate_id, sequence, reason FROM {schema}.parked_events \
         ORDER BY aggregate_id, sequence"
    ))
    .fetch_all(read)
    .await
    .unwrap();
    (rows, checkpoints, parked)
}

type Parked = (String, Option<i64>, String);

#[tokio::test]
async fn a_bulk_rebuild_leaves_and_parks_exactly_what_one_event_by_event_does() {
    let store = Store::new().await;
    // Users the bulk path folds: through the bus, so sealed as in production.
    let kept = store
        .user(1_000, vec![reserve(10), rename("Folded"), reserve(20)])
        .await;
    let reason = Reason::parse("parity").unwrap();
    let erased = store.user(1_000, vec![UserCommand::Erase { reason }]).await;
    // Histories `apply` refuses somewhere, which the fold must hand back untouched.
    let before_registration = Uuid::now_v7();
    store_raw(&store, before_registration, vec![renamed("Early")]).await;
    let twice = Uuid::now_v7();
    store_raw(&store, twice, vec![registered(twice), registered(twice)]).await;
    let overflow = Uuid::now_v7();
    let huge = UserEvent::CreditReserved {
        order_id: Uuid::now_v7(),
        amount_cents: i64::MAX,
    };
    store_raw(
        &store,
        overflow,
        vec![registered(overflow), huge.clone(), huge],
    )
    .await;
    let nul = Uuid::now_v7();
    let held = vec![registered(nul), renamed("a\0b"), renamed("Held behind")];
    store_raw(&store, nul, held).await;
    // A sealed value its user's key cannot open: sealed with another key.
    let damaged = Uuid::now_v7();
    let mut connection = store.pool.acquire().await.unwrap();
    privacy::keys::sealing_key(&mut connection, &damaged.to_string())
        .await
        .unwrap();
    drop(connection);
    let stranger = privacy::SubjectKey::from_bytes(
        &damaged.to_string(),
        &privacy::SubjectKey::generate().unwrap(),
    )
    .unwrap();
    let sealed = stranger.seal("Stranger").unwrap();
    store_raw(&store, damaged, vec![registered(damaged), renamed(&sealed)]).await;

    let read = test_support::fresh_database().await;
    let pool = read.pool();
    let bulk = UsersView {
        keys: store.pool.clone(),
    };
    let by_event = EventByEvent(UsersView {
        keys: store.pool.clone(),
    });
    query_kit::migrate(&read, &bulk).await.unwrap();
    query_kit::migrate(&read, &by_event).await.unwrap();
    let mut refusals = Vec::new();
    let mut in_bulk = Vec::new();
    for outcome in [
        rebuild_counting_bulk(&pool, &store.pool, &bulk).await,
        rebuild_counting_bulk(&pool, &store.pool, &by_event).await,
    ] {
        match outcome {
            (Err(RebuildError::Unapplied { parked, .. }), bulk) => {
                refusals.push(parked);
                in_bulk.push(bulk);
            }
            (other, _) => panic!("the rebuild must refuse to switch: {other:?}"),
        }
    }
    // The two whole users went through the bulk path (without it the shadows would still be
    // equal); the wrapper has none.
    assert_eq!(in_bulk, [4 + 2, 0], "events written in bulk, each side");
    // Before registration, the second registration, the overflow, the NUL and the one held
    // behind it, the damaged value.
    assert_eq!(refusals, [6, 6]);
    let bulk_shadow = shadow(&pool, "users_view").await;
    assert_eq!(
        bulk_shadow,
        shadow(&pool, "users_by_event").await,
        "the bulk rebuild's shadow equals the event-by-event one"
    );
    let (rows, _, parked) = bulk_shadow;
    let ids: Vec<Uuid> = rows.iter().map(|row| row.0).collect();
    assert!(ids.contains(&kept) && ids.contains(&erased));
    let parked_users: std::collections::BTreeSet<String> =
        parked.iter().map(|(user, _, _)| user.clone()).collect();
    let refused = [before_registration, twice, overflow, nul, damaged];
    assert_eq!(
        parked_users,
        refused.iter().map(Uuid::to_string).collect(),
        "every refused history is parked, and only those"
    );
}
