//! The receiver's job writes: each planned write one conditional `UpdateItem` of a job's item,
//! and each document recorded or queued on its `DOC#` item.

use aws_sdk_dynamodb::types::AttributeValue;

use super::expression::{Clauses, Expression};
use super::{DynamoJobStore, conditional_failed, n, s, to_attribute};
use crate::ids::SiteId;
use crate::job::{self, FetchStatus, Guard, PlannedDocument, Write};
use crate::ports::{Applied, BackendError, Delivery, JobStore};

impl JobStore for DynamoJobStore {
    async fn apply(&self, site: SiteId, write: &Write) -> Result<Applied, BackendError> {
        let mut expr = Expression::default();
        let mut clauses = Clauses::default();
        for (name, value) in &write.set {
            clauses.set_or_remove(&mut expr, name, to_attribute(value));
        }
        if let Some((name, members)) = write.add_to_set.as_ref().filter(|(_, m)| !m.is_empty()) {
            clauses.add.push(format!("{} {}", expr.name(name), expr.value(AttributeValue::Ss(members.clone()))));
        }
        let update = clauses.expression();
        let condition = write.guard.as_ref().map(|guard| match guard {
            Guard::Version { path, version } => {
                let path = expr.path(path);
                let version = expr.value(n(*version));
                format!("attribute_not_exists({path}) OR {path} <= {version}")
            }
            Guard::From { path, from } => {
                let path = expr.path(path);
                match from {
                    Some(from) => format!("attribute_not_exists({path}) OR {path} = {}", expr.value(s(from))),
                    None => format!("attribute_not_exists({path})"),
                }
            }
        });
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(job::site_pk(site)))
            .key("sk", s(&write.sk))
            .update_expression(update)
            .set_condition_expression(condition)
            .set_expression_attribute_names(Some(expr.names))
            .set_expression_attribute_values(Some(expr.values))
            .send()
            .await;
        match result {
            Ok(_) => Ok(Applied::Landed),
            Err(error) if conditional_failed(&error) => Ok(Applied::Stale),
            Err(error) => Err(BackendError::new("DynamoDB UpdateItem (job)", error)),
        }
    }

    async fn record_document(&self, site: SiteId, document: &PlannedDocument) -> Result<(), BackendError> {
        let mut expr = Expression::default();
        let mut clauses = Self::document_fields(&mut expr, site, document);
        let status = expr.name("status");
        let recorded = expr.value(s(FetchStatus::Recorded.as_str()));
        clauses.set.push(format!("{status} = if_not_exists({status}, {recorded})"));
        self.update_document(site, document.id)
            .update_expression(clauses.expression())
            .set_expression_attribute_names(Some(expr.names))
            .set_expression_attribute_values(Some(expr.values))
            .send()
            .await
            .map_err(|e| BackendError::new("DynamoDB UpdateItem (record document)", e))?;
        Ok(())
    }

    async fn queue_document(
        &self,
        site: SiteId,
        document: &PlannedDocument,
        delivery: &Delivery,
    ) -> Result<bool, BackendError> {
        let mut expr = Expression::default();
        let mut clauses = Self::document_fields(&mut expr, site, document);
        let status = expr.name("status");
        let queued_by = expr.name("queued_by");
        let queued = expr.value(s(FetchStatus::Queued.as_str()));
        let recorded = expr.value(s(FetchStatus::Recorded.as_str()));
        let me = expr.value(s(&delivery.body_sha256));
        clauses.set.push(format!("{status} = {queued}"));
        clauses.set.push(format!("{queued_by} = {me}"));
        clauses.set.push(format!("{} = {}", expr.name("queued_at"), expr.value(s(delivery.now.to_string()))));
        clauses.set.push(format!("{} = {}", expr.name("event_id"), expr.value(s(&delivery.event_id))));
        let condition = format!(
            "attribute_not_exists({status}) OR {status} = {recorded} OR ({status} = {queued} AND {queued_by} = {me})"
        );
        let result = self
            .update_document(site, document.id)
            .update_expression(clauses.expression())
            .condition_expression(condition)
            .set_expression_attribute_names(Some(expr.names))
            .set_expression_attribute_values(Some(expr.values))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(error) if conditional_failed(&error) => Ok(false),
            Err(error) => Err(BackendError::new("DynamoDB UpdateItem (queue document)", error)),
        }
    }
}

impl DynamoJobStore {
    pub(super) fn document_fields(expr: &mut Expression, site: SiteId, document: &PlannedDocument) -> Clauses {
        let fields = [
            ("document", s(document.id.to_string())),
            ("site", s(site.to_string())),
            ("task", s(document.task.to_string())),
            ("quote", document.quote.map_or(AttributeValue::Null(true), |q| s(q.to_string()))),
            ("name", document.name.clone().map_or(AttributeValue::Null(true), s)),
            ("creation_type", document.creation_type.clone().map_or(AttributeValue::Null(true), s)),
            ("document_group", document.document_group.clone().map_or(AttributeValue::Null(true), s)),
        ];
        let mut clauses = Clauses::default();
        for (name, value) in fields {
            clauses.set_or_remove(expr, name, value);
        }
        // EverBright's `stale` only ever becomes true: once seen, an older event cannot undo it.
        if let Some(stale) = document.stale {
            let (name, value) = (expr.name("stale"), expr.value(AttributeValue::Bool(stale)));
            let set = if stale { value } else { format!("if_not_exists({name}, {value})") };
            clauses.set.push(format!("{name} = {set}"));
        }
        clauses
    }
}
