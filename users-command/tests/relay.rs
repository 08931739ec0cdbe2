//! Invariant 3: every committed event reaches users.events at least once, in per-aggregate
//! order, across relay crashes, restarts, backlogs and several relay instances.

mod common;

use std::os::unix::process::ExitStatusExt;
use std::time::Duration;

use common::{TestApp, arrange_events, assert_all_on_topic, binary, bus, outbox_len};
use outbox_relay::{ProducerSettings, Relay, RelayConfig};
use serde_json::json;
use test_support::eventually;
use tokio_util::sync::CancellationToken;

fn producer() -> ProducerSettings {
    ProducerSettings {
        brokers: test_support::kafka_brokers(),
        delivery_timeout: Duration::from_secs(30),
    }
}

async fn migrated_store() -> (
    service_kit::settings::DatabaseSettings,
    sqlx::PgPool,
    String,
) {
    let database = test_support::fresh_database().await;
    let pool = database.pool();
    event_store::MIGRATOR.run(&pool).await.expect("migrated");
    let topic = test_support::fresh_topic("users.events", 3).await;
    (database, pool, topic)
}

async fn drained(pool: &sqlx::PgPool, deadline: Duration) {
    eventually(deadline, "the outbox to drain", || async {
        (outbox_len(pool).await == 0).then_some(())
    })
    .await;
}

#[tokio::test]
async fn every_event_reaches_the_topic_as_a_protobuf_envelope_in_per_aggregate_order() {
    let app = TestApp::spawn().await;
    let mut users = Vec::new();
    for i in 0..8 {
        users.push(app.register(&format!("order{i}@example.com"), 1_000).await);
    }
    let commands = users.iter().map(|id| {
        let app = &app;
        async move {
            for n in 0..5 {
                let response = app
                    .post(
                        &format!("/users/{id}/name"),
                        json!({ "name": format!("Name {n}") }),
                    )
                    .await;
                assert_eq!(response.status(), 200);
            }
        }
    });
    futures::future::join_all(commands).await;
    drained(&app.pool, Duration::from_secs(30)).await;
    let seen = assert_all_on_topic(&app.pool, &app.topic, Duration::from_secs(60)).await;
    assert_eq!(seen.len(), 8 * 6);

    let records =
        test_support::read_topic_until(&app.topic, Duration::from_secs(30), |r| r.len() >= 48)
            .await;
    let first = records
        .iter()
        .find(|r| r.envelope.sequence == 1)
        .expect("a registration");
    assert_eq!(first.envelope.aggregate_type, "user");
    assert_eq!(first.envelope.event_type, "UserRegistered");
    assert_eq!(first.envelope.schema_version, 1);
    assert!(first.envelope.recorded_at.is_some());
    assert_eq!(first.envelope.actor, "anonymous");
    assert!(!first.envelope.correlation_id.is_empty());
    let Some(contracts::events::v1::event_envelope::Payload::User(user)) = &first.envelope.payload
    else {
        panic!("a User payload");
    };
    let Some(contracts::users::v1::user_event::Event::Registered(registered)) = &user.event else {
        panic!("a UserRegistered payload");
    };
    assert_eq!(registered.user_id, first.key);
    let stored_traceparent: String =
        sqlx::query_scalar("SELECT metadata->>'traceparent' FROM events WHERE event_id = $1::uuid")
            .bind(&first.envelope.event_id)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(
        first.header("traceparent"),
        Some(stored_traceparent.as_str())
    );
    assert_eq!(
        first.header("event_id"),
        Some(first.envelope.event_id.as_str())
    );
    app.stop().await;
}

#[tokio::test]
async fn the_relay_wakes_on_commit_rather_than_on_its_sweep() {
    let (_, pool, topic) = migrated_store().await;
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
async fn a_relay_killed_after_the_ack_republishes_the_same_events_after_restart() {
    let (database, pool, topic) = migrated_store().await;
    arrange_events(&bus(&pool, &topic), 20, 0, 4).await;
    assert_eq!(outbox_len(&pool).await, 20);

    let mut crashing = common::binary_command(
        &database,
        &topic,
        0,
        &[("USERS_COMMAND__RELAY__FAILPOINT", "pause-after-ack")],
    )
    .stdout(std::process::Stdio::piped())
    .spawn()
    .unwrap();
    let log = crashing.stdout.take().expect("piped stdout");
    test_support::wait_for_line(
        log,
        "failpoint pause-after-ack reached",
        Duration::from_secs(60),
    )
    .await;
    crashing.start_kill().expect("kill -9");
    let status = crashing.wait().await.unwrap();
    assert_eq!(status.signal(), Some(9), "killed by SIGKILL: {status:?}");
    assert_eq!(
        outbox_len(&pool).await,
        20,
        "no row was deleted before the kill"
    );
    let before_restart =
        test_support::read_topic_until(&topic, Duration::from_secs(30), |r| !r.is_empty()).await;

    let mut restarted = binary(&database, &topic, 0, &[]);
    drained(&pool, Duration::from_secs(60)).await;
    let seen = assert_all_on_topic(&pool, &topic, Duration::from_secs(60)).await;
    assert_eq!(seen.len(), 20, "every event is on the topic");
    for record in &before_restart {
        let id = record.envelope.event_id.parse().unwrap();
        assert!(
            seen[&id] >= 2,
            "{id} was published before the crash and again after it, with the same id"
        );
    }

    // SIGTERM: a graceful, prompt exit.
    let pid = restarted.id().unwrap();
    std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    let status = tokio::time::timeout(Duration::from_secs(20), restarted.wait())
        .await
        .expect("stops on SIGTERM")
        .unwrap();
    assert!(status.success(), "clean exit on SIGTERM: {status:?}");
}

#[tokio::test]
async fn a_relay_started_on_a_backlog_of_ten_thousand_rows_drains_it_in_order() {
    let (_, pool, topic) = migrated_store().await;
    // 200 users with 50 events each.
    arrange_events(&bus(&pool, &topic), 200, 49, 8).await;
    assert_eq!(outbox_len(&pool).await, 10_000);
    let relay = Relay::new(pool.clone(), producer(), RelayConfig::default()).unwrap();
    let cancel = CancellationToken::new();
    let task = tokio::spawn(relay.run(cancel.clone()));
    drained(&pool, Duration::from_secs(300)).await;
    let seen = assert_all_on_topic(&pool, &topic, Duration::from_secs(300)).await;
    assert_eq!(seen.len(), 10_000);
    cancel.cancel();
    task.await.unwrap().unwrap();
}

#[tokio::test]
async fn two_relays_at_once_publish_each_event_once_in_per_aggregate_order() {
    let (database, pool, topic) = migrated_store().await;
    let cancel = CancellationToken::new();
    let relays: Vec<_> = (0..2)
        .map(|_| {
            // Each instance with its own connections, as two processes would have.
            let relay = Relay::new(database.pool(), producer(), RelayConfig::default()).unwrap();
            tokio::spawn(relay.run(cancel.clone()))
        })
        .collect();
    arrange_events(&bus(&pool, &topic), 30, 14, 6).await;
    drained(&pool, Duration::from_secs(120)).await;
    let seen = assert_all_on_topic(&pool, &topic, Duration::from_secs(120)).await;
    assert_eq!(seen.len(), 30 * 15);
    // With a healthy broker nothing is retried, so any repeat means both relays sent a row.
    let repeated: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        repeated.is_empty(),
        "no event was published by both relays: {repeated:?}"
    );
    cancel.cancel();
    for relay in relays {
        relay.await.unwrap().unwrap();
    }
}

#[tokio::test]
async fn kill_9_under_load_loses_no_acknowledged_command() {
    let (database, pool, topic) = migrated_store().await;
    let port = common::free_port();
    let mut server = binary(&database, &topic, port, &[]);
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    eventually(
        Duration::from_secs(30),
        "users-command to be ready",
        || async {
            let ready = client
                .get(format!("{base}/health/ready"))
                .send()
                .await
                .ok()?;
            ready.status().is_success().then_some(())
        },
    )
    .await;

    // 200 registrations, 8 at a time; the process is killed partway through.
    let acknowledged = std::sync::Mutex::new(Vec::new());
    let load = async {
        use futures::StreamExt;
        futures::stream::iter(0..200)
            .for_each_concurrent(8, |i| {
                let (client, base, acknowledged) = (&client, &base, &acknowledged);
                async move {
                    let body = json!({ "email": format!("load{i}@example.com"), "name": "Load", "credit_limit_cents": 1 });
                    if let Ok(response) = client.post(format!("{base}/users")).json(&body).send().await
                        && response.status() == 201
                    {
                        let created: serde_json::Value = response.json().await.unwrap();
                        acknowledged.lock().unwrap().push(created["id"].as_str().unwrap().to_owned());
                    }
                }
            })
            .await;
    };
    let kill = async {
        eventually(
            Duration::from_secs(60),
            "some commands to be acknowledged",
            || async { (acknowledged.lock().unwrap().len() >= 40).then_some(()) },
        )
        .await;
        server.start_kill().unwrap();
    };
    tokio::join!(load, kill);
    server.wait().await.unwrap();
    let acknowledged = acknowledged.into_inner().unwrap();
    assert!(
        acknowledged.len() >= 40 && acknowledged.len() < 200,
        "killed partway: {}",
        acknowledged.len()
    );

    let _restarted = binary(&database, &topic, port, &[]);
    drained(&pool, Duration::from_secs(60)).await;
    let stored: std::collections::HashSet<String> = common::stored_events(&pool)
        .await
        .into_iter()
        .map(|(_, aggregate, _)| aggregate)
        .collect();
    for id in &acknowledged {
        assert!(stored.contains(id), "acknowledged user {id} was committed");
    }
    let claims: i64 = sqlx::query_scalar("SELECT count(*) FROM unique_claims")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(
        claims as usize,
        stored.len(),
        "one claim per committed registration, no orphan"
    );
    assert_all_on_topic(&pool, &topic, Duration::from_secs(60)).await;
}

#[tokio::test]
async fn the_relay_rides_out_a_broker_killed_and_restarted_under_it() {
    let (_, pool, _) = migrated_store().await;
    let mut broker = test_support::PrivateBroker::start().await;
    let topic = format!("users.events.{}", uuid::Uuid::new_v4().simple());
    let admin = service_kit::kafka::admin(&broker.brokers()).unwrap();
    service_kit::kafka::ensure_topic(&admin, &topic, 3)
        .await
        .unwrap();
    let settings = ProducerSettings {
        brokers: broker.brokers(),
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
    let seen =
        common::assert_all_on(&broker.brokers(), &pool, &topic, Duration::from_secs(60)).await;
    assert_eq!(seen.len(), (before.len() + during.len()) * 3);
    cancel.cancel();
    task.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_relay_started_while_the_broker_is_down_creates_its_topic_and_publishes_once_it_is_up() {
    let (database, pool, _) = migrated_store().await;
    let mut broker = test_support::PrivateBroker::start().await;
    broker.kill();
    let topic = format!("users.events.{}", uuid::Uuid::new_v4().simple());
    let mut settings = common::settings(database, &topic, true);
    settings.kafka.brokers = broker.brokers();
    let cancel = CancellationToken::new();
    let app = users_command::Application::build(settings, cancel.clone())
        .await
        .expect("starts without the broker");
    let task = tokio::spawn(app.run_until_stopped());
    arrange_events(&bus(&pool, &topic), 3, 1, 3).await;
    broker.restart().await;
    drained(&pool, Duration::from_secs(90)).await;
    let seen =
        common::assert_all_on(&broker.brokers(), &pool, &topic, Duration::from_secs(60)).await;
    assert_eq!(seen.len(), 6);
    cancel.cancel();
    task.await.unwrap().unwrap();
}
