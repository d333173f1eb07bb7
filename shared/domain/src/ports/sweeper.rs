//! The sweeper's and reconciliation's ports: the work a job waits for, the list of a tenant's
//! sites in EverBright, and where reconciliation keeps its checkpoint and what it found.

use std::collections::HashMap;
use std::future::Future;

use super::{BackendError, FetchError};
use crate::ids::{QuoteId, SiteId};
use crate::job::JobKey;
use crate::reconcile::{Checkpoint, SiteChange, SitePage};
use crate::sweep::{Decision, PendingItem};
use crate::tenant::TenantId;
use crate::timestamp::Timestamp;

/// What one read of the pending work found.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PendingRead {
    pub items: Vec<PendingItem>,
    /// Items the store read to find them (the sweep's cost).
    pub items_read: usize,
    /// Items of a shape this version cannot send again, said as such (left for an operator).
    pub unreadable: Vec<String>,
}

/// The work jobs wait for.
pub trait PendingLedger: Send + Sync {
    /// Work waiting since `cutoff` or before, oldest first, at most `limit` items.
    fn pending(
        &self,
        cutoff: Timestamp,
        limit: usize,
    ) -> impl Future<Output = Result<PendingRead, BackendError>> + Send;

    /// Records `decision` (a requeue or a give-up) on `item`, only if the item is still as it was
    /// read (no other sweep, no fetcher got there first): `false` when it was not.
    fn sweep(
        &self,
        item: &PendingItem,
        decision: &Decision,
        now: Timestamp,
    ) -> impl Future<Output = Result<bool, BackendError>> + Send;
}

/// A tenant's sites in EverBright, page by page (the data API's list, behind this port so that
/// another source can take its place).
pub trait SiteSource: Send + Sync {
    fn page(&self, page: u32) -> impl Future<Output = Result<SitePage, FetchError>> + Send;
}

/// Where reconciliation keeps its checkpoints and records what it found, and where a site read is
/// asked for and answered.
pub trait ReconcileLedger: Send + Sync {
    fn checkpoint(&self, tenant: &TenantId) -> impl Future<Output = Result<Option<Checkpoint>, BackendError>> + Send;

    /// Moves the checkpoint from `expected` (as read) to `next`; `false` when another run moved it.
    fn save_checkpoint(
        &self,
        tenant: &TenantId,
        expected: Option<&Checkpoint>,
        next: &Checkpoint,
        error: Option<&str>,
    ) -> impl Future<Output = Result<bool, BackendError>> + Send;

    /// When the last webhook was received for each of `sites` that has a job with one.
    fn last_webhooks(
        &self,
        tenant: &TenantId,
        sites: &[SiteId],
    ) -> impl Future<Output = Result<HashMap<SiteId, Timestamp>, BackendError>> + Send;

    /// Records that `change` came with no webhook: on the job (created when there is none), in the
    /// operator's list of findings, and as a site read asked for (pending, for the sweeper).
    /// `false` when this change was recorded already.
    fn record_missed(
        &self,
        job: &JobKey,
        change: &SiteChange,
        last_webhook: Option<Timestamp>,
        now: Timestamp,
    ) -> impl Future<Output = Result<bool, BackendError>> + Send;

    /// Asks for the site to be read at `version` (pending until answered); `false` when a read at
    /// that version or a newer one is asked for already.
    fn request_site_read(
        &self,
        job: &JobKey,
        version: i64,
        request: &str,
        now: Timestamp,
    ) -> impl Future<Output = Result<bool, BackendError>> + Send;

    /// Whether a site read at `version` (or a newer one) was asked for on the job: a `read_site`
    /// message nobody asked for is refused, as a document no webhook queued is.
    fn site_read_asked(&self, job: &JobKey, version: i64) -> impl Future<Output = Result<bool, BackendError>> + Send;

    /// The site read at `version` is answered: the quote it was signed as, if any.
    fn record_site_read(
        &self,
        job: &JobKey,
        version: i64,
        signed: Option<QuoteId>,
        now: Timestamp,
    ) -> impl Future<Output = Result<(), BackendError>> + Send;

    /// The site read failed: why (it stays pending).
    fn record_site_read_error(
        &self,
        job: &JobKey,
        reason: &str,
        now: Timestamp,
    ) -> impl Future<Output = Result<(), BackendError>> + Send;
}
