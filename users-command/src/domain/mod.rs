//! The User aggregate: its commands, events, rules and value objects. No I/O lives here.

mod user;
mod values;

pub use user::{
    Reservation, USER_EMAIL_SCOPE, User, UserCommand, UserError, UserEvent, UserStatus,
};
pub use values::{CreditCents, Email, Reason, UserName, ValueError};
