//! The key store: one key per data subject in the event store's `subject_keys`, destroyed by
//! an erasure; and the secret that makes a uniqueness claim's value a digest instead of the
//! value itself (`claim_secret`, made by the migration that made the tables).

use std::collections::HashMap;

use sha2::{Digest, Sha256};
use sqlx::{PgConnection, PgExecutor};

use crate::SubjectKey;

fn decode(subject: &str, bytes: &[u8]) -> Result<SubjectKey, sqlx::Error> {
    SubjectKey::from_bytes(subject, bytes).map_err(|error| sqlx::Error::Decode(Box::new(error)))
}

/// The key to seal `subject`'s data with, made on first use (in the caller's transaction);
/// `None` once the subject is erased: nothing of theirs is sealed again.
pub async fn sealing_key(
    connection: &mut PgConnection,
    subject: &str,
) -> Result<Option<SubjectKey>, sqlx::Error> {
    let fresh = SubjectKey::generate().map_err(|error| sqlx::Error::Encode(Box::new(error)))?;
    let made: Option<Option<Vec<u8>>> = sqlx::query_scalar(
        "WITH made AS (INSERT INTO subject_keys (subject, key) VALUES ($1, $2) \
             ON CONFLICT (subject) DO NOTHING RETURNING key) \
         SELECT key FROM made UNION ALL SELECT key FROM subject_keys WHERE subject = $1 \
         LIMIT 1",
    )
    .bind(subject)
    .bind(fresh.as_slice())
    .fetch_optional(&mut *connection)
    .await?;
    let stored = match made {
        Some(stored) => stored,
        // A concurrent first use committed the key after this statement's snapshot was
        // taken: it is visible to the next statement.
        None => {
            sqlx::query_scalar("SELECT key FROM subject_keys WHERE subject = $1")
                .bind(subject)
                .fetch_one(&mut *connection)
                .await?
        }
    };
    stored.map(|bytes| decode(subject, &bytes)).transpose()
}

/// `subject`'s key to open their data with; `None` when they were erased (or never had one).
pub async fn key(
    executor: impl PgExecutor<'_>,
    subject: &str,
) -> Result<Option<SubjectKey>, sqlx::Error> {
    let stored: Option<Option<Vec<u8>>> =
        sqlx::query_scalar("SELECT key FROM subject_keys WHERE subject = $1")
            .bind(subject)
            .fetch_optional(executor)
            .await?;
    stored
        .flatten()
        .map(|bytes| decode(subject, &bytes))
        .transpose()
}

/// The keys of those of `subjects` that have one, in one statement (the erased and the unknown
/// are missing from the answer).
pub async fn keys(
    executor: impl PgExecutor<'_>,
    subjects: &[&str],
) -> Result<HashMap<String, SubjectKey>, sqlx::Error> {
    let stored: Vec<(String, Vec<u8>)> = sqlx::query_as(
        "SELECT subject, key FROM subject_keys WHERE subject = ANY($1) AND key IS NOT NULL",
    )
    .bind(subjects)
    .fetch_all(executor)
    .await?;
    stored
        .into_iter()
        .map(|(subject, bytes)| {
            let key = decode(&subject, &bytes)?;
            Ok((subject, key))
        })
        .collect()
}

/// Destroys `subject`'s key for good: everything sealed with it reads as erased from then on,
/// wherever it was copied. Answers whether there was a key to destroy.
pub async fn shred(executor: impl PgExecutor<'_>, subject: &str) -> Result<bool, sqlx::Error> {
    let destroyed: Option<bool> = sqlx::query_scalar(
        "INSERT INTO subject_keys (subject, key, erased_at) VALUES ($1, NULL, now()) \
         ON CONFLICT (subject) DO UPDATE SET key = NULL, \
             erased_at = coalesce(subject_keys.erased_at, now()) \
         RETURNING (SELECT key IS NOT NULL FROM subject_keys WHERE subject = $1)",
    )
    .bind(subject)
    .fetch_one(executor)
    .await?;
    Ok(destroyed.unwrap_or(false))
}

/// The secret a claim's value is digested with.
#[derive(Clone)]
pub struct ClaimSecret(Vec<u8>);

impl std::fmt::Debug for ClaimSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClaimSecret(..)")
    }
}

impl ClaimSecret {
    /// Reads the event store's secret.
    pub async fn load(executor: impl PgExecutor<'_>) -> Result<Self, sqlx::Error> {
        sqlx::query_scalar("SELECT secret FROM claim_secret")
            .fetch_one(executor)
            .await
            .map(Self)
    }

    /// What a claim on `value` stores: hex SHA-256 of the secret and the value, the same as
    /// the migration computed for the claims made before (`encode(sha256(secret || value))`).
    pub fn digest(&self, value: &str) -> String {
        let mut hash = Sha256::new();
        hash.update(&self.0);
        hash.update(value.as_bytes());
        hash.finalize()
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect()
    }
}
