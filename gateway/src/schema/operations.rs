//! Operating the read side through the three services with a projector: each projection's
//! status, rebuilds with their progress, and parked events to retry or skip. The services
//! check the caller is an operator.

use std::time::Duration;

use async_graphql::{Context, Enum, Json, Object, SimpleObject, Subscription};
use chrono::{DateTime, Utc};
use futures::Stream;
use reqwest::Method;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Page, context};
use crate::upstream::{Caller, Conditions, Found, Service, Upstreams, refused};

/// The services with a projector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
pub enum ReadService {
    UsersQuery,
    OrdersQuery,
    SagaOrchestrator,
}

impl ReadService {
    const ALL: [Self; 3] = [Self::UsersQuery, Self::OrdersQuery, Self::SagaOrchestrator];

    fn service(self) -> Service {
        match self {
            Self::UsersQuery => Service::UsersQuery,
            Self::OrdersQuery => Service::OrdersQuery,
            Self::SagaOrchestrator => Service::SagaOrchestrator,
        }
    }
}

/// The latest rebuild of a read model on the instance that answered.
#[derive(Debug, Clone, Default, Deserialize, SimpleObject)]
#[serde(default)]
pub struct RebuildStatus {
    /// `idle`, `running`, `succeeded` or `failed`.
    pub state: String,
    /// `copying`, `catching-up` or `switched`.
    pub phase: Option<String>,
    /// Events replayed so far.
    pub applied: i64,
    /// Events in the store when it started.
    pub total: i64,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub error: Option<String>,
}

/// A projection against its event store, as its service reports it.
#[derive(Debug, Clone, SimpleObject)]
pub struct ProjectionStatus {
    pub service: ReadService,
    /// Whether the service answered; when not, `status` is null.
    pub reachable: bool,
    /// Applied vs stored events, lag, parked, skipped and pending events, the consumer.
    pub status: Option<Json<Value>>,
    /// The latest rebuild; null when the service keeps none (the saga log is not rebuilt).
    pub rebuild: Option<RebuildStatus>,
}

/// An event a projector could not apply and set aside.
#[derive(Debug, Clone, Deserialize, SimpleObject)]
pub struct ParkedEvent {
    pub id: i64,
    pub aggregate_id: String,
    pub sequence: Option<i64>,
    pub reason: String,
    pub attempts: i64,
    /// `parked` or `skipped`.
    pub status: String,
    pub topic: Option<String>,
    pub kafka_partition: Option<i32>,
    pub kafka_offset: Option<i64>,
    pub parked_at: String,
    pub resolved_at: Option<String>,
    pub resolved_by: Option<String>,
    pub resolution: Option<String>,
}

async fn projection(
    upstreams: &Upstreams,
    caller: &Caller,
    service: ReadService,
) -> ProjectionStatus {
    let status = upstreams
        .get::<Value>(caller, service.service(), "/admin/projection", &[])
        .await;
    match status {
        Ok(Found::Yes(status)) => ProjectionStatus {
            service,
            reachable: true,
            rebuild: (service != ReadService::SagaOrchestrator)
                .then(|| serde_json::from_value(status["rebuild"].clone()).ok())
                .flatten(),
            status: Some(Json(status)),
        },
        _ => ProjectionStatus {
            service,
            reachable: false,
            status: None,
            rebuild: None,
        },
    }
}

/// Reading the projections.
#[derive(Default)]
pub struct OperationsQuery;

#[Object]
impl OperationsQuery {
    /// Every projection's status (the services answer operators only).
    async fn projections(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<ProjectionStatus>> {
        let (upstreams, caller) = context(ctx)?;
        super::operator(ctx)?;
        Ok(futures::future::join_all(
            ReadService::ALL.map(|service| projection(upstreams, caller, service)),
        )
        .await)
    }

    /// Events `service`'s projector parked (and those skipped), oldest first.
    async fn parked_events(
        &self,
        ctx: &Context<'_>,
        service: ReadService,
    ) -> async_graphql::Result<Vec<ParkedEvent>> {
        let (upstreams, caller) = context(ctx)?;
        let page = match upstreams
            .get::<Page<ParkedEvent>>(caller, service.service(), "/admin/parked", &[])
            .await?
        {
            Found::Yes(page) => page,
            Found::NotFound => Page::default(),
        };
        Ok(page.items)
    }
}

/// Acting on the projections.
#[derive(Default)]
pub struct OperationsMutation;

#[Object]
impl OperationsMutation {
    /// Applies parked event `id` again (with the rest of its aggregate); answers what the
    /// service reports it applied.
    async fn retry_parked(
        &self,
        ctx: &Context<'_>,
        service: ReadService,
        id: i64,
    ) -> async_graphql::Result<Json<Value>> {
        let (upstreams, caller) = context(ctx)?;
        let path = format!("/admin/parked/{id}/retry");
        let (answer, _) = upstreams
            .send::<Value>(
                caller,
                service.service(),
                Method::POST,
                &path,
                None,
                Conditions::NONE,
            )
            .await?;
        Ok(Json(answer))
    }

    /// Gives parked event `id` up for good, recording the caller and `reason`.
    async fn skip_parked(
        &self,
        ctx: &Context<'_>,
        service: ReadService,
        id: i64,
        reason: String,
    ) -> async_graphql::Result<Json<Value>> {
        let (upstreams, caller) = context(ctx)?;
        let path = format!("/admin/parked/{id}/skip");
        let (answer, _) = upstreams
            .send::<Value>(
                caller,
                service.service(),
                Method::POST,
                &path,
                Some(json!({ "reason": reason })),
                Conditions::NONE,
            )
            .await?;
        Ok(Json(answer))
    }

    /// Starts rebuilding `service`'s read model from its event store; follow it with the
    /// `rebuild` subscription. The saga log is not rebuilt.
    async fn start_rebuild(
        &self,
        ctx: &Context<'_>,
        service: ReadService,
    ) -> async_graphql::Result<RebuildStatus> {
        let (upstreams, caller) = context(ctx)?;
        if service == ReadService::SagaOrchestrator {
            return Err(refused(400, "the saga log is not rebuilt from events"));
        }
        let (status, _) = upstreams
            .send::<RebuildStatus>(
                caller,
                service.service(),
                Method::POST,
                "/admin/rebuild",
                None,
                Conditions::NONE,
            )
            .await?;
        Ok(status)
    }
}

/// Watching a rebuild.
#[derive(Default)]
pub struct OperationsSubscription;

/// How often a rebuild's progress is read.
const REBUILD_PACE: Duration = Duration::from_millis(500);

#[Subscription]
impl OperationsSubscription {
    /// `service`'s latest rebuild, every half second until it is no longer running.
    async fn rebuild(
        &self,
        ctx: &Context<'_>,
        service: ReadService,
    ) -> async_graphql::Result<impl Stream<Item = async_graphql::Result<RebuildStatus>> + use<>>
    {
        let (upstreams, caller) = context(ctx)?;
        super::operator(ctx)?;
        let (upstreams, caller) = (upstreams.clone(), caller.clone());
        let reports = futures::stream::unfold(Some(true), move |state| {
            let (upstreams, caller) = (upstreams.clone(), caller.clone());
            async move {
                let first = state?;
                if !first {
                    tokio::time::sleep(REBUILD_PACE).await;
                }
                let status = upstreams
                    .get::<RebuildStatus>(&caller, service.service(), "/admin/rebuild", &[])
                    .await
                    .and_then(|found| match found {
                        Found::Yes(status) => Ok(status),
                        Found::NotFound => Err(refused(404, "this service keeps no rebuilds")),
                    });
                let next = match &status {
                    Ok(status) if status.state == "running" => Some(false),
                    _ => None,
                };
                Some((status, next))
            }
        });
        Ok(super::while_signed_in(ctx, reports))
    }
}
