//! The sweeper on real protocols: the sparse `pending` index and its conditional marks on moto and
//! on dynalite (DynamoDB's validation), the messages sent again on moto's SQS. A lost message's
//! work is sent again once per sweep, never while a fetcher holds it, once however many sweeps run
//! at once, then given up and listed for the operator; what is stored leaves the index.

use std::sync::{Arc, Mutex};

use aws::{DynamoJobStore, schema};
use config::SweeperConfig;
use domain::job::JobKey;
use domain::ports::DocumentLedger;
use domain::timestamp::{Clock, Timestamp};
use integration_tests::enrichment::{SITE, World};
use integration_tests::{Backend, event, kinds};
use lambda_http::http::StatusCode;
use sweeper::{Sweeper, Swept};
use webhook_receiver::AwsReceiver;

const DOCUMENT: &str = "3f230ca4-b147-49ae-9187-8b64c7eea62c";

fn sweeper(backend: &Backend, limit: u32, at: Timestamp) -> Sweeper {
    let config = SweeperConfig::from_lookup(|name| match name {
        "JOBS_TABLE" => Some(backend.table.clone()),
        "FETCH_QUEUE_URL" => Some(backend.queue_url.clone()),
        "SWEEP_LIMIT" => Some(limit.to_string()),
        _ => None,
    })
    .unwrap();
    Sweeper::on_aws(&config, &backend.clients).with_clock(Clock::new(move || at)).with_metrics(Arc::new(|_| {}))
}

/// The signed contract received, and the messages it queued lost: nine documents and the
/// enrichment wait with no message for them.
async fn lost_messages(backend: &Backend) -> Timestamp {
    let receiver = AwsReceiver::on_aws(&backend.receiver_config(), &backend.clients);
    assert_eq!(receiver.handle(event("rest-contract-signed")).await.status(), StatusCode::OK);
    assert_eq!(backend.take_records().await.len(), 10, "nine documents and the enrichment");
    Timestamp::now()
}

async fn a_lost_message_is_sent_again_once_and_what_is_stored_leaves_the_index(backend: Backend) {
    let received = lost_messages(&backend).await;
    let early = sweeper(&backend, 5, received.plus_seconds(20 * 60)).sweep().await.unwrap();
    assert_eq!((early.pending, early.requeued), (0, 0), "not due before 30 minutes: {early:?}");

    let due = received.plus_seconds(31 * 60);
    let swept = sweeper(&backend, 5, due).sweep().await.unwrap();
    assert_eq!((swept.pending, swept.requeued, swept.items_read), (10, 10, 10), "{swept:?}");
    let sent = backend.drain_queue().await;
    assert_eq!(kinds(&sent), [("enrich".to_owned(), 1), ("fetch_document".to_owned(), 9)].into());
    let document = backend.item(&format!("SITE#{SITE}"), &format!("DOC#{DOCUMENT}")).await.unwrap();
    assert_eq!((document["sweeps"].as_i64(), document["pending"].as_str()), (Some(1), Some("WAITING")));
    assert_eq!(document["last_swept_at"], due.to_string());

    let again = sweeper(&backend, 5, due.plus_seconds(60)).sweep().await.unwrap();
    assert_eq!((again.in_flight, again.requeued), (10, 0), "just sent: in flight: {again:?}");
    assert!(backend.drain_queue().await.is_empty());
    assert!(again.oldest_pending_seconds >= 32 * 60, "{again:?}");
}

#[tokio::test]
async fn on_moto_a_lost_message_is_sent_again_once_and_what_is_stored_leaves_the_index() {
    a_lost_message_is_sent_again_once_and_what_is_stored_leaves_the_index(Backend::new().await).await;
}

#[tokio::test]
async fn on_dynalite_a_lost_message_is_sent_again_once_and_what_is_stored_leaves_the_index() {
    a_lost_message_is_sent_again_once_and_what_is_stored_leaves_the_index(Backend::strict().await).await;
}

#[tokio::test]
async fn swept_work_is_done_by_the_fetcher_and_then_no_longer_read() {
    let world = World::new(&[]).await;
    world.backend.take_records().await;
    let received = lost_messages(&world.backend).await;
    let due = received.plus_seconds(31 * 60);
    assert_eq!(sweeper(&world.backend, 5, due).sweep().await.unwrap().requeued, 10);
    let records = world.backend.take_records().await;
    assert!(world.fetch(&records).await.is_empty(), "every swept message succeeds");
    let later = sweeper(&world.backend, 5, due.plus_seconds(24 * 3600)).sweep().await.unwrap();
    assert_eq!(later, Swept::default(), "nothing pending, nothing read");
    let document = world.backend.item(&format!("SITE#{SITE}"), &format!("DOC#{DOCUMENT}")).await.unwrap();
    assert_eq!(document["status"], "STORED");
    assert!(document.get("pending").is_none() && document.get("pending_since").is_none(), "{document:?}");
    assert_eq!(document["sweeps"], 1, "what was swept stays on the item");
}

async fn a_leased_document_is_left_and_sweeps_at_once_send_each_item_once(backend: Backend) {
    let received = lost_messages(&backend).await;
    let store = DynamoJobStore::new(backend.clients.dynamodb.clone(), &backend.table);
    let job = JobKey::default_tenant(SITE.parse().unwrap());
    let claimed = store
        .claim_fetch(&job, DOCUMENT.parse().unwrap(), "lease-1", received, received.plus_seconds(4 * 3600))
        .await
        .unwrap();
    assert!(matches!(claimed, domain::ports::FetchClaim::Claimed { .. }), "{claimed:?}");

    let at = received.plus_seconds(3 * 3600);
    let (a, b, c) = (sweeper(&backend, 5, at), sweeper(&backend, 5, at), sweeper(&backend, 5, at));
    let (a, b, c) = tokio::join!(a.sweep(), b.sweep(), c.sweep());
    let runs = [a.unwrap(), b.unwrap(), c.unwrap()];
    let requeued: usize = runs.iter().map(|run| run.requeued).sum();
    assert_eq!(requeued, 9, "eight documents and the enrichment, once: {runs:?}");
    assert!(runs.iter().all(|run| run.in_flight >= 1), "the leased document is in flight for every sweep: {runs:?}");
    let sent = backend.drain_queue().await;
    assert_eq!(sent.len(), 9);
    assert!(!sent.iter().any(|message| message["document"] == DOCUMENT), "never the leased one");
}

#[tokio::test]
async fn on_moto_a_leased_document_is_left_and_sweeps_at_once_send_each_item_once() {
    a_leased_document_is_left_and_sweeps_at_once_send_each_item_once(Backend::new().await).await;
}

#[tokio::test]
async fn on_dynalite_a_leased_document_is_left_and_sweeps_at_once_send_each_item_once() {
    a_leased_document_is_left_and_sweeps_at_once_send_each_item_once(Backend::strict().await).await;
}

#[tokio::test]
async fn past_its_bound_work_is_given_up_listed_for_the_operator_and_refetch_starts_it_again() {
    let backend = Backend::strict().await;
    let received = lost_messages(&backend).await;
    let first = received.plus_seconds(31 * 60);
    assert_eq!(sweeper(&backend, 1, first).sweep().await.unwrap().requeued, 10);
    backend.drain_queue().await;
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&lines);
    let given_up = sweeper(&backend, 1, first.plus_seconds(61 * 60))
        .with_metrics(Arc::new(move |line| sink.lock().unwrap().push(line)))
        .sweep()
        .await
        .unwrap();
    assert_eq!((given_up.given_up, given_up.requeued), (10, 0), "{given_up:?}");
    assert!(backend.drain_queue().await.is_empty(), "nothing sent when given up");
    let line: serde_json::Value = serde_json::from_str(&lines.lock().unwrap()[0]).unwrap();
    assert_eq!(line["GivenUp"], 10.0);

    let after = sweeper(&backend, 1, first.plus_seconds(48 * 3600)).sweep().await.unwrap();
    assert_eq!(after.pending, 0, "given up: no longer the sweeper's");
    let store = DynamoJobStore::new(backend.clients.dynamodb.clone(), &backend.table);
    let listed = store.attention(100).await.unwrap();
    assert_eq!(listed.len(), 10, "{listed:?}");
    let document = listed.iter().find(|item| item["sk"] == format!("DOC#{DOCUMENT}")).unwrap();
    assert_eq!(document["pending"], schema::GAVE_UP);
    assert!(document["gave_up"].as_str().unwrap().contains("sent again 1 times"), "{document:?}");

    // The document failed for good meanwhile? No: refetch puts it back in the sweeper's hands.
    let job = JobKey::default_tenant(SITE.parse().unwrap());
    backend.ops().refetch(&job, DOCUMENT.parse().unwrap()).await.unwrap();
    assert_eq!(backend.drain_queue().await.len(), 1);
    let document = backend.item(&format!("SITE#{SITE}"), &format!("DOC#{DOCUMENT}")).await.unwrap();
    assert_eq!(document["pending"], schema::WAITING);
    assert!(document.get("sweeps").is_none() && document.get("gave_up").is_none(), "{document:?}");
    assert_eq!(store.attention(100).await.unwrap().len(), 9);
}

#[tokio::test]
async fn a_lost_re_sign_look_up_is_sent_again_and_answered_leaves_the_index() {
    let world = World::new(&[]).await;
    let lost = world.deliver_re_sign().await;
    assert_eq!(lost.len(), 1, "the look-up's message, lost");
    let (original, signed) = integration_tests::enrichment::RE_SIGNED;
    let lookup = format!("LOOKUP#{original}");
    let site = "157802b4-99aa-4437-b250-934df337766a";
    let item = world.backend.item(&format!("SITE#{site}"), &lookup).await.expect("the look-up asked for");
    assert_eq!(item["pending"], schema::WAITING);
    let asked_at: Timestamp = item["pending_since"].as_str().unwrap().parse().unwrap();

    // The look-up, and the milestone's other work whose messages were lost with it.
    let swept = sweeper(&world.backend, 5, asked_at.plus_seconds(31 * 60)).sweep().await.unwrap();
    let records = world.backend.take_records().await;
    assert_eq!(swept.requeued, records.len(), "{swept:?}");
    let kinds: Vec<String> = records.iter().map(integration_tests::enrichment::kind).collect();
    assert_eq!(kinds.iter().filter(|kind| *kind == "resolve_signed_quote").count(), 1, "{kinds:?}");
    assert!(world.fetch(&records).await.is_empty());
    let answered = world.backend.item(&format!("SITE#{site}"), &lookup).await.unwrap();
    assert_eq!(answered["signed_quote"], signed);
    assert!(answered.get("pending").is_none(), "answered: out of the index: {answered:?}");
}

#[tokio::test]
async fn on_dynalite_recorded_details_leave_the_index_and_a_newer_request_keeps_its_place() {
    let world = World::strict(&[]).await;
    let records = world.deliver(event("rest-contract-signed")).await;
    let quote = integration_tests::enrichment::QUOTE;
    assert_eq!(world.details(quote).await.unwrap()["pending"], schema::WAITING);
    assert!(world.fetch(&records).await.is_empty());
    let recorded = world.details(quote).await.unwrap();
    assert_eq!(recorded["status"], "ENRICHED");
    assert!(recorded.get("pending").is_none() && recorded.get("pending_since").is_none(), "{recorded:?}");

    // A newer signature asked for before an older one's details are recorded: the older record
    // lands (its version is older than nothing recorded) but the newer request keeps waiting.
    let job = JobKey::default_tenant(SITE.parse().unwrap());
    let store = DynamoJobStore::new(world.backend.clients.dynamodb.clone(), &world.backend.table);
    let version = recorded["version"].as_i64().unwrap();
    let enrichment = domain::job::Enrichment { quote: quote.parse().unwrap(), version: version + 1_000_000 };
    let delivery = domain::ports::Delivery {
        tenant: domain::tenant::TenantId::default_tenant(),
        event: domain::event::EventType::ContractStatusChange,
        body_sha256: "a-newer-body".into(),
        event_id: "newer".into(),
        now: Timestamp::now(),
        remember_until: Timestamp::now(),
    };
    assert!(domain::ports::JobStore::queue_enrichment(&store, &job, &enrichment, &delivery).await.unwrap());
    let record = domain::ports::DetailsRecord {
        quote: quote.parse().unwrap(),
        signed_quote: quote.parse().unwrap(),
        version,
        details: domain::dal::Details::default(),
        raw_keys: vec![],
    };
    DocumentLedger::record_details(&store, &job, &record, Timestamp::now()).await.unwrap();
    let waiting = world.details(quote).await.unwrap();
    assert_eq!(waiting["pending"], schema::WAITING, "the newer request still waits: {waiting:?}");
    assert_eq!(waiting["version"], version, "the older record landed");
}
