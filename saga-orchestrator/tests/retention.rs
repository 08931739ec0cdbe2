//! Retention of the saga log: an order's sagas go together, with their steps and
//! interventions, once its story is over and they finished past the keep time; what may still
//! be needed stays (an approved order can be cancelled, and its cancel saga needs the
//! reservation); FAILED sagas wait for an operator. Two purgers (two replicas) purge while new
//! sagas start, and nothing live is lost. Skipped parked events are purged, parked ones stay.

use std::time::Duration;

use saga_orchestrator::projection::{SagaLog, retention as sagas_purge};
use service_kit::retention::{self, Purge, RetentionSettings};
use sqlx::PgPool;
use uuid::Uuid;

const KEEP: Duration = Duration::from_secs(30 * 24 * 3_600);

/// A fresh saga log: the orchestrator's schema, through the projector runtime as it makes it.
async fn saga_log() -> PgPool {
    let database = test_support::fresh_database().await;
    let pool = database.pool_with(
        database
            .connect_options()
            .options([("search_path", saga_orchestrator::projection::SCHEMA)]),
    );
    let log = SagaLog {
        deadline: Duration::from_secs(60),
    };
    projector::ensure_schema(&pool, &log).await.expect("schema");
    pool
}

/// A saga of `order` in `state`, finished `days` ago (`None`: still running), with two steps
/// and an intervention.
async fn saga(pool: &PgPool, order: Uuid, kind: &str, state: &str, days: Option<i32>) -> Uuid {
    let id = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO sagas (id, kind, order_id, user_id, amount_cents, state, next_attempt_at, \
             deadline_at, correlation_id, started_at, updated_at, finished_at) \
         VALUES ($1, $2, $3, $4, 500, $5, now(), now(), 'c', now(), now(), \
             now() - make_interval(days => $6))",
    )
    .bind(id)
    .bind(kind)
    .bind(order)
    .bind(Uuid::now_v7())
    .bind(state)
    .bind(days)
    .execute(pool)
    .await
    .unwrap();
    for position in [1, 2] {
        sqlx::query(
            "INSERT INTO saga_steps (saga_id, position, step, started_at) \
             VALUES ($1, $2, 'reserve-credit', now())",
        )
        .bind(id)
        .bind(position)
        .execute(pool)
        .await
        .unwrap();
    }
    sqlx::query(
        "INSERT INTO saga_interventions (saga_id, at, actor, action, reason, from_state, to_state) \
         VALUES ($1, now(), 'admin:ops', 'resolve', 'by hand', 'FAILED', 'RESOLVED')",
    )
    .bind(id)
    .execute(pool)
    .await
    .unwrap();
    id
}

async fn left(pool: &PgPool, ids: &[Uuid]) -> Vec<Uuid> {
    let mut left: Vec<Uuid> = sqlx::query_scalar("SELECT id FROM sagas WHERE id = ANY($1)")
        .bind(ids)
        .fetch_all(pool)
        .await
        .unwrap();
    left.sort();
    left
}

async fn count(pool: &PgPool, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(pool).await.unwrap()
}

#[tokio::test]
async fn an_orders_sagas_are_purged_together_once_its_story_is_over_and_nothing_live_is_lost() {
    let pool = saga_log().await;
    let (place, cancel) = ("place-order", "cancel-order");
    let old = Some(40);

    let mut purged = Vec::new();
    for state in ["REJECTED", "TIMED_OUT"] {
        purged.push(saga(&pool, Uuid::now_v7(), place, state, old).await);
    }
    for (placed, cancelled) in [
        ("APPROVED", "RELEASED"),
        ("CANCELLED", "RELEASED"),
        ("RESOLVED", "RESOLVED"),
    ] {
        let order = Uuid::now_v7();
        purged.push(saga(&pool, order, place, placed, old).await);
        purged.push(saga(&pool, order, cancel, cancelled, old).await);
    }
    // Many orders over, for several batches.
    for _ in 0..60 {
        purged.push(saga(&pool, Uuid::now_v7(), place, "REJECTED", old).await);
    }

    let mut kept = vec![
        // An approved order may be cancelled any day: its cancel saga needs this one.
        saga(&pool, Uuid::now_v7(), place, "APPROVED", old).await,
        saga(&pool, Uuid::now_v7(), place, "RESOLVED", old).await,
        // An operator's work.
        saga(&pool, Uuid::now_v7(), place, "FAILED", old).await,
        // Inside the keep time.
        saga(&pool, Uuid::now_v7(), place, "REJECTED", Some(29)).await,
    ];
    for (cancelled, days) in [
        ("RELEASING_CREDIT", None),
        ("FAILED", old),
        ("RELEASED", Some(1)),
    ] {
        let order = Uuid::now_v7();
        kept.push(saga(&pool, order, place, "APPROVED", old).await);
        kept.push(saga(&pool, order, cancel, cancelled, days).await);
    }

    let purges: Vec<Purge> = vec![sagas_purge(KEEP)];
    let settings = RetentionSettings {
        batch_size: 5,
        max_batches: 2,
        ..RetentionSettings::default()
    };
    let replica = || async {
        let mut rows = 0;
        for _ in 0..50 {
            rows += retention::round(&pool, &purges, &settings).await.unwrap()[0].rows;
        }
        rows
    };
    let starting = async {
        let mut started = Vec::new();
        for _ in 0..40 {
            started.push(saga(&pool, Uuid::now_v7(), place, "RESERVING_CREDIT", None).await);
        }
        started
    };
    let (a, b, started) = tokio::join!(replica(), replica(), starting);
    assert_eq!(a + b, purged.len() as u64, "each saga purged once");
    assert!(left(&pool, &purged).await.is_empty());
    kept.extend(started);
    kept.sort();
    assert_eq!(
        left(&pool, &kept).await,
        kept,
        "nothing live or still needed purged"
    );
    // The purged sagas' steps and interventions went with them; the kept ones' stayed.
    let total = kept.len() as i64;
    assert_eq!(
        count(&pool, "SELECT count(*) FROM saga_steps").await,
        2 * total
    );
    assert_eq!(
        count(&pool, "SELECT count(*) FROM saga_interventions").await,
        total
    );
}

#[tokio::test]
async fn skipped_parked_events_are_purged_after_their_keep_time_and_parked_ones_stay() {
    let pool = saga_log().await;
    let park = |status: &'static str, days: i32| {
        let pool = pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>(
                "INSERT INTO parked_events (aggregate_id, sequence, reason, payload, attempts, \
                     status, parked_at, resolved_at) \
                 VALUES ($1, 1, 'bad', '\\x00', 3, $2, now() - make_interval(days => $3), \
                     CASE WHEN $2 = 'skipped' THEN now() - make_interval(days => $3) END) \
                 RETURNING id",
            )
            .bind(Uuid::now_v7().to_string())
            .bind(status)
            .bind(days)
            .fetch_one(&pool)
            .await
            .unwrap()
        }
    };
    let gone = park("skipped", 40).await;
    let kept = [park("skipped", 10).await, park("parked", 400).await];
    let purged = retention::round(
        &pool,
        &[query_kit::parked_events_purge(KEEP)],
        &RetentionSettings::default(),
    )
    .await
    .unwrap();
    assert_eq!((purged[0].table, purged[0].rows), ("parked_events", 1));
    let mut left: Vec<i64> = sqlx::query_scalar("SELECT id FROM parked_events ORDER BY id")
        .fetch_all(&pool)
        .await
        .unwrap();
    left.sort();
    assert!(!left.contains(&gone));
    assert_eq!(left, kept);
}
