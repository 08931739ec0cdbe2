//! The checker. It shares no code with what it checks: it reads the event stores and read
//! models with its own SQL, the topics with its own consumer, folds the events itself, and
//! compares all of it with the history the clients wrote. Each violation names the invariant
//! it breaks and what was seen.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use anyhow::Context;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use serde::Serialize;
use serde_json::Value;
use sqlx::{PgPool, Row};

use crate::topology::{KafkaView, Stores};
use crate::workload::{Op, OpKind, Outcome};

/// How long reading a whole topic may take.
const TOPIC_READ: Duration = Duration::from_secs(180);

/// One broken promise.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Violation {
    /// Which check: `acknowledged`, `refused`, `once`, `topic-order`, `topic-complete`,
    /// `read-model`, `min-version`, `saga-terminal`, `credit`.
    pub check: &'static str,
    pub detail: String,
}

/// What the checker saw, and what it found wrong.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Checked {
    pub violations: Vec<Violation>,
    /// Commands answered 2xx, refused (definite non-2xx), and without a definite answer.
    pub acknowledged: usize,
    pub refused: usize,
    pub indeterminate: usize,
    /// Of the indeterminate ones, those that took effect (once).
    pub indeterminate_applied: usize,
    /// Reads answered 200, and those answered 504 (the version not reached in time).
    pub reads: usize,
    pub reads_not_reached: usize,
    pub users_events: usize,
    pub orders_events: usize,
    /// Records read again on a topic (at-least-once delivery; counted, not a failure).
    pub topic_duplicates: usize,
    pub sagas_by_state: BTreeMap<String, i64>,
}

impl Checked {
    fn violation(&mut self, check: &'static str, detail: String) {
        self.violations.push(Violation { check, detail });
    }
}

/// A stored event as the checker reads it.
struct Stored {
    aggregate_id: String,
    sequence: i64,
    event_id: String,
    event_type: String,
    payload: Value,
}

/// Checks everything; only an unreadable store or topic is an error.
pub async fn check(stores: &Stores, kafka: &KafkaView, history: &[Op]) -> anyhow::Result<Checked> {
    let mut checked = Checked::default();
    let users = stored(&stores.users_es).await?;
    let orders = stored(&stores.orders_es).await?;
    checked.users_events = users.len();
    checked.orders_events = orders.len();

    check_effects(&mut checked, stores, history, &users).await?;
    for (topic, events) in [(&kafka.users_topic, &users), (&kafka.orders_topic, &orders)] {
        check_topic(&mut checked, &kafka.brokers, topic, events).await?;
    }
    let user_states = fold_users(&users);
    let order_states = fold_orders(&orders);
    check_views(&mut checked, stores, &user_states, &order_states).await?;
    check_reads(&mut checked, history, &user_states, &order_states);
    check_sagas(&mut checked, &stores.saga).await?;
    check_credit(&mut checked, &users, &user_states, &order_states);
    Ok(checked)
}

async fn stored(pool: &PgPool) -> anyhow::Result<Vec<Stored>> {
    let rows = sqlx::query(
        "SELECT aggregate_id, sequence, event_id::text AS event_id, event_type, payload FROM events \
         ORDER BY aggregate_id, sequence",
    )
    .fetch_all(pool)
    .await
    .context("reading an event store")?;
    Ok(rows
        .into_iter()
        .map(|row| {
            let event_type: String = row.get("event_type");
            let payload: Value = row.get("payload");
            // Either the event's fields, or the fields under the event's name.
            let payload = match payload.get(&event_type) {
                Some(inner) => inner.clone(),
                None => payload,
            };
            Stored {
                aggregate_id: row.get("aggregate_id"),
                sequence: row.get("sequence"),
                event_id: row.get("event_id"),
                event_type,
                payload,
            }
        })
        .collect())
}

/// Every acknowledged command's events are stored, once; a refused one left none; one
/// without an answer left at most one.
async fn check_effects(
    checked: &mut Checked,
    stores: &Stores,
    history: &[Op],
    users: &[Stored],
) -> anyhow::Result<()> {
    let mut effects: HashMap<(String, String), Vec<(String, i64)>> = HashMap::new();
    for pool in [&stores.users_es, &stores.orders_es] {
        let rows = sqlx::query(
            "SELECT metadata->>'correlation_id' AS correlation_id, metadata->>'actor' AS actor, \
                    aggregate_id, sequence \
             FROM events WHERE metadata->>'actor' LIKE 'admin:chaos-%'",
        )
        .fetch_all(pool)
        .await
        .context("reading the events the clients caused")?;
        for row in rows {
            let key = (
                row.get::<Option<String>, _>("correlation_id")
                    .unwrap_or_default(),
                row.get::<Option<String>, _>("actor").unwrap_or_default(),
            );
            effects
                .entry(key)
                .or_default()
                .push((row.get("aggregate_id"), row.get("sequence")));
        }
    }
    for op in history.iter().filter(|op| op.kind.is_command()) {
        let found = effects
            .get(&(op.correlation_id.clone(), op.actor.clone()))
            .map(Vec::as_slice)
            .unwrap_or_default();
        let what = || {
            format!(
                "{:?} by client {} at {} ms (correlation {})",
                op.kind, op.client, op.started_ms, op.correlation_id
            )
        };
        if found.len() > 1 {
            checked.violation(
                "once",
                format!("{} took effect {} times: {found:?}", what(), found.len()),
            );
            continue;
        }
        match &op.outcome {
            Outcome::Ok { version, .. } => {
                checked.acknowledged += 1;
                match found.first() {
                    Some((aggregate, sequence)) => {
                        let target = op.target.map(|id| id.to_string());
                        if sequence != version || target.as_ref().is_some_and(|id| id != aggregate)
                        {
                            checked.violation(
                                "acknowledged",
                                format!(
                                    "{} was answered version {version} of {target:?} but stored \
                                     sequence {sequence} of {aggregate}",
                                    what()
                                ),
                            );
                        }
                    }
                    // A credit limit set to what it was already is answered without an event,
                    // at a version whose limit is the one asked for.
                    None if op.kind == OpKind::ChangeLimit => {
                        let user = op.target.map(|id| id.to_string()).unwrap_or_default();
                        let limit = limit_at(users, &user, *version);
                        if limit.is_none() || limit != op.amount_cents {
                            checked.violation(
                                "acknowledged",
                                format!(
                                    "{} asked for limit {:?} and was acknowledged without an event \
                                     at version {version}, where the store has limit {limit:?}",
                                    what(),
                                    op.amount_cents
                                ),
                            );
                        }
                    }
                    None => checked.violation(
                        "acknowledged",
                        format!(
                            "{} was acknowledged (version {version}) but nothing is stored",
                            what()
                        ),
                    ),
                }
            }
            Outcome::Failed { status } => {
                checked.refused += 1;
                if !found.is_empty() {
                    checked.violation(
                        "refused",
                        format!(
                            "{} was answered {status} but took effect: {found:?}",
                            what()
                        ),
                    );
                }
            }
            Outcome::Indeterminate { .. } => {
                checked.indeterminate += 1;
                checked.indeterminate_applied += found.len();
            }
        }
    }
    Ok(())
}

/// `user`'s credit limit at `version`; `None` if that version is not stored.
fn limit_at(users: &[Stored], user: &str, version: i64) -> Option<i64> {
    let events = users.iter().filter(|event| event.aggregate_id == user);
    let mut limit = None;
    let mut reached = false;
    for event in events.take_while(|event| event.sequence <= version) {
        reached = event.sequence == version;
        if matches!(
            event.event_type.as_str(),
            "UserRegistered" | "UserCreditLimitChanged"
        ) {
            limit = Some(cents(&event.payload, "credit_limit_cents"));
        }
    }
    limit.filter(|_| reached)
}

/// Each topic carries each aggregate's events in sequence order, none missing, none it does
/// not store.
async fn check_topic(
    checked: &mut Checked,
    brokers: &str,
    topic: &str,
    events: &[Stored],
) -> anyhow::Result<()> {
    let mut stored: HashMap<&str, i64> = HashMap::new();
    let mut ids: HashMap<(&str, i64), &str> = HashMap::new();
    for event in events {
        let highest = stored.entry(event.aggregate_id.as_str()).or_insert(0);
        *highest = (*highest).max(event.sequence);
        ids.insert(
            (event.aggregate_id.as_str(), event.sequence),
            event.event_id.as_str(),
        );
    }
    let records = read_topic(brokers, topic).await?;
    let mut seen: HashMap<String, i64> = HashMap::new();
    for (partition, offset, key, decoded) in records {
        let (aggregate, sequence, event_id) = match decoded {
            Ok(pair) => pair,
            Err(error) => {
                checked.violation(
                    "topic-order",
                    format!("{topic} {partition}@{offset}: undecodable ({error})"),
                );
                continue;
            }
        };
        if key != aggregate {
            checked.violation(
                "topic-order",
                format!("{topic} {partition}@{offset}: key {key} carries an event of {aggregate}"),
            );
        }
        // A record at a stored sequence must be that event: another one there (published
        // from a transaction that then rolled back, say) would be skipped by every consumer
        // as a duplicate.
        if let Some(stored_id) = ids.get(&(aggregate.as_str(), sequence))
            && *stored_id != event_id
        {
            checked.violation(
                "topic-order",
                format!(
                    "{topic} {partition}@{offset}: {aggregate} sequence {sequence} is event \
                     {event_id} but the store has {stored_id}"
                ),
            );
        }
        let highest = seen.entry(aggregate.clone()).or_insert(0);
        if sequence <= *highest {
            checked.topic_duplicates += 1;
        } else if sequence > *highest + 1 {
            checked.violation(
                "topic-order",
                format!(
                    "{topic} {partition}@{offset}: {aggregate} jumps from sequence {} to {sequence}",
                    *highest
                ),
            );
        }
        *highest = (*highest).max(sequence);
    }
    for (aggregate, highest) in &stored {
        let published = seen.get(*aggregate).copied().unwrap_or(0);
        if published < *highest {
            checked.violation(
                "topic-complete",
                format!(
                    "{topic}: {aggregate} is stored up to {highest} but published up to {published}"
                ),
            );
        }
    }
    for (aggregate, published) in &seen {
        if stored
            .get(aggregate.as_str())
            .is_none_or(|highest| published > highest)
        {
            checked.violation(
                "topic-complete",
                format!(
                    "{topic}: {aggregate} is published up to {published} beyond what is stored"
                ),
            );
        }
    }
    Ok(())
}

/// A record's aggregate, sequence and event id, or why it did not decode.
type Decoded = Result<(String, i64, String), String>;

/// Every record of `topic`, from the start to the ends it had when reading began.
async fn read_topic(
    brokers: &str,
    topic: &str,
) -> anyhow::Result<Vec<(i32, i64, String, Decoded)>> {
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set(
            "group.id",
            format!("chaos-checker-{}", uuid::Uuid::new_v4().simple()),
        )
        .set("enable.auto.commit", "false")
        .create()
        .context("creating the checker's consumer")?;
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .with_context(|| format!("reading {topic}'s metadata"))?;
    let partitions: Vec<i32> = metadata
        .topics()
        .first()
        .map(|topic| topic.partitions().iter().map(|p| p.id()).collect())
        .unwrap_or_default();
    let mut ends = HashMap::new();
    let mut list = TopicPartitionList::new();
    for partition in partitions {
        let (low, high) = consumer
            .fetch_watermarks(topic, partition, Duration::from_secs(10))
            .with_context(|| format!("reading {topic}/{partition}'s watermarks"))?;
        if high > low {
            ends.insert(partition, high);
            list.add_partition_offset(topic, partition, Offset::Offset(low))?;
        }
    }
    consumer.assign(&list)?;
    let until = Instant::now() + TOPIC_READ;
    let mut records = Vec::new();
    while !ends.is_empty() {
        anyhow::ensure!(
            Instant::now() < until,
            "reading {topic} took longer than {TOPIC_READ:?}"
        );
        let Ok(message) = tokio::time::timeout(Duration::from_secs(5), consumer.recv()).await
        else {
            continue;
        };
        let message = message.with_context(|| format!("reading {topic}"))?;
        let (partition, offset) = (message.partition(), message.offset());
        if ends.get(&partition).is_none_or(|end| offset >= *end) {
            continue;
        }
        let key = String::from_utf8_lossy(message.key().unwrap_or_default()).into_owned();
        let decoded = contracts::decode_envelope(message.payload().unwrap_or_default())
            .map(|envelope| {
                (
                    envelope.aggregate_id,
                    envelope.sequence as i64,
                    envelope.event_id,
                )
            })
            .map_err(|error| error.to_string());
        records.push((partition, offset, key, decoded));
        if ends.get(&partition).is_some_and(|end| offset + 1 >= *end) {
            ends.remove(&partition);
        }
    }
    records.sort_by_key(|(partition, offset, ..)| (*partition, *offset));
    Ok(records)
}

/// A user as the checker folds its events (the fields that are not personal data).
#[derive(Debug, Clone, PartialEq, Eq)]
struct UserState {
    status: String,
    credit_limit_cents: i64,
    reserved_cents: i64,
    version: i64,
}

/// An order as the checker folds its events.
#[derive(Debug, Clone, PartialEq, Eq)]
struct OrderState {
    user_id: String,
    status: String,
    total_cents: i64,
    version: i64,
}

fn cents(payload: &Value, field: &str) -> i64 {
    payload[field].as_i64().unwrap_or_default()
}

fn fold_users(events: &[Stored]) -> HashMap<String, UserState> {
    let mut users: HashMap<String, UserState> = HashMap::new();
    for event in events {
        let user = users
            .entry(event.aggregate_id.clone())
            .or_insert(UserState {
                status: "ACTIVE".into(),
                credit_limit_cents: 0,
                reserved_cents: 0,
                version: 0,
            });
        match event.event_type.as_str() {
            "UserRegistered" | "UserCreditLimitChanged" => {
                user.credit_limit_cents = cents(&event.payload, "credit_limit_cents");
            }
            "UserCreditReserved" => user.reserved_cents += cents(&event.payload, "amount_cents"),
            "UserCreditReleased" => user.reserved_cents -= cents(&event.payload, "amount_cents"),
            "UserDeactivated" => user.status = "DEACTIVATED".into(),
            "UserErased" => user.status = "ERASED".into(),
            _ => {}
        }
        user.version = event.sequence;
    }
    users
}

fn fold_orders(events: &[Stored]) -> HashMap<String, OrderState> {
    let mut orders: HashMap<String, OrderState> = HashMap::new();
    for event in events {
        let order = orders
            .entry(event.aggregate_id.clone())
            .or_insert(OrderState {
                user_id: String::new(),
                status: String::new(),
                total_cents: 0,
                version: 0,
            });
        match event.event_type.as_str() {
            "OrderPlaced" => {
                order.user_id = event.payload["user_id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                order.total_cents = cents(&event.payload, "total_cents");
                order.status = "PENDING".into();
            }
            "OrderApproved" => order.status = "APPROVED".into(),
            "OrderRejected" => order.status = "REJECTED".into(),
            "OrderCancelled" => order.status = "CANCELLED".into(),
            _ => {}
        }
        order.version = event.sequence;
    }
    orders
}

/// Every read model row equals the fold of its aggregate's events, and every aggregate has
/// its row.
async fn check_views(
    checked: &mut Checked,
    stores: &Stores,
    users: &HashMap<String, UserState>,
    orders: &HashMap<String, OrderState>,
) -> anyhow::Result<()> {
    let rows = sqlx::query(
        "SELECT id::text AS id, upper(status) AS status, credit_limit_cents, reserved_cents, version \
         FROM users_view.users",
    )
    .fetch_all(&stores.users_read)
    .await
    .context("reading users_view")?;
    let mut viewed: HashMap<String, UserState> = rows
        .into_iter()
        .map(|row| {
            (
                row.get("id"),
                UserState {
                    status: row.get("status"),
                    credit_limit_cents: row.get("credit_limit_cents"),
                    reserved_cents: row.get("reserved_cents"),
                    version: row.get("version"),
                },
            )
        })
        .collect();
    compare(checked, "users_view", users, &mut viewed);
    let rows = sqlx::query(
        "SELECT id::text AS id, user_id::text AS user_id, upper(status) AS status, total_cents, version \
         FROM orders_view.orders",
    )
    .fetch_all(&stores.orders_read)
    .await
    .context("reading orders_view")?;
    let mut viewed: HashMap<String, OrderState> = rows
        .into_iter()
        .map(|row| {
            (
                row.get("id"),
                OrderState {
                    user_id: row.get("user_id"),
                    status: row.get("status"),
                    total_cents: row.get("total_cents"),
                    version: row.get("version"),
                },
            )
        })
        .collect();
    compare(checked, "orders_view", orders, &mut viewed);
    Ok(())
}

fn compare<T: PartialEq + std::fmt::Debug>(
    checked: &mut Checked,
    view: &str,
    folded: &HashMap<String, T>,
    viewed: &mut HashMap<String, T>,
) {
    for (id, expected) in folded {
        match viewed.remove(id) {
            None => checked.violation(
                "read-model",
                format!("{view}: {id} is missing ({expected:?})"),
            ),
            Some(row) if &row != expected => checked.violation(
                "read-model",
                format!("{view}: {id} reads {row:?} but its events fold to {expected:?}"),
            ),
            Some(_) => {}
        }
    }
    for id in viewed.keys() {
        checked.violation(
            "read-model",
            format!("{view}: {id} has a row but no events"),
        );
    }
}

/// A read answered 200 at `min_version` reflected at least that version, and one that was
/// stored.
fn check_reads(
    checked: &mut Checked,
    history: &[Op],
    users: &HashMap<String, UserState>,
    orders: &HashMap<String, OrderState>,
) {
    for op in history.iter().filter(|op| !op.kind.is_command()) {
        match op.outcome {
            Outcome::Ok { version, .. } => {
                checked.reads += 1;
                if op.min_version.is_some_and(|min| version < min) {
                    checked.violation(
                        "min-version",
                        format!(
                            "{:?} of {:?} at {} ms asked min_version {:?} and was answered version {version}",
                            op.kind, op.target, op.started_ms, op.min_version
                        ),
                    );
                }
                let stored = op
                    .target
                    .map(|id| id.to_string())
                    .and_then(|id| match op.kind {
                        OpKind::ReadUser => users.get(&id).map(|user| user.version),
                        _ => orders.get(&id).map(|order| order.version),
                    });
                if stored.is_none_or(|stored| version > stored) {
                    checked.violation(
                        "min-version",
                        format!(
                            "{:?} of {:?} answered version {version}, never stored",
                            op.kind, op.target
                        ),
                    );
                }
            }
            Outcome::Failed { status: 504 } => checked.reads_not_reached += 1,
            _ => {}
        }
    }
}

/// Every saga finished, none waiting for an operator.
async fn check_sagas(checked: &mut Checked, saga: &PgPool) -> anyhow::Result<()> {
    let rows = sqlx::query(
        "SELECT state, count(*) AS sagas, count(*) FILTER (WHERE finished_at IS NULL) AS open \
         FROM saga.sagas GROUP BY state",
    )
    .fetch_all(saga)
    .await
    .context("reading the saga log")?;
    for row in rows {
        let (state, sagas, open): (String, i64, i64) =
            (row.get("state"), row.get("sagas"), row.get("open"));
        if open > 0 {
            checked.violation(
                "saga-terminal",
                format!("{open} saga(s) unfinished in state {state}"),
            );
        }
        // Finished, but waiting for an operator: a compensation was refused, which no fault
        // of a campaign should cause.
        if state == "FAILED" {
            checked.violation("saga-terminal", format!("{sagas} saga(s) FAILED"));
        }
        checked.sagas_by_state.insert(state, sagas);
    }
    Ok(())
}

/// Where a user's credit stands for one order, after the user's events so far.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Hold {
    None,
    Held(i64),
    Released,
}

/// No reservation beyond the limit at its time, none made twice; what is reserved is the
/// sum of the approved orders, and every order is decided.
fn check_credit(
    checked: &mut Checked,
    users: &[Stored],
    user_states: &HashMap<String, UserState>,
    orders: &HashMap<String, OrderState>,
) {
    let mut holds: HashMap<(String, String), Hold> = HashMap::new();
    let (mut user, mut limit, mut reserved) = (String::new(), 0, 0);
    for event in users {
        if event.aggregate_id != user {
            (user, limit, reserved) = (event.aggregate_id.clone(), 0, 0);
        }
        let order = event.payload["order_id"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        match event.event_type.as_str() {
            "UserRegistered" | "UserCreditLimitChanged" => {
                limit = cents(&event.payload, "credit_limit_cents")
            }
            "UserCreditReserved" => {
                let amount = cents(&event.payload, "amount_cents");
                reserved += amount;
                if reserved > limit {
                    checked.violation(
                        "credit",
                        format!("{user} reserved {reserved} for order {order}, beyond its limit {limit} then"),
                    );
                }
                let hold = holds
                    .entry((user.clone(), order.clone()))
                    .or_insert(Hold::None);
                match hold {
                    Hold::None => {}
                    Hold::Held(_) => checked.violation(
                        "credit",
                        format!("{user} reserved credit for order {order} twice"),
                    ),
                    Hold::Released => checked.violation(
                        "credit",
                        format!("{user} reserved credit for order {order} after releasing it"),
                    ),
                }
                *hold = Hold::Held(amount);
            }
            "UserCreditReleased" => {
                // A release of nothing (amount 0) closes the order's reservation for good.
                reserved -= cents(&event.payload, "amount_cents");
                holds.insert((user.clone(), order), Hold::Released);
            }
            _ => {}
        }
    }
    let mut approved: HashMap<&str, i64> = HashMap::new();
    for (id, order) in orders {
        let hold = holds
            .get(&(order.user_id.clone(), id.clone()))
            .copied()
            .unwrap_or(Hold::None);
        match order.status.as_str() {
            "APPROVED" => {
                *approved.entry(order.user_id.as_str()).or_default() += order.total_cents;
                if hold != Hold::Held(order.total_cents) {
                    checked.violation(
                        "credit",
                        format!(
                            "order {id} is APPROVED for {} but its user's reservation is {hold:?}",
                            order.total_cents
                        ),
                    );
                }
            }
            "PENDING" => checked.violation("saga-terminal", format!("order {id} is still PENDING")),
            status => {
                if matches!(hold, Hold::Held(_)) {
                    checked.violation(
                        "credit",
                        format!("order {id} is {status} but its user still holds its credit"),
                    );
                }
            }
        }
    }
    for (id, user) in user_states {
        let expected = approved.get(id.as_str()).copied().unwrap_or_default();
        if user.reserved_cents != expected {
            checked.violation(
                "credit",
                format!(
                    "{id} holds {} reserved but its approved orders total {expected}",
                    user.reserved_cents
                ),
            );
        }
    }
}
