//! The enrichment after a SIGN, on moto with the stand-in speaking the data API: the receiver
//! requests it once per signature, the fetcher reads the profile's metrics and the site's people
//! and place, keeps every raw answer in S3 and records the details, typed, on `DETAILS#<quote>`.

use integration_tests::enrichment::*;
use integration_tests::{event, event_json};
use serde_json::{Value, json};

#[tokio::test]
async fn the_signed_contract_gets_one_details_item_with_typed_values_and_one_raw_answer_per_request() {
    let world = World::new(&[]).await;
    let records = world.deliver(event("rest-contract-signed")).await;
    assert_eq!(records.len(), 1, "one enrichment for the signature");
    assert!(world.details(QUOTE).await.unwrap().get("values").is_none(), "requested, not read yet");
    assert!(world.fetch(&records).await.is_empty());

    let details = world.details(QUOTE).await.unwrap();
    assert_eq!(details["status"], "ENRICHED");
    assert_eq!(details["signed_quote"], QUOTE, "no signed baseline: the quote itself");
    let values = &details["values"];
    assert_eq!(values["system_capacity_kw"], json!(7.2), "a number stays a number");
    assert_eq!(values["array_module_count"], json!([12, 6]), "a list metric stays a list");
    assert_eq!(values["initial_contract_date"], "2023-07-12");
    assert_eq!(values["contacts"][0]["last_name"], "Owner");
    assert_eq!(values["address"]["zipcode"], "92101", "a zip code stays text");
    assert!(values.get("monthly_payment_ignoring_grace_period").is_none());
    assert_eq!(details["absent"]["monthly_payment_ignoring_grace_period"], "APPROVED_BASELINE_NONEXISTANT");
    let personal: Vec<&str> = details["personal"].as_array().unwrap().iter().map(|p| p.as_str().unwrap()).collect();
    for field in ["contract_contact_name_1", "contacts", "address"] {
        assert!(personal.contains(&field), "{field} is marked personal: {personal:?}");
    }
    // Every request's raw answer, and only those: the workflow, one per option of the profile,
    // the site.
    let raw = world.backend.keys(&format!("dal/{SITE}/{QUOTE}/")).await;
    let requests = world.stand_in.seen().iter().filter(|s| s.path.starts_with("/api/")).count();
    assert_eq!((raw.len(), requests), (4, 4), "{raw:?}");
    assert_eq!(details["raw"].as_array().unwrap().len(), 4);
    let metadata = world.backend.metadata(&raw[0]).await;
    assert!(metadata["url"].starts_with(&world.stand_in.base_url), "{metadata:?}");
    assert_eq!(metadata["status"], "200");
    // The summary points at them.
    let job = world.backend.item(&format!("SITE#{SITE}"), "JOB").await.unwrap();
    assert_eq!(job["details"]["item"], format!("DETAILS#{QUOTE}"));
}

#[tokio::test]
async fn the_enrich_command_queues_the_signed_quotes_enrichment_again_by_hand() {
    let world = World::new(&[]).await;
    let records = world.deliver(event("rest-contract-signed")).await;
    assert!(world.fetch(&records).await.is_empty());
    let first = world.details(QUOTE).await.unwrap();

    let ops = world.backend.ops();
    let quote = ops.enrich(&domain::job::JobKey::default_tenant(SITE.parse().unwrap()), None).await.unwrap();
    assert_eq!(quote.to_string(), QUOTE, "the quote the contract was signed on");
    let queued = world.backend.take_records().await;
    let message: Value = serde_json::from_str(queued[0].body.as_deref().unwrap()).unwrap();
    assert_eq!(message["version"], first["version"], "the signature's own version: it rewrites, never outranks");
    assert!(world.fetch(&queued).await.is_empty());
    let again = world.details(QUOTE).await.unwrap();
    assert_ne!(again["enriched_at"], first["enriched_at"], "read again");
    assert_eq!(again["values"], first["values"]);
    let none = ops
        .enrich(&domain::job::JobKey::default_tenant("157802b4-99aa-4437-b250-934df337766a".parse().unwrap()), None)
        .await
        .unwrap_err();
    assert!(none.to_string().contains("no job"), "{none}");
}

#[tokio::test]
async fn two_sign_deliveries_of_one_signature_enrich_once() {
    let world = World::new(&[]).await;
    assert_eq!(world.deliver(event("rest-contract-signed")).await.len(), 1);
    // The same signature, told by another event (a body of its own, so not a duplicate).
    let mut again = event_json("rest-contract-signed");
    let mut body: Value = serde_json::from_str(again["body"].as_str().unwrap()).unwrap();
    body["description"] = json!("told again");
    again["body"] = json!(body.to_string());
    again["requestContext"]["requestId"] = json!(uuid::Uuid::new_v4().to_string());
    let records = world.deliver(lambda_http::request::from_str(&again.to_string()).unwrap()).await;
    assert!(records.is_empty(), "the signature's enrichment is already requested");
}

#[tokio::test]
async fn an_error_message_fails_the_enrichment_with_its_text_into_the_dlq_and_redrive_completes_it() {
    let world = World::new(&[]).await;
    world.stand_in.dal(|dal| {
        dal.errors.insert("system".into(), "Invalid metric degradation_percent".into());
    });
    let records = world.deliver(event("rest-contract-signed")).await;
    assert_eq!(world.fetch(&records).await.len(), 1, "retried");
    let details = world.details(QUOTE).await.unwrap();
    assert!(details["last_error"].as_str().unwrap().contains("Invalid metric degradation_percent"), "{details:?}");
    assert!(details.get("values").is_none());

    // After its receives, SQS's redrive policy moves it to the DLQ.
    let body = records[0].body.clone().unwrap();
    let sqs = world.backend.clients.sqs();
    sqs.send_message().queue_url(&world.backend.dlq_url).message_body(body).send().await.unwrap();
    let ops = world.backend.ops();
    let letters = ops.dead_letters().await.unwrap();
    assert_eq!(letters.len(), 1);
    assert!(letters[0].reason.as_deref().unwrap().contains("Invalid metric"), "{letters:?}");

    world.stand_in.dal(|dal| dal.errors.clear());
    assert_eq!(ops.redrive().await.unwrap(), 1);
    let redriven = world.backend.take_records().await;
    assert!(world.fetch(&redriven).await.is_empty());
    let details = world.details(QUOTE).await.unwrap();
    assert_eq!(details["status"], "ENRICHED");
    assert!(details.get("last_error").is_none(), "the error is cleared once it works");
}

#[tokio::test]
async fn a_429_is_waited_out_and_a_full_page_asks_for_the_next() {
    let world = World::new(&[("DAL_PAGE_SIZE", "2")]).await;
    world.stand_in.dal(|dal| {
        dal.throttle_once.push("quote".into());
        let row = |count: u32, model: &str| {
            let row = json!({"array_module_count": count, "system_capacity_kw": 7.2, "module_model": model});
            let Value::Object(row) = row else { unreachable!() };
            row
        };
        dal.rows.insert("system".into(), vec![row(12, "A"), row(6, "B"), row(4, "C")]);
    });
    let records = world.deliver(event("rest-contract-signed")).await;
    assert!(world.fetch(&records).await.is_empty());
    assert_eq!(world.data_requests("quote").len(), 2, "the 429, then the answer");
    assert_eq!(world.data_requests("system").len(), 2, "page 1 was full: page 2 was asked");
    let details = world.details(QUOTE).await.unwrap();
    assert_eq!(details["values"]["array_module_count"], json!([12, 6, 4]), "three rows of a list metric");
    assert_eq!(details["values"]["system_capacity_kw"], json!(7.2), "one value, as every row says");
    assert!(details["values"].get("module_model").is_none(), "three values for one: absent, warned");
    assert!(details["warnings"].as_array().unwrap().iter().any(|w| w.as_str().unwrap().starts_with("module_model")));
}

#[tokio::test]
async fn a_re_sign_enriches_the_quote_it_was_signed_as() {
    let world = World::new(&[]).await;
    let signed = RE_SIGNED.1;
    let lookups = world.deliver_re_sign().await;
    assert_eq!(lookups.len(), 1);
    let site = serde_json::from_str::<Value>(lookups[0].body.as_deref().unwrap()).unwrap()["site"].clone();
    // The look-up found another quote: its details are read in the same invocation.
    world.stand_in.dal(|dal| {
        dal.errors.insert("quote".into(), "temporarily unavailable".into());
    });
    assert_eq!(world.fetch(&lookups).await.len(), 1, "the details failed: the look-up is retried");
    world.stand_in.dal(|dal| dal.errors.clear());
    assert!(world.fetch(&lookups).await.is_empty());
    assert!(world.backend.take_records().await.is_empty(), "nothing queued: done in the look-up");
    let key = format!("SITE#{}", site.as_str().unwrap());
    let details = world.backend.item(&key, &format!("DETAILS#{signed}")).await.unwrap();
    assert_eq!(details["status"], "ENRICHED");
    assert_eq!(details["signed_quote"], signed);
    assert_eq!(details["values"]["system_capacity_kw"], json!(7.2));
    let job = world.backend.item(&key, "JOB").await.unwrap();
    assert_eq!(job["signed_quote"]["signed"], signed);
}

#[tokio::test]
async fn neither_the_token_nor_personal_data_reaches_a_log_line_and_the_token_is_in_no_object_or_item() {
    let captured = integration_tests::logs::Captured::install();

    let world = World::new(&[]).await;
    world.stand_in.dal(|dal| dal.throttle_once.push("system".into()));
    let records = world.deliver(event("rest-contract-signed")).await;
    assert!(world.fetch(&records).await.is_empty());
    let logs = captured.text();
    assert!(logs.contains("details recorded"), "the log is captured");
    for secret in [TOKEN, "Ever Bright", "Home Owner", "homeowner@example.com", "555-0100", "1 Main St"] {
        assert!(!logs.contains(secret), "{secret:?} is in the log");
    }
    for key in world.backend.keys("dal/").await {
        let object = String::from_utf8(world.backend.object(&key).await).unwrap();
        assert!(!object.contains(TOKEN), "{key} holds the token");
    }
    for item in world.backend.items().await {
        assert!(!Value::Object(item).to_string().contains(TOKEN));
    }
}
