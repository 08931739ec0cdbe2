//! The clients. Each picks commands and reads with a generator seeded from the campaign's
//! seed, sends each to a random replica with an idempotency key and a correlation id of its
//! own, retries with the same key whatever got no definite answer, and records every
//! operation, with what it was finally told, in the history.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use service_kit::auth::Role;
use tokio::sync::Mutex;
use uuid::Uuid;

use crate::topology::Targets;

/// Attempts of one operation: the first and three retries with the same key.
const ATTEMPTS: u32 = 4;
/// Time one attempt may take.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);

/// Milliseconds since the campaign started, shared by every task.
#[derive(Debug, Clone, Copy)]
pub struct Clock(Instant);

impl Clock {
    pub fn new(started: Instant) -> Self {
        Self(started)
    }

    pub fn now_ms(&self) -> u64 {
        self.0.elapsed().as_millis() as u64
    }
}

/// Tells the clients and the monitor to finish.
#[derive(Debug, Clone, Default)]
pub struct Stop(Arc<AtomicBool>);

impl Stop {
    pub fn notify(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    pub fn is_set(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// What an operation asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OpKind {
    Register,
    Rename,
    ChangeLimit,
    Deactivate,
    Place,
    Cancel,
    ReadUser,
    ReadOrder,
}

impl OpKind {
    /// Whether it is a command (writes) rather than a read.
    pub fn is_command(self) -> bool {
        !matches!(self, Self::ReadUser | Self::ReadOrder)
    }
}

/// What the client was finally told.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// A 2xx: the aggregate's version then.
    Ok { status: u16, version: i64 },
    /// A definite refusal (every attempt answered, none 2xx): nothing may have taken effect.
    Failed { status: u16 },
    /// No definite answer: an attempt timed out or was cut after it was sent. It took
    /// effect once or not at all.
    Indeterminate { last: String },
}

/// One operation of the history.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Op {
    pub client: usize,
    pub kind: OpKind,
    /// The aggregate acted on or read (for a registration or a placement: the one created,
    /// if the answer said).
    pub target: Option<Uuid>,
    /// A placed order's user and total; a credit limit change's new limit.
    pub user: Option<Uuid>,
    pub amount_cents: Option<i64>,
    /// Sent as `X-Correlation-Id` with every attempt; the events it caused carry it.
    pub correlation_id: String,
    /// The events' `actor`, as the services write it for this client's token.
    pub actor: String,
    /// For reads: the `min_version` asked for.
    pub min_version: Option<i64>,
    pub started_ms: u64,
    pub ended_ms: u64,
    pub attempts: u32,
    pub outcome: Outcome,
}

/// What every client knows of the aggregates the campaign created: each with the highest
/// version any client was told.
#[derive(Debug, Default)]
pub struct Known {
    users: Vec<Uuid>,
    orders: Vec<Uuid>,
    versions: HashMap<Uuid, i64>,
}

impl Known {
    fn acknowledged(&mut self, id: Uuid, version: i64) {
        let seen = self.versions.entry(id).or_insert(0);
        *seen = (*seen).max(version);
    }
}

/// The shared knowledge of every client.
pub type Shared = Arc<Mutex<Known>>;

/// Runs client `index` until `stop`; answers its history.
pub async fn client(
    index: usize,
    seed: u64,
    targets: Targets,
    known: Shared,
    clock: Clock,
    stop: Stop,
) -> Vec<Op> {
    let mut rng =
        StdRng::seed_from_u64(seed ^ (0x9e37_79b9_7f4a_7c15_u64.wrapping_mul(index as u64 + 1)));
    let subject = format!("chaos-{index}");
    let sender = Sender {
        http: reqwest::Client::builder()
            .timeout(ATTEMPT_TIMEOUT)
            .build()
            .expect("an HTTP client"),
        token: test_support::auth::token(&subject, Role::Admin),
        actor: format!("admin:{subject}"),
        index,
        clock,
    };
    let mut history = Vec::new();
    let mut n = 0_u64;
    while !stop.is_set() {
        n += 1;
        let op = sender.next(&mut rng, &targets, &known, seed, n).await;
        if let (Outcome::Ok { version, .. }, Some(target)) = (&op.outcome, op.target) {
            let mut known = known.lock().await;
            match op.kind {
                OpKind::Register => known.users.push(target),
                OpKind::Place => known.orders.push(target),
                _ => {}
            }
            if op.kind.is_command() {
                known.acknowledged(target, *version);
            }
        }
        history.push(op);
        tokio::time::sleep(Duration::from_millis(rng.random_range(10..60))).await;
    }
    history
}

struct Sender {
    http: reqwest::Client,
    token: String,
    actor: String,
    index: usize,
    clock: Clock,
}

/// A request as an operation sends it.
struct Request<'a> {
    method: Method,
    replicas: &'a [String],
    path: String,
    body: Option<Value>,
}

impl Sender {
    /// Picks, sends and records one operation.
    async fn next(
        &self,
        rng: &mut StdRng,
        targets: &Targets,
        known: &Shared,
        seed: u64,
        n: u64,
    ) -> Op {
        let (user, order, user_version, order_version) = {
            let known = known.lock().await;
            let user = known.users.choose(rng).copied();
            let order = known.orders.choose(rng).copied();
            let version = |id: Option<Uuid>| id.and_then(|id| known.versions.get(&id).copied());
            (user, order, version(user), version(order))
        };
        let roll = rng.random_range(0..100);
        let kind = match (roll, user, order) {
            (_, None, _) | (0..15, _, _) => OpKind::Register,
            (15..25, _, _) => OpKind::Rename,
            (25..35, _, _) => OpKind::ChangeLimit,
            (35..37, _, _) => OpKind::Deactivate,
            (37..72, _, _) | (72..80 | 90..100, _, None) => OpKind::Place,
            (72..80, _, Some(_)) => OpKind::Cancel,
            (80..90, _, _) => OpKind::ReadUser,
            _ => OpKind::ReadOrder,
        };
        let tag = format!("{seed}-{}-{n}", self.index);
        let mut op = Op {
            client: self.index,
            kind,
            target: None,
            user: None,
            amount_cents: None,
            correlation_id: Uuid::now_v7().to_string(),
            actor: self.actor.clone(),
            min_version: None,
            started_ms: self.clock.now_ms(),
            ended_ms: 0,
            attempts: 0,
            outcome: Outcome::Indeterminate {
                last: String::new(),
            },
        };
        let post = |replicas, path: String, body: Value| Request {
            method: Method::POST,
            replicas,
            path,
            body: Some(body),
        };
        let request = match kind {
            OpKind::Register => post(
                &targets.users_command,
                "/users".into(),
                json!({
                    "email": format!("chaos-{tag}@example.com"),
                    "name": format!("Chaos {tag}"),
                    "credit_limit_cents": rng.random_range(50..=500_i64) * 100,
                }),
            ),
            OpKind::Rename | OpKind::ChangeLimit | OpKind::Deactivate | OpKind::ReadUser => {
                let user = user.expect("a user is known");
                op.target = Some(user);
                match kind {
                    OpKind::Rename => post(
                        &targets.users_command,
                        format!("/users/{user}/name"),
                        json!({ "name": format!("Renamed {tag}") }),
                    ),
                    OpKind::ChangeLimit => {
                        let limit = rng.random_range(50..=600_i64) * 100;
                        op.amount_cents = Some(limit);
                        post(
                            &targets.users_command,
                            format!("/users/{user}/credit-limit"),
                            json!({ "credit_limit_cents": limit }),
                        )
                    }
                    OpKind::Deactivate => post(
                        &targets.users_command,
                        format!("/users/{user}/deactivate"),
                        json!({ "reason": "chaos campaign" }),
                    ),
                    _ => {
                        op.min_version = user_version;
                        read(&targets.users_query, format!("/users/{user}"), user_version)
                    }
                }
            }
            OpKind::Place => {
                let user = user.expect("a user is known");
                let (quantity, price) = (
                    rng.random_range(1..=3_i64),
                    rng.random_range(5..=80_i64) * 100,
                );
                op.user = Some(user);
                op.amount_cents = Some(quantity * price);
                post(
                    &targets.orders_command,
                    "/orders".into(),
                    json!({
                        "user_id": user,
                        "items": [{ "sku": "CHAOS-1", "quantity": quantity, "unit_price_cents": price }],
                    }),
                )
            }
            OpKind::Cancel | OpKind::ReadOrder => {
                let order = order.expect("an order is known");
                op.target = Some(order);
                if kind == OpKind::Cancel {
                    post(
                        &targets.orders_command,
                        format!("/orders/{order}/cancel"),
                        json!({ "reason": "chaos campaign" }),
                    )
                } else {
                    op.min_version = order_version;
                    read(
                        &targets.orders_query,
                        format!("/orders/{order}"),
                        order_version,
                    )
                }
            }
        };
        let first = rng.random_range(0..request.replicas.len());
        let (attempts, outcome, body) = self.send(&request, first, &op.correlation_id).await;
        if matches!(kind, OpKind::Register | OpKind::Place) {
            op.target = body
                .as_ref()
                .and_then(|body| body["id"].as_str())
                .and_then(|id| id.parse().ok());
        }
        op.attempts = attempts;
        op.outcome = outcome;
        op.ended_ms = self.clock.now_ms();
        op
    }

    /// Sends `request` until it gets a definite answer or runs out of attempts, each to the
    /// next replica, every attempt with the same idempotency key and correlation id.
    async fn send(
        &self,
        request: &Request<'_>,
        first: usize,
        correlation_id: &str,
    ) -> (u32, Outcome, Option<Value>) {
        let key = Uuid::new_v4().to_string();
        let mut unknown: Option<String> = None;
        let mut last_status = 0;
        for attempt in 0..ATTEMPTS {
            let replica = &request.replicas[(first + attempt as usize) % request.replicas.len()];
            let mut call = self
                .http
                .request(request.method.clone(), format!("{replica}{}", request.path))
                .bearer_auth(&self.token)
                .header("x-correlation-id", correlation_id);
            if let Some(body) = &request.body {
                call = call.header("idempotency-key", &key).json(body);
            }
            match call.send().await {
                Ok(answer) => {
                    let status = answer.status().as_u16();
                    let body: Option<Value> = answer.json().await.ok();
                    if (200..300).contains(&status) {
                        let version = body.as_ref().and_then(|body| body["version"].as_i64());
                        let outcome = match version {
                            Some(version) => Outcome::Ok { status, version },
                            // Cut off in the middle of the answer: done, at a version unknown.
                            None => Outcome::Indeterminate {
                                last: format!("{status} without a readable version"),
                            },
                        };
                        return (attempt + 1, outcome, body);
                    }
                    last_status = status;
                    // A command answered 429 or 5xx committed nothing (invariant 1): try it
                    // again. Any other refusal is definite, unless an earlier attempt got no
                    // answer: a refusal records no idempotency key, so that attempt, still
                    // held up in a paused replica or a pool, may commit after this answer.
                    // A read's answer is always definite.
                    if request.body.is_none() || (status != 429 && status < 500) {
                        let outcome = match (&unknown, request.body.is_some()) {
                            (Some(last), true) => Outcome::Indeterminate {
                                last: format!("{status} after an unanswered attempt ({last})"),
                            },
                            _ => Outcome::Failed { status },
                        };
                        return (attempt + 1, outcome, body);
                    }
                }
                // Never sent: nothing can have happened.
                Err(error) if error.is_connect() => {}
                Err(error) => unknown = Some(error.to_string()),
            }
            tokio::time::sleep(Duration::from_millis(100 << attempt)).await;
        }
        match unknown {
            Some(last) => (ATTEMPTS, Outcome::Indeterminate { last }, None),
            // Every attempt refused or never sent (status 0: no connection).
            None => (
                ATTEMPTS,
                Outcome::Failed {
                    status: last_status,
                },
                None,
            ),
        }
    }
}

/// A read at `min_version`, when one is known.
fn read(replicas: &[String], path: String, min_version: Option<i64>) -> Request<'_> {
    let path = match min_version {
        Some(version) => format!("{path}?min_version={version}&wait_ms=3000"),
        None => path,
    };
    Request {
        method: Method::GET,
        replicas,
        path,
        body: None,
    }
}
