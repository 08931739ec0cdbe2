//! Who may read what on orders-query: every operation refuses a missing or bad token; a
//! customer reads their own orders and summary only (another's is a 404, as if absent) and
//! lists only their own; `/admin` is for operators.

mod common;

use common::Stack;
use serde_json::Value;
use service_kit::auth::Role;
use test_support::auth::client_as;
use test_support::service::assert_problem;
use uuid::Uuid;

#[tokio::test]
async fn every_operation_refuses_a_missing_or_bad_token() {
    let stack = Stack::start(false).await;
    let checked =
        test_support::service::every_operation_refuses_missing_and_bad_tokens(&stack.query.address)
            .await;
    assert!(checked >= 7, "{checked} operations");
}

#[tokio::test]
async fn customers_read_their_own_orders_only() {
    let stack = Stack::start(true).await;
    let (me, someone) = (Uuid::now_v7(), Uuid::now_v7());
    let mine = stack.place(me, 1, 100).await;
    let theirs = stack.place(someone, 2, 100).await;
    stack.order_at(mine, 1).await;
    stack.order_at(theirs, 1).await;
    let customer = client_as(&me.to_string(), Role::Customer);
    let get = |path: String| customer.get(stack.query.url(&path)).send();

    let own: Value = get(format!("/orders/{mine}"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(own["id"], mine.to_string());
    assert_problem(
        get(format!("/orders/{theirs}")).await.unwrap(),
        404,
        "/problems/order-not-found",
    )
    .await;
    assert_problem(
        get(format!("/users/{someone}/order-summary"))
            .await
            .unwrap(),
        404,
        "/problems/user-not-found",
    )
    .await;
    let listed: Value = get("/orders".into()).await.unwrap().json().await.unwrap();
    let ids: Vec<&str> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|order| order["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [mine.to_string()], "only their own orders");
    let asked_for_another: Value = get(format!("/orders?user_id={someone}"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(asked_for_another["items"].as_array().unwrap().len(), 0);
    assert_problem(
        get("/admin/parked".into()).await.unwrap(),
        403,
        "/problems/forbidden",
    )
    .await;
}
