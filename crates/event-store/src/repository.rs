//! cqrs-es's `PersistedEventRepository` on sqlx, with the outbox and uniqueness claims
//! written atomically with the events: in one statement when the command allows it, else in
//! one transaction.

use std::sync::Arc;

use chrono::Utc;
use cqrs_es::persist::{
    EventStoreAggregateContext, PersistedEventRepository, PersistenceError, ReplayStream,
    SerializedEvent, SerializedSnapshot,
};
use cqrs_es::{Aggregate, EventEnvelope};
use serde_json::Value;
use sqlx::postgres::PgRow;
use sqlx::{PgPool, Postgres, Row, Transaction};
use uuid::Uuid;

use crate::error::{ClaimTaken, KeyRecorded};
use crate::metadata::CommandMetadata;
use crate::outbox;
use domain_kit::{ClaimChange, EventContract, PersonalData, Upcaster, upcast_stored};

/// How a context's stored events are read: upcast to the current versions of their types,
/// with their personal fields opened (or read as erased).
#[derive(Clone, Copy)]
pub struct Reading {
    pub upcasters: &'static [Upcaster],
    pub personal: &'static PersonalData,
}

impl Reading {
    /// How `contract`'s events are read.
    pub fn of(contract: &dyn EventContract) -> Self {
        Self {
            upcasters: contract.upcasters(),
            personal: contract.personal_data(),
        }
    }

    /// Opens the personal fields of `payload`, an event of `event_type` of `subject`, with
    /// the subject's key from `keys` (fetched once per subject: call with the same `keys`
    /// for one subject's events).
    pub(crate) async fn open(
        &self,
        pool: &PgPool,
        keys: &mut SubjectKeys,
        subject: &str,
        fields: &[&str],
        payload: &mut Value,
    ) -> Result<(), String> {
        if !privacy::any_sealed(payload, fields) {
            return Ok(());
        }
        let key = keys.get(pool, subject).await.map_err(|e| e.to_string())?;
        privacy::open_fields(payload, fields, key).map_err(|e| e.to_string())
    }
}

/// The keys of the subjects read so far, a bounded number of them.
#[derive(Default)]
pub(crate) struct SubjectKeys(std::collections::HashMap<String, Option<privacy::SubjectKey>>);

impl SubjectKeys {
    const MAX: usize = 10_000;

    /// Keys already read: `subject`'s (`None` when erased or never made).
    fn known(subject: &str, key: Option<privacy::SubjectKey>) -> Self {
        Self([(subject.to_owned(), key)].into())
    }

    async fn get(
        &mut self,
        pool: &PgPool,
        subject: &str,
    ) -> Result<Option<&privacy::SubjectKey>, sqlx::Error> {
        if !self.0.contains_key(subject) {
            if self.0.len() >= Self::MAX {
                self.0.clear();
            }
            let key = privacy::keys::key(pool, subject).await?;
            self.0.insert(subject.to_owned(), key);
        }
        Ok(self.0.get(subject).and_then(Option::as_ref))
    }
}

/// What an idempotency key recorded when its command committed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedKey {
    /// The aggregate the command ran on.
    pub aggregate_id: String,
    /// The digest of the request that used the key.
    pub fingerprint: String,
    /// The version the command's last event reached.
    pub version: u64,
}

/// Events, snapshots, outbox and claims of one bounded context in one Postgres database.
#[derive(Clone)]
pub struct PgEventRepository {
    pool: PgPool,
    contract: Arc<dyn EventContract>,
    snapshot_every: usize,
    /// The store's claim secret, read once: the migration makes it and nothing changes it
    /// (a new secret would orphan every claim made with the old one, ADR 0018).
    claim_secret: Arc<tokio::sync::OnceCell<privacy::keys::ClaimSecret>>,
    /// Keys of the subjects loaded lately, for the writes that follow the loads.
    recent_keys: Arc<RecentKeys>,
}

impl PgEventRepository {
    /// A repository on `pool`. `snapshot_every` must equal the snapshot size given to
    /// cqrs-es's `PersistedEventStore::new_snapshot_store` (0 when snapshots are off): the
    /// store folds events into a snapshot up to the last multiple of it.
    pub fn new(pool: PgPool, contract: Arc<dyn EventContract>, snapshot_every: usize) -> Self {
        Self {
            pool,
            contract,
            snapshot_every,
            claim_secret: Arc::default(),
            recent_keys: Arc::default(),
        }
    }

    /// The connection pool of the event store.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// How this context's stored events are read (upcast, personal fields opened).
    pub fn reading(&self) -> Reading {
        Reading::of(self.contract.as_ref())
    }

    /// `A`'s aggregate `aggregate_id` as a command sees it, read in one statement: the snapshot
    /// of the current shape, the events after it, the subject's key that opens their personal
    /// fields, and what `idempotency_key` recorded if it was used before (cqrs-es's
    /// `load_aggregate` and the key's lookup take a round trip each). A snapshot that no longer
    /// deserializes is passed over, as cqrs-es passes it: the events are then read again from
    /// the first.
    pub async fn load<A: Aggregate>(
        &self,
        aggregate_id: &str,
        idempotency_key: Option<&str>,
    ) -> Result<(EventStoreAggregateContext<A>, Option<RecordedKey>), PersistenceError> {
        // One snapshot at most (part 0), the events after it (part 1), the key when the
        // context seals anything (part 2), the recorded idempotency key (part 3). One statement
        // sees one snapshot of the database: the key is there exactly when something sealed
        // with it is, and a recorded key's events are there with it.
        let rows = sqlx::query(
            "WITH snapshot AS ( \
                 SELECT last_sequence, snapshot_version, payload FROM snapshots \
                 WHERE aggregate_type = $1 AND aggregate_id = $2 AND shape_version = $3) \
             SELECT 0 AS part, last_sequence AS sequence, snapshot_version, NULL::text AS event_type, \
                    NULL::text AS event_version, payload, NULL::jsonb AS metadata, NULL::bytea AS key, \
                    NULL::text AS owner, NULL::text AS fingerprint \
             FROM snapshot \
             UNION ALL \
             SELECT 1, sequence, NULL, event_type, event_version, payload, metadata, NULL, NULL, NULL \
             FROM events WHERE aggregate_type = $1 AND aggregate_id = $2 \
               AND sequence > coalesce((SELECT last_sequence FROM snapshot), 0) \
             UNION ALL \
             SELECT 2, NULL, NULL, NULL, NULL, NULL, NULL, key, NULL, NULL FROM subject_keys \
             WHERE $4 AND subject = $2 \
             UNION ALL \
             SELECT 3, version, NULL, NULL, NULL, NULL, NULL, NULL, aggregate_id, fingerprint \
             FROM idempotency_keys WHERE aggregate_type = $1 AND idempotency_key = $5 \
             ORDER BY part, sequence",
        )
        .bind(A::TYPE)
        .bind(aggregate_id)
        .bind(self.contract.snapshot_shape())
        .bind(!self.contract.personal_data().is_empty())
        .bind(idempotency_key)
        .fetch_all(&self.pool)
        .await
        .map_err(connection)?;
        let mut snapshot = None;
        let mut events = Vec::new();
        let mut key = None;
        let mut recorded = None;
        for row in &rows {
            match row.try_get::<i32, _>("part").map_err(deserialization)? {
                0 => {
                    snapshot = Some(SerializedSnapshot {
                        aggregate_id: aggregate_id.to_owned(),
                        aggregate: row.try_get("payload").map_err(deserialization)?,
                        current_sequence: sequence_from_db(row.try_get("sequence"))?,
                        current_snapshot: sequence_from_db(row.try_get("snapshot_version"))?,
                    });
                }
                1 => events.push(SerializedEvent {
                    aggregate_type: A::TYPE.to_owned(),
                    aggregate_id: aggregate_id.to_owned(),
                    sequence: sequence_from_db(row.try_get("sequence"))?,
                    event_type: row.try_get("event_type").map_err(deserialization)?,
                    event_version: row.try_get("event_version").map_err(deserialization)?,
                    payload: row.try_get("payload").map_err(deserialization)?,
                    metadata: row.try_get("metadata").map_err(deserialization)?,
                }),
                3 => {
                    recorded = Some(RecordedKey {
                        aggregate_id: row.try_get("owner").map_err(deserialization)?,
                        fingerprint: row.try_get("fingerprint").map_err(deserialization)?,
                        version: row
                            .try_get::<i64, _>("sequence")
                            .map_err(deserialization)?
                            .unsigned_abs(),
                    });
                }
                _ => {
                    let bytes: Option<Vec<u8>> = row.try_get("key").map_err(deserialization)?;
                    if let Some(bytes) = &bytes {
                        self.recent_keys.remember(aggregate_id, bytes);
                    }
                    key = bytes
                        .map(|bytes| privacy::SubjectKey::from_bytes(aggregate_id, &bytes))
                        .transpose()
                        .map_err(|e| PersistenceError::DeserializationError(Box::new(e)))?;
                }
            }
        }
        let mut keys = SubjectKeys::known(aggregate_id, key);
        let reading = self.reading();
        let mut context: EventStoreAggregateContext<A> = match snapshot {
            Some(mut snapshot) => {
                reading
                    .open(
                        &self.pool,
                        &mut keys,
                        aggregate_id,
                        self.contract.personal_data().snapshot,
                        &mut snapshot.aggregate,
                    )
                    .await
                    .map_err(|e| PersistenceError::DeserializationError(e.into()))?;
                match EventStoreAggregateContext::try_from(snapshot) {
                    Ok(context) => context,
                    Err(PersistenceError::DeserializationError(_)) => {
                        events = self.select_events(A::TYPE, aggregate_id, 0).await?;
                        empty_context(aggregate_id)
                    }
                    Err(error) => return Err(error),
                }
            }
            None => empty_context(aggregate_id),
        };
        for mut event in events {
            read(&reading, &self.pool, &mut keys, &mut event).await?;
            let envelope = EventEnvelope::<A>::try_from(event)?;
            context.current_sequence = envelope.sequence;
            context.aggregate.apply(envelope.payload);
        }
        Ok((context, recorded))
    }

    /// The personal fields of `event` sealed with its subject's key (made on first use in
    /// `tx`), ready to be written.
    async fn sealed(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        event: &SerializedEvent,
    ) -> Result<Prepared, PersistenceError> {
        let key = if self
            .contract
            .personal_data()
            .fields(&event.event_type)
            .is_empty()
        {
            None
        } else {
            privacy::keys::sealing_key(tx, &event.aggregate_id)
                .await
                .map_err(unknown)?
        };
        self.prepared(event, key.as_ref())
    }

    /// `event` as it is stored and published: its personal fields sealed with `key` (read as
    /// erased without one), its envelope and its record headers, under a new event id.
    fn prepared(
        &self,
        event: &SerializedEvent,
        key: Option<&privacy::SubjectKey>,
    ) -> Result<Prepared, PersistenceError> {
        let mut sealed = event.clone();
        let fields = self.contract.personal_data().fields(&event.event_type);
        if !fields.is_empty() {
            privacy::seal_fields(&mut sealed.payload, fields, key)
                .map_err(|e| PersistenceError::UnknownError(Box::new(e)))?;
        }
        let event_id = Uuid::now_v7();
        let recorded_at = Utc::now();
        let metadata = CommandMetadata::from_json(&event.metadata);
        let payload = self.contract.payload(&sealed).map_err(contract_error)?;
        let envelope = outbox::envelope(&sealed, event_id, recorded_at, &metadata, payload)
            .map_err(contract_error)?;
        let headers = outbox::headers(event_id, &event.event_type, metadata.traceparent.as_deref());
        Ok(Prepared {
            event: sealed,
            event_id,
            recorded_at,
            envelope,
            headers: Value::Object(headers),
        })
    }

    async fn append(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        event: &SerializedEvent,
    ) -> Result<(), PersistenceError> {
        // Claims are taken on the values themselves (stored as digests); everything stored or
        // published carries the personal fields sealed.
        let claims = self.contract.claims(event).map_err(contract_error)?;
        let prepared = self.sealed(tx, event).await?;
        let event = &prepared.event;
        // The event and its outbox row in one statement. The relay's wake-up rides on the
        // insert: delivered on commit only, so the relay never wakes for a row it cannot see
        // yet (Postgres sends one per partition and transaction).
        sqlx::query(
            "WITH event AS ( \
                 INSERT INTO events (aggregate_type, aggregate_id, sequence, event_id, event_type, \
                     event_version, payload, metadata, recorded_at, envelope) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)) \
             INSERT INTO outbox (partition_key, topic, message_key, payload, headers, event_id) \
             VALUES ($11, $12, $2, $10, $13, $4) RETURNING pg_notify($14, partition_key::text)",
        )
        .bind(&event.aggregate_type)
        .bind(&event.aggregate_id)
        .bind(sequence_to_db(event.sequence)?)
        .bind(prepared.event_id)
        .bind(&event.event_type)
        .bind(&event.event_version)
        .bind(&event.payload)
        .bind(&event.metadata)
        .bind(prepared.recorded_at)
        .bind(&prepared.envelope)
        .bind(outbox::partition_for(&event.aggregate_id))
        .bind(self.contract.topic())
        .bind(&prepared.headers)
        .bind(outbox::NOTIFY_CHANNEL)
        .execute(&mut **tx)
        .await
        .map_err(|error| match &error {
            sqlx::Error::Database(db) if db.constraint() == Some("events_pkey") => {
                PersistenceError::OptimisticLockError
            }
            _ => unknown(error),
        })?;

        if !claims.is_empty() {
            let secret = self
                .claim_secret
                .get_or_try_init(|| privacy::keys::ClaimSecret::load(&mut **tx))
                .await
                .map_err(unknown)?;
            for change in claims {
                apply_claim(tx, secret, &event.aggregate_id, change).await?;
            }
        }
        if self.contract.personal_data().erasure == Some(event.event_type.as_str()) {
            erase_subject(tx, &event.aggregate_type, &event.aggregate_id).await?;
        }
        Ok(())
    }

    /// Writes a command's events in one statement, outside any explicit transaction: the
    /// events, their outbox rows, the subject's key when it is new, the uniqueness claims, the
    /// idempotency key and the snapshot, each a part of one `WITH` (one round trip where the
    /// transaction takes one per part plus BEGIN and COMMIT). Answers `false`, having written
    /// nothing, when the command needs the transaction: it erases its subject, releases a
    /// claim (a changed email), claims one value twice, seals with a key this process does not hold (no longer among
    /// the recent keys, or erased), or a part of the statement refused (a claim owned by
    /// another aggregate, another key stored meanwhile). The transaction then says which.
    async fn write_at_once(
        &self,
        aggregate_type: &str,
        events: &[SerializedEvent],
        snapshot: Option<&(String, Value, usize)>,
    ) -> Result<bool, PersistenceError> {
        let (Some(first), Some(last)) = (events.first(), events.last()) else {
            return Ok(true);
        };
        let personal = self.contract.personal_data();
        if events
            .iter()
            .any(|event| personal.erasure == Some(event.event_type.as_str()))
        {
            return Ok(false);
        }
        let subject = first.aggregate_id.as_str();
        let seals = events
            .iter()
            .any(|event| !personal.fields(&event.event_type).is_empty())
            || (snapshot.is_some() && !personal.snapshot.is_empty());
        // A new aggregate's subject has no key yet: one is made here, and stored only if none
        // is stored by then. A known subject's key comes from its load.
        let key_bytes = match (seals, first.sequence) {
            (false, _) => None,
            (true, 1) => Some(
                privacy::SubjectKey::generate()
                    .map_err(|e| PersistenceError::UnknownError(Box::new(e)))?
                    .to_vec(),
            ),
            (true, _) => match self.recent_keys.get(subject) {
                Some(bytes) => Some(bytes),
                None => return Ok(false),
            },
        };
        let key = key_bytes
            .as_deref()
            .map(|bytes| privacy::SubjectKey::from_bytes(subject, bytes))
            .transpose()
            .map_err(|e| PersistenceError::UnknownError(Box::new(e)))?;

        let mut changes = Vec::new();
        for event in events {
            changes.extend(self.contract.claims(event).map_err(contract_error)?);
        }
        let mut claimed = Claims::default();
        if !changes.is_empty() {
            let secret = self
                .claim_secret
                .get_or_try_init(|| privacy::keys::ClaimSecret::load(&self.pool))
                .await
                .map_err(unknown)?;
            for change in changes {
                match change {
                    ClaimChange::Claim { scope, value } => {
                        claimed.push(scope, secret.digest(&value));
                    }
                    // A release deletes by a join with the released values, and Postgres may
                    // plan that join, once for the connection, as a scan of every claim.
                    ClaimChange::Release { .. } => return Ok(false),
                }
            }
            if !claimed.distinct() {
                return Ok(false);
            }
        }

        let mut written = EventColumns::default();
        for event in events {
            written.push(self.prepared(event, key.as_ref())?)?;
        }
        let idempotency = CommandMetadata::from_json(&last.metadata).idempotency;
        let snapshot = match snapshot {
            Some((_, payload, version)) => {
                let mut payload = payload.clone();
                if !personal.snapshot.is_empty() {
                    privacy::seal_fields(&mut payload, personal.snapshot, key.as_ref())
                        .map_err(|e| PersistenceError::UnknownError(Box::new(e)))?;
                }
                let every = self.snapshot_every.max(1);
                Some((
                    sequence_to_db(last.sequence / every * every)?,
                    sequence_to_db(*version)?,
                    payload,
                ))
            }
            None => None,
        };
        let outcome = sqlx::query_scalar::<_, i64>(WRITE_AT_ONCE)
            .bind(aggregate_type)
            .bind(subject)
            .bind(&written.sequence)
            .bind(&written.event_id)
            .bind(&written.event_type)
            .bind(&written.event_version)
            .bind(&written.payload)
            .bind(&written.metadata)
            .bind(&written.recorded_at)
            .bind(&written.envelope)
            .bind(&written.headers)
            .bind(outbox::partition_for(subject))
            .bind(self.contract.topic())
            .bind(outbox::NOTIFY_CHANNEL)
            .bind(key_bytes)
            .bind(&claimed.scope)
            .bind(&claimed.value)
            .bind(idempotency.as_ref().map(|i| i.key.as_str()))
            .bind(idempotency.as_ref().map(|i| i.fingerprint.as_str()))
            .bind(sequence_to_db(last.sequence)?)
            .bind(snapshot.as_ref().map(|s| s.0))
            .bind(snapshot.as_ref().map(|s| s.1))
            .bind(snapshot.map(|s| s.2))
            .bind(self.contract.snapshot_shape())
            .fetch_one(&self.pool)
            .await;
        let Err(error) = outcome else {
            return Ok(true);
        };
        let (code, constraint) = match &error {
            sqlx::Error::Database(db) => (
                db.code().map(std::borrow::Cow::into_owned),
                db.constraint().map(str::to_owned),
            ),
            _ => (None, None),
        };
        match (code.as_deref(), constraint.as_deref(), idempotency) {
            (Some(WRITE_REFUSED), _, _) => Ok(false),
            (_, Some("events_pkey"), _) => Err(PersistenceError::OptimisticLockError),
            (_, Some("idempotency_keys_pkey"), Some(idempotency)) => Err(
                PersistenceError::UnknownError(Box::new(KeyRecorded(idempotency.key))),
            ),
            _ => Err(unknown(error)),
        }
    }

    async fn save_snapshot(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        aggregate_type: &str,
        (aggregate_id, payload, snapshot_version): (String, Value, usize),
        last_event: usize,
    ) -> Result<(), PersistenceError> {
        let every = self.snapshot_every.max(1);
        let last_sequence = last_event / every * every;
        let fields = self.contract.personal_data().snapshot;
        let mut payload = payload;
        if !fields.is_empty() {
            let key = privacy::keys::sealing_key(tx, &aggregate_id)
                .await
                .map_err(unknown)?;
            privacy::seal_fields(&mut payload, fields, key.as_ref())
                .map_err(|e| PersistenceError::UnknownError(Box::new(e)))?;
        }
        // A snapshot of another shape is replaced whatever its sequence: it is never read.
        sqlx::query(
            "INSERT INTO snapshots \
                 (aggregate_type, aggregate_id, last_sequence, snapshot_version, payload, shape_version) \
             VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT ON CONSTRAINT snapshots_pkey DO UPDATE \
             SET last_sequence = excluded.last_sequence, snapshot_version = excluded.snapshot_version, \
                 payload = excluded.payload, shape_version = excluded.shape_version, taken_at = now() \
             WHERE snapshots.last_sequence < excluded.last_sequence \
                OR snapshots.shape_version <> excluded.shape_version",
        )
        .bind(aggregate_type)
        .bind(aggregate_id)
        .bind(sequence_to_db(last_sequence)?)
        .bind(sequence_to_db(snapshot_version)?)
        .bind(payload)
        .bind(self.contract.snapshot_shape())
        .execute(&mut **tx)
        .await
        .map_err(unknown)?;
        Ok(())
    }

    async fn select_events(
        &self,
        aggregate_type: &str,
        aggregate_id: &str,
        after: usize,
    ) -> Result<Vec<SerializedEvent>, PersistenceError> {
        let rows = sqlx::query(
            "SELECT aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata \
             FROM events WHERE aggregate_type = $1 AND aggregate_id = $2 AND sequence > $3 \
             ORDER BY sequence",
        )
        .bind(aggregate_type)
        .bind(aggregate_id)
        .bind(sequence_to_db(after)?)
        .fetch_all(&self.pool)
        .await
        .map_err(connection)?
        .iter()
        .map(serialized_event)
        .collect::<Result<Vec<_>, _>>()?;
        let (reading, mut keys) = (self.reading(), SubjectKeys::default());
        let mut events = rows;
        for event in &mut events {
            read(&reading, &self.pool, &mut keys, event).await?;
        }
        Ok(events)
    }

    async fn replay(
        &self,
        aggregate_type: &str,
        aggregate_id: Option<&str>,
    ) -> Result<ReplayStream, PersistenceError> {
        let (mut feed, stream) = ReplayStream::new(256);
        let pool = self.pool.clone();
        let aggregate_type = aggregate_type.to_owned();
        let aggregate_id = aggregate_id.map(str::to_owned);
        let reading = self.reading();
        tokio::spawn(async move {
            use futures::TryStreamExt;
            let mut keys = SubjectKeys::default();
            let mut rows = sqlx::query(
                "SELECT aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata \
                 FROM events WHERE aggregate_type = $1 AND ($2::text IS NULL OR aggregate_id = $2) \
                 ORDER BY position",
            )
            .bind(aggregate_type)
            .bind(aggregate_id)
            .fetch(&pool);
            loop {
                let next = match rows.try_next().await {
                    Ok(Some(row)) => match serialized_event(&row) {
                        Ok(mut event) => read(&reading, &pool, &mut keys, &mut event)
                            .await
                            .map(|()| event),
                        Err(error) => Err(error),
                    },
                    Ok(None) => break,
                    Err(error) => Err(connection(error)),
                };
                let failed = next.is_err();
                if feed.push(next).await.is_err() || failed {
                    break;
                }
            }
        });
        Ok(stream)
    }
}

impl PersistedEventRepository for PgEventRepository {
    async fn get_events<A: Aggregate>(
        &self,
        aggregate_id: &str,
    ) -> Result<Vec<SerializedEvent>, PersistenceError> {
        self.select_events(A::TYPE, aggregate_id, 0).await
    }

    async fn get_last_events<A: Aggregate>(
        &self,
        aggregate_id: &str,
        last_sequence: usize,
    ) -> Result<Vec<SerializedEvent>, PersistenceError> {
        self.select_events(A::TYPE, aggregate_id, last_sequence)
            .await
    }

    async fn get_snapshot<A: Aggregate>(
        &self,
        aggregate_id: &str,
    ) -> Result<Option<SerializedSnapshot>, PersistenceError> {
        // Only a snapshot of the current shape: another is as good as none.
        let row = sqlx::query(
            "SELECT last_sequence, snapshot_version, payload FROM snapshots \
             WHERE aggregate_type = $1 AND aggregate_id = $2 AND shape_version = $3",
        )
        .bind(A::TYPE)
        .bind(aggregate_id)
        .bind(self.contract.snapshot_shape())
        .fetch_optional(&self.pool)
        .await
        .map_err(connection)?;
        let Some(row) = row else {
            return Ok(None);
        };
        let mut aggregate: Value = row.try_get("payload").map_err(deserialization)?;
        let fields = self.contract.personal_data().snapshot;
        Reading::of(self.contract.as_ref())
            .open(
                &self.pool,
                &mut SubjectKeys::default(),
                aggregate_id,
                fields,
                &mut aggregate,
            )
            .await
            .map_err(|e| PersistenceError::DeserializationError(e.into()))?;
        Ok(Some(SerializedSnapshot {
            aggregate_id: aggregate_id.to_owned(),
            aggregate,
            current_sequence: sequence_from_db(row.try_get("last_sequence"))?,
            current_snapshot: sequence_from_db(row.try_get("snapshot_version"))?,
        }))
    }

    async fn persist<A: Aggregate>(
        &self,
        events: &[SerializedEvent],
        snapshot_update: Option<(String, Value, usize)>,
    ) -> Result<(), PersistenceError> {
        if self
            .write_at_once(A::TYPE, events, snapshot_update.as_ref())
            .await?
        {
            count_appended(events, "statement");
            return Ok(());
        }
        let mut tx = self.pool.begin().await.map_err(connection)?;
        for event in events {
            self.append(&mut tx, event).await?;
        }
        if let Some(last) = events.last() {
            record_idempotency_key(&mut tx, last).await?;
        }
        if let (Some(update), Some(last)) = (snapshot_update, events.last()) {
            self.save_snapshot(&mut tx, A::TYPE, update, last.sequence)
                .await?;
        }
        tx.commit().await.map_err(unknown)?;
        count_appended(events, "transaction");
        Ok(())
    }

    async fn stream_events<A: Aggregate>(
        &self,
        aggregate_id: &str,
    ) -> Result<ReplayStream, PersistenceError> {
        self.replay(A::TYPE, Some(aggregate_id)).await
    }

    async fn stream_all_events<A: Aggregate>(&self) -> Result<ReplayStream, PersistenceError> {
        self.replay(A::TYPE, None).await
    }
}

/// Records the command's idempotency key (carried in its events' metadata) with the version
/// its last event reached. A concurrent repeat that committed first owns the key: this
/// transaction then fails with `KeyRecorded`, and the bus answers the recorded outcome.
async fn record_idempotency_key(
    tx: &mut Transaction<'_, Postgres>,
    last: &SerializedEvent,
) -> Result<(), PersistenceError> {
    let Some(idempotency) = CommandMetadata::from_json(&last.metadata).idempotency else {
        return Ok(());
    };
    sqlx::query(
        "INSERT INTO idempotency_keys (aggregate_type, idempotency_key, aggregate_id, fingerprint, version) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&last.aggregate_type)
    .bind(&idempotency.key)
    .bind(&last.aggregate_id)
    .bind(&idempotency.fingerprint)
    .bind(sequence_to_db(last.sequence)?)
    .execute(&mut **tx)
    .await
    .map_err(|error| match &error {
        sqlx::Error::Database(db) if db.constraint() == Some("idempotency_keys_pkey") => {
            PersistenceError::UnknownError(Box::new(KeyRecorded(idempotency.key.clone())))
        }
        _ => unknown(error),
    })?;
    Ok(())
}

/// Forgets the subject of an erasure in the erasure's transaction: destroys their key (their
/// sealed data reads as erased from now on, wherever it went), gives their uniqueness claims
/// back (the email can be registered again), and drops their snapshots and idempotency
/// records (which hold digests of requests that carried their data).
async fn erase_subject(
    tx: &mut Transaction<'_, Postgres>,
    aggregate_type: &str,
    subject: &str,
) -> Result<(), PersistenceError> {
    privacy::keys::shred(&mut **tx, subject)
        .await
        .map_err(unknown)?;
    sqlx::query("DELETE FROM unique_claims WHERE owner_id = $1")
        .bind(subject)
        .execute(&mut **tx)
        .await
        .map_err(unknown)?;
    for table in ["snapshots", "idempotency_keys"] {
        sqlx::query(&format!(
            "DELETE FROM {table} WHERE aggregate_type = $1 AND aggregate_id = $2"
        ))
        .bind(aggregate_type)
        .bind(subject)
        .execute(&mut **tx)
        .await
        .map_err(unknown)?;
    }
    Ok(())
}

async fn apply_claim(
    tx: &mut Transaction<'_, Postgres>,
    secret: &privacy::keys::ClaimSecret,
    owner: &str,
    change: ClaimChange,
) -> Result<(), PersistenceError> {
    let change = match change {
        ClaimChange::Claim { scope, value } => ClaimChange::Claim {
            scope,
            value: secret.digest(&value),
        },
        ClaimChange::Release { scope, value } => ClaimChange::Release {
            scope,
            value: secret.digest(&value),
        },
    };
    match change {
        ClaimChange::Claim { scope, value } => {
            // A concurrent claimer blocks on the key until this transaction ends, then sees it.
            let owned: Option<String> = sqlx::query_scalar(
                "INSERT INTO unique_claims (scope, value, owner_id) VALUES ($1, $2, $3) \
                 ON CONFLICT ON CONSTRAINT unique_claims_pkey DO UPDATE SET owner_id = excluded.owner_id \
                 WHERE unique_claims.owner_id = excluded.owner_id \
                 RETURNING owner_id",
            )
            .bind(scope)
            .bind(&value)
            .bind(owner)
            .fetch_optional(&mut **tx)
            .await
            .map_err(unknown)?;
            if owned.is_none() {
                return Err(PersistenceError::UnknownError(Box::new(ClaimTaken {
                    scope: scope.to_owned(),
                    value,
                })));
            }
        }
        ClaimChange::Release { scope, value } => {
            sqlx::query(
                "DELETE FROM unique_claims WHERE scope = $1 AND value = $2 AND owner_id = $3",
            )
            .bind(scope)
            .bind(value)
            .bind(owner)
            .execute(&mut **tx)
            .await
            .map_err(unknown)?;
        }
    }
    Ok(())
}

/// SQLSTATE of `event_store_write_refused()`: a part of a write in one statement did not do
/// what the write needs.
const WRITE_REFUSED: &str = "ES001";

/// A command's write in one statement (`PgEventRepository::write_at_once`). Parts: the
/// subject's key, made when the command seals with a key not stored yet (`made`), or checked
/// to be the stored one (`key_held`); the events and their outbox rows, in order; the claims,
/// each made or already the aggregate's (`claimed`); the idempotency key; the
/// snapshot. The final select fails the whole statement when a claim or the key did not hold.
/// A conflict on the events' or the idempotency keys' primary key fails it by itself.
const WRITE_AT_ONCE: &str = "\
    WITH made AS ( \
        INSERT INTO subject_keys (subject, key) SELECT $2, $15 WHERE $15 IS NOT NULL \
        ON CONFLICT (subject) DO NOTHING RETURNING 1), \
    key_held AS ( \
        SELECT 1 FROM made UNION ALL \
        SELECT 1 FROM subject_keys WHERE $15 IS NOT NULL AND subject = $2 AND key = $15), \
    stored AS ( \
        INSERT INTO events (aggregate_type, aggregate_id, sequence, event_id, event_type, \
            event_version, payload, metadata, recorded_at, envelope) \
        SELECT $1, $2, e.* FROM unnest($3::bigint[], $4::uuid[], $5::text[], $6::text[], \
            $7::jsonb[], $8::jsonb[], $9::timestamptz[], $10::bytea[]) AS e \
        RETURNING 1), \
    queued AS ( \
        INSERT INTO outbox (partition_key, topic, message_key, payload, headers, event_id) \
        SELECT $12, $13, $2, o.envelope, o.headers, o.event_id \
        FROM unnest($10::bytea[], $11::jsonb[], $4::uuid[]) WITH ORDINALITY \
            AS o(envelope, headers, event_id, n) \
        ORDER BY o.n \
        RETURNING pg_notify($14, partition_key::text)), \
    claimed AS ( \
        INSERT INTO unique_claims (scope, value, owner_id) \
        SELECT c.scope, c.value, $2 FROM unnest($16::text[], $17::text[]) AS c(scope, value) \
        ON CONFLICT ON CONSTRAINT unique_claims_pkey DO UPDATE SET owner_id = excluded.owner_id \
        WHERE unique_claims.owner_id = excluded.owner_id \
        RETURNING 1), \
    recorded AS ( \
        INSERT INTO idempotency_keys (aggregate_type, idempotency_key, aggregate_id, \
            fingerprint, version) \
        SELECT $1, $18, $2, $19, $20 WHERE $18 IS NOT NULL), \
    snapshot AS ( \
        INSERT INTO snapshots (aggregate_type, aggregate_id, last_sequence, snapshot_version, \
            payload, shape_version) \
        SELECT $1, $2, $21, $22, $23, $24 WHERE $21 IS NOT NULL \
        ON CONFLICT ON CONSTRAINT snapshots_pkey DO UPDATE \
        SET last_sequence = excluded.last_sequence, snapshot_version = excluded.snapshot_version, \
            payload = excluded.payload, shape_version = excluded.shape_version, taken_at = now() \
        WHERE snapshots.last_sequence < excluded.last_sequence \
           OR snapshots.shape_version <> excluded.shape_version) \
    SELECT CASE \
        WHEN (SELECT count(*) FROM claimed) = cardinality($16::text[]) \
         AND ($15 IS NULL OR EXISTS (SELECT FROM key_held)) \
        THEN (SELECT count(*) FROM stored) + (SELECT count(*) FROM queued) \
        ELSE event_store_write_refused() END";

/// An event as it is stored and published.
struct Prepared {
    /// With its personal fields sealed.
    event: SerializedEvent,
    event_id: Uuid,
    recorded_at: chrono::DateTime<Utc>,
    envelope: Vec<u8>,
    headers: Value,
}

/// A command's events as the columns of one `unnest`.
#[derive(Default)]
struct EventColumns {
    sequence: Vec<i64>,
    event_id: Vec<Uuid>,
    event_type: Vec<String>,
    event_version: Vec<String>,
    payload: Vec<Value>,
    metadata: Vec<Value>,
    recorded_at: Vec<chrono::DateTime<Utc>>,
    envelope: Vec<Vec<u8>>,
    headers: Vec<Value>,
}

impl EventColumns {
    fn push(&mut self, prepared: Prepared) -> Result<(), PersistenceError> {
        let Prepared {
            event,
            event_id,
            recorded_at,
            envelope,
            headers,
        } = prepared;
        self.sequence.push(sequence_to_db(event.sequence)?);
        self.event_id.push(event_id);
        self.event_type.push(event.event_type);
        self.event_version.push(event.event_version);
        self.payload.push(event.payload);
        self.metadata.push(event.metadata);
        self.recorded_at.push(recorded_at);
        self.envelope.push(envelope);
        self.headers.push(headers);
        Ok(())
    }
}

/// Claimed values (digests) as the columns of one `unnest`.
#[derive(Default)]
struct Claims {
    scope: Vec<String>,
    value: Vec<String>,
}

impl Claims {
    fn push(&mut self, scope: &str, value: String) {
        self.scope.push(scope.to_owned());
        self.value.push(value);
    }

    /// Whether no value is claimed twice: one statement cannot claim one value twice.
    fn distinct(&self) -> bool {
        let mut seen = std::collections::HashSet::new();
        self.scope
            .iter()
            .zip(&self.value)
            .all(|pair| seen.insert(pair))
    }
}

/// Key bytes of the subjects loaded lately, so that the write after a load seals with the
/// subject's key without reading it again. Never trusted blindly: the write checks, in its own
/// statement, that the key is still the stored one.
#[derive(Default)]
struct RecentKeys(std::sync::Mutex<std::collections::HashMap<String, Vec<u8>>>);

impl RecentKeys {
    const MAX: usize = 10_000;

    fn remember(&self, subject: &str, bytes: &[u8]) {
        let mut keys = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if keys.len() >= Self::MAX && !keys.contains_key(subject) {
            keys.clear();
        }
        keys.insert(subject.to_owned(), bytes.to_vec());
    }

    fn get(&self, subject: &str) -> Option<Vec<u8>> {
        let keys = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        keys.get(subject).cloned()
    }
}

/// Counts a committed command's events, and whether it was written in one statement or in the
/// transaction (`path`): commands that keep falling back show there.
fn count_appended(events: &[SerializedEvent], path: &'static str) {
    metrics::counter!("event_store_writes_total", "path" => path).increment(1);
    for event in events {
        metrics::counter!(
            "event_store_events_appended_total",
            "aggregate_type" => event.aggregate_type.clone(),
            "event_type" => event.event_type.clone()
        )
        .increment(1);
    }
}

/// An aggregate with no events yet.
fn empty_context<A: Aggregate>(aggregate_id: &str) -> EventStoreAggregateContext<A> {
    EventStoreAggregateContext {
        aggregate_id: aggregate_id.to_owned(),
        aggregate: A::default(),
        current_sequence: 0,
        current_snapshot: None,
    }
}

/// A stored event as stored.
fn serialized_event(row: &PgRow) -> Result<SerializedEvent, PersistenceError> {
    Ok(SerializedEvent {
        aggregate_type: row.try_get("aggregate_type").map_err(deserialization)?,
        aggregate_id: row.try_get("aggregate_id").map_err(deserialization)?,
        sequence: sequence_from_db(row.try_get("sequence"))?,
        event_type: row.try_get("event_type").map_err(deserialization)?,
        event_version: row.try_get("event_version").map_err(deserialization)?,
        payload: row.try_get("payload").map_err(deserialization)?,
        metadata: row.try_get("metadata").map_err(deserialization)?,
    })
}

/// A stored event as its readers see it: personal fields opened with its subject's key (or
/// read as erased), then brought to the current schema version of its type.
async fn read(
    reading: &Reading,
    pool: &PgPool,
    keys: &mut SubjectKeys,
    event: &mut SerializedEvent,
) -> Result<(), PersistenceError> {
    let fields = reading.personal.fields(&event.event_type);
    reading
        .open(pool, keys, &event.aggregate_id, fields, &mut event.payload)
        .await
        .map_err(|error| PersistenceError::DeserializationError(error.into()))?;
    upcast_stored(reading.upcasters, event)
        .map_err(|error| PersistenceError::DeserializationError(error.into()))
}

fn sequence_to_db(sequence: usize) -> Result<i64, PersistenceError> {
    i64::try_from(sequence).map_err(|e| PersistenceError::UnknownError(Box::new(e)))
}

fn sequence_from_db(value: Result<i64, sqlx::Error>) -> Result<usize, PersistenceError> {
    let value = value.map_err(deserialization)?;
    usize::try_from(value).map_err(|e| PersistenceError::DeserializationError(Box::new(e)))
}

fn connection(error: sqlx::Error) -> PersistenceError {
    PersistenceError::ConnectionError(Box::new(error))
}

fn deserialization(error: sqlx::Error) -> PersistenceError {
    PersistenceError::DeserializationError(Box::new(error))
}

fn unknown(error: sqlx::Error) -> PersistenceError {
    PersistenceError::UnknownError(Box::new(error))
}

fn contract_error(message: String) -> PersistenceError {
    PersistenceError::UnknownError(Box::new(crate::StoreError::Contract(message)))
}
