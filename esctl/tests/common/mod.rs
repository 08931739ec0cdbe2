//! Running the esctl binary as a process and reading what it printed.

#![allow(dead_code)]

use std::process::Output;

use serde_json::Value;

/// Runs esctl with `args` and only the given `ESCTL_*` variables (none inherited from the
/// shell running the tests).
pub async fn esctl(env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_esctl"));
    for (name, _) in std::env::vars().filter(|(name, _)| name.starts_with("ESCTL_")) {
        command.env_remove(name);
    }
    command
        .envs(env.iter().copied())
        .args(args)
        .output()
        .await
        .expect("esctl runs")
}

/// What esctl printed on stdout; fails the test if it failed.
pub fn stdout(output: &Output) -> String {
    assert!(
        output.status.success(),
        "esctl failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).expect("UTF-8 output")
}

/// stdout as JSON lines.
pub fn json_lines(output: &Output) -> Vec<Value> {
    stdout(output)
        .lines()
        .map(|line| serde_json::from_str(line).expect("a JSON line"))
        .collect()
}

/// stdout as one JSON document.
pub fn json(output: &Output) -> Value {
    serde_json::from_str(&stdout(output)).expect("a JSON document")
}

/// The exit code and stderr of a run that must fail with one line, and no panic.
pub fn failure(output: &Output) -> (i32, String) {
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(!output.status.success(), "esctl succeeded: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
    (output.status.code().expect("an exit code"), stderr)
}
