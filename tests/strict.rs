//! The receiver's and the operator's paths with DynamoDB on dynalite, which applies DynamoDB's own
//! validation (index key types, reserved words, overlapping paths, empty sets) where moto accepts
//! what DynamoDB refuses. dynalite has no transactions: the fetcher's `STORED` record (a
//! `TransactWriteItems`) is tested on moto; here the fetcher only fails documents for good.
//! `receiver_strict.rs` runs the receiver's own cases on dynalite.

use std::time::Duration;

use contract_fetcher::Fetcher;
use domain::ids::SiteId;
use everbright_sync::ops::{Ops, ReplayMode, Selection};
use integration_tests::scenario::{generate, job_state};
use integration_tests::{Backend, event, root};
use lambda_http::http::StatusCode;
use local_stack::stand_in::{Behaviour, StandIn};
use serde_json::Value;
use tokio::time::Instant;
use webhook_receiver::{AwsReceiver, Replay};

const TOKEN: &str = "strict-token";
const SITE: &str = "34b6b5ee-f997-4044-86ae-0abbf611fc4d";
const QUOTE: &str = "042e6753-6b06-457d-9efd-70f047f4d348";

fn receiver(backend: &Backend) -> AwsReceiver {
    AwsReceiver::on_aws(&backend.receiver_config(), &backend.clients)
}

fn ops(backend: &Backend) -> Ops {
    backend.ops()
}

/// The scenario's deliveries for a few sites, once each, in order, through the receiver's logic.
async fn deliver_scenario(backend: &Backend) -> (usize, usize) {
    let generated = generate(&root().join("events/payloads"), 8, 0, 21);
    let receiver = receiver(backend);
    let (mut applied, mut refused) = (0, 0);
    for (position, event) in generated.events.iter().enumerate() {
        match receiver.replay(&event.raw(position), Replay::Deduplicated).await {
            Ok(_) => applied += 1,
            Err(refusal) => {
                assert_eq!(refusal.status(), StatusCode::BAD_REQUEST, "{}: {refusal}", event.slug);
                refused += 1;
            }
        }
    }
    (applied, refused)
}

#[tokio::test]
async fn a_slice_of_the_scenario_leaves_the_same_jobs_on_dynalite_as_on_moto() {
    let (strict, lenient) = (Backend::strict().await, Backend::new().await);
    let on_dynalite = deliver_scenario(&strict).await;
    let on_moto = deliver_scenario(&lenient).await;
    assert_eq!(on_dynalite, on_moto);
    assert!(on_dynalite.0 > 50, "{on_dynalite:?}");
    assert_eq!(job_state(strict.items().await), job_state(lenient.items().await));
}

#[tokio::test]
async fn the_operators_job_and_replays_work_on_dynalite() {
    let backend = Backend::strict().await;
    assert_eq!(receiver(&backend).handle(event("rest-contract-signed")).await.status(), StatusCode::OK);
    backend.take_records().await;
    let ops = ops(&backend);

    let site: SiteId = SITE.parse().unwrap();
    let (by_quote, items) = ops.job(None, Some(QUOTE.parse().unwrap()), None).await.unwrap();
    assert_eq!(by_quote.site, site, "found through the quote index");
    assert_eq!(items.iter().filter(|i| i["sk"].as_str().unwrap().starts_with("DOC#")).count(), 10);

    let records = ops.select(&Selection::default()).await.unwrap();
    assert_eq!(records.len(), 1);
    let dry = ops.replay(&records, ReplayMode::DryRun { force: false }, |_, _| {}).await.unwrap();
    assert_eq!(dry.count("duplicate"), 1, "{dry:?}");
    let again = ops.replay(&records, ReplayMode::Deduplicated, |_, _| {}).await.unwrap();
    assert_eq!(again.count("duplicate"), 1, "{again:?}");
    let forced = ops.replay(&records, ReplayMode::Forced, |_, _| {}).await.unwrap();
    assert_eq!(forced.count("applied") + forced.count("stale"), 1, "{forced:?}");
}

#[tokio::test]
async fn documents_that_fail_are_recorded_and_refetched_on_dynalite() {
    let backend = Backend::strict().await;
    let stand_in = StandIn::start(TOKEN).await.unwrap();
    let fetcher = Fetcher::on_aws(&backend.fetcher_config(&stand_in.base_url, TOKEN), &backend.clients);
    assert_eq!(receiver(&backend).handle(event("rest-contract-signed")).await.status(), StatusCode::OK);
    let records = backend.take_records().await;
    for record in &records {
        let message: Value = serde_json::from_str(record.body.as_deref().unwrap()).unwrap();
        // The enrichment is handled too, on dynalite: its items' expressions are checked.
        if let Some(document) = message["document"].as_str() {
            stand_in.set(document.parse().unwrap(), Behaviour::NotFound);
        }
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    assert!(fetcher.handle_batch(&records, deadline).await.batch_item_failures.is_empty());
    let failed = |items: &[serde_json::Map<String, Value>]| {
        items.iter().filter(|i| i.get("status").is_some_and(|s| s == "FAILED")).count()
    };
    assert_eq!(failed(&backend.items().await), 9);

    // A message delivered again finds the document failed for good (read back: dynalite does not
    // return the item with a failed condition) and is acknowledged.
    assert!(fetcher.handle_batch(&records[..1], deadline).await.batch_item_failures.is_empty());

    let queued =
        ops(&backend).refetch_failed(&domain::job::JobKey::default_tenant(SITE.parse().unwrap())).await.unwrap();
    assert_eq!(queued.len(), 9);
    assert_eq!(failed(&backend.items().await), 0, "all queued again");
    assert_eq!(backend.take_records().await.len(), 9);
}

#[tokio::test]
async fn a_re_sign_look_up_is_recorded_on_dynalite() {
    let backend = Backend::strict().await;
    let stand_in = StandIn::start(TOKEN).await.unwrap();
    let signed = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee";
    stand_in.set_signed_quote("8ba871ae-3282-420c-af3f-ddc41ac50273".parse().unwrap(), signed.parse().unwrap());
    let fetcher = Fetcher::on_aws(&backend.fetcher_config(&stand_in.base_url, TOKEN), &backend.clients);
    let response = receiver(&backend).handle(integration_tests::re_signed_milestone()).await;
    assert_eq!(response.status(), StatusCode::OK);
    let lookups: Vec<_> = backend
        .take_records()
        .await
        .into_iter()
        .filter(|r| r.body.as_deref().unwrap().contains("resolve_signed_quote"))
        .collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    assert!(fetcher.handle_batch(&lookups, deadline).await.batch_item_failures.is_empty());
    let job = backend.item("SITE#157802b4-99aa-4437-b250-934df337766a", "JOB").await.unwrap();
    assert_eq!(job["current_quote"]["quote"], signed);
}
