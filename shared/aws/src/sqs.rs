//! SQS: the fetch queue the receiver sends one message per document (and per re-sign look-up) to,
//! and the queue the publisher notes what it could not publish on.

use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;

use domain::bus::PublishFailure;
use domain::message::WorkMessage;
use domain::ports::{BackendError, FailureNotes, WorkQueue};

/// SQS accepts at most ten messages in one batch.
const BATCH: usize = 10;

/// The fetch queue on SQS.
#[derive(Clone, Debug)]
pub struct SqsWorkQueue {
    client: Client,
    queue_url: String,
}

impl SqsWorkQueue {
    pub fn new(client: Client, queue_url: impl Into<String>) -> Self {
        Self { client, queue_url: queue_url.into() }
    }
}

impl WorkQueue for SqsWorkQueue {
    async fn send(&self, messages: &[WorkMessage]) -> Result<(), BackendError> {
        for batch in messages.chunks(BATCH) {
            let entries = batch
                .iter()
                .enumerate()
                .map(|(i, message)| {
                    SendMessageBatchRequestEntry::builder().id(i.to_string()).message_body(message.to_json()).build()
                })
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| BackendError::new("SQS SendMessageBatch", e))?;
            let output = self
                .client
                .send_message_batch()
                .queue_url(&self.queue_url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| BackendError::new("SQS SendMessageBatch", e))?;
            if let Some(failed) = output.failed().first() {
                let reason = format!(
                    "{} of {} messages refused, first: {} {}",
                    output.failed().len(),
                    batch.len(),
                    failed.code(),
                    failed.message().unwrap_or_default()
                );
                return Err(BackendError::new("SQS SendMessageBatch", reason));
            }
        }
        Ok(())
    }
}

/// The publisher's failure notes, on SQS (the queue its event source mapping's on-failure
/// records go to as well).
#[derive(Clone, Debug)]
pub struct SqsFailureNotes {
    client: Client,
    queue_url: String,
}

impl SqsFailureNotes {
    pub fn new(client: Client, queue_url: impl Into<String>) -> Self {
        Self { client, queue_url: queue_url.into() }
    }
}

impl FailureNotes for SqsFailureNotes {
    async fn note(&self, failure: &PublishFailure) -> Result<(), BackendError> {
        let body = serde_json::to_string(failure).map_err(|e| BackendError::new("SQS SendMessage (note)", e))?;
        self.client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(body)
            .send()
            .await
            .map_err(|e| BackendError::new("SQS SendMessage (note)", e))?;
        Ok(())
    }
}
