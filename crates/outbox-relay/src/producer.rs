//! The relay's Kafka producer settings.

use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::error::KafkaError;
use rdkafka::producer::FutureProducer;

/// An idempotent producer (`acks=all`) that keeps per-partition order across retries: a
/// failure that could leave a gap stops the producer instead of letting a later record in.
pub fn producer(brokers: &str, delivery_timeout: Duration) -> Result<FutureProducer, KafkaError> {
    ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("enable.gapless.guarantee", "true")
        .set("message.timeout.ms", delivery_timeout.as_millis().to_string())
        .set("linger.ms", "2")
        // The Java client's partitioner, so every client maps a key to the same partition.
        .set("partitioner", "murmur2_random")
        .create()
}
