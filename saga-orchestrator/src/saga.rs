//! The saga state machines, free of I/O: what a saga does next, given its state and the
//! answer to the step it just ran. The driver persists what these functions decide.
//!
//! Place-order: `RESERVING_CREDIT → APPROVING_ORDER → APPROVED`; a refused reservation
//! → `REJECTING_ORDER → REJECTED`; past the deadline → `REJECTING_ORDER` ("timed out")
//! → `RELEASING_CREDIT → TIMED_OUT`; an order cancelled meanwhile → `CANCELLED` (its
//! cancel-order saga releases the credit). Cancel-order: `RELEASING_CREDIT → RELEASED`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Which saga.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// Started by `OrderPlaced`: reserve the total, then approve or reject the order.
    PlaceOrder,
    /// Started by `OrderCancelled`: release the order's credit.
    CancelOrder,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PlaceOrder => "place-order",
            Self::CancelOrder => "cancel-order",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::PlaceOrder, Self::CancelOrder]
            .into_iter()
            .find(|kind| kind.as_str() == text)
    }
}

/// Where a saga is. The first four are steps still to run; the rest are terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum State {
    ReservingCredit,
    ApprovingOrder,
    RejectingOrder,
    ReleasingCredit,
    /// The order is approved and its credit held.
    Approved,
    /// The order is rejected (refused credit, or refused by someone else); no credit held.
    Rejected,
    /// The deadline passed: the order is rejected as timed out and its credit released.
    TimedOut,
    /// The order was cancelled before the saga approved it; its cancel saga releases credit.
    Cancelled,
    /// Cancel-order: the order's credit is released (or its reservation closed).
    Released,
    /// A downstream service refused in a way the saga does not expect; compensated, see
    /// `reason`. An operator may retry its refused step or resolve it (`crate::repair`).
    Failed,
    /// An operator settled a FAILED saga by hand; who, when and why are its interventions.
    Resolved,
}

impl State {
    pub const ALL: [State; 11] = [
        Self::ReservingCredit,
        Self::ApprovingOrder,
        Self::RejectingOrder,
        Self::ReleasingCredit,
        Self::Approved,
        Self::Rejected,
        Self::TimedOut,
        Self::Cancelled,
        Self::Released,
        Self::Failed,
        Self::Resolved,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::ReservingCredit => "RESERVING_CREDIT",
            Self::ApprovingOrder => "APPROVING_ORDER",
            Self::RejectingOrder => "REJECTING_ORDER",
            Self::ReleasingCredit => "RELEASING_CREDIT",
            Self::Approved => "APPROVED",
            Self::Rejected => "REJECTED",
            Self::TimedOut => "TIMED_OUT",
            Self::Cancelled => "CANCELLED",
            Self::Released => "RELEASED",
            Self::Failed => "FAILED",
            Self::Resolved => "RESOLVED",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|state| state.as_str() == text)
    }

    pub fn is_terminal(self) -> bool {
        self.step().is_none()
    }

    /// The step a saga in this state runs next.
    pub fn step(self) -> Option<Step> {
        match self {
            Self::ReservingCredit => Some(Step::ReserveCredit),
            Self::ApprovingOrder => Some(Step::ApproveOrder),
            Self::RejectingOrder => Some(Step::RejectOrder),
            Self::ReleasingCredit => Some(Step::ReleaseCredit),
            _ => None,
        }
    }

    /// The state whose step is `step`: where a retried step starts again.
    pub fn running(step: Step) -> Self {
        match step {
            Step::ReserveCredit => Self::ReservingCredit,
            Step::ApproveOrder => Self::ApprovingOrder,
            Step::RejectOrder => Self::RejectingOrder,
            Step::ReleaseCredit => Self::ReleasingCredit,
        }
    }

    /// A forward step of the place-order saga: the deadline and a cancellation stop it.
    fn is_forward(self) -> bool {
        matches!(self, Self::ReservingCredit | Self::ApprovingOrder)
    }
}

/// A call a saga makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Step {
    ReserveCredit,
    ApproveOrder,
    RejectOrder,
    ReleaseCredit,
}

impl Step {
    pub const ALL: [Step; 4] = [
        Self::ReserveCredit,
        Self::ApproveOrder,
        Self::RejectOrder,
        Self::ReleaseCredit,
    ];

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|step| step.as_str() == text)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::ReserveCredit => "reserve-credit",
            Self::ApproveOrder => "approve-order",
            Self::RejectOrder => "reject-order",
            Self::ReleaseCredit => "release-credit",
        }
    }
}

/// The first state of a new saga.
pub fn initial(kind: Kind, amount_cents: i64) -> State {
    match kind {
        // Nothing to reserve for a free order.
        Kind::PlaceOrder if amount_cents == 0 => State::ApprovingOrder,
        Kind::PlaceOrder => State::ReservingCredit,
        Kind::CancelOrder => State::ReleasingCredit,
    }
}

/// What the saga knows when it is about to run its step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub kind: Kind,
    pub state: State,
    /// Credit may be held for the order: a reservation succeeded, or its outcome is unknown.
    pub release_needed: bool,
    /// The order has been cancelled (its cancel-order saga exists).
    pub cancel_requested: bool,
    pub deadline_at: DateTime<Utc>,
    /// The rejection reason once decided.
    pub reason: Option<String>,
    /// The terminal state that follows the compensation now running.
    pub then: Option<State>,
}

/// A downstream service's answer to a step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// Done (or done before: an idempotent repeat). `detail` says what happened.
    Done { detail: String },
    /// Refused for good (a 4xx): `reason` in words a user can read; for an order, the
    /// status the refusal named.
    Refused {
        problem: String,
        reason: String,
        current_status: Option<String>,
    },
    /// No answer worth keeping (connection refused, timeout, 5xx, 429, open breaker): the
    /// step runs again later.
    Unavailable { error: String },
}

/// How a step ended, as recorded in the saga's history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum StepOutcome {
    Succeeded,
    Refused,
    /// Not run: the deadline or a cancellation came first.
    Skipped,
}

/// What the driver writes after a step, or instead of one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Move to `state` (the current step ended with `outcome`, saying `detail`).
    Move {
        outcome: StepOutcome,
        detail: String,
        state: State,
        release_needed: bool,
        reason: Option<String>,
        then: Option<State>,
    },
    /// Run the same step again after a backoff.
    Retry { error: String },
}

/// The reason an order is rejected when its saga's deadline passes.
pub const TIMED_OUT: &str = "timed out: the credit check did not finish before the deadline";

/// What happens before the step runs: a cancelled order or a passed deadline preempts a
/// forward step of the place-order saga.
pub fn preempt(saga: &Snapshot, now: DateTime<Utc>) -> Option<Decision> {
    if saga.kind != Kind::PlaceOrder || !saga.state.is_forward() {
        return None;
    }
    if saga.cancel_requested {
        return Some(Decision::Move {
            outcome: StepOutcome::Skipped,
            detail: "the order was cancelled; its cancel-order saga releases the credit".into(),
            state: State::Cancelled,
            release_needed: saga.release_needed,
            reason: None,
            then: None,
        });
    }
    if now >= saga.deadline_at {
        return Some(Decision::Move {
            outcome: StepOutcome::Skipped,
            detail: "the deadline passed".into(),
            state: State::RejectingOrder,
            // A reservation whose answer never came may have happened: release to be sure
            // (a release of nothing closes the order, so a late reservation is refused).
            release_needed: saga.release_needed || saga.state == State::ReservingCredit,
            reason: Some(TIMED_OUT.into()),
            then: Some(State::TimedOut),
        });
    }
    None
}

/// Where `saga` goes after its step answered `reply`.
pub fn decide(saga: &Snapshot, reply: Reply) -> Decision {
    let step = saga
        .state
        .step()
        .expect("only a saga with a step to run gets a reply");
    let (problem, reason, current_status) = match reply {
        Reply::Unavailable { error } => return Decision::Retry { error },
        Reply::Done { detail } => return succeeded(saga, step, detail),
        Reply::Refused {
            problem,
            reason,
            current_status,
        } => (problem, reason, current_status),
    };
    let detail = format!("{problem}: {reason}");
    let status = current_status.as_deref();
    let move_to = |state: State, release_needed: bool, why: Option<String>, then| Decision::Move {
        outcome: StepOutcome::Refused,
        detail: detail.clone(),
        state,
        release_needed,
        reason: why,
        then,
    };
    let slug = problem.rsplit('/').next().unwrap_or_default();
    match step {
        // The user cannot have the credit: reject the order, with the refusal as the reason.
        // A key already used, or another amount held for this order, means a reservation of
        // this order may exist: release it after the rejection.
        Step::ReserveCredit => move_to(
            State::RejectingOrder,
            matches!(slug, "idempotency-key-reused" | "reservation-mismatch"),
            Some(reason.clone()),
            Some(State::Rejected),
        ),
        Step::ApproveOrder => match status {
            Some("APPROVED") => move_to(State::Approved, saga.release_needed, None, None),
            Some("CANCELLED") => move_to(State::Cancelled, saga.release_needed, None, None),
            Some("REJECTED") => compensate(
                saga,
                StepOutcome::Refused,
                detail.clone(),
                "the order was rejected by someone else".into(),
                State::Rejected,
            ),
            // Unexpected: settle the order by rejecting it (whose answer also tells if the
            // order was approved after all), then release.
            _ => move_to(
                State::RejectingOrder,
                saga.release_needed,
                Some(format!("approving the order was refused: {reason}")),
                Some(State::Failed),
            ),
        },
        Step::RejectOrder => match status {
            // Approved after all (an approval whose answer was lost): keep the credit.
            Some("APPROVED") => move_to(State::Approved, saga.release_needed, None, None),
            Some("CANCELLED") => move_to(State::Cancelled, saga.release_needed, None, None),
            // Rejected by someone else: as good as done.
            Some("REJECTED") => succeeded(saga, step, detail.clone()),
            // The order's fate is unknown, so its credit stays as it is: an operator decides.
            // `then` stays: a retry of the step ends where this compensation was heading.
            _ => move_to(
                State::Failed,
                saga.release_needed,
                Some(format!("rejecting the order was refused: {reason}")),
                saga.then,
            ),
        },
        // An unknown user holds nothing; any other refusal leaves credit that may be held.
        Step::ReleaseCredit if slug == "user-not-found" => Decision::Move {
            outcome: StepOutcome::Refused,
            detail,
            state: saga.then.unwrap_or(State::Released),
            release_needed: false,
            reason: saga.reason.clone(),
            then: None,
        },
        Step::ReleaseCredit => move_to(
            State::Failed,
            true,
            Some(format!("releasing the credit was refused: {reason}")),
            saga.then,
        ),
    }
}

/// The step did what it was for.
fn succeeded(saga: &Snapshot, step: Step, detail: String) -> Decision {
    // `then` stays only while a compensation is still to run.
    let next = |state: State, release_needed: bool| Decision::Move {
        outcome: StepOutcome::Succeeded,
        detail: detail.clone(),
        state,
        release_needed,
        reason: saga.reason.clone(),
        then: if state.is_terminal() { None } else { saga.then },
    };
    match step {
        Step::ReserveCredit => next(State::ApprovingOrder, true),
        Step::ApproveOrder => next(State::Approved, saga.release_needed),
        Step::RejectOrder if saga.release_needed => next(State::ReleasingCredit, true),
        Step::RejectOrder => next(saga.then.unwrap_or(State::Rejected), false),
        Step::ReleaseCredit => next(saga.then.unwrap_or(State::Released), false),
    }
}

/// Undo what the saga did, then end in `then` with `reason`.
fn compensate(
    saga: &Snapshot,
    outcome: StepOutcome,
    detail: String,
    reason: String,
    then: State,
) -> Decision {
    let state = if saga.release_needed {
        State::ReleasingCredit
    } else {
        then
    };
    Decision::Move {
        outcome,
        detail,
        state,
        release_needed: saga.release_needed,
        reason: Some(reason),
        then: saga.release_needed.then_some(then),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn place(state: State) -> Snapshot {
        Snapshot {
            kind: Kind::PlaceOrder,
            state,
            release_needed: false,
            cancel_requested: false,
            deadline_at: Utc::now() + chrono::Duration::seconds(30),
            reason: None,
            then: None,
        }
    }

    fn done() -> Reply {
        Reply::Done {
            detail: "ok".into(),
        }
    }

    fn refused(status: Option<&str>) -> Reply {
        Reply::Refused {
            problem: "/problems/x".into(),
            reason: "insufficient credit".into(),
            current_status: status.map(str::to_owned),
        }
    }

    /// The states a saga passes through when every reply is `replies[i]` in turn.
    fn run(mut saga: Snapshot, replies: Vec<Reply>) -> Vec<State> {
        let mut path = vec![saga.state];
        for reply in replies {
            match decide(&saga, reply) {
                Decision::Move {
                    state,
                    release_needed,
                    reason,
                    then,
                    ..
                } => {
                    saga = Snapshot {
                        state,
                        release_needed,
                        reason,
                        then,
                        ..saga
                    };
                    path.push(state);
                }
                Decision::Retry { .. } => path.push(saga.state),
            }
        }
        path
    }

    use State::*;

    #[test]
    fn a_reserved_order_is_approved() {
        assert_eq!(
            run(place(ReservingCredit), vec![done(), done()]),
            [ReservingCredit, ApprovingOrder, Approved]
        );
    }

    #[test]
    fn a_refused_reservation_rejects_the_order_with_its_reason_and_releases_nothing() {
        let saga = place(ReservingCredit);
        let Decision::Move {
            state,
            release_needed,
            reason,
            then,
            ..
        } = decide(&saga, refused(None))
        else {
            panic!("a refusal moves the saga");
        };
        assert_eq!(
            (state, release_needed, reason.as_deref(), then),
            (
                RejectingOrder,
                false,
                Some("insufficient credit"),
                Some(Rejected)
            )
        );
        assert_eq!(
            run(saga, vec![refused(None), done()]),
            [ReservingCredit, RejectingOrder, Rejected]
        );
    }

    #[test]
    fn unavailable_answers_retry_the_same_step() {
        let unavailable = || Reply::Unavailable {
            error: "down".into(),
        };
        assert_eq!(
            run(
                place(ReservingCredit),
                vec![unavailable(), unavailable(), done(), unavailable(), done()]
            ),
            [
                ReservingCredit,
                ReservingCredit,
                ReservingCredit,
                ApprovingOrder,
                ApprovingOrder,
                Approved
            ]
        );
    }

    #[test]
    fn the_deadline_rejects_as_timed_out_and_releases_a_reservation_whose_answer_was_lost() {
        let mut saga = place(ReservingCredit);
        saga.deadline_at = Utc::now() - chrono::Duration::seconds(1);
        let Some(Decision::Move {
            state,
            release_needed,
            reason,
            then,
            ..
        }) = preempt(&saga, Utc::now())
        else {
            panic!("the deadline preempts");
        };
        assert_eq!(
            (state, release_needed, reason.as_deref(), then),
            (RejectingOrder, true, Some(TIMED_OUT), Some(TimedOut))
        );
        let saga = Snapshot {
            state,
            release_needed,
            reason,
            then,
            ..saga
        };
        assert_eq!(
            run(saga.clone(), vec![done(), done()]),
            [RejectingOrder, ReleasingCredit, TimedOut]
        );
        // The approval had landed after all: the order stays approved with its credit.
        assert_eq!(
            run(saga, vec![refused(Some("APPROVED"))]),
            [RejectingOrder, Approved]
        );
    }

    #[test]
    fn compensation_steps_ignore_the_deadline_and_cancellation() {
        for state in [RejectingOrder, ReleasingCredit] {
            let mut saga = place(state);
            saga.deadline_at = Utc::now() - chrono::Duration::seconds(1);
            saga.cancel_requested = true;
            assert_eq!(preempt(&saga, Utc::now()), None);
        }
        assert_eq!(preempt(&place(ReservingCredit), Utc::now()), None);
    }

    #[test]
    fn a_cancelled_order_is_never_approved_afterwards() {
        for state in [ReservingCredit, ApprovingOrder] {
            let mut saga = place(state);
            saga.cancel_requested = true;
            assert!(matches!(
                preempt(&saga, Utc::now()),
                Some(Decision::Move {
                    state: Cancelled,
                    outcome: StepOutcome::Skipped,
                    ..
                })
            ));
        }
        // Cancelled while the approval was in flight: orders-command refuses it.
        let mut saga = place(ApprovingOrder);
        saga.release_needed = true;
        assert_eq!(
            run(saga, vec![refused(Some("CANCELLED"))]),
            [ApprovingOrder, Cancelled]
        );
    }

    #[test]
    fn an_order_rejected_by_someone_else_gets_its_credit_released() {
        let mut saga = place(ApprovingOrder);
        saga.release_needed = true;
        assert_eq!(
            run(saga, vec![refused(Some("REJECTED")), done()]),
            [ApprovingOrder, ReleasingCredit, Rejected]
        );
    }

    fn problem(kind: &str, status: Option<&str>) -> Reply {
        Reply::Refused {
            problem: format!("/problems/{kind}"),
            reason: kind.into(),
            current_status: status.map(str::to_owned),
        }
    }

    #[test]
    fn an_unexpected_approval_refusal_rejects_the_order_then_releases_and_fails() {
        let mut saga = place(ApprovingOrder);
        saga.release_needed = true;
        assert_eq!(
            run(saga.clone(), vec![refused(None), done(), done()]),
            [ApprovingOrder, RejectingOrder, ReleasingCredit, Failed]
        );
        // The rejection finds the order approved after all: its credit stays held.
        assert_eq!(
            run(saga, vec![refused(None), refused(Some("APPROVED"))]),
            [ApprovingOrder, RejectingOrder, Approved]
        );
    }

    #[test]
    fn a_refused_rejection_of_unknown_outcome_fails_without_releasing() {
        let mut saga = place(RejectingOrder);
        saga.release_needed = true;
        saga.then = Some(TimedOut);
        let Decision::Move {
            state,
            release_needed,
            ..
        } = decide(&saga, problem("idempotency-key-reused", None))
        else {
            panic!("a refusal moves the saga");
        };
        assert_eq!((state, release_needed), (Failed, true));
    }

    #[test]
    fn a_reservation_refused_for_its_key_or_amount_is_released_after_the_rejection() {
        for kind in ["idempotency-key-reused", "reservation-mismatch"] {
            assert_eq!(
                run(
                    place(ReservingCredit),
                    vec![problem(kind, None), done(), done()]
                ),
                [ReservingCredit, RejectingOrder, ReleasingCredit, Rejected],
                "{kind}"
            );
        }
        assert_eq!(
            run(
                place(ReservingCredit),
                vec![problem("user-not-found", None), done()]
            ),
            [ReservingCredit, RejectingOrder, Rejected]
        );
    }

    #[test]
    fn a_cancel_saga_releases_and_ends_for_an_unknown_user_but_fails_on_another_refusal() {
        let saga = Snapshot {
            kind: Kind::CancelOrder,
            state: initial(Kind::CancelOrder, 500),
            ..place(ReleasingCredit)
        };
        assert_eq!(run(saga.clone(), vec![done()]), [ReleasingCredit, Released]);
        assert_eq!(
            run(saga.clone(), vec![problem("user-not-found", None)]),
            [ReleasingCredit, Released]
        );
        let Decision::Move {
            state,
            release_needed,
            ..
        } = decide(&saga, problem("something-else", None))
        else {
            panic!("a refusal moves the saga");
        };
        assert_eq!(
            (state, release_needed),
            (Failed, true),
            "credit may still be held"
        );
    }

    #[test]
    fn a_failed_compensation_keeps_its_end_so_a_retry_of_its_step_ends_there() {
        for (step_state, then) in [
            (RejectingOrder, TimedOut),
            (RejectingOrder, Rejected),
            (ReleasingCredit, TimedOut),
        ] {
            let saga = Snapshot {
                then: Some(then),
                release_needed: step_state == ReleasingCredit,
                ..place(step_state)
            };
            let Decision::Move {
                state, then: kept, ..
            } = decide(&saga, refused(None))
            else {
                panic!("a refusal moves the saga");
            };
            assert_eq!((state, kept), (Failed, Some(then)));
            // An operator's retry runs the step again from its state, with what was kept.
            let step = step_state.step().unwrap();
            let retried = Snapshot {
                state: State::running(step),
                then: kept,
                ..saga.clone()
            };
            assert_eq!(run(retried, vec![done()]), [step_state, then]);
        }
    }

    #[test]
    fn a_free_order_skips_the_reservation() {
        assert_eq!(initial(Kind::PlaceOrder, 0), ApprovingOrder);
        assert_eq!(initial(Kind::PlaceOrder, 1), ReservingCredit);
    }

    #[test]
    fn names_round_trip() {
        for state in State::ALL {
            assert_eq!(State::parse(state.as_str()), Some(state));
        }
        for kind in [Kind::PlaceOrder, Kind::CancelOrder] {
            assert_eq!(Kind::parse(kind.as_str()), Some(kind));
        }
        for step in Step::ALL {
            assert_eq!(Step::parse(step.as_str()), Some(step));
            assert_eq!(State::running(step).step(), Some(step));
        }
        assert_eq!(State::parse("approved"), None);
    }
}
