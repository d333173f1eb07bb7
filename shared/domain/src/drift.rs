//! Drift: how the bodies EverBright really sends differ from the shapes the project knows. The
//! known shapes are EverBright's published sample payloads (the ones in `events/payloads/`) and
//! the fields the parser reads; most events (Proposal Action, Invoice Status Change, the comment
//! events, ...) have no published payload, so their first real bodies tell what to model.
//!
//! A field path names objects' keys joined by `.`, with `[]` for the elements of an array:
//! `sub_tasks[].data.documents[].uuid`.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::event::EventType;

/// The published samples of each event, as shipped in `events/payloads/`.
const CONTRACT_SAMPLES: [&str; 2] = [
    include_str!("../../../events/payloads/contract-signed.json"),
    include_str!("../../../events/payloads/contract-signed-sighten.json"),
];
const CHANGE_ORDER_SAMPLES: [&str; 1] = [include_str!("../../../events/payloads/change-order-signed.json")];
const MILESTONE_SAMPLES: [&str; 1] = [include_str!("../../../events/payloads/milestone-approved.json")];
const STAGE_SAMPLES: [&str; 1] = [include_str!("../../../events/payloads/stage-transition.json")];
const SITE_ARCHIVED_SAMPLES: [&str; 1] = [include_str!("../../../events/payloads/site-archived.json")];

/// The fields the parser reads of an event without a published payload.
const GENERIC_FIELDS: [&str; 4] = ["site", "site_id", "quote", "date_updated"];

fn samples(event: EventType) -> &'static [&'static str] {
    match event {
        EventType::ContractStatusChange
        | EventType::HomeownersSignedContract
        | EventType::ContractRecipientStatusChange => &CONTRACT_SAMPLES,
        EventType::ChangeOrderStatusChange => &CHANGE_ORDER_SAMPLES,
        EventType::MilestoneStatusChange => &MILESTONE_SAMPLES,
        EventType::StageTransition => &STAGE_SAMPLES,
        EventType::SiteArchived => &SITE_ARCHIVED_SAMPLES,
        _ => &[],
    }
}

/// Every field path in `value`.
pub(crate) fn field_paths(value: &Value) -> BTreeSet<String> {
    let mut paths = BTreeSet::new();
    collect(value, "", &mut paths);
    paths
}

fn collect(value: &Value, at: &str, paths: &mut BTreeSet<String>) {
    match value {
        Value::Object(object) => {
            for (key, child) in object {
                let path = if at.is_empty() { key.clone() } else { format!("{at}.{key}") };
                collect(child, &path, paths);
                paths.insert(path);
            }
        }
        Value::Array(items) => {
            let path = format!("{at}[]");
            for item in items {
                collect(item, &path, paths);
            }
        }
        _ => {}
    }
}

/// What the project knows of one event's bodies.
#[derive(Clone, Debug)]
pub struct KnownShape {
    /// Every path of every published sample, and the fields the parser reads.
    pub paths: BTreeSet<String>,
    /// The top-level fields every published sample carries.
    pub always: BTreeSet<String>,
}

impl KnownShape {
    pub fn of(event: EventType) -> Self {
        let samples: Vec<Value> = samples(event).iter().filter_map(|text| serde_json::from_str(text).ok()).collect();
        let mut paths: BTreeSet<String> = GENERIC_FIELDS.iter().map(|&field| field.to_owned()).collect();
        paths.extend(samples.iter().flat_map(field_paths));
        let top_level = |sample: &Value| -> BTreeSet<String> {
            sample.as_object().map(|object| object.keys().cloned().collect()).unwrap_or_default()
        };
        let always = samples.iter().map(top_level).reduce(|a, b| &a & &b).unwrap_or_default();
        Self { paths, always }
    }

    /// The paths of `body` this shape does not know, each the shallowest unknown one (under an
    /// unknown field, its own fields are not listed again).
    pub fn unknown(&self, body: &Value) -> BTreeSet<String> {
        let paths = field_paths(body);
        let parent_unknown = |path: &str| {
            let parent = path.rfind(['.', '[']).map(|at| path[..at].trim_end_matches("[]"));
            parent.is_some_and(|parent| !parent.is_empty() && !self.paths.contains(parent))
        };
        paths.iter().filter(|path| !self.paths.contains(*path) && !parent_unknown(path)).cloned().collect()
    }

    /// The fields every published sample carries that `body` does not.
    pub fn missing(&self, body: &Value) -> BTreeSet<String> {
        self.always.iter().filter(|field| body.get(field.as_str()).is_none()).cloned().collect()
    }
}

/// The drift of one route's bodies.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RouteDrift {
    pub bodies: usize,
    /// Bodies that are not a JSON object.
    pub not_objects: usize,
    /// Each unknown path, and in how many bodies.
    pub unknown: BTreeMap<String, usize>,
    /// Each missing field, and in how many bodies.
    pub missing: BTreeMap<String, usize>,
}

/// Drift by route.
#[derive(Debug, Default)]
pub struct Drift {
    pub routes: BTreeMap<&'static str, RouteDrift>,
    shapes: BTreeMap<&'static str, KnownShape>,
}

impl Drift {
    /// Counts one body received on `event`'s route.
    pub fn add(&mut self, event: EventType, body: &[u8]) {
        let route = self.routes.entry(event.slug()).or_default();
        route.bodies += 1;
        let value = match serde_json::from_slice::<Value>(body) {
            Ok(value @ Value::Object(_)) => value,
            _ => {
                route.not_objects += 1;
                return;
            }
        };
        let shape = self.shapes.entry(event.slug()).or_insert_with(|| KnownShape::of(event));
        for path in shape.unknown(&value) {
            *route.unknown.entry(path).or_default() += 1;
        }
        for field in shape.missing(&value) {
            *route.missing.entry(field).or_default() += 1;
        }
    }

    /// The report, one block per route.
    pub fn render(&self) -> String {
        let counted = |counts: &BTreeMap<String, usize>| -> String {
            counts.iter().map(|(path, n)| format!("{path} ({n})")).collect::<Vec<_>>().join(", ")
        };
        let mut out = String::new();
        for (route, drift) in &self.routes {
            let not_objects = match drift.not_objects {
                0 => String::new(),
                n => format!(", {n} not a JSON object"),
            };
            out.push_str(&format!("{route}: {} bodies{not_objects}\n", drift.bodies));
            if drift.unknown.is_empty() && drift.missing.is_empty() {
                out.push_str("  as the known shape\n");
            }
            if !drift.unknown.is_empty() {
                out.push_str(&format!("  unknown fields: {}\n", counted(&drift.unknown)));
            }
            if !drift.missing.is_empty() {
                out.push_str(&format!("  missing fields: {}\n", counted(&drift.missing)));
            }
        }
        if self.routes.is_empty() {
            out.push_str("no archived bodies in the selection\n");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn paths_name_keys_and_array_elements() {
        let paths = field_paths(&json!({"a": {"b": 1}, "l": [{"c": 2}, {"d": null}], "e": []}));
        let expected = ["a", "a.b", "e", "l", "l[].c", "l[].d"];
        assert_eq!(paths.into_iter().collect::<Vec<_>>(), expected);
    }

    #[test]
    fn the_published_samples_have_no_drift() {
        for event in EventType::ALL {
            let shape = KnownShape::of(event);
            for sample in samples(event) {
                let value: Value = serde_json::from_str(sample).unwrap();
                assert!(shape.unknown(&value).is_empty(), "{event}: {:?}", shape.unknown(&value));
                assert!(shape.missing(&value).is_empty(), "{event}: {:?}", shape.missing(&value));
            }
        }
    }

    #[test]
    fn unknown_fields_are_listed_at_their_shallowest_and_missing_ones_named() {
        let shape = KnownShape::of(EventType::ContractStatusChange);
        let mut body: Value = serde_json::from_str(CONTRACT_SAMPLES[0]).unwrap();
        body["financing"] = json!({"partner": "x", "terms": [{"months": 240}]});
        body["sub_tasks"][0]["data"]["documents"][0]["checksum"] = json!("abc");
        body.as_object_mut().unwrap().remove("site");
        let unknown: Vec<String> = shape.unknown(&body).into_iter().collect();
        assert_eq!(unknown, ["financing", "sub_tasks[].data.documents[].checksum"]);
        assert_eq!(shape.missing(&body).into_iter().collect::<Vec<_>>(), ["site"]);
    }

    #[test]
    fn an_event_without_a_published_payload_knows_only_what_the_parser_reads() {
        let mut drift = Drift::default();
        drift.add(EventType::ProposalAction, br#"{"site":"x","proposal":{"id":1,"status":"ACCEPTED"}}"#);
        drift.add(EventType::ProposalAction, b"[1]");
        let route = &drift.routes["proposal-action"];
        assert_eq!((route.bodies, route.not_objects), (2, 1));
        assert_eq!(route.unknown, BTreeMap::from([("proposal".to_owned(), 1)]));
        let report = drift.render();
        assert!(report.contains("proposal-action: 2 bodies, 1 not a JSON object"), "{report}");
        assert!(report.contains("unknown fields: proposal (1)"), "{report}");
    }
}
