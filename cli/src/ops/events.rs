//! The operator's view of the events: republish a job's current state for a new consumer (each
//! event marked as a replay, with an id of its own), republish the sites the publisher noted it
//! could not publish, and show what was published of a job.

use aws::{DynamoJobStore, EventBridgeBus, schema};
use aws_sdk_sqs::types::Message;
use domain::bus::{self, BusEvent, ItemChange, NotedSite, PublishFailure, Replay};
use domain::job::JobKey;
use domain::timestamp::Timestamp;
use event_publisher::{name_bucket, put_in_order};
use serde_json::{Map, Value};

use super::{Ops, OpsError};

/// What a republish did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Republished {
    pub jobs: usize,
    pub events: usize,
}

/// What the failure queue held.
#[derive(Debug, Default)]
pub struct Failures {
    /// The sites the publisher noted, each once.
    pub sites: Vec<NotedSite>,
    /// The event source mapping's own records (a batch it gave up on: shard and sequence numbers).
    pub given_up: Vec<Value>,
    /// The messages read, to delete once their sites are republished.
    messages: Vec<Message>,
}

/// The events of a job's current state, as a replay.
pub fn replay_events(job: &JobKey, items: &[Map<String, Value>], replay: &Replay, now: Timestamp) -> Vec<BusEvent> {
    let mut events = Vec::new();
    for item in items {
        let key = |name: &str| item.get(name).and_then(Value::as_str).unwrap_or_default();
        let Ok(Some((_, kind))) = schema::item_of(key("pk"), key("sk")) else { continue };
        let change = ItemChange { job, item: &kind, old: None, new: Some(item), committed_at: now };
        // An item this version cannot map is left out, as the publisher leaves it out.
        events.extend(bus::events(&change, Some(replay)).unwrap_or_default());
    }
    events
}

impl Ops {
    fn bus(&self) -> Result<&EventBridgeBus, OpsError> {
        self.bus.as_ref().ok_or_else(|| "no event bus: set EVENT_BUS_NAME or --event-bus".into())
    }

    /// Puts the current state of each of `jobs` on the bus as a replay with id `replay`;
    /// `progress` hears of each job done.
    pub async fn republish(
        &self,
        jobs: &[JobKey],
        replay: &Replay,
        mut progress: impl FnMut(usize, usize),
    ) -> Result<Republished, OpsError> {
        let bus = self.bus()?;
        let mut done = Republished::default();
        for (at, job) in jobs.iter().enumerate() {
            progress(at + 1, jobs.len());
            let items = self.store.job_items(job).await?;
            if items.is_empty() {
                continue;
            }
            let mut events = replay_events(job, &items, replay, Timestamp::now());
            name_bucket(&mut events, &self.bucket);
            let pending: Vec<(usize, BusEvent)> = events.into_iter().enumerate().collect();
            let put = put_in_order(bus, &pending, 3, std::time::Duration::from_millis(200)).await;
            if let Some((_, reason)) = put.failed {
                return Err(format!("{job}: {reason} ({} event(s) put before)", put.events.len()).into());
            }
            done.jobs += 1;
            done.events += put.events.len();
        }
        Ok(done)
    }

    /// Everything on the publisher's failure queue (`PUBLISH_FAILURES_QUEUE_URL`), read and made
    /// visible again (nothing deleted).
    pub async fn publish_failures(&self) -> Result<Failures, OpsError> {
        let failures = self.read_failures().await?;
        let url = self.failures_url()?;
        for handle in failures.messages.iter().filter_map(Message::receipt_handle) {
            self.sqs
                .change_message_visibility()
                .queue_url(url)
                .receipt_handle(handle)
                .visibility_timeout(0)
                .send()
                .await?;
        }
        Ok(failures)
    }

    /// Everything on the failure queue, kept invisible while it is handled.
    async fn read_failures(&self) -> Result<Failures, OpsError> {
        let url = self.failures_url()?;
        let mut failures = Failures::default();
        loop {
            let receive = self.sqs.receive_message().queue_url(url).max_number_of_messages(10);
            let output = receive.visibility_timeout(120).send().await?;
            if output.messages().is_empty() {
                break;
            }
            for message in output.messages() {
                let body: Value = serde_json::from_str(message.body().unwrap_or_default()).unwrap_or_default();
                if body["kind"] == PublishFailure::KIND {
                    let note: PublishFailure = serde_json::from_value(body)?;
                    failures.sites.extend(note.sites);
                } else {
                    failures.given_up.push(body);
                }
                failures.messages.push(message.clone());
            }
        }
        failures.sites.sort();
        failures.sites.dedup();
        Ok(failures)
    }

    /// Republishes every site on the failure queue, then deletes what was read.
    pub async fn republish_failures(
        &self,
        replay: &Replay,
        progress: impl FnMut(usize, usize),
    ) -> Result<(Failures, Republished), OpsError> {
        let failures = self.read_failures().await?;
        let jobs: Vec<JobKey> =
            failures.sites.iter().map(|noted| JobKey::new(noted.tenant.clone(), noted.site)).collect();
        let done = self.republish(&jobs, replay, progress).await?;
        let url = self.failures_url()?;
        for message in &failures.messages {
            if let Some(handle) = message.receipt_handle() {
                self.sqs.delete_message().queue_url(url).receipt_handle(handle).send().await?;
            }
        }
        Ok((failures, done))
    }

    fn failures_url(&self) -> Result<&str, OpsError> {
        self.failures_queue_url
            .as_deref()
            .ok_or_else(|| "no failure queue: set PUBLISH_FAILURES_QUEUE_URL or --failures-queue-url".into())
    }

    /// What was published of `job`, oldest first.
    pub async fn published(&self, job: &JobKey) -> Result<Vec<Map<String, Value>>, OpsError> {
        Ok(DynamoJobStore::published(&self.store, job).await?)
    }
}
