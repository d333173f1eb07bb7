//! The thirteen webhook events, told apart by the URL path they are registered under (payloads
//! carry no event type), and the typed payload each one is parsed into.

use std::fmt;

use serde_json::{Map, Value};

use crate::ids::SiteId;
use crate::payload::{Generic, Milestone, StageTransition, Task};

macro_rules! event_types {
    ($($variant:ident => $slug:literal,)+) => {
        /// An EverBright webhook event, one per route `/webhooks/<slug>`.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum EventType {
            $($variant,)+
        }

        impl EventType {
            /// Every event, in the order of EverBright's settings page.
            pub const ALL: [Self; [$(Self::$variant,)+].len()] = [$(Self::$variant,)+];

            pub const fn slug(self) -> &'static str {
                match self {
                    $(Self::$variant => $slug,)+
                }
            }

            pub fn from_slug(slug: &str) -> Option<Self> {
                match slug {
                    $($slug => Some(Self::$variant),)+
                    _ => None,
                }
            }
        }
    };
}

event_types! {
    ContractRecipientStatusChange => "contract-recipient-status-change",
    ContractStatusChange => "contract-status-change",
    ChangeOrderStatusChange => "change-order-status-change",
    HomeownersSignedContract => "homeowners-signed-contract",
    MilestoneCommentCreated => "milestone-comment-created",
    MilestoneStatusChange => "milestone-status-change",
    TaskCommentCreated => "task-comment-created",
    QualificationUpdate => "qualification-update",
    SiteArchived => "site-archived",
    StageTransition => "stage-transition",
    ProposalAction => "proposal-action",
    InvoiceStatusChange => "invoice-status-change",
    WorkflowStatusChange => "workflow-status-change",
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.slug())
    }
}

/// A parsed payload.
#[derive(Clone, Debug)]
pub enum Payload {
    /// A contract task: contract status change, homeowners signed contract, and a recipient
    /// status change that carries the task.
    Contract(Task),
    /// A change-order task.
    ChangeOrder(Task),
    Milestone(Milestone),
    Stage(StageTransition),
    /// Any other event, and a recipient status change that does not carry a task.
    Generic(Generic),
}

impl Payload {
    /// The site (the job) the event is about; `None` when an event of unknown shape names none.
    pub fn site(&self) -> Option<SiteId> {
        match self {
            Self::Contract(task) | Self::ChangeOrder(task) => Some(task.site),
            Self::Milestone(milestone) => Some(milestone.site),
            Self::Stage(stage) => stage.site_id,
            Self::Generic(generic) => generic.site,
        }
    }
}

/// The largest body parsed, in bytes. EverBright's payloads are tens of kilobytes; a task with
/// hundreds of documents stays well under this.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
/// The deepest nesting of JSON arrays and objects parsed. The payloads nest six levels.
pub(crate) const MAX_DEPTH: usize = 32;

/// Why a body is not a payload of its event; the message names the problem.
#[derive(Debug, thiserror::Error)]
pub enum PayloadError {
    #[error("the body is empty; a {0} webhook carries a JSON object")]
    Empty(EventType),
    #[error("the body is {size} bytes; the largest accepted is {MAX_BODY_BYTES}")]
    TooLarge { size: usize },
    #[error("the body nests arrays and objects deeper than {MAX_DEPTH} levels")]
    TooDeep,
    #[error("the body is not a valid {event} payload: {source}")]
    Invalid {
        event: EventType,
        #[source]
        source: serde_json::Error,
    },
    #[error("the body is JSON but not an object; a {event} webhook carries a JSON object")]
    NotAnObject { event: EventType },
}

impl EventType {
    /// Parses `body` as this event's payload.
    pub fn parse(self, body: &[u8]) -> Result<Payload, PayloadError> {
        if body.len() > MAX_BODY_BYTES {
            return Err(PayloadError::TooLarge { size: body.len() });
        }
        if body.iter().all(u8::is_ascii_whitespace) {
            return Err(PayloadError::Empty(self));
        }
        if nesting_exceeds(body, MAX_DEPTH) {
            return Err(PayloadError::TooDeep);
        }
        let invalid = |source| PayloadError::Invalid { event: self, source };
        match self {
            Self::ContractStatusChange | Self::HomeownersSignedContract => {
                serde_json::from_slice(body).map(Payload::Contract).map_err(invalid)
            }
            Self::ContractRecipientStatusChange => match serde_json::from_slice(body) {
                Ok(task) => Ok(Payload::Contract(task)),
                Err(_) => self.generic(body),
            },
            Self::ChangeOrderStatusChange => serde_json::from_slice(body).map(Payload::ChangeOrder).map_err(invalid),
            Self::MilestoneStatusChange => serde_json::from_slice(body).map(Payload::Milestone).map_err(invalid),
            Self::StageTransition => {
                self.object(body).map(|object| Payload::Stage(StageTransition::from_object(&object)))
            }
            Self::MilestoneCommentCreated
            | Self::TaskCommentCreated
            | Self::QualificationUpdate
            | Self::SiteArchived
            | Self::ProposalAction
            | Self::InvoiceStatusChange
            | Self::WorkflowStatusChange => self.generic(body),
        }
    }

    /// Any JSON object, read for what the project can use of it.
    fn generic(self, body: &[u8]) -> Result<Payload, PayloadError> {
        self.object(body).map(|object| Payload::Generic(Generic::from_object(&object)))
    }

    fn object(self, body: &[u8]) -> Result<Map<String, Value>, PayloadError> {
        match serde_json::from_slice(body) {
            Ok(Value::Object(object)) => Ok(object),
            Ok(_) => Err(PayloadError::NotAnObject { event: self }),
            Err(source) => Err(PayloadError::Invalid { event: self, source }),
        }
    }
}

/// Whether `body`, read as JSON, opens more than `limit` arrays and objects inside one another
/// (brackets inside strings do not count). A linear scan, before any parser recurses.
fn nesting_exceeds(body: &[u8], limit: usize) -> bool {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for &byte in body {
        if in_string {
            match byte {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > limit {
                    return true;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_over_the_size_limit_are_refused_before_parsing() {
        let body = vec![b' '; MAX_BODY_BYTES + 1];
        let err = EventType::SiteArchived.parse(&body).unwrap_err();
        assert!(matches!(err, PayloadError::TooLarge { size } if size == MAX_BODY_BYTES + 1));
        assert!(err.to_string().contains(&MAX_BODY_BYTES.to_string()), "{err}");
    }

    #[test]
    fn json_nested_past_the_limit_is_refused_and_brackets_in_strings_do_not_count() {
        let deep = format!("{}{}", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1));
        assert!(matches!(EventType::SiteArchived.parse(deep.as_bytes()), Err(PayloadError::TooDeep)));
        let deep_object = "{\"a\":".repeat(100_000);
        assert!(matches!(EventType::SiteArchived.parse(deep_object.as_bytes()), Err(PayloadError::TooDeep)));
        let in_string =
            format!(r#"{{"site":"34b6b5ee-f997-4044-86ae-0abbf611fc4d","n":"{}\"{}"}}"#, "[".repeat(99), "{");
        assert!(EventType::SiteArchived.parse(in_string.as_bytes()).is_ok());
        let at_limit = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert!(!nesting_exceeds(at_limit.as_bytes(), MAX_DEPTH));
    }

    #[test]
    fn thirteen_events_with_distinct_slugs_that_round_trip() {
        assert_eq!(EventType::ALL.len(), 13);
        for event in EventType::ALL {
            assert_eq!(EventType::from_slug(event.slug()), Some(event));
        }
        assert_eq!(EventType::from_slug("contract-signed"), None);
    }

    #[test]
    fn a_payload_without_a_site_names_the_missing_field() {
        let err =
            EventType::ContractStatusChange.parse(br#"{"uuid":"fb04303e-da8f-413a-b9fc-b91dedf10707"}"#).unwrap_err();
        assert!(err.to_string().contains("missing field `site`"), "{err}");
    }

    #[test]
    fn malformed_json_says_where() {
        let err = EventType::MilestoneStatusChange.parse(b"{\"site\": ").unwrap_err();
        let message = err.to_string();
        assert!(message.contains("milestone-status-change") && message.contains("line 1"), "{message}");
    }

    #[test]
    fn an_empty_body_is_refused() {
        assert!(matches!(EventType::SiteArchived.parse(b"  "), Err(PayloadError::Empty(_))));
    }

    #[test]
    fn a_stage_transition_names_its_site_site_id() {
        let body = br#"{"previous_stage_id":3,"previous_stage_name":"Design","site_id":"34b6b5ee-f997-4044-86ae-0abbf611fc4d","site_owned_by_organization":"x","stage_id":4,"stage_name":"Permitting"}"#;
        let Payload::Stage(stage) = EventType::StageTransition.parse(body).unwrap() else {
            panic!("not a stage transition");
        };
        assert_eq!(stage.stage_name.as_deref(), Some("Permitting"));
        assert_eq!(stage.stage_id.as_deref(), Some("4"));
    }

    #[test]
    fn generic_events_take_site_site_id_or_a_nested_site() {
        for body in [
            br#"{"site":"34b6b5ee-f997-4044-86ae-0abbf611fc4d","anything":[1]}"#.as_slice(),
            br#"{"site_id":"34b6b5ee-f997-4044-86ae-0abbf611fc4d"}"#.as_slice(),
            br#"{"site":"not-a-uuid","task":{"site":"34b6b5ee-f997-4044-86ae-0abbf611fc4d"}}"#.as_slice(),
            br#"{"site":{"uuid":"34b6b5ee-f997-4044-86ae-0abbf611fc4d","name":"x"}}"#.as_slice(),
            br#"{"invoice":{"lines":[{"a":1},{"site_id":"34b6b5ee-f997-4044-86ae-0abbf611fc4d"}]}}"#.as_slice(),
        ] {
            let payload = EventType::InvoiceStatusChange.parse(body).unwrap();
            let site = payload.site().map(|site| site.to_string());
            assert_eq!(
                site.as_deref(),
                Some("34b6b5ee-f997-4044-86ae-0abbf611fc4d"),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn a_generic_event_without_any_site_is_read_without_one() {
        let payload = EventType::ProposalAction.parse(br#"{"proposal":{"id":7},"action":"ACCEPTED"}"#).unwrap();
        assert_eq!(payload.site(), None);
    }

    #[test]
    fn a_body_that_is_json_but_not_an_object_is_refused_naming_it() {
        for body in [b"[1,2]".as_slice(), b"\"text\"", b"42"] {
            let err = EventType::ProposalAction.parse(body).unwrap_err();
            assert!(err.to_string().contains("not an object"), "{err}");
        }
    }

    #[test]
    fn typed_fields_not_in_their_form_are_ignored_not_refused() {
        let body = include_str!("../../../events/payloads/contract-signed.json")
            .replace(r#""quote": "042e6753-6b06-457d-9efd-70f047f4d348""#, r#""quote": "Q-42""#)
            .replace(r#""date_updated": "2023-06-19T20:11:47.348506Z""#, r#""date_updated": "last tuesday""#);
        let Payload::Contract(task) = EventType::ContractStatusChange.parse(body.as_bytes()).unwrap() else {
            panic!("not a contract");
        };
        assert_eq!(task.quote, None);
        assert_eq!(task.date_updated, None);
    }
}
