//! Several tenants in one deployment, on moto: who calls decides the tenant, each tenant's jobs are
//! its own, and each tenant's documents come from its own EverBright with its own token. Every
//! authentication type accepts its credential and refuses a wrong, a missing, and an almost-right one.

use base64::Engine;
use config::ConfigError;
use contract_fetcher::Fetcher;
use integration_tests::tenants::*;
use integration_tests::{Backend, event_json, json_body, signed_json};
use lambda_http::http::StatusCode;
use local_stack::stand_in::StandIn;
use serde_json::{Value, json};
use webhook_receiver::AwsReceiver;

#[tokio::test]
async fn each_tenants_webhooks_land_on_its_own_jobs_and_its_documents_come_from_its_own_everbright() {
    let Deployment { backend, onboard, engine, document, receiver } = Deployment::start().await;

    let response = receiver.handle(signed_a(event_json("rest-contract-signed"))).await;
    assert_eq!(response.status(), StatusCode::OK, "{:?}", json_body(&response));
    assert_eq!(json_body(&response)["tenant"], "acme-test");
    let b = with_header(for_site_b(event_json("rest-contract-signed")), HEADER_B, VALUE_B);
    let response = receiver.handle(request(&b)).await;
    assert_eq!(response.status(), StatusCode::OK, "{:?}", json_body(&response));
    assert_eq!(json_body(&response)["tenant"], "sunco");

    for (site, tenant) in [(SITE_A, "acme-test"), (SITE_B, "sunco")] {
        assert_eq!(backend.item(&pk(site, tenant), "JOB").await.unwrap()["tenant"], tenant);
    }
    // Each archived request records its tenant and credential, never the shared value.
    for key in backend.keys("raw/").await {
        let raw: Value = serde_json::from_slice(&backend.object(&key).await).unwrap();
        assert!(["acme-test", "sunco"].contains(&raw["caller"]["tenant"].as_str().unwrap()), "{raw}");
        assert!(!raw.to_string().contains(VALUE_B), "the shared secret is not archived: {key}");
    }

    let records = backend.take_records().await;
    assert_eq!(records.len(), 20, "nine documents and the signature's enrichment each");
    assert_eq!(records.iter().filter(|r| tenant_of(r) == "acme-test").count(), 10);
    let fetcher = Fetcher::on_aws(&fetcher_config(&backend, &document), &backend.clients);
    assert!(fetch(&fetcher, &records).await.is_empty(), "every document stored, each signature enriched");
    assert_eq!((downloads(&onboard), downloads(&engine)), (9, 9), "each tenant's from its own EverBright");
    for (stand_in, site, tenant) in [(&onboard, SITE_A, "acme-test"), (&engine, SITE_B, "sunco")] {
        let site_reads = stand_in.seen().iter().filter(|s| s.path.starts_with("/api/v1/site/")).count();
        assert_eq!(site_reads, 1, "each tenant's details from its own EverBright");
        let details = backend
            .items()
            .await
            .into_iter()
            .find(|i| i["pk"] == pk(site, tenant) && i["sk"].as_str().unwrap().starts_with("DETAILS#"));
        assert_eq!(details.unwrap()["status"], "ENRICHED");
    }
    assert_eq!(backend.keys(&format!("contracts/tenant/acme-test/{SITE_A}/")).await.len(), 9);
    assert_eq!(backend.keys(&format!("contracts/tenant/sunco/{SITE_B}/")).await.len(), 9);
}

#[tokio::test]
async fn a_wrong_token_for_one_tenant_retries_only_that_tenants_documents_towards_the_dlq() {
    let Deployment { backend, onboard, engine, receiver, .. } = Deployment::start().await;
    assert_eq!(receiver.handle(signed_a(event_json("rest-contract-signed"))).await.status(), StatusCode::OK);
    let b = with_header(for_site_b(event_json("rest-contract-signed")), HEADER_B, VALUE_B);
    assert_eq!(receiver.handle(request(&b)).await.status(), StatusCode::OK);
    let records = backend.take_records().await;

    // Acme's token is sunco's: the Onboard stand-in refuses it.
    let wrong = tenants(&onboard.base_url, &engine.base_url, TOKEN_B);
    let fetcher = Fetcher::on_aws(&fetcher_config(&backend, &wrong), &backend.clients);
    let retried = fetch(&fetcher, &records).await;
    let acme: Vec<String> =
        records.iter().filter(|r| tenant_of(r) == "acme-test").map(|r| r.message_id.clone().unwrap()).collect();
    assert_eq!(retried.len(), 10, "acme's nine documents and its enrichment");
    assert!(retried.iter().all(|id| acme.contains(id)), "only acme's messages are retried (then go to the DLQ)");
    assert_eq!(backend.keys(&format!("contracts/tenant/sunco/{SITE_B}/")).await.len(), 9, "sunco's are stored");
    assert!(backend.keys(&format!("contracts/tenant/acme-test/{SITE_A}/")).await.is_empty());
    let statuses: Vec<Value> = backend
        .items()
        .await
        .into_iter()
        .filter(|item| item["pk"] == pk(SITE_A, "acme-test") && item["sk"].as_str().unwrap().starts_with("DOC#"))
        .map(|item| item["status"].clone())
        .collect();
    let queued = statuses.iter().filter(|s| *s == "QUEUED").count();
    assert_eq!(queued, 9, "acme's documents wait to be retried (the tenth is recorded, not fetched): {statuses:?}");
}

#[tokio::test]
async fn a_payload_naming_another_tenants_organization_is_refused_and_changes_nothing() {
    let backend = Backend::new().await;
    let receiver =
        AwsReceiver::on_aws(&receiver_config(&backend, &tenants("http://a", "http://b", TOKEN_A)), &backend.clients);

    // Signed with acme's key, naming sunco's organization as the site's owner.
    let mut stage = event_json("rest-stage-transition");
    let mut body: Value = serde_json::from_str(stage["body"].as_str().unwrap()).unwrap();
    body["site_owned_by_organization"] = json!(ORG_B);
    stage["body"] = json!(body.to_string());
    let response = receiver.handle(signed_a(stage.clone())).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(json_body(&response)["error"].as_str().unwrap().contains(ORG_B), "{:?}", json_body(&response));
    assert!(backend.items().await.is_empty(), "nothing applied");
    assert!(backend.take_records().await.is_empty());
    assert_eq!(backend.keys("raw/").await.len(), 1, "archived");

    // Its own organization is accepted.
    body["site_owned_by_organization"] = json!(ORG_A);
    stage["body"] = json!(body.to_string());
    assert_eq!(receiver.handle(signed_a(stage)).await.status(), StatusCode::OK);
    assert_eq!(backend.keys("raw/").await.len(), 2, "each archived");
}

#[tokio::test]
async fn the_assignees_organization_is_recorded_and_never_refused() {
    let backend = Backend::new().await;
    let receiver =
        AwsReceiver::on_aws(&receiver_config(&backend, &tenants("http://a", "http://b", TOKEN_A)), &backend.clients);
    // acme's contract task, assigned to a partner: an organization that is even another tenant's.
    let mut contract = event_json("rest-contract-signed");
    let body = contract["body"].as_str().unwrap().replace(ORG_A, ORG_B);
    assert!(body.contains(ORG_B), "the sample names an assignee's organization");
    contract["body"] = json!(body);
    let response = receiver.handle(signed_a(contract)).await;
    assert_eq!(response.status(), StatusCode::OK, "{:?}", json_body(&response));
    let task = backend.item(&pk(SITE_A, "acme-test"), "TASK#fb04303e-da8f-413a-b9fc-b91dedf10707").await.unwrap();
    assert_eq!(task["assigned_to"]["organization"], ORG_B);
}

/// A request carrying `header: value` (`None`: no such header), as the REST API and as a
/// Function URL would hand it over.
fn carrying(header: &str, value: Option<&str>) -> [lambda_http::Request; 2] {
    ["rest-contract-signed", "url-contract-signed"].map(|name| {
        let json = event_json(name);
        request(&match value {
            Some(value) => with_header(json, header, value),
            None => unsigned(json),
        })
    })
}

fn basic(user: &str, password: &str) -> String {
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}")))
}

/// `value` with its last byte changed.
fn last_byte_off(value: &str) -> String {
    let mut bytes = value.as_bytes().to_vec();
    *bytes.last_mut().unwrap() ^= 1;
    String::from_utf8(bytes).unwrap()
}

#[tokio::test]
async fn each_authentication_type_accepts_its_credential_and_refuses_a_wrong_missing_or_almost_right_one() {
    let token = "Token signed-token-value-7";
    let types = [
        ("sunco", HEADER_B, VALUE_B.to_owned(), "wrong-value".to_owned(), last_byte_off(VALUE_B)),
        (
            "basic-co",
            "authorization",
            basic("everbright", "basic-password-42"),
            basic("everbright", "another-password"),
            basic("everbright", &last_byte_off("basic-password-42")),
        ),
        ("token-co", "authorization", token.to_owned(), "Token wrong".to_owned(), last_byte_off(token)),
    ];
    // A backend each, so that each type's refusals are seen to write nothing.
    for (tenant, header, right, wrong, almost) in types {
        let backend = Backend::new().await;
        let receiver = AwsReceiver::on_aws(
            &receiver_config(&backend, &tenants("http://a", "http://b", TOKEN_A)),
            &backend.clients,
        );
        for (value, expected) in [
            (Some(wrong.as_str()), StatusCode::FORBIDDEN),
            (Some(almost.as_str()), StatusCode::FORBIDDEN),
            (None, StatusCode::UNAUTHORIZED),
        ] {
            for request in carrying(header, value) {
                let response = receiver.handle(request).await;
                assert_eq!(response.status(), expected, "{tenant} {value:?}: {:?}", json_body(&response));
            }
        }
        assert!(backend.items().await.is_empty(), "{tenant}: a refusal writes nothing");
        for request in carrying(header, Some(&right)) {
            let response = receiver.handle(request).await;
            assert_eq!(response.status(), StatusCode::OK, "{tenant}: {:?}", json_body(&response));
            assert_eq!(json_body(&response)["tenant"], tenant);
        }
        assert_eq!(backend.item(&pk(SITE_A, tenant), "JOB").await.unwrap()["tenant"], tenant);
    }

    let backend = Backend::new().await;
    let receiver =
        AwsReceiver::on_aws(&receiver_config(&backend, &tenants("http://a", "http://b", TOKEN_A)), &backend.clients);
    for (secret, expected) in [
        ("wrong".to_owned(), StatusCode::FORBIDDEN),
        (last_byte_off(SECRET_A), StatusCode::FORBIDDEN),
        (SECRET_A.to_owned(), StatusCode::OK),
    ] {
        for (name, endpoint) in [("rest-stage-transition", ENDPOINT), ("url-contract-signed", URL_ENDPOINT)] {
            let response = receiver.handle(request(&signed_json(event_json(name), endpoint, KEY_A, &secret))).await;
            assert_eq!(response.status(), expected, "aws4 {name}: {:?}", json_body(&response));
        }
    }
    let response = receiver.handle(request(&unsigned(event_json("rest-stage-transition")))).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{:?}", json_body(&response));
    assert_eq!(backend.item(&pk(SITE_A, "acme-test"), "JOB").await.unwrap()["tenant"], "acme-test");
}

#[tokio::test]
async fn the_tenants_secret_is_read_and_checked_at_start_up_naming_the_entry() {
    let backend = Backend::new().await;
    let create = |name: String, document: String| {
        let secrets = backend.clients.secrets.clone();
        async move {
            secrets.create_secret().name(name).secret_string(document).send().await.unwrap().arn().unwrap().to_owned()
        }
    };
    let good = create(format!("tenants-good-{}", backend.table), tenants("http://a", "http://b", TOKEN_A)).await;
    let bad_document = json!({ "tenants": [{ "id": "acme", "environment": "test", "api_token": "t",
        "webhooks": [{ "type": "hmac-sha256", "client_id": "x", "client_secret": "y" }] }] });
    let bad = create(format!("tenants-bad-{}", backend.table), bad_document.to_string()).await;
    let mixed_document = json!({ "tenants": [{ "id": "acme", "environment": "test", "api_token": "t",
        "webhooks": [{ "type": "iam", "principal": "arn:aws:iam::123456789012:user/everbright" }] }] });
    let mixed = create(format!("tenants-mixed-{}", backend.table), mixed_document.to_string()).await;

    let config = |secret: &str| {
        let mut config = receiver_config(&backend, &tenants("http://a", "http://b", TOKEN_A));
        config.tenants = Some(config::TenantsSource::Secret(secret.to_owned()));
        config
    };
    let receiver = AwsReceiver::load(&config(&good), &backend.clients).await.unwrap();
    let b = with_header(event_json("rest-contract-signed"), HEADER_B, VALUE_B);
    assert_eq!(receiver.handle(request(&b)).await.status(), StatusCode::OK);

    let Err(ConfigError::Invalid { name, reason }) = AwsReceiver::load(&config(&bad), &backend.clients).await else {
        panic!("HMAC-SHA256 is refused at start-up");
    };
    assert_eq!(name, "TENANTS_SECRET");
    assert!(reason.contains(r#"tenants[0] ("acme"): webhooks[0]: HMAC-SHA256 cannot be checked"#), "{reason}");
    let Err(error) = AwsReceiver::load(&config(&mixed), &backend.clients).await else {
        panic!("an iam credential cannot be checked in shared-secret mode");
    };
    assert!(error.to_string().contains("tenant \"acme\"") && error.to_string().contains("AUTH_MODE=iam"), "{error}");

    let fetcher_config = {
        let mut config = fetcher_config(&backend, &tenants("http://a", "http://b", TOKEN_A));
        config.tenants = Some(config::TenantsSource::Secret(bad.clone()));
        config
    };
    let Err(error) = Fetcher::load(&fetcher_config, &backend.clients).await else {
        panic!("the fetcher checks the document too");
    };
    assert!(error.to_string().contains("TENANTS_SECRET"), "{error}");
}

#[tokio::test]
async fn the_tenants_command_lists_identities_without_secrets_and_finds_the_token_that_does_not_work() {
    let backend = Backend::new().await;
    let (onboard, engine) = (StandIn::start(TOKEN_A).await.unwrap(), StandIn::start(TOKEN_B).await.unwrap());
    // acme's token is wrong; the default tenant of the single-tenant variables works.
    let document = tenants(&onboard.base_url, &engine.base_url, "not-acmes-token");
    let env = env(vec![
        ("TENANTS", document),
        ("EVERBRIGHT_BASE_URL", engine.base_url.clone()),
        ("EVERBRIGHT_API_TOKEN", TOKEN_B.to_owned()),
        ("ALLOWED_PRINCIPALS", "arn:aws:iam::123456789012:user/everbright".to_owned()),
    ]);
    let listed = everbright_sync::tenants::configured(&env, &backend.clients).await.unwrap();
    let ids: Vec<&str> = listed.iter().map(|t| t.tenant.id.as_str()).collect();
    assert_eq!(ids, ["default", "acme-test", "sunco", "basic-co", "token-co"]);
    let mut checked = Vec::new();
    for tenant in listed {
        let answer = everbright_sync::tenants::check(&tenant, &backend.clients).await;
        checked.push((tenant, Some(answer)));
    }
    let works: Vec<(&str, bool)> =
        checked.iter().map(|(t, c)| (t.tenant.id.as_str(), c.as_ref().unwrap().is_ok())).collect();
    assert_eq!(
        works,
        [("default", true), ("acme-test", false), ("sunco", true), ("basic-co", false), ("token-co", false)]
    );
    let out = everbright_sync::tenants::render(&checked);
    for identity in ["aws4 AKIAACMETEST", "headers x-webhook-key", "basic everbright", "token authorization"] {
        assert!(out.contains(identity), "{identity}: {out}");
    }
    for secret in [SECRET_A, VALUE_B, TOKEN_A, TOKEN_B, "basic-password-42", "signed-token-value-7"] {
        assert!(!out.contains(secret), "a secret is printed: {out}");
    }
    assert!(out.contains("3 with a token that does not work"), "{out}");
    assert!(out.contains("test (Onboard)") && out.contains("production (Engine)"), "{out}");
}

#[tokio::test]
async fn replay_and_the_dlq_filter_by_tenant_and_redrive_moves_only_that_tenants_messages() {
    let backend = Backend::new().await;
    let receiver =
        AwsReceiver::on_aws(&receiver_config(&backend, &tenants("http://a", "http://b", TOKEN_A)), &backend.clients);
    assert_eq!(receiver.handle(signed_a(event_json("rest-contract-signed"))).await.status(), StatusCode::OK);
    let b = with_header(for_site_b(event_json("rest-contract-signed")), HEADER_B, VALUE_B);
    assert_eq!(receiver.handle(request(&b)).await.status(), StatusCode::OK);
    let records = backend.take_records().await;

    let ops = backend.ops();
    let sunco = domain::tenant::TenantId::parse("sunco").unwrap();
    let selection = everbright_sync::ops::Selection { tenant: Some(sunco.clone()), ..Default::default() };
    let selected = ops.select(&selection).await.unwrap();
    assert_eq!(selected.len(), 1);
    assert_eq!(selected[0].1.caller.tenant.as_deref(), Some("sunco"));
    // Replayed, it stays sunco's: the job's tenant and its messages'.
    let report = ops.replay(&selected, everbright_sync::ops::ReplayMode::Forced, |_, _| {}).await.unwrap();
    assert!(report.lines[0].1.contains("tenant sunco"), "{:?}", report.lines);
    let replayed = backend.take_records().await;
    assert!(!replayed.is_empty() && replayed.iter().all(|r| tenant_of(r) == "sunco"));

    // Every message dead-lettered: listed and redriven by tenant.
    for record in &records {
        let body = record.body.clone().unwrap();
        backend.clients.sqs().send_message().queue_url(&backend.dlq_url).message_body(body).send().await.unwrap();
    }
    let letters = ops.dead_letters_of(Some(&sunco)).await.unwrap();
    assert_eq!(letters.len(), 10, "nine documents and an enrichment");
    assert!(letters.iter().all(|l| l.tenant.as_ref() == Some(&sunco)));
    assert_eq!(ops.redrive_of(Some(&sunco)).await.unwrap(), 10);
    let left = ops.dead_letters().await.unwrap();
    assert_eq!(left.len(), 10, "acme's stay in the DLQ");
    assert!(left.iter().all(|l| l.tenant.as_ref().map(domain::tenant::TenantId::as_str) == Some("acme-test")));
    let moved = backend.take_records().await;
    assert_eq!(moved.len(), 10);
    assert!(moved.iter().all(|r| tenant_of(r) == "sunco"));
}
