//! The operator's reads and repairs (not used by the functions): a job's items, a quote's site,
//! the whole table (each query or scan follows every page with the SDK's paginator), and a
//! document queued again.

use serde_json::{Map, Value};

use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure;

use super::expression::{Clauses, Expression};
use super::schema;
use super::{DynamoJobStore, conditional_failed, item_to_json, items_to_json, s, string_attribute};
use domain::ids::{DocumentId, QuoteId};
use domain::job::{FetchStatus, JobKey};
use domain::ports::BackendError;
use domain::timestamp::Timestamp;

/// Every item of `table`, as JSON objects, page after page.
pub async fn scan_all(client: &aws_sdk_dynamodb::Client, table: &str) -> Result<Vec<Map<String, Value>>, BackendError> {
    let pages = client.scan().table_name(table).into_paginator().items().send();
    let items: Vec<_> = pages.collect::<Result<_, _>>().await.map_err(|e| BackendError::new("DynamoDB Scan", e))?;
    items_to_json(&items, "DynamoDB Scan (an item)")
}

impl DynamoJobStore {
    /// Every item of a job, sorted by sort key (not its publication log).
    pub async fn job_items(&self, job: &JobKey) -> Result<Vec<Map<String, Value>>, BackendError> {
        let mut items = self.partition(job, None, "DynamoDB Query (job)").await?;
        // The publication log is no part of the job (see `published`).
        items
            .retain(|item| !item.get("sk").and_then(Value::as_str).is_some_and(|sk| sk.starts_with(schema::PUBLISHED)));
        Ok(items)
    }

    /// The items of a job's partition (those whose sort key begins with `prefix`, if given), page
    /// after page, as JSON objects.
    pub(super) async fn partition(
        &self,
        job: &JobKey,
        prefix: Option<&str>,
        operation: &'static str,
    ) -> Result<Vec<Map<String, Value>>, BackendError> {
        let mut expr = Expression::default();
        let mut key = format!("{} = {}", expr.name("pk"), expr.value(s(schema::job_pk(job))));
        if let Some(prefix) = prefix {
            key.push_str(&format!(" AND begins_with({}, {})", expr.name("sk"), expr.value(s(prefix))));
        }
        let pages = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression(key)
            .set_expression_attribute_names(Some(expr.names))
            .set_expression_attribute_values(Some(expr.values))
            .into_paginator()
            .items()
            .send();
        let items: Vec<_> = pages.collect::<Result<_, _>>().await.map_err(|e| BackendError::new(operation, e))?;
        items_to_json(&items, operation)
    }

    /// The jobs that hold `quote` (one, unless two tenants sent it), through the quote index.
    pub async fn jobs_of_quote(&self, quote: QuoteId) -> Result<Vec<JobKey>, BackendError> {
        let mut expr = Expression::default();
        let key = format!("{} = {}", expr.name("quote"), expr.value(s(quote.to_string())));
        let pages = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(schema::QUOTE_INDEX)
            .key_condition_expression(key)
            .set_expression_attribute_names(Some(expr.names))
            .set_expression_attribute_values(Some(expr.values))
            .into_paginator()
            .items()
            .send();
        let items: Vec<_> =
            pages.collect::<Result<_, _>>().await.map_err(|e| BackendError::new("DynamoDB Query (by-quote)", e))?;
        let mut jobs: Vec<JobKey> =
            items.iter().filter_map(|item| schema::job_of_pk(&string_attribute(Some(item), "pk")?)).collect();
        jobs.sort();
        jobs.dedup();
        Ok(jobs)
    }
}

/// What re-queuing a document found.
#[derive(Clone, Debug, PartialEq)]
pub enum Requeued {
    /// Now `QUEUED`; the item as it stands, for the fetch message.
    Queued(Map<String, Value>),
    /// Not re-queued: the job has no such document, or its status does not allow it.
    Refused { status: Option<String> },
}

impl DynamoJobStore {
    /// Marks a document `QUEUED` again, if it is `FAILED`, `QUEUED` or `RECORDED` (never a
    /// `STORED` one, nor one being fetched): the caller then sends its fetch message.
    pub async fn requeue_document(
        &self,
        job: &JobKey,
        document: DocumentId,
        now: Timestamp,
    ) -> Result<Requeued, BackendError> {
        let mut expr = Expression::default();
        let status = expr.name("status");
        let queued = expr.value(s(FetchStatus::Queued.as_str()));
        let mut clauses = Clauses::default();
        clauses.set.push(format!("{status} = {queued}"));
        clauses.set.push(format!("{} = {}", expr.name("requeued_at"), expr.value(s(now.to_string()))));
        clauses.remove.extend(["failure", "failed_at"].map(|name| expr.name(name)));
        super::pending::start_waiting(&mut expr, &mut clauses, now);
        let update = clauses.expression();
        let condition = format!(
            "{status} IN ({}, {queued}, {})",
            expr.value(s(FetchStatus::Failed.as_str())),
            expr.value(s(FetchStatus::Recorded.as_str()))
        );
        let result = self
            .update_job_item((job, &schema::document_sk(document)), expr, update, Some(condition))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(output) => {
                let item = output.attributes().map(item_to_json).transpose();
                let item = item.map_err(|e| BackendError::new("DynamoDB UpdateItem (requeue)", e))?;
                Ok(Requeued::Queued(item.unwrap_or_default()))
            }
            Err(error) if conditional_failed(&error) => {
                let returned = match error.as_service_error() {
                    Some(UpdateItemError::ConditionalCheckFailedException(e)) => e.item(),
                    _ => None,
                };
                let (pk, sk) = (schema::job_pk(job), schema::document_sk(document));
                let item = self.item_behind(returned, pk, sk, "DynamoDB GetItem (requeued document)").await?;
                Ok(Requeued::Refused { status: string_attribute(item.as_ref(), "status") })
            }
            Err(error) => Err(BackendError::new("DynamoDB UpdateItem (requeue document)", error)),
        }
    }
}
