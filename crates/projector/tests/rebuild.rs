//! Invariant 5 for the projector runtime, with the test counters' view: a view rebuilt from the
//! event store while writes go on and the view is read equals a live one row for row, and a
//! rebuild that cannot apply every event is not switched in.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::Live;
use outbox_relay::{ProducerSettings, Relay, RelayConfig};
use projector::{RebuildError, RebuildProgress};
use test_support::fixture::{
    COUNTER_TYPE, CounterCommand, CounterStore, CounterView, converged, open_counters, view_rows,
};
use tokio_util::sync::CancellationToken;

const COUNTERS: usize = 500;
const EVENTS_PER_COUNTER: usize = 100;

#[tokio::test]
async fn a_rebuild_that_cannot_apply_every_event_is_not_switched_in() {
    let store = CounterStore::new().await;
    let counter = store.counter(1).await;
    let live = Live::start(&store).await;
    store.publish(counter, &[1, 2]).await;
    live.at_version(counter, 2).await;
    // An event stored before envelopes were kept cannot be replayed.
    sqlx::query("UPDATE events SET envelope = NULL WHERE sequence = 2")
        .execute(&store.pool)
        .await
        .unwrap();
    let refused = projector::rebuild(&live.view, &store.pool, &CounterView, COUNTER_TYPE, |_| {})
        .await
        .unwrap_err();
    assert!(
        matches!(refused, RebuildError::Unapplied { parked: 1, .. }),
        "{refused:?}"
    );
    assert_eq!(
        live.row(counter).await,
        Some((2, 2)),
        "the live view is untouched"
    );
    live.stop().await;
}

/// Rebuilds `live`'s view from `store`, reporting progress to `applied`.
async fn rebuild(
    live: &Live,
    store: &CounterStore,
    applied: Arc<AtomicU64>,
) -> Result<RebuildProgress, RebuildError> {
    let report = move |progress: &RebuildProgress| {
        applied.store(progress.applied, Ordering::Relaxed);
    };
    projector::rebuild(&live.view, &store.pool, &CounterView, COUNTER_TYPE, report).await
}

#[tokio::test]
async fn a_rebuild_of_50k_events_during_writes_equals_the_live_view_and_no_read_fails() {
    let store = Arc::new(CounterStore::new().await);
    let started = Instant::now();
    let counters = open_counters(&store.bus(), COUNTERS, EVENTS_PER_COUNTER - 1, 8).await;
    eprintln!(
        "arranged {} events in {:?}",
        COUNTERS * EVENTS_PER_COUNTER,
        started.elapsed()
    );
    // The baseline is not relayed (publishing and consuming 50 000 records twice would only
    // lengthen the test): the live view takes it from the event store by a rebuild before any
    // write, and from then on both views follow the topic. Everything written during the
    // rebuild under test goes through the relay and Kafka.
    sqlx::query("DELETE FROM outbox")
        .execute(&store.pool)
        .await
        .unwrap();
    let rebuilt = Live::start(&store).await;
    let live = Live::start(&store).await;
    rebuild(&live, &store, Arc::default())
        .await
        .expect("the live baseline");
    converged(&live.view, &store, Duration::from_secs(60)).await;
    eprintln!("live baseline by {:?}", started.elapsed());

    let relay_stop = CancellationToken::new();
    let producer = ProducerSettings {
        kafka: store.kafka.clone(),
        delivery_timeout: Duration::from_secs(30),
    };
    let relay = Relay::new(store.pool.clone(), producer, RelayConfig::default()).unwrap();
    let relay = tokio::spawn(relay.run(relay_stop.clone()));
    let stop = Arc::new(AtomicBool::new(false));
    // Writes go on throughout the rebuild: up to 2 000 more commands.
    let writer = {
        let (store, counters, stop) = (store.clone(), counters.clone(), stop.clone());
        tokio::spawn(async move {
            let bus = store.bus();
            let mut written = 0;
            while !stop.load(Ordering::Relaxed) && written < 2_000 {
                let counter = counters[written % counters.len()].to_string();
                let add = CounterCommand::Add { amount: 1 };
                bus.execute(&counter, add, None, Default::default())
                    .await
                    .expect("write during rebuild");
                written += 1;
            }
            written
        })
    };
    // Reads of the view being rebuilt go on throughout: any error is a failure.
    let (served, failures) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let reader = {
        let (view, counters, stop) = (rebuilt.view.clone(), counters.clone(), stop.clone());
        let (served, failures) = (served.clone(), failures.clone());
        tokio::spawn(async move {
            for round in 0..200_000usize {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let read = if round % 2 == 0 {
                    sqlx::query("SELECT id, events, version FROM counters WHERE id = $1")
                        .bind(counters[round % counters.len()].to_string())
                        .fetch_all(&view)
                        .await
                } else {
                    sqlx::query("SELECT id, events, version FROM counters ORDER BY id LIMIT 20")
                        .fetch_all(&view)
                        .await
                };
                match read {
                    Ok(_) => served.fetch_add(1, Ordering::Relaxed),
                    Err(error) => {
                        eprintln!("read failed: {error}");
                        failures.fetch_add(1, Ordering::Relaxed)
                    }
                };
            }
        })
    };

    let applied = Arc::new(AtomicU64::new(0));
    let running = {
        let (store, view, applied) = (store.clone(), rebuilt.view.clone(), applied.clone());
        tokio::spawn(async move {
            let report = move |progress: &RebuildProgress| {
                applied.store(progress.applied, Ordering::Relaxed);
            };
            projector::rebuild(&view, &store.pool, &CounterView, COUNTER_TYPE, report).await
        })
    };
    test_support::eventually(
        Duration::from_secs(120),
        "the rebuild to report progress",
        || async { (applied.load(Ordering::Relaxed) > 0).then_some(()) },
    )
    .await;
    let again = rebuild(&rebuilt, &store, Arc::default()).await;
    assert!(
        matches!(again, Err(RebuildError::AlreadyRunning(_))),
        "one rebuild at a time: {again:?}"
    );
    let finished = running.await.unwrap().expect("the rebuild succeeds");
    assert_eq!(finished.phase, "switched");
    assert!(finished.total >= (COUNTERS * EVENTS_PER_COUNTER) as u64);
    assert!(
        finished.bulk >= (COUNTERS * EVENTS_PER_COUNTER) as u64,
        "the events stored before it began went through the bulk path: {finished:?}"
    );

    stop.store(true, Ordering::Relaxed);
    let written = writer.await.unwrap();
    reader.await.unwrap();
    eprintln!(
        "rebuild took until {:?}; {written} writes and {} reads during it",
        started.elapsed(),
        served.load(Ordering::Relaxed)
    );
    assert_eq!(
        failures.load(Ordering::Relaxed),
        0,
        "no read failed during the rebuild and switch"
    );
    assert!(served.load(Ordering::Relaxed) > 0);
    assert!(
        served.load(Ordering::Relaxed) < 200_000,
        "the reader was still reading when the schemas were swapped"
    );

    converged(&rebuilt.view, &store, Duration::from_secs(600)).await;
    converged(&live.view, &store, Duration::from_secs(600)).await;
    assert_eq!(
        view_rows(&rebuilt.view).await,
        view_rows(&live.view).await,
        "rebuilt and live views are equal row for row"
    );
    relay_stop.cancel();
    relay.await.unwrap().unwrap();
    rebuilt.stop().await;
    live.stop().await;
}
