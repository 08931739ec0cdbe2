//! Fault campaigns, Jepsen's way: the whole system on a three-broker Kafka cluster, with two
//! replicas of every service, under a mixed workload from concurrent clients that record
//! every request and answer as a history, while faults land on a seeded schedule (kill -9,
//! SIGSTOP, an immediate Postgres restart, a broker or a partition leader killed, a consumer
//! group rebalance, the saga's downstream made slow). Then the system heals and quiesces, and
//! a checker that shares no code with what it checks reads the event stores, the topics and
//! the read models and reports every violation of the invariants.
//!
//! - [`topology`]: the processes and the cluster, and how to break and mend them;
//! - [`workload`]: the clients and the history they write;
//! - [`faults`]: the schedule and the faults;
//! - [`checker`]: the invariants, checked against the history and the stored state;
//! - [`report`]: text, JSON and an SVG timeline.

pub mod checker;
pub mod faults;
pub mod report;
pub mod topology;
pub mod workload;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio::sync::Mutex;

pub use faults::FaultKind;

/// What a campaign does.
#[derive(Debug, Clone)]
pub struct Config {
    /// How long the workload runs under faults (healing and checking come after).
    pub duration: Duration,
    /// Seeds the fault schedule and every client's choices: the same seed, the same plan.
    pub seed: u64,
    /// The kinds of fault to inject; every kind comes up in turn, in a seeded order.
    pub faults: Vec<FaultKind>,
    /// Mean time between the starts of two faults.
    pub fault_every: Duration,
    /// Concurrent clients.
    pub clients: usize,
    /// Kafka nodes: 3 (replication factor 3, two in sync to acknowledge) or 1.
    pub brokers: usize,
    /// How long the system may take to quiesce once healed before the check counts what is
    /// still unsettled as violations.
    pub quiesce: Duration,
    /// Where the report (`chaos-report.{txt,json,svg}`) and the history
    /// (`chaos-history.jsonl`) go; `None` writes none.
    pub report_dir: Option<PathBuf>,
    /// Test-only failpoints set in every service process (`ORDERS_COMMAND__RELAY__FAILPOINT`
    /// = `drop-every-20`, …): deliberately broken code, to show that the checker catches it.
    /// Empty in a real campaign.
    pub failpoints: Vec<(String, String)>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            duration: Duration::from_secs(120),
            seed: 1,
            faults: FaultKind::ALL.to_vec(),
            fault_every: Duration::from_secs(8),
            clients: 4,
            brokers: 3,
            quiesce: Duration::from_secs(180),
            report_dir: None,
            failpoints: Vec::new(),
        }
    }
}

/// A finished campaign, its system still running: for looking further (the checker's own
/// tests break it on purpose and check again).
pub struct Run {
    pub report: report::Report,
    pub history: Vec<workload::Op>,
    pub stores: topology::Stores,
    pub kafka: topology::KafkaView,
    /// Stops everything when dropped.
    pub topology: Arc<Mutex<topology::Topology>>,
}

/// Runs a campaign: starts everything, runs the workload under faults, heals, quiesces and
/// checks. The report passes when the system kept every invariant and settled.
pub async fn campaign(config: &Config, progress: impl Fn(&str)) -> anyhow::Result<report::Report> {
    Ok(run(config, progress).await?.report)
}

/// [`campaign`], answering the running system with the report.
pub async fn run(config: &Config, progress: impl Fn(&str)) -> anyhow::Result<Run> {
    progress(&format!(
        "starting {} Kafka node(s), fresh databases and topics, two replicas of each service",
        config.brokers
    ));
    let topology = topology::Topology::start(config.brokers, &config.failpoints).await?;
    let started = Instant::now();
    let clock = workload::Clock::new(started);
    let targets = topology.targets();
    let stores = topology.stores();
    let kafka = topology.kafka();
    let topology = Arc::new(Mutex::new(topology));

    progress(&format!(
        "running the workload for {:?} with {} clients, a fault every ~{:?} (seed {})",
        config.duration, config.clients, config.fault_every, config.seed
    ));
    let (stop_clients, stop_monitor) = (workload::Stop::default(), workload::Stop::default());
    let monitor = tokio::spawn(report::monitor(stores.clone(), clock, stop_monitor.clone()));
    let known = workload::Shared::default();
    let clients: Vec<_> = (0..config.clients)
        .map(|client| {
            tokio::spawn(workload::client(
                client,
                config.seed,
                targets.clone(),
                known.clone(),
                clock,
                stop_clients.clone(),
            ))
        })
        .collect();
    let supervisor = tokio::spawn(faults::supervise(
        topology.clone(),
        clock,
        started + config.duration,
    ));
    let faults = faults::run(config, topology.clone(), clock, started + config.duration).await;
    let restarts = supervisor.await.context("the supervisor failed")?;
    stop_clients.notify();
    let mut history = Vec::new();
    for client in clients {
        history.extend(client.await.context("a client failed")?);
    }
    history.sort_by_key(|op| op.started_ms);

    progress("healing: every process and broker back, nothing paused");
    topology.lock().await.heal().await?;
    let healed_ms = clock.now_ms();
    progress(&format!("quiescing (at most {:?})", config.quiesce));
    let quiet = topology.lock().await.quiesce(config.quiesce).await;
    stop_monitor.notify();
    let samples = monitor.await.context("the monitor failed")?;

    progress("checking the history, the event stores, the topics and the read models");
    let checked = checker::check(&stores, &kafka, &history).await?;
    let mut report = report::Report::new(
        config, &history, &faults, &samples, checked, quiet, healed_ms,
    );
    report.supervisor_restarts = restarts;
    if let Some(dir) = &config.report_dir {
        report.write(dir)?;
        report::write_history(dir, &history)?;
    }
    Ok(Run {
        report,
        history,
        stores,
        kafka,
        topology,
    })
}

/// How long a process or broker may take to come back before a campaign gives up on it.
pub const RECOVERY: Duration = Duration::from_secs(120);
