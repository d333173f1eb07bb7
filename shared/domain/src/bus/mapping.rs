//! From one item's old and new image to the events its change means. A change is an event only
//! when what a consumer cares about moved (a status, a stage, a quote): an item written again with
//! the same content (a redelivery, a lease, a retry's bookkeeping) publishes nothing.

use serde_json::{Map, Value, json};

use super::{Builder, BusEvent, DetailType, Item, ItemChange, Replay};

/// An item this version cannot read as a change of the job (a shape a newer version wrote, a
/// field of the wrong type): logged and counted by the publisher, never retried forever.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{item}: {reason}")]
pub struct Unmapped {
    pub item: String,
    pub reason: String,
}

type Image = Map<String, Value>;

/// The events `change` means, in the order a consumer should see them; a replay's are marked and
/// get ids of their own.
pub fn events(change: &ItemChange<'_>, replay: Option<&Replay>) -> Result<Vec<BusEvent>, Unmapped> {
    let Some(new) = change.new else {
        // A removed item (an operator's repair, a record's TTL): no change a consumer follows.
        return Ok(Vec::new());
    };
    let old = change.old;
    let build = Builder { job: change.job, committed_at: change.committed_at, replay };
    match change.item {
        Item::Job => Ok(job_events(&build, old, new)),
        Item::Task(task) => task_events(&build, &task.to_string(), old, new),
        Item::Milestone(milestone) => Ok(milestone_events(&build, &milestone.to_string(), old, new)),
        Item::Document(document) => document_events(&build, &document.to_string(), old, new),
        Item::Details(quote) => Ok(details_events(&build, &quote.to_string(), old, new)),
        Item::Bookkeeping => Ok(Vec::new()),
    }
}

fn at<'a>(image: Option<&'a Image>, path: &[&str]) -> Option<&'a Value> {
    let (first, rest) = path.split_first()?;
    rest.iter().try_fold(image?.get(*first)?, |value, name| value.get(name))
}

fn text<'a>(image: Option<&'a Image>, path: &[&str]) -> Option<&'a str> {
    at(image, path)?.as_str()
}

fn number(image: Option<&Image>, path: &[&str]) -> Option<i64> {
    at(image, path)?.as_i64()
}

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

fn job_events(build: &Builder<'_>, old: Option<&Image>, new: &Image) -> Vec<BusEvent> {
    let new = Some(new);
    let quote = text(new, &["current_quote", "quote"]);
    let mut events = Vec::new();
    if old.is_none() {
        let quotes = at(new, &["quotes"]).cloned().unwrap_or_else(|| json!([]));
        events.push(build.event(DetailType::JobCreated, &[], quote, None, object(json!({ "quotes": quotes }))));
    }
    let stage_id = |image| text(image, &["stage", "id"]);
    if let Some(to) = stage_id(new).filter(|to| stage_id(old) != Some(to)) {
        let from_id = stage_id(old).or_else(|| text(new, &["stage", "previous_id"]));
        let from_name = text(old, &["stage", "name"]).or_else(|| text(new, &["stage", "previous_name"]));
        let fields = json!({
            "from": { "id": from_id, "name": from_name },
            "to": { "id": to, "name": text(new, &["stage", "name"]) },
        });
        let identity = [from_id.unwrap_or("-"), to, text(new, &["stage", "at"]).unwrap_or("-")];
        events.push(build.event(
            DetailType::StageChanged,
            &identity,
            quote,
            text(new, &["stage", "event_id"]),
            object(fields),
        ));
    }
    let current = |image| text(image, &["current_quote", "quote"]);
    if let Some(to) = current(new).filter(|to| current(old) != Some(to)) {
        let fields = json!({
            "previous_quote": current(old),
            "source": text(new, &["current_quote", "source"]),
        });
        let version = number(new, &["current_quote", "version"]).unwrap_or_default().to_string();
        let event_id = text(new, &["current_quote", "event_id"]);
        events.push(build.event(DetailType::CurrentQuoteChanged, &[to, &version], Some(to), event_id, object(fields)));
    }
    let resolved = |image| (number(image, &["signed_quote", "version"]), text(image, &["signed_quote", "signed"]));
    if resolved(new).0.is_some() && resolved(new) != resolved(old) {
        let original = text(new, &["signed_quote", "original"]);
        let signed = text(new, &["signed_quote", "signed"]);
        let fields = json!({
            "original_quote": original,
            "signed_quote": signed,
            "milestone": text(new, &["signed_quote", "milestone"]),
        });
        let version = resolved(new).0.unwrap_or_default().to_string();
        let identity = [original.unwrap_or("-"), signed.unwrap_or("-"), &version];
        let event_id = text(new, &["signed_quote", "event_id"]);
        events.push(build.event(
            DetailType::SignedQuoteResolved,
            &identity,
            signed.or(original),
            event_id,
            object(fields),
        ));
    }
    if at(new, &["archived"]).is_some() && at(old, &["archived"]).is_none() {
        let archived_at = text(new, &["archived", "at"]);
        let event_id = text(new, &["archived", "event_id"]);
        let fields = json!({ "archived_at": archived_at });
        events.push(build.event(DetailType::JobArchived, &[], quote, event_id, object(fields)));
    }
    events
}

/// The statuses of a contract's or change order's document (EverBright's `document_status`).
const SIGNED: &str = "SIGN";
const VOIDED: &str = "VOID";

fn task_events(build: &Builder<'_>, task: &str, old: Option<&Image>, new: &Image) -> Result<Vec<BusEvent>, Unmapped> {
    let new = Some(new);
    let (signed, voided) = match text(new, &["kind"]) {
        Some("contract") => (DetailType::ContractSigned, DetailType::ContractVoided),
        Some("change_order") => (DetailType::ChangeOrderSigned, DetailType::ChangeOrderVoided),
        Some("milestone_task") => return Ok(Vec::new()),
        other => {
            let reason = format!("a task of kind {other:?}, which this version does not know");
            return Err(Unmapped { item: format!("task {task}"), reason });
        }
    };
    let status = text(new, &["document_status"]);
    let kind = match status {
        Some(SIGNED) => signed,
        Some(VOIDED) => voided,
        _ => return Ok(Vec::new()),
    };
    if text(old, &["document_status"]) == status {
        return Ok(Vec::new());
    }
    let quote = text(new, &["quote"]);
    let mut fields = json!({
        "task": task,
        "name": at(new, &["name"]),
        "signed_at": at(new, &["signed_at"]),
        "date_updated": at(new, &["date_updated"]),
        "milestone": at(new, &["milestone"]),
    });
    if matches!(kind, DetailType::ChangeOrderSigned | DetailType::ChangeOrderVoided) {
        fields["new_quote"] = at(new, &["new_quote"]).cloned().unwrap_or(Value::Null);
    }
    let version = number(new, &["version"]).unwrap_or_default().to_string();
    let quote_of_event =
        if kind == DetailType::ChangeOrderSigned { text(new, &["new_quote"]).or(quote) } else { quote };
    Ok(vec![build.event(kind, &[task, &version], quote_of_event, text(new, &["event_id"]), object(fields))])
}

fn milestone_events(build: &Builder<'_>, milestone: &str, old: Option<&Image>, new: &Image) -> Vec<BusEvent> {
    let new = Some(new);
    let status = text(new, &["status"]);
    if old.is_some() && text(old, &["status"]) == status {
        return Vec::new();
    }
    let fields = json!({
        "milestone": milestone,
        "name": at(new, &["name"]),
        "definition": at(new, &["definition"]),
        "status": status,
        "previous_status": text(old, &["status"]),
    });
    let version = number(new, &["version"]).unwrap_or_default().to_string();
    let identity = [milestone, status.unwrap_or("-"), &version];
    vec![build.event(
        DetailType::MilestoneChanged,
        &identity,
        text(new, &["quote"]),
        text(new, &["event_id"]),
        object(fields),
    )]
}

fn document_events(
    build: &Builder<'_>,
    document: &str,
    old: Option<&Image>,
    new: &Image,
) -> Result<Vec<BusEvent>, Unmapped> {
    let new = Some(new);
    let status = text(new, &["status"]);
    let quote = text(new, &["quote"]);
    let event_id = text(new, &["event_id"]);
    let common = json!({ "document": document, "task": at(new, &["task"]), "file_name": at(new, &["name"]) });
    let event = match status {
        Some("STORED") if text(old, &["status"]) != status => {
            let sha256 = text(new, &["sha256"]).unwrap_or("-");
            let mut fields = common;
            for name in ["s3_key", "s3_version_id", "size", "sha256", "content_type", "stored_at"] {
                fields[name] = at(new, &[name]).cloned().unwrap_or(Value::Null);
            }
            build.event(DetailType::DocumentStored, &[document, sha256], quote, event_id, object(fields))
        }
        Some("FAILED") if text(old, &["status"]) != status => {
            let mut fields = common;
            fields["reason"] = at(new, &["failure"]).cloned().unwrap_or(Value::Null);
            fields["for_good"] = true.into();
            fields["attempts"] = at(new, &["attempts"]).cloned().unwrap_or(Value::Null);
            let failed_at = text(new, &["failed_at"]).unwrap_or("-");
            build.event(DetailType::DocumentFailed, &[document, "for-good", failed_at], quote, event_id, object(fields))
        }
        // A failed attempt given back for a retry: its reason is new.
        Some("QUEUED")
            if text(new, &["last_error"]).is_some() && text(new, &["last_error"]) != text(old, &["last_error"]) =>
        {
            let mut fields = common;
            fields["reason"] = at(new, &["last_error"]).cloned().unwrap_or(Value::Null);
            fields["for_good"] = false.into();
            fields["attempts"] = at(new, &["attempts"]).cloned().unwrap_or(Value::Null);
            let attempts = number(new, &["attempts"]).unwrap_or_default().to_string();
            build.event(DetailType::DocumentFailed, &[document, "retried", &attempts], quote, event_id, object(fields))
        }
        Some("RECORDED" | "QUEUED" | "FETCHING" | "STORED" | "FAILED") => return Ok(Vec::new()),
        other => {
            let reason = format!("a document status {other:?}, which this version does not know");
            return Err(Unmapped { item: format!("document {document}"), reason });
        }
    };
    Ok(vec![event])
}

fn details_events(build: &Builder<'_>, quote: &str, old: Option<&Image>, new: &Image) -> Vec<BusEvent> {
    let new = Some(new);
    let recorded = |image| (text(image, &["status"]) == Some("ENRICHED")).then(|| number(image, &["version"]));
    let Some(version) = recorded(new).filter(|version| *version != recorded(old).flatten()) else {
        return Vec::new();
    };
    let raw: Vec<&str> =
        at(new, &["raw"]).and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).collect();
    // The raw answers are `<prefix>-<what>.json`, the prefix ending in the read's stamp.
    let evidence = raw.first().and_then(|key| key.rsplit_once('/')).map(|(folder, file)| {
        let stamp: String = file.chars().take_while(char::is_ascii_digit).collect();
        format!("{folder}/{stamp}")
    });
    let signed = text(new, &["signed_quote"]);
    let fields = json!({
        "quote_named": quote,
        "signed_quote": signed,
        "details_version": version,
        "evidence_prefix": evidence,
        "values": at(new, &["values"]),
        "absent": at(new, &["absent"]),
        "warnings": at(new, &["warnings"]),
        "enriched_at": at(new, &["enriched_at"]),
        "reference": { "item": format!("DETAILS#{quote}"), "evidence_prefix": evidence },
    });
    let version = version.unwrap_or_default().to_string();
    vec![build.event(
        DetailType::DetailsRecorded,
        &[quote, &version],
        signed.or(Some(quote)),
        text(new, &["event_id"]),
        object(fields),
    )]
}
