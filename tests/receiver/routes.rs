//! The receiver's cases on routes and stages: new requests on any route, stage transitions in any
//! order, bodies that are not what a route takes, paths that try to escape.

use super::*;

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
