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
use aws_smithy_http_client::test_util::infallible_client_fn;
use config::{Env, ReceiverConfig};
use criterion::{Criterion, criterion_group, criterion_main};
use domain::ports::inert::Inert;
use webhook_receiver::{Authenticator, AwsReceiver, Receiver, Settings};

const EVENTS: [(&str, &str, usize); 3] = [
    ("contract-signed (seed 002)", include_str!("../../../events/rest-contract-signed.json"), 9),
    ("change-order-signed", include_str!("../../../events/rest-change-order-signed.json"), 1),
    ("milestone-approved", include_str!("../../../events/rest-milestone-approved.json"), 1),
];

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

fn receiver(
    runtime: &tokio::runtime::Runtime,
    calls: Arc<AtomicUsize>,
) -> (AwsReceiver, Receiver<Inert, Inert, Inert>) {
    let http = infallible_client_fn(move |request| {
        calls.fetch_add(1, Ordering::Relaxed);
        stub_answer(request)
    });
    let credentials = aws_credential_types::Credentials::new("AKIDBENCH", "bench-secret", None, None, "bench");
    let sdk = runtime.block_on(
        aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(credentials)
            .http_client(http)
            .load(),
    );
    let env = Env::new(|name| {
        let value = match name {
            "JOBS_TABLE" => "jobs",
            "DOCUMENTS_BUCKET" => "documents",
            "FETCH_QUEUE_URL" => "https://sqs.us-east-1.amazonaws.com/123456789012/fetch",
            "ALLOWED_PRINCIPALS" => "arn:aws:iam::123456789012:user/everbright-webhooks",
            _ => return None,
        };
        Some(value.to_owned())
    });
    let config = ReceiverConfig::from(&env).expect("a complete configuration");
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
}

criterion_group!(benches, handler);
criterion_main!(benches);
