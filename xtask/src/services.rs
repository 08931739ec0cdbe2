//! The services of the stack: built, started with the stack's addresses, and stopped.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result};

use crate::stack::{self, step};

/// A service binary of the workspace and how the stack runs it.
struct Service {
    name: &'static str,
    env_prefix: &'static str,
    port: u16,
    /// (settings section, database) pairs: the service's own `database` and any other it reads.
    databases: &'static [(&'static str, &'static str)],
}

/// Every service built so far, in start order.
const SERVICES: &[Service] = &[
    Service {
        name: "users-command",
        env_prefix: "USERS_COMMAND",
        port: 5001,
        databases: &[("DATABASE", "users_es")],
    },
    Service {
        name: "users-query",
        env_prefix: "USERS_QUERY",
        port: 5011,
        databases: &[("DATABASE", "users_read"), ("EVENT_STORE", "users_es")],
    },
    Service {
        name: "orders-command",
        env_prefix: "ORDERS_COMMAND",
        port: 5002,
        databases: &[("DATABASE", "orders_es")],
    },
    Service {
        name: "orders-query",
        env_prefix: "ORDERS_QUERY",
        port: 5012,
        databases: &[("DATABASE", "orders_read"), ("EVENT_STORE", "orders_es")],
    },
    // Last: it calls users-command and orders-command (at their default addresses, the ones
    // above).
    Service {
        name: "saga-orchestrator",
        env_prefix: "SAGA_ORCHESTRATOR",
        port: 5020,
        databases: &[("DATABASE", "saga"), ("EVENT_STORE", "orders_es")],
    },
    // The console's gateway: it calls every service (at their default addresses).
    Service {
        name: "gateway",
        env_prefix: "GATEWAY",
        port: 5173,
        databases: &[],
    },
];

/// What of the stack listens now (from any checkout): "users-command on 5001", "Kafka on 9092".
pub fn running() -> Vec<String> {
    SERVICES
        .iter()
        .map(|service| (service.name, service.port))
        .chain((0..3).map(|n| ("Kafka", stack::KAFKA_PORT + 2 * n)))
        .filter(|(_, port)| stack::port_open(*port))
        .map(|(name, port)| format!("{name} on {port}"))
        .collect()
}

/// The names of the service binaries the stack runs.
pub fn binaries() -> impl Iterator<Item = &'static str> {
    SERVICES.iter().map(|service| service.name)
}

pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| stack::root().join("target"))
}

/// Status code of `GET path` on a local port, if it answered.
fn http_status(port: u16, path: &str) -> Option<u16> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(3))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    response.split_whitespace().nth(1)?.parse().ok()
}

pub fn up(detach: bool, release: bool, fresh: bool, kafka_brokers: usize) -> Result<()> {
    if fresh {
        let running = running();
        anyhow::ensure!(
            running.is_empty(),
            "--fresh needs the stack stopped, but {} still run: stop it with `cargo xtask down` \
             (or Ctrl-C the `cargo xtask up` running it)",
            running.join(", ")
        );
    }
    let postgres = stack::ensure_postgres()?;
    let dir = stack::state_dir()?;
    if fresh {
        step(&format!(
            "starting fresh: recreating {} and deleting .stack/kafka/",
            stack::DATABASES.join(", ")
        ));
        stack::recreate_databases(postgres.port)?;
        match std::fs::remove_dir_all(dir.join("kafka")) {
            Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
                return Err(error).context("deleting .stack/kafka/");
            }
            _ => {}
        }
    }
    if let Some(cluster) = &postgres.started {
        std::fs::write(dir.join("postgres.started"), cluster)?;
    }
    let brokers = stack::ensure_kafka(kafka_brokers)?;
    step("creating topics");
    stack::ensure_topics(&brokers)?;
    let key = crate::auth::ensure_keys()?;
    crate::auth::write_saga_token(&key)?;
    let (jwks, saga_token) = (crate::auth::jwks_file()?, crate::auth::saga_token_file()?);
    crate::console::build()?;
    step("building the services");
    let mut build = Command::new("cargo");
    build.args(["build", "--quiet"]).current_dir(stack::root());
    if release {
        build.arg("--release");
    }
    for service in SERVICES {
        build.args(["--bin", service.name]);
    }
    stack::run(&mut build)?;
    for service in SERVICES {
        if stack::port_open(service.port) {
            step(&format!(
                "{} already listens on {}",
                service.name, service.port
            ));
            continue;
        }
        let log = std::fs::File::create(dir.join(format!("{}.log", service.name)))?;
        let prefix = service.env_prefix;
        step(&format!(
            "starting {} on {} (log in .stack/{}.log)",
            service.name, service.port, service.name
        ));
        let profile = if release { "release" } else { "debug" };
        let mut command = Command::new(target_dir().join(profile).join(service.name));
        for (section, database) in service.databases {
            command
                .env(
                    format!("{prefix}__{section}__PORT"),
                    postgres.port.to_string(),
                )
                .env(format!("{prefix}__{section}__DATABASE_NAME"), database);
        }
        if service.name == "saga-orchestrator" {
            command.env(format!("{prefix}__SAGA__TOKEN_FILE"), &saga_token);
        }
        if service.name == "gateway" {
            command.env(
                format!("{prefix}__CONSOLE__DIR"),
                crate::console::dir().join("dist"),
            );
        }
        let child = command
            .env(format!("{prefix}__AUTH__JWKS_FILE"), &jwks)
            .env(format!("{prefix}__HTTP__PORT"), service.port.to_string())
            .env(format!("{prefix}__KAFKA__BROKERS"), &brokers)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .process_group(0)
            .spawn()
            .with_context(|| format!("starting {}", service.name))?;
        std::fs::write(
            dir.join(format!("{}.pid", service.name)),
            child.id().to_string(),
        )?;
        stack::wait_until(service.name, Duration::from_secs(60), || {
            http_status(service.port, "/health/ready") == Some(200)
        })
        .with_context(|| format!("see .stack/{}.log", service.name))?;
    }
    println!();
    println!("The stack is up:");
    println!(
        "  postgres   127.0.0.1:{}  user {} / password {}  databases {}",
        postgres.port,
        stack::PG_USER,
        stack::PG_PASSWORD,
        stack::DATABASES.join(", ")
    );
    println!(
        "  kafka      {}  (Apache Kafka {}, {} node(s))  topics {}",
        brokers,
        test_support::kafka::KAFKA_VERSION,
        kafka_brokers,
        stack::TOPICS
            .iter()
            .map(|t| t.0)
            .collect::<Vec<_>>()
            .join(", ")
    );
    for service in SERVICES {
        println!(
            "  {:<18} http://127.0.0.1:{}  (swagger: /swagger-ui/, health: /health/ready, metrics: /metrics)",
            service.name, service.port
        );
    }
    println!(
        "  kafka tools  .stack/bin/kafka-topics, kafka-console-consumer, kafka-consumer-groups, kafka-get-offsets"
    );
    println!("  logs and data in .stack/");
    println!();
    // A link that signs the local operator in: the console moves the token out of the URL.
    let admin = crate::auth::token("local-admin", "admin", 12 * 3_600)?;
    println!("Open the console (signed in as the local admin for 12 hours):");
    println!("  http://localhost:5173/?token={admin}");
    if detach {
        println!("Stop it with `cargo xtask down`.");
        return Ok(());
    }
    println!("Press Ctrl-C to stop everything.");
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(tokio::signal::ctrl_c())?;
    println!();
    down()
}

fn read_pid(name: &str) -> Result<Option<u32>> {
    let path = stack::state_dir()?.join(format!("{name}.pid"));
    match std::fs::read_to_string(&path) {
        Ok(text) => Ok(text.trim().parse().ok()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(error.into()),
    }
}

pub fn down() -> Result<()> {
    let dir = stack::state_dir()?;
    // "tansu": the broker of stacks started before ADR 0013, stopped like a service.
    for name in SERVICES.iter().rev().map(|s| s.name).chain(["tansu"]) {
        if let Some(pid) = read_pid(name)? {
            step(&format!("stopping {name} (pid {pid})"));
            stack::stop_process(pid, Duration::from_secs(15));
            std::fs::remove_file(dir.join(format!("{name}.pid")))?;
        }
    }
    // The Kafka nodes together: stopped one by one, the last would wait for a quorum that is
    // gone. A controlled shutdown moves leaderships first, so they get time.
    let mut brokers = Vec::new();
    for name in (1..=3).map(|n| format!("kafka-{n}")) {
        if let Some(pid) = read_pid(&name)? {
            if test_support::kafka::is_broker(pid) {
                step(&format!("stopping {name} (pid {pid})"));
                brokers.push(pid);
            }
            std::fs::remove_file(dir.join(format!("{name}.pid")))?;
        }
    }
    test_support::kafka::terminate_all(&brokers, Duration::from_secs(30));
    let marker = dir.join("postgres.started");
    if let Ok(cluster) = std::fs::read_to_string(&marker) {
        stack::stop_postgres(cluster.trim())?;
        std::fs::remove_file(marker)?;
    }
    step("stopped");
    Ok(())
}

pub fn status() -> Result<()> {
    let show = |name: &str, up: bool| println!("  {name:<18} {}", if up { "up" } else { "down" });
    show("postgres", stack::port_open(5432));
    let nodes = stack::kafka_nodes_formatted()?.unwrap_or(1);
    for node in 0..nodes {
        let port = stack::KAFKA_PORT + 2 * node as u16;
        show(&format!("kafka {port}"), stack::port_open(port));
    }
    for service in SERVICES {
        show(
            service.name,
            http_status(service.port, "/health/ready") == Some(200),
        );
    }
    Ok(())
}
