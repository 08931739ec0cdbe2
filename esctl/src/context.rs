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

    /// The steps that bring the context's stored events to their current schema versions.
    pub fn upcasters(self) -> &'static [event_store::Upcaster] {
        match self {
            Self::Users => users_domain::UPCASTERS,
            Self::Orders => orders_domain::UPCASTERS,
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
