//! The fetcher's own logic on ports in memory and a clock of the test's: claims and leases, what
//! each answer of EverBright becomes, what is acknowledged and what is retried. EverBright is the
//! stand-in on loopback; no AWS-protocol server is involved (`fetcher.rs` and `crash.rs` run the
//! same fetcher on moto).

use std::collections::HashMap;
use std::time::Duration;

use aws::Clients;
use aws_lambda_events::event::sqs::SqsMessage;
use config::tenant::Tenants;
use config::{Env, FetcherConfig};
use contract_fetcher::Fetcher;
use domain::ids::DocumentId;
use domain::job::{FetchStatus, JobKey};
use domain::message::WorkMessage;
use domain::metrics::discard_sink;
use domain::ports::{DocumentLedger, FetchClaim};
use domain::tenant::TenantId;
use domain::timestamp::{Clock, Timestamp};
use integration_tests::memory_fetch::{MemoryAnswers, MemoryDocuments, MemoryLedger};
use local_stack::stand_in::{Behaviour, Host, StandIn, pdf_sha256};
use tokio::time::Instant;

const TOKEN: &str = "test-token-0123";
const SITE: &str = "34b6b5ee-f997-4044-86ae-0abbf611fc4d";
const DOCUMENT: &str = "0d3f5c35-3b6a-4c43-9b5e-6e3c2f7a1b11";
const SIZE: usize = 40_000;
/// A fixed time, so that leases are read against it.
const T0: i64 = 1_750_000_000;

type MemoryFetcher = Fetcher<MemoryLedger, MemoryDocuments, MemoryAnswers>;

struct World {
    stand_in: StandIn,
    job: JobKey,
    document: DocumentId,
}

impl World {
    async fn new(behaviour: Behaviour) -> Self {
        let stand_in = StandIn::start(TOKEN).await.expect("stand-in");
        let document: DocumentId = DOCUMENT.parse().unwrap();
        stand_in.set(document, behaviour);
        Self { stand_in, job: JobKey::new(TenantId::default(), SITE.parse().unwrap()), document }
    }

    /// A fetcher on fresh ports in memory, at `seconds` past `T0`, the document queued.
    fn fetcher(&self, seconds: i64) -> MemoryFetcher {
        let ledger = MemoryLedger::default();
        ledger.queue(&self.job, self.document);
        self.fetcher_on(ledger, seconds)
    }

    fn fetcher_on(&self, ledger: MemoryLedger, seconds: i64) -> MemoryFetcher {
        let vars = HashMap::from([
            ("JOBS_TABLE", "jobs".to_owned()),
            ("DOCUMENTS_BUCKET", "documents".to_owned()),
            ("EVERBRIGHT_BASE_URL", self.stand_in.base_url.clone()),
            ("EVERBRIGHT_API_TOKEN", TOKEN.to_owned()),
        ]);
        let config = FetcherConfig::from(&Env::new(move |name| vars.get(name).cloned())).expect("configuration");
        let sdk = aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .build();
        let ports = (ledger, MemoryDocuments::default(), MemoryAnswers::default());
        Fetcher::new(&config, &Tenants::default(), &Clients::new(&sdk).secrets, ports)
            .with_metrics(discard_sink())
            .with_clock(Clock::new(move || Timestamp::from_millis((T0 + seconds) * 1000)))
    }

    fn message(&self) -> SqsMessage {
        let message = WorkMessage::FetchDocument {
            tenant: self.job.tenant.clone(),
            site: self.job.site,
            quote: None,
            task: "5bd1a0f2-8d3c-4e57-9f0a-3b2c1d4e5f60".parse().unwrap(),
            document: self.document,
            name: Some("contract.pdf".into()),
            event_id: "delivery-1".into(),
        };
        let mut record = SqsMessage::default();
        record.message_id = Some("m-1".into());
        record.body = Some(message.to_json());
        record
    }

    /// Runs the message once; whether it is to be retried.
    async fn run(&self, fetcher: &MemoryFetcher) -> bool {
        let deadline = Instant::now() + Duration::from_secs(10);
        let response = fetcher.handle_batch(&[self.message()], deadline).await;
        !response.batch_item_failures.is_empty()
    }

    fn downloads(&self) -> usize {
        self.stand_in.seen().iter().filter(|seen| seen.host == Host::Api && seen.path.ends_with("/download/")).count()
    }
}

#[tokio::test]
async fn a_queued_document_is_stored_once_and_a_redelivery_downloads_nothing() {
    let world = World::new(Behaviour::Pdf { size: SIZE }).await;
    let fetcher = world.fetcher(0);
    assert!(!world.run(&fetcher).await, "acknowledged");
    let (ledger, documents, _) = fetcher.ports();
    let item = ledger.document(&world.job, world.document).unwrap();
    assert_eq!(item.status, FetchStatus::Stored);
    assert_eq!(item.lease, None);
    let stored = item.stored.unwrap();
    assert_eq!((stored.size, stored.sha256.as_str()), (SIZE as u64, pdf_sha256(world.document, SIZE).as_str()));
    assert_eq!(documents.keys(), std::slice::from_ref(&stored.key));
    assert_eq!(documents.bytes(&stored.key).unwrap(), world.stand_in.served_bytes(world.document));

    assert!(!world.run(&fetcher).await, "the redelivery is acknowledged");
    assert_eq!(world.downloads(), 1, "and downloads nothing");
    assert_eq!(ledger.stored_count(&world.job), 1, "counted once");
}

#[tokio::test]
async fn a_server_error_gives_the_claim_back_with_its_reason_and_the_retry_stores_it() {
    let world = World::new(Behaviour::FailThen { failures: 100, size: SIZE }).await;
    let fetcher = world.fetcher(0);
    assert!(world.run(&fetcher).await, "retried");
    let item = fetcher.ports().0.document(&world.job, world.document).unwrap();
    assert_eq!((item.status, item.lease), (FetchStatus::Queued, None), "given back, not left to its lease");
    assert!(item.last_error.unwrap().contains("500"));

    world.stand_in.set(world.document, Behaviour::Pdf { size: SIZE });
    assert!(!world.run(&fetcher).await, "the retry is acknowledged");
    assert_eq!(fetcher.ports().0.document(&world.job, world.document).unwrap().status, FetchStatus::Stored);
}

#[tokio::test]
async fn a_missing_document_or_one_that_is_no_pdf_fails_for_good_and_is_acknowledged() {
    for (behaviour, expected) in [(Behaviour::NotFound, "404"), (Behaviour::NotPdf, "not a PDF")] {
        let world = World::new(behaviour).await;
        let fetcher = world.fetcher(0);
        assert!(!world.run(&fetcher).await, "{expected}: acknowledged");
        let item = fetcher.ports().0.document(&world.job, world.document).unwrap();
        assert_eq!(item.status, FetchStatus::Failed, "{expected}");
        assert!(item.reason.as_deref().unwrap().contains(expected), "{expected}: {:?}", item.reason);
        assert!(fetcher.ports().1.keys().is_empty(), "{expected}: nothing stored");
        assert!(!world.run(&fetcher).await, "{expected}: a redelivery is acknowledged");
        assert_eq!(world.downloads(), 1, "{expected}: and not downloaded again");
    }
}

#[tokio::test]
async fn a_live_lease_makes_a_copy_wait_and_an_ended_one_is_taken_over() {
    let world = World::new(Behaviour::Pdf { size: SIZE }).await;
    let ledger = MemoryLedger::default();
    ledger.queue(&world.job, world.document);
    let (now, until) = (Timestamp::from_millis(T0 * 1000), Timestamp::from_millis((T0 + 70) * 1000));
    let claim = ledger.claim_fetch(&world.job, world.document, "killed", now, until).await.unwrap();
    assert_eq!(claim, FetchClaim::Claimed { lease: "killed".into() });

    let fetcher = world.fetcher_on(ledger, 70);
    assert!(world.run(&fetcher).await, "at the lease's last second: busy, retried");
    assert_eq!(world.downloads(), 0);

    let ledger = MemoryLedger::default();
    ledger.queue(&world.job, world.document);
    ledger.claim_fetch(&world.job, world.document, "killed", now, until).await.unwrap();
    let fetcher = world.fetcher_on(ledger, 71);
    assert!(!world.run(&fetcher).await, "a second later: taken over and stored");
    assert_eq!(fetcher.ports().0.document(&world.job, world.document).unwrap().status, FetchStatus::Stored);
}

#[tokio::test]
async fn a_message_for_a_document_no_webhook_of_its_tenant_queued_is_refused_and_fetches_nothing() {
    let world = World::new(Behaviour::Pdf { size: SIZE }).await;
    let fetcher = world.fetcher_on(MemoryLedger::default(), 0);
    assert!(!world.run(&fetcher).await, "refused for good: acknowledged");
    assert_eq!(world.downloads(), 0);
    assert!(fetcher.ports().0.document(&world.job, world.document).is_none(), "no item made");
}
