//! Reading an event of any schema version as the current one.
//!
//! An event type's schema version rises when the meaning of its payload changes in a way a
//! reader must know about, e.g. a field that was implied before and is stated now. Each rise is
//! a [`Step`] from one version to the next, and a reader climbs an old event up the steps to
//! the current version before it looks at it. The same mechanism serves both forms an event
//! takes: the protobuf envelope on Kafka and in `events.envelope` ([`envelope`], with the steps
//! below), and the JSON payload the event store folds aggregates from (steps kept beside each
//! context's aggregate, e.g. `orders_domain::UPCASTERS`).
//!
//! docs/adr/0016-event-schema-evolution.md says how to make the next change.

use crate::events::v1::EventEnvelope;
use crate::events::v1::event_envelope::Payload;
use crate::orders::v1::order_event;

/// One rise of an event type's schema version: `apply` turns a `T` of `from_version` into one of
/// `from_version + 1`. It must be pure and must accept anything the older version's writers
/// could have written.
pub struct Step<T: 'static> {
    /// e.g. `OrderPlaced`.
    pub event_type: &'static str,
    /// The version this step reads.
    pub from_version: u32,
    /// The change.
    pub apply: fn(&mut T) -> Result<(), String>,
}

/// The version `event_type` is written at today: 1 plus the steps it has climbed.
pub fn current_version<T>(steps: &[Step<T>], event_type: &str) -> u32 {
    1 + steps
        .iter()
        .filter(|step| step.event_type == event_type)
        .count() as u32
}

/// Applies to `target` every step of `event_type` from `version` on, and answers the version
/// reached. A version beyond the last step (written by newer code) is left as it is.
pub fn climb<T>(
    steps: &[Step<T>],
    event_type: &str,
    mut version: u32,
    target: &mut T,
) -> Result<u32, String> {
    while let Some(step) = steps
        .iter()
        .find(|step| step.event_type == event_type && step.from_version == version)
    {
        (step.apply)(target)
            .map_err(|error| format!("{event_type} v{version} cannot be upcast: {error}"))?;
        version += 1;
    }
    Ok(version)
}

/// The currency every order was in before orders stated one (OrderPlaced version 1).
pub const LEGACY_ORDER_CURRENCY: &str = "EUR";

/// The steps of the wire form, oldest first.
pub const ENVELOPE_STEPS: &[Step<EventEnvelope>] = &[Step {
    event_type: "OrderPlaced",
    from_version: 1,
    apply: order_placed_states_its_currency,
}];

/// OrderPlaced v1 → v2: the currency, implied before, is stated.
fn order_placed_states_its_currency(envelope: &mut EventEnvelope) -> Result<(), String> {
    match &mut envelope.payload {
        Some(Payload::Order(order)) => match &mut order.event {
            Some(order_event::Event::Placed(placed)) => {
                if placed.currency.is_empty() {
                    placed.currency = LEGACY_ORDER_CURRENCY.to_owned();
                }
                Ok(())
            }
            _ => Err("the payload is not an OrderPlaced".into()),
        },
        _ => Err("the payload is not an Order event".into()),
    }
}

/// Brings `envelope` to the current schema version of its event type. An envelope whose
/// payload does not fit its declared type and version is left unchanged for its reader to
/// refuse (a projector parks it), and the reason is answered.
pub fn envelope(envelope: &mut EventEnvelope) -> Result<(), String> {
    let mut upcast = envelope.clone();
    let version = climb(
        ENVELOPE_STEPS,
        &envelope.event_type,
        envelope.schema_version,
        &mut upcast,
    )?;
    upcast.schema_version = version;
    *envelope = upcast;
    Ok(())
}

/// Decodes an envelope and brings it to the current schema version: what every reader of
/// Kafka records or stored envelopes calls. A payload that does not fit its version decodes
/// as it is (see [`envelope`]).
pub fn decode_envelope(bytes: &[u8]) -> Result<EventEnvelope, prost::DecodeError> {
    use prost::Message;
    let mut decoded = EventEnvelope::decode(bytes)?;
    // A mismatch between payload and type is the reader's to report, with the event in hand.
    let _ = envelope(&mut decoded);
    Ok(decoded)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::orders::v1 as orders;

    fn placed(version: u32, currency: &str) -> EventEnvelope {
        EventEnvelope {
            event_type: "OrderPlaced".into(),
            schema_version: version,
            payload: Some(Payload::Order(orders::OrderEvent {
                event: Some(order_event::Event::Placed(orders::OrderPlaced {
                    total_cents: 100,
                    currency: currency.into(),
                    ..Default::default()
                })),
            })),
            ..Default::default()
        }
    }

    #[test]
    fn an_order_placed_before_currencies_reads_as_legacy_currency_at_version_2() {
        let mut old = placed(1, "");
        envelope(&mut old).unwrap();
        assert_eq!(old, placed(2, "EUR"));
    }

    #[test]
    fn a_current_or_newer_event_is_left_alone() {
        for version in [2, 3] {
            let mut event = placed(version, "");
            envelope(&mut event).unwrap();
            assert_eq!(event, placed(version, ""), "version {version}");
        }
        let mut other = EventEnvelope {
            event_type: "OrderApproved".into(),
            schema_version: 1,
            ..Default::default()
        };
        envelope(&mut other).unwrap();
        assert_eq!(other.schema_version, 1);
    }

    #[test]
    fn a_payload_that_does_not_fit_its_type_is_reported_and_left_unchanged() {
        let mut wrong = placed(1, "");
        wrong.payload = None;
        let before = wrong.clone();
        let error = envelope(&mut wrong).unwrap_err();
        assert!(error.contains("OrderPlaced v1"), "{error}");
        assert_eq!(wrong, before);
    }

    #[test]
    fn steps_climb_in_order_and_count_the_current_version() {
        fn add(suffix: &'static str) -> fn(&mut String) -> Result<(), String> {
            match suffix {
                "b" => |s: &mut String| {
                    s.push('b');
                    Ok(())
                },
                _ => |s: &mut String| {
                    s.push('c');
                    Ok(())
                },
            }
        }
        let steps = [
            Step {
                event_type: "E",
                from_version: 2,
                apply: add("c"),
            },
            Step {
                event_type: "E",
                from_version: 1,
                apply: add("b"),
            },
        ];
        let mut value = "a".to_owned();
        assert_eq!(climb(&steps, "E", 1, &mut value).unwrap(), 3);
        assert_eq!(value, "abc");
        assert_eq!(current_version(&steps, "E"), 3);
        assert_eq!(current_version(&steps, "F"), 1);
    }
}
