#[tokio::main]
async fn main() -> anyhow::Result<()> {
    orders_query::Application::main(env!("CARGO_PKG_VERSION")).await
}
