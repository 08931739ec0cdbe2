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
fn help_prints_the_kits_text_with_every_setting_at_the_users_defaults() {
    // What the text lists is query-kit's to test; the binary must print it whole.
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_users-query"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(output.status.success());
    let help = String::from_utf8(output.stdout).unwrap();
    assert_eq!(help, users_query::Settings::help() + "\n");
    assert!(help.contains("  USERS_QUERY__PROJECTOR__GROUP_ID=users-query"));
}
