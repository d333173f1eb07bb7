//! A job's items (`SITE#<site>`), readable: the summary, then tasks, milestones and documents.

use domain::job::FetchStatus;
use serde_json::{Map, Value};

/// A value as text: strings bare, null as `-`.
pub fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => "-".to_owned(),
        other => other.to_string(),
    }
}

fn with_prefix<'a>(items: &'a [Map<String, Value>], prefix: &'a str) -> impl Iterator<Item = Value> + 'a {
    items.iter().filter(move |i| i["sk"].as_str().is_some_and(|sk| sk.starts_with(prefix))).cloned().map(Value::Object)
}

/// The status (`COMP`, `VOID`, ...) of the envelope a document belongs to: the envelope of its
/// task with the document's `document_group`.
pub fn envelope_status(items: &[Map<String, Value>], document: &Map<String, Value>) -> Option<String> {
    let group = document.get("document_group")?.as_str()?;
    let task = format!("TASK#{}", document.get("task")?.as_str()?);
    let task = items.iter().find(|item| item["sk"] == task.as_str())?;
    let envelopes = task.get("envelopes")?.as_array()?;
    let envelope = envelopes.iter().find(|envelope| envelope["document_group"] == group)?;
    envelope["status"].as_str().map(str::to_owned)
}

/// What a document is to the people reading the job: the signed copy (an upload of the completed
/// envelope), another document of the completed envelope, or a voided envelope's.
fn envelope_mark(items: &[Map<String, Value>], document: &Map<String, Value>) -> &'static str {
    match envelope_status(items, document).as_deref() {
        Some("COMP") if document.get("creation_type").is_some_and(|t| t == "UPLOADED") => "  [signed copy]",
        Some("COMP") => "  [completed envelope]",
        Some("VOID") => "  [voided envelope]",
        _ => "",
    }
}

/// The job of `site`, from its items, its documents in `bucket`; `detailed` adds the tasks, the
/// milestones' own items and every document's task and quote (the `job` command), the demo's
/// summary leaves them out.
pub fn render(site: &str, bucket: &str, items: &[Map<String, Value>], detailed: bool) -> String {
    let mut out = String::new();
    let mut line = |s: String| {
        out.push_str(&s);
        out.push('\n');
    };
    let job = items.iter().find(|i| i["sk"] == "JOB").cloned().map(Value::Object).unwrap_or_default();
    line(format!("Job {site}"));
    // A job written before tenants is the default tenant's.
    line(format!("  tenant          {}", job["tenant"].as_str().unwrap_or(domain::tenant::TenantId::DEFAULT)));
    line(format!("  current quote   {}", text(&job["current_quote"]["quote"])));
    line(format!(
        "  contract        {} signed {}",
        text(&job["contract"]["status"]),
        text(&job["contract"]["signed_at"])
    ));
    if job.get("change_order").is_some() {
        line(format!(
            "  change order    {} new quote {}",
            text(&job["change_order"]["status"]),
            text(&job["change_order"]["new_quote"])
        ));
    }
    let attributes = job.as_object().into_iter().flatten();
    for (name, milestone) in attributes.filter(|(k, _)| k.starts_with("milestone:")) {
        line(format!(
            "  milestone       {} {} ({})",
            text(&milestone["name"]),
            text(&milestone["status"]),
            &name[10..]
        ));
    }
    if job.get("signed_quote").is_some() {
        line(format!("  signed quote    {}", text(&job["signed_quote"]["signed"])));
    }
    if job.get("stage").is_some() {
        line(format!("  stage           {}", text(&job["stage"]["name"])));
    }
    line(format!("  archived        {}", if job.get("archived").is_some() { "yes" } else { "no" }));
    line(format!("  last event      {} at {}", text(&job["last_event"]["event"]), text(&job["last_event"]["at"])));
    if detailed {
        for task in with_prefix(items, "TASK#") {
            line(format!(
                "  task     {:<8} {} {} quote {} ({})",
                text(&task["document_status"]),
                text(&task["kind"]),
                text(&task["name"]),
                text(&task["quote"]),
                text(&task["task"])
            ));
        }
        for milestone in with_prefix(items, "MILESTONE#") {
            let sk = text(&milestone["sk"]);
            line(format!(
                "  milestone {:<7} {} ({})",
                text(&milestone["status"]),
                text(&milestone["name"]),
                sk.trim_start_matches("MILESTONE#")
            ));
        }
    }
    for details in with_prefix(items, "DETAILS#") {
        for detail in render_details(&details) {
            line(detail);
        }
    }
    for doc in with_prefix(items, "DOC#") {
        let status = text(&doc["status"]);
        let mark = doc.as_object().map_or("", |document| envelope_mark(items, document));
        let detail = match status.parse() {
            Ok(FetchStatus::Stored) => format!(
                "{} bytes sha256 {}{mark}\n                    s3://{bucket}/{}",
                text(&doc["size"]),
                text(&doc["sha256"]),
                text(&doc["s3_key"])
            ),
            Ok(FetchStatus::Failed) => text(&doc["failure"]),
            _ => format!("{}{mark}", text(&doc["name"])),
        };
        line(format!("  document {status:<8} {detail}"));
        if detailed {
            let mut about = format!(
                "document {} task {} quote {}",
                text(&doc["document"]),
                text(&doc["task"]),
                text(&doc["quote"])
            );
            if let Some(error) = doc.get("last_error").filter(|e| !e.is_null()) {
                about.push_str(&format!(", last error: {}", text(error)));
            }
            if let Some(preview) = doc.get("preview").filter(|p| !p.is_null()) {
                about.push_str(&format!(", preview {}", text(preview)));
            }
            line(format!("                    {about}"));
        }
    }
    for pending in render_pending(items) {
        line(pending);
    }
    out.pop();
    out
}

/// The work the job waits for (the sweeper's), what was given up and what reconciliation found:
/// each with since when, how often it was sent again and when last.
pub fn render_pending(items: &[Map<String, Value>]) -> Vec<String> {
    let mut lines = Vec::new();
    for item in items.iter().filter(|item| item.get("pending").is_some() || item.get("sweeps").is_some()) {
        let sk = text(&item["sk"]);
        let what = match sk.split_once('#') {
            Some(("DOC", id)) => format!("document {id}"),
            Some(("DETAILS", quote)) => format!("details of {quote}"),
            Some(("LOOKUP", "site")) => "site read".to_owned(),
            Some(("LOOKUP", quote)) => format!("re-sign look-up of {quote}"),
            Some(("MISSED", at)) => format!("changed in EverBright at {at} with no webhook"),
            _ => sk.clone(),
        };
        let state = match item.get("pending").and_then(Value::as_str) {
            Some("WAITING") => format!("waiting since {}", text(&item["pending_since"])),
            Some("GAVE_UP") => format!("GIVEN UP {}: {}", text(&item["gave_up_at"]), text(&item["gave_up"])),
            Some("MISSED") => format!("found {}", text(&item["found_at"])),
            _ => "done".to_owned(),
        };
        let swept = match item.get("sweeps") {
            Some(sweeps) => format!(", swept {} time(s), last {}", text(sweeps), text(&item["last_swept_at"])),
            None => String::new(),
        };
        lines.push(format!("  pending  {what}: {state}{swept}"));
    }
    lines
}

/// What the demo and `job` show of a signature's details from the data API: system size,
/// contract date, signer names, price, and how many values, absences and warnings there are;
/// or, before they are in, whether they are requested or failed.
fn render_details(details: &Value) -> Vec<String> {
    let quote = text(&details["sk"]).trim_start_matches("DETAILS#").to_owned();
    let Some(values) = details.get("values").and_then(Value::as_object) else {
        let state = match details.get("last_error").filter(|e| !e.is_null()) {
            Some(error) => format!("failed: {}", text(error)),
            None => "requested".to_owned(),
        };
        return vec![format!("  details  quote {quote} {state}")];
    };
    let value = |name: &str| values.get(name).map_or_else(|| "-".to_owned(), text);
    let signers: Vec<String> = ["contract_contact_name_1", "contract_contact_name_2"]
        .iter()
        .filter_map(|name| values.get(*name).map(text))
        .collect();
    let count = |name: &str| {
        details.get(name).map_or(0, |v| v.as_object().map_or_else(|| v.as_array().map_or(0, Vec::len), |o| o.len()))
    };
    vec![
        format!("  details  quote {quote} signed as {}", text(&details["signed_quote"])),
        format!(
            "           system {} kW, contract date {}, signers {}, price {}",
            value("system_capacity_kw"),
            value("initial_contract_date"),
            if signers.is_empty() { "-".to_owned() } else { signers.join(" and ") },
            value("system_retail_price"),
        ),
        format!(
            "           {} values ({} personal), {} absent, {} warnings{}",
            values.len(),
            count("personal"),
            count("absent"),
            count("warnings"),
            match count("incomplete") {
                0 => String::new(),
                cut => format!(", incomplete ({cut} option(s) cut short)"),
            }
        ),
    ]
}

/// The job as JSON: its summary, and its tasks, milestones, documents (each with the status of
/// its envelope, `envelope_status`) and quotes as arrays.
pub fn to_json(site: &str, items: &[Map<String, Value>]) -> Value {
    let list = |prefix| Value::Array(with_prefix(items, prefix).collect());
    let documents: Vec<Value> = items
        .iter()
        .filter(|item| item["sk"].as_str().is_some_and(|sk| sk.starts_with("DOC#")))
        .map(|document| {
            let mut document = document.clone();
            document.insert("envelope_status".into(), envelope_status(items, &document).into());
            Value::Object(document)
        })
        .collect();
    serde_json::json!({
        "site": site,
        "job": items.iter().find(|i| i["sk"] == "JOB"),
        "tasks": list("TASK#"),
        "milestones": list("MILESTONE#"),
        "documents": documents,
        "quotes": list("QUOTE#"),
        "details": list("DETAILS#"),
    })
}
