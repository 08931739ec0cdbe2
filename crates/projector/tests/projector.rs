//! Invariants 4 and 8 for the projector runtime on the real broker, with the test counters'
//! view (test_support::fixture): each event applied once in effect whatever the deliveries, a
//! gap waited for and never skipped, poison parked with its reason without blocking other
//! aggregates, retried or skipped by an operator, and two instances sharing one group.

mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use common::{ATTEMPTS, Live, new_group};
use projector::{Projection, Skip, Skipped};
use test_support::eventually;
use test_support::fixture::{COUNTER_TYPE, CounterStore, CounterView, converged};

#[tokio::test]
async fn duplicated_and_reordered_deliveries_have_no_double_effect_and_skip_nothing() {
    let store = CounterStore::new().await;
    let counter = store.counter(4).await;
    let live = Live::start(&store).await;
    // 1, 2 twice, 4 before 3, then 3, 5, and 1 again at the end.
    store.publish(counter, &[1, 2, 2, 4, 3, 5, 1]).await;
    assert_eq!(
        live.at_version(counter, 5).await,
        (5, 5),
        "each event applied exactly once"
    );
    converged(&live.view, &store, Duration::from_secs(10)).await;
    // The trailing repeat of 1 may still be in flight once the view has converged.
    eventually(
        Duration::from_secs(10),
        "the two injected repeats to be counted (a rebalance may redeliver more)",
        || async { (live.stats.duplicates.load(Ordering::Relaxed) >= 2).then_some(()) },
    )
    .await;
    assert!(
        live.stats.pending.load(Ordering::Relaxed) >= 1,
        "4 waited for 3"
    );
    assert_eq!(live.stats.applied.load(Ordering::Relaxed), 5);
    assert!(live.parked().await.is_empty());
    live.stop().await;
}

#[tokio::test]
async fn a_gap_that_never_fills_parks_its_aggregate_only_and_a_retry_fills_it_from_the_event_store()
{
    let store = CounterStore::new().await;
    let gapped = store.counter(3).await;
    let healthy = store.counter(1).await;
    let live = Live::start_with(&store, |config| {
        config.gap_timeout = Duration::from_millis(300);
        config.housekeeping_interval = Duration::from_millis(300);
    })
    .await;
    store.publish(gapped, &[1, 2, 4]).await;
    let parked = live.parked_until(1).await;
    assert_eq!(parked[0].sequence, Some(4));
    assert!(parked[0].reason.contains("gap: sequence 3"), "{parked:?}");
    // Another counter's events still flow.
    store.publish(healthy, &[1, 2]).await;
    assert_eq!(live.at_version(healthy, 2).await, (2, 2));
    assert_eq!(
        live.row(gapped).await,
        Some((2, 2)),
        "never skipped past the missing sequence"
    );

    let retried = live.retry(&store, parked[0].id).await.expect("found");
    assert_eq!(retried.filled_from_store, 1, "{retried:?}");
    assert_eq!(retried.applied, 1);
    assert_eq!(retried.still_parked, 0);
    assert_eq!(live.at_version(gapped, 4).await, (4, 4));
    assert!(live.parked().await.is_empty());
    converged(&live.view, &store, Duration::from_secs(10)).await;
    live.stop().await;
}

#[tokio::test]
async fn a_poison_event_is_parked_with_its_reason_others_flow_and_a_retry_after_the_fix_applies_it()
{
    let store = CounterStore::new().await;
    let poisoned = store.counter(2).await;
    let other = store.counter(1).await;
    let live = Live::start(&store).await;
    store.publish(poisoned, &[1]).await;
    live.at_version(poisoned, 1).await;
    // Sequence 2 arrives corrupted, then 3 intact.
    store
        .publish_raw(poisoned, b"\xff\x00not protobuf".to_vec())
        .await;
    store.publish(poisoned, &[3]).await;
    store.publish(other, &[1, 2]).await;
    assert_eq!(
        live.at_version(other, 2).await,
        (2, 2),
        "later events of other counters are applied"
    );
    let parked = live.parked_until(2).await;
    assert!(
        parked[0].reason.starts_with("undecodable event envelope"),
        "{parked:?}"
    );
    assert_eq!(parked[0].sequence, None);
    assert!(
        parked[0].kafka_partition.is_some(),
        "where it came from is kept"
    );
    assert!(parked[1].reason.starts_with("held behind parked event"));
    assert_eq!(parked[1].sequence, Some(3));

    // A retry before the fix changes nothing.
    let before_fix = live.retry(&store, parked[0].id).await.expect("found");
    assert_eq!((before_fix.applied, before_fix.still_parked), (0, 2));
    assert_eq!(live.row(poisoned).await, Some((1, 1)));

    // The operator repairs the payload (here: the intact envelope from the store) and retries.
    let undecodable = live
        .parked()
        .await
        .into_iter()
        .find(|p| p.sequence.is_none())
        .expect("the poison is still parked, under its id")
        .id;
    live.repair(undecodable, store.envelopes(poisoned).await[1].clone())
        .await;
    let after_fix = live.retry(&store, undecodable).await.expect("found");
    assert_eq!(after_fix.applied, 2, "{after_fix:?}");
    assert_eq!(after_fix.still_parked, 0);
    assert_eq!(live.at_version(poisoned, 3).await, (3, 3));
    converged(&live.view, &store, Duration::from_secs(10)).await;
    assert!(
        live.retry(&store, 999_999).await.is_none(),
        "no such parked event"
    );
    live.stop().await;
}

#[tokio::test]
async fn skipping_a_parked_event_gives_it_up_and_lets_the_aggregate_move_on() {
    let store = CounterStore::new().await;
    let counter = store.counter(2).await;
    let live = Live::start(&store).await;
    store.publish(counter, &[1]).await;
    live.at_version(counter, 1).await;
    // Sequence 2 arrives as another counter's event under this counter's key.
    let mut wrong = store.envelopes(counter).await[1].clone();
    let (original, other) = (counter.to_string(), uuid::Uuid::now_v7().to_string());
    let at = wrong
        .windows(original.len())
        .position(|w| w == original.as_bytes())
        .expect("the id is in the envelope");
    wrong[at..at + original.len()].copy_from_slice(other.as_bytes());
    store.publish_raw(counter, wrong).await;
    store.publish(counter, &[3]).await;
    let parked = live.parked_until(2).await;
    assert!(
        parked[0]
            .reason
            .contains("is not the envelope's aggregate id"),
        "{parked:?}"
    );
    let skip = Skip {
        by: "admin:tester",
        reason: "sent with another counter's id by a broken producer",
    };
    let skip_parked = |id: i64| {
        let store = Some((&store.pool, COUNTER_TYPE));
        projector::skip_parked(&live.view, &CounterView, id, skip, store, ATTEMPTS)
    };
    let out_of_order = skip_parked(parked[1].id).await.unwrap().expect("found");
    assert!(
        matches!(
            out_of_order,
            Skipped::NotNext {
                sequence: 3,
                next: 2
            }
        ),
        "sequence 3 cannot be skipped while 2 is missing: {out_of_order:?}"
    );
    let Skipped::Done(skipped) = skip_parked(parked[0].id).await.unwrap().expect("found") else {
        panic!("the next sequence can be skipped");
    };
    assert_eq!(skipped.applied, 1, "the event held behind it is applied");
    assert_eq!(
        live.at_version(counter, 3).await,
        (2, 3),
        "the skipped event was given up, never applied"
    );
    let listed = live.parked().await;
    assert_eq!(listed.len(), 1);
    assert_eq!(
        listed[0].status, "skipped",
        "a skip is recorded, not erased"
    );
    assert_eq!(listed[0].resolution.as_deref(), Some(skip.reason));
    assert_eq!(listed[0].resolved_by.as_deref(), Some(skip.by));
    assert!(listed[0].resolved_at.is_some());
    live.stop().await;
}

#[tokio::test]
async fn two_instances_in_one_group_share_the_partitions_and_apply_each_event_once() {
    let store = CounterStore::new().await;
    let read = test_support::fresh_database().await;
    let group = new_group();
    let first = Live::start_on(&store, &read, &group, |_| {}).await;
    let second = Live::start_on(&store, &read, &group, |_| {}).await;
    let mut counters = Vec::new();
    for _ in 0..24 {
        counters.push(store.counter(3).await);
    }
    for counter in &counters {
        store.publish(*counter, &[1, 2, 3, 4]).await;
    }
    converged(&first.view, &store, Duration::from_secs(60)).await;
    let applied = |live: &Live| live.stats.applied.load(Ordering::Relaxed);
    // The counters are bumped just after each batch commits, so they may trail the view by a
    // batch; a second application would take them past 96 and never back.
    test_support::eventually(
        Duration::from_secs(10),
        "every event applied exactly once across both",
        || async { (applied(&first) + applied(&second) == 24 * 4).then_some(()) },
    )
    .await;
    assert!(
        applied(&first) > 0 && applied(&second) > 0,
        "both instances got partitions: {} / {}",
        applied(&first),
        applied(&second)
    );
    first.stop().await;
    second.stop().await;
}

#[tokio::test]
async fn a_retry_also_applies_events_that_were_waiting_behind_the_parked_one() {
    let store = CounterStore::new().await;
    let counter = store.counter(2).await;
    let live = Live::start(&store).await;
    store.publish(counter, &[1, 3]).await;
    live.at_version(counter, 1).await;
    eventually(
        Duration::from_secs(60),
        "sequence 3 to wait behind the gap",
        || async { (live.stats.pending.load(Ordering::Relaxed) >= 1).then_some(()) },
    )
    .await;
    store.publish_raw(counter, b"garbage".to_vec()).await;
    let poison = live.parked_until(1).await.remove(0);
    live.repair(poison.id, store.envelopes(counter).await[1].clone())
        .await;
    let retried = live.retry(&store, poison.id).await.expect("found");
    assert_eq!(
        retried.applied, 2,
        "the fixed event and the one pending behind it: {retried:?}"
    );
    assert_eq!(live.at_version(counter, 3).await, (3, 3));
    live.stop().await;
}

/// The counters' view, but its first `failures` applications meet a real deadlock (SQLSTATE
/// 40P01), as two replicas' batches updating the same rows in opposite orders do.
struct Deadlocking {
    failures: std::sync::atomic::AtomicU32,
}

impl Projection for Deadlocking {
    fn schema(&self) -> &str {
        CounterView.schema()
    }

    fn ddl(&self) -> &str {
        CounterView.ddl()
    }

    async fn apply(
        &self,
        connection: &mut sqlx::PgConnection,
        event: &contracts::events::v1::EventEnvelope,
    ) -> Result<(), projector::ApplyError> {
        let left = self.failures.load(Ordering::SeqCst);
        if left > 0 {
            self.failures.store(left - 1, Ordering::SeqCst);
            sqlx::query(
                "DO $$ BEGIN RAISE EXCEPTION 'deadlock detected (injected)' \
                 USING ERRCODE = '40P01'; END $$",
            )
            .execute(&mut *connection)
            .await?;
        }
        CounterView.apply(connection, event).await
    }
}

#[tokio::test]
async fn a_deadlock_is_retried_with_its_batch_never_parked() {
    let store = CounterStore::new().await;
    let counter = store.counter(2).await;
    let read = test_support::fresh_database().await;
    // More deadlocks than an event's attempts inside one batch: before the fix, the event
    // was parked with "deadlock detected" as if it were poison.
    let projection = Deadlocking {
        failures: std::sync::atomic::AtomicU32::new(5),
    };
    let live = Live::start_projecting(&store, &read, &new_group(), |_| {}, projection).await;
    store.publish(counter, &[1, 2, 3]).await;
    assert_eq!(live.at_version(counter, 3).await, (3, 3));
    assert!(live.parked().await.is_empty(), "{:?}", live.parked().await);
    converged(&live.view, &store, Duration::from_secs(10)).await;
    live.stop().await;
}
