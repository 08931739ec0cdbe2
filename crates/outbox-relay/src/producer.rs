//! The relay's Kafka producer settings.

use std::time::Duration;

use kafka_client::KafkaSettings;
use rdkafka::error::KafkaError;
use rdkafka::producer::FutureProducer;

/// Where and how the relay publishes.
#[derive(Debug, Clone)]
pub struct ProducerSettings {
    /// The brokers and how to reach them.
    pub kafka: KafkaSettings,
    /// How long a record may wait for the broker's acknowledgement before it fails.
    pub delivery_timeout: Duration,
}

impl ProducerSettings {
    /// An idempotent producer (`acks=all`): the broker drops the duplicates its own retries
    /// would create, and keeps a partition's records in the order they were sent with up to
    /// five requests in flight per connection (librdkafka's default, Kafka's limit for
    /// idempotence). A
    /// record that fails for good (e.g. `message.timeout.ms` passed) may still be followed by
    /// a delivered one; the relay then republishes both, so a consumer can see a later
    /// sequence before an earlier one and must wait for the gap (ADR 0002).
    pub fn create(&self) -> Result<FutureProducer, KafkaError> {
        self.kafka
            .client_config()
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set(
                "message.timeout.ms",
                self.delivery_timeout.as_millis().to_string(),
            )
            .set("linger.ms", "2")
            // The Java client's partitioner, so every client maps a key to the same partition.
            .set("partitioner", "murmur2_random")
            .create()
    }
}
