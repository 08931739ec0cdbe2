//! The console end to end: the real stack, the gateway serving the built console
//! (console/dist, which `cargo xtask test` builds first), and the browser tests of
//! console/e2e driving Debian's Chromium through playwright-core, as a person would.
//!
//! The browser tests ask this harness to kill and restart a service over a small HTTP
//! control endpoint on loopback (`CONTROL_URL`): `POST /kill/<service>`, `POST
//! /start/<service>`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use service_kit::auth::Role;
use test_support::auth::token;
use test_support::stack::{Process, Stack};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Mutex;
use uuid::Uuid;

/// Longest the browser tests may run before the harness fails them.
const BROWSER_TESTS: Duration = Duration::from_secs(480);

fn console_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../console")
}

/// The services the browser tests may stop and start.
fn process<'a>(stack: &'a mut Stack, name: &str) -> Option<&'a mut Process> {
    match name {
        "users-command" => Some(&mut stack.users_command),
        "users-query" => Some(&mut stack.users_query),
        "orders-command" => Some(&mut stack.orders_command),
        "orders-query" => Some(&mut stack.orders_query),
        "saga-orchestrator" => Some(&mut stack.saga),
        _ => None,
    }
}

/// Serves `POST /kill/<service>` and `POST /start/<service>` until the test ends.
async fn control(stack: Arc<Mutex<Stack>>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut connection, _)) = listener.accept().await {
            let mut request = vec![0; 4096];
            let read = connection.read(&mut request).await.unwrap_or(0);
            let line = String::from_utf8_lossy(&request[..read])
                .lines()
                .next()
                .unwrap_or_default()
                .to_owned();
            let mut parts = line.split_whitespace();
            let (method, path) = (
                parts.next().unwrap_or_default(),
                parts.next().unwrap_or_default(),
            );
            let mut stack = stack.lock().await;
            let status = match (method, path.split('/').nth(1), path.split('/').nth(2)) {
                ("POST", Some(action @ ("kill" | "start")), Some(name)) => {
                    match process(&mut stack, name) {
                        Some(service) if action == "kill" => {
                            service.kill().await;
                            "200 OK"
                        }
                        Some(service) => {
                            service.start().await;
                            "200 OK"
                        }
                        None => "404 Not Found",
                    }
                }
                _ => "404 Not Found",
            };
            let answer =
                format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
            let _ = connection.write_all(answer.as_bytes()).await;
        }
    });
    address
}

/// Registers a customer with 1000 EUR of credit under a name of their own, so a page that
/// shows one customer's name cannot be mistaken for the other's.
async fn register(stack: &Stack, email_prefix: &str, name: &str) -> Uuid {
    let response = stack
        .client
        .post(format!("{}/users", stack.users_command.address))
        .json(&serde_json::json!({
            "email": format!("{email_prefix}-{}@example.com", Uuid::new_v4().simple()),
            "name": name,
            "credit_limit_cents": 100_000,
        }))
        .send()
        .await
        .expect("register sent");
    assert_eq!(response.status(), 201, "{:?}", response.text().await);
    let body: serde_json::Value = response.json().await.unwrap();
    body["id"].as_str().unwrap().parse().unwrap()
}

#[tokio::test]
async fn a_person_uses_the_console_in_a_real_browser() {
    let dist = console_dir().join("dist");
    assert!(
        dist.join("index.html").is_file(),
        "{} holds no built console: `cargo xtask test` builds it (npm ci && npm run build in console/)",
        dist.display()
    );
    let chromium = std::env::var("TEST_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        Path::new(&chromium).exists(),
        "{chromium} is missing: `cargo xtask test` installs Debian's chromium"
    );

    let stack = Stack::start(30_000).await;
    let customer = register(&stack, "customer", "Casey Customer").await;
    let other = register(&stack, "other", "Olive Other").await;
    let others_order = stack.place(other, 1_000).await;
    stack.order_in(others_order, "APPROVED").await;
    let mut gateway = stack.gateway(Some(&dist));
    gateway.start().await;
    let topics = (stack.users_topic.clone(), stack.orders_topic.clone());
    let stack = Arc::new(Mutex::new(stack));
    let control = control(stack.clone()).await;

    let screenshots = std::env::var("SCREENSHOTS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| console_dir().join("test-results/screenshots"));
    std::fs::create_dir_all(&screenshots).unwrap();
    let mut node = tokio::process::Command::new("node");
    node.args(["--test", "--test-concurrency=1", "e2e/"])
        .current_dir(console_dir())
        .env("CONSOLE_URL", &gateway.address)
        .env("ADMIN_TOKEN", token("console-admin", Role::Admin))
        .env(
            "CUSTOMER_TOKEN",
            token(&customer.to_string(), Role::Customer),
        )
        .env("CUSTOMER_USER_ID", customer.to_string())
        .env("OTHER_USER_ID", other.to_string())
        .env("OTHER_ORDER_ID", others_order.to_string())
        .env("CONTROL_URL", &control)
        .env("USERS_TOPIC", &topics.0)
        .env("ORDERS_TOPIC", &topics.1)
        .env("SCREENSHOTS_DIR", &screenshots)
        .env("CHROMIUM_PATH", &chromium)
        .kill_on_drop(true);
    let status = tokio::time::timeout(BROWSER_TESTS, node.status())
        .await
        .expect("the browser tests finish within their time")
        .expect("node runs (cargo xtask test installs Node.js)");
    assert!(
        status.success(),
        "the browser tests failed ({status}); their report is above"
    );
    drop(gateway);
}
