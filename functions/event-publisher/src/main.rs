use event_publisher::Publisher;
use lambda_runtime::{Error, service_fn};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let publisher = Publisher::from_env().await?;
    lambda_runtime::run(service_fn(|event| publisher.handle(event))).await
}
