//! The embedded local backend: moto's server on a free loopback port (and, for the tests, dynalite
//! as a strict DynamoDB), and the table, bucket, queue and dead-letter queue the functions use,
//! created on it through the real AWS SDK.

use std::io::Write as _;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use aws::Clients;
use aws::schema;
use aws_config::{Region, SdkConfig};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection, ProjectionType,
    ScalarAttributeType, TimeToLiveSpecification,
};
use aws_sdk_s3::types::{BucketVersioningStatus, VersioningConfiguration};
use aws_sdk_sqs::types::QueueAttributeName;

/// The checkout the local stack runs from (where `.venv`, `.tools` and `events/` are):
/// `EVERBRIGHT_SYNC_ROOT`, else the nearest checkout at or above the current directory, else the
/// one this binary was built from (a binary built elsewhere with a shared target directory would
/// otherwise look for moto in that other checkout).
pub fn workspace_root() -> PathBuf {
    if let Some(root) = std::env::var_os("EVERBRIGHT_SYNC_ROOT") {
        return PathBuf::from(root);
    }
    std::env::current_dir()
        .ok()
        .and_then(|dir| checkout_at_or_above(&dir))
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("cli/ has a parent").to_path_buf())
}

/// The nearest directory at or above `dir` that is a checkout of this project.
fn checkout_at_or_above(dir: &Path) -> Option<PathBuf> {
    dir.ancestors()
        .find(|dir| dir.join("scripts/venv.sh").is_file() && dir.join("events").is_dir())
        .map(Path::to_path_buf)
}

/// A local server the project started (moto's, or dynalite), on a free loopback port. It stops
/// when this is dropped, and also when this process exits however it exits: a small shell holds
/// it and kills it as soon as its standard input (a pipe from this process) closes.
pub struct LocalServer {
    pub endpoint: String,
    child: Child,
    stdin: Option<ChildStdin>,
    /// Where the holding shell writes the server's process id.
    pid_file: PathBuf,
}

/// How long a server has to end after SIGTERM before it is killed.
const STOP_GRACE_SECONDS: u32 = 3;

/// moto's server: DynamoDB, S3, SQS and Secrets Manager.
pub type Moto = LocalServer;

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("{name} is not at {path}: run `{install}` (make does), or set {variable}")]
    Missing { name: &'static str, path: PathBuf, install: &'static str, variable: &'static str },
    #[error("could not start {name}: {source}")]
    Start {
        name: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("{name} did not listen on port {port} within 60 s; its log is {log}")]
    NotListening { name: &'static str, port: u16, log: String },
}

/// What a server is and how it is started.
struct ServerSpec {
    name: &'static str,
    /// The variable that names the program, else `default` below the workspace.
    variable: &'static str,
    default: &'static str,
    install: &'static str,
    /// The shell command; `$0` is the program, `$1` the port.
    command: &'static str,
}

/// moto's own `moto_server`, run with one request at a time: its threaded server applies
/// concurrent `UpdateItem`s to one item as read-modify-write without a lock, so of two updates of
/// different attributes one could be lost (the demo showed a job without its current quote), and a
/// condition could pass twice. DynamoDB applies each update atomically; so does moto, served this way.
///
/// And a cancelled `TransactWriteItems` is rolled back as DynamoDB does it (`moto_server.py`):
/// moto copies every table the transaction touches, once per item, and puts the copy in the
/// table's place, so a stream reader goes on reading the old table (records of writes that were
/// cancelled) and misses every later record. Here the copy is made once per table, without its
/// stream records, and put back into the same table, the cancelled writes' records dropped. A
/// job's transaction of 13 items on a table of the scenario's size took seconds and gigabytes of
/// memory otherwise, and the scenario's publisher lost events.
const MOTO: ServerSpec = ServerSpec {
    name: "moto's server",
    variable: "MOTO_PYTHON",
    default: ".venv/bin/python3",
    install: "scripts/venv.sh",
    command: concat!(r#""$0" -c '"#, include_str!("moto_server.py"), r#"' -H 127.0.0.1 -p "$1""#),
};

const DYNALITE: ServerSpec = ServerSpec {
    name: "dynalite",
    variable: "DYNALITE",
    default: ".tools/dynalite/node_modules/dynalite/cli.js",
    install: "scripts/dynalite.sh",
    command: r#"node "$0" --host 127.0.0.1 --port "$1" --createTableMs 0 --deleteTableMs 0 --updateTableMs 0"#,
};

impl LocalServer {
    /// Starts moto's server (with `MOTO_PYTHON`, or `.venv/bin/python3`) on a free loopback port.
    pub fn start() -> Result<Self, ServerError> {
        Self::spawn(&MOTO)
    }

    /// Starts `DYNALITE`, or the dynalite in `.tools/dynalite`, on a free loopback port: a
    /// DynamoDB that applies DynamoDB's own validation (single-item operations; no transactions).
    pub fn dynalite() -> Result<Self, ServerError> {
        Self::spawn(&DYNALITE)
    }

    fn spawn(spec: &ServerSpec) -> Result<Self, ServerError> {
        let name = spec.name;
        let program =
            std::env::var_os(spec.variable).map(PathBuf::from).unwrap_or_else(|| workspace_root().join(spec.default));
        if !program.exists() {
            return Err(ServerError::Missing { name, path: program, install: spec.install, variable: spec.variable });
        }
        let start = |source| ServerError::Start { name, source };
        let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map_err(start)?.port();
        let log =
            std::env::temp_dir().join(format!("{}-{port}.log", spec.default.rsplit('/').next().unwrap_or("server")));
        let pid_file = PathBuf::from(format!("{}.pid", log.display()));
        // When this process's end of the pipe closes: SIGTERM, and SIGKILL if the server is still
        // there after a grace period (moto under load, or stopped, does not end on SIGTERM). The
        // shell ends with the server's status, so that `stop` can tell which ended it.
        let script = format!(
            r#"{} >"$2" 2>&1 </dev/null & pid=$!; echo $pid >"$2.pid"; read _; kill $pid; (sleep {STOP_GRACE_SECONDS}; kill -9 $pid) 2>/dev/null & killer=$!; wait $pid; status=$?; kill $killer 2>/dev/null; rm -f "$2.pid"; exit $status"#,
            spec.command
        );
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(script)
            .arg(&program)
            .arg(port.to_string())
            .arg(&log)
            .stdin(Stdio::piped())
            .spawn()
            .map_err(start)?;
        let stdin = child.stdin.take();
        let mut server = Self { endpoint: format!("http://127.0.0.1:{port}"), child, stdin, pid_file };
        let deadline = Instant::now() + Duration::from_secs(60);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline {
                server.stop();
                return Err(ServerError::NotListening { name, port, log: log.display().to_string() });
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(server)
    }

    /// The server's process id (not the holding shell's).
    pub fn pid(&self) -> Option<u32> {
        std::fs::read_to_string(&self.pid_file).ok()?.trim().parse().ok()
    }

    /// Stops the server and waits for it: SIGTERM, then SIGKILL after a grace period.
    pub fn stop(&mut self) -> Stopped {
        if let Some(mut stdin) = self.stdin.take() {
            let _ = stdin.write_all(b"stop\n");
        }
        match self.child.wait().map(|status| status.code()) {
            // 128 + SIGKILL, as the shell reports a process that signal ended.
            Ok(Some(137)) => Stopped::Killed,
            _ => Stopped::Ended,
        }
    }

    /// The SDK configuration a function would get, pointed at this server. The connect timeout
    /// is raised from the SDK's 3.1 s: one moto process serves everything at once, and while it
    /// takes in a large multipart upload it can be slow to accept a connection.
    pub async fn sdk_config(&self) -> SdkConfig {
        let credentials = aws_sdk_dynamodb::config::Credentials::new("local", "local", None, None, "local");
        let timeouts = aws_config::timeout::TimeoutConfig::builder().connect_timeout(Duration::from_secs(30)).build();
        aws::sdk_config_loader()
            .timeout_config(timeouts)
            .region(Region::new("us-east-1"))
            .endpoint_url(&self.endpoint)
            .credentials_provider(credentials)
            .load()
            .await
    }
}

impl Drop for LocalServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// How a server's stop went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stopped {
    /// It ended on SIGTERM (or had ended before).
    Ended,
    /// It was still there after the grace period, and SIGKILL ended it.
    Killed,
}

/// The table, bucket and queues of one deployment.
#[derive(Clone, Debug)]
pub struct Resources {
    pub table: String,
    pub bucket: String,
    pub queue_url: String,
    pub dlq_url: String,
}

/// How many receives before SQS moves a message to the dead-letter queue (as in the template).
pub const MAX_RECEIVE_COUNT: u32 = 5;
/// The fetch queue's visibility timeout in seconds (as in the template: six times the fetcher's).
pub const VISIBILITY_TIMEOUT_SECONDS: u32 = 720;

impl Resources {
    /// Creates everything, each name ending in `suffix`.
    pub async fn create(clients: &Clients, suffix: &str) -> Result<Self, SetupError> {
        Self::create_with(clients, suffix, TableTtl::Enabled).await
    }

    /// The same, saying whether the DynamoDB server can set the table's TTL (dynalite cannot).
    pub async fn create_with(clients: &Clients, suffix: &str, ttl: TableTtl) -> Result<Self, SetupError> {
        let table = format!("jobs-{suffix}");
        let bucket = format!("documents-{suffix}");
        create_table(&clients.dynamodb, &table, ttl).await?;
        clients.s3.create_bucket().bucket(&bucket).send().await.map_err(|e| failed("S3 CreateBucket")(&e))?;
        // Versioned, as the template's bucket is: a stored document's event names its version.
        let versioning = VersioningConfiguration::builder().status(BucketVersioningStatus::Enabled).build();
        let versioned = clients.s3.put_bucket_versioning().bucket(&bucket).versioning_configuration(versioning);
        versioned.send().await.map_err(|e| failed("S3 PutBucketVersioning")(&e))?;
        let dlq_url = create_queue(clients.sqs(), &format!("fetch-dlq-{suffix}"), None).await?;
        let dlq_arn = clients
            .sqs()
            .get_queue_attributes()
            .queue_url(&dlq_url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .map_err(|e| failed("SQS GetQueueAttributes")(&e))?
            .attributes()
            .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
            .unwrap_or_default();
        let redrive = format!(r#"{{"deadLetterTargetArn":"{dlq_arn}","maxReceiveCount":"{MAX_RECEIVE_COUNT}"}}"#);
        let queue_url = create_queue(clients.sqs(), &format!("fetch-{suffix}"), Some(redrive)).await?;
        Ok(Self { table, bucket, queue_url, dlq_url })
    }
}

/// Whether the table's TTL is set: DynamoDB and moto have `UpdateTimeToLive`, dynalite does not
/// (the receiver's expiry checks do not depend on it: they compare `expires_at` themselves).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TableTtl {
    Enabled,
    Unsupported,
}

/// A set-up failure, with the operation that failed.
pub type SetupError = Box<dyn std::error::Error + Send + Sync>;

fn failed<E: std::error::Error + 'static>(operation: &'static str) -> impl Fn(&E) -> SetupError {
    move |error| format!("{operation}: {}", domain::error::chain(error)).into()
}

/// The jobs table, as `infra/template.yaml` defines it (a test checks that they agree).
async fn create_table(client: &aws_sdk_dynamodb::Client, table: &str, ttl: TableTtl) -> Result<(), SetupError> {
    let key = |name: &str, kind| KeySchemaElement::builder().attribute_name(name).key_type(kind).build();
    let attribute =
        |name: &str| AttributeDefinition::builder().attribute_name(name).attribute_type(ScalarAttributeType::S).build();
    let build = |e: aws_sdk_dynamodb::error::BuildError| failed("DynamoDB CreateTable")(&e);
    let [pk, sk] = schema::TABLE_KEYS;
    let [quote, quote_sk] = schema::QUOTE_INDEX_KEYS;
    let by_quote = GlobalSecondaryIndex::builder()
        .index_name(schema::QUOTE_INDEX)
        .key_schema(key(quote, KeyType::Hash).map_err(build)?)
        .key_schema(key(quote_sk, KeyType::Range).map_err(build)?)
        .projection(Projection::builder().projection_type(ProjectionType::KeysOnly).build())
        .build()
        .map_err(build)?;
    let [pending, pending_since] = schema::PENDING_INDEX_KEYS;
    let pending_index = GlobalSecondaryIndex::builder()
        .index_name(schema::PENDING_INDEX)
        .key_schema(key(pending, KeyType::Hash).map_err(build)?)
        .key_schema(key(pending_since, KeyType::Range).map_err(build)?)
        .projection(Projection::builder().projection_type(ProjectionType::All).build())
        .build()
        .map_err(build)?;
    client
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attribute(pk).map_err(build)?)
        .attribute_definitions(attribute(sk).map_err(build)?)
        .attribute_definitions(attribute(quote).map_err(build)?)
        .attribute_definitions(attribute(pending).map_err(build)?)
        .attribute_definitions(attribute(pending_since).map_err(build)?)
        .key_schema(key(pk, KeyType::Hash).map_err(build)?)
        .key_schema(key(sk, KeyType::Range).map_err(build)?)
        .global_secondary_indexes(by_quote)
        .global_secondary_indexes(pending_index)
        .send()
        .await
        .map_err(|e| failed("DynamoDB CreateTable")(&e))?;
    if ttl == TableTtl::Unsupported {
        return Ok(());
    }
    let ttl = TimeToLiveSpecification::builder()
        .attribute_name(schema::TTL_ATTRIBUTE)
        .enabled(true)
        .build()
        .map_err(build)?;
    client
        .update_time_to_live()
        .table_name(table)
        .time_to_live_specification(ttl)
        .send()
        .await
        .map_err(|e| failed("DynamoDB UpdateTimeToLive")(&e))?;
    Ok(())
}

async fn create_queue(client: &aws_sdk_sqs::Client, name: &str, redrive: Option<String>) -> Result<String, SetupError> {
    let mut request = client
        .create_queue()
        .queue_name(name)
        .attributes(QueueAttributeName::VisibilityTimeout, VISIBILITY_TIMEOUT_SECONDS.to_string());
    if let Some(policy) = redrive {
        request = request.attributes(QueueAttributeName::RedrivePolicy, policy);
    }
    let output = request.send().await.map_err(|e| failed("SQS CreateQueue")(&e))?;
    Ok(output.queue_url().unwrap_or_default().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_checkout_is_found_from_any_directory_inside_it_and_not_outside() {
        let base = std::env::temp_dir().join(format!("everbright-checkout-{}", std::process::id()));
        let inner = base.join("checkout/functions/webhook-receiver/src");
        std::fs::create_dir_all(&inner).unwrap();
        std::fs::create_dir_all(base.join("checkout/scripts")).unwrap();
        std::fs::create_dir_all(base.join("checkout/events")).unwrap();
        std::fs::write(base.join("checkout/scripts/venv.sh"), "").unwrap();
        assert_eq!(checkout_at_or_above(&inner), Some(base.join("checkout")));
        assert_eq!(checkout_at_or_above(&base.join("checkout")), Some(base.join("checkout")));
        assert_eq!(checkout_at_or_above(&base), None);
        std::fs::remove_dir_all(&base).unwrap();
    }
}
