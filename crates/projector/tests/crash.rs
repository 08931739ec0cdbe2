//! Invariant 7 for the projector runtime: `kill -9` between its database commit and its
//! offset commit applies nothing twice after a restart.
//!
//! The projector to kill runs in a process of its own: this test binary started again to run
//! only the ignored fixture test below (test_support::fixture::fixture_process), so the runtime
//! is driven through its public API, with no service around it.

mod common;

use std::os::unix::process::ExitStatusExt;
use std::time::Duration;

use common::{Live, new_group};
use projector::{Failpoint, Projector, ProjectorConfig};
use serde_json::json;
use test_support::fixture::{
    CounterStore, CounterView, converged, database_named, fixture_args, fixture_process, view_pool,
};
use tokio_util::sync::CancellationToken;

/// Small batches, so the crash lands with work still to do after it.
const BATCH: usize = 5;

#[tokio::test]
async fn kill_9_between_the_database_commit_and_the_offset_commit_applies_nothing_twice() {
    let store = CounterStore::new().await;
    let read = test_support::fresh_database().await;
    let group = new_group();
    for _ in 0..6 {
        let counter = store.counter(3).await;
        store.publish(counter, &[1, 2, 3, 4]).await;
    }

    let mut crashing = fixture_process(
        "projector_at_the_pause_after_commit_failpoint",
        &json!({ "read": read.database_name, "topic": store.topic, "group": group }),
    )
    .spawn()
    .expect("the projector process starts");
    test_support::wait_for_line(
        crashing.stdout.take().expect("piped stdout"),
        "failpoint pause-after-commit reached",
        Duration::from_secs(60),
    )
    .await;
    crashing.start_kill().expect("kill -9");
    assert_eq!(crashing.wait().await.unwrap().signal(), Some(9));

    let view = view_pool(&read);
    let committed: i64 =
        sqlx::query_scalar("SELECT coalesce(sum(last_sequence), 0)::bigint FROM checkpoints")
            .fetch_one(&view)
            .await
            .unwrap();
    assert!(committed > 0, "the batch before the crash was committed");
    assert!(committed < 24, "the crash left work to do");

    // Same group: the restart re-reads the batch whose offsets were never committed.
    let restarted = Live::start_on(&store, &read, &group, |config| config.batch_size = BATCH).await;
    converged(&restarted.view, &store, Duration::from_secs(60)).await;
    restarted.stop().await;
}

/// Not a test: the projector process the test above kills. It projects the topic it is given
/// into the read database it is given and stops forever after its first committed batch.
#[tokio::test]
#[ignore = "a fixture, started as a process of its own by a test of this file"]
async fn projector_at_the_pause_after_commit_failpoint() {
    let Some(args) = fixture_args() else {
        return;
    };
    // The failpoint's log line on stdout is how the killing test knows when to kill.
    let _telemetry = service_kit::telemetry::init("projector-fixture");
    let arg = |name: &str| args[name].as_str().expect("a string argument").to_owned();
    let view = view_pool(&database_named(&arg("read")));
    projector::ensure_schema(&view, &CounterView)
        .await
        .expect("the view's schema");
    let kafka = kafka_client::KafkaSettings::plaintext(test_support::kafka_brokers());
    let mut config = ProjectorConfig::new(kafka, arg("topic"), arg("group"));
    config.batch_size = BATCH;
    config.failpoint = Some(Failpoint::PauseAfterCommit);
    Projector::new(view, std::sync::Arc::new(CounterView), config)
        .run(CancellationToken::new())
        .await
        .expect("the projector runs until it is killed");
}
