//! Invariant 5: a read model rebuilt from the event store, while writes go on and queries are
//! served, equals a live one row for row.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::{QueryApp, Store, converged, reserve, spawn_command};
use futures::StreamExt;
use serde_json::Value;
use uuid::Uuid;

const USERS: usize = 500;
const EVENTS_PER_USER: usize = 100;

#[tokio::test]
async fn a_rebuild_of_50k_events_during_writes_equals_the_live_model_and_no_query_fails() {
    let store = Arc::new(Store::new().await);
    let started = Instant::now();
    let users: Vec<Uuid> = futures::stream::iter(0..USERS)
        .map(|_| {
            let store = store.clone();
            async move {
                store
                    .user(
                        1_000_000,
                        (1..EVENTS_PER_USER).map(|_| reserve(1)).collect(),
                    )
                    .await
            }
        })
        .buffer_unordered(8)
        .collect()
        .await;
    eprintln!(
        "arranged {} events in {:?}",
        USERS * EVENTS_PER_USER,
        started.elapsed()
    );
    let users = Arc::new(users);
    // The baseline is not relayed (publishing and consuming 50 000 records twice would only
    // lengthen the test): the live model takes it from the event store by a rebuild before
    // any write, and from then on both models follow the topic. Everything written during the rebuild under test goes
    // through the relay and Kafka.
    sqlx::query("DELETE FROM outbox")
        .execute(&store.pool)
        .await
        .unwrap();
    let (_command, stop_command) = spawn_command(&store).await;
    let rebuilt = QueryApp::spawn(&store).await;
    let live = QueryApp::spawn(&store).await;
    let finished = |app: &QueryApp| {
        let (client, url) = (app.client.clone(), app.url("/admin/rebuild"));
        async move {
            test_support::eventually(Duration::from_secs(600), "a rebuild to finish", || async {
                let status: Value = client.get(&url).send().await.unwrap().json().await.unwrap();
                (status["state"] != "running").then_some(status)
            })
            .await
        }
    };
    let baseline = live
        .client
        .post(live.url("/admin/rebuild"))
        .send()
        .await
        .unwrap();
    assert_eq!(baseline.status(), 202);
    assert_eq!(finished(&live).await["state"], "succeeded");
    converged(&live, &store, Duration::from_secs(60)).await;
    eprintln!("live baseline by {:?}", started.elapsed());

    let stop = Arc::new(AtomicBool::new(false));
    // Writes go on throughout the rebuild: up to 2 000 more commands.
    let writer = {
        let (store, users, stop) = (store.clone(), users.clone(), stop.clone());
        tokio::spawn(async move {
            let bus = store.bus();
            let mut written = 0;
            while !stop.load(Ordering::Relaxed) && written < 2_000 {
                let user = users[written % users.len()];
                bus.execute(&user.to_string(), reserve(1), None, Default::default())
                    .await
                    .expect("write during rebuild");
                written += 1;
            }
            written
        })
    };
    // Queries go on throughout: any 5xx or transport error is a failure.
    let (served, failures) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let reader = {
        let (client, base, users, stop) = (
            rebuilt.client.clone(),
            rebuilt.address.clone(),
            users.clone(),
            stop.clone(),
        );
        let (served, failures) = (served.clone(), failures.clone());
        tokio::spawn(async move {
            for round in 0..200_000usize {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let path = if round % 2 == 0 {
                    format!("/users/{}", users[round % users.len()])
                } else {
                    "/users?limit=20".to_owned()
                };
                match client.get(format!("{base}{path}")).send().await {
                    Ok(response) if response.status().is_server_error() => {
                        failures.fetch_add(1, Ordering::Relaxed);
                        eprintln!(
                            "{path}: {} {}",
                            response.status(),
                            response.text().await.unwrap_or_default()
                        );
                    }
                    Ok(_) => {
                        served.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(error) => {
                        failures.fetch_add(1, Ordering::Relaxed);
                        eprintln!("{path}: {error}");
                    }
                }
            }
        })
    };

    let response = rebuilt
        .client
        .post(rebuilt.url("/admin/rebuild"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let again = rebuilt
        .client
        .post(rebuilt.url("/admin/rebuild"))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 409, "one rebuild at a time");
    let saw_progress = AtomicBool::new(false);
    let status = test_support::eventually(
        Duration::from_secs(600),
        "the rebuild to finish",
        || async {
            let status: Value = rebuilt.get("/admin/rebuild").await.json().await.unwrap();
            if status["state"] == "running" && status["applied"].as_u64().unwrap_or(0) > 0 {
                saw_progress.store(true, Ordering::Relaxed);
            }
            (status["state"] != "running").then_some(status)
        },
    )
    .await;
    assert_eq!(status["state"], "succeeded", "{status}");
    assert_eq!(status["phase"], "switched");
    assert!(status["total"].as_u64().unwrap() >= (USERS * EVENTS_PER_USER) as u64);
    assert!(
        saw_progress.load(Ordering::Relaxed),
        "progress was reported while it ran"
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
        "no query failed during the rebuild and switch"
    );
    assert!(served.load(Ordering::Relaxed) > 0);
    assert!(
        served.load(Ordering::Relaxed) < 200_000,
        "the reader was still reading when the schemas were swapped"
    );

    converged(&rebuilt, &store, Duration::from_secs(600)).await;
    converged(&live, &store, Duration::from_secs(600)).await;
    assert_eq!(
        rebuilt.rows().await,
        live.rows().await,
        "rebuilt and live models are equal row for row"
    );
    stop_command.cancel();
    rebuilt.stop().await;
    live.stop().await;
}
