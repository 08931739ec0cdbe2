//! A tiny aggregate of no bounded context, its contract and a projection of it, so the shared
//! crates (event store, relay, projector, kits) are proven by tests of their own, not only
//! through the Users and Orders services.
//!
//! A counter is opened under a name (a uniqueness claim), adds positive amounts and can be
//! renamed (the claim moves). Its view keeps, per counter, how many events were applied and
//! the version reached: an event applied twice or skipped makes the two disagree.

use std::sync::Arc;

use contracts::events::v1::EventEnvelope;
use contracts::events::v1::event_envelope::Payload;
use cqrs_es::event_sink::EventSink;
use cqrs_es::persist::SerializedEvent;
use cqrs_es::{Aggregate, DomainEvent};
use event_store::{ClaimChange, CommandBus, EventContract};
use projector::{ApplyError, Projection};
use serde::{Deserialize, Serialize};
use service_kit::settings::{DatabaseSettings, KafkaSettings};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

/// `aggregate_type` of the counter's events.
pub const COUNTER_TYPE: &str = "counter";
/// Scope of the counters' name claims.
pub const NAME_SCOPE: &str = "counter.name";

/// A counter's state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counter {
    pub opened: bool,
    pub name: String,
    pub total: i64,
}

/// What a counter can be asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CounterCommand {
    Open {
        name: String,
    },
    Add {
        amount: i64,
    },
    Rename {
        name: String,
    },
    /// Two events in one command: an addition, then a rename (whose claim may fail).
    AddThenRename {
        amount: i64,
        name: String,
    },
}

/// What happened to a counter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CounterEvent {
    Opened { name: String },
    Added { amount: i64 },
    Renamed { from: String, to: String },
}

impl DomainEvent for CounterEvent {
    fn event_type(&self) -> String {
        match self {
            Self::Opened { .. } => "CounterOpened",
            Self::Added { .. } => "CounterAdded",
            Self::Renamed { .. } => "CounterRenamed",
        }
        .to_owned()
    }

    fn event_version(&self) -> String {
        "1".to_owned()
    }
}

/// Why a counter refused a command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CounterError {
    #[error("the counter is already open")]
    AlreadyOpen,
    #[error("the counter is not open")]
    NotOpen,
    #[error("amounts must be positive")]
    NotPositive,
}

impl Aggregate for Counter {
    const TYPE: &'static str = COUNTER_TYPE;
    type Command = CounterCommand;
    type Event = CounterEvent;
    type Error = CounterError;
    type Services = ();

    async fn handle(
        &mut self,
        command: Self::Command,
        _services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        let events = match command {
            CounterCommand::Open { .. } if self.opened => return Err(CounterError::AlreadyOpen),
            CounterCommand::Open { name } => vec![CounterEvent::Opened { name }],
            _ if !self.opened => return Err(CounterError::NotOpen),
            CounterCommand::Add { amount } | CounterCommand::AddThenRename { amount, .. }
                if amount < 1 =>
            {
                return Err(CounterError::NotPositive);
            }
            CounterCommand::Add { amount } => vec![CounterEvent::Added { amount }],
            CounterCommand::Rename { name } => vec![CounterEvent::Renamed {
                from: self.name.clone(),
                to: name,
            }],
            CounterCommand::AddThenRename { amount, name } => vec![
                CounterEvent::Added { amount },
                CounterEvent::Renamed {
                    from: self.name.clone(),
                    to: name,
                },
            ],
        };
        for event in events {
            sink.write(event, self).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        match event {
            CounterEvent::Opened { name } => {
                self.opened = true;
                self.name = name;
            }
            CounterEvent::Added { amount } => self.total += amount,
            CounterEvent::Renamed { to, .. } => self.name = to,
        }
    }
}

/// The counter's contract: its topic, its name claims and its snapshots' shape.
pub struct CounterContract {
    topic: String,
    snapshot_shape: i32,
}

impl CounterContract {
    /// Events go to `topic`; snapshots are of shape 1.
    pub fn new(topic: impl Into<String>) -> Self {
        Self {
            topic: topic.into(),
            snapshot_shape: 1,
        }
    }

    /// The same contract after a change to the counter's shape: its snapshots are of `shape`.
    pub fn with_snapshot_shape(self, shape: i32) -> Self {
        Self {
            snapshot_shape: shape,
            ..self
        }
    }
}

fn decode(event: &SerializedEvent) -> Result<CounterEvent, String> {
    serde_json::from_value(event.payload.clone())
        .map_err(|error| format!("stored {} is not a CounterEvent: {error}", event.event_type))
}

impl EventContract for CounterContract {
    fn topic(&self) -> &str {
        &self.topic
    }

    /// The envelope's payload is a oneof of the contexts' events with no place for a test
    /// aggregate: a counter's events travel with an empty one, and its view reads only the
    /// envelope's own fields.
    fn payload(&self, event: &SerializedEvent) -> Result<Payload, String> {
        decode(event)?;
        Ok(Payload::User(Default::default()))
    }

    fn snapshot_shape(&self) -> i32 {
        self.snapshot_shape
    }

    fn claims(&self, event: &SerializedEvent) -> Result<Vec<ClaimChange>, String> {
        let claim = |value: String| ClaimChange::Claim {
            scope: NAME_SCOPE,
            value,
        };
        Ok(match decode(event)? {
            CounterEvent::Opened { name } => vec![claim(name)],
            CounterEvent::Added { .. } => Vec::new(),
            CounterEvent::Renamed { from, to } => vec![
                ClaimChange::Release {
                    scope: NAME_SCOPE,
                    value: from,
                },
                claim(to),
            ],
        })
    }
}

/// A command bus for counters on the event store in `pool`, publishing to `topic`.
pub fn counter_bus(pool: &PgPool, topic: &str) -> CommandBus<Counter> {
    CommandBus::new(pool.clone(), Arc::new(CounterContract::new(topic)), ())
}

/// Opens `counters` counters through `bus`, each followed by `additions` additions of 1,
/// `parallel` counters at a time; returns their ids.
pub async fn open_counters(
    bus: &CommandBus<Counter>,
    counters: usize,
    additions: usize,
    parallel: usize,
) -> Vec<Uuid> {
    use futures::StreamExt;
    futures::stream::iter(0..counters)
        .map(|_| async move {
            let id = Uuid::now_v7();
            run(
                bus,
                id,
                CounterCommand::Open {
                    name: id.to_string(),
                },
            )
            .await;
            for _ in 0..additions {
                run(bus, id, CounterCommand::Add { amount: 1 }).await;
            }
            id
        })
        .buffer_unordered(parallel)
        .collect()
        .await
}

async fn run(bus: &CommandBus<Counter>, id: Uuid, command: CounterCommand) {
    bus.execute(&id.to_string(), command, None, Default::default())
        .await
        .unwrap_or_else(|error| panic!("counter {id}: {error}"));
}

/// A migrated, empty event store of counters with a topic of its own.
pub struct CounterStore {
    pub database: DatabaseSettings,
    pub pool: PgPool,
    pub topic: String,
    pub kafka: KafkaSettings,
}

impl CounterStore {
    /// On the test broker, with a topic of three partitions.
    pub async fn new() -> Self {
        let database = crate::fresh_database().await;
        let pool = database.pool();
        event_store::MIGRATOR
            .run(&pool)
            .await
            .expect("event store migrated");
        let kafka = KafkaSettings::plaintext(crate::kafka_brokers());
        let topic = crate::fresh_topic_on(&kafka, "counters.events", 3).await;
        Self {
            database,
            pool,
            topic,
            kafka,
        }
    }

    /// A bus on this store.
    pub fn bus(&self) -> CommandBus<Counter> {
        counter_bus(&self.pool, &self.topic)
    }

    /// Opens a counter and adds 1 to it `additions` times, straight through the bus (nothing
    /// is published); its id.
    pub async fn counter(&self, additions: usize) -> Uuid {
        open_counters(&self.bus(), 1, additions, 1).await[0]
    }

    /// Every stored envelope of `counter`, by sequence.
    pub async fn envelopes(&self, counter: Uuid) -> Vec<Vec<u8>> {
        sqlx::query_scalar("SELECT envelope FROM events WHERE aggregate_id = $1 ORDER BY sequence")
            .bind(counter.to_string())
            .fetch_all(&self.pool)
            .await
            .expect("envelopes")
    }

    /// Publishes the stored envelopes of `counter` with the given sequences, in that order
    /// (repeats and reorderings included).
    pub async fn publish(&self, counter: Uuid, sequences: &[usize]) {
        let envelopes = self.envelopes(counter).await;
        let records: Vec<(String, Vec<u8>)> = sequences
            .iter()
            .map(|s| (counter.to_string(), envelopes[s - 1].clone()))
            .collect();
        crate::produce_in_order(&self.kafka.brokers, &self.topic, &records).await;
    }

    /// Publishes `bytes` keyed by `counter`, as a broken producer would.
    pub async fn publish_raw(&self, counter: Uuid, bytes: Vec<u8>) {
        crate::produce_in_order(
            &self.kafka.brokers,
            &self.topic,
            &[(counter.to_string(), bytes)],
        )
        .await;
    }

    /// What the view must hold: the fold of the stored events.
    pub async fn fold(&self) -> Vec<CounterRow> {
        sqlx::query_as(
            "SELECT aggregate_id, count(*), max(sequence) FROM events \
             WHERE aggregate_type = $1 GROUP BY aggregate_id ORDER BY aggregate_id",
        )
        .bind(COUNTER_TYPE)
        .fetch_all(&self.pool)
        .await
        .expect("events folded")
    }
}

/// A row of the counters' view: (counter id, events applied, version).
pub type CounterRow = (String, i64, i64);

/// The counters' read model: per counter, how many events were applied and the version.
pub struct CounterView;

impl CounterView {
    /// The view's live schema.
    pub const SCHEMA: &'static str = "counters_view";
}

impl Projection for CounterView {
    fn schema(&self) -> &str {
        Self::SCHEMA
    }

    fn ddl(&self) -> &str {
        "CREATE TABLE counters (
            id      text   PRIMARY KEY,
            events  bigint NOT NULL,
            version bigint NOT NULL
        );"
    }

    async fn apply(
        &self,
        connection: &mut PgConnection,
        event: &EventEnvelope,
    ) -> Result<(), ApplyError> {
        if event.aggregate_type != COUNTER_TYPE {
            return Err(ApplyError::Rejected(format!(
                "{:?} is not a counter's event",
                event.aggregate_type
            )));
        }
        sqlx::query(
            "INSERT INTO counters (id, events, version) VALUES ($1, 1, $2) \
             ON CONFLICT (id) DO UPDATE SET events = counters.events + 1, version = excluded.version",
        )
        .bind(&event.aggregate_id)
        .bind(event.sequence as i64)
        .execute(connection)
        .await?;
        Ok(())
    }

    /// A counter's row is its number of events and last sequence: whole histories are
    /// inserted in one statement (the rebuild tests run through this bulk path).
    async fn apply_histories(
        &self,
        connection: &mut PgConnection,
        histories: &[projector::History],
    ) -> Result<Option<Vec<bool>>, ApplyError> {
        let written: Vec<bool> = histories
            .iter()
            .map(|history| {
                history
                    .events
                    .iter()
                    .all(|event| event.aggregate_type == COUNTER_TYPE)
            })
            .collect();
        let (ids, counts): (Vec<&str>, Vec<i64>) = histories
            .iter()
            .zip(&written)
            .filter(|(_, written)| **written)
            .map(|(history, _)| (history.aggregate_id.as_str(), history.events.len() as i64))
            .unzip();
        sqlx::query(
            "INSERT INTO counters (id, events, version) \
             SELECT id, n, n FROM unnest($1::text[], $2::bigint[]) AS h (id, n)",
        )
        .bind(ids)
        .bind(counts)
        .execute(connection)
        .await?;
        Ok(Some(written))
    }
}

/// A pool on `read` whose search path is the counters' view.
pub fn view_pool(read: &DatabaseSettings) -> PgPool {
    read.pool_with(
        read.connect_options()
            .options([("search_path", CounterView::SCHEMA)]),
    )
}

/// The view's rows by id; `None` until its schema exists.
pub async fn view_rows(view: &PgPool) -> Option<Vec<CounterRow>> {
    sqlx::query_as("SELECT id, events, version FROM counters ORDER BY id")
        .fetch_all(view)
        .await
        .ok()
}

/// Waits until the view in `view` holds exactly the fold of `store`.
pub async fn converged(view: &PgPool, store: &CounterStore, deadline: std::time::Duration) {
    let expected = store.fold().await;
    crate::eventually(
        deadline,
        "the counters' view to equal the fold of the event store",
        || async { (view_rows(view).await.as_ref() == Some(&expected)).then_some(()) },
    )
    .await;
}

/// Environment variable that tells an ignored fixture test it was started by
/// [`fixture_process`] (and carries what it needs, as JSON).
pub const FIXTURE_ENV: &str = "TEST_SUPPORT_FIXTURE";

/// This test binary, started again to run only the `#[ignore]`d test `fixture` with `args`
/// (read back with [`fixture_args`]): a process of its own that a test can `kill -9`. Its
/// stdout is piped; it is killed when dropped.
pub fn fixture_process(fixture: &str, args: &serde_json::Value) -> tokio::process::Command {
    let binary = std::env::current_exe().expect("the test binary's path");
    let mut command = tokio::process::Command::new(binary);
    command
        .args(["--exact", fixture, "--ignored", "--nocapture"])
        .env(FIXTURE_ENV, args.to_string())
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true);
    command
}

/// The arguments [`fixture_process`] gave this process; `None` when the fixture test runs
/// on its own (e.g. `--run-ignored all`), where it should do nothing.
pub fn fixture_args() -> Option<serde_json::Value> {
    let text = std::env::var(FIXTURE_ENV).ok()?;
    Some(serde_json::from_str(&text).expect("fixture arguments are JSON"))
}

/// The test database called `name` on the test server.
pub fn database_named(name: &str) -> DatabaseSettings {
    let mut database = crate::server_settings();
    database.database_name = name.to_owned();
    database
}
