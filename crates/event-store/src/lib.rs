//! A Postgres event store for cqrs-es aggregates with a transactional outbox.
//!
//! One command commits, in a single transaction: its events (optimistic concurrency on
//! aggregate and sequence), the aggregate's snapshot, one outbox row per event (the protobuf
//! envelope that the relay publishes to Kafka), the uniqueness claims its events take or
//! give up, and the client's idempotency key with the outcome it stands for. Either all of
//! it is committed or none of it.

mod commands;
mod error;
mod log;
mod metadata;
pub mod outbox;
mod repository;

pub use commands::{CommandBus, CommandError, Executed};
pub use domain_kit::{ClaimChange, EventContract, PersonalData, Upcaster};
pub use error::{ClaimTaken, KeyRecorded, StoreError};
pub use log::{
    CORRELATED_LIMIT, CorrelatedEvent, Head, RecordedEvent, VersionCount, correlated, head,
    read_stream, version_census,
};
pub use metadata::{CommandMetadata, IdempotencyKey};
pub use repository::{PgEventRepository, Reading, RecordedKey};

/// Migrations of the event store schema (events, snapshots, outbox, unique_claims,
/// idempotency_keys).
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");
