//! The `users_view` read model: one row per user, kept by the projector from users.events.
//! The email and name arrive sealed with the user's key (ADR 0018); the projector opens them
//! with the key from the Users event store, the one place keys are read from. Once the user
//! is erased there is no key: they read as `[erased]`, and `UserErased` overwrites what the
//! row held.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use contracts::events::v1::EventEnvelope;
use contracts::users::v1::user_event::Event;
use privacy::SubjectKey;
use projector::{ApplyError, History, Projection};
use sqlx::PgConnection;
use uuid::Uuid;

/// Schema of the live read model.
pub const SCHEMA: &str = "users_view";

/// The users read model.
pub struct UsersView {
    /// The Users event store, where the subjects' keys are.
    pub keys: sqlx::PgPool,
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
        let id = projector::parse_id(&event.aggregate_id, "aggregate id")?;
        let change = Change::of(event)?;
        let key = if change.is_sealed() {
            privacy::keys::key(&self.keys, &event.aggregate_id).await?
        } else {
            None
        };
        let change = change.open(key.as_ref())?;
        let version = event.sequence as i64;
        let at = projector::recorded_at(event);
        let (assignment, value): (&str, Value) = match change {
            Change::Register {
                email,
                name,
                credit_limit_cents,
            } => {
                sqlx::query(
                    "INSERT INTO users (id, email, name, status, credit_limit_cents, reserved_cents, version, created_at, updated_at) \
                     VALUES ($1, $2, $3, 'active', $4, 0, $5, $6, $6)",
                )
                .bind(id)
                .bind(email)
                .bind(name)
                .bind(credit_limit_cents)
                .bind(version)
                .bind(at)
                .execute(connection)
                .await?;
                return Ok(());
            }
            Change::Email(email) => ("email = $4", Value::Text(email)),
            Change::Name(name) => ("name = $4", Value::Text(name)),
            Change::CreditLimit(cents) => ("credit_limit_cents = $4", Value::Cents(cents)),
            Change::Deactivate => ("status = $4", Value::Text(DEACTIVATED.into())),
            Change::Erase => (
                "status = 'erased', email = $4, name = $4",
                Value::Text(privacy::ERASED.into()),
            ),
            Change::Reserve(cents) => ("reserved_cents = reserved_cents + $4", Value::Cents(cents)),
            Change::Release(cents) => ("reserved_cents = reserved_cents - $4", Value::Cents(cents)),
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

    /// Folds each user's history into its row in memory, with every key read in one statement,
    /// and inserts the rows in one statement.
    async fn apply_histories(
        &self,
        connection: &mut PgConnection,
        histories: &[History],
    ) -> Result<Option<Vec<bool>>, ApplyError> {
        let subjects: Vec<&str> = histories
            .iter()
            .map(|history| history.aggregate_id.as_str())
            .collect();
        let keys = privacy::keys::keys(&self.keys, &subjects).await?;
        let rows: Vec<Option<Row>> = histories
            .iter()
            .map(|history| Row::fold(history, &keys))
            .collect();
        let mut columns = Columns::default();
        for row in rows.iter().flatten() {
            columns.push(row);
        }
        if !columns.id.is_empty() {
            sqlx::query(
                "INSERT INTO users (id, email, name, status, credit_limit_cents, reserved_cents, version, created_at, updated_at) \
                 SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::bigint[], \
                                      $6::bigint[], $7::bigint[], $8::timestamptz[], $9::timestamptz[])",
            )
            .bind(&columns.id)
            .bind(&columns.email)
            .bind(&columns.name)
            .bind(&columns.status)
            .bind(&columns.credit_limit_cents)
            .bind(&columns.reserved_cents)
            .bind(&columns.version)
            .bind(&columns.created_at)
            .bind(&columns.updated_at)
            .execute(connection)
            .await?;
        }
        Ok(Some(rows.iter().map(Option::is_some).collect()))
    }
}

const ACTIVE: &str = "active";
const DEACTIVATED: &str = "deactivated";
const ERASED_STATUS: &str = "erased";

/// What one event does to its user's row. Personal values are sealed as the event carries
/// them until [`Change::open`].
#[derive(Debug)]
enum Change {
    Register {
        email: String,
        name: String,
        credit_limit_cents: i64,
    },
    Email(String),
    Name(String),
    CreditLimit(i64),
    Deactivate,
    Erase,
    Reserve(i64),
    Release(i64),
}

impl Change {
    fn of(event: &EventEnvelope) -> Result<Self, ApplyError> {
        Ok(match event.user_event().map_err(ApplyError::Rejected)? {
            Event::Registered(registered) => Self::Register {
                email: registered.email.clone(),
                name: registered.name.clone(),
                credit_limit_cents: registered.credit_limit_cents,
            },
            Event::EmailChanged(changed) => Self::Email(changed.new_email.clone()),
            Event::Renamed(renamed) => Self::Name(renamed.name.clone()),
            Event::CreditLimitChanged(changed) => Self::CreditLimit(changed.credit_limit_cents),
            Event::Deactivated(_) => Self::Deactivate,
            Event::Erased(_) => Self::Erase,
            Event::CreditReserved(reserved) => Self::Reserve(reserved.amount_cents),
            Event::CreditReleased(released) => Self::Release(released.amount_cents),
        })
    }

    /// Whether it carries a sealed value, so the key has to be read.
    fn is_sealed(&self) -> bool {
        match self {
            Self::Register { email, name, .. } => {
                privacy::is_sealed(email) || privacy::is_sealed(name)
            }
            Self::Email(value) | Self::Name(value) => privacy::is_sealed(value),
            _ => false,
        }
    }

    /// The change with its personal values opened with the user's key (`None`: erased).
    fn open(self, key: Option<&SubjectKey>) -> Result<Self, ApplyError> {
        let open = |value: String| {
            privacy::open(key, &value).map_err(|error| ApplyError::Rejected(error.to_string()))
        };
        Ok(match self {
            Self::Register {
                email,
                name,
                credit_limit_cents,
            } => Self::Register {
                email: open(email)?,
                name: open(name)?,
                credit_limit_cents,
            },
            Self::Email(email) => Self::Email(open(email)?),
            Self::Name(name) => Self::Name(open(name)?),
            other => other,
        })
    }
}

enum Value {
    Text(String),
    Cents(i64),
}

/// A user's row, as the events of [`UsersView::apply`] leave it.
#[derive(Debug, Clone, PartialEq)]
struct Row {
    id: Uuid,
    email: String,
    name: String,
    status: &'static str,
    credit_limit_cents: i64,
    reserved_cents: i64,
    version: i64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl Row {
    /// `history` folded, event by event, as `apply` would write it; `None` where `apply` would
    /// fail on one of its events (the runtime then applies them one by one and parks that one).
    fn fold(history: &History, keys: &HashMap<String, SubjectKey>) -> Option<Self> {
        let id = projector::parse_id(&history.aggregate_id, "aggregate id").ok()?;
        let key = keys.get(&history.aggregate_id);
        let mut row: Option<Self> = None;
        for event in &history.events {
            let change = Change::of(event).and_then(|change| change.open(key)).ok()?;
            let version = event.sequence as i64;
            let at = projector::recorded_at(event);
            let Some(row) = row.as_mut() else {
                // Nothing to update before the registration.
                let Change::Register {
                    email,
                    name,
                    credit_limit_cents,
                } = change
                else {
                    return None;
                };
                row = Some(Self {
                    id,
                    email: storable(email)?,
                    name: storable(name)?,
                    status: ACTIVE,
                    credit_limit_cents,
                    reserved_cents: 0,
                    version,
                    created_at: at,
                    updated_at: at,
                });
                continue;
            };
            match change {
                // The row exists: the insert would conflict.
                Change::Register { .. } => return None,
                Change::Email(email) => row.email = storable(email)?,
                Change::Name(name) => row.name = storable(name)?,
                Change::CreditLimit(cents) => row.credit_limit_cents = cents,
                Change::Deactivate => row.status = DEACTIVATED,
                Change::Erase => {
                    row.status = ERASED_STATUS;
                    row.email = privacy::ERASED.to_owned();
                    row.name = privacy::ERASED.to_owned();
                }
                Change::Reserve(cents) => {
                    row.reserved_cents = row.reserved_cents.checked_add(cents)?
                }
                Change::Release(cents) => {
                    row.reserved_cents = row.reserved_cents.checked_sub(cents)?
                }
            }
            row.version = version;
            row.updated_at = at;
        }
        row
    }
}

/// `text`, unless Postgres would refuse it in a text column (a NUL character).
fn storable(text: String) -> Option<String> {
    (!text.contains('\0')).then_some(text)
}

/// Rows as the columns of one multi-row insert.
#[derive(Default)]
struct Columns {
    id: Vec<Uuid>,
    email: Vec<String>,
    name: Vec<String>,
    status: Vec<&'static str>,
    credit_limit_cents: Vec<i64>,
    reserved_cents: Vec<i64>,
    version: Vec<i64>,
    created_at: Vec<DateTime<Utc>>,
    updated_at: Vec<DateTime<Utc>>,
}

impl Columns {
    fn push(&mut self, row: &Row) {
        self.id.push(row.id);
        self.email.push(row.email.clone());
        self.name.push(row.name.clone());
        self.status.push(row.status);
        self.credit_limit_cents.push(row.credit_limit_cents);
        self.reserved_cents.push(row.reserved_cents);
        self.version.push(row.version);
        self.created_at.push(row.created_at);
        self.updated_at.push(row.updated_at);
    }
}
