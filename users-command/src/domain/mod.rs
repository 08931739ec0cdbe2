//! The User aggregate: its commands, events, rules and value objects. No I/O lives here.

mod user;
mod values;

pub use user::{
    Reservation, User, UserCommand, UserError, UserEvent, UserStatus, USER_EMAIL_SCOPE,
};
pub use values::{CreditCents, Email, Reason, UserName, ValueError};
