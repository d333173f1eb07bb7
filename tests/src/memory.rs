//! The receiver's ports in memory, in the job's words: a job is its summary's parts, its stage,
//! tasks, milestones, quotes and documents, each versioned part kept only if no newer version is
//! stored; deliveries are claimed, finished and released. For property tests that run thousands
//! of cases (the DynamoDB adapter is tested on moto and dynalite, and the scenario checks the same
//! property there).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Mutex, PoisonError};

use domain::ids::{DocumentId, MilestoneId, QuoteId, TaskId};
use domain::job::{Change, DeliveryState, Enrichment, FetchStatus, JobKey, Part, PlannedDocument, SignedQuoteLookup};
use domain::message::WorkMessage;
use domain::ports::{Applied, Archive, BackendError, Claim, Delivery, DeliveryLedger, JobStore, WorkQueue};
use serde_json::{Map, Value};

/// A part of a job with the version of the event that last changed it.
pub type Versioned = (i64, Map<String, Value>);

/// A document as the receiver leaves it: what the last event said of it (`fetch` unset), its
/// status, and the body that queued it.
#[derive(Clone, Debug, PartialEq)]
pub struct Document {
    pub planned: PlannedDocument,
    pub status: FetchStatus,
    pub queued_by: Option<String>,
}

/// A job.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Job {
    pub quotes: BTreeSet<QuoteId>,
    pub summary: BTreeMap<Part, Versioned>,
    pub stage: Option<Map<String, Value>>,
    pub tasks: BTreeMap<TaskId, Versioned>,
    pub milestones: BTreeMap<MilestoneId, Versioned>,
    pub documents: BTreeMap<DocumentId, Document>,
    /// Each quote's requested enrichment: the signature's version and the body that asked.
    pub enrichments: BTreeMap<QuoteId, (i64, String)>,
    /// Each original quote's requested re-sign look-up: the event's version and the body that asked.
    pub lookups: BTreeMap<QuoteId, (i64, String)>,
}

/// A delivery's record.
#[derive(Clone, Debug, PartialEq)]
pub struct DeliveryRecord {
    pub state: DeliveryState,
    pub event_id: String,
}

/// Every job, and every delivery by its tenant, event and body's SHA-256.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct State {
    pub jobs: BTreeMap<JobKey, Job>,
    pub deliveries: BTreeMap<(String, String, String), DeliveryRecord>,
}

impl State {
    /// What the jobs are, without what says when or by which request something happened: the
    /// last event, a stage's time and version, which delivery wrote a part last (of two with the
    /// same content), who queued a document or asked for an enrichment, who claimed a delivery.
    pub fn without_volatile(mut self) -> Self {
        for job in self.jobs.values_mut() {
            job.summary.remove(&Part::LastEvent);
            if let Some(stage) = &mut job.stage {
                stage.remove("at");
            }
            let parts = job.summary.values_mut().chain(job.tasks.values_mut()).chain(job.milestones.values_mut());
            for fields in parts.map(|(_, fields)| fields).chain(job.stage.as_mut()) {
                fields.remove("event_id");
            }
            for document in job.documents.values_mut() {
                document.queued_by = None;
            }
            for (_, requested_by) in job.enrichments.values_mut().chain(job.lookups.values_mut()) {
                requested_by.clear();
            }
        }
        for record in self.deliveries.values_mut() {
            record.event_id.clear();
        }
        self
    }
}

/// The receiver's store, in memory.
#[derive(Default)]
pub struct MemoryStore {
    state: Mutex<State>,
}

impl MemoryStore {
    pub fn state(&self) -> State {
        self.lock().clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// How a newer change of a part treats what the part holds.
#[derive(Clone, Copy)]
enum Keep {
    /// The new value replaces the old one (a part of the summary).
    Nothing,
    /// The fields it names replace theirs; the others stay (a task's or milestone's fields).
    OtherFields,
}

/// Applies a versioned change to the part `key` of `parts`: kept unless a newer version is stored.
fn apply_versioned<K: Ord>(
    parts: &mut BTreeMap<K, Versioned>,
    key: K,
    version: i64,
    value: &Map<String, Value>,
    keep: Keep,
) -> Applied {
    let mut value = value.clone();
    if let Some((stored, held)) = parts.get(&key) {
        if *stored > version {
            return Applied::Stale;
        }
        if let Keep::OtherFields = keep {
            let mut merged = held.clone();
            merged.extend(value);
            value = merged;
        }
    }
    parts.insert(key, (version, value));
    Applied::Landed
}

fn update_document<'a>(
    documents: &'a mut BTreeMap<DocumentId, Document>,
    planned: &PlannedDocument,
) -> &'a mut Document {
    let document = documents.entry(planned.id).or_insert_with(|| Document {
        planned: planned.clone(),
        status: FetchStatus::Recorded,
        queued_by: None,
    });
    // EverBright's `stale`: once true, true.
    let stale = planned.stale.map(|stale| stale || document.planned.stale.unwrap_or(false)).or(document.planned.stale);
    document.planned = PlannedDocument { stale, fetch: false, ..planned.clone() };
    document
}

fn delivery_key(delivery: &Delivery) -> (String, String, String) {
    (delivery.tenant.to_string(), delivery.event.slug().to_owned(), delivery.body_sha256.clone())
}

impl DeliveryLedger for MemoryStore {
    async fn was_applied(&self, delivery: &Delivery) -> Result<bool, BackendError> {
        let state = self.lock();
        Ok(state.deliveries.get(&delivery_key(delivery)).is_some_and(|record| record.state == DeliveryState::Done))
    }

    async fn claim_delivery(&self, delivery: &Delivery) -> Result<Claim, BackendError> {
        let mut state = self.lock();
        let record = state.deliveries.get(&delivery_key(delivery));
        Ok(match record {
            Some(record) if record.state == DeliveryState::Done => {
                Claim::Duplicate { first_event_id: record.event_id.clone() }
            }
            Some(record) if record.event_id != delivery.event_id => Claim::InProgress,
            _ => {
                let record = DeliveryRecord { state: DeliveryState::Applying, event_id: delivery.event_id.clone() };
                state.deliveries.insert(delivery_key(delivery), record);
                Claim::New
            }
        })
    }

    /// Only under the delivery's own claim.
    async fn finish_delivery(&self, delivery: &Delivery) -> Result<(), BackendError> {
        if let Some(record) = self.lock().deliveries.get_mut(&delivery_key(delivery))
            && record.event_id == delivery.event_id
        {
            record.state = DeliveryState::Done;
        }
        Ok(())
    }

    /// Only a claim of the delivery's own, still applying.
    async fn release_delivery(&self, delivery: &Delivery) -> Result<(), BackendError> {
        let mut state = self.lock();
        let key = delivery_key(delivery);
        let own = state
            .deliveries
            .get(&key)
            .is_some_and(|record| record.state == DeliveryState::Applying && record.event_id == delivery.event_id);
        if own {
            state.deliveries.remove(&key);
        }
        Ok(())
    }
}

impl JobStore for MemoryStore {
    async fn queue_enrichment(
        &self,
        job: &JobKey,
        enrichment: &Enrichment,
        delivery: &Delivery,
    ) -> Result<bool, BackendError> {
        let mut state = self.lock();
        let requests = &mut state.jobs.entry(job.clone()).or_default().enrichments;
        Ok(ask(requests, enrichment.quote, enrichment.version, delivery))
    }

    /// As an enrichment: asked once per version, again only by the delivery that asked.
    async fn queue_lookup(
        &self,
        job: &JobKey,
        lookup: &SignedQuoteLookup,
        delivery: &Delivery,
    ) -> Result<bool, BackendError> {
        let mut state = self.lock();
        let requests = &mut state.jobs.entry(job.clone()).or_default().lookups;
        Ok(ask(requests, lookup.quote, lookup.version, delivery))
    }

    async fn apply(&self, job: &JobKey, change: &Change) -> Result<Applied, BackendError> {
        let mut state = self.lock();
        let job = state.jobs.entry(job.clone()).or_default();
        Ok(match change {
            Change::Job { quotes } => {
                job.quotes.extend(quotes.iter().copied());
                Applied::Landed
            }
            Change::Summary { part, version, value } => {
                apply_versioned(&mut job.summary, *part, *version, value, Keep::Nothing)
            }
            // A move from the stage it names, or a first stage.
            Change::Stage { from, value } => {
                let lands = match (job.stage.as_ref().and_then(|stage| stage.get("id")), from) {
                    (None, _) => true,
                    (Some(stored), Some(from)) => stored.as_str() == Some(from.as_str()),
                    (Some(_), None) => false,
                };
                if lands {
                    job.stage = Some(value.clone());
                    Applied::Landed
                } else {
                    Applied::Stale
                }
            }
            Change::Task { task, version, fields } => {
                apply_versioned(&mut job.tasks, *task, *version, fields, Keep::OtherFields)
            }
            Change::Milestone { milestone, version, fields } => {
                apply_versioned(&mut job.milestones, *milestone, *version, fields, Keep::OtherFields)
            }
        })
    }

    async fn record_document(&self, job: &JobKey, document: &PlannedDocument) -> Result<(), BackendError> {
        let mut state = self.lock();
        update_document(&mut state.jobs.entry(job.clone()).or_default().documents, document);
        Ok(())
    }

    /// Queues when the document is new, only recorded, or queued by this same body.
    async fn queue_document(
        &self,
        job: &JobKey,
        planned: &PlannedDocument,
        delivery: &Delivery,
    ) -> Result<bool, BackendError> {
        let mut state = self.lock();
        let documents = &mut state.jobs.entry(job.clone()).or_default().documents;
        let queueable = match documents.get(&planned.id) {
            None => true,
            Some(document) => match document.status {
                FetchStatus::Recorded => true,
                FetchStatus::Queued => document.queued_by.as_deref() == Some(delivery.identity().as_str()),
                _ => false,
            },
        };
        if queueable {
            let document = update_document(documents, planned);
            document.status = FetchStatus::Queued;
            document.queued_by = Some(delivery.identity());
        }
        Ok(queueable)
    }
}

/// Asks for work on `quote` at `version` for `delivery`, as the adapter's condition does: unless
/// another delivery asked at that version or a newer one; again by the delivery that asked.
fn ask(requests: &mut BTreeMap<QuoteId, (i64, String)>, quote: QuoteId, version: i64, delivery: &Delivery) -> bool {
    let requested = requests.entry(quote).or_insert((0, String::new()));
    let asked = requested.0 < version || *requested == (version, delivery.identity());
    if asked {
        *requested = (version, delivery.identity());
    }
    asked
}

/// An archive that keeps nothing.
pub struct NoArchive;

impl Archive for NoArchive {
    async fn put(&self, _: &str, _: Vec<u8>) -> Result<(), BackendError> {
        Ok(())
    }
}

/// A queue that keeps every message.
#[derive(Default)]
pub struct MemoryQueue {
    pub messages: Mutex<Vec<WorkMessage>>,
}

impl WorkQueue for MemoryQueue {
    async fn send(&self, messages: &[WorkMessage]) -> Result<(), BackendError> {
        self.messages.lock().unwrap_or_else(PoisonError::into_inner).extend_from_slice(messages);
        Ok(())
    }
}
