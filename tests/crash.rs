//! Crash safety: the fetcher stopped dead in the middle of a document, as when its Lambda is
//! killed at its timeout: its invocation is dropped at a known point (the fault proxy holds one
//! request and never answers it, then the handler's future is dropped, so nothing after that
//! point runs, no clean-up either). Then SQS redelivers the message: before the killed
//! claim's lease ends the document is busy, after it the document is stored, exactly once.
//!
//! No test waits the lease out: the redelivery after it runs on a clock moved past the lease's end
//! (the invocation's 10 s plus the 60 s margin).

use std::time::Duration;

use aws::Clients;
use aws_lambda_events::event::sqs::SqsMessage;
use contract_fetcher::Fetcher;
use domain::ids::DocumentId;
use domain::metrics::discard_sink;
use domain::timestamp::{Clock, Timestamp};
use integration_tests::fault_proxy::{Fault, FaultPlan, FaultProxy, Rule};
use integration_tests::{Backend, event, moto, sdk_config_through};
use lambda_http::http::StatusCode;
use local_stack::stand_in::{Behaviour, StandIn, pdf_sha256};
use serde_json::Value;
use tokio::time::Instant;
use webhook_receiver::AwsReceiver;

const TOKEN: &str = "test-token-0123";
const SITE: &str = "SITE#34b6b5ee-f997-4044-86ae-0abbf611fc4d";
/// Three 5 MiB parts and a bit.
const SIZE: usize = 15 * 1024 * 1024 + 4096;
/// The killed invocation's time left: its claim's lease ends 60 s after that.
const KILLED_BUDGET: Duration = Duration::from_secs(10);

struct World {
    backend: Backend,
    proxy: FaultProxy,
    clients: Clients,
    stand_in: StandIn,
    record: SqsMessage,
    document: DocumentId,
}

impl World {
    /// The signed contract delivered; its first document to fetch made a 15 MiB PDF.
    async fn new() -> Self {
        let backend = Backend::new().await;
        let receiver = AwsReceiver::on_aws(&backend.receiver_config(), &backend.clients).with_metrics(discard_sink());
        assert_eq!(receiver.handle(event("rest-contract-signed")).await.status(), StatusCode::OK);
        let record = backend.take_records().await.remove(0);
        let body: Value = serde_json::from_str(record.body.as_deref().unwrap()).unwrap();
        let document: DocumentId = body["document"].as_str().unwrap().parse().unwrap();
        let stand_in = StandIn::start(TOKEN).await.expect("stand-in");
        stand_in.set(document, Behaviour::Pdf { size: SIZE });
        let proxy = FaultProxy::start(&moto().endpoint, FaultPlan::none()).await.expect("proxy");
        let clients = Clients::new(&sdk_config_through(&proxy.endpoint, Duration::from_secs(30)).await);
        Self { backend, proxy, clients, stand_in, record, document }
    }

    fn fetcher(&self, clock: Clock) -> Fetcher {
        let mut config = self.backend.fetcher_config(&self.stand_in.base_url, TOKEN);
        config.part_mib = 5;
        Fetcher::on_aws(&config, &self.clients).with_metrics(discard_sink()).with_clock(clock)
    }

    /// Runs the fetcher on the message and kills it when it reaches the request `rule` holds.
    async fn kill_at(&self, rule: Rule) {
        self.proxy.set_plan(FaultPlan { rules: vec![rule], ..FaultPlan::none() });
        let fetcher = self.fetcher(Clock::system());
        let records = [self.record.clone()];
        let held = async {
            let waited = Instant::now();
            while self.proxy.stats().of(Fault::Hold) == 0 {
                assert!(waited.elapsed() < Duration::from_secs(60), "the fetcher never reached the held request");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        };
        // The invocation is dropped where it stands: nothing after the held request runs.
        tokio::select! {
            _ = fetcher.handle_batch(&records, Instant::now() + KILLED_BUDGET) => {
                panic!("the fetcher finished before the held request")
            }
            () = held => {}
        }
        drop(fetcher);
        self.proxy.set_plan(FaultPlan::none());
    }

    /// SQS's redelivery at `clock`'s time: the message again; answers whether it is to be retried.
    async fn redeliver(&self, clock: Clock) -> bool {
        let records = [self.record.clone()];
        let response = self.fetcher(clock).handle_batch(&records, Instant::now() + Duration::from_secs(60)).await;
        !response.batch_item_failures.is_empty()
    }

    async fn status(&self) -> String {
        let item = self.backend.item(SITE, &format!("DOC#{}", self.document)).await.expect("document item");
        item["status"].as_str().unwrap_or_default().to_owned()
    }

    /// The redeliveries of SQS: busy until the killed claim's lease ends, then stored, once.
    async fn retried_until_stored(&self) {
        assert!(self.redeliver(Clock::system()).await, "while the killed claim's lease runs, the document is busy");
        assert_eq!(self.status().await, "FETCHING");
        let item = self.backend.item(SITE, &format!("DOC#{}", self.document)).await.unwrap();
        let lease_until = item["lease_until"].as_i64().expect("the killed claim's lease");
        let at = |seconds: i64| Clock::new(move || Timestamp::from_millis(seconds * 1000));
        assert!(self.redeliver(at(lease_until)).await, "busy until the lease's very end");
        assert_eq!(self.status().await, "FETCHING");
        assert!(!self.redeliver(at(lease_until + 1)).await, "stored once the lease ended");
        assert_eq!(self.status().await, "STORED");

        let keys = self.backend.keys("contracts/").await;
        assert_eq!(keys.len(), 1, "one object: {keys:?}");
        let bytes = self.backend.object(&keys[0]).await;
        assert_eq!(bytes.len(), SIZE);
        let sha256 = pdf_sha256(self.document, SIZE);
        assert_eq!(self.backend.metadata(&keys[0]).await["sha256"], sha256);
        let item = self.backend.item(SITE, &format!("DOC#{}", self.document)).await.unwrap();
        assert_eq!(item["sha256"], sha256.as_str());
        let job = self.backend.item(SITE, "JOB").await.unwrap();
        assert_eq!(job["documents_stored"], 1, "recorded once");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fetcher_killed_between_parts_leaves_no_object_and_the_retry_stores_it_once() {
    let world = World::new().await;
    world.kill_at(Rule::next("s3", "UploadPart", Fault::Hold, 1)).await;

    assert!(world.backend.keys("contracts/").await.is_empty(), "no object, whole or half, is visible");
    let open = world.backend.clients.s3.list_multipart_uploads().bucket(&world.backend.bucket).send().await.unwrap();
    assert_eq!(open.uploads().len(), 1, "the upload is left open, for the bucket's lifecycle rule to end");
    assert_eq!(world.status().await, "FETCHING");

    world.retried_until_stored().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fetcher_killed_after_its_upload_before_recording_it_stores_the_document_once() {
    let world = World::new().await;
    world.kill_at(Rule::next("dynamodb", "TransactWriteItems", Fault::Hold, 1)).await;

    // The object is whole (multipart uploads appear only when complete), with its SHA-256; the
    // ledger does not know it yet.
    let keys = world.backend.keys("contracts/").await;
    assert_eq!(keys.len(), 1);
    assert_eq!(world.backend.metadata(&keys[0]).await["sha256"], pdf_sha256(world.document, SIZE));
    assert_eq!(world.status().await, "FETCHING");

    world.retried_until_stored().await;
}
