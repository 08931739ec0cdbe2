//! The key store on a real Postgres (the event store's tables): a subject's key is made once,
//! even by two first uses at once; once shredded it is gone for reading and sealing alike,
//! and what it sealed reads as erased; claim digests match the migration's SQL.

use privacy::keys::{self, ClaimSecret};
use privacy::{ERASED, open};
use sqlx::PgPool;

async fn store() -> PgPool {
    let pool = test_support::fresh_database().await.pool();
    event_store::MIGRATOR.run(&pool).await.expect("migrated");
    pool
}

#[tokio::test]
async fn a_key_is_made_once_and_once_shredded_nothing_of_the_subject_opens_or_seals_again() {
    let pool = store().await;
    // Two first uses at once, in two transactions: one key.
    let (mut a, mut b) = (pool.begin().await.unwrap(), pool.begin().await.unwrap());
    let first = keys::sealing_key(&mut a, "ada")
        .await
        .unwrap()
        .expect("a key");
    let sealed = first.seal("ada@example.com").unwrap();
    let racing = tokio::spawn(async move {
        let key = keys::sealing_key(&mut b, "ada").await.unwrap();
        b.commit().await.unwrap();
        key
    });
    a.commit().await.unwrap();
    let second = racing.await.unwrap().expect("the same key");
    assert_eq!(open(Some(&second), &sealed).unwrap(), "ada@example.com");
    let read = keys::key(&pool, "ada").await.unwrap().expect("readable");
    assert_eq!(open(Some(&read), &sealed).unwrap(), "ada@example.com");
    assert!(keys::key(&pool, "nobody").await.unwrap().is_none());

    assert!(keys::shred(&pool, "ada").await.unwrap(), "there was a key");
    assert!(
        !keys::shred(&pool, "ada").await.unwrap(),
        "shredding twice is a no-op"
    );
    let gone = keys::key(&pool, "ada").await.unwrap();
    assert!(gone.is_none());
    assert_eq!(open(gone.as_ref(), &sealed).unwrap(), ERASED);
    let mut tx = pool.begin().await.unwrap();
    assert!(
        keys::sealing_key(&mut tx, "ada").await.unwrap().is_none(),
        "never made again"
    );
    let bytes: Option<Vec<u8>> =
        sqlx::query_scalar("SELECT key FROM subject_keys WHERE subject = 'ada'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(bytes, None, "the key's bytes are gone from the table");
}

#[tokio::test]
async fn a_claim_digest_is_the_one_the_migration_computes_in_sql() {
    let pool = store().await;
    let secret = ClaimSecret::load(&pool).await.unwrap();
    let in_sql: String = sqlx::query_scalar(
        "SELECT encode(sha256((SELECT secret FROM claim_secret) || convert_to($1, 'UTF8')), 'hex')",
    )
    .bind("ada@example.com")
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(secret.digest("ada@example.com"), in_sql);
    assert_ne!(
        secret.digest("ada@example.com"),
        secret.digest("bob@example.com")
    );
    let other = ClaimSecret::load(&store().await).await.unwrap();
    assert_ne!(
        other.digest("ada@example.com"),
        in_sql,
        "each store has its own secret"
    );
}
