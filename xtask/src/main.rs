//! Developer tooling: `cargo xtask up | down | status | topic | token | test`.
//!
//! Brings up the local stack on this machine without Docker: the Debian Postgres cluster
//! (installed if missing), the Tansu broker (installed with `cargo install` if missing), the
//! databases, topics and every service built so far.

mod auth;
mod services;
mod stack;
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
    /// Start Postgres, Tansu, databases, topics and the services; print where they are.
    ///
    /// In the foreground it stops everything it started on Ctrl-C. Installs Postgres
    /// (apt-get) and Tansu (cargo install, about 12 minutes once) when they are missing.
    Up {
        /// Return once everything is healthy; stop it later with `cargo xtask down`.
        #[arg(long)]
        detach: bool,
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
    /// Prepare whatever is missing (Postgres, Tansu, promtool, kubernetes-validate), then run
    /// the whole test suite.
    ///
    /// Extra arguments go to `cargo nextest run`, e.g. `cargo xtask test -- relay`.
    Test {
        /// Arguments for the test runner.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Up { detach } => services::up(detach),
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
        Command::Test { args } => stack::test(&args),
    };
    if let Err(error) = result {
        eprintln!("xtask: {error:#}");
        std::process::exit(1);
    }
}
