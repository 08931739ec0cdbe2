//! The infrastructure of the stack: Postgres and Tansu, installed and started when missing.

use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// Postgres role the services and tests log in as.
pub const PG_USER: &str = "cqrs";
pub const PG_PASSWORD: &str = "cqrs";
pub const KAFKA_PORT: u16 = 9092;
const TANSU_VERSION: &str = "0.6.0";

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

/// Installs Postgres if missing, starts a cluster, and makes sure the role and databases exist.
/// Whether this process runs as root (installing packages and administering the cluster
/// need it).
fn is_root() -> bool {
    output(Command::new("id").arg("-u")).is_ok_and(|uid| uid.trim() == "0")
}

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

/// Where `tansu` is, installing it with cargo if it is missing.
pub fn ensure_tansu_installed() -> Result<PathBuf> {
    let cargo_bin = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cargo")))
        .context("neither CARGO_HOME nor HOME is set")?
        .join("bin/tansu");
    let installed = |path: &Path| {
        Command::new(path)
            .arg("--version")
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains(TANSU_VERSION))
    };
    if installed(Path::new("tansu")) {
        return Ok(PathBuf::from("tansu"));
    }
    if installed(&cargo_bin) {
        return Ok(cargo_bin);
    }
    step(&format!(
        "installing the Tansu broker {TANSU_VERSION} (cargo install; about 12 minutes on 2 cores, once per machine)"
    ));
    // Its own target dir: the workspace's would be locked by this very cargo invocation.
    run(Command::new("cargo")
        .args([
            "install",
            "tansu",
            "--version",
            TANSU_VERSION,
            "--locked",
            "--features",
            "libsql",
        ])
        .env_remove("CARGO_TARGET_DIR"))?;
    Ok(cargo_bin)
}

/// A Tansu broker of the stack.
pub struct Broker {
    pub brokers: String,
    /// Pid if this run started it.
    pub started: Option<u32>,
}

/// Starts Tansu on the stack's port unless something already listens there.
pub fn ensure_tansu() -> Result<Broker> {
    let brokers = format!("127.0.0.1:{KAFKA_PORT}");
    if port_open(KAFKA_PORT) {
        return Ok(Broker {
            brokers,
            started: None,
        });
    }
    let tansu = ensure_tansu_installed()?;
    let dir = state_dir()?;
    let log = std::fs::File::create(dir.join("tansu.log"))?;
    step(&format!(
        "starting Tansu on {brokers} (data in .stack/tansu.db)"
    ));
    let child = test_support::tansu_broker(&tansu, KAFKA_PORT, "sqlite://.stack/tansu.db")
        .current_dir(root())
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .process_group(0)
        .spawn()
        .context("starting tansu")?;
    std::fs::write(dir.join("tansu.pid"), child.id().to_string())?;
    wait_until("Tansu", Duration::from_secs(30), || port_open(KAFKA_PORT))?;
    Ok(Broker {
        brokers,
        started: Some(child.id()),
    })
}

/// Creates the system's topics that are missing.
pub fn ensure_topics(brokers: &str) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let admin = service_kit::kafka::admin(brokers)?;
        for (topic, partitions) in TOPICS {
            service_kit::kafka::ensure_topic(&admin, topic, *partitions)
                .await
                .with_context(|| format!("creating topic {topic}"))?;
        }
        anyhow::Ok(())
    })
}

/// Whether `pid` is a running process (a zombie waiting to be reaped counts as gone).
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        // The state follows the parenthesised command name: `pid (comm) S ...`.
        stat.rsplit_once(") ")
            .and_then(|(_, rest)| rest.chars().next())
            .is_some_and(|state| state != 'Z' && state != 'X')
    })
}

/// Sends SIGTERM to `pid`, then SIGKILL if it has not exited after `grace`.
pub fn stop_process(pid: u32, grace: Duration) {
    if !alive(pid) {
        return;
    }
    let _ = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    if wait_until("exit", grace, || !alive(pid)).is_err() {
        let _ = Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status();
    }
}

/// `cargo xtask test`: prepares Postgres and Tansu, runs every test, stops what it started.
pub fn test(args: &[String]) -> Result<()> {
    step("checking formatting and lints");
    run(Command::new("cargo")
        .args(["fmt", "--all", "--", "--check"])
        .current_dir(root()))?;
    run(Command::new("cargo")
        .args([
            "clippy",
            "--workspace",
            "--all-targets",
            "--quiet",
            "--",
            "-D",
            "warnings",
        ])
        .current_dir(root()))?;
    // The validators of deploy/ first: nothing is running yet if installing them fails.
    crate::tools::ensure_promtool()?;
    let kubernetes_validate = crate::tools::ensure_kubernetes_validate()?;
    let postgres = ensure_postgres()?;
    drop_test_databases(postgres.port)?;
    let broker = ensure_tansu()?;
    let nextest = Command::new("cargo")
        .args(["nextest", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    let mut command = Command::new("cargo");
    if nextest {
        command.args(["nextest", "run", "--workspace", "--no-fail-fast"]);
    } else {
        step("cargo-nextest not found; using cargo test");
        command.args(["test", "--workspace", "--no-fail-fast"]);
    }
    command
        .args(args)
        .current_dir(root())
        .env("TEST_PG_HOST", "127.0.0.1")
        .env("TEST_PG_PORT", postgres.port.to_string())
        .env("TEST_PG_USER", PG_USER)
        .env("TEST_PG_PASSWORD", PG_PASSWORD)
        .env("TEST_KAFKA_BROKERS", &broker.brokers)
        .env("TEST_TANSU_BIN", ensure_tansu_installed()?)
        .env("KUBERNETES_VALIDATE", kubernetes_validate);
    step("running the test suite");
    let result = run(&mut command);
    if let Some(pid) = broker.started {
        stop_process(pid, Duration::from_secs(10));
        std::fs::remove_file(state_dir()?.join("tansu.pid"))?;
    }
    if let Some(cluster) = postgres.started {
        stop_postgres(&cluster)?;
    }
    result
}
