//! Nothing missed, for the operator: what needs them (work the sweeper gave up on, documents
//! failed for good, sites reconciliation found changed without a webhook), and the backfill of a
//! tenant's sites that predate the deployment.

use std::collections::BTreeSet;

use domain::ids::SiteId;
use domain::job::JobKey;
use domain::message::WorkMessage;
use domain::ports::{ReconcileLedger, SiteSource, WorkQueue};
use domain::reconcile;
use domain::tenant::TenantId;
use domain::timestamp::Timestamp;
use serde_json::{Map, Value};

use super::{Ops, OpsError};

/// What a backfill did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Backfilled {
    /// The page it started from (1, or where a stopped run left off).
    pub from_page: u32,
    pub pages: u32,
    pub sites: usize,
    /// Jobs created now, and jobs that were there (a webhook's, or an earlier run's).
    pub created: usize,
    pub existing: usize,
    /// Site reads asked for (each site once per change EverBright lists).
    pub queued: usize,
    pub unreadable: Vec<String>,
    /// The sites of this run whose job has no stored document: their document ids come only with
    /// a webhook.
    pub without_documents: Vec<SiteId>,
}

impl Ops {
    /// What needs the operator, newest first, at most `limit` of each kind.
    pub async fn attention(&self, limit: usize) -> Result<Vec<Map<String, Value>>, OpsError> {
        Ok(self.store.attention(limit).await?)
    }

    /// Imports `tenant`'s sites from `sites`, page by page from where the last run stopped: a job
    /// for each (never twice), a site read queued for each (its signed quote and details). The
    /// checkpoint moves after each page; `progress` hears of each.
    pub async fn backfill(
        &self,
        tenant: &TenantId,
        sites: &impl SiteSource,
        mut progress: impl FnMut(&Backfilled),
    ) -> Result<Backfilled, OpsError> {
        let mut page = self.store.backfill_page(tenant).await?;
        let mut done = Backfilled { from_page: page, ..Backfilled::default() };
        let mut seen = BTreeSet::new();
        loop {
            let listed = sites.page(page).await.map_err(|e| format!("page {page} of the site list: {e}"))?;
            let now = Timestamp::now();
            let mut messages = Vec::new();
            for change in &listed.sites {
                let job = JobKey::new(tenant.clone(), change.site);
                if self.store.create_job(&job, "backfill", now).await? {
                    done.created += 1;
                } else {
                    done.existing += 1;
                }
                let version = change.last_updated.micros();
                let request = reconcile::request_id("backfill", tenant.as_str(), change);
                if self.store.request_site_read(&job, version, &request, now).await? {
                    messages.push(WorkMessage::ReadSite {
                        tenant: tenant.clone(),
                        site: change.site,
                        version,
                        event_id: request,
                    });
                }
                seen.insert(change.site);
            }
            self.queue.send(&messages).await?;
            done.queued += messages.len();
            done.sites += listed.sites.len();
            done.pages += 1;
            done.unreadable.extend(listed.unreadable);
            self.store.save_backfill(tenant, listed.more.then_some(page + 1)).await?;
            progress(&done);
            if !listed.more {
                break;
            }
            page += 1;
        }
        let seen: Vec<SiteId> = seen.into_iter().collect();
        done.without_documents = self.store.without_documents(tenant, &seen).await?;
        Ok(done)
    }
}
