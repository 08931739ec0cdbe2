//! An operator's way out of a FAILED saga: once the cause is fixed, retry the step that was
//! refused (the driver runs it again, with the same idempotency key, and the saga goes on from
//! there), or resolve the saga by hand after settling the order and credit some other way.
//! Every intervention is recorded with who made it, when, why, and the states it moved
//! between.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use uuid::Uuid;

use crate::projection::STARTED_CHANNEL;
use crate::saga::{State, Step};

/// What an operator does to a FAILED saga.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Run the refused step again.
    Retry,
    /// End the saga as RESOLVED: the operator settled it.
    Resolve,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Retry => "retry",
            Self::Resolve => "resolve",
        }
    }
}

/// One operator intervention, as `GET /sagas/{id}` lists them.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema, sqlx::FromRow)]
pub struct Intervention {
    pub at: DateTime<Utc>,
    /// `role:subject` of the operator's token.
    pub actor: String,
    /// `retry` or `resolve`.
    pub action: String,
    /// Why, in the operator's words.
    pub reason: String,
    pub from_state: String,
    pub to_state: String,
}

/// Why an intervention was refused; nothing was changed.
#[derive(Debug, thiserror::Error)]
pub enum RepairError {
    #[error("saga {0} is not known")]
    NotFound(Uuid),
    #[error("saga {id} is {state}; only a FAILED saga can be retried or resolved")]
    NotFailed { id: Uuid, state: String },
    #[error(
        "the last step of saga {id}, {step}, did not fail ({outcome}): there is nothing to \
         retry; resolve the saga instead"
    )]
    NothingToRetry {
        id: Uuid,
        step: String,
        outcome: String,
    },
    #[error("saga log database error")]
    Database(#[from] sqlx::Error),
}

/// Applies `action` to the FAILED saga `id` for `actor` with `reason`; answers the state it
/// moved to.
pub async fn intervene(
    pool: &PgPool,
    id: Uuid,
    action: Action,
    actor: &str,
    reason: &str,
) -> Result<State, RepairError> {
    let mut tx = pool.begin().await?;
    // A FAILED saga is finished, so no worker holds it; the lock orders two operators.
    let state: Option<String> =
        sqlx::query_scalar("SELECT state FROM sagas WHERE id = $1 FOR UPDATE")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
    let state = state.ok_or(RepairError::NotFound(id))?;
    if state != State::Failed.as_str() {
        return Err(RepairError::NotFailed { id, state });
    }
    let to = match action {
        Action::Resolve => {
            sqlx::query("UPDATE sagas SET state = $2, updated_at = now() WHERE id = $1")
                .bind(id)
                .bind(State::Resolved.as_str())
                .execute(&mut *tx)
                .await?;
            State::Resolved
        }
        Action::Retry => {
            let (position, step, outcome): (i32, String, Option<String>) = sqlx::query_as(
                "SELECT position, step, outcome FROM saga_steps WHERE saga_id = $1 \
                 ORDER BY position DESC LIMIT 1",
            )
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
            let refused = Step::parse(&step).filter(|_| outcome.as_deref() == Some("refused"));
            let Some(step) = refused else {
                return Err(RepairError::NothingToRetry {
                    id,
                    step,
                    outcome: outcome.unwrap_or_else(|| "unfinished".into()),
                });
            };
            let to = State::running(step);
            sqlx::query(
                "UPDATE sagas SET state = $2, attempts = 0, last_error = NULL, \
                 next_attempt_at = now(), finished_at = NULL, updated_at = now() WHERE id = $1",
            )
            .bind(id)
            .bind(to.as_str())
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "INSERT INTO saga_steps (saga_id, position, step, started_at) \
                 VALUES ($1, $2, $3, now())",
            )
            .bind(id)
            .bind(position + 1)
            .bind(step.as_str())
            .execute(&mut *tx)
            .await?;
            sqlx::query("SELECT pg_notify($1, '')")
                .bind(STARTED_CHANNEL)
                .execute(&mut *tx)
                .await?;
            to
        }
    };
    sqlx::query(
        "INSERT INTO saga_interventions (saga_id, at, actor, action, reason, from_state, to_state) \
         VALUES ($1, now(), $2, $3, $4, $5, $6)",
    )
    .bind(id)
    .bind(actor)
    .bind(action.as_str())
    .bind(reason)
    .bind(&state)
    .bind(to.as_str())
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    metrics::counter!("saga_interventions_total", "action" => action.as_str()).increment(1);
    tracing::warn!(saga_id = %id, actor, action = action.as_str(), reason, to = to.as_str(), "operator intervened in a failed saga");
    Ok(to)
}

/// The interventions of saga `id`, oldest first.
pub async fn interventions(pool: &PgPool, id: Uuid) -> Result<Vec<Intervention>, sqlx::Error> {
    sqlx::query_as(
        "SELECT at, actor, action, reason, from_state, to_state FROM saga_interventions \
         WHERE saga_id = $1 ORDER BY at, action",
    )
    .bind(id)
    .fetch_all(pool)
    .await
}
