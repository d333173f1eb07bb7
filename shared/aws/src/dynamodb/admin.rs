//! The operator's reads (not used by the functions): a job's items, a quote's site, the whole
//! table; each query or scan follows every page with the SDK's paginator.

use serde_json::{Map, Value};

use super::expression::Expression;
use super::schema;
use super::{DynamoJobStore, items_to_json, s, string_attribute};
use domain::ids::QuoteId;
use domain::job::JobKey;
use domain::ports::BackendError;

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
