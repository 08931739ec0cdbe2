//! The read services under hostile input (see `test_support::hostile`): users-query,
//! orders-query and saga-orchestrator, on the whole stack with a user, an approved order and
//! its saga to read. Only documented answers, never a 5xx, and nothing written.

use test_support::hostile::{Suite, database_digest};
use test_support::stack::Stack;

#[tokio::test]
async fn the_read_services_answer_hostile_input_as_documented_and_write_nothing() {
    let stack = Stack::start(30_000).await;
    let user = stack.register("hostile", 10_000).await;
    let order = stack.place(user, 2_500).await;
    let saga = stack.finished(order, "place-order").await;
    assert_eq!(saga["state"], "APPROVED");
    stack.order_in(order, "APPROVED").await;
    stack.reserved_becomes(user, 2_500).await;
    let saga = saga["id"].as_str().unwrap().to_owned();
    let admin = &stack.client;

    let users = Suite::new(&stack.users_query.address)
        .operation("GET /users/{id}", admin, format!("/users/{user}"), None)
        .operation("GET /users", admin, "/users", None)
        .admin_operations(admin, true)
        .run(|| database_digest(&stack.users_read, &[]))
        .await;
    assert_eq!(users.operations, 8, "{users:?}");

    let orders = Suite::new(&stack.orders_query.address)
        .operation("GET /orders/{id}", admin, format!("/orders/{order}"), None)
        .operation("GET /orders", admin, "/orders", None)
        .operation(
            "GET /users/{user_id}/order-summary",
            admin,
            format!("/users/{user}/order-summary"),
            None,
        )
        .admin_operations(admin, true)
        .run(|| database_digest(&stack.orders_read, &[]))
        .await;
    assert_eq!(orders.operations, 9, "{orders:?}");

    let sagas = Suite::new(&stack.saga.address)
        .operation("GET /sagas/{id}", admin, format!("/sagas/{saga}"), None)
        .operation("GET /sagas", admin, "/sagas", None)
        // The saga is APPROVED, so even a well-formed intervention is refused (409).
        .operation(
            "POST /sagas/{id}/retry",
            admin,
            format!("/sagas/{saga}/retry"),
            Some(serde_json::json!({ "reason": "a hostile test" })),
        )
        .operation(
            "POST /sagas/{id}/resolve",
            admin,
            format!("/sagas/{saga}/resolve"),
            Some(serde_json::json!({ "reason": "a hostile test" })),
        )
        .admin_operations(admin, false)
        .run(|| database_digest(&stack.saga_db, &[]))
        .await;
    assert_eq!(sagas.operations, 9, "{sagas:?}");

    for report in [&users, &orders, &sagas] {
        assert!(report.requests > 150, "{report:?}");
        assert!(
            report.accepted > 0,
            "valid filters still answer: {report:?}"
        );
    }
}
