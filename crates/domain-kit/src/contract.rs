//! What a bounded context tells the store about its events: where they are published, how
//! they look on the wire, which unique values they claim, and the shape its snapshots have.

use contracts::events::v1::event_envelope::Payload;
use contracts::upcast::{Step, climb};
use cqrs_es::persist::SerializedEvent;
use serde_json::Value;

/// A change to a uniqueness claim, committed in the same transaction as the event causing it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimChange {
    /// Take `value` in `scope` for the event's aggregate; fails if another aggregate owns it.
    Claim { scope: &'static str, value: String },
    /// Give `value` in `scope` back, if the event's aggregate owns it.
    Release { scope: &'static str, value: String },
}

/// Which fields of a context's stored events and snapshots hold personal data of the
/// aggregate's subject (the aggregate id names the subject). The store seals them with the
/// subject's key before they are stored or published and opens them on read; an event of
/// type `erasure` destroys the key (crate `privacy`, ADR 0018).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PersonalData {
    /// Per event type, the personal string fields of its payload.
    pub events: &'static [(&'static str, &'static [&'static str])],
    /// The personal string fields of the aggregate's snapshot.
    pub snapshot: &'static [&'static str],
    /// The event type that erases the subject, if the context has one.
    pub erasure: Option<&'static str>,
}

impl PersonalData {
    /// A context without personal data.
    pub const NONE: Self = Self {
        events: &[],
        snapshot: &[],
        erasure: None,
    };

    /// The personal fields of an event of `event_type`.
    pub fn fields(&self, event_type: &str) -> &'static [&'static str] {
        self.events
            .iter()
            .find(|(name, _)| *name == event_type)
            .map_or(&[], |(_, fields)| fields)
    }

    /// Whether the context holds any personal data.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty() && self.snapshot.is_empty()
    }
}

/// A step that brings a stored event's JSON payload up one schema version.
pub type Upcaster = Step<Value>;

/// The mapping from a context's stored events to its public contract.
pub trait EventContract: Send + Sync + 'static {
    /// The Kafka topic this aggregate type's events are published to.
    fn topic(&self) -> &str;

    /// The typed protobuf payload of the envelope for `event`.
    fn payload(&self, event: &SerializedEvent) -> Result<Payload, String>;

    /// The uniqueness claims `event` takes or gives up.
    fn claims(&self, _event: &SerializedEvent) -> Result<Vec<ClaimChange>, String> {
        Ok(Vec::new())
    }

    /// The version of the aggregate's serialized shape, recorded with each snapshot. Raise it
    /// when the aggregate's fields change form or meaning: a snapshot of another shape is then
    /// ignored (the aggregate is folded from its events) and replaced at the next snapshot,
    /// never read into the new shape.
    fn snapshot_shape(&self) -> i32 {
        1
    }

    /// The steps that bring a stored event's JSON payload of an older schema version to the
    /// current one (see `contracts::upcast`), oldest first. The store applies them to every
    /// event it reads, so the aggregate and every replay only ever see the current version.
    fn upcasters(&self) -> &'static [Upcaster] {
        &[]
    }

    /// The personal data in this context's events and snapshots.
    fn personal_data(&self) -> &'static PersonalData {
        &PersonalData::NONE
    }
}

/// Brings a stored event's payload to the current schema version of its type with `steps`,
/// and records the version reached in `event_version`.
pub fn upcast_stored(steps: &[Upcaster], event: &mut SerializedEvent) -> Result<(), String> {
    let version: u32 = event.event_version.parse().map_err(|_| {
        format!(
            "stored {} has event version {:?}, which is not a number",
            event.event_type, event.event_version
        )
    })?;
    let mut payload = event.payload.clone();
    let reached = climb(steps, &event.event_type, version, &mut payload)?;
    if reached != version {
        event.payload = payload;
        event.event_version = reached.to_string();
    }
    Ok(())
}
