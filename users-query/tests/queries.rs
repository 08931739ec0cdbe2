//! users-query over HTTP: read-your-writes after users-command, filters, pagination and bad
//! parameters.

mod common;

use common::{QueryApp, Store, spawn_command};
use serde_json::{Value, json};
use uuid::Uuid;

async fn post(client: &reqwest::Client, url: String, body: Value) -> Value {
    let response = client.post(url).json(&body).send().await.unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    response.json().await.unwrap()
}

#[tokio::test]
async fn every_user_event_lands_and_is_readable_with_min_version_after_each_command() {
    let store = Store::new().await;
    let (command, stop_command) = spawn_command(&store).await;
    let query = QueryApp::spawn(&store).await;
    let client = test_support::auth::admin_client();
    // Credit reservations are the saga's alone.
    let service =
        test_support::auth::client_as("saga-orchestrator", service_kit::auth::Role::Service);

    let created = post(
        &client,
        format!("{command}/users"),
        json!({ "email": "Read@Example.com", "name": "Reader", "credit_limit_cents": 10_000 }),
    )
    .await;
    let id: Uuid = created["id"].as_str().unwrap().parse().unwrap();
    let user = query.user_at(id, 1).await;
    assert_eq!(user["email"], "read@example.com");
    assert_eq!(user["name"], "Reader");
    assert_eq!(user["status"], "active");
    assert_eq!(user["credit_limit_cents"], 10_000);
    assert_eq!(user["reserved_cents"], 0);
    assert_eq!(user["available_cents"], 10_000);
    assert_eq!(user["version"], 1);

    let order = Uuid::now_v7();
    type Check = Box<dyn Fn(&Value)>;
    let steps: Vec<(&str, Value, Check)> = vec![
        (
            "email",
            json!({ "email": "writer@example.com" }),
            Box::new(|u: &Value| assert_eq!(u["email"], "writer@example.com")),
        ),
        (
            "name",
            json!({ "name": "Writer" }),
            Box::new(|u: &Value| assert_eq!(u["name"], "Writer")),
        ),
        (
            "credit-limit",
            json!({ "credit_limit_cents": 20_000 }),
            Box::new(|u: &Value| assert_eq!(u["credit_limit_cents"], 20_000)),
        ),
        (
            "credit-reservations",
            json!({ "order_id": order, "amount_cents": 7_000 }),
            Box::new(|u: &Value| {
                assert_eq!(u["reserved_cents"], 7_000);
                assert_eq!(u["available_cents"], 13_000);
            }),
        ),
        (
            "deactivate",
            json!({ "reason": "done" }),
            Box::new(|u: &Value| assert_eq!(u["status"], "deactivated")),
        ),
    ];
    for (path, body, check) in steps {
        let caller = if path == "credit-reservations" {
            &service
        } else {
            &client
        };
        let version = post(caller, format!("{command}/users/{id}/{path}"), body).await["version"]
            .as_u64()
            .unwrap();
        let user = query.user_at(id, version).await;
        assert_eq!(user["version"], version);
        check(&user);
    }
    let released: Value = service
        .delete(format!("{command}/users/{id}/credit-reservations/{order}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let user = query
        .user_at(id, released["version"].as_u64().unwrap())
        .await;
    assert_eq!(user["reserved_cents"], 0);
    assert_eq!(user["available_cents"], 20_000);
    common::converged(&query, &store, std::time::Duration::from_secs(30)).await;
    stop_command.cancel();
    query.stop().await;
}

#[tokio::test]
async fn lists_filter_and_paginate_by_keyset_and_bad_parameters_are_400() {
    let store = Store::new().await;
    let mut ids = Vec::new();
    for name in ["Alice", "alfred", "Bob", "Carol", "Alina"] {
        ids.push(store.user(100, vec![common::rename(name)]).await);
    }
    store
        .bus()
        .execute(
            &ids[2].to_string(),
            users_domain::UserCommand::Deactivate {
                reason: users_domain::Reason::parse("x").unwrap(),
            },
            None,
            Default::default(),
        )
        .await
        .unwrap();
    let query = QueryApp::spawn(&store).await;
    for id in &ids {
        store.publish(*id, &[1, 2]).await;
    }
    store.publish(ids[2], &[3]).await;
    query.user_at(ids[2], 3).await;
    for id in &ids {
        query.user_at(*id, 2).await;
    }

    let page = |path: &str| {
        let query = &query;
        let path = path.to_owned();
        async move {
            let response = query.get(&path).await;
            assert_eq!(response.status(), 200, "{path}");
            response.json::<Value>().await.unwrap()
        }
    };
    let names = |page: &Value| -> Vec<String> {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["name"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        names(&page("/users?name_prefix=AL").await),
        ["Alice", "alfred", "Alina"],
        "prefix is case-insensitive, order is registration order"
    );
    assert_eq!(names(&page("/users?status=deactivated").await), ["Bob"]);
    assert_eq!(
        names(&page(&format!("/users?email={}%40EXAMPLE.com", ids[3])).await),
        ["Carol"]
    );
    assert_eq!(
        names(&page("/users?name_prefix=%25").await),
        Vec::<String>::new(),
        "LIKE wildcards are literal"
    );

    let first = page("/users?limit=2").await;
    assert_eq!(names(&first), ["Alice", "alfred"]);
    let cursor = first["next_cursor"].as_str().unwrap().to_owned();
    let second = page(&format!("/users?limit=2&cursor={cursor}")).await;
    assert_eq!(names(&second), ["Bob", "Carol"]);
    let third = page(&format!(
        "/users?limit=2&cursor={}",
        second["next_cursor"].as_str().unwrap()
    ))
    .await;
    assert_eq!(names(&third), ["Alina"]);
    assert!(
        third["next_cursor"].is_null(),
        "the last page has no cursor"
    );
    assert_eq!(
        page("/users?limit=100000").await["items"]
            .as_array()
            .unwrap()
            .len(),
        5,
        "a large limit is capped, not refused"
    );

    for bad in [
        "/users?limit=0",
        "/users?limit=abc",
        "/users?status=sleeping",
        "/users?cursor=!!!",
        "/users?colour=blue",
        &format!("/users/{}?wait_ms=10", ids[0]),
        &format!("/users/{}?min_version=0", ids[0]),
        &format!("/users/{}?min_version=1&wait_ms=999999", ids[0]),
        &format!("/users/{}?min_version=x", ids[0]),
        "/users/not-a-uuid",
        "/admin/parked?limit=0",
    ] {
        let response = query.get(bad).await;
        assert_eq!(response.status(), 400, "{bad}");
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json",
            "{bad}"
        );
    }
    let unknown = query.get(&format!("/users/{}", Uuid::now_v7())).await;
    assert_eq!(unknown.status(), 404);
    let not_yet = query
        .get(&format!("/users/{}?min_version=9&wait_ms=200", ids[0]))
        .await;
    assert_eq!(not_yet.status(), 504);
    let problem: Value = not_yet.json().await.unwrap();
    assert_eq!(problem["type"], "/problems/version-not-reached");
    assert_eq!(problem["current_version"], 2);
    let openapi: Value = query
        .get("/api-docs/openapi.json")
        .await
        .json()
        .await
        .unwrap();
    for path in ["/users", "/users/{id}", "/admin/parked", "/admin/rebuild"] {
        assert!(openapi["paths"].get(path).is_some(), "{path} is documented");
    }
    query.stop().await;
}
