//! What integration tests share: a fresh database and topic per test on the real Postgres and
//! broker that `cargo xtask test` started, a topic reader, and waiting on conditions with a
//! deadline instead of sleeping.
//!
//! The servers are found through `TEST_PG_HOST`, `TEST_PG_PORT`, `TEST_PG_USER`,
//! `TEST_PG_PASSWORD` and `TEST_KAFKA_BROKERS` (defaults: the local stack of `cargo xtask up`).

pub mod auth;
pub mod fixture;
pub mod hostile;
pub mod invariants;
pub mod kafka;
pub mod otlp;
pub mod service;
pub mod stack;
pub mod store;

use std::future::Future;
use std::time::{Duration, Instant};

use contracts::events::v1::EventEnvelope;
use rdkafka::ClientConfig;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::{Headers, Message as _};
use rdkafka::producer::{FutureProducer, FutureRecord};
use secrecy::SecretString;
use service_kit::settings::DatabaseSettings;
use sqlx::{Connection, Executor, PgConnection};
use uuid::Uuid;

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

/// The value of `sample` (a metric's name with its labels, as exported) on a Prometheus text
/// page, if the page has it.
pub fn metric_sample(page: &str, sample: &str) -> Option<f64> {
    page.lines().find_map(|line| {
        let (name, value) = line.rsplit_once(' ')?;
        (name == sample).then(|| value.parse().ok())?
    })
}

/// The broker's bootstrap address.
pub fn kafka_brokers() -> String {
    env_or("TEST_KAFKA_BROKERS", "127.0.0.1:9092")
}

/// Settings of the test Postgres server, without a database name.
pub fn server_settings() -> DatabaseSettings {
    DatabaseSettings {
        host: env_or("TEST_PG_HOST", "127.0.0.1"),
        port: env_or("TEST_PG_PORT", "5432")
            .parse()
            .expect("TEST_PG_PORT is a port"),
        username: env_or("TEST_PG_USER", "cqrs"),
        password: SecretString::from(env_or("TEST_PG_PASSWORD", "cqrs")),
        max_connections: 8,
        ..DatabaseSettings::default()
    }
}

/// Creates an empty database of its own for one test and returns its settings.
pub async fn fresh_database() -> DatabaseSettings {
    let mut settings = server_settings();
    settings.database_name = format!("test_{}", Uuid::new_v4().simple());
    let mut admin = PgConnection::connect_with(&settings.server_options().database("postgres"))
        .await
        .expect("the test Postgres server is reachable (run the tests with `cargo xtask test`)");
    admin
        .execute(format!(r#"CREATE DATABASE "{}""#, settings.database_name).as_str())
        .await
        .expect("test database created");
    settings
}

/// Creates a topic of its own for one test and returns its name.
pub async fn fresh_topic(prefix: &str, partitions: i32) -> String {
    let kafka = kafka_client::KafkaSettings::plaintext(kafka_brokers());
    fresh_topic_on(&kafka, prefix, partitions).await
}

/// Sets `name` = `value` on `topic` (replacing its other overrides) and waits until the
/// broker reports it, e.g. a `max.message.bytes` small enough to refuse a record.
pub async fn set_topic_config(topic: &str, name: &str, value: &str) {
    use rdkafka::admin::{AdminOptions, AlterConfig, ResourceSpecifier};
    let kafka = kafka_client::KafkaSettings::plaintext(kafka_brokers());
    let admin = service_kit::kafka::admin(&kafka).expect("admin client");
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    let change = AlterConfig::new(ResourceSpecifier::Topic(topic)).set(name, value);
    for result in admin
        .alter_configs([&change], &options)
        .await
        .expect("alter configs")
    {
        result.expect("topic config altered");
    }
    eventually(
        Duration::from_secs(30),
        &format!("{topic} to have {name}={value}"),
        || async {
            let described = admin
                .describe_configs([&ResourceSpecifier::Topic(topic)], &options)
                .await
                .ok()?;
            let resource = described.into_iter().next()?.ok()?;
            let entry = resource.get(name)?;
            (entry.value.as_deref() == Some(value)).then_some(())
        },
    )
    .await;
}

/// `fresh_topic` on the cluster of `kafka`.
pub async fn fresh_topic_on(
    kafka: &kafka_client::KafkaSettings,
    prefix: &str,
    partitions: i32,
) -> String {
    let topic = format!("{prefix}.{}", Uuid::new_v4().simple());
    let admin = service_kit::kafka::admin(kafka).expect("admin client");
    service_kit::kafka::ensure_topic(&admin, &topic, partitions)
        .await
        .expect("test topic created (run the tests with `cargo xtask test`)");
    topic
}

/// Cancels `cancel`, then waits up to 30 s for `task` (a service or a runtime loop under that
/// token) to end, failing the test unless it ended cleanly.
pub async fn stop_task<E: std::fmt::Debug>(
    cancel: &tokio_util::sync::CancellationToken,
    task: tokio::task::JoinHandle<Result<(), E>>,
) {
    cancel.cancel();
    tokio::time::timeout(Duration::from_secs(30), task)
        .await
        .expect("stopped within 30s")
        .expect("task joined")
        .expect("stopped cleanly");
}

/// Polls `probe` until it returns `Some`, failing the test with `what` after `deadline`.
pub async fn eventually<T, F, Fut>(deadline: Duration, what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let until = Instant::now() + deadline;
    let mut pause = Duration::from_millis(10);
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(
            Instant::now() < until,
            "timed out after {deadline:?} waiting for {what}"
        );
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(250));
    }
}

/// One record read back from a topic.
#[derive(Debug, Clone)]
pub struct Record {
    pub partition: i32,
    pub offset: i64,
    pub key: String,
    pub envelope: EventEnvelope,
    pub headers: Vec<(String, String)>,
}

impl Record {
    /// The value of header `name`, if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}

/// Reads `topic` from the beginning until `done` holds for the records read so far, or fails
/// the test after `deadline`.
pub async fn read_topic_until(
    topic: &str,
    deadline: Duration,
    done: impl Fn(&[Record]) -> bool,
) -> Vec<Record> {
    read_topic_from(&kafka_brokers(), topic, deadline, done).await
}

/// `read_topic_until` on the broker at `brokers`.
pub async fn read_topic_from(
    brokers: &str,
    topic: &str,
    deadline: Duration,
    done: impl Fn(&[Record]) -> bool,
) -> Vec<Record> {
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set(
            "group.id",
            format!("test-reader-{}", Uuid::new_v4().simple()),
        )
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .expect("test consumer");
    consumer.subscribe(&[topic]).expect("subscribed");
    let until = Instant::now() + deadline;
    let mut records = Vec::new();
    while !done(&records) {
        let left = until.saturating_duration_since(Instant::now());
        assert!(
            !left.is_zero(),
            "timed out after {deadline:?} reading {topic}: {} records so far",
            records.len()
        );
        match tokio::time::timeout(left.min(Duration::from_secs(1)), consumer.recv()).await {
            Err(_) => continue,
            Ok(Err(error)) => panic!("reading {topic}: {error}"),
            Ok(Ok(message)) => {
                let headers = message
                    .headers()
                    .map(|headers| {
                        headers
                            .iter()
                            .map(|h| {
                                let value =
                                    h.value.map(String::from_utf8_lossy).unwrap_or_default();
                                (h.key.to_owned(), value.into_owned())
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                records.push(Record {
                    partition: message.partition(),
                    offset: message.offset(),
                    key: String::from_utf8_lossy(message.key().unwrap_or_default()).into_owned(),
                    envelope: contracts::decode_envelope(message.payload().unwrap_or_default())
                        .expect("record value is an EventEnvelope"),
                    headers,
                });
            }
        }
    }
    records
}

/// Checks that, per aggregate, the records arrive in sequence order: a record may repeat an
/// earlier sequence (at-least-once) but never skip ahead of the next one expected.
/// Returns the highest sequence seen per aggregate.
pub fn assert_per_aggregate_order(records: &[Record]) -> std::collections::HashMap<String, u64> {
    let mut highest: std::collections::HashMap<String, u64> = Default::default();
    for record in records {
        assert_eq!(
            record.key, record.envelope.aggregate_id,
            "record key is the aggregate id"
        );
        let seen = highest.entry(record.key.clone()).or_insert(0);
        let sequence = record.envelope.sequence;
        assert!(
            sequence <= *seen + 1,
            "aggregate {} jumped from sequence {} to {} (partition {}, offset {})",
            record.key,
            seen,
            sequence,
            record.partition,
            record.offset
        );
        *seen = (*seen).max(sequence);
    }
    highest
}

/// An Apache Kafka broker (or cluster) of one test's own, on free ports with its data in a
/// temporary folder, so the test can kill and restart it without disturbing other tests. Its
/// jars are the installation `cargo xtask test` made (`kafka::Installation::find`). Starting a
/// node blocks for seconds, so it runs on tokio's blocking threads: the test's own tasks (a
/// relay, a load) go on meanwhile.
pub struct PrivateBroker {
    cluster: std::sync::Arc<std::sync::Mutex<kafka::Cluster>>,
    data: std::path::PathBuf,
}

impl PrivateBroker {
    /// Starts the broker and waits until it answers metadata requests.
    pub async fn start() -> Self {
        Self::start_with(|options| options).await
    }

    /// Starts a broker (or cluster) whose options `adjust` changed from one plaintext node.
    pub async fn start_with(
        adjust: impl FnOnce(kafka::ClusterOptions) -> kafka::ClusterOptions,
    ) -> Self {
        let data = std::env::temp_dir().join(format!("kafka-test-{}", Uuid::new_v4().simple()));
        let options = adjust(kafka::ClusterOptions::new(1, &data));
        let cluster = tokio::task::spawn_blocking(move || {
            let installation =
                kafka::Installation::find().expect("Kafka is installed (run `cargo xtask test`)");
            kafka::Cluster::prepare(installation, options).expect("broker prepared")
        })
        .await
        .expect("preparing the broker");
        let broker = Self {
            cluster: std::sync::Arc::new(std::sync::Mutex::new(cluster)),
            data,
        };
        broker.restart().await;
        broker
    }

    fn cluster(&self) -> std::sync::MutexGuard<'_, kafka::Cluster> {
        self.cluster
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The plaintext bootstrap address(es).
    pub fn brokers(&self) -> String {
        self.cluster().bootstrap()
    }

    /// The SASL_SSL bootstrap address(es), for a broker started with that listener.
    pub fn secure_brokers(&self) -> String {
        self.cluster()
            .secure_bootstrap()
            .expect("the broker was started with a SASL_SSL listener")
    }

    /// `kill -9`s every node.
    pub fn kill(&self) {
        let mut cluster = self.cluster();
        for id in cluster.node_ids() {
            cluster.kill(id);
        }
    }

    /// The node ids, from 1.
    pub fn node_ids(&self) -> Vec<usize> {
        self.cluster().node_ids()
    }

    /// `kill -9`s node `id` (1-based).
    pub fn kill_node(&self, id: usize) {
        self.cluster().kill(id);
    }

    /// Starts every stopped node again on the same ports and data; waits until all answer.
    pub async fn restart(&self) {
        let cluster = self.cluster.clone();
        tokio::task::spawn_blocking(move || {
            cluster
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .start(Duration::from_secs(120))
        })
        .await
        .expect("starting the broker")
        .expect("the private broker starts");
    }

    /// The node that is the active KRaft controller now.
    pub async fn active_controller(&self) -> usize {
        let cluster = self.cluster.clone();
        tokio::task::spawn_blocking(move || {
            cluster
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .active_controller()
        })
        .await
        .expect("asking for the controller")
        .expect("an active controller")
    }
}

impl Drop for PrivateBroker {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.data);
    }
}

/// Produces `records` (key, value) to `topic` one after another, each acknowledged before the
/// next is sent, so they land in exactly this order. For injecting duplicates, reordered
/// and undecodable deliveries.
pub async fn produce_in_order(brokers: &str, topic: &str, records: &[(String, Vec<u8>)]) {
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("enable.idempotence", "true")
        .set("partitioner", "murmur2_random")
        .create()
        .expect("test producer");
    for (key, value) in records {
        producer
            .send(
                FutureRecord::to(topic).key(key).payload(value),
                Duration::from_secs(30),
            )
            .await
            .unwrap_or_else(|(error, _)| panic!("producing to {topic}: {error}"));
    }
}

/// The environment variables that point a service's `section` (e.g. `USERS_QUERY__DATABASE`)
/// at `database`.
pub fn database_env(section: &str, database: &DatabaseSettings) -> Vec<(String, String)> {
    use secrecy::ExposeSecret;
    vec![
        (format!("{section}__HOST"), database.host.clone()),
        (format!("{section}__PORT"), database.port.to_string()),
        (format!("{section}__USERNAME"), database.username.clone()),
        (
            format!("{section}__PASSWORD"),
            database.password.expose_secret().to_owned(),
        ),
        (
            format!("{section}__DATABASE_NAME"),
            database.database_name.clone(),
        ),
    ]
}

/// The environment variables that point a service (`prefix`, e.g. `USERS_QUERY`) at the
/// brokers of `kafka`, with its security.
pub fn kafka_env(prefix: &str, kafka: &kafka_client::KafkaSettings) -> Vec<(String, String)> {
    use secrecy::ExposeSecret;
    let section = format!("{prefix}__KAFKA");
    let protocol = serde_json::to_value(kafka.security_protocol).expect("a protocol serializes");
    let mechanism = serde_json::to_value(kafka.sasl.mechanism).expect("a mechanism serializes");
    let mut env = vec![
        (format!("{section}__BROKERS"), kafka.brokers.clone()),
        (
            format!("{section}__SECURITY_PROTOCOL"),
            protocol.as_str().unwrap_or_default().to_owned(),
        ),
        (
            format!("{section}__SASL__MECHANISM"),
            mechanism.as_str().unwrap_or_default().to_owned(),
        ),
        (
            format!("{section}__SASL__USERNAME"),
            kafka.sasl.username.clone(),
        ),
        (
            format!("{section}__SASL__PASSWORD"),
            kafka.sasl.password.expose_secret().to_owned(),
        ),
    ];
    for (key, file) in [
        ("CA_FILE", &kafka.tls.ca_file),
        ("CERT_FILE", &kafka.tls.cert_file),
        ("KEY_FILE", &kafka.tls.key_file),
    ] {
        if let Some(file) = file {
            env.push((format!("{section}__TLS__{key}"), file.display().to_string()));
        }
    }
    env
}

/// Reads a child's output until a line contains `needle`; fails the test after `deadline`.
pub async fn wait_for_line(output: tokio::process::ChildStdout, needle: &str, deadline: Duration) {
    use tokio::io::AsyncBufReadExt;
    let mut lines = tokio::io::BufReader::new(output).lines();
    // The last lines seen, for the message when the needle never comes.
    let mut seen = std::collections::VecDeque::new();
    let found = tokio::time::timeout(deadline, async {
        while let Some(line) = lines.next_line().await.expect("child output") {
            if line.contains(needle) {
                return;
            }
            if seen.len() == 20 {
                seen.pop_front();
            }
            seen.push_back(line);
        }
        panic!("the process ended without printing {needle:?}");
    })
    .await;
    if found.is_err() {
        let tail: Vec<String> = seen.into_iter().collect();
        panic!(
            "{needle:?} not printed within {deadline:?}; its last lines:\n{}",
            tail.join("\n")
        );
    }
}
