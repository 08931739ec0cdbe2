//! The wire contracts only grow. Two files guard them:
//!
//! - `proto/released/<version>.lock`: the contract as it was released. Envelopes of that
//!   contract sit in the event stores and on the topics, and other teams decode them, so every
//!   line of every released lock must still be in today's contract (same number, type, oneof).
//! - `proto/schema.lock`: today's contract, recorded, so a change shows in review. Record one
//!   with `UPDATE_SCHEMA_LOCK=1 cargo nextest run -p contracts` (refused if it would drop a
//!   released line). To release, copy it to `proto/released/<version>.lock` (ADR 0004).

use std::path::PathBuf;

fn crate_dir() -> PathBuf {
    // At run time (cargo and nextest set it): a build reused from another checkout of the
    // workspace would carry that checkout's path in env!.
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from)
}

/// Every released lock: (file name, its lines).
fn released() -> Vec<(String, Vec<String>)> {
    let dir = crate_dir().join("released");
    let mut locks: Vec<(String, Vec<String>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|error| panic!("reading {}: {error}", dir.display()))
        .flatten()
        .filter(|entry| entry.path().extension().is_some_and(|e| e == "lock"))
        .map(|entry| {
            let text = std::fs::read_to_string(entry.path()).expect("a released lock");
            (
                entry.file_name().to_string_lossy().into_owned(),
                // `#` lines say when and why it was released.
                text.lines()
                    .filter(|line| !line.starts_with('#'))
                    .map(str::to_owned)
                    .collect(),
            )
        })
        .collect();
    locks.sort();
    locks
}

/// The lines of `lock` that `current` lacks.
fn missing<'a>(lock: &'a [String], current: &[String]) -> Vec<&'a str> {
    lock.iter()
        .filter(|line| !current.contains(line))
        .map(String::as_str)
        .collect()
}

#[test]
fn the_contract_keeps_every_line_of_every_released_contract() {
    let current = contracts::schema_summary();
    let locks = released();
    assert!(
        !locks.is_empty(),
        "proto/released/ holds the released contracts"
    );
    for (name, lines) in locks {
        let broken = missing(&lines, &current);
        assert!(
            broken.is_empty(),
            "breaking change against the released contract {name}: these lines were removed \
             or changed: {broken:#?}"
        );
    }
}

#[test]
fn schema_lock_records_the_contract_as_it_is() {
    let current = contracts::schema_summary();
    let path = crate_dir().join("schema.lock");
    if std::env::var_os("UPDATE_SCHEMA_LOCK").is_some() {
        for (name, lines) in released() {
            let broken = missing(&lines, &current);
            assert!(
                broken.is_empty(),
                "refusing to record a change that breaks the released {name}: {broken:#?}"
            );
        }
        std::fs::write(&path, current.join("\n") + "\n").expect("schema.lock written");
        return;
    }
    let locked: Vec<String> = std::fs::read_to_string(&path)
        .expect("proto/schema.lock exists")
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(
        locked, current,
        "proto/schema.lock does not record the contract as it is; run \
         UPDATE_SCHEMA_LOCK=1 cargo nextest run -p contracts and commit it"
    );
}

#[test]
fn the_summary_sees_every_message_enum_field_and_oneof() {
    let summary = contracts::schema_summary();
    for line in [
        "cqrs.events.v1.EventEnvelope message",
        "cqrs.events.v1.EventEnvelope.sequence = 4 uint64",
        "cqrs.events.v1.EventEnvelope.user = 16 cqrs.users.v1.UserEvent oneof payload",
        "cqrs.users.v1.UserCreditReserved.amount_cents = 2 int64",
        // A message without fields is covered by its own line.
        "cqrs.orders.v1.OrderApproved message",
        "cqrs.orders.v1.OrderPlaced.items = 3 cqrs.orders.v1.OrderItem repeated",
    ] {
        assert!(summary.contains(&line.to_owned()), "{line} in {summary:#?}");
    }
}
