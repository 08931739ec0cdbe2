//! The GraphQL schema: queries composed across the services, commands passed on, Kafka
//! inspection and live health. `gateway/schema.graphql` is this schema's SDL, checked in.

pub mod follow;
pub mod health;
pub mod operations;
pub mod orders;
pub mod sagas;
pub mod streams;
pub mod topics;
pub mod users;

use std::sync::Arc;
use std::time::Duration;

use async_graphql::{
    Context, Enum, MergedObject, MergedSubscription, Object, Schema, SimpleObject,
};
use futures::{Stream, StreamExt};
use reqwest::Method;
use serde::Deserialize;
use service_kit::auth::{Role, Verifier};
use uuid::Uuid;

use crate::settings::GraphqlSettings;
use crate::upstream::{Caller, Conditions, Service, Upstreams, refused};

/// The gateway's schema.
pub type GatewaySchema = Schema<Query, Mutation, Subscription>;

/// Every query.
#[derive(MergedObject, Default)]
pub struct Query(
    MeQuery,
    users::UsersQuery,
    users::ExportQuery,
    orders::OrdersQuery,
    sagas::SagasQuery,
    health::HealthQuery,
    topics::TopicsQuery,
    operations::OperationsQuery,
    follow::FollowQuery,
);

/// Every mutation.
#[derive(MergedObject, Default)]
pub struct Mutation(
    users::UsersMutation,
    orders::OrdersMutation,
    operations::OperationsMutation,
);

/// Every subscription.
#[derive(MergedSubscription, Default)]
pub struct Subscription(
    health::HealthSubscription,
    topics::TopicsSubscription,
    operations::OperationsSubscription,
    follow::FollowSubscription,
);

/// The schema with its limits; `data` is what every resolver may read (upstreams, the
/// health monitor, the Kafka inspector).
pub fn build(
    settings: &GraphqlSettings,
) -> async_graphql::SchemaBuilder<Query, Mutation, Subscription> {
    Schema::build(
        Query::default(),
        Mutation::default(),
        Subscription::default(),
    )
    .limit_depth(settings.max_depth)
    .limit_complexity(settings.max_complexity)
}

/// The SDL of the schema, as checked in at `gateway/schema.graphql`.
pub fn sdl() -> String {
    build(&GraphqlSettings::default()).finish().sdl()
}

/// What every resolver needs: where the services are and who asks.
pub fn context<'a>(ctx: &'a Context<'_>) -> async_graphql::Result<(&'a Upstreams, &'a Caller)> {
    let caller = ctx
        .data_opt::<Caller>()
        .ok_or_else(|| refused(401, "sign in: no bearer token"))?;
    Ok((ctx.data::<Upstreams>()?, caller))
}

/// How often a subscription checks that its caller's token still verifies.
const SIGNED_IN_CHECK: Duration = Duration::from_secs(5);

/// `stream` for as long as the caller's token verifies. A WebSocket signs in once, at
/// `connection_init`; checked again every few seconds, a subscription ends with a 401 error
/// once its token expired or its key was withdrawn, rather than outliving it.
pub fn while_signed_in<T, S>(
    ctx: &Context<'_>,
    stream: S,
) -> impl Stream<Item = async_graphql::Result<T>> + Send + use<T, S>
where
    T: Send + 'static,
    S: Stream<Item = async_graphql::Result<T>> + Send + 'static,
{
    let check = ctx
        .data_opt::<Arc<Verifier>>()
        .cloned()
        .zip(ctx.data_opt::<Caller>().map(|caller| caller.token.clone()));
    let mut ticks = tokio::time::interval(SIGNED_IN_CHECK);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let state = (Box::pin(stream), ticks, check, false);
    futures::stream::unfold(state, |(mut stream, mut ticks, check, ended)| async move {
        if ended {
            return None;
        }
        loop {
            tokio::select! {
                item = stream.next() => {
                    return item.map(|item| (item, (stream, ticks, check, false)));
                }
                _ = ticks.tick() => {
                    let expired = check
                        .as_ref()
                        .is_some_and(|(verifier, token)| verifier.verify(token).is_err());
                    if expired {
                        let error = refused(401, "the token expired or is no longer valid: sign in again");
                        return Some((Err(error), (stream, ticks, check, true)));
                    }
                }
            }
        }
    })
}

/// The caller, if they are an operator; a 403 otherwise (for what the gateway itself serves:
/// health, topics, records).
pub fn operator<'a>(ctx: &'a Context<'_>) -> async_graphql::Result<&'a Caller> {
    let (_, caller) = context(ctx)?;
    if caller.principal.role == Role::Admin {
        Ok(caller)
    } else {
        Err(refused(403, "operators only"))
    }
}

/// A page as every list endpoint answers it.
#[derive(Deserialize)]
#[serde(bound = "T: serde::de::DeserializeOwned")]
pub struct Page<T> {
    pub items: Vec<T>,
    #[serde(default)]
    pub next_cursor: Option<String>,
}

impl<T> Default for Page<T> {
    fn default() -> Self {
        Self {
            items: Vec::new(),
            next_cursor: None,
        }
    }
}

/// `first`/`after` as the services' `limit`/`cursor`.
pub fn page_query(first: Option<i64>, after: Option<String>) -> Vec<(&'static str, String)> {
    let mut query = Vec::new();
    query.extend(first.map(|first| ("limit", first.to_string())));
    query.extend(after.map(|after| ("cursor", after)));
    query
}

/// What a command answered: the aggregate, its new version (read it back with
/// `minVersion`) and the correlation id its events carry (follow it through the pipeline).
///
/// Commands take two optional conditions. `expectedVersion` is the version the caller last
/// saw: the command runs only if the aggregate is still at it, and is otherwise refused with
/// status 409 and `extensions.currentVersion`. `idempotencyKey` makes a retry safe: the same
/// key with the same command answers the first outcome.
#[derive(Debug, Clone, SimpleObject)]
pub struct CommandResult {
    pub id: Uuid,
    pub version: i64,
    pub correlation_id: Option<String>,
}

#[derive(Deserialize)]
struct Accepted {
    id: Uuid,
    version: i64,
}

/// Sends a command to `service` as the caller.
pub async fn command(
    ctx: &Context<'_>,
    service: Service,
    method: Method,
    path: &str,
    body: serde_json::Value,
    conditions: Conditions<'_>,
) -> async_graphql::Result<CommandResult> {
    let (upstreams, caller) = context(ctx)?;
    let (accepted, correlation_id): (Accepted, _) = upstreams
        .send(caller, service, method, path, Some(body), conditions)
        .await?;
    Ok(CommandResult {
        id: accepted.id,
        version: accepted.version,
        correlation_id: correlation_id.or_else(|| Some(caller.correlation_id.clone())),
    })
}

/// What a caller may do, as the console needs to know it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
pub enum CallerRole {
    Admin,
    Customer,
    Service,
}

/// The signed-in caller.
#[derive(Debug, Clone, SimpleObject)]
pub struct Me {
    /// A customer's subject is their user id.
    pub subject: String,
    pub role: CallerRole,
}

#[derive(Default)]
pub struct MeQuery;

#[Object]
impl MeQuery {
    /// Who the bearer token says the caller is.
    async fn me(&self, ctx: &Context<'_>) -> async_graphql::Result<Me> {
        let (_, caller) = context(ctx)?;
        Ok(Me {
            subject: caller.principal.subject.clone(),
            role: match caller.principal.role {
                Role::Admin => CallerRole::Admin,
                Role::Customer => CallerRole::Customer,
                Role::Service => CallerRole::Service,
            },
        })
    }
}
