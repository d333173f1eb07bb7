//! The work jobs wait for, in the sparse `pending` index: the clauses every write that starts,
//! touches or ends a piece of work adds to its own update (no call of its own), the sweeper's read
//! and its conditional sweep, and the operator's list of what needs them.

use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::{Map, Value};

use super::expression::{Clauses, Expression};
use super::schema;
use super::{DynamoJobStore, items_to_json, n, s};
use domain::ids::QuoteId;
use domain::job::JobKey;
use domain::ports::{BackendError, PendingLedger, PendingRead};
use domain::sweep::{Decision, PendingItem, PendingWork};
use domain::timestamp::Timestamp;

/// The clauses that start a piece of work (or start it again): waiting since `now`, active now,
/// never swept.
pub(super) fn start_waiting(expr: &mut Expression, clauses: &mut Clauses, now: Timestamp) {
    let now = s(now.to_string());
    clauses.set.push(format!("{} = {}", expr.name("pending"), expr.value(s(schema::WAITING))));
    clauses.set.push(format!("{} = {}", expr.name("pending_since"), expr.value(now.clone())));
    clauses.set.push(format!("{} = {}", expr.name("active_at"), expr.value(now)));
    clauses.remove.extend(["sweeps", "gave_up", "gave_up_at"].map(|name| expr.name(name)));
}

/// The clause that says a message or a fetcher has the work now (the sweeper leaves it a while).
pub(super) fn touch(expr: &mut Expression, clauses: &mut Clauses, now: Timestamp) {
    clauses.set.push(format!("{} = {}", expr.name("active_at"), expr.value(s(now.to_string()))));
}

/// The clauses that end a piece of work: out of the index (what was swept stays on the item).
pub(super) fn end_waiting(expr: &mut Expression, clauses: &mut Clauses) {
    clauses.remove.extend(["pending", "pending_since", "active_at"].map(|name| expr.name(name)));
}

/// The clauses that leave a piece of work for an operator, with the reason.
pub(super) fn give_up(expr: &mut Expression, clauses: &mut Clauses, reason: &str, now: Timestamp) {
    let since = expr.name("pending_since");
    clauses.set.push(format!("{} = {}", expr.name("pending"), expr.value(s(schema::GAVE_UP))));
    clauses.set.push(format!("{since} = if_not_exists({since}, {})", expr.value(s(now.to_string()))));
    clauses.set.push(format!("{} = {}", expr.name("gave_up"), expr.value(s(reason))));
    clauses.set.push(format!("{} = {}", expr.name("gave_up_at"), expr.value(s(now.to_string()))));
}

impl PendingLedger for DynamoJobStore {
    async fn pending(&self, cutoff: Timestamp, limit: usize) -> Result<PendingRead, BackendError> {
        const OPERATION: &str = "DynamoDB Query (pending)";
        let mut read = PendingRead::default();
        let mut start = None;
        loop {
            let mut expr = Expression::default();
            let key = format!(
                "{} = {} AND {} <= {}",
                expr.name("pending"),
                expr.value(s(schema::WAITING)),
                expr.name("pending_since"),
                expr.value(s(cutoff.to_string()))
            );
            let page_size = i32::try_from(limit.saturating_sub(read.items.len()).clamp(1, 1000)).unwrap_or(1000);
            let output = self
                .query_pending(expr, key)
                .set_exclusive_start_key(start.take())
                .limit(page_size)
                .send()
                .await
                .map_err(|e| BackendError::new(OPERATION, e))?;
            read.items_read += usize::try_from(output.scanned_count()).unwrap_or_default();
            for item in items_to_json(output.items(), OPERATION)? {
                match pending_item(&item) {
                    Ok(pending) => read.items.push(pending),
                    Err(reason) => read.unreadable.push(reason),
                }
            }
            start = output.last_evaluated_key;
            if start.is_none() || read.items.len() >= limit {
                return Ok(read);
            }
        }
    }

    async fn sweep(&self, item: &PendingItem, decision: &Decision, now: Timestamp) -> Result<bool, BackendError> {
        let mut expr = Expression::default();
        let mut clauses = Clauses::default();
        match decision {
            Decision::InFlight => return Ok(false),
            Decision::Requeue { sweep } => {
                touch(&mut expr, &mut clauses, now);
                clauses.set.push(format!("{} = {}", expr.name("sweeps"), expr.value(n(i64::from(*sweep)))));
                clauses.set.push(format!("{} = {}", expr.name("last_swept_at"), expr.value(s(now.to_string()))));
            }
            Decision::GiveUp { reason } => give_up(&mut expr, &mut clauses, reason, now),
        }
        // As it was read: still waiting, nothing active since, swept as often as it was.
        let sweeps = expr.name("sweeps");
        let swept = if item.sweeps == 0 {
            format!("attribute_not_exists({sweeps})")
        } else {
            format!("{sweeps} = {}", expr.value(n(i64::from(item.sweeps))))
        };
        let condition = format!(
            "{} = {} AND {} = {} AND {swept}",
            expr.name("pending"),
            expr.value(s(schema::WAITING)),
            expr.name("active_at"),
            expr.value(s(item.active_at.to_string())),
        );
        let sk = item_sk(item);
        let update = clauses.expression();
        self.write_job_item("DynamoDB UpdateItem (sweep)", (&item.job, &sk), expr, update, Some(condition)).await
    }
}

impl DynamoJobStore {
    /// A query of the `pending` index by `key`, every name and value through `expr`.
    fn query_pending(&self, expr: Expression, key: String) -> QueryFluentBuilder {
        self.client
            .query()
            .table_name(&self.table)
            .index_name(schema::PENDING_INDEX)
            .key_condition_expression(key)
            .set_expression_attribute_names(Some(expr.names))
            .set_expression_attribute_values(Some(expr.values))
    }
}

/// The sort key of the item that holds `item`'s work.
fn item_sk(item: &PendingItem) -> String {
    match &item.work {
        PendingWork::Document { document, .. } => schema::document_sk(*document),
        PendingWork::Details { quote, .. } => schema::details_sk(*quote),
        PendingWork::SignedQuote { quote, .. } => schema::lookup_sk(*quote),
        PendingWork::Site { .. } => schema::SITE_READ.to_owned(),
    }
}

/// An item of the index as the work it waits for; why not, for one this version cannot send again.
pub(super) fn pending_item(item: &Map<String, Value>) -> Result<PendingItem, String> {
    let text = |name: &str| item.get(name).and_then(Value::as_str);
    let number = |name: &str| item.get(name).and_then(Value::as_i64);
    let (pk, sk) = (text("pk").unwrap_or_default(), text("sk").unwrap_or_default());
    let unreadable = |what: &str| format!("{pk} {sk}: {what}");
    let job = schema::job_of_pk(pk).ok_or_else(|| unreadable("no job's item"))?;
    let time = |name: &str| text(name).and_then(|t| t.parse::<Timestamp>().ok());
    let pending_since = time("pending_since").ok_or_else(|| unreadable("no pending_since"))?;
    let event_id = text("event_id").unwrap_or_default().to_owned();
    let work = if let Some(document) = sk.strip_prefix("DOC#") {
        PendingWork::Document {
            document: document.parse().map_err(|_| unreadable("not a document id"))?,
            task: parsed(item, "task").ok_or_else(|| unreadable("no task"))?,
            quote: parsed(item, "quote"),
            name: text("name").map(str::to_owned),
            event_id,
            leased_until: number("lease_until").filter(|_| text("status") == Some("FETCHING")),
        }
    } else if let Some(quote) = sk.strip_prefix("DETAILS#") {
        PendingWork::Details {
            quote: quote.parse().map_err(|_| unreadable("not a quote id"))?,
            version: number("requested_version").ok_or_else(|| unreadable("no requested_version"))?,
            event_id,
        }
    } else if sk == schema::SITE_READ {
        PendingWork::Site { version: number("version").ok_or_else(|| unreadable("no version"))?, event_id }
    } else if let Some(quote) = sk.strip_prefix(schema::LOOKUP) {
        PendingWork::SignedQuote {
            quote: quote.parse().map_err(|_| unreadable("not a quote id"))?,
            milestone: parsed(item, "milestone"),
            version: number("version").ok_or_else(|| unreadable("no version"))?,
        }
    } else {
        return Err(unreadable("an item of a kind the sweeper does not know"));
    };
    let sweeps = number("sweeps").and_then(|n| u32::try_from(n).ok()).unwrap_or_default();
    Ok(PendingItem { job, work, pending_since, active_at: time("active_at").unwrap_or(pending_since), sweeps })
}

/// A text attribute parsed (an id), if it is there and parses.
fn parsed<T: std::str::FromStr>(item: &Map<String, Value>, name: &str) -> Option<T> {
    item.get(name)?.as_str()?.parse().ok()
}

impl DynamoJobStore {
    /// What needs an operator, newest first, at most `limit` of each: the work the sweeper gave up
    /// on (and documents failed for good), and the sites reconciliation found.
    pub async fn attention(&self, limit: usize) -> Result<Vec<Map<String, Value>>, BackendError> {
        const OPERATION: &str = "DynamoDB Query (attention)";
        let mut found = Vec::new();
        for partition in [schema::GAVE_UP, schema::MISSED] {
            let mut expr = Expression::default();
            let key = format!("{} = {}", expr.name("pending"), expr.value(AttributeValue::S(partition.into())));
            let mut pages = self.query_pending(expr, key).scan_index_forward(false).into_paginator().items().send();
            let mut items = Vec::new();
            while items.len() < limit
                && let Some(item) = pages.next().await
            {
                items.push(item.map_err(|e| BackendError::new(OPERATION, e))?);
            }
            found.extend(items_to_json(&items, OPERATION)?);
        }
        Ok(found)
    }
}

impl DynamoJobStore {
    /// A look-up or site read answered at `version`: out of the sweeper's index, unless a newer
    /// one is waiting (then it stays, for that one).
    pub(super) async fn answer_request(
        &self,
        job: &JobKey,
        sk: &str,
        version: i64,
        signed: Option<QuoteId>,
        now: Timestamp,
    ) -> Result<(), BackendError> {
        let mut expr = Expression::default();
        let mut clauses = Clauses::default();
        let signed = signed.map_or(AttributeValue::Null(true), |quote| s(quote.to_string()));
        clauses.set.push(format!("{} = {}", expr.name("signed_quote"), expr.value(signed)));
        clauses.set.push(format!("{} = {}", expr.name("answered_at"), expr.value(s(now.to_string()))));
        clauses.remove.push(expr.name("last_error"));
        end_waiting(&mut expr, &mut clauses);
        let version_name = expr.name("version");
        let condition = format!("{version_name} <= {}", expr.value(n(version)));
        let operation = "DynamoDB UpdateItem (request answered)";
        self.write_job_item(operation, (job, sk), expr, clauses.expression(), Some(condition)).await.map(drop)
    }

    /// A look-up or site read that failed: why, and active now (the queue retries it); never
    /// creates the request's item.
    pub(super) async fn touch_request(
        &self,
        job: &JobKey,
        sk: &str,
        reason: &str,
        now: Timestamp,
    ) -> Result<(), BackendError> {
        let mut expr = Expression::default();
        let mut clauses = Clauses::default();
        touch(&mut expr, &mut clauses, now);
        clauses.set.push(format!("{} = {}", expr.name("last_error"), expr.value(s(reason))));
        let condition = format!("attribute_exists({})", expr.name("pk"));
        let operation = "DynamoDB UpdateItem (request failed)";
        self.write_job_item(operation, (job, sk), expr, clauses.expression(), Some(condition)).await.map(drop)
    }
}
