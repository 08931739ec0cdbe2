//! Invariant 3 for users.events: the shared invariant tests (test_support::invariants) run for
//! the Users context, and the relay's own mechanics (wake-up on commit, a 10k backlog, a
//! broker killed under it or down at start), which do not depend on the context.

mod common;

use std::time::Duration;

use common::{Users, arrange_events, bus};
use contracts::events::v1::event_envelope::Payload;
use contracts::users::v1::user_event::Event;
use outbox_relay::{ProducerSettings, Relay, RelayConfig};
use test_support::invariants::{self, migrated_store};
use test_support::store::{assert_all_on, assert_all_on_topic, drained, outbox_len};
use tokio_util::sync::CancellationToken;

fn producer() -> ProducerSettings {
    ProducerSettings {
        kafka: service_kit::settings::KafkaSettings::plaintext(test_support::kafka_brokers()),
        delivery_timeout: Duration::from_secs(30),
    }
}

#[tokio::test]
async fn every_event_reaches_the_topic_as_a_protobuf_envelope_in_per_aggregate_order() {
    let records = invariants::every_event_reaches_the_topic_in_per_aggregate_order::<Users>().await;
    for record in &records {
        assert_eq!(record.envelope.aggregate_type, "user");
        let Some(Payload::User(user)) = &record.envelope.payload else {
            panic!("a User payload in {record:?}");
        };
        match (record.envelope.sequence, &user.event) {
            (1, Some(Event::Registered(registered))) => {
                assert_eq!(registered.user_id, record.key);
                assert_eq!(record.envelope.event_type, "UserRegistered");
            }
            (n, Some(Event::Renamed(renamed))) => assert_eq!(renamed.name, format!("Name {n}")),
            other => panic!("unexpected event {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_relay_killed_after_the_ack_republishes_the_same_events_after_restart() {
    invariants::a_relay_killed_after_the_ack_republishes_the_same_events::<Users>().await;
}

#[tokio::test]
async fn two_relays_at_once_publish_each_event_once_in_per_aggregate_order() {
    invariants::two_relays_at_once_publish_each_event_once::<Users>().await;
}

#[tokio::test]
async fn kill_9_under_load_loses_no_acknowledged_command() {
    invariants::kill_9_under_load_loses_no_acknowledged_command::<Users>().await;
}

#[tokio::test]
async fn the_relay_wakes_on_commit_rather_than_on_its_sweep() {
    let (_, pool, topic) = migrated_store::<Users>().await;
    let config = RelayConfig {
        sweep_interval: Duration::from_secs(3600),
        ..RelayConfig::default()
    };
    let relay = Relay::new(pool.clone(), producer(), config).unwrap();
    let cancel = CancellationToken::new();
    let task = tokio::spawn(relay.run(cancel.clone()));
    let bus = bus(&pool, &topic);
    arrange_events(&bus, 1, 0, 1).await;
    drained(&pool, Duration::from_secs(20)).await;
    // The relay has passed its start-up sweep and the next one is an hour away: only the
    // notification sent on commit can make it publish this one.
    arrange_events(&bus, 1, 0, 1).await;
    drained(&pool, Duration::from_secs(20)).await;
    let seen = assert_all_on_topic(&pool, &topic, Duration::from_secs(30)).await;
    assert_eq!(seen.len(), 2);
    cancel.cancel();
    task.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_row_written_outside_any_trace_is_published_with_a_trace_of_its_own() {
    // Spans get trace ids once a tracer provider is installed, as in every service.
    let _telemetry = service_kit::telemetry::init("relay-test");
    let (_, pool, topic) = migrated_store::<Users>().await;
    // Commands sent straight to the bus, in no span: the rows carry no traceparent.
    let bus = bus(&pool, &topic);
    arrange_events(&bus, 2, 0, 1).await;
    let untraced: i64 =
        sqlx::query_scalar("SELECT count(*) FROM outbox WHERE NOT headers ? 'traceparent'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(untraced, 2, "the rows were written without a trace");
    let relay = Relay::new(pool.clone(), producer(), RelayConfig::default()).unwrap();
    let cancel = CancellationToken::new();
    let task = tokio::spawn(relay.run(cancel.clone()));
    let records = test_support::read_topic_until(&topic, Duration::from_secs(30), |records| {
        records.len() >= 2
    })
    .await;
    for record in &records {
        let traceparent = record
            .header("traceparent")
            .unwrap_or_else(|| panic!("record {} was published without a traceparent", record.key));
        let parts: Vec<&str> = traceparent.split('-').collect();
        assert!(
            parts.len() == 4 && parts[1].len() == 32 && parts[2].len() == 16,
            "not a W3C traceparent: {traceparent}"
        );
    }
    cancel.cancel();
    task.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_relay_started_on_a_backlog_of_ten_thousand_rows_drains_it_in_order() {
    let (_, pool, topic) = migrated_store::<Users>().await;
    // 200 users with 50 events each.
    arrange_events(&bus(&pool, &topic), 200, 49, 8).await;
    assert_eq!(outbox_len(&pool).await, 10_000);
    // Four partitions at once: each partition's rows must still leave in order.
    let config = RelayConfig {
        concurrency: 4,
        ..RelayConfig::default()
    };
    let relay = Relay::new(pool.clone(), producer(), config).unwrap();
    let cancel = CancellationToken::new();
    let task = tokio::spawn(relay.run(cancel.clone()));
    drained(&pool, Duration::from_secs(300)).await;
    let seen = assert_all_on_topic(&pool, &topic, Duration::from_secs(300)).await;
    assert_eq!(seen.len(), 10_000);
    cancel.cancel();
    task.await.unwrap().unwrap();
}

#[tokio::test]
async fn the_relay_rides_out_a_broker_killed_and_restarted_under_it() {
    let (_, pool, _) = migrated_store::<Users>().await;
    let broker = test_support::PrivateBroker::start().await;
    let topic = format!("users.events.{}", uuid::Uuid::new_v4().simple());
    let kafka = service_kit::settings::KafkaSettings::plaintext(broker.brokers());
    let admin = service_kit::kafka::admin(&kafka).unwrap();
    service_kit::kafka::ensure_topic(&admin, &topic, 3)
        .await
        .unwrap();
    let settings = ProducerSettings {
        kafka,
        delivery_timeout: Duration::from_secs(5),
    };
    let config = RelayConfig {
        max_backoff: Duration::from_secs(1),
        ..RelayConfig::default()
    };
    let relay = Relay::new(pool.clone(), settings, config).unwrap();
    let cancel = CancellationToken::new();
    let task = tokio::spawn(relay.run(cancel.clone()));
    let bus = bus(&pool, &topic);

    let before = arrange_events(&bus, 5, 2, 5).await;
    drained(&pool, Duration::from_secs(30)).await;
    broker.kill();
    // Committed while the broker is down: they wait in the outbox.
    let during = arrange_events(&bus, 5, 2, 5).await;
    assert_eq!(
        outbox_len(&pool).await,
        15,
        "nothing is lost or dropped while the broker is down"
    );
    broker.restart().await;
    drained(&pool, Duration::from_secs(90)).await;
    let seen = assert_all_on(&broker.brokers(), &pool, &topic, Duration::from_secs(60)).await;
    assert_eq!(seen.len(), (before.len() + during.len()) * 3);
    cancel.cancel();
    task.await.unwrap().unwrap();
}

/// A users-command (relay on) running in this process on a fresh event store and topic,
/// publishing to `broker`, whether it is up or not.
struct OnBroker {
    pool: sqlx::PgPool,
    topic: String,
    /// Its /metrics page.
    metrics: String,
    cancel: CancellationToken,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

async fn on_broker(broker: &test_support::PrivateBroker) -> OnBroker {
    let (database, pool, _) = migrated_store::<Users>().await;
    let topic = format!("users.events.{}", uuid::Uuid::new_v4().simple());
    let mut settings = common::settings(database, &topic, true);
    settings.kafka.brokers = broker.brokers();
    let cancel = CancellationToken::new();
    let app = users_command::Application::build(settings, cancel.clone())
        .await
        .expect("users-command starts, with or without its broker");
    let metrics = format!("http://127.0.0.1:{}/metrics", app.port());
    let task = tokio::spawn(app.run_until_stopped());
    OnBroker {
        pool,
        topic,
        metrics,
        cancel,
        task,
    }
}

#[tokio::test]
async fn a_relay_started_while_the_broker_is_down_creates_its_topic_and_publishes_once_it_is_up() {
    let broker = test_support::PrivateBroker::start().await;
    broker.kill();
    let OnBroker {
        pool,
        topic,
        cancel,
        task,
        ..
    } = on_broker(&broker).await;
    arrange_events(&bus(&pool, &topic), 3, 1, 3).await;
    broker.restart().await;
    drained(&pool, Duration::from_secs(90)).await;
    let seen = assert_all_on(&broker.brokers(), &pool, &topic, Duration::from_secs(60)).await;
    assert_eq!(seen.len(), 6);
    cancel.cancel();
    task.await.unwrap().unwrap();
}

/// The value of the unlabelled gauge `name` on the /metrics page at `url`.
async fn gauge(url: &str, name: &str) -> Option<f64> {
    let page = reqwest::get(url).await.ok()?.text().await.ok()?;
    test_support::metric_sample(&page, name)
}

/// The backlog gauges are measured on a task of their own, so they follow the outbox while a
/// relay pass waits on a broker that stopped answering: exactly when the OutboxRowsNotPublished
/// alert needs them.
#[tokio::test]
async fn the_backlog_gauges_follow_the_outbox_while_the_broker_does_not_answer() {
    let broker = test_support::PrivateBroker::start().await;
    let OnBroker {
        pool,
        topic,
        metrics,
        cancel,
        task,
    } = on_broker(&broker).await;
    let bus = bus(&pool, &topic);
    arrange_events(&bus, 1, 0, 1).await;
    drained(&pool, Duration::from_secs(60)).await;

    broker.kill();
    let follows = |rows: i64| {
        let metrics = metrics.clone();
        let pool = pool.clone();
        async move {
            test_support::eventually(
                Duration::from_secs(30),
                &format!("outbox_backlog_rows to show the {rows} rows in the outbox"),
                || async {
                    let value = gauge(&metrics, "outbox_backlog_rows").await?;
                    (value == rows as f64 && outbox_len(&pool).await == rows).then_some(())
                },
            )
            .await;
        }
    };
    arrange_events(&bus, 3, 0, 3).await;
    follows(3).await;
    // The relay is stuck in a pass now; the gauges still move.
    arrange_events(&bus, 2, 1, 2).await;
    follows(3 + 4).await;
    test_support::eventually(
        Duration::from_secs(30),
        "the oldest row's age to grow",
        || async { (gauge(&metrics, "outbox_oldest_row_age_seconds").await? >= 2.0).then_some(()) },
    )
    .await;

    broker.restart().await;
    drained(&pool, Duration::from_secs(120)).await;
    follows(0).await;
    cancel.cancel();
    task.await.unwrap().unwrap();
}
