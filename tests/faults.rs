//! Regression tests for the bugs the reliability scenario found, each named after its bug, each
//! with one fault injected exactly where it bit (through the fault proxy in front of moto).

use std::time::Duration;

use aws_lambda_events::event::sqs::SqsMessage;
use contract_fetcher::Fetcher;
use domain::metrics::discard_sink;
use integration_tests::fault_proxy::{Fault, FaultPlan, Rule};
use integration_tests::{Proxied, event, json_body};
use lambda_http::http::StatusCode;
use local_stack::stand_in::StandIn;
use tokio::time::Instant;
use webhook_receiver::AwsReceiver;

const TOKEN: &str = "test-token-0123";
const SITE: &str = "SITE#34b6b5ee-f997-4044-86ae-0abbf611fc4d";

/// A backend, and clients that reach it through a fault proxy with no faults yet.
struct Faulty(Proxied);

impl std::ops::Deref for Faulty {
    type Target = Proxied;
    fn deref(&self) -> &Proxied {
        &self.0
    }
}

impl Faulty {
    async fn new() -> Self {
        Self(Proxied::new(Duration::from_secs(5)).await)
    }

    fn inject(&self, rules: Vec<Rule>) {
        self.proxy.set_plan(FaultPlan { rules, ..FaultPlan::none() });
    }

    fn receiver(&self) -> AwsReceiver {
        AwsReceiver::on_aws(&self.backend.receiver_config(), &self.clients).with_metrics(discard_sink())
    }

    /// The signed contract delivered without faults; the fetch messages it queued.
    async fn signed_contract(&self) -> Vec<SqsMessage> {
        assert_eq!(self.receiver().handle(event("rest-contract-signed")).await.status(), StatusCode::OK);
        self.backend.take_records().await
    }

    /// A stand-in for EverBright, and a fetcher that reaches AWS through the proxy.
    async fn fetcher(&self) -> (StandIn, Fetcher) {
        let stand_in = StandIn::start(TOKEN).await.expect("stand-in");
        let config = self.backend.fetcher_config(&stand_in.base_url, TOKEN);
        let fetcher = Fetcher::on_aws(&config, &self.clients).with_metrics(discard_sink());
        (stand_in, fetcher)
    }

    async fn status(&self, record: &SqsMessage) -> String {
        let body: serde_json::Value = serde_json::from_str(record.body.as_deref().unwrap()).unwrap();
        let item = self.backend.item(SITE, &format!("DOC#{}", body["document"].as_str().unwrap())).await.unwrap();
        item["status"].as_str().unwrap().to_owned()
    }
}

async fn fetch(fetcher: &Fetcher, record: &SqsMessage) -> usize {
    let deadline = Instant::now() + Duration::from_secs(60);
    fetcher.handle_batch(std::slice::from_ref(record), deadline).await.batch_item_failures.len()
}

#[tokio::test]
async fn a_claim_whose_answer_was_lost_is_still_the_senders() {
    // The claim lands, its answer is lost, the SDK sends it again: that is this request's own
    // claim, not "a delivery being applied right now" (which answered 409 for 60 s).
    let world = Faulty::new().await;
    world.inject(vec![Rule::next("dynamodb", "PutItem", Fault::ResetAfter, 1)]);
    let response = world.receiver().handle(event("rest-contract-signed")).await;
    assert_eq!(response.status(), StatusCode::OK, "{:?}", response.body());
    let answer = json_body(&response);
    assert_eq!((answer["duplicate"].as_bool(), answer["queued"].as_array().map(Vec::len)), (Some(false), Some(9)));
    assert_eq!(world.proxy.stats().of(Fault::ResetAfter), 1);
}

#[tokio::test]
async fn a_document_claim_whose_answer_was_lost_is_still_the_fetchers() {
    // The document's claim lands, its answer is lost, the SDK sends it again: the fetcher must
    // see its own lease, not "another invocation is fetching it" (which held the document until
    // the lease ran out, and sent it to the DLQ when SQS redelivered it sooner).
    let world = Faulty::new().await;
    let records = world.signed_contract().await;
    let (_stand_in, fetcher) = world.fetcher().await;
    world.inject(vec![Rule::next("dynamodb", "UpdateItem", Fault::ResetAfter, 1)]);
    assert_eq!(fetch(&fetcher, &records[0]).await, 0, "stored at the first try");
    assert_eq!(world.status(&records[0]).await, "STORED");
    assert_eq!(world.proxy.stats().of(Fault::ResetAfter), 1);
}

#[tokio::test]
async fn a_fetch_whose_outcome_could_not_be_recorded_gives_its_claim_back() {
    // The document is in S3 but recording it fails, every attempt: the message is retried, and
    // the claim is given back so that the retry can take it at once (it used to stay FETCHING
    // until its lease ran out).
    let world = Faulty::new().await;
    let records = world.signed_contract().await;
    let (_stand_in, fetcher) = world.fetcher().await;
    world.inject(vec![Rule::next("dynamodb", "TransactWriteItems", Fault::Unavailable, 3)]);
    assert_eq!(fetch(&fetcher, &records[0]).await, 1, "retried");
    assert_eq!(world.status(&records[0]).await, "QUEUED");
    assert_eq!(fetch(&fetcher, &records[0]).await, 0);
    assert_eq!(world.status(&records[0]).await, "STORED");
    let documents = world.backend.keys("contracts/").await;
    assert_eq!(documents.len(), 1, "one object: {documents:?}");
}

#[tokio::test]
async fn a_delivery_claim_that_landed_but_whose_answers_were_all_lost_is_given_back() {
    // The claim lands, and every answer to it (three attempts) is lost: the receiver answers
    // 503, and gives the claim back, in case it landed. EverBright's retry (a new request id)
    // is applied at once; it used to be told 409 until the claim's 60 s lease ran out.
    let world = Faulty::new().await;
    world.inject(vec![Rule::next("dynamodb", "PutItem", Fault::ResetAfter, 3)]);
    let receiver = world.receiver();
    let response = receiver.handle(event("rest-contract-signed")).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE, "{:?}", response.body());
    let mut retry = integration_tests::event_json("rest-contract-signed");
    retry["requestContext"]["requestId"] = serde_json::json!("a-retry-from-everbright");
    let response = receiver.handle(lambda_http::request::from_str(&retry.to_string()).unwrap()).await;
    assert_eq!(response.status(), StatusCode::OK, "{:?}", response.body());
    assert_eq!(json_body(&response)["queued"].as_array().map(Vec::len), Some(9));
}

#[tokio::test]
async fn a_document_claim_that_landed_but_whose_answers_were_all_lost_is_given_back() {
    // The same for the fetcher: the document is not left FETCHING (busy for every redelivery
    // until the lease ran out, and so sent to the DLQ when SQS came back sooner).
    let world = Faulty::new().await;
    let records = world.signed_contract().await;
    let (_stand_in, fetcher) = world.fetcher().await;
    world.inject(vec![Rule::next("dynamodb", "UpdateItem", Fault::ResetAfter, 3)]);
    assert_eq!(fetch(&fetcher, &records[0]).await, 1, "retried");
    assert_eq!(world.status(&records[0]).await, "QUEUED");
    assert_eq!(fetch(&fetcher, &records[0]).await, 0, "stored at the next delivery");
    assert_eq!(world.status(&records[0]).await, "STORED");
}
