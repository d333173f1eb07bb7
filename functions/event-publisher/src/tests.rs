//! The publisher's logic on ports in memory: order, per-entry retries, the note before a batch
//! is given back. Its adapters are tested on moto (`tests/publisher.rs`).

use std::sync::Mutex;

use serde_json::json;

use super::*;
use domain::ports::BackendError;

/// A bus that refuses what `refuse` says, on the attempt it says, and remembers every put.
#[derive(Default)]
struct Bus {
    puts: Mutex<Vec<Vec<String>>>,
    /// (task of the event to refuse, how many times)
    refuse: Mutex<Vec<(String, usize)>>,
}

impl EventSink for Bus {
    async fn put(&self, events: &[BusEvent]) -> Result<Vec<Option<String>>, BackendError> {
        assert!(events.len() <= MAX_EVENTS_PER_PUT);
        self.puts.lock().unwrap().push(events.iter().map(|event| event.id.to_string()).collect());
        let mut refuse = self.refuse.lock().unwrap();
        Ok(events
            .iter()
            .map(|event| {
                let task = event.detail.get("task").and_then(Value::as_str).unwrap_or_default();
                let rule = refuse.iter_mut().find(|(refused, times)| refused == task && *times > 0)?;
                rule.1 -= 1;
                Some("ThrottlingException: slow down".to_owned())
            })
            .collect())
    }
}

#[derive(Default)]
struct Log(Mutex<Vec<String>>);

impl PublicationLog for Log {
    async fn record(&self, events: &[BusEvent]) -> Result<(), BackendError> {
        self.0.lock().unwrap().extend(events.iter().map(|event| event.id.to_string()));
        Ok(())
    }
}

#[derive(Default)]
struct Notes(Mutex<Vec<PublishFailure>>);

impl FailureNotes for Notes {
    async fn note(&self, failure: &PublishFailure) -> Result<(), BackendError> {
        self.0.lock().unwrap().push(failure.clone());
        Ok(())
    }
}

const SITES: [&str; 2] = ["34b6b5ee-f997-4044-86ae-0abbf611fc4d", "0abbf611-f997-4044-86ae-34b6b5eefc4d"];

/// A record signing the contract task `task` of `site`.
fn signed(sequence: usize, site: &str, task: usize) -> Value {
    let task = format!("00000000-0000-4000-8000-{task:012}");
    json!({ "eventName": "MODIFY", "dynamodb": {
        "SequenceNumber": sequence.to_string(),
        "ApproximateCreationDateTime": 1714557600,
        "Keys": { "pk": { "S": format!("SITE#{site}") }, "sk": { "S": format!("TASK#{task}") } },
        "OldImage": { "kind": { "S": "contract" }, "document_status": { "S": "SENT" } },
        "NewImage": { "kind": { "S": "contract" }, "document_status": { "S": "SIGN" }, "task": { "S": task }, "version": { "N": "5" } },
    }})
}

fn publisher(bus: Bus) -> Publisher<Bus, Log, Notes> {
    Publisher::new((bus, Log::default(), Notes::default()), "documents")
        .with_backoff(Duration::ZERO)
        .with_metrics(domain::metrics::discard_sink())
}

fn tasks(events: &[BusEvent]) -> Vec<String> {
    events.iter().map(|event| event.detail["task"].as_str().unwrap()[34..].to_owned()).collect()
}

#[tokio::test]
async fn every_change_is_published_in_the_streams_order_ten_at_a_time_and_logged() {
    let records: Vec<Value> = (1..=23).map(|i| signed(i, SITES[i % 2], i)).collect();
    let publisher = publisher(Bus::default());
    let (response, published) = publisher.publish(&json!({ "Records": records })).await;
    assert_eq!(response, StreamResponse::default());
    let expected: Vec<String> = (1..=23).map(|i| format!("{i:02}")).collect();
    assert_eq!(tasks(&published.events), expected);
    let (bus, log, notes) = publisher.ports();
    let sizes: Vec<usize> = bus.puts.lock().unwrap().iter().map(Vec::len).collect();
    assert_eq!(sizes, [10, 10, 3]);
    assert_eq!(log.0.lock().unwrap().len(), 23);
    assert!(notes.0.lock().unwrap().is_empty());
}

#[tokio::test]
async fn an_entry_the_bus_refuses_is_put_again_alone_and_nothing_is_put_twice() {
    let bus = Bus { refuse: Mutex::new(vec![("00000000-0000-4000-8000-000000000002".into(), 2)]), ..Bus::default() };
    let publisher = publisher(bus);
    let records: Vec<Value> = (1..=3).map(|i| signed(i, SITES[0], i)).collect();
    let (response, published) = publisher.publish(&json!({ "Records": records })).await;
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(published.put_retries, 2);
    let puts = publisher.ports().0.puts.lock().unwrap().clone();
    assert_eq!(puts.iter().map(Vec::len).collect::<Vec<_>>(), [3, 1, 1], "only the refused entry again");
    assert_eq!(tasks(&published.events), ["01", "03", "02"]);
}

#[tokio::test]
async fn an_entry_still_refused_gives_the_batch_back_from_its_record_after_noting_the_sites() {
    let bus = Bus { refuse: Mutex::new(vec![("00000000-0000-4000-8000-000000000012".into(), 99)]), ..Bus::default() };
    let publisher = publisher(bus);
    let records: Vec<Value> = (11..=25).map(|i| signed(i, SITES[i % 2], i)).collect();
    let (response, published) = publisher.publish(&json!({ "Records": records })).await;
    assert_eq!(response.batch_item_failures, [ItemFailure { item_identifier: "12".into() }]);
    // The first chunk (records 11 to 20) was put; nothing after the chunk that failed.
    let puts = publisher.ports().0.puts.lock().unwrap().clone();
    assert_eq!(puts.len(), 3, "{puts:?}");
    assert!(!tasks(&published.events).contains(&"21".to_owned()));
    let notes = publisher.ports().2.0.lock().unwrap().clone();
    assert_eq!(notes.len(), 1);
    assert_eq!(notes[0].first_sequence_number, "12");
    assert_eq!(notes[0].sites.len(), 2, "both sites have records from 12 on");
    assert!(notes[0].reason.contains("ThrottlingException"), "{}", notes[0].reason);
    assert_eq!(published.failed.as_ref().map(|(sequence, _)| sequence.as_str()), Some("12"));
}

#[tokio::test]
async fn records_it_cannot_read_or_map_are_counted_and_never_fail_the_batch() {
    let publisher = publisher(Bus::default());
    let unknown = json!({ "dynamodb": { "SequenceNumber": "2",
        "Keys": { "pk": { "S": format!("SITE#{}", SITES[0]) }, "sk": { "S": "PAYMENT#1" } }, "NewImage": {} } });
    let mut newer = signed(3, SITES[0], 3);
    newer["dynamodb"]["NewImage"]["kind"] = json!({ "S": "subcontract" });
    let event =
        json!({ "Records": [signed(1, SITES[0], 1), unknown, newer, { "garbage": 1 }, signed(5, SITES[0], 5)] });
    let (response, published) = publisher.publish(&event).await;
    assert!(response.batch_item_failures.is_empty());
    assert_eq!((published.records, published.unreadable), (5, 3));
    assert_eq!(tasks(&published.events), ["01", "05"]);
    let (_, published) = publisher.publish(&json!({ "not": "a stream event" })).await;
    assert_eq!((published.records, published.unreadable), (0, 1));
}

#[tokio::test]
async fn a_document_stored_names_the_bucket() {
    let publisher = publisher(Bus::default());
    let document = "3f230ca4-b147-49ae-9187-8b64c7eea62c";
    let record = json!({ "dynamodb": { "SequenceNumber": "1",
        "Keys": { "pk": { "S": format!("SITE#{}", SITES[0]) }, "sk": { "S": format!("DOC#{document}") } },
        "OldImage": { "status": { "S": "FETCHING" } },
        "NewImage": { "status": { "S": "STORED" }, "s3_key": { "S": "contracts/a.pdf" }, "size": { "N": "10" } } } });
    let (_, published) = publisher.publish(&json!({ "Records": [record] })).await;
    assert_eq!(published.events[0].detail["bucket"], "documents");
    assert_eq!(published.events[0].detail["s3_key"], "contracts/a.pdf");
}

#[tokio::test]
async fn the_same_change_twice_in_a_batch_is_put_once() {
    let publisher = publisher(Bus::default());
    let event = json!({ "Records": [signed(1, SITES[0], 1), signed(2, SITES[0], 1)] });
    let (_, published) = publisher.publish(&event).await;
    assert_eq!(tasks(&published.events), ["01"]);
    assert_eq!(publisher.ports().0.puts.lock().unwrap().concat().len(), 1);
}

#[tokio::test]
async fn one_metric_line_per_batch_counts_what_it_did() {
    let lines = std::sync::Arc::new(Mutex::new(Vec::new()));
    let sink = lines.clone();
    let publisher =
        publisher(Bus::default()).with_metrics(std::sync::Arc::new(move |line| sink.lock().unwrap().push(line)));
    let event = json!({ "Records": [signed(1, SITES[0], 1), { "garbage": 1 }] });
    publisher.publish(&event).await;
    let lines = lines.lock().unwrap().clone();
    assert_eq!(lines.len(), 1);
    let line: Value = serde_json::from_str(&lines[0]).unwrap();
    assert_eq!(
        (line["Records"].as_f64(), line["Published"].as_f64(), line["Unmapped"].as_f64()),
        (Some(2.0), Some(1.0), Some(1.0))
    );
    let names: Vec<&str> = line["_aws"]["CloudWatchMetrics"][0]["Metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|metric| metric["Name"].as_str().unwrap())
        .collect();
    assert_eq!(names, domain::metrics::PUBLISHER_METRICS);
}
