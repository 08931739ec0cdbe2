//! Compiles the contracts with protox (pure Rust), so no system `protoc` is needed.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files = [
        "proto/cqrs/events/v1/envelope.proto",
        "proto/cqrs/users/v1/users.proto",
        "proto/cqrs/orders/v1/orders.proto",
    ];
    println!("cargo:rerun-if-changed=proto");
    let descriptors = protox::compile(files, ["proto"])?;
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out.join("descriptors.binpb"),
        prost::Message::encode_to_vec(&descriptors),
    )?;
    // Serialize (for readable JSON in the operator CLI); the one timestamp needs a helper.
    prost_build::Config::new()
        .type_attribute(".cqrs", "#[derive(serde::Serialize)]")
        .field_attribute(
            ".cqrs.events.v1.EventEnvelope.recorded_at",
            "#[serde(serialize_with = \"crate::json::timestamp\")]",
        )
        .compile_fds(descriptors)?;
    Ok(())
}
