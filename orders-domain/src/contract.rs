//! How Order events look on the wire (protobuf). Orders claim no unique values.

use contracts::events::v1::event_envelope::Payload;
use contracts::orders::v1 as wire;
use cqrs_es::persist::SerializedEvent;
use domain_kit::EventContract;

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

    fn topic(&self) -> &str {
        &self.topic
    }

    fn payload(&self, event: &SerializedEvent) -> Result<Payload, String> {
        let order: OrderEvent = serde_json::from_value(event.payload.clone())
            .map_err(|e| format!("stored {} is not an OrderEvent: {e}", event.event_type))?;
        Ok(Payload::Order(to_wire(order)))
    }
}
