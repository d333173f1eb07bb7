//! The receiver's store as it was before the job's writes were batched: one call per part.
//! Every method but `apply_plan` is the DynamoDB store's own, so the port's default
//! (`domain::ports::apply_each`) writes the plan; the tests and the calls bench compare the two.

use aws::{Clients, DynamoJobStore, S3Archive, SqsWorkQueue};
use config::ReceiverConfig;
use domain::job::{Change, Enrichment, JobKey, PlannedDocument, SignedQuoteLookup};
use domain::ports::{Applied, BackendError, Claim, Delivery, DeliveryLedger, JobStore};
use webhook_receiver::{Authenticator, Receiver, Settings};

/// The DynamoDB store, writing a plan one part per call.
pub struct PartByPart(pub DynamoJobStore);

impl DeliveryLedger for PartByPart {
    async fn was_applied(&self, delivery: &Delivery) -> Result<bool, BackendError> {
        self.0.was_applied(delivery).await
    }
    async fn claim_delivery(&self, delivery: &Delivery) -> Result<Claim, BackendError> {
        self.0.claim_delivery(delivery).await
    }
    async fn finish_delivery(&self, delivery: &Delivery) -> Result<(), BackendError> {
        self.0.finish_delivery(delivery).await
    }
    async fn release_delivery(&self, delivery: &Delivery) -> Result<(), BackendError> {
        self.0.release_delivery(delivery).await
    }
}

impl JobStore for PartByPart {
    async fn apply(&self, job: &JobKey, change: &Change) -> Result<Applied, BackendError> {
        self.0.apply(job, change).await
    }
    async fn record_document(&self, job: &JobKey, document: &PlannedDocument) -> Result<(), BackendError> {
        self.0.record_document(job, document).await
    }
    async fn queue_enrichment(&self, job: &JobKey, e: &Enrichment, d: &Delivery) -> Result<bool, BackendError> {
        self.0.queue_enrichment(job, e, d).await
    }
    async fn queue_lookup(&self, job: &JobKey, l: &SignedQuoteLookup, d: &Delivery) -> Result<bool, BackendError> {
        self.0.queue_lookup(job, l, d).await
    }
    async fn queue_document(&self, job: &JobKey, doc: &PlannedDocument, d: &Delivery) -> Result<bool, BackendError> {
        self.0.queue_document(job, doc, d).await
    }
}

/// The receiver over [`PartByPart`], as `AwsReceiver::on_aws` builds it otherwise.
pub fn receiver(config: &ReceiverConfig, clients: &Clients) -> Receiver<PartByPart, S3Archive, SqsWorkQueue> {
    let settings = Settings {
        auth: Authenticator::from_config(&config.auth, clients),
        fetch_milestone_documents: config.fetch_milestone_documents,
        dedupe: config.dedupe,
    };
    Receiver::new(
        settings,
        PartByPart(DynamoJobStore::new(clients.dynamodb.clone(), &config.jobs_table)),
        S3Archive::new(clients.s3.clone(), &config.documents_bucket),
        SqsWorkQueue::new(clients.sqs().clone(), &config.fetch_queue_url),
    )
}
