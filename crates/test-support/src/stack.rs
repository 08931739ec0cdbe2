//! The whole system as real binaries: users-command, users-query, orders-command,
//! orders-query and saga-orchestrator, each on its own fresh database, with fresh topics and
//! consumer groups of their own, on the test Postgres and Kafka. For the tests that cross
//! every service (sagas, hostile input to the read services, the operator CLI).

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use crate::service::{binary_command, free_port, ready};
use crate::{database_env, eventually, fresh_database, fresh_topic_on, kafka_env};
use kafka_client::KafkaSettings;
use serde_json::{Value, json};
use service_kit::settings::DatabaseSettings;
use sqlx::PgPool;
use uuid::Uuid;

/// Long enough for anything the stack does in a test; short enough to fail a stuck one.
pub const SETTLE: Duration = Duration::from_secs(60);

/// A service binary of this workspace (built by `cargo build --workspace`, which
/// `cargo xtask test` and `cargo nextest run --workspace` do), beside the running one: a test
/// binary in `target/<profile>/deps`, or a tool in `target/<profile>`.
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the running binary's path");
    let mut dir = exe.parent().expect("target/<profile>");
    if dir.ends_with("deps") {
        dir = dir.parent().expect("target/<profile>");
    }
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is not built: run `cargo build --workspace --bins` (cargo xtask test does)",
        path.display()
    );
    path
}

/// Builds a service's command for a port, with extra variables.
type Build = std::sync::Arc<dyn Fn(u16, &[(&str, &str)]) -> tokio::process::Command + Send + Sync>;

/// One service process, restartable on the same port.
pub struct Process {
    pub name: &'static str,
    pub port: u16,
    pub address: String,
    build: Build,
    /// Variables every start gets, before the start's own.
    env: Vec<(String, String)>,
    child: Option<tokio::process::Child>,
}

impl Process {
    /// Starts the process with `extra` variables and waits until it is ready.
    pub async fn start_with(&mut self, extra: &[(&str, &str)]) {
        self.spawn(extra, false);
        let client = crate::auth::admin_client();
        ready(&client, &self.address, SETTLE).await;
    }

    pub async fn start(&mut self) {
        self.start_with(&[]).await;
    }

    /// Starts the process without waiting; with `piped`, its stdout is kept for
    /// [`Process::stdout`] (read it, or the process blocks once the pipe is full).
    pub fn spawn(&mut self, extra: &[(&str, &str)], piped: bool) {
        assert!(self.child.is_none(), "{} is already running", self.name);
        let mut command = (self.build)(self.port, extra);
        command.envs(self.env.iter().cloned());
        command.envs(extra.iter().copied());
        if piped {
            command.stdout(Stdio::piped());
        }
        self.child = Some(command.spawn().expect("service binary starts"));
    }

    /// Starts the process with `extra` variables, keeping everything it writes to stdout (its
    /// logs) in the answer, and waits until it is ready.
    pub async fn start_capturing(&mut self, extra: &[(&str, &str)]) -> Captured {
        use tokio::io::AsyncReadExt;
        self.spawn(extra, true);
        let mut stdout = self.stdout();
        let captured = Captured::default();
        let into = captured.0.clone();
        tokio::spawn(async move {
            let mut chunk = vec![0; 64 * 1024];
            while let Ok(read @ 1..) = stdout.read(&mut chunk).await {
                into.lock()
                    .expect("capture lock")
                    .extend_from_slice(&chunk[..read]);
            }
        });
        let client = crate::auth::admin_client();
        ready(&client, &self.address, SETTLE).await;
        captured
    }

    pub fn stdout(&mut self) -> tokio::process::ChildStdout {
        self.child
            .as_mut()
            .and_then(|child| child.stdout.take())
            .expect("a running child's stdout")
    }

    /// Another instance of the same service (same databases, topic and consumer group) on a
    /// port of its own, not started: a replica.
    pub fn twin(&self) -> Self {
        let port = free_port();
        Self {
            name: self.name,
            port,
            address: format!("http://127.0.0.1:{port}"),
            build: self.build.clone(),
            env: self.env.clone(),
            child: None,
        }
    }

    /// The running process's id.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().and_then(tokio::process::Child::id)
    }

    /// Whether it was started and has not been killed (it may have exited by itself).
    pub fn is_started(&self) -> bool {
        self.child.is_some()
    }

    /// Whether it was started and has exited by itself (crashed, or stopped on an error).
    pub fn has_exited(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|child| child.try_wait().is_ok_and(|status| status.is_some()))
    }

    /// `kill -9`, and waits for the process to be gone.
    pub async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.start_kill().expect("SIGKILL sent");
            child.wait().await.expect("process reaped");
        }
    }
}

/// What a process wrote to stdout so far.
#[derive(Clone, Default)]
pub struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl Captured {
    /// A copy of the bytes written so far.
    pub fn bytes(&self) -> Vec<u8> {
        self.0.lock().expect("capture lock").clone()
    }
}

/// The five services on their own databases and topics.
pub struct Stack {
    pub client: reqwest::Client,
    pub users_command: Process,
    pub users_query: Process,
    pub orders_command: Process,
    pub orders_query: Process,
    pub saga: Process,
    pub users_es: PgPool,
    pub users_read: PgPool,
    pub orders_es: PgPool,
    pub orders_read: PgPool,
    pub saga_db: PgPool,
    /// The topics the command services publish to.
    pub users_topic: String,
    pub orders_topic: String,
    /// The suffix of the consumer groups' ids (`users-query-<group>`, `saga-<group>`, …).
    pub group: String,
}

/// Quick retries and breaker settings so the fault tests run in seconds.
pub const FAST_SAGA: &[(&str, &str)] = &[
    ("SAGA_ORCHESTRATOR__SAGA__RETRY_MIN_MS", "100"),
    ("SAGA_ORCHESTRATOR__SAGA__RETRY_MAX_MS", "400"),
    ("SAGA_ORCHESTRATOR__SAGA__POLL_INTERVAL_MS", "100"),
    ("SAGA_ORCHESTRATOR__USERS__TIMEOUT_MS", "1000"),
    ("SAGA_ORCHESTRATOR__USERS__BACKOFF_MIN_MS", "20"),
    ("SAGA_ORCHESTRATOR__USERS__BACKOFF_MAX_MS", "100"),
    ("SAGA_ORCHESTRATOR__USERS__BREAKER_FAILURES", "3"),
    ("SAGA_ORCHESTRATOR__USERS__BREAKER_OPEN_MS", "500"),
];

impl Stack {
    /// Starts every service; the saga's deadline is `deadline_ms`.
    pub async fn start(deadline_ms: u64) -> Self {
        Self::start_with(deadline_ms, &[]).await
    }

    /// Starts every service; the saga gets `saga_extra` variables too.
    pub async fn start_with(deadline_ms: u64, saga_extra: &[(&str, &str)]) -> Self {
        Self::start_everywhere(deadline_ms, saga_extra, &[]).await
    }

    /// Starts every service with the `every` variables (e.g. a trace endpoint); the saga gets
    /// `saga_extra` too.
    pub async fn start_everywhere(
        deadline_ms: u64,
        saga_extra: &[(&str, &str)],
        every: &[(&str, &str)],
    ) -> Self {
        let kafka = KafkaSettings::plaintext(crate::kafka_brokers());
        Self::start_on(&kafka, deadline_ms, saga_extra, every).await
    }

    /// Starts every service on the Kafka cluster of `kafka` (brokers and security), with its
    /// topics created there.
    pub async fn start_on(
        kafka: &KafkaSettings,
        deadline_ms: u64,
        saga_extra: &[(&str, &str)],
        every: &[(&str, &str)],
    ) -> Self {
        let (users_es, users_read, orders_es, orders_read, saga) = tokio::join!(
            fresh_database(),
            fresh_database(),
            fresh_database(),
            fresh_database(),
            fresh_database()
        );
        let (users_topic, orders_topic) = tokio::join!(
            fresh_topic_on(kafka, "users.events", 3),
            fresh_topic_on(kafka, "orders.events", 3)
        );
        let group = Uuid::new_v4().simple().to_string();

        let mut users_command = command_process(
            "users-command",
            "USERS_COMMAND",
            &users_es,
            &users_topic,
            kafka_env("USERS_COMMAND", kafka),
        );
        let mut orders_command = command_process(
            "orders-command",
            "ORDERS_COMMAND",
            &orders_es,
            &orders_topic,
            kafka_env("ORDERS_COMMAND", kafka),
        );
        let mut users_query = query_process(
            "users-query",
            "USERS_QUERY",
            (&users_read, &users_es),
            &users_topic,
            format!("users-query-{group}"),
            kafka_env("USERS_QUERY", kafka),
        );
        let mut orders_query = query_process(
            "orders-query",
            "ORDERS_QUERY",
            (&orders_read, &orders_es),
            &orders_topic,
            format!("orders-query-{group}"),
            kafka_env("ORDERS_QUERY", kafka),
        );
        let mut saga_env = kafka_env("SAGA_ORCHESTRATOR", kafka);
        saga_env.extend([
            (
                "SAGA_ORCHESTRATOR__USERS__URL".to_owned(),
                users_command.address.clone(),
            ),
            (
                "SAGA_ORCHESTRATOR__ORDERS__URL".to_owned(),
                orders_command.address.clone(),
            ),
            (
                "SAGA_ORCHESTRATOR__SAGA__DEADLINE_MS".to_owned(),
                deadline_ms.to_string(),
            ),
            (
                "SAGA_ORCHESTRATOR__SAGA__TOKEN_FILE".to_owned(),
                service_token_file(),
            ),
        ]);
        saga_env.extend(
            saga_extra
                .iter()
                .map(|(key, value)| ((*key).to_owned(), (*value).to_owned())),
        );
        let mut saga_process = query_process(
            "saga-orchestrator",
            "SAGA_ORCHESTRATOR",
            (&saga, &orders_es),
            &orders_topic,
            format!("saga-{group}"),
            saga_env,
        );
        // users-command's export reads the Orders context's read side.
        users_command.env.extend([
            (
                "USERS_COMMAND__PEERS__ORDERS_QUERY_URL".to_owned(),
                orders_query.address.clone(),
            ),
            (
                "USERS_COMMAND__PEERS__SAGA_URL".to_owned(),
                saga_process.address.clone(),
            ),
        ]);
        // The command services migrate their stores before the others read them.
        tokio::join!(
            users_command.start_with(every),
            orders_command.start_with(every)
        );
        tokio::join!(
            users_query.start_with(every),
            orders_query.start_with(every),
            saga_process.start_with(every)
        );
        Self {
            client: crate::auth::admin_client(),
            users_command,
            users_query,
            orders_command,
            orders_query,
            saga: saga_process,
            users_es: users_es.pool(),
            users_read: users_read.pool(),
            orders_es: orders_es.pool(),
            orders_read: orders_read.pool(),
            saga_db: saga.pool(),
            users_topic,
            orders_topic,
            group,
        }
    }

    /// The gateway in front of this stack, on the test brokers, not started; `console_dir`
    /// is the built console it serves, if any.
    pub fn gateway(&self, console_dir: Option<&std::path::Path>) -> Process {
        let mut env: Vec<(String, String)> = vec![
            (
                "GATEWAY__SERVICES__USERS_COMMAND".into(),
                self.users_command.address.clone(),
            ),
            (
                "GATEWAY__SERVICES__ORDERS_COMMAND".into(),
                self.orders_command.address.clone(),
            ),
            (
                "GATEWAY__SERVICES__USERS_QUERY".into(),
                self.users_query.address.clone(),
            ),
            (
                "GATEWAY__SERVICES__ORDERS_QUERY".into(),
                self.orders_query.address.clone(),
            ),
            (
                "GATEWAY__SERVICES__SAGA_ORCHESTRATOR".into(),
                self.saga.address.clone(),
            ),
            (
                "GATEWAY__PIPELINES__USERS_TOPIC".into(),
                self.users_topic.clone(),
            ),
            (
                "GATEWAY__PIPELINES__ORDERS_TOPIC".into(),
                self.orders_topic.clone(),
            ),
            (
                "GATEWAY__PIPELINES__USERS_QUERY_GROUP".into(),
                format!("users-query-{}", self.group),
            ),
            (
                "GATEWAY__PIPELINES__ORDERS_QUERY_GROUP".into(),
                format!("orders-query-{}", self.group),
            ),
            (
                "GATEWAY__PIPELINES__SAGA_GROUP".into(),
                format!("saga-{}", self.group),
            ),
        ];
        if let Some(dir) = console_dir {
            env.push(("GATEWAY__CONSOLE__DIR".into(), dir.display().to_string()));
        }
        gateway_process(&crate::kafka_brokers(), env)
    }

    pub async fn register(&self, email_prefix: &str, credit_limit_cents: i64) -> Uuid {
        let response = self
            .client
            .post(format!("{}/users", self.users_command.address))
            .json(&json!({
                "email": format!("{email_prefix}-{}@example.com", Uuid::new_v4().simple()),
                "name": "Test User",
                "credit_limit_cents": credit_limit_cents,
            }))
            .send()
            .await
            .expect("register sent");
        assert_eq!(response.status(), 201, "{:?}", response.text().await);
        let body: Value = response.json().await.unwrap();
        body["id"].as_str().unwrap().parse().unwrap()
    }

    pub async fn deactivate(&self, user: Uuid) {
        let response = self
            .client
            .post(format!(
                "{}/users/{user}/deactivate",
                self.users_command.address
            ))
            .json(&json!({ "reason": "closed" }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }

    /// Places an order of one line worth `total_cents`.
    pub async fn place(&self, user: Uuid, total_cents: i64) -> Uuid {
        let response = self
            .client
            .post(format!("{}/orders", self.orders_command.address))
            .json(&json!({
                "user_id": user,
                "items": [{ "sku": "SKU-1", "quantity": 1, "unit_price_cents": total_cents }],
            }))
            .send()
            .await
            .expect("place sent");
        assert_eq!(response.status(), 202, "{:?}", response.text().await);
        let body: Value = response.json().await.unwrap();
        body["id"].as_str().unwrap().parse().unwrap()
    }

    /// Cancels an order; the status orders-command answered.
    pub async fn cancel(&self, order: Uuid) -> u16 {
        self.client
            .post(format!(
                "{}/orders/{order}/cancel",
                self.orders_command.address
            ))
            .json(&json!({ "reason": "changed my mind" }))
            .send()
            .await
            .expect("cancel sent")
            .status()
            .as_u16()
    }

    pub async fn get(&self, address: &str, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{address}{path}"))
            .send()
            .await
            .expect("request sent")
    }

    /// The order's saga of `kind`, once it exists.
    pub async fn saga_of(&self, order: Uuid, kind: &str) -> Value {
        let path = format!("/sagas?order_id={order}&kind={kind}");
        let saga = eventually(SETTLE, &format!("the {kind} saga of {order}"), || async {
            let page: Value = self
                .get(&self.saga.address, &path)
                .await
                .json()
                .await
                .ok()?;
            page["items"].as_array()?.first().cloned()
        })
        .await;
        self.saga_by_id(saga["id"].as_str().unwrap()).await
    }

    pub async fn saga_by_id(&self, id: &str) -> Value {
        let response = self.get(&self.saga.address, &format!("/sagas/{id}")).await;
        assert_eq!(response.status(), 200);
        response.json().await.unwrap()
    }

    /// The order's saga of `kind` once it is terminal.
    pub async fn finished(&self, order: Uuid, kind: &str) -> Value {
        let id = self.saga_of(order, kind).await["id"]
            .as_str()
            .unwrap()
            .to_owned();
        eventually(
            SETTLE,
            &format!("the {kind} saga of {order} to end"),
            || async {
                let saga = self.saga_by_id(&id).await;
                (saga["terminal"] == true).then_some(saga)
            },
        )
        .await
    }

    /// The order as orders-query shows it once its status is `status`.
    pub async fn order_in(&self, order: Uuid, status: &str) -> Value {
        let address = &self.orders_query.address;
        self.view_in(address, &format!("/orders/{order}"), status)
            .await
    }

    /// The user as users-query shows them once their status is `status`.
    pub async fn user_in(&self, user: Uuid, status: &str) -> Value {
        let address = &self.users_query.address;
        self.view_in(address, &format!("/users/{user}"), status)
            .await
    }

    async fn view_in(&self, address: &str, path: &str, status: &str) -> Value {
        eventually(SETTLE, &format!("{path} to be {status}"), || async {
            let view: Value = self.get(address, path).await.json().await.ok()?;
            (view["status"] == status).then_some(view)
        })
        .await
    }

    /// The user's reserved credit as users-query shows it, once it equals `cents`.
    pub async fn reserved_becomes(&self, user: Uuid, cents: i64) {
        eventually(
            SETTLE,
            &format!("user {user} to hold {cents} cents"),
            || async {
                let view: Value = self
                    .get(&self.users_query.address, &format!("/users/{user}"))
                    .await
                    .json()
                    .await
                    .ok()?;
                (view["reserved_cents"] == cents).then_some(())
            },
        )
        .await;
    }

    /// Stored events of `event_type` in users_es that mention `order`.
    pub async fn user_events_for(&self, order: Uuid, event_type: &str) -> i64 {
        sqlx::query_scalar(
            "SELECT count(*) FROM events WHERE event_type = $1 AND payload::text LIKE $2",
        )
        .bind(event_type)
        .bind(format!("%{order}%"))
        .fetch_one(&self.users_es)
        .await
        .unwrap()
    }

    /// The value of a Prometheus sample of the saga, if exported, e.g.
    /// `saga_circuit_breaker_state{downstream="users-command"}`.
    pub async fn saga_metric(&self, sample: &str) -> Option<f64> {
        let text = self
            .get(&self.saga.address, "/metrics")
            .await
            .text()
            .await
            .unwrap();
        crate::metric_sample(&text, sample)
    }
}

fn command_process(
    name: &'static str,
    prefix: &'static str,
    database: &DatabaseSettings,
    topic: &str,
    extra: Vec<(String, String)>,
) -> Process {
    let port = free_port();
    let (binary, database, topic) = (binary(name), database.clone(), topic.to_owned());
    Process {
        name,
        port,
        address: format!("http://127.0.0.1:{port}"),
        env: Vec::new(),
        build: std::sync::Arc::new(move |port, more| {
            let mut command = binary_command(
                binary.to_str().unwrap(),
                prefix,
                &database,
                &topic,
                port,
                more,
            );
            command.envs(extra.clone());
            command
        }),
        child: None,
    }
}

fn query_process(
    name: &'static str,
    prefix: &'static str,
    (database, event_store): (&DatabaseSettings, &DatabaseSettings),
    topic: &str,
    group: String,
    mut extra: Vec<(String, String)>,
) -> Process {
    extra.extend(database_env(&format!("{prefix}__EVENT_STORE"), event_store));
    extra.push((format!("{prefix}__PROJECTOR__GROUP_ID"), group));
    command_process(name, prefix, database, topic, extra)
}

/// A file holding a token of role `service`, as the saga presents it.
fn service_token_file() -> String {
    let path = std::env::temp_dir().join(format!("saga-token-{}", Uuid::new_v4().simple()));
    std::fs::write(
        &path,
        crate::auth::token("saga-orchestrator", service_kit::auth::Role::Service),
    )
    .expect("the saga's token file written");
    path.to_string_lossy().into_owned()
}

/// The gateway alone on `brokers`, its services at addresses where nothing listens.
pub fn lone_gateway(brokers: &str) -> Process {
    let nowhere = format!("http://127.0.0.1:{}", free_port());
    let env = [
        "USERS_COMMAND",
        "ORDERS_COMMAND",
        "USERS_QUERY",
        "ORDERS_QUERY",
        "SAGA_ORCHESTRATOR",
    ]
    .map(|service| (format!("GATEWAY__SERVICES__{service}"), nowhere.clone()))
    .to_vec();
    gateway_process(brokers, env)
}

/// The gateway binary on a free port with the test keys, a quick health pace and `env`.
fn gateway_process(brokers: &str, mut env: Vec<(String, String)>) -> Process {
    let port = free_port();
    let binary = binary("gateway");
    env.extend([
        ("GATEWAY__KAFKA__BROKERS".into(), brokers.to_owned()),
        ("GATEWAY__GRAPHQL__HEALTH_INTERVAL_MS".into(), "500".into()),
        ("RUST_LOG".into(), "warn".into()),
    ]);
    env.extend(crate::auth::env("GATEWAY"));
    Process {
        name: "gateway",
        port,
        address: format!("http://127.0.0.1:{port}"),
        env: Vec::new(),
        build: std::sync::Arc::new(move |port, _| {
            let mut command = tokio::process::Command::new(&binary);
            command
                .envs(env.clone())
                .env("GATEWAY__HTTP__PORT", port.to_string())
                .kill_on_drop(true);
            command
        }),
        child: None,
    }
}
