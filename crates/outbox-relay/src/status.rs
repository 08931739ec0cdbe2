//! What an operator asks of an outbox: how much is waiting, how old the oldest row is, which
//! relay holds which lease partition right now, and the rows set aside because the broker kept
//! refusing them (listed, retried or skipped here). The relay's gauges read the backlog through
//! here too, so the queries live once.

use serde::Serialize;
use sqlx::PgPool;

use crate::LEASE_NAMESPACE;

/// The rows waiting in an outbox.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Backlog {
    /// Rows not yet published.
    pub unpublished: i64,
    /// Age of the oldest row a relay may publish now; `None` when there is none. Set-aside
    /// rows and the rows held back behind them are not counted here: they wait for an
    /// operator, not for a relay, and `set_aside` alerts on its own.
    pub oldest_age_seconds: Option<f64>,
    /// Of them, rows set aside after the broker refused them (their aggregates' later rows
    /// wait behind them).
    pub set_aside: i64,
}

/// A row the broker kept refusing, set aside with the later rows of its aggregate.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct SetAside {
    /// The outbox row's id.
    pub id: i64,
    pub topic: String,
    /// The aggregate id (the record key).
    pub message_key: String,
    pub event_id: uuid::Uuid,
    /// Times the broker refused it.
    pub attempts: i32,
    /// The last refusal.
    pub last_error: Option<String>,
    pub set_aside_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Later rows of the same aggregate waiting behind it.
    pub held_back: i64,
}

/// A lease partition and the database session holding it.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct LeaseHolder {
    pub partition: i32,
    /// Backend pid of the holding session.
    pub pid: i32,
    /// The holder's `application_name`, when it set one.
    pub application: Option<String>,
    /// The holder's address; `None` over a Unix socket.
    pub address: Option<String>,
    /// How long the holder's transaction has run.
    pub held_seconds: Option<f64>,
}

/// The outbox's backlog.
pub async fn backlog(pool: &PgPool) -> Result<Backlog, sqlx::Error> {
    // One pass over the outbox, joined to the few aggregates set aside by hash. Asking "is
    // this row's aggregate set aside?" of every row as a subquery cost an index probe per row,
    // and its cost estimate made Postgres JIT-compile the query: 330 ms for a 100k backlog,
    // against 35 ms this way, every time a relay's gauges were read.
    let (unpublished, oldest_age_seconds, set_aside) = sqlx::query_as(
        "SELECT count(*), \
                extract(epoch FROM now() - min(o.created_at) \
                    FILTER (WHERE held.message_key IS NULL))::float8, \
                count(*) FILTER (WHERE o.set_aside_at IS NOT NULL) \
         FROM outbox o LEFT JOIN \
             (SELECT DISTINCT partition_key, topic, message_key FROM outbox \
              WHERE set_aside_at IS NOT NULL) held \
             USING (partition_key, topic, message_key)",
    )
    .fetch_one(pool)
    .await?;
    Ok(Backlog {
        unpublished,
        oldest_age_seconds,
        set_aside,
    })
}

/// The set-aside rows, with how many rows of their aggregates wait behind them.
const SET_ASIDE: &str = "SELECT s.id, s.topic, s.message_key, s.event_id, s.attempts, \
        s.last_error, s.set_aside_at, \
        (SELECT count(*) FROM outbox h WHERE h.partition_key = s.partition_key \
            AND h.topic = s.topic AND h.message_key = s.message_key AND h.id > s.id) AS held_back \
    FROM outbox s WHERE s.set_aside_at IS NOT NULL";

/// Every set-aside row, oldest first, with how many rows of its aggregate wait behind it.
pub async fn set_aside(pool: &PgPool) -> Result<Vec<SetAside>, sqlx::Error> {
    sqlx::query_as(&format!("{SET_ASIDE} ORDER BY s.id"))
        .fetch_all(pool)
        .await
}

/// Puts the set-aside row of aggregate `message_key` back in line (its refusals forgotten),
/// and wakes the relays; the aggregate's rows are published in order again. Answers the row,
/// or `None` when none of that aggregate is set aside.
pub async fn retry(pool: &PgPool, message_key: &str) -> Result<Option<SetAside>, sqlx::Error> {
    resolve(pool, message_key, Resolution::Retry).await
}

/// Gives up the set-aside row of aggregate `message_key` for good: it is deleted from the
/// outbox (the event stays in the event store), recorded in `outbox_skipped` with `actor` and
/// `reason`, and the aggregate's later rows flow. Consumers see a gap at its sequence, which
/// they wait at or park (`esctl parked retry` fills it from the event store). Answers the row,
/// or `None` when none of that aggregate is set aside.
pub async fn skip(
    pool: &PgPool,
    message_key: &str,
    actor: &str,
    reason: &str,
) -> Result<Option<SetAside>, sqlx::Error> {
    resolve(pool, message_key, Resolution::Skip { actor, reason }).await
}

/// What an operator decided about a set-aside row.
enum Resolution<'a> {
    Retry,
    Skip { actor: &'a str, reason: &'a str },
}

/// Applies `resolution` to the set-aside row of `message_key` and wakes the relays, in one
/// transaction; answers the row, or `None` when none is set aside.
async fn resolve(
    pool: &PgPool,
    message_key: &str,
    resolution: Resolution<'_>,
) -> Result<Option<SetAside>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let Some(row) = take(&mut tx, message_key).await? else {
        return Ok(None);
    };
    match resolution {
        Resolution::Retry => {
            sqlx::query("UPDATE outbox SET set_aside_at = NULL, attempts = 0 WHERE id = $1")
                .bind(row.id)
                .execute(&mut *tx)
                .await?;
        }
        Resolution::Skip { actor, reason } => {
            sqlx::query(
                "INSERT INTO outbox_skipped \
                     (event_id, topic, message_key, last_error, actor, reason) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(row.event_id)
            .bind(&row.topic)
            .bind(&row.message_key)
            .bind(&row.last_error)
            .bind(actor)
            .bind(reason)
            .execute(&mut *tx)
            .await?;
            sqlx::query("DELETE FROM outbox WHERE id = $1")
                .bind(row.id)
                .execute(&mut *tx)
                .await?;
        }
    }
    wake(&mut tx, message_key).await?;
    tx.commit().await?;
    Ok(Some(row))
}

/// The set-aside row of `message_key`, locked.
async fn take(
    tx: &mut sqlx::PgConnection,
    message_key: &str,
) -> Result<Option<SetAside>, sqlx::Error> {
    sqlx::query_as(&format!(
        "{SET_ASIDE} AND s.message_key = $1 ORDER BY s.id LIMIT 1 FOR UPDATE OF s"
    ))
    .bind(message_key)
    .fetch_optional(&mut *tx)
    .await
}

/// Tells the relays that `message_key`'s partition has rows again (delivered on commit).
async fn wake(tx: &mut sqlx::PgConnection, message_key: &str) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(event_store::outbox::NOTIFY_CHANNEL)
        .bind(event_store::outbox::partition_for(message_key).to_string())
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// The lease partitions held in this database right now, by partition. A lease is a
/// transaction-scoped advisory lock, so a relay between batches holds none.
pub async fn leases(pool: &PgPool) -> Result<Vec<LeaseHolder>, sqlx::Error> {
    sqlx::query_as(
        "SELECT l.objid::int AS partition, a.pid, a.application_name AS application, \
                a.client_addr::text AS address, \
                extract(epoch FROM now() - a.xact_start)::float8 AS held_seconds \
           FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid \
          WHERE l.locktype = 'advisory' AND l.classid::int = $1 AND l.granted \
            AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) \
          ORDER BY 1",
    )
    .bind(LEASE_NAMESPACE)
    .fetch_all(pool)
    .await
}
