//! The relay's own mechanics with the test counter (test_support::fixture), whatever the
//! bounded context: it wakes on commit, gives an untraced row a trace, drains a 10k backlog in
//! order, rides out a broker killed under it or down at its start, keeps its backlog gauges
//! current while the broker is silent, and keeps invariant 3 with two relays at once and across
//! a kill -9 after the broker's ack.

use std::time::Duration;

use outbox_relay::{Failpoint, ProducerSettings, Relay, RelayConfig};
use serde_json::json;
use sqlx::PgPool;
use test_support::PrivateBroker;
use test_support::fixture::{
    CounterStore, counter_bus, database_named, fixture_args, fixture_process, open_counters,
};
use test_support::invariants::{
    a_killed_relay_republishes_after_restart, two_relays_publish_each_event_once_while,
};
use test_support::store::{assert_all_on_topic, drained, outbox_len, restart_and_drain};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

fn producer_to(brokers: String, delivery_timeout: Duration) -> ProducerSettings {
    ProducerSettings {
        kafka: kafka_client::KafkaSettings::plaintext(brokers),
        delivery_timeout,
    }
}

fn producer() -> ProducerSettings {
    producer_to(test_support::kafka_brokers(), Duration::from_secs(30))
}

/// A relay of `pool`'s outbox running on its own task.
struct Running {
    cancel: CancellationToken,
    task: JoinHandle<Result<(), outbox_relay::RelayError>>,
}

impl Running {
    fn start(pool: &PgPool, producer: ProducerSettings, config: RelayConfig) -> Self {
        let relay = Relay::new(pool.clone(), producer, config).expect("relay");
        let cancel = CancellationToken::new();
        let task = tokio::spawn(relay.run(cancel.clone()));
        Self { cancel, task }
    }

    async fn stop(self) {
        self.cancel.cancel();
        self.task
            .await
            .expect("joined")
            .expect("relay stopped cleanly");
    }
}

/// A producer to `broker` whose records fail after 5 s, so a silent broker is noticed soon.
fn impatient(broker: &PrivateBroker) -> ProducerSettings {
    producer_to(broker.brokers(), Duration::from_secs(5))
}

/// A relay that retries a failed partition within a second.
fn retrying_every_second() -> RelayConfig {
    RelayConfig {
        max_backoff: Duration::from_secs(1),
        ..RelayConfig::default()
    }
}

/// A topic on `broker` of its own.
async fn topic_on(broker: &PrivateBroker) -> String {
    let kafka = kafka_client::KafkaSettings::plaintext(broker.brokers());
    test_support::fresh_topic_on(&kafka, "counters.events", 3).await
}

#[tokio::test]
async fn the_relay_wakes_on_commit_rather_than_on_its_sweep() {
    let store = CounterStore::new().await;
    let config = RelayConfig {
        sweep_interval: Duration::from_secs(3600),
        ..RelayConfig::default()
    };
    let relay = Running::start(&store.pool, producer(), config);
    store.counter(0).await;
    drained(&store.pool, Duration::from_secs(20)).await;
    // The relay has passed its start-up sweep and the next one is an hour away: only the
    // notification sent on commit can make it publish this one.
    store.counter(0).await;
    drained(&store.pool, Duration::from_secs(20)).await;
    let seen = assert_all_on_topic(&store.pool, &store.topic, Duration::from_secs(30)).await;
    assert_eq!(seen.len(), 2);
    relay.stop().await;
}

#[tokio::test]
async fn a_row_written_outside_any_trace_is_published_with_a_trace_of_its_own() {
    // Spans get trace ids once a tracer provider is installed, as in every service.
    let _telemetry = service_kit::telemetry::init("relay-test");
    let store = CounterStore::new().await;
    // Commands sent straight to the bus, in no span: the rows carry no traceparent.
    open_counters(&store.bus(), 2, 0, 1).await;
    let untraced: i64 =
        sqlx::query_scalar("SELECT count(*) FROM outbox WHERE NOT headers ? 'traceparent'")
            .fetch_one(&store.pool)
            .await
            .unwrap();
    assert_eq!(untraced, 2, "the rows were written without a trace");
    let relay = Running::start(&store.pool, producer(), RelayConfig::default());
    let records =
        test_support::read_topic_until(&store.topic, Duration::from_secs(30), |records| {
            records.len() >= 2
        })
        .await;
    for record in &records {
        let traceparent = record
            .header("traceparent")
            .unwrap_or_else(|| panic!("record {} was published without a traceparent", record.key));
        assert!(
            service_kit::http::valid_traceparent(traceparent),
            "not a W3C traceparent: {traceparent}"
        );
    }
    relay.stop().await;
}

#[tokio::test]
async fn a_relay_started_on_a_backlog_of_ten_thousand_rows_drains_it_in_order() {
    let store = CounterStore::new().await;
    // 200 counters with 50 events each.
    open_counters(&store.bus(), 200, 49, 8).await;
    assert_eq!(outbox_len(&store.pool).await, 10_000);
    // Four partitions at once: each partition's rows must still leave in order.
    let config = RelayConfig {
        concurrency: 4,
        ..RelayConfig::default()
    };
    let relay = Running::start(&store.pool, producer(), config);
    drained(&store.pool, Duration::from_secs(300)).await;
    let seen = assert_all_on_topic(&store.pool, &store.topic, Duration::from_secs(300)).await;
    assert_eq!(seen.len(), 10_000);
    relay.stop().await;
}

#[tokio::test]
async fn the_relay_rides_out_a_broker_killed_and_restarted_under_it() {
    let store = CounterStore::new().await;
    let broker = PrivateBroker::start().await;
    let topic = topic_on(&broker).await;
    let relay = Running::start(&store.pool, impatient(&broker), retrying_every_second());
    let bus = counter_bus(&store.pool, &topic);

    open_counters(&bus, 5, 2, 5).await;
    drained(&store.pool, Duration::from_secs(30)).await;
    broker.kill();
    // Committed while the broker is down: they wait in the outbox.
    open_counters(&bus, 5, 2, 5).await;
    assert_eq!(
        outbox_len(&store.pool).await,
        15,
        "nothing is lost or dropped while the broker is down"
    );
    let seen = restart_and_drain(&broker, &store.pool, &topic).await;
    assert_eq!(seen.len(), 30);
    relay.stop().await;
}

#[tokio::test]
async fn a_relay_started_while_the_broker_is_down_publishes_once_it_is_up() {
    let store = CounterStore::new().await;
    let broker = PrivateBroker::start().await;
    let topic = topic_on(&broker).await;
    broker.kill();
    let relay = Running::start(&store.pool, impatient(&broker), retrying_every_second());
    open_counters(&counter_bus(&store.pool, &topic), 3, 1, 3).await;
    let seen = restart_and_drain(&broker, &store.pool, &topic).await;
    assert_eq!(seen.len(), 6);
    relay.stop().await;
}

/// The backlog gauges are measured on a task of their own, so they follow the outbox while a
/// relay pass waits on a broker that stopped answering: exactly when the OutboxRowsNotPublished
/// alert needs them.
#[tokio::test]
async fn the_backlog_gauges_follow_the_outbox_while_the_broker_does_not_answer() {
    let metrics = service_kit::metrics::handle();
    let gauge = |name: &str| test_support::metric_sample(&metrics.render(), name);
    let store = CounterStore::new().await;
    let broker = PrivateBroker::start().await;
    let topic = topic_on(&broker).await;
    let config = RelayConfig {
        sweep_interval: Duration::from_millis(500),
        ..RelayConfig::default()
    };
    // A delivery timeout long enough that a pass stays stuck on the silent broker.
    let producer = producer_to(broker.brokers(), Duration::from_secs(120));
    let relay = Running::start(&store.pool, producer, config);
    let bus = counter_bus(&store.pool, &topic);
    open_counters(&bus, 1, 0, 1).await;
    drained(&store.pool, Duration::from_secs(60)).await;

    broker.kill();
    let follows = |rows: i64| {
        let pool = store.pool.clone();
        async move {
            test_support::eventually(
                Duration::from_secs(30),
                &format!("outbox_backlog_rows to show the {rows} rows in the outbox"),
                || async {
                    let value = gauge("outbox_backlog_rows")?;
                    (value == rows as f64 && outbox_len(&pool).await == rows).then_some(())
                },
            )
            .await;
        }
    };
    open_counters(&bus, 3, 0, 3).await;
    follows(3).await;
    // The relay is stuck in a pass now; the gauges still move.
    open_counters(&bus, 2, 1, 2).await;
    follows(3 + 4).await;
    test_support::eventually(
        Duration::from_secs(30),
        "the oldest row's age to grow",
        || async { (gauge("outbox_oldest_row_age_seconds")? >= 2.0).then_some(()) },
    )
    .await;

    broker.restart().await;
    drained(&store.pool, Duration::from_secs(120)).await;
    follows(0).await;
    relay.stop().await;
}

#[tokio::test]
async fn two_relays_at_once_publish_each_event_once_in_per_aggregate_order() {
    let store = CounterStore::new().await;
    let arrange = async {
        open_counters(&store.bus(), 60, 5, 6).await;
        60 * 6
    };
    two_relays_publish_each_event_once_while(&store.database, &store.topic, arrange).await;
}

#[tokio::test]
async fn a_relay_killed_after_the_ack_republishes_the_same_events_after_restart() {
    let store = CounterStore::new().await;
    open_counters(&store.bus(), 20, 0, 4).await;
    let crashing = fixture_process(
        "relay_at_the_pause_after_ack_failpoint",
        &json!({ "database": store.database.database_name }),
    );
    let relay =
        a_killed_relay_republishes_after_restart(&store.pool, &store.topic, crashing, || {
            Running::start(&store.pool, producer(), RelayConfig::default())
        })
        .await;
    relay.stop().await;
}

/// Not a test: the relay process `a_relay_killed_after_the_ack_…` kills. It relays the outbox
/// of the database it is given and stops forever once the broker acknowledged a batch.
#[tokio::test]
#[ignore = "a fixture, started as a process of its own by a test of this file"]
async fn relay_at_the_pause_after_ack_failpoint() {
    let Some(args) = fixture_args() else {
        return;
    };
    // The failpoint's log line on stdout is how the killing test knows when to kill.
    let _telemetry = service_kit::telemetry::init("relay-fixture");
    let database = database_named(args["database"].as_str().expect("a database name"));
    let config = RelayConfig {
        failpoint: Some(Failpoint::PauseAfterAck),
        ..RelayConfig::default()
    };
    let relay = Relay::new(database.pool(), producer(), config).expect("relay");
    relay
        .run(CancellationToken::new())
        .await
        .expect("the relay runs until it is killed");
}
