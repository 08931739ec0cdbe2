//! How User events look on the wire (protobuf) and which emails they claim.

use contracts::events::v1::event_envelope::Payload;
use contracts::users::v1 as wire;
use cqrs_es::persist::SerializedEvent;
use domain_kit::{ClaimChange, EventContract, PersonalData, Upcaster};

use crate::user::USER_SNAPSHOT_SHAPE;
use crate::{USER_EMAIL_SCOPE, UserEvent};

/// The Users context's contract: its topic, its protobuf payloads and its email claims.
pub struct UsersContract {
    topic: String,
}

impl UsersContract {
    /// Events go to `topic`.
    pub fn new(topic: impl Into<String>) -> Self {
        Self {
            topic: topic.into(),
        }
    }
}

/// The steps that bring a stored User event's JSON payload from an older schema version to
/// the current one (see `orders_domain::UPCASTERS` for one). Every User event is at version 1.
pub const UPCASTERS: &[Upcaster] = &[];

/// The User's personal data: sealed with the user's key wherever it is stored or published,
/// destroyed with the key by `UserErased` (ADR 0018).
pub const PERSONAL_DATA: PersonalData = PersonalData {
    events: &[
        ("UserRegistered", &["email", "name"]),
        ("UserEmailChanged", &["old_email", "new_email"]),
        ("UserRenamed", &["name"]),
    ],
    snapshot: &["email", "name"],
    erasure: Some("UserErased"),
};

fn decode(event: &SerializedEvent) -> Result<UserEvent, String> {
    serde_json::from_value(event.payload.clone())
        .map_err(|e| format!("stored {} is not a UserEvent: {e}", event.event_type))
}

/// The protobuf form of a User event.
pub fn to_wire(event: UserEvent) -> wire::UserEvent {
    use wire::user_event::Event;
    let event = match event {
        UserEvent::Registered {
            user_id,
            email,
            name,
            credit_limit_cents,
        } => Event::Registered(wire::UserRegistered {
            user_id: user_id.to_string(),
            email,
            name,
            credit_limit_cents,
        }),
        UserEvent::EmailChanged {
            old_email,
            new_email,
        } => Event::EmailChanged(wire::UserEmailChanged {
            old_email,
            new_email,
        }),
        UserEvent::Renamed { name } => Event::Renamed(wire::UserRenamed { name }),
        UserEvent::CreditLimitChanged { credit_limit_cents } => {
            Event::CreditLimitChanged(wire::UserCreditLimitChanged { credit_limit_cents })
        }
        UserEvent::Deactivated { reason } => Event::Deactivated(wire::UserDeactivated { reason }),
        UserEvent::CreditReserved {
            order_id,
            amount_cents,
        } => Event::CreditReserved(wire::UserCreditReserved {
            order_id: order_id.to_string(),
            amount_cents,
        }),
        UserEvent::CreditReleased {
            order_id,
            amount_cents,
        } => Event::CreditReleased(wire::UserCreditReleased {
            order_id: order_id.to_string(),
            amount_cents,
        }),
        UserEvent::Erased { reason } => Event::Erased(wire::UserErased { reason }),
    };
    wire::UserEvent { event: Some(event) }
}

impl EventContract for UsersContract {
    fn upcasters(&self) -> &'static [Upcaster] {
        UPCASTERS
    }

    fn snapshot_shape(&self) -> i32 {
        USER_SNAPSHOT_SHAPE
    }

    fn personal_data(&self) -> &'static PersonalData {
        &PERSONAL_DATA
    }

    fn topic(&self) -> &str {
        &self.topic
    }

    fn payload(&self, event: &SerializedEvent) -> Result<Payload, String> {
        Ok(Payload::User(to_wire(decode(event)?)))
    }

    fn claims(&self, event: &SerializedEvent) -> Result<Vec<ClaimChange>, String> {
        let claim = |value: String| ClaimChange::Claim {
            scope: USER_EMAIL_SCOPE,
            value,
        };
        Ok(match decode(event)? {
            UserEvent::Registered { email, .. } => vec![claim(email)],
            UserEvent::EmailChanged {
                old_email,
                new_email,
            } => vec![
                claim(new_email),
                ClaimChange::Release {
                    scope: USER_EMAIL_SCOPE,
                    value: old_email,
                },
            ],
            _ => Vec::new(),
        })
    }
}
