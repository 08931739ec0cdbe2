//! The gateway against the real stack: the five services on fresh databases and topics, the
//! test Kafka, and the gateway binary in front of them.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use service_kit::auth::Role;
use test_support::auth::{client_as, token, token_expiring_in};
use test_support::stack::{Process, SETTLE, Stack, lone_gateway};
use test_support::{PrivateBroker, eventually};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use uuid::Uuid;

/// Posts a GraphQL request; the HTTP status and the body.
async fn gql(
    client: &reqwest::Client,
    gateway: &Process,
    query: &str,
    variables: Value,
) -> (u16, Value) {
    let response = client
        .post(format!("{}/graphql", gateway.address))
        .json(&json!({ "query": query, "variables": variables }))
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .expect("the gateway answers");
    let status = response.status().as_u16();
    (status, response.json().await.expect("a JSON body"))
}

/// The data of a request that must succeed.
async fn data(client: &reqwest::Client, gateway: &Process, query: &str, variables: Value) -> Value {
    let (status, body) = gql(client, gateway, query, variables).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.get("errors").is_none(), "errors: {body}");
    body["data"].clone()
}

async fn started(mut gateway: Process) -> Process {
    gateway.start().await;
    gateway
}

#[tokio::test]
async fn an_operator_registers_a_user_places_an_order_and_sees_it_approved_with_its_saga_and_events()
 {
    let stack = Stack::start(30_000).await;
    let gateway = started(stack.gateway(None)).await;
    let admin = client_as("console-admin", Role::Admin);
    let email = format!("ada-{}@example.com", Uuid::new_v4().simple());

    let registered = data(
        &admin,
        &gateway,
        "mutation($input: RegisterUserInput!) { registerUser(input: $input) { id version correlationId } }",
        json!({ "input": { "email": email, "name": "Ada Lovelace", "creditLimitCents": 50_000 } }),
    )
    .await["registerUser"]
        .clone();
    assert_eq!(registered["version"], 1);
    let user = registered["id"].as_str().unwrap().to_owned();

    // Read your own write: minVersion waits for the projection.
    let seen = data(
        &admin,
        &gateway,
        "query($id: UUID!) { user(id: $id, minVersion: 1) { email name status availableCents
            events { sequence eventType metadata { correlationId actor } }
            stateAt(version: 1) { version state } } }",
        json!({ "id": user }),
    )
    .await["user"]
        .clone();
    assert_eq!(seen["email"], email);
    assert_eq!(seen["status"], "ACTIVE");
    assert_eq!(seen["availableCents"], 50_000);
    assert_eq!(seen["events"][0]["eventType"], "UserRegistered");
    assert_eq!(
        seen["events"][0]["metadata"]["correlationId"], registered["correlationId"],
        "the command's correlation id is the one its event carries"
    );
    assert_eq!(
        seen["events"][0]["metadata"]["actor"],
        "admin:console-admin"
    );
    assert_eq!(seen["stateAt"]["version"], 1);

    let placed = data(
        &admin,
        &gateway,
        "mutation($input: PlaceOrderInput!) { placeOrder(input: $input) { id version } }",
        json!({ "input": { "userId": user, "items": [{ "sku": "BOOK-1", "quantity": 2, "unitPriceCents": 1_250 }] } }),
    )
    .await["placeOrder"]
        .clone();
    let order = placed["id"].as_str().unwrap().to_owned();

    let approved = eventually(
        SETTLE,
        "the order to be APPROVED through the gateway",
        || async {
            let order = data(
                &admin,
                &gateway,
                "query($id: UUID!) { order(id: $id) { status totalCents user { email }
                events { eventType } sagas { kind state terminal steps { step outcome attempts } }
                stateAt(version: 1) { state } } }",
                json!({ "id": order }),
            )
            .await["order"]
                .clone();
            (order["status"] == "APPROVED").then_some(order)
        },
    )
    .await;
    assert_eq!(approved["totalCents"], 2_500);
    assert_eq!(approved["user"]["email"], email);
    let types: Vec<&str> = approved["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["eventType"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["OrderPlaced", "OrderApproved"]);
    let saga = &approved["sagas"][0];
    assert_eq!(saga["kind"], "place-order");
    assert_eq!(saga["state"], "APPROVED");
    let steps: Vec<(&str, &str)> = saga["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["step"].as_str().unwrap(),
                s["outcome"].as_str().unwrap_or("-"),
            )
        })
        .collect();
    assert_eq!(
        steps,
        [
            ("reserve-credit", "succeeded"),
            ("approve-order", "succeeded")
        ]
    );
    assert_eq!(
        approved["stateAt"]["state"]["status"], "PENDING",
        "time travel shows the order before approval: {approved}"
    );

    let composed = eventually(SETTLE, "the user's credit to show the reservation", || async {
        let user = data(
            &admin,
            &gateway,
            "query($id: UUID!) { user(id: $id) { reservedCents orders(first: 10) { items { id status } nextCursor }
                orderSummary { count totalCents byStatus { status count } } } }",
            json!({ "id": user }),
        )
        .await["user"]
            .clone();
        (user["reservedCents"] == 2_500).then_some(user)
    })
    .await;
    assert_eq!(composed["orders"]["items"][0]["id"], order.as_str());
    assert_eq!(composed["orderSummary"]["count"], 1);
}

#[tokio::test]
async fn a_refused_command_comes_back_with_its_field_errors_and_writes_nothing() {
    let stack = Stack::start(30_000).await;
    let gateway = started(stack.gateway(None)).await;
    let admin = client_as("console-admin", Role::Admin);
    let (status, body) = gql(
        &admin,
        &gateway,
        "mutation { registerUser(input: { email: \"not-an-email\", name: \"\", creditLimitCents: -5 }) { id } }",
        json!({}),
    )
    .await;
    assert_eq!(
        status, 200,
        "a field error is not a refused request: {body}"
    );
    let error = &body["errors"][0];
    assert_eq!(error["extensions"]["status"], 422, "{body}");
    assert_eq!(error["extensions"]["type"], "/problems/validation");
    let fields: Vec<&str> = error["extensions"]["fields"]
        .as_array()
        .expect("per-field errors")
        .iter()
        .map(|field| field["field"].as_str().unwrap())
        .collect();
    for field in ["email", "name", "credit_limit_cents"] {
        assert!(fields.contains(&field), "{field} missing from {fields:?}");
    }
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(&stack.users_es)
        .await
        .unwrap();
    assert_eq!(stored, 0, "a refused command wrote events");

    // A command at a version the user has moved past: 409 with the current version, and
    // nothing written. The same key again answers the first outcome, not a second rename.
    let user = stack.register("versioned", 1_000).await.to_string();
    let rename = "mutation($id: UUID!, $name: String!, $at: Int, $key: String) {
        renameUser(id: $id, name: $name, expectedVersion: $at, idempotencyKey: $key) { version } }";
    let renamed = data(
        &admin,
        &gateway,
        rename,
        json!({ "id": user, "name": "First", "at": 1, "key": "rename-once" }),
    )
    .await;
    assert_eq!(renamed["renameUser"]["version"], 2);
    let again = data(
        &admin,
        &gateway,
        rename,
        json!({ "id": user, "name": "First", "at": 1, "key": "rename-once" }),
    )
    .await;
    assert_eq!(
        again["renameUser"]["version"], 2,
        "a retry is answered, not run"
    );
    let (status, body) = gql(
        &admin,
        &gateway,
        rename,
        json!({ "id": user, "name": "Stale", "at": 1 }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let error = &body["errors"][0]["extensions"];
    assert_eq!(error["status"], 409, "{body}");
    assert_eq!(error["currentVersion"], 2, "{body}");
    let versions: Vec<i64> =
        sqlx::query_scalar("SELECT sequence FROM events WHERE aggregate_id = $1 ORDER BY sequence")
            .bind(&user)
            .fetch_all(&stack.users_es)
            .await
            .unwrap();
    assert_eq!(
        versions,
        [1, 2],
        "the stale rename or the retry wrote events"
    );
}

#[tokio::test]
async fn a_customer_sees_and_acts_on_their_own_user_and_orders_only() {
    let stack = Stack::start(30_000).await;
    let gateway = started(stack.gateway(None)).await;
    let (own, other) = (
        stack.register("own", 10_000).await,
        stack.register("other", 10_000).await,
    );
    let others_order = stack.place(other, 100).await;
    stack.order_in(others_order, "APPROVED").await;
    let customer = client_as(&own.to_string(), Role::Customer);

    let me = data(&customer, &gateway, "{ me { subject role } }", json!({})).await;
    assert_eq!(
        me["me"],
        json!({ "subject": own.to_string(), "role": "CUSTOMER" })
    );
    let mine = data(
        &customer,
        &gateway,
        "query($id: UUID!) { user(id: $id, minVersion: 1) { id } }",
        json!({ "id": own }),
    )
    .await;
    assert_eq!(mine["user"]["id"], own.to_string());

    let theirs = data(
        &customer,
        &gateway,
        "query($id: UUID!, $order: UUID!) { user(id: $id) { id } order(id: $order) { id } }",
        json!({ "id": other, "order": others_order }),
    )
    .await;
    assert_eq!(
        theirs,
        json!({ "user": null, "order": null }),
        "another customer's data leaked"
    );

    let (_, renamed) = gql(
        &customer,
        &gateway,
        "mutation($id: UUID!) { renameUser(id: $id, name: \"Mallory\") { version } }",
        json!({ "id": other }),
    )
    .await;
    let status = renamed["errors"][0]["extensions"]["status"].as_u64();
    assert!(
        matches!(status, Some(403 | 404)),
        "renaming another user: {renamed}"
    );
    let view: Value = stack
        .get(&stack.users_query.address, &format!("/users/{other}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(view["name"], "Test User", "the other user was renamed");

    for operators_only in [
        "{ health { light } }",
        "{ topics { topics { name } } }",
        "{ projections { reachable } }",
    ] {
        let (_, body) = gql(&customer, &gateway, operators_only, json!({})).await;
        assert_eq!(
            body["errors"][0]["extensions"]["status"], 403,
            "{operators_only}: {body}"
        );
    }
}

#[tokio::test]
async fn requests_beyond_the_limits_or_without_a_valid_token_are_refused_before_they_run() {
    let gateway = started(lone_gateway(&test_support::kafka_brokers())).await;
    let admin = client_as("console-admin", Role::Admin);

    let deep = "{ order(id: \"0190c1c4-0000-7000-8000-000000000000\") { user { orders(first: 1) { items { user { orders(first: 1) { items { user { orders(first: 1) { items { id } } } } } } } } } } }";
    let (status, body) = gql(&admin, &gateway, deep, json!({})).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("too deep"),
        "{body}"
    );

    let wide =
        "{ users(first: 100) { items { orders(first: 100) { items { id status totalCents } } } } }";
    let (status, body) = gql(&admin, &gateway, wide, json!({})).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("complex"),
        "{body}"
    );

    let (status, body) = gql(&admin, &gateway, "{ nosuchfield }", json!({})).await;
    assert_eq!(status, 400, "{body}");

    let anonymous = reqwest::Client::new();
    let response = anonymous
        .post(format!("{}/graphql", gateway.address))
        .json(&json!({ "query": "{ me { subject } }" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );

    let malformed = admin
        .post(format!("{}/graphql", gateway.address))
        .header("content-type", "application/json")
        .body("{\"query\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), 400);

    // The schema is public, like every service's API document, and is the checked-in one.
    let sdl = anonymous
        .get(format!("{}/graphql/schema", gateway.address))
        .send()
        .await
        .unwrap();
    assert_eq!(sdl.status(), 200);
    assert_eq!(sdl.text().await.unwrap(), gateway::schema::sdl());
}

/// A graphql-transport-ws connection.
struct Socket(
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
);

impl Socket {
    /// Connects and sends `connection_init` with `token`; the server's first answer.
    async fn open(gateway: &Process, token: &str) -> (Self, Value) {
        let url = format!("ws://127.0.0.1:{}/graphql/ws", gateway.port);
        let mut request = url.into_client_request().unwrap();
        request.headers_mut().insert(
            "sec-websocket-protocol",
            "graphql-transport-ws".parse().unwrap(),
        );
        let (stream, _) = tokio_tungstenite::connect_async(request)
            .await
            .expect("the WebSocket opens");
        let mut socket = Self(stream);
        socket
            .send(json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {token}") } }))
            .await;
        let answer = socket.next().await;
        (socket, answer)
    }

    async fn send(&mut self, message: Value) {
        self.0
            .send(Message::text(message.to_string()))
            .await
            .expect("sent");
    }

    async fn subscribe(&mut self, id: &str, query: &str, variables: Value) {
        self.send(json!({ "id": id, "type": "subscribe", "payload": { "query": query, "variables": variables } }))
            .await;
    }

    /// The next text message (pings answered), or `{"type": "closed"}`.
    async fn next(&mut self) -> Value {
        loop {
            let message = tokio::time::timeout(SETTLE, self.0.next())
                .await
                .expect("a message within the deadline");
            match message {
                Some(Ok(Message::Text(text))) => {
                    let value: Value = serde_json::from_str(&text).unwrap();
                    if value["type"] == "ping" {
                        self.send(json!({ "type": "pong" })).await;
                        continue;
                    }
                    return value;
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => {
                    return json!({ "type": "closed" });
                }
                Some(Ok(_)) => {}
            }
        }
    }

    /// The next `next` payload of subscription `id` that `accept` takes.
    async fn until<T>(
        &mut self,
        id: &str,
        what: &str,
        mut accept: impl FnMut(&Value) -> Option<T>,
    ) -> T {
        let until = tokio::time::Instant::now() + SETTLE;
        loop {
            assert!(
                tokio::time::Instant::now() < until,
                "timed out waiting for {what}"
            );
            let message = self.next().await;
            assert_ne!(
                message["type"], "closed",
                "the socket closed waiting for {what}"
            );
            assert_ne!(message["type"], "error", "{what}: {message}");
            if message["type"] == "next" && message["id"] == id {
                assert!(
                    message["payload"].get("errors").is_none(),
                    "{what}: {message}"
                );
                if let Some(found) = accept(&message["payload"]["data"]) {
                    return found;
                }
            }
        }
    }
}

/// Whether a broker component shows `light`.
fn broker_is(health: &Value, light: &str) -> bool {
    health["components"]
        .as_array()
        .unwrap()
        .iter()
        .any(|component| component["kind"] == "BROKER" && component["light"] == light)
}

fn light_of<'a>(health: &'a Value, name: &str) -> &'a str {
    health["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|component| component["name"] == name)
        .and_then(|component| component["light"].as_str())
        .unwrap_or("absent")
}

#[tokio::test]
async fn subscriptions_stream_live_health_and_new_records_decoded() {
    let mut stack = Stack::start(30_000).await;
    let gateway = started(stack.gateway(None)).await;

    let (mut refused, answer) = Socket::open(&gateway, "not-a-token").await;
    assert_ne!(
        answer["type"], "connection_ack",
        "a bad token was accepted: {answer}"
    );
    drop(refused.0.close(None).await);

    let (mut socket, answer) = Socket::open(&gateway, &token("console-admin", Role::Admin)).await;
    assert_eq!(answer["type"], "connection_ack", "{answer}");
    socket
        .subscribe(
            "health",
            "subscription { health { light components { name kind light detail } pipelines { context topic light eventStoreHead eventStoreHeadAt outboxBacklog endOffset consumers { service checkpoint lag } } } }",
            json!({}),
        )
        .await;
    let healthy = socket
        .until("health", "every component green", |data| {
            let health = &data["health"];
            (health["light"] == "GREEN").then(|| health.clone())
        })
        .await;
    assert_eq!(light_of(&healthy, "users-query"), "GREEN");
    assert_eq!(light_of(&healthy, "postgres users_es"), "GREEN");
    assert!(broker_is(&healthy, "GREEN"), "{healthy}");

    // From 10 records back, so the user registered below is seen whether the tail was
    // assigned before or after its record was written.
    socket
        .subscribe(
            "tail",
            "subscription($topic: String!) { tail(topic: $topic, eventType: \"UserRegistered\", fromEnd: 10) { key partition offset envelope { eventType aggregateId sequence correlationId payload } error } }",
            json!({ "topic": stack.users_topic }),
        )
        .await;
    let user = stack.register("tailed", 1_000).await.to_string();
    let record = socket
        .until("tail", "the new user's UserRegistered record", |data| {
            let record = &data["tail"];
            (record["key"] == user.as_str()).then(|| record.clone())
        })
        .await;
    assert!(record["error"].is_null(), "{record}");
    assert_eq!(record["envelope"]["eventType"], "UserRegistered");
    assert_eq!(record["envelope"]["aggregateId"], user.as_str());
    assert_eq!(record["envelope"]["sequence"], 1);

    // Consistency at a glance: the users pipeline shows the event store's head moved to the
    // new event, nothing left in the outbox, and users-query's checkpoint at the topic's end.
    let position: i64 = sqlx::query_scalar("SELECT max(position) FROM events")
        .fetch_one(&stack.users_es)
        .await
        .unwrap();
    let pipeline = socket
        .until("health", "the users pipeline to catch up", |data| {
            let users = data["health"]["pipelines"]
                .as_array()?
                .iter()
                .find(|pipeline| pipeline["context"] == "users")?
                .clone();
            let consumer = &users["consumers"][0];
            (users["eventStoreHead"] == position
                && users["outboxBacklog"] == 0
                && users["endOffset"].as_i64() >= Some(1)
                && consumer["checkpoint"] == users["endOffset"]
                && consumer["lag"] == 0)
                .then_some(users)
        })
        .await;
    assert!(pipeline["eventStoreHeadAt"].is_string(), "{pipeline}");
    assert_eq!(pipeline["consumers"][0]["service"], "users-query");

    // A subscription does not outlive its token: signed in at connection_init with a token
    // that expires in a few seconds, it ends with a 401 error once that token expired.
    let short = token_expiring_in("console-admin", Role::Admin, 3);
    let (mut expiring, answer) = Socket::open(&gateway, &short).await;
    assert_eq!(answer["type"], "connection_ack", "{answer}");
    expiring
        .subscribe("health", "subscription { health { light } }", json!({}))
        .await;
    let mut reports = 0;
    let refusal = loop {
        let message = expiring.next().await;
        assert_eq!(message["id"], "health", "{message}");
        assert_eq!(
            message["type"], "next",
            "the subscription ended without an error: {message}"
        );
        if message["payload"]["errors"].is_array() {
            break message;
        }
        reports += 1;
        assert!(
            reports < 15,
            "the subscription outlived its token by half a minute"
        );
    };
    assert!(reports >= 1, "no report arrived while the token was valid");
    assert_eq!(
        refusal["payload"]["errors"][0]["extensions"]["status"], 401,
        "{refusal}"
    );
    assert_eq!(expiring.next().await["type"], "complete");

    // A service killed turns red, and green again once it is back.
    stack.users_query.kill().await;
    socket
        .until("health", "users-query to turn red", |data| {
            (light_of(&data["health"], "users-query") == "RED").then_some(())
        })
        .await;
    stack.users_query.start().await;
    socket
        .until("health", "users-query to recover", |data| {
            (light_of(&data["health"], "users-query") == "GREEN").then_some(())
        })
        .await;
}

#[tokio::test]
async fn a_broker_that_goes_away_is_shown_down_and_requests_about_it_fail_fast() {
    let broker = PrivateBroker::start().await;
    let gateway = started(lone_gateway(&broker.brokers())).await;
    let admin = client_as("console-admin", Role::Admin);

    eventually(SETTLE, "the broker to show green", || async {
        let health = data(
            &admin,
            &gateway,
            "{ health { components { name kind light } } }",
            json!({}),
        )
        .await;
        broker_is(&health["health"], "GREEN").then_some(())
    })
    .await;

    broker.kill();
    let down = eventually(SETTLE, "the broker to show red", || async {
        let health = data(
            &admin,
            &gateway,
            "{ health { light components { name kind light detail } } }",
            json!({}),
        )
        .await;
        (light_of(&health["health"], "kafka") == "RED").then_some(health)
    })
    .await;
    assert_eq!(down["health"]["light"], "RED");

    // Asking about the topics answers with an error, not a request hanging on the broker.
    let (status, body) = gql(
        &admin,
        &gateway,
        "{ topics { topics { name } } }",
        json!({}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["errors"][0]["extensions"]["status"], 503, "{body}");

    broker.restart().await;
    eventually(SETTLE, "the broker to show green again", || async {
        let health = data(
            &admin,
            &gateway,
            "{ health { components { name kind light } } }",
            json!({}),
        )
        .await;
        broker_is(&health["health"], "GREEN").then_some(())
    })
    .await;
}

const FOLLOW: &str =
    "query($id: String!) { follow(correlationId: $id) { correlationId done stuckAt tookMs
    events { context eventType aggregateId sequence hops { name state afterMs detail } } } }";

/// The hops of `event_type` in a followed request, as (name, state).
fn hops_of(follow: &Value, event_type: &str) -> Vec<(String, String)> {
    let event = follow["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|event| event["eventType"] == event_type)
        .unwrap_or_else(|| panic!("no {event_type} in {follow}"));
    event["hops"]
        .as_array()
        .unwrap()
        .iter()
        .map(|hop| {
            (
                hop["name"].as_str().unwrap().to_owned(),
                hop["state"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_placed_order_is_followed_through_every_hop_and_the_hop_it_waits_at_is_named() {
    let mut stack = Stack::start(30_000).await;
    let gateway = started(stack.gateway(None)).await;
    let admin = client_as("console-admin", Role::Admin);
    let user = stack.register("followed", 10_000).await;

    // With the saga down, the order goes as far as the read model and waits for the saga.
    stack.saga.kill().await;
    let placed = data(
        &admin,
        &gateway,
        "mutation($input: PlaceOrderInput!) { placeOrder(input: $input) { id correlationId } }",
        json!({ "input": { "userId": user, "items": [{ "sku": "FOLLOW-1", "quantity": 1, "unitPriceCents": 700 }] } }),
    )
    .await["placeOrder"]
        .clone();
    let correlation = placed["correlationId"]
        .as_str()
        .expect("a correlation id")
        .to_owned();
    let waiting = eventually(SETTLE, "the order to wait at the saga", || async {
        let follow =
            data(&admin, &gateway, FOLLOW, json!({ "id": correlation })).await["follow"].clone();
        let stuck = follow["stuckAt"].as_str().unwrap_or_default().to_owned();
        stuck.contains("saga-orchestrator").then_some(follow)
    })
    .await;
    assert_eq!(waiting["done"], false);
    let hops = hops_of(&waiting, "OrderPlaced");
    for done in [
        "event store",
        "outbox",
        stack.orders_topic.as_str(),
        "orders-query",
    ] {
        assert!(
            hops.iter()
                .any(|(name, state)| name == done && state == "DONE"),
            "{done} is not done in {hops:?}"
        );
    }

    // Once the saga is back, every hop is done: the reservation in the Users context and the
    // approval are followed by the same correlation id.
    stack.saga.start().await;
    let finished = eventually(SETTLE, "the followed order to be done", || async {
        let follow =
            data(&admin, &gateway, FOLLOW, json!({ "id": correlation })).await["follow"].clone();
        (follow["done"] == true).then_some(follow)
    })
    .await;
    assert!(finished["stuckAt"].is_null(), "{finished}");
    let placed_hops = hops_of(&finished, "OrderPlaced");
    for step in [
        "saga place-order",
        "saga: reserve-credit",
        "saga: approve-order",
    ] {
        assert!(
            placed_hops
                .iter()
                .any(|(name, state)| name == step && state == "DONE"),
            "{step} is not done in {placed_hops:?}"
        );
    }
    let contexts: Vec<&str> = finished["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["context"].as_str().unwrap())
        .collect();
    assert!(
        contexts.contains(&"users"),
        "the credit reservation was not followed: {finished}"
    );
    assert!(
        hops_of(&finished, "OrderApproved")
            .iter()
            .all(|(_, state)| state == "DONE"),
        "{finished}"
    );
    let topic_hop = finished["events"][0]["hops"]
        .as_array()
        .unwrap()
        .iter()
        .find(|hop| {
            hop["detail"]
                .as_str()
                .is_some_and(|detail| detail.starts_with("partition "))
        })
        .cloned()
        .expect("a hop on the topic with its partition and offset");
    assert!(topic_hop["afterMs"].as_i64().is_some(), "{topic_hop}");

    // A correlation id nothing carries is followed to nothing, and a malformed one is refused.
    let nothing = data(
        &admin,
        &gateway,
        FOLLOW,
        json!({ "id": "no-such-correlation" }),
    )
    .await["follow"]
        .clone();
    assert_eq!(nothing["events"], json!([]));
    assert_eq!(nothing["done"], false);
    let (_, refused) = gql(
        &admin,
        &gateway,
        FOLLOW,
        json!({ "id": "bad id with spaces" }),
    )
    .await;
    assert_eq!(
        refused["errors"][0]["extensions"]["status"], 400,
        "{refused}"
    );
}

#[tokio::test]
async fn an_operator_exports_a_users_data_and_erases_it_for_good() {
    let stack = Stack::start(30_000).await;
    let gateway = started(stack.gateway(None)).await;
    let admin = client_as("console-admin", Role::Admin);
    let user = stack.register("erased", 5_000).await;

    let export = data(
        &admin,
        &gateway,
        "query($id: UUID!) { userExport(id: $id) }",
        json!({ "id": user }),
    )
    .await["userExport"]
        .clone();
    assert_eq!(export["subject"], user.to_string(), "{export}");
    assert_eq!(export["user"]["state"]["name"], "Test User", "{export}");

    let erased = data(
        &admin,
        &gateway,
        "mutation($id: UUID!) { eraseUser(id: $id, reason: \"erasure request 2026-7\") { version } }",
        json!({ "id": user }),
    )
    .await["eraseUser"]
        .clone();
    let version = erased["version"].as_i64().unwrap();
    let after = data(
        &admin,
        &gateway,
        "query($id: UUID!, $v: Int!) { user(id: $id, minVersion: $v) { status name email } }",
        json!({ "id": user, "v": version }),
    )
    .await["user"]
        .clone();
    assert_eq!(
        after,
        json!({ "status": "ERASED", "name": "[erased]", "email": "[erased]" })
    );

    // A customer may not export, not even their own data (the service's rule, passed on).
    let customer = client_as(&user.to_string(), Role::Customer);
    let (_, refused) = gql(
        &customer,
        &gateway,
        "query($id: UUID!) { userExport(id: $id) }",
        json!({ "id": user }),
    )
    .await;
    assert_eq!(
        refused["errors"][0]["extensions"]["status"], 403,
        "{refused}"
    );
}
