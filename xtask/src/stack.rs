//! The infrastructure of the stack: Postgres and Apache Kafka, installed and started when
//! missing.

use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use test_support::kafka;

/// Postgres role the services and tests log in as.
pub const PG_USER: &str = "cqrs";
pub const PG_PASSWORD: &str = "cqrs";
/// Client port of the stack's first Kafka node; node n listens on `KAFKA_PORT + 2(n-1)` and
/// is a controller on the port after its own.
pub const KAFKA_PORT: u16 = 9092;
/// Heap of each of the stack's broker JVMs: enough for the system's topics, small enough to
/// leave two cores' worth of memory and caches to Postgres and the services.
const KAFKA_HEAP_MB: u32 = 512;

/// Every database of the system (one local server hosts them all).
pub const DATABASES: &[&str] = &["users_es", "users_read", "orders_es", "orders_read", "saga"];
/// Every topic of the system, with its partitions.
pub const TOPICS: &[(&str, i32)] = &[("users.events", 3), ("orders.events", 3)];

/// The repository root (the parent of `xtask/`).
pub fn root() -> PathBuf {
    // At run time (cargo run, cargo test and nextest set it): a build reused from another
    // checkout of the workspace would carry that checkout's path in env!.
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from)
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

/// Where the stack keeps pid files, logs and the broker's data.
pub fn state_dir() -> Result<PathBuf> {
    let dir = root().join(".stack");
    std::fs::create_dir_all(&dir).context("creating .stack/")?;
    Ok(dir)
}

pub fn step(message: &str) {
    eprintln!("==> {message}");
}

pub fn run(command: &mut Command) -> Result<()> {
    let status = command
        .status()
        .with_context(|| format!("running {command:?}"))?;
    if !status.success() {
        bail!("{command:?} failed with {status}");
    }
    Ok(())
}

fn output(command: &mut Command) -> Result<String> {
    let out = command
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("running {command:?}"))?;
    if !out.status.success() {
        bail!("{command:?} failed with {}", out.status);
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

pub fn found(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

pub fn port_open(port: u16) -> bool {
    TcpStream::connect_timeout(
        &SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_millis(300),
    )
    .is_ok()
}

pub fn wait_until(what: &str, deadline: Duration, mut ready: impl FnMut() -> bool) -> Result<()> {
    let until = Instant::now() + deadline;
    while !ready() {
        if Instant::now() > until {
            bail!("{what} not ready after {deadline:?}");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    Ok(())
}

/// A running Postgres server of the stack.
pub struct Postgres {
    pub port: u16,
    /// `version/name` of the cluster if this run started it.
    pub started: Option<String>,
}

impl Postgres {
    /// Points `command` at this server and at the Kafka `installation` the way `test_support`
    /// reads them (`TEST_PG_*`, `CQRS_KAFKA_HOME`).
    pub fn test_env<'a>(
        &self,
        command: &'a mut Command,
        installation: &test_support::kafka::Installation,
    ) -> &'a mut Command {
        command
            .env("TEST_PG_HOST", "127.0.0.1")
            .env("TEST_PG_PORT", self.port.to_string())
            .env("TEST_PG_USER", PG_USER)
            .env("TEST_PG_PASSWORD", PG_PASSWORD)
            .env("CQRS_KAFKA_HOME", installation.path())
    }
}

/// Whether this process runs as root (installing packages and administering the cluster
/// need it).
fn is_root() -> bool {
    output(Command::new("id").arg("-u")).is_ok_and(|uid| uid.trim() == "0")
}

/// Installs Postgres if missing, starts a cluster, and makes sure the role and databases exist.
pub fn ensure_postgres() -> Result<Postgres> {
    if !is_root() {
        bail!(
            "the local stack needs root: it installs and administers Postgres (apt-get, \
             pg_ctlcluster, runuser -u postgres); run it as root, e.g. `sudo -E cargo xtask …`"
        );
    }
    if !found("pg_lsclusters") {
        step("installing Postgres (apt-get install postgresql)");
        run(Command::new("apt-get").arg("update").arg("-q"))?;
        // A UTF-8 locale, so the new cluster folds case beyond ASCII (name search).
        run(Command::new("apt-get")
            .args(["install", "-y", "-q", "postgresql"])
            .env("DEBIAN_FRONTEND", "noninteractive")
            .env("LANG", "C.UTF-8"))?;
    }
    let clusters = output(Command::new("pg_lsclusters").arg("--no-header"))?;
    let mut cluster = clusters.lines().find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        (fields.len() >= 4).then(|| {
            (
                fields[0].to_owned(),
                fields[1].to_owned(),
                fields[2].parse::<u16>().ok(),
                fields[3].to_owned(),
            )
        })
    });
    if cluster.is_none() {
        let version =
            output(Command::new("sh").args(["-c", "ls /usr/lib/postgresql | sort -n | tail -1"]))?;
        let version = version.trim().to_owned();
        step(&format!("creating Postgres cluster {version}/main"));
        run(Command::new("pg_createcluster").args([
            version.as_str(),
            "main",
            "--locale",
            "C.UTF-8",
        ]))?;
        cluster = Some((version, "main".into(), Some(5432), "down".into()));
    }
    let (version, name, port, status) = cluster.expect("a cluster exists now");
    let port = port.unwrap_or(5432);
    let mut started = None;
    if status != "online" {
        step(&format!(
            "starting Postgres {version}/{name} on port {port}"
        ));
        run(Command::new("pg_ctlcluster").args([version.as_str(), name.as_str(), "start"]))?;
        started = Some(format!("{version}/{name}"));
    }
    wait_until("Postgres", Duration::from_secs(30), || port_open(port))?;
    let psql = |sql: &str| psql(port, sql);
    let exists = |sql: &str| -> Result<bool> { Ok(psql(sql)?.trim() == "1") };
    if !exists(&format!(
        "SELECT 1 FROM pg_roles WHERE rolname = '{PG_USER}'"
    ))? {
        step(&format!("creating Postgres role {PG_USER}"));
        psql(&format!(
            "CREATE ROLE {PG_USER} LOGIN CREATEDB PASSWORD '{PG_PASSWORD}'"
        ))?;
    }
    for database in DATABASES {
        if !exists(&format!(
            "SELECT 1 FROM pg_database WHERE datname = '{database}'"
        ))? {
            step(&format!("creating database {database}"));
            psql(&format!("CREATE DATABASE {database} OWNER {PG_USER}"))?;
        }
    }
    Ok(Postgres { port, started })
}

/// Stops the Postgres cluster `version/name`.
pub fn stop_postgres(cluster: &str) -> Result<()> {
    let (version, name) = cluster.split_once('/').context("cluster is version/name")?;
    step(&format!("stopping Postgres {cluster}"));
    run(Command::new("pg_ctlcluster").args([version, name, "stop"]))
}

/// Runs `sql` as the postgres superuser; the unaligned, tuples-only output.
fn psql(port: u16, sql: &str) -> Result<String> {
    output(Command::new("runuser").args([
        "-u",
        "postgres",
        "--",
        "psql",
        "-p",
        &port.to_string(),
        "-v",
        "ON_ERROR_STOP=1",
        "-qtAc",
        sql,
    ]))
}

/// Drops the stack's databases (with whatever is still connected) and creates them empty.
pub fn recreate_databases(port: u16) -> Result<()> {
    for database in DATABASES {
        psql(
            port,
            &format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)"),
        )?;
        psql(port, &format!("CREATE DATABASE {database} OWNER {PG_USER}"))?;
    }
    Ok(())
}

/// Drops the databases earlier test runs left behind.
pub fn drop_test_databases(port: u16) -> Result<()> {
    let list = psql(
        port,
        "SELECT datname FROM pg_database WHERE datname LIKE 'test\\_%'",
    )?;
    for database in list.lines().map(str::trim).filter(|d| !d.is_empty()) {
        // One that a running test still uses may refuse; the next run drops it.
        let _ = psql(
            port,
            &format!("DROP DATABASE IF EXISTS \"{database}\" WITH (FORCE)"),
        );
    }
    Ok(())
}

/// The stack's Kafka: its data folder, `.stack/kafka/` (a folder per node).
fn kafka_dir() -> Result<PathBuf> {
    Ok(state_dir()?.join("kafka"))
}

/// How many nodes the stack's Kafka data was formatted for, if it has data.
pub fn kafka_nodes_formatted() -> Result<Option<usize>> {
    match std::fs::read_to_string(kafka_dir()?.join("nodes")) {
        Ok(text) => Ok(text.trim().parse().ok()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(error.into()),
    }
}

/// The bootstrap list of a stack of `nodes` Kafka nodes.
pub fn kafka_bootstrap(nodes: usize) -> String {
    (0..nodes)
        .map(|n| format!("127.0.0.1:{}", KAFKA_PORT + 2 * n as u16))
        .collect::<Vec<_>>()
        .join(",")
}

/// Installs Apache Kafka if missing and starts the stack's `nodes` KRaft nodes on
/// 127.0.0.1:9092 (and 9094, 9096), unless they already run; waits until every node answers.
/// Returns the bootstrap list.
pub fn ensure_kafka(nodes: usize) -> Result<String> {
    anyhow::ensure!(
        nodes == 1 || nodes == 3,
        "--kafka-brokers is 1 (one node) or 3 (a cluster that replicates every topic three \
         times), not {nodes}"
    );
    if let Some(formatted) = kafka_nodes_formatted()?
        && formatted != nodes
    {
        bail!(
            "the stack's Kafka data in .stack/kafka/ is of {formatted} node(s), not {nodes}: \
             `cargo xtask up --fresh --kafka-brokers {nodes}` starts over (every event, read \
             model and saga is lost)"
        );
    }
    let brokers = kafka_bootstrap(nodes);
    let node_port = |id: usize| KAFKA_PORT + 2 * (id as u16 - 1);
    let missing: Vec<usize> = (1..=nodes)
        .filter(|id| !port_open(node_port(*id)))
        .collect();
    if missing.is_empty() {
        // Already running: the tools may still be missing (a stack from before they existed).
        if let Ok(installation) = kafka::Installation::find() {
            kafka::write_tools(&installation, &state_dir()?.join("bin"))?;
        }
        return Ok(brokers);
    }
    let installation = kafka::Installation::ensure(step)?;
    kafka::write_tools(&installation, &state_dir()?.join("bin"))?;
    let dir = kafka_dir()?;
    let mut options = kafka::ClusterOptions::new(nodes, &dir);
    options.base_port = Some(KAFKA_PORT);
    options.heap_mb = KAFKA_HEAP_MB;
    options.own_process_group = true;
    let mut cluster = kafka::Cluster::prepare(installation, options)?;
    std::fs::write(dir.join("nodes"), nodes.to_string())?;
    step(&format!(
        "starting Apache Kafka {} on {brokers} (data and logs in .stack/kafka/)",
        kafka::KAFKA_VERSION
    ));
    // Only the nodes that are down: one that died is brought back beside the others.
    for id in missing {
        let pid = cluster.start_node(id)?;
        std::fs::write(
            state_dir()?.join(format!("kafka-{id}.pid")),
            pid.to_string(),
        )?;
    }
    cluster.wait_ready(Duration::from_secs(120))?;
    cluster.detach();
    Ok(brokers)
}

/// The suite's own Kafka node: free ports, data in `.stack/test-kafka/` (deleted first, so no
/// run sees an earlier one's topics), apart from the stack's. Stopped when dropped.
pub fn start_test_kafka(installation: &kafka::Installation) -> Result<kafka::Cluster> {
    let dir = state_dir()?.join("test-kafka");
    // A run that was killed may have left its broker behind (and only a broker is stopped:
    // the pid may belong to another process by now).
    if let Ok(pids) = std::fs::read_to_string(dir.join("pids")) {
        for pid in pids.split_whitespace().filter_map(|pid| pid.parse().ok()) {
            if kafka::is_broker(pid) {
                kafka::terminate(pid, Duration::from_secs(10));
            }
        }
    }
    if dir.exists() {
        std::fs::remove_dir_all(&dir).context("deleting .stack/test-kafka/")?;
    }
    let mut options = kafka::ClusterOptions::new(1, &dir);
    options.heap_mb = 768;
    let mut cluster = kafka::Cluster::prepare(installation.clone(), options)?;
    step(&format!(
        "starting the suite's Apache Kafka {} on {} (data in .stack/test-kafka/)",
        kafka::KAFKA_VERSION,
        cluster.bootstrap()
    ));
    let pid = cluster.start_node(1)?;
    std::fs::write(dir.join("pids"), pid.to_string())?;
    cluster.wait_ready(Duration::from_secs(120))?;
    Ok(cluster)
}

/// Creates the system's topics that are missing.
pub fn ensure_topics(brokers: &str) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let admin =
            service_kit::kafka::admin(&service_kit::settings::KafkaSettings::plaintext(brokers))?;
        for (topic, partitions) in TOPICS {
            service_kit::kafka::ensure_topic(&admin, topic, *partitions)
                .await
                .with_context(|| format!("creating topic {topic}"))?;
        }
        anyhow::Ok(())
    })
}

/// Sends SIGTERM to `pid`, then SIGKILL if it has not exited after `grace`.
pub fn stop_process(pid: u32, grace: Duration) {
    kafka::terminate(pid, grace);
}
