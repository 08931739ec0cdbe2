//! orders-command under test: in-process on port 0 against a fresh database and topic, and
//! the Orders context of the shared invariant tests.

#![allow(dead_code)]

use std::sync::Arc;

use event_store::CommandBus;
use orders_command::{Application, Settings};
use orders_domain::OrdersContract;
use orders_domain::{Items, LineItem, Order, OrderCommand, Quantity, Reason, Sku, UnitPrice};
use serde_json::{Value, json};
use sqlx::PgPool;
use test_support::invariants::CommandContext;
use test_support::service::Running;
use test_support::store::{Counts, counts};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// orders-command running in the test process.
pub struct TestApp {
    pub running: Running,
    pub pool: PgPool,
    pub topic: String,
}

impl std::ops::Deref for TestApp {
    type Target = Running;
    fn deref(&self) -> &Running {
        &self.running
    }
}

impl TestApp {
    /// Without a relay, so outbox rows stay where the command left them.
    pub async fn spawn() -> Self {
        let database = test_support::fresh_database().await;
        let topic = test_support::fresh_topic("orders.events", 3).await;
        let mut settings = Settings::default();
        settings.http.port = 0;
        settings.auth = test_support::auth::settings();
        settings.http.workers = 2;
        settings.database = database.clone();
        settings.kafka.brokers = test_support::kafka_brokers();
        settings.topic = topic.clone();
        settings.relay.enabled = false;
        let cancel = CancellationToken::new();
        let service = Application::build(settings, cancel.clone())
            .await
            .expect("orders-command builds");
        let running = Running::start(service.port(), cancel, service.run_until_stopped());
        Self {
            running,
            pool: database.pool(),
            topic,
        }
    }

    pub async fn counts(&self) -> Counts {
        counts(&self.pool).await
    }

    /// Places an order for `user_id` and returns its id.
    pub async fn place(&self, user_id: Uuid) -> Uuid {
        let response = self.post("/orders", place_body(user_id)).await;
        assert_eq!(response.status(), 202, "placing an order");
        let body: Value = response.json().await.expect("json body");
        body["id"].as_str().expect("id").parse().expect("uuid id")
    }
}

/// A valid `POST /orders` body: 2 × 1250 + 3 × 199 = 3097 cents.
pub fn place_body(user_id: Uuid) -> Value {
    json!({
        "user_id": user_id,
        "items": [
            { "sku": "BOOK-1", "quantity": 2, "unit_price_cents": 1250 },
            { "sku": "PEN-7", "quantity": 3, "unit_price_cents": 199 },
        ]
    })
}

pub fn bus(pool: &PgPool, topic: &str) -> CommandBus<Order> {
    CommandBus::new(pool.clone(), Arc::new(OrdersContract::new(topic)), ())
}

/// The Orders context of the shared invariant tests: orders are placed, approved, cancelled.
pub struct Orders;

impl CommandContext for Orders {
    const TOPIC: &'static str = "orders.events";
    const ENV_PREFIX: &'static str = "ORDERS_COMMAND";
    const MAX_EVENTS: usize = 3;

    fn binary() -> &'static str {
        env!("CARGO_BIN_EXE_orders-command")
    }

    fn create(_: usize) -> (String, Value) {
        ("/orders".into(), place_body(Uuid::now_v7()))
    }

    fn change(id: Uuid, n: usize) -> (String, Value) {
        match n {
            2 => (format!("/orders/{id}/approve"), json!({})),
            3 => (
                format!("/orders/{id}/cancel"),
                json!({ "reason": "changed my mind" }),
            ),
            _ => panic!("an order has at most {} events", Self::MAX_EVENTS),
        }
    }

    async fn arrange(
        pool: &PgPool,
        topic: &str,
        aggregates: usize,
        events: usize,
        parallel: usize,
    ) -> Vec<Uuid> {
        use futures::StreamExt;
        let bus = &bus(pool, topic);
        futures::stream::iter(0..aggregates)
            .map(|i| async move {
                let id = Uuid::now_v7();
                let line = LineItem {
                    sku: Sku::parse(&format!("SKU-{i}")).unwrap(),
                    quantity: Quantity::parse(1).unwrap(),
                    unit_price: UnitPrice::parse(100 + i as i64).unwrap(),
                };
                let mut commands = vec![OrderCommand::Place {
                    order_id: id,
                    user_id: Uuid::now_v7(),
                    items: Items::new(vec![line]).unwrap(),
                    currency: orders_domain::Currency::settlement(),
                }];
                commands.push(OrderCommand::Approve);
                commands.push(OrderCommand::Cancel {
                    reason: Reason::parse("arranged").unwrap(),
                });
                for command in commands.into_iter().take(events) {
                    bus.execute(&id.to_string(), command, None, Default::default())
                        .await
                        .expect("arranged");
                }
                id
            })
            .buffer_unordered(parallel)
            .collect()
            .await
    }
}
