//! The events the job publishes for the installer's other systems, one `detail-type` each (the
//! catalogue, [`DetailType`]), and how a committed change of one item of the job becomes them
//! ([`events`]: the item's old and new image in, events out, no I/O). The table's stream is the
//! outbox: an event exists if and only if its change committed. Every event's id is a UUID v5 of
//! what it says happened, so the same committed change always gives the same id and a consumer
//! can drop a redelivery; a replay ([`Replay`]) gets ids of its own.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::ids::{DocumentId, MilestoneId, QuoteId, SiteId, TaskId};
use crate::job::JobKey;
use crate::tenant::TenantId;
use crate::timestamp::Timestamp;

mod mapping;
#[cfg(test)]
mod tests;

pub use mapping::{Unmapped, events};

/// The `source` of every event.
pub const SOURCE: &str = "everbright-sync";
/// The version of every detail's shape: raised when a field changes meaning or goes away (a new
/// field is added without raising it).
pub const SCHEMA_VERSION: u32 = 1;
/// EventBridge's limit on one entry (its detail, detail-type, source and resources), in bytes.
pub const MAX_ENTRY_BYTES: usize = 256 * 1024;

/// The catalogue: what a consumer can subscribe to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DetailType {
    JobCreated,
    ContractSigned,
    ContractVoided,
    ChangeOrderSigned,
    ChangeOrderVoided,
    StageChanged,
    MilestoneChanged,
    CurrentQuoteChanged,
    SignedQuoteResolved,
    DetailsRecorded,
    DocumentStored,
    DocumentFailed,
    JobArchived,
}

impl DetailType {
    pub const ALL: [Self; 13] = [
        Self::JobCreated,
        Self::ContractSigned,
        Self::ContractVoided,
        Self::ChangeOrderSigned,
        Self::ChangeOrderVoided,
        Self::StageChanged,
        Self::MilestoneChanged,
        Self::CurrentQuoteChanged,
        Self::SignedQuoteResolved,
        Self::DetailsRecorded,
        Self::DocumentStored,
        Self::DocumentFailed,
        Self::JobArchived,
    ];

    /// The `detail-type`.
    pub const fn name(self) -> &'static str {
        match self {
            Self::JobCreated => "Job Created",
            Self::ContractSigned => "Contract Signed",
            Self::ContractVoided => "Contract Voided",
            Self::ChangeOrderSigned => "Change Order Signed",
            Self::ChangeOrderVoided => "Change Order Voided",
            Self::StageChanged => "Stage Changed",
            Self::MilestoneChanged => "Milestone Changed",
            Self::CurrentQuoteChanged => "Current Quote Changed",
            Self::SignedQuoteResolved => "Signed Quote Resolved",
            Self::DetailsRecorded => "Details Recorded",
            Self::DocumentStored => "Document Stored",
            Self::DocumentFailed => "Document Failed",
            Self::JobArchived => "Job Archived",
        }
    }

    /// Its JSON Schema's file in `events/schemas/`: the name in kebab case.
    pub fn schema_file(self) -> String {
        format!("{}.json", self.name().to_ascii_lowercase().replace(' ', "-"))
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.name() == name)
    }
}

/// Which item of a job changed, from its key (the adapter reads the key; the domain does not
/// know the table's schema).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Item {
    /// The job's summary (its parts, stage, quotes).
    Job,
    Task(TaskId),
    Milestone(MilestoneId),
    Document(DocumentId),
    Details(QuoteId),
    /// An item that is no change of the job (a quote's index entry, a publication record).
    Bookkeeping,
}

/// One committed change of one item of a job: its images before and after (`None`: it did not
/// exist, or was removed), and when it committed.
#[derive(Clone, Copy, Debug)]
pub struct ItemChange<'a> {
    pub job: &'a JobKey,
    pub item: &'a Item,
    pub old: Option<&'a Map<String, Value>>,
    pub new: Option<&'a Map<String, Value>>,
    pub committed_at: Timestamp,
}

/// A replay of a job's state for a new consumer: every event marked `"replay": true`, with an id
/// of its own (the same change replayed twice under two replay ids gives two ids).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Replay {
    pub id: String,
}

/// One event, ready for the bus.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BusEvent {
    pub id: Uuid,
    pub detail_type: DetailType,
    pub job: JobKey,
    pub detail: Map<String, Value>,
}

impl Serialize for DetailType {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

impl Serialize for JobKey {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut job = serializer.serialize_struct("JobKey", 2)?;
        job.serialize_field("tenant", self.tenant.as_str())?;
        job.serialize_field("site", &self.site.to_string())?;
        job.end()
    }
}

/// The namespace of every event id (a UUID v5 of the event's identity within it).
const ID_NAMESPACE: Uuid = Uuid::from_u128(0x6f1c_5e0a_8b7d_4c1e_9a53_2d0e_7b41_c9a8);

impl BusEvent {
    /// The detail as JSON text, fitted under [`MAX_ENTRY_BYTES`]: a detail too large keeps its
    /// common fields and references the rest (`"omitted"`: the fields left out, to be read where
    /// `"reference"` says).
    pub fn detail_json(&self) -> String {
        let text = Value::Object(self.detail.clone()).to_string();
        let room = MAX_ENTRY_BYTES - self.detail_type.name().len() - SOURCE.len() - 1024;
        if text.len() <= room {
            return text;
        }
        let mut kept = Map::new();
        let mut omitted = Vec::new();
        for (name, value) in &self.detail {
            if COMMON.contains(&name.as_str()) || name == "reference" || value.to_string().len() < 1024 {
                kept.insert(name.clone(), value.clone());
            } else {
                omitted.push(Value::from(name.as_str()));
            }
        }
        kept.insert("omitted".into(), Value::Array(omitted));
        Value::Object(kept).to_string()
    }
}

/// The fields every detail carries.
/// `id` is the event's own (deterministic) id: EventBridge gives every put an envelope `id` of its
/// own, so a redelivery is told by the detail's.
pub const COMMON: [&str; 9] =
    ["id", "schema_version", "tenant", "site", "quote", "event_id", "changed_at", "replay", "replay_id"];

/// Builds events of one job, with the common fields and the id.
pub(crate) struct Builder<'a> {
    pub job: &'a JobKey,
    pub committed_at: Timestamp,
    pub replay: Option<&'a Replay>,
}

impl Builder<'_> {
    /// An event of `kind` whose identity (what makes it this change and no other) is `identity`.
    pub fn event(
        &self,
        kind: DetailType,
        identity: &[&str],
        quote: Option<&str>,
        event_id: Option<&str>,
        fields: Map<String, Value>,
    ) -> BusEvent {
        let mut name = format!("{}|{}|{}", kind.name(), self.job.tenant, self.job.site);
        for part in identity {
            name.push('|');
            name.push_str(part);
        }
        let mut detail = Map::new();
        detail.insert("schema_version".into(), SCHEMA_VERSION.into());
        detail.insert("tenant".into(), self.job.tenant.as_str().into());
        detail.insert("site".into(), self.job.site.to_string().into());
        detail.insert("quote".into(), quote.map_or(Value::Null, Value::from));
        detail.insert("event_id".into(), event_id.map_or(Value::Null, Value::from));
        detail.insert("changed_at".into(), self.committed_at.to_string().into());
        detail.insert("replay".into(), self.replay.is_some().into());
        if let Some(replay) = self.replay {
            name.push_str("|replay|");
            name.push_str(&replay.id);
            detail.insert("replay_id".into(), replay.id.clone().into());
        }
        detail.extend(fields);
        let id = Uuid::new_v5(&ID_NAMESPACE, name.as_bytes());
        detail.insert("id".into(), id.to_string().into());
        BusEvent { id, detail_type: kind, job: self.job.clone(), detail }
    }
}

/// What the publisher could not publish, noted before it gives a batch back: the sites (their
/// changes from `first_sequence_number` on were not published in that attempt) and why. The
/// operator's `republish --failures` replays those sites' state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishFailure {
    /// Always `publish_failed`: tells these notes from the event source mapping's own records on
    /// the same queue.
    pub kind: String,
    pub reason: String,
    pub sites: Vec<NotedSite>,
    pub first_sequence_number: String,
    pub at: Timestamp,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct NotedSite {
    pub tenant: TenantId,
    pub site: SiteId,
}

impl PublishFailure {
    pub const KIND: &str = "publish_failed";

    pub fn new(reason: String, jobs: &[&JobKey], first_sequence_number: String, at: Timestamp) -> Self {
        let mut sites: Vec<NotedSite> =
            jobs.iter().map(|job| NotedSite { tenant: job.tenant.clone(), site: job.site }).collect();
        sites.sort();
        sites.dedup();
        Self { kind: Self::KIND.into(), reason, sites, first_sequence_number, at }
    }
}
