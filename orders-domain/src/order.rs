//! The Order aggregate: `PENDING → APPROVED | REJECTED`, `PENDING | APPROVED → CANCELLED`.

use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use domain_kit::Reason;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::values::{Currency, Items};

/// What can be asked of an order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrderCommand {
    /// Places a new order; it stays PENDING until approved or rejected.
    Place {
        order_id: Uuid,
        user_id: Uuid,
        items: Items,
        currency: Currency,
    },
    Approve,
    Reject {
        reason: Reason,
    },
    Cancel {
        reason: Reason,
    },
}

/// One line of a placed order, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlacedItem {
    pub sku: String,
    pub quantity: u32,
    pub unit_price_cents: i64,
}

/// What happened to an order. Stored as JSON tagged with `type`; published as protobuf.
/// Stored events of older schema versions are brought to these shapes by
/// [`UPCASTERS`](crate::UPCASTERS) before they are read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum OrderEvent {
    /// Version 2: version 1 had no `currency` (and meant EUR).
    #[serde(rename = "OrderPlaced")]
    Placed {
        order_id: Uuid,
        user_id: Uuid,
        items: Vec<PlacedItem>,
        total_cents: i64,
        currency: String,
    },
    #[serde(rename = "OrderApproved")]
    Approved,
    #[serde(rename = "OrderRejected")]
    Rejected { reason: String },
    #[serde(rename = "OrderCancelled")]
    Cancelled {
        reason: String,
        previous_status: OrderStatus,
    },
}

impl DomainEvent for OrderEvent {
    fn event_type(&self) -> String {
        match self {
            Self::Placed { .. } => "OrderPlaced",
            Self::Approved => "OrderApproved",
            Self::Rejected { .. } => "OrderRejected",
            Self::Cancelled { .. } => "OrderCancelled",
        }
        .to_owned()
    }

    fn event_version(&self) -> String {
        crate::upcast::current_version(&self.event_type()).to_string()
    }
}

/// Lifecycle of an order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OrderStatus {
    /// No order with this id was placed.
    #[default]
    Unplaced,
    Pending,
    Approved,
    Rejected,
    Cancelled,
}

impl OrderStatus {
    /// The name clients see: `PENDING`, `APPROVED`, `REJECTED` or `CANCELLED`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unplaced => "UNPLACED",
            Self::Pending => "PENDING",
            Self::Approved => "APPROVED",
            Self::Rejected => "REJECTED",
            Self::Cancelled => "CANCELLED",
        }
    }
}

impl std::fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A state change of a placed order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    Approve,
    Reject,
    Cancel,
}

impl Transition {
    /// The state the transition leads to.
    pub fn target(self) -> OrderStatus {
        match self {
            Self::Approve => OrderStatus::Approved,
            Self::Reject => OrderStatus::Rejected,
            Self::Cancel => OrderStatus::Cancelled,
        }
    }

    fn allowed_from(self, status: OrderStatus) -> bool {
        matches!(
            (self, status),
            (
                Self::Approve | Self::Reject | Self::Cancel,
                OrderStatus::Pending
            ) | (Self::Cancel, OrderStatus::Approved)
        )
    }
}

impl std::fmt::Display for Transition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Approve => "approve",
            Self::Reject => "reject",
            Self::Cancel => "cancel",
        })
    }
}

/// Why a command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OrderError {
    #[error("no such order")]
    NotFound,
    #[error("the order is already placed")]
    AlreadyPlaced,
    #[error("cannot {transition} an order that is {current}")]
    IllegalTransition {
        transition: Transition,
        current: OrderStatus,
    },
}

/// Version of [`Order`]'s serialized shape, recorded with its snapshots: raise it when a field of
/// `Order` changes form or meaning, so snapshots of the old shape are folded again from the
/// events instead of being misread.
pub const ORDER_SNAPSHOT_SHAPE: i32 = 2; // 2: `currency`

/// An order's state, rebuilt from its events.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    id: Option<Uuid>,
    user_id: Option<Uuid>,
    status: OrderStatus,
    items: Vec<PlacedItem>,
    total_cents: i64,
    currency: String,
}

impl Order {
    /// Lifecycle state.
    pub fn status(&self) -> OrderStatus {
        self.status
    }

    /// Who placed the order.
    pub fn user_id(&self) -> Option<Uuid> {
        self.user_id
    }

    /// The lines as placed.
    pub fn items(&self) -> &[PlacedItem] {
        &self.items
    }

    /// The total computed when the order was placed.
    pub fn total_cents(&self) -> i64 {
        self.total_cents
    }

    /// The ISO 4217 code of the currency the prices and the total are in.
    pub fn currency(&self) -> &str {
        &self.currency
    }

    fn transition(&self, transition: Transition) -> Result<(), OrderError> {
        match self.status {
            OrderStatus::Unplaced => Err(OrderError::NotFound),
            current if transition.allowed_from(current) => Ok(()),
            current => Err(OrderError::IllegalTransition {
                transition,
                current,
            }),
        }
    }

    fn decide(&self, command: OrderCommand) -> Result<OrderEvent, OrderError> {
        Ok(match command {
            OrderCommand::Place {
                order_id,
                user_id,
                items,
                currency,
            } => {
                if self.status != OrderStatus::Unplaced {
                    return Err(OrderError::AlreadyPlaced);
                }
                OrderEvent::Placed {
                    order_id,
                    user_id,
                    total_cents: items.total_cents(),
                    items: items
                        .lines()
                        .iter()
                        .map(|line| PlacedItem {
                            sku: line.sku.as_str().to_owned(),
                            quantity: line.quantity.get(),
                            unit_price_cents: line.unit_price.cents(),
                        })
                        .collect(),
                    currency: currency.as_str().to_owned(),
                }
            }
            OrderCommand::Approve => {
                self.transition(Transition::Approve)?;
                OrderEvent::Approved
            }
            OrderCommand::Reject { reason } => {
                self.transition(Transition::Reject)?;
                OrderEvent::Rejected {
                    reason: reason.as_str().to_owned(),
                }
            }
            OrderCommand::Cancel { reason } => {
                self.transition(Transition::Cancel)?;
                OrderEvent::Cancelled {
                    reason: reason.as_str().to_owned(),
                    previous_status: self.status,
                }
            }
        })
    }
}

impl Aggregate for Order {
    const TYPE: &'static str = contracts::orders::AGGREGATE_TYPE;
    type Command = OrderCommand;
    type Event = OrderEvent;
    type Error = OrderError;
    type Services = ();

    async fn handle(
        &mut self,
        command: Self::Command,
        _services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        let event = self.decide(command)?;
        sink.write(event, self).await;
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        match event {
            OrderEvent::Placed {
                order_id,
                user_id,
                items,
                total_cents,
                currency,
            } => {
                self.id = Some(order_id);
                self.user_id = Some(user_id);
                self.status = OrderStatus::Pending;
                self.items = items;
                self.total_cents = total_cents;
                self.currency = currency;
            }
            OrderEvent::Approved => self.status = OrderStatus::Approved,
            OrderEvent::Rejected { .. } => self.status = OrderStatus::Rejected,
            OrderEvent::Cancelled { .. } => self.status = OrderStatus::Cancelled,
        }
    }
}

#[cfg(test)]
mod tests {
    use cqrs_es::test::TestFramework;

    use super::*;
    use crate::{LineItem, Quantity, Sku, UnitPrice};

    type OrderTest = TestFramework<Order>;

    const ORDER: Uuid = Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0001);
    const USER: Uuid = Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0002);

    fn items() -> Items {
        let line = |sku: &str, quantity, price| LineItem {
            sku: Sku::parse(sku).unwrap(),
            quantity: Quantity::parse(quantity).unwrap(),
            unit_price: UnitPrice::parse(price).unwrap(),
        };
        Items::new(vec![line("BOOK-1", 2, 1_250), line("PEN-7", 3, 199)]).unwrap()
    }

    fn placed() -> OrderEvent {
        OrderEvent::Placed {
            order_id: ORDER,
            user_id: USER,
            items: vec![
                PlacedItem {
                    sku: "BOOK-1".into(),
                    quantity: 2,
                    unit_price_cents: 1_250,
                },
                PlacedItem {
                    sku: "PEN-7".into(),
                    quantity: 3,
                    unit_price_cents: 199,
                },
            ],
            total_cents: 3_097,
            currency: "EUR".into(),
        }
    }

    fn reason(text: &str) -> Reason {
        Reason::parse(text).unwrap()
    }

    fn rejected() -> OrderEvent {
        OrderEvent::Rejected {
            reason: "insufficient credit".into(),
        }
    }

    fn cancelled(previous_status: OrderStatus) -> OrderEvent {
        OrderEvent::Cancelled {
            reason: "changed my mind".into(),
            previous_status,
        }
    }

    fn place() -> OrderCommand {
        OrderCommand::Place {
            order_id: ORDER,
            user_id: USER,
            items: items(),
            currency: Currency::parse("EUR").unwrap(),
        }
    }

    fn transitions() -> [(Transition, OrderCommand); 3] {
        [
            (Transition::Approve, OrderCommand::Approve),
            (
                Transition::Reject,
                OrderCommand::Reject {
                    reason: reason("insufficient credit"),
                },
            ),
            (
                Transition::Cancel,
                OrderCommand::Cancel {
                    reason: reason("changed my mind"),
                },
            ),
        ]
    }

    #[test]
    fn placing_records_the_items_and_the_total_computed_here() {
        OrderTest::with(())
            .given_no_previous_events()
            .when(place())
            .then_expect_events(vec![placed()]);
    }

    #[test]
    fn placing_the_same_order_twice_is_refused() {
        OrderTest::with(())
            .given(vec![placed()])
            .when(place())
            .then_expect_error(OrderError::AlreadyPlaced);
    }

    #[test]
    fn a_pending_order_can_be_approved() {
        OrderTest::with(())
            .given(vec![placed()])
            .when(OrderCommand::Approve)
            .then_expect_events(vec![OrderEvent::Approved]);
    }

    #[test]
    fn a_pending_order_can_be_rejected_with_a_reason() {
        OrderTest::with(())
            .given(vec![placed()])
            .when(OrderCommand::Reject {
                reason: reason("insufficient credit"),
            })
            .then_expect_events(vec![rejected()]);
    }

    #[test]
    fn pending_and_approved_orders_can_be_cancelled_and_the_event_says_from_which() {
        OrderTest::with(())
            .given(vec![placed()])
            .when(OrderCommand::Cancel {
                reason: reason("changed my mind"),
            })
            .then_expect_events(vec![cancelled(OrderStatus::Pending)]);
        OrderTest::with(())
            .given(vec![placed(), OrderEvent::Approved])
            .when(OrderCommand::Cancel {
                reason: reason("changed my mind"),
            })
            .then_expect_events(vec![cancelled(OrderStatus::Approved)]);
    }

    #[test]
    fn transitions_of_an_order_never_placed_are_not_found() {
        for (_, command) in transitions() {
            OrderTest::with(())
                .given_no_previous_events()
                .when(command)
                .then_expect_error(OrderError::NotFound);
        }
    }

    #[test]
    fn every_illegal_transition_is_refused_naming_the_current_state() {
        let histories = [
            (OrderStatus::Approved, vec![placed(), OrderEvent::Approved]),
            (OrderStatus::Rejected, vec![placed(), rejected()]),
            (
                OrderStatus::Cancelled,
                vec![placed(), cancelled(OrderStatus::Pending)],
            ),
            (
                OrderStatus::Cancelled,
                vec![
                    placed(),
                    OrderEvent::Approved,
                    cancelled(OrderStatus::Approved),
                ],
            ),
        ];
        let mut refused = 0;
        for (current, history) in histories {
            for (transition, command) in transitions() {
                if transition.allowed_from(current) {
                    continue;
                }
                OrderTest::with(())
                    .given(history.clone())
                    .when(command)
                    .then_expect_error(OrderError::IllegalTransition {
                        transition,
                        current,
                    });
                refused += 1;
            }
        }
        // APPROVED refuses approve and reject; REJECTED and both CANCELLED histories refuse all three.
        assert_eq!(refused, 2 + 3 + 3 + 3);
    }

    #[test]
    fn the_error_message_names_the_transition_and_the_state() {
        let error = OrderError::IllegalTransition {
            transition: Transition::Approve,
            current: OrderStatus::Rejected,
        };
        assert_eq!(
            error.to_string(),
            "cannot approve an order that is REJECTED"
        );
    }

    #[test]
    fn state_follows_the_events() {
        let mut order = Order::default();
        order.apply(placed());
        assert_eq!(order.status(), OrderStatus::Pending);
        assert_eq!(order.total_cents(), 3_097);
        assert_eq!(order.user_id(), Some(USER));
        assert_eq!(order.items().len(), 2);
        order.apply(OrderEvent::Approved);
        assert_eq!(order.status(), OrderStatus::Approved);
        order.apply(cancelled(OrderStatus::Approved));
        assert_eq!(order.status(), OrderStatus::Cancelled);
    }

    #[test]
    fn events_round_trip_through_their_stored_json() {
        for event in [
            placed(),
            OrderEvent::Approved,
            rejected(),
            cancelled(OrderStatus::Approved),
        ] {
            let json = serde_json::to_value(&event).unwrap();
            assert_eq!(json["type"], event.event_type());
            assert_eq!(serde_json::from_value::<OrderEvent>(json).unwrap(), event);
        }
        assert_eq!(
            serde_json::to_value(cancelled(OrderStatus::Approved)).unwrap()["previous_status"],
            "APPROVED"
        );
    }
}
