//! SQS: the fetch queue the receiver sends one message per document (and per re-sign look-up) to.

use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;

use domain::message::FetchMessage;
use domain::ports::{BackendError, FetchQueue};

/// SQS accepts at most ten messages in one batch.
const BATCH: usize = 10;

/// The fetch queue on SQS.
#[derive(Clone, Debug)]
pub struct SqsFetchQueue {
    client: Client,
    queue_url: String,
}

impl SqsFetchQueue {
    pub fn new(client: Client, queue_url: impl Into<String>) -> Self {
        Self { client, queue_url: queue_url.into() }
    }
}

impl FetchQueue for SqsFetchQueue {
    async fn send(&self, messages: &[FetchMessage]) -> Result<(), BackendError> {
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
