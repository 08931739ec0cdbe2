//! Orders stored before they stated their currency (OrderPlaced version 1), as orders-command
//! wrote them at commit 8700c1c (`orders-domain/fixtures/`): their old envelopes, published to
//! Kafka by the relay, project beside today's, and a rebuild from the store's old envelopes
//! gives the same read model row for row.

mod common;

use common::Stack;
use test_support::store::Recorded;
use uuid::Uuid;

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../orders-domain/fixtures/v1-streams.json"
);

#[tokio::test]
async fn old_records_project_beside_new_ones_and_rebuild_the_same() {
    let stack = Stack::start(true).await;
    let recorded = Recorded::read(FIXTURE);
    recorded.insert(&stack.store, Some(&stack.topic)).await;
    let new = stack.place(Uuid::now_v7(), 2, 150).await;

    let ids: Vec<Uuid> = recorded
        .aggregate_ids()
        .iter()
        .map(|id| id.parse().unwrap())
        .collect();
    let mut seen = Vec::new();
    for id in &ids {
        let order = stack.order_at(*id, 2).await;
        seen.push((
            order["status"].as_str().unwrap().to_owned(),
            order["currency"].as_str().unwrap().to_owned(),
            order["total_cents"].as_i64().unwrap(),
        ));
    }
    let expected = |status: &str, total| (status.to_owned(), "EUR".to_owned(), total);
    assert_eq!(
        seen,
        [
            expected("APPROVED", 3_097),
            expected("REJECTED", 4_999),
            expected("CANCELLED", 3_400),
        ]
    );
    assert_eq!(stack.order_at(new, 1).await["currency"], "EUR");

    stack.caught_up().await;
    let live = stack.read_model().await;
    stack.rebuild().await;
    assert_eq!(stack.read_model().await, live, "rebuilt row for row");
}
