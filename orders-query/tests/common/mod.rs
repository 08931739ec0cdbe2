//! orders-query and orders-command started in-process against fresh databases and a fresh
//! topic, so commands flow through the outbox, the relay, Kafka and the projector.

#![allow(dead_code)]

use std::time::Duration;

use serde_json::{Value, json};
use sqlx::PgPool;
use test_support::service::Running;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// Both services of the Orders context on one event store and topic.
pub struct Stack {
    pub command: Running,
    pub query: Running,
    /// The event store.
    pub store: PgPool,
    /// The read model, search path on its live schema.
    pub read: PgPool,
    pub topic: String,
}

impl Stack {
    /// orders-command (relay on when `relay`) and orders-query.
    pub async fn start(relay: bool) -> Self {
        let store = test_support::fresh_database().await;
        let read = test_support::fresh_database().await;
        let topic = test_support::fresh_topic("orders.events", 3).await;

        let mut settings = orders_command::Settings::default();
        settings.http.port = 0;
        settings.auth = test_support::auth::settings();
        settings.http.workers = 2;
        settings.database = store.clone();
        settings.kafka.brokers = test_support::kafka_brokers();
        settings.topic = topic.clone();
        settings.relay.enabled = relay;
        settings.relay.sweep_interval_ms = 500;
        let cancel = CancellationToken::new();
        let service = orders_command::Application::build(settings, cancel.clone())
            .await
            .expect("orders-command builds");
        let command = Running::start(service.port(), cancel, service.run_until_stopped());

        let mut settings = orders_query::Settings::default();
        settings.http.port = 0;
        settings.auth = test_support::auth::settings();
        settings.http.workers = 2;
        settings.database = read.clone();
        settings.event_store = store.clone();
        settings.kafka.brokers = test_support::kafka_brokers();
        settings.topic = topic.clone();
        settings.projector.group_id = format!("orders-query-{}", Uuid::new_v4().simple());
        let cancel = CancellationToken::new();
        let service = orders_query::Application::build(settings, cancel.clone())
            .await
            .expect("orders-query builds");
        let query = Running::start(service.port(), cancel, service.run_until_stopped());
        let read = read.pool_with(
            read.connect_options()
                .options([("search_path", orders_query::projection::SCHEMA)]),
        );
        Self {
            command,
            query,
            store: store.pool(),
            read,
            topic,
        }
    }

    /// Places an order of `quantity` × `price` for `user`; returns its id.
    pub async fn place(&self, user: Uuid, quantity: i64, price: i64) -> Uuid {
        let body = json!({ "user_id": user, "items": [
            { "sku": "SKU-1", "quantity": quantity, "unit_price_cents": price }
        ] });
        let response = self.command.post("/orders", body).await;
        assert_eq!(response.status(), 202, "placed");
        let body: Value = response.json().await.expect("json");
        body["id"].as_str().unwrap().parse().unwrap()
    }

    /// Runs `transition` (`approve`, `reject`, `cancel`) on `order`; returns the new version.
    pub async fn transition(&self, order: Uuid, transition: &str) -> u64 {
        let response = self
            .command
            .post(
                &format!("/orders/{order}/{transition}"),
                json!({ "reason": format!("{transition} in a test") }),
            )
            .await;
        assert_eq!(response.status(), 200, "{transition} {order}");
        let body: Value = response.json().await.expect("json");
        body["version"].as_u64().unwrap()
    }

    /// The order at `version` or later, waiting for it through `min_version`.
    pub async fn order_at(&self, id: Uuid, version: u64) -> Value {
        let response = self
            .query
            .get(&format!("/orders/{id}?min_version={version}&wait_ms=10000"))
            .await;
        assert_eq!(response.status(), 200, "order {id} at version {version}");
        response.json().await.expect("json")
    }

    pub async fn summary(&self, user: Uuid) -> Value {
        let response = self
            .query
            .get(&format!("/users/{user}/order-summary"))
            .await;
        assert_eq!(response.status(), 200);
        response.json().await.expect("json")
    }

    /// Waits until the projector applied every stored event.
    pub async fn caught_up(&self) {
        test_support::eventually(
            Duration::from_secs(60),
            "the projection to catch up",
            || async {
                let stored: Vec<(String, i64)> = sqlx::query_as(
                    "SELECT aggregate_id, max(sequence) FROM events GROUP BY aggregate_id",
                )
                .fetch_all(&self.store)
                .await
                .ok()?;
                let applied: Vec<(Uuid, i64)> = sqlx::query_as("SELECT id, version FROM orders")
                    .fetch_all(&self.read)
                    .await
                    .ok()?;
                let applied: std::collections::HashMap<String, i64> = applied
                    .into_iter()
                    .map(|(id, version)| (id.to_string(), version))
                    .collect();
                stored
                    .iter()
                    .all(|(id, version)| applied.get(id) == Some(version))
                    .then_some(())
            },
        )
        .await;
    }

    /// The whole read model as text, row for row, for comparisons.
    /// Rebuilds the read model from the event store through `/admin/rebuild` and waits for
    /// it to succeed.
    pub async fn rebuild(&self) {
        let started = self
            .query
            .client
            .post(self.query.url("/admin/rebuild"))
            .send()
            .await
            .unwrap();
        assert_eq!(started.status(), 202);
        test_support::eventually(Duration::from_secs(60), "the rebuild to finish", || async {
            let status: Value = self.query.get("/admin/rebuild").await.json().await.ok()?;
            match status["state"].as_str() {
                Some("succeeded") => Some(()),
                Some("failed") => panic!("rebuild failed: {status}"),
                _ => None,
            }
        })
        .await;
    }

    pub async fn read_model(&self) -> (Vec<String>, Vec<String>) {
        let orders = sqlx::query_scalar("SELECT row_to_json(o)::text FROM orders o ORDER BY id")
            .fetch_all(&self.read)
            .await
            .expect("orders");
        let summaries = sqlx::query_scalar(
            "SELECT row_to_json(s)::text FROM order_summaries s ORDER BY user_id, status",
        )
        .fetch_all(&self.read)
        .await
        .expect("summaries");
        (orders, summaries)
    }
}

/// `{"count": n, "total_cents": t}`.
pub fn bucket(count: i64, total_cents: i64) -> Value {
    json!({ "count": count, "total_cents": total_cents })
}
