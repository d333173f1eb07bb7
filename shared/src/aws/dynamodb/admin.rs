//! The operator's reads (not used by the functions): a job's items, a quote's site, the whole
//! table; each query or scan follows every page with the SDK's paginator.

use serde_json::{Map, Value};

use super::expression::Expression;
use super::schema;
use super::{DynamoJobStore, item_to_json, s, string_attribute};
use crate::ids::{QuoteId, SiteId};
use crate::ports::BackendError;

/// Every item of `table`, as JSON objects, page after page.
pub async fn scan_all(client: &aws_sdk_dynamodb::Client, table: &str) -> Result<Vec<Map<String, Value>>, BackendError> {
    let pages = client.scan().table_name(table).into_paginator().items().send();
    let items: Vec<_> = pages.collect::<Result<_, _>>().await.map_err(|e| BackendError::new("DynamoDB Scan", e))?;
    Ok(items.iter().map(item_to_json).collect())
}

impl DynamoJobStore {
    /// Every item of a job (`SITE#<site>`), sorted by sort key.
    pub async fn job_items(&self, site: SiteId) -> Result<Vec<Map<String, Value>>, BackendError> {
        let mut expr = Expression::default();
        let key = format!("{} = {}", expr.name("pk"), expr.value(s(schema::site_pk(site))));
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
        let items: Vec<_> =
            pages.collect::<Result<_, _>>().await.map_err(|e| BackendError::new("DynamoDB Query (job)", e))?;
        Ok(items.iter().map(item_to_json).collect())
    }

    /// The site whose job holds `quote`, through the quote index.
    pub async fn site_of_quote(&self, quote: QuoteId) -> Result<Option<SiteId>, BackendError> {
        let mut expr = Expression::default();
        let key = format!("{} = {}", expr.name("quote"), expr.value(s(quote.to_string())));
        let page = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(schema::QUOTE_INDEX)
            .key_condition_expression(key)
            .set_expression_attribute_names(Some(expr.names))
            .set_expression_attribute_values(Some(expr.values))
            .limit(1)
            .send()
            .await
            .map_err(|e| BackendError::new("DynamoDB Query (by-quote)", e))?;
        let pk = page.items().first().and_then(|item| string_attribute(Some(item), "pk"));
        Ok(pk.and_then(|pk| pk.strip_prefix("SITE#").and_then(|site| site.parse().ok())))
    }
}
