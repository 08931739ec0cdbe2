//! The wire contracts of the system: the protobuf event envelope and each aggregate's events.
//!
//! Generated from `proto/**/*.proto` by prost at build time.

/// JSON renderings of the wire types (they derive `serde::Serialize`).
pub mod json {
    /// A protobuf timestamp as RFC 3339 (UTC), or `null`.
    pub fn timestamp<S: serde::Serializer>(
        value: &Option<prost_types::Timestamp>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        let text = value.as_ref().and_then(|t| {
            chrono::DateTime::from_timestamp(t.seconds, u32::try_from(t.nanos).ok()?)
                .map(|at| at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
        });
        serializer.serialize_some(&text)
    }

    /// Bytes that should be an event envelope, for people: `{"envelope": {...}}` when they
    /// decode, otherwise `{"error": ..., "raw_hex": ..., "raw_text": ...}` (the hex of the
    /// first 256 bytes, the text with invalid UTF-8 replaced).
    pub fn envelope_or_raw(payload: &[u8]) -> serde_json::Map<String, serde_json::Value> {
        let mut rendered = serde_json::Map::new();
        match crate::decode_envelope(payload) {
            Ok(envelope) => {
                let value = serde_json::to_value(&envelope).unwrap_or_default();
                rendered.insert("envelope".into(), value);
            }
            Err(error) => {
                let hex: String = payload
                    .iter()
                    .take(256)
                    .map(|b| format!("{b:02x}"))
                    .collect();
                let text = String::from_utf8_lossy(payload).into_owned();
                rendered.insert(
                    "error".into(),
                    format!("not an EventEnvelope: {error}").into(),
                );
                rendered.insert("raw_hex".into(), hex.into());
                rendered.insert("raw_text".into(), text.into());
            }
        }
        rendered
    }
}

/// Envelope shared by every topic.
pub mod events {
    /// Version 1 of the envelope.
    pub mod v1 {
        include!(concat!(env!("OUT_DIR"), "/cqrs.events.v1.rs"));
    }
}

/// Events of the Users bounded context.
pub mod users {
    /// `aggregate_type` of every User event's envelope.
    pub const AGGREGATE_TYPE: &str = "user";

    /// Version 1 of the User events.
    pub mod v1 {
        include!(concat!(env!("OUT_DIR"), "/cqrs.users.v1.rs"));
    }
}

/// Events of the Orders bounded context.
pub mod orders {
    /// `aggregate_type` of every Order event's envelope.
    pub const AGGREGATE_TYPE: &str = "order";

    /// Version 1 of the Order events.
    pub mod v1 {
        include!(concat!(env!("OUT_DIR"), "/cqrs.orders.v1.rs"));
    }
}

impl events::v1::EventEnvelope {
    /// The User event this envelope carries, or why it carries none.
    pub fn user_event(&self) -> Result<&users::v1::user_event::Event, String> {
        match &self.payload {
            Some(events::v1::event_envelope::Payload::User(user)) => user
                .event
                .as_ref()
                .ok_or_else(|| "User event without a payload".to_owned()),
            _ => Err(format!("{} is not a User event", self.event_type)),
        }
    }

    /// The Order event this envelope carries, or why it carries none.
    pub fn order_event(&self) -> Result<&orders::v1::order_event::Event, String> {
        match &self.payload {
            Some(events::v1::event_envelope::Payload::Order(order)) => order
                .event
                .as_ref()
                .ok_or_else(|| "Order event without a payload".to_owned()),
            _ => Err(format!("{} is not an Order event", self.event_type)),
        }
    }
}

pub mod upcast;

pub use prost::Message;
pub use prost_types::Timestamp;
pub use upcast::decode_envelope;

/// The encoded `FileDescriptorSet` of every contract, for schema compatibility checks.
pub const DESCRIPTORS: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/descriptors.binpb"));

/// One line per message, enum, field and enum value of every contract, e.g.
/// `cqrs.users.v1.UserRegistered message` and `cqrs.users.v1.UserRegistered.email = 2 string`.
/// Lines are only ever added: a removed or changed line is a breaking change of the wire format.
pub fn schema_summary() -> Vec<String> {
    use prost_types::field_descriptor_proto::{Label, Type};
    use prost_types::{DescriptorProto, FileDescriptorSet};

    fn message(prefix: &str, descriptor: &DescriptorProto, lines: &mut Vec<String>) {
        let name = format!("{prefix}.{}", descriptor.name());
        // A line of its own, so a message without fields (OrderApproved) is covered too.
        lines.push(format!("{name} message"));
        for field in &descriptor.field {
            let kind = match field.r#type() {
                Type::Message | Type::Enum => field.type_name().trim_start_matches('.').to_owned(),
                other => other
                    .as_str_name()
                    .trim_start_matches("TYPE_")
                    .to_lowercase(),
            };
            let label = match (field.label(), field.oneof_index) {
                (Label::Repeated, _) => " repeated".to_owned(),
                (_, Some(index)) if !field.proto3_optional() => {
                    format!(" oneof {}", descriptor.oneof_decl[index as usize].name())
                }
                _ => String::new(),
            };
            lines.push(format!(
                "{name}.{} = {} {kind}{label}",
                field.name(),
                field.number()
            ));
        }
        for nested in &descriptor.nested_type {
            message(&name, nested, lines);
        }
        for enumeration in &descriptor.enum_type {
            lines.push(format!("{name}.{} enum", enumeration.name()));
            for value in &enumeration.value {
                lines.push(format!(
                    "{name}.{}.{} = {}",
                    enumeration.name(),
                    value.name(),
                    value.number()
                ));
            }
        }
    }

    let set = FileDescriptorSet::decode(DESCRIPTORS).expect("descriptors built by build.rs");
    let mut lines = Vec::new();
    for file in set
        .file
        .iter()
        .filter(|f| !f.package().starts_with("google."))
    {
        for descriptor in &file.message_type {
            message(file.package(), descriptor, &mut lines);
        }
        for enumeration in &file.enum_type {
            lines.push(format!("{}.{} enum", file.package(), enumeration.name()));
            for value in &enumeration.value {
                lines.push(format!(
                    "{}.{}.{} = {}",
                    file.package(),
                    enumeration.name(),
                    value.name(),
                    value.number()
                ));
            }
        }
    }
    lines.sort();
    lines
}
