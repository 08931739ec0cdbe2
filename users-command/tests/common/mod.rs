//! A users-command started in-process on port 0 against a fresh database and topic.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use event_store::CommandBus;
use serde_json::{Value, json};
use service_kit::settings::DatabaseSettings;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use users_command::contract::UsersContract;
use users_command::domain::User;
use users_command::{Application, Settings};
use uuid::Uuid;

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub database: DatabaseSettings,
    pub pool: PgPool,
    pub topic: String,
    cancel: CancellationToken,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

/// Row counts of the event store's tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub events: i64,
    pub outbox: i64,
    pub claims: i64,
}

pub fn settings(database: DatabaseSettings, topic: &str, relay: bool) -> Settings {
    let mut settings = Settings::default();
    settings.http.port = 0;
    settings.http.workers = 2;
    settings.database = database;
    settings.kafka.brokers = test_support::kafka_brokers();
    settings.topic = topic.to_owned();
    settings.relay.enabled = relay;
    settings.relay.sweep_interval_ms = 500;
    settings
}

impl TestApp {
    /// With the outbox relay running.
    pub async fn spawn() -> Self {
        Self::start(true).await
    }

    /// Without a relay, so outbox rows stay where the command left them.
    pub async fn spawn_without_relay() -> Self {
        Self::start(false).await
    }

    async fn start(relay: bool) -> Self {
        let database = test_support::fresh_database().await;
        let topic = test_support::fresh_topic("users.events", 3).await;
        let cancel = CancellationToken::new();
        let app = Application::build(settings(database.clone(), &topic, relay), cancel.clone())
            .await
            .expect("users-command builds");
        let address = format!("http://127.0.0.1:{}", app.port());
        let task = tokio::spawn(app.run_until_stopped());
        Self {
            address,
            client: reqwest::Client::new(),
            pool: database.pool(),
            database,
            topic,
            cancel,
            task: Some(task),
        }
    }

    /// A command bus on the app's event store, for arranging many events quickly.
    pub fn bus(&self) -> CommandBus<User> {
        bus(&self.pool, &self.topic)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub async fn post(&self, path: &str, body: Value) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .json(&body)
            .send()
            .await
            .expect("request sent")
    }

    pub async fn post_if_match(&self, path: &str, version: u64, body: Value) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .header("If-Match", format!("\"{version}\""))
            .json(&body)
            .send()
            .await
            .expect("request sent")
    }

    pub async fn register(&self, email: &str, limit: i64) -> Uuid {
        let response = self
            .post(
                "/users",
                json!({ "email": email, "name": "Test User", "credit_limit_cents": limit }),
            )
            .await;
        assert_eq!(response.status(), 201, "registering {email}");
        let body: Value = response.json().await.expect("json body");
        body["id"].as_str().expect("id").parse().expect("uuid id")
    }

    pub async fn counts(&self) -> Counts {
        let count = |table: &str| {
            let sql = format!("SELECT count(*) FROM {table}");
            let pool = self.pool.clone();
            async move {
                sqlx::query_scalar::<_, i64>(&sql)
                    .fetch_one(&pool)
                    .await
                    .expect("count")
            }
        };
        Counts {
            events: count("events").await,
            outbox: count("outbox").await,
            claims: count("unique_claims").await,
        }
    }

    /// Stops the app and waits for it to drain.
    pub async fn stop(mut self) {
        self.cancel.cancel();
        if let Some(task) = self.task.take() {
            tokio::time::timeout(Duration::from_secs(30), task)
                .await
                .expect("stopped within 30s")
                .expect("task joined")
                .expect("app stopped cleanly");
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

pub fn bus(pool: &PgPool, topic: &str) -> CommandBus<User> {
    CommandBus::new(pool.clone(), Arc::new(UsersContract::new(topic)), ())
}

/// The users-command binary, started with its settings in the environment.
pub fn binary(
    database: &DatabaseSettings,
    topic: &str,
    port: u16,
    extra: &[(&str, &str)],
) -> tokio::process::Child {
    binary_command(database, topic, port, extra)
        .spawn()
        .expect("users-command binary starts")
}

/// The users-command binary's command, ready to spawn; its output goes to the test's output.
pub fn binary_command(
    database: &DatabaseSettings,
    topic: &str,
    port: u16,
    extra: &[(&str, &str)],
) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_users-command"));
    command
        .envs(test_support::database_env(
            "USERS_COMMAND__DATABASE",
            database,
        ))
        .env("USERS_COMMAND__HTTP__PORT", port.to_string())
        .env(
            "USERS_COMMAND__KAFKA__BROKERS",
            test_support::kafka_brokers(),
        )
        .env("USERS_COMMAND__TOPIC", topic)
        .env("USERS_COMMAND__RELAY__SWEEP_INTERVAL_MS", "500")
        .env("RUST_LOG", "warn")
        .kill_on_drop(true);
    for (key, value) in extra {
        command.env(key, value);
    }
    command
}

/// A port that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Every stored event as (event id, aggregate id, sequence).
pub async fn stored_events(pool: &PgPool) -> Vec<(Uuid, String, i64)> {
    sqlx::query_as("SELECT event_id, aggregate_id, sequence FROM events ORDER BY position")
        .fetch_all(pool)
        .await
        .expect("events")
}

pub async fn outbox_len(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM outbox")
        .fetch_one(pool)
        .await
        .expect("outbox count")
}

/// Registers `users` users directly through the bus, each with `renames` renames after it,
/// `parallel` users at a time; returns their ids.
pub async fn arrange_events(
    bus: &CommandBus<User>,
    users: usize,
    renames: usize,
    parallel: usize,
) -> Vec<Uuid> {
    use futures::StreamExt;
    use users_command::domain::{CreditCents, Email, UserCommand, UserName};
    futures::stream::iter(0..users)
        .map(|i| async move {
            let id = Uuid::now_v7();
            let register = UserCommand::Register {
                user_id: id,
                email: Email::parse(&format!("user{i}-{id}@example.com")).unwrap(),
                name: UserName::parse("Arranged").unwrap(),
                credit_limit: CreditCents::parse(100).unwrap(),
            };
            bus.execute(&id.to_string(), register, None, Default::default())
                .await
                .expect("registered");
            for n in 0..renames {
                let rename = UserCommand::Rename {
                    name: UserName::parse(&format!("Name {n}")).unwrap(),
                };
                bus.execute(&id.to_string(), rename, None, Default::default())
                    .await
                    .expect("renamed");
            }
            id
        })
        .buffer_unordered(parallel)
        .collect()
        .await
}

/// Reads the topic until every stored event is on it; checks per-aggregate order and that
/// each record carries the stored event's id. Returns how often each event id was seen.
pub async fn assert_all_on_topic(
    pool: &PgPool,
    topic: &str,
    deadline: Duration,
) -> std::collections::HashMap<Uuid, usize> {
    assert_all_on(&test_support::kafka_brokers(), pool, topic, deadline).await
}

/// `assert_all_on_topic` against the broker at `brokers`.
pub async fn assert_all_on(
    brokers: &str,
    pool: &PgPool,
    topic: &str,
    deadline: Duration,
) -> std::collections::HashMap<Uuid, usize> {
    let stored = stored_events(pool).await;
    let wanted: std::collections::HashSet<String> =
        stored.iter().map(|(id, _, _)| id.to_string()).collect();
    let records = test_support::read_topic_from(brokers, topic, deadline, |records| {
        let seen: std::collections::HashSet<&str> = records
            .iter()
            .map(|r| r.envelope.event_id.as_str())
            .collect();
        wanted.iter().all(|id| seen.contains(id.as_str()))
    })
    .await;
    test_support::assert_per_aggregate_order(&records);
    let by_id: std::collections::HashMap<String, (String, i64)> = stored
        .iter()
        .map(|(id, aggregate, sequence)| (id.to_string(), (aggregate.clone(), *sequence)))
        .collect();
    let mut seen = std::collections::HashMap::new();
    for record in &records {
        let (aggregate, sequence) = &by_id[&record.envelope.event_id];
        assert_eq!(
            &record.envelope.aggregate_id, aggregate,
            "event id and aggregate agree"
        );
        assert_eq!(
            record.envelope.sequence as i64, *sequence,
            "event id and sequence agree"
        );
        *seen
            .entry(record.envelope.event_id.parse::<Uuid>().unwrap())
            .or_insert(0) += 1;
    }
    seen
}
