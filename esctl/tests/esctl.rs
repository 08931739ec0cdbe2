//! esctl against the real Postgres and broker: streams and time travel from the event store,
//! every event type of both contexts decoded from a topic (and a poison message shown raw),
//! replay into a fresh topic keeping per-aggregate order and event ids, and clear one-line
//! errors with their exit codes.

mod common;

use std::process::Output;
use std::sync::Arc;
use std::time::Duration;

use common::{json_lines, stdout};
use event_store::CommandBus;
use orders_domain::OrdersContract;
use orders_domain::{Items, LineItem, Order, OrderCommand, Quantity, Reason, Sku, UnitPrice};
use serde_json::Value;
use service_kit::settings::DatabaseSettings;
use users_domain::UsersContract;
use users_domain::{CreditCents, Email, User, UserCommand, UserName};
use uuid::Uuid;

fn url(database: &DatabaseSettings) -> String {
    use secrecy::ExposeSecret;
    format!(
        "postgres://{}:{}@{}:{}/{}",
        database.username,
        database.password.expose_secret(),
        database.host,
        database.port,
        database.database_name
    )
}

/// Runs esctl with `args` against the given stores and the test broker.
async fn esctl(users: &str, orders: &str, brokers: &str, args: &[&str]) -> Output {
    common::esctl(
        &[
            ("ESCTL_USERS_DB", users),
            ("ESCTL_ORDERS_DB", orders),
            ("ESCTL_BROKERS", brokers),
        ],
        args,
    )
    .await
}

struct Stores {
    users: DatabaseSettings,
    orders: DatabaseSettings,
    users_topic: String,
    orders_topic: String,
}

impl Stores {
    async fn new() -> Self {
        let (users, orders) = tokio::join!(
            test_support::fresh_database(),
            test_support::fresh_database()
        );
        let (users_topic, orders_topic) = tokio::join!(
            test_support::fresh_topic("users.events", 3),
            test_support::fresh_topic("orders.events", 3)
        );
        event_store::MIGRATOR
            .run(&users.pool())
            .await
            .expect("migrated");
        event_store::MIGRATOR
            .run(&orders.pool())
            .await
            .expect("migrated");
        Self {
            users,
            orders,
            users_topic,
            orders_topic,
        }
    }

    async fn run(&self, args: &[&str]) -> Output {
        esctl(
            &url(&self.users),
            &url(&self.orders),
            &test_support::kafka_brokers(),
            args,
        )
        .await
    }

    /// A user with every User event: registered, email, rename, limit, reserve, release,
    /// deactivate.
    async fn user_with_every_event(&self) -> Uuid {
        let bus: CommandBus<User> = CommandBus::new(
            self.users.pool(),
            Arc::new(UsersContract::new(&self.users_topic)),
            (),
        );
        let id = Uuid::now_v7();
        let order = Uuid::now_v7();
        let commands = [
            UserCommand::Register {
                user_id: id,
                email: Email::parse(&format!("{id}@example.com")).unwrap(),
                name: UserName::parse("Ada").unwrap(),
                credit_limit: CreditCents::parse(1_000).unwrap(),
            },
            UserCommand::ChangeEmail {
                email: Email::parse(&format!("new-{id}@example.com")).unwrap(),
            },
            UserCommand::Rename {
                name: UserName::parse("Ada Lovelace").unwrap(),
            },
            UserCommand::ChangeCreditLimit {
                credit_limit: CreditCents::parse(5_000).unwrap(),
            },
            UserCommand::ReserveCredit {
                order_id: order,
                amount: CreditCents::parse_positive(700).unwrap(),
            },
            UserCommand::ReleaseCredit { order_id: order },
            UserCommand::Deactivate {
                reason: Reason::parse("closed").unwrap(),
            },
        ];
        for command in commands {
            bus.execute(&id.to_string(), command, None, Default::default())
                .await
                .expect("command");
        }
        id
    }

    /// Orders with every Order event: placed, approved, rejected, cancelled.
    async fn orders_with_every_event(&self) -> Vec<Uuid> {
        let bus: CommandBus<Order> = CommandBus::new(
            self.orders.pool(),
            Arc::new(OrdersContract::new(&self.orders_topic)),
            (),
        );
        let mut ids = Vec::new();
        for then in [
            OrderCommand::Approve,
            OrderCommand::Reject {
                reason: Reason::parse("insufficient credit").unwrap(),
            },
            OrderCommand::Cancel {
                reason: Reason::parse("changed my mind").unwrap(),
            },
        ] {
            let id = Uuid::now_v7();
            let items = Items::new(vec![LineItem {
                sku: Sku::parse("BOOK-1").unwrap(),
                quantity: Quantity::parse(2).unwrap(),
                unit_price: UnitPrice::parse(1_250).unwrap(),
            }])
            .unwrap();
            let place = OrderCommand::Place {
                order_id: id,
                user_id: Uuid::now_v7(),
                items,
                currency: orders_domain::Currency::settlement(),
            };
            for command in [place, then] {
                bus.execute(&id.to_string(), command, None, Default::default())
                    .await
                    .expect("command");
            }
            ids.push(id);
        }
        ids
    }
}

#[tokio::test]
async fn an_order_stored_before_currencies_reads_at_todays_version() {
    let stores = Stores::new().await;
    let fixture = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../orders-domain/fixtures/v1-streams.json"
    );
    let recorded = test_support::store::Recorded::read(fixture);
    recorded.insert(&stores.orders.pool(), None).await;
    let id = recorded.aggregate_ids()[0].clone();

    let events = common::json_lines(&stores.run(&["events", "orders", &id, "--json"]).await);
    assert_eq!(events[0]["event_version"], "2", "{events:?}");
    assert_eq!(events[0]["payload"]["currency"], "EUR");
    let state = common::json(&stores.run(&["state", "orders", &id]).await);
    assert_eq!(state["state"]["currency"], "EUR");
    assert_eq!(state["state"]["status"], "APPROVED");
}

#[tokio::test]
async fn events_and_state_read_the_stream_and_travel_in_time() {
    let stores = Stores::new().await;
    let user = stores.user_with_every_event().await;
    let id = user.to_string();

    let table = stdout(&stores.run(&["events", "users", &id]).await);
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("SEQ"), "{table}");
    assert_eq!(lines.len(), 8, "a header and seven events: {table}");
    assert!(
        lines[1].contains("UserRegistered") && lines[1].contains("Ada"),
        "{table}"
    );
    assert!(lines[7].contains("UserDeactivated"), "{table}");

    let events = json_lines(
        &stores
            .run(&["events", "users", &id, "--from-version", "3", "--json"])
            .await,
    );
    let sequences: Vec<i64> = events
        .iter()
        .map(|e| e["sequence"].as_i64().unwrap())
        .collect();
    assert_eq!(sequences, [3, 4, 5, 6, 7]);
    assert!(
        events
            .iter()
            .all(|e| e["event_id"].is_string() && e["metadata"].is_object())
    );

    let then: Value = serde_json::from_str(&stdout(
        &stores
            .run(&["state", "users", &id, "--at-version", "2"])
            .await,
    ))
    .unwrap();
    assert_eq!(then["version"], 2);
    assert_eq!(then["state"]["name"], "Ada");
    assert_eq!(then["state"]["email"], format!("new-{id}@example.com"));
    let now: Value =
        serde_json::from_str(&stdout(&stores.run(&["state", "users", &id]).await)).unwrap();
    assert_eq!(now["version"], 7);
    assert_eq!(now["state"]["name"], "Ada Lovelace");
    assert_eq!(now["state"]["credit_limit_cents"], 5_000);

    let orders = stores.orders_with_every_event().await;
    let order: Value = serde_json::from_str(&stdout(
        &stores
            .run(&["state", "orders", &orders[0].to_string()])
            .await,
    ))
    .unwrap();
    assert_eq!(order["version"], 2);
    assert_eq!(order["state"]["status"], "APPROVED", "{order}");
}

#[tokio::test]
async fn unknown_ids_bad_versions_and_unreachable_servers_are_one_line_errors() {
    let stores = Stores::new().await;
    let user = stores.user_with_every_event().await.to_string();
    let cases: [(&[&str], i32, &str); 5] = [
        (
            &["events", "users", "no-such-user"],
            3,
            "no user no-such-user",
        ),
        (
            &["state", "users", &user, "--at-version", "99"],
            3,
            "has 7 events",
        ),
        (&["tail", "no.such.topic"], 3, "no topic no.such.topic"),
        (&["events", "users", &user, "--from-version", "0"], 2, "0"),
        (&["tail", "x", "--since", "ten minutes"], 2, "since"),
    ];
    for (args, code, message) in cases {
        let output = stores.run(args).await;
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(code), "{args:?}: {stderr}");
        assert!(stderr.contains(message), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
    // Nobody listens on port 1: the database and the broker are unreachable.
    let down = "postgres://cqrs:secret@127.0.0.1:1/users_es";
    let output = esctl(down, down, "127.0.0.1:1", &["events", "users", &user]).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(4), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("cannot reach the user event store"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("secret"),
        "no password in errors: {stderr}"
    );
    let output = esctl(down, down, "127.0.0.1:1", &["topics"]).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(4), "{stderr}");
    assert!(
        stderr.contains("cannot reach the broker at 127.0.0.1:1"),
        "{stderr}"
    );
}

#[tokio::test]
async fn tail_decodes_every_event_type_of_both_contexts_and_shows_poison_raw() {
    let stores = Stores::new().await;
    let user = stores.user_with_every_event().await;
    stores.orders_with_every_event().await;
    let topic = test_support::fresh_topic("esctl.tail", 3).await;
    for context in ["users", "orders"] {
        stdout(&stores.run(&["replay", context, "--to-topic", &topic]).await);
    }
    test_support::produce_in_order(
        &test_support::kafka_brokers(),
        &topic,
        &[("poison".to_owned(), b"\xff\x00 not protobuf".to_vec())],
    )
    .await;
    let records = json_lines(
        &stores
            .run(&["tail", &topic, "--from-beginning", "--json"])
            .await,
    );
    assert_eq!(records.len(), 14, "13 events and the poison message");
    let mut types: Vec<&str> = records
        .iter()
        .filter_map(|r| r["envelope"]["event_type"].as_str())
        .collect();
    types.sort_unstable();
    types.dedup();
    assert_eq!(
        types,
        [
            "OrderApproved",
            "OrderCancelled",
            "OrderPlaced",
            "OrderRejected",
            "UserCreditLimitChanged",
            "UserCreditReleased",
            "UserCreditReserved",
            "UserDeactivated",
            "UserEmailChanged",
            "UserRegistered",
            "UserRenamed",
        ]
    );
    for record in records.iter().filter(|r| r.get("envelope").is_some()) {
        assert_eq!(
            record["headers"]["event_id"],
            record["envelope"]["event_id"]
        );
        assert!(record["envelope"]["payload"].is_object(), "{record}");
        assert!(record["envelope"]["recorded_at"].is_string(), "{record}");
    }
    let poison = records
        .iter()
        .find(|r| r["key"] == "poison")
        .expect("the poison message");
    assert!(
        poison["error"]
            .as_str()
            .unwrap()
            .contains("not an EventEnvelope")
    );
    assert!(poison["raw_hex"].as_str().unwrap().starts_with("ff00"));

    // Filters: by key and by type.
    let mine = json_lines(
        &stores
            .run(&[
                "tail",
                &topic,
                "--from-beginning",
                "--json",
                "--key",
                &user.to_string(),
            ])
            .await,
    );
    assert_eq!(mine.len(), 7);
    let placed = json_lines(
        &stores
            .run(&[
                "tail",
                &topic,
                "--from-beginning",
                "--json",
                "--type",
                "OrderPlaced",
            ])
            .await,
    );
    assert_eq!(placed.len(), 3);
    let text = stdout(&stores.run(&["tail", &topic, "--from-beginning"]).await);
    assert!(
        text.contains("UNDECODABLE") && text.contains("UserRegistered seq=1"),
        "{text}"
    );
}

#[tokio::test]
async fn replay_of_ten_thousand_events_keeps_per_aggregate_order_and_event_ids() {
    let stores = Stores::new().await;
    let bus: CommandBus<User> = CommandBus::new(
        stores.users.pool(),
        Arc::new(UsersContract::new(&stores.users_topic)),
        (),
    );
    // 1 000 users with 10 events each, interleaved across users.
    let users: Vec<Uuid> = (0..1_000).map(|_| Uuid::now_v7()).collect();
    for round in 0..10 {
        let mut work = Vec::new();
        for user in &users {
            let command = if round == 0 {
                UserCommand::Register {
                    user_id: *user,
                    email: Email::parse(&format!("{user}@example.com")).unwrap(),
                    name: UserName::parse("Bulk").unwrap(),
                    credit_limit: CreditCents::parse(1_000).unwrap(),
                }
            } else {
                UserCommand::Rename {
                    name: UserName::parse(&format!("Bulk {round}")).unwrap(),
                }
            };
            let bus = &bus;
            work.push(async move {
                bus.execute(&user.to_string(), command, None, Default::default())
                    .await
                    .expect("command")
            });
        }
        futures::future::join_all(work).await;
    }
    let stored = test_support::store::stored_events(&stores.users.pool()).await;
    assert_eq!(stored.len(), 10_000);

    let topic = test_support::fresh_topic("esctl.replay", 3).await;
    let output = stores.run(&["replay", "users", "--to-topic", &topic]).await;
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    stdout(&output);
    assert!(stderr.contains("replayed 10000 user event(s)"), "{stderr}");
    assert!(
        stderr.contains("replayed 10000/10000"),
        "progress lines: {stderr}"
    );

    let records =
        test_support::read_topic_until(&topic, Duration::from_secs(120), |r| r.len() >= 10_000)
            .await;
    assert_eq!(records.len(), 10_000);
    // Per aggregate: sequences 1..=10 in order, with the stored event ids.
    test_support::assert_per_aggregate_order(&records);
    let ids: std::collections::HashSet<String> = records
        .iter()
        .map(|r| r.header("event_id").expect("event_id header").to_owned())
        .collect();
    let stored_ids: std::collections::HashSet<String> =
        stored.iter().map(|(id, _, _)| id.to_string()).collect();
    assert_eq!(ids, stored_ids, "the same event ids as stored");

    // One aggregate only.
    let one = users[7].to_string();
    let topic = test_support::fresh_topic("esctl.replay-one", 1).await;
    stdout(
        &stores
            .run(&["replay", "users", "--to-topic", &topic, "--aggregate", &one])
            .await,
    );
    let records =
        test_support::read_topic_until(&topic, Duration::from_secs(60), |r| r.len() >= 10).await;
    assert!(records.iter().all(|r| r.key == one));
}

#[tokio::test]
async fn census_counts_stored_events_per_type_and_version() {
    let stores = Stores::new().await;
    stores.user_with_every_event().await;
    let orders = stores.orders_with_every_event().await;
    // One of the three placements as the code before currencies stored it (version 1).
    sqlx::query("UPDATE events SET event_version = '1' WHERE aggregate_id = $1 AND sequence = 1")
        .bind(orders[0].to_string())
        .execute(&stores.orders.pool())
        .await
        .unwrap();
    let lines = common::json(&stores.run(&["census", "--json"]).await);
    let counted: Vec<(String, String, String, i64)> = lines
        .as_array()
        .unwrap()
        .iter()
        .map(|line| {
            (
                line["context"].as_str().unwrap().to_owned(),
                line["event_type"].as_str().unwrap().to_owned(),
                line["event_version"].as_str().unwrap().to_owned(),
                line["events"].as_i64().unwrap(),
            )
        })
        .collect();
    let users: Vec<&(String, String, String, i64)> =
        counted.iter().filter(|c| c.0 == "users").collect();
    assert_eq!(users.len(), 7, "seven User event types: {counted:?}");
    assert!(users.iter().all(|c| c.2 == "1" && c.3 == 1), "{counted:?}");
    let placed: Vec<(&str, i64)> = counted
        .iter()
        .filter(|c| c.0 == "orders" && c.1 == "OrderPlaced")
        .map(|c| (c.2.as_str(), c.3))
        .collect();
    assert_eq!(placed, [("1", 1), ("2", 2)], "each version counted apart");
    assert!(lines[0]["first_recorded_at"].is_string());

    let table = stdout(&stores.run(&["census", "orders"]).await);
    let rows: Vec<&str> = table.lines().collect();
    assert!(
        rows[0].starts_with("CONTEXT") && rows[0].contains("VERSION"),
        "{table}"
    );
    assert_eq!(
        rows.len(),
        6,
        "a header and four Order event types, one at two versions: {table}"
    );
    assert!(
        rows[1..].iter().all(|row| row.starts_with("orders")),
        "{table}"
    );
}

#[tokio::test]
async fn outbox_rows_set_aside_are_listed_then_retried_or_skipped_with_who_and_why() {
    let stores = Stores::new().await;
    let user = stores.user_with_every_event().await;
    let pool = stores.users.pool();
    // The relay's doing after max_attempts refusals, here by hand: the third row of seven.
    let set_aside = "UPDATE outbox SET attempts = 5, last_error = 'Message production error: \
        MessageSizeTooLarge', set_aside_at = now() WHERE id = (SELECT id FROM outbox \
        WHERE message_key = $1 ORDER BY id OFFSET 2 LIMIT 1) RETURNING event_id";
    let set = || async {
        sqlx::query_scalar::<_, Uuid>(set_aside)
            .bind(user.to_string())
            .fetch_one(&pool)
            .await
            .unwrap()
    };
    let event = set().await;

    let status = common::json(&stores.run(&["outbox", "status", "--json"]).await);
    assert_eq!(status[0]["context"], "users");
    assert_eq!(
        (
            status[0]["unpublished"].as_i64(),
            status[0]["set_aside"].as_i64()
        ),
        (Some(7), Some(1))
    );
    assert_eq!(status[1]["set_aside"], 0, "{status}");
    let listed = common::json(&stores.run(&["outbox", "set-aside", "--json"]).await);
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed}");
    assert_eq!(listed[0]["context"], "users");
    assert_eq!(listed[0]["message_key"], user.to_string());
    assert_eq!(listed[0]["event_id"], event.to_string());
    assert_eq!(
        (
            listed[0]["attempts"].as_i64(),
            listed[0]["held_back"].as_i64()
        ),
        (Some(5), Some(4))
    );
    let table = stdout(&stores.run(&["outbox", "set-aside", "users"]).await);
    assert!(
        table.lines().next().unwrap().contains("HELD BACK"),
        "{table}"
    );
    assert!(table.contains("MessageSizeTooLarge"), "{table}");
    assert!(
        stdout(&stores.run(&["outbox", "set-aside", "orders"]).await)
            .lines()
            .count()
            <= 1
    );

    // Bad input: one line and its exit code, nothing changed.
    let user_id = user.to_string();
    let (code, stderr) = common::failure(
        &stores
            .run(&["outbox", "skip", "users", &user_id, "--reason", "  "])
            .await,
    );
    assert_eq!(code, 2, "{stderr}");
    let unknown = Uuid::now_v7().to_string();
    let (code, stderr) =
        common::failure(&stores.run(&["outbox", "retry", "users", &unknown]).await);
    assert_eq!(code, 3, "{stderr}");
    assert!(stderr.contains(&unknown), "{stderr}");
    let (code, _) = common::failure(&stores.run(&["outbox", "retry", "orders", &user_id]).await);
    assert_eq!(code, 3, "an aggregate of the other context");
    let listed = common::json(&stores.run(&["outbox", "set-aside", "--json"]).await);
    assert_eq!(
        listed.as_array().map(Vec::len),
        Some(1),
        "nothing changed: {listed}"
    );

    // Retry: back in line with its refusals forgotten.
    let retried = common::json(
        &stores
            .run(&["outbox", "retry", "users", &user_id, "--json"])
            .await,
    );
    assert_eq!(retried["event_id"], event.to_string());
    let (attempts, aside): (i32, Option<chrono::DateTime<chrono::Utc>>) =
        sqlx::query_as("SELECT attempts, set_aside_at FROM outbox WHERE event_id = $1")
            .bind(event)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!((attempts, aside), (0, None));

    // Skip: gone from the outbox, recorded with who and why; the later rows stay.
    set().await;
    let said = stdout(
        &stores
            .run(&[
                "outbox",
                "skip",
                "users",
                &user_id,
                "--reason",
                "larger than any topic takes",
                "--actor",
                "ops",
            ])
            .await,
    );
    assert!(
        said.contains("skipped") && said.contains(&event.to_string()),
        "{said}"
    );
    let (actor, reason, error): (String, String, Option<String>) =
        sqlx::query_as("SELECT actor, reason, last_error FROM outbox_skipped WHERE event_id = $1")
            .bind(event)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(
        (actor.as_str(), reason.as_str()),
        ("ops", "larger than any topic takes")
    );
    assert!(error.unwrap().contains("MessageSizeTooLarge"));
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox WHERE message_key = $1")
        .bind(&user_id)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(left, 6);
    let (code, _) = common::failure(
        &stores
            .run(&["outbox", "skip", "users", &user_id, "--reason", "again"])
            .await,
    );
    assert_eq!(code, 3, "nothing is set aside any more");
}

#[tokio::test]
async fn an_erased_user_reads_as_erased_in_events_state_and_time_travel() {
    let stores = Stores::new().await;
    let user = stores.user_with_every_event().await;
    let id = user.to_string();
    let before = stdout(&stores.run(&["events", "users", &id]).await);
    assert!(
        before.contains("Ada"),
        "opened before the erasure: {before}"
    );
    let bus: CommandBus<User> = CommandBus::new(
        stores.users.pool(),
        Arc::new(UsersContract::new(&stores.users_topic)),
        (),
    );
    let reason = Reason::parse("erasure request 118").unwrap();
    bus.execute(&id, UserCommand::Erase { reason }, None, Default::default())
        .await
        .expect("erased");

    let table = stdout(&stores.run(&["events", "users", &id]).await);
    assert!(
        table.contains("UserErased") && table.contains("[erased]"),
        "{table}"
    );
    let json = stdout(&stores.run(&["events", "users", &id, "--json"]).await);
    for personal in ["Ada", &format!("{id}@example.com")] {
        assert!(!json.contains(personal), "{personal} in {json}");
    }
    let now: Value =
        serde_json::from_str(&stdout(&stores.run(&["state", "users", &id]).await)).unwrap();
    assert_eq!(now["state"]["status"], "erased");
    assert_eq!(now["state"]["email"], "[erased]");
    // Time travel cannot bring the data back.
    let then: Value = serde_json::from_str(&stdout(
        &stores
            .run(&["state", "users", &id, "--at-version", "1"])
            .await,
    ))
    .unwrap();
    assert_eq!(then["state"]["name"], "[erased]");
    assert_eq!(then["state"]["status"], "active");
}
