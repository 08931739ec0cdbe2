//! `cargo xtask topic`: prints the records of a topic, decoded from their protobuf envelope.
//! (Kafka's console consumer and kcat print a value as bytes; this decodes the envelope.)

use std::time::Duration;

use anyhow::{Context, Result};
use rdkafka::ClientConfig;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::{Headers, Message};

/// Prints up to `max` records of `topic` from the beginning, one line each, stopping once no
/// record arrived for `idle`.
pub fn print(brokers: &str, topic: &str, max: usize, idle: Duration) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let consumer: StreamConsumer = ClientConfig::new()
            .set("bootstrap.servers", brokers)
            .set("group.id", format!("xtask-topic-{}", std::process::id()))
            .set("auto.offset.reset", "earliest")
            .set("enable.auto.commit", "false")
            .create()
            .context("creating a consumer")?;
        consumer.subscribe(&[topic]).with_context(|| format!("subscribing to {topic}"))?;
        let mut printed = 0;
        while printed < max {
            let message = match tokio::time::timeout(idle, consumer.recv()).await {
                Err(_) => break,
                Ok(message) => message.with_context(|| format!("reading {topic}"))?,
            };
            let headers: Vec<String> = message
                .headers()
                .map(|h| {
                    h.iter()
                        .map(|h| format!("{}={}", h.key, String::from_utf8_lossy(h.value.unwrap_or_default())))
                        .collect()
                })
                .unwrap_or_default();
            let key = String::from_utf8_lossy(message.key().unwrap_or_default()).into_owned();
            match contracts::decode_envelope(message.payload().unwrap_or_default()) {
                Ok(envelope) => println!(
                    "{topic}/{} @{} key={key} seq={} {} event_id={} correlation_id={} headers=[{}]\n    payload: {:?}",
                    message.partition(),
                    message.offset(),
                    envelope.sequence,
                    envelope.event_type,
                    envelope.event_id,
                    envelope.correlation_id,
                    headers.join(", "),
                    envelope.payload,
                ),
                Err(error) => println!(
                    "{topic}/{} @{} key={key}: not an EventEnvelope ({error})",
                    message.partition(),
                    message.offset()
                ),
            }
            printed += 1;
        }
        eprintln!("{printed} record(s) from {topic}");
        anyhow::Ok(())
    })
}
