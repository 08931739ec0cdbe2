//! The outbox relay: publishes committed outbox rows to Kafka, in per-aggregate order, at
//! least once.
//!
//! Rows are grouped into lease partitions (see `event_store::outbox`). A relay takes a
//! partition's lease with a transaction-scoped Postgres advisory lock, reads a batch in row
//! order, publishes it with an idempotent producer (`acks=all`), and deletes only the rows the
//! broker acknowledged before committing. Any number of replicas may run: a partition is
//! relayed by one of them at a time, so an aggregate's events are never raced onto the topic.
//! A relay wakes on `NOTIFY` from committing writers and sweeps every partition on an
//! interval in case a notification was missed.

mod internal_events;
mod producer;
pub mod status;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use event_store::outbox::{NOTIFY_CHANNEL, PARTITIONS};
use futures::StreamExt as _;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use sqlx::postgres::PgListener;
use sqlx::{PgPool, Row};
use tokio_util::sync::CancellationToken;

pub use producer::ProducerSettings;

/// Advisory-lock namespace of the outbox leases (first key of `pg_try_advisory_xact_lock`).
pub const LEASE_NAMESPACE: i32 = 0x6f75_7462; // "outb"

/// How the relay behaves.
#[derive(Debug, Clone)]
pub struct RelayConfig {
    /// Rows read and published per transaction.
    pub batch_size: i64,
    /// Every partition is swept this often, in case a notification was missed.
    pub sweep_interval: Duration,
    /// Longest pause after a failure before the partition is tried again.
    pub max_backoff: Duration,
    /// Partitions relayed at once, each on a connection of its own: one partition's wait for
    /// the broker's acknowledgements overlaps another's database work. 4 drains a backlog
    /// about a third faster than 1 (docs/benchmarks.md), for three more connections.
    pub concurrency: usize,
    /// Times the broker may refuse a row (too large, invalid) before the row is set aside with
    /// the later rows of its aggregate, so the other aggregates flow (see [`status`]).
    pub max_attempts: i32,
    /// A fault to inject, for crash tests. Never set in production.
    pub failpoint: Option<Failpoint>,
}

impl Default for RelayConfig {
    fn default() -> Self {
        Self {
            batch_size: 500,
            sweep_interval: Duration::from_secs(5),
            max_backoff: Duration::from_secs(5),
            concurrency: 1,
            max_attempts: 5,
            failpoint: None,
        }
    }
}

/// Faults the relay can inject into itself, to prove that crashes lose nothing, and that the
/// fault campaign's checker catches a relay that does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failpoint {
    /// Stop forever once the broker acknowledged a batch, before its rows are deleted (the
    /// transaction stays open), so a test can `kill -9` the process exactly there.
    PauseAfterAck,
    /// A broken relay: every n-th row it reads is deleted without being published.
    DropEvery(u64),
}

impl std::str::FromStr for Failpoint {
    type Err = String;
    fn from_str(value: &str) -> Result<Self, Self::Err> {
        let every = value
            .strip_prefix("drop-every-")
            .map(|n| n.parse::<u64>().ok().filter(|n| *n > 0));
        match (value, every) {
            ("pause-after-ack", _) => Ok(Self::PauseAfterAck),
            (_, Some(Some(n))) => Ok(Self::DropEvery(n)),
            (other, _) => Err(format!(
                "unknown relay failpoint {other:?} (pause-after-ack, drop-every-<n>)"
            )),
        }
    }
}

/// Why a relay pass failed. The rows stay in the outbox and are retried.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    /// The outbox could not be read or updated.
    #[error("outbox database error")]
    Database(#[from] sqlx::Error),
    /// The broker did not acknowledge a record.
    #[error("kafka did not acknowledge a record")]
    Kafka(#[from] rdkafka::error::KafkaError),
}

/// What relaying a partition ended with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pass {
    /// The partition was empty when last read.
    Drained,
    /// Another relay holds the partition's lease; it drains the partition.
    LeaseHeld,
    /// Shutdown was requested between batches.
    Interrupted,
}

/// Publishes one outbox's rows to Kafka.
pub struct Relay {
    pool: PgPool,
    producer_settings: ProducerSettings,
    /// Replaced when the idempotent producer reports a fatal error.
    producer: std::sync::Mutex<FutureProducer>,
    config: RelayConfig,
    /// Rows read so far, for the `drop-every-<n>` failpoint.
    rows_read: std::sync::atomic::AtomicU64,
}

impl Relay {
    /// A relay of the outbox in `pool`, publishing to the brokers of `producer`.
    pub fn new(
        pool: PgPool,
        producer: ProducerSettings,
        config: RelayConfig,
    ) -> Result<Self, RelayError> {
        Ok(Self {
            pool,
            producer: std::sync::Mutex::new(producer.create()?),
            producer_settings: producer,
            config,
            rows_read: std::sync::atomic::AtomicU64::new(0),
        })
    }

    fn producer(&self) -> FutureProducer {
        self.producer
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// After a fatal error the idempotent producer accepts nothing more: start a new one.
    fn renew_producer_if_fatal(&self, producer: &FutureProducer) {
        if let Some((code, reason)) = producer.client().fatal_error() {
            internal_events::producer_fatal(&format!("{code:?}: {reason}"));
            match self.producer_settings.create() {
                Ok(fresh) => {
                    *self
                        .producer
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner) = fresh;
                }
                Err(error) => internal_events::producer_renewal_failed(&error),
            }
        }
    }

    /// Relays until `cancel` fires; the batch in flight is finished (or abandoned, to be
    /// republished) before it returns.
    pub async fn run(self, cancel: CancellationToken) -> Result<(), RelayError> {
        if let Some(failpoint) = self.config.failpoint {
            internal_events::failpoint_set(&format!("{failpoint:?}"));
        }
        // Without the database there is nothing to relay: wait for it rather than give up.
        let mut listener = loop {
            match self.listen().await {
                Ok(listener) => break listener,
                Err(error) => {
                    internal_events::listener_failed(&error);
                    tokio::select! {
                        () = cancel.cancelled() => return Ok(()),
                        () = tokio::time::sleep(self.config.max_backoff) => {}
                    }
                }
            }
        };
        let mut dirty: BTreeSet<i16> = (0..PARTITIONS).collect();
        let mut backoff = Duration::ZERO;
        let mut next_sweep = Instant::now() + self.config.sweep_interval;
        internal_events::started();
        let gauges = tokio::spawn(measure_backlog_every(
            self.pool.clone(),
            self.config.sweep_interval.min(Duration::from_secs(5)),
            cancel.child_token(),
        ));
        while !cancel.is_cancelled() {
            let mut failed = false;
            // Each partition is relayed by one pass at a time, so its rows keep their order.
            let (relay, cancel) = (&self, &cancel);
            let mut passes = futures::stream::iter(std::mem::take(&mut dirty))
                .take_while(|_| std::future::ready(!cancel.is_cancelled()))
                .map(|partition| async move {
                    (partition, relay.relay_partition(partition, cancel).await)
                })
                .buffer_unordered(self.config.concurrency.max(1));
            while let Some((partition, pass)) = passes.next().await {
                match pass {
                    Ok(Pass::Drained | Pass::LeaseHeld | Pass::Interrupted) => {}
                    Err(error) => {
                        internal_events::pass_failed(partition, &error);
                        dirty.insert(partition);
                        failed = true;
                    }
                }
            }
            backoff = if failed {
                (backoff * 2).clamp(Duration::from_millis(100), self.config.max_backoff)
            } else {
                Duration::ZERO
            };
            if !dirty.is_empty() {
                // Keep reading notifications while backing off: an unread listener holds back
                // Postgres's notification queue, and a full queue fails every commit.
                let until = tokio::time::Instant::now() + backoff;
                loop {
                    tokio::select! {
                        () = cancel.cancelled() => break,
                        () = tokio::time::sleep_until(until) => break,
                        notification = listener.recv() => match notification {
                            Ok(notification) => dirty.extend(notification.payload().parse::<i16>().ok()),
                            Err(_) => dirty.extend(0..PARTITIONS),
                        },
                    }
                }
                continue;
            }
            tokio::select! {
                () = cancel.cancelled() => break,
                notification = listener.recv() => match notification {
                    Ok(notification) => {
                        dirty.extend(notification.payload().parse::<i16>().ok());
                        // Take every notification already queued, so a burst is one pass.
                        while let Ok(Ok(more)) =
                            tokio::time::timeout(Duration::ZERO, listener.recv()).await
                        {
                            dirty.extend(more.payload().parse::<i16>().ok());
                        }
                    }
                    Err(error) => {
                        // The listener reconnects on the next recv; notifications sent
                        // meanwhile are lost, so sweep everything.
                        internal_events::listener_failed(&error);
                        dirty.extend(0..PARTITIONS);
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                },
                () = tokio::time::sleep_until(next_sweep.into()) => {
                    dirty.extend(0..PARTITIONS);
                }
            }
            if Instant::now() >= next_sweep {
                next_sweep = Instant::now() + self.config.sweep_interval;
                dirty.extend(0..PARTITIONS);
            }
        }
        gauges.abort();
        self.producer_flush();
        internal_events::stopped();
        Ok(())
    }

    async fn listen(&self) -> Result<PgListener, sqlx::Error> {
        let mut listener = PgListener::connect_with(&self.pool).await?;
        listener.listen(NOTIFY_CHANNEL).await?;
        Ok(listener)
    }

    /// Relays every row visible now, in every partition whose lease is free; returns how many
    /// rows were published. For tools and tests that want a relay pass without the loop.
    pub async fn relay_visible(&self) -> Result<u64, RelayError> {
        let before = self.outbox_len().await?;
        let never = CancellationToken::new();
        for partition in 0..PARTITIONS {
            self.relay_partition(partition, &never).await?;
        }
        Ok(before.saturating_sub(self.outbox_len().await?))
    }

    async fn outbox_len(&self) -> Result<u64, RelayError> {
        let count: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox")
            .fetch_one(&self.pool)
            .await?;
        Ok(count.unsigned_abs())
    }

    async fn relay_partition(
        &self,
        partition: i16,
        cancel: &CancellationToken,
    ) -> Result<Pass, RelayError> {
        // After a refusal of a batch, the first row not acknowledged is sent alone: a broker
        // refuses a whole record batch for one bad record in it, and only the bad one may be
        // counted and set aside.
        let mut alone = false;
        loop {
            let limit = if alone { 1 } else { self.config.batch_size };
            let mut tx = self.pool.begin().await?;
            let leased: bool = sqlx::query_scalar("SELECT pg_try_advisory_xact_lock($1, $2)")
                .bind(LEASE_NAMESPACE)
                .bind(i32::from(partition))
                .fetch_one(&mut *tx)
                .await?;
            if !leased {
                return Ok(Pass::LeaseHeld);
            }
            // A set-aside row holds back the later rows of its aggregate, never the others.
            let rows = sqlx::query(
                "SELECT id, topic, message_key, payload, headers, \
                 extract(epoch from now() - created_at)::float8 AS age_seconds \
                 FROM outbox o WHERE partition_key = $1 AND set_aside_at IS NULL \
                 AND NOT EXISTS (SELECT 1 FROM outbox s WHERE s.partition_key = $1 \
                     AND s.set_aside_at IS NOT NULL AND s.topic = o.topic \
                     AND s.message_key = o.message_key) \
                 ORDER BY id LIMIT $2",
            )
            .bind(partition)
            .bind(limit)
            .fetch_all(&mut *tx)
            .await?;
            let read = rows.len();
            let (rows, dropped) = self.failpoint_drops(rows)?;
            if rows.is_empty() && !dropped.is_empty() {
                delete_rows(&mut tx, &dropped).await?;
                tx.commit().await?;
                continue;
            }
            if rows.is_empty() {
                tx.commit().await?;
                return Ok(Pass::Drained);
            }
            let started = Instant::now();
            let (acked, failure) = self.publish(&rows).await?;
            if acked > 0 && self.config.failpoint == Some(Failpoint::PauseAfterAck) {
                internal_events::failpoint_paused(acked);
                std::future::pending::<()>().await;
            }
            let mut ids: Vec<i64> = rows[..acked]
                .iter()
                .map(|row| row.try_get("id"))
                .collect::<Result<_, _>>()?;
            ids.extend(dropped);
            delete_rows(&mut tx, &ids).await?;
            // A refusal counts against a row sent alone; in a batch, it sends the first row not
            // acknowledged alone next.
            let refusal = failure.as_ref().filter(|error| is_refusal(error));
            let refused = match (refusal, rows.get(acked)) {
                (Some(error), Some(row)) if rows.len() == acked + 1 => {
                    Some(self.count_refusal(&mut tx, row, error).await?)
                }
                _ => None,
            };
            tx.commit().await?;
            if acked > 0 {
                let oldest: f64 = rows[0].try_get("age_seconds")?;
                internal_events::published(partition, acked, oldest, started.elapsed());
            }
            let counted = refused.is_some();
            if let Some(set_aside) = refused.flatten() {
                internal_events::set_aside(partition, &set_aside);
                // Its aggregate waits; the rest of the partition goes on at once.
                alone = false;
                continue;
            }
            if refusal.is_some() && !counted {
                alone = true;
                continue;
            }
            if let Some(error) = failure {
                return Err(error.into());
            }
            if alone {
                alone = false;
                continue;
            }
            if read < limit as usize {
                return Ok(Pass::Drained);
            }
            if cancel.is_cancelled() {
                return Ok(Pass::Interrupted);
            }
        }
    }

    /// With the `drop-every-<n>` failpoint, takes every n-th row read out of `rows` and
    /// answers its id, to be deleted unpublished; without it, answers `rows` whole.
    fn failpoint_drops(
        &self,
        rows: Vec<sqlx::postgres::PgRow>,
    ) -> Result<(Vec<sqlx::postgres::PgRow>, Vec<i64>), RelayError> {
        let Some(Failpoint::DropEvery(every)) = self.config.failpoint else {
            return Ok((rows, Vec::new()));
        };
        let (mut kept, mut dropped) = (Vec::with_capacity(rows.len()), Vec::new());
        for row in rows {
            let read = self
                .rows_read
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            if (read + 1).is_multiple_of(every) {
                let id: i64 = row.try_get("id")?;
                internal_events::failpoint_dropped(id);
                dropped.push(id);
            } else {
                kept.push(row);
            }
        }
        Ok((kept, dropped))
    }

    /// Counts a refusal against `row`; sets it aside (answering what it was) once it has been
    /// refused `max_attempts` times.
    async fn count_refusal(
        &self,
        tx: &mut sqlx::PgConnection,
        row: &sqlx::postgres::PgRow,
        error: &rdkafka::error::KafkaError,
    ) -> Result<Option<status::SetAside>, RelayError> {
        let id: i64 = row.try_get("id")?;
        let set_aside: Option<status::SetAside> = sqlx::query_as(
            "UPDATE outbox SET attempts = attempts + 1, last_error = $2, \
                 set_aside_at = CASE WHEN attempts + 1 >= $3 THEN now() END \
             WHERE id = $1 \
             RETURNING id, topic, message_key, event_id, attempts, last_error, set_aside_at, \
                 0::bigint AS held_back \
             ",
        )
        .bind(id)
        .bind(error.to_string())
        .bind(self.config.max_attempts.max(1))
        .fetch_optional(&mut *tx)
        .await?
        .filter(|row: &status::SetAside| row.set_aside_at.is_some());
        Ok(set_aside)
    }

    /// Sends every row and waits for the broker. Returns how many leading rows were
    /// acknowledged, and the error that stopped the rest.
    async fn publish(
        &self,
        rows: &[sqlx::postgres::PgRow],
    ) -> Result<(usize, Option<rdkafka::error::KafkaError>), RelayError> {
        let producer = self.producer();
        let mut deliveries = Vec::with_capacity(rows.len());
        // Each row's publish span, ended once the broker answered.
        let mut spans = Vec::with_capacity(rows.len());
        let mut send_failure = None;
        for row in rows {
            let topic: &str = row.try_get("topic")?;
            let key: &str = row.try_get("message_key")?;
            let payload: &[u8] = row.try_get("payload")?;
            let headers: serde_json::Value = row.try_get("headers")?;
            // The publish is a span of the trace that wrote the row; consumers continue it.
            let span = tracing::info_span!(
                "outbox.publish",
                otel.name = %format!("{topic} publish"),
                otel.kind = "producer",
                messaging.system = "kafka",
                messaging.destination.name = %topic,
            );
            trace_context::set_parent(&span, headers[trace_context::TRACEPARENT].as_str());
            let traceparent = trace_context::of(&span);
            let mut kafka_headers = OwnedHeaders::new();
            for (name, value) in headers.as_object().into_iter().flatten() {
                let value = match traceparent.as_deref() {
                    Some(ours) if name == trace_context::TRACEPARENT => Some(ours),
                    _ => value.as_str(),
                };
                if let Some(value) = value {
                    kafka_headers = kafka_headers.insert(Header {
                        key: name,
                        value: Some(value),
                    });
                }
            }
            // A row written without a trace (older rows, a replay) starts one here, and its
            // consumers continue it.
            if headers.get(trace_context::TRACEPARENT).is_none()
                && let Some(ours) = traceparent.as_deref()
            {
                kafka_headers = kafka_headers.insert(Header {
                    key: trace_context::TRACEPARENT,
                    value: Some(ours),
                });
            }
            spans.push(span);
            let record = FutureRecord::to(topic)
                .key(key)
                .payload(payload)
                .headers(kafka_headers);
            match producer.send_result(record) {
                Ok(delivery) => deliveries.push(delivery),
                Err((error, _)) => {
                    // Rows after this one are not sent, so the prefix stays a prefix.
                    send_failure = Some(error);
                    break;
                }
            }
        }
        // Awaited in order: a row counts only if every row before it was acknowledged too.
        let mut acked = 0;
        let mut failure = None;
        for delivery in deliveries {
            let error = match delivery.await {
                Ok(Ok(_)) if failure.is_none() => {
                    acked += 1;
                    continue;
                }
                Ok(Ok(_)) => continue,
                Ok(Err((error, _))) => error,
                Err(_canceled) => rdkafka::error::KafkaError::Canceled,
            };
            failure.get_or_insert(error);
        }
        drop(spans);
        let failure = failure.or(send_failure);
        if failure.is_some() {
            self.renew_producer_if_fatal(&producer);
        }
        Ok((acked, failure))
    }

    fn producer_flush(&self) {
        if let Err(error) = self.producer().flush(Duration::from_secs(5)) {
            internal_events::flush_failed(&error);
        }
    }
}

async fn delete_rows(tx: &mut sqlx::PgConnection, ids: &[i64]) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM outbox WHERE id = ANY($1)")
        .bind(ids)
        .execute(tx)
        .await?;
    Ok(())
}

/// Whether the broker (or the client, before sending) refused this record for what it is,
/// so sending it again cannot succeed until something changes: too large, invalid, against
/// a policy. Outages, timeouts and errors of the whole topic (unknown, not authorized) are not:
/// they are retried, and the backlog's age alerts.
fn is_refusal(error: &rdkafka::error::KafkaError) -> bool {
    use rdkafka::error::{KafkaError, RDKafkaErrorCode as Code};
    matches!(
        error,
        KafkaError::MessageProduction(
            Code::MessageSizeTooLarge
                | Code::InvalidMessageSize
                | Code::InvalidMessage
                | Code::InvalidRecord
                | Code::PolicyViolation
                | Code::BadMessage
        )
    )
}

/// Measures the outbox every `every` until `cancel`: on its own task, so the gauges stay
/// current while a pass waits on a slow or unreachable broker (when the alerts need them).
async fn measure_backlog_every(pool: PgPool, every: Duration, cancel: CancellationToken) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            _ = ticks.tick() => measure_backlog(&pool).await,
        }
    }
}

async fn measure_backlog(pool: &PgPool) {
    if let Ok(backlog) = status::backlog(pool).await {
        internal_events::backlog(
            backlog.unpublished,
            backlog.oldest_age_seconds.unwrap_or(0.0),
            backlog.set_aside,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::Failpoint;

    #[test]
    fn a_failpoint_is_one_of_the_known_ones() {
        assert_eq!("pause-after-ack".parse(), Ok(Failpoint::PauseAfterAck));
        assert_eq!("drop-every-20".parse(), Ok(Failpoint::DropEvery(20)));
        for unknown in ["drop-every-0", "drop-every-", "drop-every-x", "pause", ""] {
            let refused = unknown.parse::<Failpoint>().expect_err(unknown);
            assert!(refused.contains("drop-every-<n>"), "{refused}");
        }
    }
}
