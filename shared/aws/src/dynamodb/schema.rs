//! The table's schema: its keys and index, the key of each kind of item (a job's partition
//! `SITE#<site>`, or `SITE#<site>#TENANT#<tenant>` for a tenant other than the default, with
//! `JOB`, `TASK#`, `MILESTONE#`, `QUOTE#`, `DOC#`, `DETAILS#`; `EVENT#<event>#<sha256>` for a
//! delivery, with `#TENANT#<tenant>` likewise), and the TTL attribute. The planner does not know
//! them: the adapter turns its changes into items.

use domain::bus::Item;
use domain::event::EventType;
use domain::ids::{DocumentId, MilestoneId, QuoteId, TaskId};
use domain::job::JobKey;
use domain::tenant::TenantId;

/// The sort key of the job's summary.
pub const JOB: &str = "JOB";

/// The table's partition and sort keys.
pub const TABLE_KEYS: [&str; 2] = ["pk", "sk"];
/// The index that finds a job by quote: partition key `quote`, sort key `sk`.
pub const QUOTE_INDEX: &str = "by-quote";
pub const QUOTE_INDEX_KEYS: [&str; 2] = ["quote", "sk"];
/// The sparse index of the work jobs wait for and of what needs an operator: partition key
/// `pending` ([`WAITING`], [`GAVE_UP`] or [`MISSED`]), sort key `pending_since` (an instant, as
/// text that sorts as time does). An item without them is not in it, so a sweep reads what is
/// pending and nothing else.
pub const PENDING_INDEX: &str = "pending";
pub const PENDING_INDEX_KEYS: [&str; 2] = ["pending", "pending_since"];
/// Work the sweeper watches: a document not stored, details not recorded, a look-up not answered.
pub const WAITING: &str = "WAITING";
/// Work the sweeper gave up on, and documents failed for good: for an operator.
pub const GAVE_UP: &str = "GAVE_UP";
/// Sites reconciliation found changed without a webhook (`MISSED#` items, expiring).
pub const MISSED: &str = "MISSED";

/// The attribute of the job's summary naming its tenant (its key names it too).
pub(crate) const TENANT_ATTRIBUTE: &str = "tenant";
/// The TTL attribute (seconds since the epoch) of delivery items.
pub const TTL_ATTRIBUTE: &str = "expires_at";

/// The job's partition: `SITE#<site>` for the default tenant (as before tenants), else
/// `SITE#<site>#TENANT#<tenant>`.
pub fn job_pk(job: &JobKey) -> String {
    format!("SITE#{}{}", job.site, tenant_suffix(&job.tenant))
}

/// The job a partition key names; `None` for an item that is no job's.
pub fn job_of_pk(pk: &str) -> Option<JobKey> {
    let rest = pk.strip_prefix("SITE#")?;
    let (site, tenant) = match rest.split_once("#TENANT#") {
        Some((site, tenant)) => (site, TenantId::parse(tenant).ok()?),
        None => (rest, TenantId::default_tenant()),
    };
    Some(JobKey::new(tenant, site.parse().ok()?))
}

fn tenant_suffix(tenant: &TenantId) -> String {
    if tenant.is_default() { String::new() } else { format!("#TENANT#{tenant}") }
}

pub(crate) fn task_sk(task: TaskId) -> String {
    format!("TASK#{task}")
}

pub(crate) fn milestone_sk(milestone: MilestoneId) -> String {
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

/// What the publisher published of the job: `PUBLISHED#<changed at>#<event id>`, expiring.
pub fn published_sk(changed_at: &str, id: &str) -> String {
    format!("{PUBLISHED}{changed_at}#{id}")
}

pub const PUBLISHED: &str = "PUBLISHED#";

/// A re-sign look-up asked for: `LOOKUP#<quote>`.
pub fn lookup_sk(quote: QuoteId) -> String {
    format!("{LOOKUP}{quote}")
}

pub const LOOKUP: &str = "LOOKUP#";
/// A site read asked for (reconciliation, backfill): its signed quote and that quote's details.
pub const SITE_READ: &str = "LOOKUP#site";

/// What reconciliation found of the job: `MISSED#<the site's last update>`, expiring.
pub fn missed_sk(last_updated: &str) -> String {
    format!("{MISSED}#{last_updated}")
}

/// A tenant's own partition (reconciliation's and backfill's checkpoints): `TENANT#<tenant>`.
pub fn tenant_pk(tenant: &TenantId) -> String {
    format!("TENANT#{tenant}")
}

pub const RECONCILE_CHECKPOINT: &str = "RECONCILE";
pub const BACKFILL_CHECKPOINT: &str = "BACKFILL";

/// Which item of which job a key names: `Ok(None)` for an item that is no job's (a delivery);
/// `Err` for a job's item of a kind this version does not know (a newer version wrote it).
pub fn item_of(pk: &str, sk: &str) -> Result<Option<(JobKey, Item)>, String> {
    let Some(job) = job_of_pk(pk) else { return Ok(None) };
    let bad = |_| format!("the item {sk:?} of {job} names no valid id");
    let item = if sk == JOB {
        Item::Job
    } else if let Some(id) = sk.strip_prefix("TASK#") {
        Item::Task(id.parse().map_err(bad)?)
    } else if let Some(id) = sk.strip_prefix("MILESTONE#") {
        Item::Milestone(id.parse().map_err(bad)?)
    } else if let Some(id) = sk.strip_prefix("DOC#") {
        Item::Document(id.parse().map_err(bad)?)
    } else if let Some(id) = sk.strip_prefix("DETAILS#") {
        Item::Details(id.parse().map_err(bad)?)
    } else if ["QUOTE#", PUBLISHED, LOOKUP, MISSED].iter().any(|prefix| sk.starts_with(prefix)) {
        Item::Bookkeeping
    } else {
        return Err(format!("the item {sk:?} of {job} is of a kind this version does not know"));
    };
    Ok(Some((job, item)))
}

/// The deduplication item of a delivery: `EVENT#<event>#<sha256>` / `EVENT`, with
/// `#TENANT#<tenant>` for a tenant other than the default: the same body on two routes is two
/// events, and the same body from two tenants two deliveries (one cannot make another's a
/// duplicate).
pub fn delivery_key(tenant: &TenantId, event: EventType, body_sha256: &str) -> (String, &'static str) {
    (format!("EVENT#{event}#{body_sha256}{}", tenant_suffix(tenant)), "EVENT")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_jobs_partition_names_its_tenant_and_reads_back() {
        let site = "34b6b5ee-f997-4044-86ae-0abbf611fc4d".parse().unwrap();
        let default = JobKey::default_tenant(site);
        let acme = JobKey::new(TenantId::parse("acme").unwrap(), site);
        assert_eq!(job_pk(&default), "SITE#34b6b5ee-f997-4044-86ae-0abbf611fc4d");
        assert_eq!(job_pk(&acme), "SITE#34b6b5ee-f997-4044-86ae-0abbf611fc4d#TENANT#acme");
        for job in [default, acme] {
            assert_eq!(job_of_pk(&job_pk(&job)), Some(job));
        }
        assert_eq!(job_of_pk("EVENT#contract-status-change#ab"), None);
        assert_eq!(job_of_pk("SITE#34b6b5ee-f997-4044-86ae-0abbf611fc4d#TENANT#Not Valid"), None);
    }

    #[test]
    fn every_item_of_a_job_is_known_by_its_key_and_an_unknown_one_is_said() {
        let pk = "SITE#34b6b5ee-f997-4044-86ae-0abbf611fc4d";
        let id = "3f230ca4-b147-49ae-9187-8b64c7eea62c";
        let item = |sk: &str| item_of(pk, sk).map(|found| found.map(|(_, item)| item));
        assert_eq!(item("JOB"), Ok(Some(Item::Job)));
        assert_eq!(item(&format!("TASK#{id}")), Ok(Some(Item::Task(id.parse().unwrap()))));
        assert_eq!(item(&format!("DOC#{id}")), Ok(Some(Item::Document(id.parse().unwrap()))));
        assert_eq!(item(&format!("DETAILS#{id}")), Ok(Some(Item::Details(id.parse().unwrap()))));
        assert_eq!(item(&format!("MILESTONE#{id}")), Ok(Some(Item::Milestone(id.parse().unwrap()))));
        assert_eq!(item(&format!("QUOTE#{id}")), Ok(Some(Item::Bookkeeping)));
        assert_eq!(item(&published_sk("2024-01-01T00:00:00.000000Z", id)), Ok(Some(Item::Bookkeeping)));
        assert_eq!(item(&lookup_sk(id.parse().unwrap())), Ok(Some(Item::Bookkeeping)));
        assert_eq!(item(SITE_READ), Ok(Some(Item::Bookkeeping)));
        assert_eq!(item(&missed_sk("2024-01-01T00:00:00.000000Z")), Ok(Some(Item::Bookkeeping)));
        assert!(item("PAYMENT#1").unwrap_err().contains("does not know"));
        assert!(item("TASK#not-a-uuid").is_err());
        assert_eq!(item_of("EVENT#contract-status-change#ab", "EVENT"), Ok(None));
    }
}
