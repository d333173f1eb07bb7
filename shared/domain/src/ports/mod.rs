//! The ports the handlers talk to, in the job's words: the receiver's here, the fetcher's in
//! `fetcher.rs`. The `aws` crate implements them against DynamoDB, S3 and SQS; the `everbright`
//! crate's download is a [`ChunkSource`].

mod fetcher;
#[cfg(feature = "inert")]
pub mod inert;
mod plan;
mod publisher;
mod sweeper;

pub use fetcher::{AnswerArchive, ChunkSource, DocumentLedger, DocumentStore, FetchClaim, FetchError, StoredDocument};
pub use plan::{PlanApplied, apply_each};
pub use publisher::{EventSink, FailureNotes, MAX_EVENTS_PER_PUT, PublicationLog};
pub use sweeper::{PendingLedger, PendingRead, ReconcileLedger, SiteSource};

use std::future::Future;

use crate::event::EventType;
use crate::ids::QuoteId;
use crate::job::{Change, Enrichment, JobKey, Plan, PlannedDocument, SignedQuoteLookup};
use crate::message::WorkMessage;
use crate::tenant::TenantId;
use crate::timestamp::Timestamp;

/// An error from a backing service, with the operation that failed.
#[derive(Debug, thiserror::Error)]
#[error("{operation} failed: {}", crate::error::chain(source.as_ref()))]
pub struct BackendError {
    pub operation: &'static str,
    #[source]
    pub source: Box<dyn std::error::Error + Send + Sync>,
}

impl BackendError {
    pub fn new(operation: &'static str, source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self { operation, source: source.into() }
    }
}

/// A delivery, identified by its tenant, its event (the route) and the SHA-256 of its body.
#[derive(Clone, Debug)]
pub struct Delivery {
    pub tenant: TenantId,
    pub event: EventType,
    pub body_sha256: String,
    pub event_id: String,
    pub now: Timestamp,
    /// Until when a repeat of it is a duplicate (see [`crate::job::Identity`]).
    pub remember_until: Timestamp,
}

impl Delivery {
    /// What tells this delivery apart from another (its route and body; the tenant is the job's):
    /// a queued document or enrichment records it, so that a retry of the same delivery queues
    /// again and the same body on another route does not.
    pub fn identity(&self) -> String {
        format!("{}#{}", self.event.slug(), self.body_sha256)
    }
}

/// What claiming a delivery found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Claim {
    /// Not seen before (or a previous attempt failed): apply it.
    New,
    /// Already applied: change nothing.
    Duplicate { first_event_id: String },
    /// Another request with the same body is being applied right now.
    InProgress,
}

/// Whether a guarded write landed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Applied {
    Landed,
    /// The stored state is newer: nothing was written.
    Stale,
}

/// The receiver's delivery ledger: what has been applied, and what is being applied.
pub trait DeliveryLedger: Send + Sync {
    /// Whether the delivery is remembered as applied at `delivery.now` (what a claim would answer
    /// `Duplicate`), without claiming it: for dry runs.
    fn was_applied(&self, delivery: &Delivery) -> impl Future<Output = Result<bool, BackendError>> + Send;

    /// Claims a delivery for applying. A delivery counts as seen only once [`finish_delivery`]
    /// has run; a claim that is released or whose lease runs out lets a retry apply it.
    fn claim_delivery(&self, delivery: &Delivery) -> impl Future<Output = Result<Claim, BackendError>> + Send;

    /// Marks the delivery applied; from now on the same body is a duplicate.
    fn finish_delivery(&self, delivery: &Delivery) -> impl Future<Output = Result<(), BackendError>> + Send;

    /// Gives the claim up after a failure, so the sender's retry is applied.
    fn release_delivery(&self, delivery: &Delivery) -> impl Future<Output = Result<(), BackendError>> + Send;
}

/// A signature's details, as recorded.
#[derive(Clone, Debug, PartialEq)]
pub struct DetailsRecord {
    /// The quote the contract names (the item's key), and the one the data API says it was signed as.
    pub quote: QuoteId,
    pub signed_quote: QuoteId,
    /// The signature's version (see [`crate::job::Enrichment`]).
    pub version: i64,
    pub details: crate::dal::Details,
    /// The S3 keys of the raw answers.
    pub raw_keys: Vec<String>,
}

/// The receiver's writes to a job.
pub trait JobStore: Send + Sync {
    /// Applies one change to the job; `Stale` when the job holds a newer version of what it changes.
    fn apply(&self, job: &JobKey, change: &Change) -> impl Future<Output = Result<Applied, BackendError>> + Send;

    /// Records a document the job names, without changing its download status.
    fn record_document(
        &self,
        job: &JobKey,
        document: &PlannedDocument,
    ) -> impl Future<Output = Result<(), BackendError>> + Send;

    /// Marks the enrichment of a signature requested (`DETAILS#<quote>`), unless that signature's
    /// (or a newer one's) was requested by another delivery. Returns whether this delivery
    /// requested it (a retry of the delivery that did gets `true` again), so its message is sent.
    fn queue_enrichment(
        &self,
        job: &JobKey,
        enrichment: &Enrichment,
        delivery: &Delivery,
    ) -> impl Future<Output = Result<bool, BackendError>> + Send;

    /// Marks a re-sign look-up asked for (`LOOKUP#<quote>`), unless one at that event's version
    /// (or a newer one) was asked for by another delivery. Returns whether this delivery asked,
    /// so its message is sent.
    fn queue_lookup(
        &self,
        job: &JobKey,
        lookup: &SignedQuoteLookup,
        delivery: &Delivery,
    ) -> impl Future<Output = Result<bool, BackendError>> + Send;

    /// Marks a document `QUEUED` unless it is already known (queued by another delivery, being
    /// fetched, stored or failed). Returns whether this delivery queued it; a retry of the
    /// delivery that queued it gets `true` again, so its message is sent again.
    fn queue_document(
        &self,
        job: &JobKey,
        document: &PlannedDocument,
        delivery: &Delivery,
    ) -> impl Future<Output = Result<bool, BackendError>> + Send;

    /// Everything `plan` writes to the job for `delivery`: its changes, its documents and, unless
    /// the event is stale, its enrichment and look-up requests. By default one write per part
    /// ([`apply_each`]); a store that writes them in fewer calls leaves the same job and answers
    /// the same.
    fn apply_plan(
        &self,
        job: &JobKey,
        plan: &Plan,
        delivery: &Delivery,
    ) -> impl Future<Output = Result<PlanApplied, BackendError>> + Send {
        apply_each(self, job, plan, delivery)
    }
}

pub trait Archive: Send + Sync {
    /// Stores `body` under `key`.
    fn put(&self, key: &str, body: Vec<u8>) -> impl Future<Output = Result<(), BackendError>> + Send;
}

pub trait WorkQueue: Send + Sync {
    /// Sends the messages (in batches); fails if any one was not accepted.
    fn send(&self, messages: &[WorkMessage]) -> impl Future<Output = Result<(), BackendError>> + Send;
}
