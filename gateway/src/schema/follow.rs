//! Following one request through the whole pipeline: from its correlation id to every event
//! it caused (in both event stores), each event's outbox row, its record on the topic, each
//! consumer that applied it, and the saga steps it started, with the time every hop took and
//! the hop where it waits now.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_graphql::{Context, Enum, Object, SimpleObject, Subscription};
use chrono::{DateTime, Utc};
use futures::Stream;
use kafka_client::inspect::{Inspector, reader_config};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use serde::Deserialize;
use uuid::Uuid;

use super::operator;
use super::sagas::Saga;
use super::topics::{BROKER_TIMEOUT, Kafka};
use crate::settings::PipelineSettings;
use crate::upstream::{Caller, Found, Service, Upstreams, refused};

/// Where a hop stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
pub enum HopState {
    /// Happened.
    Done,
    /// Not yet: the request waits here.
    Waiting,
    /// Will not happen without an operator (set aside, failed).
    Failed,
    /// Could not be told (e.g. the record was not found among those read).
    Unknown,
}

/// One step of an event's way through the pipeline.
#[derive(Debug, Clone, SimpleObject)]
pub struct Hop {
    /// e.g. `event store`, `outbox`, `orders.events`, `orders-query`, `saga: reserve-credit`.
    pub name: String,
    pub state: HopState,
    /// When it happened, when known.
    pub at: Option<DateTime<Utc>>,
    /// Milliseconds from the event's commit to this hop.
    pub after_ms: Option<i64>,
    /// What was seen: a partition and offset, a version, a step's outcome, an error.
    pub detail: Option<String>,
}

/// An event the request caused, and its hops.
#[derive(Debug, Clone, SimpleObject)]
pub struct FollowedEvent {
    /// `users` or `orders`.
    pub context: String,
    pub aggregate_type: String,
    pub aggregate_id: String,
    pub sequence: i64,
    pub event_id: Uuid,
    pub event_type: String,
    pub recorded_at: DateTime<Utc>,
    pub actor: Option<String>,
    pub causation_id: Option<String>,
    pub hops: Vec<Hop>,
}

/// A request followed through the pipeline.
#[derive(Debug, Clone, SimpleObject)]
pub struct Follow {
    pub correlation_id: String,
    /// Every event it caused, in the order they were committed.
    pub events: Vec<FollowedEvent>,
    /// Nothing waits any more (no hop waiting or failed).
    pub done: bool,
    /// The first hop that waits or failed, as a sentence; null when done.
    pub stuck_at: Option<String>,
    /// Milliseconds from the first commit to the latest hop seen.
    pub took_ms: Option<i64>,
}

#[derive(Deserialize)]
struct Correlated {
    aggregate_type: String,
    aggregate_id: String,
    sequence: i64,
    event_id: Uuid,
    event_type: String,
    recorded_at: DateTime<Utc>,
    actor: Option<String>,
    causation_id: Option<String>,
    outbox: String,
    outbox_attempts: Option<i32>,
    outbox_last_error: Option<String>,
}

#[derive(Deserialize)]
struct CorrelatedPage {
    events: Vec<Correlated>,
}

/// A view's version.
#[derive(Deserialize)]
struct Versioned {
    version: i64,
}

/// Where a record was found on its topic.
#[derive(Clone, Copy)]
struct Placed {
    partition: i32,
    offset: i64,
    at: Option<DateTime<Utc>>,
}

/// Records read at most per topic while looking for a request's events.
const SCAN_RECORDS: usize = 20_000;
/// Time the scan of one topic may take.
const SCAN_TIME: Duration = Duration::from_secs(5);
/// How far before the first commit the scan starts (clocks, batching).
const SCAN_BEFORE: chrono::TimeDelta = chrono::TimeDelta::seconds(5);

/// Finds the records of `wanted` event ids on `topic`, reading from `since` on.
fn find_records(
    inspector: &Inspector,
    kafka: &kafka_client::KafkaSettings,
    topic: &str,
    mut wanted: HashSet<String>,
    since: DateTime<Utc>,
) -> Result<HashMap<String, Placed>, String> {
    let marks = inspector
        .watermarks(Some(topic))
        .map_err(|error| error.to_string())?
        .pop()
        .map(|topic| topic.partitions)
        .unwrap_or_default();
    let mut times = TopicPartitionList::new();
    for mark in &marks {
        times
            .add_partition_offset(
                topic,
                mark.partition,
                Offset::Offset(since.timestamp_millis()),
            )
            .map_err(|error| error.to_string())?;
    }
    let starts = inspector
        .consumer()
        .offsets_for_times(times, BROKER_TIMEOUT)
        .map_err(|error| error.to_string())?;
    let reader: BaseConsumer = reader_config(
        kafka,
        &format!("gateway-follow-{}", Uuid::now_v7()),
        BROKER_TIMEOUT,
    )
    .create()
    .map_err(|error| error.to_string())?;
    let mut assignment = TopicPartitionList::new();
    let mut pending: HashMap<i32, i64> = HashMap::new();
    for mark in &marks {
        let start = match starts
            .find_partition(topic, mark.partition)
            .map(|entry| entry.offset())
        {
            Some(Offset::Offset(at)) => at.max(mark.low),
            _ => mark.high,
        };
        if start < mark.high {
            pending.insert(mark.partition, mark.high);
            assignment
                .add_partition_offset(topic, mark.partition, Offset::Offset(start))
                .map_err(|error| error.to_string())?;
        }
    }
    let mut found = HashMap::new();
    if pending.is_empty() {
        return Ok(found);
    }
    reader
        .assign(&assignment)
        .map_err(|error| error.to_string())?;
    let started = Instant::now();
    let mut read = 0;
    while !wanted.is_empty()
        && !pending.is_empty()
        && read < SCAN_RECORDS
        && started.elapsed() < SCAN_TIME
    {
        let Some(message) = reader.poll(Duration::from_millis(200)) else {
            continue;
        };
        let Ok(message) = message else { continue };
        read += 1;
        if pending
            .get(&message.partition())
            .is_some_and(|high| message.offset() + 1 >= *high)
        {
            pending.remove(&message.partition());
        }
        let Ok(envelope) = contracts::decode_envelope(message.payload().unwrap_or_default()) else {
            continue;
        };
        if wanted.remove(&envelope.event_id) {
            found.insert(
                envelope.event_id,
                Placed {
                    partition: message.partition(),
                    offset: message.offset(),
                    at: message
                        .timestamp()
                        .to_millis()
                        .and_then(DateTime::from_timestamp_millis),
                },
            );
        }
    }
    Ok(found)
}

fn hop(
    name: impl Into<String>,
    state: HopState,
    at: Option<DateTime<Utc>>,
    since: DateTime<Utc>,
    detail: Option<String>,
) -> Hop {
    Hop {
        name: name.into(),
        state,
        after_ms: at.map(|at| (at - since).num_milliseconds()),
        at,
        detail,
    }
}

/// The read model's hop: applied once the view's version reached the event's sequence. The
/// view's times are the events' own, not when they were applied, so the hop has no time.
fn applied(service: Service, view: Option<&Versioned>, event: &Correlated) -> Hop {
    let (state, detail) = match view {
        Some(view) if view.version >= event.sequence => (
            HopState::Done,
            format!("applied: the view is at version {}", view.version),
        ),
        Some(view) => (
            HopState::Waiting,
            format!(
                "the view is at version {}, waiting for {}",
                view.version, event.sequence
            ),
        ),
        None => (HopState::Waiting, "not in the read model yet".to_owned()),
    };
    hop(service.name(), state, None, event.recorded_at, Some(detail))
}

/// The saga an event started and its steps, as hops.
fn saga_hops(saga: Option<&Saga>, event: &Correlated) -> Vec<Hop> {
    let Some(saga) = saga else {
        return vec![hop(
            "saga-orchestrator",
            HopState::Waiting,
            None,
            event.recorded_at,
            Some("no saga started yet".into()),
        )];
    };
    let mut hops = vec![hop(
        format!("saga {}", saga.kind),
        if saga.state == "FAILED" {
            HopState::Failed
        } else {
            HopState::Done
        },
        Some(saga.started_at),
        event.recorded_at,
        Some(format!("state {}", saga.state)),
    )];
    for step in &saga.steps {
        let (state, at) = match &step.finished_at {
            Some(finished) => (HopState::Done, Some(*finished)),
            None => (HopState::Waiting, None),
        };
        let mut detail = format!("{} attempt(s)", step.attempts);
        if let Some(outcome) = &step.outcome {
            detail = format!("{outcome}, {detail}");
        }
        if let Some(said) = &step.detail {
            detail = format!("{detail}: {said}");
        }
        hops.push(hop(
            format!("saga: {}", step.step),
            state,
            at,
            event.recorded_at,
            Some(detail),
        ));
    }
    if !saga.terminal && saga.steps.iter().all(|step| step.finished_at.is_some()) {
        hops.push(hop(
            "saga: next step",
            HopState::Waiting,
            None,
            event.recorded_at,
            Some(
                saga.last_error
                    .clone()
                    .unwrap_or_else(|| format!("next attempt due, state {}", saga.state)),
            ),
        ));
    }
    hops
}

async fn correlated(
    upstreams: &Upstreams,
    caller: &Caller,
    service: Service,
    id: &str,
) -> async_graphql::Result<Vec<Correlated>> {
    let path = format!("/admin/correlations/{id}");
    Ok(
        match upstreams
            .get::<CorrelatedPage>(caller, service, &path, &[])
            .await?
        {
            Found::Yes(page) => page.events,
            Found::NotFound => Vec::new(),
        },
    )
}

async fn view(
    upstreams: &Upstreams,
    caller: &Caller,
    service: Service,
    path: String,
) -> Option<Versioned> {
    match upstreams
        .get::<Versioned>(caller, service, &path, &[])
        .await
    {
        Ok(Found::Yes(view)) => Some(view),
        _ => None,
    }
}

/// What following needs, owned, so a subscription can keep it.
#[derive(Clone)]
struct Follower {
    upstreams: Upstreams,
    caller: Caller,
    inspector: Arc<Inspector>,
    kafka: kafka_client::KafkaSettings,
    names: PipelineSettings,
}

impl Follower {
    /// The follower of an operator's request.
    fn of(ctx: &Context<'_>) -> async_graphql::Result<Self> {
        let caller = operator(ctx)?.clone();
        let kafka = ctx.data::<Kafka>()?;
        Ok(Self {
            upstreams: ctx.data::<Upstreams>()?.clone(),
            caller,
            inspector: kafka.inspector.clone(),
            kafka: kafka.settings.clone(),
            names: ctx.data::<PipelineSettings>()?.clone(),
        })
    }
}

/// Follows `correlation_id` once.
async fn follow(follower: &Follower, correlation_id: &str) -> async_graphql::Result<Follow> {
    let Follower {
        upstreams,
        caller,
        inspector,
        kafka,
        names,
    } = follower;
    if correlation_id.is_empty()
        || correlation_id.len() > 128
        || !correlation_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
    {
        return Err(refused(
            400,
            "a correlation id is 1 to 128 letters, digits and -_.:",
        ));
    }
    let (users, orders) = futures::try_join!(
        correlated(upstreams, caller, Service::UsersCommand, correlation_id),
        correlated(upstreams, caller, Service::OrdersCommand, correlation_id),
    )?;
    let mut followed = Vec::new();
    for (context, topic, events) in [
        ("users", &names.users_topic, users),
        ("orders", &names.orders_topic, orders),
    ] {
        if events.is_empty() {
            continue;
        }
        let since = events
            .iter()
            .map(|event| event.recorded_at)
            .min()
            .unwrap_or_else(Utc::now)
            - SCAN_BEFORE;
        let wanted: HashSet<String> = events
            .iter()
            .map(|event| event.event_id.to_string())
            .collect();
        let (inspector, settings, topic_name) = (inspector.clone(), kafka.clone(), topic.clone());
        let placed = tokio::task::spawn_blocking(move || {
            find_records(&inspector, &settings, &topic_name, wanted, since)
        })
        .await
        .map_err(|_| refused(503, "reading the topic was cut short"))?;
        for event in events {
            let mut hops = vec![hop(
                "event store",
                HopState::Done,
                Some(event.recorded_at),
                event.recorded_at,
                Some(format!(
                    "{} {} version {}",
                    event.aggregate_type, event.aggregate_id, event.sequence
                )),
            )];
            let on_topic = placed
                .as_ref()
                .ok()
                .and_then(|placed| placed.get(&event.event_id.to_string()).copied());
            match event.outbox.as_str() {
                "published" => {
                    hops.push(hop(
                        "outbox",
                        HopState::Done,
                        on_topic.and_then(|p| p.at),
                        event.recorded_at,
                        Some("published: the broker acknowledged it".into()),
                    ));
                }
                "set_aside" => hops.push(hop(
                    "outbox",
                    HopState::Failed,
                    None,
                    event.recorded_at,
                    Some(format!(
                        "set aside after {} attempt(s): {}",
                        event.outbox_attempts.unwrap_or_default(),
                        event.outbox_last_error.clone().unwrap_or_default()
                    )),
                )),
                _ => hops.push(hop(
                    "outbox",
                    HopState::Waiting,
                    None,
                    event.recorded_at,
                    Some(match &event.outbox_last_error {
                        Some(error) => format!(
                            "waiting for the relay; {} failed attempt(s): {error}",
                            event.outbox_attempts.unwrap_or_default()
                        ),
                        None => "waiting for the relay".into(),
                    }),
                )),
            }
            let published = event.outbox == "published";
            hops.push(match (on_topic, &placed) {
                (Some(placed), _) => hop(
                    topic.as_str(),
                    HopState::Done,
                    placed.at,
                    event.recorded_at,
                    Some(format!("partition {} offset {}", placed.partition, placed.offset)),
                ),
                (None, Err(error)) => hop(topic.as_str(), HopState::Unknown, None, event.recorded_at, Some(format!("the topic could not be read: {error}"))),
                (None, Ok(_)) if published => hop(
                    topic.as_str(),
                    HopState::Unknown,
                    None,
                    event.recorded_at,
                    Some("published, but not among the records read (deleted by retention, or too far back)".into()),
                ),
                (None, Ok(_)) => hop(topic.as_str(), HopState::Waiting, None, event.recorded_at, Some("not on the topic yet".into())),
            });
            if context == "users" {
                let seen = view(
                    upstreams,
                    caller,
                    Service::UsersQuery,
                    format!("/users/{}", event.aggregate_id),
                )
                .await;
                hops.push(applied(Service::UsersQuery, seen.as_ref(), &event));
            } else {
                let seen = view(
                    upstreams,
                    caller,
                    Service::OrdersQuery,
                    format!("/orders/{}", event.aggregate_id),
                )
                .await;
                hops.push(applied(Service::OrdersQuery, seen.as_ref(), &event));
                if matches!(event.event_type.as_str(), "OrderPlaced" | "OrderCancelled") {
                    let path = format!("/sagas/{}", event.event_id);
                    let saga = match upstreams
                        .get::<Saga>(caller, Service::SagaOrchestrator, &path, &[])
                        .await
                    {
                        Ok(Found::Yes(saga)) => Some(saga),
                        _ => None,
                    };
                    hops.extend(saga_hops(saga.as_ref(), &event));
                }
            }
            followed.push(FollowedEvent {
                context: context.into(),
                aggregate_type: event.aggregate_type,
                aggregate_id: event.aggregate_id,
                sequence: event.sequence,
                event_id: event.event_id,
                event_type: event.event_type,
                recorded_at: event.recorded_at,
                actor: event.actor,
                causation_id: event.causation_id,
                hops,
            });
        }
    }
    followed.sort_by_key(|event| event.recorded_at);
    // The hops were read after the events: a saga step seen done may have committed events
    // the first read missed. Only a request whose events did not change meanwhile is done.
    let (users, orders) = futures::try_join!(
        correlated(upstreams, caller, Service::UsersCommand, correlation_id),
        correlated(upstreams, caller, Service::OrdersCommand, correlation_id),
    )?;
    let settled = users.len() + orders.len() == followed.len();
    let mut stuck_at = followed.iter().find_map(|event| {
        event
            .hops
            .iter()
            .find(|hop| matches!(hop.state, HopState::Waiting | HopState::Failed))
            .map(|hop| {
                format!(
                    "{} of {} {}: {}{}",
                    event.event_type,
                    event.aggregate_type,
                    event.aggregate_id,
                    hop.name,
                    hop.detail
                        .as_deref()
                        .map(|detail| format!(" ({detail})"))
                        .unwrap_or_default()
                )
            })
    });
    if stuck_at.is_none() && !settled {
        stuck_at = Some("the request is still committing events".into());
    }
    let first = followed.first().map(|event| event.recorded_at);
    let last = followed
        .iter()
        .flat_map(|event| event.hops.iter().filter_map(|hop| hop.at))
        .max();
    Ok(Follow {
        correlation_id: correlation_id.to_owned(),
        done: stuck_at.is_none() && !followed.is_empty(),
        stuck_at,
        took_ms: first
            .zip(last)
            .map(|(first, last)| (last - first).num_milliseconds()),
        events: followed,
    })
}

/// Following a request once.
#[derive(Default)]
pub struct FollowQuery;

#[Object]
impl FollowQuery {
    /// Every event of the request with this correlation id and every hop of each, as it
    /// stands now (operators only).
    async fn follow(
        &self,
        ctx: &Context<'_>,
        correlation_id: String,
    ) -> async_graphql::Result<Follow> {
        follow(&Follower::of(ctx)?, &correlation_id).await
    }
}

/// Watching a request go through.
#[derive(Default)]
pub struct FollowSubscription;

/// How often a followed request is looked at again.
const FOLLOW_PACE: Duration = Duration::from_secs(1);
/// How long a subscription follows one request.
const FOLLOW_FOR: Duration = Duration::from_secs(300);

#[Subscription]
impl FollowSubscription {
    /// The request followed now and again every second until nothing waits (or five minutes
    /// have passed); operators only.
    async fn follow(
        &self,
        ctx: &Context<'_>,
        correlation_id: String,
    ) -> async_graphql::Result<impl Stream<Item = async_graphql::Result<Follow>> + use<>> {
        let follower = Follower::of(ctx)?;
        let started = Instant::now();
        let reports = futures::stream::unfold(Some(true), move |state| {
            let (correlation_id, follower) = (correlation_id.clone(), follower.clone());
            async move {
                let first = state?;
                if !first {
                    tokio::time::sleep(FOLLOW_PACE).await;
                }
                let followed = follow(&follower, &correlation_id).await;
                let again = match &followed {
                    Ok(followed) => !followed.done && started.elapsed() < FOLLOW_FOR,
                    Err(_) => false,
                };
                Some((followed, again.then_some(false)))
            }
        });
        Ok(super::while_signed_in(ctx, reports))
    }
}
