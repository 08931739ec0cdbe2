//! Invariants 4 and 8 on the real broker: each event applied once in effect, gaps waited for
//! and never skipped, poison parked without blocking other aggregates, retried or skipped by
//! an operator; two instances in one group; kill -9 between the commit and the offset commit.

mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use common::{QueryApp, Store, converged, rename, reserve};
use serde_json::Value;
use test_support::eventually;

async fn parked(query: &QueryApp) -> Vec<Value> {
    let body: Value = query.get("/admin/parked").await.json().await.unwrap();
    body["items"].as_array().unwrap().clone()
}

#[tokio::test]
async fn duplicated_and_reordered_deliveries_have_no_double_effect_and_skip_nothing() {
    let store = Store::new().await;
    let user = store
        .user(
            1_000,
            vec![reserve(100), reserve(200), reserve(300), rename("Once")],
        )
        .await;
    let query = QueryApp::spawn(&store).await;
    // 1, 2 twice, 4 before 3, then 3, 5, and 1 again at the end.
    store.publish(user, &[1, 2, 2, 4, 3, 5, 1]).await;
    let view = query.user_at(user, 5).await;
    assert_eq!(
        view["reserved_cents"], 600,
        "each reservation counted exactly once"
    );
    assert_eq!(view["name"], "Once");
    converged(&query, &store, Duration::from_secs(10)).await;
    // The trailing repeat of 1 may still be in flight once the model has converged.
    eventually(
        Duration::from_secs(10),
        "the two injected repeats to be counted (a rebalance may redeliver more)",
        || async { (query.stats.duplicates.load(Ordering::Relaxed) >= 2).then_some(()) },
    )
    .await;
    assert!(
        query.stats.pending.load(Ordering::Relaxed) >= 1,
        "4 waited for 3"
    );
    assert_eq!(query.stats.applied.load(Ordering::Relaxed), 5);
    assert!(parked(&query).await.is_empty());
    query.stop().await;
}

#[tokio::test]
async fn a_gap_that_never_fills_parks_its_aggregate_only_and_a_retry_fills_it_from_the_event_store()
{
    let store = Store::new().await;
    let gapped = store
        .user(1_000, vec![reserve(10), reserve(20), reserve(30)])
        .await;
    let healthy = store.user(1_000, vec![reserve(40)]).await;
    let query = QueryApp::spawn_with(&store, |s| s.projector.gap_timeout_ms = 300).await;
    store.publish(gapped, &[1, 2, 4]).await;
    let parked_events = eventually(Duration::from_secs(60), "the gap to be parked", || async {
        let parked = parked(&query).await;
        (!parked.is_empty()).then_some(parked)
    })
    .await;
    assert_eq!(parked_events.len(), 1);
    assert_eq!(parked_events[0]["sequence"], 4);
    assert!(
        parked_events[0]["reason"]
            .as_str()
            .unwrap()
            .contains("gap: sequence 3"),
        "{parked_events:?}"
    );
    // Another user's events still flow.
    store.publish(healthy, &[1, 2]).await;
    assert_eq!(query.user_at(healthy, 2).await["reserved_cents"], 40);
    // The blocked aggregate is held, even for events that would fit.
    let gapped_view: Value = query
        .get(&format!("/users/{gapped}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        gapped_view["version"], 2,
        "never skipped past the missing sequence"
    );

    let retried: Value = query
        .client
        .post(query.url(&format!("/admin/parked/{}/retry", parked_events[0]["id"])))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(retried["filled_from_store"], 1, "{retried}");
    assert_eq!(retried["applied"], 1);
    assert_eq!(retried["still_parked"], 0);
    assert_eq!(query.user_at(gapped, 4).await["reserved_cents"], 60);
    assert!(parked(&query).await.is_empty());
    converged(&query, &store, Duration::from_secs(10)).await;
    query.stop().await;
}

#[tokio::test]
async fn a_poison_event_is_parked_with_its_reason_others_flow_and_a_retry_after_the_fix_applies_it()
{
    let store = Store::new().await;
    let poisoned = store.user(1_000, vec![reserve(100), reserve(200)]).await;
    let other = store.user(1_000, vec![rename("Unaffected")]).await;
    let query = QueryApp::spawn(&store).await;
    store.publish(poisoned, &[1]).await;
    query.user_at(poisoned, 1).await;
    // Sequence 2 arrives corrupted, then 3 intact.
    let brokers = test_support::kafka_brokers();
    test_support::produce_in_order(
        &brokers,
        &store.topic,
        &[(poisoned.to_string(), b"\xff\x00not protobuf".to_vec())],
    )
    .await;
    store.publish(poisoned, &[3]).await;
    store.publish(other, &[1, 2]).await;
    assert_eq!(
        query.user_at(other, 2).await["name"],
        "Unaffected",
        "later events of other users are applied"
    );
    let parked_events = eventually(
        Duration::from_secs(60),
        "both events to be parked",
        || async {
            let parked = parked(&query).await;
            (parked.len() == 2).then_some(parked)
        },
    )
    .await;
    assert!(
        parked_events[0]["reason"]
            .as_str()
            .unwrap()
            .starts_with("undecodable event envelope"),
        "{parked_events:?}"
    );
    assert!(parked_events[0]["sequence"].is_null());
    assert!(
        parked_events[0]["kafka_partition"].as_i64().is_some(),
        "where it came from is kept"
    );
    assert!(
        parked_events[1]["reason"]
            .as_str()
            .unwrap()
            .starts_with("held behind parked event")
    );
    assert_eq!(parked_events[1]["sequence"], 3);

    // A retry before the fix changes nothing.
    let poison_id = parked_events[0]["id"].as_i64().unwrap();
    let retry = |id: i64| {
        let query = &query;
        async move {
            let response = query
                .client
                .post(query.url(&format!("/admin/parked/{id}/retry")))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200);
            response.json::<Value>().await.unwrap()
        }
    };
    let before_fix = retry(poison_id).await;
    assert_eq!(before_fix["applied"], 0);
    assert_eq!(before_fix["still_parked"], 2);
    assert_eq!(
        query
            .get(&format!("/users/{poisoned}"))
            .await
            .json::<Value>()
            .await
            .unwrap()["version"],
        1
    );

    // The operator repairs the payload (here: the intact envelope from the store) and retries.
    let fixed = store.envelopes(poisoned).await[1].clone();
    let parked_now = parked(&query).await;
    let undecodable = parked_now.iter().find(|p| p["sequence"].is_null()).unwrap()["id"]
        .as_i64()
        .unwrap();
    sqlx::query("UPDATE parked_events SET payload = $1 WHERE id = $2")
        .bind(fixed)
        .bind(undecodable)
        .execute(&query.pool)
        .await
        .unwrap();
    let after_fix = retry(undecodable).await;
    assert_eq!(after_fix["applied"], 2, "{after_fix}");
    assert_eq!(after_fix["still_parked"], 0);
    assert_eq!(query.user_at(poisoned, 3).await["reserved_cents"], 300);
    converged(&query, &store, Duration::from_secs(10)).await;

    let missing = query
        .client
        .post(query.url("/admin/parked/999999/retry"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    query.stop().await;
}

#[tokio::test]
async fn skipping_a_parked_event_gives_it_up_and_lets_the_aggregate_move_on() {
    let store = Store::new().await;
    let user = store.user(1_000, vec![reserve(100), rename("After")]).await;
    let query = QueryApp::spawn(&store).await;
    store.publish(user, &[1]).await;
    query.user_at(user, 1).await;
    // Sequence 2 arrives as a User event the read model cannot apply: another aggregate's id.
    let mut wrong = store.envelopes(user).await[1].clone();
    let other_id = uuid::Uuid::now_v7().to_string();
    let original = user.to_string();
    let position = wrong
        .windows(original.len())
        .position(|w| w == original.as_bytes())
        .unwrap();
    wrong[position..position + original.len()].copy_from_slice(other_id.as_bytes());
    test_support::produce_in_order(
        &test_support::kafka_brokers(),
        &store.topic,
        &[(original.clone(), wrong)],
    )
    .await;
    store.publish(user, &[3]).await;
    let parked_events = eventually(
        Duration::from_secs(60),
        "the mismatch to be parked",
        || async {
            let parked = parked(&query).await;
            (parked.len() == 2).then_some(parked)
        },
    )
    .await;
    assert!(
        parked_events[0]["reason"]
            .as_str()
            .unwrap()
            .contains("is not the envelope's aggregate id")
    );
    let why = serde_json::json!({ "reason": "sent with another user's id by a broken producer" });
    let no_reason = query
        .client
        .post(query.url(&format!("/admin/parked/{}/skip", parked_events[0]["id"])))
        .json(&serde_json::json!({ "reason": "  " }))
        .send()
        .await
        .unwrap();
    assert_eq!(no_reason.status(), 422, "a skip needs a reason");
    assert_eq!(
        parked(&query).await[0]["status"],
        "parked",
        "a refused skip changes nothing"
    );
    let out_of_order = query
        .client
        .post(query.url(&format!("/admin/parked/{}/skip", parked_events[1]["id"])))
        .json(&why)
        .send()
        .await
        .unwrap();
    assert_eq!(
        out_of_order.status(),
        409,
        "sequence 3 cannot be skipped while 2 is missing"
    );
    let skipped: Value = query
        .client
        .post(query.url(&format!("/admin/parked/{}/skip", parked_events[0]["id"])))
        .json(&why)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        skipped["applied"], 1,
        "the event held behind it is applied: {skipped}"
    );
    let view = query.user_at(user, 3).await;
    assert_eq!(view["name"], "After");
    assert_eq!(
        view["reserved_cents"], 0,
        "the skipped reservation was given up"
    );
    let listed = parked(&query).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(
        listed[0]["status"], "skipped",
        "a skip is recorded, not erased"
    );
    assert_eq!(listed[0]["resolution"], why["reason"], "why is recorded");
    assert!(
        listed[0]["resolved_by"]
            .as_str()
            .is_some_and(|by| by.starts_with("admin:")),
        "who is recorded: {listed:?}"
    );
    assert!(listed[0]["resolved_at"].is_string());
    query.stop().await;
}

#[tokio::test]
async fn two_instances_in_one_group_share_the_partitions_and_apply_each_event_once() {
    let store = Store::new().await;
    let read = test_support::fresh_database().await;
    let group = format!("users-query-{}", uuid::Uuid::new_v4().simple());
    let first = QueryApp::spawn_on(&store, &read, &group, |_| {}).await;
    let second = QueryApp::spawn_on(&store, &read, &group, |_| {}).await;
    let mut users = Vec::new();
    for _ in 0..24 {
        users.push(
            store
                .user(10_000, vec![reserve(10), reserve(20), rename("Shared")])
                .await,
        );
    }
    for user in &users {
        store.publish(*user, &[1, 2, 3, 4]).await;
    }
    converged(&first, &store, Duration::from_secs(60)).await;
    let applied = |app: &QueryApp| app.stats.applied.load(Ordering::Relaxed);
    assert_eq!(
        applied(&first) + applied(&second),
        24 * 4,
        "every event applied exactly once across both"
    );
    assert!(
        applied(&first) > 0 && applied(&second) > 0,
        "both instances got partitions: {} / {}",
        applied(&first),
        applied(&second)
    );
    first.stop().await;
    second.stop().await;
}

#[tokio::test]
async fn a_retry_also_applies_events_that_were_waiting_behind_the_parked_one() {
    let store = Store::new().await;
    let user = store.user(1_000, vec![reserve(100), reserve(200)]).await;
    let query = QueryApp::spawn(&store).await;
    store.publish(user, &[1, 3]).await;
    query.user_at(user, 1).await;
    eventually(
        Duration::from_secs(60),
        "sequence 3 to wait behind the gap",
        || async { (query.stats.pending.load(Ordering::Relaxed) >= 1).then_some(()) },
    )
    .await;
    let brokers = test_support::kafka_brokers();
    test_support::produce_in_order(
        &brokers,
        &store.topic,
        &[(user.to_string(), b"garbage".to_vec())],
    )
    .await;
    let poison = eventually(
        Duration::from_secs(60),
        "the garbage to be parked",
        || async { parked(&query).await.first().cloned() },
    )
    .await;
    let fixed = store.envelopes(user).await[1].clone();
    sqlx::query("UPDATE parked_events SET payload = $1 WHERE id = $2")
        .bind(fixed)
        .bind(poison["id"].as_i64().unwrap())
        .execute(&query.pool)
        .await
        .unwrap();
    let retried: Value = query
        .client
        .post(query.url(&format!("/admin/parked/{}/retry", poison["id"])))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        retried["applied"], 2,
        "the fixed event and the one pending behind it: {retried}"
    );
    assert_eq!(query.user_at(user, 3).await["reserved_cents"], 300);
    query.stop().await;
}

#[tokio::test]
async fn a_rebuild_that_cannot_apply_every_event_is_not_switched_in() {
    let store = Store::new().await;
    let user = store.user(1_000, vec![reserve(100)]).await;
    let query = QueryApp::spawn(&store).await;
    store.publish(user, &[1, 2]).await;
    query.user_at(user, 2).await;
    // An event stored before envelopes were kept cannot be replayed.
    sqlx::query("UPDATE events SET envelope = NULL WHERE sequence = 2")
        .execute(&store.pool)
        .await
        .unwrap();
    let started = query
        .client
        .post(query.url("/admin/rebuild"))
        .send()
        .await
        .unwrap();
    assert_eq!(started.status(), 202);
    let status = eventually(Duration::from_secs(60), "the rebuild to end", || async {
        let status: Value = query.get("/admin/rebuild").await.json().await.unwrap();
        (status["state"] != "running").then_some(status)
    })
    .await;
    assert_eq!(status["state"], "failed");
    assert!(
        status["error"]
            .as_str()
            .unwrap()
            .contains("could not be applied"),
        "{status}"
    );
    let view: Value = query
        .get(&format!("/users/{user}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(view["reserved_cents"], 100, "the live model is untouched");
    query.stop().await;
}
