//! Documents and dead letters: re-queue a document (or every failed one of a site), read the
//! DLQ with what the job records about each message's document, and send it back.

use super::*;

/// A message in the DLQ, with what the job records about its document.
#[derive(Clone, Debug, PartialEq)]
pub struct DeadLetter {
    pub message_id: String,
    /// The tenant the message names (the default tenant for a message without one); `None` for
    /// a body that is no fetch message.
    pub tenant: Option<TenantId>,
    pub receive_count: Option<String>,
    pub body: String,
    /// The document's status and the last error recorded for it, when the message names one.
    pub status: Option<String>,
    pub reason: Option<String>,
}

impl Ops {
    /// Re-queues one document of a job: marks it `QUEUED` and sends its fetch message.
    pub async fn refetch(&self, job: &JobKey, document: DocumentId) -> Result<(), OpsError> {
        let item = match self.store.requeue_document(job, document, Timestamp::now()).await? {
            Requeued::Queued(item) => item,
            Requeued::Refused { status: None } => return Err(format!("{job} has no document {document}").into()),
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
        let message = WorkMessage::FetchDocument {
            tenant: job.tenant.clone(),
            site: job.site,
            quote: field("quote").and_then(|q| q.parse().ok()),
            task,
            document,
            name: field("name").map(str::to_owned),
            event_id: format!("refetch-{}", uuid::Uuid::new_v4()),
        };
        self.queue.send(&[message]).await?;
        Ok(())
    }

    /// Queues the enrichment of a job's signed quote by hand (`quote`, or the one the job's
    /// contract or change order was signed on), as the receiver does after a SIGN; answers the
    /// quote.
    pub async fn enrich(&self, key: &JobKey, quote: Option<QuoteId>) -> Result<QuoteId, OpsError> {
        let items = self.store.job_items(key).await?;
        let job = items.iter().find(|item| item.get("sk").and_then(Value::as_str) == Some(aws::schema::JOB));
        let job = job.ok_or_else(|| format!("no job for {key} in the table"))?;
        let signed = |part: &str, field: &str| {
            let part = job.get(part)?;
            let quote = part.get(field)?.as_str()?.parse::<QuoteId>().ok()?;
            let at = part.get("signed_at")?.as_str()?.parse::<Timestamp>().ok()?;
            Some((quote, at))
        };
        let found = signed("change_order", "new_quote").or_else(|| signed("contract", "quote"));
        let (quote, version) = match (quote, found) {
            (Some(quote), Some((signed, at))) if quote == signed => (quote, at.micros()),
            (Some(quote), _) => (quote, Timestamp::now().micros()),
            (None, Some((signed, at))) => (signed, at.micros()),
            (None, None) => {
                return Err(format!("{key} has no signed contract or change order: name --quote").into());
            }
        };
        let message = WorkMessage::Enrich {
            tenant: key.tenant.clone(),
            site: key.site,
            quote,
            version,
            event_id: format!("enrich-{}", uuid::Uuid::new_v4()),
            force: true,
        };
        self.queue.send(&[message]).await?;
        Ok(quote)
    }

    /// Re-queues every `FAILED` document of a job; answers their ids.
    pub async fn refetch_failed(&self, job: &JobKey) -> Result<Vec<DocumentId>, OpsError> {
        let mut queued = Vec::new();
        for item in self.store.job_items(job).await? {
            let is_failed =
                item.get("status").and_then(Value::as_str).and_then(|s| s.parse().ok()) == Some(FetchStatus::Failed);
            let document = item.get("document").and_then(Value::as_str).and_then(|d| d.parse().ok());
            if let (true, Some(document)) = (is_failed, document) {
                self.refetch(job, document).await?;
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
        self.dead_letters_of(None).await
    }

    /// The DLQ's messages of `tenant` (all, with `None`).
    pub async fn dead_letters_of(&self, tenant: Option<&TenantId>) -> Result<Vec<DeadLetter>, OpsError> {
        let dlq = self.dlq()?;
        let mut letters = Vec::new();
        let mut handles = Vec::new();
        loop {
            let messages = self.receive_dead_letters(dlq).await?;
            if messages.is_empty() {
                break;
            }
            for message in &messages {
                handles.extend(message.receipt_handle().map(str::to_owned));
                let body = message.body().unwrap_or_default().to_owned();
                let of = message_tenant(&body);
                if tenant.is_some_and(|wanted| of.as_ref() != Some(wanted)) {
                    continue;
                }
                let (status, reason) = self.document_state(&body).await?;
                letters.push(DeadLetter {
                    tenant: of,
                    message_id: message.message_id().unwrap_or_default().to_owned(),
                    receive_count: message
                        .attributes()
                        .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                        .cloned(),
                    body,
                    status,
                    reason,
                });
            }
        }
        self.show_again(dlq, handles).await?;
        Ok(letters)
    }

    /// Makes the DLQ messages received under `handles` visible again.
    async fn show_again(&self, dlq: &str, handles: Vec<String>) -> Result<(), OpsError> {
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
        Ok(())
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
        let (job, sk) = match serde_json::from_str::<WorkMessage>(body) {
            Ok(WorkMessage::FetchDocument { tenant, site, document, .. }) => {
                (JobKey::new(tenant, site), aws::schema::document_sk(document))
            }
            Ok(WorkMessage::Enrich { tenant, site, quote, .. }) => {
                (JobKey::new(tenant, site), aws::schema::details_sk(quote))
            }
            Ok(WorkMessage::ResolveSignedQuote { tenant, site, quote, .. }) => {
                let items = self.store.job_items(&JobKey::new(tenant, site)).await?;
                let job = items.iter().find(|item| item.get("sk").and_then(Value::as_str) == Some(aws::schema::JOB));
                let error = job.and_then(|job| job.get("lookup_error"));
                let reason = error
                    .filter(|error| error.get("quote").and_then(Value::as_str) == Some(quote.to_string().as_str()))
                    .and_then(|error| error.get("reason")?.as_str())
                    .map(|reason| format!("re-sign look-up of {quote}: {reason}"));
                return Ok((None, reason));
            }
            Ok(WorkMessage::ReadSite { tenant, site, .. }) => {
                (JobKey::new(tenant, site), aws::schema::SITE_READ.to_owned())
            }
            Ok(WorkMessage::Reconcile { tenant }) => {
                let tenant = tenant.map_or_else(|| "every tenant".to_owned(), |tenant| format!("tenant {tenant}"));
                return Ok((None, Some(format!("reconciliation of {tenant}"))));
            }
            Err(error) => return Ok((None, Some(format!("malformed: not a fetch message: {error}")))),
        };
        let items = self.store.job_items(&job).await?;
        let item = items.iter().find(|item| item.get("sk").and_then(Value::as_str) == Some(sk.as_str()));
        let field = |name: &str| item.and_then(|i| i.get(name)).and_then(Value::as_str).map(str::to_owned);
        Ok((field("status"), field("failure").or_else(|| field("last_error"))))
    }

    /// Moves every message from the DLQ back to the fetch queue; answers how many.
    pub async fn redrive(&self) -> Result<usize, OpsError> {
        self.redrive_of(None).await
    }

    /// Moves the DLQ's messages of `tenant` (all, with `None`) back to the fetch queue, say after
    /// that tenant's token was put right; the others stay. Answers how many moved.
    pub async fn redrive_of(&self, tenant: Option<&TenantId>) -> Result<usize, OpsError> {
        let dlq = self.dlq()?;
        let mut moved = 0;
        let mut kept = Vec::new();
        loop {
            let messages = self.receive_dead_letters(dlq).await?;
            if messages.is_empty() {
                self.show_again(dlq, kept).await?;
                return Ok(moved);
            }
            for message in &messages {
                if tenant
                    .is_some_and(|wanted| message_tenant(message.body().unwrap_or_default()).as_ref() != Some(wanted))
                {
                    kept.extend(message.receipt_handle().map(str::to_owned));
                    continue;
                }
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

/// The tenant a queued message names (the default tenant for one without); `None` for a body
/// that is no fetch message: it is no tenant's, and only a listing of every tenant shows it.
fn message_tenant(body: &str) -> Option<TenantId> {
    serde_json::from_str::<WorkMessage>(body).ok().and_then(|message| message.tenant().cloned())
}
