//! orders-query end to end: commands through orders-command, the relay, Kafka and the
//! projector, read back with min_version; lists, the per-user summary (across transitions
//! and a rebuild), duplicated and reordered deliveries, and bad parameters.

mod common;

use common::{Stack, bucket};
use serde_json::{Value, json};
use test_support::service::assert_problem;
use uuid::Uuid;

#[tokio::test]
async fn placed_and_transitioned_orders_read_back_with_min_version() {
    let stack = Stack::start(true).await;
    let user = Uuid::now_v7();

    let approved = stack.place(user, 2, 1_250).await;
    let order = stack.order_at(approved, 1).await;
    assert_eq!(order["status"], "PENDING");
    assert_eq!(order["user_id"], user.to_string());
    assert_eq!(order["total_cents"], 2_500);
    assert_eq!(
        order["items"],
        json!([{ "sku": "SKU-1", "quantity": 2, "unit_price_cents": 1250 }])
    );
    assert_eq!(order["version"], 1);
    assert!(order["placed_at"].is_string() && order["approved_at"].is_null());

    let version = stack.transition(approved, "approve").await;
    let order = stack.order_at(approved, version).await;
    assert_eq!(order["status"], "APPROVED");
    assert!(order["approved_at"].is_string());
    let version = stack.transition(approved, "cancel").await;
    let order = stack.order_at(approved, version).await;
    assert_eq!(order["status"], "CANCELLED");
    assert_eq!(order["cancellation_reason"], "cancel in a test");
    assert!(order["cancelled_at"].is_string());
    assert_eq!(order["version"], 3);

    let rejected = stack.place(user, 1, 10).await;
    let version = stack.transition(rejected, "reject").await;
    let order = stack.order_at(rejected, version).await;
    assert_eq!(order["status"], "REJECTED");
    assert_eq!(order["rejection_reason"], "reject in a test");
    assert!(order["cancellation_reason"].is_null());
}

#[tokio::test]
async fn the_summary_stays_correct_across_transitions_and_a_rebuild() {
    let stack = Stack::start(true).await;
    let (user, other) = (Uuid::now_v7(), Uuid::now_v7());
    let pending = stack.place(user, 1, 100).await;
    let approved = stack.place(user, 2, 100).await;
    let rejected = stack.place(user, 3, 100).await;
    let cancelled_pending = stack.place(user, 4, 100).await;
    let cancelled_approved = stack.place(user, 5, 100).await;
    let others = stack.place(other, 1, 7).await;
    stack.transition(approved, "approve").await;
    stack.transition(rejected, "reject").await;
    stack.transition(cancelled_pending, "cancel").await;
    stack.transition(cancelled_approved, "approve").await;
    let last = stack.transition(cancelled_approved, "cancel").await;
    stack.order_at(cancelled_approved, last).await;
    stack.order_at(pending, 1).await;
    stack.order_at(others, 1).await;
    stack.caught_up().await;

    let expected = json!({
        "user_id": user,
        "by_status": {
            "PENDING": bucket(1, 100),
            "APPROVED": bucket(1, 200),
            "REJECTED": bucket(1, 300),
            "CANCELLED": bucket(2, 900),
        },
        "all": bucket(5, 1_500),
    });
    assert_eq!(stack.summary(user).await, expected);
    assert_eq!(stack.summary(other).await["all"], bucket(1, 7));
    let nobody = stack.summary(Uuid::now_v7()).await;
    assert_eq!(
        nobody["all"],
        bucket(0, 0),
        "a user without orders has zeros"
    );
    assert_eq!(nobody["by_status"]["PENDING"], bucket(0, 0));

    let live = stack.read_model().await;
    stack.rebuild().await;
    assert_eq!(stack.read_model().await, live, "rebuilt row for row");
    assert_eq!(
        stack.summary(user).await,
        expected,
        "the same summary after the rebuild"
    );

    // The rebuilt model keeps projecting.
    stack.transition(pending, "approve").await;
    stack.order_at(pending, 2).await;
    let summary = stack.summary(user).await;
    assert_eq!(summary["by_status"]["PENDING"], bucket(0, 0));
    assert_eq!(summary["by_status"]["APPROVED"], bucket(2, 300));
}

#[tokio::test]
async fn duplicated_and_reordered_deliveries_change_the_summary_once() {
    let stack = Stack::start(false).await;
    let user = Uuid::now_v7();
    let order = stack.place(user, 3, 50).await;
    stack.transition(order, "approve").await;
    stack.transition(order, "cancel").await;
    let envelopes: Vec<Vec<u8>> =
        sqlx::query_scalar("SELECT envelope FROM events WHERE aggregate_id = $1 ORDER BY sequence")
            .bind(order.to_string())
            .fetch_all(&stack.store)
            .await
            .unwrap();
    let records: Vec<(String, Vec<u8>)> = [1, 3, 2, 2, 1, 3, 2]
        .iter()
        .map(|s: &usize| (order.to_string(), envelopes[s - 1].clone()))
        .collect();
    test_support::produce_in_order(&test_support::kafka_brokers(), &stack.topic, &records).await;

    let read = stack.order_at(order, 3).await;
    assert_eq!(read["status"], "CANCELLED");
    let summary = stack.summary(user).await;
    assert_eq!(
        summary["by_status"],
        json!({
            "PENDING": bucket(0, 0),
            "APPROVED": bucket(0, 0),
            "REJECTED": bucket(0, 0),
            "CANCELLED": bucket(1, 150),
        }),
        "each transition moved the order between buckets exactly once"
    );
    let parked = stack
        .query
        .get("/admin/parked")
        .await
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(parked["items"], json!([]), "nothing parked");
}

#[tokio::test]
async fn lists_filter_and_page_newest_first() {
    let stack = Stack::start(true).await;
    let (user, other) = (Uuid::now_v7(), Uuid::now_v7());
    let mut mine = Vec::new();
    for i in 0..5 {
        mine.push(stack.place(user, 1, 10 + i).await);
    }
    let theirs = stack.place(other, 1, 1).await;
    let version = stack.transition(mine[1], "approve").await;
    stack.order_at(mine[1], version).await;
    stack.order_at(theirs, 1).await;
    stack.caught_up().await;

    let mut seen = Vec::new();
    let mut path = format!("/orders?user_id={user}&limit=2");
    loop {
        let page: Value = stack.query.get(&path).await.json().await.unwrap();
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 2);
        seen.extend(
            items
                .iter()
                .map(|o| o["id"].as_str().unwrap().parse::<Uuid>().unwrap()),
        );
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/orders?user_id={user}&limit=2&cursor={cursor}"),
            None => break,
        }
    }
    let newest_first: Vec<Uuid> = mine.iter().rev().copied().collect();
    assert_eq!(seen, newest_first, "every order once, newest first");

    let approved: Value = stack
        .query
        .get(&format!("/orders?user_id={user}&status=approved"))
        .await
        .json()
        .await
        .unwrap();
    let approved = approved["items"].as_array().unwrap();
    assert_eq!(approved.len(), 1);
    assert_eq!(approved[0]["id"], mine[1].to_string());
    let all: Value = stack
        .query
        .get("/orders?status=PENDING")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        all["items"].as_array().unwrap().len(),
        5,
        "4 of mine and 1 of theirs"
    );
}

#[tokio::test]
async fn bad_parameters_get_400_unknown_orders_404_and_unreached_versions_504() {
    let stack = Stack::start(false).await;
    let user = Uuid::now_v7();
    let order = stack.place(user, 1, 1).await;
    let bad = "/problems/bad-request";
    for (what, path) in [
        ("limit 0", "/orders?limit=0".to_owned()),
        ("limit not a number", "/orders?limit=ten".to_owned()),
        ("unknown status", "/orders?status=SHIPPED".to_owned()),
        ("foreign cursor", "/orders?cursor=xyz".to_owned()),
        ("user id not a UUID", "/orders?user_id=bob".to_owned()),
        ("unknown parameter", "/orders?colour=red".to_owned()),
        ("id not a UUID", "/orders/42".to_owned()),
        ("min_version 0", format!("/orders/{order}?min_version=0")),
        (
            "wait_ms without min_version",
            format!("/orders/{order}?wait_ms=5"),
        ),
        (
            "wait_ms too long",
            format!("/orders/{order}?min_version=1&wait_ms=10001"),
        ),
        (
            "unknown get parameter",
            format!("/orders/{order}?fields=all"),
        ),
        (
            "summary of a non-UUID",
            "/users/bob/order-summary".to_owned(),
        ),
    ] {
        let response = stack.query.get(&path).await;
        assert_eq!(response.status(), 400, "{what}");
        assert_problem(response, 400, bad).await;
    }
    let unknown = stack
        .query
        .get(&format!("/orders/{}", Uuid::now_v7()))
        .await;
    assert_problem(unknown, 404, "/problems/order-not-found").await;
    // Without a relay the order never reaches the read model.
    let unreached = stack
        .query
        .get(&format!("/orders/{order}?min_version=1&wait_ms=300"))
        .await;
    let problem = assert_problem(unreached, 504, "/problems/version-not-reached").await;
    assert_eq!(problem["current_version"], 0);
}

#[test]
fn help_prints_the_kits_text_with_every_setting_at_the_orders_defaults() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_orders-query"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(output.status.success());
    let help = String::from_utf8(output.stdout).unwrap();
    assert_eq!(help, orders_query::Settings::help() + "\n");
    assert!(help.contains("  ORDERS_QUERY__DATABASE__DATABASE_NAME=orders_read"));
}
