//! The receiver's cases, run by `receiver.rs` on moto and by `receiver_strict.rs` with DynamoDB on
//! dynalite: the real handler, the sample events in `events/` and the payloads the seeds allow.

use config::{AuthConfig, KeysConfig};
use integration_tests::{Backend, event, event_json, json_body, kinds, signed_contract_messages, signed_event_as};
use lambda_http::http::StatusCode;
use serde_json::{Value, json};
use sigv4::parse_keys;
use webhook_receiver::AwsReceiver;

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

/// A new request (its own request id) on `route`, shaped as the sample `name`, carrying `payload`.
fn new_request(name: &str, route: &str, payload: &Value) -> lambda_http::Request {
    new_request_with(name, route, payload.to_string(), "application/json")
}

fn new_request_with(name: &str, route: &str, body: String, content_type: &str) -> lambda_http::Request {
    let mut json = event_json(name);
    json["path"] = json!(format!("/webhooks/{route}"));
    json["pathParameters"]["event"] = json!(route);
    json["requestContext"]["path"] = json!(format!("/prod/webhooks/{route}"));
    json["requestContext"]["requestId"] = json!(uuid::Uuid::new_v4().to_string());
    json["headers"]["Content-Type"] = json!(content_type);
    json["multiValueHeaders"]["Content-Type"] = json!([content_type]);
    json["body"] = Value::String(body);
    lambda_http::request::from_str(&json.to_string()).unwrap()
}

const STAGE_SITE: &str = "34b6b5ee-f997-4044-86ae-0abbf611fc4d";

fn transition(from: &str, to: &str) -> Value {
    json!({
        "previous_stage_id": from, "previous_stage_name": format!("Stage {from}"),
        "site_id": STAGE_SITE, "site_owned_by_organization": "825bca13-d78e-483a-96b3-6a18fb5779b4",
        "stage_id": to, "stage_name": format!("Stage {to}"),
    })
}

/// Sends the transitions in turn, each a new request; answers each answer's `stale`.
async fn move_stages(receiver: &AwsReceiver, moves: &[(&str, &str)]) -> Vec<bool> {
    let mut stale = Vec::new();
    for (from, to) in moves {
        let response =
            receiver.handle(new_request("rest-stage-transition", "stage-transition", &transition(from, to))).await;
        assert_eq!(response.status(), StatusCode::OK, "{from}->{to}: {:?}", json_body(&response));
        let answer = json_body(&response);
        assert_eq!(answer["duplicate"], false, "a transition is never a body duplicate");
        stale.push(answer["stale"].as_bool().unwrap());
    }
    stale
}

async fn stage_of(backend: &Backend) -> Value {
    backend.item(CONTRACT_SITE, "JOB").await.expect("job")["stage"].clone()
}

#[tokio::test]
async fn a_site_moved_there_back_and_there_again_ends_in_the_last_stage() {
    let backend = super::backend().await;
    let receiver = receiver(&backend);
    // The third body is the first one again: it is applied, not taken for a duplicate.
    let stale = move_stages(&receiver, &[("A", "B"), ("B", "A"), ("A", "B")]).await;
    assert_eq!(stale, [false, false, false]);
    assert_eq!(stage_of(&backend).await["id"], "B");
    assert_eq!(stage_of(&backend).await["previous_id"], "A");
}

#[tokio::test]
async fn the_same_transition_twice_in_a_row_changes_the_job_once() {
    let backend = super::backend().await;
    let receiver = receiver(&backend);
    move_stages(&receiver, &[("A", "B")]).await;
    let job = backend.item(CONTRACT_SITE, "JOB").await.unwrap();
    let stale = move_stages(&receiver, &[("A", "B")]).await;
    assert_eq!(stale, [true], "the repeat leaves a stage it is not in");
    assert_eq!(backend.item(CONTRACT_SITE, "JOB").await.unwrap(), job, "nothing on the job changed");
}

#[tokio::test]
async fn a_later_transition_that_arrives_first_is_kept() {
    let backend = super::backend().await;
    let receiver = receiver(&backend);
    let stale = move_stages(&receiver, &[("B", "C"), ("A", "B")]).await;
    assert_eq!(stale, [false, true]);
    assert_eq!(stage_of(&backend).await["id"], "C");
}

#[tokio::test]
async fn one_body_on_two_routes_is_two_events() {
    let backend = super::backend().await;
    let receiver = receiver(&backend);
    let body = payload("site-archived");
    for (route, duplicate) in [("site-archived", false), ("proposal-action", false), ("site-archived", true)] {
        let response = receiver.handle(new_request("rest-site-archived", route, &body)).await;
        assert_eq!(response.status(), StatusCode::OK, "{:?}", json_body(&response));
        assert_eq!(json_body(&response)["duplicate"], duplicate, "{route}");
    }
    let deliveries: Vec<_> =
        backend.items().await.into_iter().filter(|i| i["pk"].as_str().unwrap().starts_with("EVENT#")).collect();
    assert_eq!(deliveries.len(), 2, "one record per route: {deliveries:?}");
}

#[tokio::test]
async fn a_proposal_action_that_names_no_site_is_accepted_archived_counted_and_changes_nothing() {
    let backend = super::backend().await;
    let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let kept = lines.clone();
    let receiver = receiver(&backend).with_metrics(std::sync::Arc::new(move |line| kept.lock().unwrap().push(line)));
    let body = json!({"proposal": {"id": 7, "action": "ACCEPTED"}, "organization": "x"});
    let response = receiver.handle(new_request("rest-site-archived", "proposal-action", &body)).await;
    assert_eq!(response.status(), StatusCode::OK, "{:?}", json_body(&response));
    let answer = json_body(&response);
    assert_eq!(answer["unattributed"], true);
    assert_eq!(answer["site"], Value::Null);
    assert_eq!(backend.keys("raw/proposal-action/").await.len(), 1, "archived");
    assert!(backend.items().await.is_empty(), "no job, no delivery record");
    assert!(backend.drain_queue().await.is_empty());
    let lines = lines.lock().unwrap();
    let line = integration_tests::emf::parse(&lines[0]).unwrap();
    assert_eq!((lines.len(), line.metric("Unattributed"), line.metric("Refused")), (1, 1.0, 0.0));
}

#[tokio::test]
async fn a_form_urlencoded_body_answers_415_naming_json_is_archived_and_changes_nothing() {
    let backend = super::backend().await;
    let body = "site=34b6b5ee-f997-4044-86ae-0abbf611fc4d&date_updated=2019-12-02".to_owned();
    let request = new_request_with("rest-site-archived", "site-archived", body, "application/x-www-form-urlencoded");
    let response = receiver(&backend).handle(request).await;
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let error = json_body(&response)["error"].as_str().unwrap().to_owned();
    assert!(error.contains("application/x-www-form-urlencoded") && error.contains("JSON"), "{error}");
    assert_eq!(backend.keys("raw/site-archived/").await.len(), 1, "archived");
    assert!(backend.items().await.is_empty());
}

#[tokio::test]
async fn typed_fields_not_in_their_form_are_kept_as_sent_and_ignored() {
    let backend = super::backend().await;
    let mut contract = payload("contract-signed");
    contract["quote"] = json!("Q-1042");
    contract["date_updated"] = json!("yesterday");
    let response =
        receiver(&backend).handle(new_request("rest-contract-signed", "contract-status-change", &contract)).await;
    assert_eq!(response.status(), StatusCode::OK, "{:?}", json_body(&response));
    let job = backend.item(CONTRACT_SITE, "JOB").await.unwrap();
    assert_eq!(job["contract"]["status"], "SIGN");
    assert!(job.get("current_quote").is_none());
    let key = &backend.keys("raw/").await[0];
    let raw: domain::archive::RawRequest = serde_json::from_slice(&backend.object(key).await).unwrap();
    let archived: Value = serde_json::from_slice(&raw.body().unwrap()).unwrap();
    assert_eq!(archived["quote"], "Q-1042", "the archive keeps the body as sent");
}

#[tokio::test]
async fn an_event_without_a_time_of_its_own_is_a_duplicate_only_within_the_retry_window() {
    let backend = super::backend().await;
    let receiver = receiver(&backend);
    let body = json!({"site": "b0c16879-5c5f-4dd9-8442-65cc594372ed", "invoice": {"status": "PAID"}});
    let first = receiver.handle(new_request("rest-site-archived", "invoice-status-change", &body)).await;
    assert_eq!(json_body(&first)["duplicate"], false);
    let retry = receiver.handle(new_request("rest-site-archived", "invoice-status-change", &body)).await;
    assert_eq!(json_body(&retry)["duplicate"], true, "a retry within the window");

    // The record says until when; past it, the same body is a new event.
    let records: Vec<_> =
        backend.items().await.into_iter().filter(|i| i["pk"].as_str().unwrap().starts_with("EVENT#")).collect();
    let expires = records[0]["expires_at"].as_i64().unwrap();
    let window = expires - domain::timestamp::Timestamp::now().unix_seconds();
    assert!((14 * 60..=15 * 60).contains(&window), "{window} s");
    let key = aws_sdk_dynamodb::types::AttributeValue::S;
    backend
        .clients
        .dynamodb
        .update_item()
        .table_name(&backend.table)
        .key("pk", key(records[0]["pk"].as_str().unwrap().to_owned()))
        .key("sk", key("EVENT".into()))
        .update_expression("SET expires_at = :past")
        .expression_attribute_values(
            ":past",
            aws_sdk_dynamodb::types::AttributeValue::N((expires - 16 * 60).to_string()),
        )
        .send()
        .await
        .unwrap();
    let later = receiver.handle(new_request("rest-site-archived", "invoice-status-change", &body)).await;
    assert_eq!(json_body(&later)["duplicate"], false, "after the window, a new event");
}

#[tokio::test]
async fn a_copy_arriving_while_the_first_is_being_applied_answers_503_with_retry_after() {
    use domain::ports::DeliveryLedger;
    use sha2::{Digest, Sha256};

    let backend = super::backend().await;
    // Another request holds the delivery's claim, its lease live: it is being applied right now.
    let body = event_json("rest-site-archived")["body"].as_str().unwrap().to_owned();
    let now = domain::timestamp::Timestamp::now();
    let other = domain::ports::Delivery {
        tenant: domain::tenant::TenantId::default_tenant(),
        event: domain::event::EventType::SiteArchived,
        body_sha256: hex::encode(Sha256::digest(body.as_bytes())),
        event_id: "the-first-copy".into(),
        now,
        remember_until: now.plus_seconds(86_400),
    };
    let store = aws::DynamoJobStore::new(backend.clients.dynamodb.clone(), &backend.table);
    assert_eq!(store.claim_delivery(&other).await.unwrap(), domain::ports::Claim::New);

    let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let kept = lines.clone();
    let receiver = receiver(&backend).with_metrics(std::sync::Arc::new(move |line| kept.lock().unwrap().push(line)));
    let response = receiver.handle(event("rest-site-archived")).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE, "any sender retries a 503");
    assert_eq!(response.headers()["retry-after"], "5");
    assert!(json_body(&response)["error"].as_str().unwrap().contains("being applied right now"));
    let line = integration_tests::emf::parse(&lines.lock().unwrap()[0]).unwrap();
    assert_eq!((line.metric("Failed"), line.metric("Refused")), (0.0, 0.0), "not a failure: the first copy applies it");
}

#[tokio::test]
async fn a_path_with_dot_segments_encoded_dots_backslashes_or_empty_segments_is_refused_with_400() {
    let backend = super::backend().await;
    let receiver = receiver(&backend);
    for path in [
        "/prod/webhooks/../webhooks/contract-status-change",
        "/prod/webhooks/%2e%2e/webhooks/contract-status-change",
        "/prod/webhooks/%2E/contract-status-change",
        "/prod//webhooks/contract-status-change",
        "/prod/webhooks\\contract-status-change",
        "/prod/./webhooks/contract-status-change",
    ] {
        // The path that was signed and is routed on: the REST API's requestContext.path.
        let mut request = event_json("rest-contract-signed");
        request["requestContext"]["path"] = json!(path);
        request["requestContext"]["requestId"] = json!(uuid::Uuid::new_v4().to_string());
        let response = receiver.handle(lambda_http::request::from_str(&request.to_string()).unwrap()).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{path}: {:?}", json_body(&response));
        assert!(json_body(&response)["error"].as_str().unwrap().contains("path"), "{path}");
    }
    assert!(backend.items().await.is_empty(), "nothing applied");
    assert_eq!(backend.keys("raw/").await.len(), 6, "each archived");
}

const SIGNING_KEY: &str = "AKIAEVERBRIGHTLOCAL";
const SIGNING_SECRET: &str = "everbright-local-secret";

fn sigv4_receiver(backend: &Backend) -> AwsReceiver {
    let mut config = backend.receiver_config();
    config.auth = AuthConfig::Sigv4 {
        region: "us-east-1".into(),
        service: "execute-api".into(),
        keys: KeysConfig::Plain(parse_keys(&format!("{SIGNING_KEY}:{SIGNING_SECRET}")).unwrap()),
    };
    AwsReceiver::on_aws(&config, &backend.clients)
}

/// A sample event as a client signing with `secret` at `at` would send it through the gateway at
/// `endpoint`; `tamper` changes the event after signing.
fn signed_event(name: &str, endpoint: &str, secret: &str, tamper: impl FnOnce(&mut Value)) -> lambda_http::Request {
    signed_event_as(name, endpoint, SIGNING_KEY, secret, tamper)
}

const REST_ENDPOINT: &str = "https://a1b2c3d4e5.execute-api.us-east-1.amazonaws.com/prod";

/// Names and values, in order.
type Pairs = Vec<(String, String)>;

/// What botocore's `SigV4Auth` signs for a POST to `url` with a query of spaces, `+`, non-ASCII and
/// a repeated name, and a repeated header: the query as sent, the query as API Gateway's REST API
/// decodes it (`+` is a space, `%2B` a plus), and the headers in order, repeats included.
fn botocore_signed(url: &str, secret: &str, body: &str) -> (String, Pairs, Pairs) {
    let script = r#"
import json, sys
from urllib.parse import quote, urlencode, urlsplit, parse_qsl
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
url, key, secret, body = sys.argv[1:5]
params = [("note", "two words"), ("sum", "1+1"), ("name", "Zoë"), ("tag", "b"), ("tag", "a")]
request = AWSRequest(method="POST", url=url, data=body.encode(), params=params, headers={"Content-Type": "application/json"})
request.headers.add_header("X-Everbright-Trace", "one")
request.headers.add_header("X-Everbright-Trace", "two")
SigV4Auth(Credentials(key, secret), "execute-api", "us-east-1").add_auth(request)
query = urlencode(params, quote_via=quote, safe="-_.~")
headers = [["Host", urlsplit(url).netloc]] + [[k, v] for k, v in request.headers.items()]
print(json.dumps({"query": query, "decoded": parse_qsl(query, keep_blank_values=True), "headers": headers}))
"#;
    let output = std::process::Command::new(integration_tests::root().join(".venv/bin/python"))
        .args(["-c", script, url, SIGNING_KEY, secret, body])
        .output()
        .expect("botocore runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let signed: Value = serde_json::from_slice(&output.stdout).unwrap();
    let pairs = |v: &Value| -> Vec<(String, String)> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|p| (p[0].as_str().unwrap().to_owned(), p[1].as_str().unwrap().to_owned()))
            .collect()
    };
    let headers = pairs(&signed["headers"]);
    let authorization = &headers.iter().find(|(n, _)| n == "Authorization").unwrap().1;
    assert!(authorization.contains("x-everbright-trace"), "the repeated header is signed: {authorization}");
    (signed["query"].as_str().unwrap().to_owned(), pairs(&signed["decoded"]), headers)
}

/// The event API Gateway's REST API hands the function for `headers` and the decoded query:
/// `headers` holds the last value of a repeated name, `multiValueHeaders` all of them.
fn rest_event(body: &str, decoded: &[(String, String)], headers: &[(String, String)]) -> Value {
    let mut json = event_json("rest-contract-signed");
    let (mut single, mut multi) = (serde_json::Map::new(), serde_json::Map::new());
    for (name, value) in headers {
        single.insert(name.clone(), json!(value));
        multi.entry(name.clone()).or_insert_with(|| json!([])).as_array_mut().unwrap().push(json!(value));
    }
    let (mut last, mut all) = (serde_json::Map::new(), serde_json::Map::new());
    for (name, value) in decoded {
        last.insert(name.clone(), json!(value));
        all.entry(name.clone()).or_insert_with(|| json!([])).as_array_mut().unwrap().push(json!(value));
    }
    json["headers"] = Value::Object(single);
    json["multiValueHeaders"] = Value::Object(multi);
    json["queryStringParameters"] = Value::Object(last);
    json["multiValueQueryStringParameters"] = Value::Object(all);
    json["body"] = json!(body);
    json
}

#[tokio::test]
async fn in_sigv4_mode_a_botocore_signed_request_with_a_repeated_header_and_an_encoded_query_is_accepted() {
    let backend = super::backend().await;
    let receiver = sigv4_receiver(&backend);
    let body = event_json("rest-contract-signed")["body"].as_str().unwrap().to_owned();

    // Behind the REST API: the function sees the gateway's maps, not the wire.
    let url = format!("{REST_ENDPOINT}/webhooks/contract-status-change");
    let (_, decoded, headers) = botocore_signed(&url, SIGNING_SECRET, &body);
    let event = rest_event(&body, &decoded, &headers);
    let response = receiver.handle(webhook_receiver::request_from_event(&event.to_string()).unwrap()).await;
    assert_eq!(response.status(), StatusCode::OK, "REST API: {:?}", json_body(&response));

    // Behind a Function URL: the raw query, repeated headers joined with commas.
    let endpoint = "https://abcdefghijklmnopqrstuvwxyz012345.lambda-url.us-east-1.on.aws";
    let (query, _, headers) =
        botocore_signed(&format!("{endpoint}/webhooks/contract-status-change"), SIGNING_SECRET, &body);
    let mut event = event_json("url-contract-signed");
    let mut joined = serde_json::Map::new();
    for (name, value) in &headers {
        let name = name.to_ascii_lowercase();
        let merged = match joined.get(&name).and_then(Value::as_str) {
            Some(before) => format!("{before},{value}"),
            None => value.clone(),
        };
        joined.insert(name, json!(merged));
    }
    event["headers"] = Value::Object(joined);
    event["rawQueryString"] = json!(query);
    event["body"] = json!(body);
    let response = receiver.handle(webhook_receiver::request_from_event(&event.to_string()).unwrap()).await;
    assert_eq!(response.status(), StatusCode::OK, "Function URL: {:?}", json_body(&response));

    // The same REST request with the second value of the repeated header changed is refused.
    let (_, decoded, mut headers) = botocore_signed(&url, SIGNING_SECRET, &body);
    let first = headers.iter().position(|(n, _)| n == "X-Everbright-Trace").unwrap();
    headers[first].1 = "changed".into();
    let event = rest_event(&body, &decoded, &headers);
    let response = receiver.handle(webhook_receiver::request_from_event(&event.to_string()).unwrap()).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN, "a changed first value");
}

#[tokio::test]
async fn in_sigv4_mode_a_correctly_signed_request_is_applied_and_its_key_archived() {
    let backend = super::backend().await;
    let response = sigv4_receiver(&backend)
        .handle(signed_event("rest-contract-signed", REST_ENDPOINT, SIGNING_SECRET, |_| {}))
        .await;
    assert_eq!(response.status(), StatusCode::OK, "{:?}", json_body(&response));
    assert_eq!(json_body(&response)["queued"].as_array().unwrap().len(), 9);
    let keys = backend.keys("raw/").await;
    let archived: Value = serde_json::from_slice(&backend.object(&keys[0]).await).unwrap();
    assert_eq!(archived["caller"]["access_key"], SIGNING_KEY);
    assert!(archived["headers"].get("authorization").is_none());
}

#[tokio::test]
async fn in_sigv4_mode_a_function_url_request_is_verified_on_its_raw_path() {
    let backend = super::backend().await;
    let endpoint = "https://abcdefghijklmnopqrstuvwxyz012345.lambda-url.us-east-1.on.aws";
    let response =
        sigv4_receiver(&backend).handle(signed_event("url-contract-signed", endpoint, SIGNING_SECRET, |_| {})).await;
    assert_eq!(response.status(), StatusCode::OK, "{:?}", json_body(&response));
}

#[tokio::test]
async fn in_sigv4_mode_unsigned_or_badly_signed_requests_are_refused_before_anything_is_written() {
    let backend = super::backend().await;
    let receiver = sigv4_receiver(&backend);
    let cases: Vec<(&str, lambda_http::Request, StatusCode)> = vec![
        (
            "unsigned",
            signed_event("rest-contract-signed", REST_ENDPOINT, SIGNING_SECRET, |e| {
                e["headers"].as_object_mut().unwrap().retain(|n, _| n != "authorization");
                e["multiValueHeaders"].as_object_mut().unwrap().retain(|n, _| n != "authorization");
            }),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "wrong secret",
            signed_event("rest-contract-signed", REST_ENDPOINT, "not-the-secret", |_| {}),
            StatusCode::FORBIDDEN,
        ),
        (
            "body changed",
            signed_event("rest-contract-signed", REST_ENDPOINT, SIGNING_SECRET, |e| {
                e["body"] = json!(e["body"].as_str().unwrap().replacen("SIGN", "VOID", 1));
            }),
            StatusCode::FORBIDDEN,
        ),
        (
            "another stage",
            signed_event("rest-contract-signed", REST_ENDPOINT, SIGNING_SECRET, |e| {
                e["requestContext"]["path"] = json!("/test/webhooks/contract-status-change");
            }),
            StatusCode::FORBIDDEN,
        ),
    ];
    for (case, request, status) in cases {
        let response = receiver.handle(request).await;
        assert_eq!(response.status(), status, "{case}");
        let error = json_body(&response)["error"].as_str().unwrap().to_owned();
        assert!(error.contains("AWS4") && !error.contains("Signature"), "{case}: {error}");
    }
    assert!(backend.keys("").await.is_empty(), "nothing archived");
    assert!(backend.items().await.is_empty(), "nothing written");
    assert!(backend.drain_queue().await.is_empty(), "nothing queued");
}

#[tokio::test]
async fn in_sigv4_mode_the_keys_can_come_from_secrets_manager() {
    let backend = super::backend().await;
    let secret = backend
        .clients
        .secrets
        .create_secret()
        .name(format!("everbright-sigv4-{}", backend.table))
        .secret_string(json!({ SIGNING_KEY: SIGNING_SECRET }).to_string())
        .send()
        .await
        .unwrap();
    let mut config = backend.receiver_config();
    config.auth = AuthConfig::Sigv4 {
        region: "us-east-1".into(),
        service: "execute-api".into(),
        keys: KeysConfig::Secret(secret.arn().unwrap().to_owned()),
    };
    let receiver = AwsReceiver::on_aws(&config, &backend.clients);
    let response = receiver.handle(signed_event("rest-stage-transition", REST_ENDPOINT, SIGNING_SECRET, |_| {})).await;
    assert_eq!(response.status(), StatusCode::OK, "{:?}", json_body(&response));
    let response = receiver.handle(signed_event("rest-site-archived", REST_ENDPOINT, SIGNING_SECRET, |_| {})).await;
    assert_eq!(response.status(), StatusCode::OK, "a PATCH, signed as one: {:?}", json_body(&response));
    let response = receiver.handle(signed_event("rest-milestone-approved", REST_ENDPOINT, "wrong", |_| {})).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
}

/// A receiver in sigv4 mode whose keys are in the Secrets Manager secret `secret_id`.
fn receiver_with_key_secret(backend: &Backend, secret_id: &str) -> AwsReceiver {
    let mut config = backend.receiver_config();
    config.auth = AuthConfig::Sigv4 {
        region: "us-east-1".into(),
        service: "execute-api".into(),
        keys: KeysConfig::Secret(secret_id.to_owned()),
    };
    AwsReceiver::on_aws(&config, &backend.clients)
}

#[tokio::test]
async fn in_sigv4_mode_a_key_added_to_the_secret_is_read_after_an_unknown_key_id_at_most_once_a_minute() {
    let backend = super::backend().await;
    let secrets = &backend.clients.secrets;
    let secret_id = format!("everbright-sigv4-rotation-{}", backend.table);
    let keys = |pairs: &[(&str, &str)]| Value::Object(pairs.iter().map(|(k, v)| ((*k).to_owned(), json!(v))).collect());
    let first = [(SIGNING_KEY, SIGNING_SECRET)];
    secrets.create_secret().name(&secret_id).secret_string(keys(&first).to_string()).send().await.unwrap();
    let receiver = receiver_with_key_secret(&backend, &secret_id);
    let send = |key: &str, secret: &str| {
        let request = signed_event_as("rest-stage-transition", REST_ENDPOINT, key, secret, |json| {
            json["requestContext"]["requestId"] = json!(uuid::Uuid::new_v4().to_string());
        });
        receiver.handle(request)
    };
    assert_eq!(send(SIGNING_KEY, SIGNING_SECRET).await.status(), StatusCode::OK);

    let second = [(SIGNING_KEY, SIGNING_SECRET), ("AKIAEVERBRIGHTNEW1", "second-secret")];
    secrets.put_secret_value().secret_id(&secret_id).secret_string(keys(&second).to_string()).send().await.unwrap();
    let response = send("AKIAEVERBRIGHTNEW1", "second-secret").await;
    assert_eq!(response.status(), StatusCode::OK, "a key added under a running function: {:?}", json_body(&response));

    // Within the minute, an unknown key id does not read the secret again.
    let third = [(SIGNING_KEY, SIGNING_SECRET), ("AKIAEVERBRIGHTNEW2", "third-secret")];
    secrets.put_secret_value().secret_id(&secret_id).secret_string(keys(&third).to_string()).send().await.unwrap();
    assert_eq!(send("AKIAEVERBRIGHTNEW2", "third-secret").await.status(), StatusCode::FORBIDDEN);
    assert_eq!(send(SIGNING_KEY, SIGNING_SECRET).await.status(), StatusCode::OK, "the known keys still work");
}

#[tokio::test]
async fn in_sigv4_mode_while_the_keys_cannot_be_read_a_request_without_authorization_reads_nothing() {
    let backend = super::backend().await;
    let secret_id = format!("everbright-sigv4-missing-{}", backend.table);
    let receiver = receiver_with_key_secret(&backend, &secret_id);
    let signed = || {
        signed_event("rest-stage-transition", REST_ENDPOINT, SIGNING_SECRET, |json| {
            json["requestContext"]["requestId"] = json!(uuid::Uuid::new_v4().to_string());
        })
    };
    let unsigned = signed_event("rest-stage-transition", REST_ENDPOINT, SIGNING_SECRET, |json| {
        json["headers"].as_object_mut().unwrap().retain(|name, _| !name.eq_ignore_ascii_case("authorization"));
        json["multiValueHeaders"]
            .as_object_mut()
            .unwrap()
            .retain(|name, _| !name.eq_ignore_ascii_case("authorization"));
    });
    assert_eq!(receiver.handle(unsigned).await.status(), StatusCode::UNAUTHORIZED, "refused before any read");
    assert_eq!(receiver.handle(signed()).await.status(), StatusCode::SERVICE_UNAVAILABLE, "the secret is missing");

    // The secret appears, but a failed read is not tried again within the minute.
    let keys = json!({ SIGNING_KEY: SIGNING_SECRET }).to_string();
    backend.clients.secrets.create_secret().name(&secret_id).secret_string(keys).send().await.unwrap();
    assert_eq!(receiver.handle(signed()).await.status(), StatusCode::SERVICE_UNAVAILABLE);
}
