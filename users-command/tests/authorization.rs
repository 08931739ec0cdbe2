//! Who may do what on users-command: every operation refuses a missing or bad token; a
//! customer acts on their own user only (another's is a 404, as if it did not exist) and not
//! on credit limits, deactivation or reservations; reservations are the saga's (service)
//! alone. A refused request writes nothing.

mod common;

use common::TestApp;
use serde_json::json;
use service_kit::auth::Role;
use test_support::auth::client_as;
use test_support::service::assert_problem;
use uuid::Uuid;

#[tokio::test]
async fn every_operation_refuses_a_missing_or_bad_token() {
    let app = TestApp::spawn_without_relay().await;
    let checked =
        test_support::service::every_operation_refuses_missing_and_bad_tokens(&app.address).await;
    assert!(checked >= 8, "{checked} operations");
    assert_eq!(app.counts().await.events, 0, "nothing written");
}

#[tokio::test]
async fn customers_act_on_their_own_user_only_and_reservations_are_the_sagas() {
    let app = TestApp::spawn_without_relay().await;
    let own = app.register("own@example.com", 1_000).await;
    let other = app.register("other@example.com", 1_000).await;
    let customer = client_as(&own.to_string(), Role::Customer);
    let send = |client: &reqwest::Client, method: &str, path: String, body: serde_json::Value| {
        client
            .request(method.parse().unwrap(), app.url(&path))
            .json(&body)
            .send()
    };
    let before = app.counts().await;
    let order = Uuid::now_v7();
    let refused = [
        // (who, method, path, body, status, problem)
        (
            &customer,
            "POST",
            "/users".to_owned(),
            json!({"email": "x@example.com", "name": "X", "credit_limit_cents": 1}),
            403,
            "/problems/forbidden",
        ),
        (
            &customer,
            "POST",
            format!("/users/{other}/name"),
            json!({"name": "Mallory"}),
            404,
            "/problems/user-not-found",
        ),
        (
            &customer,
            "POST",
            format!("/users/{other}/email"),
            json!({"email": "m@example.com"}),
            404,
            "/problems/user-not-found",
        ),
        (
            &customer,
            "GET",
            format!("/users/{other}/events"),
            json!({}),
            404,
            "/problems/user-not-found",
        ),
        (
            &customer,
            "POST",
            format!("/users/{own}/credit-limit"),
            json!({"credit_limit_cents": 1_000_000}),
            403,
            "/problems/forbidden",
        ),
        (
            &customer,
            "POST",
            format!("/users/{own}/deactivate"),
            json!({"reason": "x"}),
            403,
            "/problems/forbidden",
        ),
        (
            &customer,
            "POST",
            format!("/users/{own}/credit-reservations"),
            json!({"order_id": order, "amount_cents": 10}),
            403,
            "/problems/forbidden",
        ),
        (
            &app.client,
            "POST",
            format!("/users/{own}/credit-reservations"),
            json!({"order_id": order, "amount_cents": 10}),
            403,
            "/problems/forbidden",
        ),
        (
            &app.client,
            "DELETE",
            format!("/users/{own}/credit-reservations/{order}"),
            json!({}),
            403,
            "/problems/forbidden",
        ),
    ];
    for (client, method, path, body, status, kind) in refused {
        let response = send(client, method, path.clone(), body).await.unwrap();
        assert_eq!(response.status(), status, "{method} {path}");
        assert_problem(response, status, kind).await;
    }
    assert_eq!(
        app.counts().await,
        before,
        "no refused request wrote anything"
    );

    // What each role may do.
    let renamed = send(
        &customer,
        "POST",
        format!("/users/{own}/name"),
        json!({"name": "Me"}),
    )
    .await
    .unwrap();
    assert_eq!(renamed.status(), 200);
    let stream = send(&customer, "GET", format!("/users/{own}/events"), json!({}))
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    let events: serde_json::Value = stream.json().await.unwrap();
    assert_eq!(
        events["events"][1]["metadata"]["actor"],
        format!("customer:{own}"),
        "the event records who did it"
    );
    let reserved = send(
        &app.service,
        "POST",
        format!("/users/{own}/credit-reservations"),
        json!({"order_id": order, "amount_cents": 10}),
    )
    .await
    .unwrap();
    assert_eq!(reserved.status(), 200);
}

#[tokio::test]
async fn tokens_never_reach_the_logs_even_at_debug_level() {
    let database = test_support::fresh_database().await;
    let topic = test_support::fresh_topic("users.events", 1).await;
    let port = test_support::service::free_port();
    let mut command = test_support::service::binary_command(
        <common::Users as test_support::invariants::CommandContext>::binary(),
        "USERS_COMMAND",
        &database,
        &topic,
        port,
        &[("RUST_LOG", "debug")],
    );
    command
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = command.spawn().expect("users-command starts");
    let base = format!("http://127.0.0.1:{port}");
    let anonymous = reqwest::Client::new();
    test_support::service::ready(&anonymous, &base, std::time::Duration::from_secs(60)).await;

    let good = test_support::auth::token("ops", Role::Admin);
    let mut sent = vec![good.clone()];
    let created = anonymous
        .post(format!("{base}/users"))
        .bearer_auth(&good)
        .json(&json!({"email": "logs@example.com", "name": "Logs", "credit_limit_cents": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    for (_, bad) in test_support::auth::bad_tokens() {
        let refused = anonymous
            .post(format!("{base}/users"))
            .bearer_auth(&bad)
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), 401);
        sent.push(bad);
    }
    child.start_kill().unwrap();
    let output = child.wait_with_output().await.unwrap();
    let logs = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        logs.contains("request refused: not authenticated"),
        "the refusals are logged: {logs}"
    );
    for token in sent {
        // Neither the whole token nor its signature appears anywhere.
        let signature = token.rsplit('.').next().unwrap();
        assert!(!logs.contains(&token), "a token leaked into the logs");
        assert!(
            signature.len() < 8 || !logs.contains(signature),
            "a token's signature leaked into the logs"
        );
    }
}
