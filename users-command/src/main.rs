#[tokio::main]
async fn main() -> anyhow::Result<()> {
    users_command::Application::main(env!("CARGO_PKG_VERSION")).await
}
