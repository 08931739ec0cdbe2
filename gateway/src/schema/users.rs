//! Users: the read model (users-query) with the user's orders, summary and event stream
//! composed in, and the user commands (users-command).

use async_graphql::{ComplexObject, Context, Enum, InputObject, Json, Object, SimpleObject};
use chrono::{DateTime, Utc};
use reqwest::Method;
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use super::orders::{OrderPage, OrderStatus, OrderSummary, list_orders, order_summary};
use super::streams::{self, AggregateState, Kind, StoredEvent};
use super::{CommandResult, Page, context, page_query};
use crate::upstream::{Conditions, Found, Service};

/// Where a user's account stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UserStatus {
    Active,
    Deactivated,
    /// Erased on request (GDPR): the personal data is gone for good.
    Erased,
}

impl UserStatus {
    fn query_value(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Deactivated => "deactivated",
            Self::Erased => "erased",
        }
    }
}

/// A user as the users read model holds them.
#[derive(Debug, Clone, Deserialize, SimpleObject)]
#[graphql(complex)]
pub struct User {
    pub id: Uuid,
    pub email: String,
    pub name: String,
    pub status: UserStatus,
    pub credit_limit_cents: i64,
    /// Held for approved, uncancelled orders.
    pub reserved_cents: i64,
    pub available_cents: i64,
    /// The last event applied to this row.
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[ComplexObject]
impl User {
    /// The user's orders, newest first.
    #[graphql(complexity = "first.unwrap_or(20).clamp(1, 100) as usize * child_complexity")]
    async fn orders(
        &self,
        ctx: &Context<'_>,
        #[graphql(validator(minimum = 1, maximum = 100))] first: Option<i64>,
        after: Option<String>,
        status: Option<OrderStatus>,
    ) -> async_graphql::Result<OrderPage> {
        list_orders(ctx, Some(self.id), status, first, after).await
    }

    /// Count and total of the user's orders, by status.
    async fn order_summary(&self, ctx: &Context<'_>) -> async_graphql::Result<OrderSummary> {
        order_summary(ctx, self.id).await
    }

    /// The user's stored events, oldest first (from the Users event store).
    async fn events(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<StoredEvent>> {
        let (upstreams, caller) = context(ctx)?;
        streams::events(upstreams, caller, Kind::User, self.id).await
    }

    /// The user as they were after event `version` (time travel).
    async fn state_at(
        &self,
        ctx: &Context<'_>,
        version: i64,
    ) -> async_graphql::Result<AggregateState> {
        let (upstreams, caller) = context(ctx)?;
        streams::state_at(upstreams, caller, Kind::User, self.id, version).await
    }
}

/// A page of users.
#[derive(Debug, Clone, Deserialize, SimpleObject)]
pub struct UserPage {
    pub items: Vec<User>,
    /// Pass as `after` for the next page; null on the last one.
    pub next_cursor: Option<String>,
}

/// Reading users.
#[derive(Default)]
pub struct UsersQuery;

#[Object]
impl UsersQuery {
    /// One user; null when there is none the caller may see. With `minVersion` the read
    /// waits (bounded) until the read model has applied that version: read your own write.
    async fn user(
        &self,
        ctx: &Context<'_>,
        id: Uuid,
        min_version: Option<i64>,
    ) -> async_graphql::Result<Option<User>> {
        user(ctx, id, min_version).await
    }

    /// Users, by id; filter by exact email, name prefix or status.
    #[graphql(complexity = "first.unwrap_or(20).clamp(1, 100) as usize * child_complexity")]
    async fn users(
        &self,
        ctx: &Context<'_>,
        #[graphql(validator(minimum = 1, maximum = 100))] first: Option<i64>,
        after: Option<String>,
        email: Option<String>,
        name_prefix: Option<String>,
        status: Option<UserStatus>,
    ) -> async_graphql::Result<UserPage> {
        let (upstreams, caller) = context(ctx)?;
        let mut query = page_query(first, after);
        query.extend(email.map(|email| ("email", email)));
        query.extend(name_prefix.map(|prefix| ("name_prefix", prefix)));
        query.extend(status.map(|status| ("status", status.query_value().to_owned())));
        let page: Page<User> = match upstreams
            .get(caller, Service::UsersQuery, "/users", &query)
            .await?
        {
            Found::Yes(page) => page,
            Found::NotFound => Page::default(),
        };
        Ok(UserPage {
            items: page.items,
            next_cursor: page.next_cursor,
        })
    }
}

/// Reading what the system holds about a user.
#[derive(Default)]
pub struct ExportQuery;

#[Object]
impl ExportQuery {
    /// Everything the system holds about user `id` (the data subject's export): the user,
    /// every event opened, their orders and sagas; null when there is no such user.
    /// Operators only (users-command decides).
    async fn user_export(
        &self,
        ctx: &Context<'_>,
        id: Uuid,
    ) -> async_graphql::Result<Option<Json<serde_json::Value>>> {
        let (upstreams, caller) = context(ctx)?;
        let path = format!("/users/{id}/export");
        Ok(
            match upstreams
                .get(caller, Service::UsersCommand, &path, &[])
                .await?
            {
                Found::Yes(export) => Some(Json(export)),
                Found::NotFound => None,
            },
        )
    }
}

/// User `id` from users-query, read at `min_version` when given.
pub async fn user(
    ctx: &Context<'_>,
    id: Uuid,
    min_version: Option<i64>,
) -> async_graphql::Result<Option<User>> {
    let (upstreams, caller) = context(ctx)?;
    let query: Vec<(&str, String)> = min_version
        .map(|version| ("min_version", version.to_string()))
        .into_iter()
        .collect();
    Ok(
        match upstreams
            .get(caller, Service::UsersQuery, &format!("/users/{id}"), &query)
            .await?
        {
            Found::Yes(user) => Some(user),
            Found::NotFound => None,
        },
    )
}

/// What registering a user takes.
#[derive(Debug, InputObject)]
pub struct RegisterUserInput {
    /// Unique across users, compared case-insensitively.
    pub email: String,
    /// 1 to 200 characters.
    pub name: String,
    pub credit_limit_cents: i64,
}

/// User commands, passed to users-command with the caller's token.
#[derive(Default)]
pub struct UsersMutation;

#[Object]
impl UsersMutation {
    /// Registers a user; answers their id and version 1.
    async fn register_user(
        &self,
        ctx: &Context<'_>,
        input: RegisterUserInput,
        idempotency_key: Option<String>,
    ) -> async_graphql::Result<CommandResult> {
        let body = json!({
            "email": input.email,
            "name": input.name,
            "credit_limit_cents": input.credit_limit_cents,
        });
        let conditions = Conditions {
            expected_version: None,
            idempotency_key: idempotency_key.as_deref(),
        };
        command(ctx, "/users".into(), body, conditions).await
    }

    /// Renames user `id` (at `expectedVersion` only, when given).
    async fn rename_user(
        &self,
        ctx: &Context<'_>,
        id: Uuid,
        name: String,
        expected_version: Option<i64>,
        idempotency_key: Option<String>,
    ) -> async_graphql::Result<CommandResult> {
        let conditions = Conditions {
            expected_version,
            idempotency_key: idempotency_key.as_deref(),
        };
        let body = json!({ "name": name });
        command(ctx, format!("/users/{id}/name"), body, conditions).await
    }

    /// Changes user `id`'s email (unique across users; at `expectedVersion` only, when given).
    async fn change_email(
        &self,
        ctx: &Context<'_>,
        id: Uuid,
        email: String,
        expected_version: Option<i64>,
        idempotency_key: Option<String>,
    ) -> async_graphql::Result<CommandResult> {
        let conditions = Conditions {
            expected_version,
            idempotency_key: idempotency_key.as_deref(),
        };
        let body = json!({ "email": email });
        command(ctx, format!("/users/{id}/email"), body, conditions).await
    }

    /// Changes user `id`'s credit limit (not below what is reserved; at `expectedVersion`
    /// only, when given).
    async fn change_credit_limit(
        &self,
        ctx: &Context<'_>,
        id: Uuid,
        credit_limit_cents: i64,
        expected_version: Option<i64>,
        idempotency_key: Option<String>,
    ) -> async_graphql::Result<CommandResult> {
        let conditions = Conditions {
            expected_version,
            idempotency_key: idempotency_key.as_deref(),
        };
        let body = json!({ "credit_limit_cents": credit_limit_cents });
        command(ctx, format!("/users/{id}/credit-limit"), body, conditions).await
    }

    /// Erases user `id`'s personal data for good (their key is destroyed, ADR 0018); the
    /// reason (1 to 500 characters, no personal data) is kept. Operators only; at
    /// `expectedVersion` only, when given.
    async fn erase_user(
        &self,
        ctx: &Context<'_>,
        id: Uuid,
        reason: String,
        expected_version: Option<i64>,
        idempotency_key: Option<String>,
    ) -> async_graphql::Result<CommandResult> {
        let conditions = Conditions {
            expected_version,
            idempotency_key: idempotency_key.as_deref(),
        };
        let body = json!({ "reason": reason });
        command(ctx, format!("/users/{id}/erasure"), body, conditions).await
    }

    /// Deactivates user `id` (1 to 500 characters of reason): they can no longer reserve
    /// credit. At `expectedVersion` only, when given.
    async fn deactivate_user(
        &self,
        ctx: &Context<'_>,
        id: Uuid,
        reason: String,
        expected_version: Option<i64>,
        idempotency_key: Option<String>,
    ) -> async_graphql::Result<CommandResult> {
        let conditions = Conditions {
            expected_version,
            idempotency_key: idempotency_key.as_deref(),
        };
        let body = json!({ "reason": reason });
        command(ctx, format!("/users/{id}/deactivate"), body, conditions).await
    }
}

async fn command(
    ctx: &Context<'_>,
    path: String,
    body: serde_json::Value,
    conditions: Conditions<'_>,
) -> async_graphql::Result<CommandResult> {
    super::command(
        ctx,
        Service::UsersCommand,
        Method::POST,
        &path,
        body,
        conditions,
    )
    .await
}
