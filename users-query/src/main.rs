#[tokio::main]
async fn main() -> anyhow::Result<()> {
    users_query::Application::main(env!("CARGO_PKG_VERSION")).await
}
