//! Broker administration shared by the services: topic creation and reachability.

use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;

/// An admin client shared by a service's tasks and its readiness check.
pub type SharedAdmin = std::sync::Arc<AdminClient<DefaultClientContext>>;

/// An admin client of `brokers`, shareable.
pub fn shared_admin(brokers: &str) -> Result<SharedAdmin, KafkaError> {
    admin(brokers).map(std::sync::Arc::new)
}

/// An admin client of `brokers`.
pub fn admin(brokers: &str) -> Result<AdminClient<DefaultClientContext>, KafkaError> {
    ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
}

/// Creates `topic` with `partitions` partitions unless it exists.
pub async fn ensure_topic(
    admin: &AdminClient<DefaultClientContext>,
    topic: &str,
    partitions: i32,
) -> Result<(), KafkaError> {
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    let new = NewTopic::new(topic, partitions, TopicReplication::Fixed(1));
    for result in admin.create_topics([&new], &options).await? {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((_, code)) => return Err(KafkaError::AdminOp(code)),
        }
    }
    Ok(())
}

/// Retries `ensure_topic` every two seconds until it succeeds (true) or `cancel` fires (false).
pub async fn ensure_topic_until(
    admin: &AdminClient<DefaultClientContext>,
    topic: &str,
    partitions: i32,
    cancel: &tokio_util::sync::CancellationToken,
) -> bool {
    loop {
        match ensure_topic(admin, topic, partitions).await {
            Ok(()) => return true,
            Err(error) => {
                tracing::warn!(%error, topic, "cannot make sure the topic exists yet; retrying")
            }
        }
        tokio::select! {
            () = cancel.cancelled() => return false,
            () = tokio::time::sleep(Duration::from_secs(2)) => {}
        }
    }
}

/// Whether the broker answers a metadata request within `timeout`.
pub async fn reachable(
    admin: &std::sync::Arc<AdminClient<DefaultClientContext>>,
    timeout: Duration,
) -> bool {
    let admin = admin.clone();
    tokio::task::spawn_blocking(move || admin.inner().fetch_metadata(None, timeout).is_ok())
        .await
        .unwrap_or(false)
}
