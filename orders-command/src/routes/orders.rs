//! `/orders`: placing an order, its transitions and its event stream.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, web};
use command_kit::CommandState;
use command_kit::http::{Call, CommandHeaders, CreateHeaders, field, parse_field};
use event_store::Executed;
use serde::{Deserialize, Serialize};
use service_kit::auth::{Principal, Role};
use service_kit::{FieldError, Problem};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::Orders;
use crate::error::{not_found, refused};
use orders_domain::{
    Currency, Items, LineItem, Order, OrderCommand, OrderStatus, Quantity, Reason, Sku, Transition,
    UnitPrice,
};

/// What the handlers share.
type State = web::Data<CommandState<Orders>>;

/// Mounts the routes.
pub fn configure(config: &mut web::ServiceConfig) {
    config
        .route("/orders", web::post().to(place))
        .route("/orders/{id}/approve", web::post().to(approve))
        .route("/orders/{id}/reject", web::post().to(reject))
        .route("/orders/{id}/cancel", web::post().to(cancel))
        .route("/orders/{id}/events", web::get().to(events));
}

/// One line of `POST /orders`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ItemRequest {
    /// 1 to 64 characters, no whitespace.
    #[schema(example = "BOOK-1")]
    pub sku: String,
    /// 1 to 1000.
    #[schema(example = 2)]
    pub quantity: i64,
    /// 0 or more, in cents.
    #[schema(example = 1250)]
    pub unit_price_cents: i64,
}

/// Body of `POST /orders`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlaceOrder {
    /// Who orders; the place-order saga checks the user and reserves the total.
    pub user_id: Uuid,
    /// 1 to 100 lines; the total is computed by the service.
    pub items: Vec<ItemRequest>,
    /// ISO 4217 code of the currency the prices are in; `EUR`, the currency credit is held in,
    /// when left out, and the only one accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = "EUR")]
    pub currency: Option<String>,
}

/// Body of `POST /orders/{id}/reject` and `POST /orders/{id}/cancel`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WithReason {
    /// 1 to 500 characters.
    #[schema(example = "insufficient credit")]
    pub reason: String,
}

/// A command's result.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Accepted {
    /// The order's id.
    pub id: Uuid,
    /// The order's version after the command.
    pub version: u64,
    /// `PENDING`, `APPROVED`, `REJECTED` or `CANCELLED`: the state this command led to.
    pub status: String,
}

/// Every field error of the body at once, or the validated items and currency.
fn items(body: &PlaceOrder) -> Result<(Items, Currency), Problem> {
    let mut errors = Vec::new();
    let currency = match &body.currency {
        Some(code) => field(&mut errors, "currency", Currency::parse(code)),
        None => Some(Currency::settlement()),
    };
    if body.items.len() > orders_domain::MAX_ITEMS {
        // Do not list a field error for each of thousands of lines.
        errors.push(FieldError::new(
            "items",
            "too_many",
            format!("an order has at most {} items", orders_domain::MAX_ITEMS),
        ));
        return Err(Problem::validation(errors));
    }
    let mut lines = Vec::with_capacity(body.items.len());
    for (i, item) in body.items.iter().enumerate() {
        let sku = field(
            &mut errors,
            &format!("items[{i}].sku"),
            Sku::parse(&item.sku),
        );
        let quantity = field(
            &mut errors,
            &format!("items[{i}].quantity"),
            Quantity::parse(item.quantity),
        );
        let unit_price = field(
            &mut errors,
            &format!("items[{i}].unit_price_cents"),
            UnitPrice::parse(item.unit_price_cents),
        );
        if let (Some(sku), Some(quantity), Some(unit_price)) = (sku, quantity, unit_price) {
            lines.push(LineItem {
                sku,
                quantity,
                unit_price,
            });
        }
    }
    let Some(currency) = currency.filter(|_| errors.is_empty()) else {
        return Err(Problem::validation(errors));
    };
    let items = Items::new(lines)
        .map_err(|e| Problem::validation(vec![FieldError::new("items", e.code, e.message)]))?;
    Ok((items, currency))
}

fn reason(body: &WithReason) -> Result<Reason, Problem> {
    parse_field("reason", Reason::parse(&body.reason))
}

fn executed_id(executed: &Executed<Order>, asked: Uuid) -> Uuid {
    executed.aggregate_id.parse().unwrap_or(asked)
}

/// Places an order. It is PENDING until the place-order saga approves or rejects it.
#[utoipa::path(post, path = "/orders", request_body = PlaceOrder, tag = "orders",
    params(CreateHeaders),
    responses(
        (status = 202, description = "Placed, awaiting the saga's decision; Location names the order", body = Accepted),
        (status = 400, description = "Malformed JSON, unknown or missing fields, bad header", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over the limit", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid items or currency, or an idempotency key used for another request", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn place(
    state: State,
    caller: Principal,
    call: Call,
    body: web::Json<PlaceOrder>,
) -> Result<HttpResponse, Problem> {
    caller.require(&[Role::Admin, Role::Customer])?;
    caller.must_access(&body.user_id.to_string(), || {
        Problem::new(StatusCode::NOT_FOUND, "user-not-found", "No such user")
            .with_detail(format!("user {} is not known", body.user_id))
    })?;
    let body = body.into_inner();
    let (items, currency) = items(&body)?;
    let command = OrderCommand::Place {
        order_id: Uuid::now_v7(),
        user_id: body.user_id,
        items,
        currency,
    };
    let OrderCommand::Place { order_id, .. } = &command else {
        unreachable!("built as Place above");
    };
    let asked = *order_id;
    let executed = state.execute(asked, command, call, &body).await?;
    let id = executed_id(&executed, asked);
    let accepted = Accepted {
        id,
        version: executed.version,
        status: OrderStatus::Pending.as_str().to_owned(),
    };
    let mut response = command_kit::http::answer(
        StatusCode::ACCEPTED,
        executed.version,
        executed.replayed,
        &accepted,
    );
    response.headers_mut().insert(
        header::LOCATION,
        HeaderValue::from_str(&format!("/orders/{id}")).expect("a UUID path is a valid header"),
    );
    Ok(response)
}

/// 404 unless the caller may see order `id`: a customer only their own.
async fn visible(state: &State, caller: &Principal, id: Uuid) -> Result<(), Problem> {
    if caller.role != Role::Customer {
        return Ok(());
    }
    let (order, _) = state.bus.load(&id.to_string()).await.map_err(refused)?;
    let owner = order
        .user_id()
        .map(|user| user.to_string())
        .unwrap_or_default();
    caller.must_access(&owner, || not_found(id))
}

async fn transition(
    state: State,
    call: Call,
    id: Uuid,
    (transition, command): (Transition, OrderCommand),
    body: &impl Serialize,
) -> Result<HttpResponse, Problem> {
    let executed = state.execute(id, command, call, body).await?;
    let accepted = Accepted {
        id,
        version: executed.version,
        status: transition.target().as_str().to_owned(),
    };
    Ok(command_kit::http::answer(
        StatusCode::OK,
        executed.version,
        executed.replayed,
        &accepted,
    ))
}

/// Approves a PENDING order.
#[utoipa::path(post, path = "/orders/{id}/approve", tag = "orders",
    params(("id" = Uuid, Path, description = "Order id"), CommandHeaders),
    responses(
        (status = 200, description = "Approved", body = Accepted),
        (status = 404, description = "No such order", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not PENDING (`current_status` says what it is), or version mismatch", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Idempotency key used for another request", body = Problem, content_type = "application/problem+json")))]
pub async fn approve(
    state: State,
    caller: Principal,
    call: Call,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, Problem> {
    caller.require(&[Role::Admin, Role::Service])?;
    let command = (Transition::Approve, OrderCommand::Approve);
    transition(state, call, id.into_inner(), command, &()).await
}

/// Rejects a PENDING order with a reason.
#[utoipa::path(post, path = "/orders/{id}/reject", request_body = WithReason, tag = "orders",
    params(("id" = Uuid, Path, description = "Order id"), CommandHeaders),
    responses(
        (status = 200, description = "Rejected", body = Accepted),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not PENDING, or version mismatch", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid reason, or idempotency key reused", body = Problem, content_type = "application/problem+json")))]
pub async fn reject(
    state: State,
    caller: Principal,
    call: Call,
    id: web::Path<Uuid>,
    body: web::Json<WithReason>,
) -> Result<HttpResponse, Problem> {
    caller.require(&[Role::Admin, Role::Service])?;
    let command = (
        Transition::Reject,
        OrderCommand::Reject {
            reason: reason(&body)?,
        },
    );
    transition(state, call, id.into_inner(), command, &*body).await
}

/// Cancels a PENDING or APPROVED order with a reason.
#[utoipa::path(post, path = "/orders/{id}/cancel", request_body = WithReason, tag = "orders",
    params(("id" = Uuid, Path, description = "Order id"), CommandHeaders),
    responses(
        (status = 200, description = "Cancelled", body = Accepted),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "REJECTED or already CANCELLED, or version mismatch", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid reason, or idempotency key reused", body = Problem, content_type = "application/problem+json")))]
pub async fn cancel(
    state: State,
    caller: Principal,
    call: Call,
    id: web::Path<Uuid>,
    body: web::Json<WithReason>,
) -> Result<HttpResponse, Problem> {
    visible(&state, &caller, *id).await?;
    let command = (
        Transition::Cancel,
        OrderCommand::Cancel {
            reason: reason(&body)?,
        },
    );
    transition(state, call, id.into_inner(), command, &*body).await
}

/// The order's events in sequence order, with their metadata.
#[utoipa::path(get, path = "/orders/{id}/events", tag = "orders",
    params(("id" = Uuid, Path, description = "Order id")),
    responses((status = 200, description = "The stream, oldest first"), (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn events(
    state: State,
    caller: Principal,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, Problem> {
    visible(&state, &caller, *id).await?;
    state.stream(*id, not_found(*id)).await
}

#[cfg(test)]
mod properties {
    //! Whatever a client sends, the body's conversion to a command never panics: it is a
    //! command whose total is the checked sum of its lines, or a 4xx listing what is wrong.

    use proptest::prelude::*;

    use super::*;

    fn item() -> impl Strategy<Value = ItemRequest> {
        (
            prop_oneof![
                "\\PC{0,80}",
                "[A-Z0-9-]{1,64}",
                Just(String::new()),
                "\\s{1,3}"
            ],
            prop_oneof![any::<i64>(), -2i64..1_002],
            prop_oneof![any::<i64>(), -2i64..1_000_000],
        )
            .prop_map(|(sku, quantity, unit_price_cents)| ItemRequest {
                sku,
                quantity,
                unit_price_cents,
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn any_place_order_body_is_a_valid_order_or_a_client_error(
            lines in prop::collection::vec(item(), 0..110),
            currency in prop::option::of(prop_oneof![Just("EUR".to_owned()), "\\PC{0,4}"]),
        ) {
            let body = PlaceOrder { user_id: Uuid::nil(), items: lines, currency };
            match items(&body) {
                Ok((items, currency)) => {
                    prop_assert_eq!(currency.as_str(), "EUR");
                    let expected = body.items.iter().try_fold(0i64, |total, line| {
                        total.checked_add(line.quantity.checked_mul(line.unit_price_cents)?)
                    });
                    prop_assert_eq!(Some(items.total_cents()), expected);
                    prop_assert!((1..=100).contains(&items.lines().len()));
                    prop_assert!(items.total_cents() >= 0);
                }
                Err(problem) => prop_assert!((400..500).contains(&problem.status)),
            }
        }

        #[test]
        fn any_reason_is_a_bounded_reason_or_a_client_error(text in "\\PC{0,600}") {
            match reason(&WithReason { reason: text }) {
                Ok(reason) => prop_assert!(reason.as_str().chars().count() <= 500),
                Err(problem) => prop_assert_eq!(problem.status, 422),
            }
        }
    }
}
