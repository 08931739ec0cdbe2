//! `<service> migrate`, what a Kubernetes migration Job runs: each of the five binaries brings
//! its own database's schema up to date on a fresh database and exits 0, does it again as a
//! no-op, and fails with a non-zero exit when the database cannot be reached.

use std::time::Duration;

use service_kit::settings::DatabaseSettings;
use test_support::stack::binary;
use test_support::{database_env, fresh_database};

/// Each binary, its settings prefix and what must exist once it migrated.
const SERVICES: &[(&str, &str, &str)] = &[
    (
        "users-command",
        "USERS_COMMAND",
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public' \
         AND table_name IN ('events', 'outbox', 'snapshots', 'unique_claims', 'idempotency_keys')",
    ),
    (
        "orders-command",
        "ORDERS_COMMAND",
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public' \
         AND table_name IN ('events', 'outbox', 'snapshots', 'unique_claims', 'idempotency_keys')",
    ),
    (
        "users-query",
        "USERS_QUERY",
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'users_view'",
    ),
    (
        "orders-query",
        "ORDERS_QUERY",
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'orders_view'",
    ),
    (
        "saga-orchestrator",
        "SAGA_ORCHESTRATOR",
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'saga'",
    ),
];

async fn migrate(name: &str, prefix: &str, database: &DatabaseSettings) -> std::process::Output {
    let run = tokio::process::Command::new(binary(name))
        .arg("migrate")
        .envs(database_env(&format!("{prefix}__DATABASE"), database))
        .env(format!("{prefix}__DATABASE__ACQUIRE_TIMEOUT_SECS"), "3")
        .env("RUST_LOG", "info")
        .kill_on_drop(true)
        .output();
    tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .unwrap_or_else(|_| panic!("{name} migrate did not exit within a minute"))
        .expect("the binary runs")
}

#[tokio::test]
async fn every_service_migrates_its_database_and_exits() {
    for (name, prefix, tables) in SERVICES {
        let database = fresh_database().await;
        let pool = database.pool();
        let before: i64 = sqlx::query_scalar(tables).fetch_one(&pool).await.unwrap();
        assert_eq!(before, 0, "{name}: a fresh database has none of its tables");

        let first = migrate(name, prefix, &database).await;
        assert!(
            first.status.success(),
            "{name} migrate failed: {}",
            String::from_utf8_lossy(&first.stderr)
        );
        let created: i64 = sqlx::query_scalar(tables).fetch_one(&pool).await.unwrap();
        assert!(created > 0, "{name} migrate created no table");
        let log = String::from_utf8_lossy(&first.stdout);
        assert!(
            log.contains("schema is up to date"),
            "{name} migrate says what it did: {log}"
        );

        let again = migrate(name, prefix, &database).await;
        assert!(again.status.success(), "{name} migrate twice is a no-op");
        let after: i64 = sqlx::query_scalar(tables).fetch_one(&pool).await.unwrap();
        assert_eq!(after, created, "{name}: the second run changed the tables");
        pool.close().await;
    }
}

#[tokio::test]
async fn migrate_fails_when_the_database_is_unreachable_and_refuses_extra_arguments() {
    for (name, prefix, _) in SERVICES {
        let mut nowhere = test_support::server_settings();
        nowhere.port = 1;
        nowhere.database_name = "nowhere".to_owned();
        let failed = migrate(name, prefix, &nowhere).await;
        assert!(!failed.status.success(), "{name} migrate against port 1");
        let stderr = String::from_utf8_lossy(&failed.stderr);
        assert!(
            stderr.contains("migrating"),
            "{name}: the error says what failed: {stderr}"
        );

        let extra = std::process::Command::new(binary(name))
            .args(["migrate", "now"])
            .output()
            .expect("the binary runs");
        assert_eq!(extra.status.code(), Some(2), "{name} migrate now");
        assert!(String::from_utf8_lossy(&extra.stderr).contains("unexpected argument \"now\""));
    }
}
