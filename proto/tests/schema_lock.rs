//! The wire contracts only grow: every field recorded in `schema.lock` (the previous version)
//! must still exist with the same number, type and oneof. Record additions with
//! `UPDATE_SCHEMA_LOCK=1 cargo nextest run -p contracts`.

use std::path::PathBuf;

fn lock_path() -> PathBuf {
    // At run time (cargo and nextest set it): a build reused from another checkout of the
    // workspace would carry that checkout's path in env!.
    let crate_dir = std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from);
    crate_dir.join("schema.lock")
}

#[test]
fn contracts_change_only_by_addition() {
    let current = contracts::schema_summary();
    if std::env::var_os("UPDATE_SCHEMA_LOCK").is_some() {
        let previous = std::fs::read_to_string(lock_path()).unwrap_or_default();
        let missing: Vec<&str> = previous
            .lines()
            .filter(|l| !current.iter().any(|c| c == l))
            .collect();
        assert!(
            missing.is_empty(),
            "refusing to record a breaking change: {missing:#?}"
        );
        std::fs::write(lock_path(), current.join("\n") + "\n").expect("schema.lock written");
        return;
    }
    let locked = std::fs::read_to_string(lock_path()).expect("proto/schema.lock exists");
    let removed: Vec<&str> = locked
        .lines()
        .filter(|l| !current.iter().any(|c| c == l))
        .collect();
    assert!(
        removed.is_empty(),
        "breaking contract change: these fields were removed or changed: {removed:#?}"
    );
    let added: Vec<&String> = current
        .iter()
        .filter(|c| !locked.lines().any(|l| l == c.as_str()))
        .collect();
    assert!(
        added.is_empty(),
        "new contract fields are not recorded in proto/schema.lock; run \
         UPDATE_SCHEMA_LOCK=1 cargo nextest run -p contracts and commit it: {added:#?}"
    );
}

#[test]
fn the_summary_sees_the_envelope_and_the_user_events() {
    let summary = contracts::schema_summary();
    assert!(
        summary.contains(&"cqrs.events.v1.EventEnvelope.sequence = 4 uint64".to_owned()),
        "{summary:#?}"
    );
    assert!(summary.contains(
        &"cqrs.events.v1.EventEnvelope.user = 16 cqrs.users.v1.UserEvent oneof payload".to_owned()
    ));
    assert!(
        summary.contains(&"cqrs.users.v1.UserCreditReserved.amount_cents = 2 int64".to_owned())
    );
}
