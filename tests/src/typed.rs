//! Items in DynamoDB's own JSON (`{"S": ...}`, `{"SS": [...]}`, as `aws dynamodb scan` prints
//! them), which keeps what plain JSON loses (a string set is not a list): to save a table's items
//! as a fixture and to put them back.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::{Map, Value, json};

/// An item as DynamoDB JSON.
pub fn to_typed(item: &HashMap<String, AttributeValue>) -> Value {
    let mut object: Map<String, Value> = item.iter().map(|(name, value)| (name.clone(), typed(value))).collect();
    object.sort_keys();
    Value::Object(object)
}

fn typed(value: &AttributeValue) -> Value {
    match value {
        AttributeValue::S(text) => json!({ "S": text }),
        AttributeValue::N(number) => json!({ "N": number }),
        AttributeValue::Bool(b) => json!({ "BOOL": b }),
        AttributeValue::Null(_) => json!({ "NULL": true }),
        AttributeValue::Ss(set) => json!({ "SS": set }),
        AttributeValue::Ns(set) => json!({ "NS": set }),
        AttributeValue::L(items) => json!({ "L": items.iter().map(typed).collect::<Vec<_>>() }),
        AttributeValue::M(map) => json!({ "M": to_typed(map) }),
        other => panic!("no fixture form for {other:?}"),
    }
}

/// An item from DynamoDB JSON.
///
/// # Panics
/// On anything but DynamoDB JSON of the types [`to_typed`] writes.
pub fn from_typed(item: &Value) -> HashMap<String, AttributeValue> {
    let object = item.as_object().expect("an item is an object");
    object.iter().map(|(name, value)| (name.clone(), attribute(value))).collect()
}

fn attribute(value: &Value) -> AttributeValue {
    let (kind, inner) = value.as_object().and_then(|o| o.iter().next()).expect("a typed value");
    let strings = || inner.as_array().expect("a set").iter().map(|v| v.as_str().expect("text").to_owned()).collect();
    match kind.as_str() {
        "S" => AttributeValue::S(inner.as_str().expect("text").to_owned()),
        "N" => AttributeValue::N(inner.as_str().expect("a number as text").to_owned()),
        "BOOL" => AttributeValue::Bool(inner.as_bool().expect("a boolean")),
        "NULL" => AttributeValue::Null(true),
        "SS" => AttributeValue::Ss(strings()),
        "NS" => AttributeValue::Ns(strings()),
        "L" => AttributeValue::L(inner.as_array().expect("a list").iter().map(attribute).collect()),
        "M" => AttributeValue::M(from_typed(inner)),
        other => panic!("no attribute type {other}"),
    }
}

/// Every item of `table`, as the SDK gives them.
pub async fn raw_items(client: &aws_sdk_dynamodb::Client, table: &str) -> Vec<HashMap<String, AttributeValue>> {
    let mut items = Vec::new();
    let mut start = None;
    loop {
        let output = client.scan().table_name(table).set_exclusive_start_key(start.take()).send().await.expect("scan");
        items.extend(output.items().iter().cloned());
        start = output.last_evaluated_key;
        if start.is_none() {
            return items;
        }
    }
}

/// Puts `items` (DynamoDB JSON) into `table`.
pub async fn put_items(client: &aws_sdk_dynamodb::Client, table: &str, items: &[Value]) {
    for item in items {
        client.put_item().table_name(table).set_item(Some(from_typed(item))).send().await.expect("put item");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_item_survives_the_round_trip_with_its_sets() {
        let item = HashMap::from([
            ("quotes".to_owned(), AttributeValue::Ss(vec!["a".into(), "b".into()])),
            ("n".to_owned(), AttributeValue::N("1.5".into())),
            ("m".to_owned(), AttributeValue::M(HashMap::from([("z".to_owned(), AttributeValue::Null(true))]))),
            ("l".to_owned(), AttributeValue::L(vec![AttributeValue::Bool(true)])),
        ]);
        assert_eq!(from_typed(&to_typed(&item)), item);
    }
}
