//! The publication log: one `PUBLISHED#<changed at>#<event id>` item per published event in its
//! job's partition, expiring after [`KEEP_DAYS`], for the operator's `published`. Its items
//! are bookkeeping to the publisher (their own stream records publish nothing).

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
use serde_json::{Map, Value};

use super::schema;
use super::{DynamoJobStore, n, s};
use domain::bus::BusEvent;
use domain::job::JobKey;
use domain::ports::{BackendError, PublicationLog};
use domain::timestamp::Timestamp;

/// How long a publication is remembered.
pub const KEEP_DAYS: i64 = 30;
/// DynamoDB takes at most 25 puts in one `BatchWriteItem`.
const BATCH: usize = 25;
/// How many times unprocessed puts are sent again before the write is given up.
const ATTEMPTS: usize = 3;

impl PublicationLog for DynamoJobStore {
    async fn record(&self, events: &[BusEvent]) -> Result<(), BackendError> {
        let expires = Timestamp::now().unix_seconds() + KEEP_DAYS * 86_400;
        for batch in events.chunks(BATCH) {
            let mut requests: Vec<WriteRequest> = batch
                .iter()
                .map(|event| {
                    let field =
                        |name: &str| event.detail.get(name).and_then(Value::as_str).unwrap_or_default().to_owned();
                    let item = HashMap::from([
                        ("pk".to_owned(), s(schema::job_pk(&event.job))),
                        ("sk".to_owned(), s(schema::published_sk(&field("changed_at"), &event.id.to_string()))),
                        ("id".to_owned(), s(event.id.to_string())),
                        ("detail_type".to_owned(), s(event.detail_type.name())),
                        ("event_id".to_owned(), s(field("event_id"))),
                        ("changed_at".to_owned(), s(field("changed_at"))),
                        (
                            "replay".to_owned(),
                            AttributeValue::Bool(event.detail.get("replay") == Some(&Value::Bool(true))),
                        ),
                        (schema::TTL_ATTRIBUTE.to_owned(), n(expires)),
                    ]);
                    let put = PutRequest::builder().set_item(Some(item)).build();
                    put.map(|put| WriteRequest::builder().put_request(put).build())
                })
                .collect::<Result<_, _>>()
                .map_err(|e| BackendError::new("DynamoDB BatchWriteItem (published)", e))?;
            for _ in 0..ATTEMPTS {
                let output = self
                    .client
                    .batch_write_item()
                    .request_items(&self.table, requests)
                    .send()
                    .await
                    .map_err(|e| BackendError::new("DynamoDB BatchWriteItem (published)", e))?;
                requests = output.unprocessed_items.and_then(|mut left| left.remove(&self.table)).unwrap_or_default();
                if requests.is_empty() {
                    break;
                }
            }
            if !requests.is_empty() {
                let reason = format!("{} of {} puts left unprocessed", requests.len(), batch.len());
                return Err(BackendError::new("DynamoDB BatchWriteItem (published)", reason));
            }
        }
        Ok(())
    }
}

impl DynamoJobStore {
    /// What was published of `job` (within [`KEEP_DAYS`]), oldest first.
    pub async fn published(&self, job: &JobKey) -> Result<Vec<Map<String, Value>>, BackendError> {
        self.partition(job, Some(schema::PUBLISHED), "DynamoDB Query (published)").await
    }
}
