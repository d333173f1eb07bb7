//! The mapping's tests: images as the adapter reads them, events as a consumer gets them.

use serde_json::{Map, Value, json};

use super::*;
use crate::tenant::TenantId;

fn job() -> JobKey {
    JobKey::new(TenantId::parse("acme").unwrap(), "34b6b5ee-f997-4044-86ae-0abbf611fc4d".parse().unwrap())
}

fn image(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        other => panic!("not an object: {other}"),
    }
}

const TASK: &str = "e6a5ed9d-3a4f-4a8e-9a3c-0c2b1d0e9f11";
const DOCUMENT: &str = "3f230ca4-b147-49ae-9187-8b64c7eea62c";

fn change_events(
    item: &Item,
    old: Option<Value>,
    new: Option<Value>,
    replay: Option<&Replay>,
) -> Result<Vec<BusEvent>, mapping::Unmapped> {
    let (old, new) = (old.map(image), new.map(image));
    let job = job();
    let change = ItemChange {
        job: &job,
        item,
        old: old.as_ref(),
        new: new.as_ref(),
        committed_at: "2024-05-01T10:00:00Z".parse().unwrap(),
    };
    events(&change, replay)
}

fn contract(status: &str, version: i64) -> Value {
    json!({
        "kind": "contract", "task": TASK, "name": "Contract", "document_status": status,
        "quote": "0c2b1d0e-9f11-4a8e-9a3c-e6a5ed9d3a4f", "signed_at": "2024-05-01T09:59:00Z",
        "version": version, "event_id": "req-1",
    })
}

fn names(events: &[BusEvent]) -> Vec<&'static str> {
    events.iter().map(|event| event.detail_type.name()).collect()
}

#[test]
fn a_contract_signed_is_one_event_with_the_common_fields_and_the_same_id_every_time() {
    let task = Item::Task(TASK.parse().unwrap());
    let first = change_events(&task, Some(contract("SENT", 1)), Some(contract("SIGN", 2)), None).unwrap();
    let again = change_events(&task, Some(contract("SENT", 1)), Some(contract("SIGN", 2)), None).unwrap();
    assert_eq!(names(&first), ["Contract Signed"]);
    assert_eq!(first, again, "the same committed change gives the same event and id");
    let detail = &first[0].detail;
    for field in COMMON {
        assert!(detail.contains_key(field) || field == "replay_id", "{field} missing from {detail:?}");
    }
    assert_eq!(detail["tenant"], "acme");
    assert_eq!(detail["site"], "34b6b5ee-f997-4044-86ae-0abbf611fc4d");
    assert_eq!(detail["quote"], "0c2b1d0e-9f11-4a8e-9a3c-e6a5ed9d3a4f");
    assert_eq!(detail["event_id"], "req-1");
    assert_eq!(detail["task"], TASK);
    assert_eq!(detail["schema_version"], SCHEMA_VERSION);
    assert_eq!(detail["replay"], false);
}

#[test]
fn a_task_written_again_with_its_status_unchanged_publishes_nothing() {
    let task = Item::Task(TASK.parse().unwrap());
    assert!(change_events(&task, Some(contract("SIGN", 2)), Some(contract("SIGN", 2)), None).unwrap().is_empty());
    assert!(change_events(&task, Some(contract("SIGN", 2)), Some(contract("SIGN", 3)), None).unwrap().is_empty());
    assert!(change_events(&task, None, Some(contract("SENT", 1)), None).unwrap().is_empty());
    // Signed, voided, signed again: three events, three ids.
    let signed = change_events(&task, None, Some(contract("SIGN", 2)), None).unwrap();
    let voided = change_events(&task, Some(contract("SIGN", 2)), Some(contract("VOID", 3)), None).unwrap();
    let again = change_events(&task, Some(contract("VOID", 3)), Some(contract("SIGN", 4)), None).unwrap();
    assert_eq!(
        names(&[signed.clone(), voided.clone(), again.clone()].concat()),
        ["Contract Signed", "Contract Voided", "Contract Signed"]
    );
    assert_ne!(signed[0].id, again[0].id);
}

#[test]
fn a_change_order_signed_names_its_new_quote() {
    let task = Item::Task(TASK.parse().unwrap());
    let mut order = contract("SIGN", 5);
    order["kind"] = "change_order".into();
    order["new_quote"] = "9f110c2b-1d0e-4a8e-9a3c-e6a5ed9d3a4f".into();
    let events = change_events(&task, None, Some(order), None).unwrap();
    assert_eq!(names(&events), ["Change Order Signed"]);
    assert_eq!(events[0].detail["new_quote"], "9f110c2b-1d0e-4a8e-9a3c-e6a5ed9d3a4f");
    assert_eq!(events[0].detail["quote"], "9f110c2b-1d0e-4a8e-9a3c-e6a5ed9d3a4f");
}

#[test]
fn the_jobs_summary_says_created_stage_quote_resolved_and_archived() {
    let summary = json!({
        "site": "34b6b5ee-f997-4044-86ae-0abbf611fc4d", "quotes": ["q1"],
        "stage": { "id": "s2", "name": "Install", "previous_id": "s1", "previous_name": "Design", "at": "t", "event_id": "req-2" },
        "current_quote": { "quote": "q1", "source": "contract", "version": 7 },
    });
    let created = change_events(&Item::Job, None, Some(summary.clone()), None).unwrap();
    assert_eq!(names(&created), ["Job Created", "Stage Changed", "Current Quote Changed"]);
    assert_eq!(created[1].detail["from"], json!({ "id": "s1", "name": "Design" }));
    assert_eq!(created[1].detail["to"], json!({ "id": "s2", "name": "Install" }));
    assert_eq!(created[1].detail["event_id"], "req-2");

    let mut later = summary.clone();
    later["signed_quote"] = json!({ "original": "q1", "signed": "q2", "milestone": null, "version": 9 });
    later["archived"] = json!({ "at": "2024-05-02T00:00:00Z", "version": 10 });
    later["last_event"] = json!({ "event": "site-archived", "version": 11 });
    let events = change_events(&Item::Job, Some(summary.clone()), Some(later.clone()), None).unwrap();
    assert_eq!(names(&events), ["Signed Quote Resolved", "Job Archived"]);
    assert_eq!(events[0].detail["signed_quote"], "q2");
    assert_eq!(events[0].detail["quote"], "q2");
    // Only the last event moved: nothing a consumer follows.
    let mut touched = later.clone();
    touched["last_event"] = json!({ "event": "site-archived", "version": 12 });
    assert!(change_events(&Item::Job, Some(later), Some(touched), None).unwrap().is_empty());
}

#[test]
fn a_milestone_publishes_when_its_status_moves() {
    let milestone = Item::Milestone("1d0e9f11-3a4f-4a8e-9a3c-0c2b1d0e9f11".parse().unwrap());
    let at =
        |status: &str, version: i64| json!({ "kind": "milestone", "name": "M1", "status": status, "version": version });
    let events = change_events(&milestone, Some(at("PEND", 1)), Some(at("APPR", 2)), None).unwrap();
    assert_eq!(names(&events), ["Milestone Changed"]);
    assert_eq!(
        (events[0].detail["previous_status"].as_str(), events[0].detail["status"].as_str()),
        (Some("PEND"), Some("APPR"))
    );
    assert!(change_events(&milestone, Some(at("APPR", 2)), Some(at("APPR", 3)), None).unwrap().is_empty());
}

#[test]
fn a_document_is_stored_once_and_fails_for_good_or_for_a_retry() {
    let document = Item::Document(DOCUMENT.parse().unwrap());
    let doc = |status: &str| json!({ "status": status, "task": TASK, "name": "Signed.pdf", "event_id": "req-3", "attempts": 1 });
    let mut stored = doc("STORED");
    stored["s3_key"] = "contracts/x/Signed.pdf".into();
    stored["sha256"] = "ab".repeat(32).into();
    stored["size"] = 1234.into();
    let events = change_events(&document, Some(doc("FETCHING")), Some(stored.clone()), None).unwrap();
    assert_eq!(names(&events), ["Document Stored"]);
    assert_eq!(events[0].detail["s3_key"], "contracts/x/Signed.pdf");
    assert_eq!(events[0].detail["size"], 1234);
    assert_eq!(events[0].detail["file_name"], "Signed.pdf");
    assert!(change_events(&document, Some(stored.clone()), Some(stored), None).unwrap().is_empty());

    let mut failed = doc("FAILED");
    failed["failure"] = "EverBright answered 404".into();
    let events = change_events(&document, Some(doc("FETCHING")), Some(failed), None).unwrap();
    assert_eq!((names(&events)[0], &events[0].detail["for_good"]), ("Document Failed", &json!(true)));

    let mut retried = doc("QUEUED");
    retried["last_error"] = "EverBright answered 503".into();
    let events = change_events(&document, Some(doc("FETCHING")), Some(retried), None).unwrap();
    assert_eq!((names(&events)[0], &events[0].detail["for_good"]), ("Document Failed", &json!(false)));
    // The claim and the lease move nothing a consumer follows.
    assert!(change_events(&document, Some(doc("QUEUED")), Some(doc("FETCHING")), None).unwrap().is_empty());
}

#[test]
fn details_are_recorded_once_per_signature_with_where_their_evidence_is() {
    let details = Item::Details("0c2b1d0e-9f11-4a8e-9a3c-e6a5ed9d3a4f".parse().unwrap());
    let recorded = |version: i64| {
        json!({
            "status": "ENRICHED", "version": version, "signed_quote": "q2", "values": { "system_size_kw": 7.2 },
            "raw": ["dal/site/q/17-quote.json", "dal/site/q/17-site.json"],
        })
    };
    let events = change_events(&details, Some(json!({ "requested_version": 5 })), Some(recorded(5)), None).unwrap();
    assert_eq!(names(&events), ["Details Recorded"]);
    assert_eq!(events[0].detail["evidence_prefix"], "dal/site/q/17");
    assert_eq!(events[0].detail["values"]["system_size_kw"], 7.2);
    assert!(change_events(&details, Some(recorded(5)), Some(recorded(5)), None).unwrap().is_empty());
    assert_eq!(
        names(&change_events(&details, Some(recorded(5)), Some(recorded(6)), None).unwrap()),
        ["Details Recorded"]
    );
}

#[test]
fn a_shape_this_version_does_not_know_is_unmapped_not_guessed() {
    let task = Item::Task(TASK.parse().unwrap());
    let mut newer = contract("SIGN", 2);
    newer["kind"] = "subcontract".into();
    let error = change_events(&task, None, Some(newer), None).unwrap_err();
    assert!(error.to_string().contains("subcontract"), "{error}");
    let document = Item::Document(DOCUMENT.parse().unwrap());
    assert!(change_events(&document, None, Some(json!({ "status": "ARCHIVED" })), None).is_err());
    assert!(change_events(&Item::Bookkeeping, None, Some(json!({ "anything": 1 })), None).unwrap().is_empty());
    assert!(change_events(&task, Some(contract("SIGN", 2)), None, None).unwrap().is_empty(), "a removal");
}

#[test]
fn a_replay_is_marked_and_has_ids_of_its_own() {
    let task = Item::Task(TASK.parse().unwrap());
    let live = change_events(&task, None, Some(contract("SIGN", 2)), None).unwrap();
    let one = Replay { id: "r1".into() };
    let two = Replay { id: "r2".into() };
    let first = change_events(&task, None, Some(contract("SIGN", 2)), Some(&one)).unwrap();
    let second = change_events(&task, None, Some(contract("SIGN", 2)), Some(&two)).unwrap();
    assert_eq!(first[0].detail["replay"], true);
    assert_eq!(first[0].detail["replay_id"], "r1");
    assert!(live[0].id != first[0].id && first[0].id != second[0].id);
}

#[test]
fn a_detail_too_large_for_an_entry_references_what_it_leaves_out() {
    let details = Item::Details("0c2b1d0e-9f11-4a8e-9a3c-e6a5ed9d3a4f".parse().unwrap());
    let big: Map<String, Value> = (0..4000).map(|i| (format!("metric_{i}"), Value::from("x".repeat(80)))).collect();
    let new = json!({ "status": "ENRICHED", "version": 1, "values": big, "raw": ["dal/s/q/1-a.json"] });
    let events = change_events(&details, None, Some(new), None).unwrap();
    let text = events[0].detail_json();
    assert!(text.len() < MAX_ENTRY_BYTES, "{} bytes", text.len());
    let detail: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(detail["omitted"], json!(["values"]));
    assert_eq!(detail["reference"]["evidence_prefix"], "dal/s/q/1");
    assert_eq!(detail["tenant"], "acme");
}

#[test]
fn every_detail_type_has_a_schema_file_name_and_reads_back_by_name() {
    for kind in DetailType::ALL {
        assert_eq!(DetailType::from_name(kind.name()), Some(kind));
        assert!(kind.schema_file().ends_with(".json") && !kind.schema_file().contains(' '));
    }
    assert_eq!(DetailType::ContractSigned.schema_file(), "contract-signed.json");
}
