//! Developer tooling: `cargo xtask up | down | status | topic | token | test | bench | chaos`.
//!
//! Brings up the local stack on this machine without Docker: the Debian Postgres cluster
//! (installed if missing), Apache Kafka (its jars from Maven Central if missing), the
//! databases, topics and every service.

mod auth;
mod chaos;
mod compare;
mod console;
mod services;
mod stack;
mod suite;
mod tools;
mod topic;

use clap::{Parser, Subcommand};

/// Local stack and test runner of the event-sourced CQRS system.
#[derive(Parser)]
#[command(name = "cargo xtask", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start Postgres, Apache Kafka, databases, topics, the services and the web console;
    /// print where they are and a link that signs the local admin in to the console.
    ///
    /// Builds the console first (npm ci from its lockfile, then npm run build; Node.js and npm
    /// from apt-get if missing). In the foreground it stops everything it started on Ctrl-C. Installs Postgres
    /// (apt-get) and Apache Kafka (Java and Maven from apt-get if missing, then the broker's
    /// jars from Maven Central into ~/.cache/cqrs-kafka, about a minute once) when they are
    /// missing. Kafka's own tools land in .stack/bin/.
    Up {
        /// Return once everything is healthy; stop it later with `cargo xtask down`.
        #[arg(long)]
        detach: bool,
        /// Build and run the services optimised (`cargo build --release`), as for benchmarks.
        #[arg(long)]
        release: bool,
        /// Start from nothing: drop and recreate the stack's databases and delete the broker's
        /// data first (refused while any part of the stack runs). Every event, read model and
        /// saga is lost.
        #[arg(long)]
        fresh: bool,
        /// Kafka nodes: 1, or 3 for a cluster on ports 9092, 9094 and 9096 whose topics have
        /// three replicas and need two to acknowledge a write. The data in .stack/kafka/ is
        /// of one size; changing it needs --fresh.
        #[arg(long, default_value_t = 1, value_name = "N")]
        kafka_brokers: usize,
    },
    /// Stop what `cargo xtask up --detach` started.
    Down,
    /// Say what of the stack is running.
    Status,
    /// Print a topic's records from the beginning, decoded from their protobuf envelope.
    Topic {
        /// Topic to read, e.g. users.events.
        topic: String,
        /// Print at most this many records.
        #[arg(long, default_value_t = 100)]
        max: usize,
        /// Stop once no record arrived for this many seconds.
        #[arg(long, default_value_t = 3)]
        idle_secs: u64,
        /// Bootstrap brokers.
        #[arg(long, default_value = "127.0.0.1:9092")]
        brokers: String,
    },
    /// Print a bearer token for the local stack (signed with the key in .stack/auth/).
    ///
    /// Use it as `curl -H "Authorization: Bearer $(cargo xtask token --sub … --role …)"`.
    /// A customer's --sub is their user id: they may act on that user and its orders only.
    Token {
        /// Who the token is for: a user id for a customer, any name for admin or service.
        #[arg(long)]
        sub: String,
        /// admin (everything), customer (their own user and orders) or service (credit
        /// reservations, approvals: what the saga does).
        #[arg(long)]
        role: String,
        /// Seconds the token is valid.
        #[arg(long, default_value_t = 12 * 3_600)]
        ttl_secs: u64,
    },
    /// Measure every stage against the running stack; update docs/benchmarks.md.
    ///
    /// Start the stack first with `cargo xtask up --release --detach`. Builds the harness in
    /// release mode and runs it with an admin token of the stack's key; arguments go to it,
    /// e.g. `cargo xtask bench -- b1 --runs 1` or `cargo xtask bench -- --quick --report -`
    /// (see `cargo xtask bench -- --help`). The full run takes about half an hour here.
    ///
    /// With `--compare <git-ref>` it shows whether a change pays: the reference is checked
    /// out in a git worktree and built in a target directory of its own, then each round
    /// starts each side's stack afresh (release, `up --fresh`) and runs that side's own
    /// harness with the arguments, the reference first in odd rounds and second in even
    /// ones; it prints every cell as reference → working tree with their ratio. Each start drops
    /// the stack's databases, so it refuses while a stack runs. Give B2-B4 a fixed `--rate`, e.g.
    /// `cargo xtask bench --compare main -- b1 b2 --rate 300 --runs 1`.
    Bench {
        /// A commit, branch or tag to compare the working tree with.
        #[arg(long, value_name = "GIT_REF")]
        compare: Option<String>,
        /// Rounds of a comparison; each measures both sides once.
        #[arg(long, default_value_t = 2, requires = "compare")]
        rounds: usize,
        /// Arguments for cqrs-bench.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Run a fault campaign and check it: the whole system on a Kafka cluster of its own with
    /// two replicas of every service, a mixed workload from concurrent clients, faults on a
    /// seeded schedule (kill -9, SIGSTOP, Postgres restarted in immediate mode, a broker or
    /// partition leader killed, a group rebalance, the saga's downstream made slow), then
    /// healing, quiescence, and a checker reading the event stores, topics and read models.
    ///
    /// Arguments go to cqrs-chaos, e.g. `cargo xtask chaos -- --duration-secs 1800 --seed 7`
    /// (see `cargo xtask chaos -- --help`). The report (text, JSON, SVG timeline) goes to
    /// target/chaos/. Exits non-zero on any violation. Do not run it beside `cargo xtask
    /// test`: both use test databases, and the campaign restarts Postgres.
    Chaos {
        /// Arguments for cqrs-chaos.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Prepare whatever is missing (Postgres, Java, Apache Kafka, cargo-nextest, promtool,
    /// kubernetes-validate, Node.js, the console's npm packages, Chromium), then run the whole
    /// test suite: the console's build and unit tests, then every Rust test, the browser tests
    /// of the console among them.
    ///
    /// The suite gets a Kafka node of its own on free ports (data in .stack/test-kafka/,
    /// deleted at the end), so the stack's topics stay the system's.
    ///
    /// Extra arguments go to `cargo nextest run`, e.g. `cargo xtask test -- relay`; one
    /// crate's tests while you work on it: `cargo xtask test --no-lints -- -p projector`.
    Test {
        /// Skip `cargo fmt --check` and clippy (they run over the whole workspace); CI never
        /// skips them.
        #[arg(long)]
        no_lints: bool,
        /// Arguments for the test runner.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Up {
            detach,
            release,
            fresh,
            kafka_brokers,
        } => services::up(detach, release, fresh, kafka_brokers),
        Command::Down => services::down(),
        Command::Status => services::status(),
        Command::Topic {
            topic,
            max,
            idle_secs,
            brokers,
        } => topic::print(
            &brokers,
            &topic,
            max,
            std::time::Duration::from_secs(idle_secs),
        ),
        Command::Token {
            sub,
            role,
            ttl_secs,
        } => auth::print_token(&sub, &role, ttl_secs),
        Command::Test { no_lints, args } => suite::test(!no_lints, &args),
        Command::Bench {
            compare: Some(reference),
            rounds,
            args,
        } => compare::compare(&reference, rounds, &args),
        Command::Bench { args, .. } => bench(&args),
        Command::Chaos { args } => chaos::chaos(&args),
    };
    if let Err(error) = result {
        eprintln!("xtask: {error:#}");
        std::process::exit(1);
    }
}

/// `cargo xtask bench`: the release build of cqrs-bench, run with an admin token.
fn bench(args: &[String]) -> anyhow::Result<()> {
    // One subject per load client: the services limit requests per subject.
    let tokens = (0..64)
        .map(|n| auth::token(&format!("bench-{n}"), "admin", 6 * 3_600))
        .collect::<anyhow::Result<Vec<_>>>()?
        .join(",");
    stack::step("building the benchmark harness (release)");
    stack::run(
        std::process::Command::new("cargo")
            .args([
                "build",
                "--release",
                "--quiet",
                "-p",
                "bench",
                "--bin",
                "cqrs-bench",
            ])
            .current_dir(stack::root()),
    )?;
    let binary = services::target_dir().join("release").join("cqrs-bench");
    // Not stack::run: its error would print the command, tokens included.
    let status = std::process::Command::new(binary)
        .args(args)
        .env("BENCH_TOKENS", tokens)
        .current_dir(stack::root())
        .status()?;
    anyhow::ensure!(status.success(), "cqrs-bench failed ({status})");
    Ok(())
}
