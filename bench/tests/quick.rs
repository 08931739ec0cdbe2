//! The quick variant of every benchmark, against the five services as processes on fresh
//! databases and topics, so the harness cannot rot. It checks that each benchmark measured
//! what it says (operations done, nothing missing), never how fast.

use bench::{Section, Sizes, Target};
use service_kit::auth::Role;
use test_support::stack::Stack;

fn section<'a>(sections: &'a [Section], id: &str) -> &'a Section {
    sections
        .iter()
        .find(|section| section.id == id)
        .unwrap_or_else(|| panic!("no section {id}"))
}

/// The cell under `column` of every row, as a number.
fn column(section: &Section, column: &str) -> Vec<f64> {
    let index = section
        .header
        .iter()
        .position(|header| header == column)
        .unwrap_or_else(|| panic!("{} has no column {column}", section.id));
    section
        .rows
        .iter()
        .map(|row| {
            let cell = row[index].split_whitespace().next().unwrap_or_default();
            cell.parse()
                .unwrap_or_else(|_| panic!("{}: {column} is {:?}", section.id, row[index]))
        })
        .collect()
}

#[tokio::test]
async fn every_benchmark_runs_end_to_end_at_tiny_sizes() {
    let stack = Stack::start(30_000).await;
    let target = Target {
        users_command: stack.users_command.address.clone(),
        users_query: stack.users_query.address.clone(),
        orders_command: stack.orders_command.address.clone(),
        orders_query: stack.orders_query.address.clone(),
        clients: (0..8)
            .map(|n| test_support::auth::client_as(&format!("bench-{n}"), Role::Admin))
            .collect(),
        server: test_support::server_settings(),
        kafka: service_kit::settings::KafkaSettings::plaintext(test_support::kafka_brokers()),
        users_topic: stack.users_topic.clone(),
    };
    let sizes = Sizes::quick();
    let sections = bench::run(&target, &sizes, &[])
        .await
        .expect("the benchmarks run");

    let limit = section(&sections, "b0");
    assert_eq!(limit.rows.len(), sizes.clients.len());
    assert!(column(limit, "tx/s").iter().all(|tps| *tps > 0.0));
    assert!(column(limit, "p99 ms").iter().all(|ms| *ms > 0.0));

    let commands = section(&sections, "b1");
    assert_eq!(commands.rows.len(), 2 * sizes.clients.len());
    assert!(column(commands, "ops/s").iter().all(|rate| *rate > 0.0));
    assert!(
        column(commands, "failed")
            .iter()
            .all(|failed| *failed == 0.0)
    );
    assert!(column(commands, "÷ B0").iter().all(|ratio| *ratio > 0.0));

    // Every registration of the half load reached the topic and the read model.
    let relay = section(&sections, "b2");
    assert_eq!(column(relay, "missing"), vec![0.0, 0.0], "{relay:?}");
    assert!(column(relay, "p50 ms").iter().all(|ms| *ms > 0.0));
    assert_eq!(column(section(&sections, "b3"), "missing"), vec![0.0]);

    let drain = section(&sections, "b2-drain");
    assert_eq!(column(drain, "rows"), vec![sizes.drain_rows as f64]);
    assert!(column(drain, "rows/s")[0] > 0.0);
    let rebuild = section(&sections, "b3-rebuild");
    assert_eq!(
        column(rebuild, "events"),
        vec![sizes.rebuild_events[0] as f64]
    );

    let sagas = section(&sections, "b4");
    assert_eq!(
        column(sagas, "failed"),
        vec![0.0, 0.0],
        "every order approved: {sagas:?}"
    );

    // B5 stores the events of the users it loads before its first row.
    let growth = section(&sections, "b5");
    assert_eq!(
        column(growth, "events stored"),
        sizes
            .growth_events
            .iter()
            .map(|n| (*n).max(bench::scenarios::PROBE_EVENTS) as f64)
            .collect::<Vec<_>>()
    );
    assert!(
        column(growth, "load p50 ms").iter().all(|ms| *ms > 0.0),
        "every row timed loads: {growth:?}"
    );
    let loads = section(&sections, "b5-snapshot");
    assert_eq!(
        column(loads, "events in the stream"),
        vec![sizes.snapshot_events as f64]
    );

    let report = bench::write_report("", "Machine: test", &sections);
    for section in &sections {
        assert!(
            report.contains(&section.title),
            "the report lacks {}",
            section.title
        );
    }
}
