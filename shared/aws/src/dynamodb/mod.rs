//! The jobs table on DynamoDB, split by port: [`deliveries`] (the receiver's delivery ledger),
//! [`jobs`] (the receiver's job writes), [`documents`] (the fetcher's document ledger),
//! [`pending`] (the work jobs wait for: the sweeper's index), [`reconcile`] (reconciliation's and
//! backfill's items), [`published`] (the publisher's log) and [`admin`] (the operator's reads and
//! repairs), over what they share here: the table, reading an
//! item, the attribute conversions, and [`expression`], the one way every expression is built.

mod admin;
mod deliveries;
mod documents;
mod expression;
mod jobs;
mod pending;
mod plan;
mod published;
mod reconcile;
pub mod schema;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::{Map, Number, Value};

use domain::job::JobKey;
use domain::ports::BackendError;
use expression::Expression;

pub use admin::Requeued;
pub use admin::scan_all;
pub use published::KEEP_DAYS as PUBLISHED_KEEP_DAYS;

/// The jobs table: one item per part of a job (see [`domain::job`]) and one per delivery.
#[derive(Clone, Debug)]
pub struct DynamoJobStore {
    client: Client,
    table: String,
    /// This DynamoDB answered that it has no transactions (dynalite): the job's writes go one
    /// update per item from then on (see [`plan`]).
    no_transactions: Arc<AtomicBool>,
}

impl DynamoJobStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into(), no_transactions: Arc::default() }
    }

    /// An `UpdateItem` of the item `sk` of `job`: `update`, under `condition` when there is one,
    /// every name and value through `expr`.
    fn update_job_item(
        &self,
        (job, sk): (&JobKey, &str),
        expr: Expression,
        update: String,
        condition: Option<String>,
    ) -> UpdateItemFluentBuilder {
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(schema::job_pk(job)))
            .key("sk", s(sk))
            .update_expression(update)
            .set_condition_expression(condition)
            .set_expression_attribute_names(Some(expr.names))
            .set_expression_attribute_values(Some(expr.values))
    }

    /// `update` of the item `sk` of `job`, under `condition` when there is one, every
    /// name and value through `expr`: `false` when the condition refused it.
    async fn write_job_item(
        &self,
        operation: &'static str,
        item: (&JobKey, &str),
        expr: Expression,
        update: String,
        condition: Option<String>,
    ) -> Result<bool, BackendError> {
        let request = self.update_job_item(item, expr, update, condition);
        match request.send().await {
            Ok(_) => Ok(true),
            Err(error) if conditional_failed(&error) => Ok(false),
            Err(error) => Err(BackendError::new(operation, error)),
        }
    }
}

/// The attributes that are keys of an index: never written as NULL (or empty).
const INDEX_KEY_ATTRIBUTES: [&str; 3] =
    [schema::QUOTE_INDEX_KEYS[0], schema::PENDING_INDEX_KEYS[0], schema::PENDING_INDEX_KEYS[1]];

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn n(value: i64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

/// A JSON value as a DynamoDB attribute: objects become maps, arrays lists.
pub(crate) fn to_attribute(value: &Value) -> AttributeValue {
    match value {
        Value::Null => AttributeValue::Null(true),
        Value::Bool(b) => AttributeValue::Bool(*b),
        Value::Number(number) => AttributeValue::N(number.to_string()),
        Value::String(text) => s(text.as_str()),
        Value::Array(items) => AttributeValue::L(items.iter().map(to_attribute).collect()),
        Value::Object(map) => AttributeValue::M(map.iter().map(|(k, v)| (k.clone(), to_attribute(v))).collect()),
    }
}

/// A DynamoDB attribute as JSON: string sets become arrays, numbers JSON numbers (exactly, or an
/// error), binary an error.
pub(crate) fn to_json(attribute: &AttributeValue) -> Result<Value, Unconvertible> {
    Ok(match attribute {
        AttributeValue::S(text) => Value::String(text.clone()),
        AttributeValue::N(text) => number(text)?,
        AttributeValue::Bool(b) => Value::Bool(*b),
        AttributeValue::Null(_) => Value::Null,
        AttributeValue::Ss(set) => Value::Array(set.iter().cloned().map(Value::String).collect()),
        AttributeValue::Ns(set) => Value::Array(set.iter().map(|t| number(t)).collect::<Result<_, _>>()?),
        AttributeValue::L(items) => Value::Array(items.iter().map(to_json).collect::<Result<_, _>>()?),
        AttributeValue::M(map) => Value::Object(item_to_json(map)?),
        AttributeValue::B(_) | AttributeValue::Bs(_) => return Err(Unconvertible::Binary),
        _ => return Err(Unconvertible::Unknown),
    })
}

/// A DynamoDB attribute that has no exact JSON form here.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum Unconvertible {
    #[error("the number {0:?} is not a number, or has more digits than JSON here keeps")]
    Number(String),
    #[error("a binary attribute has no JSON form")]
    Binary,
    #[error("an attribute of a type this version does not know")]
    Unknown,
}

/// A DynamoDB number as a JSON number: an integer exactly, a decimal only when the `f64` it
/// becomes prints as the same decimal (`187.40` is `187.4`; 20 significant digits are refused).
fn number(text: &str) -> Result<Value, Unconvertible> {
    let refused = || Unconvertible::Number(text.to_owned());
    if let Ok(integer) = text.parse::<i64>() {
        return Ok(Value::from(integer));
    }
    if let Ok(integer) = text.parse::<u64>() {
        return Ok(Value::from(integer));
    }
    let float = text.parse::<f64>().map_err(|_| refused())?;
    let json = Number::from_f64(float).ok_or_else(refused)?;
    if canonical_decimal(text) == Some(canonical_decimal(&float.to_string()).ok_or_else(refused)?) {
        Ok(Value::Number(json))
    } else {
        Err(refused())
    }
}

/// A plain decimal without its sign's `+`, leading zeros or trailing fractional zeros; `None`
/// for any other form (an exponent).
fn canonical_decimal(text: &str) -> Option<String> {
    let (sign, digits) = match text.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", text.strip_prefix('+').unwrap_or(text)),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    if whole.is_empty() && fraction.is_empty() || !(whole.bytes().chain(fraction.bytes()).all(|b| b.is_ascii_digit())) {
        return None;
    }
    let whole = whole.trim_start_matches('0');
    let fraction = fraction.trim_end_matches('0');
    let whole = if whole.is_empty() { "0" } else { whole };
    let sign = if whole == "0" && fraction.is_empty() { "" } else { sign };
    Some(if fraction.is_empty() { format!("{sign}{whole}") } else { format!("{sign}{whole}.{fraction}") })
}

/// A whole item as a JSON object.
pub(crate) fn item_to_json(item: &HashMap<String, AttributeValue>) -> Result<Map<String, Value>, Unconvertible> {
    let mut object = item.iter().map(|(k, v)| Ok((k.clone(), to_json(v)?))).collect::<Result<Map<_, _>, _>>()?;
    object.sort_keys();
    Ok(object)
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

/// The items `operation` read, as JSON objects; an item with no exact JSON form fails it.
fn items_to_json(items: &[Item], operation: &'static str) -> Result<Vec<Map<String, Value>>, BackendError> {
    items.iter().map(|item| item_to_json(item).map_err(|e| BackendError::new(operation, e))).collect()
}

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
        assert_eq!(to_json(&to_attribute(&value)), Ok(value));
    }

    #[test]
    fn a_number_is_exact_or_refused_and_binary_is_refused() {
        let n = |text: &str| to_json(&AttributeValue::N(text.to_owned()));
        assert_eq!(n("187.40"), Ok(json!(187.4)));
        assert_eq!(n("-0.5"), Ok(json!(-0.5)));
        assert_eq!(n("18446744073709551615"), Ok(json!(u64::MAX)));
        assert_eq!(n("12345678901234567890.5"), Err(Unconvertible::Number("12345678901234567890.5".into())));
        assert_eq!(n("1.00000000000000000001"), Err(Unconvertible::Number("1.00000000000000000001".into())));
        assert_eq!(n("x"), Err(Unconvertible::Number("x".into())));
        let binary = AttributeValue::B(aws_sdk_dynamodb::primitives::Blob::new(vec![1]));
        assert_eq!(to_json(&AttributeValue::L(vec![binary])), Err(Unconvertible::Binary));
    }
}
