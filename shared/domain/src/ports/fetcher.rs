//! The fetcher's ports: the document items' ledger, where a download is stored, where the data
//! API's answers are kept, and the download itself as chunks.

use std::collections::HashMap;
use std::future::Future;

use bytes::Bytes;

use super::{BackendError, DetailsRecord};
use crate::dal::DataAnswer;
use crate::ids::{DocumentId, QuoteId};
use crate::job::{JobKey, SignedQuoteLookup};
use crate::timestamp::Timestamp;

/// Why a call to EverBright (or a store of what it sent) failed, and whether trying again later
/// can help.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    /// Will not succeed by retrying: 404, 403, 410, another 4xx, not a PDF, a refused redirect.
    #[error("{0}")]
    Permanent(String),
    /// May succeed later: connection errors, timeouts, 429, 5xx, a body cut short.
    #[error("{0}")]
    Retryable(String),
    /// 401: the token was refused. It may succeed with the token read again (after a rotation),
    /// else later, once the token is fixed.
    #[error("{0}")]
    Unauthorized(String),
}

impl FetchError {
    pub fn is_permanent(&self) -> bool {
        matches!(self, Self::Permanent(_))
    }
}

/// A body read chunk by chunk (a download under way).
pub trait ChunkSource: Send {
    fn next_chunk(&mut self) -> impl Future<Output = Result<Option<Bytes>, FetchError>> + Send;
    /// The length the sender declared (`Content-Length`), if any.
    fn declared_length(&self) -> Option<u64>;
}

/// Where downloaded documents go.
pub trait DocumentStore: Send + Sync {
    /// Streams `source` into `key` with `metadata`, adding `sha256` (hex) to the metadata. The
    /// first bytes must be `%PDF-` (else a permanent failure) and the length must match the
    /// declared one (else a retryable failure); a failed store leaves nothing under `key`.
    fn store<S: ChunkSource>(
        &self,
        key: &str,
        metadata: HashMap<String, String>,
        source: &mut S,
        content_type: Option<&str>,
    ) -> impl Future<Output = Result<StoredDocument, FetchError>> + Send;
}

/// Where the data API's answers are kept as evidence.
pub trait AnswerArchive: Send + Sync {
    /// Keeps `answer` as it came, to the last byte, with the URL asked, the status and when it was
    /// received.
    fn keep_answer(
        &self,
        key: &str,
        answer: &DataAnswer,
        received_at: Timestamp,
    ) -> impl Future<Output = Result<(), BackendError>> + Send;
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
    /// The object's version, where the bucket keeps versions (the template's does).
    pub version_id: Option<String>,
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
