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
    /// It consumes a topic with the projector runtime.
    consumes: bool,
}

/// The projectors' fetch wait on the stack's broker, unless the environment sets one. Tansu
/// 0.6 holds every fetch for the whole wait, records or not (tansu-storage's fetch service
/// sleeps the remaining wait unconditionally), so each Kafka hop costs up to two waits: 10 ms
/// instead of the services' 100 ms default (sized for Apache Kafka, which answers as soon as
/// a record is there) takes B3's commit → visible p99 from 210 to 26 ms and B4's from 439 to
/// 75 ms, for about 0.45 of a core that the idle broker burns (docs/benchmarks.md).
const TANSU_FETCH_WAIT_MS: &str = "10";

/// Every service built so far, in start order.
const SERVICES: &[Service] = &[
    Service {
        name: "users-command",
        env_prefix: "USERS_COMMAND",
        port: 5001,
        databases: &[("DATABASE", "users_es")],
        consumes: false,
    },
    Service {
        name: "users-query",
        env_prefix: "USERS_QUERY",
        port: 5011,
        databases: &[("DATABASE", "users_read"), ("EVENT_STORE", "users_es")],
        consumes: true,
    },
    Service {
        name: "orders-command",
        env_prefix: "ORDERS_COMMAND",
        port: 5002,
        databases: &[("DATABASE", "orders_es")],
        consumes: false,
    },
    Service {
        name: "orders-query",
        env_prefix: "ORDERS_QUERY",
        port: 5012,
        databases: &[("DATABASE", "orders_read"), ("EVENT_STORE", "orders_es")],
        consumes: true,
    },
    // Last: it calls users-command and orders-command (at their default addresses, the ones
    // above).
    Service {
        name: "saga-orchestrator",
        env_prefix: "SAGA_ORCHESTRATOR",
        port: 5020,
        databases: &[("DATABASE", "saga"), ("EVENT_STORE", "orders_es")],
        consumes: true,
    },
];

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

pub fn up(detach: bool, release: bool, fresh: bool) -> Result<()> {
    if fresh {
        let running: Vec<String> = SERVICES
            .iter()
            .map(|service| (service.name, service.port))
            .chain([("the broker", stack::KAFKA_PORT)])
            .filter(|(_, port)| stack::port_open(*port))
            .map(|(name, port)| format!("{name} on {port}"))
            .collect();
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
            "starting fresh: recreating {} and deleting .stack/tansu.db",
            stack::DATABASES.join(", ")
        ));
        stack::recreate_databases(postgres.port)?;
        for file in ["tansu.db", "tansu.db-wal", "tansu.db-shm"] {
            match std::fs::remove_file(dir.join(file)) {
                Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
                    return Err(error).with_context(|| format!("deleting .stack/{file}"));
                }
                _ => {}
            }
        }
    }
    if let Some(cluster) = &postgres.started {
        std::fs::write(dir.join("postgres.started"), cluster)?;
    }
    let broker = stack::ensure_tansu()?;
    step("creating topics");
    stack::ensure_topics(&broker.brokers)?;
    let key = crate::auth::ensure_keys()?;
    crate::auth::write_saga_token(&key)?;
    let (jwks, saga_token) = (crate::auth::jwks_file()?, crate::auth::saga_token_file()?);
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
        let fetch_wait = format!("{prefix}__PROJECTOR__FETCH_WAIT_MS");
        if service.consumes && std::env::var_os(&fetch_wait).is_none() {
            command.env(fetch_wait, TANSU_FETCH_WAIT_MS);
        }
        if service.name == "saga-orchestrator" {
            command.env(format!("{prefix}__SAGA__TOKEN_FILE"), &saga_token);
        }
        let child = command
            .env(format!("{prefix}__AUTH__JWKS_FILE"), &jwks)
            .env(format!("{prefix}__HTTP__PORT"), service.port.to_string())
            .env(format!("{prefix}__KAFKA__BROKERS"), &broker.brokers)
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
        "  kafka      {}  (Tansu)  topics {}",
        broker.brokers,
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
    println!("  logs and data in .stack/");
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
    for name in SERVICES.iter().rev().map(|s| s.name).chain(["tansu"]) {
        if let Some(pid) = read_pid(name)? {
            step(&format!("stopping {name} (pid {pid})"));
            stack::stop_process(pid, Duration::from_secs(15));
            std::fs::remove_file(dir.join(format!("{name}.pid")))?;
        }
    }
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
    show("kafka (tansu)", stack::port_open(stack::KAFKA_PORT));
    for service in SERVICES {
        show(
            service.name,
            http_status(service.port, "/health/ready") == Some(200),
        );
    }
    Ok(())
}
