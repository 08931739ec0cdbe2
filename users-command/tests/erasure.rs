//! GDPR erasure by crypto-shredding, on the whole stack (Postgres, Kafka, the five services):
//! a user's email and name are sealed everywhere they are stored or published, and after
//! `POST /users/{id}/erasure` a byte search of a `pg_dump` of every database, of the broker's
//! log segments and of the Users services' logs finds neither; the user still folds, the read
//! model and a rebuild show them erased, their email can be registered again, and orders,
//! sagas and credit go on working.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};
use sqlx::PgPool;
use test_support::stack::{FAST_SAGA, Stack};
use uuid::Uuid;

const DEADLINE: Duration = Duration::from_secs(60);

/// Whether `haystack` holds `needle`.
fn holds(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle.as_bytes())
}

/// The personal strings of `secrets` found in `bytes`, for `what`.
fn found(what: &str, bytes: &[u8], secrets: &[&str]) -> Vec<String> {
    secrets
        .iter()
        .filter(|secret| holds(bytes, secret))
        .map(|secret| format!("{secret:?} in {what}"))
        .collect()
}

/// `pg_dump` of the database behind `pool`, as the suite's Postgres user.
async fn pg_dump(pool: &PgPool) -> Vec<u8> {
    let name: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(pool)
        .await
        .unwrap();
    let server = test_support::server_settings();
    let output = tokio::process::Command::new("pg_dump")
        .args(["--no-owner", "--dbname", &name])
        .env("PGHOST", &server.host)
        .env("PGPORT", server.port.to_string())
        .env("PGUSER", &server.username)
        .env("PGPASSWORD", {
            use secrecy::ExposeSecret;
            server.password.expose_secret().to_owned()
        })
        .output()
        .await
        .expect("pg_dump runs");
    assert!(
        output.status.success(),
        "pg_dump {name}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

/// Every file of the broker's log directories of `topics` (segments, indexes).
fn segments(topics: &[&str]) -> Vec<PathBuf> {
    let data = std::env::var_os("TEST_KAFKA_DATA")
        .map(PathBuf::from)
        .expect("TEST_KAFKA_DATA names the suite broker's data (cargo xtask test sets it)");
    fn walk(dir: &Path, topics: &[&str], inside: bool, found: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            let ours = inside
                || topics
                    .iter()
                    .any(|topic| name.starts_with(&format!("{topic}-")));
            if path.is_dir() {
                walk(&path, topics, ours, found);
            } else if ours {
                found.push(path);
            }
        }
    }
    let mut found = Vec::new();
    walk(&data, topics, false, &mut found);
    found
}

async fn send(stack: &Stack, request: reqwest::RequestBuilder) -> (u16, Value) {
    let response = request.send().await.expect("request sent");
    let status = response.status().as_u16();
    let body = response.json().await.unwrap_or(Value::Null);
    let _ = stack;
    (status, body)
}

/// The user's stored events as users-command answers them.
async fn events_of(stack: &Stack, user: Uuid) -> Value {
    let path = format!("/users/{user}/events");
    let events: Value = stack
        .get(&stack.users_command.address, &path)
        .await
        .json()
        .await
        .unwrap();
    events["events"].clone()
}

async fn rebuild_users(stack: &Stack) {
    let started = stack
        .client
        .post(format!("{}/admin/rebuild", stack.users_query.address))
        .send()
        .await
        .unwrap();
    assert_eq!(started.status(), 202);
    test_support::eventually(DEADLINE, "the users rebuild to finish", || async {
        let status: Value = stack
            .get(&stack.users_query.address, "/admin/rebuild")
            .await
            .json()
            .await
            .ok()?;
        match status["state"].as_str() {
            Some("succeeded") => Some(()),
            Some("failed") => panic!("rebuild failed: {status}"),
            _ => None,
        }
    })
    .await;
}

#[tokio::test]
async fn an_erased_users_email_and_name_are_gone_from_every_database_topic_and_log() {
    let mut stack = Stack::start_with(60_000, FAST_SAGA).await;
    // The Users services log everything they log at debug, captured.
    let debug = [("RUST_LOG", "debug")];
    stack.users_command.kill().await;
    let command_log = stack.users_command.start_capturing(&debug).await;
    stack.users_query.kill().await;
    let query_log = stack.users_query.start_capturing(&debug).await;

    let tag = Uuid::new_v4().simple().to_string();
    let (first_email, second_email) = (
        format!("erase-me-{tag}@example.com"),
        format!("second-{tag}@example.com"),
    );
    let (first_name, second_name) = (format!("Zyxwv {tag}"), format!("Qwert {tag}"));
    let secrets = [
        first_email.as_str(),
        second_email.as_str(),
        first_name.as_str(),
        second_name.as_str(),
    ];
    let users = &stack.users_command.address;
    let (status, body) = send(
        &stack,
        stack
            .client
            .post(format!("{users}/users"))
            .header("Idempotency-Key", format!("register-{tag}"))
            .json(&json!({"email": first_email, "name": first_name, "credit_limit_cents": 10_000})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let user: Uuid = body["id"].as_str().unwrap().parse().unwrap();
    for (path, body) in [
        ("email", json!({"email": second_email})),
        ("name", json!({"name": second_name})),
    ] {
        let (status, body) = send(
            &stack,
            stack
                .client
                .post(format!("{users}/users/{user}/{path}"))
                .json(&body),
        )
        .await;
        assert_eq!(status, 200, "{body}");
    }
    let order = stack.place(user, 2_500).await;
    stack.finished(order, "place-order").await;
    let view = test_support::eventually(DEADLINE, "the rename in the read model", || async {
        let view = stack.user_in(user, "active").await;
        (view["name"] == second_name.as_str()).then_some(view)
    })
    .await;
    assert_eq!(view["email"], second_email.as_str());
    assert_eq!(view["reserved_cents"], 2_500);

    // Sealed before any erasure: the event store and the broker never held the plain values,
    // while the read model does (so the dump search below can find what it looks for).
    let store = pg_dump(&stack.users_es).await;
    assert_eq!(found("users_es", &store, &secrets), Vec::<String>::new());
    assert!(holds(&pg_dump(&stack.users_read).await, &second_email));
    let events = events_of(&stack, user).await;
    assert_eq!(events[0]["payload"]["email"], first_email.as_str());

    // The export gives the subject everything, across both contexts.
    let export = || stack.client.get(format!("{users}/users/{user}/export"));
    let (status, exported) = send(&stack, export()).await;
    assert_eq!(status, 200, "{exported}");
    assert_eq!(exported["user"]["state"]["email"], second_email.as_str());
    assert_eq!(exported["user"]["state"]["name"], second_name.as_str());
    assert_eq!(
        exported["events"][0]["payload"]["email"],
        first_email.as_str()
    );
    assert_eq!(
        exported["events"].as_array().map(Vec::len),
        Some(4),
        "{exported}"
    );
    assert_eq!(exported["orders"][0]["id"], order.to_string());
    assert_eq!(exported["orders"][0]["sagas"][0]["kind"], "place-order");
    let customer = test_support::auth::token(&user.to_string(), service_kit::auth::Role::Customer);
    let (status, _) = send(&stack, export().bearer_auth(&customer)).await;
    assert_eq!(status, 403);
    let (status, body) = send(
        &stack,
        stack
            .client
            .get(format!("{users}/users/{}/export", Uuid::now_v7())),
    )
    .await;
    assert_eq!(
        (status, body["type"].as_str()),
        (404, Some("/problems/user-not-found"))
    );

    // Erasure: admin only, a reason required, then done once.
    let erase = |body: Value| {
        stack
            .client
            .post(format!("{users}/users/{user}/erasure"))
            .json(&body)
    };
    let (status, _) = send(
        &stack,
        erase(json!({"reason": "mine"})).bearer_auth(customer),
    )
    .await;
    assert_eq!(status, 403, "a customer cannot erase, not even themselves");
    let (status, body) = send(&stack, erase(json!({"reason": " "}))).await;
    assert_eq!(status, 422, "{body}");
    let (status, body) = send(&stack, erase(json!({"reason": "erasure request 118"}))).await;
    assert_eq!(status, 200, "{body}");
    let erased_at = body["version"].as_i64().unwrap();
    let (status, body) = send(&stack, erase(json!({"reason": "erasure request 118"}))).await;
    assert_eq!(
        (status, body["version"].as_i64()),
        (200, Some(erased_at)),
        "once"
    );

    let view = stack.user_in(user, "erased").await;
    assert_eq!(
        (view["email"].as_str(), view["name"].as_str()),
        (Some("[erased]"), Some("[erased]"))
    );
    assert_eq!(view["reserved_cents"], 2_500, "credit held stays held");
    // The stream still folds, every personal field reading as erased.
    let events = events_of(&stack, user).await;
    let events = events.as_array().unwrap();
    assert_eq!(events.last().unwrap()["event_type"], "UserErased");
    assert_eq!(events[0]["payload"]["email"], "[erased]");
    assert_eq!(events[0]["payload"]["name"], "[erased]");
    let (status, body) = send(
        &stack,
        stack
            .client
            .post(format!("{users}/users/{user}/name"))
            .json(&json!({"name": "Back"})),
    )
    .await;
    assert_eq!(
        (status, body["type"].as_str()),
        (410, Some("/problems/user-erased"))
    );

    // The rest goes on: the erased user's order can be cancelled and its credit released; the
    // email is free again; a rebuild of the read model shows the user erased.
    assert_eq!(stack.cancel(order).await, 200);
    stack.finished(order, "cancel-order").await;
    stack.reserved_becomes(user, 0).await;
    let (status, body) = send(
        &stack,
        stack.client.post(format!("{users}/users")).json(
            &json!({"email": second_email, "name": "New Owner", "credit_limit_cents": 5_000}),
        ),
    )
    .await;
    assert_eq!(
        status, 201,
        "the erased user's email registers again: {body}"
    );
    let again: Uuid = body["id"].as_str().unwrap().parse().unwrap();
    let other_order = stack.place(again, 1_000).await;
    stack.order_in(other_order, "APPROVED").await;
    // The export still answers, with nothing personal left in it.
    let (status, exported) = send(&stack, export()).await;
    assert_eq!(status, 200, "{exported}");
    assert_eq!(exported["user"]["state"]["status"], "erased");
    let text = exported.to_string();
    assert_eq!(
        found("the export", text.as_bytes(), &secrets),
        Vec::<String>::new()
    );
    assert_eq!(
        exported["orders"][0]["sagas"].as_array().map(Vec::len),
        Some(2)
    );
    rebuild_users(&stack).await;
    let view = stack.user_in(user, "erased").await;
    assert_eq!(view["email"], "[erased]");
    assert_eq!(
        stack.user_in(again, "active").await["email"],
        second_email.as_str()
    );

    // The byte search: every database, the broker's segments of both topics, the logs. The
    // new owner of the second email is in the Users data now, so only the first email and
    // both names are searched there.
    let gone = [
        first_email.as_str(),
        first_name.as_str(),
        second_name.as_str(),
    ];
    let mut leaks = Vec::new();
    for (name, pool) in [
        ("users_es", &stack.users_es),
        ("users_read", &stack.users_read),
        ("orders_es", &stack.orders_es),
        ("orders_read", &stack.orders_read),
        ("saga", &stack.saga_db),
    ] {
        leaks.extend(found(name, &pg_dump(pool).await, &gone));
    }
    let files = segments(&[&stack.users_topic, &stack.orders_topic]);
    assert!(
        files
            .iter()
            .any(|file| file.extension().is_some_and(|e| e == "log")),
        "the topics' log segments are found: {files:?}"
    );
    for file in &files {
        let bytes = std::fs::read(file).unwrap_or_default();
        leaks.extend(found(&file.display().to_string(), &bytes, &secrets));
    }
    leaks.extend(found("users-command's log", &command_log.bytes(), &gone));
    leaks.extend(found("users-query's log", &query_log.bytes(), &gone));
    assert!(!command_log.bytes().is_empty() && !query_log.bytes().is_empty());
    assert_eq!(leaks, Vec::<String>::new());
    stack.users_command.kill().await;
    stack.users_query.kill().await;
}
