//! Sagas from the saga orchestrator: an order's place and cancel sagas with their steps, and
//! sagas by state. The orchestrator answers operators (and services) only.

use async_graphql::{Context, Object, SimpleObject};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use service_kit::auth::Role;
use uuid::Uuid;

use super::{Page, context, page_query};
use crate::upstream::{Found, Service};

/// One step a saga ran or is running.
#[derive(Debug, Clone, Deserialize, SimpleObject)]
pub struct SagaStep {
    /// `reserve-credit`, `approve-order`, `reject-order` or `release-credit`.
    pub step: String,
    pub started_at: DateTime<Utc>,
    /// Null while the step runs.
    pub finished_at: Option<DateTime<Utc>>,
    /// Calls made for it.
    pub attempts: i64,
    /// `succeeded`, `refused` or `skipped`; null while the step runs.
    pub outcome: Option<String>,
    /// What the service answered, or the last error while retrying.
    pub detail: Option<String>,
}

/// A saga as the orchestrator holds it.
#[derive(Debug, Clone, Deserialize, SimpleObject)]
pub struct Saga {
    pub id: Uuid,
    /// `place-order` or `cancel-order`.
    pub kind: String,
    pub order_id: Uuid,
    pub user_id: Uuid,
    pub amount_cents: i64,
    /// The step it is at (e.g. `RESERVING_CREDIT`) or where it ended (e.g. `APPROVED`).
    pub state: String,
    pub terminal: bool,
    pub reason: Option<String>,
    /// Failed calls of the current step so far.
    pub attempts: i64,
    pub last_error: Option<String>,
    /// When a place-order saga gives up and rejects the order as timed out.
    pub deadline_at: DateTime<Utc>,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub started_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    /// Oldest first (empty in lists: ask for the order's sagas to see them).
    #[serde(default)]
    pub steps: Vec<SagaStep>,
}

/// A page of sagas.
#[derive(Debug, Clone, SimpleObject)]
pub struct SagaPage {
    pub items: Vec<Saga>,
    pub next_cursor: Option<String>,
}

/// The sagas of order `order_id` with their steps, oldest first; empty for a customer.
pub async fn sagas_of_order(ctx: &Context<'_>, order_id: Uuid) -> async_graphql::Result<Vec<Saga>> {
    let (upstreams, caller) = context(ctx)?;
    if caller.principal.role != Role::Admin {
        return Ok(Vec::new());
    }
    let query = [("order_id", order_id.to_string())];
    let Found::Yes(page) = upstreams
        .get::<Page<Saga>>(caller, Service::SagaOrchestrator, "/sagas", &query)
        .await?
    else {
        return Ok(Vec::new());
    };
    let mut sagas = Vec::with_capacity(page.items.len());
    for saga in page.items {
        let path = format!("/sagas/{}", saga.id);
        if let Found::Yes(full) = upstreams
            .get::<Saga>(caller, Service::SagaOrchestrator, &path, &[])
            .await?
        {
            sagas.push(full);
        }
    }
    sagas.sort_by_key(|saga| saga.started_at);
    Ok(sagas)
}

/// Reading sagas.
#[derive(Default)]
pub struct SagasQuery;

#[Object]
impl SagasQuery {
    /// Sagas, newest first; filter by state (e.g. `FAILED`) and order. Operators only.
    #[graphql(complexity = "first.unwrap_or(20).clamp(1, 100) as usize * child_complexity")]
    async fn sagas(
        &self,
        ctx: &Context<'_>,
        state: Option<String>,
        order_id: Option<Uuid>,
        #[graphql(validator(minimum = 1, maximum = 100))] first: Option<i64>,
        after: Option<String>,
    ) -> async_graphql::Result<SagaPage> {
        let (upstreams, caller) = context(ctx)?;
        let mut query = page_query(first, after);
        query.extend(state.map(|state| ("state", state)));
        query.extend(order_id.map(|id| ("order_id", id.to_string())));
        let page = match upstreams
            .get::<Page<Saga>>(caller, Service::SagaOrchestrator, "/sagas", &query)
            .await?
        {
            Found::Yes(page) => page,
            Found::NotFound => Page::default(),
        };
        Ok(SagaPage {
            items: page.items,
            next_cursor: page.next_cursor,
        })
    }
}
