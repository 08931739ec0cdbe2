//! What an SRE sees of the whole running system: every service's `/metrics`, after an order
//! went through its saga, exposes the families the dashboards and alerts are built on, with
//! Prometheus naming (units in names, counters ending in `_total`); and one trace, exported
//! over OTLP to a receiver in the test, runs from `POST /orders` through the outbox, Kafka, the
//! read models, the saga and its calls to users-command and back to orders-command.

use std::collections::BTreeSet;

use test_support::eventually;
use test_support::otlp::{Receiver, Span};
use test_support::stack::{SETTLE, Stack};
use uuid::Uuid;

/// Families every service exports.
const EVERY_SERVICE: &[&str] = &[
    "http_requests_total",
    "http_request_duration_seconds",
    "db_pool_connections",
    "db_pool_max_connections",
];
/// Families of a command service: its event store, outbox and relay.
const COMMAND_SERVICE: &[&str] = &[
    "event_store_events_appended_total",
    "event_store_head_position",
    "event_store_head_timestamp_seconds",
    "outbox_backlog_rows",
    "outbox_oldest_row_age_seconds",
    "outbox_relay_published_total",
    "outbox_relay_lag_seconds",
    "outbox_relay_batch_seconds",
];
/// Families of a service running a projector.
const PROJECTOR: &[&str] = &[
    "projector_events_applied_total",
    "projector_batch_seconds",
    "projector_lag_seconds",
    "projector_lag_events",
    "projector_parked_events",
];
/// Families of the saga orchestrator.
const SAGAS: &[&str] = &[
    "saga_started_total",
    "saga_completed_total",
    "saga_time_to_terminal_seconds",
    "saga_in_flight",
    "saga_in_flight_by_state",
    "saga_call_retries_total",
    "saga_circuit_breaker_state",
];

/// The metric families named in a Prometheus text exposition (by their `# TYPE` lines).
fn families(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter_map(|line| line.strip_prefix("# TYPE "))
        .filter_map(|rest| rest.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn every_service_exports_the_families_dashboards_and_alerts_use() {
    let stack = Stack::start(30_000).await;
    let user = stack.register("metrics", 10_000).await;
    let order = stack.place(user, 1_000).await;
    assert_eq!(
        stack.finished(order, "place-order").await["state"],
        "APPROVED"
    );
    stack.order_in(order, "APPROVED").await;
    stack.reserved_becomes(user, 1_000).await;

    let services = [
        (
            &stack.users_command,
            [EVERY_SERVICE, COMMAND_SERVICE].concat(),
        ),
        (
            &stack.orders_command,
            [EVERY_SERVICE, COMMAND_SERVICE].concat(),
        ),
        (&stack.users_query, [EVERY_SERVICE, PROJECTOR].concat()),
        (&stack.orders_query, [EVERY_SERVICE, PROJECTOR].concat()),
        (&stack.saga, [EVERY_SERVICE, PROJECTOR, SAGAS].concat()),
    ];
    let stack = &stack;
    for (service, expected) in services {
        // Gauges measured on an interval (lag, backlog, parked) appear within seconds.
        let exported = eventually(
            SETTLE,
            &format!("{}'s metric families", service.name),
            || {
                let expected = expected.clone();
                async move {
                    let text = stack
                        .get(&service.address, "/metrics")
                        .await
                        .text()
                        .await
                        .ok()?;
                    let exported = families(&text);
                    expected
                        .iter()
                        .all(|family| exported.contains(*family))
                        .then_some((exported, text))
                }
            },
        )
        .await;
        let (exported, text) = exported;
        for family in &exported {
            assert!(
                family
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
                "{}: {family} is snake_case",
                service.name
            );
        }
        for line in text.lines().filter(|line| line.starts_with("# TYPE ")) {
            let mut words = line.split_whitespace().skip(2);
            let (name, kind) = (words.next().unwrap(), words.next().unwrap());
            if kind == "counter" {
                assert!(name.ends_with("_total"), "{}: counter {name}", service.name);
            }
            if kind == "histogram" {
                assert!(
                    name.ends_with("_seconds"),
                    "{}: histogram {name} names its unit",
                    service.name
                );
            }
        }
    }
    let appended = stack
        .get(&stack.orders_command.address, "/metrics")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        appended.lines().any(|line| line.starts_with(
            "event_store_events_appended_total{aggregate_type=\"order\",event_type=\"OrderPlaced\"}"
        )),
        "appends are counted by type: {appended}"
    );
}

const INTERNAL: i64 = 1;
const SERVER: i64 = 2;
const CLIENT: i64 = 3;
const PRODUCER: i64 = 4;
const CONSUMER: i64 = 5;

/// How a link's span name is matched.
#[derive(Clone, Copy)]
enum Name {
    Is(&'static str),
    StartsWith(&'static str),
    EndsWith(&'static str),
}

impl Name {
    fn matches(self, name: &str) -> bool {
        match self {
            Self::Is(text) => name == text,
            Self::StartsWith(text) => name.starts_with(text),
            Self::EndsWith(text) => name.ends_with(text),
        }
    }
}

/// The links from a placed order to its approval: service, span kind, name, and the index of
/// the link that must be its parent (`None`: the caller's span for the first, any for others).
const CHAIN: &[(&str, i64, Name, Option<usize>)] = &[
    ("orders-command", SERVER, Name::Is("POST /orders"), None), // 0
    (
        "orders-command",
        INTERNAL,
        Name::Is("order command"),
        Some(0),
    ), // 1
    (
        "orders-command",
        PRODUCER,
        Name::EndsWith(" publish"),
        Some(1),
    ), // 2
    (
        "orders-query",
        CONSUMER,
        Name::EndsWith(" process"),
        Some(2),
    ), // 3
    (
        "saga-orchestrator",
        CONSUMER,
        Name::EndsWith(" process"),
        Some(2),
    ), // 4
    (
        "saga-orchestrator",
        INTERNAL,
        Name::Is("saga place-order RESERVING_CREDIT"),
        Some(4),
    ), // 5
    (
        "saga-orchestrator",
        CLIENT,
        Name::Is("POST users-command"),
        Some(5),
    ), // 6
    (
        "users-command",
        SERVER,
        Name::Is("POST /users/{id}/credit-reservations"),
        Some(6),
    ), // 7
    ("users-command", INTERNAL, Name::Is("user command"), Some(7)), // 8
    (
        "users-command",
        PRODUCER,
        Name::EndsWith(" publish"),
        Some(8),
    ), // 9
    ("users-query", CONSUMER, Name::EndsWith(" process"), Some(9)), // 10
    // And back: the saga approves the order at orders-command, in the same trace.
    (
        "saga-orchestrator",
        INTERNAL,
        Name::StartsWith("saga place-order APPROVING_ORDER"),
        None,
    ), // 11
    (
        "saga-orchestrator",
        CLIENT,
        Name::Is("POST orders-command"),
        Some(11),
    ), // 12
    (
        "orders-command",
        SERVER,
        Name::Is("POST /orders/{id}/approve"),
        Some(12),
    ), // 13
    (
        "orders-command",
        INTERNAL,
        Name::Is("order command"),
        Some(13),
    ), // 14
    (
        "orders-command",
        PRODUCER,
        Name::EndsWith(" publish"),
        Some(14),
    ), // 15
    (
        "orders-query",
        CONSUMER,
        Name::EndsWith(" process"),
        Some(15),
    ), // 16
];

/// The spans of [`CHAIN`] in `trace`, each the child of the one it names; `None` until every
/// link has been exported.
fn chain(trace: &[Span], caller_span: &str) -> Option<Vec<Span>> {
    let mut found: Vec<Span> = Vec::new();
    for (index, (service, kind, name, parent)) in CHAIN.iter().enumerate() {
        let parent_id = match parent {
            Some(parent) => Some(found[*parent].span_id.as_str()),
            None if index == 0 => Some(caller_span),
            None => None,
        };
        let span = trace.iter().find(|span| {
            span.service == *service
                && span.kind == *kind
                && name.matches(&span.name)
                && parent_id.is_none_or(|parent| span.parent_span_id == parent)
        })?;
        found.push(span.clone());
    }
    Some(found)
}

#[tokio::test]
async fn one_trace_runs_from_post_orders_through_kafka_the_saga_and_its_calls_and_back() {
    let receiver = Receiver::start().await;
    let stack = Stack::start_everywhere(
        30_000,
        &[],
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint.as_str()),
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
        ],
    )
    .await;
    let user = stack.register("traced", 10_000).await;
    // The client's own span: everything the order causes belongs to its trace.
    let trace_id = Uuid::new_v4().simple().to_string();
    let caller_span = &Uuid::new_v4().simple().to_string()[..16];
    let response = stack
        .client
        .post(format!("{}/orders", stack.orders_command.address))
        .header("traceparent", format!("00-{trace_id}-{caller_span}-01"))
        .json(&serde_json::json!({
            "user_id": user,
            "items": [{ "sku": "TRACED-1", "quantity": 1, "unit_price_cents": 1_500 }],
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let order: Uuid = response.json::<serde_json::Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        stack.finished(order, "place-order").await["state"],
        "APPROVED"
    );
    stack.order_in(order, "APPROVED").await;

    let trace = receiver
        .trace_until(&trace_id, SETTLE, |trace| {
            chain(trace, caller_span).is_some()
        })
        .await;
    let Some(links) = chain(&trace, caller_span) else {
        let all: Vec<String> = receiver
            .spans()
            .iter()
            .map(|s| {
                format!(
                    "{} {} kind={} trace={} id={} parent={}",
                    s.service, s.name, s.kind, s.trace_id, s.span_id, s.parent_span_id
                )
            })
            .collect();
        panic!("the chain is incomplete; received:\n{}", all.join("\n"));
    };
    assert_eq!(links.len(), 17);
    let services: BTreeSet<&str> = links.iter().map(|span| span.service.as_str()).collect();
    assert_eq!(
        services,
        BTreeSet::from([
            "orders-command",
            "orders-query",
            "saga-orchestrator",
            "users-command",
            "users-query"
        ]),
        "one trace through all five services"
    );
    assert!(
        receiver
            .spans()
            .iter()
            .all(|span| span.name != "GET /health/ready" && span.name != "GET /metrics"),
        "probes and scrapes are not traced"
    );
}
