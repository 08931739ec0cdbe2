//! `esctl`: the operator's command line for the event-sourced system. See `esctl --help`.

mod kafka;
mod output;
mod store;

use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

const EXAMPLES: &str = "\
Examples (against `cargo xtask up`):
  esctl events users 0190d5a8-…                    a user's stream, one line per event
  esctl events orders 0190d5a8-… --json            the same as JSON lines, metadata included
  esctl state users 0190d5a8-… --at-version 2      the user as it was after its 2nd event
  esctl tail users.events --from-beginning --type UserRegistered
  esctl tail orders.events --since 10m --follow    decoded messages as they arrive
  esctl tail users.events --from-offset 0:42 --key 0190d5a8-…
  esctl topics                                     partitions, high watermarks, group lag
  esctl outbox status                              unpublished backlog per service
  esctl replay users --to-topic users.replay       re-publish every stored User event

Exit codes: 0 done; 1 failed; 2 bad usage; 3 not found (unknown id or topic);
4 unreachable (database or broker).";

/// Operate the event-sourced CQRS system: read event streams and aggregate state from the
/// event stores, inspect and tail Kafka topics, watch the outbox, replay stored events.
#[derive(Debug, Parser)]
#[command(name = "esctl", version, after_help = EXAMPLES)]
struct Cli {
    /// The Users event store.
    #[arg(
        long,
        env = "ESCTL_USERS_DB",
        default_value = "postgres://cqrs:cqrs@127.0.0.1:5432/users_es",
        global = true,
        hide_env_values = true
    )]
    users_db: String,
    /// The Orders event store.
    #[arg(
        long,
        env = "ESCTL_ORDERS_DB",
        default_value = "postgres://cqrs:cqrs@127.0.0.1:5432/orders_es",
        global = true,
        hide_env_values = true
    )]
    orders_db: String,
    /// Kafka bootstrap brokers.
    #[arg(
        long,
        env = "ESCTL_BROKERS",
        default_value = "127.0.0.1:9092",
        global = true
    )]
    brokers: String,
    /// JSON for scripts instead of tables (JSON lines for streams).
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

/// A bounded context.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Context {
    Users,
    Orders,
}

impl Context {
    fn aggregate_type(self) -> &'static str {
        match self {
            Self::Users => contracts::users::AGGREGATE_TYPE,
            Self::Orders => contracts::orders::AGGREGATE_TYPE,
        }
    }

    fn topic(self) -> &'static str {
        match self {
            Self::Users => "users.events",
            Self::Orders => "orders.events",
        }
    }
}

#[derive(Debug, Subcommand)]
enum Command {
    /// An aggregate's stream from the event store: sequence, time, type and a summary.
    Events {
        context: Context,
        /// The aggregate's id.
        id: String,
        /// Start at this sequence (1 is the first event).
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(i64).range(1..))]
        from_version: Option<i64>,
    },
    /// An aggregate folded from its events by the domain's own code, optionally as it was
    /// after an earlier event (time travel).
    State {
        context: Context,
        id: String,
        /// Fold only the events up to this sequence.
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(i64).range(1..))]
        at_version: Option<i64>,
    },
    /// Messages of a topic decoded from the protobuf envelope, with partition, offset, key and
    /// headers; an undecodable message is shown raw with the decode error.
    Tail(kafka::TailArgs),
    /// Topics with partitions, high watermarks and the lag of each consumer group.
    Topics,
    /// The transactional outbox of each command service.
    Outbox {
        #[command(subcommand)]
        command: OutboxCommand,
    },
    /// Re-publish stored events (their exact envelopes, keyed by aggregate id, in store
    /// order) to a topic, for a new or repaired consumer: per-aggregate order and event ids
    /// are kept, so consumers deduplicate what they already have.
    Replay {
        context: Context,
        /// The topic to publish to (default: the context's own topic).
        #[arg(long, value_name = "TOPIC")]
        to_topic: Option<String>,
        /// Only this aggregate's events.
        #[arg(long, value_name = "ID")]
        aggregate: Option<String>,
        /// Only events at or after this store position (see `events --json`).
        #[arg(long, value_name = "P", value_parser = clap::value_parser!(i64).range(1..))]
        from_position: Option<i64>,
        /// Partitions of the topic if esctl has to create it.
        #[arg(long, value_name = "N", default_value_t = 3, value_parser = clap::value_parser!(i32).range(1..=1000))]
        partitions: i32,
    },
}

#[derive(Debug, Subcommand)]
enum OutboxCommand {
    /// Unpublished rows, the oldest one's age, and the relay leases held right now.
    Status,
}

/// A failure with its exit code.
#[derive(Debug)]
pub struct Failure {
    code: u8,
    message: String,
}

impl Failure {
    pub fn not_found(message: impl Into<String>) -> Self {
        Self {
            code: 3,
            message: message.into(),
        }
    }

    pub fn unreachable(message: impl Into<String>) -> Self {
        Self {
            code: 4,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failure {}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("esctl: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            let code = error.downcast_ref::<Failure>().map_or(1, |f| f.code);
            // One line: the chain of causes, no backtrace.
            eprintln!("esctl: {}", format!("{error:#}").replace('\n', " "));
            ExitCode::from(code)
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let database = |context: Context| match context {
        Context::Users => cli.users_db.as_str(),
        Context::Orders => cli.orders_db.as_str(),
    };
    match &cli.command {
        Command::Events {
            context,
            id,
            from_version,
        } => {
            let pool = store::connect(*context, database(*context)).await?;
            store::events(&pool, *context, id, from_version.unwrap_or(1), cli.json).await
        }
        Command::State {
            context,
            id,
            at_version,
        } => {
            let pool = store::connect(*context, database(*context)).await?;
            store::state(&pool, *context, id, *at_version).await
        }
        Command::Tail(args) => kafka::tail(&cli.brokers, args, cli.json).await,
        Command::Topics => kafka::topics(&cli.brokers, cli.json).await,
        Command::Outbox {
            command: OutboxCommand::Status,
        } => {
            let mut statuses = Vec::new();
            for context in [Context::Users, Context::Orders] {
                let pool = store::connect(context, database(context)).await?;
                statuses.push(store::outbox_status(&pool, context).await?);
            }
            output::outbox(&statuses, cli.json);
            Ok(())
        }
        Command::Replay {
            context,
            to_topic,
            aggregate,
            from_position,
            partitions,
        } => {
            let pool = store::connect(*context, database(*context)).await?;
            let topic = to_topic.as_deref().unwrap_or(context.topic());
            store::replay(
                &pool,
                &cli.brokers,
                *context,
                topic,
                aggregate.as_deref(),
                from_position.unwrap_or(1),
                *partitions,
            )
            .await
        }
    }
}
