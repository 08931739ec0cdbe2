//! Developer tooling: `cargo xtask up | down | test | status`.
//!
//! Brings up the local stack on this machine without Docker: the Debian Postgres cluster
//! (installed if missing), the Tansu broker (installed with `cargo install` if missing), the
//! databases, topics and every service built so far.

mod services;
mod stack;
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
    /// Prepare whatever is missing (Postgres, Tansu), then run the whole test suite.
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
        Command::Test { args } => stack::test(&args),
    };
    if let Err(error) = result {
        eprintln!("xtask: {error:#}");
        std::process::exit(1);
    }
}
