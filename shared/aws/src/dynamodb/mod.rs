//! The jobs table on DynamoDB, split by port: [`deliveries`] (the receiver's delivery ledger),
//! [`jobs`] (the receiver's job writes), [`documents`] (the fetcher's document ledger) and
//! [`admin`] (the operator's reads and repairs), over what they share here: the table, reading an
//! item, the attribute conversions, and [`expression`], the one way every expression is built.

mod admin;
mod deliveries;
mod documents;
mod expression;
mod jobs;
pub mod schema;

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::{Map, Number, Value};

use domain::job::JobKey;
use domain::ports::BackendError;
use expression::Expression;

pub use admin::scan_all;
pub use documents::Requeued;

/// The jobs table: one item per part of a job (see [`domain::job`]) and one per delivery.
#[derive(Clone, Debug)]
pub struct DynamoJobStore {
    client: Client,
    table: String,
}

impl DynamoJobStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into() }
    }

    /// An `UpdateItem` of the item `sk` of `job`.
    fn update_job_item(&self, job: &JobKey, sk: &str) -> UpdateItemFluentBuilder {
        self.client.update_item().table_name(&self.table).key("pk", s(schema::job_pk(job))).key("sk", s(sk))
    }

    /// `update` of the item `sk` of `job`, under `condition` when there is one, every
    /// name and value through `expr`: `false` when the condition refused it.
    async fn write_job_item(
        &self,
        operation: &'static str,
        (job, sk): (&JobKey, &str),
        expr: Expression,
        update: String,
        condition: Option<String>,
    ) -> Result<bool, BackendError> {
        let request = self
            .update_job_item(job, sk)
            .update_expression(update)
            .set_condition_expression(condition)
            .set_expression_attribute_names(Some(expr.names))
            .set_expression_attribute_values(Some(expr.values));
        match request.send().await {
            Ok(_) => Ok(true),
            Err(error) if conditional_failed(&error) => Ok(false),
            Err(error) => Err(BackendError::new(operation, error)),
        }
    }
}

/// The attributes that are keys of an index: never written as NULL (or empty).
const INDEX_KEY_ATTRIBUTES: [&str; 1] = [schema::QUOTE_INDEX_KEYS[0]];

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn n(value: i64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

/// A JSON value as a DynamoDB attribute: objects become maps, arrays lists.
pub fn to_attribute(value: &Value) -> AttributeValue {
    match value {
        Value::Null => AttributeValue::Null(true),
        Value::Bool(b) => AttributeValue::Bool(*b),
        Value::Number(number) => AttributeValue::N(number.to_string()),
        Value::String(text) => s(text.as_str()),
        Value::Array(items) => AttributeValue::L(items.iter().map(to_attribute).collect()),
        Value::Object(map) => AttributeValue::M(map.iter().map(|(k, v)| (k.clone(), to_attribute(v))).collect()),
    }
}

/// A DynamoDB attribute as JSON: string sets become arrays, numbers JSON numbers.
pub fn to_json(attribute: &AttributeValue) -> Value {
    let number = |text: &str| {
        text.parse::<i64>()
            .map(Value::from)
            .or_else(|_| text.parse::<f64>().map(|f| Number::from_f64(f).map_or(Value::Null, Value::Number)))
            .unwrap_or(Value::Null)
    };
    match attribute {
        AttributeValue::S(text) => Value::String(text.clone()),
        AttributeValue::N(text) => number(text),
        AttributeValue::Bool(b) => Value::Bool(*b),
        AttributeValue::Ss(set) => Value::Array(set.iter().cloned().map(Value::String).collect()),
        AttributeValue::Ns(set) => Value::Array(set.iter().map(|t| number(t)).collect()),
        AttributeValue::L(items) => Value::Array(items.iter().map(to_json).collect()),
        AttributeValue::M(map) => Value::Object(item_to_json(map)),
        _ => Value::Null,
    }
}

/// A whole item as a JSON object.
pub fn item_to_json(item: &HashMap<String, AttributeValue>) -> Map<String, Value> {
    let mut object: Map<String, Value> = item.iter().map(|(k, v)| (k.clone(), to_json(v))).collect();
    object.sort_keys();
    object
}

/// A string attribute of the item a failed condition returned (`ALL_OLD`).
fn string_attribute(item: Option<&HashMap<String, AttributeValue>>, name: &str) -> Option<String> {
    item?.get(name)?.as_s().ok().cloned()
}

fn conditional_failed<E, R>(error: &SdkError<E, R>) -> bool
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata,
{
    error.as_service_error().and_then(|e| e.code()) == Some("ConditionalCheckFailedException")
}

/// An item as the SDK gives it.
type Item = HashMap<String, AttributeValue>;

impl DynamoJobStore {
    /// The item a failed condition found: the one DynamoDB returned with the error
    /// (`ReturnValuesOnConditionCheckFailure::AllOld`), else read again, consistently (a server
    /// that does not return it, such as dynalite). `None` when it is gone by then.
    async fn item_behind(
        &self,
        returned: Option<&Item>,
        pk: String,
        sk: String,
        operation: &'static str,
    ) -> Result<Option<Item>, BackendError> {
        match returned {
            Some(item) => Ok(Some(item.clone())),
            None => self.read(pk, sk, operation).await,
        }
    }

    /// One item, read consistently.
    async fn read(&self, pk: String, sk: String, operation: &'static str) -> Result<Option<Item>, BackendError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .key("sk", s(sk))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| BackendError::new(operation, e))?;
        Ok(output.item)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn json_and_attributes_round_trip() {
        let value = json!({"a": "x", "n": 42, "b": true, "z": null, "l": [1, "two"], "m": {"k": "v"}});
        assert_eq!(to_json(&to_attribute(&value)), value);
    }
}
