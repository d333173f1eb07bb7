//! The messages the receiver queues for the contract fetcher (SQS message bodies, JSON).

use serde::{Deserialize, Serialize};

use crate::ids::{DocumentId, MilestoneId, QuoteId, SiteId, TaskId};
use crate::tenant::TenantId;

/// One piece of work for the contract fetcher: a document to copy, a signature's details to read,
/// a re-sign to look up. (The function, its queue and `FETCH_QUEUE_URL` keep the names they are
/// deployed under.)
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum WorkMessage {
    /// Copy one signed document from EverBright into S3.
    FetchDocument {
        /// Whose API and token fetch it (a message queued before tenants: the default tenant).
        #[serde(default)]
        tenant: TenantId,
        site: SiteId,
        quote: Option<QuoteId>,
        task: TaskId,
        document: DocumentId,
        name: Option<String>,
        /// The delivery that queued it, to follow one webhook end to end.
        event_id: String,
    },
    /// Look up which quote an original quote was signed as (re-signs).
    ResolveSignedQuote {
        #[serde(default)]
        tenant: TenantId,
        site: SiteId,
        quote: QuoteId,
        /// The milestone that suggested it, if one did.
        #[serde(default)]
        milestone: Option<MilestoneId>,
        /// The version of the event that suggested it (see [`crate::job::SignedQuoteLookup`]).
        #[serde(default)]
        version: i64,
    },
    /// Read the signed quote's details from the data API (see [`crate::job::Enrichment`]).
    Enrich {
        #[serde(default)]
        tenant: TenantId,
        site: SiteId,
        /// The quote the contract names (the data API resolves the one it was signed as).
        quote: QuoteId,
        /// The signature's time, in microseconds: an older enrichment never overwrites a newer.
        version: i64,
        event_id: String,
        /// Read again even if this signature's details are recorded (the operator's `enrich`);
        /// otherwise a redelivery of a recorded signature reads nothing.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        force: bool,
    },
    /// A site EverBright changed with no webhook received for it (reconciliation, or an
    /// operator's backfill): find the quote it was signed as and read that quote's details.
    ReadSite {
        #[serde(default)]
        tenant: TenantId,
        site: SiteId,
        /// The site's last update in EverBright, in microseconds (the details' version).
        version: i64,
        /// Who asked: `reconcile:<tenant>:<site>:<version>` or `backfill:...`.
        event_id: String,
    },
    /// Compare a tenant's sites in EverBright with the webhooks received (every tenant the
    /// fetcher knows when none is named: the message the schedule sends).
    Reconcile {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tenant: Option<TenantId>,
    },
}

impl WorkMessage {
    /// The tenant it is for; `None` for a reconciliation of every tenant.
    pub fn tenant(&self) -> Option<&TenantId> {
        match self {
            Self::FetchDocument { tenant, .. }
            | Self::ResolveSignedQuote { tenant, .. }
            | Self::Enrich { tenant, .. }
            | Self::ReadSite { tenant, .. } => Some(tenant),
            Self::Reconcile { tenant } => tenant.as_ref(),
        }
    }

    /// The site whose job it is about; `None` for a reconciliation.
    pub fn site(&self) -> Option<SiteId> {
        match self {
            Self::FetchDocument { site, .. }
            | Self::ResolveSignedQuote { site, .. }
            | Self::Enrich { site, .. }
            | Self::ReadSite { site, .. } => Some(*site),
            Self::Reconcile { .. } => None,
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a message of ids and strings always serialises")
    }
}
