//! The receiver handler's own CPU per event: the whole handler (the API Gateway event decoded,
//! caller checked, raw request archived, payload parsed and planned, delivery claimed, job
//! written, documents queued) on the real AWS SDK clients, whose HTTP calls an in-process stub
//! answers at once. Request building, signing and response parsing are in the figure; the
//! network is not. The same handler on ports that do nothing (every write lands) separates the
//! handler's own code from the SDK's work per call. `cargo bench -p webhook-receiver --bench handler`

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use aws::Clients;
use aws_config::{BehaviorVersion, Region};
use aws_sdk_dynamodb::types::AttributeValue;
use aws_smithy_http_client::test_util::infallible_client_fn;
use config::{Env, ReceiverConfig};
use criterion::{Criterion, criterion_group, criterion_main};
use domain::ports::inert::{Inert, OnePartPerCall};
use webhook_receiver::{Authenticator, AwsReceiver, Receiver, Settings};

const EVENTS: [(&str, &str, usize); 3] = [
    ("contract-signed (seed 002)", include_str!("../../../events/rest-contract-signed.json"), 9),
    ("change-order-signed", include_str!("../../../events/rest-change-order-signed.json"), 1),
    ("milestone-approved", include_str!("../../../events/rest-milestone-approved.json"), 1),
];

const FETCH_QUEUE: &str = "https://sqs.us-east-1.amazonaws.com/123456789012/fetch";

/// What each AWS call gets: success, with the least body the SDK accepts.
fn stub_answer(request: http::Request<aws_smithy_types::body::SdkBody>) -> http::Response<&'static str> {
    let target = request.headers().get("x-amz-target").and_then(|v| v.to_str().ok()).unwrap_or_default();
    let (content_type, body) = match target {
        "AmazonSQS.SendMessageBatch" => ("application/x-amz-json-1.0", r#"{"Successful":[],"Failed":[]}"#),
        t if t.starts_with("DynamoDB_") => ("application/x-amz-json-1.0", "{}"),
        _ => ("application/xml", ""),
    };
    http::Response::builder().status(200).header("content-type", content_type).body(body).expect("a valid response")
}

/// The SDK's configuration, every HTTP call answered by [`stub_answer`] and counted.
fn stubbed_sdk(runtime: &tokio::runtime::Runtime, calls: Arc<AtomicUsize>) -> aws_config::SdkConfig {
    let http = infallible_client_fn(move |request| {
        calls.fetch_add(1, Ordering::Relaxed);
        stub_answer(request)
    });
    let credentials = aws_credential_types::Credentials::new("AKIDBENCH", "bench-secret", None, None, "bench");
    runtime.block_on(
        aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(credentials)
            .http_client(http)
            .load(),
    )
}

/// The receiver's environment, as a deployment sets it.
fn env() -> Env<impl Fn(&str) -> Option<String>> {
    Env::new(|name| {
        let value = match name {
            "JOBS_TABLE" => "jobs",
            "DOCUMENTS_BUCKET" => "documents",
            "FETCH_QUEUE_URL" => FETCH_QUEUE,
            "ALLOWED_PRINCIPALS" => "arn:aws:iam::123456789012:user/everbright-webhooks",
            _ => return None,
        };
        Some(value.to_owned())
    })
}

fn receiver(
    runtime: &tokio::runtime::Runtime,
    calls: Arc<AtomicUsize>,
) -> (AwsReceiver, Receiver<Inert, Inert, Inert>) {
    let sdk = stubbed_sdk(runtime, calls);
    let config = ReceiverConfig::from(&env()).expect("a complete configuration");
    let clients = Clients::new(&sdk);
    let settings = Settings {
        auth: Authenticator::from_config(&config.auth, &clients),
        fetch_milestone_documents: config.fetch_milestone_documents,
        dedupe: config.dedupe,
    };
    // The metric line is built, as in Lambda, and dropped rather than printed.
    let metrics: domain::metrics::MetricsSink = Arc::new(|line| drop(black_box(line)));
    (
        AwsReceiver::on_aws(&config, &clients).with_metrics(metrics.clone()),
        Receiver::new(settings, Inert, Inert, Inert).with_metrics(metrics),
    )
}

fn handler(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
    let calls = Arc::new(AtomicUsize::new(0));
    let (receiver, on_nothing) = receiver(&runtime, calls.clone());
    let mut group = c.benchmark_group("receiver handler");
    for (name, event, queued) in EVENTS {
        // Once outside the timing: the handler really accepts it and queues what it should.
        let before = calls.load(Ordering::Relaxed);
        let response = runtime.block_on(receiver.handle(lambda_http::request::from_str(event).expect("an event")));
        let answer: serde_json::Value = serde_json::from_slice(response.body()).expect("a JSON answer");
        assert_eq!(response.status(), 200, "{answer}");
        assert_eq!(answer["queued"].as_array().map(Vec::len), Some(queued), "{answer}");
        println!("{name}: {} AWS calls per event", calls.load(Ordering::Relaxed) - before);

        group.bench_function(name, |b| {
            b.iter(|| {
                let request = lambda_http::request::from_str(black_box(event)).expect("an event");
                black_box(runtime.block_on(receiver.handle(request)))
            });
        });
        group.bench_function(format!("{name}, ports doing nothing"), |b| {
            b.iter(|| {
                let request = lambda_http::request::from_str(black_box(event)).expect("an event");
                black_box(runtime.block_on(on_nothing.handle(request)))
            });
        });
    }
    group.finish();

    // Each port on the SDK alone, the others doing nothing: where the CPU goes.
    let (_, seed, _) = EVENTS[0];
    let sdk = stubbed_sdk(&runtime, Arc::default());
    let clients = Clients::new(&sdk);
    let settings = || {
        let config = ReceiverConfig::from(&env()).expect("a complete configuration");
        Settings {
            auth: Authenticator::from_config(&config.auth, &clients),
            fetch_milestone_documents: true,
            dedupe: config.dedupe,
        }
    };
    let store = Receiver::new(settings(), aws::DynamoJobStore::new(clients.dynamodb.clone(), "jobs"), Inert, Inert);
    let archive = Receiver::new(settings(), Inert, aws::S3Archive::new(clients.s3.clone(), "documents"), Inert);
    let queue = Receiver::new(settings(), Inert, Inert, aws::SqsWorkQueue::new(clients.sqs().clone(), FETCH_QUEUE));
    let before = Receiver::new(
        settings(),
        OnePartPerCall(aws::DynamoJobStore::new(clients.dynamodb.clone(), "jobs")),
        aws::S3Archive::new(clients.s3.clone(), "documents"),
        aws::SqsWorkQueue::new(clients.sqs().clone(), FETCH_QUEUE),
    );
    let mut by_port = c.benchmark_group("receiver handler by port, seed 002");
    let request = || lambda_http::request::from_str(black_box(seed)).expect("an event");
    by_port.bench_function("one call per part (before)", |b| {
        b.iter(|| black_box(runtime.block_on(before.handle(request()))))
    });
    by_port.bench_function("DynamoDB only", |b| b.iter(|| black_box(runtime.block_on(store.handle(request())))));
    by_port.bench_function("S3 only", |b| b.iter(|| black_box(runtime.block_on(archive.handle(request())))));
    by_port.bench_function("SQS only", |b| b.iter(|| black_box(runtime.block_on(queue.handle(request())))));
    by_port.finish();
}

/// What one call costs the SDK (build, sign, send to the stub, parse), by kind: where the
/// handler's CPU beyond its own code goes.
fn sdk_calls(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
    let clients = Clients::new(&stubbed_sdk(&runtime, Arc::default()));
    let mut group = c.benchmark_group("one SDK call");
    group.bench_function("dynamodb UpdateItem", |b| {
        b.iter(|| {
            let update = clients
                .dynamodb
                .update_item()
                .table_name("jobs")
                .key("pk", AttributeValue::S("SITE#34b6b5ee-f997-4044-86ae-0abbf611fc4d".into()))
                .key("sk", AttributeValue::S("JOB".into()))
                .update_expression("SET #n0 = :v0")
                .expression_attribute_names("#n0", "site")
                .expression_attribute_values(":v0", AttributeValue::S("34b6b5ee".into()));
            black_box(runtime.block_on(update.send()).expect("the stub answers"))
        });
    });
    let body = vec![b'x'; 8 * 1024];
    group.bench_function("s3 PutObject, 8 KB", |b| {
        b.iter(|| {
            let put = clients.s3.put_object().bucket("documents").key("raw/x.json").body(body.clone().into());
            black_box(runtime.block_on(put.send()).expect("the stub answers"))
        });
    });
    let update = |i: usize| {
        let update = aws_sdk_dynamodb::types::Update::builder()
            .table_name("jobs")
            .key("pk", AttributeValue::S("SITE#34b6b5ee-f997-4044-86ae-0abbf611fc4d".into()))
            .key("sk", AttributeValue::S(format!("DOC#{i:036}")))
            .update_expression("SET #n0 = :v0, #n1 = :v1, #n2 = :v2, #n3 = :v3, #n4 = :v4, #n5 = :v5")
            .condition_expression("attribute_not_exists(#n0) OR #n0 = :v0")
            .set_expression_attribute_names(Some((0..6).map(|n| (format!("#n{n}"), format!("name{n}"))).collect()))
            .set_expression_attribute_values(Some(
                (0..6).map(|n| (format!(":v{n}"), AttributeValue::S("x".repeat(36)))).collect(),
            ))
            .build()
            .expect("a valid update");
        aws_sdk_dynamodb::types::TransactWriteItem::builder().update(update).build()
    };
    group.bench_function("dynamodb TransactWriteItems, 13 items", |b| {
        b.iter(|| {
            let transaction =
                clients.dynamodb.transact_write_items().set_transact_items(Some((0..13).map(update).collect()));
            black_box(runtime.block_on(transaction.send()).expect("the stub answers"))
        });
    });
    group.finish();
}

criterion_group!(benches, handler, sdk_calls);
criterion_main!(benches);
