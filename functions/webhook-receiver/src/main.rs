use lambda_http::{Error, service_fn};
use webhook_receiver::AwsReceiver;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_http::tracing::init_default_subscriber();
    let receiver = AwsReceiver::from_env().await?;
    lambda_http::run(service_fn(|request| async { Ok::<_, Error>(receiver.handle(request).await) })).await
}
