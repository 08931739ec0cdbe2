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

/// The span of `trace` named `name` exported by `service` whose parent is `parent` (any
/// parent when `None`).
fn find<'a>(
    trace: &'a [Span],
    service: &str,
    kind: i64,
    name: impl Fn(&str) -> bool,
    parent: Option<&Span>,
) -> Option<&'a Span> {
    trace.iter().find(|span| {
        span.service == service
            && span.kind == kind
            && name(&span.name)
            && parent.is_none_or(|parent| span.parent_span_id == parent.span_id)
    })
}

const SERVER: i64 = 2;
const CLIENT: i64 = 3;
const PRODUCER: i64 = 4;
const CONSUMER: i64 = 5;

/// The chain from a placed order to its approval, as parent/child spans of one trace; `None`
/// until every link has been exported.
fn chain(trace: &[Span], caller_span: &str) -> Option<Vec<Span>> {
    let placed = trace.iter().find(|span| {
        span.service == "orders-command"
            && span.kind == SERVER
            && span.name == "POST /orders"
            && span.parent_span_id == caller_span
    })?;
    let command = find(
        trace,
        "orders-command",
        1,
        |n| n == "order command",
        Some(placed),
    )?;
    let published = find(
        trace,
        "orders-command",
        PRODUCER,
        |n| n.ends_with(" publish"),
        Some(command),
    )?;
    let projected = find(
        trace,
        "orders-query",
        CONSUMER,
        |n| n.ends_with(" process"),
        Some(published),
    )?;
    let consumed = find(
        trace,
        "saga-orchestrator",
        CONSUMER,
        |n| n.ends_with(" process"),
        Some(published),
    )?;
    let step = find(
        trace,
        "saga-orchestrator",
        1,
        |n| n.starts_with("saga place-order RESERVING_CREDIT"),
        Some(consumed),
    )?;
    let call = find(
        trace,
        "saga-orchestrator",
        CLIENT,
        |n| n == "POST users-command",
        Some(step),
    )?;
    let reserved = find(
        trace,
        "users-command",
        SERVER,
        |n| n == "POST /users/{id}/credit-reservations",
        Some(call),
    )?;
    let reservation = find(
        trace,
        "users-command",
        1,
        |n| n == "user command",
        Some(reserved),
    )?;
    let user_published = find(
        trace,
        "users-command",
        PRODUCER,
        |n| n.ends_with(" publish"),
        Some(reservation),
    )?;
    let user_projected = find(
        trace,
        "users-query",
        CONSUMER,
        |n| n.ends_with(" process"),
        Some(user_published),
    )?;
    // And back: the saga approves the order at orders-command, in the same trace.
    let approving = find(
        trace,
        "saga-orchestrator",
        1,
        |n| n.starts_with("saga place-order APPROVING_ORDER"),
        None,
    )?;
    let approve_call = find(
        trace,
        "saga-orchestrator",
        CLIENT,
        |n| n == "POST orders-command",
        Some(approving),
    )?;
    let approved = find(
        trace,
        "orders-command",
        SERVER,
        |n| n == "POST /orders/{id}/approve",
        Some(approve_call),
    )?;
    let approval = find(
        trace,
        "orders-command",
        1,
        |n| n == "order command",
        Some(approved),
    )?;
    let approval_published = find(
        trace,
        "orders-command",
        PRODUCER,
        |n| n.ends_with(" publish"),
        Some(approval),
    )?;
    let approval_projected = find(
        trace,
        "orders-query",
        CONSUMER,
        |n| n.ends_with(" process"),
        Some(approval_published),
    )?;
    Some(
        [
            placed,
            command,
            published,
            projected,
            consumed,
            step,
            call,
            reserved,
            reservation,
            user_published,
            user_projected,
            approving,
            approve_call,
            approved,
            approval,
            approval_published,
            approval_projected,
        ]
        .into_iter()
        .cloned()
        .collect(),
    )
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
