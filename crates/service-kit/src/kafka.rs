//! Broker administration shared by the services: topic creation and reachability.

use std::time::Duration;

use kafka_client::KafkaSettings;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;

/// An admin client shared by a service's tasks and its readiness check.
pub type SharedAdmin = std::sync::Arc<AdminClient<DefaultClientContext>>;

/// An admin client of the brokers of `kafka`, shareable.
pub fn shared_admin(kafka: &KafkaSettings) -> Result<SharedAdmin, KafkaError> {
    admin(kafka).map(std::sync::Arc::new)
}

/// An admin client of the brokers of `kafka`.
pub fn admin(kafka: &KafkaSettings) -> Result<AdminClient<DefaultClientContext>, KafkaError> {
    kafka.client_config().create()
}

/// Creates `topic` with `partitions` partitions unless it exists. Its replicas and how many
/// must acknowledge a write are the cluster's defaults (`default.replication.factor`,
/// `min.insync.replicas`): three and two on a production cluster, one on a single node.
pub async fn ensure_topic(
    admin: &AdminClient<DefaultClientContext>,
    topic: &str,
    partitions: i32,
) -> Result<(), KafkaError> {
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    // -1: the broker's default replication factor (KIP-464).
    let new = NewTopic::new(topic, partitions, TopicReplication::Fixed(-1));
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

/// Checks at start that the brokers accept this process: settings that cannot work, or a
/// broker that refuses the credentials or the TLS handshake, are an error (the service stops
/// with one line saying which setting to look at); brokers that cannot be reached within a
/// few seconds are only logged, and the service's own retries wait for them.
pub async fn check_access(kafka: &KafkaSettings) -> anyhow::Result<()> {
    let settings = kafka.clone();
    let reached =
        tokio::task::spawn_blocking(move || settings.check_access(Duration::from_secs(5)))
            .await??;
    if !reached {
        tracing::warn!(
            brokers = %kafka.brokers,
            "Kafka cannot be reached yet; carrying on and retrying in the background"
        );
    }
    Ok(())
}
