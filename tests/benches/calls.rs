//! AWS calls and DynamoDB write units per webhook and per stored document, counted on the wire (a
//! proxy in front of moto), for the job's writes as they are (one transaction) and as they were
//! (one call per part, `integration_tests::part_by_part`). Write units are worked out from the
//! sizes of the items written, by DynamoDB's rules (1 KB per unit, twice in a transaction); the
//! indexes' units are the same either way and shown apart. Leaves `target/bench/calls.json` for
//! `bench-report`. `cargo bench -p integration-tests --bench calls`

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use aws::{Clients, schema};
use aws_lambda_events::event::sqs::SqsMessage;
use aws_sdk_dynamodb::types::AttributeValue;
use contract_fetcher::Fetcher;
use domain::job::{JobKey, PlanContext, plan};
use domain::metrics::discard_sink;
use domain::timestamp::Timestamp;
use integration_tests::bench::write_figures;
use integration_tests::fault_proxy::FaultProxy;
use integration_tests::typed::raw_items;
use integration_tests::{Backend, Proxied, event, event_json, part_by_part};
use local_stack::stand_in::StandIn;
use serde_json::{Value, json};
use tokio::time::Instant;
use webhook_receiver::AwsReceiver;

const TOKEN: &str = "bench-token-0123";
/// The sample webhooks, and the most calls each may make.
const EVENTS: [(&str, &str, u64); 3] = [
    ("contract-signed (seed 002)", "rest-contract-signed", 6),
    ("change-order-signed", "rest-change-order-signed", 5),
    ("milestone-approved", "rest-milestone-approved", 5),
];
/// The most calls per stored document.
const PER_DOCUMENT: u64 = 3;

type Item = HashMap<String, AttributeValue>;

/// An attribute's size as DynamoDB counts it: text by its UTF-8 bytes, a number by about one
/// byte per two significant digits plus one, a document 3 bytes plus its elements (a map's
/// names included).
fn value_size(value: &AttributeValue) -> usize {
    match value {
        AttributeValue::S(text) => text.len(),
        AttributeValue::N(number) => number.trim_start_matches(['-', '0']).replace('.', "").len().div_ceil(2) + 1,
        AttributeValue::Ss(set) => set.iter().map(String::len).sum(),
        AttributeValue::L(items) => 3 + items.iter().map(|v| 1 + value_size(v)).sum::<usize>(),
        AttributeValue::M(map) => 3 + map.iter().map(|(k, v)| 1 + k.len() + value_size(v)).sum::<usize>(),
        _ => 1,
    }
}

fn item_size(item: &Item) -> usize {
    item.iter().map(|(name, value)| name.len() + value_size(value)).sum()
}

fn units(item: &Item) -> u64 {
    item_size(item).div_ceil(1024) as u64
}

/// The item with this key.
fn find<'a>(items: &'a [Item], pk: &str, sk: &str) -> Option<&'a Item> {
    items.iter().find(|item| item["pk"].as_s().is_ok_and(|p| p == pk) && item["sk"].as_s().is_ok_and(|s| s == sk))
}

/// The job's item keys each part of the event's plan writes (one per part).
fn parts_written(name: &str) -> (JobKey, Vec<String>) {
    let request = event_json(name);
    let method = request["httpMethod"].as_str().unwrap().parse().unwrap();
    let route = webhook_receiver::route(&method, request["path"].as_str().unwrap()).unwrap();
    let payload = route.parse(request["body"].as_str().unwrap().as_bytes()).unwrap();
    let cx =
        PlanContext { event: route, event_id: "bench", received_at: Timestamp::now(), fetch_milestone_documents: true };
    let plan = plan(&payload, &cx).unwrap();
    let job = JobKey::default_tenant(plan.site);
    let mut keys: Vec<String> =
        plan.changes.iter().flat_map(|change| aws::DynamoJobStore::items_changed(&job, change)).collect();
    keys.extend(plan.documents.iter().map(|document| schema::document_sk(document.id)));
    keys.extend(plan.enrichment.iter().map(|enrichment| schema::details_sk(enrichment.quote)));
    keys.extend(plan.lookup.iter().map(|lookup| schema::lookup_sk(lookup.quote)));
    (job, keys)
}

/// The table's and the indexes' write units of one event, written part by part and in one
/// transaction (with the claim and its finish, a unit each).
fn write_units(name: &str, items: &[Item]) -> (u64, u64, u64) {
    let (job, parts) = parts_written(name);
    let pk = schema::job_pk(&job);
    let size = |sk: &str| find(items, &pk, sk).map_or(1, units);
    let part_by_part: u64 = parts.iter().map(|sk| size(sk)).sum::<u64>() + 2;
    let mut distinct = parts.clone();
    distinct.sort();
    distinct.dedup();
    let transaction: u64 = 2 * distinct.iter().map(|sk| size(sk)).sum::<u64>() + 2;
    // The `pending` index (all attributes) takes what waits; `by-quote` (keys) what names a quote.
    let index: u64 = distinct
        .iter()
        .filter_map(|sk| find(items, &pk, sk))
        .map(|item| u64::from(item.contains_key("quote")) + if item.contains_key("pending") { units(item) } else { 0 })
        .sum();
    (part_by_part, transaction, index)
}

async fn counted() -> (Backend, FaultProxy, Clients) {
    let Proxied { backend, proxy, clients } = Proxied::new(Duration::from_secs(10)).await;
    (backend, proxy, clients)
}

fn total(calls: &BTreeMap<String, u64>) -> u64 {
    calls.values().sum()
}

async fn measure() -> Value {
    let mut events = serde_json::Map::new();
    for (label, name, target) in EVENTS {
        let mut figures = json!({ "target": target });
        for path in ["transaction", "part_by_part"] {
            let (backend, proxy, clients) = counted().await;
            let config = backend.receiver_config();
            let response = if path == "transaction" {
                AwsReceiver::on_aws(&config, &clients).with_metrics(discard_sink()).handle(event(name)).await
            } else {
                part_by_part::receiver(&config, &clients).with_metrics(discard_sink()).handle(event(name)).await
            };
            assert_eq!(response.status(), 200, "{name}: {:?}", response.body());
            let calls = proxy.stats().calls();
            let items = raw_items(&backend.clients.dynamodb, &backend.table).await;
            let (units_part_by_part, units_transaction, index) = write_units(name, &items);
            let units = if path == "transaction" { units_transaction } else { units_part_by_part };
            figures[path] = json!({ "calls": total(&calls), "by_operation": calls, "write_units": units, "index_write_units": index });
            println!(
                "{label}, {path}: {} AWS calls {calls:?}, {units} write units (+{index} in indexes)",
                total(&calls)
            );
        }
        events.insert(label.to_owned(), figures);
    }

    // Every document the seed contract queued, stored: the calls each made.
    let (backend, proxy, clients) = counted().await;
    let receiver = AwsReceiver::on_aws(&backend.receiver_config(), &clients).with_metrics(discard_sink());
    assert_eq!(receiver.handle(event("rest-contract-signed")).await.status(), 200);
    let records: Vec<SqsMessage> = backend.take_records().await;
    let stand_in = StandIn::start(TOKEN).await.expect("stand-in");
    let fetcher =
        Fetcher::on_aws(&backend.fetcher_config(&stand_in.base_url, TOKEN), &clients).with_metrics(discard_sink());
    let documents: Vec<&SqsMessage> =
        records.iter().filter(|r| r.body.as_deref().unwrap_or_default().contains("fetch_document")).collect();
    let before = total(&proxy.stats().calls());
    for record in &documents {
        let response =
            fetcher.handle_batch(std::slice::from_ref(*record), Instant::now() + Duration::from_secs(60)).await;
        assert!(response.batch_item_failures.is_empty());
    }
    let per_document = (total(&proxy.stats().calls()) - before) as f64 / documents.len() as f64;
    let items = raw_items(&backend.clients.dynamodb, &backend.table).await;
    let job = items.iter().find(|item| item["sk"].as_s().is_ok_and(|s| s == schema::JOB)).map_or(1, units);
    let document = items.iter().find(|item| item["sk"].as_s().is_ok_and(|s| s.starts_with("DOC#"))).map_or(1, units);
    // The claim (the document), the record (the document and the job's count, in a transaction).
    let document_units = document + 2 * (document + job);
    println!(
        "contract-fetcher: {per_document} AWS calls per stored document ({} documents), {document_units} write units (+{document} in the pending index)",
        documents.len()
    );
    json!({
        "events": events,
        "fetcher": { "calls_per_document": per_document, "target": PER_DOCUMENT, "documents": documents.len(), "write_units": document_units, "index_write_units": document },
    })
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a runtime");
    let figures = runtime.block_on(measure());
    write_figures("calls", &figures);
}
