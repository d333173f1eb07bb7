//! The job model: what one webhook changes in a job's DynamoDB items, worked out without I/O.
//!
//! Every job lives under the partition `SITE#<site>`: the summary `JOB`, one `TASK#<uuid>` per task,
//! one `MILESTONE#<uuid>` per milestone, one `DOC#<uuid>` per document and one `QUOTE#<uuid>` per
//! quote (indexed by quote). Each part of the state carries the version of the event that wrote it
//! and a write only lands when its version is not older, so events that come twice or out of order
//! converge on the same state.

use serde_json::{Map, Value, json};

use crate::event::{EventType, Payload};
use crate::ids::{DocumentId, MilestoneId, QuoteId, SiteId, TaskId};
use crate::payload::{Milestone, SubTask, Task};
use crate::timestamp::Timestamp;

pub const JOB: &str = "JOB";

/// The table's partition and sort keys.
pub const TABLE_KEYS: [&str; 2] = ["pk", "sk"];
/// The index that finds a job by quote: partition key `quote`, sort key `sk`.
pub const QUOTE_INDEX: &str = "by-quote";
pub const QUOTE_INDEX_KEYS: [&str; 2] = ["quote", "sk"];
/// The TTL attribute (seconds since the epoch) of delivery items.
pub const TTL_ATTRIBUTE: &str = "expires_at";

pub fn site_pk(site: SiteId) -> String {
    format!("SITE#{site}")
}

pub fn task_sk(task: TaskId) -> String {
    format!("TASK#{task}")
}

pub fn milestone_sk(milestone: MilestoneId) -> String {
    format!("MILESTONE#{milestone}")
}

pub fn document_sk(document: DocumentId) -> String {
    format!("DOC#{document}")
}

pub fn quote_sk(quote: QuoteId) -> String {
    format!("QUOTE#{quote}")
}

/// The attribute of `JOB` that holds a milestone's summary.
pub fn milestone_attribute(milestone: MilestoneId) -> String {
    format!("milestone:{milestone}")
}

/// Added to the version of a signed contract or change order when it competes for the job's
/// current quote, so that a signature outranks any unsigned activity (a later recipient change
/// on an older quote does not take the current quote back).
const SIGNED_RANK: i64 = 1 << 60;

/// One conditional update of one item of the job.
#[derive(Clone, Debug, PartialEq)]
pub struct Write {
    pub sk: String,
    /// Attributes to set, each to a JSON value (objects become DynamoDB maps).
    pub set: Vec<(String, Value)>,
    /// Strings to add to a string-set attribute.
    pub add_to_set: Option<(String, Vec<String>)>,
    /// When the write lands; always, without one.
    pub guard: Option<Guard>,
}

/// The condition of a write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Guard {
    /// Lands only if the stored version at `path` is missing or not newer.
    Version { path: Vec<String>, version: i64 },
    /// Lands only if the text at `path` is missing, or equals `from` when that is given: a move
    /// that names the state it leaves (a stage transition's `previous_stage_id`).
    From { path: Vec<String>, from: Option<String> },
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
pub fn plan_signed_quote(
    lookup: &SignedQuoteLookup,
    signed: Option<QuoteId>,
    site: SiteId,
    now: Timestamp,
) -> Vec<Write> {
    let value = json!({
        "original": lookup.quote.to_string(),
        "signed": opt(signed),
        "milestone": opt(lookup.milestone),
        "checked_at": now,
    });
    let mut writes = vec![Write::versioned(JOB, "signed_quote", lookup.version, object(value))];
    if let Some(signed) = signed.filter(|signed| *signed != lookup.quote) {
        let mut touch = Write::new(JOB).set("site", site.to_string().into());
        touch.add_to_set = Some(("quotes".into(), vec![signed.to_string()]));
        writes.push(touch);
        writes.push(
            Write::new(quote_sk(signed)).set("quote", signed.to_string().into()).set("site", site.to_string().into()),
        );
        let current = json!({ "quote": signed.to_string(), "source": "re-sign", "original": lookup.quote.to_string() });
        writes.push(Write::versioned(JOB, "current_quote", lookup.version + SIGNED_RANK, object(current)));
    }
    writes
}

/// Everything one event changes.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    pub site: SiteId,
    pub writes: Vec<Write>,
    /// The write whose refusal means the event is stale (older than the stored state).
    pub primary: usize,
    /// How its deliveries are deduplicated. With [`Identity::Chain`] the primary write goes
    /// first, and the others only if it landed.
    pub identity: Identity,
    pub documents: Vec<PlannedDocument>,
    pub lookup: Option<SignedQuoteLookup>,
}

/// What planning needs besides the payload.
#[derive(Clone, Copy, Debug)]
pub struct PlanContext {
    pub event: EventType,
    pub received_at: Timestamp,
    /// Queue the uploaded documents of milestone tasks too (`FETCH_MILESTONE_DOCUMENTS`).
    pub fetch_milestone_documents: bool,
}

impl Write {
    fn new(sk: impl Into<String>) -> Self {
        Self { sk: sk.into(), set: Vec::new(), add_to_set: None, guard: None }
    }

    fn set(mut self, attribute: impl Into<String>, value: Value) -> Self {
        self.set.push((attribute.into(), value));
        self
    }

    /// Sets `attribute` to `value` with `version` inside, guarded by that version.
    fn versioned(
        sk: impl Into<String>,
        attribute: impl Into<String>,
        version: i64,
        mut value: Map<String, Value>,
    ) -> Self {
        let attribute = attribute.into();
        value.insert("version".into(), version.into());
        let guard = Guard::Version { path: vec![attribute.clone(), "version".into()], version };
        Self { guard: Some(guard), ..Self::new(sk).set(attribute, Value::Object(value)) }
    }

    /// Sets every attribute of `value` on the item, with `version`, guarded by that version.
    fn versioned_item(sk: impl Into<String>, version: i64, value: Map<String, Value>) -> Self {
        let mut write = Self::new(sk);
        write.set = value.into_iter().collect();
        write.set.push(("version".into(), version.into()));
        write.guard = Some(Guard::Version { path: vec!["version".into()], version });
        write
    }
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
pub fn plan(payload: &Payload, cx: &PlanContext) -> Option<Plan> {
    let site = payload.site()?;
    let mut plan =
        Plan { site, writes: Vec::new(), primary: 0, identity: Identity::Body, documents: Vec::new(), lookup: None };
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
                let guard =
                    Guard::From { path: vec!["stage".into(), "id".into()], from: stage.previous_stage_id.clone() };
                plan.writes.push(Write { guard: Some(guard), ..Write::new(JOB).set("stage", value) });
                plan.identity = Identity::Chain;
            }
            false
        }
        Payload::Generic(generic) => {
            quotes.extend(generic.quote);
            if cx.event == EventType::SiteArchived {
                let version = generic.date_updated.unwrap_or(cx.received_at).micros();
                let value = json!({ "at": generic.date_updated.unwrap_or(cx.received_at) });
                plan.writes.push(Write::versioned(JOB, "archived", version, object(value)));
            }
            generic.date_updated.is_some()
        }
    };
    if plan.identity == Identity::Body && !own_time {
        plan.identity = Identity::RetryWindow;
    }

    let last_event = json!({ "event": cx.event.slug(), "at": cx.received_at });
    let last_event = Write::versioned(JOB, "last_event", cx.received_at.micros(), object(last_event));
    if plan.writes.is_empty() {
        plan.primary = plan.writes.len();
    }
    plan.writes.push(last_event);

    quotes.sort_unstable();
    quotes.dedup();
    let mut touch = Write::new(JOB).set("site", site.to_string().into());
    if !quotes.is_empty() {
        touch.add_to_set = Some(("quotes".into(), quotes.iter().map(ToString::to_string).collect()));
    }
    plan.writes.push(touch);
    for quote in quotes {
        plan.writes.push(
            Write::new(quote_sk(quote)).set("quote", quote.to_string().into()).set("site", site.to_string().into()),
        );
    }
    Some(plan)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum TaskKind {
    Contract,
    ChangeOrder,
}

/// Plans a contract or change-order task; answers whether the task carries a time of its own.
fn plan_task(plan: &mut Plan, quotes: &mut Vec<QuoteId>, task: &Task, kind: TaskKind, cx: &PlanContext) -> bool {
    let own_time = task.last_activity();
    let version = own_time.unwrap_or(cx.received_at).micros();
    let signed_at = task.signed_at(cx.received_at);
    let document_status = task.document_status().map(ToString::to_string);
    let (kind_name, summary) = match kind {
        TaskKind::Contract => ("contract", "contract"),
        TaskKind::ChangeOrder => ("change_order", "change_order"),
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
        "event": cx.event.slug(),
    });
    plan.primary = plan.writes.len();
    plan.writes.push(Write::versioned_item(task_sk(task.uuid), version, object(item)));

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
    plan.writes.push(Write::versioned(JOB, summary, version, object(summary_value)));

    let current = match kind {
        TaskKind::Contract => task.quote,
        TaskKind::ChangeOrder => task.new_quote.filter(|_| task.is_executed()),
    };
    if let Some(quote) = current {
        let rank = if task.is_executed() { SIGNED_RANK } else { 0 };
        let value = json!({ "quote": quote.to_string(), "source": kind_name, "task": task.uuid.to_string() });
        plan.writes.push(Write::versioned(JOB, "current_quote", version + rank, object(value)));
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
fn plan_milestone(plan: &mut Plan, quotes: &mut Vec<QuoteId>, milestone: &Milestone, cx: &PlanContext) -> bool {
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
        "event": cx.event.slug(),
    });
    plan.primary = plan.writes.len();
    plan.writes.push(Write::versioned_item(milestone_sk(milestone.uuid), version, object(item)));

    let summary = json!({ "name": milestone.name, "status": opt(milestone.status.as_ref()) });
    plan.writes.push(Write::versioned(JOB, milestone_attribute(milestone.uuid), version, object(summary)));
    if let Some(quote) = milestone.quote {
        // The quote the milestone names is the job's original one (a re-sign within it keeps it):
        // the current quote only until a signature (ranked above) or a later event says otherwise.
        let value =
            json!({ "quote": quote.to_string(), "source": "milestone", "milestone": milestone.uuid.to_string() });
        plan.writes.push(Write::versioned(JOB, "current_quote", version, object(value)));
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
        plan.writes.push(Write::versioned_item(task_sk(task.uuid), version, object(item)));
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
mod tests {
    use super::*;

    fn cx(event: EventType) -> PlanContext {
        PlanContext { event, received_at: "2023-07-12T19:22:52Z".parse().unwrap(), fetch_milestone_documents: true }
    }

    fn plan_of(event: EventType, body: &str) -> Plan {
        plan(&event.parse(body.as_bytes()).unwrap(), &cx(event)).expect("a site")
    }

    fn write<'a>(plan: &'a Plan, sk: &str, attribute: &str) -> &'a Write {
        plan.writes
            .iter()
            .find(|w| w.sk == sk && w.set.iter().any(|(name, _)| name == attribute))
            .unwrap_or_else(|| panic!("no write of {attribute} on {sk}: {plan:#?}"))
    }

    fn value<'a>(write: &'a Write, attribute: &str) -> &'a Value {
        &write.set.iter().find(|(name, _)| name == attribute).unwrap().1
    }

    #[test]
    fn the_signed_contract_queues_its_nine_uploaded_documents_and_records_the_generated_one() {
        let plan = plan_of(EventType::ContractStatusChange, include_str!("../../events/payloads/contract-signed.json"));
        assert_eq!(plan.documents.len(), 10);
        assert_eq!(plan.documents.iter().filter(|d| d.fetch).count(), 9);
        let generated = plan.documents.iter().find(|d| d.creation_type.as_deref() == Some("GENERATED")).unwrap();
        assert!(!generated.fetch);
    }

    #[test]
    fn the_contract_task_is_the_primary_write_versioned_by_its_last_activity() {
        let plan = plan_of(EventType::ContractStatusChange, include_str!("../../events/payloads/contract-signed.json"));
        let primary = &plan.writes[plan.primary];
        assert_eq!(primary.sk, "TASK#fb04303e-da8f-413a-b9fc-b91dedf10707");
        let expected: Timestamp = "2023-07-12T19:22:47.921491Z".parse().unwrap();
        assert_eq!(primary.guard, Some(Guard::Version { path: vec!["version".into()], version: expected.micros() }));
        assert_eq!(plan.identity, Identity::Body);
        assert_eq!(value(primary, "document_status"), "SIGN");
        let contract = value(write(&plan, JOB, "contract"), "contract");
        assert_eq!(contract["signed_at"], "2023-07-12T19:22:17.752365Z");
    }

    #[test]
    fn a_signed_change_order_moves_the_current_quote_to_its_new_quote() {
        let plan =
            plan_of(EventType::ChangeOrderStatusChange, include_str!("../../events/payloads/change-order-signed.json"));
        let current = write(&plan, JOB, "current_quote");
        assert_eq!(value(current, "current_quote")["quote"], "f402dbad-d8c1-4791-8ce1-b5b585027ffb");
        assert_eq!(value(current, "current_quote")["source"], "change_order");
        let Some(Guard::Version { version, .. }) = current.guard else { panic!("{current:?}") };
        assert!(version > SIGNED_RANK);
    }

    #[test]
    fn an_unsigned_change_order_leaves_the_current_quote_alone() {
        let body = include_str!("../../events/payloads/change-order-signed.json")
            .replace(r#""document_status": "SIGN""#, r#""document_status": "SENT""#);
        let plan = plan_of(EventType::ChangeOrderStatusChange, &body);
        assert!(!plan.writes.iter().any(|w| w.set.iter().any(|(name, _)| name == "current_quote")));
        assert!(plan.documents.iter().all(|d| !d.fetch));
    }

    #[test]
    fn a_milestone_records_its_tasks_and_queues_uploads() {
        let plan =
            plan_of(EventType::MilestoneStatusChange, include_str!("../../events/payloads/milestone-approved.json"));
        assert_eq!(plan.writes[plan.primary].sk, "MILESTONE#7a605ec8-d276-4d6c-bd47-52a483e28783");
        assert_eq!(plan.writes.iter().filter(|w| w.sk.starts_with("TASK#")).count(), 2);
        let fetched: Vec<_> = plan.documents.iter().filter(|d| d.fetch).map(|d| d.id.to_string()).collect();
        assert_eq!(fetched, ["189bd7c0-2e6f-45cb-a00e-33ca4fe297d2"]);
        assert_eq!(plan.lookup, None, "no re-sign in it");
        let current = value(write(&plan, JOB, "current_quote"), "current_quote");
        assert_eq!(current["quote"], "8ba871ae-3282-420c-af3f-ddc41ac50273");
        assert_eq!(current["source"], "milestone");
        let summary = write(&plan, JOB, "milestone:7a605ec8-d276-4d6c-bd47-52a483e28783");
        assert_eq!(value(summary, "milestone:7a605ec8-d276-4d6c-bd47-52a483e28783")["status"], "APPROVED");
    }

    #[test]
    fn a_re_sign_completed_within_a_milestone_asks_for_the_signed_quote_with_the_milestones_version() {
        let body = include_str!("../../events/payloads/milestone-approved.json");
        let mut json: Value = serde_json::from_str(body).unwrap();
        json["tasks"][0]["sub_tasks"][1]["document_status"] = json!("SIGN");
        let plan = plan_of(EventType::MilestoneStatusChange, &json.to_string());
        let lookup = plan.lookup.expect("a look-up");
        assert_eq!(lookup.quote.to_string(), "8ba871ae-3282-420c-af3f-ddc41ac50273");
        assert_eq!(lookup.milestone.unwrap().to_string(), "7a605ec8-d276-4d6c-bd47-52a483e28783");
        let Some(Guard::Version { version, .. }) = &plan.writes[plan.primary].guard else { panic!() };
        assert_eq!(lookup.version, *version);
    }

    #[test]
    fn a_contract_signed_again_after_a_void_asks_for_the_signed_quote() {
        let body = include_str!("../../events/payloads/contract-signed.json");
        assert_eq!(plan_of(EventType::ContractStatusChange, body).lookup, None);
        let mut json: Value = serde_json::from_str(body).unwrap();
        let envelopes = json["sub_tasks"][0]["data"]["envelopes"].as_array_mut().unwrap();
        envelopes.push(json!({"status": "VOID", "document_group": "0c7ab4d8-0f0e-4b47-9d0e-3d7c2a1f4e55"}));
        let plan = plan_of(EventType::ContractStatusChange, &json.to_string());
        assert_eq!(plan.lookup.unwrap().quote.to_string(), "042e6753-6b06-457d-9efd-70f047f4d348");
    }

    #[test]
    fn a_look_up_that_found_another_quote_indexes_it_and_makes_it_current_under_the_signature_rank() {
        let site: SiteId = "157802b4-99aa-4437-b250-934df337766a".parse().unwrap();
        let original: QuoteId = "8ba871ae-3282-420c-af3f-ddc41ac50273".parse().unwrap();
        let signed: QuoteId = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee".parse().unwrap();
        let lookup = SignedQuoteLookup { quote: original, milestone: None, version: 42 };
        let now = Timestamp::now();
        let writes = plan_signed_quote(&lookup, Some(signed), site, now);
        assert_eq!(writes.len(), 4);
        assert!(writes.iter().any(|w| w.sk == format!("QUOTE#{signed}")));
        let current = write_of(&writes, "current_quote");
        assert_eq!(value(current, "current_quote")["quote"], signed.to_string());
        assert_eq!(
            current.guard,
            Some(Guard::Version { path: vec!["current_quote".into(), "version".into()], version: 42 + SIGNED_RANK })
        );
        // Signed as itself, or not at all: recorded, and nothing else moves.
        assert_eq!(plan_signed_quote(&lookup, Some(original), site, now).len(), 1);
        assert_eq!(plan_signed_quote(&lookup, None, site, now).len(), 1);
    }

    fn write_of<'a>(writes: &'a [Write], attribute: &str) -> &'a Write {
        writes.iter().find(|w| w.set.iter().any(|(name, _)| name == attribute)).unwrap()
    }

    #[test]
    fn a_change_order_marks_its_completed_envelopes_upload_as_the_signed_copy() {
        let plan =
            plan_of(EventType::ChangeOrderStatusChange, include_str!("../../events/payloads/change-order-signed.json"));
        let summary = value(write(&plan, JOB, "change_order"), "change_order");
        assert_eq!(summary["signed_copies"], json!(["af7f4ab9-1839-40a5-9f09-6196bec521fa"]));
        let task = &plan.writes[plan.primary];
        let envelopes = value(task, "envelopes");
        assert_eq!(envelopes[0], json!({"document_group": "fb50e41e-9a47-44e1-bbbb-4bd31cca51f8", "status": "VOID"}));
        assert_eq!(envelopes[1], json!({"document_group": "fa1d258b-ac16-4363-9732-a70a6223e7b9", "status": "COMP"}));
        let voided =
            plan.documents.iter().find(|d| d.id.to_string() == "de66a0c5-f0e6-42cf-9a90-0e9b2a6f49f9").unwrap();
        assert_eq!(voided.document_group.as_deref(), Some("fb50e41e-9a47-44e1-bbbb-4bd31cca51f8"));
    }

    #[test]
    fn milestone_uploads_are_only_recorded_when_configured_off() {
        let event = EventType::MilestoneStatusChange;
        let payload = event.parse(include_bytes!("../../events/payloads/milestone-approved.json")).unwrap();
        let plan = plan(&payload, &PlanContext { fetch_milestone_documents: false, ..cx(event) }).unwrap();
        assert_eq!(plan.documents.len(), 1);
        assert!(!plan.documents[0].fetch);
    }

    #[test]
    fn every_event_touches_the_job_with_its_quotes_and_last_event() {
        let plan =
            plan_of(EventType::ChangeOrderStatusChange, include_str!("../../events/payloads/change-order-signed.json"));
        let touch = plan.writes.iter().find(|w| w.add_to_set.is_some()).unwrap();
        assert_eq!(touch.add_to_set.as_ref().unwrap().1, ["f402dbad-d8c1-4791-8ce1-b5b585027ffb"]);
        assert!(plan.writes.iter().any(|w| w.sk == "QUOTE#f402dbad-d8c1-4791-8ce1-b5b585027ffb"));
        let last = value(write(&plan, JOB, "last_event"), "last_event");
        assert_eq!(last["event"], "change-order-status-change");
    }

    #[test]
    fn a_stage_transition_moves_only_from_the_stage_it_names_and_is_primary() {
        let plan = plan_of(EventType::StageTransition, include_str!("../../events/payloads/stage-transition.json"));
        let primary = &plan.writes[plan.primary];
        assert_eq!(value(primary, "stage")["name"], "Installation");
        let from = Some("0f3a8c52-5c0e-4a8e-9d0e-6f1b7f2f1a10".to_owned());
        assert_eq!(primary.guard, Some(Guard::From { path: vec!["stage".into(), "id".into()], from }));
        assert_eq!(plan.identity, Identity::Chain);
    }

    #[test]
    fn events_without_a_time_of_their_own_are_told_apart_only_within_the_retry_window() {
        let site = r#""site":"34b6b5ee-f997-4044-86ae-0abbf611fc4d""#;
        let plan = plan_of(EventType::ProposalAction, &format!("{{{site}}}"));
        assert_eq!(plan.identity, Identity::RetryWindow);
        let plan = plan_of(EventType::ProposalAction, &format!(r#"{{{site},"date_updated":"2024-01-02T03:04:05Z"}}"#));
        assert_eq!(plan.identity, Identity::Body);
        let plan = plan_of(EventType::StageTransition, r#"{"site_id":"34b6b5ee-f997-4044-86ae-0abbf611fc4d"}"#);
        assert_eq!(plan.identity, Identity::RetryWindow, "a transition without a stage only records the event");
    }

    #[test]
    fn an_event_that_names_no_site_plans_nothing() {
        let payload = EventType::ProposalAction.parse(br#"{"proposal":{"id":7}}"#).unwrap();
        assert_eq!(plan(&payload, &cx(EventType::ProposalAction)), None);
    }

    #[test]
    fn site_archived_sets_the_archived_flag() {
        let plan = plan_of(EventType::SiteArchived, include_str!("../../events/payloads/site-archived.json"));
        assert!(plan.writes[plan.primary].set.iter().any(|(name, _)| name == "archived"));
    }

    #[test]
    fn a_generic_event_only_touches_the_job() {
        let body = r#"{"site":"34b6b5ee-f997-4044-86ae-0abbf611fc4d"}"#;
        let plan = plan_of(EventType::ProposalAction, body);
        assert_eq!(plan.writes.len(), 2);
        assert!(plan.writes[plan.primary].set.iter().any(|(name, _)| name == "last_event"));
    }
}

/// Where a `DOC#` item stands in the download: `RECORDED` (named by an event, not to be fetched),
/// then `QUEUED -> FETCHING -> STORED | FAILED`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FetchStatus {
    Recorded,
    Queued,
    Fetching,
    Stored,
    Failed,
}

impl FetchStatus {
    pub const ALL: [Self; 5] = [Self::Recorded, Self::Queued, Self::Fetching, Self::Stored, Self::Failed];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Recorded => "RECORDED",
            Self::Queued => "QUEUED",
            Self::Fetching => "FETCHING",
            Self::Stored => "STORED",
            Self::Failed => "FAILED",
        }
    }
}

impl std::fmt::Display for FetchStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for FetchStatus {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL.into_iter().find(|status| status.as_str() == s).ok_or_else(|| format!("{s:?} is not a fetch status"))
    }
}

/// A delivery record's state: being applied (with a lease), or applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeliveryState {
    Applying,
    Done,
}

impl DeliveryState {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Applying => "APPLYING",
            Self::Done => "DONE",
        }
    }
}

impl std::fmt::Display for DeliveryState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for DeliveryState {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [Self::Applying, Self::Done]
            .into_iter()
            .find(|state| state.as_str() == s)
            .ok_or_else(|| format!("{s:?} is not a delivery state"))
    }
}

/// The deduplication item of a delivery: `EVENT#<event>#<sha256>` / `EVENT`: the same body on
/// two routes is two events.
pub fn delivery_key(event: EventType, body_sha256: &str) -> (String, &'static str) {
    (format!("EVENT#{event}#{body_sha256}"), "EVENT")
}

/// Where a document is stored: `contracts/<site>/<quote>/<document uuid>/<file name>`, the quote
/// being `no-quote` when the event named none and the name sanitised ([`sanitize_file_name`]).
pub fn document_key(site: SiteId, quote: Option<QuoteId>, document: DocumentId, name: Option<&str>) -> String {
    let quote = quote.map_or_else(|| "no-quote".to_owned(), |q| q.to_string());
    let name = sanitize_file_name(name.unwrap_or_default());
    format!("contracts/{site}/{quote}/{document}/{name}")
}

/// The longest file name kept, in bytes.
const MAX_FILE_NAME: usize = 200;

/// A file name safe as the last segment of an S3 key: path separators and control characters
/// become `_`, leading dots and surrounding spaces go, at most 200 bytes; `document.pdf` if
/// nothing is left.
pub fn sanitize_file_name(name: &str) -> String {
    let cleaned: String = name.chars().map(|c| if c.is_control() || c == '/' || c == '\\' { '_' } else { c }).collect();
    let trimmed = cleaned.trim_start_matches(|c: char| c == '.' || c.is_whitespace()).trim_end();
    let mut end = trimmed.len().min(MAX_FILE_NAME);
    while !trimmed.is_char_boundary(end) {
        end -= 1;
    }
    match trimmed[..end].trim_end() {
        "" => "document.pdf".to_owned(),
        kept => kept.to_owned(),
    }
}

#[cfg(test)]
mod key_tests {
    use super::*;

    #[test]
    fn statuses_read_back_what_they_write_and_refuse_anything_else() {
        for status in FetchStatus::ALL {
            assert_eq!(status.to_string().parse::<FetchStatus>(), Ok(status));
        }
        for state in [DeliveryState::Applying, DeliveryState::Done] {
            assert_eq!(state.to_string().parse::<DeliveryState>(), Ok(state));
        }
        assert!("stored".parse::<FetchStatus>().is_err() && "".parse::<DeliveryState>().is_err());
    }

    #[test]
    fn file_names_cannot_climb_out_of_their_folder() {
        assert_eq!(sanitize_file_name("../../etc/passwd"), "_.._etc_passwd");
        assert_eq!(sanitize_file_name("..\\..\\x.pdf"), "_.._x.pdf");
        assert_eq!(sanitize_file_name("a\u{0}b\nc.pdf"), "a_b_c.pdf");
        assert_eq!(sanitize_file_name("  ...  "), "document.pdf");
        assert_eq!(sanitize_file_name("Installation Agreement - Signed.pdf"), "Installation Agreement - Signed.pdf");
    }

    #[test]
    fn a_name_of_dots_and_spaces_in_turn_loses_every_leading_dot() {
        // Found by the key property below: dots, then spaces, then dots again kept a leading dot.
        assert_eq!(sanitize_file_name(". . .x"), "x");
        assert_eq!(sanitize_file_name(" . . ..hidden.pdf"), "hidden.pdf");
    }

    #[test]
    fn long_names_are_cut_on_a_character_boundary() {
        let name = "é".repeat(300);
        let kept = sanitize_file_name(&name);
        assert!(kept.len() <= MAX_FILE_NAME && kept.chars().all(|c| c == 'é'));
    }

    proptest::proptest! {
        #[test]
        fn any_name_becomes_one_safe_key_segment(name in proptest::prelude::any::<String>()) {
            let site: SiteId = "34b6b5ee-f997-4044-86ae-0abbf611fc4d".parse().unwrap();
            let document: DocumentId = "3f230ca4-b147-49ae-9187-8b64c7eea62c".parse().unwrap();
            let key = document_key(site, None, document, Some(&name));
            let segments: Vec<&str> = key.split('/').collect();
            proptest::prop_assert_eq!(segments.len(), 5, "{:?}", key);
            let file = segments[4];
            proptest::prop_assert!(!file.is_empty() && !file.starts_with('.'), "{:?}", file);
            proptest::prop_assert!(!file.chars().any(|c| c.is_control() || c == '\\'), "{:?}", file);
            proptest::prop_assert!(file.len() <= MAX_FILE_NAME);
        }

        #[test]
        fn traversal_in_any_disguise_stays_in_its_folder(
            parts in proptest::collection::vec("(\\.\\.|\\.|/|\\\\|%2e|%2f|\\x00| |\\t|[a-z]{1,3})", 0..12)
        ) {
            let name = parts.concat();
            let file = sanitize_file_name(&name);
            proptest::prop_assert!(!file.contains('/') && !file.starts_with('.'), "{:?} -> {:?}", name, file);
        }
    }

    #[test]
    fn document_keys_name_site_quote_and_document() {
        let site: SiteId = "34b6b5ee-f997-4044-86ae-0abbf611fc4d".parse().unwrap();
        let document: DocumentId = "3f230ca4-b147-49ae-9187-8b64c7eea62c".parse().unwrap();
        assert_eq!(
            document_key(site, None, document, Some("a/b.pdf")),
            "contracts/34b6b5ee-f997-4044-86ae-0abbf611fc4d/no-quote/3f230ca4-b147-49ae-9187-8b64c7eea62c/a_b.pdf"
        );
    }
}
