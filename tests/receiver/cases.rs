//! The receiver's cases, run by `receiver.rs` on moto and by `receiver_strict.rs` with DynamoDB on
//! dynalite: the real handler, the sample events in `events/` and the payloads the seeds allow.

use config::{AuthConfig, KeysConfig};
use integration_tests::{Backend, event, event_json, json_body, kinds, signed_contract_messages, signed_event_as};
use lambda_http::http::StatusCode;
use serde_json::{Value, json};
use sigv4::parse_keys;
use webhook_receiver::AwsReceiver;

/// The backend of the file that runs these cases (moto, or dynalite), for the modules below too.
use super::backend;

#[path = "routes.rs"]
mod routes;
#[path = "signed.rs"]
mod signed;

const CONTRACT_SITE: &str = "SITE#34b6b5ee-f997-4044-86ae-0abbf611fc4d";
const CONTRACT_TASK: &str = "TASK#fb04303e-da8f-413a-b9fc-b91dedf10707";
const CHANGE_ORDER_SITE: &str = "SITE#dc6ca696-819e-44a2-9371-2650a0b37251";

fn receiver(backend: &Backend) -> AwsReceiver {
    AwsReceiver::on_aws(&backend.receiver_config(), &backend.clients)
}

/// A sample event with its body replaced by `payload`.
fn with_body(name: &str, payload: &Value) -> lambda_http::Request {
    let mut json = event_json(name);
    json["body"] = Value::String(payload.to_string());
    lambda_http::request::from_str(&json.to_string()).unwrap()
}

/// Delivers the signed contract and takes its nine document messages and its enrichment off the
/// queue.
async fn deliver_signed_contract(backend: &Backend, receiver: &AwsReceiver) {
    assert_eq!(receiver.handle(event("rest-contract-signed")).await.status(), StatusCode::OK);
    assert_eq!(kinds(&backend.drain_queue().await), signed_contract_messages());
}

fn payload(name: &str) -> Value {
    let path = integration_tests::root().join("events/payloads").join(format!("{name}.json"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[tokio::test]
async fn the_signed_contract_creates_the_job_and_queues_one_message_per_uploaded_document() {
    let backend = super::backend().await;
    let response = receiver(&backend).handle(event("rest-contract-signed")).await;
    assert_eq!(response.status(), StatusCode::OK, "{:?}", json_body(&response));
    let answer = json_body(&response);
    assert_eq!(answer["duplicate"], false);
    assert_eq!(answer["stale"], false);
    assert_eq!(answer["site"], "34b6b5ee-f997-4044-86ae-0abbf611fc4d");
    assert_eq!(answer["queued"].as_array().unwrap().len(), 9);

    let job = backend.item(CONTRACT_SITE, "JOB").await.expect("job summary");
    assert_eq!(job["contract"]["status"], "SIGN");
    assert_eq!(job["contract"]["signed_at"], "2023-07-12T19:22:17.752365Z");
    assert_eq!(job["current_quote"]["quote"], "042e6753-6b06-457d-9efd-70f047f4d348");
    assert_eq!(job["quotes"], json!(["042e6753-6b06-457d-9efd-70f047f4d348"]));
    assert_eq!(job["last_event"]["event"], "contract-status-change");

    let task = backend.item(CONTRACT_SITE, CONTRACT_TASK).await.expect("task item");
    assert_eq!(task["document_status"], "SIGN");
    let documents: Vec<_> =
        backend.items().await.into_iter().filter(|i| i["sk"].as_str().unwrap().starts_with("DOC#")).collect();
    assert_eq!(documents.len(), 10);
    assert_eq!(documents.iter().filter(|d| d["status"] == "QUEUED").count(), 9);
    assert_eq!(documents.iter().filter(|d| d["status"] == "RECORDED").count(), 1);

    let messages = backend.drain_queue().await;
    assert_eq!(kinds(&messages), signed_contract_messages());
    let mut queued: Vec<_> = messages.iter().filter_map(|m| m["document"].as_str()).map(str::to_owned).collect();
    let mut answered: Vec<_> =
        answer["queued"].as_array().unwrap().iter().map(|d| d.as_str().unwrap().to_owned()).collect();
    queued.sort();
    answered.sort();
    assert_eq!(queued, answered);
    assert!(messages.iter().all(|m| m["site"] == "34b6b5ee-f997-4044-86ae-0abbf611fc4d"));
    let enrich = messages.iter().find(|m| m["kind"] == "enrich").unwrap();
    assert_eq!(enrich["quote"], "042e6753-6b06-457d-9efd-70f047f4d348", "the signed contract's quote");
}

#[tokio::test]
async fn delivering_the_same_contract_again_answers_duplicate_and_queues_nothing() {
    let backend = super::backend().await;
    let receiver = receiver(&backend);
    deliver_signed_contract(&backend, &receiver).await;
    let before = backend.items().await;

    let again = receiver.handle(event("rest-contract-signed")).await;
    assert_eq!(again.status(), StatusCode::OK);
    let answer = json_body(&again);
    assert_eq!(answer["duplicate"], true);
    assert_eq!(answer["queued"], json!([]));
    assert!(backend.drain_queue().await.is_empty());
    assert_eq!(backend.items().await, before);
    assert_eq!(backend.keys("raw/").await.len(), 1, "the repeat is archived under the same request id");
}

#[tokio::test]
async fn a_function_url_request_is_applied_like_a_rest_one() {
    let backend = super::backend().await;
    let response = receiver(&backend).handle(event("url-contract-signed")).await;
    assert_eq!(response.status(), StatusCode::OK, "{:?}", json_body(&response));
    assert_eq!(json_body(&response)["queued"].as_array().unwrap().len(), 9);
    assert_eq!(kinds(&backend.drain_queue().await), signed_contract_messages());
}

#[tokio::test]
async fn the_change_order_moves_the_jobs_current_quote() {
    let backend = super::backend().await;
    let receiver = receiver(&backend);
    // The original contract on the change order's site, signed a month before the change order.
    let contract = json!({
        "uuid": "0b6f0c1e-4d2a-4f7e-9a51-2c3d4e5f6a7b",
        "site": "dc6ca696-819e-44a2-9371-2650a0b37251",
        "quote": "11111111-2222-4333-8444-555555555555",
        "date_updated": "2021-05-01T00:00:00Z",
        "sub_tasks": [{"category": "DOCUMENT", "document_status": "SIGN", "data": {
            "documents": [],
            "envelopes": [{"status": "COMP", "date_signed": "2021-05-01T00:00:00Z"}]}}]
    });
    let response = receiver.handle(with_body("rest-contract-signed", &contract)).await;
    assert_eq!(response.status(), StatusCode::OK);
    let job = backend.item(CHANGE_ORDER_SITE, "JOB").await.unwrap();
    assert_eq!(job["current_quote"]["quote"], "11111111-2222-4333-8444-555555555555");

    let response = receiver.handle(event("rest-change-order-signed")).await;
    assert_eq!(response.status(), StatusCode::OK, "{:?}", json_body(&response));
    let job = backend.item(CHANGE_ORDER_SITE, "JOB").await.unwrap();
    assert_eq!(job["current_quote"]["quote"], "f402dbad-d8c1-4791-8ce1-b5b585027ffb");
    assert_eq!(job["current_quote"]["source"], "change_order");
    assert_eq!(job["change_order"]["status"], "SIGN");
    let mut quotes = job["quotes"].as_array().unwrap().clone();
    quotes.sort_by_key(|q| q.to_string());
    assert_eq!(quotes, [json!("11111111-2222-4333-8444-555555555555"), json!("f402dbad-d8c1-4791-8ce1-b5b585027ffb")]);
    let found = backend.item(CHANGE_ORDER_SITE, "QUOTE#f402dbad-d8c1-4791-8ce1-b5b585027ffb").await;
    assert!(found.is_some(), "the new quote is indexed");
}

#[tokio::test]
async fn an_older_contract_event_after_a_newer_one_leaves_the_state_as_it_was() {
    let backend = super::backend().await;
    let receiver = receiver(&backend);
    assert_eq!(receiver.handle(event("rest-contract-signed")).await.status(), StatusCode::OK);
    let before: Vec<_> = backend.items().await.into_iter().filter(|i| i["sk"] != "JOB").collect();
    let job_before = backend.item(CONTRACT_SITE, "JOB").await.unwrap();

    // The same contract as it was when sent, before anyone signed: older activity, status SENT.
    let mut sent = payload("contract-signed");
    let sub_task = &mut sent["sub_tasks"][0];
    sub_task["document_status"] = json!("SENT");
    sub_task["status"] = json!("INPROG");
    sub_task["data"]["documents"] = json!([sub_task["data"]["documents"][0].clone()]);
    sub_task["data"]["envelopes"][0]["date_signed"] = Value::Null;
    sub_task["data"]["envelopes"][0]["status"] = json!("SENT");
    sent["comments"] = json!([]);
    let response = receiver.handle(with_body("rest-contract-signed", &sent)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(json_body(&response)["stale"], true);

    let after: Vec<_> = backend.items().await.into_iter().filter(|i| i["sk"] != "JOB").collect();
    let after: Vec<_> = after.into_iter().filter(|i| !i["pk"].as_str().unwrap().starts_with("EVENT#")).collect();
    let before: Vec<_> = before.into_iter().filter(|i| !i["pk"].as_str().unwrap().starts_with("EVENT#")).collect();
    assert_eq!(after, before);
    let job_after = backend.item(CONTRACT_SITE, "JOB").await.unwrap();
    for attribute in ["contract", "current_quote", "quotes", "site"] {
        assert_eq!(job_after[attribute], job_before[attribute], "{attribute}");
    }
    assert_eq!(
        kinds(&backend.drain_queue().await),
        signed_contract_messages(),
        "only the first delivery queued documents (and the signature's enrichment)"
    );
}

#[tokio::test]
async fn malformed_json_answers_400_is_archived_and_changes_nothing_else() {
    let backend = super::backend().await;
    let response = receiver(&backend).handle(event("rest-bad-malformed-json")).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let error = json_body(&response)["error"].as_str().unwrap().to_owned();
    assert!(error.contains("not a valid contract-status-change payload"), "{error}");
    assert!(error.contains("EOF") || error.contains("line"), "{error}");

    let keys = backend.keys("raw/").await;
    assert_eq!(keys.len(), 1);
    assert!(keys[0].starts_with("raw/contract-status-change/2023/07/12/"), "{}", keys[0]);
    let archived: Value = serde_json::from_slice(&backend.object(&keys[0]).await).unwrap();
    let sent = event_json("rest-bad-malformed-json")["body"].as_str().unwrap().to_owned();
    let raw: domain::archive::RawRequest = serde_json::from_value(archived.clone()).unwrap();
    assert_eq!(raw.body().unwrap(), sent.as_bytes(), "the body is archived byte for byte");
    assert!(archived["headers"].get("authorization").is_none(), "credentials are not archived");
    assert_eq!(archived["caller"]["arn"], integration_tests::EVERBRIGHT_ARN);

    assert!(backend.items().await.is_empty());
    assert!(backend.drain_queue().await.is_empty());
}

#[tokio::test]
async fn oversized_bodies_deep_json_and_header_floods_get_their_own_4xx_are_archived_and_change_nothing() {
    let backend = super::backend().await;
    let receiver = receiver(&backend);
    let site = "34b6b5ee-f997-4044-86ae-0abbf611fc4d";
    // Each its own request id, so each its own archive record.
    let request = |mut json: Value| {
        json["requestContext"]["requestId"] = json!(uuid::Uuid::new_v4().to_string());
        lambda_http::request::from_str(&json.to_string()).unwrap()
    };
    let with_body = |payload: &Value| {
        let mut json = event_json("rest-site-archived");
        json["body"] = Value::String(payload.to_string());
        request(json)
    };

    let padding = "x".repeat(domain::event::MAX_BODY_BYTES);
    let response = receiver.handle(with_body(&json!({ "site": site, "pad": padding }))).await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(json_body(&response)["error"].as_str().unwrap().contains("largest accepted is 1048576"));

    let mut deep = json!({ "site": site });
    for _ in 0..40 {
        deep = json!({ "site": site, "nested": deep });
    }
    let response = receiver.handle(with_body(&deep)).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(json_body(&response)["error"].as_str().unwrap().contains("deeper than 32 levels"));

    let mut flood = event_json("rest-site-archived");
    for i in 0..=webhook_receiver::MAX_HEADERS {
        flood["headers"][format!("x-extra-{i}")] = json!("1");
        flood["multiValueHeaders"][format!("x-extra-{i}")] = json!(["1"]);
    }
    let response = receiver.handle(request(flood)).await;
    assert_eq!(response.status(), StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    assert!(json_body(&response)["error"].as_str().unwrap().contains("the most accepted is 100"));

    assert_eq!(backend.keys("raw/").await.len(), 3, "each refused request is archived");
    assert!(backend.items().await.is_empty());
    assert!(backend.drain_queue().await.is_empty());
}

#[tokio::test]
async fn a_payload_without_its_site_answers_400_naming_it() {
    let backend = super::backend().await;
    let response = receiver(&backend).handle(event("rest-bad-missing-site")).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(json_body(&response)["error"].as_str().unwrap().contains("missing field `site`"));
    assert_eq!(backend.keys("raw/").await.len(), 1);
    assert!(backend.items().await.is_empty());
}

#[tokio::test]
async fn a_wrong_method_and_an_unknown_route_are_refused_and_archived() {
    let backend = super::backend().await;
    let receiver = receiver(&backend);
    let response = receiver.handle(event("rest-bad-wrong-method")).await;
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    let response = receiver.handle(event("rest-bad-unknown-route")).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert!(json_body(&response)["error"].as_str().unwrap().contains("contract-status-change"));
    let keys = backend.keys("raw/").await;
    assert_eq!(keys.len(), 2);
    assert!(keys.iter().any(|k| k.starts_with("raw/unrouted/")), "{keys:?}");
    assert!(backend.items().await.is_empty());
}

#[tokio::test]
async fn a_caller_outside_the_allowed_principals_gets_403_and_nothing_is_written() {
    let backend = super::backend().await;
    for identity in [json!("arn:aws:iam::123456789012:user/someone-else"), Value::Null] {
        let mut request = event_json("rest-contract-signed");
        request["requestContext"]["identity"]["userArn"] = identity;
        let request = lambda_http::request::from_str(&request.to_string()).unwrap();
        let response = receiver(&backend).handle(request).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
    }
    assert!(backend.keys("").await.is_empty(), "nothing archived");
    assert!(backend.items().await.is_empty(), "nothing in the table");
    assert!(backend.drain_queue().await.is_empty(), "nothing queued");
}

#[tokio::test]
async fn a_delivery_that_failed_half_way_is_applied_when_retried() {
    let backend = super::backend().await;
    let mut config = backend.receiver_config();
    config.fetch_queue_url = format!("{}-missing", backend.queue_url);
    let broken = AwsReceiver::on_aws(&config, &backend.clients);
    let response = broken.handle(event("rest-contract-signed")).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(json_body(&response)["error"].as_str().unwrap().contains("retry"));

    let response = receiver(&backend).handle(event("rest-contract-signed")).await;
    assert_eq!(response.status(), StatusCode::OK);
    let answer = json_body(&response);
    assert_eq!(answer["duplicate"], false);
    assert_eq!(answer["queued"].as_array().unwrap().len(), 9, "the retry queues what the failed attempt could not");
    assert_eq!(kinds(&backend.drain_queue().await), signed_contract_messages());
}

#[tokio::test]
async fn when_the_archive_is_down_the_answer_is_503_and_nothing_is_applied() {
    let backend = super::backend().await;
    let mut config = backend.receiver_config();
    config.documents_bucket = "no-such-bucket".into();
    let response = AwsReceiver::on_aws(&config, &backend.clients).handle(event("rest-contract-signed")).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(backend.items().await.is_empty());
    assert!(backend.drain_queue().await.is_empty());
}

#[tokio::test]
async fn a_milestone_records_its_tasks_and_queues_its_upload_and_a_re_sign_its_look_up() {
    let backend = super::backend().await;
    let response = receiver(&backend).handle(event("rest-milestone-approved")).await;
    assert_eq!(response.status(), StatusCode::OK, "{:?}", json_body(&response));
    let site = "SITE#157802b4-99aa-4437-b250-934df337766a";
    let job = backend.item(site, "JOB").await.unwrap();
    assert_eq!(job["milestone:7a605ec8-d276-4d6c-bd47-52a483e28783"]["status"], "APPROVED");
    assert!(backend.item(site, "TASK#9cd85c68-8e8b-4721-b7d9-ca021aaca6b0").await.is_some());
    let kinds: Vec<_> = backend.drain_queue().await.iter().map(|m| m["kind"].as_str().unwrap().to_owned()).collect();
    assert_eq!(kinds, ["fetch_document"], "nothing suggests a re-sign");

    let response = receiver(&backend).handle(integration_tests::re_signed_milestone()).await;
    assert_eq!(response.status(), StatusCode::OK, "{:?}", json_body(&response));
    let mut kinds: Vec<_> =
        backend.drain_queue().await.iter().map(|m| m["kind"].as_str().unwrap().to_owned()).collect();
    kinds.sort();
    assert_eq!(kinds, ["resolve_signed_quote"], "a re-sign completed within the milestone is looked up");
}

#[tokio::test]
async fn a_stage_transition_and_an_archived_site_show_on_the_job() {
    let backend = super::backend().await;
    let receiver = receiver(&backend);
    assert_eq!(receiver.handle(event("rest-stage-transition")).await.status(), StatusCode::OK);
    let job = backend.item(CONTRACT_SITE, "JOB").await.unwrap();
    assert_eq!(job["stage"]["name"], "Installation");
    assert_eq!(receiver.handle(event("rest-site-archived")).await.status(), StatusCode::OK);
    let job = backend.item("SITE#b0c16879-5c5f-4dd9-8442-65cc594372ed", "JOB").await.unwrap();
    assert!(job["archived"].is_object());
}

#[tokio::test]
async fn a_void_after_sign_is_recorded_and_keeps_the_documents() {
    let backend = super::backend().await;
    let receiver = receiver(&backend);
    deliver_signed_contract(&backend, &receiver).await;

    let mut voided = payload("contract-signed");
    voided["sub_tasks"][0]["document_status"] = json!("VOID");
    voided["sub_tasks"][0]["data"]["envelopes"][0]["status"] = json!("VOID");
    voided["sub_tasks"][0]["data"]["envelopes"][0]["date_voided"] = json!("2023-08-01T10:00:00.000000Z");
    let response = receiver.handle(with_body("rest-contract-signed", &voided)).await;
    assert_eq!(response.status(), StatusCode::OK);
    let answer = json_body(&response);
    assert_eq!(answer["stale"], false);
    assert_eq!(answer["queued"], json!([]));

    let job = backend.item(CONTRACT_SITE, "JOB").await.unwrap();
    assert_eq!(job["contract"]["status"], "VOID");
    assert_eq!(backend.item(CONTRACT_SITE, CONTRACT_TASK).await.unwrap()["document_status"], "VOID");
    let documents: Vec<_> =
        backend.items().await.into_iter().filter(|i| i["sk"].as_str().unwrap().starts_with("DOC#")).collect();
    assert_eq!(documents.iter().filter(|d| d["status"] == "QUEUED").count(), 9, "the signed documents stay");
    assert!(backend.drain_queue().await.is_empty());
}

#[tokio::test]
async fn every_sample_request_gets_its_answer() {
    let backend = super::backend().await;
    let receiver = receiver(&backend);
    for name in integration_tests::REST_EVENTS {
        let response = receiver.handle(event(name)).await;
        let expected = match name {
            "rest-bad-malformed-json" | "rest-bad-missing-site" => StatusCode::BAD_REQUEST,
            "rest-bad-unknown-route" => StatusCode::NOT_FOUND,
            "rest-bad-wrong-method" => StatusCode::METHOD_NOT_ALLOWED,
            _ => StatusCode::OK,
        };
        assert_eq!(response.status(), expected, "{name}: {:?}", json_body(&response));
    }
    let response = receiver.handle(event("url-contract-signed")).await;
    assert_eq!(response.status(), StatusCode::OK, "{:?}", json_body(&response));
    assert_eq!(json_body(&response)["duplicate"], true, "the same contract as rest-contract-signed");
}

/// Items in the quote index: every one holds `quote` as a string, as DynamoDB requires.
async fn assert_quote_index_keys_are_strings(backend: &Backend) {
    for item in backend.items().await {
        if let Some(quote) = item.get("quote") {
            assert!(quote.as_str().is_some_and(|q| !q.is_empty()), "{item:?}");
        }
    }
}

#[tokio::test]
async fn a_contract_whose_quote_is_null_none_or_empty_is_applied_without_one() {
    for quote in [Value::Null, json!("None"), json!("")] {
        let backend = super::backend().await;
        let mut contract = payload("contract-signed");
        contract["quote"] = quote.clone();
        let response = receiver(&backend).handle(with_body("rest-contract-signed", &contract)).await;
        assert_eq!(response.status(), StatusCode::OK, "quote {quote}: {:?}", json_body(&response));
        assert_eq!(json_body(&response)["queued"].as_array().unwrap().len(), 9);

        let task = backend.item(CONTRACT_SITE, CONTRACT_TASK).await.expect("task item");
        assert!(task.get("quote").is_none(), "quote {quote}: {task:?}");
        let job = backend.item(CONTRACT_SITE, "JOB").await.expect("job");
        assert_eq!(job["contract"]["status"], "SIGN");
        assert!(job.get("current_quote").is_none() && job.get("quotes").is_none(), "{job:?}");
        assert_quote_index_keys_are_strings(&backend).await;
        let messages = backend.drain_queue().await;
        assert!(messages.iter().all(|m| m["quote"].is_null()), "{messages:?}");
    }
}

#[tokio::test]
async fn a_milestone_without_a_quote_is_applied_and_looks_nothing_up() {
    let backend = super::backend().await;
    let mut milestone = payload("milestone-approved");
    milestone.as_object_mut().unwrap().remove("quote");
    let response = receiver(&backend).handle(with_body("rest-milestone-approved", &milestone)).await;
    assert_eq!(response.status(), StatusCode::OK, "{:?}", json_body(&response));
    let site = "SITE#157802b4-99aa-4437-b250-934df337766a";
    let item = backend.item(site, "MILESTONE#7a605ec8-d276-4d6c-bd47-52a483e28783").await.expect("milestone");
    assert!(item.get("quote").is_none(), "{item:?}");
    assert_quote_index_keys_are_strings(&backend).await;
    let kinds: Vec<_> = backend.drain_queue().await.iter().map(|m| m["kind"].as_str().unwrap().to_owned()).collect();
    assert_eq!(kinds, ["fetch_document"]);
}
