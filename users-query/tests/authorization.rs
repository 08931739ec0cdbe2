//! Who may read what on users-query: every operation refuses a missing or bad token; a
//! customer reads their own user only (another's is a 404, as if absent), never the list, and
//! `/admin` is for operators.

mod common;

use common::{QueryApp, Store};
use serde_json::Value;
use service_kit::auth::Role;
use test_support::auth::client_as;
use test_support::service::assert_problem;

#[tokio::test]
async fn every_operation_refuses_a_missing_or_bad_token() {
    let store = Store::new().await;
    let query = QueryApp::spawn(&store).await;
    let checked =
        test_support::service::every_operation_refuses_missing_and_bad_tokens(&query.address).await;
    assert!(checked >= 7, "{checked} operations");
    query.stop().await;
}

#[tokio::test]
async fn customers_read_their_own_user_only() {
    let store = Store::new().await;
    let me = store.user(1_000, vec![]).await;
    let someone = store.user(2_000, vec![]).await;
    let query = QueryApp::spawn(&store).await;
    store.publish(me, &[1]).await;
    store.publish(someone, &[1]).await;
    query.user_at(me, 1).await;
    query.user_at(someone, 1).await;
    let customer = client_as(&me.to_string(), Role::Customer);
    let get = |path: String| customer.get(format!("{}{path}", query.address)).send();

    let own: Value = get(format!("/users/{me}"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(own["id"], me.to_string());
    for path in [
        format!("/users/{someone}"),
        format!("/users/{someone}?min_version=1"),
    ] {
        assert_problem(get(path).await.unwrap(), 404, "/problems/user-not-found").await;
    }
    assert_problem(
        get("/users".into()).await.unwrap(),
        403,
        "/problems/forbidden",
    )
    .await;
    assert_problem(
        get("/admin/parked".into()).await.unwrap(),
        403,
        "/problems/forbidden",
    )
    .await;
    query.stop().await;
}
