//! The stand-in's data API: what it answers for `GET /api/data/<option>/`, as a test sets it.

use std::collections::HashMap;

use hyper::header::RETRY_AFTER;
use hyper::{Response, StatusCode};

use crate::stand_in::{Body, full};

/// How the stand-in's data API answers `GET /api/data/<option>/?metrics=...&limit=..&page=..`:
/// one row of the metrics asked, from `values` (a metric it has no value for is left out; one
/// asked as `s_<name>`, the signed baseline, is `<name>`'s value, answered under the name asked),
/// in EverBright's envelope; an option with `rows` answers those, page by page; an option with an
/// error answers it in `messages.error`; an option with an `answer` answers that HTTP status and
/// body as they are; an option to throttle answers 429 once.
#[derive(Clone, Debug)]
pub struct Dal {
    pub values: serde_json::Map<String, serde_json::Value>,
    pub rows: HashMap<String, Vec<serde_json::Map<String, serde_json::Value>>>,
    pub errors: HashMap<String, String>,
    pub answers: HashMap<String, (u16, String)>,
    pub throttle_once: Vec<String>,
    /// `GET /api/v1/site/<id>/`.
    pub site: serde_json::Value,
}

impl Default for Dal {
    /// A signed job's details as the demo shows them, with one baseline that does not exist.
    fn default() -> Self {
        let values = serde_json::json!({
            "system_capacity_kw": 7.2,
            // An array-level metric: one value per array of the system, a list.
            "array_module_count": [12, 6],
            "module_model": "Q.PEAK DUO BLK ML-G10+ 400",
            "inverter_model": "IQ8PLUS-72-2-US",
            "degradation_percent": 0.5,
            "initial_contract_date": "2023-07-12",
            "contract_contact_name_1": "Ever Bright",
            "contract_contact_name_2": "Home Owner",
            "avg_utility_cost_pre": 212.4,
            "production_month_1": 610,
            "production_month_7": 1180,
            "system_production_i_yr1": 11020,
            "quote_owner_organization_id": "825bca13-d78e-483a-96b3-6a18fb5779b4",
            "quote_owner_organization_name": "YourSolarOrg",
            "quote_financier_name": "EverBright",
            "system_retail_price": 31500,
            "monthly_payment_ignoring_grace_period": "APPROVED_BASELINE_NONEXISTANT",
            "savings_yr1": 1120.5,
        });
        let site = serde_json::json!({
            "contacts": [{"first_name": "Home", "last_name": "Owner", "email": "homeowner@example.com",
                          "phone_number": "555-0100", "primary": true}],
            "address": {"address_line_1": "1 Main St", "city_name": "San Diego", "state_abbreviation": "CA",
                        "zipcode": "92101"},
        });
        let serde_json::Value::Object(values) = values else { unreachable!("an object") };
        Self {
            values,
            rows: HashMap::new(),
            errors: HashMap::new(),
            answers: HashMap::new(),
            throttle_once: Vec::new(),
            site,
        }
    }
}

/// The data API's answer for `option`, as [`Dal`] says.
pub(crate) fn dal_answer(dal: &mut Dal, option: &str, query: &str) -> Response<Body> {
    if let Some(at) = dal.throttle_once.iter().position(|o| o == option) {
        dal.throttle_once.remove(at);
        let mut response = full(StatusCode::TOO_MANY_REQUESTS, "application/json", r#"{"detail":"slow down"}"#);
        response.headers_mut().insert(RETRY_AFTER, 1.into());
        return response;
    }
    let param = |name: &str| query.split('&').find_map(|pair| pair.strip_prefix(&format!("{name}=")));
    let metrics: Vec<String> = param("metrics")
        .map(|m| m.split("%2C").flat_map(|m| m.split(',')).map(str::to_owned).collect())
        .unwrap_or_default();
    let number = |name: &str, default: usize| param(name).and_then(|v| v.parse().ok()).unwrap_or(default);
    let (limit, page) = (number("limit", 100).max(1), number("page", 1).max(1));
    let envelope = |data: Vec<serde_json::Value>, errors: Vec<String>| {
        let status = if errors.is_empty() { 200 } else { 400 };
        serde_json::json!({"data": data, "messages": {"warning": [], "error": errors, "info": [], "critical": []},
            "status_code": status})
        .to_string()
    };
    if let Some((status, body)) = dal.answers.get(option) {
        let status = StatusCode::from_u16(*status).unwrap_or(StatusCode::OK);
        return full(status, "application/json", body.clone());
    }
    if let Some(error) = dal.errors.get(option) {
        return full(StatusCode::OK, "application/json", envelope(Vec::new(), vec![error.clone()]));
    }
    // Each metric asked, with the name its value is kept under.
    let asked: Vec<(&String, &str)> = metrics.iter().map(|m| (m, m.strip_prefix("s_").unwrap_or(m))).collect();
    let rows: Vec<serde_json::Map<String, serde_json::Value>> = match dal.rows.get(option) {
        Some(rows) => rows.iter().skip((page - 1) * limit).take(limit).cloned().collect(),
        None if page == 1 => vec![dal.values.clone()],
        None => Vec::new(),
    };
    let data = rows
        .into_iter()
        .map(|row| {
            let answered = asked.iter().filter_map(|(name, kept)| row.get(*kept).map(|v| ((*name).clone(), v.clone())));
            serde_json::Value::Object(answered.collect())
        })
        .collect();
    full(StatusCode::OK, "application/json", envelope(data, Vec::new()))
}
