//! Ports that answer at once and keep nothing: every claim is new, every write lands, every
//! document is queued. For benchmarks (the handler's own cost) and fuzzing (the handler on any
//! input, without a backend); behind the `inert` feature, so no Lambda binary carries them.
use super::*;

pub struct Inert;

impl DeliveryLedger for Inert {
    async fn was_applied(&self, _: &Delivery) -> Result<bool, BackendError> {
        Ok(false)
    }
    async fn claim_delivery(&self, _: &Delivery) -> Result<Claim, BackendError> {
        Ok(Claim::New)
    }
    async fn finish_delivery(&self, _: &Delivery) -> Result<(), BackendError> {
        Ok(())
    }
    async fn release_delivery(&self, _: &Delivery) -> Result<(), BackendError> {
        Ok(())
    }
}

impl JobStore for Inert {
    async fn apply(&self, _: &JobKey, _: &Change) -> Result<Applied, BackendError> {
        Ok(Applied::Landed)
    }
    async fn record_document(&self, _: &JobKey, _: &PlannedDocument) -> Result<(), BackendError> {
        Ok(())
    }
    async fn queue_document(&self, _: &JobKey, _: &PlannedDocument, _: &Delivery) -> Result<bool, BackendError> {
        Ok(true)
    }
    async fn queue_enrichment(&self, _: &JobKey, _: &Enrichment, _: &Delivery) -> Result<bool, BackendError> {
        Ok(true)
    }
    async fn queue_lookup(&self, _: &JobKey, _: &SignedQuoteLookup, _: &Delivery) -> Result<bool, BackendError> {
        Ok(true)
    }
}

impl Archive for Inert {
    async fn put(&self, _: &str, _: Vec<u8>) -> Result<(), BackendError> {
        Ok(())
    }
}

impl WorkQueue for Inert {
    async fn send(&self, _: &[WorkMessage]) -> Result<(), BackendError> {
        Ok(())
    }
}

/// A store writing a plan one part per call, whatever `S` could do: every method but
/// `apply_plan` is `S`'s own, so the port's default ([`apply_each`]) writes the plan. To compare
/// the two in tests and benches.
pub struct OnePartPerCall<S>(pub S);

impl<S: DeliveryLedger> DeliveryLedger for OnePartPerCall<S> {
    async fn was_applied(&self, delivery: &Delivery) -> Result<bool, BackendError> {
        self.0.was_applied(delivery).await
    }
    async fn claim_delivery(&self, delivery: &Delivery) -> Result<Claim, BackendError> {
        self.0.claim_delivery(delivery).await
    }
    async fn finish_delivery(&self, delivery: &Delivery) -> Result<(), BackendError> {
        self.0.finish_delivery(delivery).await
    }
    async fn release_delivery(&self, delivery: &Delivery) -> Result<(), BackendError> {
        self.0.release_delivery(delivery).await
    }
}

impl<S: JobStore> JobStore for OnePartPerCall<S> {
    async fn apply(&self, job: &JobKey, change: &Change) -> Result<Applied, BackendError> {
        self.0.apply(job, change).await
    }
    async fn record_document(&self, job: &JobKey, document: &PlannedDocument) -> Result<(), BackendError> {
        self.0.record_document(job, document).await
    }
    async fn queue_document(&self, job: &JobKey, d: &PlannedDocument, by: &Delivery) -> Result<bool, BackendError> {
        self.0.queue_document(job, d, by).await
    }
    async fn queue_enrichment(&self, job: &JobKey, e: &Enrichment, by: &Delivery) -> Result<bool, BackendError> {
        self.0.queue_enrichment(job, e, by).await
    }
    async fn queue_lookup(&self, job: &JobKey, l: &SignedQuoteLookup, by: &Delivery) -> Result<bool, BackendError> {
        self.0.queue_lookup(job, l, by).await
    }
}
