//! The bounded contexts esctl knows: their aggregate type and topic.

use clap::ValueEnum;

/// A bounded context.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Context {
    Users,
    Orders,
}

impl Context {
    /// Every context, in the order reports list them.
    pub const ALL: [Self; 2] = [Self::Users, Self::Orders];

    /// The context's name on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::Users => "users",
            Self::Orders => "orders",
        }
    }

    /// How the context's stored events are read: upcast to the current schema versions, the
    /// personal fields opened with their subjects' keys (or read as erased).
    pub fn reading(self) -> event_store::Reading {
        match self {
            Self::Users => event_store::Reading {
                upcasters: users_domain::UPCASTERS,
                personal: &users_domain::PERSONAL_DATA,
            },
            Self::Orders => event_store::Reading {
                upcasters: orders_domain::UPCASTERS,
                personal: &event_store::PersonalData::NONE,
            },
        }
    }

    pub fn aggregate_type(self) -> &'static str {
        match self {
            Self::Users => contracts::users::AGGREGATE_TYPE,
            Self::Orders => contracts::orders::AGGREGATE_TYPE,
        }
    }

    pub fn topic(self) -> &'static str {
        match self {
            Self::Users => "users.events",
            Self::Orders => "orders.events",
        }
    }
}
