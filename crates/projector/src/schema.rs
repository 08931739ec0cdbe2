//! The projection's schema: the runtime's tables plus the read model's, created in a given
//! schema so a rebuild can make a shadow copy.

use sqlx::{Executor, PgConnection, PgPool};

use crate::Projection;

/// The runtime's own tables, created in every projection schema.
const RUNTIME_DDL: &str = "
CREATE TABLE checkpoints (
    aggregate_id  text        PRIMARY KEY,
    last_sequence bigint      NOT NULL,
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE pending_events (
    aggregate_id text        NOT NULL,
    sequence     bigint      NOT NULL,
    envelope     bytea       NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (aggregate_id, sequence)
);
CREATE TABLE parked_events (
    id              bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    aggregate_id    text        NOT NULL,
    sequence        bigint,
    reason          text        NOT NULL,
    payload         bytea       NOT NULL,
    attempts        integer     NOT NULL,
    status          text        NOT NULL DEFAULT 'parked' CHECK (status IN ('parked', 'skipped')),
    topic           text,
    kafka_partition integer,
    kafka_offset    bigint,
    parked_at       timestamptz NOT NULL DEFAULT now(),
    resolved_at     timestamptz,
    -- Who skipped it (`role:subject`) and why.
    resolved_by     text,
    resolution      text
);
CREATE INDEX parked_events_aggregate_idx ON parked_events (aggregate_id, id) WHERE status = 'parked';
";

/// Quotes an identifier for SQL.
pub(crate) fn quoted(identifier: &str) -> String {
    format!("\"{}\"", identifier.replace('"', "\"\""))
}

/// Creates `schema` with the runtime's and the projection's tables.
pub(crate) async fn create(
    connection: &mut PgConnection,
    projection: &impl Projection,
    schema: &str,
) -> Result<(), sqlx::Error> {
    connection
        .execute(format!("CREATE SCHEMA {}", quoted(schema)).as_str())
        .await?;
    set_search_path(connection, schema).await?;
    connection.execute(RUNTIME_DDL).await?;
    connection.execute(projection.ddl()).await?;
    // On a new schema too: what an upgrade adds may then live there alone, and every start of
    // every test runs the upgrades.
    if !projection.upgrades().is_empty() {
        connection.execute(projection.upgrades()).await?;
    }
    Ok(())
}

/// Points the current transaction's unqualified names at `schema`.
pub(crate) async fn set_search_path(
    connection: &mut PgConnection,
    schema: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT set_config('search_path', $1, true)")
        .bind(quoted(schema))
        .execute(connection)
        .await?;
    Ok(())
}

/// Adds what later versions of the runtime's and the projection's tables have to a schema made
/// by an earlier one.
async fn upgrade(
    connection: &mut PgConnection,
    projection: &impl Projection,
    schema: &str,
) -> Result<(), sqlx::Error> {
    let missing: bool = sqlx::query_scalar(
        "SELECT NOT EXISTS (SELECT 1 FROM information_schema.columns \
          WHERE table_schema = $1 AND table_name = 'parked_events' AND column_name = 'resolved_by')",
    )
    .bind(schema)
    .fetch_one(&mut *connection)
    .await?;
    if missing {
        connection
            .execute(
                format!(
                    "ALTER TABLE {}.parked_events ADD COLUMN resolved_by text, ADD COLUMN resolution text",
                    quoted(schema)
                )
                .as_str(),
            )
            .await?;
    }
    if !projection.upgrades().is_empty() {
        set_search_path(connection, schema).await?;
        connection.execute(projection.upgrades()).await?;
    }
    Ok(())
}

/// Creates the projection's live schema unless it exists, or brings an existing one up to
/// date. Safe to call from every replica.
pub async fn ensure_schema(pool: &PgPool, projection: &impl Projection) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    // Replicas starting together must not both create it.
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('projection schema ' || $1))")
        .bind(projection.schema())
        .execute(&mut *tx)
        .await?;
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)")
            .bind(projection.schema())
            .fetch_one(&mut *tx)
            .await?;
    if exists {
        upgrade(&mut tx, projection, projection.schema()).await?;
    } else {
        create(&mut tx, projection, projection.schema()).await?;
    }
    tx.commit().await
}
