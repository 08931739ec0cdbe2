//! Orders: the read model (orders-query) with the user, the event stream and the sagas
//! composed in, and the order commands (orders-command).

use std::collections::BTreeMap;

use async_graphql::{ComplexObject, Context, Enum, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};
use reqwest::Method;
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use super::sagas::{Saga, sagas_of_order};
use super::streams::{self, AggregateState, Kind, StoredEvent};
use super::users::User;
use super::{CommandResult, Page, context, page_query};
use crate::upstream::{Conditions, Found, Service};

/// Where an order stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Enum, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum OrderStatus {
    Pending,
    Approved,
    Rejected,
    Cancelled,
}

impl OrderStatus {
    fn query_value(self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::Approved => "APPROVED",
            Self::Rejected => "REJECTED",
            Self::Cancelled => "CANCELLED",
        }
    }
}

/// One line of an order.
#[derive(Debug, Clone, Deserialize, SimpleObject)]
pub struct OrderItem {
    pub sku: String,
    pub quantity: i64,
    pub unit_price_cents: i64,
}

/// An order as the orders read model holds it.
#[derive(Debug, Clone, Deserialize, SimpleObject)]
#[graphql(complex)]
pub struct Order {
    pub id: Uuid,
    pub user_id: Uuid,
    pub status: OrderStatus,
    pub items: Vec<OrderItem>,
    pub total_cents: i64,
    pub currency: String,
    pub rejection_reason: Option<String>,
    pub cancellation_reason: Option<String>,
    pub version: i64,
    pub placed_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub approved_at: Option<DateTime<Utc>>,
    pub rejected_at: Option<DateTime<Utc>>,
    pub cancelled_at: Option<DateTime<Utc>>,
}

#[ComplexObject]
impl Order {
    /// Who placed it, from the users read model.
    async fn user(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<User>> {
        super::users::user(ctx, self.user_id, None).await
    }

    /// The order's stored events, oldest first (from the Orders event store).
    async fn events(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<StoredEvent>> {
        let (upstreams, caller) = context(ctx)?;
        streams::events(upstreams, caller, Kind::Order, self.id).await
    }

    /// The order as it was after event `version` (time travel).
    async fn state_at(
        &self,
        ctx: &Context<'_>,
        version: i64,
    ) -> async_graphql::Result<AggregateState> {
        let (upstreams, caller) = context(ctx)?;
        streams::state_at(upstreams, caller, Kind::Order, self.id, version).await
    }

    /// The sagas the order started (placing, then cancelling), oldest first, with their
    /// steps. Operators only: a customer gets an empty list.
    async fn sagas(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Saga>> {
        sagas_of_order(ctx, self.id).await
    }
}

/// A page of orders.
#[derive(Debug, Clone, SimpleObject)]
pub struct OrderPage {
    pub items: Vec<Order>,
    /// Pass as `after` for the next page; null on the last one.
    pub next_cursor: Option<String>,
}

/// Orders of one status: how many and their total.
#[derive(Debug, Clone, SimpleObject)]
pub struct StatusBucket {
    pub status: OrderStatus,
    pub count: i64,
    pub total_cents: i64,
}

/// Count and total of a user's orders, in all and by status.
#[derive(Debug, Clone, SimpleObject)]
pub struct OrderSummary {
    pub count: i64,
    pub total_cents: i64,
    pub by_status: Vec<StatusBucket>,
}

#[derive(Deserialize)]
struct Bucket {
    count: i64,
    total_cents: i64,
}

#[derive(Deserialize)]
struct Summary {
    by_status: BTreeMap<OrderStatus, Bucket>,
    all: Bucket,
}

/// Orders, newest first, of `user_id` and `status` when given.
pub async fn list_orders(
    ctx: &Context<'_>,
    user_id: Option<Uuid>,
    status: Option<OrderStatus>,
    first: Option<i64>,
    after: Option<String>,
) -> async_graphql::Result<OrderPage> {
    let (upstreams, caller) = context(ctx)?;
    let mut query = page_query(first, after);
    query.extend(user_id.map(|id| ("user_id", id.to_string())));
    query.extend(status.map(|status| ("status", status.query_value().to_owned())));
    let page: Page<Order> = match upstreams
        .get(caller, Service::OrdersQuery, "/orders", &query)
        .await?
    {
        Found::Yes(page) => page,
        Found::NotFound => Page::default(),
    };
    Ok(OrderPage {
        items: page.items,
        next_cursor: page.next_cursor,
    })
}

/// User `user_id`'s order summary.
pub async fn order_summary(
    ctx: &Context<'_>,
    user_id: Uuid,
) -> async_graphql::Result<OrderSummary> {
    let (upstreams, caller) = context(ctx)?;
    let path = format!("/users/{user_id}/order-summary");
    let summary = match upstreams
        .get::<Summary>(caller, Service::OrdersQuery, &path, &[])
        .await?
    {
        Found::Yes(summary) => summary,
        Found::NotFound => {
            return Ok(OrderSummary {
                count: 0,
                total_cents: 0,
                by_status: Vec::new(),
            });
        }
    };
    Ok(OrderSummary {
        count: summary.all.count,
        total_cents: summary.all.total_cents,
        by_status: summary
            .by_status
            .into_iter()
            .map(|(status, bucket)| StatusBucket {
                status,
                count: bucket.count,
                total_cents: bucket.total_cents,
            })
            .collect(),
    })
}

/// Reading orders.
#[derive(Default)]
pub struct OrdersQuery;

#[Object]
impl OrdersQuery {
    /// One order; null when there is none the caller may see. With `minVersion` the read
    /// waits (bounded) until the read model has applied that version.
    async fn order(
        &self,
        ctx: &Context<'_>,
        id: Uuid,
        min_version: Option<i64>,
    ) -> async_graphql::Result<Option<Order>> {
        let (upstreams, caller) = context(ctx)?;
        let query: Vec<(&str, String)> = min_version
            .map(|version| ("min_version", version.to_string()))
            .into_iter()
            .collect();
        Ok(
            match upstreams
                .get(
                    caller,
                    Service::OrdersQuery,
                    &format!("/orders/{id}"),
                    &query,
                )
                .await?
            {
                Found::Yes(order) => Some(order),
                Found::NotFound => None,
            },
        )
    }

    /// Orders, newest first; filter by user and status.
    #[graphql(complexity = "first.unwrap_or(20).clamp(1, 100) as usize * child_complexity")]
    async fn orders(
        &self,
        ctx: &Context<'_>,
        user_id: Option<Uuid>,
        status: Option<OrderStatus>,
        #[graphql(validator(minimum = 1, maximum = 100))] first: Option<i64>,
        after: Option<String>,
    ) -> async_graphql::Result<OrderPage> {
        list_orders(ctx, user_id, status, first, after).await
    }
}

/// One line of a new order.
#[derive(Debug, InputObject)]
pub struct OrderItemInput {
    /// 1 to 64 characters, no whitespace.
    pub sku: String,
    /// 1 to 1000.
    pub quantity: i64,
    /// 0 or more.
    pub unit_price_cents: i64,
}

/// What placing an order takes.
#[derive(Debug, InputObject)]
pub struct PlaceOrderInput {
    pub user_id: Uuid,
    /// 1 to 100 lines.
    pub items: Vec<OrderItemInput>,
    /// ISO 4217; EUR when left out, and the only one accepted.
    pub currency: Option<String>,
}

/// Order commands, passed to orders-command with the caller's token.
#[derive(Default)]
pub struct OrdersMutation;

#[Object]
impl OrdersMutation {
    /// Places an order (PENDING); the place-order saga then approves or rejects it.
    async fn place_order(
        &self,
        ctx: &Context<'_>,
        input: PlaceOrderInput,
        idempotency_key: Option<String>,
    ) -> async_graphql::Result<CommandResult> {
        let items: Vec<serde_json::Value> = input
            .items
            .iter()
            .map(|item| {
                json!({
                    "sku": item.sku,
                    "quantity": item.quantity,
                    "unit_price_cents": item.unit_price_cents,
                })
            })
            .collect();
        let mut body = json!({ "user_id": input.user_id, "items": items });
        if let Some(currency) = input.currency {
            body["currency"] = currency.into();
        }
        super::command(
            ctx,
            Service::OrdersCommand,
            Method::POST,
            "/orders",
            body,
            Conditions {
                expected_version: None,
                idempotency_key: idempotency_key.as_deref(),
            },
        )
        .await
    }

    /// Cancels order `id` (PENDING or APPROVED) with a reason; its credit is released. At
    /// `expectedVersion` only, when given.
    async fn cancel_order(
        &self,
        ctx: &Context<'_>,
        id: Uuid,
        reason: String,
        expected_version: Option<i64>,
        idempotency_key: Option<String>,
    ) -> async_graphql::Result<CommandResult> {
        let path = format!("/orders/{id}/cancel");
        super::command(
            ctx,
            Service::OrdersCommand,
            Method::POST,
            &path,
            json!({ "reason": reason }),
            Conditions {
                expected_version,
                idempotency_key: idempotency_key.as_deref(),
            },
        )
        .await
    }
}
