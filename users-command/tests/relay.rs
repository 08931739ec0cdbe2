//! Invariant 3 for users.events: the shared invariant tests (test_support::invariants) run for
//! the Users context through the users-command binary, with User protobuf payloads. The
//! relay's own mechanics (wake-up on commit, a trace for an untraced row, a 10k backlog, a
//! broker killed under it or down at start, the backlog gauges) are tested where the relay
//! lives, in crates/outbox-relay/tests/relay.rs; a write side started while the broker is down
//! creating its topic, in crates/command-kit/tests.

mod common;

use common::Users;
use contracts::events::v1::event_envelope::Payload;
use contracts::users::v1::user_event::Event;
use test_support::invariants;

#[tokio::test]
async fn every_event_reaches_the_topic_as_a_protobuf_envelope_in_per_aggregate_order() {
    let records = invariants::every_event_reaches_the_topic_in_per_aggregate_order::<Users>().await;
    for record in &records {
        assert_eq!(record.envelope.aggregate_type, "user");
        let Some(Payload::User(user)) = &record.envelope.payload else {
            panic!("a User payload in {record:?}");
        };
        match (record.envelope.sequence, &user.event) {
            // Personal data travels sealed (ADR 0018).
            (1, Some(Event::Registered(registered))) => {
                assert_eq!(registered.user_id, record.key);
                assert_eq!(record.envelope.event_type, "UserRegistered");
                assert!(privacy::is_sealed(&registered.email), "{registered:?}");
                assert!(privacy::is_sealed(&registered.name), "{registered:?}");
            }
            (_, Some(Event::Renamed(renamed))) => {
                assert!(privacy::is_sealed(&renamed.name), "{renamed:?}");
            }
            other => panic!("unexpected event {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_relay_killed_after_the_ack_republishes_the_same_events_after_restart() {
    invariants::a_relay_killed_after_the_ack_republishes_the_same_events::<Users>().await;
}

#[tokio::test]
async fn two_relays_at_once_publish_each_event_once_in_per_aggregate_order() {
    invariants::two_relays_at_once_publish_each_event_once::<Users>().await;
}

#[tokio::test]
async fn kill_9_under_load_loses_no_acknowledged_command() {
    invariants::kill_9_under_load_loses_no_acknowledged_command::<Users>().await;
}
