//! The Kafka side: a consumer-group loop feeding batches to the projection.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rdkafka::client::ClientContext;
use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer,
};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Headers, Message};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::Projection;
use crate::internal_events;
use crate::process::{Incoming, apply_batch, park_stale_gaps};

/// How often the lag in events is measured (it asks the broker for every partition's end).
const LAG_INTERVAL: Duration = Duration::from_secs(5);
/// How long an instance may hold no partition before that is reported: joining a group, or a
/// rebalance after a member left (up to its session timeout), leaves it empty-handed for a
/// while on purpose.
const UNASSIGNED_GRACE: Duration = Duration::from_secs(20);

/// How a projector consumes.
#[derive(Debug, Clone)]
pub struct ProjectorConfig {
    /// The brokers and how to reach them.
    pub kafka: kafka_client::KafkaSettings,
    /// The aggregate's topic.
    pub topic: String,
    /// Consumer group; instances of one projection share it and split the partitions.
    pub group_id: String,
    /// Most events applied in one transaction (the bound on in-flight work).
    pub batch_size: usize,
    /// Attempts to apply an event before it is parked.
    pub apply_attempts: u32,
    /// How long an aggregate may wait for a missing sequence before it is parked.
    pub gap_timeout: Duration,
    /// How often gaps are checked and lag is measured.
    pub housekeeping_interval: Duration,
    /// Longest the broker may hold a fetch with nothing to return. Kafka answers as soon as a
    /// record arrives, so this sets how often an idle projector asks, not its latency.
    pub fetch_wait: Duration,
    /// A fault to inject, for crash tests. Never set in production.
    pub failpoint: Option<Failpoint>,
}

impl ProjectorConfig {
    /// A configuration for consuming `topic` in `group_id`, with defaults for the rest.
    pub fn new(
        kafka: kafka_client::KafkaSettings,
        topic: impl Into<String>,
        group_id: impl Into<String>,
    ) -> Self {
        Self {
            kafka,
            topic: topic.into(),
            group_id: group_id.into(),
            batch_size: 256,
            apply_attempts: 3,
            gap_timeout: Duration::from_secs(30),
            housekeeping_interval: Duration::from_secs(1),
            fetch_wait: Duration::from_millis(500),
            failpoint: None,
        }
    }
}

/// Faults the projector can inject into itself: to crash at the worst moment, or to be the
/// broken projector the fault campaign's checker must catch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failpoint {
    /// Stop forever after a batch committed to the database, before its offsets are stored,
    /// so a test can `kill -9` the process exactly there.
    PauseAfterCommit,
    /// A broken projector: every n-th event it applies is applied a second time.
    ApplyTwiceEvery(u64),
}

impl std::str::FromStr for Failpoint {
    type Err = String;
    fn from_str(value: &str) -> Result<Self, Self::Err> {
        let every = value
            .strip_prefix("apply-twice-every-")
            .map(|n| n.parse::<u64>().ok().filter(|n| *n > 0));
        match (value, every) {
            ("pause-after-commit", _) => Ok(Self::PauseAfterCommit),
            (_, Some(Some(n))) => Ok(Self::ApplyTwiceEvery(n)),
            (other, _) => Err(format!(
                "unknown projector failpoint {other:?} (pause-after-commit, apply-twice-every-<n>)"
            )),
        }
    }
}

/// The `apply-twice-every-<n>` failpoint: `inner`, applying every n-th event twice.
struct AppliesTwice<P> {
    inner: Arc<P>,
    every: u64,
    applied: Arc<AtomicU64>,
}

impl<P: Projection> Projection for AppliesTwice<P> {
    fn schema(&self) -> &str {
        self.inner.schema()
    }

    fn ddl(&self) -> &str {
        self.inner.ddl()
    }

    fn upgrades(&self) -> &str {
        self.inner.upgrades()
    }

    async fn apply(
        &self,
        connection: &mut sqlx::PgConnection,
        event: &contracts::events::v1::EventEnvelope,
    ) -> Result<(), crate::ApplyError> {
        self.inner.apply(connection, event).await?;
        if (self.applied.fetch_add(1, Ordering::Relaxed) + 1).is_multiple_of(self.every) {
            internal_events::failpoint_applied_twice(self.inner.schema(), &event.event_id);
            self.inner.apply(connection, event).await?;
        }
        Ok(())
    }
}

/// Counters of one projector instance, readable while it runs.
#[derive(Debug, Default)]
pub struct ProjectorStats {
    pub applied: AtomicU64,
    pub duplicates: AtomicU64,
    pub pending: AtomicU64,
    pub parked: AtomicU64,
    /// Partitions assigned to this instance at the last measurement (every 5 s).
    pub assigned_partitions: AtomicU64,
    /// Events the whole group lags behind the topic's end while this instance holds no
    /// partition and the group's committed offsets stand still (0 otherwise): work it can see
    /// but nobody does.
    pub group_lag_while_unassigned: AtomicU64,
}

/// Commits the stored offsets before partitions are taken away, so the next owner starts
/// where this one stopped.
struct CommitOnRevoke;

impl ClientContext for CommitOnRevoke {}

impl ConsumerContext for CommitOnRevoke {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(partitions) = rebalance {
            internal_events::revoked(partitions.count());
            commit(consumer);
        }
    }
}

fn commit<C: Consumer<CommitOnRevoke>>(consumer: &C) {
    match consumer.commit_consumer_state(CommitMode::Sync) {
        Ok(()) | Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => {}
        Err(error) => internal_events::commit_failed(&error),
    }
}

/// Runs one projection from its topic.
pub struct Projector<P> {
    pool: PgPool,
    projection: Arc<P>,
    config: ProjectorConfig,
    stats: Arc<ProjectorStats>,
    /// Events applied, for the `apply-twice-every-<n>` failpoint.
    applied: Arc<AtomicU64>,
}

impl<P: Projection> Projector<P> {
    /// A projector writing to `pool` (where `ensure_schema` created the projection's schema).
    pub fn new(pool: PgPool, projection: Arc<P>, config: ProjectorConfig) -> Self {
        Self {
            pool,
            projection,
            config,
            stats: Arc::default(),
            applied: Arc::default(),
        }
    }

    /// Counters that stay readable while `run` goes on.
    pub fn stats(&self) -> Arc<ProjectorStats> {
        self.stats.clone()
    }

    /// Consumes until `cancel` fires; then commits the offsets of everything applied.
    pub async fn run(self, cancel: CancellationToken) -> Result<(), KafkaError> {
        let consumer: StreamConsumer<CommitOnRevoke> = self
            .config
            .kafka
            .client_config()
            .set("group.id", &self.config.group_id)
            .set("enable.auto.commit", "true")
            .set("auto.commit.interval.ms", "1000")
            // Offsets are stored by hand, after the database commit.
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest")
            .set(
                "fetch.wait.max.ms",
                self.config.fetch_wait.as_millis().max(1).to_string(),
            )
            // A crashed instance's partitions move to the others after 10 s, not 45.
            .set("session.timeout.ms", "10000")
            .set("heartbeat.interval.ms", "2000")
            .create_with_context(CommitOnRevoke)?;
        consumer.subscribe(&[&self.config.topic])?;
        let consumer = Arc::new(consumer);
        let name = self.projection.schema().to_owned();
        internal_events::started(&name, &self.config.topic, &self.config.group_id);
        if let Some(failpoint) = self.config.failpoint {
            internal_events::failpoint_set(&name, &format!("{failpoint:?}"));
        }
        // Same group, never subscribed: reads the group's committed offsets.
        let observer: BaseConsumer = self
            .config
            .kafka
            .client_config()
            .set("group.id", &self.config.group_id)
            .set("enable.auto.commit", "false")
            .create()?;
        let lag = tokio::spawn(measure_lag(
            consumer.clone(),
            Arc::new(observer),
            self.config.topic.clone(),
            self.stats.clone(),
            name.clone(),
            LAG_INTERVAL,
            cancel.clone(),
        ));
        let mut housekeeping = tokio::time::interval(self.config.housekeeping_interval);
        housekeeping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut backoff = Duration::from_millis(100);
        while !cancel.is_cancelled() {
            // Not biased: a due housekeeping tick must not starve the consumer, nor the reverse.
            let first = tokio::select! {
                () = cancel.cancelled() => break,
                _ = housekeeping.tick() => {
                    self.park_stale_gaps().await;
                    continue;
                }
                message = consumer.recv() => message,
            };
            let first = match first {
                Ok(message) => incoming(&message),
                Err(error) => {
                    internal_events::receive_failed(&name, &error);
                    tokio::select! {
                        () = cancel.cancelled() => break,
                        () = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                    continue;
                }
            };
            backoff = Duration::from_millis(100);
            let mut batch = vec![first];
            while batch.len() < self.config.batch_size {
                match tokio::time::timeout(Duration::ZERO, consumer.recv()).await {
                    Ok(Ok(message)) => batch.push(incoming(&message)),
                    _ => break,
                }
            }
            if !self.apply_until_committed(&batch, &cancel).await {
                break;
            }
            if self.config.failpoint == Some(Failpoint::PauseAfterCommit) {
                internal_events::failpoint_paused(&name, batch.len());
                std::future::pending::<()>().await;
            }
            for message in &batch {
                // Fails only for a partition no longer assigned: its new owner re-reads from
                // the committed offset, and the checkpoints make that a duplicate.
                if let Err(error) =
                    consumer.store_offset(&message.topic, message.partition, message.offset)
                {
                    internal_events::store_offset_failed(&name, &error);
                }
            }
        }
        let _ = lag.await;
        commit(consumer.as_ref());
        internal_events::stopped(&name);
        Ok(())
    }

    /// Applies the batch, retrying failed transactions until one commits; false if shutdown
    /// came first (nothing of the batch is then committed or acknowledged).
    async fn apply_until_committed(&self, batch: &[Incoming], cancel: &CancellationToken) -> bool {
        let name = self.projection.schema();
        let mut backoff = Duration::from_millis(100);
        loop {
            let started = Instant::now();
            let attempts = self.config.apply_attempts;
            let applied = match self.config.failpoint {
                Some(Failpoint::ApplyTwiceEvery(every)) => {
                    let broken = AppliesTwice {
                        inner: self.projection.clone(),
                        every,
                        applied: self.applied.clone(),
                    };
                    apply_batch(&self.pool, &broken, name, batch, attempts, true).await
                }
                _ => {
                    apply_batch(
                        &self.pool,
                        self.projection.as_ref(),
                        name,
                        batch,
                        attempts,
                        true,
                    )
                    .await
                }
            };
            match applied {
                Ok(outcome) => {
                    self.stats
                        .applied
                        .fetch_add(outcome.applied, Ordering::Relaxed);
                    self.stats
                        .duplicates
                        .fetch_add(outcome.duplicates, Ordering::Relaxed);
                    self.stats
                        .pending
                        .fetch_add(outcome.pending, Ordering::Relaxed);
                    self.stats
                        .parked
                        .fetch_add(outcome.parked, Ordering::Relaxed);
                    internal_events::batch_applied(name, &outcome, started.elapsed());
                    return true;
                }
                Err(error) => {
                    internal_events::batch_failed(name, &error);
                    tokio::select! {
                        () = cancel.cancelled() => return false,
                        () = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
    }

    async fn park_stale_gaps(&self) {
        let name = self.projection.schema();
        match park_stale_gaps(
            &self.pool,
            self.projection.as_ref(),
            self.config.gap_timeout.as_secs_f64(),
        )
        .await
        {
            Ok(0) => {}
            Ok(parked) => {
                self.stats.parked.fetch_add(parked, Ordering::Relaxed);
                internal_events::gap_parked(name, parked);
            }
            Err(error) => internal_events::gap_sweep_failed(name, &error),
        }
        if let Ok(parked) = crate::admin::count_parked(&self.pool, self.projection.as_ref()).await {
            internal_events::parked_now(name, parked);
        }
    }
}

/// Reports the lag in events every `interval` until `cancel` fires. Its own task: asking the
/// broker for watermarks blocks.
async fn measure_lag(
    consumer: Arc<StreamConsumer<CommitOnRevoke>>,
    observer: Arc<BaseConsumer>,
    topic: String,
    stats: Arc<ProjectorStats>,
    name: String,
    interval: Duration,
    cancel: CancellationToken,
) {
    // Since when this instance has held no partition (None while it holds some).
    let mut empty_since: Option<Instant> = None;
    // The group's committed offsets (summed) at the previous measurement while empty-handed:
    // a spare member of a group that moves on is no news; one whose group lags and stands
    // still is.
    let mut last_committed: Option<i64> = None;
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            () = tokio::time::sleep(interval) => {}
        }
        let (consumer, observer, topic) = (consumer.clone(), observer.clone(), topic.clone());
        // Empty-handed for longer than the grace: ask what the group as a whole lags.
        let overdue = empty_since.is_some_and(|since| since.elapsed() >= UNASSIGNED_GRACE);
        let measured = tokio::task::spawn_blocking(move || {
            let assigned = consumer.assignment().map(|list| list.count()).ok();
            // Drains the observer's own error events (it is never polled otherwise).
            let _ = observer.poll(Duration::ZERO);
            let group = match assigned {
                Some(0) if overdue => group_lag(&observer, &topic),
                _ => None,
            };
            (lag_in_events(consumer.as_ref()), assigned, group)
        })
        .await;
        let Ok((lag, assigned, group)) = measured else {
            continue;
        };
        let idle_lag = match group {
            Some((lag, committed)) => {
                let stuck = lag > 0 && last_committed == Some(committed);
                last_committed = Some(committed);
                stuck.then_some(lag).or(Some(0))
            }
            None if overdue => None,
            None => {
                last_committed = None;
                Some(0)
            }
        };
        if let Some(lag) = lag {
            internal_events::lag(&name, lag);
        }
        if let Some(assigned) = assigned {
            stats
                .assigned_partitions
                .store(assigned as u64, Ordering::Relaxed);
            internal_events::assigned(&name, assigned);
            if assigned == 0 {
                empty_since.get_or_insert_with(Instant::now);
            } else {
                empty_since = None;
            }
        }
        if let Some(idle_lag) = idle_lag {
            let idle_lag = idle_lag.max(0) as u64;
            stats
                .group_lag_while_unassigned
                .store(idle_lag, Ordering::Relaxed);
            internal_events::group_lag_while_unassigned(&name, idle_lag);
        }
    }
}

/// Records between the group's committed offsets and the end of every partition of `topic`
/// (what the group as a whole still has to do), and the sum of those offsets (how far it
/// got). Asked through `observer`, a client of the same group that never joins it: the member
/// itself cannot fetch offsets while it waits to join.
fn group_lag(observer: &BaseConsumer, topic: &str) -> Option<(i64, i64)> {
    let timeout = Duration::from_secs(2);
    let metadata = observer.fetch_metadata(Some(topic), timeout).ok()?;
    let mut partitions = rdkafka::TopicPartitionList::new();
    for partition in metadata.topics().first()?.partitions() {
        partitions.add_partition(topic, partition.id());
    }
    let committed = observer.committed_offsets(partitions, timeout).ok()?;
    let (mut lag, mut sum) = (0, 0);
    for element in committed.elements() {
        let (low, high) = observer
            .fetch_watermarks(topic, element.partition(), timeout)
            .ok()?;
        let at = element
            .offset()
            .to_raw()
            .filter(|offset| *offset >= 0)
            .unwrap_or(low);
        lag += (high - at).max(0);
        sum += at;
    }
    Some((lag, sum))
}

/// Records between the consumer's position and the end of each assigned partition.
fn lag_in_events(consumer: &StreamConsumer<CommitOnRevoke>) -> Option<i64> {
    let position = consumer.position().ok()?;
    let mut lag = 0;
    for element in position.elements() {
        let (_, high) = consumer
            .fetch_watermarks(element.topic(), element.partition(), Duration::from_secs(1))
            .ok()?;
        let at = element
            .offset()
            .to_raw()
            .filter(|offset| *offset >= 0)
            .unwrap_or(0);
        lag += (high - at).max(0);
    }
    Some(lag)
}

fn incoming(message: &rdkafka::message::BorrowedMessage<'_>) -> Incoming {
    Incoming {
        // Postgres text cannot hold NUL; such a key can never match an envelope anyway, so the
        // record is parked (as a key mismatch) instead of failing every batch.
        key: String::from_utf8_lossy(message.key().unwrap_or_default()).replace('\0', "\u{FFFD}"),
        payload: message.payload().unwrap_or_default().to_vec(),
        topic: message.topic().to_owned(),
        partition: message.partition(),
        offset: message.offset(),
        traceparent: message.headers().and_then(|headers| {
            headers
                .iter()
                .find(|header| header.key == trace_context::TRACEPARENT)
                .and_then(|header| header.value)
                .and_then(|value| std::str::from_utf8(value).ok())
                .map(str::to_owned)
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::Failpoint;

    #[test]
    fn a_failpoint_is_one_of_the_known_ones() {
        assert_eq!(
            "pause-after-commit".parse(),
            Ok(Failpoint::PauseAfterCommit)
        );
        assert_eq!(
            "apply-twice-every-5".parse(),
            Ok(Failpoint::ApplyTwiceEvery(5))
        );
        for unknown in ["apply-twice-every-0", "apply-twice-every-", "twice", ""] {
            let refused = unknown.parse::<Failpoint>().expect_err(unknown);
            assert!(refused.contains("apply-twice-every-<n>"), "{refused}");
        }
    }
}
