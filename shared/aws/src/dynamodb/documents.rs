//! The fetcher's document ledger: a `DOC#` item claimed under a lease, marked stored (with the
//! job's count, in one transaction) or failed, released for a retry; a signature's details and a
//! re-sign look-up's answer recorded.

use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update};
use futures_util::future::try_join_all;
use serde_json::Value;

use super::expression::{Clauses, Expression};
use super::schema;
use super::{DynamoJobStore, conditional_failed, n, pending, s, string_attribute, to_attribute};
use domain::ids::{DocumentId, QuoteId};
use domain::job::{self, Change, FetchStatus, JobKey, Part, SignedQuoteLookup};
use domain::ports::{BackendError, DetailsRecord, DocumentLedger, FetchClaim, JobStore, StoredDocument};
use domain::tenant::TenantId;
use domain::timestamp::Timestamp;

impl DynamoJobStore {
    /// An update of one `DOC#` item held under `lease`: `update` writes the update expression.
    async fn update_leased_document(
        &self,
        operation: &'static str,
        job: &JobKey,
        document: DocumentId,
        lease: &str,
        update: impl FnOnce(&mut Expression) -> String,
    ) -> Result<bool, BackendError> {
        let mut expr = Expression::default();
        let update = update(&mut expr);
        let condition = format!("{} = {}", expr.name("lease_owner"), expr.value(s(lease)));
        let item = schema::document_sk(document);
        self.write_job_item(operation, (job, &item), expr, update, Some(condition)).await
    }
}

impl DocumentLedger for DynamoJobStore {
    async fn claim_fetch(
        &self,
        job: &JobKey,
        document: DocumentId,
        lease: &str,
        now: Timestamp,
        lease_until: Timestamp,
    ) -> Result<FetchClaim, BackendError> {
        let mut expr = Expression::default();
        let (status, lease_until_name) = (expr.name("status"), expr.name("lease_until"));
        let (fetching, queued) =
            (expr.value(s(FetchStatus::Fetching.as_str())), expr.value(s(FetchStatus::Queued.as_str())));
        let update = format!(
            "SET {status} = {fetching}, {} = {}, {lease_until_name} = {}, {} = {}, {} = {}, {} = {}, {} = {} ADD {} {}",
            expr.name("lease_owner"),
            expr.value(s(lease)),
            expr.value(n(lease_until.unix_seconds())),
            expr.name("fetch_started_at"),
            expr.value(s(now.to_string())),
            expr.name("active_at"),
            expr.value(s(now.to_string())),
            expr.name("site"),
            expr.value(s(job.site.to_string())),
            expr.name("document"),
            expr.value(s(document.to_string())),
            expr.name("attempts"),
            expr.value(n(1)),
        );
        let now_value = expr.value(n(now.unix_seconds()));
        // Only a document a webhook of this tenant queued on this job: never one nobody queued,
        // never on the word of a message alone. An item queued before tenants were recorded on
        // documents has no tenant: it is the default tenant's.
        let tenant_name = expr.name(schema::TENANT_ATTRIBUTE);
        let tenant = expr.value(s(job.tenant.as_str()));
        let ours = if job.tenant.is_default() {
            format!("({tenant_name} = {tenant} OR attribute_not_exists({tenant_name}))")
        } else {
            format!("{tenant_name} = {tenant}")
        };
        let condition =
            format!("{ours} AND ({status} = {queued} OR ({status} = {fetching} AND {lease_until_name} < {now_value}))");
        let result = self
            .update_job_item((job, &schema::document_sk(document)), expr, update, Some(condition))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        let error = match result {
            Ok(_) => return Ok(FetchClaim::Claimed { lease: lease.to_owned() }),
            Err(error) if conditional_failed(&error) => error,
            Err(error) => {
                return Err(BackendError::new("DynamoDB UpdateItem (claim document)", error));
            }
        };
        let returned = match error.as_service_error() {
            Some(UpdateItemError::ConditionalCheckFailedException(e)) => e.item(),
            _ => None,
        };
        let (pk, sk) = (schema::job_pk(job), schema::document_sk(document));
        let item = self.item_behind(returned, pk, sk, "DynamoDB GetItem (claimed document)").await?;
        let field = |name| string_attribute(item.as_ref(), name);
        let status = field("status").unwrap_or_default();
        if item.is_none() {
            return Ok(FetchClaim::Refused {
                reason: format!("no webhook of tenant {} queued document {document} on {job}", job.tenant),
            });
        }
        let tenant = field(schema::TENANT_ATTRIBUTE).unwrap_or_else(|| TenantId::DEFAULT.to_owned());
        if tenant != job.tenant.as_str() {
            return Ok(FetchClaim::Refused {
                reason: format!("document {document} of {job} was queued for tenant {tenant}, not {}", job.tenant),
            });
        }
        Ok(match status.parse() {
            Ok(FetchStatus::Stored) => FetchClaim::Stored,
            Ok(FetchStatus::Failed) => FetchClaim::Failed { reason: field("failure").unwrap_or_default() },
            // Our own claim: an earlier attempt landed but its answer was lost.
            Ok(FetchStatus::Fetching) if field("lease_owner").as_deref() == Some(lease) => {
                FetchClaim::Claimed { lease: lease.to_owned() }
            }
            Ok(FetchStatus::Fetching) => FetchClaim::Busy,
            _ => FetchClaim::NotQueued { status },
        })
    }

    async fn mark_stored(
        &self,
        job: &JobKey,
        document: DocumentId,
        lease: &str,
        stored: &StoredDocument,
        now: Timestamp,
    ) -> Result<bool, BackendError> {
        let size = i64::try_from(stored.size).unwrap_or(i64::MAX);
        let content_type = stored.content_type.clone().map_or(AttributeValue::Null(true), s);
        let version_id = stored.version_id.clone().map_or(AttributeValue::Null(true), s);
        let mut expr = Expression::default();
        let (status, lease_owner) = (expr.name("status"), expr.name("lease_owner"));
        let update = format!(
            "SET {status} = {}, {} = {}, {} = {}, {} = {}, {} = {}, {} = {}, {} = {}, {} = {} REMOVE {lease_owner}, {}, {}, {}, {}, {}",
            expr.value(s(FetchStatus::Stored.as_str())),
            expr.name("s3_key"),
            expr.value(s(&stored.key)),
            expr.name("s3_version_id"),
            expr.value(version_id),
            expr.name("size"),
            expr.value(n(size)),
            expr.name("sha256"),
            expr.value(s(&stored.sha256)),
            expr.name("content_type"),
            expr.value(content_type),
            expr.name("parts"),
            expr.value(n(i64::from(stored.parts))),
            expr.name("stored_at"),
            expr.value(s(now.to_string())),
            expr.name("lease_until"),
            expr.name("last_error"),
            expr.name("pending"),
            expr.name("pending_since"),
            expr.name("active_at"),
        );
        let condition = format!(
            "{status} = {} AND {lease_owner} = {}",
            expr.value(s(FetchStatus::Fetching.as_str())),
            expr.value(s(lease))
        );
        let document_update = Update::builder()
            .table_name(&self.table)
            .key("pk", s(schema::job_pk(job)))
            .key("sk", s(schema::document_sk(document)))
            .update_expression(update)
            .condition_expression(condition)
            .set_expression_attribute_names(Some(expr.names))
            .set_expression_attribute_values(Some(expr.values))
            .build()
            .map_err(|e| BackendError::new("DynamoDB TransactWriteItems (store document)", e))?;
        let mut expr = Expression::default();
        let update = format!(
            "SET {} = {} ADD {} {}",
            expr.name("site"),
            expr.value(s(job.site.to_string())),
            expr.name("documents_stored"),
            expr.value(n(1))
        );
        let job_update = Update::builder()
            .table_name(&self.table)
            .key("pk", s(schema::job_pk(job)))
            .key("sk", s(schema::JOB))
            .update_expression(update)
            .set_expression_attribute_names(Some(expr.names))
            .set_expression_attribute_values(Some(expr.values))
            .build()
            .map_err(|e| BackendError::new("DynamoDB TransactWriteItems (store document)", e))?;
        let result = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().update(document_update).build())
            .transact_items(TransactWriteItem::builder().update(job_update).build())
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(error) => {
                if let Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) = error.as_service_error()
                {
                    let lost_lease =
                        cancelled.cancellation_reasons().iter().any(|r| r.code() == Some("ConditionalCheckFailed"));
                    if lost_lease {
                        return Ok(false);
                    }
                }
                Err(BackendError::new("DynamoDB TransactWriteItems (store document)", error))
            }
        }
    }

    async fn mark_failed(
        &self,
        job: &JobKey,
        document: DocumentId,
        lease: &str,
        reason: &str,
        now: Timestamp,
    ) -> Result<(), BackendError> {
        // Failed for good: out of the sweeper's way, in the operator's list.
        let update = |expr: &mut Expression| {
            let mut clauses = Clauses::default();
            for (name, value) in
                [("status", FetchStatus::Failed.as_str()), ("failure", reason), ("failed_at", &now.to_string())]
            {
                clauses.set.push(format!("{} = {}", expr.name(name), expr.value(s(value))));
            }
            clauses.remove.extend(["lease_owner", "lease_until"].map(|name| expr.name(name)));
            pending::give_up(expr, &mut clauses, &format!("failed for good: {reason}"), now);
            clauses.expression()
        };
        self.update_leased_document("DynamoDB UpdateItem (document failed)", job, document, lease, update)
            .await
            .map(drop)
    }

    async fn release_fetch(
        &self,
        job: &JobKey,
        document: DocumentId,
        lease: &str,
        reason: &str,
    ) -> Result<(), BackendError> {
        let update = |expr: &mut Expression| {
            format!(
                "SET {} = {}, {} = {} REMOVE {}, {}",
                expr.name("status"),
                expr.value(s(FetchStatus::Queued.as_str())),
                expr.name("last_error"),
                expr.value(s(reason)),
                expr.name("lease_owner"),
                expr.name("lease_until"),
            )
        };
        self.update_leased_document("DynamoDB UpdateItem (release document)", job, document, lease, update)
            .await
            .map(drop)
    }

    async fn record_details(&self, job: &JobKey, record: &DetailsRecord, now: Timestamp) -> Result<(), BackendError> {
        let mut expr = Expression::default();
        let mut clauses = Clauses::default();
        let details = &record.details;
        let absent = details.absent.iter().map(|(metric, reason)| (metric.clone(), Value::from(reason.as_str())));
        let fields = [
            ("site", Value::from(job.site.to_string())),
            ("quote_named", Value::from(record.quote.to_string())),
            ("signed_quote", Value::from(record.signed_quote.to_string())),
            ("values", Value::Object(details.values.clone().into_iter().collect())),
            ("absent", Value::Object(absent.collect())),
            ("warnings", Value::from(details.warnings.clone())),
            ("incomplete", Value::from(details.incomplete.clone())),
            ("personal", Value::from(details.personal.clone())),
            ("raw", Value::from(record.raw_keys.clone())),
            ("enriched_at", Value::from(now.to_string())),
            ("status", Value::from("ENRICHED")),
            ("version", Value::from(record.version)),
        ];
        for (name, value) in fields {
            clauses.set_or_remove(&mut expr, name, to_attribute(&value));
        }
        clauses.remove.push(expr.name("last_error"));
        let version = expr.name("version");
        let condition = format!("attribute_not_exists({version}) OR {version} <= {}", expr.value(n(record.version)));
        let item = schema::details_sk(record.quote);
        let update = clauses.expression();
        // The summary's pointer first, the item last: the item is what says "recorded" (a
        // redelivery reads nothing then), so a failure between the two is retried whole. Each
        // write is guarded by the signature's version: an older enrichment changes neither.
        let pointer = serde_json::json!({
            "item": schema::details_sk(record.quote),
            "quote": record.quote.to_string(),
            "signed_quote": record.signed_quote.to_string(),
        });
        let Value::Object(pointer) = pointer else { unreachable!("an object") };
        self.apply(job, &Change::Summary { part: Part::Details, version: record.version, value: pointer }).await?;
        // The request is answered when no newer signature's is waiting: then out of the
        // sweeper's index, in the same write (else, rarely, the write without it).
        let mut ended = expr.clone();
        let mut ending = Clauses { set: clauses.set.clone(), remove: clauses.remove.clone(), add: Vec::new() };
        pending::end_waiting(&mut ended, &mut ending);
        let requested = ended.name("requested_version");
        let answered = format!(
            "({condition}) AND (attribute_not_exists({requested}) OR {requested} <= {})",
            ended.value(n(record.version))
        );
        let operation = "DynamoDB UpdateItem (details)";
        if !self.write_job_item(operation, (job, &item), ended, ending.expression(), Some(answered)).await? {
            self.write_job_item(operation, (job, &item), expr, update, Some(condition)).await?;
        }
        Ok(())
    }

    async fn record_enrichment_error(
        &self,
        job: &JobKey,
        quote: QuoteId,
        reason: &str,
        now: Timestamp,
    ) -> Result<(), BackendError> {
        let mut expr = Expression::default();
        let update = format!(
            "SET {} = {}, {} = {}, {} = {}",
            expr.name("last_error"),
            expr.value(s(reason)),
            expr.name("last_error_at"),
            expr.value(s(now.to_string())),
            expr.name("active_at"),
            expr.value(s(now.to_string()))
        );
        let item = schema::details_sk(quote);
        self.write_job_item("DynamoDB UpdateItem (enrichment error)", (job, &item), expr, update, None).await?;
        Ok(())
    }

    async fn details_version(&self, job: &JobKey, quote: QuoteId) -> Result<Option<i64>, BackendError> {
        let (pk, sk) = (schema::job_pk(job), schema::details_sk(quote));
        let item = self.read(pk, sk, "DynamoDB GetItem (details)").await?;
        let recorded = string_attribute(item.as_ref(), "status").as_deref() == Some("ENRICHED");
        let version = item.as_ref().and_then(|item| item.get("version")?.as_n().ok()?.parse().ok());
        Ok(version.filter(|_| recorded))
    }

    async fn record_lookup_error(
        &self,
        job: &JobKey,
        quote: QuoteId,
        reason: &str,
        now: Timestamp,
    ) -> Result<(), BackendError> {
        let mut expr = Expression::default();
        let value = serde_json::json!({ "quote": quote.to_string(), "reason": reason, "at": now.to_string() });
        let update = format!("SET {} = {}", expr.name("lookup_error"), expr.value(to_attribute(&value)));
        self.write_job_item("DynamoDB UpdateItem (look-up error)", (job, schema::JOB), expr, update, None).await?;
        self.touch_request(job, &schema::lookup_sk(quote), reason, now).await
    }

    async fn clear_lookup_error(&self, job: &JobKey, quote: QuoteId) -> Result<(), BackendError> {
        let mut expr = Expression::default();
        let error = expr.name("lookup_error");
        let condition = format!("{error}.{} = {}", expr.name("quote"), expr.value(s(quote.to_string())));
        let update = format!("REMOVE {error}");
        let operation = "DynamoDB UpdateItem (clear look-up error)";
        self.write_job_item(operation, (job, schema::JOB), expr, update, Some(condition)).await?;
        Ok(())
    }

    async fn record_signed_quote(
        &self,
        job: &JobKey,
        lookup: &SignedQuoteLookup,
        signed: Option<QuoteId>,
        now: Timestamp,
    ) -> Result<(), BackendError> {
        let changes = job::plan_signed_quote(lookup, signed, now);
        try_join_all(changes.iter().map(|change| self.apply(job, change))).await?;
        self.answer_request(job, &schema::lookup_sk(lookup.quote), lookup.version, signed, now).await
    }
}
