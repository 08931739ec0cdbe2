//! The invariant tests every command service must pass, written once and run by each bounded
//! context's test crate with its own [`CommandContext`]:
//!
//! - invariant 2: concurrent commands on one version, exactly one wins;
//! - invariant 3: every committed event reaches the topic, in per-aggregate order, across a
//!   relay killed after the broker's ack and with two relays at once;
//! - invariant 7 (command side): kill -9 under load loses no acknowledged command.

use std::collections::HashSet;
use std::future::Future;
use std::os::unix::process::ExitStatusExt;
use std::time::Duration;

use futures::StreamExt;
use outbox_relay::{ProducerSettings, Relay, RelayConfig};
use serde_json::Value;
use service_kit::settings::DatabaseSettings;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::service::{binary_command, free_port, ready};
use crate::store::{assert_all_on_topic, counts, drained, outbox_len, stored_events};
use crate::{Record, eventually};

/// What the shared invariant tests need to know about a command service.
pub trait CommandContext {
    /// Prefix of the test's own topic, e.g. `users.events`.
    const TOPIC: &'static str;
    /// Prefix of the service's environment variables, e.g. `USERS_COMMAND`.
    const ENV_PREFIX: &'static str;
    /// How many events one aggregate gets from its creation and every `change`.
    const MAX_EVENTS: usize;

    /// Path of the service's binary: `env!("CARGO_BIN_EXE_…")` in the test crate.
    fn binary() -> &'static str;

    /// Path and JSON body of the request creating aggregate number `n`; the answer is 2xx
    /// with the new aggregate's `id`.
    fn create(n: usize) -> (String, Value);

    /// Path and JSON body of the request that appends event number `n` (from 2) to `id`.
    fn change(id: Uuid, n: usize) -> (String, Value);

    /// Commits `aggregates` aggregates with `events` events each straight through the event
    /// store (no HTTP), `parallel` aggregates at a time, publishing to `topic`.
    fn arrange(
        pool: &PgPool,
        topic: &str,
        aggregates: usize,
        events: usize,
        parallel: usize,
    ) -> impl Future<Output = Vec<Uuid>> + Send;
}

/// A fresh, migrated event store and a fresh topic.
pub async fn migrated_store<C: CommandContext>() -> (DatabaseSettings, PgPool, String) {
    let database = crate::fresh_database().await;
    let pool = database.pool();
    event_store::MIGRATOR.run(&pool).await.expect("migrated");
    let topic = crate::fresh_topic(C::TOPIC, 3).await;
    (database, pool, topic)
}

fn binary<C: CommandContext>(
    database: &DatabaseSettings,
    topic: &str,
    port: u16,
    extra: &[(&str, &str)],
) -> tokio::process::Child {
    binary_command(C::binary(), C::ENV_PREFIX, database, topic, port, extra)
        .spawn()
        .expect("the service binary starts")
}

async fn send(
    client: &reqwest::Client,
    base: &str,
    (path, body): (String, Value),
    if_match: Option<u64>,
) -> Option<reqwest::Response> {
    let mut request = client.post(format!("{base}{path}")).json(&body);
    if let Some(version) = if_match {
        request = request.header("If-Match", format!("\"{version}\""));
    }
    request.send().await.ok()
}

async fn created_id(response: reqwest::Response) -> Uuid {
    assert!(response.status().is_success(), "created: {response:?}");
    let body: Value = response.json().await.expect("json body");
    body["id"]
        .as_str()
        .and_then(|id| id.parse().ok())
        .expect("a UUID id")
}

fn producer() -> ProducerSettings {
    ProducerSettings {
        kafka: kafka_client::KafkaSettings::plaintext(crate::kafka_brokers()),
        delivery_timeout: Duration::from_secs(30),
    }
}

/// Invariant 3 over HTTP: aggregates created and changed through the service's binary all
/// reach the topic in per-aggregate order, with the stored event id and trace context in the
/// headers. Returns the records, for the context to check its payloads.
pub async fn every_event_reaches_the_topic_in_per_aggregate_order<C: CommandContext>() -> Vec<Record>
{
    const AGGREGATES: usize = 6;
    let database = crate::fresh_database().await;
    let pool = database.pool();
    let topic = crate::fresh_topic(C::TOPIC, 3).await;
    let port = free_port();
    let _service = binary::<C>(&database, &topic, port, &[]);
    let (client, base) = (
        crate::auth::admin_client(),
        format!("http://127.0.0.1:{port}"),
    );
    ready(&client, &base, Duration::from_secs(30)).await;
    futures::future::join_all((0..AGGREGATES).map(|n| {
        let (client, base) = (&client, &base);
        async move {
            let response = send(client, base, C::create(n), None).await.expect("sent");
            let id = created_id(response).await;
            for event in 2..=C::MAX_EVENTS {
                let response = send(client, base, C::change(id, event), None).await;
                let response = response.expect("sent");
                assert!(
                    response.status().is_success(),
                    "change {event}: {response:?}"
                );
            }
        }
    }))
    .await;
    drained(&pool, Duration::from_secs(30)).await;
    let seen = assert_all_on_topic(&pool, &topic, Duration::from_secs(60)).await;
    assert_eq!(seen.len(), AGGREGATES * C::MAX_EVENTS);

    let records = crate::read_topic_until(&topic, Duration::from_secs(30), |r| {
        r.len() >= AGGREGATES * C::MAX_EVENTS
    })
    .await;
    let traceparents: Vec<(String, Option<String>)> =
        sqlx::query_as("SELECT event_id::text, metadata->>'traceparent' FROM events")
            .fetch_all(&pool)
            .await
            .expect("stored metadata");
    for record in &records {
        let envelope = &record.envelope;
        assert_eq!(record.key, envelope.aggregate_id, "keyed by aggregate id");
        assert_eq!(
            envelope.schema_version,
            contracts::upcast::current_version(
                contracts::upcast::ENVELOPE_STEPS,
                &envelope.event_type
            ),
            "written at the current version of its type"
        );
        assert!(envelope.recorded_at.is_some());
        assert!(envelope.payload.is_some(), "a typed payload");
        assert_eq!(
            envelope.actor, "admin:test-admin",
            "the authenticated caller"
        );
        assert!(!envelope.correlation_id.is_empty());
        assert_eq!(record.header("event_id"), Some(envelope.event_id.as_str()));
        let stored = traceparents
            .iter()
            .find(|(id, _)| *id == envelope.event_id)
            .and_then(|(_, traceparent)| traceparent.as_deref());
        assert!(stored.is_some(), "the command's trace context is stored");
        // The header is the relay's publish span: the same trace, one span further.
        let trace_id = |traceparent: Option<&str>| {
            traceparent
                .and_then(|t| t.split('-').nth(1))
                .map(str::to_owned)
        };
        assert_eq!(
            trace_id(record.header("traceparent")),
            trace_id(stored),
            "and its trace travels as a header"
        );
    }
    records
}

/// Invariant 3 across a crash: a relay killed (SIGKILL) after the broker acknowledged a batch
/// but before it deleted the rows republishes the same event ids after a restart; SIGTERM then
/// stops the service cleanly.
pub async fn a_relay_killed_after_the_ack_republishes_the_same_events<C: CommandContext>() {
    let (database, pool, topic) = migrated_store::<C>().await;
    C::arrange(&pool, &topic, 20, 1, 4).await;
    assert_eq!(outbox_len(&pool).await, 20);

    let failpoint = format!("{}__RELAY__FAILPOINT", C::ENV_PREFIX);
    let mut crashing = binary_command(
        C::binary(),
        C::ENV_PREFIX,
        &database,
        &topic,
        0,
        &[(failpoint.as_str(), "pause-after-ack")],
    );
    crashing.stdout(std::process::Stdio::piped());
    let mut restarted = a_killed_relay_republishes_after_restart(&pool, &topic, crashing, || {
        binary::<C>(&database, &topic, 0, &[])
    })
    .await;

    let pid = restarted.id().expect("running");
    std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("kill -TERM");
    let status = tokio::time::timeout(Duration::from_secs(20), restarted.wait())
        .await
        .expect("stops on SIGTERM")
        .expect("exit status");
    assert!(status.success(), "clean exit on SIGTERM: {status:?}");
}

/// Invariant 3 across a crash, for any relay process: `crashing` (its stdout piped) relays the
/// rows waiting in `pool`'s outbox at the `pause-after-ack` failpoint and is SIGKILLed there;
/// then `restart` starts a relay again. No row was deleted by the killed relay, every event
/// reaches `topic`, and those published before the kill are published again with the same id.
/// Returns what `restart` returned.
pub async fn a_killed_relay_republishes_after_restart<R>(
    pool: &PgPool,
    topic: &str,
    mut crashing: tokio::process::Command,
    restart: impl FnOnce() -> R,
) -> R {
    let waiting = outbox_len(pool).await;
    let mut crashing = crashing.spawn().expect("the relay process starts");
    let log = crashing.stdout.take().expect("piped stdout");
    crate::wait_for_line(
        log,
        "failpoint pause-after-ack reached",
        Duration::from_secs(60),
    )
    .await;
    crashing.start_kill().expect("kill -9");
    let status = crashing.wait().await.expect("exit status");
    assert_eq!(status.signal(), Some(9), "killed by SIGKILL: {status:?}");
    assert_eq!(
        outbox_len(pool).await,
        waiting,
        "no row was deleted before the kill"
    );
    let before_restart =
        crate::read_topic_until(topic, Duration::from_secs(30), |r| !r.is_empty()).await;

    let restarted = restart();
    drained(pool, Duration::from_secs(60)).await;
    let seen = assert_all_on_topic(pool, topic, Duration::from_secs(60)).await;
    assert_eq!(seen.len() as i64, waiting, "every event is on the topic");
    for record in &before_restart {
        let id = record.envelope.event_id.parse().expect("a UUID event id");
        assert!(
            seen[&id] >= 2,
            "{id} was published before the crash and again after it, with the same id"
        );
    }
    restarted
}

/// Invariant 3 with several relays: two at once publish each event exactly once (with a
/// healthy broker nothing is retried), in per-aggregate order.
pub async fn two_relays_at_once_publish_each_event_once<C: CommandContext>() {
    let (database, pool, topic) = migrated_store::<C>().await;
    let arrange = async {
        C::arrange(&pool, &topic, 60, C::MAX_EVENTS, 6).await;
        60 * C::MAX_EVENTS
    };
    two_relays_publish_each_event_once_while(&database, &topic, arrange).await;
}

/// Invariant 3 with several relays, for any aggregate: two relays on `database`'s outbox run
/// while `arrange` commits events for `topic` (it returns how many); each is published
/// exactly once, in per-aggregate order.
pub async fn two_relays_publish_each_event_once_while(
    database: &DatabaseSettings,
    topic: &str,
    arrange: impl Future<Output = usize>,
) {
    let pool = database.pool();
    let cancel = CancellationToken::new();
    let relays: Vec<_> = (0..2)
        .map(|_| {
            // Each instance with its own connections, as two processes would have.
            let relay =
                Relay::new(database.pool(), producer(), RelayConfig::default()).expect("relay");
            tokio::spawn(relay.run(cancel.clone()))
        })
        .collect();
    let events = arrange.await;
    drained(&pool, Duration::from_secs(120)).await;
    let seen = assert_all_on_topic(&pool, topic, Duration::from_secs(120)).await;
    assert_eq!(seen.len(), events);
    let repeated: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        repeated.is_empty(),
        "no event was published by both relays: {repeated:?}"
    );
    cancel.cancel();
    for relay in relays {
        relay.await.expect("joined").expect("relay stopped cleanly");
    }
}

/// Invariant 7 for a command service: SIGKILL under HTTP load, then a restart. Every command
/// answered 2xx was committed and reaches the topic; no uniqueness claim outlives a command
/// that did not commit.
pub async fn kill_9_under_load_loses_no_acknowledged_command<C: CommandContext>() {
    let (database, pool, topic) = migrated_store::<C>().await;
    let port = free_port();
    let mut server = binary::<C>(&database, &topic, port, &[]);
    let (client, base) = (
        crate::auth::admin_client(),
        format!("http://127.0.0.1:{port}"),
    );
    ready(&client, &base, Duration::from_secs(30)).await;

    // 200 creations, 8 at a time; the process is killed partway through.
    let acknowledged = std::sync::Mutex::new(Vec::new());
    let load = futures::stream::iter(0..200).for_each_concurrent(8, |n| {
        let (client, base, acknowledged) = (&client, &base, &acknowledged);
        async move {
            if let Some(response) = send(client, base, C::create(n), None).await
                && response.status().is_success()
                && let Ok(body) = response.json::<Value>().await
            {
                let id = body["id"].as_str().expect("id").to_owned();
                acknowledged.lock().expect("not poisoned").push(id);
            }
        }
    });
    let kill = async {
        eventually(
            Duration::from_secs(60),
            "some commands to be acknowledged",
            || async { (acknowledged.lock().expect("not poisoned").len() >= 40).then_some(()) },
        )
        .await;
        server.start_kill().expect("kill -9");
    };
    tokio::join!(load, kill);
    server.wait().await.expect("exit status");
    let acknowledged = acknowledged.into_inner().expect("not poisoned");
    assert!(
        acknowledged.len() >= 40 && acknowledged.len() < 200,
        "killed partway: {}",
        acknowledged.len()
    );

    let _restarted = binary::<C>(&database, &topic, port, &[]);
    drained(&pool, Duration::from_secs(60)).await;
    let stored: HashSet<String> = stored_events(&pool)
        .await
        .into_iter()
        .map(|(_, aggregate, _)| aggregate)
        .collect();
    for id in &acknowledged {
        assert!(
            stored.contains(id),
            "acknowledged aggregate {id} was committed"
        );
    }
    let orphans: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM unique_claims c \
         WHERE NOT EXISTS (SELECT 1 FROM events e WHERE e.aggregate_id = c.owner_id)",
    )
    .fetch_one(&pool)
    .await
    .expect("claims");
    assert_eq!(orphans, 0, "no claim without a committed aggregate");
    assert_all_on_topic(&pool, &topic, Duration::from_secs(60)).await;
}

/// Invariant 2: twelve concurrent commands that all expect the same version: exactly one is
/// committed, every other gets 409 and wrote nothing.
pub async fn concurrent_commands_on_one_version_let_exactly_one_win<C: CommandContext>() {
    let database = crate::fresh_database().await;
    let pool = database.pool();
    let topic = crate::fresh_topic(C::TOPIC, 3).await;
    let port = free_port();
    let relay_off = format!("{}__RELAY__ENABLED", C::ENV_PREFIX);
    let _service = binary::<C>(&database, &topic, port, &[(relay_off.as_str(), "false")]);
    let (client, base) = (
        crate::auth::admin_client(),
        format!("http://127.0.0.1:{port}"),
    );
    ready(&client, &base, Duration::from_secs(30)).await;
    let id = created_id(
        send(&client, &base, C::create(0), None)
            .await
            .expect("sent"),
    )
    .await;
    let before = counts(&pool).await;

    let statuses: Vec<u16> = futures::future::join_all((0..12).map(|_| {
        let (client, base) = (&client, &base);
        async move {
            let response = send(client, base, C::change(id, 2), Some(1)).await;
            response.expect("sent").status().as_u16()
        }
    }))
    .await;
    let won = statuses.iter().filter(|s| (200..300).contains(*s)).count();
    assert_eq!(won, 1, "exactly one command won: {statuses:?}");
    assert!(
        statuses.iter().all(|s| (200..300).contains(s) || *s == 409),
        "the others got 409: {statuses:?}"
    );
    let after = counts(&pool).await;
    assert_eq!(after.events, before.events + 1, "one event was committed");
    assert_eq!(after.outbox, before.outbox + 1, "with one outbox row");
}
