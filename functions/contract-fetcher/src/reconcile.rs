//! Reconciliation with EverBright, per tenant, and the site reads it asks for.
//!
//! A `reconcile` message (the schedule's names no tenant: every tenant this function has) reads
//! the tenant's site list ([`SiteSource`], the data API's) from its checkpoint, page by page: each
//! site changed in the pass's window with no webhook received since is recorded as possibly
//! missed (on the job, created if there is none; in the operator's list; and as a site read asked
//! for, which the sweeper sends again if it is not answered), and the checkpoint moves only once
//! a page is handled. A page that fails (a 429 past its retries, an error answer) leaves the
//! checkpoint where it was, with the reason, and is counted: the next run reads it again. The
//! sites found are then read in the time left: their signed quote (`site_id` on the workflow
//! option) and that quote's details.

use std::time::Duration;

use domain::ids::SiteId;
use domain::job::{self, JobKey};
use domain::metrics::Emf;
use domain::ports::{AnswerArchive, DocumentStore, FetchError, SiteSource};
use domain::reconcile::{self, SiteChange, SitePage};
use domain::tenant::TenantId;
use everbright::DataRequest;
use tokio::time::Instant;
use tracing::{Instrument, info, info_span, warn};

use crate::api::TenantApi;
use crate::{Fetcher, Ledger, Outcome};

/// A run stops reading pages when less than this is left of the invocation.
const PAGE_MARGIN: Duration = Duration::from_secs(15);

/// What one tenant's run did.
#[derive(Debug, Default)]
pub struct Run {
    pub compared: usize,
    pub pages: usize,
    pub found: Vec<SiteChange>,
    pub failed: Option<String>,
}

/// The tenant's site list through its API.
struct Sites<'a, L, D, A> {
    fetcher: &'a Fetcher<L, D, A>,
    api: &'a TenantApi,
    deadline: Instant,
}

impl<L: Ledger, D: DocumentStore, A: AnswerArchive> SiteSource for Sites<'_, L, D, A> {
    async fn page(&self, page: u32) -> Result<SitePage, FetchError> {
        let limit = self.fetcher.page_size;
        let request = DataRequest::SiteList { page, limit };
        let answer = self.fetcher.ask(self.api, &request, self.deadline).await.map_err(FetchError::Retryable)?;
        let json = answer.json().map_err(FetchError::Retryable)?;
        reconcile::read_site_page(&json, limit)
            .map_err(|reason| FetchError::Retryable(format!("the site list: {reason}")))
    }
}

impl<L: Ledger, D: DocumentStore, A: AnswerArchive> Fetcher<L, D, A> {
    /// A `reconcile` message: each tenant named (or every one) in turn. Always acknowledged: a
    /// tenant whose run failed keeps its checkpoint and its reason, is counted
    /// (`ReconcileFailed`), and the next scheduled run goes on from there.
    pub(crate) async fn reconcile(&self, tenant: Option<&TenantId>, deadline: Instant) -> Outcome {
        let mut tenants: Vec<&TenantId> = match tenant {
            Some(tenant) => vec![tenant],
            None => self.apis.keys().collect(),
        };
        tenants.sort();
        for tenant in tenants {
            let Some(api) = self.apis.get(tenant) else {
                warn!(tenant = %tenant, "reconcile: tenant not configured in this function");
                continue;
            };
            let span = info_span!("reconcile", tenant = %tenant);
            let sites = Sites { fetcher: self, api, deadline };
            let run = self.reconcile_tenant(tenant, &sites, deadline).instrument(span.clone()).await;
            self.read_found(api, tenant, &run.found, deadline).instrument(span).await;
            let mut emf = Emf::new(&self.function).dimension("Tenant", tenant.as_str());
            emf.count("SitesCompared", run.compared)
                .count("PossiblyMissed", run.found.len())
                .count("SitePages", run.pages)
                .count("ReconcileFailed", usize::from(run.failed.is_some()));
            (self.metrics)(emf.to_line(self.clock.now()));
        }
        Outcome::Done
    }

    /// One tenant's run over `sites`, from its checkpoint, until the pass ends, a page fails,
    /// another run moves the checkpoint, or time runs short.
    pub async fn reconcile_tenant(&self, tenant: &TenantId, sites: &impl SiteSource, deadline: Instant) -> Run {
        let mut run = Run::default();
        if let Err(error) = self.reconcile_pages(tenant, sites, deadline, &mut run).await {
            run.failed = Some(error);
        }
        match &run.failed {
            Some(reason) => warn!(reason, pages = run.pages, found = run.found.len(), "reconciliation stopped"),
            None => info!(pages = run.pages, compared = run.compared, found = run.found.len(), "reconciled"),
        }
        run
    }

    async fn reconcile_pages(
        &self,
        tenant: &TenantId,
        sites: &impl SiteSource,
        deadline: Instant,
        run: &mut Run,
    ) -> Result<(), String> {
        let now = self.clock.now();
        let stored = self.ledger.checkpoint(tenant).await.map_err(|e| e.to_string())?;
        let mut checkpoint = self.reconcile_policy.resume(stored.as_ref(), now);
        if stored.as_ref() != Some(&checkpoint)
            && !self
                .ledger
                .save_checkpoint(tenant, stored.as_ref(), &checkpoint, None)
                .await
                .map_err(|e| e.to_string())?
        {
            info!("another run moved the checkpoint; leaving it to that run");
            return Ok(());
        }
        while let Some(pass) = &checkpoint.pass {
            if Instant::now() + PAGE_MARGIN > deadline {
                info!(next_page = pass.next_page, "time is short; the next run goes on from here");
                return Ok(());
            }
            let page = match sites.page(pass.next_page).await {
                Ok(page) => page,
                Err(error) => {
                    let reason = format!("page {} of the site list: {error}", pass.next_page);
                    let noted =
                        self.ledger.save_checkpoint(tenant, Some(&checkpoint), &checkpoint, Some(&reason)).await;
                    if let Err(error) = noted {
                        warn!(error = %error, "the failure could not be noted on the checkpoint");
                    }
                    return Err(reason);
                }
            };
            run.pages += 1;
            for row in &page.unreadable {
                warn!(row, "a row of the site list this version cannot read");
            }
            self.judge(tenant, &checkpoint, &page, run).await.map_err(|e| e.to_string())?;
            let next = checkpoint.after_page(&page);
            if !self.ledger.save_checkpoint(tenant, Some(&checkpoint), &next, None).await.map_err(|e| e.to_string())? {
                info!("another run moved the checkpoint; leaving it to that run");
                return Ok(());
            }
            checkpoint = next;
        }
        Ok(())
    }

    /// Each site of `page` the pass judges, against the last webhook received for it.
    async fn judge(
        &self,
        tenant: &TenantId,
        checkpoint: &reconcile::Checkpoint,
        page: &SitePage,
        run: &mut Run,
    ) -> Result<(), domain::ports::BackendError> {
        let judged: Vec<&SiteChange> = page.sites.iter().filter(|change| checkpoint.judges(change)).collect();
        let ids: Vec<SiteId> = judged.iter().map(|change| change.site).collect();
        let received = self.ledger.last_webhooks(tenant, &ids).await?;
        for change in judged {
            run.compared += 1;
            let last = received.get(&change.site).copied();
            if !reconcile::possibly_missed(change, last) {
                continue;
            }
            let job = JobKey::new(tenant.clone(), change.site);
            if self.ledger.record_missed(&job, change, last, self.clock.now()).await? {
                warn!(site = %change.site, last_updated = %change.last_updated, last_webhook = ?last.map(|t| t.to_string()),
                    "possibly missed: changed in EverBright with no webhook since");
                run.found.push(change.clone());
            }
        }
        Ok(())
    }

    /// Reads the sites found, while time is left; the sweeper sends the rest.
    async fn read_found(&self, api: &TenantApi, tenant: &TenantId, found: &[SiteChange], deadline: Instant) {
        for (done, change) in found.iter().enumerate() {
            if Instant::now() + PAGE_MARGIN > deadline {
                info!(left = found.len() - done, "time is short; the sweeper sends the remaining site reads");
                return;
            }
            let job = JobKey::new(tenant.clone(), change.site);
            let request = reconcile::request_id("reconcile", tenant.as_str(), change);
            let span = info_span!("read_site", site = %change.site, event_id = %request);
            let outcome = self.read_site(api, &job, change.last_updated.micros(), deadline).instrument(span).await;
            if let Outcome::Retry(reason) = outcome {
                warn!(site = %change.site, reason, "the site read failed; it waits for the sweeper");
            }
        }
    }

    /// A site read: the quote the site was signed as, its details, the request answered. A
    /// failure is recorded on the request (which stays pending) and retried.
    pub(crate) async fn read_site(&self, api: &TenantApi, job: &JobKey, version: i64, deadline: Instant) -> Outcome {
        let outcome = self.site_read(api, job, version, deadline).await;
        if let Outcome::Retry(reason) = &outcome
            && let Err(error) = self.ledger.record_site_read_error(job, reason, self.clock.now()).await
        {
            warn!(error = %error, "the site read's error could not be recorded");
        }
        outcome
    }

    async fn site_read(&self, api: &TenantApi, job: &JobKey, version: i64, deadline: Instant) -> Outcome {
        match self.ledger.site_read_asked(job, version).await {
            Ok(true) => {}
            Ok(false) => {
                warn!(tenant = %job.tenant, "refused: no site read was asked for on this job at this version");
                return Outcome::Refused;
            }
            Err(error) => return Outcome::Retry(error.to_string()),
        }
        let site = job.site;
        let answer = match self.ask(api, &DataRequest::WorkflowOfSite(site), deadline).await {
            Ok(answer) => answer,
            Err(reason) => return Outcome::Retry(reason),
        };
        let key = job::site_read_key(job, version);
        let signed = match self.keep(&key, &answer).await.and_then(|_| answer.json()) {
            Ok(json) => domain::dal::signed_quote(&json),
            Err(reason) => return Outcome::Retry(format!("the site's workflow: {reason}")),
        };
        let outcome = match signed {
            Some(signed) => match self.read_and_record(api, job, (signed, Some(signed)), version, deadline).await {
                Outcome::Retry(reason) => return Outcome::Retry(format!("the details of {signed}: {reason}")),
                outcome => outcome,
            },
            None => Outcome::Done,
        };
        match self.ledger.record_site_read(job, version, signed, self.clock.now()).await {
            Ok(()) => {
                info!(signed = ?signed, "site read");
                outcome
            }
            Err(error) => Outcome::Retry(error.to_string()),
        }
    }
}
