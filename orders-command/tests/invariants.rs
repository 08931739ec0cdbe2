//! The shared invariant tests (test_support::invariants), run for the Orders context.

mod common;

use common::Orders;
use contracts::events::v1::event_envelope::Payload;
use contracts::orders::v1::order_event::Event;
use test_support::invariants;

#[tokio::test]
async fn every_event_reaches_the_topic_in_per_aggregate_order() {
    let records =
        invariants::every_event_reaches_the_topic_in_per_aggregate_order::<Orders>().await;
    for record in &records {
        assert_eq!(record.envelope.aggregate_type, "order");
        let Some(Payload::Order(order)) = &record.envelope.payload else {
            panic!("an Order payload in {record:?}");
        };
        match (record.envelope.sequence, &order.event) {
            (1, Some(Event::Placed(placed))) => {
                assert_eq!(placed.order_id, record.key);
                assert_eq!(placed.total_cents, 3_097, "computed by the service");
                assert_eq!(placed.items.len(), 2);
                assert_eq!(record.envelope.event_type, "OrderPlaced");
            }
            (2, Some(Event::Approved(_))) => {}
            (3, Some(Event::Cancelled(cancelled))) => {
                assert_eq!(cancelled.previous_status, "APPROVED");
                assert_eq!(cancelled.reason, "changed my mind");
            }
            other => panic!("unexpected event {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_relay_killed_after_the_ack_republishes_the_same_events_after_restart() {
    invariants::a_relay_killed_after_the_ack_republishes_the_same_events::<Orders>().await;
}

#[tokio::test]
async fn two_relays_at_once_publish_each_event_once_in_per_aggregate_order() {
    invariants::two_relays_at_once_publish_each_event_once::<Orders>().await;
}

#[tokio::test]
async fn kill_9_under_load_loses_no_acknowledged_command() {
    invariants::kill_9_under_load_loses_no_acknowledged_command::<Orders>().await;
}

#[tokio::test]
async fn concurrent_commands_on_the_same_version_let_exactly_one_win() {
    invariants::concurrent_commands_on_one_version_let_exactly_one_win::<Orders>().await;
}
