//! Envelopes encoded by released code stay decodable by today's: `proto/golden/` holds one
//! encoded envelope per event type and schema version, written once when that version was
//! released and never rewritten. Each must decode to the event it was made from, and every
//! event type of the contexts' oneofs must have a sample, so a new event cannot ship without
//! one, and every version of it up to the current one. Write the missing samples of a new event version with
//! `UPDATE_GOLDEN=1 cargo nextest run -p contracts` (existing files are never overwritten).

use std::path::PathBuf;

use contracts::Message;
use contracts::events::v1::EventEnvelope;
use contracts::events::v1::event_envelope::Payload;
use contracts::orders::v1::{self as orders, order_event};
use contracts::upcast;
use contracts::users::v1::{self as users, user_event};

fn golden_dir() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from)
        .join("golden")
}

/// An envelope as the services write it, around `payload`.
fn envelope(
    aggregate_type: &str,
    event_type: &str,
    sequence: u64,
    payload: Payload,
) -> EventEnvelope {
    EventEnvelope {
        event_id: "01936f3e-0000-7000-8000-00000000e001".into(),
        aggregate_type: aggregate_type.into(),
        aggregate_id: "01936f3e-0000-7000-8000-00000000a001".into(),
        sequence,
        event_type: event_type.into(),
        schema_version: 1,
        recorded_at: Some(contracts::Timestamp {
            seconds: 1_764_806_400,
            nanos: 123_000_000,
        }),
        correlation_id: "01936f3e-0000-7000-8000-00000000c001".into(),
        causation_id: "01936f3e-0000-7000-8000-00000000d001".into(),
        actor: "admin:ops".into(),
        payload: Some(payload),
    }
}

fn at_version(version: u32, mut envelope: EventEnvelope) -> EventEnvelope {
    envelope.schema_version = version;
    envelope
}

fn user(event_type: &str, sequence: u64, event: user_event::Event) -> EventEnvelope {
    let payload = Payload::User(users::UserEvent { event: Some(event) });
    envelope("user", event_type, sequence, payload)
}

fn order(event_type: &str, sequence: u64, event: order_event::Event) -> EventEnvelope {
    let payload = Payload::Order(orders::OrderEvent { event: Some(event) });
    envelope("order", event_type, sequence, payload)
}

/// Every sample: (file name, the envelope it holds). File names are
/// `<event type>.v<schema version>.bin`.
fn samples() -> Vec<(&'static str, EventEnvelope)> {
    use order_event::Event as O;
    use user_event::Event as U;
    let order_id = "01936f3e-0000-7000-8000-00000000b001".to_owned();
    vec![
        (
            "UserRegistered.v1.bin",
            user(
                "UserRegistered",
                1,
                U::Registered(users::UserRegistered {
                    user_id: "01936f3e-0000-7000-8000-00000000a001".into(),
                    email: "ada@example.com".into(),
                    name: "Ada Lovelace".into(),
                    credit_limit_cents: 50_000,
                }),
            ),
        ),
        (
            "UserEmailChanged.v1.bin",
            user(
                "UserEmailChanged",
                2,
                U::EmailChanged(users::UserEmailChanged {
                    old_email: "ada@example.com".into(),
                    new_email: "countess@example.com".into(),
                }),
            ),
        ),
        (
            "UserRenamed.v1.bin",
            user(
                "UserRenamed",
                3,
                U::Renamed(users::UserRenamed {
                    name: "Augusta Ada King".into(),
                }),
            ),
        ),
        (
            "UserCreditLimitChanged.v1.bin",
            user(
                "UserCreditLimitChanged",
                4,
                U::CreditLimitChanged(users::UserCreditLimitChanged {
                    credit_limit_cents: 70_000,
                }),
            ),
        ),
        (
            "UserCreditReserved.v1.bin",
            user(
                "UserCreditReserved",
                5,
                U::CreditReserved(users::UserCreditReserved {
                    order_id: order_id.clone(),
                    amount_cents: 2_500,
                }),
            ),
        ),
        (
            "UserCreditReleased.v1.bin",
            user(
                "UserCreditReleased",
                6,
                U::CreditReleased(users::UserCreditReleased {
                    order_id: order_id.clone(),
                    amount_cents: 2_500,
                }),
            ),
        ),
        (
            "UserDeactivated.v1.bin",
            user(
                "UserDeactivated",
                7,
                U::Deactivated(users::UserDeactivated {
                    reason: "account closed".into(),
                }),
            ),
        ),
        (
            "UserErased.v1.bin",
            user(
                "UserErased",
                8,
                U::Erased(users::UserErased {
                    reason: "data subject's request 2026-12-04".into(),
                }),
            ),
        ),
        (
            "OrderPlaced.v1.bin",
            order(
                "OrderPlaced",
                1,
                O::Placed(orders::OrderPlaced {
                    order_id: order_id.clone(),
                    user_id: "01936f3e-0000-7000-8000-00000000a001".into(),
                    items: vec![
                        orders::OrderItem {
                            sku: "BOOK-1".into(),
                            quantity: 2,
                            unit_price_cents: 1_250,
                        },
                        orders::OrderItem {
                            sku: "PEN-7".into(),
                            quantity: 3,
                            unit_price_cents: 199,
                        },
                    ],
                    total_cents: 3_097,
                    currency: String::new(),
                }),
            ),
        ),
        (
            "OrderPlaced.v2.bin",
            at_version(
                2,
                order(
                    "OrderPlaced",
                    1,
                    O::Placed(orders::OrderPlaced {
                        order_id: order_id.clone(),
                        user_id: "01936f3e-0000-7000-8000-00000000a001".into(),
                        items: vec![orders::OrderItem {
                            sku: "BOOK-1".into(),
                            quantity: 1,
                            unit_price_cents: 1_250,
                        }],
                        total_cents: 1_250,
                        currency: "EUR".into(),
                    }),
                ),
            ),
        ),
        (
            "OrderApproved.v1.bin",
            order("OrderApproved", 2, O::Approved(orders::OrderApproved {})),
        ),
        (
            "OrderRejected.v1.bin",
            order(
                "OrderRejected",
                2,
                O::Rejected(orders::OrderRejected {
                    reason: "insufficient credit".into(),
                }),
            ),
        ),
        (
            "OrderCancelled.v1.bin",
            order(
                "OrderCancelled",
                3,
                O::Cancelled(orders::OrderCancelled {
                    reason: "changed my mind".into(),
                    previous_status: "APPROVED".into(),
                }),
            ),
        ),
    ]
}

#[test]
fn every_golden_envelope_decodes_to_the_event_it_was_made_from() {
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    for (file, expected) in samples() {
        let path = golden_dir().join(file);
        if update && !path.exists() {
            std::fs::create_dir_all(golden_dir()).expect("proto/golden/");
            std::fs::write(&path, expected.encode_to_vec()).expect("a golden sample written");
        }
        let bytes = std::fs::read(&path).unwrap_or_else(|error| {
            panic!(
                "{}: {error}; a new event version needs its sample: \
                 UPDATE_GOLDEN=1 cargo nextest run -p contracts",
                path.display()
            )
        });
        let decoded = EventEnvelope::decode(bytes.as_slice())
            .unwrap_or_else(|error| panic!("{file} no longer decodes: {error}"));
        assert_eq!(decoded, expected, "{file} decodes to another event");
        assert_eq!(
            format!("{}.v{}.bin", decoded.event_type, decoded.schema_version),
            file,
            "a sample is named for its event type and version"
        );
    }
}

#[test]
fn every_event_type_of_the_contexts_has_a_golden_sample() {
    // The oneof members of UserEvent and OrderEvent, as the descriptors list them:
    // `cqrs.users.v1.UserEvent.registered = 1 cqrs.users.v1.UserRegistered oneof event`.
    let event_types: Vec<String> = contracts::schema_summary()
        .into_iter()
        .filter(|line| {
            line.ends_with(" oneof event")
                && (line.starts_with("cqrs.users.v1.UserEvent.")
                    || line.starts_with("cqrs.orders.v1.OrderEvent."))
        })
        .map(|line| {
            let message = line.split(' ').nth(3).expect("the member's message type");
            message.rsplit('.').next().expect("a short name").to_owned()
        })
        .collect();
    assert_eq!(event_types.len(), 12, "{event_types:?}");
    let sampled: Vec<&str> = samples().iter().map(|(file, _)| *file).collect();
    for event_type in event_types {
        let current = upcast::current_version(upcast::ENVELOPE_STEPS, &event_type);
        for version in 1..=current {
            assert!(
                sampled.contains(&format!("{event_type}.v{version}.bin").as_str()),
                "{event_type} v{version} has no golden sample in proto/tests/golden.rs"
            );
        }
    }
}

#[test]
fn every_golden_envelope_reads_as_the_current_version_of_its_event() {
    for (file, _) in samples() {
        let bytes = std::fs::read(golden_dir().join(file)).expect("checked above");
        let read = contracts::decode_envelope(&bytes).expect("decodes");
        let current = upcast::current_version(upcast::ENVELOPE_STEPS, &read.event_type);
        assert_eq!(read.schema_version, current, "{file}");
        if let Ok(order_event::Event::Placed(placed)) = read.order_event() {
            assert_eq!(placed.currency, upcast::LEGACY_ORDER_CURRENCY, "{file}");
        }
    }
}
