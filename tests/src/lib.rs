//! Support for the integration tests: moto's server (and dynalite, the strict DynamoDB) started on
//! a free loopback port (once per test binary, stopped when the binary exits), fresh AWS resources
//! per test, and the sample events in `events/`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use aws::{Clients, scan_all};
use aws_config::SdkConfig;
use config::{Env, FetcherConfig, ReceiverConfig};
use local_stack::local::{LocalServer, Moto, Resources, TableTtl};
use serde_json::{Map, Value};

pub mod bench;
pub mod cfn;
pub mod counting_proxy;
pub mod emf;
pub mod enrichment;
pub mod events;
pub mod fault_proxy;
pub mod logs;
pub mod memory;
pub mod memory_fetch;
pub mod part_by_part;
pub mod runtime_api;
pub mod scenario;
pub mod tenants;
pub mod typed;

/// The caller every sample event in `events/` carries.
pub const EVERBRIGHT_ARN: &str = "arn:aws:iam::123456789012:user/everbright-webhooks";

/// Every sample API Gateway (REST) request in `events/`: six payloads and four bad requests.
pub const REST_EVENTS: [&str; 10] = [
    "rest-contract-signed",
    "rest-change-order-signed",
    "rest-milestone-approved",
    "rest-stage-transition",
    "rest-site-archived",
    "rest-contract-signed-sighten",
    "rest-bad-malformed-json",
    "rest-bad-missing-site",
    "rest-bad-unknown-route",
    "rest-bad-wrong-method",
];

/// The workspace root.
pub fn root() -> PathBuf {
    local_stack::local::workspace_root()
}

/// The moto server of this test binary, started on first use. It is never dropped: it stops
/// when the test binary exits (see [`Moto`]).
pub fn moto() -> &'static Moto {
    static MOTO: OnceLock<Moto> = OnceLock::new();
    MOTO.get_or_init(|| Moto::start().unwrap_or_else(|e| panic!("{e}")))
}

/// The dynalite server of this test binary, started on first use, stopped when the binary exits.
pub fn dynalite() -> &'static LocalServer {
    static DYNALITE: OnceLock<LocalServer> = OnceLock::new();
    DYNALITE.get_or_init(|| LocalServer::dynalite().unwrap_or_else(|e| panic!("{e}")))
}

/// The SDK configuration a function would get, pointed at moto.
pub async fn sdk_config() -> SdkConfig {
    moto().sdk_config().await
}

/// The SDK configuration a function would get, pointed at `endpoint` (a proxy in front of moto):
/// each attempt given up after `attempt_timeout`, and the SDK's standard retries (3 attempts)
/// with a short first backoff, so that a run with many faults does not spend its time asleep.
pub async fn sdk_config_through(endpoint: &str, attempt_timeout: Duration) -> SdkConfig {
    let credentials = aws_sdk_dynamodb::config::Credentials::new("local", "local", None, None, "local");
    let timeouts = aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(30))
        .operation_attempt_timeout(attempt_timeout)
        .build();
    let retries = aws_config::retry::RetryConfig::standard().with_initial_backoff(Duration::from_millis(20));
    aws::sdk_config_loader()
        .timeout_config(timeouts)
        .retry_config(retries)
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(credentials)
        .load()
        .await
}

/// A backend on moto, and clients that reach it through a fault proxy with no faults until a
/// test sets some: to count the functions' calls, or to fail them where a test says.
pub struct Proxied {
    pub backend: Backend,
    pub proxy: fault_proxy::FaultProxy,
    pub clients: Clients,
}

impl Proxied {
    /// Each attempt of a call given up after `attempt_timeout`.
    pub async fn new(attempt_timeout: Duration) -> Self {
        let backend = Backend::new().await;
        let proxy =
            fault_proxy::FaultProxy::start(&moto().endpoint, fault_proxy::FaultPlan::none()).await.expect("proxy");
        let clients = Clients::new(&sdk_config_through(&proxy.endpoint, attempt_timeout).await);
        Self { backend, proxy, clients }
    }
}

/// One test's own table, bucket, queue and dead-letter queue on moto.
pub struct Backend {
    pub clients: Clients,
    pub table: String,
    pub bucket: String,
    pub queue_url: String,
    pub dlq_url: String,
}

impl Backend {
    /// Everything on moto.
    pub async fn new() -> Self {
        Self::create(Clients::new(&sdk_config().await), TableTtl::Enabled).await
    }

    /// DynamoDB on dynalite, which refuses what DynamoDB refuses (an index key of the wrong type, a
    /// reserved word in an expression, an empty set); S3, SQS and Secrets Manager on moto. dynalite
    /// has no transactions: the paths that use them are tested on moto.
    pub async fn strict() -> Self {
        let sdk = sdk_config().await;
        let dynamodb = aws_sdk_dynamodb::config::Builder::from(&sdk).endpoint_url(&dynalite().endpoint).build();
        let mut clients = Clients::new(&sdk);
        clients.dynamodb = aws_sdk_dynamodb::Client::from_conf(dynamodb);
        Self::create(clients, TableTtl::Unsupported).await
    }

    async fn create(clients: Clients, ttl: TableTtl) -> Self {
        let suffix = &uuid::Uuid::new_v4().simple().to_string()[..12];
        let Resources { table, bucket, queue_url, dlq_url } =
            Resources::create_with(&clients, suffix, ttl).await.unwrap_or_else(|e| panic!("{e}"));
        Self { clients, table, bucket, queue_url, dlq_url }
    }

    /// The backend's names, as the local tools take them.
    pub fn resources(&self) -> Resources {
        Resources {
            table: self.table.clone(),
            bucket: self.bucket.clone(),
            queue_url: self.queue_url.clone(),
            dlq_url: self.dlq_url.clone(),
        }
    }

    /// The operator's commands on this backend, with the receiver's default settings.
    pub fn ops(&self) -> everbright_sync::ops::Ops {
        self.ops_of(config::tenant::Tenants::default())
    }

    /// The operator's commands with the tenants of a tenants document.
    pub fn ops_with_tenants(&self, document: &str) -> everbright_sync::ops::Ops {
        self.ops_of(config::tenant::Tenants::parse(document).expect("a valid tenants document"))
    }

    fn ops_of(&self, tenants: config::tenant::Tenants) -> everbright_sync::ops::Ops {
        everbright_sync::ops::Ops::new(&self.ops_config(tenants), &self.clients)
    }

    /// The operator's commands with the installer's bus and the publisher's failure queue.
    pub fn ops_with_bus(&self, bus: &local_stack::bus::EventResources) -> everbright_sync::ops::Ops {
        let mut config = self.ops_config(config::tenant::Tenants::default());
        config.event_bus = Some(bus.bus.clone());
        config.failures_queue_url = Some(bus.failures_queue_url.clone());
        everbright_sync::ops::Ops::new(&config, &self.clients)
    }

    fn ops_config(&self, tenants: config::tenant::Tenants) -> everbright_sync::ops::OpsConfig {
        everbright_sync::ops::OpsConfig {
            table: self.table.clone(),
            bucket: self.bucket.clone(),
            queue_url: self.queue_url.clone(),
            dlq_url: Some(self.dlq_url.clone()),
            fetch_milestone_documents: true,
            dedupe: config::DedupeConfig::default(),
            tenants,
            event_bus: None,
            failures_queue_url: None,
        }
    }

    /// The receiver's environment for this backend.
    pub fn receiver_env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("JOBS_TABLE", self.table.clone()),
            ("DOCUMENTS_BUCKET", self.bucket.clone()),
            ("FETCH_QUEUE_URL", self.queue_url.clone()),
            ("ALLOWED_PRINCIPALS", EVERBRIGHT_ARN.to_owned()),
        ]
    }

    /// The receiver's configuration for this backend, as its environment would give it.
    pub fn receiver_config(&self) -> ReceiverConfig {
        ReceiverConfig::from(&env_of(self.receiver_env())).expect("complete configuration")
    }

    /// Every item of the table as JSON, sorted by key.
    pub async fn items(&self) -> Vec<Map<String, Value>> {
        let mut items = scan_all(&self.clients.dynamodb, &self.table).await.expect("scan");
        items.sort_by_key(|item| (item["pk"].to_string(), item["sk"].to_string()));
        items
    }

    /// One item by key.
    pub async fn item(&self, pk: &str, sk: &str) -> Option<Map<String, Value>> {
        self.items().await.into_iter().find(|item| item["pk"] == pk && item["sk"] == sk)
    }

    /// Receives (and deletes) every message now on the fetch queue; their bodies as JSON.
    pub async fn drain_queue(&self) -> Vec<Value> {
        let records = self.take_records().await;
        records
            .iter()
            .map(|r| serde_json::from_str(r.body.as_deref().unwrap_or_default()).expect("JSON body"))
            .collect()
    }

    /// Receives (and deletes) every message now on the fetch queue, as the event source mapping
    /// would hand them to the fetcher.
    pub async fn take_records(&self) -> Vec<aws_lambda_events::event::sqs::SqsMessage> {
        let mut records = Vec::new();
        loop {
            let output = self
                .clients
                .sqs()
                .receive_message()
                .queue_url(&self.queue_url)
                .max_number_of_messages(10)
                .send()
                .await
                .expect("receive");
            if output.messages().is_empty() {
                return records;
            }
            for message in output.messages() {
                let mut record = aws_lambda_events::event::sqs::SqsMessage::default();
                record.message_id = message.message_id().map(str::to_owned);
                record.body = message.body().map(str::to_owned);
                records.push(record);
                self.clients
                    .sqs()
                    .delete_message()
                    .queue_url(&self.queue_url)
                    .receipt_handle(message.receipt_handle().unwrap_or_default())
                    .send()
                    .await
                    .expect("delete");
            }
        }
    }

    /// The fetcher's environment for this backend and an EverBright at `base_url`.
    pub fn fetcher_env(&self, base_url: &str, token: &str) -> Vec<(&'static str, String)> {
        vec![
            ("JOBS_TABLE", self.table.clone()),
            ("DOCUMENTS_BUCKET", self.bucket.clone()),
            ("EVERBRIGHT_BASE_URL", base_url.to_owned()),
            ("EVERBRIGHT_API_TOKEN", token.to_owned()),
        ]
    }

    /// The fetcher's configuration for this backend and an EverBright at `base_url`.
    pub fn fetcher_config(&self, base_url: &str, token: &str) -> FetcherConfig {
        FetcherConfig::from(&env_of(self.fetcher_env(base_url, token))).expect("complete configuration")
    }

    /// An object's user metadata.
    pub async fn metadata(&self, key: &str) -> HashMap<String, String> {
        let output = self.clients.s3.head_object().bucket(&self.bucket).key(key).send().await.expect("head object");
        output.metadata().cloned().unwrap_or_default()
    }

    /// The keys of the objects under `prefix`.
    pub async fn keys(&self, prefix: &str) -> Vec<String> {
        let output = self.clients.s3.list_objects_v2().bucket(&self.bucket).prefix(prefix).send().await.expect("list");
        let mut keys: Vec<String> = output.contents().iter().filter_map(|o| o.key().map(str::to_owned)).collect();
        keys.sort();
        keys
    }

    /// An object's bytes.
    pub async fn object(&self, key: &str) -> Vec<u8> {
        let output = self.clients.s3.get_object().bucket(&self.bucket).key(key).send().await.expect("get object");
        output.body.collect().await.expect("object body").into_bytes().to_vec()
    }
}

/// An environment of exactly `vars`.
fn env_of(vars: Vec<(&'static str, String)>) -> Env<impl Fn(&str) -> Option<String>> {
    let vars: HashMap<&str, String> = vars.into_iter().collect();
    Env::new(move |name| vars.get(name).cloned())
}

/// A sample event from `events/`, as the Lambda runtime would hand it to the function.
pub fn event(name: &str) -> lambda_http::Request {
    lambda_http::request::from_str(&event_json(name).to_string()).expect("a valid API Gateway event")
}

/// The sample milestone (seed 001) with a re-sign completed within it: its first task's DOCUMENT
/// sub-task signed. Its webhook still carries the original quote.
pub fn re_signed_milestone() -> lambda_http::Request {
    let mut json = event_json("rest-milestone-approved");
    let mut body: Value = serde_json::from_str(json["body"].as_str().expect("a body")).expect("JSON");
    body["tasks"][0]["sub_tasks"][1]["document_status"] = Value::from("SIGN");
    json["body"] = Value::String(body.to_string());
    lambda_http::request::from_str(&json.to_string()).expect("a valid API Gateway event")
}

/// A sample event from `events/` as JSON, to vary it in a test.
pub fn event_json(name: &str) -> Value {
    let path = root().join("events").join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).expect("events are JSON")
}

/// A response body as JSON.
pub fn json_body(response: &lambda_http::Response<lambda_http::Body>) -> Value {
    serde_json::from_slice(response.body().as_ref()).expect("a JSON answer")
}

/// A sample event as a client signing with access key `key` and `secret` would send it through
/// the gateway at `endpoint` (region us-east-1, service execute-api); `tamper` changes the event
/// after signing.
pub fn signed_event_as(
    name: &str,
    endpoint: &str,
    key: &str,
    secret: &str,
    tamper: impl FnOnce(&mut Value),
) -> lambda_http::Request {
    let mut json = signed_json(event_json(name), endpoint, key, secret);
    tamper(&mut json);
    lambda_http::request::from_str(&json.to_string()).unwrap()
}

/// A gateway event (`events/` form) signed as `signed_event_as` signs it.
pub fn signed_json(mut json: Value, endpoint: &str, key: &str, secret: &str) -> Value {
    let body = json["body"].as_str().unwrap().to_owned();
    let slug = json["requestContext"]["path"]
        .as_str()
        .or(json["rawPath"].as_str())
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned();
    let aws4 = everbright_sync::send::Aws4 {
        access_key: key.into(),
        secret_key: secret.into(),
        region: "us-east-1".into(),
        service: "execute-api".into(),
        endpoint: endpoint.into(),
    };
    let method = json["httpMethod"].as_str().or(json["requestContext"]["http"]["method"].as_str()).unwrap().to_owned();
    let signed =
        everbright_sync::send::signed_request(&aws4, &method, &slug, body.into_bytes(), std::time::SystemTime::now())
            .unwrap();
    let headers = json["headers"].as_object_mut().unwrap();
    headers.retain(|name, _| {
        !["authorization", "x-amz-date", "x-amz-content-sha256"].contains(&name.to_ascii_lowercase().as_str())
    });
    for (name, value) in signed.headers() {
        headers.insert(name.as_str().to_owned(), serde_json::json!(value.to_str().unwrap()));
    }
    let multi: serde_json::Map<String, Value> =
        headers.iter().map(|(k, v)| (k.clone(), serde_json::json!([v]))).collect();
    if json.get("multiValueHeaders").is_some() {
        json["multiValueHeaders"] = Value::Object(multi);
    }
    json
}

/// How many queued messages there are of each kind (`fetch_document`, `resolve_signed_quote`,
/// `enrich`).
pub fn kinds(messages: &[Value]) -> std::collections::BTreeMap<String, usize> {
    let mut kinds = std::collections::BTreeMap::new();
    for message in messages {
        *kinds.entry(message["kind"].as_str().unwrap_or("?").to_owned()).or_insert(0) += 1;
    }
    kinds
}

/// What the sample signed contract queues: its nine uploaded documents, and the enrichment of
/// its signature (whose own tests are in `tests/enrichment.rs`).
pub fn signed_contract_messages() -> std::collections::BTreeMap<String, usize> {
    [("enrich".to_owned(), 1), ("fetch_document".to_owned(), 9)].into()
}

/// The kind of a queued message, as the fetcher gets it.
pub fn kind_of(record: &aws_lambda_events::event::sqs::SqsMessage) -> String {
    let body: Value = serde_json::from_str(record.body.as_deref().unwrap_or_default()).unwrap_or_default();
    body["kind"].as_str().unwrap_or_default().to_owned()
}
