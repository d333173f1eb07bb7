//! EverBright's data API (the DAL), as the enrichment after a SIGN reads it: the profile of
//! metrics to read, one request per option, and the answers made into typed details.
//!
//! What EverBright publishes: `GET {base}/api/data/<option>/?<option>_id={id}&metrics=a,b,c`,
//! `limit` and `page` for lists, an `s_` prefix on a metric for its signed baseline (as the
//! re-sign look-up asks `s_quote_id`), and the answer `{"data": [{metric: value}], "messages":
//! {"warning", "error", "info", "critical"}, "status_code"}`; a baseline that does not exist comes
//! back as a string in place of the value (`APPROVED_BASELINE_NONEXISTANT`). What is assumed where
//! it is silent is written at each item below and in docs/data-api.md.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::ids::{QuoteId, SiteId};

/// An answer of EverBright's API as it came, kept as evidence and read only here: the URL asked
/// (it holds ids and metric names; the token goes in a header), the HTTP status, the
/// `Content-Type`, and the body's bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataAnswer {
    pub url: String,
    pub status: u16,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

impl DataAnswer {
    /// The answer's JSON, or why it is an error, in EverBright's own words where it gives them:
    /// its `messages.error` and `messages.critical`, then an envelope `status_code` that is not
    /// 2xx, then an HTTP status that is not, then a body that is not JSON. The envelope is read
    /// before the status, so a 400 that names its error says which, and a 200 whose envelope
    /// says 404 is an error.
    pub fn json(&self) -> Result<Value, String> {
        let json: Option<Value> = serde_json::from_slice(&self.body).ok();
        if let Some(errors) = json.as_ref().and_then(messages_of_error) {
            return Err(format!("the data API answered {} with an error: {errors}", self.status));
        }
        let code = json.as_ref().and_then(|j| j.get("status_code")).and_then(Value::as_u64);
        if let Some(code) = code.filter(|code| !(200..300).contains(code)) {
            return Err(format!("the data API answered {} with status_code {code}", self.status));
        }
        if !(200..300).contains(&self.status) {
            let start: String = String::from_utf8_lossy(&self.body).chars().take(200).collect();
            return Err(format!("the data API answered {}: {start}", self.status));
        }
        json.ok_or_else(|| format!("the data API answered {} with a body that is not JSON", self.status))
    }
}

/// An answer's `messages.critical` and `messages.error`, joined, when it has any.
fn messages_of_error(answer: &Value) -> Option<String> {
    let texts: Vec<String> = ["critical", "error"].iter().flat_map(|level| messages(answer, level)).collect();
    (!texts.is_empty()).then(|| texts.join("; "))
}

/// The messages of one level, each at most 500 characters.
fn messages(answer: &Value, level: &str) -> Vec<String> {
    let list = answer.get("messages").and_then(|m| m.get(level)).and_then(Value::as_array);
    list.into_iter()
        .flatten()
        .map(|m| m.as_str().map_or_else(|| m.to_string(), str::to_owned).chars().take(500).collect())
        .collect()
}

/// The signed quote a workflow answer names (`None`: no signed baseline). The answer's shape is
/// not published: the first `s_quote_id` anywhere in it that is a UUID;
/// `APPROVED_BASELINE_NONEXISTANT` (or any other non-UUID) means absent.
pub fn signed_quote(answer: &Value) -> Option<QuoteId> {
    match answer {
        Value::Object(map) => map
            .get("s_quote_id")
            .and_then(|v| v.as_str())
            .and_then(|v| v.parse().ok())
            .or_else(|| map.values().find_map(signed_quote)),
        Value::Array(items) => items.iter().find_map(signed_quote),
        _ => None,
    }
}

/// One metric of the profile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub option: String,
    pub metric: String,
    /// Personal data (a name, an email, a phone number, an address): marked as such in the
    /// details, never logged.
    pub personal: bool,
    /// A list: one value per row (an array of the system, say), recorded as a list whatever the
    /// number of rows. Any other metric is one value, recorded only when the answer gives one.
    pub list: bool,
}

impl Entry {
    /// The name asked and answered: `s_<metric>`, the signed baseline, for every option but
    /// `site` (a site has no baselines: assumed, as nothing says otherwise).
    pub fn asked(&self) -> String {
        if self.option == "site" { self.metric.clone() } else { format!("s_{}", self.metric) }
    }
}

/// The metrics to read: `option:metric [personal] [list]` lines, `#` comments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Profile(Vec<Entry>);

/// The options the data API lists (`GET /api/data/`).
pub(crate) const OPTIONS: [&str; 6] = ["site", "quote", "system", "product", "credit_qualification", "workflow"];

impl Profile {
    /// The profile built in (`shared/domain/dal-profile.txt`), for a stack that names none.
    pub const DEFAULT: &'static str = include_str!("../dal-profile.txt");

    /// Reads a profile; an error names the line.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut entries: Vec<Entry> = Vec::new();
        for (index, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or_default().trim();
            if line.is_empty() {
                continue;
            }
            let at = |reason: String| format!("line {}: {reason}", index + 1);
            let mut words = line.split_whitespace();
            let spec = words.next().unwrap_or_default();
            let (mut personal, mut list) = (false, false);
            for word in words {
                match word {
                    "personal" => personal = true,
                    "list" => list = true,
                    other => return Err(at(format!("{other:?} is not `personal` or `list`"))),
                }
            }
            let (option, metric) = spec.split_once(':').ok_or_else(|| at(format!("{spec:?} is not option:metric")))?;
            if !OPTIONS.contains(&option) {
                return Err(at(format!("option {option:?} is not one of {}", OPTIONS.join(", "))));
            }
            let plain = |c: char| c.is_ascii_alphanumeric() || c == '_';
            if metric.is_empty() || !metric.chars().all(plain) {
                return Err(at(format!("metric {metric:?} is not a metric name (letters, digits, _)")));
            }
            if entries.iter().any(|e| e.option == option && e.metric == metric) {
                return Err(at(format!("{spec} is listed twice")));
            }
            entries.push(Entry { option: option.to_owned(), metric: metric.to_owned(), personal, list });
        }
        if entries.is_empty() {
            return Err("the profile lists no metric".into());
        }
        Ok(Self(entries))
    }

    /// One request per option: the option and its metrics, in profile order.
    pub fn requests(&self) -> Vec<(String, Vec<Entry>)> {
        let mut by_option: Vec<(String, Vec<Entry>)> = Vec::new();
        for entry in &self.0 {
            match by_option.iter_mut().find(|(option, _)| *option == entry.option) {
                Some((_, entries)) => entries.push(entry.clone()),
                None => by_option.push((entry.option.clone(), vec![entry.clone()])),
            }
        }
        by_option
    }
}

/// The id an option's request is filtered by: the site for `site`, else the signed quote.
/// Assumed: EverBright documents `<option>_id` for an option's own id; the quote-level options
/// are read by `quote_id`, as the workflow look-up is.
pub fn filter(option: &str, site: SiteId, quote: QuoteId) -> (&'static str, String) {
    if option == "site" { ("site_id", site.to_string()) } else { ("quote_id", quote.to_string()) }
}

/// One page of an answer.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Page {
    pub rows: Vec<Map<String, Value>>,
    pub warnings: Vec<String>,
}

/// Reads one answer (its JSON, past [`DataAnswer::json`]): its rows and warnings.
pub fn parse_page(answer: &Value) -> Result<Page, String> {
    let rows = match answer.get("data") {
        Some(Value::Array(rows)) => rows.iter().filter_map(Value::as_object).cloned().collect(),
        Some(Value::Object(row)) => vec![row.clone()],
        _ => return Err("the answer has no data".into()),
    };
    Ok(Page { rows, warnings: messages(answer, "warning") })
}

/// The details of a signed quote: the profile's values, typed, and what is known of the site's
/// people and place.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Details {
    /// Each metric's value as the data API typed it: numbers as numbers; a `list` metric always a
    /// list (one value per row), any other always one value.
    pub values: BTreeMap<String, Value>,
    /// Metrics without a value, with the reason (a baseline that does not exist, not answered,
    /// more than one value for a metric that is one).
    pub absent: BTreeMap<String, String>,
    pub warnings: Vec<String>,
    /// The fields that are personal data (names, emails, phones, addresses).
    pub personal: Vec<String>,
    /// The options whose answer was cut (more pages than are read): the details are incomplete.
    pub incomplete: Vec<String>,
}

impl Details {
    /// Takes the profile's metrics of one option from its rows (every page's).
    pub fn add(&mut self, entries: &[Entry], rows: &[Map<String, Value>]) {
        for entry in entries {
            let asked = entry.asked();
            let values: Vec<&Value> = rows.iter().filter_map(|row| row.get(&asked)).collect();
            if entry.personal {
                self.personal.push(entry.metric.clone());
            }
            if values.is_empty() {
                self.absent.insert(entry.metric.clone(), "not in the answer".into());
                continue;
            }
            if let Some(reason) = values.iter().find_map(|value| nonexistent_baseline(value)) {
                self.absent.insert(entry.metric.clone(), reason);
                continue;
            }
            let value = if entry.list {
                let flat = values.iter().flat_map(|value| match value {
                    Value::Array(items) => items.clone(),
                    other => vec![(*other).clone()],
                });
                Value::Array(flat.collect())
            } else {
                let mut distinct: Vec<&Value> = Vec::new();
                for value in &values {
                    if !distinct.contains(value) {
                        distinct.push(value);
                    }
                }
                match distinct.as_slice() {
                    [one] if !one.is_array() => (*one).clone(),
                    _ => {
                        let reason = format!(
                            "answered {} value(s) where the profile expects one (mark it `list` if it is one per row)",
                            values.len()
                        );
                        self.warnings.push(format!("{}: {reason}", entry.metric));
                        self.absent.insert(entry.metric.clone(), reason);
                        continue;
                    }
                }
            };
            if value.is_null() {
                self.absent.insert(entry.metric.clone(), "null".into());
            } else {
                self.values.insert(entry.metric.clone(), value);
            }
        }
    }

    /// The site's contacts and address (`GET /api/v1/site/{id}/`), personal data.
    pub fn add_site(&mut self, site: &Value) {
        let contacts: Vec<Value> = site
            .get("contacts")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|contact| pick(contact, &["first_name", "last_name", "email", "phone_number", "primary"]))
            .collect();
        self.values.insert("contacts".into(), Value::Array(contacts));
        if let Some(address) = site.get("address").filter(|a| a.is_object()) {
            let fields = ["address_line_1", "address_line_2", "city_name", "state_abbreviation", "zipcode"];
            self.values.insert("address".into(), pick(address, &fields));
        }
        self.personal.extend(["contacts".to_owned(), "address".to_owned()]);
    }
}

/// `object`'s `fields`, those it has.
fn pick(object: &Value, fields: &[&str]) -> Value {
    Value::Object(fields.iter().filter_map(|f| object.get(*f).map(|v| ((*f).to_owned(), v.clone()))).collect())
}

/// The reason when a value is the data API's "this baseline does not exist" string
/// (`APPROVED_BASELINE_NONEXISTANT`, EverBright's spelling; the correct one is taken too).
fn nonexistent_baseline(value: &Value) -> Option<String> {
    let text = value.as_str()?;
    (text.ends_with("_BASELINE_NONEXISTANT") || text.ends_with("_BASELINE_NONEXISTENT")).then(|| text.to_owned())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_profile_groups_its_metrics_by_option_and_names_a_bad_line() {
        let profile = Profile::parse("# homeowner\nquote:contract_contact_name_1 personal\nsystem:system_capacity_kw\nquote:initial_contract_date\n").unwrap();
        let requests = profile.requests();
        assert_eq!(requests.len(), 2);
        assert_eq!(requests[0].0, "quote");
        let metrics: Vec<&str> = requests[0].1.iter().map(|e| e.metric.as_str()).collect();
        assert_eq!(metrics, ["contract_contact_name_1", "initial_contract_date"]);
        assert!(requests[0].1[0].personal);
        for (text, expected) in [
            ("quote:a\nplanet:b", "line 2: option \"planet\""),
            ("quote", "line 1: \"quote\" is not option:metric"),
            ("quote:a b", "line 1: \"b\" is not `personal` or `list`"),
            ("quote:a-b", "line 1: metric \"a-b\""),
            ("quote:a\nquote:a", "line 2: quote:a is listed twice"),
            ("# nothing", "no metric"),
        ] {
            let err = Profile::parse(text).unwrap_err();
            assert!(err.contains(expected), "{text:?}: {err}");
        }
    }

    #[test]
    fn the_default_profile_reads() {
        let profile = Profile::parse(Profile::DEFAULT).unwrap();
        assert!(profile.requests().len() >= 2);
    }

    #[test]
    fn answers_are_typed_and_a_missing_baseline_is_absent_with_its_reason() {
        let entries = Profile::parse("quote:system_retail_price\nquote:a_monthly_payment\nquote:initial_contract_date\nquote:gone\nquote:contract_contact_name_1 personal").unwrap().requests();
        let asked: Vec<String> = entries[0].1.iter().map(Entry::asked).collect();
        assert_eq!(asked[0], "s_system_retail_price", "the signed baseline, by its prefix");
        let page = parse_page(&json!({"data": [{"s_system_retail_price": 31500.5, "s_a_monthly_payment": "APPROVED_BASELINE_NONEXISTANT",
            "s_initial_contract_date": "2023-07-12", "s_contract_contact_name_1": "Home Owner"}],
            "messages": {"warning": ["metric gone is deprecated"], "error": [], "info": [], "critical": []}, "status_code": 200})).unwrap();
        let mut details = Details::default();
        details.add(&entries[0].1, &page.rows);
        assert_eq!(details.values["system_retail_price"], json!(31500.5));
        assert_eq!(details.absent["a_monthly_payment"], "APPROVED_BASELINE_NONEXISTANT");
        assert_eq!(details.absent["gone"], "not in the answer");
        assert_eq!(details.personal, ["contract_contact_name_1"]);
        assert_eq!(page.warnings, ["metric gone is deprecated"]);
    }

    #[test]
    fn a_list_metric_is_a_list_whatever_the_rows_and_one_value_stays_one_or_is_absent_with_a_warning() {
        let profile =
            Profile::parse("system:array_module_count list\nsystem:system_capacity_kw\nsystem:module_model").unwrap();
        let entries = &profile.requests()[0].1;
        let read = |rows: Value| {
            let mut details = Details::default();
            details.add(entries, &parse_page(&json!({ "data": rows })).unwrap().rows);
            details
        };
        // One row: the list metric is a list of one, the others their value.
        let one = read(json!([{"s_array_module_count": 12, "s_system_capacity_kw": 7.2, "s_module_model": "A"}]));
        assert_eq!(one.values["array_module_count"], json!([12]));
        assert_eq!((&one.values["system_capacity_kw"], &one.values["module_model"]), (&json!(7.2), &json!("A")));
        assert!(one.warnings.is_empty());
        // A row that answers the list itself.
        assert_eq!(read(json!([{"s_array_module_count": [12, 6]}])).values["array_module_count"], json!([12, 6]));
        // Three rows: the list of their values; a value they agree on stays one; one they do
        // not agree on is absent, with a warning, never a list.
        let three = read(json!([
            {"s_array_module_count": 12, "s_system_capacity_kw": 7.2, "s_module_model": "A"},
            {"s_array_module_count": 6, "s_system_capacity_kw": 7.2, "s_module_model": "B"},
            {"s_array_module_count": 4, "s_system_capacity_kw": 7.2, "s_module_model": "A"}]));
        assert_eq!(three.values["array_module_count"], json!([12, 6, 4]));
        assert_eq!(three.values["system_capacity_kw"], json!(7.2));
        assert!(!three.values.contains_key("module_model"));
        assert!(three.absent["module_model"].contains("answered 3 value(s)"), "{:?}", three.absent);
        assert!(three.warnings.iter().any(|w| w.starts_with("module_model: ")), "{:?}", three.warnings);
        // One row answering a list for a metric that is one value: absent, warned.
        let listed = read(json!([{"s_system_capacity_kw": [3.6, 3.6]}]));
        assert!(!listed.values.contains_key("system_capacity_kw") && listed.warnings.len() == 1);
    }

    #[test]
    fn the_envelope_is_read_before_the_status_and_every_error_keeps_everbrights_words() {
        let answer = |status: u16, body: &str| DataAnswer {
            url: "https://x/api/data/system/".into(),
            status,
            content_type: Some("application/json".into()),
            body: body.as_bytes().to_vec(),
        };
        let error = r#"{"data": [], "messages": {"warning": [], "error": ["Invalid metric foo"], "info": [], "critical": ["down"]}, "status_code": 400}"#;
        for status in [200, 400, 404] {
            let err = answer(status, error).json().unwrap_err();
            assert!(err.contains("down; Invalid metric foo") && err.contains(&status.to_string()), "{err}");
        }
        let not_found =
            r#"{"data": [], "messages": {"warning": [], "error": [], "info": [], "critical": []}, "status_code": 404}"#;
        assert!(answer(200, not_found).json().unwrap_err().contains("status_code 404"));
        assert!(answer(404, "<html>Not Found</html>").json().unwrap_err().contains("404: <html>Not Found"));
        assert!(answer(200, "not json").json().unwrap_err().contains("not JSON"));
        let fine = r#"{"data": [{"s_x": 1}], "messages": {"warning": ["slow"], "error": []}, "status_code": 200}"#;
        assert_eq!(parse_page(&answer(200, fine).json().unwrap()).unwrap().warnings, ["slow"]);
        assert!(parse_page(&json!({"detail": "x"})).is_err());
    }

    #[test]
    fn the_signed_quote_is_found_wherever_the_answer_puts_it() {
        let quote = "8ba871ae-3282-420c-af3f-ddc41ac50273";
        for answer in [
            json!({"s_quote_id": quote}),
            json!({"data": [{"quote_id": "x", "s_quote_id": quote}]}),
            json!([{"metrics": {"s_quote_id": quote}}]),
        ] {
            assert_eq!(signed_quote(&answer).unwrap().to_string(), quote, "{answer}");
        }
        assert_eq!(signed_quote(&json!({"s_quote_id": "APPROVED_BASELINE_NONEXISTANT"})), None);
        assert_eq!(signed_quote(&json!({})), None);
    }

    #[test]
    fn the_site_gives_its_contacts_and_address_as_personal_data() {
        let site = json!({"contacts": [{"first_name": "Home", "last_name": "Owner", "email": "h@example.com",
            "phone_number": "555", "primary": true, "ssn": "never taken"}],
            "address": {"address_line_1": "1 Main St", "city_name": "San Diego", "state_abbreviation": "CA", "zipcode": "92101"}});
        let mut details = Details::default();
        details.add_site(&site);
        assert_eq!(details.values["contacts"][0]["last_name"], "Owner");
        assert!(details.values["contacts"][0].get("ssn").is_none(), "only the listed fields");
        assert_eq!(details.values["address"]["zipcode"], "92101", "a zip code stays text");
        assert_eq!(details.personal, ["contacts", "address"]);
    }
}
