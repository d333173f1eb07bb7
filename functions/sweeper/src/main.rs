use lambda_runtime::{Error, service_fn};
use sweeper::Sweeper;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let sweeper = Sweeper::from_env().await?;
    lambda_runtime::run(service_fn(|event| sweeper.handle(event))).await
}
