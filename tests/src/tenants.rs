//! Several tenants in one deployment, for the tests of tenants and their isolation: `acme-test`
//! on an Onboard stand-in signing with AWS4, `sunco` on an Engine stand-in sending a header,
//! `basic-co` and `token-co` with the other shared types; and the requests each sends.

use std::time::Duration;

use aws_lambda_events::event::sqs::SqsMessage;
use config::{Env, FetcherConfig, ReceiverConfig};
use contract_fetcher::Fetcher;
use local_stack::stand_in::{Host, StandIn};
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::{Backend, signed_json};

/// A deployment of the four tenants on a fresh backend, with acme's and sunco's EverBright
/// stand-ins (each accepting its own token) and the receiver in `shared-secret` mode.
pub struct Deployment {
    pub backend: Backend,
    pub onboard: StandIn,
    pub engine: StandIn,
    /// The tenants document.
    pub document: String,
    pub receiver: webhook_receiver::AwsReceiver,
}

impl Deployment {
    pub async fn start() -> Self {
        let backend = Backend::new().await;
        let (onboard, engine) = (StandIn::start(TOKEN_A).await.unwrap(), StandIn::start(TOKEN_B).await.unwrap());
        let document = tenants(&onboard.base_url, &engine.base_url, TOKEN_A);
        let receiver = webhook_receiver::AwsReceiver::on_aws(&receiver_config(&backend, &document), &backend.clients);
        Self { backend, onboard, engine, document, receiver }
    }

    /// The fetcher of the same tenants.
    pub fn fetcher(&self) -> Fetcher {
        Fetcher::on_aws(&fetcher_config(&self.backend, &self.document), &self.backend.clients)
    }
}

pub const ENDPOINT: &str = "https://a1b2c3d4e5.execute-api.us-east-1.amazonaws.com/prod";
pub const URL_ENDPOINT: &str = "https://abcdefghijklmnopqrstuvwxyz012345.lambda-url.us-east-1.on.aws";
/// The sample events' site, and a second site for the other tenant.
pub const SITE_A: &str = "34b6b5ee-f997-4044-86ae-0abbf611fc4d";
pub const SITE_B: &str = "0d1e2f30-5a5b-5c6d-8e9f-a0b1c2d3e4f5";
/// The organization the sample stage transition names as its site's owner.
pub const ORG_A: &str = "825bca13-d78e-483a-96b3-6a18fb5779b4";
pub const ORG_B: &str = "6a1f0c2e-0000-4000-8000-00000000000b";
pub const KEY_A: &str = "AKIAACMETEST";
pub const SECRET_A: &str = "acme-aws4-secret";
pub const HEADER_B: &str = "X-Webhook-Key";
pub const VALUE_B: &str = "sunco-shared-value-0123456789";
pub const TOKEN_A: &str = "token-onboard-acme";
pub const TOKEN_B: &str = "token-engine-sunco";

/// The tenants document: `acme-test` on an Onboard stand-in signing with AWS4, `sunco` on an
/// Engine stand-in sending a header, `basic-co` and `token-co` with the other shared types.
pub fn tenants(onboard: &str, engine: &str, token_a: &str) -> String {
    json!({ "tenants": [
        { "id": "acme-test", "name": "Acme (test)", "environment": "test", "base_url": onboard,
          "api_token": token_a, "organizations": [ORG_A],
          "webhooks": [{ "type": "aws4", "access_key_id": KEY_A, "secret_access_key": SECRET_A }] },
        { "id": "sunco", "environment": "production", "base_url": engine, "api_token": TOKEN_B,
          "organizations": [ORG_B],
          "webhooks": [{ "type": "headers", "header": HEADER_B, "value": VALUE_B }] },
        { "id": "basic-co", "environment": "production", "base_url": engine, "api_token": "t",
          "webhooks": [{ "type": "basic", "username": "everbright", "password": "basic-password-42" }] },
        { "id": "token-co", "environment": "production", "base_url": engine, "api_token": "t",
          "webhooks": [{ "type": "token", "value": "Token signed-token-value-7" }] },
    ]})
    .to_string()
}

pub fn env(pairs: Vec<(&'static str, String)>) -> Env<impl Fn(&str) -> Option<String>> {
    Env::new(move |name| pairs.iter().find(|(n, _)| *n == name).map(|(_, v)| v.clone()))
}

/// The receiver in `shared-secret` mode with only the tenants (no default tenant).
pub fn receiver_config(backend: &Backend, document: &str) -> ReceiverConfig {
    let mut pairs: Vec<_> = backend.receiver_env().into_iter().filter(|(n, _)| *n != "ALLOWED_PRINCIPALS").collect();
    pairs.extend([
        ("AUTH_MODE", "shared-secret".to_owned()),
        ("AWS_REGION", "us-east-1".to_owned()),
        ("TENANTS", document.to_owned()),
    ]);
    ReceiverConfig::from(&env(pairs)).expect("complete configuration")
}

pub fn fetcher_config(backend: &Backend, document: &str) -> FetcherConfig {
    let mut pairs: Vec<_> =
        backend.fetcher_env("unused", "unused").into_iter().filter(|(n, _)| !n.starts_with("EVERBRIGHT_")).collect();
    pairs.push(("TENANTS", document.to_owned()));
    let config = FetcherConfig::from(&env(pairs)).expect("complete configuration");
    assert!(config.default_tenant.is_none(), "without EVERBRIGHT_BASE_URL there is no default tenant");
    config
}

/// A sample event with its body's site replaced, for tenant B.
pub fn for_site_b(mut json: Value) -> Value {
    let body = json["body"].as_str().unwrap().replace(SITE_A, SITE_B);
    json["body"] = Value::String(body);
    json
}

/// The event as the handler gets it, with a request id of its own (its archive key).
pub fn request(json: &Value) -> lambda_http::Request {
    let mut json = json.clone();
    json["requestContext"]["requestId"] = json!(uuid::Uuid::new_v4().to_string());
    lambda_http::request::from_str(&json.to_string()).unwrap()
}

/// A sample event without the AWS4 signature it carries.
pub fn unsigned(mut json: Value) -> Value {
    for map in ["headers", "multiValueHeaders"] {
        if let Some(headers) = json.get_mut(map).and_then(Value::as_object_mut) {
            headers.retain(|name, _| {
                !["authorization", "x-amz-date", "x-amz-content-sha256"].contains(&name.to_ascii_lowercase().as_str())
            });
        }
    }
    json
}

/// `json`, unsigned, with a header set (in both header maps of a REST API event).
pub fn with_header(json: Value, name: &str, value: &str) -> Value {
    let mut json = unsigned(json);
    json["headers"][name] = json!(value);
    if json.get("multiValueHeaders").is_some() {
        json["multiValueHeaders"][name] = json!([value]);
    }
    json
}

pub fn signed_a(json: Value) -> lambda_http::Request {
    request(&signed_json(json, ENDPOINT, KEY_A, SECRET_A))
}

pub async fn fetch(fetcher: &Fetcher, records: &[SqsMessage]) -> Vec<String> {
    let response = fetcher.handle_batch(records, Instant::now() + Duration::from_secs(60)).await;
    response.batch_item_failures.into_iter().map(|f| f.item_identifier).collect()
}

pub fn tenant_of(record: &SqsMessage) -> String {
    let body: Value = serde_json::from_str(record.body.as_deref().unwrap()).unwrap();
    body["tenant"].as_str().unwrap().to_owned()
}

pub fn downloads(stand_in: &StandIn) -> usize {
    stand_in.seen().iter().filter(|s| s.host == Host::Api && s.path.ends_with("/download/")).count()
}

/// The partition of `tenant`'s job of `site`.
pub fn pk(site: &str, tenant: &str) -> String {
    let job = domain::job::JobKey::new(domain::tenant::TenantId::parse(tenant).unwrap(), site.parse().unwrap());
    aws::schema::job_pk(&job)
}
