//! Streams written before orders stated their currency (OrderPlaced version 1, snapshot shape
//! 1), as orders-command stored them at commit 8700c1c (`orders-domain/fixtures/`), load, take
//! new commands and read like streams written today.

mod common;

use common::{TestApp, bus, place_body};
use orders_domain::OrderStatus;
use serde_json::{Value, json};
use test_support::store::Recorded;
use uuid::Uuid;

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../orders-domain/fixtures/v1-streams.json"
);

/// The fixture's user, who placed all three of its orders.
const USER: &str = "0193a0c0-0000-7000-8000-00000000a11c";

#[tokio::test]
async fn an_order_stored_before_currencies_folds_to_the_state_of_one_placed_today() {
    let app = TestApp::spawn().await;
    let recorded = Recorded::read(FIXTURE);
    recorded.insert(&app.pool, None).await;
    let old = recorded.aggregate_ids()[0].clone();
    let bus = bus(&app.pool, &app.topic);

    // The snapshot of shape 1 the old code took lacks `currency`: read, it would fail.
    let (order, version) = bus.load(&old).await.expect("an old stream loads");
    assert_eq!(version, 2);
    assert_eq!(order.status(), OrderStatus::Approved);
    assert_eq!((order.currency(), order.total_cents()), ("EUR", 3_097));

    // The same order placed and approved today: the same state but for the id.
    let user: Uuid = USER.parse().unwrap();
    let new = app.place(user).await;
    let approved = app.post(&format!("/orders/{new}/approve"), json!({})).await;
    assert_eq!(approved.status(), 200);
    let (today, _) = bus.load(&new.to_string()).await.unwrap();
    let without_id = |order: &orders_domain::Order| {
        let mut value = serde_json::to_value(order).unwrap();
        value.as_object_mut().unwrap().remove("id");
        value
    };
    assert_eq!(without_id(&order), without_id(&today));

    // An old stream takes new commands; its events read at today's versions.
    let cancelled = app
        .post(
            &format!("/orders/{old}/cancel"),
            json!({ "reason": "changed my mind" }),
        )
        .await;
    assert_eq!(cancelled.status(), 200);
    let stream: Value = app
        .get(&format!("/orders/{old}/events"))
        .await
        .json()
        .await
        .unwrap();
    let events = stream["events"].as_array().unwrap();
    let versions: Vec<_> = events
        .iter()
        .map(|e| {
            (
                e["event_type"].as_str().unwrap(),
                e["event_version"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        versions,
        [
            ("OrderPlaced", "2"),
            ("OrderApproved", "1"),
            ("OrderCancelled", "1")
        ]
    );
    assert_eq!(events[0]["payload"]["currency"], "EUR");
}

#[tokio::test]
async fn the_census_counts_the_versions_as_stored() {
    let app = TestApp::spawn().await;
    Recorded::read(FIXTURE).insert(&app.pool, None).await;
    let body = place_body(USER.parse().unwrap());
    assert_eq!(app.post("/orders", body).await.status(), 202);

    let census = event_store::version_census(&app.pool, "order")
        .await
        .unwrap();
    let placed: Vec<_> = census
        .iter()
        .filter(|count| count.event_type == "OrderPlaced")
        .map(|count| (count.event_version.as_str(), count.events))
        .collect();
    assert_eq!(placed, [("1", 3), ("2", 1)], "three old, one new");
}
