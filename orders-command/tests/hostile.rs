//! Every orders-command operation under hostile input (see `test_support::hostile`): only
//! documented answers, never a 5xx, and a refused request writes nothing.

mod common;

use common::{TestApp, place_body};
use serde_json::json;
use test_support::hostile::{Suite, database_digest};
use uuid::Uuid;

#[tokio::test]
async fn every_operation_answers_hostile_input_as_documented_and_refusals_write_nothing() {
    let app = TestApp::spawn().await;
    let user = Uuid::now_v7();
    let [approved, rejected, cancelled] = [
        app.place(user).await,
        app.place(user).await,
        app.place(user).await,
    ];
    let admin = &app.client;
    let report = Suite::new(&app.address)
        .operation("POST /orders", admin, "/orders", Some(place_body(user)))
        .operation(
            "POST /orders/{id}/approve",
            admin,
            format!("/orders/{approved}/approve"),
            None,
        )
        .operation(
            "POST /orders/{id}/reject",
            admin,
            format!("/orders/{rejected}/reject"),
            Some(json!({"reason": "out of stock"})),
        )
        .operation(
            "POST /orders/{id}/cancel",
            admin,
            format!("/orders/{cancelled}/cancel"),
            Some(json!({"reason": "changed my mind"})),
        )
        .operation(
            "GET /orders/{id}/events",
            admin,
            format!("/orders/{approved}/events"),
            None,
        )
        .operation(
            "GET /admin/correlations/{id}",
            admin,
            "/admin/correlations/01936f3e-0000-7000-8000-000000000001",
            None,
        )
        .run(|| database_digest(&app.pool, &[]))
        .await;
    assert_eq!(report.operations, 6, "{report:?}");
    assert!(report.requests > 400, "{report:?}");
    assert!(report.accepted > 0, "{report:?}");
    // Hostile skus that are valid after all (no whitespace) are kept verbatim.
    let placed: Vec<String> =
        sqlx::query_scalar("SELECT payload::text FROM events WHERE event_type = 'OrderPlaced'")
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert!(
        placed
            .iter()
            .any(|payload| payload.contains("${jndi:ldap://127.0.0.1/a}")),
        "the format-string sku is stored as sent"
    );
    assert!(
        placed
            .iter()
            .any(|payload| payload.contains("<script>alert(1)</script>")),
        "the markup sku is stored as sent"
    );
}
