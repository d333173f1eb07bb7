//! Reconciliation with EverBright on moto, the stand-in serving the site list page by page: a
//! site changed with no webhook is found, recorded on its job (created) and in the operator's
//! list, read (its signed quote and details), counted; the checkpoint moves only after a page is
//! handled, and an error page or a throttled one leaves it where it was; no token anywhere.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws::{DynamoJobStore, schema};
use aws_lambda_events::event::sqs::SqsMessage;
use aws_sdk_dynamodb::types::AttributeValue;
use domain::ids::SiteId;
use domain::message::WorkMessage;
use domain::timestamp::Timestamp;
use integration_tests::enrichment::{QUOTE, SITE, TOKEN, World};
use integration_tests::event;
use lambda_http::http::StatusCode;
use serde_json::Value;
use tokio::time::Instant;
use webhook_receiver::AwsReceiver;

/// A site EverBright changed and told no one about, and the quote it was signed as.
const MISSED_SITE: &str = "5b0f7c1e-2d3a-4b5c-8d6e-7f8091a2b3c4";
const MISSED_QUOTE: &str = "6c1a8d2f-3e4b-4c5d-9e6f-708192a3b4c5";
/// A site changed a minute ago: inside the grace, the next pass's.
const RECENT_SITE: &str = "7d2b9e3a-4f5c-4d6e-8f70-8192a3b4c5d6";

fn reconcile_message(tenant: Option<&str>) -> SqsMessage {
    let mut record = SqsMessage::default();
    record.message_id = Some("reconcile-1".into());
    let body = match tenant {
        Some(tenant) => serde_json::json!({"kind": "reconcile", "tenant": tenant}),
        None => serde_json::json!({"kind": "reconcile"}),
    };
    record.body = Some(body.to_string());
    record
}

/// The world with a page of two sites, the signed contract received, and three sites listed: the
/// contract's (changed before its webhook), one changed two hours ago with no webhook, one
/// changed a minute ago.
async fn world() -> World {
    let world = World::new(&[("DAL_PAGE_SIZE", "2")]).await;
    let receiver = AwsReceiver::on_aws(&world.backend.receiver_config(), &world.backend.clients);
    assert_eq!(receiver.handle(event("rest-contract-signed")).await.status(), StatusCode::OK);
    world.backend.take_records().await;
    let now = Timestamp::now();
    // The sample request carries the gateway's time of 2023: as if it came a minute after the
    // site's change of two hours ago.
    let webhook_at = serde_json::json!({"event": "contract-status-change", "at": now.plus_seconds(-7140).to_string()});
    world
        .backend
        .clients
        .dynamodb
        .update_item()
        .table_name(&world.backend.table)
        .key("pk", AttributeValue::S(format!("SITE#{SITE}")))
        .key("sk", AttributeValue::S("JOB".into()))
        .update_expression("SET last_event = :e")
        .expression_attribute_values(":e", AttributeValue::M(attributes(&webhook_at)))
        .send()
        .await
        .unwrap();
    let ago = |seconds: i64| now.plus_seconds(-seconds).to_string();
    let sites = [(SITE, ago(7200)), (MISSED_SITE, ago(7200)), (RECENT_SITE, ago(60))];
    let sites: Vec<(SiteId, &str)> = sites.iter().map(|(site, at)| (site.parse().unwrap(), at.as_str())).collect();
    world.stand_in.set_sites(&sites);
    world.stand_in.set_site_signed_quote(MISSED_SITE.parse().unwrap(), MISSED_QUOTE.parse().unwrap());
    world
}

fn attributes(value: &Value) -> std::collections::HashMap<String, AttributeValue> {
    let object = value.as_object().unwrap();
    object.iter().map(|(name, value)| (name.clone(), AttributeValue::S(value.as_str().unwrap().to_owned()))).collect()
}

async fn reconcile(world: &World) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let response = world.fetcher.handle_batch(&[reconcile_message(None)], deadline).await;
    response.batch_item_failures.into_iter().map(|f| f.item_identifier).collect()
}

fn site_list_pages(world: &World) -> Vec<String> {
    let seen = world.stand_in.seen();
    let list = seen.iter().filter(|s| s.path == "/api/data/site/" && !s.query.contains("site_id="));
    list.map(|s| s.query.split('&').find_map(|p| p.strip_prefix("page=")).unwrap_or_default().to_owned()).collect()
}

async fn checkpoint(world: &World) -> serde_json::Map<String, Value> {
    world.backend.item("TENANT#default", schema::RECONCILE_CHECKPOINT).await.expect("a checkpoint")
}

#[tokio::test]
async fn a_site_changed_without_a_webhook_is_found_recorded_read_and_counted_once() {
    let captured = integration_tests::logs::Captured::install();
    let world = world().await;
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&lines);
    let fetcher = contract_fetcher::Fetcher::on_aws(&world.config(&[("DAL_PAGE_SIZE", "2")]), &world.backend.clients)
        .with_metrics(Arc::new(move |line| sink.lock().unwrap().push(line)));
    let response = fetcher.handle_batch(&[reconcile_message(None)], Instant::now() + Duration::from_secs(60)).await;
    assert!(response.batch_item_failures.is_empty(), "a reconciliation is always acknowledged");
    let line = lines.lock().unwrap().iter().find(|line| line.contains("PossiblyMissed")).cloned().unwrap();
    let line: Value = serde_json::from_str(&line).unwrap();
    assert_eq!((line["PossiblyMissed"].as_f64(), line["SitesCompared"].as_f64()), (Some(1.0), Some(2.0)), "{line}");
    assert_eq!((line["SitePages"].as_f64(), line["Tenant"].as_str()), (Some(2.0), Some("default")));
    assert_eq!(site_list_pages(&world), ["1", "2"], "two pages of two");

    let missed = world.backend.item(&format!("SITE#{MISSED_SITE}"), "JOB").await.expect("the job, created");
    assert_eq!(missed["tenant"], "default");
    assert!(missed["missed"]["last_webhook"].is_null(), "{missed:?}");
    assert!(world.backend.item(&format!("SITE#{RECENT_SITE}"), "JOB").await.is_none(), "inside the grace");
    let contract = world.backend.item(&format!("SITE#{SITE}"), "JOB").await.unwrap();
    assert!(contract.get("missed").is_none(), "its webhook came after its change");

    // Read now: the quote it was signed as, that quote's details, the request answered.
    let read = world.backend.item(&format!("SITE#{MISSED_SITE}"), schema::SITE_READ).await.unwrap();
    assert_eq!(read["signed_quote"], MISSED_QUOTE);
    assert!(read.get("pending").is_none(), "answered: out of the sweeper's index: {read:?}");
    let details = world.backend.item(&format!("SITE#{MISSED_SITE}"), &format!("DETAILS#{MISSED_QUOTE}")).await;
    assert_eq!(details.expect("the details")["status"], "ENRICHED");
    let store = DynamoJobStore::new(world.backend.clients.dynamodb.clone(), &world.backend.table);
    let listed = store.attention(10).await.unwrap();
    assert_eq!(listed.len(), 1, "the finding, for the operator: {listed:?}");
    assert_eq!(listed[0]["site"], MISSED_SITE);

    let done = checkpoint(&world).await;
    assert!(done.get("cut").is_none() && done.get("next_page").is_none(), "the pass is done: {done:?}");
    let since: Timestamp = done["since"].as_str().unwrap().parse().unwrap();
    assert!(since < Timestamp::now().plus_seconds(-29 * 60), "up to the grace, not later: {since}");

    // Again: a new pass, overlapping the last by the grace, finds nothing new.
    assert!(reconcile(&world).await.is_empty());
    assert_eq!(store.attention(10).await.unwrap().len(), 1, "found once");

    let logs = captured.text();
    assert!(logs.contains("possibly missed"), "the log is captured");
    assert!(!logs.contains(TOKEN), "the token is in the log");
    for item in world.backend.items().await {
        assert!(!Value::Object(item).to_string().contains(TOKEN), "the token is in an item");
    }
}

#[tokio::test]
async fn an_error_page_or_a_throttled_one_leaves_the_checkpoint_where_it_was_until_it_is_read() {
    let world = world().await;
    let error = r#"{"data": [], "messages": {"error": ["Invalid page"], "warning": []}, "status_code": 400}"#;
    world.stand_in.fail_site_list(2, 200, error);
    assert!(reconcile(&world).await.is_empty());
    let stopped = checkpoint(&world).await;
    assert_eq!(stopped["next_page"], 2, "page 1 handled, page 2 not: {stopped:?}");
    assert!(stopped["last_error"].as_str().unwrap().contains("Invalid page"), "EverBright's words: {stopped:?}");
    let store = DynamoJobStore::new(world.backend.clients.dynamodb.clone(), &world.backend.table);
    assert_eq!(store.attention(10).await.unwrap().len(), 1, "page 1's finding is kept");

    for _ in 0..5 {
        world.stand_in.fail_site_list(2, 429, r#"{"detail":"slow down"}"#);
    }
    assert!(reconcile(&world).await.is_empty());
    let throttled = checkpoint(&world).await;
    assert_eq!(
        (throttled["next_page"].clone(), throttled["cut"].clone()),
        (stopped["next_page"].clone(), stopped["cut"].clone())
    );
    assert!(throttled["last_error"].as_str().unwrap().contains("429"), "{throttled:?}");

    assert!(reconcile(&world).await.is_empty());
    let done = checkpoint(&world).await;
    assert!(done.get("next_page").is_none() && done.get("last_error").is_none(), "{done:?}");
    assert_eq!(site_list_pages(&world), ["1", "2", "2", "2", "2", "2", "2", "2"], "page 1 never read again");
    assert_eq!(store.attention(10).await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_tenant_this_function_does_not_have_is_not_reconciled_and_a_webhooks_job_is_left_as_it_was() {
    let world = world().await;
    // Another tenant's reconciliation is named and unknown here: nothing is read or written for it.
    let deadline = Instant::now() + Duration::from_secs(60);
    let response = world.fetcher.handle_batch(&[reconcile_message(Some("acme"))], deadline).await;
    assert!(response.batch_item_failures.is_empty());
    assert!(site_list_pages(&world).is_empty(), "no list read for a tenant this function does not have");
    assert!(world.backend.item("TENANT#acme", schema::RECONCILE_CHECKPOINT).await.is_none());
    assert!(reconcile(&world).await.is_empty());
    let job = world.backend.item(&format!("SITE#{SITE}"), "JOB").await.unwrap();
    assert_eq!(job["current_quote"]["quote"], QUOTE, "the webhook's job, untouched");
}

#[tokio::test]
async fn a_read_site_message_nobody_asked_for_is_refused_and_reads_and_writes_nothing() {
    let world = world().await;
    let forged = WorkMessage::ReadSite {
        tenant: domain::tenant::TenantId::default_tenant(),
        site: MISSED_SITE.parse().unwrap(),
        version: Timestamp::now().micros(),
        event_id: "forged".into(),
    };
    let mut record = SqsMessage::default();
    record.message_id = Some("forged-1".into());
    record.body = Some(forged.to_json());
    let before = world.backend.items().await.len();
    let seen = world.stand_in.seen().len();
    let response = world.fetcher.handle_batch(&[record], Instant::now() + Duration::from_secs(60)).await;
    assert!(response.batch_item_failures.is_empty(), "refused for good, not retried");
    assert_eq!(world.backend.items().await.len(), before, "nothing written");
    assert_eq!(world.stand_in.seen().len(), seen, "nothing asked of EverBright");
    assert!(world.backend.item(&format!("SITE#{MISSED_SITE}"), "JOB").await.is_none());
}
