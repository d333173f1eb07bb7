//! The SQS trigger, played locally: poll the fetch queue, hand the fetcher `SqsEvent` batches,
//! delete what succeeded, let reported failures come back (at once, or after a visibility
//! timeout), and move a message to the dead-letter queue after [`MAX_RECEIVE_COUNT`] receives, as
//! the event source mapping and the redrive policy do in AWS.

use std::time::Duration;

use aws::Clients;
use aws_lambda_events::event::sqs::SqsMessage;
use aws_sdk_sqs::types::MessageSystemAttributeName;
use contract_fetcher::Fetcher;

use crate::local::{MAX_RECEIVE_COUNT, Resources, SetupError};

/// What draining the queue did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Drained {
    pub batches: usize,
    pub handled: usize,
    pub retried: usize,
    pub dead_lettered: usize,
}

/// Batch size, as in the template.
const BATCH: i32 = 10;

/// The time an invocation gets, and how long a reported failure stays invisible before SQS
/// hands it out again.
#[derive(Clone, Copy, Debug)]
pub struct Pace {
    pub budget: Duration,
    pub redelivery: Duration,
}

impl Pace {
    /// For local runs: a failure comes back at once, so that nothing waits.
    pub const QUICK: Self = Self { budget: Duration::from_secs(120), redelivery: Duration::ZERO };
}

/// Runs the fetcher on the queue until it is empty, failures coming back at once ([`Pace::QUICK`]).
pub async fn drain(fetcher: &Fetcher, clients: &Clients, resources: &Resources) -> Result<Drained, SetupError> {
    drain_paced(fetcher, clients, resources, Pace::QUICK).await
}

/// Runs the fetcher on the queue until it is empty and no failure is due to come back.
pub async fn drain_paced(
    fetcher: &Fetcher,
    clients: &Clients,
    resources: &Resources,
    pace: Pace,
) -> Result<Drained, SetupError> {
    let sqs = clients.sqs();
    let mut drained = Drained::default();
    let mut last_due = tokio::time::Instant::now();
    loop {
        let output = sqs
            .receive_message()
            .queue_url(&resources.queue_url)
            .max_number_of_messages(BATCH)
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .send()
            .await
            .map_err(|e| format!("SQS ReceiveMessage: {}", domain::error::chain(&e)))?;
        let messages = output.messages();
        if messages.is_empty() {
            if last_due <= tokio::time::Instant::now() {
                return Ok(drained);
            }
            tokio::time::sleep_until(last_due + Duration::from_millis(500)).await;
            continue;
        }
        drained.batches += 1;
        let records: Vec<SqsMessage> = messages
            .iter()
            .map(|m| {
                let mut record = SqsMessage::default();
                record.message_id = m.message_id().map(str::to_owned);
                record.receipt_handle = m.receipt_handle().map(str::to_owned);
                record.body = m.body().map(str::to_owned);
                record
            })
            .collect();
        let deadline = tokio::time::Instant::now() + pace.budget;
        let response = fetcher.handle_batch(&records, deadline).await;
        for message in messages {
            drained.handled += 1;
            let id = message.message_id().unwrap_or_default();
            let receipt = message.receipt_handle().unwrap_or_default();
            let failed = response.batch_item_failures.iter().any(|f| f.item_identifier == id);
            let receives: u32 = message
                .attributes()
                .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                .and_then(|n| n.parse().ok())
                .unwrap_or(1);
            if failed && receives < MAX_RECEIVE_COUNT {
                drained.retried += 1;
                last_due = last_due.max(tokio::time::Instant::now() + pace.redelivery);
                sqs.change_message_visibility()
                    .queue_url(&resources.queue_url)
                    .receipt_handle(receipt)
                    .visibility_timeout(pace.redelivery.as_secs() as i32)
                    .send()
                    .await
                    .map_err(|e| format!("SQS ChangeMessageVisibility: {}", domain::error::chain(&e)))?;
                continue;
            }
            if failed {
                drained.dead_lettered += 1;
                sqs.send_message()
                    .queue_url(&resources.dlq_url)
                    .message_body(message.body().unwrap_or_default())
                    .send()
                    .await
                    .map_err(|e| format!("SQS SendMessage (DLQ): {}", domain::error::chain(&e)))?;
            }
            sqs.delete_message()
                .queue_url(&resources.queue_url)
                .receipt_handle(receipt)
                .send()
                .await
                .map_err(|e| format!("SQS DeleteMessage: {}", domain::error::chain(&e)))?;
        }
    }
}
