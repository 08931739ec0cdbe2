//! A users-command started in-process on port 0 against a fresh database and topic.

#![allow(dead_code)]

use std::sync::Arc;

use event_store::CommandBus;
use serde_json::{Value, json};
use service_kit::settings::DatabaseSettings;
use sqlx::PgPool;
use test_support::invariants::CommandContext;
use tokio_util::sync::CancellationToken;
use users_command::{Application, Settings};
use users_domain::User;
use users_domain::UsersContract;
use uuid::Uuid;

pub struct TestApp {
    pub address: String,
    /// Acts as an operator (role admin).
    pub client: reqwest::Client,
    /// Acts as the saga (role service): credit reservations are its alone.
    pub service: reqwest::Client,
    pub database: DatabaseSettings,
    pub pool: PgPool,
    pub topic: String,
    cancel: CancellationToken,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

/// Row counts of the tables a User command writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub events: i64,
    pub outbox: i64,
    pub claims: i64,
    pub subject_keys: i64,
}

pub fn settings(database: DatabaseSettings, topic: &str, relay: bool) -> Settings {
    let mut settings = Settings::default();
    settings.http.port = 0;
    settings.auth = test_support::auth::settings();
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
            client: test_support::auth::admin_client(),
            service: test_support::auth::client_as(
                "saga-orchestrator",
                service_kit::auth::Role::Service,
            ),
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

    /// The client a request to `path` is sent with: reservations as the saga, the rest as
    /// an operator.
    pub fn client_for(&self, path: &str) -> &reqwest::Client {
        if path.contains("/credit-reservations") {
            &self.service
        } else {
            &self.client
        }
    }

    pub async fn post(&self, path: &str, body: Value) -> reqwest::Response {
        self.client_for(path)
            .post(self.url(path))
            .json(&body)
            .send()
            .await
            .expect("request sent")
    }

    pub async fn post_if_match(&self, path: &str, version: u64, body: Value) -> reqwest::Response {
        self.client_for(path)
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

    /// The service's Prometheus page.
    pub async fn metrics(&self) -> String {
        let response = self.client.get(self.url("/metrics")).send().await;
        response
            .expect("/metrics")
            .text()
            .await
            .expect("metrics text")
    }

    pub async fn counts(&self) -> Counts {
        let counts = test_support::store::counts(&self.pool).await;
        Counts {
            events: counts.events,
            outbox: counts.outbox,
            claims: counts.claims,
            subject_keys: counts.subject_keys,
        }
    }

    /// Stops the app and waits for it to drain.
    pub async fn stop(mut self) {
        if let Some(task) = self.task.take() {
            test_support::stop_task(&self.cancel, task).await;
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

/// The users-command binary with its settings in the environment.
pub fn binary(
    database: &DatabaseSettings,
    topic: &str,
    port: u16,
    extra: &[(&str, &str)],
) -> tokio::process::Child {
    test_support::service::binary_command(
        Users::binary(),
        Users::ENV_PREFIX,
        database,
        topic,
        port,
        extra,
    )
    .spawn()
    .expect("users-command binary starts")
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
    use users_domain::{CreditCents, Email, UserCommand, UserName};
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

/// The Users context of the shared invariant tests: users are registered, then renamed.
pub struct Users;

impl CommandContext for Users {
    const TOPIC: &'static str = "users.events";
    const ENV_PREFIX: &'static str = "USERS_COMMAND";
    const MAX_EVENTS: usize = 6;

    fn binary() -> &'static str {
        env!("CARGO_BIN_EXE_users-command")
    }

    fn create(_: usize) -> (String, Value) {
        let email = format!("{}@example.com", Uuid::now_v7());
        (
            "/users".into(),
            json!({ "email": email, "name": "Invariant", "credit_limit_cents": 1_000 }),
        )
    }

    fn change(id: Uuid, n: usize) -> (String, Value) {
        (
            format!("/users/{id}/name"),
            json!({ "name": format!("Name {n}") }),
        )
    }

    async fn arrange(
        pool: &PgPool,
        topic: &str,
        aggregates: usize,
        events: usize,
        parallel: usize,
    ) -> Vec<Uuid> {
        arrange_events(&bus(pool, topic), aggregates, events - 1, parallel).await
    }
}
