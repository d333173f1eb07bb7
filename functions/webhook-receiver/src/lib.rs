//! The webhook receiver: an EverBright webhook, authenticated, becomes archived bytes in S3, job
//! state in DynamoDB and fetch jobs in SQS.
//!
//! In order: authenticate (refusing writes nothing), archive the raw request (if that fails, 503
//! so the sender retries), route and parse (bad input: 4xx, already archived; a JSON object that
//! names no site: 2xx, unattributed, nothing else changes), claim the delivery by its route and
//! the body's SHA-256 (a repeat changes nothing; see [`domain::job::Identity`] for how long),
//! apply the plan to the job, queue the documents to fetch, mark the delivery applied, answer.

mod auth;
mod event;
mod http;
mod on_aws;
mod refusal;
mod replay;

use config::DedupeConfig;
use domain::event::EventType;
use domain::ids::{DocumentId, SiteId};
use domain::job::{self, JobKey, Plan, PlanContext};
use domain::message::WorkMessage;
use domain::metrics::{Emf, MetricsSink, function_name, stdout_sink};
use domain::ports::{Archive, BackendError, Claim, Delivery, DeliveryLedger, JobStore, WorkQueue};
use domain::tenant::TenantId;
use domain::timestamp::Timestamp;
use lambda_http::{Body, Request, Response};
use serde::Serialize;
use tracing::{Instrument, info, info_span, warn};

pub use crate::auth::Authenticator;
pub use crate::event::{request_from_event, run};
pub use crate::http::route;
pub use crate::on_aws::AwsReceiver;
pub use crate::refusal::Refusal;
pub use crate::replay::{Preview, Replay};

/// The most headers a request may have (EverBright sends about ten; API Gateway passes at most
/// 10 KB of them).
pub const MAX_HEADERS: usize = 100;

/// What the receiver needs besides its adapters.
#[derive(Debug)]
pub struct Settings {
    pub auth: Authenticator,
    pub fetch_milestone_documents: bool,
    pub dedupe: DedupeConfig,
}

/// The receiver, over its three ports.
pub struct Receiver<S, A, Q> {
    settings: Settings,
    store: S,
    archive: A,
    queue: Q,
    /// Where each request's metric line (EMF) goes, and its `Function` dimension.
    metrics: MetricsSink,
    function: String,
}

/// What the logic after the archive works from: a live request, or one read back from the archive.
pub(crate) struct Delivered<'a> {
    /// The tenant whose credential sent it.
    tenant: TenantId,
    route: Result<EventType, Refusal>,
    /// The `Content-Type` header, if sent.
    content_type: Option<String>,
    body: &'a [u8],
    body_sha256: String,
    event_id: String,
    received_at: Timestamp,
}

/// What [`Receiver::decide`] found.
pub(crate) struct Decided {
    event: EventType,
    /// `None`: the event names no site.
    plan: Option<Plan>,
    delivery: Delivery,
    /// `None`: the event keeps no delivery record (see [`DedupeConfig::remember_until`]).
    remember_until: Option<Timestamp>,
}

/// The 200 answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Accepted {
    pub event_id: String,
    pub event: &'static str,
    /// The tenant whose credential sent it.
    pub tenant: String,
    /// The job's site; `None` when the event names none.
    pub site: Option<SiteId>,
    /// The event (of a shape not published) names no site: it is archived, counted, and
    /// changes nothing.
    pub unattributed: bool,
    /// The same body was applied before: nothing changed.
    pub duplicate: bool,
    /// Newer state was already stored: the event was recorded but changed nothing it described.
    pub stale: bool,
    /// Documents this delivery queued for download.
    pub queued: Vec<DocumentId>,
}

impl<S: DeliveryLedger + JobStore, A: Archive, Q: WorkQueue> Receiver<S, A, Q> {
    /// A receiver whose metric lines go to standard output (CloudWatch Logs, in Lambda).
    pub fn new(settings: Settings, store: S, archive: A, queue: Q) -> Self {
        let function = function_name("webhook-receiver");
        Self { settings, store, archive, queue, metrics: stdout_sink(), function }
    }

    /// Sends the metric lines elsewhere (tests, local runs).
    pub fn with_metrics(mut self, metrics: MetricsSink) -> Self {
        self.metrics = metrics;
        self
    }

    /// Reads the AWS4 keys again at most once per `interval` after an unknown key id (tests).
    pub fn with_keys_reread_interval(mut self, interval: std::time::Duration) -> Self {
        self.settings.auth = self.settings.auth.with_reread_interval(interval);
        self
    }

    /// Takes the receiver apart into its store, archive and queue (for tests to read them).
    pub fn into_ports(self) -> (S, A, Q) {
        (self.store, self.archive, self.queue)
    }

    /// Handles one request; every outcome is an HTTP answer, never a panic or an `Err`.
    pub async fn handle(&self, request: Request) -> Response<Body> {
        let now = Timestamp::now();
        let inbound = http::Inbound::read(request, now);
        let (event_id, event) = (inbound.event_id.clone(), inbound.route.as_ref().ok().copied());
        let result = self.receive(inbound, now).await;
        self.record_metrics(&event_id, event, &result, now);
        http::answer(&event_id, result)
    }

    /// One EMF line per request: `Received`, and which way it went.
    fn record_metrics(
        &self,
        event_id: &str,
        event: Option<EventType>,
        result: &Result<Accepted, Refusal>,
        now: Timestamp,
    ) {
        let mut emf = Emf::new(&self.function).dimension("Event", event.map_or("unknown", EventType::slug));
        let status = result.as_ref().map_or_else(|refusal| refusal.status().as_u16(), |_| 200);
        let in_progress = result.as_ref().err().is_some_and(Refusal::is_in_progress);
        let accepted = result.as_ref().ok();
        emf.count("Received", 1)
            .count("Duplicate", usize::from(accepted.is_some_and(|a| a.duplicate)))
            .count("Stale", usize::from(accepted.is_some_and(|a| a.stale)))
            .count("Queued", accepted.map_or(0, |a| a.queued.len()))
            .count("Unattributed", usize::from(accepted.is_some_and(|a| a.unattributed)))
            .count("Refused", usize::from((400..500).contains(&status)))
            .count("Failed", usize::from(status >= 500 && !in_progress))
            .property("event_id", event_id)
            .property("status", status);
        if let Some(site) = accepted.and_then(|a| a.site) {
            emf.property("site", site.to_string());
        }
        if let Some(accepted) = accepted {
            emf.property("tenant", accepted.tenant.as_str());
        }
        (self.metrics)(emf.to_line(now));
    }

    /// The edge's part: authenticate, archive, check the limits; then the core's ([`Self::settle`]).
    async fn receive(&self, inbound: http::Inbound, now: Timestamp) -> Result<Accepted, Refusal> {
        let (caller, tenant) = self.settings.auth.check(&inbound, std::time::SystemTime::now()).await?;

        let raw = inbound.raw_request(caller, self.settings.auth.secret_headers());
        let archived = serde_json::to_vec(&raw).map_err(|e| BackendError::new("archive encoding", e));
        match archived {
            Ok(bytes) => self.archive.put(&raw.key(), bytes).await,
            Err(error) => Err(error),
        }
        .map_err(Refusal::NotArchived)?;

        let count = inbound.headers.len();
        if count > MAX_HEADERS {
            return Err(Refusal::TooManyHeaders { count, limit: MAX_HEADERS });
        }
        let content_type = inbound.header("content-type").map(str::to_owned);
        let http::Inbound { route, body, body_sha256, event_id, received_at, .. } = inbound;
        let delivered = Delivered { tenant, route, content_type, body: &body, body_sha256, event_id, received_at };
        self.settle(delivered, now, Replay::Deduplicated).await
    }

    /// The routed event, its body checked and parsed, and what it changes.
    fn plan(
        &self,
        route: Result<EventType, Refusal>,
        content_type: Option<&str>,
        body: &[u8],
        (event_id, received_at): (&str, Timestamp),
    ) -> Result<(EventType, Option<Plan>), Refusal> {
        let event = route?;
        http::accept_content_type(content_type)?;
        let payload = event.parse(body)?;
        let fetch_milestone_documents = self.settings.fetch_milestone_documents;
        let cx = PlanContext { event, event_id, received_at, fetch_milestone_documents };
        Ok((event, job::plan(&payload, &cx)))
    }

    /// Everything decided before a write, for a live request, a replay and a dry run alike: the
    /// event and plan, the tenant's organization rule, and the delivery (tenant, route, the
    /// body's SHA-256) with how long it is remembered.
    fn decide(&self, delivered: Delivered<'_>, now: Timestamp) -> Result<Decided, Refusal> {
        let Delivered { tenant, route, content_type, body, body_sha256, event_id, received_at } = delivered;
        let (event, plan) = self.plan(route, content_type.as_deref(), body, (&event_id, received_at))?;
        // A payload naming another tenant's organization as its site's owner changes nothing.
        if let Some(reason) = plan
            .as_ref()
            .and_then(|plan| plan.owner_organization.as_deref())
            .and_then(|o| self.settings.auth.tenants().foreign_organization(&tenant, o))
        {
            return Err(Refusal::ForeignOrganization(reason));
        }
        let remember_until = plan.as_ref().and_then(|plan| self.settings.dedupe.remember_until(plan.identity, now));
        let delivery =
            Delivery { tenant, event, body_sha256, event_id, now, remember_until: remember_until.unwrap_or(now) };
        Ok(Decided { event, plan, delivery, remember_until })
    }

    /// Everything after the archive: parse, plan, claim the delivery, apply, queue, finish.
    async fn settle(&self, delivered: Delivered<'_>, now: Timestamp, mode: Replay) -> Result<Accepted, Refusal> {
        let Decided { event, plan, delivery, remember_until } = self.decide(delivered, now)?;
        let tenant = delivery.tenant.clone();
        let Some(plan) = plan else {
            info!(event_id = delivery.event_id, event = %event, "unattributed: the event names no site; archived, nothing changed");
            let unattributed = Accepted {
                event_id: delivery.event_id,
                event: event.slug(),
                tenant: tenant.to_string(),
                site: None,
                unattributed: true,
                duplicate: false,
                stale: false,
                queued: Vec::new(),
            };
            return Ok(unattributed);
        };
        let job = JobKey::new(tenant.clone(), plan.site);
        let accepted = |duplicate, stale, queued| Accepted {
            event_id: delivery.event_id.clone(),
            event: event.slug(),
            tenant: tenant.to_string(),
            site: Some(plan.site),
            unattributed: false,
            duplicate,
            stale,
            queued,
        };

        let quote = plan
            .documents
            .iter()
            .find_map(|document| document.quote)
            .or(plan.lookup.as_ref().map(|lookup| lookup.quote));
        let span = info_span!(
            "webhook",
            event_id = %delivery.event_id,
            event = %event,
            tenant = %tenant,
            site = %plan.site,
            quote = quote.map(|q| q.to_string()),
        );
        async {
            if mode == Replay::Forced || remember_until.is_none() {
                // Forced, or idempotent by itself (no delivery record).
                let (stale, queued) = self.apply(&plan, &delivery, &job).await.map_err(Refusal::NotApplied)?;
                info!(stale, queued = queued.len(), forced = mode == Replay::Forced, "applied");
                return Ok(accepted(false, stale, queued));
            }
            let claim = match self.store.claim_delivery(&delivery).await {
                Ok(claim) => claim,
                Err(error) => {
                    // The claim may have landed with its answer lost: give it back, in case, so
                    // that the sender's retry is not told "being applied" until the lease runs out.
                    self.release(&delivery).await;
                    return Err(Refusal::NotApplied(error));
                }
            };
            match claim {
                Claim::New => {}
                Claim::Duplicate { first_event_id } => {
                    info!(first_event_id, "duplicate delivery");
                    return Ok(accepted(true, false, Vec::new()));
                }
                Claim::InProgress => return Err(Refusal::InProgress),
            }

            let applied = match self.apply(&plan, &delivery, &job).await {
                Ok(applied) => self.store.finish_delivery(&delivery).await.map(|()| applied),
                Err(error) => Err(error),
            };
            match applied {
                Ok((stale, queued)) => {
                    info!(stale, queued = queued.len(), "applied");
                    Ok(accepted(false, stale, queued))
                }
                Err(error) => {
                    self.release(&delivery).await;
                    Err(Refusal::NotApplied(error))
                }
            }
        }
        .instrument(span)
        .await
    }

    /// Gives the delivery's claim up, if it is still ours; a failure only logs (the claim frees
    /// itself when its lease ends).
    async fn release(&self, delivery: &Delivery) {
        if let Err(error) = self.store.release_delivery(delivery).await {
            warn!(error = %error, "could not release the delivery; it frees itself when its lease ends");
        }
    }

    /// Applies the plan to `job` (see [`JobStore::apply_plan`]) and sends the messages of what
    /// this delivery queued; returns whether the event was stale and which documents it queued.
    async fn apply(
        &self,
        plan: &Plan,
        delivery: &Delivery,
        job: &JobKey,
    ) -> Result<(bool, Vec<DocumentId>), BackendError> {
        let applied = self.store.apply_plan(job, plan, delivery).await?;
        let (tenant, event_id) = (&job.tenant, &delivery.event_id);
        let queued = plan.documents.iter().filter(|document| applied.queued.contains(&document.id));
        let mut messages: Vec<WorkMessage> = queued
            .map(|document| WorkMessage::FetchDocument {
                tenant: tenant.clone(),
                site: plan.site,
                quote: document.quote,
                task: document.task,
                document: document.id,
                name: document.name.clone(),
                event_id: event_id.clone(),
            })
            .collect();
        if let Some(enrichment) = plan.enrichment.as_ref().filter(|_| applied.enrichment) {
            messages.push(WorkMessage::Enrich {
                tenant: tenant.clone(),
                site: plan.site,
                quote: enrichment.quote,
                version: enrichment.version,
                event_id: event_id.clone(),
                force: false,
            });
        }
        if let Some(lookup) = plan.lookup.as_ref().filter(|_| applied.lookup) {
            messages.push(WorkMessage::ResolveSignedQuote {
                tenant: tenant.clone(),
                site: plan.site,
                quote: lookup.quote,
                milestone: lookup.milestone,
                version: lookup.version,
            });
        }
        if !messages.is_empty() {
            self.queue.send(&messages).await?;
        }
        Ok((applied.stale, applied.queued))
    }
}

/// Every event slug, for messages that list them.
pub(crate) fn known_events() -> String {
    EventType::ALL.map(EventType::slug).join(", ")
}
