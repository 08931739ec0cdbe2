//! `GET /admin/projection`'s lag in seconds is the age of the oldest stored event the read
//! model has not applied, exactly: found for an aggregate held behind a parked event, for one
//! the read model has never seen, and not hidden by newer events appended after them.

use std::time::Duration;

use sqlx::PgPool;
use test_support::fresh_database;
use users_query::projection::UsersView;

/// Stores `count` events of `aggregate`, the first `age_secs` old, each next one a second newer.
async fn stored(store: &PgPool, aggregate: &str, count: i64, age_secs: i64) {
    for sequence in 1..=count {
        sqlx::query(
            "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_id, event_type, \
             event_version, payload, metadata, recorded_at) \
             VALUES ('user', $1, $2, gen_random_uuid(), 'UserRenamed', '1', '{}', '{}', \
                     now() - make_interval(secs => $3))",
        )
        .bind(aggregate)
        .bind(sequence)
        .bind((age_secs - sequence + 1) as f64)
        .execute(store)
        .await
        .unwrap();
    }
}

async fn applied_up_to(read_model: &PgPool, aggregate: &str, sequence: i64) {
    sqlx::query(
        "INSERT INTO users_view.checkpoints (aggregate_id, last_sequence) VALUES ($1, $2) \
         ON CONFLICT (aggregate_id) DO UPDATE SET last_sequence = EXCLUDED.last_sequence",
    )
    .bind(aggregate)
    .bind(sequence)
    .execute(read_model)
    .await
    .unwrap();
}

fn near(actual: f64, expected: f64) -> bool {
    (actual - expected).abs() < Duration::from_secs(30).as_secs_f64()
}

#[tokio::test]
async fn the_lag_in_seconds_is_the_age_of_the_oldest_event_not_applied() {
    let store_settings = fresh_database().await;
    let store = store_settings.pool();
    event_store::MIGRATOR.run(&store).await.unwrap();
    let read_settings = fresh_database().await;
    let view = UsersView {
        keys: store.clone(),
    };
    query_kit::migrate(&read_settings, &view).await.unwrap();
    let read_model = read_settings.pool();

    // 6 000 aggregates applied in full (more than a page of checkpoints), recorded recently.
    for index in 0..6_000 {
        let id = format!("applied-{index:05}");
        stored(&store, &id, 1, 10).await;
        applied_up_to(&read_model, &id, 1).await;
    }
    let status = || async { projector::status(&read_model, &store, &view, "user").await };
    let caught_up = status().await.unwrap();
    assert_eq!(caught_up.lag_events, 0);
    assert_eq!(caught_up.lag_seconds, 0.0);

    // An aggregate held at its first event for an hour (its second one parked), then a
    // fresh event of another aggregate the read model has not applied yet.
    stored(&store, "held", 3, 3_600).await;
    applied_up_to(&read_model, "held", 1).await;
    stored(&store, "fresh", 1, 0).await;
    let held = status().await.unwrap();
    assert_eq!(held.lag_events, 3);
    assert!(
        near(held.lag_seconds, 3_599.0),
        "the held aggregate's second event is 3 599 s old, not {}",
        held.lag_seconds
    );

    // An aggregate the read model never saw, older still; then newer events of many others
    // appended after it, which a newest-first walk would have to step over.
    stored(&store, "unseen", 2, 7_200).await;
    for index in 0..200 {
        stored(&store, &format!("late-{index}"), 1, 0).await;
    }
    let unseen = status().await.unwrap();
    assert_eq!(unseen.lag_events, 3 + 2 + 200);
    assert!(
        near(unseen.lag_seconds, 7_200.0),
        "the unseen aggregate's first event is 7 200 s old, not {}",
        unseen.lag_seconds
    );

    // Once both are applied, only the fresh events are behind.
    applied_up_to(&read_model, "held", 3).await;
    applied_up_to(&read_model, "unseen", 2).await;
    let fresh = status().await.unwrap();
    assert_eq!(fresh.lag_events, 201);
    assert!(fresh.lag_seconds < 30.0, "{}", fresh.lag_seconds);
}
