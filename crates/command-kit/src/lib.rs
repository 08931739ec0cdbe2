//! What every command service shares, so a bounded context only brings its aggregate, its
//! contract and its routes:
//!
//! - [`CommandContext`]: what a context names about itself; [`CommandApp`] is then its whole
//!   service (settings with their `--help`, `migrate`, start-up, `main`);
//! - [`WriteSide::start`]: migrate the event store, start the outbox relay once the topic
//!   exists, publish the store's head as gauges, and hand back what the routes and readiness
//!   need;
//! - [`http`]: `If-Match`, `Idempotency-Key`, the command's metadata, the `{id, version}`
//!   answer and the `/{id}/events` stream read;
//! - [`problem`]: every `CommandError` as application/problem+json;
//! - [`RelaySettings`]: the relay's configuration section.

mod app;
pub mod correlations;
mod head;
pub mod http;
pub mod problem;
mod settings;

use std::time::Duration;

use anyhow::Context;
use outbox_relay::{ProducerSettings, Relay};
use service_kit::health::Readiness;
use service_kit::http::Background;
use service_kit::kafka::SharedAdmin;
use service_kit::settings::{DatabaseSettings, KafkaSettings};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

pub use app::{CommandApp, CommandContext, CommandSettings, CommandState, PeerSettings};
pub use settings::RelaySettings;

/// A command service's event store with its relay running beside it.
pub struct WriteSide {
    /// The event store's pool.
    pub pool: PgPool,
    /// The relay task (none when disabled); hand it to `Service::bind`.
    pub background: Vec<Background>,
    admin: SharedAdmin,
}

/// Brings the event store's tables up to date and returns: `<service> migrate`.
pub async fn migrate(database: &DatabaseSettings) -> anyhow::Result<()> {
    let pool = database.pool();
    migrate_pool(&pool).await?;
    pool.close().await;
    Ok(())
}

/// Purges idempotency keys recorded more than `keep` ago: a request repeating one is then
/// executed again, so `keep` must outlast any client's retries.
pub fn idempotency_keys_purge(keep: Duration) -> service_kit::retention::Purge {
    service_kit::retention::Purge::rows(
        "idempotency_keys",
        "recorded_at < now() - make_interval(secs => $1)",
        keep,
    )
}

async fn migrate_pool(pool: &PgPool) -> anyhow::Result<()> {
    event_store::MIGRATOR
        .run(pool)
        .await
        .context("migrating the event store")
}

impl WriteSide {
    /// Connects to (and, if configured, migrates) the event store and starts the relay to
    /// `topic`: it makes sure the topic exists first, however late the broker comes up.
    pub async fn start(
        database: &DatabaseSettings,
        kafka: &KafkaSettings,
        relay: &RelaySettings,
        topic: &str,
        cancel: &CancellationToken,
    ) -> anyhow::Result<Self> {
        let pool = database.pool();
        if database.migrate {
            migrate_pool(&pool).await?;
        }
        service_kit::kafka::check_access(kafka).await?;
        let admin =
            service_kit::kafka::shared_admin(kafka).context("creating a Kafka admin client")?;
        let (store, token) = (pool.clone(), cancel.child_token());
        let mut background = vec![Background {
            name: "event-store-head",
            task: tokio::spawn(async move {
                head::measure_every(store, head::EVERY, token).await;
                Ok(())
            }),
        }];
        if relay.enabled {
            let producer = ProducerSettings {
                kafka: kafka.clone(),
                delivery_timeout: Duration::from_millis(kafka.delivery_timeout_ms),
            };
            let config = relay.config().map_err(anyhow::Error::msg)?;
            let outbox = Relay::new(pool.clone(), producer, config)
                .context("creating the relay's Kafka producer")?;
            let token = cancel.child_token();
            let (admin, topic, partitions) =
                (admin.clone(), topic.to_owned(), kafka.topic_partitions);
            background.push(Background {
                name: "outbox-relay",
                task: tokio::spawn(async move {
                    // Brokers do not create topics on first use (auto.create.topics.enable is
                    // off in production): the relay starts once the topic exists.
                    let ready =
                        service_kit::kafka::ensure_topic_until(&admin, &topic, partitions, &token);
                    if ready.await {
                        outbox.run(token).await?;
                    }
                    Ok(())
                }),
            });
        }
        Ok(Self {
            pool,
            background,
            admin,
        })
    }

    /// Ready when the event store and the broker answer.
    pub fn readiness(&self) -> Readiness {
        Readiness {
            database: Some(self.pool.clone()),
            broker: Some(self.admin.clone()),
        }
    }
}
