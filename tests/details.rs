//! The enrichment's failures and repeats, tried with a stand-in answering as EverBright's data
//! API might: one signature enriched once on every route, error answers read envelope first and
//! never recorded as details, every failure visible and redrivable, the evidence kept as it came
//! and never piling up, a cut answer marked, the signed baseline asked by its prefix, and a
//! document's preview link.

use std::sync::{Arc, Mutex};

use aws_lambda_events::event::sqs::SqsMessage;
use contract_fetcher::Fetcher;
use integration_tests::enrichment::*;
use integration_tests::{emf, event, event_json, json_body, kind_of};
use lambda_http::http::StatusCode;
use serde_json::{Value, json};
use webhook_receiver::AwsReceiver;

/// The data API's envelope around `data`, with `errors` and `status_code`.
fn envelope(data: Value, errors: &[&str], status_code: u16) -> String {
    json!({"data": data, "messages": {"warning": [], "error": errors, "info": [], "critical": []},
        "status_code": status_code})
    .to_string()
}

/// A fetcher of `world` with `settings`, its metric lines kept.
fn counted(world: &World, settings: &[(&'static str, &str)]) -> (Fetcher, Arc<Mutex<Vec<String>>>) {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = lines.clone();
    let config = world.config(settings);
    let fetcher = Fetcher::on_aws(&config, &world.backend.clients).with_metrics(Arc::new(move |line| {
        sink.lock().unwrap().push(line);
    }));
    (fetcher, lines)
}

async fn fetch_with(fetcher: &Fetcher, records: &[SqsMessage]) -> Vec<String> {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    fetcher.handle_batch(records, deadline).await.batch_item_failures.into_iter().map(|f| f.item_identifier).collect()
}

#[tokio::test]
async fn one_signature_sent_on_two_routes_queues_its_enrichment_and_its_documents_once() {
    let world = World::new(&[]).await;
    let receiver = AwsReceiver::on_aws(&world.backend.receiver_config(), &world.backend.clients);
    assert_eq!(receiver.handle(event("rest-contract-signed")).await.status(), StatusCode::OK);
    let first = world.backend.take_records().await;
    assert_eq!(first.len(), 10, "nine documents and the enrichment");

    // The same signed body on the homeowners-signed route: a delivery of its own, nothing again.
    let mut again = event_json("rest-contract-signed");
    let route = "homeowners-signed-contract";
    again["path"] = json!(format!("/webhooks/{route}"));
    again["pathParameters"]["event"] = json!(route);
    again["requestContext"]["path"] = json!(format!("/prod/webhooks/{route}"));
    again["requestContext"]["requestId"] = json!(uuid::Uuid::new_v4().to_string());
    let response = receiver.handle(lambda_http::request::from_str(&again.to_string()).unwrap()).await;
    assert_eq!(response.status(), StatusCode::OK, "{:?}", json_body(&response));
    assert_eq!(
        (json_body(&response)["event"].as_str(), json_body(&response)["duplicate"].as_bool()),
        (Some(route), Some(false))
    );
    let kinds: Vec<String> = world.backend.take_records().await.iter().map(kind_of).collect();
    assert!(kinds.is_empty(), "neither the enrichment nor the documents again: {kinds:?}");
}

#[tokio::test]
async fn an_error_answer_is_never_recorded_as_details_whatever_its_http_status() {
    for (status, body, expected) in [
        (200, envelope(json!([]), &[], 404), "status_code 404"),
        (
            400,
            envelope(json!([]), &["Invalid metric s_system_capacity_kw"], 400),
            "Invalid metric s_system_capacity_kw",
        ),
        (404, envelope(json!([]), &["Quote matching query does not exist."], 404), "Quote matching query"),
    ] {
        let world = World::new(&[]).await;
        world.stand_in.dal(|dal| {
            dal.answers.insert("system".into(), (status, body.clone()));
        });
        let records = world.deliver(event("rest-contract-signed")).await;
        let (fetcher, lines) = counted(&world, &[]);
        assert_eq!(fetch_with(&fetcher, &records).await.len(), 1, "{status}: retried, then the DLQ");
        let details = world.details(QUOTE).await.unwrap();
        assert_ne!(details.get("status"), Some(&json!("ENRICHED")), "{status}: {details:?}");
        assert!(details.get("values").is_none(), "{status}");
        let error = details["last_error"].as_str().unwrap();
        assert!(error.contains(expected) && error.contains(&status.to_string()), "{status}: {error}");
        let line = emf::parse(&lines.lock().unwrap()[0]).unwrap();
        assert_eq!((line.metric("DetailsFailed"), line.metric("DetailsRecorded")), (1.0, 0.0), "{status}");
        // The error answer is kept as evidence, as it came.
        let keys = world.backend.keys(&format!("dal/{SITE}/{QUOTE}/")).await;
        let kept = keys.iter().find(|key| key.ends_with("-system-p1.json")).expect("the error answer is kept");
        assert_eq!(world.backend.object(kept).await, body.as_bytes(), "{status}");
        assert_eq!(world.backend.metadata(kept).await["status"], status.to_string());
    }
}

#[tokio::test]
async fn a_failed_enrichment_and_a_failed_re_sign_look_up_show_their_reason_in_the_dlq_and_redrive_completes_them() {
    let world = World::new(&[]).await;
    let error = "Invalid metric s_degradation_percent";
    world.stand_in.dal(|dal| {
        dal.answers.insert("system".into(), (400, envelope(json!([]), &[error], 400)));
    });
    let enrich = world.deliver(event("rest-contract-signed")).await;
    assert_eq!(world.fetch(&enrich).await.len(), 1);
    // A re-sign look-up whose details fail the same way.
    let (original, signed) = RE_SIGNED;
    let lookups = world.deliver_re_sign().await;
    assert_eq!(world.fetch(&lookups).await.len(), 1);

    // After their receives, both wait in the DLQ, each with its reason.
    for record in enrich.iter().chain(&lookups) {
        let sqs = world.backend.clients.sqs();
        let body = record.body.clone().unwrap();
        sqs.send_message().queue_url(&world.backend.dlq_url).message_body(body).send().await.unwrap();
    }
    let ops = world.backend.ops();
    let letters = ops.dead_letters().await.unwrap();
    assert_eq!(letters.len(), 2);
    for letter in &letters {
        let reason = letter.reason.as_deref().unwrap_or_default();
        assert!(reason.contains(error), "{letter:?}");
    }
    assert!(letters.iter().any(|l| l.reason.as_deref().unwrap().contains(&format!("re-sign look-up of {original}"))));

    world.stand_in.dal(|dal| dal.answers.clear());
    assert_eq!(ops.redrive().await.unwrap(), 2);
    assert!(world.fetch(&world.backend.take_records().await).await.is_empty());
    assert_eq!(world.details(QUOTE).await.unwrap()["status"], "ENRICHED");
    let milestone_site = serde_json::from_str::<Value>(lookups[0].body.as_deref().unwrap()).unwrap()["site"].clone();
    let (pk, sk) = (format!("SITE#{}", milestone_site.as_str().unwrap()), format!("DETAILS#{signed}"));
    assert_eq!(world.backend.item(&pk, &sk).await.unwrap()["status"], "ENRICHED");
    let job = world.backend.item(&pk, "JOB").await.unwrap();
    assert!(job.get("lookup_error").is_none(), "answered now: the look-up's error goes: {job:?}");
}

#[tokio::test]
async fn the_evidence_is_the_answer_byte_for_byte() {
    let world = World::new(&[]).await;
    // A price with a trailing zero, an escape, keys out of order: as EverBright might write them.
    let body = r#"{"status_code": 200, "data": [{"s_system_retail_price": 187.40, "s_quote_financier_name": "Ever\u0042right \"Solar\""}], "messages": {"warning": [], "error": [], "info": [], "critical": []}}"#;
    world.stand_in.dal(|dal| {
        dal.answers.insert("quote".into(), (200, body.to_owned()));
    });
    let records = world.deliver(event("rest-contract-signed")).await;
    assert!(world.fetch(&records).await.is_empty());
    let keys = world.backend.keys(&format!("dal/{SITE}/{QUOTE}/")).await;
    let kept = keys.iter().find(|key| key.ends_with("-quote-p1.json")).unwrap();
    assert_eq!(world.backend.object(kept).await, body.as_bytes());
    let details = world.details(QUOTE).await.unwrap();
    assert_eq!(details["values"]["system_retail_price"], json!(187.4), "the value is typed; the evidence is as sent");
    assert_eq!(details["values"]["quote_financier_name"], "EverBright \"Solar\"");
}

#[tokio::test]
async fn a_redelivered_enrichment_reads_nothing_and_a_forced_one_writes_the_same_keys() {
    let world = World::new(&[]).await;
    let records = world.deliver(event("rest-contract-signed")).await;
    assert!(world.fetch(&records).await.is_empty());
    let asked = || world.stand_in.seen().iter().filter(|s| s.path.starts_with("/api/")).count();
    let (requests, keys) = (asked(), world.backend.keys("dal/").await);
    let first = world.details(QUOTE).await.unwrap();

    // SQS delivers the same message again: nothing is read, nothing written.
    assert!(world.fetch(&records).await.is_empty());
    assert_eq!(asked(), requests, "no second read of a recorded signature");
    assert_eq!(world.backend.keys("dal/").await, keys);
    assert_eq!(world.details(QUOTE).await.unwrap()["enriched_at"], first["enriched_at"]);

    // The operator's `enrich` forces a read: the same keys again, no new ones.
    world.backend.ops().enrich(&domain::job::JobKey::default_tenant(SITE.parse().unwrap()), None).await.unwrap();
    assert!(world.fetch(&world.backend.take_records().await).await.is_empty());
    assert_eq!(asked(), 2 * requests, "read again");
    assert_eq!(world.backend.keys("dal/").await, keys, "the signature's keys, written again");
    assert_ne!(world.details(QUOTE).await.unwrap()["enriched_at"], first["enriched_at"]);
}

#[tokio::test]
async fn an_answer_cut_short_marks_the_details_incomplete_and_counts_it() {
    let world = World::new(&[("DAL_PAGE_SIZE", "1")]).await;
    world.stand_in.dal(|dal| {
        let row = |count: u32| {
            let Value::Object(row) = json!({"array_module_count": count, "system_capacity_kw": 7.2}) else {
                unreachable!()
            };
            row
        };
        dal.rows.insert("system".into(), (1..=12).map(row).collect());
    });
    let records = world.deliver(event("rest-contract-signed")).await;
    let (fetcher, lines) = counted(&world, &[("DAL_PAGE_SIZE", "1")]);
    assert!(fetch_with(&fetcher, &records).await.is_empty());
    assert_eq!(world.data_requests("system").len(), 10, "ten pages at most");
    let details = world.details(QUOTE).await.unwrap();
    assert_eq!(details["status"], "ENRICHED");
    let incomplete = details["incomplete"].as_array().unwrap();
    assert!(incomplete.len() == 1 && incomplete[0].as_str().unwrap().starts_with("system: more than 10 pages"));
    assert_eq!(details["values"]["array_module_count"].as_array().unwrap().len(), 10, "what was read is kept");
    let line = emf::parse(&lines.lock().unwrap()[0]).unwrap();
    assert_eq!((line.metric("DetailsRecorded"), line.metric("DetailsIncomplete")), (1.0, 1.0));
}

#[tokio::test]
async fn the_signed_baseline_is_asked_by_its_prefix_and_a_re_sign_looks_up_once() {
    let world = World::new(&[]).await;
    let records = world.deliver(event("rest-contract-signed")).await;
    assert!(world.fetch(&records).await.is_empty());
    for seen in world.stand_in.seen().iter().filter(|s| s.path == "/api/data/system/" || s.path == "/api/data/quote/") {
        assert!(!seen.query.contains("baseline="), "{}", seen.query);
        let metrics = seen.query.split('&').find_map(|p| p.strip_prefix("metrics=")).unwrap();
        assert!(metrics.split("%2C").all(|m| m.starts_with("s_")), "{metrics}");
    }

    // A re-sign: the look-up asks the workflow once, and its details do not ask again.
    let world = World::new(&[]).await;
    let lookups = world.deliver_re_sign().await;
    assert!(world.fetch(&lookups).await.is_empty());
    assert_eq!(world.data_requests("workflow").len(), 1, "one look-up");
}

#[tokio::test]
async fn each_document_records_its_preview_link_and_the_job_shows_it() {
    let world = World::new(&[]).await;
    world.deliver(event("rest-contract-signed")).await;
    let documents: Vec<_> = world
        .backend
        .items()
        .await
        .into_iter()
        .filter(|item| item["sk"].as_str().unwrap().starts_with("DOC#"))
        .collect();
    assert_eq!(documents.len(), 10);
    for document in &documents {
        let id = document["document"].as_str().unwrap();
        assert_eq!(document["preview"], format!("/api/v1/document/{id}/preview/"));
    }
    let (_, items) = world.backend.ops().job(Some(SITE.parse().unwrap()), None, None).await.unwrap();
    let shown = everbright_sync::job_view::render(SITE, &world.backend.bucket, &items, true);
    assert_eq!(shown.matches("preview /api/v1/document/").count(), 10, "{shown}");
}
