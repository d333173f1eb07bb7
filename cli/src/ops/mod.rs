//! The operator's commands: inspect a job, replay archived requests through the receiver's own
//! logic, re-queue documents, read and redrive the DLQ. They use the functions' SDK clients and
//! configuration (`JOBS_TABLE`, `DOCUMENTS_BUCKET`, `FETCH_QUEUE_URL`, and `FETCH_DLQ_URL` for the
//! DLQ), against AWS or, with `AWS_ENDPOINT_URL`, the local backend alike.

use aws::{Clients, DynamoJobStore, EventBridgeBus, Requeued, S3Archive, SqsWorkQueue};
use aws_sdk_sqs::types::{Message, MessageSystemAttributeName};
use config::DedupeConfig;
use config::tenant::Tenants;
use domain::archive::RawRequest;
use domain::drift::Drift;
use domain::event::EventType;
use domain::ids::{DocumentId, QuoteId, SiteId};
use domain::job::{FetchStatus, JobKey};
use domain::message::WorkMessage;
use domain::ports::{BackendError, WorkQueue};
use domain::tenant::TenantId;
use domain::timestamp::Timestamp;
use serde_json::{Map, Value};
use webhook_receiver::{Authenticator, AwsReceiver, Preview, Receiver, Replay, Settings};

mod documents;
mod events;
mod missed;
mod replay;

pub use documents::DeadLetter;
pub use events::{Failures, Republished, replay_events};
pub use missed::Backfilled;
pub use replay::{ReplayMode, ReplayReport};

pub type OpsError = Box<dyn std::error::Error + Send + Sync>;

/// Where the stack's resources are.
#[derive(Clone, Debug)]
pub struct OpsConfig {
    pub table: String,
    pub bucket: String,
    pub queue_url: String,
    pub dlq_url: Option<String>,
    /// As the receiver's `FETCH_MILESTONE_DOCUMENTS`, `DEDUPE_TTL_DAYS` and
    /// `DEDUPE_RETRY_WINDOW_MINUTES`, for replays.
    pub fetch_milestone_documents: bool,
    pub dedupe: DedupeConfig,
    /// The tenants (`TENANTS_SECRET` or `TENANTS`), for the organization check of replays.
    pub tenants: Tenants,
    /// The installer's bus and the publisher's failure queue (for `republish`).
    pub event_bus: Option<String>,
    pub failures_queue_url: Option<String>,
}

pub struct Ops {
    store: DynamoJobStore,
    archive: S3Archive,
    queue: SqsWorkQueue,
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
    dlq_url: Option<String>,
    /// The receiver's logic, for replays; it accepts no live request.
    receiver: AwsReceiver,
    /// The configured tenants, where a site's jobs are looked for.
    tenants: Tenants,
    bus: Option<EventBridgeBus>,
    failures_queue_url: Option<String>,
    bucket: String,
}

/// Which archived requests to replay.
#[derive(Clone, Debug, Default)]
pub struct Selection {
    /// One archived request, by key; the other fields are ignored.
    pub key: Option<String>,
    /// Every key under it (default `raw/`).
    pub prefix: Option<String>,
    pub since: Option<Timestamp>,
    pub until: Option<Timestamp>,
    /// Only the requests about this job.
    pub site: Option<SiteId>,
    /// Only the requests of this tenant (a request archived before tenants is the default's).
    pub tenant: Option<TenantId>,
}

impl Ops {
    pub fn new(config: &OpsConfig, clients: &Clients) -> Self {
        let store = DynamoJobStore::new(clients.dynamodb.clone(), &config.table);
        let archive = S3Archive::new(clients.s3.clone(), &config.bucket);
        let queue = SqsWorkQueue::new(clients.sqs().clone(), &config.queue_url);
        let settings = Settings {
            auth: Authenticator::nobody(config.tenants.clone()),
            fetch_milestone_documents: config.fetch_milestone_documents,
            dedupe: config.dedupe,
        };
        let receiver = Receiver::new(settings, store.clone(), archive.clone(), queue.clone())
            .with_metrics(domain::metrics::discard_sink());
        Self {
            store,
            archive,
            queue,
            sqs: clients.sqs().clone(),
            queue_url: config.queue_url.clone(),
            dlq_url: config.dlq_url.clone(),
            receiver,
            tenants: config.tenants.clone(),
            bus: config.event_bus.as_ref().map(|bus| EventBridgeBus::new(clients.eventbridge().clone(), bus)),
            failures_queue_url: config.failures_queue_url.clone(),
            bucket: config.bucket.clone(),
        }
    }

    /// A job and its items, by site or through the quote index: the job of `tenant` when named,
    /// else the one job found among the default tenant's and the configured tenants' (two
    /// tenants that sent the same site keep two jobs: then name one).
    pub async fn job(
        &self,
        site: Option<SiteId>,
        quote: Option<QuoteId>,
        tenant: Option<&TenantId>,
    ) -> Result<(JobKey, Vec<Map<String, Value>>), OpsError> {
        let tenants: Vec<TenantId> = match tenant {
            Some(tenant) => vec![tenant.clone()],
            None => {
                std::iter::once(TenantId::default_tenant()).chain(self.tenants.iter().map(|t| t.id.clone())).collect()
            }
        };
        let candidates: Vec<JobKey> = match (site, quote) {
            (Some(site), _) => tenants.into_iter().map(|tenant| JobKey::new(tenant, site)).collect(),
            (None, Some(quote)) => {
                let jobs = self.store.jobs_of_quote(quote).await?;
                if jobs.is_empty() {
                    return Err(format!("no job holds quote {quote}").into());
                }
                jobs.into_iter().filter(|job| tenants.contains(&job.tenant)).collect()
            }
            (None, None) => return Err("name a site, or a quote with --quote".into()),
        };
        let mut found = Vec::new();
        for job in candidates {
            let items = self.store.job_items(&job).await?;
            if !items.is_empty() {
                found.push((job, items));
            }
        }
        let what = match (site, quote) {
            (Some(site), _) => format!("site {site}"),
            (None, quote) => format!("quote {}", quote.map(|q| q.to_string()).unwrap_or_default()),
        };
        let of = tenant.map_or_else(String::new, |tenant| format!(" of tenant {tenant}"));
        match found.len() {
            0 => Err(format!("no job for {what}{of} in the table").into()),
            1 => Ok(found.remove(0)),
            _ => {
                let names: Vec<String> = found.iter().map(|(job, _)| job.tenant.to_string()).collect();
                Err(format!("{what} has a job of each of the tenants {}: name one with --tenant", names.join(", "))
                    .into())
            }
        }
    }

    /// The drift of the archived bodies a selection names from the shapes the project knows
    /// (requests that reached no route are left out).
    pub async fn drift(&self, selection: &Selection) -> Result<Drift, OpsError> {
        let mut drift = Drift::default();
        for (key, raw) in self.select(selection).await? {
            let Some(event) = EventType::from_slug(&raw.event) else { continue };
            drift.add(event, &raw.body().map_err(|e| format!("{key}: {e}"))?);
        }
        Ok(drift)
    }
}
