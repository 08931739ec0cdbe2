//! The wire contracts of the system: the protobuf event envelope and each aggregate's events.
//!
//! Generated from `proto/**/*.proto` by prost at build time.

/// Envelope shared by every topic.
pub mod events {
    /// Version 1 of the envelope.
    pub mod v1 {
        include!(concat!(env!("OUT_DIR"), "/cqrs.events.v1.rs"));
    }
}

/// Events of the Users bounded context.
pub mod users {
    /// Version 1 of the User events.
    pub mod v1 {
        include!(concat!(env!("OUT_DIR"), "/cqrs.users.v1.rs"));
    }
}

pub use prost::Message;
pub use prost_types::Timestamp;

/// The encoded `FileDescriptorSet` of every contract, for schema compatibility checks.
pub const DESCRIPTORS: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/descriptors.binpb"));
