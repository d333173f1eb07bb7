//! Tenant isolation and the fetcher's trust, tried as an attacker would, on moto: a tenant's jobs
//! are its own whoever writes first, the default tenant keeps the organization rule, credentials
//! never overlap, each mode admits only its own credentials, the fetcher takes a message's word
//! for nothing the job does not say, and redirects never reach a private address.

use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use aws_lambda_events::event::sqs::SqsMessage;
use config::ConfigError;
use contract_fetcher::Fetcher;
use everbright::HostLookup;
use integration_tests::tenants::*;
use integration_tests::{Backend, emf, event_json, json_body, signed_json};
use lambda_http::http::StatusCode;
use local_stack::stand_in::{Behaviour, StandIn};
use serde_json::{Value, json};
use webhook_receiver::AwsReceiver;

/// The default tenant's AWS4 key in `sigv4` mode.
const DEFAULT_KEY: &str = "AKIADEFAULTKEY";
const DEFAULT_SECRET: &str = "default-aws4-secret";

/// acme alone, signing with AWS4 (what `sigv4` mode admits).
fn acme_only(onboard: &str) -> String {
    json!({ "tenants": [{ "id": "acme-test", "environment": "test", "base_url": onboard, "api_token": TOKEN_A,
        "organizations": [ORG_A],
        "webhooks": [{ "type": "aws4", "access_key_id": KEY_A, "secret_access_key": SECRET_A }] }]})
    .to_string()
}

/// The receiver's configuration in `mode`, with `extra` variables and the tenants `document`.
fn config_in(
    backend: &Backend,
    mode: &str,
    document: &str,
    extra: &[(&'static str, &str)],
) -> Result<config::ReceiverConfig, ConfigError> {
    let mut pairs: Vec<_> = backend.receiver_env().into_iter().filter(|(n, _)| *n != "ALLOWED_PRINCIPALS").collect();
    pairs.extend([("AUTH_MODE", mode.to_owned()), ("AWS_REGION", "us-east-1".into()), ("TENANTS", document.into())]);
    pairs.extend(extra.iter().map(|(name, value)| (*name, value.to_string())));
    config::ReceiverConfig::from(&env(pairs))
}

async fn secret(backend: &Backend, name: &str, value: &str) -> String {
    let name = format!("{name}-{}", uuid::Uuid::new_v4().simple());
    let created = backend.clients.secrets.create_secret().name(name).secret_string(value).send().await.unwrap();
    created.arn().unwrap().to_owned()
}

/// The sample stage transition, whose payload names `ORG_A` as its site's owner.
fn stage_transition() -> Value {
    let stage = event_json("rest-stage-transition");
    assert!(stage["body"].as_str().unwrap().contains(ORG_A), "the sample names acme's organization");
    stage
}

#[tokio::test]
async fn the_default_tenant_keeps_the_organization_rule_and_a_tenants_site_stays_open_to_it() {
    let backend = Backend::new().await;
    let keys = format!("{DEFAULT_KEY}:{DEFAULT_SECRET}");
    let config = config_in(&backend, "sigv4", &acme_only("http://a"), &[("SIGV4_CREDENTIALS", &keys)]).unwrap();
    let receiver = AwsReceiver::load(&config, &backend.clients).await.unwrap();

    // The default tenant's credential, naming acme's organization on a site nobody has written.
    let response =
        receiver.handle(request(&signed_json(stage_transition(), ENDPOINT, DEFAULT_KEY, DEFAULT_SECRET))).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN, "{:?}", json_body(&response));
    let error = json_body(&response)["error"].as_str().unwrap().to_owned();
    assert!(error.contains(ORG_A) && error.contains("default"), "{error}");
    assert!(backend.items().await.is_empty(), "nothing written");
    assert_eq!(backend.keys("raw/").await.len(), 1, "archived");

    // acme's own webhook for the site is applied, to acme's job.
    let response = receiver.handle(signed_a(stage_transition())).await;
    assert_eq!(response.status(), StatusCode::OK, "{:?}", json_body(&response));
    assert_eq!(backend.item(&pk(SITE_A, "acme-test"), "JOB").await.unwrap()["tenant"], "acme-test");
}

#[tokio::test]
async fn one_tenant_writing_a_site_first_neither_locks_out_nor_writes_into_anothers_job() {
    let Deployment { backend, onboard, engine, document, receiver } = Deployment::start().await;

    // sunco sends acme's site first (a contract names no owning organization).
    let b = with_header(event_json("rest-contract-signed"), HEADER_B, VALUE_B);
    let response = receiver.handle(request(&b)).await;
    assert_eq!(response.status(), StatusCode::OK, "{:?}", json_body(&response));
    let items = backend.items().await;
    assert!(items.iter().filter(|i| i["sk"] != "EVENT").all(|i| i["pk"] == pk(SITE_A, "sunco")), "only sunco's job");
    let suncos = |items: &[serde_json::Map<String, Value>]| -> Vec<_> {
        items.iter().filter(|i| i["pk"] == pk(SITE_A, "sunco")).cloned().collect()
    };
    let sunco_before = suncos(&items);

    // acme's own webhooks for its site are applied, every one, to acme's job alone.
    for name in ["rest-contract-signed", "rest-stage-transition"] {
        let response = receiver.handle(signed_a(event_json(name))).await;
        assert_eq!(response.status(), StatusCode::OK, "{name}: {:?}", json_body(&response));
        assert_eq!(json_body(&response)["duplicate"], false, "{name}: another tenant's copy is not acme's");
    }
    let items = backend.items().await;
    assert_eq!(suncos(&items), sunco_before, "acme's webhooks changed nothing of sunco's job");
    assert_eq!(backend.item(&pk(SITE_A, "acme-test"), "JOB").await.unwrap()["tenant"], "acme-test");

    // Each tenant's documents come from its own EverBright and land under its own keys.
    let records = backend.take_records().await;
    let fetcher = Fetcher::on_aws(&fetcher_config(&backend, &document), &backend.clients);
    assert!(fetch(&fetcher, &records).await.is_empty());
    assert_eq!((downloads(&onboard), downloads(&engine)), (9, 9));
    assert_eq!(backend.keys(&format!("contracts/tenant/acme-test/{SITE_A}/")).await.len(), 9);
    assert_eq!(backend.keys(&format!("contracts/tenant/sunco/{SITE_A}/")).await.len(), 9);
    assert!(backend.keys(&format!("contracts/{SITE_A}/")).await.is_empty());
}

#[tokio::test]
async fn a_message_naming_another_tenant_or_a_document_nobody_queued_is_refused_for_good_and_counted() {
    let Deployment { backend, onboard, engine, document, receiver } = Deployment::start().await;
    assert_eq!(receiver.handle(signed_a(event_json("rest-contract-signed"))).await.status(), StatusCode::OK);
    let records = backend.take_records().await;
    let original = records.iter().find(|r| integration_tests::kind_of(r) == "fetch_document").unwrap();
    let body: Value = serde_json::from_str(original.body.as_deref().unwrap()).unwrap();

    let forged = |id: &str, change: &dyn Fn(&mut Value)| {
        let mut body = body.clone();
        change(&mut body);
        let mut record = SqsMessage::default();
        record.message_id = Some(id.to_owned());
        record.body = Some(body.to_string());
        record
    };
    let batch = [
        // acme's document, the message rewritten to name sunco: sunco's token, acme's job.
        forged("other-tenant", &|b| b["tenant"] = json!("sunco")),
        // A document no webhook queued, on acme's job.
        forged("never-queued", &|b| b["document"] = json!(uuid::Uuid::new_v4().to_string())),
    ];
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = lines.clone();
    let fetcher = Fetcher::on_aws(&fetcher_config(&backend, &document), &backend.clients)
        .with_metrics(Arc::new(move |line| sink.lock().unwrap().push(line)));
    assert!(fetch(&fetcher, &batch).await.is_empty(), "refused for good: not retried");
    assert_eq!((downloads(&onboard), downloads(&engine)), (0, 0), "nothing asked of either EverBright");
    assert!(backend.keys("contracts/").await.is_empty(), "nothing stored");
    let line = emf::parse(&lines.lock().unwrap()[0]).unwrap();
    assert_eq!((line.metric("RefusedMessages"), line.metric("Stored")), (2.0, 0.0));
    let queued = backend.item(&pk(SITE_A, "acme-test"), &format!("DOC#{}", body["document"].as_str().unwrap())).await;
    assert_eq!(queued.unwrap()["status"], "QUEUED", "acme's document waits for acme's own message");
    assert!(backend.items().await.iter().all(|i| i["pk"] != pk(SITE_A, "sunco")), "no item of sunco's");

    // acme's own message still fetches it.
    assert!(fetch(&fetcher, std::slice::from_ref(original)).await.is_empty());
    assert_eq!(downloads(&onboard), 1);
}

#[tokio::test]
async fn a_default_credential_that_is_also_a_tenants_is_refused_at_start_up_naming_both() {
    let backend = Backend::new().await;
    let overlapping = format!("{KEY_A}:another-secret");
    let config = config_in(&backend, "sigv4", &acme_only("http://a"), &[("SIGV4_CREDENTIALS", &overlapping)]).unwrap();
    let Err(error) = AwsReceiver::load(&config, &backend.clients).await else { panic!("an overlap starts") };
    let error = error.to_string();
    assert!(error.contains(KEY_A) && error.contains("acme-test") && error.contains("SIGV4_CREDENTIALS"), "{error}");

    // The same key in SIGV4_CREDENTIALS_SECRET, read at start-up.
    let keys = secret(&backend, "keys", &json!({ KEY_A: "another-secret" }).to_string()).await;
    let config = config_in(&backend, "sigv4", &acme_only("http://a"), &[("SIGV4_CREDENTIALS_SECRET", &keys)]).unwrap();
    let Err(error) = AwsReceiver::load(&config, &backend.clients).await else { panic!("an overlap starts") };
    let error = error.to_string();
    assert!(error.contains(KEY_A) && error.contains("acme-test"), "{error}");

    // The default shared credential equal to sunco's header.
    let shared = json!({ "type": "headers", "header": HEADER_B, "value": VALUE_B }).to_string();
    let shared = secret(&backend, "shared", &shared).await;
    let document = tenants("http://a", "http://b", TOKEN_A);
    let config = config_in(&backend, "shared-secret", &document, &[("WEBHOOK_CREDENTIAL_SECRET", &shared)]).unwrap();
    let Err(error) = AwsReceiver::load(&config, &backend.clients).await else { panic!("an overlap starts") };
    let error = error.to_string();
    assert!(error.contains("sunco") && error.contains("WEBHOOK_CREDENTIAL_SECRET"), "{error}");

    // ALLOWED_PRINCIPALS admitting a tenant's IAM role's sessions.
    let role = json!({ "tenants": [{ "id": "iam-co", "environment": "test", "api_token": "t",
        "webhooks": [{ "type": "iam", "principal": "arn:aws:iam::123456789012:role/EverBright" }] }]});
    let sessions = "arn:aws:sts::123456789012:assumed-role/EverBright/*";
    let config = config_in(&backend, "iam", &role.to_string(), &[("ALLOWED_PRINCIPALS", sessions)]).unwrap();
    let Err(error) = AwsReceiver::load(&config, &backend.clients).await else { panic!("an overlap starts") };
    assert!(error.to_string().contains("iam-co") && error.to_string().contains("ALLOWED_PRINCIPALS"), "{error}");
}

#[tokio::test]
async fn each_mode_admits_only_its_own_credentials_and_refuses_the_rest_at_start_up() {
    let backend = Backend::new().await;
    // sigv4 admits AWS4 alone: sunco's header, basic-co's and token-co's are refused, by name.
    let document = tenants("http://a", "http://b", TOKEN_A);
    let config = config_in(&backend, "sigv4", &document, &[]).unwrap();
    let Err(error) = AwsReceiver::load(&config, &backend.clients).await else { panic!("sigv4 took a header") };
    let error = error.to_string();
    assert!(error.contains("tenant \"sunco\"") && error.contains("headers x-webhook-key"), "{error}");
    assert!(error.contains("AUTH_MODE=shared-secret"), "{error}");

    // iam: a WEBHOOK_CREDENTIAL_SECRET it would ignore is refused, named.
    let principal = "arn:aws:iam::123456789012:user/everbright";
    let extra = [("ALLOWED_PRINCIPALS", principal), ("WEBHOOK_CREDENTIAL_SECRET", "arn:x")];
    let Err(ConfigError::Invalid { name, reason }) = config_in(&backend, "iam", &acme_only("http://a"), &extra) else {
        panic!("iam read a shared credential");
    };
    assert_eq!(name, "WEBHOOK_CREDENTIAL_SECRET");
    assert!(reason.contains("AUTH_MODE=iam does not read it"), "{reason}");

    // shared-secret admits both kinds: acme signs with AWS4, sunco sends its header.
    let receiver = AwsReceiver::on_aws(&receiver_config(&backend, &document), &backend.clients);
    assert_eq!(receiver.handle(signed_a(event_json("rest-stage-transition"))).await.status(), StatusCode::OK);
    let b = with_header(for_site_b(event_json("rest-contract-signed")), HEADER_B, VALUE_B);
    assert_eq!(receiver.handle(request(&b)).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_dry_run_decides_as_the_replay_does_and_a_bad_recorded_tenant_is_refused_not_defaulted() {
    let backend = Backend::new().await;
    let document = tenants("http://a", "http://b", TOKEN_A);
    let receiver = AwsReceiver::on_aws(&receiver_config(&backend, &document), &backend.clients);
    // acme naming sunco's organization: refused live, and archived.
    let mut stage = stage_transition();
    stage["body"] = json!(stage["body"].as_str().unwrap().replace(ORG_A, ORG_B));
    assert_eq!(receiver.handle(signed_a(stage)).await.status(), StatusCode::FORBIDDEN);
    // acme's contract, applied.
    assert_eq!(receiver.handle(signed_a(event_json("rest-contract-signed"))).await.status(), StatusCode::OK);
    let ops = backend.ops_with_tenants(&document);
    let records = ops.select(&Default::default()).await.unwrap();
    assert_eq!(records.len(), 2);

    let dry = ops.replay(&records, everbright_sync::ops::ReplayMode::DryRun { force: false }, |_, _| {}).await;
    let dry = dry.unwrap();
    let real = ops.replay(&records, everbright_sync::ops::ReplayMode::Deduplicated, |_, _| {}).await.unwrap();
    let kinds = |report: &everbright_sync::ops::ReplayReport| (report.count("refused"), report.count("duplicate"));
    assert_eq!(kinds(&dry), (1, 1), "{:?}", dry.lines);
    assert_eq!(kinds(&dry), kinds(&real), "dry: {:?}\nreal: {:?}", dry.lines, real.lines);
    assert!(dry.lines.iter().any(|(_, line)| line.contains(ORG_B)), "{:?}", dry.lines);

    // An archived record whose tenant does not parse is refused, never replayed as the default's.
    let (key, mut raw) = records.into_iter().find(|(_, raw)| raw.event == "contract-status-change").unwrap();
    raw.caller.tenant = Some("Not A Tenant".into());
    let forced = everbright_sync::ops::ReplayMode::Forced;
    let report = ops.replay(&[(key, raw)], forced, |_, _| {}).await.unwrap();
    assert_eq!(report.count("refused"), 1, "{:?}", report.lines);
    assert!(report.lines[0].1.contains("recorded tenant"), "{:?}", report.lines);
    assert!(backend.items().await.iter().all(|i| i["pk"] != format!("SITE#{SITE_A}")), "nothing of the default's");
}

#[tokio::test]
async fn a_malformed_message_is_left_for_the_dlq_with_its_id_and_counted() {
    let backend = Backend::new().await;
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = lines.clone();
    let fetcher = Fetcher::on_aws(&backend.fetcher_config("http://127.0.0.1:9", "t"), &backend.clients)
        .with_metrics(Arc::new(move |line| sink.lock().unwrap().push(line)));
    let mut record = SqsMessage::default();
    record.message_id = Some("malformed-1".into());
    record.body = Some("{\"kind\": \"fetch_document\", \"site\": 42}".into());
    assert_eq!(fetch(&fetcher, &[record.clone()]).await, ["malformed-1"], "retried: SQS moves it to the DLQ");
    let line = emf::parse(&lines.lock().unwrap()[0]).unwrap();
    assert_eq!((line.metric("MalformedMessages"), line.metric("Retries")), (1.0, 1.0));

    // In the DLQ, `dlq` shows it with the reason.
    let dlq = &backend.dlq_url;
    let body = record.body.unwrap();
    backend.clients.sqs().send_message().queue_url(dlq).message_body(&body).send().await.unwrap();
    let letters = backend.ops().dead_letters().await.unwrap();
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].body, body);
    assert!(letters[0].reason.as_deref().is_some_and(|r| r.contains("malformed")), "{:?}", letters[0]);
    assert_eq!(letters[0].tenant, None, "no tenant's: a body that names none");
    let ops = backend.ops();
    let default = domain::tenant::TenantId::default_tenant();
    assert!(ops.dead_letters_of(Some(&default)).await.unwrap().is_empty(), "not listed as the default tenant's");
}

#[tokio::test]
async fn a_redirect_to_a_private_address_is_refused_for_good_before_any_connection() {
    let backend = Backend::new().await;
    let stand_in = StandIn::start(TOKEN_A).await.unwrap();
    // EverBright by name, as in production (so private targets are not a local run's), through a
    // resolver this test controls. Every private address here is a loopback one, so that even a
    // fetcher that followed them would connect nowhere but this machine; the metadata service's
    // and the other ranges' addresses are refused in `everbright`'s unit tests, which
    // connect to nothing.
    let base = stand_in.base_url.replace("127.0.0.1", "everbright.test");
    let ip = |text: &str| text.parse::<IpAddr>().unwrap();
    let lookup = HostLookup::fixed([
        ("everbright.test".to_owned(), vec![ip("127.0.0.1")]),
        ("metadata.test".to_owned(), vec![ip("127.0.0.2")]),
        ("intranet.test".to_owned(), vec![ip("127.0.0.1"), ip("::1")]),
    ]);
    let receiver = AwsReceiver::on_aws(&backend.receiver_config(), &backend.clients);
    assert_eq!(receiver.handle(integration_tests::event("rest-contract-signed")).await.status(), StatusCode::OK);
    let records: Vec<SqsMessage> = backend
        .take_records()
        .await
        .into_iter()
        .filter(|r| integration_tests::kind_of(r) == "fetch_document")
        .collect();
    let port = stand_in.base_url.rsplit(':').next().unwrap().to_owned();
    let targets = [
        format!("https://metadata.test:{port}/latest/meta-data/iam/security-credentials/"),
        format!("https://intranet.test:{port}/doc.pdf"),
        format!("https://127.0.0.1:{port}/storage/doc.pdf"),
        format!("https://localhost:{port}/storage/doc.pdf"),
        format!("https://[::1]:{port}/latest/meta-data/"),
    ];
    let document_of = |record: &SqsMessage| -> String {
        let body: Value = serde_json::from_str(record.body.as_deref().unwrap()).unwrap();
        body["document"].as_str().unwrap().to_owned()
    };
    for (record, target) in records.iter().zip(&targets) {
        stand_in.set(document_of(record).parse().unwrap(), Behaviour::RedirectToUrl { url: target.clone() });
    }
    let config = backend.fetcher_config(&base, TOKEN_A);
    let fetcher = Fetcher::on_aws(&config, &backend.clients).with_lookup(lookup);
    let batch = &records[..targets.len()];
    assert!(fetch(&fetcher, batch).await.is_empty(), "refused for good, not retried");
    for (record, target) in batch.iter().zip(&targets) {
        let item = backend.item(&format!("SITE#{SITE_A}"), &format!("DOC#{}", document_of(record))).await.unwrap();
        assert_eq!(item["status"], "FAILED", "{target}");
        let failure = item["failure"].as_str().unwrap();
        assert!(failure.contains("not a public address"), "{target}: {failure}");
    }
    let followed: Vec<String> =
        stand_in.seen().into_iter().map(|s| s.path).filter(|path| !path.ends_with("/download/")).collect();
    assert!(followed.is_empty(), "no redirect was followed: {followed:?}");
    // The base, by its name, still works: the other documents are stored.
    assert!(fetch(&fetcher, &records[targets.len()..]).await.is_empty());
    assert_eq!(backend.keys(&format!("contracts/{SITE_A}/")).await.len(), records.len() - targets.len());
}
