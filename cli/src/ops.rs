//! The operator's commands: inspect a job, replay archived requests through the receiver's own
//! logic, re-queue documents, read and redrive the DLQ. They use the functions' SDK clients and
//! configuration (`JOBS_TABLE`, `DOCUMENTS_BUCKET`, `FETCH_QUEUE_URL`, and `FETCH_DLQ_URL` for the
//! DLQ), against AWS or, with `AWS_ENDPOINT_URL`, the local backend alike.

use std::collections::BTreeMap;

use aws_sdk_sqs::types::{Message, MessageSystemAttributeName};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use shared::archive::RawRequest;
use shared::aws::{Clients, DynamoJobStore, Requeued, S3Archive, SqsFetchQueue};
use shared::config::{AllowedPrincipals, DedupeConfig};
use shared::drift::Drift;
use shared::event::EventType;
use shared::ids::{DocumentId, QuoteId, SiteId};
use shared::job::{DeliveryState, FetchStatus};
use shared::message::FetchMessage;
use shared::ports::{BackendError, FetchQueue};
use shared::timestamp::Timestamp;
use webhook_receiver::{Authenticator, AwsReceiver, Receiver, Replay, Settings};

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
}

pub struct Ops {
    store: DynamoJobStore,
    archive: S3Archive,
    queue: SqsFetchQueue,
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
    dlq_url: Option<String>,
    /// The receiver's logic, for replays; it accepts no live request.
    receiver: AwsReceiver,
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
}

/// How a replay runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplayMode {
    /// A body already applied is a duplicate and changes nothing.
    Deduplicated,
    /// Applied again even if it was applied before.
    Forced,
    /// Nothing is written: each request says what it would do.
    DryRun { force: bool },
}

/// What became of each replayed request, and the counts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReplayReport {
    /// Each request's key and outcome, in the order they were replayed.
    pub lines: Vec<(String, String)>,
    pub counts: BTreeMap<&'static str, usize>,
}

impl ReplayReport {
    fn add(&mut self, key: &str, kind: &'static str, detail: String) {
        *self.counts.entry(kind).or_default() += 1;
        self.lines.push((key.to_owned(), detail));
    }

    pub fn count(&self, kind: &str) -> usize {
        self.counts.get(kind).copied().unwrap_or_default()
    }

    /// The summary line.
    pub fn summary(&self) -> String {
        let counts: Vec<String> = self.counts.iter().map(|(kind, n)| format!("{n} {kind}")).collect();
        format!(
            "{} request(s): {}",
            self.lines.len(),
            if counts.is_empty() { "none".into() } else { counts.join(", ") }
        )
    }
}

/// A message in the DLQ, with what the job records about its document.
#[derive(Clone, Debug, PartialEq)]
pub struct DeadLetter {
    pub message_id: String,
    pub receive_count: Option<String>,
    pub body: String,
    /// The document's status and the last error recorded for it, when the message names one.
    pub status: Option<String>,
    pub reason: Option<String>,
}

impl Ops {
    pub fn new(config: &OpsConfig, clients: &Clients) -> Self {
        let store = DynamoJobStore::new(clients.dynamodb.clone(), &config.table);
        let archive = S3Archive::new(clients.s3.clone(), &config.bucket);
        let queue = SqsFetchQueue::new(clients.sqs.clone(), &config.queue_url);
        let settings = Settings {
            auth: Authenticator::Iam(AllowedPrincipals::nobody()),
            fetch_milestone_documents: config.fetch_milestone_documents,
            dedupe: config.dedupe,
        };
        let receiver = Receiver::new(settings, store.clone(), archive.clone(), queue.clone())
            .with_metrics(shared::metrics::discard_sink());
        Self {
            store,
            archive,
            queue,
            sqs: clients.sqs.clone(),
            queue_url: config.queue_url.clone(),
            dlq_url: config.dlq_url.clone(),
            receiver,
        }
    }

    /// A job's items, by site or through the quote index.
    pub async fn job(
        &self,
        site: Option<SiteId>,
        quote: Option<QuoteId>,
    ) -> Result<(SiteId, Vec<Map<String, Value>>), OpsError> {
        let site = match (site, quote) {
            (Some(site), _) => site,
            (None, Some(quote)) => {
                self.store.site_of_quote(quote).await?.ok_or_else(|| format!("no job holds quote {quote}"))?
            }
            (None, None) => return Err("name a site, or a quote with --quote".into()),
        };
        let items = self.store.job_items(site).await?;
        if items.is_empty() {
            return Err(format!("no job for site {site} in the table").into());
        }
        Ok((site, items))
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

    /// The archived requests a selection names, oldest first.
    pub async fn select(&self, selection: &Selection) -> Result<Vec<(String, RawRequest)>, OpsError> {
        if let Some(key) = &selection.key {
            return Ok(vec![(key.clone(), self.archive.get(key).await?)]);
        }
        let prefix = selection.prefix.as_deref().unwrap_or("raw/");
        let day = |t: Option<Timestamp>| t.map(|t| t.to_datetime().date());
        let (first_day, last_day) = (day(selection.since), day(selection.until));
        let mut records = Vec::new();
        for key in self.archive.keys(prefix).await? {
            // The key holds the day (raw/<event>/<yyyy>/<mm>/<dd>/<id>.json): skip other days unread.
            if let Some(key_day) = day_of_key(&key)
                && (first_day.is_some_and(|first| key_day < first) || last_day.is_some_and(|last| key_day > last))
            {
                continue;
            }
            let raw = self.archive.get(&key).await?;
            let in_range = selection.since.is_none_or(|since| raw.received_at >= since)
                && selection.until.is_none_or(|until| raw.received_at <= until);
            let of_site = selection.site.is_none_or(|site| {
                self.receiver.preview(&raw).is_ok_and(|(_, plan)| plan.is_some_and(|plan| plan.site == site))
            });
            if in_range && of_site {
                records.push((key, raw));
            }
        }
        records.sort_by(|a, b| (a.1.received_at, &a.0).cmp(&(b.1.received_at, &b.0)));
        Ok(records)
    }

    /// Replays the records in order; `progress` hears of each one done.
    pub async fn replay(
        &self,
        records: &[(String, RawRequest)],
        mode: ReplayMode,
        mut progress: impl FnMut(usize, usize),
    ) -> Result<ReplayReport, OpsError> {
        let mut report = ReplayReport::default();
        for (done, (key, raw)) in records.iter().enumerate() {
            match mode {
                ReplayMode::DryRun { force } => self.preview(key, raw, force, &mut report).await?,
                ReplayMode::Deduplicated | ReplayMode::Forced => {
                    let replay = if mode == ReplayMode::Forced { Replay::Forced } else { Replay::Deduplicated };
                    match self.receiver.replay(raw, replay).await {
                        Ok(accepted) if accepted.duplicate => {
                            report.add(key, "duplicate", "duplicate: applied before, nothing changed".into());
                        }
                        Ok(accepted) if accepted.unattributed => {
                            report.add(key, "unattributed", "unattributed: names no site, nothing changed".into());
                        }
                        Ok(accepted) => {
                            let kind = if accepted.stale { "stale" } else { "applied" };
                            let site = accepted.site.map(|site| site.to_string()).unwrap_or_default();
                            let detail = format!("{kind}: site {site}, {} document(s) queued", accepted.queued.len());
                            report.add(key, kind, detail);
                        }
                        Err(refusal) if refusal.status().is_server_error() => {
                            report.add(key, "failed", format!("failed: {refusal}: {}", source_of(&refusal)));
                        }
                        Err(refusal) => {
                            report.add(key, "refused", format!("refused ({}): {refusal}", refusal.status()))
                        }
                    }
                }
            }
            progress(done + 1, records.len());
        }
        Ok(report)
    }

    async fn preview(
        &self,
        key: &str,
        raw: &RawRequest,
        force: bool,
        report: &mut ReplayReport,
    ) -> Result<(), OpsError> {
        let (event, plan) = match self.receiver.preview(raw) {
            Ok(preview) => preview,
            Err(refusal) => {
                report.add(key, "refused", format!("would be refused ({}): {refusal}", refusal.status()));
                return Ok(());
            }
        };
        let Some(plan) = plan else {
            report.add(key, "unattributed", format!("would change nothing: this {event} names no site"));
            return Ok(());
        };
        let body = raw.body().map_err(|e| format!("{key}: {e}"))?;
        let state = self.store.delivery_state(event, &hex::encode(Sha256::digest(&body))).await?;
        if state == Some(DeliveryState::Done) && !force {
            report.add(
                key,
                "duplicate",
                format!("would change nothing: {event} for site {} was applied before", plan.site),
            );
            return Ok(());
        }
        let items: Vec<String> =
            plan.changes.iter().flat_map(|change| DynamoJobStore::items_changed(plan.site, change)).collect();
        let fetch: Vec<String> = plan.documents.iter().filter(|d| d.fetch).map(|d| d.id.to_string()).collect();
        let detail = format!(
            "would apply {event} to site {}: update {} (each unless newer state is stored); record {} document(s); queue {} for download unless already known{}",
            plan.site,
            items.join(", "),
            plan.documents.len(),
            if fetch.is_empty() { "none".to_owned() } else { fetch.join(", ") },
            if plan.lookup.is_some() { "; look up the signed quote" } else { "" },
        );
        report.add(key, "would apply", detail);
        Ok(())
    }

    /// Re-queues one document of a site: marks it `QUEUED` and sends its fetch message.
    pub async fn refetch(&self, site: SiteId, document: DocumentId) -> Result<(), OpsError> {
        let item = match self.store.requeue_document(site, document, Timestamp::now()).await? {
            Requeued::Queued(item) => item,
            Requeued::Refused { status: None } => return Err(format!("site {site} has no document {document}").into()),
            Requeued::Refused { status: Some(status) } => {
                return Err(format!(
                    "document {document} is {status}: only FAILED, QUEUED or RECORDED documents are re-queued"
                )
                .into());
            }
        };
        let field = |name: &str| item.get(name).and_then(Value::as_str);
        let task =
            field("task").and_then(|t| t.parse().ok()).ok_or_else(|| format!("document {document} has no task"))?;
        let message = FetchMessage::FetchDocument {
            site,
            quote: field("quote").and_then(|q| q.parse().ok()),
            task,
            document,
            name: field("name").map(str::to_owned),
            event_id: format!("refetch-{}", uuid::Uuid::new_v4()),
        };
        self.queue.send(&[message]).await?;
        Ok(())
    }

    /// Re-queues every `FAILED` document of a site; answers their ids.
    pub async fn refetch_failed(&self, site: SiteId) -> Result<Vec<DocumentId>, OpsError> {
        let mut queued = Vec::new();
        for item in self.store.job_items(site).await? {
            let is_failed =
                item.get("status").and_then(Value::as_str).and_then(|s| s.parse().ok()) == Some(FetchStatus::Failed);
            let document = item.get("document").and_then(Value::as_str).and_then(|d| d.parse().ok());
            if let (true, Some(document)) = (is_failed, document) {
                self.refetch(site, document).await?;
                queued.push(document);
            }
        }
        Ok(queued)
    }

    fn dlq(&self) -> Result<&str, OpsError> {
        self.dlq_url.as_deref().ok_or_else(|| "the DLQ's URL is needed: --dlq-url or FETCH_DLQ_URL".into())
    }

    /// Every message in the DLQ, with its document's status and last error. They are hidden
    /// while being read, then made visible again.
    pub async fn dead_letters(&self) -> Result<Vec<DeadLetter>, OpsError> {
        let dlq = self.dlq()?;
        let mut letters = Vec::new();
        let mut handles = Vec::new();
        loop {
            let messages = self.receive_dead_letters(dlq).await?;
            if messages.is_empty() {
                break;
            }
            for message in &messages {
                let body = message.body().unwrap_or_default().to_owned();
                let (status, reason) = self.document_state(&body).await?;
                letters.push(DeadLetter {
                    message_id: message.message_id().unwrap_or_default().to_owned(),
                    receive_count: message
                        .attributes()
                        .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                        .cloned(),
                    body,
                    status,
                    reason,
                });
                handles.extend(message.receipt_handle().map(str::to_owned));
            }
        }
        for handle in handles {
            self.sqs
                .change_message_visibility()
                .queue_url(dlq)
                .receipt_handle(handle)
                .visibility_timeout(0)
                .send()
                .await
                .map_err(|e| BackendError::new("SQS ChangeMessageVisibility (DLQ)", e))?;
        }
        Ok(letters)
    }

    /// Up to ten DLQ messages, hidden from other readers for a minute.
    async fn receive_dead_letters(&self, dlq: &str) -> Result<Vec<Message>, OpsError> {
        let output = self
            .sqs
            .receive_message()
            .queue_url(dlq)
            .max_number_of_messages(10)
            .visibility_timeout(60)
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .send()
            .await
            .map_err(|e| BackendError::new("SQS ReceiveMessage (DLQ)", e))?;
        Ok(output.messages.unwrap_or_default())
    }

    /// What the job records about the document a message names: its status and last error.
    async fn document_state(&self, body: &str) -> Result<(Option<String>, Option<String>), OpsError> {
        let Ok(FetchMessage::FetchDocument { site, document, .. }) = serde_json::from_str(body) else {
            return Ok((None, None));
        };
        let sk = shared::aws::schema::document_sk(document);
        let items = self.store.job_items(site).await?;
        let item = items.iter().find(|item| item.get("sk").and_then(Value::as_str) == Some(sk.as_str()));
        let field = |name: &str| item.and_then(|i| i.get(name)).and_then(Value::as_str).map(str::to_owned);
        Ok((field("status"), field("failure").or_else(|| field("last_error"))))
    }

    /// Moves every message from the DLQ back to the fetch queue; answers how many.
    pub async fn redrive(&self) -> Result<usize, OpsError> {
        let dlq = self.dlq()?;
        let mut moved = 0;
        loop {
            let messages = self.receive_dead_letters(dlq).await?;
            if messages.is_empty() {
                return Ok(moved);
            }
            for message in &messages {
                self.sqs
                    .send_message()
                    .queue_url(&self.queue_url)
                    .message_body(message.body().unwrap_or_default())
                    .send()
                    .await
                    .map_err(|e| BackendError::new("SQS SendMessage (fetch queue)", e))?;
                self.sqs
                    .delete_message()
                    .queue_url(dlq)
                    .receipt_handle(message.receipt_handle().unwrap_or_default())
                    .send()
                    .await
                    .map_err(|e| BackendError::new("SQS DeleteMessage (DLQ)", e))?;
                moved += 1;
            }
        }
    }
}

/// The day in an archive key `raw/<event>/<yyyy>/<mm>/<dd>/<id>.json`.
fn day_of_key(key: &str) -> Option<time::Date> {
    let parts: Vec<&str> = key.split('/').collect();
    let [.., year, month, day, _] = parts.as_slice() else { return None };
    let month = time::Month::try_from(month.parse::<u8>().ok()?).ok()?;
    time::Date::from_calendar_date(year.parse().ok()?, month, day.parse().ok()?).ok()
}

/// The cause under a refusal, for the operator.
fn source_of(error: &dyn std::error::Error) -> String {
    error.source().map_or_else(String::new, ToString::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_day_is_read_from_an_archive_key() {
        let day = day_of_key("raw/contract-status-change/2026/11/02/ea12.json").unwrap();
        assert_eq!((day.year(), u8::from(day.month()), day.day()), (2026, 11, 2));
        assert_eq!(day_of_key("raw/x.json"), None);
        assert_eq!(day_of_key("raw/e/2026/13/02/x.json"), None);
    }
}
