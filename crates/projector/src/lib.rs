//! The projector runtime: builds a read model in Postgres from an aggregate's Kafka topic, and
//! rebuilds it from the event store.
//!
//! A projection owns one Postgres schema holding its read-model tables and the runtime's own:
//! `checkpoints` (last applied sequence per aggregate), `pending_events` (events that arrived
//! ahead of a gap) and `parked_events` (events that could not be applied). Every batch applies
//! its events, moves the checkpoints and records pending or parked events in ONE transaction;
//! Kafka offsets are stored only after that commit. So a redelivered event is a duplicate by
//! its sequence and has no effect, a gap is waited for and never skipped, and a poison event
//! blocks only its own aggregate.
//!
//! A rebuild replays the event store's stored envelopes into a shadow schema while the live
//! one keeps serving and consuming, then swaps the schemas by renaming them in one transaction.
//! A projection that can fold an aggregate's whole history in memory
//! ([`Projection::apply_histories`]) is rebuilt in bulk, a few statements per thousands of
//! events; the events stored after the rebuild started, and any aggregate it cannot fold, go
//! through [`Projection::apply`] one by one.

mod admin;
mod consumer;
mod internal_events;
mod process;
mod rebuild;
mod schema;
mod status;
mod watch;

use std::future::Future;

pub use admin::{
    ParkedEvent, ParkedStatus, RetryOutcome, Skip, Skipped, get_parked, list_parked, retry_parked,
    skip_parked,
};
pub use consumer::{Failpoint, Projector, ProjectorConfig, ProjectorStats};
pub use rebuild::{RebuildError, RebuildProgress, rebuild};
pub use schema::ensure_schema;
pub use status::{ProjectionStatus, status};
pub use watch::{AppliedWatch, WaitOutcome};

use contracts::events::v1::EventEnvelope;

/// When `event` was committed to the event store (now, for an envelope without the time).
pub fn recorded_at(event: &EventEnvelope) -> chrono::DateTime<chrono::Utc> {
    event
        .recorded_at
        .as_ref()
        .and_then(|t| chrono::DateTime::from_timestamp(t.seconds, t.nanos.max(0) as u32))
        .unwrap_or_else(chrono::Utc::now)
}

/// Parses an id an event carries (`what` names it in the error): an event whose id is not a
/// UUID cannot be applied.
pub fn parse_id(text: &str, what: &str) -> Result<uuid::Uuid, ApplyError> {
    text.parse()
        .map_err(|_| ApplyError::Rejected(format!("{what} {text:?} is not a UUID")))
}

/// A read model: its schema and how each event changes it.
pub trait Projection: Send + Sync + 'static {
    /// Name of the live schema, e.g. `users_view`.
    fn schema(&self) -> &str;

    /// Statements creating the read model's tables, with unqualified names: they run with
    /// `search_path` set to the schema being built.
    fn ddl(&self) -> &str;

    /// Idempotent statements bringing a schema made by an earlier version of `ddl` up to date
    /// (e.g. `ALTER TABLE … ADD COLUMN IF NOT EXISTS …`); they run at start with `search_path`
    /// set to the live schema, and after `ddl` on a new schema (so a table added by an upgrade
    /// may be written here only). None by default.
    fn upgrades(&self) -> &str {
        ""
    }

    /// Applies one event inside the runtime's transaction (search_path is set). It runs once
    /// per event in effect: the runtime has already checked the sequence.
    fn apply(
        &self,
        connection: &mut sqlx::PgConnection,
        event: &EventEnvelope,
    ) -> impl Future<Output = Result<(), ApplyError>> + Send;

    /// The rebuild's bulk path: writes the rows of whole aggregates at once, in as few
    /// statements as it can, inside the runtime's transaction (search_path is set). Each
    /// history holds one aggregate's events from sequence 1 on, in order, and nothing of that
    /// aggregate is in the schema yet. Answers, per history, whether it was written; one
    /// answered `false` must have left nothing behind, and its events are then applied one by
    /// one with [`apply`](Projection::apply), so the event at fault is parked as usual. What a
    /// written history leaves must equal what `apply` would have left, event after event.
    ///
    /// The default answers `None`: the projection has no bulk path and a rebuild applies every
    /// event with `apply`. A rebuild first asks with no histories (and rolls that back): the
    /// answer then, `None` or `Some`, must be the answer for every chunk.
    fn apply_histories(
        &self,
        connection: &mut sqlx::PgConnection,
        histories: &[History],
    ) -> impl Future<Output = Result<Option<Vec<bool>>, ApplyError>> + Send {
        let _ = (connection, histories);
        async { Ok(None) }
    }
}

/// One aggregate's stored events, from its first on, as a rebuild replays them.
#[derive(Debug, Clone)]
pub struct History {
    /// The aggregate's id.
    pub aggregate_id: String,
    /// Its events in sequence order, the first with sequence 1, none missing.
    pub events: Vec<EventEnvelope>,
}

/// Why a projection could not apply an event.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// The event is not one this projection understands, or contradicts the read model.
    #[error("{0}")]
    Rejected(String),
    /// A statement failed.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}
