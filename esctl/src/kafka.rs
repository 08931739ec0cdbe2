//! What esctl reads from Kafka: topics with watermarks and consumer-group lag, and decoded
//! messages.

use std::collections::BTreeMap;
use std::time::Duration;

use kafka_client::inspect::{InspectError, Inspector, reader_config};
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::{BorrowedMessage, Headers, Message};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use serde_json::{Value, json};
use service_kit::settings::KafkaSettings;

use crate::failure::Failure;
use crate::output;

/// How long one metadata or offsets request to the broker may take.
const TIMEOUT: Duration = Duration::from_secs(5);
/// Messages of each partition shown when no start is given.
const DEFAULT_TAIL: i64 = 10;

#[derive(Debug, clap::Args)]
pub struct TailArgs {
    /// The topic, e.g. users.events.
    topic: String,
    /// Start at the first message still on the topic (default: the last 10 of each partition).
    #[arg(long, conflicts_with_all = ["from_offset", "since"])]
    from_beginning: bool,
    /// Start at offset O of partition P, and read only that partition.
    #[arg(long, value_name = "P:O", conflicts_with = "since")]
    from_offset: Option<String>,
    /// Start at messages younger than this: 30s, 10m, 2h, 1d.
    #[arg(long, value_name = "AGE", value_parser = age)]
    since: Option<Duration>,
    /// Only messages with this key (the aggregate id).
    #[arg(long, value_name = "K")]
    key: Option<String>,
    /// Only events of this type, e.g. OrderPlaced.
    #[arg(long = "type", value_name = "T")]
    event_type: Option<String>,
    /// Keep waiting for new messages (stop with Ctrl-C) instead of stopping at the end.
    #[arg(long)]
    follow: bool,
    /// Stop after this many messages.
    #[arg(long, value_name = "N")]
    limit: Option<usize>,
}

fn config(kafka: &KafkaSettings) -> ClientConfig {
    reader_config(kafka, &reader_name(), TIMEOUT)
}

/// The group id of esctl's readers, which never join it.
fn reader_name() -> String {
    format!("esctl-{}", std::process::id())
}

fn inspector(kafka: &KafkaSettings) -> anyhow::Result<Inspector> {
    Inspector::new(kafka, &reader_name(), TIMEOUT)
        .map_err(|error| unreachable(&kafka.brokers, error))
}

fn inspect_failure(error: InspectError) -> anyhow::Error {
    match error {
        InspectError::NoTopic(topic) => Failure::not_found(format!("no topic {topic}")).into(),
        unreachable @ InspectError::Unreachable { .. } => {
            Failure::unreachable(unreachable.to_string()).into()
        }
    }
}

fn unreachable(brokers: &str, error: impl std::fmt::Display) -> anyhow::Error {
    Failure::unreachable(format!("cannot reach the broker at {brokers}: {error}")).into()
}

/// Fails with "unreachable" unless the broker answers a metadata request.
/// A broker that refuses the credentials fails with "unauthorized" at once.
pub async fn require_broker(kafka: &KafkaSettings) -> anyhow::Result<()> {
    let settings = kafka.clone();
    match tokio::task::spawn_blocking(move || settings.check_access(TIMEOUT)).await? {
        Ok(true) => Ok(()),
        Ok(false) => Err(unreachable(&kafka.brokers, "no answer")),
        Err(refused @ kafka_client::AccessError::Refused { .. }) => {
            Err(Failure::unauthorized(refused.to_string()).into())
        }
        Err(error) => Err(Failure::usage(error.to_string()).into()),
    }
}

/// `esctl topics`.
pub async fn topics(kafka: &KafkaSettings, as_json: bool) -> anyhow::Result<()> {
    require_broker(kafka).await?;
    let kafka = kafka.clone();
    let report = tokio::task::spawn_blocking(move || topics_report(&kafka)).await??;
    if as_json {
        output::json(&report);
        return Ok(());
    }
    let rows: Vec<Vec<String>> = report["topics"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|topic| {
            let partitions = topic["partitions"].as_array().cloned().unwrap_or_default();
            let marks: Vec<String> = partitions
                .iter()
                .map(|p| format!("{}:{}", p["partition"], p["high"]))
                .collect();
            let messages: i64 = partitions
                .iter()
                .map(|p| p["high"].as_i64().unwrap_or(0) - p["low"].as_i64().unwrap_or(0))
                .sum();
            vec![
                topic["topic"].as_str().unwrap_or_default().to_owned(),
                partitions.len().to_string(),
                messages.to_string(),
                marks.join(" "),
            ]
        })
        .collect();
    output::table(
        &["TOPIC", "PARTITIONS", "MESSAGES", "HIGH WATERMARKS"],
        &rows,
    );
    let rows: Vec<Vec<String>> = report["groups"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|group| {
            vec![
                group["group"].as_str().unwrap_or_default().to_owned(),
                group["topic"].as_str().unwrap_or_default().to_owned(),
                group["lag"].to_string(),
            ]
        })
        .collect();
    println!();
    if rows.is_empty() {
        println!("no consumer group has committed offsets");
    } else {
        output::table(&["GROUP", "TOPIC", "LAG"], &rows);
    }
    Ok(())
}

fn topics_report(kafka: &KafkaSettings) -> anyhow::Result<Value> {
    let report = inspector(kafka)?
        .report(|group| group.starts_with("esctl-"))
        .map_err(inspect_failure)?;
    Ok(serde_json::to_value(report)?)
}

/// `30s`, `10m`, `2h`, `1d` as a duration.
fn age(text: &str) -> anyhow::Result<Duration> {
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| anyhow::anyhow!("--since {text:?}: expected a number and s, m, h or d"))?;
    let seconds = match unit {
        "s" => 1,
        "m" | "" => 60,
        "h" => 3_600,
        "d" => 86_400,
        _ => anyhow::bail!("--since {text:?}: the unit must be s, m, h or d"),
    };
    Ok(Duration::from_secs(number.saturating_mul(seconds)))
}

/// `esctl tail`.
pub async fn tail(kafka: &KafkaSettings, args: &TailArgs, as_json: bool) -> anyhow::Result<()> {
    require_broker(kafka).await?;
    let brokers = kafka.brokers.as_str();
    let probe = inspector(kafka)?;
    let topic = args.topic.clone();
    let (probe, marks) = tokio::task::spawn_blocking(move || {
        let marks = probe.watermarks(Some(&topic)).map(|mut topics| {
            topics
                .pop()
                .map(|topic| topic.partitions)
                .unwrap_or_default()
                .into_iter()
                .map(|marks| (marks.partition, marks.low, marks.high))
                .collect::<Vec<_>>()
        });
        (probe, marks)
    })
    .await?;
    let mut marks = marks.map_err(inspect_failure)?;
    // Where each partition starts.
    let mut starts: Vec<(i32, i64, i64)> = Vec::new();
    if let Some(spec) = &args.from_offset {
        let (partition, offset) = spec
            .split_once(':')
            .and_then(|(p, o)| Some((p.parse::<i32>().ok()?, o.parse::<i64>().ok()?)))
            .ok_or_else(|| {
                anyhow::anyhow!("--from-offset {spec:?}: expected PARTITION:OFFSET, e.g. 0:42")
            })?;
        let (_, low, high) = marks
            .iter()
            .copied()
            .find(|(p, _, _)| *p == partition)
            .ok_or_else(|| {
                Failure::not_found(format!("{} has no partition {partition}", args.topic))
            })?;
        starts.push((partition, offset.max(low), high));
    } else if let Some(since) = &args.since {
        let from = std::time::SystemTime::now() - *since;
        let millis = from.duration_since(std::time::UNIX_EPOCH)?.as_millis() as i64;
        let mut list = TopicPartitionList::new();
        for (partition, _, _) in &marks {
            list.add_partition_offset(&args.topic, *partition, Offset::Offset(millis))?;
        }
        let found =
            tokio::task::spawn_blocking(move || probe.consumer().offsets_for_times(list, TIMEOUT))
                .await?
                .map_err(|error| unreachable(brokers, error))?;
        for (partition, low, high) in marks.drain(..) {
            let start = match found
                .find_partition(&args.topic, partition)
                .map(|e| e.offset())
            {
                Some(Offset::Offset(at)) => at,
                _ => high,
            };
            starts.push((partition, start.max(low), high));
        }
    } else {
        for (partition, low, high) in marks.drain(..) {
            let start = if args.from_beginning {
                low
            } else {
                (high - DEFAULT_TAIL).max(low)
            };
            starts.push((partition, start, high));
        }
    }

    let consumer: StreamConsumer = config(kafka).create()?;
    let mut list = TopicPartitionList::new();
    for (partition, start, _) in &starts {
        list.add_partition_offset(&args.topic, *partition, Offset::Offset(*start))?;
    }
    consumer.assign(&list)?;
    // Without --follow, stop once every partition reached the end it had when we started.
    let mut pending: BTreeMap<i32, i64> = starts
        .iter()
        .filter(|(_, start, high)| start < high)
        .map(|(partition, _, high)| (*partition, *high))
        .collect();
    let mut shown = 0usize;
    loop {
        if !args.follow && pending.is_empty() {
            break;
        }
        if args.limit.is_some_and(|limit| shown >= limit) {
            break;
        }
        let message = match tokio::time::timeout(Duration::from_secs(30), consumer.recv()).await {
            Ok(message) => message.map_err(|error| unreachable(brokers, error))?,
            Err(_) if args.follow => continue,
            Err(_) => anyhow::bail!(
                "no message from {} for 30 s before reaching its end; is the broker healthy?",
                args.topic
            ),
        };
        if let Some(high) = pending.get(&message.partition())
            && message.offset() + 1 >= *high
        {
            pending.remove(&message.partition());
        }
        let record = render(&message);
        if args.key.as_deref().is_some_and(|key| record["key"] != key) {
            continue;
        }
        if args
            .event_type
            .as_deref()
            .is_some_and(|wanted| record["envelope"]["event_type"] != wanted)
        {
            continue;
        }
        shown += 1;
        print_record(&record, as_json);
    }
    if !as_json {
        eprintln!("{shown} message(s) from {}", args.topic);
    }
    Ok(())
}

/// A message as JSON: where it is, its key and headers, and the decoded envelope (or the raw
/// bytes and why they did not decode).
fn render(message: &BorrowedMessage<'_>) -> Value {
    let headers: serde_json::Map<String, Value> = message
        .headers()
        .map(|headers| {
            headers
                .iter()
                .map(|h| {
                    let value = String::from_utf8_lossy(h.value.unwrap_or_default()).into_owned();
                    (h.key.to_owned(), Value::String(value))
                })
                .collect()
        })
        .unwrap_or_default();
    let payload = message.payload().unwrap_or_default();
    let mut record = json!({
        "partition": message.partition(),
        "offset": message.offset(),
        "key": message.key().map(|k| String::from_utf8_lossy(k).into_owned()),
        "timestamp": message.timestamp().to_millis().and_then(chrono::DateTime::from_timestamp_millis),
        "headers": headers,
    });
    if let Value::Object(fields) = &mut record {
        fields.extend(contracts::json::envelope_or_raw(payload));
    }
    record
}

fn print_record(record: &Value, as_json: bool) {
    if as_json {
        println!("{record}");
        return;
    }
    let at = format!(
        "p{}@{} key={}",
        record["partition"],
        record["offset"],
        record["key"].as_str().unwrap_or("-")
    );
    let traceparent = record["headers"]["traceparent"].as_str().unwrap_or("-");
    match record.get("envelope") {
        Some(envelope) => {
            println!(
                "{at} {} seq={} event_id={} recorded_at={} actor={} traceparent={traceparent}",
                envelope["event_type"].as_str().unwrap_or("?"),
                envelope["sequence"],
                envelope["event_id"].as_str().unwrap_or("?"),
                envelope["recorded_at"].as_str().unwrap_or("?"),
                envelope["actor"].as_str().unwrap_or("?"),
            );
            println!("    {}", output::cut(&envelope["payload"].to_string(), 400));
        }
        None => println!(
            "{at} UNDECODABLE ({}) raw={}",
            record["error"].as_str().unwrap_or("?"),
            output::cut(record["raw_text"].as_str().unwrap_or_default(), 200)
        ),
    }
}
