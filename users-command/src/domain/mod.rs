//! The User aggregate: its commands, events, rules and value objects. No I/O lives here.

mod user;
mod values;

pub use domain_kit::{Reason, ValueError};
pub use user::{
    Reservation, USER_EMAIL_SCOPE, User, UserCommand, UserError, UserEvent, UserStatus,
};
pub use values::{CreditCents, Email, UserName};
