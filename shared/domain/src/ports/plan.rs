//! A plan applied to its job through the [`JobStore`] port: what it left ([`PlanApplied`]), and
//! the way every store can do it, one write per part ([`apply_each`]). A store that writes the
//! parts in fewer calls must leave the job and the outcome as this does.

use futures_util::future::try_join_all;

use super::{Applied, BackendError, Delivery, JobStore};
use crate::ids::DocumentId;
use crate::job::{Identity, JobKey, Plan};

/// What applying a plan did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PlanApplied {
    /// The primary change was refused: the job holds newer state of what the event describes.
    pub stale: bool,
    /// The documents this delivery queued for download (a retry of it queues them again).
    pub queued: Vec<DocumentId>,
    /// This delivery asked for the signature's enrichment (its message is to be sent).
    pub enrichment: bool,
    /// This delivery asked for the re-sign look-up (its message is to be sent).
    pub lookup: bool,
}

/// Applies `plan` one write per part: the changes (a plan told apart by its chain,
/// [`Identity::Chain`], applies its primary change first, and the rest only if that landed: a
/// transition that does not follow on changes nothing), the documents, and, unless the event is
/// stale, its enrichment and look-up requests.
pub async fn apply_each<S: JobStore + ?Sized>(
    store: &S,
    job: &JobKey,
    plan: &Plan,
    delivery: &Delivery,
) -> Result<PlanApplied, BackendError> {
    let apply = |change| store.apply(job, change);
    let gate = plan.changes.get(plan.primary).filter(|_| plan.identity == Identity::Chain);
    let stale = if let Some(primary) = gate {
        if apply(primary).await? == Applied::Stale {
            return Ok(PlanApplied { stale: true, ..PlanApplied::default() });
        }
        let others = plan.changes.iter().enumerate().filter(|(index, _)| *index != plan.primary);
        try_join_all(others.map(|(_, other)| apply(other))).await?;
        false
    } else {
        let applied = try_join_all(plan.changes.iter().map(apply)).await?;
        applied.get(plan.primary) == Some(&Applied::Stale)
    };

    let queued = try_join_all(plan.documents.iter().map(|document| async move {
        if document.fetch {
            store.queue_document(job, document, delivery).await.map(|queued| queued.then_some(document.id))
        } else {
            store.record_document(job, document).await.map(|()| None)
        }
    }))
    .await?;
    let enrichment = match plan.enrichment.as_ref().filter(|_| !stale) {
        Some(enrichment) => store.queue_enrichment(job, enrichment, delivery).await?,
        None => false,
    };
    let lookup = match plan.lookup.as_ref().filter(|_| !stale) {
        Some(lookup) => store.queue_lookup(job, lookup, delivery).await?,
        None => false,
    };
    Ok(PlanApplied { stale, queued: queued.into_iter().flatten().collect(), enrichment, lookup })
}
