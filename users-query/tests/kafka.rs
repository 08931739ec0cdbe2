//! The Users relay and projection on Apache Kafka when Kafka itself moves under them: a
//! consumer group rebalancing under load, a projector killed with -9, three brokers with the
//! partition leader and then the active controller killed under load, and a SASL_SSL listener
//! with right and wrong credentials.

mod common;

use std::collections::HashSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::{QueryApp, Store, converged, fold, read_rows, spawn_command, users_query_binary};
use futures::StreamExt as _;
use rdkafka::consumer::{BaseConsumer, Consumer as _};
use serde_json::{Value, json};
use service_kit::settings::KafkaSettings;
use test_support::eventually;
use test_support::kafka::{ClusterOptions, SaslSsl};
use test_support::store::{assert_all_on, drained};
use uuid::Uuid;

/// Commands the load generator got a 2xx for: (user, version the answer named).
type Acknowledged = Mutex<Vec<(Uuid, i64)>>;

/// POSTs `body`; the answer's JSON if it was 2xx.
async fn post(client: &reqwest::Client, url: &str, body: Value) -> Option<Value> {
    let response = client
        .post(url)
        .json(&body)
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .ok()?;
    if !response.status().is_success() {
        return None;
    }
    response.json().await.ok()
}

/// A steady load on users-command at `base` until `stop` is set (at most 20 000 users, about
/// 60 commands a second): four clients each register a user, rename it and reserve credit
/// for it, 50 ms apart; every acknowledged command is noted.
async fn load(base: &str, stop: &AtomicBool, acknowledged: &Acknowledged) {
    let client = test_support::auth::admin_client();
    futures::stream::iter(0..20_000)
        .take_while(|_| std::future::ready(!stop.load(Ordering::Relaxed)))
        .for_each_concurrent(4, |n| {
            let client = &client;
            async move {
                let email = format!("{}@example.com", Uuid::now_v7());
                let register = json!({ "email": email, "name": format!("User {n}"), "credit_limit_cents": 1_000 });
                let Some(answer) = post(client, &format!("{base}/users"), register).await else {
                    return;
                };
                let id: Uuid = answer["id"].as_str().expect("an id").parse().expect("a UUID");
                let note = |answer: &Value| {
                    let version = answer["version"].as_i64().expect("a version");
                    acknowledged.lock().expect("not poisoned").push((id, version));
                };
                note(&answer);
                // A rename, then a credit reservation: applied twice, the reservation would
                // double the read model's reserved credit, which the fold comparison catches.
                let rename = json!({ "name": format!("User {n} renamed") });
                let reserve = json!({ "order_id": Uuid::now_v7(), "amount_cents": 10 });
                let steps = [("name", rename), ("credit-reservations", reserve)];
                for (path, body) in steps {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    if let Some(answer) = post(client, &format!("{base}/users/{id}/{path}"), body).await {
                        note(&answer);
                    }
                }
            }
        })
        .await;
}

/// Waits until `acknowledged` holds `more` commands beyond what it holds now.
async fn acknowledged_grows(acknowledged: &Acknowledged, more: usize, what: &str) {
    let target = acknowledged.lock().expect("not poisoned").len() + more;
    eventually(Duration::from_secs(120), what, || async {
        (acknowledged.lock().expect("not poisoned").len() >= target).then_some(())
    })
    .await;
}

/// Every acknowledged command is in the event store with the version its answer named.
async fn assert_acknowledged_committed(store: &Store, acknowledged: &Acknowledged) {
    let stored: HashSet<(Uuid, i64)> =
        sqlx::query_as::<_, (String, i64)>("SELECT aggregate_id, sequence FROM events")
            .fetch_all(&store.pool)
            .await
            .expect("events")
            .into_iter()
            .map(|(id, sequence)| (id.parse().expect("a UUID"), sequence))
            .collect();
    let acknowledged = acknowledged.lock().expect("not poisoned");
    assert!(!acknowledged.is_empty(), "the load got answers");
    for command in acknowledged.iter() {
        assert!(
            stored.contains(command),
            "acknowledged {command:?} was committed"
        );
    }
}

#[tokio::test]
async fn a_second_projector_joining_and_leaving_under_load_applies_nothing_twice_and_skips_nothing()
{
    let store = Store::new().await;
    let (command, stop_command) = spawn_command(&store).await;
    let read = test_support::fresh_database().await;
    let group = format!("users-query-{}", Uuid::new_v4().simple());
    let first = QueryApp::spawn_on(&store, &read, &group, |_| {}).await;
    let applied = |stats: &projector::ProjectorStats| stats.applied.load(Ordering::Relaxed);
    let (stop, acknowledged) = (AtomicBool::new(false), Acknowledged::default());
    let churn = async {
        eventually(
            Duration::from_secs(60),
            "the first instance to apply",
            || async { (applied(&first.stats) >= 30).then_some(()) },
        )
        .await;
        let second = QueryApp::spawn_on(&store, &read, &group, |_| {}).await;
        eventually(
            Duration::from_secs(60),
            "the joining instance to get partitions and apply",
            || async { (applied(&second.stats) > 0).then_some(()) },
        )
        .await;
        acknowledged_grows(&acknowledged, 30, "load while both instances consume").await;
        let second_stats = second.stats.clone();
        second.stop().await;
        let before = applied(&first.stats);
        eventually(
            Duration::from_secs(60),
            "the first instance to take the partitions back",
            || async { (applied(&first.stats) >= before + 30).then_some(()) },
        )
        .await;
        stop.store(true, Ordering::Relaxed);
        second_stats
    };
    let ((), second) = tokio::join!(load(&command, &stop, &acknowledged), churn);

    drained(&store.pool, Duration::from_secs(60)).await;
    converged(&first, &store, Duration::from_secs(60)).await;
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(&store.pool)
        .await
        .unwrap();
    assert_eq!(
        applied(&first.stats) + applied(&second),
        stored as u64,
        "every event applied exactly once across the two instances ({} + {})",
        applied(&first.stats),
        applied(&second)
    );
    assert!(
        applied(&second) > 0,
        "the rebalance gave the second instance work"
    );
    assert_acknowledged_committed(&store, &acknowledged).await;
    first.stop().await;
    stop_command.cancel();
}

#[tokio::test]
async fn a_projector_killed_with_9_under_load_catches_up_after_a_restart_and_applies_nothing_twice()
{
    let store = Store::new().await;
    let (command, stop_command) = spawn_command(&store).await;
    let read = test_support::fresh_database().await;
    let group = format!("users-query-{}", Uuid::new_v4().simple());
    let mut projector = users_query_binary(&store, &read, &group, &[])
        .spawn()
        .expect("users-query starts");
    let (stop, acknowledged) = (AtomicBool::new(false), Acknowledged::default());
    let crash = async {
        eventually(
            Duration::from_secs(60),
            "the projector to apply some events",
            || async {
                read_rows(&read)
                    .await
                    .is_some_and(|rows| rows.len() >= 20)
                    .then_some(())
            },
        )
        .await;
        projector.start_kill().expect("kill -9");
        projector.wait().await.expect("reaped");
        // The dead member holds its partitions until its session (10 s) times out; the new
        // one must get them then, not never.
        let restarted = users_query_binary(&store, &read, &group, &[])
            .spawn()
            .expect("users-query restarts");
        acknowledged_grows(&acknowledged, 60, "load after the restart").await;
        stop.store(true, Ordering::Relaxed);
        restarted
    };
    let ((), _restarted) = tokio::join!(load(&command, &stop, &acknowledged), crash);

    drained(&store.pool, Duration::from_secs(60)).await;
    let expected = fold(&store.pool).await;
    eventually(
        Duration::from_secs(60),
        "the restarted projector to equal the fold of the event store",
        || async { (read_rows(&read).await.as_ref() == Some(&expected)).then_some(()) },
    )
    .await;
    assert_acknowledged_committed(&store, &acknowledged).await;
    stop_command.cancel();
}

#[tokio::test]
async fn an_instance_that_holds_no_partition_while_its_group_lags_says_so() {
    let kafka = KafkaSettings::plaintext(test_support::kafka_brokers());
    let store = Store::with_partitions(kafka, 1).await;
    store.publish_reserving_users(6).await;
    let read = test_support::fresh_database().await;
    let group = format!("users-query-{}", Uuid::new_v4().simple());
    // The first member takes the only partition and stops after its first batch.
    let extra = [
        ("USERS_QUERY__PROJECTOR__BATCH_SIZE", "5"),
        ("USERS_QUERY__PROJECTOR__FAILPOINT", "pause-after-commit"),
    ];
    let mut stuck = users_query_binary(&store, &read, &group, &extra)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("users-query starts");
    let log = stuck.stdout.take().expect("its output");
    test_support::wait_for_line(
        log,
        "failpoint pause-after-commit reached",
        Duration::from_secs(60),
    )
    .await;

    // The second member gets nothing: it must say so in its status, its metrics and its log.
    let idle = QueryApp::spawn_on(&store, &read, &group, |_| {}).await;
    let status = eventually(
        Duration::from_secs(60),
        "the idle member to warn",
        || async {
            let status: Value = idle.get("/admin/projection").await.json().await.ok()?;
            status["consumer"]["warning"].is_string().then_some(status)
        },
    )
    .await;
    assert_eq!(status["consumer"]["assigned_partitions"], 0, "{status:#}");
    assert!(
        status["consumer"]["group_lag_while_unassigned"].as_u64() > Some(0),
        "{status:#}"
    );
    let metrics = idle.get("/metrics").await.text().await.unwrap();
    let sample = test_support::metric_sample(
        &metrics,
        "projector_unassigned_group_lag_events{projection=\"users_view\"}",
    );
    assert!(
        sample > Some(0.0),
        "the gauge shows the group's lag: {sample:?}"
    );

    // Once the stuck member is gone, the idle one takes the partition and the warning ends.
    stuck.start_kill().expect("kill -9");
    stuck.wait().await.expect("reaped");
    converged(&idle, &store, Duration::from_secs(60)).await;
    eventually(Duration::from_secs(30), "the warning to clear", || async {
        let status: Value = idle.get("/admin/projection").await.json().await.ok()?;
        (status["consumer"]["warning"].is_null() && status["consumer"]["assigned_partitions"] == 1)
            .then_some(())
    })
    .await;
    idle.stop().await;
}

/// The node that leads most partitions of `topic` now.
fn busiest_leader(brokers: &str, topic: &str) -> usize {
    let client: BaseConsumer = KafkaSettings::plaintext(brokers)
        .client_config()
        .create()
        .expect("a metadata client");
    let metadata = client
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .expect("metadata");
    let partitions = metadata.topics()[0].partitions();
    assert!(
        partitions.iter().all(|p| p.replicas().len() == 3),
        "every partition of {topic} has three replicas"
    );
    let mut leads = std::collections::BTreeMap::<usize, usize>::new();
    for partition in partitions {
        *leads.entry(partition.leader() as usize).or_default() += 1;
    }
    leads
        .into_iter()
        .max_by_key(|(_, count)| *count)
        .map(|(node, _)| node)
        .expect("a leader")
}

#[tokio::test]
async fn on_three_brokers_killing_the_leader_and_then_the_controller_under_load_loses_nothing() {
    let kafka = test_support::PrivateBroker::start_with(|options| ClusterOptions {
        nodes: 3,
        heap_mb: 320,
        ..options
    })
    .await;
    let store = Store::on(KafkaSettings::plaintext(kafka.brokers())).await;
    let (command, stop_command) = spawn_command(&store).await;
    let query = QueryApp::spawn(&store).await;
    let (stop, acknowledged) = (AtomicBool::new(false), Acknowledged::default());
    let faults = async {
        acknowledged_grows(&acknowledged, 40, "load before the faults").await;
        let leader = busiest_leader(&kafka.brokers(), &store.topic);
        kafka.kill_node(leader);
        acknowledged_grows(&acknowledged, 40, "load while the leader is down").await;
        kafka.restart().await;
        let controller = kafka.active_controller().await;
        kafka.kill_node(controller);
        acknowledged_grows(&acknowledged, 40, "load while the controller is down").await;
        kafka.restart().await;
        acknowledged_grows(&acknowledged, 20, "load after both came back").await;
        stop.store(true, Ordering::Relaxed);
    };
    tokio::join!(load(&command, &stop, &acknowledged), faults);

    drained(&store.pool, Duration::from_secs(120)).await;
    let seen = assert_all_on(
        &kafka.brokers(),
        &store.pool,
        &store.topic,
        Duration::from_secs(120),
    )
    .await;
    assert!(!seen.is_empty());
    assert_acknowledged_committed(&store, &acknowledged).await;
    converged(&query, &store, Duration::from_secs(120)).await;
    query.stop().await;
    stop_command.cancel();
}

/// A self-signed certificate for 127.0.0.1 in `dir`: a PEM keystore for the broker (key and
/// certificate) and the certificate alone for the clients to trust.
fn certificate(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let issued = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()])
        .expect("a certificate");
    let (keystore, ca) = (dir.join("broker.pem"), dir.join("ca.pem"));
    let cert = issued.cert.pem();
    std::fs::write(
        &keystore,
        format!("{}{cert}", issued.key_pair.serialize_pem()),
    )
    .unwrap();
    std::fs::write(&ca, cert).unwrap();
    (keystore, ca)
}

#[tokio::test]
async fn through_a_sasl_ssl_listener_every_service_works_and_a_wrong_password_stops_one_at_start() {
    let dir = std::env::temp_dir().join(format!("kafka-tls-{}", Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let (keystore, ca) = certificate(&dir);
    let password = format!("pw-{}", Uuid::new_v4().simple());
    let broker = test_support::PrivateBroker::start_with(|options| ClusterOptions {
        sasl_ssl: Some(SaslSsl {
            keystore_pem: keystore,
            users: vec![("cqrs".into(), password.clone())],
        }),
        ..options
    })
    .await;
    let mut kafka = KafkaSettings::plaintext(broker.secure_brokers());
    kafka.security_protocol = kafka_client::SecurityProtocol::SaslSsl;
    kafka.sasl.username = "cqrs".into();
    kafka.sasl.password = password.into();
    kafka.tls.ca_file = Some(ca);

    // The relays, the projectors and the saga all go through the SASL_SSL listener.
    let stack = test_support::stack::Stack::start_on(&kafka, 30_000, &[], &[]).await;
    let user = stack.register("sasl", 10_000).await;
    let order = stack.place(user, 2_500).await;
    let saga = stack.finished(order, "place-order").await;
    assert_eq!(saga["state"], "APPROVED", "{saga:#}");
    stack.order_in(order, "APPROVED").await;
    stack.reserved_becomes(user, 2_500).await;

    // A wrong password: the service stops at start with one line naming what to check.
    let mut wrong = kafka.clone();
    wrong.sasl.password = "not-the-password".to_owned().into();
    let database = test_support::fresh_database().await;
    let mut command = test_support::service::binary_command(
        &test_support::stack::binary("users-command").to_string_lossy(),
        "USERS_COMMAND",
        &database,
        &stack.users_topic,
        test_support::service::free_port(),
        &[],
    );
    command
        .envs(test_support::kafka_env("USERS_COMMAND", &wrong))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let output = tokio::time::timeout(Duration::from_secs(30), command.output())
        .await
        .expect("the service stops within 30 s instead of hanging")
        .expect("users-command ran");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "it refused to start: {stderr}");
    let last = stderr.trim().lines().last().unwrap_or_default();
    assert!(
        last.contains("refused this client") && last.contains("kafka.sasl"),
        "one line says Kafka refused the credentials: {stderr}"
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        !stderr.contains("not-the-password") && !stdout.contains("not-the-password"),
        "the password is never printed or logged: {stderr}\n{stdout}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
