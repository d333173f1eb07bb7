//! The metric lines (CloudWatch Embedded Metric Format) both functions emit on a run of every
//! sample event, read as CloudWatch would read them; and the sample in docs/operations.md.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use contract_fetcher::Fetcher;
use domain::metrics::{FETCHER_METRICS, MetricsSink, NAMESPACE, RECEIVER_METRICS};
use integration_tests::emf::{EmfLine, parse};
use integration_tests::{Backend, REST_EVENTS, event, root};
use local_stack::stand_in::StandIn;
use tokio::time::Instant;
use webhook_receiver::AwsReceiver;

const TOKEN: &str = "metrics-token";

/// A sink that keeps the lines.
fn collector() -> (MetricsSink, Arc<Mutex<Vec<String>>>) {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let kept = lines.clone();
    (Arc::new(move |line| kept.lock().unwrap().push(line)), lines)
}

fn read(lines: &Mutex<Vec<String>>) -> Vec<EmfLine> {
    let lines = lines.lock().unwrap();
    lines.iter().map(|line| parse(line).unwrap_or_else(|e| panic!("{e}: {line}"))).collect()
}

fn sorted(names: &[&str]) -> Vec<String> {
    let mut names: Vec<String> = names.iter().map(|&name| name.to_owned()).collect();
    names.sort();
    names
}

fn sum(lines: &[EmfLine], metric: &str) -> f64 {
    lines.iter().map(|line| line.metric(metric)).sum()
}

#[tokio::test]
async fn both_functions_emit_emf_lines_that_count_what_happened() {
    let backend = Backend::new().await;
    let stand_in = StandIn::start(TOKEN).await.expect("stand-in");
    let (sink, receiver_lines) = collector();
    let receiver = AwsReceiver::on_aws(&backend.receiver_config(), &backend.clients).with_metrics(sink);
    // Every sample request, then the signed contract again.
    let names: Vec<&str> = REST_EVENTS.iter().copied().chain(["rest-contract-signed"]).collect();
    for name in &names {
        receiver.handle(event(name)).await;
    }
    let records = backend.take_records().await;
    let documents = records.iter().filter(|r| r.body.as_deref().unwrap_or_default().contains("fetch_document")).count();

    let receiver_lines = read(&receiver_lines);
    assert_eq!(receiver_lines.len(), names.len(), "one line per request");
    for line in &receiver_lines {
        assert_eq!(line.namespace, NAMESPACE);
        assert_eq!(line.text("Function"), Some("webhook-receiver"));
        assert_eq!(line.dimension_sets, [vec!["Function"], vec!["Function", "Event"]]);
        assert!(line.text("event_id").is_some_and(|id| !id.is_empty()));
        assert!(line.timestamp_ms > 1_700_000_000_000);
        assert!(line.metrics.keys().eq(sorted(&RECEIVER_METRICS).iter()), "{:?}", line.metrics);
    }
    assert_eq!(sum(&receiver_lines, "Received"), names.len() as f64);
    assert_eq!(sum(&receiver_lines, "Refused"), 4.0, "the four bad requests");
    assert_eq!(sum(&receiver_lines, "Failed"), 0.0);
    assert_eq!(sum(&receiver_lines, "Duplicate"), 1.0, "the contract sent twice");
    assert_eq!(sum(&receiver_lines, "Queued"), documents as f64);
    assert_eq!(receiver_lines[0].text("Event"), Some("contract-status-change"));
    assert_eq!(receiver_lines[0].text("site"), Some("34b6b5ee-f997-4044-86ae-0abbf611fc4d"));
    assert_eq!(receiver_lines[0].metric("Queued"), 9.0);
    assert_eq!(receiver_lines[8].text("Event"), Some("unknown"), "an unknown route has no event");
    assert_eq!(receiver_lines[10].metric("Duplicate"), 1.0);

    let (sink, fetcher_lines) = collector();
    let fetcher =
        Fetcher::on_aws(&backend.fetcher_config(&stand_in.base_url, TOKEN), &backend.clients).with_metrics(sink);
    for batch in records.chunks(10) {
        let response = fetcher.handle_batch(batch, Instant::now() + Duration::from_secs(60)).await;
        assert!(response.batch_item_failures.is_empty());
    }
    let fetcher_lines = read(&fetcher_lines);
    assert_eq!(fetcher_lines.len(), records.len().div_ceil(10), "one line per batch");
    for line in &fetcher_lines {
        assert_eq!(line.text("Function"), Some("contract-fetcher"));
        assert!(line.metrics.keys().eq(sorted(&FETCHER_METRICS).iter()), "{:?}", line.metrics);
    }
    assert_eq!(sum(&fetcher_lines, "Messages"), records.len() as f64);
    assert_eq!(sum(&fetcher_lines, "Stored"), documents as f64);
    assert_eq!(sum(&fetcher_lines, "Retries"), 0.0);
    assert_eq!(sum(&fetcher_lines, "PermanentFailures"), 0.0);
    let mut bytes = 0;
    for key in backend.keys("contracts/").await {
        bytes += backend.object(&key).await.len();
    }
    assert!(bytes > 0);
    assert_eq!(sum(&fetcher_lines, "BytesStored"), bytes as f64);
}

#[test]
fn the_sample_lines_in_the_operations_guide_are_emf() {
    let guide = std::fs::read_to_string(root().join("docs/operations.md")).unwrap();
    let sample = guide.split("```json\n").nth(1).and_then(|rest| rest.split("```").next()).expect("a json block");
    let lines: Vec<EmfLine> =
        sample.lines().map(|line| parse(line).unwrap_or_else(|e| panic!("{e}: {line}"))).collect();
    let functions: Vec<_> = lines.iter().filter_map(|line| line.text("Function")).collect();
    for function in ["webhook-receiver", "contract-fetcher", "event-publisher"] {
        assert!(functions.contains(&function), "{function}: {functions:?}");
    }
}
