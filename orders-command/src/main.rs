#[tokio::main]
async fn main() -> anyhow::Result<()> {
    orders_command::Application::main(env!("CARGO_PKG_VERSION")).await
}
