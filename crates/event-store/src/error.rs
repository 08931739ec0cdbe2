//! Errors of the event store.

/// A uniqueness claim (e.g. an email) is already owned by another aggregate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{scope} {value:?} is already taken")]
pub struct ClaimTaken {
    /// What kind of value was claimed, e.g. `user.email`.
    pub scope: String,
    /// The value that was claimed.
    pub value: String,
}

/// Failures of the store itself (not of a command's business rules).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be reached or failed a query.
    #[error("event store database error")]
    Database(#[from] sqlx::Error),
    /// A stored event or snapshot could not be mapped to its contract.
    #[error("event contract error: {0}")]
    Contract(String),
}

/// Another command committed with the same idempotency key first (a concurrent repeat).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("idempotency key {0:?} was recorded by a concurrent command")]
pub struct KeyRecorded(pub String);
