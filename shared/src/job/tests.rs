//! The planner's tests, on the sample payloads and on payloads made for each rule.

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
    let plan = plan_of(EventType::ContractStatusChange, include_str!("../../../events/payloads/contract-signed.json"));
    assert_eq!(plan.documents.len(), 10);
    assert_eq!(plan.documents.iter().filter(|d| d.fetch).count(), 9);
    let generated = plan.documents.iter().find(|d| d.creation_type.as_deref() == Some("GENERATED")).unwrap();
    assert!(!generated.fetch);
}

#[test]
fn the_contract_task_is_the_primary_write_versioned_by_its_last_activity() {
    let plan = plan_of(EventType::ContractStatusChange, include_str!("../../../events/payloads/contract-signed.json"));
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
        plan_of(EventType::ChangeOrderStatusChange, include_str!("../../../events/payloads/change-order-signed.json"));
    let current = write(&plan, JOB, "current_quote");
    assert_eq!(value(current, "current_quote")["quote"], "f402dbad-d8c1-4791-8ce1-b5b585027ffb");
    assert_eq!(value(current, "current_quote")["source"], "change_order");
    let Some(Guard::Version { version, .. }) = current.guard else { panic!("{current:?}") };
    assert!(version > SIGNED_RANK);
}

#[test]
fn an_unsigned_change_order_leaves_the_current_quote_alone() {
    let body = include_str!("../../../events/payloads/change-order-signed.json")
        .replace(r#""document_status": "SIGN""#, r#""document_status": "SENT""#);
    let plan = plan_of(EventType::ChangeOrderStatusChange, &body);
    assert!(!plan.writes.iter().any(|w| w.set.iter().any(|(name, _)| name == "current_quote")));
    assert!(plan.documents.iter().all(|d| !d.fetch));
}

#[test]
fn a_milestone_records_its_tasks_and_queues_uploads() {
    let plan =
        plan_of(EventType::MilestoneStatusChange, include_str!("../../../events/payloads/milestone-approved.json"));
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
    let body = include_str!("../../../events/payloads/milestone-approved.json");
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
    let body = include_str!("../../../events/payloads/contract-signed.json");
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
        plan_of(EventType::ChangeOrderStatusChange, include_str!("../../../events/payloads/change-order-signed.json"));
    let summary = value(write(&plan, JOB, "change_order"), "change_order");
    assert_eq!(summary["signed_copies"], json!(["af7f4ab9-1839-40a5-9f09-6196bec521fa"]));
    let task = &plan.writes[plan.primary];
    let envelopes = value(task, "envelopes");
    assert_eq!(envelopes[0], json!({"document_group": "fb50e41e-9a47-44e1-bbbb-4bd31cca51f8", "status": "VOID"}));
    assert_eq!(envelopes[1], json!({"document_group": "fa1d258b-ac16-4363-9732-a70a6223e7b9", "status": "COMP"}));
    let voided = plan.documents.iter().find(|d| d.id.to_string() == "de66a0c5-f0e6-42cf-9a90-0e9b2a6f49f9").unwrap();
    assert_eq!(voided.document_group.as_deref(), Some("fb50e41e-9a47-44e1-bbbb-4bd31cca51f8"));
}

#[test]
fn milestone_uploads_are_only_recorded_when_configured_off() {
    let event = EventType::MilestoneStatusChange;
    let payload = event.parse(include_bytes!("../../../events/payloads/milestone-approved.json")).unwrap();
    let plan = plan(&payload, &PlanContext { fetch_milestone_documents: false, ..cx(event) }).unwrap();
    assert_eq!(plan.documents.len(), 1);
    assert!(!plan.documents[0].fetch);
}

#[test]
fn every_event_touches_the_job_with_its_quotes_and_last_event() {
    let plan =
        plan_of(EventType::ChangeOrderStatusChange, include_str!("../../../events/payloads/change-order-signed.json"));
    let touch = plan.writes.iter().find(|w| w.add_to_set.is_some()).unwrap();
    assert_eq!(touch.add_to_set.as_ref().unwrap().1, ["f402dbad-d8c1-4791-8ce1-b5b585027ffb"]);
    assert!(plan.writes.iter().any(|w| w.sk == "QUOTE#f402dbad-d8c1-4791-8ce1-b5b585027ffb"));
    let last = value(write(&plan, JOB, "last_event"), "last_event");
    assert_eq!(last["event"], "change-order-status-change");
}

#[test]
fn a_stage_transition_moves_only_from_the_stage_it_names_and_is_primary() {
    let plan = plan_of(EventType::StageTransition, include_str!("../../../events/payloads/stage-transition.json"));
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
    let plan = plan_of(EventType::SiteArchived, include_str!("../../../events/payloads/site-archived.json"));
    assert!(plan.writes[plan.primary].set.iter().any(|(name, _)| name == "archived"));
}

#[test]
fn a_generic_event_only_touches_the_job() {
    let body = r#"{"site":"34b6b5ee-f997-4044-86ae-0abbf611fc4d"}"#;
    let plan = plan_of(EventType::ProposalAction, body);
    assert_eq!(plan.writes.len(), 2);
    assert!(plan.writes[plan.primary].set.iter().any(|(name, _)| name == "last_event"));
}
