//! The `users_view` read model: one row per user, kept by the projector from users.events.
//! The email and name arrive sealed with the user's key (ADR 0018); the projector opens them
//! with the key from the Users event store, the one place keys are read from. Once the user
//! is erased there is no key: they read as `[erased]`, and `UserErased` overwrites what the
//! row held.

use contracts::events::v1::EventEnvelope;
use contracts::users::v1::user_event::Event;
use projector::{ApplyError, Projection};
use sqlx::PgConnection;

/// Schema of the live read model.
pub const SCHEMA: &str = "users_view";

/// The users read model.
pub struct UsersView {
    /// The Users event store, where the subjects' keys are.
    pub keys: sqlx::PgPool,
}

impl UsersView {
    /// `value`, a personal field of user `id`, opened with their key.
    async fn open(&self, id: &str, value: &str) -> Result<String, ApplyError> {
        if !privacy::is_sealed(value) {
            return Ok(value.to_owned());
        }
        let key = privacy::keys::key(&self.keys, id).await?;
        privacy::open(key.as_ref(), value).map_err(|error| ApplyError::Rejected(error.to_string()))
    }
}

const DDL: &str = "
CREATE TABLE users (
    id                 uuid        PRIMARY KEY,
    email              text        NOT NULL,
    name               text        NOT NULL,
    status             text        NOT NULL,
    credit_limit_cents bigint      NOT NULL,
    reserved_cents     bigint      NOT NULL,
    version            bigint      NOT NULL,
    created_at         timestamptz NOT NULL,
    updated_at         timestamptz NOT NULL
);
CREATE INDEX users_email_idx ON users (email, id);
CREATE INDEX users_status_idx ON users (status, id);
CREATE INDEX users_name_idx ON users (lower(name) text_pattern_ops, id);
";

impl Projection for UsersView {
    fn schema(&self) -> &str {
        SCHEMA
    }

    fn ddl(&self) -> &str {
        DDL
    }

    async fn apply(
        &self,
        connection: &mut PgConnection,
        event: &EventEnvelope,
    ) -> Result<(), ApplyError> {
        let change = event.user_event().map_err(ApplyError::Rejected)?;
        let id = projector::parse_id(&event.aggregate_id, "aggregate id")?;
        let version = event.sequence as i64;
        let at = projector::recorded_at(event);
        if let Event::Registered(registered) = change {
            sqlx::query(
                "INSERT INTO users (id, email, name, status, credit_limit_cents, reserved_cents, version, created_at, updated_at) \
                 VALUES ($1, $2, $3, 'active', $4, 0, $5, $6, $6)",
            )
            .bind(id)
            .bind(self.open(&event.aggregate_id, &registered.email).await?)
            .bind(self.open(&event.aggregate_id, &registered.name).await?)
            .bind(registered.credit_limit_cents)
            .bind(version)
            .bind(at)
            .execute(connection)
            .await?;
            return Ok(());
        }
        let (assignment, value): (&str, Value) = match change {
            Event::Registered(_) => unreachable!("handled above"),
            Event::EmailChanged(changed) => (
                "email = $4",
                Value::Text(self.open(&event.aggregate_id, &changed.new_email).await?),
            ),
            Event::Renamed(renamed) => (
                "name = $4",
                Value::Text(self.open(&event.aggregate_id, &renamed.name).await?),
            ),
            Event::CreditLimitChanged(changed) => (
                "credit_limit_cents = $4",
                Value::Cents(changed.credit_limit_cents),
            ),
            Event::Deactivated(_) => ("status = $4", Value::Text("deactivated".into())),
            Event::Erased(_) => (
                "status = 'erased', email = $4, name = $4",
                Value::Text(privacy::ERASED.into()),
            ),
            Event::CreditReserved(reserved) => (
                "reserved_cents = reserved_cents + $4",
                Value::Cents(reserved.amount_cents),
            ),
            Event::CreditReleased(released) => (
                "reserved_cents = reserved_cents - $4",
                Value::Cents(released.amount_cents),
            ),
        };
        let sql =
            format!("UPDATE users SET {assignment}, version = $2, updated_at = $3 WHERE id = $1");
        let query = sqlx::query(&sql).bind(id).bind(version).bind(at);
        let query = match value {
            Value::Text(text) => query.bind(text),
            Value::Cents(cents) => query.bind(cents),
        };
        if query.execute(connection).await?.rows_affected() == 0 {
            return Err(ApplyError::Rejected(format!(
                "user {id} is not in the read model"
            )));
        }
        Ok(())
    }
}

enum Value {
    Text(String),
    Cents(i64),
}
