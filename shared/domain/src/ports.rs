//! The ports the handlers talk to, in the job's words. The AWS adapters in [`crate::aws`] implement
//! them against DynamoDB, S3 and SQS.

use std::future::Future;

use crate::event::EventType;
use crate::ids::{DocumentId, QuoteId};
use crate::job::{Change, Enrichment, JobKey, PlannedDocument, SignedQuoteLookup};
use crate::message::FetchMessage;
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

    /// Marks a document `QUEUED` unless it is already known (queued by another delivery, being
    /// fetched, stored or failed). Returns whether this delivery queued it; a retry of the
    /// delivery that queued it gets `true` again, so its message is sent again.
    fn queue_document(
        &self,
        job: &JobKey,
        document: &PlannedDocument,
        delivery: &Delivery,
    ) -> impl Future<Output = Result<bool, BackendError>> + Send;
}

pub trait Archive: Send + Sync {
    /// Stores `body` under `key`.
    fn put(&self, key: &str, body: Vec<u8>) -> impl Future<Output = Result<(), BackendError>> + Send;
}

pub trait FetchQueue: Send + Sync {
    /// Sends the messages (in batches); fails if any one was not accepted.
    fn send(&self, messages: &[FetchMessage]) -> impl Future<Output = Result<(), BackendError>> + Send;
}

/// What claiming a document for download found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FetchClaim {
    /// This invocation holds the document until `lease` runs out.
    Claimed { lease: String },
    /// Already in S3: acknowledge without downloading.
    Stored,
    /// Failed for good before: acknowledge.
    Failed { reason: String },
    /// Another invocation holds a live lease: try again later.
    Busy,
    /// The document is known but not queued (say, only recorded): acknowledge.
    NotQueued { status: String },
    /// No webhook of the message's tenant queued it on that job (there is no such item, or it is
    /// another tenant's): refused for good, acknowledged and counted.
    Refused { reason: String },
}

/// A document in S3.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredDocument {
    pub key: String,
    pub size: u64,
    pub sha256: String,
    /// 1 for a single `PutObject`, else the number of multipart parts.
    pub parts: u32,
    /// What EverBright said it was.
    pub content_type: Option<String>,
}

/// The document items, as the fetcher moves them `QUEUED -> FETCHING -> STORED | FAILED`.
pub trait DocumentLedger: Send + Sync {
    /// Claims the document under `lease` (a new unique token), which holds until `lease_until`.
    fn claim_fetch(
        &self,
        job: &JobKey,
        document: DocumentId,
        lease: &str,
        now: Timestamp,
        lease_until: Timestamp,
    ) -> impl Future<Output = Result<FetchClaim, BackendError>> + Send;

    /// Records the stored document and counts it on the job, once. `false` when the lease was
    /// lost to another invocation (which then records it).
    fn mark_stored(
        &self,
        job: &JobKey,
        document: DocumentId,
        lease: &str,
        stored: &StoredDocument,
        now: Timestamp,
    ) -> impl Future<Output = Result<bool, BackendError>> + Send;

    /// A permanent failure: `FAILED` with the reason.
    fn mark_failed(
        &self,
        job: &JobKey,
        document: DocumentId,
        lease: &str,
        reason: &str,
        now: Timestamp,
    ) -> impl Future<Output = Result<(), BackendError>> + Send;

    /// A retryable failure: back to `QUEUED`, the reason kept as `last_error`.
    fn release_fetch(
        &self,
        job: &JobKey,
        document: DocumentId,
        lease: &str,
        reason: &str,
    ) -> impl Future<Output = Result<(), BackendError>> + Send;

    /// Records a signature's details from the data API on `DETAILS#<quote>` (`quote` as the
    /// contract names it), unless a newer signature's are there, and points the job's summary at
    /// them; the raw answers are in S3 under `raw_keys`.
    fn record_details(
        &self,
        job: &JobKey,
        record: &DetailsRecord,
        now: Timestamp,
    ) -> impl Future<Output = Result<(), BackendError>> + Send;

    /// An enrichment that failed this time: the reason on its `DETAILS#` item, as `last_error`.
    fn record_enrichment_error(
        &self,
        job: &JobKey,
        quote: QuoteId,
        reason: &str,
        now: Timestamp,
    ) -> impl Future<Output = Result<(), BackendError>> + Send;

    /// The version of the signature whose details `DETAILS#<quote>` records (`None`: none
    /// recorded yet), read consistently: a redelivered enrichment of it reads nothing.
    fn details_version(
        &self,
        job: &JobKey,
        quote: QuoteId,
    ) -> impl Future<Output = Result<Option<i64>, BackendError>> + Send;

    /// A re-sign look-up that failed this time: the reason on the job's summary, as
    /// `lookup_error` (the quote looked up, the reason, the time), where `dlq` finds it.
    fn record_lookup_error(
        &self,
        job: &JobKey,
        quote: QuoteId,
        reason: &str,
        now: Timestamp,
    ) -> impl Future<Output = Result<(), BackendError>> + Send;

    /// Removes the job's `lookup_error` if it is `quote`'s: the look-up has now succeeded.
    fn clear_lookup_error(&self, job: &JobKey, quote: QuoteId)
    -> impl Future<Output = Result<(), BackendError>> + Send;

    /// Records what a re-sign look-up answered (`None`: no signed baseline); see
    /// [`crate::job::plan_signed_quote`].
    fn record_signed_quote(
        &self,
        job: &JobKey,
        lookup: &SignedQuoteLookup,
        signed: Option<QuoteId>,
        now: Timestamp,
    ) -> impl Future<Output = Result<(), BackendError>> + Send;
}

/// Ports that answer at once and keep nothing: every claim is new, every write lands, every
/// document is queued. For benchmarks (the handler's own cost) and fuzzing (the handler on any
/// input, without a backend).
#[cfg(feature = "inert")]
pub mod inert {
    use super::*;

    pub struct Inert;

    impl DeliveryLedger for Inert {
        async fn was_applied(&self, _: &Delivery) -> Result<bool, BackendError> {
            Ok(false)
        }
        async fn claim_delivery(&self, _: &Delivery) -> Result<Claim, BackendError> {
            Ok(Claim::New)
        }
        async fn finish_delivery(&self, _: &Delivery) -> Result<(), BackendError> {
            Ok(())
        }
        async fn release_delivery(&self, _: &Delivery) -> Result<(), BackendError> {
            Ok(())
        }
    }

    impl JobStore for Inert {
        async fn apply(&self, _: &JobKey, _: &Change) -> Result<Applied, BackendError> {
            Ok(Applied::Landed)
        }
        async fn record_document(&self, _: &JobKey, _: &PlannedDocument) -> Result<(), BackendError> {
            Ok(())
        }
        async fn queue_document(&self, _: &JobKey, _: &PlannedDocument, _: &Delivery) -> Result<bool, BackendError> {
            Ok(true)
        }
        async fn queue_enrichment(&self, _: &JobKey, _: &Enrichment, _: &Delivery) -> Result<bool, BackendError> {
            Ok(true)
        }
    }

    impl Archive for Inert {
        async fn put(&self, _: &str, _: Vec<u8>) -> Result<(), BackendError> {
            Ok(())
        }
    }

    impl FetchQueue for Inert {
        async fn send(&self, _: &[FetchMessage]) -> Result<(), BackendError> {
            Ok(())
        }
    }
}
