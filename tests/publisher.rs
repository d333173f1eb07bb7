//! The event publisher on moto: the table's stream read as Lambda reads it, the events on a real
//! EventBridge bus, a rule delivering them to a consumer's SQS queue; each event the consumer
//! receives checked against its JSON Schema.

use std::collections::BTreeSet;

use domain::bus::Replay;
use domain::job::JobKey;
use integration_tests::events::{Bus, types};
use integration_tests::{Backend, root};
use local_stack::bus::MAX_RETRIES;
use local_stack::demo::{self, LOCAL_TOKEN, SAMPLE_SITE};
use local_stack::stand_in::StandIn;
use serde_json::Value;

const CHANGE_ORDER_SITE: &str = "dc6ca696-819e-44a2-9371-2650a0b37251";
const MILESTONE_SITE: &str = "157802b4-99aa-4437-b250-934df337766a";

fn of_site<'a>(events: &'a [Value], site: &str) -> Vec<&'a Value> {
    events.iter().filter(|event| event["detail"]["site"] == site).collect()
}

fn count(events: &[&Value], kind: &str) -> usize {
    events.iter().filter(|event| event["detail-type"] == kind).count()
}

fn ids(events: &[Value]) -> BTreeSet<String> {
    events.iter().map(|event| event["detail"]["id"].as_str().unwrap().to_owned()).collect()
}

/// The sample events through the receiver and the fetcher (as `make demo` runs them), then the
/// stream through the publisher: what the consumer received.
async fn seed_events(backend: &Backend, bus: &mut Bus) -> Vec<Value> {
    seed_events_counted(backend, bus).await.1
}

async fn seed_events_counted(backend: &Backend, bus: &mut Bus) -> (local_stack::bus::Streamed, Vec<Value>) {
    let stand_in = StandIn::start(LOCAL_TOKEN).await.unwrap();
    let report = demo::run_on(&root(), &backend.clients, &backend.resources(), &stand_in).await.unwrap();
    assert_eq!((report.failed(), report.refused()), (0, 5));
    let streamed = bus.drain(&bus.publisher(backend), backend).await;
    assert_eq!((streamed.retried_batches, streamed.given_up), (0, 0), "{streamed:?}");
    (streamed, bus.consumed(backend).await)
}

#[tokio::test]
async fn the_seed_events_end_to_end_reach_the_consumer_once_each_as_their_schemas_say() {
    let backend = Backend::new().await;
    let mut bus = Bus::on(&backend).await;
    let (streamed, events) = seed_events_counted(&backend, &mut bus).await;
    assert_eq!(streamed.unmapped, 0, "{streamed:?}");

    let contract = of_site(&events, SAMPLE_SITE);
    assert_eq!(count(&contract, "Job Created"), 1);
    assert_eq!(count(&contract, "Contract Signed"), 1, "the Function URL copy is a duplicate: no second event");
    assert_eq!(count(&contract, "Document Stored"), 9, "{:?}", types(&events));
    assert_eq!(count(&contract, "Details Recorded"), 1);
    assert_eq!(count(&contract, "Stage Changed"), 1);
    let change_order = of_site(&events, CHANGE_ORDER_SITE);
    assert_eq!((count(&change_order, "Change Order Signed"), count(&change_order, "Document Stored")), (1, 1));
    let milestone = of_site(&events, MILESTONE_SITE);
    let approved =
        milestone.iter().find(|event| event["detail-type"] == "Milestone Changed").expect("a milestone event");
    assert_eq!(approved["detail"]["status"], "APPROVED");
    assert_eq!(count(&events.iter().collect::<Vec<_>>(), "Job Archived"), 1);

    // One webhook followed end to end: the signature and its documents name the same delivery.
    let signed = contract.iter().find(|event| event["detail-type"] == "Contract Signed").unwrap();
    let webhook = signed["detail"]["event_id"].as_str().expect("the delivery's id");
    for stored in contract.iter().filter(|event| event["detail-type"] == "Document Stored") {
        assert_eq!(stored["detail"]["event_id"], webhook);
        assert_eq!(stored["detail"]["bucket"], backend.bucket);
        assert!(stored["detail"]["s3_version_id"].as_str().is_some_and(|v| !v.is_empty()), "{stored}");
        let key = stored["detail"]["s3_key"].as_str().unwrap();
        let bytes = backend.object(key).await;
        assert_eq!(bytes.len() as u64, stored["detail"]["size"].as_u64().unwrap(), "{key}");
    }
    // Every event once, every one about a job the table holds, none of another tenant.
    assert_eq!(ids(&events).len(), events.len(), "no id twice in one pass");
    let jobs: BTreeSet<String> = backend
        .items()
        .await
        .iter()
        .filter(|item| item["sk"] == "JOB")
        .map(|item| item["site"].as_str().unwrap().to_owned())
        .collect();
    for event in &events {
        assert!(jobs.contains(event["detail"]["site"].as_str().unwrap()), "{event}");
        assert_eq!(event["source"], "everbright-sync");
        assert_eq!(event["detail"]["replay"], false);
    }

    // The publication log has what was put, for the operator.
    let ops = backend.ops_with_bus(&bus.resources);
    let logged = ops.published(&JobKey::default_tenant(SAMPLE_SITE.parse().unwrap())).await.unwrap();
    let logged: BTreeSet<String> = logged.iter().map(|item| item["id"].as_str().unwrap().to_owned()).collect();
    let put: BTreeSet<String> =
        contract.iter().map(|event| event["detail"]["id"].as_str().unwrap().to_owned()).collect();
    assert_eq!(logged, put);
}

#[tokio::test]
async fn a_stream_read_again_publishes_every_change_again_with_the_same_ids() {
    let backend = Backend::new().await;
    let mut bus = Bus::on(&backend).await;
    let first = seed_events(&backend, &mut bus).await;
    bus.rewind().await;
    bus.drain(&bus.publisher(&backend), &backend).await;
    let again = bus.consumed(&backend).await;
    assert_eq!(ids(&first), ids(&again), "a redelivered change carries the id it had");
}

#[tokio::test]
async fn a_bus_that_refuses_gives_the_batch_back_notes_the_sites_and_republish_puts_their_state_as_a_replay() {
    let backend = Backend::new().await;
    let mut bus = Bus::on(&backend).await;
    let stand_in = StandIn::start(LOCAL_TOKEN).await.unwrap();
    demo::run_on(&root(), &backend.clients, &backend.resources(), &stand_in).await.unwrap();

    // The publisher pointed at a bus that does not exist: every PutEvents fails.
    let mut config = bus.resources.publisher_config(&backend.resources());
    config.event_bus = "no-such-bus".into();
    let broken = event_publisher::Publisher::on_aws(&config, &backend.clients)
        .with_metrics(domain::metrics::discard_sink())
        .with_backoff(std::time::Duration::from_millis(1));
    let streamed = bus.drain(&broken, &backend).await;
    assert!(streamed.given_up >= 1 && streamed.published == 0, "{streamed:?}");
    assert!(bus.consumed(&backend).await.is_empty(), "nothing reached the consumer");

    // Before each batch was given back the publisher noted its sites; the mapping's own record
    // came after the last retry.
    let ops = backend.ops_with_bus(&bus.resources);
    let failures = ops.publish_failures().await.unwrap();
    let noted: BTreeSet<String> = failures.sites.iter().map(|noted| noted.site.to_string()).collect();
    assert!(noted.contains(SAMPLE_SITE) && noted.contains(CHANGE_ORDER_SITE), "{noted:?}");
    assert_eq!(failures.given_up.len(), streamed.given_up);
    assert_eq!(failures.given_up[0]["requestContext"]["approximateInvokeCount"], MAX_RETRIES + 1);

    let replay = Replay { id: "replay-test".into() };
    let mut heard = Vec::new();
    let (_, done) = ops.republish_failures(&replay, |at, of| heard.push((at, of))).await.unwrap();
    assert_eq!(heard.last().map(|&(at, of)| (at, of)), Some((noted.len(), noted.len())), "progress for each site");
    assert!(done.jobs >= 2 && done.events > 0, "{done:?}");
    let replayed = bus.consumed(&backend).await;
    assert_eq!(replayed.len(), done.events);
    assert!(
        replayed.iter().all(|event| event["detail"]["replay"] == true && event["detail"]["replay_id"] == "replay-test")
    );
    let contract = of_site(&replayed, SAMPLE_SITE);
    assert_eq!((count(&contract, "Contract Signed"), count(&contract, "Document Stored")), (1, 9));
    assert!(bus.failures(&backend).await.is_empty(), "the failure queue is emptied once republished");
}

#[tokio::test]
async fn an_item_of_a_shape_this_version_does_not_know_is_counted_and_the_batch_goes_on() {
    let backend = Backend::new().await;
    let mut bus = Bus::on(&backend).await;
    let pk = format!("SITE#{SAMPLE_SITE}");
    for sk in ["PAYMENT#1", "TASK#not-a-uuid"] {
        backend
            .clients
            .dynamodb
            .put_item()
            .table_name(&backend.table)
            .item("pk", aws_sdk_dynamodb::types::AttributeValue::S(pk.clone()))
            .item("sk", aws_sdk_dynamodb::types::AttributeValue::S(sk.into()))
            .item("amount", aws_sdk_dynamodb::types::AttributeValue::N("5".into()))
            .send()
            .await
            .unwrap();
    }
    let (streamed, events) = seed_events_counted(&backend, &mut bus).await;
    assert_eq!(streamed.unmapped, 2, "{streamed:?}");
    assert_eq!(count(&of_site(&events, SAMPLE_SITE), "Contract Signed"), 1);
}
