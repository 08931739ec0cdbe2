//! The system under test: a Kafka cluster of the campaign's own, the five services on fresh
//! databases and topics with a second replica of each, and the ways to break and mend them.

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use kafka_client::KafkaSettings;
use kafka_client::inspect::Inspector;
use rdkafka::consumer::{BaseConsumer, Consumer};
use sqlx::PgPool;
use test_support::PrivateBroker;
use test_support::kafka::{ClusterOptions, signal};
use test_support::stack::{FAST_SAGA, Process, Stack};

use crate::RECOVERY;

/// A saga's deadline in a campaign: long enough to outlast most faults, short enough that
/// every saga ends while the system quiesces.
const SAGA_DEADLINE_MS: u64 = 30_000;

/// What every service process gets: quiet logs, and pools small enough that ten processes,
/// a visiting group member and the checker stay within Postgres's 100 connections.
const EVERY: &[(&str, &str)] = &[
    ("RUST_LOG", "error"),
    ("USERS_COMMAND__DATABASE__MAX_CONNECTIONS", "8"),
    ("ORDERS_COMMAND__DATABASE__MAX_CONNECTIONS", "8"),
    ("USERS_QUERY__DATABASE__MAX_CONNECTIONS", "4"),
    ("USERS_QUERY__EVENT_STORE__MAX_CONNECTIONS", "2"),
    ("ORDERS_QUERY__DATABASE__MAX_CONNECTIONS", "4"),
    ("ORDERS_QUERY__EVENT_STORE__MAX_CONNECTIONS", "2"),
    // The orchestrator wants a connection per worker plus six.
    ("SAGA_ORCHESTRATOR__SAGA__WORKERS", "2"),
    ("SAGA_ORCHESTRATOR__DATABASE__MAX_CONNECTIONS", "8"),
    ("SAGA_ORCHESTRATOR__EVENT_STORE__MAX_CONNECTIONS", "2"),
];

/// `env` as the `(name, value)` pairs a process is spawned with.
fn pairs(env: &[(String, String)]) -> Vec<(&str, &str)> {
    env.iter()
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .collect()
}

/// Where the workload sends its requests: every replica of each service.
#[derive(Debug, Clone)]
pub struct Targets {
    pub users_command: Vec<String>,
    pub orders_command: Vec<String>,
    pub users_query: Vec<String>,
    pub orders_query: Vec<String>,
}

/// The databases the checker reads.
#[derive(Debug, Clone)]
pub struct Stores {
    pub users_es: PgPool,
    pub orders_es: PgPool,
    pub users_read: PgPool,
    pub orders_read: PgPool,
    pub saga: PgPool,
}

/// The topics the checker reads, and the consumer groups that must catch up.
#[derive(Debug, Clone)]
pub struct KafkaView {
    pub brokers: String,
    pub users_topic: String,
    pub orders_topic: String,
    pub groups: Vec<String>,
}

/// Everything a campaign runs.
pub struct Topology {
    /// Shared so that a fault restarts nodes without holding the topology meanwhile.
    broker: Arc<PrivateBroker>,
    /// Its node ids, read once: asking the cluster waits for any restart under way.
    broker_nodes: Vec<usize>,
    stack: Stack,
    /// The second replica of each service, in the order of [`Topology::processes`].
    replicas: Vec<Process>,
    kafka: KafkaSettings,
    /// `version main` of the Postgres cluster the databases live in, for restarts.
    postgres: (String, String),
    /// What every service process gets: [`EVERY`] and the campaign's failpoints.
    env: Vec<(String, String)>,
}

/// What the quiescence wait saw at its end.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Quiet {
    /// Whether everything settled before the deadline.
    pub settled: bool,
    /// Milliseconds from the end of healing to settled (or to the deadline).
    pub after_ms: u64,
    /// What was still unsettled at the deadline, or empty.
    pub unsettled: Vec<String>,
}

impl Topology {
    /// Starts the Kafka cluster, the stack on it and a twin of every service; every process
    /// gets the `failpoints` variables too.
    pub async fn start(brokers: usize, failpoints: &[(String, String)]) -> anyhow::Result<Self> {
        let postgres = postgres_cluster()?;
        let broker = PrivateBroker::start_with(|options| ClusterOptions {
            nodes: brokers,
            ..options
        })
        .await;
        let kafka = KafkaSettings::plaintext(broker.brokers());
        let env: Vec<(String, String)> = EVERY
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .chain(failpoints.iter().cloned())
            .collect();
        let stack = Stack::start_on(&kafka, SAGA_DEADLINE_MS, FAST_SAGA, &pairs(&env)).await;
        let mut replicas = vec![
            stack.users_command.twin(),
            stack.users_query.twin(),
            stack.orders_command.twin(),
            stack.orders_query.twin(),
            stack.saga.twin(),
        ];
        for replica in &mut replicas {
            replica.start_with(&pairs(&env)).await;
        }
        Ok(Self {
            broker_nodes: broker.node_ids(),
            broker: Arc::new(broker),
            stack,
            replicas,
            kafka,
            postgres,
            env,
        })
    }

    /// Every service process: the stack's five, then their replicas.
    pub fn processes(&mut self) -> Vec<(String, &mut Process)> {
        let stack = &mut self.stack;
        let mut all: Vec<(String, &mut Process)> = vec![
            ("users-command#1".into(), &mut stack.users_command),
            ("users-query#1".into(), &mut stack.users_query),
            ("orders-command#1".into(), &mut stack.orders_command),
            ("orders-query#1".into(), &mut stack.orders_query),
            ("saga-orchestrator#1".into(), &mut stack.saga),
        ];
        all.extend(
            self.replicas
                .iter_mut()
                .map(|replica| (format!("{}#2", replica.name), replica)),
        );
        all
    }

    /// The names of [`Topology::processes`], in order.
    pub fn names(&mut self) -> Vec<String> {
        self.processes().into_iter().map(|(name, _)| name).collect()
    }

    pub fn targets(&self) -> Targets {
        let both = |first: &Process, name: &str| {
            let twin = self
                .replicas
                .iter()
                .find(|replica| replica.name == name)
                .expect("every service has a replica");
            vec![first.address.clone(), twin.address.clone()]
        };
        Targets {
            users_command: both(&self.stack.users_command, "users-command"),
            orders_command: both(&self.stack.orders_command, "orders-command"),
            users_query: both(&self.stack.users_query, "users-query"),
            orders_query: both(&self.stack.orders_query, "orders-query"),
        }
    }

    pub fn stores(&self) -> Stores {
        Stores {
            users_es: self.stack.users_es.clone(),
            orders_es: self.stack.orders_es.clone(),
            users_read: self.stack.users_read.clone(),
            orders_read: self.stack.orders_read.clone(),
            saga: self.stack.saga_db.clone(),
        }
    }

    pub fn kafka(&self) -> KafkaView {
        let group = &self.stack.group;
        KafkaView {
            brokers: self.kafka.brokers.clone(),
            users_topic: self.stack.users_topic.clone(),
            orders_topic: self.stack.orders_topic.clone(),
            groups: vec![
                format!("users-query-{group}"),
                format!("orders-query-{group}"),
                format!("saga-{group}"),
            ],
        }
    }

    /// `kill -9` of process `index`; answers its address.
    pub async fn kill(&mut self, index: usize) -> String {
        let mut processes = self.processes();
        let (_, process) = &mut processes[index];
        process.kill().await;
        process.address.clone()
    }

    /// Starts process `index` again if it is not running; answers its address, whose
    /// readiness the caller awaits (without holding the topology).
    pub async fn respawn(&mut self, index: usize) -> String {
        let env = self.env.clone();
        let mut processes = self.processes();
        let (_, process) = &mut processes[index];
        if process.has_exited() {
            process.kill().await;
        }
        if !process.is_started() {
            process.spawn(&pairs(&env), false);
        }
        process.address.clone()
    }

    /// Restarts every process that exited by itself, as a supervisor (Kubernetes, systemd)
    /// would; one killed by a fault stays down until the fault lifts. Answers their names.
    pub async fn supervise(&mut self) -> Vec<String> {
        let env = self.env.clone();
        let mut restarted = Vec::new();
        for (name, process) in self.processes() {
            if process.has_exited() {
                process.kill().await;
                process.spawn(&pairs(&env), false);
                restarted.push(name);
            }
        }
        restarted
    }

    /// Sends `name` (`-STOP`, `-CONT`) to process `index`, if it runs.
    pub fn signal(&mut self, index: usize, name: &str) {
        if let Some(pid) = self.processes()[index].1.pid() {
            signal(name, pid);
        }
    }

    /// The Postgres cluster the databases live in, as `(version, name)`.
    pub fn postgres(&self) -> (String, String) {
        self.postgres.clone()
    }

    /// The Kafka node ids.
    pub fn broker_nodes(&self) -> Vec<usize> {
        self.broker_nodes.clone()
    }

    /// The Kafka cluster, to kill and restart nodes of without holding the topology (a
    /// restart waits for every node, which would hold up every other fault's lifting).
    pub fn broker(&self) -> Arc<PrivateBroker> {
        self.broker.clone()
    }

    /// Starts one more member of `service`'s consumer group (a projector's), making the group
    /// rebalance; the caller owns it and [`dismiss`]es it.
    pub fn visitor(&self, service: &str) -> Process {
        let mut twin = match service {
            "users-query" => self.stack.users_query.twin(),
            "orders-query" => self.stack.orders_query.twin(),
            _ => self.stack.saga.twin(),
        };
        twin.spawn(&pairs(&self.env), false);
        twin
    }

    /// Mends everything: paused processes continue, stopped ones start, brokers and Postgres
    /// run; waits until every service is ready.
    pub async fn heal(&mut self) -> anyhow::Result<()> {
        for index in 0..self.names().len() {
            self.signal(index, "-CONT");
        }
        let (version, name) = self.postgres.clone();
        // Starting a running cluster fails harmlessly.
        let _ = Command::new("pg_ctlcluster")
            .args([&version, &name, "start"])
            .status();
        self.broker.restart().await;
        let mut addresses = Vec::new();
        for index in 0..self.names().len() {
            addresses.push(self.respawn(index).await);
        }
        for address in addresses {
            if !ready_within(&address, RECOVERY).await {
                bail!("{address} was not ready {RECOVERY:?} after healing");
            }
        }
        Ok(())
    }

    /// Waits until the system is quiet: no outbox row left, every group at the end of its
    /// topic, a saga for every placed and cancelled order and every saga finished, every read
    /// model at its store's version, and the stores unchanged since the previous look, two
    /// seconds before (a request held up in a resumed process may still commit). At most
    /// `limit`.
    pub async fn quiesce(&self, limit: Duration) -> Quiet {
        let started = Instant::now();
        let mut previous: Option<Vec<i64>> = None;
        loop {
            let (mut unsettled, counts) = self.unsettled().await;
            if unsettled.is_empty() && previous.as_ref() != Some(&counts) {
                unsettled.push("the stores changed since the previous look".to_owned());
            }
            previous = Some(counts);
            let after_ms = started.elapsed().as_millis() as u64;
            if unsettled.is_empty() {
                return Quiet {
                    settled: true,
                    after_ms,
                    unsettled,
                };
            }
            if started.elapsed() >= limit {
                return Quiet {
                    settled: false,
                    after_ms,
                    unsettled,
                };
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
    }

    /// What is not settled yet, and the event counts of both stores.
    async fn unsettled(&self) -> (Vec<String>, Vec<i64>) {
        let stores = self.stores();
        let mut unsettled = Vec::new();
        let scalar = |pool: PgPool, sql: &'static str| async move {
            sqlx::query_scalar::<_, i64>(sql).fetch_one(&pool).await
        };
        for (what, pool) in [("users", &stores.users_es), ("orders", &stores.orders_es)] {
            match scalar(pool.clone(), "SELECT count(*) FROM outbox").await {
                Ok(0) => {}
                Ok(rows) => unsettled.push(format!("{rows} {what} outbox row(s)")),
                Err(error) => unsettled.push(format!("{what} outbox: {error}")),
            }
        }
        let open = "SELECT count(*) FROM saga.sagas WHERE finished_at IS NULL";
        match scalar(stores.saga.clone(), open).await {
            Ok(0) => {}
            Ok(sagas) => unsettled.push(format!("{sagas} saga(s) unfinished")),
            Err(error) => unsettled.push(format!("sagas: {error}")),
        }
        // An order event the orchestrator has not consumed yet has no saga to be open.
        let orders_moved = "SELECT count(*) FROM events \
                            WHERE event_type IN ('OrderPlaced', 'OrderCancelled')";
        let sagas = "SELECT count(*) FROM saga.sagas";
        match (
            scalar(stores.orders_es.clone(), orders_moved).await,
            scalar(stores.saga.clone(), sagas).await,
        ) {
            (Ok(moved), Ok(sagas)) if sagas >= moved => {}
            (Ok(moved), Ok(sagas)) => {
                unsettled.push(format!(
                    "{sagas} saga(s) for {moved} placed or cancelled orders"
                ));
            }
            _ => unsettled.push("sagas or orders unreadable".to_owned()),
        }
        let mut counts = Vec::new();
        for (what, store, view) in [
            (
                "users",
                &stores.users_es,
                (
                    &stores.users_read,
                    "SELECT coalesce(sum(version), 0)::bigint FROM users_view.users",
                ),
            ),
            (
                "orders",
                &stores.orders_es,
                (
                    &stores.orders_read,
                    "SELECT coalesce(sum(version), 0)::bigint FROM orders_view.orders",
                ),
            ),
        ] {
            let stored = scalar(store.clone(), "SELECT count(*) FROM events").await;
            counts.push(*stored.as_ref().unwrap_or(&-1));
            let applied = scalar(view.0.clone(), view.1).await;
            match (stored, applied) {
                (Ok(stored), Ok(applied)) if stored == applied => {}
                (Ok(stored), Ok(applied)) => {
                    unsettled.push(format!("{what} view at {applied} of {stored} events"));
                }
                _ => unsettled.push(format!("{what} view unreadable")),
            }
        }
        let view = self.kafka();
        let kafka = self.kafka.clone();
        let lags = tokio::task::spawn_blocking(move || group_lags(&kafka, &view)).await;
        match lags {
            Ok(Ok(lags)) => unsettled.extend(
                lags.into_iter()
                    .filter(|(_, lag)| *lag > 0)
                    .map(|(group, lag)| format!("group {group} lags {lag}")),
            ),
            Ok(Err(error)) => unsettled.push(format!("group lag: {error}")),
            Err(error) => unsettled.push(format!("group lag: {error}")),
        }
        (unsettled, counts)
    }
}

/// Each group's lag over both topics.
fn group_lags(kafka: &KafkaSettings, view: &KafkaView) -> anyhow::Result<Vec<(String, i64)>> {
    let inspector = Inspector::new(kafka, "chaos-quiesce", Duration::from_secs(5))?;
    let mut topics = inspector.watermarks(Some(&view.users_topic))?;
    topics.extend(inspector.watermarks(Some(&view.orders_topic))?);
    let mut lags = Vec::new();
    for group in &view.groups {
        let committed = inspector.group_lags(group, &topics)?;
        // The inspector leaves out what it could not read (a coordinator still loading after
        // a broker restart) and partitions without a committed offset; here either is not
        // yet settled: every partition of a topic the group consumes must be committed.
        anyhow::ensure!(
            !committed.is_empty(),
            "group {group} has no committed offset"
        );
        let mut lag = 0;
        for consumed in &committed {
            let marks = topics
                .iter()
                .find(|marks| marks.topic == consumed.topic)
                .map_or(&[][..], |marks| &marks.partitions[..]);
            for partition in marks {
                lag += consumed
                    .partitions
                    .iter()
                    .find(|at| at.partition == partition.partition)
                    .map_or(partition.high, |at| at.lag);
            }
        }
        lags.push((group.clone(), lag));
    }
    Ok(lags)
}

/// The node leading partition 0 of `topic` now. Blocks (a metadata request).
pub fn leader_of(brokers: &str, topic: &str) -> Option<usize> {
    let consumer: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .ok()?;
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(5))
        .ok()?;
    let leader = metadata.topics().first()?.partitions().first()?.leader();
    usize::try_from(leader).ok()
}

/// Stops a group visitor with SIGTERM (it leaves its group, which rebalances again), then
/// makes sure it is gone.
pub async fn dismiss(mut visitor: Process) {
    if let Some(pid) = visitor.pid() {
        signal("-TERM", pid);
    }
    // Leaving its group takes a moment; one that does not leave within seconds is killed.
    let until = Instant::now() + Duration::from_secs(5);
    while !visitor.has_exited() && Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    visitor.kill().await;
}

/// An immediate-mode restart of Postgres cluster `(version, name)`: every connection is
/// cut, and what was not committed is gone. Blocks for seconds; overlapping restarts take
/// turns (two at once fail on each other's PID file).
pub fn restart_postgres((version, name): &(String, String)) -> anyhow::Result<()> {
    static TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _turn = TURN
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let status = Command::new("pg_ctlcluster")
        .args([version, name, "restart", "-m", "immediate"])
        .status()
        .context("running pg_ctlcluster")?;
    if !status.success() {
        bail!("pg_ctlcluster {version} {name} restart failed ({status})");
    }
    Ok(())
}

/// Whether the service at `address` answers ready within `limit`.
pub async fn ready_within(address: &str, limit: Duration) -> bool {
    let client = reqwest::Client::new();
    let until = Instant::now() + limit;
    while Instant::now() < until {
        let ready = client
            .get(format!("{address}/health/ready"))
            .timeout(Duration::from_secs(2))
            .send()
            .await;
        if ready.is_ok_and(|answer| answer.status().is_success()) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    false
}

/// The Postgres cluster (`version`, `name`) serving the test port (`TEST_PG_PORT`, 5432).
fn postgres_cluster() -> anyhow::Result<(String, String)> {
    let port = std::env::var("TEST_PG_PORT").unwrap_or_else(|_| "5432".into());
    let listing = Command::new("pg_lsclusters")
        .arg("--no-header")
        .output()
        .context("running pg_lsclusters (Debian's postgresql-common)")?;
    String::from_utf8_lossy(&listing.stdout)
        .lines()
        .find_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            (fields.get(2) == Some(&port.as_str()))
                .then(|| (fields[0].to_owned(), fields[1].to_owned()))
        })
        .with_context(|| format!("no Postgres cluster listens on port {port}"))
}
