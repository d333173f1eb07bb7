//! The installer's bus for a test: the table's stream on, the publisher on moto, the stream read
//! as Lambda's event source mapping reads it, what the consumer's queue received; and every
//! event a test receives checked against its JSON Schema in `events/schemas/`.

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::time::Duration;

use domain::bus::{BusEvent, PublishFailure};
use domain::ports::{BackendError, EventSink, FailureNotes, PublicationLog};

use domain::metrics::discard_sink;
use event_publisher::Publisher;
use local_stack::bus::{EventResources, StreamReader, Streamed, drain_stream, receive_all};
use serde_json::Value;

use crate::{Backend, moto, root};

/// The bus of one backend, and the stream read from its start.
pub struct Bus {
    pub resources: EventResources,
    reader: StreamReader,
}

impl Bus {
    /// Turns the stream on for `backend` (before anything is written, as a deployed stack has it)
    /// and sets up the bus, its consumer and the failure queue.
    pub async fn on(backend: &Backend) -> Self {
        let suffix = backend.table.trim_start_matches("jobs-");
        let resources = EventResources::create(&backend.clients, &backend.resources(), suffix)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let reader =
            StreamReader::open(&moto().endpoint, &resources.stream_arn).await.unwrap_or_else(|e| panic!("{e}"));
        Self { resources, reader }
    }

    /// The publisher as deployed, for this backend and bus.
    pub fn publisher(&self, backend: &Backend) -> Publisher {
        Publisher::on_aws(&self.resources.publisher_config(&backend.resources()), &backend.clients)
            .with_metrics(discard_sink())
            .with_backoff(Duration::from_millis(10))
    }

    /// Reads the stream on from where it stopped through `publisher`.
    pub async fn drain<S, L, N>(&mut self, publisher: &Publisher<S, L, N>, backend: &Backend) -> Streamed
    where
        S: domain::ports::EventSink,
        L: domain::ports::PublicationLog,
        N: domain::ports::FailureNotes,
    {
        drain_stream(publisher, &mut self.reader, &backend.clients, &self.resources)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// The stream read again from its first record (as after a redelivery of every batch).
    pub async fn rewind(&mut self) {
        self.read_through(&moto().endpoint).await;
    }

    /// The stream read from its first record through `endpoint` (a proxy in front of moto).
    pub async fn read_through(&mut self, endpoint: &str) {
        self.reader = StreamReader::open(endpoint, &self.resources.stream_arn).await.unwrap_or_else(|e| panic!("{e}"));
    }

    /// The ids of the events every change on the stream means, read without faults and put on a
    /// bus in memory that takes everything: what a publisher must have published.
    pub async fn expected_ids(&self, backend: &Backend) -> BTreeSet<String> {
        let mut reader =
            StreamReader::open(&moto().endpoint, &self.resources.stream_arn).await.unwrap_or_else(|e| panic!("{e}"));
        let publisher =
            Publisher::new((Taken::default(), NoLog, NoNotes), &backend.bucket).with_metrics(discard_sink());
        let streamed = drain_stream(&publisher, &mut reader, &backend.clients, &self.resources).await.unwrap();
        assert_eq!(streamed.given_up, 0);
        publisher.ports().0.0.lock().unwrap().clone()
    }

    /// Everything the consumer's queue holds (waiting up to two seconds for the first), each
    /// checked against its schema.
    pub async fn consumed(&self, backend: &Backend) -> Vec<Value> {
        let events = receive_all(&backend.clients, &self.resources.consumer_queue_url, Duration::from_secs(2))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        validate(&events);
        events
    }

    /// Everything on the failure queue, deleted as read.
    pub async fn failures(&self, backend: &Backend) -> Vec<Value> {
        receive_all(&backend.clients, &self.resources.failures_queue_url, Duration::from_millis(200))
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }
}

/// Checks every event against the JSON Schema of its detail-type (`scripts/validate-events.py`,
/// with the pinned `jsonschema`); panics naming what does not match.
pub fn validate(events: &[Value]) {
    if events.is_empty() {
        return;
    }
    let file = std::env::temp_dir().join(format!("everbright-events-{}.jsonl", uuid::Uuid::new_v4().simple()));
    let lines: Vec<String> = events.iter().map(Value::to_string).collect();
    std::fs::write(&file, lines.join("\n")).expect("a temporary file");
    let output = std::process::Command::new(root().join(".venv/bin/python3"))
        .arg(root().join("scripts/validate-events.py"))
        .arg(&file)
        .output()
        .expect("the venv's python (scripts/venv.sh)");
    let _ = std::fs::remove_file(&file);
    assert!(
        output.status.success(),
        "events that do not match their schemas:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The detail-types of `events`, in order.
pub fn types(events: &[Value]) -> Vec<&str> {
    events.iter().map(|event| event["detail-type"].as_str().unwrap_or_default()).collect()
}

/// A bus in memory that takes every event (their ids).
#[derive(Default)]
pub struct Taken(pub Mutex<BTreeSet<String>>);

impl EventSink for Taken {
    async fn put(&self, events: &[BusEvent]) -> Result<Vec<Option<String>>, BackendError> {
        self.0.lock().unwrap().extend(events.iter().map(|event| event.id.to_string()));
        Ok(vec![None; events.len()])
    }
}

pub struct NoLog;

impl PublicationLog for NoLog {
    async fn record(&self, _: &[BusEvent]) -> Result<(), BackendError> {
        Ok(())
    }
}

pub struct NoNotes;

impl FailureNotes for NoNotes {
    async fn note(&self, failure: &PublishFailure) -> Result<(), BackendError> {
        panic!("a bus that takes everything noted a failure: {failure:?}")
    }
}
