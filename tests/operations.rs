//! The operator's commands on moto: `job`, `replay` (after an outage, over a whole day, dry
//! run), `refetch` and `dlq` / `dlq redrive`, through the same code the subcommands run.

use std::time::Duration;

use config::ReceiverConfig;
use contract_fetcher::Fetcher;
use domain::ids::{DocumentId, SiteId};
use everbright_sync::job_view;
use everbright_sync::ops::{Ops, ReplayMode, Selection};
use integration_tests::{Backend, REST_EVENTS, event};
use lambda_http::http::StatusCode;
use local_stack::stand_in::{Behaviour, StandIn};
use serde_json::Value;
use tokio::time::Instant;
use webhook_receiver::AwsReceiver;

const TOKEN: &str = "operations-token";
const SITE: &str = "34b6b5ee-f997-4044-86ae-0abbf611fc4d";
const QUOTE: &str = "042e6753-6b06-457d-9efd-70f047f4d348";
const INSTALLATION_AGREEMENT: &str = "6588bff2-16ad-43a0-86b1-4985f5100fdd";

fn ops(backend: &Backend) -> Ops {
    backend.ops()
}

fn receiver(backend: &Backend) -> AwsReceiver {
    AwsReceiver::on_aws(&backend.receiver_config(), &backend.clients)
}

fn site() -> SiteId {
    SITE.parse().unwrap()
}

fn job() -> domain::job::JobKey {
    domain::job::JobKey::default_tenant(site())
}

/// The signed contract arrives while the table cannot be written: 503, archived, not applied.
async fn contract_during_an_outage(backend: &Backend) -> String {
    let mut config: ReceiverConfig = backend.receiver_config();
    config.jobs_table = format!("{}-missing", backend.table);
    let response = AwsReceiver::on_aws(&config, &backend.clients).handle(event("rest-contract-signed")).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(backend.items().await.is_empty(), "nothing applied");
    let keys = backend.keys("raw/").await;
    assert_eq!(keys.len(), 1, "archived");
    keys[0].clone()
}

#[tokio::test]
async fn a_request_archived_but_not_applied_is_replayed_and_applied_once() {
    let backend = Backend::new().await;
    let key = contract_during_an_outage(&backend).await;
    let ops = ops(&backend);

    let records = ops.select(&Selection { key: Some(key.clone()), ..Selection::default() }).await.unwrap();
    let report = ops.replay(&records, ReplayMode::Deduplicated, |_, _| {}).await.unwrap();
    assert_eq!(report.count("applied"), 1, "{report:?}");
    let job = backend.item(&format!("SITE#{SITE}"), "JOB").await.expect("the job now exists");
    assert_eq!(job["contract"]["status"], "SIGN");
    let queued: Vec<_> = backend.take_records().await.iter().map(integration_tests::kind_of).collect();
    assert_eq!(queued.iter().filter(|kind| *kind == "fetch_document").count(), 9, "its documents queued");
    assert_eq!(queued.iter().filter(|kind| *kind == "enrich").count(), 1, "and its signature's enrichment");

    let again = ops.replay(&records, ReplayMode::Deduplicated, |_, _| {}).await.unwrap();
    assert_eq!(again.count("duplicate"), 1, "{again:?}");
    assert!(backend.take_records().await.is_empty(), "nothing queued twice");
}

#[tokio::test]
async fn a_replay_of_a_whole_day_applies_nothing_twice() {
    let backend = Backend::new().await;
    let receiver = receiver(&backend);
    for name in REST_EVENTS {
        receiver.handle(event(name)).await;
    }
    backend.take_records().await;
    let before = backend.items().await;

    let ops = ops(&backend);
    let everything = ops.select(&Selection::default()).await.unwrap();
    assert_eq!(everything.len(), REST_EVENTS.len(), "every request archived");
    let day = everything[0].1.received_at.to_datetime().date();
    let since = format!("{day}T00:00:00Z").parse().unwrap();
    let until = format!("{day}T23:59:59.999999Z").parse().unwrap();
    let records =
        ops.select(&Selection { since: Some(since), until: Some(until), ..Selection::default() }).await.unwrap();
    assert!(!records.is_empty());
    assert!(records.windows(2).all(|pair| pair[0].1.received_at <= pair[1].1.received_at), "oldest first");
    let on_that_day = everything.iter().filter(|(_, raw)| raw.received_at.to_datetime().date() == day).count();
    assert_eq!(records.len(), on_that_day);

    let mut seen = Vec::new();
    let report = ops.replay(&records, ReplayMode::Deduplicated, |done, total| seen.push((done, total))).await.unwrap();
    assert_eq!(seen.last(), Some(&(records.len(), records.len())), "progress to the end");
    assert_eq!(report.count("applied") + report.count("stale"), 0, "{report:?}");
    assert_eq!(report.count("duplicate") + report.count("refused"), records.len(), "{report:?}");
    assert_eq!(backend.items().await, before, "the table is unchanged");
    assert!(backend.take_records().await.is_empty(), "nothing queued");
}

#[tokio::test]
async fn a_dry_run_changes_nothing_and_says_what_would_change() {
    let backend = Backend::new().await;
    let key = contract_during_an_outage(&backend).await;
    let ops = ops(&backend);
    let records = ops.select(&Selection { site: Some(site()), ..Selection::default() }).await.unwrap();
    assert_eq!(records.len(), 1, "found by its site");
    assert_eq!(records[0].0, key);

    let report = ops.replay(&records, ReplayMode::DryRun { force: false }, |_, _| {}).await.unwrap();
    assert_eq!(report.count("would apply"), 1, "{report:?}");
    let detail = &report.lines[0].1;
    assert!(detail.contains(SITE) && detail.contains("JOB") && detail.contains(INSTALLATION_AGREEMENT), "{detail}");
    assert!(backend.items().await.is_empty(), "nothing written");
    assert!(backend.take_records().await.is_empty(), "nothing queued");

    ops.replay(&records, ReplayMode::Deduplicated, |_, _| {}).await.unwrap();
    backend.take_records().await;
    let before = backend.items().await;
    let report = ops.replay(&records, ReplayMode::DryRun { force: false }, |_, _| {}).await.unwrap();
    assert_eq!(report.count("duplicate"), 1, "applied now: {report:?}");
    let forced = ops.replay(&records, ReplayMode::DryRun { force: true }, |_, _| {}).await.unwrap();
    assert_eq!(forced.count("would apply"), 1, "{forced:?}");
    assert_eq!(backend.items().await, before);
}

/// A backend, an EverBright stand-in and a fetcher between them.
async fn with_fetcher() -> (Backend, StandIn, Fetcher) {
    let backend = Backend::new().await;
    let stand_in = StandIn::start(TOKEN).await.unwrap();
    let fetcher = Fetcher::on_aws(&backend.fetcher_config(&stand_in.base_url, TOKEN), &backend.clients);
    (backend, stand_in, fetcher)
}

/// Delivers the contract and runs the fetcher over its messages; answers what it retried.
async fn deliver_and_fetch(backend: &Backend, fetcher: &Fetcher) -> usize {
    assert_eq!(receiver(backend).handle(event("rest-contract-signed")).await.status(), StatusCode::OK);
    fetch_all(backend, fetcher).await
}

async fn fetch_all(backend: &Backend, fetcher: &Fetcher) -> usize {
    let records = backend.take_records().await;
    let mut retried = 0;
    for batch in records.chunks(10) {
        retried +=
            fetcher.handle_batch(batch, Instant::now() + Duration::from_secs(60)).await.batch_item_failures.len();
    }
    retried
}

async fn status_of(backend: &Backend, document: &str) -> Value {
    backend.item(&format!("SITE#{SITE}"), &format!("DOC#{document}")).await.expect("document item")["status"].clone()
}

#[tokio::test]
async fn refetch_of_a_failed_document_leads_to_stored() {
    let (backend, stand_in, fetcher) = with_fetcher().await;
    let document: DocumentId = INSTALLATION_AGREEMENT.parse().unwrap();
    stand_in.set(document, Behaviour::NotFound);
    assert_eq!(deliver_and_fetch(&backend, &fetcher).await, 0);
    assert_eq!(status_of(&backend, INSTALLATION_AGREEMENT).await, "FAILED");

    let ops = ops(&backend);
    let stored = backend.keys("contracts/").await.len();
    let refused = ops.refetch(&job(), backend_stored_document(&backend).await).await.unwrap_err();
    assert!(refused.to_string().contains("STORED"), "{refused}");

    stand_in.set(document, Behaviour::Pdf { size: 20_000 });
    ops.refetch(&job(), document).await.unwrap();
    assert_eq!(status_of(&backend, INSTALLATION_AGREEMENT).await, "QUEUED");
    assert_eq!(fetch_all(&backend, &fetcher).await, 0);
    assert_eq!(status_of(&backend, INSTALLATION_AGREEMENT).await, "STORED");
    assert_eq!(backend.keys("contracts/").await.len(), stored + 1, "one more object, no other");

    let none = ops.refetch_failed(&job()).await.unwrap();
    assert!(none.is_empty(), "no FAILED document left");
}

#[tokio::test]
async fn refetch_of_every_failed_document_of_a_site_leads_to_stored() {
    let (backend, stand_in, fetcher) = with_fetcher().await;
    let document: DocumentId = INSTALLATION_AGREEMENT.parse().unwrap();
    stand_in.set(document, Behaviour::NotFound);
    deliver_and_fetch(&backend, &fetcher).await;
    stand_in.set(document, Behaviour::Pdf { size: 1_000 });

    let queued = ops(&backend).refetch_failed(&job()).await.unwrap();
    assert_eq!(queued, [document]);
    fetch_all(&backend, &fetcher).await;
    assert_eq!(status_of(&backend, INSTALLATION_AGREEMENT).await, "STORED");
}

/// Any document of the contract that is stored.
async fn backend_stored_document(backend: &Backend) -> DocumentId {
    let items = backend.items().await;
    let stored = items.iter().find(|item| item.get("status").and_then(Value::as_str) == Some("STORED")).unwrap();
    stored["document"].as_str().unwrap().parse().unwrap()
}

#[tokio::test]
async fn dlq_lists_its_messages_with_their_documents_and_redrive_leads_to_stored() {
    let (backend, _stand_in, fetcher) = with_fetcher().await;
    assert_eq!(receiver(&backend).handle(event("rest-contract-signed")).await.status(), StatusCode::OK);
    // Two messages that ran out of receives: SQS's redrive policy would have moved them.
    let records = backend.take_records().await;
    for record in &records[..2] {
        backend
            .clients
            .sqs()
            .send_message()
            .queue_url(&backend.dlq_url)
            .message_body(record.body.clone().unwrap())
            .send()
            .await
            .unwrap();
    }
    let documents: Vec<String> = records[..2]
        .iter()
        .map(|r| {
            serde_json::from_str::<Value>(r.body.as_deref().unwrap()).unwrap()["document"].as_str().unwrap().to_owned()
        })
        .collect();

    let ops = ops(&backend);
    let letters = ops.dead_letters().await.unwrap();
    assert_eq!(letters.len(), 2);
    assert!(letters.iter().all(|l| l.status.as_deref() == Some("QUEUED")), "{letters:?}");
    assert_eq!(ops.dead_letters().await.unwrap().len(), 2, "listing leaves them in the DLQ, visible");

    assert_eq!(ops.redrive().await.unwrap(), 2);
    assert!(ops.dead_letters().await.unwrap().is_empty(), "the DLQ is empty");
    assert_eq!(fetch_all(&backend, &fetcher).await, 0);
    for document in &documents {
        assert_eq!(status_of(&backend, document).await, "STORED");
    }
}

#[tokio::test]
async fn job_prints_what_the_store_holds_found_by_site_or_by_quote() {
    let (backend, _stand_in, fetcher) = with_fetcher().await;
    deliver_and_fetch(&backend, &fetcher).await;
    let ops = ops(&backend);

    let (found, items) = ops.job(Some(site()), None, None).await.unwrap();
    assert_eq!(found, job());
    let (by_quote, _) = ops.job(None, Some(QUOTE.parse().unwrap()), None).await.unwrap();
    assert_eq!(by_quote, job());

    let all = backend.items().await;
    let of_job: Vec<_> = all.iter().filter(|i| i["pk"] == format!("SITE#{SITE}")).cloned().collect();
    let mut sorted = items.clone();
    sorted.sort_by_key(|i| i["sk"].to_string());
    let mut expected = of_job.clone();
    expected.sort_by_key(|i| i["sk"].to_string());
    assert_eq!(sorted, expected, "every item of the job, nothing else");

    let text = job_view::render(SITE, &backend.bucket, &items, true);
    assert!(text.contains("contract        SIGN"), "{text}");
    for doc in of_job.iter().filter(|i| i["sk"].as_str().unwrap().starts_with("DOC#")) {
        assert!(text.contains(doc["document"].as_str().unwrap()), "{text}");
        if doc["status"] == "STORED" {
            assert!(text.contains(doc["s3_key"].as_str().unwrap()), "{text}");
        }
    }
    let json = job_view::to_json(SITE, &items);
    assert_eq!(json["documents"].as_array().unwrap().len(), 10);
    assert_eq!(json["job"]["contract"]["status"], "SIGN");

    let unknown: SiteId = "00000000-0000-4000-8000-000000000000".parse().unwrap();
    let missing = ops.job(Some(unknown), None, None).await.unwrap_err();
    assert!(missing.to_string().contains("no job for site"), "{missing}");
}

#[tokio::test]
async fn drift_names_the_unknown_fields_of_archived_bodies_and_nothing_for_the_samples() {
    let backend = Backend::new().await;
    let receiver = receiver(&backend);
    for name in REST_EVENTS {
        receiver.handle(event(name)).await;
    }
    let ops = ops(&backend);
    let samples = ops.drift(&Selection::default()).await.unwrap();
    let report = samples.render();
    for route in ["change-order-status-change", "milestone-status-change", "site-archived", "stage-transition"] {
        assert!(report.contains(&format!("{route}: 1 bodies\n  as the known shape")), "{route}: {report}");
    }
    let contracts = &samples.routes["contract-status-change"];
    assert!(contracts.unknown.is_empty(), "{report}");
    assert_eq!(contracts.not_objects, 1, "the malformed sample: {report}");
    assert_eq!(contracts.missing.keys().collect::<Vec<_>>(), ["site"], "the sample without its site: {report}");

    // The first Proposal Action body: every field of it is news.
    let mut request = integration_tests::event_json("rest-site-archived");
    request["path"] = Value::from("/webhooks/proposal-action");
    request["requestContext"]["path"] = Value::from("/prod/webhooks/proposal-action");
    request["requestContext"]["requestId"] = Value::from("proposal-action-1");
    let body = serde_json::json!({"site": SITE, "proposal": {"uuid": "p-1", "action": "ACCEPTED"}, "actor": "x"});
    request["body"] = Value::from(body.to_string());
    let response = receiver.handle(lambda_http::request::from_str(&request.to_string()).unwrap()).await;
    assert_eq!(response.status(), StatusCode::OK);
    let selection = Selection { prefix: Some("raw/proposal-action/".into()), ..Selection::default() };
    let report = ops.drift(&selection).await.unwrap().render();
    assert_eq!(report, "proposal-action: 1 bodies\n  unknown fields: actor (1), proposal (1)\n");
}
