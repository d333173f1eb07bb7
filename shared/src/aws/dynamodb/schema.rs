//! The table's schema: its keys and index, the key of each kind of item (`SITE#<site>` with
//! `JOB`, `TASK#`, `MILESTONE#`, `QUOTE#`, `DOC#`; `EVENT#<event>#<sha256>` for a delivery), and
//! the TTL attribute. The planner does not know them: the adapter turns its changes into items.

use crate::event::EventType;
use crate::ids::{DocumentId, MilestoneId, QuoteId, SiteId, TaskId};

/// The sort key of the job's summary.
pub const JOB: &str = "JOB";

/// The table's partition and sort keys.
pub const TABLE_KEYS: [&str; 2] = ["pk", "sk"];
/// The index that finds a job by quote: partition key `quote`, sort key `sk`.
pub const QUOTE_INDEX: &str = "by-quote";
pub const QUOTE_INDEX_KEYS: [&str; 2] = ["quote", "sk"];
/// The attribute of the job's summary naming its tenant: written before anything else of the job,
/// and never changed (a site another tenant sends is refused).
pub const TENANT_ATTRIBUTE: &str = "tenant";
/// The TTL attribute (seconds since the epoch) of delivery items.
pub const TTL_ATTRIBUTE: &str = "expires_at";

pub fn site_pk(site: SiteId) -> String {
    format!("SITE#{site}")
}

pub fn task_sk(task: TaskId) -> String {
    format!("TASK#{task}")
}

pub fn milestone_sk(milestone: MilestoneId) -> String {
    format!("MILESTONE#{milestone}")
}

pub fn document_sk(document: DocumentId) -> String {
    format!("DOC#{document}")
}

/// The signed quote's details from the data API (and, before them, the enrichment's request).
pub fn details_sk(quote: QuoteId) -> String {
    format!("DETAILS#{quote}")
}

pub fn quote_sk(quote: QuoteId) -> String {
    format!("QUOTE#{quote}")
}

/// The deduplication item of a delivery: `EVENT#<event>#<sha256>` / `EVENT`: the same body on
/// two routes is two events.
pub fn delivery_key(event: EventType, body_sha256: &str) -> (String, &'static str) {
    (format!("EVENT#{event}#{body_sha256}"), "EVENT")
}
