//! The Order aggregate of the Orders bounded context: its commands, events, rules and value
//! objects, and how its events look on the wire. No I/O lives here: this crate depends on no
//! web, database or broker crate, so the services, esctl and the bench share it.

mod contract;
mod order;
mod upcast;
mod values;

pub use domain_kit::{Reason, ValueError};
pub use order::{
    ORDER_SNAPSHOT_SHAPE, Order, OrderCommand, OrderError, OrderEvent, OrderStatus, Transition,
};
pub use values::{Currency, Items, LineItem, MAX_ITEMS, Quantity, Sku, UnitPrice};

pub use contract::{OrdersContract, to_wire};
pub use upcast::UPCASTERS;
