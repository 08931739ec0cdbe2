//! The envelope decoder meets bytes from the network: whatever arrives, decoding answers
//! an envelope or an error, never a panic, and what decodes re-encodes to an equal envelope.

use contracts::Message;
use contracts::events::v1::EventEnvelope;
use contracts::events::v1::event_envelope::Payload;
use contracts::orders::v1::{OrderEvent, OrderItem, OrderPlaced, order_event};
use proptest::prelude::*;

fn valid() -> Vec<u8> {
    EventEnvelope {
        event_id: "01a2-event".into(),
        aggregate_type: "order".into(),
        aggregate_id: "01a2-order".into(),
        sequence: 1,
        event_type: "OrderPlaced".into(),
        schema_version: 1,
        payload: Some(Payload::Order(OrderEvent {
            event: Some(order_event::Event::Placed(OrderPlaced {
                order_id: "01a2-order".into(),
                user_id: "01a2-user".into(),
                items: vec![OrderItem {
                    sku: "BOOK-1".into(),
                    quantity: 2,
                    unit_price_cents: 1250,
                }],
                total_cents: 2500,
                currency: "EUR".into(),
            })),
        })),
        ..EventEnvelope::default()
    }
    .encode_to_vec()
}

fn decodes_without_panic(bytes: &[u8]) -> Result<(), TestCaseError> {
    // Upcasting whatever decodes never panics either.
    let _ = contracts::decode_envelope(bytes);
    if let Ok(envelope) = EventEnvelope::decode(bytes) {
        // Whatever payload it has, asking for it answers.
        let _ = envelope.user_event();
        let _ = envelope.order_event();
        let again = EventEnvelope::decode(envelope.encode_to_vec().as_slice());
        prop_assert_eq!(again.ok(), Some(envelope));
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        decodes_without_panic(&bytes)?;
    }

    #[test]
    fn a_corrupted_or_truncated_envelope_never_panics(
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..8),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut bytes = valid();
        for (at, value) in flips {
            let at = at.index(bytes.len());
            bytes[at] = value;
        }
        bytes.truncate(cut.index(bytes.len() + 1));
        decodes_without_panic(&bytes)?;
    }
}

#[test]
fn the_untouched_envelope_decodes_to_its_order_event() {
    let envelope = EventEnvelope::decode(valid().as_slice()).unwrap();
    assert!(matches!(
        envelope.order_event(),
        Ok(order_event::Event::Placed(_))
    ));
    assert!(envelope.user_event().is_err());
}
