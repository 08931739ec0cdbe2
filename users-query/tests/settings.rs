//! A variable that sets one key of a section keeps the service's other defaults of that
//! section. (It did not: `USERS_QUERY__PROJECTOR__FETCH_WAIT_MS` alone, as documented in
//! --help, emptied the consumer group and the service refused to start.)

use std::time::Duration;

use test_support::service::{binary_command, free_port, ready};
use test_support::{fresh_database, fresh_topic};

#[tokio::test]
async fn one_key_of_a_section_keeps_the_services_other_defaults_of_that_section() {
    let database = fresh_database().await;
    let topic = fresh_topic("settings", 1).await;
    let port = free_port();
    let mut service = binary_command(
        env!("CARGO_BIN_EXE_users-query"),
        "USERS_QUERY",
        &database,
        &topic,
        port,
        // One key of [projector]; its group_id default is the service's, not the type's.
        &[("USERS_QUERY__PROJECTOR__FETCH_WAIT_MS", "10")],
    )
    .stderr(std::process::Stdio::piped())
    .spawn()
    .expect("users-query starts");
    let address = format!("http://127.0.0.1:{port}");
    let client = test_support::auth::admin_client();
    tokio::select! {
        () = ready(&client, &address, Duration::from_secs(30)) => {}
        exited = service.wait() => {
            let mut stderr = String::new();
            if let Some(mut pipe) = service.stderr.take() {
                use tokio::io::AsyncReadExt;
                let _ = pipe.read_to_string(&mut stderr).await;
            }
            panic!("users-query stopped ({exited:?}): {stderr}");
        }
    }
    service.kill().await.expect("stopped");
}

#[test]
fn help_lists_every_setting_with_its_default_and_text() {
    use users_query::Settings;
    let (defaults, docs) = (Settings::default(), Settings::setting_docs());
    let undocumented = service_kit::help::undocumented(&defaults, &docs);
    assert!(
        undocumented.is_empty(),
        "settings without a doc comment: {undocumented:?}"
    );
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_users-query"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(output.status.success());
    let help = String::from_utf8(output.stdout).unwrap();
    for setting in service_kit::help::settings("USERS_QUERY", &defaults, &docs) {
        let line = format!("  {}={}", setting.variable, setting.default);
        assert!(help.contains(&line), "--help lists {line}");
    }
    for endpoint in [
        "/users/{id}",
        "/admin/rebuild",
        "/health/ready",
        "USERS_QUERY_CONFIG",
    ] {
        assert!(help.contains(endpoint), "--help mentions {endpoint}");
    }
}
