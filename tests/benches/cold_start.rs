//! Each function's release `bootstrap`, run as Lambda runs it, against moto: the time from
//! process start to its first request for an event (init), whether it opened any connection to
//! AWS before that, the latency of its first and of its warm invocations, and its peak resident
//! memory after them.
//!
//! `cargo build --release -p webhook-receiver -p contract-fetcher -p event-publisher -p sweeper` first, then
//! `cargo bench -p integration-tests --bench cold_start` (`make bench` does both).
//! `COLD_START_RUNS` (default 10) processes per function, `WARM_INVOCATIONS` (default 20) each.
//!
//! Every invocation is new work: the receiver gets the seed contract-signed event for a new site
//! each time (a new job: tasks, documents, 9 fetch messages), the fetcher one fetch message for
//! a document the receiver queued for a new site (a claim, a download from the EverBright
//! stand-in, an upload and a transaction), the publisher the stream records the receiver's writes
//! for a new site made (read from moto's stream as Lambda reads it: a job, its tasks, nine
//! documents; `PutEvents` on a bus, the publication log), the sweeper a scheduled round over
//! what the other runs left pending (the receiver's queued documents, not yet due).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use integration_tests::bench::{median, peak_rss_mib, write_figures};
use integration_tests::counting_proxy::CountingProxy;
use integration_tests::runtime_api::RuntimeApi;
use integration_tests::{Backend, event_json, moto, root};
use local_stack::bus::{EventResources, StreamReader};
use local_stack::stand_in::StandIn;
use serde_json::{Value, json};
use webhook_receiver::AwsReceiver;

const SEED_SITE: &str = "34b6b5ee-f997-4044-86ae-0abbf611fc4d";
const TOKEN: &str = "bench-token";
const TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Clone, Copy, PartialEq)]
enum Function {
    Receiver,
    Fetcher,
    Publisher,
    Sweeper,
}

impl Function {
    fn name(self) -> &'static str {
        match self {
            Self::Receiver => "webhook-receiver",
            Self::Fetcher => "contract-fetcher",
            Self::Publisher => "event-publisher",
            Self::Sweeper => "sweeper",
        }
    }

    /// The memory size the template gives it.
    fn memory_mb(self) -> &'static str {
        match self {
            Self::Receiver => "256",
            Self::Fetcher => "512",
            Self::Publisher => "256",
            Self::Sweeper => "128",
        }
    }
}

struct Bench {
    backend: Backend,
    stand_in: StandIn,
    receiver: AwsReceiver,
    proxy: CountingProxy,
    events: EventResources,
    stream: tokio::sync::Mutex<StreamReader>,
}

impl Bench {
    /// The seed contract-signed event, for a new site.
    fn receiver_event(&self) -> (String, Value) {
        let site = uuid::Uuid::new_v4().to_string();
        let mut event = event_json("rest-contract-signed");
        let body = event["body"].as_str().expect("a string body").replace(SEED_SITE, &site);
        event["body"] = Value::String(body);
        (site, event)
    }

    /// The sample fetch message, for a document the receiver has just queued for a new site.
    async fn fetcher_event(&self) -> Value {
        let (site, event) = self.receiver_event();
        let request = lambda_http::request::from_str(&event.to_string()).expect("a valid API Gateway event");
        let response = self.receiver.handle(request).await;
        assert_eq!(response.status(), 200, "the receiver queued the documents");
        let mut event = event_json("sqs-fetch-document");
        let body = event["Records"][0]["body"].as_str().expect("a string body").replace(SEED_SITE, &site);
        event["Records"][0]["body"] = Value::String(body);
        event
    }

    /// The stream records of the seed contract-signed event for a new site, as Lambda hands them.
    async fn publisher_event(&self) -> Value {
        let mut stream = self.stream.lock().await;
        // What the other functions' runs wrote is not this event's.
        while !stream.read(1000).await.expect("the stream").is_empty() {}
        let (_, event) = self.receiver_event();
        let request = lambda_http::request::from_str(&event.to_string()).expect("a valid API Gateway event");
        assert_eq!(self.receiver.handle(request).await.status(), 200);
        let mut records = Vec::new();
        loop {
            let read = stream.read(1000).await.expect("the stream");
            if read.is_empty() {
                break;
            }
            records.extend(read);
        }
        json!({ "Records": records })
    }

    async fn event(&self, function: Function) -> String {
        match function {
            Function::Receiver => self.receiver_event().1.to_string(),
            Function::Fetcher => self.fetcher_event().await.to_string(),
            Function::Publisher => self.publisher_event().await.to_string(),
            // What EventBridge Scheduler sends without an input: nothing the sweep reads.
            Function::Sweeper => "{}".to_owned(),
        }
    }

    /// The environment Lambda would give the function: its variables, credentials in the
    /// environment, the runtime API's address.
    fn spawn(&self, function: Function, runtime_api: &str) -> Child {
        let variables = match function {
            Function::Receiver => self.backend.receiver_env(),
            Function::Fetcher => self.backend.fetcher_env(&self.stand_in.base_url, TOKEN),
            Function::Publisher => vec![
                ("JOBS_TABLE", self.backend.table.clone()),
                ("DOCUMENTS_BUCKET", self.backend.bucket.clone()),
                ("EVENT_BUS_NAME", self.events.bus.clone()),
                ("PUBLISH_FAILURES_QUEUE_URL", self.events.failures_queue_url.clone()),
            ],
            Function::Sweeper => {
                vec![("JOBS_TABLE", self.backend.table.clone()), ("FETCH_QUEUE_URL", self.backend.queue_url.clone())]
            }
        };
        let log = std::fs::File::create(std::env::temp_dir().join(format!("bench-{}.log", function.name())))
            .expect("a log file");
        Command::new(bootstrap(function))
            .env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .env("TZ", ":UTC")
            .env("LANG", "en_US.UTF-8")
            .env("AWS_LAMBDA_RUNTIME_API", runtime_api)
            .env("AWS_LAMBDA_FUNCTION_NAME", function.name())
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", function.memory_mb())
            .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{}", function.name()))
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "2026/11/22/[$LATEST]bench")
            .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
            .env("AWS_EXECUTION_ENV", "AWS_Lambda_provided.al2023")
            .env("LAMBDA_TASK_ROOT", "/var/task")
            .env("_HANDLER", "bootstrap")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "local")
            .env("AWS_SECRET_ACCESS_KEY", "local")
            .env("AWS_SESSION_TOKEN", "local")
            .env("AWS_ENDPOINT_URL", &self.proxy.endpoint)
            .envs(variables)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("a log file"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("{}: {e}", bootstrap(function).display()))
    }
}

fn bootstrap(function: Function) -> PathBuf {
    let dir =
        std::env::var_os("BOOTSTRAP_DIR").map(PathBuf::from).unwrap_or_else(|| root().join("target").join("release"));
    dir.join(function.name())
}

fn count(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

async fn measure(bench: &Bench, function: Function, runs: usize, warm: usize) -> Value {
    let (mut inits, mut firsts, mut warms, mut peaks, mut early) = (vec![], vec![], vec![], vec![], 0);
    for _ in 0..runs {
        let api = RuntimeApi::start().await.expect("the runtime API stand-in");
        let connections = bench.proxy.connections();
        let started = Instant::now();
        let mut child = bench.spawn(function, &api.address);
        let polled = api.first_poll(TIMEOUT).await.expect("the function asked for an event");
        inits.push(millis(polled - started));
        early = early.max(bench.proxy.connections() - connections);

        for n in 0..=warm {
            let event = bench.event(function).await;
            let sent = Instant::now();
            let outcome = api.invoke(event, TIMEOUT).await.expect("an answer");
            let latency = millis(sent.elapsed());
            assert!(!outcome.error, "{} failed: {}", function.name(), String::from_utf8_lossy(&outcome.body));
            check(function, &outcome.body);
            if n == 0 { firsts.push(latency) } else { warms.push(latency) }
        }
        peaks.push(peak_rss_mib(Some(child.id())));
        let _ = child.kill();
        let _ = child.wait();
    }
    let figures = json!({
        "init_ms": median(&inits),
        "init_ms_min": inits.iter().copied().fold(f64::INFINITY, f64::min),
        "init_ms_max": inits.iter().copied().fold(0.0, f64::max),
        "connections_before_first_poll": early,
        "first_invocation_ms": median(&firsts),
        "warm_invocation_ms": median(&warms),
        "peak_rss_mib": median(&peaks),
        "peak_rss_mib_max": peaks.iter().copied().fold(0.0, f64::max),
        "runs": runs,
        "warm_invocations": warm,
    });
    println!("cold_start: {} {figures}", function.name());
    figures
}

/// The answer is the one a successful invocation gives, so a broken run cannot pass for a fast one.
fn check(function: Function, body: &[u8]) {
    let answer: Value = serde_json::from_slice(body).expect("a JSON answer");
    match function {
        Function::Receiver => {
            assert_eq!(answer["statusCode"], 200, "{answer}");
            let body: Value = serde_json::from_str(answer["body"].as_str().unwrap_or_default()).expect("JSON");
            assert_eq!(body["queued"].as_array().map(Vec::len), Some(9), "{body}");
        }
        Function::Fetcher | Function::Publisher => assert_eq!(answer["batchItemFailures"], json!([]), "{answer}"),
        Function::Sweeper => assert!(answer["pending"].is_u64() && answer["items_read"].is_u64(), "{answer}"),
    }
}

#[tokio::main]
async fn main() {
    for function in [Function::Receiver, Function::Fetcher, Function::Publisher, Function::Sweeper] {
        let path = bootstrap(function);
        assert!(
            path.exists(),
            "{} is missing: run `cargo build --release -p webhook-receiver -p contract-fetcher -p event-publisher -p sweeper` (make bench does)",
            path.display()
        );
    }
    let runs = count("COLD_START_RUNS", 10);
    let warm = count("WARM_INVOCATIONS", 20);
    let backend = Backend::new().await;
    let suffix = backend.table.trim_start_matches("jobs-").to_owned();
    let events = EventResources::create(&backend.clients, &backend.resources(), &suffix).await.expect("the bus");
    let stream = StreamReader::open(&moto().endpoint, &events.stream_arn).await.expect("the stream");
    let stand_in = StandIn::start(TOKEN).await.expect("the EverBright stand-in");
    let receiver = AwsReceiver::on_aws(&backend.receiver_config(), &backend.clients);
    let moto_address = moto().endpoint.trim_start_matches("http://").to_owned();
    let proxy = CountingProxy::start(&moto_address).await.expect("the counting proxy");
    let bench = Bench { backend, stand_in, receiver, proxy, events, stream: tokio::sync::Mutex::new(stream) };

    let receiver = measure(&bench, Function::Receiver, runs, warm).await;
    let fetcher = measure(&bench, Function::Fetcher, runs, warm).await;
    let publisher = measure(&bench, Function::Publisher, runs, warm).await;
    let sweeper = measure(&bench, Function::Sweeper, runs, warm).await;
    write_figures(
        "cold_start",
        &json!({ "webhook-receiver": receiver, "contract-fetcher": fetcher, "event-publisher": publisher, "sweeper": sweeper }),
    );
}
