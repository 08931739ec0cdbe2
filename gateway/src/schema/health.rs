//! Live health: one monitor asks every service, database, broker and pipeline at a steady
//! pace and keeps the latest report and a few minutes of history; queries read it and
//! subscriptions are sent each new one, however many browsers watch.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_graphql::{Context, Enum, Object, SimpleObject, Subscription};
use chrono::{DateTime, Utc};
use futures::Stream;
use kafka_client::inspect::{GroupLag, Inspector, TopicMarks};
use serde_json::Value;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::operator;
use crate::settings::PipelineSettings;
use crate::upstream::{Service, Upstreams};

/// How a part of the system is doing, at a glance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Enum)]
pub enum Light {
    /// Up and keeping up.
    Green,
    /// Up but behind, degraded, or not known.
    Amber,
    /// Down or not answering.
    Red,
}

/// What kind of part a component is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
pub enum ComponentKind {
    Service,
    Database,
    Broker,
}

/// One part of the system as the gateway saw it at the last check.
#[derive(Debug, Clone, SimpleObject)]
pub struct Component {
    pub name: String,
    pub kind: ComponentKind,
    pub light: Light,
    /// What was seen: why it is not green, or where it answers.
    pub detail: Option<String>,
    /// How long its check took, for services.
    pub latency_ms: Option<i64>,
}

/// A consumer group of a pipeline: how far behind the topic's end it is and what it parked.
#[derive(Debug, Clone, SimpleObject)]
pub struct ConsumerLag {
    /// The consuming service.
    pub service: String,
    pub group: String,
    /// The group's checkpoint: its committed offsets, summed over the partitions (the
    /// counterpart of the topic's end offset); null if unknown.
    pub checkpoint: Option<i64>,
    /// Records between the group's committed offsets and the topic's end; null if unknown.
    pub lag: Option<i64>,
    /// Events the consumer could not apply and set aside for an operator.
    pub parked_events: Option<i64>,
    pub light: Light,
}

/// A bounded context's pipeline: event store and outbox, relay, topic, consumers.
#[derive(Debug, Clone, SimpleObject)]
pub struct Pipeline {
    /// `users` or `orders`.
    pub context: String,
    pub topic: String,
    /// Where the event store ends: its newest event's position (increasing, with gaps where
    /// an append rolled back; 0 while empty); null if the command service did not answer.
    pub event_store_head: Option<i64>,
    /// When that newest event was committed.
    pub event_store_head_at: Option<DateTime<Utc>>,
    /// Outbox rows not yet acknowledged by the broker; null if the command service did not
    /// answer.
    pub outbox_backlog: Option<i64>,
    /// Age of the oldest of them, in seconds.
    pub outbox_oldest_age_seconds: Option<f64>,
    /// Rows the relay set aside after the broker kept refusing them.
    pub outbox_set_aside: Option<i64>,
    /// The topic's end: the sum of its partitions' high watermarks; null if the broker did
    /// not answer.
    pub end_offset: Option<i64>,
    pub consumers: Vec<ConsumerLag>,
    pub light: Light,
}

/// One point of the recent history: throughput and backlog.
#[derive(Debug, Clone, SimpleObject)]
pub struct HealthSample {
    pub at: DateTime<Utc>,
    /// Commands (POSTs and DELETEs) answered per second by the command services since the
    /// previous check.
    pub commands_per_second: f64,
    /// Consumer lag over every group, in records.
    pub consumer_lag: i64,
    /// Outbox rows waiting, over both contexts.
    pub outbox_backlog: i64,
}

/// Everything the health page shows.
#[derive(Debug, Clone, SimpleObject)]
pub struct Health {
    pub checked_at: DateTime<Utc>,
    /// The worst light of any component or pipeline.
    pub light: Light,
    pub components: Vec<Component>,
    pub pipelines: Vec<Pipeline>,
    /// The last minutes, oldest first, one sample per check.
    pub history: Vec<HealthSample>,
}

/// The latest report, shared by queries and subscriptions.
#[derive(Clone)]
pub struct Monitor {
    latest: watch::Receiver<Option<Arc<Health>>>,
}

/// Samples of history kept: five minutes at the default pace.
const HISTORY: usize = 150;
/// Time one check of a service may take.
const CHECK_TIMEOUT: Duration = Duration::from_millis(1_500);
/// Outbox age past which a pipeline is amber.
const SLOW_OUTBOX_SECS: f64 = 10.0;
/// Consumer lag past which a pipeline is amber.
const BEHIND: i64 = 1_000;

impl Monitor {
    /// Starts checking every `interval` until `cancel`; returns the monitor and its task.
    pub fn spawn(
        upstreams: Upstreams,
        inspector: Arc<Inspector>,
        pipelines: PipelineSettings,
        interval: Duration,
        cancel: CancellationToken,
    ) -> (Self, tokio::task::JoinHandle<anyhow::Result<()>>) {
        let (sender, latest) = watch::channel(None);
        let task = tokio::spawn(async move {
            let mut history = VecDeque::with_capacity(HISTORY);
            let mut previous: Option<(Instant, f64)> = None;
            let mut ticks = tokio::time::interval(interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    () = cancel.cancelled() => return Ok(()),
                    _ = ticks.tick() => {}
                }
                let report = check(
                    &upstreams,
                    &inspector,
                    &pipelines,
                    &mut previous,
                    &mut history,
                )
                .await;
                sender.send_replace(Some(Arc::new(report)));
            }
        });
        (Self { latest }, task)
    }

    /// The latest report, waiting for the first one.
    pub async fn latest(&self) -> Arc<Health> {
        let mut latest = self.latest.clone();
        loop {
            let report = latest.borrow_and_update().clone();
            if let Some(report) = report {
                return report;
            }
            if latest.changed().await.is_err() {
                // The monitor stopped (shutdown): say so rather than wait forever.
                return Arc::new(stopped());
            }
        }
    }

    /// Every report from the latest one on.
    pub fn reports(&self) -> impl Stream<Item = Arc<Health>> + use<> {
        let latest = self.latest.clone();
        futures::stream::unfold((latest, true), |(mut latest, first)| async move {
            if !first && latest.changed().await.is_err() {
                return None;
            }
            loop {
                let report = latest.borrow_and_update().clone();
                if let Some(report) = report {
                    return Some((report, (latest, false)));
                }
                latest.changed().await.ok()?;
            }
        })
    }
}

fn stopped() -> Health {
    Health {
        checked_at: Utc::now(),
        light: Light::Red,
        components: Vec::new(),
        pipelines: Vec::new(),
        history: Vec::new(),
    }
}

/// A service's answers to `/health/ready` and `/metrics`.
struct Seen {
    service: Service,
    /// Status and body of `/health/ready`; `None` when it did not answer.
    ready: Option<(u16, Value)>,
    latency: Duration,
    metrics: Option<String>,
}

async fn look(upstreams: &Upstreams, service: Service) -> Seen {
    let base = upstreams.url(service);
    let started = Instant::now();
    let ready = async {
        let response = upstreams
            .client()
            .get(format!("{base}/health/ready"))
            .timeout(CHECK_TIMEOUT)
            .send()
            .await
            .ok()?;
        let status = response.status().as_u16();
        Some((
            status,
            response.json::<Value>().await.unwrap_or(Value::Null),
        ))
    }
    .await;
    let latency = started.elapsed();
    let metrics = async {
        let response = upstreams
            .client()
            .get(format!("{base}/metrics"))
            .timeout(CHECK_TIMEOUT)
            .send()
            .await
            .ok()?;
        response.text().await.ok()
    }
    .await;
    Seen {
        service,
        ready,
        latency,
        metrics,
    }
}

/// What the gateway's own Kafka client saw.
struct Cluster {
    brokers: Result<Vec<(i32, String)>, String>,
    topics: Vec<TopicMarks>,
    groups: Vec<GroupLag>,
}

fn inspect_cluster(inspector: &Inspector, groups: &[String]) -> Cluster {
    let brokers = inspector.brokers().map_err(|error| error.to_string());
    if brokers.is_err() {
        return Cluster {
            brokers,
            topics: Vec::new(),
            groups: Vec::new(),
        };
    }
    let topics = inspector.watermarks(None).unwrap_or_default();
    let lags = groups
        .iter()
        .flat_map(|group| inspector.group_lags(group, &topics).unwrap_or_default())
        .collect();
    Cluster {
        brokers,
        topics,
        groups: lags,
    }
}

async fn check(
    upstreams: &Upstreams,
    inspector: &Arc<Inspector>,
    names: &PipelineSettings,
    previous: &mut Option<(Instant, f64)>,
    history: &mut VecDeque<HealthSample>,
) -> Health {
    let inspector = inspector.clone();
    let groups = vec![
        names.users_query_group.clone(),
        names.orders_query_group.clone(),
        names.saga_group.clone(),
    ];
    let cluster = tokio::task::spawn_blocking(move || inspect_cluster(&inspector, &groups));
    let seen =
        futures::future::join_all(Service::ALL.map(|service| look(upstreams, service))).await;
    let cluster = cluster.await.unwrap_or_else(|error| Cluster {
        brokers: Err(error.to_string()),
        topics: Vec::new(),
        groups: Vec::new(),
    });

    let mut components = Vec::new();
    for seen in &seen {
        components.push(service_component(seen));
    }
    for seen in &seen {
        components.push(database_component(seen));
    }
    match &cluster.brokers {
        Ok(brokers) => components.extend(brokers.iter().map(|(id, address)| Component {
            name: format!("kafka broker {id}"),
            kind: ComponentKind::Broker,
            light: Light::Green,
            detail: Some(address.clone()),
            latency_ms: None,
        })),
        Err(error) => components.push(Component {
            name: "kafka".into(),
            kind: ComponentKind::Broker,
            light: Light::Red,
            detail: Some(error.clone()),
            latency_ms: None,
        }),
    }

    let metrics = |service: Service| {
        seen.iter()
            .find(|seen| seen.service == service)
            .and_then(|seen| seen.metrics.as_deref())
    };
    let pipelines = vec![
        pipeline(
            "users",
            &names.users_topic,
            metrics(Service::UsersCommand),
            &[(
                Service::UsersQuery,
                &names.users_query_group,
                metrics(Service::UsersQuery),
            )],
            &cluster,
        ),
        pipeline(
            "orders",
            &names.orders_topic,
            metrics(Service::OrdersCommand),
            &[
                (
                    Service::OrdersQuery,
                    &names.orders_query_group,
                    metrics(Service::OrdersQuery),
                ),
                (
                    Service::SagaOrchestrator,
                    &names.saga_group,
                    metrics(Service::SagaOrchestrator),
                ),
            ],
            &cluster,
        ),
    ];

    let now = Instant::now();
    let commands: f64 = [Service::UsersCommand, Service::OrdersCommand]
        .into_iter()
        .filter_map(metrics)
        .map(|text| {
            sum(text, "http_requests_total", |labels| {
                labels.contains("method=\"POST\"") || labels.contains("method=\"DELETE\"")
            })
        })
        .sum();
    let rate = match previous {
        Some((at, before)) if commands >= *before => {
            (commands - *before) / now.duration_since(*at).as_secs_f64().max(0.001)
        }
        _ => 0.0,
    };
    *previous = Some((now, commands));
    if history.len() == HISTORY {
        history.pop_front();
    }
    history.push_back(HealthSample {
        at: Utc::now(),
        commands_per_second: (rate * 10.0).round() / 10.0,
        consumer_lag: pipelines
            .iter()
            .flat_map(|p| &p.consumers)
            .filter_map(|c| c.lag)
            .sum(),
        outbox_backlog: pipelines.iter().filter_map(|p| p.outbox_backlog).sum(),
    });

    let light = components
        .iter()
        .map(|component| component.light)
        .chain(pipelines.iter().map(|pipeline| pipeline.light))
        .max()
        .unwrap_or(Light::Amber);
    Health {
        checked_at: Utc::now(),
        light,
        components,
        pipelines,
        history: history.iter().cloned().collect(),
    }
}

fn service_component(seen: &Seen) -> Component {
    let (light, detail) = match &seen.ready {
        None => (Light::Red, "not answering".to_owned()),
        Some((200, _)) => (Light::Green, "ready".to_owned()),
        Some((status, body)) => {
            let down: Vec<String> = body["checks"]
                .as_object()
                .into_iter()
                .flatten()
                .filter(|(_, state)| *state != "up")
                .map(|(check, _)| format!("{check} down"))
                .collect();
            let detail = if down.is_empty() {
                format!("not ready ({status})")
            } else {
                format!("not ready: {}", down.join(", "))
            };
            (Light::Amber, detail)
        }
    };
    Component {
        name: seen.service.name().into(),
        kind: ComponentKind::Service,
        light,
        detail: Some(detail),
        latency_ms: seen.ready.as_ref().map(|_| seen.latency.as_millis() as i64),
    }
}

fn database_component(seen: &Seen) -> Component {
    let (light, detail) = match seen
        .ready
        .as_ref()
        .map(|(_, body)| &body["checks"]["database"])
    {
        None => (
            Light::Amber,
            format!("unknown: {} is not answering", seen.service.name()),
        ),
        Some(state) if state == "up" => (
            Light::Green,
            format!("up, as {} sees it", seen.service.name()),
        ),
        Some(_) => (
            Light::Red,
            format!("down, as {} sees it", seen.service.name()),
        ),
    };
    Component {
        name: format!("postgres {}", seen.service.database()),
        kind: ComponentKind::Database,
        light,
        detail: Some(detail),
        latency_ms: None,
    }
}

fn pipeline(
    context: &str,
    topic: &str,
    command_metrics: Option<&str>,
    consumers: &[(Service, &String, Option<&str>)],
    cluster: &Cluster,
) -> Pipeline {
    let event_store_head =
        command_metrics.and_then(|text| value(text, "event_store_head_position").map(|v| v as i64));
    let event_store_head_at = command_metrics
        .and_then(|text| value(text, "event_store_head_timestamp_seconds"))
        .filter(|seconds| *seconds > 0.0)
        .and_then(|seconds| DateTime::from_timestamp_millis((seconds * 1_000.0).round() as i64));
    let outbox_backlog =
        command_metrics.map(|text| sum(text, "outbox_backlog_rows", |_| true) as i64);
    let outbox_oldest_age_seconds =
        command_metrics.map(|text| max(text, "outbox_oldest_row_age_seconds"));
    let outbox_set_aside =
        command_metrics.map(|text| sum(text, "outbox_set_aside_rows", |_| true) as i64);
    let end_offset = cluster
        .topics
        .iter()
        .find(|marks| marks.topic == topic)
        .map(TopicMarks::end);
    let consumers: Vec<ConsumerLag> = consumers
        .iter()
        .map(|(service, group, metrics)| {
            let position = cluster
                .groups
                .iter()
                .find(|lag| lag.group == **group && lag.topic == topic);
            let lag = position.map(|position| position.lag);
            let checkpoint = position.map(|position| {
                position
                    .partitions
                    .iter()
                    .map(|partition| partition.committed.max(0))
                    .sum()
            });
            let parked_events =
                metrics.map(|text| sum(text, "projector_parked_events", |_| true) as i64);
            let light = if metrics.is_none() {
                Light::Red
            } else if lag.is_some_and(|lag| lag > BEHIND)
                || parked_events.is_some_and(|parked| parked > 0)
            {
                Light::Amber
            } else {
                Light::Green
            };
            ConsumerLag {
                service: service.name().into(),
                group: (*group).clone(),
                checkpoint,
                lag,
                parked_events,
                light,
            }
        })
        .collect();
    let mut light = consumers
        .iter()
        .map(|consumer| consumer.light)
        .max()
        .unwrap_or(Light::Green);
    if command_metrics.is_none() || end_offset.is_none() {
        light = Light::Red;
    } else if outbox_oldest_age_seconds.is_some_and(|age| age > SLOW_OUTBOX_SECS)
        || outbox_set_aside.is_some_and(|rows| rows > 0)
    {
        light = light.max(Light::Amber);
    }
    Pipeline {
        context: context.into(),
        topic: topic.into(),
        event_store_head,
        event_store_head_at,
        outbox_backlog,
        outbox_oldest_age_seconds,
        outbox_set_aside,
        end_offset,
        consumers,
        light,
    }
}

/// The samples of metric `name` in a Prometheus text exposition, as (labels, value).
fn samples<'a>(text: &'a str, name: &'a str) -> impl Iterator<Item = (&'a str, f64)> + 'a {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(move |line| {
            let rest = line.strip_prefix(name)?;
            let (labels, value) = match rest.strip_prefix('{') {
                Some(rest) => {
                    let (labels, value) = rest.split_once('}')?;
                    (labels, value)
                }
                None if rest.starts_with(' ') => ("", rest),
                None => return None,
            };
            let value = value.split_whitespace().next()?.parse().ok()?;
            Some((labels, value))
        })
}

fn sum(text: &str, name: &str, keep: impl Fn(&str) -> bool) -> f64 {
    samples(text, name)
        .filter(|(labels, _)| keep(labels))
        .map(|(_, value)| value)
        .sum()
}

fn max(text: &str, name: &str) -> f64 {
    samples(text, name)
        .map(|(_, value)| value)
        .fold(0.0, f64::max)
}

/// The first sample of metric `name` (a gauge without labels); `None` if it is not exported.
fn value(text: &str, name: &str) -> Option<f64> {
    samples(text, name).next().map(|(_, value)| value)
}

/// Reading the latest report.
#[derive(Default)]
pub struct HealthQuery;

#[Object]
impl HealthQuery {
    /// The latest health report (operators only).
    async fn health(&self, ctx: &Context<'_>) -> async_graphql::Result<Health> {
        operator(ctx)?;
        Ok((*ctx.data::<Monitor>()?.latest().await).clone())
    }
}

/// Watching health.
#[derive(Default)]
pub struct HealthSubscription;

#[Subscription]
impl HealthSubscription {
    /// The health report, now and after every check (operators only).
    async fn health(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<impl Stream<Item = async_graphql::Result<Health>> + use<>> {
        operator(ctx)?;
        let reports = ctx.data::<Monitor>()?.reports();
        let reports = futures::StreamExt::map(reports, |report| Ok((*report).clone()));
        Ok(super::while_signed_in(ctx, reports))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXPOSITION: &str = "# TYPE http_requests_total counter\n\
        http_requests_total{method=\"POST\",route=\"/users\",status=\"201\"} 7\n\
        http_requests_total{method=\"GET\",route=\"/users/{id}\",status=\"200\"} 100\n\
        http_requests_total{method=\"DELETE\",route=\"/x\",status=\"204\"} 2\n\
        outbox_backlog_rows 3\n\
        outbox_backlog_rows_other 50\n\
        outbox_oldest_row_age_seconds{partition=\"0\"} 1.5\n\
        outbox_oldest_row_age_seconds{partition=\"1\"} 12.25\n\
        event_store_head_position 42\n";

    #[test]
    fn metrics_are_read_by_exact_name_and_label_filter() {
        let commands = sum(EXPOSITION, "http_requests_total", |labels| {
            labels.contains("method=\"POST\"") || labels.contains("method=\"DELETE\"")
        });
        assert_eq!(commands, 9.0);
        assert_eq!(sum(EXPOSITION, "outbox_backlog_rows", |_| true), 3.0);
        assert_eq!(max(EXPOSITION, "outbox_oldest_row_age_seconds"), 12.25);
        assert_eq!(sum(EXPOSITION, "projector_parked_events", |_| true), 0.0);
        assert_eq!(value(EXPOSITION, "event_store_head_position"), Some(42.0));
        assert_eq!(
            value(EXPOSITION, "event_store_head_timestamp_seconds"),
            None
        );
    }
}
