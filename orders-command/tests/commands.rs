//! orders-command over HTTP against the real Postgres: placing, every transition, the state
//! machine's refusals, idempotency keys on Order commands, invariant 1 and every kind of bad
//! input. The command bus's own rules (a refused command records no key, racing repeats,
//! version checks) are tested with an aggregate of its own in crates/event-store/tests; If-Match
//! and Idempotency-Key parsing in crates/command-kit/tests/http.rs.

mod common;

use common::{TestApp, place_body};
use reqwest::Method;
use serde_json::{Value, json};
use test_support::service::{assert_problem, bad};
use uuid::Uuid;

async fn body(response: reqwest::Response) -> Value {
    response.json().await.expect("json body")
}

#[tokio::test]
async fn placing_answers_202_pending_with_location_and_records_the_order() {
    let app = TestApp::spawn().await;
    let user = Uuid::now_v7();
    let response = app
        .post_with(
            "/orders",
            &[("X-Correlation-Id", "corr-orders")],
            place_body(user),
        )
        .await;
    assert_eq!(response.status(), 202);
    assert_eq!(response.headers()["etag"], "\"1\"");
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let placed = body(response).await;
    let id = placed["id"].as_str().unwrap();
    assert_eq!(placed["version"], 1);
    assert_eq!(placed["status"], "PENDING");
    assert_eq!(location, format!("/orders/{id}"));
    assert_eq!(Uuid::parse_str(id).unwrap().get_version_num(), 7);

    let stream = body(app.get(&format!("/orders/{id}/events")).await).await;
    let events = stream["events"].as_array().unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["event_type"], "OrderPlaced");
    assert_eq!(events[0]["payload"]["total_cents"], 3_097);
    assert_eq!(events[0]["payload"]["user_id"], user.to_string());
    assert_eq!(events[0]["metadata"]["correlation_id"], "corr-orders");
    let counts = app.counts().await;
    assert_eq!(
        (counts.events, counts.outbox),
        (1, 1),
        "event and outbox row"
    );
}

#[tokio::test]
async fn every_legal_transition_appends_its_event() {
    let app = TestApp::spawn().await;
    let user = Uuid::now_v7();

    let approved = app.place(user).await;
    let response = app
        .post(&format!("/orders/{approved}/approve"), json!({}))
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        body(response).await,
        json!({ "id": approved, "version": 2, "status": "APPROVED" })
    );
    let response = app
        .post(
            &format!("/orders/{approved}/cancel"),
            json!({ "reason": "changed my mind" }),
        )
        .await;
    assert_eq!(body(response).await["status"], "CANCELLED");

    let rejected = app.place(user).await;
    let response = app
        .post(
            &format!("/orders/{rejected}/reject"),
            json!({ "reason": "insufficient credit" }),
        )
        .await;
    assert_eq!(
        body(response).await,
        json!({ "id": rejected, "version": 2, "status": "REJECTED" })
    );

    let cancelled = app.place(user).await;
    let response = app
        .post(
            &format!("/orders/{cancelled}/cancel"),
            json!({ "reason": "oops" }),
        )
        .await;
    assert_eq!(body(response).await["version"], 2);

    let types = |id: Uuid| {
        let app = &app;
        async move {
            let stream = body(app.get(&format!("/orders/{id}/events")).await).await;
            stream["events"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["event_type"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        types(approved).await,
        ["OrderPlaced", "OrderApproved", "OrderCancelled"]
    );
    assert_eq!(types(rejected).await, ["OrderPlaced", "OrderRejected"]);
    assert_eq!(types(cancelled).await, ["OrderPlaced", "OrderCancelled"]);
    let stream = body(app.get(&format!("/orders/{approved}/events")).await).await;
    assert_eq!(
        stream["events"][2]["payload"]["previous_status"], "APPROVED",
        "the cancellation says what it cancelled"
    );
}

#[tokio::test]
async fn illegal_transitions_get_409_naming_the_current_state_and_write_nothing() {
    let app = TestApp::spawn().await;
    let user = Uuid::now_v7();
    let approved = app.place(user).await;
    app.post(&format!("/orders/{approved}/approve"), json!({}))
        .await;
    let rejected = app.place(user).await;
    app.post(
        &format!("/orders/{rejected}/reject"),
        json!({ "reason": "no" }),
    )
    .await;
    let cancelled = app.place(user).await;
    app.post(
        &format!("/orders/{cancelled}/cancel"),
        json!({ "reason": "no" }),
    )
    .await;
    let before = app.counts().await;

    let cases = [
        (approved, "approve", "APPROVED"),
        (approved, "reject", "APPROVED"),
        (rejected, "approve", "REJECTED"),
        (rejected, "reject", "REJECTED"),
        (rejected, "cancel", "REJECTED"),
        (cancelled, "approve", "CANCELLED"),
        (cancelled, "reject", "CANCELLED"),
        (cancelled, "cancel", "CANCELLED"),
    ];
    for (id, transition, current) in cases {
        let response = app
            .post(
                &format!("/orders/{id}/{transition}"),
                json!({ "reason": "again" }),
            )
            .await;
        let problem = assert_problem(response, 409, "/problems/illegal-transition").await;
        assert_eq!(
            problem["current_status"], current,
            "{transition} on {current}"
        );
        assert_eq!(problem["transition"], transition);
        assert_eq!(
            problem["detail"],
            format!("cannot {transition} an order that is {current}")
        );
    }
    let unknown = Uuid::now_v7();
    for transition in ["approve", "reject", "cancel"] {
        let response = app
            .post(
                &format!("/orders/{unknown}/{transition}"),
                json!({ "reason": "x" }),
            )
            .await;
        assert_problem(response, 404, "/problems/order-not-found").await;
    }
    assert_eq!(
        app.counts().await,
        before,
        "no refused transition wrote anything"
    );
}

#[tokio::test]
async fn a_repeated_transition_with_the_same_idempotency_key_answers_the_first_outcome() {
    let app = TestApp::spawn().await;
    let id = app.place(Uuid::now_v7()).await;
    let key = [("Idempotency-Key", "approve-1")];
    let first = app
        .post_with(&format!("/orders/{id}/approve"), &key, json!({}))
        .await;
    assert_eq!(first.status(), 200);
    assert!(first.headers().get("idempotent-replayed").is_none());
    let first = body(first).await;

    // The order moves on; the repeat still answers what the key first did.
    app.post(
        &format!("/orders/{id}/cancel"),
        json!({ "reason": "later" }),
    )
    .await;
    let before = app.counts().await;
    for _ in 0..3 {
        let repeat = app
            .post_with(&format!("/orders/{id}/approve"), &key, json!({}))
            .await;
        assert_eq!(repeat.status(), 200);
        assert_eq!(repeat.headers()["idempotent-replayed"], "true");
        assert_eq!(repeat.headers()["etag"], "\"2\"");
        assert_eq!(body(repeat).await, first);
    }
    assert_eq!(app.counts().await, before, "repeats wrote nothing");

    // Without the key, approving a cancelled order is the state machine's 409.
    let again = app.post(&format!("/orders/{id}/approve"), json!({})).await;
    assert_problem(again, 409, "/problems/illegal-transition").await;

    // The same key for another request is refused, whatever the target.
    let other = app.place(Uuid::now_v7()).await;
    let reused = app
        .post_with(&format!("/orders/{other}/approve"), &key, json!({}))
        .await;
    assert_problem(reused, 422, "/problems/idempotency-key-reused").await;
    let reused = app
        .post_with(
            &format!("/orders/{id}/reject"),
            &key,
            json!({ "reason": "x" }),
        )
        .await;
    assert_problem(reused, 422, "/problems/idempotency-key-reused").await;
    let stored: Vec<(String, i64)> =
        sqlx::query_as("SELECT idempotency_key, version FROM idempotency_keys")
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert_eq!(stored, [("approve-1".to_owned(), 2)]);
}

#[tokio::test]
async fn placing_with_an_idempotency_key_creates_one_order_even_when_repeated_concurrently() {
    let app = TestApp::spawn().await;
    let user = Uuid::now_v7();
    let answers = futures::future::join_all((0..8).map(|_| {
        let app = &app;
        async move {
            let response = app
                .post_with(
                    "/orders",
                    &[("Idempotency-Key", "place-once")],
                    place_body(user),
                )
                .await;
            assert_eq!(response.status(), 202);
            let location = response.headers()["location"].to_str().unwrap().to_owned();
            (body(response).await, location)
        }
    }))
    .await;
    let ids: std::collections::HashSet<String> = answers
        .iter()
        .map(|(body, _)| body["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        ids.len(),
        1,
        "every repeat names the same order: {answers:?}"
    );
    let id = ids.into_iter().next().unwrap();
    assert!(
        answers
            .iter()
            .all(|(_, location)| *location == format!("/orders/{id}"))
    );
    let counts = app.counts().await;
    assert_eq!(
        (counts.events, counts.outbox, counts.idempotency_keys),
        (1, 1, 1)
    );

    let other_body = app
        .post_with(
            "/orders",
            &[("Idempotency-Key", "place-once")],
            place_body(Uuid::now_v7()),
        )
        .await;
    assert_problem(other_body, 422, "/problems/idempotency-key-reused").await;
}

#[tokio::test]
async fn bad_input_gets_the_right_problem_and_writes_nothing() {
    let app = TestApp::spawn().await;
    let id = app.place(Uuid::now_v7()).await;
    let user = Uuid::now_v7();
    let before = app.counts().await;
    let item = |sku: Value, quantity: Value, price: Value| json!({ "user_id": user, "items": [{ "sku": sku, "quantity": quantity, "unit_price_cents": price }] });
    let many = |n: usize| {
        let items: Vec<Value> = (0..n)
            .map(|i| json!({ "sku": format!("S{i}"), "quantity": 1, "unit_price_cents": 1 }))
            .collect();
        json!({ "user_id": user, "items": items })
    };
    let (approve, reject, cancel) = (
        format!("/orders/{id}/approve"),
        format!("/orders/{id}/reject"),
        format!("/orders/{id}/cancel"),
    );
    let validation = "/problems/validation";
    let bad_request = "/problems/bad-request";
    let cases = [
        bad(
            "no items",
            "/orders",
            json!({ "user_id": user, "items": [] }),
            422,
            validation,
        )
        .field("items", "required"),
        bad("101 items", "/orders", many(101), 422, validation).field("items", "too_many"),
        bad(
            "zero quantity",
            "/orders",
            item(json!("A"), json!(0), json!(1)),
            422,
            validation,
        )
        .field("items[0].quantity", "out_of_range"),
        bad(
            "quantity 1001",
            "/orders",
            item(json!("A"), json!(1001), json!(1)),
            422,
            validation,
        )
        .field("items[0].quantity", "out_of_range"),
        bad(
            "negative price",
            "/orders",
            item(json!("A"), json!(1), json!(-1)),
            422,
            validation,
        )
        .field("items[0].unit_price_cents", "negative"),
        bad(
            "empty sku",
            "/orders",
            item(json!("  "), json!(1), json!(1)),
            422,
            validation,
        )
        .field("items[0].sku", "required"),
        bad(
            "long sku",
            "/orders",
            item(json!("x".repeat(65)), json!(1), json!(1)),
            422,
            validation,
        )
        .field("items[0].sku", "too_long"),
        bad(
            "sku with space",
            "/orders",
            item(json!("A B"), json!(1), json!(1)),
            422,
            validation,
        )
        .field("items[0].sku", "invalid_characters"),
        bad(
            "another currency",
            "/orders",
            json!({ "user_id": user, "currency": "USD", "items": [{ "sku": "A", "quantity": 1, "unit_price_cents": 1 }] }),
            422,
            validation,
        )
        .field("currency", "unsupported_currency"),
        bad(
            "a currency that is no ISO code",
            "/orders",
            json!({ "user_id": user, "currency": "eur", "items": [{ "sku": "A", "quantity": 1, "unit_price_cents": 1 }] }),
            422,
            validation,
        )
        .field("currency", "invalid_currency"),
        bad(
            "currency not a string",
            "/orders",
            json!({ "user_id": user, "currency": 978, "items": [{ "sku": "A", "quantity": 1, "unit_price_cents": 1 }] }),
            400,
            bad_request,
        ),
        bad(
            "total overflows",
            "/orders",
            item(json!("A"), json!(1000), json!(i64::MAX / 100)),
            422,
            validation,
        )
        .field("items", "total_overflow"),
        bad(
            "quantity not a number",
            "/orders",
            item(json!("A"), json!("2"), json!(1)),
            400,
            bad_request,
        ),
        bad(
            "price beyond i64",
            "/orders",
            item(json!("A"), json!(1), json!(1e30)),
            400,
            bad_request,
        ),
        bad(
            "fractional quantity",
            "/orders",
            item(json!("A"), json!(1.5), json!(1)),
            400,
            bad_request,
        ),
        bad(
            "missing user",
            "/orders",
            json!({ "items": [] }),
            400,
            bad_request,
        ),
        bad(
            "user not a UUID",
            "/orders",
            json!({ "user_id": "bob", "items": [] }),
            400,
            bad_request,
        ),
        bad(
            "unknown field",
            "/orders",
            json!({ "user_id": user, "items": [], "discount": 5 }),
            400,
            bad_request,
        ),
        bad(
            "unknown item field",
            "/orders",
            json!({ "user_id": user, "items": [{ "sku": "A", "quantity": 1, "unit_price_cents": 1, "colour": "red" }] }),
            400,
            bad_request,
        ),
        bad("not JSON", "/orders", json!(null), 400, bad_request).raw("application/json", b"{"),
        bad(
            "wrong content type",
            "/orders",
            json!(null),
            415,
            "/problems/unsupported-media-type",
        )
        .raw("text/plain", b"hello"),
        bad(
            "body too large",
            "/orders",
            json!(null),
            413,
            "/problems/payload-too-large",
        )
        .raw("application/json", &vec![b' '; 300 * 1024]),
        bad(
            "empty reason",
            &reject,
            json!({ "reason": " " }),
            422,
            validation,
        )
        .field("reason", "required"),
        bad(
            "long reason",
            &cancel,
            json!({ "reason": "x".repeat(501) }),
            422,
            validation,
        )
        .field("reason", "too_long"),
        bad("missing reason", &cancel, json!({}), 400, bad_request),
        bad(
            "unknown reason field",
            &reject,
            json!({ "reason": "a", "x": 1 }),
            400,
            bad_request,
        ),
        bad(
            "order id not a UUID",
            "/orders/42/approve",
            json!({}),
            400,
            bad_request,
        ),
        bad("bad If-Match", &approve, json!({}), 400, bad_request).header("If-Match", "soon"),
        bad(
            "empty Idempotency-Key",
            &approve,
            json!({}),
            400,
            bad_request,
        )
        .header("Idempotency-Key", ""),
        bad(
            "long Idempotency-Key",
            &approve,
            json!({}),
            400,
            bad_request,
        )
        .header("Idempotency-Key", "k".repeat(256)),
        bad(
            "Idempotency-Key with a space",
            &approve,
            json!({}),
            400,
            bad_request,
        )
        .header("Idempotency-Key", "a b"),
        bad(
            "unknown order",
            &format!("/orders/{}/approve", Uuid::now_v7()),
            json!({}),
            404,
            "/problems/order-not-found",
        ),
        bad(
            "events of an unknown order",
            &format!("/orders/{}/events", Uuid::now_v7()),
            json!(null),
            404,
            "/problems/order-not-found",
        )
        .method(Method::GET),
        bad(
            "PUT on /orders",
            "/orders",
            json!(null),
            404,
            "/problems/not-found",
        )
        .method(Method::PUT),
        bad(
            "unknown route",
            "/nowhere",
            json!({}),
            404,
            "/problems/not-found",
        ),
    ];
    for case in &cases {
        case.check(&app.client, &app.address).await;
    }

    let everything = app
        .post(
            "/orders",
            json!({ "user_id": user, "items": [
                { "sku": "", "quantity": 0, "unit_price_cents": -5 },
                { "sku": "OK", "quantity": 1, "unit_price_cents": 1 },
                { "sku": "B C", "quantity": 2000, "unit_price_cents": 1 },
            ] }),
        )
        .await;
    let everything = assert_problem(everything, 422, validation).await;
    assert_eq!(
        everything["errors"].as_array().unwrap().len(),
        5,
        "every invalid field is reported: {everything}"
    );
    assert_eq!(app.counts().await, before, "no bad request wrote anything");
}

#[tokio::test]
async fn health_and_openapi_are_served() {
    let app = TestApp::spawn().await;
    assert_eq!(app.get("/health/live").await.status(), 200);
    assert_eq!(app.get("/health/ready").await.status(), 200);
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains("http_requests"),
        "request metrics: {metrics}"
    );
    let openapi = body(app.get("/api-docs/openapi.json").await).await;
    for path in [
        "/orders",
        "/orders/{id}/approve",
        "/orders/{id}/reject",
        "/orders/{id}/cancel",
        "/orders/{id}/events",
    ] {
        assert!(openapi["paths"][path].is_object(), "{path} is documented");
    }
    assert_eq!(app.get("/swagger-ui/").await.status(), 200);
}

#[test]
fn help_prints_the_kits_text_with_every_setting_at_the_orders_defaults() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_orders-command"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(output.status.success());
    let help = String::from_utf8(output.stdout).unwrap();
    assert_eq!(help, orders_command::Settings::help() + "\n");
    assert!(help.contains("  ORDERS_COMMAND__TOPIC=orders.events"));
}
