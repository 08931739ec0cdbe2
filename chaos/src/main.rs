//! `cqrs-chaos`: one fault campaign against a stack of its own; `cargo xtask chaos` builds
//! and runs it with Postgres and Kafka prepared.

use std::path::PathBuf;
use std::time::Duration;

use chaos::{Config, FaultKind};
use clap::Parser;

/// Runs the whole system on a Kafka cluster of its own with two replicas of every service,
/// drives a mixed workload from concurrent clients while faults land on a seeded schedule,
/// heals, quiesces, and checks the history, event stores, topics and read models for every
/// violation of the invariants. Exits 1 if it finds one (or the system does not settle).
///
/// Needs Postgres (TEST_PG_HOST, TEST_PG_PORT, TEST_PG_USER, TEST_PG_PASSWORD) and the
/// Kafka installation (CQRS_KAFKA_HOME), as `cargo xtask chaos` provides; it restarts that
/// Postgres cluster (immediate mode) if postgres-restart faults are on.
#[derive(Parser)]
#[command(name = "cqrs-chaos", version, about, long_about)]
struct Cli {
    /// Seconds the workload runs under faults.
    #[arg(long, default_value_t = 120)]
    duration_secs: u64,
    /// Seed of the fault schedule and of the clients' choices.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Kinds of fault, comma-separated (default: all).
    #[arg(long, value_enum, value_delimiter = ',')]
    faults: Option<Vec<FaultKind>>,
    /// Mean seconds between two faults' starts.
    #[arg(long, default_value_t = 8.0)]
    fault_every_secs: f64,
    /// Concurrent clients.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=32))]
    clients: u16,
    /// Kafka nodes: 3 (replication factor 3, two in sync) or 1.
    #[arg(long, default_value_t = 3)]
    brokers: usize,
    /// Seconds the healed system may take to quiesce.
    #[arg(long, default_value_t = 180)]
    quiesce_secs: u64,
    /// Folder for chaos-report.txt, .json and .svg, and the history (chaos-history.jsonl).
    #[arg(long, default_value = "target/chaos")]
    report_dir: PathBuf,
    /// Runs deliberately broken code, to see the checker catch it: a service's test-only
    /// failpoint as NAME=VALUE, e.g. ORDERS_COMMAND__RELAY__FAILPOINT=drop-every-20 (a relay
    /// that deletes every 20th row unpublished) or
    /// USERS_QUERY__PROJECTOR__FAILPOINT=apply-twice-every-10. Repeatable.
    #[arg(long = "failpoint", value_name = "NAME=VALUE", value_parser = failpoint)]
    failpoints: Vec<(String, String)>,
}

/// A `--failpoint` argument: a `<SERVICE>__<SECTION>__FAILPOINT` variable and its value.
fn failpoint(argument: &str) -> Result<(String, String), String> {
    let (name, value) = argument
        .split_once('=')
        .ok_or_else(|| format!("{argument:?} is not NAME=VALUE"))?;
    if !name.ends_with("__FAILPOINT") || value.is_empty() {
        return Err(format!(
            "{name:?} is not a failpoint variable (<SERVICE>__<SECTION>__FAILPOINT=<value>)"
        ));
    }
    Ok((name.to_owned(), value.to_owned()))
}

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    if !(0.5..=3_600.0).contains(&cli.fault_every_secs) {
        eprintln!("cqrs-chaos: --fault-every-secs must be between 0.5 and 3600");
        std::process::exit(2);
    }
    if cli.brokers != 1 && cli.brokers != 3 {
        eprintln!("cqrs-chaos: --brokers must be 1 or 3, not {}", cli.brokers);
        std::process::exit(2);
    }
    let config = Config {
        duration: Duration::from_secs(cli.duration_secs),
        seed: cli.seed,
        faults: cli.faults.unwrap_or_else(|| FaultKind::ALL.to_vec()),
        fault_every: Duration::from_secs_f64(cli.fault_every_secs),
        clients: usize::from(cli.clients),
        brokers: cli.brokers,
        quiesce: Duration::from_secs(cli.quiesce_secs),
        report_dir: Some(cli.report_dir.clone()),
        failpoints: cli.failpoints,
    };
    let progress = |line: &str| eprintln!("==> {line}");
    let campaign = tokio::select! {
        result = chaos::campaign(&config, progress) => result,
        signal = interrupted() => {
            // The services and Kafka nodes are this process's children; stopped here, nothing
            // would stop them.
            let killed = kill_children();
            eprintln!("cqrs-chaos: {signal}: stopped {killed} process(es) of the campaign; no report");
            std::process::exit(130);
        }
    };
    match campaign {
        Ok(report) => {
            print!("{}", report.text());
            eprintln!("==> report written to {}", cli.report_dir.display());
            if !report.passed() {
                std::process::exit(1);
            }
        }
        Err(error) => {
            eprintln!("cqrs-chaos: {error:#}");
            std::process::exit(1);
        }
    }
}

/// Waits for SIGINT or SIGTERM; answers which.
async fn interrupted() -> &'static str {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut int), Ok(mut term)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = int.recv() => "interrupted",
        _ = term.recv() => "terminated",
    }
}

/// `kill -9` of every child process (each service replica, each Kafka node); answers how
/// many there were.
fn kill_children() -> usize {
    let me = std::process::id().to_string();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    let mut killed = 0;
    for entry in entries.flatten() {
        let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        // pid (comm) state ppid …: the fields after the command's closing parenthesis.
        let parent = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1));
        if parent == Some(me.as_str()) {
            let pid = entry.file_name().to_string_lossy().into_owned();
            if std::process::Command::new("kill")
                .args(["-9", &pid])
                .status()
                .is_ok()
            {
                killed += 1;
            }
        }
    }
    killed
}
