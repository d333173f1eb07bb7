//! The receiver as it wrote a job before its writes were batched: one call per part
//! (`domain::ports::inert::OnePartPerCall` over the DynamoDB store). The tests and the calls
//! bench compare the two.

use aws::{Clients, DynamoJobStore, S3Archive, SqsWorkQueue};
use config::ReceiverConfig;
use domain::ports::inert::OnePartPerCall;
use webhook_receiver::{Authenticator, Receiver, Settings};

/// The receiver over [`OnePartPerCall`], as `AwsReceiver::on_aws` builds it otherwise.
pub fn receiver(
    config: &ReceiverConfig,
    clients: &Clients,
) -> Receiver<OnePartPerCall<DynamoJobStore>, S3Archive, SqsWorkQueue> {
    let settings = Settings {
        auth: Authenticator::from_config(&config.auth, clients),
        fetch_milestone_documents: config.fetch_milestone_documents,
        dedupe: config.dedupe,
    };
    Receiver::new(
        settings,
        OnePartPerCall(DynamoJobStore::new(clients.dynamodb.clone(), &config.jobs_table)),
        S3Archive::new(clients.s3.clone(), &config.documents_bucket),
        SqsWorkQueue::new(clients.sqs().clone(), &config.fetch_queue_url),
    )
}
