//! users-query (and, where events come through HTTP, users-command) started in-process against
//! fresh databases and a fresh topic; a fold of the event store to compare read models with.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use cqrs_es::Aggregate;
use event_store::CommandBus;
use service_kit::settings::{DatabaseSettings, KafkaSettings};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use users_domain::UsersContract;
use users_domain::{CreditCents, Email, User, UserCommand, UserName};
use uuid::Uuid;

/// An event store with its topic, and the Kafka cluster the topic is on.
pub struct Store {
    pub database: DatabaseSettings,
    pub pool: PgPool,
    pub topic: String,
    pub kafka: KafkaSettings,
}

impl Store {
    /// A migrated, empty event store and an empty topic on the test broker.
    pub async fn new() -> Self {
        Self::on(KafkaSettings::plaintext(test_support::kafka_brokers())).await
    }

    /// A migrated, empty event store and an empty topic on the cluster of `kafka`.
    pub async fn on(kafka: KafkaSettings) -> Self {
        Self::with_partitions(kafka, 3).await
    }

    /// `on`, with a topic of `partitions` partitions.
    pub async fn with_partitions(kafka: KafkaSettings, partitions: i32) -> Self {
        let database = test_support::fresh_database().await;
        let pool = database.pool();
        event_store::MIGRATOR
            .run(&pool)
            .await
            .expect("event store migrated");
        let topic = test_support::fresh_topic_on(&kafka, "users.events", partitions).await;
        Self {
            database,
            pool,
            topic,
            kafka,
        }
    }

    pub fn bus(&self) -> CommandBus<User> {
        CommandBus::new(
            self.pool.clone(),
            Arc::new(UsersContract::new(&self.topic)),
            (),
        )
    }

    /// `count` users, each registered and then reserving credit three times (four events),
    /// every event published in order; their ids.
    pub async fn publish_reserving_users(&self, count: usize) -> Vec<Uuid> {
        let mut users = Vec::new();
        for _ in 0..count {
            users.push(
                self.user(10_000, vec![reserve(100), reserve(200), reserve(300)])
                    .await,
            );
        }
        for user in &users {
            self.publish(*user, &[1, 2, 3, 4]).await;
        }
        users
    }

    /// Every stored envelope of `user`, by sequence.
    pub async fn envelopes(&self, user: Uuid) -> Vec<Vec<u8>> {
        sqlx::query_scalar("SELECT envelope FROM events WHERE aggregate_id = $1 ORDER BY sequence")
            .bind(user.to_string())
            .fetch_all(&self.pool)
            .await
            .expect("envelopes")
    }

    /// Publishes the envelopes of `user` with the given sequences, in that order.
    pub async fn publish(&self, user: Uuid, sequences: &[usize]) {
        let envelopes = self.envelopes(user).await;
        let records: Vec<(String, Vec<u8>)> = sequences
            .iter()
            .map(|s| (user.to_string(), envelopes[s - 1].clone()))
            .collect();
        test_support::produce_in_order(&self.kafka.brokers, &self.topic, &records).await;
    }

    /// Registers a user and runs `commands` on it, straight through the bus (no relay).
    pub async fn user(&self, limit: i64, commands: Vec<UserCommand>) -> Uuid {
        let id = Uuid::now_v7();
        let bus = self.bus();
        let register = UserCommand::Register {
            user_id: id,
            email: Email::parse(&format!("{id}@example.com")).unwrap(),
            name: UserName::parse("Projected").unwrap(),
            credit_limit: CreditCents::parse(limit).unwrap(),
        };
        bus.execute(&id.to_string(), register, None, Default::default())
            .await
            .expect("registered");
        for command in commands {
            bus.execute(&id.to_string(), command, None, Default::default())
                .await
                .expect("command");
        }
        id
    }
}

pub fn reserve(cents: i64) -> UserCommand {
    UserCommand::ReserveCredit {
        order_id: Uuid::now_v7(),
        amount: CreditCents::parse_positive(cents).unwrap(),
    }
}

pub fn rename(name: &str) -> UserCommand {
    UserCommand::Rename {
        name: UserName::parse(name).unwrap(),
    }
}

/// A running users-query.
pub struct QueryApp {
    pub address: String,
    pub read: DatabaseSettings,
    pub pool: PgPool,
    pub stats: Arc<projector::ProjectorStats>,
    pub client: reqwest::Client,
    cancel: CancellationToken,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

pub fn query_settings(
    read: &DatabaseSettings,
    store: &Store,
    group: &str,
) -> users_query::Settings {
    let mut settings = users_query::Settings::default();
    settings.http.port = 0;
    settings.auth = test_support::auth::settings();
    settings.http.workers = 2;
    settings.database = read.clone();
    settings.event_store = store.database.clone();
    settings.kafka = store.kafka.clone();
    settings.topic = store.topic.clone();
    settings.projector.group_id = group.to_owned();
    settings
}

impl QueryApp {
    /// users-query on a fresh read database.
    pub async fn spawn(store: &Store) -> Self {
        Self::spawn_with(store, |_| {}).await
    }

    /// users-query on a fresh read database, with adjusted settings.
    pub async fn spawn_with(
        store: &Store,
        adjust: impl FnOnce(&mut users_query::Settings),
    ) -> Self {
        let read = test_support::fresh_database().await;
        Self::spawn_on(
            store,
            &read,
            &format!("users-query-{}", Uuid::new_v4().simple()),
            adjust,
        )
        .await
    }

    /// users-query on `read`, in consumer group `group`.
    pub async fn spawn_on(
        store: &Store,
        read: &DatabaseSettings,
        group: &str,
        adjust: impl FnOnce(&mut users_query::Settings),
    ) -> Self {
        let mut settings = query_settings(read, store, group);
        adjust(&mut settings);
        let cancel = CancellationToken::new();
        let app = users_query::Application::build(settings, cancel.clone())
            .await
            .expect("users-query builds");
        let stats = app.projector_stats().expect("projector runs");
        let address = format!("http://127.0.0.1:{}", app.port());
        let pool = read.pool_with(
            read.connect_options()
                .options([("search_path", users_query::projection::SCHEMA)]),
        );
        Self {
            address,
            read: read.clone(),
            pool,
            stats,
            client: test_support::auth::admin_client(),
            cancel: cancel.clone(),
            task: Some(tokio::spawn(app.run_until_stopped())),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("request sent")
    }

    /// The user at `version` or later, waiting for it through `min_version`.
    pub async fn user_at(&self, id: Uuid, version: u64) -> serde_json::Value {
        let response = self
            .get(&format!("/users/{id}?min_version={version}&wait_ms=10000"))
            .await;
        assert_eq!(
            response.status(),
            200,
            "user {id} reached version {version}"
        );
        response.json().await.unwrap()
    }

    /// The read model's rows as (id, email, name, status, limit, reserved, version).
    pub async fn rows(&self) -> Vec<Row> {
        sqlx::query_as(
            "SELECT id, email, name, status, credit_limit_cents, reserved_cents, version, created_at, updated_at \
             FROM users ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await
        .expect("read model rows")
    }

    pub async fn stop(mut self) {
        if let Some(task) = self.task.take() {
            test_support::stop_task(&self.cancel, task).await;
        }
    }
}

impl Drop for QueryApp {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

pub type Row = (
    Uuid,
    String,
    String,
    String,
    i64,
    i64,
    i64,
    chrono::DateTime<chrono::Utc>,
    chrono::DateTime<chrono::Utc>,
);

/// What the read model must hold, folded from the event store with the domain's own `apply`.
pub async fn fold(store: &PgPool) -> Vec<Row> {
    type Stored = (
        String,
        String,
        serde_json::Value,
        chrono::DateTime<chrono::Utc>,
        i64,
    );
    let events: Vec<Stored> = sqlx::query_as(
        "SELECT aggregate_id, event_type, payload, recorded_at, sequence FROM events \
         ORDER BY aggregate_id, sequence",
    )
    .fetch_all(store)
    .await
    .expect("events");
    let mut users: BTreeMap<
        Uuid,
        (
            User,
            chrono::DateTime<chrono::Utc>,
            chrono::DateTime<chrono::Utc>,
            i64,
        ),
    > = BTreeMap::new();
    for (id, event_type, mut payload, at, sequence) in events {
        // Stored sealed: opened with the user's key, as the projector opens it.
        let key = privacy::keys::key(store, &id)
            .await
            .expect("the user's key");
        let fields = users_domain::PERSONAL_DATA.fields(&event_type);
        privacy::open_fields(&mut payload, fields, key.as_ref()).expect("opened");
        let entry = users
            .entry(id.parse().unwrap())
            .or_insert_with(|| (User::default(), at, at, 0));
        entry
            .0
            .apply(serde_json::from_value(payload).expect("a UserEvent"));
        entry.2 = at;
        entry.3 = sequence;
    }
    users
        .into_iter()
        .map(|(id, (user, created, updated, version))| {
            let status = match user.status() {
                users_domain::UserStatus::Deactivated => "deactivated",
                users_domain::UserStatus::Erased => "erased",
                _ => "active",
            };
            (
                id,
                user.email().to_owned(),
                user.name().to_owned(),
                status.to_owned(),
                user.credit_limit_cents(),
                user.reserved_cents(),
                version,
                created,
                updated,
            )
        })
        .collect()
}

/// Waits until the read model holds exactly the fold of the event store.
pub async fn converged(app: &QueryApp, store: &Store, deadline: Duration) {
    let expected = fold(&store.pool).await;
    test_support::eventually(
        deadline,
        "the read model to equal the fold of the event store",
        || async { (app.rows().await == expected).then_some(()) },
    )
    .await;
}

/// users-command with its relay on `store`, in-process; returns its address and its stopper.
pub async fn spawn_command(store: &Store) -> (String, CancellationToken) {
    let mut settings = users_command::Settings::default();
    settings.http.port = 0;
    settings.auth = test_support::auth::settings();
    settings.http.workers = 2;
    settings.database = store.database.clone();
    settings.database.migrate = false;
    settings.kafka = store.kafka.clone();
    settings.topic = store.topic.clone();
    let cancel = CancellationToken::new();
    let app = users_command::Application::build(settings, cancel.clone())
        .await
        .expect("users-command builds");
    let address = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    (address, cancel)
}

/// The users-query binary on `read`, consuming `store`'s topic in `group` with `extra`
/// variables; killed when dropped.
pub fn users_query_binary(
    store: &Store,
    read: &DatabaseSettings,
    group: &str,
    extra: &[(&str, &str)],
) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_users-query"));
    command
        .envs(test_support::database_env("USERS_QUERY__DATABASE", read))
        .envs(test_support::database_env(
            "USERS_QUERY__EVENT_STORE",
            &store.database,
        ))
        .env("USERS_QUERY__HTTP__PORT", "0")
        .envs(test_support::kafka_env("USERS_QUERY", &store.kafka))
        .env("USERS_QUERY__TOPIC", &store.topic)
        .envs(test_support::auth::env("USERS_QUERY"))
        .env("USERS_QUERY__PROJECTOR__GROUP_ID", group)
        .env("RUST_LOG", "warn")
        .envs(extra.iter().copied())
        .kill_on_drop(true);
    command
}

/// The read model's rows in `read`, as [`QueryApp::rows`] reads them; `None` until a
/// users-query process has created its schema there.
pub async fn read_rows(read: &DatabaseSettings) -> Option<Vec<Row>> {
    let pool = read.pool_with(
        read.connect_options()
            .options([("search_path", users_query::projection::SCHEMA)]),
    );
    let rows = sqlx::query_as(
        "SELECT id, email, name, status, credit_limit_cents, reserved_cents, version, created_at, updated_at \
         FROM users ORDER BY id",
    )
    .fetch_all(&pool)
    .await
    .ok();
    pool.close().await;
    rows
}
