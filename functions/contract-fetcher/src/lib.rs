//! The contract fetcher: for each SQS message the receiver queued, copy one signed document from
//! EverBright into S3 (streamed, verified, recorded, exactly once), record which quote a
//! milestone's quote was finally signed as, or read a signed quote's details from the data API
//! (the enrichment: `enrich.rs`).
//!
//! A batch's messages are handled concurrently, with a bound. Messages that may succeed later are
//! returned in `batchItemFailures` (so SQS redelivers them, and its redrive policy sends the ones
//! that keep failing to the DLQ); permanent failures are recorded as `FAILED` with the reason and
//! acknowledged. One message never fails the whole batch.

mod api;

use api::TenantApi;
mod deadline;
mod document;
mod enrich;
mod lookup;
mod reconcile;

pub use reconcile::Run as ReconcileRun;

/// What the fetcher needs of its ledger: the document items' and reconciliation's.
pub trait Ledger: DocumentLedger + ReconcileLedger {}

impl<T: DocumentLedger + ReconcileLedger> Ledger for T {}

use std::collections::HashMap;
use std::time::Duration;

use aws::{Clients, DynamoJobStore, S3Archive, S3Documents, SecretsClient, UploadSettings, load_tenants};
use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use config::tenant::Tenants;
use config::{ConfigError, FetcherConfig, TenantsSource};
use domain::dal::Profile;
use domain::job::{JobKey, SignedQuoteLookup};
use domain::message::WorkMessage;
use domain::metrics::{Emf, MetricsSink, Unit, function_name, stdout_sink};
use domain::ports::{AnswerArchive, DocumentLedger, DocumentStore, ReconcileLedger};
use domain::reconcile::ReconcilePolicy;
use domain::tenant::TenantId;
use domain::timestamp::Clock;
use everbright::ClientSettings;
use futures_util::StreamExt;
use futures_util::stream;
use lambda_runtime::{Error, LambdaEvent};
use tokio::time::Instant;
use tracing::{Instrument, error, info_span, warn};

/// How long one attempt of an AWS call may take: room for a 64 MiB part (`UPLOAD_PART_MIB`'s
/// largest) at about 1 MiB/s.
const AWS_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(60);
/// How a malformed message's retry reason begins (counted as `MalformedMessages`).
const MALFORMED: &str = "malformed message";

/// The fetcher over its ports: the document items (`L`), where documents are stored (`D`) and
/// where the data API's answers are kept (`A`); DynamoDB and S3 in the functions.
pub struct Fetcher<L = DynamoJobStore, D = S3Documents, A = S3Archive> {
    ledger: L,
    documents: D,
    /// The data API's answers as they came (`dal/`), in the documents bucket.
    answers: A,
    clock: Clock,
    /// The metrics to read after a SIGN, and the page size (of the site list's too).
    profile: Profile,
    page_size: u32,
    /// How late and how far back reconciliation looks.
    reconcile_policy: ReconcilePolicy,
    /// Each tenant's API, by the tenant its messages name.
    apis: HashMap<TenantId, TenantApi>,
    client_settings: ClientSettings,
    concurrency: usize,
    /// Where each batch's metric line (EMF) goes, and its `Function` dimension.
    metrics: MetricsSink,
    function: String,
}

/// What became of one message.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    /// Done with, nothing new stored: acknowledge.
    Done,
    /// The document was stored now, with this many bytes: acknowledge.
    Stored(u64),
    /// It can never succeed; the reason is recorded: acknowledge.
    FailedForGood,
    /// It names a document no webhook of its tenant queued (or another tenant's): refused for
    /// good, acknowledged, counted.
    Refused,
    /// A signature's details were recorded now (`incomplete`: an answer was cut): acknowledge.
    Recorded { incomplete: bool },
    /// Try again later: report it in `batchItemFailures`.
    Retry(String),
}

/// What a message was about, for the metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum WorkKind {
    Document,
    /// A signature's details: an enrichment, or a re-sign look-up and its enrichment.
    Details,
    /// Not read: malformed, or of a tenant this function does not know.
    Unread,
    /// A reconciliation (its own metric line per tenant).
    Reconcile,
}

impl Fetcher {
    /// The fetcher with the default tenant and those of an inline `TENANTS`.
    ///
    /// # Panics
    /// When the tenants are in a secret: [`Self::load`] reads it.
    pub fn on_aws(config: &FetcherConfig, clients: &Clients) -> Self {
        assert!(!matches!(config.tenants, Some(TenantsSource::Secret(_))), "TENANTS_SECRET is read by Fetcher::load");
        Self::with_tenants(config, &TenantsSource::inline(config.tenants.as_ref()), clients)
    }

    /// The fetcher with the tenants document read from Secrets Manager now and checked.
    pub async fn load(config: &FetcherConfig, clients: &Clients) -> Result<Self, ConfigError> {
        let tenants = load_tenants(&clients.secrets, config.tenants.as_ref()).await?;
        Ok(Self::with_tenants(config, &tenants, clients))
    }

    /// The fetcher with the default tenant (when configured) and `tenants`.
    pub fn with_tenants(config: &FetcherConfig, tenants: &Tenants, clients: &Clients) -> Self {
        let upload =
            UploadSettings { part_size: config.part_mib * 1024 * 1024, parts_in_flight: config.parts_in_flight };
        let ports = (
            DynamoJobStore::new(clients.dynamodb.clone(), &config.jobs_table),
            S3Documents::new(clients.s3.clone(), &config.documents_bucket, upload),
            S3Archive::new(clients.s3.clone(), &config.documents_bucket),
        );
        Self::new(config, tenants, &clients.secrets, ports)
    }

    pub async fn from_env() -> Result<Self, ConfigError> {
        let config = FetcherConfig::from_env()?;
        let sdk = aws::load_sdk_config_with(AWS_ATTEMPT_TIMEOUT).await;
        Self::load(&config, &Clients::new(&sdk)).await
    }
}

impl<L: Ledger, D: DocumentStore, A: AnswerArchive> Fetcher<L, D, A> {
    /// The fetcher on its ports, with the default tenant (when configured) and `tenants`; tokens
    /// kept in Secrets Manager are read with `secrets` on first use.
    pub fn new(
        config: &FetcherConfig,
        tenants: &Tenants,
        secrets: &SecretsClient,
        (ledger, documents, answers): (L, D, A),
    ) -> Self {
        let mut apis = HashMap::new();
        if let Some(default) = &config.default_tenant {
            apis.insert(TenantId::default_tenant(), TenantApi::new(&default.token, &default.base_url, secrets));
        }
        for tenant in tenants.iter() {
            if let Some(token) = &tenant.token {
                apis.insert(tenant.id.clone(), TenantApi::new(token, &tenant.base_url, secrets));
            }
        }
        Self {
            ledger,
            documents,
            answers,
            clock: Clock::system(),
            profile: config.dal_profile.clone(),
            page_size: config.dal_page_size,
            reconcile_policy: ReconcilePolicy {
                grace_seconds: config.reconcile_grace_minutes * 60,
                first_lookback_seconds: config.reconcile_lookback_hours * 3600,
            },
            apis,
            client_settings: ClientSettings {
                connect_timeout: Duration::from_secs(config.connect_timeout_seconds),
                read_timeout: Duration::from_secs(config.read_timeout_seconds),
                ..ClientSettings::default()
            },
            concurrency: config.concurrency,
            metrics: stdout_sink(),
            function: function_name("contract-fetcher"),
        }
    }

    /// The ports, to read what the fetcher left in them (tests).
    pub fn ports(&self) -> (&L, &D, &A) {
        (&self.ledger, &self.documents, &self.answers)
    }

    /// Reads a tenant's token again at most once per `interval` after a 401 (60 s unless a test
    /// says otherwise).
    pub fn with_token_reread_interval(mut self, interval: Duration) -> Self {
        for api in self.apis.values_mut() {
            api.reread_every(interval);
        }
        self
    }

    /// Reads the time from `clock` (tests: a lease that ran out, without waiting for it).
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Sends the metric lines elsewhere (tests, local runs).
    pub fn with_metrics(mut self, metrics: MetricsSink) -> Self {
        self.metrics = metrics;
        self
    }

    /// Resolves EverBright's and storage's host names with `lookup` (tests: a resolver they
    /// control); the clients are built on first use, so this comes before any message.
    pub fn with_lookup(mut self, lookup: everbright::HostLookup) -> Self {
        self.client_settings.lookup = lookup;
        self
    }

    /// The Lambda handler.
    pub async fn handle(&self, event: LambdaEvent<SqsEvent>) -> Result<SqsBatchResponse, Error> {
        let deadline = deadline::deadline_of(event.context.deadline)?;
        Ok(self.handle_batch(&event.payload.records, deadline).await)
    }

    /// Handles a batch; the answer lists the messages to retry.
    pub async fn handle_batch(&self, records: &[SqsMessage], deadline: Instant) -> SqsBatchResponse {
        let outcomes: Vec<(String, WorkKind, Outcome)> = stream::iter(records)
            .map(|record| async move {
                let id = record.message_id.clone().unwrap_or_default();
                let span = info_span!("message", message_id = %id);
                let (work, outcome) = self.handle_message(record, deadline).instrument(span).await;
                (id, work, outcome)
            })
            .buffer_unordered(self.concurrency.max(1))
            .collect()
            .await;
        self.record_metrics(&outcomes);
        let mut response = SqsBatchResponse::default();
        response.batch_item_failures = outcomes
            .into_iter()
            .filter(|(_, _, outcome)| matches!(outcome, Outcome::Retry(_)))
            .map(|(id, _, _)| {
                let mut failure = BatchItemFailure::default();
                failure.item_identifier = id;
                failure
            })
            .collect();
        response
    }

    /// One EMF line per batch.
    fn record_metrics(&self, outcomes: &[(String, WorkKind, Outcome)]) {
        let count = |wanted: &dyn Fn(WorkKind, &Outcome) -> bool| {
            outcomes.iter().filter(|(_, work, outcome)| wanted(*work, outcome)).count()
        };
        let bytes: u64 =
            outcomes.iter().map(|(_, _, outcome)| if let Outcome::Stored(size) = outcome { *size } else { 0 }).sum();
        let mut emf = Emf::new(&self.function);
        emf.count("Messages", outcomes.len())
            .count("Stored", count(&|_, outcome| matches!(outcome, Outcome::Stored(_))))
            .metric("BytesStored", Unit::Bytes, bytes as f64)
            .count("Retries", count(&|_, outcome| matches!(outcome, Outcome::Retry(_))))
            .count("PermanentFailures", count(&|_, outcome| *outcome == Outcome::FailedForGood))
            .count("RefusedMessages", count(&|_, outcome| *outcome == Outcome::Refused))
            .count("MalformedMessages", count(&|_, o| matches!(o, Outcome::Retry(r) if r.starts_with(MALFORMED))))
            .count("DetailsRecorded", count(&|_, outcome| matches!(outcome, Outcome::Recorded { .. })))
            .count("DetailsIncomplete", count(&|_, outcome| *outcome == Outcome::Recorded { incomplete: true }))
            .count(
                "DetailsFailed",
                count(&|work, outcome| work == WorkKind::Details && matches!(outcome, Outcome::Retry(_))),
            );
        (self.metrics)(emf.to_line(self.clock.now()));
    }

    async fn handle_message(&self, record: &SqsMessage, deadline: Instant) -> (WorkKind, Outcome) {
        let body = record.body.as_deref().unwrap_or_default();
        let message = match serde_json::from_str::<WorkMessage>(body) {
            Ok(message) => message,
            Err(error) => {
                // Not acknowledged: after its receives it waits in the DLQ, where `dlq` shows it.
                let prefix: String = body.chars().take(200).collect();
                error!(error = %error, body_prefix = prefix, "malformed message: not a fetch message; left for the DLQ");
                return (WorkKind::Unread, Outcome::Retry(format!("{MALFORMED}: {error}")));
            }
        };
        let (Some(tenant), Some(site)) = (message.tenant(), message.site()) else {
            let WorkMessage::Reconcile { tenant } = &message else {
                unreachable!("only a reconciliation names no site")
            };
            // Boxed: a reconciliation's future is deep, and rare beside the batch's others.
            return (WorkKind::Reconcile, Box::pin(self.reconcile(tenant.as_ref(), deadline)).await);
        };
        let Some(api) = self.apis.get(tenant) else {
            let reason = format!(
                "tenant {tenant} is not configured in this function (TENANTS_SECRET or TENANTS); retried, then the DLQ"
            );
            error!(reason, "unknown tenant");
            return (WorkKind::Unread, Outcome::Retry(reason));
        };
        let job = JobKey::new(tenant.clone(), site);
        let work =
            if matches!(message, WorkMessage::FetchDocument { .. }) { WorkKind::Document } else { WorkKind::Details };
        let outcome = match message {
            WorkMessage::FetchDocument { tenant, site, quote, task, document, name, event_id } => {
                let quote_text = quote.map(|q| q.to_string());
                let span = info_span!(
                    "fetch",
                    tenant = %tenant,
                    site = %site,
                    quote = quote_text.as_deref(),
                    task = %task,
                    document = %document,
                    event_id = %event_id,
                );
                self.fetch_document(api, &job, quote, document, name.as_deref(), deadline).instrument(span).await
            }
            WorkMessage::Enrich { tenant, site, quote, version, event_id, force } => {
                let span = info_span!("enrich", tenant = %tenant, site = %site, quote = %quote, event_id = %event_id);
                self.enrich(api, &job, quote, version, force, deadline).instrument(span).await
            }
            WorkMessage::ResolveSignedQuote { tenant, site, quote, milestone, version } => {
                let milestone_text = milestone.map(|m| m.to_string());
                let span = info_span!(
                    "signed_quote",
                    tenant = %tenant,
                    site = %site,
                    quote = %quote,
                    milestone = milestone_text.as_deref()
                );
                let lookup = SignedQuoteLookup { quote, milestone, version };
                self.resolve_signed_quote(api, &job, &lookup, deadline).instrument(span).await
            }
            WorkMessage::ReadSite { tenant, site, version, event_id } => {
                let span = info_span!("read_site", tenant = %tenant, site = %site, event_id = %event_id);
                Box::pin(self.read_site(api, &job, version, deadline)).instrument(span).await
            }
            WorkMessage::Reconcile { .. } => unreachable!("handled above"),
        };
        if let Outcome::Retry(reason) = &outcome {
            warn!(reason, "will be retried");
        }
        (work, outcome)
    }
}
