//! The table's schema: its keys and index, the key of each kind of item (a job's partition
//! `SITE#<site>`, or `SITE#<site>#TENANT#<tenant>` for a tenant other than the default, with
//! `JOB`, `TASK#`, `MILESTONE#`, `QUOTE#`, `DOC#`, `DETAILS#`; `EVENT#<event>#<sha256>` for a
//! delivery, with `#TENANT#<tenant>` likewise), and the TTL attribute. The planner does not know
//! them: the adapter turns its changes into items.

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
}
