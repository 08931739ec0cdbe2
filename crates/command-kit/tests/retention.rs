//! Idempotency keys past their keep time are purged by the command services' retention task
//! while commands with new keys commit beside it, by two purgers at once (two replicas): every
//! old key goes exactly once, every new one stays and still answers its first outcome, and a
//! round is bounded.

use std::time::Duration;

use event_store::{CommandBus, CommandMetadata, IdempotencyKey};
use service_kit::retention::{self, RetentionSettings};
use sqlx::PgPool;
use test_support::fixture::{Counter, CounterCommand, counter_bus};
use uuid::Uuid;

const KEYS: usize = 150;
const KEEP: Duration = Duration::from_secs(7 * 24 * 3_600);

fn keyed(key: String) -> CommandMetadata {
    CommandMetadata {
        idempotency: Some(IdempotencyKey {
            fingerprint: format!("request {key}"),
            key,
        }),
        ..CommandMetadata::default()
    }
}

async fn add(bus: &CommandBus<Counter>, counter: Uuid, key: String) -> (u64, bool) {
    let executed = bus
        .execute(
            &counter.to_string(),
            CounterCommand::Add { amount: 1 },
            None,
            keyed(key),
        )
        .await
        .expect("add");
    (executed.version, executed.replayed)
}

async fn keys(pool: &PgPool, prefix: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM idempotency_keys WHERE idempotency_key LIKE $1")
        .bind(format!("{prefix}%"))
        .fetch_one(pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn keys_past_their_keep_time_are_purged_under_concurrent_commands_and_new_ones_stay() {
    let pool = test_support::fresh_database().await.pool();
    event_store::MIGRATOR.run(&pool).await.expect("migrated");
    let bus = counter_bus(&pool, "counters.events.unused");
    let counter = test_support::fixture::open_counters(&bus, 1, 0, 1).await[0];
    for i in 0..KEYS {
        add(&bus, counter, format!("old-{i}")).await;
    }
    // Recorded eight days ago, and one just inside the keep time.
    sqlx::query("UPDATE idempotency_keys SET recorded_at = now() - interval '8 days'")
        .execute(&pool)
        .await
        .unwrap();
    add(&bus, counter, "kept".into()).await;
    sqlx::query(
        "UPDATE idempotency_keys SET recorded_at = now() - interval '6 days 23 hours' \
         WHERE idempotency_key = 'kept'",
    )
    .execute(&pool)
    .await
    .unwrap();

    let purge = [command_kit::idempotency_keys_purge(KEEP)];
    let settings = RetentionSettings {
        batch_size: 7,
        max_batches: 3,
        ..RetentionSettings::default()
    };
    // A round is bounded: three statements of seven rows, and it says more is left.
    let first = retention::round(&pool, &purge, &settings).await.unwrap();
    assert_eq!((first[0].rows, first[0].more), (21, true));

    // Two replicas purge in rounds while new keys commit.
    let purger = || async {
        let mut purged = 0;
        for _ in 0..100 {
            purged += retention::round(&pool, &purge, &settings).await.unwrap()[0].rows;
            if keys(&pool, "old-").await == 0 {
                break;
            }
        }
        purged
    };
    let writer = async {
        for i in 0..KEYS {
            add(&bus, counter, format!("new-{i}")).await;
        }
    };
    let (a, b, ()) = tokio::join!(purger(), purger(), writer);
    assert_eq!(21 + a + b, KEYS as u64, "each old key purged once");
    assert_eq!(keys(&pool, "old-").await, 0);
    assert_eq!(keys(&pool, "new-").await, KEYS as i64, "no live key lost");
    assert_eq!(
        keys(&pool, "kept").await,
        1,
        "a key inside its keep time stays"
    );

    // A live key still answers its first outcome; a purged one runs its command again.
    let (version, replayed) = add(&bus, counter, "new-0".into()).await;
    assert!(replayed);
    assert_eq!(version, 1 + KEYS as u64 + 1 + 1);
    let (again, replayed) = add(&bus, counter, "old-0".into()).await;
    assert!(!replayed);
    assert_eq!(again, 1 + 2 * KEYS as u64 + 1 + 1);
}
