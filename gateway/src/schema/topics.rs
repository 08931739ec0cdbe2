//! Kafka through the gateway's own client: topics with watermarks, consumer groups with
//! their lag, and a live tail of a topic's records decoded from the protobuf envelope.

use std::sync::Arc;
use std::time::Duration;

use async_graphql::{Context, Json, Object, SimpleObject, Subscription};
use chrono::{DateTime, Utc};
use futures::Stream;
use kafka_client::inspect::{InspectError, Inspector, reader_config};
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::{BorrowedMessage, Headers, Message};
use rdkafka::{Offset, TopicPartitionList};
use serde::Deserialize;
use serde_json::Value;
use service_kit::settings::KafkaSettings;
use tokio::sync::Semaphore;

use super::operator;
use crate::settings::PipelineSettings;
use crate::upstream::refused;

/// One partition's first kept offset and next offset.
#[derive(Debug, Clone, SimpleObject)]
pub struct PartitionMarks {
    pub partition: i32,
    pub low: i64,
    pub high: i64,
}

/// A topic and its partitions.
#[derive(Debug, Clone, SimpleObject)]
pub struct Topic {
    pub name: String,
    pub partitions: Vec<PartitionMarks>,
    /// Records still kept.
    pub messages: i64,
}

/// A group's committed offset on one partition.
#[derive(Debug, Clone, SimpleObject)]
pub struct GroupPartitionLag {
    pub partition: i32,
    pub committed: i64,
    pub high: i64,
    pub lag: i64,
}

/// A consumer group's position on a topic.
#[derive(Debug, Clone, SimpleObject)]
pub struct GroupLag {
    pub group: String,
    pub topic: String,
    pub lag: i64,
    pub partitions: Vec<GroupPartitionLag>,
}

/// Topics and consumer groups.
#[derive(Debug, Clone, SimpleObject)]
pub struct TopicsReport {
    pub topics: Vec<Topic>,
    pub groups: Vec<GroupLag>,
}

/// The event envelope of a record, decoded with the system's own contracts.
#[derive(Debug, Clone, Deserialize, SimpleObject)]
pub struct Envelope {
    pub event_id: String,
    pub aggregate_type: String,
    pub aggregate_id: String,
    pub sequence: i64,
    pub event_type: String,
    pub schema_version: i64,
    pub recorded_at: Option<DateTime<Utc>>,
    pub correlation_id: String,
    pub causation_id: String,
    pub actor: String,
    /// The typed payload as JSON.
    #[serde(default)]
    pub payload: Json<Value>,
}

/// A record of a topic: where it is and what it carries. One that does not decode is shown
/// raw, with why.
#[derive(Debug, Clone, SimpleObject)]
pub struct TailRecord {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub key: Option<String>,
    pub timestamp: Option<DateTime<Utc>>,
    /// Header names and values (e.g. `traceparent`).
    pub headers: Json<Value>,
    pub envelope: Option<Envelope>,
    /// Why the value is not an event envelope.
    pub error: Option<String>,
    /// The first 256 bytes of an undecodable value, in hex.
    pub raw_hex: Option<String>,
}

/// The Kafka side of the gateway: its inspector, its client settings and the open tails.
pub struct Kafka {
    pub inspector: Arc<Inspector>,
    pub settings: KafkaSettings,
    pub tails: Arc<Semaphore>,
}

/// Time one request to the brokers may take.
pub const BROKER_TIMEOUT: Duration = Duration::from_secs(3);
/// Records of each partition a tail may start back from the end.
const MAX_FROM_END: i64 = 1_000;

fn inspect_error(error: InspectError) -> async_graphql::Error {
    match error {
        InspectError::NoTopic(topic) => refused(404, format!("no topic {topic}")),
        unreachable @ InspectError::Unreachable { .. } => refused(503, unreachable.to_string()),
    }
}

/// The topics the two bounded contexts publish to.
#[derive(Debug, Clone, SimpleObject)]
pub struct ContextTopics {
    pub users: String,
    pub orders: String,
}

/// Reading the cluster.
#[derive(Default)]
pub struct TopicsQuery;

#[Object]
impl TopicsQuery {
    /// The topic of each bounded context (for tails of one aggregate's records).
    async fn context_topics(&self, ctx: &Context<'_>) -> async_graphql::Result<ContextTopics> {
        operator(ctx)?;
        let names = ctx.data::<PipelineSettings>()?;
        Ok(ContextTopics {
            users: names.users_topic.clone(),
            orders: names.orders_topic.clone(),
        })
    }

    /// Every topic with its watermarks, and every consumer group's lag (operators only).
    async fn topics(&self, ctx: &Context<'_>) -> async_graphql::Result<TopicsReport> {
        operator(ctx)?;
        let inspector = ctx.data::<Kafka>()?.inspector.clone();
        let report = tokio::task::spawn_blocking(move || {
            inspector.report(|group| group.starts_with("gateway-") || group.starts_with("esctl-"))
        })
        .await
        .map_err(|_| refused(503, "the topic report was cut short"))?
        .map_err(inspect_error)?;
        Ok(TopicsReport {
            topics: report
                .topics
                .into_iter()
                .map(|topic| Topic {
                    messages: topic.messages(),
                    partitions: topic
                        .partitions
                        .iter()
                        .map(|marks| PartitionMarks {
                            partition: marks.partition,
                            low: marks.low,
                            high: marks.high,
                        })
                        .collect(),
                    name: topic.topic,
                })
                .collect(),
            groups: report
                .groups
                .into_iter()
                .map(|group| GroupLag {
                    group: group.group,
                    topic: group.topic,
                    lag: group.lag,
                    partitions: group
                        .partitions
                        .iter()
                        .map(|p| GroupPartitionLag {
                            partition: p.partition,
                            committed: p.committed,
                            high: p.high,
                            lag: p.lag,
                        })
                        .collect(),
                })
                .collect(),
        })
    }
}

/// Watching a topic.
#[derive(Default)]
pub struct TopicsSubscription;

#[Subscription]
impl TopicsSubscription {
    /// Records of `topic` as they arrive, starting `fromEnd` records back from the end of each
    /// partition (default 0: new records only); only those with `key` (the aggregate id)
    /// and of `eventType` when given. Operators only; a bounded number run at once.
    async fn tail(
        &self,
        ctx: &Context<'_>,
        topic: String,
        key: Option<String>,
        event_type: Option<String>,
        #[graphql(validator(minimum = 0, maximum = 1000))] from_end: Option<i64>,
    ) -> async_graphql::Result<impl Stream<Item = async_graphql::Result<TailRecord>> + use<>> {
        operator(ctx)?;
        let kafka = ctx.data::<Kafka>()?;
        if topic.is_empty() || topic.len() > 249 {
            return Err(refused(400, "topic must be 1 to 249 characters"));
        }
        let permit = kafka
            .tails
            .clone()
            .try_acquire_owned()
            .map_err(|_| refused(429, "too many live tails are open; close one"))?;
        let from_end = from_end.unwrap_or(0).clamp(0, MAX_FROM_END);
        let inspector = kafka.inspector.clone();
        let wanted = topic.clone();
        let partitions = tokio::task::spawn_blocking(move || inspector.watermarks(Some(&wanted)))
            .await
            .map_err(|_| refused(503, "reading the topic was cut short"))?
            .map_err(inspect_error)?
            .pop()
            .map(|marks| marks.partitions)
            .unwrap_or_default();
        let name = format!("gateway-tail-{}", uuid::Uuid::now_v7());
        let consumer: StreamConsumer = reader_config(&kafka.settings, &name, BROKER_TIMEOUT)
            .create()
            .map_err(|error| refused(503, format!("cannot read {topic}: {error}")))?;
        let mut list = TopicPartitionList::new();
        for marks in &partitions {
            let start = (marks.high - from_end).max(marks.low);
            list.add_partition_offset(&topic, marks.partition, Offset::Offset(start))
                .map_err(|error| refused(400, error.to_string()))?;
        }
        consumer
            .assign(&list)
            .map_err(|error| refused(503, format!("cannot read {topic}: {error}")))?;
        let state = (Arc::new(consumer), permit, key, event_type);
        let records =
            futures::stream::unfold(state, |(consumer, permit, key, event_type)| async move {
                loop {
                    let record = match consumer.recv().await {
                        Ok(message) => record(&message),
                        Err(error) => {
                            // librdkafka reconnects by itself; a broker that went away shows on
                            // the health page.
                            tracing::debug!(%error, "tail: no record");
                            tokio::time::sleep(Duration::from_millis(500)).await;
                            continue;
                        }
                    };
                    if key
                        .as_deref()
                        .is_some_and(|key| record.key.as_deref() != Some(key))
                    {
                        continue;
                    }
                    if event_type.as_deref().is_some_and(|wanted| {
                        record
                            .envelope
                            .as_ref()
                            .is_none_or(|envelope| envelope.event_type != wanted)
                    }) {
                        continue;
                    }
                    return Some((Ok(record), (consumer, permit, key, event_type)));
                }
            });
        Ok(super::while_signed_in(ctx, records))
    }
}

/// A message as a tail shows it.
fn record(message: &BorrowedMessage<'_>) -> TailRecord {
    let headers: serde_json::Map<String, Value> = message
        .headers()
        .map(|headers| {
            headers
                .iter()
                .map(|header| {
                    let value =
                        String::from_utf8_lossy(header.value.unwrap_or_default()).into_owned();
                    (header.key.to_owned(), Value::String(value))
                })
                .collect()
        })
        .unwrap_or_default();
    let mut decoded = contracts::json::envelope_or_raw(message.payload().unwrap_or_default());
    let (envelope, error) = match decoded.remove("envelope") {
        Some(envelope) => match serde_json::from_value::<Envelope>(envelope) {
            Ok(envelope) => (Some(envelope), None),
            Err(error) => (
                None,
                Some(format!("the envelope does not read as JSON: {error}")),
            ),
        },
        None => (
            None,
            decoded
                .get("error")
                .and_then(Value::as_str)
                .map(str::to_owned),
        ),
    };
    TailRecord {
        topic: message.topic().to_owned(),
        partition: message.partition(),
        offset: message.offset(),
        key: message
            .key()
            .map(|key| String::from_utf8_lossy(key).into_owned()),
        timestamp: message
            .timestamp()
            .to_millis()
            .and_then(DateTime::from_timestamp_millis),
        headers: Json(Value::Object(headers)),
        envelope,
        raw_hex: error
            .is_some()
            .then(|| {
                decoded
                    .get("raw_hex")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            })
            .flatten(),
        error,
    }
}
