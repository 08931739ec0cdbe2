//! Metadata stored with every event, so a trace runs from the HTTP command to every consumer.

use std::collections::HashMap;

/// Who caused a command and in which trace; stored with each event the command emits.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommandMetadata {
    /// Id shared by everything one original request caused.
    pub correlation_id: String,
    /// Id of the request or event that directly caused the command.
    pub causation_id: String,
    /// Who issued the command.
    pub actor: String,
    /// W3C trace context of the command, if any.
    pub traceparent: Option<String>,
    /// The client's idempotency key, if it sent one.
    pub idempotency: Option<IdempotencyKey>,
}

/// A client-chosen key that makes a command safe to repeat: the first committed outcome is
/// recorded with the events, and a repeat of the same request with the same key answers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey {
    /// The key as the client sent it.
    pub key: String,
    /// Digest of the request the key stands for, to refuse a key reused for another request.
    pub fingerprint: String,
}

pub(crate) const CORRELATION_ID: &str = "correlation_id";
pub(crate) const CAUSATION_ID: &str = "causation_id";
pub(crate) const ACTOR: &str = "actor";
pub(crate) const TRACEPARENT: &str = "traceparent";
pub(crate) const IDEMPOTENCY_KEY: &str = "idempotency_key";
pub(crate) const REQUEST_FINGERPRINT: &str = "request_fingerprint";

impl CommandMetadata {
    pub(crate) fn into_map(self) -> HashMap<String, String> {
        let mut map = HashMap::from([
            (CORRELATION_ID.to_owned(), self.correlation_id),
            (CAUSATION_ID.to_owned(), self.causation_id),
            (ACTOR.to_owned(), self.actor),
        ]);
        if let Some(traceparent) = self.traceparent {
            map.insert(TRACEPARENT.to_owned(), traceparent);
        }
        if let Some(idempotency) = self.idempotency {
            map.insert(IDEMPOTENCY_KEY.to_owned(), idempotency.key);
            map.insert(REQUEST_FINGERPRINT.to_owned(), idempotency.fingerprint);
        }
        map
    }

    /// Reads the metadata back from an event's stored metadata; absent keys become empty.
    pub fn from_json(value: &serde_json::Value) -> Self {
        let field = |key: &str| value.get(key).and_then(|v| v.as_str()).map(str::to_owned);
        Self {
            correlation_id: field(CORRELATION_ID).unwrap_or_default(),
            causation_id: field(CAUSATION_ID).unwrap_or_default(),
            actor: field(ACTOR).unwrap_or_default(),
            traceparent: field(TRACEPARENT),
            idempotency: field(IDEMPOTENCY_KEY).map(|key| IdempotencyKey {
                key,
                fingerprint: field(REQUEST_FINGERPRINT).unwrap_or_default(),
            }),
        }
    }
}
