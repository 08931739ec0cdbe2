//! Layered settings: defaults, then the TOML file named by USERS_COMMAND_CONFIG, then
//! USERS_COMMAND__… variables. Each case runs the real binary with its own environment.

use std::process::Command;

fn users_command() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_users-command"));
    command.env_clear().env("RUST_LOG", "error");
    command
}

#[test]
fn help_explains_the_configuration() {
    let output = users_command().arg("--help").output().unwrap();
    assert!(output.status.success());
    let help = String::from_utf8(output.stdout).unwrap();
    for needle in [
        "USERS_COMMAND_CONFIG",
        "USERS_COMMAND__HTTP__PORT",
        "/health/ready",
    ] {
        assert!(help.contains(needle), "--help mentions {needle}");
    }
}

#[test]
fn an_unknown_argument_is_a_one_line_error() {
    let output = users_command().arg("--frobnicate").output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

#[test]
fn a_misspelt_setting_stops_the_service_with_a_clear_error() {
    let output = users_command()
        .env("USERS_COMMAND__HTTP__PROT", "1")
        .env("RUST_BACKTRACE", "1")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("prot"), "names the unknown key: {stderr}");
    assert_eq!(
        stderr.lines().count(),
        1,
        "one line, with every cause and no backtrace even with RUST_BACKTRACE=1: {stderr}"
    );
}

#[test]
fn environment_variables_override_the_config_file_which_overrides_defaults() {
    let server = test_support::server_settings();
    let dir = std::env::temp_dir().join(format!("users-command-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("users-command.toml");
    std::fs::write(&file, "[database]\nport = 1\nacquire_timeout_secs = 1\n").unwrap();
    let start = |port: Option<u16>| {
        let mut command = users_command();
        command
            .env("USERS_COMMAND_CONFIG", &file)
            .env("USERS_COMMAND__HTTP__PORT", "0")
            .env("USERS_COMMAND__DATABASE__HOST", &server.host)
            .env("USERS_COMMAND__DATABASE__DATABASE_NAME", "no_such_database");
        if let Some(port) = port {
            command.env("USERS_COMMAND__DATABASE__PORT", port.to_string());
        }
        let output = command.output().unwrap();
        assert!(!output.status.success());
        String::from_utf8(output.stderr).unwrap()
    };
    // The file's port (nothing listens on 1) beats the default one.
    let from_file = start(None);
    assert!(
        from_file.contains("timed out") && !from_file.contains("no_such_database"),
        "{from_file}"
    );
    // The environment's port beats the file's: the real server answers, without that database.
    let from_env = start(Some(server.port));
    assert!(from_env.contains("no_such_database"), "{from_env}");

    let missing = users_command()
        .env("USERS_COMMAND_CONFIG", dir.join("absent.toml"))
        .output()
        .unwrap();
    assert!(
        !missing.status.success(),
        "a named config file that is missing is an error"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn help_prints_the_kits_text_with_every_setting_at_the_users_defaults() {
    // What the text lists is command-kit's to test; the binary must print it whole.
    let output = users_command().arg("--help").output().unwrap();
    assert!(output.status.success());
    let help = String::from_utf8(output.stdout).unwrap();
    assert_eq!(help, users_command::Settings::help() + "\n");
    assert!(help.contains("  USERS_COMMAND__DATABASE__DATABASE_NAME=users_es"));
}
