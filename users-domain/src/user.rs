//! The User aggregate.

use std::collections::BTreeMap;

use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::values::{CreditCents, Email, UserName};
use domain_kit::Reason;

/// Scope of the uniqueness claim on a user's email.
pub const USER_EMAIL_SCOPE: &str = "user.email";

/// What can be asked of a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserCommand {
    Register {
        user_id: Uuid,
        email: Email,
        name: UserName,
        credit_limit: CreditCents,
    },
    ChangeEmail {
        email: Email,
    },
    Rename {
        name: UserName,
    },
    ChangeCreditLimit {
        credit_limit: CreditCents,
    },
    Deactivate {
        reason: Reason,
    },
    /// Holds credit for an order. Repeating it for the same order has no second effect.
    ReserveCredit {
        order_id: Uuid,
        amount: CreditCents,
    },
    /// Gives an order's credit back. Repeating it has no second effect; releasing an order
    /// that reserved nothing closes the order id, so a late reservation for it is refused.
    ReleaseCredit {
        order_id: Uuid,
    },
    /// Erases the user's personal data (their key is destroyed with the event). Only credit
    /// already held can still be released afterwards; repeating it has no second effect.
    Erase {
        reason: Reason,
    },
}

/// What happened to a user. Stored as JSON tagged with `type`; published as protobuf.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum UserEvent {
    #[serde(rename = "UserRegistered")]
    Registered {
        user_id: Uuid,
        email: String,
        name: String,
        credit_limit_cents: i64,
    },
    #[serde(rename = "UserEmailChanged")]
    EmailChanged {
        old_email: String,
        new_email: String,
    },
    #[serde(rename = "UserRenamed")]
    Renamed { name: String },
    #[serde(rename = "UserCreditLimitChanged")]
    CreditLimitChanged { credit_limit_cents: i64 },
    #[serde(rename = "UserDeactivated")]
    Deactivated { reason: String },
    #[serde(rename = "UserCreditReserved")]
    CreditReserved { order_id: Uuid, amount_cents: i64 },
    #[serde(rename = "UserCreditReleased")]
    CreditReleased { order_id: Uuid, amount_cents: i64 },
    #[serde(rename = "UserErased")]
    Erased { reason: String },
}

impl DomainEvent for UserEvent {
    fn event_type(&self) -> String {
        match self {
            Self::Registered { .. } => "UserRegistered",
            Self::EmailChanged { .. } => "UserEmailChanged",
            Self::Renamed { .. } => "UserRenamed",
            Self::CreditLimitChanged { .. } => "UserCreditLimitChanged",
            Self::Deactivated { .. } => "UserDeactivated",
            Self::CreditReserved { .. } => "UserCreditReserved",
            Self::CreditReleased { .. } => "UserCreditReleased",
            Self::Erased { .. } => "UserErased",
        }
        .to_owned()
    }

    fn event_version(&self) -> String {
        "1".to_owned()
    }
}

/// Why a command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UserError {
    #[error("no such user")]
    NotFound,
    #[error("the user is already registered")]
    AlreadyRegistered,
    #[error("the user is deactivated")]
    Deactivated,
    #[error("the user's personal data was erased")]
    Erased,
    #[error("credit limit {limit_cents} is below the {reserved_cents} cents already reserved")]
    LimitBelowReserved {
        limit_cents: i64,
        reserved_cents: i64,
    },
    #[error("{requested_cents} cents requested but only {available_cents} available")]
    InsufficientCredit {
        available_cents: i64,
        requested_cents: i64,
    },
    #[error(
        "order {order_id} already holds {reserved_cents} cents; a reservation of {requested_cents} differs"
    )]
    ReservationMismatch {
        order_id: Uuid,
        reserved_cents: i64,
        requested_cents: i64,
    },
    #[error("the reservation of order {order_id} was released and cannot be taken again")]
    ReservationClosed { order_id: Uuid },
}

/// Lifecycle of a user.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserStatus {
    #[default]
    Unregistered,
    Active,
    Deactivated,
    /// Their personal data was erased; only credit already held can be released.
    Erased,
}

/// The credit an order holds, or held.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reservation {
    Held { amount_cents: i64 },
    Released { amount_cents: i64 },
}

/// Version of [`User`]'s serialized shape, recorded with its snapshots: raise it when a field of
/// `User` changes form or meaning, so snapshots of the old shape are folded again from the
/// events instead of being misread.
pub const USER_SNAPSHOT_SHAPE: i32 = 1;

/// A user's state, rebuilt from its events.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    id: Option<Uuid>,
    email: String,
    name: String,
    credit_limit_cents: i64,
    status: UserStatus,
    reserved_cents: i64,
    reservations: BTreeMap<Uuid, Reservation>,
}

impl User {
    /// The (normalised) email address.
    pub fn email(&self) -> &str {
        &self.email
    }

    /// The display name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The credit limit.
    pub fn credit_limit_cents(&self) -> i64 {
        self.credit_limit_cents
    }

    /// Lifecycle state.
    pub fn status(&self) -> UserStatus {
        self.status
    }

    /// Credit currently held by reservations.
    pub fn reserved_cents(&self) -> i64 {
        self.reserved_cents
    }

    /// Credit still available to reserve.
    pub fn available_cents(&self) -> i64 {
        self.credit_limit_cents - self.reserved_cents
    }

    /// The reservation of `order_id`, if any was ever made or closed.
    pub fn reservation(&self, order_id: Uuid) -> Option<Reservation> {
        self.reservations.get(&order_id).copied()
    }

    fn ensure_registered(&self) -> Result<(), UserError> {
        match self.status {
            UserStatus::Unregistered => Err(UserError::NotFound),
            _ => Ok(()),
        }
    }

    fn ensure_active(&self) -> Result<(), UserError> {
        match self.status {
            UserStatus::Unregistered => Err(UserError::NotFound),
            UserStatus::Deactivated => Err(UserError::Deactivated),
            UserStatus::Erased => Err(UserError::Erased),
            UserStatus::Active => Ok(()),
        }
    }

    fn decide(&self, command: UserCommand) -> Result<Option<UserEvent>, UserError> {
        if !matches!(command, UserCommand::Register { .. }) {
            self.ensure_registered()?;
        }
        let event = match command {
            UserCommand::Register {
                user_id,
                email,
                name,
                credit_limit,
            } => {
                if self.status != UserStatus::Unregistered {
                    return Err(UserError::AlreadyRegistered);
                }
                UserEvent::Registered {
                    user_id,
                    email: email.as_str().to_owned(),
                    name: name.as_str().to_owned(),
                    credit_limit_cents: credit_limit.cents(),
                }
            }
            UserCommand::ChangeEmail { email } => {
                self.ensure_active()?;
                if email.as_str() == self.email {
                    return Ok(None);
                }
                UserEvent::EmailChanged {
                    old_email: self.email.clone(),
                    new_email: email.as_str().to_owned(),
                }
            }
            UserCommand::Rename { name } => {
                self.ensure_active()?;
                if name.as_str() == self.name {
                    return Ok(None);
                }
                UserEvent::Renamed {
                    name: name.as_str().to_owned(),
                }
            }
            UserCommand::ChangeCreditLimit { credit_limit } => {
                self.ensure_active()?;
                if credit_limit.cents() < self.reserved_cents {
                    return Err(UserError::LimitBelowReserved {
                        limit_cents: credit_limit.cents(),
                        reserved_cents: self.reserved_cents,
                    });
                }
                if credit_limit.cents() == self.credit_limit_cents {
                    return Ok(None);
                }
                UserEvent::CreditLimitChanged {
                    credit_limit_cents: credit_limit.cents(),
                }
            }
            UserCommand::Deactivate { reason } => {
                self.ensure_active()?;
                UserEvent::Deactivated {
                    reason: reason.as_str().to_owned(),
                }
            }
            UserCommand::ReserveCredit { order_id, amount } => {
                match self.reservations.get(&order_id) {
                    Some(Reservation::Held { amount_cents }) if *amount_cents == amount.cents() => {
                        return Ok(None);
                    }
                    Some(Reservation::Held { amount_cents }) => {
                        return Err(UserError::ReservationMismatch {
                            order_id,
                            reserved_cents: *amount_cents,
                            requested_cents: amount.cents(),
                        });
                    }
                    Some(Reservation::Released { .. }) => {
                        return Err(UserError::ReservationClosed { order_id });
                    }
                    None => {}
                }
                self.ensure_active()?;
                if amount.cents() > self.available_cents() {
                    return Err(UserError::InsufficientCredit {
                        available_cents: self.available_cents(),
                        requested_cents: amount.cents(),
                    });
                }
                UserEvent::CreditReserved {
                    order_id,
                    amount_cents: amount.cents(),
                }
            }
            UserCommand::ReleaseCredit { order_id } => match self.reservations.get(&order_id) {
                Some(Reservation::Released { .. }) => return Ok(None),
                Some(Reservation::Held { amount_cents }) => UserEvent::CreditReleased {
                    order_id,
                    amount_cents: *amount_cents,
                },
                None => UserEvent::CreditReleased {
                    order_id,
                    amount_cents: 0,
                },
            },
            UserCommand::Erase { reason } => {
                if self.status == UserStatus::Erased {
                    return Ok(None);
                }
                UserEvent::Erased {
                    reason: reason.as_str().to_owned(),
                }
            }
        };
        Ok(Some(event))
    }
}

impl Aggregate for User {
    const TYPE: &'static str = contracts::users::AGGREGATE_TYPE;
    type Command = UserCommand;
    type Event = UserEvent;
    type Error = UserError;
    type Services = ();

    async fn handle(
        &mut self,
        command: Self::Command,
        _services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        if let Some(event) = self.decide(command)? {
            sink.write(event, self).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        match event {
            UserEvent::Registered {
                user_id,
                email,
                name,
                credit_limit_cents,
            } => {
                self.id = Some(user_id);
                self.email = email;
                self.name = name;
                self.credit_limit_cents = credit_limit_cents;
                self.status = UserStatus::Active;
            }
            UserEvent::EmailChanged { new_email, .. } => self.email = new_email,
            UserEvent::Renamed { name } => self.name = name,
            UserEvent::CreditLimitChanged { credit_limit_cents } => {
                self.credit_limit_cents = credit_limit_cents;
            }
            UserEvent::Deactivated { .. } => self.status = UserStatus::Deactivated,
            UserEvent::CreditReserved {
                order_id,
                amount_cents,
            } => {
                self.reserved_cents += amount_cents;
                self.reservations
                    .insert(order_id, Reservation::Held { amount_cents });
            }
            UserEvent::CreditReleased {
                order_id,
                amount_cents,
            } => {
                self.reserved_cents -= amount_cents;
                self.reservations
                    .insert(order_id, Reservation::Released { amount_cents });
            }
            UserEvent::Erased { .. } => {
                self.email = domain_kit::ERASED.to_owned();
                self.name = domain_kit::ERASED.to_owned();
                self.status = UserStatus::Erased;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use cqrs_es::test::TestFramework;

    use super::*;

    type UserTest = TestFramework<User>;

    const USER: Uuid = Uuid::from_u128(0x0193_0000_0000_7000_8000_0000_0000_0001);
    const ORDER: Uuid = Uuid::from_u128(0x0193_0000_0000_7000_8000_0000_0000_00a1);

    fn registered(limit: i64) -> UserEvent {
        UserEvent::Registered {
            user_id: USER,
            email: "ada@example.com".into(),
            name: "Ada".into(),
            credit_limit_cents: limit,
        }
    }

    fn reserved(order_id: Uuid, amount_cents: i64) -> UserEvent {
        UserEvent::CreditReserved {
            order_id,
            amount_cents,
        }
    }

    fn reserve(order_id: Uuid, cents: i64) -> UserCommand {
        UserCommand::ReserveCredit {
            order_id,
            amount: CreditCents::parse_positive(cents).unwrap(),
        }
    }

    fn deactivated() -> UserEvent {
        UserEvent::Deactivated {
            reason: "fraud".into(),
        }
    }

    #[test]
    fn registering_a_new_user_records_its_details() {
        UserTest::with(())
            .given_no_previous_events()
            .when(UserCommand::Register {
                user_id: USER,
                email: Email::parse("Ada@Example.com").unwrap(),
                name: UserName::parse("Ada").unwrap(),
                credit_limit: CreditCents::parse(10_000).unwrap(),
            })
            .then_expect_events(vec![registered(10_000)]);
    }

    #[test]
    fn registering_twice_is_refused() {
        UserTest::with(())
            .given(vec![registered(10_000)])
            .when(UserCommand::Register {
                user_id: USER,
                email: Email::parse("ada@example.com").unwrap(),
                name: UserName::parse("Ada").unwrap(),
                credit_limit: CreditCents::parse(1).unwrap(),
            })
            .then_expect_error(UserError::AlreadyRegistered);
    }

    #[test]
    fn commands_on_an_unknown_user_are_not_found() {
        UserTest::with(())
            .given_no_previous_events()
            .when(UserCommand::Rename {
                name: UserName::parse("Bob").unwrap(),
            })
            .then_expect_error(UserError::NotFound);
        UserTest::with(())
            .given_no_previous_events()
            .when(UserCommand::ReleaseCredit { order_id: ORDER })
            .then_expect_error(UserError::NotFound);
    }

    #[test]
    fn changing_the_email_records_old_and_new() {
        UserTest::with(())
            .given(vec![registered(0)])
            .when(UserCommand::ChangeEmail {
                email: Email::parse("lovelace@example.com").unwrap(),
            })
            .then_expect_events(vec![UserEvent::EmailChanged {
                old_email: "ada@example.com".into(),
                new_email: "lovelace@example.com".into(),
            }]);
    }

    #[test]
    fn setting_the_same_email_or_name_changes_nothing() {
        UserTest::with(())
            .given(vec![registered(0)])
            .when(UserCommand::ChangeEmail {
                email: Email::parse("ADA@example.com").unwrap(),
            })
            .then_expect_events(vec![]);
        UserTest::with(())
            .given(vec![registered(0)])
            .when(UserCommand::Rename {
                name: UserName::parse("Ada").unwrap(),
            })
            .then_expect_events(vec![]);
    }

    #[test]
    fn renaming_records_the_new_name() {
        UserTest::with(())
            .given(vec![registered(0)])
            .when(UserCommand::Rename {
                name: UserName::parse("Ada King").unwrap(),
            })
            .then_expect_events(vec![UserEvent::Renamed {
                name: "Ada King".into(),
            }]);
    }

    #[test]
    fn the_credit_limit_cannot_drop_below_what_is_reserved() {
        UserTest::with(())
            .given(vec![registered(10_000), reserved(ORDER, 6_000)])
            .when(UserCommand::ChangeCreditLimit {
                credit_limit: CreditCents::parse(5_000).unwrap(),
            })
            .then_expect_error(UserError::LimitBelowReserved {
                limit_cents: 5_000,
                reserved_cents: 6_000,
            });
        UserTest::with(())
            .given(vec![registered(10_000), reserved(ORDER, 6_000)])
            .when(UserCommand::ChangeCreditLimit {
                credit_limit: CreditCents::parse(6_000).unwrap(),
            })
            .then_expect_events(vec![UserEvent::CreditLimitChanged {
                credit_limit_cents: 6_000,
            }]);
    }

    #[test]
    fn reserving_within_the_limit_holds_the_credit() {
        UserTest::with(())
            .given(vec![registered(10_000)])
            .when(reserve(ORDER, 10_000))
            .then_expect_events(vec![reserved(ORDER, 10_000)]);
    }

    #[test]
    fn reserving_beyond_the_available_credit_is_refused() {
        let other = Uuid::from_u128(7);
        UserTest::with(())
            .given(vec![registered(10_000), reserved(other, 4_000)])
            .when(reserve(ORDER, 6_001))
            .then_expect_error(UserError::InsufficientCredit {
                available_cents: 6_000,
                requested_cents: 6_001,
            });
    }

    #[test]
    fn a_retried_reservation_has_no_second_effect() {
        UserTest::with(())
            .given(vec![registered(10_000), reserved(ORDER, 4_000)])
            .when(reserve(ORDER, 4_000))
            .then_expect_events(vec![]);
    }

    #[test]
    fn a_reservation_with_another_amount_for_the_same_order_conflicts() {
        UserTest::with(())
            .given(vec![registered(10_000), reserved(ORDER, 4_000)])
            .when(reserve(ORDER, 5_000))
            .then_expect_error(UserError::ReservationMismatch {
                order_id: ORDER,
                reserved_cents: 4_000,
                requested_cents: 5_000,
            });
    }

    #[test]
    fn a_deactivated_user_cannot_reserve() {
        UserTest::with(())
            .given(vec![registered(10_000), deactivated()])
            .when(reserve(ORDER, 1))
            .then_expect_error(UserError::Deactivated);
    }

    #[test]
    fn a_deactivated_user_cannot_be_changed_or_deactivated_again() {
        UserTest::with(())
            .given(vec![registered(10_000), deactivated()])
            .when(UserCommand::Deactivate {
                reason: Reason::parse("again").unwrap(),
            })
            .then_expect_error(UserError::Deactivated);
        UserTest::with(())
            .given(vec![registered(10_000), deactivated()])
            .when(UserCommand::ChangeCreditLimit {
                credit_limit: CreditCents::parse(1).unwrap(),
            })
            .then_expect_error(UserError::Deactivated);
    }

    #[test]
    fn deactivating_records_the_reason() {
        UserTest::with(())
            .given(vec![registered(10_000)])
            .when(UserCommand::Deactivate {
                reason: Reason::parse("fraud").unwrap(),
            })
            .then_expect_events(vec![deactivated()]);
    }

    #[test]
    fn releasing_gives_the_reserved_amount_back_once() {
        UserTest::with(())
            .given(vec![registered(10_000), reserved(ORDER, 4_000)])
            .when(UserCommand::ReleaseCredit { order_id: ORDER })
            .then_expect_events(vec![UserEvent::CreditReleased {
                order_id: ORDER,
                amount_cents: 4_000,
            }]);
        UserTest::with(())
            .given(vec![
                registered(10_000),
                reserved(ORDER, 4_000),
                UserEvent::CreditReleased {
                    order_id: ORDER,
                    amount_cents: 4_000,
                },
            ])
            .when(UserCommand::ReleaseCredit { order_id: ORDER })
            .then_expect_events(vec![]);
    }

    #[test]
    fn a_deactivated_user_can_still_have_credit_released() {
        UserTest::with(())
            .given(vec![
                registered(10_000),
                reserved(ORDER, 4_000),
                deactivated(),
            ])
            .when(UserCommand::ReleaseCredit { order_id: ORDER })
            .then_expect_events(vec![UserEvent::CreditReleased {
                order_id: ORDER,
                amount_cents: 4_000,
            }]);
    }

    #[test]
    fn releasing_an_order_that_reserved_nothing_closes_it_against_late_reservations() {
        UserTest::with(())
            .given(vec![registered(10_000)])
            .when(UserCommand::ReleaseCredit { order_id: ORDER })
            .then_expect_events(vec![UserEvent::CreditReleased {
                order_id: ORDER,
                amount_cents: 0,
            }]);
        UserTest::with(())
            .given(vec![
                registered(10_000),
                UserEvent::CreditReleased {
                    order_id: ORDER,
                    amount_cents: 0,
                },
            ])
            .when(reserve(ORDER, 100))
            .then_expect_error(UserError::ReservationClosed { order_id: ORDER });
    }

    #[test]
    fn released_credit_can_be_reserved_by_another_order() {
        let mut user = User::default();
        for event in [
            registered(10_000),
            reserved(ORDER, 10_000),
            UserEvent::CreditReleased {
                order_id: ORDER,
                amount_cents: 10_000,
            },
        ] {
            user.apply(event);
        }
        assert_eq!(user.reserved_cents(), 0);
        assert_eq!(user.available_cents(), 10_000);
        UserTest::with(())
            .given(vec![
                registered(10_000),
                reserved(ORDER, 10_000),
                UserEvent::CreditReleased {
                    order_id: ORDER,
                    amount_cents: 10_000,
                },
            ])
            .when(reserve(Uuid::from_u128(9), 10_000))
            .then_expect_events(vec![reserved(Uuid::from_u128(9), 10_000)]);
    }

    #[test]
    fn events_round_trip_through_their_stored_json() {
        let event = reserved(ORDER, 5);
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(json["type"], "UserCreditReserved");
        assert_eq!(serde_json::from_value::<UserEvent>(json).unwrap(), event);
    }

    fn erase() -> UserCommand {
        UserCommand::Erase {
            reason: Reason::parse("erasure request 118").unwrap(),
        }
    }

    fn erased() -> UserEvent {
        UserEvent::Erased {
            reason: "erasure request 118".into(),
        }
    }

    #[test]
    fn erasing_records_the_reason_once_and_blanks_the_personal_data() {
        UserTest::with(())
            .given(vec![registered(10_000)])
            .when(erase())
            .then_expect_events(vec![erased()]);
        UserTest::with(())
            .given(vec![registered(10_000), deactivated()])
            .when(erase())
            .then_expect_events(vec![erased()]);
        UserTest::with(())
            .given(vec![registered(10_000), erased()])
            .when(erase())
            .then_expect_events(vec![]);
        UserTest::with(())
            .given_no_previous_events()
            .when(erase())
            .then_expect_error(UserError::NotFound);
        let mut user = User::default();
        user.apply(registered(10_000));
        user.apply(erased());
        assert_eq!(
            (user.email(), user.name()),
            (domain_kit::ERASED, domain_kit::ERASED)
        );
        assert_eq!(user.status(), UserStatus::Erased);
    }

    #[test]
    fn an_erased_user_cannot_act_or_reserve_but_has_held_credit_released() {
        let given = || vec![registered(10_000), reserved(ORDER, 4_000), erased()];
        UserTest::with(())
            .given(given())
            .when(reserve(Uuid::from_u128(9), 1_000))
            .then_expect_error(UserError::Erased);
        UserTest::with(())
            .given(given())
            .when(UserCommand::Rename {
                name: UserName::parse("Someone").unwrap(),
            })
            .then_expect_error(UserError::Erased);
        UserTest::with(())
            .given(given())
            .when(UserCommand::ReleaseCredit { order_id: ORDER })
            .then_expect_events(vec![UserEvent::CreditReleased {
                order_id: ORDER,
                amount_cents: 4_000,
            }]);
    }
}
