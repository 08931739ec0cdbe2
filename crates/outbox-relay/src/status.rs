//! What an operator asks of an outbox: how much is waiting, how old the oldest row is, and
//! which relay holds which lease partition right now. The relay's gauges read the backlog
//! through here too, so the query lives once.

use serde::Serialize;
use sqlx::PgPool;

use crate::LEASE_NAMESPACE;

/// The rows waiting in an outbox.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Backlog {
    /// Rows not yet published.
    pub unpublished: i64,
    /// Age of the oldest unpublished row; `None` when the outbox is empty.
    pub oldest_age_seconds: Option<f64>,
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
    let (unpublished, oldest_age_seconds) = sqlx::query_as(
        "SELECT count(*), extract(epoch FROM now() - min(created_at))::float8 FROM outbox",
    )
    .fetch_one(pool)
    .await?;
    Ok(Backlog {
        unpublished,
        oldest_age_seconds,
    })
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
