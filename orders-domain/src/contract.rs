//! How Order events look on the wire (protobuf). Orders claim no unique values.

use contracts::events::v1::event_envelope::Payload;
use contracts::orders::v1 as wire;
use cqrs_es::persist::SerializedEvent;
use domain_kit::{EventContract, Upcaster};

use crate::upcast::UPCASTERS;

use crate::OrderEvent;
use crate::order::ORDER_SNAPSHOT_SHAPE;

/// The Orders context's contract: its topic and its protobuf payloads.
pub struct OrdersContract {
    topic: String,
}

impl OrdersContract {
    /// Events go to `topic`.
    pub fn new(topic: impl Into<String>) -> Self {
        Self {
            topic: topic.into(),
        }
    }
}

/// The protobuf form of an Order event.
pub fn to_wire(event: OrderEvent) -> wire::OrderEvent {
    use wire::order_event::Event;
    let event = match event {
        OrderEvent::Placed {
            order_id,
            user_id,
            items,
            total_cents,
            currency,
        } => Event::Placed(wire::OrderPlaced {
            order_id: order_id.to_string(),
            user_id: user_id.to_string(),
            items: items
                .into_iter()
                .map(|item| wire::OrderItem {
                    sku: item.sku,
                    quantity: item.quantity,
                    unit_price_cents: item.unit_price_cents,
                })
                .collect(),
            total_cents,
            currency,
        }),
        OrderEvent::Approved => Event::Approved(wire::OrderApproved {}),
        OrderEvent::Rejected { reason } => Event::Rejected(wire::OrderRejected { reason }),
        OrderEvent::Cancelled {
            reason,
            previous_status,
        } => Event::Cancelled(wire::OrderCancelled {
            reason,
            previous_status: previous_status.as_str().to_owned(),
        }),
    };
    wire::OrderEvent { event: Some(event) }
}

impl EventContract for OrdersContract {
    fn snapshot_shape(&self) -> i32 {
        ORDER_SNAPSHOT_SHAPE
    }

    fn upcasters(&self) -> &'static [Upcaster] {
        UPCASTERS
    }

    fn topic(&self) -> &str {
        &self.topic
    }

    fn payload(&self, event: &SerializedEvent) -> Result<Payload, String> {
        let order: OrderEvent = serde_json::from_value(event.payload.clone())
            .map_err(|e| format!("stored {} is not an OrderEvent: {e}", event.event_type))?;
        Ok(Payload::Order(to_wire(order)))
    }
}

#[cfg(test)]
mod tests {
    use contracts::upcast::{ENVELOPE_STEPS, current_version as wire_version};
    use cqrs_es::DomainEvent;
    use serde_json::json;

    use serde_json::Value;

    use super::*;
    use crate::order::OrderStatus;
    use crate::upcast::current_version;

    fn stored(version: &str, payload: Value) -> SerializedEvent {
        SerializedEvent {
            aggregate_id: "order-1".into(),
            sequence: 1,
            aggregate_type: "order".into(),
            event_type: payload["type"].as_str().unwrap().into(),
            event_version: version.into(),
            payload,
            metadata: json!({}),
        }
    }

    fn placed_v1() -> Value {
        // As orders-command stored it before orders stated a currency.
        json!({
            "type": "OrderPlaced",
            "order_id": "0193a0c0-0000-7000-8000-0000000000b1",
            "user_id": "0193a0c0-0000-7000-8000-0000000000a1",
            "items": [{ "sku": "BOOK-1", "quantity": 2, "unit_price_cents": 1250 }],
            "total_cents": 2500,
        })
    }

    #[test]
    fn an_order_placed_before_currencies_reads_as_placed_in_euros() {
        let mut event = stored("1", placed_v1());
        domain_kit::upcast_stored(UPCASTERS, &mut event).unwrap();
        assert_eq!(event.event_version, "2");
        assert_eq!(event.payload["currency"], "EUR");
        let read: OrderEvent = serde_json::from_value(event.payload).unwrap();
        let OrderEvent::Placed {
            currency,
            total_cents,
            ..
        } = read
        else {
            panic!("an OrderPlaced");
        };
        assert_eq!((currency.as_str(), total_cents), ("EUR", 2500));
    }

    #[test]
    fn without_its_upcaster_a_version_1_order_placed_does_not_read() {
        // The upcaster is what makes old events readable: the new shape requires the field.
        assert!(serde_json::from_value::<OrderEvent>(placed_v1()).is_err());
    }

    #[test]
    fn current_events_are_left_as_they_are() {
        let event = OrderEvent::Cancelled {
            reason: "changed my mind".into(),
            previous_status: OrderStatus::Pending,
        };
        let payload = serde_json::to_value(&event).unwrap();
        let mut current = stored(&event.event_version(), payload.clone());
        domain_kit::upcast_stored(UPCASTERS, &mut current).unwrap();
        assert_eq!(
            (current.event_version.as_str(), current.payload),
            ("1", payload)
        );
        let mut odd = stored("one", placed_v1());
        assert!(domain_kit::upcast_stored(UPCASTERS, &mut odd).is_err());
    }

    #[test]
    fn the_stored_and_the_wire_form_are_at_the_same_version_of_every_event() {
        for event_type in [
            "OrderPlaced",
            "OrderApproved",
            "OrderRejected",
            "OrderCancelled",
        ] {
            assert_eq!(
                current_version(event_type),
                wire_version(ENVELOPE_STEPS, event_type),
                "{event_type}"
            );
        }
        assert_eq!(current_version("OrderPlaced"), 2);
    }
}
