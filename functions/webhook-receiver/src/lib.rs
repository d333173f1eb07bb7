//! The webhook receiver: an EverBright webhook, authenticated, becomes archived bytes in S3, job
//! state in DynamoDB and fetch jobs in SQS.
//!
//! In order: authenticate (refusing writes nothing), archive the raw request (if that fails, 503
//! so the sender retries), route and parse (bad input: 4xx, already archived; a JSON object that
//! names no site: 2xx, unattributed, nothing else changes), claim the delivery by its route and
//! the body's SHA-256 (a repeat changes nothing; see [`shared::job::Identity`] for how long),
//! apply the plan to the job, queue the documents to fetch, mark the delivery applied, answer.

mod auth;
mod event;
mod http;
mod refusal;

use futures_util::future::try_join_all;
use lambda_http::{Body, Request, Response};
use serde::Serialize;
use sha2::{Digest, Sha256};
use shared::archive::RawRequest;
use shared::aws::{Clients, DynamoJobStore, S3Archive, SqsFetchQueue, load_credential, load_tenants};
use shared::config::{ConfigError, DedupeConfig, ReceiverConfig, TenantsSource};
use shared::event::EventType;
use shared::ids::{DocumentId, SiteId};
use shared::job::{self, Identity, JobKey, Plan, PlanContext};
use shared::message::FetchMessage;
use shared::metrics::{Emf, MetricsSink, function_name, stdout_sink};
use shared::ports::{Applied, Archive, BackendError, Claim, Delivery, DeliveryLedger, FetchQueue, JobStore};
use shared::tenant::{Credential, TenantId, Tenants};
use shared::timestamp::Timestamp;
use tracing::{Instrument, info, info_span, warn};

pub use crate::auth::{Authenticator, KeySource};
pub use crate::event::{keep_repeated_headers, request_from_event, run};
pub use crate::http::route;
pub use crate::refusal::Refusal;

/// The most headers a request may have (EverBright sends about ten; API Gateway passes at most
/// 10 KB of them).
pub const MAX_HEADERS: usize = 100;

/// How long one attempt of an AWS call may take: the receiver's calls are small, and API Gateway
/// gives up on the whole request after 29 s.
const AWS_ATTEMPT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

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

/// The receiver on DynamoDB, S3 and SQS.
pub type AwsReceiver = Receiver<DynamoJobStore, S3Archive, SqsFetchQueue>;

impl AwsReceiver {
    /// Builds the receiver from its configuration and the SDK's clients, with the tenants of an
    /// inline `TENANTS` (see [`Self::load`] for the secrets read at start-up).
    ///
    /// # Panics
    /// When a tenant's credential does not fit `AUTH_MODE`, or the tenants are in a secret;
    /// [`Self::load`] answers the first as an error and reads the second.
    pub fn on_aws(config: &ReceiverConfig, clients: &Clients) -> Self {
        assert!(
            !matches!(config.tenants, Some(TenantsSource::Secret(_))),
            "TENANTS_SECRET is read by AwsReceiver::load"
        );
        let tenants = TenantsSource::inline(config.tenants.as_ref());
        Self::with_tenants(config, tenants, None, clients).unwrap_or_else(|error| panic!("{error}"))
    }

    /// The receiver with `tenants` and the default tenant's shared credential.
    pub fn with_tenants(
        config: &ReceiverConfig,
        tenants: Tenants,
        shared: Option<Credential>,
        clients: &Clients,
    ) -> Result<Self, ConfigError> {
        let auth = Authenticator::with_tenants(&config.auth, tenants, shared, clients)
            .map_err(|reason| ConfigError::Invalid { name: "TENANTS", reason })?;
        Ok(Receiver::new(
            Settings { auth, fetch_milestone_documents: config.fetch_milestone_documents, dedupe: config.dedupe },
            DynamoJobStore::new(clients.dynamodb.clone(), &config.jobs_table),
            S3Archive::new(clients.s3.clone(), &config.documents_bucket),
            SqsFetchQueue::new(clients.sqs.clone(), &config.fetch_queue_url),
        ))
    }

    /// The receiver, with the tenants document and the shared credential read from Secrets
    /// Manager now and checked: an error names the variable and the entry.
    pub async fn load(config: &ReceiverConfig, clients: &Clients) -> Result<Self, ConfigError> {
        let tenants = load_tenants(&clients.secrets, config.tenants.as_ref()).await?;
        let shared = match &config.webhook_credential_secret {
            Some(secret_id) => Some(load_credential(&clients.secrets, secret_id).await?),
            None => None,
        };
        let receiver = Self::with_tenants(config, tenants, shared, clients)?;
        receiver
            .settings
            .auth
            .read_keys()
            .await
            .map_err(|reason| ConfigError::Invalid { name: "SIGV4_CREDENTIALS_SECRET", reason })?;
        Ok(receiver)
    }

    /// Reads the configuration from the environment and builds the clients once.
    pub async fn from_env() -> Result<Self, ConfigError> {
        let config = ReceiverConfig::from_env()?;
        let sdk = shared::aws::load_sdk_config_with(AWS_ATTEMPT_TIMEOUT).await;
        Self::load(&config, &Clients::new(&sdk)).await
    }
}

/// How a replay treats a body that was applied before.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Replay {
    /// As a live request: a duplicate changes nothing.
    Deduplicated,
    /// Applied again, whatever the delivery's record says.
    Forced,
}

/// What the logic after the archive works from: a live request, or one read back from the archive.
struct Delivered<'a> {
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

impl<'a> Delivered<'a> {
    /// An archived request as the logic after the archive takes it: its recorded tenant (a
    /// record made before tenants is the default's; one naming no valid tenant is refused) and
    /// the SHA-256 it was received with (an older record without one is hashed again).
    fn archived(raw: &RawRequest, body: &'a [u8]) -> Result<Self, Refusal> {
        Ok(Self {
            tenant: raw.caller.tenant_id().map_err(Refusal::BadArchive)?,
            route: route(&raw_method(raw)?, &raw.path),
            content_type: raw.header("content-type").map(str::to_owned),
            body,
            body_sha256: if raw.body_sha256.is_empty() {
                hex::encode(Sha256::digest(body))
            } else {
                raw.body_sha256.clone()
            },
            event_id: raw.event_id.clone(),
            received_at: raw.received_at,
        })
    }
}

/// What [`Receiver::decide`] found.
struct Decided {
    event: EventType,
    /// `None`: the event names no site.
    plan: Option<Plan>,
    delivery: Delivery,
    /// `None`: the event keeps no delivery record (see [`DedupeConfig::remember_until`]).
    remember_until: Option<Timestamp>,
}

/// What a replay of an archived request would do ([`Receiver::preview`]).
#[derive(Debug)]
pub enum Preview {
    /// It names no site: nothing would change.
    Unattributed { event: EventType },
    /// The delivery is remembered as applied: nothing would change.
    Duplicate { event: EventType, job: JobKey },
    /// It would apply `plan` to `job` (each write unless newer state is stored).
    WouldApply { event: EventType, job: JobKey, plan: Plan },
}

/// The body of an archived request.
fn raw_body(raw: &RawRequest) -> Result<Vec<u8>, Refusal> {
    raw.body().map_err(|e| Refusal::BadArchive(format!("its body is not base64: {e}")))
}

/// The method of an archived request.
fn raw_method(raw: &RawRequest) -> Result<lambda_http::http::Method, Refusal> {
    raw.method.parse().map_err(|_| Refusal::BadArchive(format!("its method {:?} is not an HTTP method", raw.method)))
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

impl<S: DeliveryLedger + JobStore, A: Archive, Q: FetchQueue> Receiver<S, A, Q> {
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

    /// Re-runs an archived request through the same logic as a live one, after the archive (the
    /// signature was checked when it came in). With [`Replay::Deduplicated`] a body already
    /// applied is a duplicate; [`Replay::Forced`] applies it again (the ordering guards still
    /// keep newer state) and leaves the delivery's record as it is.
    pub async fn replay(&self, raw: &RawRequest, mode: Replay) -> Result<Accepted, Refusal> {
        let body = raw_body(raw)?;
        self.settle(Delivered::archived(raw, &body)?, Timestamp::now(), mode).await
    }

    /// What replaying an archived request would do now, without writing: the same decisions as
    /// [`Self::replay`] (its tenant, its identity from the archived SHA-256, the organization
    /// rule, whether the delivery is remembered as applied), read, not claimed.
    pub async fn preview(&self, raw: &RawRequest, mode: Replay) -> Result<Preview, Refusal> {
        let body = raw_body(raw)?;
        let now = Timestamp::now();
        let Decided { event, plan, delivery, remember_until } = self.decide(Delivered::archived(raw, &body)?, now)?;
        let Some(plan) = plan else { return Ok(Preview::Unattributed { event }) };
        let job = JobKey::new(delivery.tenant.clone(), plan.site);
        let deduplicated = mode == Replay::Deduplicated && remember_until.is_some();
        if deduplicated && self.store.was_applied(&delivery).await.map_err(Refusal::NotApplied)? {
            return Ok(Preview::Duplicate { event, job });
        }
        Ok(Preview::WouldApply { event, job, plan })
    }

    /// The event and plan of an archived request, its body checked and parsed (`None`: it names
    /// no site); for choosing requests by site.
    pub fn planned(&self, raw: &RawRequest) -> Result<(EventType, Option<Plan>), Refusal> {
        let content_type = raw.header("content-type");
        self.plan(route(&raw_method(raw)?, &raw.path), content_type, &raw_body(raw)?, raw.received_at)
    }

    /// The routed event, its body checked and parsed, and what it changes.
    fn plan(
        &self,
        route: Result<EventType, Refusal>,
        content_type: Option<&str>,
        body: &[u8],
        received_at: Timestamp,
    ) -> Result<(EventType, Option<Plan>), Refusal> {
        let event = route?;
        http::accept_content_type(content_type)?;
        let payload = event.parse(body)?;
        let cx = PlanContext { event, received_at, fetch_milestone_documents: self.settings.fetch_milestone_documents };
        Ok((event, job::plan(&payload, &cx)))
    }

    /// Everything decided before a write, for a live request, a replay and a dry run alike: the
    /// event and plan, the tenant's organization rule, and the delivery (tenant, route, the
    /// body's SHA-256) with how long it is remembered.
    fn decide(&self, delivered: Delivered<'_>, now: Timestamp) -> Result<Decided, Refusal> {
        let Delivered { tenant, route, content_type, body, body_sha256, event_id, received_at } = delivered;
        let (event, plan) = self.plan(route, content_type.as_deref(), body, received_at)?;
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

    /// Applies the plan to `job`; returns whether the event was stale and which documents it
    /// queued. A plan told apart by its chain ([`Identity::Chain`]) applies its primary change
    /// first, and the rest only if that landed: a transition that does not follow on changes
    /// nothing.
    async fn apply(
        &self,
        plan: &Plan,
        delivery: &Delivery,
        job: &JobKey,
    ) -> Result<(bool, Vec<DocumentId>), BackendError> {
        let apply = |change| self.store.apply(job, change);
        let gate = plan.changes.get(plan.primary).filter(|_| plan.identity == Identity::Chain);
        let stale = if let Some(primary) = gate {
            if apply(primary).await? == Applied::Stale {
                return Ok((true, Vec::new()));
            }
            let others = plan.changes.iter().enumerate().filter(|(index, _)| *index != plan.primary);
            try_join_all(others.map(|(_, other)| apply(other))).await?;
            false
        } else {
            let applied = try_join_all(plan.changes.iter().map(apply)).await?;
            applied.get(plan.primary) == Some(&Applied::Stale)
        };

        let queued = try_join_all(plan.documents.iter().map(|document| async move {
            if document.fetch {
                self.store.queue_document(job, document, delivery).await.map(|queued| queued.then_some(document))
            } else {
                self.store.record_document(job, document).await.map(|()| None)
            }
        }))
        .await?;
        let queued: Vec<_> = queued.into_iter().flatten().collect();

        let tenant = &job.tenant;
        let mut messages: Vec<FetchMessage> = queued
            .iter()
            .map(|document| FetchMessage::FetchDocument {
                tenant: tenant.clone(),
                site: plan.site,
                quote: document.quote,
                task: document.task,
                document: document.id,
                name: document.name.clone(),
                event_id: delivery.event_id.clone(),
            })
            .collect();
        if let Some(enrichment) = plan.enrichment.as_ref().filter(|_| !stale)
            && self.store.queue_enrichment(job, enrichment, delivery).await?
        {
            messages.push(FetchMessage::Enrich {
                tenant: tenant.clone(),
                site: plan.site,
                quote: enrichment.quote,
                version: enrichment.version,
                event_id: delivery.event_id.clone(),
                force: false,
            });
        }
        if let Some(lookup) = plan.lookup.as_ref().filter(|_| !stale) {
            messages.push(FetchMessage::ResolveSignedQuote {
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
        Ok((stale, queued.iter().map(|document| document.id).collect()))
    }
}

/// Every event slug, for messages that list them.
pub fn known_events() -> String {
    EventType::ALL.map(EventType::slug).join(", ")
}
