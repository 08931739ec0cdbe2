//! The `orders_view` read model, kept by the projector from orders.events: one row per order,
//! and per user a count and total of their orders by status (kept up to date on every
//! transition, so the summary is never computed by scanning orders).

use contracts::events::v1::EventEnvelope;
use contracts::orders::v1::order_event::Event;
use projector::{ApplyError, Projection};
use sqlx::PgConnection;
use uuid::Uuid;

/// Schema of the live read model.
pub const SCHEMA: &str = "orders_view";

/// The statuses an order can have, in lifecycle order.
pub const STATUSES: [&str; 4] = ["PENDING", "APPROVED", "REJECTED", "CANCELLED"];

/// The orders read model.
pub struct OrdersView;

const DDL: &str = "
CREATE TABLE orders (
    id                  uuid        PRIMARY KEY,
    user_id             uuid        NOT NULL,
    status              text        NOT NULL,
    items               jsonb       NOT NULL,
    total_cents         bigint      NOT NULL,
    currency            text        NOT NULL,
    rejection_reason    text,
    cancellation_reason text,
    version             bigint      NOT NULL,
    placed_at           timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL,
    approved_at         timestamptz,
    rejected_at         timestamptz,
    cancelled_at        timestamptz
);
CREATE INDEX orders_user_idx ON orders (user_id, id DESC);
CREATE INDEX orders_status_idx ON orders (status, id DESC);
-- numeric: a sum of bigint totals cannot overflow it.
CREATE TABLE order_summaries (
    user_id     uuid    NOT NULL,
    status      text    NOT NULL,
    order_count bigint  NOT NULL,
    total_cents numeric NOT NULL,
    CONSTRAINT order_summaries_pkey PRIMARY KEY (user_id, status)
);
";

/// A live schema made before orders stated their currency gains the column, filled with what
/// those orders meant (`contracts::upcast::LEGACY_ORDER_CURRENCY`).
const UPGRADES: &str = "
ALTER TABLE orders ADD COLUMN IF NOT EXISTS currency text NOT NULL DEFAULT 'EUR';
ALTER TABLE orders ALTER COLUMN currency DROP DEFAULT;
";

fn rejected(message: String) -> ApplyError {
    ApplyError::Rejected(message)
}

/// Adds `count` orders worth `total_cents` to a user's bucket for `status`.
async fn add_to_summary(
    connection: &mut PgConnection,
    user_id: Uuid,
    status: &str,
    count: i64,
    total_cents: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO order_summaries (user_id, status, order_count, total_cents) \
         VALUES ($1, $2, $3, $4) \
         ON CONFLICT ON CONSTRAINT order_summaries_pkey DO UPDATE \
         SET order_count = order_summaries.order_count + excluded.order_count, \
             total_cents = order_summaries.total_cents + excluded.total_cents",
    )
    .bind(user_id)
    .bind(status)
    .bind(count)
    .bind(total_cents)
    .execute(connection)
    .await?;
    Ok(())
}

impl Projection for OrdersView {
    fn schema(&self) -> &str {
        SCHEMA
    }

    fn ddl(&self) -> &str {
        DDL
    }

    fn upgrades(&self) -> &str {
        UPGRADES
    }

    async fn apply(
        &self,
        connection: &mut PgConnection,
        event: &EventEnvelope,
    ) -> Result<(), ApplyError> {
        let change = event.order_event().map_err(rejected)?;
        let id = projector::parse_id(&event.aggregate_id, "aggregate id")?;
        let version = event.sequence as i64;
        let at = projector::recorded_at(event);

        if let Event::Placed(placed) = change {
            let user_id = projector::parse_id(&placed.user_id, "user id")?;
            let items: Vec<serde_json::Value> = placed
                .items
                .iter()
                .map(|item| {
                    serde_json::json!({
                        "sku": item.sku,
                        "quantity": item.quantity,
                        "unit_price_cents": item.unit_price_cents,
                    })
                })
                .collect();
            sqlx::query(
                "INSERT INTO orders (id, user_id, status, items, total_cents, currency, version, placed_at, updated_at) \
                 VALUES ($1, $2, 'PENDING', $3, $4, $5, $6, $7, $7)",
            )
            .bind(id)
            .bind(user_id)
            .bind(serde_json::Value::Array(items))
            .bind(placed.total_cents)
            .bind(&placed.currency)
            .bind(version)
            .bind(at)
            .execute(&mut *connection)
            .await?;
            add_to_summary(connection, user_id, "PENDING", 1, placed.total_cents).await?;
            return Ok(());
        }

        let (status, allowed_from, reason_column, time_column, reason): (_, &[&str], _, _, _) =
            match change {
                Event::Placed(_) => unreachable!("handled above"),
                Event::Approved(_) => ("APPROVED", &["PENDING"], None, "approved_at", None),
                Event::Rejected(rejection) => (
                    "REJECTED",
                    &["PENDING"],
                    Some("rejection_reason"),
                    "rejected_at",
                    Some(rejection.reason.clone()),
                ),
                Event::Cancelled(cancellation) => (
                    "CANCELLED",
                    &["PENDING", "APPROVED"],
                    Some("cancellation_reason"),
                    "cancelled_at",
                    Some(cancellation.reason.clone()),
                ),
            };
        let current: Option<(String, Uuid, i64)> =
            sqlx::query_as("SELECT status, user_id, total_cents FROM orders WHERE id = $1")
                .bind(id)
                .fetch_optional(&mut *connection)
                .await?;
        let Some((previous, user_id, total_cents)) = current else {
            return Err(rejected(format!("order {id} is not in the read model")));
        };
        if !allowed_from.contains(&previous.as_str()) {
            return Err(rejected(format!(
                "{} of order {id} contradicts the read model, where it is {previous}",
                event.event_type
            )));
        }
        let reason_assignment = reason_column
            .map(|column| format!(", {column} = $5"))
            .unwrap_or_default();
        let sql = format!(
            "UPDATE orders SET status = $2, version = $3, updated_at = $4, {time_column} = $4{reason_assignment} \
             WHERE id = $1"
        );
        let mut query = sqlx::query(&sql)
            .bind(id)
            .bind(status)
            .bind(version)
            .bind(at);
        if let Some(reason) = reason {
            query = query.bind(reason);
        }
        query.execute(&mut *connection).await?;
        add_to_summary(connection, user_id, &previous, -1, -total_cents).await?;
        add_to_summary(connection, user_id, status, 1, total_cents).await?;
        Ok(())
    }
}
