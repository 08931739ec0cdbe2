//! Invariant 7 for the projector: `kill -9` between its database commit and its offset commit
//! applies nothing twice after a restart.

mod common;

use std::os::unix::process::ExitStatusExt;
use std::time::Duration;

use common::{Store, fold, reserve};
use service_kit::settings::DatabaseSettings;

fn users_query(
    store: &Store,
    read: &DatabaseSettings,
    group: &str,
    failpoint: Option<&str>,
) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_users-query"));
    command
        .envs(test_support::database_env("USERS_QUERY__DATABASE", read))
        .envs(test_support::database_env(
            "USERS_QUERY__EVENT_STORE",
            &store.database,
        ))
        .env("USERS_QUERY__HTTP__PORT", "0")
        .env("USERS_QUERY__KAFKA__BROKERS", test_support::kafka_brokers())
        .env("USERS_QUERY__TOPIC", &store.topic)
        .envs(test_support::auth::env("USERS_QUERY"))
        .env("USERS_QUERY__PROJECTOR__GROUP_ID", group)
        // Small batches, so the crash lands with work still to do after it.
        .env("USERS_QUERY__PROJECTOR__BATCH_SIZE", "5")
        .env("RUST_LOG", "warn")
        .kill_on_drop(true);
    if let Some(failpoint) = failpoint {
        command.env("USERS_QUERY__PROJECTOR__FAILPOINT", failpoint);
    }
    command
}

#[tokio::test]
async fn kill_9_between_the_database_commit_and_the_offset_commit_applies_nothing_twice() {
    let store = Store::new().await;
    let read = test_support::fresh_database().await;
    let group = format!("users-query-{}", uuid::Uuid::new_v4().simple());
    let mut users = Vec::new();
    for _ in 0..6 {
        users.push(
            store
                .user(10_000, vec![reserve(100), reserve(200), reserve(300)])
                .await,
        );
    }
    for user in &users {
        store.publish(*user, &[1, 2, 3, 4]).await;
    }

    let mut crashing = users_query(&store, &read, &group, Some("pause-after-commit"))
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let log = crashing.stdout.take().unwrap();
    test_support::wait_for_line(
        log,
        "failpoint pause-after-commit reached",
        Duration::from_secs(60),
    )
    .await;
    crashing.start_kill().unwrap();
    assert_eq!(crashing.wait().await.unwrap().signal(), Some(9));

    let pool = read.pool_with(
        read.connect_options()
            .options([("search_path", users_query::projection::SCHEMA)]),
    );
    let committed: i64 =
        sqlx::query_scalar("SELECT coalesce(sum(last_sequence), 0)::bigint FROM checkpoints")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert!(committed > 0, "the batch before the crash was committed");
    assert!(committed < 24, "the crash left work to do");

    let _restarted = users_query(&store, &read, &group, None).spawn().unwrap();
    let expected = fold(&store.pool).await;
    test_support::eventually(Duration::from_secs(60), "the read model to equal the fold of the event store", || async {
        let rows: Vec<common::Row> = sqlx::query_as(
            "SELECT id, email, name, status, credit_limit_cents, reserved_cents, version, created_at, updated_at FROM users ORDER BY id",
        )
        .fetch_all(&pool)
        .await
        .unwrap();
        (rows == expected).then_some(())
    })
    .await;
}
