//! Who may do what on orders-command: every operation refuses a missing or bad token; a
//! customer places and cancels their own orders only (another's order or user is a 404) and
//! never approves or rejects; the saga (service) and operators decide. A refused request
//! writes nothing.

mod common;

use common::TestApp;
use serde_json::json;
use service_kit::auth::Role;
use test_support::auth::client_as;
use test_support::service::assert_problem;
use uuid::Uuid;

fn order_for(user: Uuid) -> serde_json::Value {
    json!({"user_id": user, "items": [{"sku": "A", "quantity": 1, "unit_price_cents": 100}]})
}

#[tokio::test]
async fn every_operation_refuses_a_missing_or_bad_token() {
    let app = TestApp::spawn().await;
    let checked =
        test_support::service::every_operation_refuses_missing_and_bad_tokens(&app.address).await;
    assert!(checked >= 5, "{checked} operations");
    assert_eq!(app.counts().await.events, 0, "nothing written");
}

#[tokio::test]
async fn customers_place_and_cancel_their_own_orders_and_only_the_saga_or_operators_decide() {
    let app = TestApp::spawn().await;
    let (me, someone) = (Uuid::now_v7(), Uuid::now_v7());
    let customer = client_as(&me.to_string(), Role::Customer);
    let saga = client_as("saga-orchestrator", Role::Service);
    let mine = app.place(me).await;
    let theirs = app.place(someone).await;
    let url = |path: String| app.url(&path);
    let before = app.counts().await;
    let refused = [
        (
            &customer,
            format!("/orders/{theirs}/cancel"),
            json!({"reason": "x"}),
            404,
            "/problems/order-not-found",
        ),
        (
            &customer,
            format!("/orders/{mine}/approve"),
            json!({}),
            403,
            "/problems/forbidden",
        ),
        (
            &customer,
            format!("/orders/{mine}/reject"),
            json!({"reason": "x"}),
            403,
            "/problems/forbidden",
        ),
        (
            &customer,
            "/orders".to_owned(),
            order_for(someone),
            404,
            "/problems/user-not-found",
        ),
        (
            &saga,
            "/orders".to_owned(),
            order_for(me),
            403,
            "/problems/forbidden",
        ),
    ];
    for (client, path, body, status, kind) in refused {
        let response = client
            .post(url(path.clone()))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_problem(response, status, kind).await;
    }
    let events = customer
        .get(url(format!("/orders/{theirs}/events")))
        .send()
        .await
        .unwrap();
    assert_problem(events, 404, "/problems/order-not-found").await;
    assert_eq!(
        app.counts().await,
        before,
        "no refused request wrote anything"
    );

    let placed = customer
        .post(url("/orders".into()))
        .json(&order_for(me))
        .send()
        .await
        .unwrap();
    assert_eq!(placed.status(), 202);
    let approved = saga
        .post(url(format!("/orders/{mine}/approve")))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(approved.status(), 200);
    let cancelled = customer
        .post(url(format!("/orders/{mine}/cancel")))
        .json(&json!({"reason": "changed my mind"}))
        .send()
        .await
        .unwrap();
    assert_eq!(cancelled.status(), 200);
}
