//! The schema history of the Order events' stored JSON: the steps that bring an event of an
//! older version to the current one (ADR 0016).

use contracts::upcast::{LEGACY_ORDER_CURRENCY, Step};
use domain_kit::Upcaster;
use serde_json::Value;

/// The steps that bring a stored Order event's JSON payload from an older schema version to the
/// current one, oldest first. Their wire twins are `contracts::upcast::ENVELOPE_STEPS`; both
/// must reach the same version (a test checks).
pub const UPCASTERS: &[Upcaster] = &[Step {
    event_type: "OrderPlaced",
    from_version: 1,
    apply: placed_states_its_currency,
}];

/// OrderPlaced v1 → v2: the currency, implied before (EUR), is stated.
fn placed_states_its_currency(payload: &mut Value) -> Result<(), String> {
    let fields = payload
        .as_object_mut()
        .ok_or("the payload is not a JSON object")?;
    fields
        .entry("currency")
        .or_insert_with(|| LEGACY_ORDER_CURRENCY.into());
    Ok(())
}

/// The schema version Order events of `event_type` are written at.
pub(crate) fn current_version(event_type: &str) -> u32 {
    contracts::upcast::current_version(UPCASTERS, event_type)
}
