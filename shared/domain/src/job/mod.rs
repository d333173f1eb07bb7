//! The job model: what one webhook changes in its job, worked out without I/O, in the job's
//! words ([`Change`]): its summary's parts, its stage, its tasks and milestones, the quotes it has
//! seen, and its documents ([`PlannedDocument`]). Each part carries the version of the event that
//! last changed it, and a change lands only when its version is not older, so events that come
//! twice or out of order converge on the same job. How a job is kept (the DynamoDB items and
//! their conditions) is the adapter's business (`crate::aws`).

use serde_json::{Map, Value, json};

use crate::event::{EventType, Payload};
use crate::ids::{DocumentId, MilestoneId, QuoteId, SiteId, TaskId};
use crate::payload::{Assignee, Milestone, SubTask, Task};
use crate::timestamp::Timestamp;

mod keys;
mod status;

pub use keys::*;
pub use status::{DeliveryState, FetchStatus};

/// Added to the version of a signed contract or change order when it competes for the job's
/// current quote, so that a signature outranks any unsigned activity (a later recipient change
/// on an older quote does not take the current quote back).
const SIGNED_RANK: i64 = 1 << 60;

/// A part of the job's summary. Each is versioned on its own: the version of the event that
/// last changed it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Part {
    Contract,
    ChangeOrder,
    Milestone(MilestoneId),
    /// The quote the job is on now, and where that came from.
    CurrentQuote,
    /// The answer of the last re-sign look-up.
    SignedQuote,
    /// Where the signed quote's details from the data API are (`DETAILS#<quote>`).
    Details,
    Archived,
    LastEvent,
}

impl Part {
    /// Its name in the job's summary.
    pub fn name(self) -> String {
        match self {
            Self::Contract => "contract".into(),
            Self::ChangeOrder => "change_order".into(),
            Self::Milestone(milestone) => format!("milestone:{milestone}"),
            Self::CurrentQuote => "current_quote".into(),
            Self::SignedQuote => "signed_quote".into(),
            Self::Details => "details".into(),
            Self::Archived => "archived".into(),
            Self::LastEvent => "last_event".into(),
        }
    }
}

/// One change an event makes to its job, in the job's words. A versioned change lands only if
/// the part it changes holds no newer version: so events that come twice or out of order
/// converge on the same job.
#[derive(Clone, Debug, PartialEq)]
pub enum Change {
    /// The job itself: it exists, and has seen `quotes` (each of them then finds the job).
    Job { quotes: Vec<QuoteId> },
    /// A part of the summary.
    Summary { part: Part, version: i64, value: Map<String, Value> },
    /// The stage: moved only from the stage `from` names (or set when no stage is known).
    Stage { from: Option<String>, value: Map<String, Value> },
    /// A task: a contract, a change order or a milestone's task.
    Task { task: TaskId, version: i64, fields: Map<String, Value> },
    /// A milestone.
    Milestone { milestone: MilestoneId, version: i64, fields: Map<String, Value> },
}

/// How a delivery is told apart from another of the same event (see [`Plan::identity`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Identity {
    /// The event carries its own time (a task's or milestone's activity, `date_updated`): the same
    /// body on the same route is the same event, a duplicate for `DEDUPE_TTL_DAYS`.
    Body,
    /// The event has no time of its own: the same body again may be a new event with the same
    /// content, so it is a duplicate (a sender's retry) only within `DEDUPE_RETRY_WINDOW_MINUTES`.
    RetryWindow,
    /// Idempotent by itself, without a delivery record: a stage transition moves the job only
    /// from the stage it names, so a repeat of it changes nothing and a later move back and forth
    /// with the same body is applied.
    Chain,
}

/// A document named by the event: recorded, and queued for download when `fetch` is set.
#[derive(Clone, Debug, PartialEq)]
pub struct PlannedDocument {
    pub id: DocumentId,
    pub name: Option<String>,
    pub task: TaskId,
    pub quote: Option<QuoteId>,
    pub creation_type: Option<String>,
    /// The envelope it belongs to (`document_group`), and EverBright's `stale` flag.
    pub document_group: Option<String>,
    pub stale: Option<bool>,
    pub fetch: bool,
}

/// A re-sign check: which quote an original quote was finally signed as. Asked when an event
/// suggests a re-sign: a milestone one of whose tasks has a signed DOCUMENT sub-task (a re-sign
/// completed within the milestone; its webhook keeps the original quote), or a contract signed
/// again after a voided envelope.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedQuoteLookup {
    pub quote: QuoteId,
    /// The milestone that suggested it, if a milestone did.
    pub milestone: Option<MilestoneId>,
    /// The version of the event that suggested it: a look-up answered for an older event never
    /// overwrites the answer for a newer one.
    pub version: i64,
}

/// What a look-up's answer changes in the job: `signed_quote` (versioned); and when the quote
/// was signed as another one, that quote indexed (`QUOTE#`, the job's `quotes`) and made the
/// job's current quote unless a newer signature holds it.
pub fn plan_signed_quote(lookup: &SignedQuoteLookup, signed: Option<QuoteId>, now: Timestamp) -> Vec<Change> {
    let value = json!({
        "original": lookup.quote.to_string(),
        "signed": opt(signed),
        "milestone": opt(lookup.milestone),
        "checked_at": now,
    });
    let mut changes = vec![Change::Summary { part: Part::SignedQuote, version: lookup.version, value: object(value) }];
    if let Some(signed) = signed.filter(|signed| *signed != lookup.quote) {
        changes.push(Change::Job { quotes: vec![signed] });
        let current = json!({ "quote": signed.to_string(), "source": "re-sign", "original": lookup.quote.to_string() });
        changes.push(Change::Summary {
            part: Part::CurrentQuote,
            version: lookup.version + SIGNED_RANK,
            value: object(current),
        });
    }
    changes
}

/// Everything one event changes.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    pub site: SiteId,
    pub changes: Vec<Change>,
    /// The change whose refusal means the event is stale (older than the stored state).
    pub primary: usize,
    /// How its deliveries are deduplicated. With [`Identity::Chain`] the primary change goes
    /// first, and the others only if it landed.
    pub identity: Identity,
    pub documents: Vec<PlannedDocument>,
    pub lookup: Option<SignedQuoteLookup>,
    /// The details to read from the data API, when the event signs a contract or change order.
    pub enrichment: Option<Enrichment>,
    /// The organization the payload says owns the site (`site_owned_by_organization`), if it
    /// says: the receiver refuses it when it is not the calling tenant's.
    pub owner_organization: Option<String>,
}

/// An enrichment: the signed quote's details from the data API, after a SIGN.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Enrichment {
    /// The quote the contract (or change order) names; the data API says which quote it was
    /// finally signed as.
    pub quote: QuoteId,
    /// The signature's time (microseconds): every delivery of one signature has the same, so it
    /// is enriched once; a re-sign is a newer one.
    pub version: i64,
}

/// What planning needs besides the payload.
#[derive(Clone, Copy, Debug)]
pub struct PlanContext<'a> {
    pub event: EventType,
    /// The delivery's id: every part the event changes records it (`event_id`), so that what is
    /// published of the change names the webhook.
    pub event_id: &'a str,
    pub received_at: Timestamp,
    /// Queue the uploaded documents of milestone tasks too (`FETCH_MILESTONE_DOCUMENTS`).
    pub fetch_milestone_documents: bool,
}

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

fn opt<T: ToString>(value: Option<T>) -> Value {
    value.map_or(Value::Null, |v| Value::String(v.to_string()))
}

/// Works out what `payload`, received as `cx.event`, changes in its job; `None` when it names no
/// site (an event of unknown shape: it is archived and changes nothing).
pub fn plan(payload: &Payload, cx: &PlanContext<'_>) -> Option<Plan> {
    let site = payload.site()?;
    let owner_organization = match payload {
        Payload::Stage(stage) => stage.site_owned_by_organization.clone(),
        Payload::Generic(generic) => generic.site_owned_by_organization.clone(),
        _ => None,
    };
    let mut plan = Plan {
        site,
        changes: Vec::new(),
        primary: 0,
        identity: Identity::Body,
        documents: Vec::new(),
        lookup: None,
        enrichment: None,
        owner_organization,
    };
    let mut quotes = Vec::new();
    let own_time = match payload {
        Payload::Contract(task) => plan_task(&mut plan, &mut quotes, task, TaskKind::Contract, cx),
        Payload::ChangeOrder(task) => plan_task(&mut plan, &mut quotes, task, TaskKind::ChangeOrder, cx),
        Payload::Milestone(milestone) => plan_milestone(&mut plan, &mut quotes, milestone, cx),
        Payload::Stage(stage) => {
            if let Some(id) = &stage.stage_id {
                let value = json!({
                    "id": id, "name": stage.stage_name,
                    "previous_id": stage.previous_stage_id, "previous_name": stage.previous_stage_name,
                    "at": cx.received_at,
                });
                plan.changes.push(Change::Stage { from: stage.previous_stage_id.clone(), value: object(value) });
                plan.identity = Identity::Chain;
            }
            false
        }
        Payload::Generic(generic) => {
            quotes.extend(generic.quote);
            if cx.event == EventType::SiteArchived {
                let version = generic.date_updated.unwrap_or(cx.received_at).micros();
                let value = json!({ "at": generic.date_updated.unwrap_or(cx.received_at) });
                plan.changes.push(Change::Summary { part: Part::Archived, version, value: object(value) });
            }
            generic.date_updated.is_some()
        }
    };
    if plan.identity == Identity::Body && !own_time {
        plan.identity = Identity::RetryWindow;
    }

    let last_event = json!({ "event": cx.event.slug(), "at": cx.received_at });
    let last_event =
        Change::Summary { part: Part::LastEvent, version: cx.received_at.micros(), value: object(last_event) };
    if plan.changes.is_empty() {
        plan.primary = plan.changes.len();
    }
    plan.changes.push(last_event);

    quotes.sort_unstable();
    quotes.dedup();
    for change in &mut plan.changes {
        if let Change::Summary { value: fields, .. }
        | Change::Stage { value: fields, .. }
        | Change::Task { fields, .. }
        | Change::Milestone { fields, .. } = change
        {
            fields.insert("event_id".into(), cx.event_id.into());
        }
    }
    plan.changes.push(Change::Job { quotes });
    Some(plan)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum TaskKind {
    Contract,
    ChangeOrder,
}

/// Plans a contract or change-order task; answers whether the task carries a time of its own.
fn plan_task(plan: &mut Plan, quotes: &mut Vec<QuoteId>, task: &Task, kind: TaskKind, cx: &PlanContext<'_>) -> bool {
    let own_time = task.last_activity();
    let version = own_time.unwrap_or(cx.received_at).micros();
    let signed_at = task.signed_at(cx.received_at);
    let document_status = task.document_status().map(ToString::to_string);
    let (kind_name, summary) = match kind {
        TaskKind::Contract => ("contract", Part::Contract),
        TaskKind::ChangeOrder => ("change_order", Part::ChangeOrder),
    };
    quotes.extend(task.quote);
    quotes.extend(task.new_quote);

    let item = json!({
        "kind": kind_name,
        "task": task.uuid.to_string(),
        "name": task.name,
        "status": opt(task.status.as_ref()),
        "document_status": document_status,
        "quote": opt(task.quote),
        "new_quote": opt(task.new_quote),
        "milestone": opt(task.milestone),
        "signed_at": opt(signed_at),
        "date_updated": opt(task.date_updated),
        "envelopes": envelopes(task.document_sub_task()),
        "assigned_to": Assignee::to_json(task.assigned_to.as_ref()),
        "event": cx.event.slug(),
    });
    plan.primary = plan.changes.len();
    plan.changes.push(Change::Task { task: task.uuid, version, fields: object(item) });

    let signed_copies: Vec<String> = task.signed_copies().map(|document| document.uuid.to_string()).collect();
    let mut summary_value = json!({
        "task": task.uuid.to_string(),
        "name": task.name,
        "status": document_status,
        "quote": opt(task.quote),
        "signed_at": opt(signed_at),
        "signed_copies": signed_copies,
    });
    if kind == TaskKind::ChangeOrder {
        summary_value["new_quote"] = opt(task.new_quote);
    }
    plan.changes.push(Change::Summary { part: summary, version, value: object(summary_value) });

    let current = match kind {
        TaskKind::Contract => task.quote,
        TaskKind::ChangeOrder => task.new_quote.filter(|_| task.is_executed()),
    };
    if let Some(quote) = current {
        let rank = if task.is_executed() { SIGNED_RANK } else { 0 };
        let value = json!({ "quote": quote.to_string(), "source": kind_name, "task": task.uuid.to_string() });
        plan.changes.push(Change::Summary { part: Part::CurrentQuote, version: version + rank, value: object(value) });
    }

    if task.is_executed() {
        let signed = match kind {
            TaskKind::Contract => task.quote,
            TaskKind::ChangeOrder => task.new_quote,
        };
        let version = signed_at.map_or(version, Timestamp::micros);
        plan.enrichment = signed.map(|quote| Enrichment { quote, version });
    }

    if kind == TaskKind::Contract && task.is_signed_again_after_a_void() {
        plan.lookup = task.quote.map(|quote| SignedQuoteLookup { quote, milestone: None, version });
    }

    if let Some(sub_task) = task.document_sub_task() {
        let fetch: Vec<DocumentId> = task.documents_to_fetch().map(|document| document.uuid).collect();
        let quote = task.new_quote.filter(|_| kind == TaskKind::ChangeOrder).or(task.quote);
        plan_documents(plan, sub_task, task.uuid, quote, |id| fetch.contains(&id));
    }
    own_time.is_some()
}

/// Plans a milestone; answers whether it carries a time of its own.
fn plan_milestone(plan: &mut Plan, quotes: &mut Vec<QuoteId>, milestone: &Milestone, cx: &PlanContext<'_>) -> bool {
    let comments = milestone.comments.iter().map(|comment| comment.timestamp);
    let own_time = comments.chain([milestone.date_updated]).flatten().max();
    let version = own_time.unwrap_or(cx.received_at).micros();
    quotes.extend(milestone.quote);

    let tasks: Vec<Value> = milestone
        .tasks
        .iter()
        .map(|task| json!({ "task": task.uuid.to_string(), "name": task.name, "status": opt(task.status.as_ref()) }))
        .collect();
    let item = json!({
        "kind": "milestone",
        "milestone": milestone.uuid.to_string(),
        "name": milestone.name,
        "status": opt(milestone.status.as_ref()),
        "definition": milestone.milestone_definition,
        "quote": opt(milestone.quote),
        "tasks": tasks,
        "date_updated": opt(milestone.date_updated),
        "assigned_to": Assignee::to_json(milestone.assigned_to.as_ref()),
        "event": cx.event.slug(),
    });
    plan.primary = plan.changes.len();
    plan.changes.push(Change::Milestone { milestone: milestone.uuid, version, fields: object(item) });

    let summary = json!({ "name": milestone.name, "status": opt(milestone.status.as_ref()) });
    plan.changes.push(Change::Summary { part: Part::Milestone(milestone.uuid), version, value: object(summary) });
    if let Some(quote) = milestone.quote {
        // The quote the milestone names is the job's original one (a re-sign within it keeps it):
        // the current quote only until a signature (ranked above) or a later event says otherwise.
        let value =
            json!({ "quote": quote.to_string(), "source": "milestone", "milestone": milestone.uuid.to_string() });
        plan.changes.push(Change::Summary { part: Part::CurrentQuote, version, value: object(value) });
    }

    for task in &milestone.tasks {
        let item = json!({
            "kind": "milestone_task",
            "task": task.uuid.to_string(),
            "name": task.name,
            "status": opt(task.status.as_ref()),
            "milestone": milestone.uuid.to_string(),
            "quote": opt(milestone.quote),
            "envelopes": envelopes(task.sub_tasks.iter().find(|sub_task| sub_task.is_document())),
            "event": cx.event.slug(),
        });
        plan.changes.push(Change::Task { task: task.uuid, version, fields: object(item) });
        for sub_task in task.sub_tasks.iter().filter(|sub_task| sub_task.is_document()) {
            let uploaded: Vec<DocumentId> = sub_task.uploaded_documents().map(|d| d.uuid).collect();
            plan_documents(plan, sub_task, task.uuid, milestone.quote, |id| {
                cx.fetch_milestone_documents && uploaded.contains(&id)
            });
        }
    }
    let re_signed = milestone.tasks.iter().flat_map(|task| &task.sub_tasks).any(SubTask::is_signed_document);
    plan.lookup = milestone.quote.filter(|_| re_signed).map(|quote| SignedQuoteLookup {
        quote,
        milestone: Some(milestone.uuid),
        version,
    });
    own_time.is_some()
}

/// The envelopes of a DOCUMENT sub-task, as `{document_group, status}`: which of its documents
/// belong to a completed (`COMP`) or a voided (`VOID`) envelope.
fn envelopes(sub_task: Option<&SubTask>) -> Value {
    let envelopes = sub_task.and_then(|sub_task| sub_task.data.as_ref()).map_or(&[][..], |data| &data.envelopes);
    envelopes
        .iter()
        .map(|envelope| json!({ "document_group": envelope.document_group, "status": opt(envelope.status.as_ref()) }))
        .collect()
}

fn plan_documents(
    plan: &mut Plan,
    sub_task: &SubTask,
    task: TaskId,
    quote: Option<QuoteId>,
    fetch: impl Fn(DocumentId) -> bool,
) {
    for document in sub_task.documents() {
        if plan.documents.iter().any(|planned| planned.id == document.uuid) {
            continue;
        }
        plan.documents.push(PlannedDocument {
            id: document.uuid,
            name: document.name.clone(),
            task,
            quote,
            creation_type: document.creation_type.as_ref().map(ToString::to_string),
            document_group: document.document_group.clone(),
            stale: document.stale,
            fetch: fetch(document.uuid),
        });
    }
}

#[cfg(test)]
mod tests;
