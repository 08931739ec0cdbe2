//! The Order aggregate: its commands, events, rules and value objects. No I/O lives here.

mod order;
mod values;

pub use domain_kit::{Reason, ValueError};
pub use order::{Order, OrderCommand, OrderError, OrderEvent, OrderStatus, Transition};
pub use values::{Items, LineItem, MAX_ITEMS, Quantity, Sku, UnitPrice};
