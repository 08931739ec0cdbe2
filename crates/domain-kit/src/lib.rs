//! What the bounded contexts' domains share: how a refused value is described, bounded free
//! text, the free-text reason every context asks for, and the [`EventContract`] a context's
//! events are published and claimed by. Each value parses its input once and is valid from
//! then on. No I/O lives here: this crate and the domain crates built on it depend on no web,
//! database or broker crate.

mod contract;

pub use contract::{ClaimChange, EventContract, PersonalData, Upcaster, upcast_stored};

use serde::{Deserialize, Serialize};

/// What a sealed piece of personal data reads as once its subject was erased (crate
/// `privacy`), and what an erased aggregate holds in its place.
pub const ERASED: &str = "[erased]";

/// Why a value was refused: a machine-readable code and a sentence.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ValueError {
    /// e.g. `invalid_email`.
    pub code: &'static str,
    /// e.g. `an email needs exactly one @`.
    pub message: String,
}

/// A `ValueError` with `code` and `message`.
pub fn refuse(code: &'static str, message: impl Into<String>) -> ValueError {
    ValueError {
        code,
        message: message.into(),
    }
}

/// Trims `input` and checks it is 1 to `max_chars` characters without control characters
/// (newlines allowed when `multiline`). `what` names the field in the messages.
pub fn bounded_text(
    what: &str,
    input: &str,
    max_chars: usize,
    multiline: bool,
) -> Result<String, ValueError> {
    let text = input.trim();
    if text.is_empty() {
        return Err(refuse("required", format!("{what} must not be empty")));
    }
    if text.chars().count() > max_chars {
        return Err(refuse(
            "too_long",
            format!("{what} must be at most {max_chars} characters"),
        ));
    }
    if text
        .chars()
        .any(|c| c.is_control() && !(multiline && c == '\n'))
    {
        return Err(refuse(
            "invalid_characters",
            format!("{what} must not contain control characters"),
        ));
    }
    Ok(text.to_owned())
}

/// A free-text reason (deactivation, rejection, cancellation): trimmed, 1 to 500 characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Reason(String);

impl Reason {
    /// Longest reason accepted, in characters.
    pub const MAX_LEN: usize = 500;

    /// Parses a reason; it may span lines.
    pub fn parse(input: &str) -> Result<Self, ValueError> {
        bounded_text("reason", input, Self::MAX_LEN, true).map(Self)
    }

    /// The reason.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The state of aggregate `A` after `payloads` (its stored events' payloads in sequence
/// order), folded by its own `apply`, as JSON: what time travel shows.
pub fn fold<A>(
    payloads: impl IntoIterator<Item = serde_json::Value>,
) -> Result<serde_json::Value, String>
where
    A: cqrs_es::Aggregate + Default + Serialize,
{
    let mut aggregate = A::default();
    for (index, payload) in payloads.into_iter().enumerate() {
        let event: A::Event = serde_json::from_value(payload)
            .map_err(|error| format!("event {} is not a {} event: {error}", index + 1, A::TYPE))?;
        aggregate.apply(event);
    }
    serde_json::to_value(aggregate).map_err(|error| error.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_trimmed_and_bounded_in_characters() {
        assert_eq!(bounded_text("name", "  Ada ", 10, false).unwrap(), "Ada");
        assert_eq!(
            bounded_text("name", "  ", 10, false).unwrap_err().code,
            "required"
        );
        assert_eq!(
            bounded_text("name", &"x".repeat(11), 10, false)
                .unwrap_err()
                .code,
            "too_long"
        );
        assert!(bounded_text("name", &"é".repeat(10), 10, false).is_ok());
        assert_eq!(
            bounded_text("name", "a\u{0}b", 10, false).unwrap_err().code,
            "invalid_characters"
        );
        assert_eq!(
            bounded_text("name", "a\nb", 10, false).unwrap_err().code,
            "invalid_characters"
        );
        assert!(bounded_text("reason", "a\nb", 10, true).is_ok());
    }

    #[test]
    fn reasons_are_bounded() {
        assert_eq!(
            Reason::parse(" out of stock ").unwrap().as_str(),
            "out of stock"
        );
        assert_eq!(Reason::parse("").unwrap_err().code, "required");
        assert_eq!(
            Reason::parse(&"x".repeat(501)).unwrap_err().code,
            "too_long"
        );
        assert_eq!(
            Reason::parse("a\u{7}").unwrap_err().code,
            "invalid_characters"
        );
    }
}
