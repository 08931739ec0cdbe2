//! `esctl`: the operator's command line for the event-sourced system. See `esctl --help`.

mod census;
mod context;
mod failure;
mod kafka;
mod outbox;
mod output;
mod services;
mod store;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::context::Context;
use crate::failure::Failure;

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
  esctl census users                               stored events per type and schema version
  esctl replay users --to-topic users.replay       re-publish every stored User event

With an admin token (export ESCTL_TOKEN=$(cargo xtask token --sub ops --role admin)):
  esctl projections status                         applied vs. stored, lag, parked per projection
  esctl projections rebuild users                  zero-downtime rebuild with progress
  esctl parked list --status parked                poison events waiting for an operator
  esctl parked show users 7                        one of them with its decoded message
  esctl parked retry users 7                       apply it again (after a fix)
  esctl parked skip users 7 --reason \"…\"          give it up, recording who and why
  esctl sagas list --state FAILED                  sagas that need a person
  esctl sagas show 0190d5a8-…                      a saga with its step history

Exit codes: 0 done; 1 failed; 2 bad usage; 3 not found (unknown id or topic);
4 unreachable or unavailable (database, broker or service); 5 token missing or refused;
6 refused in the current state (a skip out of order).";

/// Operate the event-sourced CQRS system: read event streams and aggregate state from the
/// event stores, inspect and tail Kafka topics, watch the outbox, replay stored events; and
/// through the services: projection status and rebuilds, parked events, sagas.
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
    /// Kafka bootstrap brokers [default: ESCTL__KAFKA__BROKERS, else 127.0.0.1:9092]. The
    /// connection's security comes from ESCTL__KAFKA__… variables, named as a service's:
    /// ESCTL__KAFKA__SECURITY_PROTOCOL (plaintext, ssl, sasl_plaintext, sasl_ssl),
    /// ESCTL__KAFKA__SASL__MECHANISM (scram-sha-512), ESCTL__KAFKA__SASL__USERNAME,
    /// ESCTL__KAFKA__SASL__PASSWORD, ESCTL__KAFKA__TLS__CA_FILE, …__TLS__CERT_FILE and
    /// …__TLS__KEY_FILE.
    #[arg(long, env = "ESCTL_BROKERS", global = true)]
    brokers: Option<String>,
    /// users-query's base URL.
    #[arg(
        long,
        env = "ESCTL_USERS_QUERY_URL",
        default_value = "http://127.0.0.1:5011",
        global = true
    )]
    users_query_url: String,
    /// orders-query's base URL.
    #[arg(
        long,
        env = "ESCTL_ORDERS_QUERY_URL",
        default_value = "http://127.0.0.1:5012",
        global = true
    )]
    orders_query_url: String,
    /// saga-orchestrator's base URL.
    #[arg(
        long,
        env = "ESCTL_SAGA_URL",
        default_value = "http://127.0.0.1:5020",
        global = true
    )]
    saga_url: String,
    /// Bearer token (role admin) for the services' /admin and /sagas endpoints.
    #[arg(long, env = "ESCTL_TOKEN", global = true, hide_env_values = true)]
    token: Option<String>,
    /// JSON for scripts instead of tables (JSON lines for streams).
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

impl Cli {
    /// The Kafka connection: `--brokers`, with the security from `ESCTL__KAFKA__…` variables.
    fn kafka(&self) -> anyhow::Result<service_kit::settings::KafkaSettings> {
        let from_env = service_kit::settings::kafka_from_env("ESCTL")
            .map_err(|error| Failure::usage(format!("ESCTL__KAFKA__ variables: {error}")))?;
        let kafka = service_kit::settings::KafkaSettings {
            brokers: self.brokers.clone().unwrap_or(from_env.brokers.clone()),
            ..from_env
        };
        kafka
            .validate()
            .map_err(|error| Failure::usage(error.to_string()))?;
        Ok(kafka)
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
    /// Stored events per type and schema version, with when the oldest and newest were
    /// recorded: when no event of an old version is left, its upcaster can retire.
    Census {
        /// Only this context's event store (both when left out).
        context: Option<Context>,
    },
    /// The transactional outbox of each command service.
    Outbox {
        #[command(subcommand)]
        command: OutboxCommand,
    },
    /// The read models: status against the event stores, rebuilds.
    Projections {
        #[command(subcommand)]
        command: ProjectionsCommand,
    },
    /// Events a projection could not apply: list, show, retry, skip.
    Parked {
        #[command(subcommand)]
        command: ParkedCommand,
    },
    /// The saga orchestrator's place-order and cancel-order sagas.
    Sagas {
        #[command(subcommand)]
        command: SagasCommand,
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
enum ProjectionsCommand {
    /// Each projection against its event store: events applied vs. stored, the lag in events
    /// and in seconds (age of the oldest event not yet applied), parked and pending events,
    /// and the latest rebuild.
    Status,
    /// Rebuilds a read model from its event store into a shadow schema and swaps it in, while
    /// queries and the live projector go on; shows progress until it ends.
    Rebuild {
        /// users or orders (the saga log is not rebuildable).
        projection: services::Projection,
    },
}

#[derive(Debug, Subcommand)]
enum ParkedCommand {
    /// Parked (and skipped) events of every projection, or of one, oldest first.
    List {
        projection: Option<services::Projection>,
        /// Only waiting (parked) or given-up (skipped) events.
        #[arg(long, value_enum)]
        status: Option<services::ParkedStatus>,
        /// At most this many per projection.
        #[arg(long, value_name = "N", default_value_t = 1000)]
        limit: usize,
    },
    /// One parked event with the message it arrived as: the decoded envelope, or the raw
    /// bytes and the decode error.
    Show {
        projection: services::Projection,
        /// The parked event's id (see `parked list`).
        id: i64,
    },
    /// Applies the parked events of the event's aggregate again, in sequence order, filling
    /// gaps from the event store; what still fails stays parked.
    Retry {
        projection: services::Projection,
        id: i64,
    },
    /// Gives a parked event up for good (its effect is never applied), recording who and
    /// why; the rest of its aggregate is then retried. Only the next sequence of an aggregate
    /// (or an undecodable message) can be skipped.
    Skip {
        projection: services::Projection,
        id: i64,
        /// Why it is given up (recorded with the token's subject).
        #[arg(long, value_name = "TEXT")]
        reason: String,
    },
}

#[derive(Debug, Subcommand)]
enum SagasCommand {
    /// Sagas, newest first.
    List(services::SagaFilter),
    /// A saga with its step history and operators' interventions.
    Show {
        /// The saga's id (see `sagas list`).
        id: String,
    },
    /// Runs the refused step of a FAILED saga again, once its cause is fixed; the saga goes
    /// on from there. Recorded with the token's subject and the reason.
    Retry {
        /// The saga's id (see `sagas list --state FAILED`).
        id: String,
        /// Why (recorded).
        #[arg(long, value_name = "TEXT")]
        reason: String,
    },
    /// Ends a FAILED saga as RESOLVED, after its order and credit were settled another way.
    /// Recorded with the token's subject and the reason.
    Resolve {
        /// The saga's id.
        id: String,
        /// Why, and what was done (recorded).
        #[arg(long, value_name = "TEXT")]
        reason: String,
    },
}

#[derive(Debug, Subcommand)]
enum OutboxCommand {
    /// Unpublished rows, the oldest one's age, rows set aside, and the relay leases held now.
    Status,
    /// Rows the broker kept refusing (too large, invalid), set aside after the relay's
    /// `max_attempts` with the later rows of their aggregates, which wait behind them.
    SetAside {
        /// Only this context's outbox (both when left out).
        context: Option<Context>,
    },
    /// Puts an aggregate's set-aside row back in line (once the broker will take it, e.g.
    /// the topic's max.message.bytes raised); its rows are then published in order.
    Retry {
        context: Context,
        /// The aggregate's id (the record key).
        aggregate_id: String,
    },
    /// Gives an aggregate's set-aside row up: it is never published (the event stays in the
    /// event store) and the aggregate's later rows flow. Consumers wait at the gap or park it;
    /// `esctl parked retry` fills it from the event store. Recorded with who and why.
    Skip {
        context: Context,
        aggregate_id: String,
        /// Why (recorded, with --actor).
        #[arg(long, value_name = "TEXT")]
        reason: String,
        /// Who skips it (recorded); the login name when left out.
        #[arg(long, value_name = "NAME")]
        actor: Option<String>,
    },
}

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
            let code = error.downcast_ref::<Failure>().map_or(1, Failure::code);
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
    let services = || {
        services::Services::new(
            cli.token.clone(),
            &cli.users_query_url,
            &cli.orders_query_url,
            &cli.saga_url,
        )
    };
    match &cli.command {
        Command::Projections { command } => match command {
            ProjectionsCommand::Status => {
                services::projections_status(&services()?, cli.json).await
            }
            ProjectionsCommand::Rebuild { projection } => {
                services::rebuild(&services()?, *projection, cli.json).await
            }
        },
        Command::Parked { command } => match command {
            ParkedCommand::List {
                projection,
                status,
                limit,
            } => services::parked_list(&services()?, *projection, *status, *limit, cli.json).await,
            ParkedCommand::Show { projection, id } => {
                services::parked_show(&services()?, *projection, *id).await
            }
            ParkedCommand::Retry { projection, id } => {
                services::parked_resolve(&services()?, *projection, *id, None, cli.json).await
            }
            ParkedCommand::Skip {
                projection,
                id,
                reason,
            } => {
                services::parked_resolve(&services()?, *projection, *id, Some(reason), cli.json)
                    .await
            }
        },
        Command::Sagas { command } => match command {
            SagasCommand::List(filter) => {
                services::sagas_list(&services()?, filter, cli.json).await
            }
            SagasCommand::Show { id } => services::sagas_show(&services()?, id, cli.json).await,
            SagasCommand::Retry { id, reason } => {
                services::sagas_intervene(&services()?, id, "retry", reason, cli.json).await
            }
            SagasCommand::Resolve { id, reason } => {
                services::sagas_intervene(&services()?, id, "resolve", reason, cli.json).await
            }
        },
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
        Command::Tail(args) => kafka::tail(&cli.kafka()?, args, cli.json).await,
        Command::Topics => kafka::topics(&cli.kafka()?, cli.json).await,
        Command::Outbox { command } => match command {
            OutboxCommand::Status => outbox::status(database, cli.json).await,
            OutboxCommand::SetAside { context } => {
                outbox::set_aside(database, *context, cli.json).await
            }
            OutboxCommand::Retry {
                context,
                aggregate_id,
            } => outbox::retry(*context, database(*context), aggregate_id, cli.json).await,
            OutboxCommand::Skip {
                context,
                aggregate_id,
                reason,
                actor,
            } => {
                outbox::skip(
                    *context,
                    database(*context),
                    aggregate_id,
                    actor.as_deref(),
                    reason,
                    cli.json,
                )
                .await
            }
        },
        Command::Census { context } => census::census(database, *context, cli.json).await,
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
                &cli.kafka()?,
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
