//! The User aggregate of the Users bounded context: its commands, events, rules and value
//! objects, and how its events look on the wire. No I/O lives here: this crate depends on no
//! web, database or broker crate, so the services, esctl and the bench share it.

mod contract;
mod user;
mod values;

pub use domain_kit::{Reason, ValueError};
pub use user::{
    Reservation, USER_EMAIL_SCOPE, USER_SNAPSHOT_SHAPE, User, UserCommand, UserError, UserEvent,
    UserStatus,
};
pub use values::{CreditCents, Email, UserName};

pub use contract::{PERSONAL_DATA, UPCASTERS, UsersContract, to_wire};
