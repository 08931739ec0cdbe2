//! The faults and their schedule. Every parameter of a fault (its kind, target and how long
//! it holds) is drawn from the campaign's seed when it is planned, and every kind comes up in
//! turn (a shuffled deck, dealt again when empty), so a seed names one plan. A fault that
//! outlasts the gap to the next overlaps it: the system meets several at once.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;

use crate::topology::{Topology, ready_within};
use crate::workload::Clock;
use crate::{Config, RECOVERY};

/// A kind of fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum FaultKind {
    /// `kill -9` of any service replica, started again after a while.
    Kill,
    /// SIGSTOP of any service replica, SIGCONT after a while.
    Pause,
    /// Postgres restarted in immediate mode (every connection cut).
    PostgresRestart,
    /// `kill -9` of a Kafka node, started again after a while.
    BrokerKill,
    /// `kill -9` of the node leading a partition of a system topic.
    LeaderKill,
    /// One more member joins a projector's consumer group, then leaves it.
    Rebalance,
    /// The saga's downstream (users-command's first replica) stops answering for longer
    /// than the saga's call timeout.
    SlowDownstream,
}

impl FaultKind {
    pub const ALL: [Self; 7] = [
        Self::Kill,
        Self::Pause,
        Self::PostgresRestart,
        Self::BrokerKill,
        Self::LeaderKill,
        Self::Rebalance,
        Self::SlowDownstream,
    ];
}

/// A fault as it happened.
#[derive(Debug, Clone, Serialize)]
pub struct Fault {
    pub kind: FaultKind,
    pub target: String,
    pub started_ms: u64,
    /// When the fault was lifted (the process started again, continued, the broker back).
    pub lifted_ms: u64,
    /// When what it broke answered again (ready), if it did within the recovery limit.
    pub recovered_ms: Option<u64>,
}

/// A fault as planned from the seed.
#[derive(Debug, Clone, Copy)]
struct Plan {
    kind: FaultKind,
    /// Which process, node, topic or group (taken modulo how many there are).
    pick: usize,
    hold: Duration,
}

/// Restarts, every two seconds until `until`, any process that exited by itself (a service
/// that could not start while Postgres restarted, say); answers what it restarted and when.
pub async fn supervise(
    topology: Arc<Mutex<Topology>>,
    clock: Clock,
    until: Instant,
) -> Vec<(u64, String)> {
    let mut restarts = Vec::new();
    while Instant::now() < until {
        tokio::time::sleep(Duration::from_secs(2)).await;
        for name in topology.lock().await.supervise().await {
            restarts.push((clock.now_ms(), name));
        }
    }
    restarts
}

/// Injects faults from `config`'s seed until `until`; answers them once all are lifted.
pub async fn run(
    config: &Config,
    topology: Arc<Mutex<Topology>>,
    clock: Clock,
    until: Instant,
) -> Vec<Fault> {
    let mut rng = StdRng::seed_from_u64(config.seed);
    let mut deck: Vec<FaultKind> = Vec::new();
    let mut running = Vec::new();
    loop {
        let gap = config.fault_every.mul_f64(rng.random_range(0.5..1.5));
        if config.faults.is_empty() || Instant::now() + gap >= until {
            break;
        }
        tokio::time::sleep(gap).await;
        if deck.is_empty() {
            deck = config.faults.clone();
            deck.shuffle(&mut rng);
        }
        let kind = deck.pop().expect("a dealt deck");
        let hold = match kind {
            FaultKind::BrokerKill | FaultKind::LeaderKill => rng.random_range(3_000..8_000),
            _ => rng.random_range(1_000..6_000),
        };
        let plan = Plan {
            kind,
            pick: rng.random_range(0..1_000),
            hold: Duration::from_millis(hold),
        };
        running.push(tokio::spawn(inject(plan, topology.clone(), clock)));
    }
    tokio::time::sleep(until.saturating_duration_since(Instant::now())).await;
    let mut faults = Vec::new();
    for fault in running {
        if let Ok(fault) = fault.await {
            faults.push(fault);
        }
    }
    faults.sort_by_key(|fault| fault.started_ms);
    faults
}

/// Applies `plan`, holds it, lifts it and waits for what it broke to answer again.
async fn inject(plan: Plan, topology: Arc<Mutex<Topology>>, clock: Clock) -> Fault {
    let mut started_ms = clock.now_ms();
    let Plan { kind, pick, hold } = plan;
    let (target, recovered_at) = match kind {
        FaultKind::Kill => {
            let (name, index) = pick_process(&topology, pick).await;
            topology.lock().await.kill(index).await;
            tokio::time::sleep(hold).await;
            let address = topology.lock().await.respawn(index).await;
            (name, Some(address))
        }
        FaultKind::Pause | FaultKind::SlowDownstream => {
            let (name, index) = if kind == FaultKind::Pause {
                pick_process(&topology, pick).await
            } else {
                ("users-command#1".to_owned(), 0)
            };
            topology.lock().await.signal(index, "-STOP");
            tokio::time::sleep(hold).await;
            topology.lock().await.signal(index, "-CONT");
            (name, None)
        }
        FaultKind::PostgresRestart => {
            let cluster = topology.lock().await.postgres();
            let restarted =
                tokio::task::spawn_blocking(move || crate::topology::restart_postgres(&cluster))
                    .await;
            let target = match restarted {
                Ok(Ok(())) => "postgres".to_owned(),
                Ok(Err(error)) => format!("postgres (restart failed: {error})"),
                Err(error) => format!("postgres (restart failed: {error})"),
            };
            (target, None)
        }
        FaultKind::BrokerKill | FaultKind::LeaderKill => {
            let (nodes, view) = {
                let topology = topology.lock().await;
                (topology.broker_nodes(), topology.kafka())
            };
            let any = nodes[pick % nodes.len()];
            let node = if kind == FaultKind::LeaderKill {
                let topic = if pick % 2 == 0 {
                    view.users_topic
                } else {
                    view.orders_topic
                };
                // A metadata request blocks (for seconds while nodes are down).
                tokio::task::spawn_blocking(move || {
                    crate::topology::leader_of(&view.brokers, &topic)
                })
                .await
                .ok()
                .flatten()
                .unwrap_or(any)
            } else {
                any
            };
            // Neither the kill nor the restart holds the topology: a restart waits for every
            // node, and the cluster's own lock may be held by an overlapping restart.
            let broker = topology.lock().await.broker();
            let killer = broker.clone();
            let _ = tokio::task::spawn_blocking(move || killer.kill_node(node)).await;
            // The kill waits for an overlapping restart to finish: the fault starts now.
            started_ms = clock.now_ms();
            tokio::time::sleep(hold).await;
            broker.restart().await;
            (format!("kafka node {node}"), None)
        }
        FaultKind::Rebalance => {
            let service = ["users-query", "orders-query", "saga-orchestrator"][pick % 3];
            let visitor = topology.lock().await.visitor(service);
            ready_within(&visitor.address, Duration::from_secs(30)).await;
            tokio::time::sleep(hold).await;
            crate::topology::dismiss(visitor).await;
            (format!("{service} group"), None)
        }
    };
    let lifted_ms = clock.now_ms();
    let recovered_ms = match recovered_at {
        Some(address) => ready_within(&address, RECOVERY)
            .await
            .then(|| clock.now_ms()),
        None => Some(lifted_ms),
    };
    Fault {
        kind,
        target,
        started_ms,
        lifted_ms,
        recovered_ms,
    }
}

/// Process `pick` (modulo their number), with its name.
async fn pick_process(topology: &Arc<Mutex<Topology>>, pick: usize) -> (String, usize) {
    let names = topology.lock().await.names();
    let index = pick % names.len();
    (names[index].clone(), index)
}
