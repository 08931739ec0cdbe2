//! cqrs-bench: measures every stage of the running local stack and writes docs/benchmarks.md.
//! `cargo xtask bench` builds it in release mode, gives it a token and runs it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use bench::{NAMES, Sizes, Target};
use clap::Parser;
use secrecy::SecretString;
use service_kit::settings::DatabaseSettings;

/// Benchmarks of the event-sourced CQRS system against the running stack (`cargo xtask up`):
/// B0 pgbench limit, B1 commands, B2 relay, B3 projections, B4 sagas, B5 growth. Prints each
/// table as it is done and writes them, with the machine and the date, into the report.
#[derive(Parser)]
#[command(name = "cqrs-bench", version)]
struct Cli {
    /// Benchmarks to run (b0 b1 b2 b3 b4 b5); all when none. B1 runs B0 first, and B2-B4 run
    /// B0 and B1 first, for the rates they depend on.
    #[arg(value_parser = clap::builder::PossibleValuesParser::new(NAMES))]
    only: Vec<String>,
    /// Tiny sizes and one run of each: seconds in all, for checking the harness.
    #[arg(long)]
    quick: bool,
    /// Runs of each measurement (the table holds medians); default 3, 1 with --quick.
    #[arg(long)]
    runs: Option<usize>,
    /// Seconds of each timed load; default 5, 1 with --quick.
    #[arg(long)]
    seconds: Option<u64>,
    /// Arrival rate (per second) of the B2-B4 open loops, instead of half of B1's highest
    /// rate (then B0 and B1 need not run first).
    #[arg(long)]
    rate: Option<f64>,
    /// Markdown file to update (its generated section only), with the SVG pictures of what ran
    /// written beside it; "-" to write none.
    #[arg(long, default_value = "docs/benchmarks.md")]
    report: String,
    /// Bearer tokens with the admin role, comma-separated, of different subjects (the services
    /// limit requests per subject; `cargo xtask bench` makes 64). Load client n uses token
    /// n modulo their number.
    #[arg(
        long,
        env = "BENCH_TOKENS",
        hide_env_values = true,
        value_delimiter = ',',
        required = true
    )]
    tokens: Vec<String>,
    #[arg(
        long,
        env = "BENCH_USERS_COMMAND_URL",
        default_value = "http://127.0.0.1:5001"
    )]
    users_command_url: String,
    #[arg(
        long,
        env = "BENCH_USERS_QUERY_URL",
        default_value = "http://127.0.0.1:5011"
    )]
    users_query_url: String,
    #[arg(
        long,
        env = "BENCH_ORDERS_COMMAND_URL",
        default_value = "http://127.0.0.1:5002"
    )]
    orders_command_url: String,
    #[arg(
        long,
        env = "BENCH_ORDERS_QUERY_URL",
        default_value = "http://127.0.0.1:5012"
    )]
    orders_query_url: String,
    /// Kafka bootstrap brokers [default: BENCH__KAFKA__BROKERS, else 127.0.0.1:9092]. The
    /// connection's security comes from BENCH__KAFKA__… variables, named as a service's
    /// (BENCH__KAFKA__SECURITY_PROTOCOL=sasl_ssl, BENCH__KAFKA__SASL__USERNAME,
    /// BENCH__KAFKA__SASL__PASSWORD, BENCH__KAFKA__TLS__CA_FILE).
    #[arg(long, env = "BENCH_BROKERS")]
    brokers: Option<String>,
    /// The topic users-command publishes to.
    #[arg(long, default_value = "users.events")]
    users_topic: String,
    /// Postgres server for scratch databases and pgbench (role needs CREATEDB).
    #[arg(long, env = "BENCH_PG_HOST", default_value = "127.0.0.1")]
    pg_host: String,
    #[arg(long, env = "BENCH_PG_PORT", default_value_t = 5432)]
    pg_port: u16,
    #[arg(long, env = "BENCH_PG_USER", default_value = "cqrs")]
    pg_user: String,
    #[arg(
        long,
        env = "BENCH_PG_PASSWORD",
        default_value = "cqrs",
        hide_default_value = true
    )]
    pg_password: String,
}

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    if let Err(error) = run(cli).await {
        eprintln!("cqrs-bench: {error:#}");
        std::process::exit(1);
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let mut sizes = if cli.quick {
        Sizes::quick()
    } else {
        Sizes::full()
    };
    if let Some(runs) = cli.runs {
        anyhow::ensure!(runs > 0, "--runs must be at least 1");
        sizes.runs = runs;
    }
    if let Some(rate) = cli.rate {
        anyhow::ensure!(
            rate > 0.0 && rate.is_finite(),
            "--rate must be a positive number"
        );
        sizes.rate = Some(rate);
    }
    if let Some(seconds) = cli.seconds {
        anyhow::ensure!(seconds > 0, "--seconds must be at least 1");
        sizes.seconds = seconds;
    }
    let mut clients = Vec::new();
    for token in cli
        .tokens
        .iter()
        .map(|token| token.trim())
        .filter(|t| !t.is_empty())
    {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(
            reqwest::header::AUTHORIZATION,
            format!("Bearer {token}")
                .parse()
                .context("a token is not a valid header value")?,
        );
        clients.push(
            reqwest::Client::builder()
                .default_headers(headers)
                .timeout(Duration::from_secs(60))
                .pool_idle_timeout(service_kit::http::CLIENT_POOL_IDLE)
                .build()?,
        );
    }
    anyhow::ensure!(
        !clients.is_empty(),
        "no token given (--tokens or BENCH_TOKENS)"
    );
    let target = Target {
        users_command: cli.users_command_url.trim_end_matches('/').to_owned(),
        users_query: cli.users_query_url.trim_end_matches('/').to_owned(),
        orders_command: cli.orders_command_url.trim_end_matches('/').to_owned(),
        orders_query: cli.orders_query_url.trim_end_matches('/').to_owned(),
        clients,
        server: DatabaseSettings {
            host: cli.pg_host,
            port: cli.pg_port,
            username: cli.pg_user,
            password: SecretString::from(cli.pg_password),
            ..DatabaseSettings::default()
        },
        kafka: {
            let from_env = service_kit::settings::kafka_from_env("BENCH")?;
            let kafka = service_kit::settings::KafkaSettings {
                brokers: cli.brokers.unwrap_or(from_env.brokers.clone()),
                ..from_env
            };
            kafka.validate()?;
            kafka
        },
        users_topic: cli.users_topic,
    };
    // The in-process benchmarks (B0, the drain, the rebuild, B5) need Postgres and the broker
    // only.
    let over_http = ["b1", "b2", "b2-latency", "b3", "b3-latency", "b4"];
    if cli.only.is_empty()
        || cli
            .only
            .iter()
            .any(|name| over_http.contains(&name.as_str()))
    {
        check_reachable(&target).await?;
    }
    let machine = machine(&target).await;
    eprintln!("[bench] {}", machine.replace('\n', " "));
    let sections = bench::run(&target, &sizes, &cli.only).await?;
    if cli.report != "-" {
        let path = PathBuf::from(&cli.report);
        let existing = std::fs::read_to_string(&path).unwrap_or_default();
        let machine = format!("{machine} Runs {}, {} s loads.", sizes.runs, sizes.seconds);
        std::fs::write(&path, bench::write_report(&existing, &machine, &sections))
            .with_context(|| format!("writing {}", path.display()))?;
        eprintln!("[bench] wrote {}", path.display());
        // The pictures go beside the report, under the same names each run.
        let folder = path
            .parent()
            .filter(|folder| !folder.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        for picture in bench::pictures(&sections, &machine) {
            let file = folder.join(picture.file);
            std::fs::write(&file, picture.svg)
                .with_context(|| format!("writing {}", file.display()))?;
            eprintln!("[bench] wrote {}", file.display());
        }
    }
    Ok(())
}

/// Every service must answer /health/ready (within a minute: a busy broker can hold a readiness
/// check up), or the figures would measure failures.
async fn check_reachable(target: &Target) -> anyhow::Result<()> {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    for url in [
        &target.users_command,
        &target.users_query,
        &target.orders_command,
        &target.orders_query,
    ] {
        loop {
            let ready = target
                .client(0)
                .get(format!("{url}/health/ready"))
                .timeout(Duration::from_secs(5))
                .send()
                .await
                .is_ok_and(|response| response.status().is_success());
            if ready {
                break;
            }
            anyhow::ensure!(
                std::time::Instant::now() < deadline,
                "{url} is not ready: start the stack with `cargo xtask up --release --detach`"
            );
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
    Ok(())
}

/// The machine, the date and the builds, for the report's header.
async fn machine(target: &Target) -> String {
    let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
    let cpu = read("/proc/cpuinfo")
        .lines()
        .find(|line| line.starts_with("model name"))
        .and_then(|line| line.split(':').nth(1))
        .map_or("unknown CPU".to_owned(), |model| model.trim().to_owned());
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    let memory_gib = read("/proc/meminfo")
        .lines()
        .find(|line| line.starts_with("MemTotal"))
        .and_then(|line| line.split_whitespace().nth(1))
        .and_then(|kib| kib.parse::<f64>().ok())
        .map_or(0.0, |kib| kib / 1024.0 / 1024.0);
    let kernel = read("/proc/sys/kernel/osrelease");
    let maintenance = DatabaseSettings {
        database_name: "postgres".to_owned(),
        ..target.server.clone()
    };
    let postgres: String = sqlx::query_scalar("SELECT version()")
        .fetch_one(&maintenance.pool())
        .await
        .unwrap_or_else(|_| "unknown".to_owned());
    let postgres = postgres.split(" on ").next().unwrap_or_default().to_owned();
    let profile = services_profile();
    format!(
        "Machine: {cores} cores ({cpu}), {memory_gib:.0} GiB, Linux {}; {postgres}; Apache Kafka at {}.\n\
         Date: {} UTC. Services built {profile}; this harness built {}.",
        kernel.trim(),
        target.kafka.brokers,
        chrono::Utc::now().format("%Y-%m-%d %H:%M"),
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        },
    )
}

/// Whether the running users-command is a release or a debug build (from its executable's
/// path under target/).
fn services_profile() -> &'static str {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return "unknown";
    };
    for entry in entries.flatten() {
        let comm = std::fs::read_to_string(entry.path().join("comm")).unwrap_or_default();
        if comm.trim() == "users-command" {
            let exe = std::fs::read_link(entry.path().join("exe")).unwrap_or_default();
            let exe = exe.to_string_lossy();
            return if exe.contains("/release/") {
                "release"
            } else if exe.contains("/debug/") {
                "debug"
            } else {
                "unknown"
            };
        }
    }
    "unknown"
}
