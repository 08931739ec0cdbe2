//! B0 to B5: each measures one stage and returns a table section. B0 (Postgres's own limit)
//! comes first because B1 divides by it; B1's highest rates set the half load of B2 to B4.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use chrono::Utc;
use event_store::{CommandBus, CommandMetadata};
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::{Message as _, Offset, TopicPartitionList};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use users_domain::UsersContract;
use users_domain::{CreditCents, Email, User, UserCommand, UserName};
use uuid::Uuid;

use crate::chart::{Series, Style};
use crate::data::{Scratch, store_user_events};
use crate::load::{Samples, Throughput, closed_loop, median, open_loop};
use crate::{Section, Sizes, Target, cpu};

/// What later scenarios use from earlier ones.
#[derive(Debug, Default)]
pub struct Findings {
    /// B0 transactions per second by client count.
    pub limit_tps: BTreeMap<usize, f64>,
    /// B1 highest throughput of registrations and placements.
    pub register_max: f64,
    pub place_max: f64,
}

fn ms(value: f64) -> String {
    if value.is_nan() {
        "-".to_owned()
    } else if value < 10.0 {
        format!("{value:.2}")
    } else {
        format!("{value:.1}")
    }
}

fn rate(value: f64) -> String {
    if value.is_nan() {
        "-".to_owned()
    } else {
        format!("{value:.0}")
    }
}

/// Median over runs of p50, p99 and p99.9 in ms.
fn quantiles(runs: &[Samples]) -> [f64; 3] {
    [0.5, 0.99, 0.999].map(|q| median(&runs.iter().map(|s| s.quantile_ms(q)).collect::<Vec<_>>()))
}

/// The latency curve of every sample of `runs`, for the pictures.
fn curve(name: &str, runs: &[Samples]) -> Series {
    Series::percentiles(
        name,
        runs.iter()
            .flat_map(|run| run.seconds.iter().copied())
            .collect(),
    )
}

fn failures(runs: &[Samples]) -> u64 {
    runs.iter().map(|s| s.failures).sum()
}

/// A note with the first failure of `runs`, if any failed.
fn failure_note(section: &mut Section, what: &str, runs: &[Samples]) {
    if let Some(error) = runs.iter().find_map(|run| run.first_error.as_ref()) {
        section.note(&format!(
            "{what}: {} failed; the first said: {error}",
            failures(runs)
        ));
    }
}

// ---- B0 ------------------------------------------------------------------------------------

/// The SQL one registration commits, as a pgbench script: the subject's key, the email claim,
/// the event with its envelope, the outbox row and the relay's wake-up, in one statement as
/// the repository writes them (ADR 0001).
fn registration_script() -> String {
    // Sizes of a real registration: a 160-byte envelope, the JSON payload and metadata.
    let envelope = format!("\\x{}", "ab".repeat(160));
    format!(
        "SELECT gen_random_uuid()::text AS id, gen_random_uuid()::text AS event_id \\gset\n\
         WITH made AS (INSERT INTO subject_keys (subject, key) VALUES (:id, sha256(:id::bytea)) \
           ON CONFLICT (subject) DO NOTHING RETURNING 1), \
         claimed AS (INSERT INTO unique_claims (scope, value, owner_id) \
           VALUES ('user.email', :id || '@b0.example', :id) \
           ON CONFLICT ON CONSTRAINT unique_claims_pkey DO UPDATE SET owner_id = excluded.owner_id \
           WHERE unique_claims.owner_id = excluded.owner_id RETURNING 1), \
         stored AS (INSERT INTO events (aggregate_type, aggregate_id, sequence, event_id, event_type, \
           event_version, payload, metadata, recorded_at, envelope) VALUES ('user', :id, 1, \
           :event_id::uuid, 'UserRegistered', '1', \
           '{{\"Registered\": {{\"user_id\": \"00000000-0000-0000-0000-000000000000\", \"email\": \"someone@b0.example\", \
           \"name\": \"Bench User\", \"credit_limit_cents\": 100000}}}}'::jsonb, \
           '{{\"actor\": \"admin-bench\", \"causation_id\": \"bench\", \"correlation_id\": \"bench\"}}'::jsonb, \
           now(), '{envelope}'::bytea) RETURNING 1), \
         queued AS (INSERT INTO outbox (partition_key, topic, message_key, payload, headers, event_id) \
           VALUES (3, 'users.events', :id, '{envelope}'::bytea, \
           jsonb_build_object('event_id', :event_id::text, 'event_type', 'UserRegistered'), :event_id::uuid) \
           RETURNING pg_notify('outbox_rows', partition_key::text)) \
         SELECT (SELECT count(*) FROM made) + (SELECT count(*) FROM claimed) \
           + (SELECT count(*) FROM stored) + (SELECT count(*) FROM queued);\n"
    )
}

/// pgbench's per-transaction log lines: `client transaction latency_us script epoch epoch_us`.
fn pgbench_latencies(directory: &std::path::Path, prefix: &str) -> anyhow::Result<Samples> {
    let mut samples = Samples::default();
    for entry in std::fs::read_dir(directory)? {
        let entry = entry?;
        if !entry.file_name().to_string_lossy().starts_with(prefix) {
            continue;
        }
        for line in std::fs::read_to_string(entry.path())?.lines() {
            let latency = line
                .split_whitespace()
                .nth(2)
                .and_then(|f| f.parse::<f64>().ok());
            if let Some(micros) = latency {
                samples.seconds.push(micros / 1e6);
            }
        }
    }
    Ok(samples)
}

pub async fn b0(
    target: &Target,
    sizes: &Sizes,
    findings: &mut Findings,
) -> anyhow::Result<Section> {
    use secrecy_free::password;
    let scratch = Scratch::event_store(&target.server, "b0").await?;
    let directory = std::env::temp_dir().join(format!("cqrs-bench-b0-{}", std::process::id()));
    std::fs::create_dir_all(&directory)?;
    let script = directory.join("register.sql");
    std::fs::write(&script, registration_script())?;
    let mut section = Section::new(
        "b0",
        "B0 limit: pgbench with the SQL a registration commits",
        &["clients", "tx/s", "p50 ms", "p99 ms", "p99.9 ms", "CPU s"],
    );
    let mut limit = Vec::new();
    for &clients in &sizes.clients {
        let mut tps = Vec::new();
        let mut runs = Vec::new();
        let before = cpu::snapshot();
        for run in 0..sizes.runs {
            let prefix = format!("c{clients}r{run}");
            let output = tokio::process::Command::new("pgbench")
                .args(["-n", "-M", "prepared", "-f"])
                .arg(&script)
                .args([
                    "-c",
                    &clients.to_string(),
                    "-j",
                    &clients.min(2).to_string(),
                ])
                .args(["-T", &sizes.seconds.to_string(), "--log", "--log-prefix"])
                .arg(directory.join(&prefix))
                .args([
                    "-h",
                    &target.server.host,
                    "-p",
                    &target.server.port.to_string(),
                ])
                .args([
                    "-U",
                    &target.server.username,
                    &scratch.settings.database_name,
                ])
                .env("PGPASSWORD", password(&target.server))
                .current_dir(&directory)
                .output()
                .await
                .context("running pgbench (Debian's postgresql package has it)")?;
            let stdout = String::from_utf8_lossy(&output.stdout);
            if !output.status.success() {
                bail!(
                    "pgbench failed: {stdout}{}",
                    String::from_utf8_lossy(&output.stderr)
                );
            }
            let measured = stdout
                .lines()
                .find(|line| line.starts_with("tps = "))
                .and_then(|line| line.split_whitespace().nth(2))
                .and_then(|tps| tps.parse::<f64>().ok())
                .with_context(|| format!("no tps in pgbench's output: {stdout}"))?;
            tps.push(measured);
            runs.push(pgbench_latencies(&directory, &prefix)?);
        }
        let tps = median(&tps);
        findings.limit_tps.insert(clients, tps);
        limit.push((clients as f64, tps));
        let [p50, p99, p999] = quantiles(&runs);
        section.row(vec![
            clients.to_string(),
            rate(tps),
            ms(p50),
            ms(p99),
            ms(p999),
            cpu::between(&before, &cpu::snapshot()),
        ]);
    }
    section
        .throughput
        .push(Series::new("B0 pgbench (tx/s)", limit).styled(Style::Reference));
    let _ = std::fs::remove_dir_all(&directory);
    scratch.drop().await?;
    section.note(
        "The SQL of one registration's commit (the subject's key, the email claim, the event, \
         the outbox row and its NOTIFY, in one statement as the repository writes them) with \
         prepared statements, on a fresh event store; the service also reads the aggregate's \
         snapshot and events before it decides, which this leaves out.",
    );
    Ok(section)
}

/// The password as text, for pgbench's environment.
mod secrecy_free {
    use secrecy::ExposeSecret;
    use service_kit::settings::DatabaseSettings;

    pub fn password(settings: &DatabaseSettings) -> String {
        settings.password.expose_secret().to_owned()
    }
}

// ---- B1 ------------------------------------------------------------------------------------

async fn register(target: &Target, n: usize, email: &str) -> anyhow::Result<Uuid> {
    let response = target
        .client(n)
        .post(format!("{}/users", target.users_command))
        .json(&json!({ "email": email, "name": "Bench User", "credit_limit_cents": 100_000_000_000_i64 }))
        .send()
        .await?;
    if response.status() != 201 {
        bail!("register: {}", response.status());
    }
    let body: Value = response.json().await?;
    body["id"]
        .as_str()
        .and_then(|id| id.parse().ok())
        .context("register answered no id")
}

async fn place(target: &Target, n: usize, user: Uuid) -> anyhow::Result<Uuid> {
    let response = target
        .client(n)
        .post(format!("{}/orders", target.orders_command))
        .json(&json!({
            "user_id": user,
            "items": [{ "sku": "BENCH-1", "quantity": 1, "unit_price_cents": 100 }]
        }))
        .send()
        .await?;
    // 202: placed, and the saga decides later.
    if response.status() != 202 {
        bail!("place: {}", response.status());
    }
    let body: Value = response.json().await?;
    body["id"]
        .as_str()
        .and_then(|id| id.parse().ok())
        .context("place answered no id")
}

/// Users with credit for every order the benchmarks place.
async fn customers(target: &Target, count: usize) -> anyhow::Result<Arc<Vec<Uuid>>> {
    let mut users = Vec::with_capacity(count);
    for _ in 0..count {
        users.push(
            register(
                target,
                users.len(),
                &format!("{}@customer.bench", Uuid::now_v7()),
            )
            .await?,
        );
    }
    Ok(Arc::new(users))
}

pub async fn b1(
    target: &Target,
    sizes: &Sizes,
    findings: &mut Findings,
) -> anyhow::Result<Section> {
    let mut section = Section::new(
        "b1",
        "B1 commands over HTTP, closed loop",
        &[
            "command",
            "clients",
            "ops/s",
            "p50 ms",
            "p99 ms",
            "p99.9 ms",
            "failed",
            "÷ B0",
            "CPU µs/op",
            "CPU s",
        ],
    );
    let users = customers(target, 64).await?;
    for command in ["register-user", "place-order"] {
        let mut throughputs = Vec::new();
        // Register-user solid, place-order dashed: the same colour for the same clients.
        let style = if command == "register-user" {
            Style::Solid
        } else {
            Style::Dashed
        };
        for &clients in &sizes.clients {
            let before = cpu::snapshot();
            let mut runs: Vec<Throughput> = Vec::new();
            for _ in 0..sizes.runs {
                let (target, users) = (target.clone(), users.clone());
                let duration = Duration::from_secs(sizes.seconds);
                let measured =
                    closed_loop(clients, duration, sizes.max_operations, move |client, n| {
                        let (target, users) = (target.clone(), users.clone());
                        async move {
                            if command == "register-user" {
                                register(&target, client, &format!("{}@b1.bench", Uuid::now_v7()))
                                    .await?;
                            } else {
                                place(&target, client, users[n as usize % users.len()]).await?;
                            }
                            Ok(())
                        }
                    })
                    .await;
                runs.push(measured);
            }
            let after = cpu::snapshot();
            let throughput = median(&runs.iter().map(Throughput::per_second).collect::<Vec<_>>());
            let samples: Vec<Samples> = runs.into_iter().map(|run| run.samples).collect();
            let done: usize = samples.iter().map(Samples::count).sum();
            let [p50, p99, p999] = quantiles(&samples);
            throughputs.push((clients as f64, throughput));
            let plural = if clients == 1 { "" } else { "s" };
            section.latency.push(
                curve(&format!("{command}, {clients} client{plural}"), &samples).styled(style),
            );
            let ratio = findings
                .limit_tps
                .get(&clients)
                .map_or("-".to_owned(), |limit| format!("{:.2}", throughput / limit));
            if command == "register-user" {
                findings.register_max = findings.register_max.max(throughput);
            } else {
                findings.place_max = findings.place_max.max(throughput);
            }
            section.row(vec![
                command.to_owned(),
                clients.to_string(),
                rate(throughput),
                ms(p50),
                ms(p99),
                ms(p999),
                failures(&samples).to_string(),
                ratio,
                cpu::per_operation(&before, &after, done),
                cpu::between(&before, &after),
            ]);
            failure_note(
                &mut section,
                &format!("{command} at {clients} clients"),
                &samples,
            );
        }
        section.throughput.push(Series::new(command, throughputs));
    }
    section.note(
        "Each client sends its next command when the previous one is answered (201). \
         `÷ B0` divides by B0's transactions per second at the same number of clients. A \
         placed order also starts a saga, whose work (two more commands and the projections) \
         shares the machine with the load. `CPU µs/op` is the CPU time of the stack (services, \
         Postgres, the broker; not the harness) divided by the commands answered 201.",
    );
    Ok(section)
}

// ---- B2 and B3 under half load ----------------------------------------------------------------

/// Reads `topic` from its current end until cancelled, noting for each record its key and the
/// time from the event's commit (its envelope's `recorded_at`) to its arrival here.
async fn watch_topic(
    kafka: &service_kit::settings::KafkaSettings,
    topic: &str,
    cancel: CancellationToken,
) -> anyhow::Result<tokio::task::JoinHandle<HashMap<String, f64>>> {
    let consumer: StreamConsumer = kafka
        .client_config()
        .set("group.id", format!("bench-{}", Uuid::now_v7()))
        .set("enable.auto.commit", "false")
        .create()?;
    let metadata = consumer.fetch_metadata(Some(topic), Duration::from_secs(30))?;
    let partitions = metadata
        .topics()
        .first()
        .map(|t| t.partitions().len())
        .unwrap_or(0);
    if partitions == 0 {
        bail!("topic {topic} has no partitions");
    }
    let mut assignment = TopicPartitionList::new();
    for partition in 0..partitions as i32 {
        let (_, high) = consumer.fetch_watermarks(topic, partition, Duration::from_secs(30))?;
        assignment.add_partition_offset(topic, partition, Offset::Offset(high))?;
    }
    consumer.assign(&assignment)?;
    Ok(tokio::spawn(async move {
        let mut seen = HashMap::new();
        loop {
            let message = tokio::select! {
                () = cancel.cancelled() => break,
                message = consumer.recv() => message,
            };
            let Ok(message) = message else { continue };
            let Some(envelope) = message
                .payload()
                .and_then(|payload| contracts::decode_envelope(payload).ok())
            else {
                continue;
            };
            let Some(recorded) = envelope.recorded_at else {
                continue;
            };
            let committed = recorded.seconds as f64 + f64::from(recorded.nanos) / 1e9;
            let now = Utc::now();
            let now = now.timestamp() as f64 + f64::from(now.timestamp_subsec_nanos()) / 1e9;
            seen.insert(envelope.aggregate_id, now - committed);
        }
        seen
    }))
}

pub async fn b2_b3_latency(
    target: &Target,
    sizes: &Sizes,
    findings: &Findings,
) -> anyhow::Result<Vec<Section>> {
    let load = sizes.rate.unwrap_or(findings.register_max / 2.0).max(1.0);
    let mut consumed_runs = Vec::new();
    let mut command_runs = Vec::new();
    let mut visible_runs = Vec::new();
    let before = cpu::snapshot();
    for _ in 0..sizes.runs {
        let cancel = CancellationToken::new();
        let watcher = watch_topic(&target.kafka, &target.users_topic, cancel.clone()).await?;
        let registered = Arc::new(Mutex::new(Vec::new()));
        let visible = Arc::new(Mutex::new(Samples::default()));
        let (shared_target, shared_registered, shared_visible) =
            (target.clone(), registered.clone(), visible.clone());
        let commands = open_loop(
            load,
            Duration::from_secs(sizes.seconds),
            sizes.max_operations,
            Duration::from_secs(30),
            move |n, due| {
                let (target, registered, visible) = (
                    shared_target.clone(),
                    shared_registered.clone(),
                    shared_visible.clone(),
                );
                async move {
                    let n = n as usize;
                    let id = register(&target, n, &format!("{}@b2.bench", Uuid::now_v7())).await?;
                    let committed = Instant::now();
                    let latency = due.elapsed();
                    registered.lock().unwrap().push(id.to_string());
                    // Read your write: answered once the projector applied version 1.
                    let response = target
                        .client(n)
                        .get(format!(
                            "{}/users/{id}?min_version=1&wait_ms=10000",
                            target.users_query
                        ))
                        .send()
                        .await;
                    let mut visible = visible.lock().unwrap();
                    match response {
                        Ok(response) if response.status() == 200 => {
                            visible.seconds.push(committed.elapsed().as_secs_f64())
                        }
                        Ok(response) => visible.failed(format!("GET: {}", response.status())),
                        Err(error) => visible.failed(error),
                    }
                    Ok(latency)
                }
            },
        )
        .await;
        // Give the last records time to arrive.
        tokio::time::sleep(Duration::from_secs(2)).await;
        cancel.cancel();
        let seen = watcher.await?;
        let registered = registered.lock().unwrap().clone();
        let mut consumed = Samples::default();
        for id in &registered {
            match seen.get(id) {
                Some(seconds) => consumed.seconds.push(seconds.max(0.0)),
                None => consumed.failed(format!("user {id} never arrived")),
            }
        }
        consumed_runs.push(consumed);
        command_runs.push(commands);
        visible_runs.push(visible.lock().unwrap().clone());
    }
    let cpu_used = cpu::between(&before, &cpu::snapshot());
    let header = [
        "measure", "rate/s", "p50 ms", "p99 ms", "p99.9 ms", "missing", "CPU s",
    ];
    let mut relay = Section::new(
        "b2",
        "B2 relay: commit → on the broker, under open-loop load",
        &header,
    );
    let [c50, c99, c999] = quantiles(&command_runs);
    relay.row(vec![
        "register-user answered (from its due time)".to_owned(),
        rate(load),
        ms(c50),
        ms(c99),
        ms(c999),
        failures(&command_runs).to_string(),
        cpu_used.clone(),
    ]);
    let [p50, p99, p999] = quantiles(&consumed_runs);
    relay.row(vec![
        "commit → consumed from users.events".to_owned(),
        rate(load),
        ms(p50),
        ms(p99),
        ms(p999),
        failures(&consumed_runs).to_string(),
        "".to_owned(),
    ]);
    relay.latency = vec![
        curve("B2 register-user answered", &command_runs),
        curve("B2 commit → consumed", &consumed_runs),
    ];
    failure_note(&mut relay, "register-user", &command_runs);
    failure_note(&mut relay, "commit → consumed", &consumed_runs);
    relay.note(
        "Open loop at half of B1's highest registration rate. Commit → consumed is measured by a \
         consumer in the benchmark from the envelope's recorded_at (taken just before the \
         commit) to the record's arrival, so it bounds commit → broker ack from above by one \
         fetch. `missing` counts registrations whose record did not arrive.",
    );
    let mut visible = Section::new(
        "b3",
        "B3 projections: commit → visible in users-query, under open-loop load",
        &header,
    );
    let [v50, v99, v999] = quantiles(&visible_runs);
    visible.row(vec![
        "command answered → GET ?min_version=1 answered".to_owned(),
        rate(load),
        ms(v50),
        ms(v99),
        ms(v999),
        failures(&visible_runs).to_string(),
        cpu_used,
    ]);
    visible.latency = vec![curve("B3 answered → visible", &visible_runs)];
    failure_note(&mut visible, "visible", &visible_runs);
    visible.note(
        "After each 201 the benchmark asks users-query for version 1 with wait_ms; the query \
         service answers when its projector has applied the event (it listens for the applied \
         version), so this is the time from the command's answer to the read model's.",
    );
    Ok(vec![relay, visible])
}

// ---- B2 drain --------------------------------------------------------------------------------

pub async fn b2_drain(target: &Target, sizes: &Sizes) -> anyhow::Result<Section> {
    let mut section = Section::new(
        "b2-drain",
        "B2 relay: draining an outbox backlog",
        &["rows", "seconds", "rows/s", "CPU s"],
    );
    let mut rates = Vec::new();
    let mut seconds = Vec::new();
    let mut spent = cpu::Spent::default();
    for _ in 0..sizes.runs {
        let took = drain_once(target, sizes.drain_rows, &mut spent).await?;
        seconds.push(took);
        rates.push(sizes.drain_rows as f64 / took);
    }
    section.row(vec![
        sizes.drain_rows.to_string(),
        format!("{:.2}", median(&seconds)),
        rate(median(&rates)),
        spent.to_string(),
    ]);
    section.note(
        "One relay (as in a command service, with RELAY__CONCURRENCY=4) on a scratch event \
         store holding the backlog, publishing 160-byte records from 16 outbox partitions to a \
         fresh 3-partition topic, from its start until the outbox is empty. CPU s: of the \
         drains alone, all runs together (not the filling of the outbox).",
    );
    Ok(section)
}

/// Outbox partitions the draining relay works on at once (`RELAY__CONCURRENCY`; the services
/// default to 1, to spare connections).
const DRAIN_CONCURRENCY: usize = 4;

/// Seconds one relay takes to publish a backlog of `rows`; adds the CPU the drain used to
/// `spent`.
async fn drain_once(target: &Target, rows: u64, spent: &mut cpu::Spent) -> anyhow::Result<f64> {
    let scratch = Scratch::event_store(&target.server, "drain").await?;
    let topic = format!("bench.drain.{}", Uuid::now_v7().simple());
    let admin = service_kit::kafka::admin(&target.kafka)?;
    service_kit::kafka::ensure_topic(&admin, &topic, 3).await?;
    sqlx::query(
        "INSERT INTO outbox (partition_key, topic, message_key, payload, headers, event_id) \
         SELECT (g % 16)::smallint, $1, 'aggregate-' || (g % 10000), \
                decode(repeat('ab', 160), 'hex'), \
                jsonb_build_object('event_id', gen_random_uuid()::text, 'event_type', 'UserRenamed'), \
                gen_random_uuid() \
           FROM generate_series(1, $2) AS g",
    )
    .bind(&topic)
    .bind(rows as i64)
    .execute(&scratch.pool)
    .await
    .context("filling the outbox")?;
    let relay = outbox_relay::Relay::new(
        scratch.pool.clone(),
        outbox_relay::ProducerSettings {
            kafka: target.kafka.clone(),
            delivery_timeout: Duration::from_secs(30),
        },
        outbox_relay::RelayConfig {
            concurrency: DRAIN_CONCURRENCY,
            ..outbox_relay::RelayConfig::default()
        },
    )?;
    let cancel = CancellationToken::new();
    let before = cpu::snapshot();
    let started = Instant::now();
    let task = tokio::spawn(relay.run(cancel.clone()));
    let deadline = started + Duration::from_secs(900);
    // Asks only whether a row is left: counting them every 20 ms took a parallel scan of the
    // whole backlog each time, a fifth of the machine while the relay drained it.
    loop {
        let left: bool = sqlx::query_scalar("SELECT EXISTS (SELECT FROM outbox)")
            .fetch_one(&scratch.pool)
            .await?;
        if !left {
            break;
        }
        if Instant::now() > deadline {
            bail!("the relay left rows in the outbox after 15 minutes");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let took = started.elapsed().as_secs_f64();
    spent.add(&before, &cpu::snapshot());
    cancel.cancel();
    let _ = task.await;
    scratch.drop().await?;
    Ok(took)
}

// ---- B3 rebuild ------------------------------------------------------------------------------

pub async fn b3_rebuild(target: &Target, sizes: &Sizes) -> anyhow::Result<Section> {
    let mut section = Section::new(
        "b3-rebuild",
        "B3 projections: rebuilding users_view",
        &["events", "runs", "seconds", "events/s", "CPU s"],
    );
    for &events in &sizes.rebuild_events {
        // A million-event rebuild takes minutes: one run of those.
        let runs = if events > 200_000 { 1 } else { sizes.runs };
        let store = Scratch::event_store(&target.server, "rebuild_es").await?;
        store_user_events(&store.pool, events, 10, |_| {}).await?;
        let read = Scratch::create(&target.server, "rebuild_read").await?;
        let projection = users_query::projection::UsersView {
            keys: store.pool.clone(),
        };
        query_kit::migrate(&read.settings, &projection).await?;
        let options = read
            .settings
            .connect_options()
            .options([("search_path", users_query::projection::SCHEMA)]);
        let read_pool = read.settings.pool_with(options);
        let mut seconds = Vec::new();
        let before = cpu::snapshot();
        for _ in 0..runs {
            let started = Instant::now();
            let done = projector::rebuild(&read_pool, &store.pool, &projection, "user", |_| {})
                .await
                .map_err(|error| anyhow::anyhow!("rebuild: {error}"))?;
            if done.applied != events {
                bail!("the rebuild applied {} of {events} events", done.applied);
            }
            seconds.push(started.elapsed().as_secs_f64());
        }
        let took = median(&seconds);
        section.row(vec![
            events.to_string(),
            runs.to_string(),
            format!("{took:.2}"),
            rate(events as f64 / took),
            cpu::between(&before, &cpu::snapshot()),
        ]);
        read_pool.close().await;
        read.drop().await?;
        store.drop().await?;
    }
    section.note(
        "projector::rebuild (what /admin/rebuild runs) of users_view from a scratch event store \
         of users with 10 events each (a registration and renames), into a shadow schema, then \
         the switch.",
    );
    Ok(section)
}

// ---- B4 ------------------------------------------------------------------------------------

/// Waits (up to a minute) until orders-query shows `order` at version 2, and checks that it
/// was approved.
async fn approved(target: &Target, n: usize, order: Uuid) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let response = target
            .client(n)
            .get(format!(
                "{}/orders/{order}?min_version=2&wait_ms=10000",
                target.orders_query
            ))
            .send()
            .await?;
        match response.status().as_u16() {
            200 => {
                let body: Value = response.json().await?;
                if body["status"] != "APPROVED" {
                    bail!("order {order} is {}", body["status"]);
                }
                return Ok(());
            }
            // Not there yet (504 after wait_ms, 404 before the order is projected at all).
            504 | 404 if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            status => bail!("order {order}: {status}"),
        }
    }
}

pub async fn b4(target: &Target, sizes: &Sizes, findings: &Findings) -> anyhow::Result<Section> {
    let mut section = Section::new(
        "b4",
        "B4 saga: order placed → APPROVED in orders-query",
        &[
            "measure", "rate/s", "p50 ms", "p99 ms", "p99.9 ms", "failed", "CPU s",
        ],
    );
    let users = customers(target, 64).await?;
    let load = sizes.rate.unwrap_or(findings.place_max / 2.0).max(1.0);
    let before = cpu::snapshot();
    let mut runs = Vec::new();
    for _ in 0..sizes.runs {
        let (target, users) = (target.clone(), users.clone());
        runs.push(
            open_loop(
                load,
                Duration::from_secs(sizes.seconds),
                sizes.max_operations,
                Duration::from_secs(60),
                move |n, _| {
                    let (target, users) = (target.clone(), users.clone());
                    async move {
                        let n = n as usize;
                        let order = place(&target, n, users[n % users.len()]).await?;
                        let placed = Instant::now();
                        approved(&target, n, order).await?;
                        Ok(placed.elapsed())
                    }
                },
            )
            .await,
        );
    }
    let [p50, p99, p999] = quantiles(&runs);
    section.row(vec![
        "placed (202) → APPROVED visible, open loop".to_owned(),
        rate(load),
        ms(p50),
        ms(p99),
        ms(p999),
        failures(&runs).to_string(),
        cpu::between(&before, &cpu::snapshot()),
    ]);

    section.latency = vec![curve("B4 placed → approved", &runs)];
    failure_note(&mut section, "placed → approved", &runs);

    // Throughput: a burst placed by 8 clients, until the last one is approved.
    let before = cpu::snapshot();
    let mut per_second = Vec::new();
    for _ in 0..sizes.runs {
        let placed = Arc::new(Mutex::new(Vec::new()));
        let started = Instant::now();
        let (shared_target, shared_users, shared_placed) =
            (target.clone(), users.clone(), placed.clone());
        closed_loop(
            8,
            Duration::from_secs(120),
            sizes.burst_orders,
            move |client, n| {
                let (target, users, placed) = (
                    shared_target.clone(),
                    shared_users.clone(),
                    shared_placed.clone(),
                );
                async move {
                    let order = place(&target, client, users[n as usize % users.len()]).await?;
                    placed.lock().unwrap().push(order);
                    Ok(())
                }
            },
        )
        .await;
        let orders = placed.lock().unwrap().clone();
        for (n, order) in orders.iter().enumerate() {
            approved(target, n, *order).await?;
        }
        per_second.push(orders.len() as f64 / started.elapsed().as_secs_f64());
    }
    section.row(vec![
        format!(
            "{} orders by 8 clients, first placed → last approved",
            sizes.burst_orders
        ),
        format!("{} sagas/s", rate(median(&per_second))),
        "-".to_owned(),
        "-".to_owned(),
        "-".to_owned(),
        "0".to_owned(),
        cpu::between(&before, &cpu::snapshot()),
    ]);
    section.note(
        "Open loop at half of B1's highest placement rate; each order is followed until \
         orders-query answers version 2 (approved): the saga consumed OrderPlaced, reserved the \
         credit at users-command, approved at orders-command, and orders-query applied it.",
    );
    Ok(section)
}

// ---- B5 ------------------------------------------------------------------------------------

fn metadata() -> CommandMetadata {
    CommandMetadata {
        correlation_id: Uuid::now_v7().to_string(),
        causation_id: "bench".to_owned(),
        actor: "admin:bench".to_owned(),
        traceparent: None,
        idempotency: None,
    }
}

fn registration() -> anyhow::Result<(Uuid, UserCommand)> {
    let id = Uuid::now_v7();
    Ok((
        id,
        UserCommand::Register {
            user_id: id,
            email: Email::parse(&format!("{id}@b5.bench")).map_err(|e| anyhow::anyhow!("{e:?}"))?,
            name: UserName::parse("Bench User").map_err(|e| anyhow::anyhow!("{e:?}"))?,
            credit_limit: CreditCents::parse(100_000).map_err(|e| anyhow::anyhow!("{e:?}"))?,
        },
    ))
}

pub async fn b5(
    target: &Target,
    sizes: &Sizes,
    progress: &(dyn Fn(String) + Sync),
) -> anyhow::Result<Vec<Section>> {
    let mut growth = Section::new(
        "b5",
        "B5 growth: a registration's latency as the store grows",
        &[
            "events stored",
            "p50 ms",
            "p99 ms",
            "p99.9 ms",
            "p50 ÷ first p50",
            "load p50 ms",
            "load ÷ first load",
        ],
    );
    let scratch = Scratch::event_store(&target.server, "growth").await?;
    let bus = Arc::new(CommandBus::<User>::new(
        scratch.pool.clone(),
        Arc::new(UsersContract::new("users.events")),
        (),
    ));
    // The users whose loads are timed, ten events each, there from the smallest store on, so
    // every row times the same kind of user among more and more others.
    progress(format!(
        "B5: storing {PROBE_EVENTS} events of users to load"
    ));
    store_user_events(&scratch.pool, PROBE_EVENTS, 10, |_| {}).await?;
    let mut stored = PROBE_EVENTS;
    let mut baseline = f64::NAN;
    let mut load_baseline = f64::NAN;
    for &size in &sizes.growth_events {
        if size > stored {
            progress(format!("B5: storing {} events", size - stored));
            store_user_events(&scratch.pool, size - stored, 10, |_| {}).await?;
            sqlx::query("ANALYZE").execute(&scratch.pool).await?;
            stored = size;
        }
        let mut runs = Vec::new();
        for _ in 0..sizes.runs {
            let bus = bus.clone();
            let measured = closed_loop(
                1,
                Duration::from_secs(sizes.seconds),
                sizes.growth_commands,
                move |_, _| {
                    let bus = bus.clone();
                    async move {
                        let (id, command) = registration()?;
                        bus.execute(&id.to_string(), command, None, metadata())
                            .await
                            .map_err(|e| anyhow::anyhow!("{e}"))?;
                        Ok(())
                    }
                },
            )
            .await;
            runs.push(measured.samples);
        }
        let [p50, p99, p999] = quantiles(&runs);
        let load = median_load(&bus, &scratch.pool, stored).await?;
        if baseline.is_nan() {
            baseline = p50;
            load_baseline = load;
        }
        growth.row(vec![
            stored.to_string(),
            ms(p50),
            ms(p99),
            ms(p999),
            format!("{:.2}", p50 / baseline),
            ms(load),
            format!("{:.2}", load / load_baseline),
        ]);
    }
    growth.note(
        "In-process CommandBus (the code behind POST /users) on a scratch event store that \
         already holds this many events (users of 10 events), one client, commands run one \
         after the other; the relay is not running, so outbox rows accumulate too. The \
         smallest store holds 200 such users and nothing else. `load` is CommandBus::load of \
         200 users of exactly 10 events (sealed, no snapshot) picked at random among all of \
         them (the median).",
    );

    // Loading one aggregate of many events, with and without its snapshot.
    let mut snapshots = Section::new(
        "b5-snapshot",
        "B5 growth: loading an aggregate of many events",
        &["events in the stream", "with snapshot ms", "without ms"],
    );
    let (id, command) = registration()?;
    let id = id.to_string();
    bus.execute(&id, command, None, metadata())
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    progress(format!(
        "B5: appending {} events to one user",
        sizes.snapshot_events
    ));
    for n in 1..sizes.snapshot_events {
        let name =
            UserName::parse(&format!("Renamed {n}")).map_err(|e| anyhow::anyhow!("{e:?}"))?;
        bus.execute(&id, UserCommand::Rename { name }, None, metadata())
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    let time_loads = |count: usize| {
        let (bus, id) = (bus.clone(), id.clone());
        async move {
            let mut seconds = Vec::new();
            for _ in 0..count {
                let started = Instant::now();
                let (_, version) = bus.load(&id).await.map_err(|e| anyhow::anyhow!("{e}"))?;
                seconds.push(started.elapsed().as_secs_f64() * 1_000.0);
                anyhow::ensure!(version == sizes.snapshot_events, "loaded version {version}");
            }
            anyhow::Ok(median(&seconds))
        }
    };
    let with_snapshot = time_loads(21).await?;
    sqlx::query("DELETE FROM snapshots")
        .execute(&scratch.pool)
        .await?;
    let without = time_loads(5).await?;
    snapshots.row(vec![
        sizes.snapshot_events.to_string(),
        ms(with_snapshot),
        ms(without),
    ]);
    snapshots.note(
        "CommandBus::load (what every command does first), median of 21 loads with the \
         snapshot the store keeps (every 20 events) and of 5 after deleting it (every event \
         folded).",
    );
    scratch.drop().await?;
    Ok(vec![growth, snapshots])
}

/// Events B5 stores before its first row: 200 users of ten events, the users it loads.
pub const PROBE_EVENTS: u64 = 2_000;

/// The median time of `CommandBus::load` over 200 users of ten events picked at random among
/// those in `store`, which holds `stored` events (ms).
async fn median_load(
    bus: &CommandBus<User>,
    store: &sqlx::PgPool,
    stored: u64,
) -> anyhow::Result<f64> {
    // A random sample of pages large enough to hold a few thousand tenth events, so a big
    // store is not read whole; every user of ten events is equally likely to be picked.
    let percent = (100.0 * 50_000.0 / stored.max(1) as f64).min(100.0);
    let mut users: Vec<String> = sqlx::query_scalar(
        "SELECT aggregate_id FROM events TABLESAMPLE SYSTEM ($1::real) \
         WHERE sequence = 10 ORDER BY random() LIMIT 200",
    )
    .bind(percent as f32)
    .fetch_all(store)
    .await?;
    if users.len() < 200 {
        users = sqlx::query_scalar(
            "SELECT aggregate_id FROM events WHERE sequence = 10 ORDER BY random() LIMIT 200",
        )
        .fetch_all(store)
        .await?;
    }
    anyhow::ensure!(!users.is_empty(), "no stored user to load");
    let mut millis = Vec::with_capacity(users.len());
    for user in &users {
        let started = Instant::now();
        let (_, version) = bus.load(user).await.map_err(|e| anyhow::anyhow!("{e}"))?;
        millis.push(started.elapsed().as_secs_f64() * 1_000.0);
        anyhow::ensure!(version == 10, "user {user} loaded at version {version}");
    }
    Ok(median(&millis))
}
