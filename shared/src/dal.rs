//! EverBright's data API (the DAL), as the enrichment after a SIGN reads it: the profile of
//! metrics to read, one request per option, and the answers made into typed details.
//!
//! What EverBright publishes: `GET {base}/api/data/<option>/?<option>_id={id}&metrics=a,b,c`,
//! `limit` and `page` for lists, `&baseline=s` (or an `s_` prefix) for the signed baseline, and
//! the answer `{"data": [{metric: value}], "messages": {"warning", "error", "info", "critical"},
//! "status_code"}`; a baseline that does not exist comes back as a string in place of the value
//! (`APPROVED_BASELINE_NONEXISTANT`). What is assumed where it is silent is written at each item
//! below and in the README ("Details from the data API").

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::ids::{QuoteId, SiteId};

/// One metric of the profile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub option: String,
    pub metric: String,
    /// Personal data (a name, an email, a phone number, an address): marked as such in the
    /// details, never logged.
    pub personal: bool,
}

/// The metrics to read: `option:metric [personal]` lines, `#` comments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Profile(Vec<Entry>);

/// The options the data API lists (`GET /api/data/`).
pub const OPTIONS: [&str; 6] = ["site", "quote", "system", "product", "credit_qualification", "workflow"];

impl Profile {
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
            let personal = match words.next() {
                None => false,
                Some("personal") => true,
                Some(other) => return Err(at(format!("{other:?} is not `personal`"))),
            };
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
            entries.push(Entry { option: option.to_owned(), metric: metric.to_owned(), personal });
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

/// Reads one answer: its rows and warnings, or the text of its `error` and `critical` messages.
pub fn parse_page(answer: &Value) -> Result<Page, String> {
    let messages = |level: &str| -> Vec<String> {
        let list = answer.get("messages").and_then(|m| m.get(level)).and_then(Value::as_array);
        list.into_iter()
            .flatten()
            .map(|m| m.as_str().map_or_else(|| m.to_string(), str::to_owned).chars().take(500).collect())
            .collect()
    };
    let errors: Vec<String> = messages("critical").into_iter().chain(messages("error")).collect();
    if !errors.is_empty() {
        return Err(errors.join("; "));
    }
    let rows = match answer.get("data") {
        Some(Value::Array(rows)) => rows.iter().filter_map(Value::as_object).cloned().collect(),
        Some(Value::Object(row)) => vec![row.clone()],
        _ => return Err("the answer has no data".into()),
    };
    Ok(Page { rows, warnings: messages("warning") })
}

/// The details of a signed quote: the profile's values, typed, and what is known of the site's
/// people and place.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Details {
    /// Each metric's value as the data API typed it: numbers as numbers, lists as lists (an
    /// option answered with several rows gives each metric the list of its rows' values).
    pub values: BTreeMap<String, Value>,
    /// Metrics without a value, with the reason (a baseline that does not exist, not answered).
    pub absent: BTreeMap<String, String>,
    pub warnings: Vec<String>,
    /// The fields that are personal data (names, emails, phones, addresses).
    pub personal: Vec<String>,
}

impl Details {
    /// Takes the profile's metrics of one option from its rows (every page's).
    pub fn add(&mut self, entries: &[Entry], rows: &[Map<String, Value>]) {
        for entry in entries {
            let values: Vec<&Value> = rows.iter().filter_map(|row| row.get(&entry.metric)).collect();
            let value = match values.as_slice() {
                [] => {
                    self.absent.insert(entry.metric.clone(), "not in the answer".into());
                    continue;
                }
                [one] => (*one).clone(),
                many => Value::Array(many.iter().map(|v| (*v).clone()).collect()),
            };
            match nonexistent_baseline(&value) {
                Some(reason) => {
                    self.absent.insert(entry.metric.clone(), reason);
                }
                None if value.is_null() => {
                    self.absent.insert(entry.metric.clone(), "null".into());
                }
                None => {
                    self.values.insert(entry.metric.clone(), value);
                }
            }
            if entry.personal {
                self.personal.push(entry.metric.clone());
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
            ("quote:a b", "line 1: \"b\" is not `personal`"),
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
        let profile = Profile::parse(include_str!("../../functions/contract-fetcher/dal-profile.txt")).unwrap();
        assert!(profile.requests().len() >= 2);
    }

    #[test]
    fn answers_are_typed_a_missing_baseline_is_absent_with_its_reason_and_rows_make_lists() {
        let entries = Profile::parse("quote:system_retail_price\nquote:a_monthly_payment\nquote:initial_contract_date\nquote:module_model\nquote:gone\nquote:contract_contact_name_1 personal").unwrap().requests();
        let page = parse_page(&json!({"data": [{"system_retail_price": 31500.5, "a_monthly_payment": "APPROVED_BASELINE_NONEXISTANT",
            "initial_contract_date": "2023-07-12", "module_model": ["Q.PEAK", "Q.PEAK"], "contract_contact_name_1": "Home Owner"}],
            "messages": {"warning": ["metric gone is deprecated"], "error": [], "info": [], "critical": []}, "status_code": 200})).unwrap();
        let mut details = Details::default();
        details.add(&entries[0].1, &page.rows);
        assert_eq!(details.values["system_retail_price"], json!(31500.5));
        assert_eq!(details.values["module_model"], json!(["Q.PEAK", "Q.PEAK"]));
        assert_eq!(details.absent["a_monthly_payment"], "APPROVED_BASELINE_NONEXISTANT");
        assert_eq!(details.absent["gone"], "not in the answer");
        assert_eq!(details.personal, ["contract_contact_name_1"]);
        assert_eq!(page.warnings, ["metric gone is deprecated"]);

        let rows = parse_page(&json!({"data": [{"production": 1}, {"production": 2}]})).unwrap().rows;
        let mut listed = Details::default();
        listed.add(&Profile::parse("system:production").unwrap().requests()[0].1, &rows);
        assert_eq!(listed.values["production"], json!([1, 2]));
    }

    #[test]
    fn an_error_or_critical_message_is_a_failure_with_its_text() {
        let answer = json!({"data": [], "messages": {"warning": [], "error": ["Invalid metric foo"], "info": [], "critical": ["down"]}});
        assert_eq!(parse_page(&answer).unwrap_err(), "down; Invalid metric foo");
        assert!(parse_page(&json!({"detail": "x"})).is_err());
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
