//! esctl against the whole running system (the five services as processes on the real
//! Postgres and broker): projection status, parked events listed, shown, retried and skipped
//! (who and why recorded), a rebuild from the CLI that equals the live model, sagas listed and
//! shown with their steps; and the errors an operator meets (no token, unknown ids, a service
//! that is down).

mod common;

use std::process::Output;

use common::{esctl, failure, json, json_lines, stdout};
use serde_json::{Value, json};
use service_kit::auth::Role;
use sqlx::PgPool;
use test_support::eventually;
use test_support::stack::{SETTLE, Stack};
use uuid::Uuid;

struct Operator {
    env: Vec<(&'static str, String)>,
}

impl Operator {
    fn new(stack: &Stack) -> Self {
        Self {
            env: vec![
                ("ESCTL_USERS_QUERY_URL", stack.users_query.address.clone()),
                ("ESCTL_ORDERS_QUERY_URL", stack.orders_query.address.clone()),
                ("ESCTL_SAGA_URL", stack.saga.address.clone()),
                ("ESCTL_TOKEN", test_support::auth::token("ops", Role::Admin)),
            ],
        }
    }

    fn without_token(&self) -> Self {
        Self {
            env: self
                .env
                .iter()
                .filter(|(name, _)| *name != "ESCTL_TOKEN")
                .cloned()
                .collect(),
        }
    }

    async fn run(&self, args: &[&str]) -> Output {
        let env: Vec<(&str, &str)> = self.env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        esctl(&env, args).await
    }

    /// `esctl parked list <projection> --json`.
    async fn parked(&self, projection: &str) -> Vec<Value> {
        json_lines(&self.run(&["parked", "list", projection, "--json"]).await)
    }

    /// `esctl projections status --json`, by projection name.
    async fn status(&self, projection: &str) -> Value {
        let all = json(&self.run(&["projections", "status", "--json"]).await);
        all.as_array()
            .expect("an array")
            .iter()
            .find(|status| status["name"] == projection)
            .cloned()
            .unwrap_or_else(|| panic!("no status of {projection}: {all}"))
    }
}

async fn rename(stack: &Stack, user: Uuid, name: &str) {
    let response = stack
        .client
        .post(format!("{}/users/{user}/name", stack.users_command.address))
        .json(&json!({ "name": name }))
        .send()
        .await
        .expect("rename sent");
    assert_eq!(response.status(), 200, "{:?}", response.text().await);
}

async fn poison(stack: &Stack, key: Uuid, text: &str) {
    test_support::produce_in_order(
        &test_support::kafka_brokers(),
        &stack.users_topic,
        &[(key.to_string(), text.as_bytes().to_vec())],
    )
    .await;
}

/// Count and md5 of a table's rows.
async fn digest(pool: &PgPool, table: &str) -> String {
    sqlx::query_scalar(&format!(
        "SELECT count(*)::text || ':' || coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), '') FROM {table} t"
    ))
    .fetch_one(pool)
    .await
    .expect("table digested")
}

async fn user_view(stack: &Stack, user: Uuid) -> Value {
    stack
        .get(&stack.users_query.address, &format!("/users/{user}"))
        .await
        .json()
        .await
        .expect("a user view")
}

#[tokio::test]
async fn projections_parked_events_rebuilds_and_sagas_through_the_cli() {
    let stack = Stack::start(30_000).await;
    let operator = Operator::new(&stack);
    let customer = stack.register("ops", 10_000).await;
    let order = stack.place(customer, 2_500).await;
    let saga = stack.finished(order, "place-order").await;
    assert_eq!(saga["state"], "APPROVED");
    stack.reserved_becomes(customer, 2_500).await;

    // Status: every projection caught up with its store.
    let caught_up = eventually(SETTLE, "every projection to catch up", || async {
        let all = json(&operator.run(&["projections", "status", "--json"]).await);
        let all = all.as_array().cloned()?;
        (all.len() == 3 && all.iter().all(|s| s["lag_events"] == 0)).then_some(all)
    })
    .await;
    for status in &caught_up {
        assert!(status["stored_events"].as_i64().unwrap() >= 2, "{status}");
        assert_eq!(status["applied_events"], status["stored_events"]);
        assert_eq!(status["lag_seconds"], 0.0);
        assert_eq!(status["parked"], 0);
    }
    let table = stdout(&operator.run(&["projections", "status"]).await);
    assert!(table.starts_with("PROJECTION"), "{table}");
    for name in ["users-query", "orders-query", "saga-orchestrator"] {
        assert!(table.contains(name), "{table}");
    }

    // A message that is no envelope blocks its user; the rename behind it is held.
    let blocked = stack.register("blocked", 1_000).await;
    eventually(SETTLE, "the user in the read model", || async {
        (user_view(&stack, blocked).await["version"] == 1).then_some(())
    })
    .await;
    poison(&stack, blocked, "garbage from a broken producer").await;
    rename(&stack, blocked, "Renamed Behind Poison").await;
    let parked = eventually(SETTLE, "the poison and the held rename", || async {
        let parked = operator.parked("users").await;
        (parked.len() == 2).then_some(parked)
    })
    .await;
    let (poison_id, held_id) = (parked[0]["id"].to_string(), parked[1]["id"].to_string());
    assert!(parked[0]["sequence"].is_null());
    assert_eq!(parked[1]["sequence"], 2);
    let behind = operator.status("users").await;
    assert_eq!(behind["parked"], 2, "{behind}");
    assert_eq!(
        behind["lag_events"], 1,
        "the rename is not visible: {behind}"
    );
    assert!(behind["lag_seconds"].as_f64().unwrap() > 0.0, "{behind}");

    let shown = json(&operator.run(&["parked", "show", "users", &poison_id]).await);
    assert!(
        shown["message"]["error"]
            .as_str()
            .unwrap()
            .starts_with("not an EventEnvelope"),
        "{shown}"
    );
    assert_eq!(
        shown["message"]["raw_text"],
        "garbage from a broken producer"
    );
    let held = json(&operator.run(&["parked", "show", "users", &held_id]).await);
    assert_eq!(
        held["message"]["envelope"]["event_type"], "UserRenamed",
        "{held}"
    );

    // A retry cannot help garbage, and says so.
    let retried = json(
        &operator
            .run(&["parked", "retry", "users", &poison_id, "--json"])
            .await,
    );
    assert_eq!(retried["applied"], 0, "{retried}");
    assert_eq!(retried["still_parked"], 2);
    assert_eq!(user_view(&stack, blocked).await["version"], 1);

    // Skipping it needs a reason, records who and why, and lets the rename through.
    let no_reason = operator
        .run(&["parked", "skip", "users", &poison_id, "--reason", " "])
        .await;
    let (code, stderr) = failure(&no_reason);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("reason"), "{stderr}");
    let skipped = stdout(
        &operator
            .run(&[
                "parked",
                "skip",
                "users",
                &poison_id,
                "--reason",
                "garbage from a test producer",
            ])
            .await,
    );
    assert!(skipped.contains("applied 1"), "{skipped}");
    let view = user_view(&stack, blocked).await;
    assert_eq!(view["name"], "Renamed Behind Poison");
    assert_eq!(view["version"], 2);
    let given_up = json_lines(
        &operator
            .run(&["parked", "list", "--status", "skipped", "--json"])
            .await,
    );
    assert_eq!(given_up.len(), 1, "{given_up:?}");
    assert_eq!(given_up[0]["projection"], "users");
    assert_eq!(given_up[0]["resolved_by"], "admin:ops");
    assert_eq!(given_up[0]["resolution"], "garbage from a test producer");
    assert!(
        json_lines(
            &operator
                .run(&["parked", "list", "--status", "parked", "--json"])
                .await
        )
        .is_empty()
    );

    // Poison before two renames: the later one cannot be skipped first; once the operator
    // repairs the message, a retry applies everything in order.
    let repaired = stack.register("repaired", 1_000).await;
    eventually(SETTLE, "the user in the read model", || async {
        (user_view(&stack, repaired).await["version"] == 1).then_some(())
    })
    .await;
    poison(&stack, repaired, "\u{0}\u{1}truncated").await;
    rename(&stack, repaired, "Second").await;
    rename(&stack, repaired, "Third").await;
    let parked = eventually(SETTLE, "the poison and two held renames", || async {
        let parked = operator.parked("users").await;
        let waiting: Vec<Value> = parked
            .into_iter()
            .filter(|p| p["status"] == "parked")
            .collect();
        (waiting.len() == 3).then_some(waiting)
    })
    .await;
    assert_eq!(parked[2]["sequence"], 3);
    let out_of_order = operator
        .run(&[
            "parked",
            "skip",
            "users",
            &parked[2]["id"].to_string(),
            "--reason",
            "not next",
        ])
        .await;
    let (code, stderr) = failure(&out_of_order);
    assert_eq!(code, 6, "{stderr}");
    assert!(stderr.contains("waits for 2"), "{stderr}");
    let envelope: Vec<u8> =
        sqlx::query_scalar("SELECT envelope FROM events WHERE aggregate_id = $1 AND sequence = 2")
            .bind(repaired.to_string())
            .fetch_one(&stack.users_es)
            .await
            .unwrap();
    sqlx::query("UPDATE users_view.parked_events SET payload = $1 WHERE id = $2")
        .bind(envelope)
        .bind(parked[0]["id"].as_i64().unwrap())
        .execute(&stack.users_read)
        .await
        .unwrap();
    let retried = json(
        &operator
            .run(&[
                "parked",
                "retry",
                "users",
                &parked[0]["id"].to_string(),
                "--json",
            ])
            .await,
    );
    assert_eq!(retried["applied"], 2, "{retried}");
    assert_eq!(
        retried["duplicates"], 1,
        "the repaired copy of 2 and 2 itself"
    );
    assert_eq!(retried["still_parked"], 0);
    assert_eq!(user_view(&stack, repaired).await["name"], "Third");

    // A rebuild from the CLI equals the live model.
    eventually(SETTLE, "the users projection to catch up", || async {
        (operator.status("users").await["lag_events"] == 0).then_some(())
    })
    .await;
    let live = digest(&stack.users_read, "users_view.users").await;
    let rebuilt = operator.run(&["projections", "rebuild", "users"]).await;
    let out = stdout(&rebuilt);
    assert!(out.contains("rebuilt users"), "{out}");
    let progress = String::from_utf8_lossy(&rebuilt.stderr);
    assert!(
        progress.contains("rebuilt "),
        "plain progress lines: {progress}"
    );
    assert_eq!(digest(&stack.users_read, "users_view.users").await, live);
    assert_eq!(user_view(&stack, repaired).await["name"], "Third");
    let orders_live = (
        digest(&stack.orders_read, "orders_view.orders").await,
        digest(&stack.orders_read, "orders_view.order_summaries").await,
    );
    let rebuilt = json(
        &operator
            .run(&["projections", "rebuild", "orders", "--json"])
            .await,
    );
    assert_eq!(rebuilt["state"], "succeeded", "{rebuilt}");
    assert_eq!(
        (
            digest(&stack.orders_read, "orders_view.orders").await,
            digest(&stack.orders_read, "orders_view.order_summaries").await,
        ),
        orders_live
    );
    let (code, stderr) = failure(&operator.run(&["projections", "rebuild", "sagas"]).await);
    assert_eq!(code, 2, "{stderr}");

    // Sagas: listed with filters, shown with their steps.
    let listed = json_lines(&operator.run(&["sagas", "list", "--json"]).await);
    assert!(listed.iter().any(|s| s["id"] == saga["id"]), "{listed:?}");
    let approved = json_lines(
        &operator
            .run(&["sagas", "list", "--state", "approved", "--json"])
            .await,
    );
    assert_eq!(approved.len(), 1);
    assert_eq!(approved[0]["order_id"], order.to_string());
    assert!(
        json_lines(
            &operator
                .run(&["sagas", "list", "--state", "FAILED", "--json"])
                .await
        )
        .is_empty()
    );
    let id = saga["id"].as_str().unwrap();
    let shown = stdout(&operator.run(&["sagas", "show", id]).await);
    for expected in ["APPROVED", "reserve-credit", "approve-order", "succeeded"] {
        assert!(shown.contains(expected), "{expected}: {shown}");
    }
    let steps = json(&operator.run(&["sagas", "show", id, "--json"]).await);
    assert_eq!(steps["steps"].as_array().unwrap().len(), 2, "{steps}");

    // What an operator gets wrong.
    let unknown = Uuid::now_v7().to_string();
    let cases: [(&[&str], i32, &str); 7] = [
        (&["sagas", "show", &unknown], 3, "404"),
        (
            &["sagas", "retry", id, "--reason", "try again"],
            6,
            "only a FAILED saga",
        ),
        (
            &["sagas", "resolve", &unknown, "--reason", "settled by hand"],
            3,
            "404",
        ),
        (&["sagas", "show", "not-a-uuid"], 2, "not a saga id"),
        (
            &["sagas", "list", "--state", "DONE"],
            1,
            "state must be one of",
        ),
        (&["parked", "show", "users", "999999"], 3, "no parked event"),
        (
            &["parked", "retry", "orders", "999999"],
            3,
            "no parked event",
        ),
    ];
    for (args, expected, message) in cases {
        let (code, stderr) = failure(&operator.run(args).await);
        assert_eq!(code, expected, "{args:?}: {stderr}");
        assert!(stderr.contains(message), "{args:?}: {stderr}");
    }
    let (code, stderr) = failure(
        &operator
            .without_token()
            .run(&["parked", "list", "users"])
            .await,
    );
    assert_eq!(code, 5, "{stderr}");
    assert!(stderr.contains("ESCTL_TOKEN"), "{stderr}");
    let mut customer_env = Operator::new(&stack);
    customer_env.env[3].1 = test_support::auth::token(&customer.to_string(), Role::Customer);
    let (code, stderr) = failure(&customer_env.run(&["sagas", "list"]).await);
    assert_eq!(code, 5, "{stderr}");
    assert!(stderr.contains("403"), "{stderr}");
}

#[tokio::test]
async fn a_service_that_is_down_is_reported_with_exit_code_4_after_the_others() {
    let mut stack = Stack::start(30_000).await;
    stack.orders_query.kill().await;
    let operator = Operator::new(&stack);
    let output = operator.run(&["projections", "status"]).await;
    assert_eq!(output.status.code(), Some(4));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!(
            "cannot reach orders-query at {}",
            stack.orders_query.address
        )),
        "{stderr}"
    );
    let table = String::from_utf8_lossy(&output.stdout);
    assert!(
        table.contains("users-query"),
        "the others are shown: {table}"
    );
    assert!(table.contains("saga-orchestrator"), "{table}");
    let (code, stderr) = failure(&operator.run(&["projections", "rebuild", "orders"]).await);
    assert_eq!(code, 4, "{stderr}");
}
