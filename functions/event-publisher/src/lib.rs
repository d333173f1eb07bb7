//! The event publisher: reads the job table's stream (the outbox) and puts every committed change
//! of a job on the installer's EventBridge bus as typed events ([`domain::bus`]), in the stream's
//! order, at least once, each with its deterministic id.
//!
//! A batch: read each record (one it cannot read, or of an item it does not know, is logged and
//! counted, never retried), map it to events, put them ten at a time, putting again only the
//! entries the bus refused ([`PublisherConfig::attempts`] times). When entries are still refused
//! it stops there, notes the sites of the records from the first refused one on
//! ([`FailureNotes`]), and reports that record as the batch's first failure, so the event source
//! mapping retries from it (bounded, then its on-failure destination). What was published is
//! logged per job ([`PublicationLog`]) for the operator's `published`.

mod record;

use std::collections::HashSet;
use std::time::Duration;

use lambda_runtime::{Error, LambdaEvent};
use serde::Serialize;
use serde_json::Value;
use tracing::{error, info, warn};

use aws::{Clients, DynamoJobStore, EventBridgeBus, SqsFailureNotes};
use config::PublisherConfig;
use domain::bus::{self, BusEvent, DetailType, PublishFailure};
use domain::job::JobKey;
use domain::metrics::{Emf, MetricsSink, PUBLISHER_METRICS, function_name, stdout_sink};
use domain::ports::{EventSink, FailureNotes, MAX_EVENTS_PER_PUT, PublicationLog};
use domain::timestamp::Clock;

pub use record::{Record, Unreadable, plain_item, records};

/// The answer to Lambda (`ReportBatchItemFailures`): the first record to retry from, if any.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct StreamResponse {
    #[serde(rename = "batchItemFailures")]
    pub batch_item_failures: Vec<ItemFailure>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ItemFailure {
    #[serde(rename = "itemIdentifier")]
    pub item_identifier: String,
}

/// What one batch did, for the metrics and the local runs.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Published {
    pub records: usize,
    pub events: Vec<BusEvent>,
    pub unreadable: usize,
    pub put_retries: usize,
    /// The sequence number the batch is given back from, and why.
    pub failed: Option<(String, String)>,
}

/// The total size of one `PutEvents` request EventBridge takes, in bytes.
const MAX_PUT_BYTES: usize = 256 * 1024;

pub struct Publisher<S = EventBridgeBus, L = DynamoJobStore, N = SqsFailureNotes> {
    sink: S,
    log: L,
    notes: N,
    bucket: String,
    attempts: u32,
    backoff: Duration,
    function: String,
    metrics: MetricsSink,
    clock: Clock,
}

impl Publisher {
    pub async fn from_env() -> Result<Self, Error> {
        let config = PublisherConfig::from_env()?;
        let clients = Clients::new(&aws::load_sdk_config().await);
        Ok(Self::on_aws(&config, &clients))
    }

    pub fn on_aws(config: &PublisherConfig, clients: &Clients) -> Self {
        let sink = EventBridgeBus::new(clients.eventbridge().clone(), &config.event_bus);
        let log = DynamoJobStore::new(clients.dynamodb.clone(), &config.jobs_table);
        let notes = SqsFailureNotes::new(clients.sqs().clone(), &config.failures_queue_url);
        Self::new((sink, log, notes), &config.documents_bucket).with_attempts(config.attempts)
    }
}

impl<S: EventSink, L: PublicationLog, N: FailureNotes> Publisher<S, L, N> {
    pub fn new((sink, log, notes): (S, L, N), bucket: &str) -> Self {
        Self {
            sink,
            log,
            notes,
            bucket: bucket.to_owned(),
            attempts: 3,
            backoff: Duration::from_millis(100),
            function: function_name("event-publisher"),
            metrics: stdout_sink(),
            clock: Clock::system(),
        }
    }

    pub fn with_attempts(mut self, attempts: u32) -> Self {
        self.attempts = attempts.max(1);
        self
    }

    /// The wait before the second attempt (doubled before each further one).
    pub fn with_backoff(mut self, backoff: Duration) -> Self {
        self.backoff = backoff;
        self
    }

    pub fn with_metrics(mut self, metrics: MetricsSink) -> Self {
        self.metrics = metrics;
        self
    }

    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    pub fn ports(&self) -> (&S, &L, &N) {
        (&self.sink, &self.log, &self.notes)
    }

    /// One invocation, as Lambda calls it.
    pub async fn handle(&self, event: LambdaEvent<Value>) -> Result<StreamResponse, Error> {
        Ok(self.publish(&event.payload).await.0)
    }

    /// One batch of stream records: the answer to Lambda, and what it did.
    pub async fn publish(&self, event: &Value) -> (StreamResponse, Published) {
        let mut published = Published::default();
        let records = match records(event) {
            Ok(records) => records,
            Err(reason) => {
                // Nothing to retry from: an event of another shape is not a stream batch.
                error!(reason, "not a DynamoDB stream event; nothing published");
                published.unreadable = 1;
                self.record_metrics(&published);
                return (StreamResponse::default(), published);
            }
        };
        published.records = records.len();
        let mut pending: Vec<(usize, BusEvent)> = Vec::new();
        let mut seen = HashSet::new();
        for (index, record) in records.iter().enumerate() {
            let record = match record {
                Ok(record) => record,
                Err(unreadable) => {
                    warn!(error = %unreadable, "a stream record this version cannot read; skipped");
                    published.unreadable += 1;
                    continue;
                }
            };
            match self.events_of(record) {
                // The same id twice in a batch is the same change twice (two writes that each
                // created the item): put once.
                Ok(events) => pending.extend(events.into_iter().filter(|e| seen.insert(e.id)).map(|e| (index, e))),
                Err(unmapped) => {
                    let sequence_number = &record.sequence_number;
                    warn!(sequence_number, error = %unmapped, "a change this version cannot map; skipped");
                    published.unreadable += 1;
                }
            }
        }
        let put = put_in_order(&self.sink, &pending, self.attempts, self.backoff).await;
        (published.events, published.put_retries) = (put.events, put.retries);
        if !published.events.is_empty()
            && let Err(error) = self.log.record(&published.events).await
        {
            warn!(error = %error, "published, but the publication log was not written");
        }
        let mut response = StreamResponse::default();
        if let Some((index, reason)) = put.failed {
            let sequence_number = self.give_back(&records[index..], &reason).await;
            response.batch_item_failures.push(ItemFailure { item_identifier: sequence_number.clone() });
            published.failed = Some((sequence_number, reason));
        }
        self.record_metrics(&published);
        (response, published)
    }

    /// Notes the sites of `unpublished` (the records from the first not published on) before the
    /// batch is given back from the first of them; answers its sequence number.
    async fn give_back(&self, unpublished: &[Result<Record, Unreadable>], reason: &str) -> String {
        let sequence_number = match unpublished.first() {
            Some(Ok(record)) => record.sequence_number.clone(),
            Some(Err(unreadable)) => unreadable.sequence_number.clone(),
            None => String::new(),
        };
        let jobs: Vec<&JobKey> =
            unpublished.iter().filter_map(|record| record.as_ref().ok()?.item.as_ref().map(|(job, _)| job)).collect();
        let note = PublishFailure::new(reason.to_owned(), &jobs, sequence_number.clone(), self.clock.now());
        if let Err(error) = self.notes.note(&note).await {
            error!(error = %error, "the sites that were not published could not be noted either");
        }
        let sites = note.sites.len();
        error!(reason, sequence_number, sites, "not published; the batch is given back from here");
        sequence_number
    }

    /// The events of one record, `Document Stored` naming the bucket.
    fn events_of(&self, record: &Record) -> Result<Vec<BusEvent>, bus::Unmapped> {
        let Some(change) = record.change() else { return Ok(Vec::new()) };
        let mut events = bus::events(&change, None)?;
        name_bucket(&mut events, &self.bucket);
        Ok(events)
    }

    fn record_metrics(&self, published: &Published) {
        let [records, put, unmapped, retries, failed] = PUBLISHER_METRICS;
        let mut emf = Emf::new(&self.function);
        emf.count(records, published.records)
            .count(put, published.events.len())
            .count(unmapped, published.unreadable)
            .count(retries, published.put_retries)
            .count(failed, usize::from(published.failed.is_some()));
        (self.metrics)(emf.to_line(self.clock.now()));
        info!(
            records = published.records,
            published = published.events.len(),
            unmapped = published.unreadable,
            put_retries = published.put_retries,
            "stream batch handled"
        );
    }
}

/// Names the documents' bucket in `Document Stored` (the table does not keep it).
pub fn name_bucket(events: &mut [BusEvent], bucket: &str) {
    for event in events.iter_mut().filter(|event| event.detail_type == DetailType::DocumentStored) {
        event.detail.insert("bucket".into(), bucket.into());
    }
}

/// What putting events in order did.
#[derive(Debug, Default)]
pub struct Put {
    /// The events the bus took, in the order it took them.
    pub events: Vec<BusEvent>,
    /// Entries put again after a refusal.
    pub retries: usize,
    /// The first record (its index as `pending` gives it) with an event still refused, and why.
    pub failed: Option<(usize, String)>,
}

/// Puts `pending` (each event with the index of the record it came from) in order, in chunks,
/// putting again only the entries the bus refused, `attempts` times in all with a doubling
/// `backoff`; stops after the first chunk with an entry still refused.
pub async fn put_in_order<S: EventSink>(
    sink: &S,
    pending: &[(usize, BusEvent)],
    attempts: u32,
    backoff: Duration,
) -> Put {
    let mut put = Put::default();
    for chunk in chunks(pending) {
        let mut left: Vec<&(usize, BusEvent)> = chunk.iter().collect();
        let mut reason = String::new();
        for attempt in 0..attempts.max(1) {
            if attempt > 0 {
                tokio::time::sleep(backoff * 2_u32.pow(attempt - 1)).await;
                put.retries += left.len();
            }
            let events: Vec<BusEvent> = left.iter().map(|(_, event)| event.clone()).collect();
            match sink.put(&events).await {
                Ok(results) => {
                    let mut refused = Vec::new();
                    for (entry, result) in left.into_iter().zip(results) {
                        match result {
                            None => put.events.push(entry.1.clone()),
                            Some(why) => {
                                reason = format!("EventBridge refused an entry: {why}");
                                refused.push(entry);
                            }
                        }
                    }
                    left = refused;
                }
                Err(error) => reason = error.to_string(),
            }
            if left.is_empty() {
                break;
            }
        }
        if let Some(first) = left.iter().map(|(index, _)| *index).min() {
            put.failed = Some((first, reason));
            return put;
        }
    }
    put
}

/// The events in order, in chunks of at most ten entries and [`MAX_PUT_BYTES`].
fn chunks(pending: &[(usize, BusEvent)]) -> Vec<&[(usize, BusEvent)]> {
    let mut chunks = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (at, (_, event)) in pending.iter().enumerate() {
        let size = event.detail_json().len() + event.detail_type.name().len() + bus::SOURCE.len();
        if at > start && (at - start == MAX_EVENTS_PER_PUT || bytes + size > MAX_PUT_BYTES) {
            chunks.push(&pending[start..at]);
            (start, bytes) = (at, 0);
        }
        bytes += size;
    }
    if start < pending.len() {
        chunks.push(&pending[start..]);
    }
    chunks
}

#[cfg(test)]
mod tests;
