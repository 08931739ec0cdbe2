//! What an SRE scrapes: every service's `/metrics` on the whole running system, after an order
//! went through its saga, exposes the families the dashboards and alerts are built on, with
//! Prometheus naming (units in names, counters ending in `_total`).

use std::collections::BTreeSet;

use test_support::eventually;
use test_support::stack::{SETTLE, Stack};

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
