//! What users and orders share: their stored events (read through their command service) and
//! time travel, the aggregate folded by its own `apply` up to a version.

use async_graphql::{Json, SimpleObject};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;
use uuid::Uuid;

use crate::upstream::{Caller, Found, Service, Upstreams, refused};

/// Correlation, causation, actor and trace context of a stored event.
#[derive(Debug, Clone, Default, Deserialize, SimpleObject)]
#[serde(default)]
pub struct EventMetadata {
    pub correlation_id: Option<String>,
    pub causation_id: Option<String>,
    pub actor: Option<String>,
    pub traceparent: Option<String>,
}

/// One event of an aggregate's stream as the event store holds it (personal data opened,
/// upcast to its type's current schema version).
#[derive(Debug, Clone, Deserialize, SimpleObject)]
pub struct StoredEvent {
    /// Position in the aggregate's stream, from 1; the aggregate's version after it.
    pub sequence: i64,
    pub event_id: Uuid,
    pub event_type: String,
    pub event_version: String,
    pub payload: Json<Value>,
    pub metadata: EventMetadata,
    pub recorded_at: DateTime<Utc>,
}

/// An aggregate as it was after one of its events (time travel).
#[derive(Debug, Clone, SimpleObject)]
pub struct AggregateState {
    pub version: i64,
    /// The aggregate's own fields, as its `apply` left them.
    pub state: Json<Value>,
}

#[derive(Deserialize)]
struct Stream {
    events: Vec<StoredEvent>,
}

/// The aggregate kinds whose streams the gateway reads.
#[derive(Clone, Copy)]
pub enum Kind {
    User,
    Order,
}

impl Kind {
    fn service(self) -> Service {
        match self {
            Self::User => Service::UsersCommand,
            Self::Order => Service::OrdersCommand,
        }
    }

    fn path(self, id: Uuid) -> String {
        match self {
            Self::User => format!("/users/{id}/events"),
            Self::Order => format!("/orders/{id}/events"),
        }
    }
}

/// The events of `id`, oldest first (empty when the store has none the caller may see).
pub async fn events(
    upstreams: &Upstreams,
    caller: &Caller,
    kind: Kind,
    id: Uuid,
) -> async_graphql::Result<Vec<StoredEvent>> {
    Ok(
        match upstreams
            .get::<Stream>(caller, kind.service(), &kind.path(id), &[])
            .await?
        {
            Found::Yes(stream) => stream.events,
            Found::NotFound => Vec::new(),
        },
    )
}

/// The aggregate `id` after its event `version`.
pub async fn state_at(
    upstreams: &Upstreams,
    caller: &Caller,
    kind: Kind,
    id: Uuid,
    version: i64,
) -> async_graphql::Result<AggregateState> {
    let events = events(upstreams, caller, kind, id).await?;
    let last = events.last().map_or(0, |event| event.sequence);
    if !(1..=last).contains(&version) {
        return Err(refused(
            400,
            format!("version must be between 1 and {last}, the aggregate's current version"),
        ));
    }
    let payloads = events
        .into_iter()
        .take_while(|event| event.sequence <= version)
        .map(|event| event.payload.0);
    let state = match kind {
        Kind::User => domain_kit::fold::<users_domain::User>(payloads),
        Kind::Order => domain_kit::fold::<orders_domain::Order>(payloads),
    }
    .map_err(|error| refused(502, format!("the stream does not fold: {error}")))?;
    Ok(AggregateState {
        version,
        state: Json(state),
    })
}
