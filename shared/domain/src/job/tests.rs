//! The planner's tests, on the sample payloads and on payloads made for each rule.

use super::*;

fn cx(event: EventType) -> PlanContext<'static> {
    PlanContext {
        event,
        event_id: "a5c1e7e0-0000-4000-8000-000000000001",
        received_at: "2023-07-12T19:22:52Z".parse().unwrap(),
        fetch_milestone_documents: true,
    }
}

fn plan_of(event: EventType, body: &str) -> Plan {
    plan(&event.parse(body.as_bytes()).unwrap(), &cx(event)).expect("a site")
}

/// The change of the summary's `part`: its version and value.
fn summary(changes: &[Change], part: Part) -> (i64, &Map<String, Value>) {
    changes
        .iter()
        .find_map(|change| match change {
            Change::Summary { part: p, version, value } if *p == part => Some((*version, value)),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no change of {part:?}: {changes:#?}"))
}

/// A task's or milestone's change: its id, version and fields.
fn item(change: &Change) -> (String, i64, &Map<String, Value>) {
    match change {
        Change::Task { task, version, fields } => (format!("task {task}"), *version, fields),
        Change::Milestone { milestone, version, fields } => (format!("milestone {milestone}"), *version, fields),
        other => panic!("not a task or milestone: {other:?}"),
    }
}

/// What each change is about, in order: `job`, `summary <part>`, `stage`, `task <id>`, `milestone <id>`.
fn names(changes: &[Change]) -> Vec<String> {
    changes
        .iter()
        .map(|change| match change {
            Change::Job { .. } => "job".to_owned(),
            Change::Summary { part, .. } => format!("summary {}", part.name()),
            Change::Stage { .. } => "stage".to_owned(),
            Change::Task { .. } | Change::Milestone { .. } => item(change).0,
        })
        .collect()
}

#[test]
fn the_signed_contract_queues_its_nine_uploaded_documents_and_records_the_generated_one() {
    let plan =
        plan_of(EventType::ContractStatusChange, include_str!("../../../../events/payloads/contract-signed.json"));
    assert_eq!(plan.documents.len(), 10);
    assert_eq!(plan.documents.iter().filter(|d| d.fetch).count(), 9);
    let generated = plan.documents.iter().find(|d| d.creation_type.as_deref() == Some("GENERATED")).unwrap();
    assert!(!generated.fetch);
}

#[test]
fn the_contract_task_is_the_primary_write_versioned_by_its_last_activity() {
    let plan =
        plan_of(EventType::ContractStatusChange, include_str!("../../../../events/payloads/contract-signed.json"));
    let (task, version, fields) = item(&plan.changes[plan.primary]);
    assert_eq!(task, "task fb04303e-da8f-413a-b9fc-b91dedf10707");
    let expected: Timestamp = "2023-07-12T19:22:47.921491Z".parse().unwrap();
    assert_eq!(version, expected.micros());
    assert_eq!(plan.identity, Identity::Body);
    assert_eq!(fields["document_status"], "SIGN");
    let (_, contract) = summary(&plan.changes, Part::Contract);
    assert_eq!(contract["signed_at"], "2023-07-12T19:22:17.752365Z");
}

#[test]
fn a_signed_change_order_moves_the_current_quote_to_its_new_quote() {
    let plan = plan_of(
        EventType::ChangeOrderStatusChange,
        include_str!("../../../../events/payloads/change-order-signed.json"),
    );
    let (version, current) = summary(&plan.changes, Part::CurrentQuote);
    assert_eq!(current["quote"], "f402dbad-d8c1-4791-8ce1-b5b585027ffb");
    assert_eq!(current["source"], "change_order");
    assert!(version > SIGNED_RANK);
}

#[test]
fn an_unsigned_change_order_leaves_the_current_quote_alone() {
    let body = include_str!("../../../../events/payloads/change-order-signed.json")
        .replace(r#""document_status": "SIGN""#, r#""document_status": "SENT""#);
    let plan = plan_of(EventType::ChangeOrderStatusChange, &body);
    assert!(
        !plan.changes.iter().any(|c| matches!(c, Change::Summary { part: Part::CurrentQuote, .. })),
        "{:#?}",
        plan.changes
    );
    assert!(plan.documents.iter().all(|d| !d.fetch));
}

#[test]
fn a_milestone_records_its_tasks_and_queues_uploads() {
    let plan =
        plan_of(EventType::MilestoneStatusChange, include_str!("../../../../events/payloads/milestone-approved.json"));
    assert_eq!(item(&plan.changes[plan.primary]).0, "milestone 7a605ec8-d276-4d6c-bd47-52a483e28783");
    let tasks: Vec<String> = names(&plan.changes).into_iter().filter(|name| name.starts_with("task ")).collect();
    assert_eq!(tasks.len(), 2, "both of the milestone's tasks: {tasks:?}");
    let fetched: Vec<_> = plan.documents.iter().filter(|d| d.fetch).map(|d| d.id.to_string()).collect();
    assert_eq!(fetched, ["189bd7c0-2e6f-45cb-a00e-33ca4fe297d2"]);
    assert_eq!(plan.lookup, None, "no re-sign in it");
    let (_, current) = summary(&plan.changes, Part::CurrentQuote);
    assert_eq!(current["quote"], "8ba871ae-3282-420c-af3f-ddc41ac50273");
    assert_eq!(current["source"], "milestone");
    let milestone: MilestoneId = "7a605ec8-d276-4d6c-bd47-52a483e28783".parse().unwrap();
    assert_eq!(summary(&plan.changes, Part::Milestone(milestone)).1["status"], "APPROVED");
}

#[test]
fn a_re_sign_completed_within_a_milestone_asks_for_the_signed_quote_with_the_milestones_version() {
    let body = include_str!("../../../../events/payloads/milestone-approved.json");
    let mut json: Value = serde_json::from_str(body).unwrap();
    json["tasks"][0]["sub_tasks"][1]["document_status"] = json!("SIGN");
    let plan = plan_of(EventType::MilestoneStatusChange, &json.to_string());
    let lookup = plan.lookup.clone().expect("a look-up");
    assert_eq!(lookup.quote.to_string(), "8ba871ae-3282-420c-af3f-ddc41ac50273");
    assert_eq!(lookup.milestone.unwrap().to_string(), "7a605ec8-d276-4d6c-bd47-52a483e28783");
    assert_eq!(lookup.version, item(&plan.changes[plan.primary]).1);
}

#[test]
fn a_contract_signed_again_after_a_void_asks_for_the_signed_quote() {
    let body = include_str!("../../../../events/payloads/contract-signed.json");
    assert_eq!(plan_of(EventType::ContractStatusChange, body).lookup, None);
    let mut json: Value = serde_json::from_str(body).unwrap();
    let envelopes = json["sub_tasks"][0]["data"]["envelopes"].as_array_mut().unwrap();
    envelopes.push(json!({"status": "VOID", "document_group": "0c7ab4d8-0f0e-4b47-9d0e-3d7c2a1f4e55"}));
    let plan = plan_of(EventType::ContractStatusChange, &json.to_string());
    assert_eq!(plan.lookup.unwrap().quote.to_string(), "042e6753-6b06-457d-9efd-70f047f4d348");
}

#[test]
fn a_look_up_that_found_another_quote_indexes_it_and_makes_it_current_under_the_signature_rank() {
    let original: QuoteId = "8ba871ae-3282-420c-af3f-ddc41ac50273".parse().unwrap();
    let signed: QuoteId = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee".parse().unwrap();
    let lookup = SignedQuoteLookup { quote: original, milestone: None, version: 42 };
    let now = Timestamp::now();
    let changes = plan_signed_quote(&lookup, Some(signed), now);
    assert_eq!(summary(&changes, Part::SignedQuote).0, 42);
    assert!(changes.contains(&Change::Job { quotes: vec![signed] }), "the signed quote is indexed: {changes:#?}");
    let (version, current) = summary(&changes, Part::CurrentQuote);
    assert_eq!(current["quote"], signed.to_string());
    assert_eq!(version, 42 + SIGNED_RANK);
    assert_eq!(names(&changes), ["summary signed_quote", "job", "summary current_quote"]);
    // Signed as itself, or not at all: recorded, and nothing else moves.
    assert_eq!(names(&plan_signed_quote(&lookup, Some(original), now)), ["summary signed_quote"]);
    assert_eq!(names(&plan_signed_quote(&lookup, None, now)), ["summary signed_quote"]);
}

#[test]
fn a_change_order_marks_its_completed_envelopes_upload_as_the_signed_copy() {
    let plan = plan_of(
        EventType::ChangeOrderStatusChange,
        include_str!("../../../../events/payloads/change-order-signed.json"),
    );
    let (_, change_order) = summary(&plan.changes, Part::ChangeOrder);
    assert_eq!(change_order["signed_copies"], json!(["af7f4ab9-1839-40a5-9f09-6196bec521fa"]));
    let (_, _, task) = item(&plan.changes[plan.primary]);
    let envelopes = &task["envelopes"];
    assert_eq!(envelopes[0], json!({"document_group": "fb50e41e-9a47-44e1-bbbb-4bd31cca51f8", "status": "VOID"}));
    assert_eq!(envelopes[1], json!({"document_group": "fa1d258b-ac16-4363-9732-a70a6223e7b9", "status": "COMP"}));
    let voided = plan.documents.iter().find(|d| d.id.to_string() == "de66a0c5-f0e6-42cf-9a90-0e9b2a6f49f9").unwrap();
    assert_eq!(voided.document_group.as_deref(), Some("fb50e41e-9a47-44e1-bbbb-4bd31cca51f8"));
}

#[test]
fn milestone_uploads_are_only_recorded_when_configured_off() {
    let event = EventType::MilestoneStatusChange;
    let payload = event.parse(include_bytes!("../../../../events/payloads/milestone-approved.json")).unwrap();
    let plan = plan(&payload, &PlanContext { fetch_milestone_documents: false, ..cx(event) }).unwrap();
    assert_eq!(plan.documents.len(), 1);
    assert!(!plan.documents[0].fetch);
}

#[test]
fn every_event_touches_the_job_with_its_quotes_and_last_event() {
    let plan = plan_of(
        EventType::ChangeOrderStatusChange,
        include_str!("../../../../events/payloads/change-order-signed.json"),
    );
    let quote: QuoteId = "f402dbad-d8c1-4791-8ce1-b5b585027ffb".parse().unwrap();
    assert!(plan.changes.contains(&Change::Job { quotes: vec![quote] }), "{:#?}", plan.changes);
    let (_, last) = summary(&plan.changes, Part::LastEvent);
    assert_eq!(last["event"], "change-order-status-change");
}

#[test]
fn a_stage_transition_moves_only_from_the_stage_it_names_and_is_primary() {
    let plan = plan_of(EventType::StageTransition, include_str!("../../../../events/payloads/stage-transition.json"));
    let Change::Stage { from, value } = &plan.changes[plan.primary] else { panic!("{:#?}", plan.changes) };
    assert_eq!(value["name"], "Installation");
    assert_eq!(from.as_deref(), Some("0f3a8c52-5c0e-4a8e-9d0e-6f1b7f2f1a10"));
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
    let plan = plan_of(EventType::SiteArchived, include_str!("../../../../events/payloads/site-archived.json"));
    assert!(matches!(plan.changes[plan.primary], Change::Summary { part: Part::Archived, .. }));
}

#[test]
fn a_generic_event_only_touches_the_job() {
    let body = r#"{"site":"34b6b5ee-f997-4044-86ae-0abbf611fc4d"}"#;
    let plan = plan_of(EventType::ProposalAction, body);
    assert_eq!(names(&plan.changes), ["summary last_event", "job"]);
    assert!(matches!(plan.changes[plan.primary], Change::Summary { part: Part::LastEvent, .. }));
}
