//! The checked-in SDL (gateway/schema.graphql, which the console's types are generated from)
//! is the schema the gateway serves.

#[test]
fn the_checked_in_schema_is_the_served_one() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schema.graphql");
    let served = gateway::schema::sdl();
    if std::env::var_os("UPDATE_SCHEMA").is_some() {
        std::fs::write(&path, &served).expect("writing gateway/schema.graphql");
    }
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        checked_in == served,
        "gateway/schema.graphql differs from the schema the code serves; if the change is \
         meant, run `UPDATE_SCHEMA=1 cargo test -p gateway --test schema` and rebuild the \
         console (its types come from that file)"
    );
}
