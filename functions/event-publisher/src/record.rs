//! The DynamoDB stream's records as Lambda hands them over (`Records[].dynamodb` with `Keys`,
//! `OldImage`, `NewImage`, `SequenceNumber`, `ApproximateCreationDateTime`), their images in
//! DynamoDB's JSON (`{"S": ..}`, `{"N": ..}`, `{"M": ..}`) made plain JSON. Read record by record:
//! one the publisher cannot read is told apart, never a reason to refuse the batch.

use serde_json::{Map, Number, Value};

use aws::schema;
use domain::bus::{Item, ItemChange};
use domain::job::JobKey;
use domain::timestamp::Timestamp;

/// One record, read.
#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    pub sequence_number: String,
    /// The job and item its key names; `None` for an item that is no job's (a delivery).
    pub item: Option<(JobKey, Item)>,
    pub old: Option<Map<String, Value>>,
    pub new: Option<Map<String, Value>>,
    pub committed_at: Timestamp,
}

impl Record {
    /// The change of a job's item it carries; `None` for an item that is no job's.
    pub fn change(&self) -> Option<ItemChange<'_>> {
        let (job, item) = self.item.as_ref()?;
        Some(ItemChange { job, item, old: self.old.as_ref(), new: self.new.as_ref(), committed_at: self.committed_at })
    }
}

/// A record the publisher cannot read; `sequence_number` when even that is missing is empty.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("stream record {sequence_number:?}: {reason}")]
pub struct Unreadable {
    pub sequence_number: String,
    pub reason: String,
}

/// The records of a stream event, each read or said unreadable, in the stream's order.
pub fn records(event: &Value) -> Result<Vec<Result<Record, Unreadable>>, String> {
    let records = event.get("Records").and_then(Value::as_array).ok_or("the event has no Records array")?;
    Ok(records.iter().map(record).collect())
}

fn record(value: &Value) -> Result<Record, Unreadable> {
    let data = value.get("dynamodb");
    let sequence_number = data.and_then(|d| d.get("SequenceNumber")).and_then(Value::as_str).unwrap_or_default();
    let unreadable = |reason: String| Unreadable { sequence_number: sequence_number.to_owned(), reason };
    let data = data.ok_or_else(|| unreadable("no dynamodb field".into()))?;
    if sequence_number.is_empty() {
        return Err(unreadable("no SequenceNumber".into()));
    }
    // An image of nothing but the item's keys is an item not yet written: moto, creating an item
    // for an `UpdateItem`, streams its keys alone first.
    let image = |name: &str| match data.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(image) => plain_item(image)
            .map(|item| Some(item).filter(|item| item.keys().any(|name| !schema::TABLE_KEYS.contains(&name.as_str()))))
            .map_err(|reason| unreadable(format!("{name}: {reason}"))),
    };
    let keys = plain_item(data.get("Keys").unwrap_or(&Value::Null)).map_err(|r| unreadable(format!("Keys: {r}")))?;
    let key = |name: &str| keys.get(name).and_then(Value::as_str).ok_or_else(|| unreadable(format!("no {name} key")));
    let item = schema::item_of(key("pk")?, key("sk")?).map_err(unreadable)?;
    let seconds = data.get("ApproximateCreationDateTime").and_then(Value::as_f64).unwrap_or_default();
    #[allow(clippy::cast_possible_truncation)]
    let committed_at = Timestamp::from_millis((seconds * 1000.0).round() as i64);
    Ok(Record {
        sequence_number: sequence_number.to_owned(),
        item,
        old: image("OldImage")?,
        new: image("NewImage")?,
        committed_at,
    })
}

/// An item in DynamoDB's JSON, as plain JSON.
pub fn plain_item(image: &Value) -> Result<Map<String, Value>, String> {
    let attributes = image.as_object().ok_or("an item that is not an object")?;
    attributes.iter().map(|(name, value)| Ok((name.clone(), plain(value)?))).collect()
}

fn plain(value: &Value) -> Result<Value, String> {
    let typed = value.as_object().filter(|typed| typed.len() == 1).ok_or("an attribute that is not {type: value}")?;
    let (kind, inner) = typed.iter().next().ok_or("an empty attribute")?;
    let text = || inner.as_str().ok_or_else(|| format!("{kind} with a value that is not a string"));
    let list = || inner.as_array().ok_or_else(|| format!("{kind} with a value that is not a list"));
    Ok(match kind.as_str() {
        "S" => Value::String(text()?.to_owned()),
        "N" => number(text()?)?,
        "BOOL" => Value::Bool(inner.as_bool().ok_or("BOOL that is not a boolean")?),
        "NULL" => Value::Null,
        "M" => Value::Object(plain_item(inner)?),
        "L" => Value::Array(list()?.iter().map(plain).collect::<Result<_, _>>()?),
        "SS" => Value::Array(list()?.clone()),
        "NS" => {
            let numbers = list()?.iter().map(|n| number(n.as_str().ok_or("NS with a member that is not a string")?));
            Value::Array(numbers.collect::<Result<_, _>>()?)
        }
        // Binary attributes are not the job's: kept as their base64 text.
        "B" => Value::String(text()?.to_owned()),
        "BS" => Value::Array(list()?.clone()),
        other => return Err(format!("an attribute of type {other:?}")),
    })
}

fn number(text: &str) -> Result<Value, String> {
    if let Ok(integer) = text.parse::<i64>() {
        return Ok(integer.into());
    }
    text.parse::<f64>()
        .ok()
        .and_then(Number::from_f64)
        .map(Value::Number)
        .ok_or_else(|| format!("{text:?} is not a number"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_records_images_are_read_as_plain_json_and_its_key_names_the_item() {
        let event = json!({ "Records": [{
            "eventName": "MODIFY",
            "dynamodb": {
                "ApproximateCreationDateTime": 1714557600.5,
                "Keys": { "pk": { "S": "SITE#34b6b5ee-f997-4044-86ae-0abbf611fc4d" }, "sk": { "S": "JOB" } },
                "NewImage": {
                    "pk": { "S": "SITE#34b6b5ee-f997-4044-86ae-0abbf611fc4d" }, "sk": { "S": "JOB" },
                    "stage": { "M": { "id": { "S": "s2" }, "n": { "N": "1.5" }, "big": { "N": "1714557600000000" } } },
                    "quotes": { "SS": ["q1", "q2"] }, "list": { "L": [{ "BOOL": true }, { "NULL": true }] }
                },
                "SequenceNumber": "100", "StreamViewType": "NEW_AND_OLD_IMAGES"
            }
        }]});
        let records = records(&event).unwrap();
        let record = records[0].as_ref().unwrap();
        assert_eq!(record.item.as_ref().map(|(_, item)| item), Some(&Item::Job));
        assert_eq!(record.old, None);
        let new = record.new.as_ref().unwrap();
        assert_eq!(new["stage"], json!({ "id": "s2", "n": 1.5, "big": 1_714_557_600_000_000_i64 }));
        assert_eq!(new["quotes"], json!(["q1", "q2"]));
        assert_eq!(new["list"], json!([true, null]));
        assert_eq!(record.committed_at.to_string(), "2024-05-01T10:00:00.500000Z");
    }

    #[test]
    fn a_record_it_cannot_read_is_said_with_its_sequence_number_and_the_others_are_read() {
        let good = json!({ "dynamodb": { "SequenceNumber": "2",
            "Keys": { "pk": { "S": "EVENT#contract-status-change#ab" }, "sk": { "S": "EVENT" } } } });
        let event = json!({ "Records": [
            { "dynamodb": { "SequenceNumber": "1", "Keys": { "pk": { "S": "SITE#34b6b5ee-f997-4044-86ae-0abbf611fc4d" }, "sk": { "S": "PAYMENT#1" } } } },
            good,
            { "dynamodb": { "SequenceNumber": "3", "Keys": { "pk": { "X": "?" } } } },
            { "nothing": true },
        ]});
        let read = records(&event).unwrap();
        assert!(read[0].as_ref().unwrap_err().reason.contains("does not know"));
        assert_eq!(read[1].as_ref().unwrap().item, None, "a delivery is no job's item");
        assert_eq!(read[2].as_ref().unwrap_err().sequence_number, "3");
        assert_eq!(read[3].as_ref().unwrap_err().sequence_number, "");
        assert!(records(&json!({ "records": [] })).is_err());
    }

    /// Any JSON, nested a few levels, with DynamoDB's type keys likely.
    fn any_json() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            "[ -~]{0,12}".prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            let key = prop_oneof![
                Just("S".to_owned()),
                Just("N".to_owned()),
                Just("M".to_owned()),
                Just("L".to_owned()),
                Just("SS".to_owned()),
                Just("NS".to_owned()),
                Just("BOOL".to_owned()),
                Just("Keys".to_owned()),
                Just("pk".to_owned()),
                Just("sk".to_owned()),
                Just("NewImage".to_owned()),
                Just("OldImage".to_owned()),
                Just("dynamodb".to_owned()),
                Just("SequenceNumber".to_owned()),
                "[a-z]{1,4}",
            ];
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                proptest::collection::btree_map(key, inner, 0..4).prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    /// A plain JSON value in DynamoDB's JSON.
    fn typed(value: &Value) -> Value {
        match value {
            Value::Null => json!({ "NULL": true }),
            Value::Bool(b) => json!({ "BOOL": b }),
            Value::Number(n) => json!({ "N": n.to_string() }),
            Value::String(text) => json!({ "S": text }),
            Value::Array(items) => json!({ "L": items.iter().map(typed).collect::<Vec<_>>() }),
            Value::Object(map) => json!({ "M": map.iter().map(|(k, v)| (k.clone(), typed(v))).collect::<Map<_, _>>() }),
        }
    }

    /// An image of a job's item whose fields a consumer reads hold anything.
    fn any_image() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let field = prop_oneof![
            Just("kind"),
            Just("document_status"),
            Just("status"),
            Just("version"),
            Just("stage"),
            Just("current_quote"),
            Just("signed_quote"),
            Just("archived"),
            Just("raw"),
            Just("last_error"),
        ];
        let value = prop_oneof![
            any_json(),
            prop_oneof![
                Just("contract"),
                Just("change_order"),
                Just("SIGN"),
                Just("VOID"),
                Just("STORED"),
                Just("FAILED"),
                Just("QUEUED"),
                Just("ENRICHED")
            ]
            .prop_map(Value::from),
        ];
        proptest::collection::btree_map(field, value, 0..6)
            .prop_map(|m| typed(&Value::Object(m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())))
            .prop_map(|m| m["M"].clone())
    }

    fn job_record() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let id = "3f230ca4-b147-49ae-9187-8b64c7eea62c";
        let sk = prop_oneof![
            Just("JOB".to_owned()),
            Just(format!("TASK#{id}")),
            Just(format!("DOC#{id}")),
            Just(format!("DETAILS#{id}")),
            Just(format!("MILESTONE#{id}"))
        ];
        (sk, proptest::option::of(any_image()), proptest::option::of(any_image())).prop_map(|(sk, old, new)| {
            let keys = json!({ "pk": { "S": "SITE#34b6b5ee-f997-4044-86ae-0abbf611fc4d" }, "sk": { "S": sk } });
            json!({ "dynamodb": { "SequenceNumber": "1", "Keys": keys, "OldImage": old, "NewImage": new } })
        })
    }

    proptest::proptest! {
        #[test]
        fn no_images_of_a_jobs_items_make_the_mapping_panic(records in proptest::collection::vec(job_record(), 1..4)) {
            let read = super::records(&json!({ "Records": records })).unwrap();
            for record in read.into_iter().flatten() {
                let change = record.change().expect("a job's item");
                for event in domain::bus::events(&change, None).unwrap_or_default() {
                    proptest::prop_assert!(event.detail_json().len() < domain::bus::MAX_ENTRY_BYTES);
                }
            }
        }

        #[test]
        fn no_record_makes_the_reader_or_the_mapping_panic(records in proptest::collection::vec(any_json(), 0..4)) {
            for record in super::records(&json!({ "Records": records })).unwrap().into_iter().flatten() {
                if let Some(change) = record.change() {
                    let _ = domain::bus::events(&change, None);
                }
            }
        }
    }

    #[test]
    fn an_image_of_the_keys_alone_is_no_item_yet() {
        let keys = json!({ "pk": { "S": "SITE#34b6b5ee-f997-4044-86ae-0abbf611fc4d" }, "sk": { "S": "JOB" } });
        let event = json!({ "Records": [{ "dynamodb": { "SequenceNumber": "1", "Keys": keys, "NewImage": keys } }] });
        let record = records(&event).unwrap().remove(0).unwrap();
        assert_eq!((record.old, record.new), (None, None));
    }
}
