//! `cargo xtask up --fresh` deletes every event: it must refuse while the stack runs.

use std::process::Command;

#[test]
fn a_fresh_start_is_refused_while_a_service_or_the_broker_runs() {
    // users-command's port, held by this test unless the stack already holds it: either way
    // something of the stack seems to run there.
    let _held = std::net::TcpListener::bind("127.0.0.1:5001");
    let output = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["up", "--fresh"])
        .output()
        .expect("xtask runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(
        stderr.contains("--fresh needs the stack stopped")
            && stderr.contains("users-command on 5001")
            && stderr.contains("cargo xtask down"),
        "{stderr}"
    );
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
    assert!(
        !stderr.contains("==>"),
        "nothing was started or dropped: {stderr}"
    );
}
