//! users-command over HTTP against the real Postgres: every command, invariants 1 and 2 for
//! User commands, email claims, idempotent reservations, and every kind of bad input. The
//! command bus's own rules (lost updates, snapshots, idempotency keys, claims, all-or-nothing)
//! are tested with an aggregate of its own in crates/event-store/tests/commands.rs; If-Match,
//! Idempotency-Key and the problem mapping in crates/command-kit/tests/http.rs.

mod common;

use std::time::Duration;

use common::{Counts, TestApp, Users};
use serde_json::{Value, json};
use test_support::service::{assert_problem, bad};
use uuid::Uuid;

async fn body(response: reqwest::Response) -> Value {
    response.json().await.expect("json body")
}

#[tokio::test]
async fn registering_answers_201_with_location_and_version_and_records_the_event() {
    let app = TestApp::spawn_without_relay().await;
    let response = app
        .client
        .post(app.url("/users"))
        .header("X-Correlation-Id", "corr-123")
        .header(
            "traceparent",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        )
        .json(&json!({ "email": "Ada@Example.com", "name": "Ada", "credit_limit_cents": 5000 }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    assert_eq!(response.headers()["x-correlation-id"], "corr-123");
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let created = body(response).await;
    let id = created["id"].as_str().unwrap();
    assert_eq!(created["version"], 1);
    assert_eq!(location, format!("/users/{id}"));
    assert_eq!(
        Uuid::parse_str(id).unwrap().get_version_num(),
        7,
        "ids are UUID v7"
    );

    let stream = body(
        app.client
            .get(app.url(&format!("/users/{id}/events")))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let events = stream["events"].as_array().unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["sequence"], 1);
    assert_eq!(events[0]["event_type"], "UserRegistered");
    assert_eq!(events[0]["payload"]["email"], "ada@example.com");
    assert_eq!(events[0]["metadata"]["correlation_id"], "corr-123");
    assert_eq!(
        events[0]["metadata"]["traceparent"],
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    );
    assert_eq!(
        app.counts().await,
        Counts {
            events: 1,
            outbox: 1,
            claims: 1,
            subject_keys: 1
        },
        "a 2xx command left its event, outbox row and claim"
    );
}

#[tokio::test]
async fn every_user_command_appends_its_event_and_bumps_the_version() {
    let app = TestApp::spawn_without_relay().await;
    let id = app.register("grace@example.com", 10_000).await;
    let order = Uuid::now_v7();
    let steps: Vec<(String, Value, &str)> = vec![
        (
            format!("/users/{id}/email"),
            json!({ "email": "hopper@example.com" }),
            "UserEmailChanged",
        ),
        (
            format!("/users/{id}/name"),
            json!({ "name": "Grace Hopper" }),
            "UserRenamed",
        ),
        (
            format!("/users/{id}/credit-limit"),
            json!({ "credit_limit_cents": 20_000 }),
            "UserCreditLimitChanged",
        ),
        (
            format!("/users/{id}/credit-reservations"),
            json!({ "order_id": order, "amount_cents": 15_000 }),
            "UserCreditReserved",
        ),
        (
            format!("/users/{id}/deactivate"),
            json!({ "reason": "left the company" }),
            "UserDeactivated",
        ),
    ];
    for (version, (path, request, _)) in (2u64..).zip(&steps) {
        let response = app.post(path, request.clone()).await;
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(response.headers()["etag"], format!("\"{version}\""));
        assert_eq!(body(response).await["version"], version, "{path}");
    }
    let released = app
        .service
        .delete(app.url(&format!("/users/{id}/credit-reservations/{order}")))
        .send()
        .await
        .unwrap();
    assert_eq!(released.status(), 200);
    let released = body(released).await;
    assert_eq!(released["outcome"], "released");
    assert_eq!(released["amount_cents"], 15_000);
    assert_eq!(released["available_cents"], 20_000);
    assert_eq!(released["version"], 7);

    let stream = body(
        app.client
            .get(app.url(&format!("/users/{id}/events")))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let types: Vec<&str> = stream["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event_type"].as_str().unwrap())
        .collect();
    let mut expected = vec!["UserRegistered"];
    expected.extend(steps.iter().map(|s| s.2));
    expected.push("UserCreditReleased");
    assert_eq!(types, expected);
    let counts = app.counts().await;
    assert_eq!(
        (counts.events, counts.outbox, counts.claims),
        (7, 7, 1),
        "the old email's claim was released"
    );
}

#[tokio::test]
async fn a_retried_reservation_or_release_with_its_idempotency_key_answers_the_first_outcome() {
    let app = TestApp::spawn_without_relay().await;
    let id = app.register("grace@example.com", 1_000).await;
    let order = Uuid::now_v7();
    let path = format!("/users/{id}/credit-reservations");
    let reserve = json!({ "order_id": order, "amount_cents": 400 });
    let send = |key: &'static str, body: Value| {
        let request = app.service.post(app.url(&path)).json(&body);
        async move { request.header("Idempotency-Key", key).send().await.unwrap() }
    };
    let first = send("saga-1:reserve", reserve.clone()).await;
    assert!(first.headers().get("idempotent-replayed").is_none());
    let first = body(first).await;
    assert_eq!(first["outcome"], "reserved");
    let repeat = send("saga-1:reserve", reserve.clone()).await;
    assert_eq!(repeat.headers()["idempotent-replayed"], "true");
    let repeat = body(repeat).await;
    assert_eq!(
        (
            &repeat["outcome"],
            &repeat["version"],
            &repeat["reserved_cents"]
        ),
        (&first["outcome"], &first["version"], &json!(400)),
        "the repeat answers the first outcome and reserves nothing more"
    );
    let other = send(
        "saga-1:reserve",
        json!({ "order_id": Uuid::now_v7(), "amount_cents": 400 }),
    )
    .await;
    assert_problem(other, 422, "/problems/idempotency-key-reused").await;

    let release = app.url(&format!("/users/{id}/credit-reservations/{order}"));
    let released = |key: &'static str| {
        let request = app.service.delete(&release).header("Idempotency-Key", key);
        async move { request.send().await.unwrap() }
    };
    let first = body(released("saga-1:release").await).await;
    assert_eq!(first["outcome"], "released");
    let repeat = released("saga-1:release").await;
    assert_eq!(repeat.headers()["idempotent-replayed"], "true");
    assert_eq!(body(repeat).await["outcome"], "released");
    assert_eq!(
        app.counts().await.events,
        3,
        "registered, reserved, released: the repeats appended nothing"
    );
    let keys: i64 = sqlx::query_scalar("SELECT count(*) FROM idempotency_keys")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(keys, 2);
}

#[tokio::test]
async fn reservations_and_releases_are_idempotent_per_order() {
    let app = TestApp::spawn_without_relay().await;
    let id = app.register("linus@example.com", 1_000).await;
    let order = Uuid::now_v7();
    let path = format!("/users/{id}/credit-reservations");
    let first = body(
        app.post(&path, json!({ "order_id": order, "amount_cents": 600 }))
            .await,
    )
    .await;
    assert_eq!(first["outcome"], "reserved");
    let again = body(
        app.post(&path, json!({ "order_id": order, "amount_cents": 600 }))
            .await,
    )
    .await;
    assert_eq!(again["outcome"], "already_reserved");
    assert_eq!(
        again["version"], first["version"],
        "a retried reservation appends nothing"
    );
    assert_eq!(again["reserved_cents"], 600, "credit is not reserved twice");
    assert_problem(
        app.post(&path, json!({ "order_id": order, "amount_cents": 700 }))
            .await,
        409,
        "/problems/reservation-mismatch",
    )
    .await;

    let release = format!("/users/{id}/credit-reservations/{order}");
    let released = body(app.service.delete(app.url(&release)).send().await.unwrap()).await;
    assert_eq!(released["outcome"], "released");
    let again = body(app.service.delete(app.url(&release)).send().await.unwrap()).await;
    assert_eq!(again["outcome"], "already_released");
    assert_eq!(again["version"], released["version"]);
    assert_problem(
        app.post(&path, json!({ "order_id": order, "amount_cents": 600 }))
            .await,
        409,
        "/problems/reservation-closed",
    )
    .await;

    let never = Uuid::now_v7();
    let closed = body(
        app.service
            .delete(app.url(&format!("/users/{id}/credit-reservations/{never}")))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(closed["outcome"], "nothing_reserved");
    assert_problem(
        app.post(&path, json!({ "order_id": never, "amount_cents": 1 }))
            .await,
        409,
        "/problems/reservation-closed",
    )
    .await;
    assert_eq!(
        app.counts().await.events,
        4,
        "registered, reserved, released, closed"
    );
}

#[tokio::test]
async fn failing_commands_leave_no_event_outbox_row_or_claim() {
    let app = TestApp::spawn_without_relay().await;
    let id = app.register("taken@example.com", 1_000).await;
    let other = app.register("other@example.com", 1_000).await;
    let before = app.counts().await;
    assert_eq!(
        before,
        Counts {
            events: 2,
            outbox: 2,
            claims: 2,
            subject_keys: 2
        }
    );

    assert_problem(
        app.post(
            "/users",
            json!({ "email": "TAKEN@example.com", "name": "X", "credit_limit_cents": 1 }),
        )
        .await,
        409,
        "/problems/email-taken",
    )
    .await;
    assert_problem(
        app.post(
            &format!("/users/{other}/email"),
            json!({ "email": "taken@example.com" }),
        )
        .await,
        409,
        "/problems/email-taken",
    )
    .await;
    assert_problem(
        app.post(
            "/users",
            json!({ "email": "bad", "name": "X", "credit_limit_cents": 1 }),
        )
        .await,
        422,
        "/problems/validation",
    )
    .await;
    assert_problem(
        app.post_if_match(&format!("/users/{id}/name"), 5, json!({ "name": "New" }))
            .await,
        409,
        "/problems/version-mismatch",
    )
    .await;
    assert_problem(
        app.post(
            &format!("/users/{id}/credit-reservations"),
            json!({ "order_id": Uuid::now_v7(), "amount_cents": 1_001 }),
        )
        .await,
        422,
        "/problems/insufficient-credit",
    )
    .await;
    assert_problem(
        app.post(
            &format!("/users/{id}/credit-limit"),
            json!({ "credit_limit_cents": -5 }),
        )
        .await,
        422,
        "/problems/validation",
    )
    .await;

    assert_eq!(
        app.counts().await,
        before,
        "nothing was written by any refused command"
    );
    let mut claimed: Vec<String> = sqlx::query_scalar("SELECT value FROM unique_claims")
        .fetch_all(&app.pool)
        .await
        .unwrap();
    claimed.sort();
    let secret = privacy::keys::ClaimSecret::load(&app.pool).await.unwrap();
    let mut expected = [
        secret.digest("other@example.com"),
        secret.digest("taken@example.com"),
    ];
    expected.sort();
    assert_eq!(claimed, expected, "claims hold digests of the emails");
}

#[tokio::test]
async fn a_changed_email_is_free_for_another_user() {
    let app = TestApp::spawn_without_relay().await;
    let id = app.register("first@example.com", 0).await;
    assert_eq!(
        app.post(
            &format!("/users/{id}/email"),
            json!({ "email": "second@example.com" })
        )
        .await
        .status(),
        200
    );
    app.register("first@example.com", 0).await;
    assert_problem(
        app.post(
            "/users",
            json!({ "email": "second@example.com", "name": "X", "credit_limit_cents": 0 }),
        )
        .await,
        409,
        "/problems/email-taken",
    )
    .await;
}

#[tokio::test]
async fn concurrent_commands_on_the_same_version_let_exactly_one_win() {
    test_support::invariants::concurrent_commands_on_one_version_let_exactly_one_win::<Users>()
        .await;
}

#[tokio::test]
async fn concurrent_registrations_of_one_email_let_exactly_one_win() {
    let app = TestApp::spawn_without_relay().await;
    const WRITERS: usize = 10;
    let attempts = (0..WRITERS).map(|_| {
        app.post(
            "/users",
            json!({ "email": "same@example.com", "name": "Twin", "credit_limit_cents": 1 }),
        )
    });
    let statuses: Vec<u16> = futures::future::join_all(attempts)
        .await
        .iter()
        .map(|r| r.status().as_u16())
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 409).count(),
        WRITERS - 1,
        "{statuses:?}"
    );
    assert_eq!(
        app.counts().await,
        Counts {
            events: 1,
            outbox: 1,
            claims: 1,
            subject_keys: 1
        }
    );
}

#[tokio::test]
async fn a_registration_is_written_in_one_statement_an_email_change_in_the_transaction() {
    let app = TestApp::spawn_without_relay().await;
    let writes = || async {
        let page = app.metrics().await;
        ["statement", "transaction"].map(|path| {
            let sample = format!("event_store_writes_total{{path=\"{path}\"}}");
            test_support::metric_sample(&page, &sample).unwrap_or(0.0)
        })
    };
    let id = app.register("once@example.com", 1).await;
    assert_eq!(writes().await, [1.0, 0.0]);
    // A changed email releases the old one: that command takes the transaction.
    let changed = app
        .post(
            &format!("/users/{id}/email"),
            json!({ "email": "twice@example.com" }),
        )
        .await;
    assert!(changed.status().is_success(), "{}", changed.status());
    assert_eq!(writes().await, [1.0, 1.0]);
}

#[tokio::test]
async fn a_key_stored_before_a_users_first_event_is_the_key_that_seals_it() {
    use users_domain::{CreditCents, Email, UserCommand, UserName};
    let app = TestApp::spawn_without_relay().await;
    let bus = common::bus(&app.pool, "users.events");
    let id = Uuid::now_v7().to_string();
    // A new user's write makes their key in the statement that stores the event. Here a key
    // is stored already: that statement must refuse, and the command seal with this key.
    let stored = privacy::SubjectKey::generate().unwrap();
    sqlx::query("INSERT INTO subject_keys (subject, key) VALUES ($1, $2)")
        .bind(&id)
        .bind(stored.as_slice())
        .execute(&app.pool)
        .await
        .unwrap();
    let register = UserCommand::Register {
        user_id: id.parse().unwrap(),
        email: Email::parse("keyed@example.com").unwrap(),
        name: UserName::parse("Keyed").unwrap(),
        credit_limit: CreditCents::parse(100).unwrap(),
    };
    bus.execute(&id, register, None, Default::default())
        .await
        .expect("registered");

    let mut payload: Value =
        sqlx::query_scalar("SELECT payload FROM events WHERE aggregate_id = $1")
            .bind(&id)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert!(
        privacy::any_sealed(&payload, &["email", "name"]),
        "{payload}"
    );
    let key = privacy::SubjectKey::from_bytes(&id, &stored).unwrap();
    privacy::open_fields(&mut payload, &["email", "name"], Some(&key)).expect("opens with it");
    assert_eq!(
        (&payload["email"], &payload["name"]),
        (&json!("keyed@example.com"), &json!("Keyed"))
    );
    let kept: Vec<u8> = sqlx::query_scalar("SELECT key FROM subject_keys WHERE subject = $1")
        .bind(&id)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(kept, stored, "the stored key was kept");
    assert_eq!(
        app.counts().await,
        Counts {
            events: 1,
            outbox: 1,
            claims: 1,
            subject_keys: 1
        },
        "the refused statement left nothing of its own"
    );
}

#[tokio::test]
async fn bad_input_gets_the_right_problem_and_writes_nothing() {
    let app = TestApp::spawn_without_relay().await;
    let id = app.register("victim@example.com", 1_000).await;
    let gone = app.register("gone@example.com", 1_000).await;
    let deactivate = app
        .post(
            &format!("/users/{gone}/deactivate"),
            json!({ "reason": "closed" }),
        )
        .await;
    assert_eq!(deactivate.status(), 200);
    let before = app.counts().await;

    let user = |name: Value, limit: Value| json!({ "email": "a@example.com", "name": name, "credit_limit_cents": limit });
    let reserve = format!("/users/{id}/credit-reservations");
    let cases = [
        bad(
            "malformed JSON",
            "/users",
            json!(null),
            400,
            "/problems/bad-request",
        )
        .raw("application/json", b"{\"email\": "),
        bad(
            "unknown field",
            "/users",
            json!({ "email": "a@example.com", "name": "A", "credit_limit_cents": 1, "admin": true }),
            400,
            "/problems/bad-request",
        ),
        bad(
            "missing field",
            "/users",
            json!({ "email": "a@example.com", "name": "A" }),
            400,
            "/problems/bad-request",
        ),
        bad(
            "wrong type",
            "/users",
            user(json!("A"), json!("lots")),
            400,
            "/problems/bad-request",
        ),
        bad(
            "number beyond i64",
            "/users",
            json!(null),
            400,
            "/problems/bad-request",
        )
        .raw(
            "application/json",
            br#"{"email":"a@example.com","name":"A","credit_limit_cents":1e300}"#,
        ),
        bad(
            "invalid email",
            "/users",
            json!({ "email": "not-an-email", "name": "A", "credit_limit_cents": 1 }),
            422,
            "/problems/validation",
        )
        .field("email", "invalid_email"),
        bad(
            "empty name",
            "/users",
            user(json!("  "), json!(1)),
            422,
            "/problems/validation",
        )
        .field("name", "required"),
        bad(
            "500-character name",
            "/users",
            user(json!("n".repeat(500)), json!(1)),
            422,
            "/problems/validation",
        )
        .field("name", "too_long"),
        bad(
            "negative credit limit",
            "/users",
            user(json!("A"), json!(-1)),
            422,
            "/problems/validation",
        )
        .field("credit_limit_cents", "negative"),
        bad(
            "absurd credit limit",
            "/users",
            user(json!("A"), json!(i64::MAX)),
            422,
            "/problems/validation",
        )
        .field("credit_limit_cents", "too_large"),
        bad(
            "duplicate email",
            "/users",
            json!({ "email": "VICTIM@example.com", "name": "A", "credit_limit_cents": 1 }),
            409,
            "/problems/email-taken",
        ),
        bad(
            "non-UUID id",
            "/users/not-a-uuid/name",
            json!({ "name": "A" }),
            400,
            "/problems/bad-request",
        ),
        bad(
            "unknown user",
            &format!("/users/{}/name", Uuid::now_v7()),
            json!({ "name": "A" }),
            404,
            "/problems/user-not-found",
        ),
        bad(
            "events of an unknown user",
            &format!("/users/{}/events", Uuid::now_v7()),
            json!(null),
            404,
            "/problems/user-not-found",
        )
        .method(reqwest::Method::GET),
        bad(
            "wrong content type",
            "/users",
            json!(null),
            415,
            "/problems/unsupported-media-type",
        )
        .raw("text/plain", b"hello"),
        bad(
            "body over 64 KiB",
            "/users",
            user(json!("x".repeat(70 * 1024)), json!(1)),
            413,
            "/problems/payload-too-large",
        ),
        bad(
            "reservation beyond the limit",
            &reserve,
            json!({ "order_id": Uuid::now_v7(), "amount_cents": 1_001 }),
            422,
            "/problems/insufficient-credit",
        ),
        bad(
            "zero reservation",
            &reserve,
            json!({ "order_id": Uuid::now_v7(), "amount_cents": 0 }),
            422,
            "/problems/validation",
        )
        .field("amount_cents", "not_positive"),
        bad(
            "non-UUID order id",
            &reserve,
            json!({ "order_id": "nope", "amount_cents": 5 }),
            400,
            "/problems/bad-request",
        ),
        bad(
            "reservation on a deactivated user",
            &format!("/users/{gone}/credit-reservations"),
            json!({ "order_id": Uuid::now_v7(), "amount_cents": 5 }),
            409,
            "/problems/user-deactivated",
        ),
        bad(
            "unknown route",
            "/nowhere",
            json!({}),
            404,
            "/problems/not-found",
        ),
    ];
    for case in &cases {
        case.check(app.client_for(&case.path), &app.address).await;
    }

    let everything = app
        .post(
            "/users",
            json!({ "email": "x", "name": "", "credit_limit_cents": -1 }),
        )
        .await;
    let everything = assert_problem(everything, 422, "/problems/validation").await;
    assert_eq!(
        everything["errors"].as_array().unwrap().len(),
        3,
        "every invalid field is reported"
    );
    let bad_if_match = app
        .client
        .post(app.url(&format!("/users/{id}/name")))
        .header("If-Match", "yesterday")
        .json(&json!({ "name": "B" }));
    assert_problem(
        bad_if_match.send().await.unwrap(),
        400,
        "/problems/bad-request",
    )
    .await;

    assert_eq!(app.counts().await, before, "no bad request wrote anything");
}

#[tokio::test]
async fn health_metrics_and_openapi_are_served() {
    let app = TestApp::spawn().await;
    let live = app
        .client
        .get(app.url("/health/live"))
        .send()
        .await
        .unwrap();
    assert_eq!(live.status(), 200);
    let ready = body(
        app.client
            .get(app.url("/health/ready"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        ready,
        json!({ "status": "ready", "checks": { "database": "up", "broker": "up" } })
    );
    app.register("metrics@example.com", 1).await;
    // A method HTTP does not define must not become a label value of its own.
    let brew = reqwest::Method::from_bytes(b"BREW").unwrap();
    app.client
        .request(brew, app.url("/users"))
        .send()
        .await
        .unwrap();
    let metrics = app.metrics().await;
    assert!(metrics.contains("http_requests_total"), "{metrics}");
    assert!(metrics.contains(r#"method="other""#), "{metrics}");
    assert!(!metrics.contains("BREW"), "{metrics}");
    let openapi = body(
        app.client
            .get(app.url("/api-docs/openapi.json"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    for path in [
        "/users",
        "/users/{id}/email",
        "/users/{id}/credit-reservations",
        "/users/{id}/credit-reservations/{order_id}",
        "/users/{id}/events",
    ] {
        assert!(openapi["paths"].get(path).is_some(), "{path} is documented");
    }
    let swagger = app
        .client
        .get(app.url("/swagger-ui/"))
        .send()
        .await
        .unwrap();
    assert_eq!(swagger.status(), 200);
    assert!(
        swagger.text().await.unwrap().contains("swagger"),
        "swagger ui page"
    );
    app.stop().await;
}

#[tokio::test]
async fn readiness_fails_when_the_database_is_unreachable() {
    let mut database = test_support::server_settings();
    database.database_name = "users_es_missing".into();
    database.port = 1; // nothing listens there
    database.migrate = false;
    database.acquire_timeout_secs = 1;
    let settings = common::settings(database, "users.events.unused", false);
    let cancel = tokio_util::sync::CancellationToken::new();
    let app = users_command::Application::build(settings, cancel.clone())
        .await
        .expect("builds with a lazy pool");
    let url = format!("http://127.0.0.1:{}/health/ready", app.port());
    let task = tokio::spawn(app.run_until_stopped());
    let response = reqwest::get(&url).await.unwrap();
    assert_eq!(response.status(), 503);
    assert_eq!(body(response).await["checks"]["database"], "down");
    cancel.cancel();
    tokio::time::timeout(Duration::from_secs(20), task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}
