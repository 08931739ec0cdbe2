use gateway::{Application, Settings};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    service_kit::process::run(
        "gateway",
        env!("CARGO_PKG_VERSION"),
        &Settings::help(),
        Settings::load,
        Application::migrate,
        Application::build,
    )
    .await
}
