//! Invariant 8 end to end on users-query: a User event held behind a gap is parked, and
//! `POST /admin/parked/{id}/retry` fills the gap from the Users event store (the service's
//! wiring of its event store and aggregate type). The projector runtime's own behaviour
//! (duplicates and reordering, poison, skips, retries, two instances in one group) is tested
//! with a projection of its own in crates/projector/tests/projector.rs; the admin routes' shape
//! in crates/query-kit/tests/reads.rs.

mod common;

use std::time::Duration;

use common::{QueryApp, Store, converged, reserve};
use serde_json::Value;
use test_support::eventually;

async fn parked(query: &QueryApp) -> Vec<Value> {
    let body: Value = query.get("/admin/parked").await.json().await.unwrap();
    body["items"].as_array().unwrap().clone()
}

#[tokio::test]
async fn a_gap_that_never_fills_parks_its_aggregate_only_and_a_retry_fills_it_from_the_event_store()
{
    let store = Store::new().await;
    let gapped = store
        .user(1_000, vec![reserve(10), reserve(20), reserve(30)])
        .await;
    let healthy = store.user(1_000, vec![reserve(40)]).await;
    let query = QueryApp::spawn_with(&store, |s| s.projector.gap_timeout_ms = 300).await;
    store.publish(gapped, &[1, 2, 4]).await;
    let parked_events = eventually(Duration::from_secs(60), "the gap to be parked", || async {
        let parked = parked(&query).await;
        (!parked.is_empty()).then_some(parked)
    })
    .await;
    assert_eq!(parked_events.len(), 1);
    assert_eq!(parked_events[0]["sequence"], 4);
    assert!(
        parked_events[0]["reason"]
            .as_str()
            .unwrap()
            .contains("gap: sequence 3"),
        "{parked_events:?}"
    );
    // Another user's events still flow.
    store.publish(healthy, &[1, 2]).await;
    assert_eq!(query.user_at(healthy, 2).await["reserved_cents"], 40);
    // The blocked aggregate is held, even for events that would fit.
    let gapped_view: Value = query
        .get(&format!("/users/{gapped}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        gapped_view["version"], 2,
        "never skipped past the missing sequence"
    );

    let retried: Value = query
        .client
        .post(query.url(&format!("/admin/parked/{}/retry", parked_events[0]["id"])))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(retried["filled_from_store"], 1, "{retried}");
    assert_eq!(retried["applied"], 1);
    assert_eq!(retried["still_parked"], 0);
    assert_eq!(query.user_at(gapped, 4).await["reserved_cents"], 60);
    assert!(parked(&query).await.is_empty());
    converged(&query, &store, Duration::from_secs(10)).await;
    query.stop().await;
}
