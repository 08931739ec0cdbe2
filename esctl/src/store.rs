//! What esctl reads from an event store: streams, folded state, and replays of stored
//! envelopes. (The outbox's status is outbox-relay's, see `outbox.rs`.)

use std::time::{Duration, Instant};

use anyhow::Context as _;
use rdkafka::message::OwnedHeaders;
use rdkafka::producer::FutureRecord;
use serde_json::{Value, json};
use sqlx::postgres::PgPoolOptions;
use sqlx::{PgPool, Row};

use crate::context::Context;
use crate::failure::Failure;
use crate::output;

/// A pool on `url`, or a one-line "unreachable" failure naming it (without its password).
pub async fn connect(context: Context, url: &str) -> anyhow::Result<PgPool> {
    PgPoolOptions::new()
        .max_connections(2)
        .acquire_timeout(Duration::from_secs(5))
        .connect(url)
        .await
        .map_err(|error| {
            Failure::unreachable(format!(
                "cannot reach the {} event store at {}: {error}",
                context.aggregate_type(),
                redacted(url)
            ))
            .into()
        })
}

/// `url` with any password replaced by `***`.
pub fn redacted(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    match rest.split_once('@') {
        Some((credentials, host)) => {
            let user = credentials.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}:***@{host}")
        }
        None => url.to_owned(),
    }
}

async fn stream(
    pool: &PgPool,
    context: Context,
    id: &str,
) -> anyhow::Result<Vec<event_store::RecordedEvent>> {
    let events = event_store::read_stream(pool, context.reading(), context.aggregate_type(), id)
        .await
        .context("reading the stream")?;
    if events.is_empty() {
        return Err(Failure::not_found(format!(
            "no {} {id} in the event store",
            context.aggregate_type()
        ))
        .into());
    }
    Ok(events)
}

/// `esctl events`.
pub async fn events(
    pool: &PgPool,
    context: Context,
    id: &str,
    from_version: i64,
    json: bool,
) -> anyhow::Result<()> {
    let events: Vec<_> = stream(pool, context, id)
        .await?
        .into_iter()
        .filter(|event| event.sequence >= from_version)
        .collect();
    output::events(&events, json);
    Ok(())
}

/// `esctl state`: the aggregate folded by its own `apply`.
pub async fn state(
    pool: &PgPool,
    context: Context,
    id: &str,
    at_version: Option<i64>,
) -> anyhow::Result<()> {
    let events = stream(pool, context, id).await?;
    let last = events.last().map_or(0, |event| event.sequence);
    let version = at_version.unwrap_or(last);
    if version > last {
        return Err(Failure::not_found(format!(
            "{} {id} has {last} events; there is no version {version}",
            context.aggregate_type()
        ))
        .into());
    }
    let payloads = events
        .into_iter()
        .take_while(|event| event.sequence <= version)
        .map(|event| event.payload);
    let state = match context {
        Context::Users => domain_kit::fold::<users_domain::User>(payloads),
        Context::Orders => domain_kit::fold::<orders_domain::Order>(payloads),
    }
    .map_err(anyhow::Error::msg)?;
    output::json(&json!({
        "aggregate_type": context.aggregate_type(),
        "id": id,
        "version": version,
        "state": state,
    }));
    Ok(())
}

/// Events read from the store per round trip while replaying.
const REPLAY_PAGE: i64 = 1_000;

/// `esctl replay`: the stored envelopes in store order, keyed by aggregate id, through the
/// relay's own producer settings (idempotent, `acks=all`, the shared partitioner), so each
/// aggregate's events land on one partition in sequence order with their original ids. A
/// missing topic is created with `partitions` partitions.
pub async fn replay(
    pool: &PgPool,
    kafka: &service_kit::settings::KafkaSettings,
    context: Context,
    topic: &str,
    aggregate: Option<&str>,
    from_position: i64,
    partitions: i32,
) -> anyhow::Result<()> {
    let producer = outbox_relay::ProducerSettings {
        kafka: kafka.clone(),
        delivery_timeout: Duration::from_secs(30),
    }
    .create()
    .context("creating a producer")?;
    crate::kafka::require_broker(kafka).await?;
    let admin = service_kit::kafka::admin(kafka).context("creating an admin client")?;
    service_kit::kafka::ensure_topic(&admin, topic, partitions)
        .await
        .with_context(|| format!("creating the topic {topic}"))?;
    let total: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM events WHERE aggregate_type = $1 AND position >= $2 \
           AND ($3::text IS NULL OR aggregate_id = $3)",
    )
    .bind(context.aggregate_type())
    .bind(from_position)
    .bind(aggregate)
    .fetch_one(pool)
    .await
    .context("counting the events to replay")?;
    if total == 0 {
        return Err(Failure::not_found(match aggregate {
            Some(id) => format!("no {} {id} events to replay", context.aggregate_type()),
            None => format!("no {} events to replay", context.aggregate_type()),
        })
        .into());
    }
    let mut progress = output::Progress::new("replayed", total as u64);
    let started = Instant::now();
    let mut after = from_position - 1;
    let mut sent = 0u64;
    loop {
        let rows = sqlx::query(
            "SELECT position, aggregate_id, event_id, event_type, metadata, envelope FROM events \
              WHERE aggregate_type = $1 AND position > $2 AND ($3::text IS NULL OR aggregate_id = $3) \
              ORDER BY position LIMIT $4",
        )
        .bind(context.aggregate_type())
        .bind(after)
        .bind(aggregate)
        .bind(REPLAY_PAGE)
        .fetch_all(pool)
        .await
        .context("reading events to replay")?;
        let Some(last) = rows.last() else { break };
        after = last.get("position");
        // Enqueue the page in order, then await it: the producer keeps a partition's order.
        let mut deliveries = Vec::with_capacity(rows.len());
        for row in &rows {
            let key: String = row.get("aggregate_id");
            let envelope: Vec<u8> = row.get("envelope");
            let metadata =
                event_store::CommandMetadata::from_json(&row.get::<Value, _>("metadata"));
            let headers = event_store::outbox::headers(
                row.get("event_id"),
                row.get::<&str, _>("event_type"),
                metadata.traceparent.as_deref(),
            );
            let mut kafka_headers = OwnedHeaders::new();
            for (name, value) in &headers {
                kafka_headers = kafka_headers.insert(rdkafka::message::Header {
                    key: name,
                    value: value.as_str(),
                });
            }
            let record = FutureRecord::to(topic)
                .key(&key)
                .payload(&envelope)
                .headers(kafka_headers);
            deliveries.push(
                producer
                    .send_result(record)
                    .map_err(|(error, _)| anyhow::anyhow!("enqueueing a record: {error}"))?,
            );
        }
        for delivery in deliveries {
            delivery
                .await
                .context("the producer went away")?
                .map_err(|(error, _)| anyhow::anyhow!("publishing to {topic}: {error}"))?;
            sent += 1;
        }
        progress.update(sent);
    }
    progress.finish(sent);
    let seconds = started.elapsed().as_secs_f64();
    eprintln!(
        "replayed {sent} {} event(s) to {topic} in {seconds:.1} s",
        context.aggregate_type()
    );
    Ok(())
}
