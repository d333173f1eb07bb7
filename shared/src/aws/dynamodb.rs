use std::collections::HashMap;
use std::future::Future;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update};
use futures_util::future::try_join_all;
use serde_json::{Map, Number, Value};

use crate::event::EventType;
use crate::ids::{DocumentId, QuoteId, SiteId};
use crate::job::{self, DeliveryState, FetchStatus, Guard, PlannedDocument, SignedQuoteLookup, Write};
use crate::ports::{Applied, BackendError, Claim, Delivery, DocumentLedger, FetchClaim, JobStore, StoredDocument};
use crate::timestamp::Timestamp;

/// How long a claimed delivery is reserved for the request applying it: well over the
/// receiver's timeout, so that only a request that died leaves its claim to expire.
const CLAIM_LEASE_SECONDS: i64 = 60;

const APPLYING: &str = DeliveryState::Applying.as_str();
const DONE: &str = DeliveryState::Done.as_str();

/// The jobs table: one item per part of a job (see [`crate::job`]) and one per delivery.
#[derive(Clone, Debug)]
pub struct DynamoJobStore {
    client: Client,
    table: String,
}

impl DynamoJobStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into() }
    }
}

/// Builds the placeholders of an expression: every attribute name goes through `#n<i>` (so
/// reserved words such as `name` and `status` are safe) and every value through `:v<i>`.
#[derive(Default)]
struct Expression {
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
}

impl Expression {
    fn name(&mut self, name: &str) -> String {
        if let Some((placeholder, _)) = self.names.iter().find(|(_, n)| n.as_str() == name) {
            return placeholder.clone();
        }
        let placeholder = format!("#n{}", self.names.len());
        self.names.insert(placeholder.clone(), name.to_owned());
        placeholder
    }

    fn path(&mut self, path: &[String]) -> String {
        path.iter().map(|segment| self.name(segment)).collect::<Vec<_>>().join(".")
    }

    fn value(&mut self, value: AttributeValue) -> String {
        let placeholder = format!(":v{}", self.values.len());
        self.values.insert(placeholder.clone(), value);
        placeholder
    }
}

/// The clauses of an update expression.
#[derive(Default)]
struct Clauses {
    set: Vec<String>,
    remove: Vec<String>,
    add: Vec<String>,
}

impl Clauses {
    /// `SET name = value`, except that an index key attribute given NULL is removed instead:
    /// DynamoDB refuses an index key of any type but its own (moto does not).
    fn set_or_remove(&mut self, expr: &mut Expression, name: &str, value: AttributeValue) {
        if value.is_null() && INDEX_KEY_ATTRIBUTES.contains(&name) {
            self.remove.push(expr.name(name));
        } else {
            self.set.push(format!("{} = {}", expr.name(name), expr.value(value)));
        }
    }

    fn expression(&self) -> String {
        let mut parts = Vec::new();
        for (keyword, clauses) in [("SET", &self.set), ("REMOVE", &self.remove), ("ADD", &self.add)] {
            if !clauses.is_empty() {
                parts.push(format!("{keyword} {}", clauses.join(", ")));
            }
        }
        parts.join(" ")
    }
}

/// The attributes that are keys of an index: never written as NULL (or empty).
const INDEX_KEY_ATTRIBUTES: [&str; 1] = [job::QUOTE_INDEX_KEYS[0]];

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn n(value: i64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

/// A JSON value as a DynamoDB attribute: objects become maps, arrays lists.
pub fn to_attribute(value: &Value) -> AttributeValue {
    match value {
        Value::Null => AttributeValue::Null(true),
        Value::Bool(b) => AttributeValue::Bool(*b),
        Value::Number(number) => AttributeValue::N(number.to_string()),
        Value::String(text) => s(text.as_str()),
        Value::Array(items) => AttributeValue::L(items.iter().map(to_attribute).collect()),
        Value::Object(map) => AttributeValue::M(map.iter().map(|(k, v)| (k.clone(), to_attribute(v))).collect()),
    }
}

/// A DynamoDB attribute as JSON: string sets become arrays, numbers JSON numbers.
pub fn to_json(attribute: &AttributeValue) -> Value {
    let number = |text: &str| {
        text.parse::<i64>()
            .map(Value::from)
            .or_else(|_| text.parse::<f64>().map(|f| Number::from_f64(f).map_or(Value::Null, Value::Number)))
            .unwrap_or(Value::Null)
    };
    match attribute {
        AttributeValue::S(text) => Value::String(text.clone()),
        AttributeValue::N(text) => number(text),
        AttributeValue::Bool(b) => Value::Bool(*b),
        AttributeValue::Ss(set) => Value::Array(set.iter().cloned().map(Value::String).collect()),
        AttributeValue::Ns(set) => Value::Array(set.iter().map(|t| number(t)).collect()),
        AttributeValue::L(items) => Value::Array(items.iter().map(to_json).collect()),
        AttributeValue::M(map) => Value::Object(item_to_json(map)),
        _ => Value::Null,
    }
}

/// A table's key, where a page of a scan or query ended.
type LastKey = HashMap<String, AttributeValue>;

/// Every page of a scan or query, as JSON objects: `page` asks for the page starting at a key and
/// answers its items and where it ended.
async fn every_page<F, Fut>(mut page: F) -> Result<Vec<Map<String, Value>>, BackendError>
where
    F: FnMut(Option<LastKey>) -> Fut,
    Fut: Future<Output = Result<(Vec<Map<String, Value>>, Option<LastKey>), BackendError>>,
{
    let mut items = Vec::new();
    let mut start = None;
    loop {
        let (found, next) = page(start).await?;
        items.extend(found);
        match next {
            Some(key) => start = Some(key),
            None => return Ok(items),
        }
    }
}

/// Every item of `table`, as JSON objects, page after page.
pub async fn scan_all(client: &Client, table: &str) -> Result<Vec<Map<String, Value>>, BackendError> {
    every_page(|start| {
        let request = client.scan().table_name(table).set_exclusive_start_key(start);
        async move {
            let page = request.send().await.map_err(|e| BackendError::new("DynamoDB Scan", e))?;
            Ok((page.items().iter().map(item_to_json).collect(), page.last_evaluated_key().cloned()))
        }
    })
    .await
}

/// A whole item as a JSON object.
pub fn item_to_json(item: &HashMap<String, AttributeValue>) -> Map<String, Value> {
    let mut object: Map<String, Value> = item.iter().map(|(k, v)| (k.clone(), to_json(v))).collect();
    object.sort_keys();
    object
}

/// A string attribute of the item a failed condition returned (`ALL_OLD`).
fn string_attribute(item: Option<&HashMap<String, AttributeValue>>, name: &str) -> Option<String> {
    item?.get(name)?.as_s().ok().cloned()
}

fn conditional_failed<E, R>(error: &SdkError<E, R>) -> bool
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata,
{
    error.as_service_error().and_then(|e| e.code()) == Some("ConditionalCheckFailedException")
}

/// An item as the SDK gives it.
type Item = HashMap<String, AttributeValue>;

impl DynamoJobStore {
    /// The item a failed condition found: the one DynamoDB returned with the error
    /// (`ReturnValuesOnConditionCheckFailure::AllOld`), else read again, consistently (a server
    /// that does not return it, such as dynalite). `None` when it is gone by then.
    async fn item_behind(
        &self,
        returned: Option<&Item>,
        pk: String,
        sk: String,
        operation: &'static str,
    ) -> Result<Option<Item>, BackendError> {
        match returned {
            Some(item) => Ok(Some(item.clone())),
            None => self.read(pk, sk, operation).await,
        }
    }

    /// One item, read consistently.
    async fn read(&self, pk: String, sk: String, operation: &'static str) -> Result<Option<Item>, BackendError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .key("sk", s(sk))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| BackendError::new(operation, e))?;
        Ok(output.item)
    }

    /// An `UpdateItem` of the `DOC#` item of `document`.
    fn update_document(&self, site: SiteId, document: DocumentId) -> UpdateItemFluentBuilder {
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(job::site_pk(site)))
            .key("sk", s(job::document_sk(document)))
    }

    fn document_fields(expr: &mut Expression, site: SiteId, document: &PlannedDocument) -> Clauses {
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

impl JobStore for DynamoJobStore {
    async fn claim_delivery(&self, delivery: &Delivery) -> Result<Claim, BackendError> {
        let (pk, sk) = job::delivery_key(delivery.event, &delivery.body_sha256);
        let now = delivery.now.unix_seconds();
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(pk))
            .item("sk", s(sk))
            .item("state", s(APPLYING))
            .item("event_id", s(&delivery.event_id))
            .item("event", s(delivery.event.slug()))
            .item("claimed_at", s(delivery.now.to_string()))
            .item("lease_until", n(now + CLAIM_LEASE_SECONDS))
            .item(job::TTL_ATTRIBUTE, n(delivery.remember_until.unix_seconds()))
            // A record past its expiry counts as gone: DynamoDB's TTL deletes it only later.
            .condition_expression(
                "attribute_not_exists(pk) OR (#state = :applying AND lease_until < :now) OR #expires < :now",
            )
            .expression_attribute_names("#expires", job::TTL_ATTRIBUTE)
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":applying", s(APPLYING))
            .expression_attribute_values(":now", n(now))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(_) => Ok(Claim::New),
            Err(error) if conditional_failed(&error) => {
                let returned = match error.as_service_error() {
                    Some(PutItemError::ConditionalCheckFailedException(e)) => e.item(),
                    _ => None,
                };
                let (pk, sk) = job::delivery_key(delivery.event, &delivery.body_sha256);
                let item = self.item_behind(returned, pk, sk.to_owned(), "DynamoDB GetItem (claimed delivery)").await?;
                let field = |name| string_attribute(item.as_ref(), name);
                Ok(match field("state").as_deref() {
                    Some(DONE) => Claim::Duplicate { first_event_id: field("event_id").unwrap_or_default() },
                    // Our own claim: an earlier attempt of this request landed but its answer
                    // was lost, and the SDK sent it again.
                    Some(APPLYING) if field("event_id").as_deref() == Some(delivery.event_id.as_str()) => Claim::New,
                    _ => Claim::InProgress,
                })
            }
            Err(error) => Err(BackendError::new("DynamoDB PutItem (claim delivery)", error)),
        }
    }

    async fn finish_delivery(&self, delivery: &Delivery) -> Result<(), BackendError> {
        let (pk, sk) = job::delivery_key(delivery.event, &delivery.body_sha256);
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .key("sk", s(sk))
            .update_expression("SET #state = :done, done_at = :at REMOVE lease_until")
            // Only our own claim: an attempt that lands late, after the claim was released,
            // must not leave a record (without its expiry) behind.
            .condition_expression("event_id = :me")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":done", s(DONE))
            .expression_attribute_values(":at", s(delivery.now.to_string()))
            .expression_attribute_values(":me", s(&delivery.event_id))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            // Our lease ran out and another delivery of the same body holds it: it applies the
            // same plan, and finishes it.
            Err(error) if conditional_failed(&error) => Ok(()),
            Err(error) => Err(BackendError::new("DynamoDB UpdateItem (finish delivery)", error)),
        }
    }

    async fn release_delivery(&self, delivery: &Delivery) -> Result<(), BackendError> {
        let (pk, sk) = job::delivery_key(delivery.event, &delivery.body_sha256);
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .key("sk", s(sk))
            .condition_expression("#state = :applying AND event_id = :me")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":applying", s(APPLYING))
            .expression_attribute_values(":me", s(&delivery.event_id))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(error) if conditional_failed(&error) => Ok(()),
            Err(error) => Err(BackendError::new("DynamoDB DeleteItem (release delivery)", error)),
        }
    }

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
    /// An update of one `DOC#` item held under `lease`.
    async fn update_leased_document(
        &self,
        operation: &'static str,
        site: SiteId,
        document: DocumentId,
        lease: &str,
        update: &str,
        values: Vec<(&str, AttributeValue)>,
    ) -> Result<bool, BackendError> {
        let mut request = self
            .update_document(site, document)
            .update_expression(update)
            .condition_expression("lease_owner = :lease")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":lease", s(lease));
        for (name, value) in values {
            request = request.expression_attribute_values(name, value);
        }
        match request.send().await {
            Ok(_) => Ok(true),
            Err(error) if conditional_failed(&error) => Ok(false),
            Err(error) => Err(BackendError::new(operation, error)),
        }
    }
}

impl DocumentLedger for DynamoJobStore {
    async fn claim_fetch(
        &self,
        site: SiteId,
        document: DocumentId,
        lease: &str,
        now: Timestamp,
        lease_until: Timestamp,
    ) -> Result<FetchClaim, BackendError> {
        let result = self
            .update_document(site, document)
            .update_expression(
                "SET #status = :fetching, lease_owner = :lease, lease_until = :until, fetch_started_at = :at, \
                 site = :site, document = :document ADD attempts :one",
            )
            .condition_expression(
                "attribute_not_exists(#status) OR #status = :queued OR (#status = :fetching AND lease_until < :now)",
            )
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":fetching", s(FetchStatus::Fetching.as_str()))
            .expression_attribute_values(":queued", s(FetchStatus::Queued.as_str()))
            .expression_attribute_values(":lease", s(lease))
            .expression_attribute_values(":until", n(lease_until.unix_seconds()))
            .expression_attribute_values(":now", n(now.unix_seconds()))
            .expression_attribute_values(":at", s(now.to_string()))
            .expression_attribute_values(":site", s(site.to_string()))
            .expression_attribute_values(":document", s(document.to_string()))
            .expression_attribute_values(":one", n(1))
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
        let (pk, sk) = (job::site_pk(site), job::document_sk(document));
        let item = self.item_behind(returned, pk, sk, "DynamoDB GetItem (claimed document)").await?;
        let field = |name| string_attribute(item.as_ref(), name);
        let status = field("status").unwrap_or_default();
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
        site: SiteId,
        document: DocumentId,
        lease: &str,
        stored: &StoredDocument,
        now: Timestamp,
    ) -> Result<bool, BackendError> {
        let size = i64::try_from(stored.size).unwrap_or(i64::MAX);
        let content_type = stored.content_type.clone().map_or(AttributeValue::Null(true), s);
        let document_update = Update::builder()
            .table_name(&self.table)
            .key("pk", s(job::site_pk(site)))
            .key("sk", s(job::document_sk(document)))
            .update_expression(
                "SET #status = :stored, s3_key = :key, #size = :size, sha256 = :sha, content_type = :type, \
                 parts = :parts, stored_at = :at REMOVE lease_owner, lease_until, last_error",
            )
            .condition_expression("#status = :fetching AND lease_owner = :lease")
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#size", "size")
            .expression_attribute_values(":stored", s(FetchStatus::Stored.as_str()))
            .expression_attribute_values(":fetching", s(FetchStatus::Fetching.as_str()))
            .expression_attribute_values(":lease", s(lease))
            .expression_attribute_values(":key", s(&stored.key))
            .expression_attribute_values(":size", n(size))
            .expression_attribute_values(":sha", s(&stored.sha256))
            .expression_attribute_values(":type", content_type)
            .expression_attribute_values(":parts", n(i64::from(stored.parts)))
            .expression_attribute_values(":at", s(now.to_string()))
            .build()
            .map_err(|e| BackendError::new("DynamoDB TransactWriteItems (store document)", e))?;
        let job_update = Update::builder()
            .table_name(&self.table)
            .key("pk", s(job::site_pk(site)))
            .key("sk", s(job::JOB))
            .update_expression("SET site = :site ADD documents_stored :one")
            .expression_attribute_values(":site", s(site.to_string()))
            .expression_attribute_values(":one", n(1))
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
        site: SiteId,
        document: DocumentId,
        lease: &str,
        reason: &str,
        now: Timestamp,
    ) -> Result<(), BackendError> {
        let update = "SET #status = :failed, failure = :reason, failed_at = :at REMOVE lease_owner, lease_until";
        let values =
            vec![(":failed", s(FetchStatus::Failed.as_str())), (":reason", s(reason)), (":at", s(now.to_string()))];
        self.update_leased_document("DynamoDB UpdateItem (document failed)", site, document, lease, update, values)
            .await
            .map(drop)
    }

    async fn release_fetch(
        &self,
        site: SiteId,
        document: DocumentId,
        lease: &str,
        reason: &str,
    ) -> Result<(), BackendError> {
        let update = "SET #status = :queued, last_error = :reason REMOVE lease_owner, lease_until";
        let values = vec![(":queued", s(FetchStatus::Queued.as_str())), (":reason", s(reason))];
        self.update_leased_document("DynamoDB UpdateItem (release document)", site, document, lease, update, values)
            .await
            .map(drop)
    }

    async fn record_signed_quote(
        &self,
        site: SiteId,
        lookup: &SignedQuoteLookup,
        signed: Option<QuoteId>,
        now: Timestamp,
    ) -> Result<(), BackendError> {
        let writes = job::plan_signed_quote(lookup, signed, site, now);
        try_join_all(writes.iter().map(|write| self.apply(site, write))).await?;
        Ok(())
    }
}

/// What re-queuing a document found.
#[derive(Clone, Debug, PartialEq)]
pub enum Requeued {
    /// Now `QUEUED`; the item as it stands, for the fetch message.
    Queued(Map<String, Value>),
    /// Not re-queued: the job has no such document, or its status does not allow it.
    Refused { status: Option<String> },
}

/// Reads and repairs for the operator's command (not used by the functions).
impl DynamoJobStore {
    /// Every item of a job (`SITE#<site>`), sorted by sort key.
    pub async fn job_items(&self, site: SiteId) -> Result<Vec<Map<String, Value>>, BackendError> {
        every_page(|start| {
            let request = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk")
                .expression_attribute_values(":pk", s(job::site_pk(site)))
                .set_exclusive_start_key(start);
            async move {
                let page = request.send().await.map_err(|e| BackendError::new("DynamoDB Query (job)", e))?;
                Ok((page.items().iter().map(item_to_json).collect(), page.last_evaluated_key().cloned()))
            }
        })
        .await
    }

    /// The site whose job holds `quote`, through the quote index.
    pub async fn site_of_quote(&self, quote: QuoteId) -> Result<Option<SiteId>, BackendError> {
        let page = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(job::QUOTE_INDEX)
            .key_condition_expression("quote = :quote")
            .expression_attribute_values(":quote", s(quote.to_string()))
            .limit(1)
            .send()
            .await
            .map_err(|e| BackendError::new("DynamoDB Query (by-quote)", e))?;
        let pk = page.items().first().and_then(|item| string_attribute(Some(item), "pk"));
        Ok(pk.and_then(|pk| pk.strip_prefix("SITE#").and_then(|site| site.parse().ok())))
    }

    /// A delivery's state (`APPLYING` or `DONE`) by its event and body's SHA-256, if it was ever
    /// claimed.
    pub async fn delivery_state(
        &self,
        event: EventType,
        body_sha256: &str,
    ) -> Result<Option<DeliveryState>, BackendError> {
        let (pk, sk) = job::delivery_key(event, body_sha256);
        let item = self.read(pk, sk.to_owned(), "DynamoDB GetItem (delivery)").await?;
        Ok(string_attribute(item.as_ref(), "state").and_then(|state| state.parse().ok()))
    }

    /// Marks a document `QUEUED` again, if it is `FAILED`, `QUEUED` or `RECORDED` (never a
    /// `STORED` one, nor one being fetched): the caller then sends its fetch message.
    pub async fn requeue_document(
        &self,
        site: SiteId,
        document: DocumentId,
        now: Timestamp,
    ) -> Result<Requeued, BackendError> {
        let result = self
            .update_document(site, document)
            .update_expression("SET #status = :queued, requeued_at = :at REMOVE failure, failed_at")
            .condition_expression("#status IN (:failed, :queued, :recorded)")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":queued", s(FetchStatus::Queued.as_str()))
            .expression_attribute_values(":failed", s(FetchStatus::Failed.as_str()))
            .expression_attribute_values(":recorded", s(FetchStatus::Recorded.as_str()))
            .expression_attribute_values(":at", s(now.to_string()))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(output) => Ok(Requeued::Queued(output.attributes().map(item_to_json).unwrap_or_default())),
            Err(error) if conditional_failed(&error) => {
                let returned = match error.as_service_error() {
                    Some(UpdateItemError::ConditionalCheckFailedException(e)) => e.item(),
                    _ => None,
                };
                let (pk, sk) = (job::site_pk(site), job::document_sk(document));
                let item = self.item_behind(returned, pk, sk, "DynamoDB GetItem (requeued document)").await?;
                Ok(Requeued::Refused { status: string_attribute(item.as_ref(), "status") })
            }
            Err(error) => Err(BackendError::new("DynamoDB UpdateItem (requeue document)", error)),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn json_and_attributes_round_trip() {
        let value = json!({"a": "x", "n": 42, "b": true, "z": null, "l": [1, "two"], "m": {"k": "v"}});
        assert_eq!(to_json(&to_attribute(&value)), value);
    }

    #[test]
    fn expression_names_are_placeholders_reused_per_name() {
        let mut expr = Expression::default();
        let a = expr.name("status");
        let b = expr.name("status");
        assert_eq!(a, b);
        assert_eq!(expr.path(&["contract".into(), "version".into()]), "#n1.#n2");
    }
}
