//! Support for the integration tests: moto's server started on a free loopback port (once per
//! test binary, stopped when the binary exits), fresh AWS resources per test, and the sample
//! events in `events/`.

use std::collections::HashMap;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
};
use serde_json::{Map, Value};
use shared::aws::{Clients, item_to_json};
use shared::config::{Env, FetcherConfig, ReceiverConfig};

/// The caller every sample event in `events/` carries.
pub const EVERBRIGHT_ARN: &str = "arn:aws:iam::123456789012:user/everbright-webhooks";

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// A moto server of this test binary.
pub struct Moto {
    pub endpoint: String,
    _process: Mutex<(Child, ChildStdin)>,
}

/// Starts moto's server on first use. It is stopped when the test binary exits: a small shell
/// holds it and kills it as soon as its standard input (a pipe from this process) closes.
pub fn moto() -> &'static Moto {
    static MOTO: OnceLock<Moto> = OnceLock::new();
    MOTO.get_or_init(start_moto)
}

fn start_moto() -> Moto {
    let server = std::env::var_os("MOTO_SERVER")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join(".venv/bin/moto_server"));
    assert!(
        server.exists(),
        "moto's server is not at {}: run `make test` (it installs the pinned moto into .venv), or set MOTO_SERVER",
        server.display()
    );
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free loopback port")
        .port();
    let log = std::env::temp_dir().join(format!("moto-{port}.log"));
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(r#""$0" -H 127.0.0.1 -p "$1" >"$2" 2>&1 </dev/null & pid=$!; read _; kill $pid; wait $pid"#)
        .arg(&server)
        .arg(port.to_string())
        .arg(&log)
        .stdin(Stdio::piped())
        .spawn()
        .expect("start moto_server");
    let stdin = child.stdin.take().expect("piped stdin");
    let deadline = Instant::now() + Duration::from_secs(60);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "moto did not listen on port {port} within 60 s; see {}",
            log.display()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    Moto {
        endpoint: format!("http://127.0.0.1:{port}"),
        _process: Mutex::new((child, stdin)),
    }
}

/// The SDK configuration a function would get, pointed at moto.
pub async fn sdk_config() -> SdkConfig {
    let credentials =
        aws_sdk_dynamodb::config::Credentials::new("testing", "testing", None, None, "tests");
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(&moto().endpoint)
        .credentials_provider(credentials)
        .load()
        .await
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
    pub async fn new() -> Self {
        let clients = Clients::new(&sdk_config().await);
        let suffix = &uuid::Uuid::new_v4().simple().to_string()[..12];
        let table = format!("jobs-{suffix}");
        let bucket = format!("documents-{suffix}");
        create_table(&clients.dynamodb, &table).await;
        clients
            .s3
            .create_bucket()
            .bucket(&bucket)
            .send()
            .await
            .expect("create bucket");
        let dlq_url = create_queue(&clients.sqs, &format!("fetch-dlq-{suffix}"), None).await;
        let dlq_arn = clients
            .sqs
            .get_queue_attributes()
            .queue_url(&dlq_url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
            .send()
            .await
            .expect("dlq arn")
            .attributes()
            .and_then(|a| {
                a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn)
                    .cloned()
            })
            .expect("dlq arn");
        let redrive = format!(r#"{{"deadLetterTargetArn":"{dlq_arn}","maxReceiveCount":"5"}}"#);
        let queue_url = create_queue(&clients.sqs, &format!("fetch-{suffix}"), Some(redrive)).await;
        Self {
            clients,
            table,
            bucket,
            queue_url,
            dlq_url,
        }
    }

    /// The receiver's configuration for this backend, as its environment would give it.
    pub fn receiver_config(&self) -> ReceiverConfig {
        let vars: HashMap<&str, String> = HashMap::from([
            ("JOBS_TABLE", self.table.clone()),
            ("DOCUMENTS_BUCKET", self.bucket.clone()),
            ("FETCH_QUEUE_URL", self.queue_url.clone()),
            ("ALLOWED_PRINCIPALS", EVERBRIGHT_ARN.to_owned()),
        ]);
        ReceiverConfig::from(&Env::new(move |name| vars.get(name).cloned()))
            .expect("complete configuration")
    }

    /// Every item of the table as JSON, sorted by key.
    pub async fn items(&self) -> Vec<Map<String, Value>> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .clients
                .dynamodb
                .scan()
                .table_name(&self.table)
                .set_exclusive_start_key(start)
                .send()
                .await
                .expect("scan");
            items.extend(page.items().iter().map(item_to_json));
            start = page.last_evaluated_key().cloned();
            if start.is_none() {
                break;
            }
        }
        items.sort_by_key(|item| (item["pk"].to_string(), item["sk"].to_string()));
        items
    }

    /// One item by key.
    pub async fn item(&self, pk: &str, sk: &str) -> Option<Map<String, Value>> {
        self.items()
            .await
            .into_iter()
            .find(|item| item["pk"] == pk && item["sk"] == sk)
    }

    /// Receives (and deletes) every message now on the fetch queue, as JSON.
    pub async fn drain_queue(&self) -> Vec<Value> {
        let mut messages = Vec::new();
        loop {
            let output = self
                .clients
                .sqs
                .receive_message()
                .queue_url(&self.queue_url)
                .max_number_of_messages(10)
                .send()
                .await
                .expect("receive");
            if output.messages().is_empty() {
                return messages;
            }
            for message in output.messages() {
                messages.push(
                    serde_json::from_str(message.body().unwrap_or_default()).expect("JSON body"),
                );
                self.clients
                    .sqs
                    .delete_message()
                    .queue_url(&self.queue_url)
                    .receipt_handle(message.receipt_handle().unwrap_or_default())
                    .send()
                    .await
                    .expect("delete");
            }
        }
    }

    /// Receives (and deletes) every message now on the fetch queue, as the event source mapping
    /// would hand them to the fetcher.
    pub async fn take_records(&self) -> Vec<aws_lambda_events::event::sqs::SqsMessage> {
        let mut records = Vec::new();
        loop {
            let output = self
                .clients
                .sqs
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
                    .sqs
                    .delete_message()
                    .queue_url(&self.queue_url)
                    .receipt_handle(message.receipt_handle().unwrap_or_default())
                    .send()
                    .await
                    .expect("delete");
            }
        }
    }

    /// The fetcher's configuration for this backend and an EverBright at `base_url`.
    pub fn fetcher_config(&self, base_url: &str, token: &str) -> FetcherConfig {
        let vars: HashMap<&str, String> = HashMap::from([
            ("JOBS_TABLE", self.table.clone()),
            ("DOCUMENTS_BUCKET", self.bucket.clone()),
            ("EVERBRIGHT_BASE_URL", base_url.to_owned()),
            ("EVERBRIGHT_API_TOKEN", token.to_owned()),
        ]);
        FetcherConfig::from(&Env::new(move |name| vars.get(name).cloned()))
            .expect("complete configuration")
    }

    /// An object's user metadata.
    pub async fn metadata(&self, key: &str) -> HashMap<String, String> {
        let output = self
            .clients
            .s3
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .expect("head object");
        output.metadata().cloned().unwrap_or_default()
    }

    /// The keys of the objects under `prefix`.
    pub async fn keys(&self, prefix: &str) -> Vec<String> {
        let output = self
            .clients
            .s3
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(prefix)
            .send()
            .await
            .expect("list");
        let mut keys: Vec<String> = output
            .contents()
            .iter()
            .filter_map(|o| o.key().map(str::to_owned))
            .collect();
        keys.sort();
        keys
    }

    /// An object's bytes.
    pub async fn object(&self, key: &str) -> Vec<u8> {
        let output = self
            .clients
            .s3
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .expect("get object");
        output
            .body
            .collect()
            .await
            .expect("object body")
            .into_bytes()
            .to_vec()
    }
}

async fn create_table(client: &aws_sdk_dynamodb::Client, table: &str) {
    let key = |name: &str, kind| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kind)
            .build()
            .unwrap()
    };
    let attribute = |name: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .unwrap()
    };
    let by_quote = GlobalSecondaryIndex::builder()
        .index_name("by-quote")
        .key_schema(key("quote", KeyType::Hash))
        .key_schema(key("sk", KeyType::Range))
        .projection(
            Projection::builder()
                .projection_type(ProjectionType::KeysOnly)
                .build(),
        )
        .build()
        .unwrap();
    client
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attribute("pk"))
        .attribute_definitions(attribute("sk"))
        .attribute_definitions(attribute("quote"))
        .key_schema(key("pk", KeyType::Hash))
        .key_schema(key("sk", KeyType::Range))
        .global_secondary_indexes(by_quote)
        .send()
        .await
        .expect("create table");
    let ttl = TimeToLiveSpecification::builder()
        .attribute_name("expires_at")
        .enabled(true)
        .build()
        .unwrap();
    client
        .update_time_to_live()
        .table_name(table)
        .time_to_live_specification(ttl)
        .send()
        .await
        .expect("ttl");
}

async fn create_queue(client: &aws_sdk_sqs::Client, name: &str, redrive: Option<String>) -> String {
    let mut request = client.create_queue().queue_name(name).attributes(
        aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout,
        "180",
    );
    if let Some(policy) = redrive {
        request = request.attributes(
            aws_sdk_sqs::types::QueueAttributeName::RedrivePolicy,
            policy,
        );
    }
    request
        .send()
        .await
        .expect("create queue")
        .queue_url()
        .expect("queue url")
        .to_owned()
}

/// A sample event from `events/`, as the Lambda runtime would hand it to the function.
pub fn event(name: &str) -> lambda_http::Request {
    lambda_http::request::from_str(&event_json(name).to_string())
        .expect("a valid API Gateway event")
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
