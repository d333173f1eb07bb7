//! The receiver's job writes, part by part: each [`Change`] becomes conditional updates of the
//! job's items (the summary `JOB`, `TASK#`, `MILESTONE#`, `QUOTE#`), each document is recorded or
//! queued on its `DOC#` item, and the fetcher's work is asked for on `DETAILS#` and `LOOKUP#`.
//! The schema is here: what the planner says in the job's words, this file says in items and
//! conditions ([`PartUpdate`]). One part is one `UpdateItem` here; [`super::plan`] writes a
//! whole plan's parts in one transaction, several parts of one item in one update.

use aws_sdk_dynamodb::types::AttributeValue;
use futures_util::future::try_join_all;
use serde_json::{Map, Value};

use super::expression::{Clauses, Expression};
use super::schema;
use super::{DynamoJobStore, n, pending, s, to_attribute};
use domain::job::{Change, Enrichment, FetchStatus, JobKey, Plan, PlannedDocument, SignedQuoteLookup};
use domain::ports::{Applied, BackendError, Delivery, JobStore, PlanApplied};

/// One conditional update of one item of the job.
pub(super) struct ItemUpdate {
    sk: String,
    /// Attributes to set, each to a JSON value (objects become maps).
    set: Vec<(String, Value)>,
    /// Strings to add to a string-set attribute.
    add_to_set: Option<(String, Vec<String>)>,
    /// When the update lands; always, without one.
    guard: Option<Guard>,
}

/// The condition of an update.
enum Guard {
    /// Lands only if the stored version at `path` is missing or not newer.
    Version { path: Vec<String>, version: i64 },
    /// Lands only if the text at `path` is missing, or equals `from` when that is given.
    From { path: Vec<String>, from: Option<String> },
}

impl ItemUpdate {
    fn new(sk: impl Into<String>, set: Vec<(String, Value)>) -> Self {
        Self { sk: sk.into(), set, add_to_set: None, guard: None }
    }

    /// Sets `attribute` of the summary to `value` with `version` inside, guarded by that version.
    fn versioned_attribute(attribute: String, version: i64, mut value: Map<String, Value>) -> Self {
        value.insert("version".into(), version.into());
        let guard = Guard::Version { path: vec![attribute.clone(), "version".into()], version };
        Self { guard: Some(guard), ..Self::new(schema::JOB, vec![(attribute, Value::Object(value))]) }
    }

    /// Sets every field on the item `sk`, with `version`, guarded by that version.
    fn versioned_item(sk: String, version: i64, fields: &Map<String, Value>) -> Self {
        let mut set: Vec<(String, Value)> = fields.clone().into_iter().collect();
        set.push(("version".into(), version.into()));
        Self { guard: Some(Guard::Version { path: vec!["version".into()], version }), ..Self::new(sk, set) }
    }
}

/// The item updates of `change` to `job`. The first is the one whose refusal means the change is
/// stale.
fn item_updates(job: &JobKey, change: &Change) -> Vec<ItemUpdate> {
    let site_value = || Value::from(job.site.to_string());
    match change {
        Change::Job { quotes } => {
            let tenant = (schema::TENANT_ATTRIBUTE.to_owned(), Value::from(job.tenant.as_str()));
            let mut job = ItemUpdate::new(schema::JOB, vec![("site".into(), site_value()), tenant]);
            if !quotes.is_empty() {
                job.add_to_set = Some(("quotes".into(), quotes.iter().map(ToString::to_string).collect()));
            }
            let indexed = quotes.iter().map(|quote| {
                ItemUpdate::new(
                    schema::quote_sk(*quote),
                    vec![("quote".into(), quote.to_string().into()), ("site".into(), site_value())],
                )
            });
            std::iter::once(job).chain(indexed).collect()
        }
        Change::Summary { part, version, value } => {
            vec![ItemUpdate::versioned_attribute(part.name(), *version, value.clone())]
        }
        Change::Stage { from, value } => {
            let guard = Guard::From { path: vec!["stage".into(), "id".into()], from: from.clone() };
            let set = vec![("stage".into(), Value::Object(value.clone()))];
            vec![ItemUpdate { guard: Some(guard), ..ItemUpdate::new(schema::JOB, set) }]
        }
        Change::Task { task, version, fields } => {
            vec![ItemUpdate::versioned_item(schema::task_sk(*task), *version, fields)]
        }
        Change::Milestone { milestone, version, fields } => {
            vec![ItemUpdate::versioned_item(schema::milestone_sk(*milestone), *version, fields)]
        }
    }
}

impl DynamoJobStore {
    /// The keys (`sk`) of the items `change` updates, for the operator's dry runs.
    pub fn items_changed(job: &JobKey, change: &Change) -> Vec<String> {
        item_updates(job, change).into_iter().map(|update| update.sk).collect()
    }
}

/// One part of what a plan writes: an update of one item of the job, which can share its
/// expression with the other parts of the same item.
pub(super) enum PartUpdate<'a> {
    Change(ItemUpdate),
    /// A document named, its download status unchanged.
    Record(&'a PlannedDocument),
    /// A document queued by the delivery.
    Queue(&'a PlannedDocument, &'a Delivery),
    /// Work asked of the fetcher by the delivery.
    Request(Request, &'a Delivery),
}

impl PartUpdate<'_> {
    /// The parts of `change`; the first is the one whose refusal means the change is stale.
    pub(super) fn of_change(job: &JobKey, change: &Change) -> Vec<Self> {
        item_updates(job, change).into_iter().map(PartUpdate::Change).collect()
    }

    pub(super) fn enrichment<'a>(enrichment: &Enrichment, delivery: &'a Delivery) -> PartUpdate<'a> {
        let request = Request {
            operation: "DynamoDB UpdateItem (queue enrichment)",
            sk: schema::details_sk(enrichment.quote),
            version: ("requested_version", enrichment.version),
            fields: vec![("quote_named", s(enrichment.quote.to_string()))],
        };
        PartUpdate::Request(request, delivery)
    }

    pub(super) fn lookup<'a>(lookup: &SignedQuoteLookup, delivery: &'a Delivery) -> PartUpdate<'a> {
        let milestone = lookup.milestone.map_or(AttributeValue::Null(true), |m| s(m.to_string()));
        let request = Request {
            operation: "DynamoDB UpdateItem (queue look-up)",
            sk: schema::lookup_sk(lookup.quote),
            version: ("version", lookup.version),
            fields: vec![("original_quote", s(lookup.quote.to_string())), ("milestone", milestone)],
        };
        PartUpdate::Request(request, delivery)
    }

    /// The item's sort key.
    pub(super) fn sk(&self) -> String {
        match self {
            Self::Change(update) => update.sk.clone(),
            Self::Record(document) | Self::Queue(document, _) => schema::document_sk(document.id),
            Self::Request(request, _) => request.sk.clone(),
        }
    }

    /// What failed, when this part's call fails.
    pub(super) fn operation(&self) -> &'static str {
        match self {
            Self::Change(_) => "DynamoDB UpdateItem (job)",
            Self::Record(_) => "DynamoDB UpdateItem (record document)",
            Self::Queue(..) => "DynamoDB UpdateItem (queue document)",
            Self::Request(request, _) => request.operation,
        }
    }

    /// Adds the part's clauses to `clauses`, every name and value through `expr`; returns its
    /// condition, if it has one.
    pub(super) fn build(&self, job: &JobKey, expr: &mut Expression, clauses: &mut Clauses) -> Option<String> {
        match self {
            Self::Change(update) => update.build(expr, clauses),
            Self::Record(document) => {
                document_fields(expr, clauses, job, document);
                let status = expr.name("status");
                let recorded = expr.value(s(FetchStatus::Recorded.as_str()));
                clauses.set.push(format!("{status} = if_not_exists({status}, {recorded})"));
                None
            }
            Self::Queue(document, delivery) => {
                document_fields(expr, clauses, job, document);
                let status = expr.name("status");
                let queued_by = expr.name("queued_by");
                let queued = expr.value(s(FetchStatus::Queued.as_str()));
                let recorded = expr.value(s(FetchStatus::Recorded.as_str()));
                let me = expr.value(s(delivery.identity()));
                clauses.set.push(format!("{status} = {queued}"));
                clauses.set.push(format!("{queued_by} = {me}"));
                clauses.set.push(format!("{} = {}", expr.name("queued_at"), expr.value(s(delivery.now.to_string()))));
                clauses.set.push(format!("{} = {}", expr.name("event_id"), expr.value(s(&delivery.event_id))));
                pending::start_waiting(expr, clauses, delivery.now);
                Some(format!(
                    "attribute_not_exists({status}) OR {status} = {recorded} OR ({status} = {queued} AND {queued_by} = {me})"
                ))
            }
            Self::Request(request, delivery) => Some(request.build(job, delivery, expr, clauses)),
        }
    }
}

impl ItemUpdate {
    fn build(&self, expr: &mut Expression, clauses: &mut Clauses) -> Option<String> {
        for (name, value) in &self.set {
            clauses.set_or_remove(expr, name, to_attribute(value));
        }
        if let Some((name, members)) = self.add_to_set.as_ref().filter(|(_, m)| !m.is_empty()) {
            clauses.add.push(format!("{} {}", expr.name(name), expr.value(AttributeValue::Ss(members.clone()))));
        }
        self.guard.as_ref().map(|guard| match guard {
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
        })
    }
}

impl DynamoJobStore {
    /// One part in one `UpdateItem`: `false` when its condition refused it.
    pub(super) async fn write_part(&self, job: &JobKey, part: &PartUpdate<'_>) -> Result<bool, BackendError> {
        let (mut expr, mut clauses) = (Expression::default(), Clauses::default());
        let condition = part.build(job, &mut expr, &mut clauses);
        let update = clauses.expression();
        self.write_job_item(part.operation(), (job, &part.sk()), expr, update, condition).await
    }
}

impl JobStore for DynamoJobStore {
    /// Stale when the change's first item update is refused (the others are unconditional).
    async fn apply(&self, job: &JobKey, change: &Change) -> Result<Applied, BackendError> {
        let parts = PartUpdate::of_change(job, change);
        let landed = try_join_all(parts.iter().map(|part| self.write_part(job, part))).await?;
        Ok(if landed.first().copied().unwrap_or(true) { Applied::Landed } else { Applied::Stale })
    }

    /// `DETAILS#<quote>`: `requested_version` raised to the signature's, by this delivery.
    async fn queue_enrichment(
        &self,
        job: &JobKey,
        enrichment: &Enrichment,
        delivery: &Delivery,
    ) -> Result<bool, BackendError> {
        self.write_part(job, &PartUpdate::enrichment(enrichment, delivery)).await
    }

    /// `LOOKUP#<quote>`: the look-up asked for at the event's version, by this delivery.
    async fn queue_lookup(
        &self,
        job: &JobKey,
        lookup: &SignedQuoteLookup,
        delivery: &Delivery,
    ) -> Result<bool, BackendError> {
        self.write_part(job, &PartUpdate::lookup(lookup, delivery)).await
    }

    async fn record_document(&self, job: &JobKey, document: &PlannedDocument) -> Result<(), BackendError> {
        self.write_part(job, &PartUpdate::Record(document)).await.map(drop)
    }

    async fn queue_document(
        &self,
        job: &JobKey,
        document: &PlannedDocument,
        delivery: &Delivery,
    ) -> Result<bool, BackendError> {
        self.write_part(job, &PartUpdate::Queue(document, delivery)).await
    }

    /// In one transaction where it can (see [`super::plan`]).
    async fn apply_plan(&self, job: &JobKey, plan: &Plan, delivery: &Delivery) -> Result<PlanApplied, BackendError> {
        self.apply_plan_in_few_calls(job, plan, delivery).await
    }
}

/// Work asked of the fetcher on one item of the job, at a version.
pub(super) struct Request {
    operation: &'static str,
    sk: String,
    /// The attribute that holds the version asked for, and the version.
    version: (&'static str, i64),
    fields: Vec<(&'static str, AttributeValue)>,
}

impl Request {
    /// Asks on behalf of `delivery` (its fields, the delivery's `event_id`, waiting from now):
    /// lands unless another delivery asked at that version or a newer one; a retry of the
    /// delivery that asked lands again, so its message is sent again. Returns the condition.
    fn build(&self, job: &JobKey, delivery: &Delivery, expr: &mut Expression, clauses: &mut Clauses) -> String {
        let (version_name, requested_by) = (expr.name(self.version.0), expr.name("requested_by"));
        let (version, me) = (expr.value(n(self.version.1)), expr.value(s(delivery.identity())));
        clauses.set.push(format!("{version_name} = {version}"));
        clauses.set.push(format!("{requested_by} = {me}"));
        let common = [
            ("site", s(job.site.to_string())),
            ("event_id", s(&delivery.event_id)),
            ("requested_at", s(delivery.now.to_string())),
        ];
        for (name, value) in self.fields.iter().cloned().chain(common) {
            clauses.set.push(format!("{} = {}", expr.name(name), expr.value(value)));
        }
        pending::start_waiting(expr, clauses, delivery.now);
        format!(
            "attribute_not_exists({version_name}) OR {version_name} < {version} OR ({version_name} = {version} AND {requested_by} = {me})"
        )
    }
}

/// Sets what the event says of `document` on its item.
fn document_fields(expr: &mut Expression, clauses: &mut Clauses, job: &JobKey, document: &PlannedDocument) {
    let fields = [
        ("document", s(document.id.to_string())),
        ("site", s(job.site.to_string())),
        (schema::TENANT_ATTRIBUTE, s(job.tenant.as_str())),
        ("preview", s(domain::job::preview_path(document.id))),
        ("task", s(document.task.to_string())),
        ("quote", document.quote.map_or(AttributeValue::Null(true), |q| s(q.to_string()))),
        ("name", document.name.clone().map_or(AttributeValue::Null(true), s)),
        ("creation_type", document.creation_type.clone().map_or(AttributeValue::Null(true), s)),
        ("document_group", document.document_group.clone().map_or(AttributeValue::Null(true), s)),
    ];
    for (name, value) in fields {
        clauses.set_or_remove(expr, name, value);
    }
    // EverBright's `stale` only ever becomes true: once seen, an older event cannot undo it.
    if let Some(stale) = document.stale {
        let (name, value) = (expr.name("stale"), expr.value(AttributeValue::Bool(stale)));
        let set = if stale { value } else { format!("if_not_exists({name}, {value})") };
        clauses.set.push(format!("{name} = {set}"));
    }
}
