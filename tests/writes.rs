//! The job's writes in few calls, on moto: the calls each sample webhook and each stored document
//! make, counted on the wire (a proxy in front of moto); the same job and the same events on the
//! bus as the writes made one part per call (the port's default, `apply_each`), in any order of
//! delivery; and a job in the layout the previous version wrote, read and continued.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_lambda_events::event::sqs::SqsMessage;
use contract_fetcher::Fetcher;
use domain::metrics::discard_sink;
use integration_tests::events::Bus;
use integration_tests::fault_proxy::{Fault, FaultPlan, Rule};
use integration_tests::scenario::{generate, job_state};
use integration_tests::typed::put_items;
use integration_tests::{Backend, Proxied, event, event_json, json_body, re_signed_milestone, root};
use lambda_http::http::StatusCode;
use local_stack::stand_in::StandIn;
use serde_json::Value;
use tokio::time::Instant;
use webhook_receiver::{AwsReceiver, Replay};

const TOKEN: &str = "test-token-0123";

/// A backend whose functions reach moto through a proxy that counts their calls.
async fn counted() -> Proxied {
    Proxied::new(Duration::from_secs(5)).await
}

/// The receiver of `world`, its calls through the proxy.
fn receiver(world: &Proxied) -> AwsReceiver {
    AwsReceiver::on_aws(&world.backend.receiver_config(), &world.clients).with_metrics(discard_sink())
}

/// The calls `request` made, by operation, and the answer.
async fn calls_of(world: &Proxied, request: lambda_http::Request) -> (BTreeMap<String, u64>, Value) {
    let before = world.proxy.stats().calls();
    let response = receiver(world).handle(request).await;
    assert_eq!(response.status(), StatusCode::OK, "{:?}", response.body());
    (since(&before, &world.proxy.stats().calls()), json_body(&response))
}

/// The calls made between two counts.
fn since(before: &BTreeMap<String, u64>, after: &BTreeMap<String, u64>) -> BTreeMap<String, u64> {
    after
        .iter()
        .map(|(operation, n)| (operation.clone(), n - before.get(operation).copied().unwrap_or(0)))
        .filter(|(_, n)| *n > 0)
        .collect()
}

fn calls(list: &[(&str, u64)]) -> BTreeMap<String, u64> {
    list.iter().map(|(operation, n)| ((*operation).to_owned(), *n)).collect()
}

/// A new webhook: the archive, the claim, the job's transaction, the messages, the claim's finish.
fn five_calls() -> BTreeMap<String, u64> {
    calls(&[
        ("s3 PutObject", 1),
        ("dynamodb PutItem", 1),
        ("dynamodb TransactWriteItems", 1),
        ("sqs SendMessageBatch", 1),
        ("dynamodb UpdateItem", 1),
    ])
}

#[tokio::test]
async fn each_sample_webhook_is_applied_in_five_calls_and_each_document_stored_in_three() {
    let world = counted().await;
    let (seed_002, answer) = calls_of(&world, event("rest-contract-signed")).await;
    assert_eq!(answer["queued"].as_array().map(Vec::len), Some(9), "{answer}");
    assert_eq!(seed_002, five_calls());
    for name in ["rest-change-order-signed", "rest-milestone-approved"] {
        let (made, answer) = calls_of(&world, event(name)).await;
        assert_eq!(answer["queued"].as_array().map(Vec::len), Some(1), "{name}: {answer}");
        assert_eq!(made, five_calls(), "{name}");
    }
    // A stage transition keeps no delivery record (it is idempotent by its chain) and names no
    // document: the archive and the transaction.
    let (stage, _) = calls_of(&world, event("rest-stage-transition")).await;
    assert_eq!(stage, calls(&[("s3 PutObject", 1), ("dynamodb TransactWriteItems", 1)]));

    let stand_in = StandIn::start(TOKEN).await.expect("stand-in");
    let config = world.backend.fetcher_config(&stand_in.base_url, TOKEN);
    let fetcher = Fetcher::on_aws(&config, &world.clients).with_metrics(discard_sink());
    let records: Vec<SqsMessage> = world.backend.take_records().await;
    let documents: Vec<&SqsMessage> =
        records.iter().filter(|r| r.body.as_deref().unwrap_or_default().contains("fetch_document")).collect();
    assert_eq!(documents.len(), 11);
    for record in documents {
        let before = world.proxy.stats().calls();
        let response =
            fetcher.handle_batch(std::slice::from_ref(record), Instant::now() + Duration::from_secs(60)).await;
        assert!(response.batch_item_failures.is_empty());
        let made = since(&before, &world.proxy.stats().calls());
        let stored = calls(&[("dynamodb UpdateItem", 1), ("s3 PutObject", 1), ("dynamodb TransactWriteItems", 1)]);
        assert_eq!(made, stored, "claim, upload, record");
    }
}

#[tokio::test]
async fn an_older_contract_after_a_newer_one_takes_a_second_transaction_without_its_stale_parts() {
    let world = counted().await;
    let mut newer = event_json("rest-contract-signed");
    let mut body: Value = serde_json::from_str(newer["body"].as_str().unwrap()).unwrap();
    body["date_updated"] = Value::from("2031-01-01T00:00:00Z");
    newer["body"] = Value::String(body.to_string());
    newer["requestContext"]["requestId"] = Value::from("the-newer-one");
    calls_of(&world, lambda_http::request::from_str(&newer.to_string()).unwrap()).await;
    let job_before = world.backend.item("SITE#34b6b5ee-f997-4044-86ae-0abbf611fc4d", "JOB").await.unwrap();

    let (made, answer) = calls_of(&world, event("rest-contract-signed")).await;
    assert_eq!(answer["stale"], true, "{answer}");
    // The task and the contract refuse; the summary's parts are written alone to learn which
    // refused; the rest (the documents, the quote's index entry) in a second transaction.
    assert_eq!(made.get("dynamodb TransactWriteItems"), Some(&2), "{made:?}");
    let job = world.backend.item("SITE#34b6b5ee-f997-4044-86ae-0abbf611fc4d", "JOB").await.unwrap();
    assert_eq!(job["contract"], job_before["contract"], "the newer contract stays");
    assert_eq!(job["current_quote"], job_before["current_quote"]);
}

#[tokio::test]
async fn a_transaction_cancelled_by_a_conflict_is_written_one_update_per_item_and_lands_whole() {
    // Another transaction held one of the job's items: the plan goes one update per item, and
    // the job is the one a transaction would have left.
    let (world, calm) = (counted().await, counted().await);
    world.proxy.set_plan(FaultPlan {
        rules: vec![Rule::next("dynamodb", "TransactWriteItems", Fault::Conflict, 1)],
        ..FaultPlan::none()
    });
    let (made, answer) = calls_of(&world, event("rest-contract-signed")).await;
    assert_eq!((answer["stale"].as_bool(), answer["queued"].as_array().map(Vec::len)), (Some(false), Some(9)));
    assert_eq!(world.proxy.stats().of(Fault::Conflict), 1);
    assert_eq!(made.get("dynamodb TransactWriteItems"), Some(&1), "{made:?}");
    assert!(made.get("dynamodb UpdateItem").is_some_and(|n| *n >= 13), "{made:?}");
    calls_of(&calm, event("rest-contract-signed")).await;
    assert_eq!(job_state(world.backend.items().await), job_state(calm.backend.items().await));
    assert_eq!(world.backend.drain_queue().await.len(), 10, "9 documents and the details, once each");
}

#[tokio::test]
async fn a_milestone_naming_one_task_twice_is_written_one_part_per_call() {
    // Two changes of one task cannot share an update (they set the same attributes): the plan is
    // written one part per call, as before, and lands.
    let world = counted().await;
    let mut request = event_json("rest-milestone-approved");
    let mut body: Value = serde_json::from_str(request["body"].as_str().unwrap()).unwrap();
    let first = body["tasks"][0].clone();
    body["tasks"].as_array_mut().unwrap().push(first);
    request["body"] = Value::String(body.to_string());
    let (made, answer) = calls_of(&world, lambda_http::request::from_str(&request.to_string()).unwrap()).await;
    assert_eq!(answer["stale"], false, "{answer}");
    assert_eq!(made.get("dynamodb TransactWriteItems"), None, "{made:?}");
    let task = body["tasks"][0]["uuid"].as_str().unwrap();
    let item = world.backend.item("SITE#157802b4-99aa-4437-b250-934df337766a", &format!("TASK#{task}")).await;
    assert!(item.is_some_and(|item| item["milestone"].is_string()), "the task is recorded");
}

#[tokio::test]
async fn a_contract_of_more_than_a_hundred_items_is_written_one_update_per_item() {
    // DynamoDB takes at most 100 actions in a transaction: 120 uploaded documents go one update
    // per item, and every one is queued once.
    let world = counted().await;
    let mut request = event_json("rest-contract-signed");
    let mut body: Value = serde_json::from_str(request["body"].as_str().unwrap()).unwrap();
    let template = body["sub_tasks"][0]["data"]["documents"][1].clone();
    let documents: Vec<Value> = (0..120)
        .map(|i| {
            let mut document = template.clone();
            document["uuid"] = Value::from(format!("00000000-0000-4000-8000-{i:012}"));
            document
        })
        .collect();
    body["sub_tasks"][0]["data"]["documents"] = Value::Array(documents);
    request["body"] = Value::String(body.to_string());
    let (made, answer) = calls_of(&world, lambda_http::request::from_str(&request.to_string()).unwrap()).await;
    assert_eq!(answer["queued"].as_array().map(Vec::len), Some(120), "{answer}");
    assert_eq!(made.get("dynamodb TransactWriteItems"), None, "{made:?}");
    assert!(made.get("dynamodb UpdateItem").is_some_and(|n| *n > 120), "{made:?}");
    assert_eq!(world.backend.drain_queue().await.len(), 121, "120 documents and the details");
}

#[tokio::test]
async fn the_same_deliveries_in_any_order_leave_the_same_job_and_publish_the_same_events_as_one_part_per_call() {
    let generated = generate(&root().join("events/payloads"), 3, 0, 34);
    let n = generated.events.len();
    let mut rng = fastrand::Rng::with_seed(34);
    let mut shuffled: Vec<usize> = (0..n).chain((0..n / 3).map(|_| rng.usize(..n))).collect();
    rng.shuffle(&mut shuffled);
    for order in [(0..n).collect::<Vec<_>>(), shuffled] {
        let (transactions, part_by_part) = (Backend::new().await, Backend::new().await);
        let (bus_t, bus_p) = (Bus::on(&transactions).await, Bus::on(&part_by_part).await);
        let fast =
            AwsReceiver::on_aws(&transactions.receiver_config(), &transactions.clients).with_metrics(discard_sink());
        let slow = integration_tests::part_by_part::receiver(&part_by_part.receiver_config(), &part_by_part.clients)
            .with_metrics(discard_sink());
        for (position, &index) in order.iter().enumerate() {
            let raw = generated.events[index].raw(position);
            let (a, b) = (fast.replay(&raw, Replay::Deduplicated).await, slow.replay(&raw, Replay::Deduplicated).await);
            let answer = |r: Result<webhook_receiver::Accepted, webhook_receiver::Refusal>| {
                r.map(|a| (a.duplicate, a.stale, a.queued)).map_err(|e| e.to_string())
            };
            assert_eq!(answer(a), answer(b), "delivery {position}: {}", generated.events[index].slug);
        }
        assert_eq!(job_state(transactions.items().await), job_state(part_by_part.items().await));
        let ids = bus_t.expected_ids(&transactions).await;
        assert!(ids.len() > 20, "{} events", ids.len());
        assert_eq!(ids, bus_p.expected_ids(&part_by_part).await);
    }
}

#[tokio::test]
async fn a_job_in_the_layout_the_previous_version_wrote_is_read_and_continued() {
    let fixture: Vec<Value> =
        serde_json::from_slice(&std::fs::read(root().join("tests/fixtures/layout-v1.json")).unwrap()).unwrap();
    let (old, fresh) = (Backend::new().await, Backend::new().await);
    put_items(&old.clients.dynamodb, &old.table, &fixture).await;
    let receiver = |backend: &Backend| {
        AwsReceiver::on_aws(&backend.receiver_config(), &backend.clients).with_metrics(discard_sink())
    };
    // What the fixture holds, written by this version.
    for request in [event("rest-contract-signed"), re_signed_milestone(), event("rest-change-order-signed")] {
        assert_eq!(receiver(&fresh).handle(request).await.status(), StatusCode::OK);
    }
    fresh.drain_queue().await;
    assert_eq!(old.items().await.len(), fresh.items().await.len(), "the same items");

    // Then the same webhooks on both, and one of the fixture's documents stored.
    for backend in [&old, &fresh] {
        for request in [
            event("rest-stage-transition"),
            event("rest-milestone-approved"),
            event("rest-site-archived"),
            event("rest-change-order-signed"),
        ] {
            let response = receiver(backend).handle(request).await;
            assert_eq!(response.status(), StatusCode::OK, "{:?}", response.body());
        }
        let stand_in = StandIn::start(TOKEN).await.expect("stand-in");
        let fetcher = Fetcher::on_aws(&backend.fetcher_config(&stand_in.base_url, TOKEN), &backend.clients)
            .with_metrics(discard_sink());
        // The sample fetch message: the fixture's first queued document.
        let sample = event_json("sqs-fetch-document");
        let mut record = SqsMessage::default();
        record.body = sample["Records"][0]["body"].as_str().map(str::to_owned);
        let response = fetcher.handle_batch(&[record], Instant::now() + Duration::from_secs(60)).await;
        assert!(response.batch_item_failures.is_empty());
    }
    // The jobs' items; not the delivery records, which the fixture's bodies' hashes name (the
    // re-signed milestone's body is this test's own JSON, whose key order a build may change).
    let jobs = |items: Vec<serde_json::Map<String, Value>>| {
        let mut state = job_state(items);
        state.retain(|(pk, _), _| pk.starts_with("SITE#"));
        state
    };
    let (old_state, fresh_state) = (jobs(old.items().await), jobs(fresh.items().await));
    assert_eq!(old_state.keys().collect::<Vec<_>>(), fresh_state.keys().collect::<Vec<_>>());
    for (key, item) in &old_state {
        assert_eq!(item, &fresh_state[key], "{key:?}");
    }
    let document = &old_state[&(
        "SITE#34b6b5ee-f997-4044-86ae-0abbf611fc4d".to_owned(),
        "DOC#6588bff2-16ad-43a0-86b1-4985f5100fdd".to_owned(),
    )];
    assert_eq!(document["status"], "STORED");
}
