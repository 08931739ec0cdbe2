//! The CommandBus on a real Postgres with the test counter (test_support::fixture): a command
//! commits its events, outbox rows, claims and idempotency key together or nothing (invariant
//! 1); one of two commands on one version wins (invariant 2); idempotency keys answer the first
//! outcome; snapshots fold each event once.

use std::collections::HashSet;

use event_store::{CommandBus, CommandError, CommandMetadata, IdempotencyKey};
use sqlx::PgPool;
use test_support::fixture::{
    Counter, CounterCommand, CounterContract, CounterError, NAME_SCOPE, counter_bus,
};
use test_support::store::{Counts, counts};
use uuid::Uuid;

/// A fresh, migrated event store and a bus on it (no topic: nothing is relayed here).
async fn store() -> (PgPool, CommandBus<Counter>) {
    let pool = test_support::fresh_database().await.pool();
    event_store::MIGRATOR.run(&pool).await.expect("migrated");
    let bus = counter_bus(&pool, "counters.events.unused");
    (pool, bus)
}

fn keyed(key: &str, fingerprint: &str) -> CommandMetadata {
    CommandMetadata {
        idempotency: Some(IdempotencyKey {
            key: key.to_owned(),
            fingerprint: fingerprint.to_owned(),
        }),
        ..CommandMetadata::default()
    }
}

fn open(name: &str) -> CounterCommand {
    CounterCommand::Open {
        name: name.to_owned(),
    }
}

fn add(amount: i64) -> CounterCommand {
    CounterCommand::Add { amount }
}

/// Opens a counter named after its id; its id.
async fn opened(bus: &CommandBus<Counter>) -> String {
    let id = Uuid::now_v7().to_string();
    bus.execute(&id, open(&id), None, CommandMetadata::default())
        .await
        .expect("opened");
    id
}

#[tokio::test]
async fn a_committed_command_stores_each_event_with_its_outbox_row_envelope_and_metadata() {
    let (pool, bus) = store().await;
    let id = Uuid::now_v7().to_string();
    let metadata = CommandMetadata {
        correlation_id: "corr-1".into(),
        causation_id: "req-1".into(),
        actor: "admin:tester".into(),
        traceparent: Some("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".into()),
        idempotency: None,
    };
    bus.execute(&id, open("first"), None, CommandMetadata::default())
        .await
        .unwrap();
    let executed = bus
        .execute(
            &id,
            CounterCommand::AddThenRename {
                amount: 5,
                name: "second".into(),
            },
            None,
            metadata,
        )
        .await
        .unwrap();
    assert_eq!((executed.version, executed.events.len()), (3, 2));
    assert_eq!(executed.state.total, 5);

    /// Sequence, correlation id, stored envelope, published payload, headers.
    type Stored = (i64, String, Option<Vec<u8>>, Vec<u8>, serde_json::Value);
    let rows: Vec<Stored> = sqlx::query_as(
        "SELECT e.sequence, e.metadata->>'correlation_id', e.envelope, o.payload, o.headers \
         FROM events e JOIN outbox o ON o.event_id = e.event_id ORDER BY e.sequence",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(rows.len(), 3, "one outbox row per event");
    for (sequence, correlation, envelope, published, headers) in &rows[1..] {
        assert_eq!(correlation, "corr-1", "sequence {sequence}");
        assert_eq!(
            envelope.as_ref(),
            Some(published),
            "the outbox publishes the stored envelope"
        );
        assert_eq!(
            headers["traceparent"],
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
        );
    }
    let claims: Vec<String> = sqlx::query_scalar("SELECT value FROM unique_claims")
        .fetch_all(&pool)
        .await
        .unwrap();
    // A claim stores a digest of the value, never the value (ADR 0018).
    let secret = privacy::keys::ClaimSecret::load(&pool).await.unwrap();
    assert_eq!(
        claims,
        [secret.digest("second")],
        "the rename moved the claim"
    );
}

#[tokio::test]
async fn a_repeat_with_the_same_key_and_request_answers_the_first_outcome_and_writes_nothing() {
    let (pool, bus) = store().await;
    let id = opened(&bus).await;
    let first = bus
        .execute(&id, add(3), None, keyed("add-once", "request-a"))
        .await
        .unwrap();
    assert!(!first.replayed);
    assert_eq!(first.version, 2);
    // The counter moves on; the repeat still answers what the key first did.
    bus.execute(&id, add(4), None, CommandMetadata::default())
        .await
        .unwrap();
    let before = counts(&pool).await;
    for _ in 0..3 {
        let repeat = bus
            .execute(&id, add(3), None, keyed("add-once", "request-a"))
            .await
            .unwrap();
        assert!(repeat.replayed);
        assert_eq!(repeat.version, 2, "the version the first command reached");
        assert!(repeat.events.is_empty());
        assert_eq!(repeat.state.total, 7, "and the current state");
    }
    assert_eq!(counts(&pool).await, before, "repeats wrote nothing");
    assert_eq!(before.idempotency_keys, 1);
}

#[tokio::test]
async fn the_same_key_for_another_request_is_refused_whatever_the_aggregate() {
    let (pool, bus) = store().await;
    let id = opened(&bus).await;
    let other = opened(&bus).await;
    bus.execute(&id, add(1), None, keyed("k-1", "request-a"))
        .await
        .unwrap();
    let before = counts(&pool).await;
    for target in [&id, &other] {
        let refused = bus
            .execute(target, add(1), None, keyed("k-1", "request-b"))
            .await
            .unwrap_err();
        assert!(
            matches!(&refused, CommandError::IdempotencyKeyReused { key } if key == "k-1"),
            "{refused:?}"
        );
    }
    assert_eq!(counts(&pool).await, before);
}

#[tokio::test]
async fn a_refused_command_records_no_key_so_its_repeat_decides_again() {
    let (pool, bus) = store().await;
    let id = opened(&bus).await;
    for _ in 0..2 {
        let refused = bus
            .execute(&id, add(0), None, keyed("k-late", "request-a"))
            .await
            .unwrap_err();
        assert!(
            matches!(refused, CommandError::Rejected(CounterError::NotPositive)),
            "{refused:?}"
        );
    }
    assert_eq!(counts(&pool).await.idempotency_keys, 0);
    let later = bus
        .execute(&id, add(2), None, keyed("k-late", "request-b"))
        .await
        .unwrap();
    assert!(
        !later.replayed,
        "the unrecorded key is free for a new request"
    );
}

#[tokio::test]
async fn racing_repeats_of_one_key_have_one_effect_and_all_name_the_same_aggregate() {
    let (pool, bus) = store().await;
    // Like a creating command whose id the server picks: each repeat picks another.
    let attempts = (0..8).map(|_| {
        let bus = &bus;
        async move {
            let id = Uuid::now_v7().to_string();
            bus.execute(&id, open(&id), None, keyed("open-once", "request-a"))
                .await
        }
    });
    let outcomes = futures::future::join_all(attempts).await;
    let executed: Vec<_> = outcomes
        .into_iter()
        .map(|outcome| outcome.expect("every repeat succeeds"))
        .collect();
    let ids: HashSet<&str> = executed.iter().map(|e| e.aggregate_id.as_str()).collect();
    assert_eq!(ids.len(), 1, "every repeat names the first one's counter");
    assert_eq!(
        executed.iter().filter(|e| !e.replayed).count(),
        1,
        "exactly one ran"
    );
    assert!(executed.iter().all(|e| e.version == 1));
    let after = counts(&pool).await;
    assert_eq!(
        (
            after.events,
            after.outbox,
            after.claims,
            after.idempotency_keys
        ),
        (1, 1, 1, 1)
    );
}

#[tokio::test]
async fn an_expected_version_that_is_not_current_is_refused_with_the_actual_one() {
    let (pool, bus) = store().await;
    let id = opened(&bus).await;
    let before = counts(&pool).await;
    let stale = bus
        .execute(&id, add(1), Some(5), CommandMetadata::default())
        .await
        .unwrap_err();
    assert!(
        matches!(
            stale,
            CommandError::VersionMismatch {
                expected: 5,
                actual: 1
            }
        ),
        "{stale:?}"
    );
    assert_eq!(counts(&pool).await, before);
    let current = bus
        .execute(&id, add(1), Some(1), CommandMetadata::default())
        .await
        .unwrap();
    assert_eq!(current.version, 2);
}

#[tokio::test]
async fn concurrent_commands_on_one_version_let_exactly_one_win() {
    let (pool, bus) = store().await;
    let id = opened(&bus).await;
    let outcomes = futures::future::join_all((0..12).map(|_| {
        let (bus, id) = (&bus, &id);
        async move {
            bus.execute(id, add(1), Some(1), CommandMetadata::default())
                .await
        }
    }))
    .await;
    assert_eq!(outcomes.iter().filter(|o| o.is_ok()).count(), 1);
    for outcome in &outcomes {
        assert!(
            matches!(
                outcome,
                Ok(_) | Err(CommandError::Concurrent | CommandError::VersionMismatch { .. })
            ),
            "{outcome:?}"
        );
    }
    let after = counts(&pool).await;
    assert_eq!((after.events, after.outbox), (2, 2), "one event was added");
}

#[tokio::test]
async fn concurrent_writers_without_an_expected_version_never_lose_an_update() {
    let (pool, bus) = store().await;
    let id = opened(&bus).await;
    let outcomes = futures::future::join_all((0..12).map(|_| {
        let (bus, id) = (&bus, &id);
        async move {
            bus.execute(id, add(1), None, CommandMetadata::default())
                .await
        }
    }))
    .await;
    let won = outcomes.iter().filter(|o| o.is_ok()).count() as i64;
    assert!(won >= 1);
    assert!(
        outcomes
            .iter()
            .all(|o| matches!(o, Ok(_) | Err(CommandError::Concurrent))),
        "only wins and conflicts: {outcomes:?}"
    );
    let (state, version) = bus.load(&id).await.unwrap();
    assert_eq!(state.total, won, "every win counted, every conflict not");
    let sequences: Vec<i64> = sqlx::query_scalar("SELECT sequence FROM events ORDER BY sequence")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(sequences, (1..=won + 1).collect::<Vec<_>>(), "no gap");
    assert_eq!(version as i64, won + 1);
}

#[tokio::test]
async fn a_claimed_name_is_refused_to_another_counter_until_a_rename_releases_it() {
    let (pool, bus) = store().await;
    let first = Uuid::now_v7().to_string();
    bus.execute(&first, open("shared"), None, CommandMetadata::default())
        .await
        .unwrap();
    let second = Uuid::now_v7().to_string();
    let taken = bus
        .execute(&second, open("shared"), None, CommandMetadata::default())
        .await
        .unwrap_err();
    let CommandError::ClaimTaken(taken) = taken else {
        panic!("not ClaimTaken: {taken:?}");
    };
    let secret = privacy::keys::ClaimSecret::load(&pool).await.unwrap();
    assert_eq!(
        (taken.scope.as_str(), taken.value.as_str()),
        (NAME_SCOPE, secret.digest("shared").as_str()),
        "the error names the digest, never the value"
    );
    assert_eq!(
        counts(&pool).await.events,
        1,
        "the refused open wrote nothing"
    );

    bus.execute(
        &first,
        CounterCommand::Rename {
            name: "other".into(),
        },
        None,
        CommandMetadata::default(),
    )
    .await
    .unwrap();
    bus.execute(&second, open("shared"), None, CommandMetadata::default())
        .await
        .expect("the released name is free");
    let mut owners: Vec<(String, String)> =
        sqlx::query_as("SELECT value, owner_id FROM unique_claims")
            .fetch_all(&pool)
            .await
            .unwrap();
    owners.sort();
    let secret = privacy::keys::ClaimSecret::load(&pool).await.unwrap();
    let mut expected = [
        (secret.digest("other"), first),
        (secret.digest("shared"), second),
    ];
    expected.sort();
    assert_eq!(owners, expected);
}

#[tokio::test]
async fn concurrent_claims_of_one_name_let_exactly_one_win() {
    let (pool, bus) = store().await;
    let outcomes = futures::future::join_all((0..10).map(|_| {
        let bus = &bus;
        async move {
            let id = Uuid::now_v7().to_string();
            bus.execute(&id, open("twin"), None, CommandMetadata::default())
                .await
        }
    }))
    .await;
    assert_eq!(outcomes.iter().filter(|o| o.is_ok()).count(), 1);
    assert!(
        outcomes
            .iter()
            .all(|o| matches!(o, Ok(_) | Err(CommandError::ClaimTaken(_)))),
        "{outcomes:?}"
    );
    let after = counts(&pool).await;
    assert_eq!((after.events, after.outbox, after.claims), (1, 1, 1));
}

#[tokio::test]
async fn a_refused_command_writes_no_event_outbox_row_claim_or_key() {
    let (pool, bus) = store().await;
    let id = opened(&bus).await;
    let other = Uuid::now_v7().to_string();
    bus.execute(&other, open("taken"), None, CommandMetadata::default())
        .await
        .unwrap();
    let before = counts(&pool).await;
    let refusals: Vec<(&str, CounterCommand, Option<u64>)> = vec![
        ("rejected by the aggregate", add(-1), None),
        ("at another version", add(1), Some(7)),
        ("a name that is taken", open("taken"), None),
        (
            // The addition is fine; the rename after it in the same command is not.
            "the second event's claim is taken",
            CounterCommand::AddThenRename {
                amount: 1,
                name: "taken".into(),
            },
            None,
        ),
    ];
    for (n, (why, command, expected)) in refusals.into_iter().enumerate() {
        let target = if why == "a name that is taken" {
            Uuid::now_v7().to_string()
        } else {
            id.clone()
        };
        let key = keyed(&format!("refused-{n}"), "request");
        let outcome = bus.execute(&target, command, expected, key).await;
        assert!(outcome.is_err(), "{why}: {outcome:?}");
        assert_eq!(counts(&pool).await, before, "{why} wrote nothing");
    }
    let (state, version) = bus.load(&id).await.unwrap();
    assert_eq!((state.total, version), (0, 1));
}

#[tokio::test]
async fn snapshots_fold_each_event_exactly_once() {
    let (pool, bus) = store().await;
    let id = opened(&bus).await;
    // 45 additions of 1..=45 cross the snapshot boundaries at sequences 20 and 40.
    for amount in 1..=45 {
        bus.execute(&id, add(amount), None, CommandMetadata::default())
            .await
            .unwrap();
    }
    let (last_sequence, payload): (i64, serde_json::Value) =
        sqlx::query_as("SELECT last_sequence, payload FROM snapshots")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(last_sequence, 40);
    assert_eq!(
        payload["total"],
        (1..=39).sum::<i64>(),
        "the snapshot at sequence 40 holds the first 39 additions"
    );
    let Counts { snapshots, .. } = counts(&pool).await;
    assert_eq!(snapshots, 1, "one snapshot per aggregate, moved forward");
    // A bus of its own loads from the snapshot plus the events after it.
    let fresh = counter_bus(&pool, "counters.events.unused");
    let (state, version) = fresh.load(&id).await.unwrap();
    assert_eq!((state.total, version), ((1..=45).sum::<i64>(), 46));
}

#[tokio::test]
async fn a_command_whose_events_cross_a_boundary_snapshots_only_up_to_it() {
    let (pool, bus) = store().await;
    let id = opened(&bus).await;
    for _ in 2..=19 {
        bus.execute(&id, add(1), None, CommandMetadata::default())
            .await
            .unwrap();
    }
    // Events 20 (the addition) and 21 (the rename) in one command: the snapshot is taken at
    // 20, with the addition and without the rename.
    let both = CounterCommand::AddThenRename {
        amount: 100,
        name: "renamed".into(),
    };
    let executed = bus
        .execute(&id, both, None, CommandMetadata::default())
        .await
        .unwrap();
    assert_eq!(executed.version, 21);
    let (last_sequence, version, payload) = snapshot_of(&pool, &id).await;
    assert_eq!((last_sequence, version), (20, 1));
    assert_eq!(payload["total"], 18 + 100);
    assert_eq!(
        payload["name"],
        id.as_str(),
        "event 21, the rename, is not in the snapshot at 20"
    );
    // Ten more commands of two events each reach 40 and 41: the next snapshot folds 19 of them.
    for n in 0..10 {
        let pair = CounterCommand::AddThenRename {
            amount: 1,
            name: format!("again {n}"),
        };
        bus.execute(&id, pair, None, CommandMetadata::default())
            .await
            .unwrap();
    }
    let (last_sequence, version, payload) = snapshot_of(&pool, &id).await;
    assert_eq!((last_sequence, version), (40, 2));
    assert_eq!(
        payload["name"], "again 8",
        "event 41, the last rename, is not in it"
    );
    let fresh = counter_bus(&pool, "counters.events.unused");
    let (state, version) = fresh.load(&id).await.unwrap();
    assert_eq!(
        (state.total, state.name.as_str(), version),
        (18 + 100 + 10, "again 9", 41)
    );
}

/// The counter's snapshot: the sequence it is folded to, its version and its payload.
async fn snapshot_of(pool: &PgPool, id: &str) -> (i64, i64, serde_json::Value) {
    sqlx::query_as(
        "SELECT last_sequence, snapshot_version, payload FROM snapshots WHERE aggregate_id = $1",
    )
    .bind(id)
    .fetch_one(pool)
    .await
    .unwrap()
}

/// A bus whose counter snapshots are of `shape`, as after a change to the counter's fields.
fn bus_of_shape(pool: &PgPool, shape: i32) -> CommandBus<Counter> {
    let contract = CounterContract::new("counters.events.unused").with_snapshot_shape(shape);
    CommandBus::new(pool.clone(), std::sync::Arc::new(contract), ())
}

/// Overwrites the counter's snapshot with one that claims `total` (which no fold gives).
async fn plant_snapshot(pool: &PgPool, id: &str, total: i64) {
    sqlx::query(
        "UPDATE snapshots SET payload = jsonb_set(payload, '{total}', to_jsonb($2::bigint)) \
         WHERE aggregate_id = $1",
    )
    .bind(id)
    .bind(total)
    .execute(pool)
    .await
    .unwrap();
}

async fn snapshot_row(pool: &PgPool, id: &str) -> (i64, i32, i64) {
    sqlx::query_as(
        "SELECT last_sequence, shape_version, (payload->>'total')::bigint FROM snapshots \
         WHERE aggregate_id = $1",
    )
    .bind(id)
    .fetch_one(pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn a_snapshot_of_another_shape_is_ignored_and_replaced_never_misread() {
    let (pool, _) = store().await;
    let old = bus_of_shape(&pool, 1);
    let id = opened(&old).await;
    for _ in 0..25 {
        old.execute(&id, add(1), None, CommandMetadata::default())
            .await
            .unwrap();
    }
    assert_eq!(snapshot_row(&pool, &id).await, (20, 1, 19));
    // The snapshot is read while the shape is the same: a planted total shows through.
    plant_snapshot(&pool, &id, 1_000).await;
    let (state, _) = bus_of_shape(&pool, 1).load(&id).await.unwrap();
    assert_eq!(
        state.total,
        1_000 + 6,
        "the snapshot and the 6 events after it"
    );

    // After a change of shape the old snapshot is not read: the counter is folded from its
    // events, whatever the snapshot says.
    let new = bus_of_shape(&pool, 2);
    let (state, version) = new.load(&id).await.unwrap();
    assert_eq!((state.total, version), (25, 26));
    // It is replaced at the next snapshot, by one of the new shape.
    for _ in 0..15 {
        new.execute(&id, add(1), None, CommandMetadata::default())
            .await
            .unwrap();
    }
    assert_eq!(snapshot_row(&pool, &id).await, (40, 2, 39));
    plant_snapshot(&pool, &id, 5_000).await;
    let (state, _) = bus_of_shape(&pool, 2).load(&id).await.unwrap();
    assert_eq!(state.total, 5_000 + 1, "the new shape's snapshot is read");
    // And a bus still on the old shape no longer reads the new one either.
    let (state, version) = bus_of_shape(&pool, 1).load(&id).await.unwrap();
    assert_eq!((state.total, version), (40, 41));
}
