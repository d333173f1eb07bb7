//! Metrics in CloudWatch's Embedded Metric Format (EMF): one JSON line per invocation on
//! standard output, which CloudWatch Logs turns into metrics in the `EverBrightSync` namespace
//! without any API call. Each line carries its dimensions (`Function`, and `Event` for the
//! receiver) and ids as plain properties, so the same line can be found with Logs Insights.

use std::io::Write;
use std::sync::Arc;

use serde_json::{Map, Value, json};

use crate::timestamp::Timestamp;

/// The CloudWatch namespace of every metric.
pub const NAMESPACE: &str = "EverBrightSync";

/// The receiver's metrics, one line per request: the request itself, a repeat of an applied body,
/// an event older than the stored state, documents queued, an accepted event that names no site,
/// refused (4xx), failed (5xx, but the 503 that tells a copy the delivery is being applied).
pub const RECEIVER_METRICS: [&str; 7] =
    ["Received", "Duplicate", "Stale", "Queued", "Unattributed", "Refused", "Failed"];

/// The fetcher's metrics, one line per batch: messages handled, documents stored and their bytes,
/// messages handed back for a retry, messages that can never succeed.
pub const FETCHER_METRICS: [&str; 10] = [
    "Messages",
    "Stored",
    "BytesStored",
    "Retries",
    "PermanentFailures",
    "RefusedMessages",
    "MalformedMessages",
    "DetailsRecorded",
    "DetailsIncomplete",
    "DetailsFailed",
];

/// The event publisher's metrics, one line per batch: stream records read, events put on the bus,
/// records it could not read or map, entries put again after a refusal, batches given back.
pub const PUBLISHER_METRICS: [&str; 5] = ["Records", "Published", "Unmapped", "PutRetries", "PublishFailed"];

/// The sweeper's metrics, one line per sweep: pending items read (and the items the index read
/// to find them), left in flight, sent again, given up, of a shape it cannot send again, and the
/// age of the oldest.
pub const SWEEPER_METRICS: [&str; 7] =
    ["Pending", "ItemsRead", "InFlight", "Requeued", "GivenUp", "Unreadable", "OldestPendingSeconds"];

/// Reconciliation's metrics, one line per tenant's run: sites compared, possibly missed, pages
/// read, and a run that could not read a page.
pub const RECONCILE_METRICS: [&str; 4] = ["SitesCompared", "PossiblyMissed", "SitePages", "ReconcileFailed"];

/// Where a function's metric lines go: standard output in Lambda, a buffer in tests.
pub type MetricsSink = Arc<dyn Fn(String) + Send + Sync>;

/// Lines to standard output, where Lambda hands them to CloudWatch Logs.
pub fn stdout_sink() -> MetricsSink {
    // Not `println!`, which panics when standard output is gone: a lost metric line must not
    // fail the request it describes.
    Arc::new(|line| {
        let _ = writeln!(std::io::stdout().lock(), "{line}");
    })
}

/// The `Function` dimension: the Lambda function's name (so that two stacks in one account keep
/// their metrics apart, and the template's alarms can name it), or `default` outside Lambda.
pub fn function_name(default: &str) -> String {
    std::env::var("AWS_LAMBDA_FUNCTION_NAME").ok().filter(|name| !name.is_empty()).unwrap_or_else(|| default.to_owned())
}

/// Nowhere: local runs, whose output is for people.
pub fn discard_sink() -> MetricsSink {
    Arc::new(|_| {})
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    Count,
    Bytes,
    Milliseconds,
    Seconds,
}

impl Unit {
    fn name(self) -> &'static str {
        match self {
            Self::Count => "Count",
            Self::Bytes => "Bytes",
            Self::Milliseconds => "Milliseconds",
            Self::Seconds => "Seconds",
        }
    }
}

/// One EMF document.
#[derive(Clone, Debug)]
pub struct Emf {
    /// Each dimension set, by the names of its dimensions.
    dimension_sets: Vec<Vec<&'static str>>,
    dimensions: Vec<(&'static str, String)>,
    metrics: Vec<(&'static str, Unit, f64)>,
    properties: Map<String, Value>,
}

impl Emf {
    /// A document whose metrics are aggregated per function.
    pub fn new(function: &str) -> Self {
        Self {
            dimension_sets: vec![vec!["Function"]],
            dimensions: vec![("Function", function.to_owned())],
            metrics: Vec::new(),
            properties: Map::new(),
        }
    }

    /// Adds a dimension; the metrics are then aggregated per function and also per function
    /// and this dimension.
    pub fn dimension(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.dimension_sets.push(vec!["Function", name]);
        self.dimensions.push((name, value.into()));
        self
    }

    pub fn metric(&mut self, name: &'static str, unit: Unit, value: f64) -> &mut Self {
        self.metrics.push((name, unit, value));
        self
    }

    pub fn count(&mut self, name: &'static str, value: usize) -> &mut Self {
        self.metric(name, Unit::Count, value as f64)
    }

    /// A value kept with the line that is not a metric (an id, to search the logs by).
    pub fn property(&mut self, name: &str, value: impl Into<Value>) -> &mut Self {
        self.properties.insert(name.to_owned(), value.into());
        self
    }

    /// The JSON line.
    pub fn to_line(&self, at: Timestamp) -> String {
        let mut document = self.properties.clone();
        for (name, value) in &self.dimensions {
            document.insert((*name).to_owned(), Value::String(value.clone()));
        }
        for (name, _, value) in &self.metrics {
            document.insert((*name).to_owned(), json!(value));
        }
        let definitions: Vec<Value> =
            self.metrics.iter().map(|(name, unit, _)| json!({ "Name": name, "Unit": unit.name() })).collect();
        document.insert(
            "_aws".to_owned(),
            json!({
                "Timestamp": at.unix_millis(),
                "CloudWatchMetrics": [{
                    "Namespace": NAMESPACE,
                    "Dimensions": self.dimension_sets,
                    "Metrics": definitions,
                }],
            }),
        );
        Value::Object(document).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_names_its_metrics_and_holds_their_values_and_dimensions() {
        let mut emf = Emf::new("webhook-receiver").dimension("Event", "contract-status-change");
        emf.count("Received", 1).metric("BytesStored", Unit::Bytes, 2048.0).property("site", "s-1");
        let line: Value = serde_json::from_str(&emf.to_line("2023-07-12T19:22:52Z".parse().unwrap())).unwrap();
        assert_eq!(line["_aws"]["Timestamp"], 1_689_189_772_000_i64);
        let directive = &line["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], NAMESPACE);
        assert_eq!(directive["Dimensions"], json!([["Function"], ["Function", "Event"]]));
        assert_eq!(directive["Metrics"][1], json!({"Name": "BytesStored", "Unit": "Bytes"}));
        assert_eq!(line["Function"], "webhook-receiver");
        assert_eq!(line["Event"], "contract-status-change");
        assert_eq!(line["Received"], 1.0);
        assert_eq!(line["BytesStored"], 2048.0);
        assert_eq!(line["site"], "s-1");
    }
}
