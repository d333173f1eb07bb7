//! The publisher's CPU per stream record: a batch of 100 records as Lambda hands them over (a
//! contract signed, documents stored, a stage moved, a quote's index entry that publishes
//! nothing) read, mapped and put on the bus with the real AWS SDK clients, whose calls an
//! in-process stub answers at once (`PutEvents` taking every entry, the publication log's
//! `BatchWriteItem`). The figure is the batch's time divided by its records.
//! `cargo bench -p event-publisher --bench publish`

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use aws::Clients;
use aws_config::{BehaviorVersion, Region};
use aws_smithy_http_client::test_util::infallible_client_fn;
use config::PublisherConfig;
use criterion::{Criterion, criterion_group, criterion_main};
use event_publisher::Publisher;
use serde_json::{Value, json};

const RECORDS: usize = 100;

/// One record of `pk`/`sk`, its old and new image given as plain strings and numbers.
fn record(sequence: usize, sk: &str, old: Option<Value>, new: Value) -> Value {
    let typed = |image: &Value| -> Value {
        let mut item = serde_json::Map::new();
        item.insert("pk".into(), json!({ "S": format!("SITE#34b6b5ee-f997-4044-86ae-{sequence:012}") }));
        item.insert("sk".into(), json!({ "S": sk }));
        for (name, value) in image.as_object().unwrap() {
            let value = match value {
                Value::Number(n) => json!({ "N": n.to_string() }),
                Value::Object(_) => json!({ "M": { "id": { "S": value["id"] }, "name": { "S": value["name"] } } }),
                other => json!({ "S": other.as_str().unwrap() }),
            };
            item.insert(name.clone(), value);
        }
        Value::Object(item)
    };
    let mut dynamodb = json!({
        "ApproximateCreationDateTime": 1714557600,
        "Keys": { "pk": { "S": format!("SITE#34b6b5ee-f997-4044-86ae-{sequence:012}") }, "sk": { "S": sk } },
        "NewImage": typed(&new),
        "SequenceNumber": sequence.to_string(),
        "StreamViewType": "NEW_AND_OLD_IMAGES",
    });
    if let Some(old) = old {
        dynamodb["OldImage"] = typed(&old);
    }
    json!({ "eventName": "MODIFY", "eventSource": "aws:dynamodb", "dynamodb": dynamodb })
}

/// A batch of the shapes the receiver and the fetcher write.
fn batch() -> Value {
    let records: Vec<Value> = (0..RECORDS)
        .map(|i| {
            let id = format!("3f230ca4-b147-49ae-9187-{i:012}");
            match i % 5 {
                0 => record(
                    i,
                    &format!("TASK#{id}"),
                    Some(json!({ "kind": "contract", "document_status": "SENT" })),
                    json!({ "kind": "contract", "document_status": "SIGN", "task": id, "name": "Contract",
                            "quote": "042e6753-6b06-457d-9efd-70f047f4d348", "signed_at": "2023-07-12T19:22:17.752365Z",
                            "version": 1_689_189_737_752_365_i64, "event_id": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef" }),
                ),
                1 | 2 => record(
                    i,
                    &format!("DOC#{id}"),
                    Some(json!({ "status": "FETCHING" })),
                    json!({ "status": "STORED", "s3_key": format!("contracts/34b6b5ee/{id}/Signed.pdf"), "size": 643,
                            "sha256": "3312bb54cf98b5fb88b3489c049fbcc2afb9a34e09da709f16be69a8c61aaf29",
                            "name": "Installation Agreement - Signed.pdf", "task": id, "event_id": "c6af9ac6" }),
                ),
                3 => record(
                    i,
                    "JOB",
                    Some(json!({ "stage": { "id": "s1", "name": "Contract Signed" } })),
                    json!({ "stage": { "id": "s2", "name": "Installation" } }),
                ),
                _ => record(i, &format!("QUOTE#{id}"), None, json!({ "quote": id })),
            }
        })
        .collect();
    json!({ "Records": records })
}

/// Success for every call: `PutEvents` with one result per entry it was sent.
fn stub_answer(request: http::Request<aws_smithy_types::body::SdkBody>) -> http::Response<String> {
    let target = request.headers().get("x-amz-target").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let body = if target == "AWSEvents.PutEvents" {
        let sent: Value = serde_json::from_slice(request.body().bytes().unwrap_or_default()).unwrap_or_default();
        let entries = sent["Entries"].as_array().map_or(0, Vec::len);
        json!({ "FailedEntryCount": 0, "Entries": vec![json!({ "EventId": "e" }); entries] }).to_string()
    } else {
        "{}".to_owned()
    };
    let content_type =
        if target.starts_with("AWSEvents") { "application/x-amz-json-1.1" } else { "application/x-amz-json-1.0" };
    http::Response::builder().status(200).header("content-type", content_type).body(body).expect("a response")
}

fn publish(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    let http = infallible_client_fn(move |request| {
        counted.fetch_add(1, Ordering::Relaxed);
        stub_answer(request)
    });
    let credentials = aws_credential_types::Credentials::new("AKIDBENCH", "bench-secret", None, None, "bench");
    let sdk = runtime.block_on(
        aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(credentials)
            .http_client(http)
            .load(),
    );
    let config = PublisherConfig {
        jobs_table: "jobs".into(),
        documents_bucket: "documents".into(),
        event_bus: "installer".into(),
        failures_queue_url: "https://sqs.us-east-1.amazonaws.com/123456789012/failures".into(),
        attempts: 3,
    };
    let publisher =
        Publisher::on_aws(&config, &Clients::new(&sdk)).with_metrics(Arc::new(|line| drop(black_box(line))));
    let event = batch();

    // Once outside the timing: the batch really publishes what it should.
    let (response, published) = runtime.block_on(publisher.publish(&event));
    assert!(response.batch_item_failures.is_empty());
    assert_eq!((published.records, published.events.len(), published.unreadable), (RECORDS, 80, 0));
    println!(
        "a batch of {RECORDS} records: {} AWS calls, {} events",
        calls.load(Ordering::Relaxed),
        published.events.len()
    );

    c.bench_function("publisher: per stream record (batch of 100, real SDK clients)", |b| {
        b.iter_custom(|iterations| {
            let mut total = Duration::ZERO;
            for _ in 0..iterations {
                let started = Instant::now();
                black_box(runtime.block_on(publisher.publish(black_box(&event))));
                total += started.elapsed();
            }
            total / RECORDS as u32
        });
    });
}

criterion_group!(benches, publish);
criterion_main!(benches);
