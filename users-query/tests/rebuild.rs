//! Invariant 5 end to end on users-query: `POST /admin/rebuild` rebuilds the Users read model
//! from the Users event store equal, row for row, to the live one, which applied the same
//! events one by one (the rebuild folds whole users in memory). The rebuild itself (50 000
//! events during writes and reads, a refused switch) is tested with a projection of its own in
//! crates/projector/tests/rebuild.rs.

mod common;

use std::time::Duration;

use common::{QueryApp, Store, converged, rename, reserve};
use serde_json::Value;
use users_domain::{CreditCents, Email, Reason, UserCommand};

#[tokio::test]
async fn a_rebuild_over_http_equals_the_live_users_model_row_for_row() {
    let store = Store::new().await;
    let mut users = Vec::new();
    for n in 0..12 {
        let commands = vec![reserve(10), rename(&format!("Rebuilt {n}")), reserve(20)];
        users.push(store.user(1_000, commands).await);
    }
    // Every kind of event, so the rebuild's bulk fold of whole users meets each one.
    let reason = || Reason::parse("rebuild test").unwrap();
    let others = vec![
        UserCommand::ChangeEmail {
            email: Email::parse("changed@example.com").unwrap(),
        },
        UserCommand::ChangeCreditLimit {
            credit_limit: CreditCents::parse(5_000).unwrap(),
        },
        UserCommand::Deactivate { reason: reason() },
    ];
    users.push(store.user(1_000, others).await);
    let order_id = uuid::Uuid::now_v7();
    let erased = vec![
        UserCommand::ReserveCredit {
            order_id,
            amount: CreditCents::parse_positive(30).unwrap(),
        },
        UserCommand::Erase { reason: reason() },
        UserCommand::ReleaseCredit { order_id },
    ];
    users.push(store.user(1_000, erased).await);
    for user in &users {
        store.publish(*user, &[1, 2, 3, 4]).await;
    }
    let live = QueryApp::spawn(&store).await;
    let rebuilt = QueryApp::spawn(&store).await;
    converged(&live, &store, Duration::from_secs(60)).await;
    converged(&rebuilt, &store, Duration::from_secs(60)).await;
    // Damage that only a rebuild from the event store repairs.
    sqlx::query("UPDATE users SET reserved_cents = 0, name = 'damaged'")
        .execute(&rebuilt.pool)
        .await
        .unwrap();
    let started = rebuilt
        .client
        .post(rebuilt.url("/admin/rebuild"))
        .send()
        .await
        .unwrap();
    assert_eq!(started.status(), 202);
    let status = test_support::eventually(Duration::from_secs(60), "the rebuild", || async {
        let status: Value = rebuilt.get("/admin/rebuild").await.json().await.unwrap();
        (status["state"] != "running").then_some(status)
    })
    .await;
    assert_eq!(status["state"], "succeeded", "{status}");
    assert_eq!(status["total"], 14 * 4);
    assert_eq!(
        rebuilt.rows().await,
        live.rows().await,
        "rebuilt and live models are equal row for row"
    );
    rebuilt.stop().await;
    live.stop().await;
}
