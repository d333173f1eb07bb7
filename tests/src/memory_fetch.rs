//! The fetcher's ports in memory: document items moved `QUEUED -> FETCHING -> STORED | FAILED`
//! under leases as the DynamoDB adapter moves them (the same conditions, on the clock the fetcher
//! is given), documents and data-API answers kept as they were stored. For tests of the fetcher's
//! own lease and outcome logic; the adapters themselves are tested on moto and dynalite.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard, PoisonError};

use bytes::BytesMut;
use domain::dal::DataAnswer;
use domain::ids::{DocumentId, QuoteId};
use domain::job::{FetchStatus, JobKey, SignedQuoteLookup};
use domain::ports::ReconcileLedger;
use domain::ports::{
    AnswerArchive, BackendError, ChunkSource, DetailsRecord, DocumentLedger, DocumentStore, FetchClaim, FetchError,
    StoredDocument,
};
use domain::reconcile::{Checkpoint, SiteChange};
use domain::tenant::TenantId;
use domain::timestamp::Timestamp;
use sha2::{Digest, Sha256};

/// A document item.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DocumentItem {
    pub status: FetchStatus,
    pub lease: Option<(String, Timestamp)>,
    pub stored: Option<StoredDocument>,
    /// Why it failed for good.
    pub reason: Option<String>,
    /// Why the last attempt was given back.
    pub last_error: Option<String>,
}

#[derive(Debug, Default)]
struct Items {
    documents: BTreeMap<(JobKey, DocumentId), DocumentItem>,
    stored_per_job: BTreeMap<JobKey, u32>,
    details: BTreeMap<(JobKey, QuoteId), DetailsRecord>,
    enrichment_errors: BTreeMap<(JobKey, QuoteId), String>,
    lookup_errors: BTreeMap<JobKey, (QuoteId, String)>,
    signed_quotes: BTreeMap<JobKey, (SignedQuoteLookup, Option<QuoteId>)>,
    checkpoints: BTreeMap<TenantId, (Checkpoint, Option<String>)>,
    last_webhooks: BTreeMap<JobKey, Timestamp>,
    /// Each job's finding: the change's last update.
    missed: BTreeMap<JobKey, Timestamp>,
    /// Each job's site read: its version, and its answer once answered.
    site_reads: BTreeMap<JobKey, (i64, Option<Option<QuoteId>>)>,
}

/// The document items and details, in memory.
#[derive(Debug, Default)]
pub struct MemoryLedger(Mutex<Items>);

impl MemoryLedger {
    fn lock(&self) -> MutexGuard<'_, Items> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The document as a webhook of the job's tenant queues it.
    pub fn queue(&self, job: &JobKey, document: DocumentId) {
        let item =
            DocumentItem { status: FetchStatus::Queued, lease: None, stored: None, reason: None, last_error: None };
        self.lock().documents.insert((job.clone(), document), item);
    }

    pub fn document(&self, job: &JobKey, document: DocumentId) -> Option<DocumentItem> {
        self.lock().documents.get(&(job.clone(), document)).cloned()
    }

    /// A webhook received for `job` at `at`.
    pub fn webhook(&self, job: &JobKey, at: Timestamp) {
        self.lock().last_webhooks.insert(job.clone(), at);
    }

    /// The tenant's checkpoint, and the failure noted on it.
    pub fn checkpoint_of(&self, tenant: &TenantId) -> Option<(Checkpoint, Option<String>)> {
        self.lock().checkpoints.get(tenant).cloned()
    }

    /// The jobs found possibly missed, with the change found.
    pub fn missed(&self) -> BTreeMap<JobKey, Timestamp> {
        self.lock().missed.clone()
    }

    /// How many documents were counted as stored on the job.
    pub fn stored_count(&self, job: &JobKey) -> u32 {
        self.lock().stored_per_job.get(job).copied().unwrap_or_default()
    }
}

impl Items {
    /// The document item, if it is held under `lease`.
    fn held(&mut self, job: &JobKey, document: DocumentId, lease: &str) -> Option<&mut DocumentItem> {
        let item = self.documents.get_mut(&(job.clone(), document))?;
        let held = item.status == FetchStatus::Fetching && item.lease.as_ref().is_some_and(|(held, _)| held == lease);
        held.then_some(item)
    }
}

impl DocumentLedger for MemoryLedger {
    async fn claim_fetch(
        &self,
        job: &JobKey,
        document: DocumentId,
        lease: &str,
        now: Timestamp,
        lease_until: Timestamp,
    ) -> Result<FetchClaim, BackendError> {
        let mut items = self.lock();
        let Some(item) = items.documents.get_mut(&(job.clone(), document)) else {
            return Ok(FetchClaim::Refused { reason: format!("no webhook of {} queued {document}", job.tenant) });
        };
        let lease_ended = item.lease.as_ref().is_some_and(|(_, until)| *until < now);
        Ok(match item.status {
            FetchStatus::Queued => {
                item.status = FetchStatus::Fetching;
                item.lease = Some((lease.to_owned(), lease_until));
                FetchClaim::Claimed { lease: lease.to_owned() }
            }
            FetchStatus::Fetching if lease_ended => {
                item.lease = Some((lease.to_owned(), lease_until));
                FetchClaim::Claimed { lease: lease.to_owned() }
            }
            FetchStatus::Fetching => FetchClaim::Busy,
            FetchStatus::Stored => FetchClaim::Stored,
            FetchStatus::Failed => FetchClaim::Failed { reason: item.reason.clone().unwrap_or_default() },
            FetchStatus::Recorded => FetchClaim::NotQueued { status: FetchStatus::Recorded.as_str().to_owned() },
        })
    }

    async fn mark_stored(
        &self,
        job: &JobKey,
        document: DocumentId,
        lease: &str,
        stored: &StoredDocument,
        _: Timestamp,
    ) -> Result<bool, BackendError> {
        let mut items = self.lock();
        let Some(item) = items.held(job, document, lease) else { return Ok(false) };
        item.status = FetchStatus::Stored;
        item.lease = None;
        item.stored = Some(stored.clone());
        *items.stored_per_job.entry(job.clone()).or_default() += 1;
        Ok(true)
    }

    async fn mark_failed(
        &self,
        job: &JobKey,
        document: DocumentId,
        lease: &str,
        reason: &str,
        _: Timestamp,
    ) -> Result<(), BackendError> {
        if let Some(item) = self.lock().held(job, document, lease) {
            item.status = FetchStatus::Failed;
            item.lease = None;
            item.reason = Some(reason.to_owned());
        }
        Ok(())
    }

    async fn release_fetch(
        &self,
        job: &JobKey,
        document: DocumentId,
        lease: &str,
        reason: &str,
    ) -> Result<(), BackendError> {
        if let Some(item) = self.lock().held(job, document, lease) {
            item.status = FetchStatus::Queued;
            item.lease = None;
            item.last_error = Some(reason.to_owned());
        }
        Ok(())
    }

    async fn record_details(&self, job: &JobKey, record: &DetailsRecord, _: Timestamp) -> Result<(), BackendError> {
        let mut items = self.lock();
        let key = (job.clone(), record.quote);
        if items.details.get(&key).is_none_or(|recorded| recorded.version <= record.version) {
            items.details.insert(key.clone(), record.clone());
            items.enrichment_errors.remove(&key);
        }
        Ok(())
    }

    async fn record_enrichment_error(
        &self,
        job: &JobKey,
        quote: QuoteId,
        reason: &str,
        _: Timestamp,
    ) -> Result<(), BackendError> {
        self.lock().enrichment_errors.insert((job.clone(), quote), reason.to_owned());
        Ok(())
    }

    async fn details_version(&self, job: &JobKey, quote: QuoteId) -> Result<Option<i64>, BackendError> {
        Ok(self.lock().details.get(&(job.clone(), quote)).map(|record| record.version))
    }

    async fn record_lookup_error(
        &self,
        job: &JobKey,
        quote: QuoteId,
        reason: &str,
        _: Timestamp,
    ) -> Result<(), BackendError> {
        self.lock().lookup_errors.insert(job.clone(), (quote, reason.to_owned()));
        Ok(())
    }

    async fn clear_lookup_error(&self, job: &JobKey, quote: QuoteId) -> Result<(), BackendError> {
        let mut items = self.lock();
        if items.lookup_errors.get(job).is_some_and(|(failed, _)| *failed == quote) {
            items.lookup_errors.remove(job);
        }
        Ok(())
    }

    async fn record_signed_quote(
        &self,
        job: &JobKey,
        lookup: &SignedQuoteLookup,
        signed: Option<QuoteId>,
        _: Timestamp,
    ) -> Result<(), BackendError> {
        self.lock().signed_quotes.insert(job.clone(), (lookup.clone(), signed));
        Ok(())
    }
}

/// A stored document: its bytes and metadata.
type Object = (Vec<u8>, HashMap<String, String>);

/// Stored documents by key.
#[derive(Debug, Default)]
pub struct MemoryDocuments(Mutex<HashMap<String, Object>>);

impl MemoryDocuments {
    pub fn keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = self.0.lock().unwrap_or_else(PoisonError::into_inner).keys().cloned().collect();
        keys.sort();
        keys
    }

    pub fn bytes(&self, key: &str) -> Option<Vec<u8>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).get(key).map(|(bytes, _)| bytes.clone())
    }
}

impl DocumentStore for MemoryDocuments {
    async fn store<S: ChunkSource>(
        &self,
        key: &str,
        mut metadata: HashMap<String, String>,
        source: &mut S,
        content_type: Option<&str>,
    ) -> Result<StoredDocument, FetchError> {
        let mut bytes = BytesMut::new();
        while let Some(chunk) = source.next_chunk().await? {
            bytes.extend_from_slice(&chunk);
        }
        if !bytes.starts_with(b"%PDF-") {
            return Err(FetchError::Permanent("not a PDF".into()));
        }
        if source.declared_length().is_some_and(|declared| declared != bytes.len() as u64) {
            return Err(FetchError::Retryable("cut short".into()));
        }
        let sha256 = hex::encode(Sha256::digest(&bytes));
        metadata.insert("sha256".into(), sha256.clone());
        let size = bytes.len() as u64;
        self.0.lock().unwrap_or_else(PoisonError::into_inner).insert(key.to_owned(), (bytes.to_vec(), metadata));
        Ok(StoredDocument {
            key: key.to_owned(),
            size,
            sha256,
            parts: 1,
            content_type: content_type.map(str::to_owned),
            version_id: None,
        })
    }
}

/// The data API's answers by key.
#[derive(Debug, Default)]
pub struct MemoryAnswers(pub Mutex<BTreeMap<String, DataAnswer>>);

impl AnswerArchive for MemoryAnswers {
    async fn keep_answer(&self, key: &str, answer: &DataAnswer, _: Timestamp) -> Result<(), BackendError> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).insert(key.to_owned(), answer.clone());
        Ok(())
    }
}

impl ReconcileLedger for MemoryLedger {
    async fn checkpoint(&self, tenant: &TenantId) -> Result<Option<Checkpoint>, BackendError> {
        Ok(self.lock().checkpoints.get(tenant).map(|(checkpoint, _)| checkpoint.clone()))
    }

    /// Moves only from the checkpoint as it was read, as the adapter's condition does.
    async fn save_checkpoint(
        &self,
        tenant: &TenantId,
        expected: Option<&Checkpoint>,
        next: &Checkpoint,
        error: Option<&str>,
    ) -> Result<bool, BackendError> {
        let mut items = self.lock();
        if items.checkpoints.get(tenant).map(|(checkpoint, _)| checkpoint) != expected {
            return Ok(false);
        }
        items.checkpoints.insert(tenant.clone(), (next.clone(), error.map(str::to_owned)));
        Ok(true)
    }

    async fn last_webhooks(
        &self,
        tenant: &TenantId,
        sites: &[domain::ids::SiteId],
    ) -> Result<HashMap<domain::ids::SiteId, Timestamp>, BackendError> {
        let items = self.lock();
        Ok(sites
            .iter()
            .filter_map(|site| Some((*site, *items.last_webhooks.get(&JobKey::new(tenant.clone(), *site))?)))
            .collect())
    }

    async fn record_missed(
        &self,
        job: &JobKey,
        change: &SiteChange,
        _: Option<Timestamp>,
        now: Timestamp,
    ) -> Result<bool, BackendError> {
        self.request_site_read(job, change.last_updated.micros(), "reconcile", now).await?;
        let mut items = self.lock();
        if items.missed.get(job).is_some_and(|found| *found >= change.last_updated) {
            return Ok(false);
        }
        items.missed.insert(job.clone(), change.last_updated);
        Ok(true)
    }

    async fn request_site_read(&self, job: &JobKey, version: i64, _: &str, _: Timestamp) -> Result<bool, BackendError> {
        let mut items = self.lock();
        if items.site_reads.get(job).is_some_and(|(asked, _)| *asked >= version) {
            return Ok(false);
        }
        items.site_reads.insert(job.clone(), (version, None));
        Ok(true)
    }

    async fn site_read_asked(&self, job: &JobKey, version: i64) -> Result<bool, BackendError> {
        Ok(self.lock().site_reads.get(job).is_some_and(|(asked, _)| *asked >= version))
    }

    async fn record_site_read(
        &self,
        job: &JobKey,
        version: i64,
        signed: Option<QuoteId>,
        _: Timestamp,
    ) -> Result<(), BackendError> {
        if let Some((asked, answer)) = self.lock().site_reads.get_mut(job)
            && *asked <= version
        {
            *answer = Some(signed);
        }
        Ok(())
    }

    async fn record_site_read_error(&self, _: &JobKey, _: &str, _: Timestamp) -> Result<(), BackendError> {
        Ok(())
    }
}
