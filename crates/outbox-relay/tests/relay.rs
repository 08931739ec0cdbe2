//! The relay's own mechanics with the test counter (test_support::fixture), whatever the
//! bounded context: it wakes on commit, gives an untraced row a trace, drains a 10k backlog in
//! order, rides out a broker killed under it or down at its start, keeps its backlog gauges
//! current while the broker is silent, keeps invariant 3 with two relays at once and across
//! a kill -9 after the broker's ack, and sets aside a row the broker keeps refusing with only
//! its own aggregate held back, for an operator to retry or skip.

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
async fn the_backlog_ages_only_rows_a_relay_may_publish() {
    let store = CounterStore::new().await;
    // (partition, aggregate, minutes old, set aside): aggregate "stuck" has a row set aside
    // an hour ago and a row held back behind it; "flowing" waits ten minutes, "fresh" not at
    // all; "stuck" in another lease partition is another aggregate and flows.
    let rows = [
        (1, "stuck", 60, true),
        (1, "stuck", 50, false),
        (1, "flowing", 10, false),
        (2, "fresh", 0, false),
        (2, "stuck", 5, false),
    ];
    for (partition, key, minutes, set_aside) in rows {
        sqlx::query(
            "INSERT INTO outbox (partition_key, topic, message_key, payload, event_id, \
                 created_at, set_aside_at) \
             VALUES ($1, 'counters.events', $2, '\\x00', gen_random_uuid(), \
                 now() - make_interval(mins => $3), CASE WHEN $4 THEN now() END)",
        )
        .bind(partition as i16)
        .bind(key)
        .bind(minutes)
        .bind(set_aside)
        .execute(&store.pool)
        .await
        .unwrap();
    }
    let backlog = outbox_relay::status::backlog(&store.pool).await.unwrap();
    assert_eq!((backlog.unpublished, backlog.set_aside), (5, 1));
    let oldest = backlog.oldest_age_seconds.expect("rows flow");
    assert!((600.0..660.0).contains(&oldest), "{backlog:?}");
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

/// Makes the `sequence`th outbox row of `counter` larger than a topic taking 2 kB accepts (it
/// stays an envelope: the actor grows).
async fn swell(store: &CounterStore, counter: uuid::Uuid, sequence: usize) {
    use contracts::Message as _;
    let (id, payload): (i64, Vec<u8>) = sqlx::query_as(
        "SELECT id, payload FROM outbox WHERE message_key = $1 ORDER BY id OFFSET $2 LIMIT 1",
    )
    .bind(counter.to_string())
    .bind(sequence as i64 - 1)
    .fetch_one(&store.pool)
    .await
    .unwrap();
    let mut envelope = contracts::decode_envelope(&payload).unwrap();
    envelope.actor = "x".repeat(4_096);
    sqlx::query("UPDATE outbox SET payload = $2 WHERE id = $1")
        .bind(id)
        .bind(envelope.encode_to_vec())
        .execute(&store.pool)
        .await
        .unwrap();
}

/// The sequences of `counter` on the topic, in topic order, as a consumer applies them: a
/// repeat of a sequence already seen is dropped (rows delivered in a batch the broker partly
/// refused are sent again, ADR 0002).
fn sequences(records: &[test_support::Record], counter: uuid::Uuid) -> Vec<u64> {
    let mut applied: Vec<u64> = Vec::new();
    for record in records.iter().filter(|r| r.key == counter.to_string()) {
        if applied
            .last()
            .is_none_or(|last| record.envelope.sequence > *last)
        {
            applied.push(record.envelope.sequence);
        }
    }
    applied
}

#[tokio::test]
async fn a_row_the_broker_keeps_refusing_holds_back_only_its_aggregate_and_is_retried_or_skipped() {
    use outbox_relay::status;
    let store = CounterStore::new().await;
    test_support::set_topic_config(&store.topic, "max.message.bytes", "2048").await;
    let (retried, skipped) = (store.counter(2).await, store.counter(2).await);
    let flowing = [store.counter(2).await, store.counter(2).await];
    swell(&store, retried, 2).await;
    swell(&store, skipped, 2).await;
    let config = RelayConfig {
        max_attempts: 3,
        max_backoff: Duration::from_millis(200),
        ..RelayConfig::default()
    };
    let relay = Running::start(&store.pool, producer(), config);

    // Both swollen rows are set aside after three refusals, each with the row behind it.
    let aside = test_support::eventually(Duration::from_secs(60), "two rows set aside", || async {
        let rows = status::set_aside(&store.pool).await.ok()?;
        (rows.len() == 2).then_some(rows)
    })
    .await;
    for row in &aside {
        assert_eq!((row.attempts, row.held_back), (3, 1), "{row:?}");
        assert!(
            row.last_error
                .as_deref()
                .unwrap_or_default()
                .contains("too large"),
            "{row:?}"
        );
    }
    let backlog = status::backlog(&store.pool).await.unwrap();
    assert_eq!((backlog.unpublished, backlog.set_aside), (4, 2));
    assert_eq!(
        backlog.oldest_age_seconds, None,
        "nothing waits for a relay"
    );
    // Everything else flowed: the other counters whole, the stuck ones up to their stuck row.
    let records = test_support::read_topic_until(&store.topic, Duration::from_secs(30), |r| {
        flowing
            .iter()
            .all(|counter| sequences(r, *counter).len() == 3)
            && [retried, skipped]
                .iter()
                .all(|counter| !sequences(r, *counter).is_empty())
    })
    .await;
    let seen: Vec<(String, u64)> = records
        .iter()
        .map(|r| (r.key.chars().skip(24).collect(), r.envelope.sequence))
        .collect();
    for counter in flowing {
        assert_eq!(sequences(&records, counter), [1, 2, 3], "{seen:?}");
    }
    assert_eq!(sequences(&records, retried), [1], "{retried} {seen:?}");
    assert_eq!(sequences(&records, skipped), [1], "{skipped} {seen:?}");

    // Skipped: recorded with who and why, and the aggregate's later row flows (a gap at 2).
    let gone = status::skip(
        &store.pool,
        &skipped.to_string(),
        "ops",
        "too large ever to publish",
    )
    .await
    .unwrap()
    .expect("a set-aside row to skip");
    let (actor, reason): (String, String) =
        sqlx::query_as("SELECT actor, reason FROM outbox_skipped WHERE event_id = $1")
            .bind(gone.event_id)
            .fetch_one(&store.pool)
            .await
            .unwrap();
    assert_eq!(
        (actor.as_str(), reason.as_str()),
        ("ops", "too large ever to publish")
    );

    // Retried once the topic takes it: published in order.
    test_support::set_topic_config(&store.topic, "max.message.bytes", "1048588").await;
    assert!(
        status::retry(&store.pool, &retried.to_string())
            .await
            .unwrap()
            .is_some()
    );
    drained(&store.pool, Duration::from_secs(60)).await;
    let records = test_support::read_topic_until(&store.topic, Duration::from_secs(30), |r| {
        sequences(r, retried).len() == 3 && sequences(r, skipped).len() == 2
    })
    .await;
    assert_eq!(sequences(&records, retried), [1, 2, 3]);
    assert_eq!(sequences(&records, skipped), [1, 3]);
    assert!(status::set_aside(&store.pool).await.unwrap().is_empty());
    assert!(
        status::retry(&store.pool, &retried.to_string())
            .await
            .unwrap()
            .is_none()
    );
    relay.stop().await;
}
