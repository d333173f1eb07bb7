//! The deliveries of the reliability scenario, generated from the sample payloads in
//! `events/payloads/`: for each site a contract generated, sent and signed (some voided and
//! signed again with new documents), a change order sent and signed, a milestone submitted and
//! approved with an upload whose quote was re-signed as the change order's, a stage transition,
//! sometimes the site archived, now and then a body that is not JSON; then shuffled, with some
//! delivered more than once.

use std::path::Path;

use std::collections::BTreeMap;

use domain::archive::{Caller, RawRequest};
use domain::ids::{DocumentId, QuoteId, SiteId};
use domain::job;
use domain::timestamp::Timestamp;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

/// One webhook as EverBright would send it.
#[derive(Clone, Debug)]
pub struct Event {
    pub site: usize,
    pub slug: &'static str,
    pub method: &'static str,
    pub body: Vec<u8>,
}

impl Event {
    /// The event as the archive would hold it, the `position`-th delivery of a run (its own
    /// request id, received a second after the one before), for `Receiver::replay`.
    pub fn raw(&self, position: usize) -> RawRequest {
        RawRequest {
            event_id: format!("delivery-{position}"),
            event: self.slug.to_owned(),
            received_at: Timestamp::from_millis(1_750_000_000_000 + position as i64 * 1_000),
            method: self.method.to_owned(),
            path: format!("/prod/webhooks/{}", self.slug),
            headers: Default::default(),
            caller: Caller::default(),
            body_sha256: hex::encode(Sha256::digest(&self.body)),
            body_base64: RawRequest::encode_body(&self.body),
        }
    }
}

/// A document a signed contract, change order or milestone names for download.
#[derive(Clone, Debug)]
pub struct ExpectedDocument {
    pub site: SiteId,
    pub document: DocumentId,
    /// Where it must end up, unless it is hopeless.
    pub key: String,
    /// EverBright answers 404 for it, always: it can never be stored.
    pub hopeless: bool,
}

/// What was generated.
#[derive(Debug)]
pub struct Generated {
    pub sites: Vec<SiteId>,
    /// Every distinct event, each site's in the order EverBright emitted them.
    pub events: Vec<Event>,
    /// The deliveries: indices into `events`, shuffled, some repeated.
    pub deliveries: Vec<usize>,
    /// How many distinct events were delivered more than once.
    pub duplicated: usize,
    pub documents: Vec<ExpectedDocument>,
    /// What EverBright's data API answers: the quote each milestone's quote was signed as.
    pub signed_quotes: Vec<(QuoteId, QuoteId)>,
}

struct Templates {
    contract: Value,
    change_order: Value,
    milestone: Value,
    stage: Value,
}

fn load(dir: &Path, name: &str) -> Value {
    let text = std::fs::read_to_string(dir.join(format!("{name}.json"))).expect("a sample payload");
    serde_json::from_str(&text).expect("sample payloads are JSON")
}

struct Ids<'a>(&'a mut fastrand::Rng);

impl Ids<'_> {
    fn uuid(&mut self) -> String {
        uuid::Uuid::from_u128(self.0.u128(..)).to_string()
    }
}

fn at(base_ms: i64, minutes: i64) -> String {
    Timestamp::from_millis(base_ms + minutes * 60_000).to_string()
}

fn document(template: &Value, uuid: &str, name: &str, creation_type: &str, created: &str) -> Value {
    let mut document = template.clone();
    document["uuid"] = json!(uuid);
    document["name"] = json!(name);
    document["creation_type"] = json!(creation_type);
    document["date_created"] = json!(created);
    document
}

/// File names EverBright's users give uploads, some of them hostile to a file system or a key.
const NAMES: [&str; 6] = [
    "Installation Agreement - Signed.pdf",
    "Certificate of Completion - Signed.pdf",
    "../../../etc/passwd",
    "Permit\u{0}\u{7}\r\n(final).pdf",
    "..\\..\\windows\\win.ini",
    "Utility bill ☀️ März.pdf",
];

/// Generates the scenario: `sites` sites, about `deliveries` deliveries, from `seed`.
pub fn generate(payloads: &Path, sites: usize, deliveries: usize, seed: u64) -> Generated {
    let templates = Templates {
        contract: load(payloads, "contract-signed"),
        change_order: load(payloads, "change-order-signed"),
        milestone: load(payloads, "milestone-approved"),
        stage: load(payloads, "stage-transition"),
    };
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut generated = Generated {
        sites: Vec::new(),
        events: Vec::new(),
        deliveries: Vec::new(),
        duplicated: 0,
        documents: Vec::new(),
        signed_quotes: Vec::new(),
    };
    for index in 0..sites {
        site_events(&templates, &mut rng, index, &mut generated);
    }

    let distinct = generated.events.len();
    let mut order: Vec<usize> = (0..distinct).collect();
    let extra = deliveries.saturating_sub(distinct);
    let mut repeated: Vec<usize> = Vec::new();
    let mut candidates = order.clone();
    rng.shuffle(&mut candidates);
    // About 30% of the events are delivered twice or more; the copies left go to those.
    let twice = (distinct * 3 / 10).min(extra);
    repeated.extend(&candidates[..twice]);
    for i in 0..extra - twice {
        repeated.push(candidates[i % twice.max(1)]);
    }
    generated.duplicated = twice;
    order.extend(repeated);
    rng.shuffle(&mut order);
    generated.deliveries = order;
    generated
}

fn site_events(t: &Templates, rng: &mut fastrand::Rng, index: usize, out: &mut Generated) {
    let mut ids = Ids(rng);
    let site = ids.uuid();
    let site_id: SiteId = site.parse().expect("a uuid");
    out.sites.push(site_id);
    let quote = ids.uuid();
    let new_quote = ids.uuid();
    let milestone = ids.uuid();
    let contract_task = ids.uuid();
    let change_task = ids.uuid();
    // Each site's story starts on its own day in 2024.
    let base = 1_704_067_200_000 + index as i64 * 86_400_000;
    let mut events = Vec::new();
    let mut push = |slug: &'static str, method: &'static str, body: &Value| {
        events.push(Event { site: index, slug, method, body: body.to_string().into_bytes() });
    };
    let doc_template = t.contract["sub_tasks"][0]["data"]["documents"][1].clone();
    let generated_contract = (ids.uuid(), at(base, 10));

    let uploads = |ids: &mut Ids<'_>, count: usize, created: &str, quote: &str, out: &mut Generated| {
        let mut documents = Vec::new();
        for _ in 0..count {
            let uuid = ids.uuid();
            let name = NAMES[ids.0.usize(..NAMES.len())];
            let hopeless = ids.0.u8(..100) < 4;
            let document: DocumentId = uuid.parse().expect("a uuid");
            let quote: QuoteId = quote.parse().expect("a uuid");
            let key = job::document_key(&job::JobKey::default_tenant(site_id), Some(quote), document, Some(name));
            out.documents.push(ExpectedDocument { site: site_id, document, key, hopeless });
            documents.push(crate::scenario::document(&doc_template, &uuid, name, "UPLOADED", created));
        }
        documents
    };

    // The contract: generated, sent, signed; sometimes voided and signed again with new copies.
    let contract = |status: &str, minutes: i64, documents: Vec<Value>, envelopes: Vec<Value>| {
        let mut body = t.contract.clone();
        body["uuid"] = json!(contract_task);
        body["site"] = json!(site);
        body["quote"] = json!(quote);
        body["milestone"] = json!(milestone);
        body["date_updated"] = json!(at(base, 0));
        body["comments"] = json!([{ "uuid": contract_task, "timestamp": at(base, minutes), "comment_type": "AUTO" }]);
        let sub_task = &mut body["sub_tasks"][0];
        sub_task["document_status"] = json!(status);
        sub_task["status"] = json!(if status == "SIGN" { "COMP" } else { "INCM" });
        sub_task["data"]["documents"] = Value::Array(documents);
        sub_task["data"]["envelopes"] = Value::Array(envelopes);
        body
    };
    let envelope = |status: &str, sent: i64, signed: Option<i64>, voided: Option<i64>| {
        let mut envelope = t.contract["sub_tasks"][0]["data"]["envelopes"][0].clone();
        envelope["status"] = json!(status);
        envelope["date_sent"] = json!(at(base, sent));
        envelope["date_signed"] = signed.map_or(Value::Null, |m| json!(at(base, m)));
        envelope["date_voided"] = voided.map_or(Value::Null, |m| json!(at(base, m)));
        envelope
    };
    let generated_doc =
        document(&doc_template, &generated_contract.0, "Contract.pdf", "GENERATED", &generated_contract.1);
    push("contract-status-change", "POST", &contract("GEN", 10, vec![generated_doc.clone()], vec![]));
    push(
        "contract-status-change",
        "POST",
        &contract("SENT", 20, vec![generated_doc.clone()], vec![envelope("SENT", 20, None, None)]),
    );
    let copies = 2 + ids.0.usize(..3);
    let signed_copies = uploads(&mut ids, copies, &at(base, 30), &quote, out);
    let mut signed_documents = vec![generated_doc.clone()];
    signed_documents.extend(signed_copies.clone());
    push(
        "homeowners-signed-contract",
        "POST",
        &contract("SIGN", 30, signed_documents.clone(), vec![envelope("COMP", 20, Some(30), None)]),
    );
    if ids.0.u8(..100) < 30 {
        let voided = vec![envelope("VOID", 20, Some(30), Some(40))];
        push("contract-status-change", "POST", &contract("VOID", 40, signed_documents.clone(), voided.clone()));
        let again = uploads(&mut ids, 2, &at(base, 50), &quote, out);
        let mut documents = signed_documents.clone();
        documents.extend(again);
        let mut envelopes = voided;
        envelopes.push(envelope("COMP", 45, Some(50), None));
        push("contract-status-change", "POST", &contract("SIGN", 50, documents, envelopes));
    }

    // The change order: sometimes its sending is seen, always its signature.
    let change_order = |status: &str, minutes: i64, documents: Vec<Value>| {
        let mut body = t.change_order.clone();
        body["uuid"] = json!(change_task);
        body["site"] = json!(site);
        body["quote"] = json!(quote);
        body["new_quote"] = json!(new_quote);
        body["milestone"] = json!(milestone);
        body["date_updated"] = json!(at(base, 60));
        body["comments"] = json!([{ "uuid": change_task, "timestamp": at(base, minutes), "comment_type": "AUTO" }]);
        let sub_task = &mut body["sub_tasks"][0];
        sub_task["document_status"] = json!(status);
        sub_task["data"]["documents"] = Value::Array(documents);
        let mut envelope = sub_task["data"]["envelopes"][1].clone();
        envelope["status"] = json!(if status == "SIGN" { "COMP" } else { "SENT" });
        envelope["date_sent"] = json!(at(base, 65));
        envelope["date_signed"] = if status == "SIGN" { json!(at(base, minutes)) } else { Value::Null };
        sub_task["data"]["envelopes"] = json!([envelope]);
        body
    };
    let change_generated = document(&doc_template, &ids.uuid(), "Contract.pdf", "GENERATED", &at(base, 61));
    if ids.0.bool() {
        push("change-order-status-change", "POST", &change_order("SENT", 65, vec![change_generated.clone()]));
    }
    let mut change_documents = vec![change_generated];
    change_documents.extend(uploads(&mut ids, 1, &at(base, 70), &new_quote, out));
    push("change-order-status-change", "POST", &change_order("SIGN", 70, change_documents));

    // The milestone: sometimes its submission is seen, always its approval; its quote was
    // re-signed as the change order's new quote.
    out.signed_quotes.push((quote.parse().expect("a uuid"), new_quote.parse().expect("a uuid")));
    let milestone_tasks = [ids.uuid(), ids.uuid()];
    let inspection = uploads(&mut ids, 1, &at(base, 80), &quote, out);
    let milestone_event = |status: &str, minutes: i64| {
        let mut body = t.milestone.clone();
        body["uuid"] = json!(milestone);
        body["site"] = json!(site);
        body["quote"] = json!(quote);
        body["status"] = json!(status);
        body["date_updated"] = json!(at(base, minutes));
        body["comments"] = json!([{ "timestamp": at(base, minutes) }]);
        for (task, uuid) in body["tasks"].as_array_mut().into_iter().flatten().zip(&milestone_tasks) {
            task["uuid"] = json!(uuid);
            task["status"] = json!(status);
        }
        body["tasks"][1]["sub_tasks"][0]["data"]["documents"] = Value::Array(inspection.clone());
        // The re-sign, completed within the milestone: a signed DOCUMENT sub-task.
        body["tasks"][0]["sub_tasks"][1]["document_status"] = json!("SIGN");
        body
    };
    if ids.0.bool() {
        push("milestone-status-change", "POST", &milestone_event("SUBMITTED", 85));
    }
    push("milestone-status-change", "POST", &milestone_event("APPROVED", 90));

    let mut stage = t.stage.clone();
    stage["site_id"] = json!(site);
    push("stage-transition", "POST", &stage);
    if ids.0.u8(..100) < 10 {
        push("site-archived", "PATCH", &json!({ "site": site, "date_updated": at(base, 100) }));
    }
    if ids.0.u8(..100) < 5 {
        events.push(Event {
            site: index,
            slug: "contract-status-change",
            method: "POST",
            body: format!("{{\"site\": \"{site}\", \"uuid\": ").into_bytes(),
        });
    }
    out.events.extend(events);
}

/// Attributes that say when or by which request something happened, not what the job is: they
/// differ between any two runs. `last_event` and a stage's `at`/`version` follow the order of
/// receipt by design (a stage transition carries no timestamp).
const VOLATILE: [&str; 28] = [
    "last_event",
    "event_id",
    "queued_at",
    "queued_by",
    "fetch_started_at",
    "stored_at",
    // Which version S3 gave the object: a fresh one in each run.
    "s3_version_id",
    "failed_at",
    "attempts",
    "last_error",
    "lease_owner",
    "lease_until",
    "claimed_at",
    "done_at",
    "expires_at",
    "failure",
    // A signature's details: when they were asked for and read, by which delivery, and the raw
    // answers' keys (named by the time of reading).
    "requested_at",
    "requested_by",
    "enriched_at",
    "raw",
    "last_error_at",
    // When work started waiting, was last taken up or answered, and why it was given up (the
    // failure's words name the run's stand-in); how often a sweep sent it again.
    "pending_since",
    "active_at",
    "answered_at",
    "gave_up",
    "gave_up_at",
    "sweeps",
    "last_swept_at",
];

/// The state of the jobs in `items`, without [`VOLATILE`] attributes; delivery records keep
/// only their key, state and event.
pub fn job_state(
    items: impl IntoIterator<Item = Map<String, Value>>,
) -> BTreeMap<(String, String), Map<String, Value>> {
    items
        .into_iter()
        // The publication log says when each event went out, which differs from run to run.
        .filter(|item| !item["sk"].as_str().is_some_and(|sk| sk.starts_with(aws::schema::PUBLISHED)))
        .map(|mut item| {
            let key = (
                item["pk"].as_str().unwrap_or_default().to_owned(),
                item["sk"].as_str().unwrap_or_default().to_owned(),
            );
            if key.0.starts_with("EVENT#") {
                item.retain(|name, _| ["pk", "sk", "state", "event"].contains(&name.as_str()));
                return (key, item);
            }
            if let Some(failure) = item.get("failure") {
                item.insert("has_failure".into(), Value::Bool(failure.as_str().is_some_and(|f| !f.is_empty())));
            }
            item.retain(|name, _| !VOLATILE.contains(&name.as_str()));
            // Which delivery made a part differs from run to run (each request has its own id).
            for value in item.values_mut() {
                if let Value::Object(part) = value {
                    part.remove("event_id");
                }
            }
            if let Some(Value::Object(stage)) = item.get_mut("stage") {
                stage.remove("at");
                stage.remove("version");
            }
            if let Some(Value::Object(signed)) = item.get_mut("signed_quote") {
                signed.remove("checked_at");
            }
            if let Some(Value::Array(quotes)) = item.get_mut("quotes") {
                quotes.sort_by_key(ToString::to_string);
            }
            (key, item)
        })
        .collect()
}
