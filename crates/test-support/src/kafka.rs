//! Apache Kafka on this machine without Docker: the broker's jars resolved from Maven Central
//! once per machine, KRaft nodes (broker and controller in one process) formatted and started
//! on loopback, and readiness that asks the cluster for its metadata. `cargo xtask up` runs the
//! stack's broker with it, `cargo xtask test` the suite's, and tests that need brokers of their
//! own (one to kill, a cluster of three, a SASL_SSL listener) start them here.

use std::io::Write as _;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use base64::Engine as _;
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer as _};

/// The Apache Kafka release the stack, the tests, compose.yaml and deploy/ run (ADR 0013).
pub const KAFKA_VERSION: &str = "4.3.2";
/// log4j 2, which Kafka 4 logs through (its jars leave the implementation to the application).
const LOG4J_VERSION: &str = "2.25.3";
/// The SLF4J 2 API the log4j binding needs (Maven's nearest-wins would pick an older 1.7).
const SLF4J_VERSION: &str = "2.0.17";
/// Java release the broker needs.
const JAVA_RELEASE: u32 = 17;

/// The broker's jars on this machine.
#[derive(Debug, Clone)]
pub struct Installation {
    home: PathBuf,
}

impl Installation {
    /// Where the jars live: `$CQRS_KAFKA_HOME`, else `~/.cache/cqrs-kafka/kafka-<version>`,
    /// outside any clone so every checkout and CI run shares one download.
    pub fn home() -> Result<PathBuf> {
        if let Some(home) = std::env::var_os("CQRS_KAFKA_HOME") {
            return Ok(PathBuf::from(home));
        }
        let home = std::env::var_os("HOME").context("HOME is not set")?;
        Ok(PathBuf::from(home).join(format!(".cache/cqrs-kafka/kafka-{KAFKA_VERSION}")))
    }

    /// The installation if it is complete, without installing anything.
    pub fn find() -> Result<Self> {
        let home = Self::home()?;
        ensure!(
            home.join("libs/.complete").exists(),
            "Apache Kafka {KAFKA_VERSION} is not installed in {} (`cargo xtask up` or \
             `cargo xtask test` installs it)",
            home.display()
        );
        Ok(Self { home })
    }

    /// The installation, resolving the jars with Maven first when they are missing (about
    /// 60 MB, once per machine). `step` is told what is being installed.
    pub fn ensure(step: impl Fn(&str)) -> Result<Self> {
        if let Ok(found) = Self::find() {
            ensure_java(&step, false)?;
            return Ok(found);
        }
        ensure_java(&step, true)?;
        let home = Self::home()?;
        std::fs::create_dir_all(&home).with_context(|| format!("creating {}", home.display()))?;
        step(&format!(
            "installing Apache Kafka {KAFKA_VERSION} (its jars from Maven Central into {})",
            home.display()
        ));
        std::fs::write(home.join("pom.xml"), pom())?;
        // A folder of this process's own: two first installs at once must not share one.
        let partial = home.join(format!("libs.partial-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&partial);
        let status = Command::new("mvn")
            .args([
                "-B",
                "-q",
                "-Dstyle.color=never",
                "dependency:copy-dependencies",
                "-DincludeScope=runtime",
            ])
            .arg(format!("-DoutputDirectory={}", partial.display()))
            .current_dir(&home)
            .status()
            .context("running mvn")?;
        ensure!(
            status.success(),
            "mvn could not resolve Apache Kafka {KAFKA_VERSION} from Maven Central ({status})"
        );
        std::fs::write(partial.join(".complete"), KAFKA_VERSION)?;
        let libs = home.join("libs");
        if !libs.join(".complete").exists() {
            // An incomplete folder left by an older layout or a crash.
            let _ = std::fs::remove_dir_all(&libs);
        }
        if let Err(error) = std::fs::rename(&partial, &libs) {
            let _ = std::fs::remove_dir_all(&partial);
            // Another process finished first: its copy is as good.
            if !libs.join(".complete").exists() {
                return Err(error).context("moving the jars into place");
            }
        }
        std::fs::write(home.join("log4j2.properties"), LOG4J2_PROPERTIES)?;
        Self::find()
    }

    /// The folder holding `libs/`.
    pub fn path(&self) -> &Path {
        &self.home
    }

    /// `java` with Kafka's classpath and logging, running `main_class`.
    pub fn java(&self, main_class: &str) -> Command {
        self.jvm(&[], main_class)
    }

    /// `java` with JVM `options` (heap, collector) before Kafka's classpath and `main_class`.
    pub fn jvm(&self, options: &[String], main_class: &str) -> Command {
        let log4j = self.home.join("log4j2.properties");
        if !log4j.exists() {
            let _ = std::fs::write(&log4j, LOG4J2_PROPERTIES);
        }
        let mut command = Command::new("java");
        command
            .args(options)
            .arg("-cp")
            .arg(self.home.join("libs/*"))
            .arg(format!("-Dlog4j2.configurationFile={}", log4j.display()))
            .arg("-Djava.awt.headless=true")
            .arg(main_class);
        command
    }
}

/// The Maven project whose runtime dependencies are the broker and its tools.
fn pom() -> String {
    let dependency = |group: &str, artifact: &str, version: &str| {
        format!(
            "    <dependency><groupId>{group}</groupId><artifactId>{artifact}</artifactId>\
             <version>{version}</version></dependency>\n"
        )
    };
    format!(
        "<project xmlns=\"http://maven.apache.org/POM/4.0.0\">\n  <modelVersion>4.0.0</modelVersion>\n  \
         <groupId>local.cqrs-kafka</groupId><artifactId>kafka-runtime</artifactId>\
         <version>{KAFKA_VERSION}</version><packaging>pom</packaging>\n  <dependencies>\n{}{}{}{}{}  </dependencies>\n</project>\n",
        dependency("org.apache.kafka", "kafka_2.13", KAFKA_VERSION),
        dependency("org.apache.kafka", "kafka-tools", KAFKA_VERSION),
        dependency("org.apache.logging.log4j", "log4j-core", LOG4J_VERSION),
        dependency(
            "org.apache.logging.log4j",
            "log4j-slf4j2-impl",
            LOG4J_VERSION
        ),
        dependency("org.slf4j", "slf4j-api", SLF4J_VERSION),
    )
}

/// Brokers log to standard output (the caller sends it to a file); Kafka's chatty request
/// and state-change loggers stay at warnings.
const LOG4J2_PROPERTIES: &str = "\
status = warn
appender.out.type = Console
appender.out.name = out
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.out.ref = out
logger.request.name = kafka.request.logger
logger.request.level = WARN
logger.state.name = state.change.logger
logger.state.level = WARN
logger.cleaner.name = kafka.log.LogCleaner
logger.cleaner.level = WARN
";

/// Makes sure `java` (17 or newer), and `mvn` when `maven` is asked for, are there,
/// installing Debian's packages if not.
fn ensure_java(step: &impl Fn(&str), maven: bool) -> Result<()> {
    let java_release = || -> Option<u32> {
        let out = Command::new("java").arg("-version").output().ok()?;
        // `openjdk version "17.0.15" …` on standard error.
        let text = String::from_utf8_lossy(&out.stderr);
        let version = text.split('"').nth(1)?;
        version.split(['.', '-', '+']).next()?.parse().ok()
    };
    let mvn = || {
        Command::new("mvn")
            .arg("-v")
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if java_release().is_some_and(|release| release >= JAVA_RELEASE) && (!maven || mvn()) {
        return Ok(());
    }
    step("installing Java 17 and Maven (apt-get install default-jre-headless maven)");
    for args in [
        &["update", "-q"][..],
        &[
            "install",
            "-y",
            "-q",
            "--no-install-recommends",
            "default-jre-headless",
            "maven",
        ][..],
    ] {
        let status = Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .context("running apt-get")?;
        ensure!(
            status.success(),
            "apt-get {} failed ({status})",
            args.join(" ")
        );
    }
    match java_release() {
        Some(release) if release >= JAVA_RELEASE => Ok(()),
        found => bail!("Apache Kafka needs Java {JAVA_RELEASE} or newer; found {found:?}"),
    }
}

/// A fresh cluster id: a base64url UUID, as `kafka-storage.sh random-uuid` prints. Like
/// Kafka's own, never one that starts with `-`: the storage tool would read it as an option
/// (`--cluster-id: expected one argument`, one format in 64 failed so in CI).
fn cluster_id() -> String {
    loop {
        let id = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(uuid::Uuid::new_v4().as_bytes());
        if !id.starts_with('-') {
            return id;
        }
    }
}

/// A port nobody listens on now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free loopback port")
        .port()
}

/// A client listener with SASL (SCRAM-SHA-512) over TLS, beside each node's plaintext one.
#[derive(Clone)]
pub struct SaslSsl {
    /// A PEM file holding the broker's private key (PKCS#8, unencrypted) and certificate.
    pub keystore_pem: PathBuf,
    /// SCRAM-SHA-512 users created when the storage is formatted: (name, password).
    pub users: Vec<(String, String)>,
}

impl std::fmt::Debug for SaslSsl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.users.iter().map(|(name, _)| name.as_str()).collect();
        f.debug_struct("SaslSsl")
            .field("keystore_pem", &self.keystore_pem)
            .field("users", &names)
            .finish_non_exhaustive()
    }
}

/// What a cluster looks like.
#[derive(Debug, Clone)]
pub struct ClusterOptions {
    /// Nodes, each broker and controller at once; with three, the system's topics get three
    /// replicas and two must acknowledge a write.
    pub nodes: usize,
    /// Where the nodes keep their data (a folder per node) and logs.
    pub dir: PathBuf,
    /// Node n listens for clients on `base_port + 2(n-1)` and as a controller on the port
    /// after; `None` picks free ports.
    pub base_port: Option<u16>,
    /// Heap of each broker's JVM.
    pub heap_mb: u32,
    /// A SASL_SSL listener for clients besides the plaintext one.
    pub sasl_ssl: Option<SaslSsl>,
    /// Run each node in a process group of its own, so a Ctrl-C of the caller does not reach
    /// it: for a stack that outlives the command that started it. Off for tests, whose nodes
    /// then go with the test's process group if the test is killed.
    pub own_process_group: bool,
}

impl ClusterOptions {
    /// `nodes` nodes on free ports with data in `dir`.
    pub fn new(nodes: usize, dir: impl Into<PathBuf>) -> Self {
        Self {
            nodes,
            dir: dir.into(),
            base_port: None,
            heap_mb: 384,
            sasl_ssl: None,
            own_process_group: false,
        }
    }
}

/// One node of a cluster.
#[derive(Debug)]
struct Node {
    id: usize,
    port: u16,
    controller_port: u16,
    secure_port: Option<u16>,
    dir: PathBuf,
    child: Option<Child>,
}

/// A KRaft cluster on loopback. Nodes it started are killed when it is dropped, unless
/// [`Cluster::detach`] let them go on.
#[derive(Debug)]
pub struct Cluster {
    installation: Installation,
    options: ClusterOptions,
    nodes: Vec<Node>,
}

impl Cluster {
    /// Writes each node's configuration and formats the storage of any node that has none
    /// (a node formatted before keeps its data). Starts nothing.
    pub fn prepare(installation: Installation, options: ClusterOptions) -> Result<Self> {
        ensure!(options.nodes >= 1, "a cluster needs a node");
        std::fs::create_dir_all(&options.dir)
            .with_context(|| format!("creating {}", options.dir.display()))?;
        let nodes: Vec<Node> = (1..=options.nodes)
            .map(|id| {
                let (port, controller_port) = match options.base_port {
                    Some(base) => (base + 2 * (id as u16 - 1), base + 2 * (id as u16 - 1) + 1),
                    None => (free_port(), free_port()),
                };
                Node {
                    id,
                    port,
                    controller_port,
                    secure_port: options.sasl_ssl.as_ref().map(|_| free_port()),
                    dir: options.dir.join(format!("node-{id}")),
                    child: None,
                }
            })
            .collect();
        let cluster = Self {
            installation,
            options,
            nodes,
        };
        let unformatted: Vec<&Node> = cluster
            .nodes
            .iter()
            .filter(|node| !node.dir.join("data/meta.properties").exists())
            .collect();
        ensure!(
            unformatted.is_empty() || unformatted.len() == cluster.nodes.len(),
            "some nodes in {} have data and some have none; delete the folder to start afresh",
            cluster.options.dir.display()
        );
        for node in &cluster.nodes {
            std::fs::create_dir_all(&node.dir)?;
            std::fs::write(node.dir.join("server.properties"), cluster.properties(node))?;
        }
        if !unformatted.is_empty() {
            cluster.format()?;
        }
        Ok(cluster)
    }

    /// `StorageTool format` on every node at once, with one new cluster id.
    fn format(&self) -> Result<()> {
        let id = cluster_id();
        let formats = self
            .nodes
            .iter()
            .map(|node| {
                let mut command = self.installation.java("kafka.tools.StorageTool");
                command
                    .args(["format", "--ignore-formatted", "-t", &id, "-c"])
                    .arg(node.dir.join("server.properties"));
                for (name, password) in self.options.sasl_ssl.iter().flat_map(|s| &s.users) {
                    command
                        .arg("--add-scram")
                        .arg(format!("SCRAM-SHA-512=[name={name},password={password}]"));
                }
                command
                    .stdout(Stdio::null())
                    .stderr(Stdio::piped())
                    .spawn()
                    .context("running Kafka's StorageTool (java)")
            })
            .collect::<Result<Vec<_>>>()?;
        for format in formats {
            let out = format.wait_with_output()?;
            ensure!(
                out.status.success(),
                "formatting the Kafka storage failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(())
    }

    /// The `server.properties` of `node`.
    fn properties(&self, node: &Node) -> String {
        let voters: Vec<String> = self
            .nodes
            .iter()
            .map(|n| format!("{}@127.0.0.1:{}", n.id, n.controller_port))
            .collect();
        // Replicas of the system's topics and of Kafka's own: all nodes, at most three; with
        // three, a write needs two of them.
        let replicas = self.nodes.len().min(3);
        let min_isr = if replicas >= 3 { 2 } else { 1 };
        let mut listeners = vec![
            format!("PLAINTEXT://127.0.0.1:{}", node.port),
            format!("CONTROLLER://127.0.0.1:{}", node.controller_port),
        ];
        let mut advertised = vec![format!("PLAINTEXT://127.0.0.1:{}", node.port)];
        let mut protocols = "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT".to_owned();
        let mut secure = String::new();
        if let (Some(port), Some(sasl_ssl)) = (node.secure_port, &self.options.sasl_ssl) {
            listeners.push(format!("SECURE://127.0.0.1:{port}"));
            advertised.push(format!("SECURE://127.0.0.1:{port}"));
            protocols.push_str(",SECURE:SASL_SSL");
            secure = format!(
                "sasl.enabled.mechanisms=SCRAM-SHA-512\n\
                 listener.name.secure.scram-sha-512.sasl.jaas.config=\
                 org.apache.kafka.common.security.scram.ScramLoginModule required;\n\
                 listener.name.secure.ssl.keystore.type=PEM\n\
                 listener.name.secure.ssl.keystore.location={}\n",
                sasl_ssl.keystore_pem.display()
            );
        }
        format!(
            "# Written by test-support's kafka module; rewritten at every start.\n\
             process.roles=broker,controller\n\
             node.id={id}\n\
             controller.quorum.voters={voters}\n\
             listeners={listeners}\n\
             advertised.listeners={advertised}\n\
             listener.security.protocol.map={protocols}\n\
             controller.listener.names=CONTROLLER\n\
             inter.broker.listener.name=PLAINTEXT\n\
             log.dirs={data}\n\
             num.partitions=3\n\
             default.replication.factor={replicas}\n\
             min.insync.replicas={min_isr}\n\
             offsets.topic.replication.factor={replicas}\n\
             offsets.topic.num.partitions=10\n\
             transaction.state.log.replication.factor={replicas}\n\
             transaction.state.log.min.isr={min_isr}\n\
             share.coordinator.state.topic.replication.factor={replicas}\n\
             share.coordinator.state.topic.min.isr={min_isr}\n\
             # Topics are created on purpose (the services, xtask, the tests), never by a\n\
             # typo in a consumer's subscription.\n\
             auto.create.topics.enable=false\n\
             # A group's first member is assigned at once, not after three seconds.\n\
             group.initial.rebalance.delay.ms=0\n\
             num.network.threads=2\n\
             num.io.threads=4\n\
             {secure}",
            id = node.id,
            voters = voters.join(","),
            listeners = listeners.join(","),
            advertised = advertised.join(","),
            data = node.dir.join("data").display(),
        )
    }

    /// The plaintext bootstrap list, `127.0.0.1:port,…`.
    pub fn bootstrap(&self) -> String {
        self.nodes
            .iter()
            .map(|node| format!("127.0.0.1:{}", node.port))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The SASL_SSL bootstrap list, if the cluster has that listener.
    pub fn secure_bootstrap(&self) -> Option<String> {
        let ports: Option<Vec<u16>> = self.nodes.iter().map(|node| node.secure_port).collect();
        ports.map(|ports| {
            ports
                .iter()
                .map(|port| format!("127.0.0.1:{port}"))
                .collect::<Vec<_>>()
                .join(",")
        })
    }

    /// Node ids, 1-based.
    pub fn node_ids(&self) -> Vec<usize> {
        self.nodes.iter().map(|node| node.id).collect()
    }

    /// The client port of node `id`.
    pub fn port(&self, id: usize) -> u16 {
        self.node(id).port
    }

    /// The log file of node `id`.
    pub fn log_file(&self, id: usize) -> PathBuf {
        self.node(id).dir.join("server.log")
    }

    fn node(&self, id: usize) -> &Node {
        &self.nodes[id - 1]
    }

    /// Starts node `id`'s JVM; its output goes to `server.log` in the node's folder.
    pub fn start_node(&mut self, id: usize) -> Result<u32> {
        let heap = format!("{}m", self.options.heap_mb);
        let node = &self.nodes[id - 1];
        ensure!(node.child.is_none(), "node {id} already runs");
        let mut log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(node.dir.join("server.log"))?;
        writeln!(log, "---- started by test-support's kafka module ----")?;
        let options = [
            format!("-Xms{heap}"),
            format!("-Xmx{heap}"),
            "-XX:+UseG1GC".into(),
            "-XX:MaxGCPauseMillis=20".into(),
            "-XX:+ExitOnOutOfMemoryError".into(),
        ];
        let mut command = self.installation.jvm(&options, "kafka.Kafka");
        command
            .arg(node.dir.join("server.properties"))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        if self.options.own_process_group {
            command.process_group(0);
        }
        let child = command
            .spawn()
            .context("starting the Kafka broker (java)")?;
        let pid = child.id();
        self.nodes[id - 1].child = Some(child);
        Ok(pid)
    }

    /// Starts every node that is not running and waits until all answer as brokers.
    pub fn start(&mut self, deadline: Duration) -> Result<()> {
        for id in self.node_ids() {
            if self.nodes[id - 1].child.is_none() {
                self.start_node(id)?;
            }
        }
        self.wait_ready(deadline)
    }

    /// Waits until the cluster's metadata lists every node as a broker; fails early when a
    /// node this cluster started has exited.
    pub fn wait_ready(&mut self, deadline: Duration) -> Result<()> {
        let until = Instant::now() + deadline;
        let client: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", self.bootstrap())
            .create()
            .context("creating a metadata client")?;
        loop {
            for node in &mut self.nodes {
                if let Some(child) = &mut node.child
                    && let Some(status) = child.try_wait()?
                {
                    node.child = None;
                    bail!(
                        "Kafka node {} exited ({status}) while starting; see {}",
                        node.id,
                        node.dir.join("server.log").display()
                    );
                }
            }
            let brokers = client
                .fetch_metadata(None, Duration::from_secs(2))
                .map(|metadata| metadata.brokers().len())
                .unwrap_or(0);
            // A node killed a moment ago stays listed until its broker session times out, so
            // each node this cluster started must also answer on its own port. Then the group
            // coordinator: a fresh cluster creates __consumer_offsets on the first group
            // request and answers COORDINATOR_LOAD_IN_PROGRESS meanwhile, which would
            // otherwise cost the first consumer group of a test its first seconds.
            let started_answer = self
                .nodes
                .iter()
                .filter(|node| node.child.is_some())
                .all(|node| node_answers(node.port, node.id));
            if brokers == self.nodes.len()
                && started_answer
                && coordinator_answers(&self.bootstrap())
            {
                return Ok(());
            }
            if Instant::now() > until {
                bail!(
                    "Kafka on {} did not answer with {} broker(s) within {deadline:?}; see {}",
                    self.bootstrap(),
                    self.nodes.len(),
                    self.options.dir.display()
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// `kill -9` of node `id`.
    pub fn kill(&mut self, id: usize) {
        if let Some(mut child) = self.nodes[id - 1].child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops node `id` with SIGTERM (a controlled shutdown), SIGKILL after `grace`.
    pub fn stop(&mut self, id: usize, grace: Duration) {
        if let Some(mut child) = self.nodes[id - 1].child.take() {
            terminate(child.id(), grace);
            let _ = child.wait();
        }
    }

    /// Lets the nodes this cluster started go on after it is dropped; their pids.
    pub fn detach(mut self) -> Vec<u32> {
        self.nodes
            .iter_mut()
            .filter_map(|node| node.child.take().map(|child| child.id()))
            .collect()
    }

    /// Runs one of Kafka's command-line tools (a class such as
    /// `org.apache.kafka.tools.TopicCommand`) against this cluster; its standard output.
    pub fn tool(&self, class: &str, args: &[&str]) -> Result<String> {
        let out = self
            .installation
            .java(class)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("running {class}"))?;
        ensure!(
            out.status.success(),
            "{class} {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// The node that is the active controller now (asked with Kafka's metadata-quorum tool).
    pub fn active_controller(&self) -> Result<usize> {
        let status = self.tool(
            "org.apache.kafka.tools.MetadataQuorumCommand",
            &[
                "--bootstrap-server",
                &self.bootstrap(),
                "describe",
                "--status",
            ],
        )?;
        status
            .lines()
            .find_map(|line| line.trim().strip_prefix("LeaderId:"))
            .and_then(|id| id.trim().parse().ok())
            .with_context(|| format!("no LeaderId in the quorum status:\n{status}"))
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for id in self.node_ids() {
            self.kill(id);
        }
    }
}

/// Whether node `id` answers a metadata request on its own `port`, as itself.
fn node_answers(port: u16, id: usize) -> bool {
    let client: Result<BaseConsumer, _> = ClientConfig::new()
        .set("bootstrap.servers", format!("127.0.0.1:{port}"))
        .create();
    client.is_ok_and(|client| {
        client
            .fetch_metadata(None, Duration::from_secs(1))
            .is_ok_and(|metadata| metadata.orig_broker_id() == id as i32)
    })
}

/// Whether a consumer group's coordinator answers an offset fetch (of a topic that need not
/// exist) within a few seconds.
fn coordinator_answers(bootstrap: &str) -> bool {
    let client: Result<BaseConsumer, _> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "test-support-warm-up")
        .set("enable.auto.commit", "false")
        .create();
    let Ok(client) = client else {
        return false;
    };
    let mut partitions = rdkafka::TopicPartitionList::new();
    partitions.add_partition("test-support-warm-up", 0);
    client
        .committed_offsets(partitions, Duration::from_secs(5))
        .is_ok()
}

/// Whether `pid` is a running process (a zombie counts as gone).
pub fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit_once(") ")
            .and_then(|(_, rest)| rest.chars().next())
            .is_some_and(|state| state != 'Z' && state != 'X')
    })
}

/// Whether `pid` runs a Kafka broker (`kafka.Kafka`): a pid file may outlive its process.
pub fn is_broker(pid: u32) -> bool {
    std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|cmdline| {
        cmdline
            .split(|byte| *byte == 0)
            .any(|arg| arg == b"kafka.Kafka")
    })
}

/// Sends signal `name` (`-TERM`, `-KILL`, `-STOP`, `-CONT`) to `pid`; a process that is
/// gone already is no error.
pub fn signal(name: &str, pid: u32) {
    let _ = Command::new("kill")
        .args([name, &pid.to_string()])
        .stderr(Stdio::null())
        .status();
}

/// SIGTERM to `pid`, then SIGKILL if it is still there after `grace`.
pub fn terminate(pid: u32, grace: Duration) {
    terminate_all(&[pid], grace);
}

/// SIGTERM to every one of `pids` at once, then SIGKILL to those still there after `grace`:
/// brokers of one cluster stop together, or the last one waits for a quorum that is gone.
pub fn terminate_all(pids: &[u32], grace: Duration) {
    let running: Vec<u32> = pids.iter().copied().filter(|pid| alive(*pid)).collect();
    for pid in &running {
        signal("-TERM", *pid);
    }
    let until = Instant::now() + grace;
    while running.iter().any(|pid| alive(*pid)) && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(100));
    }
    for pid in running.into_iter().filter(|pid| alive(*pid)) {
        signal("-KILL", pid);
    }
}

/// Kafka's command-line tools as the names its own `bin/` scripts have, each a class of the
/// installed classpath.
pub const TOOLS: &[(&str, &str)] = &[
    ("kafka-topics", "org.apache.kafka.tools.TopicCommand"),
    (
        "kafka-console-consumer",
        "org.apache.kafka.tools.consumer.ConsoleConsumer",
    ),
    (
        "kafka-console-producer",
        "org.apache.kafka.tools.ConsoleProducer",
    ),
    (
        "kafka-consumer-groups",
        "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand",
    ),
    ("kafka-get-offsets", "org.apache.kafka.tools.GetOffsetShell"),
    (
        "kafka-metadata-quorum",
        "org.apache.kafka.tools.MetadataQuorumCommand",
    ),
];

/// The tools log warnings only, to standard error, as Kafka's scripts set them up.
const TOOLS_LOG4J2_PROPERTIES: &str = "\
status = warn
appender.err.type = Console
appender.err.name = err
appender.err.target = SYSTEM_ERR
appender.err.layout.type = PatternLayout
appender.err.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.err.ref = err
";

/// Writes a runnable wrapper of each of [`TOOLS`] into `bin`, so `bin/kafka-topics
/// --bootstrap-server 127.0.0.1:9092 --list` works as Kafka's own script does.
pub fn write_tools(installation: &Installation, bin: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::create_dir_all(bin).with_context(|| format!("creating {}", bin.display()))?;
    let log4j = installation.home.join("tools-log4j2.properties");
    std::fs::write(&log4j, TOOLS_LOG4J2_PROPERTIES)?;
    for (name, class) in TOOLS {
        let script = format!(
            "#!/bin/sh\n\
             # Apache Kafka {KAFKA_VERSION}'s {name}, on the jars `cargo xtask up` installed.\n\
             exec java -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
             -Dlog4j2.configurationFile='{log4j}' -cp '{libs}/*' {class} \"$@\"\n",
            log4j = shell_quoted(&log4j.display().to_string()),
            libs = shell_quoted(&installation.home.join("libs").display().to_string()),
        );
        let path = bin.join(name);
        std::fs::write(&path, script).with_context(|| format!("writing {}", path.display()))?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))?;
    }
    Ok(())
}

/// `text` for the inside of a single-quoted shell word.
fn shell_quoted(text: &str) -> String {
    text.replace('\'', "'\\''")
}

#[cfg(test)]
mod tests {
    /// A leading `-` made the storage tool read the id as an option; about one id in 64
    /// would start with it.
    #[test]
    fn cluster_ids_are_base64url_uuids_that_never_start_with_a_dash() {
        for _ in 0..5_000 {
            let id = super::cluster_id();
            assert_eq!(id.len(), 22, "{id}");
            assert!(!id.starts_with('-'), "{id}");
        }
    }
}
