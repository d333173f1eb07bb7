use lambda_http::Error;
use webhook_receiver::AwsReceiver;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_http::tracing::init_default_subscriber();
    webhook_receiver::run(AwsReceiver::from_env().await?).await
}
