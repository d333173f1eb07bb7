//! The contract fetcher through its real handler, on moto and a local stand-in for EverBright's
//! API, with the SQS messages the receiver produced from the sample events.

use std::time::Duration;

use aws_lambda_events::event::sqs::SqsMessage;
use contract_fetcher::Fetcher;
use domain::ids::DocumentId;
use integration_tests::{Backend, event, kind_of};
use lambda_http::http::StatusCode;
use local_stack::stand_in::{Behaviour, Host, StandIn, pdf_sha256};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::time::Instant;
use webhook_receiver::AwsReceiver;

const TOKEN: &str = "test-token-0123";
/// A re-read interval no test outlasts.
const AN_HOUR: Duration = Duration::from_secs(3600);
const SITE: &str = "SITE#34b6b5ee-f997-4044-86ae-0abbf611fc4d";
const MIB: usize = 1024 * 1024;

struct World {
    backend: Backend,
    stand_in: StandIn,
    fetcher: Fetcher,
}

impl World {
    async fn new() -> Self {
        let backend = Backend::new().await;
        let stand_in = StandIn::start(TOKEN).await.expect("stand-in");
        let fetcher = Fetcher::on_aws(&backend.fetcher_config(&stand_in.base_url, TOKEN), &backend.clients);
        Self { backend, stand_in, fetcher }
    }

    /// Delivers a sample event to the receiver and takes the messages it queued.
    async fn deliver(&self, name: &str) -> Vec<SqsMessage> {
        self.deliver_request(event(name)).await
    }

    /// The messages are the documents' and look-ups'; a SIGN's enrichment is taken off the queue
    /// and left out (its tests are in `tests/enrichment.rs`).
    async fn deliver_request(&self, request: lambda_http::Request) -> Vec<SqsMessage> {
        let receiver = AwsReceiver::on_aws(&self.backend.receiver_config(), &self.backend.clients);
        assert_eq!(receiver.handle(request).await.status(), StatusCode::OK);
        self.backend.take_records().await.into_iter().filter(|record| kind_of(record) != "enrich").collect()
    }

    /// Runs the fetcher on `records`; answers the ids it asked to retry.
    async fn fetch(&self, records: &[SqsMessage]) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(60);
        let response = self.fetcher.handle_batch(records, deadline).await;
        response.batch_item_failures.into_iter().map(|f| f.item_identifier).collect()
    }

    async fn document(&self, document: &str) -> serde_json::Map<String, Value> {
        self.backend.item(SITE, &format!("DOC#{document}")).await.expect("document item")
    }

    fn downloads_of(&self, document: &str) -> usize {
        let path = format!("/api/v1/document/{document}/download/");
        self.stand_in.seen().iter().filter(|s| s.host == Host::Api && s.path == path).count()
    }
}

fn document_of(record: &SqsMessage) -> String {
    let body: Value = serde_json::from_str(record.body.as_deref().unwrap()).unwrap();
    body["document"].as_str().unwrap().to_owned()
}

/// The contract's messages, with the one for `document` first.
async fn contract_message(world: &World, document: &str) -> SqsMessage {
    let records = world.deliver("rest-contract-signed").await;
    records.into_iter().find(|r| document_of(r) == document).expect("a message for the document")
}

const INSTALLATION_AGREEMENT: &str = "6588bff2-16ad-43a0-86b1-4985f5100fdd";

#[tokio::test]
async fn every_uploaded_document_of_the_signed_contract_ends_stored_with_the_bytes_served() {
    let world = World::new().await;
    let records = world.deliver("rest-contract-signed").await;
    assert_eq!(records.len(), 9);
    assert!(world.fetch(&records).await.is_empty(), "nothing to retry");

    for record in &records {
        let document = document_of(record);
        let item = world.document(&document).await;
        assert_eq!(item["status"], "STORED", "{item:?}");
        let key = item["s3_key"].as_str().unwrap();
        assert!(
            key.starts_with("contracts/34b6b5ee-f997-4044-86ae-0abbf611fc4d/042e6753-6b06-457d-9efd-70f047f4d348/")
        );
        let stored = world.backend.object(key).await;
        let served = world.stand_in.served_bytes(document.parse().unwrap());
        assert_eq!(stored, served);
        let sha = hex::encode(Sha256::digest(&served));
        assert_eq!(item["sha256"], sha);
        assert_eq!(item["size"], served.len());
        let metadata = world.backend.metadata(key).await;
        assert_eq!(metadata["sha256"], sha);
        assert_eq!(metadata["document"], document);
        assert_eq!(metadata["site"], "34b6b5ee-f997-4044-86ae-0abbf611fc4d");
    }
    let job = world.backend.item(SITE, "JOB").await.unwrap();
    assert_eq!(job["documents_stored"], 9);
    let key = world.document(INSTALLATION_AGREEMENT).await["s3_key"].clone();
    assert!(key.as_str().unwrap().ends_with("/Installation Agreement - Signed.pdf"));
}

#[tokio::test]
async fn a_redirect_to_another_host_works_and_that_host_never_sees_the_token() {
    let world = World::new().await;
    let document: DocumentId = INSTALLATION_AGREEMENT.parse().unwrap();
    world.stand_in.set(document, Behaviour::Redirect { size: 300_000 });
    let record = contract_message(&world, INSTALLATION_AGREEMENT).await;
    assert!(world.fetch(&[record]).await.is_empty());

    let item = world.document(INSTALLATION_AGREEMENT).await;
    assert_eq!(item["status"], "STORED");
    assert_eq!(item["sha256"], pdf_sha256(document, 300_000));
    let seen = world.stand_in.seen();
    let storage: Vec<_> = seen.iter().filter(|s| s.host == Host::Storage).collect();
    assert_eq!(storage.len(), 1);
    assert!(storage.iter().all(|s| s.authorization.is_none()), "the token went to the storage host");
    let api = seen.iter().find(|s| s.host == Host::Api).unwrap();
    assert_eq!(api.authorization.as_deref(), Some(format!("Token {TOKEN}").as_str()));
}

#[tokio::test]
async fn two_server_errors_then_success_is_stored_once() {
    let world = World::new().await;
    let document: DocumentId = INSTALLATION_AGREEMENT.parse().unwrap();
    world.stand_in.set(document, Behaviour::FailThen { failures: 2, size: 50_000 });
    let record = contract_message(&world, INSTALLATION_AGREEMENT).await;
    assert!(world.fetch(&[record]).await.is_empty());
    assert_eq!(world.downloads_of(INSTALLATION_AGREEMENT), 3);
    let item = world.document(INSTALLATION_AGREEMENT).await;
    assert_eq!(item["status"], "STORED");
    assert_eq!(item["attempts"], 1, "retried within one claim");
    let keys = world.backend.keys("contracts/").await;
    assert_eq!(keys.len(), 1);
}

#[tokio::test]
async fn throttling_waits_for_retry_after() {
    let world = World::new().await;
    let document: DocumentId = INSTALLATION_AGREEMENT.parse().unwrap();
    world.stand_in.set(document, Behaviour::Throttle { seconds: 1, size: 10_000 });
    let record = contract_message(&world, INSTALLATION_AGREEMENT).await;
    let started = std::time::Instant::now();
    assert!(world.fetch(&[record]).await.is_empty());
    assert!(started.elapsed() >= Duration::from_secs(1), "did not wait: {:?}", started.elapsed());
    assert_eq!(world.downloads_of(INSTALLATION_AGREEMENT), 2);
    assert_eq!(world.document(INSTALLATION_AGREEMENT).await["status"], "STORED");
}

#[tokio::test]
async fn not_found_and_not_a_pdf_end_failed_with_the_reason_and_are_not_retried() {
    let world = World::new().await;
    let missing: DocumentId = INSTALLATION_AGREEMENT.parse().unwrap();
    let html: DocumentId = "0ab44b6d-22c0-444e-bd47-97ddd54bcd3f".parse().unwrap();
    world.stand_in.set(missing, Behaviour::NotFound);
    world.stand_in.set(html, Behaviour::NotPdf);
    let records: Vec<_> = world
        .deliver("rest-contract-signed")
        .await
        .into_iter()
        .filter(|r| [missing.to_string(), html.to_string()].contains(&document_of(r)))
        .collect();
    assert_eq!(records.len(), 2);
    assert!(world.fetch(&records).await.is_empty(), "permanent failures are acknowledged");

    let item = world.document(&missing.to_string()).await;
    assert_eq!(item["status"], "FAILED");
    assert!(item["failure"].as_str().unwrap().contains("404"), "{item:?}");
    let item = world.document(&html.to_string()).await;
    assert_eq!(item["status"], "FAILED");
    let reason = item["failure"].as_str().unwrap();
    assert!(reason.contains("not a PDF") && reason.contains("text/html"), "{reason}");
    assert_eq!(world.downloads_of(&missing.to_string()), 1, "a 404 is not retried");
    assert!(world.backend.keys("contracts/").await.is_empty());

    let again = world.fetch(&records).await;
    assert!(again.is_empty());
    assert_eq!(world.downloads_of(&missing.to_string()), 1, "a failed document is not downloaded again");
}

#[tokio::test]
async fn a_body_cut_short_is_retried_and_leaves_no_object() {
    let world = World::new().await;
    let document: DocumentId = INSTALLATION_AGREEMENT.parse().unwrap();
    world.stand_in.set(document, Behaviour::CutShort { size: 100_000, sent: 60_000 });
    let record = contract_message(&world, INSTALLATION_AGREEMENT).await;
    let retry = world.fetch(std::slice::from_ref(&record)).await;
    assert_eq!(retry, [record.message_id.clone().unwrap()]);
    let item = world.document(INSTALLATION_AGREEMENT).await;
    assert_eq!(item["status"], "QUEUED");
    assert!(item["last_error"].as_str().is_some(), "{item:?}");
    assert!(world.backend.keys("contracts/").await.is_empty(), "no object");

    world.stand_in.set(document, Behaviour::Pdf { size: 100_000 });
    assert!(world.fetch(&[record]).await.is_empty());
    assert_eq!(world.document(INSTALLATION_AGREEMENT).await["sha256"], pdf_sha256(document, 100_000));
}

#[tokio::test]
async fn a_large_cut_short_body_aborts_its_multipart_upload() {
    let world = World::new().await;
    let document: DocumentId = INSTALLATION_AGREEMENT.parse().unwrap();
    world.stand_in.set(document, Behaviour::CutShort { size: 20 * MIB, sent: 17 * MIB });
    let record = contract_message(&world, INSTALLATION_AGREEMENT).await;
    assert_eq!(world.fetch(&[record]).await.len(), 1);
    assert!(world.backend.keys("contracts/").await.is_empty());
    let uploads = world.backend.clients.s3.list_multipart_uploads().bucket(&world.backend.bucket).send().await.unwrap();
    assert!(uploads.uploads().is_empty(), "the multipart upload was aborted");
}

#[tokio::test]
async fn a_64_mib_document_goes_the_multipart_path() {
    let world = World::new().await;
    let document: DocumentId = INSTALLATION_AGREEMENT.parse().unwrap();
    world.stand_in.set(document, Behaviour::Pdf { size: 64 * MIB });
    let record = contract_message(&world, INSTALLATION_AGREEMENT).await;
    assert!(world.fetch(&[record]).await.is_empty());
    let item = world.document(INSTALLATION_AGREEMENT).await;
    assert_eq!(item["status"], "STORED");
    assert_eq!(item["parts"], 8);
    assert_eq!(item["size"], 64 * MIB);
    let sha = pdf_sha256(document, 64 * MIB);
    assert_eq!(item["sha256"], sha);
    let key = item["s3_key"].as_str().unwrap();
    assert_eq!(world.backend.metadata(key).await["sha256"], sha);
    assert_eq!(hex::encode(Sha256::digest(world.backend.object(key).await)), sha);
}

#[tokio::test]
async fn the_same_message_twice_downloads_and_stores_once() {
    let world = World::new().await;
    let record = contract_message(&world, INSTALLATION_AGREEMENT).await;
    assert!(world.fetch(std::slice::from_ref(&record)).await.is_empty());
    assert!(world.fetch(std::slice::from_ref(&record)).await.is_empty(), "a stored document is acknowledged");
    assert_eq!(world.downloads_of(INSTALLATION_AGREEMENT), 1);
    assert_eq!(world.backend.item(SITE, "JOB").await.unwrap()["documents_stored"], 1);
}

/// Two copies of one message, the second arriving while the first is downloading. (Both claims
/// at the very same instant is DynamoDB's conditional write to arbitrate; moto's server does not
/// make concurrent conditional updates atomic, about 1 in 300 with two threads, so the test makes
/// the overlap certain instead: the stand-in holds the download until the copy has been handled.)
#[tokio::test]
async fn two_messages_for_one_document_at_once_download_and_store_once() {
    let world = World::new().await;
    let document: DocumentId = INSTALLATION_AGREEMENT.parse().unwrap();
    world.stand_in.set(document, Behaviour::Held { size: 2 * MIB });
    let record = contract_message(&world, INSTALLATION_AGREEMENT).await;
    let mut twin = record.clone();
    twin.message_id = Some("twin".into());

    let first = world.fetch(std::slice::from_ref(&record));
    let second = async {
        while world.downloads_of(INSTALLATION_AGREEMENT) == 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let second = world.fetch(std::slice::from_ref(&twin)).await;
        world.stand_in.release();
        second
    };
    let (first, second) = tokio::join!(first, second);
    assert!(first.is_empty(), "the first copy stores it");
    assert_eq!(second, ["twin"], "the copy finds it being fetched and is retried later");
    assert!(world.fetch(&[twin]).await.is_empty(), "the retried copy finds it stored");

    let item = world.document(INSTALLATION_AGREEMENT).await;
    assert_eq!(item["attempts"], 1, "one claim: {item:?}");
    assert_eq!(world.downloads_of(INSTALLATION_AGREEMENT), 1);
    assert_eq!(world.backend.item(SITE, "JOB").await.unwrap()["documents_stored"], 1);
    assert_eq!(world.backend.keys("contracts/").await.len(), 1);
}

const MILESTONE_SITE: &str = "SITE#157802b4-99aa-4437-b250-934df337766a";
const MILESTONE_QUOTE: &str = "8ba871ae-3282-420c-af3f-ddc41ac50273";

#[tokio::test]
async fn a_re_signed_milestone_records_the_quote_it_was_signed_as_and_makes_it_current() {
    let world = World::new().await;
    let signed = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee";
    world.stand_in.set_signed_quote(MILESTONE_QUOTE.parse().unwrap(), signed.parse().unwrap());
    let records = world.deliver_request(integration_tests::re_signed_milestone()).await;
    assert_eq!(records.len(), 2);
    assert!(world.fetch(&records).await.is_empty());
    let job = world.backend.item(MILESTONE_SITE, "JOB").await.unwrap();
    assert_eq!(job["signed_quote"]["signed"], signed);
    assert_eq!(job["signed_quote"]["original"], MILESTONE_QUOTE);
    assert_eq!(job["current_quote"]["quote"], signed);
    assert_eq!(job["current_quote"]["source"], "re-sign");
    assert!(job["quotes"].as_array().unwrap().contains(&json!(signed)));
    let indexed = world.backend.item(MILESTONE_SITE, &format!("QUOTE#{signed}")).await;
    assert_eq!(indexed.expect("the signed quote is indexed")["quote"], signed);
    assert_eq!(job["documents_stored"], 1, "the milestone's inspection report is stored");
}

#[tokio::test]
async fn a_milestone_without_a_re_sign_looks_nothing_up() {
    let world = World::new().await;
    let records = world.deliver("rest-milestone-approved").await;
    let kinds: Vec<_> = records
        .iter()
        .map(|r| serde_json::from_str::<serde_json::Value>(r.body.as_deref().unwrap()).unwrap()["kind"].clone())
        .collect();
    assert_eq!(kinds, [json!("fetch_document")]);
}

/// A look-up message for the milestone's quote, from an event of `version`.
fn look_up(version: i64) -> SqsMessage {
    let message = domain::message::WorkMessage::ResolveSignedQuote {
        tenant: domain::tenant::TenantId::default(),
        site: MILESTONE_SITE.trim_start_matches("SITE#").parse().unwrap(),
        quote: MILESTONE_QUOTE.parse().unwrap(),
        milestone: None,
        version,
    };
    let mut record = SqsMessage::default();
    record.message_id = Some(format!("look-up-{version}"));
    record.body = Some(message.to_json());
    record
}

#[tokio::test]
async fn a_re_sign_look_up_answered_out_of_order_leaves_the_newer_signed_quote() {
    let world = World::new().await;
    let (older, newer) = ("11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222");
    world.stand_in.set_signed_quote(MILESTONE_QUOTE.parse().unwrap(), newer.parse().unwrap());
    assert!(world.fetch(&[look_up(2_000)]).await.is_empty());
    // The look-up asked for an older event is answered last, with what was signed then.
    world.stand_in.set_signed_quote(MILESTONE_QUOTE.parse().unwrap(), older.parse().unwrap());
    assert!(world.fetch(&[look_up(1_000)]).await.is_empty());

    let job = world.backend.item(MILESTONE_SITE, "JOB").await.unwrap();
    assert_eq!(job["signed_quote"]["signed"], newer);
    assert_eq!(job["signed_quote"]["version"], 2_000);
    assert_eq!(job["current_quote"]["quote"], newer);
}

#[tokio::test]
async fn a_data_api_error_fails_the_look_up_with_its_message_recorded_and_retried_towards_the_dlq() {
    let world = World::new().await;
    let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let kept = lines.clone();
    let fetcher =
        Fetcher::on_aws(&world.backend.fetcher_config(&world.stand_in.base_url, TOKEN), &world.backend.clients)
            .with_metrics(std::sync::Arc::new(move |line| kept.lock().unwrap().push(line)));
    let answer =
        json!({"data": [], "messages": {"warning": [], "error": ["Quote not found"], "info": [], "critical": []}});
    world.stand_in.set_data_answer(MILESTONE_QUOTE.parse().unwrap(), answer.to_string());
    let response = fetcher.handle_batch(&[look_up(1_000)], Instant::now() + Duration::from_secs(60)).await;
    assert_eq!(response.batch_item_failures.len(), 1, "retried, then the DLQ, where it can be redriven");
    let line = integration_tests::emf::parse(&lines.lock().unwrap()[0]).unwrap();
    assert_eq!((line.metric("DetailsFailed"), line.metric("PermanentFailures")), (1.0, 0.0));
    let job = world.backend.item(MILESTONE_SITE, "JOB").await.expect("the look-up's error is on the job");
    assert!(job["lookup_error"]["reason"].as_str().unwrap().contains("Quote not found"), "{job:?}");
    assert_eq!(job["lookup_error"]["quote"], MILESTONE_QUOTE);
    assert!(job.get("signed_quote").is_none(), "nothing recorded as the answer");

    let huge = format!(r#"{{"data": [{{"s_quote_id": "{}"}}]}}"#, "x".repeat(2 * 1024 * 1024));
    world.stand_in.set_data_answer(MILESTONE_QUOTE.parse().unwrap(), huge);
    assert_eq!(world.fetch(&[look_up(1_000)]).await.len(), 1, "an answer over the bound is retried too");
    let job = world.backend.item(MILESTONE_SITE, "JOB").await.unwrap();
    assert!(job["lookup_error"]["reason"].as_str().unwrap().contains("larger than"), "{job:?}");
}

#[tokio::test]
async fn a_malformed_message_is_retried_towards_the_dlq_and_writes_nothing() {
    let world = World::new().await;
    let mut record = SqsMessage::default();
    record.message_id = Some("bad".into());
    record.body = Some("{\"kind\":\"fetch_document\",\"document\":\"../etc\"}".into());
    assert_eq!(world.fetch(&[record]).await, ["bad"], "left for the DLQ (tests/isolation.rs reads it there)");
    assert!(world.backend.items().await.is_empty());
    assert!(world.stand_in.seen().is_empty(), "nothing asked of EverBright");
}

#[tokio::test]
async fn the_sqs_fixture_in_events_is_a_batch_the_fetcher_handles() {
    let world = World::new().await;
    world.deliver("rest-contract-signed").await;
    let fixture = std::fs::read_to_string(integration_tests::root().join("events/sqs-fetch-document.json")).unwrap();
    let event: aws_lambda_events::event::sqs::SqsEvent = serde_json::from_str(&fixture).unwrap();
    assert!(world.fetch(&event.records).await.is_empty());
    assert_eq!(world.document(INSTALLATION_AGREEMENT).await["status"], "STORED");
}

#[tokio::test]
async fn a_huge_retry_after_is_capped_by_the_deadline_and_never_panics() {
    // 10^19 seconds: Instant + that overflows; the wait is compared with the time left instead.
    let world = World::new().await;
    let record = &contract_message(&world, INSTALLATION_AGREEMENT).await;
    let document: DocumentId = INSTALLATION_AGREEMENT.parse().unwrap();
    world.stand_in.set(document, Behaviour::Throttle { seconds: 10_000_000_000_000_000_000, size: 1_000 });
    let retried = world.fetch(std::slice::from_ref(record)).await;
    assert_eq!(retried.len(), 1, "retried later through SQS");
    assert_eq!(world.document(INSTALLATION_AGREEMENT).await["status"], "QUEUED");
}

#[tokio::test]
async fn a_pre_signed_url_that_cannot_be_reached_never_reaches_the_record_or_the_error() {
    let world = World::new().await;
    let record = &contract_message(&world, INSTALLATION_AGREEMENT).await;
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    world.stand_in.set(INSTALLATION_AGREEMENT.parse().unwrap(), Behaviour::RedirectTo { port });
    assert_eq!(world.fetch(std::slice::from_ref(record)).await.len(), 1, "retried later");
    let item = world.document(INSTALLATION_AGREEMENT).await;
    let error = item["last_error"].as_str().expect("the reason is recorded");
    assert!(error.contains(&format!("127.0.0.1:{port}/storage/")), "the host and path stay: {error}");
    assert!(!error.contains("X-Amz-") && !error.contains("presigned"), "no query string: {error}");
}

#[tokio::test]
async fn a_rotated_token_is_read_again_after_a_401_at_most_once_an_interval() {
    let world = World::new().await;
    let secrets = &world.backend.clients.secrets;
    let secret_id = format!("everbright-token-{}", uuid::Uuid::new_v4().simple());
    secrets.create_secret().name(&secret_id).secret_string(TOKEN).send().await.unwrap();
    let rotate = |token: &'static str| {
        world.stand_in.set_token(token);
        secrets.put_secret_value().secret_id(&secret_id).secret_string(token).send()
    };
    let mut config = world.backend.fetcher_config(&world.stand_in.base_url, TOKEN);
    config.default_tenant.as_mut().unwrap().token = config::TokenConfig::Secret(secret_id.clone());
    let fetcher = Fetcher::on_aws(&config, &world.backend.clients).with_token_reread_interval(AN_HOUR);
    let deadline = || Instant::now() + Duration::from_secs(60);
    let records = world.deliver("rest-contract-signed").await;

    assert!(fetcher.handle_batch(&records[..1], deadline()).await.batch_item_failures.is_empty());
    rotate("rotated-once").await.unwrap();
    let failures = fetcher.handle_batch(&records[1..2], deadline()).await.batch_item_failures;
    assert!(failures.is_empty(), "the 401 made the fetcher read the new token and try again");
    assert_eq!(world.document(&document_of(&records[1])).await["status"], "STORED");

    // Within the interval, another 401 does not read the secret again: retried later through SQS.
    rotate("rotated-twice").await.unwrap();
    let failures = fetcher.handle_batch(&records[2..3], deadline()).await.batch_item_failures;
    assert_eq!(failures.len(), 1);
    let item = world.document(&document_of(&records[2])).await;
    assert_eq!(item["status"], "QUEUED");
    assert!(item["last_error"].as_str().unwrap().contains("401"), "{item:?}");
}
