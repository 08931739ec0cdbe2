//! Invariant 7 for the projector: `kill -9` between its database commit and its offset commit
//! applies nothing twice after a restart.

mod common;

use std::os::unix::process::ExitStatusExt;
use std::time::Duration;

use common::{Store, fold, read_rows, users_query_binary};
use service_kit::settings::DatabaseSettings;

/// users-query in small batches, so the crash lands with work still to do after it.
fn users_query(
    store: &Store,
    read: &DatabaseSettings,
    group: &str,
    failpoint: Option<&str>,
) -> tokio::process::Command {
    let mut extra = vec![("USERS_QUERY__PROJECTOR__BATCH_SIZE", "5")];
    if let Some(failpoint) = failpoint {
        extra.push(("USERS_QUERY__PROJECTOR__FAILPOINT", failpoint));
    }
    users_query_binary(store, read, group, &extra)
}

#[tokio::test]
async fn kill_9_between_the_database_commit_and_the_offset_commit_applies_nothing_twice() {
    let store = Store::new().await;
    let read = test_support::fresh_database().await;
    let group = format!("users-query-{}", uuid::Uuid::new_v4().simple());
    store.publish_reserving_users(6).await;

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
    test_support::eventually(
        Duration::from_secs(60),
        "the read model to equal the fold of the event store",
        || async { (read_rows(&read).await.as_ref() == Some(&expected)).then_some(()) },
    )
    .await;
}
