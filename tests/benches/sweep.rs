//! What a sweep costs as the table grows: thousands of finished jobs (a summary and stored
//! documents each, nothing pending) and a few pending documents, on moto; the sweeper's real
//! adapter reads the `pending` index. The figure that matters is items read per sweep: it follows
//! what is pending, not the table (a scan would read every item).
//!
//! `cargo bench -p integration-tests --bench sweep` (`make bench` runs it). `SWEEP_JOBS` (default
//! 3000) finished jobs, `SWEEP_PENDING` (default 5) pending documents.

use std::collections::HashMap;
use std::time::Instant;

use aws::schema;
use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
use config::SweeperConfig;
use domain::timestamp::{Clock, Timestamp};
use integration_tests::Backend;
use integration_tests::bench::write_figures;
use serde_json::json;
use sweeper::Sweeper;

fn s(text: impl Into<String>) -> AttributeValue {
    AttributeValue::S(text.into())
}

fn count(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// A finished job: its summary and three stored documents, as the pipeline leaves them.
fn finished_job() -> Vec<HashMap<String, AttributeValue>> {
    let pk = format!("SITE#{}", uuid::Uuid::new_v4());
    let mut items = vec![HashMap::from([
        ("pk".into(), s(&pk)),
        ("sk".into(), s(schema::JOB)),
        ("documents_stored".into(), AttributeValue::N("3".into())),
    ])];
    for _ in 0..3 {
        items.push(HashMap::from([
            ("pk".into(), s(&pk)),
            ("sk".into(), s(format!("DOC#{}", uuid::Uuid::new_v4()))),
            ("status".into(), s("STORED")),
            ("sweeps".into(), AttributeValue::N("1".into())),
        ]));
    }
    items
}

/// A document queued a day ago whose message was lost.
fn pending_document(since: Timestamp) -> HashMap<String, AttributeValue> {
    let id = uuid::Uuid::new_v4().to_string();
    HashMap::from([
        ("pk".into(), s(format!("SITE#{}", uuid::Uuid::new_v4()))),
        ("sk".into(), s(format!("DOC#{id}"))),
        ("document".into(), s(&id)),
        ("task".into(), s(uuid::Uuid::new_v4().to_string())),
        ("status".into(), s("QUEUED")),
        ("event_id".into(), s("bench")),
        ("pending".into(), s(schema::WAITING)),
        ("pending_since".into(), s(since.to_string())),
        ("active_at".into(), s(since.to_string())),
    ])
}

async fn write_all(backend: &Backend, items: Vec<HashMap<String, AttributeValue>>) {
    for chunk in items.chunks(25) {
        let requests: Vec<WriteRequest> = chunk
            .iter()
            .map(|item| {
                WriteRequest::builder()
                    .put_request(PutRequest::builder().set_item(Some(item.clone())).build().unwrap())
                    .build()
            })
            .collect();
        let mut left = Some(HashMap::from([(backend.table.clone(), requests)]));
        while let Some(requests) = left.take().filter(|r| !r.is_empty()) {
            let output =
                backend.clients.dynamodb.batch_write_item().set_request_items(Some(requests)).send().await.unwrap();
            left = output.unprocessed_items.filter(|u| u.values().any(|r| !r.is_empty()));
        }
    }
}

#[tokio::main]
async fn main() {
    let (jobs, pending) = (count("SWEEP_JOBS", 3000), count("SWEEP_PENDING", 5));
    let backend = Backend::new().await;
    let now = Timestamp::now();
    let mut items: Vec<_> = (0..jobs).flat_map(|_| finished_job()).collect();
    let table_items = items.len() + pending;
    items.extend((0..pending).map(|_| pending_document(now.plus_seconds(-86_400))));
    write_all(&backend, items).await;

    let config = SweeperConfig::from_lookup(|name| match name {
        "JOBS_TABLE" => Some(backend.table.clone()),
        "FETCH_QUEUE_URL" => Some(backend.queue_url.clone()),
        _ => None,
    })
    .unwrap();
    let sweeper = Sweeper::on_aws(&config, &backend.clients)
        .with_clock(Clock::new(move || now))
        .with_metrics(std::sync::Arc::new(|_| {}));
    let started = Instant::now();
    let swept = sweeper.sweep().await.expect("a sweep");
    let elapsed = started.elapsed().as_secs_f64() * 1000.0;
    assert_eq!(swept.requeued, pending, "{swept:?}");
    let again = sweeper.sweep().await.expect("a second sweep");
    let figures = json!({
        "finished_jobs": jobs,
        "table_items": table_items,
        "pending": pending,
        "items_read": swept.items_read,
        "requeued": swept.requeued,
        "sweep_ms": elapsed,
        "second_sweep_items_read": again.items_read,
        "second_sweep_in_flight": again.in_flight,
    });
    println!("sweep: {figures}");
    write_figures("sweep", &figures);
}
