//! Runs a command against an aggregate: load, check the expected version, decide, commit.

use std::sync::Arc;

use cqrs_es::event_sink::EventSink;
use cqrs_es::persist::{EventStoreAggregateContext, PersistedEventStore};
use cqrs_es::{Aggregate, AggregateError, EventStore};
use sqlx::PgPool;

use crate::error::{ClaimTaken, KeyRecorded};
use crate::metadata::{CommandMetadata, IdempotencyKey};
use crate::repository::{PgEventRepository, RecordedKey};
use domain_kit::EventContract;

/// Events are folded into a snapshot every this many events.
const SNAPSHOT_EVERY: usize = 20;

/// What a successful command did.
#[derive(Debug)]
pub struct Executed<A: Aggregate> {
    /// The aggregate the command ran on: for a replayed idempotency key, the one the first
    /// command ran on (which a creating command may have chosen differently the first time).
    pub aggregate_id: String,
    /// True when the idempotency key had already been used for this request: nothing ran,
    /// `version` is the version the first command reached and `state` is the current state.
    pub replayed: bool,
    /// The aggregate's version (sequence of its last event) after the command.
    pub version: u64,
    /// The events the command emitted; empty when it was an idempotent repeat.
    pub events: Vec<A::Event>,
    /// The aggregate's state after the command.
    pub state: A,
}

/// Why a command was not committed. Nothing was written in any of these cases.
#[derive(Debug, thiserror::Error)]
pub enum CommandError<E: std::error::Error> {
    /// The aggregate refused the command.
    #[error(transparent)]
    Rejected(E),
    /// The caller expected another version (`If-Match`).
    #[error("expected version {expected}, but the aggregate is at version {actual}")]
    VersionMismatch { expected: u64, actual: u64 },
    /// Another command on the same aggregate committed first.
    #[error("a concurrent command changed the aggregate first")]
    Concurrent,
    /// The idempotency key was first used for a different request.
    #[error("idempotency key {key:?} was used for a different request")]
    IdempotencyKeyReused { key: String },
    /// A unique value the command needs is owned by another aggregate.
    #[error(transparent)]
    ClaimTaken(ClaimTaken),
    /// The store failed; the cause chain is for the log, not for the client.
    #[error("event store failure")]
    Store(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// Executes commands of one aggregate type against the Postgres event store.
pub struct CommandBus<A: Aggregate> {
    store: PersistedEventStore<PgEventRepository, A>,
    repository: PgEventRepository,
    services: A::Services,
}

impl<A> CommandBus<A>
where
    A: Aggregate + Clone + 'static,
{
    /// A bus over the event store in `pool`, publishing through `contract`.
    pub fn new(pool: PgPool, contract: Arc<dyn EventContract>, services: A::Services) -> Self {
        let repository = PgEventRepository::new(pool, contract, SNAPSHOT_EVERY);
        Self {
            store: PersistedEventStore::new_snapshot_store(repository.clone(), SNAPSHOT_EVERY),
            repository,
            services,
        }
    }

    /// The repository the bus writes to.
    pub fn repository(&self) -> &PgEventRepository {
        &self.repository
    }

    /// Loads the aggregate's current state and version (0 for one that has no events).
    pub async fn load(&self, aggregate_id: &str) -> Result<(A, u64), CommandError<A::Error>> {
        let (context, _) = self.loaded(aggregate_id, None).await?;
        Ok((context.aggregate, context.current_sequence as u64))
    }

    /// The aggregate as the store holds it and what `idempotency`'s key recorded, if it was
    /// used before: one round trip.
    async fn loaded(
        &self,
        aggregate_id: &str,
        idempotency: Option<&IdempotencyKey>,
    ) -> Result<(EventStoreAggregateContext<A>, Option<RecordedKey>), CommandError<A::Error>> {
        let key = idempotency.map(|idempotency| idempotency.key.as_str());
        self.repository
            .load::<A>(aggregate_id, key)
            .await
            .map_err(|error| command_error(error.into()))
    }

    /// Runs `command`; with `expected_version`, only if the aggregate is still at it.
    #[tracing::instrument(skip_all, fields(aggregate_type = A::TYPE, aggregate_id))]
    pub async fn execute(
        &self,
        aggregate_id: &str,
        command: A::Command,
        expected_version: Option<u64>,
        metadata: CommandMetadata,
    ) -> Result<Executed<A>, CommandError<A::Error>> {
        let idempotency = metadata.idempotency.clone();
        let (context, recorded) = self.loaded(aggregate_id, idempotency.as_ref()).await?;
        if let (Some(idempotency), Some(recorded)) = (&idempotency, recorded) {
            return self.replayed(idempotency, recorded, context).await;
        }
        let outcome = self
            .decide(context, command, expected_version, metadata)
            .await;
        match (outcome, idempotency) {
            // A concurrent repeat with the same key may have won the race: answer its outcome.
            (Err(CommandError::Concurrent), Some(idempotency)) => {
                match self.loaded(aggregate_id, Some(&idempotency)).await? {
                    (context, Some(recorded)) => {
                        self.replayed(&idempotency, recorded, context).await
                    }
                    (_, None) => Err(CommandError::Concurrent),
                }
            }
            (outcome, _) => outcome,
        }
    }

    /// The outcome `recorded` stands for, with the current state of the aggregate it ran on
    /// (`context`, when that is the one loaded).
    async fn replayed(
        &self,
        idempotency: &IdempotencyKey,
        recorded: RecordedKey,
        context: EventStoreAggregateContext<A>,
    ) -> Result<Executed<A>, CommandError<A::Error>> {
        if recorded.fingerprint != idempotency.fingerprint {
            return Err(CommandError::IdempotencyKeyReused {
                key: idempotency.key.clone(),
            });
        }
        // A creating command may have chosen another aggregate the first time.
        let state = if recorded.aggregate_id == context.aggregate_id {
            context.aggregate
        } else {
            self.load(&recorded.aggregate_id).await?.0
        };
        Ok(Executed {
            aggregate_id: recorded.aggregate_id,
            replayed: true,
            version: recorded.version,
            events: Vec::new(),
            state,
        })
    }

    async fn decide(
        &self,
        context: EventStoreAggregateContext<A>,
        command: A::Command,
        expected_version: Option<u64>,
        metadata: CommandMetadata,
    ) -> Result<Executed<A>, CommandError<A::Error>> {
        let aggregate_id = context.aggregate_id.clone();
        let current = context.current_sequence as u64;
        if let Some(expected) = expected_version
            && expected != current
        {
            return Err(CommandError::VersionMismatch {
                expected,
                actual: current,
            });
        }
        // Decide on a copy: the sink applies events as they are written, and the store
        // folds the same events into the snapshot from the untouched state in `context`.
        let mut state = context.aggregate.clone();
        let sink = EventSink::default();
        state
            .handle(command, &self.services, &sink)
            .await
            .map_err(CommandError::Rejected)?;
        let events = sink.collect().await;
        if events.is_empty() {
            return Ok(Executed {
                aggregate_id,
                replayed: false,
                version: current,
                events,
                state,
            });
        }
        let committed = self
            .store
            .commit(events.clone(), context, metadata.into_map())
            .await
            .map_err(command_error)?;
        let version = committed.last().map_or(current, |e| e.sequence as u64);
        Ok(Executed {
            aggregate_id,
            replayed: false,
            version,
            events,
            state,
        })
    }
}

fn command_error<E: std::error::Error>(error: AggregateError<E>) -> CommandError<E> {
    match error {
        AggregateError::UserError(error) => CommandError::Rejected(error),
        AggregateError::AggregateConflict => CommandError::Concurrent,
        AggregateError::UnexpectedError(error) => match error.downcast::<ClaimTaken>() {
            Ok(taken) => CommandError::ClaimTaken(*taken),
            // The bus looks the key up again and answers the recorded outcome.
            Err(error) if error.is::<KeyRecorded>() => CommandError::Concurrent,
            Err(error) => CommandError::Store(error),
        },
        AggregateError::DatabaseConnectionError(error)
        | AggregateError::DeserializationError(error) => CommandError::Store(error),
    }
}
